/* scheduler.c — keeps each REPLICA service's desiredCount of tasks running, rolls deployments, drains deleted
 * services (see scheduler.h, docs/internals/scheduler.md).
 *
 * Threads and locks:
 * - `lock` serialises every read-modify-write of a stored service: the API's create/update/delete and the
 *   scheduler's passes. It is held while the scheduler calls rt_lifecycle_run/rt_lifecycle_stop, which take the
 *   lifecycle's lock: the order is `lock`, then the lifecycle's lock, then `wake_lock`.
 * - `wake_lock` guards the wake-up state (`dirty`, the queue of task changes, `shutdown`, the next timer). The
 *   lifecycle calls on_change with its own lock held; on_change takes only `wake_lock` and never blocks on anything
 *   else, so it cannot deadlock with a pass that holds `lock` and calls into the lifecycle.
 * - one scheduler thread runs the passes: woken by a task change of a service's task, by an API call, by a timer
 *   (a launch back-off, a health-check grace period) or by the safety sweep. A pass for task changes and API calls
 *   covers only the services they name; timers, the sweep and the first pass cover all.
 *
 * Invariants of a pass, per service (counted from rt_lifecycle_tasks, never from samples of the store):
 * - the PRIMARY deployment has desiredCount tasks that are asked to run; extra ones are stopped
 *   (ServiceSchedulerInitiated);
 * - every task of the service not yet STOPPED, stopping ones included, counts against the ceiling
 *   floor(desired × maximumPercent / 100); a pass never starts a task above it;
 * - a task of an older deployment is stopped only while the healthy tasks left (RUNNING, and HEALTHY when the
 *   definition has a health check, else RUNNING for healthy_after_ms) stay at or above
 *   ceil(desired × minimumHealthyPercent / 100); one that is not running (or is unhealthy) is stopped at once;
 * - an older deployment with no task left leaves deployments[]; a DRAINING service with no task left is INACTIVE. */
#include "scheduler.h"

#include <inttypes.h>
#include <string.h>

#include "capacity.h"
#include "daemons.h"
#include "ecs.h"
#include "tasksets.h"

#define SWEEP_DEFAULT_MS (30 * 1000)
#define EVENTS_MAX 100
#define BACKOFF_MAX_MS (60 * 1000)
#define CHANGES_MAX 10000
#define SERVICE_DEPLOYMENTS_MAX 50

struct rt_scheduler {
        struct rt_store *store;
        struct rt_lifecycle *lc;
        struct rt_instances *instances; /* may be NULL: tasks are then placed nowhere in particular */
        int64_t sweep_ms;
        int64_t healthy_after_ms;
        bool one_host;

        pthread_mutex_t lock; /* service read-modify-write (see the top of this file) */

        pthread_mutex_t wake_lock;
        pthread_cond_t wake;
        bool dirty;            /* a pass is due */
        bool dirty_all;        /* ... over every service (else only those in dirty_keys) */
        json_t *dirty_keys;    /* service_key() -> true: the services a change or a call concerned */
        bool ports_waiting;    /* a service could not place a task: any task's stop may free its port */
        bool shutdown;
        json_t *changes;       /* task changes of services' tasks not yet seen by a pass */
        int64_t next_timer_ms; /* monotonic; 0: none */
        pthread_t thread;
        bool thread_started;
        struct rt_daemons *daemons; /* the daemons this thread drives (daemons.h) */
        bool daemons_due;           /* a daemon's task changed (wake_lock); a full pass runs them too */
};

/* ---- small helpers ---- */

/* A deployment id as ECS writes them: "ecs-svc/" and 19 digits. */
static void deployment_id_new(char out[32]) {
        uint64_t v;
        random_bytes(&v, sizeof(v));
        v = 1000000000000000000ULL + v % 8000000000000000000ULL;
        str_printf(out, 32, "ecs-svc/%" PRIu64, v);
}

/* Newest first, at most EVENTS_MAX (ECS's cap). */
static void add_event(json_t *doc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_event(json_t *doc, const char *fmt, ...) {
        char msg[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        char id[37];
        uuid_v4(id);
        json_t *events = json_object_get(doc, "events");
        if (!json_is_array(events)) {
                events = json_array();
                json_object_set_new(doc, "events", events);
        }
        json_array_insert_new(events, 0, json_pack("{s:s, s:o, s:s}", "id", id, "createdAt", ecs_timestamp_now(),
                                                   "message", msg));
        while (json_array_size(events) > EVENTS_MAX)
                json_array_remove(events, json_array_size(events) - 1);
        log_info("scheduler", "\"service event\" message=\"%s\"", msg);
}

/* What a deployment runs besides its task definition: the members of the Service it copies, and those of the
 * private record's `config` (the inputs the Service shape has no member for: serviceConnectConfiguration,
 * volumeConfigurations). */
static const char *const deployed_service_members[] = {"launchType", "capacityProviderStrategy", "platformVersion",
                                                       "networkConfiguration"};
static const char *const deployed_config_members[] = {"serviceConnectConfiguration", "volumeConfigurations",
                                                      "vpcLatticeConfigurations"};

static json_t *deployment_new(const json_t *svc, const json_t *priv, const char *taskdef, int64_t desired) {
        char id[32];
        deployment_id_new(id);
        char reason[96];
        str_printf(reason, sizeof(reason), "ECS deployment %s in progress.", id);
        json_t *now = ecs_timestamp_now();
        json_t *d = json_pack("{s:s, s:s, s:s, s:I, s:i, s:i, s:i, s:O, s:O, s:s, s:s}", "id", id, "status",
                              "PRIMARY", "taskDefinition", taskdef, "desiredCount", (json_int_t) desired,
                              "pendingCount", 0, "runningCount", 0, "failedTasks", 0, "createdAt", now, "updatedAt",
                              now, "rolloutState", "IN_PROGRESS", "rolloutStateReason", reason);
        json_decref(now);
        for (size_t i = 0; i < ARRAY_SIZE(deployed_service_members); i++) {
                json_t *v = json_object_get(svc, deployed_service_members[i]);
                if (v)
                        json_object_set_new(d, deployed_service_members[i], json_deep_copy(v));
        }
        const json_t *config = json_object_get(priv, "config");
        for (size_t i = 0; i < ARRAY_SIZE(deployed_config_members); i++) {
                json_t *v = json_object_get(config, deployed_config_members[i]);
                if (v)
                        json_object_set_new(d, deployed_config_members[i], json_deep_copy(v));
        }
        return d;
}

/* ---- service deployments (ListServiceDeployments, DescribeServiceDeployments) ----
 * Kept in the service's private record: priv.serviceDeployments, newest first, at most SERVICE_DEPLOYMENTS_MAX, each
 * {"id", "deployment": ecs-svc/N, "createdAt", "startedAt", "updatedAt", "status", "statusReason"?, "finishedAt"?,
 * "stoppedAt"?, "sources": [deployment ids], "rollback"?, "deploymentConfiguration"}; priv.revisions maps each
 * deployment id to its service revision number (19 digits). */

static void revision_digits(char out[24]) {
        uint64_t v;
        random_bytes(&v, sizeof(v));
        str_printf(out, 24, "%" PRIu64, (uint64_t) (1000000000000000000ULL + v % 8000000000000000000ULL));
}

/* 22 url-safe characters, as ECS's service deployment ids. */
static void service_deployment_id(char out[24]) {
        static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        unsigned char raw[22];
        random_bytes(raw, sizeof(raw));
        for (size_t i = 0; i < sizeof(raw); i++)
                out[i] = abc[raw[i] & 63];
        out[22] = '\0';
}

static json_t *records(json_t *priv) {
        json_t *list = json_object_get(priv, "serviceDeployments");
        if (!json_is_array(list)) {
                list = json_array();
                json_object_set_new(priv, "serviceDeployments", list);
        }
        return list;
}

/* The service deployment record of id `record_id` (the last part of its ARN), or NULL. */
static json_t *record_find(json_t *priv, const char *record_id) {
        json_t *found = NULL;
        size_t i;
        json_t *c;
        json_array_foreach(records(priv), i, c) if (str_eq(ecs_json_str(c, "id", ""), record_id)) found = c;
        return found;
}

/* Move records in `from` status to `to` (finished: finishedAt/stoppedAt), with `reason` when not NULL. */
static void records_move(json_t *priv, const char *from, const char *to, const char *reason, bool stopped) {
        size_t i;
        json_t *r;
        json_array_foreach(records(priv), i, r) {
                if (!str_eq(ecs_json_str(r, "status", ""), from))
                        continue;
                json_object_set_new(r, "status", json_string(to));
                if (reason)
                        json_object_set_new(r, "statusReason", json_string(reason));
                json_object_set_new(r, "updatedAt", ecs_timestamp_now());
                json_object_set_new(r, "finishedAt", ecs_timestamp_now());
                if (stopped)
                        json_object_set_new(r, "stoppedAt", ecs_timestamp_now());
        }
}

/* The containerImages of a service revision: each container's name and image, read from the task definition. */
static json_t *container_images(struct rt_store *store, const char *region, const char *tdarn) {
        json_t *out = json_array();
        char family[ECS_NAME_MAX + 1];
        int64_t rev;
        struct err e = {0};
        json_auto_t *td = NULL;
        if (ecs_taskdef_arn_parse(tdarn, family, &rev, &e) < 0 || rt_taskdef_get(store, region, family, rev, &td, &e) < 0)
                return out;
        size_t i;
        const json_t *c;
        json_array_foreach(json_object_get(td, "containerDefinitions"), i, c)
                json_array_append_new(out, json_pack("{s:s, s:s}", "containerName", ecs_json_str(c, "name", ""),
                                                     "image", ecs_json_str(c, "image", "")));
        return out;
}

/* The service revision of deployment `dep` (what it runs), newest first in priv.serviceRevisions, at most
 * SERVICE_DEPLOYMENTS_MAX: {"id": 19 digits, "deployment", "createdAt", "taskDefinition", "containerImages", the
 * deployment's launch, network, Service Connect and volume members, the service's loadBalancers and
 * serviceRegistries}. DescribeServiceRevisions adds the ARNs. */
static void revision_new(struct rt_store *store, const char *region, const json_t *doc, json_t *priv,
                         const json_t *dep, const char *digits) {
        const char *tdarn = ecs_json_str(dep, "taskDefinition", "");
        json_t *rev = json_pack("{s:s, s:s, s:o, s:s, s:o}", "id", digits, "deployment", ecs_json_str(dep, "id", ""),
                                "createdAt", ecs_timestamp_now(), "taskDefinition", tdarn, "containerImages",
                                container_images(store, region, tdarn));
        for (size_t i = 0; i < ARRAY_SIZE(deployed_service_members); i++) {
                json_t *v = json_object_get(dep, deployed_service_members[i]);
                if (v)
                        json_object_set_new(rev, deployed_service_members[i], json_deep_copy(v));
        }
        for (size_t i = 0; i < ARRAY_SIZE(deployed_config_members); i++) {
                json_t *v = json_object_get(dep, deployed_config_members[i]);
                if (v)
                        json_object_set_new(rev, deployed_config_members[i], json_deep_copy(v));
        }
        static const char *const from_service[] = {"loadBalancers", "serviceRegistries"};
        for (size_t i = 0; i < ARRAY_SIZE(from_service); i++) {
                json_t *v = json_object_get(doc, from_service[i]);
                if (v)
                        json_object_set_new(rev, from_service[i], json_deep_copy(v));
        }
        json_t *list = json_object_get(priv, "serviceRevisions");
        if (!json_is_array(list)) {
                list = json_array();
                json_object_set_new(priv, "serviceRevisions", list);
        }
        json_array_insert_new(list, 0, rev);
        while (json_array_size(list) > SERVICE_DEPLOYMENTS_MAX)
                json_array_remove(list, json_array_size(list) - 1);
}

/* A new service deployment (and service revision) for deployment `dep`, the others in `deps` its sources. */
static void record_new(struct rt_store *store, const char *region, json_t *doc, json_t *priv, const json_t *dep,
                       const json_t *deps) {
        json_t *revs = json_object_get(priv, "revisions");
        if (!json_is_object(revs)) {
                revs = json_object();
                json_object_set_new(priv, "revisions", revs);
        }
        char rev[24], id[24];
        revision_digits(rev);
        service_deployment_id(id);
        const char *dep_id = ecs_json_str(dep, "id", "");
        json_object_set_new(revs, dep_id, json_string(rev));
        revision_new(store, region, doc, priv, dep, rev);
        json_t *sources = json_array();
        size_t i;
        const json_t *d;
        json_array_foreach(deps, i, d) if (d != dep) json_array_append_new(sources,
                                                                            json_string(ecs_json_str(d, "id", "")));
        json_t *now = ecs_timestamp_now();
        json_t *r = json_pack("{s:s, s:s, s:O, s:O, s:O, s:s, s:o, s:O}", "id", id, "deployment", dep_id, "createdAt",
                              now, "startedAt", now, "updatedAt", now, "status", "IN_PROGRESS", "sources", sources,
                              "deploymentConfiguration", json_object_get(doc, "deploymentConfiguration"));
        json_decref(now);
        json_t *list = records(priv);
        json_array_insert_new(list, 0, r);
        while (json_array_size(list) > SERVICE_DEPLOYMENTS_MAX)
                json_array_remove(list, json_array_size(list) - 1);
        /* serviceArn is arn:...:service/CLUSTER/NAME: the deployment's ARN is service-deployment/CLUSTER/NAME/ID. */
        const char *sarn = ecs_json_str(doc, "serviceArn", "");
        const char *colon = strstr(sarn, ":service/");
        if (colon) {
                char arn[ECS_ARN_MAX];
                str_printf(arn, sizeof(arn), "%.*s:service-deployment/%s/%s", (int) (colon - sarn), sarn,
                           colon + strlen(":service/"), id);
                json_object_set_new(doc, "currentServiceDeployment", json_string(arn));
        }
}

/* The Service's currentServiceRevisions: the service revision of each deployment in deployments[], with its task
 * counts. */
static void current_revisions(json_t *doc, const json_t *priv) {
        const char *sarn = ecs_json_str(doc, "serviceArn", "");
        const char *colon = strstr(sarn, ":service/");
        if (!colon)
                return;
        json_t *list = json_array();
        size_t i;
        const json_t *d;
        json_array_foreach(json_object_get(doc, "deployments"), i, d) {
                const char *digits = ecs_json_str(json_object_get(priv, "revisions"), ecs_json_str(d, "id", ""), NULL);
                if (!digits)
                        continue;
                char arn[ECS_ARN_MAX];
                str_printf(arn, sizeof(arn), "%.*s:service-revision/%s/%s", (int) (colon - sarn), sarn,
                           colon + strlen(":service/"), digits);
                json_array_append_new(list, json_pack("{s:s, s:I, s:I, s:I}", "arn", arn, "requestedTaskCount",
                                                      (json_int_t) ecs_json_int_or(d, "desiredCount", 0), "runningTaskCount",
                                                      (json_int_t) ecs_json_int_or(d, "runningCount", 0), "pendingTaskCount",
                                                      (json_int_t) ecs_json_int_or(d, "pendingCount", 0)));
        }
        json_object_set_new(doc, "currentServiceRevisions", list);
}

/* ---- waking ----
 * A pass reconciles only the services something happened to (a task change, an API call), so that the cost of a
 * change does not grow with the number of services; timers, the sweep, a restart and rt_scheduler_wake reconcile
 * every service. */

static void service_key(char *buf, size_t size, const char *region, const char *cluster, const char *name) {
        str_printf(buf, size, "%s/%s/%s", region, cluster, name);
}

void rt_scheduler_wake(struct rt_scheduler *s) {
        pthread_mutex_lock(&s->wake_lock);
        s->dirty = true;
        s->dirty_all = true;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->wake_lock);
}

/* Wake for one service (s->wake_lock not held). */
static void wake_one(struct rt_scheduler *s, const char *region, const char *cluster, const char *name) {
        char key[ECS_REGION_MAX + 2 * ECS_NAME_MAX + 8];
        service_key(key, sizeof(key), region, cluster, name);
        pthread_mutex_lock(&s->wake_lock);
        s->dirty = true;
        json_object_set_new(s->dirty_keys, key, json_true());
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->wake_lock);
}

