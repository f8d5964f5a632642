/* actions-capacity.c — CreateCapacityProvider, DescribeCapacityProviders, UpdateCapacityProvider,
 * DeleteCapacityProvider, PutClusterCapacityProviders, and the resolution of a capacity provider strategy for RunTask
 * and services (api_capacity_resolve).
 *
 * FARGATE and FARGATE_SPOT exist in every region without being created; they cannot be updated or deleted. Other
 * providers are Auto Scaling group providers, stored as records of kind "capacity-provider" keyed by name (their tags
 * in the tags table). ecsd has no Auto Scaling groups: such a provider is kept, described and can be put on a
 * cluster and named in strategies, and a task placed on it reports launchType EC2 and runs on the backend like any
 * other; nothing is scaled. A deleted provider stays describable as INACTIVE (DELETE_COMPLETE) until its name is
 * used again. Managed Instances providers are not served (UnsupportedFeatureException).
 *
 * A cluster's providers and its default strategy live in the cluster document. Changes to them, and the checks that
 * a provider is on no ACTIVE cluster before it is deleted, run under api->clusters_lock held exclusively. */
#include <string.h>

#include "api-internal.h"
#include "capacity.h"

#define PROVIDER_KIND "capacity-provider"
#define DESCRIBE_PAGE_MAX 10
#define DESCRIBE_NAMES_MAX 100

static void provider_arn(struct api_call *call, const char *name, char *buf, size_t size) {
        if (ecs_arn_format(buf, size, call->region, call->account, "capacity-provider", name) < 0)
                buf[0] = '\0';
}

static json_t *builtin_doc(struct api_call *call, const char *name) {
        char arn[ECS_ARN_MAX];
        provider_arn(call, name, arn, sizeof(arn));
        return json_pack("{s:s, s:s, s:s, s:s, s:[]}", "capacityProviderArn", arn, "name", name, "status", "ACTIVE",
                         "type", name, "tags");
}

/* The provider's name from a name or an ARN of this region and account, into `name` (ECS_NAME_MAX + 1 bytes).
 * -EINVAL (InvalidParameterException) for a malformed reference or another region's ARN. */
static int provider_ref(struct api_call *call, const char *ref, char *name, struct err *e) {
        const char *n = ref ? ref : "";
        if (strncmp(n, "arn:", 4) == 0) {
                struct ecs_arn arn;
                if (ecs_arn_parse(n, &arn, e) < 0)
                        return -EINVAL;
                if (strcmp(arn.type, "capacity-provider") != 0 || strcmp(arn.region, call->region) != 0 ||
                    strcmp(arn.account, call->account) != 0)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "'%.200s' is not a capacity provider of this region and account.", ref);
                n = arn.resource;
                return str_printf(name, ECS_NAME_MAX + 1, "%s", n) < 0 || !ecs_name_valid(name)
                               ? err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid capacity provider ARN '%.200s'.", ref)
                               : 0;
        }
        if (!ecs_name_valid(n))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Capacity provider names are 1 to 255 letters, numbers, hyphens and underscores.");
        memcpy(name, n, strlen(n) + 1);
        return 0;
}

/* The provider's document (built-in or stored, any status) in *ret; -ENOENT (e untouched) when there is none. */
static int provider_get(struct api_call *call, const char *name, json_t **ret, struct err *e) {
        if (ecs_capacity_builtin(name)) {
                *ret = builtin_doc(call, name);
                return 0;
        }
        struct err lookup = {0};
        int r = rt_record_get(call->store, call->region, PROVIDER_KIND, name, ret, &lookup);
        if (r < 0 && r != -ENOENT)
                *e = lookup;
        return r;
}

static bool provider_active(struct api_call *call, const char *name) {
        json_auto_t *doc = NULL;
        struct err ignored = {0};
        return provider_get(call, name, &doc, &ignored) >= 0 &&
               strcmp(ecs_json_str(doc, "status", ""), "ACTIVE") == 0;
}

bool api_capacity_provider_taggable(struct api_call *call, const char *name) {
        return !ecs_capacity_builtin(name) && provider_active(call, name);
}

