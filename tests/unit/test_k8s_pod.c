/* test_k8s_pod.c — the Pod manifest (pkg/k8s/pod.c) and the cluster → namespace mapping: golden files plus targeted
 * checks.
 *
 * Golden files live in tests/golden/k8s: each `NAME.json` is a registered TaskDefinition, or
 * {"taskDefinition": ..., "overrides": ..., "spec": {"native_sidecars": false}}, and `NAME.pod.json` the Pod
 * k8s_pod_manifest must build for it with the fixed spec below. `UPDATE_GOLDEN=1` rewrites the expected files from
 * the current output (review the diff!). That the real API server accepts every golden Pod is checked by the k8s
 * integration test (tests/k8s/test_k8s_api.c, server-side dry run). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "k8s-internal.h"
#include "ecs.h"
#include "k8s.h"

#define TASK_ID "0123456789abcdef0123456789abcdef"
#define TASK_ARN "arn:aws:ecs:us-east-1:000000000000:task/default/" TASK_ID
#define CREDS_ID "5f0c9e3a-1b2d-4c8e-9f60-7a1b2c3d4e5f"

static const char *golden_dir(void) {
#ifdef GOLDEN_DIR
        return GOLDEN_DIR;
#else
        return "tests/golden/k8s";
#endif
}

static struct k8s_task_spec fixed_spec(const json_t *td, const json_t *ov, const json_t *overrides_of_spec) {
        struct k8s_task_spec s = {
                .taskdef = td,
                .overrides = ov,
                .task_arn = TASK_ARN,
                .task_id = TASK_ID,
                .cluster_name = "default",
                .namespace_ = "ecsd",
                .node_name = "kwok-node-0",
                .metadata_endpoint = "http://ecsd.ecsd.svc:4566/_ecsd/metadata",
                .credentials_endpoint = ECS_CREDENTIALS_URL,
                .credentials_id = CREDS_ID,
                .owner_label = "ecsd-test",
                .native_sidecars = true,
        };
        if (json_is_false(json_object_get(overrides_of_spec, "native_sidecars")))
                s.native_sidecars = false;
        return s;
}

static json_t *load_input(const char *path, const json_t **td, const json_t **ov, const json_t **sp) {
        json_error_t jerr;
        json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        if (!doc)
                fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
        const json_t *wrapped = json_object_get(doc, "taskDefinition");
        *td = wrapped ? wrapped : doc;
        *ov = wrapped ? json_object_get(doc, "overrides") : NULL;
        *sp = wrapped ? json_object_get(doc, "spec") : NULL;
        return doc;
}

static json_t *pod_ok_spec(const struct k8s_task_spec *s) {
        struct err e = {0};
        json_t *pod = NULL;
        if (k8s_pod_manifest(s, &pod, &e) < 0)
                fail_msg("k8s_pod_manifest failed: %s", e.msg);
        assert_non_null(pod);
        return pod;
}

static json_t *pod_file(const char *name) {
        char path[4096];
        str_printf(path, sizeof(path), "%s/%s", golden_dir(), name);
        const json_t *td, *ov, *sp;
        json_auto_t *doc = load_input(path, &td, &ov, &sp);
        struct k8s_task_spec s = fixed_spec(td, ov, sp);
        return pod_ok_spec(&s);
}

static int golden_filter(const struct dirent *d) {
        size_t n = strlen(d->d_name);
        return n > 5 && strcmp(d->d_name + n - 5, ".json") == 0 && !(n > 9 && strcmp(d->d_name + n - 9, ".pod.json") == 0);
}

static void golden_pods(void **state) {
        (void) state;
        struct dirent **list;
        int n = scandir(golden_dir(), &list, golden_filter, alphasort);
        assert_true(n >= 8);
        bool update = getenv("UPDATE_GOLDEN") && strcmp(getenv("UPDATE_GOLDEN"), "1") == 0;
        int mismatches = 0;
        for (int i = 0; i < n; i++) {
                char want_path[4096];
                str_printf(want_path, sizeof(want_path), "%s/%.*s.pod.json", golden_dir(),
                           (int) (strlen(list[i]->d_name) - 5), list[i]->d_name);
                json_auto_t *got = pod_file(list[i]->d_name);
                if (update) {
                        assert_int_equal(json_dump_file(got, want_path, JSON_INDENT(2) | JSON_SORT_KEYS), 0);
                        print_message("updated %s\n", want_path);
                        free(list[i]);
                        continue;
                }
                json_error_t jerr;
                json_auto_t *want = json_load_file(want_path, JSON_REJECT_DUPLICATES, &jerr);
                if (!want) {
                        print_error("%s: %s (run with UPDATE_GOLDEN=1 to create it)\n", want_path, jerr.text);
                        mismatches++;
                } else if (!json_equal(got, want)) {
                        char *g = json_dumps(got, JSON_INDENT(2) | JSON_SORT_KEYS);
                        print_error("pod for %s differs from %s; got:\n%s\n", list[i]->d_name, want_path, g ? g : "?");
                        free(g);
                        mismatches++;
                }
                free(list[i]);
        }
        free(list);
        assert_int_equal(mismatches, 0);
}

/* ---- helpers over a built Pod ---- */

