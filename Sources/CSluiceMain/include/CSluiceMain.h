#ifndef CSLUICE_MAIN_H
#define CSLUICE_MAIN_H

/* Keeps freed chunk buffers in the heap for reuse instead of returning them to the kernel
   (glibc otherwise mmaps each large buffer afresh and pays a page fault per 4 KiB), in at
   most `arenas` heaps. */
void sluice_tune_malloc(int arenas);
/* Bit N set: descriptor N (0-2) was closed when the process started; it now holds /dev/null. */
int sluice_closed_standard_descriptors(void);
/* Sets the calling thread's signal mask back to the one the process started with. */
void sluice_restore_initial_signal_mask(void);
/* The cores this process may run on (its affinity mask), at least 1. */
int sluice_available_cores(void);

/* Signal plumbing: installs handlers for SIGINT/SIGTERM/SIGHUP that record the signal and write a
   byte to a self-pipe; returns the read end. A second signal kills the --exec children's
   groups, removes the registered temporary files and exits at once with 128+sig. A signal
   ignored when the process started stays ignored (also in the children spawned after).
   `hangup_reopens` (--follow -O FILE): SIGHUP writes its number (1) to the same pipe and is
   not a stop (the outputs are opened again); installed in the same step, so no SIGHUP is
   ever taken for a stop in such a run. */
int sluice_install_signal_pipe(int hangup_reopens);
int sluice_received_signal(void);
/* Ends the process as a second signal would (temporary files removed, --exec children
   killed, then `message` on stderr if it takes it within 100 ms, _exit with 128 + the first
   signal's number): for a stop that cannot finish. */
void sluice_end_as_second_signal(const char *message);

/// Ignores SIGPIPE (writes then fail with EPIPE, handled); returns 1 if it was ignored at start.
int sluice_ignore_sigpipe(void);
/// Ends the process as a writer into a closed pipe ends without handling it: killed by SIGPIPE
/// (status 141 to a shell), as grep is.
void sluice_die_of_sigpipe(void);

#endif