/* The ACTIVE cluster other than `except` that has provider `name`, into `cluster` (ECS_NAME_MAX + 1 bytes); 0 when
 * there is one, -ENOENT when none. */
static int provider_cluster(struct api_call *call, const char *name, const char *except, char *cluster,
                            struct err *e) {
        char after[ECS_NAME_MAX + 1] = "";
        for (;;) {
                json_auto_t *docs = NULL;
                int r = rt_cluster_list(call->store, call->region, after, 500, &docs, e);
                if (r < 0)
                        return r;
                size_t i;
                const json_t *doc;
                json_array_foreach(docs, i, doc) {
                        const char *cname = ecs_json_str(doc, "clusterName", "");
                        if ((!except || strcmp(cname, except) != 0) &&
                            ecs_json_list_has(json_object_get(doc, "capacityProviders"), name)) {
                                str_printf(cluster, ECS_NAME_MAX + 1, "%s", cname);
                                return 0;
                        }
                }
                if (json_array_size(docs) < 500)
                        return -ENOENT;
                str_printf(after, sizeof(after), "%s",
                           ecs_json_str(json_array_get(docs, json_array_size(docs) - 1), "clusterName", ""));
        }
}

/* ECS's defaults for what managedScaling leaves out. */
static void managed_scaling_defaults(json_t *asg) {
        json_t *ms = json_object_get(asg, "managedScaling");
        if (!ms)
                return;
        static const struct {
                const char *key;
                int value;
        } defaults[] = {{"targetCapacity", 100},
                        {"minimumScalingStepSize", 1},
                        {"maximumScalingStepSize", 10000},
                        {"instanceWarmupPeriod", 300}};
        if (!json_object_get(ms, "status"))
                json_object_set_new(ms, "status", json_string("ENABLED"));
        for (size_t i = 0; i < ARRAY_SIZE(defaults); i++)
                if (!json_object_get(ms, defaults[i].key))
                        json_object_set_new(ms, defaults[i].key, json_integer(defaults[i].value));
}

static int asg_check(const json_t *asg, struct err *e) {
        const json_t *ms = json_object_get(asg, "managedScaling");
        int64_t lo = 1, hi = 10000;
        ecs_json_int(ms, "minimumScalingStepSize", &lo);
        ecs_json_int(ms, "maximumScalingStepSize", &hi);
        if (lo > hi)
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "minimumScalingStepSize must not be greater than maximumScalingStepSize.");
        const char *scaling = ecs_json_str(ms, "status", ms ? "ENABLED" : "DISABLED");
        if (strcmp(ecs_json_str(asg, "managedTerminationProtection", "DISABLED"), "ENABLED") == 0 &&
            strcmp(scaling, "ENABLED") != 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Managed termination protection requires managed scaling to be enabled.");
        return 0;
}

