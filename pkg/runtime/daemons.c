/* daemons.c — keeps one task of each ECS daemon on every ACTIVE container instance of its cluster and rolls daemon
 * deployments (see daemons.h, docs/internals/daemons.md).
 *
 * Records (rt_record_*, per region): "daemon" keyed CLUSTER/NAME (the daemon), "daemon-revision" and
 * "daemon-deployment" keyed by their id (19 digits: creation time in ms, then 6 random digits, so keys sort by age),
 * "daemon-taskdef" keyed FAMILY:REVISION (10 digits), "daemon-taskdef-family" keyed FAMILY (the last revision given).
 * Region "*" holds "daemon-index" records keyed REGION/CLUSTER/NAME: the daemons a pass visits.
 *
 * Invariants of a pass, per daemon (counted from rt_lifecycle_tasks and the tasks' placements, never from samples):
 * - an instance that is ACTIVE and can run tasks holds at most one daemon task not yet asked to stop; one that holds
 *   none gets a task of the target revision, but only once the instance's previous daemon task has STOPPED;
 * - a task on an instance that is DRAINING or gone is stopped at once (as a DAEMON service's);
 * - tasks of older revisions are stopped at most `batch` instances at a time, batch = max(1, floor(instances ×
 *   drainPercent / 100)): an instance is in flight while no task asked to run is RUNNING there (its old task
 *   stopping, its new one not yet launched or not yet RUNNING), and a RUNNING old task is stopped only while fewer
 *   than `batch` instances are in flight;
 * - the deployment is SUCCESSFUL when every such instance runs the target revision and nothing else is left; a
 *   deleted daemon's when its last task stopped, and the daemon is then forgotten.
 *
 * Threads: `lock` serialises the API's changes and the passes (on the scheduler's thread). */
#include "daemons.h"

#include <inttypes.h>
#include <string.h>

#include "ecs.h"

#define INDEX_REGION "*"
#define INDEX_KIND "daemon-index"
#define PAGE 500
#define DRAIN_DEFAULT 25.0

struct rt_daemons {
        struct rt_store *store;
        struct rt_lifecycle *lc;
        struct rt_instances *instances;
        pthread_mutex_t lock;
        /* Container instance ARN -> true where a daemon task asked to run is not yet RUNNING, as the last pass left
         * it: the service scheduler places no task there meanwhile (rt_daemons_instance_starting). */
        pthread_mutex_t starting_lock;
        json_t *starting;
};

int rt_daemons_new(const struct rt_daemons_config *cfg, struct rt_daemons **ret, struct err *e) {
        (void) e;
        struct rt_daemons *d = xcalloc(1, sizeof(*d));
        d->store = cfg->store;
        d->lc = cfg->lifecycle;
        d->instances = cfg->instances;
        pthread_mutex_init(&d->lock, NULL);
        pthread_mutex_init(&d->starting_lock, NULL);
        d->starting = json_object();
        *ret = d;
        return 0;
}

void rt_daemons_free(struct rt_daemons *d) {
        if (!d)
                return;
        pthread_mutex_destroy(&d->lock);
        pthread_mutex_destroy(&d->starting_lock);
        json_decref(d->starting);
        free(d);
}

/* ---- ids, keys, ARNs ---- */

static void record_id_new(char out[24]) {
        uint32_t r = 0;
        random_bytes(&r, sizeof(r));
        str_printf(out, 24, "%013" PRId64 "%06" PRIu32, time_now_ms(), r % 1000000u);
}

static void daemon_key(char *buf, size_t size, const char *cluster, const char *name) {
        str_printf(buf, size, "%s/%s", cluster, name);
}

static void sub_arn(char *buf, size_t size, const char *region, const char *account, const char *type,
                    const char *cluster, const char *name, const char *id) {
        char res[ECS_ARN_MAX];
        if (id)
                str_printf(res, sizeof(res), "%s/%s/%s", cluster, name, id);
        else
                str_printf(res, sizeof(res), "%s/%s", cluster, name);
        if (ecs_arn_format(buf, size, region, account, type, res) < 0)
                buf[0] = '\0';
}

/* The id at the end of an ARN (after its last '/'). */
static const char *arn_tail(const char *arn) {
        const char *slash = strrchr(arn ? arn : "", '/');
        return slash ? slash + 1 : "";
}

int rt_daemon_get(struct rt_store *store, const char *region, const char *cluster, const char *name, json_t **ret,
                  struct err *e) {
        char key[2 * ECS_NAME_MAX + 2];
        daemon_key(key, sizeof(key), cluster, name);
        return rt_record_get(store, region, RT_DAEMON_KIND, key, ret, e);
}

static int index_put(struct rt_store *store, const char *region, const char *cluster, const char *name,
                     struct err *e) {
        char key[ECS_REGION_MAX + 2 * ECS_NAME_MAX + 4];
        str_printf(key, sizeof(key), "%s/%s/%s", region, cluster, name);
        json_auto_t *doc = json_pack("{s:s, s:s, s:s}", "region", region, "cluster", cluster, "name", name);
        return rt_record_put(store, INDEX_REGION, INDEX_KIND, key, doc, e);
}

