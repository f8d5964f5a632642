/* test_k8s_api.c — pkg/k8s against a REAL kube-apiserver (with etcd, and kwok playing the kubelet of one node). Run by
 * tests/k8s/k8s-api-test, which starts the control plane, mints a ServiceAccount kubeconfig, applies
 * deploy/k8s/rbac.yaml and exports:
 *   KUBECONFIG                    admin kubeconfig (token, CA data)
 *   ECSD_K8S_NODE                 the kwok node pods are bound to
 *   ECSD_TEST_SA_KUBECONFIG       kubeconfig of system:serviceaccount:ecsd:ecsd
 *   ECSD_TEST_GOLDEN_DIR          tests/golden/k8s
 *   ECSD_TEST_RESTART_APISERVER   script that SIGKILLs the apiserver and starts it again with the same flags
 * Nothing here is mocked: every call goes to the API server over TLS on loopback. */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "ecs.h"
#include "express.h"
#include "k8s.h"

extern char **environ;

static const char *need_env(const char *name) {
        const char *v = getenv(name);
        if (!v || !*v)
                fail_msg("%s is not set: run this through tests/k8s/k8s-api-test", name);
        return v;
}

static struct k8s_config *load(const char *path) {
        struct k8s_config *cfg = NULL;
        struct err e = {0};
        if (k8s_config_load(path, NULL, &cfg, &e) < 0)
                fail_msg("config %s: %s", path ? path : "(default)", e.msg);
        return cfg;
}

static struct k8s_client *client(struct k8s_config *cfg) {
        struct k8s_client *c = NULL;
        struct err e = {0};
        struct k8s_client_options o = {.connect_timeout_ms = 3000, .request_timeout_ms = 15000};
        if (k8s_client_new(cfg, &o, &c, &e) < 0)
                fail_msg("client: %s", e.msg);
        return c;
}

/* A small task as a Pod through k8s_pod_manifest, bound to the kwok node, with kwok's steering annotations. */
static json_t *task_pod(const char *task_id, const char *owner, const char *ns, const char *exit_code,
                        const char *run_duration) {
        json_auto_t *td = json_pack("{s:s, s:i, s:s, s:[{s:s, s:s, s:i, s:[s,s,s]}]}", "family", "api-test", "revision",
                                    1, "networkMode", "awsvpc", "containerDefinitions", "name", "main", "image",
                                    "busybox:local", "memory", 32, "command", "sh", "-c", "echo hi");
        char arn[256];
        str_printf(arn, sizeof(arn), "arn:aws:ecs:us-east-1:000000000000:task/default/%s", task_id);
        struct k8s_task_spec s = {
                .taskdef = td,
                .task_arn = arn,
                .task_id = task_id,
                .cluster_name = "default",
                .namespace_ = ns,
                .node_name = need_env("ECSD_K8S_NODE"),
                .metadata_endpoint = "http://127.0.0.1:4566/_ecsd/metadata",
                .owner_label = owner,
                .native_sidecars = true,
        };
        json_t *pod = NULL;
        struct err e = {0};
        if (k8s_pod_manifest(&s, &pod, &e) < 0)
                fail_msg("manifest: %s", e.msg);
        json_t *ann = json_object_get(json_object_get(pod, "metadata"), "annotations");
        if (exit_code)
                json_object_set_new(ann, "ecsd.test/exit-code", json_string(exit_code));
        if (run_duration)
                json_object_set_new(ann, "ecsd.test/run-duration", json_string(run_duration));
        return pod;
}

/* ---- every golden Pod is accepted by the real API server (server-side dry run) ---- */

static int pod_files(const struct dirent *d) {
        size_t n = strlen(d->d_name);
        return n > 9 && strcmp(d->d_name + n - 9, ".pod.json") == 0;
}

