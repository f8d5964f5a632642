/* test_ecs.c — ARNs, resource references, names, pagination tokens and error shapes (pkg/ecs/ecs.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "ecs.h"

static void arn_parse_task_definition(void **state) {
        (void) state;
        struct ecs_arn arn;
        struct err e = {0};
        assert_int_equal(ecs_arn_parse("arn:aws:ecs:eu-west-1:123456789012:task-definition/web:7", &arn, &e), 0);
        assert_string_equal(arn.partition, "aws");
        assert_string_equal(arn.region, "eu-west-1");
        assert_string_equal(arn.account, "123456789012");
        assert_string_equal(arn.type, "task-definition");
        assert_string_equal(arn.resource, "web:7");
}

static void arn_parse_task_keeps_slashes(void **state) {
        (void) state;
        struct ecs_arn arn;
        assert_int_equal(ecs_arn_parse("arn:aws:ecs:us-east-1:000000000000:task/default/abc123", &arn, NULL), 0);
        assert_string_equal(arn.type, "task");
        assert_string_equal(arn.resource, "default/abc123");
}

static void arn_parse_rejects_malformed(void **state) {
        (void) state;
        static const char *const bad[] = {
                "", "arn", "arn:aws:ecs", "arn:aws:s3:us-east-1:1:bucket/x", "arn:aws:ecs:US_EAST:1:cluster/x",
                "arn:aws:ecs:us-east-1::cluster/x", "arn:aws:ecs:us-east-1:1:cluster", "arn:aws:ecs:us-east-1:1:cluster/",
                "arn:aws:ecs:us-east-1:1:/x", "notarn:aws:ecs:us-east-1:1:cluster/x",
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                struct ecs_arn arn;
                struct err e = {0};
                assert_int_equal(ecs_arn_parse(bad[i], &arn, &e), -EINVAL);
                assert_int_equal(e.kind, ERR_KIND_INVALID);
                assert_non_null(strstr(e.msg, "ARN"));
        }
}

static void arn_format_round_trip(void **state) {
        (void) state;
        char buf[ECS_ARN_MAX];
        struct ecs_arn arn;
        assert_int_equal(ecs_arn_format(buf, sizeof(buf), "ap-south-1", "000000000000", "cluster", "prod"),
                         (int) strlen("arn:aws:ecs:ap-south-1:000000000000:cluster/prod"));
        assert_string_equal(buf, "arn:aws:ecs:ap-south-1:000000000000:cluster/prod");
        assert_int_equal(ecs_arn_parse(buf, &arn, NULL), 0);
        assert_string_equal(arn.resource, "prod");
        char tiny[10];
        assert_int_equal(ecs_arn_format(tiny, sizeof(tiny), "r", "1", "cluster", "x"), -ENOBUFS);
}

static void names(void **state) {
        (void) state;
        assert_true(ecs_name_valid("a"));
        assert_true(ecs_name_valid("my-app_2"));
        assert_false(ecs_name_valid(""));
        assert_false(ecs_name_valid("has space"));
        assert_false(ecs_name_valid("dot.name"));
        char long_name[300];
        memset(long_name, 'a', sizeof(long_name) - 1);
        long_name[255] = '\0';
        assert_true(ecs_name_valid(long_name));
        long_name[255] = 'a';
        long_name[256] = '\0';
        assert_false(ecs_name_valid(long_name));
}

static void cluster_refs(void **state) {
        (void) state;
        char name[ECS_NAME_MAX + 1];
        struct err e = {0};
        assert_int_equal(ecs_cluster_ref_resolve(NULL, "us-east-1", "000000000000", name, &e), 0);
        assert_string_equal(name, "default");
        assert_int_equal(ecs_cluster_ref_resolve("prod", "us-east-1", "000000000000", name, &e), 0);
        assert_string_equal(name, "prod");
        assert_int_equal(ecs_cluster_ref_resolve("arn:aws:ecs:us-east-1:000000000000:cluster/prod", "us-east-1",
                                                 "000000000000", name, &e),
                         0);
        assert_string_equal(name, "prod");
        /* Another region's ARN names no cluster of this region. */
        assert_int_equal(ecs_cluster_ref_resolve("arn:aws:ecs:eu-west-1:000000000000:cluster/prod", "us-east-1",
                                                 "000000000000", name, &e),
                         -ENOENT);
        assert_int_equal(e.kind, ERR_KIND_CLUSTER_NOT_FOUND);
        assert_int_equal(ecs_cluster_ref_resolve("arn:aws:ecs:us-east-1:000000000000:task/prod/x", "us-east-1",
                                                 "000000000000", name, &e),
                         -EINVAL);
}

