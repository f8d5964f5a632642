/* actions-task.c — RunTask, StartTask, StopTask, DescribeTasks, ListTasks.
 *
 * These handlers check the request the way ECS does and hand the task to the lifecycle (pkg/runtime/lifecycle.h),
 * which persists it before anything runs. Reads come from the store, where the lifecycle writes every transition. */
#include <string.h>

#include "api-internal.h"
#include "instances.h"
#include "capacity.h"
#include "lifecycle.h"
#include "placement.h"

#define RUN_COUNT_MAX 10
#define DESCRIBE_TASKS_MAX 100
#define STARTED_BY_MAX 128

/* The task id of a task reference: a bare id, or an ARN task/CLUSTER/ID (or the old task/ID) of this region.
 * -EINVAL when the reference cannot be a task of this region and account. */
static int task_ref_id(struct api_call *call, const char *ref, char *cluster, char *id, size_t id_size) {
        cluster[0] = '\0';
        const char *tail = ref;
        if (strncmp(ref, "arn:", 4) == 0) {
                struct ecs_arn arn;
                if (ecs_arn_parse(ref, &arn, NULL) < 0 || strcmp(arn.type, "task") != 0 ||
                    strcmp(arn.region, call->region) != 0 || strcmp(arn.account, call->account) != 0)
                        return -EINVAL;
                const char *slash = strchr(arn.resource, '/');
                if (slash)
                        str_printf(cluster, ECS_NAME_MAX + 1, "%.*s", (int) (slash - arn.resource), arn.resource);
                tail = strrchr(ref, '/') + 1;
        }
        size_t n = strlen(tail);
        if (n == 0 || n > 64 || strspn(tail, "0123456789abcdefABCDEF-") != n)
                return -EINVAL;
        return str_printf(id, id_size, "%s", tail);
}

/* Whether the task of ARN `task_arn` belongs to `cluster` in the call's region. */
static bool task_in_cluster(struct api_call *call, const char *cluster, const char *task_arn) {
        struct ecs_arn arn;
        if (ecs_arn_parse(task_arn, &arn, NULL) < 0 || strcmp(arn.region, call->region) != 0)
                return false;
        char expect[ECS_NAME_MAX + 2];
        str_printf(expect, sizeof(expect), "%s/", cluster);
        return strncmp(arn.resource, expect, strlen(expect)) == 0;
}

/* The stored task `ref` names, when it belongs to `cluster` in the call's region. */
int api_task_find(struct api_call *call, const char *cluster, const char *ref, json_t **ret) {
        char arn_cluster[ECS_NAME_MAX + 1], id[72];
        if (task_ref_id(call, ref, arn_cluster, id, sizeof(id)) < 0)
                return -EINVAL;
        if (arn_cluster[0] && strcmp(arn_cluster, cluster) != 0)
                return -ENOENT;
        json_auto_t *doc = NULL;
        struct err ignored = {0};
        int r = rt_task_get(call->store, id, &doc, NULL, &ignored);
        if (r < 0)
                return r;
        if (!task_in_cluster(call, cluster, ecs_json_str(doc, "taskArn", "")))
                return -ENOENT;
        *ret = TAKE_PTR(doc);
        return 0;
}

/* task_find's twin for serving the stored text as it is (rt_task_doc_text): the text in *ret, its length in
 * *ret_len. The ARN is read from the text's start, where the lifecycle writes it (see doc_text_arn); a document that
 * does not start so is decoded for it. */
static bool doc_text_arn(const char *text, char *buf, size_t size) {
        static const char prefix[] = "{\"taskArn\":\"";
        if (strncmp(text, prefix, sizeof(prefix) - 1) != 0)
                return false;
        const char *p = text + sizeof(prefix) - 1;
        const char *q = strchr(p, '"');
        if (!q || (size_t) (q - p) >= size || memchr(p, '\\', (size_t) (q - p)))
                return false;
        memcpy(buf, p, (size_t) (q - p));
        buf[q - p] = '\0';
        return true;
}

static int task_find_text(struct api_call *call, const char *cluster, const char *ref, char **ret, size_t *ret_len) {
        char arn_cluster[ECS_NAME_MAX + 1], id[72];
        if (task_ref_id(call, ref, arn_cluster, id, sizeof(id)) < 0)
                return -EINVAL;
        if (arn_cluster[0] && strcmp(arn_cluster, cluster) != 0)
                return -ENOENT;
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        struct err ignored = {0};
        int r = rt_task_doc_text(call->store, id, &text, &len, &ignored);
        if (r < 0)
                return r;
        char arn[ECS_ARN_MAX + 1];
        bool owned;
        if (doc_text_arn(text, arn, sizeof(arn)))
                owned = task_in_cluster(call, cluster, arn);
        else {
                json_auto_t *doc = json_loadb(text, len, 0, NULL);
                owned = task_in_cluster(call, cluster, ecs_json_str(doc, "taskArn", ""));
        }
        if (!owned)
                return -ENOENT;
        *ret = TAKE_PTR(text);
        *ret_len = len;
        return 0;
}

