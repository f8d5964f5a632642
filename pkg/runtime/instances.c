/* instances.c — container instances (instances.h): documents built from the backend's hosts, the per-cluster records
 * in the store and the live tasks' placements; and the choice of an instance for a new task.
 *
 * Nothing about a host's resources is stored: every call asks the backend (which answers from a cache) and the store
 * (the live tasks and what each reserved), so a task that stops frees its share at once and a restart loses nothing.
 * `place_lock` is held by the API and the scheduler from the choice of an instance until the task is stored; the
 * rest has no state of its own. */
#include "instances.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "ecs.h"
#include "placement.h"

struct rt_instances {
        struct rt_store *store;
        const struct rt_backend *backend;
        pthread_mutex_t place_lock;
};

int rt_instances_new(const struct rt_instances_config *cfg, struct rt_instances **ret, struct err *e) {
        (void) e;
        struct rt_instances *in = xcalloc(1, sizeof(*in));
        in->store = cfg->store;
        in->backend = cfg->backend;
        pthread_mutex_init(&in->place_lock, NULL);
        *ret = in;
        return 0;
}

void rt_instances_free(struct rt_instances *in) {
        if (!in)
                return;
        pthread_mutex_destroy(&in->place_lock);
        free(in);
}

void rt_instances_place_lock(struct rt_instances *in) {
        pthread_mutex_lock(&in->place_lock);
}

void rt_instances_place_unlock(struct rt_instances *in) {
        pthread_mutex_unlock(&in->place_lock);
}

/* Two FNV-1a hashes of the host key, seeded apart: 128 bits, printed as ECS's 32 hex digits. Stable, so a host keeps
 * its ARN across restarts; not secret. */
void rt_instances_host_id(const char *host, char out[RT_INSTANCE_ID_LEN + 1]) {
        uint64_t h1 = 0xcbf29ce484222325ULL, h2 = 0x84222325cbf29ce4ULL;
        for (const unsigned char *p = (const unsigned char *) host; *p; p++) {
                h1 = (h1 ^ *p) * 0x100000001b3ULL;
                h2 = (h2 ^ (unsigned char) (*p + 0x5b)) * 0x100000001b3ULL;
        }
        str_printf(out, RT_INSTANCE_ID_LEN + 1, "%016llx%016llx", (unsigned long long) h1, (unsigned long long) h2);
}

int rt_instances_record_get(struct rt_instances *in, const char *region, const char *cluster, const char *id,
                            json_t **ret, struct err *e) {
        return rt_instance_get(in->store, region, cluster, id, ret, e);
}

int rt_instances_record_put(struct rt_instances *in, const char *region, const char *cluster, const char *id,
                            const json_t *rec, struct err *e) {
        return rt_instance_put(in->store, region, cluster, id, rec, e);
}

int rt_instances_record_delete(struct rt_instances *in, const char *region, const char *cluster, const char *id,
                               struct err *e) {
        return rt_instance_delete(in->store, region, cluster, id, e);
}

static json_t *resource_int(const char *name, int64_t v) {
        return json_pack("{s:s, s:s, s:f, s:I, s:I}", "name", name, "type", "INTEGER", "doubleValue", 0.0, "longValue",
                         (json_int_t) 0, "integerValue", (json_int_t) v);
}

static json_t *resource_set(const char *name) {
        return json_pack("{s:s, s:s, s:f, s:I, s:I, s:[]}", "name", name, "type", "STRINGSET", "doubleValue", 0.0,
                         "longValue", (json_int_t) 0, "integerValue", (json_int_t) 0, "stringSetValue");
}

static json_t *resources(int64_t cpu, int64_t memory) {
        return json_pack("[o, o, o, o]", resource_int("CPU", cpu), resource_int("MEMORY", memory),
                         resource_set("PORTS"), resource_set("PORTS_UDP"));
}

static int64_t resource_value(const json_t *list, const char *name) {
        size_t i;
        const json_t *r;
        json_array_foreach(list, i, r) if (strcmp(ecs_json_str(r, "name", ""), name) == 0) {
                int64_t v;
                if (ecs_json_int(r, "integerValue", &v) && v)
                        return v;
                if (ecs_json_int(r, "longValue", &v) && v)
                        return v;
                return (int64_t) json_number_value(json_object_get(r, "doubleValue"));
        }
        return 0;
}

