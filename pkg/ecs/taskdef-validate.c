/* taskdef-validate.c — the semantic rules of RegisterTaskDefinition (see taskdef-validate.h).
 *
 * It owns no state: it reads a request that ecs_shape_check already typed and trimmed, and stops at the first rule
 * broken, in the order of the table below. Every error is ERR_KIND_CLIENT (ClientException). Work is bounded on
 * hostile input: at most 10 containers are looked at, and the per-container lists that have no model maximum
 * (environment, portMappings) are checked for duplicates by sorting, not by pairwise comparison. Safe from any thread.
 *
 * Messages marked [ECS] are real ECS wording, seen in public error reports; the others follow ECS's style but their
 * exact text is not verified.
 *
 * Rules, in the order they are checked, each with its message (C = container name, V = volume, etc.):
 *
 * - family empty
 *       Family can not be blank. [ECS]
 * - family longer than 255
 *       Family name can have a maximum of 255 characters.
 * - family not [A-Za-z0-9_-]
 *       Family contains invalid characters. [ECS]
 * - containerDefinitions empty
 *       Container list cannot be empty. [ECS]
 * - more than 10 containers
 *       Too many containers. [ECS]
 * - container name absent or empty
 *       Container.name should not be null or empty. [ECS]
 * - container name longer than 255
 *       Container.name should not exceed 255 characters.
 * - container name not [A-Za-z0-9_-]
 *       Container.name contains invalid characters. [ECS]
 * - container name repeated
 *       Container names must be unique within a Task Definition. [ECS]
 * - image absent or empty
 *       Container.image should not be null or empty. [ECS]
 * - task cpu not "N" or "N vCPU" (1..196608 units)
 *       Invalid 'cpu' setting for task. [ECS]
 * - task memory not "N" or "N GB" (MiB >= 1)
 *       Invalid 'memory' setting for task.
 * - FARGATE and networkMode != awsvpc (absent = bridge)
 *       Fargate only supports network mode 'awsvpc'. [ECS, with curly quotes]
 * - FARGATE and no task cpu
 *       Fargate requires that 'cpu' be defined at the task level. [ECS]
 * - FARGATE and no task memory
 *       Fargate requires that 'memory' be defined at the task level.
 * - FARGATE and cpu/memory not a Fargate size (table below)
 *       No Fargate configuration exists for given values: C CPU, M memory. See the Amazon ECS documentation for the
 *       valid values. [ECS]
 * - no task memory, container has neither memory nor reservation
 *       Invalid setting for container 'C'. At least one of 'memory' or 'memoryReservation' must be specified. [ECS]
 * - container memory < 6
 *       Invalid 'memory' setting for container 'C'. The minimum is 6 MiB.
 * - container memoryReservation < 6
 *       Invalid 'memoryReservation' setting for container 'C'. The minimum is 6 MiB.
 * - memoryReservation > memory
 *       Invalid setting for container 'C'. 'memoryReservation' must be less than or equal to 'memory'.
 * - container memory > task memory
 *       The 'memory' setting for container 'C' is greater than for the task. [ECS]
 * - container memoryReservation > task memory
 *       The 'memoryReservation' setting for container 'C' is greater than for the task.
 * - portMappings with networkMode none
 *       Port mappings are not supported when networkMode=none.
 * - mapping with neither containerPort nor containerPortRange
 *       Invalid port mapping for container 'C'. Either 'containerPort' or 'containerPortRange' must be specified.
 * - mapping with both
 *       Invalid port mapping for container 'C'. 'containerPort' and 'containerPortRange' cannot both be specified.
 * - containerPort outside 1..65535
 *       Invalid 'containerPort' setting for container 'C'. It must be between 1 and 65535.
 * - containerPortRange not "A-B", 1 <= A < B <= 65535
 *       Invalid 'containerPortRange' setting for container 'C'. It must be 'first-last' with 1 <= first < last <=
 *       65535.
 * - hostPort outside 0..65535
 *       Invalid 'hostPort' setting for container 'C'. It must be between 0 and 65535.
 * - awsvpc/host and hostPort given != containerPort
 *       When networkMode=awsvpc, the host ports and container ports in port mappings must match. [ECS] (host alike)
 * - same containerPort+protocol twice in a container (tcp default)
 *       Invalid port mapping for container 'C'. Container port P/tcp is mapped more than once.
 * - links with awsvpc
 *       Links are not supported when networkMode=awsvpc. [ECS]
 * - extraHosts with awsvpc
 *       Extra hosts are not supported when networkMode=awsvpc.
 * - dnsServers with awsvpc
 *       DNS servers are not supported when networkMode=awsvpc.
 * - healthCheck command empty
 *       Invalid 'healthCheck' setting for container 'C'. 'command' should not be empty.
 * - healthCheck interval/timeout/retries/startPeriod out of range
 *       Invalid 'healthCheck' setting for container 'C'. 'interval' must be between 5 and 300. (timeout 2..120,
 *       retries 1..10, startPeriod 0..300)
 * - stopTimeout < 0
 *       Invalid 'stopTimeout' setting for container 'C'. It must not be negative.
 * - FARGATE and stopTimeout > 120
 *       Invalid 'stopTimeout' setting for container 'C'. The maximum for Fargate is 120 seconds.
 * - startTimeout < 0
 *       Invalid 'startTimeout' setting for container 'C'. It must not be negative.
 * - ulimit softLimit > hardLimit (name: shape enum)
 *       Invalid 'ulimits' setting for container 'C'. The soft limit of 'N' is greater than its hard limit.
 * - environment name absent or empty
 *       Invalid 'environment' setting for container 'C'. Environment variable names should not be null or empty.
 * - environment name repeated
 *       Invalid 'environment' setting for container 'C'. Environment variable 'N' is set more than once.
 * - secrets name or valueFrom empty (presence: shape)
 *       Invalid 'secrets' setting for container 'C'. 'name' and 'valueFrom' should not be empty.
 * - volume name absent or empty
 *       Volume name should not be null or empty.
 * - volume name longer than 255 or not [A-Za-z0-9_-]
 *       Volume name contains invalid characters.
 * - volume name repeated
 *       Volume names must be unique within a Task Definition.
 * - mountPoints sourceVolume absent
 *       Unknown volume 'null'. [ECS]
 * - mountPoints sourceVolume not a declared volume
 *       Unknown volume 'V'. [ECS]
 * - volumesFrom sourceContainer absent, unknown or itself
 *       Invalid 'volumesFrom' setting for container 'C'. Unknown source container 'S'.
 * - no essential container (essential absent = true)
 *       Task definition doesn't have any essential container. [ECS]
 * - dependsOn names an unknown container
 *       Invalid 'dependsOn' setting for container 'C'. Unknown container 'D'.
 * - dependsOn names the container itself
 *       Invalid 'dependsOn' setting for container 'C'. A container cannot depend on itself.
 * - dependsOn SUCCESS/COMPLETE on an essential container
 *       A dependency container with SUCCESS or COMPLETE condition cannot be an essential container [ECS]
 * - dependsOn cycle
 *       Invalid 'dependsOn' setting for container 'C'. Circular dependency between containers.
 * - more than 50 tags
 *       Too many tags: a resource can have at most 50 tags.
 * - tag key absent, empty or longer than 128 characters
 *       Tag keys must be between 1 and 128 characters long.
 * - tag value longer than 256 characters
 *       Tag values must be at most 256 characters long.
 * - tag key starting with aws: (any case)
 *       Tag keys starting with 'aws:' are reserved for AWS use.
 *
 * Fargate sizes (cpu units: memory MiB): 256: 512, 1024, 2048; 512: 1024..4096 by 1024; 1024: 2048..8192 by 1024;
 * 2048: 4096..16384 by 1024; 4096: 8192..30720 by 1024; 8192: 16384..61440 by 4096; 16384: 32768..122880 by 8192.
 *
 * Notes on choices: the model's PortMapping has no required member, so "containerPort or containerPortRange" is
 * enforced here. AWS's PortMapping documentation says the same container port cannot be exposed for several
 * protocols; ecsd only rejects the same port+protocol twice, so 53/tcp with 53/udp stays possible. The AWS tagging
 * documentation also reserves "aws:" as a value prefix; only keys are checked here. */