static int check_overrides(const json_t *taskdef, const json_t *overrides, struct err *e) {
        size_t i;
        const json_t *o;
        json_array_foreach(json_object_get(overrides, "containerOverrides"), i, o) {
                const char *name = ecs_json_str(o, "name", NULL);
                bool found = false;
                size_t k;
                const json_t *c;
                json_array_foreach(json_object_get(taskdef, "containerDefinitions"), k, c) if (
                        name && strcmp(ecs_json_str(c, "name", ""), name) == 0) found = true;
                if (!found)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "Override for container named %.255s is not a container in the "
                                       "TaskDefinition.",
                                       name ? name : "(no name)");
        }
        return 0;
}

/* What RunTask and StartTask share: the cluster, the task definition, overrides and tags, checked. */
struct launch {
        char cluster[ECS_NAME_MAX + 1];
        json_t *cluster_doc;
        json_t *taskdef;
};

static void launch_done(struct launch *l) {
        json_decref(l->cluster_doc);
        json_decref(l->taskdef);
}

static int launch_prepare(struct api_call *call, const json_t *in, struct launch *l, struct err *e) {
        int r = api_cluster_active(call, ecs_json_str(in, "cluster", NULL), l->cluster, &l->cluster_doc, e);
        if (r < 0)
                return r;
        char family[ECS_NAME_MAX + 1];
        int64_t rev;
        r = ecs_taskdef_ref_resolve(ecs_json_str(in, "taskDefinition", ""), call->region, call->account, family, &rev,
                                    e);
        if (r < 0)
                return r;
        r = rt_taskdef_get(call->store, call->region, family, rev, &l->taskdef, e);
        if (r == -ENOENT)
                return err_set(e, -ENOENT, ERR_KIND_CLIENT, "Unable to find task definition '%.300s'.",
                               ecs_json_str(in, "taskDefinition", ""));
        if (r < 0)
                return r;
        if (strcmp(ecs_json_str(l->taskdef, "status", ""), "ACTIVE") != 0)
                return err_set(e, -EINVAL, ERR_KIND_CLIENT, "TaskDefinition is inactive");
        const json_t *overrides = json_object_get(in, "overrides");
        if ((r = check_overrides(l->taskdef, overrides, e)) < 0)
                return r;
        if ((r = api_tags_validate(json_object_get(in, "tags"), e)) < 0)
                return r;
        const char *started_by = ecs_json_str(in, "startedBy", NULL);
        if (started_by && strlen(started_by) > STARTED_BY_MAX)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "startedBy must be at most %d characters.",
                               STARTED_BY_MAX);
        return 0;
}

