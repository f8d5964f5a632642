/* test_docker_plan.c — the docker plan (pkg/docker/plan.c, render.c): golden files plus targeted checks.
 *
 * Golden files live in tests/golden/docker: each `NAME.json` is a registered TaskDefinition (or
 * {"taskDefinition": ..., "overrides": ...}) and `NAME.plan.json` the plan docker_plan_task must build for it with
 * the fixed spec below. `UPDATE_GOLDEN=1` rewrites the expected files from the current output (review the diff!).
 * The directory comes from the GOLDEN_DIR compile definition, else from this file's path. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "docker.h"
#include "ecs.h"

#define TASK_ID "0123456789abcdef0123456789abcdef"
#define TASK_ARN "arn:aws:ecs:us-east-1:000000000000:task/default/" TASK_ID
#define CREDS_ID "5f0c9e3a-1b2d-4c8e-9f60-7a1b2c3d4e5f"

static const char *golden_dir(void) {
#ifdef GOLDEN_DIR
        return GOLDEN_DIR;
#else
        static char dir[4096];
        const char *slash = strrchr(__FILE__, '/');
        if (!slash)
                return "../golden/docker";
        str_printf(dir, sizeof(dir), "%.*s/../golden/docker", (int) (slash - __FILE__), __FILE__);
        return dir;
#endif
}

static struct docker_task_spec fixed_spec(const json_t *td, const json_t *ov) {
        struct docker_task_spec s = {
                .taskdef = td,
                .overrides = ov,
                .task_arn = TASK_ARN,
                .task_id = TASK_ID,
                .cluster_name = "default",
                .metadata_endpoint = "http://host.docker.internal:4566/_ecsd/metadata",
                .credentials_endpoint = ECS_CREDENTIALS_URL,
                .credentials_id = CREDS_ID,
                .host_alias = "host.docker.internal",
                .owner_label = "ecsd-test",
        };
        return s;
}

/* Load a golden input: td and overrides (borrowed from *doc, which the caller frees). */
static json_t *load_input(const char *path, const json_t **td, const json_t **ov) {
        json_error_t jerr;
        json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        if (!doc)
                fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
        const json_t *wrapped = json_object_get(doc, "taskDefinition");
        *td = wrapped ? wrapped : doc;
        *ov = wrapped ? json_object_get(doc, "overrides") : NULL;
        return doc;
}

static json_t *plan_ok(const json_t *td, const json_t *ov) {
        struct docker_task_spec s = fixed_spec(td, ov);
        struct err e = {0};
        json_t *plan = NULL;
        int r = docker_plan_task(&s, &plan, &e);
        if (r < 0)
                fail_msg("docker_plan_task failed: %s", e.msg);
        assert_non_null(plan);
        return plan;
}

static json_t *plan_file(const char *name) {
        char path[4096];
        str_printf(path, sizeof(path), "%s/%s", golden_dir(), name);
        const json_t *td, *ov;
        json_auto_t *doc = load_input(path, &td, &ov);
        assert_non_null(doc);
        return plan_ok(td, ov);
}

/* The golden inputs, sorted. */
static int golden_filter(const struct dirent *d) {
        size_t n = strlen(d->d_name);
        return n > 5 && strcmp(d->d_name + n - 5, ".json") == 0 &&
               !(n > 10 && strcmp(d->d_name + n - 10, ".plan.json") == 0);
}

static int golden_inputs(struct dirent ***list) {
        int n = scandir(golden_dir(), list, golden_filter, alphasort);
        if (n < 0)
                fail_msg("cannot read %s", golden_dir());
        return n;
}

static void free_list(struct dirent **list, int n) {
        for (int i = 0; i < n; i++)
                free(list[i]);
        free(list);
}

