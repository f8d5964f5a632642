/* pod.c — task definition + task identity + overrides → the Pod manifest that runs the task.
 *
 * A pure function: it reads borrowed JSON and the spec, builds a new Pod object and touches nothing else, so it is
 * safe from any thread. Every mapping decision (what maps to which Pod field, what is ignored with a note, what is
 * rejected) is in docs/internals/k8s-pod.md; keep that table in step with this file. The decisions mirror the docker
 * plan (pkg/docker/plan.c) wherever a Pod can do what docker does.
 *
 * Invariants the tests check:
 * - restartPolicy Never, the Pod named ecsd-<task id>, ecsd's labels (valid label values) and the ECS annotations;
 * - no secret value anywhere: each ECS secret becomes a secretKeyRef;
 * - init containers run in a topological order of dependsOn; a dependency the Pod cannot express (its upstream would be
 *   a regular container, which the kubelet starts together with the others) is refused with -EOPNOTSUPP: nothing
 *   could hold the dependent back, and ECS never runs a task out of dependsOn order.
 *
 * The definition is expected to have passed RegisterTaskDefinition's checks, but a raw file given to `ecsd render`
 * has not, so absent members take ECS's defaults and types are checked where a wrong type could mislead. */
#include <ctype.h>
#include <stdarg.h>
#include <string.h>

#include "ecs.h"
#include "k8s-internal.h"
#include "k8s.h"

#define TASK_ID_MAX 58 /* "ecsd-" + id is a DNS label */
#define MEMORY_MIN_MIB 6
#define MAX_CONTAINERS 64
#define STARTUP_WINDOW_DEFAULT_S 300

enum role { ROLE_MAIN = 0, ROLE_INIT, ROLE_SIDECAR };
static const char *const role_names[] = {"container", "init", "sidecar"};

struct cinfo {
        const json_t *def;
        const json_t *ov;
        const char *name;   /* ECS name */
        char kname[64];     /* Kubernetes container name */
        bool essential;
        bool health;        /* a healthCheck that is not NONE */
        enum role role;
        json_t *mounts;     /* volumeMounts built from mountPoints (owned), for volumesFrom of later containers */
};

struct ctx {
        const struct k8s_task_spec *spec;
        const json_t *td;
        const char *mode;
        const char *family;
        int64_t revision;
        char region[ECS_REGION_MAX + 1];
        const char *task_role;
        json_t *notes;
        json_t *volumes;     /* ECS volume name -> Kubernetes volume name (string) */
        json_t *pod_volumes; /* the Pod's spec.volumes (owned by the ctx until attached) */
        struct cinfo c[MAX_CONTAINERS];
        size_t n;
        size_t order[MAX_CONTAINERS];
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

static bool flag_on(const json_t *obj, const char *key) {
        return json_is_true(json_object_get(obj, key));
}

static bool has_char(const char *s, const char *set) {
        return strpbrk(s, set) != NULL;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* ---- names ---- */

static bool is_lower_alnum(char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

static bool is_alnum(char ch) {
        return is_lower_alnum(ch) || (ch >= 'A' && ch <= 'Z');
}

bool k8s_dns_label_valid(const char *s) {
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > 63 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_lower_alnum(s[i]) && s[i] != '-')
                        return false;
        return true;
}

bool k8s_dns_subdomain_valid(const char *s) {
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > 253)
                return false;
        const char *p = s;
        while (*p) {
                const char *dot = strchr(p, '.');
                size_t len = dot ? (size_t) (dot - p) : strlen(p);
                char label[64];
                if (len == 0 || len > 63)
                        return false;
                memcpy(label, p, len);
                label[len] = '\0';
                if (!k8s_dns_label_valid(label))
                        return false;
                if (!dot)
                        break;
                p = dot + 1;
                if (!*p)
                        return false;
        }
        return true;
}

static bool name_part_valid(const char *s, size_t n) {
        if (n == 0 || n > 63 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
                        return false;
        return true;
}

bool k8s_qualified_name_valid(const char *s) {
        if (!s)
                return false;
        const char *slash = strchr(s, '/');
        if (!slash)
                return name_part_valid(s, strlen(s));
        size_t plen = (size_t) (slash - s);
        if (plen == 0 || plen > 253 || strchr(slash + 1, '/'))
                return false;
        char prefix[254];
        memcpy(prefix, s, plen);
        prefix[plen] = '\0';
        return k8s_dns_subdomain_valid(prefix) && name_part_valid(slash + 1, strlen(slash + 1));
}

void k8s_label_value(const char *s, char *buf, size_t size) {
        ASSERT(size >= 64);
        size_t o = 0;
        for (const char *p = s ? s : ""; *p && o < 63; p++) {
                char ch = *p;
                buf[o++] = is_alnum(ch) || ch == '-' || ch == '_' || ch == '.' ? ch : '-';
        }
        buf[o] = '\0';
        /* Must start and end alphanumeric. */
        size_t start = 0;
        while (start < o && !is_alnum(buf[start]))
                start++;
        while (o > start && !is_alnum(buf[o - 1]))
                o--;
        memmove(buf, buf + start, o - start);
        buf[o - start] = '\0';
}

/* Lowercase `s` into a DNS-1123 label in `buf` (64 bytes): '_' and other characters become '-', cut to 63, trimmed.
 * Returns false when nothing valid is left. */
static bool dns_label_from(const char *s, char *buf) {
        size_t o = 0;
        for (const char *p = s; *p && o < 63; p++) {
                char ch = (char) tolower((unsigned char) *p);
                buf[o++] = is_lower_alnum(ch) ? ch : '-';
        }
        buf[o] = '\0';
        size_t start = 0;
        while (start < o && buf[start] == '-')
                start++;
        while (o > start && buf[o - 1] == '-')
                o--;
        memmove(buf, buf + start, o - start);
        buf[o - start] = '\0';
        return k8s_dns_label_valid(buf);
}

static uint32_t fnv1a(const char *s) {
        uint32_t h = 2166136261u;
        for (; *s; s++) {
                h ^= (unsigned char) *s;
                h *= 16777619u;
        }
        return h;
}

int k8s_namespace_for_cluster(enum k8s_ns_mode mode, const char *fixed_or_prefix, const char *cluster_name, char *buf,
                              size_t size, struct err *e) {
        ASSERT(size >= 64);
        if (mode == K8S_NS_FIXED) {
                if (!k8s_dns_label_valid(fixed_or_prefix))
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "Namespace '%s' is not a valid Kubernetes namespace name (a DNS-1123 label).",
                                       fixed_or_prefix ? fixed_or_prefix : "");
                str_printf(buf, size, "%s", fixed_or_prefix);
                return 0;
        }
        if (!cluster_name || !*cluster_name)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "An empty cluster name has no namespace.");
        char full[2 * ECS_NAME_MAX + 2];
        str_printf(full, sizeof(full), "%s%s", fixed_or_prefix ? fixed_or_prefix : "", cluster_name);
        char low[sizeof(full)];
        size_t n = 0;
        for (const char *p = full; *p && n < sizeof(low) - 1; p++) {
                char ch = (char) tolower((unsigned char) *p);
                low[n++] = is_lower_alnum(ch) ? ch : '-';
        }
        low[n] = '\0';
        if (n > 63) {
                /* Cut and add a hash of the whole name so two long clusters with a common prefix stay apart. */
                size_t cut = 54;
                while (cut > 0 && low[cut - 1] == '-')
                        cut--;
                str_printf(buf, size, "%.*s-%08x", (int) cut, low, fnv1a(full));
        } else {
                str_printf(buf, size, "%s", low);
        }
        if (!k8s_dns_label_valid(buf))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Cluster '%s' gives namespace '%s', which is not a valid Kubernetes namespace name.",
                               cluster_name, buf);
        return 0;
}

/* ---- labels and annotations ---- */

static bool key_reserved(const char *key) {
        return strncmp(key, "com.amazonaws.ecs", 17) == 0 || strncmp(key, "io.ecsd", 7) == 0 ||
               strstr(key, "kubernetes.io/") || strstr(key, "k8s.io/");
}

static void set_labels(struct ctx *x, json_t *meta) {
        const struct k8s_task_spec *s = x->spec;
        char v[64];
        json_t *labels = json_object();
        json_object_set_new(labels, K8S_LABEL_MANAGED_BY, json_string("ecsd"));
        k8s_label_value(s->owner_label, v, sizeof(v));
        json_object_set_new(labels, K8S_LABEL_OWNER, json_string(v));
        json_object_set_new(labels, K8S_LABEL_TASK_ID, json_string(s->task_id));
        k8s_label_value(s->cluster_name, v, sizeof(v));
        json_object_set_new(labels, K8S_LABEL_CLUSTER, json_string(v));
        k8s_label_value(x->family, v, sizeof(v));
        json_object_set_new(labels, K8S_LABEL_FAMILY, json_string(v));
        if (x->revision > 0)
                json_object_set_new(labels, K8S_LABEL_REVISION, json_sprintf("%lld", (long long) x->revision));
        json_object_set_new(meta, "labels", labels);
}