static void attr_add(json_t *attrs, const char *name, const char *value) {
        json_t *a = json_pack("{s:s}", "name", name);
        if (value && *value)
                json_object_set_new(a, "value", json_string(value));
        json_array_append_new(attrs, a);
}

/* What the live tasks use: {instance id: {"cpu", "memory", "groups": [...]}} over every region and cluster (one host
 * serves them all), and this cluster's counts {arn: {"running", "pending"}}. */
static int usage(struct rt_instances *in, const char *region, const char *cluster, json_t **ret_used,
                 json_t **ret_counts, struct err *e) {
        json_auto_t *placed = NULL;
        int r = rt_task_placements(in->store, &placed, e);
        if (r < 0)
                return r;
        json_t *used = json_object(), *counts = json_object();
        size_t i;
        const json_t *p;
        json_array_foreach(placed, i, p) {
                const char *arn = ecs_json_str(p, "instance", "");
                const char *slash = strrchr(arn, '/');
                const char *id = slash ? slash + 1 : arn;
                json_t *u = json_object_get(used, id);
                if (!u) {
                        u = json_pack("{s:I, s:I, s:[]}", "cpu", (json_int_t) 0, "memory", (json_int_t) 0, "groups");
                        json_object_set_new(used, id, u);
                }
                json_object_set_new(u, "cpu", json_integer(json_integer_value(json_object_get(u, "cpu")) +
                                                           json_integer_value(json_object_get(p, "cpu"))));
                json_object_set_new(u, "memory", json_integer(json_integer_value(json_object_get(u, "memory")) +
                                                              json_integer_value(json_object_get(p, "memory"))));
                json_array_append_new(json_object_get(u, "groups"), json_string(ecs_json_str(p, "group", "")));
                if (strcmp(ecs_json_str(p, "region", ""), region) != 0 ||
                    strcmp(ecs_json_str(p, "cluster", ""), cluster) != 0)
                        continue;
                json_t *c = json_object_get(counts, arn);
                if (!c) {
                        c = json_pack("{s:I, s:I}", "running", (json_int_t) 0, "pending", (json_int_t) 0);
                        json_object_set_new(counts, arn, c);
                }
                const char *st = ecs_json_str(p, "lastStatus", "");
                const char *key = strcmp(st, "RUNNING") == 0 ? "running"
                                  : (strcmp(st, "PROVISIONING") == 0 || strcmp(st, "PENDING") == 0 ||
                                     strcmp(st, "ACTIVATING") == 0)
                                          ? "pending"
                                          : NULL;
                if (key)
                        json_object_set_new(c, key, json_integer(json_integer_value(json_object_get(c, key)) + 1));
        }
        *ret_used = used;
        *ret_counts = counts;
        return 0;
}

static json_t *host_doc(const json_t *host, const json_t *rec, const char *region, const char *account,
                        const char *cluster) {
        char id[RT_INSTANCE_ID_LEN + 1], arn[256], az[64], docker[160];
        rt_instances_host_id(ecs_json_str(host, "id", ""), id);
        str_printf(arn, sizeof(arn), "arn:aws:ecs:%s:%s:container-instance/%s/%s", region, account, cluster, id);
        const char *zone = ecs_json_str(host, "zone", NULL);
        if (!zone) {
                str_printf(az, sizeof(az), "%sa", region);
                zone = az;
        }
        str_printf(docker, sizeof(docker), "DockerVersion: %s", ecs_json_str(host, "docker_version", ""));
        int64_t cpu = json_integer_value(json_object_get(host, "cpu"));
        int64_t mem = json_integer_value(json_object_get(host, "memory"));
        json_t *attrs = json_array();
        const char *os = ecs_json_str(host, "os", "linux");
        attr_add(attrs, "ecs.os-type", os);
        attr_add(attrs, "ecs.os-family", strcmp(os, "windows") == 0 ? "WINDOWS_SERVER" : "LINUX");
        attr_add(attrs, "ecs.cpu-architecture", ecs_json_str(host, "arch", "x86_64"));
        attr_add(attrs, "ecs.availability-zone", zone);
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(host, "labels"), k, v) attr_add(attrs, k, json_string_value(v));
        json_t *custom = json_deep_copy(json_object_get(rec, "attributes"));
        if (!custom)
                custom = json_array();
        size_t i;
        json_array_foreach(custom, i, v) json_array_append(attrs, v);
        json_t *doc = json_pack("{s:s, s:I, s:{s:s, s:s, s:s}, s:o, s:o, s:s, s:b, s:I, s:I, s:o, s:O, s:[], s:[]}",
                                "containerInstanceArn", arn, "version", (json_int_t) 1, "versionInfo", "agentVersion",
                                ecs_json_str(host, "agent_version", ""), "agentHash", "", "dockerVersion", docker,
                                "remainingResources", resources(cpu, mem), "registeredResources",
                                resources(cpu, mem), "status", ecs_json_str(rec, "status", "ACTIVE"),
                                "agentConnected", 1, "runningTasksCount", (json_int_t) 0, "pendingTasksCount",
                                (json_int_t) 0, "attributes", attrs, "registeredAt",
                                json_object_get(host, "registered_at") ? json_object_get(host, "registered_at")
                                                                       : json_false(),
                                "attachments", "tags");
        if (json_is_false(json_object_get(doc, "registeredAt")))
                json_object_set_new(doc, "registeredAt", json_integer(0));
        json_object_set_new(doc, "_ecsd", json_pack("{s:s, s:s, s:b, s:[], s:o}", "id", id, "host",
                                                    ecs_json_str(host, "id", ""), "external", 0, "groups", "custom",
                                                    custom));
        return doc;
}

