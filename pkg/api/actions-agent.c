/* actions-agent.c — the calls the ECS agent makes: DiscoverPollEndpoint, SubmitTaskStateChange,
 * SubmitContainerStateChange, SubmitAttachmentStateChanges.
 *
 * ecsd is its own agent: it runs the tasks and learns their state from the engine. A report is therefore judged
 * against what the lifecycle knows (rt_lifecycle_report): one that agrees is acknowledged, a stop is applied (the
 * task is stopped through the lifecycle), anything else is refused with what ecsd sees. A call is checked whole
 * before anything is applied, so a refused call changes nothing. ecsd's tasks have no attachments, so every
 * attachment is unknown. The acknowledgment is "true". */
#include <string.h>

#include "api-internal.h"
#include "lifecycle.h"

#define ACK "true"
#define REASON_MAX 1024

static const char *const task_statuses[] = {"PROVISIONING", "PENDING",  "ACTIVATING",     "RUNNING",
                                            "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"};
static const char *const container_statuses[] = {"PENDING", "RUNNING", "STOPPED"};

static bool one_of(const char *s, const char *const *list, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(s, list[i]) == 0)
                        return true;
        return false;
}

/* The endpoint the agent would poll: ecsd itself, at the address the client used (it serves no agent WebSocket). */
int api_discover_poll_endpoint(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        const char *cluster_ref = ecs_json_str(in, "cluster", NULL);
        char cluster[ECS_NAME_MAX + 1];
        json_auto_t *cluster_doc = NULL;
        int r = api_cluster_active(call, cluster_ref, cluster, &cluster_doc, e);
        if (r < 0) {
                /* The model lists no ClusterNotFoundException for this call. */
                if (e->kind == ERR_KIND_CLUSTER_NOT_FOUND)
                        e->kind = ERR_KIND_CLIENT;
                return r;
        }
        const char *ci = ecs_json_str(in, "containerInstance", NULL);
        if (ci) {
                struct ecs_arn arn;
                bool ok = strncmp(ci, "arn:", 4) == 0
                                  ? ecs_arn_parse(ci, &arn, NULL) == 0 && strcmp(arn.type, "container-instance") == 0 &&
                                            strcmp(arn.region, call->region) == 0 &&
                                            strcmp(arn.account, call->account) == 0
                                  : strlen(ci) > 0 && strlen(ci) <= 64 &&
                                            strspn(ci, "0123456789abcdefABCDEF-") == strlen(ci);
                if (!ok)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid container instance '%.200s'.", ci);
        }
        const char *host = call->host && *call->host && strlen(call->host) < 256 ? call->host : "127.0.0.1:4566";
        char url[300];
        str_printf(url, sizeof(url), "http://%s/", host);
        *out = json_pack("{s:s, s:s, s:s}", "endpoint", url, "telemetryEndpoint", url, "serviceConnectEndpoint", url);
        return 0;
}

/* The task a report names, in the call's cluster: its id into `id` (72 bytes). */
static int report_task(struct api_call *call, const json_t *in, char *id, struct err *e) {
        char cluster[ECS_NAME_MAX + 1];
        json_auto_t *cluster_doc = NULL;
        int r = api_cluster_active(call, ecs_json_str(in, "cluster", NULL), cluster, &cluster_doc, e);
        if (r < 0)
                return r;
        const char *ref = ecs_json_str(in, "task", NULL);
        if (!ref || !*ref)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "task must be specified.");
        json_auto_t *doc = NULL;
        if (api_task_find(call, cluster, ref, &doc) < 0)
                return err_set(e, -ENOENT, ERR_KIND_INVALID, "The referenced task was not found.");
        const char *arn = ecs_json_str(doc, "taskArn", "");
        return str_printf(id, 72, "%s", strrchr(arn, '/') + 1);
}

static int reason_check(const json_t *obj, struct err *e) {
        const char *reason = ecs_json_str(obj, "reason", NULL);
        if (reason && strlen(reason) > REASON_MAX)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "reason must be at most %d characters.", REASON_MAX);
        return 0;
}

/* A container report ({containerName, status, runtimeId?, exitCode?, reason?}) as an rt_state_report, checked. */
static int container_report(const char *id, const json_t *c, struct rt_state_report *rep, struct err *e) {
        const char *name = ecs_json_str(c, "containerName", NULL);
        const char *status = ecs_json_str(c, "status", NULL);
        if (!name || !*name)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "containerName must be specified.");
        if (!status || !one_of(status, container_statuses, ARRAY_SIZE(container_statuses)))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Container status must be PENDING, RUNNING or STOPPED (container %.255s).", name);
        if (json_object_get(c, "exitCode") && strcmp(status, "STOPPED") != 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "exitCode is only reported for a STOPPED container.");
        int r = reason_check(c, e);
        if (r < 0)
                return r;
        *rep = (struct rt_state_report){.task_id = id, .container = name, .status = status,
                                        .runtime_id = ecs_json_str(c, "runtimeId", NULL),
                                        .reason = ecs_json_str(c, "reason", NULL)};
        return 0;
}

