#ifndef CSLUICE_SUPPORT_H
#define CSLUICE_SUPPORT_H
#include <stddef.h>
#include <sys/types.h>

/* Glibc's Swift module does not declare these GNU extensions. */
void *memmem(const void *haystack, size_t haystacklen, const void *needle, size_t needlelen);
void *memrchr(const void *s, int c, size_t n);

/* Spawns `/bin/sh -c command` with stdin/stdout on the given descriptors (stderr inherited).
   Returns the pid, or -errno on failure. The child gets default SIGPIPE/SIGINT handling and
   leads a process group of its own (signal -pid to reach everything it started). */
pid_t sluice_spawn_shell(const char *command, int stdin_fd, int stdout_fd);

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

/* Keeps freed chunk buffers in the heap for reuse instead of returning them to the kernel
   (glibc otherwise mmaps each large buffer afresh and pays a page fault per 4 KiB). */
void sluice_tune_malloc(void);
/* Aho-Corasick automaton over literal patterns (none empty); caseless folds ASCII letters.
   NULL when its table would pass max_entries cells (or memory runs out): match otherwise. */
struct sluice_ac;
struct sluice_ac *sluice_ac_build(const unsigned char *const *patterns, const size_t *lengths, size_t count,
                                  int caseless, size_t max_entries);
/* Offset of the last byte of the earliest-ending match in haystack[0..n), or -1. */
long sluice_ac_find(const struct sluice_ac *ac, const unsigned char *haystack, size_t n);
void sluice_ac_free(struct sluice_ac *ac);

/* Bit N set: descriptor N (0-2) was closed when the process started; it now holds /dev/null. */
int sluice_closed_standard_descriptors(void);
/* The cores this process may run on (its affinity mask), at least 1. */
int sluice_available_cores(void);

/* pipe2(fds, O_CLOEXEC). */
int sluice_pipe_cloexec(int fds[2]);

/* Blocks SIGPIPE in the calling thread: a write to a closed pipe returns EPIPE. */
void sluice_block_sigpipe_in_thread(void);

/* Counts '\n' bytes in [p, p+n). */
size_t sluice_count_newlines(const unsigned char *p, size_t n);

/* Signal plumbing: installs handlers for SIGINT/SIGTERM that record the signal and write a
   byte to a self-pipe; returns the read end. A second signal kills the --exec children's
   groups, removes the registered temporary files and exits at once with 128+sig. A signal
   ignored when the process started stays ignored (also in the children spawned after). */
int sluice_install_signal_pipe(void);
/* Children (process-group leaders) that a second signal must take down before exiting. */
void sluice_register_child(pid_t pid);
void sluice_unregister_child(pid_t pid);
int sluice_received_signal(void);
/* A temporary output file that the second-signal handler removes before it exits (at most
   64 at once, paths under 4096 bytes; others are not removed). Unregister it once renamed or
   removed. */
void sluice_register_temporary(const char *path);
void sluice_unregister_temporary(const char *path);

/* Maps `length` bytes of `fd` from `offset` (any offset) read-only; NULL on failure (then
   read instead). `*slot` names the window for `sluice_window_faulted` and the unmap. A page
   past the file's end (it shrank) reads as zeros and marks the window faulted, instead of
   killing the process with SIGBUS. */
const void *sluice_map_window(int fd, off_t offset, size_t length, int *slot);
/* Whether a read of the window hit a page past its file's end (what was read is not the file's). */
int sluice_window_faulted(int slot);
void sluice_unmap_window(const void *data, size_t length, int slot);

#endif
