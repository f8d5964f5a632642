/* nodes.c — a Kubernetes Node as the host an ECS container instance stands for (backend.h, hosts): its allocatable
 * CPU and memory in ECS units, its OS, architecture, zone and labels. Pure functions, no state: the backend keeps the
 * cache, fed by its Node watch, and calls k8s_node_host for each Node the watch reports. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ecs.h"
#include "k8s-internal.h"

/* Parse a Kubernetes quantity ("4", "3500m", "16Gi", "8032092Ki", "1G", "1e3") into *ret scaled by `scale`
 * (1000 for milli-units of CPU, 1 for bytes). Fractions are kept to the scale's precision. -EINVAL otherwise. */
int k8s_quantity_parse(const char *s, int64_t scale, int64_t *ret) {
        if (!s || !*s)
                return -EINVAL;
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s || v < 0)
                return -EINVAL;
        static const struct {
                const char *suffix;
                double factor;
        } suffixes[] = {
                {"", 1},         {"m", 1e-3},       {"k", 1e3},        {"M", 1e6},        {"G", 1e9},
                {"T", 1e12},     {"P", 1e15},       {"E", 1e18},       {"Ki", 1024.0},    {"Mi", 1048576.0},
                {"Gi", 1073741824.0}, {"Ti", 1099511627776.0}, {"Pi", 1125899906842624.0},
                {"Ei", 1152921504606846976.0},
        };
        for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++)
                if (strcmp(end, suffixes[i].suffix) == 0) {
                        double total = v * suffixes[i].factor * (double) scale;
                        if (total > 9e18)
                                return -ERANGE;
                        *ret = (int64_t) (total + 1e-9);
                        return 0;
                }
        return -EINVAL;
}

/* "2024-05-01T10:00:00Z" → epoch seconds; 0 when it does not parse. */
static int64_t rfc3339_seconds(const char *s) {
        struct tm tm = {0};
        const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
        if (!end)
                return 0;
        return (int64_t) timegm(&tm);
}

static bool node_ready(const json_t *node) {
        size_t i;
        const json_t *c;
        json_array_foreach(json_object_get(json_object_get(node, "status"), "conditions"), i, c) if (
                strcmp(ecs_json_str(c, "type", ""), "Ready") == 0) return strcmp(ecs_json_str(c, "status", ""),
                                                                                 "True") == 0;
        return false;
}

json_t *k8s_node_host(const json_t *node) {
        const json_t *meta = json_object_get(node, "metadata");
        const json_t *spec = json_object_get(node, "spec");
        const json_t *status = json_object_get(node, "status");
        const char *name = ecs_json_str(meta, "name", NULL);
        /* A cordoned or not-Ready node takes no new Pods: it is no host for placement. */
        if (!name || json_is_true(json_object_get(spec, "unschedulable")) || !node_ready(node))
                return NULL;
        const json_t *alloc = json_object_get(status, "allocatable");
        int64_t mcpu = 0, bytes = 0;
        if (k8s_quantity_parse(ecs_json_str(alloc, "cpu", ""), 1000, &mcpu) < 0 ||
            k8s_quantity_parse(ecs_json_str(alloc, "memory", ""), 1, &bytes) < 0)
                return NULL;
        const json_t *labels = json_object_get(meta, "labels");
        const char *arch = ecs_json_str(labels, "kubernetes.io/arch",
                                        ecs_json_str(json_object_get(status, "nodeInfo"), "architecture", "amd64"));
        /* ECS names the architectures as uname does. */
        if (strcmp(arch, "amd64") == 0)
                arch = "x86_64";
        const json_t *info = json_object_get(status, "nodeInfo");
        json_t *host = json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:o, s:s, s:s, s:I}", "id", name, "name", name,
                                 "cpu", (json_int_t) (mcpu * 1024 / 1000), "memory",
                                 (json_int_t) (bytes / (1024 * 1024)), "os",
                                 ecs_json_str(labels, "kubernetes.io/os",
                                              ecs_json_str(info, "operatingSystem", "linux")),
                                 "arch", arch, "labels",
                                 json_is_object(labels) ? json_deep_copy(labels) : json_object(),
                                 "agent_version", ECSD_VERSION, "docker_version",
                                 ecs_json_str(info, "containerRuntimeVersion", ""), "registered_at",
                                 (json_int_t) rfc3339_seconds(ecs_json_str(meta, "creationTimestamp", NULL)));
        const char *zone = ecs_json_str(labels, "topology.kubernetes.io/zone", NULL);
        if (zone && host)
                json_object_set_new(host, "zone", json_string(zone));
        return host;
}
