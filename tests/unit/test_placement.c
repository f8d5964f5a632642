/* test_placement.c — the cluster query language, placement constraints and strategies (pkg/runtime/placement.c),
 * and the Kubernetes quantities a node's allocatable is read from (pkg/k8s/nodes.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "k8s-internal.h"
#include "placement.h"

/* An instance view (placement.h). */
static json_t *view(const char *arn, const char *zone, const char *type, int64_t cpu, int64_t mem,
                    const char *groups_json) {
        json_t *v = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:n}, s:b, s:s, s:s, s:I, s:s, s:b, s:I, s:I}", "arn", arn,
                              "id", arn, "attributes", "ecs.availability-zone", zone, "ecs.instance-type", type,
                              "ecs.os-type", "linux", "gpu", "agentConnected", 1, "agentVersion", "1.2.3",
                              "registeredAt", "2024-05-01T10:00:00Z", "runningTasksCount", (json_int_t) 2, "status",
                              "ACTIVE", "runnable", 1, "cpu", (json_int_t) cpu, "memory", (json_int_t) mem);
        json_object_set_new(v, "groups", json_loads(groups_json, 0, NULL));
        return v;
}

static bool matches(const char *expr, const json_t *v) {
        json_t *q = NULL;
        struct err e = {0};
        if (rt_query_parse(expr, &q, &e) != 0)
                fail_msg("'%s' did not parse: %s", expr, e.msg);
        bool m = rt_query_match(q, v);
        json_decref(q);
        return m;
}

static void query_matches(void **state) {
        (void) state;
        json_t *v = view("i1", "us-east-1a", "t2.small", 1024, 2048, "[\"service:web\", \"family:x\"]");
        assert_true(matches("attribute:ecs.instance-type == t2.small", v));
        assert_true(matches("attribute:ecs.instance-type equals t2.small", v));
        assert_false(matches("attribute:ecs.instance-type != t2.small", v));
        assert_true(matches("attribute:ecs.instance-type =~ t2.*", v));
        assert_false(matches("attribute:ecs.instance-type !~ t2.*", v));
        assert_true(matches("attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", v));
        assert_false(matches("attribute:ecs.availability-zone not_in [us-east-1a,us-east-1b]", v));
        assert_true(matches("attribute:gpu exists", v));            /* an attribute without a value */
        assert_false(matches("attribute:gpu == x", v));
        assert_true(matches("attribute:missing !exists", v));
        assert_true(matches("attribute:missing != x", v));          /* a missing attribute differs from anything */
        assert_false(matches("attribute:missing == x", v));
        assert_true(matches("task:group == service:web", v));
        assert_false(matches("task:group == service:db", v));
        assert_true(matches("not(task:group == service:db)", v));
        assert_true(matches("!(task:group == service:db)", v));
        assert_true(matches("task:group =~ service:*", v));
        assert_true(matches("runningTasksCount > 1 and runningTasksCount <= 2", v));
        assert_false(matches("runningTasksCount greater_than 2", v));
        assert_true(matches("registeredAt < 2025-01-01T00:00:00Z", v));
        assert_true(matches("agentConnected == true && agentVersion >= 1.2.3", v));
        /* Precedence: and binds tighter than or; parentheses group. */
        assert_true(matches("attribute:ecs.instance-type == m5.large or attribute:ecs.os-type == linux and "
                            "runningTasksCount == 2",
                            v));
        assert_false(matches("(attribute:ecs.instance-type == m5.large or attribute:ecs.os-type == linux) and "
                             "runningTasksCount == 3",
                             v));
        assert_true(matches("attribute:ecs.instance-type == m5.large || (attribute:ecs.os-type == linux)", v));
        json_t *empty = view("i2", "us-east-1b", "m5.large", 1024, 2048, "[]");
        assert_false(matches("task:group exists", empty));
        assert_true(matches("task:group !exists", empty));
        assert_true(matches("task:group != service:web", empty));
        json_decref(empty);
        json_decref(v);
}