int api_create_capacity_provider(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        const char *name = ecs_json_str(in, "name", "");
        if (!ecs_name_valid(name))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Capacity provider names are 1 to 255 letters, numbers, hyphens and underscores.");
        if (strncasecmp(name, "aws", 3) == 0 || strncasecmp(name, "ecs", 3) == 0 ||
            strncasecmp(name, "fargate", 7) == 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Capacity provider names cannot begin with 'aws', 'ecs' or 'fargate'.");
        if (json_object_get(in, "managedInstancesProvider") || json_object_get(in, "cluster"))
                return err_set(e, -ENOTSUP, ERR_KIND_UNSUPPORTED_FEATURE,
                               "ecsd does not serve Amazon ECS Managed Instances capacity providers.");
        const json_t *asg = json_object_get(in, "autoScalingGroupProvider");
        if (!asg)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "autoScalingGroupProvider is required.");
        int r = asg_check(asg, e);
        if (r < 0)
                return r;
        const json_t *tags = json_object_get(in, "tags");
        if ((r = api_tags_validate(tags, e)) < 0)
                return r;
        pthread_rwlock_wrlock(&call->api->clusters_lock);
        json_auto_t *old = NULL;
        r = provider_get(call, name, &old, e);
        if (r >= 0 && strcmp(ecs_json_str(old, "status", ""), "INACTIVE") != 0)
                r = err_set(e, -EEXIST, ERR_KIND_CLIENT, "The specified capacity provider %.255s already exists.",
                            name);
        else if (r == -ENOENT || r >= 0)
                r = 0;
        json_auto_t *doc = NULL;
        if (r >= 0) {
                char arn[ECS_ARN_MAX];
                provider_arn(call, name, arn, sizeof(arn));
                json_t *copy = json_deep_copy(asg);
                if (!json_object_get(copy, "managedTerminationProtection"))
                        json_object_set_new(copy, "managedTerminationProtection", json_string("DISABLED"));
                if (!json_object_get(copy, "managedDraining"))
                        json_object_set_new(copy, "managedDraining", json_string("ENABLED"));
                managed_scaling_defaults(copy);
                doc = json_pack("{s:s, s:s, s:s, s:o, s:s}", "capacityProviderArn", arn, "name", name, "status",
                                "ACTIVE", "autoScalingGroupProvider", copy, "type", "EC2_AUTOSCALING");
                r = rt_record_put(call->store, call->region, PROVIDER_KIND, name, doc, e);
                if (r >= 0)
                        r = rt_tags_clear(call->store, arn, e);
                if (r >= 0 && json_array_size(tags))
                        r = rt_tags_put(call->store, arn, tags, e);
        }
        pthread_rwlock_unlock(&call->api->clusters_lock);
        if (r < 0)
                return r;
        json_object_set_new(doc, "tags", tags ? json_deep_copy(tags) : json_array());
        *out = json_pack("{s:O}", "capacityProvider", doc);
        return 0;
}

/* Without names: every ACTIVE provider, FARGATE and FARGATE_SPOT first, then the stored ones by name; with names
 * (at most 100, names or ARNs): those, any status, an unknown one in failures (MISSING). With `cluster`, only the
 * providers on that cluster. Pages of maxResults (1-10, default 10) resume after the last name returned. */
int api_describe_capacity_providers(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        const json_t *refs = json_object_get(in, "capacityProviders");
        if (json_array_size(refs) > DESCRIBE_NAMES_MAX)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "At most %d capacity providers can be described at once.",
                               DESCRIBE_NAMES_MAX);
        /* With a cluster: only the providers on it. */
        json_auto_t *cluster_doc = NULL;
        if (json_object_get(in, "cluster")) {
                char cname[ECS_NAME_MAX + 1];
                int cr = api_cluster_active(call, ecs_json_str(in, "cluster", NULL), cname, &cluster_doc, e);
                if (cr < 0)
                        return cr;
        }
        int limit;
        int r = ecs_page_max_results(in, DESCRIBE_PAGE_MAX, DESCRIBE_PAGE_MAX, &limit, e);
        if (r < 0)
                return r;
        char after[ECS_PAGE_KEY_MAX] = "";
        const char *token = ecs_json_str(in, "nextToken", NULL);
        if (token && (r = ecs_page_token_decode("DescribeCapacityProviders", token, after, e)) < 0)
                return r;
        bool with_tags = ecs_json_list_has(json_object_get(in, "include"), "TAGS");

        /* Every candidate, in the order pages follow. */
        json_auto_t *all = json_array();
        json_auto_t *failures = json_array();
        if (json_array_size(refs) == 0) {
                json_array_append_new(all, builtin_doc(call, ECS_CAPACITY_FARGATE));
                json_array_append_new(all, builtin_doc(call, ECS_CAPACITY_FARGATE_SPOT));
                char from[ECS_NAME_MAX + 1] = "";
                for (;;) {
                        json_auto_t *rows = NULL;
                        if ((r = rt_record_list(call->store, call->region, PROVIDER_KIND, from, 500, &rows, e)) < 0)
                                return r;
                        size_t i;
                        const json_t *row;
                        json_array_foreach(rows, i, row) {
                                const json_t *doc = json_object_get(row, "doc");
                                if (strcmp(ecs_json_str(doc, "status", ""), "ACTIVE") == 0)
                                        json_array_append_new(all, json_deep_copy(doc));
                        }
                        if (json_array_size(rows) < 500)
                                break;
                        str_printf(from, sizeof(from), "%s",
                                   ecs_json_str(json_array_get(rows, json_array_size(rows) - 1), "key", ""));
                }
        } else {
                size_t i;
                const json_t *ref;
                json_array_foreach(refs, i, ref) {
                        char name[ECS_NAME_MAX + 1];
                        struct err bad = {0};
                        json_t *doc = NULL;
                        if (provider_ref(call, json_string_value(ref), name, &bad) < 0 ||
                            (r = provider_get(call, name, &doc, e)) == -ENOENT) {
                                json_array_append_new(failures, json_pack("{s:s, s:s}", "arn",
                                                                          json_string_value(ref), "reason",
                                                                          "MISSING"));
                                continue;
                        }
                        if (r < 0)
                                return r;
                        json_array_append_new(all, doc);
                }
        }
        if (cluster_doc) {
                const json_t *on = json_object_get(cluster_doc, "capacityProviders");
                for (size_t k = json_array_size(all); k-- > 0;)
                        if (!ecs_json_list_has(on, ecs_json_str(json_array_get(all, k), "name", "")))
                                json_array_remove(all, k);
        }
        json_auto_t *page = json_array();
        bool started = after[0] == '\0', more = false;
        size_t i;
        json_t *doc;
        json_array_foreach(all, i, doc) {
                if (!started) {
                        started = strcmp(ecs_json_str(doc, "name", ""), after) == 0;
                        continue;
                }
                if (json_array_size(page) == (size_t) limit) {
                        more = true;
                        break;
                }
                if (with_tags && !ecs_capacity_builtin(ecs_json_str(doc, "name", "")) &&
                    (r = api_doc_attach_tags(call, doc, "capacityProviderArn", e)) < 0)
                        return r;
                if (!with_tags)
                        json_object_del(doc, "tags");
                json_array_append(page, doc);
        }
        *out = json_pack("{s:O, s:O}", "capacityProviders", page, "failures", failures);
        if (more) {
                char next[ECS_PAGE_TOKEN_MAX];
                const char *last = ecs_json_str(json_array_get(page, json_array_size(page) - 1), "name", "");
                r = ecs_page_token_encode("DescribeCapacityProviders", last, next, sizeof(next));
                ASSERT(r >= 0);
                json_object_set_new(*out, "nextToken", json_string(next));
        }
        return 0;
}

