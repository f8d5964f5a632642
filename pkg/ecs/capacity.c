/* capacity.c — capacity provider strategies (see capacity.h). Pure: reads only what it is given. */
#include "capacity.h"

#include <string.h>

#include "ecs.h"

bool ecs_capacity_builtin(const char *name) {
        return name && (strcmp(name, ECS_CAPACITY_FARGATE) == 0 || strcmp(name, ECS_CAPACITY_FARGATE_SPOT) == 0);
}

static int64_t item_int(const json_t *item, const char *key) {
        int64_t v = 0;
        return ecs_json_int(item, key, &v) ? v : 0;
}

int ecs_capacity_strategy_check(const json_t *strategy, const json_t *available, const char *what, struct err *e) {
        size_t n = json_array_size(strategy);
        if (n > ECS_CAPACITY_STRATEGY_MAX)
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "A capacity provider strategy can contain at most %d capacity providers.",
                               ECS_CAPACITY_STRATEGY_MAX);
        size_t with_base = 0, with_weight = 0, fargate = 0;
        for (size_t i = 0; i < n; i++) {
                const json_t *item = json_array_get(strategy, i);
                const char *name = ecs_json_str(item, "capacityProvider", NULL);
                if (!name || !*name)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "Each capacity provider strategy item needs a capacityProvider.");
                for (size_t k = 0; k < i; k++)
                        if (strcmp(ecs_json_str(json_array_get(strategy, k), "capacityProvider", ""), name) == 0)
                                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                               "Capacity provider %.255s appears more than once in the capacity "
                                               "provider strategy.",
                                               name);
                if (available && !ecs_json_list_has(available, name))
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "The specified capacity provider strategy cannot contain a capacity provider "
                                       "that is not associated with %s (%.255s).",
                                       what, name);
                with_base += item_int(item, "base") > 0;
                with_weight += item_int(item, "weight") > 0;
                fargate += ecs_capacity_builtin(name);
        }
        if (with_base > 1)
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Only one capacity provider in a capacity provider strategy can have a base.");
        if (n > 1 && with_weight == 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "At least one capacity provider in a capacity provider strategy must have a weight "
                               "greater than zero.");
        if (fargate && fargate != n)
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "A capacity provider strategy cannot mix the FARGATE and FARGATE_SPOT capacity "
                               "providers with Auto Scaling group capacity providers.");
        return 0;
}

const char *ecs_capacity_pick(const json_t *strategy, int64_t ordinal) {
        size_t n = json_array_size(strategy);
        ASSERT(n > 0 && n <= ECS_CAPACITY_STRATEGY_MAX);
        int64_t total = 0;
        for (size_t i = 0; i < n; i++) {
                const json_t *item = json_array_get(strategy, i);
                int64_t base = item_int(item, "base");
                if (base > 0 && ordinal < base)
                        return ecs_json_str(item, "capacityProvider", "");
                if (base > 0)
                        ordinal -= base;
                total += item_int(item, "weight") > 0 ? item_int(item, "weight") : 0;
        }
        if (total == 0)
                return ecs_json_str(json_array_get(strategy, 0), "capacityProvider", "");
        /* The round robin repeats every `total` picks, so only ordinal mod total steps need running. */
        int64_t current[ECS_CAPACITY_STRATEGY_MAX] = {0};
        size_t pick = 0;
        for (int64_t step = 0; step <= ordinal % total; step++) {
                pick = n;
                for (size_t i = 0; i < n; i++) {
                        int64_t w = item_int(json_array_get(strategy, i), "weight");
                        if (w <= 0)
                                continue;
                        current[i] += w;
                        if (pick == n || current[i] > current[pick])
                                pick = i;
                }
                current[pick] -= total;
        }
        return ecs_json_str(json_array_get(strategy, pick), "capacityProvider", "");
}

const char *ecs_capacity_launch_type(const char *provider) {
        return ecs_capacity_builtin(provider) ? "FARGATE" : "EC2";
}
