/* runner.h — runs one docker (or podman) CLI invocation: posix_spawn of an argv array with an explicit environment,
 * never a shell. See docs/internals/docker-runner.md.
 *
 * - argv[0] ("docker" in every plan) is replaced by the configured CLI (docker_runner_set_cli, or cmd->cli);
 * - the child's environment is a minimal base taken from ecsd's own (PATH, HOME, DOCKER_HOST, DOCKER_CONFIG, ...;
 *   see docs) plus cmd->env, so `-e NAME` finds NAME there. Values are never put in argv and never logged;
 * - cmd->fd3_data, when set, is readable on fd 3 of the child (for `--env-file /dev/fd/3`);
 * - stdin is /dev/null, stdout/stderr are captured, every other descriptor is closed, the signal mask is empty and
 *   every disposition is the default, and the child leads its own process group;
 * - at the deadline the whole group gets SIGTERM, then SIGKILL after a short grace; the call fails with -ETIMEDOUT.
 *
 * Thread-safe: any number of threads may run commands at once. The only global is the CLI path. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base.h"

/* Bytes of stdout and of stderr kept by default; the rest is read and dropped (truncated is then set). */
#define DOCKER_RUNNER_OUTPUT_CAP_DEFAULT (64 * 1024)
/* Time between SIGTERM and SIGKILL to the process group at the deadline. */
#define DOCKER_RUNNER_KILL_GRACE_MS 500
/* Largest fd 3 payload: it is written into the pipe before the spawn, so it must fit the pipe's buffer. */
#define DOCKER_RUNNER_FD3_MAX (1024 * 1024)

struct docker_env_var {
        const char *name;  /* [A-Za-z_][A-Za-z0-9_]*; a name docker_plan_env_name_reserved() accepts is refused */
        const char *value; /* any bytes but NUL */
};

/* A way for another thread to end commands early. docker_cancel_fire() makes every command run with the handle end
 * at once (its whole process group is killed, SIGTERM then SIGKILL after DOCKER_RUNNER_KILL_GRACE_MS) and fail with
 * -ECANCELED, and every later one fail the same way before it is spawned. Firing is sticky, never blocks and may be
 * called with any lock held. Thread-safe. */
struct docker_cancel;
struct docker_cancel *docker_cancel_new(void);
void docker_cancel_fire(struct docker_cancel *c);
bool docker_cancel_fired(const struct docker_cancel *c);
void docker_cancel_free(struct docker_cancel *c); /* NULL-safe; no command may still use it */

struct docker_cmd {
        const char *const *argv; /* NULL-terminated, argv[0] is replaced by the CLI; borrowed */
        const struct docker_env_var *env;
        size_t n_env;
        const void *fd3_data; /* NULL: no fd 3 in the child */
        size_t fd3_len;
        int64_t timeout_ms;  /* > 0 */
        size_t output_cap;   /* per stream; 0: DOCKER_RUNNER_OUTPUT_CAP_DEFAULT */
        const char *cli;     /* NULL: the global CLI (docker_runner_set_cli, default "docker") */
        const struct docker_cancel *cancel; /* NULL: the command runs to its end or its deadline */
};

struct docker_cmd_result {
        int exit_code; /* the child's exit status, or -1 when a signal killed it */
        int signal;    /* the signal that killed it, else 0 */
        char *out;     /* NUL-terminated (output may itself hold NULs; use out_len) */
        size_t out_len;
        bool out_truncated;
        char *err;
        size_t err_len;
        bool err_truncated;
        int64_t duration_ms;
};

/* Set the CLI the runner executes: a name looked up in PATH ("docker", "podman") or a path. Copied. Call it before
 * starting threads that run commands (it takes a lock, but a changed CLI mid-flight is not meaningful). -EINVAL for
 * an empty or too long value. */
int docker_runner_set_cli(const char *cli);

/* Run one command. Returns 0 when the child ran to its end (whatever its exit code: see
 * docker_cmd_result_check) and fills *ret (release with docker_cmd_result_free). Fails with -EINVAL (bad cmd or
 * env name), -E2BIG (fd 3 payload too large), -ENOENT/-EACCES/... (spawn failed), -ETIMEDOUT (deadline: the group
 * was killed; *ret still holds what was captured), -ECANCELED (cmd->cancel fired: the group was killed, or nothing
 * was spawned) and fills `e`. On failures other than -ETIMEDOUT and -ECANCELED *ret is zeroed. */
int docker_run_cmd(const struct docker_cmd *cmd, struct docker_cmd_result *ret, struct err *e);

/* Run one step of a plan (docs/internals/docker-plan.md): `argv` is the JSON argv array, `env` the container's env
 * map (may be NULL), `env_file` its list of names delivered through fd 3 (may be NULL). Names in env_file become
 * "NAME=value\n" lines on fd 3; the other env entries go into the child's environment. Same returns as
 * docker_run_cmd; a value for an env_file name with a line break is -EINVAL. */
int docker_run_plan_step(const json_t *argv, const json_t *env, const json_t *env_file, int64_t timeout_ms,
                         const struct docker_cancel *cancel, struct docker_cmd_result *ret, struct err *e);

void docker_cmd_result_free(struct docker_cmd_result *r);

/* 0 when the command exited 0. Otherwise fills `e` with "<what> failed (exit N): <first line of stderr>" (or "killed
 * by signal N") and returns -EIO, kind ERR_KIND_INTERNAL. */
int docker_cmd_result_check(const struct docker_cmd_result *r, const char *what, struct err *e);

/* A long-running CLI command whose output is read as it arrives (`docker events`, `docker logs -f`): same spawn
 * rules as docker_run_cmd, no deadline, stdout and stderr on one pipe. The caller reads `fd` (blocking; CLOEXEC)
 * until EOF. */
struct docker_stream {
        int pid;
        int fd;
};
int docker_stream_open(const char *const *argv, struct docker_stream *ret, struct err *e);
/* Kill the command's process group if it still runs (SIGTERM, then SIGKILL), reap it, close `fd`. Idempotent. */
void docker_stream_close(struct docker_stream *s);
/* Wait up to `wait_ms` for the command to exit by itself, then kill its group as docker_stream_close does; reap it
 * and close `fd`. Returns its exit code, or 128 + N when signal N ended it (as a shell reports it). */
int docker_stream_finish(struct docker_stream *s, int64_t wait_ms);
