/* plan.c — task definition + task identity + overrides → the docker CLI invocations that run the task.
 *
 * A pure function: it reads borrowed JSON and the spec, builds a new plan object and touches nothing else, so it is
 * safe from any thread. The plan layout and the table of every mapping decision (what maps to which flag, what is
 * ignored with a note, what is rejected) are in docs/internals/docker-plan.md; keep that table in step with this file.
 *
 * Invariants the plan keeps, which the tests check:
 * - every argv starts with "docker";
 * - no environment or secret value is in any argv: `-e NAME` only, values in the container's `env` map, and names
 *   the CLI reads itself routed through `--env-file /dev/fd/3` (see docker.h);
 * - `order` is a topological order of dependsOn plus the implicit START dependencies of links and volumesFrom;
 * - everything created (network, task-scoped volumes, containers) carries the ECS labels and ecsd's own labels.
 *
 * The definition is expected to have passed RegisterTaskDefinition's checks (shape and ecs_taskdef_validate), but a
 * raw file given to `ecsd render` has not, so absent members take ECS's defaults and types are checked where a wrong
 * type could mislead. */
#include <stdarg.h>
#include <string.h>

#include "docker-internal.h"
#include "docker.h"
#include "ecs.h"

#define TASK_ID_MAX 64
#define MEMORY_MIN_MIB 6
#define CPU_SHARES_MIN 2

/* Everything one plan build needs; lives on docker_plan_task's stack. */
struct ctx {
        const struct docker_task_spec *spec;
        const json_t *td;
        const char *mode; /* bridge, host, awsvpc or none */
        const char *family;
        int64_t revision; /* 0: the definition carries none (an unregistered file) */
        char region[ECS_REGION_MAX + 1];
        const char *task_role; /* override wins over the definition; NULL when none */
        char network[TASK_ID_MAX + 8];
        json_t *notes;    /* owned by the plan under construction */
        json_t *volumes;  /* ECS volume name -> {"kind": "bind"|"volume", "source": path or docker volume name} */
        struct err *e;
};

static int fail(struct ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct ctx *x, const char *fmt, ...) {
        char msg[sizeof(x->e->msg)];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return err_set(x->e, -EINVAL, ERR_KIND_CLIENT, "%s", msg);
}

static void note(struct ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct ctx *x, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        json_array_append_new(x->notes, json_vsprintf(fmt, ap));
        va_end(ap);
}

static void add(json_t *argv, const char *s) {
        json_array_append_new(argv, json_string(s));
}

