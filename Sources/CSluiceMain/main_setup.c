#define _GNU_SOURCE
#include "CSluiceMain.h"
#include "CSluiceProcess.h"
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* Process-wide setup of the sluice executable: nothing here belongs in the library, so that
   linking SluiceKit changes nothing in a host process (no constructor, handler or malloc
   tuning of its own). */

static int signal_pipe[2] = {-1, -1};
static int received = 0;  /* the first signal; atomic: two signals may arrive on two threads */

static void on_signal(int sig) {
    int first = __atomic_exchange_n(&received, sig, __ATOMIC_SEQ_CST);
    if (first) {
        /* A second signal: remove the temporary files first (a rename the run may still reach
           before _exit then fails instead of committing), take the --exec commands down with us
           (SIGKILL: an exit at once has no time for a grace period, and no child may outlive
           sluice), and exit at once. */
        sluice_remove_registered_temporaries();
        sluice_kill_registered_children();
        _exit(128 + sig);
    }
    int saved = errno;
    char byte = (char)sig;
    if (signal_pipe[1] >= 0) (void)!write(signal_pipe[1], &byte, 1);
    errno = saved;
}

static void on_hangup(int sig);

int sluice_install_signal_pipe(int hangup_reopens) {
    if (signal_pipe[0] >= 0) return signal_pipe[0];
    if (pipe2(signal_pipe, O_CLOEXEC) != 0) return -1;
    /* A handler never blocks: a full pipe (thousands of SIGHUPs unread) drops the byte. */
    (void)fcntl(signal_pipe[1], F_SETFL, fcntl(signal_pipe[1], F_GETFL) | O_NONBLOCK);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* A signal ignored at start stays ignored (nohup, `trap '' INT`, background jobs). */
    if (sigaction(SIGINT, NULL, &old) != 0 || old.sa_handler != SIG_IGN) sigaction(SIGINT, &sa, NULL);
    if (sigaction(SIGTERM, NULL, &old) != 0 || old.sa_handler != SIG_IGN) sigaction(SIGTERM, &sa, NULL);
    /* SIGHUP (a closed terminal, a dropped SSH session) is a stop too, exit 129: dying of it
       left an -O run's temporary files behind (a new user's trial: a 56 MB hidden .tmp).
       With `hangup_reopens` (a followed -O FILE) it means "reopen the output" instead. */
    if (sigaction(SIGHUP, NULL, &old) != 0 || old.sa_handler != SIG_IGN) {
        struct sigaction hup = sa;
        if (hangup_reopens) { hup.sa_handler = on_hangup; hup.sa_flags = SA_RESTART; }
        sigaction(SIGHUP, &hup, NULL);
    }
    return signal_pipe[0];
}

static void on_hangup(int sig) {
    int saved = errno;
    char byte = (char)sig;
    if (signal_pipe[1] >= 0) (void)!write(signal_pipe[1], &byte, 1);
    errno = saved;
}

int sluice_received_signal(void) { return __atomic_load_n(&received, __ATOMIC_SEQ_CST); }

void sluice_end_as_second_signal(const char *message) {
    int sig = __atomic_load_n(&received, __ATOMIC_SEQ_CST);
    sluice_remove_registered_temporaries();
    sluice_kill_registered_children();
    /* The message last, and only if stderr takes it within 100 ms (a full pipe nobody reads
       must not hold the exit). */
    if (message) {
        struct pollfd out = {.fd = 2, .events = POLLOUT};
        if (poll(&out, 1, 100) > 0 && (out.revents & POLLOUT)) (void)!write(2, message, strlen(message));
    }
    _exit(128 + (sig ? sig : SIGTERM));
}

int sluice_available_cores(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

void sluice_tune_malloc(int arenas) {
#ifdef M_MMAP_THRESHOLD
    /* Chunk-sized buffers (512 KiB) stay in the heaps: mmap'ing each would fault every page
       in again. Each heap keeps at most 4 MiB free at its top (8 MiB let four heaps hold
       up to 20 MiB each on a gzip export: peaks of 69-78 MiB; 1-2 MiB cost system time on
       every chunk). A few heaps for all threads bound the rest. */
    mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 4 * 1024 * 1024);
    mallopt(M_ARENA_MAX, arenas);
#endif
}

/* Descriptors 0-2 closed when sluice starts (`<&-`, `>&-`) get /dev/null before anything
   else runs (the Swift runtime's own descriptors would otherwise land there, and "stdout"
   would be an epoll instance). Which were closed is kept, to report them as grep does. */
static int closed_at_start = 0;

/* The signal mask sluice was started with, restored before it becomes sluice-servers: execv
   runs on one of the concurrency pool's threads, which block nearly every signal, and a blocked
   mask survives exec. */
static sigset_t initial_mask;

__attribute__((constructor(101)))
static void occupy_closed_standard_descriptors(void) {
    pthread_sigmask(SIG_BLOCK, NULL, &initial_mask);
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
            closed_at_start |= 1 << fd;
            int null = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
            if (null >= 0 && null != fd) { dup2(null, fd); close(null); }
        }
    }
}

int sluice_closed_standard_descriptors(void) { return closed_at_start; }

void sluice_restore_initial_signal_mask(void) { pthread_sigmask(SIG_SETMASK, &initial_mask, NULL); }


int sluice_ignore_sigpipe(void) {
    struct sigaction old;
    int ignored = sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_IGN;
    signal(SIGPIPE, SIG_IGN);
    return ignored;
}

void sluice_die_of_sigpipe(void) {
    signal(SIGPIPE, SIG_DFL);
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_UNBLOCK, &pipe_only, NULL);
    raise(SIGPIPE);
    _exit(128 + SIGPIPE);
}
