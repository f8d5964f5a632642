/* actions-service.c — CreateService, UpdateService, DeleteService, DescribeServices, ListServices, and the service
 * reference rule the task actions share.
 *
 * A service is a stored document (the botocore Service shape without tags, which live in the tags table). The
 * handlers check a request the way ECS does; every change to a stored service goes through the scheduler
 * (pkg/runtime/scheduler.h), which owns service documents once they exist and keeps their tasks. */
#include <string.h>

#include "api-internal.h"
#include "placement.h"
#include "capacity.h"
#include "scheduler.h"
#include "tasksets.h"

int api_service_ref_name(struct api_call *call, const char *cluster, const char *ref, char *name, struct err *e) {
        const char *tail = ref;
        if (strncmp(ref, "arn:", 4) == 0) {
                struct ecs_arn arn;
                int r = ecs_arn_parse(ref, &arn, e);
                if (r < 0)
                        return r;
                if (strcmp(arn.type, "service") != 0)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "'%.200s' is not a service ARN.", ref);
                if (strcmp(arn.region, call->region) != 0 || strcmp(arn.account, call->account) != 0)
                        return err_set(e, -ENOENT, ERR_KIND_SERVICE_NOT_FOUND, "Service not found.");
                const char *slash = strchr(arn.resource, '/');
                if (slash && ((size_t) (slash - arn.resource) != strlen(cluster) ||
                              strncmp(arn.resource, cluster, strlen(cluster)) != 0))
                        return err_set(e, -ENOENT, ERR_KIND_SERVICE_NOT_FOUND, "Service not found.");
                tail = strrchr(ref, '/') + 1;
        }
        if (!ecs_name_valid(tail))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Service name must be 1 to 255 letters, numbers, hyphens and underscores.");
        return str_printf(name, ECS_NAME_MAX + 1, "%s", tail);
}

#define DESCRIBE_SERVICES_MAX 10
#define LIST_SERVICES_DEFAULT 10

/* The scheduler, or ServerException when ecsd runs without a backend (nothing could run a service's tasks). */
static struct rt_scheduler *scheduler_or_fail(struct api_call *call, struct err *e) {
        struct rt_scheduler *s = api_scheduler(call->api);
        if (!s)
                err_set(e, -ENOTSUP, ERR_KIND_INTERNAL, "ecsd runs without a backend; services cannot run.");
        return s;
}

/* The cluster (ACTIVE) and the service name that an input's `cluster` and `service` members name. */
static int service_of_input(struct api_call *call, const json_t *in, char *cluster, char *name, struct err *e) {
        json_auto_t *cluster_doc = NULL;
        int r = api_cluster_active(call, ecs_json_str(in, "cluster", NULL), cluster, &cluster_doc, e);
        if (r >= 0)
                r = api_service_ref_name(call, cluster, ecs_json_str(in, "service", ""), name, e);
        return r;
}

static int service_arn(struct api_call *call, const char *cluster, const char *name, char *buf, size_t size) {
        char resource[2 * ECS_NAME_MAX + 2];
        str_printf(resource, sizeof(resource), "%s/%s", cluster, name);
        return ecs_arn_format(buf, size, call->region, call->account, "service", resource);
}

static int check_percent(const json_t *cfg, struct err *e) {
        int64_t max_pct, min_pct;
        if (ecs_json_int(cfg, "maximumPercent", &max_pct) && (max_pct < 100 || max_pct > 10000))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "maximumPercent must be between 100 and 10000.");
        if (ecs_json_int(cfg, "minimumHealthyPercent", &min_pct) && (min_pct < 0 || min_pct > 100))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "minimumHealthyPercent must be between 0 and 100.");
        /* Lifecycle hooks (the scheduler runs them: scheduler.c, hooks_pass): each names its stages, and a Lambda hook
         * (the default type) its function, as ECS requires. */
        size_t i;
        const json_t *h;
        json_array_foreach(json_object_get(cfg, "lifecycleHooks"), i, h) {
                if (json_array_size(json_object_get(h, "lifecycleStages")) == 0)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "A lifecycle hook needs lifecycleStages.");
                if (strcmp(ecs_json_str(h, "targetType", "AWS_LAMBDA"), "AWS_LAMBDA") == 0 &&
                    !ecs_json_str(h, "hookTargetArn", NULL))
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "An AWS_LAMBDA lifecycle hook needs a hookTargetArn.");
        }
        return 0;
}

/* The ARN of the ACTIVE task definition `ref` names, in `arn` (ECS_ARN_MAX bytes). */
static int taskdef_resolve(struct api_call *call, const char *ref, char *arn, struct err *e) {
        char family[ECS_NAME_MAX + 1];
        int64_t rev;
        int r = ecs_taskdef_ref_resolve(ref, call->region, call->account, family, &rev, e);
        if (r < 0)
                return r;
        json_auto_t *td = NULL;
        r = rt_taskdef_get(call->store, call->region, family, rev, &td, e);
        if (r == -ENOENT || (r >= 0 && strcmp(ecs_json_str(td, "status", ""), "ACTIVE") != 0))
                return err_set(e, -ENOENT, ERR_KIND_INVALID, "TaskDefinition not found.");
        if (r < 0)
                return r;
        return str_printf(arn, ECS_ARN_MAX, "%s", ecs_json_str(td, "taskDefinitionArn", ""));
}

/* The inputs of CreateService and UpdateService that the Service shape has no member for, but its deployments and
 * service revisions do (kept in the service's private record by the scheduler). */
static const char *const config_members[] = {"serviceConnectConfiguration", "volumeConfigurations",
                                              "vpcLatticeConfigurations"};

/* Up to 36 ASCII characters in the range 33-126 (the model's rule for clientToken). */
static bool client_token_valid(const char *t) {
        size_t n = strlen(t);
        if (n == 0 || n > 36)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) t[i] < 33 || (unsigned char) t[i] > 126)
                        return false;
        return true;
}

/* The rules of the DAEMON strategy (one task on each container instance; the scheduler sets desiredCount), and the
 * placement members both strategies share (placement.h). */
