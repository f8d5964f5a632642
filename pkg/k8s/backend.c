/* backend.c — the Kubernetes backend (k8s-backend.h): the rt_backend operations over the API server, and the watch
 * that turns Pod status changes into lifecycle events. docs/internals/k8s-backend.md explains the mapping.
 *
 * One task is one Pod, so the per-container operations of rt_backend map onto the Pod as a whole: setup creates the
 * Pod (every container of it starts on its own, in the order the Pod's shape gives), start waits until the watch shows
 * the container started (or failed to: an image that cannot be pulled, a missing Secret, a Pod that never runs), the
 * first stop deletes the Pod with its grace period and each stop waits until its container has terminated, teardown
 * waits until the Pod is gone. pull has nothing to do: the kubelet pulls.
 *
 * State: `pods`, a cache of ecsd's Pods fed by the watch, guarded by `lock`; `changed` wakes the operations that wait
 * on it. For each container the cache keeps what was last reported to the lifecycle, so a Pod update becomes exactly
 * the events it implies (START, DIE, OOM, HEALTH) and a Pod deleted by someone else becomes RT_EVENT_GONE. Events are
 * delivered after `lock` is released: the lifecycle may call back into the backend (cancel) with its own lock held,
 * so the order is always lifecycle lock → backend lock.
 *
 * Output: before ecsd deletes a Pod it captures each started container's output (`captures`): a container that has
 * ended is read in one go, one still running is followed, so what it writes during its grace period is kept too. The
 * lifecycle's logs call then takes the capture instead of reading a Pod that may be gone.
 *
 * API calls per task: create, delete, one log read (or follow) per container that ran; nothing polls. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "ecs.h"
#include "k8s-backend.h"
#include "k8s-client-internal.h"
#include "k8s-internal.h"

#define POOL_MAX 8                     /* idle API clients kept for the operations */
#define STOP_MARGIN_S 15               /* beyond the grace period, before ecsd forces the deletion */
#define LOG_CAPTURE_CAP (1024 * 1024)
#define LOG_ANSWER_WAIT_MS 1000 /* for a follow's first answer; see logstream.c */
#define LOG_DRAIN_MS 300        /* after a followed container ended, for its last output to arrive */
#define NODES_FIRST_LIST_WAIT_MS 10000 /* for the Node watch's first list, once (op_hosts) */

/* What a Pod object says of one container. Filled from an object by observe_container with borrowed strings; the
 * cache keeps a copy with its own (cstatus.seen, see seen_store). */
struct observed {
        bool started, ended, ready, oom;
        int exit_code;
        const char *waiting_reason, *waiting_message; /* reason NULL: not waiting; message "" when absent */
};

/* What ecsd last reported of one container, and what the newest Pod object says of it. */
struct cstatus {
        char *ecs_name;
        char *k8s_name;
        bool init;         /* an init container (role init or sidecar): its status is in initContainerStatuses */
        bool sidecar;      /* restartPolicy Always: its first termination is its exit */
        bool health_check; /* readiness says its health */
        bool started, ended, ready;
        struct observed seen; /* the newest object's; its strings point to these two, owned */
        char *seen_reason, *seen_message;
};

/* The cache keeps of a Pod only what the backend reads after the watch delivered it (each container's `seen`, and
 * these), never the object: a whole Pod object decoded is tens of KB, and 1,000 of them were most of ecsd's memory.
 * Who reads what: pod_apply turns container changes into events; op_start waits on `seen`, `phase`, `reason`,
 * `message` and `unschedulable`; op_observe reports `seen`. */
struct pod {
        struct pod *next;
        char *ns, *name, *task_id;
        char *phase, *reason, *message; /* status.phase/reason/message of the newest object; "" when absent */
        char *unschedulable;            /* the PodScheduled=False condition's message; NULL when not so */
        struct cstatus *c;
        size_t n;
        bool deleting;      /* ecsd asked for the deletion */
        bool cancelled;     /* the lifecycle wants the launch to end */
        bool gone_reported; /* RT_EVENT_GONE was sent */
        bool listed;        /* in the full list being applied (K8S_WATCH_RELISTED) */
};

/* A container's output, captured when ecsd deleted its Pod. */
struct capture {
        struct capture *next;
        struct k8s_backend *b;
        char *ns, *pod, *container; /* container: the Kubernetes name */
        struct k8s_log_stream *stream; /* NULL when the output was read in one go */
        struct k8s_body out;           /* capped at LOG_CAPTURE_CAP */
        bool ended; /* `out` is final */
        bool failed;
        struct err err;
};

/* A thread waiting for one Pod's state to change (op_start, op_stop, op_teardown), woken by that Pod's changes only.
 * A broadcast on `changed` for every watch event woke every wait in flight: with 1,000 launches waiting for their
 * Pods, switching between those threads was ~25 % of ecsd's CPU during the launch (bench/README.md). */
struct pod_waiter {
        struct pod_waiter *next;
        const char *ns, *name;
        pthread_cond_t cond;
};

struct pooled_client {
        struct k8s_client *client;
        uint64_t counted; /* its calls already added to `calls` */
};

struct k8s_backend {
        struct k8s_config *kube;
        char *owner, *namespace_, *node_name, *metadata_endpoint, *credentials_endpoint;
        enum k8s_ns_mode ns_mode;
        int default_stop_timeout_s, start_timeout_s;
        bool native_sidecars;
        char selector[128];
        struct k8s_backend_hooks hooks;

        pthread_mutex_t lock;
        pthread_cond_t changed;
        struct pod_waiter *waiters; /* on the stacks of the threads in wait_pod */
        struct pod *pods;
        struct capture *captures;
        bool synced;  /* the watch delivered its first full list */
        bool closing; /* k8s_backend_stop: waits end at once */
        struct pooled_client pool[POOL_MAX];
        size_t n_pool;
        uint64_t calls;
        uint64_t starts_cancelled; /* start waits ended by a cancel (StopTask, shutdown) before the container ran */
        struct k8s_watch *watch;
        struct k8s_watch *node_watch;
        /* node name → host (k8s_node_host), schedulable nodes only; fed by node_watch. Under its own lock, so that
         * placement never waits behind the Pod cache (`lock`), which the watch holds while a burst of Pods changes. */
        pthread_mutex_t nodes_lock;
        json_t *nodes;
        pthread_cond_t nodes_listed; /* the Node watch delivered its first full list (`nodes_synced`) */
        bool nodes_synced;
        bool nodes_waited; /* a hosts() call has waited for that list once: none waits again */
};

/* ---- small helpers ---- */

/* Wait on `changed` until at most `deadline_ms` (monotonic; lock held). */
static void wait_until(struct k8s_backend *b, int64_t deadline_ms) {
        int64_t ms = deadline_ms - time_mono_ms();
        if (ms <= 0)
                return;
        cond_wait_ms(&b->changed, &b->lock, ms > 1000 ? 1000 : ms);
}

/* Wait (lock held) until the Pod ns/name changes (wake_pod), the backend closes, or at most until `deadline_ms`
 * (monotonic), and at most a second: callers re-check their condition and their deadline. */
