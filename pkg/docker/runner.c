/* runner.c — the docker CLI runner: posix_spawn, an explicit environment, capped output, a monotonic deadline that
 * kills the child's whole process group. See runner.h and docs/internals/docker-runner.md. */
#include "runner.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>

#include "docker.h"

#define COMPONENT "docker-runner"
/* After the CLI exits, how long leftovers of its process group may keep its pipes open before they are killed. */
#define LINGER_MS 1000
/* Poll tick when no pidfd is available to notice the child's exit. */
#define FALLBACK_TICK_MS 10

extern char **environ;

static pthread_mutex_t cli_lock = PTHREAD_MUTEX_INITIALIZER;
static char cli_path[PATH_MAX] = "docker";

/* Names copied from ecsd's own environment into every child's. */
static const char *const base_env_names[] = {
        "PATH",           "HOME",           "DOCKER_HOST",     "DOCKER_CONFIG",
        "DOCKER_CONTEXT", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_API_VERSION",
        "XDG_RUNTIME_DIR", "CONTAINER_HOST", "TMPDIR",
};
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

int docker_runner_set_cli(const char *cli) {
        if (!cli || !*cli || strlen(cli) >= sizeof(cli_path))
                return -EINVAL;
        pthread_mutex_lock(&cli_lock);
        str_printf(cli_path, sizeof(cli_path), "%s", cli);
        pthread_mutex_unlock(&cli_lock);
        return 0;
}

void docker_cmd_result_free(struct docker_cmd_result *r) {
        if (!r)
                return;
        free(r->out);
        free(r->err);
        *r = (struct docker_cmd_result){0};
}

/* ---- cancellation ----
 * An eventfd that is written once and never read: it stays readable, so a poll in any number of threads sees the
 * cancel, whenever they start to wait. */

struct docker_cancel {
        int fd;
        atomic_bool fired;
};

struct docker_cancel *docker_cancel_new(void) {
        struct docker_cancel *c = xcalloc(1, sizeof(*c));
        c->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        atomic_init(&c->fired, false);
        return c; /* fd -1 (no eventfd): commands notice the flag at their next poll tick instead */
}

void docker_cancel_fire(struct docker_cancel *c) {
        atomic_store(&c->fired, true);
        if (c->fd >= 0) {
                uint64_t one = 1;
                ssize_t n = write(c->fd, &one, sizeof(one)); /* non-blocking: a full counter is readable anyway */
                (void) n;
        }
}

bool docker_cancel_fired(const struct docker_cancel *c) {
        return c && atomic_load(&((struct docker_cancel *) (uintptr_t) c)->fired);
}

void docker_cancel_free(struct docker_cancel *c) {
        if (!c)
                return;
        if (c->fd >= 0)
                close(c->fd);
        free(c);
}

/* ---- output capture ---- */

struct capture {
        int fd; /* -1 once at EOF */
        char *buf;
        size_t len, alloc, cap;
        bool truncated;
};

static void capture_append(struct capture *c, const char *p, size_t n) {
        size_t keep = c->len < c->cap ? c->cap - c->len : 0;
        if (n > keep) {
                c->truncated = true;
                n = keep;
        }
        if (n == 0)
                return;
        if (c->len + n + 1 > c->alloc) {
                size_t a = c->alloc ? c->alloc : 1024;
                while (a < c->len + n + 1)
                        a *= 2;
                if (a > c->cap + 1)
                        a = c->cap + 1;
                char *nb = realloc(c->buf, a);
                if (!nb)
                        abort(); /* a few KiB: not recoverable (base.h's xmalloc policy) */
                c->buf = nb;
                c->alloc = a;
        }
        memcpy(c->buf + c->len, p, n);
        c->len += n;
        c->buf[c->len] = '\0';
}

