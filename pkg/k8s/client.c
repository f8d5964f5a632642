/* client.c — requests to the Kubernetes API: one reused libcurl easy handle per client, escaping, the Status object
 * decoded into errors, and the pod calls.
 *
 * Owns struct k8s_client. A client is used by one thread at a time (k8s.h); its handle keeps the connection to the API
 * server open between calls. Every transfer sets connect and total timeouts, NOSIGNAL, http/https only and an error
 * buffer, and keeps at most `max_body_bytes` of an answer. The Authorization header is built per request from the
 * config's current token and never logged. The handle setup is shared with the watch (k8s_handle_setup). */
#include <pthread.h>
#include <string.h>

#include <curl/curl.h>

#include "ecs.h"
#include "k8s-client-internal.h"
#include "k8s-internal.h"
#include "k8s.h"

#define CONNECT_TIMEOUT_MS_DEFAULT 5000
#define REQUEST_TIMEOUT_MS_DEFAULT 30000
#define MAX_BODY_DEFAULT (8u << 20)
#define PATH_MAX_BYTES 2048

struct k8s_client {
        struct k8s_config *cfg;
        CURL *h;
        char errbuf[CURL_ERROR_SIZE];
        long connect_timeout_ms, request_timeout_ms;
        size_t max_body;
        uint64_t calls;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void) {
        curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int k8s_curl_global_init(struct err *e) {
        pthread_once(&curl_once, curl_init);
        if (curl_init_rc != CURLE_OK)
                return err_set(e, -EIO, ERR_KIND_INTERNAL, "libcurl initialisation failed: %s.",
                               curl_easy_strerror(curl_init_rc));
        return 0;
}

/* ---- escaping ---- */

int k8s_escape(const char *s, char *buf, size_t size) {
        static const char hex[] = "0123456789ABCDEF";
        size_t o = 0;
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                             *p == '-' || *p == '.' || *p == '_' || *p == '~';
                if (o + (plain ? 1 : 3) >= size)
                        return -ENOBUFS;
                if (plain) {
                        buf[o++] = (char) *p;
                } else {
                        buf[o++] = '%';
                        buf[o++] = hex[*p >> 4];
                        buf[o++] = hex[*p & 15];
                }
        }
        if (o >= size)
                return -ENOBUFS;
        buf[o] = '\0';
        return (int) o;
}

/* ---- capped body buffer ---- */

void k8s_body_init(struct k8s_body *b, size_t cap) {
        *b = (struct k8s_body){.cap = cap};
}

void k8s_body_free(struct k8s_body *b) {
        free(b->data);
        b->data = NULL;
        b->len = b->alloc = 0;
}

bool k8s_body_append(struct k8s_body *b, const char *data, size_t n) {
        if (b->len + n > b->cap) {
                b->overflow = true;
                return false;
        }
        if (b->len + n + 1 > b->alloc) {
                size_t want = b->alloc ? b->alloc : 4096;
                while (want < b->len + n + 1)
                        want *= 2;
                char *p = realloc(b->data, want);
                if (!p)
                        return false;
                b->data = p;
                b->alloc = want;
        }
        memcpy(b->data + b->len, data, n);
        b->len += n;
        b->data[b->len] = '\0';
        return true;
}

size_t k8s_body_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
        size_t n = size * nmemb;
        return k8s_body_append(userdata, ptr, n) ? n : 0; /* 0 aborts the transfer: CURLE_WRITE_ERROR */
}

/* ---- Status → error ---- */

static int errno_for_status(long status, int *kind) {
        *kind = ERR_KIND_CLIENT;
        switch (status) {
        case 404:
                *kind = ERR_KIND_NOT_FOUND;
                return -ENOENT;
        case 409:
                *kind = ERR_KIND_RESOURCE_IN_USE;
                return -EEXIST;
        case 401:
        case 403:
                return -EACCES;
        case 400:
        case 422:
                return -EINVAL;
        case 410:
                *kind = ERR_KIND_INTERNAL;
                return -ESTALE;
        case 413:
                return -EFBIG;
        default:
                *kind = ERR_KIND_INTERNAL;
                return status == 429 || status >= 500 ? -EAGAIN : -EPROTO;
        }
}