/* dockerLabels of every container become Pod annotations (a Pod has no per-container labels). */
static void add_docker_labels(struct ctx *x, json_t *annotations, const struct cinfo *ci) {
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(ci->def, "dockerLabels"), k, v) {
                if (key_reserved(k)) {
                        note(x, "container %s: dockerLabel '%s' is reserved for ECS, Kubernetes and ecsd and was not "
                                "applied", ci->name, k);
                        continue;
                }
                if (!k8s_qualified_name_valid(k)) {
                        note(x, "container %s: dockerLabel '%s' is not a valid Kubernetes annotation key and was not "
                                "applied", ci->name, k);
                        continue;
                }
                const json_t *prev = json_object_get(annotations, k);
                if (prev && !json_equal(prev, v))
                        note(x, "container %s: dockerLabel '%s' differs from another container's; the first one is "
                                "kept (annotations are per Pod)", ci->name, k);
                else if (json_is_string(v))
                        json_object_set(annotations, k, v);
        }
}

/* ---- overrides and containers ---- */

static struct cinfo *cinfo_named(struct ctx *x, const char *name) {
        for (size_t i = 0; i < x->n; i++)
                if (name && strcmp(x->c[i].name, name) == 0)
                        return &x->c[i];
        return NULL;
}

/* ---- task-level members ---- */

static int task_members(struct ctx *x, json_t *pspec) {
        const json_t *td = x->td, *ov = x->spec->overrides;
        if (json_array_size(json_object_get(td, "inferenceAccelerators")) > 0 ||
            json_array_size(json_object_get(ov, "inferenceAcceleratorOverrides")) > 0)
                return fail(x, "Inference accelerators are not supported by the k8s backend.");
        const json_t *rp = json_object_get(td, "runtimePlatform");
        const char *os = ecs_json_str(rp, "operatingSystemFamily", NULL);
        if (os && strcmp(os, "LINUX") != 0)
                return fail(x, "runtimePlatform operatingSystemFamily '%s' cannot run on the k8s backend; only LINUX "
                               "can.", os);
        const char *arch = ecs_json_str(rp, "cpuArchitecture", NULL);
        if (arch) {
                const char *karch = strcmp(arch, "X86_64") == 0 ? "amd64" : strcmp(arch, "ARM64") == 0 ? "arm64" : NULL;
                if (!karch)
                        return fail(x, "runtimePlatform cpuArchitecture '%s' is not X86_64 or ARM64.", arch);
                json_object_set_new(pspec, "nodeSelector", json_pack("{s:s}", "kubernetes.io/arch", karch));
        }
        const char *cpu = ecs_json_str(ov, "cpu", NULL) ? ecs_json_str(ov, "cpu", NULL) : ecs_json_str(td, "cpu", NULL);
        const char *mem = ecs_json_str(ov, "memory", NULL) ? ecs_json_str(ov, "memory", NULL)
                                                            : ecs_json_str(td, "memory", NULL);
        if (cpu || mem)
                note(x, "task-level cpu %s / memory %s are reported but not enforced; container limits are",
                     cpu ? cpu : "-", mem ? mem : "-");
        const char *pid = ecs_json_str(td, "pidMode", NULL);
        if (pid && strcmp(pid, "host") == 0)
                json_object_set_new(pspec, "hostPID", json_true());
        else if (pid && strcmp(pid, "task") == 0)
                json_object_set_new(pspec, "shareProcessNamespace", json_true());
        const char *ipc = ecs_json_str(td, "ipcMode", NULL);
        if (ipc && strcmp(ipc, "host") == 0)
                json_object_set_new(pspec, "hostIPC", json_true());
        else if (ipc && strcmp(ipc, "none") == 0)
                note(x, "ipcMode none is not supported: the Pod's containers share one IPC namespace");
        if (json_object_get(td, "proxyConfiguration"))
                note(x, "proxyConfiguration (App Mesh) is ignored");
        if (json_object_get(td, "ephemeralStorage") || json_object_get(ov, "ephemeralStorage"))
                note(x, "ephemeralStorage is ignored: containers use the node's storage");
        if (flag_on(td, "enableFaultInjection"))
                note(x, "enableFaultInjection is ignored");
        if (x->task_role && (!x->spec->credentials_endpoint || !x->spec->credentials_id))
                note(x, "taskRoleArn is set but no credentials endpoint is configured: containers get no credentials");
        if (strcmp(x->mode, "host") == 0)
                json_object_set_new(pspec, "hostNetwork", json_true());
        return 0;
}

/* ECS volumes → Pod volumes. Task-scoped docker volumes and volumes without a host path are emptyDirs that live as
 * long as the Pod, like ECS's task-scoped volumes. */
static int task_volumes(struct ctx *x) {
        size_t i;
        const json_t *v;
        json_array_foreach(json_object_get(x->td, "volumes"), i, v) {
                const char *name = ecs_json_str(v, "name", NULL);
                char kname[64];
                if (!name || !ecs_name_valid(name))
                        return fail(x, "Volume name '%s' is not valid.", name ? name : "");
                static const char *const unsupported[] = {"efsVolumeConfiguration",
                                                          "fsxWindowsFileServerVolumeConfiguration",
                                                          "s3filesVolumeConfiguration"};
                for (size_t k = 0; k < ARRAY_SIZE(unsupported); k++)
                        if (json_object_get(v, unsupported[k]))
                                return fail(x, "Volume '%s': %s cannot be mounted by the k8s backend.", name,
                                            unsupported[k]);
                if (flag_on(v, "configuredAtLaunch"))
                        return fail(x, "Volume '%s': volumes configured at launch (EBS) are not supported by the k8s "
                                       "backend.", name);
                if (!dns_label_from(name, kname))
                        return fail(x, "Volume '%s': the name gives no valid Kubernetes volume name.", name);
                size_t k;
                const json_t *pv;
                json_array_foreach(x->pod_volumes, k, pv)
                        if (strcmp(ecs_json_str(pv, "name", ""), kname) == 0)
                                return fail(x, "Volume '%s': its Kubernetes name '%s' collides with another volume's "
                                               "(names are lowercased and '_' becomes '-').", name, kname);
                const char *src = ecs_json_str(json_object_get(v, "host"), "sourcePath", NULL);
                const json_t *dvc = json_object_get(v, "dockerVolumeConfiguration");
                if (src && *src) {
                        if (src[0] != '/' || has_char(src, "\n"))
                                return fail(x, "Volume '%s': host sourcePath '%s' must be an absolute path.", name,
                                            src);
                        json_array_append_new(x->pod_volumes, json_pack("{s:s, s:{s:s, s:s}}", "name", kname,
                                                                        "hostPath", "path", src, "type", ""));
                } else {
                        const char *scope = dvc ? ecs_json_str(dvc, "scope", NULL) : NULL;
                        if (scope && strcmp(scope, "shared") == 0)
                                return fail(x, "Volume '%s': shared docker volumes outlive the task and need a "
                                               "PersistentVolumeClaim, which the k8s backend does not create.", name);
                        if (dvc && (ecs_json_str(dvc, "driver", NULL) || json_object_size(json_object_get(dvc,
                                                                                                   "driverOpts")) > 0 ||
                                    json_object_get(dvc, "autoprovision") || json_object_get(dvc, "labels")))
                                note(x, "volume %s: docker volume driver, options, labels and autoprovision are ignored; "
                                        "it is an emptyDir", name);
                        json_array_append_new(x->pod_volumes, json_pack("{s:s, s:{}}", "name", kname, "emptyDir"));
                }
                json_object_set_new(x->volumes, name, json_string(kname));
        }
        return 0;
}

/* ---- one container ---- */

static int check_env_name(struct ctx *x, const char *cname, const char *name) {
        if (!name || !*name || has_char(name, "=\n\r"))
                return fail(x, "Invalid 'environment' setting for container '%s'. Environment variable name '%s' is "
                               "not valid.", cname, name ? name : "");
        return 0;
}

static int merge_env(struct ctx *x, const char *cname, json_t *env, const json_t *list) {
        size_t i;
        const json_t *kv;
        json_array_foreach(list, i, kv) {
                const char *name = ecs_json_str(kv, "name", NULL), *value = ecs_json_str(kv, "value", NULL);
                int r = check_env_name(x, cname, name);
                if (r < 0)
                        return r;
                json_object_set_new(env, name, json_pack("{s:s, s:s}", "name", name, "value", value ? value : ""));
        }
        return 0;
}

/* A Kubernetes Secret name from the name part of a Secrets Manager secret or SSM parameter: lowercased, leading '/'
 * dropped, any character a DNS subdomain cannot hold becomes '-'. */
static bool secret_name_from(const char *s, size_t n, char *buf, size_t size) {
        while (n > 0 && *s == '/') {
                s++;
                n--;
        }
        if (n == 0 || n >= size)
                return false;
        for (size_t i = 0; i < n; i++) {
                char ch = (char) tolower((unsigned char) s[i]);
                buf[i] = is_lower_alnum(ch) || ch == '.' ? ch : '-';
        }
        buf[n] = '\0';
        return k8s_dns_subdomain_valid(buf);
}

static bool secret_key_valid(const char *s) {
        size_t n = strlen(s);
        return n > 0 && n <= 253 && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") == n;
}