bool rt_daemons_use_taskdef(struct rt_store *store, const char *region, const char *taskdef_arn) {
        char after[ECS_PAGE_KEY_MAX] = "";
        for (;;) {
                json_auto_t *page = NULL;
                struct err e = {0};
                if (rt_record_list(store, region, RT_DAEMON_KIND, after, PAGE, &page, &e) < 0)
                        return true; /* when in doubt it is in use: DELETED is final */
                size_t i;
                const json_t *r;
                json_array_foreach(page, i, r) {
                        if (str_eq(ecs_json_str(json_object_get(r, "doc"), "daemonTaskDefinitionArn", ""), taskdef_arn))
                                return true;
                }
                if (json_array_size(page) < PAGE)
                        return false;
                str_printf(after, sizeof(after), "%s", ecs_json_str(json_array_get(page, PAGE - 1), "key", ""));
        }
}

/* ---- what a daemon's tasks run ---- */

/* The daemon task definition `arn` as a task definition the lifecycle runs: the stored document with ECS's
 * container defaults (essential, cpu 0) and its own ARN as taskDefinitionArn, on the EC2 launch type. New object. */
static int runnable_taskdef(struct rt_store *store, const char *region, const char *arn, json_t **ret,
                            struct err *e) {
        struct ecs_arn parsed;
        int r = ecs_arn_parse(arn, &parsed, e);
        if (r < 0)
                return r;
        const char *colon = strrchr(parsed.resource, ':');
        if (!colon)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "'%.200s' is not a daemon task definition ARN.", arn);
        char key[ECS_NAME_MAX + 16];
        int64_t rev = 0;
        if (parse_int64(colon + 1, 1, 1000000000, &rev) < 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "'%.200s' is not a daemon task definition ARN.", arn);
        str_printf(key, sizeof(key), "%.*s:%010" PRId64, (int) (colon - parsed.resource), parsed.resource, rev);
        json_auto_t *doc = NULL;
        if ((r = rt_record_get(store, region, RT_DAEMON_TASKDEF_KIND, key, &doc, e)) < 0)
                return r;
        json_object_set_new(doc, "taskDefinitionArn", json_string(arn));
        json_object_set_new(doc, "requiresCompatibilities", json_pack("[s]", "EC2"));
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(doc, "containerDefinitions"), i, c) {
                if (!json_object_get(c, "essential"))
                        json_object_set_new(c, "essential", json_true());
                if (!json_object_get(c, "cpu"))
                        json_object_set_new(c, "cpu", json_integer(0));
        }
        *ret = json_incref(doc);
        return 0;
}

/* The tags a daemon's new task gets: the daemon's with propagateTags DAEMON, and with enableECSManagedTags
 * aws:ecs:clusterName and aws:ecs:daemonName. New array or NULL. */
static json_t *task_tags(struct rt_store *store, const json_t *doc, const json_t *rev) {
        json_t *tags = NULL;
        struct err e = {0};
        if (str_eq(ecs_json_str(rev, "propagateTags", "NONE"), "DAEMON") &&
            rt_tags_get(store, ecs_json_str(doc, "daemonArn", ""), &tags, &e) < 0)
                log_warn("daemons", "\"cannot read tags to propagate\" daemon=%s error=\"%s\"",
                         ecs_json_str(doc, "daemonName", ""), e.msg);
        if (json_is_true(json_object_get(rev, "enableECSManagedTags"))) {
                if (!tags)
                        tags = json_array();
                json_array_append_new(tags, json_pack("{s:s, s:s}", "key", "aws:ecs:clusterName", "value",
                                                      ecs_json_str(doc, "cluster", "")));
                json_array_append_new(tags, json_pack("{s:s, s:s}", "key", "aws:ecs:daemonName", "value",
                                                      ecs_json_str(doc, "daemonName", "")));
        }
        if (tags && json_array_size(tags) == 0) {
                json_decref(tags);
                tags = NULL;
        }
        return tags;
}

/* The name of the capacity provider daemon tasks report: the first of the daemon's (every instance of the cluster
 * stands for all of them, docs/internals/daemons.md). */
static const char *provider_name(const json_t *doc) {
        const char *arn = json_string_value(json_array_get(json_object_get(doc, "capacityProviderArns"), 0));
        return arn ? arn_tail(arn) : NULL;
}

/* ---- create, update, delete ---- */

static json_t *revision_new(struct rt_store *store, const struct rt_daemon_spec *s, const json_t *doc,
                            const json_t *td, struct err *e) {
        char id[24], arn[ECS_ARN_MAX];
        record_id_new(id);
        sub_arn(arn, sizeof(arn), s->region, s->account, "daemon-revision", s->cluster, s->name, id);
        json_t *images = json_array();
        size_t i;
        const json_t *c;
        json_array_foreach(json_object_get(td, "containerDefinitions"), i, c)
                json_array_append_new(images, json_pack("{s:s, s:s}", "containerName", ecs_json_str(c, "name", ""),
                                                        "image", ecs_json_str(c, "image", "")));
        json_t *rev = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:b, s:b, s:s, s:s}", "daemonRevisionArn", arn,
                                "clusterArn", ecs_json_str(doc, "clusterArn", ""), "daemonArn",
                                ecs_json_str(doc, "daemonArn", ""), "daemonTaskDefinitionArn", s->taskdef_arn,
                                "createdAt", ecs_timestamp_now(), "containerImages", images, "propagateTags",
                                ecs_json_str(doc, "propagateTags", "NONE"), "enableECSManagedTags",
                                json_is_true(json_object_get(doc, "enableECSManagedTags")), "enableExecuteCommand",
                                json_is_true(json_object_get(doc, "enableExecuteCommand")), "_cluster", s->cluster,
                                "_name", s->name);
        if (rt_record_put(store, s->region, RT_DAEMON_REVISION_KIND, id, rev, e) < 0) {
                json_decref(rev);
                return NULL;
        }
        return rev;
}