int k8s_status_to_err(long http_status, const char *body, size_t len, const char *what, struct err *e) {
        int kind;
        int code = errno_for_status(http_status, &kind);
        json_error_t jerr;
        json_auto_t *st = body && len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
        const char *message = ecs_json_str(st, "message", NULL), *reason = ecs_json_str(st, "reason", NULL);
        if (json_is_object(st) && message && strcmp(ecs_json_str(st, "kind", ""), "Status") == 0) {
                err_set(e, code, kind, "Kubernetes API %s: %s (%ld%s%s)", what, message, http_status,
                        reason && *reason ? " " : "", reason ? reason : "");
        } else {
                /* Not a Status (a proxy in the way, an HTML page): show its start, made printable. */
                char snippet[96];
                size_t n = 0;
                for (size_t i = 0; body && i < len && n < sizeof(snippet) - 1; i++)
                        snippet[n++] = (unsigned char) body[i] >= 0x20 && (unsigned char) body[i] < 0x7f ? body[i]
                                                                                                        : ' ';
                snippet[n] = '\0';
                err_set(e, code, kind, "Kubernetes API %s: HTTP %ld%s%s", what, http_status, n ? ": " : "", snippet);
        }
        if (e)
                str_utf8_sanitize(e->msg);
        return code;
}

/* ---- handle setup (shared with the watch) ---- */

#define SETOPT(h, opt, val)                                                                                            \
        do {                                                                                                           \
                CURLcode _rc = curl_easy_setopt((h), (opt), (val));                                                    \
                if (_rc != CURLE_OK)                                                                                   \
                        return err_set(e, -EIO, ERR_KIND_INTERNAL, "libcurl option %s: %s.", #opt,                   \
                                       curl_easy_strerror(_rc));                                                       \
        } while (0)

int k8s_multi_transfer(CURLM *multi, CURL *h, atomic_bool *stop, CURLcode *ret_rc) {
        if (curl_multi_add_handle(multi, h) != CURLM_OK)
                return -EIO;
        int r = 0;
        for (;;) {
                int running = 0;
                if (curl_multi_perform(multi, &running) != CURLM_OK) {
                        r = -EIO;
                        break;
                }
                if (!running)
                        break;
                if (atomic_load(stop)) {
                        r = -ECANCELED;
                        break;
                }
                if (curl_multi_poll(multi, NULL, 0, 1000, NULL) != CURLM_OK) {
                        r = -EIO;
                        break;
                }
                if (atomic_load(stop)) {
                        r = -ECANCELED;
                        break;
                }
        }
        *ret_rc = CURLE_OK;
        if (r == 0) {
                int left;
                CURLMsg *m;
                while ((m = curl_multi_info_read(multi, &left)))
                        if (m->msg == CURLMSG_DONE && m->easy_handle == h)
                                *ret_rc = m->data.result;
        }
        curl_multi_remove_handle(multi, h);
        return r;
}