/* The loop of run_tasks, with the place lock held: place each task (charged to `cache`), then create it. */
static int run_placed(struct api_call *call, const json_t *in, struct launch *l, const char *launch_type,
                      const json_t *strategy, const char *const *instances, size_t count, const char *group,
                      struct rt_instances *placer, json_t **cache, json_t *tasks, json_t *failures, struct err *e) {
        for (size_t i = 0; i < count; i++) {
                struct rt_place_request preq = {
                        .region = call->region,
                        .account = call->account,
                        .cluster = l->cluster,
                        .taskdef = l->taskdef,
                        .overrides = json_object_get(in, "overrides"),
                        .group = ecs_json_str(in, "group", group),
                        .constraints = json_object_get(in, "placementConstraints"),
                        .strategy = json_object_get(in, "placementStrategy"),
                        .only = instances ? instances[i] : NULL,
                };
                struct rt_placement place;
                json_t *unplaced = NULL;
                int pr = rt_instances_choose(placer, &preq, &place, &unplaced, cache, e);
                if (pr == -ENOSPC) {
                        json_array_extend(failures, unplaced);
                        json_decref(unplaced);
                        continue;
                }
                if (pr < 0)
                        return pr;
                struct rt_run_request req = {
                        .region = call->region,
                        .account = call->account,
                        .cluster_name = l->cluster,
                        .cluster_arn = ecs_json_str(l->cluster_doc, "clusterArn", ""),
                        .taskdef = l->taskdef,
                        .overrides = json_object_get(in, "overrides"),
                        .started_by = ecs_json_str(in, "startedBy", NULL),
                        .group = ecs_json_str(in, "group", NULL),
                        .launch_type = launch_type,
                        .tags = json_object_get(in, "tags"),
                        .container_instance_arn = place.arn[0] ? place.arn : NULL,
                        .host = place.host[0] ? place.host : NULL,
                        .reserved_cpu = place.cpu,
                        .reserved_memory = place.memory,
                        .enable_execute_command = json_is_true(json_object_get(in, "enableExecuteCommand")),
                };
                if (strategy) {
                        /* ECS reports the provider a strategy chose, and the launch type it stands for. */
                        req.capacity_provider_name = ecs_capacity_pick(strategy, (int64_t) i);
                        req.launch_type = ecs_capacity_launch_type(req.capacity_provider_name);
                }
                json_t *task = NULL;
                struct err te = {0};
                int r = rt_lifecycle_run(api_lifecycle(call->api), &req, &task, &te);
                if (r < 0 && te.kind == ERR_KIND_CLIENT && i == 0) {
                        *e = te;
                        return r;
                }
                if (r < 0) {
                        log_error("api", "\"cannot start task\" error=\"%s\"", te.msg);
                        json_array_append_new(failures, json_pack("{s:s, s:s}", "reason", "RESOURCE:ecsd",
                                                                  "detail", te.msg));
                        continue;
                }
                api_exec_agents(task);
                json_array_append_new(tasks, task);
        }
        return 0;
}

/* Run `count` tasks into *out ({"tasks", "failures"}). Each is placed first (instances.h): a task no container
 * instance can take gets ECS's failures[] entries and is not launched. A failure to store or start one is listed in
 * `failures` too; a definition the backend refuses (ClientException, found on the first task, before anything was
 * created) fails the whole call. `instances` (StartTask) names the instance of each task. */
static int run_tasks(struct api_call *call, const json_t *in, struct launch *l, const char *launch_type,
                     const json_t *strategy, const char *const *instances, size_t count, json_t **out,
                     struct err *e) {
        json_auto_t *tasks = json_array();
        json_auto_t *failures = json_array();
        char group[ECS_NAME_MAX + 16];
        str_printf(group, sizeof(group), "family:%s", ecs_json_str(l->taskdef, "family", ""));
        struct rt_instances *placer = api_instances(call->api);
        /* One read of the instances for the whole call, each task charged as it is placed: the place lock is held
         * until the last task is stored. */
        json_auto_t *cache = NULL;
        rt_instances_place_lock(placer);
        int r = run_placed(call, in, l, launch_type, strategy, instances, count, group, placer, &cache, tasks, failures,
                           e);
        rt_instances_place_unlock(placer);
        if (r < 0)
                return r;
        *out = json_pack("{s:O, s:O}", "tasks", tasks, "failures", failures);
        return 0;
}


static int run_task(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        int64_t count = 1;
        if (json_object_get(in, "count") && (!ecs_json_int(in, "count", &count) || count < 1 || count > RUN_COUNT_MAX))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "count must be between 1 and %d.", RUN_COUNT_MAX);
        const char *launch_type = ecs_json_str(in, "launchType", NULL);
        if (launch_type && json_array_size(json_object_get(in, "capacityProviderStrategy")))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Specifying both a launchType and capacityProviderStrategy is not supported.");
        int r = rt_placement_validate(json_object_get(in, "placementConstraints"),
                                      json_object_get(in, "placementStrategy"), e);
        if (r < 0)
                return r;
        struct launch l = {0};
        r = launch_prepare(call, in, &l, e);
        const json_t *strategy = NULL;
        if (r >= 0)
                r = api_capacity_resolve(l.cluster_doc, in, &strategy, e);
        /* A Fargate strategy places every task on Fargate: the definition must allow it as for launchType. */
        if (r >= 0 && strategy && ecs_capacity_builtin(ecs_capacity_pick(strategy, 0)))
                launch_type = "FARGATE";
        if (r >= 0 && launch_type && strcmp(launch_type, "FARGATE") == 0 &&
            json_object_get(l.taskdef, "requiresCompatibilities") &&
            !ecs_json_list_has(json_object_get(l.taskdef, "requiresCompatibilities"), "FARGATE"))
                r = err_set(e, -EINVAL, ERR_KIND_CLIENT, "Task definition does not support launch_type FARGATE.");
        if (r >= 0 && strcmp(ecs_json_str(l.taskdef, "networkMode", "bridge"), "awsvpc") == 0 &&
            !json_object_get(in, "networkConfiguration"))
                r = err_set(e, -EINVAL, ERR_KIND_INVALID,
                            "Network Configuration must be provided when networkMode 'awsvpc' is specified.");
        if (r >= 0)
                r = run_tasks(call, in, &l, strategy ? NULL : launch_type, strategy, NULL, (size_t) count, out, e);
        launch_done(&l);
        return r;
}