/* Attachments: ecsd's tasks have none. */
static int attachments_check(struct api_call *call, const json_t *list, struct err *e) {
        size_t i;
        const json_t *a;
        json_array_foreach(list, i, a) {
                const char *arn = ecs_json_str(a, "attachmentArn", "");
                struct ecs_arn parsed;
                if (ecs_arn_parse(arn, &parsed, NULL) < 0 || strcmp(parsed.type, "attachment") != 0 ||
                    strcmp(parsed.region, call->region) != 0 || strcmp(parsed.account, call->account) != 0)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid attachment ARN '%.200s'.", arn);
                return err_set(e, -ENOENT, ERR_KIND_INVALID,
                               "Attachment %.200s was not found: ecsd's tasks have no attachments.", arn);
        }
        return 0;
}

/* Judge every report, then (when all agree or can be applied) apply them in order. */
static int reports_submit(struct api_call *call, const struct rt_state_report *reps, size_t n, struct err *e) {
        struct rt_lifecycle *lc = api_lifecycle(call->api);
        for (size_t i = 0; i < n; i++) {
                int r = rt_lifecycle_report(lc, &reps[i], false, e);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < n; i++) {
                int r = rt_lifecycle_report(lc, &reps[i], true, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

#define REPORTS_MAX 64

int api_submit_task_state_change(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        char id[72];
        int r = report_task(call, in, id, e);
        if (r < 0)
                return r;
        const char *status = ecs_json_str(in, "status", NULL);
        if (status && !one_of(status, task_statuses, ARRAY_SIZE(task_statuses)))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid task status '%.64s'.", status);
        if ((r = reason_check(in, e)) < 0)
                return r;
        const json_t *containers = json_object_get(in, "containers");
        if (json_array_size(containers) >= REPORTS_MAX)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "At most %d container changes.", REPORTS_MAX - 1);
        size_t i;
        const json_t *x;
        json_array_foreach(json_object_get(in, "managedAgents"), i, x) {
                const char *st = ecs_json_str(x, "status", "");
                if (!one_of(st, container_statuses, ARRAY_SIZE(container_statuses)))
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid managed agent status '%.64s'.", st);
        }
        if ((r = attachments_check(call, json_object_get(in, "attachments"), e)) < 0)
                return r;
        struct rt_state_report reps[REPORTS_MAX];
        size_t n = 0;
        json_array_foreach(containers, i, x) {
                if ((r = container_report(id, x, &reps[n++], e)) < 0)
                        return r;
        }
        /* A managed agent is reported for a container of the task: the container must exist. */
        json_array_foreach(json_object_get(in, "managedAgents"), i, x) {
                struct rt_state_report probe = {.task_id = id, .container = ecs_json_str(x, "containerName", ""),
                                                .status = "STOPPED"};
                json_auto_t *doc = NULL;
                bool found = false;
                size_t k;
                const json_t *c;
                if (rt_task_get(call->store, id, &doc, NULL, e) < 0)
                        return err_set(e, -ENOENT, ERR_KIND_INVALID, "The referenced task was not found.");
                json_array_foreach(json_object_get(doc, "containers"), k, c) if (
                        strcmp(ecs_json_str(c, "name", ""), probe.container) == 0) found = true;
                if (!found)
                        return err_set(e, -ENOENT, ERR_KIND_INVALID, "Task %s has no container named %.255s.", id,
                                       probe.container);
        }
        if (status)
                reps[n++] = (struct rt_state_report){.task_id = id, .status = status,
                                                     .reason = ecs_json_str(in, "reason", NULL)};
        if ((r = reports_submit(call, reps, n, e)) < 0)
                return r;
        *out = json_pack("{s:s}", "acknowledgment", ACK);
        return 0;
}

int api_submit_container_state_change(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        char id[72];
        int r = report_task(call, in, id, e);
        if (r < 0)
                return r;
        struct rt_state_report rep;
        if ((r = container_report(id, in, &rep, e)) < 0)
                return r;
        if ((r = reports_submit(call, &rep, 1, e)) < 0)
                return r;
        *out = json_pack("{s:s}", "acknowledgment", ACK);
        return 0;
}

int api_submit_attachment_state_changes(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        char cluster[ECS_NAME_MAX + 1];
        json_auto_t *cluster_doc = NULL;
        int r = api_cluster_active(call, ecs_json_str(in, "cluster", NULL), cluster, &cluster_doc, e);
        if (r < 0)
                return r;
        if (json_array_size(json_object_get(in, "attachments")) == 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "attachments must not be empty.");
        if ((r = attachments_check(call, json_object_get(in, "attachments"), e)) < 0)
                return r;
        *out = json_pack("{s:s}", "acknowledgment", ACK);
        return 0;
}
