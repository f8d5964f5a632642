/* lifecycle.c — the ECS task state machine over any backend (see lifecycle.h, docs/internals/lifecycle.md).
 *
 * State: every task not yet STOPPED has a `struct task` in `lc->tasks`, guarded by `lc->lock`. Its `doc` is the ECS
 * Task object; it is changed only under the lock and written to the store after each change, before the lock is
 * released, so what DescribeTasks reads is never ahead of or behind the lifecycle. A task with no worker keeps `doc`
 * and `priv` as text (task_rest) and decodes them when used (task_doc). Backend calls (docker CLI, Kubernetes API)
 * are made without the lock.
 *
 * Threads:
 * - a *worker* per task while it launches or stops (launch_worker, stop_worker). A task has at most one worker
 *   (`task->worker`); a running task has none and costs no thread. Launches run on a pool of at most LAUNCHERS_MAX
 *   launcher threads (spawn_launch) and wait queued for one; a stop has a thread of its own;
 * - the backend's event thread calls rt_lifecycle_event/rt_lifecycle_resync; they only update state, wake workers
 *   (`lc->changed`) and start a stop worker when an essential container exits;
 * - the janitor forgets STOPPED tasks after the retention time.
 *
 * The desired-STOPPED race: StopTask only sets `stop_requested` (and desiredStatus). The launch worker checks it
 * after every step and while waiting on a gate, and turns into the stop path instead of ever setting RUNNING. */
#include "lifecycle.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "ecs.h"
#include "exec.h"

#define STOPPED_BY_USER_DEFAULT "Task stopped by user"
#define STOPPED_DURING_LAUNCH "Task stopped during launch"
#define ESSENTIAL_EXITED "Essential container in task exited"

/* The stop codes ECS defines, counted per code for operators (rt_lifecycle_counters); any other goes to "other". */
static const char *const stop_codes[] = {"EssentialContainerExited", "UserInitiated", "TaskFailedToStart",
                                         "ServiceSchedulerInitiated"};
#define N_STOP_CODES (sizeof(stop_codes) / sizeof(stop_codes[0]))
#define DEPENDENCY_WAIT_DEFAULT_MS (10 * 60 * 1000)
/* After `docker stop` returns, the die event carrying the exit code follows within milliseconds; wait this long for
 * it before asking the backend directly. */
#define EXIT_CODE_WAIT_MS 2000
#define LOG_CAPTURE_CAP (1024 * 1024)
/* Launches run on at most this many threads (launchers); more wait in a queue, PROVISIONING. A launch's thread
 * mostly waits (for an image, for a Pod's container to start, for a dependency), so a thread per launch made 5,000
 * launches cost 5,000 stacks and per-thread allocator caches (~150 KB each). A launcher left idle this long ends. */
#define LAUNCHERS_MAX 64
#define LAUNCHER_IDLE_MS 5000
/* Upper bounds (ms) of the event-to-state lag histogram: from the moment the backend saw a container event to the
 * moment the task's new state was stored. +Inf is the last slot. */
static const int64_t lag_bound_ms[] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000};
#define N_LAG_BOUNDS (sizeof(lag_bound_ms) / sizeof(lag_bound_ms[0]))

enum cstate { C_NONE, C_RUNNING, C_STOPPED };

struct container {
        const json_t *plan;  /* borrowed from the task's plan; NULL while the task is at rest */
        char *name;          /* owned: it outlives the plan's tree */
        bool essential;
        bool has_health;
        int64_t start_timeout_ms; /* 0: none */
        enum cstate state;
        bool has_exit;
        int exit_code;
        bool oom;
        bool started;        /* a start was attempted, so there may be output and a workload to remove */
        int64_t running_mono_ms;
        char health[16];     /* HEALTHY, UNHEALTHY, UNKNOWN */
        char reason[256];
};

struct task {
        struct task *next;
        char id[64];
        char region[ECS_REGION_MAX + 1];
        char cluster[ECS_NAME_MAX + 1];
        char family[ECS_NAME_MAX + 1];
        /* The documents, as trees while the task is in use, or as their text while it is at rest (task_rest): a
         * tree of a 1.5 KB Task document takes ~8 KB, its text 1.5 KB. Read them through task_doc/task_priv, which
         * decode the text when needed; `brief` answers the questions asked of every task (task_brief). */
        json_t *doc;  /* ECS Task object; NULL at rest */
        json_t *priv; /* {"plan", ...}; owns the plan the containers borrow from; NULL at rest */
        char *doc_text, *priv_text; /* at rest: the documents as stored (compact JSON); NULL in use */
        json_t *brief; /* at rest: the fields of BRIEF_KEYS and "credentials"; NULL in use */
        struct container *c;
        size_t n;
        bool worker;      /* a launch or stop worker runs for this task, or its launch is queued */
        bool queued;      /* its launch waits in `lc->launches` for a launcher */
        bool stopping;    /* the stop path has begun; it ends in finalize */
        bool stop_requested;
        bool captured;    /* the containers' output is in the store: followers read it from there */
        bool abandoned;   /* RunTask could not store it: its launch worker frees it and does nothing else */
        bool stop_unstarted; /* begin_stop found no thread for the stop: the janitor begins it again */
        char stop_code[32];
        char stop_reason[256];
        uint64_t seq;     /* creation order (recovered tasks first, in id order) */
};

struct rt_lifecycle {
        struct rt_store *store;
        const struct rt_backend *be;
        int64_t retention_ms;
        int64_t dependency_wait_ms;
        json_t *secrets;

        pthread_mutex_t lock;
        pthread_cond_t changed; /* any task or container state changed, or shutdown */
        struct task *tasks;
        int n_workers;
        bool shutdown;
        pthread_t janitor;
        bool janitor_started;
        rt_task_change_fn subscriber; /* called with `lock` held (lifecycle.h) */
        void *subscriber_data;
        uint64_t next_seq;            /* creation order of tasks, for rt_lifecycle_tasks */
        uint64_t stops[N_STOP_CODES + 1]; /* tasks finalized STOPPED, by stop code; the last slot is any other */
        uint64_t lag_count[N_LAG_BOUNDS + 1]; /* applied events by lag bucket (not cumulative); the last is +Inf */
        int64_t lag_sum_ms;
        int (*thread_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
        /* The launch pool (spawn_launch): launches waiting for a launcher, oldest first, and the launchers. */
        struct worker_arg *launches, *launches_tail;
        int n_queued;
        int n_launchers;        /* launcher threads alive */
        int idle_launchers;     /* of those, waiting on `launch_queued` */
        pthread_cond_t launch_queued; /* a launch was queued, or shutdown */
        struct rt_exec *exec; /* commands run in containers (exec.c); its own lock */
};

/* ---- small helpers ---- */

/* Wait on `changed` for at most `ms` (lock held). Callers re-check their condition: wake-ups come early too. */
static void wait_changed(struct rt_lifecycle *lc, int64_t ms) {
        cond_wait_ms(&lc->changed, &lc->lock, ms);
}

/* ---- a task's documents at rest ----
 *
 * A task with no worker (it runs and waits for events) keeps its Task document and private record as text, the text
 * the store holds, and decodes them when something needs them (an event, a stop, a follow). The trees and the text
 * hold the same value (jansson keeps an object's keys in insertion order, and a real is written with 17 digits), so
 * an answer built from a decoded tree is the one the tree would have given. Crash safety does not change: every
 * change is stored before the lock is released, as before; the text is only the in-memory copy. */

/* The fields read of every task by scans (rt_lifecycle_tasks, counters), kept decoded at rest. */
static const char *const BRIEF_KEYS[] = {"taskArn", "group", "startedBy", "lastStatus", "desiredStatus",
                                         "healthStatus", "startedAt"};

/* Make the trees of `t` present (lock held, or `t` not yet shared). */
static void task_open(struct task *t) {
        if (t->doc)
                return;
        json_error_t je;
        t->doc = json_loads(t->doc_text, 0, &je);
        t->priv = json_loads(t->priv_text, 0, &je);
        /* The text is what json_dumps wrote: only the allocator can make this fail, and it aborts as xmalloc does. */
        ASSERT(t->doc && t->priv);
        free(t->doc_text);
        free(t->priv_text);
        t->doc_text = t->priv_text = NULL;
        json_decref(t->brief);
        t->brief = NULL;
        const json_t *cs = json_object_get(json_object_get(t->priv, "plan"), "containers");
        for (size_t i = 0; i < t->n; i++)
                t->c[i].plan = json_array_get(cs, i);
}

static json_t *task_doc(struct task *t) {
        task_open(t);
        return t->doc;
}

static json_t *task_priv(struct task *t) {
        task_open(t);
        return t->priv;
}

/* The fields of BRIEF_KEYS and "credentials" without decoding (lock held). */
static const json_t *task_brief(const struct task *t, const char *key) {
        if (!t->doc)
                return json_object_get(t->brief, key);
        return strcmp(key, "credentials") == 0 ? json_object_get(t->priv, key) : json_object_get(t->doc, key);
}

static const char *brief_str(const struct task *t, const char *key, const char *dflt) {
        const char *v = json_string_value(task_brief(t, key));
        return v ? v : dflt;
}

/* Put `t` at rest (lock held): no worker borrows its trees (they borrow the plan without the lock; a queued launch
 * has no thread yet, and its launcher opens the task before it starts), so they can go.
 * Called where a task's worker ends and where an event or a query has opened a task that has none; the janitor
 * rests any task left open. Out of memory for the text leaves the trees, which work as well. */
static void task_rest(struct task *t) {
        if (!t->doc || (t->worker && !t->queued))
                return;
        char *doc_text = json_dumps(t->doc, JSON_COMPACT);
        char *priv_text = json_dumps(t->priv, JSON_COMPACT);
        json_t *brief = json_object();
        if (!doc_text || !priv_text || !brief) {
                free(doc_text);
                free(priv_text);
                json_decref(brief);
                return;
        }
        for (size_t i = 0; i < sizeof(BRIEF_KEYS) / sizeof(BRIEF_KEYS[0]); i++) {
                json_t *v = json_object_get(t->doc, BRIEF_KEYS[i]);
                if (v)
                        json_object_set(brief, BRIEF_KEYS[i], v);
        }
        json_t *cred = json_object_get(t->priv, "credentials");
        if (cred)
                json_object_set(brief, "credentials", cred);
        json_decref(t->doc);
        json_decref(t->priv);
        t->doc = t->priv = NULL;
        t->doc_text = doc_text;
        t->priv_text = priv_text;
        t->brief = brief;
        for (size_t i = 0; i < t->n; i++)
                t->c[i].plan = NULL;
}

static json_t *doc_container(struct task *t, size_t i) {
        return json_array_get(json_object_get(task_doc(t), "containers"), i);
}

static struct container *container_named(struct task *t, const char *name) {
        for (size_t i = 0; i < t->n; i++)
                if (strcmp(t->c[i].name, name) == 0)
                        return &t->c[i];
        return NULL;
}

static struct task *task_find(struct rt_lifecycle *lc, const char *id) {
        for (struct task *t = lc->tasks; t; t = t->next)
                if (strcmp(t->id, id) == 0)
                        return t;
        return NULL;
}

static const char *last_status(const struct task *t) {
        return json_string_value(task_brief(t, "lastStatus"));
}

static void task_free(struct task *t) {
        if (!t)
                return;
        json_decref(t->doc);
        json_decref(t->priv);
        free(t->doc_text);
        free(t->priv_text);
        json_decref(t->brief);
        for (size_t i = 0; i < t->n; i++)
                free(t->c[i].name);
        free(t->c);
        free(t);
}

/* Write the task to the store (lock held). On failure the version is what it was, and the error is the caller's:
 * an API call (StopTask) undoes its change and answers it. */
static int task_write(struct rt_lifecycle *lc, struct task *t, struct err *e) {
        int64_t version = ecs_json_int_or(task_doc(t), "version", 0);
        json_object_set_new(task_doc(t), "version", json_integer(version + 1));
        struct rt_task_row row = {.id = t->id, .region = t->region, .cluster = t->cluster, .family = t->family,
                                  .doc = task_doc(t), .priv = task_priv(t)};
        int r = rt_task_put(lc->store, &row, e);
        if (r < 0)
                json_object_set_new(task_doc(t), "version", json_integer(version));
        return r;
}

/* task_write for the lifecycle's own threads (workers, events, recovery), which have no caller to answer: the
 * failure is logged, the in-memory state stays authoritative and the next transition writes it all again. */
static void task_save(struct rt_lifecycle *lc, struct task *t) {
        struct err e = {0};
        if (task_write(lc, t, &e) < 0)
                log_error("lifecycle", "\"cannot save task\" task=%s error=\"%s\"", t->id, e.msg);
}

/* Tell the subscriber of a change of `t` (lock held; lifecycle.h says what the subscriber may do). */
static void publish(struct rt_lifecycle *lc, struct task *t) {
        if (!lc->subscriber)
                return;
        struct rt_task_change ch = {
                .task_id = t->id,
                .region = t->region,
                .cluster = t->cluster,
                .group = brief_str(t, "group", ""),
                .started_by = brief_str(t, "startedBy", NULL),
                .last_status = brief_str(t, "lastStatus", ""),
                .desired_status = brief_str(t, "desiredStatus", ""),
                .health_status = brief_str(t, "healthStatus", "UNKNOWN"),
                .stop_code = t->stop_requested ? t->stop_code : NULL,
        };
        lc->subscriber(lc->subscriber_data, &ch);
}

/* Every status a task takes is also appended to priv.statuses, which is stored with it: the task's history, so
 * "this task was never RUNNING" can be read from the store instead of guessed from samples of lastStatus. */
static void set_status(struct rt_lifecycle *lc, struct task *t, const char *status) {
        json_object_set_new(task_doc(t), "lastStatus", json_string(status));
        json_t *history = json_object_get(task_priv(t), "statuses");
        if (!json_is_array(history)) {
                history = json_array();
                json_object_set_new(task_priv(t), "statuses", history);
        }
        json_array_append_new(history, json_string(status));
        log_info("lifecycle", "\"task status\" task=%s status=%s", t->id, status);
        publish(lc, t);
}

/* The task's healthStatus from its essential containers (ECS): UNHEALTHY if any is unhealthy, HEALTHY when every
 * one with a health check is healthy, else UNKNOWN. Returns true when it changed. */
static bool update_task_health(struct task *t) {
        bool any_check = false, all_healthy = true, any_unhealthy = false;
        for (size_t i = 0; i < t->n; i++) {
                const struct container *c = &t->c[i];
                if (!c->essential || !c->has_health)
                        continue;
                any_check = true;
                if (strcmp(c->health, "UNHEALTHY") == 0)
                        any_unhealthy = true;
                if (strcmp(c->health, "HEALTHY") != 0)
                        all_healthy = false;
        }
        const char *s = any_unhealthy ? "UNHEALTHY" : any_check && all_healthy ? "HEALTHY" : "UNKNOWN";
        bool changed = strcmp(ecs_json_str(task_doc(t), "healthStatus", ""), s) != 0;
        json_object_set_new(task_doc(t), "healthStatus", json_string(s));
        return changed;
}

/* Mirror a container's state into the Task document. Returns true when the task's healthStatus changed. */
static bool sync_container_doc(struct task *t, struct container *c) {
        json_t *d = doc_container(t, (size_t) (c - t->c));
        const char *status = c->state == C_RUNNING ? "RUNNING" : c->state == C_STOPPED ? "STOPPED" : "PENDING";
        json_object_set_new(d, "lastStatus", json_string(status));
        if (c->has_exit)
                json_object_set_new(d, "exitCode", json_integer(c->exit_code));
        if (c->reason[0])
                json_object_set_new(d, "reason", json_string(c->reason));
        if (c->has_health)
                json_object_set_new(d, "healthStatus", json_string(c->health));
        return update_task_health(t);
}

static bool essential_stopped(const struct task *t) {
        for (size_t i = 0; i < t->n; i++)
                if (t->c[i].essential && t->c[i].state == C_STOPPED)
                        return true;
        return false;
}

/* Record the first stop request; later ones do not change the stop code or reason (ECS keeps the first). */
static void request_stop(struct rt_lifecycle *lc, struct task *t, const char *code, const char *reason) {
        bool first = !t->stop_requested;
        if (!t->stop_requested) {
                t->stop_requested = true;
                str_printf(t->stop_code, sizeof(t->stop_code), "%s", code);
                str_printf(t->stop_reason, sizeof(t->stop_reason), "%s", reason);
                str_utf8_sanitize(t->stop_reason);
        }
        json_object_set_new(task_doc(t), "desiredStatus", json_string("STOPPED"));
        json_object_set_new(task_priv(t), "stop", json_pack("{s:s, s:s}", "code", t->stop_code, "reason", t->stop_reason));
        if (first)
                publish(lc, t);
}

/* ---- workers ---- */

struct worker_arg {
        struct rt_lifecycle *lc;
        struct task *t;
        struct worker_arg *next; /* in `lc->launches` */
};

static void *launch_worker(void *arg);
static void *stop_worker(void *arg);

/* A detached thread with a small stack; 0 or the error number. */
static int start_thread(struct rt_lifecycle *lc, void *(*fn)(void *), void *arg) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        pthread_t th;
        int r = lc->thread_create(&th, &attr, fn, arg);
        pthread_attr_destroy(&attr);
        return r;
}