static const json_t *find_named(const json_t *list, const char *name) {
        size_t i;
        const json_t *c;
        json_array_foreach(list, i, c)
                if (strcmp(json_string_value(json_object_get(c, "name")), name) == 0)
                        return c;
        return NULL;
}

static const json_t *container(const json_t *pod, const char *name) {
        const json_t *spec = json_object_get(pod, "spec");
        const json_t *c = find_named(json_object_get(spec, "containers"), name);
        if (!c)
                c = find_named(json_object_get(spec, "initContainers"), name);
        if (!c)
                fail_msg("no container %s in the pod", name);
        return c;
}

static const json_t *env_var(const json_t *c, const char *name) {
        return find_named(json_object_get(c, "env"), name);
}

static const char *annotation(const json_t *pod, const char *key) {
        return json_string_value(json_object_get(json_object_get(json_object_get(pod, "metadata"), "annotations"), key));
}

static json_t *records(const json_t *pod) {
        json_error_t jerr;
        json_t *r = json_loads(annotation(pod, K8S_ANNOTATION_CONTAINERS), 0, &jerr);
        assert_non_null(r);
        return r;
}

static const char *init_names(const json_t *pod, char *buf, size_t size) {
        buf[0] = '\0';
        size_t i, o = 0;
        const json_t *c;
        json_array_foreach(json_object_get(json_object_get(pod, "spec"), "initContainers"), i, c) {
                const char *rp = json_string_value(json_object_get(c, "restartPolicy"));
                int n = snprintf(buf + o, size - o, "%s%s%s", o ? "," : "",
                                 json_string_value(json_object_get(c, "name")), rp ? "(sidecar)" : "");
                if (n < 0 || (size_t) n >= size - o)
                        break;
                o += (size_t) n;
        }
        return buf;
}

/* Over every golden Pod: the invariants that hold whatever the definition. */
static void invariants_over_golden(void **state) {
        (void) state;
        struct dirent **list;
        int n = scandir(golden_dir(), &list, golden_filter, alphasort);
        assert_true(n > 0);
        for (int f = 0; f < n; f++) {
                char path[4096];
                str_printf(path, sizeof(path), "%s/%s", golden_dir(), list[f]->d_name);
                const json_t *td, *ov, *sp;
                json_auto_t *doc = load_input(path, &td, &ov, &sp);
                json_auto_t *pod = pod_file(list[f]->d_name);
                const json_t *spec = json_object_get(pod, "spec"), *meta = json_object_get(pod, "metadata");
                assert_string_equal(json_string_value(json_object_get(spec, "restartPolicy")), "Never");
                assert_string_equal(json_string_value(json_object_get(meta, "name")), "ecsd-" TASK_ID);
                assert_true(json_is_false(json_object_get(spec, "automountServiceAccountToken")));
                /* Every label is a valid label: key and value. */
                const char *k;
                json_t *v;
                json_object_foreach(json_object_get(meta, "labels"), k, v) {
                        assert_true(k8s_qualified_name_valid(k));
                        const char *s = json_string_value(v);
                        if (*s && !k8s_qualified_name_valid(s))
                                fail_msg("%s: label %s=%s is not a valid label value", path, k, s);
                }
                json_object_foreach(json_object_get(meta, "annotations"), k, v)
                        assert_true(k8s_qualified_name_valid(k));
                assert_string_equal(annotation(pod, K8S_ANNOTATION_TASK_ARN), TASK_ARN);
                /* No secret is a literal value: each becomes a secretKeyRef, and valueFrom strings appear nowhere. */
                _cleanup_free_ char *text = json_dumps(pod, JSON_COMPACT);
                size_t i;
                const json_t *c;
                json_array_foreach(json_object_get(td, "containerDefinitions"), i, c) {
                        size_t kk;
                        const json_t *s;
                        json_array_foreach(json_object_get(c, "secrets"), kk, s) {
                                const char *from = json_string_value(json_object_get(s, "valueFrom"));
                                if (strstr(text, from))
                                        fail_msg("%s: valueFrom %s appears in the pod", path, from);
                                char kname[64];
                                str_printf(kname, sizeof(kname), "%s", json_string_value(json_object_get(c, "name")));
                                for (char *p = kname; *p; p++)
                                        *p = *p == '_' ? '-' : *p;
                                const json_t *ev = env_var(container(pod, kname),
                                                           json_string_value(json_object_get(s, "name")));
                                assert_non_null(ev);
                                assert_null(json_object_get(ev, "value"));
                                assert_non_null(json_object_get(json_object_get(ev, "valueFrom"), "secretKeyRef"));
                        }
                }
                /* Init containers never carry probes (the API server refuses them) unless they are sidecars. */
                json_array_foreach(json_object_get(spec, "initContainers"), i, c)
                        if (!json_object_get(c, "restartPolicy"))
                                assert_null(json_object_get(c, "readinessProbe"));
                /* No probe restarts a container: health checks are readiness (and startup for sidecars). */
                json_array_foreach(json_object_get(spec, "containers"), i, c)
                        assert_null(json_object_get(c, "livenessProbe"));
                free(list[f]);
        }
        free(list);
}

