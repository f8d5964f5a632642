/* k8s.h — the Kubernetes backend's pure and client parts:
 *
 * - the Pod manifest: a pure function from a registered task definition plus a task's identity and overrides to the
 *   Pod that runs it (k8s_pod_manifest; docs/internals/k8s-pod.md has every mapping decision);
 * - the cluster → namespace mapping;
 * - configuration: kubeconfig or in-cluster service account (k8s_config_*);
 * - the API client: one reused libcurl easy handle per client (k8s_client_*, k8s_request, k8s_pod_*);
 * - the watch: one thread and one handle per namespace (k8s_watch_*).
 * docs/internals/k8s-client.md describes the client, the watch, the errors and the call counter.
 *
 * Threads: the manifest and namespace functions are pure and safe from any thread. A k8s_config is immutable after
 * k8s_config_load except for its token cache, which is guarded by a mutex, so one config may back several clients and
 * watches on different threads. A k8s_client is NOT thread-safe: use one per thread (or guard it with your own mutex).
 * A k8s_watch runs its callback on its own thread.
 *
 * Errors: functions that can fail return >= 0 or a negative errno and fill a caller-owned `struct err` (may be NULL).
 * A non-2xx answer of the API server becomes the Status object's message in `e`, with the HTTP status mapped to:
 * 404 → -ENOENT (ERR_KIND_NOT_FOUND), 409 → -EEXIST (ERR_KIND_RESOURCE_IN_USE), 401/403 → -EACCES (ERR_KIND_CLIENT),
 * 400/422 → -EINVAL (ERR_KIND_CLIENT), 410 → -ESTALE, 429/5xx → -EAGAIN, transport failures → -EIO / -ETIMEDOUT
 * (ERR_KIND_INTERNAL). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "base.h"

/* ECS agent default for a container's stop timeout (ECS_CONTAINER_STOP_TIMEOUT). */
#define K8S_STOP_TIMEOUT_DEFAULT_S 30

/* Labels and annotations ecsd puts on every Pod (see docs/internals/k8s-pod.md). */
#define K8S_LABEL_MANAGED_BY "app.kubernetes.io/managed-by"
#define K8S_LABEL_OWNER "io.ecsd/owner"
#define K8S_LABEL_TASK_ID "io.ecsd/task-id"
#define K8S_LABEL_CLUSTER "io.ecsd/cluster"
#define K8S_LABEL_FAMILY "io.ecsd/family"
#define K8S_LABEL_REVISION "io.ecsd/revision"
#define K8S_ANNOTATION_TASK_ARN "com.amazonaws.ecs/task-arn"
#define K8S_ANNOTATION_CLUSTER "com.amazonaws.ecs/cluster"
#define K8S_ANNOTATION_FAMILY "com.amazonaws.ecs/task-definition-family"
#define K8S_ANNOTATION_REVISION "com.amazonaws.ecs/task-definition-version"
#define K8S_ANNOTATION_CONTAINERS "io.ecsd/containers"
#define K8S_ANNOTATION_NOTES "io.ecsd/notes"

/* ---- the Pod manifest (pure) ---- */

struct k8s_task_spec {
        const json_t *taskdef;   /* borrowed: the registered TaskDefinition object (as DescribeTaskDefinition returns) */
        const json_t *overrides; /* borrowed, may be NULL: TaskOverride {containerOverrides, cpu, memory, taskRoleArn} */
        const char *task_arn;    /* full task ARN (an annotation); its region fills AWS_REGION / AWS_DEFAULT_REGION */
        const char *task_id;     /* [a-z0-9]([a-z0-9-]*[a-z0-9])?, at most 58: the Pod is named ecsd-<task_id> */
        const char *cluster_name;
        const char *namespace_;  /* metadata.namespace of the Pod */
        const char *node_name;   /* NULL: unset (the scheduler places the Pod); else spec.nodeName */
        /* Base of the task metadata endpoint as a Pod reaches ecsd, e.g. "http://ecsd.ecsd.svc:4566/_ecsd/metadata";
         * a container's ECS_CONTAINER_METADATA_URI_V4 is <this>/<task_id>/<container>. */
        const char *metadata_endpoint;
        /* The credentials listener as a Pod reaches it, a URL without a path: as struct docker_task_spec's
         * (ECS_CREDENTIALS_URL gives AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, another URL ..._FULL_URI). May be NULL
         * (no listener): a task role then only gets a note. */
        const char *credentials_endpoint;
        const char *credentials_id; /* the task's credentials id (rt_task_input); NULL: no credentials variables */
        const char *owner_label;    /* value of the io.ecsd/owner label (the instance id); must be a valid label value */
        int default_stop_timeout_s; /* 0: K8S_STOP_TIMEOUT_DEFAULT_S */
        /* The API server runs native sidecars (restartPolicy Always init containers; Kubernetes >= 1.29, see
         * k8s_client_native_sidecars). false: START/HEALTHY dependencies are left to the lifecycle. */
        bool native_sidecars;
};

