/* test_lifecycle.c — the task lifecycle (pkg/runtime/lifecycle.c) over a real SQLite store in a temporary directory
 * and an in-process test backend.
 *
 * The backend here is a fake, on purpose: it produces on demand the faults a real engine cannot be made to produce
 * (a setup or a start that fails with a given sentence, a start that hangs until it is cancelled), and it lets the test
 * deliver container exits when it chooses. Everything else is real: the lifecycle's threads, its store writes, the
 * SQLite file. The store fault is real too: a second SQLite connection that holds the write lock, as another writer
 * would (chmod cannot make the file read-only for root, who runs these tests in CI). Thread creation fails through
 * the lifecycle's thread_create hook, returning EAGAIN as pthread_create does when a process is out of threads:
 * RLIMIT_NPROC is not enforced for root, and really exhausting threads would starve the test runner.
 *
 * A container's behaviour in the fake backend comes from its dockerLabels: "test/start" = "fail" or "hang", and
 * "test/setup" = "fail" on the first container fails the task's setup. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ecs.h"
#include "lifecycle.h"
#include "store.h"

/* ---- the test backend ---- */

#define MAX_NAMES 8

struct counted {
        char name[64];
        int created, started, stopped;
        bool exited;
};

struct tb {
        pthread_mutex_t lock;
        pthread_cond_t changed;
        struct rt_lifecycle *lc;
        char task_id[64];
        struct counted c[MAX_NAMES];
        int pulls, setups, teardowns, cancels;
        bool cancelled;
        bool in_hanging_start;
        int hanging; /* starts waiting in "hang" now */
        void (*observe_hook)(void); /* runs after observe has taken its snapshot, before it returns it */
};

static struct tb tb;

static struct counted *counted(const char *name) {
        for (int i = 0; i < MAX_NAMES; i++) {
                if (strcmp(tb.c[i].name, name) == 0)
                        return &tb.c[i];
                if (!tb.c[i].name[0]) {
                        str_printf(tb.c[i].name, sizeof(tb.c[i].name), "%s", name);
                        return &tb.c[i];
                }
        }
        fail_msg("too many containers");
        return NULL;
}

static const char *label(const json_t *def, const char *key) {
        return ecs_json_str(json_object_get(def, "dockerLabels"), key, "");
}

static int tb_plan(void *impl, const struct rt_task_input *in, json_t **ret, struct err *e) {
        (void) impl;
        (void) e;
        json_t *cs = json_array(), *order = json_array();
        size_t i;
        const json_t *def;
        json_array_foreach(json_object_get(in->taskdef, "containerDefinitions"), i, def) {
                json_t *deps = json_array();
                size_t k;
                const json_t *d;
                json_array_foreach(json_object_get(def, "dependsOn"), k, d)
                        json_array_append_new(deps, json_pack("{s:s, s:s}", "containerName",
                                                              ecs_json_str(d, "containerName", ""), "condition",
                                                              ecs_json_str(d, "condition", "")));
                json_array_append_new(cs, json_pack("{s:s, s:b, s:b, s:o, s:i, s:[], s:s, s:s}", "name",
                                                    ecs_json_str(def, "name", ""), "essential",
                                                    !json_is_false(json_object_get(def, "essential")),
                                                    "health_check", json_object_get(def, "healthCheck") != NULL,
                                                    "depends_on", deps, "stop_timeout_s", 1, "secrets", "start",
                                                    label(def, "test/start"), "setup", label(def, "test/setup")));
                /* The definitions list each container after those it depends on. */
                json_array_append_new(order, json_string(ecs_json_str(def, "name", "")));
        }
        str_printf(tb.task_id, sizeof(tb.task_id), "%s", in->task_id);
        *ret = json_pack("{s:o, s:o, s:n}", "containers", cs, "order", order, "network");
        return 0;
}

static int tb_setup(void *impl, const json_t *plan, struct err *e) {
        (void) impl;
        pthread_mutex_lock(&tb.lock);
        tb.setups++;
        pthread_mutex_unlock(&tb.lock);
        if (strcmp(ecs_json_str(json_array_get(json_object_get(plan, "containers"), 0), "setup", ""), "fail") == 0)
                return err_set(e, -EIO, ERR_KIND_INTERNAL, "the test network could not be made");
        return 0;
}

static int tb_pull(void *impl, const json_t *plan, const json_t *container, struct err *e) {
        (void) impl;
        (void) plan;
        (void) container;
        (void) e;
        pthread_mutex_lock(&tb.lock);
        tb.pulls++;
        pthread_mutex_unlock(&tb.lock);
        return 0;
}

static int tb_create(void *impl, const json_t *plan, const json_t *container, const json_t *secrets, json_t **ret,
                     struct err *e) {
        (void) impl;
        (void) plan;
        (void) secrets;
        (void) e;
        const char *name = ecs_json_str(container, "name", "");
        pthread_mutex_lock(&tb.lock);
        counted(name)->created++;
        pthread_mutex_unlock(&tb.lock);
        *ret = json_pack("{s:s}", "runtimeId", name);
        return 0;
}

