/* actions-daemon.c — the twelve daemon operations: RegisterDaemonTaskDefinition, DescribeDaemonTaskDefinition,
 * ListDaemonTaskDefinitions, DeleteDaemonTaskDefinition, CreateDaemon, UpdateDaemon, DeleteDaemon, DescribeDaemon,
 * ListDaemons, ListDaemonDeployments, DescribeDaemonDeployments, DescribeDaemonRevisions (docs/internals/daemons.md).
 *
 * Daemon task definitions are records of kind "daemon-taskdef" keyed FAMILY:REVISION (10 digits), checked by the
 * task definition rules (taskdef-validate.h) where their members are those of a task definition; revisions come from
 * a per-family counter record, taken under `taskdef_lock` so two registrations never share one. A deleted definition
 * is DELETE_IN_PROGRESS while a daemon still runs it and DELETED after (decided when it is read). The daemons
 * themselves live in pkg/runtime/daemons.c, driven by the scheduler's thread; this file checks input, resolves ARNs
 * and shapes the answers. Bad input changes nothing: every check runs before the first write. */
#include <inttypes.h>
#include <pthread.h>
#include <string.h>

#include "api-internal.h"
#include "daemons.h"
#include "scheduler.h"
#include "taskdef-validate.h"

#define DESCRIBE_MAX 20
#define LIST_MAX 100
#define RECORD_PAGE 500

static pthread_mutex_t taskdef_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- daemon task definitions ---- */

static void taskdef_key(char *buf, size_t size, const char *family, int64_t rev) {
        str_printf(buf, size, "%s:%010" PRId64, family, rev);
}

/* Every record of `kind` in the call's region, in key order. New array of {"key","doc"}. */
static int records_all(struct api_call *call, const char *kind, json_t **ret, struct err *e) {
        json_auto_t *all = json_array();
        char after[ECS_PAGE_KEY_MAX] = "";
        for (;;) {
                json_auto_t *page = NULL;
                int r = rt_record_list(call->store, call->region, kind, after, RECORD_PAGE, &page, e);
                if (r < 0)
                        return r;
                json_array_extend(all, page);
                if (json_array_size(page) < RECORD_PAGE)
                        break;
                str_printf(after, sizeof(after), "%s", ecs_json_str(json_array_get(page, RECORD_PAGE - 1), "key", ""));
        }
        *ret = json_incref(all);
        return 0;
}

/* One page of a listing: `picked` holds the listed records ({"key","doc"}) in the listing's order, keys ascending or,
 * with `desc`, descending. The records past the token's key `after` ("" for the first page), at most `limit`, go into
 * `list` as summary(doc); when more remain, `out` gets the nextToken (of `token_kind`) of the last one listed. */
static void records_page(const json_t *picked, const char *after, bool desc, int limit, const char *token_kind,
                         json_t *(*summary)(const json_t *doc), json_t *list, json_t *out) {
        const char *last = NULL;
        size_t i;
        const json_t *rec;
        json_array_foreach(picked, i, rec) {
                const char *key = ecs_json_str(rec, "key", "");
                if (after[0] && (desc ? strcmp(key, after) >= 0 : strcmp(key, after) <= 0))
                        continue;
                if (json_array_size(list) == (size_t) limit) {
                        char next[ECS_PAGE_TOKEN_MAX];
                        if (last && ecs_page_token_encode(token_kind, last, next, sizeof(next)) == 0)
                                json_object_set_new(out, "nextToken", json_string(next));
                        return;
                }
                json_array_append_new(list, summary(json_object_get(rec, "doc")));
                last = key;
        }
}

/* Resolve FAMILY, FAMILY:REV or a daemon-task-definition ARN of this region and account. *rev 0: none given. */
static int taskdef_ref(struct api_call *call, const char *ref, char *family, int64_t *rev, struct err *e) {
        const char *res = ref;
        if (strncmp(ref, "arn:", 4) == 0) {
                struct ecs_arn arn;
                if (ecs_arn_parse(ref, &arn, NULL) < 0 || !str_eq(arn.type, "daemon-task-definition"))
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid daemon task definition ARN: %.200s",
                                       ref);
                if (!str_eq(arn.region, call->region) || !str_eq(arn.account, call->account))
                        return err_set(e, -ENOENT, ERR_KIND_CLIENT, "Unable to find daemon task definition %.200s.",
                                       ref);
                res = strchr(ref, '/') + 1;
        }
        const char *colon = strrchr(res, ':');
        size_t flen = colon ? (size_t) (colon - res) : strlen(res);
        *rev = 0;
        if (colon && parse_int64(colon + 1, 1, 1000000000, rev) < 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid revision in '%.200s'.", ref);
        if (flen == 0 || flen > ECS_NAME_MAX)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid daemon task definition family in '%.200s'.", ref);
        memcpy(family, res, flen);
        family[flen] = '\0';
        if (!ecs_name_valid(family))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid daemon task definition family in '%.200s'.", ref);
        return 0;
}