int k8s_handle_setup(CURL *h, struct k8s_config *cfg, char *errbuf, long connect_timeout_ms, struct err *e) {
        struct k8s_tls tls;
        k8s_config_tls(cfg, &tls);
        SETOPT(h, CURLOPT_NOSIGNAL, 1L);
        SETOPT(h, CURLOPT_PROTOCOLS_STR, "http,https");
        SETOPT(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
        SETOPT(h, CURLOPT_ERRORBUFFER, errbuf);
        SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
        SETOPT(h, CURLOPT_TCP_KEEPALIVE, 1L);
        SETOPT(h, CURLOPT_TCP_KEEPIDLE, 30L);
        SETOPT(h, CURLOPT_TCP_KEEPINTVL, 10L);
        SETOPT(h, CURLOPT_USERAGENT, "ecsd/" ECSD_VERSION);
        if (tls.ca) {
                struct curl_blob blob = {.data = (void *) (uintptr_t) tls.ca, .len = tls.ca_len,
                                         .flags = CURL_BLOB_COPY};
                SETOPT(h, CURLOPT_CAINFO_BLOB, &blob);
        }
        if (tls.cert) {
                struct curl_blob cert = {.data = (void *) (uintptr_t) tls.cert, .len = tls.cert_len,
                                         .flags = CURL_BLOB_COPY};
                struct curl_blob key = {.data = (void *) (uintptr_t) tls.key, .len = tls.key_len,
                                        .flags = CURL_BLOB_COPY};
                SETOPT(h, CURLOPT_SSLCERT_BLOB, &cert);
                SETOPT(h, CURLOPT_SSLCERTTYPE, "PEM");
                SETOPT(h, CURLOPT_SSLKEY_BLOB, &key);
                SETOPT(h, CURLOPT_SSLKEYTYPE, "PEM");
        }
        SETOPT(h, CURLOPT_SSL_VERIFYPEER, tls.insecure ? 0L : 1L);
        SETOPT(h, CURLOPT_SSL_VERIFYHOST, tls.insecure ? 0L : 2L);
        return 0;
}

int k8s_headers(struct k8s_config *cfg, bool json_body, const char *content_type, struct curl_slist **ret,
                struct err *e) {
        struct curl_slist *h = NULL, *n;
        char token[8192];
        int r = k8s_config_token(cfg, token, sizeof(token), e);
        if (r == -ENOBUFS)
                return err_set(e, -ENOBUFS, ERR_KIND_INVALID, "The bearer token is longer than 8 KiB.");
        if (r < 0)
                return r;
        char auth[sizeof(token) + 32];
        bool ok = (n = curl_slist_append(h, "Accept: application/json")) && (h = n);
        if (ok && json_body) {
                char ct[128];
                str_printf(ct, sizeof(ct), "Content-Type: %s", content_type ? content_type : "application/json");
                ok = (n = curl_slist_append(h, ct)) && (h = n);
        }
        if (ok && r > 0) {
                str_printf(auth, sizeof(auth), "Authorization: Bearer %s", token);
                ok = (n = curl_slist_append(h, auth)) && (h = n);
                explicit_bzero(auth, sizeof(auth));
        }
        explicit_bzero(token, sizeof(token));
        if (!ok) {
                curl_slist_free_all(h);
                return err_set(e, -ENOMEM, ERR_KIND_INTERNAL, "Out of memory.");
        }
        *ret = h;
        return 0;
}

/* ---- the client ---- */

int k8s_client_new(struct k8s_config *cfg, const struct k8s_client_options *opts, struct k8s_client **ret,
                   struct err *e) {
        int r = k8s_curl_global_init(e);
        if (r < 0)
                return r;
        struct k8s_client *c = xcalloc(1, sizeof(*c));
        c->cfg = cfg;
        c->connect_timeout_ms = opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms
                                                                     : CONNECT_TIMEOUT_MS_DEFAULT;
        c->request_timeout_ms = opts && opts->request_timeout_ms > 0 ? opts->request_timeout_ms
                                                                     : REQUEST_TIMEOUT_MS_DEFAULT;
        c->max_body = opts && opts->max_body_bytes > 0 ? opts->max_body_bytes : MAX_BODY_DEFAULT;
        c->h = curl_easy_init();
        if (!c->h) {
                free(c);
                return err_set(e, -ENOMEM, ERR_KIND_INTERNAL, "curl_easy_init failed.");
        }
        if ((r = k8s_handle_setup(c->h, cfg, c->errbuf, c->connect_timeout_ms, e)) < 0) {
                k8s_client_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

void k8s_client_free(struct k8s_client *c) {
        if (!c)
                return;
        curl_easy_cleanup(c->h);
        free(c);
}

uint64_t k8s_client_calls(const struct k8s_client *c) {
        return c->calls;
}

static void slist_freep(struct curl_slist **l) {
        curl_slist_free_all(*l);
}

int k8s_transport_err(CURLcode rc, const char *errbuf, const char *what, struct err *e) {
        int code = rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
        return err_set(e, code, ERR_KIND_INTERNAL, "Kubernetes API %s: %s", what,
                       errbuf && *errbuf ? errbuf : curl_easy_strerror(rc));
}

/* The request with a body given as text (`content_type` NULL: JSON). */
/* One request. A 2xx body is decoded as JSON into *ret_json, or, when `ret_raw` is non-NULL, handed over as it is
 * (the caller frees it with k8s_body_free). */
static int request_raw(struct k8s_client *c, const char *method, const char *path, const char *body,
                       const char *content_type, long *ret_status, json_t **ret_json, struct k8s_body *ret_raw,
                       struct err *e) {
        char what[PATH_MAX_BYTES + 16];
        str_printf(what, sizeof(what), "%s %s", method, path);
        if (path[0] != '/' || strlen(path) > PATH_MAX_BYTES)
                return err_set(e, -EINVAL, ERR_KIND_INTERNAL, "Kubernetes API: bad request path.");
        char url[PATH_MAX_BYTES + 512];
        if (str_printf(url, sizeof(url), "%s%s", k8s_config_server(c->cfg), path) < 0)
                return err_set(e, -ENAMETOOLONG, ERR_KIND_INTERNAL, "Kubernetes API: URL too long.");
        _cleanup_(slist_freep) struct curl_slist *headers = NULL;
        int r = k8s_headers(c->cfg, body != NULL, content_type, &headers, e);
        if (r < 0)
                return r;
        struct k8s_body resp;
        k8s_body_init(&resp, c->max_body);
        CURL *h = c->h;
        c->errbuf[0] = '\0';
        CURLcode rc = CURLE_OK;
        /* Every per-request option is set on each call, so nothing leaks from the previous request. */
        if (strcmp(method, "GET") == 0) {
                rc = curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
                if (rc == CURLE_OK)
                        rc = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
        } else {
                rc = curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
                if (rc == CURLE_OK)
                        rc = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                                              (curl_off_t) (body ? strlen(body) : 0));
                if (rc == CURLE_OK)
                        rc = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        }
        if (rc == CURLE_OK)
                rc = curl_easy_setopt(h, CURLOPT_URL, url);
        if (rc == CURLE_OK)
                rc = curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        if (rc == CURLE_OK)
                rc = curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->request_timeout_ms);
        if (rc == CURLE_OK)
                rc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, k8s_body_write);
        if (rc == CURLE_OK)
                rc = curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
        if (rc != CURLE_OK)
                return err_set(e, -EIO, ERR_KIND_INTERNAL, "libcurl: %s.", curl_easy_strerror(rc));
        c->calls++;
        rc = curl_easy_perform(h);
        /* The header list dies with this call; the handle must not keep pointing at it. */
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        if (rc != CURLE_OK) {
                bool overflow = resp.overflow;
                k8s_body_free(&resp);
                if (overflow)
                        return err_set(e, -EFBIG, ERR_KIND_INTERNAL, "Kubernetes API %s: the answer is larger than "
                                       "%zu bytes.", what, c->max_body);
                return k8s_transport_err(rc, c->errbuf, what, e);
        }
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (ret_status)
                *ret_status = status;
        if (status < 200 || status > 299) {
                r = k8s_status_to_err(status, resp.data, resp.len, what, e);
                k8s_body_free(&resp);
                return r;
        }
        if (ret_raw) {
                *ret_raw = resp;
                return 0;
        }
        json_t *doc = json_null();
        if (resp.len > 0) {
                json_error_t jerr;
                doc = json_loadb(resp.data, resp.len, JSON_REJECT_DUPLICATES, &jerr);
                if (!doc) {
                        k8s_body_free(&resp);
                        return err_set(e, -EPROTO, ERR_KIND_INTERNAL, "Kubernetes API %s: the answer is not JSON: "
                                       "%s.", what, jerr.text);
                }
        }
        k8s_body_free(&resp);
        if (ret_json)
                *ret_json = doc;
        else
                json_decref(doc);
        return 0;
}