static void golden_pods_dry_run(void **state) {
        (void) state;
        struct k8s_config *cfg = load(NULL);
        struct k8s_client *c = client(cfg);
        const char *dir = need_env("ECSD_TEST_GOLDEN_DIR");
        struct dirent **list;
        int n = scandir(dir, &list, pod_files, alphasort);
        assert_true(n >= 8);
        int failures = 0;
        for (int i = 0; i < n; i++) {
                char path[4096];
                str_printf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
                json_error_t jerr;
                json_auto_t *pod = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
                assert_non_null(pod);
                json_auto_t *out = NULL;
                struct err e = {0};
                const char *ns = json_string_value(json_object_get(json_object_get(pod, "metadata"), "namespace"));
                if (k8s_pod_dry_run_create(c, ns, pod, &out, &e) < 0) {
                        print_error("%s rejected by the API server: %s\n", list[i]->d_name, e.msg);
                        failures++;
                } else {
                        /* The server's answer is the admitted Pod: same name, nothing stored. */
                        assert_string_equal(json_string_value(json_object_get(json_object_get(out, "metadata"),
                                                                              "name")),
                                            json_string_value(json_object_get(json_object_get(pod, "metadata"),
                                                                              "name")));
                        print_message("dry run ok: %s\n", list[i]->d_name);
                }
                free(list[i]);
        }
        free(list);
        assert_int_equal(failures, 0);
        /* Nothing was created. */
        json_auto_t *items = NULL;
        struct err e = {0};
        assert_int_equal(k8s_pod_list(c, "ecsd", "io.ecsd/owner=ecsd-test", &items, NULL, &e), 0);
        assert_int_equal(json_array_size(items), 0);
        /* A Pod the server refuses: the Status message names the problem. */
        json_auto_t *bad = task_pod("bad-pod", "api-test", "ecsd", NULL, NULL);
        json_object_set_new(json_array_get(json_object_get(json_object_get(bad, "spec"), "containers"), 0), "image",
                            json_string(""));
        assert_int_equal(k8s_pod_dry_run_create(c, "ecsd", bad, NULL, &e), -EINVAL);
        assert_non_null(strstr(e.msg, "image"));
        assert_non_null(strstr(e.msg, "422 Invalid"));
        bool sidecars = false;
        assert_int_equal(k8s_client_native_sidecars(c, &sidecars, &e), 0);
        assert_true(sidecars); /* 1.32 */
        k8s_client_free(c);
        k8s_config_free(cfg);
}

/* ---- create / get / list / delete, and the number of calls that took ---- */

static void pod_crud(void **state) {
        (void) state;
        struct k8s_config *cfg = load(NULL);
        struct k8s_client *c = client(cfg);
        struct err e = {0};
        json_auto_t *pod = task_pod("crud1", "api-test-crud", "ecsd", NULL, NULL);
        int64_t t0 = time_mono_ms();
        json_auto_t *created = NULL;
        assert_int_equal(k8s_pod_create(c, "ecsd", pod, &created, &e), 0);
        assert_string_equal(json_string_value(json_object_get(json_object_get(created, "metadata"), "name")),
                            "ecsd-crud1");
        /* Creating it twice is a conflict, not a success. */
        assert_int_equal(k8s_pod_create(c, "ecsd", pod, NULL, &e), -EEXIST);
        assert_non_null(strstr(e.msg, "already exists"));
        json_auto_t *got = NULL;
        assert_int_equal(k8s_pod_get(c, "ecsd", "ecsd-crud1", &got, &e), 0);
        assert_string_equal(json_string_value(json_object_get(json_object_get(got, "spec"), "nodeName")),
                            need_env("ECSD_K8S_NODE"));
        json_auto_t *items = NULL;
        _cleanup_free_ char *rv = NULL;
        assert_int_equal(k8s_pod_list(c, "ecsd", "io.ecsd/owner=api-test-crud,io.ecsd/task-id=crud1", &items, &rv,
                                      &e), 0);
        assert_int_equal(json_array_size(items), 1);
        assert_true(rv && *rv);
        assert_int_equal(k8s_pod_delete(c, "ecsd", "ecsd-crud1", 0, &e), 0);
        /* Gone (grace 0 on a kwok node): a second delete and a get are 404 → -ENOENT. */
        int r = -1;
        for (int i = 0; i < 50 && (r = k8s_pod_get(c, "ecsd", "ecsd-crud1", NULL, &e)) == 0; i++)
                usleep(100 * 1000);
        assert_int_equal(r, -ENOENT);
        assert_int_equal(e.kind, ERR_KIND_NOT_FOUND);
        assert_int_equal(k8s_pod_delete(c, "ecsd", "ecsd-crud1", 0, &e), -ENOENT);
        assert_non_null(strstr(e.msg, "not found"));
        /* Escaping: a name with '/' cannot reach another path. */
        assert_int_equal(k8s_pod_get(c, "ecsd", "../secrets/x", NULL, &e), -ENOENT);
        uint64_t calls = k8s_client_calls(c);
        print_message("crud: %llu API calls (create, create, get, list, delete, get polls, delete, get) in %lld ms\n",
                      (unsigned long long) calls, (long long) (time_mono_ms() - t0));
        assert_true(calls >= 8 && calls <= 8 + 50);
        k8s_client_free(c);
        k8s_config_free(cfg);
}