static int tb_start(void *impl, const json_t *plan, const json_t *container, json_t **ret, struct err *e) {
        (void) impl;
        (void) plan;
        const char *name = ecs_json_str(container, "name", "");
        const char *how = ecs_json_str(container, "start", "");
        pthread_mutex_lock(&tb.lock);
        counted(name)->started++;
        if (strcmp(how, "hang") == 0) {
                /* Like a wait for a Pod's container that never starts: only a cancel ends it. */
                tb.in_hanging_start = true;
                tb.hanging++;
                pthread_cond_broadcast(&tb.changed);
                while (!tb.cancelled)
                        pthread_cond_wait(&tb.changed, &tb.lock);
                tb.in_hanging_start = false;
                tb.hanging--;
                pthread_mutex_unlock(&tb.lock);
                return err_set(e, -ECANCELED, ERR_KIND_INTERNAL, "the start was cancelled");
        }
        pthread_mutex_unlock(&tb.lock);
        if (strcmp(how, "fail") == 0)
                return err_set(e, -EIO, ERR_KIND_INTERNAL, "the test engine refused to start %s", name);
        *ret = json_object();
        return 0;
}

static void deliver_exit(const char *name, int code) {
        pthread_mutex_lock(&tb.lock);
        struct counted *c = counted(name);
        bool first = !c->exited;
        c->exited = true;
        pthread_mutex_unlock(&tb.lock);
        if (first)
                rt_lifecycle_event(tb.lc, &(struct rt_container_event){.kind = RT_EVENT_DIE, .task_id = tb.task_id,
                                                                     .container = name, .exit_code = code});
}

static int tb_stop(void *impl, const json_t *plan, const json_t *container, struct err *e) {
        (void) impl;
        (void) plan;
        (void) e;
        const char *name = ecs_json_str(container, "name", "");
        pthread_mutex_lock(&tb.lock);
        counted(name)->stopped++;
        pthread_mutex_unlock(&tb.lock);
        deliver_exit(name, 143); /* as the engine's die event after SIGTERM */
        return 0;
}

static int tb_logs(void *impl, const json_t *plan, const json_t *container, char **ret, size_t *ret_len,
                   struct err *e) {
        (void) impl;
        (void) plan;
        (void) container;
        (void) e;
        *ret = xstrdup("");
        *ret_len = 0;
        return 0;
}

static int tb_teardown(void *impl, const json_t *plan, struct err *e) {
        (void) impl;
        (void) plan;
        (void) e;
        pthread_mutex_lock(&tb.lock);
        tb.teardowns++;
        pthread_mutex_unlock(&tb.lock);
        return 0;
}

/* Every container that started and has not exited runs. */
static int tb_observe(void *impl, json_t **ret, struct err *e) {
        (void) impl;
        (void) e;
        json_t *out = json_array();
        pthread_mutex_lock(&tb.lock);
        for (int i = 0; i < MAX_NAMES && tb.c[i].name[0]; i++)
                if (tb.c[i].started)
                        json_array_append_new(out, json_pack("{s:s, s:s, s:b, s:b}", "task_id", tb.task_id,
                                                             "container", tb.c[i].name, "running", !tb.c[i].exited,
                                                             "oom", 0));
        pthread_mutex_unlock(&tb.lock);
        if (tb.observe_hook)
                tb.observe_hook();
        *ret = out;
        return 0;
}

static int tb_sweep(void *impl, const char *task_id, struct err *e) {
        (void) impl;
        (void) task_id;
        (void) e;
        return 0;
}

static void tb_cancel(void *impl, const json_t *plan) {
        (void) impl;
        (void) plan;
        pthread_mutex_lock(&tb.lock);
        tb.cancels++;
        tb.cancelled = true;
        pthread_cond_broadcast(&tb.changed);
        pthread_mutex_unlock(&tb.lock);
}

static const struct rt_backend backend = {
        .name = "test",
        .plan = tb_plan,
        .setup = tb_setup,
        .pull = tb_pull,
        .create = tb_create,
        .start = tb_start,
        .stop = tb_stop,
        .logs = tb_logs,
        .teardown = tb_teardown,
        .observe = tb_observe,
        .sweep_task = tb_sweep,
        .cancel = tb_cancel,
};

/* ---- thread creation that fails on demand ---- */

static bool threads_exhausted;

static int maybe_thread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg) {
        if (__atomic_load_n(&threads_exhausted, __ATOMIC_SEQ_CST))
                return EAGAIN;
        return pthread_create(th, attr, fn, arg);
}

/* ---- fixture ---- */

struct fx {
        char dir[64];
        struct rt_store *store;
        struct rt_lifecycle *lc;
};

static void lifecycle_open(struct fx *f) {
        struct err e = {0};
        struct rt_lifecycle_config cfg = {.store = f->store, .backend = &backend, .retention_ms = 3600 * 1000,
                                          .dependency_wait_ms = 60 * 1000, .thread_create = maybe_thread_create};
        assert_int_equal(rt_lifecycle_new(&cfg, &f->lc, &e), 0);
        tb.lc = f->lc;
}

