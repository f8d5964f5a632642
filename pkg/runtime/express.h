/* express.h — what ecsd keeps for express gateway services beyond the ECS service they run as
 * (docs/internals/express.md): where each one is reached (its ingress) and its health check path, checked from
 * ecsd itself.
 *
 * An express gateway service is an ordinary service of the scheduler (scheduler.h) with a task definition ecsd
 * registers from its primary container; this module adds what an Application Load Balancer would: the ingress (a
 * published host port on Docker, a Kubernetes Service made through the ingress hooks on Kubernetes) and a health
 * checker thread that GETs each RUNNING task's health check path and has a task that keeps failing it stopped, so
 * the scheduler replaces it.
 *
 * Thread-safe: API threads call the record functions; the checker runs on its own thread. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "base.h"
#include "lifecycle.h"
#include "scheduler.h"
#include "store.h"

/* The name of the one container of an express gateway service's task definition. */
#define RT_EXPRESS_CONTAINER "Main"

struct rt_express;

/* How a backend makes an express service reachable when it does not publish host ports (Kubernetes). */
struct rt_express_ingress {
        /* Make (or change) what sends `port` to the tasks of task definition family `family`, and write the URL
         * clients use, with a trailing '/', to `endpoint` (`size` bytes). */
        int (*expose)(void *userdata, const char *region, const char *cluster, const char *name, const char *family,
                      int port, char *endpoint, size_t size, struct err *e);
        /* Remove it; "not found" is success. */
        int (*unexpose)(void *userdata, const char *region, const char *cluster, const char *name, struct err *e);
        void *userdata;
};

struct rt_express_config {
        struct rt_store *store;
        struct rt_lifecycle *lifecycle;
        struct rt_scheduler *scheduler;
        /* Docker: the container port is published on a host port ecsd picks, and the endpoint is
         * http://127.0.0.1:PORT/. */
        bool host_ports;
        /* NULL, or what expose/unexpose do (used when !host_ports). */
        const struct rt_express_ingress *ingress;
        /* The operator's address for express services (--express-endpoint), e.g. "https://apps.example": the endpoint
         * becomes BASE/CLUSTER/NAME/ instead of the ingress's own. NULL: none. */
        const char *endpoint_base;
        /* Health checks: every interval_ms (0: 10 s), each GET bounded by timeout_ms (0: 2 s, at most interval_ms);
         * a task failing unhealthy_threshold checks in a row (0: 2) is stopped. */
        int64_t interval_ms, timeout_ms;
        int unhealthy_threshold;
};

/* Start the health checker thread. */
int rt_express_new(const struct rt_express_config *cfg, struct rt_express **ret, struct err *e);
/* Stop the thread and free. NULL-safe. Call before rt_scheduler_free. */
void rt_express_free(struct rt_express *x);

bool rt_express_host_ports(const struct rt_express *x);

/* The stored record of express service (`region`, `cluster`, `name`): a new reference in *ret, or -ENOENT (no
 * error text). */
int rt_express_get(struct rt_express *x, const char *region, const char *cluster, const char *name, json_t **ret,
                   struct err *e);
/* Store it (insert or replace); the checker picks it up on its next round. */
int rt_express_put(struct rt_express *x, const char *region, const char *cluster, const char *name, const json_t *doc,
                   struct err *e);

/* The URL clients reach the service at, with a trailing '/', into `endpoint` (`size` bytes): the operator's base when
 * one is set, else http://127.0.0.1:`host_port`/ with host ports, else what the ingress hook makes (created or
 * changed now). No ingress at all: -ENOTSUP (ERR_KIND_UNSUPPORTED_FEATURE). */
int rt_express_expose(struct rt_express *x, const char *region, const char *cluster, const char *name,
                      const char *family, int container_port, int host_port, char *endpoint, size_t size,
                      struct err *e);
/* Remove what rt_express_expose made (nothing on Docker: the port goes with the containers). */
int rt_express_unexpose(struct rt_express *x, const char *region, const char *cluster, const char *name,
                        struct err *e);

/* A free TCP port on 127.0.0.1 now (the kernel's pick), for a service's published port. */
int rt_express_free_port(int *ret, struct err *e);

/* GET http://`addr`:`port``path` with HTTP/1.0, bounded by `timeout_ms` in all. Returns the status code (> 0), or a
 * negative errno when no answer came (refused, timed out, not HTTP). `addr` is a numeric IPv4 or IPv6 address. */
int rt_express_probe(const char *addr, int port, const char *path, int64_t timeout_ms);
