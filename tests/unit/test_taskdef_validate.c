/* test_taskdef_validate.c — unit tests of the RegisterTaskDefinition semantic rules (pkg/ecs/taskdef-validate.c).
 *
 * Each request goes through the real pipeline: ecs_shape_check first (which must accept it), then
 * ecs_taskdef_validate. JSON is written with single quotes; load() turns them into double quotes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "shape.h"
#include "taskdef-validate.h"

static json_t *load(const char *text) {
        char *buf = xstrdup(text);
        for (char *p = buf; *p; p++)
                if (*p == '\'')
                        *p = '"';
        json_error_t je;
        json_t *v = json_loads(buf, JSON_REJECT_DUPLICATES, &je);
        if (!v)
                fail_msg("test JSON does not parse: %s at col %d: %s", je.text, je.column, buf);
        free(buf);
        return v;
}

/* Shape-check `in` (must pass), then validate; returns what ecs_taskdef_validate returned. */
static int validate_json(const json_t *in, struct err *e) {
        json_t *checked = NULL;
        int r = ecs_shape_check(ecs_shape_input("RegisterTaskDefinition"), in, &checked, e);
        if (r < 0)
                fail_msg("the shape check refused the test request: %s", e->msg);
        r = ecs_taskdef_validate(checked, e);
        json_decref(checked);
        return r;
}

static void expect_valid_json(const json_t *in) {
        struct err e = {0};
        int r = validate_json(in, &e);
        if (r < 0)
                fail_msg("expected valid, got %d: %s", r, e.msg);
        assert_int_equal(r, 0);
}

static void expect_valid(const char *text) {
        json_t *in = load(text);
        expect_valid_json(in);
        json_decref(in);
}

static void check_error(int r, const struct err *e, const char *needle1, const char *needle2) {
        if (r >= 0)
                fail_msg("expected an error containing '%s', got success", needle1);
        assert_int_equal(r, -EINVAL);
        if (e->kind != ERR_KIND_CLIENT)
                fail_msg("expected ERR_KIND_CLIENT, got kind %d (%s)", e->kind, e->msg);
        if (!strstr(e->msg, needle1))
                fail_msg("message '%s' does not contain '%s'", e->msg, needle1);
        if (needle2 && !strstr(e->msg, needle2))
                fail_msg("message '%s' does not contain '%s'", e->msg, needle2);
}

static void expect_invalid_json(const json_t *in, const char *needle1, const char *needle2) {
        struct err e = {0};
        check_error(validate_json(in, &e), &e, needle1, needle2);
}

static void expect_invalid(const char *text, const char *needle1, const char *needle2) {
        json_t *in = load(text);
        expect_invalid_json(in, needle1, needle2);
        json_decref(in);
}

/* A request whose first container definition is `container` (JSON text), on EC2 with bridge networking. */
static void expect_container_invalid(const char *container, const char *needle1, const char *needle2) {
        char buf[4096];
        assert_true(str_printf(buf, sizeof(buf), "{'family': 'f', 'containerDefinitions': [%s]}", container) >= 0);
        expect_invalid(buf, needle1, needle2);
}

static void expect_container_valid(const char *container) {
        char buf[4096];
        assert_true(str_printf(buf, sizeof(buf), "{'family': 'f', 'containerDefinitions': [%s]}", container) >= 0);
        expect_valid(buf);
}

static char *repeat(char c, size_t n) {
        char *s = xmalloc(n + 1);
        memset(s, c, n);
        s[n] = '\0';
        return s;
}

/* ---- family and containers ---- */

static void test_family(void **state) {
        (void) state;
        expect_invalid("{'family': '', 'containerDefinitions': [{'name': 'a', 'image': 'i', 'memory': 8}]}",
                       "Family can not be blank.", NULL);
        expect_invalid("{'family': 'my app', 'containerDefinitions': [{'name': 'a', 'image': 'i', 'memory': 8}]}",
                       "Family contains invalid characters.", NULL);
        expect_invalid("{'family': 'app:1', 'containerDefinitions': [{'name': 'a', 'image': 'i', 'memory': 8}]}",
                       "Family contains invalid characters.", NULL);
        char *long_name = repeat('f', 256);
        json_t *req = json_pack("{s:s,s:[{s:s,s:s,s:i}]}", "family", long_name, "containerDefinitions", "name", "a",
                                "image", "i", "memory", 8);
        expect_invalid_json(req, "Family name can have a maximum of 255 characters.", NULL);
        json_decref(req);
        long_name[255] = '\0';
        req = json_pack("{s:s,s:[{s:s,s:s,s:i}]}", "family", long_name, "containerDefinitions", "name", "a", "image",
                        "i", "memory", 8);
        expect_valid_json(req);
        json_decref(req);
        free(long_name);
        expect_valid("{'family': 'My_App-2', 'containerDefinitions': [{'name': 'a', 'image': 'i', 'memory': 8}]}");
}

static void test_container_count(void **state) {
        (void) state;
        expect_invalid("{'family': 'f', 'containerDefinitions': []}", "Container list cannot be empty.", NULL);
        json_t *req = json_pack("{s:s,s:[]}", "family", "f", "containerDefinitions");
        json_t *defs = json_object_get(req, "containerDefinitions");
        for (int i = 0; i < 10; i++) {
                char name[16];
                assert_true(str_printf(name, sizeof(name), "c%d", i) >= 0);
                assert_int_equal(json_array_append_new(
                                         defs, json_pack("{s:s,s:s,s:i}", "name", name, "image", "i", "memory", 8)),
                                 0);
        }
        expect_valid_json(req);
        assert_int_equal(
                json_array_append_new(defs, json_pack("{s:s,s:s,s:i}", "name", "c10", "image", "i", "memory", 8)), 0);
        expect_invalid_json(req, "Too many containers.", NULL);
        json_decref(req);
}

