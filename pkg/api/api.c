/* api.c — the router: turns one HTTP request into one response. Operator endpoints under /_ecsd/, and the ECS API
 * on POST / dispatched by X-Amz-Target.
 *
 * Order of checks for an ECS call, each answering with an AWS error shape when it fails: method and path, body size,
 * target header and action name, JSON syntax (objects only, duplicate keys rejected), the input shape from the
 * botocore model (types, required members, enums; unknown members dropped), then the action's own rules. Nothing is
 * written to the store before all of these pass. Called concurrently from the HTTP server's threads: the only shared
 * mutable state is the set of regions already seen, which grows behind its own lock and is read without one (see
 * struct api), so no lock is taken by every call. */
#include "api-internal.h"

#include <string.h>
#include <time.h>

#include "instances.h"
#include "lifecycle.h"
#include "shape.h"

struct action {
        const char *name;
        api_action_fn fn;
};

static const struct action actions[] = {
        {"ContinueServiceDeployment", api_continue_service_deployment},
        {"CreateCapacityProvider", api_create_capacity_provider},
        {"CreateCluster", api_create_cluster},
        {"CreateDaemon", api_create_daemon},
        {"CreateExpressGatewayService", api_create_express_gateway_service},
        {"CreateService", api_create_service},
        {"CreateTaskSet", api_create_task_set},
        {"DeleteAttributes", api_delete_attributes},
        {"DeleteAccountSetting", api_delete_account_setting},
        {"DeleteCapacityProvider", api_delete_capacity_provider},
        {"DeleteCluster", api_delete_cluster},
        {"DeleteDaemon", api_delete_daemon},
        {"DeleteDaemonTaskDefinition", api_delete_daemon_task_definition},
        {"DeleteExpressGatewayService", api_delete_express_gateway_service},
        {"DeleteService", api_delete_service},
        {"DeleteTaskDefinitions", api_delete_task_definitions},
        {"DeleteTaskSet", api_delete_task_set},
        {"DeregisterContainerInstance", api_deregister_container_instance},
        {"DeregisterTaskDefinition", api_deregister_task_definition},
        {"DescribeCapacityProviders", api_describe_capacity_providers},
        {"DescribeClusters", api_describe_clusters},
        {"DescribeContainerInstances", api_describe_container_instances},
        {"DescribeDaemon", api_describe_daemon},
        {"DescribeDaemonDeployments", api_describe_daemon_deployments},
        {"DescribeDaemonRevisions", api_describe_daemon_revisions},
        {"DescribeDaemonTaskDefinition", api_describe_daemon_task_definition},
        {"DescribeExpressGatewayService", api_describe_express_gateway_service},
        {"DescribeServiceDeployments", api_describe_service_deployments},
        {"DescribeServiceRevisions", api_describe_service_revisions},
        {"DescribeServices", api_describe_services},
        {"DescribeTaskDefinition", api_describe_task_definition},
        {"DescribeTasks", api_describe_tasks},
        {"DescribeTaskSets", api_describe_task_sets},
        {"ListAttributes", api_list_attributes},
        {"GetTaskProtection", api_get_task_protection},
        {"ListAccountSettings", api_list_account_settings},
        {"DiscoverPollEndpoint", api_discover_poll_endpoint},
        {"ExecuteCommand", api_execute_command},
        {"ListClusters", api_list_clusters},
        {"ListContainerInstances", api_list_container_instances},
        {"ListDaemonDeployments", api_list_daemon_deployments},
        {"ListDaemonTaskDefinitions", api_list_daemon_task_definitions},
        {"ListDaemons", api_list_daemons},
        {"ListServiceDeployments", api_list_service_deployments},
        {"ListServices", api_list_services},
        {"ListServicesByNamespace", api_list_services_by_namespace},
        {"ListTagsForResource", api_list_tags_for_resource},
        {"ListTaskDefinitionFamilies", api_list_task_definition_families},
        {"ListTaskDefinitions", api_list_task_definitions},
        {"ListTasks", api_list_tasks},
        {"PutAttributes", api_put_attributes},
        {"RegisterContainerInstance", api_register_container_instance},
        {"RegisterDaemonTaskDefinition", api_register_daemon_task_definition},
        {"PutAccountSetting", api_put_account_setting},
        {"PutAccountSettingDefault", api_put_account_setting_default},
        {"PutClusterCapacityProviders", api_put_cluster_capacity_providers},
        {"RegisterTaskDefinition", api_register_task_definition},
        {"RunTask", api_run_task},
        {"StartTask", api_start_task},
        {"StopServiceDeployment", api_stop_service_deployment},
        {"StopTask", api_stop_task},
        {"SubmitAttachmentStateChanges", api_submit_attachment_state_changes},
        {"SubmitContainerStateChange", api_submit_container_state_change},
        {"SubmitTaskStateChange", api_submit_task_state_change},
        {"TagResource", api_tag_resource},
        {"UntagResource", api_untag_resource},
        {"UpdateContainerAgent", api_update_container_agent},
        {"UpdateDaemon", api_update_daemon},
        {"UpdateContainerInstancesState", api_update_container_instances_state},
        {"UpdateCapacityProvider", api_update_capacity_provider},
        {"UpdateCluster", api_update_cluster},
        {"UpdateClusterSettings", api_update_cluster_settings},
        {"UpdateExpressGatewayService", api_update_express_gateway_service},
        {"UpdateService", api_update_service},
        {"UpdateServicePrimaryTaskSet", api_update_service_primary_task_set},
        {"UpdateTaskProtection", api_update_task_protection},
        {"UpdateTaskSet", api_update_task_set},
};