/* Map an ECS secret's valueFrom to a Kubernetes Secret name and key (docs/internals/k8s-pod.md, "Secrets"):
 *   k8s:NAME/KEY                                             → NAME, KEY (ecsd's own form)
 *   arn:aws:secretsmanager:R:A:secret:NAME[:KEY[:STAGE[:ID]]] → clean(NAME), KEY or "value"
 *   arn:aws:ssm:R:A:parameter/NAME                            → clean(NAME), "value"
 *   NAME or /PATH/NAME (an SSM parameter in the same region)   → clean(NAME), "value" */
static int secret_ref(struct ctx *x, const char *cname, const char *var, const char *from, char *name, size_t nsize,
                      char *key, size_t ksize) {
        str_printf(key, ksize, "value");
        bool ok = false;
        if (strncmp(from, "k8s:", 4) == 0) {
                const char *slash = strchr(from + 4, '/');
                if (slash && (size_t) (slash - from - 4) < nsize) {
                        str_printf(name, nsize, "%.*s", (int) (slash - from - 4), from + 4);
                        ok = str_printf(key, ksize, "%s", slash + 1) >= 0 && k8s_dns_subdomain_valid(name);
                }
        } else if (strncmp(from, "arn:", 4) == 0) {
                /* arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE */
                const char *p = from;
                for (int i = 0; i < 5 && p; i++) {
                        p = strchr(p, ':');
                        if (p)
                                p++;
                }
                bool sm = strstr(from, ":secretsmanager:") && p && strncmp(p, "secret:", 7) == 0;
                bool ssm = strstr(from, ":ssm:") && p && strncmp(p, "parameter/", 10) == 0;
                if (sm) {
                        const char *nm = p + 7, *colon = strchr(nm, ':');
                        ok = secret_name_from(nm, colon ? (size_t) (colon - nm) : strlen(nm), name, nsize);
                        if (ok && colon) {
                                const char *jk = colon + 1, *c2 = strchr(jk, ':');
                                size_t jl = c2 ? (size_t) (c2 - jk) : strlen(jk);
                                if (jl > 0)
                                        ok = str_printf(key, ksize, "%.*s", (int) jl, jk) >= 0;
                                if (c2 && strspn(c2, ":") != strlen(c2))
                                        note(x, "container %s: secret %s: the version stage / id of '%s' is ignored "
                                                "(a Kubernetes Secret has one version)", cname, var, from);
                        }
                } else if (ssm) {
                        ok = secret_name_from(p + 10, strlen(p + 10), name, nsize);
                } else {
                        return fail(x, "Invalid 'secrets' setting for container '%s'. '%s' of '%s' is neither a Secrets "
                                       "Manager secret nor an SSM parameter.", cname, from, var);
                }
        } else {
                ok = secret_name_from(from, strlen(from), name, nsize);
        }
        if (!ok || !secret_key_valid(key))
                return fail(x, "Invalid 'secrets' setting for container '%s'. '%s' of '%s' gives no valid Kubernetes "
                               "Secret name and key.", cname, from, var);
        return 0;
}

static int container_env(struct ctx *x, const struct cinfo *ci, json_t *kc) {
        const char *cname = ci->name;
        json_auto_t *env = json_object(); /* name -> EnvVar, so later sources win per name */
        int r;
        if ((r = merge_env(x, cname, env, json_object_get(ci->def, "environment"))) < 0 ||
            (r = merge_env(x, cname, env, json_object_get(ci->ov, "environment"))) < 0)
                return r;
        if (json_array_size(json_object_get(ci->def, "environmentFiles")) > 0 ||
            json_array_size(json_object_get(ci->ov, "environmentFiles")) > 0)
                return fail(x, "Invalid 'environmentFiles' setting for container '%s'. Environment files cannot be "
                               "fetched by the k8s backend (S3 is not reachable and a local path is not on the node); "
                               "use 'environment' or 'secrets'.", cname);

        static const char *const injected[] = {"ECS_CONTAINER_METADATA_URI_V4", "ECS_CONTAINER_METADATA_URI",
                                               "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                               "AWS_CONTAINER_CREDENTIALS_FULL_URI"};
        for (size_t k = 0; k < 2; k++)
                json_object_set_new(env, injected[k],
                                    json_pack("{s:s, s:o}", "name", injected[k], "value",
                                              json_sprintf("%s/%s/%s", x->spec->metadata_endpoint, x->spec->task_id,
                                                           cname)));
        /* The agent's endpoints (task protection) for this task, under the container's metadata path. */
        json_object_set_new(env, "ECS_AGENT_URI",
                            json_pack("{s:s, s:o}", "name", "ECS_AGENT_URI", "value",
                                      json_sprintf("%s/%s/%s/agent", x->spec->metadata_endpoint, x->spec->task_id,
                                                   cname)));
        if (x->task_role && x->spec->credentials_endpoint && x->spec->credentials_id) {
                /* As the docker plan: ECS's address and port get the relative URI, another listener the full URL. */
                json_object_del(env, injected[2]);
                json_object_del(env, injected[3]);
                bool relative = strcmp(x->spec->credentials_endpoint, ECS_CREDENTIALS_URL) == 0;
                json_t *value = relative ? json_sprintf(ECS_CREDENTIALS_PATH "%s", x->spec->credentials_id)
                                         : json_sprintf("%s" ECS_CREDENTIALS_PATH "%s", x->spec->credentials_endpoint,
                                                        x->spec->credentials_id);
                const char *name = injected[relative ? 2 : 3];
                json_object_set_new(env, name, json_pack("{s:s, s:o}", "name", name, "value", value));
        }

        bool region_secret = false;
        size_t i;
        const json_t *s;
        json_array_foreach(json_object_get(ci->def, "secrets"), i, s) {
                const char *n = ecs_json_str(s, "name", NULL);
                if (n && (strcmp(n, "AWS_REGION") == 0 || strcmp(n, "AWS_DEFAULT_REGION") == 0))
                        region_secret = true;
        }
        if (x->region[0] && !region_secret) {
                static const char *const region_vars[] = {"AWS_REGION", "AWS_DEFAULT_REGION"};
                for (size_t k = 0; k < ARRAY_SIZE(region_vars); k++)
                        if (!json_object_get(env, region_vars[k]))
                                json_object_set_new(env, region_vars[k], json_pack("{s:s, s:s}", "name", region_vars[k],
                                                                                   "value", x->region));
        }

        json_array_foreach(json_object_get(ci->def, "secrets"), i, s) {
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
                char sname[254], skey[254];
                if ((r = secret_ref(x, cname, n, from, sname, sizeof(sname), skey, sizeof(skey))) < 0)
                        return r;
                if (json_object_get(env, n))
                        note(x, "container %s: secret %s replaces the environment variable of the same name", cname, n);
                json_object_set_new(env, n, json_pack("{s:s, s:{s:{s:s, s:s}}}", "name", n, "valueFrom",
                                                      "secretKeyRef", "name", sname, "key", skey));
        }

        /* Sorted by name: the Pod does not depend on the order the client sent. */
        size_t n = json_object_size(env);
        if (n == 0)
                return 0;
        _cleanup_free_ const char **names = xcalloc(n, sizeof(*names));
        const char *k;
        json_t *v;
        size_t idx = 0;
        json_object_foreach(env, k, v) {
                if (idx < n)
                        names[idx++] = k;
        }
        qsort(names, idx, sizeof(*names), cmp_str);
        json_t *list = json_array();
        for (size_t j = 0; j < idx; j++)
                json_array_append(list, json_object_get(env, names[j]));
        json_object_set_new(kc, "env", list);
        return 0;
}

static int container_ports(struct ctx *x, const struct cinfo *ci, json_t *kc) {
        const char *cname = ci->name;
        bool host = strcmp(x->mode, "host") == 0, bridge = strcmp(x->mode, "bridge") == 0;
        json_auto_t *ports = json_array();
        size_t i;
        const json_t *pm;
        json_array_foreach(json_object_get(ci->def, "portMappings"), i, pm) {
                const char *proto = ecs_json_str(pm, "protocol", "tcp");
                const char *range = ecs_json_str(pm, "containerPortRange", NULL);
                int64_t cport = 0, hport = 0;
                bool has_cport = ecs_json_int(pm, "containerPort", &cport);
                ecs_json_int(pm, "hostPort", &hport);
                if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0)
                        return fail(x, "Invalid port mapping for container '%s'. Protocol '%s' is not tcp or udp.",
                                    cname, proto);
                if (range && *range) {
                        note(x, "container %s: containerPortRange %s is not declared in the Pod (a Pod has no port "
                                "ranges); every port of the Pod's IP is reachable anyway", cname, range);
                        continue;
                }
                if (!has_cport || cport < 1 || cport > 65535 || hport < 0 || hport > 65535)
                        return fail(x, "Invalid port mapping for container '%s'. containerPort must be between 1 and "
                                       "65535.", cname);
                json_t *p = json_pack("{s:I, s:s}", "containerPort", (json_int_t) cport, "protocol",
                                      strcmp(proto, "tcp") == 0 ? "TCP" : "UDP");
                /* bridge: a fixed hostPort is published on the node like docker -p H:C; a dynamic one needs none
                 * (the Pod has its own IP). host: Kubernetes requires hostPort == containerPort. */
                if (host)
                        json_object_set_new(p, "hostPort", json_integer(cport));
                else if (bridge && hport > 0)
                        json_object_set_new(p, "hostPort", json_integer(hport));
                json_array_append_new(ports, p);
        }
        if (json_array_size(ports) > 0)
                json_object_set(kc, "ports", ports);
        return 0;
}