static void addf(json_t *argv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(json_t *argv, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        json_array_append_new(argv, json_vsprintf(fmt, ap));
        va_end(ap);
}

static void add2(json_t *argv, const char *flag, const char *value) {
        add(argv, flag);
        add(argv, value);
}

static bool flag_on(const json_t *obj, const char *key) {
        return json_is_true(json_object_get(obj, key));
}


static int cmp_str(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* The keys of `obj` sorted, as a new array of borrowed strings (NULL when the object is empty); *n gets the count.
 * Sorting keeps argv deterministic whatever order the client sent. */
static const char **sorted_keys(json_t *obj, size_t *n) {
        *n = json_object_size(obj);
        if (*n == 0)
                return NULL;
        const char **keys = xcalloc(*n, sizeof(*keys));
        size_t i = 0;
        const char *k;
        json_t *v;
        json_object_foreach(obj, k, v) {
                if (i < *n)
                        keys[i++] = k;
        }
        *n = i;
        qsort(keys, *n, sizeof(*keys), cmp_str);
        return keys;
}

/* ---- environment names ---- */

bool docker_plan_env_name_reserved(const char *name) {
        static const char *const exact[] = {
                "PATH",       "HOME",          "TMPDIR",       "USER",        "SHELL",     "HTTP_PROXY",
                "HTTPS_PROXY", "NO_PROXY",     "ALL_PROXY",    "FTP_PROXY",   "SSL_CERT_FILE", "SSL_CERT_DIR",
                "GODEBUG",    "GOTRACEBACK",   "GOMAXPROCS",   "GOGC",        "GOMEMLIMIT", "REGISTRY_AUTH_FILE",
                "NOTARY_ROOT_PASSPHRASE",
        };
        static const char *const prefixes[] = {"DOCKER_", "XDG_", "CONTAINERS_", "CONTAINER_", "PODMAN_", "BUILDKIT_",
                                               "LD_"};
        for (size_t i = 0; i < ARRAY_SIZE(exact); i++)
                if (strcasecmp(name, exact[i]) == 0)
                        return true;
        for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++)
                if (strncasecmp(name, prefixes[i], strlen(prefixes[i])) == 0)
                        return true;
        return false;
}

/* ---- labels ---- */

static bool label_reserved(const char *key) {
        return strncmp(key, "com.amazonaws.ecs.", 18) == 0 || strncmp(key, "io.ecsd.", 8) == 0;
}

/* The labels every object of the task carries; `container` adds the container-name label. */
static void add_task_labels(const struct ctx *x, json_t *argv, const char *container) {
        const struct docker_task_spec *s = x->spec;
        addf(argv, "--label=com.amazonaws.ecs.cluster=%s", s->cluster_name);
        if (container)
                addf(argv, "--label=com.amazonaws.ecs.container-name=%s", container);
        addf(argv, "--label=com.amazonaws.ecs.task-arn=%s", s->task_arn);
        addf(argv, "--label=com.amazonaws.ecs.task-definition-family=%s", x->family);
        if (x->revision > 0)
                addf(argv, "--label=com.amazonaws.ecs.task-definition-version=%lld", (long long) x->revision);
        addf(argv, "--label=" DOCKER_LABEL_OWNER "=%s", s->owner_label);
        addf(argv, "--label=" DOCKER_LABEL_TASK_ID "=%s", s->task_id);
}

/* User labels from a map (dockerLabels, volume labels), sorted; ECS's and ecsd's own keys are dropped with a note so
 * a definition cannot disguise a container as another task's. */
static void add_user_labels(struct ctx *x, json_t *argv, json_t *labels, const char *where) {
        size_t n;
        _cleanup_free_ const char **keys = sorted_keys(labels, &n);
        for (size_t i = 0; i < n; i++) {
                const char *v = ecs_json_str(labels, keys[i], NULL);
                if (label_reserved(keys[i])) {
                        note(x, "%s: label '%s' is reserved for ECS and ecsd and was not applied", where, keys[i]);
                        continue;
                }
                addf(argv, "--label=%s=%s", keys[i], v ? v : "");
        }
}

static void docker_name(char *buf, size_t size, const struct ctx *x, const char *ecs_name) {
        str_printf(buf, size, "ecsd-%s-%s", x->spec->task_id, ecs_name);
}

/* ---- task-level pieces ---- */

static int plan_network(struct ctx *x, json_t *plan) {
        if (strcmp(x->mode, "awsvpc") != 0) {
                json_object_set_new(plan, "network", json_null());
                return 0;
        }
        str_printf(x->network, sizeof(x->network), "ecsd-%s", x->spec->task_id);
        json_auto_t *create = json_pack("[sss]", "docker", "network", "create");
        add2(create, "--driver", "bridge");
        add_task_labels(x, create, NULL);
        add(create, x->network);
        json_object_set_new(plan, "network",
                            json_pack("{s:s, s:O, s:[ssss]}", "name", x->network, "create", create, "remove",
                                      "docker", "network", "rm", x->network));
        return 0;
}

static bool has_char(const char *s, const char *set) {
        return strpbrk(s, set) != NULL;
}

/* Task volumes → x->volumes (for mountPoints) and the plan's "volumes" (what must be created and removed). */
static int plan_volumes(struct ctx *x, json_t *plan) {
        json_auto_t *out = json_array();
        size_t i;
        const json_t *v;
        json_array_foreach(json_object_get(x->td, "volumes"), i, v) {
                const char *name = ecs_json_str(v, "name", NULL);
                if (!name || !ecs_name_valid(name))
                        return fail(x, "Volume name '%s' is not valid.", name ? name : "");
                static const char *const unsupported[] = {"efsVolumeConfiguration", "fsxWindowsFileServerVolumeConfiguration",
                                                          "s3filesVolumeConfiguration"};
                for (size_t k = 0; k < ARRAY_SIZE(unsupported); k++)
                        if (json_object_get(v, unsupported[k]))
                                return fail(x, "Volume '%s': %s cannot be mounted by the docker backend.", name,
                                            unsupported[k]);
                if (flag_on(v, "configuredAtLaunch"))
                        return fail(x, "Volume '%s': volumes configured at launch (EBS) are not supported by the docker "
                                       "backend.", name);

                const char *src = ecs_json_str(json_object_get(v, "host"), "sourcePath", NULL);
                const json_t *dvc = json_object_get(v, "dockerVolumeConfiguration");
                if (src && *src) {
                        if (src[0] != '/' || has_char(src, ":,\n"))
                                return fail(x, "Volume '%s': host sourcePath '%s' must be an absolute path without "
                                               "':' or ','.", name, src);
                        json_object_set_new(x->volumes, name, json_pack("{s:s, s:s}", "kind", "bind", "source", src));
                        continue;
                }
                const char *scope = dvc ? ecs_json_str(dvc, "scope", NULL) : NULL;
                bool shared = scope && strcmp(scope, "shared") == 0;
                char dname[TASK_ID_MAX + 2 * ECS_NAME_MAX];
                if (shared)
                        str_printf(dname, sizeof(dname), "%s", name);
                else
                        docker_name(dname, sizeof(dname), x, name);
                if (dvc && !shared && json_object_get(dvc, "autoprovision"))
                        note(x, "volume %s: autoprovision only applies to shared volumes and was ignored", name);

                json_auto_t *create = json_pack("[sss]", "docker", "volume", "create");
                const char *driver = dvc ? ecs_json_str(dvc, "driver", NULL) : NULL;
                if (driver && *driver)
                        add2(create, "--driver", driver);
                json_t *opts = dvc ? json_object_get(dvc, "driverOpts") : NULL;
                size_t n;
                _cleanup_free_ const char **keys = sorted_keys(opts, &n);
                for (size_t k = 0; k < n; k++) {
                        add(create, "--opt");
                        addf(create, "%s=%s", keys[k], ecs_json_str(opts, keys[k], NULL) ? ecs_json_str(opts, keys[k], NULL) : "");
                }
                char where[ECS_NAME_MAX + 16];
                str_printf(where, sizeof(where), "volume %s", name);
                add_user_labels(x, create, dvc ? json_object_get(dvc, "labels") : NULL, where);
                if (shared) {
                        /* A shared volume outlives the task, so it carries no task or owner label: cleanup by label must
                         * never delete it. */
                        add(create, "--label=io.ecsd.scope=shared");
                } else {
                        add_task_labels(x, create, NULL);
                }
                add(create, dname);

                json_auto_t *entry = json_pack("{s:s, s:s, s:s}", "name", name, "docker_name", dname, "scope",
                                               shared ? "shared" : "task");
                if (shared) {
                        bool autoprovision = flag_on(dvc, "autoprovision");
                        json_object_set_new(entry, "create", autoprovision ? json_incref(create) : json_null());
                        json_object_set_new(entry, "must_exist", json_boolean(!autoprovision));
                        json_object_set_new(entry, "remove", json_null());
                } else {
                        json_object_set(entry, "create", create);
                        json_object_set_new(entry, "must_exist", json_false());
                        json_object_set_new(entry, "remove", json_pack("[ssss]", "docker", "volume", "rm", "-f"));
                        add(json_object_get(entry, "remove"), dname);
                }
                json_array_append(out, entry);
                json_object_set_new(x->volumes, name, json_pack("{s:s, s:s}", "kind", "volume", "source", dname));
        }
        json_object_set(plan, "volumes", out);
        return 0;
}

/* Task-level members that have no docker mapping: notes or errors, once per plan. */
static int plan_task_members(struct ctx *x) {
        const json_t *td = x->td, *ov = x->spec->overrides;
        if (json_array_size(json_object_get(td, "inferenceAccelerators")) > 0 ||
            json_array_size(json_object_get(ov, "inferenceAcceleratorOverrides")) > 0)
                return fail(x, "Inference accelerators are not supported by the docker backend.");
        const char *os = ecs_json_str(json_object_get(td, "runtimePlatform"), "operatingSystemFamily", NULL);
        if (os && strcmp(os, "LINUX") != 0)
                return fail(x, "runtimePlatform operatingSystemFamily '%s' cannot run on the docker backend; only LINUX "
                               "can.", os);
        const char *arch = ecs_json_str(json_object_get(td, "runtimePlatform"), "cpuArchitecture", NULL);
        if (arch)
                note(x, "runtimePlatform cpuArchitecture %s is not enforced: the image runs on the engine's platform",
                     arch);
        const char *cpu = ecs_json_str(ov, "cpu", NULL) ? ecs_json_str(ov, "cpu", NULL) : ecs_json_str(td, "cpu", NULL);
        const char *mem = ecs_json_str(ov, "memory", NULL) ? ecs_json_str(ov, "memory", NULL) : ecs_json_str(td, "memory", NULL);
        if (cpu || mem)
                note(x, "task-level cpu %s / memory %s are reported but not enforced; container limits are",
                     cpu ? cpu : "-", mem ? mem : "-");
        const char *pid = ecs_json_str(td, "pidMode", NULL);
        if (pid && strcmp(pid, "task") == 0)
                note(x, "pidMode task is not supported: each container has its own PID namespace");
        const char *ipc = ecs_json_str(td, "ipcMode", NULL);
        if (ipc && strcmp(ipc, "task") == 0)
                note(x, "ipcMode task is not supported: each container has its own IPC namespace");
        if (json_object_get(td, "proxyConfiguration"))
                note(x, "proxyConfiguration (App Mesh) is ignored");
        if (json_object_get(td, "ephemeralStorage") || json_object_get(ov, "ephemeralStorage"))
                note(x, "ephemeralStorage is ignored: containers use the engine's storage");
        if (flag_on(td, "enableFaultInjection"))
                note(x, "enableFaultInjection is ignored");
        if (x->task_role && (!x->spec->credentials_endpoint || !x->spec->credentials_id))
                note(x, "taskRoleArn is set but no credentials endpoint is configured: containers get no credentials");
        return 0;
}

/* ---- containers ---- */

/* The override for container `name`, or NULL. */
static const json_t *override_for(const struct ctx *x, const char *name) {
        size_t i;
        const json_t *o;
        json_array_foreach(json_object_get(x->spec->overrides, "containerOverrides"), i, o) {
                const char *n = ecs_json_str(o, "name", NULL);
                if (n && strcmp(n, name) == 0)
                        return o;
        }
        return NULL;
}

static const json_t *container_named(const struct ctx *x, const char *name) {
        size_t i;
        const json_t *c;
        json_array_foreach(json_object_get(x->td, "containerDefinitions"), i, c) {
                const char *n = ecs_json_str(c, "name", NULL);
                if (n && strcmp(n, name) == 0)
                        return c;
        }
        return NULL;
}

static int check_env_name(struct ctx *x, const char *cname, const char *name) {
        if (!name || !*name || has_char(name, "=\n\r"))
                return fail(x, "Invalid 'environment' setting for container '%s'. Environment variable name '%s' is "
                               "not valid.", cname, name ? name : "");
        return 0;
}

/* Put each pair of an ECS KeyValuePair list into `env` (later wins). */
static int merge_env(struct ctx *x, const char *cname, json_t *env, const json_t *list) {
        size_t i;
        const json_t *kv;
        json_array_foreach(list, i, kv) {
                const char *name = ecs_json_str(kv, "name", NULL), *value = ecs_json_str(kv, "value", NULL);
                int r = check_env_name(x, cname, name);
                if (r < 0)
                        return r;
                json_object_set_new(env, name, json_string(value ? value : ""));
        }
        return 0;
}

/* environmentFiles: ECS models them as S3 objects, which cannot be fetched here. An absolute local path (an ecsd
 * extension for local development) becomes --env-file: a path is not a secret, docker reads the values itself. */
static int add_env_files(struct ctx *x, const char *cname, json_t *argv, const json_t *list) {
        size_t i;
        const json_t *f;
        json_array_foreach(list, i, f) {
                const char *v = ecs_json_str(f, "value", NULL);
                if (v && v[0] == '/' && !has_char(v, "\n"))
                        add2(argv, "--env-file", v);
                else
                        return fail(x, "Invalid 'environmentFiles' setting for container '%s'. '%s' cannot be fetched "
                                       "by the docker backend (S3 is not reachable); use 'environment', or give an "
                                       "absolute path to a file on the docker host.", cname, v ? v : "");
        }
        return 0;
}

static int plan_env(struct ctx *x, const json_t *c, const json_t *ov, json_t *argv, json_t *cplan) {
        const char *cname = ecs_json_str(c, "name", NULL);
        json_auto_t *env = json_object();
        json_auto_t *secrets = json_array();
        json_auto_t *env_file = json_array();
        int r;
        if ((r = merge_env(x, cname, env, json_object_get(c, "environment"))) < 0 ||
            (r = merge_env(x, cname, env, json_object_get(ov, "environment"))) < 0)
                return r;

        /* Injected variables: the endpoints win over the definition (the container cannot work otherwise). */
        static const char *const injected[] = {"ECS_CONTAINER_METADATA_URI_V4", "ECS_CONTAINER_METADATA_URI",
                                               "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                               "AWS_CONTAINER_CREDENTIALS_FULL_URI"};
        json_object_set_new(env, injected[0],
                            json_sprintf("%s/%s/%s", x->spec->metadata_endpoint, x->spec->task_id, cname));
        json_object_set_new(env, injected[1],
                            json_sprintf("%s/%s/%s", x->spec->metadata_endpoint, x->spec->task_id, cname));
        /* The agent's endpoints (task protection) for this task, under the container's metadata path. */
        json_object_set_new(env, "ECS_AGENT_URI",
                            json_sprintf("%s/%s/%s/agent", x->spec->metadata_endpoint, x->spec->task_id, cname));
        if (x->task_role && x->spec->credentials_endpoint && x->spec->credentials_id) {
                /* One of the two, so an SDK cannot prefer a definition's own value to ours: ECS's address and port
                 * get the relative URI, exactly as on ECS; another listener the full URL. */
                json_object_del(env, injected[2]);
                json_object_del(env, injected[3]);
                if (strcmp(x->spec->credentials_endpoint, ECS_CREDENTIALS_URL) == 0)
                        json_object_set_new(env, injected[2],
                                            json_sprintf(ECS_CREDENTIALS_PATH "%s", x->spec->credentials_id));
                else
                        json_object_set_new(env, injected[3],
                                            json_sprintf("%s" ECS_CREDENTIALS_PATH "%s", x->spec->credentials_endpoint,
                                                         x->spec->credentials_id));
        }
        /* Fargate sets the region for SDKs; keep the definition's when it has one. */
        bool region_set = false;
        size_t i;
        const json_t *s;
        json_array_foreach(json_object_get(c, "secrets"), i, s) {
                const char *n = ecs_json_str(s, "name", NULL);
                if (n && (strcmp(n, "AWS_REGION") == 0 || strcmp(n, "AWS_DEFAULT_REGION") == 0))
                        region_set = true;
        }
        if (x->region[0] && !region_set) {
                if (!json_object_get(env, "AWS_REGION"))
                        json_object_set_new(env, "AWS_REGION", json_string(x->region));
                if (!json_object_get(env, "AWS_DEFAULT_REGION"))
                        json_object_set_new(env, "AWS_DEFAULT_REGION", json_string(x->region));
        }

        /* Secrets are resolved by the lifecycle; a secret wins over a plain variable of the same name. */
        json_array_foreach(json_object_get(c, "secrets"), i, s) {
                const char *n = ecs_json_str(s, "name", NULL), *from = ecs_json_str(s, "valueFrom", NULL);
                if ((r = check_env_name(x, cname, n)) < 0)
                        return r;
                if (!from || !*from)
                        return fail(x, "Invalid 'secrets' setting for container '%s'. 'valueFrom' of '%s' should not "
                                       "be empty.", cname, n);
                for (size_t k = 0; k < ARRAY_SIZE(injected); k++)
                        if (strcmp(n, injected[k]) == 0)
                                return fail(x, "Invalid 'secrets' setting for container '%s'. '%s' is set by ECS.",
                                            cname, n);
                if (json_object_get(env, n)) {
                        note(x, "container %s: secret %s replaces the environment variable of the same name", cname, n);
                        json_object_del(env, n);
                }
                json_array_append_new(secrets, json_pack("{s:s, s:s}", "name", n, "valueFrom", from));
        }

        if ((r = add_env_files(x, cname, argv, json_object_get(c, "environmentFiles"))) < 0 ||
            (r = add_env_files(x, cname, argv, json_object_get(ov, "environmentFiles"))) < 0)
                return r;

        /* Every name, sorted: plain variables and secrets alike get `-e NAME`, or the env-file pipe when the CLI
         * reads that name itself. */
        json_auto_t *names = json_array();
        const char *k;
        json_t *v;
        json_object_foreach(env, k, v)
                json_array_append_new(names, json_string(k));
        json_array_foreach(secrets, i, s)
                json_array_append(names, json_object_get(s, "name"));
        size_t n = json_array_size(names);
        _cleanup_free_ const char **sorted = n ? xcalloc(n, sizeof(*sorted)) : NULL;
        for (i = 0; i < n; i++)
                sorted[i] = json_string_value(json_array_get(names, i));
        if (n)
                qsort(sorted, n, sizeof(*sorted), cmp_str);
        json_auto_t *e_flags = json_array();
        for (i = 0; i < n; i++) {
                if (!docker_plan_env_name_reserved(sorted[i])) {
                        add2(e_flags, "-e", sorted[i]);
                        continue;
                }
                const char *value = ecs_json_str(env, sorted[i], NULL);
                if (value && has_char(value, "\n\r"))
                        return fail(x, "Invalid 'environment' setting for container '%s'. The value of '%s' cannot "
                                       "contain a line break (the docker CLI reads that name itself, so it is passed "
                                       "through an env file).", cname, sorted[i]);
                json_array_append_new(env_file, json_string(sorted[i]));
        }
        if (json_array_size(env_file) > 0) {
                add(argv, "--env-file");
                addf(argv, "/dev/fd/%d", DOCKER_PLAN_ENV_FILE_FD);
        }
        json_array_extend(argv, e_flags);

        json_object_set(cplan, "env", env);
        json_object_set(cplan, "env_file", env_file);
        json_object_set(cplan, "secrets", secrets);
        return 0;
}

static void publish_addr(const struct ctx *x, char *buf, size_t size) {
        const char *a = x->spec->publish_address;
        if (!a || !*a)
                buf[0] = '\0';
        else if (strchr(a, ':'))
                str_printf(buf, size, "[%s]:", a);
        else
                str_printf(buf, size, "%s:", a);
}

static int plan_network_flags(struct ctx *x, const json_t *c, json_t *argv) {
        const char *cname = ecs_json_str(c, "name", NULL);
        bool awsvpc = strcmp(x->mode, "awsvpc") == 0, bridge = strcmp(x->mode, "bridge") == 0;
        bool no_net = strcmp(x->mode, "none") == 0 || flag_on(c, "disableNetworking");
        const json_t *ports = json_object_get(c, "portMappings");
        const json_t *links = json_object_get(c, "links");

        if (flag_on(c, "disableNetworking")) {
                add2(argv, "--network", "none");
                if (json_array_size(ports) > 0)
                        note(x, "container %s: disableNetworking drops its portMappings", cname);
                if (json_array_size(links) > 0)
                        note(x, "container %s: disableNetworking drops its links", cname);
        } else if (awsvpc) {
                add2(argv, "--network", x->network);
                add2(argv, "--network-alias", cname);
        } else {
                add2(argv, "--network", x->mode);
        }

        const char *hostname = ecs_json_str(c, "hostname", NULL);
        if (hostname && *hostname) {
                if (awsvpc)
                        return fail(x, "Invalid 'hostname' setting for container '%s'. The hostname parameter is not "
                                       "supported with networkMode awsvpc.", cname);
                add2(argv, "--hostname", hostname);
        }

        if (!no_net) {
                size_t i;
                const json_t *l;
                json_array_foreach(links, i, l) {
                        if (!bridge)
                                return fail(x, "Invalid 'links' setting for container '%s'. Links are only supported "
                                               "with networkMode bridge.", cname);
                        const char *link = json_string_value(l);
                        char target[ECS_NAME_MAX + 1] = {0}, dname[TASK_ID_MAX + 2 * ECS_NAME_MAX];
                        const char *colon = link ? strchr(link, ':') : NULL;
                        size_t tlen = link ? (colon ? (size_t) (colon - link) : strlen(link)) : 0;
                        if (tlen == 0 || tlen > ECS_NAME_MAX)
                                return fail(x, "Invalid 'links' setting for container '%s'. '%s' is not a link.",
                                            cname, link ? link : "");
                        memcpy(target, link, tlen);
                        const char *alias = colon ? colon + 1 : target;
                        if (!container_named(x, target) || strcmp(target, cname) == 0)
                                return fail(x, "Invalid 'links' setting for container '%s'. Unknown container '%s'.",
                                            cname, target);
                        if (!*alias || has_char(alias, ": \n"))
                                return fail(x, "Invalid 'links' setting for container '%s'. Alias '%s' is not valid.",
                                            cname, alias);
                        docker_name(dname, sizeof(dname), x, target);
                        add(argv, "--link");
                        addf(argv, "%s:%s", dname, alias);
                }

                char ip[128];
                publish_addr(x, ip, sizeof(ip));
                const json_t *pm;
                json_array_foreach(ports, i, pm) {
                        if (!bridge && !awsvpc)
                                break; /* host mode: the container's ports are the host's */
                        const char *proto = ecs_json_str(pm, "protocol", NULL) ? ecs_json_str(pm, "protocol", NULL) : "tcp";
                        const char *range = ecs_json_str(pm, "containerPortRange", NULL);
                        int64_t cport = 0, hport = 0;
                        bool has_cport = ecs_json_int(pm, "containerPort", &cport);
                        ecs_json_int(pm, "hostPort", &hport);
                        if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0)
                                return fail(x, "Invalid port mapping for container '%s'. Protocol '%s' is not tcp or "
                                               "udp.", cname, proto);
                        add(argv, "-p");
                        if (range && *range)
                                addf(argv, "%s%s%s/%s", ip, *ip ? ":" : "", range, proto);
                        else if (!has_cport || cport < 1 || cport > 65535 || hport < 0 || hport > 65535)
                                return fail(x, "Invalid port mapping for container '%s'. containerPort must be between "
                                               "1 and 65535.", cname);
                        /* awsvpc: the task's own network is not the host's, so its ports are published on dynamic
                         * host ports (read back like bridge mode) and several tasks never collide. */
                        else if (bridge && hport > 0)
                                addf(argv, "%s%lld:%lld/%s", ip, (long long) hport, (long long) cport, proto);
                        else
                                addf(argv, "%s%s%lld/%s", ip, *ip ? ":" : "", (long long) cport, proto);
                }
                if (x->spec->host_alias && *x->spec->host_alias) {
                        add(argv, "--add-host");
                        addf(argv, "%s:host-gateway", x->spec->host_alias);
                }
        }

        size_t i;
        const json_t *h;
        json_array_foreach(json_object_get(c, "extraHosts"), i, h) {
                const char *hn = ecs_json_str(h, "hostname", NULL), *ipaddr = ecs_json_str(h, "ipAddress", NULL);
                if (!hn || !ipaddr || !*hn || !*ipaddr || has_char(hn, ": \n"))
                        return fail(x, "Invalid 'extraHosts' setting for container '%s'.", cname);
                add(argv, "--add-host");
                addf(argv, "%s:%s", hn, ipaddr);
        }
        json_array_foreach(json_object_get(c, "dnsServers"), i, h)
                if (json_string_value(h))
                        add2(argv, "--dns", json_string_value(h));
        json_array_foreach(json_object_get(c, "dnsSearchDomains"), i, h)
                if (json_string_value(h))
                        add2(argv, "--dns-search", json_string_value(h));
        return 0;
}

static int plan_resources(struct ctx *x, const json_t *c, const json_t *ov, json_t *argv) {
        const char *cname = ecs_json_str(c, "name", NULL);
        int64_t cpu = 0, mem = 0, res = 0;
        if (!ecs_json_int(ov, "cpu", &cpu))
                ecs_json_int(c, "cpu", &cpu);
        bool has_mem = ecs_json_int(ov, "memory", &mem) || ecs_json_int(c, "memory", &mem);
        bool has_res = ecs_json_int(ov, "memoryReservation", &res) || ecs_json_int(c, "memoryReservation", &res);
        if (cpu < 0)
                return fail(x, "Invalid 'cpu' setting for container '%s'. It must not be negative.", cname);
        if (has_mem && mem < MEMORY_MIN_MIB)
                return fail(x, "Invalid 'memory' setting for container '%s'. The minimum is 6 MiB.", cname);
        if (has_res && res < MEMORY_MIN_MIB)
                return fail(x, "Invalid 'memoryReservation' setting for container '%s'. The minimum is 6 MiB.", cname);
        if (has_mem && has_res && res > mem)
                return fail(x, "Invalid setting for container '%s'. 'memoryReservation' must be less than or equal to "
                               "'memory'.", cname);
        if (json_array_size(json_object_get(c, "resourceRequirements")) > 0 ||
            json_array_size(json_object_get(ov, "resourceRequirements")) > 0)
                return fail(x, "Invalid 'resourceRequirements' setting for container '%s'. GPUs and inference "
                               "accelerators cannot be assigned by the docker backend.", cname);

        /* The agent gives a container with 0 or 1 CPU units the kernel's minimum of 2 shares. */
        add(argv, "--cpu-shares");
        addf(argv, "%lld", (long long) (cpu < CPU_SHARES_MIN ? CPU_SHARES_MIN : cpu));
        if (has_mem) {
                add(argv, "--memory");
                addf(argv, "%lldm", (long long) mem);
        }
        if (has_res) {
                add(argv, "--memory-reservation");
                addf(argv, "%lldm", (long long) res);
        }

        const json_t *lp = json_object_get(c, "linuxParameters");
        int64_t swap = 0, swappiness = 60, shm = 0;
        if (ecs_json_int(lp, "maxSwap", &swap)) {
                if (!has_mem) {
                        note(x, "container %s: linuxParameters maxSwap needs a container 'memory' limit and was ignored",
                             cname);
                } else if (swap < 0) {
                        return fail(x, "Invalid 'maxSwap' setting for container '%s'. It must not be negative.", cname);
                } else {
                        /* docker's --memory-swap is memory plus swap. */
                        add(argv, "--memory-swap");
                        addf(argv, "%lldm", (long long) (mem + swap));
                        ecs_json_int(lp, "swappiness", &swappiness);
                        if (swappiness < 0 || swappiness > 100)
                                return fail(x, "Invalid 'swappiness' setting for container '%s'. It must be between 0 "
                                               "and 100.", cname);
                        add(argv, "--memory-swappiness");
                        addf(argv, "%lld", (long long) swappiness);
                }
        } else if (json_object_get(lp, "swappiness")) {
                note(x, "container %s: linuxParameters swappiness only applies with maxSwap and was ignored", cname);
        }
        if (ecs_json_int(lp, "sharedMemorySize", &shm)) {
                if (shm < 1)
                        return fail(x, "Invalid 'sharedMemorySize' setting for container '%s'. It must be at least 1 "
                                       "MiB.", cname);
                add(argv, "--shm-size");
                addf(argv, "%lldm", (long long) shm);
        }

        size_t i;
        const json_t *u;
        json_array_foreach(json_object_get(c, "ulimits"), i, u) {
                int64_t soft = 0, hard = 0;
                const char *name = ecs_json_str(u, "name", NULL);
                if (!name || !ecs_json_int(u, "softLimit", &soft) || !ecs_json_int(u, "hardLimit", &hard) || soft > hard)
                        return fail(x, "Invalid 'ulimits' setting for container '%s'.", cname);
                add(argv, "--ulimit");
                addf(argv, "%s=%lld:%lld", name, (long long) soft, (long long) hard);
        }
        return 0;
}

static int plan_mounts(struct ctx *x, const json_t *c, json_t *argv) {
        const char *cname = ecs_json_str(c, "name", NULL);
        size_t i;
        const json_t *m;
        json_array_foreach(json_object_get(c, "mountPoints"), i, m) {
                const char *vol = ecs_json_str(m, "sourceVolume", NULL), *path = ecs_json_str(m, "containerPath", NULL);
                const json_t *v = vol ? json_object_get(x->volumes, vol) : NULL;
                if (!v)
                        return fail(x, "Unknown volume '%s'.", vol ? vol : "null");
                if (!path || path[0] != '/' || has_char(path, ":,\n"))
                        return fail(x, "Invalid 'mountPoints' setting for container '%s'. containerPath '%s' must be an "
                                       "absolute path without ':' or ','.", cname, path ? path : "");
                add(argv, "-v");
                addf(argv, "%s:%s%s", ecs_json_str(v, "source", NULL), path, flag_on(m, "readOnly") ? ":ro" : "");
        }
        json_array_foreach(json_object_get(c, "volumesFrom"), i, m) {
                const char *src = ecs_json_str(m, "sourceContainer", NULL);
                char dname[TASK_ID_MAX + 2 * ECS_NAME_MAX];
                if (!src || !container_named(x, src) || strcmp(src, cname) == 0)
                        return fail(x, "Invalid 'volumesFrom' setting for container '%s'. Unknown source container "
                                       "'%s'.", cname, src ? src : "");
                docker_name(dname, sizeof(dname), x, src);
                add(argv, "--volumes-from");
                addf(argv, "%s%s", dname, flag_on(m, "readOnly") ? ":ro" : "");
        }
        const json_t *t;
        json_array_foreach(json_object_get(json_object_get(c, "linuxParameters"), "tmpfs"), i, t) {
                const char *path = ecs_json_str(t, "containerPath", NULL);
                int64_t size = 0;
                if (!path || path[0] != '/' || has_char(path, ":,\n") || !ecs_json_int(t, "size", &size) || size < 1)
                        return fail(x, "Invalid 'tmpfs' setting for container '%s'. It needs an absolute containerPath "
                                       "and a size of at least 1 MiB.", cname);
                _cleanup_free_ char *spec = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&spec, &len);
                if (!f)
                        return err_set(x->e, -ENOMEM, ERR_KIND_INTERNAL, "Out of memory.");
                fprintf(f, "%s:size=%lldm", path, (long long) size);
                size_t k;
                const json_t *o;
                json_array_foreach(json_object_get(t, "mountOptions"), k, o) {
                        const char *opt = json_string_value(o);
                        if (!opt || !*opt || has_char(opt, ",\n"))
                                continue;
                        fprintf(f, ",%s", opt);
                }
                if (fclose(f) != 0)
                        return err_set(x->e, -ENOMEM, ERR_KIND_INTERNAL, "Out of memory.");
                add2(argv, "--tmpfs", spec);
        }
        return 0;
}