size_t api_action_count(void) {
        return ARRAY_SIZE(actions);
}

const char *api_action_name(size_t i) {
        return i < ARRAY_SIZE(actions) ? actions[i].name : NULL;
}

static const struct action *action_find(const char *name) {
        for (size_t i = 0; i < ARRAY_SIZE(actions); i++)
                if (strcmp(actions[i].name, name) == 0)
                        return &actions[i];
        return NULL;
}

int api_new(const struct api_config *cfg, struct api **ret, struct err *e) {
        if (!ecs_region_valid(cfg->region))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "invalid region '%s'", cfg->region);
        size_t alen = strlen(cfg->account);
        if (alen == 0 || alen > ECS_ACCOUNT_MAX || strspn(cfg->account, "0123456789") != alen)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "invalid account id '%s': expected up to 12 digits",
                               cfg->account);
        struct api *api = xcalloc(1, sizeof(*api));
        memcpy(api->region, cfg->region, strlen(cfg->region) + 1);
        memcpy(api->account, cfg->account, alen + 1);
        api->store = cfg->store;
        api->metrics = api_metrics_new();
        api->task_credentials = cfg->task_credentials ? json_deep_copy(cfg->task_credentials) : NULL;
        api_attach_lifecycle(api, cfg->lifecycle);
        struct err ie = {0};
        if (rt_instances_new(&(struct rt_instances_config){.store = cfg->store}, &api->own_instances, &ie) < 0)
                abort();
        pthread_mutex_init(&api->regions_lock, NULL);
        pthread_rwlock_init(&api->clusters_lock, NULL);
        *ret = api;
        return 0;
}

void api_attach_lifecycle(struct api *api, struct rt_lifecycle *lc) {
        __atomic_store_n(&api->lifecycle, lc, __ATOMIC_RELEASE);
}

void api_attach_instances(struct api *api, struct rt_instances *in) {
        __atomic_store_n(&api->instances, in, __ATOMIC_RELEASE);
}

struct rt_instances *api_instances(struct api *api) {
        struct rt_instances *in = __atomic_load_n(&api->instances, __ATOMIC_ACQUIRE);
        return in ? in : api->own_instances;
}

void api_attach_scheduler(struct api *api, struct rt_scheduler *s) {
        __atomic_store_n(&api->scheduler, s, __ATOMIC_RELEASE);
}

