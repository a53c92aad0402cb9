#ifndef CSLUICE_MAPPED_FILE_H
#define CSLUICE_MAPPED_FILE_H
#include <stddef.h>
#include <sys/types.h>

/* Maps `length` bytes of `fd` from `offset` (any offset) read-only; NULL on failure (then
   read instead). `*slot` names the window for `sluice_window_faulted` and the unmap. A page
   past the file's end (it shrank) reads as zeros and marks the window faulted, instead of
   killing the process with SIGBUS. */
const void *sluice_map_window(int fd, off_t offset, size_t length, int *slot);
/* Whether a read of the window hit a page past its file's end (what was read is not the file's). */
int sluice_window_faulted(int slot);
void sluice_unmap_window(const void *data, size_t length, int slot);


#endif
