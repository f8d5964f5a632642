/* backend.c — the Docker backend's operations (rt_backend, see pkg/runtime/backend.h): each one runs plan steps or
 * a few read-only CLI calls through the runner. No ECS rule lives here; the lifecycle decides what runs when.
 *
 * Shared state, behind `lock`: the set of images this process pulled (for the `once` pull behaviour), and the
 * launches that can be cancelled (`launches`: one entry per plan whose pull runs or that was cancelled; the entry
 * holds a reference to the plan, so the pointer it is keyed on stays unique). A cancel (the lifecycle's, with its own
 * lock held) only fires the entry's docker_cancel: the pull's CLI process group is killed at once and the pull
 * returns -ECANCELED. Only pulls are cancelled: they are what can hang for minutes (a registry that does not answer);
 * a `docker run` is left to finish, since killing its CLI could leave a container the engine creates afterwards.
 * Everything else is immutable after docker_backend_new, so the operations run from any number of threads at once. */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "docker-backend.h"
#include "ecs.h"
#include "runner.h"

#define PULL_TIMEOUT_MS (10 * 60 * 1000)
#define RUN_TIMEOUT_MS (3 * 60 * 1000) /* the agent's container start timeout on Linux */
#define QUICK_TIMEOUT_MS (60 * 1000)
#define STOP_MARGIN_MS (30 * 1000)
#define LOG_CAP (1024 * 1024)
#define STATS_TIMEOUT_MS (30 * 1000)

struct docker_backend {
        char owner[128];
        char host_alias[128];
        char *metadata_endpoint;
        char *credentials_endpoint;
        char *publish_address;
        enum docker_pull_behavior pull;
        int default_stop_timeout_s;
        pthread_mutex_t lock;
        json_t *pulled; /* image → true */
        struct launch *launches;
        struct docker_events *events; /* for the counters; set once before the API can ask */
        json_t *host; /* the engine as a host (op_hosts), asked once; NULL until then */
};

/* A launch whose pulls can be cancelled (see the top of the file). */
struct launch {
        struct launch *next;
        json_t *plan; /* a reference: the key */
        struct docker_cancel *cancel;
        int users;    /* pulls running with it */
};

int docker_pull_behavior_from_string(const char *s, enum docker_pull_behavior *ret) {
        static const char *const names[] = {"default", "always", "once", "prefer-cached"};
        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
                if (strcmp(s, names[i]) == 0) {
                        *ret = (enum docker_pull_behavior) i;
                        return 0;
                }
        return -EINVAL;
}

/* Run a fixed argv (no environment values) and fail unless it exits 0. *ret (may be NULL) keeps the result. */
static int run_argv(const char *const *argv, int64_t timeout_ms, size_t cap, const char *what,
                    struct docker_cmd_result *ret, struct err *e) {
        struct docker_cmd cmd = {.argv = argv, .timeout_ms = timeout_ms, .output_cap = cap};
        struct docker_cmd_result res;
        int r = docker_run_cmd(&cmd, &res, e);
        if (r >= 0)
                r = docker_cmd_result_check(&res, what, e);
        if (ret)
                *ret = res;
        else
                docker_cmd_result_free(&res);
        return r;
}

/* True when the CLI's error output says the object does not exist (teardown counts that as done). */
static bool says_not_found(const struct docker_cmd_result *r) {
        return r->err && (strstr(r->err, "No such") || strstr(r->err, "not found"));
}

static int run_step_cancel(const json_t *argv, const json_t *env, const json_t *env_file, int64_t timeout_ms,
                           const struct docker_cancel *cancel, const char *what, bool missing_ok,
                           struct docker_cmd_result *ret, struct err *e) {
        struct docker_cmd_result res;
        int r = docker_run_plan_step(argv, env, env_file, timeout_ms, cancel, &res, e);
        if (r >= 0 && !(missing_ok && res.exit_code != 0 && says_not_found(&res)))
                r = docker_cmd_result_check(&res, what, e);
        if (ret)
                *ret = res;
        else
                docker_cmd_result_free(&res);
        return r;
}

static int run_step(const json_t *argv, const json_t *env, const json_t *env_file, int64_t timeout_ms,
                    const char *what, bool missing_ok, struct docker_cmd_result *ret, struct err *e) {
        return run_step_cancel(argv, env, env_file, timeout_ms, NULL, what, missing_ok, ret, e);
}

