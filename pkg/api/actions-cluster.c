/* actions-cluster.c — CreateCluster, DescribeClusters, ListClusters, DeleteCluster.
 *
 * A cluster is a stored document (the botocore Cluster shape minus tags, which live in the tags table, and minus the
 * task counts, which are counted from the tasks table whenever a cluster is returned). Deleting a cluster marks it
 * INACTIVE, as ECS does: it stays describable and a CreateCluster of the same name revives it. A cluster with
 * ACTIVE or DRAINING services (ClusterContainsServicesException) or tasks not yet STOPPED
 * (ClusterContainsTasksException) cannot be deleted; api->clusters_lock keeps RunTask and CreateService from adding
 * one while DeleteCluster decides. activeServicesCount is counted from the services table. */
#include <string.h>

#include "api-internal.h"

json_t *api_cluster_doc_new(const char *region, const char *account, const char *name) {
        char arn[ECS_ARN_MAX];
        int r = ecs_arn_format(arn, sizeof(arn), region, account, "cluster", name);
        ASSERT(r >= 0);
        return json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:[], s:[{s:s, s:s}], s:[], s:[]}", "clusterArn", arn,
                         "clusterName", name, "status", "ACTIVE", "registeredContainerInstancesCount", 0,
                         "runningTasksCount", 0, "pendingTasksCount", 0, "activeServicesCount", 0, "statistics",
                         "settings", "name", "containerInsights", "value", "disabled", "capacityProviders",
                         "defaultCapacityProviderStrategy");
}

/* The cluster as the API returns it: the stored document with its task counts, plus its tags when asked for.
 * runningTasksCount counts RUNNING tasks; pendingTasksCount those not running yet (PROVISIONING, PENDING,
 * ACTIVATING); a task on its way to STOPPED is in neither. */
static int cluster_view(struct api_call *call, json_t *doc, bool with_tags, struct err *e) {
        struct rt_task_counts counts;
        int r = rt_task_count(call->store, call->region, ecs_json_str(doc, "clusterName", ""), &counts, e);
        if (r < 0)
                return r;
        json_object_set_new(doc, "runningTasksCount", json_integer(counts.running));
        json_object_set_new(doc, "pendingTasksCount", json_integer(counts.pending));
        int64_t active = 0, draining = 0;
        if ((r = rt_service_count(call->store, call->region, ecs_json_str(doc, "clusterName", ""), &active, &draining,
                                  e)) < 0)
                return r;
        json_object_set_new(doc, "activeServicesCount", json_integer(active));
        return with_tags ? api_doc_attach_tags(call, doc, "clusterArn", e) : 0;
}

int api_create_cluster(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        const char *name = ecs_json_str(in, "clusterName", ECS_DEFAULT_CLUSTER);
        if (!ecs_name_valid(name))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Cluster name must be 1 to 255 letters, numbers, hyphens and underscores.");
        const json_t *tags = json_object_get(in, "tags");
        int r = api_tags_validate(tags, e);
        if (r < 0)
                return r;

        json_auto_t *doc = NULL;
        r = rt_cluster_get(call->store, call->region, name, &doc, e);
        if (r < 0 && r != -ENOENT)
                return r;
        /* CreateCluster of an ACTIVE cluster is idempotent and returns it unchanged, as ECS does. */
        if (r == -ENOENT || strcmp(ecs_json_str(doc, "status", ""), "ACTIVE") != 0) {
                json_decref(doc);
                doc = api_cluster_doc_new(call->region, call->account, name);
                const json_t *settings = json_object_get(in, "settings");
                if (json_array_size(settings) > 0)
                        json_object_set_new(doc, "settings", json_deep_copy(settings));
                static const char *const echoed[] = {"configuration", "serviceConnectDefaults", "capacityProviders",
                                                     "defaultCapacityProviderStrategy"};
                for (size_t i = 0; i < ARRAY_SIZE(echoed); i++) {
                        const json_t *v = json_object_get(in, echoed[i]);
                        if (v)
                                json_object_set_new(doc, echoed[i], json_deep_copy(v));
                }
                r = rt_cluster_put(call->store, call->region, name, doc, e);
                if (r < 0)
                        return r;
                if (json_array_size(tags) > 0) {
                        r = rt_tags_put(call->store, ecs_json_str(doc, "clusterArn", ""), tags, e);
                        if (r < 0)
                                return r;
                }
        }
        r = cluster_view(call, doc, json_array_size(tags) > 0, e);
        if (r < 0)
                return r;
        *out = json_pack("{s:O}", "cluster", doc);
        return 0;
}

