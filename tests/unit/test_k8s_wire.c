/* test_k8s_wire.c — the byte-level pieces of the Kubernetes client (pkg/k8s): escaping of path and query parts, the
 * watch line splitter (lines split across chunks, over-cap lines), the watch-line decoder and the Status object turned
 * into errors.
 *
 * These feed hand-made bytes on purpose: a stream cut mid-line at every offset, or a line past the cap, is a fault the
 * real API server cannot be asked to produce. The same code runs against the real server in tests/k8s/test_k8s_api.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "k8s-client-internal.h"
#include "k8s-internal.h"
#include "k8s.h"

static void escaping(void **state) {
        (void) state;
        char buf[128];
        assert_int_equal(k8s_escape("kube-system", buf, sizeof(buf)), 11);
        assert_string_equal(buf, "kube-system");
        assert_true(k8s_escape("a b/c?d=e&f#g%", buf, sizeof(buf)) > 0);
        assert_string_equal(buf, "a%20b%2Fc%3Fd%3De%26f%23g%25");
        assert_true(k8s_escape("io.ecsd/owner=x,app in (a,b)", buf, sizeof(buf)) > 0);
        assert_string_equal(buf, "io.ecsd%2Fowner%3Dx%2Capp%20in%20%28a%2Cb%29");
        assert_true(k8s_escape("\xc3\xa9", buf, sizeof(buf)) > 0);
        assert_string_equal(buf, "%C3%A9");
        assert_int_equal(k8s_escape("abc", buf, 3), -ENOBUFS);
        assert_int_equal(k8s_escape("/", buf, 3), -ENOBUFS);
        assert_int_equal(k8s_escape("", buf, 1), 0);

        /* A name cannot climb out of its collection. */
        char path[256];
        assert_int_equal(k8s_path_pods(path, sizeof(path), "ns", "../../secrets/x"), 0);
        assert_string_equal(path, "/api/v1/namespaces/ns/pods/..%2F..%2Fsecrets%2Fx");
        assert_int_equal(k8s_path_pods(path, sizeof(path), "ns", NULL), 0);
        assert_string_equal(path, "/api/v1/namespaces/ns/pods");
        assert_int_equal(k8s_path_pods(path, sizeof(path), "", NULL), -EINVAL);
        assert_int_equal(k8s_path_pods(path, sizeof(path), "ns", ""), -EINVAL);
}

struct collected {
        char lines[16][64];
        size_t n;
        int stop_after; /* return -EINTR after this many lines (0: never) */
};

static int collect(const char *line, size_t len, void *ud) {
        struct collected *c = ud;
        assert_int_equal(strlen(line), len); /* NUL-terminated in place */
        if (c->n < 16)
                str_printf(c->lines[c->n++], sizeof(c->lines[0]), "%s", line);
        if (c->stop_after && (int) c->n >= c->stop_after)
                return -EINTR;
        return 0;
}

static void lines_across_chunks(void **state) {
        (void) state;
        static const char stream[] = "{\"a\":1}\n{\"type\":\"MODIFIED\"}\r\n\n{\"b\":2}\npartial";
        /* Feed it cut at every possible point, then byte by byte: the lines are the same each time. */
        for (size_t cut = 0; cut <= sizeof(stream) - 1; cut++) {
                struct k8s_lines l;
                struct collected c = {0};
                k8s_lines_init(&l, 64);
                assert_int_equal(k8s_lines_feed(&l, stream, cut, collect, &c), 0);
                assert_int_equal(k8s_lines_feed(&l, stream + cut, sizeof(stream) - 1 - cut, collect, &c), 0);
                assert_int_equal(c.n, 3);
                assert_string_equal(c.lines[0], "{\"a\":1}");
                assert_string_equal(c.lines[1], "{\"type\":\"MODIFIED\"}");
                assert_string_equal(c.lines[2], "{\"b\":2}");
                /* The unfinished tail is held, not delivered. */
                assert_int_equal(l.len, strlen("partial"));
                k8s_lines_free(&l);
        }
        struct k8s_lines l;
        struct collected c = {0};
        k8s_lines_init(&l, 64);
        for (size_t i = 0; i < sizeof(stream) - 1; i++)
                assert_int_equal(k8s_lines_feed(&l, stream + i, 1, collect, &c), 0);
        assert_int_equal(c.n, 3);
        assert_int_equal(k8s_lines_feed(&l, "!\n", 2, collect, &c), 0);
        assert_string_equal(c.lines[3], "partial!");
        k8s_lines_free(&l);
}

