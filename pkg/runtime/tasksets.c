/* tasksets.c — keeps the tasks of an EXTERNAL service's task sets running and counted (see tasksets.h,
 * docs/internals/tasksets.md).
 *
 * The scheduler calls rt_tasksets_reconcile from its pass, with its lock held, instead of its own deployment logic
 * when a service's deploymentController is EXTERNAL; the task set actions (pkg/api/actions-taskset.c) change the
 * task sets through rt_scheduler_edit under the same lock. The tasks are counted from rt_lifecycle_tasks, never from
 * the stored counts, so a restart (whose lifecycle table is reloaded from the store) neither loses nor doubles them.
 * A task belongs to the task set whose id is its startedBy. */
#include "tasksets.h"

#include <string.h>

#include "ecs.h"

bool rt_tasksets_external(const json_t *doc) {
        return str_eq(ecs_json_str(json_object_get(doc, "deploymentController"), "type", "ECS"), "EXTERNAL");
}

bool rt_tasksets_managed(const json_t *doc) {
        return rt_tasksets_external(doc) ||
               str_eq(ecs_json_str(json_object_get(doc, "deploymentController"), "type", "ECS"), "CODE_DEPLOY");
}

json_t *rt_taskset_find(const json_t *doc, const char *ref) {
        size_t i;
        json_t *ts;
        json_array_foreach(json_object_get(doc, "taskSets"), i, ts) {
                if (str_eq(ecs_json_str(ts, "id", NULL), ref) || str_eq(ecs_json_str(ts, "taskSetArn", NULL), ref))
                        return ts;
        }
        return NULL;
}

int64_t rt_taskset_computed_desired(int64_t desired, const json_t *taskset) {
        const json_t *v = json_object_get(json_object_get(taskset, "scale"), "value");
        double pct = json_is_number(v) ? json_number_value(v) : 100.0;
        /* ECS rounds up; the small slack keeps an exact product (4 × 25 %) from rounding up past itself. */
        double x = (double) desired * pct / 100.0;
        int64_t n = (int64_t) x;
        return (double) n < x - 1e-9 ? n + 1 : n;
}

/* Start `n` tasks of task set `ts`; returns how many started. */
static int64_t launch(struct rt_store *store, struct rt_lifecycle *lc, const char *region, const char *cluster,
                      const char *group, const json_t *doc, const json_t *ts, int64_t n) {
        const char *tdarn = ecs_json_str(ts, "taskDefinition", "");
        char family[ECS_NAME_MAX + 1];
        int64_t rev;
        struct err e = {0};
        json_auto_t *td = NULL;
        struct ecs_arn arn;
        if (ecs_taskdef_arn_parse(tdarn, family, &rev, &e) < 0 ||
            rt_taskdef_get(store, region, family, rev, &td, &e) < 0 ||
            ecs_arn_parse(ecs_json_str(doc, "serviceArn", ""), &arn, &e) < 0) {
                log_error("tasksets", "\"cannot read the task definition\" taskset=%s taskdef=%s error=\"%s\"",
                          ecs_json_str(ts, "id", ""), tdarn, e.msg);
                return 0;
        }
        int64_t done = 0;
        for (; done < n; done++) {
                struct rt_run_request req = {
                        .region = region,
                        .account = arn.account,
                        .cluster_name = cluster,
                        .cluster_arn = ecs_json_str(doc, "clusterArn", ""),
                        .taskdef = td,
                        .started_by = ecs_json_str(ts, "id", ""),
                        .group = group,
                        .launch_type = ecs_json_str(ts, "launchType", NULL),
                        .enable_execute_command = json_is_true(json_object_get(doc, "enableExecuteCommand")),
                };
                json_auto_t *task = NULL;
                if (rt_lifecycle_run(lc, &req, &task, &e) < 0) {
                        log_error("tasksets", "\"cannot start a task\" taskset=%s error=\"%s\"",
                                  ecs_json_str(ts, "id", ""), e.msg);
                        break;
                }
        }
        return done;
}

static void stop(struct rt_lifecycle *lc, const json_t *task, const char *reason) {
        struct err e = {0};
        const char *id = ecs_json_str(task, "id", "");
        if (rt_lifecycle_stop(lc, id, "ServiceSchedulerInitiated", reason, NULL, &e) < 0)
                log_error("tasksets", "\"cannot stop a task\" task=%s error=\"%s\"", id, e.msg);
}

/* Bring task set `ts` to `want` tasks asked to run: the extra ones go, those not yet running first, then the newest. */
static void scale(struct rt_store *store, struct rt_lifecycle *lc, const char *region, const char *cluster,
                  const char *group, const json_t *doc, const json_t *ts, const json_t *tasks, int64_t want) {
        const char *id = ecs_json_str(ts, "id", "");
        size_t n = json_array_size(tasks);
        bool *mine = xcalloc(n ? n : 1, sizeof(*mine));
        int64_t asked = 0;
        for (size_t i = 0; i < n; i++) {
                const json_t *t = json_array_get(tasks, i);
                mine[i] = str_eq(ecs_json_str(t, "startedBy", NULL), id) &&
                          str_eq(ecs_json_str(t, "desiredStatus", ""), "RUNNING");
                asked += mine[i];
        }
        char reason[128];
        str_printf(reason, sizeof(reason), "Scaling activity initiated by (task set %s)", id);
        for (int pass = 0; pass < 2 && asked > want; pass++)
                for (size_t i = n; i-- > 0 && asked > want;) {
                        const json_t *t = json_array_get(tasks, i);
                        if (!mine[i] || (pass == 0 && str_eq(ecs_json_str(t, "lastStatus", ""), "RUNNING")))
                                continue;
                        stop(lc, t, reason);
                        mine[i] = false;
                        asked--;
                }
        free(mine);
        if (asked < want)
                launch(store, lc, region, cluster, group, doc, ts, want - asked);
}

