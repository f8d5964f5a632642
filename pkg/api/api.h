/* api.h — the ECS API (AWS JSON 1.1) and ecsd's own operator endpoints, as a pure request → response function, and
 * the HTTP server (libmicrohttpd) that feeds it.
 *
 * Why a package of its own: the handlers need both the ECS vocabulary (pkg/ecs) and the state and lifecycle
 * (pkg/runtime), and pkg/runtime already depends on pkg/ecs; putting the handlers in pkg/ecs would make a cycle.
 * pkg/ecs keeps the protocol's pure parts (error shapes, input shapes, validation); this package wires them. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base.h"

struct rt_store;
struct rt_lifecycle;
struct rt_follow;

struct api_config {
        const char *region;  /* for unsigned requests; a signed request uses its credential scope's region */
        const char *account; /* the account in every ARN */
        struct rt_store *store;
        struct rt_lifecycle *lifecycle; /* NULL: the task actions answer that no backend runs */
        /* The credentials the credentials endpoint hands out: {role ARN or "*": {"AccessKeyId", "SecretAccessKey",
         * "Token"}} (borrowed, copied; NULL: local placeholders for every role). Checked by api_task_credentials_check. */
        const json_t *task_credentials;
};

struct api;

/* The strings in `cfg` are copied; the store is borrowed and must outlive the api. */
int api_new(const struct api_config *cfg, struct api **ret, struct err *e);
void api_free(struct api *api);
/* Give the api its lifecycle once the backend is up (the metadata listener starts before it, as the backend needs its
 * address). Safe while requests are served. */
void api_attach_lifecycle(struct api *api, struct rt_lifecycle *lc);
/* Attach (or with NULL detach) the service scheduler; the service changes are refused without one. */
struct rt_scheduler;
void api_attach_scheduler(struct api *api, struct rt_scheduler *s);
/* Attach (or with NULL detach) the express gateway services' ingress and health checks (express.h); the express
 * actions are refused without them. */
struct rt_express;
void api_attach_express(struct api *api, struct rt_express *x);
/* Attach (or with NULL detach) the container instances over the backend's hosts (instances.h). */
struct rt_instances;
void api_attach_instances(struct api *api, struct rt_instances *in);

/* One HTTP request as the server saw it. All pointers are borrowed for the duration of api_handle(). */
struct api_request {
        const char *method;
        const char *path;
        const char *target;        /* X-Amz-Target, or NULL */
        const char *authorization; /* Authorization, or NULL; only its credential scope is read */
        const char *host;          /* Host, or NULL: where the client reached ecsd (ExecuteCommand's streamUrl) */
        const char *body;
        size_t body_len;
        bool body_too_large; /* the server stopped keeping the body at API_BODY_MAX_BYTES */
        /* Query parameter lookup (may be NULL: no query). */
        const char *(*query)(const void *ctx, const char *key);
        const void *query_ctx;
        /* The request came in on the metadata listener: only the task metadata endpoint answers. */
        bool metadata_only;
        /* The request came in on the credentials listener: only the credentials endpoint answers. */
        bool credentials_only;
};

#define API_BODY_MAX_BYTES (1024 * 1024)

struct api_response {
        unsigned status;
        const char *content_type; /* static string */
        char *body;               /* owned; release with api_response_release() */
        size_t body_len;
        /* Instead of a body, output to stream as it comes (GET /_ecsd/tasks/<id>/logs?follow=1): read it with
         * rt_follow_read until the end. Owned; a caller that takes it sets this to NULL, else
         * api_response_release() frees it. */
        struct rt_follow *stream;
        char request_id[37];
};

/* Serve one request. Never fails: every outcome, errors included, is a response. Safe from any thread. */
void api_handle(struct api *api, const struct api_request *req, struct api_response *resp);
void api_response_release(struct api_response *resp);

/* ---- the HTTP server ---- */
struct api_server;

/* Longest "host:port" text api_listen_address writes ("[v6]:port"), with its NUL. */
#define API_ADDRESS_MAX 64

/* Bind and listen on `address` ("127.0.0.1:4566", "[::1]:4566", "0.0.0.0:4566"; port 0: the kernel picks a free
 * one), exclusively: SO_REUSEADDR only, never SO_REUSEPORT, close-on-exec, non-blocking. An address that another
 * process listens on fails with -EADDRINUSE and a message that says so. *ret_fd is the caller's. */
int api_listen(const char *address, int *ret_fd, struct err *e);
/* The address a socket is bound to, as "host:port" or "[v6host]:port" (what a client connects to when the listen
 * address had port 0). *ret_port (may be NULL) gets the port. Returns 0 or a negative errno. */
int api_listen_address(int fd, char *buf, size_t size, unsigned *ret_port);

/* Serve `api` on the listening socket `fd` (from api_listen; taken, closed on failure too) from a pool of `threads`
 * epoll threads. */
int api_server_start_fd(struct api *api, int fd, unsigned threads, struct api_server **ret, struct err *e);
/* api_listen + api_server_start_fd. *ret_port gets the bound port. */
int api_server_start(struct api *api, const char *listen, unsigned threads, struct api_server **ret,
                     unsigned *ret_port, struct err *e);
/* The same server, answering only the task metadata endpoint: what containers reach through the host alias (docker)
 * or the Pod network (k8s), so the ECS API itself need not listen where containers can reach it. Exclusive as
 * api_listen is, and bounded per client address (httpd.c says how). */
int api_metadata_server_start(struct api *api, const char *listen, struct api_server **ret, unsigned *ret_port,
                              struct err *e);
/* The same server, answering only the credentials endpoint (GET /v2/credentials/<id>): what containers reach at
 * 169.254.170.2, the address ECS serves credentials at. */
int api_credentials_server_start(struct api *api, const char *listen, struct api_server **ret, unsigned *ret_port,
                                 struct err *e);
/* The address the server listens on, as api_listen_address writes it. */
int api_server_address(const struct api_server *srv, char *buf, size_t size, unsigned *ret_port);

/* Check a task credentials document (struct api_config.task_credentials) as --task-credentials-file gives it; the
 * sentence in `e` names the entry, never a value. */
int api_task_credentials_check(json_t *doc, struct err *e);
/* Stop accepting, finish in-flight requests, and free the server. NULL-safe. */
void api_server_stop(struct api_server *srv);