void api_attach_express(struct api *api, struct rt_express *x) {
        __atomic_store_n(&api->express, x, __ATOMIC_RELEASE);
}

struct rt_express *api_express(struct api *api) {
        return __atomic_load_n(&api->express, __ATOMIC_ACQUIRE);
}

struct rt_scheduler *api_scheduler(struct api *api) {
        return __atomic_load_n(&api->scheduler, __ATOMIC_ACQUIRE);
}

struct rt_lifecycle *api_lifecycle(struct api *api) {
        return __atomic_load_n(&api->lifecycle, __ATOMIC_ACQUIRE);
}

void api_free(struct api *api) {
        if (!api)
                return;
        pthread_mutex_destroy(&api->regions_lock);
        pthread_rwlock_destroy(&api->clusters_lock);
        free(api->regions);
        json_decref(api->task_credentials);
        rt_instances_free(api->own_instances);
        api_metrics_free(api->metrics);
        free(api);
}

/* Make sure the region's "default" cluster exists; the store write happens once per region per process. */
static int region_ensure(struct api *api, const char *region, struct err *e) {
        size_t n_fast = __atomic_load_n(&api->n_fast, __ATOMIC_ACQUIRE);
        for (size_t i = 0; i < n_fast; i++)
                if (strcmp(api->fast_regions[i], region) == 0)
                        return 0;
        pthread_mutex_lock(&api->regions_lock);
        for (size_t i = 0; i < api->n_regions; i++)
                if (strcmp(api->regions[i], region) == 0) {
                        pthread_mutex_unlock(&api->regions_lock);
                        return 0;
                }
        json_auto_t *doc = api_cluster_doc_new(region, api->account, ECS_DEFAULT_CLUSTER);
        int r = rt_cluster_put_if_absent(api->store, region, ECS_DEFAULT_CLUSTER, doc, e);
        if (r >= 0) {
                api->regions = realloc(api->regions, (api->n_regions + 1) * sizeof(*api->regions));
                if (!api->regions)
                        abort();
                memcpy(api->regions[api->n_regions++], region, strlen(region) + 1);
                size_t n = api->n_fast; /* only written under regions_lock */
                if (n < API_REGIONS_FAST) {
                        memcpy(api->fast_regions[n], region, strlen(region) + 1);
                        __atomic_store_n(&api->n_fast, n + 1, __ATOMIC_RELEASE);
                }
        }
        pthread_mutex_unlock(&api->regions_lock);
        return r;
}

/* The region a SigV4 request was signed for: "Credential=AKID/DATE/REGION/SERVICE/aws4_request". Falls back to
 * the configured region when the header is absent or does not parse. */
static void region_from_authorization(const char *auth, const char *dflt, char *out) {
        const char *p = auth ? strstr(auth, "Credential=") : NULL;
        size_t n = strlen(dflt);
        const char *region = dflt;
        if (p) {
                p += strlen("Credential=");
                const char *s1 = strchr(p, '/');
                const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
                const char *s3 = s2 ? strchr(s2 + 1, '/') : NULL;
                if (s3 && s3 - s2 - 1 > 0 && s3 - s2 - 1 <= ECS_REGION_MAX) {
                        char candidate[ECS_REGION_MAX + 1];
                        memcpy(candidate, s2 + 1, (size_t) (s3 - s2 - 1));
                        candidate[s3 - s2 - 1] = '\0';
                        if (ecs_region_valid(candidate)) {
                                memcpy(out, candidate, strlen(candidate) + 1);
                                return;
                        }
                }
        }
        memcpy(out, region, n + 1);
}

void api_body_reserve(struct api_body *b, size_t n) {
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 1024;
                while (cap < b->len + n + 1)
                        cap *= 2;
                char *buf = realloc(b->buf, cap);
                if (!buf)
                        abort();
                b->buf = buf;
                b->cap = cap;
        }
}

void api_body_append(struct api_body *b, const char *text, size_t n) {
        api_body_reserve(b, n);
        memcpy(b->buf + b->len, text, n);
        b->len += n;
        b->buf[b->len] = '\0';
}

