/* exec.c — the exec session table (exec.h): which commands run in which containers, their output and exit codes.
 *
 * Invariants: a session is in the table from rt_exec_start until it is both finished and older than the retention
 * (or pushed out by a newer one when the table is full and it is the oldest finished); only finished sessions are
 * ever removed, so a session thread or a follower may use its session without holding the lock as long as it has
 * not marked it finished. A detached session owns one thread (detached, counted in `threads`), which reads the
 * command's output into the session and ends it; an attached session's command is owned by its follower, whose free
 * ends it (follow_done). `lock` guards the list and every session's state; `changed` is signalled when a session
 * finishes or the table shuts down. The wake eventfd, written once at shutdown, makes every session thread kill its
 * command and return. */
#include "exec.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ecs.h"
#include "lifecycle.h"

/* How long an attached session's follower waits, after the end of the output, for the command to exit. */
#define FOLLOW_EXIT_WAIT_MS 5000

enum state { S_PENDING, S_RUNNING, S_EXITED };
static const char *const state_names[] = {"PENDING", "RUNNING", "EXITED"};

struct session {
        struct session *next;
        char id[48];
        char task_id[72];
        char container[ECS_NAME_MAX + 1];
        char task_arn[ECS_ARN_MAX + 1];
        json_t *command; /* array of strings */
        json_t *plan;           /* the task's plan (the k8s backend reads its namespace and Pod) */
        json_t *plan_container; /* the plan's container (attached: started later) */
        bool attach;
        bool followed;
        enum state state;
        int exit_code;
        int64_t created_ms, finished_ms;
        /* Detached: the output kept so far. */
        char *out;
        size_t out_len;
        bool truncated;
        /* Attached, while followed: the backend's handle. */
        void *handle;
        struct rt_exec *x;
};

struct rt_exec {
        const struct rt_backend *be;
        pthread_mutex_t lock;
        pthread_cond_t changed;
        struct session *sessions;
        int threads; /* detached session threads still running */
        bool shutdown;
        int wake_fd; /* eventfd, readable from shutdown on */
};

struct rt_exec *rt_exec_new(const struct rt_backend *be) {
        struct rt_exec *x = xcalloc(1, sizeof(*x));
        x->be = be;
        pthread_mutex_init(&x->lock, NULL);
        pthread_cond_init(&x->changed, NULL);
        x->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        ASSERT(x->wake_fd >= 0);
        return x;
}

static void session_free(struct session *s) {
        json_decref(s->command);
        json_decref(s->plan);
        json_decref(s->plan_container);
        free(s->out);
        free(s);
}

void rt_exec_free(struct rt_exec *x) {
        if (!x)
                return;
        pthread_mutex_lock(&x->lock);
        x->shutdown = true;
        uint64_t one = 1;
        if (write(x->wake_fd, &one, sizeof(one)) != (ssize_t) sizeof(one))
                log_warn("exec", "\"cannot wake the exec sessions\" error=\"%s\"", strerror(errno));
        while (x->threads > 0)
                pthread_cond_wait(&x->changed, &x->lock);
        pthread_mutex_unlock(&x->lock);
        while (x->sessions) {
                struct session *s = x->sessions;
                x->sessions = s->next;
                session_free(s);
        }
        close(x->wake_fd);
        pthread_cond_destroy(&x->changed);
        pthread_mutex_destroy(&x->lock);
        free(x);
}

static struct session *session_find(struct rt_exec *x, const char *id) {
        for (struct session *s = x->sessions; s; s = s->next)
                if (strcmp(s->id, id) == 0)
                        return s;
        return NULL;
}

/* Drop finished sessions past the retention and attached ones never followed, then the oldest finished ones while
 * the table is full (lock held). */