static int plan_security(struct ctx *x, const json_t *c, json_t *argv) {
        const char *cname = ecs_json_str(c, "name", NULL);
        const json_t *lp = json_object_get(c, "linuxParameters");
        const char *user = ecs_json_str(c, "user", "");
        const char *workdir = ecs_json_str(c, "workingDirectory", "");
        if (*user)
                add2(argv, "--user", user);
        if (*workdir)
                add2(argv, "--workdir", workdir);
        if (flag_on(c, "readonlyRootFilesystem"))
                add(argv, "--read-only");
        if (flag_on(c, "privileged"))
                add(argv, "--privileged");
        size_t i;
        const json_t *v;
        json_array_foreach(json_object_get(json_object_get(lp, "capabilities"), "add"), i, v)
                if (json_string_value(v))
                        add2(argv, "--cap-add", json_string_value(v));
        json_array_foreach(json_object_get(json_object_get(lp, "capabilities"), "drop"), i, v)
                if (json_string_value(v))
                        add2(argv, "--cap-drop", json_string_value(v));
        json_array_foreach(json_object_get(lp, "devices"), i, v) {
                const char *host = ecs_json_str(v, "hostPath", NULL), *cpath = ecs_json_str(v, "containerPath", NULL);
                if (!host || host[0] != '/' || has_char(host, ":\n") || (cpath && has_char(cpath, ":\n")))
                        return fail(x, "Invalid 'devices' setting for container '%s'. hostPath must be an absolute "
                                       "path.", cname);
                char perms[4] = {0};
                size_t np = 0, k;
                const json_t *p;
                json_array_foreach(json_object_get(v, "permissions"), k, p) {
                        const char *s = json_string_value(p);
                        char ch = !s ? 0 : strcmp(s, "read") == 0 ? 'r' : strcmp(s, "write") == 0 ? 'w'
                                                                : strcmp(s, "mknod") == 0 ? 'm' : 0;
                        if (ch && !memchr(perms, ch, np) && np < 3)
                                perms[np++] = ch;
                }
                add(argv, "--device");
                if (np)
                        addf(argv, "%s:%s:%s", host, cpath && *cpath ? cpath : host, perms);
                else if (cpath && *cpath)
                        addf(argv, "%s:%s", host, cpath);
                else
                        add(argv, host);
        }
        json_array_foreach(json_object_get(c, "dockerSecurityOptions"), i, v)
                if (json_string_value(v))
                        add2(argv, "--security-opt", json_string_value(v));
        json_array_foreach(json_object_get(c, "systemControls"), i, v) {
                const char *ns = ecs_json_str(v, "namespace", NULL), *val = ecs_json_str(v, "value", NULL);
                if (!ns || !*ns || !val || has_char(ns, "=\n"))
                        return fail(x, "Invalid 'systemControls' setting for container '%s'.", cname);
                add(argv, "--sysctl");
                addf(argv, "%s=%s", ns, val);
        }
        const char *pid = ecs_json_str(x->td, "pidMode", NULL), *ipc = ecs_json_str(x->td, "ipcMode", NULL);
        if (pid && strcmp(pid, "host") == 0)
                add2(argv, "--pid", "host");
        if (ipc && (strcmp(ipc, "host") == 0 || strcmp(ipc, "none") == 0))
                add2(argv, "--ipc", ipc);
        if (flag_on(lp, "initProcessEnabled"))
                add(argv, "--init");
        if (flag_on(c, "interactive"))
                add(argv, "-i");
        if (flag_on(c, "pseudoTerminal"))
                add(argv, "-t");
        return 0;
}