int api_describe_clusters(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        const json_t *refs = json_object_get(in, "clusters");
        const json_t *include = json_object_get(in, "include");
        if (json_array_size(refs) > 100)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "At most 100 clusters can be described at once.");
        json_auto_t *clusters = json_array();
        json_auto_t *failures = json_array();
        json_auto_t *default_refs = json_pack("[s]", ECS_DEFAULT_CLUSTER);
        if (json_array_size(refs) == 0)
                refs = default_refs;
        size_t i;
        const json_t *ref;
        json_array_foreach(refs, i, ref) {
                const char *s = json_string_value(ref);
                char name[ECS_NAME_MAX + 1];
                struct err lookup = {0};
                json_t *doc = NULL;
                int r = ecs_cluster_ref_resolve(s, call->region, call->account, name, &lookup);
                if (r >= 0)
                        r = rt_cluster_get(call->store, call->region, name, &doc, &lookup);
                if (r == -ENOENT || (r < 0 && lookup.kind != ERR_KIND_INTERNAL)) {
                        /* ECS reports an unknown cluster as a failure with the ARN it would have. */
                        char arn[ECS_ARN_MAX];
                        if (strncmp(s, "arn:", 4) == 0 || ecs_arn_format(arn, sizeof(arn), call->region,
                                                                          call->account, "cluster", s) < 0)
                                str_printf(arn, sizeof(arn), "%s", s);
                        json_array_append_new(failures, json_pack("{s:s, s:s}", "arn", arn, "reason", "MISSING"));
                        continue;
                }
                if (r < 0) {
                        *e = lookup;
                        return r;
                }
                r = cluster_view(call, doc, ecs_json_list_has(include, "TAGS"), e);
                if (r < 0) {
                        json_decref(doc);
                        return r;
                }
                json_array_append_new(clusters, doc);
        }
        *out = json_pack("{s:O, s:O}", "clusters", clusters, "failures", failures);
        return 0;
}

int api_list_clusters(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        int limit;
        int r = ecs_page_max_results(in, ECS_PAGE_DEFAULT, 100, &limit, e);
        if (r < 0)
                return r;
        char after[ECS_PAGE_KEY_MAX] = "";
        const char *token = ecs_json_str(in, "nextToken", NULL);
        if (token && (r = ecs_page_token_decode("clusters", token, after, e)) < 0)
                return r;
        /* Ask for one more than a page to learn whether another page exists. */
        json_auto_t *docs = NULL;
        r = rt_cluster_list(call->store, call->region, after, limit + 1, &docs, e);
        if (r < 0)
                return r;
        *out = api_arn_page(docs, limit, "clusterArns", "clusterArn", "clusters", "clusterName");
        return 0;
}

int api_cluster_active(struct api_call *call, const char *ref, char *name, json_t **ret, struct err *e) {
        int r = ecs_cluster_ref_resolve(ref, call->region, call->account, name, e);
        if (r < 0)
                return r;
        if (!ret)
                return rt_cluster_check_active(call->store, call->region, name, e);
        json_auto_t *doc = NULL;
        r = rt_cluster_get(call->store, call->region, name, &doc, e);
        if (r < 0)
                return r;
        if (strcmp(ecs_json_str(doc, "status", ""), "ACTIVE") != 0)
                return err_set(e, -ENOENT, ERR_KIND_CLUSTER_NOT_FOUND, "Cluster not found.");
        *ret = TAKE_PTR(doc);
        return 0;
}

static int delete_cluster(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        char name[ECS_NAME_MAX + 1];
        json_auto_t *doc = NULL;
        int r = api_cluster_active(call, ecs_json_str(in, "cluster", NULL), name, &doc, e);
        if (r < 0)
                return r;
        int64_t active = 0, draining = 0;
        if ((r = rt_service_count(call->store, call->region, name, &active, &draining, e)) < 0)
                return r;
        if (active + draining > 0)
                return err_set(e, -EBUSY, ERR_KIND_CLUSTER_CONTAINS_SERVICES,
                               "The Cluster cannot be deleted while Services are active.");
        struct rt_task_counts counts;
        r = rt_task_count(call->store, call->region, name, &counts, e);
        if (r < 0)
                return r;
        if (counts.active > 0)
                return err_set(e, -EBUSY, ERR_KIND_CLUSTER_CONTAINS_TASKS,
                               "The Cluster cannot be deleted while Tasks are active (%lld not STOPPED).",
                               (long long) counts.active);
        json_object_set_new(doc, "status", json_string("INACTIVE"));
        r = rt_cluster_put(call->store, call->region, name, doc, e);
        if (r < 0)
                return r;
        if ((r = cluster_view(call, doc, false, e)) < 0)
                return r;
        *out = json_pack("{s:O}", "cluster", doc);
        return 0;
}

int api_delete_cluster(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        pthread_rwlock_wrlock(&call->api->clusters_lock);
        int r = delete_cluster(call, in, out, e);
        pthread_rwlock_unlock(&call->api->clusters_lock);
        return r;
}