/* A daemon's task changed: a pass is due, with the daemons' (daemons.h). A full pass (rt_scheduler_wake: the API's
 * daemon calls, instance and node changes; timers, the sweep) runs them too; a service's task change does not
 * (s->wake_lock not held). */
static bool daemon_change(struct rt_scheduler *s, const struct rt_task_change *ch) {
        if (strncmp(ch->group, RT_DAEMON_GROUP_PREFIX, strlen(RT_DAEMON_GROUP_PREFIX)) != 0)
                return false;
        pthread_mutex_lock(&s->wake_lock);
        s->dirty = true;
        s->daemons_due = true;
        /* A daemon task now RUNNING may let a service place a task it held back (daemon_first): once per task. */
        if (str_eq(ch->last_status, "RUNNING"))
                s->dirty_all = true;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->wake_lock);
        return true;
}

/* The lifecycle's subscriber: called with the lifecycle's lock held (lifecycle.h). Only notes the change. */
static void on_change(void *userdata, const struct rt_task_change *ch) {
        struct rt_scheduler *s = userdata;
        if (daemon_change(s, ch))
                return;
        if (strncmp(ch->group, "service:", 8) != 0)
                return;
        pthread_mutex_lock(&s->wake_lock);
        if (json_array_size(s->changes) < CHANGES_MAX)
                json_array_append_new(s->changes,
                                      json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s?}", "region", ch->region,
                                                "cluster", ch->cluster, "name", ch->group + 8, "task", ch->task_id,
                                                "lastStatus", ch->last_status, "startedBy", ch->started_by,
                                                "stopCode", ch->stop_code));
        char key[ECS_REGION_MAX + 2 * ECS_NAME_MAX + 8];
        service_key(key, sizeof(key), ch->region, ch->cluster, ch->group + 8);
        json_object_set_new(s->dirty_keys, key, json_true());
        if (s->ports_waiting && str_eq(ch->last_status, "STOPPED"))
                s->dirty_all = true;
        s->dirty = true;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->wake_lock);
}

/* Ask for a pass no later than `at_ms` (monotonic). */
static void timer_at(struct rt_scheduler *s, int64_t at_ms) {
        pthread_mutex_lock(&s->wake_lock);
        if (!s->next_timer_ms || at_ms < s->next_timer_ms)
                s->next_timer_ms = at_ms;
        pthread_mutex_unlock(&s->wake_lock);
}

/* ---- one service ---- */

struct view {
        const json_t *task;
        const json_t *dep; /* its deployment in doc.deployments, or NULL (an orphan: stopped) */
        bool asked;        /* desiredStatus RUNNING */
        bool running;
        bool up;           /* asked, RUNNING, and HEALTHY when it has a health check: what steady state counts */
        bool healthy;      /* up, and without a health check RUNNING for healthy_after_ms: what the floor counts */
        int64_t settles_ms; /* up but not yet healthy: when it will be (epoch ms) */
        bool stop;         /* chosen to stop in this pass */
};

static json_t *deployment_of(const json_t *deps, const char *started_by) {
        size_t i;
        json_t *d;
        json_array_foreach(deps, i, d) if (str_eq(ecs_json_str(d, "id", NULL), started_by)) return d;
        return NULL;
}

static void classify(const json_t *tasks, const json_t *deps, int64_t healthy_after_ms, struct view *v) {
        int64_t now_ms = time_now_ms();
        size_t i;
        const json_t *t;
        json_array_foreach(tasks, i, t) {
                v[i] = (struct view){.task = t};
                v[i].dep = deployment_of(deps, ecs_json_str(t, "startedBy", NULL));
                v[i].asked = str_eq(ecs_json_str(t, "desiredStatus", ""), "RUNNING");
                v[i].running = str_eq(ecs_json_str(t, "lastStatus", ""), "RUNNING");
                bool check = json_is_true(json_object_get(t, "healthCheck"));
                v[i].up = v[i].asked && v[i].running &&
                          (!check || str_eq(ecs_json_str(t, "healthStatus", ""), "HEALTHY"));
                v[i].healthy = v[i].up;
                if (v[i].up && !check && healthy_after_ms > 0) {
                        const json_t *started = json_object_get(t, "startedAt");
                        int64_t since_ms = json_is_number(started) ? (int64_t) (json_number_value(started) * 1000) : 0;
                        if (now_ms < since_ms + healthy_after_ms) {
                                v[i].healthy = false;
                                v[i].settles_ms = since_ms + healthy_after_ms;
                        }
                }
        }
}

/* Apply the queued task changes of this service to its deployments. A task that failed to start, or whose essential
 * container exited (a crash loop), counts in its deployment's failedTasks (what the circuit breaker reads) and delays
 * the service's next launch (1 s, doubling, at most a minute); a task that reaches RUNNING ends the delay. */
static void apply_changes(json_t *doc, json_t *priv, const json_t *changes) {
        size_t i;
        const json_t *c;
        json_array_foreach(changes, i, c) {
                json_t *dep = deployment_of(json_object_get(doc, "deployments"), ecs_json_str(c, "startedBy", NULL));
                if (!dep)
                        continue;
                const char *status = ecs_json_str(c, "lastStatus", "");
                const char *code = ecs_json_str(c, "stopCode", "");
                if (str_eq(status, "RUNNING")) {
                        json_object_del(priv, "backoffUntil");
                        json_object_del(priv, "failures");
                } else if (str_eq(status, "STOPPED") &&
                           (str_eq(code, "TaskFailedToStart") || str_eq(code, "EssentialContainerExited"))) {
                        json_object_set_new(dep, "failedTasks", json_integer(ecs_json_int_or(dep, "failedTasks", 0) + 1));
                        int64_t failures = ecs_json_int_or(priv, "failures", 0) + 1;
                        json_object_set_new(priv, "failures", json_integer(failures));
                        int64_t delay = 1000;
                        for (int64_t k = 1; k < failures && delay < BACKOFF_MAX_MS; k++)
                                delay *= 2;
                        if (delay > BACKOFF_MAX_MS)
                                delay = BACKOFF_MAX_MS;
                        json_object_set_new(priv, "backoffUntil", json_integer(time_now_ms() + delay));
                }
        }
}

/* Make the last COMPLETED deployment `last` ({"id", "taskDefinition"}) PRIMARY again under its own id (as ECS reports
 * a rollback), with `why` as its rolloutStateReason; the PRIMARY it replaces becomes ACTIVE and drains. The service
 * deployment records in status `from` become ROLLBACK_IN_PROGRESS. */