int k8s_request(struct k8s_client *c, const char *method, const char *path, const json_t *body, long *ret_status,
                json_t **ret_json, struct err *e) {
        _cleanup_free_ char *text = NULL;
        if (body) {
                text = json_dumps(body, JSON_COMPACT);
                if (!text)
                        return err_set(e, -ENOMEM, ERR_KIND_INTERNAL, "Out of memory.");
        }
        return request_raw(c, method, path, text, NULL, ret_status, ret_json, NULL, e);
}

int k8s_client_native_sidecars(struct k8s_client *c, bool *ret, struct err *e) {
        json_auto_t *v = NULL;
        int r = k8s_request(c, "GET", "/version", NULL, NULL, &v, e);
        if (r < 0)
                return r;
        int64_t major = 0, minor = 0;
        char buf[16];
        /* "minor" may carry a suffix ("29+" on some distributions). */
        str_printf(buf, sizeof(buf), "%s", ecs_json_str(v, "minor", ""));
        buf[strspn(buf, "0123456789")] = '\0';
        if (parse_int64(ecs_json_str(v, "major", ""), 0, 1000, &major) < 0 || parse_int64(buf, 0, 1000, &minor) < 0)
                return err_set(e, -EPROTO, ERR_KIND_INTERNAL, "Kubernetes API GET /version: no major/minor version.");
        *ret = major > 1 || (major == 1 && minor >= 29);
        return 0;
}