/* Apply what the tasks use to a document: remaining resources, counts, groups. */
static void apply_usage(json_t *doc, const json_t *used, const json_t *counts) {
        const json_t *priv = json_object_get(doc, "_ecsd");
        const json_t *u = json_object_get(used, ecs_json_str(priv, "id", ""));
        const json_t *reg = json_object_get(doc, "registeredResources");
        int64_t cpu = resource_value(reg, "CPU") - json_integer_value(json_object_get(u, "cpu"));
        int64_t mem = resource_value(reg, "MEMORY") - json_integer_value(json_object_get(u, "memory"));
        json_t *remaining = json_deep_copy(reg);
        size_t i;
        json_t *r;
        json_array_foreach(remaining, i, r) {
                const char *name = ecs_json_str(r, "name", "");
                if (strcmp(name, "CPU") == 0)
                        json_object_set_new(r, "integerValue", json_integer(cpu));
                else if (strcmp(name, "MEMORY") == 0)
                        json_object_set_new(r, "integerValue", json_integer(mem));
        }
        json_object_set_new(doc, "remainingResources", remaining);
        const json_t *c = json_object_get(counts, ecs_json_str(doc, "containerInstanceArn", ""));
        json_object_set_new(doc, "runningTasksCount", json_integer(json_integer_value(json_object_get(c, "running"))));
        json_object_set_new(doc, "pendingTasksCount", json_integer(json_integer_value(json_object_get(c, "pending"))));
        if (u)
                json_object_set(json_object_get(doc, "_ecsd"), "groups", json_object_get(u, "groups"));
}

/* rt_instances_all; without `with_usage` the documents are not charged with the live tasks (remaining resources,
 * counts and groups stay as registered), which spares reading them. */
