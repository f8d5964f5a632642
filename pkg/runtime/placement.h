/* placement.h — where a task goes among a cluster's container instances: ECS's cluster query language (memberOf
 * expressions, ListContainerInstances' filter), the placement constraints and the placement strategies. Pure
 * functions over JSON descriptions of the instances; instances.h gathers those descriptions and applies the choice.
 * See docs/internals/placement.md.
 *
 * An instance, as these functions read it ("a view"):
 *   {"arn", "id", "attributes": {name: value or null}, "agentConnected": bool, "agentVersion", "ec2InstanceId"?,
 *    "registeredAt": epoch seconds, "runningTasksCount", "status", "runnable": bool (the backend can run tasks there),
 *    "cpu", "memory": what remains, "groups": [the group of each task placed there]}
 *
 * No state, no locks: any thread. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base.h"

/* Parse a cluster query language expression ("attribute:ecs.os-type == linux and not(task:group == x)") into a tree
 * (*ret, caller owns). A malformed one is InvalidParameterException with what was wrong and where. */
int rt_query_parse(const char *expr, json_t **ret, struct err *e);
/* True when the instance `view` satisfies the parsed expression `q`. */
bool rt_query_match(const json_t *q, const json_t *view);

/* Check placementConstraints ([{"type": "distinctInstance"|"memberOf", "expression"?}]) and placementStrategy
 * ([{"type": "binpack"|"spread"|"random", "field"?}]) as RunTask, StartTask and CreateService take them: the rules
 * and limits ECS applies (at most 10 constraints and 5 strategies, memberOf needs an expression that parses,
 * distinctInstance none, binpack's field is cpu or memory, spread's instanceId, host or attribute:NAME, random has
 * none). Either may be NULL. InvalidParameterException otherwise. */
int rt_placement_validate(const json_t *constraints, const json_t *strategy, struct err *e);

/* What one task asks of an instance. */
struct rt_placement_need {
        int64_t cpu, memory; /* CPU units, MiB */
        const char *group;   /* the task's group: distinctInstance and spread count the tasks of this group */
        const json_t *constraints;
        const json_t *strategy;
};

/* Choose an instance of `views` for one task: the ones that can take it (ACTIVE, runnable, constraints met, enough
 * CPU and memory) ordered by the strategies in turn (none given: spread over availability zones, then instances).
 * Returns its index, or -ENOSPC when none can, with *ret_failures set to ECS's failures[] entries: one per instance
 * that was considered, {"arn", "reason"} with reason RESOURCE:CPU, RESOURCE:MEMORY, AGENT,
 * "MemberOf placement constraint unsatisfied." or "DistinctInstance placement constraint unsatisfied."
 * (caller owns). `seed` drives the random strategy (the caller's randomness keeps this function pure). */
int rt_placement_choose(const json_t *views, const struct rt_placement_need *need, uint64_t seed,
                        json_t **ret_failures);

/* What a task definition (with its overrides) reserves on an instance, as ECS counts it: the task's cpu and memory
 * when set, else the sum over its containers of cpu and of memoryReservation (else memory). */
void rt_placement_task_needs(const json_t *taskdef, const json_t *overrides, int64_t *ret_cpu, int64_t *ret_memory);