#include "taskdef-validate.h"

#include "ecs.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONTAINERS_MAX 10
#define NAME_MAX_CHARS 255
#define TAGS_MAX 50
#define CONTAINER_MEMORY_MIN_MIB 6
#define TASK_CPU_MAX_UNITS 196608

/* Every rule breach is a ClientException. */
#define client_error(e, ...) err_set((e), -EINVAL, ERR_KIND_CLIENT, __VA_ARGS__)

/* ---- reading the (already shape-checked) request; a member of another type counts as absent ---- */


static bool get_bool(const json_t *o, const char *key, bool dflt) {
        const json_t *v = json_object_get(o, key);
        return json_is_boolean(v) ? json_is_true(v) : dflt;
}

/* The array member `key`, or NULL when absent (an empty array is returned as is). */
static const json_t *get_array(const json_t *o, const char *key) {
        const json_t *v = json_object_get(o, key);
        return json_is_array(v) ? v : NULL;
}

static bool nonempty_array(const json_t *o, const char *key) {
        const json_t *a = get_array(o, key);
        return a && json_array_size(a) > 0;
}

static bool array_has_string(const json_t *a, const char *s) {
        for (size_t i = 0; i < json_array_size(a); i++) {
                const char *v = json_string_value(json_array_get(a, i));
                if (v && strcmp(v, s) == 0)
                        return true;
        }
        return false;
}