/* ---- cancellable launches ---- */

/* The entry of `plan`, made when missing (lock held). */
static struct launch *launch_get(struct docker_backend *b, const json_t *plan) {
        for (struct launch *l = b->launches; l; l = l->next)
                if (l->plan == plan)
                        return l;
        struct launch *l = xcalloc(1, sizeof(*l));
        l->plan = json_incref((json_t *) (uintptr_t) plan);
        l->cancel = docker_cancel_new();
        l->next = b->launches;
        b->launches = l;
        return l;
}

/* Forget the entry of `plan` when no pull uses it and (unless `cancelled_too`) it was not cancelled (lock held). */
static void launch_put(struct docker_backend *b, const json_t *plan, bool cancelled_too) {
        for (struct launch **p = &b->launches; *p; p = &(*p)->next) {
                struct launch *l = *p;
                if (l->plan != plan)
                        continue;
                if (l->users > 0 || (!cancelled_too && docker_cancel_fired(l->cancel)))
                        return;
                *p = l->next;
                json_decref(l->plan);
                docker_cancel_free(l->cancel);
                free(l);
                return;
        }
}

/* Run the pull step of `container`, ended early by a cancel of the plan's launch: -ECANCELED then. */
static int pull_cancellable(struct docker_backend *b, const json_t *plan, const json_t *container, struct err *e) {
        pthread_mutex_lock(&b->lock);
        struct launch *l = launch_get(b, plan);
        l->users++;
        pthread_mutex_unlock(&b->lock);
        struct docker_cmd_result res;
        int r = run_step_cancel(json_object_get(container, "pull"), NULL, NULL, PULL_TIMEOUT_MS, l->cancel,
                                "docker pull", false, &res, e);
        docker_cmd_result_free(&res);
        pthread_mutex_lock(&b->lock);
        l->users--;
        launch_put(b, plan, false);
        pthread_mutex_unlock(&b->lock);
        return r;
}

/* The lifecycle wants the launch of `plan` to end: a pull of it that runs is killed now, a later one never starts.
 * Called with the lifecycle's lock held: takes only `lock`, briefly. */
static void op_cancel(void *impl, const json_t *plan) {
        struct docker_backend *b = impl;
        pthread_mutex_lock(&b->lock);
        docker_cancel_fire(launch_get(b, plan)->cancel);
        pthread_mutex_unlock(&b->lock);
}

/* ---- operations ---- */

static int op_plan(void *impl, const struct rt_task_input *in, json_t **ret, struct err *e) {
        struct docker_backend *b = impl;
        struct docker_task_spec spec = {
                .taskdef = in->taskdef,
                .overrides = in->overrides,
                .task_arn = in->task_arn,
                .task_id = in->task_id,
                .cluster_name = in->cluster_name,
                .metadata_endpoint = b->metadata_endpoint,
                .credentials_endpoint = b->credentials_endpoint,
                .credentials_id = in->credentials_id,
                .host_alias = b->host_alias,
                .owner_label = b->owner,
                .publish_address = b->publish_address,
                .default_stop_timeout_s = b->default_stop_timeout_s,
        };
        int r = docker_plan_task(&spec, ret, e);
        size_t i;
        const json_t *note;
        if (r >= 0)
                json_array_foreach(json_object_get(*ret, "notes"), i, note)
                        log_info("docker", "\"plan note\" task=%s note=\"%s\"", in->task_id, json_string_value(note));
        return r;
}

static int op_setup(void *impl, const json_t *plan, struct err *e) {
        (void) impl;
        const json_t *net = json_object_get(plan, "network");
        struct docker_cmd_result res;
        if (json_is_object(net)) {
                int r = run_step(json_object_get(net, "create"), NULL, NULL, QUICK_TIMEOUT_MS, "docker network create",
                                 false, &res, e);
                bool exists = res.err && strstr(res.err, "already exists");
                docker_cmd_result_free(&res);
                if (r < 0 && !exists)
                        return r;
        }
        size_t i;
        const json_t *v;
        json_array_foreach(json_object_get(plan, "volumes"), i, v) {
                const json_t *create = json_object_get(v, "create");
                if (json_is_array(create)) {
                        int r = run_step(create, NULL, NULL, QUICK_TIMEOUT_MS, "docker volume create", false, NULL, e);
                        if (r < 0)
                                return r;
                } else if (json_is_true(json_object_get(v, "must_exist"))) {
                        const char *argv[] = {"docker", "volume", "inspect", ecs_json_str(v, "docker_name", ""), NULL};
                        int r = run_argv(argv, QUICK_TIMEOUT_MS, 0, "docker volume inspect", NULL, e);
                        if (r < 0) {
                                err_prefix(e, "volume '%s' must already exist", ecs_json_str(v, "name", "?"));
                                return r;
                        }
                }
        }
        return 0;
}