static int setup(void **state) {
        struct fx *f = xcalloc(1, sizeof(*f));
        str_printf(f->dir, sizeof(f->dir), "/tmp/ecsd-test-lifecycle-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        struct err e = {0};
        assert_int_equal(rt_store_open(f->dir, &f->store, &e), 0);
        pthread_mutex_destroy(&tb.lock);
        pthread_cond_destroy(&tb.changed);
        memset(&tb, 0, sizeof(tb));
        pthread_mutex_init(&tb.lock, NULL);
        pthread_cond_init(&tb.changed, NULL);
        threads_exhausted = false;
        lifecycle_open(f);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fx *f = *state;
        rt_lifecycle_free(f->lc);
        rt_store_free(f->store);
        char path[128];
        static const char *const files[] = {"ecsd.db", "ecsd.db-wal", "ecsd.db-shm"};
        for (size_t i = 0; i < 3; i++) {
                str_printf(path, sizeof(path), "%s/%s", f->dir, files[i]);
                unlink(path);
        }
        rmdir(f->dir);
        free(f);
        return 0;
}

/* Register-less: the lifecycle takes a TaskDefinition document as the API hands it over. */
static json_t *taskdef(const char *family, json_t *containers) {
        char arn[256];
        str_printf(arn, sizeof(arn), "arn:aws:ecs:us-east-1:000000000000:task-definition/%s:4", family);
        return json_pack("{s:s, s:I, s:s, s:o}", "family", family, "revision", (json_int_t) 4, "taskDefinitionArn",
                         arn, "containerDefinitions", containers);
}

static json_t *cdef(const char *name, bool essential, const char *start) {
        return json_pack("{s:s, s:s, s:b, s:{s:s}}", "name", name, "image", "busybox", "essential", essential,
                         "dockerLabels", "test/start", start);
}

static int run_task(struct fx *f, json_t *td, char *id, struct err *e) {
        struct rt_run_request req = {.region = "us-east-1", .account = "000000000000", .cluster_name = "default",
                                     .cluster_arn = "arn:aws:ecs:us-east-1:000000000000:cluster/default",
                                     .taskdef = td};
        json_t *task = NULL;
        int r = rt_lifecycle_run(f->lc, &req, &task, e);
        json_decref(td);
        if (r >= 0) {
                str_printf(id, 64, "%s", strrchr(ecs_json_str(task, "taskArn", ""), '/') + 1);
                assert_string_equal(ecs_json_str(task, "lastStatus", ""), "PROVISIONING");
                json_decref(task);
        }
        return r;
}

static json_t *stored(struct fx *f, const char *id, json_t **priv) {
        json_t *doc = NULL;
        struct err e = {0};
        assert_int_equal(rt_task_get(f->store, id, &doc, priv, &e), 0);
        return doc;
}

/* Wait (the test's timeout bounds it) until the stored task has lastStatus `status`; returns the document. */
static json_t *wait_status(struct fx *f, const char *id, const char *status) {
        for (;;) {
                json_t *doc = stored(f, id, NULL);
                if (strcmp(ecs_json_str(doc, "lastStatus", ""), status) == 0)
                        return doc;
                json_decref(doc);
                usleep(2000);
        }
}

static void wait_workers_gone(struct fx *f) {
        for (;;) {
                json_t *c = rt_lifecycle_counters(f->lc);
                int64_t n = json_integer_value(json_object_get(c, "workers"));
                json_decref(c);
                if (n == 0)
                        return;
                usleep(2000);
        }
}

static json_t *container_doc(const json_t *doc, const char *name) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(doc, "containers"), i, c) if (strcmp(ecs_json_str(c, "name", ""), name) ==
                                                                          0) return c;
        fail_msg("no container %s", name);
        return NULL;
}

/* The decisive check that a task never ran: no startedAt, and RUNNING is not in the status history the lifecycle
 * stores with it (which must hold the statuses it did take, so the check can fail). */
static void assert_never_running(struct fx *f, const char *id) {
        json_t *priv = NULL;
        json_t *doc = stored(f, id, &priv);
        assert_null(json_object_get(doc, "startedAt"));
        const json_t *history = json_object_get(priv, "statuses");
        assert_true(json_array_size(history) >= 3);
        assert_string_equal(json_string_value(json_array_get(history, 0)), "PROVISIONING");
        assert_string_equal(json_string_value(json_array_get(history, json_array_size(history) - 1)), "STOPPED");
        size_t i;
        const json_t *s;
        json_array_foreach(history, i, s) assert_string_not_equal(json_string_value(s), "RUNNING");
        json_decref(doc);
        json_decref(priv);
}

/* ---- tests ---- */

static void setup_failure_fails_to_start(void **state) {
        struct fx *f = *state;
        json_t *app = cdef("app", true, "");
        json_object_set_new(json_object_get(app, "dockerLabels"), "test/setup", json_string("fail"));
        char id[64];
        struct err e = {0};
        assert_int_equal(run_task(f, taskdef("setupfail", json_pack("[o]", app)), id, &e), 0);
        json_t *doc = wait_status(f, id, "STOPPED");
        assert_string_equal(ecs_json_str(doc, "stopCode", ""), "TaskFailedToStart");
        assert_string_equal(ecs_json_str(doc, "stoppedReason", ""),
                            "ResourceInitializationError: the test network could not be made");
        assert_string_equal(ecs_json_str(doc, "desiredStatus", ""), "STOPPED");
        assert_int_equal(counted("app")->created, 0);
        assert_int_equal(tb.teardowns, 1);
        json_decref(doc);
        assert_never_running(f, id);
}

