/* express.c — the ingress and the health checks of express gateway services (see express.h,
 * docs/internals/express.md).
 *
 * Records: one per express service, in the store's generic records table (kind "express-gateway", region "*", key
 * "REGION/CLUSTER/NAME", so the checker finds every region's with one listing). The API writes them; the checker
 * only reads them.
 *
 * The checker thread wakes every interval, lists the records, and for each ACTIVE service GETs the health check path
 * of every RUNNING task at the task's own published port on 127.0.0.1 (Docker). It never connects anywhere else: the
 * address and port come from the task's network bindings, nothing from the request. Consecutive failures are
 * counted per task in `fails`, which only this thread touches; at the threshold the task gets a service event and
 * is stopped (ServiceSchedulerInitiated), and the scheduler starts its replacement as for any task that stops. On
 * Kubernetes ecsd does not learn a Pod's address, so nothing is checked there (the Service still selects only Ready
 * Pods). */
#include "express.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ecs.h"

#define KIND "express-gateway"
#define REGION_ALL "*"
#define KEY_MAX (ECS_REGION_MAX + 2 * ECS_NAME_MAX + 3)

struct rt_express {
        struct rt_store *store;
        struct rt_lifecycle *lc;
        struct rt_scheduler *sched;
        bool host_ports;
        struct rt_express_ingress ingress;
        bool has_ingress;
        char *endpoint_base;
        int64_t interval_ms, timeout_ms;
        int threshold;

        pthread_mutex_t lock;
        pthread_cond_t cond; /* CLOCK_MONOTONIC */
        bool stop;
        bool started;
        pthread_t thread;
        json_t *fails; /* {task id: consecutive failures}; the checker thread's own */
};

static void record_key(char *buf, size_t size, const char *region, const char *cluster, const char *name) {
        str_printf(buf, size, "%s/%s/%s", region, cluster, name);
}

bool rt_express_host_ports(const struct rt_express *x) {
        return x->host_ports;
}

int rt_express_get(struct rt_express *x, const char *region, const char *cluster, const char *name, json_t **ret,
                   struct err *e) {
        char key[KEY_MAX];
        record_key(key, sizeof(key), region, cluster, name);
        struct err ge = {0};
        int r = rt_record_get(x->store, REGION_ALL, KIND, key, ret, &ge);
        if (r < 0 && r != -ENOENT)
                *e = ge;
        return r;
}

int rt_express_put(struct rt_express *x, const char *region, const char *cluster, const char *name, const json_t *doc,
                   struct err *e) {
        char key[KEY_MAX];
        record_key(key, sizeof(key), region, cluster, name);
        return rt_record_put(x->store, REGION_ALL, KIND, key, doc, e);
}

int rt_express_expose(struct rt_express *x, const char *region, const char *cluster, const char *name,
                      const char *family, int container_port, int host_port, char *endpoint, size_t size,
                      struct err *e) {
        if (!x->host_ports) {
                if (!x->has_ingress)
                        return err_set(e, -ENOTSUP, ERR_KIND_UNSUPPORTED_FEATURE,
                                       "This ecsd has no way to make express gateway services reachable.");
                int r = x->ingress.expose(x->ingress.userdata, region, cluster, name, family, container_port,
                                          endpoint, size, e);
                if (r < 0)
                        return r;
        } else {
                str_printf(endpoint, size, "http://127.0.0.1:%d/", host_port);
        }
        if (x->endpoint_base)
                str_printf(endpoint, size, "%s/%s/%s/", x->endpoint_base, cluster, name);
        return 0;
}

int rt_express_unexpose(struct rt_express *x, const char *region, const char *cluster, const char *name,
                        struct err *e) {
        if (x->host_ports || !x->has_ingress)
                return 0;
        return x->ingress.unexpose(x->ingress.userdata, region, cluster, name, e);
}

int rt_express_free_port(int *ret, struct err *e) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return err_set(e, -errno, ERR_KIND_INTERNAL, "socket: %s", strerror(errno));
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        int r = 0;
        if (bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *) &a, &len) < 0)
                r = err_set(e, -errno, ERR_KIND_INTERNAL, "no free port on 127.0.0.1: %s", strerror(errno));
        else
                *ret = ntohs(a.sin_port);
        close(fd);
        return r;
}

/* Wait for `fd` to be ready for `events` until the monotonic `deadline_ms`. */
static int wait_fd(int fd, short events, int64_t deadline_ms) {
        for (;;) {
                int64_t left = deadline_ms - time_mono_ms();
                if (left <= 0)
                        return -ETIMEDOUT;
                struct pollfd p = {.fd = fd, .events = events};
                int n = poll(&p, 1, (int) left);
                if (n > 0)
                        return 0;
                if (n < 0 && errno != EINTR)
                        return -errno;
        }
}