/* Counts and stability of one task set from the lifecycle's tasks; true when it has a task not yet STOPPED. */
static bool recount(json_t *ts, const json_t *tasks, int64_t computed) {
        const char *id = ecs_json_str(ts, "id", "");
        int64_t running = 0, pending = 0;
        bool live = false;
        size_t i;
        const json_t *t;
        json_array_foreach(tasks, i, t) {
                if (!str_eq(ecs_json_str(t, "startedBy", NULL), id))
                        continue;
                live = true;
                if (!str_eq(ecs_json_str(t, "desiredStatus", ""), "RUNNING"))
                        continue;
                const char *last = ecs_json_str(t, "lastStatus", "");
                if (str_eq(last, "RUNNING"))
                        running++;
                else if (ecs_status_pending(last))
                        pending++;
        }
        bool changed = ecs_json_int_or(ts, "runningCount", -1) != running || ecs_json_int_or(ts, "pendingCount", -1) != pending ||
                       ecs_json_int_or(ts, "computedDesiredCount", -1) != computed;
        json_object_set_new(ts, "runningCount", json_integer(running));
        json_object_set_new(ts, "pendingCount", json_integer(pending));
        json_object_set_new(ts, "computedDesiredCount", json_integer(computed));
        /* ECS: STEADY_STATE when the task set runs its computed desired count and nothing is pending or stopping. */
        bool steady = running == computed && pending == 0;
        const char *stability = steady ? "STEADY_STATE" : "STABILIZING";
        if (!str_eq(ecs_json_str(ts, "stabilityStatus", NULL), stability)) {
                json_object_set_new(ts, "stabilityStatus", json_string(stability));
                json_object_set_new(ts, "stabilityStatusAt", ecs_timestamp_now());
                changed = true;
        }
        if (changed)
                json_object_set_new(ts, "updatedAt", ecs_timestamp_now());
        return live;
}

void rt_tasksets_reconcile(struct rt_store *store, struct rt_lifecycle *lc, const char *region, const char *cluster,
                           const char *group, json_t *doc) {
        bool draining = str_eq(ecs_json_str(doc, "status", ""), "DRAINING");
        int64_t desired = draining ? 0 : ecs_json_int_or(doc, "desiredCount", 0);
        json_t *sets = json_object_get(doc, "taskSets");
        if (!json_is_array(sets)) {
                sets = json_array();
                json_object_set_new(doc, "taskSets", sets);
        }
        json_auto_t *tasks = rt_lifecycle_tasks(lc, region, cluster, group);
        /* A task of no task set (its task set was deleted) goes. */
        size_t i;
        const json_t *t;
        json_array_foreach(tasks, i, t) {
                if (str_eq(ecs_json_str(t, "desiredStatus", ""), "RUNNING") &&
                    !rt_taskset_find(doc, ecs_json_str(t, "startedBy", "")))
                        stop(lc, t, "Task set deleted");
        }
        json_t *ts;
        json_array_foreach(sets, i, ts) {
                bool gone = draining || str_eq(ecs_json_str(ts, "status", ""), "DRAINING");
                int64_t want = gone ? 0 : rt_taskset_computed_desired(desired, ts);
                scale(store, lc, region, cluster, group, doc, ts, tasks, want);
        }
        json_decref(tasks);
        tasks = rt_lifecycle_tasks(lc, region, cluster, group);
        int64_t running = 0, pending = 0;
        for (i = json_array_size(sets); i-- > 0;) {
                ts = json_array_get(sets, i);
                bool gone = draining || str_eq(ecs_json_str(ts, "status", ""), "DRAINING");
                bool live = recount(ts, tasks, gone ? 0 : rt_taskset_computed_desired(desired, ts));
                if (str_eq(ecs_json_str(ts, "status", ""), "DRAINING") && !live) {
                        log_info("tasksets", "\"task set deleted\" taskset=%s", ecs_json_str(ts, "id", ""));
                        json_array_remove(sets, i);
                        continue;
                }
                running += ecs_json_int_or(ts, "runningCount", 0);
                pending += ecs_json_int_or(ts, "pendingCount", 0);
        }
        json_object_set_new(doc, "runningCount", json_integer(running));
        json_object_set_new(doc, "pendingCount", json_integer(pending));
        if (draining && json_array_size(tasks) == 0) {
                json_object_set_new(doc, "status", json_string("INACTIVE"));
                json_array_clear(sets);
                log_info("tasksets", "\"service inactive\" service=%s", group + 8);
        }
}