/* The stored (not built-in) ACTIVE provider `ref` names, in *ret, with its name in `name`. */
static int stored_provider(struct api_call *call, const char *ref, char *name, json_t **ret, struct err *e) {
        int r = provider_ref(call, ref, name, e);
        if (r < 0)
                return r;
        if (ecs_capacity_builtin(name))
                return err_set(e, -EINVAL, ERR_KIND_CLIENT,
                               "The %s capacity provider is reserved and cannot be changed or deleted.", name);
        json_auto_t *doc = NULL;
        r = provider_get(call, name, &doc, e);
        if (r == -ENOENT || (r >= 0 && strcmp(ecs_json_str(doc, "status", ""), "ACTIVE") != 0))
                return err_set(e, -ENOENT, ERR_KIND_CLIENT, "The specified capacity provider %.255s does not exist.",
                               name);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(doc);
        return 0;
}

static int update_provider(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        if (json_object_get(in, "managedInstancesProvider") || json_object_get(in, "cluster"))
                return err_set(e, -ENOTSUP, ERR_KIND_UNSUPPORTED_FEATURE,
                               "ecsd does not serve Amazon ECS Managed Instances capacity providers.");
        const json_t *update = json_object_get(in, "autoScalingGroupProvider");
        if (!update)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "autoScalingGroupProvider is required.");
        char name[ECS_NAME_MAX + 1];
        json_auto_t *doc = NULL;
        int r = stored_provider(call, ecs_json_str(in, "name", NULL), name, &doc, e);
        if (r < 0)
                return r;
        json_t *asg = json_object_get(doc, "autoScalingGroupProvider");
        json_auto_t *merged = json_deep_copy(asg);
        static const char *const keys[] = {"managedTerminationProtection", "managedDraining"};
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
                if (json_object_get(update, keys[i]))
                        json_object_set_new(merged, keys[i], json_deep_copy(json_object_get(update, keys[i])));
        const json_t *ms = json_object_get(update, "managedScaling");
        if (ms) {
                json_t *stored = json_object_get(merged, "managedScaling");
                if (!stored) {
                        stored = json_object();
                        json_object_set_new(merged, "managedScaling", stored);
                }
                json_auto_t *copy = json_deep_copy(ms);
                json_object_update(stored, copy);
                managed_scaling_defaults(merged);
        }
        if ((r = asg_check(merged, e)) < 0)
                return r;
        json_object_set(doc, "autoScalingGroupProvider", merged);
        json_object_set_new(doc, "updateStatus", json_string("UPDATE_COMPLETE"));
        if ((r = rt_record_put(call->store, call->region, PROVIDER_KIND, name, doc, e)) < 0)
                return r;
        *out = json_pack("{s:O}", "capacityProvider", doc);
        return 0;
}

