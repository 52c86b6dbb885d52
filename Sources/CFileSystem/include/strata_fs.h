#ifndef STRATA_FS_H
#define STRATA_FS_H
#include <sys/types.h>

/// syncfs(2): flushes the whole file system holding `fd` (one flush for a batch of files).
int strata_syncfs(int fd);

/// copy_file_range(2) of `length` bytes from the current offsets; the kernel copies (or reflinks)
/// without the data passing through user space. Returns bytes copied, 0 at end of file, -1 with errno.
ssize_t strata_copy_file_range(int in_fd, int out_fd, size_t length);

/// sync_file_range(2) with SYNC_FILE_RANGE_WRITE: starts writing a file's dirty pages back without waiting,
/// so a later flush of the whole batch finds most of them written.
int strata_start_writeback(int fd);

#endif