static void depends_on_shapes(void **state) {
        (void) state;
        char buf[512];
        /* migrate (SUCCESS, not essential) runs first to completion; db (HEALTHY upstream) and api (START upstream)
         * are native sidecars; envoy is the one regular container. */
        json_auto_t *pod = pod_file("awsvpc-depends-on.json");
        assert_string_equal(init_names(pod, buf, sizeof(buf)), "migrate,db(sidecar),api(sidecar)");
        const json_t *db = container(pod, "db");
        const json_t *startup = json_object_get(db, "startupProbe");
        assert_non_null(startup);
        /* startTimeout 120 / interval 10 → 12 tries before the kubelet gives up on it. */
        assert_int_equal(json_integer_value(json_object_get(startup, "failureThreshold")), 12);
        assert_non_null(json_object_get(db, "readinessProbe"));
        json_auto_t *rec = records(pod);
        assert_string_equal(json_string_value(json_object_get(json_object_get(rec, "migrate"), "role")), "init");
        assert_true(json_is_true(json_object_get(json_array_get(json_object_get(json_object_get(rec, "api"),
                                                                                "dependsOn"), 0), "enforced")));
        assert_int_equal(json_integer_value(json_object_get(json_object_get(pod, "spec"),
                                                             "terminationGracePeriodSeconds")), 60);
        assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(pod, "spec"),
                                                                              "nodeSelector"), "kubernetes.io/arch")),
                            "amd64");

        /* Without native sidecars, the init container still orders SUCCESS (HEALTHY and START are refused then:
         * depends_on_a_pod_cannot_keep_is_refused). */
        json_auto_t *plain = pod_file("no-native-sidecars.json");
        assert_string_equal(init_names(plain, buf, sizeof(buf)), "migrate");
        json_auto_t *prec = records(plain);
        const json_t *api_deps = json_object_get(json_object_get(prec, "api"), "dependsOn");
        assert_int_equal(json_array_size(api_deps), 1);
        assert_true(json_is_true(json_object_get(json_array_get(api_deps, 0), "enforced"))); /* migrate SUCCESS */

        /* A chain: sidecar → init → sidecar (HEALTHY) → init (COMPLETE) → web (sidecar: metrics waits for START). */
        json_auto_t *sc = pod_file("sidecars.json");
        assert_string_equal(init_names(sc, buf, sizeof(buf)),
                            "log-router(sidecar),config,proxy(sidecar),warmup,web(sidecar)");
        assert_null(json_object_get(container(sc, "log-router"), "startupProbe")); /* only START dependents */
        assert_non_null(json_object_get(container(sc, "proxy"), "startupProbe"));
        /* The CMD form is an exec probe without a shell. */
        const json_t *cmd = json_object_get(json_object_get(json_object_get(container(sc, "log-router"),
                                                                            "readinessProbe"), "exec"), "command");
        assert_string_equal(json_string_value(json_array_get(cmd, 0)), "/fluent-bit/bin/fluent-bit");
        /* volumesFrom copies config's mount, read-only. */
        const json_t *vm = json_array_get(json_object_get(container(sc, "web"), "volumeMounts"), 0);
        assert_string_equal(json_string_value(json_object_get(vm, "mountPath")), "/config");
        assert_true(json_is_true(json_object_get(vm, "readOnly")));
}