static int container_resources(struct ctx *x, const struct cinfo *ci, json_t *kc) {
        const char *cname = ci->name;
        const json_t *c = ci->def, *ov = ci->ov;
        int64_t cpu = 0, mem = 0, res = 0;
        if (!ecs_json_int(ov, "cpu", &cpu))
                ecs_json_int(c, "cpu", &cpu);
        bool has_mem = ecs_json_int(ov, "memory", &mem) || ecs_json_int(c, "memory", &mem);
        bool has_res = ecs_json_int(ov, "memoryReservation", &res) || ecs_json_int(c, "memoryReservation", &res);
        if (cpu < 0 || cpu > 1024 * 1024)
                return fail(x, "Invalid 'cpu' setting for container '%s'. It must be between 0 and 1048576.", cname);
        if (has_mem && (mem < MEMORY_MIN_MIB || mem > INT32_MAX))
                return fail(x, "Invalid 'memory' setting for container '%s'. The minimum is 6 MiB.", cname);
        if (has_res && (res < MEMORY_MIN_MIB || res > INT32_MAX))
                return fail(x, "Invalid 'memoryReservation' setting for container '%s'. The minimum is 6 MiB.", cname);
        if (has_mem && has_res && res > mem)
                return fail(x, "Invalid setting for container '%s'. 'memoryReservation' must be less than or equal to "
                               "'memory'.", cname);
        if (json_array_size(json_object_get(c, "resourceRequirements")) > 0 ||
            json_array_size(json_object_get(ov, "resourceRequirements")) > 0)
                return fail(x, "Invalid 'resourceRequirements' setting for container '%s'. GPUs and inference "
                               "accelerators cannot be assigned by the k8s backend.", cname);
        json_t *requests = json_object(), *limits = json_object();
        /* 1024 ECS CPU units are one vCPU; ECS container cpu is a relative share (soft), so it is a request only. */
        if (cpu > 0)
                json_object_set_new(requests, "cpu", json_sprintf("%lldm", (long long) ((cpu * 1000 + 1023) / 1024)));
        if (has_mem)
                json_object_set_new(limits, "memory", json_sprintf("%lldMi", (long long) mem));
        if (has_res)
                json_object_set_new(requests, "memory", json_sprintf("%lldMi", (long long) res));
        json_t *r = json_object();
        if (json_object_size(requests) > 0)
                json_object_set(r, "requests", requests);
        if (json_object_size(limits) > 0)
                json_object_set(r, "limits", limits);
        json_decref(requests);
        json_decref(limits);
        if (json_object_size(r) > 0)
                json_object_set_new(kc, "resources", r);
        else
                json_decref(r);

        const json_t *lp = json_object_get(c, "linuxParameters");
        if (json_object_get(lp, "maxSwap") || json_object_get(lp, "swappiness"))
                note(x, "container %s: linuxParameters maxSwap / swappiness are ignored (swap is the node's setting)",
                     cname);
        if (json_array_size(json_object_get(c, "ulimits")) > 0)
                note(x, "container %s: ulimits are ignored (a Pod cannot set them; the node's container runtime "
                        "defaults apply)", cname);
        return 0;
}

static int container_security(struct ctx *x, const struct cinfo *ci, json_t *kc, json_t *pod_sysctls) {
        const char *cname = ci->name;
        const json_t *c = ci->def, *lp = json_object_get(c, "linuxParameters");
        json_auto_t *sc = json_object();
        const char *user = ecs_json_str(c, "user", "");
        if (*user) {
                /* A Pod takes numeric ids only: "uid" or "uid:gid". */
                char ubuf[64];
                str_printf(ubuf, sizeof(ubuf), "%s", user);
                char *colon = strchr(ubuf, ':');
                if (colon)
                        *colon = '\0';
                int64_t uid, gid;
                if (parse_int64(ubuf, 0, INT32_MAX, &uid) < 0 ||
                    (colon && parse_int64(colon + 1, 0, INT32_MAX, &gid) < 0))
                        return fail(x, "Invalid 'user' setting for container '%s'. The k8s backend needs a numeric "
                                       "uid or uid:gid, not '%s' (a Pod cannot name users).", cname, user);
                json_object_set_new(sc, "runAsUser", json_integer(uid));
                if (colon)
                        json_object_set_new(sc, "runAsGroup", json_integer(gid));
        }
        bool privileged = flag_on(c, "privileged");
        if (privileged)
                json_object_set_new(sc, "privileged", json_true());
        if (flag_on(c, "readonlyRootFilesystem"))
                json_object_set_new(sc, "readOnlyRootFilesystem", json_true());
        json_auto_t *add = json_array(), *drop = json_array();
        bool sys_admin = false;
        for (int pass = 0; pass < 2; pass++) {
                size_t i;
                const json_t *v;
                json_array_foreach(json_object_get(json_object_get(lp, "capabilities"), pass ? "drop" : "add"), i, v) {
                        const char *cap = json_string_value(v);
                        if (!cap || !*cap)
                                continue;
                        if (strncasecmp(cap, "CAP_", 4) == 0)
                                cap += 4;
                        char up[64];
                        size_t k = 0;
                        for (; cap[k] && k < sizeof(up) - 1; k++)
                                up[k] = (char) toupper((unsigned char) cap[k]);
                        up[k] = '\0';
                        if (!pass && strcmp(up, "SYS_ADMIN") == 0)
                                sys_admin = true;
                        json_array_append_new(pass ? drop : add, json_string(up));
                }
        }
        if (json_array_size(add) + json_array_size(drop) > 0) {
                json_t *caps = json_object();
                if (json_array_size(add) > 0)
                        json_object_set(caps, "add", add);
                if (json_array_size(drop) > 0)
                        json_object_set(caps, "drop", drop);
                json_object_set_new(sc, "capabilities", caps);
        }
        size_t i;
        const json_t *v;
        json_array_foreach(json_object_get(c, "dockerSecurityOptions"), i, v) {
                const char *opt = json_string_value(v);
                if (!opt)
                        continue;
                if (strcmp(opt, "no-new-privileges") == 0 || strcmp(opt, "no-new-privileges:true") == 0) {
                        /* The API server refuses allowPrivilegeEscalation false beside privileged or SYS_ADMIN. */
                        if (privileged || sys_admin)
                                note(x, "container %s: no-new-privileges cannot be combined with privileged or "
                                        "SYS_ADMIN in a Pod and was ignored", cname);
                        else
                                json_object_set_new(sc, "allowPrivilegeEscalation", json_false());
                } else {
                        note(x, "container %s: dockerSecurityOption '%s' is ignored", cname, opt);
                }
        }
        if (json_object_size(sc) > 0)
                json_object_set(kc, "securityContext", sc);

        json_array_foreach(json_object_get(c, "systemControls"), i, v) {
                const char *ns = ecs_json_str(v, "namespace", NULL), *val = ecs_json_str(v, "value", NULL);
                if (!ns || !*ns || !val || has_char(ns, "=\n "))
                        return fail(x, "Invalid 'systemControls' setting for container '%s'.", cname);
                size_t k;
                const json_t *s;
                bool seen = false;
                json_array_foreach(pod_sysctls, k, s) {
                        if (strcmp(ecs_json_str(s, "name", ""), ns) != 0)
                                continue;
                        seen = true;
                        if (strcmp(ecs_json_str(s, "value", ""), val) != 0)
                                note(x, "container %s: systemControl %s=%s conflicts with another container's (sysctls "
                                        "are per Pod); the first one is kept", cname, ns, val);
                }
                if (!seen)
                        json_array_append_new(pod_sysctls, json_pack("{s:s, s:s}", "name", ns, "value", val));
        }
        if (json_array_size(json_object_get(lp, "devices")) > 0)
                return fail(x, "Invalid 'devices' setting for container '%s'. A Pod cannot map host devices (use a "
                               "device plugin).", cname);
        if (flag_on(lp, "initProcessEnabled"))
                note(x, "container %s: initProcessEnabled is ignored (the image's entry point is PID 1; pidMode task "
                        "shares the Pod's pause process as init)", cname);
        if (flag_on(c, "interactive"))
                json_object_set_new(kc, "stdin", json_true());
        if (flag_on(c, "pseudoTerminal")) {
                json_object_set_new(kc, "tty", json_true());
                if (!flag_on(c, "interactive"))
                        json_object_set_new(kc, "stdin", json_true());
        }
        return 0;
}