static void start_failure_fails_to_start(void **state) {
        struct fx *f = *state;
        char id[64];
        struct err e = {0};
        assert_int_equal(run_task(f, taskdef("startfail", json_pack("[o]", cdef("app", true, "fail"))), id, &e), 0);
        json_t *doc = wait_status(f, id, "STOPPED");
        assert_string_equal(ecs_json_str(doc, "stopCode", ""), "TaskFailedToStart");
        const char *want = "CannotStartContainerError: the test engine refused to start app";
        assert_string_equal(ecs_json_str(doc, "stoppedReason", ""), want);
        assert_string_equal(ecs_json_str(container_doc(doc, "app"), "reason", ""), want);
        json_decref(doc);
        assert_never_running(f, id);
}

/* Wait until the fake start hangs, then StopTask. */
static void stop_while_start_hangs(struct fx *f, const char *reason, const char *want_reason) {
        char id[64];
        struct err e = {0};
        assert_int_equal(run_task(f, taskdef("hang", json_pack("[o]", cdef("app", true, "hang"))), id, &e), 0);
        pthread_mutex_lock(&tb.lock);
        while (!tb.in_hanging_start)
                pthread_cond_wait(&tb.changed, &tb.lock);
        assert_int_equal(tb.cancels, 0);
        pthread_mutex_unlock(&tb.lock);
        json_t *task = NULL;
        assert_int_equal(rt_lifecycle_stop(f->lc, id, NULL, reason, &task, &e), 0);
        assert_string_equal(ecs_json_str(task, "desiredStatus", ""), "STOPPED");
        json_decref(task);
        json_t *doc = wait_status(f, id, "STOPPED");
        assert_int_equal(tb.cancels, 1); /* the hanging start was cancelled, not waited out */
        assert_string_equal(ecs_json_str(doc, "stopCode", ""), "UserInitiated");
        assert_string_equal(ecs_json_str(doc, "stoppedReason", ""), want_reason);
        json_decref(doc);
        assert_never_running(f, id);
}

static void stop_during_launch_default_reason(void **state) {
        stop_while_start_hangs(*state, NULL, "Task stopped during launch");
}

static void stop_during_launch_keeps_callers_reason(void **state) {
        stop_while_start_hangs(*state, "the caller's own reason", "the caller's own reason");
}

static void stop_running_task_default_reason(void **state) {
        struct fx *f = *state;
        char id[64];
        struct err e = {0};
        assert_int_equal(run_task(f, taskdef("plain", json_pack("[o]", cdef("app", true, ""))), id, &e), 0);
        json_decref(wait_status(f, id, "RUNNING"));
        json_t *task = NULL;
        assert_int_equal(rt_lifecycle_stop(f->lc, id, NULL, "", &task, &e), 0);
        json_decref(task);
        json_t *doc = wait_status(f, id, "STOPPED");
        assert_string_equal(ecs_json_str(doc, "stoppedReason", ""), "Task stopped by user");
        assert_non_null(json_object_get(doc, "startedAt"));
        json_decref(doc);
}

/* A resync's snapshot of the engine is taken without the lifecycle's lock, so a task can come up while it is taken;
 * the snapshot cannot know that container and must not make it "found stopped". Seen in e2e/services under ASan:
 * a restarted ecsd's scheduler launched tasks while the first resync listed the engine, and two fresh tasks were
 * stopped as EssentialContainerExited while their containers ran. */
static struct fx *late_fx;
static char late_id[64];

static void launch_while_the_snapshot_is_taken(void) {
        struct err e = {0};
        assert_int_equal(run_task(late_fx, taskdef("late", json_pack("[o]", cdef("app", true, ""))), late_id, &e), 0);
        json_decref(wait_status(late_fx, late_id, "RUNNING"));
        wait_workers_gone(late_fx); /* the launch is over: the task is the resync's to judge */
}

static void resync_does_not_judge_tasks_newer_than_its_snapshot(void **state) {
        struct fx *f = *state;
        late_fx = f;
        tb.observe_hook = launch_while_the_snapshot_is_taken;
        rt_lifecycle_resync(f->lc);
        tb.observe_hook = NULL;
        json_t *doc = stored(f, late_id, NULL);
        assert_string_equal(ecs_json_str(doc, "lastStatus", ""), "RUNNING");
        assert_string_equal(ecs_json_str(doc, "desiredStatus", ""), "RUNNING");
        json_decref(doc);
        /* The next resync sees the container and keeps the task. */
        rt_lifecycle_resync(f->lc);
        doc = stored(f, late_id, NULL);
        assert_string_equal(ecs_json_str(doc, "desiredStatus", ""), "RUNNING");
        json_decref(doc);
        json_t *task = NULL;
        struct err e = {0};
        assert_int_equal(rt_lifecycle_stop(f->lc, late_id, NULL, "", &task, &e), 0);
        json_decref(task);
        json_decref(wait_status(f, late_id, "STOPPED"));
}

