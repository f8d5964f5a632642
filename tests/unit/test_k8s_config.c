/* test_k8s_config.c — kubeconfig and in-cluster configuration (pkg/k8s/config.c): inline data and file variants,
 * token files and their rotation, named contexts, and clear errors for what is missing or unsupported.
 *
 * Everything is written to a private temporary directory. The in-cluster case fakes the service-account directory
 * and KUBERNETES_SERVICE_HOST: a pod's mounted token cannot be had on this machine, and a real cluster could not be
 * made to rotate it on demand. That the parsed config really authenticates is shown against the real API server by
 * tests/k8s/test_k8s_api.c (admin token, and a minted service-account kubeconfig). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "k8s-internal.h"
#include "k8s.h"

static char tmpdir[256];

static int setup(void **state) {
        (void) state;
        str_printf(tmpdir, sizeof(tmpdir), "/tmp/ecsd-k8s-config-XXXXXX");
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
        (void) state;
        static const char *const files[] = {"ca.crt", "client.crt", "client.key", "token", "kubeconfig", "namespace",
                                            "sa/ca.crt", "sa/token", "sa/namespace", "certs/ca.crt"};
        char p[512];
        for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
                str_printf(p, sizeof(p), "%s/%s", tmpdir, files[i]);
                unlink(p);
        }
        str_printf(p, sizeof(p), "%s/sa", tmpdir);
        rmdir(p);
        str_printf(p, sizeof(p), "%s/certs", tmpdir);
        rmdir(p);
        return rmdir(tmpdir);
}

static void write_file(const char *name, const char *text) {
        char p[512];
        str_printf(p, sizeof(p), "%s/%s", tmpdir, name);
        FILE *f = fopen(p, "we");
        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
}

static struct k8s_config *parse_ok(const char *yaml, const char *context) {
        struct k8s_config *cfg = NULL;
        struct err e = {0};
        if (k8s_config_parse(yaml, strlen(yaml), tmpdir, context, &cfg, &e) < 0)
                fail_msg("k8s_config_parse: %s", e.msg);
        return cfg;
}

static void parse_fails(const char *yaml, const char *context, const char *needle) {
        struct k8s_config *cfg = NULL;
        struct err e = {0};
        int r = k8s_config_parse(yaml, strlen(yaml), tmpdir, context, &cfg, &e);
        assert_true(r < 0);
        assert_null(cfg);
        if (!strstr(e.msg, needle))
                fail_msg("error '%s' does not mention '%s'", e.msg, needle);
}

/* "-----BEGIN CERTIFICATE-----\nCA\n" and friends, base64-encoded, so the decoded blobs can be compared. */
#define CA_PEM "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"
#define CA_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K"
#define CERT_B64 "Q0VSVA=="  /* CERT */
#define KEY_B64 "S0VZ"       /* KEY */

static void data_variant(void **state) {
        (void) state;
        const char *yaml = "apiVersion: v1\n"
                           "kind: Config\n"
                           "clusters:\n"
                           "- name: c1\n"
                           "  cluster:\n"
                           "    server: https://127.0.0.1:6443/\n"
                           "    certificate-authority-data: " CA_B64 "\n"
                           "users:\n"
                           "- name: u1\n"
                           "  user:\n"
                           "    client-certificate-data: " CERT_B64 "\n"
                           "    client-key-data: " KEY_B64 "\n"
                           "contexts:\n"
                           "- name: ctx1\n"
                           "  context: {cluster: c1, user: u1, namespace: team-a}\n"
                           "current-context: ctx1\n";
        struct k8s_config *cfg = parse_ok(yaml, NULL);
        assert_string_equal(k8s_config_server(cfg), "https://127.0.0.1:6443");
        assert_string_equal(k8s_config_namespace(cfg), "team-a");
        struct k8s_tls tls;
        k8s_config_tls(cfg, &tls);
        assert_int_equal(tls.ca_len, strlen(CA_PEM));
        assert_memory_equal(tls.ca, CA_PEM, tls.ca_len);
        assert_int_equal(tls.cert_len, 4);
        assert_memory_equal(tls.cert, "CERT", 4);
        assert_memory_equal(tls.key, "KEY", 3);
        assert_false(tls.insecure);
        char tok[64];
        assert_int_equal(k8s_config_token(cfg, tok, sizeof(tok), NULL), 0); /* no token: certificate auth */
        k8s_config_free(cfg);
}