/* Start a worker for `t` on a thread of its own (lock held). Out of threads (a burst of tasks, a process limit) is
 * an error for the caller to report, never an abort: -EAGAIN, and `t` is left without a worker. */
static int spawn_worker(struct rt_lifecycle *lc, struct task *t, void *(*fn)(void *), struct err *e) {
        ASSERT(!t->worker);
        task_open(t); /* the worker borrows the trees without the lock */
        struct worker_arg *a = xmalloc(sizeof(*a));
        *a = (struct worker_arg){lc, t, NULL};
        int r = start_thread(lc, fn, a);
        if (r != 0) {
                free(a);
                return err_set(e, -r, ERR_KIND_INTERNAL, "cannot start a thread for task %s: %s", t->id,
                               strerror(r));
        }
        t->worker = true;
        lc->n_workers++;
        return 0;
}

/* A launcher: runs queued launches one after the other, and ends when none came for LAUNCHER_IDLE_MS or at
 * shutdown once the queue is empty (launch_worker ends a launch at once then). */
static void *launcher_main(void *arg) {
        struct rt_lifecycle *lc = arg;
        pthread_mutex_lock(&lc->lock);
        for (;;) {
                if (!lc->launches) {
                        if (lc->shutdown)
                                break;
                        int64_t deadline = time_mono_ms() + LAUNCHER_IDLE_MS;
                        lc->idle_launchers++;
                        while (!lc->launches && !lc->shutdown && time_mono_ms() < deadline)
                                cond_wait_ms(&lc->launch_queued, &lc->lock, deadline - time_mono_ms());
                        lc->idle_launchers--;
                        if (!lc->launches)
                                break;
                }
                struct worker_arg *a = lc->launches;
                lc->launches = a->next;
                if (!lc->launches)
                        lc->launches_tail = NULL;
                lc->n_queued--;
                a->t->queued = false;
                task_open(a->t); /* launch_worker borrows the trees without the lock */
                pthread_mutex_unlock(&lc->lock);
                launch_worker(a);
                pthread_mutex_lock(&lc->lock);
        }
        lc->n_launchers--;
        pthread_cond_broadcast(&lc->changed); /* rt_lifecycle_free waits for the last one */
        pthread_mutex_unlock(&lc->lock);
        return NULL;
}

/* Queue the launch of `t` for the launch pool (lock held), starting a launcher when every one is busy and there are
 * fewer than LAUNCHERS_MAX. Only when there is no launcher at all and none can be started is it the caller's error
 * (-EAGAIN, as spawn_worker); otherwise the launch waits for a busy launcher. */
static int spawn_launch(struct rt_lifecycle *lc, struct task *t, struct err *e) {
        ASSERT(!t->worker);
        if (lc->n_queued + 1 > lc->idle_launchers && lc->n_launchers < LAUNCHERS_MAX) {
                int r = start_thread(lc, launcher_main, lc);
                if (r == 0)
                        lc->n_launchers++;
                else if (lc->n_launchers == 0)
                        return err_set(e, -r, ERR_KIND_INTERNAL, "cannot start a thread for task %s: %s", t->id,
                                       strerror(r));
        }
        struct worker_arg *a = xmalloc(sizeof(*a));
        *a = (struct worker_arg){lc, t, NULL};
        if (lc->launches_tail)
                lc->launches_tail->next = a;
        else
                lc->launches = a;
        lc->launches_tail = a;
        lc->n_queued++;
        t->worker = true;
        t->queued = true;
        lc->n_workers++;
        pthread_cond_signal(&lc->launch_queued);
        return 0;
}

/* A stop for a task whose launch is still queued takes it out of the queue onto a thread of its own, so a stop
 * never waits for the launchers (which may all be waiting for slow launches); launch_worker then finds the stop at
 * once and runs the stop path. Without a thread it stays queued and is stopped in its turn. (lock held) */
static void unqueue_launch(struct rt_lifecycle *lc, struct task *t) {
        if (!t->queued)
                return;
        struct worker_arg **p = &lc->launches, *prev = NULL;
        while (*p && (*p)->t != t) {
                prev = *p;
                p = &(*p)->next;
        }
        struct worker_arg *a = *p;
        ASSERT(a);
        task_open(t);
        if (start_thread(lc, launch_worker, a) != 0)
                return;
        *p = a->next;
        if (lc->launches_tail == a)
                lc->launches_tail = prev;
        lc->n_queued--;
        t->queued = false;
}

static void worker_done(struct rt_lifecycle *lc, struct task *t, struct worker_arg *a) {
        if (t) {
                t->worker = false;
                task_rest(t);
        }
        lc->n_workers--;
        pthread_cond_broadcast(&lc->changed);
        free(a);
}

/* Remove a finalized task from the live list and free it (lock held). */
static void task_forget(struct rt_lifecycle *lc, struct task *t) {
        for (struct task **p = &lc->tasks; *p; p = &(*p)->next)
                if (*p == t) {
                        *p = t->next;
                        break;
                }
        task_free(t);
}

/* ---- launch ---- */

/* Wait (lock held) until `dep` satisfies `condition` for container `c`. Returns 0 when met, -ECANCELED when the task
 * is to stop instead (stop requested, an essential container exited, shutdown), or -EINVAL with `why` filled when the
 * condition can never be met. */
static int wait_dependency(struct rt_lifecycle *lc, struct task *t, const struct container *c,
                           const struct container *dep, const char *condition, char *why, size_t why_size) {
        int64_t limit = dep->start_timeout_ms ? dep->start_timeout_ms : lc->dependency_wait_ms;
        int64_t deadline = time_mono_ms() + limit;
        if (strcmp(condition, "HEALTHY") == 0 && !dep->has_health) {
                str_printf(why, why_size,
                           "DependencyConditionError: container '%s' depends on '%s' being HEALTHY, but '%s' has no "
                           "health check, so the condition can never be met",
                           c->name, dep->name, dep->name);
                return -EINVAL;
        }
        for (;;) {
                if (t->stop_requested || lc->shutdown || essential_stopped(t))
                        return -ECANCELED;
                if (strcmp(condition, "START") == 0 && dep->state != C_NONE)
                        return 0;
                if (strcmp(condition, "COMPLETE") == 0 && dep->state == C_STOPPED)
                        return 0;
                if (strcmp(condition, "SUCCESS") == 0 && dep->state == C_STOPPED) {
                        if (dep->has_exit && dep->exit_code == 0)
                                return 0;
                        str_printf(why, why_size,
                                   "DependencyConditionError: container '%s' needs '%s' to exit with code 0 (SUCCESS), "
                                   "but it exited with code %d",
                                   c->name, dep->name, dep->has_exit ? dep->exit_code : -1);
                        return -EINVAL;
                }
                if (strcmp(condition, "HEALTHY") == 0) {
                        if (strcmp(dep->health, "HEALTHY") == 0)
                                return 0;
                        if (dep->state == C_STOPPED) {
                                str_printf(why, why_size,
                                           "DependencyConditionError: container '%s' needs '%s' to be HEALTHY, but "
                                           "it stopped before it was",
                                           c->name, dep->name);
                                return -EINVAL;
                        }
                }
                int64_t now = time_mono_ms();
                if (now >= deadline) {
                        str_printf(why, why_size,
                                   "DependencyConditionError: container '%s' waited %" PRId64
                                   " s for '%s' to reach %s and timed out",
                                   c->name, limit / 1000, dep->name, condition);
                        return -EINVAL;
                }
                wait_changed(lc, deadline - now < 1000 ? deadline - now : 1000);
        }
}

