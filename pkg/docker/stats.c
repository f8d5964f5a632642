/* stats.c — a container's resource usage in the shape of the Docker stats API, which the ECS task metadata endpoint
 * v4 serves under /stats and /task/stats, made from one line of `docker stats --no-stream`.
 *
 * ecsd only talks to the engine through its CLI (so Podman works the same way), and the CLI prints rounded,
 * human-formatted figures ("596KiB / 32MiB", "1.2kB / 0B", "99.68%"), not the engine's counters. So the translation
 * is approximate, and docs/internals/docker-backend.md lists how:
 * - cpu_stats/precpu_stats are made up over a nominal one-second window so that the usual formula
 *   (cpu delta / system delta x online_cpus x 100) gives the CLI's percentage; the absolute counters mean nothing,
 *   and system_cpu_usage is the host's uptime x online_cpus (what /proc/stat's total roughly is), so it grows
 *   between requests;
 * - memory_stats has usage and limit (to the CLI's rounding), no max_usage and an empty "stats" (so usage minus
 *   stats.cache is still usage);
 * - networks has one "eth0" with the summed rx/tx bytes of every interface and no packet, error or drop counts;
 * - blkio_stats has one Read and one Write entry (device 0:0) with the summed bytes;
 * - no network_rate_stats (the agent needs two samples for it).
 * Pure functions, no I/O: safe from any thread. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "docker-backend.h"
#include "ecs.h"

#define NS_PER_S 1000000000LL

int docker_size_parse(const char *s, int64_t *ret) {
        static const struct {
                const char *unit;
                double factor;
        } units[] = {
                {"B", 1.0},         {"kB", 1e3},        {"KB", 1e3},          {"MB", 1e6},
                {"GB", 1e9},        {"TB", 1e12},       {"PB", 1e15},         {"KiB", 1024.0},
                {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0}, {"PiB", 1125899906842624.0},
        };
        while (*s == ' ')
                s++;
        char *end = NULL;
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || errno || !isfinite(v) || v < 0)
                return -EINVAL;
        while (*end == ' ')
                end++;
        size_t n = strlen(end);
        while (n > 0 && end[n - 1] == ' ')
                n--;
        for (size_t i = 0; i < ARRAY_SIZE(units); i++)
                if (strlen(units[i].unit) == n && strncmp(end, units[i].unit, n) == 0) {
                        double bytes = v * units[i].factor;
                        if (bytes >= 9.2e18)
                                return -ERANGE;
                        *ret = (int64_t) (bytes + 0.5);
                        return 0;
                }
        return -EINVAL;
}

/* "A / B" into two sizes; a part that does not parse ("--") is 0. */
static void size_pair(const char *s, int64_t *a, int64_t *b) {
        *a = *b = 0;
        if (!s)
                return;
        const char *slash = strchr(s, '/');
        char left[64];
        str_printf(left, sizeof(left), "%.*s", (int) (slash ? (size_t) (slash - s) : strlen(s)), s);
        if (docker_size_parse(left, a) < 0)
                *a = 0;
        if (slash && docker_size_parse(slash + 1, b) < 0)
                *b = 0;
}

static void rfc3339_ns(int64_t ns, char *buf, size_t size) {
        time_t secs = (time_t) (ns / NS_PER_S);
        struct tm tm;
        gmtime_r(&secs, &tm);
        char date[40];
        strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
        str_printf(buf, size, "%s.%09lldZ", date, (long long) (ns % NS_PER_S));
}

static json_t *cpu_block(int64_t total_ns, int64_t system_ns, int online_cpus) {
        return json_pack("{s:{s:I, s:I, s:I}, s:I, s:i, s:{s:i, s:i, s:i}}", "cpu_usage", "total_usage",
                         (json_int_t) total_ns, "usage_in_kernelmode", (json_int_t) 0, "usage_in_usermode",
                         (json_int_t) 0, "system_cpu_usage", (json_int_t) system_ns, "online_cpus", online_cpus,
                         "throttling_data", "periods", 0, "throttled_periods", 0, "throttled_time", 0);
}

json_t *docker_stats_translate(const json_t *sample, const char *docker_name, int online_cpus, int64_t read_ns,
                               int64_t uptime_ns) {
        if (online_cpus < 1)
                online_cpus = 1;
        double pct = 0;
        const char *cpu = ecs_json_str(sample, "cpu", "");
        char *end = NULL;
        pct = strtod(cpu, &end);
        if (end == cpu || !isfinite(pct) || pct < 0)
                pct = 0;
        if (pct > 100.0 * online_cpus)
                pct = 100.0 * online_cpus; /* nothing uses more than every CPU; keeps the product below in range */
        int64_t mem_usage, mem_limit, rx, tx, blk_read, blk_write, pids = 0;
        size_pair(ecs_json_str(sample, "mem", NULL), &mem_usage, &mem_limit);
        size_pair(ecs_json_str(sample, "net", NULL), &rx, &tx);
        size_pair(ecs_json_str(sample, "block", NULL), &blk_read, &blk_write);
        if (parse_int64(ecs_json_str(sample, "pids", ""), 0, INT64_MAX, &pids) < 0)
                pids = 0;

        /* One nominal second: the system counter advances by online_cpus seconds, the container by pct % of one. */
        if (uptime_ns < NS_PER_S)
                uptime_ns = NS_PER_S;
        int64_t system_now = uptime_ns * online_cpus;
        int64_t system_before = system_now - NS_PER_S * online_cpus;
        int64_t cpu_delta = (int64_t) (pct / 100.0 * (double) NS_PER_S + 0.5);

        char read[48], preread[48], name[300];
        rfc3339_ns(read_ns, read, sizeof(read));
        rfc3339_ns(read_ns - NS_PER_S, preread, sizeof(preread));
        str_printf(name, sizeof(name), "/%s", docker_name ? docker_name : "");
        json_t *blkio = json_pack("{s:[{s:i, s:i, s:s, s:I}, {s:i, s:i, s:s, s:I}], s:[], s:[], s:[], s:[], s:[], s:[], "
                                  "s:[]}",
                                  "io_service_bytes_recursive", "major", 0, "minor", 0, "op", "Read", "value",
                                  (json_int_t) blk_read, "major", 0, "minor", 0, "op", "Write", "value",
                                  (json_int_t) blk_write, "io_serviced_recursive", "io_queue_recursive",
                                  "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
                                  "io_time_recursive", "sectors_recursive");
        json_t *net = json_pack("{s:{s:I, s:i, s:i, s:i, s:I, s:i, s:i, s:i}}", "eth0", "rx_bytes", (json_int_t) rx,
                                "rx_packets", 0, "rx_errors", 0, "rx_dropped", 0, "tx_bytes", (json_int_t) tx,
                                "tx_packets", 0, "tx_errors", 0, "tx_dropped", 0);
        return json_pack("{s:s, s:s, s:{s:I}, s:o, s:i, s:{}, s:o, s:o, s:{s:I, s:{}, s:I}, s:s, s:s, s:o}", "read",
                         read, "preread", preread, "pids_stats", "current", (json_int_t) pids, "blkio_stats", blkio,
                         "num_procs", 0, "storage_stats", "cpu_stats",
                         cpu_block(cpu_delta, system_now, online_cpus), "precpu_stats",
                         cpu_block(0, system_before, online_cpus), "memory_stats", "usage", (json_int_t) mem_usage,
                         "stats", "limit", (json_int_t) mem_limit, "name", name, "id",
                         ecs_json_str(sample, "id", ""), "networks", net);
}
