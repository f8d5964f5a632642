/* lifecycle.h — the ECS task lifecycle, written once for every backend (DESIGN.md §4). See
 * docs/internals/lifecycle.md.
 *
 * A task is persisted (PROVISIONING) before anything is launched; a launcher thread then pulls, creates the task
 * network and starts containers in dependsOn order, gating each on its upstream condition; exits and health arrive as
 * events from the backend (rt_lifecycle_event). A stop (StopTask, an essential container's exit, a failed launch)
 * stops containers in reverse dependency order, captures their output, removes the workload and finalizes the task
 * with its stop code. Every transition is written to the store before it is visible to the API.
 *
 * Thread-safe: API threads, the backend's event thread and the lifecycle's own threads call in at once. */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <sys/types.h>

#include "backend.h"
#include "base.h"
#include "store.h"

struct rt_lifecycle;

struct rt_lifecycle_config {
        struct rt_store *store;
        const struct rt_backend *backend;
        /* How long STOPPED tasks stay describable (ECS: about an hour). */
        int64_t retention_ms;
        /* valueFrom → value for container secrets (borrowed JSON object, may be NULL: every secret is missing). */
        const json_t *secrets;
        /* Longest wait for a COMPLETE/SUCCESS/HEALTHY dependency whose upstream has no startTimeout. */
        int64_t dependency_wait_ms;
        /* How launch and stop threads are made: NULL is pthread_create. For tests that must make thread creation
         * fail (EAGAIN, as when a process runs out of threads) on demand, which a real limit cannot do for root. */
        int (*thread_create)(pthread_t *thread, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);
};

/* Create the lifecycle and load every task that was not STOPPED when ecsd last ran. Call rt_lifecycle_resync
 * once the backend's event stream is up to reconcile them with what really runs. */
int rt_lifecycle_new(const struct rt_lifecycle_config *cfg, struct rt_lifecycle **ret, struct err *e);
/* Stop the lifecycle's threads. Launches and stops in flight are abandoned where they stand (a restart resumes them
 * through recovery); containers keep running. NULL-safe. */
void rt_lifecycle_free(struct rt_lifecycle *lc);

/* A new task, as RunTask and StartTask describe it. All borrowed. */
struct rt_run_request {
        const char *region;
        const char *account;
        const char *cluster_name;
        const char *cluster_arn;
        const json_t *taskdef;   /* registered TaskDefinition */
        const json_t *overrides; /* TaskOverride or NULL */
        const char *started_by;  /* or NULL */
        const char *group;       /* or NULL: "family:<family>" */
        const char *launch_type; /* FARGATE, EC2, EXTERNAL; NULL: FARGATE when compatible, else EC2 */
        const json_t *tags;      /* [{"key","value"}] or NULL */
        const char *container_instance_arn; /* where placement put it (instances.h); NULL: nowhere in particular */
        const char *host;                   /* that instance's backend host id (backend.h, rt_task_input.host) */
        int64_t reserved_cpu, reserved_memory; /* what the task holds on that instance (CPU units, MiB) */
        const char *capacity_provider_name; /* the provider a capacity provider strategy chose; NULL: none */
        bool enable_execute_command;        /* RunTask, StartTask or the service asked for ExecuteCommand */
};

/* Persist a new task (PROVISIONING) and start launching it. *ret gets the Task object as RunTask returns it. Fails,
 * leaving no task, when the task or its tags cannot be stored or no thread can be started for its launch
 * (ERR_KIND_INTERNAL), or when the backend refuses the definition (-EOPNOTSUPP, ERR_KIND_CLIENT; backend.h). */
int rt_lifecycle_run(struct rt_lifecycle *lc, const struct rt_run_request *req, json_t **ret, struct err *e);

/* Ask a task to stop (StopTask, the service scheduler): desiredStatus becomes STOPPED at once; the stop itself runs in
 * the background with stopCode `stop_code` (NULL: UserInitiated; the scheduler passes ServiceSchedulerInitiated) and
 * stoppedReason `reason` (NULL or "": "Task stopped by user", or "Task stopped during launch" when the task has not
 * reached RUNNING). A task already stopped, or already asked to stop, keeps its first code and reason and is returned
 * as it is. *ret gets the Task object (ret may be NULL). -ENOENT when the id is unknown. When the stop cannot be stored
 * or no thread can be started for it, fails (ERR_KIND_INTERNAL) and the task goes on as if it had not been asked. */
