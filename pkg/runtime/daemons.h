/* daemons.h — ECS daemons: one daemon task on every ACTIVE container instance of a cluster, rolled out by daemon
 * deployments (docs/internals/daemons.md).
 *
 * A daemon, its revisions and its deployments are small stored records (store.h, rt_record_*, kinds "daemon",
 * "daemon-revision", "daemon-deployment"); daemon task definitions are records of kind "daemon-taskdef". The tasks
 * run through the lifecycle with group "daemon:NAME" and startedBy the id of the daemon revision they run.
 *
 * The service scheduler drives the daemons: it owns one struct rt_daemons (rt_scheduler_daemons), wakes for the
 * changes of daemon tasks as for services', and calls rt_daemons_pass on its thread before its services' pass, so a
 * new instance gets its daemon tasks launched before the application tasks that pass places there. Placement is the
 * DAEMON scheduling strategy's: rt_instances_choose with distinctInstance for the daemon's group, and
 * rt_instances_service_state for the tasks left on DRAINING or vanished instances.
 *
 * Thread-safe: the API's calls and the passes serialise on one lock (taken after the scheduler's, before the
 * instances' place lock and the lifecycle's). */
#pragma once

#include <jansson.h>

#include "base.h"
#include "instances.h"
#include "lifecycle.h"
#include "store.h"

#define RT_DAEMON_GROUP_PREFIX "daemon:"

struct rt_daemons;

struct rt_daemons_config {
        struct rt_store *store;
        struct rt_lifecycle *lifecycle;
        struct rt_instances *instances; /* NULL: no instances, daemon tasks are never placed */
};

int rt_daemons_new(const struct rt_daemons_config *cfg, struct rt_daemons **ret, struct err *e);
void rt_daemons_free(struct rt_daemons *d); /* NULL-safe; tasks keep running */

/* One pass over every daemon that is ACTIVE or DELETE_IN_PROGRESS, in every region: start the missing daemon tasks,
 * stop those on instances that are not ACTIVE, roll older revisions' tasks by the deployment's drainPercent, finish
 * deployments, and forget a deleted daemon once its last task stopped. Called on the scheduler's thread. */
void rt_daemons_pass(struct rt_daemons *d);

/* Whether a daemon task asked to run on the container instance `instance_arn` had not reached RUNNING at the last
 * pass: the service scheduler then places no task there yet, so an instance's daemon tasks start before the
 * services' (docs/internals/daemons.md). Any thread. */
bool rt_daemons_instance_starting(struct rt_daemons *d, const char *instance_arn);

/* What CreateDaemon and UpdateDaemon ask for. All borrowed and already checked by the API (names, ARNs, providers). */
struct rt_daemon_spec {
        const char *region, *account, *cluster, *cluster_arn;
        const char *name;
        const char *taskdef_arn;          /* an ACTIVE daemon task definition of the region */
        const json_t *capacity_providers; /* [ARN], each a capacity provider of the cluster */
        const json_t *deployment_configuration; /* or NULL: the daemon's (UpdateDaemon) or the defaults */
        const char *propagate_tags;       /* DAEMON, NONE; NULL: NONE (create) or unchanged (update) */
        int enable_managed_tags;          /* -1: false (create) or unchanged (update) */
        int enable_execute_command;       /* -1: false (create) or unchanged (update) */
        const char *client_token;         /* CreateDaemon, or NULL */
        const json_t *request;            /* CreateDaemon's input, kept with client_token to tell a retry */
};

/* CreateDaemon: store the daemon (ACTIVE), its first revision and deployment (IN_PROGRESS). *ret gets the daemon
 * record (daemonArn, status, createdAt, updatedAt, deploymentArn, ...). A retry with the same clientToken and request
 * returns the stored daemon; another daemon of that name that is ACTIVE: -EEXIST, InvalidParameterException; one
 * still being deleted: -EBUSY, InvalidParameterException. */
int rt_daemon_create(struct rt_daemons *d, const struct rt_daemon_spec *spec, json_t **ret, struct err *e);
/* UpdateDaemon: a new revision and deployment that replaces the daemon's tasks. Unknown: DaemonNotFoundException;
 * DELETE_IN_PROGRESS: DaemonNotActiveException. An IN_PROGRESS deployment is STOPPED. */
int rt_daemon_update(struct rt_daemons *d, const struct rt_daemon_spec *spec, json_t **ret, struct err *e);
/* DeleteDaemon: DELETE_IN_PROGRESS and a deployment that stops its tasks. Unknown: DaemonNotFoundException; already
 * deleting: DaemonNotActiveException. */
int rt_daemon_delete(struct rt_daemons *d, const char *region, const char *cluster, const char *name, json_t **ret,
                     struct err *e);

/* The daemon record (a new reference), -ENOENT when there is none (e untouched). */
int rt_daemon_get(struct rt_store *store, const char *region, const char *cluster, const char *name, json_t **ret,
                  struct err *e);
/* Whether `taskdef_arn` is the daemon task definition of a daemon of the region that is not yet gone. */
bool rt_daemons_use_taskdef(struct rt_store *store, const char *region, const char *taskdef_arn);

/* The record keys and the ARN types ecsd uses (daemon-task-definition/FAMILY:REV, daemon/CLUSTER/NAME,
 * daemon-revision/CLUSTER/NAME/ID, daemon-deployment/CLUSTER/NAME/ID). */
#define RT_DAEMON_KIND "daemon"
#define RT_DAEMON_REVISION_KIND "daemon-revision"
#define RT_DAEMON_DEPLOYMENT_KIND "daemon-deployment"
#define RT_DAEMON_TASKDEF_KIND "daemon-taskdef"
#define RT_DAEMON_TASKDEF_FAMILY_KIND "daemon-taskdef-family"