static void env_secrets_and_endpoints(void **state) {
        (void) state;
        json_auto_t *pod = pod_file("secrets.json");
        const json_t *c = container(pod, "payments");
        const json_t *ref = json_object_get(json_object_get(env_var(c, "DB_PASSWORD"), "valueFrom"), "secretKeyRef");
        assert_string_equal(json_string_value(json_object_get(ref, "name")), "payments-db-abcdef");
        assert_string_equal(json_string_value(json_object_get(ref, "key")), "value");
        ref = json_object_get(json_object_get(env_var(c, "DB_USER"), "valueFrom"), "secretKeyRef");
        assert_string_equal(json_string_value(json_object_get(ref, "name")), "payments-db-abcdef");
        assert_string_equal(json_string_value(json_object_get(ref, "key")), "username");
        ref = json_object_get(json_object_get(env_var(c, "API_KEY"), "valueFrom"), "secretKeyRef");
        assert_string_equal(json_string_value(json_object_get(ref, "name")), "payments-api-key");
        ref = json_object_get(json_object_get(env_var(c, "TLS_KEY"), "valueFrom"), "secretKeyRef");
        assert_string_equal(json_string_value(json_object_get(ref, "name")), "payments-tls");
        assert_string_equal(json_string_value(json_object_get(ref, "key")), "tls.key");
        ref = json_object_get(json_object_get(env_var(c, "DOCKER_REGISTRY_TOKEN"), "valueFrom"), "secretKeyRef");
        assert_string_equal(json_string_value(json_object_get(ref, "name")), "payments-registry-token");
        /* Plain values are plain (a Pod is not an argv). */
        assert_string_equal(json_string_value(json_object_get(env_var(c, "PATH"), "value")),
                            "/opt/payments/bin:/usr/local/bin:/usr/bin:/bin");
        assert_string_equal(json_string_value(json_object_get(env_var(c, "ECS_CONTAINER_METADATA_URI_V4"), "value")),
                            "http://ecsd.ecsd.svc:4566/_ecsd/metadata/" TASK_ID "/payments");
        assert_string_equal(json_string_value(json_object_get(env_var(c, "AWS_REGION"), "value")), "us-east-1");
        /* A link is a name for localhost. */
        const json_t *ha = json_array_get(json_object_get(json_object_get(pod, "spec"), "hostAliases"), 0);
        assert_string_equal(json_string_value(json_object_get(ha, "ip")), "127.0.0.1");
        assert_string_equal(json_string_value(json_array_get(json_object_get(ha, "hostnames"), 0)), "cache");

        json_auto_t *op = pod_file("overrides.json");
        const json_t *r = container(op, "report");
        assert_string_equal(json_string_value(json_object_get(env_var(r, "REPORT_KIND"), "value")), "monthly-override");
        assert_string_equal(json_string_value(json_object_get(env_var(r, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
                                                              "value")),
                            "/v2/credentials/" CREDS_ID);
        assert_null(env_var(r, "AWS_CONTAINER_CREDENTIALS_FULL_URI"));
        /* Another port of the credentials address: the full URL; no credentials id: no variable. */
        char path[4096];
        str_printf(path, sizeof(path), "%s/overrides.json", golden_dir());
        const json_t *td, *ov, *sp;
        json_auto_t *doc = load_input(path, &td, &ov, &sp);
        struct k8s_task_spec s = fixed_spec(td, ov, sp);
        s.credentials_endpoint = "http://169.254.170.2:40123";
        json_auto_t *full = pod_ok_spec(&s);
        assert_string_equal(json_string_value(json_object_get(env_var(container(full, "report"),
                                                                      "AWS_CONTAINER_CREDENTIALS_FULL_URI"), "value")),
                            "http://169.254.170.2:40123/v2/credentials/" CREDS_ID);
        assert_null(env_var(container(full, "report"), "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"));
        s.credentials_id = NULL;
        json_auto_t *none = pod_ok_spec(&s);
        assert_null(env_var(container(none, "report"), "AWS_CONTAINER_CREDENTIALS_FULL_URI"));
        assert_null(env_var(container(none, "report"), "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"));
        const json_t *res = json_object_get(r, "resources");
        assert_string_equal(json_string_value(json_object_get(json_object_get(res, "requests"), "cpu")), "1000m");
        assert_string_equal(json_string_value(json_object_get(json_object_get(res, "limits"), "memory")), "2048Mi");
        assert_string_equal(json_string_value(json_object_get(json_object_get(res, "requests"), "memory")), "1024Mi");
        const json_t *args = json_object_get(r, "args");
        assert_string_equal(json_string_value(json_array_get(args, 0)), "generate");
        assert_string_equal(json_string_value(json_array_get(args, 2)), "--month=2024-10");
}

static void security_and_volumes(void **state) {
        (void) state;
        json_auto_t *pod = pod_file("linux-parameters.json");
        const json_t *w = container(pod, "worker");
        const json_t *sc = json_object_get(w, "securityContext");
        assert_int_equal(json_integer_value(json_object_get(sc, "runAsUser")), 1000);
        assert_int_equal(json_integer_value(json_object_get(sc, "runAsGroup")), 1000);
        assert_true(json_is_true(json_object_get(sc, "readOnlyRootFilesystem")));
        assert_true(json_is_false(json_object_get(sc, "allowPrivilegeEscalation")));
        assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(sc, "capabilities"),
                                                                             "add"), 0)), "SYS_PTRACE");
        assert_string_equal(json_string_value(json_object_get(w, "workingDir")), "/app");
        assert_string_equal(json_string_value(json_array_get(json_object_get(w, "command"), 0)), "/usr/bin/tini");
        assert_string_equal(json_string_value(json_array_get(json_object_get(w, "args"), 1)), "jobs high");
        const json_t *spec = json_object_get(pod, "spec");
        assert_true(json_is_true(json_object_get(spec, "hostIPC")));
        assert_int_equal(json_integer_value(json_object_get(spec, "terminationGracePeriodSeconds")), 90);
        assert_non_null(find_named(json_object_get(spec, "volumes"), "shm-worker"));
        assert_non_null(strstr(annotation(pod, K8S_ANNOTATION_NOTES), "ulimits"));

        json_auto_t *vp = pod_file("volumes.json");
        const json_t *vols = json_object_get(json_object_get(vp, "spec"), "volumes");
        assert_string_equal(json_string_value(json_object_get(json_object_get(find_named(vols, "seed"), "hostPath"),
                                                              "path")), "/srv/cms/seed");
        assert_non_null(json_object_get(find_named(vols, "scratch"), "emptyDir"));
        assert_non_null(json_object_get(find_named(vols, "uploads"), "emptyDir"));
        /* content (COMPLETE upstream, not essential) is an init container: it seeds the volume before wordpress. */
        char buf[256];
        assert_string_equal(init_names(vp, buf, sizeof(buf)), "content");

        json_auto_t *hp = pod_file("host-mode.json");
        const json_t *hs = json_object_get(hp, "spec");
        assert_true(json_is_true(json_object_get(hs, "hostNetwork")));
        assert_string_equal(json_string_value(json_object_get(hs, "dnsPolicy")), "None");
        const json_t *port = json_array_get(json_object_get(container(hp, "exporter"), "ports"), 0);
        assert_int_equal(json_integer_value(json_object_get(port, "hostPort")),
                         json_integer_value(json_object_get(port, "containerPort")));
}