static void table_trim(struct rt_exec *x, int64_t now) {
        size_t n = 0;
        for (struct session **p = &x->sessions; *p;) {
                struct session *s = *p;
                bool old = (s->state == S_EXITED && now - s->finished_ms > RT_EXEC_RETENTION_MS) ||
                           (s->state == S_PENDING && !s->followed && now - s->created_ms > RT_EXEC_FOLLOW_WAIT_MS);
                if (old) {
                        *p = s->next;
                        session_free(s);
                        continue;
                }
                n++;
                p = &s->next;
        }
        while (n >= RT_EXEC_SESSIONS_MAX) {
                struct session **oldest = NULL;
                for (struct session **p = &x->sessions; *p; p = &(*p)->next)
                        if ((*p)->state == S_EXITED && (!oldest || (*p)->finished_ms < (*oldest)->finished_ms))
                                oldest = p;
                if (!oldest)
                        return;
                struct session *s = *oldest;
                *oldest = s->next;
                session_free(s);
                n--;
        }
}

static size_t table_size(const struct rt_exec *x) {
        size_t n = 0;
        for (const struct session *t = x->sessions; t; t = t->next)
                n++;
        return n;
}

/* Mark a session finished with `code` (lock held). */
static void session_finish(struct rt_exec *x, struct session *s, int code) {
        s->state = S_EXITED;
        s->exit_code = code;
        s->finished_ms = time_mono_ms();
        pthread_cond_broadcast(&x->changed);
}

/* The container `want` (NULL: the only one) of the stored task, checked to be running, and its plan container. */
static int target_check(struct rt_lifecycle *lc, const char *task_id, const char *want, json_t **ret_doc,
                        const json_t **ret_c, json_t **ret_plan, json_t **ret_pc, struct err *e) {
        json_auto_t *doc = NULL;
        json_auto_t *plan = NULL;
        struct err ignored = {0};
        if (rt_lifecycle_task(lc, task_id, &doc, &plan, &ignored) < 0)
                return err_set(e, -ENOENT, ERR_KIND_INVALID, "The referenced task was not found.");
        const json_t *cs = json_object_get(doc, "containers");
        const json_t *c = NULL;
        if (!want) {
                if (json_array_size(cs) != 1)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "The task has %zu containers: name the container to run the command in.",
                                       json_array_size(cs));
                c = json_array_get(cs, 0);
        } else {
                size_t i;
                const json_t *x;
                json_array_foreach(cs, i, x) if (strcmp(ecs_json_str(x, "name", ""), want) == 0) c = x;
                if (!c)
                        return err_set(e, -ENOENT, ERR_KIND_INVALID, "The container %.255s was not found in the task.",
                                       want);
        }
        const char *name = ecs_json_str(c, "name", "");
        const char *task_status = ecs_json_str(doc, "lastStatus", "");
        if (strcmp(task_status, "RUNNING") != 0 || strcmp(ecs_json_str(doc, "desiredStatus", ""), "RUNNING") != 0)
                return err_set(e, -EBUSY, ERR_KIND_INVALID,
                               "The execute command failed because the task is not running (lastStatus %s, "
                               "desiredStatus %s).",
                               task_status, ecs_json_str(doc, "desiredStatus", ""));
        if (strcmp(ecs_json_str(c, "lastStatus", ""), "RUNNING") != 0)
                return err_set(e, -EBUSY, ERR_KIND_INVALID,
                               "The execute command failed because the container %s is not running (lastStatus %s).",
                               name, ecs_json_str(c, "lastStatus", ""));
        const json_t *pc = NULL;
        size_t i;
        const json_t *x;
        json_array_foreach(json_object_get(plan, "containers"), i, x) if (strcmp(ecs_json_str(x, "name", ""),
                                                                                 name) == 0) pc = x;
        if (!pc)
                return err_set(e, -ENOENT, ERR_KIND_INVALID, "The container %.255s was not found in the task.", name);
        *ret_pc = json_deep_copy(pc);
        *ret_plan = TAKE_PTR(plan);
        *ret_c = c;
        *ret_doc = TAKE_PTR(doc);
        return 0;
}

/* The command as a NULL-terminated argv borrowing the JSON strings; the caller frees the array. */
static const char **argv_of(const json_t *command) {
        size_t n = json_array_size(command);
        const char **av = xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++)
                av[i] = json_string_value(json_array_get(command, i));
        return av;
}