static int body_dump_cb(const char *text, size_t n, void *ud) {
        api_body_append(ud, text, n);
        return 0;
}

void api_body_append_json(struct api_body *b, const json_t *v) {
        if (json_dump_callback(v, body_dump_cb, b, JSON_COMPACT | JSON_ENCODE_ANY) < 0)
                abort(); /* only fails on out-of-memory */
}

void api_body_append_string(struct api_body *b, const char *s, size_t n) {
        /* Printable ASCII but the quote and the backslash is as it is in jansson's compact output. Checked eight
         * bytes at a time (ListTasks writes 100 ARNs per answer, and a byte loop was a sixth of its time): a word
         * has a byte below 0x20, at or above 0x7f, or equal to '"' or '\\' exactly when `bad` is not zero. */
        const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
        uint64_t bad = 0;
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
                uint64_t w;
                memcpy(&w, s + i, 8);
                uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\'), del = w ^ (ones * 0x7f);
                bad |= ((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs) | ((del - ones) & ~del) | w;
        }
        bad &= highs;
        for (; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                bad |= (uint64_t) (c < 0x20 || c > 0x7e || c == '"' || c == '\\');
        }
        bool plain = bad == 0;
        if (!plain) { /* anything else is written by jansson itself */
                json_auto_t *v = json_stringn(s, n);
                if (v)
                        api_body_append_json(b, v);
                else /* not UTF-8 (the store holds only text jansson wrote): nothing to show */
                        api_body_append(b, "\"\"", 2);
                return;
        }
        api_body_reserve(b, n + 2);
        b->buf[b->len++] = '"';
        memcpy(b->buf + b->len, s, n);
        b->len += n;
        b->buf[b->len++] = '"';
        b->buf[b->len] = '\0';
}

int api_arn_page_add(void *ctx, const char *key, const char *arn, size_t len) {
        struct api_arn_page *p = ctx;
        if (p->n == p->limit) { /* the row past the page: only tells that another page exists */
                p->more = true;
                return 0;
        }
        if (p->n++)
                api_body_append(&p->arns, ",", 1);
        api_body_append_string(&p->arns, arn, len);
        if (p->n == p->limit) /* the page's last: its key is the next token's, if another page exists */
                str_printf(p->last, sizeof(p->last), "%s", key);
        return 0;
}

void api_respond_json(struct api_response *resp, unsigned status, const char *content_type, const json_t *body) {
        resp->status = status;
        resp->content_type = content_type;
        resp->body = json_dumps(body, JSON_COMPACT);
        if (!resp->body)
                abort();
        resp->body_len = strlen(resp->body);
}

static void respond_error(struct api_response *resp, const struct err *e) {
        json_auto_t *body = ecs_error_body(e->kind, e->msg);
        api_respond_json(resp, ecs_error_http_status(e->kind), "application/x-amz-json-1.1", body);
}

static void handle_operator(struct api *api, const struct api_request *req, struct api_response *resp) {
        struct err e = {0};
        if (api_metadata_handle(api, req, resp))
                return;
        if (req->metadata_only) {
                json_auto_t *body = json_pack("{s:s, s:s}", "__type", "NotFound", "message", "No such endpoint.");
                api_respond_json(resp, 404, "application/json", body);
                return;
        }
        if (api_tasks_handle(api, req, resp))
                return;
        if (api_exec_handle(api, req, resp))
                return;
        if (api_metrics_handle(api, req, resp))
                return;
        if (strcmp(req->path, "/_ecsd/healthz") == 0) {
                json_auto_t *body = json_pack("{s:s}", "status", "ok");
                api_respond_json(resp, 200, "application/json", body);
                return;
        }
        if (strcmp(req->path, "/_ecsd/readyz") == 0) {
                /* Ready when the store answers a query. */
                json_auto_t *doc = NULL;
                int r = rt_cluster_get(api->store, api->region, ECS_DEFAULT_CLUSTER, &doc, &e);
                bool ready = r >= 0 || r == -ENOENT;
                json_auto_t *body = json_pack("{s:s}", "status", ready ? "ok" : "unavailable");
                api_respond_json(resp, ready ? 200 : 503, "application/json", body);
                return;
        }
        json_auto_t *body = json_pack("{s:s, s:s}", "__type", "NotFound", "message", "No such endpoint.");
        api_respond_json(resp, 404, "application/json", body);
}