static void essential_exit_stops_the_others(void **state) {
        struct fx *f = *state;
        char id[64];
        struct err e = {0};
        assert_int_equal(run_task(f, taskdef("pair", json_pack("[oo]", cdef("app", true, ""), cdef("side", false, ""))),
                                  id, &e),
                         0);
        json_decref(wait_status(f, id, "RUNNING"));
        deliver_exit("app", 0);
        json_t *doc = wait_status(f, id, "STOPPED");
        assert_string_equal(ecs_json_str(doc, "stopCode", ""), "EssentialContainerExited");
        assert_string_equal(ecs_json_str(doc, "stoppedReason", ""), "Essential container in task exited");
        assert_int_equal(json_integer_value(json_object_get(container_doc(doc, "app"), "exitCode")), 0);
        assert_int_equal(json_integer_value(json_object_get(container_doc(doc, "side"), "exitCode")), 143);
        assert_int_equal(counted("side")->stopped, 1);
        assert_int_equal(counted("app")->stopped, 0); /* it had exited: nothing to stop */
        json_decref(doc);
}

static void depends_on_success_fails_fast(void **state) {
        struct fx *f = *state;
        json_t *app = cdef("app", true, "");
        json_object_set_new(app, "dependsOn", json_pack("[{s:s, s:s}]", "containerName", "gate", "condition",
                                                        "SUCCESS"));
        char id[64];
        struct err e = {0};
        assert_int_equal(run_task(f, taskdef("gated", json_pack("[oo]", cdef("gate", false, ""), app)), id, &e), 0);
        /* The gate runs; app waits on it. The gate's non-zero exit fails app at once (no 60 s dependency wait). */
        for (;;) {
                json_t *doc = stored(f, id, NULL);
                bool gate_running = strcmp(ecs_json_str(container_doc(doc, "gate"), "lastStatus", ""), "RUNNING") == 0;
                json_decref(doc);
                if (gate_running)
                        break;
                usleep(2000);
        }
        deliver_exit("gate", 3);
        json_t *doc = wait_status(f, id, "STOPPED");
        assert_string_equal(ecs_json_str(doc, "stopCode", ""), "TaskFailedToStart");
        assert_string_equal(ecs_json_str(doc, "stoppedReason", ""),
                            "DependencyConditionError: container 'app' needs 'gate' to exit with code 0 (SUCCESS), "
                            "but it exited with code 3");
        assert_int_equal(counted("app")->created, 0);
        json_decref(doc);
        assert_never_running(f, id);
}

static void healthy_without_health_check_fails(void **state) {
        struct fx *f = *state;
        json_t *app = cdef("app", true, "");
        json_object_set_new(app, "dependsOn", json_pack("[{s:s, s:s}]", "containerName", "side", "condition",
                                                        "HEALTHY"));
        char id[64];
        struct err e = {0};
        assert_int_equal(run_task(f, taskdef("nohealth", json_pack("[oo]", cdef("side", false, ""), app)), id, &e), 0);
        json_t *doc = wait_status(f, id, "STOPPED");
        assert_string_equal(ecs_json_str(doc, "stopCode", ""), "TaskFailedToStart");
        assert_non_null(strstr(ecs_json_str(doc, "stoppedReason", ""), "DependencyConditionError: container 'app' "
                                                                         "depends on 'side' being HEALTHY, but 'side' "
                                                                         "has no health check"));
        assert_int_equal(counted("app")->created, 0);
        json_decref(doc);
        assert_never_running(f, id);
}

/* Another connection holds SQLite's write lock: every write of the store fails (after its busy timeout). */
static sqlite3 *lock_store(struct fx *f) {
        char path[128];
        str_printf(path, sizeof(path), "%s/ecsd.db", f->dir);
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
        return db;
}

static void unlock_store(sqlite3 *db) {
        assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
}

static int count_active(struct fx *f) {
        json_t *active = NULL;
        struct err e = {0};
        assert_int_equal(rt_task_active(f->store, &active, &e), 0);
        int n = (int) json_array_size(active);
        json_decref(active);
        return n;
}

static void store_write_failure_is_the_callers_error(void **state) {
        struct fx *f = *state;
        /* RunTask: the error, and no task anywhere, nothing launched. */
        sqlite3 *db = lock_store(f);
        char id[64];
        struct err e = {0};
        int r = run_task(f, taskdef("nostore", json_pack("[o]", cdef("app", true, ""))), id, &e);
        assert_int_equal(r, -EIO);
        assert_int_equal(e.kind, ERR_KIND_INTERNAL);
        assert_non_null(strstr(e.msg, "locked"));
        unlock_store(db);
        wait_workers_gone(f);
        assert_int_equal(count_active(f), 0);
        assert_int_equal(tb.pulls, 0);

        /* StopTask of a running task: the error, and the task goes on running, in memory and in the store. */
        assert_int_equal(run_task(f, taskdef("nostore", json_pack("[o]", cdef("app", true, ""))), id, &e), 0);
        json_decref(wait_status(f, id, "RUNNING"));
        db = lock_store(f);
        json_t *task = NULL;
        e = (struct err){0};
        assert_int_equal(rt_lifecycle_stop(f->lc, id, NULL, NULL, &task, &e), -EIO);
        assert_null(task);
        assert_int_equal(e.kind, ERR_KIND_INTERNAL);
        unlock_store(db);
        wait_workers_gone(f);
        assert_int_equal(counted("app")->stopped, 0);
        json_t *doc = stored(f, id, NULL);
        assert_string_equal(ecs_json_str(doc, "desiredStatus", ""), "RUNNING");
        assert_string_equal(ecs_json_str(doc, "lastStatus", ""), "RUNNING");
        json_decref(doc);

        /* Asked again with the store back, the stop happens, with this request's reason (the failed one left none). */
        assert_int_equal(rt_lifecycle_stop(f->lc, id, NULL, "second try", &task, &e), 0);
        json_decref(task);
        doc = wait_status(f, id, "STOPPED");
        assert_string_equal(ecs_json_str(doc, "stoppedReason", ""), "second try");
        assert_int_equal(counted("app")->stopped, 1);
        json_decref(doc);
}

