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
    /* Per byte lane, a count of newlines (cmpeq gives -1, subtracted), summed by psadbw before
       a lane can pass 255 (63 rounds of 4). The movemask + popcount it replaces ran popcount
       in software (the target's baseline has no POPCNT): 26% of -C 3's time on 1 GB. */
    const __m128i newline = _mm_set1_epi8('\n');
    const __m128i zero = _mm_setzero_si128();
    while (i + 64 <= n) {
        __m128i lanes = zero;
        size_t rounds = (n - i) / 64;
        if (rounds > 63) rounds = 63;
        for (size_t r = 0; r < rounds; r++, i += 64) {
            lanes = _mm_sub_epi8(lanes, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i)), newline));
            lanes = _mm_sub_epi8(lanes, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i + 16)), newline));
            lanes = _mm_sub_epi8(lanes, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i + 32)), newline));
            lanes = _mm_sub_epi8(lanes, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i + 48)), newline));
        }
        __m128i sums = _mm_sad_epu8(lanes, zero);
        count += (size_t)_mm_cvtsi128_si64(sums) + (size_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums));
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
#include <cpuid.h>
#include <immintrin.h>
/* The same search 64 positions per step with AVX2 (two 32-byte compares per needle byte):
   on 1 GB of logs it halves the time of the SSE2 loop, which was the filter's whole cost.
   `track`: also tests every byte it loads for NUL (grep's binary-file test, fused into the
   search: see sluice_nul_watch_begin), setting *nul; on return, every byte before the match
   (all of h[0, n) without one) has been tested. Inlined twice, so the search without it keeps
   its loop. */
__attribute__((target("avx2"), always_inline))
static inline const void *find_avx2_body(const unsigned char *h, size_t n, const unsigned char *nd, size_t m,
                                         size_t first, size_t second, const int track, int *nul) {
    const __m256i a_byte = _mm256_set1_epi8((char)nd[first]);
    const __m256i b_byte = _mm256_set1_epi8((char)nd[second]);
    const __m256i zero = _mm256_setzero_si256();
    __m256i nuls = zero;
    /* The loads below test h[first + i, first + i + 64) at each step: the first bytes here. */
    if (track && memchr(h, 0, first < n ? first : n)) *nul = 1;
    size_t i = 0;
    for (; i + m + 64 <= n + 1; i += 64) {
        const unsigned char *p = h + i;
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(p + first));
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(p + second));
        __m256i a1 = _mm256_loadu_si256((const __m256i *)(p + first + 32));
        __m256i b1 = _mm256_loadu_si256((const __m256i *)(p + second + 32));
        if (track) nuls = _mm256_or_si256(nuls, _mm256_or_si256(_mm256_cmpeq_epi8(a0, zero), _mm256_cmpeq_epi8(a1, zero)));
        unsigned low = (unsigned)_mm256_movemask_epi8(_mm256_and_si256(_mm256_cmpeq_epi8(a0, a_byte), _mm256_cmpeq_epi8(b0, b_byte)));
        unsigned high = (unsigned)_mm256_movemask_epi8(_mm256_and_si256(_mm256_cmpeq_epi8(a1, a_byte), _mm256_cmpeq_epi8(b1, b_byte)));
        unsigned long long mask = (unsigned long long)low | ((unsigned long long)high << 32);
        while (mask) {
            unsigned bit = (unsigned)__builtin_ctzll(mask);
            if (memcmp(p + bit, nd, m) == 0) {
                if (track && _mm256_movemask_epi8(nuls)) *nul = 1;
                return p + bit;
            }
            mask &= mask - 1;
        }
    }
    if (track && (_mm256_movemask_epi8(nuls) || (i < n && memchr(h + i, 0, n - i)))) *nul = 1;
    if (i < n) return memmem(h + i, n - i, nd, m);
    return NULL;
}

__attribute__((target("avx2")))
static const void *find_avx2(const unsigned char *h, size_t n, const unsigned char *nd, size_t m,
                             size_t first, size_t second) {
    return find_avx2_body(h, n, nd, m, first, second, 0, NULL);
}

__attribute__((target("avx2")))
static const void *find_avx2_testing_nul(const unsigned char *h, size_t n, const unsigned char *nd, size_t m,
                                         size_t first, size_t second, int *nul) {
    return find_avx2_body(h, n, nd, m, first, second, 1, nul);
}

static _Atomic int avx2_known = -1;  /* every thread computes the same answer; atomic for TSan */