int rt_express_probe(const char *addr, int port, const char *path, int64_t timeout_ms) {
        struct sockaddr_storage ss = {0};
        socklen_t slen;
        struct sockaddr_in *a4 = (struct sockaddr_in *) &ss;
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *) &ss;
        if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
                a4->sin_family = AF_INET;
                a4->sin_port = htons((uint16_t) port);
                slen = sizeof(*a4);
        } else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
                a6->sin6_family = AF_INET6;
                a6->sin6_port = htons((uint16_t) port);
                slen = sizeof(*a6);
        } else {
                return -EINVAL;
        }
        if (port < 1 || port > 65535 || !path || path[0] != '/' || strpbrk(path, "\r\n \t"))
                return -EINVAL;
        int64_t deadline = time_mono_ms() + timeout_ms;
        _cleanup_close_ int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &ss, slen) < 0) {
                if (errno != EINPROGRESS)
                        return -errno;
                int r = wait_fd(fd, POLLOUT, deadline);
                if (r < 0)
                        return r;
                int soerr = 0;
                socklen_t l = sizeof(soerr);
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &l) < 0)
                        return -errno;
                if (soerr)
                        return -soerr;
        }
        char req[2200];
        int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s:%d\r\nUser-Agent: ecsd-express-health\r\n\r\n",
                         path, addr, port);
        if (n < 0 || (size_t) n >= sizeof(req))
                return -ENAMETOOLONG;
        size_t sent = 0;
        while (sent < (size_t) n) {
                ssize_t w = send(fd, req + sent, (size_t) n - sent, MSG_NOSIGNAL);
                if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
                        int r = wait_fd(fd, POLLOUT, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (w < 0)
                        return -errno;
                sent += (size_t) w;
        }
        /* Only the status line matters: read until it is complete (capped), then close. */
        char buf[128];
        size_t got = 0;
        while (got < sizeof(buf) - 1 && !memchr(buf, '\n', got)) {
                ssize_t rd = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
                if (rd < 0 && (errno == EAGAIN || errno == EINTR)) {
                        int r = wait_fd(fd, POLLIN, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (rd < 0)
                        return -errno;
                if (rd == 0)
                        break;
                got += (size_t) rd;
        }
        buf[got] = '\0';
        int major = 0, minor = 0, status = 0;
        if (sscanf(buf, "HTTP/%d.%d %3d", &major, &minor, &status) != 3 || status < 100 || status > 599)
                return -EPROTO;
        return status;
}

/* The host port a task's primary container publishes `container_port` on, or 0. */
static int task_host_port(const json_t *task, int64_t container_port) {
        size_t i, k;
        const json_t *c, *b;
        json_array_foreach(json_object_get(task, "containers"), i, c) {
                if (!str_eq(ecs_json_str(c, "name", ""), RT_EXPRESS_CONTAINER))
                        continue;
                json_array_foreach(json_object_get(c, "networkBindings"), k, b) {
                        int64_t cp = 0, hp = 0;
                        if (ecs_json_int(b, "containerPort", &cp) && cp == container_port &&
                            ecs_json_int(b, "hostPort", &hp) && hp > 0 && hp <= 65535)
                                return (int) hp;
                }
        }
        return 0;
}

/* Check the RUNNING tasks of one express service; `seen` collects their ids. */
static void check_service(struct rt_express *x, const json_t *rec, json_t *seen) {
        const char *region = ecs_json_str(rec, "region", ""), *cluster = ecs_json_str(rec, "cluster", "");
        const char *name = ecs_json_str(rec, "serviceName", ""), *path = ecs_json_str(rec, "healthCheckPath", "/ping");
        int64_t cport = 0;
        ecs_json_int(rec, "containerPort", &cport);
        json_auto_t *svc = NULL;
        struct err e = {0};
        if (rt_service_get(x->store, region, cluster, name, &svc, NULL, &e) < 0 ||
            !str_eq(ecs_json_str(svc, "status", ""), "ACTIVE"))
                return;
        char group[ECS_NAME_MAX + 16];
        str_printf(group, sizeof(group), "service:%s", name);
        json_auto_t *tasks = rt_lifecycle_tasks(x->lc, region, cluster, group);
        size_t i;
        const json_t *t;
        json_array_foreach(tasks, i, t) {
                const char *id = ecs_json_str(t, "id", "");
                if (!str_eq(ecs_json_str(t, "lastStatus", ""), "RUNNING") ||
                    !str_eq(ecs_json_str(t, "desiredStatus", ""), "RUNNING"))
                        continue;
                json_auto_t *doc = NULL;
                if (rt_lifecycle_task(x->lc, id, &doc, NULL, &e) < 0)
                        continue;
                int hport = task_host_port(doc, cport);
                if (hport == 0)
                        continue;
                json_object_set_new(seen, id, json_true());
                int status = rt_express_probe("127.0.0.1", hport, path, x->timeout_ms);
                if (status >= 200 && status < 400) {
                        log_debug("express", "\"health check passed\" service=%s task=%s path=%s port=%d status=%d",
                                  name, id, path, hport, status);
                        json_object_del(x->fails, id);
                        continue;
                }
                json_int_t n = json_integer_value(json_object_get(x->fails, id)) + 1;
                json_object_set_new(x->fails, id, json_integer(n));
                char what[64];
                if (status > 0)
                        str_printf(what, sizeof(what), "answered %d", status);
                else
                        str_printf(what, sizeof(what), "failed: %s", strerror(-status));
                log_info("express",
                         "\"health check failed\" service=%s task=%s path=%s port=%d result=\"%s\" count=%lld", name,
                         id, path, hport, what, (long long) n);
                if (n < x->threshold)
                        continue;
                json_object_del(x->fails, id);
                char msg[1024], reason[512];
                str_printf(msg, sizeof(msg),
                           "(service %s) (task %s) failed ELB health checks in (express gateway service %s: GET %s "
                           "%s).",
                           name, id, name, path, what);
                str_printf(reason, sizeof(reason), "Task failed ELB health checks in (express gateway service %s)",
                           name);
                if (rt_scheduler_add_event(x->sched, region, cluster, name, msg, &e) < 0)
                        continue; /* deleted meanwhile: its tasks are stopping anyway */
                if (rt_lifecycle_stop(x->lc, id, "ServiceSchedulerInitiated", reason, NULL, &e) < 0)
                        log_warn("express", "\"could not stop unhealthy task\" task=%s error=\"%s\"", id, e.msg);
        }
}

static void check_round(struct rt_express *x) {
        json_auto_t *seen = json_object();
        char after[KEY_MAX] = "";
        for (;;) {
                json_auto_t *page = NULL;
                struct err e = {0};
                if (rt_record_list(x->store, REGION_ALL, KIND, after[0] ? after : NULL, 100, &page, &e) < 0) {
                        log_warn("express", "\"cannot list express services\" error=\"%s\"", e.msg);
                        return;
                }
                size_t i;
                const json_t *row;
                json_array_foreach(page, i, row) {
                        check_service(x, json_object_get(row, "doc"), seen);
                        str_printf(after, sizeof(after), "%s", ecs_json_str(row, "key", ""));
                }
                if (json_array_size(page) < 100)
                        break;
        }
        /* Forget the counts of tasks that are gone or no longer checked. */
        const char *id;
        json_t *v, *tmp;
        json_object_foreach_safe(x->fails, tmp, id, v) {
                if (!json_object_get(seen, id))
                        json_object_del(x->fails, id);
        }
}

static void *checker(void *arg) {
        struct rt_express *x = arg;
        pthread_mutex_lock(&x->lock);
        while (!x->stop) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_sec += x->interval_ms / 1000;
                ts.tv_nsec += (x->interval_ms % 1000) * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                while (!x->stop && pthread_cond_timedwait(&x->cond, &x->lock, &ts) != ETIMEDOUT)
                        ;
                if (x->stop)
                        break;
                pthread_mutex_unlock(&x->lock);
                check_round(x);
                pthread_mutex_lock(&x->lock);
        }
        pthread_mutex_unlock(&x->lock);
        return NULL;
}

int rt_express_new(const struct rt_express_config *cfg, struct rt_express **ret, struct err *e) {
        struct rt_express *x = xcalloc(1, sizeof(*x));
        x->store = cfg->store;
        x->lc = cfg->lifecycle;
        x->sched = cfg->scheduler;
        x->host_ports = cfg->host_ports;
        if (cfg->ingress && cfg->ingress->expose && cfg->ingress->unexpose) {
                x->ingress = *cfg->ingress;
                x->has_ingress = true;
        }
        if (cfg->endpoint_base && *cfg->endpoint_base) {
                x->endpoint_base = xstrdup(cfg->endpoint_base);
                size_t n = strlen(x->endpoint_base);
                while (n > 0 && x->endpoint_base[n - 1] == '/')
                        x->endpoint_base[--n] = '\0';
        }
        x->interval_ms = cfg->interval_ms > 0 ? cfg->interval_ms : 10000;
        x->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 2000;
        if (x->timeout_ms > x->interval_ms)
                x->timeout_ms = x->interval_ms;
        x->threshold = cfg->unhealthy_threshold > 0 ? cfg->unhealthy_threshold : 2;
        x->fails = json_object();
        pthread_mutex_init(&x->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&x->cond, &ca);
        pthread_condattr_destroy(&ca);
        int r = pthread_create(&x->thread, NULL, checker, x);
        if (r != 0) {
                rt_express_free(x);
                return err_set(e, -r, ERR_KIND_INTERNAL, "express health checker: %s", strerror(r));
        }
        x->started = true;
        *ret = x;
        return 0;
}

void rt_express_free(struct rt_express *x) {
        if (!x)
                return;
        if (x->started) {
                pthread_mutex_lock(&x->lock);
                x->stop = true;
                pthread_cond_signal(&x->cond);
                pthread_mutex_unlock(&x->lock);
                pthread_join(x->thread, NULL);
        }
        pthread_cond_destroy(&x->cond);
        pthread_mutex_destroy(&x->lock);
        json_decref(x->fails);
        free(x->endpoint_base);
        free(x);
}