/* Build the Pod for one task. On success stores a new JSON object in *ret (caller owns) and returns 0. A field that a
 * Pod cannot express, or an invalid value, fails with -EINVAL, ERR_KIND_CLIENT and a sentence naming the container
 * and field; *ret is then untouched. A broken spec (no ARN, an invalid task id) fails with ERR_KIND_INTERNAL.
 * Ignored fields are listed, one sentence each, in the annotation K8S_ANNOTATION_NOTES (a JSON array as a string). */
int k8s_pod_manifest(const struct k8s_task_spec *spec, json_t **ret, struct err *e);

/* Shorten and clean `s` into a valid label value in `buf` (at most 63 characters of [A-Za-z0-9._-], starting and
 * ending alphanumeric; other characters become '-'; "" stays ""). `size` must be at least 64. */
void k8s_label_value(const char *s, char *buf, size_t size);

/* ---- ECS cluster → namespace ---- */

enum k8s_ns_mode {
        K8S_NS_FIXED = 0,   /* every cluster's tasks go to one namespace */
        K8S_NS_PER_CLUSTER, /* <prefix><cluster>, cleaned into a DNS-1123 label */
};

/* The namespace for `cluster_name` into `buf` (size >= 64). FIXED: `fixed_or_prefix` itself (checked to be a
 * DNS-1123 label). PER_CLUSTER: `fixed_or_prefix` (may be "" or NULL) + the cluster name lowercased, '_' → '-'; a
 * name longer than 63 characters is cut to 54 and suffixed with '-' and 8 hex digits of its FNV-1a hash, so distinct
 * clusters stay distinct. Returns 0, or -EINVAL (ERR_KIND_INVALID) when no valid name results. */
int k8s_namespace_for_cluster(enum k8s_ns_mode mode, const char *fixed_or_prefix, const char *cluster_name, char *buf,
                              size_t size, struct err *e);

/* ---- configuration ---- */

struct k8s_config;

/* Load the configuration.
 * - `kubeconfig_path` non-NULL: that kubeconfig file.
 * - NULL: in-cluster when KUBERNETES_SERVICE_HOST is set (token, CA and namespace from the service-account directory,
 *   /var/run/secrets/kubernetes.io/serviceaccount, or $ECSD_K8S_SA_DIR), else the first file of $KUBECONFIG (a
 *   ':'-separated list; only the first is read), else ~/.kube/config.
 * `context`: NULL for current-context, else the named context.
 * Certificates and keys are read into memory (never copied to other files). A token file is re-read whenever its
 * modification time or size changes (service-account token rotation). On success *ret is a new config (caller frees
 * with k8s_config_free). */
int k8s_config_load(const char *kubeconfig_path, const char *context, struct k8s_config **ret, struct err *e);

/* Parse a kubeconfig document from memory; relative file paths inside it resolve against `base_dir` (NULL: cwd). */
int k8s_config_parse(const char *yaml, size_t len, const char *base_dir, const char *context, struct k8s_config **ret,
                     struct err *e);

void k8s_config_free(struct k8s_config *cfg);

/* Borrowed strings, valid while the config lives. server: "https://host:port" (no trailing slash). namespace: the
 * context's namespace, or "default". */
const char *k8s_config_server(const struct k8s_config *cfg);
const char *k8s_config_namespace(const struct k8s_config *cfg);
/* The bearer token in force now (re-read from its file if that changed) copied into `buf`; returns its length, 0 when
 * the config uses no token, or a negative errno. Never log it. */
int k8s_config_token(struct k8s_config *cfg, char *buf, size_t size, struct err *e);

/* ---- the API client ---- */

struct k8s_client;

struct k8s_client_options {
        int connect_timeout_ms; /* 0: 5000 */
        int request_timeout_ms; /* 0: 30000; the whole request, connect included */
        size_t max_body_bytes;  /* 0: 8 MiB; a longer response fails with -EFBIG */
};

/* A client over `cfg` (borrowed; must outlive the client). `opts` may be NULL. One easy handle, reused for every call
 * so the connection stays open. Not thread-safe. */
int k8s_client_new(struct k8s_config *cfg, const struct k8s_client_options *opts, struct k8s_client **ret,
                   struct err *e);