static bool image_cached(const char *image) {
        const char *argv[] = {"docker", "image", "inspect", "--format", "{{.Id}}", image, NULL};
        struct err ignored = {0};
        return run_argv(argv, QUICK_TIMEOUT_MS, 0, "docker image inspect", NULL, &ignored) == 0;
}

static int op_pull(void *impl, const json_t *plan, const json_t *container, struct err *e) {
        struct docker_backend *b = impl;
        const char *image = ecs_json_str(container, "image", "");
        /* prefer-cached: nothing to do here; op_run pulls when the engine says the image is missing, which saves
         * an inspect call on every start. */
        if (b->pull == DOCKER_PULL_PREFER_CACHED)
                return 0;
        if (b->pull == DOCKER_PULL_ONCE) {
                pthread_mutex_lock(&b->lock);
                bool pulled = json_object_get(b->pulled, image) != NULL;
                pthread_mutex_unlock(&b->lock);
                if (pulled)
                        return 0;
        }
        int r = pull_cancellable(b, plan, container, e);
        if (r == -ECANCELED)
                return r;
        if (r >= 0) {
                pthread_mutex_lock(&b->lock);
                json_object_set_new(b->pulled, image, json_true());
                pthread_mutex_unlock(&b->lock);
                return 0;
        }
        if (b->pull == DOCKER_PULL_DEFAULT && image_cached(image)) {
                log_info("docker", "\"pull failed, using the cached image\" image=\"%s\" error=\"%s\"", image, e->msg);
                return 0;
        }
        return r;
}

/* `docker port NAME` lines ("8080/tcp -> 0.0.0.0:32768") into ECS networkBindings. */
static json_t *parse_ports(const char *out) {
        json_t *bindings = json_array();
        const char *p = out;
        while (p && *p) {
                const char *nl = strchr(p, '\n');
                size_t n = nl ? (size_t) (nl - p) : strlen(p);
                char line[256];
                if (n < sizeof(line)) {
                        memcpy(line, p, n);
                        line[n] = '\0';
                        char *arrow = strstr(line, " -> ");
                        char *slash = strchr(line, '/');
                        char *colon = arrow ? strrchr(arrow, ':') : NULL;
                        int64_t cport, hport;
                        if (arrow && slash && colon && slash < arrow) {
                                *slash = '\0';
                                *arrow = '\0';
                                *colon = '\0';
                                char *ip = arrow + 4;
                                if (*ip == '[' && ip[strlen(ip) - 1] == ']') {
                                        ip[strlen(ip) - 1] = '\0';
                                        ip++;
                                }
                                if (parse_int64(line, 1, 65535, &cport) == 0 &&
                                    parse_int64(colon + 1, 1, 65535, &hport) == 0)
                                        json_array_append_new(bindings,
                                                              json_pack("{s:s, s:I, s:I, s:s}", "bindIP", ip,
                                                                        "containerPort", (json_int_t) cport,
                                                                        "hostPort", (json_int_t) hport, "protocol",
                                                                        slash + 1));
                        }
                }
                p = nl ? nl + 1 : NULL;
        }
        return bindings;
}

static bool argv_has(const json_t *argv, const char *flag) {
        size_t i;
        const json_t *v;
        json_array_foreach(argv, i, v) if (strcmp(json_string_value(v), flag) == 0) return true;
        return false;
}

/* True when the CLI says the image is not there: "No such image" (--pull never), or a pull the CLI made on its own
 * failed ("Unable to find image", a CLI that ignores --pull). */
static bool says_no_image(const struct docker_cmd_result *r) {
        return r->err && (strstr(r->err, "No such image") || strstr(r->err, "Unable to find image"));
}

