/* actions-exec.c — ExecuteCommand, and the operator endpoints of exec sessions that `ecsd exec` talks to:
 *   POST /_ecsd/exec                  {"task", "cluster"?, "container"?, "command": [argv]}: open an attached session
 *   GET  /_ecsd/exec/<id>/output      the command's output (attached: starts it and streams it; detached: so far)
 *   GET  /_ecsd/exec/<id>[?wait=S]    the session's status and exit code, after waiting up to S seconds for its end
 *
 * ExecuteCommand checks the request as ECS does (interactive is the only mode; the task must have been run with
 * enableExecuteCommand and be RUNNING; the container must exist and run) and runs the command at once, without a
 * shell, keeping its output for the session's streamUrl. ECS hands the session to the Session Manager plugin, which
 * speaks the SSM data-channel protocol over a WebSocket; ecsd does not serve that protocol (docs/api.md), so the
 * streamUrl is ecsd's own output endpoint. The operator endpoints have no credentials, like the rest of /_ecsd/;
 * `ecsd exec` does not need enableExecuteCommand, as `docker exec` needs nothing of the container either. */
#include <string.h>

#include "api-internal.h"
#include "exec.h"
#include "lifecycle.h"

/* ECS's sentences (what the AWS CLI prints for these refusals). */
#define MSG_NOT_INTERACTIVE "Interactive is the only mode supported currently."
#define MSG_NOT_ENABLED                                                                                                \
        "The execute command failed because execute command was not enabled when the task was run or the execute "   \
        "command agent isn't running. Wait and try again or run a new task with execute command enabled and try "    \
        "again."
/* Longest ?wait= an operator request may ask for. */
#define EXEC_WAIT_MAX_S 60

/* Split ExecuteCommand's command string into arguments: blanks separate them; single quotes keep everything up to
 * the next one; double quotes keep everything but a backslash escape of " or \; a backslash outside quotes keeps
 * the next character. No expansion of any kind: the command runs without a shell, as on ECS. */
static int command_split(const char *s, json_t **ret, struct err *e) {
        json_auto_t *argv = json_array();
        size_t n = strlen(s);
        _cleanup_free_ char *word = xmalloc(n + 1);
        size_t w = 0;
        bool in_word = false;
        for (size_t i = 0; i < n; i++) {
                char ch = s[i];
                if (ch == ' ' || ch == '\t' || ch == '\n') {
                        if (in_word)
                                json_array_append_new(argv, json_stringn(word, w));
                        in_word = false;
                        w = 0;
                        continue;
                }
                in_word = true;
                if (ch == '\'') {
                        const char *end = strchr(s + i + 1, '\'');
                        if (!end)
                                return err_set(e, -EINVAL, ERR_KIND_INVALID, "The command has an unclosed quote.");
                        memcpy(word + w, s + i + 1, (size_t) (end - s - (ptrdiff_t) i - 1));
                        w += (size_t) (end - s - (ptrdiff_t) i - 1);
                        i = (size_t) (end - s);
                } else if (ch == '"') {
                        size_t j = i + 1;
                        for (; j < n && s[j] != '"'; j++) {
                                if (s[j] == '\\' && j + 1 < n && (s[j + 1] == '"' || s[j + 1] == '\\'))
                                        j++;
                                word[w++] = s[j];
                        }
                        if (j >= n)
                                return err_set(e, -EINVAL, ERR_KIND_INVALID, "The command has an unclosed quote.");
                        i = j;
                } else if (ch == '\\' && i + 1 < n) {
                        word[w++] = s[++i];
                } else
                        word[w++] = ch;
        }
        if (in_word)
                json_array_append_new(argv, json_stringn(word, w));
        /* A string jansson refused (invalid UTF-8 cannot reach here: the request body was decoded as JSON). */
        if (json_array_size(argv) == 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "The command must not be empty.");
        *ret = TAKE_PTR(argv);
        return 0;
}

/* The URL the session's output is read at: the address the client used to reach ecsd. */
static void stream_url(const char *host, const char *id, char *out, size_t size) {
        str_printf(out, size, "http://%s/_ecsd/exec/%s/output", host && *host && strlen(host) < 256 ? host
                                                                                                    : "127.0.0.1:4566",
                   id);
}