void k8s_client_free(struct k8s_client *c);

/* Send one request. `path` starts with '/' and must already be escaped (build it with k8s_path_*). `body` (may be
 * NULL) is sent as JSON. *ret_status gets the HTTP status when an answer arrived; *ret_json (may be NULL) a new
 * reference to the decoded 2xx body (JSON null when empty). A non-2xx answer fails as described at the top. */
int k8s_request(struct k8s_client *c, const char *method, const char *path, const json_t *body, long *ret_status,
                json_t **ret_json, struct err *e);

/* API calls this client has sent (each attempt that reached curl_easy_perform), for tests that prove "no polling". */
uint64_t k8s_client_calls(const struct k8s_client *c);

/* The server supports native sidecars: GET /version reports >= 1.29 (SidecarContainers on by default). */
int k8s_client_native_sidecars(struct k8s_client *c, bool *ret, struct err *e);

/* Create `pod` (borrowed) in `ns`. *ret_pod (may be NULL) gets the created object. */
int k8s_pod_create(struct k8s_client *c, const char *ns, const json_t *pod, json_t **ret_pod, struct err *e);
/* The same with ?dryRun=All: the server validates and admits the Pod and stores nothing. */
int k8s_pod_dry_run_create(struct k8s_client *c, const char *ns, const json_t *pod, json_t **ret_pod, struct err *e);
/* Delete with a grace period (< 0: the Pod's own). -ENOENT when the Pod does not exist. */
int k8s_pod_delete(struct k8s_client *c, const char *ns, const char *name, int grace_seconds, struct err *e);
int k8s_pod_get(struct k8s_client *c, const char *ns, const char *name, json_t **ret_pod, struct err *e);
/* List pods of `ns` matching `label_selector` (may be NULL). *ret_items: new array; *ret_resource_version (may be
 * NULL): new string the caller frees, the list's resourceVersion to watch from. */
int k8s_pod_list(struct k8s_client *c, const char *ns, const char *label_selector, json_t **ret_items,
                 char **ret_resource_version, struct err *e);

/* ---- the Service in front of an express gateway service (service.c) ---- */

/* A Service of type ClusterIP named `name` (a DNS-1123 label) with ports [{name "http", port, targetPort}] and
 * `selector` ({label: value}; borrowed), labelled `labels` (may be NULL). New reference; pure. */
json_t *k8s_service_manifest(const char *name, const json_t *selector, const json_t *labels, int port,
                             int target_port);
/* Create that Service in `ns`, or, when one of that name exists, replace its spec (its clusterIP kept). *ret (may be
 * NULL) gets the stored object. */
int k8s_service_apply(struct k8s_client *c, const char *ns, const char *name, const json_t *selector,
                      const json_t *labels, int port, int target_port, json_t **ret, struct err *e);
/* -ENOENT when there is none. */
int k8s_service_delete(struct k8s_client *c, const char *ns, const char *name, struct err *e);
int k8s_service_get(struct k8s_client *c, const char *ns, const char *name, json_t **ret, struct err *e);

/* The name of an express service's Service: "ecsd-x-" + CLUSTER-NAME as a DNS-1123 label (hashed when long). */
int k8s_express_service_name(const char *cluster, const char *name, char *buf, size_t size, struct err *e);
/* The ingress of express services on Kubernetes (express.h): a Service per express service, in the namespace the
 * cluster's task Pods go to (`mode`, `ns` as k8s_backend_config), selecting them by family and cluster labels; its
 * clusterIP is the endpoint. *ret_hooks gets the hooks (their userdata is *ret). `kube` is borrowed. */
struct k8s_express_ingress;
struct rt_express_ingress;
int k8s_express_ingress_new(struct k8s_config *kube, enum k8s_ns_mode mode, const char *ns,
                            struct k8s_express_ingress **ret, struct rt_express_ingress *ret_hooks);
void k8s_express_ingress_free(struct k8s_express_ingress *g);

/* A container's output (pods/log), at most `limit_bytes` (the newest bytes are cut, as limitBytes does). *ret is
 * NUL-terminated; the caller frees it. */
int k8s_pod_logs(struct k8s_client *c, const char *ns, const char *name, const char *container, size_t limit_bytes,
                 char **ret, size_t *ret_len, struct err *e);

/* ---- following a container's output ---- */

struct k8s_log_stream;

/* Called on the stream's thread: a chunk of output as it arrives (return false to end the stream), and, once and
 * last, the end: `e` NULL for an end of output or a cancel, else why the stream failed. */