static void lines_over_cap(void **state) {
        (void) state;
        struct k8s_lines l;
        struct collected c = {0};
        k8s_lines_init(&l, 8);
        /* An over-cap line that arrives in pieces is dropped whole; the next line is intact; a line of exactly the cap
         * is kept. */
        assert_int_equal(k8s_lines_feed(&l, "0123", 4, collect, &c), 0);
        assert_int_equal(k8s_lines_feed(&l, "45678", 5, collect, &c), 0);
        assert_int_equal(l.overlong, 1);
        assert_true(l.alloc <= 9); /* the buffer never grew past the cap */
        assert_int_equal(k8s_lines_feed(&l, "9abcdef", 7, collect, &c), 0);
        assert_int_equal(c.n, 0);
        assert_int_equal(k8s_lines_feed(&l, "xyz\nok\n12345678\n", 16, collect, &c), 0);
        assert_int_equal(c.n, 2);
        assert_string_equal(c.lines[0], "ok");
        assert_string_equal(c.lines[1], "12345678");
        /* An over-cap line that arrives in one chunk with its newline. */
        assert_int_equal(k8s_lines_feed(&l, "123456789\nafter\n", 16, collect, &c), 0);
        assert_int_equal(l.overlong, 2);
        assert_string_equal(c.lines[2], "after");
        /* A callback error stops the feed and is returned. */
        c.stop_after = 4;
        assert_int_equal(k8s_lines_feed(&l, "one\ntwo\n", 8, collect, &c), -EINTR);
        assert_int_equal(c.n, 4);
        k8s_lines_free(&l);
}

static void watch_lines(void **state) {
        (void) state;
        struct k8s_watch_line wl;
        json_t *doc = NULL;
        const char *added = "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\","
                            "\"resourceVersion\":\"42\"}}}";
        assert_int_equal(k8s_watch_line_decode(added, strlen(added), &doc, &wl), 0);
        assert_int_equal(wl.type, K8S_WATCH_ADDED);
        assert_string_equal(wl.resource_version, "42");
        assert_string_equal(json_string_value(json_object_get(json_object_get(wl.object, "metadata"), "name")), "p");
        json_decref(doc);
        const char *bm = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":\"77\"}}}";
        assert_int_equal(k8s_watch_line_decode(bm, strlen(bm), &doc, &wl), 0);
        assert_int_equal(wl.type, -1);
        assert_string_equal(wl.resource_version, "77");
        json_decref(doc);
        const char *gone = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":"
                           "\"Failure\",\"message\":\"too old resource version: 1 (40)\",\"reason\":\"Expired\","
                           "\"code\":410}}";
        assert_int_equal(k8s_watch_line_decode(gone, strlen(gone), &doc, &wl), 0);
        assert_int_equal(wl.type, -2);
        assert_int_equal(wl.error_code, 410);
        json_decref(doc);
        static const char *const bad[] = {
                "", "not json", "[]", "{\"type\":\"ADDED\"}", "{\"type\":\"ADDED\",\"object\":[]}",
                "{\"type\":\"WHAT\",\"object\":{}}",
                "{\"type\":\"ADDED\",\"type\":\"DELETED\",\"object\":{}}", /* duplicate keys */
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                doc = NULL;
                assert_int_equal(k8s_watch_line_decode(bad[i], strlen(bad[i]), &doc, &wl), -EINVAL);
                assert_null(doc);
        }
}

