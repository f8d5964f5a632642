/* docker-backend.h — the Docker backend of the lifecycle: rt_backend operations over the docker (or podman) CLI,
 * and the `docker events` monitor that feeds the lifecycle. See docs/internals/docker-backend.md.
 *
 * Thread-safe: the operations run from any lifecycle thread; the monitor has its own thread. */
#pragma once

#include <jansson.h>

#include "backend.h"
#include "base.h"
#include "docker.h"

/* ECS_IMAGE_PULL_BEHAVIOR: default (pull, fall back to a cached image), always (pull or fail), once (pull only if
 * this ecsd never pulled the image), prefer-cached (use a cached image, else pull). */
enum docker_pull_behavior { DOCKER_PULL_DEFAULT, DOCKER_PULL_ALWAYS, DOCKER_PULL_ONCE, DOCKER_PULL_PREFER_CACHED };
int docker_pull_behavior_from_string(const char *s, enum docker_pull_behavior *ret);

struct docker_backend_config {
        const char *owner;                /* value of the io.ecsd.owner label: this instance's id */
        const char *host_alias;           /* "host.docker.internal" */
        const char *metadata_endpoint;    /* see struct docker_task_spec */
        const char *credentials_endpoint; /* may be NULL */
        const char *publish_address;      /* may be NULL */
        enum docker_pull_behavior pull;
        int default_stop_timeout_s;       /* 0: 30 */
};

struct docker_backend;

/* Create the backend; fills `ops` with its operations (ops->impl is the backend). Copies the configuration. */
int docker_backend_new(const struct docker_backend_config *cfg, struct rt_backend *ops, struct docker_backend **ret,
                       struct err *e);
void docker_backend_free(struct docker_backend *b);

/* ---- resource usage (stats.c) ---- */

/* Parse one size as the docker CLI prints it ("596KiB", "1.2kB", "0B", "23.54GiB"; decimal and binary units) into
 * bytes, rounded. -EINVAL when it is not one ("--"), -ERANGE when it does not fit. */
int docker_size_parse(const char *s, int64_t *ret);
/* One container's usage in the Docker stats API shape, from `sample`, a line of `docker stats --no-stream` with the
 * template DOCKER_STATS_FORMAT ({"id","name","cpu","mem","net","block","pids"}, the CLI's strings). `read_ns` is the
 * wall-clock time of the sample (epoch ns), `uptime_ns` the host's uptime. Approximate: see stats.c. Never fails;
 * a field that does not parse counts as 0. Returns a new object. */
json_t *docker_stats_translate(const json_t *sample, const char *docker_name, int online_cpus, int64_t read_ns,
                               int64_t uptime_ns);
/* The same keys on Docker and Podman (their `{{json .}}` differ): JSON built from the template fields both have. */
#define DOCKER_STATS_FORMAT                                                                                            \
        "{\"id\":{{json .ID}},\"name\":{{json .Name}},\"cpu\":{{json .CPUPerc}},\"mem\":{{json .MemUsage}},"          \
        "\"net\":{{json .NetIO}},\"block\":{{json .BlockIO}},\"pids\":{{json .PIDs}}}"

/* ---- the event monitor ---- */

struct docker_events_config {
        const char *owner; /* only objects with this io.ecsd.owner label are watched */
        void (*on_event)(void *userdata, const struct rt_container_event *ev);
        void (*on_connect)(void *userdata); /* after every (re)connect: resync */
        void *userdata;
};
struct docker_events;

/* Start the monitor thread. */
int docker_events_start(const struct docker_events_config *cfg, struct docker_events **ret, struct err *e);
/* Stop it and join. NULL-safe. */
void docker_events_stop(struct docker_events *w);
/* Times the event stream ended and was opened again (any thread). */
long docker_events_reconnects(struct docker_events *w);
/* Let the backend's counters (GET /_ecsd/stats, /_ecsd/metrics) report `w`'s reconnects. Call before the lifecycle
 * is attached to the API; `w` must outlive the backend's use by the API. */
void docker_backend_set_events(struct docker_backend *b, struct docker_events *w);
/* Decode one `docker events --format '{{json .}}'` line and call cfg->on_event for the events the lifecycle uses.
 * *ret_time_ms (may be NULL) gets the event's time. Exposed for the tests and the fuzzer. */
void docker_events_parse_line(const char *line, size_t len, const struct docker_events_config *cfg,
                              int64_t *ret_time_ms);