/* Resolve the container's secrets into {name: value}. -ENOENT with `why` when one is unknown. */
static int resolve_secrets(struct rt_lifecycle *lc, const struct container *c, json_t **ret, char *why,
                           size_t why_size) {
        json_auto_t *out = json_object();
        size_t i;
        const json_t *s;
        json_array_foreach(json_object_get(c->plan, "secrets"), i, s) {
                const char *name = json_string_value(json_object_get(s, "name"));
                const char *from = json_string_value(json_object_get(s, "valueFrom"));
                json_t *value = from ? json_object_get(lc->secrets, from) : NULL;
                if (!name || !json_is_string(value)) {
                        str_printf(why, why_size,
                                   "ResourceInitializationError: unable to pull secrets or registry auth: secret "
                                   "'%s' of container '%s' (valueFrom %s) is not in ecsd's secrets file",
                                   name ? name : "?", c->name, from ? from : "?");
                        return -ENOENT;
                }
                json_object_set(out, name, value);
        }
        *ret = TAKE_PTR(out);
        return 0;
}

/* The reason for a failed backend step: `prefix` ("CannotPullContainerError") and the backend's sentence, unless the
 * sentence already names its ECS error ("CannotPullContainerError: ..."; see backend.h). */
static void backend_reason(char *why, size_t size, const char *prefix, const char *msg) {
        size_t word = strspn(msg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
        if (word > 5 && strncmp(msg + word - 5, "Error", 5) == 0 && strncmp(msg + word, ": ", 2) == 0)
                str_printf(why, size, "%s", msg);
        else
                str_printf(why, size, "%s: %s", prefix, msg);
}

/* Tell the backend that a launch in flight is to stop (lock held), so a wait of its own ends early. */
static void cancel_launch(struct rt_lifecycle *lc, struct task *t) {
        if (t->worker && !t->queued && !t->stopping && lc->be->cancel) /* a queued launch has begun nothing */
                lc->be->cancel(lc->be->impl, json_object_get(task_priv(t), "plan"));
}

/* Fail the launch (lock held): the stop path runs next with TaskFailedToStart. */
static void launch_failed(struct rt_lifecycle *lc, struct task *t, struct container *c, const char *why) {
        log_warn("lifecycle", "\"task failed to start\" task=%s reason=\"%s\"", t->id, why);
        if (c) {
                str_printf(c->reason, sizeof(c->reason), "%s", why);
                str_utf8_sanitize(c->reason);
                sync_container_doc(t, c);
        }
        request_stop(lc, t, "TaskFailedToStart", why);
}

static void run_stop(struct rt_lifecycle *lc, struct task *t);

/* Create and start `c` in one backend call (be->run; lock not held). The container runs before its id is known here,
 * so this is the first moment a stop requested meanwhile can reach it: the caller then takes the stop path, which
 * stops it. Returns false when the launch is to end (the run failed, a stop was requested, an essential container
 * exited, shutdown). */
static bool launch_run(struct rt_lifecycle *lc, struct task *t, struct container *c, const json_t *plan,
                       const json_t *secrets, char *why, size_t why_size) {
        json_auto_t *info = NULL;
        struct err e = {0};
        int r = lc->be->run(lc->be->impl, plan, c->plan, secrets, &info, &e);
        pthread_mutex_lock(&lc->lock);
        if (r < 0 && r != -ECANCELED) {
                /* The backend names the ECS error, since only it knows how far it got (backend.h). */
                backend_reason(why, why_size, "CannotStartContainerError", e.msg);
                launch_failed(lc, t, c, why);
        } else if (r >= 0) {
                json_t *d = doc_container(t, (size_t) (c - t->c));
                json_object_set(d, "runtimeId", json_object_get(info, "runtimeId"));
                json_t *bindings = json_object_get(info, "networkBindings");
                if (bindings)
                        json_object_set(d, "networkBindings", bindings);
                if (c->state == C_NONE) {
                        c->state = C_RUNNING;
                        c->running_mono_ms = time_mono_ms();
                }
                sync_container_doc(t, c);
                task_save(lc, t);
        }
        bool go_on = r >= 0 && !t->stop_requested && !lc->shutdown && !essential_stopped(t);
        pthread_cond_broadcast(&lc->changed); /* rt_lifecycle_wait_created */
        pthread_mutex_unlock(&lc->lock);
        return go_on;
}

static void *launch_worker(void *arg) {
        struct worker_arg *a = arg;
        struct rt_lifecycle *lc = a->lc;
        struct task *t = a->t;
        char why[512];
        struct err e = {0};

        pthread_mutex_lock(&lc->lock);
        if (t->abandoned) {
                /* RunTask failed after it queued this launch: the task was never stored or listed. */
                worker_done(lc, NULL, a);
                pthread_mutex_unlock(&lc->lock);
                task_free(t);
                return NULL;
        }
        if (lc->shutdown && !t->stop_requested) {
                /* Not begun: recovery on the next start finishes it, as a launch cut short. */
                worker_done(lc, t, a);
                pthread_mutex_unlock(&lc->lock);
                return NULL;
        }
        const json_t *plan = json_object_get(task_priv(t), "plan");
        if (!t->stop_requested) {
                set_status(lc, t, "PENDING");
                json_object_set_new(task_doc(t), "pullStartedAt", ecs_timestamp_now());
                task_save(lc, t);
        }
        pthread_mutex_unlock(&lc->lock);

        /* Pull every image first, as the agent does, so a pull failure starts nothing. */
        for (size_t i = 0; i < t->n; i++) {
                pthread_mutex_lock(&lc->lock);
                bool stop = t->stop_requested || lc->shutdown;
                pthread_mutex_unlock(&lc->lock);
                if (stop)
                        break;
                int r = lc->be->pull(lc->be->impl, plan, t->c[i].plan, &e);
                if (r == -ECANCELED)
                        break;
                if (r < 0) {
                        backend_reason(why, sizeof(why), "CannotPullContainerError", e.msg);
                        pthread_mutex_lock(&lc->lock);
                        launch_failed(lc, t, &t->c[i], why);
                        pthread_mutex_unlock(&lc->lock);
                        break;
                }
        }

        pthread_mutex_lock(&lc->lock);
        if (!t->stop_requested && !lc->shutdown) {
                json_object_set_new(task_doc(t), "pullStoppedAt", ecs_timestamp_now());
                task_save(lc, t);
        }
        pthread_mutex_unlock(&lc->lock);

        pthread_mutex_lock(&lc->lock);
        bool go_on = !t->stop_requested && !lc->shutdown;
        pthread_mutex_unlock(&lc->lock);
        if (go_on && lc->be->setup(lc->be->impl, plan, &e) < 0) {
                backend_reason(why, sizeof(why), "ResourceInitializationError", e.msg);
                pthread_mutex_lock(&lc->lock);
                launch_failed(lc, t, NULL, why);
                pthread_mutex_unlock(&lc->lock);
        }

        size_t i;
        const json_t *name;
        json_array_foreach(json_object_get(plan, "order"), i, name) {
                pthread_mutex_lock(&lc->lock);
                struct container *c = container_named(t, json_string_value(name));
                ASSERT(c);
                int r = 0;
                size_t k;
                const json_t *d;
                json_array_foreach(json_object_get(c->plan, "depends_on"), k, d) {
                        const struct container *dep =
                                container_named(t, json_string_value(json_object_get(d, "containerName")));
                        const char *condition = json_string_value(json_object_get(d, "condition"));
                        if (!dep || !condition)
                                continue; /* the plan was validated; nothing to wait for */
                        r = wait_dependency(lc, t, c, dep, condition, why, sizeof(why));
                        if (r == -EINVAL)
                                launch_failed(lc, t, c, why);
                        if (r < 0)
                                break;
                }
                bool stop = r < 0 || t->stop_requested || lc->shutdown || essential_stopped(t);
                if (!stop)
                        c->started = true;
                pthread_mutex_unlock(&lc->lock);
                if (stop)
                        break;

                json_auto_t *secrets = NULL;
                json_auto_t *info = NULL;
                r = resolve_secrets(lc, c, &secrets, why, sizeof(why));
                if (r >= 0 && lc->be->run) {
                        if (!launch_run(lc, t, c, plan, secrets, why, sizeof(why)))
                                break;
                        continue;
                }
                if (r >= 0) {
                        r = lc->be->create(lc->be->impl, plan, c->plan, secrets, &info, &e);
                        if (r < 0)
                                backend_reason(why, sizeof(why), "CannotCreateContainerError", e.msg);
                }
                /* The container exists: record its id before it runs, then look at desiredStatus once more. */
                pthread_mutex_lock(&lc->lock);
                if (r < 0 && r != -ECANCELED)
                        launch_failed(lc, t, c, why);
                else {
                        json_object_set(doc_container(t, (size_t) (c - t->c)), "runtimeId",
                                        json_object_get(info, "runtimeId"));
                        task_save(lc, t);
                        pthread_cond_broadcast(&lc->changed); /* rt_lifecycle_wait_created */
                }
                stop = r < 0 || t->stop_requested || lc->shutdown || essential_stopped(t);
                pthread_mutex_unlock(&lc->lock);
                if (stop)
                        break;

                json_decref(info);
                info = NULL;
                r = lc->be->start(lc->be->impl, plan, c->plan, &info, &e);
                if (r < 0)
                        backend_reason(why, sizeof(why), "CannotStartContainerError", e.msg);
                pthread_mutex_lock(&lc->lock);
                if (r < 0 && r != -ECANCELED)
                        launch_failed(lc, t, c, why);
                else {
                        json_t *bindings = json_object_get(info, "networkBindings");
                        if (bindings)
                                json_object_set(doc_container(t, (size_t) (c - t->c)), "networkBindings", bindings);
                        if (c->state == C_NONE) {
                                c->state = C_RUNNING;
                                c->running_mono_ms = time_mono_ms();
                        }
                        sync_container_doc(t, c);
                        task_save(lc, t);
                }
                pthread_mutex_unlock(&lc->lock);
                if (r < 0)
                        break;
        }

        pthread_mutex_lock(&lc->lock);
        if (lc->shutdown && !t->stop_requested) {
                /* Leave the task where it stands: recovery on the next start finishes it. */
                worker_done(lc, t, a);
                pthread_mutex_unlock(&lc->lock);
                return NULL;
        }
        if (!t->stop_requested && essential_stopped(t))
                request_stop(lc, t, "EssentialContainerExited", ESSENTIAL_EXITED);
        if (t->stop_requested) {
                pthread_mutex_unlock(&lc->lock);
                run_stop(lc, t);
                pthread_mutex_lock(&lc->lock);
                worker_done(lc, NULL, a);
                pthread_mutex_unlock(&lc->lock);
                return NULL;
        }
        set_status(lc, t, "RUNNING");
        json_object_set_new(task_doc(t), "startedAt", ecs_timestamp_now());
        json_object_set_new(task_doc(t), "connectivity", json_string("CONNECTED"));
        json_object_set_new(task_doc(t), "connectivityAt", json_deep_copy(json_object_get(task_doc(t), "startedAt")));
        task_save(lc, t);
        worker_done(lc, t, a);
        pthread_mutex_unlock(&lc->lock);
        return NULL;
}

/* ---- stop ---- */

struct stop_job {
        struct rt_lifecycle *lc;
        const json_t *plan;
        const json_t *container;
        const char *task_id;
        pthread_t thread;
};

static void *stop_one(void *arg) {
        struct stop_job *j = arg;
        struct err e = {0};
        if (j->lc->be->stop(j->lc->be->impl, j->plan, j->container, &e) < 0)
                log_warn("lifecycle", "\"cannot stop container\" task=%s container=%s error=\"%s\"", j->task_id,
                         json_string_value(json_object_get(j->container, "name")), e.msg);
        return NULL;
}

/* True when some running container depends on `c` (so `c` must keep running: shutdown is in reverse dependency
 * order). Lock held. */
static bool has_running_dependent(struct task *t, const struct container *c) {
        for (size_t i = 0; i < t->n; i++) {
                if (t->c[i].state != C_RUNNING || &t->c[i] == c)
                        continue;
                size_t k;
                const json_t *d;
                json_array_foreach(json_object_get(t->c[i].plan, "depends_on"), k, d)
                        if (strcmp(json_string_value(json_object_get(d, "containerName")), c->name) == 0)
                                return true;
        }
        return false;
}

/* Stop the running containers in waves: each wave stops, in parallel, every running container that no running
 * container depends on. */
static void stop_containers(struct rt_lifecycle *lc, struct task *t, const json_t *plan) {
        for (;;) {
                struct stop_job *jobs = xcalloc(t->n ? t->n : 1, sizeof(*jobs));
                size_t n = 0;
                pthread_mutex_lock(&lc->lock);
                for (size_t i = 0; i < t->n; i++)
                        if (t->c[i].state == C_RUNNING && !has_running_dependent(t, &t->c[i]))
                                jobs[n++] = (struct stop_job){lc, plan, t->c[i].plan, t->id, 0};
                pthread_mutex_unlock(&lc->lock);
                if (n == 0) {
                        free(jobs);
                        return;
                }
                for (size_t i = 1; i < n; i++)
                        if (pthread_create(&jobs[i].thread, NULL, stop_one, &jobs[i]) != 0)
                                stop_one(&jobs[i]), jobs[i].thread = 0;
                stop_one(&jobs[0]);
                for (size_t i = 1; i < n; i++)
                        if (jobs[i].thread)
                                pthread_join(jobs[i].thread, NULL);
                pthread_mutex_lock(&lc->lock);
                for (size_t i = 0; i < n; i++) {
                        struct container *c = container_named(t, json_string_value(json_object_get(jobs[i].container,
                                                                                                 "name")));
                        if (c->state == C_RUNNING)
                                c->state = C_STOPPED; /* its exit code follows with the die event */
                }
                pthread_mutex_unlock(&lc->lock);
                free(jobs);
        }
}

/* Fill exit codes that no event delivered, from what the backend observes (lock not held). */
static void collect_exit_codes(struct rt_lifecycle *lc, struct task *t) {
        pthread_mutex_lock(&lc->lock);
        int64_t deadline = time_mono_ms() + EXIT_CODE_WAIT_MS;
        bool missing;
        for (;;) {
                missing = false;
                for (size_t i = 0; i < t->n; i++)
                        if (t->c[i].started && t->c[i].state == C_STOPPED && !t->c[i].has_exit)
                                missing = true;
                if (!missing || time_mono_ms() >= deadline || lc->shutdown)
                        break;
                wait_changed(lc, 100);
        }
        pthread_mutex_unlock(&lc->lock);
        if (!missing)
                return; /* every exit code came with its event */

        json_auto_t *seen = NULL;
        struct err e = {0};
        if (lc->be->observe(lc->be->impl, &seen, &e) < 0) {
                log_warn("lifecycle", "\"cannot observe workloads\" task=%s error=\"%s\"", t->id, e.msg);
                return;
        }
        pthread_mutex_lock(&lc->lock);
        size_t i;
        const json_t *o;
        json_array_foreach(seen, i, o) {
                const char *tid = json_string_value(json_object_get(o, "task_id"));
                const char *cname = json_string_value(json_object_get(o, "container"));
                if (!tid || !cname || strcmp(tid, t->id) != 0)
                        continue;
                struct container *c = container_named(t, cname);
                int64_t code;
                if (c && !c->has_exit && ecs_json_int(o, "exit_code", &code)) {
                        c->has_exit = true;
                        c->exit_code = (int) code;
                }
        }
        pthread_mutex_unlock(&lc->lock);
}

/* Keep each started container's output in the store, so logs outlive the workload. */
static void capture_logs(struct rt_lifecycle *lc, struct task *t, const json_t *plan) {
        for (size_t i = 0; i < t->n; i++) {
                if (!t->c[i].started)
                        continue;
                _cleanup_free_ char *out = NULL;
                size_t len = 0;
                struct err e = {0};
                if (lc->be->logs(lc->be->impl, plan, t->c[i].plan, &out, &len, &e) < 0) {
                        log_debug("lifecycle", "\"no output captured\" task=%s container=%s error=\"%s\"", t->id,
                                  t->c[i].name, e.msg);
                        continue;
                }
                if (rt_task_log_put(lc->store, t->id, t->c[i].name, out, len, &e) < 0)
                        log_warn("lifecycle", "\"cannot keep output\" task=%s error=\"%s\"", t->id, e.msg);
        }
}

/* The stop path, run by the task's worker: stop, collect exit codes and output, remove, finalize. */
static void run_stop(struct rt_lifecycle *lc, struct task *t) {
        const json_t *plan = json_object_get(task_priv(t), "plan");
        pthread_mutex_lock(&lc->lock);
        t->stopping = true;
        bool was_running = strcmp(last_status(t), "RUNNING") == 0;
        if (!json_object_get(task_doc(t), "stoppingAt"))
                json_object_set_new(task_doc(t), "stoppingAt", ecs_timestamp_now());
        json_object_set_new(task_doc(t), "desiredStatus", json_string("STOPPED"));
        json_object_set_new(task_doc(t), "stopCode", json_string(t->stop_code));
        json_object_set_new(task_doc(t), "stoppedReason", json_string(t->stop_reason));
        set_status(lc, t, json_is_object(json_object_get(plan, "network")) && was_running ? "DEACTIVATING"
                                                                                          : "STOPPING");
        task_save(lc, t);
        pthread_mutex_unlock(&lc->lock);

        stop_containers(lc, t, plan);
        collect_exit_codes(lc, t);
        if (lc->shutdown)
                return; /* recovery resumes the stop */

        pthread_mutex_lock(&lc->lock);
        json_object_set_new(task_doc(t), "executionStoppedAt", ecs_timestamp_now());
        if (json_is_object(json_object_get(plan, "network")))
                set_status(lc, t, "DEPROVISIONING");
        task_save(lc, t);
        pthread_mutex_unlock(&lc->lock);

        capture_logs(lc, t, plan);
        pthread_mutex_lock(&lc->lock);
        t->captured = true;
        pthread_mutex_unlock(&lc->lock);
        struct err e = {0};
        if (lc->be->teardown(lc->be->impl, plan, &e) < 0)
                log_warn("lifecycle", "\"cannot remove workload\" task=%s error=\"%s\"", t->id, e.msg);

        pthread_mutex_lock(&lc->lock);
        for (size_t i = 0; i < t->n; i++) {
                t->c[i].state = C_STOPPED;
                sync_container_doc(t, &t->c[i]);
        }
        set_status(lc, t, "STOPPED");
        json_object_set_new(task_doc(t), "stoppedAt", ecs_timestamp_now());
        task_save(lc, t);
        log_info("lifecycle", "\"task stopped\" task=%s stop_code=%s", t->id, t->stop_code);
        size_t code = 0;
        while (code < N_STOP_CODES && strcmp(stop_codes[code], t->stop_code) != 0)
                code++;
        lc->stops[code]++;
        t->worker = false;
        task_forget(lc, t);
        pthread_cond_broadcast(&lc->changed);
        pthread_mutex_unlock(&lc->lock);
}

static void *stop_worker(void *arg) {
        struct worker_arg *a = arg;
        struct rt_lifecycle *lc = a->lc;
        pthread_mutex_lock(&lc->lock);
        bool go = a->t->stop_requested && !lc->shutdown;
        if (!go) {
                /* StopTask started this thread and then could not record the stop (it answered the error). */
                worker_done(lc, a->t, a);
                pthread_mutex_unlock(&lc->lock);
                return NULL;
        }
        pthread_mutex_unlock(&lc->lock);
        run_stop(lc, a->t);
        pthread_mutex_lock(&lc->lock);
        worker_done(lc, NULL, a); /* the task is freed, or left for recovery at shutdown */
        pthread_mutex_unlock(&lc->lock);
        return NULL;
}

/* Begin stopping a task that has no worker (lock held). Without a thread for it, the stop stays requested: the
 * janitor tries again on its next pass (and so does a StopTask of the task). */
static void begin_stop(struct rt_lifecycle *lc, struct task *t) {
        struct err e = {0};
        t->stop_unstarted = false;
        if (!t->worker && !t->stopping && !lc->shutdown && spawn_worker(lc, t, stop_worker, &e) < 0) {
                t->stop_unstarted = true;
                log_error("lifecycle", "\"cannot begin the stop, the janitor retries\" task=%s error=\"%s\"", t->id,
                          e.msg);
        }
        pthread_cond_broadcast(&lc->changed);
}

/* ---- task creation and recovery ---- */

/* Build the in-memory containers from the plan and the Task document (on creation and on recovery). */
static int task_attach_containers(struct task *t, struct err *e) {
        const json_t *cs = json_object_get(json_object_get(task_priv(t), "plan"), "containers");
        t->n = json_array_size(cs);
        t->c = xcalloc(t->n ? t->n : 1, sizeof(*t->c));
        if (t->n != json_array_size(json_object_get(task_doc(t), "containers")))
                return err_set(e, -EINVAL, ERR_KIND_INTERNAL, "task %s: plan and task disagree on containers", t->id);
        for (size_t i = 0; i < t->n; i++) {
                struct container *c = &t->c[i];
                const json_t *p = json_array_get(cs, i);
                const json_t *d = doc_container(t, i);
                c->plan = p;
                c->name = xstrdup(ecs_json_str(p, "name", ""));
                c->essential = json_is_true(json_object_get(p, "essential"));
                c->has_health = json_is_true(json_object_get(p, "health_check"));
                c->start_timeout_ms = ecs_json_int_or(p, "start_timeout_s", 0) * 1000;
                const char *st = json_string_value(json_object_get(d, "lastStatus"));
                c->state = st && strcmp(st, "RUNNING") == 0 ? C_RUNNING : st && strcmp(st, "STOPPED") == 0 ? C_STOPPED
                                                                                                         : C_NONE;
                c->started = c->state != C_NONE;
                int64_t code;
                if (ecs_json_int(d, "exitCode", &code)) {
                        c->has_exit = true;
                        c->exit_code = (int) code;
                }
                str_printf(c->health, sizeof(c->health), "%s", ecs_json_str(d, "healthStatus", "UNKNOWN"));
                str_printf(c->reason, sizeof(c->reason), "%s", ecs_json_str(d, "reason", ""));
                if (!c->name)
                        return err_set(e, -EINVAL, ERR_KIND_INTERNAL, "task %s: plan container without a name", t->id);
        }
        return 0;
}

static json_t *new_container_doc(const json_t *def, const char *region, const char *account, const char *cluster,
                                 const char *task_arn, const char *task_id) {
        char uuid[33];
        random_hex(uuid, 32);
        char arn[ECS_ARN_MAX + 1];
        str_printf(arn, sizeof(arn), "arn:aws:ecs:%s:%s:container/%s/%s/%.8s-%.4s-%.4s-%.4s-%.12s", region, account,
                   cluster, task_id, uuid, uuid + 8, uuid + 12, uuid + 16, uuid + 20);
        json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[], s:s}", "containerArn", arn, "taskArn", task_arn,
                              "name", ecs_json_str(def, "name", ""), "image", ecs_json_str(def, "image", ""),
                              "lastStatus", "PENDING", "networkInterfaces", "healthStatus", "UNKNOWN");
        int64_t v;
        char buf[32];
        str_printf(buf, sizeof(buf), "%" PRId64, ecs_json_int(def, "cpu", &v) ? v : 0);
        json_object_set_new(d, "cpu", json_string(buf));
        if (ecs_json_int(def, "memory", &v)) {
                str_printf(buf, sizeof(buf), "%" PRId64, (int64_t) v);
                json_object_set_new(d, "memory", json_string(buf));
        }
        if (ecs_json_int(def, "memoryReservation", &v)) {
                str_printf(buf, sizeof(buf), "%" PRId64, (int64_t) v);
                json_object_set_new(d, "memoryReservation", json_string(buf));
        }
        return d;
}

