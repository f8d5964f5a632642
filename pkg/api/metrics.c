/* metrics.c — GET /_ecsd/metrics: ecsd's counters in the Prometheus text exposition format (version 0.0.4).
 *
 * What it owns: per ECS action, the calls by outcome (OK or the error's __type) and a latency histogram. Those are
 * plain 64-bit counters in one fixed block, bumped with relaxed atomic adds by whichever HTTP thread served the call
 * (no lock on the request path) and read the same way when a scrape renders them; a scrape may see one call counted
 * in the total and not yet in a bucket, which Prometheus tolerates. The lifecycle's and the backend's own counters
 * (rt_lifecycle_counters, the same numbers as /_ecsd/stats) are read at scrape time and renamed here. */
#include "api-internal.h"

#include <stdio.h>
#include <string.h>

#include "lifecycle.h"

/* Every error kind, plus slot 0 for success. */
#define N_OUTCOMES (ERR_KIND_COUNT + 1)
/* Upper bounds of the latency buckets, in microseconds; +Inf is implied. */
static const int64_t bucket_us[] = {1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000};
#define N_BUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))

struct action_counters {
        uint64_t outcome[N_OUTCOMES];
        uint64_t bucket[N_BUCKETS]; /* not cumulative: bucket i counts calls in (bound i-1, bound i] */
        uint64_t count;
        uint64_t sum_us;
};

struct api_metrics {
        size_t n_actions;                 /* api_action_count(); slot n_actions counts calls with no known action */
        struct action_counters actions[]; /* n_actions + 1 */
};

struct api_metrics *api_metrics_new(void) {
        size_t n = api_action_count();
        struct api_metrics *m = xcalloc(1, sizeof(*m) + (n + 1) * sizeof(struct action_counters));
        m->n_actions = n;
        return m;
}

void api_metrics_free(struct api_metrics *m) {
        free(m);
}

void api_metrics_observe(struct api_metrics *m, size_t action, int kind, int64_t duration_us) {
        if (!m)
                return;
        if (action > m->n_actions)
                action = m->n_actions;
        struct action_counters *c = &m->actions[action];
        size_t outcome = kind < 0 ? 0 : (size_t) kind + 1;
        if (outcome >= N_OUTCOMES)
                outcome = (size_t) ERR_KIND_INTERNAL + 1;
        if (duration_us < 0)
                duration_us = 0;
        __atomic_fetch_add(&c->outcome[outcome], 1, __ATOMIC_RELAXED);
        for (size_t i = 0; i < N_BUCKETS; i++)
                if (duration_us <= bucket_us[i]) {
                        __atomic_fetch_add(&c->bucket[i], 1, __ATOMIC_RELAXED);
                        break;
                }
        __atomic_fetch_add(&c->sum_us, (uint64_t) duration_us, __ATOMIC_RELAXED);
        __atomic_fetch_add(&c->count, 1, __ATOMIC_RELAXED);
}