int api_execute_command(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        char cluster[ECS_NAME_MAX + 1];
        json_auto_t *cluster_doc = NULL;
        int r = api_cluster_active(call, ecs_json_str(in, "cluster", NULL), cluster, &cluster_doc, e);
        if (r < 0)
                return r;
        if (!json_is_true(json_object_get(in, "interactive")))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, MSG_NOT_INTERACTIVE);
        json_auto_t *task = NULL;
        if (api_task_find(call, cluster, ecs_json_str(in, "task", ""), &task) < 0)
                return err_set(e, -ENOENT, ERR_KIND_INVALID, "The referenced task was not found.");
        if (!json_is_true(json_object_get(task, "enableExecuteCommand")))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, MSG_NOT_ENABLED);
        json_auto_t *argv = NULL;
        if ((r = command_split(ecs_json_str(in, "command", ""), &argv, e)) < 0)
                return r;
        const char *arn = ecs_json_str(task, "taskArn", "");
        struct rt_exec_request req = {.task_id = strrchr(arn, '/') + 1,
                                      .container = ecs_json_str(in, "container", NULL),
                                      .command = argv};
        json_auto_t *session = NULL;
        if ((r = rt_exec_start(api_lifecycle(call->api), &req, &session, e)) < 0)
                return r;
        char url[512];
        stream_url(call->host, ecs_json_str(session, "sessionId", ""), url, sizeof(url));
        *out = json_pack("{s:s, s:s, s:s, s:b, s:{s:s, s:s, s:s}, s:s}", "clusterArn",
                         ecs_json_str(session, "clusterArn", ""), "containerArn",
                         ecs_json_str(session, "containerArn", ""), "containerName",
                         ecs_json_str(session, "containerName", ""), "interactive", 1, "session", "sessionId",
                         ecs_json_str(session, "sessionId", ""), "streamUrl", url, "tokenValue",
                         ecs_json_str(session, "tokenValue", ""), "taskArn", arn);
        return 0;
}

void api_exec_agents(json_t *task) {
        if (!json_is_true(json_object_get(task, "enableExecuteCommand")))
                return;
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(task, "containers"), i, c) {
                /* The agent runs while its container runs: ecsd's exec needs nothing in the container but the
                 * container itself. */
                const char *status = ecs_json_str(c, "lastStatus", "PENDING");
                const char *agent = strcmp(status, "RUNNING") == 0   ? "RUNNING"
                                    : strcmp(status, "STOPPED") == 0 ? "STOPPED"
                                                                     : "PENDING";
                json_t *a = json_pack("{s:s, s:s}", "name", "ExecuteCommandAgent", "lastStatus", agent);
                const json_t *started = json_object_get(task, "startedAt");
                if (strcmp(agent, "PENDING") != 0 && started)
                        json_object_set_new(a, "lastStartedAt", json_deep_copy(started));
                json_object_set_new(c, "managedAgents", json_pack("[o]", a));
        }
}

/* ---- operator endpoints ---- */

static void respond_error(struct api_response *resp, const struct err *e) {
        unsigned status = 400;
        if (e->code == -ENOENT)
                status = 404;
        else if (e->code == -EBUSY || e->code == -EALREADY)
                status = 409;
        else if (e->kind == ERR_KIND_INTERNAL)
                status = 500;
        else if (e->kind == ERR_KIND_TARGET_NOT_CONNECTED)
                status = 503;
        json_auto_t *body = ecs_error_body(e->kind, e->msg);
        api_respond_json(resp, status, "application/json", body);
}

