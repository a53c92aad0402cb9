#ifndef CSLUICE_PROCESS_H
#define CSLUICE_PROCESS_H
/* Child processes and the registries a second-signal handler needs (the handler itself is the
   executable's: CSluiceMain). */
#include <stddef.h>
#include <sys/types.h>

/* Spawns `/bin/sh -c command` with stdin/stdout on the given descriptors (stderr inherited).
   Returns the pid, or -errno on failure. The child gets default SIGPIPE handling, and default
   SIGINT/SIGTERM unless this process ignores them, and leads a process group of its own
   (signal -pid to reach everything it started). It is registered (sluice_register_child) as
   part of the spawn, before any second-signal handler can look; unregister it once reaped. */
pid_t sluice_spawn_shell(const char *command, int stdin_fd, int stdout_fd);

/* pipe2(fds, O_CLOEXEC). */
int sluice_pipe_cloexec(int fds[2]);

/* Blocks SIGPIPE in the calling thread: a write to a closed pipe returns EPIPE. */
void sluice_block_sigpipe_in_thread(void);

/* Children (process-group leaders) that a second signal must take down before exiting. */
void sluice_register_child(pid_t pid);
void sluice_unregister_child(pid_t pid);
/* A temporary output file that the second-signal handler removes before it exits (at most
   1024 at once, paths under 4096 bytes; others are not removed). Returns its slot (-1 if not
   registered), to unregister once the file is renamed or removed. */
int sluice_register_temporary(const char *path);
void sluice_unregister_temporary(int slot);

/* Async-signal-safe, for a handler that exits at once: remove every registered temporary
   file; SIGKILL the process group of every registered child. */
void sluice_remove_registered_temporaries(void);
void sluice_kill_registered_children(void);

/* When the heap holds more than free_bytes of free memory (glibc mallinfo2's fordblks),
   returns its free pages to the system (malloc_trim(0): also those in the middle of each
   arena, which trimming at the top never reaches); 1 if it trimmed. */
int sluice_trim_heap_above(size_t free_bytes);

/// write(2) that does not wait for room (pwritev2 with RWF_NOWAIT, at the file's position):
/// the count written, or -errno (-EAGAIN: no room now; -EOPNOTSUPP: not on this descriptor).
long sluice_write_nowait(int fd, const void *bytes, size_t count);

#endif