static void thread_exhaustion_is_the_callers_error(void **state) {
        struct fx *f = *state;
        char id[64];
        struct err e = {0};
        __atomic_store_n(&threads_exhausted, true, __ATOMIC_SEQ_CST);
        assert_int_equal(run_task(f, taskdef("nothread", json_pack("[o]", cdef("app", true, ""))), id, &e), -EAGAIN);
        assert_int_equal(e.kind, ERR_KIND_INTERNAL);
        assert_non_null(strstr(e.msg, "cannot start a thread"));
        assert_int_equal(count_active(f), 0);

        __atomic_store_n(&threads_exhausted, false, __ATOMIC_SEQ_CST);
        assert_int_equal(run_task(f, taskdef("nothread", json_pack("[o]", cdef("app", true, ""))), id, &e), 0);
        json_decref(wait_status(f, id, "RUNNING"));
        __atomic_store_n(&threads_exhausted, true, __ATOMIC_SEQ_CST);
        json_t *task = NULL;
        assert_int_equal(rt_lifecycle_stop(f->lc, id, NULL, NULL, &task, &e), -EAGAIN);
        assert_null(task);
        json_t *doc = stored(f, id, NULL);
        assert_string_equal(ecs_json_str(doc, "desiredStatus", ""), "RUNNING");
        json_decref(doc);

        __atomic_store_n(&threads_exhausted, false, __ATOMIC_SEQ_CST);
        assert_int_equal(rt_lifecycle_stop(f->lc, id, NULL, NULL, &task, &e), 0);
        json_decref(task);
        doc = wait_status(f, id, "STOPPED");
        assert_string_equal(ecs_json_str(doc, "stopCode", ""), "UserInitiated");
        json_decref(doc);
}

/* A restart re-adopts a running task with its family: ListTasks --family finds it. */
static void recovery_keeps_the_family(void **state) {
        struct fx *f = *state;
        char id[64];
        struct err e = {0};
        assert_int_equal(run_task(f, taskdef("keepme", json_pack("[o]", cdef("app", true, ""))), id, &e), 0);
        json_decref(wait_status(f, id, "RUNNING"));
        rt_lifecycle_free(f->lc); /* containers keep running, as when ecsd is killed */
        lifecycle_open(f);
        rt_lifecycle_resync(f->lc); /* the event stream (re)connects: every re-adopted task is saved again */
        json_t *arns = NULL;
        struct rt_task_query q = {.region = "us-east-1", .cluster = "default", .family = "keepme", .limit = 10};
        assert_int_equal(rt_task_list(f->store, &q, &arns, &e), 0);
        assert_int_equal(json_array_size(arns), 1);
        assert_non_null(strstr(json_string_value(json_array_get(arns, 0)), id));
        json_decref(arns);
        json_t *doc = stored(f, id, NULL);
        assert_string_equal(ecs_json_str(doc, "lastStatus", ""), "RUNNING");
        json_decref(doc);
}

/* What the subscriber was told, in order: "<lastStatus>/<desiredStatus>/<healthStatus>/<stopCode or ->". The
 * subscriber runs with the lifecycle's lock held (lifecycle.h), so it only records, under a lock of its own. */
static struct {
        pthread_mutex_t lock;
        char seen[32][96];
        int n;
} changes = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_change(void *userdata, const struct rt_task_change *ch) {
        const char *want = userdata;
        if (strcmp(ch->task_id, want) != 0 && want[0])
                return;
        pthread_mutex_lock(&changes.lock);
        if (changes.n < 32)
                str_printf(changes.seen[changes.n++], sizeof(changes.seen[0]), "%s/%s/%s/%s/%s", ch->last_status,
                           ch->desired_status, ch->health_status, ch->stop_code ? ch->stop_code : "-", ch->group);
        pthread_mutex_unlock(&changes.lock);
}

static bool saw(const char *prefix) {
        pthread_mutex_lock(&changes.lock);
        bool found = false;
        for (int i = 0; i < changes.n; i++)
                if (strncmp(changes.seen[i], prefix, strlen(prefix)) == 0)
                        found = true;
        pthread_mutex_unlock(&changes.lock);
        return found;
}

/* The scheduler's stop: ServiceSchedulerInitiated with its reason; the subscriber is told of RUNNING, of the stop
 * request and of STOPPED; rt_lifecycle_tasks lists the task by its group while it lives, and no more once STOPPED. */
