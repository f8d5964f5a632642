/* api-operator.c — ecsd's own endpoints about tasks: the task metadata endpoint v4 and the credentials endpoint that
 * containers call, the output of a task (whole, or followed: the response then carries a stream that the HTTP server
 * delivers as it comes), and the cleanup request.
 *
 * Credentials are found by the task's credentials id (a random UUID the lifecycle gives a task with a role), never by
 * the task id: a task id is no secret (ListTasks shows it), and any container on the host can reach the listener.
 * ecsd has no IAM: the keys are the operator's (--task-credentials-file) or local placeholders an SDK accepts.
 *
 * The metadata document follows the agent's v4 response (ecs-agent tmds handlers v4): PascalCase keys, RFC 3339
 * times. It is built from the stored Task object and the backend plan, so it answers the same on both backends. */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "api-internal.h"
#include "lifecycle.h"

#define CLEANUP_TIMEOUT_MS (5 * 60 * 1000)
/* Longest a metadata request waits for its container's id (rt_lifecycle_wait_created). */
#define METADATA_CREATED_WAIT_MS (10 * 1000)

static void respond_text(struct api_response *resp, unsigned status, char *body, size_t len) {
        resp->status = status;
        resp->content_type = "text/plain; charset=utf-8";
        resp->body = body;
        resp->body_len = len;
}

static void respond_error(struct api_response *resp, unsigned status, const char *type, const char *message) {
        json_auto_t *body = json_pack("{s:s, s:s}", "__type", type, "message", message);
        api_respond_json(resp, status, "application/json", body);
}

static void respond_not_found(struct api_response *resp, const char *message) {
        respond_error(resp, 404, "NotFound", message);
}

/* An ECS API timestamp (epoch seconds) as RFC 3339, or NULL when absent. */
static json_t *rfc3339(const json_t *epoch) {
        if (!json_is_number(epoch))
                return NULL;
        double v = json_number_value(epoch);
        time_t secs = (time_t) v;
        struct tm tm;
        gmtime_r(&secs, &tm);
        char buf[64];
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
        char out[80];
        str_printf(out, sizeof(out), "%s.%03dZ", buf, (int) ((v - (double) secs) * 1000.0));
        return json_string(out);
}

static void set_time(json_t *obj, const char *key, const json_t *epoch) {
        json_t *v = rfc3339(epoch);
        if (v)
                json_object_set_new(obj, key, v);
}

static const json_t *plan_container(const json_t *plan, const char *name) {
        size_t i;
        const json_t *c;
        json_array_foreach(json_object_get(plan, "containers"), i, c) if (strcmp(ecs_json_str(c, "name", ""),
                                                                                   name) == 0) return c;
        return NULL;
}

/* The v4 container object for container `c` of the Task document. */
static json_t *container_metadata(const json_t *task, const json_t *plan, const json_t *c) {
        const char *name = ecs_json_str(c, "name", "");
        const json_t *pc = plan_container(plan, name);
        char family[ECS_NAME_MAX + 1] = "", revision[24] = "";
        int64_t rev;
        if (ecs_taskdef_arn_parse(ecs_json_str(task, "taskDefinitionArn", ""), family, &rev, NULL) == 0)
                str_printf(revision, sizeof(revision), "%" PRId64, rev);
        json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}}",
                              "DockerId", ecs_json_str(c, "runtimeId", ""), "Name", name, "DockerName",
                              ecs_json_str(pc, "docker_name", name), "Image", ecs_json_str(c, "image", ""),
                              "ImageID", "", "DesiredStatus", ecs_json_str(task, "desiredStatus", ""),
                              "KnownStatus", ecs_json_str(c, "lastStatus", ""), "Type", "NORMAL", "ContainerARN",
                              ecs_json_str(c, "containerArn", ""), "Labels", "com.amazonaws.ecs.cluster",
                              ecs_json_str(task, "clusterArn", ""), "com.amazonaws.ecs.container-name", name,
                              "com.amazonaws.ecs.task-arn", ecs_json_str(task, "taskArn", ""),
                              "com.amazonaws.ecs.task-definition-family", family,
                              "com.amazonaws.ecs.task-definition-version", revision);
        int64_t v;
        if (ecs_json_int(c, "exitCode", &v))
                json_object_set_new(m, "ExitCode", json_integer(v));
        int64_t cpu = 0, mem = 0;
        parse_int64(ecs_json_str(c, "cpu", "0"), 0, INT64_MAX, &cpu);
        json_t *limits = json_pack("{s:I}", "CPU", (json_int_t) cpu);
        if (parse_int64(ecs_json_str(c, "memory", ""), 0, INT64_MAX, &mem) == 0)
                json_object_set_new(limits, "Memory", json_integer(mem));
        json_object_set_new(m, "Limits", limits);
        set_time(m, "CreatedAt", json_object_get(task, "createdAt"));
        set_time(m, "StartedAt", json_object_get(task, "startedAt"));
        json_t *net = json_pack("{s:s, s:[]}", "NetworkMode", "bridge", "IPv4Addresses");
        json_object_set_new(m, "Networks", json_pack("[o]", net));
        json_t *ports = json_array();
        size_t i;
        const json_t *b;
        json_array_foreach(json_object_get(c, "networkBindings"), i, b)
                json_array_append_new(ports, json_pack("{s:O?, s:O?, s:O?, s:O?}", "ContainerPort",
                                                       json_object_get(b, "containerPort"), "Protocol",
                                                       json_object_get(b, "protocol"), "HostPort",
                                                       json_object_get(b, "hostPort"), "HostIp",
                                                       json_object_get(b, "bindIP")));
        json_object_set_new(m, "Ports", ports);
        if (json_is_true(json_object_get(pc, "health_check")))
                json_object_set_new(m, "Health", json_pack("{s:s}", "status", ecs_json_str(c, "healthStatus",
                                                                                              "UNKNOWN")));
        return m;
}