/* Append `s` to `f` as one word for `sh -c` (the CMD health-check form). */
static void shell_word(FILE *f, const char *s, bool first) {
        if (!first)
                fputc(' ', f);
        docker_quote_word(f, s);
}

static int plan_health(struct ctx *x, const json_t *c, json_t *argv, bool *ret_has) {
        const char *cname = ecs_json_str(c, "name", NULL);
        const json_t *hc = json_object_get(c, "healthCheck");
        *ret_has = false;
        if (!hc)
                return 0;
        const json_t *cmd = json_object_get(hc, "command");
        const char *kind = json_string_value(json_array_get(cmd, 0));
        size_t n = json_array_size(cmd);
        if (kind && strcmp(kind, "NONE") == 0) {
                add(argv, "--no-healthcheck");
                return 0;
        }
        if (!kind || (strcmp(kind, "CMD-SHELL") != 0 && strcmp(kind, "CMD") != 0) || n < 2)
                return fail(x, "Invalid 'healthCheck' setting for container '%s'. 'command' must start with CMD or "
                               "CMD-SHELL and name a command.", cname);
        _cleanup_free_ char *line = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&line, &len);
        if (!f)
                return err_set(x->e, -ENOMEM, ERR_KIND_INTERNAL, "Out of memory.");
        bool shell = strcmp(kind, "CMD-SHELL") == 0;
        for (size_t i = 1; i < n; i++) {
                const char *w = json_string_value(json_array_get(cmd, i));
                if (!w)
                        w = "";
                /* docker --health-cmd always means CMD-SHELL; the exec form is quoted into one shell line. */
                if (shell)
                        fprintf(f, "%s%s", i > 1 ? " " : "", w);
                else
                        shell_word(f, w, i == 1);
        }
        if (fclose(f) != 0)
                return err_set(x->e, -ENOMEM, ERR_KIND_INTERNAL, "Out of memory.");
        if (!shell)
                note(x, "container %s: healthCheck CMD form runs through /bin/sh -c as a quoted command line (docker "
                        "--health-cmd has no exec form); the image needs /bin/sh", cname);
        else if (n > 2)
                note(x, "container %s: healthCheck CMD-SHELL words were joined with spaces into one shell command",
                     cname);
        add2(argv, "--health-cmd", line);
        int64_t interval = 30, timeout = 5, retries = 3, start = 0;
        ecs_json_int(hc, "interval", &interval);
        ecs_json_int(hc, "timeout", &timeout);
        ecs_json_int(hc, "retries", &retries);
        ecs_json_int(hc, "startPeriod", &start);
        if (interval < 1 || timeout < 1 || retries < 0 || start < 0)
                return fail(x, "Invalid 'healthCheck' setting for container '%s'.", cname);
        add(argv, "--health-interval");
        addf(argv, "%llds", (long long) interval);
        add(argv, "--health-timeout");
        addf(argv, "%llds", (long long) timeout);
        add(argv, "--health-retries");
        addf(argv, "%lld", (long long) retries);
        add(argv, "--health-start-period");
        addf(argv, "%llds", (long long) start);
        *ret_has = true;
        return 0;
}