int rt_lifecycle_run(struct rt_lifecycle *lc, const struct rt_run_request *req, json_t **ret, struct err *e) {
        struct task *t = xcalloc(1, sizeof(*t));
        random_hex(t->id, 32);
        str_printf(t->region, sizeof(t->region), "%s", req->region);
        str_printf(t->cluster, sizeof(t->cluster), "%s", req->cluster_name);
        str_printf(t->family, sizeof(t->family), "%s", ecs_json_str(req->taskdef, "family", ""));
        char task_arn[ECS_ARN_MAX + 1];
        str_printf(task_arn, sizeof(task_arn), "arn:aws:ecs:%s:%s:task/%s/%s", req->region, req->account,
                   req->cluster_name, t->id);

        const char *launch_type = req->launch_type;
        if (!launch_type)
                launch_type = ecs_json_list_has(json_object_get(req->taskdef, "requiresCompatibilities"), "FARGATE") ||
                                              !json_object_get(req->taskdef, "requiresCompatibilities")
                                      ? "FARGATE"
                                      : "EC2";
        char group[ECS_NAME_MAX + 16];
        str_printf(group, sizeof(group), "family:%s", t->family);

        json_auto_t *doc = json_pack("{s:s, s:s, s:s, s:[], s:s, s:s, s:o, s:s, s:s, s:I, s:s, s:b, s:s}",
                                     "taskArn", task_arn, "clusterArn", req->cluster_arn, "taskDefinitionArn",
                                     ecs_json_str(req->taskdef, "taskDefinitionArn", ""), "containers",
                                     "lastStatus", "PROVISIONING", "desiredStatus", "RUNNING", "createdAt",
                                     ecs_timestamp_now(), "launchType", launch_type, "group",
                                     req->group ? req->group : group, "version", (json_int_t) 0, "healthStatus",
                                     "UNKNOWN", "enableExecuteCommand", req->enable_execute_command, "availabilityZone",
                                     "");
        char az[ECS_REGION_MAX + 2];
        str_printf(az, sizeof(az), "%sa", req->region);
        json_object_set_new(doc, "availabilityZone", json_string(az));
        const char *cpu = ecs_json_str(req->overrides, "cpu", ecs_json_str(req->taskdef, "cpu", NULL));
        const char *memory = ecs_json_str(req->overrides, "memory", ecs_json_str(req->taskdef, "memory", NULL));
        if (cpu)
                json_object_set_new(doc, "cpu", json_string(cpu));
        if (memory)
                json_object_set_new(doc, "memory", json_string(memory));
        if (req->started_by)
                json_object_set_new(doc, "startedBy", json_string(req->started_by));
        if (req->container_instance_arn)
                json_object_set_new(doc, "containerInstanceArn", json_string(req->container_instance_arn));
        if (req->capacity_provider_name)
                json_object_set_new(doc, "capacityProviderName", json_string(req->capacity_provider_name));
        if (strcmp(launch_type, "FARGATE") == 0) {
                json_object_set_new(doc, "platformVersion", json_string("1.4.0"));
                json_object_set_new(doc, "platformFamily", json_string("Linux"));
                json_object_set_new(doc, "ephemeralStorage", json_pack("{s:i}", "sizeInGiB", 20));
        }
        json_t *overrides = req->overrides ? json_deep_copy(req->overrides) : json_object();
        if (!json_object_get(overrides, "containerOverrides"))
                json_object_set_new(overrides, "containerOverrides", json_array());
        if (!json_object_get(overrides, "inferenceAcceleratorOverrides"))
                json_object_set_new(overrides, "inferenceAcceleratorOverrides", json_array());
        json_object_set_new(doc, "overrides", overrides);
        json_object_set_new(doc, "attachments", json_array());
        if (req->tags && json_array_size(req->tags))
                json_object_set_new(doc, "tags", json_deep_copy(req->tags));
        size_t i;
        const json_t *def;
        json_array_foreach(json_object_get(req->taskdef, "containerDefinitions"), i, def)
                json_array_append_new(json_object_get(doc, "containers"),
                                      new_container_doc(def, req->region, req->account, req->cluster_name, task_arn,
                                                        t->id));

        /* The task role as ECS picks it (the override, else the definition's). A task with one gets an unguessable
         * credentials id: containers fetch their credentials by it, never by the task id, which anyone may list. */
        const char *role = ecs_json_str(req->overrides, "taskRoleArn", NULL);
        if (!role || !*role)
                role = ecs_json_str(req->taskdef, "taskRoleArn", NULL);
        char credentials_id[37] = "";
        if (role && *role)
                uuid_v4(credentials_id);
        json_auto_t *plan = NULL;
        struct rt_task_input in = {.taskdef = req->taskdef, .overrides = req->overrides, .task_arn = task_arn,
                                   .task_id = t->id, .cluster_name = req->cluster_name,
                                   .credentials_id = credentials_id[0] ? credentials_id : NULL, .host = req->host};
        struct err plan_err = {0};
        int plan_r = lc->be->plan(lc->be->impl, &in, &plan, &plan_err);
        /* A definition the backend refuses outright (backend.h: -EOPNOTSUPP) is RunTask's error: no task. */
        if (plan_r < 0 && (plan_err.kind != ERR_KIND_CLIENT || plan_r == -EOPNOTSUPP)) {
                task_free(t);
                *e = plan_err;
                return plan_r;
        }
        t->doc = TAKE_PTR(doc);
        /* A definition the backend cannot run still becomes a task, which fails to start with the reason, as ECS
         * reports problems it finds at launch. */
        t->priv = json_pack("{s:o, s:s, s:[s]}", "plan",
                            plan_r < 0 ? json_pack("{s:[], s:[], s:n}", "containers", "order", "network")
                                       : TAKE_PTR(plan),
                            "taskdef", ecs_json_str(req->taskdef, "taskDefinitionArn", ""), "statuses",
                            "PROVISIONING");
        if (req->container_instance_arn)
                json_object_set_new(task_priv(t), "reserved", json_pack("{s:I, s:I}", "cpu", (json_int_t) req->reserved_cpu,
                                                                   "memory", (json_int_t) req->reserved_memory));
        if (credentials_id[0])
                json_object_set_new(task_priv(t), "credentials", json_pack("{s:s, s:s}", "id", credentials_id, "role", role));
        if (plan_r < 0) {
                /* Containers exist in the document but not in the empty plan: give the plan placeholders. */
                json_t *pcs = json_object_get(json_object_get(task_priv(t), "plan"), "containers");
                json_array_foreach(json_object_get(req->taskdef, "containerDefinitions"), i, def)
                        json_array_append_new(pcs, json_pack("{s:s, s:b, s:[], s:[]}", "name",
                                                             ecs_json_str(def, "name", ""), "essential",
                                                             json_is_false(json_object_get(def, "essential")) ? 0 : 1,
                                                             "depends_on", "secrets"));
        }
        int r = task_attach_containers(t, e);
        if (r < 0) {
                task_free(t);
                return r;
        }

        pthread_mutex_lock(&lc->lock);
        if (plan_r < 0) {
                char why[512];
                str_printf(why, sizeof(why), "ClientException: %s", plan_err.msg);
                launch_failed(lc, t, NULL, why);
        }
        /* The launch thread first, so that a task is stored only when something will launch it; the thread waits
         * for the lock, and a task that could not be stored is `abandoned` to it. Tags before the task: a task is
         * listed only with its tags. Either failure is RunTask's, and leaves no task behind. */
        r = spawn_launch(lc, t, e);
        if (r < 0) {
                pthread_mutex_unlock(&lc->lock);
                task_free(t);
                return r;
        }
        bool tagged = req->tags && json_array_size(req->tags);
        if (tagged)
                r = rt_tags_put(lc->store, task_arn, req->tags, e);
        if (r >= 0) {
                json_object_set_new(task_doc(t), "version", json_integer(0));
                r = task_write(lc, t, e);
                struct err ignored = {0};
                if (r < 0 && tagged)
                        rt_tags_clear(lc->store, task_arn, &ignored);
        }
        if (r < 0) {
                t->abandoned = true;
                pthread_mutex_unlock(&lc->lock);
                return r;
        }
        t->seq = lc->next_seq++;
        t->next = lc->tasks;
        lc->tasks = t;
        *ret = json_deep_copy(task_doc(t));
        task_rest(t); /* while its launch is queued */
        log_info("lifecycle", "\"task registered\" task=%s family=%s cluster=%s", t->id, t->family, t->cluster);
        pthread_mutex_unlock(&lc->lock);
        return 0;
}