static int daemon_check(const json_t *in, struct err *e) {
        const char *strategy = ecs_json_str(in, "schedulingStrategy", "REPLICA");
        int r = rt_placement_validate(json_object_get(in, "placementConstraints"),
                                      json_object_get(in, "placementStrategy"), e);
        if (r < 0 || strcmp(strategy, "DAEMON") != 0)
                return r;
        if (json_object_get(in, "desiredCount"))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "The daemon scheduling strategy does not support a desired count for services.");
        if (json_array_size(json_object_get(in, "placementStrategy")))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "The daemon scheduling strategy does not support placement strategies.");
        if (json_array_size(json_object_get(in, "capacityProviderStrategy")) ||
            strcmp(ecs_json_str(in, "launchType", "EC2"), "FARGATE") == 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "The daemon scheduling strategy is supported only with the EC2 and EXTERNAL launch "
                               "types.");
        return 0;
}

static int create_service(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        struct rt_scheduler *sch = scheduler_or_fail(call, e);
        if (!sch)
                return -ENOTSUP;
        char cluster[ECS_NAME_MAX + 1];
        json_auto_t *cluster_doc = NULL;
        int r = api_cluster_active(call, ecs_json_str(in, "cluster", NULL), cluster, &cluster_doc, e);
        if (r < 0)
                return r;
        const char *name = ecs_json_str(in, "serviceName", "");
        if (!ecs_name_valid(name))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Service name must be 1 to 255 letters, numbers, hyphens and underscores.");
        const char *strategy = ecs_json_str(in, "schedulingStrategy", "REPLICA");
        bool daemon = strcmp(strategy, "DAEMON") == 0;
        if ((r = daemon_check(in, e)) < 0)
                return r;
        /* EXTERNAL: the service's tasks are those of its task sets (actions-taskset.c). CODE_DEPLOY: those of its
         * PRIMARY task set, made here from the service's task definition (CodeDeploy would add the replacement ones;
         * ecsd has no CodeDeploy, so that one stays). */
        const char *controller = ecs_json_str(json_object_get(in, "deploymentController"), "type", "ECS");
        bool external = strcmp(controller, "EXTERNAL") == 0;
        bool code_deploy = strcmp(controller, "CODE_DEPLOY") == 0;
        if ((external || code_deploy) && daemon)
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "The daemon scheduling strategy does not support the %s deployment controller.",
                               controller);
        const char *launch_type = ecs_json_str(in, "launchType", NULL);
        const json_t *cps = json_object_get(in, "capacityProviderStrategy");
        if (launch_type && json_array_size(cps))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Specifying both a launchType and capacityProviderStrategy is not supported.");
        int64_t desired = 0;
        if (!daemon && !ecs_json_int(in, "desiredCount", &desired))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "desiredCount is required for a service with the REPLICA scheduling strategy.");
        if (desired < 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "desiredCount must be at least 0.");
        const char *tdref = ecs_json_str(in, "taskDefinition", NULL);
        if (!tdref && !external)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "A task definition is required for this service.");
        char tdarn[ECS_ARN_MAX] = "";
        if (tdref && (r = taskdef_resolve(call, tdref, tdarn, e)) < 0)
                return r;
        const json_t *dcfg = json_object_get(in, "deploymentConfiguration");
        if ((r = check_percent(dcfg, e)) < 0)
                return r;
        const json_t *tags = json_object_get(in, "tags");
        if ((r = api_tags_validate(tags, e)) < 0)
                return r;
        int64_t grace = 0;
        if (ecs_json_int(in, "healthCheckGracePeriodSeconds", &grace) && grace < 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "healthCheckGracePeriodSeconds must be at least 0.");
        const char *token = ecs_json_str(in, "clientToken", NULL);
        if (token && !client_token_valid(token))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "clientToken must be 1 to 36 ASCII characters in the range 33 to 126.");

        char arn[ECS_ARN_MAX], created_by[64];
        if (service_arn(call, cluster, name, arn, sizeof(arn)) < 0)
                return err_set(e, -ENAMETOOLONG, ERR_KIND_INVALID, "The service ARN would be too long.");
        str_printf(created_by, sizeof(created_by), "arn:aws:iam::%s:root", call->account);
        /* A DAEMON service replaces its one task per instance in place: ECS's defaults are 100 % and 0 %. */
        json_t *cfg = json_pack("{s:{s:b, s:b}, s:i, s:i}", "deploymentCircuitBreaker", "enable", 0, "rollback", 0,
                                "maximumPercent", daemon ? 100 : 200, "minimumHealthyPercent", daemon ? 0 : 100);
        if (dcfg) {
                json_auto_t *copy = json_deep_copy(dcfg);
                json_object_update(cfg, copy);
        }
        json_auto_t *doc = json_pack(
                "{s:s, s:s, s:s, s:[], s:[], s:s, s:I, s:i, s:i, s:s, s:o, s:[], s:o, s:[], s:[], s:s, s:{s:s}, s:s,"
                " s:b, s:s, s:b, s:s}",
                "serviceArn", arn, "serviceName", name, "clusterArn", ecs_json_str(cluster_doc, "clusterArn", ""),
                "loadBalancers", "serviceRegistries", "status", "ACTIVE", "desiredCount", (json_int_t) desired,
                "runningCount", 0, "pendingCount", 0, "taskDefinition", tdarn, "deploymentConfiguration", cfg,
                "events", "createdAt", ecs_timestamp_now(), "placementConstraints", "placementStrategy",
                "schedulingStrategy", daemon ? "DAEMON" : "REPLICA", "deploymentController", "type", controller,
                "createdBy", created_by,
                "enableECSManagedTags", json_is_true(json_object_get(in, "enableECSManagedTags")), "propagateTags",
                ecs_json_str(in, "propagateTags", "NONE"), "enableExecuteCommand",
                json_is_true(json_object_get(in, "enableExecuteCommand")), "availabilityZoneRebalancing",
                ecs_json_str(in, "availabilityZoneRebalancing", "ENABLED"));
        if (!tdarn[0])
                json_object_del(doc, "taskDefinition");
        /* A strategy given, or the cluster's default when neither it nor a launchType is given (ECS). */
        const json_t *cp_strategy = NULL;
        if ((r = api_capacity_resolve(cluster_doc, in, &cp_strategy, e)) < 0)
                return r;
        if (cp_strategy)
                json_object_set_new(doc, "capacityProviderStrategy", api_capacity_strategy_normalized(cp_strategy));
        else
                json_object_set_new(doc, "launchType", json_string(launch_type ? launch_type : "EC2"));
        if ((launch_type && strcmp(launch_type, "FARGATE") == 0) ||
            (cp_strategy && ecs_capacity_builtin(ecs_capacity_pick(cp_strategy, 0))))
                json_object_set_new(doc, "platformVersion",
                                    json_string(ecs_json_str(in, "platformVersion", "LATEST")));
        static const char *const echoed[] = {"loadBalancers", "serviceRegistries", "placementConstraints",
                                             "placementStrategy", "networkConfiguration", "roleArn"};
        for (size_t i = 0; i < ARRAY_SIZE(echoed); i++) {
                const json_t *v = json_object_get(in, echoed[i]);
                if (v)
                        json_object_set_new(doc, echoed[i], json_deep_copy(v));
        }
        if (json_object_get(in, "healthCheckGracePeriodSeconds"))
                json_object_set_new(doc, "healthCheckGracePeriodSeconds", json_integer(grace));

        json_auto_t *config = json_object();
        for (size_t i = 0; i < ARRAY_SIZE(config_members); i++) {
                const json_t *v = json_object_get(in, config_members[i]);
                if (v)
                        json_object_set_new(config, config_members[i], json_deep_copy(v));
        }
        if (code_deploy) {
                json_t *ts = api_taskset_new(call, doc, cluster, tdarn, in, json_object_get(doc, "capacityProviderStrategy"),
                                             e);
                if (!ts)
                        return e->code;
                json_object_set_new(ts, "status", json_string("PRIMARY"));
                json_object_set_new(doc, "taskSets", json_pack("[o]", ts));
        }
        struct rt_service_create c = {.doc = doc, .config = config, .client_token = token, .request = in};
        json_auto_t *stored = NULL;
        if ((r = rt_scheduler_create(sch, call->region, cluster, &c, &stored, e)) < 0)
                return r;
        if (r == 1) {
                /* A retry of the same request: the service as it is now, its tags untouched. */
                if ((r = api_doc_attach_tags(call, stored, "serviceArn", e)) < 0)
                        return r;
                if (json_array_size(json_object_get(stored, "tags")) == 0)
                        json_object_del(stored, "tags");
                *out = json_pack("{s:O}", "service", stored);
                return 0;
        }
        if (json_array_size(tags) > 0) {
                if ((r = rt_tags_clear(call->store, arn, e)) < 0 || (r = rt_tags_put(call->store, arn, tags, e)) < 0)
                        return r;
                json_object_set_new(stored, "tags", json_deep_copy(tags));
        }
        *out = json_pack("{s:O}", "service", stored);
        return 0;
}

