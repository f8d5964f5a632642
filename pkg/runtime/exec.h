/* exec.h — commands run in a running task's container: ExecuteCommand and `ecsd exec` (POST /_ecsd/exec). See
 * docs/internals/exec.md.
 *
 * A session is one command in one container. It is either *detached* (ExecuteCommand: the command starts at once and
 * its output is kept, capped, for GET /_ecsd/exec/<id>/output) or *attached* (`ecsd exec`: the command starts when
 * its output is followed, and the follower streams it as it comes). Either way the exit code is kept with the
 * session for GET /_ecsd/exec/<id>. Sessions live in memory only: a restarted ecsd knows none (the commands die with
 * the `docker exec` processes that ran them).
 *
 * The table belongs to the lifecycle (rt_lifecycle_exec) and is freed with it: running commands are killed first.
 * Thread-safe: API threads, the HTTP server's stream hub and the session threads call in at once. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "backend.h"
#include "base.h"

struct rt_lifecycle;
struct rt_follow;
struct rt_exec;

/* Sessions kept at once (running, waiting to be followed, or finished and kept for their exit code). */
#define RT_EXEC_SESSIONS_MAX 128
/* Output a detached session keeps; the rest is read and dropped (outputTruncated). */
#define RT_EXEC_OUTPUT_CAP (1024 * 1024)
/* Longest a detached command runs before it is killed (ECS ends an idle exec session after 20 minutes). */
#define RT_EXEC_TIMEOUT_MS (20 * 60 * 1000)
/* How long a finished session stays describable, and an attached one waits for its follower. */
#define RT_EXEC_RETENTION_MS (60 * 60 * 1000)
#define RT_EXEC_FOLLOW_WAIT_MS (60 * 1000)
/* Most arguments and bytes of arguments in one command. */
#define RT_EXEC_ARGV_MAX 256
#define RT_EXEC_ARGV_BYTES (64 * 1024)

/* The table, for the lifecycle's own use: made with it, freed with it. `be` is borrowed and outlives the table. */
struct rt_exec *rt_exec_new(const struct rt_backend *be);
/* Kill every running command, wait for the session threads, free. NULL-safe. No follower may still be open. */
void rt_exec_free(struct rt_exec *x);
/* The lifecycle's table (lifecycle.c). */
struct rt_exec *rt_lifecycle_exec(struct rt_lifecycle *lc);

struct rt_exec_request {
        const char *task_id;
        const char *container;   /* NULL: the task's only container */
        const json_t *command;   /* array of strings, at least one: argv */
        bool attach;             /* true: start on rt_exec_follow; false: start now, keep the output */
};

/* Check that the task runs and its container runs, and open a session. *ret gets {"sessionId", "tokenValue",
 * "taskArn", "clusterArn", "containerName", "containerArn", "runtimeId"?} (caller owns). Errors: -ENOENT for an
 * unknown task or container, -EINVAL for a task of several containers and no name, -EBUSY when the task or the
 * container does not run (all ERR_KIND_INVALID); -EOPNOTSUPP when the backend cannot run commands
 * (ERR_KIND_TARGET_NOT_CONNECTED); -EMFILE when the table is full (ERR_KIND_CLIENT); -EINVAL (ERR_KIND_INVALID) for
 * a command that is empty or too large; a failure to start the command (ERR_KIND_INTERNAL). */
int rt_exec_start(struct rt_lifecycle *lc, const struct rt_exec_request *req, json_t **ret, struct err *e);

/* The output of session `id`: for an attached session not yet followed, the command starts now and its output is
 * streamed as it comes; when the stream is freed the command is reaped (killed first if the follower went away
 * before the end) and its exit code kept. For a detached session, the output kept so far. -ENOENT for an unknown
 * session; -EALREADY (ERR_KIND_CLIENT) for an attached session already followed; the errors of rt_exec_start when the
 * container stopped in the meantime. */
int rt_exec_follow(struct rt_lifecycle *lc, const char *id, struct rt_follow **ret, struct err *e);

/* {"sessionId", "taskArn", "containerName", "command", "status": PENDING (attached, not yet followed) | RUNNING |
 * EXITED, "exitCode"? (EXITED), "outputTruncated"?} of session `id`, after waiting up to `wait_ms` for it to be
 * EXITED. -ENOENT for an unknown session. */
int rt_exec_describe(struct rt_lifecycle *lc, const char *id, int64_t wait_ms, json_t **ret, struct err *e);

/* A follower over a descriptor (lifecycle.c): rt_follow_read reads `fd`; rt_follow_free calls done(ctx, at_end),
 * at_end telling whether a read saw the end of the output, and done owns the descriptor. */
struct rt_follow *rt_follow_new_fd(int fd, void (*done)(void *ctx, bool at_end), void *ctx);
/* A follower that delivers `buf` (taken; may be NULL when len is 0), then the end. */
struct rt_follow *rt_follow_new_buf(char *buf, size_t len);
