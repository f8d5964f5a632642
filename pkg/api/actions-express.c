/* actions-express.c — CreateExpressGatewayService, UpdateExpressGatewayService, DeleteExpressGatewayService,
 * DescribeExpressGatewayService (docs/internals/express.md).
 *
 * An express gateway service is an ordinary ECS service of the same name, made and changed through the very
 * handlers CreateService, UpdateService, DeleteService and RegisterTaskDefinition use: its primary container
 * becomes the one container ("Main") of a task definition of family CLUSTER-NAME, scalingTarget.minTaskCount
 * becomes the desired count, and the scheduler runs it like any other service. What an Application Load Balancer
 * would add, the ingress and the health checks, is express.h's; this file keeps the express record (the
 * configurations, the endpoint, the published port) in step with the service. Every input is checked before
 * anything is registered or changed. */
#include "api-internal.h"

#include <pthread.h>
#include <string.h>

#include "express.h"
#include "scheduler.h"

#define DEFAULT_PORT 80
#define DEFAULT_CPU "256"
#define DEFAULT_MEMORY "512"
#define DEFAULT_HEALTH_PATH "/ping"
#define HEALTH_PATH_MAX 1024

static struct rt_express *express_or_fail(struct api_call *call, struct err *e) {
        struct rt_express *x = api_express(call->api);
        if (!x || !api_scheduler(call->api)) {
                err_set(e, -ENOTSUP, ERR_KIND_INTERNAL, "ecsd runs without a backend; express services cannot run.");
                return NULL;
        }
        return x;
}

/* The cluster and service an express service ARN (arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME) names. One of
 * another region or account, or of a cluster that is not ACTIVE, is not found here (`not_found`); a malformed one is
 * InvalidParameterException. */
static int parse_service_arn(struct api_call *call, const char *ref, int not_found, char *cluster, char *name,
                             struct err *e) {
        struct ecs_arn arn;
        int r = ecs_arn_parse(ref, &arn, e);
        if (r < 0)
                return r;
        const char *slash = strchr(arn.resource, '/');
        if (strcmp(arn.type, "service") != 0 || !slash || strchr(slash + 1, '/'))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "'%.200s' is not a service ARN (arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME).", ref);
        if (strcmp(arn.region, call->region) != 0 || strcmp(arn.account, call->account) != 0)
                return err_set(e, -ENOENT, not_found, "The express service '%.200s' was not found.", ref);
        size_t clen = (size_t) (slash - arn.resource);
        if (clen == 0 || clen > ECS_NAME_MAX || !ecs_name_valid(slash + 1))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "'%.200s' is not a service ARN.", ref);
        char cref[ECS_NAME_MAX + 1];
        memcpy(cref, arn.resource, clen);
        cref[clen] = '\0';
        if ((r = api_cluster_active(call, cref, cluster, NULL, e)) < 0)
                return r;
        return str_printf(name, ECS_NAME_MAX + 1, "%s", slash + 1);
}

