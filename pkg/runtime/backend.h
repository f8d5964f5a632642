/* backend.h — what the lifecycle layer (lifecycle.h) needs from a backend that runs workloads (Docker containers,
 * Kubernetes Pods). The backend translates and executes; every ECS rule (order, gates, stop codes, the
 * desired-STOPPED race) stays in the lifecycle.
 *
 * A backend works from a *plan*: a JSON object it builds from a task (plan()), which the lifecycle stores with the
 * task and hands back to every other call, so teardown after a restart uses exactly what launch used. Besides its
 * own members a plan must carry what the lifecycle reads:
 *   "containers": [{"name", "essential": bool, "health_check": bool (the backend reports health for it),
 *                   "depends_on": [{"containerName", "condition"}], "start_timeout_s"?: int,
 *                   "stop_timeout_s": int, "secrets": [{"name", "valueFrom"}]}],
 *   "order": [container names in start order (a topological order of depends_on)],
 *   "network": object or null (a task-scoped network exists for awsvpc).
 *
 * Every operation may be called from any lifecycle thread at once, for different tasks. Each returns 0 or a
 * negative errno with a sentence in `e` that the lifecycle puts, prefixed, into the task's stoppedReason. A sentence
 * that already starts with an ECS error name ("CannotPullContainerError: ...") is kept as it is, so a backend that
 * learns late what went wrong (a Pod's image pull fails after the Pod was created) can say so. -ECANCELED (after
 * cancel) is not a failure: the stop that asked for it goes on. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "base.h"

/* What the lifecycle knows of a task when it asks for a plan. All borrowed. */
struct rt_task_input {
        const json_t *taskdef;   /* the registered TaskDefinition */
        const json_t *overrides; /* TaskOverride or NULL */
        const char *task_arn;
        const char *task_id;
        const char *cluster_name;
        /* The task's credentials id (a random UUID, the key of /v2/credentials/<id>), or NULL when the task has no
         * task role: its containers then get no credentials variables. */
        const char *credentials_id;
        /* The host placement chose (an id from hosts()), or NULL: wherever the backend puts it. */
        const char *host;
};

struct rt_backend {
        const char *name; /* "docker", "k8s" */
        void *impl;

