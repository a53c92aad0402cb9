#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Swift cannot import pcre2.h's function-name macros or PCRE2_UNSET; these name them. */
static inline size_t sluice_pcre2_unset(void) { return PCRE2_UNSET; }