static json_t *providers_detail(const json_t *doc, bool deployment) {
        json_t *list = json_array();
        size_t i;
        const json_t *p;
        json_array_foreach(json_object_get(doc, "capacityProviderArns"), i, p) {
                if (deployment)
                        json_array_append_new(list, json_pack("{s:O, s:i, s:i}", "arn", p, "runningInstanceCount", 0,
                                                              "drainingInstanceCount", 0));
                else
                        json_array_append_new(list, json_pack("{s:O, s:i}", "arn", p, "runningCount", 0));
        }
        return list;
}

/* A deployment record towards `target` (a revision ARN, or NULL when the daemon is deleted). */
static json_t *deployment_new(struct rt_store *store, const char *region, const char *account, const json_t *doc,
                              const char *target, struct err *e) {
        char id[24], arn[ECS_ARN_MAX];
        record_id_new(id);
        const char *cluster = ecs_json_str(doc, "cluster", ""), *name = ecs_json_str(doc, "daemonName", "");
        sub_arn(arn, sizeof(arn), region, account, "daemon-deployment", cluster, name, id);
        json_t *now = ecs_timestamp_now();
        const json_t *cfg = json_object_get(doc, "deploymentConfiguration");
        const json_t *names = json_object_get(json_object_get(cfg, "alarms"), "alarmNames");
        json_auto_t *alarm_names = names ? json_deep_copy(names) : json_array();
        json_auto_t *config = cfg ? json_deep_copy(cfg) : json_object();
        json_t *dep = json_pack(
                "{s:s, s:s, s:s, s:s, s:s, s:{s:i, s:s, s:i}, s:{s:s, s:O}, s:O, s:O, s:O, s:[], s:s, s:s}",
                "daemonDeploymentArn", arn, "daemonArn", ecs_json_str(doc, "daemonArn", ""), "clusterArn",
                ecs_json_str(doc, "clusterArn", ""), "status", "IN_PROGRESS", "statusReason",
                target ? "Daemon deployment in progress." : "Daemon deletion in progress.", "circuitBreaker",
                "failureCount", 0, "status", "DISABLED", "threshold", 0, "alarms", "status", "DISABLED",
                "alarmNames", alarm_names, "deploymentConfiguration", config, "createdAt", now, "startedAt", now,
                "sourceDaemonRevisions", "_cluster", cluster, "_name", name);
        json_decref(now);
        /* What runs now is what this deployment replaces. */
        size_t i;
        const json_t *c;
        json_t *sources = json_object_get(dep, "sourceDaemonRevisions");
        json_array_foreach(json_object_get(doc, "currentRevisions"), i, c) {
                json_int_t running = json_integer_value(json_object_get(c, "totalRunningCount"));
                if (running == 0)
                        continue;
                json_t *providers = providers_detail(doc, true);
                json_object_set_new(json_array_get(providers, 0), "runningInstanceCount", json_integer(running));
                json_array_append_new(sources, json_pack("{s:s, s:o, s:I, s:i}", "arn", ecs_json_str(c, "arn", ""),
                                                         "capacityProviders", providers, "totalRunningInstanceCount",
                                                         running, "totalDrainingInstanceCount", 0));
        }
        if (target) {
                json_object_set_new(dep, "targetDaemonRevisionArn", json_string(target));
                json_object_set_new(dep, "targetDaemonRevision",
                                    json_pack("{s:s, s:o, s:i, s:i}", "arn", target, "capacityProviders",
                                              providers_detail(doc, true), "totalRunningInstanceCount", 0,
                                              "totalDrainingInstanceCount", 0));
        }
        if (rt_record_put(store, region, RT_DAEMON_DEPLOYMENT_KIND, id, dep, e) < 0) {
                json_decref(dep);
                return NULL;
        }
        return dep;
}

/* The daemon's current deployment stops (superseded by a new one) when it has not finished. */
static void deployment_supersede(struct rt_store *store, const char *region, const json_t *doc) {
        const char *id = arn_tail(ecs_json_str(doc, "deploymentArn", ""));
        json_auto_t *dep = NULL;
        struct err e = {0};
        if (!*id || rt_record_get(store, region, RT_DAEMON_DEPLOYMENT_KIND, id, &dep, &e) < 0)
                return;
        if (!str_eq(ecs_json_str(dep, "status", ""), "IN_PROGRESS") && !str_eq(ecs_json_str(dep, "status", ""), "PENDING"))
                return;
        json_t *now = ecs_timestamp_now();
        json_object_set_new(dep, "status", json_string("STOPPED"));
        json_object_set_new(dep, "statusReason", json_string("Daemon deployment stopped by a newer deployment."));
        json_object_set(dep, "stoppedAt", now);
        json_object_set_new(dep, "finishedAt", now);
        if (rt_record_put(store, region, RT_DAEMON_DEPLOYMENT_KIND, id, dep, &e) < 0)
                log_error("daemons", "\"cannot save a deployment\" id=%s error=\"%s\"", id, e.msg);
}

