/* actions-protection.c — GetTaskProtection, UpdateTaskProtection, and the agent's task protection endpoint that a
 * task's containers call (${ECS_AGENT_URI}/task-protection/v1/state, on the metadata listener).
 *
 * Protection is a record of kind "task-protection" keyed by the task id ({"taskArn", "expiresAtMs"}), written here
 * and read by the service scheduler (pkg/runtime/scheduler.c, protection_hold), which skips a protected task in
 * scale-in and deployments until expiresAtMs. Only a service's task not yet STOPPED can be protected (ECS: a
 * standalone task is TASK_NOT_VALID). Protection ends by itself at its expiry (nothing is rewritten then: a reader
 * compares with the clock), or when it is set to false, which removes the record and wakes the scheduler so that a
 * scale-in held back by it happens at once. */
#include <string.h>
#include <time.h>

#include "api-internal.h"
#include "lifecycle.h"
#include "scheduler.h"

#define PROTECTION_KIND "task-protection"
#define GET_TASKS_MAX 100
#define UPDATE_TASKS_MAX 10
#define EXPIRES_DEFAULT_MIN 120
#define EXPIRES_MAX_MIN 2880

/* How a task's protection stands: *ret_until_ms the end of its protection, 0 when it has none. */
static int protection_of(struct api *api, const char *region, const char *task_id, int64_t *ret_until_ms,
                         struct err *e) {
        json_auto_t *rec = NULL;
        struct err lookup = {0};
        int r = rt_record_get(api->store, region, PROTECTION_KIND, task_id, &rec, &lookup);
        *ret_until_ms = 0;
        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                *e = lookup;
                return r;
        }
        int64_t until = 0;
        if (ecs_json_int(rec, "expiresAtMs", &until) && until > time_now_ms())
                *ret_until_ms = until;
        return 0;
}

static const char *task_id_of(const json_t *task) {
        const char *arn = ecs_json_str(task, "taskArn", "");
        const char *slash = strrchr(arn, '/');
        return slash ? slash + 1 : arn;
}

/* Why a task cannot be protected, or NULL when it can: a service's task that is not STOPPED. */
static const char *not_valid(const json_t *task) {
        if (strncmp(ecs_json_str(task, "group", ""), "service:", 8) != 0)
                return "The task is not part of a service.";
        if (strcmp(ecs_json_str(task, "lastStatus", ""), "STOPPED") == 0)
                return "The task is stopped.";
        return NULL;
}

/* Set (until_ms > 0) or clear a task's protection; the scheduler is woken when it is cleared. */
static int protection_set(struct api *api, const char *region, const json_t *task, int64_t until_ms,
                          struct err *e) {
        const char *id = task_id_of(task);
        int r;
        if (until_ms > 0) {
                json_auto_t *rec = json_pack("{s:s, s:I}", "taskArn", ecs_json_str(task, "taskArn", ""),
                                             "expiresAtMs", (json_int_t) until_ms);
                return rt_record_put(api->store, region, PROTECTION_KIND, id, rec, e);
        }
        struct err del = {0};
        if ((r = rt_record_delete(api->store, region, PROTECTION_KIND, id, &del)) < 0 && r != -ENOENT) {
                *e = del;
                return r;
        }
        struct rt_scheduler *sch = api_scheduler(api);
        if (sch)
                rt_scheduler_wake(sch);
        return 0;
}

static json_t *protected_task(const json_t *task, int64_t until_ms) {
        json_t *out = json_pack("{s:s, s:b}", "taskArn", ecs_json_str(task, "taskArn", ""), "protectionEnabled",
                                until_ms > 0);
        if (until_ms > 0)
                json_object_set_new(out, "expirationDate", json_real((double) until_ms / 1000.0));
        return out;
}

/* For each task of in.tasks (1..max) in the cluster of in.cluster: its protection set to `until_ms` (update) or read,
 * and listed in `protected_out`; or, when it is unknown or cannot be protected, listed in `failures`. */
static int for_each_task(struct api_call *call, const json_t *in, size_t max, json_t *protected_out,
                         json_t *failures, int64_t until_ms, bool update, struct err *e) {
        char cluster[ECS_NAME_MAX + 1];
        json_auto_t *cluster_doc = NULL;
        int r = api_cluster_active(call, ecs_json_str(in, "cluster", NULL), cluster, &cluster_doc, e);
        if (r < 0)
                return r;
        const json_t *refs = json_object_get(in, "tasks");
        if (json_array_size(refs) < 1 || json_array_size(refs) > max)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "tasks must list 1 to %zu task IDs or ARNs.", max);
        size_t i;
        const json_t *ref;
        json_array_foreach(refs, i, ref) {
                const char *s = json_string_value(ref);
                json_auto_t *task = NULL;
                r = api_task_find(call, cluster, s, &task);
                if (r == -EINVAL)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid task ID or ARN '%.200s'.", s);
                if (r < 0) {
                        json_array_append_new(failures, json_pack("{s:s, s:s}", "arn", s, "reason", "MISSING"));
                        continue;
                }
                const char *why = not_valid(task);
                if (why) {
                        json_array_append_new(failures, json_pack("{s:s, s:s, s:s}", "arn",
                                                                  ecs_json_str(task, "taskArn", s), "reason",
                                                                  "TASK_NOT_VALID", "detail", why));
                        continue;
                }
                int64_t until = until_ms;
                if (update)
                        r = protection_set(call->api, call->region, task, until_ms, e);
                else
                        r = protection_of(call->api, call->region, task_id_of(task), &until, e);
                if (r < 0)
                        return r;
                json_array_append_new(protected_out, protected_task(task, until));
        }
        return 0;
}