/* DELETE_IN_PROGRESS becomes DELETED once no daemon runs the definition. */
static void taskdef_settle(struct api_call *call, const char *key, json_t *doc) {
        if (!str_eq(ecs_json_str(doc, "status", ""), "DELETE_IN_PROGRESS") ||
            rt_daemons_use_taskdef(call->store, call->region, ecs_json_str(doc, "daemonTaskDefinitionArn", "")))
                return;
        json_object_set_new(doc, "status", json_string("DELETED"));
        struct err e = {0};
        if (rt_record_put(call->store, call->region, RT_DAEMON_TASKDEF_KIND, key, doc, &e) < 0)
                log_warn("api", "\"cannot save a daemon task definition\" error=\"%s\"", e.msg);
}

/* The definition `ref` names: the revision given, or the family's latest ACTIVE one. */
static int taskdef_find(struct api_call *call, const char *ref, bool need_revision, json_t **ret, char *ret_key,
                        size_t key_size, struct err *e) {
        char family[ECS_NAME_MAX + 1];
        int64_t rev;
        int r = taskdef_ref(call, ref, family, &rev, e);
        if (r < 0)
                return r;
        if (need_revision && rev == 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "The daemon task definition must be given as family:revision or as an ARN.");
        char key[ECS_NAME_MAX + 16];
        json_auto_t *doc = NULL;
        if (rev) {
                taskdef_key(key, sizeof(key), family, rev);
                struct err ignored = {0};
                if (rt_record_get(call->store, call->region, RT_DAEMON_TASKDEF_KIND, key, &doc, &ignored) < 0)
                        return err_set(e, -ENOENT, ERR_KIND_CLIENT, "Unable to find daemon task definition %.200s.",
                                       ref);
        } else {
                char after[ECS_NAME_MAX + 2];
                str_printf(after, sizeof(after), "%s:", family);
                /* A family's keys follow "FAMILY:" and are contiguous (newest last): read only them. */
                char cursor[ECS_PAGE_KEY_MAX];
                str_printf(cursor, sizeof(cursor), "%s", after);
                for (bool more = true; more;) {
                        json_auto_t *page = NULL;
                        if ((r = rt_record_list(call->store, call->region, RT_DAEMON_TASKDEF_KIND, cursor,
                                                RECORD_PAGE, &page, e)) < 0)
                                return r;
                        more = json_array_size(page) == RECORD_PAGE;
                        size_t i;
                        const json_t *rec;
                        json_array_foreach(page, i, rec) {
                                const char *k = ecs_json_str(rec, "key", "");
                                if (strncmp(k, after, strlen(after)) != 0) {
                                        more = false;
                                        break;
                                }
                                const json_t *d = json_object_get(rec, "doc");
                                if (str_eq(ecs_json_str(d, "status", ""), "ACTIVE")) {
                                        json_decref(doc);
                                        doc = json_deep_copy(d);
                                        str_printf(key, sizeof(key), "%s", k);
                                }
                                str_printf(cursor, sizeof(cursor), "%s", k);
                        }
                }
                if (!doc)
                        return err_set(e, -ENOENT, ERR_KIND_CLIENT, "Unable to find daemon task definition %.200s.",
                                       ref);
        }
        taskdef_settle(call, key, doc);
        if (ret_key)
                str_printf(ret_key, key_size, "%s", key);
        *ret = TAKE_PTR(doc);
        return 0;
}