static void roll_back(json_t *doc, json_t *priv, const char *name, int64_t desired, const json_t *last,
                      const char *why, const char *from) {
        json_t *deps = json_object_get(doc, "deployments");
        json_t *primary = json_array_get(deps, 0);
        const char *last_id = ecs_json_str(last, "id", "");
        json_t *back = NULL;
        size_t i;
        json_t *d;
        json_array_foreach(deps, i, d) if (str_eq(ecs_json_str(d, "id", NULL), last_id)) {
                back = json_incref(d);
                json_array_remove(deps, i);
                break;
        }
        if (!back) {
                back = deployment_new(doc, priv, ecs_json_str(last, "taskDefinition", ""), desired);
                json_object_set_new(back, "id", json_string(last_id));
        }
        json_object_set_new(back, "status", json_string("PRIMARY"));
        json_object_set_new(back, "rolloutState", json_string("IN_PROGRESS"));
        json_object_set_new(back, "rolloutStateReason", json_string(why));
        json_object_set_new(back, "failedTasks", json_integer(0));
        json_object_set_new(back, "updatedAt", ecs_timestamp_now());
        if (primary)
                json_object_set_new(primary, "status", json_string("ACTIVE"));
        json_object_set_new(doc, "taskDefinition", json_string(ecs_json_str(back, "taskDefinition", "")));
        json_array_insert_new(deps, 0, back);
        json_object_set_new(priv, "steady", json_false());
        json_object_del(priv, "backoffUntil");
        json_object_del(priv, "failures");
        add_event(doc, "(service %s) rolling back to deployment %s.", name, last_id);
        json_t *r;
        json_array_foreach(records(priv), i, r) {
                if (!str_eq(ecs_json_str(r, "status", ""), from))
                        continue;
                json_object_set_new(r, "status", json_string("ROLLBACK_IN_PROGRESS"));
                json_object_set_new(r, "statusReason", json_string(why));
                json_object_set_new(r, "updatedAt", ecs_timestamp_now());
                json_object_set_new(r, "rollback", json_pack("{s:s, s:o, s:s}", "reason", why, "startedAt",
                                                             ecs_timestamp_now(), "deployment", last_id));
        }
}

/* The deployment circuit breaker (ECS controller): once the IN_PROGRESS PRIMARY has failedTasks at the threshold
 * (half the desired count, at least 3, at most 200), it is FAILED; with rollback, the last COMPLETED deployment
 * becomes PRIMARY again under its own id (as ECS reports it), and the failed one drains. */
static void circuit_breaker(json_t *doc, json_t *priv, const char *name, int64_t desired) {
        const json_t *cb = json_object_get(json_object_get(doc, "deploymentConfiguration"), "deploymentCircuitBreaker");
        json_t *deps = json_object_get(doc, "deployments");
        json_t *primary = json_array_get(deps, 0);
        if (!json_is_true(json_object_get(cb, "enable")) || !primary ||
            !str_eq(ecs_json_str(primary, "rolloutState", ""), "IN_PROGRESS"))
                return;
        int64_t threshold = (desired + 1) / 2;
        threshold = threshold < 3 ? 3 : threshold > 200 ? 200 : threshold;
        if (ecs_json_int_or(primary, "failedTasks", 0) < threshold)
                return;
        char failed_id[32];
        str_printf(failed_id, sizeof(failed_id), "%s", ecs_json_str(primary, "id", ""));
        json_object_set_new(primary, "rolloutState", json_string("FAILED"));
        json_object_set_new(primary, "rolloutStateReason",
                            json_string("ECS deployment circuit breaker: tasks failed to start."));
        add_event(doc, "(service %s) (deployment %s) deployment failed: tasks failed to start.", name, failed_id);
        json_object_set_new(priv, "tripped", json_string(failed_id));
        const json_t *last = json_object_get(priv, "lastCompleted");
        const char *last_id = ecs_json_str(last, "id", NULL);
        if (!json_is_true(json_object_get(cb, "rollback")) || !last_id || str_eq(last_id, failed_id)) {
                records_move(priv, "IN_PROGRESS", "STOPPED", "ECS deployment circuit breaker: tasks failed to start.",
                             true);
                return;
        }
        char why[128];
        str_printf(why, sizeof(why), "ECS deployment circuit breaker: rolling back to deploymentId %s.", last_id);
        roll_back(doc, priv, name, desired, last, why, "IN_PROGRESS");
}

/* StopServiceDeployment's requests (rt_scheduler_stop_deployment marked the record): ROLLBACK_REQUESTED brings the
 * last COMPLETED deployment back as PRIMARY, as the circuit breaker's rollback does; STOP_REQUESTED (stopType ABORT)
 * leaves the tasks as they are and starts no more of the PRIMARY (rolloutState FAILED), and the record is STOPPED. */
static void stop_requests(json_t *doc, json_t *priv, const char *name, int64_t desired) {
        json_t *primary = json_array_get(json_object_get(doc, "deployments"), 0);
        size_t i;
        json_t *r;
        json_array_foreach(records(priv), i, r) {
                const char *status = ecs_json_str(r, "status", "");
                if (str_eq(status, "STOP_REQUESTED")) {
                        if (primary && str_eq(ecs_json_str(primary, "id", ""), ecs_json_str(r, "deployment", ""))) {
                                json_object_set_new(primary, "rolloutState", json_string("FAILED"));
                                json_object_set_new(primary, "rolloutStateReason",
                                                    json_string("Service deployment stopped by a user request."));
                                json_object_set_new(primary, "updatedAt", ecs_timestamp_now());
                        }
                        records_move(priv, "STOP_REQUESTED", "STOPPED", "Service deployment stopped by a user request.",
                                     true);
                        return;
                }
                if (str_eq(status, "ROLLBACK_REQUESTED")) {
                        const json_t *last = json_object_get(priv, "lastCompleted");
                        const char *last_id = ecs_json_str(last, "id", "");
                        if (primary && str_eq(ecs_json_str(primary, "id", ""), ecs_json_str(r, "deployment", ""))) {
                                json_object_set_new(primary, "rolloutState", json_string("FAILED"));
                                json_object_set_new(primary, "rolloutStateReason",
                                                    json_string("Service deployment rolled back by a user request."));
                        }
                        char why[128];
                        str_printf(why, sizeof(why), "Service deployment rolled back to deploymentId %s by a user "
                                   "request.", last_id);
                        roll_back(doc, priv, name, desired, last, why, "ROLLBACK_REQUESTED");
                        return;
                }
        }
}

/* ---- deployment lifecycle hooks (ContinueServiceDeployment) ----
 * A service deployment whose deploymentConfiguration has lifecycleHooks walks the stages of a rolling update in
 * order: RECONCILE_SERVICE (only when it starts with more than one ACTIVE revision), PRE_SCALE_UP, SCALE_UP (until
 * the PRIMARY runs its desiredCount), POST_SCALE_UP, the four traffic stages (ecsd has no load balancer: the tasks
 * take traffic as they run, so these stages come one after the other once the PRIMARY is up), CLEAN_UP (the older
 * deployments drain). At each stage a hook names, its detail is added to the record's lifecycleHookDetails:
 * - PAUSE: AWAITING_ACTION until ContinueServiceDeployment (CONTINUE: SUCCEEDED; ROLLBACK: FAILED and the record
 *   ROLLBACK_REQUESTED, which stop_requests() serves), or until its timeoutConfiguration expires (TIMED_OUT, then
 *   its action);
 * - AWS_LAMBDA: ecsd has no Lambda to invoke, so the hook counts as SUCCEEDED at once (docs/internals/scheduler.md).
 * While a hook awaits, nothing past its stage happens: before SCALE_UP no PRIMARY task starts; at any stage the older
 * deployments keep their tasks and the deployment does not complete. Each detail keeps two members of its own,
 * "stage" and "hook" (its index in lifecycleHooks), that the API leaves out. */

static const char *const hook_stages[] = {"RECONCILE_SERVICE",
                                          "PRE_SCALE_UP",
                                          "SCALE_UP",
                                          "POST_SCALE_UP",
                                          "TEST_TRAFFIC_SHIFT",
                                          "POST_TEST_TRAFFIC_SHIFT",
                                          "PRE_PRODUCTION_TRAFFIC_SHIFT",
                                          "PRODUCTION_TRAFFIC_SHIFT",
                                          "POST_PRODUCTION_TRAFFIC_SHIFT",
                                          "CLEAN_UP"};
#define HOOK_STAGE_SCALE_UP 2
#define HOOK_STAGE_CLEAN_UP (ARRAY_SIZE(hook_stages) - 1)

struct hook_hold {
        bool launch; /* no PRIMARY task may start */
        bool drain;  /* the older deployments keep their tasks */
        bool finish; /* the deployment does not complete: a stage before CLEAN_UP is not done */
};

static size_t hook_stage_index(const char *stage) {
        for (size_t i = 0; i < ARRAY_SIZE(hook_stages); i++)
                if (str_eq(hook_stages[i], stage))
                        return i;
        return 0;
}

/* The IN_PROGRESS service deployment record of the PRIMARY `primary`, or NULL. */
static json_t *primary_record(json_t *priv, const json_t *primary) {
        size_t i;
        json_t *r;
        json_array_foreach(records(priv), i, r) if (str_eq(ecs_json_str(r, "status", ""), "IN_PROGRESS") &&
                                                    str_eq(ecs_json_str(r, "deployment", ""),
                                                           ecs_json_str(primary, "id", NULL))) return r;
        return NULL;
}

/* The detail of hook number `hook` at `stage` in record `r`, added (its status as the hook's type starts it) when
 * `add`. */
static json_t *hook_detail(json_t *r, const json_t *hook, size_t hook_index, const char *stage, bool add) {
        json_t *list = json_object_get(r, "lifecycleHookDetails");
        size_t i;
        json_t *d;
        json_array_foreach(list, i, d) if (str_eq(ecs_json_str(d, "stage", ""), stage) &&
                                           ecs_json_int_or(d, "hook", -1) == (int64_t) hook_index) return d;
        if (!add)
                return NULL;
        if (!json_is_array(list)) {
                list = json_array();
                json_object_set_new(r, "lifecycleHookDetails", list);
        }
        char id[37];
        uuid_v4(id);
        bool pause = str_eq(ecs_json_str(hook, "targetType", "AWS_LAMBDA"), "PAUSE");
        d = json_pack("{s:s, s:s, s:s, s:s, s:I}", "hookId", id, "targetType", pause ? "PAUSE" : "AWS_LAMBDA",
                      "status", pause ? "AWAITING_ACTION" : "SUCCEEDED", "stage", stage, "hook",
                      (json_int_t) hook_index);
        const char *target = ecs_json_str(hook, "hookTargetArn", NULL);
        if (!pause && target)
                json_object_set_new(d, "targetArn", json_string(target));
        const json_t *timeout = json_object_get(hook, "timeoutConfiguration");
        int64_t minutes = ecs_json_int_or(timeout, "timeoutInMinutes", 0);
        if (pause && minutes > 0) {
                json_object_set_new(d, "expiresAt", json_real((double) (time_now_ms() + minutes * 60 * 1000) / 1000.0));
                json_object_set_new(d, "timeoutAction", json_string(ecs_json_str(timeout, "action", "ROLLBACK")));
        }
        json_array_append_new(list, d);
        return d;
}

/* Whether stage number `k` is done for record `r`: every hook naming it has a detail that lets the deployment go
 * on. A PAUSE that timed out takes its action here (ROLLBACK marks the record ROLLBACK_REQUESTED, or stops the
 * deployment when there is nothing to roll back to). Sets a timer for the next expiry. */