static int collect(struct rt_instances *in, const char *region, const char *account, const char *cluster,
                   bool with_usage, json_t **ret, struct err *e) {
        json_auto_t *hosts = NULL;
        if (in->backend && in->backend->hosts) {
                struct err he = {0};
                if (in->backend->hosts(in->backend->impl, &hosts, &he) < 0) {
                        /* Without its hosts the cluster has no instances for now; the registered ones remain. */
                        log_warn("instances", "\"cannot list the backend's hosts\" error=\"%s\"", he.msg);
                        hosts = json_array();
                }
        } else
                hosts = json_array();
        json_auto_t *recs = NULL, *used = NULL, *counts = NULL;
        int r = rt_instance_list(in->store, region, cluster, &recs, e);
        if (r < 0)
                return r;
        json_auto_t *all = json_array();
        /* No hosts and nothing registered: no instances, and no need to sum what the tasks use. */
        if ((json_array_size(hosts) == 0 && json_object_size(recs) == 0) || !with_usage) {
                used = json_object();
                counts = json_object();
        }
        if (json_array_size(hosts) == 0 && json_object_size(recs) == 0) {
                *ret = TAKE_PTR(all);
                return 0;
        }
        if (!used && (r = usage(in, region, cluster, &used, &counts, e)) < 0)
                return r;
        size_t i;
        const json_t *h;
        json_array_foreach(hosts, i, h) {
                char id[RT_INSTANCE_ID_LEN + 1];
                rt_instances_host_id(ecs_json_str(h, "id", ""), id);
                json_t *doc = host_doc(h, json_object_get(recs, id), region, account, cluster);
                apply_usage(doc, used, counts);
                json_array_append_new(all, doc);
        }
        const char *id;
        json_t *rec;
        json_object_foreach(recs, id, rec) {
                if (!json_is_true(json_object_get(rec, "external")))
                        continue;
                json_t *doc = json_deep_copy(json_object_get(rec, "doc"));
                json_t *custom = json_deep_copy(json_object_get(rec, "attributes"));
                if (!custom)
                        custom = json_array();
                json_t *attrs = json_deep_copy(json_object_get(rec, "builtin"));
                if (!attrs)
                        attrs = json_array();
                json_array_extend(attrs, custom);
                json_object_set_new(doc, "attributes", attrs);
                json_object_set_new(doc, "status", json_string(ecs_json_str(rec, "status", "ACTIVE")));
                json_object_set_new(doc, "_ecsd", json_pack("{s:s, s:n, s:b, s:[], s:o}", "id", id, "host",
                                                            "external", 1, "groups", "custom", custom));
                apply_usage(doc, used, counts);
                json_array_append_new(all, doc);
        }
        *ret = TAKE_PTR(all);
        return 0;
}

int rt_instances_all(struct rt_instances *in, const char *region, const char *account, const char *cluster,
                     json_t **ret, struct err *e) {
        return collect(in, region, account, cluster, true, ret, e);
}

static bool counted_status(const char *status) {
        return strcmp(status, "ACTIVE") == 0 || strcmp(status, "DRAINING") == 0;
}

int rt_instances_count(struct rt_instances *in, const char *region, const char *cluster, int64_t *ret,
                       struct err *e) {
        /* The instances collect() lists: each backend host, with the status of its record in the cluster (ACTIVE
         * when it has none), and each external instance registered there. */
        json_auto_t *hosts = NULL, *recs = NULL;
        if (in->backend && in->backend->hosts) {
                struct err he = {0};
                if (in->backend->hosts(in->backend->impl, &hosts, &he) < 0) {
                        log_warn("instances", "\"cannot list the backend's hosts\" error=\"%s\"", he.msg);
                        hosts = json_array();
                }
        }
        int r = rt_instance_list(in->store, region, cluster, &recs, e);
        if (r < 0)
                return r;
        int64_t n = 0;
        size_t i;
        const json_t *h;
        json_array_foreach(hosts, i, h) {
                char id[RT_INSTANCE_ID_LEN + 1];
                rt_instances_host_id(ecs_json_str(h, "id", ""), id);
                n += counted_status(ecs_json_str(json_object_get(recs, id), "status", "ACTIVE"));
        }
        const char *id;
        json_t *rec;
        json_object_foreach(recs, id, rec) {
                if (json_is_true(json_object_get(rec, "external")))
                        n += counted_status(ecs_json_str(rec, "status", "ACTIVE"));
        }
        *ret = n;
        return 0;
}

const json_t *rt_instances_find(const json_t *all, const char *region, const char *cluster, const char *ref) {
        const char *id = ref;
        if (strncmp(ref, "arn:", 4) == 0) {
                struct ecs_arn arn;
                if (ecs_arn_parse(ref, &arn, NULL) < 0 || strcmp(arn.type, "container-instance") != 0 ||
                    strcmp(arn.region, region) != 0)
                        return NULL;
                const char *slash = strchr(arn.resource, '/');
                if (slash && (strncmp(arn.resource, cluster, (size_t) (slash - arn.resource)) != 0 ||
                              strlen(cluster) != (size_t) (slash - arn.resource)))
                        return NULL;
                id = strrchr(ref, '/') + 1;
        }
        size_t i;
        const json_t *doc;
        json_array_foreach(all, i, doc) if (strcmp(ecs_json_str(json_object_get(doc, "_ecsd"), "id", ""), id) ==
                                            0) return doc;
        return NULL;
}