int api_register_daemon_task_definition(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        int r = ecs_taskdef_validate(in, e);
        if (r < 0)
                return r;
        const json_t *tags = json_object_get(in, "tags");
        if ((r = api_tags_validate(tags, e)) < 0)
                return r;
        json_auto_t *doc = json_deep_copy(in);
        json_object_del(doc, "tags");
        /* ECS keeps task-level sizes as integer strings ("1 vCPU" becomes "1024"). */
        int64_t n;
        char buf[32];
        if (json_object_get(doc, "cpu") && ecs_taskdef_cpu_parse(ecs_json_str(doc, "cpu", ""), &n) == 0 &&
            str_printf(buf, sizeof(buf), "%" PRId64, n) >= 0)
                json_object_set_new(doc, "cpu", json_string(buf));
        if (json_object_get(doc, "memory") && ecs_taskdef_memory_parse(ecs_json_str(doc, "memory", ""), &n) == 0 &&
            str_printf(buf, sizeof(buf), "%" PRId64, n) >= 0)
                json_object_set_new(doc, "memory", json_string(buf));
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(doc, "containerDefinitions"), i, c) {
                if (!json_object_get(c, "essential"))
                        json_object_set_new(c, "essential", json_true());
        }
        const char *family = ecs_json_str(in, "family", "");
        char by[64];
        str_printf(by, sizeof(by), "arn:aws:iam::%s:root", call->account);

        pthread_mutex_lock(&taskdef_lock);
        json_auto_t *counter = NULL;
        struct err ignored = {0};
        int64_t last = 0;
        if (rt_record_get(call->store, call->region, RT_DAEMON_TASKDEF_FAMILY_KIND, family, &counter, &ignored) == 0)
                last = ecs_json_int_or(counter, "last", 0);
        int64_t rev = last + 1;
        char res[ECS_NAME_MAX + 24], arn[ECS_ARN_MAX], key[ECS_NAME_MAX + 16];
        str_printf(res, sizeof(res), "%s:%" PRId64, family, rev);
        ecs_arn_format(arn, sizeof(arn), call->region, call->account, "daemon-task-definition", res);
        taskdef_key(key, sizeof(key), family, rev);
        json_object_set_new(doc, "daemonTaskDefinitionArn", json_string(arn));
        json_object_set_new(doc, "revision", json_integer(rev));
        json_object_set_new(doc, "status", json_string("ACTIVE"));
        json_object_set_new(doc, "registeredAt", ecs_timestamp_now());
        json_object_set_new(doc, "registeredBy", json_string(by));
        json_auto_t *next = json_pack("{s:I}", "last", (json_int_t) rev);
        r = rt_record_put(call->store, call->region, RT_DAEMON_TASKDEF_KIND, key, doc, e);
        if (r == 0)
                r = rt_record_put(call->store, call->region, RT_DAEMON_TASKDEF_FAMILY_KIND, family, next, e);
        if (r == 0 && json_array_size(tags))
                r = rt_tags_put(call->store, arn, tags, e);
        pthread_mutex_unlock(&taskdef_lock);
        if (r < 0)
                return r;
        *out = json_pack("{s:s}", "daemonTaskDefinitionArn", arn);
        return 0;
}

int api_describe_daemon_task_definition(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        json_auto_t *doc = NULL;
        int r = taskdef_find(call, ecs_json_str(in, "daemonTaskDefinition", ""), false, &doc, NULL, 0, e);
        if (r < 0)
                return r;
        *out = json_pack("{s:O}", "daemonTaskDefinition", doc);
        return 0;
}

int api_delete_daemon_task_definition(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        json_auto_t *doc = NULL;
        char key[ECS_NAME_MAX + 16];
        pthread_mutex_lock(&taskdef_lock);
        int r = taskdef_find(call, ecs_json_str(in, "daemonTaskDefinition", ""), true, &doc, key, sizeof(key), e);
        if (r == 0 && !str_eq(ecs_json_str(doc, "status", ""), "ACTIVE"))
                r = err_set(e, -EBUSY, ERR_KIND_CLIENT, "The daemon task definition %s is not ACTIVE.",
                            ecs_json_str(doc, "daemonTaskDefinitionArn", ""));
        if (r == 0) {
                json_object_set_new(doc, "status", json_string("DELETE_IN_PROGRESS"));
                json_object_set_new(doc, "deleteRequestedAt", ecs_timestamp_now());
                r = rt_record_put(call->store, call->region, RT_DAEMON_TASKDEF_KIND, key, doc, e);
        }
        pthread_mutex_unlock(&taskdef_lock);
        if (r < 0)
                return r;
        *out = json_pack("{s:s}", "daemonTaskDefinitionArn", ecs_json_str(doc, "daemonTaskDefinitionArn", ""));
        return 0;
}

static json_t *taskdef_summary(const json_t *doc) {
        json_t *sum = json_pack("{s:s, s:O, s:s, s:s}", "arn", ecs_json_str(doc, "daemonTaskDefinitionArn", ""),
                                "registeredAt", json_object_get(doc, "registeredAt"), "registeredBy",
                                ecs_json_str(doc, "registeredBy", ""), "status", ecs_json_str(doc, "status", ""));
        if (json_object_get(doc, "deleteRequestedAt"))
                json_object_set(sum, "deleteRequestedAt", json_object_get(doc, "deleteRequestedAt"));
        return sum;
}

