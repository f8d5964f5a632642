/* tasksets.h — the task sets of services whose deploymentController is EXTERNAL (docs/internals/tasksets.md).
 *
 * A task set lives in its service's stored document (Service.taskSets, the botocore TaskSet shape), so
 * DescribeServices shows it and every change to it goes through the scheduler's lock like every other change to a
 * service (rt_scheduler_edit). The scheduler leaves an EXTERNAL service's tasks to rt_tasksets_reconcile: each task
 * set keeps ceil(desiredCount × scale / 100) tasks running, started with startedBy = the task set's id, as ECS does.
 *
 * Not thread-safe by itself: every function here is called with the scheduler's lock held. */
#pragma once

#include <jansson.h>

#include "base.h"
#include "lifecycle.h"
#include "store.h"

/* Whether a Service document's deploymentController is EXTERNAL (its task sets are managed through the task set
 * calls). */
bool rt_tasksets_external(const json_t *doc);

/* Whether a Service's tasks belong to its task sets: EXTERNAL, or CODE_DEPLOY (whose one PRIMARY task set CreateService
 * makes from the service's task definition; CodeDeploy, which would make the replacement ones, is not part of ecsd). */
bool rt_tasksets_managed(const json_t *doc);

/* The task set of `doc` that `ref` names (its id or its ARN), borrowed from doc; NULL when none does. */
json_t *rt_taskset_find(const json_t *doc, const char *ref);

/* ceil(desiredCount × scale.value / 100), what a task set of a service with `desired` tasks should run. */
int64_t rt_taskset_computed_desired(int64_t desired, const json_t *taskset);

/* One pass over an EXTERNAL service `doc` (changed in place): for each task set, start its missing tasks and stop its
 * extra ones (stopCode ServiceSchedulerInitiated); stop tasks of no task set; drop a DRAINING task set with no task
 * left; recount every task set (runningCount, pendingCount, computedDesiredCount, stabilityStatus) and the service;
 * a DRAINING service with no task left becomes INACTIVE. `group` is the service's task group ("service:NAME"). */
void rt_tasksets_reconcile(struct rt_store *store, struct rt_lifecycle *lc, const char *region, const char *cluster,
                           const char *group, json_t *doc);