static void golden_plans(void **state) {
        (void) state;
        struct dirent **list;
        int n = golden_inputs(&list);
        assert_true(n >= 5);
        bool update = getenv("UPDATE_GOLDEN") && strcmp(getenv("UPDATE_GOLDEN"), "1") == 0;
        int mismatches = 0;
        for (int i = 0; i < n; i++) {
                char in[4096], want_path[4096];
                str_printf(in, sizeof(in), "%s/%s", golden_dir(), list[i]->d_name);
                str_printf(want_path, sizeof(want_path), "%s/%.*s.plan.json", golden_dir(),
                           (int) (strlen(list[i]->d_name) - 5), list[i]->d_name);
                const json_t *td, *ov;
                json_auto_t *doc = load_input(in, &td, &ov);
                assert_non_null(doc);
                json_auto_t *got = plan_ok(td, ov);
                if (update) {
                        assert_int_equal(json_dump_file(got, want_path, JSON_INDENT(2) | JSON_SORT_KEYS), 0);
                        print_message("updated %s\n", want_path);
                        continue;
                }
                json_error_t jerr;
                json_auto_t *want = json_load_file(want_path, JSON_REJECT_DUPLICATES, &jerr);
                if (!want) {
                        print_error("%s: %s (run with UPDATE_GOLDEN=1 to create it)\n", want_path, jerr.text);
                        mismatches++;
                        continue;
                }
                if (!json_equal(got, want)) {
                        char *g = json_dumps(got, JSON_INDENT(2) | JSON_SORT_KEYS);
                        print_error("plan for %s differs from %s; got:\n%s\n(diff it against the file, or rerun with "
                                    "UPDATE_GOLDEN=1 and review git diff)\n", in, want_path, g ? g : "?");
                        free(g);
                        mismatches++;
                }
        }
        free_list(list, n);
        assert_int_equal(mismatches, 0);
}

/* Every argv of a plan, as one array of arrays. */
static json_t *all_argv(const json_t *plan) {
        json_t *out = json_array();
        const json_t *net = json_object_get(plan, "network");
        if (json_is_object(net)) {
                json_array_append(out, json_object_get(net, "create"));
                json_array_append(out, json_object_get(net, "remove"));
        }
        size_t i;
        const json_t *v;
        json_array_foreach(json_object_get(plan, "volumes"), i, v) {
                if (json_is_array(json_object_get(v, "create")))
                        json_array_append(out, json_object_get(v, "create"));
                if (json_is_array(json_object_get(v, "remove")))
                        json_array_append(out, json_object_get(v, "remove"));
        }
        json_array_foreach(json_object_get(plan, "containers"), i, v) {
                static const char *const keys[] = {"pull", "run", "stop", "remove"};
                for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
                        json_array_append(out, json_object_get(v, keys[k]));
        }
        return out;
}

/* Fails when `value` is inside any argv word, or any word starts with "NAME=". */
static void assert_not_in_argv(const json_t *argvs, const char *name, const char *value, const char *file) {
        size_t i, k;
        const json_t *argv, *w;
        size_t nlen = strlen(name);
        json_array_foreach(argvs, i, argv) {
                json_array_foreach(argv, k, w) {
                        const char *s = json_string_value(w);
                        assert_non_null(s);
                        if (*value && strstr(s, value))
                                fail_msg("%s: value of %s appears in argv word '%s'", file, name, s);
                        if (strncmp(s, name, nlen) == 0 && s[nlen] == '=')
                                fail_msg("%s: %s= appears in argv", file, name);
                }
        }
}

static void check_env_list_absent(const json_t *argvs, const json_t *list, const char *file) {
        size_t i;
        const json_t *kv;
        json_array_foreach(list, i, kv)
                assert_not_in_argv(argvs, json_string_value(json_object_get(kv, "name")),
                                   json_string_value(json_object_get(kv, "value")), file);
}

/* Over every golden input: argv start with "docker", and no environment value (from the definition, the overrides
 * or the plan's env map, other than the injected endpoint and region values that are public) reaches an argv. */
