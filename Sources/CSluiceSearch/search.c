#define _GNU_SOURCE
#include "CSluiceSearch.h"
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <emmintrin.h>
#endif

/* Newlines in p[0, n). SSE2, 64 bytes a step: compare, movemask, popcount (one memchr call per
 * line ran at about 1.5 GB/s on 100-byte lines and made `-n` cost a whole extra pass). */
size_t sluice_count_newlines(const unsigned char *p, size_t n) {
    size_t count = 0;
    size_t i = 0;
#if defined(__x86_64__)
    const __m128i newline = _mm_set1_epi8('\n');
    for (; i + 64 <= n; i += 64) {
        unsigned m0 = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i)), newline));
        unsigned m1 = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i + 16)), newline));
        unsigned m2 = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i + 32)), newline));
        unsigned m3 = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i + 48)), newline));
        uint64_t mask = (uint64_t)m0 | ((uint64_t)m1 << 16) | ((uint64_t)m2 << 32) | ((uint64_t)m3 << 48);
        count += (size_t)__builtin_popcountll(mask);
    }
#endif
    for (; i < n; i++) count += p[i] == '\n';
    return count;
}

/* Bytes ordered from most to least frequent in log text; anything missing is rarer still. */
static const char frequent_bytes[] =
    " e0t1a2o3i4n5s6r7h8l9:d-c.u/m=f_p,g[w]y\"b(v)k'x;j{q}zETAOINSRHLDCUMFPGWYBVKXJQZ\t<>+*#@!?&%$|~^`\\";

static int byte_rank(unsigned char byte) {
    for (int i = 0; frequent_bytes[i]; i++) {
        if ((unsigned char)frequent_bytes[i] == byte) return i;
    }
    return 255; /* rarer than anything listed */
}

void sluice_rare_offsets(const void *needle, size_t m, size_t *first, size_t *second) {
    const unsigned char *nd = needle;
    *first = 0;
    *second = m > 1 ? m - 1 : 0;
    if (m < 2) return;
    size_t best = 0, next = 1;
    for (size_t i = 0; i < m; i++) {
        if (byte_rank(nd[i]) > byte_rank(nd[best])) best = i;
    }
    int next_rank = -1;
    for (size_t i = 0; i < m; i++) {
        if (i == best || nd[i] == nd[best]) continue;
        if (byte_rank(nd[i]) > next_rank) { next_rank = byte_rank(nd[i]); next = i; }
    }
    if (next_rank < 0) next = best == 0 ? m - 1 : 0; /* every byte the same */
    *first = best < next ? best : next;
    *second = best < next ? next : best;
}

#if defined(__x86_64__)
#include <immintrin.h>
/* The same search 64 positions per step with AVX2 (two 32-byte compares per needle byte):
   on 1 GB of logs it halves the time of the SSE2 loop, which was the filter's whole cost. */
__attribute__((target("avx2")))
static const void *find_avx2(const unsigned char *h, size_t n, const unsigned char *nd, size_t m,
                             size_t first, size_t second) {
    const __m256i a_byte = _mm256_set1_epi8((char)nd[first]);
    const __m256i b_byte = _mm256_set1_epi8((char)nd[second]);
    size_t i = 0;
    for (; i + m + 64 <= n + 1; i += 64) {
        const unsigned char *p = h + i;
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(p + first));
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(p + second));
        __m256i a1 = _mm256_loadu_si256((const __m256i *)(p + first + 32));
        __m256i b1 = _mm256_loadu_si256((const __m256i *)(p + second + 32));
        unsigned low = (unsigned)_mm256_movemask_epi8(_mm256_and_si256(_mm256_cmpeq_epi8(a0, a_byte), _mm256_cmpeq_epi8(b0, b_byte)));
        unsigned high = (unsigned)_mm256_movemask_epi8(_mm256_and_si256(_mm256_cmpeq_epi8(a1, a_byte), _mm256_cmpeq_epi8(b1, b_byte)));
        unsigned long long mask = (unsigned long long)low | ((unsigned long long)high << 32);
        while (mask) {
            unsigned bit = (unsigned)__builtin_ctzll(mask);
            if (memcmp(p + bit, nd, m) == 0) return p + bit;
            mask &= mask - 1;
        }
    }
    if (i < n) return memmem(h + i, n - i, nd, m);
    return NULL;
}

static _Atomic int avx2_known = -1;  /* every thread computes the same answer; atomic for TSan */

static int has_avx2(void) {
    int known = atomic_load_explicit(&avx2_known, memory_order_relaxed);
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx2") ? 1 : 0;
        atomic_store_explicit(&avx2_known, known, memory_order_relaxed);
    }
    return known;
}
#endif

#if defined(__x86_64__)
/* Wojciech Mula's "generic SIMD" search: compare 16 positions at once against two of the
   needle's bytes, then check the candidates with memcmp. */
static const void *find_sse2(const unsigned char *h, size_t n, const unsigned char *nd, size_t m,
                             size_t first, size_t second) {
    const __m128i a_byte = _mm_set1_epi8((char)nd[first]);
    const __m128i b_byte = _mm_set1_epi8((char)nd[second]);
    size_t i = 0;
    for (; i + m + 16 <= n + 1; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(h + i + first));
        __m128i b = _mm_loadu_si128((const __m128i *)(h + i + second));
        unsigned mask = (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, a_byte), _mm_cmpeq_epi8(b, b_byte)));
        while (mask) {
            unsigned bit = (unsigned)__builtin_ctz(mask);
            if (memcmp(h + i + bit, nd, m) == 0) return h + i + bit;
            mask &= mask - 1;
        }
    }
    if (i < n) return memmem(h + i, n - i, nd, m);
    return NULL;
}
#endif

