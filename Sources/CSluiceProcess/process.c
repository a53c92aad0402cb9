#define _GNU_SOURCE
#include "CSluiceProcess.h"
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/uio.h>
#include <errno.h>
#include <unistd.h>

extern char **environ;

/* Spawns under way (see sluice_spawn_shell). */
static int spawning = 0;

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
    /* SIGINT/SIGTERM back to their default, unless sluice ignores them (it was started with
       them ignored: nohup, `trap '' INT`, a background job), which the command inherits. */
    struct sigaction current;
    if (sigaction(SIGINT, NULL, &current) != 0 || current.sa_handler != SIG_IGN) sigaddset(&defaults, SIGINT);
    if (sigaction(SIGTERM, NULL, &current) != 0 || current.sa_handler != SIG_IGN) sigaddset(&defaults, SIGTERM);
    if (sigaction(SIGHUP, NULL, &current) != 0 || current.sa_handler != SIG_IGN) sigaddset(&defaults, SIGHUP);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setpgroup(&attr, 0); /* its own group: cancelling kills the whole pipeline */
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
    char *argv[] = {"/bin/sh", "-c", (char *)command, NULL};
    pid_t pid = -1;
    /* Spawned and registered as one step for the second-signal handler: INT/TERM are blocked
       in this thread meanwhile (the handler never runs here), and a handler running on another
       thread waits while `spawning` is set, so a child started just before a second signal
       is still killed with the others (it was missed, and outlived sluice). */
    sigset_t stop_signals, saved;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGHUP);  /* a stop too (CSluiceMain) */
    pthread_sigmask(SIG_BLOCK, &stop_signals, &saved);
    __atomic_add_fetch(&spawning, 1, __ATOMIC_ACQ_REL);
    int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, environ);
    if (rc == 0) sluice_register_child(pid);
    __atomic_sub_fetch(&spawning, 1, __ATOMIC_ACQ_REL);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
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

/* Temporary output files, removed by the second-signal handler before it exits: fixed slots
   (no allocation, nothing freed under the handler). A slot's state is 0 free, 1 being
   written, 2 set; every access is atomic (acquire/release), and a slot is released by its
   index, so no thread reads a path another thread is writing. */
#define SLUICE_MAX_TEMPORARIES 1024
static char temporary_paths[SLUICE_MAX_TEMPORARIES][4096];
static int temporary_state[SLUICE_MAX_TEMPORARIES];

int sluice_register_temporary(const char *path) {
    size_t length = strlen(path);
    if (length >= sizeof temporary_paths[0]) return -1;
    for (int i = 0; i < SLUICE_MAX_TEMPORARIES; i++) {
        int expected = 0;
        if (__atomic_compare_exchange_n(&temporary_state[i], &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            memcpy(temporary_paths[i], path, length + 1);
            __atomic_store_n(&temporary_state[i], 2, __ATOMIC_RELEASE);
            return i;
        }
    }
    return -1;
}

void sluice_unregister_temporary(int slot) {
    if (slot >= 0 && slot < SLUICE_MAX_TEMPORARIES) __atomic_store_n(&temporary_state[slot], 0, __ATOMIC_RELEASE);
}

/* Async-signal-safe: unlinks every registered temporary file. */
void sluice_remove_registered_temporaries(void) {
    for (int i = 0; i < SLUICE_MAX_TEMPORARIES; i++) {
        if (__atomic_load_n(&temporary_state[i], __ATOMIC_ACQUIRE) == 2) unlink(temporary_paths[i]);
    }
}

#define SLUICE_MAX_CHILDREN 1024
static pid_t children[SLUICE_MAX_CHILDREN];

void sluice_register_child(pid_t pid) {
    for (int i = 0; i < SLUICE_MAX_CHILDREN; i++) {
        pid_t expected = 0;
        if (__atomic_compare_exchange_n(&children[i], &expected, pid, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) return;
    }
}

void sluice_unregister_child(pid_t pid) {
    for (int i = 0; i < SLUICE_MAX_CHILDREN; i++) {
        pid_t expected = pid;
        if (__atomic_compare_exchange_n(&children[i], &expected, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) return;
    }
}

/* Async-signal-safe: SIGKILL to the process group of every registered child, once no
   spawn is between posix_spawn and its registration. */
void sluice_kill_registered_children(void) {
    while (__atomic_load_n(&spawning, __ATOMIC_ACQUIRE) > 0) {}
    for (int i = 0; i < SLUICE_MAX_CHILDREN; i++) {
        pid_t child = __atomic_load_n(&children[i], __ATOMIC_ACQUIRE);
        if (child > 0) kill(-child, SIGKILL);
    }
}

int sluice_trim_heap_above(size_t free_bytes) {
    struct mallinfo2 info = mallinfo2();
    if (info.fordblks <= free_bytes) return 0;
    malloc_trim(0);
    return 1;
}

long sluice_write_nowait(int fd, const void *bytes, size_t count) {
    struct iovec vector = { (void *)bytes, count };
    ssize_t written = pwritev2(fd, &vector, 1, -1, RWF_NOWAIT);
    return written >= 0 ? (long)written : -(long)errno;
}