int api_list_daemon_task_definitions(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        int limit;
        int r = ecs_page_max_results(in, LIST_MAX, LIST_MAX, &limit, e);
        if (r < 0)
                return r;
        const char *family = ecs_json_str(in, "family", NULL), *prefix = ecs_json_str(in, "familyPrefix", NULL);
        const char *status = ecs_json_str(in, "status", "ACTIVE");
        bool last_only = str_eq(ecs_json_str(in, "revision", ""), "LAST_REGISTERED");
        bool desc = str_eq(ecs_json_str(in, "sort", "ASC"), "DESC");
        char after[ECS_PAGE_KEY_MAX] = "";
        const char *token = ecs_json_str(in, "nextToken", NULL);
        if (token && (r = ecs_page_token_decode("daemon-task-definitions", token, after, e)) < 0)
                return r;
        json_auto_t *all = NULL;
        if ((r = records_all(call, RT_DAEMON_TASKDEF_KIND, &all, e)) < 0)
                return r;
        json_auto_t *picked = json_array(); /* {"key","doc"} in key order */
        size_t i;
        json_t *rec;
        json_array_foreach(all, i, rec) {
                const char *key = ecs_json_str(rec, "key", "");
                json_t *doc = json_object_get(rec, "doc");
                const char *f = ecs_json_str(doc, "family", "");
                if ((family && !str_eq(f, family)) || (prefix && strncmp(f, prefix, strlen(prefix)) != 0))
                        continue;
                taskdef_settle(call, key, doc);
                const char *st = ecs_json_str(doc, "status", "");
                if (!str_eq(status, "ALL") && !str_eq(st, status))
                        continue;
                /* LAST_REGISTERED: a later revision of the same family replaces the one before. */
                json_t *prev = json_array_get(picked, json_array_size(picked) - 1);
                if (last_only && prev && str_eq(ecs_json_str(json_object_get(prev, "doc"), "family", ""), f))
                        json_array_remove(picked, json_array_size(picked) - 1);
                json_array_append(picked, rec);
        }
        if (desc) {
                json_t *reversed = json_array();
                for (size_t k = json_array_size(picked); k-- > 0;)
                        json_array_append(reversed, json_array_get(picked, k));
                json_decref(picked);
                picked = reversed;
        }
        json_t *list = json_array();
        *out = json_pack("{s:o}", "daemonTaskDefinitions", list);
        records_page(picked, after, desc, limit, "daemon-task-definitions", taskdef_summary, list, *out);
        return 0;
}

/* ---- daemons ---- */

static struct rt_scheduler *scheduler(struct api_call *call, struct err *e) {
        struct rt_scheduler *s = api_scheduler(call->api);
        if (!s)
                err_set(e, -ENOTSUP, ERR_KIND_INTERNAL, "ecsd runs without a backend; daemons cannot run.");
        return s;
}

/* Resolve a daemon ARN (daemon/CLUSTER/NAME of the call's region and account) whose cluster is ACTIVE. */
static int daemon_ref(struct api_call *call, const char *ref, char *cluster, char *name, struct err *e) {
        struct ecs_arn arn;
        if (ecs_arn_parse(ref, &arn, NULL) < 0 || !str_eq(arn.type, "daemon"))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid daemon ARN: %.200s", ref);
        const char *slash = strchr(arn.resource, '/');
        if (!slash || (size_t) (slash - arn.resource) > ECS_NAME_MAX || strlen(slash + 1) > ECS_NAME_MAX ||
            !ecs_name_valid(slash + 1))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid daemon ARN: %.200s", ref);
        memcpy(cluster, arn.resource, (size_t) (slash - arn.resource));
        cluster[slash - arn.resource] = '\0';
        str_printf(name, ECS_NAME_MAX + 1, "%s", slash + 1);
        if (!str_eq(arn.region, call->region) || !str_eq(arn.account, call->account))
                return err_set(e, -ENOENT, ERR_KIND_DAEMON_NOT_FOUND, "The specified daemon does not exist.");
        if (!ecs_name_valid(cluster))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid daemon ARN: %.200s", ref);
        char checked[ECS_NAME_MAX + 1];
        return api_cluster_active(call, cluster, checked, NULL, e);
}