/* Read what is available; close the fd at EOF or on a hard error. */
static void capture_drain(struct capture *c) {
        char chunk[16384];
        while (c->fd >= 0) {
                ssize_t n = read(c->fd, chunk, sizeof(chunk));
                if (n > 0) {
                        capture_append(c, chunk, (size_t) n);
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                close(c->fd);
                c->fd = -1;
        }
}

static char *capture_take(struct capture *c, size_t *len) {
        char *b = c->buf ? c->buf : xcalloc(1, 1);
        *len = c->len;
        c->buf = NULL;
        return b;
}

/* ---- environment ---- */

static bool env_name_ok(const char *n) {
        if (!n || !*n)
                return false;
        for (const char *p = n; *p; p++)
                if (*p == '=' || *p == '\n' || *p == '\r')
                        return false;
        return true;
}

static char *env_entry(const char *name, const char *value) {
        size_t nl = strlen(name), vl = strlen(value);
        char *s = xmalloc(nl + vl + 2);
        memcpy(s, name, nl);
        s[nl] = '=';
        memcpy(s + nl + 1, value, vl + 1);
        return s;
}

static void strv_free(char **v) {
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}

static int build_envp(const struct docker_cmd *cmd, char ***ret, struct err *e) {
        size_t n = ARRAY_SIZE(base_env_names) + cmd->n_env + 1, k = 0;
        char **envp = xcalloc(n, sizeof(char *));
        for (size_t i = 0; i < ARRAY_SIZE(base_env_names); i++) {
                const char *v = getenv(base_env_names[i]);
                if (!v && strcmp(base_env_names[i], "PATH") == 0)
                        v = DEFAULT_PATH;
                if (v)
                        envp[k++] = env_entry(base_env_names[i], v);
        }
        for (size_t i = 0; i < cmd->n_env; i++) {
                const struct docker_env_var *ev = &cmd->env[i];
                if (!env_name_ok(ev->name) || !ev->value) {
                        strv_free(envp);
                        return err_set(e, -EINVAL, ERR_KIND_INTERNAL,
                                       "Environment entry %zu for the docker CLI has an invalid name or no value.", i);
                }
                if (docker_plan_env_name_reserved(ev->name)) {
                        strv_free(envp);
                        return err_set(e, -EINVAL, ERR_KIND_INTERNAL,
                                       "Environment variable %s is read by the docker CLI itself; it must go through "
                                       "--env-file /dev/fd/3.",
                                       ev->name);
                }
                envp[k++] = env_entry(ev->name, ev->value);
        }
        envp[k] = NULL;
        *ret = envp;
        return 0;
}

/* ---- process handling ---- */

static int pidfd_open_(pid_t pid) {
#ifdef SYS_pidfd_open
        long fd = syscall(SYS_pidfd_open, pid, 0);
        return fd < 0 ? -1 : (int) fd;
#else
        (void) pid;
        return -1;
#endif
}

/* True once `pid` has exited; leaves it a zombie (WNOWAIT) so its pid, which is also the group id, stays reserved
 * and kill(-pid, ...) can only reach our group. */
static bool child_exited(pid_t pid) {
        siginfo_t si;
        memset(&si, 0, sizeof(si));
        for (;;) {
                if (waitid(P_PID, (id_t) pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0)
                        return si.si_pid == pid;
                if (errno != EINTR)
                        return true; /* ECHILD: someone else reaped it; nothing left to wait for */
        }
}

static void sleep_ms(int64_t ms) {
        struct timespec ts = {.tv_sec = (time_t) (ms / 1000), .tv_nsec = (long) (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int reap(pid_t pid, int *status) {
        for (;;) {
                pid_t r = waitpid(pid, status, 0);
                if (r == pid)
                        return 0;
                if (r < 0 && errno != EINTR)
                        return -errno;
        }
}

/* SIGTERM the group, wait up to the grace for the leader, SIGKILL the group (leftovers included), reap. */
static void kill_group(pid_t pid, int *status) {
        (void) kill(-pid, SIGTERM);
        int64_t until = time_mono_ms() + DOCKER_RUNNER_KILL_GRACE_MS;
        while (!child_exited(pid) && time_mono_ms() < until)
                sleep_ms(10);
        (void) kill(-pid, SIGKILL);
        if (reap(pid, status) < 0)
                *status = 0;
}

static int fd3_pipe(const struct docker_cmd *cmd, int *rfd, struct err *e) {
        int p[2];
        if (cmd->fd3_len > DOCKER_RUNNER_FD3_MAX)
                return err_set(e, -E2BIG, ERR_KIND_INTERNAL, "The fd 3 payload for the docker CLI is too large (%zu bytes).",
                               cmd->fd3_len);
        if (pipe2(p, O_CLOEXEC) < 0)
                return err_set(e, -errno, ERR_KIND_INTERNAL, "Cannot create a pipe: %s.", strerror(errno));
        if (cmd->fd3_len > 65536 && fcntl(p[1], F_SETPIPE_SZ, (int) cmd->fd3_len) < 0) {
                int r = -errno;
                close(p[0]);
                close(p[1]);
                return err_set(e, r == -EPERM ? -E2BIG : r, ERR_KIND_INTERNAL,
                               "Cannot size the fd 3 pipe for %zu bytes: %s.", cmd->fd3_len, strerror(-r));
        }
        /* Written before the spawn into an empty pipe big enough for it: no blocking and no SIGPIPE. The write end
         * is closed, so the child reads the data, then EOF. */
        const char *d = cmd->fd3_data;
        size_t off = 0;
        while (off < cmd->fd3_len) {
                ssize_t n = write(p[1], d + off, cmd->fd3_len - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        int r = n < 0 ? -errno : -EIO;
                        close(p[0]);
                        close(p[1]);
                        return err_set(e, r, ERR_KIND_INTERNAL, "Cannot fill the fd 3 pipe: %s.", strerror(-r));
                }
                off += (size_t) n;
        }
        close(p[1]);
        *rfd = p[0];
        return 0;
}

/* posix_spawn `cli` with stdin from /dev/null, stdout/stderr on the given descriptors, fd 3 from `fd3` (or none),
 * every other descriptor closed, a clean signal mask and disposition, in its own process group. Returns 0 or the
 * posix_spawn error number. */
static int spawn_child(const char *cli, char **argv, char **envp, int out_fd, int err_fd, int fd3, pid_t *ret_pid) {
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
        posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
        if (fd3 >= 0)
                posix_spawn_file_actions_adddup2(&fa, fd3, DOCKER_PLAN_ENV_FILE_FD);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
        /* Everything else is CLOEXEC anyway; this also closes descriptors a library opened without it. */
        posix_spawn_file_actions_addclosefrom_np(&fa, fd3 >= 0 ? DOCKER_PLAN_ENV_FILE_FD + 1 : 3);
#endif
        sigset_t none, all;
        sigemptyset(&none);
        sigfillset(&all);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        posix_spawnattr_setpgroup(&attr, 0);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
        int sr = strchr(cli, '/') ? posix_spawn(ret_pid, cli, &fa, &attr, argv, envp)
                                  : posix_spawnp(ret_pid, cli, &fa, &attr, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        return sr;
}

static void close_if(int *fd) {
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

/* The CLI to run: `explicit_cli` when set, else the global one. */
static int cli_pick(const char *explicit_cli, char *buf, size_t size) {
        if (explicit_cli)
                return str_printf(buf, size, "%s", explicit_cli) < 0 || !*buf ? -EINVAL : 0;
        pthread_mutex_lock(&cli_lock);
        str_printf(buf, size, "%s", cli_path);
        pthread_mutex_unlock(&cli_lock);
        return 0;
}

int docker_run_cmd(const struct docker_cmd *cmd, struct docker_cmd_result *ret, struct err *e) {
        ASSERT(cmd && ret);
        *ret = (struct docker_cmd_result){0};
        if (!cmd->argv || !cmd->argv[0] || cmd->timeout_ms <= 0)
                return err_set(e, -EINVAL, ERR_KIND_INTERNAL, "Invalid docker command (no argv or no timeout).");

        int64_t start = time_mono_ms(), deadline = start + cmd->timeout_ms;
        if (docker_cancel_fired(cmd->cancel))
                return err_set(e, -ECANCELED, ERR_KIND_INTERNAL, "docker %s was cancelled before it started.",
                               cmd->argv[1] ? cmd->argv[1] : "");
        char cli[PATH_MAX];
        if (cli_pick(cmd->cli, cli, sizeof(cli)) < 0)
                return err_set(e, -EINVAL, ERR_KIND_INTERNAL, "Invalid docker CLI path.");

        size_t argc = 0;
        while (cmd->argv[argc])
                argc++;
        _cleanup_free_ char **argv = xcalloc(argc + 1, sizeof(char *));
        argv[0] = cli;
        for (size_t i = 1; i < argc; i++)
                argv[i] = (char *) (uintptr_t) cmd->argv[i]; /* posix_spawn's prototype wants char *const[] */

        char **envp = NULL;
        int r = build_envp(cmd, &envp, e);
        if (r < 0)
                return r;

        int out[2] = {-1, -1}, errp[2] = {-1, -1}, fd3 = -1;
        if (cmd->fd3_data) {
                r = fd3_pipe(cmd, &fd3, e);
                if (r < 0) {
                        strv_free(envp);
                        return r;
                }
        }
        if (pipe2(out, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(errp, O_CLOEXEC | O_NONBLOCK) < 0) {
                r = err_set(e, -errno, ERR_KIND_INTERNAL, "Cannot create a pipe: %s.", strerror(errno));
                close_if(&out[0]);
                close_if(&out[1]);
                close_if(&fd3);
                strv_free(envp);
                return r;
        }
        /* The child's ends block, as a program expects of its stdout. */
        (void) fcntl(out[1], F_SETFL, 0);
        (void) fcntl(errp[1], F_SETFL, 0);

        pid_t pid = 0;
        int sr = spawn_child(cli, argv, envp, out[1], errp[1], fd3, &pid);
        strv_free(envp);
        close_if(&out[1]);
        close_if(&errp[1]);
        close_if(&fd3);
        if (sr != 0) {
                close_if(&out[0]);
                close_if(&errp[0]);
                return err_set(e, -sr, ERR_KIND_INTERNAL, "Cannot run %s: %s.", cli, strerror(sr));
        }
        log_debug(COMPONENT, "\"spawned\" cli=%s verb=%s pid=%d", cli, argc > 1 ? cmd->argv[1] : "-", (int) pid);

        size_t cap = cmd->output_cap ? cmd->output_cap : DOCKER_RUNNER_OUTPUT_CAP_DEFAULT;
        struct capture co = {.fd = out[0], .cap = cap}, ce = {.fd = errp[0], .cap = cap};
        int pidfd = pidfd_open_(pid);
        bool exited = false, timed_out = false, cancelled = false;
        int cancel_fd = cmd->cancel ? cmd->cancel->fd : -1;
        int64_t exited_at = 0;
        int status = 0;

        for (;;) {
                if (!exited && child_exited(pid)) {
                        exited = true;
                        exited_at = time_mono_ms();
                        close_if(&pidfd);
                }
                if (exited && co.fd < 0 && ce.fd < 0)
                        break;
                int64_t now = time_mono_ms();
                if (now >= deadline) {
                        timed_out = true;
                        break;
                }
                if (!exited && docker_cancel_fired(cmd->cancel)) {
                        cancelled = true;
                        break;
                }
                if (exited && now >= exited_at + LINGER_MS) {
                        /* The CLI is done but something it left behind holds its pipes: kill the leftovers. */
                        log_debug(COMPONENT, "\"killing leftovers\" pid=%d", (int) pid);
                        (void) kill(-pid, SIGKILL);
                        break;
                }
                int64_t wait = deadline - now;
                if (exited && exited_at + LINGER_MS - now < wait)
                        wait = exited_at + LINGER_MS - now;
                if (!exited && (pidfd < 0 || (cmd->cancel && cancel_fd < 0)) && wait > FALLBACK_TICK_MS)
                        wait = FALLBACK_TICK_MS;
                struct pollfd pfd[4];
                nfds_t n = 0;
                if (co.fd >= 0)
                        pfd[n++] = (struct pollfd){.fd = co.fd, .events = POLLIN};
                if (ce.fd >= 0)
                        pfd[n++] = (struct pollfd){.fd = ce.fd, .events = POLLIN};
                if (pidfd >= 0)
                        pfd[n++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
                if (!exited && cancel_fd >= 0)
                        pfd[n++] = (struct pollfd){.fd = cancel_fd, .events = POLLIN};
                if (poll(pfd, n, (int) wait) < 0 && errno != EINTR) {
                        log_warn(COMPONENT, "\"poll failed\" error=\"%s\"", strerror(errno));
                        sleep_ms(FALLBACK_TICK_MS);
                }
                capture_drain(&co);
                capture_drain(&ce);
        }
        close_if(&pidfd);

        if (timed_out || cancelled)
                kill_group(pid, &status);
        else if (reap(pid, &status) < 0)
                status = 0;
        capture_drain(&co); /* whatever is already in the pipes */
        capture_drain(&ce);
        close_if(&co.fd);
        close_if(&ce.fd);

        ret->out = capture_take(&co, &ret->out_len);
        ret->out_truncated = co.truncated;
        ret->err = capture_take(&ce, &ret->err_len);
        ret->err_truncated = ce.truncated;
        if (WIFSIGNALED(status)) {
                ret->exit_code = -1;
                ret->signal = WTERMSIG(status);
        } else {
                ret->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        ret->duration_ms = time_mono_ms() - start;
        log_debug(COMPONENT,
                  "\"finished\" verb=%s pid=%d exit=%d signal=%d duration_ms=%lld timed_out=%s cancelled=%s",
                  argc > 1 ? cmd->argv[1] : "-", (int) pid, ret->exit_code, ret->signal, (long long) ret->duration_ms,
                  timed_out ? "true" : "false", cancelled ? "true" : "false");
        if (cancelled)
                return err_set(e, -ECANCELED, ERR_KIND_INTERNAL, "%s %s was cancelled and killed.", cli,
                               argc > 1 ? cmd->argv[1] : "");
        if (timed_out)
                return err_set(e, -ETIMEDOUT, ERR_KIND_INTERNAL,
                               "%s %s did not finish within %lld ms and was killed.", cli,
                               argc > 1 ? cmd->argv[1] : "", (long long) cmd->timeout_ms);
        return 0;
}

/* ---- plan steps ---- */

static bool json_strv_contains(const json_t *arr, const char *s) {
        size_t i;
        const json_t *v;
        if (!arr)
                return false;
        json_array_foreach(arr, i, v) {
                const char *t = json_string_value(v);
                if (t && strcmp(t, s) == 0)
                        return true;
        }
        return false;
}

int docker_run_plan_step(const json_t *argv_j, const json_t *env, const json_t *env_file, int64_t timeout_ms,
                         const struct docker_cancel *cancel, struct docker_cmd_result *ret, struct err *e) {
        *ret = (struct docker_cmd_result){0};
        if (!json_is_array(argv_j) || json_array_size(argv_j) == 0 || (env && !json_is_object(env)) ||
            (env_file && !json_is_array(env_file)))
                return err_set(e, -EINVAL, ERR_KIND_INTERNAL, "Invalid plan step (argv, env or env_file).");

        size_t argc = json_array_size(argv_j);
        _cleanup_free_ const char **argv = xcalloc(argc + 1, sizeof(char *));
        for (size_t i = 0; i < argc; i++) {
                argv[i] = json_string_value(json_array_get(argv_j, i));
                if (!argv[i])
                        return err_set(e, -EINVAL, ERR_KIND_INTERNAL, "Plan argv element %zu is not a string.", i);
        }

        size_t n_env = env ? json_object_size(env) : 0;
        _cleanup_free_ struct docker_env_var *vars = xcalloc(n_env + 1, sizeof(*vars));
        _cleanup_free_ char *fd3 = NULL;
        size_t nv = 0, fd3_len = 0, fd3_alloc = 0;
        bool want_fd3 = env_file && json_array_size(env_file) > 0;
        if (env) {
                const char *name;
                const json_t *val;
                json_object_foreach((json_t *) (uintptr_t) env, name, val) {
                        const char *v = json_string_value(val);
                        if (!v)
                                return err_set(e, -EINVAL, ERR_KIND_INTERNAL,
                                               "The value of environment variable %s is not a string.", name);
                        if (!json_strv_contains(env_file, name)) {
                                vars[nv++] = (struct docker_env_var){.name = name, .value = v};
                                continue;
                        }
                        if (strpbrk(v, "\r\n") || strchr(name, '\n'))
                                return err_set(e, -EINVAL, ERR_KIND_CLIENT,
                                               "The value of environment variable %s contains a line break, which "
                                               "cannot be passed to docker.",
                                               name);
                        size_t need = fd3_len + strlen(name) + strlen(v) + 3;
                        if (need > fd3_alloc) {
                                fd3_alloc = need * 2;
                                char *nb = realloc(fd3, fd3_alloc);
                                if (!nb)
                                        abort();
                                fd3 = nb;
                        }
                        int w = str_printf(fd3 + fd3_len, fd3_alloc - fd3_len, "%s=%s\n", name, v);
                        ASSERT(w >= 0);
                        fd3_len += (size_t) w;
                }
        }
        struct docker_cmd cmd = {
                .argv = argv,
                .env = vars,
                .n_env = nv,
                .fd3_data = want_fd3 ? (fd3 ? fd3 : "") : NULL,
                .fd3_len = fd3_len,
                .timeout_ms = timeout_ms,
                .cancel = cancel,
        };
        return docker_run_cmd(&cmd, ret, e);
}

/* ---- turning a failed call into an error ---- */

int docker_cmd_result_check(const struct docker_cmd_result *r, const char *what, struct err *e) {
        if (r->exit_code == 0 && r->signal == 0)
                return 0;
        char line[200] = "";
        const char *p = r->err ? r->err : "";
        const char *end = r->err ? r->err + r->err_len : p;
        while (p < end && (*p == '\n' || *p == '\r' || *p == ' ' || *p == '\t'))
                p++;
        size_t n = 0;
        while (p + n < end && p[n] != '\n' && p[n] != '\r' && p[n] != '\0' && n < sizeof(line) - 1)
                n++;
        memcpy(line, p, n);
        line[n] = '\0';
        str_utf8_sanitize(line);
        if (r->signal)
                return err_set(e, -EIO, ERR_KIND_INTERNAL, "%s failed (killed by signal %d)%s%s", what, r->signal,
                               *line ? ": " : ".", line);
        return err_set(e, -EIO, ERR_KIND_INTERNAL, "%s failed (exit %d)%s%s", what, r->exit_code, *line ? ": " : ".",
                       line);
}

/* ---- long-running commands (docker events) ---- */

int docker_stream_open(const char *const *argv, struct docker_stream *ret, struct err *e) {
        *ret = (struct docker_stream){.pid = 0, .fd = -1};
        char cli[PATH_MAX];
        cli_pick(NULL, cli, sizeof(cli));
        size_t argc = 0;
        while (argv[argc])
                argc++;
        _cleanup_free_ char **av = xcalloc(argc + 1, sizeof(char *));
        av[0] = cli;
        for (size_t i = 1; i < argc; i++)
                av[i] = (char *) (uintptr_t) argv[i];
        char **envp = NULL;
        struct docker_cmd none = {0};
        int r = build_envp(&none, &envp, e);
        if (r < 0)
                return r;
        int out[2] = {-1, -1};
        if (pipe2(out, O_CLOEXEC) < 0) {
                strv_free(envp);
                return err_set(e, -errno, ERR_KIND_INTERNAL, "Cannot create a pipe: %s.", strerror(errno));
        }
        pid_t pid = 0;
        int sr = spawn_child(cli, av, envp, out[1], out[1], -1, &pid);
        strv_free(envp);
        close_if(&out[1]);
        if (sr != 0) {
                close_if(&out[0]);
                return err_set(e, -sr, ERR_KIND_INTERNAL, "Cannot run %s: %s.", cli, strerror(sr));
        }
        ret->pid = pid;
        ret->fd = out[0];
        return 0;
}

void docker_stream_close(struct docker_stream *s) {
        if (s->pid > 0) {
                int status = 0;
                if (!child_exited(s->pid))
                        kill_group(s->pid, &status);
                else
                        (void) reap(s->pid, &status);
        }
        close_if(&s->fd);
        s->pid = 0;
}

int docker_stream_finish(struct docker_stream *s, int64_t wait_ms) {
        int status = 0;
        if (s->pid > 0) {
                int64_t until = time_mono_ms() + wait_ms;
                while (!child_exited(s->pid) && time_mono_ms() < until)
                        sleep_ms(10);
                if (!child_exited(s->pid))
                        kill_group(s->pid, &status);
                else if (reap(s->pid, &status) < 0)
                        status = 0;
        }
        close_if(&s->fd);
        s->pid = 0;
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 0;
}