static void taskdef_refs(void **state) {
        (void) state;
        char family[ECS_NAME_MAX + 1];
        int64_t rev;
        struct err e = {0};
        assert_int_equal(ecs_taskdef_ref_resolve("web", "us-east-1", "000000000000", family, &rev, &e), 0);
        assert_string_equal(family, "web");
        assert_int_equal(rev, 0);
        assert_int_equal(ecs_taskdef_ref_resolve("web:12", "us-east-1", "000000000000", family, &rev, &e), 0);
        assert_int_equal(rev, 12);
        assert_int_equal(ecs_taskdef_ref_resolve("arn:aws:ecs:us-east-1:000000000000:task-definition/web:3",
                                                 "us-east-1", "000000000000", family, &rev, &e),
                         0);
        assert_string_equal(family, "web");
        assert_int_equal(rev, 3);
        assert_int_equal(ecs_taskdef_ref_resolve("web:0", "us-east-1", "000000000000", family, &rev, &e), -EINVAL);
        assert_int_equal(ecs_taskdef_ref_resolve("web:x", "us-east-1", "000000000000", family, &rev, &e), -EINVAL);
        assert_int_equal(ecs_taskdef_ref_resolve("we b", "us-east-1", "000000000000", family, &rev, &e), -EINVAL);
        assert_int_equal(e.kind, ERR_KIND_CLIENT);
}

/* The family:revision split of a task definition ARN (restart recovery reads a task's family from it; a second,
 * wrong split once left recovered tasks without a family). */
static void taskdef_arn_family_revision(void **state) {
        (void) state;
        char family[ECS_NAME_MAX + 1] = "untouched";
        int64_t rev = -1;
        struct err e = {0};
        assert_int_equal(ecs_taskdef_arn_parse("arn:aws:ecs:eu-west-1:123456789012:task-definition/web-app_2:17",
                                               family, &rev, &e),
                         0);
        assert_string_equal(family, "web-app_2");
        assert_int_equal(rev, 17);
        /* Whatever the region and account: the ARN was written by ecsd itself. */
        assert_int_equal(ecs_taskdef_arn_parse("arn:aws:ecs:us-east-1:000000000000:task-definition/a:1", family, &rev,
                                               &e),
                         0);
        assert_string_equal(family, "a");
        assert_int_equal(rev, 1);
        static const char *const bad[] = {
                "arn:aws:ecs:us-east-1:000000000000:task-definition/web",     /* no revision */
                "arn:aws:ecs:us-east-1:000000000000:task-definition/web:",    /* empty revision */
                "arn:aws:ecs:us-east-1:000000000000:task-definition/web:0",   /* revisions start at 1 */
                "arn:aws:ecs:us-east-1:000000000000:task-definition/:3",      /* no family */
                "arn:aws:ecs:us-east-1:000000000000:task-definition/w b:3",   /* not a name */
                "arn:aws:ecs:us-east-1:000000000000:task/default/abc",        /* another type */
                "web:3",                                                       /* not an ARN */
                "",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                str_printf(family, sizeof(family), "untouched");
                rev = -1;
                assert_int_equal(ecs_taskdef_arn_parse(bad[i], family, &rev, &e), -EINVAL);
                assert_string_equal(family, "untouched");
                assert_int_equal(rev, -1);
        }
}

