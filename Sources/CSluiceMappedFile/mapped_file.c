#define _GNU_SOURCE
#include "CSluiceMappedFile.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

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

