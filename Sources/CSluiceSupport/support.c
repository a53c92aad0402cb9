#define _GNU_SOURCE
#include "CSluiceSupport.h"
#include <errno.h>
#include <stdlib.h>
#include <malloc.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <spawn.h>
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <emmintrin.h>
#endif

/* SIGINT/SIGTERM ignored when the process started (nohup, `trap '' INT`, a background job of
   a non-interactive shell): they stay ignored, in sluice and in its --exec children. */
static volatile sig_atomic_t int_ignored = 0, term_ignored = 0;

extern char **environ;

pid_t sluice_spawn_shell(const char *command, int stdin_fd, int stdout_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
    posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    if (!int_ignored) sigaddset(&defaults, SIGINT);
    if (!term_ignored) sigaddset(&defaults, SIGTERM);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setpgroup(&attr, 0); /* its own group: cancelling kills the whole pipeline */
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
    char *argv[] = {"/bin/sh", "-c", (char *)command, NULL};
    pid_t pid = -1;
    int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    return rc == 0 ? pid : -rc;
}

void sluice_block_sigpipe_in_thread(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int sluice_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

size_t sluice_count_newlines(const unsigned char *p, size_t n) {
    size_t count = 0;
    const unsigned char *end = p + n;
    while (p < end) {
        const unsigned char *hit = memchr(p, '\n', (size_t)(end - p));
        if (!hit) break;
        count++;
        p = hit + 1;
    }
    return count;
}

static int signal_pipe[2] = {-1, -1};
static volatile sig_atomic_t received = 0;

/* Temporary output files, removed by the second-signal handler before it exits: fixed slots
   (no allocation, nothing freed under the handler). A slot is 0 free, 1 being written, 2 set. */
#define SLUICE_MAX_TEMPORARIES 64
static char temporary_paths[SLUICE_MAX_TEMPORARIES][4096];
static volatile int temporary_state[SLUICE_MAX_TEMPORARIES];

void sluice_register_temporary(const char *path) {
    size_t length = strlen(path);
    if (length >= sizeof temporary_paths[0]) return;
    for (int i = 0; i < SLUICE_MAX_TEMPORARIES; i++) {
        if (__sync_bool_compare_and_swap(&temporary_state[i], 0, 1)) {
            memcpy(temporary_paths[i], path, length + 1);
            __sync_synchronize();
            temporary_state[i] = 2;
            return;
        }
    }
}

void sluice_unregister_temporary(const char *path) {
    for (int i = 0; i < SLUICE_MAX_TEMPORARIES; i++) {
        if (temporary_state[i] == 2 && strcmp(temporary_paths[i], path) == 0 &&
            __sync_bool_compare_and_swap(&temporary_state[i], 2, 1)) {
            temporary_state[i] = 0;
            return;
        }
    }
}

#define SLUICE_MAX_CHILDREN 1024
static volatile pid_t children[SLUICE_MAX_CHILDREN];

void sluice_register_child(pid_t pid) {
    for (int i = 0; i < SLUICE_MAX_CHILDREN; i++) {
        if (__sync_bool_compare_and_swap(&children[i], 0, pid)) return;
    }
}

void sluice_unregister_child(pid_t pid) {
    for (int i = 0; i < SLUICE_MAX_CHILDREN; i++) {
        if (__sync_bool_compare_and_swap(&children[i], pid, 0)) return;
    }
}

static void on_signal(int sig) {
    if (received) {
        /* A second signal: remove the temporary files first (a rename the run may still reach
           before _exit then fails instead of committing), take the --exec commands down with us
           (SIGKILL: an exit at once has no time for a grace period, and no child may outlive
           sluice), and exit at once. */
        for (int i = 0; i < SLUICE_MAX_TEMPORARIES; i++) {
            if (temporary_state[i] == 2) unlink(temporary_paths[i]);
        }
        for (int i = 0; i < SLUICE_MAX_CHILDREN; i++) {
            pid_t child = children[i];
            if (child > 0) kill(-child, SIGKILL);
        }
        _exit(128 + sig);
    }
    received = sig;
    int saved = errno;
    char byte = (char)sig;
    if (signal_pipe[1] >= 0) (void)!write(signal_pipe[1], &byte, 1);
    errno = saved;
}

int sluice_install_signal_pipe(void) {
    if (signal_pipe[0] >= 0) return signal_pipe[0];
    if (pipe2(signal_pipe, O_CLOEXEC) != 0) return -1;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, NULL, &old) == 0 && old.sa_handler == SIG_IGN) int_ignored = 1;
    else sigaction(SIGINT, &sa, NULL);
    if (sigaction(SIGTERM, NULL, &old) == 0 && old.sa_handler == SIG_IGN) term_ignored = 1;
    else sigaction(SIGTERM, &sa, NULL);
    return signal_pipe[0];
}

int sluice_received_signal(void) { return received; }

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

int sluice_available_cores(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

void sluice_tune_malloc(void) {
#ifdef M_MMAP_THRESHOLD
    /* Chunk-sized buffers (512 KiB) stay in the heaps: mmap'ing each would fault every page
       in again. Each heap keeps at most 4 MiB free at its top (8 MiB let four heaps hold
       up to 20 MiB each on a gzip export: peaks of 69-78 MiB; 1-2 MiB cost system time on
       every chunk). A few heaps for all threads bound the rest. */
    mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 4 * 1024 * 1024);
    mallopt(M_ARENA_MAX, 4);
#endif
}