static int plan_logging(struct ctx *x, const json_t *c, json_t *argv) {
        const char *cname = ecs_json_str(c, "name", NULL);
        const json_t *lc = json_object_get(c, "logConfiguration");
        const char *driver = ecs_json_str(lc, "logDriver", NULL);
        if (!driver)
                return 0;
        static const char *const local[] = {"json-file", "local", "none", "syslog", "journald", "gelf", "fluentd"};
        bool passthrough = false;
        for (size_t i = 0; i < ARRAY_SIZE(local); i++)
                passthrough |= strcmp(driver, local[i]) == 0;
        if (!passthrough) {
                /* Cloud drivers (awslogs, splunk, awsfirelens) cannot reach their service from here. */
                note(x, "container %s: logDriver %s cannot deliver logs locally; json-file is used instead (docker logs "
                        "and ecsd's task logs still work), its options were dropped", cname, driver);
                add2(argv, "--log-driver", "json-file");
                return 0;
        }
        if (json_array_size(json_object_get(lc, "secretOptions")) > 0)
                return fail(x, "Invalid 'logConfiguration' setting for container '%s'. secretOptions cannot be passed "
                               "to the %s driver without putting secret values on the docker command line.", cname,
                            driver);
        add2(argv, "--log-driver", driver);
        json_t *opts = json_object_get(lc, "options");
        size_t n;
        _cleanup_free_ const char **keys = sorted_keys(opts, &n);
        for (size_t i = 0; i < n; i++) {
                add(argv, "--log-opt");
                addf(argv, "%s=%s", keys[i], ecs_json_str(opts, keys[i], NULL) ? ecs_json_str(opts, keys[i], NULL) : "");
        }
        return 0;
}

