/* scheduler.h — the ECS service scheduler (DESIGN.md §4, docs/internals/scheduler.md).
 *
 * It sits beside the lifecycle, not inside it: it runs tasks for a service's deployments and stops them through
 * lifecycle.h, reads the live tasks of a service with rt_lifecycle_tasks, and is woken by the task changes the
 * lifecycle publishes (rt_lifecycle_subscribe) and by the service calls below. Services are stored documents
 * (store.h, rt_service_*); once a service exists, every change to its document goes through the scheduler, so the
 * API's changes and the scheduler's own (counts, deployments, events) never overwrite each other.
 *
 * Thread-safe: API threads call the service functions; the scheduler's own thread reconciles. */
#pragma once

#include <jansson.h>

#include "base.h"
#include "instances.h"
#include "lifecycle.h"
#include "store.h"

struct rt_scheduler;

struct rt_scheduler_config {
        struct rt_store *store;
        struct rt_lifecycle *lifecycle;
        /* Where service tasks are placed (NULL: anywhere, no container instance); DAEMON services run one task on
         * each ACTIVE instance the backend can run tasks on. */
        struct rt_instances *instances;
        /* The safety sweep: every service is reconciled at least this often even when nothing woke the scheduler.
         * 0: 30 s. */
        int64_t sweep_ms;
        /* How long a task without a health check must have been RUNNING before a deployment counts it healthy
         * (ECS: 40 s): until then an older deployment's task is not stopped in its favour, so a task that starts and
         * then crashes does not take a working one's place. 0: at once. */
        int64_t healthy_after_ms;
        /* Every task runs on one host (the docker backend): a task definition's fixed host ports are checked against
         * the tasks that hold them before a task is started, and a task that cannot get them is not started (the
         * service event says it could not be placed). On Kubernetes the kube-scheduler places Pods. */
        bool one_host;
};

/* Subscribe to the lifecycle and start the scheduler's thread. Its first pass re-adopts the tasks of every ACTIVE or
 * DRAINING service (counted from the lifecycle's task table, which a restart has loaded from the store), so a
 * restart neither loses a service's tasks nor launches them twice. */
int rt_scheduler_new(const struct rt_scheduler_config *cfg, struct rt_scheduler **ret, struct err *e);
/* Unsubscribe and stop the thread. Tasks keep running. NULL-safe. Call before rt_lifecycle_free. */
void rt_scheduler_free(struct rt_scheduler *s);

/* What CreateService stores. */
struct rt_service_create {
        const json_t *doc;        /* a Service object as CreateService returns it, status ACTIVE, without deployments */
        const json_t *config;     /* or NULL: {serviceConnectConfiguration, volumeConfigurations,
                                   * vpcLatticeConfigurations}, what its deployments and revisions carry */
        const char *client_token; /* or NULL */
        const json_t *request;    /* the input, kept with client_token to tell a retry from another request */
};
/* Store a new service `c->doc` in (`region`, `cluster`), make its first PRIMARY deployment, and wake the scheduler;
 * returns 0. A service of that name that is ACTIVE: returns 1 and the stored service when it was made with the same
 * client_token and the same request (a retry), else -EEXIST, InvalidParameterException "Creation of service was not
 * idempotent."; DRAINING: -EBUSY, InvalidParameterException "Unable to Start a service that is still Draining."; an
 * INACTIVE one is replaced. *ret gets the stored document. */
int rt_scheduler_create(struct rt_scheduler *s, const char *region, const char *cluster,
                        const struct rt_service_create *c, json_t **ret, struct err *e);

/* What UpdateService changes; members left at their zero value (NULL, -1) are not changed. */
struct rt_service_update {
        int64_t desired_count;                 /* -1: unchanged */
        const char *task_definition;           /* a task definition ARN; a different one starts a new deployment */
        bool force_new_deployment;
        const json_t *deployment_configuration; /* merged into the service's */
        int64_t health_check_grace_s;          /* -1: unchanged */
        /* Or NULL: members set on the Service as given (launch, network, placement, tags settings, load balancers,
         * ...); those that change what runs start a new deployment when their value differs. */
        const json_t *set;
        /* Or NULL: the same for the members the Service shape does not carry (rt_service_create.config). */
        const json_t *config;
        /* A checked capacity provider strategy that replaces the service's (new tasks use it; no new deployment);
         * an empty one puts the service on `launch_type` instead. NULL: unchanged. */
        const json_t *capacity_provider_strategy;
        const char *launch_type;
};
/* Apply `u` to an ACTIVE service and wake the scheduler. Unknown: ServiceNotFoundException; DRAINING or INACTIVE:
 * ServiceNotActiveException. *ret gets the stored document. */