json_t *rt_instances_view(const json_t *doc) {
        const json_t *priv = json_object_get(doc, "_ecsd");
        json_t *attrs = json_object();
        size_t i;
        const json_t *a;
        json_array_foreach(json_object_get(doc, "attributes"), i, a) {
                const char *v = ecs_json_str(a, "value", NULL);
                json_object_set_new(attrs, ecs_json_str(a, "name", ""), v ? json_string(v) : json_null());
        }
        char at[32] = "";
        time_t t = (time_t) json_number_value(json_object_get(doc, "registeredAt"));
        struct tm tm;
        if (gmtime_r(&t, &tm))
                strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
        const json_t *rem = json_object_get(doc, "remainingResources");
        json_t *view = json_pack(
                "{s:s, s:s, s:o, s:b, s:s, s:s, s:I, s:s, s:b, s:I, s:I, s:O}", "arn",
                ecs_json_str(doc, "containerInstanceArn", ""), "id", ecs_json_str(priv, "id", ""), "attributes", attrs,
                "agentConnected", json_is_true(json_object_get(doc, "agentConnected")), "agentVersion",
                ecs_json_str(json_object_get(doc, "versionInfo"), "agentVersion", ""), "registeredAt", at,
                "runningTasksCount", json_integer_value(json_object_get(doc, "runningTasksCount")), "status",
                ecs_json_str(doc, "status", ""), "runnable", json_is_string(json_object_get(priv, "host")), "cpu",
                (json_int_t) resource_value(rem, "CPU"), "memory", (json_int_t) resource_value(rem, "MEMORY"),
                "groups", json_object_get(priv, "groups"));
        const char *ec2 = ecs_json_str(doc, "ec2InstanceId", NULL);
        if (ec2)
                json_object_set_new(view, "ec2InstanceId", json_string(ec2));
        return view;
}

/* Charge a task placed on `doc` (a document of rt_instances_all): what remains, its counts, its groups. */
static void charge(json_t *doc, int64_t cpu, int64_t memory, const char *group) {
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(doc, "remainingResources"), i, r) {
                const char *name = ecs_json_str(r, "name", "");
                int64_t take = strcmp(name, "CPU") == 0 ? cpu : strcmp(name, "MEMORY") == 0 ? memory : 0;
                int64_t have = json_integer_value(json_object_get(r, "integerValue"));
                if (take)
                        json_object_set_new(r, "integerValue", json_integer(have - take));
        }
        json_object_set_new(doc, "pendingTasksCount",
                            json_integer(json_integer_value(json_object_get(doc, "pendingTasksCount")) + 1));
        json_t *priv = json_object_get(doc, "_ecsd");
        json_t *groups = json_deep_copy(json_object_get(priv, "groups"));
        if (!groups)
                groups = json_array();
        json_array_append_new(groups, json_string(group ? group : ""));
        json_object_set_new(priv, "groups", groups);
}

int rt_instances_choose(struct rt_instances *in, const struct rt_place_request *req, struct rt_placement *ret,
                        json_t **ret_failures, json_t **cache, struct err *e) {
        *ret = (struct rt_placement){0};
        rt_placement_task_needs(req->taskdef, req->overrides, &ret->cpu, &ret->memory);
        json_auto_t *all = NULL;
        if (cache && *cache)
                all = json_incref(*cache);
        else {
                int r = rt_instances_all(in, req->region, req->account, req->cluster, &all, e);
                if (r < 0)
                        return r;
                if (cache)
                        *cache = json_incref(all);
        }
        if (req->only && json_array_size(all) == 0) {
                /* No instances at all (the backend reports no hosts, e.g. without the rights to read Nodes): the task
                 * runs wherever the backend puts it, recorded under the instance it named. */
                if (strncmp(req->only, "arn:", 4) == 0)
                        str_printf(ret->arn, sizeof(ret->arn), "%s", req->only);
                else
                        str_printf(ret->arn, sizeof(ret->arn), "arn:aws:ecs:%s:%s:container-instance/%s/%s",
                                   req->region, req->account, req->cluster, req->only);
                return 0;
        }
        if (req->only) {
                const json_t *doc = rt_instances_find(all, req->region, req->cluster, req->only);
                json_t *one = json_array();
                if (doc)
                        json_array_append(one, (json_t *) (uintptr_t) doc);
                json_decref(all);
                all = one;
                if (!doc) {
                        *ret_failures = json_pack("[{s:s, s:s}]", "arn", req->only, "reason", "MISSING");
                        return -ENOSPC;
                }
        } else if (json_array_size(all) == 0)
                return 0;
        json_auto_t *views = json_array();
        size_t i;
        const json_t *doc;
        json_array_foreach(all, i, doc) json_array_append_new(views, rt_instances_view(doc));
        struct rt_placement_need need = {.cpu = ret->cpu, .memory = ret->memory, .group = req->group,
                                         .constraints = req->constraints, .strategy = req->strategy};
        uint64_t seed = (uint64_t) time_mono_ms() ^ ((uint64_t) (uintptr_t) req << 16);
        int idx = rt_placement_choose(views, &need, seed, ret_failures);
        if (idx < 0) {
                if (req->only && json_array_size(*ret_failures) == 0) {
                        /* StartTask on a DRAINING instance: ECS refuses it the same way. */
                        json_decref(*ret_failures);
                        *ret_failures = json_pack("[{s:s, s:s}]", "arn",
                                                  ecs_json_str(json_array_get(all, 0), "containerInstanceArn", ""),
                                                  "reason", "INACTIVE");
                }
                return idx;
        }
        json_t *chosen = json_array_get(all, (size_t) idx);
        str_printf(ret->arn, sizeof(ret->arn), "%s", ecs_json_str(chosen, "containerInstanceArn", ""));
        str_printf(ret->host, sizeof(ret->host), "%s", ecs_json_str(json_object_get(chosen, "_ecsd"), "host", ""));
        charge(chosen, ret->cpu, ret->memory, req->group);
        return 0;
}