static void query_rejects_bad_expressions(void **state) {
        (void) state;
        static const char *const bad[] = {
                "", "attribute:a ==", "attribute:a == b and", "(attribute:a == b", "attribute:a == b)",
                "attribute:a in [b", "attribute:a in b", "attribute:a in []", "stack == blue", "attribute: == b",
                "attribute:a === b", "attribute:a == b andd attribute:c == d", "not", "attribute:a ~= b",
                "attribute:a == b,c", "attribute:a == [b]",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                json_t *q = NULL;
                struct err e = {0};
                if (rt_query_parse(bad[i], &q, &e) != -EINVAL)
                        fail_msg("'%s' parsed", bad[i]);
                assert_int_equal(e.kind, ERR_KIND_INVALID);
                assert_null(q);
        }
        json_t *q = NULL;
        struct err e = {0};
        assert_int_equal(rt_query_parse("attribute:a == b andd attribute:c == d", &q, &e), -EINVAL);
        assert_non_null(strstr(e.msg, "position 18"));
}

static void validate_constraints_and_strategies(void **state) {
        (void) state;
        struct err e = {0};
        json_t *ok_c = json_loads("[{\"type\":\"distinctInstance\"},{\"type\":\"memberOf\",\"expression\":"
                                  "\"attribute:a == b\"}]",
                                  0, NULL);
        json_t *ok_s = json_loads("[{\"type\":\"spread\",\"field\":\"attribute:ecs.availability-zone\"},"
                                  "{\"type\":\"binpack\",\"field\":\"memory\"},{\"type\":\"random\"},"
                                  "{\"type\":\"spread\",\"field\":\"instanceId\"}]",
                                  0, NULL);
        assert_int_equal(rt_placement_validate(ok_c, ok_s, &e), 0);
        assert_int_equal(rt_placement_validate(NULL, NULL, &e), 0);
        static const char *const bad_c[] = {
                "[{\"type\":\"memberOf\"}]",
                "[{\"type\":\"memberOf\",\"expression\":\"x == y\"}]",
                "[{\"type\":\"distinctInstance\",\"expression\":\"attribute:a == b\"}]",
                "[{\"type\":\"sameHost\"}]",
        };
        for (size_t i = 0; i < sizeof(bad_c) / sizeof(bad_c[0]); i++) {
                json_t *c = json_loads(bad_c[i], 0, NULL);
                assert_int_equal(rt_placement_validate(c, NULL, &e), -EINVAL);
                json_decref(c);
        }
        static const char *const bad_s[] = {
                "[{\"type\":\"binpack\",\"field\":\"disk\"}]",
                "[{\"type\":\"binpack\"}]",
                "[{\"type\":\"spread\",\"field\":\"attribute:\"}]",
                "[{\"type\":\"random\",\"field\":\"cpu\"}]",
                "[{\"type\":\"fill\"}]",
        };
        for (size_t i = 0; i < sizeof(bad_s) / sizeof(bad_s[0]); i++) {
                json_t *s = json_loads(bad_s[i], 0, NULL);
                assert_int_equal(rt_placement_validate(NULL, s, &e), -EINVAL);
                json_decref(s);
        }
        json_decref(ok_c);
        json_decref(ok_s);
}