/* True when a container of that name exists (so a failed `docker run` got as far as creating it). */
static bool container_exists(const char *docker_name) {
        const char *argv[] = {"docker", "container", "inspect", "--format", "{{.Id}}", docker_name, NULL};
        struct err ignored = {0};
        return run_argv(argv, QUICK_TIMEOUT_MS, 0, "docker container inspect", NULL, &ignored) == 0;
}

/* `docker run -d`: create and start in one CLI call. The env map and the secret values go into the CLI's
 * environment (`-e NAME` in argv), env_file names through fd 3. Errors carry their ECS name: the run's argv says
 * --pull never, so a missing image is CannotPullContainerError (prefer-cached pulls then and runs again); otherwise
 * CannotStartContainerError when the container was created, CannotCreateContainerError when it was not. */
static int op_run(void *impl, const json_t *plan, const json_t *container, const json_t *secrets, json_t **ret,
                  struct err *e) {
        struct docker_backend *b = impl;
        const char *docker_name = ecs_json_str(container, "docker_name", "");
        const json_t *argv = json_object_get(container, "run");
        json_auto_t *env = json_deep_copy(json_object_get(container, "env"));
        if (!env)
                env = json_object();
        const char *name;
        json_t *value;
        json_object_foreach((json_t *) (uintptr_t) secrets, name, value) json_object_set(env, name, value);
        struct docker_cmd_result res;
        int r = run_step(argv, env, json_object_get(container, "env_file"), RUN_TIMEOUT_MS, "docker run", false,
                         &res, e);
        bool missing_image = r < 0 && says_no_image(&res);
        if (missing_image && b->pull == DOCKER_PULL_PREFER_CACHED) {
                docker_cmd_result_free(&res);
                if ((r = pull_cancellable(b, plan, container, e)) < 0) {
                        if (r != -ECANCELED)
                                err_prefix(e, "CannotPullContainerError");
                        return r;
                }
                r = run_step(argv, env, json_object_get(container, "env_file"), RUN_TIMEOUT_MS, "docker run", false,
                             &res, e);
                missing_image = r < 0 && says_no_image(&res);
        }
        if (r < 0) {
                docker_cmd_result_free(&res);
                err_prefix(e, "%s", missing_image                     ? "CannotPullContainerError"
                                    : container_exists(docker_name) ? "CannotStartContainerError"
                                                                    : "CannotCreateContainerError");
                return r;
        }
        char id[80] = "";
        str_printf(id, sizeof(id), "%.64s", res.out ? res.out : "");
        id[strcspn(id, "\r\n ")] = '\0';
        docker_cmd_result_free(&res);
        json_auto_t *info = json_pack("{s:s}", "runtimeId", id);
        if (argv_has(argv, "-p")) {
                const char *port_argv[] = {"docker", "port", docker_name, NULL};
                struct err pe = {0};
                if (run_argv(port_argv, QUICK_TIMEOUT_MS, 0, "docker port", &res, &pe) == 0)
                        json_object_set_new(info, "networkBindings", parse_ports(res.out));
                else
                        log_warn("docker", "\"cannot read host ports\" container=%s error=\"%s\"", docker_name,
                                 pe.msg);
                docker_cmd_result_free(&res);
        }
        *ret = TAKE_PTR(info);
        return 0;
}

static int op_stop(void *impl, const json_t *plan, const json_t *container, struct err *e) {
        (void) impl;
        (void) plan;
        int64_t timeout_ms = STOP_MARGIN_MS;
        int64_t stop_s;
        if (ecs_json_int(container, "stop_timeout_s", &stop_s))
                timeout_ms += stop_s * 1000;
        return run_step(json_object_get(container, "stop"), NULL, NULL, timeout_ms, "docker stop", true, NULL, e);
}

static int op_logs(void *impl, const json_t *plan, const json_t *container, char **ret, size_t *ret_len,
                   struct err *e) {
        (void) impl;
        (void) plan;
        const char *argv[] = {"docker", "logs", ecs_json_str(container, "docker_name", ""), NULL};
        struct docker_cmd_result res;
        int r = run_argv(argv, QUICK_TIMEOUT_MS, LOG_CAP, "docker logs", &res, e);
        if (r >= 0) {
                char *buf = xmalloc(res.out_len + res.err_len + 1);
                memcpy(buf, res.out, res.out_len);
                memcpy(buf + res.out_len, res.err, res.err_len);
                buf[res.out_len + res.err_len] = '\0';
                *ret = buf;
                *ret_len = res.out_len + res.err_len;
        }
        docker_cmd_result_free(&res);
        return r;
}