static bool numeric(const char *s) {
        if (!s || !*s || strlen(s) > 9)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

/* The checks of the members Create and Update share; `in` is either input. */
static int config_check(const json_t *in, struct err *e) {
        const json_t *pc = json_object_get(in, "primaryContainer");
        if (pc) {
                const char *image = ecs_json_str(pc, "image", "");
                if (!*image || strlen(image) > 255 * 4 || strpbrk(image, " \t\r\n"))
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "primaryContainer.image must be an image "
                                                                     "reference without blanks.");
                int64_t port = 0;
                if (json_object_get(pc, "containerPort") &&
                    (!ecs_json_int(pc, "containerPort", &port) || port < 1 || port > 65535))
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "primaryContainer.containerPort must be between 1 and 65535.");
                size_t i;
                const json_t *v;
                json_array_foreach(json_object_get(pc, "environment"), i, v) {
                        if (!*ecs_json_str(v, "name", ""))
                                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                               "Each primaryContainer.environment entry needs a name.");
                }
                json_array_foreach(json_object_get(pc, "secrets"), i, v) {
                        if (!*ecs_json_str(v, "name", "") || !*ecs_json_str(v, "valueFrom", ""))
                                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                               "Each primaryContainer.secrets entry needs a name and a valueFrom.");
                }
                const json_t *logs = json_object_get(pc, "awsLogsConfiguration");
                if (logs && (!*ecs_json_str(logs, "logGroup", "") || !*ecs_json_str(logs, "logStreamPrefix", "")))
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "awsLogsConfiguration needs a logGroup and a logStreamPrefix.");
        }
        const char *path = ecs_json_str(in, "healthCheckPath", NULL);
        if (path && (path[0] != '/' || strlen(path) > HEALTH_PATH_MAX || strpbrk(path, " \t\r\n#")))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "healthCheckPath must start with '/' and hold no blanks (at most %d characters).",
                               HEALTH_PATH_MAX);
        const char *cpu = ecs_json_str(in, "cpu", NULL), *mem = ecs_json_str(in, "memory", NULL);
        if (cpu && !numeric(cpu))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "cpu must be a number of CPU units, such as 256.");
        if (mem && !numeric(mem))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "memory must be a number of MiB, such as 512.");
        const json_t *st = json_object_get(in, "scalingTarget");
        if (st) {
                int64_t min = 1, max = 1, target = 60;
                bool has_min = ecs_json_int(st, "minTaskCount", &min), has_max = ecs_json_int(st, "maxTaskCount", &max);
                if (has_min && min < 1)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "scalingTarget.minTaskCount must be at least 1.");
                if (has_max && max < 1)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "scalingTarget.maxTaskCount must be at least 1.");
                if (has_min && has_max && max < min)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "scalingTarget.maxTaskCount must be at least minTaskCount.");
                if (ecs_json_int(st, "autoScalingTargetValue", &target) && target < 1)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "scalingTarget.autoScalingTargetValue must be at least 1.");
        }
        return 0;
}

/* A configuration as the ECSExpressGatewayServiceConfiguration shape has it, from `in` over `base` (the current
 * one, or NULL), with ECS's defaults filled in. New reference. */
static json_t *config_merge(const json_t *base, const json_t *in) {
        json_t *c = base ? json_deep_copy(base) : json_object();
        static const char *const members[] = {"executionRoleArn", "taskRoleArn",     "cpu",          "memory",
                                              "networkConfiguration", "healthCheckPath", "primaryContainer",
                                              "scalingTarget"};
        for (size_t i = 0; i < ARRAY_SIZE(members); i++) {
                const json_t *v = json_object_get(in, members[i]);
                if (v)
                        json_object_set_new(c, members[i], json_deep_copy(v));
        }
        if (!json_object_get(c, "cpu"))
                json_object_set_new(c, "cpu", json_string(DEFAULT_CPU));
        if (!json_object_get(c, "memory"))
                json_object_set_new(c, "memory", json_string(DEFAULT_MEMORY));
        if (!json_object_get(c, "healthCheckPath"))
                json_object_set_new(c, "healthCheckPath", json_string(DEFAULT_HEALTH_PATH));
        json_t *pc = json_object_get(c, "primaryContainer");
        if (pc && !json_object_get(pc, "containerPort"))
                json_object_set_new(pc, "containerPort", json_integer(DEFAULT_PORT));
        json_t *st = json_object_get(c, "scalingTarget");
        if (!st) {
                st = json_object();
                json_object_set_new(c, "scalingTarget", st);
        }
        int64_t min = 1;
        ecs_json_int(st, "minTaskCount", &min);
        if (!json_object_get(st, "minTaskCount"))
                json_object_set_new(st, "minTaskCount", json_integer(1));
        if (!json_object_get(st, "maxTaskCount"))
                json_object_set_new(st, "maxTaskCount", json_integer(min > 1 ? min : 1));
        if (!json_object_get(st, "autoScalingMetric"))
                json_object_set_new(st, "autoScalingMetric", json_string("AVERAGE_CPU"));
        if (!json_object_get(st, "autoScalingTargetValue"))
                json_object_set_new(st, "autoScalingTargetValue", json_integer(60));
        return c;
}

