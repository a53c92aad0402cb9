#ifndef CSLUICE_SEARCH_H
#define CSLUICE_SEARCH_H
#include <stddef.h>
#include <stdint.h>

/* Glibc's Swift module does not declare these GNU extensions. */
void *memmem(const void *haystack, size_t haystacklen, const void *needle, size_t needlelen);
void *memrchr(const void *s, int c, size_t n);

/* Picks the two needle positions holding the bytes least frequent in typical log text
   (first < second), so a search checks few false candidates. */
void sluice_rare_offsets(const void *needle, size_t m, size_t *first, size_t *second);

/* The first occurrence of needle in haystack, like memmem, but with a SIMD scan for the
   needle's bytes at offsets `first` and `second` (from sluice_rare_offsets), then memcmp
   (AVX2 or SSE2 on x86_64; memmem elsewhere). */
const void *sluice_find(const void *haystack, size_t n, const void *needle, size_t m,
                        size_t first, size_t second);

/* The code paths of sluice_find; sluice_find uses the best this CPU has. */
enum { SLUICE_FIND_PORTABLE = 0, SLUICE_FIND_SSE2 = 1, SLUICE_FIND_AVX2 = 2 };
/* The best path this CPU runs (what sluice_find uses). */
int sluice_find_best_isa(void);
/* sluice_find with a chosen path, for tests: one the CPU lacks falls back to the next best. */
const void *sluice_find_using(int isa, const void *haystack, size_t n, const void *needle, size_t m,
                              size_t first, size_t second);

/* grep's binary-file test (is there a NUL byte?) done by the searches that pass over a buffer
   anyway: between begin and end, on the calling thread, sluice_find in [base, base+n) also
   tests for NUL the bytes it passes and those it skips since the last search. end tests what
   none passed and returns 1 when the buffer holds a NUL. Pair them on one thread, with no
   other buffer's watch between (a synchronous filter over one chunk): the pass it saves read
   the chunk from memory once more (14% of `-e ERROR` on 1 GB). */
void sluice_nul_watch_begin(const void *base, size_t n);
int sluice_nul_watch_end(void);

/* Aho-Corasick automaton over literal patterns (none empty); caseless folds ASCII letters.
   The shallowest states get full table rows, up to max_entries cells (4 bytes each; the root's
   row whatever the budget), the others are sparse: any number of patterns builds. NULL for an
   empty pattern, for 2 GiB of patterns or more, or when memory runs out. */
struct sluice_ac;
struct sluice_ac *sluice_ac_build(const unsigned char *const *patterns, const size_t *lengths, size_t count,
                                  int caseless, size_t max_entries);
/* Offset of the last byte of the earliest-ending match in haystack[0..n), or -1. */
long sluice_ac_find(const struct sluice_ac *ac, const unsigned char *haystack, size_t n);
void sluice_ac_free(struct sluice_ac *ac);
/* As sluice_ac_build, with what sluice_ac_keys needs when `keyed` (the patterns distinct). */
struct sluice_ac *sluice_ac_build_keyed(const unsigned char *const *patterns, const size_t *lengths, size_t count,
                                        int caseless, size_t max_entries, int keyed);
/* The indices of the patterns occurring in haystack[0..n), each once per `generation` (`seen`
   has one entry per pattern, `found` room for every pattern); returns how many were written. */
size_t sluice_ac_keys(const struct sluice_ac *ac, const unsigned char *haystack, size_t n, int32_t *found,
                      int32_t *seen, int32_t generation);

/* Counts '\n' bytes in [p, p+n). */
size_t sluice_count_newlines(const unsigned char *p, size_t n);


#endif