static bool hook_stage_done(struct rt_scheduler *s, json_t *doc, json_t *priv, const char *name, json_t *r, size_t k) {
        const json_t *hooks = json_object_get(json_object_get(r, "deploymentConfiguration"), "lifecycleHooks");
        bool done = true;
        size_t i;
        const json_t *h;
        json_array_foreach(hooks, i, h) {
                if (!ecs_json_list_has(json_object_get(h, "lifecycleStages"), hook_stages[k]))
                        continue;
                bool fresh = !hook_detail(r, h, i, hook_stages[k], false);
                json_t *d = hook_detail(r, h, i, hook_stages[k], true);
                const char *status = ecs_json_str(d, "status", "");
                if (fresh && str_eq(status, "AWAITING_ACTION"))
                        add_event(doc, "(service %s) (deployment %s) paused at lifecycle stage %s: hook %s awaits "
                                       "ContinueServiceDeployment.",
                                  name, ecs_json_str(r, "deployment", ""), hook_stages[k], ecs_json_str(d, "hookId", ""));
                const json_t *expires = json_object_get(d, "expiresAt");
                if (str_eq(status, "AWAITING_ACTION") && expires) {
                        int64_t at_ms = (int64_t) (json_number_value(expires) * 1000), now_ms = time_now_ms();
                        if (now_ms < at_ms)
                                timer_at(s, time_mono_ms() + at_ms - now_ms + 10);
                        else {
                                status = "TIMED_OUT";
                                json_object_set_new(d, "status", json_string(status));
                                json_object_set_new(r, "updatedAt", ecs_timestamp_now());
                                add_event(doc, "(service %s) (deployment %s) lifecycle hook %s timed out: %s.", name,
                                          ecs_json_str(r, "deployment", ""), ecs_json_str(d, "hookId", ""),
                                          ecs_json_str(d, "timeoutAction", ""));
                                if (str_eq(ecs_json_str(d, "timeoutAction", ""), "ROLLBACK")) {
                                        const json_t *last = json_object_get(priv, "lastCompleted");
                                        if (last && !str_eq(ecs_json_str(last, "id", ""), ecs_json_str(r, "deployment", "")))
                                                json_object_set_new(r, "status", json_string("ROLLBACK_REQUESTED"));
                                        else
                                                json_object_set_new(r, "status", json_string("STOP_REQUESTED"));
                                        done = false;
                                }
                        }
                }
                if (str_eq(status, "AWAITING_ACTION") || str_eq(status, "FAILED") || str_eq(status, "IN_PROGRESS"))
                        done = false;
        }
        return done;
}

/* Move the PRIMARY's service deployment through its lifecycle stages as far as its hooks let it, and say what is
 * held back. Nothing is held for a deployment without hooks (its record then has no lifecycleStage). */
static struct hook_hold hooks_pass(struct rt_scheduler *s, json_t *doc, json_t *priv, const char *name,
                                   int64_t desired) {
        struct hook_hold hold = {0};
        const json_t *primary = json_array_get(json_object_get(doc, "deployments"), 0);
        json_t *r = primary_record(priv, primary);
        if (!r || !json_array_size(json_object_get(json_object_get(r, "deploymentConfiguration"), "lifecycleHooks")))
                return hold;
        const char *at = ecs_json_str(r, "stage", NULL);
        size_t k = at ? hook_stage_index(at) : json_array_size(json_object_get(r, "sources")) > 1 ? 0 : 1;
        for (; k < HOOK_STAGE_CLEAN_UP; k++) {
                if (k == HOOK_STAGE_SCALE_UP) {
                        if (ecs_json_int_or(primary, "runningCount", 0) < desired ||
                            ecs_json_int_or(primary, "pendingCount", 0) > 0)
                                break;
                        continue;
                }
                if (!hook_stage_done(s, doc, priv, name, r, k)) {
                        hold.launch = k < HOOK_STAGE_SCALE_UP;
                        hold.drain = true;
                        break;
                }
        }
        hold.finish = k < HOOK_STAGE_CLEAN_UP;
        if (!str_eq(ecs_json_str(r, "stage", ""), hook_stages[k])) {
                json_object_set_new(r, "stage", json_string(hook_stages[k]));
                json_object_set_new(r, "updatedAt", ecs_timestamp_now());
        }
        return hold;
}

/* ContinueServiceDeployment's change to record `r` (s->lock held): the PAUSE hook `hook_id` awaiting an action
 * becomes SUCCEEDED (CONTINUE) or FAILED with the record ROLLBACK_REQUESTED (ROLLBACK). */
static int hook_continue(json_t *priv, json_t *r, const char *hook_id, bool rollback, struct err *e) {
        json_t *found = NULL;
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(r, "lifecycleHookDetails"), i, d) if (str_eq(ecs_json_str(d, "hookId", ""),
                                                                                         hook_id)) found = d;
        if (!found)
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "The service deployment has no lifecycle hook with the id '%.64s'.", hook_id);
        if (!str_eq(ecs_json_str(r, "status", ""), "IN_PROGRESS") ||
            !str_eq(ecs_json_str(found, "status", ""), "AWAITING_ACTION"))
                return err_set(e, -EBUSY, ERR_KIND_CLIENT,
                               "The lifecycle hook is %s in a service deployment that is %s: it awaits no action.",
                               ecs_json_str(found, "status", ""), ecs_json_str(r, "status", ""));
        if (rollback) {
                const json_t *last = json_object_get(priv, "lastCompleted");
                if (!last || str_eq(ecs_json_str(last, "id", ""), ecs_json_str(r, "deployment", "")))
                        return err_set(e, -EBUSY, ERR_KIND_CLIENT,
                                       "The service deployment has no previous service revision to roll back to.");
                json_object_set_new(r, "status", json_string("ROLLBACK_REQUESTED"));
        }
        json_object_set_new(found, "status", json_string(rollback ? "FAILED" : "SUCCEEDED"));
        json_object_set_new(r, "updatedAt", ecs_timestamp_now());
        return 0;
}

static void task_list_text(char *buf, size_t size, const json_t *ids) {
        size_t len = 0;
        buf[0] = '\0';
        size_t i;
        const json_t *id;
        json_array_foreach(ids, i, id) {
                int n = snprintf(buf + len, size - len, "%s(task %s)", i ? " " : "", json_string_value(id));
                if (n < 0 || (size_t) n >= size - len)
                        break;
                len += (size_t) n;
        }
}

/* The tags a service's new task gets: with propagateTags SERVICE the service's tags, TASK_DEFINITION the task
 * definition's (NONE: none), and with enableECSManagedTags aws:ecs:serviceName and aws:ecs:clusterName, as ECS tags
 * them. New array, or NULL when there are none. */
static json_t *task_tags(struct rt_store *store, const json_t *doc, const json_t *td, const char *cluster) {
        const char *propagate = ecs_json_str(doc, "propagateTags", "NONE");
        const char *from = str_eq(propagate, "SERVICE")           ? ecs_json_str(doc, "serviceArn", NULL)
                           : str_eq(propagate, "TASK_DEFINITION") ? ecs_json_str(td, "taskDefinitionArn", NULL)
                                                                  : NULL;
        json_t *tags = NULL;
        struct err e = {0};
        if (from && rt_tags_get(store, from, &tags, &e) < 0)
                log_warn("scheduler", "\"cannot read tags to propagate\" service=%s error=\"%s\"",
                         ecs_json_str(doc, "serviceName", ""), e.msg);
        if (json_is_true(json_object_get(doc, "enableECSManagedTags"))) {
                if (!tags)
                        tags = json_array();
                json_array_append_new(tags, json_pack("{s:s, s:s}", "key", "aws:ecs:serviceName", "value",
                                                      ecs_json_str(doc, "serviceName", "")));
                json_array_append_new(tags, json_pack("{s:s, s:s}", "key", "aws:ecs:clusterName", "value", cluster));
        }
        if (tags && json_array_size(tags) == 0) {
                json_decref(tags);
                tags = NULL;
        }
        return tags;
}

/* ---- one host's ports (the docker backend: every task runs on the one engine) ---- */

/* The host ports a task definition holds while its task runs, as "tcp/80" keys of `out`: in bridge mode (the
 * default) each portMapping with a hostPort, in host mode each containerPort; awsvpc publishes on dynamic ports and
 * none publishes nothing. */
static void fixed_ports(const json_t *td, json_t *out) {
        const char *mode = ecs_json_str(td, "networkMode", "bridge");
        bool host = str_eq(mode, "host");
        if (!host && !str_eq(mode, "bridge"))
                return;
        size_t i, k;
        const json_t *c, *pm;
        json_array_foreach(json_object_get(td, "containerDefinitions"), i, c) {
                json_array_foreach(json_object_get(c, "portMappings"), k, pm) {
                        int64_t port = 0;
                        if (!ecs_json_int(pm, "hostPort", &port) && host)
                                ecs_json_int(pm, "containerPort", &port);
                        if (port <= 0)
                                continue;
                        char key[32];
                        str_printf(key, sizeof(key), "%s/%" PRId64, ecs_json_str(pm, "protocol", "tcp"), port);
                        json_object_set_new(out, key, json_true());
                }
        }
}

/* How many of `want` tasks of `td` fit on the host: all when it holds no fixed host port; otherwise one when no task
 * that is not yet STOPPED (of any service, cluster or region: they share the engine) holds one of its ports, else
 * none. Read from the store, where rt_lifecycle_run records a task before it returns. */
static int64_t placeable(struct rt_scheduler *s, const json_t *td, int64_t want) {
        json_auto_t *mine = json_object();
        fixed_ports(td, mine);
        if (json_object_size(mine) == 0 || want <= 0)
                return want;
        json_auto_t *active = NULL;
        struct err e = {0};
        if (rt_task_active(s->store, &active, &e) < 0) {
                log_error("scheduler", "\"cannot list the tasks for placement\" error=\"%s\"", e.msg);
                return 0;
        }
        json_auto_t *seen = json_object(); /* task definition ARN -> its ports, read once per call */
        size_t i;
        const json_t *t;
        json_array_foreach(active, i, t) {
                const char *tdarn = ecs_json_str(json_object_get(t, "doc"), "taskDefinitionArn", "");
                json_t *ports = json_object_get(seen, tdarn);
                if (!ports) {
                        ports = json_object();
                        json_object_set_new(seen, tdarn, ports);
                        struct ecs_arn arn;
                        char family[ECS_NAME_MAX + 1];
                        int64_t rev;
                        json_auto_t *other = NULL;
                        if (ecs_arn_parse(tdarn, &arn, &e) == 0 && ecs_taskdef_arn_parse(tdarn, family, &rev, &e) == 0 &&
                            rt_taskdef_get(s->store, arn.region, family, rev, &other, &e) == 0)
                                fixed_ports(other, ports);
                }
                const char *key;
                json_t *v;
                json_object_foreach(ports, key, v) if (json_object_get(mine, key)) return 0;
        }
        return 1;
}

/* The capacity provider of the service's task numbered `ordinal` (its tasks not yet STOPPED come first), when the
 * service runs under a capacity provider strategy: ECS reports the provider and the launch type it stands for. */
static void capacity_place(const json_t *doc, int64_t ordinal, struct rt_run_request *req) {
        const json_t *strategy = json_object_get(doc, "capacityProviderStrategy");
        if (json_array_size(strategy) == 0)
                return;
        req->capacity_provider_name = ecs_capacity_pick(strategy, ordinal);
        req->launch_type = ecs_capacity_launch_type(req->capacity_provider_name);
}