/* The RegisterTaskDefinition input for configuration `c`: one container, "Main", in bridge mode; with a published
 * port (`host_port` > 0) on Docker. */
static json_t *taskdef_input(const char *family, const json_t *c, int host_port) {
        const json_t *pc = json_object_get(c, "primaryContainer");
        int64_t port = DEFAULT_PORT;
        ecs_json_int(pc, "containerPort", &port);
        json_t *pm = json_pack("{s:I, s:s}", "containerPort", (json_int_t) port, "protocol", "tcp");
        if (host_port > 0)
                json_object_set_new(pm, "hostPort", json_integer(host_port));
        json_t *ctr = json_pack("{s:s, s:s, s:b, s:[o]}", "name", RT_EXPRESS_CONTAINER, "image",
                                ecs_json_str(pc, "image", ""), "essential", 1, "portMappings", pm);
        static const char *const copied[] = {"command", "environment", "secrets", "repositoryCredentials"};
        for (size_t i = 0; i < ARRAY_SIZE(copied); i++) {
                const json_t *v = json_object_get(pc, copied[i]);
                if (v)
                        json_object_set_new(ctr, copied[i], json_deep_copy(v));
        }
        const json_t *logs = json_object_get(pc, "awsLogsConfiguration");
        if (logs)
                json_object_set_new(ctr, "logConfiguration",
                                    json_pack("{s:s, s:{s:s, s:s}}", "logDriver", "awslogs", "options", "awslogs-group",
                                              ecs_json_str(logs, "logGroup", ""), "awslogs-stream-prefix",
                                              ecs_json_str(logs, "logStreamPrefix", "")));
        json_t *td = json_pack("{s:s, s:s, s:s, s:s, s:[o]}", "family", family, "networkMode", "bridge", "cpu",
                               ecs_json_str(c, "cpu", DEFAULT_CPU), "memory", ecs_json_str(c, "memory", DEFAULT_MEMORY),
                               "containerDefinitions", ctr);
        static const char *const roles[] = {"executionRoleArn", "taskRoleArn"};
        for (size_t i = 0; i < ARRAY_SIZE(roles); i++) {
                const char *v = ecs_json_str(c, roles[i], NULL);
                if (v)
                        json_object_set_new(td, roles[i], json_string(v));
        }
        return td;
}

static int64_t min_tasks(const json_t *c) {
        int64_t n = 1;
        ecs_json_int(json_object_get(c, "scalingTarget"), "minTaskCount", &n);
        return n;
}

static int64_t container_port(const json_t *c) {
        int64_t p = DEFAULT_PORT;
        ecs_json_int(json_object_get(c, "primaryContainer"), "containerPort", &p);
        return p;
}

/* The ECSExpressGatewayService of record `rec` and its ECS service `svc` (status from the service: ACTIVE,
 * DRAINING, INACTIVE). New reference. */
