/* k8s-backend.h — the Kubernetes backend of the lifecycle: every task is one Pod, created, watched and deleted through
 * the API server. The lifecycle (pkg/runtime) keeps every ECS rule; this backend translates (k8s_pod_manifest) and
 * reports what the Pod's status says, from one watch per namespace. See docs/internals/k8s-backend.md.
 *
 * Thread-safe: the operations run from any lifecycle thread; each borrows an API client from a small pool. The watch
 * thread updates a cache of ecsd's Pods and turns status changes into lifecycle events. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "backend.h"
#include "base.h"
#include "k8s.h"

/* How long a container may take to start (scheduling, image pull) before the task fails to start. */
#define K8S_START_TIMEOUT_DEFAULT_S 600

struct k8s_backend_config {
        struct k8s_config *kube;          /* borrowed; must outlive the backend */
        const char *owner;                /* the io.ecsd/owner label: this instance's id */
        enum k8s_ns_mode ns_mode;
        /* K8S_NS_FIXED: the namespace (one watch of it). K8S_NS_PER_CLUSTER: the prefix of each cluster's namespace
         * (k8s_namespace_for_cluster; one watch of every namespace). Namespaces are not created: they must exist. */
        const char *namespace_;
        const char *node_name;            /* NULL: the scheduler places Pods; else spec.nodeName */
        const char *metadata_endpoint;    /* see struct k8s_task_spec */
        const char *credentials_endpoint; /* may be NULL */
        int default_stop_timeout_s;       /* 0: 30 */
        int start_timeout_s;              /* 0: K8S_START_TIMEOUT_DEFAULT_S */
};

/* Callbacks of the watch: events for the lifecycle, and a call after every full list (start, 410 Gone), when the
 * cache is complete and the lifecycle should reconcile (rt_lifecycle_resync). Both run on a watch thread. */
struct k8s_backend_hooks {
        void (*on_event)(void *userdata, const struct rt_container_event *ev);
        void (*on_sync)(void *userdata);
        /* Optional: the set of hosts (rt_backend.hosts) changed (a Node came, went, was cordoned); on the Node
         * watch's thread. */
        void (*on_hosts)(void *userdata);
        void *userdata;
};

struct k8s_backend;

/* Create the backend and fill `ops` (ops->impl is the backend). Asks the server once whether it runs native sidecars
 * (an unreachable server: assumed not; the lifecycle then keeps the START/HEALTHY order itself). Copies the
 * configuration. No watch runs until k8s_backend_start. */
int k8s_backend_new(const struct k8s_backend_config *cfg, struct rt_backend *ops, struct k8s_backend **ret,
                    struct err *e);
/* Start the watch that feeds `hooks`. */
int k8s_backend_start(struct k8s_backend *b, const struct k8s_backend_hooks *hooks, struct err *e);
/* Stop the watch, and make every wait of an operation end at once (-ECANCELED): call before rt_lifecycle_free, so
 * the lifecycle's workers finish quickly and no event reaches a freed lifecycle. NULL-safe. */
void k8s_backend_stop(struct k8s_backend *b);
/* Stop (if not yet), free the clients and the cache. NULL-safe. */
void k8s_backend_free(struct k8s_backend *b);

/* Counters for operators and the tests that prove "no polling": {"api_calls": requests the operations sent,
 * "watch_calls": list + watch requests, "watch_relists_410", "watch_reconnects", "pods": Pods in the cache}. New
 * object. */
json_t *k8s_backend_counters(struct k8s_backend *b);