/* The ECS healthCheck as an exec probe: `ret` gets NULL when there is none (or NONE). */
static int health_probe(struct ctx *x, const struct cinfo *ci, json_t **ret, int64_t *ret_interval) {
        const char *cname = ci->name;
        const json_t *hc = json_object_get(ci->def, "healthCheck");
        *ret = NULL;
        if (!hc)
                return 0;
        const json_t *cmd = json_object_get(hc, "command");
        const char *kind = json_string_value(json_array_get(cmd, 0));
        size_t n = json_array_size(cmd);
        if (kind && strcmp(kind, "NONE") == 0)
                return 0;
        if (!kind || (strcmp(kind, "CMD-SHELL") != 0 && strcmp(kind, "CMD") != 0) || n < 2)
                return fail(x, "Invalid 'healthCheck' setting for container '%s'. 'command' must start with CMD or "
                               "CMD-SHELL and name a command.", cname);
        int64_t interval = 30, timeout = 5, retries = 3, start = 0;
        ecs_json_int(hc, "interval", &interval);
        ecs_json_int(hc, "timeout", &timeout);
        ecs_json_int(hc, "retries", &retries);
        ecs_json_int(hc, "startPeriod", &start);
        if (interval < 1 || interval > 86400 || timeout < 1 || timeout > 86400 || retries < 0 || retries > 1000 ||
            start < 0 || start > 86400)
                return fail(x, "Invalid 'healthCheck' setting for container '%s'.", cname);
        json_auto_t *argv = json_array();
        if (strcmp(kind, "CMD-SHELL") == 0) {
                /* ECS joins CMD-SHELL words into one shell command, as docker does. */
                _cleanup_free_ char *line = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&line, &len);
                if (!f)
                        return err_set(x->e, -ENOMEM, ERR_KIND_INTERNAL, "Out of memory.");
                for (size_t i = 1; i < n; i++) {
                        const char *w = json_string_value(json_array_get(cmd, i));
                        fprintf(f, "%s%s", i > 1 ? " " : "", w ? w : "");
                }
                if (fclose(f) != 0)
                        return err_set(x->e, -ENOMEM, ERR_KIND_INTERNAL, "Out of memory.");
                json_array_append_new(argv, json_string("/bin/sh"));
                json_array_append_new(argv, json_string("-c"));
                json_array_append_new(argv, json_string(line));
        } else {
                for (size_t i = 1; i < n; i++) {
                        const char *w = json_string_value(json_array_get(cmd, i));
                        json_array_append_new(argv, json_string(w ? w : ""));
                }
        }
        *ret = json_pack("{s:{s:O}, s:I, s:I, s:I, s:i, s:I}", "exec", "command", argv, "periodSeconds",
                         (json_int_t) interval, "timeoutSeconds", (json_int_t) timeout, "failureThreshold",
                         (json_int_t) (retries < 1 ? 1 : retries), "successThreshold", 1, "initialDelaySeconds",
                         (json_int_t) start);
        *ret_interval = interval;
        return 0;
}

static bool mount_path_taken(const json_t *mounts, const char *path) {
        size_t i;
        const json_t *m;
        json_array_foreach(mounts, i, m)
                if (strcmp(ecs_json_str(m, "mountPath", ""), path) == 0)
                        return true;
        return false;
}

/* mountPoints, tmpfs and sharedMemorySize → ci->mounts (and Pod volumes for the tmpfs and /dev/shm emptyDirs). */
static int container_mounts(struct ctx *x, struct cinfo *ci) {
        const char *cname = ci->name;
        ci->mounts = json_array();
        size_t i;
        const json_t *m;
        json_array_foreach(json_object_get(ci->def, "mountPoints"), i, m) {
                const char *vol = ecs_json_str(m, "sourceVolume", NULL), *path = ecs_json_str(m, "containerPath", NULL);
                const char *kvol = vol ? ecs_json_str(x->volumes, vol, NULL) : NULL;
                if (!kvol)
                        return fail(x, "Unknown volume '%s'.", vol ? vol : "null");
                if (!path || path[0] != '/' || has_char(path, "\n"))
                        return fail(x, "Invalid 'mountPoints' setting for container '%s'. containerPath '%s' must be an "
                                       "absolute path.", cname, path ? path : "");
                if (mount_path_taken(ci->mounts, path))
                        return fail(x, "Invalid 'mountPoints' setting for container '%s'. containerPath '%s' is mounted "
                                       "twice.", cname, path);
                json_t *vm = json_pack("{s:s, s:s}", "name", kvol, "mountPath", path);
                if (flag_on(m, "readOnly"))
                        json_object_set_new(vm, "readOnly", json_true());
                json_array_append_new(ci->mounts, vm);
        }
        const json_t *lp = json_object_get(ci->def, "linuxParameters");
        const json_t *t;
        json_array_foreach(json_object_get(lp, "tmpfs"), i, t) {
                const char *path = ecs_json_str(t, "containerPath", NULL);
                int64_t size = 0;
                if (!path || path[0] != '/' || has_char(path, "\n") || !ecs_json_int(t, "size", &size) || size < 1 ||
                    mount_path_taken(ci->mounts, path))
                        return fail(x, "Invalid 'tmpfs' setting for container '%s'. It needs an absolute containerPath "
                                       "not mounted otherwise and a size of at least 1 MiB.", cname);
                if (json_array_size(json_object_get(t, "mountOptions")) > 0)
                        note(x, "container %s: tmpfs mountOptions for %s are ignored", cname, path);
                char vname[64];
                str_printf(vname, sizeof(vname), "tmpfs-%.40s-%zu", ci->kname, i);
                json_array_append_new(x->pod_volumes, json_pack("{s:s, s:{s:s, s:o}}", "name", vname, "emptyDir",
                                                                "medium", "Memory", "sizeLimit",
                                                                json_sprintf("%lldMi", (long long) size)));
                json_array_append_new(ci->mounts, json_pack("{s:s, s:s}", "name", vname, "mountPath", path));
        }
        int64_t shm = 0;
        if (ecs_json_int(lp, "sharedMemorySize", &shm)) {
                if (shm < 1 || mount_path_taken(ci->mounts, "/dev/shm"))
                        return fail(x, "Invalid 'sharedMemorySize' setting for container '%s'. It must be at least 1 "
                                       "MiB.", cname);
                char vname[64];
                str_printf(vname, sizeof(vname), "shm-%.50s", ci->kname);
                json_array_append_new(x->pod_volumes, json_pack("{s:s, s:{s:s, s:o}}", "name", vname, "emptyDir",
                                                                "medium", "Memory", "sizeLimit",
                                                                json_sprintf("%lldMi", (long long) shm)));
                json_array_append_new(ci->mounts, json_pack("{s:s, s:s}", "name", vname, "mountPath", "/dev/shm"));
        }
        return 0;
}

/* volumesFrom: the source container's mounts of task volumes, read-only when asked. Runs after every container's own
 * mounts are known. */
static int container_volumes_from(struct ctx *x, struct cinfo *ci, json_t *out) {
        json_array_extend(out, ci->mounts);
        size_t i;
        const json_t *vf;
        json_array_foreach(json_object_get(ci->def, "volumesFrom"), i, vf) {
                const char *src = ecs_json_str(vf, "sourceContainer", NULL);
                struct cinfo *sc = cinfo_named(x, src);
                if (!sc || sc == ci)
                        return fail(x, "Invalid 'volumesFrom' setting for container '%s'. Unknown source container "
                                       "'%s'.", ci->name, src ? src : "");
                size_t k;
                const json_t *m;
                json_array_foreach(sc->mounts, k, m) {
                        const char *path = ecs_json_str(m, "mountPath", "");
                        if (mount_path_taken(out, path)) {
                                note(x, "container %s: volumesFrom %s: %s is already mounted and was skipped", ci->name,
                                     src, path);
                                continue;
                        }
                        json_t *copy = json_deep_copy(m);
                        if (flag_on(vf, "readOnly"))
                                json_object_set_new(copy, "readOnly", json_true());
                        json_array_append_new(out, copy);
                }
                if (json_array_size(sc->mounts) == 0)
                        note(x, "container %s: volumesFrom %s shares only task volumes; the image's own VOLUME paths "
                                "are not shared in a Pod", ci->name, src);
        }
        return 0;
}