static int lifecycle_stop(struct rt_lifecycle *lc, const char *task_id, const char *stop_code, const char *reason,
                          json_t **ret, struct err *e);

int rt_lifecycle_stop(struct rt_lifecycle *lc, const char *task_id, const char *stop_code, const char *reason,
                      json_t **ret, struct err *e) {
        json_t *ignored = NULL;
        if (!ret)
                ret = &ignored;
        int r = lifecycle_stop(lc, task_id, stop_code, reason, ret, e);
        json_decref(ignored);
        return r;
}

static int lifecycle_stop(struct rt_lifecycle *lc, const char *task_id, const char *stop_code, const char *reason,
                          json_t **ret, struct err *e) {
        pthread_mutex_lock(&lc->lock);
        struct task *t = task_find(lc, task_id);
        if (!t) {
                pthread_mutex_unlock(&lc->lock);
                return rt_task_get(lc->store, task_id, ret, NULL, e);
        }
        /* A task without a worker (it runs) gets its stop thread first, so that a stop that is recorded always has
         * a thread to carry it out; the thread waits for the lock, and leaves if the stop is not recorded. */
        int r = 0;
        if (!t->worker && !t->stopping && !lc->shutdown && (r = spawn_worker(lc, t, stop_worker, e)) < 0) {
                pthread_mutex_unlock(&lc->lock);
                return r;
        }
        /* Without a reason of the caller's: a task that has not reached RUNNING never will (the launch sees the stop
         * at its next step), so it says so. */
        bool launching = !t->stopping && strcmp(last_status(t), "RUNNING") != 0;
        const char *dflt = launching ? STOPPED_DURING_LAUNCH : STOPPED_BY_USER_DEFAULT;
        /* What request_stop changes, to put back when the stop cannot be stored: StopTask then answers the error and
         * the task goes on as if it had not been asked. */
        bool had_request = t->stop_requested;
        json_t *old_desired = json_incref(json_object_get(task_doc(t), "desiredStatus"));
        json_t *old_stop = json_incref(json_object_get(task_priv(t), "stop"));
        request_stop(lc, t, stop_code ? stop_code : "UserInitiated", reason && *reason ? reason : dflt);
        r = task_write(lc, t, e);
        if (r < 0) {
                if (!had_request) {
                        t->stop_requested = false;
                        t->stop_code[0] = t->stop_reason[0] = '\0';
                }
                json_object_set(task_doc(t), "desiredStatus", old_desired);
                if (old_stop)
                        json_object_set(task_priv(t), "stop", old_stop);
                else
                        json_object_del(task_priv(t), "stop");
        } else {
                cancel_launch(lc, t);
                unqueue_launch(lc, t);
                *ret = json_deep_copy(task_doc(t));
                log_info("lifecycle", "\"stop requested\" task=%s", t->id);
        }
        json_decref(old_desired);
        json_decref(old_stop);
        task_rest(t); /* when the stop could not be stored and no worker was started */
        pthread_cond_broadcast(&lc->changed); /* the stop worker, whatever it is to do */
        pthread_mutex_unlock(&lc->lock);
        return r;
}