int sluice_find_best_isa(void) {
#if defined(__x86_64__)
    return has_avx2() ? SLUICE_FIND_AVX2 : SLUICE_FIND_SSE2;
#else
    return SLUICE_FIND_PORTABLE;
#endif
}

const void *sluice_find_using(int isa, const void *haystack, size_t n, const void *needle, size_t m,
                              size_t first, size_t second) {
    const unsigned char *h = haystack, *nd = needle;
    if (m == 0) return haystack;
    if (m > n) return NULL;
    if (m == 1) return memchr(h, nd[0], n);
#if defined(__x86_64__)
    if (isa == SLUICE_FIND_AVX2 && has_avx2()) return find_avx2(h, n, nd, m, first, second);
    if (isa >= SLUICE_FIND_SSE2) return find_sse2(h, n, nd, m, first, second);
#endif
    (void)first; (void)second; (void)isa;
    return memmem(h, n, nd, m);
}

const void *sluice_find(const void *haystack, size_t n, const void *needle, size_t m,
                        size_t first, size_t second) {
    return sluice_find_using(sluice_find_best_isa(), haystack, n, needle, m, first, second);
}

/* ---- Aho-Corasick over many literal patterns (grep -F -e A -e B ...) ----
   A full DFA over byte classes: bytes that occur in no pattern share class 0, so the table is
   states x (distinct pattern bytes + 1) entries. Built breadth-first with failure links
   resolved into the table, so scanning is one load per byte. */
struct sluice_ac {
    int classes;            /* columns of the table */
    int states;
    uint16_t class_of[256]; /* up to 256 byte classes, plus class 0 */
    int32_t *next;          /* states * classes */
    unsigned char *accepts; /* per state: some pattern ends here (directly or by failure) */
};

void sluice_ac_free(struct sluice_ac *ac) {
    if (!ac) return;
    free(ac->next);
    free(ac->accepts);
    free(ac);
}

static unsigned char fold(unsigned char byte, int caseless) {
    return caseless && byte >= 'A' && byte <= 'Z' ? (unsigned char)(byte + 32) : byte;
}

struct sluice_ac *sluice_ac_build(const unsigned char *const *patterns, const size_t *lengths, size_t count,
                                  int caseless, size_t max_entries) {
    struct sluice_ac *ac = calloc(1, sizeof *ac);
    if (!ac) return NULL;
    size_t total = 1;
    for (size_t p = 0; p < count; p++) {
        if (lengths[p] == 0) { free(ac); return NULL; }  /* an empty pattern matches every line */
        total += lengths[p];
        for (size_t i = 0; i < lengths[p]; i++) {
            unsigned char b = fold(patterns[p][i], caseless);
            if (!ac->class_of[b]) ac->class_of[b] = (uint16_t)++ac->classes;
        }
    }
    ac->classes += 1;
    if (caseless) for (int b = 'A'; b <= 'Z'; b++) ac->class_of[b] = ac->class_of[b + 32];
    if (total > max_entries / (size_t)ac->classes || total * (size_t)ac->classes > INT32_MAX / 2) { free(ac); return NULL; }
    int c = ac->classes;
    ac->next = calloc(total * (size_t)c, sizeof(int32_t));
    ac->accepts = calloc(total, 1);
    if (!ac->next || !ac->accepts) { sluice_ac_free(ac); return NULL; }
    /* Trie: 0 means "no edge yet" (state 0 is the root, never a target of a trie edge). */
    int states = 1;
    for (size_t p = 0; p < count; p++) {
        int s = 0;
        for (size_t i = 0; i < lengths[p]; i++) {
            int k = ac->class_of[fold(patterns[p][i], caseless)];
            int32_t *edge = &ac->next[(size_t)s * c + k];
            if (!*edge) *edge = states++;
            s = *edge;
        }
        ac->accepts[s] = 1;
    }
    ac->states = states;
    /* Breadth-first: fail links, resolved into the table. */
    int32_t *fail = calloc((size_t)states, sizeof(int32_t));
    int32_t *queue = malloc((size_t)states * sizeof(int32_t));
    if (!fail || !queue) { free(fail); free(queue); sluice_ac_free(ac); return NULL; }
    size_t head = 0, tail = 0;
    for (int k = 0; k < c; k++) {
        int32_t t = ac->next[k];
        if (t) { fail[t] = 0; queue[tail++] = t; }
    }
    while (head < tail) {
        int32_t s = queue[head++];
        if (ac->accepts[fail[s]]) ac->accepts[s] = 1;
        for (int k = 0; k < c; k++) {
            int32_t *edge = &ac->next[(size_t)s * c + k];
            if (*edge) {
                fail[*edge] = ac->next[(size_t)fail[s] * c + k];
                queue[tail++] = *edge;
            } else {
                *edge = ac->next[(size_t)fail[s] * c + k];
            }
        }
    }
    free(fail);
    free(queue);
    /* Entries become the target's row offset, negative (-offset - 1) when the target accepts:
       scanning is then one load and one sign test per byte. */
    for (size_t e = 0; e < (size_t)states * c; e++) {
        int32_t t = ac->next[e];
        ac->next[e] = ac->accepts[t] ? -(t * c) - 1 : t * c;
    }
    return ac;
}

/* Offset of the last byte of the first match (the earliest-ending one) in haystack[0..n),
   or -1. */
long sluice_ac_find(const struct sluice_ac *ac, const unsigned char *haystack, size_t n) {
    const int32_t *next = ac->next;
    const uint16_t *class_of = ac->class_of;
    int32_t row = 0;
    for (size_t i = 0; i < n; i++) {
        row = next[row + class_of[haystack[i]]];
        if (row < 0) return (long)i;
    }
    return -1;
}