/* DeleteCluster waits while a service is being created in the cluster (api->clusters_lock), as for RunTask. */
int api_create_service(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        pthread_rwlock_rdlock(&call->api->clusters_lock);
        int r = create_service(call, in, out, e);
        pthread_rwlock_unlock(&call->api->clusters_lock);
        return r;
}

/* UpdateService's capacityProviderStrategy, checked against the cluster's providers, in *ret (normalized). An empty
 * one returns the service to a launch type: the cluster's default strategy when it has one (then *ret is that),
 * else the launch type its current strategy stands for. */
static int update_strategy(struct api_call *call, const char *cluster, const char *name, const json_t *strategy,
                           json_t **ret, const char **ret_launch_type, struct err *e) {
        char cname[ECS_NAME_MAX + 1];
        json_auto_t *cluster_doc = NULL;
        int r = api_cluster_active(call, cluster, cname, &cluster_doc, e);
        if (r < 0)
                return r;
        if (json_array_size(strategy) == 0) {
                const json_t *dflt = json_object_get(cluster_doc, "defaultCapacityProviderStrategy");
                if (json_array_size(dflt)) {
                        *ret = api_capacity_strategy_normalized(dflt);
                        return 0;
                }
                json_auto_t *svc = NULL;
                if ((r = rt_service_get(call->store, call->region, cluster, name, &svc, NULL, e)) < 0)
                        return r;
                const json_t *old = json_object_get(svc, "capacityProviderStrategy");
                *ret_launch_type = json_array_size(old) && ecs_capacity_builtin(ecs_json_str(json_array_get(old, 0),
                                                                                          "capacityProvider", ""))
                                           ? "FARGATE"
                                           : "EC2";
                *ret = json_array();
                return 0;
        }
        if ((r = ecs_capacity_strategy_check(strategy, json_object_get(cluster_doc, "capacityProviders"),
                                             "the cluster", e)) < 0)
                return r;
        *ret = api_capacity_strategy_normalized(strategy);
        return 0;
}

/* An EXTERNAL service runs what its task sets run: what would start a deployment is refused (ECS: "create a new
 * task set"). A CODE_DEPLOY service takes only the members ECS lists for it (`code_deploy_members`; the rest is
 * CodeDeploy's to change). The scheduler still checks that the service is ACTIVE. */