/* Start `n` tasks of the PRIMARY deployment. Returns how many were started; their ids go into `started`. */
/* Choose the container instance of a service's next task (instances.h), with the service's placement constraints
 * and strategy; a DAEMON service keeps one task per instance (distinctInstance). Call with the place lock held.
 * -ENOSPC when no instance can take it. */
static int service_place(struct rt_scheduler *s, const char *region, const char *account, const char *cluster,
                         const json_t *doc, const json_t *td, const char *group, json_t **cache,
                         struct rt_placement *ret) {
        const json_t *given = json_object_get(doc, "placementConstraints");
        json_auto_t *constraints = json_is_array(given) ? json_deep_copy(given) : json_array();
        if (str_eq(ecs_json_str(doc, "schedulingStrategy", ""), "DAEMON"))
                json_array_append_new(constraints, json_pack("{s:s}", "type", "distinctInstance"));
        struct rt_place_request preq = {.region = region, .account = account, .cluster = cluster, .taskdef = td,
                                        .group = group, .constraints = constraints,
                                        .strategy = json_object_get(doc, "placementStrategy")};
        json_auto_t *failures = NULL;
        struct err e = {0};
        int r = rt_instances_choose(s->instances, &preq, ret, &failures, cache, &e);
        if (r < 0 && r != -ENOSPC)
                log_error("scheduler", "\"cannot place a task\" service=%s error=\"%s\"", group + 8, e.msg);
        return r;
}

/* An instance whose daemon tasks are still starting takes no service task yet (daemons.h): ECS starts an instance's
 * daemons before its application tasks. */
static bool daemon_first(struct rt_scheduler *s, const struct rt_placement *place) {
        return rt_daemons_instance_starting(s->daemons, place->arn);
}

/* Start `n` tasks of the PRIMARY deployment. Returns how many were started; their ids go into `started`. A task no
 * container instance can take sets *unplaced and ends the launch. */
static int launch(struct rt_scheduler *s, const char *region, const char *cluster, const json_t *doc,
                  const json_t *primary, int64_t n, json_t *started, bool *unplaced) {
        const char *tdarn = ecs_json_str(primary, "taskDefinition", "");
        char family[ECS_NAME_MAX + 1];
        int64_t rev;
        struct err e = {0};
        json_auto_t *td = NULL;
        if (ecs_taskdef_arn_parse(tdarn, family, &rev, &e) < 0 ||
            rt_taskdef_get(s->store, region, family, rev, &td, &e) < 0) {
                log_error("scheduler", "\"cannot read the task definition\" service=%s taskdef=%s error=\"%s\"",
                          ecs_json_str(doc, "serviceName", ""), tdarn, e.msg);
                return 0;
        }
        struct ecs_arn arn;
        if (ecs_arn_parse(ecs_json_str(doc, "serviceArn", ""), &arn, &e) < 0)
                return 0;
        char group[ECS_NAME_MAX + 16];
        str_printf(group, sizeof(group), "service:%s", ecs_json_str(doc, "serviceName", ""));
        if (s->one_host) {
                int64_t fit = placeable(s, td, n);
                if (fit < n) {
                        *unplaced = true;
                        n = fit;
                }
        }
        json_auto_t *tags = task_tags(s->store, doc, td, cluster);
        json_auto_t *live = rt_lifecycle_tasks(s->lc, region, cluster, group);
        int64_t ordinal = (int64_t) json_array_size(live);
        int done = 0;
        /* The instances are read once for the batch, each task charged as it is placed (instances.h), under the
         * place lock until the last one is stored. */
        json_auto_t *cache = NULL;
        if (s->instances)
                rt_instances_place_lock(s->instances);
        for (int64_t i = 0; i < n; i++) {
                struct rt_placement place = {0};
                if (s->instances &&
                    (service_place(s, region, arn.account, cluster, doc, td, group, &cache, &place) < 0 ||
                     daemon_first(s, &place))) {
                        *unplaced = true;
                        break;
                }
                struct rt_run_request req = {
                        .region = region,
                        .account = arn.account,
                        .cluster_name = cluster,
                        .cluster_arn = ecs_json_str(doc, "clusterArn", ""),
                        .taskdef = td,
                        .started_by = ecs_json_str(primary, "id", ""),
                        .group = group,
                        .launch_type = ecs_json_str(doc, "launchType", NULL),
                        .tags = tags,
                        .container_instance_arn = place.arn[0] ? place.arn : NULL,
                        .host = place.host[0] ? place.host : NULL,
                        .reserved_cpu = place.cpu,
                        .reserved_memory = place.memory,
                        .enable_execute_command = json_is_true(json_object_get(doc, "enableExecuteCommand")),
                };
                capacity_place(doc, ordinal + i, &req);
                json_auto_t *task = NULL;
                if (rt_lifecycle_run(s->lc, &req, &task, &e) < 0) {
                        log_error("scheduler", "\"cannot start a task\" service=%s error=\"%s\"", group + 8, e.msg);
                        break;
                }
                const char *tarn = ecs_json_str(task, "taskArn", "");
                json_array_append_new(started, json_string(strrchr(tarn, '/') + 1));
                done++;
        }
        if (s->instances)
                rt_instances_place_unlock(s->instances);
        return done;
}

/* Recount deployments and the service from the lifecycle's tasks; drop drained older deployments. */
static void recount(json_t *doc, const json_t *tasks) {
        json_t *deps = json_object_get(doc, "deployments");
        size_t n = json_array_size(tasks);
        struct view *v = xcalloc(n ? n : 1, sizeof(*v));
        classify(tasks, deps, 0, v);
        int64_t total_running = 0, total_pending = 0;
        for (size_t i = json_array_size(deps); i-- > 0;) {
                json_t *d = json_array_get(deps, i);
                int64_t running = 0, pending = 0, live = 0;
                for (size_t k = 0; k < n; k++) {
                        if (v[k].dep != d)
                                continue;
                        live++;
                        if (v[k].asked && v[k].running)
                                running++;
                        else if (v[k].asked && ecs_status_pending(ecs_json_str(v[k].task, "lastStatus", "")))
                                pending++;
                }
                if (i > 0 && live == 0) {
                        json_array_remove(deps, i);
                        continue;
                }
                if (i > 0)
                        json_object_set_new(d, "desiredCount", json_integer(running + pending));
                else
                        json_object_set_new(d, "desiredCount", json_integer(ecs_json_int_or(doc, "desiredCount", 0)));
                if (ecs_json_int_or(d, "runningCount", -1) != running || ecs_json_int_or(d, "pendingCount", -1) != pending) {
                        json_object_set_new(d, "runningCount", json_integer(running));
                        json_object_set_new(d, "pendingCount", json_integer(pending));
                        json_object_set_new(d, "updatedAt", ecs_timestamp_now());
                }
                total_running += running;
                total_pending += pending;
        }
        json_object_set_new(doc, "runningCount", json_integer(total_running));
        json_object_set_new(doc, "pendingCount", json_integer(total_pending));
        free(v);
}

static void stop_tasks(struct rt_scheduler *s, const char *name, struct view *v, size_t n, const char *reason,
                       bool health, json_t *doc, json_t *stopped) {
        for (size_t i = 0; i < n; i++) {
                if (!v[i].stop || health != str_eq(ecs_json_str(v[i].task, "healthStatus", ""), "UNHEALTHY"))
                        continue;
                const char *id = ecs_json_str(v[i].task, "id", "");
                struct err e = {0};
                const char *why = health ? "Task failed container health checks" : reason;
                if (rt_lifecycle_stop(s->lc, id, "ServiceSchedulerInitiated", why, NULL, &e) < 0) {
                        log_error("scheduler", "\"cannot stop a task\" service=%s task=%s error=\"%s\"", name, id,
                                  e.msg);
                        continue;
                }
                if (health)
                        add_event(doc, "(service %s) (task %s) failed container health checks.", name, id);
                json_array_append_new(stopped, json_string(id));
        }
}

/* The container instances as a service's pass sees them: a DAEMON service's desiredCount becomes the number of
 * instances it can run on (*desired, and the document's, as ECS reports it), and the tasks of the service placed on
 * a DRAINING or vanished instance are returned ({task id: true}) to be replaced elsewhere. NULL without instances. */
static json_t *instances_state(struct rt_scheduler *s, const char *region, const char *cluster, const char *name,
                               json_t *doc, bool draining, int64_t *desired) {
        if (!s->instances)
                return NULL;
        struct ecs_arn arn;
        struct err e = {0};
        if (ecs_arn_parse(ecs_json_str(doc, "serviceArn", ""), &arn, &e) < 0)
                return NULL;
        char group[ECS_NAME_MAX + 16];
        str_printf(group, sizeof(group), "service:%s", name);
        int64_t eligible = -1;
        json_t *leaving = NULL;
        bool daemon = str_eq(ecs_json_str(doc, "schedulingStrategy", ""), "DAEMON");
        if (rt_instances_service_state(s->instances, region, arn.account, cluster, group, daemon,
                                       json_object_get(doc, "placementConstraints"), &eligible, &leaving, &e) < 0) {
                log_error("scheduler", "\"cannot read the container instances\" service=%s error=\"%s\"", name,
                          e.msg);
                return NULL;
        }
        if (daemon && !draining && eligible >= 0) {
                *desired = eligible;
                json_object_set_new(doc, "desiredCount", json_integer(eligible));
        }
        return leaving;
}

/* Tasks on a DRAINING instance leave it: a DAEMON service's at once (its instance no longer counts), a REPLICA
 * service's as an older deployment's do, while the healthy ones left stay at the floor (their replacements were
 * started elsewhere, as they no longer count as the PRIMARY's). */
static void drain_leaving(const json_t *doc, struct view *v, size_t n, const json_t *leaving, int64_t floor_healthy,
                          int64_t *healthy) {
        bool daemon = str_eq(ecs_json_str(doc, "schedulingStrategy", ""), "DAEMON");
        for (size_t i = 0; i < n; i++) {
                if (!v[i].asked || v[i].stop || !json_object_get(leaving, ecs_json_str(v[i].task, "id", "")))
                        continue;
                if (daemon || !v[i].healthy || *healthy - 1 >= floor_healthy) {
                        v[i].stop = true;
                        if (v[i].healthy)
                                (*healthy)--;
                }
        }
}

/* Until when (epoch ms) the task is protected from scale-in and deployments (UpdateTaskProtection, or the task's own
 * agent endpoint: a record of kind "task-protection" keyed by its id, pkg/api/actions-protection.c); 0: it is not. */
static int64_t protected_until(struct rt_scheduler *s, const char *region, const json_t *task, int64_t now_ms) {
        json_auto_t *rec = NULL;
        struct err e = {0};
        if (rt_record_get(s->store, region, "task-protection", ecs_json_str(task, "id", ""), &rec, &e) < 0)
                return 0;
        int64_t until = ecs_json_int_or(rec, "expiresAtMs", 0);
        return until > now_ms ? until : 0;
}

/* Task scale-in protection. A protected task is not stopped by a scale-in or a deployment until its protection ends
 * (a pass is timed for then); a failed health check, or the service's deletion, still stops it, as in ECS. A
 * scale-in stop taken from a protected task goes to another task of the PRIMARY deployment that is not protected
 * (one not running first, then the newest), so the service still scales in when it can. */
