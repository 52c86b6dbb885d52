#ifndef STRATA_PROCESS_H
#define STRATA_PROCESS_H
#include <sys/types.h>

/// Starts `path` with `argv` (NULL-terminated) and the parent's environment plus `extra_env` (NULL-terminated,
/// may be NULL), its standard input and output connected to pipes whose other ends are returned in
/// `to_child` and `from_child` (close-on-exec in the parent); its standard error is the parent's, and no other
/// descriptor of the parent reaches it. Returns the child's pid, or -1 with errno.
pid_t strata_spawn(const char *path, char *const argv[], char *const extra_env[], int *to_child, int *from_child);

/// Lowers a process's CPU priority (setpriority with PRIO_PROCESS).
int strata_renice(pid_t pid, int niceness);

#endif