static void test_container_name(void **state) {
        (void) state;
        expect_container_invalid("{'image': 'i', 'memory': 8}", "Container.name should not be null or empty.", NULL);
        expect_container_invalid("{'name': '', 'image': 'i', 'memory': 8}",
                                 "Container.name should not be null or empty.", NULL);
        expect_container_invalid("{'name': 'web app', 'image': 'i', 'memory': 8}",
                                 "Container.name contains invalid characters.", NULL);
        char *long_name = repeat('n', 256);
        json_t *req = json_pack("{s:s,s:[{s:s,s:s,s:i}]}", "family", "f", "containerDefinitions", "name", long_name,
                                "image", "i", "memory", 8);
        expect_invalid_json(req, "Container.name should not exceed 255 characters.", NULL);
        json_decref(req);
        free(long_name);
        expect_invalid("{'family': 'f', 'containerDefinitions': [{'name': 'web', 'image': 'i', 'memory': 8},"
                       " {'name': 'web', 'image': 'j', 'memory': 8}]}",
                       "Container names must be unique within a Task Definition.", NULL);
        expect_valid("{'family': 'f', 'containerDefinitions': [{'name': 'web', 'image': 'i', 'memory': 8},"
                     " {'name': 'Web_2-x', 'image': 'j', 'memory': 8}]}");
}

static void test_image(void **state) {
        (void) state;
        expect_container_invalid("{'name': 'web', 'memory': 8}", "Container.image should not be null or empty.", NULL);
        expect_container_invalid("{'name': 'web', 'image': '', 'memory': 8}",
                                 "Container.image should not be null or empty.", NULL);
        expect_container_valid("{'name': 'web', 'image': 'public.ecr.aws/nginx/nginx:1.27', 'memory': 8}");
}

static void test_essential(void **state) {
        (void) state;
        expect_invalid("{'family': 'f', 'containerDefinitions': [{'name': 'a', 'image': 'i', 'memory': 8,"
                       " 'essential': false}, {'name': 'b', 'image': 'i', 'memory': 8, 'essential': false}]}",
                       "Task definition doesn't have any essential container.", NULL);
        /* essential defaults to true when absent. */
        expect_valid("{'family': 'f', 'containerDefinitions': [{'name': 'a', 'image': 'i', 'memory': 8,"
                     " 'essential': false}, {'name': 'b', 'image': 'i', 'memory': 8}]}");
}

/* ---- memory and cpu ---- */

static void test_container_memory_required(void **state) {
        (void) state;
        expect_container_invalid("{'name': 'web', 'image': 'i'}",
                                 "Invalid setting for container 'web'. At least one of 'memory' or "
                                 "'memoryReservation' must be specified.",
                                 NULL);
        expect_container_valid("{'name': 'web', 'image': 'i', 'memoryReservation': 64}");
        expect_valid("{'family': 'f', 'memory': '512', 'containerDefinitions': [{'name': 'web', 'image': 'i'}]}");
}

static void test_container_memory_bounds(void **state) {
        (void) state;
        expect_container_invalid("{'name': 'web', 'image': 'i', 'memory': 5}", "'memory' setting for container 'web'",
                                 "6 MiB");
        expect_container_valid("{'name': 'web', 'image': 'i', 'memory': 6}");
        expect_container_invalid("{'name': 'web', 'image': 'i', 'memoryReservation': 5}",
                                 "'memoryReservation' setting for container 'web'", "6 MiB");
        expect_container_valid("{'name': 'web', 'image': 'i', 'memoryReservation': 6}");
        expect_container_invalid("{'name': 'web', 'image': 'i', 'memory': 128, 'memoryReservation': 129}",
                                 "container 'web'", "'memoryReservation' must be less than or equal to 'memory'");
        expect_container_valid("{'name': 'web', 'image': 'i', 'memory': 128, 'memoryReservation': 128}");
        expect_invalid("{'family': 'f', 'memory': '512', 'containerDefinitions': [{'name': 'web', 'image': 'i',"
                       " 'memory': 1024}]}",
                       "The 'memory' setting for container 'web' is greater than for the task.", NULL);
        expect_invalid("{'family': 'f', 'memory': '0.5 GB', 'containerDefinitions': [{'name': 'web', 'image': 'i',"
                       " 'memoryReservation': 513}]}",
                       "The 'memoryReservation' setting for container 'web' is greater than for the task.", NULL);
        expect_valid("{'family': 'f', 'memory': '0.5 GB', 'containerDefinitions': [{'name': 'web', 'image': 'i',"
                     " 'memory': 512, 'memoryReservation': 512}]}");
}