static void choose_follows_strategies_and_reports_failures(void **state) {
        (void) state;
        json_t *views = json_array();
        json_array_append_new(views, view("a", "z1", "small", 1024, 1000, "[\"g\"]"));
        json_array_append_new(views, view("b", "z1", "large", 4096, 8000, "[]"));
        json_array_append_new(views, view("c", "z2", "large", 4096, 3000, "[\"g\", \"g\"]"));
        json_t *failures = NULL;
        /* binpack memory: the fullest instance that still fits. */
        json_t *binpack = json_loads("[{\"type\":\"binpack\",\"field\":\"memory\"}]", 0, NULL);
        struct rt_placement_need need = {.cpu = 10, .memory = 500, .group = "g", .strategy = binpack};
        assert_int_equal(rt_placement_choose(views, &need, 1, &failures), 0);
        need.memory = 2000;
        assert_int_equal(rt_placement_choose(views, &need, 1, &failures), 2);
        /* spread instanceId: the instance with the fewest tasks of the group. */
        json_t *spread = json_loads("[{\"type\":\"spread\",\"field\":\"instanceId\"}]", 0, NULL);
        need.memory = 10;
        need.strategy = spread;
        assert_int_equal(rt_placement_choose(views, &need, 1, &failures), 1);
        /* spread over zones: z1 holds one task of g, z2 two. */
        json_t *zones = json_loads("[{\"type\":\"spread\",\"field\":\"attribute:ecs.availability-zone\"},"
                                   "{\"type\":\"binpack\",\"field\":\"cpu\"}]",
                                   0, NULL);
        need.strategy = zones;
        assert_int_equal(rt_placement_choose(views, &need, 1, &failures), 0);
        /* distinctInstance leaves only b; memberOf narrows further to nothing. */
        json_t *distinct = json_loads("[{\"type\":\"distinctInstance\"}]", 0, NULL);
        need.constraints = distinct;
        need.strategy = NULL;
        assert_int_equal(rt_placement_choose(views, &need, 1, &failures), 1);
        json_t *none = json_loads("[{\"type\":\"distinctInstance\"},"
                                  "{\"type\":\"memberOf\",\"expression\":\"attribute:ecs.instance-type == small\"}]",
                                  0, NULL);
        need.constraints = none;
        assert_int_equal(rt_placement_choose(views, &need, 1, &failures), -ENOSPC);
        assert_int_equal(json_array_size(failures), 3);
        assert_string_equal(json_string_value(json_object_get(json_array_get(failures, 0), "reason")),
                            "DistinctInstance placement constraint unsatisfied.");
        assert_string_equal(json_string_value(json_object_get(json_array_get(failures, 1), "reason")),
                            "MemberOf placement constraint unsatisfied.");
        assert_string_equal(json_string_value(json_object_get(json_array_get(failures, 1), "arn")), "b");
        json_decref(failures);
        /* Resources: CPU is checked before memory, as ECS reports it. */
        need.constraints = NULL;
        need.cpu = 2048;
        need.memory = 5000;
        assert_int_equal(rt_placement_choose(views, &need, 1, &failures), 1);
        need.memory = 9000;
        assert_int_equal(rt_placement_choose(views, &need, 1, &failures), -ENOSPC);
        assert_string_equal(json_string_value(json_object_get(json_array_get(failures, 0), "reason")),
                            "RESOURCE:CPU");
        assert_string_equal(json_string_value(json_object_get(json_array_get(failures, 1), "reason")),
                            "RESOURCE:MEMORY");
        json_decref(failures);
        /* A DRAINING instance is passed over without a failure; one without an agent fails with AGENT. */
        json_object_set_new(json_array_get(views, 1), "status", json_string("DRAINING"));
        json_object_set_new(json_array_get(views, 2), "runnable", json_false());
        need.cpu = 10;
        need.memory = 10;
        need.constraints = distinct;
        assert_int_equal(rt_placement_choose(views, &need, 1, &failures), -ENOSPC);
        assert_int_equal(json_array_size(failures), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(failures, 1), "reason")), "AGENT");
        json_decref(failures);
        json_decref(none);
        json_decref(distinct);
        json_decref(zones);
        json_decref(spread);
        json_decref(binpack);
        json_decref(views);
}

static void random_strategy_uses_every_instance(void **state) {
        (void) state;
        json_t *views = json_array();
        for (int i = 0; i < 4; i++)
                json_array_append_new(views, view(i % 2 ? "odd" : "even", "z", "t", 1024, 1024, "[]"));
        json_t *random = json_loads("[{\"type\":\"random\"}]", 0, NULL);
        struct rt_placement_need need = {.cpu = 1, .memory = 1, .group = "g", .strategy = random};
        bool seen[4] = {false};
        json_t *failures = NULL;
        for (uint64_t seed = 0; seed < 200; seed++) {
                int i = rt_placement_choose(views, &need, seed, &failures);
                assert_true(i >= 0 && i < 4);
                seen[i] = true;
        }
        for (int i = 0; i < 4; i++)
                assert_true(seen[i]);
        json_decref(random);
        json_decref(views);
}