int rt_lifecycle_stop_all(struct rt_lifecycle *lc, const char *reason, int64_t timeout_ms) {
        int64_t deadline = time_mono_ms() + timeout_ms;
        pthread_mutex_lock(&lc->lock);
        for (struct task *t = lc->tasks; t; t = t->next) {
                request_stop(lc, t, "UserInitiated", reason);
                task_save(lc, t);
                cancel_launch(lc, t);
                begin_stop(lc, t);
        }
        int left = 0;
        for (;;) {
                left = 0;
                for (struct task *t = lc->tasks; t; t = t->next)
                        left++;
                if (left == 0 || time_mono_ms() >= deadline)
                        break;
                wait_changed(lc, 1000);
        }
        pthread_mutex_unlock(&lc->lock);
        return left;
}

/* ---- events ---- */

/* The task's workload vanished behind ecsd's back (lock held): every container is stopped, and the task stops with
 * the backend's reason, as TaskFailedToStart when it was still launching. */
static void workload_gone(struct rt_lifecycle *lc, struct task *t, const char *reason) {
        if (t->stopping)
                return; /* ecsd's own stop removed it */
        bool launching = t->worker;
        for (size_t i = 0; i < t->n; i++) {
                struct container *c = &t->c[i];
                if (c->state == C_STOPPED)
                        continue;
                c->state = C_STOPPED;
                if (!c->reason[0])
                        str_printf(c->reason, sizeof(c->reason), "%s", reason);
                sync_container_doc(t, c);
        }
        log_warn("lifecycle", "\"workload gone\" task=%s reason=\"%s\"", t->id, reason);
        request_stop(lc, t, launching ? "TaskFailedToStart" : "EssentialContainerExited", reason);
        task_save(lc, t);
        cancel_launch(lc, t);
        begin_stop(lc, t);
}

/* Count one applied event's lag (lock held): the time from the backend seeing it to its state being stored. */
static void observe_lag(struct rt_lifecycle *lc, int64_t observed_ms) {
        if (observed_ms <= 0)
                return;
        int64_t lag = time_now_ms() - observed_ms;
        if (lag < 0)
                lag = 0; /* the engine's clock and ours are one clock here; a negative lag is rounding */
        size_t i = 0;
        while (i < N_LAG_BOUNDS && lag > lag_bound_ms[i])
                i++;
        lc->lag_count[i]++;
        lc->lag_sum_ms += lag;
}

void rt_lifecycle_event(struct rt_lifecycle *lc, const struct rt_container_event *ev) {
        if (!ev->task_id || (!ev->container && ev->kind != RT_EVENT_GONE))
                return;
        pthread_mutex_lock(&lc->lock);
        if (ev->kind == RT_EVENT_GONE) {
                struct task *t = task_find(lc, ev->task_id);
                if (t) {
                        workload_gone(lc, t, ev->reason ? ev->reason : "the task's workload disappeared");
                        task_rest(t);
                }
                pthread_mutex_unlock(&lc->lock);
                return;
        }
        struct task *t = task_find(lc, ev->task_id);
        struct container *c = t ? container_named(t, ev->container) : NULL;
        if (!c) {
                pthread_mutex_unlock(&lc->lock);
                return;
        }
        switch (ev->kind) {
        case RT_EVENT_START:
                if (c->state == C_NONE) {
                        c->state = C_RUNNING;
                        c->running_mono_ms = time_mono_ms();
                }
                break;
        case RT_EVENT_OOM:
                c->oom = true;
                break;
        case RT_EVENT_DIE:
                c->state = C_STOPPED;
                if (!c->has_exit) {
                        c->has_exit = true;
                        c->exit_code = ev->exit_code;
                }
                if (c->oom && !c->reason[0])
                        str_printf(c->reason, sizeof(c->reason), "OutOfMemoryError: Container killed due to memory "
                                                                 "usage");
                log_info("lifecycle", "\"container exited\" task=%s container=%s exit_code=%d", t->id, c->name,
                         c->exit_code);
                break;
        case RT_EVENT_HEALTH:
                if (c->has_health && ev->health)
                        str_printf(c->health, sizeof(c->health), "%s", ev->health);
                break;
        case RT_EVENT_GONE:
                break; /* handled above */
        }
        bool health_changed = sync_container_doc(t, c);
        task_save(lc, t);
        observe_lag(lc, ev->observed_ms);
        if (health_changed)
                publish(lc, t);
        if (ev->kind == RT_EVENT_DIE && c->essential && !t->worker && !t->stopping) {
                request_stop(lc, t, "EssentialContainerExited", ESSENTIAL_EXITED);
                task_save(lc, t);
                begin_stop(lc, t);
        } else if (ev->kind == RT_EVENT_DIE && c->essential)
                cancel_launch(lc, t);
        task_rest(t);
        pthread_cond_broadcast(&lc->changed);
        pthread_mutex_unlock(&lc->lock);
}

/* Apply one observed container to its task (lock held): a container the lifecycle thinks is running but the backend
 * shows stopped gets the die it missed. */
static void apply_observed(struct rt_lifecycle *lc, struct task *t, struct container *c, const json_t *o) {
        (void) lc;
        bool running = o && json_is_true(json_object_get(o, "running"));
        if (running && c->state == C_NONE && c->started) {
                c->state = C_RUNNING;
                c->running_mono_ms = time_mono_ms();
        }
        if (running || c->state != C_RUNNING)
                return;
        c->state = C_STOPPED;
        int64_t code;
        if (o && ecs_json_int(o, "exit_code", &code) && !c->has_exit) {
                c->has_exit = true;
                c->exit_code = (int) code;
        }
        if (!o && !c->reason[0])
                str_printf(c->reason, sizeof(c->reason), "the container disappeared while ecsd could not watch it");
        if (o && json_is_true(json_object_get(o, "oom")) && !c->reason[0])
                str_printf(c->reason, sizeof(c->reason), "OutOfMemoryError: Container killed due to memory usage");
        log_info("lifecycle", "\"container found stopped\" task=%s container=%s", t->id, c->name);
        sync_container_doc(t, c);
}

void rt_lifecycle_resync(struct rt_lifecycle *lc) {
        json_auto_t *seen = NULL;
        struct err e = {0};
        /* The snapshot is taken without the lock: a container that came up since it began is not in it, and is not
         * judged by it (its events, or the next resync, tell). */
        int64_t snapshot_from_ms = time_mono_ms();
        if (lc->be->observe(lc->be->impl, &seen, &e) < 0) {
                log_warn("lifecycle", "\"cannot observe workloads\" error=\"%s\"", e.msg);
                return;
        }
        json_auto_t *orphans = json_object();
        pthread_mutex_lock(&lc->lock);
        for (struct task *t = lc->tasks; t; t = t->next) {
                bool launching = t->worker && !t->stopping;
                if (launching)
                        continue; /* the launch worker owns it until it is RUNNING */
                for (size_t i = 0; i < t->n; i++) {
                        if (t->c[i].running_mono_ms >= snapshot_from_ms)
                                continue;
                        const json_t *found = NULL;
                        size_t k;
                        const json_t *o;
                        json_array_foreach(seen, k, o) {
                                if (strcmp(ecs_json_str(o, "task_id", ""), t->id) == 0 &&
                                    strcmp(ecs_json_str(o, "container", ""), t->c[i].name) == 0)
                                        found = o;
                        }
                        apply_observed(lc, t, &t->c[i], found);
                }
                const char *status = last_status(t);
                if (t->worker)
                        continue;
                if (strcmp(status, "RUNNING") == 0 && !t->stop_requested) {
                        if (essential_stopped(t)) {
                                request_stop(lc, t, "EssentialContainerExited", ESSENTIAL_EXITED);
                                begin_stop(lc, t);
                        }
                } else {
                        /* Stopped mid-launch or mid-stop by a restart of ecsd: finish the stop. */
                        if (!t->stop_requested)
                                request_stop(lc, t, "TaskFailedToStart",
                                             "ResourceInitializationError: ecsd restarted while the task was starting");
                        begin_stop(lc, t);
                }
                task_save(lc, t);
        }
        int live = 0;
        for (struct task *t = lc->tasks; t; t = t->next) {
                task_rest(t);
                live++;
        }
        log_info("lifecycle", "\"resynced\" live_tasks=%d", live);
        /* Workloads of no live task (a stop interrupted after finalizing, or a task forgotten) are removed. */
        size_t k;
        const json_t *o;
        json_array_foreach(seen, k, o) {
                const char *tid = ecs_json_str(o, "task_id", NULL);
                if (tid && !task_find(lc, tid))
                        json_object_set_new(orphans, tid, json_true());
        }
        pthread_mutex_unlock(&lc->lock);

        const char *tid;
        json_t *v;
        json_object_foreach(orphans, tid, v) {
                /* A task registered after the snapshot above is in the store and not yet STOPPED: keep it. */
                json_auto_t *doc = NULL;
                if (rt_task_get(lc->store, tid, &doc, NULL, &e) == 0 &&
                    strcmp(ecs_json_str(doc, "lastStatus", ""), "STOPPED") != 0)
                        continue;
                log_info("lifecycle", "\"removing leftover workload\" task=%s", tid);
                if (lc->be->sweep_task(lc->be->impl, tid, &e) < 0)
                        log_warn("lifecycle", "\"cannot remove leftover workload\" task=%s error=\"%s\"", tid, e.msg);
        }
}

/* ---- reading ---- */

void rt_lifecycle_subscribe(struct rt_lifecycle *lc, rt_task_change_fn fn, void *userdata) {
        /* Calls are made with the lock held, so once it is ours no call to the old subscriber is running. */
        pthread_mutex_lock(&lc->lock);
        lc->subscriber = fn;
        lc->subscriber_data = userdata;
        pthread_mutex_unlock(&lc->lock);
}

static int task_seq_cmp(const void *a, const void *b) {
        uint64_t x = (*(struct task *const *) a)->seq, y = (*(struct task *const *) b)->seq;
        return x < y ? -1 : x > y;
}

json_t *rt_lifecycle_tasks(struct rt_lifecycle *lc, const char *region, const char *cluster, const char *group) {
        json_t *out = json_array();
        pthread_mutex_lock(&lc->lock);
        size_t n = 0;
        for (struct task *t = lc->tasks; t; t = t->next)
                n++;
        struct task **sorted = xcalloc(n ? n : 1, sizeof(*sorted));
        n = 0;
        for (struct task *t = lc->tasks; t; t = t->next)
                if (strcmp(t->region, region) == 0 && strcmp(t->cluster, cluster) == 0 &&
                    strcmp(brief_str(t, "group", ""), group) == 0)
                        sorted[n++] = t;
        qsort(sorted, n, sizeof(*sorted), task_seq_cmp);
        for (size_t i = 0; i < n; i++) {
                struct task *t = sorted[i];
                bool check = false;
                for (size_t k = 0; k < t->n; k++)
                        if (t->c[k].essential && t->c[k].has_health)
                                check = true;
                json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "id", t->id, "taskArn",
                                      brief_str(t, "taskArn", ""), "lastStatus", last_status(t),
                                      "desiredStatus", brief_str(t, "desiredStatus", ""), "healthStatus",
                                      brief_str(t, "healthStatus", "UNKNOWN"), "healthCheck", check);
                const char *by = brief_str(t, "startedBy", NULL);
                if (by)
                        json_object_set_new(o, "startedBy", json_string(by));
                json_t *started = (json_t *) (uintptr_t) task_brief(t, "startedAt");
                if (started)
                        json_object_set(o, "startedAt", started);
                json_array_append_new(out, o);
        }
        pthread_mutex_unlock(&lc->lock);
        free(sorted);
        return out;
}