static json_t *small_td(const char *patch, const char *tdpatch) {
        json_t *td = json_pack("{s:s, s:i, s:[{s:s, s:s, s:i}]}", "family", "t", "revision", 1, "containerDefinitions",
                               "name", "app", "image", "busybox", "memory", 64);
        json_error_t jerr;
        if (patch) {
                json_auto_t *p = json_loads(patch, 0, &jerr);
                assert_non_null(p);
                json_object_update(json_array_get(json_object_get(td, "containerDefinitions"), 0), p);
        }
        if (tdpatch) {
                json_auto_t *p = json_loads(tdpatch, 0, &jerr);
                assert_non_null(p);
                json_object_update(td, p);
        }
        return td;
}

static void expect_client_error(const char *patch, const char *tdpatch, const char *ov_text, const char *needle) {
        json_auto_t *td = small_td(patch, tdpatch);
        json_error_t jerr;
        json_auto_t *ov = ov_text ? json_loads(ov_text, 0, &jerr) : NULL;
        struct k8s_task_spec s = fixed_spec(td, ov, NULL);
        struct err e = {0};
        json_t *pod = NULL;
        assert_int_equal(k8s_pod_manifest(&s, &pod, &e), -EINVAL);
        assert_null(pod);
        assert_int_equal(e.kind, ERR_KIND_CLIENT);
        if (!strstr(e.msg, needle))
                fail_msg("error '%s' does not mention '%s'", e.msg, needle);
}