static void task_needs(void **state) {
        (void) state;
        json_t *td = json_loads("{\"containerDefinitions\":[{\"name\":\"a\",\"cpu\":128,\"memory\":256},"
                                "{\"name\":\"b\",\"cpu\":64,\"memory\":512,\"memoryReservation\":100}]}",
                                0, NULL);
        int64_t cpu, mem;
        rt_placement_task_needs(td, NULL, &cpu, &mem);
        assert_int_equal(cpu, 192);
        assert_int_equal(mem, 356);
        json_object_set_new(td, "cpu", json_string("1 vCPU"));
        json_object_set_new(td, "memory", json_string("2 GB"));
        rt_placement_task_needs(td, NULL, &cpu, &mem);
        assert_int_equal(cpu, 1024);
        assert_int_equal(mem, 2048);
        json_t *ov = json_pack("{s:s}", "memory", "512");
        rt_placement_task_needs(td, ov, &cpu, &mem);
        assert_int_equal(mem, 512);
        json_decref(ov);
        json_decref(td);
}

static void k8s_quantities_and_nodes(void **state) {
        (void) state;
        int64_t v;
        assert_int_equal(k8s_quantity_parse("3500m", 1000, &v), 0);
        assert_int_equal(v, 3500);
        assert_int_equal(k8s_quantity_parse("4", 1000, &v), 0);
        assert_int_equal(v, 4000);
        assert_int_equal(k8s_quantity_parse("16Gi", 1, &v), 0);
        assert_int_equal(v, 17179869184LL);
        assert_int_equal(k8s_quantity_parse("8032092Ki", 1, &v), 0);
        assert_int_equal(v, 8032092LL * 1024);
        assert_int_equal(k8s_quantity_parse("1G", 1, &v), 0);
        assert_int_equal(v, 1000000000LL);
        assert_int_equal(k8s_quantity_parse("2x", 1, &v), -EINVAL);
        assert_int_equal(k8s_quantity_parse("", 1, &v), -EINVAL);
        json_t *node = json_loads(
                "{\"metadata\":{\"name\":\"n1\",\"creationTimestamp\":\"2024-05-01T10:00:00Z\",\"labels\":"
                "{\"kubernetes.io/arch\":\"amd64\",\"kubernetes.io/os\":\"linux\",\"topology.kubernetes.io/zone\":"
                "\"z9\",\"tier\":\"gold\"}},\"spec\":{},\"status\":{\"allocatable\":{\"cpu\":\"2\",\"memory\":"
                "\"4Gi\"},\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],\"nodeInfo\":"
                "{\"containerRuntimeVersion\":\"containerd://1.7\"}}}",
                0, NULL);
        json_t *h = k8s_node_host(node);
        assert_non_null(h);
        assert_int_equal(json_integer_value(json_object_get(h, "cpu")), 2048);
        assert_int_equal(json_integer_value(json_object_get(h, "memory")), 4096);
        assert_string_equal(json_string_value(json_object_get(h, "arch")), "x86_64");
        assert_string_equal(json_string_value(json_object_get(h, "zone")), "z9");
        assert_int_equal(json_integer_value(json_object_get(h, "registered_at")), 1714557600);
        json_decref(h);
        /* Cordoned or not Ready: no host. */
        json_object_set_new(json_object_get(node, "spec"), "unschedulable", json_true());
        assert_null(k8s_node_host(node));
        json_object_del(json_object_get(node, "spec"), "unschedulable");
        json_object_set_new(json_array_get(json_object_get(json_object_get(node, "status"), "conditions"), 0),
                            "status", json_string("False"));
        assert_null(k8s_node_host(node));
        json_decref(node);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(query_matches),
                cmocka_unit_test(query_rejects_bad_expressions),
                cmocka_unit_test(validate_constraints_and_strategies),
                cmocka_unit_test(choose_follows_strategies_and_reports_failures),
                cmocka_unit_test(random_strategy_uses_every_instance),
                cmocka_unit_test(task_needs),
                cmocka_unit_test(k8s_quantities_and_nodes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