/* From the cluster check until the tasks are stored, DeleteCluster waits (api->clusters_lock). */
int api_run_task(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        pthread_rwlock_rdlock(&call->api->clusters_lock);
        int r = run_task(call, in, out, e);
        pthread_rwlock_unlock(&call->api->clusters_lock);
        return r;
}

static int start_task(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        const json_t *list = json_object_get(in, "containerInstances");
        size_t n = json_array_size(list);
        if (n < 1 || n > RUN_COUNT_MAX)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "containerInstances must list 1 to %d instances.",
                               RUN_COUNT_MAX);
        struct launch l = {0};
        int r = launch_prepare(call, in, &l, e);
        if (r >= 0) {
                /* Each instance named runs one task, placed there or refused with ECS's failure. */
                const char *instances[RUN_COUNT_MAX];
                for (size_t i = 0; i < n; i++)
                        instances[i] = json_string_value(json_array_get(list, i));
                r = run_tasks(call, in, &l, "EC2", NULL, instances, n, out, e);
        }
        launch_done(&l);
        return r;
}

int api_start_task(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        pthread_rwlock_rdlock(&call->api->clusters_lock);
        int r = start_task(call, in, out, e);
        pthread_rwlock_unlock(&call->api->clusters_lock);
        return r;
}

int api_stop_task(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        char cluster[ECS_NAME_MAX + 1];
        json_auto_t *cluster_doc = NULL;
        int r = api_cluster_active(call, ecs_json_str(in, "cluster", NULL), cluster, &cluster_doc, e);
        if (r < 0)
                return r;
        const char *ref = ecs_json_str(in, "task", "");
        json_auto_t *doc = NULL;
        if (api_task_find(call, cluster, ref, &doc) < 0)
                return err_set(e, -ENOENT, ERR_KIND_INVALID, "The referenced task was not found.");
        const char *reason = ecs_json_str(in, "reason", NULL);
        if (reason && strlen(reason) > 1024)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "reason must be at most 1024 characters.");
        const char *arn = ecs_json_str(doc, "taskArn", "");
        const char *id = strrchr(arn, '/') + 1;
        json_t *task = NULL;
        r = rt_lifecycle_stop(api_lifecycle(call->api), id, NULL, reason, &task, e);
        if (r < 0)
                return r;
        api_exec_agents(task);
        *out = json_pack("{s:o}", "task", task);
        return 0;
}

/* The answer is written as text: {"tasks":[...],"failures":[...]}, each task its stored document as it is, byte for
 * byte what decoding and encoding it again would give (the store wrote it with the same encoder), so a describe
 * costs no JSON work per task. A document holding tags (RunTask --tags) is decoded, since the answer carries tags
 * only with include TAGS, and then from the tags table. */
int api_describe_tasks(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        char cluster[ECS_NAME_MAX + 1];
        int r = api_cluster_active(call, ecs_json_str(in, "cluster", NULL), cluster, NULL, e);
        if (r < 0)
                return r;
        const json_t *refs = json_object_get(in, "tasks");
        if (json_array_size(refs) > DESCRIBE_TASKS_MAX)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "tasks can list at most %d tasks.", DESCRIBE_TASKS_MAX);
        if (json_array_size(refs) == 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "Tasks cannot be empty.");
        bool with_tags = ecs_json_list_has(json_object_get(in, "include"), "TAGS");
        json_auto_t *failures = json_array();
        struct api_body *b = &call->body;
        static const char head[] = "{\"tasks\":[", middle[] = "],\"failures\":";
        api_body_append(b, head, sizeof(head) - 1);
        size_t n = 0, i;
        const json_t *ref;
        json_array_foreach(refs, i, ref) {
                _cleanup_free_ char *text = NULL;
                size_t len = 0;
                if (task_find_text(call, cluster, json_string_value(ref), &text, &len) < 0) {
                        json_array_append_new(failures, json_pack("{s:s, s:s}", "arn", json_string_value(ref),
                                                                  "reason", "MISSING"));
                        continue;
                }
                if (n++)
                        api_body_append(b, ",", 1);
                /* A document with tags, or with ExecuteCommand's agents to add, is decoded; any other is served as stored. */
                if (!with_tags && !memmem(text, len, "\"tags\":", 7) &&
                    !memmem(text, len, "\"enableExecuteCommand\":true", 27)) {
                        api_body_append(b, text, len);
                        continue;
                }
                json_auto_t *doc = json_loadb(text, len, 0, NULL);
                if (!doc)
                        return err_set(e, -EIO, ERR_KIND_INTERNAL, "state store: a stored document is damaged");
                json_object_del(doc, "tags");
                api_exec_agents(doc);
                if (with_tags && (r = api_doc_attach_tags(call, doc, "taskArn", e)) < 0)
                        return r;
                api_body_append_json(b, doc);
        }
        api_body_append(b, middle, sizeof(middle) - 1);
        api_body_append_json(b, failures);
        api_body_append(b, "}", 1);
        *out = NULL;
        return 0;
}