/* A dependsOn a Pod cannot keep in order (its upstream would be a regular container, which the kubelet starts with
 * the others) is refused with -EOPNOTSUPP (RunTask's ClientException), naming the container, the dependency and
 * why; the ones a Pod keeps (init containers, native sidecars) are accepted. */
static void expect_refused(const char *containers, bool native_sidecars, const char *needle) {
        json_error_t jerr;
        json_auto_t *cs = json_loads(containers, 0, &jerr);
        assert_non_null(cs);
        json_auto_t *td = json_pack("{s:s, s:i, s:O}", "family", "t", "revision", 1, "containerDefinitions", cs);
        json_auto_t *sp = native_sidecars ? NULL : json_pack("{s:b}", "native_sidecars", 0);
        struct k8s_task_spec s = fixed_spec(td, NULL, sp);
        struct err e = {0};
        json_t *pod = NULL;
        int r = k8s_pod_manifest(&s, &pod, &e);
        if (!needle) {
                if (r < 0)
                        fail_msg("refused: %s", e.msg);
                json_decref(pod);
                return;
        }
        assert_int_equal(r, -EOPNOTSUPP);
        assert_null(pod);
        assert_int_equal(e.kind, ERR_KIND_CLIENT);
        if (!strstr(e.msg, needle))
                fail_msg("error '%s' does not mention '%s'", e.msg, needle);
}

#define C(name, essential, deps) \
        "{\"name\": \"" name "\", \"image\": \"busybox\", \"memory\": 64, \"essential\": " essential \
        ", \"dependsOn\": [" deps "]}"
#define D(name, cond) "{\"containerName\": \"" name "\", \"condition\": \"" cond "\"}"

static void depends_on_a_pod_cannot_keep_is_refused(void **state) {
        (void) state;
        /* Without native sidecars nothing orders a START or HEALTHY upstream. */
        expect_refused("[" C("db", "true", "") "," C("api", "true", D("db", "START")) "]", false,
                       "Container 'api' dependsOn 'db' START cannot be kept on Kubernetes: native sidecars are not "
                       "available, so 'db' would start together with 'api'.");
        expect_refused("[" C("db", "false", "") "," C("api", "true", D("db", "HEALTHY")) "]", false,
                       "'api' dependsOn 'db' HEALTHY");
        /* An essential upstream cannot be an init container. */
        expect_refused("[" C("migrate", "true", "") "," C("api", "true", D("migrate", "SUCCESS")) "]", true,
                       "'api' dependsOn 'migrate' SUCCESS cannot be kept on Kubernetes: an essential container cannot "
                       "be an init container");
        /* Waited for both to start and to exit: neither an init container nor a sidecar. */
        expect_refused("[" C("up", "false", "") "," C("a", "true", D("up", "START")) "," C("b", "true",
                                                                                          D("up", "COMPLETE")) "]",
                       true, "both to start and to exit");
        /* An upstream that itself waits for a regular container (base is one: waited for to start and to exit). */
        expect_refused("[" C("top", "true", D("mid", "START")) "," C("base", "false", "") "," C("mid", "false",
                                                                                            D("base", "START")) ","
                       C("other", "true", D("base", "COMPLETE")) "]",
                       true, "'top' dependsOn 'mid' START cannot be kept on Kubernetes: it waits itself for a regular "
                             "container");
        /* What a Pod keeps is accepted. */
        expect_refused("[" C("db", "true", "") "," C("api", "true", D("db", "HEALTHY")) "]", true, NULL);
        expect_refused("[" C("migrate", "false", "") "," C("api", "true", D("migrate", "SUCCESS")) "]", false, NULL);
}