int rt_lifecycle_stop(struct rt_lifecycle *lc, const char *task_id, const char *stop_code, const char *reason,
                      json_t **ret, struct err *e);

/* A task's state changed: what a subscriber is told. All borrowed, valid only during the call. */
struct rt_task_change {
        const char *task_id;
        const char *region;
        const char *cluster;
        const char *group;          /* "service:NAME" for a service's task */
        const char *started_by;     /* or NULL */
        const char *last_status;
        const char *desired_status;
        const char *health_status;  /* HEALTHY, UNHEALTHY, UNKNOWN */
        const char *stop_code;      /* or NULL */
};
typedef void (*rt_task_change_fn)(void *userdata, const struct rt_task_change *change);

/* Tell `fn` of every change of a task's lastStatus (RUNNING, STOPPED and the steps between), of its healthStatus,
 * and of its desiredStatus becoming STOPPED. One subscriber; NULL unsubscribes (and returns only when no call to the
 * old one is running).
 * `fn` is called with the lifecycle's lock held, from whichever thread made the change: it must not block and must
 * not call into the lifecycle. It is meant to note the change and wake a thread of its own (the scheduler does). */
void rt_lifecycle_subscribe(struct rt_lifecycle *lc, rt_task_change_fn fn, void *userdata);

/* The tasks not yet finalized (STOPPED tasks are not listed) of `group` in (`region`, `cluster`), read from the
 * lifecycle's own table: [{"id", "taskArn", "startedBy"?, "lastStatus", "desiredStatus", "healthStatus",
 * "healthCheck": an essential container has a health check, "startedAt"?: epoch seconds}], ordered by creation,
 * oldest first. New array. */
json_t *rt_lifecycle_tasks(struct rt_lifecycle *lc, const char *region, const char *cluster, const char *group);

/* Stop every task (ecsd's cleanup request, or --cleanup-on-exit) and wait up to `timeout_ms` for all of them to be
 * STOPPED and removed. Returns the number still not finalized. */
int rt_lifecycle_stop_all(struct rt_lifecycle *lc, const char *reason, int64_t timeout_ms);

/* Called by the backend for each container event. */
void rt_lifecycle_event(struct rt_lifecycle *lc, const struct rt_container_event *ev);

/* Called by the backend when its event stream (re)connects: compare every live task with what the backend observes,
 * treat a container that stopped or vanished unseen as stopped, resume stops interrupted by a restart, and remove
 * workloads that belong to no live task. */
void rt_lifecycle_resync(struct rt_lifecycle *lc);

/* Output of a task's containers: captured output of a finalized task, or the backend's live output. `container`
 * NULL: every container, each block headed by "==> NAME <==". *ret is NUL-terminated, caller frees. -ENOENT for an
 * unknown task or container. */
int rt_lifecycle_logs(struct rt_lifecycle *lc, const char *task_id, const char *container, char **ret,
                      size_t *ret_len, struct err *e);

/* {"backend": name, "live_tasks": tasks not yet STOPPED, "workers": launch/stop threads, "tasks_by_status": {lastStatus:
 * live tasks}, "stops_by_code": {stop code, or "other": tasks finalized since start}, "backend_stats"?: the backend's
 * counters}. New object. */
json_t *rt_lifecycle_counters(struct rt_lifecycle *lc);

/* One container's output, followed as it is written (GET /_ecsd/tasks/<id>/logs?follow=1). */
struct rt_follow;

/* Follow the output of container `container` of a task (NULL: its only container; a task with several needs the
 * name: -EINVAL, ERR_KIND_INVALID, with the names in the message). While the task runs, the backend's follower
 * delivers the output from the start, then as it is written, and ends when the container's output ends (it exited,
 * the task stopped). Once the task's output has been captured (the stop path, or a finalized task) it is the captured
 * output, then the end. -ENOENT for an unknown task or container; -EAGAIN (ERR_KIND_CLIENT) while the container has
 * not started (it waits on a dependency, or is being created; once the task's output is captured, a container that
 * never started has an empty output); -EOPNOTSUPP when the backend cannot follow. On success *ret is the caller's,
 * released with rt_follow_free. */