static void scheduler_stop_is_published(void **state) {
        struct fx *f = *state;
        static char any[1] = "";
        changes.n = 0;
        rt_lifecycle_subscribe(f->lc, on_change, any);
        struct rt_run_request req = {.region = "us-east-1", .account = "000000000000", .cluster_name = "default",
                                     .cluster_arn = "arn:aws:ecs:us-east-1:000000000000:cluster/default",
                                     .started_by = "ecs-svc/1234567890123456789", .group = "service:web"};
        json_t *td = taskdef("svc", json_pack("[o]", cdef("app", true, "")));
        req.taskdef = td;
        json_t *task = NULL;
        struct err e = {0};
        assert_int_equal(rt_lifecycle_run(f->lc, &req, &task, &e), 0);
        char id[64];
        str_printf(id, sizeof(id), "%s", strrchr(ecs_json_str(task, "taskArn", ""), '/') + 1);
        json_decref(task);
        json_decref(td);
        json_decref(wait_status(f, id, "RUNNING"));
        assert_true(saw("RUNNING/RUNNING/UNKNOWN/-/service:web"));

        json_t *listed = rt_lifecycle_tasks(f->lc, "us-east-1", "default", "service:web");
        assert_int_equal(json_array_size(listed), 1);
        const json_t *one = json_array_get(listed, 0);
        assert_string_equal(ecs_json_str(one, "id", ""), id);
        assert_string_equal(ecs_json_str(one, "startedBy", ""), "ecs-svc/1234567890123456789");
        assert_false(json_is_true(json_object_get(one, "healthCheck")));
        json_decref(listed);
        listed = rt_lifecycle_tasks(f->lc, "us-east-1", "default", "service:other");
        assert_int_equal(json_array_size(listed), 0);
        json_decref(listed);

        assert_int_equal(rt_lifecycle_stop(f->lc, id, "ServiceSchedulerInitiated",
                                           "Scaling activity initiated by (deployment ecs-svc/1234567890123456789)",
                                           NULL, &e),
                         0);
        json_t *doc = wait_status(f, id, "STOPPED");
        assert_string_equal(ecs_json_str(doc, "stopCode", ""), "ServiceSchedulerInitiated");
        assert_string_equal(ecs_json_str(doc, "stoppedReason", ""),
                            "Scaling activity initiated by (deployment ecs-svc/1234567890123456789)");
        json_decref(doc);
        assert_true(saw("RUNNING/STOPPED/UNKNOWN/ServiceSchedulerInitiated/service:web"));
        assert_true(saw("STOPPED/STOPPED/UNKNOWN/ServiceSchedulerInitiated/service:web"));
        listed = rt_lifecycle_tasks(f->lc, "us-east-1", "default", "service:web");
        assert_int_equal(json_array_size(listed), 0);
        json_decref(listed);
        rt_lifecycle_subscribe(f->lc, NULL, NULL);
}

/* A task with no worker keeps its documents as text and decodes them when used (lifecycle.c, "a task's documents at
 * rest"). Nothing is lost on the way: what the scheduler's scan reads at rest is the stored document's, an event on a
 * task at rest is applied to the whole document, and the stop (which needs the plan back) runs as it would. */
static void running_task_rests_as_text(void **state) {
        struct fx *f = *state;
        struct err e = {0};
        struct rt_run_request req = {.region = "us-east-1", .account = "000000000000", .cluster_name = "default",
                                     .cluster_arn = "arn:aws:ecs:us-east-1:000000000000:cluster/default",
                                     .started_by = "ecs-svc/42", .group = "service:rest"};
        json_t *td = taskdef("rest", json_pack("[oo]", cdef("app", true, ""), cdef("side", false, "")));
        req.taskdef = td;
        json_t *task = NULL;
        assert_int_equal(rt_lifecycle_run(f->lc, &req, &task, &e), 0);
        char id[64];
        str_printf(id, sizeof(id), "%s", strrchr(ecs_json_str(task, "taskArn", ""), '/') + 1);
        json_decref(task);
        json_decref(td);
        json_t *before = wait_status(f, id, "RUNNING");
        wait_workers_gone(f);
        json_t *c = rt_lifecycle_counters(f->lc);
        assert_int_equal(json_integer_value(json_object_get(c, "live_tasks")), 1);
        assert_int_equal(json_integer_value(json_object_get(c, "tasks_decoded")), 0);
        json_decref(c);

        json_t *listed = rt_lifecycle_tasks(f->lc, "us-east-1", "default", "service:rest");
        assert_int_equal(json_array_size(listed), 1);
        const json_t *one = json_array_get(listed, 0);
        assert_string_equal(ecs_json_str(one, "taskArn", ""), ecs_json_str(before, "taskArn", "-"));
        assert_string_equal(ecs_json_str(one, "lastStatus", ""), "RUNNING");
        assert_string_equal(ecs_json_str(one, "desiredStatus", ""), "RUNNING");
        assert_string_equal(ecs_json_str(one, "startedBy", ""), "ecs-svc/42");
        assert_true(json_equal(json_object_get(one, "startedAt"), json_object_get(before, "startedAt")));
        json_decref(listed);

        /* An exit of the non-essential container: applied to the document at rest, which goes back to rest. */
        deliver_exit("side", 3);
        json_t *after = stored(f, id, NULL);
        assert_int_equal(json_integer_value(json_object_get(container_doc(after, "side"), "exitCode")), 3);
        const char *key;
        json_t *v;
        json_object_foreach(before, key, v) {
                if (strcmp(key, "version") == 0 || strcmp(key, "containers") == 0)
                        continue;
                if (!json_equal(v, json_object_get(after, key)))
                        fail_msg("%s changed across an event at rest", key);
        }
        assert_int_equal(json_integer_value(json_object_get(after, "version")),
                         json_integer_value(json_object_get(before, "version")) + 1);
        c = rt_lifecycle_counters(f->lc);
        assert_int_equal(json_integer_value(json_object_get(c, "tasks_decoded")), 0);
        json_decref(c);

        /* The stop needs the plan (stop, logs, teardown): it is decoded for the stop worker. */
        assert_int_equal(rt_lifecycle_stop(f->lc, id, NULL, NULL, NULL, &e), 0);
        json_t *doc = wait_status(f, id, "STOPPED");
        assert_int_equal(counted("app")->stopped, 1);
        assert_true(json_equal(json_object_get(doc, "startedAt"), json_object_get(before, "startedAt")));
        assert_true(json_equal(json_object_get(doc, "pullStartedAt"), json_object_get(before, "pullStartedAt")));
        json_decref(doc);
        json_decref(after);
        json_decref(before);
}