/* ---- following output ---- */

static bool stream_data(const char *data, size_t len, void *userdata) {
        (void) data;
        (void) len;
        (*(int *) userdata)++;
        return true;
}

static void stream_end(const struct err *e, void *userdata) {
        (void) e;
        (*(int *) userdata) += 1000;
}

/* kwok serves no pods/log, so this covers the API side only: an error answer fails the open with the Status
 * message and runs no callback (a missing Pod; a Pod whose node has no kubelet to ask). The kubelet side (output as
 * it is written, the end) is tested on a real kubelet by tests/e2e/scenarios/test_k8s_kubelet.py. */
static void log_stream_errors(void **state) {
        (void) state;
        struct k8s_config *cfg = load(NULL);
        struct err e = {0};
        int calls = 0;
        struct k8s_log_stream *s = NULL;
        assert_int_equal(k8s_log_stream_open(cfg, "ecsd", "ecsd-no-such-pod", "main", stream_data, stream_end, &calls,
                                             5000, &s, &e),
                         -ENOENT);
        assert_null(s);
        assert_non_null(strstr(e.msg, "not found"));
        assert_int_equal(calls, 0);

        struct k8s_client *c = client(cfg);
        json_auto_t *pod = task_pod("logs1", "api-test-logs", "ecsd", NULL, NULL);
        assert_int_equal(k8s_pod_create(c, "ecsd", pod, NULL, &e), 0);
        int r = k8s_log_stream_open(cfg, "ecsd", "ecsd-logs1", "main", stream_data, stream_end, &calls, 5000, &s, &e);
        print_message("log stream on the kwok node: %d (%s)\n", r, r < 0 ? e.msg : "open");
        assert_true(r < 0);
        assert_null(s);
        assert_int_equal(calls, 0);
        /* Bad names never reach the server. */
        assert_int_equal(k8s_log_stream_open(cfg, "ecsd", "", "main", stream_data, stream_end, &calls, 5000, &s, &e),
                         -EINVAL);
        assert_int_equal(k8s_pod_delete(c, "ecsd", "ecsd-logs1", 0, &e), 0);
        k8s_client_free(c);
        k8s_config_free(cfg);
}

/* ---- the watch ---- */

struct seen {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        int relists;
        char log[64][96]; /* "EVENT name phase" */
        int n;
};

static void on_event(enum k8s_watch_event ev, const json_t *obj, void *ud) {
        struct seen *s = ud;
        pthread_mutex_lock(&s->lock);
        if (ev == K8S_WATCH_RELISTED) {
                s->relists++;
                if (s->n < 64)
                        str_printf(s->log[s->n++], sizeof(s->log[0]), "RELISTED %zu", json_array_size(obj));
        } else if (s->n < 64) {
                const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
                const char *phase = json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
                int64_t code = -1;
                const json_t *cs = json_array_get(json_object_get(json_object_get(obj, "status"), "containerStatuses"),
                                                  0);
                ecs_json_int(json_object_get(json_object_get(cs, "state"), "terminated"), "exitCode", &code);
                str_printf(s->log[s->n++], sizeof(s->log[0]), "%s %s %s %lld", k8s_watch_event_to_string(ev),
                           name ? name : "?", phase ? phase : "-", (long long) code);
        }
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
}