static void file_variant_and_token_rotation(void **state) {
        (void) state;
        char dir[512];
        str_printf(dir, sizeof(dir), "%s/certs", tmpdir);
        assert_int_equal(mkdir(dir, 0700), 0);
        write_file("certs/ca.crt", CA_PEM);
        write_file("client.crt", "CERT-FILE");
        write_file("client.key", "KEY-FILE");
        write_file("token", "first-token\n");
        char yaml[2048];
        /* Relative paths resolve against the kubeconfig's directory; one absolute path for good measure. */
        str_printf(yaml, sizeof(yaml),
                   "clusters:\n"
                   "- name: c\n"
                   "  cluster:\n"
                   "    server: https://k8s.example:443\n"
                   "    certificate-authority: certs/ca.crt\n"
                   "    insecure-skip-tls-verify: true\n"
                   "users:\n"
                   "- name: u\n"
                   "  user:\n"
                   "    client-certificate: %s/client.crt\n"
                   "    client-key: client.key\n"
                   "    tokenFile: token\n"
                   "contexts:\n"
                   "- name: x\n"
                   "  context:\n"
                   "    cluster: c\n"
                   "    user: u\n"
                   "current-context: x\n",
                   tmpdir);
        struct k8s_config *cfg = parse_ok(yaml, NULL);
        assert_string_equal(k8s_config_namespace(cfg), "default");
        struct k8s_tls tls;
        k8s_config_tls(cfg, &tls);
        assert_memory_equal(tls.ca, CA_PEM, strlen(CA_PEM));
        assert_memory_equal(tls.cert, "CERT-FILE", 9);
        assert_memory_equal(tls.key, "KEY-FILE", 8);
        assert_true(tls.insecure);
        char tok[64];
        struct err e = {0};
        assert_int_equal(k8s_config_token(cfg, tok, sizeof(tok), &e), 11);
        assert_string_equal(tok, "first-token");
        /* Rotation: the kubelet replaces the file; the next call reads the new token. Same size, new mtime. */
        write_file("token", "other-token\n");
        char p[512];
        str_printf(p, sizeof(p), "%s/token", tmpdir);
        struct timespec times[2] = {{.tv_sec = 1000000000, .tv_nsec = 0}, {.tv_sec = 1000000000, .tv_nsec = 0}};
        assert_int_equal(utimensat(AT_FDCWD, p, times, 0), 0);
        assert_int_equal(k8s_config_token(cfg, tok, sizeof(tok), &e), 11);
        assert_string_equal(tok, "other-token");
        write_file("token", "a-longer-third-token");
        assert_int_equal(k8s_config_token(cfg, tok, sizeof(tok), &e), 20);
        assert_string_equal(tok, "a-longer-third-token");
        assert_int_equal(k8s_config_token(cfg, tok, 8, &e), -ENOBUFS);
        /* The file vanishing mid-rotation keeps the last good token. */
        assert_int_equal(unlink(p), 0);
        assert_int_equal(k8s_config_token(cfg, tok, sizeof(tok), &e), 20);
        k8s_config_free(cfg);
}

static const char *two_contexts =
        "clusters:\n"
        "- name: prod\n"
        "  cluster: {server: 'https://prod:6443'}\n"
        "- name: dev\n"
        "  cluster: {server: \"http://127.0.0.1:8080\"}\n"
        "users:\n"
        "- name: alice\n"
        "  user: {token: alice-token}\n"
        "contexts:\n"
        "- name: prod-ctx\n"
        "  context: {cluster: prod, user: alice, namespace: prod-ns}\n"
        "- name: dev-ctx\n"
        "  context: {cluster: dev, user: alice}\n"
        "current-context: prod-ctx\n";