static int external_update_check(struct api_call *call, const char *cluster, const char *name, const json_t *in,
                                 struct err *e) {
        static const char *const deploying[] = {"taskDefinition",    "forceNewDeployment", "loadBalancers",
                                                "networkConfiguration", "platformVersion",  "serviceRegistries",
                                                "capacityProviderStrategy"};
        static const char *const code_deploy_members[] = {"cluster", "service", "desiredCount",
                                                          "deploymentConfiguration", "healthCheckGracePeriodSeconds",
                                                          "placementConstraints", "placementStrategy",
                                                          "enableECSManagedTags", "propagateTags"};
        const char *outside = NULL; /* a member a CODE_DEPLOY service does not take */
        json_auto_t *copy = json_deep_copy(in); /* json_object_foreach wants a mutable object */
        const char *key;
        json_t *v;
        json_object_foreach(copy, key, v) {
                size_t k = 0;
                while (k < ARRAY_SIZE(code_deploy_members) && strcmp(key, code_deploy_members[k]) != 0)
                        k++;
                if (k == ARRAY_SIZE(code_deploy_members) && !outside)
                        outside = key;
        }
        if (!outside)
                return 0;
        json_auto_t *doc = NULL;
        int r = rt_service_get(call->store, call->region, cluster, name, &doc, NULL, e);
        if (r == -ENOENT) {
                *e = (struct err){0};
                return 0; /* the scheduler answers ServiceNotFoundException */
        }
        if (r < 0 || !rt_tasksets_managed(doc))
                return r < 0 ? r : 0;
        if (!rt_tasksets_external(doc))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Unable to update %s on services with a CODE_DEPLOY deployment controller. Use AWS "
                               "CodeDeploy to trigger a new deployment.",
                               outside);
        size_t i = 0;
        while (i < ARRAY_SIZE(deploying) && !json_object_get(in, deploying[i]))
                i++;
        if (i == ARRAY_SIZE(deploying))
                return 0;
        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                       "%s cannot be updated on a service with the EXTERNAL deployment controller; create a new task "
                       "set instead.",
                       deploying[i]);
}

int api_update_service(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        struct rt_scheduler *sch = scheduler_or_fail(call, e);
        if (!sch)
                return -ENOTSUP;
        char cluster[ECS_NAME_MAX + 1], name[ECS_NAME_MAX + 1];
        int r = service_of_input(call, in, cluster, name, e);
        if (r < 0)
                return r;
        struct rt_service_update u = {.desired_count = -1, .health_check_grace_s = -1};
        if (ecs_json_int(in, "desiredCount", &u.desired_count) && u.desired_count < 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "desiredCount must be at least 0.");
        if (ecs_json_int(in, "healthCheckGracePeriodSeconds", &u.health_check_grace_s) && u.health_check_grace_s < 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "healthCheckGracePeriodSeconds must be at least 0.");
        char tdarn[ECS_ARN_MAX];
        const char *tdref = ecs_json_str(in, "taskDefinition", NULL);
        if (tdref) {
                if ((r = taskdef_resolve(call, tdref, tdarn, e)) < 0)
                        return r;
                u.task_definition = tdarn;
        }
        u.force_new_deployment = json_is_true(json_object_get(in, "forceNewDeployment"));
        u.deployment_configuration = json_object_get(in, "deploymentConfiguration");
        if ((r = check_percent(u.deployment_configuration, e)) < 0)
                return r;
        const json_t *controller = json_object_get(in, "deploymentController");
        if (controller && strcmp(ecs_json_str(controller, "type", "ECS"), "ECS") != 0)
                return err_set(e, -ENOTSUP, ERR_KIND_INVALID,
                               "ecsd supports only the ECS deployment controller for now.");
        if ((r = external_update_check(call, cluster, name, in, e)) < 0)
                return r;
        /* Every other member ECS applies: set on the Service as given (the scheduler starts a new deployment when one
         * that changes what runs differs). */
        static const char *const settable[] = {"capacityProviderStrategy", "availabilityZoneRebalancing",
                                               "networkConfiguration",     "placementConstraints",
                                               "placementStrategy",        "platformVersion",
                                               "deploymentController",     "enableExecuteCommand",
                                               "enableECSManagedTags",     "loadBalancers",
                                               "propagateTags",            "serviceRegistries"};
        json_auto_t *set = json_object();
        for (size_t i = 0; i < ARRAY_SIZE(settable); i++) {
                const json_t *v = json_object_get(in, settable[i]);
                if (v)
                        json_object_set_new(set, settable[i], json_deep_copy(v));
        }
        json_auto_t *config = json_object();
        for (size_t i = 0; i < ARRAY_SIZE(config_members); i++) {
                const json_t *v = json_object_get(in, config_members[i]);
                if (v)
                        json_object_set_new(config, config_members[i], json_deep_copy(v));
        }
        u.set = set;
        u.config = config;
        json_auto_t *strategy = NULL;
        if (json_object_get(in, "capacityProviderStrategy") &&
            (r = update_strategy(call, cluster, name, json_object_get(in, "capacityProviderStrategy"), &strategy,
                                 &u.launch_type, e)) < 0)
                return r;
        u.capacity_provider_strategy = strategy;
        json_t *doc = NULL;
        if ((r = rt_scheduler_update(sch, call->region, cluster, name, &u, &doc, e)) < 0)
                return r;
        *out = json_pack("{s:o}", "service", doc);
        return 0;
}

int api_delete_service(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        struct rt_scheduler *sch = scheduler_or_fail(call, e);
        if (!sch)
                return -ENOTSUP;
        char cluster[ECS_NAME_MAX + 1], name[ECS_NAME_MAX + 1];
        int r = service_of_input(call, in, cluster, name, e);
        if (r < 0)
                return r;
        json_t *doc = NULL;
        r = rt_scheduler_delete(sch, call->region, cluster, name, json_is_true(json_object_get(in, "force")), &doc, e);
        if (r < 0)
                return r;
        *out = json_pack("{s:o}", "service", doc);
        return 0;
}

/* The answer is written as text, {"services":[...],"failures":[...]}: each service its stored document as it is,
 * byte for byte what decoding and encoding it again gives (the store wrote it with the same encoder; it holds no
 * tags). With include TAGS a document is decoded, to add its tags. */