typedef bool (*k8s_log_data_fn)(const char *data, size_t len, void *userdata);
typedef void (*k8s_log_end_fn)(const struct err *e, void *userdata);

/* Follow a container's output from its start (GET pods/NAME/log?container=C&follow=true) on a new thread with its own
 * connection. Waits at most `answer_wait_ms` for the server's answer: an error answer fails the open (and no callback
 * is ever called); a 200, or no answer yet (the API server answers only once the container has written something),
 * hands the stream over, and on_end will be called. The stream ends when the kubelet ends it (some seconds after
 * the container ends), on a cancel, or when on_data says so. `cfg` is borrowed and must outlive the stream. */
int k8s_log_stream_open(struct k8s_config *cfg, const char *ns, const char *pod, const char *container,
                        k8s_log_data_fn on_data, k8s_log_end_fn on_end, void *userdata, long answer_wait_ms,
                        struct k8s_log_stream **ret, struct err *e);
/* Make the stream end soon. Never blocks; safe under the caller's locks (on_end follows on the stream's thread). */
void k8s_log_stream_cancel(struct k8s_log_stream *s);
/* Cancel, wait for the thread (on_end has returned by then) and free. NULL-safe. Not from a callback. */
void k8s_log_stream_close(struct k8s_log_stream *s);

/* ---- running a command in a container (exec.c) ---- */
struct k8s_exec;
/* Run `argv` (NULL-terminated) in container `container` of Pod ns/pod through pods/exec (WebSocket, v5 channels;
 * no stdin, no terminal). Returns once the API server has accepted the upgrade: the command's stdout and stderr
 * then arrive on *ret_fd (CLOEXEC) until it ends. An error answer (no such Pod or container, a container not
 * running, RBAC, an API server that cannot reach the kubelet) fails with its Status message. End with
 * k8s_exec_end, exactly once. */
int k8s_exec_open(struct k8s_config *cfg, const char *ns, const char *pod, const char *container,
                  const char *const *argv, int *ret_fd, struct k8s_exec **ret, struct err *e);
/* Wait up to `wait_ms` for the command's end, then end the exec (the command in the container is not signalled),
 * close *ret_fd and free. Returns the exit code, or -1 when the command's end was not reported. */
int k8s_exec_end(struct k8s_exec *x, int64_t wait_ms);

/* ---- the watch ---- */

enum k8s_watch_event {
        K8S_WATCH_ADDED = 0,
        K8S_WATCH_MODIFIED,
        K8S_WATCH_DELETED,
        /* A full list after a (re)start or a 410 Gone: `obj` is the array of every matching pod. The consumer
         * reconciles against it (a pod it knew that is absent was deleted while nobody watched). */
        K8S_WATCH_RELISTED,
};
const char *k8s_watch_event_to_string(enum k8s_watch_event ev);

/* Called on the watch thread, one event at a time; `obj` is borrowed for the duration of the call. */
typedef void (*k8s_watch_fn)(enum k8s_watch_event ev, const json_t *obj, void *userdata);

struct k8s_watch;

struct k8s_watch_stats {
        uint64_t calls;       /* list + watch requests sent */
        uint64_t lists;       /* of which lists */
        uint64_t relists_410; /* relists caused by 410 Gone */
        uint64_t reconnects;  /* watch streams that ended and were reopened */
        uint64_t bookmarks;
        uint64_t events;      /* ADDED/MODIFIED/DELETED delivered */
};

/* Start watching pods of `ns` (NULL: of every namespace, which needs cluster-wide list/watch rights) matching `label_selector` (may be NULL) on a new thread with its own handle: list
 * (delivered as RELISTED), then watch from the list's resourceVersion with bookmarks; a stream that ends is reopened
 * from the last resourceVersion seen; 410 Gone relists; an unreachable server is retried with capped exponential
 * backoff (100 ms doubling to 5 s). `cfg` is borrowed and must outlive the watch. */
int k8s_watch_start(struct k8s_config *cfg, const char *ns, const char *label_selector, k8s_watch_fn fn,
                    void *userdata, struct k8s_watch **ret, struct err *e);
/* The same for the cluster's Nodes (needs cluster-wide list/watch rights on nodes): RELISTED carries every Node. */
int k8s_watch_start_nodes(struct k8s_config *cfg, k8s_watch_fn fn, void *userdata, struct k8s_watch **ret,
                          struct err *e);
/* Stop and join (within about 200 ms: a transfer notices the stop flag from its progress callback); NULL-safe. */
void k8s_watch_stop(struct k8s_watch *w);
void k8s_watch_get_stats(struct k8s_watch *w, struct k8s_watch_stats *ret);
