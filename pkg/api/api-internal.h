/* api-internal.h — what the action handlers of pkg/api share: the per-call context, the handler signature, and
 * small helpers for building responses. Not for use outside pkg/api. */
#pragma once

#include <jansson.h>
#include <pthread.h>

#include "api.h"
#include "ecs.h"
#include "store.h"

/* Regions found without a lock (see struct api); more regions work, through the lock. */
#define API_REGIONS_FAST 16

struct api {
        char region[ECS_REGION_MAX + 1];
        char account[ECS_ACCOUNT_MAX + 1];
        struct rt_store *store;
        struct rt_lifecycle *lifecycle; /* NULL: no backend, the task actions are refused */
        struct rt_scheduler *scheduler; /* NULL: no backend, the service changes are refused */
        struct rt_express *express;     /* NULL: the express gateway service actions are refused */
        json_t *task_credentials;       /* owned copy of api_config.task_credentials; NULL: placeholders */
        struct rt_instances *instances; /* attached with the backend; NULL: own_instances */
        struct rt_instances *own_instances; /* owned: the registered instances only, before a backend is attached */

        /* Held shared by RunTask and StartTask from their cluster check until the task is stored, and exclusively by
         * DeleteCluster from its task count until the cluster is INACTIVE: no task can slip into a cluster being
         * deleted. */
        pthread_rwlock_t clusters_lock;

        /* Regions whose "default" cluster is known to exist, so it is created once per region, not per call.
         * `regions` grows under `regions_lock`; its first API_REGIONS_FAST entries are also copied to `fast_regions`,
         * and published by a release store of `n_fast`, so that every call after the first in a region finds its
         * region without a lock shared by all the HTTP threads. */
        pthread_mutex_t regions_lock;
        char (*regions)[ECS_REGION_MAX + 1];
        size_t n_regions;
        char fast_regions[API_REGIONS_FAST][ECS_REGION_MAX + 1];
        size_t n_fast; /* atomic */

        struct api_metrics *metrics; /* owned; counters for /_ecsd/metrics */
};

/* A response body built as text (api_body_*): what an action writes when it serves stored documents as they are. */
struct api_body {
        char *buf; /* owned; NUL-terminated */
        size_t len, cap;
};

/* One API call: the region it was signed for and what it may touch. */
struct api_call {
        struct api *api;
        const char *region;
        const char *account;
        struct rt_store *store;
        /* An action may answer with text instead of a json_t: it fills `body` and leaves *out NULL. The text must be
         * what json_dumps(JSON_COMPACT) of the equivalent object gives, byte for byte. */
        struct api_body body;
        const char *host; /* the request's Host header, or NULL */
};

/* A handler gets the shape-checked input (only members the model knows; borrowed) and returns a new response
 * object in *out, or a negative errno with `e` filled. */
typedef int (*api_action_fn)(struct api_call *call, const json_t *in, json_t **out, struct err *e);