/* Check CreateDaemon's and UpdateDaemon's common members into `spec`. `cluster_doc` is the daemon's cluster. */
static int spec_check(struct api_call *call, const json_t *in, const json_t *cluster_doc, struct rt_daemon_spec *spec,
                      json_t **ret_providers, char tdarn[ECS_ARN_MAX], struct err *e) {
        json_auto_t *td = NULL;
        const char *tdref = ecs_json_str(in, "daemonTaskDefinitionArn", "");
        int r = taskdef_find(call, tdref, strncmp(tdref, "arn:", 4) == 0, &td, NULL, 0, e);
        if (r < 0)
                return r == -ENOENT ? err_set(e, r, ERR_KIND_INVALID, "%s", e->msg) : r;
        if (!str_eq(ecs_json_str(td, "status", ""), "ACTIVE"))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "The daemon task definition %s is not ACTIVE.",
                               ecs_json_str(td, "daemonTaskDefinitionArn", ""));
        str_printf(tdarn, ECS_ARN_MAX, "%s", ecs_json_str(td, "daemonTaskDefinitionArn", ""));
        spec->taskdef_arn = tdarn;
        /* Capacity providers: each one the cluster has (ecsd runs daemon tasks on every instance of the cluster). */
        const json_t *given = json_object_get(in, "capacityProviderArns");
        if (json_array_size(given) == 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "capacityProviderArns must name at least one capacity "
                                                             "provider.");
        json_auto_t *providers = json_array();
        size_t i;
        const json_t *p;
        json_array_foreach(given, i, p) {
                const char *ref = json_string_value(p);
                const char *pname = ref;
                if (strncmp(ref, "arn:", 4) == 0) {
                        struct ecs_arn arn;
                        if (ecs_arn_parse(ref, &arn, NULL) < 0 || !str_eq(arn.type, "capacity-provider") ||
                            !str_eq(arn.region, call->region) || !str_eq(arn.account, call->account))
                                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                               "Invalid capacity provider ARN: %.200s", ref);
                        pname = strchr(ref, '/') + 1;
                }
                if (str_eq(pname, "FARGATE") || str_eq(pname, "FARGATE_SPOT"))
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "Daemons cannot run on the Fargate capacity provider %s.", pname);
                if (!ecs_json_list_has(json_object_get(cluster_doc, "capacityProviders"), pname))
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "The capacity provider %.200s is not associated with the cluster.", ref);
                char full[ECS_ARN_MAX];
                ecs_arn_format(full, sizeof(full), call->region, call->account, "capacity-provider", pname);
                if (!ecs_json_list_has(providers, full))
                        json_array_append_new(providers, json_string(full));
        }
        const json_t *cfg = json_object_get(in, "deploymentConfiguration");
        const json_t *drain = json_object_get(cfg, "drainPercent");
        if (drain && (json_number_value(drain) < 0 || json_number_value(drain) > 100))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "drainPercent must be between 0.0 and 100.0.");
        int64_t bake = 0;
        if (ecs_json_int(cfg, "bakeTimeInMinutes", &bake) && (bake < 0 || bake > 1440))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "bakeTimeInMinutes must be between 0 and 1440.");
        spec->capacity_providers = providers;
        spec->deployment_configuration = cfg;
        spec->propagate_tags = ecs_json_str(in, "propagateTags", NULL);
        const json_t *b = json_object_get(in, "enableECSManagedTags");
        spec->enable_managed_tags = b ? json_is_true(b) : -1;
        b = json_object_get(in, "enableExecuteCommand");
        spec->enable_execute_command = b ? json_is_true(b) : -1;
        *ret_providers = TAKE_PTR(providers);
        return 0;
}

int api_create_daemon(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        struct rt_scheduler *s = scheduler(call, e);
        if (!s)
                return -ENOTSUP;
        char cluster[ECS_NAME_MAX + 1];
        json_auto_t *cdoc = NULL;
        int r = api_cluster_active(call, ecs_json_str(in, "clusterArn", NULL), cluster, &cdoc, e);
        if (r < 0)
                return r;
        const char *name = ecs_json_str(in, "daemonName", "");
        if (!ecs_name_valid(name))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Daemon names can have up to 255 letters, numbers, hyphens and underscores.");
        const char *token = ecs_json_str(in, "clientToken", NULL);
        if (token && (strlen(token) == 0 || strlen(token) > 36))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "clientToken must be 1 to 36 characters long.");
        const json_t *tags = json_object_get(in, "tags");
        if ((r = api_tags_validate(tags, e)) < 0)
                return r;
        struct rt_daemon_spec spec = {.region = call->region, .account = call->account, .cluster = cluster,
                                      .cluster_arn = ecs_json_str(cdoc, "clusterArn", ""), .name = name,
                                      .client_token = token, .request = in};
        json_auto_t *providers = NULL;
        char tdarn[ECS_ARN_MAX];
        if ((r = spec_check(call, in, cdoc, &spec, &providers, tdarn, e)) < 0)
                return r;
        json_auto_t *doc = NULL;
        r = rt_daemon_create(rt_scheduler_daemons(s), &spec, &doc, e);
        if (r < 0)
                return r;
        if (r == 0 && json_array_size(tags) && (r = rt_tags_put(call->store, ecs_json_str(doc, "daemonArn", ""), tags, e)) < 0)
                return r;
        rt_scheduler_wake(s);
        *out = json_pack("{s:s, s:s, s:O, s:s}", "daemonArn", ecs_json_str(doc, "daemonArn", ""), "status",
                         ecs_json_str(doc, "status", ""), "createdAt", json_object_get(doc, "createdAt"),
                         "deploymentArn", ecs_json_str(doc, "deploymentArn", ""));
        return 0;
}