/* Point the daemon at a new revision of `s` and its deployment; saves nothing of `doc` itself. */
static int roll_to(struct rt_daemons *d, const struct rt_daemon_spec *s, json_t *doc, struct err *e) {
        json_auto_t *td = NULL;
        int r = runnable_taskdef(d->store, s->region, s->taskdef_arn, &td, e);
        if (r < 0)
                return r;
        json_auto_t *rev = revision_new(d->store, s, doc, td, e);
        if (!rev)
                return -EIO;
        const char *rev_arn = ecs_json_str(rev, "daemonRevisionArn", "");
        deployment_supersede(d->store, s->region, doc);
        json_auto_t *dep = deployment_new(d->store, s->region, s->account, doc, rev_arn, e);
        if (!dep)
                return -EIO;
        json_object_set_new(doc, "revisionArn", json_string(rev_arn));
        json_object_set_new(doc, "deploymentArn", json_string(ecs_json_str(dep, "daemonDeploymentArn", "")));
        json_object_set_new(doc, "daemonTaskDefinitionArn", json_string(s->taskdef_arn));
        return 0;
}

static void apply_spec(json_t *doc, const struct rt_daemon_spec *s, bool create) {
        json_object_set_new(doc, "capacityProviderArns", json_deep_copy(s->capacity_providers));
        if (s->deployment_configuration)
                json_object_set_new(doc, "deploymentConfiguration", json_deep_copy(s->deployment_configuration));
        else if (create)
                json_object_set_new(doc, "deploymentConfiguration",
                                    json_pack("{s:f, s:i}", "drainPercent", DRAIN_DEFAULT, "bakeTimeInMinutes", 0));
        if (s->propagate_tags || create)
                json_object_set_new(doc, "propagateTags", json_string(s->propagate_tags ? s->propagate_tags : "NONE"));
        if (s->enable_managed_tags >= 0 || create)
                json_object_set_new(doc, "enableECSManagedTags", json_boolean(s->enable_managed_tags > 0));
        if (s->enable_execute_command >= 0 || create)
                json_object_set_new(doc, "enableExecuteCommand", json_boolean(s->enable_execute_command > 0));
}

int rt_daemon_create(struct rt_daemons *d, const struct rt_daemon_spec *s, json_t **ret, struct err *e) {
        pthread_mutex_lock(&d->lock);
        json_auto_t *old = NULL;
        struct err ignored = {0};
        int r = rt_daemon_get(d->store, s->region, s->cluster, s->name, &old, &ignored);
        if (r == 0) {
                const char *token = ecs_json_str(old, "clientToken", NULL);
                if (s->client_token && token && str_eq(token, s->client_token) &&
                    json_equal(json_object_get(old, "request"), s->request)) {
                        *ret = json_incref(old);
                        pthread_mutex_unlock(&d->lock);
                        return 1;
                }
                pthread_mutex_unlock(&d->lock);
                if (str_eq(ecs_json_str(old, "status", ""), "ACTIVE"))
                        return err_set(e, -EEXIST, ERR_KIND_INVALID, "Creation of daemon was not idempotent.");
                return err_set(e, -EBUSY, ERR_KIND_INVALID, "Unable to create a daemon that is still being deleted.");
        }
        char arn[ECS_ARN_MAX];
        sub_arn(arn, sizeof(arn), s->region, s->account, "daemon", s->cluster, s->name, NULL);
        json_t *now = ecs_timestamp_now();
        json_auto_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:o}", "daemonArn", arn, "daemonName",
                                     s->name, "cluster", s->cluster, "clusterArn", s->cluster_arn, "account",
                                     s->account, "status", "ACTIVE", "createdAt", now, "updatedAt", now);
        apply_spec(doc, s, true);
        if (s->client_token) {
                json_object_set_new(doc, "clientToken", json_string(s->client_token));
                json_object_set_new(doc, "request", json_deep_copy(s->request));
        }
        char key[2 * ECS_NAME_MAX + 2];
        daemon_key(key, sizeof(key), s->cluster, s->name);
        if ((r = roll_to(d, s, doc, e)) < 0 || (r = rt_record_put(d->store, s->region, RT_DAEMON_KIND, key, doc, e)) < 0 ||
            (r = index_put(d->store, s->region, s->cluster, s->name, e)) < 0) {
                pthread_mutex_unlock(&d->lock);
                return r;
        }
        log_info("daemons", "\"daemon created\" daemon=%s cluster=%s taskdef=%s", s->name, s->cluster, s->taskdef_arn);
        *ret = json_incref(doc);
        pthread_mutex_unlock(&d->lock);
        return 0;
}

static int daemon_for_change(struct rt_daemons *d, const char *region, const char *cluster, const char *name,
                             json_t **ret, struct err *e) {
        json_auto_t *doc = NULL;
        struct err ignored = {0};
        if (rt_daemon_get(d->store, region, cluster, name, &doc, &ignored) < 0)
                return err_set(e, -ENOENT, ERR_KIND_DAEMON_NOT_FOUND, "The specified daemon does not exist.");
        if (!str_eq(ecs_json_str(doc, "status", ""), "ACTIVE"))
                return err_set(e, -EBUSY, ERR_KIND_DAEMON_NOT_ACTIVE, "The specified daemon is not active.");
        *ret = json_incref(doc);
        return 0;
}

