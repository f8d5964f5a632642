/* actions-taskset.c — CreateTaskSet, DescribeTaskSets, UpdateTaskSet, DeleteTaskSet, UpdateServicePrimaryTaskSet.
 *
 * Task sets belong to services whose deploymentController is EXTERNAL and live in the service's stored document
 * (a CODE_DEPLOY service has them too: its PRIMARY one, made by CreateService with api_taskset_new; DescribeTaskSets
 * shows it, the calls that change task sets refuse it as ECS does, since CodeDeploy is what makes and moves them)
 * (pkg/runtime/tasksets.h). The handlers check a request, then change the task sets through rt_scheduler_edit, so the
 * change and the scheduler's own (counts, stability) are serialised by the scheduler's lock; the scheduler then runs
 * and stops the task sets' tasks. Read-only DescribeTaskSets reads the stored document without that lock. */
#include <string.h>

#include "api-internal.h"
#include "scheduler.h"
#include "tasksets.h"

#define NOT_EXTERNAL_MSG                                                                                              \
        "Amazon ECS only supports task set management on services configured to use external deployment controllers."

static struct rt_scheduler *scheduler_or_fail(struct api_call *call, struct err *e) {
        struct rt_scheduler *s = api_scheduler(call->api);
        if (!s)
                err_set(e, -ENOTSUP, ERR_KIND_INTERNAL, "ecsd runs without a backend; task sets cannot run.");
        return s;
}

/* The ACTIVE cluster and the service name an input's `cluster` and `service` name. */
static int service_of_input(struct api_call *call, const json_t *in, char *cluster, char *name, struct err *e) {
        int r = api_cluster_active(call, ecs_json_str(in, "cluster", NULL), cluster, NULL, e);
        if (r >= 0)
                r = api_service_ref_name(call, cluster, ecs_json_str(in, "service", ""), name, e);
        return r;
}

/* Scale: a value from 0 to 100, in PERCENT (the only unit of the model). */
static int scale_check(const json_t *scale, struct err *e) {
        const json_t *v = json_object_get(scale, "value");
        if (v && (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 100))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "scale value must be between 0 and 100.");
        if (strcmp(ecs_json_str(scale, "unit", "PERCENT"), "PERCENT") != 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "scale unit must be PERCENT.");
        return 0;
}

static json_t *scale_new(const json_t *scale) {
        const json_t *v = json_object_get(scale, "value");
        return json_pack("{s:f, s:s}", "value", json_is_number(v) ? json_number_value(v) : 100.0, "unit", "PERCENT");
}

/* An id as ECS makes them: "ecs-svc/" and 19 digits. */
static void taskset_id_new(char out[32]) {
        unsigned char b[19];
        random_bytes(b, sizeof(b));
        memcpy(out, "ecs-svc/", 8);
        for (size_t i = 0; i < sizeof(b); i++)
                out[8 + i] = (char) ('0' + b[i] % 10);
        if (out[8] == '0')
                out[8] = '1';
        out[27] = '\0';
}

static int need_external(const json_t *doc, struct err *e) {
        if (!rt_tasksets_external(doc))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, NOT_EXTERNAL_MSG);
        return 0;
}

/* ---- CreateTaskSet ---- */

struct create_arg {
        struct api_call *call;
        const json_t *in;
        const char *cluster;
        const char *tdarn;
        const json_t *strategy; /* normalized capacity provider strategy, or NULL */
};

json_t *api_taskset_new(struct api_call *call, const json_t *doc, const char *cluster, const char *tdarn,
                        const json_t *in, const json_t *strategy, struct err *e) {
        char id[32], resource[2 * ECS_NAME_MAX + 40], arn[ECS_ARN_MAX];
        taskset_id_new(id);
        str_printf(resource, sizeof(resource), "%s/%s/%s", cluster, ecs_json_str(doc, "serviceName", ""), id);
        if (ecs_arn_format(arn, sizeof(arn), call->region, call->account, "task-set", resource) < 0) {
                err_set(e, -ENAMETOOLONG, ERR_KIND_INVALID, "The task set ARN would be too long.");
                return NULL;
        }
        json_t *now = ecs_timestamp_now();
        json_t *ts = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:O, s:o, s:o, s:[], s:[], s:s,"
                               " s:O}",
                               "id", id, "taskSetArn", arn, "serviceArn", ecs_json_str(doc, "serviceArn", ""),
                               "clusterArn", ecs_json_str(doc, "clusterArn", ""), "startedBy", id, "status", "ACTIVE",
                               "taskDefinition", tdarn, "computedDesiredCount", 0, "pendingCount", 0,
                               "runningCount", 0, "createdAt", now, "updatedAt", json_deep_copy(now), "scale",
                               scale_new(json_object_get(in, "scale")), "loadBalancers", "serviceRegistries",
                               "stabilityStatus", "STABILIZING", "stabilityStatusAt", now);
        json_decref(now);
        if (!ts) {
                err_set(e, -ENOMEM, ERR_KIND_INTERNAL, "Out of memory.");
                return NULL;
        }
        const char *external_id = ecs_json_str(in, "externalId", NULL);
        if (external_id)
                json_object_set_new(ts, "externalId", json_string(external_id));
        if (strategy)
                json_object_set_new(ts, "capacityProviderStrategy", json_deep_copy(strategy));
        else
                json_object_set_new(ts, "launchType",
                                    json_string(ecs_json_str(in, "launchType", ecs_json_str(doc, "launchType", "EC2"))));
        static const char *const echoed[] = {"loadBalancers", "serviceRegistries", "networkConfiguration",
                                             "platformVersion"};
        for (size_t i = 0; i < ARRAY_SIZE(echoed); i++) {
                const json_t *v = json_object_get(in, echoed[i]);
                if (v)
                        json_object_set_new(ts, echoed[i], json_deep_copy(v));
        }
        json_object_set_new(ts, "computedDesiredCount",
                            json_integer(rt_taskset_computed_desired(json_integer_value(json_object_get(doc,
                                                                                                    "desiredCount")),
                                                                     ts)));
        return ts;
}