/* `docker logs --follow NAME`: the engine sends what the container wrote so far, then each write, and ends the
 * stream when the container stops (or is removed). The CLI's stdout and stderr share one pipe. */
static int op_follow(void *impl, const json_t *plan, const json_t *container, int *ret_fd, void **ret_handle,
                     struct err *e) {
        (void) impl;
        (void) plan;
        const char *argv[] = {"docker", "logs", "--follow", ecs_json_str(container, "docker_name", ""), NULL};
        struct docker_stream *s = xmalloc(sizeof(*s));
        int r = docker_stream_open(argv, s, e);
        if (r < 0) {
                free(s);
                err_prefix(e, "docker logs --follow");
                return r;
        }
        *ret_fd = s->fd;
        *ret_handle = s;
        return 0;
}

static void op_follow_close(void *impl, void *handle) {
        (void) impl;
        docker_stream_close(handle);
        free(handle);
}

/* `docker exec NAME ARGV...`: no -i (stdin stays closed) and no -t, so stdout and stderr come back apart and share
 * the CLI's one pipe; the CLI exits with the command's exit code (126 or 127 when it cannot be run). The arguments
 * are the caller's command, which is no secret; the container's environment never passes through here. */
static int op_exec(void *impl, const json_t *plan, const json_t *container, const char *const *argv, int *ret_fd,
                   void **ret_handle, struct err *e) {
        (void) impl;
        (void) plan;
        size_t n = 0;
        while (argv[n])
                n++;
        _cleanup_free_ const char **av = xcalloc(n + 4, sizeof(char *));
        av[0] = "docker";
        av[1] = "exec";
        av[2] = ecs_json_str(container, "docker_name", "");
        for (size_t i = 0; i < n; i++)
                av[3 + i] = argv[i];
        struct docker_stream *s = xmalloc(sizeof(*s));
        int r = docker_stream_open(av, s, e);
        if (r < 0) {
                free(s);
                err_prefix(e, "docker exec");
                return r;
        }
        *ret_fd = s->fd;
        *ret_handle = s;
        return 0;
}

static int op_exec_end(void *impl, void *handle, int64_t wait_ms) {
        (void) impl;
        int code = docker_stream_finish(handle, wait_ms);
        free(handle);
        return code;
}

/* `docker stats --no-stream` of the containers, by name: the engine samples each twice, about a second apart, to
 * compute the CPU share. A container that stopped in the meantime fails the whole command: then nothing is sampled
 * (the metadata endpoint answers null for each, as the agent does before its first sample). */
static int op_stats(void *impl, const json_t *plan, const json_t *containers, json_t **ret, struct err *e) {
        (void) impl;
        (void) plan;
        json_auto_t *argv = json_pack("[sssssss]", "docker", "stats", "--no-stream", "--no-trunc", "--format",
                                      DOCKER_STATS_FORMAT, "--");
        json_auto_t *by_name = json_object();
        size_t i;
        const json_t *c;
        json_array_foreach(containers, i, c) {
                const char *docker_name = ecs_json_str(c, "docker_name", "");
                json_array_append_new(argv, json_string(docker_name));
                json_object_set_new(by_name, docker_name, json_string(ecs_json_str(c, "name", "")));
        }
        json_auto_t *out = json_object();
        if (json_object_size(by_name) == 0) {
                *ret = TAKE_PTR(out);
                return 0;
        }
        struct docker_cmd_result res;
        int r = run_step(argv, NULL, NULL, STATS_TIMEOUT_MS, "docker stats", false, &res, e);
        struct timespec now, up;
        clock_gettime(CLOCK_REALTIME, &now);
        clock_gettime(CLOCK_BOOTTIME, &up);
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        const char *p = r >= 0 ? res.out : "";
        while (*p) {
                size_t n = strcspn(p, "\n");
                json_auto_t *line = json_loadb(p, n, JSON_REJECT_DUPLICATES, NULL);
                const char *docker_name = ecs_json_str(line, "name", "");
                const char *name = ecs_json_str(by_name, docker_name, NULL);
                if (name)
                        json_object_set_new(out, name,
                                            docker_stats_translate(line, docker_name, cpus > 0 ? (int) cpus : 1,
                                                                   (int64_t) now.tv_sec * 1000000000LL + now.tv_nsec,
                                                                   (int64_t) up.tv_sec * 1000000000LL + up.tv_nsec));
                p += n;
                if (*p)
                        p++;
        }
        docker_cmd_result_free(&res);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(out);
        return 0;
}