int api_describe_services(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        char cluster[ECS_NAME_MAX + 1];
        int r = api_cluster_active(call, ecs_json_str(in, "cluster", NULL), cluster, NULL, e);
        if (r < 0)
                return r;
        const json_t *refs = json_object_get(in, "services");
        if (json_array_size(refs) == 0 || json_array_size(refs) > DESCRIBE_SERVICES_MAX)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "services must list 1 to %d services.",
                               DESCRIBE_SERVICES_MAX);
        bool with_tags = ecs_json_list_has(json_object_get(in, "include"), "TAGS");
        json_auto_t *failures = json_array();
        struct api_body *b = &call->body;
        static const char head[] = "{\"services\":[", middle[] = "],\"failures\":";
        api_body_append(b, head, sizeof(head) - 1);
        size_t n = 0, i;
        const json_t *ref;
        json_array_foreach(refs, i, ref) {
                const char *s = json_string_value(ref);
                char name[ECS_NAME_MAX + 1], arn[ECS_ARN_MAX];
                struct err lookup = {0};
                _cleanup_free_ char *text = NULL;
                size_t len = 0;
                r = api_service_ref_name(call, cluster, s, name, &lookup);
                if (r >= 0)
                        r = rt_service_doc_text(call->store, call->region, cluster, name, &text, &len, &lookup);
                if (r < 0 && lookup.kind == ERR_KIND_INTERNAL) {
                        *e = lookup;
                        return r;
                }
                if (r < 0) {
                        if (strncmp(s, "arn:", 4) == 0 || service_arn(call, cluster, s, arn, sizeof(arn)) < 0)
                                str_printf(arn, sizeof(arn), "%s", s);
                        json_array_append_new(failures, json_pack("{s:s, s:s}", "arn", arn, "reason", "MISSING"));
                        continue;
                }
                if (n++)
                        api_body_append(b, ",", 1);
                if (!with_tags) {
                        api_body_append(b, text, len);
                        continue;
                }
                json_auto_t *doc = json_loadb(text, len, 0, NULL);
                if (!doc)
                        return err_set(e, -EIO, ERR_KIND_INTERNAL, "state store: a stored document is damaged");
                if ((r = api_doc_attach_tags(call, doc, "serviceArn", e)) < 0)
                        return r;
                api_body_append_json(b, doc);
        }
        api_body_append(b, middle, sizeof(middle) - 1);
        api_body_append_json(b, failures);
        api_body_append(b, "}", 1);
        *out = NULL;
        return 0;
}

/* The answer is written as text, {"serviceArns":[...],"nextToken":"..."} (the token only when another page exists),
 * byte for byte what json_dumps(JSON_COMPACT) of the object gave: names and ARNs come from the store's services_list
 * index (rt_service_list_each), no document is read. */
int api_list_services(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        char cluster[ECS_NAME_MAX + 1];
        int r = api_cluster_active(call, ecs_json_str(in, "cluster", NULL), cluster, NULL, e);
        if (r < 0)
                return r;
        int limit;
        if ((r = ecs_page_max_results(in, LIST_SERVICES_DEFAULT, 100, &limit, e)) < 0)
                return r;
        char after[ECS_PAGE_KEY_MAX] = "";
        const char *token = ecs_json_str(in, "nextToken", NULL);
        if (token && (r = ecs_page_token_decode("ListServices", token, after, e)) < 0)
                return r;
        struct rt_service_query q = {
                .region = call->region,
                .cluster = cluster,
                .launch_type = ecs_json_str(in, "launchType", NULL),
                .strategy = ecs_json_str(in, "schedulingStrategy", NULL),
                .after = after[0] ? after : NULL,
                .limit = limit + 1,
        };
        struct api_arn_page page = {.limit = limit}; /* keyed by service name */
        api_body_reserve(&page.arns, (size_t) limit * 96);
        if ((r = rt_service_list_each(call->store, &q, api_arn_page_add, &page, e)) < 0) {
                free(page.arns.buf);
                return r;
        }
        struct api_body *b = &call->body;
        static const char head[] = "{\"serviceArns\":[";
        api_body_append(b, head, sizeof(head) - 1);
        if (page.arns.len)
                api_body_append(b, page.arns.buf, page.arns.len);
        api_body_append(b, "]", 1);
        free(page.arns.buf);
        if (page.more) {
                char next[ECS_PAGE_TOKEN_MAX];
                r = ecs_page_token_encode("ListServices", page.last, next, sizeof(next));
                ASSERT(r >= 0);
                static const char key[] = ",\"nextToken\":";
                api_body_append(b, key, sizeof(key) - 1);
                api_body_append_string(b, next, strlen(next));
        }
        api_body_append(b, "}", 1);
        *out = NULL;
        return 0;
}

/* ---- service deployments: the records the scheduler keeps in a service's private record (scheduler.c) ---- */

#define SERVICE_DEPLOYMENTS_DEFAULT 20
#define DESCRIBE_SERVICE_DEPLOYMENTS_MAX 20

static void typed_arn(char *buf, size_t size, struct api_call *call, const char *type, const char *cluster,
                      const char *service, const char *id) {
        char resource[ECS_ARN_MAX];
        str_printf(resource, sizeof(resource), "%s/%s/%s", cluster, service, id);
        if (ecs_arn_format(buf, size, call->region, call->account, type, resource) < 0)
                buf[0] = '\0';
}

static void revision_arn(char *buf, size_t size, struct api_call *call, const char *cluster, const char *service,
                         const json_t *priv, const char *deployment) {
        const char *rev = ecs_json_str(json_object_get(priv, "revisions"), deployment, "0");
        typed_arn(buf, size, call, "service-revision", cluster, service, rev);
}

static json_t *deployment_brief(struct api_call *call, const char *cluster, const json_t *svc, const json_t *priv,
                                const json_t *r) {
        const char *name = ecs_json_str(svc, "serviceName", "");
        char arn[ECS_ARN_MAX], target[ECS_ARN_MAX];
        typed_arn(arn, sizeof(arn), call, "service-deployment", cluster, name, ecs_json_str(r, "id", ""));
        revision_arn(target, sizeof(target), call, cluster, name, priv, ecs_json_str(r, "deployment", ""));
        json_t *b = json_pack("{s:s, s:s, s:s, s:O, s:O, s:s, s:s}", "serviceDeploymentArn", arn, "serviceArn",
                              ecs_json_str(svc, "serviceArn", ""), "clusterArn", ecs_json_str(svc, "clusterArn", ""),
                              "createdAt", json_object_get(r, "createdAt"), "startedAt",
                              json_object_get(r, "startedAt"), "targetServiceRevisionArn", target, "status",
                              ecs_json_str(r, "status", ""));
        static const char *const optional[] = {"finishedAt", "statusReason"};
        for (size_t i = 0; i < ARRAY_SIZE(optional); i++) {
                json_t *v = json_object_get(r, optional[i]);
                if (v)
                        json_object_set(b, optional[i], v);
        }
        return b;
}