static void status_objects(void **state) {
        (void) state;
        struct err e = {0};
        /* The body the real API server sends for a missing pod. */
        const char *nf = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
                         "\"message\":\"pods \\\"ecsd-x\\\" not found\",\"reason\":\"NotFound\",\"details\":{\"name\":"
                         "\"ecsd-x\",\"kind\":\"pods\"},\"code\":404}";
        assert_int_equal(k8s_status_to_err(404, nf, strlen(nf), "DELETE /api/v1/namespaces/n/pods/ecsd-x", &e),
                         -ENOENT);
        assert_int_equal(e.kind, ERR_KIND_NOT_FOUND);
        assert_string_equal(e.msg, "Kubernetes API DELETE /api/v1/namespaces/n/pods/ecsd-x: pods \"ecsd-x\" not found "
                                   "(404 NotFound)");
        const char *forbidden = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":"
                                "\"pods is forbidden: User \\\"system:serviceaccount:a:b\\\" cannot list resource "
                                "\\\"pods\\\" in API group \\\"\\\" in the namespace \\\"other\\\"\",\"reason\":"
                                "\"Forbidden\",\"code\":403}";
        assert_int_equal(k8s_status_to_err(403, forbidden, strlen(forbidden), "GET x", &e), -EACCES);
        assert_int_equal(e.kind, ERR_KIND_CLIENT);
        assert_non_null(strstr(e.msg, "cannot list resource"));
        assert_non_null(strstr(e.msg, "Forbidden"));
        assert_int_equal(k8s_status_to_err(409, "{\"kind\":\"Status\",\"message\":\"exists\",\"reason\":"
                                                "\"AlreadyExists\"}", 55, "POST x", &e), -EEXIST);
        assert_int_equal(k8s_status_to_err(422, "{\"kind\":\"Status\",\"message\":\"Pod is invalid\"}", 45, "POST x",
                                           &e), -EINVAL);
        assert_int_equal(k8s_status_to_err(410, NULL, 0, "GET x", &e), -ESTALE);
        /* Not a Status: a proxy's HTML page, shown printable and short. */
        const char *html = "<html>\n<body>502 Bad Gateway\x01</body></html>";
        assert_int_equal(k8s_status_to_err(502, html, strlen(html), "GET y", &e), -EAGAIN);
        assert_non_null(strstr(e.msg, "HTTP 502: <html> <body>502 Bad Gateway </body>"));
        assert_int_equal(k8s_status_to_err(429, "", 0, "GET y", &e), -EAGAIN);
        assert_string_equal(e.msg, "Kubernetes API GET y: HTTP 429");
        /* Truncated or invalid UTF-8 in a message never reaches the error as is. */
        const char *bad_utf8 = "{\"kind\":\"Status\",\"message\":\"bad \\u00e9\\ud800\",\"code\":400}";
        k8s_status_to_err(400, bad_utf8, strlen(bad_utf8), "GET z", &e);
        json_auto_t *as_json = json_string(e.msg); /* NULL if the message were not valid UTF-8 */
        assert_non_null(as_json);
}

static void capped_body(void **state) {
        (void) state;
        struct k8s_body b;
        k8s_body_init(&b, 10);
        char chunk[] = "0123456";
        assert_int_equal(k8s_body_write(chunk, 1, 7, &b), 7);
        assert_int_equal(k8s_body_write(chunk, 1, 3, &b), 3);
        assert_string_equal(b.data, "0123456012");
        assert_int_equal(k8s_body_write(chunk, 1, 1, &b), 0); /* past the cap: the transfer is aborted */
        assert_true(b.overflow);
        k8s_body_free(&b);
}

/* Which waiting states fail a task at once. The kubelet's "failed to sync secret cache" came from a real kubelet
 * that had not yet filled its Secret cache: it retries, and a task failed on it was a flake of the kubelet suite. */
static void waiting_states(void **state) {
        (void) state;
        assert_string_equal(k8s_waiting_failure("ErrImageNeverPull", "Container image ... not present"),
                            "CannotPullContainerError");
        assert_string_equal(k8s_waiting_failure("CreateContainerConfigError", "secret \"db-creds\" not found"),
                            "ResourceInitializationError");
        assert_string_equal(k8s_waiting_failure("CreateContainerConfigError", NULL), "ResourceInitializationError");
        assert_null(k8s_waiting_failure("CreateContainerConfigError",
                                        "failed to sync secret cache: timed out waiting for the condition"));
        assert_null(k8s_waiting_failure("CreateContainerConfigError", "failed to sync configmap cache: timed out"));
        assert_string_equal(k8s_waiting_failure("RunContainerError", "oci runtime"), "CannotStartContainerError");
        assert_null(k8s_waiting_failure("ContainerCreating", ""));
        assert_null(k8s_waiting_failure(NULL, NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(escaping),       cmocka_unit_test(lines_across_chunks), cmocka_unit_test(lines_over_cap),
                cmocka_unit_test(watch_lines),    cmocka_unit_test(status_objects),      cmocka_unit_test(capped_body),
                cmocka_unit_test(waiting_states),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