static int create_edit(void *argp, json_t *doc, json_t **ret, struct err *e) {
        struct create_arg *a = argp;
        int r = need_external(doc, e);
        if (r < 0)
                return r;
        json_t *ts = api_taskset_new(a->call, doc, a->cluster, a->tdarn, a->in, a->strategy, e);
        if (!ts)
                return e->code;
        json_t *sets = json_object_get(doc, "taskSets");
        if (!json_is_array(sets)) {
                sets = json_array();
                json_object_set_new(doc, "taskSets", sets);
        }
        *ret = json_deep_copy(ts); /* the answer gets tags added; the stored document must not */
        json_array_append_new(sets, ts);
        return 0;
}

int api_create_task_set(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        struct rt_scheduler *sch = scheduler_or_fail(call, e);
        if (!sch)
                return -ENOTSUP;
        char cluster[ECS_NAME_MAX + 1], name[ECS_NAME_MAX + 1];
        int r = service_of_input(call, in, cluster, name, e);
        if (r < 0)
                return r;
        const char *launch_type = ecs_json_str(in, "launchType", NULL);
        const json_t *cps = json_object_get(in, "capacityProviderStrategy");
        if (launch_type && json_array_size(cps))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Specifying both a launchType and capacityProviderStrategy is not supported.");
        if ((r = scale_check(json_object_get(in, "scale"), e)) < 0)
                return r;
        const json_t *tags = json_object_get(in, "tags");
        if ((r = api_tags_validate(tags, e)) < 0)
                return r;
        /* The task definition: an ACTIVE revision of the call's region. */
        char family[ECS_NAME_MAX + 1];
        int64_t rev;
        json_auto_t *td = NULL;
        if ((r = ecs_taskdef_ref_resolve(ecs_json_str(in, "taskDefinition", ""), call->region, call->account, family,
                                         &rev, e)) < 0)
                return r;
        r = rt_taskdef_get(call->store, call->region, family, rev, &td, e);
        if (r == -ENOENT || (r >= 0 && strcmp(ecs_json_str(td, "status", ""), "ACTIVE") != 0))
                return err_set(e, -ENOENT, ERR_KIND_INVALID, "TaskDefinition not found.");
        if (r < 0)
                return r;
        json_auto_t *strategy = json_array_size(cps) ? api_capacity_strategy_normalized(cps) : NULL;
        struct create_arg a = {.call = call, .in = in, .cluster = cluster,
                               .tdarn = ecs_json_str(td, "taskDefinitionArn", ""), .strategy = strategy};
        json_t *ts = NULL;
        if ((r = rt_scheduler_edit(sch, call->region, cluster, name, create_edit, &a, &ts, e)) < 0)
                return r;
        const char *arn = ecs_json_str(ts, "taskSetArn", "");
        if (json_array_size(tags) > 0) {
                if ((r = rt_tags_put(call->store, arn, tags, e)) < 0) {
                        json_decref(ts);
                        return r;
                }
                json_object_set_new(ts, "tags", json_deep_copy(tags));
        }
        *out = json_pack("{s:o}", "taskSet", ts);
        return 0;
}

/* ---- DescribeTaskSets ---- */