/* A daemon as ListDaemons lists it. */
static json_t *daemon_summary(const json_t *doc) {
        return json_pack("{s:s, s:s, s:O, s:O}", "daemonArn", ecs_json_str(doc, "daemonArn", ""), "status",
                         ecs_json_str(doc, "status", ""), "createdAt", json_object_get(doc, "createdAt"), "updatedAt",
                         json_object_get(doc, "updatedAt"));
}

/* The answer of UpdateDaemon and DeleteDaemon: the summary and the deployment. */
static json_t *change_answer(const json_t *doc) {
        json_t *out = daemon_summary(doc);
        json_object_set_new(out, "deploymentArn", json_string(ecs_json_str(doc, "deploymentArn", "")));
        return out;
}

int api_update_daemon(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        struct rt_scheduler *s = scheduler(call, e);
        if (!s)
                return -ENOTSUP;
        char cluster[ECS_NAME_MAX + 1], name[ECS_NAME_MAX + 1];
        int r = daemon_ref(call, ecs_json_str(in, "daemonArn", ""), cluster, name, e);
        if (r < 0)
                return r;
        json_auto_t *cdoc = NULL;
        char checked[ECS_NAME_MAX + 1];
        if ((r = api_cluster_active(call, cluster, checked, &cdoc, e)) < 0)
                return r;
        json_auto_t *old = NULL;
        struct err ignored = {0};
        if (rt_daemon_get(call->store, call->region, cluster, name, &old, &ignored) < 0)
                return err_set(e, -ENOENT, ERR_KIND_DAEMON_NOT_FOUND, "The specified daemon does not exist.");
        if (!str_eq(ecs_json_str(old, "status", ""), "ACTIVE"))
                return err_set(e, -EBUSY, ERR_KIND_DAEMON_NOT_ACTIVE, "The specified daemon is not active.");
        struct rt_daemon_spec spec = {.region = call->region, .account = call->account, .cluster = cluster,
                                      .cluster_arn = ecs_json_str(cdoc, "clusterArn", ""), .name = name};
        json_auto_t *providers = NULL;
        char tdarn[ECS_ARN_MAX];
        if ((r = spec_check(call, in, cdoc, &spec, &providers, tdarn, e)) < 0)
                return r;
        json_auto_t *doc = NULL;
        if ((r = rt_daemon_update(rt_scheduler_daemons(s), &spec, &doc, e)) < 0)
                return r;
        rt_scheduler_wake(s);
        *out = change_answer(doc);
        return 0;
}

int api_delete_daemon(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        struct rt_scheduler *s = scheduler(call, e);
        if (!s)
                return -ENOTSUP;
        char cluster[ECS_NAME_MAX + 1], name[ECS_NAME_MAX + 1];
        int r = daemon_ref(call, ecs_json_str(in, "daemonArn", ""), cluster, name, e);
        if (r < 0)
                return r;
        json_auto_t *doc = NULL;
        if ((r = rt_daemon_delete(rt_scheduler_daemons(s), call->region, cluster, name, &doc, e)) < 0)
                return r;
        rt_scheduler_wake(s);
        *out = change_answer(doc);
        return 0;
}