/* POST /_ecsd/exec: check the task and open an attached session; the command starts when its output is read. */
static void exec_open(struct api *api, const struct api_request *req, struct api_response *resp) {
        struct err e = {0};
        json_error_t jerr;
        json_auto_t *in = req->body_too_large ? NULL : json_loadb(req->body ? req->body : "", req->body_len,
                                                                  JSON_REJECT_DUPLICATES, &jerr);
        const char *ref = ecs_json_str(in, "task", NULL);
        const char *cluster = ecs_json_str(in, "cluster", NULL);
        const json_t *container = json_object_get(in, "container");
        if (!json_is_object(in) || !ref || !json_is_array(json_object_get(in, "command")) ||
            (container && !json_is_string(container)) || (json_object_get(in, "cluster") && !cluster)) {
                err_set(&e, -EINVAL, ERR_KIND_INVALID,
                        "Expected a JSON object {\"task\": ID or ARN, \"cluster\"?: NAME, \"container\"?: NAME, "
                        "\"command\": [ARGUMENTS]}.");
                respond_error(resp, &e);
                return;
        }
        /* A task ARN names its task's id last; the id is unique in the store across regions and clusters. */
        const char *id = strrchr(ref, '/') ? strrchr(ref, '/') + 1 : ref;
        json_auto_t *doc = NULL;
        size_t idlen = strlen(id);
        if (idlen == 0 || idlen > 64 || strspn(id, "0123456789abcdefABCDEF-") != idlen ||
            rt_task_get(api->store, id, &doc, NULL, &e) < 0) {
                err_set(&e, -ENOENT, ERR_KIND_INVALID, "The referenced task was not found.");
                respond_error(resp, &e);
                return;
        }
        if (cluster) {
                const char *carn = ecs_json_str(doc, "clusterArn", "");
                const char *cname = strrchr(carn, '/') ? strrchr(carn, '/') + 1 : carn;
                if (strcmp(cname, cluster) != 0 && strcmp(carn, cluster) != 0) {
                        err_set(&e, -ENOENT, ERR_KIND_INVALID, "The referenced task was not found in cluster %.255s.",
                                cluster);
                        respond_error(resp, &e);
                        return;
                }
        }
        struct rt_exec_request er = {.task_id = id,
                                     .container = container ? json_string_value(container) : NULL,
                                     .command = json_object_get(in, "command"),
                                     .attach = true};
        json_auto_t *session = NULL;
        if (rt_exec_start(api_lifecycle(api), &er, &session, &e) < 0) {
                if (e.kind == ERR_KIND_INTERNAL)
                        log_error("api", "\"cannot open an exec session\" task=%s error=\"%s\"", id, e.msg);
                respond_error(resp, &e);
                return;
        }
        json_object_del(session, "tokenValue");
        api_respond_json(resp, 200, "application/json", session);
}

bool api_exec_handle(struct api *api, const struct api_request *req, struct api_response *resp) {
        const char *prefix = "/_ecsd/exec";
        size_t plen = strlen(prefix);
        if (strncmp(req->path, prefix, plen) != 0 || (req->path[plen] != '\0' && req->path[plen] != '/'))
                return false;
        struct err e = {0};
        if (!api_lifecycle(api)) {
                err_set(&e, -ENOENT, ERR_KIND_NOT_FOUND, "No backend runs tasks here.");
                respond_error(resp, &e);
                return true;
        }
        const char *rest = req->path + plen;
        if (*rest == '\0' || strcmp(rest, "/") == 0) {
                if (strcmp(req->method, "POST") != 0) {
                        err_set(&e, -ENOENT, ERR_KIND_NOT_FOUND, "Use POST /_ecsd/exec.");
                        respond_error(resp, &e);
                        return true;
                }
                exec_open(api, req, resp);
                return true;
        }
        char id[64];
        rest++;
        size_t n = strcspn(rest, "/");
        const char *tail = rest + n;
        if (n == 0 || n >= sizeof(id) || strcmp(req->method, "GET") != 0 ||
            (*tail && strcmp(tail, "/output") != 0)) {
                err_set(&e, -ENOENT, ERR_KIND_NOT_FOUND, "Expected GET /_ecsd/exec/<session>[/output].");
                respond_error(resp, &e);
                return true;
        }
        memcpy(id, rest, n);
        id[n] = '\0';
        if (*tail) {
                struct rt_follow *f = NULL;
                if (rt_exec_follow(api_lifecycle(api), id, &f, &e) < 0) {
                        if (e.kind == ERR_KIND_INTERNAL)
                                log_error("api", "\"cannot run an exec command\" session=%s error=\"%s\"", id, e.msg);
                        respond_error(resp, &e);
                        return true;
                }
                resp->status = 200;
                resp->content_type = "application/octet-stream";
                resp->stream = f;
                return true;
        }
        const char *wait = req->query ? req->query(req->query_ctx, "wait") : NULL;
        int64_t wait_s = 0;
        if (wait && parse_int64(wait, 0, EXEC_WAIT_MAX_S, &wait_s) < 0) {
                err_set(&e, -EINVAL, ERR_KIND_INVALID, "wait must be a number of seconds from 0 to %d.",
                        EXEC_WAIT_MAX_S);
                respond_error(resp, &e);
                return true;
        }
        json_auto_t *body = NULL;
        if (rt_exec_describe(api_lifecycle(api), id, wait_s * 1000, &body, &e) < 0) {
                respond_error(resp, &e);
                return true;
        }
        api_respond_json(resp, 200, "application/json", body);
        return true;
}