static int command_check(const json_t *command, struct err *e) {
        size_t n = json_array_size(command), bytes = 0;
        if (n == 0 || n > RT_EXEC_ARGV_MAX)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "The command must have 1 to %d arguments.",
                               RT_EXEC_ARGV_MAX);
        for (size_t i = 0; i < n; i++) {
                const json_t *a = json_array_get(command, i);
                if (!json_is_string(a))
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "Each argument of the command must be a string.");
                if (memchr(json_string_value(a), '\0', json_string_length(a)))
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "An argument of the command holds a NUL byte.");
                bytes += json_string_length(a) + 1;
        }
        if (json_string_length(json_array_get(command, 0)) == 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "The command must not be empty.");
        if (bytes > RT_EXEC_ARGV_BYTES)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "The command is longer than %d bytes.",
                               RT_EXEC_ARGV_BYTES);
        return 0;
}

/* A detached session's thread: read the command's output into the session (capped) until its end, the deadline
 * or shutdown, then end the command and mark the session finished. */
struct detached {
        struct rt_exec *x;
        struct session *s;
        int fd;
        void *handle;
};

static void *detached_main(void *arg) {
        struct detached d = *(struct detached *) arg;
        free(arg);
        struct rt_exec *x = d.x;
        struct session *s = d.s;
        int64_t deadline = time_mono_ms() + RT_EXEC_TIMEOUT_MS;
        bool at_end = false;
        char buf[16384];
        for (;;) {
                int64_t left = deadline - time_mono_ms();
                if (left <= 0)
                        break;
                struct pollfd pfd[2] = {{.fd = d.fd, .events = POLLIN}, {.fd = x->wake_fd, .events = POLLIN}};
                int pr = poll(pfd, 2, left > 60000 ? 60000 : (int) left);
                if (pr < 0 && errno == EINTR)
                        continue;
                if (pr < 0 || (pfd[1].revents & POLLIN))
                        break;
                if (!pr)
                        continue;
                ssize_t n = read(d.fd, buf, sizeof(buf));
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n <= 0) {
                        at_end = n == 0;
                        break;
                }
                pthread_mutex_lock(&x->lock);
                size_t keep = (size_t) n;
                if (s->out_len + keep > RT_EXEC_OUTPUT_CAP) {
                        keep = RT_EXEC_OUTPUT_CAP - s->out_len;
                        s->truncated = true;
                }
                if (keep) {
                        char *grown = realloc(s->out, s->out_len + keep);
                        ASSERT(grown);
                        memcpy(grown + s->out_len, buf, keep);
                        s->out = grown;
                        s->out_len += keep;
                }
                pthread_mutex_unlock(&x->lock);
        }
        int code = x->be->exec_end(x->be->impl, d.handle, at_end ? FOLLOW_EXIT_WAIT_MS : 0);
        pthread_mutex_lock(&x->lock);
        session_finish(x, s, code);
        x->threads--;
        pthread_cond_broadcast(&x->changed);
        pthread_mutex_unlock(&x->lock);
        return NULL;
}

/* Run the session's command through the backend: *ret_fd, *ret_handle as backend.h's exec gives them. */
static int command_run(struct rt_exec *x, struct session *s, int *ret_fd, void **ret_handle, struct err *e) {
        _cleanup_free_ const char **av = argv_of(s->command);
        int r = x->be->exec(x->be->impl, s->plan, s->plan_container, av, ret_fd, ret_handle, e);
        if (r < 0) {
                /* The container cannot be reached (on kwok there is none; a kubelet the API server cannot reach; an
                 * engine gone): what ECS answers when its agent in the task cannot be. */
                err_prefix(e, "The execute command failed");
                e->kind = ERR_KIND_TARGET_NOT_CONNECTED;
        }
        return r;
}