/* Container members that have no docker mapping. */
static void container_notes(struct ctx *x, const json_t *c) {
        const char *cname = ecs_json_str(c, "name", NULL);
        static const struct {
                const char *member, *why;
        } ignored[] = {
                {"repositoryCredentials", "images are pulled with the docker engine's own credentials"},
                {"restartPolicy", "container restart policies are not supported yet"},
                {"firelensConfiguration", "FireLens is not available locally"},
                {"credentialSpecs", "gMSA credential specs are not available locally"},
        };
        for (size_t i = 0; i < ARRAY_SIZE(ignored); i++)
                if (json_object_get(c, ignored[i].member))
                        note(x, "container %s: %s is ignored: %s", cname, ignored[i].member, ignored[i].why);
        const char *vc = ecs_json_str(c, "versionConsistency", NULL);
        if (vc && strcmp(vc, "enabled") == 0)
                note(x, "container %s: versionConsistency is not enforced: the tag is resolved at each pull", cname);
}

/* depends_on: the definition's dependsOn, plus a START dependency on each link target and volumesFrom source that
 * it does not already name (the agent waits for those too: docker needs them to exist). */
static json_t *depends_on(const json_t *c) {
        json_t *deps = json_array();
        size_t i;
        const json_t *d;
        json_array_foreach(json_object_get(c, "dependsOn"), i, d)
                json_array_append_new(deps, json_pack("{s:s?, s:s?}", "containerName", ecs_json_str(d, "containerName", NULL),
                                                      "condition", ecs_json_str(d, "condition", NULL)));
        json_auto_t *implicit = json_array();
        json_array_foreach(json_object_get(c, "links"), i, d) {
                const char *l = json_string_value(d);
                if (!l)
                        continue;
                const char *colon = strchr(l, ':');
                json_array_append_new(implicit, json_stringn(l, colon ? (size_t) (colon - l) : strlen(l)));
        }
        json_array_foreach(json_object_get(c, "volumesFrom"), i, d)
                if (ecs_json_str(d, "sourceContainer", NULL))
                        json_array_append_new(implicit, json_string(ecs_json_str(d, "sourceContainer", NULL)));
        const json_t *name;
        json_array_foreach(implicit, i, name) {
                bool named = false;
                size_t k;
                const json_t *e;
                json_array_foreach(deps, k, e)
                        named |= json_equal(json_object_get(e, "containerName"), name);
                if (!named)
                        json_array_append_new(deps, json_pack("{s:O, s:s}", "containerName", name, "condition",
                                                              "START"));
        }
        return deps;
}