static void invariants_over_golden(void **state) {
        (void) state;
        struct dirent **list;
        int n = golden_inputs(&list);
        for (int f = 0; f < n; f++) {
                char in[4096];
                str_printf(in, sizeof(in), "%s/%s", golden_dir(), list[f]->d_name);
                const json_t *td, *ov;
                json_auto_t *doc = load_input(in, &td, &ov);
                assert_non_null(doc);
                json_auto_t *plan = plan_ok(td, ov);
                json_auto_t *argvs = all_argv(plan);
                size_t i;
                const json_t *argv, *c;
                json_array_foreach(argvs, i, argv) {
                        assert_true(json_array_size(argv) >= 2);
                        assert_string_equal(json_string_value(json_array_get(argv, 0)), "docker");
                }
                json_array_foreach(json_object_get(td, "containerDefinitions"), i, c) {
                        check_env_list_absent(argvs, json_object_get(c, "environment"), in);
                        size_t k;
                        const json_t *s;
                        json_array_foreach(json_object_get(c, "secrets"), k, s)
                                assert_not_in_argv(argvs, json_string_value(json_object_get(s, "name")),
                                                   json_string_value(json_object_get(s, "valueFrom")), in);
                }
                json_array_foreach(json_object_get(ov, "containerOverrides"), i, c)
                        check_env_list_absent(argvs, json_object_get(c, "environment"), in);
                /* Every name in a container's env map is named by -e or the env-file list, never with its value. */
                json_array_foreach(json_object_get(plan, "containers"), i, c) {
                        const char *name;
                        json_t *v, *env = json_object_get(c, "env");
                        const json_t *run = json_object_get(c, "run");
                        json_object_foreach(env, name, v) {
                                bool named = false;
                                size_t k;
                                const json_t *w;
                                json_array_foreach(run, k, w)
                                        named |= k > 0 && strcmp(json_string_value(w), name) == 0 &&
                                                 strcmp(json_string_value(json_array_get(run, k - 1)), "-e") == 0;
                                json_array_foreach(json_object_get(c, "env_file"), k, w)
                                        named |= strcmp(json_string_value(w), name) == 0;
                                if (!named)
                                        fail_msg("%s: env %s is not passed to docker run", in, name);
                        }
                }
        }
        free_list(list, n);
}

/* The word after `flag` in argv (first occurrence), or NULL. */
static const char *flag_value(const json_t *argv, const char *flag) {
        for (size_t i = 0; i + 1 < json_array_size(argv); i++)
                if (strcmp(json_string_value(json_array_get(argv, i)), flag) == 0)
                        return json_string_value(json_array_get(argv, i + 1));
        return NULL;
}

static bool argv_has(const json_t *argv, const char *word) {
        size_t i;
        const json_t *w;
        json_array_foreach(argv, i, w)
                if (strcmp(json_string_value(w), word) == 0)
                        return true;
        return false;
}

static const json_t *container(const json_t *plan, const char *name) {
        size_t i;
        const json_t *c;
        json_array_foreach(json_object_get(plan, "containers"), i, c)
                if (strcmp(json_string_value(json_object_get(c, "name")), name) == 0)
                        return c;
        fail_msg("no container %s in plan", name);
        return NULL;
}

