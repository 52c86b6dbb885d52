// Linux file-system calls that glibc declares only under _GNU_SOURCE, which Swift's Glibc module lacks.
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>
#include "strata_fs.h"

int strata_syncfs(int fd) { return syncfs(fd); }

ssize_t strata_copy_file_range(int in_fd, int out_fd, size_t length) {
    return copy_file_range(in_fd, NULL, out_fd, NULL, length, 0);
}

int strata_start_writeback(int fd) { return sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE); }