int api_describe_daemon(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        char cluster[ECS_NAME_MAX + 1], name[ECS_NAME_MAX + 1];
        int r = daemon_ref(call, ecs_json_str(in, "daemonArn", ""), cluster, name, e);
        if (r < 0)
                return r;
        json_auto_t *doc = NULL;
        struct err ignored = {0};
        if (rt_daemon_get(call->store, call->region, cluster, name, &doc, &ignored) < 0)
                return err_set(e, -ENOENT, ERR_KIND_DAEMON_NOT_FOUND, "The specified daemon does not exist.");
        json_t *detail = json_pack("{s:s, s:s, s:s, s:O, s:O, s:s}", "daemonArn", ecs_json_str(doc, "daemonArn", ""),
                                   "clusterArn", ecs_json_str(doc, "clusterArn", ""), "status",
                                   ecs_json_str(doc, "status", ""), "createdAt", json_object_get(doc, "createdAt"),
                                   "updatedAt", json_object_get(doc, "updatedAt"), "deploymentArn",
                                   ecs_json_str(doc, "deploymentArn", ""));
        const json_t *cur = json_object_get(doc, "currentRevisions");
        json_object_set_new(detail, "currentRevisions", cur ? json_deep_copy(cur) : json_array());
        *out = json_pack("{s:o}", "daemon", detail);
        return 0;
}


int api_list_daemons(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        int limit;
        int r = ecs_page_max_results(in, LIST_MAX, LIST_MAX, &limit, e);
        if (r < 0)
                return r;
        char cluster[ECS_NAME_MAX + 1] = "";
        const char *cref = ecs_json_str(in, "clusterArn", NULL);
        if (cref && (r = api_cluster_active(call, cref, cluster, NULL, e)) < 0)
                return r;
        const json_t *providers = json_object_get(in, "capacityProviderArns");
        char after[ECS_PAGE_KEY_MAX] = "";
        const char *token = ecs_json_str(in, "nextToken", NULL);
        if (token && (r = ecs_page_token_decode("daemons", token, after, e)) < 0)
                return r;
        json_auto_t *all = NULL;
        if ((r = records_all(call, RT_DAEMON_KIND, &all, e)) < 0)
                return r;
        json_auto_t *picked = json_array();
        size_t i;
        json_t *rec;
        json_array_foreach(all, i, rec) {
                const json_t *doc = json_object_get(rec, "doc");
                if (cluster[0] && !str_eq(ecs_json_str(doc, "cluster", ""), cluster))
                        continue;
                if (json_array_size(providers)) {
                        bool any = false;
                        size_t k;
                        const json_t *p;
                        json_array_foreach(providers, k, p) any |= ecs_json_list_has(
                                json_object_get(doc, "capacityProviderArns"), json_string_value(p));
                        if (!any)
                                continue;
                }
                json_array_append(picked, rec);
        }
        json_t *list = json_array();
        *out = json_pack("{s:o}", "daemonSummariesList", list);
        records_page(picked, after, false, limit, "daemons", daemon_summary, list, *out);
        return 0;
}

/* A record's document without ecsd's own members (those starting with '_'). New object. */
static json_t *public_doc(const json_t *doc) {
        json_t *out = json_deep_copy(doc);
        const char *k;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(out, tmp, k, v) if (k[0] == '_') json_object_del(out, k);
        return out;
}

static json_t *deployment_summary(const json_t *doc) {
        json_t *sum = json_object();
        static const char *const members[] = {"daemonDeploymentArn", "daemonArn", "clusterArn", "status",
                                              "statusReason", "targetDaemonRevisionArn", "createdAt", "startedAt",
                                              "stoppedAt", "finishedAt"};
        for (size_t k = 0; k < ARRAY_SIZE(members); k++) {
                json_t *v = json_object_get(doc, members[k]);
                if (v)
                        json_object_set(sum, members[k], v);
        }
        return sum;
}

int api_list_daemon_deployments(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        int limit;
        int r = ecs_page_max_results(in, LIST_MAX, LIST_MAX, &limit, e);
        if (r < 0)
                return r;
        const char *darn = ecs_json_str(in, "daemonArn", "");
        char cluster[ECS_NAME_MAX + 1], name[ECS_NAME_MAX + 1];
        if ((r = daemon_ref(call, darn, cluster, name, e)) < 0 && r != -ENOENT)
                return r;
        if (r == -ENOENT) {
                *out = json_pack("{s:[]}", "daemonDeployments");
                return 0;
        }
        const json_t *statuses = json_object_get(in, "status");
        const json_t *created = json_object_get(in, "createdAt");
        const json_t *before = json_object_get(created, "before"), *after_t = json_object_get(created, "after");
        char after[ECS_PAGE_KEY_MAX] = "";
        const char *token = ecs_json_str(in, "nextToken", NULL);
        if (token && (r = ecs_page_token_decode("daemon-deployments", token, after, e)) < 0)
                return r;
        json_auto_t *all = NULL;
        if ((r = records_all(call, RT_DAEMON_DEPLOYMENT_KIND, &all, e)) < 0)
                return r;
        /* Newest first, as ListServiceDeployments. */
        json_auto_t *picked = json_array();
        for (size_t i = json_array_size(all); i-- > 0;) {
                json_t *rec = json_array_get(all, i);
                const json_t *doc = json_object_get(rec, "doc");
                if (!str_eq(ecs_json_str(doc, "daemonArn", ""), darn))
                        continue;
                if (json_array_size(statuses) && !ecs_json_list_has(statuses, ecs_json_str(doc, "status", "")))
                        continue;
                double at = json_number_value(json_object_get(doc, "createdAt"));
                if ((before && at >= json_number_value(before)) || (after_t && at <= json_number_value(after_t)))
                        continue;
                json_array_append(picked, rec);
        }
        json_t *list = json_array();
        *out = json_pack("{s:o}", "daemonDeployments", list);
        records_page(picked, after, true, limit, "daemon-deployments", deployment_summary, list, *out);
        return 0;
}