static void overrides_win(void **state) {
        (void) state;
        json_auto_t *plan = plan_file("overrides.json");
        const json_t *c = container(plan, "report");
        const json_t *env = json_object_get(c, "env"), *run = json_object_get(c, "run");
        assert_string_equal(json_string_value(json_object_get(env, "REPORT_KIND")), "monthly-override");
        assert_string_equal(json_string_value(json_object_get(env, "EXTRA_FLAG")), "override-only-value");
        assert_string_equal(json_string_value(json_object_get(env, "OUTPUT_BUCKET")), "s3://reports-default-bucket");
        /* ECS's address and port: the relative URI, by the credentials id, exactly as ECS sets it. */
        assert_string_equal(json_string_value(json_object_get(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")),
                            "/v2/credentials/" CREDS_ID);
        assert_null(json_object_get(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI"));
        assert_string_equal(flag_value(run, "--cpu-shares"), "1024");
        assert_string_equal(flag_value(run, "--memory"), "2048m");
        assert_string_equal(flag_value(run, "--memory-reservation"), "1024m");
        /* The override command replaces the definition's and follows the image. */
        size_t n = json_array_size(run);
        assert_string_equal(json_string_value(json_array_get(run, n - 4)), "registry.example.com/reports/generator:9");
        assert_string_equal(json_string_value(json_array_get(run, n - 3)), "generate");
        assert_string_equal(json_string_value(json_array_get(run, n - 2)), "--monthly");
        assert_string_equal(json_string_value(json_array_get(run, n - 1)), "--month=2024-10");
        assert_false(argv_has(run, "--daily"));
        /* The container without an override keeps its definition. */
        assert_string_equal(flag_value(json_object_get(container(plan, "uploader"), "run"), "--cpu-shares"), "2");
}

static void secrets_and_reserved_names(void **state) {
        (void) state;
        json_auto_t *plan = plan_file("secrets.json");
        const json_t *c = container(plan, "payments");
        const json_t *env = json_object_get(c, "env"), *run = json_object_get(c, "run");
        /* The secret replaces the plain variable of the same name; the lifecycle fills it in. */
        assert_null(json_object_get(env, "DB_PASSWORD"));
        assert_int_equal(json_array_size(json_object_get(c, "secrets")), 3);
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(c, "secrets"), 0),
                                                              "valueFrom")),
                            "arn:aws:secretsmanager:us-east-1:000000000000:secret:payments/db-AbCdEf");
        assert_string_equal(flag_value(run, "-e"), "API_KEY");
        assert_true(argv_has(run, "DB_PASSWORD"));
        /* Names the CLI reads itself go through the env-file pipe, never through -e. */
        bool pipe_file = false;
        for (size_t i = 0; i + 1 < json_array_size(run); i++)
                pipe_file |= strcmp(json_string_value(json_array_get(run, i)), "--env-file") == 0 &&
                             strcmp(json_string_value(json_array_get(run, i + 1)), "/dev/fd/3") == 0;
        assert_true(pipe_file);
        json_auto_t *want = json_pack("[sss]", "DOCKER_REGISTRY_TOKEN", "HTTPS_PROXY", "PATH");
        assert_true(json_equal(json_object_get(c, "env_file"), want));
        assert_false(argv_has(run, "PATH"));
        assert_false(argv_has(run, "HTTPS_PROXY"));
        assert_string_equal(flag_value(run, "--env-file"), "/etc/payments/payments.env");
        /* Link target is started first. */
        json_auto_t *order = json_pack("[sss]", "cache", "payments", "offline-job");
        assert_true(json_equal(json_object_get(plan, "order"), order));
        assert_string_equal(flag_value(run, "--link"), "ecsd-" TASK_ID "-cache:cache");
        /* disableNetworking wins over the task's network mode. */
        assert_string_equal(flag_value(json_object_get(container(plan, "offline-job"), "run"), "--network"), "none");
}

static void start_order(void **state) {
        (void) state;
        json_auto_t *plan = plan_file("awsvpc-depends-on.json");
        json_auto_t *want = json_pack("[ssss]", "migrate", "db", "api", "envoy");
        assert_true(json_equal(json_object_get(plan, "order"), want));
        const json_t *net = json_object_get(plan, "network");
        assert_string_equal(json_string_value(json_object_get(net, "name")), "ecsd-" TASK_ID);
        const json_t *run = json_object_get(container(plan, "api"), "run");
        assert_string_equal(flag_value(run, "--network"), "ecsd-" TASK_ID);
        assert_string_equal(flag_value(run, "--network-alias"), "api");
        assert_string_equal(flag_value(run, "-p"), "8080/tcp");

        json_auto_t *vplan = plan_file("volumes.json");
        json_auto_t *vwant = json_pack("[sss]", "content", "mysql", "wordpress");
        assert_true(json_equal(json_object_get(vplan, "order"), vwant));
}

