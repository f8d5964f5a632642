/* test_capacity.c — capacity provider strategies (pkg/ecs/capacity.c): ECS's rules, and which provider each task of a
 * launch gets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "capacity.h"

static json_t *strategy(const char *text) {
        json_error_t jerr;
        json_t *s = json_loads(text, 0, &jerr);
        assert_non_null(s);
        return s;
}

/* How many of the tasks numbered from..from+n-1 each provider gets, written into counts (by position in s). */
static void tally(const json_t *s, int64_t from, int64_t n, int *counts) {
        for (int64_t k = from; k < from + n; k++) {
                const char *p = ecs_capacity_pick(s, k);
                size_t i;
                const json_t *item;
                bool found = false;
                json_array_foreach(s, i, item) if (strcmp(json_string_value(json_object_get(item, "capacityProvider")),
                                                          p) == 0) {
                        counts[i]++;
                        found = true;
                }
                assert_true(found);
        }
}

static void base_first_then_weights(void **state) {
        (void) state;
        json_t *s = strategy("[{\"capacityProvider\":\"A\",\"weight\":1},"
                             "{\"capacityProvider\":\"B\",\"base\":2,\"weight\":3}]");
        /* The base goes first, whatever the item order. */
        assert_string_equal(ecs_capacity_pick(s, 0), "B");
        assert_string_equal(ecs_capacity_pick(s, 1), "B");
        /* Past the base, every run of 4 consecutive tasks splits 1:3, wherever it starts. */
        for (int64_t from = 2; from < 30; from++) {
                int counts[2] = {0};
                tally(s, from, 4, counts);
                assert_int_equal(counts[0], 1);
                assert_int_equal(counts[1], 3);
        }
        /* Large ordinals (a long-lived service) cost no more than a period. */
        int counts[2] = {0};
        tally(s, 1000000002, 400, counts);
        assert_int_equal(counts[0], 100);
        assert_int_equal(counts[1], 300);
        json_decref(s);
}

static void weight_zero_takes_nothing(void **state) {
        (void) state;
        json_t *s = strategy("[{\"capacityProvider\":\"A\",\"weight\":0,\"base\":1},"
                             "{\"capacityProvider\":\"B\",\"weight\":5}]");
        assert_string_equal(ecs_capacity_pick(s, 0), "A");
        for (int64_t k = 1; k < 20; k++)
                assert_string_equal(ecs_capacity_pick(s, k), "B");
        json_decref(s);
        /* A single item of weight 0 takes every task. */
        s = strategy("[{\"capacityProvider\":\"FARGATE_SPOT\"}]");
        assert_string_equal(ecs_capacity_pick(s, 7), "FARGATE_SPOT");
        json_decref(s);
}

static void rules(void **state) {
        (void) state;
        json_t *available = strategy("[\"FARGATE\",\"FARGATE_SPOT\",\"asg\"]");
        static const char *const bad[] = {
                "[{\"capacityProvider\":\"FARGATE\",\"base\":1,\"weight\":1},"
                "{\"capacityProvider\":\"FARGATE_SPOT\",\"base\":1,\"weight\":1}]", /* two bases */
                "[{\"capacityProvider\":\"FARGATE\"},{\"capacityProvider\":\"FARGATE_SPOT\"}]", /* no weight */
                "[{\"capacityProvider\":\"FARGATE\",\"weight\":1},{\"capacityProvider\":\"FARGATE\",\"weight\":1}]",
                "[{\"capacityProvider\":\"FARGATE\",\"weight\":1},{\"capacityProvider\":\"asg\",\"weight\":1}]",
                "[{\"capacityProvider\":\"elsewhere\",\"weight\":1}]", /* not available */
                "[{\"weight\":1}]",
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                json_t *s = strategy(bad[i]);
                struct err e = {0};
                assert_int_equal(ecs_capacity_strategy_check(s, available, "the cluster", &e), -EINVAL);
                assert_int_equal(e.kind, ERR_KIND_INVALID);
                assert_true(strlen(e.msg) > 0);
                json_decref(s);
        }
        json_t *many = json_array();
        for (int i = 0; i < 21; i++)
                json_array_append_new(many, json_pack("{s:o, s:i}", "capacityProvider", json_sprintf("p%d", i), "weight", 1));
        struct err e = {0};
        assert_int_equal(ecs_capacity_strategy_check(many, NULL, "", &e), -EINVAL);
        json_decref(many);
        json_t *good = strategy("[{\"capacityProvider\":\"FARGATE\",\"base\":2,\"weight\":1},"
                                "{\"capacityProvider\":\"FARGATE_SPOT\",\"weight\":4}]");
        assert_int_equal(ecs_capacity_strategy_check(good, available, "the cluster", &e), 0);
        json_decref(good);
        json_decref(available);
        assert_string_equal(ecs_capacity_launch_type("FARGATE_SPOT"), "FARGATE");
        assert_string_equal(ecs_capacity_launch_type("asg"), "EC2");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(base_first_then_weights),
                cmocka_unit_test(weight_zero_takes_nothing),
                cmocka_unit_test(rules),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
