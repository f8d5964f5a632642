/* taskdef-validate.h — the semantic rules real ECS applies to RegisterTaskDefinition, beyond the input shape.
 * The rule table, with the message of each, is at the top of taskdef-validate.c. Pure functions: safe from any
 * thread. */
#pragma once

#include <stdint.h>

#include <jansson.h>

#include "base.h"

/* Validate `req` (borrowed, not modified), a RegisterTaskDefinition request that already went through
 * ecs_shape_check (so every member present has the right JSON type). Returns 0 when ECS would accept it, else
 * -EINVAL with ERR_KIND_CLIENT (ClientException) and ECS's message in `e` (may be NULL). The first rule broken wins. */
int ecs_taskdef_validate(const json_t *req, struct err *e);

/* Task-level cpu as ECS accepts it: CPU units as an integer string ("256") or vCPUs ("1 vCPU", "0.25 vcpu", "2vCPU").
 * Stores the CPU units (1 vCPU = 1024) in *ret and returns 0; -EINVAL for anything else, for fractions that do not
 * come out as whole units, and for values outside 1..196608 (192 vCPU). */
int ecs_taskdef_cpu_parse(const char *s, int64_t *ret);

/* Task-level memory: MiB as an integer string ("512") or GB ("0.5 GB", "2GB", "1 gb"; 1 GB = 1024 MiB).
 * Stores MiB in *ret and returns 0; -EINVAL for anything else, for fractions that do not come out as whole MiB, and
 * for values outside 1..2^31-1. */
int ecs_taskdef_memory_parse(const char *s, int64_t *ret);