static void named_context(void **state) {
        (void) state;
        struct k8s_config *cfg = parse_ok(two_contexts, "dev-ctx");
        assert_string_equal(k8s_config_server(cfg), "http://127.0.0.1:8080");
        assert_string_equal(k8s_config_namespace(cfg), "default");
        char tok[64];
        assert_int_equal(k8s_config_token(cfg, tok, sizeof(tok), NULL), 11);
        assert_string_equal(tok, "alice-token");
        k8s_config_free(cfg);
        cfg = parse_ok(two_contexts, NULL);
        assert_string_equal(k8s_config_server(cfg), "https://prod:6443");
        assert_string_equal(k8s_config_namespace(cfg), "prod-ns");
        k8s_config_free(cfg);
        parse_fails(two_contexts, "staging", "context 'staging' not found");
}

static void load_from_environment(void **state) {
        (void) state;
        write_file("kubeconfig", two_contexts);
        char list[600];
        str_printf(list, sizeof(list), "%s/kubeconfig:/nonexistent/second", tmpdir);
        unsetenv("KUBERNETES_SERVICE_HOST");
        setenv("KUBECONFIG", list, 1);
        struct k8s_config *cfg = NULL;
        struct err e = {0};
        assert_int_equal(k8s_config_load(NULL, "dev-ctx", &cfg, &e), 0);
        assert_string_equal(k8s_config_server(cfg), "http://127.0.0.1:8080");
        k8s_config_free(cfg);
        setenv("KUBECONFIG", "/nonexistent/kubeconfig", 1);
        cfg = NULL;
        assert_true(k8s_config_load(NULL, NULL, &cfg, &e) < 0);
        assert_non_null(strstr(e.msg, "/nonexistent/kubeconfig"));
        unsetenv("KUBECONFIG");
}

static void missing_pieces(void **state) {
        (void) state;
        parse_fails("clusters: []\n", NULL, "no current-context");
        parse_fails("current-context: x\ncontexts: []\n", NULL, "context 'x' not found");
        parse_fails("current-context: x\ncontexts:\n- name: x\n  context: {cluster: gone, user: u}\n", NULL,
                    "cluster 'gone' of context 'x' not found");
        parse_fails("current-context: x\nclusters:\n- name: c\n  cluster: {server: https://a}\ncontexts:\n- name: x\n"
                    "  context: {cluster: c, user: nobody}\n", NULL, "user 'nobody' of context 'x' not found");
        parse_fails("current-context: x\nclusters:\n- name: c\n  cluster: {}\ncontexts:\n- name: x\n"
                    "  context: {cluster: c}\n", NULL, "has no server");
        parse_fails("current-context: x\nclusters:\n- name: c\n  cluster: {server: ftp://a}\ncontexts:\n- name: x\n"
                    "  context: {cluster: c}\n", NULL, "not an http(s) URL");
        parse_fails("current-context: x\nclusters:\n- name: c\n  cluster: {server: https://a, "
                    "certificate-authority-data: '!!notbase64'}\ncontexts:\n- name: x\n  context: {cluster: c}\n",
                    NULL, "not valid base64");
        parse_fails("current-context: x\nclusters:\n- name: c\n  cluster: {server: https://a, "
                    "certificate-authority: missing-ca.crt}\ncontexts:\n- name: x\n  context: {cluster: c}\n", NULL,
                    "missing-ca.crt");
        parse_fails("current-context: x\nclusters:\n- name: c\n  cluster: {server: https://a}\nusers:\n- name: u\n"
                    "  user: {client-certificate-data: " CERT_B64 "}\ncontexts:\n- name: x\n"
                    "  context: {cluster: c, user: u}\n", NULL, "client certificate but no client key");
        parse_fails("current-context: x\nclusters:\n- name: c\n  cluster: {server: https://a}\nusers:\n- name: u\n"
                    "  user:\n    exec: {command: aws}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n", NULL,
                    "exec plugin");
        parse_fails("current-context: x\nclusters:\n- name: c\n  cluster: {server: https://a}\nusers:\n- name: u\n"
                    "  user: {tokenFile: no-such-token}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n", NULL,
                    "no-such-token");
        parse_fails("current-context: x\nusers:\n- name: u\n  user: {token: \"a\\r\\nX-Evil: 1\"}\nclusters:\n- name: "
                    "c\n  cluster: {server: https://a}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n", NULL,
                    "control characters");
        parse_fails("a: [1, 2\n", NULL, "line");
        parse_fails("base: &b {server: x}\nother: *b\n", NULL, "anchors");
        parse_fails("- just\n- a list\n", NULL, "not a mapping");
        parse_fails("? [complex, key]\n: v\n", NULL, "key is not a scalar");
}