static void wait_pod(struct k8s_backend *b, const char *ns, const char *name, int64_t deadline_ms) {
        int64_t ms = deadline_ms - time_mono_ms();
        if (ms <= 0)
                return;
        struct pod_waiter w = {.next = b->waiters, .ns = ns, .name = name};
        pthread_cond_init(&w.cond, NULL); /* the default clock: cond_wait_ms counts on it */
        b->waiters = &w;
        cond_wait_ms(&w.cond, &b->lock, ms > 1000 ? 1000 : ms);
        for (struct pod_waiter **pp = &b->waiters; *pp; pp = &(*pp)->next)
                if (*pp == &w) {
                        *pp = w.next;
                        break;
                }
        pthread_cond_destroy(&w.cond);
}

/* Wake the waits for the Pod ns/name; NULL: every wait (lock held). */
static void wake_pod(struct k8s_backend *b, const char *ns, const char *name) {
        for (struct pod_waiter *w = b->waiters; w; w = w->next)
                if (!name || (strcmp(w->name, name) == 0 && strcmp(w->ns, ns) == 0))
                        pthread_cond_signal(&w->cond);
}

static const char *plan_str(const json_t *plan, const char *key) {
        return ecs_json_str(plan, key, "");
}

static int take_client(struct k8s_backend *b, struct pooled_client *ret, struct err *e) {
        pthread_mutex_lock(&b->lock);
        if (b->n_pool) {
                *ret = b->pool[--b->n_pool];
                pthread_mutex_unlock(&b->lock);
                return 0;
        }
        pthread_mutex_unlock(&b->lock);
        *ret = (struct pooled_client){0};
        return k8s_client_new(b->kube, NULL, &ret->client, e);
}

static void give_client(struct k8s_backend *b, struct pooled_client *pc) {
        pthread_mutex_lock(&b->lock);
        uint64_t n = k8s_client_calls(pc->client);
        b->calls += n - pc->counted;
        pc->counted = n;
        if (b->n_pool < POOL_MAX) {
                b->pool[b->n_pool++] = *pc;
                pc->client = NULL;
        }
        pthread_mutex_unlock(&b->lock);
        k8s_client_free(pc->client);
}

/* ---- the cache ---- */

static struct pod *pod_find(struct k8s_backend *b, const char *ns, const char *name) {
        for (struct pod *p = b->pods; p; p = p->next)
                if (strcmp(p->name, name) == 0 && strcmp(p->ns, ns) == 0)
                        return p;
        return NULL;
}

static struct pod *pod_find_task(struct k8s_backend *b, const char *task_id) {
        for (struct pod *p = b->pods; p; p = p->next)
                if (strcmp(p->task_id, task_id) == 0)
                        return p;
        return NULL;
}

static void pod_free(struct pod *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n; i++) {
                free(p->c[i].ecs_name);
                free(p->c[i].k8s_name);
                free(p->c[i].seen_reason);
                free(p->c[i].seen_message);
        }
        free(p->c);
        free(p->phase);
        free(p->reason);
        free(p->message);
        free(p->unschedulable);
        free(p->ns);
        free(p->name);
        free(p->task_id);
        free(p);
}

static void pod_remove(struct k8s_backend *b, struct pod *p) {
        for (struct pod **pp = &b->pods; *pp; pp = &(*pp)->next)
                if (*pp == p) {
                        *pp = p->next;
                        break;
                }
        wake_pod(b, p->ns, p->name);
        pod_free(p);
        pthread_cond_broadcast(&b->changed);
}

/* A cache entry for a Pod object of ecsd's (lock held). NULL when the object lacks ecsd's labels or annotation. */
static struct pod *pod_new(struct k8s_backend *b, const json_t *obj) {
        const json_t *meta = json_object_get(obj, "metadata");
        const char *ns = ecs_json_str(meta, "namespace", NULL);
        const char *name = ecs_json_str(meta, "name", NULL);
        const char *task_id = ecs_json_str(json_object_get(meta, "labels"), K8S_LABEL_TASK_ID, NULL);
        const char *spec = ecs_json_str(json_object_get(meta, "annotations"), K8S_ANNOTATION_CONTAINERS, NULL);
        json_auto_t *containers = spec ? json_loads(spec, 0, NULL) : NULL;
        if (!ns || !name || !task_id || !json_is_object(containers))
                return NULL;
        struct pod *p = xcalloc(1, sizeof(*p));
        p->ns = xstrdup(ns);
        p->name = xstrdup(name);
        p->task_id = xstrdup(task_id);
        p->phase = xstrdup("");
        p->reason = xstrdup("");
        p->message = xstrdup("");
        p->c = xcalloc(json_object_size(containers) + 1, sizeof(*p->c));
        const char *ecs_name;
        const json_t *c;
        json_object_foreach((json_t *) containers, ecs_name, c) {
                const char *role = ecs_json_str(c, "role", "container");
                struct cstatus *cs = &p->c[p->n++];
                cs->ecs_name = xstrdup(ecs_name);
                cs->k8s_name = xstrdup(ecs_json_str(c, "name", ecs_name));
                cs->init = strcmp(role, "container") != 0;
                cs->sidecar = strcmp(role, "sidecar") == 0;
                cs->health_check = json_is_true(json_object_get(c, "healthCheck"));
        }
        p->next = b->pods;
        b->pods = p;
        return p;
}

static void observe_container(const json_t *pod, const struct cstatus *cs, struct observed *o) {
        *o = (struct observed){0};
        const json_t *status = json_object_get(pod, "status");
        size_t i;
        const json_t *st;
        json_array_foreach(json_object_get(status, cs->init ? "initContainerStatuses" : "containerStatuses"), i,
                           st) {
                if (strcmp(ecs_json_str(st, "name", ""), cs->k8s_name) != 0)
                        continue;
                const json_t *state = json_object_get(st, "state");
                const json_t *term = json_object_get(state, "terminated");
                int64_t restarts = 0;
                ecs_json_int(st, "restartCount", &restarts);
                /* A sidecar is restarted by the kubelet: its first termination is the ECS container's exit. */
                if (cs->sidecar && !term && restarts > 0)
                        term = json_object_get(json_object_get(st, "lastState"), "terminated");
                if (json_object_get(state, "running"))
                        o->started = true;
                if (json_is_object(term)) {
                        int64_t code = 0;
                        ecs_json_int(term, "exitCode", &code);
                        o->started = o->ended = true;
                        o->exit_code = (int) code;
                        o->oom = strcmp(ecs_json_str(term, "reason", ""), "OOMKilled") == 0;
                }
                o->ready = json_is_true(json_object_get(st, "ready"));
                const json_t *waiting = json_object_get(state, "waiting");
                o->waiting_reason = ecs_json_str(waiting, "reason", NULL);
                o->waiting_message = ecs_json_str(waiting, "message", "");
        }
}

/* Events found under the lock, delivered after it. */
struct pending {
        struct rt_container_event ev;
        char *task_id, *container, *reason;
};
struct pending_list {
        struct pending *v;
        size_t n, cap;
};