int rt_daemon_update(struct rt_daemons *d, const struct rt_daemon_spec *s, json_t **ret, struct err *e) {
        pthread_mutex_lock(&d->lock);
        json_auto_t *doc = NULL;
        int r = daemon_for_change(d, s->region, s->cluster, s->name, &doc, e);
        if (r == 0) {
                apply_spec(doc, s, false);
                json_object_set_new(doc, "updatedAt", ecs_timestamp_now());
                char key[2 * ECS_NAME_MAX + 2];
                daemon_key(key, sizeof(key), s->cluster, s->name);
                if ((r = roll_to(d, s, doc, e)) == 0 &&
                    (r = rt_record_put(d->store, s->region, RT_DAEMON_KIND, key, doc, e)) == 0) {
                        log_info("daemons", "\"daemon updated\" daemon=%s cluster=%s taskdef=%s", s->name, s->cluster,
                                 s->taskdef_arn);
                        *ret = json_incref(doc);
                }
        }
        pthread_mutex_unlock(&d->lock);
        return r;
}

int rt_daemon_delete(struct rt_daemons *d, const char *region, const char *cluster, const char *name, json_t **ret,
                     struct err *e) {
        pthread_mutex_lock(&d->lock);
        json_auto_t *doc = NULL;
        int r = daemon_for_change(d, region, cluster, name, &doc, e);
        if (r == 0) {
                deployment_supersede(d->store, region, doc);
                json_auto_t *dep = deployment_new(d->store, region, ecs_json_str(doc, "account", ""), doc, NULL, e);
                char key[2 * ECS_NAME_MAX + 2];
                daemon_key(key, sizeof(key), cluster, name);
                if (!dep)
                        r = -EIO;
                else {
                        json_object_set_new(doc, "status", json_string("DELETE_IN_PROGRESS"));
                        json_object_set_new(doc, "updatedAt", ecs_timestamp_now());
                        json_object_set_new(doc, "deploymentArn",
                                            json_string(ecs_json_str(dep, "daemonDeploymentArn", "")));
                        r = rt_record_put(d->store, region, RT_DAEMON_KIND, key, doc, e);
                }
                if (r == 0) {
                        log_info("daemons", "\"daemon deleting\" daemon=%s cluster=%s", name, cluster);
                        *ret = json_incref(doc);
                }
        }
        pthread_mutex_unlock(&d->lock);
        return r;
}

/* ---- the pass ---- */

/* One live task of the daemon as the pass sees it. */
struct dtask {
        const json_t *task;
        const char *id, *rev, *instance; /* instance: its container instance ARN, "" when it has none */
        bool asked, running, stop;
};

/* Stop the tasks of `v` marked `stop`. */
static void stop_marked(struct rt_daemons *d, const char *name, struct dtask *v, size_t n, const char *reason) {
        for (size_t i = 0; i < n; i++) {
                if (!v[i].stop)
                        continue;
                struct err e = {0};
                if (rt_lifecycle_stop(d->lc, v[i].id, "ServiceSchedulerInitiated", reason, NULL, &e) < 0)
                        log_error("daemons", "\"cannot stop a task\" daemon=%s task=%s error=\"%s\"", name, v[i].id,
                                  e.msg);
                v[i].asked = false;
        }
}

/* Launch the target revision's task on every eligible instance that holds no task of the daemon. */
static int launch_missing(struct rt_daemons *d, const char *region, const char *account, const json_t *doc,
                          const char *group, const json_t *rev, int64_t eligible) {
        const char *name = ecs_json_str(doc, "daemonName", "");
        const char *cluster = ecs_json_str(doc, "cluster", "");
        json_auto_t *td = NULL;
        struct err e = {0};
        if (runnable_taskdef(d->store, region, ecs_json_str(rev, "daemonTaskDefinitionArn", ""), &td, &e) < 0) {
                log_error("daemons", "\"cannot read the daemon task definition\" daemon=%s error=\"%s\"", name, e.msg);
                return 0;
        }
        json_auto_t *tags = task_tags(d->store, doc, rev);
        json_auto_t *constraints = json_pack("[{s:s}]", "type", "distinctInstance");
        json_auto_t *cache = NULL;
        int started = 0;
        rt_instances_place_lock(d->instances);
        for (int64_t i = 0; i < eligible; i++) {
                struct rt_place_request preq = {.region = region, .account = account, .cluster = cluster,
                                                .taskdef = td, .group = group, .constraints = constraints};
                struct rt_placement place = {0};
                json_auto_t *failures = NULL;
                int r = rt_instances_choose(d->instances, &preq, &place, &failures, &cache, &e);
                if (r < 0 || !place.arn[0]) {
                        if (r < 0 && r != -ENOSPC)
                                log_error("daemons", "\"cannot place a task\" daemon=%s error=\"%s\"", name, e.msg);
                        break;
                }
                const char *provider = provider_name(doc);
                struct rt_run_request req = {
                        .region = region,
                        .account = account,
                        .cluster_name = cluster,
                        .cluster_arn = ecs_json_str(doc, "clusterArn", ""),
                        .taskdef = td,
                        .started_by = arn_tail(ecs_json_str(rev, "daemonRevisionArn", "")),
                        .group = group,
                        .launch_type = "EC2",
                        .tags = tags,
                        .container_instance_arn = place.arn,
                        .host = place.host[0] ? place.host : NULL,
                        .reserved_cpu = place.cpu,
                        .reserved_memory = place.memory,
                        .capacity_provider_name = provider,
                        .enable_execute_command = json_is_true(json_object_get(rev, "enableExecuteCommand")),
                };
                json_auto_t *task = NULL;
                if (rt_lifecycle_run(d->lc, &req, &task, &e) < 0) {
                        log_error("daemons", "\"cannot start a task\" daemon=%s error=\"%s\"", name, e.msg);
                        break;
                }
                log_info("daemons", "\"daemon task started\" daemon=%s task=%s instance=%s", name,
                         arn_tail(ecs_json_str(task, "taskArn", "")), place.arn);
                started++;
        }
        rt_instances_place_unlock(d->instances);
        return started;
}