static void protection_hold(struct rt_scheduler *s, const char *region, struct view *v, size_t n,
                            const json_t *primary, bool draining) {
        if (draining)
                return;
        int64_t now_ms = time_now_ms();
        for (size_t i = 0; i < n; i++) {
                if (!v[i].stop || str_eq(ecs_json_str(v[i].task, "healthStatus", ""), "UNHEALTHY"))
                        continue;
                int64_t until = protected_until(s, region, v[i].task, now_ms);
                if (!until)
                        continue;
                v[i].stop = false;
                timer_at(s, time_mono_ms() + until - now_ms + 10);
                if (v[i].dep != primary)
                        continue;
                size_t pick = n;
                for (int pass = 0; pass < 2 && pick == n; pass++)
                        for (size_t k = n; k-- > 0;) {
                                if (!v[k].asked || v[k].stop || v[k].dep != primary ||
                                    (pass == 0 && v[k].running) || protected_until(s, region, v[k].task, now_ms))
                                        continue;
                                pick = k;
                                break;
                        }
                if (pick < n)
                        v[pick].stop = true;
        }
}

/* The pass of an EXTERNAL service: its task sets own its tasks (tasksets.c), not deployments (s->lock held). */
static void external_pass(struct rt_scheduler *s, const char *region, const char *cluster, const char *name,
                          json_t *doc, const json_t *priv) {
        json_auto_t *before = json_deep_copy(doc);
        char group[ECS_NAME_MAX + 16];
        str_printf(group, sizeof(group), "service:%s", name);
        rt_tasksets_reconcile(s->store, s->lc, region, cluster, group, doc);
        struct err e = {0};
        if (!json_equal(doc, before) && rt_service_put(s->store, region, cluster, doc, priv, &e) < 0)
                log_error("scheduler", "\"cannot save a service\" service=%s error=\"%s\"", name, e.msg);
}

/* One pass over one service (s->lock held). */
static void reconcile(struct rt_scheduler *s, const char *region, const char *cluster, const char *name,
                      const json_t *changes) {
        struct err e = {0};
        json_auto_t *doc = NULL;
        json_auto_t *priv = NULL;
        if (rt_service_get(s->store, region, cluster, name, &doc, &priv, &e) < 0) {
                log_error("scheduler", "\"cannot read a service\" service=%s error=\"%s\"", name, e.msg);
                return;
        }
        const char *status = ecs_json_str(doc, "status", "");
        if (str_eq(status, "INACTIVE"))
                return;
        if (rt_tasksets_managed(doc)) {
                external_pass(s, region, cluster, name, doc, priv);
                return;
        }
        json_auto_t *before = json_deep_copy(doc);
        json_auto_t *priv_before = json_deep_copy(priv);
        apply_changes(doc, priv, changes);

        bool draining = str_eq(status, "DRAINING");
        int64_t desired = draining ? 0 : ecs_json_int_or(doc, "desiredCount", 0);
        json_auto_t *leaving = instances_state(s, region, cluster, name, doc, draining, &desired);
        struct hook_hold hold = {0};
        if (!draining) {
                hooks_pass(s, doc, priv, name, desired); /* a hook's timeout may ask for a rollback or a stop */
                stop_requests(doc, priv, name, desired);
                circuit_breaker(doc, priv, name, desired);
                hold = hooks_pass(s, doc, priv, name, desired); /* of the PRIMARY these left */
        }
        const json_t *cfg = json_object_get(doc, "deploymentConfiguration");
        int64_t max_pct = ecs_json_int_or(cfg, "maximumPercent", 200), min_pct = ecs_json_int_or(cfg, "minimumHealthyPercent", 100);
        int64_t ceiling = desired * max_pct / 100;
        int64_t floor_healthy = (desired * min_pct + 99) / 100;
        json_t *deps = json_object_get(doc, "deployments");
        json_t *primary = json_array_get(deps, 0);
        char group[ECS_NAME_MAX + 16];
        str_printf(group, sizeof(group), "service:%s", name);

        json_auto_t *tasks = rt_lifecycle_tasks(s->lc, region, cluster, group);
        size_t n = json_array_size(tasks);
        struct view *v = xcalloc(n ? n : 1, sizeof(*v));
        classify(tasks, deps, s->healthy_after_ms, v);
        /* A pass when a task becomes healthy by running long enough (an older deployment may then drain). */
        for (size_t i = 0; i < n; i++)
                if (v[i].settles_ms && json_array_size(deps) > 1)
                        timer_at(s, time_mono_ms() + v[i].settles_ms - time_now_ms() + 10);
        int64_t grace_ms = ecs_json_int_or(doc, "healthCheckGracePeriodSeconds", 0) * 1000;
        int64_t now_ms = time_now_ms();

        /* A running task that failed its health check after the grace period is replaced. */
        for (size_t i = 0; i < n; i++) {
                if (!v[i].asked || !v[i].running || !str_eq(ecs_json_str(v[i].task, "healthStatus", ""), "UNHEALTHY"))
                        continue;
                const json_t *started = json_object_get(v[i].task, "startedAt");
                int64_t since_ms = json_is_number(started) ? (int64_t) (json_number_value(started) * 1000) : 0;
                if (grace_ms && now_ms < since_ms + grace_ms) {
                        timer_at(s, time_mono_ms() + since_ms + grace_ms - now_ms);
                        continue;
                }
                v[i].stop = true;
        }
        /* Tasks of no deployment (their deployment was dropped) and every task of a draining service go. */
        int64_t primary_asked = 0, healthy = 0, live = (int64_t) n;
        for (size_t i = 0; i < n; i++) {
                if (!v[i].asked || v[i].stop)
                        continue;
                if (draining || !v[i].dep)
                        v[i].stop = true;
                else if (v[i].dep == primary && !json_object_get(leaving, ecs_json_str(v[i].task, "id", "")))
                        primary_asked++;
                if (!v[i].stop && v[i].healthy)
                        healthy++;
        }
        /* Scale in: the PRIMARY's extra tasks, those not running first, then the newest. */
        for (int pass = 0; pass < 2 && primary_asked > desired; pass++)
                for (size_t i = n; i-- > 0 && primary_asked > desired;) {
                        if (!v[i].asked || v[i].stop || v[i].dep != primary || (pass == 0 && v[i].running))
                                continue;
                        v[i].stop = true;
                        primary_asked--;
                        if (v[i].healthy)
                                healthy--;
                }
        /* Older deployments drain: tasks that are not healthy at once, healthy ones while the floor holds (not
         * while a lifecycle hook holds the deployment). */
        for (int pass = 0; pass < 2 && !hold.drain; pass++)
                for (size_t i = 0; i < n; i++) {
                        if (!v[i].asked || v[i].stop || v[i].dep == primary || !v[i].dep)
                                continue;
                        if (pass == 0 && !v[i].up)
                                v[i].stop = true;
                        else if (pass == 1 && v[i].healthy && healthy - 1 >= floor_healthy) {
                                v[i].stop = true;
                                healthy--;
                        } else if (pass == 1 && !v[i].healthy && healthy >= floor_healthy)
                                v[i].stop = true; /* up but not yet counted healthy: the floor does not lose it */
                }

        drain_leaving(doc, v, n, leaving, floor_healthy, &healthy);
        protection_hold(s, region, v, n, primary, draining);

        char reason[128];
        str_printf(reason, sizeof(reason), "Scaling activity initiated by (deployment %s)",
                   ecs_json_str(primary, "id", ""));
        json_auto_t *stopped = json_array();
        stop_tasks(s, name, v, n, reason, true, doc, stopped);
        json_auto_t *health_stopped = json_deep_copy(stopped);
        stop_tasks(s, name, v, n, reason, false, doc, stopped);
        free(v);

        /* Scale out, under the ceiling (every task not yet STOPPED counts, stopping ones too) and any back-off. */
        int64_t want = desired - primary_asked;
        int64_t room = ceiling - live;
        if (want > room)
                want = room;
        if (str_eq(ecs_json_str(primary, "rolloutState", ""), "FAILED"))
                want = 0; /* the circuit breaker stopped this deployment, and there was nothing to roll back to */
        if (hold.launch)
                want = 0; /* paused by a lifecycle hook before SCALE_UP */
        int64_t backoff = ecs_json_int_or(priv, "backoffUntil", 0);
        if (want > 0 && backoff > now_ms) {
                timer_at(s, time_mono_ms() + backoff - now_ms);
                want = 0;
        }
        json_auto_t *started = json_array();
        bool unplaced = false;
        if (want > 0 && primary)
                launch(s, region, cluster, doc, primary, want, started, &unplaced);
        /* ECS repeats this event while it keeps failing to place; ecsd writes it when placing starts to fail, and
         * tries again at each pass (a task's stop wakes one; the sweep covers ports freed by tasks of no service). */
        if (unplaced && !json_is_true(json_object_get(priv, "unplaced")))
                add_event(doc, "(service %s) was unable to place a task because no container instance met all of its "
                               "requirements.",
                          name);
        if (unplaced) {
                json_object_set_new(priv, "unplaced", json_true());
                pthread_mutex_lock(&s->wake_lock);
                s->ports_waiting = true;
                pthread_mutex_unlock(&s->wake_lock);
        }
        else if (json_array_size(started))
                json_object_del(priv, "unplaced");

        char list[4096];
        size_t n_stopped = json_array_size(stopped) - json_array_size(health_stopped);
        if (json_array_size(started)) {
                task_list_text(list, sizeof(list), started);
                if (json_array_size(health_stopped))
                        add_event(doc, "(service %s) has started %zu tasks: %s. Amazon ECS replaced %zu tasks due to "
                                       "an unhealthy status.",
                                  name, json_array_size(started), list, json_array_size(health_stopped));
                else
                        add_event(doc, "(service %s) has started %zu tasks: %s.", name, json_array_size(started), list);
        }
        if (n_stopped) {
                json_auto_t *plain = json_array();
                for (size_t i = json_array_size(health_stopped); i < json_array_size(stopped); i++)
                        json_array_append(plain, json_array_get(stopped, i));
                task_list_text(list, sizeof(list), plain);
                add_event(doc, "(service %s) has stopped %zu running tasks: %s.", name, n_stopped, list);
        }

        /* Counts from what the lifecycle now holds, the tasks just started and stopped included. */
        json_decref(tasks);
        tasks = rt_lifecycle_tasks(s->lc, region, cluster, group);
        recount(doc, tasks);
        current_revisions(doc, priv);
        if (!draining)
                hold = hooks_pass(s, doc, priv, name, desired); /* the counts may have ended SCALE_UP */
        primary = json_array_get(json_object_get(doc, "deployments"), 0);
        if (draining && json_array_size(tasks) == 0) {
                json_object_set_new(doc, "status", json_string("INACTIVE"));
                log_info("scheduler", "\"service inactive\" service=%s", name);
        }
        bool steady = !draining && !hold.finish && json_array_size(json_object_get(doc, "deployments")) == 1 &&
                      ecs_json_int_or(primary, "runningCount", -1) == desired && ecs_json_int_or(primary, "pendingCount", -1) == 0;
        if (steady) {
                /* Healthy too, where the definition has a health check. */
                size_t nt = json_array_size(tasks);
                struct view *w = xcalloc(nt ? nt : 1, sizeof(*w));
                classify(tasks, json_object_get(doc, "deployments"), 0, w);
                int64_t h = 0;
                for (size_t i = 0; i < nt; i++)
                        if (w[i].up && w[i].dep == primary)
                                h++;
                free(w);
                steady = h == desired;
        }
        if (steady && !json_is_true(json_object_get(priv, "steady"))) {
                if (str_eq(ecs_json_str(primary, "rolloutState", ""), "IN_PROGRESS")) {
                        char why[96];
                        str_printf(why, sizeof(why), "ECS deployment %s completed.", ecs_json_str(primary, "id", ""));
                        json_object_set_new(primary, "rolloutState", json_string("COMPLETED"));
                        json_object_set_new(primary, "rolloutStateReason", json_string(why));
                        add_event(doc, "(service %s) (deployment %s) deployment completed.", name,
                                  ecs_json_str(primary, "id", ""));
                }
                records_move(priv, "IN_PROGRESS", "SUCCESSFUL", NULL, false);
                records_move(priv, "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL", NULL, false);
                json_object_set_new(priv, "lastCompleted",
                                    json_pack("{s:s, s:s}", "id", ecs_json_str(primary, "id", ""), "taskDefinition",
                                              ecs_json_str(primary, "taskDefinition", "")));
                add_event(doc, "(service %s) has reached a steady state.", name);
        }
        json_object_set_new(priv, "steady", json_boolean(steady));

        if (json_equal(doc, before) && json_equal(priv, priv_before))
                return;
        if (rt_service_put(s->store, region, cluster, doc, priv, &e) < 0)
                log_error("scheduler", "\"cannot save a service\" service=%s error=\"%s\"", name, e.msg);
}