/* Pod-level networking from each container: hostname, extraHosts, links, dnsServers, dnsSearchDomains. */
static int container_pod_network(struct ctx *x, const struct cinfo *ci, json_t *pspec, json_t *aliases,
                                 json_t *dns_ns, json_t *dns_search) {
        const char *cname = ci->name;
        const json_t *c = ci->def;
        bool awsvpc = strcmp(x->mode, "awsvpc") == 0, bridge = strcmp(x->mode, "bridge") == 0;
        if (flag_on(c, "disableNetworking"))
                return fail(x, "Invalid 'disableNetworking' setting for container '%s'. The containers of a Pod share "
                               "one network namespace, so one of them cannot be cut off.", cname);
        const char *hostname = ecs_json_str(c, "hostname", NULL);
        if (hostname && *hostname) {
                if (awsvpc)
                        return fail(x, "Invalid 'hostname' setting for container '%s'. The hostname parameter is not "
                                       "supported with networkMode awsvpc.", cname);
                if (!k8s_dns_label_valid(hostname))
                        return fail(x, "Invalid 'hostname' setting for container '%s'. '%s' is not a DNS-1123 label, "
                                       "which a Pod's hostname must be.", cname, hostname);
                const char *prev = ecs_json_str(pspec, "hostname", NULL);
                if (prev && strcmp(prev, hostname) != 0)
                        return fail(x, "Invalid 'hostname' setting for container '%s'. The containers of a Pod share "
                                       "one hostname, and another container asks for '%s'.", cname, prev);
                json_object_set_new(pspec, "hostname", json_string(hostname));
        }
        /* hostAliases: ip -> [hostnames], in first-seen order. */
        size_t i;
        const json_t *h;
        json_array_foreach(json_object_get(c, "extraHosts"), i, h) {
                const char *hn = ecs_json_str(h, "hostname", NULL), *ip = ecs_json_str(h, "ipAddress", NULL);
                if (!hn || !ip || !*hn || !*ip || has_char(hn, ": \n"))
                        return fail(x, "Invalid 'extraHosts' setting for container '%s'.", cname);
                json_t *list = json_object_get(aliases, ip);
                if (!list) {
                        list = json_array();
                        json_object_set_new(aliases, ip, list);
                }
                size_t k;
                const json_t *e;
                bool dup = false;
                json_array_foreach(list, k, e)
                        dup |= strcmp(json_string_value(e), hn) == 0;
                if (!dup)
                        json_array_append_new(list, json_string(hn));
        }
        json_array_foreach(json_object_get(c, "links"), i, h) {
                if (!bridge)
                        return fail(x, "Invalid 'links' setting for container '%s'. Links are only supported with "
                                       "networkMode bridge.", cname);
                const char *link = json_string_value(h);
                const char *colon = link ? strchr(link, ':') : NULL;
                size_t tlen = link ? (colon ? (size_t) (colon - link) : strlen(link)) : 0;
                char target[ECS_NAME_MAX + 1];
                if (tlen == 0 || tlen > ECS_NAME_MAX)
                        return fail(x, "Invalid 'links' setting for container '%s'. '%s' is not a link.", cname,
                                    link ? link : "");
                memcpy(target, link, tlen);
                target[tlen] = '\0';
                const char *alias = colon ? colon + 1 : target;
                if (!cinfo_named(x, target) || strcmp(target, cname) == 0)
                        return fail(x, "Invalid 'links' setting for container '%s'. Unknown container '%s'.", cname,
                                    target);
                if (!*alias || has_char(alias, ": \n"))
                        return fail(x, "Invalid 'links' setting for container '%s'. Alias '%s' is not valid.", cname,
                                    alias);
                /* The containers of a Pod share localhost: a link is a name for 127.0.0.1. */
                json_t *list = json_object_get(aliases, "127.0.0.1");
                if (!list) {
                        list = json_array();
                        json_object_set_new(aliases, "127.0.0.1", list);
                }
                size_t k;
                const json_t *e;
                bool dup = false;
                json_array_foreach(list, k, e)
                        dup |= strcmp(json_string_value(e), alias) == 0;
                if (!dup)
                        json_array_append_new(list, json_string(alias));
        }
        json_array_foreach(json_object_get(c, "dnsServers"), i, h) {
                size_t k;
                const json_t *e;
                bool dup = false;
                json_array_foreach(dns_ns, k, e)
                        dup |= json_equal(e, h);
                if (json_string_value(h) && !dup)
                        json_array_append_new(dns_ns, json_string(json_string_value(h)));
        }
        json_array_foreach(json_object_get(c, "dnsSearchDomains"), i, h) {
                size_t k;
                const json_t *e;
                bool dup = false;
                json_array_foreach(dns_search, k, e)
                        dup |= json_equal(e, h);
                if (json_string_value(h) && !dup)
                        json_array_append_new(dns_search, json_string(json_string_value(h)));
        }
        return 0;
}

static void container_notes(struct ctx *x, const struct cinfo *ci) {
        const json_t *c = ci->def;
        static const struct {
                const char *member, *why;
        } ignored[] = {
                {"repositoryCredentials", "images are pulled with the node's credentials (imagePullSecrets are not "
                                          "created)"},
                {"restartPolicy", "container restart policies are not supported yet"},
                {"firelensConfiguration", "FireLens is not available"},
                {"credentialSpecs", "gMSA credential specs are not available"},
        };
        for (size_t i = 0; i < ARRAY_SIZE(ignored); i++)
                if (json_object_get(c, ignored[i].member))
                        note(x, "container %s: %s is ignored: %s", ci->name, ignored[i].member, ignored[i].why);
        const char *vc = ecs_json_str(c, "versionConsistency", NULL);
        if (vc && strcmp(vc, "enabled") == 0)
                note(x, "container %s: versionConsistency is not enforced: the node resolves the tag", ci->name);
        const char *driver = ecs_json_str(json_object_get(c, "logConfiguration"), "logDriver", NULL);
        if (driver && strcmp(driver, "json-file") != 0)
                note(x, "container %s: logDriver %s is ignored: the node's runtime keeps the logs, read through "
                        "pods/log", ci->name, driver);
}

/* ---- dependsOn: start order and roles ---- */

static bool condition_valid(const char *cond) {
        return cond && (strcmp(cond, "START") == 0 || strcmp(cond, "COMPLETE") == 0 || strcmp(cond, "SUCCESS") == 0 ||
                        strcmp(cond, "HEALTHY") == 0);
}

/* Kahn's algorithm over dependsOn, always taking the first ready container in definition order (as the docker plan
 * does). links and volumesFrom add no dependency here: a Pod's containers share localhost and its volumes exist
 * before any container starts. */
static int dep_order(struct ctx *x) {
        bool done[MAX_CONTAINERS] = {0};
        for (size_t placed = 0; placed < x->n;) {
                bool progress = false;
                for (size_t i = 0; i < x->n && !progress; i++) {
                        if (done[i])
                                continue;
                        bool ready = true;
                        size_t k;
                        const json_t *d;
                        json_array_foreach(json_object_get(x->c[i].def, "dependsOn"), k, d) {
                                const char *dn = ecs_json_str(d, "containerName", NULL);
                                const char *cond = ecs_json_str(d, "condition", NULL);
                                struct cinfo *up = cinfo_named(x, dn);
                                if (!up || up == &x->c[i])
                                        return fail(x, "Invalid 'dependsOn' setting for container '%s'. Unknown "
                                                       "container '%s'.", x->c[i].name, dn ? dn : "");
                                if (!condition_valid(cond))
                                        return fail(x, "Invalid 'dependsOn' setting for container '%s'. Condition '%s' "
                                                       "is not START, COMPLETE, SUCCESS or HEALTHY.", x->c[i].name,
                                                    cond ? cond : "");
                                ready &= done[up - x->c];
                        }
                        if (!ready)
                                continue;
                        done[i] = true;
                        x->order[placed++] = i;
                        progress = true;
                }
                if (!progress)
                        for (size_t i = 0; i < x->n; i++)
                                if (!done[i])
                                        return fail(x, "Invalid 'dependsOn' setting for container '%s'. Circular "
                                                       "dependency between containers.", x->c[i].name);
        }
        return 0;
}

/* Decide, in start order, which containers become init containers (run to completion first) or native sidecars
 * (started, and healthy when asked, before the next one), so that Kubernetes itself keeps the order. */
static void assign_roles(struct ctx *x) {
        for (size_t oi = 0; oi < x->n; oi++) {
                struct cinfo *u = &x->c[x->order[oi]];
                size_t dependents = 0, cc = 0, sh = 0;
                for (size_t j = 0; j < x->n; j++) {
                        size_t k;
                        const json_t *d;
                        json_array_foreach(json_object_get(x->c[j].def, "dependsOn"), k, d) {
                                if (strcmp(ecs_json_str(d, "containerName", ""), u->name) != 0)
                                        continue;
                                const char *cond = ecs_json_str(d, "condition", "");
                                dependents++;
                                if (strcmp(cond, "COMPLETE") == 0 || strcmp(cond, "SUCCESS") == 0)
                                        cc++;
                                else
                                        sh++;
                        }
                }
                /* Its own upstreams must all be ordered by Kubernetes already (init containers run before every
                 * regular container, so an init container cannot wait for a regular one). */
                bool own_ok = true;
                size_t k;
                const json_t *d;
                json_array_foreach(json_object_get(u->def, "dependsOn"), k, d) {
                        const struct cinfo *up = cinfo_named(x, ecs_json_str(d, "containerName", NULL));
                        own_ok &= up && up->role != ROLE_MAIN;
                }
                if (dependents == 0 || !own_ok)
                        u->role = ROLE_MAIN;
                else if (cc == dependents && !u->essential)
                        u->role = ROLE_INIT;
                else if (sh == dependents && x->spec->native_sidecars)
                        u->role = ROLE_SIDECAR;
                else
                        u->role = ROLE_MAIN;
        }
}

/* Refuse a dependency whose upstream is a regular container (assign_roles found no Pod shape that orders it): the
 * kubelet starts regular containers together, so the dependent would run before its condition holds. -EOPNOTSUPP,
 * ERR_KIND_CLIENT: RunTask refuses the definition (backend.h), naming the container, the dependency and why. */