json_t *rt_lifecycle_counters(struct rt_lifecycle *lc) {
        pthread_mutex_lock(&lc->lock);
        json_int_t live = 0, open = 0;
        json_t *by_status = json_object();
        for (struct task *t = lc->tasks; t; t = t->next) {
                live++;
                open += t->doc != NULL;
                const char *status = brief_str(t, "lastStatus", "UNKNOWN");
                json_object_set_new(by_status, status,
                                    json_integer(json_integer_value(json_object_get(by_status, status)) + 1));
        }
        json_t *stops = json_object();
        for (size_t i = 0; i <= N_STOP_CODES; i++)
                json_object_set_new(stops, i < N_STOP_CODES ? stop_codes[i] : "other",
                                    json_integer((json_int_t) lc->stops[i]));
        json_t *lag = json_array();
        for (size_t i = 0; i <= N_LAG_BOUNDS; i++)
                json_array_append_new(lag, json_pack("{s:I, s:I}", "le_ms", i < N_LAG_BOUNDS ? lag_bound_ms[i] : -1,
                                                     "count", (json_int_t) lc->lag_count[i]));
        json_t *out = json_pack("{s:s, s:I, s:I, s:i, s:i, s:i, s:o, s:o, s:{s:o, s:I}}", "backend", lc->be->name,
                                "live_tasks", live, "tasks_decoded", open, "workers", lc->n_workers, "launchers",
                                lc->n_launchers, "launches_queued", lc->n_queued, "tasks_by_status", by_status, "stops_by_code", stops,
                                "event_lag", "buckets", lag, "sum_ms", (json_int_t) lc->lag_sum_ms);
        pthread_mutex_unlock(&lc->lock);
        if (lc->be->counters)
                json_object_set_new(out, "backend_stats", lc->be->counters(lc->be->impl));
        return out;
}

int rt_lifecycle_task(struct rt_lifecycle *lc, const char *task_id, json_t **ret_doc, json_t **ret_plan,
                      struct err *e) {
        json_auto_t *doc = NULL;
        json_auto_t *priv = NULL;
        int r = rt_task_get(lc->store, task_id, &doc, &priv, e);
        if (r < 0)
                return r;
        if (ret_doc)
                *ret_doc = TAKE_PTR(doc);
        if (ret_plan)
                *ret_plan = json_incref(json_object_get(priv, "plan"));
        return 0;
}

/* Compare a secret without an early exit, so the time taken tells nothing about how much of it matched. */
static bool secret_equal(const char *a, const char *b) {
        size_t n = strlen(a);
        if (n != strlen(b))
                return false;
        unsigned char diff = 0;
        for (size_t i = 0; i < n; i++)
                diff |= (unsigned char) (a[i] ^ b[i]);
        return diff == 0;
}

int rt_lifecycle_credentials(struct rt_lifecycle *lc, const char *id, char *role, size_t role_size, struct err *e) {
        bool found = false;
        pthread_mutex_lock(&lc->lock);
        for (struct task *t = lc->tasks; t && !found; t = t->next) {
                const json_t *c = task_brief(t, "credentials");
                const char *held = ecs_json_str(c, "id", NULL);
                const char *status = last_status(t);
                if (held && secret_equal(held, id) && !(status && strcmp(status, "STOPPED") == 0)) {
                        str_printf(role, role_size, "%s", ecs_json_str(c, "role", ""));
                        found = true;
                }
        }
        pthread_mutex_unlock(&lc->lock);
        return found ? 0 : err_set(e, -ENOENT, ERR_KIND_NOT_FOUND, "No task holds these credentials.");
}

static void append(char **buf, size_t *len, const char *data, size_t n) {
        *buf = realloc(*buf, *len + n + 1);
        ASSERT(*buf);
        memcpy(*buf + *len, data, n);
        *len += n;
        (*buf)[*len] = '\0';
}

int rt_lifecycle_logs(struct rt_lifecycle *lc, const char *task_id, const char *container, char **ret,
                      size_t *ret_len, struct err *e) {
        json_auto_t *doc = NULL;
        json_auto_t *priv = NULL;
        int r = rt_task_get(lc->store, task_id, &doc, &priv, e);
        if (r < 0)
                return r;
        bool finished = strcmp(ecs_json_str(doc, "lastStatus", ""), "STOPPED") == 0;
        const json_t *plan = json_object_get(priv, "plan");
        _cleanup_free_ char *all = NULL;
        size_t all_len = 0;
        bool matched = false;
        size_t i;
        const json_t *p;
        json_array_foreach(json_object_get(plan, "containers"), i, p) {
                const char *name = ecs_json_str(p, "name", "");
                if (container && strcmp(container, name) != 0)
                        continue;
                matched = true;
                _cleanup_free_ char *out = NULL;
                size_t len = 0;
                struct err ignored = {0};
                int got = finished ? rt_task_log_get(lc->store, task_id, name, &out, &len, &ignored)
                                   : lc->be->logs(lc->be->impl, plan, p, &out, &len, &ignored);
                if (!container) {
                        char head[ECS_NAME_MAX + 16];
                        str_printf(head, sizeof(head), "==> %s <==\n", name);
                        append(&all, &all_len, head, strlen(head));
                }
                if (got >= 0 && len)
                        append(&all, &all_len, out, len);
        }
        if (!matched)
                return err_set(e, -ENOENT, ERR_KIND_NOT_FOUND, "task %s has no container named %s", task_id,
                               container ? container : "?");
        if (!all)
                append(&all, &all_len, "", 0);
        *ret = TAKE_PTR(all);
        *ret_len = all_len;
        return 0;
}

/* ---- following output ---- */

struct rt_follow {
        const struct rt_backend *be;
        char *buf; /* output already at hand (a finished task's captured output), delivered first */
        size_t len, off;
        int fd;       /* the backend's follower, -1 when there is none */
        void *handle; /* the backend's, for follow_close */
        /* A follower of another source (rt_follow_new_fd): called at the free instead of follow_close. */
        void (*done)(void *ctx, bool at_end);
        void *done_ctx;
        bool at_end; /* a read returned the end of the output */
};

/* The plan container `want` names, or the only one when `want` is NULL. */
static int follow_pick(const json_t *plan, const char *task_id, const char *want, const json_t **ret, struct err *e) {
        const json_t *cs = json_object_get(plan, "containers");
        size_t i;
        const json_t *p;
        if (!want) {
                if (json_array_size(cs) == 1) {
                        *ret = json_array_get(cs, 0);
                        return 0;
                }
                char names[256] = "";
                size_t used = 0;
                json_array_foreach(cs, i, p) {
                        int w = snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "",
                                         ecs_json_str(p, "name", ""));
                        if (w < 0 || (size_t) w >= sizeof(names) - used)
                                break;
                        used += (size_t) w;
                }
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "task %s has %zu containers (%s): name the one to follow with ?container=NAME",
                               task_id, json_array_size(cs), names);
        }
        json_array_foreach(cs, i, p) if (strcmp(ecs_json_str(p, "name", ""), want) == 0) {
                *ret = p;
                return 0;
        }
        return err_set(e, -ENOENT, ERR_KIND_NOT_FOUND, "task %s has no container named %s", task_id, want);
}

static struct rt_follow *follow_new(struct rt_lifecycle *lc) {
        struct rt_follow *f = xcalloc(1, sizeof(*f));
        f->be = lc->be;
        f->fd = -1;
        return f;
}