static json_t *view(struct api_call *call, const json_t *rec, const json_t *svc, const json_t *priv) {
        const char *status = ecs_json_str(svc, "status", "INACTIVE");
        json_t *configs = json_array();
        json_t *c = json_deep_copy(json_object_get(rec, "configuration"));
        const char *primary = NULL;
        size_t i;
        const json_t *d;
        json_array_foreach(json_object_get(svc, "deployments"), i, d) {
                if (str_eq(ecs_json_str(d, "status", ""), "PRIMARY"))
                        primary = ecs_json_str(d, "id", NULL);
        }
        if (primary) {
                char res[ECS_ARN_MAX], arn[ECS_ARN_MAX];
                str_printf(res, sizeof(res), "%s/%s/%s", ecs_json_str(rec, "cluster", ""),
                           ecs_json_str(rec, "serviceName", ""),
                           ecs_json_str(json_object_get(priv, "revisions"), primary, "0"));
                if (ecs_arn_format(arn, sizeof(arn), call->region, call->account, "service-revision", res) >= 0)
                        json_object_set_new(c, "serviceRevisionArn", json_string(arn));
        }
        json_object_set_new(c, "ingressPaths",
                            json_pack("[{s:s, s:s}]", "accessType", "PUBLIC", "endpoint",
                                      ecs_json_str(rec, "endpoint", "")));
        if (!str_eq(status, "INACTIVE"))
                json_array_append_new(configs, c);
        else
                json_decref(c);
        json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:{s:s}, s:o, s:O, s:O}", "cluster",
                                ecs_json_str(svc, "clusterArn", ecs_json_str(rec, "cluster", "")), "serviceName",
                                ecs_json_str(rec, "serviceName", ""), "serviceArn", ecs_json_str(rec, "serviceArn", ""),
                                "infrastructureRoleArn", ecs_json_str(rec, "infrastructureRoleArn", ""), "status",
                                "statusCode", status, "activeConfigurations", configs, "createdAt",
                                json_object_get(rec, "createdAt"), "updatedAt", json_object_get(rec, "updatedAt"));
        if (primary)
                json_object_set_new(out, "currentDeployment", json_string(primary));
        return out;
}

/* The record and the ECS service of an express service; an unknown one is `not_found`. */
static int lookup(struct api_call *call, struct rt_express *x, const char *cluster, const char *name, int not_found,
                  json_t **ret_rec, json_t **ret_svc, json_t **ret_priv, struct err *e) {
        int r = rt_express_get(x, call->region, cluster, name, ret_rec, e);
        if (r == -ENOENT)
                return err_set(e, -ENOENT, not_found, "The express service %s was not found in cluster %s.", name,
                               cluster);
        if (r < 0)
                return r;
        r = rt_service_get(call->store, call->region, cluster, name, ret_svc, ret_priv, e);
        if (r == -ENOENT)
                return err_set(e, -ENOENT, not_found, "The express service %s was not found in cluster %s.", name,
                               cluster);
        return r;
}

/* A generated service name, as ECS makes one when none is given. */
static void generated_name(char *buf, size_t size) {
        char hex[9];
        random_hex(hex, 8);
        str_printf(buf, size, "express-%s", hex);
}

/* Register the first task definition of an express service and create its ECS service, through the handlers of
 * RegisterTaskDefinition and CreateService. *ret gets CreateService's answer. */
static int run_service(struct api_call *call, const char *cluster, const char *name, const char *family,
                       const json_t *cfg, int host_port, const json_t *tags, json_t **ret, struct err *e) {
        json_auto_t *td_in = taskdef_input(family, cfg, host_port);
        json_auto_t *td_out = NULL;
        int r = api_register_task_definition(call, td_in, &td_out, e);
        if (r < 0)
                return r;
        const char *tdarn = ecs_json_str(json_object_get(td_out, "taskDefinition"), "taskDefinitionArn", "");
        json_auto_t *svc_in = json_pack("{s:s, s:s, s:s, s:I}", "cluster", cluster, "serviceName", name,
                                        "taskDefinition", tdarn, "desiredCount", (json_int_t) min_tasks(cfg));
        /* One host and a fixed published port: the old task must go before the new one can bind it. */
        if (host_port > 0)
                json_object_set_new(svc_in, "deploymentConfiguration",
                                    json_pack("{s:i, s:i}", "maximumPercent", 100, "minimumHealthyPercent", 0));
        if (json_array_size(tags))
                json_object_set_new(svc_in, "tags", json_deep_copy(tags));
        return api_create_service(call, svc_in, ret, e);
}

