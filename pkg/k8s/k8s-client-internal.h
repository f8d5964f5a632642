/* k8s-client-internal.h — the libcurl plumbing client.c shares with watch.c and logstream.c, and the capped body
 * buffer the backend's output captures use too. Not part of k8s.h: it exposes curl types. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#include "base.h"

struct k8s_config;

/* curl_global_init, once per process (pthread_once). */
int k8s_curl_global_init(struct err *e);

/* The options every handle gets once: NOSIGNAL, http/https only, no redirects, the error buffer (`errbuf`, at least
 * CURL_ERROR_SIZE bytes, must outlive the handle), the connect timeout, TCP keepalive, and the config's TLS material
 * as blobs (copied by libcurl). */
int k8s_handle_setup(CURL *h, struct k8s_config *cfg, char *errbuf, long connect_timeout_ms, struct err *e);

/* Accept, Content-Type (when `json_body`; `content_type` NULL means application/json) and Authorization with the
 * config's current token. *ret is a new list (curl_slist_free_all). */
int k8s_headers(struct k8s_config *cfg, bool json_body, const char *content_type, struct curl_slist **ret,
                struct err *e);

/* A transport failure (no HTTP answer) as an error: -ETIMEDOUT or -EIO, ERR_KIND_INTERNAL. */
int k8s_transport_err(CURLcode rc, const char *errbuf, const char *what, struct err *e);

/* /api/v1/namespaces/<ns>/pods[/<name>] with both parts escaped; -EINVAL for an empty part. `ns` and `name` both
 * NULL: /api/v1/pods (every namespace). */
int k8s_path_pods(char *buf, size_t size, const char *ns, const char *name);

/* A response body with a hard cap: k8s_body_write refuses (and sets `overflow`) past `cap` bytes. */
struct k8s_body {
        char *data;
        size_t len, alloc, cap;
        bool overflow;
};
void k8s_body_init(struct k8s_body *b, size_t cap);
void k8s_body_free(struct k8s_body *b);
/* Append `n` bytes, kept NUL-terminated; false (and nothing appended) past the cap, which sets `overflow`, or when
 * memory runs out. */
bool k8s_body_append(struct k8s_body *b, const char *data, size_t n);
/* The same as a libcurl write callback (`userdata`: the body). */
size_t k8s_body_write(char *ptr, size_t size, size_t nmemb, void *userdata);

/* Run one transfer of `h` through `multi` (which has no other handle), waking at least once a second and at once on
 * curl_multi_wakeup, until it ends or `*stop` is set. Returns 0 with the transfer's result in *ret_rc, -ECANCELED
 * when stopped, or -EIO when libcurl's multi interface fails. */
int k8s_multi_transfer(CURLM *multi, CURL *h, atomic_bool *stop, CURLcode *ret_rc);
