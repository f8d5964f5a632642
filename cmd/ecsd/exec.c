/* exec.c — `ecsd exec TASK [--container C] [--cluster X] [--endpoint-url URL] -- CMD...`: run a command in a running
 * task's container through a running ecsd's operator endpoints (docs/operations.md, "Running a command in a task"):
 * POST /_ecsd/exec opens the session, GET /_ecsd/exec/<id>/output starts the command and streams its output to our
 * stdout, GET /_ecsd/exec/<id>?wait=S gives its exit code, which becomes ours.
 *
 * The command's arguments travel in the request body, never in a URL. Exit codes: the command's; 125 when ecsd could
 * not run it (the sentence on stderr, as `docker exec` does); 2 for a usage error. One thread; libcurl, one easy
 * handle reused for the three requests. */
#include "exec-cli.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

#define EXIT_USAGE 2
#define EXIT_EXEC_FAILED 125
/* Largest JSON answer kept (the session, the status, an error). */
#define ANSWER_MAX_BYTES (64 * 1024)
#define WAIT_S 60

static const char usage_exec[] =
        "usage: ecsd exec TASK [--container NAME] [--cluster NAME] [--endpoint-url URL] -- COMMAND [ARG...]\n"
        "  TASK is a task id or ARN; --container is needed when the task has several containers;\n"
        "  --endpoint-url is the running ecsd (ECSD_ENDPOINT_URL, default http://127.0.0.1:4566).\n"
        "  The command runs without a shell or terminal; its stdout and stderr come to stdout, and its\n"
        "  exit code is ecsd exec's (125: ecsd could not run it).\n";

struct answer {
        char buf[ANSWER_MAX_BYTES + 1];
        size_t len;
        bool truncated;
        bool stream; /* copy to stdout instead (the output of a 200 answer) */
        CURL *curl;
};

static size_t on_data(char *data, size_t size, size_t n, void *userdata) {
        struct answer *a = userdata;
        size_t len = size * n;
        long status = 0;
        curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &status);
        if (a->stream && status == 200) {
                if (fwrite(data, 1, len, stdout) != len)
                        return 0;
                fflush(stdout);
                return len;
        }
        size_t keep = len;
        if (a->len + keep > ANSWER_MAX_BYTES) {
                keep = ANSWER_MAX_BYTES - a->len;
                a->truncated = true;
        }
        memcpy(a->buf + a->len, data, keep);
        a->len += keep;
        a->buf[a->len] = '\0';
        return len;
}

/* One request; *ret_status gets the HTTP status. Returns 0, or -1 after printing why the request failed. */
static int request(CURL *curl, const char *url, const char *post_body, struct answer *a, long *ret_status) {
        a->len = 0;
        a->buf[0] = '\0';
        a->curl = curl;
        char errbuf[CURL_ERROR_SIZE] = "";
        curl_easy_reset(curl);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, a);
#if LIBCURL_VERSION_NUM >= 0x075500
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
        struct curl_slist *headers = NULL;
        if (post_body) {
                headers = curl_slist_append(headers, "Content-Type: application/json");
                curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
                curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post_body);
        }
        CURLcode rc = curl_easy_perform(curl);
        curl_slist_free_all(headers);
        if (rc != CURLE_OK) {
                fprintf(stderr, "ecsd exec: %s: %s\n", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
                return -1;
        }
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, ret_status);
        return 0;
}

/* Print the error an answer carries ({"__type", "message"}), or its status. */
static void print_error(const struct answer *a, long status) {
        json_auto_t *doc = json_loadb(a->buf, a->len, 0, NULL);
        const char *type = json_string_value(json_object_get(doc, "__type"));
        const char *msg = json_string_value(json_object_get(doc, "message"));
        if (msg)
                fprintf(stderr, "ecsd exec: %s: %s\n", type ? type : "error", msg);
        else
                fprintf(stderr, "ecsd exec: ecsd answered HTTP %ld\n", status);
}

/* POST /_ecsd/exec: the session id into `sid` (65 bytes). */
static int open_session(CURL *curl, const char *endpoint, const char *body, struct answer *a, char *sid) {
        char url[1024];
        long status = 0;
        str_printf(url, sizeof(url), "%s/_ecsd/exec", endpoint);
        if (request(curl, url, body, a, &status) < 0)
                return -1;
        if (status != 200) {
                print_error(a, status);
                return -1;
        }
        json_auto_t *session = json_loadb(a->buf, a->len, 0, NULL);
        const char *id = json_string_value(json_object_get(session, "sessionId"));
        if (!id || strlen(id) > 64 || strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(id)) {
                fprintf(stderr, "ecsd exec: ecsd answered without a session id\n");
                return -1;
        }
        memcpy(sid, id, strlen(id) + 1);
        return 0;
}