static void pending_add(struct pending_list *l, enum rt_event_kind kind, const char *task_id, const char *container,
                        int exit_code, const char *health, const char *reason) {
        if (l->n == l->cap) {
                l->cap = l->cap ? l->cap * 2 : 8;
                struct pending *v = realloc(l->v, l->cap * sizeof(*v));
                ASSERT(v);
                l->v = v;
        }
        struct pending *p = &l->v[l->n++];
        *p = (struct pending){.task_id = xstrdup(task_id),
                              .container = container ? xstrdup(container) : NULL,
                              .reason = reason ? xstrdup(reason) : NULL};
        p->ev = (struct rt_container_event){.kind = kind, .task_id = p->task_id, .container = p->container,
                                            .exit_code = exit_code, .health = health, .reason = p->reason,
                                            .observed_ms = time_now_ms()};
}

static void pending_deliver(struct k8s_backend *b, struct pending_list *l) {
        for (size_t i = 0; i < l->n; i++) {
                if (b->hooks.on_event)
                        b->hooks.on_event(b->hooks.userdata, &l->v[i].ev);
                free(l->v[i].task_id);
                free(l->v[i].container);
                free(l->v[i].reason);
        }
        free(l->v);
        *l = (struct pending_list){0};
}

static void report_gone(struct pod *p, struct pending_list *out, const char *how) {
        if (p->deleting || p->gone_reported)
                return;
        p->gone_reported = true;
        char why[512];
        str_printf(why, sizeof(why), "the Pod %s/%s %s by someone other than ecsd", p->ns, p->name, how);
        pending_add(out, RT_EVENT_GONE, p->task_id, NULL, 0, NULL, why);
}

/* Replace the owned string *dst with a copy of `v` (NULL stays NULL), unless it holds the same text already. */
static void str_store(char **dst, const char *v) {
        if (*dst == v || (*dst && v && strcmp(*dst, v) == 0))
                return;
        free(*dst);
        *dst = v ? xstrdup(v) : NULL;
}

static void seen_store(struct cstatus *cs, const struct observed *o) {
        str_store(&cs->seen_reason, o->waiting_reason);
        str_store(&cs->seen_message, o->waiting_message);
        cs->seen = *o;
        cs->seen.waiting_reason = cs->seen_reason;
        cs->seen.waiting_message = cs->seen_message;
}

/* The PodScheduled=False message, or NULL. */
static const char *unschedulable(const json_t *pod) {
        size_t i;
        const json_t *cond;
        json_array_foreach(json_object_get(json_object_get(pod, "status"), "conditions"), i, cond)
                if (strcmp(ecs_json_str(cond, "type", ""), "PodScheduled") == 0 &&
                    strcmp(ecs_json_str(cond, "status", ""), "False") == 0)
                        return ecs_json_str(cond, "message", "the Pod cannot be scheduled");
        return NULL;
}

/* The cache entry of a Pod object, or NULL (lock held). */
static struct pod *pod_of(struct k8s_backend *b, const json_t *obj) {
        const json_t *meta = json_object_get(obj, "metadata");
        return pod_find(b, ecs_json_str(meta, "namespace", ""), ecs_json_str(meta, "name", ""));
}

/* Take a new Pod object into the cache and queue the events it implies (lock held). Returns its entry, or NULL for
 * an object that is not one of ecsd's Pods. */
