/* capacity.h — capacity provider strategies as ECS reads them: the rules a strategy must keep, which provider each
 * task of a launch goes to, and the launch type a task on a provider reports. Pure functions, no state; any thread.
 * See docs/internals/capacity.md. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "base.h"

/* The providers every account has; they need no CreateCapacityProvider. */
#define ECS_CAPACITY_FARGATE "FARGATE"
#define ECS_CAPACITY_FARGATE_SPOT "FARGATE_SPOT"
#define ECS_CAPACITY_STRATEGY_MAX 20

/* True for FARGATE and FARGATE_SPOT. */
bool ecs_capacity_builtin(const char *name);

/* Check a strategy ([{"capacityProvider", "base"?, "weight"?}], borrowed): at most 20 items, each provider once, at
 * most one item with a base above 0, at least one weight above 0 when there are several items, and no mix of the
 * Fargate providers with others. When `available` (an array of provider names) is not NULL, every provider must be in
 * it: `what` names that list in the message ("the cluster"). Errors are InvalidParameterException. */
int ecs_capacity_strategy_check(const json_t *strategy, const json_t *available, const char *what, struct err *e);

/* The provider (a borrowed string of `strategy`) that the task numbered `ordinal` (0-based) of tasks launched under a
 * checked, non-empty strategy goes to: the base provider for the first `base` tasks, then the providers of weight
 * above 0 in proportion to their weights, interleaved (a smooth weighted round robin), so any run of consecutive
 * ordinals past the base is split as the weights say. A single item of weight 0 takes every task. */
const char *ecs_capacity_pick(const json_t *strategy, int64_t ordinal);

/* The launch type ECS reports for a task on `provider`: FARGATE for FARGATE and FARGATE_SPOT, EC2 otherwise (an Auto
 * Scaling group provider). */
const char *ecs_capacity_launch_type(const char *provider);