int rt_exec_start(struct rt_lifecycle *lc, const struct rt_exec_request *req, json_t **ret, struct err *e) {
        struct rt_exec *x = rt_lifecycle_exec(lc);
        int r = command_check(req->command, e);
        if (r < 0)
                return r;
        json_auto_t *doc = NULL;
        json_auto_t *pc = NULL;
        json_auto_t *plan = NULL;
        const json_t *c = NULL;
        if ((r = target_check(lc, req->task_id, req->container, &doc, &c, &plan, &pc, e)) < 0)
                return r;
        if (!x->be->exec || !x->be->exec_end)
                return err_set(e, -EOPNOTSUPP, ERR_KIND_TARGET_NOT_CONNECTED,
                               "The execute command failed: the %s backend of ecsd cannot run commands in containers.",
                               x->be->name);
        struct session *s = xcalloc(1, sizeof(*s));
        str_printf(s->id, sizeof(s->id), "ecs-execute-command-");
        random_hex(s->id + strlen(s->id), 17);
        str_printf(s->task_id, sizeof(s->task_id), "%s", req->task_id);
        str_printf(s->container, sizeof(s->container), "%s", ecs_json_str(c, "name", ""));
        str_printf(s->task_arn, sizeof(s->task_arn), "%s", ecs_json_str(doc, "taskArn", ""));
        s->command = json_deep_copy(req->command);
        s->plan_container = TAKE_PTR(pc);
        s->plan = TAKE_PTR(plan);
        s->attach = req->attach;
        s->state = req->attach ? S_PENDING : S_RUNNING;
        s->created_ms = time_mono_ms();
        s->x = x;
        char token[48];
        random_hex(token, 40);
        json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "sessionId", s->id, "tokenValue", token, "taskArn",
                                s->task_arn, "clusterArn", ecs_json_str(doc, "clusterArn", ""), "containerName",
                                s->container, "containerArn", ecs_json_str(c, "containerArn", ""));
        if (json_object_get(c, "runtimeId"))
                json_object_set(out, "runtimeId", json_object_get(c, "runtimeId"));

        /* Checked before the command starts, so that a full table refuses it unrun; checked again below. */
        pthread_mutex_lock(&x->lock);
        table_trim(x, time_mono_ms());
        bool full = table_size(x) >= RT_EXEC_SESSIONS_MAX || x->shutdown;
        pthread_mutex_unlock(&x->lock);
        if (full) {
                session_free(s);
                json_decref(out);
                return err_set(e, -EMFILE, ERR_KIND_CLIENT,
                               "Too many execute command sessions are open (%d); wait for one to end.",
                               RT_EXEC_SESSIONS_MAX);
        }
        struct detached *d = NULL;
        if (!req->attach) {
                /* Started before the lock is taken: a start may take a while (pods/exec waits for the API server). */
                d = xcalloc(1, sizeof(*d));
                *d = (struct detached){.x = x, .s = s, .fd = -1};
                if ((r = command_run(x, s, &d->fd, &d->handle, e)) < 0) {
                        free(d);
                        session_free(s);
                        json_decref(out);
                        return r;
                }
        }
        pthread_mutex_lock(&x->lock);
        table_trim(x, time_mono_ms());
        if (table_size(x) >= RT_EXEC_SESSIONS_MAX || x->shutdown)
                r = err_set(e, -EMFILE, ERR_KIND_CLIENT,
                            "Too many execute command sessions are open (%d); wait for one to end.",
                            RT_EXEC_SESSIONS_MAX);
        if (r >= 0 && d) {
                /* Counted under the lock, so that rt_exec_free waits for this thread too. */
                pthread_t th;
                pthread_attr_t attr;
                pthread_attr_init(&attr);
                pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                if (pthread_create(&th, &attr, detached_main, d) != 0)
                        r = err_set(e, -EAGAIN, ERR_KIND_INTERNAL, "Cannot start a thread for the command.");
                else
                        x->threads++;
                pthread_attr_destroy(&attr);
        }
        if (r < 0) {
                pthread_mutex_unlock(&x->lock);
                if (d) {
                        x->be->exec_end(x->be->impl, d->handle, 0);
                        free(d);
                }
                session_free(s);
                json_decref(out);
                return r;
        }
        s->next = x->sessions;
        x->sessions = s;
        pthread_mutex_unlock(&x->lock);
        log_info("exec", "\"command started\" session=%s task=%s container=%s attached=%d", s->id, req->task_id,
                 s->container, (int) req->attach);
        *ret = out;
        return 0;
}

/* The follower of an attached session is freed: end the command (at once when the follower went away before the
 * end of the output) and keep its exit code. */
