/* instances.h — ECS container instances: the hosts ecsd really has (the Docker engine; each schedulable Kubernetes
 * node), as the backend reports them (backend.h, hosts), plus the external instances clients register
 * (RegisterContainerInstance, as ECS Anywhere's are). Each is a ContainerInstance document as
 * DescribeContainerInstances returns it, with its resources, what the tasks placed there leave, its counts, status and
 * attributes; and where a new task goes (placement.h applied to them). See docs/internals/instances.md.
 *
 * A host is a container instance of every cluster (its ARN names the cluster; its id is derived from the host, so it
 * is the same after a restart and in every cluster). Its status and custom attributes are kept per cluster in the
 * store; what it has and what is left come from the backend and the live tasks, and are never stored.
 *
 * Thread-safe. rt_instances_place_lock serializes placement with the creation of the placed task, so two RunTasks
 * cannot both take the last free memory of an instance. */
#pragma once

#include <jansson.h>

#include "backend.h"
#include "base.h"
#include "store.h"

#define RT_INSTANCE_ID_LEN 32

struct rt_instances;

struct rt_instances_config {
        struct rt_store *store;
        const struct rt_backend *backend; /* NULL: no hosts (an API without a backend) */
};

int rt_instances_new(const struct rt_instances_config *cfg, struct rt_instances **ret, struct err *e);
void rt_instances_free(struct rt_instances *in);

/* Every container instance of (region, cluster), hosts first, each ordered by id, as ContainerInstance documents
 * (tags not included) each carrying one more member, "_ecsd": {"id", "host": the backend's host id or null,
 * "external": bool, "groups": [the group of each live task placed there, in any cluster], "custom": [custom
 * attributes {"name","value"?}]}, which the API removes before answering. New array. */
int rt_instances_all(struct rt_instances *in, const char *region, const char *account, const char *cluster,
                     json_t **ret, struct err *e);
/* How many container instances of (region, cluster) are ACTIVE or DRAINING (DescribeClusters'
 * registeredContainerInstancesCount): what rt_instances_all lists with those statuses, without building their
 * documents or reading the tasks. */
int rt_instances_count(struct rt_instances *in, const char *region, const char *cluster, int64_t *ret,
                       struct err *e);

/* The instance `ref` (an ARN container-instance/CLUSTER/ID or container-instance/ID of the region, or a bare id)
 * names in the cluster, from `all` (rt_instances_all); NULL when none. */
const json_t *rt_instances_find(const json_t *all, const char *region, const char *cluster, const char *ref);

/* The placement view (placement.h) of a document of rt_instances_all. New object. */
json_t *rt_instances_view(const json_t *doc);

/* Store an instance's per-cluster record ({"status"?, "attributes"?: custom, ... the whole document for an external
 * instance}). */
int rt_instances_record_get(struct rt_instances *in, const char *region, const char *cluster, const char *id,
                            json_t **ret, struct err *e);
int rt_instances_record_put(struct rt_instances *in, const char *region, const char *cluster, const char *id,
                            const json_t *rec, struct err *e);
int rt_instances_record_delete(struct rt_instances *in, const char *region, const char *cluster, const char *id,
                               struct err *e);

/* Hold while choosing an instance and creating the task placed there (rt_lifecycle_run). */
void rt_instances_place_lock(struct rt_instances *in);
void rt_instances_place_unlock(struct rt_instances *in);

/* One task to place. All borrowed. */
struct rt_place_request {
        const char *region, *account, *cluster;
        const json_t *taskdef, *overrides;
        const char *group;
        const json_t *constraints, *strategy; /* validated (rt_placement_validate); may be NULL */
        const char *only;                     /* StartTask: place on this instance (a reference) or fail */
};

/* Where a task was placed. */
struct rt_placement {
        char arn[256];                       /* the container instance ARN; "" when there are no instances at all */
        char host[256];                      /* the backend's host id */
        int64_t cpu, memory;                 /* what the task reserves there */
};

/* Choose the instance for one task (call with the place lock held). 0 with *ret filled (arn "" when the cluster has
 * no instances: the backend reports no hosts, and the task runs wherever the backend puts it); -ENOSPC when no
 * instance can take it, with *ret_failures ECS's failures[] entries for RunTask (caller owns).
 * `cache` (may be NULL; else start it at NULL and json_decref it after) keeps the instances between the choices of
 * one batch (RunTask's count, a service's launches), each choice charged to its instance, so that a batch reads the
 * live tasks once: hold the place lock for the whole batch, and create each chosen task before the next choice. */
int rt_instances_choose(struct rt_instances *in, const struct rt_place_request *req, struct rt_placement *ret,
                        json_t **ret_failures, json_t **cache, struct err *e);

/* What a service's pass needs (scheduler.c): *ret_eligible, how many ACTIVE instances of (region, cluster) can run
 * tasks and meet the service's memberOf `constraints` (a DAEMON service keeps one task on each), and *ret_leaving,
 * {task id: true} for the live tasks of `group` placed on an instance that is not ACTIVE (DRAINING) or is gone: the
 * scheduler replaces them elsewhere. */
int rt_instances_service_state(struct rt_instances *in, const char *region, const char *account, const char *cluster,
                               const char *group, bool daemon, const json_t *constraints, int64_t *ret_eligible,
                               json_t **ret_leaving, struct err *e);

/* Make the id of a container instance for a host key (stable: the same host has the same id everywhere). */
void rt_instances_host_id(const char *host, char out[RT_INSTANCE_ID_LEN + 1]);