/* A revision summary with the task counts of its deployment, when it is still in deployments[]. */
static json_t *revision_summary(struct api_call *call, const char *cluster, const json_t *svc, const json_t *priv,
                                const char *deployment) {
        char arn[ECS_ARN_MAX];
        revision_arn(arn, sizeof(arn), call, cluster, ecs_json_str(svc, "serviceName", ""), priv, deployment);
        int64_t requested = 0, running = 0, pending = 0;
        size_t i;
        const json_t *d;
        json_array_foreach(json_object_get(svc, "deployments"), i, d) {
                if (strcmp(ecs_json_str(d, "id", ""), deployment) != 0)
                        continue;
                ecs_json_int(d, "desiredCount", &requested);
                ecs_json_int(d, "runningCount", &running);
                ecs_json_int(d, "pendingCount", &pending);
        }
        return json_pack("{s:s, s:I, s:I, s:I}", "arn", arn, "requestedTaskCount", (json_int_t) requested,
                         "runningTaskCount", (json_int_t) running, "pendingTaskCount", (json_int_t) pending);
}

static json_t *deployment_full(struct api_call *call, const char *cluster, const json_t *svc, const json_t *priv,
                               const json_t *r) {
        json_t *out = deployment_brief(call, cluster, svc, priv, r);
        json_object_del(out, "targetServiceRevisionArn");
        json_object_set(out, "updatedAt", json_object_get(r, "updatedAt"));
        json_t *stopped = json_object_get(r, "stoppedAt");
        if (stopped)
                json_object_set(out, "stoppedAt", stopped);
        json_t *sources = json_array();
        size_t i;
        const json_t *src;
        json_array_foreach(json_object_get(r, "sources"), i, src)
                json_array_append_new(sources, revision_summary(call, cluster, svc, priv, json_string_value(src)));
        json_object_set_new(out, "sourceServiceRevisions", sources);
        const char *dep = ecs_json_str(r, "deployment", "");
        json_object_set_new(out, "targetServiceRevision", revision_summary(call, cluster, svc, priv, dep));
        const json_t *cfg = json_object_get(r, "deploymentConfiguration");
        if (cfg)
                json_object_set_new(out, "deploymentConfiguration", json_deep_copy(cfg));
        /* Lifecycle hooks (scheduler.c, hooks_pass): the stage, mapped onto ServiceDeploymentLifecycleStage (which
         * has no PRE_PRODUCTION_TRAFFIC_SHIFT: the pause before production traffic shows as the stage before it), and
         * each hook's detail without the scheduler's own members. */
        const char *stage = ecs_json_str(r, "stage", NULL);
        if (stage)
                json_object_set_new(out, "lifecycleStage",
                                    json_string(strcmp(stage, "PRE_PRODUCTION_TRAFFIC_SHIFT") == 0
                                                        ? "POST_TEST_TRAFFIC_SHIFT"
                                                        : stage));
        const json_t *details = json_object_get(r, "lifecycleHookDetails");
        if (details) {
                json_t *list = json_array();
                size_t k;
                const json_t *d;
                json_array_foreach(details, k, d) {
                        json_t *copy = json_deep_copy(d);
                        json_object_del(copy, "stage");
                        json_object_del(copy, "hook");
                        json_array_append_new(list, copy);
                }
                json_object_set_new(out, "lifecycleHookDetails", list);
        }
        const json_t *rb = json_object_get(r, "rollback");
        if (rb) {
                char arn[ECS_ARN_MAX];
                revision_arn(arn, sizeof(arn), call, cluster, ecs_json_str(svc, "serviceName", ""), priv,
                             ecs_json_str(rb, "deployment", ""));
                json_object_set_new(out, "rollback", json_pack("{s:s, s:O, s:s}", "reason",
                                                               ecs_json_str(rb, "reason", ""), "startedAt",
                                                               json_object_get(rb, "startedAt"),
                                                               "serviceRevisionArn", arn));
        }
        /* The breaker as the deployment sees it: DISABLED, MONITORING while it runs, TRIGGERED when it tripped it,
         * MONITORING_COMPLETE once it finished otherwise. */
        const json_t *cb = json_object_get(cfg, "deploymentCircuitBreaker");
        int64_t failed = 0, desired = 0;
        json_array_foreach(json_object_get(svc, "deployments"), i, src) if (strcmp(ecs_json_str(src, "id", ""),
                                                                                   dep) == 0)
                ecs_json_int(src, "failedTasks", &failed);
        ecs_json_int(svc, "desiredCount", &desired);
        int64_t threshold = (desired + 1) / 2;
        threshold = threshold < 3 ? 3 : threshold > 200 ? 200 : threshold;
        const char *status = !json_is_true(json_object_get(cb, "enable")) ? "DISABLED"
                             : strcmp(ecs_json_str(priv, "tripped", ""), dep) == 0 ? "TRIGGERED"
                             : strcmp(ecs_json_str(r, "status", ""), "IN_PROGRESS") == 0 ? "MONITORING"
                                                                                           : "MONITORING_COMPLETE";
        json_object_set_new(out, "deploymentCircuitBreaker",
                            json_pack("{s:s, s:I, s:I}", "status", status, "failureCount", (json_int_t) failed,
                                      "threshold", (json_int_t) threshold));
        return out;
}