int api_get_task_protection(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        json_auto_t *tasks = json_array();
        json_auto_t *failures = json_array();
        int r = for_each_task(call, in, GET_TASKS_MAX, tasks, failures, 0, false, e);
        if (r < 0)
                return r;
        *out = json_pack("{s:O, s:O}", "protectedTasks", tasks, "failures", failures);
        return 0;
}

/* expiresInMinutes: 1..2880, default 120, counted from now (a repeated call restarts it, as in ECS); ignored when
 * protection is being turned off. */
static int expiry_of(bool enabled, const json_t *minutes_v, int64_t *ret_until_ms, struct err *e) {
        *ret_until_ms = 0;
        if (!enabled)
                return 0;
        int64_t minutes = EXPIRES_DEFAULT_MIN;
        if (minutes_v) {
                if (!json_is_integer(minutes_v) || json_integer_value(minutes_v) < 1 ||
                    json_integer_value(minutes_v) > EXPIRES_MAX_MIN)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "expiresInMinutes must be between 1 and %d.", EXPIRES_MAX_MIN);
                minutes = json_integer_value(minutes_v);
        }
        *ret_until_ms = time_now_ms() + minutes * 60 * 1000;
        return 0;
}

int api_update_task_protection(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        int64_t until = 0;
        int r = expiry_of(json_is_true(json_object_get(in, "protectionEnabled")),
                          json_object_get(in, "expiresInMinutes"), &until, e);
        if (r < 0)
                return r;
        json_auto_t *tasks = json_array();
        json_auto_t *failures = json_array();
        if ((r = for_each_task(call, in, UPDATE_TASKS_MAX, tasks, failures, until, true, e)) < 0)
                return r;
        *out = json_pack("{s:O, s:O}", "protectedTasks", tasks, "failures", failures);
        return 0;
}

/* ---- the agent endpoint ---- */

static void agent_respond(struct api_response *resp, unsigned status, json_t *body) {
        api_respond_json(resp, status, "application/json", body);
        json_decref(body);
}

static void agent_error(struct api_response *resp, unsigned status, const char *arn, const char *code,
                        const char *message) {
        agent_respond(resp, status,
                      json_pack("{s:{s:s, s:s, s:s}}", "error", "Arn", arn, "Code", code, "Message", message));
}

/* The agent's answer: {"protection": {"ExpirationDate": RFC 3339 or null, "ProtectionEnabled", "TaskArn"}}. */
static json_t *agent_protection(const json_t *task, int64_t until_ms) {
        json_t *date = json_null();
        if (until_ms > 0) {
                time_t t = (time_t) (until_ms / 1000);
                struct tm tm;
                char buf[32];
                gmtime_r(&t, &tm);
                strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
                date = json_string(buf);
        }
        return json_pack("{s:{s:o, s:b, s:s}}", "protection", "ExpirationDate", date, "ProtectionEnabled",
                         until_ms > 0, "TaskArn", ecs_json_str(task, "taskArn", ""));
}

void api_agent_task_protection(struct api *api, const char *task_id, const struct api_request *req,
                               struct api_response *resp) {
        json_auto_t *task = NULL;
        struct err e = {0};
        if (!api_lifecycle(api) || rt_lifecycle_task(api_lifecycle(api), task_id, &task, NULL, &e) < 0) {
                agent_error(resp, 404, "", "ResourceNotFoundException", "No such task.");
                return;
        }
        const char *arn = ecs_json_str(task, "taskArn", "");
        struct ecs_arn parsed;
        if (ecs_arn_parse(arn, &parsed, &e) < 0) {
                agent_error(resp, 500, arn, "ServerException", "The task's ARN does not parse.");
                return;
        }
        bool put = strcmp(req->method, "PUT") == 0;
        if (!put && strcmp(req->method, "GET") != 0) {
                agent_error(resp, 405, arn, "InvalidRequest", "Use GET or PUT.");
                return;
        }
        const char *why = not_valid(task);
        if (why) {
                agent_respond(resp, 200,
                              json_pack("{s:{s:s, s:s, s:s}}", "failure", "Arn", arn, "Reason", "TASK_NOT_VALID",
                                        "Detail", why));
                return;
        }
        int64_t until = 0;
        if (put) {
                json_error_t jerr;
                json_auto_t *body = req->body_too_large ? NULL
                                                        : json_loadb(req->body ? req->body : "", req->body_len,
                                                                     JSON_REJECT_DUPLICATES, &jerr);
                const json_t *enabled = json_object_get(body, "ProtectionEnabled");
                if (!json_is_object(body) || !json_is_boolean(enabled)) {
                        agent_error(resp, 400, arn, "InvalidRequest",
                                    "The body must be a JSON object with a boolean ProtectionEnabled.");
                        return;
                }
                if (expiry_of(json_is_true(enabled), json_object_get(body, "ExpiresInMinutes"), &until, &e) < 0) {
                        agent_error(resp, 400, arn, "InvalidParameterException", e.msg);
                        return;
                }
                if (protection_set(api, parsed.region, task, until, &e) < 0) {
                        agent_error(resp, 500, arn, "ServerException", e.msg);
                        return;
                }
        } else if (protection_of(api, parsed.region, task_id, &until, &e) < 0) {
                agent_error(resp, 500, arn, "ServerException", e.msg);
                return;
        }
        agent_respond(resp, 200, agent_protection(task, until));
}