/* A definition with one container, `patch` merged into it, and `tdpatch` into the task. */
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
        struct docker_task_spec s = fixed_spec(td, ov);
        struct err e = {0};
        json_t *plan = NULL;
        assert_int_equal(docker_plan_task(&s, &plan, &e), -EINVAL);
        assert_null(plan);
        assert_int_equal(e.kind, ERR_KIND_CLIENT);
        if (!strstr(e.msg, needle))
                fail_msg("error '%s' does not mention '%s'", e.msg, needle);
}

static void rejected_fields(void **state) {
        (void) state;
        expect_client_error("{\"environmentFiles\": [{\"value\": \"arn:aws:s3:::bucket/app.env\", \"type\": \"s3\"}]}",
                            NULL, NULL, "environmentFiles");
        expect_client_error("{\"environmentFiles\": [{\"value\": \"arn:aws:s3:::bucket/app.env\", \"type\": \"s3\"}]}",
                            NULL, NULL, "arn:aws:s3:::bucket/app.env");
        expect_client_error(NULL, "{\"volumes\": [{\"name\": \"efs\", \"efsVolumeConfiguration\": {\"fileSystemId\": "
                                  "\"fs-1\"}}]}", NULL, "efsVolumeConfiguration");
        expect_client_error("{\"hostname\": \"h\"}", "{\"networkMode\": \"awsvpc\"}", NULL, "hostname");
        expect_client_error("{\"links\": [\"other\"]}", "{\"networkMode\": \"host\"}", NULL, "links");
        expect_client_error("{\"resourceRequirements\": [{\"type\": \"GPU\", \"value\": \"1\"}]}", NULL, NULL,
                            "resourceRequirements");
        expect_client_error("{\"logConfiguration\": {\"logDriver\": \"fluentd\", \"secretOptions\": [{\"name\": \"x\", "
                            "\"valueFrom\": \"y\"}]}}", NULL, NULL, "secretOptions");
        expect_client_error("{\"healthCheck\": {\"command\": [\"curl\", \"-f\", \"http://localhost\"]}}", NULL, NULL,
                            "healthCheck");
        expect_client_error("{\"environment\": [{\"name\": \"PATH\", \"value\": \"/bin\\n/evil\"}]}", NULL, NULL,
                            "line break");
        expect_client_error("{\"environment\": [{\"name\": \"A=B\", \"value\": \"x\"}]}", NULL, NULL, "A=B");
        expect_client_error(NULL, NULL, "{\"containerOverrides\": [{\"name\": \"ghost\"}]}", "ghost");
        expect_client_error("{\"image\": \"--privileged\"}", NULL, NULL, "image");
        expect_client_error(NULL, NULL, "{\"containerOverrides\": [{\"name\": \"app\", \"memory\": 2}]}", "memory");
        expect_client_error(NULL, "{\"runtimePlatform\": {\"operatingSystemFamily\": \"WINDOWS_SERVER_2022_CORE\"}}",
                            NULL, "WINDOWS");
}

static void cycle_rejected(void **state) {
        (void) state;
        json_auto_t *td = json_pack("{s:s, s:[{s:s, s:s, s:i, s:[{s:s, s:s}]}, {s:s, s:s, s:i, s:[{s:s, s:s}]}]}",
                                    "family", "cyc", "containerDefinitions", "name", "a", "image", "x", "memory", 8,
                                    "dependsOn", "containerName", "b", "condition", "START", "name", "b", "image", "x",
                                    "memory", 8, "dependsOn", "containerName", "a", "condition", "START");
        assert_non_null(td);
        struct docker_task_spec s = fixed_spec(td, NULL);
        struct err e = {0};
        json_t *plan = NULL;
        assert_int_equal(docker_plan_task(&s, &plan, &e), -EINVAL);
        assert_int_equal(e.kind, ERR_KIND_CLIENT);
        assert_non_null(strstr(e.msg, "Circular"));
}