int api_list_service_deployments(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        char cluster[ECS_NAME_MAX + 1], name[ECS_NAME_MAX + 1];
        int r = service_of_input(call, in, cluster, name, e);
        if (r < 0)
                return r;
        int limit;
        if ((r = ecs_page_max_results(in, SERVICE_DEPLOYMENTS_DEFAULT, 100, &limit, e)) < 0)
                return r;
        char after[ECS_PAGE_KEY_MAX] = "";
        const char *token = ecs_json_str(in, "nextToken", NULL);
        if (token && (r = ecs_page_token_decode("ListServiceDeployments", token, after, e)) < 0)
                return r;
        json_auto_t *svc = NULL;
        json_auto_t *priv = NULL;
        if ((r = rt_service_get(call->store, call->region, cluster, name, &svc, &priv, e)) < 0)
                return r;
        const json_t *statuses = json_object_get(in, "status");
        const json_t *created = json_object_get(in, "createdAt");
        const json_t *before = json_object_get(created, "before"), *since = json_object_get(created, "after");
        json_auto_t *list = json_array();
        bool skipping = after[0] != '\0', more = false;
        size_t i;
        const json_t *rec;
        json_array_foreach(json_object_get(priv, "serviceDeployments"), i, rec) {
                if (skipping) {
                        if (strcmp(ecs_json_str(rec, "id", ""), after) == 0)
                                skipping = false;
                        continue;
                }
                double at = json_number_value(json_object_get(rec, "createdAt"));
                if ((json_array_size(statuses) && !ecs_json_list_has(statuses, ecs_json_str(rec, "status", ""))) ||
                    (before && at >= json_number_value(before)) || (since && at <= json_number_value(since)))
                        continue;
                if (json_array_size(list) == (size_t) limit) {
                        more = true;
                        break;
                }
                json_array_append_new(list, deployment_brief(call, cluster, svc, priv, rec));
        }
        *out = json_pack("{s:O}", "serviceDeployments", list);
        if (more) {
                const char *last = strrchr(ecs_json_str(json_array_get(list, (size_t) limit - 1),
                                                        "serviceDeploymentArn", ""), '/');
                char next[ECS_PAGE_TOKEN_MAX];
                r = ecs_page_token_encode("ListServiceDeployments", last ? last + 1 : "", next, sizeof(next));
                ASSERT(r >= 0);
                json_object_set_new(*out, "nextToken", json_string(next));
        }
        return 0;
}

/* Split a `type`/CLUSTER/SERVICE/ID ARN of the call's region and account. */
static bool typed_arn_parse(struct api_call *call, const char *s, const char *type, char cluster[ECS_NAME_MAX + 1],
                            char name[ECS_NAME_MAX + 1], char id[64]) {
        struct ecs_arn arn;
        char extra;
        return s && ecs_arn_parse(s, &arn, NULL) == 0 && strcmp(arn.type, type) == 0 &&
               strcmp(arn.region, call->region) == 0 && strcmp(arn.account, call->account) == 0 &&
               sscanf(arn.resource, "%255[^/]/%255[^/]/%63[^/]%c", cluster, name, id, &extra) == 3;
}

/* The record of the service deployment or revision `arn` names (`type` service-deployment or service-revision):
 * the member of the service's private list `list` whose id is the ARN's last part. 0 with *ret_svc, *ret_priv
 * (new references) and *ret_rec (borrowed from *ret_priv), the service's cluster name in `cluster`; -ENOENT (e
 * untouched) when there is none; a store failure fails. */
static int service_record_find(struct api_call *call, const char *arn, const char *type, const char *list,
                               char cluster[ECS_NAME_MAX + 1], json_t **ret_svc, json_t **ret_priv,
                               const json_t **ret_rec, struct err *e) {
        char name[ECS_NAME_MAX + 1] = "", id[64] = "";
        if (!typed_arn_parse(call, arn, type, cluster, name, id))
                return -ENOENT;
        json_auto_t *svc = NULL;
        json_auto_t *priv = NULL;
        struct err lookup = {0};
        int r = rt_service_get(call->store, call->region, cluster, name, &svc, &priv, &lookup);
        if (r < 0 && lookup.kind == ERR_KIND_INTERNAL) {
                *e = lookup;
                return r;
        }
        if (r < 0)
                return -ENOENT;
        size_t k;
        const json_t *c;
        json_array_foreach(json_object_get(priv, list), k, c) {
                if (strcmp(ecs_json_str(c, "id", ""), id) == 0) {
                        *ret_rec = c;
                        *ret_svc = TAKE_PTR(svc);
                        *ret_priv = TAKE_PTR(priv);
                        return 0;
                }
        }
        return -ENOENT;
}

int api_describe_service_deployments(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        const json_t *arns = json_object_get(in, "serviceDeploymentArns");
        if (json_array_size(arns) == 0 || json_array_size(arns) > DESCRIBE_SERVICE_DEPLOYMENTS_MAX)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "serviceDeploymentArns must list 1 to %d ARNs.",
                               DESCRIBE_SERVICE_DEPLOYMENTS_MAX);
        json_auto_t *found = json_array();
        json_auto_t *failures = json_array();
        size_t i;
        const json_t *a;
        json_array_foreach(arns, i, a) {
                const char *s = json_string_value(a);
                json_auto_t *svc = NULL;
                json_auto_t *priv = NULL;
                const json_t *rec = NULL;
                char cluster[ECS_NAME_MAX + 1] = "";
                int r = service_record_find(call, s, "service-deployment", "serviceDeployments", cluster, &svc, &priv,
                                            &rec, e);
                if (r < 0 && r != -ENOENT)
                        return r;
                if (r < 0) {
                        json_array_append_new(failures, json_pack("{s:s, s:s}", "arn", s, "reason", "MISSING"));
                        continue;
                }
                json_array_append_new(found, deployment_full(call, cluster, svc, priv, rec));
        }
        *out = json_pack("{s:O, s:O}", "serviceDeployments", found, "failures", failures);
        return 0;
}

/* ---- service revisions and StopServiceDeployment ---- */

#define DESCRIBE_SERVICE_REVISIONS_MAX 20