static void test_cpu_memory_parse(void **state) {
        (void) state;
        static const struct {
                const char *s;
                int64_t units;
        } cpu_ok[] = {
                {"256", 256},    {"1024", 1024},    {"1 vCPU", 1024},     {"0.25 vcpu", 256},
                {"2vCPU", 2048}, {"0.5 VCPU", 512}, {"192 vCPU", 196608}, {"4096", 4096},
        };
        static const char *cpu_bad[] = {
                "",          "abc",    "0",      "-256",     " 256",
                "256 ",      "1.5",    "1 GB",   "0.3 vCPU", "1 vCPUs",
                "1..5 vCPU", ". vCPU", "196609", "193 vCPU", "99999999999999999999",
                "256abc",    "+256",
        };
        static const struct {
                const char *s;
                int64_t mib;
        } mem_ok[] = {
                {"512", 512}, {"0.5 GB", 512}, {"2 GB", 2048}, {"1gb", 1024}, {"30 GB", 30720}, {"1.5GB", 1536},
        };
        static const char *mem_bad[] = {"lots", "", "0", "1.0001 GB", "2 MB", "1.5", "2 GiB", "-1", "1 GB extra"};
        int64_t v;
        for (size_t i = 0; i < ARRAY_SIZE(cpu_ok); i++) {
                if (ecs_taskdef_cpu_parse(cpu_ok[i].s, &v) < 0)
                        fail_msg("cpu '%s' refused", cpu_ok[i].s);
                assert_int_equal(v, cpu_ok[i].units);
        }
        for (size_t i = 0; i < ARRAY_SIZE(cpu_bad); i++)
                if (ecs_taskdef_cpu_parse(cpu_bad[i], &v) != -EINVAL)
                        fail_msg("cpu '%s' accepted", cpu_bad[i]);
        for (size_t i = 0; i < ARRAY_SIZE(mem_ok); i++) {
                if (ecs_taskdef_memory_parse(mem_ok[i].s, &v) < 0)
                        fail_msg("memory '%s' refused", mem_ok[i].s);
                assert_int_equal(v, mem_ok[i].mib);
        }
        for (size_t i = 0; i < ARRAY_SIZE(mem_bad); i++)
                if (ecs_taskdef_memory_parse(mem_bad[i], &v) != -EINVAL)
                        fail_msg("memory '%s' accepted", mem_bad[i]);
        assert_int_equal(ecs_taskdef_cpu_parse(NULL, &v), -EINVAL);

        expect_invalid("{'family': 'f', 'cpu': 'lots', 'containerDefinitions': [{'name': 'a', 'image': 'i',"
                       " 'memory': 8}]}",
                       "Invalid 'cpu' setting for task.", NULL);
        expect_invalid("{'family': 'f', 'memory': '1 TB', 'containerDefinitions': [{'name': 'a', 'image': 'i'}]}",
                       "Invalid 'memory' setting for task.", NULL);
        expect_valid("{'family': 'f', 'cpu': '0.5 vCPU', 'memory': '1 GB', 'containerDefinitions': [{'name': 'a',"
                     " 'image': 'i'}]}");
}

static void test_fargate(void **state) {
        (void) state;
        expect_invalid("{'family': 'f', 'requiresCompatibilities': ['FARGATE'], 'networkMode': 'bridge', 'cpu': '256',"
                       " 'memory': '512', 'containerDefinitions': [{'name': 'a', 'image': 'i'}]}",
                       "Fargate only supports network mode \xe2\x80\x98"
                       "awsvpc\xe2\x80\x99.",
                       NULL);
        expect_invalid("{'family': 'f', 'requiresCompatibilities': ['EC2', 'FARGATE'], 'cpu': '256', 'memory': '512',"
                       " 'containerDefinitions': [{'name': 'a', 'image': 'i'}]}",
                       "Fargate only supports network mode", NULL);
        expect_invalid("{'family': 'f', 'requiresCompatibilities': ['FARGATE'], 'networkMode': 'awsvpc',"
                       " 'memory': '512', 'containerDefinitions': [{'name': 'a', 'image': 'i'}]}",
                       "Fargate requires that 'cpu' be defined at the task level.", NULL);
        expect_invalid("{'family': 'f', 'requiresCompatibilities': ['FARGATE'], 'networkMode': 'awsvpc',"
                       " 'cpu': '256', 'containerDefinitions': [{'name': 'a', 'image': 'i', 'memory': 64}]}",
                       "Fargate requires that 'memory' be defined at the task level.", NULL);

        static const char *good[][2] = {
                {"256", "512"},    {"256", "2048"},     {"0.25 vCPU", "0.5 GB"}, {"512", "1024"},
                {"512", "4096"},   {"1024", "8192"},    {"1 vCPU", "3 GB"},      {"2048", "16384"},
                {"4096", "8192"},  {"4096", "30720"},   {"8192", "16384"},       {"8192", "61440"},
                {"8192", "20480"}, {"16384", "122880"}, {"16 vCPU", "40 GB"},
        };
        static const char *bad[][2] = {
                {"256", "4096"},     {"256", "1536"},    {"512", "512"},    {"512", "5120"},   {"1024", "1024"},
                {"2048", "17408"},   {"4096", "31744"},  {"8192", "18432"}, {"8192", "62464"}, {"16384", "33792"},
                {"16384", "131072"}, {"32768", "65536"}, {"128", "512"},    {"1536", "4096"},
        };
        for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
                json_t *req =
                        json_pack("{s:s,s:[s],s:s,s:s,s:s,s:[{s:s,s:s}]}", "family", "f", "requiresCompatibilities",
                                  "FARGATE", "networkMode", "awsvpc", "cpu", good[i][0], "memory", good[i][1],
                                  "containerDefinitions", "name", "a", "image", "i");
                expect_valid_json(req);
                json_decref(req);
        }
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                json_t *req = json_pack("{s:s,s:[s],s:s,s:s,s:s,s:[{s:s,s:s}]}", "family", "f",
                                        "requiresCompatibilities", "FARGATE", "networkMode", "awsvpc", "cpu", bad[i][0],
                                        "memory", bad[i][1], "containerDefinitions", "name", "a", "image", "i");
                char want[128];
                assert_true(str_printf(want, sizeof(want),
                                       "No Fargate configuration exists for given values: %s CPU, %s memory.",
                                       bad[i][0], bad[i][1]) >= 0);
                expect_invalid_json(req, want, "See the Amazon ECS documentation for the valid values.");
                json_decref(req);
        }
        /* The same sizes are fine on EC2. */
        expect_valid("{'family': 'f', 'cpu': '256', 'memory': '4096', 'containerDefinitions': [{'name': 'a',"
                     " 'image': 'i'}]}");
}