        /* Build the plan. Pure; a definition the backend cannot run fails with ERR_KIND_CLIENT: the task is created
         * and fails to start with the reason, as ECS reports what it finds at launch. -EOPNOTSUPP with
         * ERR_KIND_CLIENT refuses the definition outright: RunTask answers a ClientException with the sentence and
         * no task is created (the k8s backend, for a dependsOn a Pod cannot keep in order). */
        int (*plan)(void *impl, const struct rt_task_input *in, json_t **ret, struct err *e);
        /* Create task-scoped resources (network, volumes). Idempotent. */
        int (*setup)(void *impl, const json_t *plan, struct err *e);
        /* Make the container's image available, following the configured pull behaviour. */
        int (*pull)(void *impl, const json_t *plan, const json_t *container, struct err *e);
        /* A backend either creates and starts a container in one step (run) or in two (create, then start); the
         * lifecycle uses run when it is set.
         * run: create and start one container. `secrets` maps secret names to their resolved values (may be NULL).
         * *ret gets {"runtimeId", "networkBindings"?: [...]} (caller owns). The container's id is known only once
         * this returns. A failure's sentence starts with its ECS error name (CannotPullContainerError,
         * CannotCreateContainerError, CannotStartContainerError: only the backend knows how far it got). */
        int (*run)(void *impl, const json_t *plan, const json_t *container, const json_t *secrets, json_t **ret,
                   struct err *e);
        /* Create one container without starting it. `secrets` maps secret names to their resolved values (may be
         * NULL). *ret gets {"runtimeId"} (caller owns). */
        int (*create)(void *impl, const json_t *plan, const json_t *container, const json_t *secrets, json_t **ret,
                      struct err *e);
        /* Start a created container. *ret gets {"networkBindings"?: [...]} (caller owns). */
        int (*start)(void *impl, const json_t *plan, const json_t *container, json_t **ret, struct err *e);
        /* Stop one container: SIGTERM, then SIGKILL after its stop_timeout_s. Returns once it has stopped; a
         * container that does not exist counts as stopped. */
        int (*stop)(void *impl, const json_t *plan, const json_t *container, struct err *e);
        /* The container's output so far (stdout then stderr), capped. */
        int (*logs)(void *impl, const json_t *plan, const json_t *container, char **ret, size_t *ret_len,
                    struct err *e);
        /* Remove everything the plan created (containers, volumes, network). "Not found" is success. */
        int (*teardown)(void *impl, const json_t *plan, struct err *e);
        /* What the backend owns right now: [{"task_id", "container", "running": bool, "exit_code"?: int,
         * "oom": bool, "health"?: "HEALTHY"|"UNHEALTHY"|"UNKNOWN"}] for containers, plus {"task_id",
         * "network": true} for task networks. */
        int (*observe)(void *impl, json_t **ret, struct err *e);
        /* Remove everything left over for a task id (by label), when no plan is at hand. */
        int (*sweep_task)(void *impl, const char *task_id, struct err *e);
        /* Optional (may be NULL): the task is to stop while its launch is in flight; make any wait of pull/start for
         * this plan return -ECANCELED soon. Called with the lifecycle's lock held: must not block or call back. */
        void (*cancel)(void *impl, const json_t *plan);
        /* Optional: counters for operators (GET /_ecsd/stats), a new object. */
        json_t *(*counters)(void *impl);
        /* Follow a container's output as it is written (stdout and stderr interleaved): *ret_fd becomes readable with
         * output and reaches EOF when the output ends; release with follow_close. NULL when unsupported.
         * The descriptor is the backend's (CLOEXEC; the caller may make it non-blocking) and stays open until
         * follow_close(impl, *ret_handle), which also ends whatever produces the output. follow_close may take a
         * moment (it reaps a process) and is called from any thread. */
        int (*follow)(void *impl, const json_t *plan, const json_t *container, int *ret_fd, void **ret_handle,
                      struct err *e);
        void (*follow_close)(void *impl, void *handle);
        /* Sample the resource usage of `containers` (an array of the plan's containers, each running) once, now.
         * *ret gets {container name: usage in the Docker stats API shape, as ECS's task metadata endpoint v4 serves
         * it} (caller owns); a container that could not be sampled is left out. May take a second or two. NULL when
         * unsupported. */
        int (*stats)(void *impl, const json_t *plan, const json_t *containers, json_t **ret, struct err *e);
        /* Optional (NULL: the backend has no hosts to report, and tasks are placed nowhere in particular). The hosts
         * tasks can run on now, which ECS calls container instances (docs/internals/instances.md): *ret gets
         * [{"id": a stable key (the engine's ID, the node's name), "name", "cpu": CPU units (1024 a core),
         * "memory": MiB, "os": "linux"|"windows", "arch": "x86_64"|"arm64"|..., "zone"?: availability zone,
         * "labels"?: {name: value}, "agent_version", "docker_version", "registered_at": epoch seconds}], one per
         * schedulable host, ordered by id (caller owns). Cheap: read from what the backend keeps (a Node watch), or
         * asked once. */
        int (*hosts)(void *impl, json_t **ret, struct err *e);
        /* Optional (NULL: the backend cannot, and ExecuteCommand answers TargetNotConnectedException): run `argv`
         * (NULL-terminated, borrowed) in the running container, without stdin or a terminal, as `docker exec` does.
         * Its stdout and stderr arrive on *ret_fd (the backend's, CLOEXEC; the caller may make it non-blocking) until
         * the command ends; *ret_handle goes to exec_end, exactly once. */
        int (*exec)(void *impl, const json_t *plan, const json_t *container, const char *const *argv, int *ret_fd,
                    void **ret_handle, struct err *e);
        /* End an exec: wait up to `wait_ms` for the command to end by itself, then kill it; reap it, close its
         * descriptor, free the handle. Returns the command's exit code (128 + N when signal N ended it). Any
         * thread; may block for wait_ms and a short kill grace. */
        int (*exec_end)(void *impl, void *handle, int64_t wait_ms);
};

/* Events the backend reports as they happen (docker events, Kubernetes watch): never by polling. */
enum rt_event_kind {
        RT_EVENT_START,
        RT_EVENT_DIE,
        RT_EVENT_HEALTH,
        RT_EVENT_OOM,
        RT_EVENT_GONE, /* the task's whole workload vanished, not by ecsd's hand (e.g. a Pod deleted by someone) */
};

struct rt_container_event {
        enum rt_event_kind kind;
        const char *task_id;
        const char *container; /* ECS container name; NULL for RT_EVENT_GONE */
        int exit_code;         /* RT_EVENT_DIE */
        const char *health;    /* RT_EVENT_HEALTH: "HEALTHY" or "UNHEALTHY" */
        const char *reason;    /* RT_EVENT_GONE: a sentence for stoppedReason */
        int64_t observed_ms;   /* wall-clock ms when the backend saw it (docker's timeNano, a watch event's arrival);
                                * 0: unknown. The lifecycle measures its event-to-state lag from it. */
};
