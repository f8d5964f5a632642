/* actions-cluster.c — CreateCluster, DescribeClusters, ListClusters, DeleteCluster.
 *
 * A cluster is a stored document (the botocore Cluster shape minus tags, which live in the tags table, and minus the
 * task counts, which are counted from the tasks table whenever a cluster is returned). Deleting a cluster marks it
 * INACTIVE, as ECS does: it stays describable and a CreateCluster of the same name revives it. A cluster with
 * ACTIVE or DRAINING services (ClusterContainsServicesException) or tasks not yet STOPPED
 * (ClusterContainsTasksException) cannot be deleted; api->clusters_lock keeps RunTask and CreateService from adding
 * one while DeleteCluster decides. activeServicesCount is counted from the services table, and
 * registeredContainerInstancesCount from the container instances (instances.h). What DescribeClusters
 * leaves out unless `include` asks is in api_cluster_view; the answers of the calls that change a cluster (Create,
 * Update*, Delete, PutClusterCapacityProviders) carry settings and configuration, as ECS's do. */
#include <string.h>

#include "api-internal.h"
#include "instances.h"

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

/* ECS's cluster statistics (include STATISTICS), by launch type, each value a decimal string. Tasks and services of
 * the FARGATE or FARGATE_SPOT capacity providers count as Fargate; every other one (EC2, EXTERNAL, a provider of an
 * Auto Scaling group) as EC2, which is where ECS counts them. */
static int cluster_statistics(struct api_call *call, const char *name, json_t **ret, struct err *e) {
        json_auto_t *raw = NULL;
        int r = rt_cluster_statistics(call->store, call->region, name, &raw, e);
        if (r < 0)
                return r;
        int64_t n[8] = {0}; /* running, pending tasks; active, draining services: EC2 then Fargate */
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(raw, "tasks"), key, v) {
                int fargate = strncmp(key, "FARGATE", 7) == 0;
                n[fargate * 4 + 0] += json_integer_value(json_object_get(v, "running"));
                n[fargate * 4 + 1] += json_integer_value(json_object_get(v, "pending"));
        }
        json_object_foreach(json_object_get(raw, "services"), key, v) {
                int fargate = strncmp(key, "FARGATE", 7) == 0;
                n[fargate * 4 + 2] += json_integer_value(json_object_get(v, "active"));
                n[fargate * 4 + 3] += json_integer_value(json_object_get(v, "draining"));
        }
        static const char *const names[8] = {"runningEC2TasksCount",      "pendingEC2TasksCount",
                                             "activeEC2ServiceCount",     "drainingEC2ServiceCount",
                                             "runningFargateTasksCount",  "pendingFargateTasksCount",
                                             "activeFargateServiceCount", "drainingFargateServiceCount"};
        /* ECS lists them tasks first, EC2 before Fargate, then the services likewise. */
        static const int order[8] = {0, 4, 1, 5, 2, 6, 3, 7};
        json_t *out = json_array();
        for (size_t i = 0; i < 8; i++) {
                char text[24];
                str_printf(text, sizeof(text), "%lld", (long long) n[order[i]]);
                json_array_append_new(out, json_pack("{s:s, s:s}", "name", names[order[i]], "value", text));
        }
        *ret = out;
        return 0;
}