static int check_dependencies(struct ctx *x) {
        for (size_t i = 0; i < x->n; i++) {
                const struct cinfo *ci = &x->c[i];
                size_t k;
                const json_t *d;
                json_array_foreach(json_object_get(ci->def, "dependsOn"), k, d) {
                        const struct cinfo *up = cinfo_named(x, ecs_json_str(d, "containerName", NULL));
                        if (!up || up->role != ROLE_MAIN)
                                continue;
                        const char *cond = ecs_json_str(d, "condition", "");
                        bool waits_for_exit = strcmp(cond, "COMPLETE") == 0 || strcmp(cond, "SUCCESS") == 0;
                        bool own_ok = true, mixed = false;
                        size_t j;
                        const json_t *ud;
                        json_array_foreach(json_object_get(up->def, "dependsOn"), j, ud) {
                                const struct cinfo *uu = cinfo_named(x, ecs_json_str(ud, "containerName", NULL));
                                own_ok &= uu && uu->role != ROLE_MAIN;
                        }
                        for (size_t m = 0; m < x->n; m++) {
                                size_t q;
                                const json_t *od;
                                json_array_foreach(json_object_get(x->c[m].def, "dependsOn"), q, od) {
                                        const char *oc = ecs_json_str(od, "condition", "");
                                        if (strcmp(ecs_json_str(od, "containerName", ""), up->name) == 0 &&
                                            (strcmp(oc, "COMPLETE") == 0 || strcmp(oc, "SUCCESS") == 0) !=
                                                    waits_for_exit)
                                                mixed = true;
                                }
                        }
                        const char *why = !own_ok ? "it waits itself for a regular container"
                                          : mixed ? "containers wait for it both to start and to exit"
                                          : waits_for_exit && up->essential
                                                  ? "an essential container cannot be an init container"
                                          : !waits_for_exit ? "native sidecars are not available"
                                                            : "no Pod shape fits";
                        return err_set(x->e, -EOPNOTSUPP, ERR_KIND_CLIENT,
                                       "Container '%s' dependsOn '%s' %s cannot be kept on Kubernetes: %s, so '%s' "
                                       "would start together with '%s'.",
                                       ci->name, up->name, cond, why, up->name, ci->name);
                }
        }
        return 0;
}

/* Does any container wait for `u` to be HEALTHY? */
static bool healthy_dependents(const struct ctx *x, const struct cinfo *u) {
        for (size_t j = 0; j < x->n; j++) {
                size_t k;
                const json_t *d;
                json_array_foreach(json_object_get(x->c[j].def, "dependsOn"), k, d)
                        if (strcmp(ecs_json_str(d, "containerName", ""), u->name) == 0 &&
                            strcmp(ecs_json_str(d, "condition", ""), "HEALTHY") == 0)
                                return true;
        }
        return false;
}

/* What the lifecycle needs to know per container, and which dependencies it must enforce itself. */
static json_t *container_record(struct ctx *x, const struct cinfo *ci, int64_t stop) {
        json_t *deps = json_array();
        size_t k;
        const json_t *d;
        json_array_foreach(json_object_get(ci->def, "dependsOn"), k, d) {
                const struct cinfo *up = cinfo_named(x, ecs_json_str(d, "containerName", NULL));
                /* Always true: check_dependencies refused the definition otherwise. */
                bool enforced = up && up->role != ROLE_MAIN;
                json_array_append_new(deps, json_pack("{s:s, s:s, s:b}", "containerName",
                                                      ecs_json_str(d, "containerName", ""), "condition",
                                                      ecs_json_str(d, "condition", ""), "enforced", enforced));
        }
        json_t *rec = json_pack("{s:s, s:s, s:b, s:b, s:I, s:o}", "name", ci->kname, "role", role_names[ci->role],
                                "essential", ci->essential, "healthCheck", ci->health, "stopTimeout",
                                (json_int_t) stop, "dependsOn", deps);
        int64_t start_timeout = 0;
        if (ecs_json_int(ci->def, "startTimeout", &start_timeout))
                json_object_set_new(rec, "startTimeout", json_integer(start_timeout));
        return rec;
}

static int build_container(struct ctx *x, struct cinfo *ci, json_t *pod_sysctls, json_t **ret) {
        const char *cname = ci->name, *image = ecs_json_str(ci->def, "image", NULL);
        if (!image || !*image)
                return fail(x, "Container.image should not be null or empty (container '%s').", cname);
        if (has_char(image, " \t\n"))
                return fail(x, "Invalid 'image' setting for container '%s'. '%s' is not an image reference.", cname,
                            image);
        json_auto_t *kc = json_pack("{s:s, s:s}", "name", ci->kname, "image", image);
        const json_t *ep = json_object_get(ci->def, "entryPoint");
        const json_t *cmd = json_array_size(json_object_get(ci->ov, "command")) > 0 ? json_object_get(ci->ov, "command")
                                                                                    : json_object_get(ci->def, "command");
        /* ECS entryPoint/command are docker's ENTRYPOINT/CMD, which Kubernetes calls command/args. */
        if (json_array_size(ep) > 0)
                json_object_set_new(kc, "command", json_deep_copy(ep));
        if (json_array_size(cmd) > 0)
                json_object_set_new(kc, "args", json_deep_copy(cmd));
        const char *workdir = ecs_json_str(ci->def, "workingDirectory", "");
        if (*workdir)
                json_object_set_new(kc, "workingDir", json_string(workdir));
        int r;
        if ((r = container_env(x, ci, kc)) < 0 || (r = container_ports(x, ci, kc)) < 0 ||
            (r = container_resources(x, ci, kc)) < 0 || (r = container_security(x, ci, kc, pod_sysctls)) < 0)
                return r;
        json_auto_t *mounts = json_array();
        if ((r = container_volumes_from(x, ci, mounts)) < 0)
                return r;
        if (json_array_size(mounts) > 0)
                json_object_set(kc, "volumeMounts", mounts);

        json_t *probe = NULL;
        int64_t interval = 30;
        if ((r = health_probe(x, ci, &probe, &interval)) < 0)
                return r;
        ci->health = probe != NULL;
        if (probe && ci->role == ROLE_INIT) {
                note(x, "container %s: runs to completion as an init container, which cannot have probes; its "
                        "healthCheck is not run", cname);
                json_decref(probe);
        } else if (probe) {
                /* A readiness probe reports health (the container's `ready`) and never restarts the container. */
                if (ci->role == ROLE_SIDECAR && healthy_dependents(x, ci)) {
                        /* The next containers start once the startup probe passes: HEALTHY. Give up after the
                         * container's startTimeout (or 300 s); the lifecycle sees the restart that follows. */
                        int64_t window = STARTUP_WINDOW_DEFAULT_S, st = 0;
                        if (ecs_json_int(ci->def, "startTimeout", &st) && st > 0)
                                window = st;
                        json_t *startup = json_deep_copy(probe);
                        json_object_set_new(startup, "failureThreshold",
                                            json_integer((window + interval - 1) / interval));
                        json_object_set_new(kc, "startupProbe", startup);
                }
                json_object_set_new(kc, "readinessProbe", probe);
        }
        if (ci->role == ROLE_SIDECAR)
                json_object_set_new(kc, "restartPolicy", json_string("Always"));
        container_notes(x, ci);
        *ret = TAKE_PTR(kc);
        return 0;
}

static bool task_id_valid(const char *s) {
        size_t n = s ? strlen(s) : 0;
        return n > 0 && n <= TASK_ID_MAX && k8s_dns_label_valid(s);
}

static void ctx_free(struct ctx *x) {
        for (size_t i = 0; i < x->n; i++)
                json_decref(x->c[i].mounts);
}

