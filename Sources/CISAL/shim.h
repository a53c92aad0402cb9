#include <isa-l/igzip_lib.h>
#include <isa-l.h>

/* The level buffer sizes are macro expressions Swift cannot import. */
static inline unsigned sluice_isal_level_buffer_size(int level) {
    switch (level) {
    case 1: return ISAL_DEF_LVL1_DEFAULT;
    case 2: return ISAL_DEF_LVL2_DEFAULT;
    default: return ISAL_DEF_LVL3_DEFAULT;
    }
}