/* Read the daemon's live tasks with the instance each one is on. `v` gets json_array_size(*tasks) entries. */
static struct dtask *tasks_read(struct rt_daemons *d, const char *region, const char *cluster, const char *group,
                                json_t **tasks, json_t **places) {
        *tasks = rt_lifecycle_tasks(d->lc, region, cluster, group);
        json_auto_t *placed = NULL;
        struct err e = {0};
        *places = json_object();
        if (rt_task_placements(d->store, &placed, &e) < 0)
                log_error("daemons", "\"cannot read task placements\" error=\"%s\"", e.msg);
        size_t i;
        const json_t *p;
        json_array_foreach(placed, i, p) {
                if (str_eq(ecs_json_str(p, "group", ""), group) && str_eq(ecs_json_str(p, "region", ""), region) &&
                    str_eq(ecs_json_str(p, "cluster", ""), cluster))
                        json_object_set_new(*places, ecs_json_str(p, "id", ""),
                                            json_string(ecs_json_str(p, "instance", "")));
        }
        size_t n = json_array_size(*tasks);
        struct dtask *v = xcalloc(n ? n : 1, sizeof(*v));
        const json_t *t;
        json_array_foreach(*tasks, i, t) {
                v[i].task = t;
                v[i].id = ecs_json_str(t, "id", "");
                v[i].rev = ecs_json_str(t, "startedBy", "");
                v[i].instance = json_string_value(json_object_get(*places, v[i].id));
                if (!v[i].instance)
                        v[i].instance = "";
                v[i].asked = str_eq(ecs_json_str(t, "desiredStatus", ""), "RUNNING");
                v[i].running = str_eq(ecs_json_str(t, "lastStatus", ""), "RUNNING");
        }
        return v;
}

/* Counts of the daemon from its tasks now: per revision id {"running": RUNNING asked tasks}, and for the target the
 * instances running it and those draining (an old task stopping there, or the new one not yet RUNNING). */
static void recount(json_t *doc, json_t *dep, const char *target, const struct dtask *v, size_t n,
                    int64_t eligible, bool *ret_done) {
        json_auto_t *per_rev = json_object();
        json_auto_t *draining = json_object(); /* instance -> true */
        int64_t target_running = 0;
        bool others = false;
        for (size_t i = 0; i < n; i++) {
                bool mine = target && str_eq(v[i].rev, target);
                if (v[i].asked && v[i].running) {
                        json_t *c = json_object_get(per_rev, v[i].rev);
                        json_object_set_new(per_rev, v[i].rev, json_integer(json_integer_value(c) + 1));
                        if (mine)
                                target_running++;
                }
                if (!mine)
                        others = true;
                if ((!v[i].asked || (mine && !v[i].running)) && v[i].instance[0])
                        json_object_set_new(draining, v[i].instance, json_true());
        }
        *ret_done = target ? (!others && target_running == (eligible > 0 ? eligible : 0)) : n == 0;

        const char *daemon_arn = ecs_json_str(doc, "daemonArn", "");
        const char *prefix_end = strstr(daemon_arn, ":daemon/");
        json_t *current = json_array();
        const char *id;
        json_t *count;
        /* The target first, then the others (in id order: oldest first). */
        if (target && !json_object_get(per_rev, target))
                json_object_set_new(per_rev, target, json_integer(0));
        for (int pass = 0; pass < 2; pass++)
                json_object_foreach(per_rev, id, count) {
                        if ((pass == 0) != (target && str_eq(id, target)))
                                continue;
                        char arn[ECS_ARN_MAX];
                        str_printf(arn, sizeof(arn), "%.*s:daemon-revision/%s/%s",
                                   prefix_end ? (int) (prefix_end - daemon_arn) : 0, daemon_arn,
                                   prefix_end ? prefix_end + strlen(":daemon/") : "", id);
                        json_t *providers = providers_detail(doc, false);
                        json_object_set_new(json_array_get(providers, 0), "runningCount", json_incref(count));
                        json_array_append_new(current, json_pack("{s:s, s:o, s:O}", "arn", arn, "capacityProviders",
                                                                 providers, "totalRunningCount", count));
                }
        json_object_set_new(doc, "currentRevisions", current);

        json_t *tgt = json_object_get(dep, "targetDaemonRevision");
        if (tgt) {
                json_object_set_new(tgt, "totalRunningInstanceCount", json_integer(target_running));
                json_object_set_new(tgt, "totalDrainingInstanceCount", json_integer((json_int_t) json_object_size(draining)));
                json_t *p0 = json_array_get(json_object_get(tgt, "capacityProviders"), 0);
                if (p0) {
                        json_object_set_new(p0, "runningInstanceCount", json_integer(target_running));
                        json_object_set_new(p0, "drainingInstanceCount",
                                            json_integer((json_int_t) json_object_size(draining)));
                }
        }
        /* The revisions being replaced (listed when the deployment was made), as they drain. */
        size_t k;
        json_t *src;
        json_array_foreach(json_object_get(dep, "sourceDaemonRevisions"), k, src) {
                const char *sid = arn_tail(ecs_json_str(src, "arn", ""));
                int64_t running = 0, stopping = 0;
                for (size_t i = 0; i < n; i++) {
                        if (!str_eq(v[i].rev, sid))
                                continue;
                        running += v[i].asked && v[i].running;
                        stopping += !v[i].asked;
                }
                json_object_set_new(src, "totalRunningInstanceCount", json_integer(running));
                json_object_set_new(src, "totalDrainingInstanceCount", json_integer(stopping));
                json_t *p0 = json_array_get(json_object_get(src, "capacityProviders"), 0);
                if (p0) {
                        json_object_set_new(p0, "runningInstanceCount", json_integer(running));
                        json_object_set_new(p0, "drainingInstanceCount", json_integer(stopping));
                }
        }
}