/* Wait until an entry of the log starts with `prefix`; true if it came within `ms`. */
static bool wait_for(struct seen *s, const char *prefix, int ms) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&s->lock);
        bool found = false;
        for (;;) {
                for (int i = 0; i < s->n && !found; i++)
                        found = strncmp(s->log[i], prefix, strlen(prefix)) == 0;
                if (found || pthread_cond_timedwait(&s->cond, &s->lock, &ts) != 0)
                        break;
        }
        for (int i = 0; i < s->n && !found; i++)
                found = strncmp(s->log[i], prefix, strlen(prefix)) == 0;
        pthread_mutex_unlock(&s->lock);
        return found;
}

static void dump(struct seen *s) {
        pthread_mutex_lock(&s->lock);
        for (int i = 0; i < s->n; i++)
                print_message("  watch: %s\n", s->log[i]);
        pthread_mutex_unlock(&s->lock);
}

static void run_restart_script(void) {
        const char *script = need_env("ECSD_TEST_RESTART_APISERVER");
        char *argv[] = {(char *) (uintptr_t) script, NULL};
        pid_t pid;
        assert_int_equal(posix_spawn(&pid, script, NULL, NULL, argv, environ), 0);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void watch_events_and_restart(void **state) {
        (void) state;
        struct k8s_config *cfg = load(NULL);
        struct k8s_client *c = client(cfg);
        struct seen s = {.n = 0};
        pthread_mutex_init(&s.lock, NULL);
        pthread_cond_init(&s.cond, NULL);
        struct k8s_watch *w = NULL;
        struct err e = {0};
        assert_int_equal(k8s_watch_start(cfg, "ecsd", "io.ecsd/owner=api-test-watch", on_event, &s, &w, &e), 0);
        assert_true(wait_for(&s, "RELISTED 0", 10000));

        int64_t t0 = time_mono_ms();
        json_auto_t *pod = task_pod("watch1", "api-test-watch", "ecsd", "0", "1s");
        assert_int_equal(k8s_pod_create(c, "ecsd", pod, NULL, &e), 0);
        bool ok = wait_for(&s, "ADDED ecsd-watch1", 10000) && wait_for(&s, "MODIFIED ecsd-watch1 Running", 15000) &&
                  wait_for(&s, "MODIFIED ecsd-watch1 Succeeded 0", 15000);
        if (!ok)
                dump(&s);
        assert_true(ok);
        print_message("watch: create → Succeeded seen in %lld ms\n", (long long) (time_mono_ms() - t0));

        /* Idle: no polling. Over two quiet seconds the watch sends no request. */
        struct k8s_watch_stats before, after;
        k8s_watch_get_stats(w, &before);
        usleep(2000 * 1000);
        k8s_watch_get_stats(w, &after);
        assert_int_equal(after.calls, before.calls);
        assert_int_equal(before.lists, 1);

        /* The API server dies and comes back (same etcd): the watch reconnects, resumes or relists, and sees a pod
         * created afterwards. */
        int64_t t1 = time_mono_ms();
        run_restart_script();
        print_message("watch: apiserver restarted in %lld ms\n", (long long) (time_mono_ms() - t1));
        assert_int_equal(k8s_pod_delete(c, "ecsd", "ecsd-watch1", 0, &e), 0);
        json_auto_t *pod2 = task_pod("watch2", "api-test-watch", "ecsd", "0", NULL);
        assert_int_equal(k8s_pod_create(c, "ecsd", pod2, NULL, &e), 0);
        ok = wait_for(&s, "ADDED ecsd-watch2", 20000) && wait_for(&s, "MODIFIED ecsd-watch2 Succeeded 0", 20000);
        struct k8s_watch_stats st;
        k8s_watch_get_stats(w, &st);
        print_message("watch stats: calls=%llu lists=%llu relists_410=%llu reconnects=%llu bookmarks=%llu "
                      "events=%llu; seen after restart in %lld ms\n",
                      (unsigned long long) st.calls, (unsigned long long) st.lists,
                      (unsigned long long) st.relists_410, (unsigned long long) st.reconnects,
                      (unsigned long long) st.bookmarks, (unsigned long long) st.events,
                      (long long) (time_mono_ms() - t1));
        if (!ok)
                dump(&s);
        assert_true(ok);
        assert_true(st.reconnects >= 1);
        /* The deletion of watch1 reached us too, either as DELETED or through a relist without it. */
        assert_true(wait_for(&s, "DELETED ecsd-watch1", 10000) || st.relists_410 > 0);
        /* Whatever happened, the watch never fell back to polling: a handful of requests in all. */
        assert_true(st.calls <= 12);

        int64_t t2 = time_mono_ms();
        k8s_watch_stop(w);
        int64_t stop_ms = time_mono_ms() - t2;
        print_message("watch: stopped in %lld ms\n", (long long) stop_ms);
        assert_true(stop_ms < 2000);
        assert_int_equal(k8s_pod_delete(c, "ecsd", "ecsd-watch2", 0, &e), 0);
        pthread_cond_destroy(&s.cond);
        pthread_mutex_destroy(&s.lock);
        k8s_client_free(c);
        k8s_config_free(cfg);
}

/* ---- least privilege: the ServiceAccount with deploy/k8s/rbac.yaml ---- */

static void service_account_rbac(void **state) {
        (void) state;
        struct k8s_config *cfg = load(need_env("ECSD_TEST_SA_KUBECONFIG"));
        assert_string_equal(k8s_config_namespace(cfg), "ecsd");
        struct k8s_client *c = client(cfg);
        struct err e = {0};
        json_auto_t *pod = task_pod("rbac1", "api-test-rbac", "ecsd", NULL, NULL);
        assert_int_equal(k8s_pod_create(c, "ecsd", pod, NULL, &e), 0);
        json_auto_t *items = NULL;
        assert_int_equal(k8s_pod_list(c, "ecsd", "io.ecsd/owner=api-test-rbac", &items, NULL, &e), 0);
        assert_int_equal(json_array_size(items), 1);
        long status = 0;
        json_auto_t *events = NULL;
        assert_int_equal(k8s_request(c, "GET", "/api/v1/namespaces/ecsd/events", NULL, &status, &events, &e), 0);
        assert_int_equal(status, 200);
        assert_int_equal(k8s_pod_delete(c, "ecsd", "ecsd-rbac1", 0, &e), 0);

        /* Elsewhere, and for anything but pods/events, the Status message is surfaced. */
        json_auto_t *other = task_pod("rbac2", "api-test-rbac", "ecsd-other", NULL, NULL);
        assert_int_equal(k8s_pod_create(c, "ecsd-other", other, NULL, &e), -EACCES);
        print_message("forbidden: %s\n", e.msg);
        assert_non_null(strstr(e.msg, "system:serviceaccount:ecsd:ecsd"));
        assert_non_null(strstr(e.msg, "cannot create resource \"pods\""));
        assert_non_null(strstr(e.msg, "ecsd-other"));
        assert_non_null(strstr(e.msg, "403 Forbidden"));
        json_auto_t *none = NULL;
        assert_int_equal(k8s_pod_list(c, "ecsd-other", NULL, &none, NULL, &e), -EACCES);
        assert_int_equal(k8s_request(c, "GET", "/api/v1/namespaces/ecsd/secrets", NULL, &status, NULL, &e), -EACCES);
        assert_int_equal(status, 403);
        assert_non_null(strstr(e.msg, "secrets"));
        k8s_client_free(c);
        k8s_config_free(cfg);
}

/* ---- the Service of an express gateway service (service.c), as the ServiceAccount of deploy/k8s/rbac.yaml ---- */

static void express_service(void **state) {
        (void) state;
        struct k8s_config *cfg = load(need_env("ECSD_TEST_SA_KUBECONFIG"));
        struct k8s_client *c = client(cfg);
        struct k8s_express_ingress *g = NULL;
        struct rt_express_ingress hooks;
        assert_int_equal(k8s_express_ingress_new(cfg, K8S_NS_FIXED, "ecsd", &g, &hooks), 0);
        struct err e = {0};
        char endpoint[256], name[64];
        assert_int_equal(hooks.expose(hooks.userdata, "us-east-1", "default", "Web_App", "default-Web_App", 8080,
                                      endpoint, sizeof(endpoint), &e), 0);
        assert_int_equal(k8s_express_service_name("default", "Web_App", name, sizeof(name), &e), 0);
        assert_string_equal(name, "ecsd-x-default-web-app");

        /* The Service object: ClusterIP, selecting the family's Pods in the cluster by ecsd's labels. */
        json_auto_t *svc = NULL;
        assert_int_equal(k8s_service_get(c, "ecsd", name, &svc, &e), 0);
        const json_t *spec = json_object_get(svc, "spec");
        assert_string_equal(ecs_json_str(spec, "type", ""), "ClusterIP");
        const json_t *sel = json_object_get(spec, "selector");
        assert_int_equal(json_object_size(sel), 3);
        assert_string_equal(ecs_json_str(sel, K8S_LABEL_FAMILY, ""), "default-Web_App");
        assert_string_equal(ecs_json_str(sel, K8S_LABEL_CLUSTER, ""), "default");
        assert_string_equal(ecs_json_str(sel, K8S_LABEL_MANAGED_BY, ""), "ecsd");
        const json_t *port = json_array_get(json_object_get(spec, "ports"), 0);
        assert_int_equal(json_integer_value(json_object_get(port, "port")), 8080);
        assert_int_equal(json_integer_value(json_object_get(port, "targetPort")), 8080);
        assert_string_equal(ecs_json_str(port, "protocol", ""), "TCP");
        const char *ip = ecs_json_str(spec, "clusterIP", "");
        assert_true(*ip);
        char want[256];
        str_printf(want, sizeof(want), "http://%s:8080/", ip);
        assert_string_equal(endpoint, want);
        char ip_before[64];
        str_printf(ip_before, sizeof(ip_before), "%s", ip);

        /* A port change replaces the spec and keeps the address. */
        assert_int_equal(hooks.expose(hooks.userdata, "us-east-1", "default", "Web_App", "default-Web_App", 9090,
                                      endpoint, sizeof(endpoint), &e), 0);
        json_auto_t *again = NULL;
        assert_int_equal(k8s_service_get(c, "ecsd", name, &again, &e), 0);
        spec = json_object_get(again, "spec");
        assert_string_equal(ecs_json_str(spec, "clusterIP", ""), ip_before);
        port = json_array_get(json_object_get(spec, "ports"), 0);
        assert_int_equal(json_integer_value(json_object_get(port, "port")), 9090);
        str_printf(want, sizeof(want), "http://%s:9090/", ip_before);
        assert_string_equal(endpoint, want);

        /* Deleted with the express service; deleting again is not an error. */
        assert_int_equal(hooks.unexpose(hooks.userdata, "us-east-1", "default", "Web_App", &e), 0);
        json_auto_t *none = NULL;
        assert_int_equal(k8s_service_get(c, "ecsd", name, &none, &e), -ENOENT);
        assert_int_equal(hooks.unexpose(hooks.userdata, "us-east-1", "default", "Web_App", &e), 0);
        /* Bad ports are refused before any request. */
        assert_int_equal(k8s_service_apply(c, "ecsd", name, sel, NULL, 0, 80, NULL, &e), -EINVAL);
        k8s_express_ingress_free(g);
        k8s_client_free(c);
        k8s_config_free(cfg);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(golden_pods_dry_run),
                cmocka_unit_test(pod_crud),
                cmocka_unit_test(log_stream_errors),
                cmocka_unit_test(service_account_rbac),
                cmocka_unit_test(express_service),
                cmocka_unit_test(watch_events_and_restart),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