static int op_teardown(void *impl, const json_t *plan, struct err *e) {
        struct docker_backend *b = impl;
        pthread_mutex_lock(&b->lock);
        launch_put(b, plan, true); /* the launch is over: a cancel of it has nothing left to end */
        pthread_mutex_unlock(&b->lock);
        const json_t *cs = json_object_get(plan, "containers");
        int r = 0;
        if (json_array_size(cs)) {
                json_auto_t *argv = json_pack("[ssss]", "docker", "rm", "-f", "-v");
                size_t i;
                const json_t *c;
                json_array_foreach(cs, i, c) json_array_append_new(argv, json_string(ecs_json_str(c, "docker_name",
                                                                                                    "")));
                struct docker_cmd_result res;
                r = run_step(argv, NULL, NULL, QUICK_TIMEOUT_MS, "docker rm", true, &res, e);
                /* rm -f of several names fails when one is missing, after removing the others. */
                if (r < 0 && says_not_found(&res))
                        r = 0;
                docker_cmd_result_free(&res);
        }
        size_t i;
        const json_t *v;
        json_array_foreach(json_object_get(plan, "volumes"), i, v) {
                const json_t *remove = json_object_get(v, "remove");
                struct err ve = {0};
                if (json_is_array(remove) && run_step(remove, NULL, NULL, QUICK_TIMEOUT_MS, "docker volume rm", true,
                                                      NULL, &ve) < 0 && r >= 0)
                        r = err_set(e, -EIO, ERR_KIND_INTERNAL, "%s", ve.msg);
        }
        const json_t *net = json_object_get(plan, "network");
        struct err ne = {0};
        if (json_is_object(net) &&
            run_step(json_object_get(net, "remove"), NULL, NULL, QUICK_TIMEOUT_MS, "docker network rm", true, NULL,
                     &ne) < 0 &&
            r >= 0)
                r = err_set(e, -EIO, ERR_KIND_INTERNAL, "%s", ne.msg);
        return r;
}

/* Lines of a command's output as a JSON array of strings. */
static json_t *lines(const char *out) {
        json_t *arr = json_array();
        const char *p = out;
        while (p && *p) {
                size_t n = strcspn(p, "\n");
                if (n)
                        json_array_append_new(arr, json_stringn(p, n));
                p += n;
                if (*p)
                        p++;
        }
        return arr;
}

/* The ids of the containers `docker ps -a` lists with one or two --filter (`filter2` may be NULL). */
static int container_ids(const char *filter, const char *filter2, json_t **ret, struct err *e) {
        const char *ps[] = {"docker", "ps", "-aq", "--no-trunc", "--filter", filter, filter2 ? "--filter" : NULL,
                            filter2, NULL};
        struct docker_cmd_result res;
        int r = run_argv(ps, QUICK_TIMEOUT_MS, LOG_CAP, "docker ps", &res, e);
        if (r >= 0)
                *ret = lines(res.out);
        docker_cmd_result_free(&res);
        return r < 0 ? r : 0;
}