/* ---- Mapped input windows, safe against a file that shrinks under them ----
 * A page of a mapping past the end of its file raises SIGBUS (a log truncated by
 * `logrotate copytruncate` while sluice reads it). The handler finds the window holding the
 * faulting address, maps a zero page over it so the access completes, and marks the window
 * faulted; whoever reads a window checks the mark afterwards and discards what it read. A
 * SIGBUS anywhere else goes to the handler installed before (or the default action). The
 * page holding the file's new end raises nothing (its tail reads as zeros): the Swift side
 * also compares the file's size with the window after reading it (MappedWindow.isIntact). */

#include <sys/mman.h>

#define SLUICE_WINDOW_SLOTS 256
#define SLOT_CLAIMED UINTPTR_MAX  /* a start no fault address can fall after */
static _Atomic uintptr_t window_start[SLUICE_WINDOW_SLOTS];
static _Atomic uintptr_t window_end[SLUICE_WINDOW_SLOTS];
static _Atomic int window_faulted[SLUICE_WINDOW_SLOTS];
static pthread_once_t sigbus_once = PTHREAD_ONCE_INIT;
static struct sigaction previous_sigbus;
static uintptr_t page_size;

static void sigbus_handler(int sig, siginfo_t *info, void *context) {
    int saved_errno = errno;
    if (info->si_code == BUS_ADRERR) {  /* a mapped page past its file's end (not kill -BUS) */
        uintptr_t address = (uintptr_t)info->si_addr;
        for (int i = 0; i < SLUICE_WINDOW_SLOTS; i++) {
            uintptr_t start = atomic_load(&window_start[i]);
            if (start != 0 && start != SLOT_CLAIMED && address >= start && address < atomic_load(&window_end[i])) {
                void *at = (void *)(address & ~(page_size - 1));
                if (mmap(at, page_size, PROT_READ, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED) {
                    atomic_store(&window_faulted[i], 1);
                    errno = saved_errno;
                    return;
                }
                break;
            }
        }
    }
    /* Not ours (or it cannot be patched): the handler before ours, else the default action. */
    if ((previous_sigbus.sa_flags & SA_SIGINFO) && previous_sigbus.sa_sigaction) {
        previous_sigbus.sa_sigaction(sig, info, context);
    } else if (previous_sigbus.sa_handler != SIG_DFL && previous_sigbus.sa_handler != SIG_IGN && previous_sigbus.sa_handler) {
        previous_sigbus.sa_handler(sig);
    } else {
        signal(sig, SIG_DFL);  /* the access repeats and kills */
    }
    errno = saved_errno;
}

static void install_sigbus_handler(void) {
    page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = sigbus_handler;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    sigaction(SIGBUS, &action, &previous_sigbus);
}

const void *sluice_map_window(int fd, off_t offset, size_t length, int *slot) {
    pthread_once(&sigbus_once, install_sigbus_handler);
    *slot = -1;
    off_t aligned = offset & ~(off_t)(page_size - 1);
    size_t lead = (size_t)(offset - aligned);
    void *base = mmap(NULL, length + lead, PROT_READ, MAP_PRIVATE, fd, aligned);
    if (base == MAP_FAILED) return NULL;
    uintptr_t start = (uintptr_t)base, end = start + length + lead;
    for (int i = 0; i < SLUICE_WINDOW_SLOTS; i++) {
        uintptr_t expected = 0;
        /* Claim the slot first; only then fill it in, the start last (the handler reads the
           start first: it never sees a half-written slot). */
        if (atomic_compare_exchange_strong(&window_start[i], &expected, SLOT_CLAIMED)) {
            atomic_store(&window_faulted[i], 0);
            atomic_store(&window_end[i], end);
            atomic_store(&window_start[i], start);
            *slot = i;
            return (const unsigned char *)base + lead;
        }
    }
    munmap(base, length + lead);  /* no free slot: the caller reads instead */
    return NULL;
}

int sluice_window_faulted(int slot) {
    return atomic_load(&window_faulted[slot]);
}

void sluice_unmap_window(const void *data, size_t length, int slot) {
    uintptr_t address = (uintptr_t)data;
    uintptr_t aligned = address & ~(page_size - 1);
    atomic_store(&window_start[slot], 0);  /* first: the range may be mapped again at once */
    munmap((void *)aligned, length + (address - aligned));
}

/* Descriptors 0-2 closed when sluice starts (`<&-`, `>&-`) get /dev/null before anything
   else runs (the Swift runtime's own descriptors would otherwise land there, and "stdout"
   would be an epoll instance). Which were closed is kept, to report them as grep does. */
static int closed_at_start = 0;

__attribute__((constructor(101)))
static void occupy_closed_standard_descriptors(void) {
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
            closed_at_start |= 1 << fd;
            int null = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
            if (null >= 0 && null != fd) { dup2(null, fd); close(null); }
        }
    }
}

int sluice_closed_standard_descriptors(void) { return closed_at_start; }

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