static int create_express(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        struct rt_express *x = express_or_fail(call, e);
        if (!x)
                return -ENOTSUP;
        char cluster[ECS_NAME_MAX + 1], name[ECS_NAME_MAX + 1], family[ECS_NAME_MAX + 1];
        int r = api_cluster_active(call, ecs_json_str(in, "cluster", NULL), cluster, NULL, e);
        if (r < 0)
                return r;
        const char *given = ecs_json_str(in, "serviceName", NULL);
        if (given)
                str_printf(name, sizeof(name), "%s", given);
        else
                generated_name(name, sizeof(name));
        if (!ecs_name_valid(name))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Service name must be 1 to 255 letters, numbers, hyphens and underscores.");
        if (str_printf(family, sizeof(family), "%s-%s", cluster, name) < 0)
                return err_set(e, -ENAMETOOLONG, ERR_KIND_INVALID,
                               "The cluster and service names together are too long for a task definition family.");
        static const char *const roles[] = {"executionRoleArn", "infrastructureRoleArn"};
        for (size_t i = 0; i < ARRAY_SIZE(roles); i++)
                if (strncmp(ecs_json_str(in, roles[i], ""), "arn:", 4) != 0)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "%s must be an IAM role ARN.", roles[i]);
        if ((r = config_check(in, e)) < 0 || (r = api_tags_validate(json_object_get(in, "tags"), e)) < 0)
                return r;
        json_auto_t *old = NULL;
        struct err ge = {0};
        if (rt_service_get(call->store, call->region, cluster, name, &old, NULL, &ge) >= 0 &&
            !str_eq(ecs_json_str(old, "status", ""), "INACTIVE"))
                return err_set(e, -EEXIST, ERR_KIND_INVALID, "A service named %s already exists in cluster %s.", name,
                               cluster);

        json_auto_t *cfg = config_merge(NULL, in);
        int host_port = 0;
        if (rt_express_host_ports(x) && (r = rt_express_free_port(&host_port, e)) < 0)
                return r;
        char endpoint[1024];
        if ((r = rt_express_expose(x, call->region, cluster, name, family, (int) container_port(cfg), host_port,
                                   endpoint, sizeof(endpoint), e)) < 0)
                return r;

        json_auto_t *svc_out = NULL;
        if ((r = run_service(call, cluster, name, family, cfg, host_port, json_object_get(in, "tags"), &svc_out, e)) <
            0) {
                struct err ue = {0};
                rt_express_unexpose(x, call->region, cluster, name, &ue);
                return r;
        }
        const json_t *tags = json_object_get(in, "tags");
        const json_t *svc = json_object_get(svc_out, "service");

        json_t *now = ecs_timestamp_now();
        json_auto_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:o, s:O, s:I, s:i, s:s, s:s}", "region",
                                     call->region, "cluster", cluster, "serviceName", name, "serviceArn",
                                     ecs_json_str(svc, "serviceArn", ""), "infrastructureRoleArn",
                                     ecs_json_str(in, "infrastructureRoleArn", ""), "family", family, "configuration",
                                     cfg, "createdAt", now, "updatedAt", now, "containerPort",
                                     (json_int_t) container_port(cfg), "hostPort", host_port, "healthCheckPath",
                                     ecs_json_str(cfg, "healthCheckPath", DEFAULT_HEALTH_PATH), "endpoint", endpoint);
        json_object_set(json_object_get(rec, "configuration"), "createdAt", now);
        if ((r = rt_express_put(x, call->region, cluster, name, rec, e)) < 0)
                return r;
        json_auto_t *priv = NULL;
        json_auto_t *stored = NULL;
        if ((r = rt_service_get(call->store, call->region, cluster, name, &stored, &priv, e)) < 0)
                return r;
        json_t *v = view(call, rec, stored, priv);
        if (json_array_size(tags))
                json_object_set_new(v, "tags", json_deep_copy(tags));
        *out = json_pack("{s:o}", "service", v);
        return 0;
}

/* Create, Update and Delete of express services take this lock: each reads the record and the service, then changes
 * them and the ingress in several steps, and two at once for one name could otherwise undo each other's ingress (a
 * losing create would delete the winner's Kubernetes Service). They are rare calls; one lock for all is enough. */