/* ---- ports and networking ---- */

static void test_port_ranges(void **state) {
        (void) state;
        expect_container_invalid("{'name': 'web', 'image': 'i', 'memory': 8, 'portMappings': [{'containerPort': 0}]}",
                                 "Invalid 'containerPort' setting for container 'web'", "between 1 and 65535");
        expect_container_invalid("{'name': 'web', 'image': 'i', 'memory': 8, 'portMappings': [{'containerPort':"
                                 " 65536}]}",
                                 "Invalid 'containerPort' setting for container 'web'", NULL);
        expect_container_valid("{'name': 'web', 'image': 'i', 'memory': 8, 'portMappings': [{'containerPort': 65535},"
                               " {'containerPort': 1, 'hostPort': 0}]}");
        expect_container_invalid("{'name': 'web', 'image': 'i', 'memory': 8, 'portMappings': [{'containerPort': 80,"
                                 " 'hostPort': 70000}]}",
                                 "Invalid 'hostPort' setting for container 'web'", "between 0 and 65535");
        expect_container_invalid("{'name': 'web', 'image': 'i', 'memory': 8, 'portMappings': [{'containerPort': 80,"
                                 " 'hostPort': -1}]}",
                                 "Invalid 'hostPort' setting for container 'web'", NULL);
        expect_container_invalid("{'name': 'web', 'image': 'i', 'memory': 8, 'portMappings': [{'protocol': 'tcp'}]}",
                                 "Invalid port mapping for container 'web'",
                                 "Either 'containerPort' or 'containerPortRange' must be specified.");
        expect_container_invalid("{'name': 'web', 'image': 'i', 'memory': 8, 'portMappings': [{'containerPort': 80,"
                                 " 'containerPortRange': '80-90'}]}",
                                 "Invalid port mapping for container 'web'", "cannot both be specified");
        static const char *bad_ranges[] = {"9010-9000", "abc",  "0-5",  "1-65536", "5-5", "5-",
                                           "-5",        " 1-5", "1-5x", "1 - 5",   "+1-5"};
        for (size_t i = 0; i < ARRAY_SIZE(bad_ranges); i++) {
                json_t *req = json_pack("{s:s,s:[{s:s,s:s,s:i,s:[{s:s}]}]}", "family", "f", "containerDefinitions",
                                        "name", "web", "image", "i", "memory", 8, "portMappings", "containerPortRange",
                                        bad_ranges[i]);
                expect_invalid_json(req, "Invalid 'containerPortRange' setting for container 'web'", NULL);
                json_decref(req);
        }
        expect_container_valid("{'name': 'web', 'image': 'i', 'memory': 8, 'portMappings': [{'containerPortRange':"
                               " '9000-9010'}, {'containerPortRange': '1-65535', 'protocol': 'udp'}]}");
}

static void test_port_network_modes(void **state) {
        (void) state;
        expect_invalid("{'family': 'f', 'networkMode': 'awsvpc', 'containerDefinitions': [{'name': 'web',"
                       " 'image': 'i', 'memory': 8, 'portMappings': [{'containerPort': 80, 'hostPort': 8080}]}]}",
                       "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
                       NULL);
        expect_invalid("{'family': 'f', 'networkMode': 'host', 'containerDefinitions': [{'name': 'web',"
                       " 'image': 'i', 'memory': 8, 'portMappings': [{'containerPort': 80, 'hostPort': 0}]}]}",
                       "When networkMode=host, the host ports and container ports in port mappings must match.", NULL);
        expect_valid("{'family': 'f', 'networkMode': 'awsvpc', 'containerDefinitions': [{'name': 'web',"
                     " 'image': 'i', 'memory': 8, 'portMappings': [{'containerPort': 80, 'hostPort': 80},"
                     " {'containerPort': 443}]}]}");
        expect_valid("{'family': 'f', 'networkMode': 'bridge', 'containerDefinitions': [{'name': 'web',"
                     " 'image': 'i', 'memory': 8, 'portMappings': [{'containerPort': 80, 'hostPort': 8080}]}]}");
        expect_invalid("{'family': 'f', 'networkMode': 'none', 'containerDefinitions': [{'name': 'web',"
                       " 'image': 'i', 'memory': 8, 'portMappings': [{'containerPort': 80}]}]}",
                       "Port mappings are not supported when networkMode=none.", NULL);
        expect_valid("{'family': 'f', 'networkMode': 'none', 'containerDefinitions': [{'name': 'web',"
                     " 'image': 'i', 'memory': 8, 'portMappings': []}]}");
}