static void follow_done(void *ctx, bool at_end) {
        struct session *s = ctx;
        struct rt_exec *x = s->x;
        int code = x->be->exec_end(x->be->impl, s->handle, at_end ? FOLLOW_EXIT_WAIT_MS : 0);
        pthread_mutex_lock(&x->lock);
        s->handle = NULL;
        session_finish(x, s, code);
        pthread_mutex_unlock(&x->lock);
        log_info("exec", "\"command ended\" session=%s task=%s exit_code=%d", s->id, s->task_id, code);
}

int rt_exec_follow(struct rt_lifecycle *lc, const char *id, struct rt_follow **ret, struct err *e) {
        struct rt_exec *x = rt_lifecycle_exec(lc);
        pthread_mutex_lock(&x->lock);
        struct session *s = session_find(x, id);
        if (!s) {
                pthread_mutex_unlock(&x->lock);
                return err_set(e, -ENOENT, ERR_KIND_NOT_FOUND, "No exec session %.64s.", id);
        }
        if (!s->attach) {
                char *copy = s->out_len ? xmalloc(s->out_len) : NULL;
                if (copy)
                        memcpy(copy, s->out, s->out_len);
                *ret = rt_follow_new_buf(copy, s->out_len);
                pthread_mutex_unlock(&x->lock);
                return 0;
        }
        if (s->followed) {
                pthread_mutex_unlock(&x->lock);
                return err_set(e, -EALREADY, ERR_KIND_CLIENT, "The output of exec session %s is already followed.",
                               id);
        }
        s->followed = true;
        char task_id[sizeof(s->task_id)], container[sizeof(s->container)];
        memcpy(task_id, s->task_id, sizeof(task_id));
        memcpy(container, s->container, sizeof(container));
        pthread_mutex_unlock(&x->lock);

        /* The container may have stopped since the session was opened. Followed (and so never trimmed as PENDING),
         * the session stays until it is marked finished. */
        json_auto_t *doc = NULL;
        json_auto_t *pc = NULL;
        json_auto_t *plan = NULL;
        const json_t *c = NULL;
        int fd = -1;
        void *handle = NULL;
        int r = target_check(lc, task_id, container, &doc, &c, &plan, &pc, e);
        if (r >= 0)
                r = command_run(x, s, &fd, &handle, e);
        if (r >= 0) {
                int flags = fcntl(fd, F_GETFL);
                if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
                        r = err_set(e, -errno, ERR_KIND_INTERNAL, "Cannot make the output descriptor non-blocking.");
                        x->be->exec_end(x->be->impl, handle, 0);
                }
        }
        pthread_mutex_lock(&x->lock);
        if (r < 0) {
                session_finish(x, s, -1);
                pthread_mutex_unlock(&x->lock);
                return r;
        }
        s->state = S_RUNNING;
        s->handle = handle;
        pthread_mutex_unlock(&x->lock);
        *ret = rt_follow_new_fd(fd, follow_done, s);
        return 0;
}

int rt_exec_describe(struct rt_lifecycle *lc, const char *id, int64_t wait_ms, json_t **ret, struct err *e) {
        struct rt_exec *x = rt_lifecycle_exec(lc);
        int64_t deadline = time_mono_ms() + wait_ms;
        pthread_mutex_lock(&x->lock);
        struct session *s;
        for (;;) {
                s = session_find(x, id);
                int64_t left = deadline - time_mono_ms();
                if (!s || s->state == S_EXITED || left <= 0 || x->shutdown)
                        break;
                cond_wait_ms(&x->changed, &x->lock, left);
        }
        if (!s) {
                pthread_mutex_unlock(&x->lock);
                return err_set(e, -ENOENT, ERR_KIND_NOT_FOUND, "No exec session %.64s.", id);
        }
        json_t *out = json_pack("{s:s, s:s, s:s, s:O, s:s}", "sessionId", s->id, "taskArn", s->task_arn,
                                "containerName", s->container, "command", s->command, "status",
                                state_names[s->state]);
        if (s->state == S_EXITED && s->exit_code >= 0)
                json_object_set_new(out, "exitCode", json_integer(s->exit_code));
        if (s->truncated)
                json_object_set_new(out, "outputTruncated", json_true());
        pthread_mutex_unlock(&x->lock);
        *ret = out;
        return 0;
}