/* ---- pods ---- */

int k8s_path_pods(char *buf, size_t size, const char *ns, const char *name) {
        char ens[512], ename[1024];
        if (!ns && !name)
                return str_printf(buf, size, "/api/v1/pods") < 0 ? -ENAMETOOLONG : 0;
        if (!ns || !*ns || k8s_escape(ns, ens, sizeof(ens)) < 0 ||
            (name && (!*name || k8s_escape(name, ename, sizeof(ename)) < 0)))
                return -EINVAL;
        if (name)
                return str_printf(buf, size, "/api/v1/namespaces/%s/pods/%s", ens, ename) < 0 ? -ENAMETOOLONG : 0;
        return str_printf(buf, size, "/api/v1/namespaces/%s/pods", ens) < 0 ? -ENAMETOOLONG : 0;
}

static int pod_path(char *buf, size_t size, const char *ns, const char *name, struct err *e) {
        if (k8s_path_pods(buf, size, ns, name) < 0)
                return err_set(e, -EINVAL, ERR_KIND_INTERNAL, "Kubernetes API: empty or oversized namespace or pod "
                               "name.");
        return 0;
}

static int create(struct k8s_client *c, const char *ns, const json_t *pod, bool dry, json_t **ret_pod,
                  struct err *e) {
        char path[PATH_MAX_BYTES];
        int r = pod_path(path, sizeof(path), ns, NULL, e);
        if (r < 0)
                return r;
        if (dry && str_printf(path + strlen(path), sizeof(path) - strlen(path), "?dryRun=All") < 0)
                return err_set(e, -ENAMETOOLONG, ERR_KIND_INTERNAL, "Kubernetes API: path too long.");
        return k8s_request(c, "POST", path, pod, NULL, ret_pod, e);
}