static void spec_checked(void **state) {
        (void) state;
        json_auto_t *td = small_td(NULL, NULL);
        struct docker_task_spec s = fixed_spec(td, NULL);
        s.task_id = "bad/id";
        struct err e = {0};
        json_t *plan = NULL;
        assert_int_equal(docker_plan_task(&s, &plan, &e), -EINVAL);
        assert_int_equal(e.kind, ERR_KIND_INTERNAL);
        assert_null(plan);
}

static void defaults_for_a_bare_definition(void **state) {
        (void) state;
        /* An unregistered file (no registration defaults): essential defaults to true, cpu to 2 shares, stop 30 s. */
        json_auto_t *td = small_td(NULL, NULL);
        json_auto_t *plan = plan_ok(td, NULL);
        const json_t *c = container(plan, "app");
        assert_true(json_is_true(json_object_get(c, "essential")));
        assert_int_equal(json_integer_value(json_object_get(c, "stop_timeout_s")), 30);
        json_auto_t *stop = json_pack("[sssss]", "docker", "stop", "--time", "30", "ecsd-" TASK_ID "-app");
        assert_true(json_equal(json_object_get(c, "stop"), stop));
        json_auto_t *rm = json_pack("[sssss]", "docker", "rm", "-f", "-v", "ecsd-" TASK_ID "-app");
        assert_true(json_equal(json_object_get(c, "remove"), rm));
        const json_t *run = json_object_get(c, "run");
        assert_string_equal(flag_value(run, "--cpu-shares"), "2");
        assert_string_equal(flag_value(run, "--network"), "bridge");
        assert_string_equal(flag_value(run, "--add-host"), "host.docker.internal:host-gateway");
        assert_true(argv_has(run, "--label=io.ecsd.owner=ecsd-test"));
        assert_true(argv_has(run, "--label=com.amazonaws.ecs.task-definition-version=1"));
        assert_string_equal(json_string_value(json_object_get(json_object_get(c, "env"), "ECS_CONTAINER_METADATA_URI_V4")),
                            "http://host.docker.internal:4566/_ecsd/metadata/" TASK_ID "/app");
        assert_null(json_object_get(json_object_get(c, "env"), "AWS_CONTAINER_CREDENTIALS_FULL_URI"));
        assert_true(json_is_null(json_object_get(plan, "network")));
}

/* The task role and the credentials variables: the definition's role counts as much as an override's; another port
 * gives the full URL; a task without a role, or without a credentials id, gets none; a definition's own values of
 * these names never survive beside ours (an SDK would pick the relative one first). */