int api_describe_task_sets(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        char cluster[ECS_NAME_MAX + 1], name[ECS_NAME_MAX + 1];
        int r = service_of_input(call, in, cluster, name, e);
        if (r < 0)
                return r;
        json_auto_t *doc = NULL;
        if ((r = rt_service_get(call->store, call->region, cluster, name, &doc, NULL, e)) < 0)
                return r;
        if (strcmp(ecs_json_str(doc, "status", ""), "ACTIVE") != 0)
                return err_set(e, -ESRCH, ERR_KIND_SERVICE_NOT_ACTIVE, "Service was not ACTIVE.");
        /* A CODE_DEPLOY service's task sets are described too (its PRIMARY one); only EXTERNAL ones are managed. */
        if (!rt_tasksets_managed(doc))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, NOT_EXTERNAL_MSG);
        bool with_tags = ecs_json_list_has(json_object_get(in, "include"), "TAGS");
        const json_t *refs = json_object_get(in, "taskSets");
        json_auto_t *sets = json_array();
        json_auto_t *failures = json_array();
        size_t i;
        const json_t *x;
        if (refs) {
                json_array_foreach(refs, i, x) {
                        json_t *ts = rt_taskset_find(doc, json_string_value(x));
                        if (ts)
                                json_array_append(sets, ts);
                        else
                                json_array_append_new(failures, json_pack("{s:s, s:s}", "arn", json_string_value(x),
                                                                          "reason", "MISSING"));
                }
        } else {
                json_t *y;
                json_array_foreach(json_object_get(doc, "taskSets"), i, y) json_array_append(sets, y);
        }
        json_t *ts;
        json_array_foreach(sets, i, ts) {
                if (with_tags && (r = api_doc_attach_tags(call, ts, "taskSetArn", e)) < 0)
                        return r;
        }
        *out = json_pack("{s:O, s:O}", "taskSets", sets, "failures", failures);
        return 0;
}

/* ---- UpdateTaskSet, DeleteTaskSet, UpdateServicePrimaryTaskSet ---- */

enum taskset_op { OP_SCALE, OP_DELETE, OP_PRIMARY };

struct change_arg {
        enum taskset_op op;
        const char *ref;
        const json_t *scale;
        bool force;
};

static int change_edit(void *argp, json_t *doc, json_t **ret, struct err *e) {
        struct change_arg *a = argp;
        int r = need_external(doc, e);
        if (r < 0)
                return r;
        json_t *ts = rt_taskset_find(doc, a->ref);
        if (!ts)
                return err_set(e, -ENOENT, ERR_KIND_TASK_SET_NOT_FOUND, "The specified task set does not exist.");
        bool draining = strcmp(ecs_json_str(ts, "status", ""), "DRAINING") == 0;
        switch (a->op) {
        case OP_SCALE:
                if (draining)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "The task set is being deleted.");
                json_object_set_new(ts, "scale", scale_new(a->scale));
                break;
        case OP_DELETE:
                /* Without force, ECS deletes only a task set scaled down to zero. */
                if (!a->force && !draining &&
                    rt_taskset_computed_desired(json_integer_value(json_object_get(doc, "desiredCount")), ts) > 0)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "The task set cannot be deleted while it is scaled above 0; use force.");
                json_object_set_new(ts, "status", json_string("DRAINING"));
                break;
        case OP_PRIMARY: {
                if (draining)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "The task set is being deleted.");
                size_t i;
                json_t *other;
                json_array_foreach(json_object_get(doc, "taskSets"), i, other) {
                        if (other != ts && strcmp(ecs_json_str(other, "status", ""), "PRIMARY") == 0) {
                                json_object_set_new(other, "status", json_string("ACTIVE"));
                                json_object_set_new(other, "updatedAt", ecs_timestamp_now());
                        }
                }
                json_object_set_new(ts, "status", json_string("PRIMARY"));
                /* The service runs what its PRIMARY task set runs (DescribeServices' taskDefinition). */
                json_object_set_new(doc, "taskDefinition", json_string(ecs_json_str(ts, "taskDefinition", "")));
                break;
        }
        }
        json_object_set_new(ts, "updatedAt", ecs_timestamp_now());
        *ret = json_deep_copy(ts);
        return 0;
}

static int change(struct api_call *call, const json_t *in, struct change_arg *a, json_t **out, struct err *e) {
        struct rt_scheduler *sch = scheduler_or_fail(call, e);
        if (!sch)
                return -ENOTSUP;
        char cluster[ECS_NAME_MAX + 1], name[ECS_NAME_MAX + 1];
        int r = service_of_input(call, in, cluster, name, e);
        if (r < 0)
                return r;
        json_t *ts = NULL;
        if ((r = rt_scheduler_edit(sch, call->region, cluster, name, change_edit, a, &ts, e)) < 0)
                return r;
        *out = json_pack("{s:o}", "taskSet", ts);
        return 0;
}

int api_update_task_set(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        const json_t *scale = json_object_get(in, "scale");
        int r = scale_check(scale, e);
        if (r < 0)
                return r;
        struct change_arg a = {.op = OP_SCALE, .ref = ecs_json_str(in, "taskSet", ""), .scale = scale};
        return change(call, in, &a, out, e);
}

int api_delete_task_set(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        struct change_arg a = {.op = OP_DELETE, .ref = ecs_json_str(in, "taskSet", ""),
                               .force = json_is_true(json_object_get(in, "force"))};
        return change(call, in, &a, out, e);
}

int api_update_service_primary_task_set(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        struct change_arg a = {.op = OP_PRIMARY, .ref = ecs_json_str(in, "primaryTaskSet", "")};
        return change(call, in, &a, out, e);
}