static json_t *task_metadata(const json_t *task, const json_t *plan, bool with_tags, struct rt_store *store) {
        char family[ECS_NAME_MAX + 1] = "", revision[24] = "";
        int64_t rev;
        if (ecs_taskdef_arn_parse(ecs_json_str(task, "taskDefinitionArn", ""), family, &rev, NULL) == 0)
                str_printf(revision, sizeof(revision), "%" PRId64, rev);
        json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[], s:i}", "Cluster",
                              ecs_json_str(task, "clusterArn", ""), "TaskARN", ecs_json_str(task, "taskArn", ""),
                              "Family", family, "Revision", revision, "DesiredStatus",
                              ecs_json_str(task, "desiredStatus", ""), "KnownStatus",
                              ecs_json_str(task, "lastStatus", ""), "AvailabilityZone",
                              ecs_json_str(task, "availabilityZone", ""), "LaunchType",
                              ecs_json_str(task, "launchType", ""), "Containers", "ClockDrift", 0);
        json_object_set_new(m, "ClockDrift", json_pack("{s:f, s:b}", "ClockErrorBound", 0.5,
                                                       "ClockSynchronizationStatus", 1));
        int64_t cpu = 0, mem = 0;
        json_t *limits = json_object();
        if (parse_int64(ecs_json_str(task, "cpu", ""), 0, INT64_MAX, &cpu) == 0)
                json_object_set_new(limits, "CPU", json_real((double) cpu / 1024.0));
        if (parse_int64(ecs_json_str(task, "memory", ""), 0, INT64_MAX, &mem) == 0)
                json_object_set_new(limits, "Memory", json_integer(mem));
        json_object_set_new(m, "Limits", limits);
        set_time(m, "PullStartedAt", json_object_get(task, "pullStartedAt"));
        set_time(m, "PullStoppedAt", json_object_get(task, "pullStoppedAt"));
        set_time(m, "ExecutionStoppedAt", json_object_get(task, "executionStoppedAt"));
        size_t i;
        const json_t *c;
        json_array_foreach(json_object_get(task, "containers"), i, c)
                json_array_append_new(json_object_get(m, "Containers"), container_metadata(task, plan, c));
        if (with_tags) {
                json_t *tags = NULL;
                struct err e = {0};
                json_t *out = json_object();
                if (rt_tags_get(store, ecs_json_str(task, "taskArn", ""), &tags, &e) == 0) {
                        const json_t *t;
                        json_array_foreach(tags, i, t)
                                json_object_set(out, ecs_json_str(t, "key", ""), json_object_get(t, "value"));
                        json_decref(tags);
                }
                json_object_set_new(m, "TaskTags", out);
        }
        return m;
}

/* Split "/<prefix><id>[/<rest>]" into id and rest. False when the path does not start with prefix. */
static bool path_split(const char *path, const char *prefix, char *id, size_t id_size, const char **rest) {
        size_t plen = strlen(prefix);
        if (strncmp(path, prefix, plen) != 0)
                return false;
        const char *p = path + plen;
        size_t n = strcspn(p, "/");
        if (n == 0 || n >= id_size)
                return false;
        memcpy(id, p, n);
        id[n] = '\0';
        *rest = p + n;
        return true;
}

/* The placeholders a role gets when --task-credentials-file names neither it nor "*". */
#define PLACEHOLDER_ACCESS_KEY_ID "ASIAECSDLOCAL0000000"
#define PLACEHOLDER_SECRET_ACCESS_KEY "ecsd-local-secret-key"
#define PLACEHOLDER_TOKEN "ecsd-local-session-token"
/* How long handed-out credentials claim to last. An SDK refreshes them some minutes before that; each answer is
 * computed afresh, so a refresh always gets a time in the future again. */