/* One pass over the ACTIVE and DRAINING services named in `keys` (service_key), every one when `keys` is NULL
 * (s->lock held). */
static void pass_all(struct rt_scheduler *s, const json_t *changes, const json_t *keys) {
        json_auto_t *live = NULL;
        struct err e = {0};
        if (rt_service_live(s->store, &live, &e) < 0) {
                log_error("scheduler", "\"cannot list services\" error=\"%s\"", e.msg);
                return;
        }
        size_t i;
        const json_t *svc;
        json_array_foreach(live, i, svc) {
                const char *region = ecs_json_str(svc, "region", "");
                const char *cluster = ecs_json_str(svc, "cluster", "");
                const char *name = ecs_json_str(svc, "name", "");
                char key[ECS_REGION_MAX + 2 * ECS_NAME_MAX + 8];
                service_key(key, sizeof(key), region, cluster, name);
                if (keys && !json_object_get(keys, key))
                        continue;
                json_auto_t *mine = json_array();
                size_t k;
                json_t *c;
                json_array_foreach(changes, k, c) {
                        if (str_eq(ecs_json_str(c, "region", ""), region) &&
                            str_eq(ecs_json_str(c, "cluster", ""), cluster) && str_eq(ecs_json_str(c, "name", ""), name))
                                json_array_append(mine, c);
                }
                reconcile(s, region, cluster, name, mine);
        }
}

static void *scheduler_main(void *arg) {
        struct rt_scheduler *s = arg;
        int64_t next_sweep = time_mono_ms() + s->sweep_ms;
        pthread_mutex_lock(&s->wake_lock);
        while (!s->shutdown) {
                int64_t now = time_mono_ms();
                bool timer_due = s->next_timer_ms && now >= s->next_timer_ms;
                if (!s->dirty && !timer_due && now < next_sweep) {
                        int64_t until = next_sweep;
                        if (s->next_timer_ms && s->next_timer_ms < until)
                                until = s->next_timer_ms;
                        cond_wait_ms(&s->wake, &s->wake_lock, until - now);
                        continue;
                }
                s->dirty = false;
                bool all = s->dirty_all || timer_due || now >= next_sweep;
                s->dirty_all = false;
                bool daemons = all || s->daemons_due;
                s->daemons_due = false;
                if (timer_due)
                        s->next_timer_ms = 0;
                json_t *changes = s->changes;
                s->changes = json_array();
                json_t *keys = s->dirty_keys;
                s->dirty_keys = json_object();
                if (all)
                        s->ports_waiting = false; /* a full pass sets it again if a service still waits */
                pthread_mutex_unlock(&s->wake_lock);
                if (all)
                        next_sweep = now + s->sweep_ms;
                pthread_mutex_lock(&s->lock);
                /* Daemons first: a new instance gets its daemon tasks before this pass places services' there. */
                if (daemons)
                        rt_daemons_pass(s->daemons);
                pass_all(s, changes, all ? NULL : keys);
                pthread_mutex_unlock(&s->lock);
                json_decref(changes);
                json_decref(keys);
                pthread_mutex_lock(&s->wake_lock);
        }
        pthread_mutex_unlock(&s->wake_lock);
        return NULL;
}

/* ---- lifetime ---- */

/* The daemons share this scheduler's thread and wake-ups (daemons.h). */
static int daemons_new(struct rt_scheduler *s, struct err *e) {
        struct rt_daemons_config dc = {.store = s->store, .lifecycle = s->lc, .instances = s->instances};
        return rt_daemons_new(&dc, &s->daemons, e);
}

struct rt_daemons *rt_scheduler_daemons(struct rt_scheduler *s) {
        return s->daemons;
}

int rt_scheduler_new(const struct rt_scheduler_config *cfg, struct rt_scheduler **ret, struct err *e) {
        struct rt_scheduler *s = xcalloc(1, sizeof(*s));
        s->store = cfg->store;
        s->lc = cfg->lifecycle;
        s->instances = cfg->instances;
        s->sweep_ms = cfg->sweep_ms > 0 ? cfg->sweep_ms : SWEEP_DEFAULT_MS;
        s->healthy_after_ms = cfg->healthy_after_ms > 0 ? cfg->healthy_after_ms : 0;
        s->one_host = cfg->one_host;
        s->changes = json_array();
        s->dirty_keys = json_object();
        s->dirty = s->dirty_all = true; /* the first pass re-adopts what a restart left */
        pthread_mutex_init(&s->lock, NULL);
        pthread_mutex_init(&s->wake_lock, NULL);
        pthread_cond_init(&s->wake, NULL); /* the default clock: cond_wait_ms counts on it */
        int r = daemons_new(s, e);
        if (r < 0) {
                rt_scheduler_free(s);
                return r;
        }
        rt_lifecycle_subscribe(s->lc, on_change, s);
        if (pthread_create(&s->thread, NULL, scheduler_main, s) != 0) {
                rt_scheduler_free(s);
                return err_set(e, -EAGAIN, ERR_KIND_INTERNAL, "cannot start the service scheduler's thread");
        }
        s->thread_started = true;
        *ret = s;
        return 0;
}

void rt_scheduler_free(struct rt_scheduler *s) {
        if (!s)
                return;
        rt_lifecycle_subscribe(s->lc, NULL, NULL);
        pthread_mutex_lock(&s->wake_lock);
        s->shutdown = true;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->wake_lock);
        if (s->thread_started)
                pthread_join(s->thread, NULL);
        rt_daemons_free(s->daemons);
        json_decref(s->changes);
        json_decref(s->dirty_keys);
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->wake_lock);
        pthread_mutex_destroy(&s->lock);
        free(s);
}

/* ---- the API's changes ---- */

/* A new service's first PRIMARY deployment; an EXTERNAL service has none, its task sets run its tasks. */
static void new_deployments(struct rt_scheduler *s, const char *region, json_t *fresh, json_t *priv) {
        if (rt_tasksets_managed(fresh)) {
                json_object_set_new(fresh, "deployments", json_array());
                if (!json_is_array(json_object_get(fresh, "taskSets")))
                        json_object_set_new(fresh, "taskSets", json_array()); /* CODE_DEPLOY comes with its PRIMARY */
                return;
        }
        json_object_set_new(fresh, "deployments",
                            json_pack("[o]", deployment_new(fresh, priv, ecs_json_str(fresh, "taskDefinition", ""),
                                                            ecs_json_int_or(fresh, "desiredCount", 0))));
        json_t *deps = json_object_get(fresh, "deployments");
        record_new(s->store, region, fresh, priv, json_array_get(deps, 0), deps);
        current_revisions(fresh, priv);
}

int rt_scheduler_create(struct rt_scheduler *s, const char *region, const char *cluster,
                        const struct rt_service_create *c, json_t **ret, struct err *e) {
        const char *name = ecs_json_str(c->doc, "serviceName", "");
        pthread_mutex_lock(&s->lock);
        json_auto_t *old = NULL;
        json_auto_t *old_priv = NULL;
        int r = rt_service_get(s->store, region, cluster, name, &old, &old_priv, e);
        if (r >= 0 && str_eq(ecs_json_str(old, "status", ""), "ACTIVE")) {
                /* CreateService again with the same clientToken and the same input is the same request: ECS answers
                 * with the service it made. */
                if (c->client_token && str_eq(ecs_json_str(old_priv, "clientToken", NULL), c->client_token) &&
                    json_equal(json_object_get(old_priv, "createRequest"), c->request)) {
                        *ret = TAKE_PTR(old);
                        r = 1;
                } else
                        r = err_set(e, -EEXIST, ERR_KIND_INVALID, "Creation of service was not idempotent.");
        } else if (r >= 0 && str_eq(ecs_json_str(old, "status", ""), "DRAINING"))
                r = err_set(e, -EBUSY, ERR_KIND_INVALID, "Unable to Start a service that is still Draining.");
        else if (r == -ENOENT || r >= 0) {
                json_auto_t *fresh = json_deep_copy(c->doc);
                json_auto_t *priv = json_object();
                if (c->config)
                        json_object_set_new(priv, "config", json_deep_copy(c->config));
                if (c->client_token) {
                        json_object_set_new(priv, "clientToken", json_string(c->client_token));
                        json_object_set_new(priv, "createRequest", json_deep_copy(c->request));
                }
                new_deployments(s, region, fresh, priv);
                r = rt_service_put(s->store, region, cluster, fresh, priv, e);
                if (r >= 0) {
                        *ret = TAKE_PTR(fresh);
                        r = 0;
                        log_info("scheduler", "\"service created\" service=%s cluster=%s", name, cluster);
                }
        }
        pthread_mutex_unlock(&s->lock);
        if (r == 0)
                wake_one(s, region, cluster, name);
        return r;
}

/* Read an ACTIVE service for a change (s->lock held). */
static int service_for_change(struct rt_scheduler *s, const char *region, const char *cluster, const char *name,
                              json_t **ret_doc, json_t **ret_priv, struct err *e) {
        int r = rt_service_get(s->store, region, cluster, name, ret_doc, ret_priv, e);
        if (r < 0)
                return r;
        if (!str_eq(ecs_json_str(*ret_doc, "status", ""), "ACTIVE")) {
                json_decref(*ret_doc);
                json_decref(*ret_priv);
                *ret_doc = *ret_priv = NULL;
                return err_set(e, -ESRCH, ERR_KIND_SERVICE_NOT_ACTIVE, "Service was not ACTIVE.");
        }
        return 0;
}

/* Members of UpdateService's input that start a new deployment when they change what runs (the others, such as
 * desiredCount, deploymentConfiguration, enableExecuteCommand, propagateTags, apply to the service as it is). */
static bool deploys(const char *member) {
        static const char *const list[] = {"taskDefinition",     "networkConfiguration",     "loadBalancers",
                                           "serviceRegistries",  "capacityProviderStrategy", "platformVersion",
                                           "launchType",         "serviceConnectConfiguration",
                                           "volumeConfigurations", "vpcLatticeConfigurations"};
        for (size_t i = 0; i < ARRAY_SIZE(list); i++)
                if (strcmp(list[i], member) == 0)
                        return true;
        return false;
}