static void test_port_duplicates(void **state) {
        (void) state;
        expect_container_invalid("{'name': 'web', 'image': 'i', 'memory': 8, 'portMappings': [{'containerPort': 80},"
                                 " {'containerPort': 81}, {'containerPort': 80, 'protocol': 'tcp', 'hostPort': 8080}]}",
                                 "Invalid port mapping for container 'web'",
                                 "Container port 80/tcp is mapped more than once.");
        expect_container_invalid("{'name': 'web', 'image': 'i', 'memory': 8, 'portMappings': [{'containerPort': 53,"
                                 " 'protocol': 'udp'}, {'containerPort': 53, 'protocol': 'udp'}]}",
                                 "container 'web'", "53/udp");
        expect_container_valid("{'name': 'web', 'image': 'i', 'memory': 8, 'portMappings': [{'containerPort': 53,"
                               " 'protocol': 'udp'}, {'containerPort': 53}]}");
        /* The same port in two containers is not this rule's business. */
        expect_valid("{'family': 'f', 'containerDefinitions': [{'name': 'a', 'image': 'i', 'memory': 8,"
                     " 'portMappings': [{'containerPort': 80}]}, {'name': 'b', 'image': 'i', 'memory': 8,"
                     " 'portMappings': [{'containerPort': 80}]}]}");
}

static void test_awsvpc_forbidden_options(void **state) {
        (void) state;
        expect_invalid("{'family': 'f', 'networkMode': 'awsvpc', 'containerDefinitions': [{'name': 'a', 'image': 'i',"
                       " 'memory': 8}, {'name': 'b', 'image': 'i', 'memory': 8, 'links': ['a']}]}",
                       "Links are not supported when networkMode=awsvpc.", NULL);
        expect_valid("{'family': 'f', 'networkMode': 'bridge', 'containerDefinitions': [{'name': 'a', 'image': 'i',"
                     " 'memory': 8}, {'name': 'b', 'image': 'i', 'memory': 8, 'links': ['a']}]}");
        expect_valid("{'family': 'f', 'networkMode': 'awsvpc', 'containerDefinitions': [{'name': 'a', 'image': 'i',"
                     " 'memory': 8, 'links': [], 'extraHosts': [], 'dnsServers': []}]}");
        expect_invalid("{'family': 'f', 'networkMode': 'awsvpc', 'containerDefinitions': [{'name': 'a', 'image': 'i',"
                       " 'memory': 8, 'extraHosts': [{'hostname': 'db', 'ipAddress': '10.0.0.1'}]}]}",
                       "Extra hosts are not supported when networkMode=awsvpc.", NULL);
        expect_valid("{'family': 'f', 'containerDefinitions': [{'name': 'a', 'image': 'i', 'memory': 8,"
                     " 'extraHosts': [{'hostname': 'db', 'ipAddress': '10.0.0.1'}], 'dnsServers': ['1.1.1.1']}]}");
        expect_invalid("{'family': 'f', 'networkMode': 'awsvpc', 'containerDefinitions': [{'name': 'a', 'image': 'i',"
                       " 'memory': 8, 'dnsServers': ['1.1.1.1']}]}",
                       "DNS servers are not supported when networkMode=awsvpc.", NULL);
}

/* ---- dependencies and volumes ---- */

static void test_depends_on(void **state) {
        (void) state;
        expect_invalid("{'family': 'f', 'containerDefinitions': [{'name': 'web', 'image': 'i', 'memory': 8,"
                       " 'dependsOn': [{'containerName': 'db', 'condition': 'START'}]}]}",
                       "Invalid 'dependsOn' setting for container 'web'. Unknown container 'db'.", NULL);
        expect_invalid("{'family': 'f', 'containerDefinitions': [{'name': 'web', 'image': 'i', 'memory': 8,"
                       " 'dependsOn': [{'containerName': 'web', 'condition': 'START'}]}]}",
                       "Invalid 'dependsOn' setting for container 'web'. A container cannot depend on itself.", NULL);
        expect_invalid("{'family': 'f', 'containerDefinitions': [{'name': 'web', 'image': 'i', 'memory': 8,"
                       " 'dependsOn': [{'containerName': 'db', 'condition': 'START'}]}, {'name': 'db', 'image': 'i',"
                       " 'memory': 8, 'dependsOn': [{'containerName': 'web', 'condition': 'HEALTHY'}]}]}",
                       "Circular dependency between containers.", "'dependsOn' setting for container");
        expect_invalid("{'family': 'f', 'containerDefinitions': [{'name': 'a', 'image': 'i', 'memory': 8,"
                       " 'dependsOn': [{'containerName': 'b', 'condition': 'START'}]}, {'name': 'b', 'image': 'i',"
                       " 'memory': 8, 'dependsOn': [{'containerName': 'c', 'condition': 'START'}]}, {'name': 'c',"
                       " 'image': 'i', 'memory': 8, 'dependsOn': [{'containerName': 'a', 'condition': 'START'}]},"
                       " {'name': 'd', 'image': 'i', 'memory': 8}]}",
                       "Circular dependency between containers.", NULL);
        /* A diamond is not a cycle. */
        expect_valid("{'family': 'f', 'containerDefinitions': [{'name': 'app', 'image': 'i', 'memory': 8,"
                     " 'dependsOn': [{'containerName': 'db', 'condition': 'HEALTHY'}, {'containerName': 'init',"
                     " 'condition': 'SUCCESS'}]}, {'name': 'db', 'image': 'i', 'memory': 8, 'healthCheck':"
                     " {'command': ['CMD', 'true']}, 'dependsOn': [{'containerName': 'init', 'condition':"
                     " 'COMPLETE'}]}, {'name': 'init', 'image': 'i', 'memory': 8, 'essential': false}]}");
        expect_invalid("{'family': 'f', 'containerDefinitions': [{'name': 'app', 'image': 'i', 'memory': 8,"
                       " 'dependsOn': [{'containerName': 'init', 'condition': 'SUCCESS'}]}, {'name': 'init',"
                       " 'image': 'i', 'memory': 8}]}",
                       "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container",
                       NULL);
        expect_invalid("{'family': 'f', 'containerDefinitions': [{'name': 'app', 'image': 'i', 'memory': 8,"
                       " 'dependsOn': [{'containerName': 'init', 'condition': 'COMPLETE'}]}, {'name': 'init',"
                       " 'image': 'i', 'memory': 8, 'essential': true}]}",
                       "A dependency container with SUCCESS or COMPLETE condition", NULL);
        expect_valid("{'family': 'f', 'containerDefinitions': [{'name': 'app', 'image': 'i', 'memory': 8,"
                     " 'dependsOn': [{'containerName': 'side', 'condition': 'START'}]}, {'name': 'side',"
                     " 'image': 'i', 'memory': 8}]}");
}