static int plan_container(struct ctx *x, const json_t *c, json_t **ret) {
        const char *cname = ecs_json_str(c, "name", NULL), *image = ecs_json_str(c, "image", NULL);
        if (!cname || !ecs_name_valid(cname))
                return fail(x, "Container.name '%s' is not valid.", cname ? cname : "");
        if (!image || !*image)
                return fail(x, "Container.image should not be null or empty (container '%s').", cname);
        /* The image is the first positional word of `docker run`: one starting with '-' would be read as a flag. */
        if (image[0] == '-' || has_char(image, " \t\n"))
                return fail(x, "Invalid 'image' setting for container '%s'. '%s' is not an image reference.", cname,
                            image);
        const json_t *ov = override_for(x, cname);
        char dname[TASK_ID_MAX + 2 * ECS_NAME_MAX];
        docker_name(dname, sizeof(dname), x, cname);
        int64_t stop = x->spec->default_stop_timeout_s > 0 ? x->spec->default_stop_timeout_s
                                                              : DOCKER_PLAN_STOP_TIMEOUT_DEFAULT_S;
        ecs_json_int(c, "stopTimeout", &stop);
        if (stop < 0)
                return fail(x, "Invalid 'stopTimeout' setting for container '%s'. It must not be negative.", cname);

        json_auto_t *cp = json_pack("{s:s, s:s, s:s, s:b}", "name", cname, "docker_name", dname, "image", image,
                                    "essential", !json_is_false(json_object_get(c, "essential")));
        /* One `docker run -d` creates and starts the container: one CLI process and one call fewer than create +
         * start, which is most of what a start costs ecsd beyond the engine's own work (bench/README.md). The id is
         * known once it returns; the metadata endpoint waits for it, and a StopTask that lands meanwhile stops the
         * container right after (docs/internals/lifecycle.md). --pull never: ecsd pulls by its pull behaviour,
         * never the CLI behind its back. */
        json_auto_t *run = json_pack("[sssss]", "docker", "run", "-d", "--pull", "never");
        add2(run, "--name", dname);
        add_user_labels(x, run, json_object_get(c, "dockerLabels"), cname);
        add_task_labels(x, run, cname);

        int r;
        bool health = false;
        if ((r = plan_network_flags(x, c, run)) < 0 || (r = plan_env(x, c, ov, run, cp)) < 0 ||
            (r = plan_resources(x, c, ov, run)) < 0 || (r = plan_mounts(x, c, run)) < 0 ||
            (r = plan_security(x, c, run)) < 0 || (r = plan_health(x, c, run, &health)) < 0)
                return r;
        add(run, "--stop-timeout");
        addf(run, "%lld", (long long) stop);
        if ((r = plan_logging(x, c, run)) < 0)
                return r;
        container_notes(x, c);

        /* --entrypoint takes one word: the rest of entryPoint goes before the command. */
        const json_t *ep = json_object_get(c, "entryPoint");
        const json_t *cmd = json_array_size(json_object_get(ov, "command")) > 0 ? json_object_get(ov, "command")
                                                                                : json_object_get(c, "command");
        if (json_array_size(ep) > 0)
                add2(run, "--entrypoint", json_string_value(json_array_get(ep, 0)) ?
                                                  json_string_value(json_array_get(ep, 0)) : "");
        add(run, image);
        for (size_t i = 1; i < json_array_size(ep); i++)
                add(run, json_string_value(json_array_get(ep, i)) ? json_string_value(json_array_get(ep, i)) : "");
        for (size_t i = 0; i < json_array_size(cmd); i++)
                add(run, json_string_value(json_array_get(cmd, i)) ? json_string_value(json_array_get(cmd, i)) : "");

        json_object_set_new(cp, "pull", json_pack("[sss]", "docker", "pull", image));
        json_object_set(cp, "run", run);
        json_auto_t *stop_argv = json_pack("[sss]", "docker", "stop", "--time");
        addf(stop_argv, "%lld", (long long) stop);
        add(stop_argv, dname);
        json_object_set(cp, "stop", stop_argv);
        json_object_set_new(cp, "stop_timeout_s", json_integer(stop));
        json_object_set_new(cp, "remove", json_pack("[sssss]", "docker", "rm", "-f", "-v", dname));
        int64_t start_timeout = 0;
        if (ecs_json_int(c, "startTimeout", &start_timeout))
                json_object_set_new(cp, "start_timeout_s", json_integer(start_timeout));
        json_object_set_new(cp, "health_check", json_boolean(health));
        json_object_set_new(cp, "depends_on", depends_on(c));
        *ret = cp;
        cp = NULL;
        return 0;
}