/* The answer is written as text, {"nextToken":"...","taskArns":[...]} (nextToken only when another page exists),
 * byte for byte what json_dumps(JSON_COMPACT) of the object gave: the ARNs come from the store's tasks_list index
 * (rt_task_list_each) as strings, with no array of them and no document read. */
int api_list_tasks(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        char cluster[ECS_NAME_MAX + 1];
        int r = api_cluster_active(call, ecs_json_str(in, "cluster", NULL), cluster, NULL, e);
        if (r < 0)
                return r;
        int limit;
        if ((r = ecs_page_max_results(in, ECS_PAGE_DEFAULT, 100, &limit, e)) < 0)
                return r;
        char after[ECS_PAGE_KEY_MAX] = "";
        const char *token = ecs_json_str(in, "nextToken", NULL);
        if (token && (r = ecs_page_token_decode("ListTasks", token, after, e)) < 0)
                return r;
        const char *desired = ecs_json_str(in, "desiredStatus", "RUNNING");
        const char *family = ecs_json_str(in, "family", NULL);
        /* A service's tasks are those of its group; an instance's those placed on it. */
        bool none = strcmp(desired, "PENDING") == 0;
        char instance[ECS_ARN_MAX + 1] = "";
        const char *iref = ecs_json_str(in, "containerInstance", NULL);
        if (iref) {
                if (strncmp(iref, "arn:", 4) == 0)
                        str_printf(instance, sizeof(instance), "%s", iref);
                else
                        str_printf(instance, sizeof(instance), "arn:aws:ecs:%s:%s:container-instance/%s/%s",
                                   call->region, call->account, cluster, iref);
        }
        const char *service = ecs_json_str(in, "serviceName", NULL);
        char group[ECS_NAME_MAX + 16] = "";
        if (service) {
                char name[ECS_NAME_MAX + 1];
                if ((r = api_service_ref_name(call, cluster, service, name, e)) < 0)
                        return r;
                str_printf(group, sizeof(group), "service:%s", name);
        }
        struct api_arn_page page = {.limit = limit}; /* keyed by task id, the listing's order */
        api_body_reserve(&page.arns, (size_t) limit * 96); /* an ARN with its quotes and comma is ~90 bytes */
        if (!none) {
                struct rt_task_query q = {
                        .region = call->region,
                        .cluster = cluster,
                        .family = family,
                        .started_by = ecs_json_str(in, "startedBy", NULL),
                        .desired = desired,
                        .launch_type = ecs_json_str(in, "launchType", NULL),
                        .group = group[0] ? group : NULL,
                        .instance = instance[0] ? instance : NULL,
                        .after_id = after[0] ? after : NULL,
                        .limit = limit + 1,
                };
                if ((r = rt_task_list_each(call->store, &q, api_arn_page_add, &page, e)) < 0) {
                        free(page.arns.buf);
                        return r;
                }
        }
        struct api_body *b = &call->body;
        api_body_append(b, "{", 1);
        if (page.more) {
                char next[ECS_PAGE_TOKEN_MAX];
                ecs_page_token_encode("ListTasks", page.last, next, sizeof(next));
                static const char key[] = "\"nextToken\":";
                api_body_append(b, key, sizeof(key) - 1);
                api_body_append_string(b, next, strlen(next));
                api_body_append(b, ",", 1);
        }
        static const char arns_key[] = "\"taskArns\":[";
        api_body_append(b, arns_key, sizeof(arns_key) - 1);
        if (page.arns.len)
                api_body_append(b, page.arns.buf, page.arns.len);
        api_body_append(b, "]}", 2);
        free(page.arns.buf);
        *out = NULL;
        return 0;
}