static void page_tokens_round_trip(void **state) {
        (void) state;
        char token[ECS_PAGE_TOKEN_MAX], key[ECS_PAGE_KEY_MAX];
        struct err e = {0};
        assert_int_equal(ecs_page_token_encode("clusters", "prod-2", token, sizeof(token)), 0);
        assert_null(strchr(token, '='));
        assert_int_equal(ecs_page_token_decode("clusters", token, key, &e), 0);
        assert_string_equal(key, "prod-2");
        /* A token of another listing is refused. */
        assert_int_equal(ecs_page_token_decode("families", token, key, &e), -EINVAL);
        assert_int_equal(e.kind, ERR_KIND_INVALID);
        assert_non_null(strstr(e.msg, "nextToken"));
        /* Garbage is refused. */
        assert_int_equal(ecs_page_token_decode("clusters", "!!!!", key, &e), -EINVAL);
        assert_int_equal(ecs_page_token_decode("clusters", "A", key, &e), -EINVAL);
        assert_int_equal(ecs_page_token_decode("clusters", "", key, &e), -EINVAL);
}

static void max_results(void **state) {
        (void) state;
        int n;
        struct err e = {0};
        json_t *req = json_pack("{}");
        assert_int_equal(ecs_page_max_results(req, 100, 100, &n, &e), 0);
        assert_int_equal(n, 100);
        json_object_set_new(req, "maxResults", json_integer(7));
        assert_int_equal(ecs_page_max_results(req, 100, 100, &n, &e), 0);
        assert_int_equal(n, 7);
        json_object_set_new(req, "maxResults", json_integer(0));
        assert_int_equal(ecs_page_max_results(req, 100, 100, &n, &e), -EINVAL);
        json_object_set_new(req, "maxResults", json_integer(101));
        assert_int_equal(ecs_page_max_results(req, 100, 100, &n, &e), -EINVAL);
        assert_non_null(strstr(e.msg, "maxResults"));
        json_decref(req);
}

static void error_shapes(void **state) {
        (void) state;
        assert_string_equal(ecs_error_type(ERR_KIND_CLUSTER_NOT_FOUND), "ClusterNotFoundException");
        assert_int_equal(ecs_error_http_status(ERR_KIND_INVALID), 400);
        assert_int_equal(ecs_error_http_status(ERR_KIND_INTERNAL), 500);
        assert_string_equal(ecs_error_type(9999), "ServerException");
        json_t *body = ecs_error_body(ERR_KIND_CLIENT, "nope");
        assert_string_equal(json_string_value(json_object_get(body, "__type")), "ClientException");
        assert_string_equal(json_string_value(json_object_get(body, "message")), "nope");
        assert_int_equal(json_object_size(body), 2);
        json_decref(body);
        /* Invalid or truncated UTF-8 quoted from a request still yields a JSON body (regression: the fuzzer found an
         * abort on an action name of raw bytes). */
        body = ecs_error_body(ERR_KIND_UNKNOWN_OPERATION, "Unknown operation \xb4\x96ok \xed\xa0\x80 caf\xc3\xa9 \xc3");
        assert_non_null(body);
        assert_string_equal(json_string_value(json_object_get(body, "message")),
                            "Unknown operation ??ok ??? caf\xc3\xa9 ?");
        json_decref(body);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(arn_parse_task_definition), cmocka_unit_test(arn_parse_task_keeps_slashes),
                cmocka_unit_test(arn_parse_rejects_malformed), cmocka_unit_test(arn_format_round_trip),
                cmocka_unit_test(names),  cmocka_unit_test(cluster_refs),
                cmocka_unit_test(taskdef_refs), cmocka_unit_test(taskdef_arn_family_revision), cmocka_unit_test(page_tokens_round_trip),
                cmocka_unit_test(max_results), cmocka_unit_test(error_shapes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