/* Apply the members of `set` to `target`; true when one that deploys changed. */
static bool apply_members(json_t *target, const json_t *set) {
        bool deploy = false;
        json_auto_t *copy = json_deep_copy(set); /* json_object_foreach wants a mutable object */
        const char *key;
        json_t *v;
        json_object_foreach(copy, key, v) {
                if (deploys(key) && !json_equal(json_object_get(target, key), v))
                        deploy = true;
                json_object_set_new(target, key, json_deep_copy(v));
        }
        return deploy;
}

/* UpdateService's capacityProviderStrategy as the API checked and resolved it (base and weight filled in; `[]`: back
 * to the launch type it stood for). Whether it deploys is apply_members's to say, as for the other members. */
static void capacity_update(json_t *doc, const struct rt_service_update *u) {
        if (!u->capacity_provider_strategy)
                return;
        if (json_array_size(u->capacity_provider_strategy) == 0) {
                json_object_del(doc, "capacityProviderStrategy");
                json_object_set_new(doc, "launchType", json_string(u->launch_type ? u->launch_type : "EC2"));
                return;
        }
        json_object_set_new(doc, "capacityProviderStrategy", json_deep_copy(u->capacity_provider_strategy));
        json_object_del(doc, "launchType");
}

int rt_scheduler_update(struct rt_scheduler *s, const char *region, const char *cluster, const char *name,
                        const struct rt_service_update *u, json_t **ret, struct err *e) {
        pthread_mutex_lock(&s->lock);
        json_auto_t *doc = NULL;
        json_auto_t *priv = NULL;
        int r = service_for_change(s, region, cluster, name, &doc, &priv, e);
        if (r >= 0) {
                if (u->desired_count >= 0)
                        json_object_set_new(doc, "desiredCount", json_integer(u->desired_count));
                if (u->health_check_grace_s >= 0)
                        json_object_set_new(doc, "healthCheckGracePeriodSeconds",
                                            json_integer(u->health_check_grace_s));
                if (u->deployment_configuration) {
                        json_t *cfg = json_object_get(doc, "deploymentConfiguration");
                        json_auto_t *copy = json_deep_copy(u->deployment_configuration);
                        json_object_update(cfg, copy);
                }
                bool deploy = u->force_new_deployment;
                if (u->task_definition && !str_eq(u->task_definition, ecs_json_str(doc, "taskDefinition", ""))) {
                        json_object_set_new(doc, "taskDefinition", json_string(u->task_definition));
                        deploy = true;
                }
                /* A capacity provider strategy replaces the launch type (they are exclusive). */
                if (json_array_size(json_object_get(u->set, "capacityProviderStrategy")) &&
                    json_object_get(doc, "launchType")) {
                        json_object_del(doc, "launchType");
                        deploy = true;
                }
                if (u->set && apply_members(doc, u->set))
                        deploy = true;
                capacity_update(doc, u); /* the strategy as the API checked and resolved it */
                if (u->config) {
                        json_t *config = json_object_get(priv, "config");
                        if (!json_is_object(config)) {
                                config = json_object();
                                json_object_set_new(priv, "config", config);
                        }
                        if (apply_members(config, u->config))
                                deploy = true;
                }
                json_t *deps = json_object_get(doc, "deployments");
                if (deploy && !rt_tasksets_managed(doc)) {
                        json_t *old = json_array_get(deps, 0);
                        if (old)
                                json_object_set_new(old, "status", json_string("ACTIVE"));
                        json_array_insert_new(deps, 0,
                                              deployment_new(doc, priv, ecs_json_str(doc, "taskDefinition", ""),
                                                             ecs_json_int_or(doc, "desiredCount", 0)));
                        records_move(priv, "IN_PROGRESS", "STOPPED", "Stopped by a newer deployment.", true);
                        record_new(s->store, region, doc, priv, json_array_get(deps, 0), deps);
                        json_object_set_new(priv, "steady", json_false());
                        json_object_del(priv, "backoffUntil");
                } else if (json_array_size(deps))
                        json_object_set_new(json_array_get(deps, 0), "desiredCount",
                                            json_integer(ecs_json_int_or(doc, "desiredCount", 0)));
                current_revisions(doc, priv);
                r = rt_service_put(s->store, region, cluster, doc, priv, e);
                if (r >= 0)
                        *ret = TAKE_PTR(doc);
        }
        pthread_mutex_unlock(&s->lock);
        if (r >= 0)
                wake_one(s, region, cluster, name);
        return r;
}

int rt_scheduler_stop_deployment(struct rt_scheduler *s, const char *region, const char *cluster, const char *name,
                                 const char *record_id, bool rollback, struct err *e) {
        pthread_mutex_lock(&s->lock);
        json_auto_t *doc = NULL;
        json_auto_t *priv = NULL;
        int r = rt_service_get(s->store, region, cluster, name, &doc, &priv, e);
        json_t *rec = r >= 0 ? record_find(priv, record_id) : NULL;
        const char *status = ecs_json_str(rec, "status", "");
        if (r == -ENOENT || (r >= 0 && !rec))
                r = err_set(e, -ENOENT, ERR_KIND_SERVICE_DEPLOYMENT_NOT_FOUND, "Service deployment not found.");
        else if (r < 0)
                ;
        else if (str_eq(status, "STOP_REQUESTED") || str_eq(status, "ROLLBACK_REQUESTED") ||
                 str_eq(status, "ROLLBACK_IN_PROGRESS"))
                r = 0; /* ECS goes on with the stop or the rollback already asked for */
        else if (!str_eq(ecs_json_str(doc, "status", ""), "ACTIVE") ||
                 !(str_eq(status, "PENDING") || str_eq(status, "IN_PROGRESS")))
                r = err_set(e, -EBUSY, ERR_KIND_CONFLICT, "The service deployment is %s and cannot be stopped.",
                            status);
        else if (rollback && (!json_object_get(priv, "lastCompleted") ||
                              str_eq(ecs_json_str(json_object_get(priv, "lastCompleted"), "id", ""),
                                     ecs_json_str(rec, "deployment", ""))))
                r = err_set(e, -EBUSY, ERR_KIND_CONFLICT,
                            "The service deployment has no previous service revision to roll back to.");
        else {
                json_object_set_new(rec, "status", json_string(rollback ? "ROLLBACK_REQUESTED" : "STOP_REQUESTED"));
                json_object_set_new(rec, "updatedAt", ecs_timestamp_now());
                r = rt_service_put(s->store, region, cluster, doc, priv, e);
                if (r >= 0)
                        log_info("scheduler", "\"service deployment stop requested\" service=%s deployment=%s type=%s",
                                 name, record_id, rollback ? "ROLLBACK" : "ABORT");
        }
        pthread_mutex_unlock(&s->lock);
        if (r >= 0)
                wake_one(s, region, cluster, name);
        return r;
}

int rt_scheduler_continue_deployment(struct rt_scheduler *s, const char *region, const char *cluster,
                                     const char *name, const char *record_id, const char *hook_id, bool rollback,
                                     struct err *e) {
        pthread_mutex_lock(&s->lock);
        json_auto_t *doc = NULL;
        json_auto_t *priv = NULL;
        int r = rt_service_get(s->store, region, cluster, name, &doc, &priv, e);
        json_t *rec = r >= 0 ? record_find(priv, record_id) : NULL;
        if (r == -ENOENT || (r >= 0 && !rec))
                r = err_set(e, -ENOENT, ERR_KIND_SERVICE_DEPLOYMENT_NOT_FOUND, "Service deployment not found.");
        else if (r >= 0 && (r = hook_continue(priv, rec, hook_id, rollback, e)) >= 0) {
                r = rt_service_put(s->store, region, cluster, doc, priv, e);
                if (r >= 0)
                        log_info("scheduler", "\"lifecycle hook resolved\" service=%s deployment=%s hook=%s action=%s",
                                 name, record_id, hook_id, rollback ? "ROLLBACK" : "CONTINUE");
        }
        pthread_mutex_unlock(&s->lock);
        if (r >= 0)
                wake_one(s, region, cluster, name);
        return r;
}

int rt_scheduler_delete(struct rt_scheduler *s, const char *region, const char *cluster, const char *name,
                        bool force, json_t **ret, struct err *e) {
        pthread_mutex_lock(&s->lock);
        json_auto_t *doc = NULL;
        json_auto_t *priv = NULL;
        int r = service_for_change(s, region, cluster, name, &doc, &priv, e);
        if (r == -ESRCH) {
                /* The model lists no ServiceNotActiveException for DeleteService: deleting a DRAINING service again
                 * returns it as it is; an INACTIVE one is gone. */
                r = rt_service_get(s->store, region, cluster, name, &doc, NULL, e);
                if (r >= 0 && str_eq(ecs_json_str(doc, "status", ""), "DRAINING"))
                        *ret = TAKE_PTR(doc);
                else if (r >= 0)
                        r = err_set(e, -ENOENT, ERR_KIND_SERVICE_NOT_FOUND, "Service not found.");
                pthread_mutex_unlock(&s->lock);
                return r;
        }
        if (r >= 0 && !force && str_eq(ecs_json_str(doc, "schedulingStrategy", "REPLICA"), "REPLICA") &&
            ecs_json_int_or(doc, "desiredCount", 0) > 0)
                r = err_set(e, -EBUSY, ERR_KIND_INVALID, "The service cannot be stopped while it is scaled above 0.");
        if (r >= 0) {
                json_object_set_new(doc, "status", json_string("DRAINING"));
                json_object_set_new(doc, "desiredCount", json_integer(0));
                json_object_set_new(priv, "steady", json_false());
                r = rt_service_put(s->store, region, cluster, doc, priv, e);
                if (r >= 0) {
                        *ret = TAKE_PTR(doc);
                        log_info("scheduler", "\"service draining\" service=%s cluster=%s", name, cluster);
                }
        }
        pthread_mutex_unlock(&s->lock);
        if (r >= 0)
                wake_one(s, region, cluster, name);
        return r;
}

int rt_scheduler_edit(struct rt_scheduler *s, const char *region, const char *cluster, const char *name,
                      rt_service_edit_fn fn, void *arg, json_t **ret, struct err *e) {
        pthread_mutex_lock(&s->lock);
        json_auto_t *doc = NULL;
        json_auto_t *priv = NULL;
        int r = service_for_change(s, region, cluster, name, &doc, &priv, e);
        json_auto_t *out = NULL;
        if (r >= 0)
                r = fn(arg, doc, &out, e);
        if (r >= 0)
                r = rt_service_put(s->store, region, cluster, doc, priv, e);
        if (r >= 0)
                *ret = TAKE_PTR(out);
        pthread_mutex_unlock(&s->lock);
        if (r >= 0)
                wake_one(s, region, cluster, name);
        return r;
}

static int edit_add_event(void *arg, json_t *doc, json_t **ret, struct err *e) {
        (void) e;
        add_event(doc, "%s", (const char *) arg);
        *ret = json_true();
        return 0;
}

int rt_scheduler_add_event(struct rt_scheduler *s, const char *region, const char *cluster, const char *name,
                           const char *message, struct err *e) {
        json_auto_t *ignored = NULL;
        return rt_scheduler_edit(s, region, cluster, name, edit_add_event, (void *) (uintptr_t) message, &ignored, e);
}