/* GET /_ecsd/exec/<id>?wait=S until the command has exited: its exit code, or -1. */
static int exit_code(CURL *curl, const char *endpoint, const char *sid, struct answer *a) {
        char url[1024];
        str_printf(url, sizeof(url), "%s/_ecsd/exec/%s?wait=%d", endpoint, sid, WAIT_S);
        for (;;) {
                long status = 0;
                if (request(curl, url, NULL, a, &status) < 0)
                        return -1;
                if (status != 200) {
                        print_error(a, status);
                        return -1;
                }
                json_auto_t *st = json_loadb(a->buf, a->len, 0, NULL);
                const char *state = json_string_value(json_object_get(st, "status"));
                if (!state || strcmp(state, "EXITED") != 0)
                        continue;
                const json_t *ec = json_object_get(st, "exitCode");
                if (!json_is_integer(ec)) {
                        fprintf(stderr, "ecsd exec: the command could not be run\n");
                        return -1;
                }
                return (int) json_integer_value(ec);
        }
}

static int run(CURL *curl, const char *endpoint, const char *body) {
        _cleanup_free_ struct answer *a = xcalloc(1, sizeof(*a));
        char sid[65], url[1024];
        long status = 0;
        if (open_session(curl, endpoint, body, a, sid) < 0)
                return EXIT_EXEC_FAILED;
        str_printf(url, sizeof(url), "%s/_ecsd/exec/%s/output", endpoint, sid);
        a->stream = true;
        int r = request(curl, url, NULL, a, &status);
        a->stream = false;
        if (r < 0)
                return EXIT_EXEC_FAILED;
        if (status != 200) {
                print_error(a, status);
                return EXIT_EXEC_FAILED;
        }
        int code = exit_code(curl, endpoint, sid, a);
        return code < 0 ? EXIT_EXEC_FAILED : code;
}

int cmd_exec(int argc, char **argv) {
        const char *task = NULL, *container = NULL, *cluster = NULL;
        const char *endpoint = getenv("ECSD_ENDPOINT_URL");
        if (!endpoint || !*endpoint)
                endpoint = "http://127.0.0.1:4566";
        int i = 1;
        for (; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "--") == 0) {
                        i++;
                        break;
                }
                if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                        fputs(usage_exec, stdout);
                        return EXIT_SUCCESS;
                }
                const char **slot = strcmp(a, "--container") == 0      ? &container
                                    : strcmp(a, "--cluster") == 0      ? &cluster
                                    : strcmp(a, "--endpoint-url") == 0 ? &endpoint
                                                                       : NULL;
                if (slot) {
                        if (i + 1 >= argc) {
                                fprintf(stderr, "ecsd exec: %s needs a value\n%s", a, usage_exec);
                                return EXIT_USAGE;
                        }
                        *slot = argv[++i];
                } else if (a[0] == '-' || task) {
                        fprintf(stderr, "ecsd exec: unexpected '%s'\n%s", a, usage_exec);
                        return EXIT_USAGE;
                } else
                        task = a;
        }
        if (!task || i >= argc) {
                fprintf(stderr, "ecsd exec: %s\n%s", task ? "no command after --" : "no task", usage_exec);
                return EXIT_USAGE;
        }
        size_t elen = strlen(endpoint);
        while (elen > 0 && endpoint[elen - 1] == '/')
                elen--;
        if (elen == 0 || elen > 512) {
                fprintf(stderr, "ecsd exec: invalid --endpoint-url\n");
                return EXIT_USAGE;
        }
        char base[513];
        memcpy(base, endpoint, elen);
        base[elen] = '\0';

        json_auto_t *command = json_array();
        for (; i < argc; i++) {
                json_t *s = json_string(argv[i]);
                if (!s) {
                        fprintf(stderr, "ecsd exec: argument %zu of the command is not valid UTF-8\n",
                                json_array_size(command) + 1);
                        return EXIT_USAGE;
                }
                json_array_append_new(command, s);
        }
        json_auto_t *req = json_pack("{s:s, s:O}", "task", task, "command", command);
        if (container)
                json_object_set_new(req, "container", json_string(container));
        if (cluster)
                json_object_set_new(req, "cluster", json_string(cluster));
        _cleanup_free_ char *body = json_dumps(req, JSON_COMPACT);
        if (!body || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                fprintf(stderr, "ecsd exec: out of memory\n");
                return EXIT_EXEC_FAILED;
        }
        CURL *curl = curl_easy_init();
        if (!curl) {
                fprintf(stderr, "ecsd exec: cannot make an HTTP client\n");
                return EXIT_EXEC_FAILED;
        }
        int code = run(curl, base, body);
        curl_easy_cleanup(curl);
        curl_global_cleanup();
        return code;
}