int api_create_cluster(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_describe_clusters(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_list_clusters(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_delete_cluster(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_update_cluster(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_update_cluster_settings(struct api_call *call, const json_t *in, json_t **out, struct err *e);

int api_register_task_definition(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_describe_task_definition(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_list_task_definitions(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_list_task_definition_families(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_deregister_task_definition(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_delete_task_definitions(struct api_call *call, const json_t *in, json_t **out, struct err *e);

int api_run_task(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_start_task(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_stop_task(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_describe_tasks(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_list_tasks(struct api_call *call, const json_t *in, json_t **out, struct err *e);

int api_create_service(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_update_service(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_delete_service(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_describe_services(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_list_services(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_list_service_deployments(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_describe_service_deployments(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_describe_service_revisions(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_stop_service_deployment(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_list_services_by_namespace(struct api_call *call, const json_t *in, json_t **out, struct err *e);
/* A new task set of service `doc` (its cluster's name `cluster`) running `tdarn`, from CreateTaskSet-like input `in`
 * (scale, externalId, launchType, loadBalancers, serviceRegistries, networkConfiguration, platformVersion), with the
 * normalized capacity provider `strategy` or NULL; status ACTIVE. NULL with `e` filled when its ARN cannot be made. */
json_t *api_taskset_new(struct api_call *call, const json_t *doc, const char *cluster, const char *tdarn,
                        const json_t *in, const json_t *strategy, struct err *e);
int api_continue_service_deployment(struct api_call *call, const json_t *in, json_t **out, struct err *e);

int api_list_container_instances(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_describe_container_instances(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_register_container_instance(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_deregister_container_instance(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_update_container_instances_state(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_update_container_agent(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_put_attributes(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_list_attributes(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_delete_attributes(struct api_call *call, const json_t *in, json_t **out, struct err *e);

int api_create_capacity_provider(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_describe_capacity_providers(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_update_capacity_provider(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_delete_capacity_provider(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_put_cluster_capacity_providers(struct api_call *call, const json_t *in, json_t **out, struct err *e);
/* Check a cluster's `providers` (names; each ACTIVE, FARGATE and FARGATE_SPOT included, and an Auto Scaling group
 * provider on no other ACTIVE cluster than `cluster`) and its default `strategy` (ecs_capacity_strategy_check against
 * `providers`). CreateCluster and PutClusterCapacityProviders; InvalidParameterException. Call with clusters_lock
 * held exclusively. */
int api_cluster_capacity_check(struct api_call *call, const char *cluster, const json_t *providers,
                               const json_t *strategy, struct err *e);
/* True when `name` is an ACTIVE capacity provider of the call's region that the account made (TagResource and the
 * other tag calls; FARGATE and FARGATE_SPOT belong to AWS). */
bool api_capacity_provider_taggable(struct api_call *call, const char *name);
/* A strategy with base and weight filled in (0 when absent), as ECS returns one. New reference. */
json_t *api_capacity_strategy_normalized(const json_t *strategy);
/* The capacity provider strategy a RunTask or CreateService input runs under, in *ret_strategy (borrowed from `in`
 * or `cluster_doc`): its capacityProviderStrategy, else (no launchType either) the cluster's default strategy; NULL
 * when a launch type applies. Both launchType and a strategy, or a strategy naming a provider that is not on the
 * cluster, or one that breaks ECS's rules: InvalidParameterException. */
int api_capacity_resolve(const json_t *cluster_doc, const json_t *in, const json_t **ret_strategy, struct err *e);

int api_get_task_protection(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_update_task_protection(struct api_call *call, const json_t *in, json_t **out, struct err *e);
/* The task's own agent endpoint, ${ECS_AGENT_URI}/task-protection/v1/state (GET, PUT), on the metadata listener. */
void api_agent_task_protection(struct api *api, const char *task_id, const struct api_request *req,
                               struct api_response *resp);

int api_list_account_settings(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_put_account_setting(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_put_account_setting_default(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_delete_account_setting(struct api_call *call, const json_t *in, json_t **out, struct err *e);
/* The value of account setting `name` (one of the model's SettingName values) that applies to the caller (the root
 * user: ecsd has no IAM) in the call's region, into `value`. */
int api_account_setting_effective(struct api_call *call, const char *name, char *value, size_t size,
                                  struct err *e);

int api_execute_command(struct api_call *call, const json_t *in, json_t **out, struct err *e);
/* Give a Task object run with enableExecuteCommand its containers' ExecuteCommandAgent (managedAgents), as ECS
 * shows it. */
void api_exec_agents(json_t *task);

int api_discover_poll_endpoint(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_submit_task_state_change(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_submit_container_state_change(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_submit_attachment_state_changes(struct api_call *call, const json_t *in, json_t **out, struct err *e);

int api_tag_resource(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_untag_resource(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_list_tags_for_resource(struct api_call *call, const json_t *in, json_t **out, struct err *e);

/* Express gateway services (actions-express.c). */
int api_create_express_gateway_service(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_update_express_gateway_service(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_delete_express_gateway_service(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_describe_express_gateway_service(struct api_call *call, const json_t *in, json_t **out, struct err *e);

/* Task sets of EXTERNAL services (actions-taskset.c). */
int api_create_task_set(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_describe_task_sets(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_update_task_set(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_delete_task_set(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_update_service_primary_task_set(struct api_call *call, const json_t *in, json_t **out, struct err *e);

/* Daemons and daemon task definitions (actions-daemon.c). */
int api_register_daemon_task_definition(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_describe_daemon_task_definition(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_list_daemon_task_definitions(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_delete_daemon_task_definition(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_create_daemon(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_update_daemon(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_delete_daemon(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_describe_daemon(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_list_daemons(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_list_daemon_deployments(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_describe_daemon_deployments(struct api_call *call, const json_t *in, json_t **out, struct err *e);
int api_describe_daemon_revisions(struct api_call *call, const json_t *in, json_t **out, struct err *e);
/* True when `arn` (parsed: `parsed`, of the call's region and account) names a daemon that is not gone or a daemon
 * task definition (the tag calls). */
bool api_daemon_taggable(struct api_call *call, const struct ecs_arn *parsed, const char *arn);

/* Resolve a cluster reference (name, ARN, or NULL for "default") to an ACTIVE cluster: its name in `name`
 * (ECS_NAME_MAX + 1 bytes) and its document in *ret (ret NULL: only check it, without reading the document).
 * Unknown or INACTIVE: ClusterNotFoundException. */
int api_cluster_active(struct api_call *call, const char *ref, char *name, json_t **ret, struct err *e);

/* The stored Task (a new reference in *ret) that `ref` (a task id or ARN) names, when it belongs to cluster `cluster`
 * in the call's region: -ENOENT when it does not, -EINVAL when `ref` cannot name a task here. No error text. */
int api_task_find(struct api_call *call, const char *cluster, const char *ref, json_t **ret);

/* Resolve a service reference (a name, or an ARN service/CLUSTER/NAME or service/NAME of the call's region and
 * account) to its name in `name` (ECS_NAME_MAX + 1 bytes). An ARN of another cluster, region or account is
 * ServiceNotFoundException; a malformed reference InvalidParameterException. The service need not exist. */
int api_service_ref_name(struct api_call *call, const char *cluster, const char *ref, char *name, struct err *e);

/* CreateCluster's and UpdateCluster's checks of `settings` (values enhanced, enabled, disabled) and `configuration`
 * (logConfiguration exactly when logging is OVERRIDE). InvalidParameterException. */
int api_cluster_settings_check(const json_t *settings, struct err *e);
int api_cluster_configuration_check(const json_t *configuration, struct err *e);

/* The parts of a cluster that DescribeClusters returns only when `include` names them. */
enum {
        API_CLUSTER_ATTACHMENTS = 1u << 0,
        API_CLUSTER_CONFIGURATIONS = 1u << 1,
        API_CLUSTER_SETTINGS = 1u << 2,
        API_CLUSTER_STATISTICS = 1u << 3,
        API_CLUSTER_TAGS = 1u << 4,
        /* What the answer of a call that changes a cluster carries. */
        API_CLUSTER_FULL = API_CLUSTER_CONFIGURATIONS | API_CLUSTER_SETTINGS,
};
/* Turn a stored cluster document into the Cluster the API returns: its task and service counts, and the parts of
 * `include` (API_CLUSTER_*; those not asked for are emptied or left out, as ECS does). */
int api_cluster_view(struct api_call *call, json_t *doc, unsigned include, struct err *e);

/* A new cluster document (status ACTIVE, zero counts, default settings) for `name` in the call's region. */
json_t *api_cluster_doc_new(const char *region, const char *account, const char *name);

/* Validate a list of {"key","value"} tags as ECS does (at most 50, key 1..128, value 0..256, no "aws:" prefix).
 * Errors are InvalidParameterException. */
int api_tags_validate(const json_t *tags, struct err *e);

/* Set doc.tags to the stored tags of the resource whose ARN is doc's member `arn_key` (include: TAGS). */
int api_doc_attach_tags(struct api_call *call, json_t *doc, const char *arn_key, struct err *e);

/* A List* answer of ARNs from `docs`, the store's page asked with limit + 1 rows so that a row past `limit` tells
 * that another page exists: {out_key: [each doc's arn_key]} and, when there is one, a nextToken of `token_kind`
 * naming the last listed doc's `name_key`. A new reference. */
json_t *api_arn_page(const json_t *docs, int limit, const char *out_key, const char *arn_key, const char *token_kind,
                     const char *name_key);


/* The lifecycle, or NULL before api_attach_lifecycle / without a backend. */
struct rt_lifecycle *api_lifecycle(struct api *api);
/* The container instances: the backend's hosts once attached (api_attach_instances), else only registered ones. */
struct rt_instances *api_instances(struct api *api);
/* The express services' ingress and health checks, or NULL before api_attach_express / without a backend. */
struct rt_express *api_express(struct api *api);
/* The service scheduler, or NULL before api_attach_scheduler / without a backend. */
struct rt_scheduler *api_scheduler(struct api *api);

/* ---- operator endpoints under /_ecsd/ (api-operator.c) ---- */

/* The task metadata endpoint v4 (/_ecsd/metadata/<task-id>/<container>[/task|/taskWithTags|/stats|/task/stats]).
 * Returns false when the path is not one of them. */
bool api_metadata_handle(struct api *api, const struct api_request *req, struct api_response *resp);
/* The task-role credentials endpoint, GET /v2/credentials/<credentials-id> (only on the credentials listener).
 * Returns false when the path is not it. */
bool api_credentials_handle(struct api *api, const struct api_request *req, struct api_response *resp);
/* /_ecsd/tasks/<task-id>/logs[?container=NAME] and POST /_ecsd/cleanup. False when the path is not one of them. */
bool api_tasks_handle(struct api *api, const struct api_request *req, struct api_response *resp);
/* POST /_ecsd/exec, GET /_ecsd/exec/<session>[/output] (actions-exec.c). False when the path is not one of them. */
bool api_exec_handle(struct api *api, const struct api_request *req, struct api_response *resp);
/* ---- GET /_ecsd/metrics (metrics.c) ---- */

/* The ECS actions the router knows, by index (0 .. api_action_count() - 1); names are static strings. */
size_t api_action_count(void);
const char *api_action_name(size_t i);
struct api_metrics;
/* A zeroed block of counters (owned by the caller), and its destructor (NULL-safe). */
struct api_metrics *api_metrics_new(void);
void api_metrics_free(struct api_metrics *m);
/* Count one ECS call: `action` an index as above, or api_action_count() when the call named no known action; `kind`
 * -1 for success, else the enum err_kind of its error. Lock-free; any thread. */
void api_metrics_observe(struct api_metrics *m, size_t action, int kind, int64_t duration_us);
/* GET /_ecsd/metrics in the Prometheus text format. False when the path is not it. */
bool api_metrics_handle(struct api *api, const struct api_request *req, struct api_response *resp);

/* Append `n` bytes of `text`, or the compact JSON of `v` (as json_dumps(v, JSON_COMPACT) writes it), to `b`. */
void api_body_append(struct api_body *b, const char *text, size_t n);
void api_body_append_json(struct api_body *b, const json_t *v);
/* Room for `n` more bytes (and the NUL) in `b`, so that appending them does not reallocate. */
void api_body_reserve(struct api_body *b, size_t n);
/* `n` bytes of UTF-8 text as a JSON string, byte for byte what api_body_append_json of json_stringn(s, n) gives. */
void api_body_append_string(struct api_body *b, const char *s, size_t n);

/* A List action's page of ARNs as it is read from a store listing asked for `limit` + 1 rows: the first `limit` ARNs
 * as JSON strings joined by commas in `arns`, whether the extra row came (`more`: another page exists), and the
 * listing key of the page's last row (its next token's key). api_arn_page_add is the listing's callback (the
 * rt_task_list_fn / rt_service_list_fn shape: a row's key, its ARN and the ARN's length); `arns` is the caller's to
 * free. */
struct api_arn_page {
        struct api_body arns;
        int limit, n;
        bool more;
        char last[ECS_PAGE_KEY_MAX];
};
int api_arn_page_add(void *ctx, const char *key, const char *arn, size_t len);

/* Fill `resp` with a JSON body (serialised here; `body` stays the caller's). */
void api_respond_json(struct api_response *resp, unsigned status, const char *content_type, const json_t *body);
