/* test_store.c — the SQLite store (pkg/runtime/store.c): revisions, listings in both orders with resume keys,
 * family status, tags, and that state is still there after the database is closed and opened again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store.h"

static char dir[] = "/tmp/ecsd-test-store-XXXXXX";

static json_t *taskdef(const char *family) {
        return json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "family", family, "status", "ACTIVE", "containerDefinitions",
                         "name", "app", "image", "busybox");
}

static void register_n(struct rt_store *s, const char *region, const char *family, int n) {
        for (int i = 0; i < n; i++) {
                json_t *doc = taskdef(family);
                struct err e = {0};
                assert_int_equal(rt_taskdef_register(s, region, "000000000000", doc, &e), 0);
                json_decref(doc);
        }
}

static void revisions_and_lookup(void **state) {
        (void) state;
        struct rt_store *s = NULL;
        struct err e = {0};
        assert_int_equal(rt_store_open(":memory:", &s, &e), 0);
        json_t *doc = taskdef("web");
        assert_int_equal(rt_taskdef_register(s, "us-east-1", "000000000000", doc, &e), 0);
        assert_int_equal(json_integer_value(json_object_get(doc, "revision")), 1);
        assert_string_equal(json_string_value(json_object_get(doc, "taskDefinitionArn")),
                            "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1");
        json_decref(doc);
        register_n(s, "us-east-1", "web", 2);
        register_n(s, "eu-west-1", "web", 1); /* regions count revisions separately */

        json_t *got = NULL;
        assert_int_equal(rt_taskdef_get(s, "us-east-1", "web", 0, &got, &e), 0);
        assert_int_equal(json_integer_value(json_object_get(got, "revision")), 3);
        /* Deregister the latest: "latest ACTIVE" falls back to revision 2, revision 3 stays describable. */
        json_object_set_new(got, "status", json_string("INACTIVE"));
        assert_int_equal(rt_taskdef_update(s, "us-east-1", got, &e), 0);
        json_decref(got);
        assert_int_equal(rt_taskdef_get(s, "us-east-1", "web", 0, &got, &e), 0);
        assert_int_equal(json_integer_value(json_object_get(got, "revision")), 2);
        json_decref(got);
        assert_int_equal(rt_taskdef_get(s, "us-east-1", "web", 3, &got, &e), 0);
        assert_string_equal(json_string_value(json_object_get(got, "status")), "INACTIVE");
        json_decref(got);
        /* A new registration continues after the highest revision ever used. */
        register_n(s, "us-east-1", "web", 1);
        assert_int_equal(rt_taskdef_get(s, "us-east-1", "web", 4, &got, &e), 0);
        json_decref(got);
        assert_int_equal(rt_taskdef_get(s, "us-east-1", "nope", 0, &got, &e), -ENOENT);
        assert_int_equal(rt_taskdef_get(s, "eu-west-1", "web", 2, &got, &e), -ENOENT);
        rt_store_free(s);
}

static void listing_pages_visit_everything_once(void **state) {
        (void) state;
        struct rt_store *s = NULL;
        struct err e = {0};
        assert_int_equal(rt_store_open(":memory:", &s, &e), 0);
        register_n(s, "us-east-1", "a", 3);
        register_n(s, "us-east-1", "b", 2);
        register_n(s, "us-east-1", "c", 2);
        for (int desc = 0; desc <= 1; desc++) {
                struct rt_taskdef_query q = {.status = "ACTIVE", .descending = desc, .limit = 3};
                char fam[64] = "";
                int seen = 0;
                const char *first_expected = desc ? "arn:aws:ecs:us-east-1:000000000000:task-definition/c:2"
                                                  : "arn:aws:ecs:us-east-1:000000000000:task-definition/a:1";
                for (;;) {
                        json_t *rows = NULL;
                        assert_int_equal(rt_taskdef_list(s, "us-east-1", &q, &rows, &e), 0);
                        size_t n = json_array_size(rows);
                        if (seen == 0)
                                assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "arn")),
                                                    first_expected);
                        seen += (int) n;
                        if (n < 3) {
                                json_decref(rows);
                                break;
                        }
                        json_t *last = json_array_get(rows, n - 1);
                        snprintf(fam, sizeof(fam), "%s", json_string_value(json_object_get(last, "family")));
                        q.after_family = fam;
                        q.after_revision = json_integer_value(json_object_get(last, "revision"));
                        json_decref(rows);
                }
                assert_int_equal(seen, 7);
        }
        /* Exact family filter. */
        struct rt_taskdef_query q = {.family = "b", .status = "ACTIVE", .limit = 100};
        json_t *rows = NULL;
        assert_int_equal(rt_taskdef_list(s, "us-east-1", &q, &rows, &e), 0);
        assert_int_equal(json_array_size(rows), 2);
        json_decref(rows);
        rt_store_free(s);
}