int api_update_capacity_provider(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        pthread_rwlock_wrlock(&call->api->clusters_lock);
        int r = update_provider(call, in, out, e);
        pthread_rwlock_unlock(&call->api->clusters_lock);
        return r;
}

static int delete_provider(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        if (json_object_get(in, "cluster"))
                return err_set(e, -ENOTSUP, ERR_KIND_UNSUPPORTED_FEATURE,
                               "ecsd does not serve Amazon ECS Managed Instances capacity providers.");
        char name[ECS_NAME_MAX + 1];
        json_auto_t *doc = NULL;
        int r = stored_provider(call, ecs_json_str(in, "capacityProvider", NULL), name, &doc, e);
        if (r < 0)
                return r;
        char cluster[ECS_NAME_MAX + 1];
        r = provider_cluster(call, name, NULL, cluster, e);
        if (r >= 0)
                return err_set(e, -EBUSY, ERR_KIND_CLIENT,
                               "The specified capacity provider %.255s is associated with cluster %.255s; remove it "
                               "with PutClusterCapacityProviders before deleting it.",
                               name, cluster);
        if (r != -ENOENT)
                return r;
        json_object_set_new(doc, "status", json_string("INACTIVE"));
        json_object_set_new(doc, "updateStatus", json_string("DELETE_COMPLETE"));
        if ((r = rt_record_put(call->store, call->region, PROVIDER_KIND, name, doc, e)) < 0)
                return r;
        *out = json_pack("{s:O}", "capacityProvider", doc);
        return 0;
}

int api_delete_capacity_provider(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        pthread_rwlock_wrlock(&call->api->clusters_lock);
        int r = delete_provider(call, in, out, e);
        pthread_rwlock_unlock(&call->api->clusters_lock);
        return r;
}

int api_cluster_capacity_check(struct api_call *call, const char *cluster, const json_t *providers,
                               const json_t *strategy, struct err *e) {
        size_t i;
        const json_t *p;
        json_array_foreach(providers, i, p) {
                const char *name = json_string_value(p);
                for (size_t k = 0; k < i; k++)
                        if (strcmp(json_string_value(json_array_get(providers, k)), name) == 0)
                                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                               "Capacity provider %.255s is listed more than once.", name);
                if (!provider_active(call, name))
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "The specified capacity provider %.255s does not exist or is not ACTIVE.",
                                       name);
                char other[ECS_NAME_MAX + 1];
                int r = ecs_capacity_builtin(name) ? -ENOENT : provider_cluster(call, name, cluster, other, e);
                if (r >= 0)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "The specified capacity provider %.255s is already associated with cluster "
                                       "%.255s.",
                                       name, other);
                if (r != -ENOENT)
                        return r;
        }
        json_auto_t *none = json_array();
        return ecs_capacity_strategy_check(strategy, providers ? providers : none, "the cluster", e);
}

/* Each item with ECS's defaults filled in (base 0, weight 0), as ECS returns strategies. */
static json_t *strategy_normalized(const json_t *strategy) {
        json_t *out = json_array();
        size_t i;
        const json_t *item;
        json_array_foreach(strategy, i, item) {
                int64_t base = 0, weight = 0;
                ecs_json_int(item, "base", &base);
                ecs_json_int(item, "weight", &weight);
                json_array_append_new(out, json_pack("{s:s, s:I, s:I}", "capacityProvider",
                                                     ecs_json_str(item, "capacityProvider", ""), "weight",
                                                     (json_int_t) weight, "base", (json_int_t) base));
        }
        return out;
}