/* Decode, check and dispatch one ECS call. Returns the handler's output or fails with `e`. */
static int handle_ecs(struct api *api, const struct api_request *req, struct api_call *call, const char **ret_action,
                      size_t *ret_index, json_t **out, struct err *e) {
        const char *region = call->region;
        if (strcmp(req->method, "POST") != 0)
                return err_set(e, -EINVAL, ERR_KIND_UNKNOWN_OPERATION,
                               "ecsd serves the ECS API only as POST / (AWS JSON 1.1); got %s.", req->method);
        if (req->body_too_large)
                return err_set(e, -E2BIG, ERR_KIND_TOO_LARGE, "Request body exceeds the %d byte limit.",
                               API_BODY_MAX_BYTES);
        const char *target = req->target;
        size_t plen = strlen(ECS_TARGET_PREFIX);
        if (!target || strncmp(target, ECS_TARGET_PREFIX, plen) != 0)
                return err_set(e, -EINVAL, ERR_KIND_UNKNOWN_OPERATION,
                               "Missing or foreign X-Amz-Target header: expected %s<Action>.", ECS_TARGET_PREFIX);
        const char *name = target + plen;
        const struct action *action = action_find(name);
        if (!action) {
                if (ecs_action_known(name))
                        return err_set(e, -ENOTSUP, ERR_KIND_UNKNOWN_OPERATION,
                                       "Operation %s is not implemented by ecsd yet.", name);
                return err_set(e, -EINVAL, ERR_KIND_UNKNOWN_OPERATION, "Unknown operation %.100s.", name);
        }
        *ret_action = action->name;
        *ret_index = (size_t) (action - actions);

        json_error_t jerr;
        json_auto_t *in = req->body_len == 0 ? json_object()
                                             : json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!in)
                return err_set(e, -EINVAL, ERR_KIND_SERIALIZATION, "Malformed JSON at line %d column %d: %s",
                               jerr.line, jerr.column, jerr.text);
        if (!json_is_object(in))
                return err_set(e, -EINVAL, ERR_KIND_SERIALIZATION, "The request body must be a JSON object.");
        const struct ecs_shape *shape = ecs_shape_input(action->name);
        ASSERT(shape);
        json_auto_t *checked = NULL;
        int r = ecs_shape_check(shape, in, &checked, e);
        if (r < 0)
                return r;
        r = region_ensure(api, region, e);
        if (r < 0)
                return r;
        if (!api_lifecycle(api) && (strcmp(action->name, "RunTask") == 0 || strcmp(action->name, "StartTask") == 0 ||
                                strcmp(action->name, "StopTask") == 0 || strcmp(action->name, "ExecuteCommand") == 0 ||
                                strcmp(action->name, "SubmitTaskStateChange") == 0 ||
                                strcmp(action->name, "SubmitContainerStateChange") == 0))
                return err_set(e, -ENOTSUP, ERR_KIND_INTERNAL, "ecsd runs without a backend; tasks cannot run.");
        return action->fn(call, checked, out, e);
}