static void families_by_status_and_prefix(void **state) {
        (void) state;
        struct rt_store *s = NULL;
        struct err e = {0};
        assert_int_equal(rt_store_open(":memory:", &s, &e), 0);
        register_n(s, "us-east-1", "web_a", 1);
        register_n(s, "us-east-1", "webxa", 1);
        register_n(s, "us-east-1", "worker", 1);
        json_t *doc = NULL;
        assert_int_equal(rt_taskdef_get(s, "us-east-1", "worker", 1, &doc, &e), 0);
        json_object_set_new(doc, "status", json_string("INACTIVE"));
        assert_int_equal(rt_taskdef_update(s, "us-east-1", doc, &e), 0);
        json_decref(doc);

        json_t *names = NULL;
        assert_int_equal(rt_taskdef_families(s, "us-east-1", NULL, "ACTIVE", NULL, 100, &names, &e), 0);
        assert_int_equal(json_array_size(names), 2);
        json_decref(names);
        assert_int_equal(rt_taskdef_families(s, "us-east-1", NULL, "INACTIVE", NULL, 100, &names, &e), 0);
        assert_int_equal(json_array_size(names), 1);
        assert_string_equal(json_string_value(json_array_get(names, 0)), "worker");
        json_decref(names);
        /* '_' is a plain character in a prefix, not a wildcard. */
        assert_int_equal(rt_taskdef_families(s, "us-east-1", "web_", "ALL", NULL, 100, &names, &e), 0);
        assert_int_equal(json_array_size(names), 1);
        assert_string_equal(json_string_value(json_array_get(names, 0)), "web_a");
        json_decref(names);
        assert_int_equal(rt_taskdef_families(s, "us-east-1", NULL, "ALL", "web_a", 100, &names, &e), 0);
        assert_int_equal(json_array_size(names), 2);
        json_decref(names);
        rt_store_free(s);
}

static void tags_and_persistence(void **state) {
        (void) state;
        struct rt_store *s = NULL;
        struct err e = {0};
        assert_non_null(mkdtemp(dir));
        char path[256];
        snprintf(path, sizeof(path), "%s/nested/data", dir);
        assert_int_equal(rt_store_open(path, &s, &e), 0);
        const char *arn = "arn:aws:ecs:us-east-1:000000000000:cluster/prod";
        json_t *tags = json_pack("[{s:s, s:s}, {s:s, s:s}]", "key", "team", "value", "a", "key", "env", "value", "p");
        assert_int_equal(rt_tags_put(s, arn, tags, &e), 0);
        json_decref(tags);
        json_t *cluster = json_pack("{s:s, s:s}", "clusterArn", arn, "status", "ACTIVE");
        assert_int_equal(rt_cluster_put(s, "us-east-1", "prod", cluster, &e), 0);
        json_decref(cluster);
        register_n(s, "us-east-1", "web", 2);
        rt_store_free(s);

        assert_int_equal(rt_store_open(path, &s, &e), 0);
        json_t *got = NULL;
        assert_int_equal(rt_tags_get(s, arn, &got, &e), 0);
        assert_int_equal(json_array_size(got), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(got, 0), "key")), "env");
        json_decref(got);
        json_t *keys = json_pack("[s, s]", "env", "missing");
        assert_int_equal(rt_tags_remove(s, arn, keys, &e), 0);
        json_decref(keys);
        assert_int_equal(rt_tags_get(s, arn, &got, &e), 0);
        assert_int_equal(json_array_size(got), 1);
        json_decref(got);
        assert_int_equal(rt_cluster_get(s, "us-east-1", "prod", &got, &e), 0);
        json_decref(got);
        register_n(s, "us-east-1", "web", 1);
        assert_int_equal(rt_taskdef_get(s, "us-east-1", "web", 0, &got, &e), 0);
        assert_int_equal(json_integer_value(json_object_get(got, "revision")), 3);
        json_decref(got);
        rt_store_free(s);
        static const char *const leftovers[] = {"/nested/data/ecsd.db", "/nested/data/ecsd.db-wal",
                                                "/nested/data/ecsd.db-shm", "/nested/data", "/nested", ""};
        for (size_t i = 0; i < sizeof(leftovers) / sizeof(leftovers[0]); i++) {
                snprintf(path, sizeof(path), "%s%s", dir, leftovers[i]);
                (void) remove(path);
        }
}

static void open_fails_clearly(void **state) {
        (void) state;
        struct rt_store *s = NULL;
        struct err e = {0};
        assert_true(rt_store_open("/proc/ecsd-cannot-exist/x", &s, &e) < 0);
        assert_null(s);
        assert_non_null(strstr(e.msg, "/proc/ecsd-cannot-exist"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(revisions_and_lookup),
                cmocka_unit_test(listing_pages_visit_everything_once),
                cmocka_unit_test(families_by_status_and_prefix),
                cmocka_unit_test(tags_and_persistence),
                cmocka_unit_test(open_fails_clearly),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