static int build_pod(struct ctx *x, json_t **ret) {
        const struct k8s_task_spec *spec = x->spec;
        const json_t *defs = json_object_get(x->td, "containerDefinitions");
        if (json_array_size(defs) == 0)
                return fail(x, "Container list cannot be empty.");
        if (json_array_size(defs) > MAX_CONTAINERS)
                return fail(x, "A task definition can have at most %d containers here.", MAX_CONTAINERS);
        size_t i;
        const json_t *c;
        json_array_foreach(defs, i, c) {
                struct cinfo *ci = &x->c[x->n];
                const char *cname = ecs_json_str(c, "name", NULL);
                if (!cname || !ecs_name_valid(cname))
                        return fail(x, "Container.name '%s' is not valid.", cname ? cname : "");
                if (cinfo_named(x, cname))
                        return fail(x, "Container name '%s' is used twice.", cname);
                *ci = (struct cinfo){.def = c, .name = cname, .essential = !json_is_false(json_object_get(c,
                                                                                                  "essential"))};
                if (!dns_label_from(cname, ci->kname))
                        return fail(x, "Container.name '%s' gives no valid Kubernetes container name.", cname);
                for (size_t k = 0; k < x->n; k++)
                        if (strcmp(x->c[k].kname, ci->kname) == 0)
                                return fail(x, "Containers '%s' and '%s' would both be named '%s' in the Pod (names "
                                               "are lowercased and '_' becomes '-').", x->c[k].name, cname, ci->kname);
                x->n++;
        }
        json_array_foreach(json_object_get(spec->overrides, "containerOverrides"), i, c) {
                const char *n = ecs_json_str(c, "name", NULL);
                struct cinfo *ci = cinfo_named(x, n);
                if (!ci)
                        return fail(x, "Invalid container override: '%s' is not a container of task definition '%s'.",
                                    n ? n : "", x->family);
                ci->ov = c;
        }

        json_auto_t *pod = json_pack("{s:s, s:s}", "apiVersion", "v1", "kind", "Pod");
        json_auto_t *pspec = json_pack("{s:s, s:b, s:b}", "restartPolicy", "Never", "automountServiceAccountToken", 0,
                                       "enableServiceLinks", 0);
        int r;
        if ((r = task_members(x, pspec)) < 0 || (r = task_volumes(x)) < 0 || (r = dep_order(x)) < 0)
                return r;
        for (i = 0; i < x->n; i++)
                if ((r = container_mounts(x, &x->c[i])) < 0)
                        return r;
        assign_roles(x);
        if ((r = check_dependencies(x)) < 0)
                return r;

        json_auto_t *aliases = json_object(), *dns_ns = json_array(), *dns_search = json_array();
        json_auto_t *sysctls = json_array(), *inits = json_array(), *mains = json_array(), *records = json_object();
        json_auto_t *annotations = json_object();
        int64_t dflt = spec->default_stop_timeout_s > 0 ? spec->default_stop_timeout_s : K8S_STOP_TIMEOUT_DEFAULT_S;
        int64_t grace = -1;
        bool grace_differs = false;
        /* Init containers in start order (Kubernetes runs them in list order); regular containers in start order too,
         * since the kubelet starts them in list order. */
        for (size_t oi = 0; oi < x->n; oi++) {
                struct cinfo *ci = &x->c[x->order[oi]];
                int64_t stop = dflt;
                ecs_json_int(ci->def, "stopTimeout", &stop);
                if (stop < 0 || stop > 86400 * 7)
                        return fail(x, "Invalid 'stopTimeout' setting for container '%s'. It must be between 0 and "
                                       "604800.", ci->name);
                /* The grace period is for the containers that can still run when the Pod is deleted: regular ones
                 * and native sidecars. An init container (a COMPLETE or SUCCESS dependency) has finished before any
                 * regular container starts, so its stopTimeout (often the 30 s default) must not stretch it. */
                if (ci->role != ROLE_INIT) {
                        if (grace >= 0 && stop != grace)
                                grace_differs = true;
                        if (stop > grace)
                                grace = stop;
                }
                json_t *kc = NULL;
                if ((r = container_pod_network(x, ci, pspec, aliases, dns_ns, dns_search)) < 0 ||
                    (r = build_container(x, ci, sysctls, &kc)) < 0)
                        return r;
                json_array_append_new(ci->role == ROLE_MAIN ? mains : inits, kc);
                add_docker_labels(x, annotations, ci);
        }
        for (size_t oi = 0; oi < x->n; oi++) {
                const struct cinfo *ci = &x->c[x->order[oi]];
                int64_t stop = dflt;
                ecs_json_int(ci->def, "stopTimeout", &stop);
                json_object_set_new(records, ci->name, container_record(x, ci, stop));
        }
        if (json_array_size(mains) == 0)
                return fail(x, "Every container of task definition '%s' would be an init container; at least one must "
                               "run as a regular container.", x->family);
        if (grace_differs)
                note(x, "containers have different stopTimeout values; the Pod's terminationGracePeriodSeconds is the "
                        "largest, %lld", (long long) grace);

        json_object_set(pspec, "containers", mains);
        if (json_array_size(inits) > 0)
                json_object_set(pspec, "initContainers", inits);
        json_object_set_new(pspec, "terminationGracePeriodSeconds", json_integer(grace));
        if (json_array_size(x->pod_volumes) > 0)
                json_object_set(pspec, "volumes", x->pod_volumes);
        if (json_object_size(aliases) > 0) {
                json_t *list = json_array();
                const char *ip;
                json_t *names;
                json_object_foreach(aliases, ip, names)
                        json_array_append_new(list, json_pack("{s:s, s:O}", "ip", ip, "hostnames", names));
                json_object_set_new(pspec, "hostAliases", list);
        }
        if (json_array_size(dns_ns) > 0 || json_array_size(dns_search) > 0) {
                json_t *dc = json_object();
                if (json_array_size(dns_ns) > 0) {
                        json_object_set(dc, "nameservers", dns_ns);
                        /* Only "None" makes the Pod use these servers instead of the cluster's. */
                        json_object_set_new(pspec, "dnsPolicy", json_string("None"));
                }
                if (json_array_size(dns_search) > 0)
                        json_object_set(dc, "searches", dns_search);
                json_object_set_new(pspec, "dnsConfig", dc);
        }
        if (json_array_size(sysctls) > 0)
                json_object_set_new(pspec, "securityContext", json_pack("{s:O}", "sysctls", sysctls));
        if (spec->node_name && *spec->node_name)
                json_object_set_new(pspec, "nodeName", json_string(spec->node_name));

        json_t *meta = json_object();
        char name[TASK_ID_MAX + 8];
        str_printf(name, sizeof(name), "ecsd-%s", spec->task_id);
        json_object_set_new(meta, "name", json_string(name));
        json_object_set_new(meta, "namespace", json_string(spec->namespace_));
        set_labels(x, meta);
        json_object_set_new(annotations, K8S_ANNOTATION_TASK_ARN, json_string(spec->task_arn));
        json_object_set_new(annotations, K8S_ANNOTATION_CLUSTER, json_string(spec->cluster_name));
        json_object_set_new(annotations, K8S_ANNOTATION_FAMILY, json_string(x->family));
        if (x->revision > 0)
                json_object_set_new(annotations, K8S_ANNOTATION_REVISION,
                                    json_sprintf("%lld", (long long) x->revision));
        _cleanup_free_ char *rec_text = json_dumps(records, JSON_COMPACT | JSON_SORT_KEYS);
        _cleanup_free_ char *notes_text = json_dumps(x->notes, JSON_COMPACT);
        if (!rec_text || !notes_text)
                return err_set(x->e, -ENOMEM, ERR_KIND_INTERNAL, "Out of memory.");
        json_object_set_new(annotations, K8S_ANNOTATION_CONTAINERS, json_string(rec_text));
        if (json_array_size(x->notes) > 0)
                json_object_set_new(annotations, K8S_ANNOTATION_NOTES, json_string(notes_text));
        json_object_set(meta, "annotations", annotations);
        json_object_set_new(pod, "metadata", meta);
        json_object_set(pod, "spec", pspec);
        *ret = TAKE_PTR(pod);
        return 0;
}

int k8s_pod_manifest(const struct k8s_task_spec *spec, json_t **ret, struct err *e) {
        if (!spec || !json_is_object(spec->taskdef) || !spec->task_arn || !task_id_valid(spec->task_id) ||
            !spec->cluster_name || !spec->metadata_endpoint || !spec->owner_label ||
            !k8s_dns_label_valid(spec->namespace_))
                return err_set(e, -EINVAL, ERR_KIND_INTERNAL,
                               "k8s pod: the task spec needs a task definition, task ARN, task id (a DNS-1123 label "
                               "of at most 58), cluster, namespace, metadata endpoint and owner label.");
        json_auto_t *notes = json_array();
        json_auto_t *volumes = json_object();
        json_auto_t *pod_volumes = json_array();
        struct ctx x = {
                .spec = spec,
                .td = spec->taskdef,
                .mode = ecs_json_str(spec->taskdef, "networkMode", "bridge"),
                .family = ecs_json_str(spec->taskdef, "family", NULL),
                .notes = notes,
                .volumes = volumes,
                .pod_volumes = pod_volumes,
                .e = e,
        };
        if (!x.family || !ecs_name_valid(x.family))
                return fail(&x, "Family '%s' is not valid.", x.family ? x.family : "");
        ecs_json_int(spec->taskdef, "revision", &x.revision);
        if (strcmp(x.mode, "none") == 0)
                return fail(&x, "networkMode none cannot be expressed as a Pod: its containers always share a network "
                                "namespace with an interface.");
        if (strcmp(x.mode, "bridge") != 0 && strcmp(x.mode, "host") != 0 && strcmp(x.mode, "awsvpc") != 0)
                return fail(&x, "networkMode '%s' is not supported by the k8s backend.", x.mode);
        struct ecs_arn arn;
        if (ecs_arn_parse(spec->task_arn, &arn, NULL) == 0)
                str_printf(x.region, sizeof(x.region), "%s", arn.region);
        x.task_role = ecs_json_str(spec->overrides, "taskRoleArn", NULL) ? ecs_json_str(spec->overrides, "taskRoleArn",
                                                                                       NULL)
                                                                          : ecs_json_str(spec->taskdef, "taskRoleArn",
                                                                                         NULL);
        if (x.task_role && !*x.task_role)
                x.task_role = NULL;
        int r = build_pod(&x, ret);
        ctx_free(&x);
        return r;
}