static void daemon_pass(struct rt_daemons *d, const char *region, const char *cluster, const char *name,
                        json_t *starting) {
        struct err e = {0};
        json_auto_t *doc = NULL;
        char key[2 * ECS_NAME_MAX + 2];
        daemon_key(key, sizeof(key), cluster, name);
        int r = rt_record_get(d->store, region, RT_DAEMON_KIND, key, &doc, &e);
        if (r == -ENOENT) {
                char ikey[ECS_REGION_MAX + 2 * ECS_NAME_MAX + 4];
                str_printf(ikey, sizeof(ikey), "%s/%s/%s", region, cluster, name);
                rt_record_delete(d->store, INDEX_REGION, INDEX_KIND, ikey, &e);
                return;
        }
        if (r < 0) {
                log_error("daemons", "\"cannot read a daemon\" daemon=%s error=\"%s\"", name, e.msg);
                return;
        }
        json_auto_t *before = json_deep_copy(doc);
        const char *dep_id = arn_tail(ecs_json_str(doc, "deploymentArn", ""));
        json_auto_t *dep = NULL;
        if (rt_record_get(d->store, region, RT_DAEMON_DEPLOYMENT_KIND, dep_id, &dep, &e) < 0) {
                log_error("daemons", "\"cannot read a daemon deployment\" daemon=%s error=\"%s\"", name, e.msg);
                return;
        }
        json_auto_t *dep_before = json_deep_copy(dep);
        bool deleting = str_eq(ecs_json_str(doc, "status", ""), "DELETE_IN_PROGRESS");
        const char *rev_id = arn_tail(ecs_json_str(doc, "revisionArn", ""));
        const char *target = deleting ? NULL : rev_id;
        json_auto_t *rev = NULL;
        if (target && rt_record_get(d->store, region, RT_DAEMON_REVISION_KIND, target, &rev, &e) < 0) {
                log_error("daemons", "\"cannot read a daemon revision\" daemon=%s error=\"%s\"", name, e.msg);
                return;
        }
        struct ecs_arn arn;
        if (ecs_arn_parse(ecs_json_str(doc, "daemonArn", ""), &arn, &e) < 0)
                return;
        char group[ECS_NAME_MAX + 16];
        str_printf(group, sizeof(group), RT_DAEMON_GROUP_PREFIX "%s", name);

        /* The instances as the DAEMON scheduling strategy sees them (instances.h). */
        int64_t eligible = 0;
        json_auto_t *leaving = NULL;
        if (d->instances && rt_instances_service_state(d->instances, region, arn.account, cluster, group, true, NULL,
                                                       &eligible, &leaving, &e) < 0) {
                log_error("daemons", "\"cannot read the container instances\" daemon=%s error=\"%s\"", name, e.msg);
                return;
        }
        if (eligible < 0)
                eligible = 0;

        json_auto_t *tasks = NULL, *places = NULL;
        struct dtask *v = tasks_read(d, region, cluster, group, &tasks, &places);
        size_t n = json_array_size(tasks);

        /* Deleted daemon: every task goes. Otherwise tasks on leaving instances, and a second task on an instance. */
        json_auto_t *held = json_object(); /* instance -> true: it keeps an asked task */
        for (size_t i = 0; i < n; i++) {
                if (!v[i].asked)
                        continue;
                if (deleting || json_object_get(leaving, v[i].id))
                        v[i].stop = true;
        }
        /* Keep the target's task on an instance before any other (one per instance). */
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < n; i++) {
                        if (!v[i].asked || v[i].stop || !v[i].instance[0] || (pass == 0) != str_eq(v[i].rev, target ? target : ""))
                                continue;
                        if (json_object_get(held, v[i].instance))
                                v[i].stop = true;
                        else
                                json_object_set_new(held, v[i].instance, json_true());
                }
        stop_marked(d, name, v, n, deleting ? "Daemon deleted." : "Container instance is not ACTIVE.");

        /* Roll: old revisions' tasks go, `batch` instances at a time. */
        if (target) {
                double drain = DRAIN_DEFAULT;
                const json_t *dp = json_object_get(json_object_get(doc, "deploymentConfiguration"), "drainPercent");
                if (json_is_number(dp))
                        drain = json_number_value(dp);
                int64_t batch = (int64_t) ((double) eligible * drain / 100.0); /* floor: both are >= 0 */
                if (batch < 1)
                        batch = 1;
                /* An instance is in flight unless a task asked to run is RUNNING there: its old task stopping,
                 * its new one not yet launched (the old one just STOPPED) or not yet RUNNING. */
                json_auto_t *serving = json_object();
                for (size_t i = 0; i < n; i++)
                        if (v[i].asked && !v[i].stop && v[i].running && v[i].instance[0])
                                json_object_set_new(serving, v[i].instance, json_true());
                int64_t budget = batch - (eligible - (int64_t) json_object_size(serving));
                /* Old tasks not RUNNING go at once (their instance is in flight already), then RUNNING ones. */
                for (int pass = 0; pass < 2; pass++)
                        for (size_t i = 0; i < n; i++) {
                                if (!v[i].asked || v[i].stop || str_eq(v[i].rev, target) || (pass == 0) == v[i].running)
                                        continue;
                                if (pass == 1 && budget <= 0)
                                        break;
                                v[i].stop = true;
                                if (pass == 1)
                                        budget--;
                        }
                char reason[128];
                str_printf(reason, sizeof(reason), "Daemon deployment %s replaces the task.", dep_id);
                stop_marked(d, name, v, n, reason);
                if (d->instances)
                        launch_missing(d, region, arn.account, doc, group, rev, eligible);
        }
        free(v);

        /* Counts and the deployment's state from what the lifecycle now holds. */
        json_decref(tasks);
        json_decref(places);
        v = tasks_read(d, region, cluster, group, &tasks, &places);
        n = json_array_size(tasks);
        bool done = false;
        recount(doc, dep, target, v, n, eligible, &done);
        for (size_t i = 0; i < n; i++)
                if (v[i].asked && !v[i].running && v[i].instance[0])
                        json_object_set_new(starting, v[i].instance, json_true());
        free(v);
        if (done && str_eq(ecs_json_str(dep, "status", ""), "IN_PROGRESS")) {
                json_object_set_new(dep, "status", json_string("SUCCESSFUL"));
                json_object_set_new(dep, "statusReason",
                                    json_string(target ? "Daemon deployment completed." : "Daemon deleted."));
                json_object_set_new(dep, "finishedAt", ecs_timestamp_now());
                log_info("daemons", "\"daemon deployment successful\" daemon=%s deployment=%s", name, dep_id);
        }
        if (!json_equal(dep, dep_before) &&
            rt_record_put(d->store, region, RT_DAEMON_DEPLOYMENT_KIND, dep_id, dep, &e) < 0)
                log_error("daemons", "\"cannot save a daemon deployment\" daemon=%s error=\"%s\"", name, e.msg);
        if (deleting && done) {
                /* Gone: the deployments and revisions stay describable. */
                char ikey[ECS_REGION_MAX + 2 * ECS_NAME_MAX + 4];
                str_printf(ikey, sizeof(ikey), "%s/%s/%s", region, cluster, name);
                if (rt_record_delete(d->store, region, RT_DAEMON_KIND, key, &e) < 0 && e.code)
                        log_error("daemons", "\"cannot forget a daemon\" daemon=%s error=\"%s\"", name, e.msg);
                rt_record_delete(d->store, INDEX_REGION, INDEX_KIND, ikey, &e);
                log_info("daemons", "\"daemon deleted\" daemon=%s cluster=%s", name, cluster);
                return;
        }
        if (!json_equal(doc, before) && rt_record_put(d->store, region, RT_DAEMON_KIND, key, doc, &e) < 0)
                log_error("daemons", "\"cannot save a daemon\" daemon=%s error=\"%s\"", name, e.msg);
}