static void test_volumes_from(void **state) {
        (void) state;
        expect_invalid("{'family': 'f', 'containerDefinitions': [{'name': 'web', 'image': 'i', 'memory': 8,"
                       " 'volumesFrom': [{'sourceContainer': 'data'}]}]}",
                       "Invalid 'volumesFrom' setting for container 'web'. Unknown source container 'data'.", NULL);
        expect_invalid("{'family': 'f', 'containerDefinitions': [{'name': 'web', 'image': 'i', 'memory': 8,"
                       " 'volumesFrom': [{'readOnly': true}]}]}",
                       "Invalid 'volumesFrom' setting for container 'web'", "'null'");
        expect_invalid("{'family': 'f', 'containerDefinitions': [{'name': 'web', 'image': 'i', 'memory': 8,"
                       " 'volumesFrom': [{'sourceContainer': 'web'}]}]}",
                       "Invalid 'volumesFrom' setting for container 'web'", "'web'");
        expect_valid("{'family': 'f', 'containerDefinitions': [{'name': 'web', 'image': 'i', 'memory': 8,"
                     " 'volumesFrom': [{'sourceContainer': 'data', 'readOnly': true}]}, {'name': 'data',"
                     " 'image': 'i', 'memory': 8, 'essential': false}]}");
}

static void test_mount_points(void **state) {
        (void) state;
        expect_invalid("{'family': 'f', 'volumes': [{'name': 'data'}], 'containerDefinitions': [{'name': 'web',"
                       " 'image': 'i', 'memory': 8, 'mountPoints': [{'sourceVolume': 'logs', 'containerPath':"
                       " '/logs'}]}]}",
                       "Unknown volume 'logs'.", NULL);
        expect_invalid("{'family': 'f', 'volumes': [{'name': 'data'}], 'containerDefinitions': [{'name': 'web',"
                       " 'image': 'i', 'memory': 8, 'mountPoints': [{'containerPath': '/data'}]}]}",
                       "Unknown volume 'null'.", NULL);
        expect_valid("{'family': 'f', 'volumes': [{'name': 'data', 'host': {'sourcePath': '/srv'}}],"
                     " 'containerDefinitions': [{'name': 'web', 'image': 'i', 'memory': 8, 'mountPoints':"
                     " [{'sourceVolume': 'data', 'containerPath': '/data'}]}]}");
}

static void test_volume_names(void **state) {
        (void) state;
        expect_invalid("{'family': 'f', 'volumes': [{'name': 'a'}, {'name': 'b'}, {'name': 'a'}],"
                       " 'containerDefinitions': [{'name': 'web', 'image': 'i', 'memory': 8}]}",
                       "Volume names must be unique within a Task Definition.", NULL);
        expect_invalid("{'family': 'f', 'volumes': [{'name': 'my vol'}], 'containerDefinitions': [{'name': 'web',"
                       " 'image': 'i', 'memory': 8}]}",
                       "Volume name contains invalid characters.", NULL);
        expect_invalid("{'family': 'f', 'volumes': [{'host': {'sourcePath': '/x'}}], 'containerDefinitions':"
                       " [{'name': 'web', 'image': 'i', 'memory': 8}]}",
                       "Volume name should not be null or empty.", NULL);
        char *long_name = repeat('v', 256);
        json_t *req = json_pack("{s:s,s:[{s:s}],s:[{s:s,s:s,s:i}]}", "family", "f", "volumes", "name", long_name,
                                "containerDefinitions", "name", "web", "image", "i", "memory", 8);
        expect_invalid_json(req, "Volume name contains invalid characters.", NULL);
        json_decref(req);
        free(long_name);
        expect_valid("{'family': 'f', 'volumes': [{'name': 'a'}, {'name': 'B_2-x'}], 'containerDefinitions':"
                     " [{'name': 'web', 'image': 'i', 'memory': 8}]}");
}

/* ---- per-container settings ---- */