#define CREDENTIALS_LIFETIME_S (6 * 3600)

int api_task_credentials_check(json_t *doc, struct err *e) {
        if (!json_is_object(doc))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "expected a JSON object mapping a role ARN (or \"*\") to "
                                                             "{\"AccessKeyId\", \"SecretAccessKey\", \"Token\"}");
        const char *role;
        json_t *v;
        json_object_foreach(doc, role, v) {
                static const char *const keys[] = {"AccessKeyId", "SecretAccessKey", "Token"};
                if (!json_is_object(v) || json_object_size(v) != ARRAY_SIZE(keys))
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "the entry of %.300s must be an object of exactly AccessKeyId, SecretAccessKey "
                                       "and Token",
                                       role);
                for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
                        const json_t *k = json_object_get(v, keys[i]);
                        /* Token may be empty (long-term keys have none); the keys may not. */
                        if (!json_is_string(k) || (i < 2 && json_string_length(k) == 0))
                                return err_set(e, -EINVAL, ERR_KIND_INVALID, "the entry of %.300s: %s must be a%s string",
                                               role, keys[i], i < 2 ? " non-empty" : "");
                }
        }
        return 0;
}

bool api_credentials_handle(struct api *api, const struct api_request *req, struct api_response *resp) {
        char id[72];
        const char *rest;
        if (!path_split(req->path, ECS_CREDENTIALS_PATH, id, sizeof(id), &rest))
                return false;
        char role[ECS_ARN_MAX + 1];
        struct err e = {0};
        if (*rest || strcmp(req->method, "GET") != 0 || !api_lifecycle(api) ||
            rt_lifecycle_credentials(api_lifecycle(api), id, role, sizeof(role), &e) < 0) {
                respond_not_found(resp, "No credentials for this id.");
                return true;
        }
        const json_t *keys = json_object_get(api->task_credentials, role);
        if (!keys)
                keys = json_object_get(api->task_credentials, "*");
        char expiration[32];
        time_t later = time(NULL) + CREDENTIALS_LIFETIME_S;
        struct tm tm;
        gmtime_r(&later, &tm);
        strftime(expiration, sizeof(expiration), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_auto_t *body = json_pack(
                "{s:s, s:s, s:s, s:s, s:s}", "RoleArn", role, "AccessKeyId",
                keys ? ecs_json_str(keys, "AccessKeyId", "") : PLACEHOLDER_ACCESS_KEY_ID, "SecretAccessKey",
                keys ? ecs_json_str(keys, "SecretAccessKey", "") : PLACEHOLDER_SECRET_ACCESS_KEY, "Token",
                keys ? ecs_json_str(keys, "Token", "") : PLACEHOLDER_TOKEN, "Expiration", expiration);
        api_respond_json(resp, 200, "application/json", body);
        return true;
}

bool api_metadata_handle(struct api *api, const struct api_request *req, struct api_response *resp) {
        char id[72], container[ECS_NAME_MAX + 1];
        const char *rest;
        if (!path_split(req->path, "/_ecsd/metadata/", id, sizeof(id), &rest))
                return false;
        if (!api_lifecycle(api)) {
                respond_not_found(resp, "No such task.");
                return true;
        }
        if (*rest != '/' || !path_split(rest, "/", container, sizeof(container), &rest)) {
                respond_not_found(resp, "Expected /_ecsd/metadata/<task-id>/<container>.");
                return true;
        }
        /* ECS_AGENT_URI is <the container's metadata URI>/agent: the agent's own endpoints. */
        if (strcmp(rest, "/agent/task-protection/v1/state") == 0) {
                api_agent_task_protection(api, id, req, resp);
                return true;
        }
        /* The container may call before the launch step that runs it has returned its id: wait for it (bounded; the
         * metadata listener has a thread per connection). */
        rt_lifecycle_wait_created(api_lifecycle(api), id, container, METADATA_CREATED_WAIT_MS);
        json_auto_t *doc = NULL;
        json_auto_t *plan = NULL;
        struct err e = {0};
        if (rt_lifecycle_task(api_lifecycle(api), id, &doc, &plan, &e) < 0) {
                respond_not_found(resp, "No such task.");
                return true;
        }
        const json_t *c = NULL;
        size_t i;
        const json_t *x;
        json_array_foreach(json_object_get(doc, "containers"), i, x) if (strcmp(ecs_json_str(x, "name", ""),
                                                                                container) == 0) c = x;
        if (!c) {
                respond_not_found(resp, "No such container in the task.");
                return true;
        }
        json_auto_t *body = NULL;
        if (strcmp(rest, "") == 0 || strcmp(rest, "/") == 0)
                body = container_metadata(doc, plan, c);
        else if (strcmp(rest, "/task") == 0)
                body = task_metadata(doc, plan, false, api->store);
        else if (strcmp(rest, "/taskWithTags") == 0)
                body = task_metadata(doc, plan, true, api->store);
        else if (strcmp(rest, "/stats") == 0 || strcmp(rest, "/task/stats") == 0) {
                /* Sampled now, through the backend (no polling loop). A container that is not running, or could not
                 * be sampled, gets what the agent answers before its first sample: {} for the container, null in
                 * the task's map (keyed by DockerId). */
                bool task = strcmp(rest, "/task/stats") == 0;
                json_auto_t *usage = NULL;
                if (rt_lifecycle_stats(api_lifecycle(api), id, task ? NULL : container, &usage, &e) < 0) {
                        log_warn("api", "\"cannot sample resource usage\" task=%s error=\"%s\"", id, e.msg);
                        usage = json_object();
                }
                if (!task) {
                        json_t *mine = json_object_get(usage, container);
                        body = mine ? json_incref(mine) : json_object();
                } else {
                        body = json_object();
                        json_array_foreach(json_object_get(doc, "containers"), i, x) {
                                json_t *one = json_object_get(usage, ecs_json_str(x, "name", ""));
                                json_object_set_new(body, ecs_json_str(x, "runtimeId", ecs_json_str(x, "name", "")),
                                                    one ? json_incref(one) : json_null());
                        }
                }
        } else {
                respond_not_found(resp, "No such metadata path.");
                return true;
        }
        api_respond_json(resp, 200, "application/json", body);
        return true;
}

bool api_tasks_handle(struct api *api, const struct api_request *req, struct api_response *resp) {
        if (strcmp(req->path, "/_ecsd/cleanup") == 0) {
                if (strcmp(req->method, "POST") != 0) {
                        respond_not_found(resp, "Use POST /_ecsd/cleanup.");
                        return true;
                }
                int left = api_lifecycle(api) ? rt_lifecycle_stop_all(api_lifecycle(api), "Stopped by ecsd cleanup request",
                                                                  CLEANUP_TIMEOUT_MS)
                                          : 0;
                json_auto_t *body = json_pack("{s:i}", "remaining", left);
                api_respond_json(resp, left ? 503 : 200, "application/json", body);
                return true;
        }
        if (strcmp(req->path, "/_ecsd/stats") == 0) {
                if (!api_lifecycle(api)) {
                        respond_not_found(resp, "No backend runs tasks here.");
                        return true;
                }
                json_auto_t *body = rt_lifecycle_counters(api_lifecycle(api));
                api_respond_json(resp, 200, "application/json", body);
                return true;
        }
        char id[72];
        const char *rest;
        if (!path_split(req->path, "/_ecsd/tasks/", id, sizeof(id), &rest))
                return false;
        if (strcmp(rest, "/logs") != 0 || !api_lifecycle(api)) {
                respond_not_found(resp, "Expected /_ecsd/tasks/<task-id>/logs.");
                return true;
        }
        const char *container = req->query ? req->query(req->query_ctx, "container") : NULL;
        const char *follow = req->query ? req->query(req->query_ctx, "follow") : NULL;
        if (follow && strcmp(follow, "1") != 0 && strcmp(follow, "true") != 0 && strcmp(follow, "0") != 0 &&
            strcmp(follow, "false") != 0) {
                respond_error(resp, 400, "InvalidParameterException", "follow must be 1, true, 0 or false.");
                return true;
        }
        if (follow && (strcmp(follow, "1") == 0 || strcmp(follow, "true") == 0)) {
                struct rt_follow *f = NULL;
                struct err e = {0};
                int r = rt_lifecycle_follow(api_lifecycle(api), id, container, &f, &e);
                if (r == -ENOENT)
                        respond_not_found(resp, e.msg);
                else if (r == -EINVAL)
                        respond_error(resp, 400, "InvalidParameterException", e.msg);
                else if (r == -EAGAIN)
                        respond_error(resp, 409, "ConflictException", e.msg);
                else if (r == -EOPNOTSUPP)
                        respond_error(resp, 400, "UnsupportedFeatureException", e.msg);
                else if (r < 0) {
                        log_error("api", "\"cannot follow output\" task=%s error=\"%s\"", id, e.msg);
                        respond_error(resp, 500, "ServerException", e.msg);
                } else {
                        resp->status = 200;
                        resp->content_type = "text/plain; charset=utf-8";
                        resp->stream = f;
                }
                return true;
        }
        char *out = NULL;
        size_t len = 0;
        struct err e = {0};
        if (rt_lifecycle_logs(api_lifecycle(api), id, container, &out, &len, &e) < 0) {
                respond_not_found(resp, e.msg);
                return true;
        }
        respond_text(resp, 200, out, len);
        return true;
}