int rt_lifecycle_follow(struct rt_lifecycle *lc, const char *task_id, const char *container, struct rt_follow **ret,
                        struct err *e) {
        json_auto_t *plan = NULL;
        const json_t *pc = NULL;
        int r;
        pthread_mutex_lock(&lc->lock);
        struct task *t = task_find(lc, task_id);
        if (t && !t->captured) {
                /* Live: the backend follows a container that exists. A copy of the plan, not a reference into the
                 * task's tree: it keeps `pc` valid once the task is freed or put at rest, and its last release,
                 * after the lock, frees nothing another thread read (jansson's decref has no acquire barrier). */
                plan = json_deep_copy(json_object_get(task_priv(t), "plan"));
                r = follow_pick(plan, task_id, container, &pc, e);
                struct container *c = r < 0 ? NULL : container_named(t, ecs_json_str(pc, "name", ""));
                /* Only a started container: `docker logs -f` of one that is created but not started ends at once. A
                 * container that never starts has its (empty) output captured when the task stops. */
                bool ran = c && c->state != C_NONE;
                task_rest(t); /* `plan` holds its own reference */
                pthread_mutex_unlock(&lc->lock);
                if (r < 0)
                        return r;
                if (!c)
                        return err_set(e, -ENOENT, ERR_KIND_NOT_FOUND, "task %s has no container named %s", task_id,
                                       ecs_json_str(pc, "name", ""));
                if (!ran) /* the name from the plan this call holds: `c` may be freed once the lock is released */
                        return err_set(e, -EAGAIN, ERR_KIND_CLIENT,
                                       "container %s of task %s has not started yet; try again once it runs",
                                       ecs_json_str(pc, "name", ""), task_id);
                if (!lc->be->follow)
                        return err_set(e, -EOPNOTSUPP, ERR_KIND_CLIENT,
                                       "the %s backend cannot follow a container's output", lc->be->name);
                struct rt_follow *f = follow_new(lc);
                r = lc->be->follow(lc->be->impl, plan, pc, &f->fd, &f->handle, e);
                if (r < 0) {
                        free(f);
                        return r;
                }
                int flags = fcntl(f->fd, F_GETFL);
                if (flags < 0 || fcntl(f->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
                        r = err_set(e, -errno, ERR_KIND_INTERNAL, "cannot make the output descriptor non-blocking");
                        rt_follow_free(f);
                        return r;
                }
                *ret = f;
                return 0;
        }
        pthread_mutex_unlock(&lc->lock);

        /* Finished (or its output already captured): what the store kept, then the end. */
        json_auto_t *doc = NULL;
        json_auto_t *priv = NULL;
        r = rt_task_get(lc->store, task_id, &doc, &priv, e);
        if (r < 0)
                return r;
        r = follow_pick(json_object_get(priv, "plan"), task_id, container, &pc, e);
        if (r < 0)
                return r;
        struct rt_follow *f = follow_new(lc);
        struct err ignored = {0};
        if (rt_task_log_get(lc->store, task_id, ecs_json_str(pc, "name", ""), &f->buf, &f->len, &ignored) < 0) {
                f->buf = NULL;
                f->len = 0;
        }
        *ret = f;
        return 0;
}

ssize_t rt_follow_read(struct rt_follow *f, void *buf, size_t size) {
        if (f->off < f->len) {
                size_t n = f->len - f->off < size ? f->len - f->off : size;
                memcpy(buf, f->buf + f->off, n);
                f->off += n;
                return (ssize_t) n;
        }
        if (f->fd < 0)
                return 0;
        for (;;) {
                ssize_t n = read(f->fd, buf, size);
                if (n == 0)
                        f->at_end = true;
                if (n >= 0)
                        return n;
                if (errno != EINTR)
                        return -errno;
        }
}

int rt_follow_fd(const struct rt_follow *f) {
        return f->off < f->len ? -1 : f->fd;
}

void rt_follow_free(struct rt_follow *f) {
        if (!f)
                return;
        if (f->done)
                f->done(f->done_ctx, f->at_end);
        else if (f->handle)
                f->be->follow_close(f->be->impl, f->handle);
        free(f->buf);
        free(f);
}

struct rt_follow *rt_follow_new_fd(int fd, void (*done)(void *ctx, bool at_end), void *ctx) {
        struct rt_follow *f = xcalloc(1, sizeof(*f));
        f->fd = fd;
        f->done = done;
        f->done_ctx = ctx;
        return f;
}

struct rt_follow *rt_follow_new_buf(char *buf, size_t len) {
        struct rt_follow *f = xcalloc(1, sizeof(*f));
        f->fd = -1;
        f->buf = buf;
        f->len = len;
        return f;
}

struct rt_exec *rt_lifecycle_exec(struct rt_lifecycle *lc) {
        return lc->exec;
}

/* ---- waiting for a container ---- */

void rt_lifecycle_wait_created(struct rt_lifecycle *lc, const char *task_id, const char *container,
                               int64_t timeout_ms) {
        int64_t deadline = time_mono_ms() + timeout_ms;
        pthread_mutex_lock(&lc->lock);
        for (;;) {
                struct task *t = task_find(lc, task_id);
                struct container *c = t ? container_named(t, container) : NULL;
                if (!c || !c->started || t->stop_requested || lc->shutdown ||
                    json_object_get(doc_container(t, (size_t) (c - t->c)), "runtimeId"))
                        break;
                int64_t now = time_mono_ms();
                if (now >= deadline)
                        break;
                wait_changed(lc, deadline - now);
        }
        struct task *t = task_find(lc, task_id);
        if (t)
                task_rest(t);
        pthread_mutex_unlock(&lc->lock);
}

/* ---- resource usage ---- */

int rt_lifecycle_stats(struct rt_lifecycle *lc, const char *task_id, const char *container, json_t **ret,
                       struct err *e) {
        json_auto_t *plan = NULL;
        json_auto_t *running = json_array();
        pthread_mutex_lock(&lc->lock);
        struct task *t = task_find(lc, task_id);
        if (t && !t->stopping) {
                /* A copy, as rt_lifecycle_follow's: used and released after the lock. */
                plan = json_deep_copy(json_object_get(task_priv(t), "plan"));
                const json_t *plan_containers = json_object_get(plan, "containers");
                /* A container that exists and has not stopped: one that asks for its own stats right after its start
                 * may run before the lifecycle has heard that it started. */
                for (size_t i = 0; i < t->n; i++) {
                        bool exists = json_object_get(doc_container(t, i), "runtimeId") != NULL;
                        if ((t->c[i].state == C_RUNNING || (t->c[i].state == C_NONE && exists)) &&
                            (!container || strcmp(container, t->c[i].name) == 0))
                                json_array_append(running, json_array_get(plan_containers, i));
                }
                task_rest(t); /* `plan` and `running` are copies */
        }
        pthread_mutex_unlock(&lc->lock);
        if (json_array_size(running) == 0 || !lc->be->stats) {
                *ret = json_object();
                return 0;
        }
        return lc->be->stats(lc->be->impl, plan, running, ret, e);
}

/* ---- lifetime ---- */

static void *janitor_main(void *arg) {
        struct rt_lifecycle *lc = arg;
        int64_t period_ms = lc->retention_ms / 10;
        if (period_ms > 60000)
                period_ms = 60000;
        if (period_ms < 1000)
                period_ms = 1000;
        pthread_mutex_lock(&lc->lock);
        int64_t next_ms = time_mono_ms() + period_ms;
        while (!lc->shutdown) {
                /* `changed` wakes this thread on every task event; only a full period leads to a sweep. */
                int64_t now = time_mono_ms();
                if (now < next_ms) {
                        wait_changed(lc, next_ms - now);
                        continue;
                }
                next_ms = now + period_ms;
                /* A stop that found no thread for itself (begin_stop) is begun again; a task some path left open
                 * is put at rest. */
                for (struct task *t = lc->tasks; t; t = t->next) {
                        if (t->stop_unstarted)
                                begin_stop(lc, t);
                        task_rest(t);
                }
                pthread_mutex_unlock(&lc->lock);
                struct err e = {0};
                int removed = 0;
                if (rt_task_expire(lc->store, time_now_ms() - lc->retention_ms, &removed, &e) < 0)
                        log_warn("lifecycle", "\"cannot expire stopped tasks\" error=\"%s\"", e.msg);
                else if (removed)
                        log_debug("lifecycle", "\"expired stopped tasks\" count=%d", removed);
                pthread_mutex_lock(&lc->lock);
        }
        pthread_mutex_unlock(&lc->lock);
        return NULL;
}

int rt_lifecycle_new(const struct rt_lifecycle_config *cfg, struct rt_lifecycle **ret, struct err *e) {
        struct rt_lifecycle *lc = xcalloc(1, sizeof(*lc));
        lc->store = cfg->store;
        lc->be = cfg->backend;
        lc->retention_ms = cfg->retention_ms > 0 ? cfg->retention_ms : 3600 * 1000;
        lc->dependency_wait_ms = cfg->dependency_wait_ms > 0 ? cfg->dependency_wait_ms : DEPENDENCY_WAIT_DEFAULT_MS;
        lc->secrets = cfg->secrets ? json_deep_copy(cfg->secrets) : json_object();
        lc->thread_create = cfg->thread_create ? cfg->thread_create : pthread_create;
        pthread_mutex_init(&lc->lock, NULL);
        pthread_cond_init(&lc->changed, NULL); /* the default clock: cond_wait_ms counts on it */
        pthread_cond_init(&lc->launch_queued, NULL);
        lc->exec = rt_exec_new(lc->be);

        json_auto_t *active = NULL;
        int r = rt_task_active(lc->store, &active, e);
        size_t i;
        const json_t *row;
        json_array_foreach(active, i, row) {
                if (r < 0)
                        break;
                struct task *t = xcalloc(1, sizeof(*t));
                t->doc = json_incref(json_object_get(row, "doc"));
                t->priv = json_incref(json_object_get(row, "private"));
                const char *arn = ecs_json_str(task_doc(t), "taskArn", "");
                const char *slash = strrchr(arn, '/');
                str_printf(t->id, sizeof(t->id), "%s", slash ? slash + 1 : "");
                struct ecs_arn parsed;
                if (ecs_arn_parse(arn, &parsed, NULL) == 0)
                        str_printf(t->region, sizeof(t->region), "%s", parsed.region);
                const char *carn = ecs_json_str(task_doc(t), "clusterArn", "");
                const char *cslash = strrchr(carn, '/');
                str_printf(t->cluster, sizeof(t->cluster), "%s", cslash ? cslash + 1 : "");
                /* The family is a column of the task's row (ListTasks --family): every save writes it again. */
                int64_t rev;
                struct err ignored = {0};
                const char *taskdef_arn = ecs_json_str(task_doc(t), "taskDefinitionArn", "");
                if (ecs_taskdef_arn_parse(taskdef_arn, t->family, &rev, &ignored) < 0 &&
                    ecs_daemon_taskdef_arn_parse(taskdef_arn, t->family, &rev, NULL) < 0) /* a daemon's task (daemons.h) */
                        log_warn("lifecycle", "\"task without a valid task definition ARN\" task=%s error=\"%s\"",
                                 t->id, ignored.msg);
                const json_t *stop = json_object_get(task_priv(t), "stop");
                if (stop) {
                        t->stop_requested = true;
                        str_printf(t->stop_code, sizeof(t->stop_code), "%s", ecs_json_str(stop, "code", ""));
                        str_printf(t->stop_reason, sizeof(t->stop_reason), "%s", ecs_json_str(stop, "reason", ""));
                }
                r = task_attach_containers(t, e);
                if (r < 0) {
                        task_free(t);
                        break;
                }
                t->seq = lc->next_seq++;
                t->next = lc->tasks;
                lc->tasks = t;
                log_info("lifecycle", "\"task recovered\" task=%s status=%s", t->id, last_status(t));
                task_rest(t);
        }
        if (r >= 0 && pthread_create(&lc->janitor, NULL, janitor_main, lc) != 0)
                r = err_set(e, -EAGAIN, ERR_KIND_INTERNAL, "cannot start the lifecycle janitor thread");
        if (r < 0) {
                rt_lifecycle_free(lc);
                return r;
        }
        lc->janitor_started = true;
        *ret = lc;
        return 0;
}

void rt_lifecycle_free(struct rt_lifecycle *lc) {
        if (!lc)
                return;
        pthread_mutex_lock(&lc->lock);
        lc->shutdown = true;
        for (struct task *t = lc->tasks; t; t = t->next)
                cancel_launch(lc, t);
        pthread_cond_broadcast(&lc->changed);
        pthread_cond_broadcast(&lc->launch_queued);
        while (lc->n_workers > 0 || lc->n_launchers > 0)
                pthread_cond_wait(&lc->changed, &lc->lock);
        pthread_mutex_unlock(&lc->lock);
        if (lc->janitor_started)
                pthread_join(lc->janitor, NULL);
        rt_exec_free(lc->exec);
        while (lc->tasks) {
                struct task *t = lc->tasks;
                lc->tasks = t->next;
                task_free(t);
        }
        json_decref(lc->secrets);
        pthread_cond_destroy(&lc->launch_queued);
        pthread_cond_destroy(&lc->changed);
        pthread_mutex_destroy(&lc->lock);
        free(lc);
}

/* ---- state changes reported by an agent (SubmitTaskStateChange, SubmitContainerStateChange) ---- */

static const char *cstate_name(enum cstate s) {
        return s == C_RUNNING ? "RUNNING" : s == C_STOPPED ? "STOPPED" : "PENDING";
}

/* What a report means for a task ecsd runs (lock held): 0 it agrees (nothing to do), 1 it is to be applied as a stop
 * with *ret_code and *ret_reason, or a refusal in `e`. */
static int report_judge(struct task *t, const struct rt_state_report *rep, const char **ret_code,
                        const char **ret_reason, struct err *e) {
        if (rep->container) {
                struct container *c = container_named(t, rep->container);
                if (!c)
                        return err_set(e, -ENOENT, ERR_KIND_INVALID, "Task %s has no container named %.255s.", t->id,
                                       rep->container);
                const char *known = ecs_json_str(doc_container(t, (size_t) (c - t->c)), "runtimeId", NULL);
                if (rep->runtime_id && known && strcmp(rep->runtime_id, known) != 0)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "runtimeId %.80s is not the one of container %s of task %s.", rep->runtime_id,
                                       c->name, t->id);
                const char *now = cstate_name(c->state);
                if (strcmp(rep->status, now) == 0 || t->stop_requested || t->stopping)
                        return 0;
                if (strcmp(rep->status, "STOPPED") == 0 && c->state == C_RUNNING && c->essential) {
                        *ret_code = "EssentialContainerExited";
                        *ret_reason = ESSENTIAL_EXITED;
                        return 1;
                }
                return err_set(e, -EBUSY, ERR_KIND_INVALID,
                               "Container %s of task %s is %s: ecsd runs it and follows its state from the %s; a "
                               "report of %s%s does not change it.",
                               c->name, t->id, now, "engine", rep->status,
                               c->essential ? "" : " for a non-essential container");
        }
        const char *now = last_status(t);
        if (strcmp(rep->status, now) == 0)
                return 0;
        if (strcmp(rep->status, "STOPPED") == 0) {
                if (t->stop_requested || t->stopping)
                        return 0;
                *ret_code = "UserInitiated";
                *ret_reason = rep->reason && *rep->reason ? rep->reason : "Task stopped by SubmitTaskStateChange";
                return 1;
        }
        return err_set(e, -EBUSY, ERR_KIND_INVALID,
                       "Task %s is %s: ecsd runs it and moves it on as its containers run; a report of %s does not "
                       "change it.",
                       t->id, now, rep->status);
}

int rt_lifecycle_report(struct rt_lifecycle *lc, const struct rt_state_report *rep, bool apply, struct err *e) {
        const char *code = NULL, *reason = NULL;
        char reason_copy[256] = "";
        pthread_mutex_lock(&lc->lock);
        struct task *t = task_find(lc, rep->task_id);
        int r = t ? report_judge(t, rep, &code, &reason, e) : 0;
        if (reason)
                str_printf(reason_copy, sizeof(reason_copy), "%s", reason);
        if (t)
                task_rest(t);
        pthread_mutex_unlock(&lc->lock);
        if (!t) {
                /* Finalized (or never known): the store has its last word. */
                json_auto_t *doc = NULL;
                struct err ignored = {0};
                if (rt_task_get(lc->store, rep->task_id, &doc, NULL, &ignored) < 0)
                        return err_set(e, -ENOENT, ERR_KIND_INVALID, "The referenced task was not found.");
                bool found = !rep->container;
                size_t i;
                const json_t *c;
                json_array_foreach(json_object_get(doc, "containers"), i, c) if (
                        rep->container && strcmp(ecs_json_str(c, "name", ""), rep->container) == 0) found = true;
                if (!found)
                        return err_set(e, -ENOENT, ERR_KIND_INVALID, "Task %s has no container named %.255s.",
                                       rep->task_id, rep->container);
                if (strcmp(rep->status, "STOPPED") != 0)
                        return err_set(e, -EBUSY, ERR_KIND_INVALID,
                                       "Task %s is STOPPED; a report of %s does not change it.", rep->task_id,
                                       rep->status);
                return 0;
        }
        if (r <= 0 || !apply)
                return r;
        r = rt_lifecycle_stop(lc, rep->task_id, code, reason_copy, NULL, e);
        if (r < 0)
                return r;
        log_info("lifecycle", "\"reported stop applied\" task=%s container=%s stop_code=%s", rep->task_id,
                 rep->container ? rep->container : "-", code);
        return 1;
}