int api_cluster_view(struct api_call *call, json_t *doc, unsigned include, struct err *e) {
        const char *name = ecs_json_str(doc, "clusterName", "");
        struct rt_cluster_counts counts;
        int r = rt_cluster_counts(call->store, call->region, name, &counts, e);
        if (r < 0)
                return r;
        json_object_set_new(doc, "runningTasksCount", json_integer(counts.running));
        json_object_set_new(doc, "pendingTasksCount", json_integer(counts.pending));
        json_object_set_new(doc, "activeServicesCount", json_integer(counts.services_active));
        /* ECS counts the instances registered in the cluster, ACTIVE and DRAINING: ecsd's hosts and the external
         * ones registered there. */
        int64_t instances = 0;
        if (strcmp(ecs_json_str(doc, "status", ""), "ACTIVE") == 0 &&
            (r = rt_instances_count(api_instances(call->api), call->region, name, &instances, e)) < 0)
                return r;
        json_object_set_new(doc, "registeredContainerInstancesCount", json_integer(instances));
        /* The optional parts: ECS answers DescribeClusters with empty settings, statistics and tags unless `include`
         * names them, and with configuration and attachments only when it names them. */
        if (!(include & API_CLUSTER_SETTINGS))
                json_object_set_new(doc, "settings", json_array());
        if (!(include & API_CLUSTER_CONFIGURATIONS))
                json_object_del(doc, "configuration");
        if (include & API_CLUSTER_ATTACHMENTS) {
                /* ECS attaches scaling plans for Auto Scaling group providers; ecsd scales nothing, so none. */
                json_object_set_new(doc, "attachments", json_array());
        } else {
                json_object_del(doc, "attachments");
                json_object_del(doc, "attachmentsStatus");
        }
        json_t *stats = NULL;
        if ((include & API_CLUSTER_STATISTICS) && (r = cluster_statistics(call, name, &stats, e)) < 0)
                return r;
        json_object_set_new(doc, "statistics", stats ? stats : json_array());
        if (include & API_CLUSTER_TAGS)
                return api_doc_attach_tags(call, doc, "clusterArn", e);
        json_object_set_new(doc, "tags", json_array());
        return 0;
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
        if ((r = api_cluster_settings_check(json_object_get(in, "settings"), e)) < 0)
                return r;
        if ((r = api_cluster_configuration_check(json_object_get(in, "configuration"), e)) < 0)
                return r;
        if ((r = api_cluster_capacity_check(call, name, json_object_get(in, "capacityProviders"),
                                            json_object_get(in, "defaultCapacityProviderStrategy"), e)) < 0)
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
                else {
                        /* Without its own setting, a new cluster takes the account's containerInsights. */
                        char insights[32];
                        if ((r = api_account_setting_effective(call, "containerInsights", insights, sizeof(insights),
                                                               e)) < 0)
                                return r;
                        json_object_set_new(doc, "settings", json_pack("[{s:s, s:s}]", "name", "containerInsights",
                                                                       "value", insights));
                }
                static const char *const echoed[] = {"configuration", "serviceConnectDefaults", "capacityProviders"};
                for (size_t i = 0; i < ARRAY_SIZE(echoed); i++) {
                        const json_t *v = json_object_get(in, echoed[i]);
                        if (v)
                                json_object_set_new(doc, echoed[i], json_deep_copy(v));
                }
                json_object_set_new(doc, "defaultCapacityProviderStrategy",
                                    api_capacity_strategy_normalized(
                                            json_object_get(in, "defaultCapacityProviderStrategy")));
                r = rt_cluster_put(call->store, call->region, name, doc, e);
                if (r < 0)
                        return r;
                if (json_array_size(tags) > 0) {
                        r = rt_tags_put(call->store, ecs_json_str(doc, "clusterArn", ""), tags, e);
                        if (r < 0)
                                return r;
                }
        }
        r = api_cluster_view(call, doc, API_CLUSTER_FULL | (json_array_size(tags) > 0 ? API_CLUSTER_TAGS : 0), e);
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
        static const char *const fields[] = {"ATTACHMENTS", "CONFIGURATIONS", "SETTINGS", "STATISTICS", "TAGS"};
        static const unsigned flags[] = {API_CLUSTER_ATTACHMENTS, API_CLUSTER_CONFIGURATIONS, API_CLUSTER_SETTINGS,
                                         API_CLUSTER_STATISTICS, API_CLUSTER_TAGS};
        unsigned include_flags = 0;
        for (size_t f = 0; f < ARRAY_SIZE(fields); f++)
                if (ecs_json_list_has(include, fields[f]))
                        include_flags |= flags[f];
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
                r = api_cluster_view(call, doc, include_flags, e);
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
        struct rt_cluster_counts counts;
        if ((r = rt_cluster_counts(call->store, call->region, name, &counts, e)) < 0)
                return r;
        if (counts.services_active + counts.services_draining > 0)
                return err_set(e, -EBUSY, ERR_KIND_CLUSTER_CONTAINS_SERVICES,
                               "The Cluster cannot be deleted while Services are active.");
        if (counts.active > 0)
                return err_set(e, -EBUSY, ERR_KIND_CLUSTER_CONTAINS_TASKS,
                               "The Cluster cannot be deleted while Tasks are active (%lld not STOPPED).",
                               (long long) counts.active);
        json_object_set_new(doc, "status", json_string("INACTIVE"));
        r = rt_cluster_put(call->store, call->region, name, doc, e);
        if (r < 0)
                return r;
        if ((r = api_cluster_view(call, doc, API_CLUSTER_FULL, e)) < 0)
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
