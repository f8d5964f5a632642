/* k8s-internal.h — pieces of pkg/k8s shared between its files and reached by its unit tests and fuzz targets; not
 * part of the package's public face (k8s.h). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base.h"

/* ---- names ---- */

/* True when `s` is a DNS-1123 label: 1..63 of [a-z0-9-], starting and ending alphanumeric. */
bool k8s_dns_label_valid(const char *s);
/* True when `s` is a DNS-1123 subdomain: 1..253, dot-separated labels of [a-z0-9-]. */
bool k8s_dns_subdomain_valid(const char *s);
/* True when `s` is a qualified name as labels and annotations take them: [prefix/]name, prefix a DNS subdomain,
 * name 1..63 of [A-Za-z0-9._-] starting and ending alphanumeric. */
bool k8s_qualified_name_valid(const char *s);

/* ---- nodes (nodes.c) ---- */

/* Parse a Kubernetes quantity ("3500m", "16Gi", "4") into *ret, multiplied by `scale` (1000: milli-units). */
int k8s_quantity_parse(const char *s, int64_t scale, int64_t *ret);
/* A Node as a host (backend.h, hosts): NULL when it takes no Pods (cordoned, not Ready) or its allocatable does not
 * parse. New object. */
json_t *k8s_node_host(const json_t *node);

/* ---- container states ---- */

/* The ECS error a container's waiting state means once it is certain, or NULL while it may still start: an image
 * that cannot be pulled, a config error that stays (a missing Secret or key; the kubelet's "failed to sync ... cache"
 * passes), a container the runtime cannot create. `reason` and `message` are the state's (either may be NULL). */
const char *k8s_waiting_failure(const char *reason, const char *message);

/* ---- escaping: every path segment and query value goes through one of these ---- */

/* Percent-encode `s` for one path segment or one query value: every byte outside [A-Za-z0-9._~-] becomes %XX. Returns
 * the length, or -ENOBUFS when `buf` (size `size`) is too small. */
int k8s_escape(const char *s, char *buf, size_t size);

/* ---- the Status object ---- */

/* Turn a non-2xx answer into `e`: the message, reason and code of a Kubernetes Status object in `body` when there is
 * one, else the HTTP status and the first bytes of the body (sanitised). Returns the negative errno (k8s.h lists the
 * mapping). `what` names the request ("POST /api/v1/namespaces/x/pods"). */
int k8s_status_to_err(long http_status, const char *body, size_t len, const char *what, struct err *e);

/* ---- the watch line splitter ---- */

/* Splits a byte stream into newline-terminated lines. Only newly arrived bytes are searched for '\n' (the buffer
 * holds just the unfinished tail of one line, which is known to contain none), so a line arriving in many small chunks
 * costs O(length), not O(length²). A line longer than `cap` bytes is dropped whole (its bytes are discarded up to its
 * newline) and counted in `overlong`; the buffer never grows past cap + 1. A trailing '\r' is removed. */
struct k8s_lines {
        char *buf;
        size_t len, alloc, cap;
        bool discarding; /* inside an over-cap line: drop bytes until the next newline */
        size_t overlong;
};

void k8s_lines_init(struct k8s_lines *l, size_t cap);
void k8s_lines_free(struct k8s_lines *l);
void k8s_lines_reset(struct k8s_lines *l);
/* Feed `n` bytes; for each complete line (without its '\n', NUL-terminated in place) call fn(line, len, userdata).
 * A callback that returns < 0 stops the feed and that value is returned; otherwise returns 0. */
int k8s_lines_feed(struct k8s_lines *l, const char *data, size_t n, int (*fn)(const char *line, size_t len, void *ud),
                   void *ud);

/* ---- one decoded watch line ---- */

struct k8s_watch_line {
        int type;             /* enum k8s_watch_event, or -1 for BOOKMARK, -2 for ERROR */
        json_t *object;       /* borrowed from `doc` */
        const char *resource_version; /* borrowed: object's metadata.resourceVersion, may be NULL */
        long error_code;      /* ERROR: the Status object's code (410 = Gone) */
};

/* Decode one watch line ({"type": ..., "object": ...}) into *ret; *ret_doc gets the new document (caller frees).
 * -EINVAL when the line is not a watch event. Duplicate keys are rejected; `len` is capped by the splitter. */
int k8s_watch_line_decode(const char *line, size_t len, json_t **ret_doc, struct k8s_watch_line *ret);

/* ---- kubeconfig YAML → JSON (a subset of YAML: mappings, sequences, scalars as strings) ---- */

/* Parse `yaml` into a JSON value (mappings → objects, sequences → arrays, scalars → strings; anchors and aliases are
 * refused). Nesting deeper than 64 and documents larger than 4 MiB are refused. */
int k8s_yaml_to_json(const char *yaml, size_t len, json_t **ret, struct err *e);

/* ---- TLS material of a config, for the client (borrowed, valid while the config lives) ---- */

struct k8s_tls {
        const char *ca, *cert, *key; /* PEM blobs or NULL */
        size_t ca_len, cert_len, key_len;
        bool insecure;
        const char *tls_server_name; /* or NULL */
};
struct k8s_config;
void k8s_config_tls(const struct k8s_config *cfg, struct k8s_tls *ret);