/* Kahn's algorithm over depends_on, always taking the first ready container in definition order, so the result is
 * stable and reads like the definition. At most 10 containers: the quadratic rescans cost nothing. */
static int plan_order(struct ctx *x, json_t *plan) {
        const json_t *cs = json_object_get(plan, "containers");
        size_t n = json_array_size(cs);
        _cleanup_free_ bool *done = xcalloc(n ? n : 1, sizeof(bool));
        json_auto_t *order = json_array();
        for (size_t placed = 0; placed < n;) {
                bool progress = false;
                for (size_t i = 0; i < n; i++) {
                        if (done[i])
                                continue;
                        bool ready = true;
                        size_t k;
                        const json_t *d;
                        json_array_foreach(json_object_get(json_array_get(cs, i), "depends_on"), k, d) {
                                const char *dn = ecs_json_str(d, "containerName", NULL);
                                bool found = false;
                                for (size_t j = 0; j < n; j++)
                                        if (dn && strcmp(dn, ecs_json_str(json_array_get(cs, j), "name", NULL)) == 0) {
                                                found = true;
                                                ready &= done[j];
                                        }
                                if (!found)
                                        return fail(x, "Invalid 'dependsOn' setting for container '%s'. Unknown "
                                                       "container '%s'.",
                                                    ecs_json_str(json_array_get(cs, i), "name", NULL), dn ? dn : "");
                        }
                        if (!ready)
                                continue;
                        done[i] = true;
                        placed++;
                        progress = true;
                        json_array_append(order, json_object_get(json_array_get(cs, i), "name"));
                        break; /* rescan from the top: the earliest ready container in the definition goes next */
                }
                if (!progress) {
                        for (size_t i = 0; i < n; i++)
                                if (!done[i])
                                        return fail(x, "Invalid 'dependsOn' setting for container '%s'. Circular "
                                                       "dependency between containers.",
                                                    ecs_json_str(json_array_get(cs, i), "name", NULL));
                }
        }
        json_object_set(plan, "order", order);
        return 0;
}

static bool id_valid(const char *s) {
        size_t n = s ? strlen(s) : 0;
        return n > 0 && n <= TASK_ID_MAX && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

int docker_plan_task(const struct docker_task_spec *spec, json_t **ret, struct err *e) {
        if (!spec || !json_is_object(spec->taskdef) || !spec->task_arn || !id_valid(spec->task_id) ||
            !spec->cluster_name || !spec->metadata_endpoint || !spec->owner_label)
                return err_set(e, -EINVAL, ERR_KIND_INTERNAL,
                               "docker plan: the task spec needs a task definition, task ARN, task id "
                               "([A-Za-z0-9_-], at most 64), cluster, metadata endpoint and owner label.");
        json_auto_t *notes = json_array();
        json_auto_t *volumes = json_object();
        struct ctx x = {
                .spec = spec,
                .td = spec->taskdef,
                .mode = ecs_json_str(spec->taskdef, "networkMode", NULL) ? ecs_json_str(spec->taskdef, "networkMode", NULL) : "bridge",
                .family = ecs_json_str(spec->taskdef, "family", NULL),
                .notes = notes,
                .volumes = volumes,
                .e = e,
        };
        if (!x.family || !ecs_name_valid(x.family))
                return fail(&x, "Family '%s' is not valid.", x.family ? x.family : "");
        ecs_json_int(spec->taskdef, "revision", &x.revision);
        static const char *const modes[] = {"bridge", "host", "awsvpc", "none"};
        bool mode_ok = false;
        for (size_t i = 0; i < ARRAY_SIZE(modes); i++)
                mode_ok |= strcmp(x.mode, modes[i]) == 0;
        if (!mode_ok)
                return fail(&x, "networkMode '%s' is not supported by the docker backend.", x.mode);
        struct ecs_arn arn;
        if (ecs_arn_parse(spec->task_arn, &arn, NULL) == 0)
                str_printf(x.region, sizeof(x.region), "%s", arn.region);
        x.task_role = ecs_json_str(spec->overrides, "taskRoleArn", NULL) ? ecs_json_str(spec->overrides, "taskRoleArn", NULL)
                                                          : ecs_json_str(spec->taskdef, "taskRoleArn", NULL);
        if (x.task_role && !*x.task_role)
                x.task_role = NULL;

        const json_t *defs = json_object_get(spec->taskdef, "containerDefinitions");
        if (json_array_size(defs) == 0)
                return fail(&x, "Container list cannot be empty.");
        size_t i;
        const json_t *o;
        json_array_foreach(json_object_get(spec->overrides, "containerOverrides"), i, o) {
                const char *n = ecs_json_str(o, "name", NULL);
                if (!n || !container_named(&x, n))
                        return fail(&x, "Invalid container override: '%s' is not a container of task definition "
                                        "'%s'.", n ? n : "", x.family);
        }

        json_auto_t *plan = json_object();
        int r;
        if ((r = plan_task_members(&x)) < 0 || (r = plan_network(&x, plan)) < 0 || (r = plan_volumes(&x, plan)) < 0)
                return r;
        json_auto_t *containers = json_array();
        const json_t *c;
        json_array_foreach(defs, i, c) {
                json_t *cp = NULL;
                if ((r = plan_container(&x, c, &cp)) < 0)
                        return r;
                json_array_append_new(containers, cp);
        }
        json_object_set(plan, "containers", containers);
        if ((r = plan_order(&x, plan)) < 0)
                return r;
        json_object_set(plan, "notes", notes);
        *ret = plan;
        plan = NULL;
        return 0;
}