static void test_health_check(void **state) {
        (void) state;
        expect_container_invalid("{'name': 'web', 'image': 'i', 'memory': 8, 'healthCheck': {'command': []}}",
                                 "Invalid 'healthCheck' setting for container 'web'. 'command' should not be empty.",
                                 NULL);
        static const struct {
                const char *member;
                int bad_low, bad_high;
        } cases[] = {
                {"interval", 4, 301},
                {"timeout", 1, 121},
                {"retries", 0, 11},
                {"startPeriod", -1, 301},
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                int values[2] = {cases[i].bad_low, cases[i].bad_high};
                for (size_t k = 0; k < 2; k++) {
                        json_t *req = json_pack("{s:s,s:[{s:s,s:s,s:i,s:{s:[s,s],s:i}}]}", "family", "f",
                                                "containerDefinitions", "name", "web", "image", "i", "memory", 8,
                                                "healthCheck", "command", "CMD", "true", cases[i].member, values[k]);
                        char want[64];
                        assert_true(str_printf(want, sizeof(want), "'%s' must be between", cases[i].member) >= 0);
                        expect_invalid_json(req, "Invalid 'healthCheck' setting for container 'web'", want);
                        json_decref(req);
                }
        }
        expect_container_valid("{'name': 'web', 'image': 'i', 'memory': 8, 'healthCheck': {'command': ['CMD', 'true'],"
                               " 'interval': 5, 'timeout': 2, 'retries': 1, 'startPeriod': 0}}");
        expect_container_valid("{'name': 'web', 'image': 'i', 'memory': 8, 'healthCheck': {'command': ['CMD', 'true'],"
                               " 'interval': 300, 'timeout': 120, 'retries': 10, 'startPeriod': 300}}");
}

static void test_timeouts(void **state) {
        (void) state;
        expect_container_invalid("{'name': 'web', 'image': 'i', 'memory': 8, 'stopTimeout': -1}",
                                 "Invalid 'stopTimeout' setting for container 'web'", "negative");
        expect_container_valid("{'name': 'web', 'image': 'i', 'memory': 8, 'stopTimeout': 600}");
        expect_invalid("{'family': 'f', 'requiresCompatibilities': ['FARGATE'], 'networkMode': 'awsvpc', 'cpu': '256',"
                       " 'memory': '512', 'containerDefinitions': [{'name': 'web', 'image': 'i', 'stopTimeout': 121}]}",
                       "Invalid 'stopTimeout' setting for container 'web'", "120 seconds");
        expect_valid("{'family': 'f', 'requiresCompatibilities': ['FARGATE'], 'networkMode': 'awsvpc', 'cpu': '256',"
                     " 'memory': '512', 'containerDefinitions': [{'name': 'web', 'image': 'i', 'stopTimeout': 120}]}");
        expect_container_invalid("{'name': 'web', 'image': 'i', 'memory': 8, 'startTimeout': -5}",
                                 "Invalid 'startTimeout' setting for container 'web'", "negative");
        expect_container_valid("{'name': 'web', 'image': 'i', 'memory': 8, 'startTimeout': 0}");
}

static void test_ulimits(void **state) {
        (void) state;
        expect_container_invalid("{'name': 'web', 'image': 'i', 'memory': 8, 'ulimits': [{'name': 'core',"
                                 " 'softLimit': 0, 'hardLimit': 0}, {'name': 'nofile', 'softLimit': 8192,"
                                 " 'hardLimit': 4096}]}",
                                 "Invalid 'ulimits' setting for container 'web'",
                                 "soft limit of 'nofile' is greater than its hard limit");
        expect_container_valid("{'name': 'web', 'image': 'i', 'memory': 8, 'ulimits': [{'name': 'nofile',"
                               " 'softLimit': 4096, 'hardLimit': 4096}]}");
}

static void test_environment(void **state) {
        (void) state;
        expect_container_invalid("{'name': 'web', 'image': 'i', 'memory': 8, 'environment': [{'name': 'A',"
                                 " 'value': '1'}, {'name': '', 'value': '2'}]}",
                                 "Invalid 'environment' setting for container 'web'",
                                 "names should not be null or empty");
        expect_container_invalid("{'name': 'web', 'image': 'i', 'memory': 8, 'environment': [{'value': '2'}]}",
                                 "Invalid 'environment' setting for container 'web'", "null or empty");
        expect_container_invalid("{'name': 'web', 'image': 'i', 'memory': 8, 'environment': [{'name': 'B',"
                                 " 'value': '1'}, {'name': 'A', 'value': '2'}, {'name': 'B', 'value': '3'}]}",
                                 "Invalid 'environment' setting for container 'web'",
                                 "Environment variable 'B' is set more than once.");
        expect_container_valid("{'name': 'web', 'image': 'i', 'memory': 8, 'environment': [{'name': 'A', 'value': '1'},"
                               " {'name': 'a', 'value': '2'}, {'name': 'B'}]}");
}

static void test_secrets(void **state) {
        (void) state;
        expect_container_invalid("{'name': 'web', 'image': 'i', 'memory': 8, 'secrets': [{'name': '',"
                                 " 'valueFrom': 'arn:x'}]}",
                                 "Invalid 'secrets' setting for container 'web'", NULL);
        expect_container_invalid("{'name': 'web', 'image': 'i', 'memory': 8, 'secrets': [{'name': 'S',"
                                 " 'valueFrom': ''}]}",
                                 "Invalid 'secrets' setting for container 'web'", "'valueFrom'");
        expect_container_valid("{'name': 'web', 'image': 'i', 'memory': 8, 'secrets': [{'name': 'S',"
                               " 'valueFrom': 'arn:aws:ssm:eu-west-1:1:parameter/s'}]}");
}

/* ---- tags ---- */

/* Tags past the model's limits never reach the validator through the shape check, so these go to it directly. */
static void expect_tags_invalid(json_t *tags, const char *needle) {
        json_t *req = load("{'family': 'f', 'containerDefinitions': [{'name': 'a', 'image': 'i', 'memory': 8}]}");
        assert_int_equal(json_object_set_new(req, "tags", tags), 0);
        struct err e = {0};
        check_error(ecs_taskdef_validate(req, &e), &e, needle, NULL);
        json_decref(req);
}