static int64_t mono_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void api_handle(struct api *api, const struct api_request *req, struct api_response *resp) {
        *resp = (struct api_response){0};
        uuid_v4(resp->request_id);
        if (req->credentials_only) {
                /* The credentials listener answers the credentials path and nothing else. */
                if (!api_credentials_handle(api, req, resp)) {
                        json_auto_t *body = json_pack("{s:s, s:s}", "__type", "NotFound", "message",
                                                      "No such endpoint.");
                        api_respond_json(resp, 404, "application/json", body);
                }
                return;
        }
        if (strncmp(req->path, "/_ecsd/", 7) == 0 || req->metadata_only) {
                handle_operator(api, req, resp);
                return;
        }
        if (strcmp(req->path, "/") != 0) {
                json_auto_t *body = json_pack("{s:s, s:s}", "__type", "UnknownOperationException", "message",
                                              "ecsd serves the ECS API on POST /.");
                api_respond_json(resp, 404, "application/x-amz-json-1.1", body);
                return;
        }
        char region[ECS_REGION_MAX + 1];
        region_from_authorization(req->authorization, api->region, region);
        int64_t start = time_mono_ms(), start_us = mono_us();
        const char *action = "-";
        size_t action_index = ARRAY_SIZE(actions);
        struct err e = {0};
        json_auto_t *out = NULL;
        struct api_call call = {.api = api, .region = region, .account = api->account, .store = api->store,
                                .host = req->host};
        int r = handle_ecs(api, req, &call, &action, &action_index, &out, &e);
        if (r < 0) {
                respond_error(resp, &e);
                if (e.kind == ERR_KIND_INTERNAL)
                        log_error("api", "\"request failed\" action=%s region=%s error=\"%s\"", action, region, e.msg);
        } else if (!out && call.body.buf) {
                resp->status = 200;
                resp->content_type = "application/x-amz-json-1.1";
                resp->body = TAKE_PTR(call.body.buf);
                resp->body_len = call.body.len;
        } else
                api_respond_json(resp, 200, "application/x-amz-json-1.1", out);
        free(call.body.buf);
        api_metrics_observe(api->metrics, action_index, r < 0 ? e.kind : -1, mono_us() - start_us);
        log_debug("api", "\"request\" action=%s region=%s status=%u duration_ms=%lld request_id=%s", action, region,
                  resp->status, (long long) (time_mono_ms() - start), resp->request_id);
}

void api_response_release(struct api_response *resp) {
        free(resp->body);
        resp->body = NULL;
        rt_follow_free(resp->stream);
        resp->stream = NULL;
}

/* ---- helpers shared by the handlers ---- */

int api_tags_validate(const json_t *tags, struct err *e) {
        if (json_array_size(tags) > 50)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "A resource can have at most 50 tags.");
        size_t i;
        const json_t *tag;
        json_array_foreach(tags, i, tag) {
                const char *key = ecs_json_str(tag, "key", NULL);
                const char *value = ecs_json_str(tag, "value", "");
                if (!key || strlen(key) < 1 || strlen(key) > 128)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "Tag keys must be 1 to 128 characters long.");
                if (strlen(value) > 256)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "Tag values must be at most 256 characters long (key '%.128s').", key);
                if (strncasecmp(key, "aws:", 4) == 0)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "Tag keys must not start with 'aws:', which is reserved for AWS use.");
        }
        return 0;
}

int api_doc_attach_tags(struct api_call *call, json_t *doc, const char *arn_key, struct err *e) {
        json_t *tags = NULL;
        int r = rt_tags_get(call->store, ecs_json_str(doc, arn_key, ""), &tags, e);
        if (r < 0)
                return r;
        json_object_set_new(doc, "tags", tags);
        return 0;
}

json_t *api_arn_page(const json_t *docs, int limit, const char *out_key, const char *arn_key, const char *token_kind,
                     const char *name_key) {
        json_t *arns = json_array();
        size_t i;
        const json_t *doc;
        json_array_foreach(docs, i, doc) {
                if (i == (size_t) limit)
                        break;
                json_array_append_new(arns, json_string(ecs_json_str(doc, arn_key, "")));
        }
        json_t *out = json_pack("{s:o}", out_key, arns);
        if (json_array_size(docs) > (size_t) limit) {
                char next[ECS_PAGE_TOKEN_MAX];
                const json_t *last = json_array_get(docs, (size_t) limit - 1);
                int r = ecs_page_token_encode(token_kind, ecs_json_str(last, name_key, ""), next, sizeof(next));
                ASSERT(r >= 0);
                json_object_set_new(out, "nextToken", json_string(next));
        }
        return out;
}