static uint64_t load(const uint64_t *p) {
        return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static const char *action_label(const struct api_metrics *m, size_t i) {
        return i < m->n_actions ? api_action_name(i) : "unknown";
}

static void render_api(FILE *f, const struct api_metrics *m) {
        fputs("# HELP ecsd_api_requests_total ECS API calls by action and outcome (OK, or the error's __type).\n"
              "# TYPE ecsd_api_requests_total counter\n",
              f);
        for (size_t i = 0; i <= m->n_actions; i++)
                for (size_t o = 0; o < N_OUTCOMES; o++) {
                        uint64_t n = load(&m->actions[i].outcome[o]);
                        if (n)
                                fprintf(f, "ecsd_api_requests_total{action=\"%s\",code=\"%s\"} %llu\n",
                                        action_label(m, i), o == 0 ? "OK" : ecs_error_type((int) o - 1),
                                        (unsigned long long) n);
                }
        fputs("# HELP ecsd_api_request_duration_seconds Time from a call's arrival to its answer, by action.\n"
              "# TYPE ecsd_api_request_duration_seconds histogram\n",
              f);
        for (size_t i = 0; i <= m->n_actions; i++) {
                const struct action_counters *c = &m->actions[i];
                uint64_t count = load(&c->count);
                if (!count)
                        continue;
                const char *a = action_label(m, i);
                uint64_t cumulative = 0;
                for (size_t b = 0; b < N_BUCKETS; b++) {
                        cumulative += load(&c->bucket[b]);
                        fprintf(f, "ecsd_api_request_duration_seconds_bucket{action=\"%s\",le=\"%g\"} %llu\n", a,
                                (double) bucket_us[b] / 1e6, (unsigned long long) cumulative);
                }
                fprintf(f, "ecsd_api_request_duration_seconds_bucket{action=\"%s\",le=\"+Inf\"} %llu\n", a,
                        (unsigned long long) count);
                fprintf(f, "ecsd_api_request_duration_seconds_sum{action=\"%s\"} %.6f\n", a,
                        (double) load(&c->sum_us) / 1e6);
                fprintf(f, "ecsd_api_request_duration_seconds_count{action=\"%s\"} %llu\n", a,
                        (unsigned long long) count);
        }
}

/* The backend's counters under stable metric names; a counter this table does not know is still exported, as
 * untyped ecsd_backend_<name>. */
static const struct {
        const char *key, *name, *type, *help;
} backend_metrics[] = {
        {"api_calls", "ecsd_backend_api_calls_total", "counter", "Calls ecsd made to the backend's API."},
        {"watch_calls", "ecsd_backend_watch_requests_total", "counter", "Watch requests the backend opened."},
        {"watch_reconnects", "ecsd_backend_watch_reconnects_total", "counter",
         "Times the backend's watch or event stream was reconnected."},
        {"watch_relists_410", "ecsd_backend_watch_relists_total", "counter",
         "Full relists after the API server answered 410 Gone."},
        {"pods", "ecsd_backend_pods", "gauge", "Pods the backend knows."},
        {"starts_cancelled", "ecsd_backend_starts_cancelled_total", "counter",
         "Container start waits that a stop ended."},
};

/* The lifecycle's event-to-state lag ({"buckets": [{"le_ms", "count"}...], "sum_ms"}, buckets not cumulative, the
 * last one +Inf) as a histogram in seconds. */
static void render_event_lag(FILE *f, const char *backend, const json_t *lag) {
        fputs("# HELP ecsd_event_to_state_lag_seconds From the backend seeing a container event (docker's event time, "
              "a Kubernetes watch event's arrival) to the task's new state being stored.\n"
              "# TYPE ecsd_event_to_state_lag_seconds histogram\n",
              f);
        uint64_t cumulative = 0;
        size_t i;
        const json_t *b;
        json_array_foreach(json_object_get(lag, "buckets"), i, b) {
                cumulative += (uint64_t) json_integer_value(json_object_get(b, "count"));
                json_int_t le_ms = json_integer_value(json_object_get(b, "le_ms"));
                if (le_ms < 0)
                        fprintf(f, "ecsd_event_to_state_lag_seconds_bucket{backend=\"%s\",le=\"+Inf\"} %llu\n",
                                backend, (unsigned long long) cumulative);
                else
                        fprintf(f, "ecsd_event_to_state_lag_seconds_bucket{backend=\"%s\",le=\"%g\"} %llu\n",
                                backend, (double) le_ms / 1e3, (unsigned long long) cumulative);
        }
        fprintf(f,
                "ecsd_event_to_state_lag_seconds_sum{backend=\"%s\"} %.3f\n"
                "ecsd_event_to_state_lag_seconds_count{backend=\"%s\"} %llu\n",
                backend, (double) json_integer_value(json_object_get(lag, "sum_ms")) / 1e3, backend,
                (unsigned long long) cumulative);
}

/* The lifecycle's gauges: its counter's key, the metric, and the metric's help. */
static const struct {
        const char *key, *name, *help;
} lifecycle_gauges[] = {
        {"live_tasks", "ecsd_tasks_live", "Tasks not yet STOPPED that the lifecycle tracks."},
        {"workers", "ecsd_lifecycle_workers", "Launches (running or queued) and stops in progress."},
        {"launchers", "ecsd_lifecycle_launchers", "Launcher threads alive (at most 64)."},
        {"launches_queued", "ecsd_lifecycle_launches_queued", "Launches waiting for a launcher thread."},
        {"tasks_decoded", "ecsd_tasks_decoded", "Live tasks whose documents are held decoded, not at rest as text."},
};

static void render_lifecycle(FILE *f, struct rt_lifecycle *lc) {
        json_auto_t *c = rt_lifecycle_counters(lc);
        const char *backend = ecs_json_str(c, "backend", "none");
        for (size_t i = 0; i < ARRAY_SIZE(lifecycle_gauges); i++)
                fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n%s{backend=\"%s\"} %lld\n", lifecycle_gauges[i].name,
                        lifecycle_gauges[i].help, lifecycle_gauges[i].name, lifecycle_gauges[i].name, backend,
                        (long long) json_integer_value(json_object_get(c, lifecycle_gauges[i].key)));
        const char *key;
        json_t *v;
        fputs("# HELP ecsd_tasks Live tasks (not yet forgotten at STOPPED) by lastStatus.\n"
              "# TYPE ecsd_tasks gauge\n",
              f);
        json_object_foreach(json_object_get(c, "tasks_by_status"), key, v)
                fprintf(f, "ecsd_tasks{backend=\"%s\",last_status=\"%s\"} %lld\n", backend, key,
                        (long long) json_integer_value(v));
        fputs("# HELP ecsd_task_stops_total Tasks that reached STOPPED, by stopCode.\n"
              "# TYPE ecsd_task_stops_total counter\n",
              f);
        json_object_foreach(json_object_get(c, "stops_by_code"), key, v)
                fprintf(f, "ecsd_task_stops_total{backend=\"%s\",stop_code=\"%s\"} %lld\n", backend, key,
                        (long long) json_integer_value(v));
        render_event_lag(f, backend, json_object_get(c, "event_lag"));
        json_t *stats = json_object_get(c, "backend_stats");
        json_object_foreach(stats, key, v) {
                if (!json_is_integer(v))
                        continue;
                const char *name = NULL, *type = "untyped", *help = "A backend counter.";
                for (size_t i = 0; i < ARRAY_SIZE(backend_metrics); i++)
                        if (strcmp(backend_metrics[i].key, key) == 0) {
                                name = backend_metrics[i].name;
                                type = backend_metrics[i].type;
                                help = backend_metrics[i].help;
                        }
                char generic[96];
                if (!name) {
                        /* A metric name allows [a-zA-Z0-9_:]; anything else in the key becomes '_'. */
                        snprintf(generic, sizeof(generic), "ecsd_backend_%s", key);
                        for (char *p = generic; *p; p++)
                                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                                      (*p >= '0' && *p <= '9') || *p == '_'))
                                        *p = '_';
                        name = generic;
                }
                fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s{backend=\"%s\"} %lld\n", name, help, name, type, name,
                        backend, (long long) json_integer_value(v));
        }
}

bool api_metrics_handle(struct api *api, const struct api_request *req, struct api_response *resp) {
        if (strcmp(req->path, "/_ecsd/metrics") != 0)
                return false;
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                abort();
        fprintf(f,
                "# HELP ecsd_build_info The running ecsd's version.\n"
                "# TYPE ecsd_build_info gauge\n"
                "ecsd_build_info{version=\"%s\"} 1\n",
                ECSD_VERSION);
        render_api(f, api->metrics);
        struct rt_lifecycle *lc = api_lifecycle(api);
        if (lc)
                render_lifecycle(f, lc);
        if (fclose(f) != 0 || !buf)
                abort();
        resp->status = 200;
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        resp->body = buf;
        resp->body_len = len;
        return true;
}