int rt_scheduler_update(struct rt_scheduler *s, const char *region, const char *cluster, const char *name,
                        const struct rt_service_update *u, json_t **ret, struct err *e);

/* DeleteService: an ACTIVE service becomes DRAINING (desiredCount 0 with `force`; without it a REPLICA service
 * scaled above 0 is refused: InvalidParameterException); the scheduler stops its tasks and makes it INACTIVE. A
 * DRAINING service is returned as it is; an INACTIVE or unknown one is ServiceNotFoundException (the model lists no
 * ServiceNotActiveException for DeleteService). *ret gets it. */
int rt_scheduler_delete(struct rt_scheduler *s, const char *region, const char *cluster, const char *name,
                        bool force, json_t **ret, struct err *e);

/* StopServiceDeployment: the service deployment `record_id` of the service, PENDING or IN_PROGRESS, becomes
 * ROLLBACK_REQUESTED (`rollback`: the scheduler then brings the last COMPLETED deployment back, ROLLBACK_IN_PROGRESS,
 * ROLLBACK_SUCCESSFUL) or STOP_REQUESTED (ABORT: the PRIMARY starts no more tasks, STOPPED). One already stopping or
 * rolling back is left as it is. Unknown: -ENOENT, ServiceDeploymentNotFoundException; finished, of a service that is
 * not ACTIVE, or a rollback with no COMPLETED deployment before it: -EBUSY, ConflictException. */
int rt_scheduler_stop_deployment(struct rt_scheduler *s, const char *region, const char *cluster, const char *name,
                                 const char *record_id, bool rollback, struct err *e);

/* The daemons this scheduler drives (daemons.h): the API's daemon calls go to them, then rt_scheduler_wake. */
struct rt_daemons *rt_scheduler_daemons(struct rt_scheduler *s);
/* ContinueServiceDeployment: the PAUSE lifecycle hook `hook_id` of service deployment `record_id` (the last part of
 * its ARN), awaiting an action, goes on (CONTINUE) or rolls the deployment back to the last completed one (ROLLBACK,
 * served as StopServiceDeployment's). Unknown service or deployment: ServiceDeploymentNotFoundException; no such
 * hook: InvalidParameterException; a hook or deployment past waiting, or nothing to roll back to: ClientException. */
int rt_scheduler_continue_deployment(struct rt_scheduler *s, const char *region, const char *cluster,
                                     const char *name, const char *record_id, const char *hook_id, bool rollback,
                                     struct err *e);

/* Add `message` to the service's events, as the scheduler writes its own (newest first, at most ECS's 100, logged),
 * under rt_scheduler_edit's rules (unknown: ServiceNotFoundException; not ACTIVE: ServiceNotActiveException). */
int rt_scheduler_add_event(struct rt_scheduler *s, const char *region, const char *cluster, const char *name,
                           const char *message, struct err *e);

/* Reconcile now (for tests and the API's task calls); returns at once, the work happens on the scheduler's thread. */
void rt_scheduler_wake(struct rt_scheduler *s);

/* A change to an ACTIVE service that another module owns (the task sets of an EXTERNAL service, tasksets.h): `fn`
 * gets the stored document to change in place, under the scheduler's lock, and returns >= 0 with a new object in
 * *ret (what the call answers) or a negative errno with `e` filled (nothing is stored). The document is stored and
 * the scheduler woken when it succeeds. Unknown service: ServiceNotFoundException; DRAINING or INACTIVE:
 * ServiceNotActiveException. *ret gets what `fn` returned. */
typedef int (*rt_service_edit_fn)(void *arg, json_t *doc, json_t **ret, struct err *e);
int rt_scheduler_edit(struct rt_scheduler *s, const char *region, const char *cluster, const char *name,
                      rt_service_edit_fn fn, void *arg, json_t **ret, struct err *e);