/* Characters (code points) of UTF-8 text. */
static size_t utf8_chars(const char *s) {
        size_t n = 0;
        for (; *s; s++)
                if (((unsigned char) *s & 0xC0) != 0x80)
                        n++;
        return n;
}

static bool name_chars_valid(const char *s) {
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
                      *s == '_'))
                        return false;
        return true;
}

/* ---- task cpu and memory strings ---- */

/* Parse "<digits>[.<digits>]" then optional blanks then `unit` (case-insensitive) or nothing. Without the unit the
 * value must be a plain integer; with it the amount is multiplied by `scale` and must come out whole. */
static int parse_amount(const char *s, const char *unit, int64_t scale, int64_t max, int64_t *ret) {
        int64_t whole = 0, frac = 0, frac_div = 1;
        size_t digits = 0;
        const char *p = s;

        if (!s)
                return -EINVAL;
        for (; *p >= '0' && *p <= '9'; p++) {
                if (++digits > 12)
                        return -EINVAL;
                whole = whole * 10 + (*p - '0');
        }
        if (digits == 0)
                return -EINVAL;
        if (*p == '.') {
                size_t fdigits = 0;
                for (p++; *p >= '0' && *p <= '9'; p++) {
                        if (++fdigits > 6)
                                return -EINVAL;
                        frac = frac * 10 + (*p - '0');
                        frac_div *= 10;
                }
                if (fdigits == 0)
                        return -EINVAL;
        }
        while (*p == ' ' || *p == '\t')
                p++;

        int64_t v;
        if (*p == '\0') {
                if (frac_div != 1 || p[-1] == ' ' || p[-1] == '\t')
                        return -EINVAL;
                v = whole;
        } else {
                if (strcasecmp(p, unit) != 0)
                        return -EINVAL;
                int64_t scaled = whole * frac_div + frac; /* < 10^18: at most 12 + 6 digits */
                if (scaled > INT64_MAX / scale)
                        return -EINVAL;
                scaled *= scale;
                if (scaled % frac_div != 0)
                        return -EINVAL;
                v = scaled / frac_div;
        }
        if (v < 1 || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

int ecs_taskdef_cpu_parse(const char *s, int64_t *ret) {
        return parse_amount(s, "vcpu", 1024, TASK_CPU_MAX_UNITS, ret);
}

int ecs_taskdef_memory_parse(const char *s, int64_t *ret) {
        return parse_amount(s, "gb", 1024, INT32_MAX, ret);
}

static bool fargate_size_valid(int64_t cpu, int64_t mem) {
        static const struct {
                int64_t cpu, min, max, step;
        } sizes[] = {
                {512, 1024, 4096, 1024},   {1024, 2048, 8192, 1024},   {2048, 4096, 16384, 1024},
                {4096, 8192, 30720, 1024}, {8192, 16384, 61440, 4096}, {16384, 32768, 122880, 8192},
        };
        if (cpu == 256)
                return mem == 512 || mem == 1024 || mem == 2048;
        for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
                if (sizes[i].cpu == cpu)
                        return mem >= sizes[i].min && mem <= sizes[i].max && (mem - sizes[i].min) % sizes[i].step == 0;
        return false;
}

/* ---- what the rules need to know about the task as a whole ---- */

struct task {
        const char *network_mode; /* "bridge" when absent */
        bool awsvpc;
        bool fargate;
        bool has_cpu, has_memory;
        int64_t cpu, memory_mib;
        size_t n;
        const json_t *containers[CONTAINERS_MAX];
        const char *names[CONTAINERS_MAX];
        bool essential[CONTAINERS_MAX];
        const json_t *volumes;
};

static int container_index(const struct task *t, const char *name) {
        for (size_t i = 0; name && i < t->n; i++)
                if (strcmp(t->names[i], name) == 0)
                        return (int) i;
        return -1;
}

static int check_family(const json_t *req, struct err *e) {
        const char *family = ecs_json_str(req, "family", NULL);
        if (!family || family[0] == '\0')
                return client_error(e, "Family can not be blank.");
        if (utf8_chars(family) > NAME_MAX_CHARS)
                return client_error(e, "Family name can have a maximum of %d characters.", NAME_MAX_CHARS);
        if (!name_chars_valid(family))
                return client_error(e, "Family contains invalid characters.");
        return 0;
}

static int check_container_names(const json_t *req, struct task *t, struct err *e) {
        const json_t *defs = get_array(req, "containerDefinitions");
        size_t n = json_array_size(defs);
        if (n == 0)
                return client_error(e, "Container list cannot be empty.");
        if (n > CONTAINERS_MAX)
                return client_error(e, "Too many containers.");
        for (size_t i = 0; i < n; i++) {
                const json_t *c = json_array_get(defs, i);
                const char *name = ecs_json_str(c, "name", NULL);
                if (!name || name[0] == '\0')
                        return client_error(e, "Container.name should not be null or empty.");
                if (utf8_chars(name) > NAME_MAX_CHARS)
                        return client_error(e, "Container.name should not exceed %d characters.", NAME_MAX_CHARS);
                if (!name_chars_valid(name))
                        return client_error(e, "Container.name contains invalid characters.");
                if (container_index(t, name) >= 0)
                        return client_error(e, "Container names must be unique within a Task Definition.");
                const char *image = ecs_json_str(c, "image", NULL);
                if (!image || image[0] == '\0')
                        return client_error(e, "Container.image should not be null or empty.");
                t->containers[i] = c;
                t->names[i] = name;
                t->essential[i] = get_bool(c, "essential", true);
                t->n = i + 1;
        }
        return 0;
}

static int check_task_size(const json_t *req, struct task *t, struct err *e) {
        const char *cpu = ecs_json_str(req, "cpu", NULL);
        const char *memory = ecs_json_str(req, "memory", NULL);
        if (cpu) {
                if (ecs_taskdef_cpu_parse(cpu, &t->cpu) < 0)
                        return client_error(e, "Invalid 'cpu' setting for task.");
                t->has_cpu = true;
        }
        if (memory) {
                if (ecs_taskdef_memory_parse(memory, &t->memory_mib) < 0)
                        return client_error(e, "Invalid 'memory' setting for task.");
                t->has_memory = true;
        }
        if (!t->fargate)
                return 0;
        if (!t->awsvpc)
                return client_error(e, "Fargate only supports network mode \u2018awsvpc\u2019.");
        if (!t->has_cpu)
                return client_error(e, "Fargate requires that 'cpu' be defined at the task level.");
        if (!t->has_memory)
                return client_error(e, "Fargate requires that 'memory' be defined at the task level.");
        if (!fargate_size_valid(t->cpu, t->memory_mib))
                return client_error(e,
                                    "No Fargate configuration exists for given values: %" PRId64 " CPU, %" PRId64
                                    " memory. See the Amazon ECS documentation for the valid values.",
                                    t->cpu, t->memory_mib);
        return 0;
}

static int check_memory(const struct task *t, const json_t *c, const char *name, struct err *e) {
        int64_t memory = 0, reservation = 0;
        bool has_memory = ecs_json_int(c, "memory", &memory);
        bool has_reservation = ecs_json_int(c, "memoryReservation", &reservation);

        if (!t->has_memory && !has_memory && !has_reservation)
                return client_error(e,
                                    "Invalid setting for container '%s'. At least one of 'memory' or "
                                    "'memoryReservation' must be specified.",
                                    name);
        if (has_memory && memory < CONTAINER_MEMORY_MIN_MIB)
                return client_error(e, "Invalid 'memory' setting for container '%s'. The minimum is %d MiB.", name,
                                    CONTAINER_MEMORY_MIN_MIB);
        if (has_reservation && reservation < CONTAINER_MEMORY_MIN_MIB)
                return client_error(e, "Invalid 'memoryReservation' setting for container '%s'. The minimum is %d MiB.",
                                    name, CONTAINER_MEMORY_MIN_MIB);
        if (has_memory && has_reservation && reservation > memory)
                return client_error(e,
                                    "Invalid setting for container '%s'. 'memoryReservation' must be less than or "
                                    "equal to 'memory'.",
                                    name);
        if (t->has_memory && has_memory && memory > t->memory_mib)
                return client_error(e, "The 'memory' setting for container '%s' is greater than for the task.", name);
        if (t->has_memory && has_reservation && reservation > t->memory_mib)
                return client_error(
                        e, "The 'memoryReservation' setting for container '%s' is greater than for the task.", name);
        return 0;
}

/* A port number of plain digits (no sign, no blanks) in 1..65535; advances *p past it. */
static bool parse_port(const char **p, int64_t *ret) {
        int64_t v = 0;
        size_t digits = 0;
        for (; **p >= '0' && **p <= '9'; (*p)++) {
                if (++digits > 5)
                        return false;
                v = v * 10 + (**p - '0');
        }
        *ret = v;
        return digits > 0 && v >= 1 && v <= 65535;
}

/* "first-last" with 1 <= first < last <= 65535. */
static bool port_range_valid(const char *s) {
        int64_t first, last;
        return parse_port(&s, &first) && *s++ == '-' && parse_port(&s, &last) && *s == '\0' && first < last;
}

struct port_key {
        int64_t port;
        const char *protocol;
};

static int port_key_cmp(const void *a, const void *b) {
        const struct port_key *x = a, *y = b;
        if (x->port != y->port)
                return x->port < y->port ? -1 : 1;
        return strcmp(x->protocol, y->protocol);
}

static int check_ports(const struct task *t, const json_t *c, const char *name, struct err *e) {
        const json_t *maps = get_array(c, "portMappings");
        size_t n = json_array_size(maps);
        if (n == 0)
                return 0;
        if (strcmp(t->network_mode, "none") == 0)
                return client_error(e, "Port mappings are not supported when networkMode=none.");
        bool same_ports = t->awsvpc || strcmp(t->network_mode, "host") == 0;
        _cleanup_free_ struct port_key *keys = xcalloc(n, sizeof(*keys));
        size_t n_keys = 0;

        for (size_t i = 0; i < n; i++) {
                const json_t *m = json_array_get(maps, i);
                int64_t container_port = 0, host_port = 0;
                bool has_port = ecs_json_int(m, "containerPort", &container_port);
                const char *range = ecs_json_str(m, "containerPortRange", NULL);
                if (!has_port && !range)
                        return client_error(e,
                                            "Invalid port mapping for container '%s'. Either 'containerPort' or "
                                            "'containerPortRange' must be specified.",
                                            name);
                if (has_port && range)
                        return client_error(e,
                                            "Invalid port mapping for container '%s'. 'containerPort' and "
                                            "'containerPortRange' cannot both be specified.",
                                            name);
                if (has_port && (container_port < 1 || container_port > 65535))
                        return client_error(e,
                                            "Invalid 'containerPort' setting for container '%s'. It must be between 1 "
                                            "and 65535.",
                                            name);
                if (range && !port_range_valid(range))
                        return client_error(e,
                                            "Invalid 'containerPortRange' setting for container '%s'. It must be "
                                            "'first-last' with 1 <= first < last <= 65535.",
                                            name);
                if (ecs_json_int(m, "hostPort", &host_port)) {
                        if (host_port < 0 || host_port > 65535)
                                return client_error(e,
                                                    "Invalid 'hostPort' setting for container '%s'. It must be "
                                                    "between 0 and 65535.",
                                                    name);
                        if (same_ports && has_port && host_port != container_port)
                                return client_error(e,
                                                    "When networkMode=%s, the host ports and container ports in port "
                                                    "mappings must match.",
                                                    t->network_mode);
                }
                if (has_port) {
                        const char *protocol = ecs_json_str(m, "protocol", NULL);
                        keys[n_keys++] = (struct port_key){container_port, protocol ? protocol : "tcp"};
                }
        }
        qsort(keys, n_keys, sizeof(*keys), port_key_cmp);
        for (size_t i = 1; i < n_keys; i++)
                if (port_key_cmp(&keys[i - 1], &keys[i]) == 0)
                        return client_error(e,
                                            "Invalid port mapping for container '%s'. Container port %" PRId64
                                            "/%s is mapped more than once.",
                                            name, keys[i].port, keys[i].protocol);
        return 0;
}

static int check_health(const json_t *c, const char *name, struct err *e) {
        static const struct {
                const char *member;
                int64_t min, max;
        } ranges[] = {
                {"interval", 5, 300},
                {"timeout", 2, 120},
                {"retries", 1, 10},
                {"startPeriod", 0, 300},
        };
        const json_t *hc = json_object_get(c, "healthCheck");
        if (!json_is_object(hc))
                return 0;
        if (!nonempty_array(hc, "command"))
                return client_error(
                        e, "Invalid 'healthCheck' setting for container '%s'. 'command' should not be empty.", name);
        for (size_t i = 0; i < ARRAY_SIZE(ranges); i++) {
                int64_t v;
                if (ecs_json_int(hc, ranges[i].member, &v) && (v < ranges[i].min || v > ranges[i].max))
                        return client_error(e,
                                            "Invalid 'healthCheck' setting for container '%s'. '%s' must be between "
                                            "%" PRId64 " and %" PRId64 ".",
                                            name, ranges[i].member, ranges[i].min, ranges[i].max);
        }
        return 0;
}

static int check_timeouts(const struct task *t, const json_t *c, const char *name, struct err *e) {
        int64_t v;
        if (ecs_json_int(c, "stopTimeout", &v)) {
                if (v < 0)
                        return client_error(e,
                                            "Invalid 'stopTimeout' setting for container '%s'. It must not be "
                                            "negative.",
                                            name);
                if (t->fargate && v > 120)
                        return client_error(e,
                                            "Invalid 'stopTimeout' setting for container '%s'. The maximum for Fargate "
                                            "is 120 seconds.",
                                            name);
        }
        if (ecs_json_int(c, "startTimeout", &v) && v < 0)
                return client_error(e, "Invalid 'startTimeout' setting for container '%s'. It must not be negative.",
                                    name);
        return 0;
}

static int check_ulimits(const json_t *c, const char *name, struct err *e) {
        const json_t *ulimits = get_array(c, "ulimits");
        for (size_t i = 0; i < json_array_size(ulimits); i++) {
                const json_t *u = json_array_get(ulimits, i);
                int64_t soft, hard;
                if (ecs_json_int(u, "softLimit", &soft) && ecs_json_int(u, "hardLimit", &hard) && soft > hard) {
                        const char *uname = ecs_json_str(u, "name", NULL);
                        return client_error(e,
                                            "Invalid 'ulimits' setting for container '%s'. The soft limit of '%s' is "
                                            "greater than its hard limit.",
                                            name, uname ? uname : "");
                }
        }
        return 0;
}

static int str_ptr_cmp(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static int check_environment(const json_t *c, const char *name, struct err *e) {
        const json_t *env = get_array(c, "environment");
        size_t n = json_array_size(env);
        if (n == 0)
                return 0;
        _cleanup_free_ const char **names = xcalloc(n, sizeof(*names));
        for (size_t i = 0; i < n; i++) {
                const char *var = ecs_json_str(json_array_get(env, i), "name", NULL);
                if (!var || var[0] == '\0')
                        return client_error(e,
                                            "Invalid 'environment' setting for container '%s'. Environment variable "
                                            "names should not be null or empty.",
                                            name);
                names[i] = var;
        }
        qsort(names, n, sizeof(*names), str_ptr_cmp);
        for (size_t i = 1; i < n; i++)
                if (strcmp(names[i - 1], names[i]) == 0)
                        return client_error(e,
                                            "Invalid 'environment' setting for container '%s'. Environment variable "
                                            "'%s' is set more than once.",
                                            name, names[i]);
        return 0;
}

static int check_secrets(const json_t *c, const char *name, struct err *e) {
        const json_t *secrets = get_array(c, "secrets");
        for (size_t i = 0; i < json_array_size(secrets); i++) {
                const json_t *s = json_array_get(secrets, i);
                const char *sname = ecs_json_str(s, "name", NULL), *from = ecs_json_str(s, "valueFrom", NULL);
                if (!sname || sname[0] == '\0' || !from || from[0] == '\0')
                        return client_error(e,
                                            "Invalid 'secrets' setting for container '%s'. 'name' and 'valueFrom' "
                                            "should not be empty.",
                                            name);
        }
        return 0;
}

static int check_network_options(const struct task *t, const json_t *c, struct err *e) {
        if (!t->awsvpc)
                return 0;
        if (nonempty_array(c, "links"))
                return client_error(e, "Links are not supported when networkMode=awsvpc.");
        if (nonempty_array(c, "extraHosts"))
                return client_error(e, "Extra hosts are not supported when networkMode=awsvpc.");
        if (nonempty_array(c, "dnsServers"))
                return client_error(e, "DNS servers are not supported when networkMode=awsvpc.");
        return 0;
}

static int check_volumes(const struct task *t, struct err *e) {
        size_t n = json_array_size(t->volumes);
        for (size_t i = 0; i < n; i++) {
                const char *vname = ecs_json_str(json_array_get(t->volumes, i), "name", NULL);
                if (!vname || vname[0] == '\0')
                        return client_error(e, "Volume name should not be null or empty.");
                if (utf8_chars(vname) > NAME_MAX_CHARS || !name_chars_valid(vname))
                        return client_error(e, "Volume name contains invalid characters.");
        }
        if (n < 2)
                return 0;
        _cleanup_free_ const char **names = xcalloc(n, sizeof(*names));
        for (size_t i = 0; i < n; i++)
                names[i] = ecs_json_str(json_array_get(t->volumes, i), "name", NULL);
        qsort(names, n, sizeof(*names), str_ptr_cmp);
        for (size_t i = 1; i < n; i++)
                if (strcmp(names[i - 1], names[i]) == 0)
                        return client_error(e, "Volume names must be unique within a Task Definition.");
        return 0;
}

static bool volume_declared(const struct task *t, const char *vname) {
        for (size_t i = 0; i < json_array_size(t->volumes); i++) {
                const char *v = ecs_json_str(json_array_get(t->volumes, i), "name", NULL);
                if (v && strcmp(v, vname) == 0)
                        return true;
        }
        return false;
}

static int check_mounts(const struct task *t, size_t idx, struct err *e) {
        const json_t *c = t->containers[idx];
        const json_t *mounts = get_array(c, "mountPoints");
        for (size_t i = 0; i < json_array_size(mounts); i++) {
                const char *src = ecs_json_str(json_array_get(mounts, i), "sourceVolume", NULL);
                if (!src)
                        return client_error(e, "Unknown volume 'null'.");
                if (!volume_declared(t, src))
                        return client_error(e, "Unknown volume '%s'.", src);
        }
        const json_t *from = get_array(c, "volumesFrom");
        for (size_t i = 0; i < json_array_size(from); i++) {
                const char *src = ecs_json_str(json_array_get(from, i), "sourceContainer", NULL);
                int j = container_index(t, src);
                if (j < 0 || (size_t) j == idx)
                        return client_error(e,
                                            "Invalid 'volumesFrom' setting for container '%s'. Unknown source "
                                            "container '%s'.",
                                            t->names[idx], src ? src : "null");
        }
        return 0;
}

/* Depth-first search for a cycle through `i`; colour 0 = unvisited, 1 = on the current path, 2 = done. The graph has
 * at most CONTAINERS_MAX nodes, so the recursion is at most that deep. */
static int find_cycle(bool edges[CONTAINERS_MAX][CONTAINERS_MAX], size_t n, size_t i, int colour[CONTAINERS_MAX]) {
        colour[i] = 1;
        for (size_t j = 0; j < n; j++) {
                if (!edges[i][j])
                        continue;
                if (colour[j] == 1)
                        return (int) j;
                if (colour[j] == 0) {
                        int r = find_cycle(edges, n, j, colour);
                        if (r >= 0)
                                return r;
                }
        }
        colour[i] = 2;
        return -1;
}

static int check_dependencies(const struct task *t, struct err *e) {
        bool edges[CONTAINERS_MAX][CONTAINERS_MAX] = {{false}};
        for (size_t i = 0; i < t->n; i++) {
                const json_t *deps = get_array(t->containers[i], "dependsOn");
                for (size_t k = 0; k < json_array_size(deps); k++) {
                        const json_t *d = json_array_get(deps, k);
                        const char *target = ecs_json_str(d, "containerName", NULL);
                        const char *condition = ecs_json_str(d, "condition", NULL);
                        int j = container_index(t, target);
                        if (j < 0)
                                return client_error(e,
                                                    "Invalid 'dependsOn' setting for container '%s'. Unknown container "
                                                    "'%s'.",
                                                    t->names[i], target ? target : "null");
                        if ((size_t) j == i)
                                return client_error(e,
                                                    "Invalid 'dependsOn' setting for container '%s'. A container "
                                                    "cannot depend on itself.",
                                                    t->names[i]);
                        if (condition && (strcmp(condition, "SUCCESS") == 0 || strcmp(condition, "COMPLETE") == 0) &&
                            t->essential[j])
                                return client_error(e, "A dependency container with SUCCESS or COMPLETE condition "
                                                       "cannot be an essential container");
                        edges[i][j] = true;
                }
        }
        int colour[CONTAINERS_MAX] = {0};
        for (size_t i = 0; i < t->n; i++) {
                if (colour[i] != 0)
                        continue;
                int in_cycle = find_cycle(edges, t->n, i, colour);
                if (in_cycle >= 0)
                        return client_error(e,
                                            "Invalid 'dependsOn' setting for container '%s'. Circular dependency "
                                            "between containers.",
                                            t->names[in_cycle]);
        }
        return 0;
}

static int check_tags(const json_t *req, struct err *e) {
        const json_t *tags = get_array(req, "tags");
        size_t n = json_array_size(tags);
        if (n > TAGS_MAX)
                return client_error(e, "Too many tags: a resource can have at most %d tags.", TAGS_MAX);
        for (size_t i = 0; i < n; i++) {
                const json_t *tag = json_array_get(tags, i);
                const char *key = ecs_json_str(tag, "key", NULL), *value = ecs_json_str(tag, "value", NULL);
                if (!key || key[0] == '\0' || utf8_chars(key) > 128)
                        return client_error(e, "Tag keys must be between 1 and 128 characters long.");
                if (value && utf8_chars(value) > 256)
                        return client_error(e, "Tag values must be at most 256 characters long.");
                if (strncasecmp(key, "aws:", 4) == 0)
                        return client_error(e, "Tag keys starting with 'aws:' are reserved for AWS use.");
        }
        return 0;
}

int ecs_taskdef_validate(const json_t *req, struct err *e) {
        struct task t = {.network_mode = "bridge"};
        int r;

        if (!json_is_object(req))
                return client_error(e, "The task definition request must be an object.");
        const char *mode = ecs_json_str(req, "networkMode", NULL);
        if (mode)
                t.network_mode = mode;
        t.awsvpc = strcmp(t.network_mode, "awsvpc") == 0;
        t.fargate = array_has_string(get_array(req, "requiresCompatibilities"), "FARGATE");
        t.volumes = get_array(req, "volumes");

        if ((r = check_family(req, e)) < 0 || (r = check_container_names(req, &t, e)) < 0 ||
            (r = check_task_size(req, &t, e)) < 0)
                return r;
        for (size_t i = 0; i < t.n; i++) {
                const json_t *c = t.containers[i];
                const char *name = t.names[i];
                if ((r = check_memory(&t, c, name, e)) < 0 || (r = check_ports(&t, c, name, e)) < 0 ||
                    (r = check_network_options(&t, c, e)) < 0 || (r = check_health(c, name, e)) < 0 ||
                    (r = check_timeouts(&t, c, name, e)) < 0 || (r = check_ulimits(c, name, e)) < 0 ||
                    (r = check_environment(c, name, e)) < 0 || (r = check_secrets(c, name, e)) < 0)
                        return r;
        }
        if ((r = check_volumes(&t, e)) < 0)
                return r;
        for (size_t i = 0; i < t.n; i++)
                if ((r = check_mounts(&t, i, e)) < 0)
                        return r;
        bool any_essential = false;
        for (size_t i = 0; i < t.n; i++)
                any_essential = any_essential || t.essential[i];
        if (!any_essential)
                return client_error(e, "Task definition doesn't have any essential container.");
        if ((r = check_dependencies(&t, e)) < 0 || (r = check_tags(req, e)) < 0)
                return r;
        return 0;
}