static pthread_mutex_t express_lock = PTHREAD_MUTEX_INITIALIZER;

int api_create_express_gateway_service(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        pthread_mutex_lock(&express_lock);
        int r = create_express(call, in, out, e);
        pthread_mutex_unlock(&express_lock);
        return r;
}

static int update_express(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        struct rt_express *x = express_or_fail(call, e);
        if (!x)
                return -ENOTSUP;
        char cluster[ECS_NAME_MAX + 1], name[ECS_NAME_MAX + 1];
        int r = parse_service_arn(call, ecs_json_str(in, "serviceArn", ""), ERR_KIND_SERVICE_NOT_FOUND, cluster, name,
                                  e);
        if (r < 0)
                return r;
        const char *role = ecs_json_str(in, "executionRoleArn", NULL);
        if (role && strncmp(role, "arn:", 4) != 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "executionRoleArn must be an IAM role ARN.");
        if ((r = config_check(in, e)) < 0)
                return r;
        json_auto_t *rec = NULL, *svc = NULL, *priv = NULL;
        if ((r = lookup(call, x, cluster, name, ERR_KIND_SERVICE_NOT_FOUND, &rec, &svc, &priv, e)) < 0)
                return r;
        if (!str_eq(ecs_json_str(svc, "status", ""), "ACTIVE"))
                return err_set(e, -EBUSY, ERR_KIND_SERVICE_NOT_ACTIVE, "Service %s is not ACTIVE.", name);

        const json_t *old = json_object_get(rec, "configuration");
        json_auto_t *cfg = config_merge(old, in);
        json_object_del(cfg, "createdAt");
        const char *family = ecs_json_str(rec, "family", "");
        int64_t host_port = 0;
        ecs_json_int(rec, "hostPort", &host_port);
        char endpoint[1024];
        str_printf(endpoint, sizeof(endpoint), "%s", ecs_json_str(rec, "endpoint", ""));
        if (container_port(cfg) != container_port(old) &&
            (r = rt_express_expose(x, call->region, cluster, name, family, (int) container_port(cfg), (int) host_port,
                                   endpoint, sizeof(endpoint), e)) < 0)
                return r;
        /* A change of what runs registers a revision and deploys it; scaling alone only sets the desired count. */
        static const char *const deploying[] = {"primaryContainer", "executionRoleArn", "taskRoleArn", "cpu",
                                                "memory"};
        bool deploy = false;
        for (size_t i = 0; i < ARRAY_SIZE(deploying); i++)
                if (json_object_get(in, deploying[i]))
                        deploy = true;
        json_auto_t *su = json_pack("{s:s, s:s, s:I}", "cluster", cluster, "service", name, "desiredCount",
                                    (json_int_t) min_tasks(cfg));
        if (deploy) {
                json_auto_t *td_in = taskdef_input(family, cfg, (int) host_port);
                json_auto_t *td_out = NULL;
                if ((r = api_register_task_definition(call, td_in, &td_out, e)) < 0)
                        return r;
                json_object_set_new(su, "taskDefinition",
                                    json_string(ecs_json_str(json_object_get(td_out, "taskDefinition"),
                                                             "taskDefinitionArn", "")));
        }
        json_auto_t *su_out = NULL;
        if ((r = api_update_service(call, su, &su_out, e)) < 0)
                return r;
        json_t *now = ecs_timestamp_now();
        json_object_set(cfg, "createdAt", now);
        json_object_set(rec, "configuration", cfg);
        json_object_set_new(rec, "updatedAt", now);
        json_object_set_new(rec, "containerPort", json_integer(container_port(cfg)));
        json_object_set_new(rec, "healthCheckPath",
                            json_string(ecs_json_str(cfg, "healthCheckPath", DEFAULT_HEALTH_PATH)));
        json_object_set_new(rec, "endpoint", json_string(endpoint));
        if ((r = rt_express_put(x, call->region, cluster, name, rec, e)) < 0)
                return r;
        json_decref(svc);
        json_decref(priv);
        svc = priv = NULL;
        if ((r = rt_service_get(call->store, call->region, cluster, name, &svc, &priv, e)) < 0)
                return r;
        json_auto_t *full = view(call, rec, svc, priv);
        json_t *target = json_array_get(json_object_get(full, "activeConfigurations"), 0);
        json_t *u = json_pack("{s:O, s:O, s:O, s:O, s:O, s:O}", "serviceArn", json_object_get(full, "serviceArn"),
                              "cluster", json_object_get(full, "cluster"), "serviceName",
                              json_object_get(full, "serviceName"), "status", json_object_get(full, "status"),
                              "createdAt", json_object_get(full, "createdAt"), "updatedAt",
                              json_object_get(full, "updatedAt"));
        if (target)
                json_object_set(u, "targetConfiguration", target);
        *out = json_pack("{s:o}", "service", u);
        return 0;
}