static int op_observe(void *impl, json_t **ret, struct err *e) {
        struct docker_backend *b = impl;
        char filter[160];
        str_printf(filter, sizeof(filter), "label=" DOCKER_LABEL_OWNER "=%s", b->owner);
        json_auto_t *ids = NULL;
        struct docker_cmd_result res;
        int r = container_ids(filter, NULL, &ids, e);
        if (r < 0)
                return r;
        json_auto_t *out = json_array();
        if (json_array_size(ids)) {
                json_auto_t *argv = json_pack("[ss]", "docker", "inspect");
                json_array_extend(argv, ids);
                r = run_step(argv, NULL, NULL, QUICK_TIMEOUT_MS, "docker inspect", true, &res, e);
                json_auto_t *arr = r >= 0 ? json_loadb(res.out, res.out_len, 0, NULL) : NULL;
                docker_cmd_result_free(&res);
                if (r < 0)
                        return r;
                size_t i;
                const json_t *c;
                json_array_foreach(arr, i, c) {
                        const json_t *labels = json_object_get(json_object_get(c, "Config"), "Labels");
                        const json_t *state = json_object_get(c, "State");
                        const char *tid = ecs_json_str(labels, DOCKER_LABEL_TASK_ID, NULL);
                        const char *cname = ecs_json_str(labels, "com.amazonaws.ecs.container-name", NULL);
                        if (!tid || !cname)
                                continue;
                        json_t *o = json_pack("{s:s, s:s, s:b, s:b}", "task_id", tid, "container", cname, "running",
                                              json_is_true(json_object_get(state, "Running")), "oom",
                                              json_is_true(json_object_get(state, "OOMKilled")));
                        int64_t code;
                        if (!json_is_true(json_object_get(state, "Running")) && ecs_json_int(state, "ExitCode", &code))
                                json_object_set_new(o, "exit_code", json_integer(code));
                        const char *health = ecs_json_str(json_object_get(state, "Health"), "Status", NULL);
                        if (health)
                                json_object_set_new(o, "health", json_string(strcmp(health, "healthy") == 0 ? "HEALTHY"
                                                                             : strcmp(health, "unhealthy") == 0
                                                                                     ? "UNHEALTHY"
                                                                                     : "UNKNOWN"));
                        json_array_append_new(out, o);
                }
        }
        const char *nets[] = {"docker", "network", "ls", "--filter", filter, "--format", "{{.Name}}", NULL};
        r = run_argv(nets, QUICK_TIMEOUT_MS, LOG_CAP, "docker network ls", &res, e);
        json_auto_t *names = r >= 0 ? lines(res.out) : NULL;
        docker_cmd_result_free(&res);
        if (r < 0)
                return r;
        size_t i;
        const json_t *n;
        json_array_foreach(names, i, n) {
                const char *name = json_string_value(n);
                if (strncmp(name, "ecsd-", 5) == 0)
                        json_array_append_new(out, json_pack("{s:s, s:b}", "task_id", name + 5, "network", 1));
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static int op_sweep_task(void *impl, const char *task_id, struct err *e) {
        struct docker_backend *b = impl;
        char owner[160], task[160];
        str_printf(owner, sizeof(owner), "label=" DOCKER_LABEL_OWNER "=%s", b->owner);
        str_printf(task, sizeof(task), "label=" DOCKER_LABEL_TASK_ID "=%s", task_id);
        json_auto_t *ids = NULL;
        struct docker_cmd_result res;
        int r = container_ids(owner, task, &ids, e);
        if (r < 0)
                return r;
        if (json_array_size(ids)) {
                json_auto_t *argv = json_pack("[ssss]", "docker", "rm", "-f", "-v");
                json_array_extend(argv, ids);
                if ((r = run_step(argv, NULL, NULL, QUICK_TIMEOUT_MS, "docker rm", true, NULL, e)) < 0)
                        return r;
        }
        char net[128];
        str_printf(net, sizeof(net), "ecsd-%s", task_id);
        const char *nets[] = {"docker", "network", "ls", "-q", "--filter", owner, "--filter", task, NULL};
        r = run_argv(nets, QUICK_TIMEOUT_MS, 0, "docker network ls", &res, e);
        bool has_net = r >= 0 && res.out_len > 0;
        docker_cmd_result_free(&res);
        if (has_net) {
                const char *rm[] = {"docker", "network", "rm", net, NULL};
                r = run_argv(rm, QUICK_TIMEOUT_MS, 0, "docker network rm", NULL, e);
        }
        return r < 0 ? r : 0;
}

static json_t *op_counters(void *impl) {
        struct docker_backend *b = impl;
        return json_pack("{s:I}", "watch_reconnects", (json_int_t) docker_events_reconnects(b->events));
}

/* The engine is the one host: what `docker info` says of it, asked once (the engine's CPUs and memory do not change
 * while it runs; a failed ask is retried at the next call). */
static int op_hosts(void *impl, json_t **ret, struct err *e) {
        struct docker_backend *b = impl;
        pthread_mutex_lock(&b->lock);
        json_t *host = json_incref(b->host);
        pthread_mutex_unlock(&b->lock);
        if (!host) {
                const char *argv[] = {"docker", "info", "--format", "{{json .}}", NULL};
                struct docker_cmd_result res;
                int r = run_argv(argv, QUICK_TIMEOUT_MS, LOG_CAP, "docker info", &res, e);
                if (r < 0) { /* the failed command's output is ours to free too */
                        docker_cmd_result_free(&res);
                        return r;
                }
                json_auto_t *info = json_loads(res.out ? res.out : "", JSON_REJECT_DUPLICATES, NULL);
                docker_cmd_result_free(&res);
                int64_t ncpu = 0, mem = 0;
                const char *id = ecs_json_str(info, "ID", "");
                if (!json_is_object(info) || !*id || !ecs_json_int(info, "NCPU", &ncpu) ||
                    !ecs_json_int(info, "MemTotal", &mem) || ncpu <= 0 || mem <= 0)
                        return err_set(e, -EIO, ERR_KIND_INTERNAL,
                                       "docker info: no ID, NCPU or MemTotal in its output.");
                const char *os = ecs_json_str(info, "OSType", "linux");
                host = json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:{}, s:s, s:s, s:o}", "id", id, "name",
                                 ecs_json_str(info, "Name", id), "cpu", (json_int_t) (ncpu * 1024), "memory",
                                 (json_int_t) (mem / (1024 * 1024)), "os", os, "arch",
                                 ecs_json_str(info, "Architecture", "x86_64"), "labels", "agent_version", ECSD_VERSION,
                                 "docker_version", ecs_json_str(info, "ServerVersion", ""), "registered_at",
                                 ecs_timestamp_now());
                if (!host)
                        return err_set(e, -ENOMEM, ERR_KIND_INTERNAL, "docker info: out of memory.");
                pthread_mutex_lock(&b->lock);
                if (!b->host)
                        b->host = json_incref(host);
                pthread_mutex_unlock(&b->lock);
        }
        *ret = json_pack("[o]", host);
        return 0;
}