/* AVX2 usable: the CPU has it (CPUID leaf 7, EBX bit 5) and the system saves the YMM
   registers (OSXSAVE, then XCR0's SSE and AVX bits), asked at the first search that needs
   it. Not `__builtin_cpu_supports`: it links compiler-rt's CPU model, whose constructor runs
   a dozen CPUID instructions at every start, each a trap to the hypervisor on a virtual
   machine (about 5 us here): 0.1 ms of an empty run, most of it for nothing. */
static int cpu_has_avx2(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d) || a < 7) return 0;
    __get_cpuid(1, &a, &b, &c, &d);
    if (!(c & bit_OSXSAVE) || !(c & bit_AVX)) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6) != 6) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b & bit_AVX2) != 0;
}

static int has_avx2(void) {
    int known = atomic_load_explicit(&avx2_known, memory_order_relaxed);
    if (known < 0) {
        known = cpu_has_avx2();
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

/* The buffer whose NUL test this thread's searches do on the way (sluice_nul_watch_begin);
   base NULL: none. `checked`: every byte in [base, checked) has been tested. */
static __thread struct {
    const unsigned char *base, *end, *checked;
    int nul;
} watch;

void sluice_nul_watch_begin(const void *base, size_t n) {
    watch.base = base;
    watch.end = (const unsigned char *)base + n;
    watch.checked = base;
    watch.nul = 0;
}

int sluice_nul_watch_end(void) {
    if (!watch.base) return 0;
    if (!watch.nul && watch.checked < watch.end && memchr(watch.checked, 0, (size_t)(watch.end - watch.checked))) watch.nul = 1;
    watch.base = NULL;
    return watch.nul;
}

static const void *find_untested(int isa, const unsigned char *h, size_t n, const unsigned char *nd, size_t m,
                                 size_t first, size_t second) {
    if (m == 0) return h;
    if (m > n) return NULL;
    if (m == 1) return memchr(h, nd[0], n);
#if defined(__x86_64__)
    if (isa == SLUICE_FIND_AVX2 && has_avx2()) return find_avx2(h, n, nd, m, first, second);
    if (isa >= SLUICE_FIND_SSE2) return find_sse2(h, n, nd, m, first, second);
#endif
    (void)first; (void)second; (void)isa;
    return memmem(h, n, nd, m);
}

const void *sluice_find_using(int isa, const void *haystack, size_t n, const void *needle, size_t m,
                              size_t first, size_t second) {
    const unsigned char *h = haystack, *nd = needle;
    if (!watch.base || watch.nul || h < watch.base || h + n > watch.end) return find_untested(isa, h, n, nd, m, first, second);
    /* A search in the watched buffer: the bytes it passes are tested for NUL too, and those
       between the tested part and this search's start (the rest of a line the caller took). */
    if (h > watch.checked) {
        if (memchr(watch.checked, 0, (size_t)(h - watch.checked))) { watch.nul = 1; return find_untested(isa, h, n, nd, m, first, second); }
        watch.checked = h;
    }
    const unsigned char *found;
#if defined(__x86_64__)
    if (isa == SLUICE_FIND_AVX2 && m >= 2 && m <= n && has_avx2()) {
        found = find_avx2_testing_nul(h, n, nd, m, first, second, &watch.nul);
    } else
#endif
    {
        found = find_untested(isa, h, n, nd, m, first, second);
        const unsigned char *stop = found ? found : h + n;
        if (stop > watch.checked && memchr(watch.checked, 0, (size_t)(stop - watch.checked))) watch.nul = 1;
    }
    const unsigned char *tested = found ? found : h + n;
    if (tested > watch.checked) watch.checked = tested;
    return found;
}

const void *sluice_find(const void *haystack, size_t n, const void *needle, size_t m,
                        size_t first, size_t second) {
    return sluice_find_using(sluice_find_best_isa(), haystack, n, needle, m, first, second);
}

/* ---- Aho-Corasick over many literal patterns (grep -F -e A -e B ..., -f FILE) ----
   Bytes that occur in no pattern share class 0, so a state has `classes` (distinct pattern
   bytes + 1) transitions. States are numbered breadth-first: a state's failure state has a
   smaller number than it, and its children have consecutive numbers, sorted by class.
   The first `dense` states get a full row of the table, failure transitions resolved in, so a
   scan that stays among them is one load and one sign test per byte. The others are sparse:
   their children, and their failure link followed until a child or a dense row is found.
   Breadth-first, the dense states are the shallow ones, where a scan of text spends nearly all
   its time; a deep one costs 12 bytes instead of a row.
   Why: a row for every state (the earlier design) is states x classes cells, and past a limit
   the build failed, leaving the caller a PCRE2 alternation, which fails in turn ("regular
   expression is too large"): 100,000 random words of 5-10 letters are 456,507 states x 27
   classes, 12.3 million cells (49 MB), three times the 16 MiB it allowed, so sluice could not
   do what grep -F -f does in 1.8 s on 100 MB of the bench corpus. Now any number of patterns
   builds: the table is bounded by the budget, the rest is proportional to the patterns' bytes. */
struct ac_state {
    int32_t first_child; /* the children are [first_child, first_child + children) */
    /* The state of the longest proper suffix of this state's string; in a sparse state, once
       built, -row - 1 when that state is dense (row: its row's offset). */
    int32_t fail;
    uint16_t children;
    uint8_t label;       /* the class of the edge into this state, minus 1 */
    uint8_t accepts;     /* a pattern ends here, or at a failure state of this one */
};

struct sluice_ac {
    size_t classes;         /* entries of a row */
    int32_t states;
    int32_t dense;          /* states [0, dense) have a row: at least the root */
    uint16_t class_of[256]; /* up to 256 byte classes, plus class 0 */
    /* dense * classes: the target's row offset when the target is dense and does not accept;
       the slow path else: -1 when it accepts (the search ends there, whatever the state),
       -target - 2 when it is sparse. Rows are not in state order: see ac_lay_out_rows. */
    int32_t *next;
    /* Every state, the dense ones included (their children and failure links build the rows).
       A sparse step reads the state's record and its children's, which are contiguous: the
       next step's record is then already in cache. */
    struct ac_state *state;
    /* Built only when asked (sluice_ac_build_keyed), for sluice_ac_keys: per state, the pattern
       that ends exactly there (-1: none), the nearest proper suffix state where one ends (-1:
       none), and the failure links as state numbers (`state[].fail` is rewritten for the scan). */
    int32_t *ends;
    int32_t *output;
    int32_t *failure;
    size_t patterns;
};

void sluice_ac_free(struct sluice_ac *ac) {
    if (!ac) return;
    free(ac->next);
    free(ac->state);
    free(ac->ends);
    free(ac->output);
    free(ac->failure);
    free(ac);
}

static unsigned char fold(unsigned char byte, int caseless) {
    return caseless && byte >= 'A' && byte <= 'Z' ? (unsigned char)(byte + 32) : byte;
}

/* The child of s along class k (k >= 1), or -1. Children are sorted by class: a binary search
   narrows a long run (the root's, say), a linear one ends it. */
static inline int32_t ac_child(const struct ac_state *state, int32_t s, unsigned k) {
    int32_t lo = state[s].first_child, end = lo + state[s].children, hi = end;
    unsigned char label = (unsigned char)(k - 1);
    while (hi - lo > 8) {
        int32_t mid = lo + (hi - lo) / 2;
        if (state[mid].label < label) lo = mid + 1; else hi = mid;
    }
    for (; lo < end; lo++) {
        unsigned char here = state[lo].label;
        if (here >= label) return here == label ? lo : -1;
    }
    return -1;
}

/* The state after s on class k (k >= 1), by children and failure links (while building). */
static int32_t ac_delta(const struct ac_state *state, int32_t s, unsigned k) {
    for (;;) {
        int32_t child = ac_child(state, s, k);
        if (child >= 0 || s == 0) return child >= 0 ? child : 0;
        s = state[s].fail;
    }
}

/* Where each dense state's row goes: the first 64 KiB of rows breadth-first (the root and the
   states a byte or two deep, where a scan of text spends most of its time, in few pages), then
   the rest depth-first (a pattern's states one after the other, for a scan that follows one).
   Scans of 20 MB of the log (the bench harness, best of 5): 2,000 tokens of the log as
   patterns (most lines match) 1,730 MB/s this way, 1,550 breadth-first only; 2,000 random
   words (no line matches) 565 MB/s this way, 476 depth-first only. 0 when memory runs out. */
static int ac_lay_out_rows(const struct ac_state *state, int32_t dense, size_t classes, int32_t *row_of) {
    int32_t *stack = malloc((size_t)dense * sizeof *stack);
    if (!stack) return 0;
    size_t hot = (64 << 10) / (classes * sizeof(int32_t)), placed = 0;
    if (hot < 1) hot = 1;
    if (hot > (size_t)dense) hot = (size_t)dense;
    for (size_t s = 0; s < hot; s++) row_of[s] = (int32_t)(placed++ * classes);
    for (size_t h = 0; h < hot; h++) {
        size_t depth = 0;
        for (int32_t child = state[h].first_child + state[h].children; child-- > state[h].first_child;) {
            if ((size_t)child >= hot && child < dense) stack[depth++] = child; /* first child on top */
        }
        while (depth) {
            int32_t s = stack[--depth];
            row_of[s] = (int32_t)(placed++ * classes);
            for (int32_t child = state[s].first_child + state[s].children; child-- > state[s].first_child;) {
                if (child < dense) stack[depth++] = child;
            }
        }
    }
    free(stack);
    return 1;
}

/* Sorts perm[0, n) (pattern numbers) with their keys (the class at this depth, 0 for a pattern
   that ends here): insertion for a few, counting for more. */
static void sort_by_key(int32_t *perm, uint16_t *keys, size_t n, int32_t *perm_tmp, uint16_t *keys_tmp,
                        size_t classes) {
    if (n <= 16) {
        for (size_t i = 1; i < n; i++) {
            int32_t p = perm[i];
            uint16_t key = keys[i];
            size_t j = i;
            for (; j > 0 && keys[j - 1] > key; j--) { perm[j] = perm[j - 1]; keys[j] = keys[j - 1]; }
            perm[j] = p;
            keys[j] = key;
        }
        return;
    }
    size_t start[258] = {0};
    for (size_t i = 0; i < n; i++) start[keys[i] + 1]++;
    for (size_t k = 1; k <= classes; k++) start[k] += start[k - 1];
    for (size_t i = 0; i < n; i++) {
        size_t at = start[keys[i]]++;
        perm_tmp[at] = perm[i];
        keys_tmp[at] = keys[i];
    }
    memcpy(perm, perm_tmp, n * sizeof *perm);
    memcpy(keys, keys_tmp, n * sizeof *keys);
}

struct ac_range { int32_t begin, end; };

/* The trie, breadth-first, without a pointer per edge: the patterns sharing a state's string
   are a range of `perm`; a level's ranges split by the next byte's class into the next level's,
   in state order, so the states come out numbered breadth-first with their children
   consecutive and sorted. Sets ac->states and each state's children, label and accepts (where
   a pattern ends); 0 when memory runs out. */
static int ac_build_trie(struct sluice_ac *ac, const unsigned char *const *patterns, const size_t *lengths,
                         size_t count, int32_t *ends) {
    size_t slots = count ? count : 1;
    int32_t *perm = malloc(slots * sizeof *perm), *perm_tmp = malloc(slots * sizeof *perm_tmp);
    uint16_t *keys = malloc(slots * sizeof *keys), *keys_tmp = malloc(slots * sizeof *keys_tmp);
    struct ac_range *level = malloc(slots * sizeof *level), *below = malloc(slots * sizeof *below);
    int ok = perm && perm_tmp && keys && keys_tmp && level && below;
    if (ok) {
        struct ac_state *state = ac->state;
        for (size_t p = 0; p < count; p++) perm[p] = (int32_t)p;
        level[0] = (struct ac_range){0, (int32_t)count};
        state[0] = (struct ac_state){0};
        size_t ranges = 1, depth = 0;
        int32_t level_first = 0, next_id = 1;
        while (ranges) {
            size_t ranges_below = 0;
            for (size_t r = 0; r < ranges; r++) {
                int32_t s = level_first + (int32_t)r, b = level[r].begin, e = level[r].end;
                state[s].first_child = next_id;
                for (int32_t i = b; i < e; i++) {
                    size_t p = (size_t)perm[i];
                    keys[i] = lengths[p] == depth ? 0 : ac->class_of[patterns[p][depth]];
                }
                sort_by_key(perm + b, keys + b, (size_t)(e - b), perm_tmp, keys_tmp, ac->classes);
                for (; b < e && keys[b] == 0; b++) {
                    state[s].accepts = 1;
                    if (ends) ends[s] = perm[b];  /* keyed automata have distinct patterns */
                }
                while (b < e) {
                    int32_t run = b + 1;
                    while (run < e && keys[run] == keys[b]) run++;
                    state[next_id++] = (struct ac_state){.label = (uint8_t)(keys[b] - 1)};
                    state[s].children++;
                    below[ranges_below++] = (struct ac_range){b, run};
                    b = run;
                }
            }
            level_first += (int32_t)ranges;
            struct ac_range *swap = level;
            level = below;
            below = swap;
            ranges = ranges_below;
            depth++;
        }
        ac->states = next_id;
    }
    free(perm);
    free(perm_tmp);
    free(keys);
    free(keys_tmp);
    free(level);
    free(below);
    return ok;
}

/* max_entries: the dense rows' budget in cells (the root has its row whatever the budget). */
struct sluice_ac *sluice_ac_build(const unsigned char *const *patterns, const size_t *lengths, size_t count,
                                  int caseless, size_t max_entries) {
    return sluice_ac_build_keyed(patterns, lengths, count, caseless, max_entries, 0);
}

struct sluice_ac *sluice_ac_build_keyed(const unsigned char *const *patterns, const size_t *lengths, size_t count,
                                        int caseless, size_t max_entries, int keyed) {
    struct sluice_ac *ac = calloc(1, sizeof *ac);
    if (!ac) return NULL;
    ac->patterns = count;
    size_t total = 1;
    for (size_t p = 0; p < count; p++) {
        /* An empty pattern matches every line; state numbers (at most total) are int32. */
        if (lengths[p] == 0 || lengths[p] >= (size_t)INT32_MAX - total) { free(ac); return NULL; }
        total += lengths[p];
        for (size_t i = 0; i < lengths[p]; i++) {
            unsigned char b = fold(patterns[p][i], caseless);
            if (!ac->class_of[b]) ac->class_of[b] = (uint16_t)++ac->classes;
        }
    }
    ac->classes += 1;
    if (caseless) for (int b = 'A'; b <= 'Z'; b++) ac->class_of[b] = ac->class_of[b + 32];
    size_t c = ac->classes;
    /* Room for `total` states (each pattern byte a new one at most), trimmed once counted. */
    ac->state = malloc(total * sizeof *ac->state);
    if (keyed) {
        ac->ends = malloc(total * sizeof *ac->ends);
        if (!ac->ends) { sluice_ac_free(ac); return NULL; }
        for (size_t i = 0; i < total; i++) ac->ends[i] = -1;
    }
    if (!ac->state || !ac_build_trie(ac, patterns, lengths, count, ac->ends)) { sluice_ac_free(ac); return NULL; }
    size_t states = (size_t)ac->states;
    struct ac_state *trimmed = realloc(ac->state, states * sizeof *trimmed);
    if (trimmed) ac->state = trimmed;
    struct ac_state *state = ac->state;

    size_t dense = max_entries / c;
    if (dense < 1) dense = 1;
    if (dense > states) dense = states;
    if (dense > (size_t)INT32_MAX / c) dense = (size_t)INT32_MAX / c; /* row offsets are int32 */
    ac->dense = (int32_t)dense;
    ac->next = malloc(dense * c * sizeof *ac->next);
    int32_t *row_of = malloc(dense * sizeof *row_of);
    if (!ac->next || !row_of || !ac_lay_out_rows(state, ac->dense, c, row_of)) {
        free(row_of);
        sluice_ac_free(ac);
        return NULL;
    }

    /* Breadth-first: a child's failure state is where its parent's failure state goes on the
       child's class (by links of smaller states: set by then), and the child accepts if that
       state does. A dense row is its failure state's row with its own children written over. */
    state[0].fail = 0;
    for (int32_t s = 0; s < ac->states; s++) {
        int32_t first = state[s].first_child, end = first + state[s].children;
        for (int32_t child = first; child < end; child++) {
            int32_t f = s == 0 ? 0 : ac_delta(state, state[s].fail, (unsigned)state[child].label + 1);
            state[child].fail = f;
            state[child].accepts |= state[f].accepts;
        }
        if (s < ac->dense) {
            int32_t *row = ac->next + row_of[s];
            if (s == 0) memset(row, 0, c * sizeof *row);
            else memcpy(row, ac->next + row_of[state[s].fail], c * sizeof *row);
            for (int32_t child = first; child < end; child++) {
                row[state[child].label + 1] = child < ac->dense && !state[child].accepts ? row_of[child] : -child - 2;
            }
        }
    }
    /* An accepting target's entry becomes -1: a match costs the scan no look-up and no call
       (with them, the 2,000 log tokens, most lines a match, scanned at 1,140 MB/s, not 1,510). */
    for (size_t e = 0; e < dense * c; e++) {
        int32_t entry = ac->next[e];
        if (entry < 0 && state[-entry - 2].accepts) ac->next[e] = -1;
    }
    if (keyed) {
        ac->failure = malloc(states * sizeof *ac->failure);
        ac->output = malloc(states * sizeof *ac->output);
        if (!ac->failure || !ac->output) { free(row_of); sluice_ac_free(ac); return NULL; }
        ac->output[0] = -1;
        ac->failure[0] = 0;
        for (size_t s = 1; s < states; s++) {  /* breadth-first: a failure state comes first */
            int32_t f = state[s].fail;
            ac->failure[s] = f;
            ac->output[s] = ac->ends[f] >= 0 ? f : ac->output[f];
        }
    }
    /* A sparse state's failure state, when dense, as its row: the scan needs nothing else. */
    for (int32_t s = ac->dense; s < ac->states; s++) {
        if (state[s].fail < ac->dense) state[s].fail = -row_of[state[s].fail] - 1;
    }
    free(row_of);
    return ac;
}

/* Where the table scan stopped at `at`: row >= 0 resumes it after `at`; row < 0 ends the
   search, with a match at `at` if at < n. */
struct ac_stop { size_t at; int32_t row; };

/* The scan from sparse state s, reached on haystack[i], by children and failure links until it
   meets a dense row. Not inlined: the table scan's loop keeps its registers. */
__attribute__((noinline))
static struct ac_stop ac_find_sparse(const struct sluice_ac *ac, const unsigned char *haystack, size_t n, size_t i,
                                     int32_t s) {
    const struct ac_state *state = ac->state;
    while (++i < n) {
        unsigned k = ac->class_of[haystack[i]];
        if (k == 0) return (struct ac_stop){i, 0}; /* a byte in no pattern: back to the root */
        int32_t t;
        for (;;) {
            t = ac_child(state, s, k);
            if (t >= 0) break; /* a sparse state's children are sparse */
            s = state[s].fail;
            if (s < 0) { /* a dense state's row */
                int32_t entry = ac->next[(size_t)(-(s + 1)) + k];
                if (entry >= 0) return (struct ac_stop){i, entry};
                if (entry == -1) return (struct ac_stop){i, -1};
                t = -entry - 2;
                break;
            }
        }
        if (state[t].accepts) return (struct ac_stop){i, -1};
        s = t;
    }
    return (struct ac_stop){n, -1};
}

/* Offset of the last byte of the first match (the earliest-ending one) in haystack[0..n),
   or -1. */
long sluice_ac_find(const struct sluice_ac *ac, const unsigned char *haystack, size_t n) {
    const int32_t *next = ac->next;
    const uint16_t *class_of = ac->class_of;
    int32_t row = 0;
    for (size_t i = 0; i < n; i++) {
        row = next[row + class_of[haystack[i]]];
        if (row < 0) {
            if (row == -1) return (long)i;
            struct ac_stop stop = ac_find_sparse(ac, haystack, n, i, -row - 2);
            if (stop.row < 0) return stop.at < n ? (long)stop.at : -1;
            i = stop.at;
            row = stop.row;
        }
    }
    return -1;
}

/* The patterns found in haystack[0..n) (each once: `seen[p] == generation` marks one already
   written), into `found` (room for every pattern); returns how many. Walks the trie by
   children and failure links, not the table: it runs on the few lines the table scan found. */
size_t sluice_ac_keys(const struct sluice_ac *ac, const unsigned char *haystack, size_t n, int32_t *found,
                      int32_t *seen, int32_t generation) {
    if (!ac->ends) return 0;
    const struct ac_state *state = ac->state;
    size_t count = 0;
    int32_t s = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned k = ac->class_of[haystack[i]];
        if (k == 0) { s = 0; continue; }
        for (;;) {
            int32_t child = ac_child(state, s, k);
            if (child >= 0) { s = child; break; }
            if (s == 0) break;
            s = ac->failure[s];
        }
        /* Down the output chain until a pattern already found: the rest of its chain was
           written when it was (nested keys over a long line walked it at every byte). */
        for (int32_t t = ac->ends[s] >= 0 ? s : ac->output[s]; t > 0; t = ac->output[t]) {
            int32_t p = ac->ends[t];
            if (seen[p] == generation) break;
            seen[p] = generation;
            found[count++] = p;
        }
    }
    return count;
}