int api_update_express_gateway_service(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        pthread_mutex_lock(&express_lock);
        int r = update_express(call, in, out, e);
        pthread_mutex_unlock(&express_lock);
        return r;
}

static int delete_express(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        struct rt_express *x = express_or_fail(call, e);
        if (!x)
                return -ENOTSUP;
        char cluster[ECS_NAME_MAX + 1], name[ECS_NAME_MAX + 1];
        int r = parse_service_arn(call, ecs_json_str(in, "serviceArn", ""), ERR_KIND_SERVICE_NOT_FOUND, cluster, name,
                                  e);
        if (r < 0)
                return r;
        json_auto_t *rec = NULL, *svc = NULL, *priv = NULL;
        if ((r = lookup(call, x, cluster, name, ERR_KIND_SERVICE_NOT_FOUND, &rec, &svc, &priv, e)) < 0)
                return r;
        if (!str_eq(ecs_json_str(svc, "status", ""), "ACTIVE"))
                return err_set(e, -EBUSY, ERR_KIND_SERVICE_NOT_ACTIVE, "Service %s is not ACTIVE.", name);
        json_auto_t *din = json_pack("{s:s, s:s, s:b}", "cluster", cluster, "service", name, "force", 1);
        json_auto_t *dout = NULL;
        if ((r = api_delete_service(call, din, &dout, e)) < 0)
                return r;
        struct err ue = {0};
        if (rt_express_unexpose(x, call->region, cluster, name, &ue) < 0)
                log_warn("api", "\"express ingress not removed\" service=%s error=\"%s\"", name, ue.msg);
        json_object_set_new(rec, "updatedAt", ecs_timestamp_now());
        if ((r = rt_express_put(x, call->region, cluster, name, rec, e)) < 0)
                return r;
        *out = json_pack("{s:o}", "service", view(call, rec, json_object_get(dout, "service"), priv));
        return 0;
}

int api_delete_express_gateway_service(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        pthread_mutex_lock(&express_lock);
        int r = delete_express(call, in, out, e);
        pthread_mutex_unlock(&express_lock);
        return r;
}

int api_describe_express_gateway_service(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        struct rt_express *x = express_or_fail(call, e);
        if (!x)
                return -ENOTSUP;
        char cluster[ECS_NAME_MAX + 1], name[ECS_NAME_MAX + 1];
        int r = parse_service_arn(call, ecs_json_str(in, "serviceArn", ""), ERR_KIND_NOT_FOUND, cluster, name, e);
        if (r < 0)
                return r;
        json_auto_t *rec = NULL, *svc = NULL, *priv = NULL;
        if ((r = lookup(call, x, cluster, name, ERR_KIND_NOT_FOUND, &rec, &svc, &priv, e)) < 0)
                return r;
        json_t *v = view(call, rec, svc, priv);
        if (ecs_json_list_has(json_object_get(in, "include"), "TAGS")) {
                if ((r = api_doc_attach_tags(call, v, "serviceArn", e)) < 0) {
                        json_decref(v);
                        return r;
                }
        }
        *out = json_pack("{s:o}", "service", v);
        return 0;
}