void rt_daemons_pass(struct rt_daemons *d) {
        if (!d)
                return;
        pthread_mutex_lock(&d->lock);
        json_t *starting = json_object();
        char after[ECS_PAGE_KEY_MAX] = "";
        for (;;) {
                json_auto_t *page = NULL;
                struct err e = {0};
                if (rt_record_list(d->store, INDEX_REGION, INDEX_KIND, after, PAGE, &page, &e) < 0) {
                        log_error("daemons", "\"cannot list daemons\" error=\"%s\"", e.msg);
                        break;
                }
                size_t i;
                const json_t *r;
                json_array_foreach(page, i, r) {
                        const json_t *doc = json_object_get(r, "doc");
                        daemon_pass(d, ecs_json_str(doc, "region", ""), ecs_json_str(doc, "cluster", ""),
                                    ecs_json_str(doc, "name", ""), starting);
                }
                if (json_array_size(page) < PAGE)
                        break;
                str_printf(after, sizeof(after), "%s", ecs_json_str(json_array_get(page, PAGE - 1), "key", ""));
        }
        pthread_mutex_lock(&d->starting_lock);
        json_decref(d->starting);
        d->starting = starting;
        pthread_mutex_unlock(&d->starting_lock);
        pthread_mutex_unlock(&d->lock);
}

bool rt_daemons_instance_starting(struct rt_daemons *d, const char *instance_arn) {
        if (!d || !instance_arn || !instance_arn[0])
                return false;
        pthread_mutex_lock(&d->starting_lock);
        bool r = json_object_get(d->starting, instance_arn) != NULL;
        pthread_mutex_unlock(&d->starting_lock);
        return r;
}