void docker_backend_set_events(struct docker_backend *b, struct docker_events *w) {
        b->events = w;
}

int docker_backend_new(const struct docker_backend_config *cfg, struct rt_backend *ops, struct docker_backend **ret,
                       struct err *e) {
        if (!cfg->owner || !*cfg->owner || strlen(cfg->owner) >= 128 || !cfg->host_alias ||
            strlen(cfg->host_alias) >= 128 || !cfg->metadata_endpoint)
                return err_set(e, -EINVAL, ERR_KIND_INTERNAL, "docker backend: incomplete configuration");
        struct docker_backend *b = xcalloc(1, sizeof(*b));
        str_printf(b->owner, sizeof(b->owner), "%s", cfg->owner);
        str_printf(b->host_alias, sizeof(b->host_alias), "%s", cfg->host_alias);
        b->metadata_endpoint = xstrdup(cfg->metadata_endpoint);
        b->credentials_endpoint = cfg->credentials_endpoint ? xstrdup(cfg->credentials_endpoint) : NULL;
        b->publish_address = cfg->publish_address ? xstrdup(cfg->publish_address) : NULL;
        b->pull = cfg->pull;
        b->default_stop_timeout_s = cfg->default_stop_timeout_s;
        pthread_mutex_init(&b->lock, NULL);
        b->pulled = json_object();
        *ops = (struct rt_backend){
                .name = "docker",
                .impl = b,
                .plan = op_plan,
                .setup = op_setup,
                .pull = op_pull,
                .run = op_run,
                .stop = op_stop,
                .logs = op_logs,
                .teardown = op_teardown,
                .observe = op_observe,
                .sweep_task = op_sweep_task,
                .follow = op_follow,
                .follow_close = op_follow_close,
                .exec = op_exec,
                .exec_end = op_exec_end,
                .stats = op_stats,
                .cancel = op_cancel,
                .counters = op_counters,
                .hosts = op_hosts,
        };
        *ret = b;
        return 0;
}

void docker_backend_free(struct docker_backend *b) {
        if (!b)
                return;
        free(b->metadata_endpoint);
        free(b->credentials_endpoint);
        free(b->publish_address);
        json_decref(b->pulled);
        json_decref(b->host);
        while (b->launches) {
                struct launch *l = b->launches;
                b->launches = l->next;
                json_decref(l->plan);
                docker_cancel_free(l->cancel);
                free(l);
        }
        pthread_mutex_destroy(&b->lock);
        free(b);
}
