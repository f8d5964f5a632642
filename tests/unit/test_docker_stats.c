/* test_docker_stats.c — the translation of one `docker stats --no-stream` line into the Docker stats API shape
 * (pkg/docker/stats.c): the CLI's sizes in both unit systems, the CPU share recovered by the usual formula, and the
 * members ECS's metadata endpoint v4 serves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "docker-backend.h"

#define NS 1000000000LL
#define READ_NS (1795561565LL * NS + 123456789LL)
#define UPTIME_NS (3600LL * NS)

static void sizes(void **state) {
        (void) state;
        static const struct {
                const char *in;
                int64_t bytes;
        } ok[] = {
                {"0B", 0},           {"736B", 736},         {"1.2kB", 1200},       {"596KiB", 596 * 1024},
                {"32MiB", 33554432}, {"23.54GiB", 25275882537LL}, {"1.5MB", 1500000}, {" 2GB ", 2000000000},
                {"1TB", 1000000000000LL},
        };
        for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
                int64_t v = -1;
                assert_int_equal(docker_size_parse(ok[i].in, &v), 0);
                assert_int_equal(v, ok[i].bytes);
        }
        static const char *const bad[] = {"", "--", "12", "12XB", "-1B", "kB", "nanB", "1e300PB"};
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                int64_t v = 42;
                assert_true(docker_size_parse(bad[i], &v) < 0);
                assert_int_equal(v, 42);
        }
}

static json_t *sample(const char *cpu, const char *mem, const char *net, const char *block, const char *pids) {
        json_t *s = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", "7643cd2616b7f480", "name", "ecsd-t-app",
                              "cpu", cpu, "mem", mem, "net", net, "block", block, "pids", pids);
        assert_non_null(s);
        return s;
}

static int64_t num(const json_t *obj, const char *path) {
        char buf[256];
        str_printf(buf, sizeof(buf), "%s", path);
        const json_t *cur = obj;
        for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save))
                cur = json_object_get(cur, tok);
        assert_true(json_is_integer(cur));
        return json_integer_value(cur);
}

/* The formula every consumer of the ECS stats uses, back to a percentage. */
static double cpu_percent(const json_t *st) {
        double cpu_delta = (double) (num(st, "cpu_stats.cpu_usage.total_usage") -
                                     num(st, "precpu_stats.cpu_usage.total_usage"));
        double sys_delta = (double) (num(st, "cpu_stats.system_cpu_usage") - num(st, "precpu_stats.system_cpu_usage"));
        return cpu_delta / sys_delta * (double) num(st, "cpu_stats.online_cpus") * 100.0;
}

static void translate(void **state) {
        (void) state;
        json_t *in = sample("99.68%", "596KiB / 32MiB", "1.2kB / 736B", "4.1MB / 8.2kB", "3");
        json_t *st = docker_stats_translate(in, "ecsd-t-app", 2, READ_NS, UPTIME_NS);
        assert_non_null(st);
        assert_string_equal(json_string_value(json_object_get(st, "read")), "2026-11-24T23:06:05.123456789Z");
        assert_string_equal(json_string_value(json_object_get(st, "preread")), "2026-11-24T23:06:04.123456789Z");
        assert_string_equal(json_string_value(json_object_get(st, "name")), "/ecsd-t-app");
        assert_string_equal(json_string_value(json_object_get(st, "id")), "7643cd2616b7f480");
        assert_int_equal(num(st, "pids_stats.current"), 3);
        assert_int_equal(num(st, "memory_stats.usage"), 596 * 1024);
        assert_int_equal(num(st, "memory_stats.limit"), 32 * 1024 * 1024);
        assert_true(json_is_object(json_object_get(json_object_get(st, "memory_stats"), "stats")));
        assert_int_equal(num(st, "networks.eth0.rx_bytes"), 1200);
        assert_int_equal(num(st, "networks.eth0.tx_bytes"), 736);
        assert_int_equal(num(st, "cpu_stats.online_cpus"), 2);
        assert_int_equal(num(st, "cpu_stats.system_cpu_usage"), 2 * UPTIME_NS);
        assert_true(cpu_percent(st) > 99.67 && cpu_percent(st) < 99.69);
        const json_t *io = json_object_get(json_object_get(st, "blkio_stats"), "io_service_bytes_recursive");
        assert_int_equal(json_array_size(io), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(io, 0), "op")), "Read");
        assert_int_equal(num(json_array_get(io, 0), "value"), 4100000);
        assert_string_equal(json_string_value(json_object_get(json_array_get(io, 1), "op")), "Write");
        assert_int_equal(num(json_array_get(io, 1), "value"), 8200);
        static const char *const members[] = {"read", "preread", "pids_stats", "blkio_stats", "num_procs",
                                              "storage_stats", "cpu_stats", "precpu_stats", "memory_stats", "name",
                                              "id", "networks"};
        assert_int_equal(json_object_size(st), ARRAY_SIZE(members));
        for (size_t i = 0; i < ARRAY_SIZE(members); i++)
                assert_non_null(json_object_get(st, members[i]));
        json_decref(st);
        json_decref(in);
}

static void several_cpus_and_garbage(void **state) {
        (void) state;
        /* 350 % on 4 CPUs comes back as 350 %; fields the CLI could not fill ("--") count as 0. */
        json_t *in = sample("350.00%", "-- / --", "--", "garbage", "--");
        json_t *st = docker_stats_translate(in, "x", 4, READ_NS, UPTIME_NS);
        assert_true(cpu_percent(st) > 349.99 && cpu_percent(st) < 350.01);
        assert_int_equal(num(st, "memory_stats.usage"), 0);
        assert_int_equal(num(st, "memory_stats.limit"), 0);
        assert_int_equal(num(st, "networks.eth0.rx_bytes"), 0);
        assert_int_equal(num(st, "pids_stats.current"), 0);
        json_decref(st);
        json_decref(in);
        /* An absurd share is capped at every CPU busy rather than overflowing. */
        in = sample("1e300%", "1B / 2B", "0B / 0B", "0B / 0B", "1");
        st = docker_stats_translate(in, "x", 2, READ_NS, UPTIME_NS);
        assert_true(cpu_percent(st) > 199.99 && cpu_percent(st) < 200.01);
        json_decref(st);
        json_decref(in);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(sizes),
                cmocka_unit_test(translate),
                cmocka_unit_test(several_cpus_and_garbage),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