static void rejected_fields(void **state) {
        (void) state;
        expect_client_error("{\"environmentFiles\": [{\"value\": \"arn:aws:s3:::b/app.env\", \"type\": \"s3\"}]}", NULL,
                            NULL, "environmentFiles");
        expect_client_error(NULL, "{\"volumes\": [{\"name\": \"efs\", \"efsVolumeConfiguration\": {\"fileSystemId\": "
                                  "\"fs-1\"}}]}", NULL, "efsVolumeConfiguration");
        expect_client_error(NULL, "{\"volumes\": [{\"name\": \"d\", \"dockerVolumeConfiguration\": {\"scope\": "
                                  "\"shared\"}}]}", NULL, "PersistentVolumeClaim");
        expect_client_error("{\"user\": \"nginx\"}", NULL, NULL, "'user' setting for container 'app'");
        expect_client_error("{\"disableNetworking\": true}", NULL, NULL, "disableNetworking");
        expect_client_error(NULL, "{\"networkMode\": \"none\"}", NULL, "networkMode none");
        expect_client_error("{\"linuxParameters\": {\"devices\": [{\"hostPath\": \"/dev/fuse\"}]}}", NULL, NULL,
                            "devices");
        expect_client_error("{\"hostname\": \"h\"}", "{\"networkMode\": \"awsvpc\"}", NULL, "hostname");
        expect_client_error("{\"hostname\": \"Not_A_Label\"}", NULL, NULL, "DNS-1123");
        expect_client_error("{\"links\": [\"other\"]}", "{\"networkMode\": \"host\"}", NULL, "links");
        expect_client_error("{\"resourceRequirements\": [{\"type\": \"GPU\", \"value\": \"1\"}]}", NULL, NULL,
                            "resourceRequirements");
        expect_client_error("{\"healthCheck\": {\"command\": [\"curl\", \"-f\", \"http://localhost\"]}}", NULL, NULL,
                            "healthCheck");
        expect_client_error("{\"secrets\": [{\"name\": \"S\", \"valueFrom\": \"arn:aws:s3:::bucket/key\"}]}", NULL,
                            NULL, "neither a Secrets Manager secret nor an SSM parameter");
        expect_client_error("{\"secrets\": [{\"name\": \"S\", \"valueFrom\": \"k8s:Bad_Name/key\"}]}", NULL, NULL,
                            "no valid Kubernetes Secret name");
        expect_client_error("{\"secrets\": [{\"name\": \"S\", \"valueFrom\": \"\"}]}", NULL, NULL, "valueFrom");
        expect_client_error("{\"environment\": [{\"name\": \"A=B\", \"value\": \"x\"}]}", NULL, NULL, "A=B");
        expect_client_error(NULL, NULL, "{\"containerOverrides\": [{\"name\": \"ghost\"}]}", "ghost");
        expect_client_error(NULL, NULL, "{\"containerOverrides\": [{\"name\": \"app\", \"memory\": 2}]}", "memory");
        expect_client_error(NULL, "{\"runtimePlatform\": {\"operatingSystemFamily\": \"WINDOWS_SERVER_2022_CORE\"}}",
                            NULL, "WINDOWS");
        expect_client_error("{\"dependsOn\": [{\"containerName\": \"app\", \"condition\": \"START\"}]}", NULL, NULL,
                            "Unknown container 'app'");
        expect_client_error("{\"dependsOn\": [{\"containerName\": \"x\", \"condition\": \"START\"}]}", NULL, NULL,
                            "Unknown container 'x'");
}