static void in_cluster(void **state) {
        (void) state;
        char dir[512];
        str_printf(dir, sizeof(dir), "%s/sa", tmpdir);
        assert_int_equal(mkdir(dir, 0700), 0);
        write_file("sa/ca.crt", CA_PEM);
        write_file("sa/token", "sa-token-1\n");
        write_file("sa/namespace", "ecsd-system\n");
        setenv("ECSD_K8S_SA_DIR", dir, 1);
        setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
        setenv("KUBERNETES_SERVICE_PORT", "443", 1);
        setenv("KUBECONFIG", "/nonexistent/must-not-be-read", 1);
        struct k8s_config *cfg = NULL;
        struct err e = {0};
        if (k8s_config_load(NULL, NULL, &cfg, &e) < 0)
                fail_msg("in-cluster: %s", e.msg);
        assert_string_equal(k8s_config_server(cfg), "https://10.96.0.1:443");
        assert_string_equal(k8s_config_namespace(cfg), "ecsd-system");
        char tok[64];
        assert_int_equal(k8s_config_token(cfg, tok, sizeof(tok), &e), 10);
        assert_string_equal(tok, "sa-token-1");
        write_file("sa/token", "sa-token-rotated");
        assert_int_equal(k8s_config_token(cfg, tok, sizeof(tok), &e), 16);
        assert_string_equal(tok, "sa-token-rotated");
        k8s_config_free(cfg);

        setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
        cfg = NULL;
        assert_int_equal(k8s_config_load(NULL, NULL, &cfg, &e), 0);
        assert_string_equal(k8s_config_server(cfg), "https://[fd00::1]:443");
        k8s_config_free(cfg);

        setenv("KUBERNETES_SERVICE_HOST", "evil/path", 1);
        cfg = NULL;
        assert_true(k8s_config_load(NULL, NULL, &cfg, &e) < 0);
        assert_non_null(strstr(e.msg, "KUBERNETES_SERVICE_HOST"));

        setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
        str_printf(dir, sizeof(dir), "%s/sa/token", tmpdir);
        unlink(dir);
        assert_true(k8s_config_load(NULL, NULL, &cfg, &e) < 0);
        assert_non_null(strstr(e.msg, "in-cluster config"));
        assert_non_null(strstr(e.msg, "token"));
        unsetenv("KUBERNETES_SERVICE_HOST");
        unsetenv("KUBERNETES_SERVICE_PORT");
        unsetenv("ECSD_K8S_SA_DIR");
        unsetenv("KUBECONFIG");
}

static void yaml_subset(void **state) {
        (void) state;
        json_t *doc = NULL;
        struct err e = {0};
        const char *y = "a: 1\nb: [x, 'y z']\nc: {d: true}\nempty:\nlit: |\n  two\n  lines\n";
        assert_int_equal(k8s_yaml_to_json(y, strlen(y), &doc, &e), 0);
        assert_string_equal(json_string_value(json_object_get(doc, "a")), "1");
        assert_string_equal(json_string_value(json_array_get(json_object_get(doc, "b"), 1)), "y z");
        assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "c"), "d")), "true");
        assert_string_equal(json_string_value(json_object_get(doc, "empty")), "");
        assert_string_equal(json_string_value(json_object_get(doc, "lit")), "two\nlines\n");
        json_decref(doc);
        /* Deep nesting is refused, not recursed into. */
        char deep[400];
        size_t n = 0;
        for (int i = 0; i < 100; i++)
                deep[n++] = '[';
        deep[n] = '\0';
        doc = NULL;
        assert_true(k8s_yaml_to_json(deep, n, &doc, &e) < 0);
        assert_null(doc);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(data_variant),  cmocka_unit_test(file_variant_and_token_rotation),
                cmocka_unit_test(named_context), cmocka_unit_test(load_from_environment),
                cmocka_unit_test(missing_pieces), cmocka_unit_test(in_cluster),
                cmocka_unit_test(yaml_subset),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