/* DescribeDaemonDeployments and DescribeDaemonRevisions: each ARN of `type` found as a record of `kind`, the others
 * in failures[] with reason MISSING (what the botocore waiters look for). */
static int describe_records(struct api_call *call, const json_t *arns, const char *type, const char *kind,
                            const char *out_key, json_t **out, struct err *e) {
        if (json_array_size(arns) == 0 || json_array_size(arns) > DESCRIBE_MAX)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "Between 1 and %d ARNs must be given.", DESCRIBE_MAX);
        json_t *found = json_array(), *failures = json_array();
        *out = json_pack("{s:o, s:o}", out_key, found, "failures", failures);
        size_t i;
        const json_t *a;
        json_array_foreach(arns, i, a) {
                const char *arn = json_string_value(a);
                struct ecs_arn parsed;
                if (ecs_arn_parse(arn, &parsed, NULL) < 0 || !str_eq(parsed.type, type)) {
                        json_decref(*out);
                        *out = NULL;
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid %s ARN: %.200s", type, arn);
                }
                json_auto_t *doc = NULL;
                struct err ignored = {0};
                const char *id = strrchr(arn, '/') + 1;
                if (!str_eq(parsed.region, call->region) || !str_eq(parsed.account, call->account) ||
                    rt_record_get(call->store, call->region, kind, id, &doc, &ignored) < 0 ||
                    !str_eq(ecs_json_str(doc, str_eq(type, "daemon-revision") ? "daemonRevisionArn"
                                                                              : "daemonDeploymentArn", ""),
                            arn)) {
                        json_array_append_new(failures, json_pack("{s:s, s:s}", "arn", arn, "reason", "MISSING"));
                        continue;
                }
                json_t *pub = public_doc(doc);
                /* What only the deployment's summary (ListDaemonDeployments) carries. */
                if (str_eq(type, "daemon-deployment")) {
                        json_object_del(pub, "daemonArn");
                        json_object_del(pub, "targetDaemonRevisionArn");
                }
                json_array_append_new(found, pub);
        }
        return 0;
}

int api_describe_daemon_deployments(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        return describe_records(call, json_object_get(in, "daemonDeploymentArns"), "daemon-deployment",
                                RT_DAEMON_DEPLOYMENT_KIND, "daemonDeployments", out, e);
}

int api_describe_daemon_revisions(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        return describe_records(call, json_object_get(in, "daemonRevisionArns"), "daemon-revision",
                                RT_DAEMON_REVISION_KIND, "daemonRevisions", out, e);
}

bool api_daemon_taggable(struct api_call *call, const struct ecs_arn *parsed, const char *arn) {
        json_auto_t *doc = NULL;
        struct err ignored = {0};
        if (str_eq(parsed->type, "daemon-task-definition")) {
                char family[ECS_NAME_MAX + 1];
                int64_t rev;
                char key[ECS_NAME_MAX + 16];
                if (taskdef_ref(call, arn, family, &rev, &ignored) < 0 || rev == 0)
                        return false;
                taskdef_key(key, sizeof(key), family, rev);
                return rt_record_get(call->store, call->region, RT_DAEMON_TASKDEF_KIND, key, &doc, &ignored) == 0;
        }
        if (!str_eq(parsed->type, "daemon"))
                return false;
        const char *slash = strchr(parsed->resource, '/');
        char cluster[ECS_NAME_MAX + 1];
        if (!slash || (size_t) (slash - parsed->resource) > ECS_NAME_MAX)
                return false;
        str_printf(cluster, sizeof(cluster), "%.*s", (int) (slash - parsed->resource), parsed->resource);
        return rt_daemon_get(call->store, call->region, cluster, slash + 1, &doc, &ignored) == 0 &&
               str_eq(ecs_json_str(doc, "daemonArn", ""), arn);
}