static int put_cluster_providers(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        char name[ECS_NAME_MAX + 1];
        json_auto_t *doc = NULL;
        int r = api_cluster_active(call, ecs_json_str(in, "cluster", NULL), name, &doc, e);
        if (r < 0)
                return r;
        const json_t *providers = json_object_get(in, "capacityProviders");
        const json_t *strategy = json_object_get(in, "defaultCapacityProviderStrategy");
        if ((r = api_cluster_capacity_check(call, name, providers, strategy, e)) < 0)
                return r;
        /* A provider leaves the cluster only when no task of the cluster that is not STOPPED runs on it and no
         * service of the cluster names it in its strategy. */
        size_t i;
        const json_t *old;
        json_array_foreach(json_object_get(doc, "capacityProviders"), i, old) {
                const char *p = json_string_value(old);
                if (ecs_json_list_has(providers, p))
                        continue;
                int64_t running = 0;
                if ((r = rt_task_count_provider(call->store, call->region, name, p, &running, e)) < 0)
                        return r;
                if (running > 0)
                        return err_set(e, -EBUSY, ERR_KIND_RESOURCE_IN_USE,
                                       "The specified capacity provider %.255s is in use by %lld tasks of the cluster "
                                       "and cannot be removed.",
                                       p, (long long) running);
                struct rt_service_query q = {.region = call->region, .cluster = name, .limit = 100000};
                json_auto_t *services = NULL;
                if ((r = rt_service_list(call->store, &q, &services, e)) < 0)
                        return r;
                size_t k;
                const json_t *svc;
                json_array_foreach(services, k, svc) {
                        size_t m;
                        const json_t *item;
                        json_array_foreach(json_object_get(svc, "capacityProviderStrategy"), m, item) {
                                if (strcmp(ecs_json_str(item, "capacityProvider", ""), p) == 0)
                                        return err_set(e, -EBUSY, ERR_KIND_RESOURCE_IN_USE,
                                                       "The specified capacity provider %.255s is in use by service "
                                                       "%.255s and cannot be removed.",
                                                       p, ecs_json_str(svc, "serviceName", ""));
                        }
                }
        }
        json_object_set_new(doc, "capacityProviders", json_deep_copy(providers));
        json_object_set_new(doc, "defaultCapacityProviderStrategy", strategy_normalized(strategy));
        if ((r = rt_cluster_put(call->store, call->region, name, doc, e)) < 0)
                return r;
        if ((r = api_cluster_view(call, doc, API_CLUSTER_FULL, e)) < 0)
                return r;
        *out = json_pack("{s:O}", "cluster", doc);
        return 0;
}

int api_put_cluster_capacity_providers(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        pthread_rwlock_wrlock(&call->api->clusters_lock);
        int r = put_cluster_providers(call, in, out, e);
        pthread_rwlock_unlock(&call->api->clusters_lock);
        return r;
}

json_t *api_capacity_strategy_normalized(const json_t *strategy) {
        return strategy_normalized(strategy);
}

int api_capacity_resolve(const json_t *cluster_doc, const json_t *in, const json_t **ret_strategy, struct err *e) {
        const char *launch_type = ecs_json_str(in, "launchType", NULL);
        const json_t *strategy = json_object_get(in, "capacityProviderStrategy");
        *ret_strategy = NULL;
        if (launch_type && json_array_size(strategy))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Specifying both a launchType and capacityProviderStrategy is not supported.");
        if (launch_type)
                return 0;
        if (json_array_size(strategy) == 0) {
                /* Neither: the cluster's default strategy, when it has one, as ECS does. */
                strategy = json_object_get(cluster_doc, "defaultCapacityProviderStrategy");
                if (json_array_size(strategy) == 0)
                        return 0;
        }
        int r = ecs_capacity_strategy_check(strategy, json_object_get(cluster_doc, "capacityProviders"),
                                            "the cluster", e);
        if (r < 0)
                return r;
        *ret_strategy = strategy;
        return 0;
}
