// Process spawning for the codec workers: posix_spawn with pipes for standard input and output and every
// other inherited descriptor closed, which Swift's Glibc overlay does not offer in one call.
#define _GNU_SOURCE
#include "strata_process.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

extern char **environ;

pid_t strata_spawn(const char *path, char *const argv[], char *const extra_env[], int *to_child, int *from_child) {
    int input[2], output[2];
    if (pipe2(input, O_CLOEXEC) != 0) return -1;
    if (pipe2(output, O_CLOEXEC) != 0) {
        int saved = errno;
        close(input[0]);
        close(input[1]);
        errno = saved;
        return -1;
    }
    size_t inherited = 0, extra = 0;
    while (environ[inherited]) inherited++;
    while (extra_env && extra_env[extra]) extra++;
    char **env = calloc(inherited + extra + 1, sizeof(char *));
    if (!env) return -1;
    memcpy(env, environ, inherited * sizeof(char *));
    if (extra) memcpy(env + inherited, extra_env, extra * sizeof(char *));

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, input[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, output[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
    pid_t pid;
    int failure = posix_spawn(&pid, path, &actions, NULL, argv, env);
    posix_spawn_file_actions_destroy(&actions);
    free(env);
    close(input[0]);
    close(output[1]);
    if (failure != 0) {
        close(input[1]);
        close(output[0]);
        errno = failure;
        return -1;
    }
    *to_child = input[1];
    *from_child = output[0];
    return pid;
}

int strata_renice(pid_t pid, int niceness) {
    return setpriority(PRIO_PROCESS, (id_t)pid, niceness);
}