int k8s_pod_create(struct k8s_client *c, const char *ns, const json_t *pod, json_t **ret_pod, struct err *e) {
        return create(c, ns, pod, false, ret_pod, e);
}

int k8s_pod_dry_run_create(struct k8s_client *c, const char *ns, const json_t *pod, json_t **ret_pod, struct err *e) {
        return create(c, ns, pod, true, ret_pod, e);
}

int k8s_pod_delete(struct k8s_client *c, const char *ns, const char *name, int grace_seconds, struct err *e) {
        char path[PATH_MAX_BYTES];
        int r = pod_path(path, sizeof(path), ns, name, e);
        if (r < 0)
                return r;
        json_auto_t *opts = json_pack("{s:s, s:s, s:s}", "apiVersion", "v1", "kind", "DeleteOptions",
                                      "propagationPolicy", "Background");
        if (grace_seconds >= 0)
                json_object_set_new(opts, "gracePeriodSeconds", json_integer(grace_seconds));
        return k8s_request(c, "DELETE", path, opts, NULL, NULL, e);
}

int k8s_pod_get(struct k8s_client *c, const char *ns, const char *name, json_t **ret_pod, struct err *e) {
        char path[PATH_MAX_BYTES];
        int r = pod_path(path, sizeof(path), ns, name, e);
        if (r < 0)
                return r;
        return k8s_request(c, "GET", path, NULL, NULL, ret_pod, e);
}

int k8s_pod_list(struct k8s_client *c, const char *ns, const char *label_selector, json_t **ret_items,
                 char **ret_resource_version, struct err *e) {
        char path[PATH_MAX_BYTES], sel[1024];
        int r = pod_path(path, sizeof(path), ns, NULL, e);
        if (r < 0)
                return r;
        if (label_selector && *label_selector) {
                if (k8s_escape(label_selector, sel, sizeof(sel)) < 0 ||
                    str_printf(path + strlen(path), sizeof(path) - strlen(path), "?labelSelector=%s", sel) < 0)
                        return err_set(e, -EINVAL, ERR_KIND_INTERNAL, "Kubernetes API: label selector too long.");
        }
        json_auto_t *list = NULL;
        if ((r = k8s_request(c, "GET", path, NULL, NULL, &list, e)) < 0)
                return r;
        json_t *items = json_object_get(list, "items");
        if (!json_is_array(items) && !json_is_null(items) && items)
                return err_set(e, -EPROTO, ERR_KIND_INTERNAL, "Kubernetes API GET %s: no items in the list.", path);
        *ret_items = json_is_array(items) ? json_incref(items) : json_array();
        if (ret_resource_version)
                *ret_resource_version = xstrdup(ecs_json_str(json_object_get(list, "metadata"), "resourceVersion", ""));
        return 0;
}

int k8s_pod_logs(struct k8s_client *c, const char *ns, const char *name, const char *container, size_t limit_bytes,
                 char **ret, size_t *ret_len, struct err *e) {
        char path[PATH_MAX_BYTES], esc[256];
        int r = pod_path(path, sizeof(path), ns, name, e);
        if (r < 0)
                return r;
        if (k8s_escape(container, esc, sizeof(esc)) < 0 ||
            str_printf(path + strlen(path), sizeof(path) - strlen(path), "/log?container=%s&limitBytes=%zu", esc,
                       limit_bytes) < 0)
                return err_set(e, -EINVAL, ERR_KIND_INTERNAL, "Kubernetes API: container name too long.");
        struct k8s_body body;
        if ((r = request_raw(c, "GET", path, NULL, NULL, NULL, NULL, &body, e)) < 0)
                return r;
        /* Hand the output over NUL-terminated. */
        *ret = xmalloc(body.len + 1);
        if (body.len)
                memcpy(*ret, body.data, body.len);
        (*ret)[body.len] = '\0';
        *ret_len = body.len;
        k8s_body_free(&body);
        return 0;
}