int rt_lifecycle_follow(struct rt_lifecycle *lc, const char *task_id, const char *container, struct rt_follow **ret,
                        struct err *e);
/* Read what is there, never blocking: > 0 bytes, 0 at the end of the output, -EAGAIN when nothing is there yet (wait
 * for rt_follow_fd() to become readable), another negative errno when reading failed. One thread at a time. */
ssize_t rt_follow_read(struct rt_follow *f, void *buf, size_t size);
/* The descriptor to poll for more output after -EAGAIN (borrowed; valid until rt_follow_free); -1 when nothing is to
 * be waited for. */
int rt_follow_fd(const struct rt_follow *f);
/* End the follower (the backend stops what produces the output) and free. May take a moment; any thread. NULL-safe.
 * The backend must still exist. */
void rt_follow_free(struct rt_follow *f);

/* Wait up to `timeout_ms` while container `container` of a launching task is being created: until its runtimeId is
 * recorded, or the task is asked to stop, or ecsd shuts down. Returns at once when the task is not live, the name
 * is unknown or the container's launch has not begun. For the metadata endpoint: with a backend that creates and
 * starts in one step (backend.h, run), the container can ask about itself before that step has returned its id. */
void rt_lifecycle_wait_created(struct rt_lifecycle *lc, const char *task_id, const char *container,
                               int64_t timeout_ms);

/* Sample the resource usage of the task's containers that exist and have not stopped (only `container` when not
 * NULL) now, through the backend: *ret gets {container name: Docker stats API object} (caller owns). A container
 * not created yet or stopped, a task that is stopping or gone, or a backend without stats gives no entry. May take a
 * second or two. */
int rt_lifecycle_stats(struct rt_lifecycle *lc, const char *task_id, const char *container, json_t **ret,
                       struct err *e);

/* The stored task and its plan for the metadata endpoint: *ret_doc is the Task object, *ret_plan the backend plan
 * (either may be NULL on input). */
int rt_lifecycle_task(struct rt_lifecycle *lc, const char *task_id, json_t **ret_doc, json_t **ret_plan,
                      struct err *e);

/* The credentials endpoint (/v2/credentials/<id>): the task role of the task that was given credentials id `id`
 * when it ran (a task with a role gets a random UUID, kept with the task, so it survives a restart). The role ARN is
 * written to `role` (`role_size` bytes). -ENOENT when no task that has not STOPPED holds that id. */
int rt_lifecycle_credentials(struct rt_lifecycle *lc, const char *id, char *role, size_t role_size, struct err *e);

/* A state change an agent reported (SubmitTaskStateChange, SubmitContainerStateChange) for a task. All borrowed. */
struct rt_state_report {
        const char *task_id;
        const char *container;  /* NULL: the task's own status */
        const char *status;     /* a task status, or PENDING/RUNNING/STOPPED for a container */
        const char *runtime_id; /* or NULL */
        const char *reason;     /* or NULL */
};

/* Judge a report against what the lifecycle knows, and with `apply` act on it. ecsd runs its tasks itself, so a
 * report is only ever a stop: a task reported STOPPED is stopped (stopCode UserInitiated, stoppedReason the report's
 * reason), an essential container reported STOPPED while it runs stops its task (EssentialContainerExited), as on
 * ECS. Returns 0 when the report agrees with what is (nothing to do; a task already stopping agrees with any
 * report), 1 when it is (or with !apply, would be) applied. Refusals (ERR_KIND_INVALID): -ENOENT for an unknown task
 * or container, -EINVAL for a runtimeId of another container, -EBUSY for any other disagreement, with what ecsd
 * sees in the sentence. */
int rt_lifecycle_report(struct rt_lifecycle *lc, const struct rt_state_report *rep, bool apply, struct err *e);