int rt_instances_service_state(struct rt_instances *in, const char *region, const char *account, const char *cluster,
                               const char *group, bool daemon, const json_t *constraints, int64_t *ret_eligible,
                               json_t **ret_leaving, struct err *e) {
        /* Called for every service at every pass of the scheduler: the live tasks are read only when some task can be
         * leaving (an instance of the cluster is not ACTIVE; for a DAEMON service, whose tasks follow instances that
         * go, always), and eligibility does not look at them (a memberOf on task:group sees no tasks here). */
        json_auto_t *all = NULL, *placed = NULL;
        int r = collect(in, region, account, cluster, false, &all, e);
        if (r < 0)
                return r;
        bool look = daemon;
        size_t i;
        const json_t *doc;
        json_array_foreach(all, i, doc) look |= strcmp(ecs_json_str(doc, "status", ""), "ACTIVE") != 0;
        if (look && json_array_size(all) && (r = rt_task_placements(in->store, &placed, e)) < 0)
                return r;
        json_auto_t *active = json_object(); /* ARN → true, for the instances that take tasks */
        int64_t eligible = 0;
        json_array_foreach(all, i, doc) {
                if (strcmp(ecs_json_str(doc, "status", ""), "ACTIVE") != 0)
                        continue;
                json_object_set_new(active, ecs_json_str(doc, "containerInstanceArn", ""), json_true());
                json_auto_t *view = rt_instances_view(doc);
                if (!json_is_true(json_object_get(view, "runnable")))
                        continue;
                bool ok = true;
                size_t k;
                const json_t *c;
                json_array_foreach(constraints, k, c) {
                        if (strcmp(ecs_json_str(c, "type", ""), "memberOf") != 0)
                                continue;
                        json_auto_t *q = NULL;
                        struct err ignored = {0};
                        if (rt_query_parse(ecs_json_str(c, "expression", ""), &q, &ignored) < 0 ||
                            !rt_query_match(q, view))
                                ok = false;
                }
                eligible += ok;
        }
        json_t *leaving = json_object();
        const json_t *p;
        json_array_foreach(placed, i, p) {
                if (strcmp(ecs_json_str(p, "region", ""), region) != 0 ||
                    strcmp(ecs_json_str(p, "cluster", ""), cluster) != 0 ||
                    strcmp(ecs_json_str(p, "group", ""), group) != 0)
                        continue;
                /* With no instances at all (no hosts reported) nothing is leaving: the tasks run where they run. */
                if (json_array_size(all) && !json_object_get(active, ecs_json_str(p, "instance", "")))
                        json_object_set_new(leaving, ecs_json_str(p, "id", ""), json_true());
        }
        *ret_eligible = json_array_size(all) ? eligible : -1;
        *ret_leaving = leaving;
        return 0;
}