static void test_tags(void **state) {
        (void) state;
        json_t *many = json_array();
        for (int i = 0; i < 51; i++)
                assert_int_equal(json_array_append_new(many, json_pack("{s:s}", "key", "k")), 0);
        expect_tags_invalid(many, "Too many tags");
        expect_tags_invalid(json_pack("[{s:s}]", "key", ""), "Tag keys must be between 1 and 128 characters long.");
        expect_tags_invalid(json_pack("[{s:s}]", "value", "v"), "Tag keys must be between 1 and 128 characters long.");
        char *long_key = repeat('k', 129);
        expect_tags_invalid(json_pack("[{s:s}]", "key", long_key), "Tag keys must be between 1 and 128");
        free(long_key);
        char *long_value = repeat('v', 257);
        expect_tags_invalid(json_pack("[{s:s,s:s}]", "key", "k", "value", long_value),
                            "Tag values must be at most 256 characters long.");
        free(long_value);

        expect_invalid("{'family': 'f', 'tags': [{'key': 'ok', 'value': 'v'}, {'key': 'aws:owner', 'value': 'me'}],"
                       " 'containerDefinitions': [{'name': 'a', 'image': 'i', 'memory': 8}]}",
                       "Tag keys starting with 'aws:' are reserved for AWS use.", NULL);
        expect_invalid("{'family': 'f', 'tags': [{'key': 'AwS:x'}], 'containerDefinitions': [{'name': 'a',"
                       " 'image': 'i', 'memory': 8}]}",
                       "'aws:'", NULL);
        expect_valid("{'family': 'f', 'tags': [{'key': 'awsome', 'value': ''}, {'key': 'x:aws:', 'value': 'aws:v'}],"
                     " 'containerDefinitions': [{'name': 'a', 'image': 'i', 'memory': 8}]}");
}

/* ---- whole requests ---- */

static void test_realistic_fargate_taskdef(void **state) {
        (void) state;
        expect_valid(
                "{'family': 'shop-api', 'networkMode': 'awsvpc', 'requiresCompatibilities': ['FARGATE'],"
                " 'cpu': '1024', 'memory': '2048', 'executionRoleArn': 'arn:aws:iam::1:role/exec',"
                " 'containerDefinitions': ["
                "  {'name': 'api', 'image': 'shop/api:1.4', 'essential': true, 'memoryReservation': 1024,"
                "   'portMappings': [{'containerPort': 8080, 'hostPort': 8080, 'protocol': 'tcp', 'name': 'http'}],"
                "   'environment': [{'name': 'PORT', 'value': '8080'}, {'name': 'ENV', 'value': 'prod'}],"
                "   'secrets': [{'name': 'DB_URL', 'valueFrom': 'arn:aws:ssm:eu-west-1:1:parameter/db'}],"
                "   'dependsOn': [{'containerName': 'migrate', 'condition': 'SUCCESS'},"
                "                 {'containerName': 'proxy', 'condition': 'HEALTHY'}],"
                "   'healthCheck': {'command': ['CMD-SHELL', 'curl -f localhost:8080/health'], 'interval': 10},"
                "   'ulimits': [{'name': 'nofile', 'softLimit': 65536, 'hardLimit': 65536}], 'stopTimeout': 60,"
                "   'mountPoints': [{'sourceVolume': 'scratch', 'containerPath': '/tmp/scratch'}]},"
                "  {'name': 'migrate', 'image': 'shop/api:1.4', 'essential': false, 'command': ['migrate']},"
                "  {'name': 'proxy', 'image': 'envoy', 'essential': true,"
                "   'healthCheck': {'command': ['CMD', '/health'], 'retries': 3, 'startPeriod': 30}}],"
                " 'volumes': [{'name': 'scratch'}],"
                " 'tags': [{'key': 'team', 'value': 'shop'}]}");
}

static void test_not_an_object(void **state) {
        (void) state;
        struct err e = {0};
        json_t *arr = json_array();
        check_error(ecs_taskdef_validate(arr, &e), &e, "must be an object", NULL);
        json_decref(arr);
        check_error(ecs_taskdef_validate(NULL, &e), &e, "must be an object", NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_family),
                cmocka_unit_test(test_container_count),
                cmocka_unit_test(test_container_name),
                cmocka_unit_test(test_image),
                cmocka_unit_test(test_essential),
                cmocka_unit_test(test_container_memory_required),
                cmocka_unit_test(test_container_memory_bounds),
                cmocka_unit_test(test_cpu_memory_parse),
                cmocka_unit_test(test_fargate),
                cmocka_unit_test(test_port_ranges),
                cmocka_unit_test(test_port_network_modes),
                cmocka_unit_test(test_port_duplicates),
                cmocka_unit_test(test_awsvpc_forbidden_options),
                cmocka_unit_test(test_depends_on),
                cmocka_unit_test(test_volumes_from),
                cmocka_unit_test(test_mount_points),
                cmocka_unit_test(test_volume_names),
                cmocka_unit_test(test_health_check),
                cmocka_unit_test(test_timeouts),
                cmocka_unit_test(test_ulimits),
                cmocka_unit_test(test_environment),
                cmocka_unit_test(test_secrets),
                cmocka_unit_test(test_tags),
                cmocka_unit_test(test_realistic_fargate_taskdef),
                cmocka_unit_test(test_not_an_object),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