int api_describe_service_revisions(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        const json_t *arns = json_object_get(in, "serviceRevisionArns");
        if (json_array_size(arns) == 0 || json_array_size(arns) > DESCRIBE_SERVICE_REVISIONS_MAX)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "serviceRevisionArns must list 1 to %d ARNs.",
                               DESCRIBE_SERVICE_REVISIONS_MAX);
        json_auto_t *found = json_array();
        json_auto_t *failures = json_array();
        size_t i;
        const json_t *a;
        json_array_foreach(arns, i, a) {
                const char *s = json_string_value(a);
                json_auto_t *svc = NULL;
                json_auto_t *priv = NULL;
                const json_t *rev = NULL;
                char cluster[ECS_NAME_MAX + 1] = "";
                int r = service_record_find(call, s, "service-revision", "serviceRevisions", cluster, &svc, &priv,
                                            &rev, e);
                if (r < 0 && r != -ENOENT)
                        return r;
                if (r < 0) {
                        json_array_append_new(failures, json_pack("{s:s, s:s}", "arn", s, "reason", "MISSING"));
                        continue;
                }
                json_t *doc = json_deep_copy(rev);
                json_object_del(doc, "id");
                json_object_del(doc, "deployment");
                json_object_set_new(doc, "serviceRevisionArn", json_string(s));
                json_object_set_new(doc, "serviceArn", json_string(ecs_json_str(svc, "serviceArn", "")));
                json_object_set_new(doc, "clusterArn", json_string(ecs_json_str(svc, "clusterArn", "")));
                json_array_append_new(found, doc);
        }
        *out = json_pack("{s:O, s:O}", "serviceRevisions", found, "failures", failures);
        return 0;
}

int api_stop_service_deployment(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        struct rt_scheduler *sch = scheduler_or_fail(call, e);
        if (!sch)
                return -ENOTSUP;
        const char *s = ecs_json_str(in, "serviceDeploymentArn", "");
        char cluster[ECS_NAME_MAX + 1] = "", name[ECS_NAME_MAX + 1] = "", id[64] = "";
        if (!typed_arn_parse(call, s, "service-deployment", cluster, name, id)) {
                if (strncmp(s, "arn:", 4) != 0)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "'%.200s' is not a service deployment ARN.", s);
                return err_set(e, -ENOENT, ERR_KIND_SERVICE_DEPLOYMENT_NOT_FOUND, "Service deployment not found.");
        }
        /* ROLLBACK is the documented stop type and the one ECS applies when none is given. */
        bool rollback = strcmp(ecs_json_str(in, "stopType", "ROLLBACK"), "ROLLBACK") == 0;
        int r = rt_scheduler_stop_deployment(sch, call->region, cluster, name, id, rollback, e);
        if (r < 0)
                return r;
        *out = json_pack("{s:s}", "serviceDeploymentArn", s);
        return 0;
}

/* ---- ListServicesByNamespace ---- */

#define LIST_BY_NAMESPACE_DEFAULT 10

/* The Service Connect namespace a service's PRIMARY deployment uses: its own, else (enabled without one) the
 * cluster's serviceConnectDefaults; NULL when Service Connect is off. Borrowed from `svc` or `cluster_doc`. */
static const char *service_namespace(const json_t *svc, const json_t *cluster_doc) {
        const json_t *sc = json_object_get(json_array_get(json_object_get(svc, "deployments"), 0),
                                           "serviceConnectConfiguration");
        if (!json_is_true(json_object_get(sc, "enabled")))
                return NULL;
        const char *ns = ecs_json_str(sc, "namespace", NULL);
        return ns ? ns : ecs_json_str(json_object_get(cluster_doc, "serviceConnectDefaults"), "namespace", NULL);
}

int api_list_services_by_namespace(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        const char *ns = ecs_json_str(in, "namespace", "");
        if (!ns[0])
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "namespace must not be empty.");
        int limit, r;
        if ((r = ecs_page_max_results(in, LIST_BY_NAMESPACE_DEFAULT, 100, &limit, e)) < 0)
                return r;
        char after[ECS_PAGE_KEY_MAX] = "";
        const char *token = ecs_json_str(in, "nextToken", NULL);
        if (token && (r = ecs_page_token_decode("ListServicesByNamespace", token, after, e)) < 0)
                return r;
        json_auto_t *live = NULL;
        if ((r = rt_service_live(call->store, &live, e)) < 0)
                return r;
        /* Every ACTIVE service of the region, whatever its cluster, whose namespace is `ns` (by name or ARN, as it
         * was given to CreateService / UpdateService), ordered by ARN. */
        json_auto_t *arns = json_array();
        size_t i;
        const json_t *ref;
        json_array_foreach(live, i, ref) {
                if (strcmp(ecs_json_str(ref, "region", ""), call->region) != 0)
                        continue;
                const char *cluster = ecs_json_str(ref, "cluster", "");
                json_auto_t *svc = NULL;
                json_auto_t *cluster_doc = NULL;
                struct err lookup = {0};
                if (rt_service_get(call->store, call->region, cluster, ecs_json_str(ref, "name", ""), &svc, NULL,
                                   &lookup) < 0 ||
                    strcmp(ecs_json_str(svc, "status", ""), "ACTIVE") != 0)
                        continue;
                rt_cluster_get(call->store, call->region, cluster, &cluster_doc, &lookup);
                const char *mine = service_namespace(svc, cluster_doc);
                const char *arn = ecs_json_str(svc, "serviceArn", "");
                if (!mine || strcmp(mine, ns) != 0 || strcmp(arn, after) <= 0)
                        continue;
                size_t at = json_array_size(arns); /* kept in ARN order, which the page token follows */
                while (at > 0 && strcmp(json_string_value(json_array_get(arns, at - 1)), arn) > 0)
                        at--;
                json_array_insert_new(arns, at, json_string(arn));
        }
        json_auto_t *page = json_array();
        for (i = 0; i < json_array_size(arns) && i < (size_t) limit; i++)
                json_array_append(page, json_array_get(arns, i));
        *out = json_pack("{s:O}", "serviceArns", page);
        if (json_array_size(arns) > (size_t) limit) {
                char next[ECS_PAGE_TOKEN_MAX];
                r = ecs_page_token_encode("ListServicesByNamespace",
                                          json_string_value(json_array_get(page, (size_t) limit - 1)), next,
                                          sizeof(next));
                ASSERT(r >= 0);
                json_object_set_new(*out, "nextToken", json_string(next));
        }
        return 0;
}
