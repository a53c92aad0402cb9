#include <zlib.h>

/* deflateInit2 is a macro; Swift needs a function. windowBits 15+16 writes a gzip wrapper. */
static inline int sluice_deflate_init_gzip(z_streamp strm, int level) {
    return deflateInit2(strm, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}
static inline int sluice_inflate_init_gzip(z_streamp strm) {
    return inflateInit2(strm, 15 + 16);
}