static struct pod *pod_apply(struct k8s_backend *b, const json_t *obj, struct pending_list *out) {
        struct pod *p = pod_of(b, obj);
        if (!p && !(p = pod_new(b, obj)))
                return NULL;
        const json_t *status = json_object_get(obj, "status");
        str_store(&p->phase, ecs_json_str(status, "phase", ""));
        str_store(&p->reason, ecs_json_str(status, "reason", ""));
        str_store(&p->message, ecs_json_str(status, "message", ""));
        str_store(&p->unschedulable, unschedulable(obj));
        for (size_t i = 0; i < p->n; i++) {
                struct cstatus *cs = &p->c[i];
                struct observed o;
                observe_container(obj, cs, &o);
                seen_store(cs, &o);
                if (o.started && !cs->started) {
                        cs->started = true;
                        pending_add(out, RT_EVENT_START, p->task_id, cs->ecs_name, 0, NULL, NULL);
                }
                if (cs->health_check && cs->started && !cs->ended && o.ready != cs->ready) {
                        cs->ready = o.ready;
                        pending_add(out, RT_EVENT_HEALTH, p->task_id, cs->ecs_name, 0,
                                    o.ready ? "HEALTHY" : "UNHEALTHY", NULL);
                }
                if (o.ended && !cs->ended) {
                        cs->ended = true;
                        if (o.oom)
                                pending_add(out, RT_EVENT_OOM, p->task_id, cs->ecs_name, 0, NULL, NULL);
                        pending_add(out, RT_EVENT_DIE, p->task_id, cs->ecs_name, o.exit_code, NULL, NULL);
                }
        }
        if (json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp"))
                report_gone(p, out, "is being deleted");
        wake_pod(b, p->ns, p->name);
        pthread_cond_broadcast(&b->changed);
        return p;
}

/* The Pod is gone from the API server (lock held). */
static void pod_deleted(struct k8s_backend *b, struct pod *p, const json_t *last, struct pending_list *out) {
        if (last)
                pod_apply(b, last, out);
        report_gone(p, out, "was deleted");
        pod_remove(b, p);
}

static void on_watch(enum k8s_watch_event ev, const json_t *obj, void *userdata) {
        struct k8s_backend *b = userdata;
        struct pending_list out = {0};
        json_auto_t *missing = json_array();
        pthread_mutex_lock(&b->lock);
        if (ev == K8S_WATCH_ADDED || ev == K8S_WATCH_MODIFIED)
                pod_apply(b, obj, &out);
        else if (ev == K8S_WATCH_DELETED) {
                struct pod *p = pod_of(b, obj);
                if (p)
                        pod_deleted(b, p, obj, &out);
        } else if (ev == K8S_WATCH_RELISTED) {
                for (struct pod *p = b->pods; p; p = p->next)
                        p->listed = false;
                size_t i;
                const json_t *item;
                json_array_foreach(obj, i, item) {
                        struct pod *p = pod_apply(b, item, &out);
                        if (p)
                                p->listed = true;
                }
                /* A Pod absent from the list was deleted while nobody watched, or was created after the list was
                 * taken: ask the server which (only after a 410, when the cache was not empty). */
                for (struct pod *p = b->pods; p; p = p->next)
                        if (!p->listed)
                                json_array_append_new(missing, json_pack("[s,s]", p->ns, p->name));
                b->synced = true;
                wake_pod(b, NULL, NULL);
                pthread_cond_broadcast(&b->changed);
        }
        pthread_mutex_unlock(&b->lock);

        size_t i;
        const json_t *m;
        json_array_foreach(missing, i, m) {
                const char *ns = json_string_value(json_array_get(m, 0));
                const char *name = json_string_value(json_array_get(m, 1));
                struct pooled_client pc;
                struct err e = {0};
                if (take_client(b, &pc, &e) < 0)
                        continue;
                int r = k8s_pod_get(pc.client, ns, name, NULL, &e);
                give_client(b, &pc);
                if (r != -ENOENT)
                        continue;
                pthread_mutex_lock(&b->lock);
                struct pod *p = pod_find(b, ns, name);
                if (p)
                        pod_deleted(b, p, NULL, &out);
                pthread_mutex_unlock(&b->lock);
        }
        pending_deliver(b, &out);
        if (ev == K8S_WATCH_RELISTED && b->hooks.on_sync)
                b->hooks.on_sync(b->hooks.userdata);
}

/* The Node watch: keep `nodes` current. A configured node name (--k8s-node-name) pins every Pod to it, so it is then
 * the only host. */
static void on_node_watch(enum k8s_watch_event ev, const json_t *obj, void *userdata) {
        struct k8s_backend *b = userdata;
        bool changed = false;
        pthread_mutex_lock(&b->nodes_lock);
        if (ev == K8S_WATCH_RELISTED) {
                json_t *fresh = json_object();
                size_t i;
                const json_t *node;
                json_array_foreach(obj, i, node) {
                        const char *name = ecs_json_str(json_object_get(node, "metadata"), "name", "");
                        json_t *host = b->node_name && strcmp(b->node_name, name) != 0 ? NULL : k8s_node_host(node);
                        if (host)
                                json_object_set_new(fresh, name, host);
                }
                changed = !json_equal(fresh, b->nodes);
                json_decref(b->nodes);
                b->nodes = fresh;
                b->nodes_synced = true;
                pthread_cond_broadcast(&b->nodes_listed);
        } else {
                const char *name = ecs_json_str(json_object_get(obj, "metadata"), "name", "");
                json_auto_t *host = ev == K8S_WATCH_DELETED || (b->node_name && strcmp(b->node_name, name) != 0)
                                            ? NULL
                                            : k8s_node_host(obj);
                const json_t *old = json_object_get(b->nodes, name);
                /* A Node's status is rewritten every few seconds (heartbeats): only a change of the host counts. */
                if (host && !json_equal(host, old)) {
                        json_object_set(b->nodes, name, host);
                        changed = true;
                } else if (!host && old) {
                        json_object_del(b->nodes, name);
                        changed = true;
                }
        }
        pthread_mutex_unlock(&b->nodes_lock);
        if (changed && b->hooks.on_hosts)
                b->hooks.on_hosts(b->hooks.userdata);
}

/* ---- rt_backend operations ---- */

static int cmp_host_id(const void *x, const void *y) {
        const json_t *const *a = x, *const *b = y;
        return strcmp(ecs_json_str(*a, "id", ""), ecs_json_str(*b, "id", ""));
}

static int op_hosts(void *impl, json_t **ret, struct err *e) {
        (void) e;
        struct k8s_backend *b = impl;
        pthread_mutex_lock(&b->nodes_lock);
        /* Right after a start the Node watch's first list may still be on its way, and a client that asks at once
         * must not see a cluster without its nodes: the first call waits for that list, bounded (a server that
         * refuses the watch never sends one); no later call waits. */
        if (b->node_watch && !b->nodes_synced && !b->nodes_waited) {
                int64_t deadline = time_mono_ms() + NODES_FIRST_LIST_WAIT_MS;
                while (!b->nodes_synced && time_mono_ms() < deadline)
                        cond_wait_ms(&b->nodes_listed, &b->nodes_lock, deadline - time_mono_ms());
                b->nodes_waited = true;
        }
        size_t n = json_object_size(b->nodes), k = 0;
        json_t **hosts = xcalloc(n ? n : 1, sizeof(*hosts));
        const char *name;
        json_t *host;
        json_object_foreach(b->nodes, name, host) hosts[k++] = json_deep_copy(host);
        pthread_mutex_unlock(&b->nodes_lock);
        qsort(hosts, k, sizeof(*hosts), cmp_host_id);
        json_t *list = json_array();
        for (size_t i = 0; i < k; i++)
                json_array_append_new(list, hosts[i]);
        free(hosts);
        *ret = list;
        return 0;
}

static int op_plan(void *impl, const struct rt_task_input *in, json_t **ret, struct err *e) {
        struct k8s_backend *b = impl;
        char ns[64];
        int r = k8s_namespace_for_cluster(b->ns_mode, b->namespace_, in->cluster_name, ns, sizeof(ns), e);
        if (r < 0)
                return r;
        struct k8s_task_spec spec = {
                .taskdef = in->taskdef,
                .overrides = in->overrides,
                .task_arn = in->task_arn,
                .task_id = in->task_id,
                .cluster_name = in->cluster_name,
                .namespace_ = ns,
                .node_name = in->host ? in->host : b->node_name,
                .metadata_endpoint = b->metadata_endpoint,
                .credentials_endpoint = b->credentials_endpoint,
                .credentials_id = in->credentials_id,
                .owner_label = b->owner,
                .default_stop_timeout_s = b->default_stop_timeout_s,
                .native_sidecars = b->native_sidecars,
        };
        json_auto_t *pod = NULL;
        if ((r = k8s_pod_manifest(&spec, &pod, e)) < 0)
                return r;
        const json_t *meta = json_object_get(pod, "metadata");
        json_auto_t *roles =
                json_loads(ecs_json_str(json_object_get(meta, "annotations"), K8S_ANNOTATION_CONTAINERS, "{}"), 0, NULL);
        json_auto_t *containers = json_array();
        json_auto_t *by_k8s_name = json_object();
        size_t i;
        const json_t *def;
        json_array_foreach(json_object_get(in->taskdef, "containerDefinitions"), i, def) {
                const char *name = ecs_json_str(def, "name", "");
                const json_t *role = json_object_get(roles, name);
                json_t *deps = json_array();
                size_t k;
                const json_t *d;
                json_array_foreach(json_object_get(role, "dependsOn"), k, d)
                        json_array_append_new(deps, json_pack("{s:s, s:s}", "containerName",
                                                              ecs_json_str(d, "containerName", ""), "condition",
                                                              ecs_json_str(d, "condition", "")));
                int64_t stop_s = b->default_stop_timeout_s, start_s;
                ecs_json_int(role, "stopTimeout", &stop_s);
                json_t *c = json_pack("{s:s, s:s, s:s, s:b, s:b, s:o, s:I, s:[]}", "name", name, "k8s_name",
                                      ecs_json_str(role, "name", name), "role", ecs_json_str(role, "role", "container"),
                                      "essential", json_is_true(json_object_get(role, "essential")), "health_check",
                                      json_is_true(json_object_get(role, "healthCheck")), "depends_on", deps,
                                      "stop_timeout_s", (json_int_t) stop_s, "secrets");
                if (ecs_json_int(role, "startTimeout", &start_s))
                        json_object_set_new(c, "start_timeout_s", json_integer(start_s));
                json_object_set_new(by_k8s_name, ecs_json_str(role, "name", name), json_string(name));
                json_array_append_new(containers, c);
        }
        /* Start order: the Pod's own (init containers in sequence, then the regular ones in list order). */
        json_auto_t *order = json_array();
        const char *lists[] = {"initContainers", "containers"};
        for (size_t l = 0; l < 2; l++) {
                const json_t *pc;
                json_array_foreach(json_object_get(json_object_get(pod, "spec"), lists[l]), i, pc) {
                        json_t *ecs_name = json_object_get(by_k8s_name, ecs_json_str(pc, "name", ""));
                        if (ecs_name)
                                json_array_append(order, ecs_name);
                }
        }
        *ret = json_pack("{s:s, s:s, s:O, s:O, s:O, s:n}", "namespace", ns, "pod_name",
                         ecs_json_str(meta, "name", ""), "pod", pod, "containers", containers, "order", order,
                         "network");
        return 0;
}

static int op_setup(void *impl, const json_t *plan, struct err *e) {
        struct k8s_backend *b = impl;
        struct pooled_client pc;
        int r = take_client(b, &pc, e);
        if (r < 0)
                return r;
        json_auto_t *created = NULL;
        r = k8s_pod_create(pc.client, plan_str(plan, "namespace"), json_object_get(plan, "pod"), &created, e);
        give_client(b, &pc);
        if (r == -EEXIST)
                r = 0; /* created before a restart of ecsd cut the launch short */
        if (r < 0)
                return r;
        pthread_mutex_lock(&b->lock);
        if (!pod_find(b, plan_str(plan, "namespace"), plan_str(plan, "pod_name")))
                pod_new(b, created ? created : json_object_get(plan, "pod"));
        pthread_mutex_unlock(&b->lock);
        return 0;
}

static int op_pull(void *impl, const json_t *plan, const json_t *container, struct err *e) {
        (void) impl, (void) plan, (void) container, (void) e;
        return 0; /* the kubelet pulls when the Pod starts; a failure shows in the container's status */
}

static int op_create(void *impl, const json_t *plan, const json_t *container, const json_t *secrets, json_t **ret,
                     struct err *e) {
        (void) impl, (void) secrets, (void) e;
        char id[512];
        str_printf(id, sizeof(id), "%s/%s/%s", plan_str(plan, "namespace"), plan_str(plan, "pod_name"),
                   ecs_json_str(container, "k8s_name", ""));
        *ret = json_pack("{s:s}", "runtimeId", id);
        return 0;
}

/* Why a waiting container will not start by itself, or NULL while it may still. */
const char *k8s_waiting_failure(const char *reason, const char *message) {
        static const char *const pull[] = {"ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                                           "RegistryUnavailable", "SignatureValidationFailed"};
        if (!reason)
                return NULL;
        for (size_t i = 0; i < sizeof(pull) / sizeof(pull[0]); i++)
                if (strcmp(reason, pull[i]) == 0)
                        return "CannotPullContainerError";
        /* The kubelet reads a Pod's Secrets and ConfigMaps through caches that it fills after the Pod arrives; until
         * they are filled it reports "failed to sync secret cache: ..." under this reason and tries again. Only
         * what stays wrong (a Secret or key that does not exist) fails the task. */
        if (strcmp(reason, "CreateContainerConfigError") == 0)
                return message && strncmp(message, "failed to sync ", 15) == 0 ? NULL : "ResourceInitializationError";
        if (strcmp(reason, "CreateContainerError") == 0 || strcmp(reason, "RunContainerError") == 0)
                return "CannotStartContainerError";
        return NULL;
}

static struct cstatus *cstatus_of(struct pod *p, const char *ecs_name) {
        for (size_t i = 0; i < p->n; i++)
                if (strcmp(p->c[i].ecs_name, ecs_name) == 0)
                        return &p->c[i];
        return NULL;
}

static int op_start(void *impl, const json_t *plan, const json_t *container, json_t **ret, struct err *e) {
        struct k8s_backend *b = impl;
        const char *ns = plan_str(plan, "namespace"), *name = plan_str(plan, "pod_name");
        const char *cname = ecs_json_str(container, "name", "");
        int64_t deadline = time_mono_ms() + (int64_t) b->start_timeout_s * 1000;
        int r = 0;
        pthread_mutex_lock(&b->lock);
        for (;;) {
                struct pod *p = pod_find(b, ns, name);
                struct cstatus *cs = p ? cstatus_of(p, cname) : NULL;
                if (!p || !cs) {
                        r = err_set(e, -ENOENT, ERR_KIND_INTERNAL, "the Pod %s/%s was deleted before container '%s' "
                                    "started", ns, name, cname);
                        break;
                }
                if (p->cancelled || b->closing) {
                        b->starts_cancelled++;
                        r = err_set(e, -ECANCELED, ERR_KIND_INTERNAL, "the launch was cancelled");
                        break;
                }
                const struct observed o = cs->seen;
                if (o.started)
                        break;
                const char *failure = k8s_waiting_failure(o.waiting_reason, o.waiting_message);
                if (failure) {
                        r = err_set(e, -EIO, ERR_KIND_INTERNAL, "%s: %s: %s", failure, o.waiting_reason,
                                    o.waiting_message);
                        break;
                }
                const char *phase = p->phase;
                if (strcmp(phase, "Failed") == 0 || strcmp(phase, "Succeeded") == 0) {
                        /* A kubelet that rejects the Pod (OutOfpods, OutOfmemory, ...) says why in the Pod's status. */
                        const char *why = p->reason;
                        const char *msg = p->message;
                        r = err_set(e, -EIO, ERR_KIND_INTERNAL,
                                    "the Pod ended (%s) before container '%s' started%s%s%s%s", phase, cname,
                                    *why ? ": " : "", why, *msg ? ": " : "", msg);
                        break;
                }
                if (time_mono_ms() >= deadline) {
                        const char *why = p->unschedulable;
                        if (why)
                                r = err_set(e, -ETIMEDOUT, ERR_KIND_INTERNAL, "ResourceInitializationError: the Pod "
                                            "was not scheduled within %d s: %s", b->start_timeout_s, why);
                        else
                                r = err_set(e, -ETIMEDOUT, ERR_KIND_INTERNAL, "container '%s' did not start within "
                                            "%d s (%s)", cname, b->start_timeout_s,
                                            o.waiting_reason ? o.waiting_reason : "no status");
                        break;
                }
                wait_pod(b, ns, name, deadline);
        }
        pthread_mutex_unlock(&b->lock);
        if (r == 0)
                *ret = json_object();
        return r;
}

static int delete_pod(struct k8s_backend *b, const char *ns, const char *name, int grace_s, struct err *e) {
        struct pooled_client pc;
        int r = take_client(b, &pc, e);
        if (r < 0)
                return r;
        r = k8s_pod_delete(pc.client, ns, name, grace_s, e);
        give_client(b, &pc);
        return r == -ENOENT ? 0 : r;
}

static int64_t grace_ms(const json_t *plan) {
        int64_t s = 30;
        ecs_json_int(json_object_get(json_object_get(plan, "pod"), "spec"), "terminationGracePeriodSeconds", &s);
        return s * 1000;
}

/* ---- output ---- */

static void count_call(struct k8s_backend *b) {
        pthread_mutex_lock(&b->lock);
        b->calls++;
        pthread_mutex_unlock(&b->lock);
}

static void capture_free(struct capture *c) {
        if (!c)
                return;
        k8s_log_stream_close(c->stream);
        free(c->ns);
        free(c->pod);
        free(c->container);
        k8s_body_free(&c->out);
        free(c);
}

/* Keep at most LOG_CAPTURE_CAP bytes, the oldest, as a one-go read with limitBytes does. */
static bool capture_data(const char *data, size_t len, void *userdata) {
        struct capture *c = userdata;
        size_t room = c->out.cap - c->out.len;
        return k8s_body_append(&c->out, data, len < room ? len : room) && c->out.len < c->out.cap;
}

static void capture_end(const struct err *e, void *userdata) {
        struct capture *c = userdata;
        pthread_mutex_lock(&c->b->lock);
        c->ended = true;
        if (e) {
                c->failed = true;
                c->err = *e;
        }
        pthread_cond_broadcast(&c->b->changed);
        pthread_mutex_unlock(&c->b->lock);
}

/* Capture the output of one container of a Pod ecsd is about to delete: read in one go when it has ended, else
 * follow it (the follow's answer is awaited until `answer_deadline`, so the request is with the server before the
 * deletion). Lock not held. */
static void capture_one(struct k8s_backend *b, const char *ns, const char *pod, const char *container, bool ended,
                        int64_t answer_deadline) {
        struct capture *c = xcalloc(1, sizeof(*c));
        c->b = b;
        c->ns = xstrdup(ns);
        c->pod = xstrdup(pod);
        c->container = xstrdup(container);
        k8s_body_init(&c->out, LOG_CAPTURE_CAP);
        struct err e = {0};
        int r;
        if (ended) {
                struct pooled_client pc;
                if ((r = take_client(b, &pc, &e)) == 0) {
                        r = k8s_pod_logs(pc.client, ns, pod, container, LOG_CAPTURE_CAP, &c->out.data,
                                         &c->out.len, &e);
                        if (r == 0)
                                c->out.alloc = c->out.len + 1;
                        give_client(b, &pc);
                }
                c->ended = true;
        } else {
                int64_t wait = answer_deadline - time_mono_ms();
                r = k8s_log_stream_open(b->kube, ns, pod, container, capture_data, capture_end, c, wait > 0 ? wait : 0,
                                        &c->stream, &e);
                count_call(b);
                if (r < 0)
                        c->ended = true;
        }
        if (r < 0) {
                c->failed = true;
                c->err = e;
        }
        pthread_mutex_lock(&b->lock);
        c->next = b->captures;
        b->captures = c;
        pthread_mutex_unlock(&b->lock);
}

/* Every started container of the Pod, before ecsd deletes it. */
static void capture_pod(struct k8s_backend *b, const char *ns, const char *pod, json_t *containers) {
        int64_t answer_deadline = time_mono_ms() + LOG_ANSWER_WAIT_MS;
        size_t i;
        json_t *c;
        json_array_foreach(containers, i, c)
                capture_one(b, ns, pod, ecs_json_str(c, "name", ""), json_is_true(json_object_get(c, "ended")),
                            answer_deadline);
}

static struct capture *capture_find(struct k8s_backend *b, const char *ns, const char *pod, const char *container) {
        for (struct capture *c = b->captures; c; c = c->next)
                if (strcmp(c->pod, pod) == 0 && strcmp(c->ns, ns) == 0 && strcmp(c->container, container) == 0)
                        return c;
        return NULL;
}

/* Wait until a capture is final (lock held): a followed container's stream ends by itself some seconds after the
 * container ends, so once the watch shows it ended (or the Pod gone) its stream is given LOG_DRAIN_MS more and then
 * cancelled. */
static void capture_wait(struct k8s_backend *b, struct capture *c, const char *ecs_name, int64_t deadline) {
        int64_t drain_until = 0;
        bool cancelled = false;
        while (!c->ended) {
                struct pod *p = pod_find(b, c->ns, c->pod);
                struct cstatus *cs = p ? cstatus_of(p, ecs_name) : NULL;
                int64_t now = time_mono_ms();
                if (!drain_until && (!cs || cs->ended))
                        drain_until = now + LOG_DRAIN_MS;
                if (!cancelled && (b->closing || now >= deadline || (drain_until && now >= drain_until))) {
                        k8s_log_stream_cancel(c->stream); /* capture_end follows at once */
                        cancelled = true;
                }
                if (cancelled)
                        cond_wait_ms(&b->changed, &b->lock, 100);
                else
                        wait_until(b, drain_until ? drain_until : deadline);
        }
}

/* Remove the Pod's captures (teardown, shutdown). Lock not held. */
static void captures_drop(struct k8s_backend *b, const char *ns, const char *pod) {
        struct capture *drop = NULL;
        pthread_mutex_lock(&b->lock);
        for (struct capture **pp = &b->captures; *pp;) {
                struct capture *c = *pp;
                if (!pod || (strcmp(c->pod, pod) == 0 && strcmp(c->ns, ns) == 0)) {
                        *pp = c->next;
                        c->next = drop;
                        drop = c;
                } else {
                        pp = &c->next;
                }
        }
        pthread_mutex_unlock(&b->lock);
        while (drop) {
                struct capture *c = drop;
                drop = c->next;
                capture_free(c);
        }
}

/* Delete the Pod once (the first stop of a task, or its teardown; -1 grace: the Pod's own). With `capture`, each
 * started container's output is captured first. */
static int delete_once(struct k8s_backend *b, const json_t *plan, bool capture, struct err *e) {
        const char *ns = plan_str(plan, "namespace"), *name = plan_str(plan, "pod_name");
        json_auto_t *started = json_array();
        pthread_mutex_lock(&b->lock);
        struct pod *p = pod_find(b, ns, name);
        bool send = p ? !p->deleting : !b->synced;
        if (p) {
                p->deleting = true;
                for (size_t i = 0; capture && send && i < p->n; i++)
                        if (p->c[i].started)
                                json_array_append_new(started, json_pack("{s:s, s:b}", "name", p->c[i].k8s_name,
                                                                         "ended", p->c[i].ended));
        }
        pthread_mutex_unlock(&b->lock);
        if (!send)
                return 0;
        capture_pod(b, ns, name, started);
        return delete_pod(b, ns, name, -1, e);
}

static int op_stop(void *impl, const json_t *plan, const json_t *container, struct err *e) {
        struct k8s_backend *b = impl;
        int r = delete_once(b, plan, true, e);
        if (r < 0)
                return r;
        const char *ns = plan_str(plan, "namespace"), *name = plan_str(plan, "pod_name");
        int64_t deadline = time_mono_ms() + grace_ms(plan) + STOP_MARGIN_S * 1000;
        pthread_mutex_lock(&b->lock);
        for (;;) {
                struct pod *p = pod_find(b, ns, name);
                struct cstatus *cs = p ? cstatus_of(p, ecs_json_str(container, "name", "")) : NULL;
                if (!cs || cs->ended || b->closing || time_mono_ms() >= deadline)
                        break;
                wait_pod(b, ns, name, deadline);
        }
        pthread_mutex_unlock(&b->lock);
        return 0;
}

/* The output captured when ecsd deleted the Pod, else a read of the Pod's log. */
static int op_logs(void *impl, const json_t *plan, const json_t *container, char **ret, size_t *ret_len,
                   struct err *e) {
        struct k8s_backend *b = impl;
        const char *ns = plan_str(plan, "namespace"), *name = plan_str(plan, "pod_name");
        const char *k8s_name = ecs_json_str(container, "k8s_name", "");
        pthread_mutex_lock(&b->lock);
        struct capture *c = capture_find(b, ns, name, k8s_name);
        if (c) {
                capture_wait(b, c, ecs_json_str(container, "name", ""),
                             time_mono_ms() + grace_ms(plan) + STOP_MARGIN_S * 1000);
                int r = 0;
                if (c->failed && !c->out.len) {
                        r = err_set(e, c->err.code, c->err.kind, "%s", c->err.msg);
                } else {
                        *ret = xmalloc(c->out.len + 1);
                        memcpy(*ret, c->out.data ? c->out.data : "", c->out.len);
                        (*ret)[c->out.len] = '\0';
                        *ret_len = c->out.len;
                }
                pthread_mutex_unlock(&b->lock);
                return r;
        }
        bool present = pod_find(b, ns, name) != NULL;
        pthread_mutex_unlock(&b->lock);
        if (!present)
                return err_set(e, -ENOENT, ERR_KIND_NOT_FOUND, "the Pod %s/%s is gone", ns, name);
        struct pooled_client pc;
        int r = take_client(b, &pc, e);
        if (r < 0)
                return r;
        r = k8s_pod_logs(pc.client, ns, name, k8s_name, LOG_CAPTURE_CAP, ret, ret_len, e);
        give_client(b, &pc);
        return r;
}

/* `docker logs --follow`'s counterpart: a log stream writing into a pipe whose read end the caller gets. */
struct follow {
        struct k8s_log_stream *stream;
        int read_fd, write_fd;
};

static bool follow_data(const char *data, size_t len, void *userdata) {
        struct follow *f = userdata;
        while (len) {
                ssize_t n = write(f->write_fd, data, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return false; /* the reader went away (EPIPE) */
                data += n;
                len -= (size_t) n;
        }
        return true;
}

static void follow_end(const struct err *e, void *userdata) {
        struct follow *f = userdata;
        if (e)
                log_warn("k8s", "\"log follow ended\" error=\"%s\"", e->msg);
        close(f->write_fd); /* the reader sees the end */
        f->write_fd = -1;
}

static int op_follow(void *impl, const json_t *plan, const json_t *container, int *ret_fd, void **ret_handle,
                     struct err *e) {
        struct k8s_backend *b = impl;
        struct follow *f = xcalloc(1, sizeof(*f));
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0) {
                free(f);
                return err_set(e, -errno, ERR_KIND_INTERNAL, "cannot make a pipe: %s", strerror(errno));
        }
        f->read_fd = fds[0];
        f->write_fd = fds[1];
        int r = k8s_log_stream_open(b->kube, plan_str(plan, "namespace"), plan_str(plan, "pod_name"),
                                    ecs_json_str(container, "k8s_name", ""), follow_data, follow_end, f,
                                    LOG_ANSWER_WAIT_MS, &f->stream, e);
        count_call(b);
        if (r < 0) {
                close(fds[0]);
                close(fds[1]);
                free(f);
                return r;
        }
        *ret_fd = f->read_fd;
        *ret_handle = f;
        return 0;
}

static int op_exec(void *impl, const json_t *plan, const json_t *container, const char *const *argv, int *ret_fd,
                   void **ret_handle, struct err *e) {
        struct k8s_backend *b = impl;
        struct k8s_exec *x = NULL;
        int r = k8s_exec_open(b->kube, plan_str(plan, "namespace"), plan_str(plan, "pod_name"),
                              ecs_json_str(container, "k8s_name", ""), argv, ret_fd, &x, e);
        count_call(b);
        if (r < 0)
                return r;
        *ret_handle = x;
        return 0;
}

static int op_exec_end(void *impl, void *handle, int64_t wait_ms) {
        (void) impl;
        return k8s_exec_end(handle, wait_ms);
}

static void op_follow_close(void *impl, void *handle) {
        (void) impl;
        struct follow *f = handle;
        close(f->read_fd); /* a write blocked on a full pipe fails now, which ends the stream */
        k8s_log_stream_close(f->stream);
        free(f);
}

/* Wait until the Pod is gone; past the deadline, force its deletion (grace 0) and wait a little more. The Pod's
 * captured output goes with it. */
static int op_teardown(void *impl, const json_t *plan, struct err *e) {
        struct k8s_backend *b = impl;
        const char *ns = plan_str(plan, "namespace"), *name = plan_str(plan, "pod_name");
        captures_drop(b, ns, name);
        int r = delete_once(b, plan, false, e);
        if (r < 0)
                return r;
        int64_t deadline = time_mono_ms() + grace_ms(plan) + STOP_MARGIN_S * 1000;
        bool forced = false;
        pthread_mutex_lock(&b->lock);
        for (;;) {
                if (!pod_find(b, ns, name) || b->closing)
                        break;
                if (time_mono_ms() >= deadline) {
                        if (forced)
                                break;
                        pthread_mutex_unlock(&b->lock);
                        log_warn("k8s", "\"pod not gone after its grace period; forcing\" pod=%s/%s", ns, name);
                        r = delete_pod(b, ns, name, 0, e);
                        pthread_mutex_lock(&b->lock);
                        forced = true;
                        deadline = time_mono_ms() + STOP_MARGIN_S * 1000;
                        continue;
                }
                wait_pod(b, ns, name, deadline);
        }
        struct pod *p = pod_find(b, ns, name);
        if (p && r == 0 && !b->closing)
                r = err_set(e, -ETIMEDOUT, ERR_KIND_INTERNAL, "the Pod %s/%s is still there after a forced delete",
                            ns, name);
        pthread_mutex_unlock(&b->lock);
        return r;
}

static int op_observe(void *impl, json_t **ret, struct err *e) {
        struct k8s_backend *b = impl;
        pthread_mutex_lock(&b->lock);
        if (!b->synced) {
                pthread_mutex_unlock(&b->lock);
                return err_set(e, -EAGAIN, ERR_KIND_INTERNAL, "the Pod watch has not listed the Pods yet");
        }
        json_t *out = json_array();
        for (struct pod *p = b->pods; p; p = p->next)
                for (size_t i = 0; i < p->n; i++) {
                        const struct cstatus *cs = &p->c[i];
                        const struct observed o = cs->seen;
                        json_t *c = json_pack("{s:s, s:s, s:b, s:b}", "task_id", p->task_id, "container",
                                              cs->ecs_name, "running", o.started && !o.ended, "oom", o.oom);
                        if (o.ended)
                                json_object_set_new(c, "exit_code", json_integer(o.exit_code));
                        if (cs->health_check && o.started)
                                json_object_set_new(c, "health", json_string(o.ready ? "HEALTHY" : "UNHEALTHY"));
                        json_array_append_new(out, c);
                }
        pthread_mutex_unlock(&b->lock);
        *ret = out;
        return 0;
}

static int op_sweep_task(void *impl, const char *task_id, struct err *e) {
        struct k8s_backend *b = impl;
        char ns[256] = "", name[256] = "";
        pthread_mutex_lock(&b->lock);
        struct pod *p = pod_find_task(b, task_id);
        if (p && !p->deleting) {
                p->deleting = true;
                str_printf(ns, sizeof(ns), "%s", p->ns);
                str_printf(name, sizeof(name), "%s", p->name);
        }
        pthread_mutex_unlock(&b->lock);
        return *name ? delete_pod(b, ns, name, -1, e) : 0;
}

static void op_cancel(void *impl, const json_t *plan) {
        struct k8s_backend *b = impl;
        pthread_mutex_lock(&b->lock);
        struct pod *p = pod_find(b, plan_str(plan, "namespace"), plan_str(plan, "pod_name"));
        if (p) {
                p->cancelled = true;
                wake_pod(b, p->ns, p->name);
        }
        pthread_cond_broadcast(&b->changed);
        pthread_mutex_unlock(&b->lock);
}

static json_t *op_counters(void *impl) {
        return k8s_backend_counters(impl);
}

/* ---- life ---- */

int k8s_backend_new(const struct k8s_backend_config *cfg, struct rt_backend *ops, struct k8s_backend **ret,
                    struct err *e) {
        if (!cfg->kube || !cfg->owner || !cfg->namespace_ || !cfg->metadata_endpoint)
                return err_set(e, -EINVAL, ERR_KIND_INTERNAL, "k8s backend: incomplete configuration");
        struct k8s_backend *b = xcalloc(1, sizeof(*b));
        b->kube = cfg->kube;
        b->owner = xstrdup(cfg->owner);
        b->namespace_ = xstrdup(cfg->namespace_);
        b->node_name = cfg->node_name ? xstrdup(cfg->node_name) : NULL;
        b->metadata_endpoint = xstrdup(cfg->metadata_endpoint);
        b->credentials_endpoint = cfg->credentials_endpoint ? xstrdup(cfg->credentials_endpoint) : NULL;
        b->ns_mode = cfg->ns_mode;
        b->default_stop_timeout_s = cfg->default_stop_timeout_s > 0 ? cfg->default_stop_timeout_s
                                                                   : K8S_STOP_TIMEOUT_DEFAULT_S;
        b->start_timeout_s = cfg->start_timeout_s > 0 ? cfg->start_timeout_s : K8S_START_TIMEOUT_DEFAULT_S;
        char owner[64];
        k8s_label_value(cfg->owner, owner, sizeof(owner));
        str_printf(b->selector, sizeof(b->selector), "%s=%s", K8S_LABEL_OWNER, owner);
        pthread_mutex_init(&b->lock, NULL);
        pthread_cond_init(&b->changed, NULL);
        b->nodes = json_object();
        pthread_mutex_init(&b->nodes_lock, NULL);
        pthread_cond_init(&b->nodes_listed, NULL);

        struct pooled_client pc;
        struct err ve = {0};
        int r = take_client(b, &pc, e);
        if (r < 0) {
                k8s_backend_free(b);
                return r;
        }
        if (k8s_client_native_sidecars(pc.client, &b->native_sidecars, &ve) < 0)
                log_warn("k8s", "\"cannot read the server version; native sidecars not used\" error=\"%s\"", ve.msg);
        give_client(b, &pc);

        *ops = (struct rt_backend){
                .name = "k8s",
                .impl = b,
                .plan = op_plan,
                .setup = op_setup,
                .pull = op_pull,
                .create = op_create,
                .start = op_start,
                .stop = op_stop,
                .logs = op_logs,
                .follow = op_follow,
                .follow_close = op_follow_close,
                .exec = op_exec,
                .exec_end = op_exec_end,
                .teardown = op_teardown,
                .observe = op_observe,
                .sweep_task = op_sweep_task,
                .cancel = op_cancel,
                .counters = op_counters,
                .hosts = op_hosts,
        };
        *ret = b;
        return 0;
}

int k8s_backend_start(struct k8s_backend *b, const struct k8s_backend_hooks *hooks, struct err *e) {
        b->hooks = *hooks;
        /* Nodes are the container instances; a server that refuses the watch (no rights on nodes) leaves none, and
         * tasks go wherever the Pod's spec sends them, as before. */
        struct err ne = {0};
        if (k8s_watch_start_nodes(b->kube, on_node_watch, b, &b->node_watch, &ne) < 0)
                log_warn("k8s", "\"cannot watch nodes; no container instances\" error=\"%s\"", ne.msg);
        /* One namespace: a watch of it. One per cluster: one watch of every namespace, since clusters come and go. */
        return k8s_watch_start(b->kube, b->ns_mode == K8S_NS_FIXED ? b->namespace_ : NULL, b->selector, on_watch, b,
                               &b->watch, e);
}

void k8s_backend_stop(struct k8s_backend *b) {
        if (!b)
                return;
        k8s_watch_stop(b->watch);
        b->watch = NULL;
        k8s_watch_stop(b->node_watch);
        b->node_watch = NULL;
        pthread_mutex_lock(&b->lock);
        b->closing = true;
        for (struct capture *c = b->captures; c; c = c->next)
                k8s_log_stream_cancel(c->stream);
        wake_pod(b, NULL, NULL);
        pthread_cond_broadcast(&b->changed);
        pthread_mutex_unlock(&b->lock);
}

void k8s_backend_free(struct k8s_backend *b) {
        if (!b)
                return;
        k8s_backend_stop(b);
        captures_drop(b, NULL, NULL);
        for (size_t i = 0; i < b->n_pool; i++)
                k8s_client_free(b->pool[i].client);
        while (b->pods) {
                struct pod *p = b->pods;
                b->pods = p->next;
                pod_free(p);
        }
        json_decref(b->nodes);
        pthread_mutex_destroy(&b->nodes_lock);
        pthread_cond_destroy(&b->nodes_listed);
        pthread_cond_destroy(&b->changed);
        pthread_mutex_destroy(&b->lock);
        free(b->owner);
        free(b->namespace_);
        free(b->node_name);
        free(b->metadata_endpoint);
        free(b->credentials_endpoint);
        free(b);
}

json_t *k8s_backend_counters(struct k8s_backend *b) {
        struct k8s_watch_stats ws = {0};
        if (b->watch)
                k8s_watch_get_stats(b->watch, &ws);
        pthread_mutex_lock(&b->lock);
        size_t n = 0;
        for (struct pod *p = b->pods; p; p = p->next)
                n++;
        json_t *out = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "api_calls", (json_int_t) b->calls, "watch_calls",
                                (json_int_t) ws.calls, "watch_relists_410", (json_int_t) ws.relists_410,
                                "watch_reconnects", (json_int_t) ws.reconnects, "pods", (json_int_t) n,
                                "starts_cancelled", (json_int_t) b->starts_cancelled);
        pthread_mutex_unlock(&b->lock);
        return out;
}