/* Launches run on a bounded pool of threads (lifecycle.c, LAUNCHERS_MAX, 64): with 64 launches waiting for their
 * start, the next task's launch waits in the queue and begins nothing; a StopTask of it stops it on a thread of its
 * own at once, without waiting for a launcher (here they wait until the test's end), and it never was PENDING. */
static void launches_beyond_the_pool_wait_and_stop_at_once(void **state) {
        struct fx *f = *state;
        struct err e = {0};
        char id[64];
        for (int i = 0; i < 64; i++)
                assert_int_equal(run_task(f, taskdef("hang", json_pack("[o]", cdef("app", true, "hang"))), id, &e),
                                 0);
        pthread_mutex_lock(&tb.lock);
        while (tb.hanging < 64)
                pthread_cond_wait(&tb.changed, &tb.lock);
        pthread_mutex_unlock(&tb.lock);
        assert_int_equal(run_task(f, taskdef("hang", json_pack("[o]", cdef("app", true, "hang"))), id, &e), 0);
        json_t *c = rt_lifecycle_counters(f->lc);
        assert_int_equal(json_integer_value(json_object_get(c, "workers")), 65);
        assert_int_equal(json_integer_value(json_object_get(c, "launchers")), 64);
        assert_int_equal(json_integer_value(json_object_get(c, "launches_queued")), 1);
        json_decref(c);
        assert_int_equal(rt_lifecycle_stop(f->lc, id, NULL, NULL, NULL, &e), 0);
        json_t *priv = NULL;
        json_t *doc = wait_status(f, id, "STOPPED");
        json_decref(doc);
        doc = stored(f, id, &priv);
        assert_string_equal(ecs_json_str(doc, "stoppedReason", ""), "Task stopped during launch");
        const json_t *history = json_object_get(priv, "statuses");
        assert_string_equal(json_string_value(json_array_get(history, 0)), "PROVISIONING");
        size_t i;
        const json_t *st;
        json_array_foreach(history, i, st) assert_string_not_equal(json_string_value(st), "PENDING");
        json_decref(doc);
        json_decref(priv);
        pthread_mutex_lock(&tb.lock);
        assert_int_equal(counted("app")->started, 64);
        assert_int_equal(tb.hanging, 64);
        assert_false(tb.cancelled);
        pthread_mutex_unlock(&tb.lock);
}

int main(void) {
        log_max_level = LOG_WARN;
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(setup_failure_fails_to_start, setup, teardown),
                cmocka_unit_test_setup_teardown(start_failure_fails_to_start, setup, teardown),
                cmocka_unit_test_setup_teardown(stop_during_launch_default_reason, setup, teardown),
                cmocka_unit_test_setup_teardown(stop_during_launch_keeps_callers_reason, setup, teardown),
                cmocka_unit_test_setup_teardown(stop_running_task_default_reason, setup, teardown),
                cmocka_unit_test_setup_teardown(resync_does_not_judge_tasks_newer_than_its_snapshot, setup, teardown),
                cmocka_unit_test_setup_teardown(essential_exit_stops_the_others, setup, teardown),
                cmocka_unit_test_setup_teardown(depends_on_success_fails_fast, setup, teardown),
                cmocka_unit_test_setup_teardown(healthy_without_health_check_fails, setup, teardown),
                cmocka_unit_test_setup_teardown(store_write_failure_is_the_callers_error, setup, teardown),
                cmocka_unit_test_setup_teardown(thread_exhaustion_is_the_callers_error, setup, teardown),
                cmocka_unit_test_setup_teardown(recovery_keeps_the_family, setup, teardown),
                cmocka_unit_test_setup_teardown(scheduler_stop_is_published, setup, teardown),
                cmocka_unit_test_setup_teardown(running_task_rests_as_text, setup, teardown),
                cmocka_unit_test_setup_teardown(launches_beyond_the_pool_wait_and_stop_at_once, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