static void credentials_variables(void **state) {
        (void) state;
        json_auto_t *td = json_pack("{s:s, s:i, s:s, s:[{s:s, s:s, s:[{s:s, s:s}, {s:s, s:s}]}]}", "family", "creds",
                                    "revision", 1, "taskRoleArn", "arn:aws:iam::000000000000:role/from-definition",
                                    "containerDefinitions", "name", "app", "image", "busybox:local", "environment",
                                    "name", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "value", "/stale", "name",
                                    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "value", "http://localhost/stale");
        struct docker_task_spec s = fixed_spec(td, NULL);
        s.credentials_endpoint = "http://169.254.170.2:40123";
        struct err e = {0};
        json_auto_t *plan = NULL;
        assert_int_equal(docker_plan_task(&s, &plan, &e), 0);
        const json_t *env = json_object_get(container(plan, "app"), "env");
        assert_string_equal(json_string_value(json_object_get(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI")),
                            "http://169.254.170.2:40123/v2/credentials/" CREDS_ID);
        assert_null(json_object_get(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"));

        s.credentials_endpoint = ECS_CREDENTIALS_URL;
        json_auto_t *relative = NULL;
        assert_int_equal(docker_plan_task(&s, &relative, &e), 0);
        env = json_object_get(container(relative, "app"), "env");
        assert_string_equal(json_string_value(json_object_get(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")),
                            "/v2/credentials/" CREDS_ID);
        assert_null(json_object_get(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI"));

        /* No credentials id (no listener, or the lifecycle gave none): the definition's values stay, with a note. */
        s.credentials_id = NULL;
        json_auto_t *none = NULL;
        assert_int_equal(docker_plan_task(&s, &none, &e), 0);
        env = json_object_get(container(none, "app"), "env");
        assert_string_equal(json_string_value(json_object_get(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")),
                            "/stale");
        assert_true(json_array_size(json_object_get(none, "notes")) > 0);

        /* No role: no variables, whatever the spec carries. */
        json_object_del(td, "taskRoleArn");
        json_object_del(json_array_get(json_object_get(td, "containerDefinitions"), 0), "environment");
        s.credentials_id = CREDS_ID;
        json_auto_t *norole = NULL;
        assert_int_equal(docker_plan_task(&s, &norole, &e), 0);
        env = json_object_get(container(norole, "app"), "env");
        assert_null(json_object_get(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"));
        assert_null(json_object_get(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI"));
}

static void publish_address(void **state) {
        (void) state;
        json_auto_t *td = small_td("{\"portMappings\": [{\"containerPort\": 80}, {\"containerPort\": 81, \"hostPort\": "
                                   "8081}]}", NULL);
        struct docker_task_spec s = fixed_spec(td, NULL);
        s.publish_address = "127.0.0.1";
        struct err e = {0};
        json_auto_t *plan = NULL;
        assert_int_equal(docker_plan_task(&s, &plan, &e), 0);
        const json_t *run = json_object_get(container(plan, "app"), "run");
        assert_true(argv_has(run, "127.0.0.1::80/tcp"));
        assert_true(argv_has(run, "127.0.0.1:8081:81/tcp"));
}

static void render_shows_names_not_values(void **state) {
        (void) state;
        static const char *const files[] = {"secrets.json", "overrides.json", "volumes.json", "awsvpc-depends-on.json"};
        for (size_t f = 0; f < ARRAY_SIZE(files); f++) {
                json_auto_t *plan = plan_file(files[f]);
                char *text = NULL;
                size_t len = 0;
                FILE *out = open_memstream(&text, &len);
                assert_non_null(out);
                assert_int_equal(docker_plan_render(plan, out), 0);
                fclose(out);
                assert_non_null(strstr(text, "docker run -d --pull never --name ecsd-" TASK_ID));
                size_t i;
                const json_t *c;
                json_array_foreach(json_object_get(plan, "containers"), i, c) {
                        const char *name;
                        json_t *v, *env = json_object_get(c, "env");
                        json_object_foreach(env, name, v) {
                                assert_non_null(strstr(text, name));
                                if (strncmp(name, "AWS_", 4) != 0 && strncmp(name, "ECS_", 4) != 0 &&
                                    strstr(text, json_string_value(v)))
                                        fail_msg("%s: render shows the value of %s:\n%s", files[f], name, text);
                        }
                }
                free(text);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(golden_plans),
                cmocka_unit_test(invariants_over_golden),
                cmocka_unit_test(overrides_win),
                cmocka_unit_test(secrets_and_reserved_names),
                cmocka_unit_test(start_order),
                cmocka_unit_test(rejected_fields),
                cmocka_unit_test(cycle_rejected),
                cmocka_unit_test(spec_checked),
                cmocka_unit_test(defaults_for_a_bare_definition),
                cmocka_unit_test(publish_address),
                cmocka_unit_test(credentials_variables),
                cmocka_unit_test(render_shows_names_not_values),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