static void names_collide_and_cycles(void **state) {
        (void) state;
        json_auto_t *td = json_pack("{s:s, s:[{s:s, s:s, s:[{s:s, s:s}]}, {s:s, s:s, s:[{s:s, s:s}]}]}", "family", "c",
                                    "containerDefinitions", "name", "a", "image", "x", "dependsOn", "containerName",
                                    "b", "condition", "START", "name", "b", "image", "x", "dependsOn", "containerName",
                                    "a", "condition", "START");
        struct k8s_task_spec s = fixed_spec(td, NULL, NULL);
        struct err e = {0};
        json_t *pod = NULL;
        assert_int_equal(k8s_pod_manifest(&s, &pod, &e), -EINVAL);
        assert_non_null(strstr(e.msg, "Circular"));

        json_auto_t *td2 = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}]}", "family", "c", "containerDefinitions", "name",
                                     "web_app", "image", "x", "name", "Web-App", "image", "x");
        s = fixed_spec(td2, NULL, NULL);
        assert_int_equal(k8s_pod_manifest(&s, &pod, &e), -EINVAL);
        assert_non_null(strstr(e.msg, "would both be named 'web-app'"));

        /* A broken spec is ecsd's fault, not the client's. */
        json_auto_t *td3 = small_td(NULL, NULL);
        s = fixed_spec(td3, NULL, NULL);
        s.task_id = "Not_A_Label";
        assert_int_equal(k8s_pod_manifest(&s, &pod, &e), -EINVAL);
        assert_int_equal(e.kind, ERR_KIND_INTERNAL);
        assert_null(pod);
}

static void labels_are_valid_for_odd_names(void **state) {
        (void) state;
        json_auto_t *td = small_td(NULL, "{\"family\": \"_Family-with-a-very-long-name-that-goes-past-sixty-three-"
                                         "characters_of_text_\"}");
        struct k8s_task_spec s = fixed_spec(td, NULL, NULL);
        s.cluster_name = "-my_cluster-";
        s.node_name = NULL;
        json_auto_t *pod = pod_ok_spec(&s);
        const json_t *labels = json_object_get(json_object_get(pod, "metadata"), "labels");
        const char *fam = json_string_value(json_object_get(labels, K8S_LABEL_FAMILY));
        assert_true(strlen(fam) <= 63);
        assert_true(k8s_qualified_name_valid(fam));
        assert_string_equal(json_string_value(json_object_get(labels, K8S_LABEL_CLUSTER)), "my_cluster");
        /* The full names stay in the annotations. */
        assert_string_equal(annotation(pod, K8S_ANNOTATION_CLUSTER), "-my_cluster-");
        assert_null(json_object_get(json_object_get(pod, "spec"), "nodeName"));
        /* Defaults: stop timeout 30, no resources beyond memory. */
        assert_int_equal(json_integer_value(json_object_get(json_object_get(pod, "spec"),
                                                             "terminationGracePeriodSeconds")), 30);
}

static void namespaces(void **state) {
        (void) state;
        char ns[64];
        struct err e = {0};
        assert_int_equal(k8s_namespace_for_cluster(K8S_NS_FIXED, "ecsd", "anything", ns, sizeof(ns), &e), 0);
        assert_string_equal(ns, "ecsd");
        assert_int_equal(k8s_namespace_for_cluster(K8S_NS_FIXED, "Bad_NS", "x", ns, sizeof(ns), &e), -EINVAL);
        assert_non_null(strstr(e.msg, "Bad_NS"));
        assert_int_equal(k8s_namespace_for_cluster(K8S_NS_PER_CLUSTER, "ecs-", "My_Cluster", ns, sizeof(ns), &e), 0);
        assert_string_equal(ns, "ecs-my-cluster");
        char a[64], b[64];
        assert_int_equal(k8s_namespace_for_cluster(K8S_NS_PER_CLUSTER, NULL,
                                                   "a-very-long-cluster-name-that-is-longer-than-sixty-three-chars-one",
                                                   a, sizeof(a), &e), 0);
        assert_int_equal(k8s_namespace_for_cluster(K8S_NS_PER_CLUSTER, NULL,
                                                   "a-very-long-cluster-name-that-is-longer-than-sixty-three-chars-two",
                                                   b, sizeof(b), &e), 0);
        assert_true(strlen(a) <= 63 && k8s_dns_label_valid(a) && k8s_dns_label_valid(b));
        assert_string_not_equal(a, b);
        assert_int_equal(k8s_namespace_for_cluster(K8S_NS_PER_CLUSTER, NULL, "_", ns, sizeof(ns), &e), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(golden_pods),
                cmocka_unit_test(invariants_over_golden),
                cmocka_unit_test(depends_on_shapes),
                cmocka_unit_test(env_secrets_and_endpoints),
                cmocka_unit_test(security_and_volumes),
                cmocka_unit_test(rejected_fields),
                cmocka_unit_test(depends_on_a_pod_cannot_keep_is_refused),
                cmocka_unit_test(names_collide_and_cycles),
                cmocka_unit_test(labels_are_valid_for_odd_names),
                cmocka_unit_test(namespaces),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
