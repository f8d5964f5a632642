/* httpd.c — the HTTP server: libmicrohttpd with a pool of epoll threads, feeding api_handle().
 *
 * Why this mode: a fixed pool of epoll threads (one per core by default) serves thousands of keep-alive connections
 * without a thread each, and every request handler is short (a store call), so no request blocks a thread for long.
 * Thread-per-connection would cost a thread per idle SDK connection; an external select loop would add code for
 * nothing.
 *
 * Connections are accepted by one thread of ours (the acceptor) and handed to the pool with MHD_add_connection,
 * which spreads them over the pool's threads by socket number. Left to itself, libmicrohttpd lets whichever pool
 * thread wakes first accept up to ten connections at once, so a client that opens its connections in a burst (an SDK
 * with a connection pool, a load test) often had them all on one thread: every request of theirs then ran on one
 * core while the others idled.
 *
 * Each connection keeps its request body in a buffer capped at API_BODY_MAX_BYTES: a declared Content-Length over
 * the cap is refused before the body is read; a chunked body over the cap is drained and dropped, and the request is
 * answered with an error. Per-connection state is freed in the completion callback, whatever happened.
 *
 * The metadata listener (what containers call) runs a thread per connection instead: its /stats handlers sample the
 * engine, which takes a second or two, and one container's sample must not hold up another's metadata. Containers
 * are few and call rarely, so the threads are few; METADATA_CONNECTIONS_MAX bounds them. Containers are not trusted
 * to be polite: one client address (a container, a task's network namespace) may hold at most
 * METADATA_CONNECTIONS_PER_CLIENT connections, and an idle one is closed after METADATA_IDLE_TIMEOUT_S, so no task
 * can take every slot and starve the others' metadata (a connection over the per-client cap is closed at once).
 * Tasks that share the host's network share one address, and so one quota.
 *
 * Every listening socket is made here (api_listen), not by libmicrohttpd: bound with SO_REUSEADDR only, never
 * SO_REUSEPORT, so a second ecsd, or any other process, cannot bind the same address and take a share of the
 * connections; the bind's errno is known, so "address in use" is reported as such. The socket is close-on-exec, so
 * no spawned docker CLI holds the port after ecsd exits.
 *
 * Streamed responses (a followed task output, api_response.stream) must not hold a pool thread while no output
 * comes: the content reader reads what is there without blocking, and when there is nothing it suspends the
 * connection (MHD_suspend_connection) and hands it to the *stream hub*, one thread per server that polls the output
 * descriptor of every suspended stream and its client socket (POLLRDHUP: the client went away) and resumes the
 * connection when either fires. Only the hub resumes; a stream is in `streams` from its creation to the free callback,
 * which ends the follower (rt_follow_free). At stop, the hub resumes every suspended connection and exits; readers then
 * end their streams, and MHD_stop_daemon (never called with a connection suspended) frees them. `lock` guards
 * `streams`, each stream's `suspended` and `gone`, and `closing`. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>

#include "api.h"
#include "lifecycle.h"

/* Connections the metadata listener serves at once (a thread each), how many of them one client address may hold,
 * and how long an idle one is kept (see the top of the file). */
#define METADATA_CONNECTIONS_MAX 256
#define METADATA_CONNECTIONS_PER_CLIENT 8
#define METADATA_IDLE_TIMEOUT_S 15
/* Bytes the server asks the content reader for at a time. */
#define STREAM_BLOCK_BYTES (16 * 1024)

struct stream;

struct api_server {
        struct MHD_Daemon *daemon;
        struct api *api;
        bool metadata_only;
        bool credentials_only; /* also metadata_only: the same thread-per-connection mode */
        int listen_fd;         /* ours; for the API, accepted on by the acceptor; else libmicrohttpd listens on a dup */

        pthread_t acceptor;    /* the API server's (see the top of the file) */
        bool acceptor_started;
        int acceptor_stop_fd;  /* eventfd: the acceptor returns */

        pthread_mutex_t lock;
        struct stream *streams;
        bool closing;
        int wake_fd; /* eventfd: a stream was suspended, or the server closes */
        pthread_t hub;
        bool hub_started;
};

struct stream {
        struct stream *next;
        struct api_server *srv;
        struct MHD_Connection *conn;
        int client_fd;
        struct rt_follow *follow;
        bool suspended; /* MHD_suspend_connection was called; the hub resumes it */
        bool gone;      /* the client closed its side */
};

static const char *query_lookup(const void *ctx, const char *key) {
        return MHD_lookup_connection_value((struct MHD_Connection *) (uintptr_t) ctx, MHD_GET_ARGUMENT_KIND, key);
}

/* The state of one request while its body arrives. */
struct request_state {
        char *body;
        size_t len, cap;
        bool too_large;
};

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap) {
        char msg[512];
        (void) cls;
        vsnprintf(msg, sizeof(msg), fmt, ap);
        size_t n = strlen(msg);
        while (n > 0 && msg[n - 1] == '\n')
                msg[--n] = '\0';
        log_debug("httpd", "\"%s\"", msg);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe) {
        (void) cls;
        (void) conn;
        (void) toe;
        struct request_state *st = *con_cls;
        if (!st)
                return;
        free(st->body);
        free(st);
        *con_cls = NULL;
}

static void body_append(struct request_state *st, const char *data, size_t n) {
        if (st->too_large || st->len + n > API_BODY_MAX_BYTES) {
                st->too_large = true;
                return;
        }
        if (st->len + n + 1 > st->cap) {
                size_t cap = st->cap ? st->cap : 4096;
                while (cap < st->len + n + 1)
                        cap *= 2;
                char *p = realloc(st->body, cap);
                if (!p)
                        abort();
                st->body = p;
                st->cap = cap;
        }
        memcpy(st->body + st->len, data, n);
        st->len += n;
        st->body[st->len] = '\0';
}

/* ---- streamed responses ---- */

static void hub_wake(struct api_server *srv) {
        uint64_t one = 1;
        if (write(srv->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
                log_warn("httpd", "\"cannot wake the stream hub\" error=\"%s\"", strerror(errno));
}

/* MHD's content reader: what the follower has, or suspend until it has more (see the top of the file). */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
        struct stream *st = cls;
        struct api_server *srv = st->srv;
        (void) pos;
        ssize_t n = rt_follow_read(st->follow, buf, max);
        if (n > 0)
                return n;
        if (n == 0)
                return MHD_CONTENT_READER_END_OF_STREAM;
        if (n != -EAGAIN)
                return MHD_CONTENT_READER_END_WITH_ERROR;
        pthread_mutex_lock(&srv->lock);
        /* Gone or closing: end with an error, so a client that is still there can tell this from the output's end. */
        bool end = st->gone || srv->closing;
        if (!end) {
                MHD_suspend_connection(st->conn);
                st->suspended = true;
        }
        pthread_mutex_unlock(&srv->lock);
        if (end)
                return MHD_CONTENT_READER_END_WITH_ERROR;
        hub_wake(srv);
        return 0;
}

static void stream_free(void *cls) {
        struct stream *st = cls;
        struct api_server *srv = st->srv;
        pthread_mutex_lock(&srv->lock);
        for (struct stream **p = &srv->streams; *p; p = &(*p)->next)
                if (*p == st) {
                        *p = st->next;
                        break;
                }
        pthread_mutex_unlock(&srv->lock);
        rt_follow_free(st->follow);
        free(st);
}

/* Resume a suspended stream (lock held). */
static void stream_resume(struct stream *st) {
        if (st->suspended) {
                st->suspended = false;
                MHD_resume_connection(st->conn);
        }
}

static void *hub_main(void *arg) {
        struct api_server *srv = arg;
        struct pollfd *pfd = NULL;
        struct stream **owner = NULL;
        size_t cap = 0;
        pthread_mutex_lock(&srv->lock);
        while (!srv->closing) {
                size_t want = 1;
                for (struct stream *st = srv->streams; st; st = st->next)
                        want += st->suspended ? 2 : 0;
                if (want > cap) {
                        cap = want * 2;
                        free(pfd);
                        free(owner);
                        pfd = xcalloc(cap, sizeof(*pfd));
                        owner = xcalloc(cap, sizeof(*owner));
                }
                /* A suspended stream stays suspended, and so alive, until this thread resumes it: the pointers and
                 * descriptors below stay valid while the lock is released for the poll. */
                size_t n = 0;
                pfd[n++] = (struct pollfd){.fd = srv->wake_fd, .events = POLLIN};
                for (struct stream *st = srv->streams; st; st = st->next) {
                        if (!st->suspended)
                                continue;
                        owner[n] = st;
                        pfd[n++] = (struct pollfd){.fd = rt_follow_fd(st->follow), .events = POLLIN};
                        owner[n] = st;
                        pfd[n++] = (struct pollfd){.fd = st->client_fd, .events = POLLRDHUP};
                }
                pthread_mutex_unlock(&srv->lock);
                int r = poll(pfd, (nfds_t) n, -1);
                int poll_errno = errno;
                pthread_mutex_lock(&srv->lock);
                if (r < 0) {
                        if (poll_errno != EINTR)
                                log_warn("httpd", "\"stream hub poll failed\" error=\"%s\"", strerror(poll_errno));
                        continue;
                }
                if (pfd[0].revents) {
                        uint64_t count;
                        (void) !read(srv->wake_fd, &count, sizeof(count));
                }
                for (size_t i = 1; i < n; i++) {
                        if (!pfd[i].revents)
                                continue;
                        if (pfd[i].fd == owner[i]->client_fd)
                                owner[i]->gone = true;
                        stream_resume(owner[i]);
                }
        }
        for (struct stream *st = srv->streams; st; st = st->next)
                stream_resume(st);
        pthread_mutex_unlock(&srv->lock);
        free(pfd);
        free(owner);
        return NULL;
}

/* Queue a streamed response that delivers resp->stream as it comes. */
static enum MHD_Result send_stream(struct api_server *srv, struct MHD_Connection *conn, struct api_response *resp) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!srv->hub_started || !info) {
                api_response_release(resp);
                return MHD_NO;
        }
        struct stream *st = xcalloc(1, sizeof(*st));
        *st = (struct stream){.srv = srv, .conn = conn, .client_fd = info->connect_fd, .follow = resp->stream};
        resp->stream = NULL;
        struct MHD_Response *r =
                MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK_BYTES, stream_read, st, stream_free);
        if (!r) {
                rt_follow_free(st->follow);
                free(st);
                api_response_release(resp);
                return MHD_NO;
        }
        pthread_mutex_lock(&srv->lock);
        st->next = srv->streams;
        srv->streams = st;
        pthread_mutex_unlock(&srv->lock);
        enum MHD_Result ret = MHD_NO;
        if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type) == MHD_YES &&
            MHD_add_response_header(r, "x-amzn-RequestId", resp->request_id) == MHD_YES)
                ret = MHD_queue_response(conn, resp->status, r);
        MHD_destroy_response(r); /* the stream is freed with the response, queued or not */
        api_response_release(resp);
        return ret;
}

static enum MHD_Result send_response(struct api_server *srv, struct MHD_Connection *conn, struct api_response *resp) {
        if (resp->stream)
                return send_stream(srv, conn, resp);
        struct MHD_Response *r =
                MHD_create_response_from_buffer(resp->body_len, resp->body, MHD_RESPMEM_MUST_FREE);
        if (!r) {
                api_response_release(resp);
                return MHD_NO;
        }
        resp->body = NULL; /* now owned by libmicrohttpd */
        if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type) != MHD_YES ||
            MHD_add_response_header(r, "x-amzn-RequestId", resp->request_id) != MHD_YES) {
                MHD_destroy_response(r);
                return MHD_NO;
        }
        enum MHD_Result ret = MHD_queue_response(conn, resp->status, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                      const char *version, const char *upload_data, size_t *upload_data_size,
                                      void **con_cls) {
        struct api_server *srv = cls;
        struct request_state *st = *con_cls;
        (void) version;
        struct api_request req = {
                .method = method,
                .path = url,
                .target = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Amz-Target"),
                .authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
                .host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST),
                .query = query_lookup,
                .query_ctx = conn,
                .metadata_only = srv->metadata_only,
                .credentials_only = srv->credentials_only,
        };
        if (!st) {
                st = calloc(1, sizeof(*st));
                if (!st)
                        return MHD_NO;
                *con_cls = st;
                /* Refuse a declared oversize body at once instead of reading it. */
                const char *clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
                int64_t declared;
                if (clen && parse_int64(clen, 0, INT64_MAX, &declared) >= 0 && declared > API_BODY_MAX_BYTES) {
                        req.body_too_large = true;
                        struct api_response resp;
                        api_handle(srv->api, &req, &resp);
                        return send_response(srv, conn, &resp);
                }
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                body_append(st, upload_data, *upload_data_size);
                *upload_data_size = 0;
                return MHD_YES;
        }
        req.body = st->body ? st->body : "";
        req.body_len = st->len;
        req.body_too_large = st->too_large;
        struct api_response resp;
        api_handle(srv->api, &req, &resp);
        return send_response(srv, conn, &resp);
}

/* Split "host:port" or "[v6host]:port" and resolve it to a socket address. */
static int listen_resolve(const char *listen, struct sockaddr_storage *ret, socklen_t *ret_len, struct err *e) {
        char host[256];
        const char *port;
        if (listen[0] == '[') {
                const char *close = strchr(listen, ']');
                if (!close || close[1] != ':' || (size_t) (close - listen - 1) >= sizeof(host))
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "invalid listen address '%s'", listen);
                memcpy(host, listen + 1, (size_t) (close - listen - 1));
                host[close - listen - 1] = '\0';
                port = close + 2;
        } else {
                const char *colon = strrchr(listen, ':');
                if (!colon || (size_t) (colon - listen) >= sizeof(host))
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "invalid listen address '%s': expected HOST:PORT", listen);
                memcpy(host, listen, (size_t) (colon - listen));
                host[colon - listen] = '\0';
                port = colon + 1;
        }
        int64_t port_num;
        if (parse_int64(port, 0, 65535, &port_num) < 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "invalid port in listen address '%s'", listen);
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
        struct addrinfo *res = NULL;
        int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
        if (rc != 0 || !res)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "cannot resolve listen address '%s': %s", listen,
                               gai_strerror(rc));
        memcpy(ret, res->ai_addr, res->ai_addrlen);
        *ret_len = res->ai_addrlen;
        freeaddrinfo(res);
        return 0;
}

int api_listen(const char *address, int *ret_fd, struct err *e) {
        struct sockaddr_storage addr = {0};
        socklen_t addr_len = 0;
        int r = listen_resolve(address, &addr, &addr_len, e);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return err_set(e, -errno, ERR_KIND_INTERNAL, "cannot listen on %s: socket: %s", address,
                               strerror(errno));
        /* SO_REUSEADDR only lets a restarted ecsd bind while connections of the previous one linger in TIME_WAIT;
         * on Linux it never lets a second socket bind an address that one is listening on. SO_REUSEPORT, which
         * would, is never set. */
        int one = 1;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
                return err_set(e, -errno, ERR_KIND_INTERNAL, "cannot listen on %s: SO_REUSEADDR: %s", address,
                               strerror(errno));
        if (bind(fd, (struct sockaddr *) &addr, addr_len) < 0 || listen(fd, SOMAXCONN) < 0) {
                int errnum = errno;
                if (errnum == EADDRINUSE)
                        return err_set(e, -errnum, ERR_KIND_INTERNAL,
                                       "cannot listen on %s: the address is in use by another process "
                                       "(another ecsd?); stop it or choose another address",
                                       address);
                if (errnum == EADDRNOTAVAIL)
                        return err_set(e, -errnum, ERR_KIND_INTERNAL,
                                       "cannot listen on %s: not an address of this host", address);
                return err_set(e, -errnum, ERR_KIND_INTERNAL, "cannot listen on %s: %s", address, strerror(errnum));
        }
        *ret_fd = fd;
        fd = -1;
        return 0;
}

int api_listen_address(int fd, char *buf, size_t size, unsigned *ret_port) {
        struct sockaddr_storage addr = {0};
        socklen_t len = sizeof(addr);
        if (getsockname(fd, (struct sockaddr *) &addr, &len) < 0)
                return -errno;
        char host[INET6_ADDRSTRLEN];
        unsigned port;
        if (addr.ss_family == AF_INET6) {
                const struct sockaddr_in6 *a = (const struct sockaddr_in6 *) &addr;
                if (!inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host)))
                        return -errno;
                port = ntohs(a->sin6_port);
        } else if (addr.ss_family == AF_INET) {
                const struct sockaddr_in *a = (const struct sockaddr_in *) &addr;
                if (!inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host)))
                        return -errno;
                port = ntohs(a->sin_port);
        } else
                return -EAFNOSUPPORT;
        if (ret_port)
                *ret_port = port;
        return str_printf(buf, size, addr.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
}

/* The API server's acceptor (see the top of the file). libmicrohttpd closes a connection it cannot take. */
static void *acceptor_main(void *arg) {
        struct api_server *srv = arg;
        struct pollfd fds[2] = {{.fd = srv->listen_fd, .events = POLLIN},
                                {.fd = srv->acceptor_stop_fd, .events = POLLIN}};
        for (;;) {
                if (poll(fds, 2, -1) < 0 && errno != EINTR) {
                        log_error("api", "\"accept loop failed\" error=\"%s\"", strerror(errno));
                        return NULL;
                }
                if (fds[1].revents)
                        return NULL;
                if (!fds[0].revents)
                        continue;
                struct sockaddr_storage addr;
                socklen_t len = sizeof(addr);
                int fd = accept4(srv->listen_fd, (struct sockaddr *) &addr, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd < 0) {
                        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                                continue;
                        /* Out of descriptors or memory: say so, and wait a little rather than spin on it. */
                        log_warn("api", "\"cannot accept a connection\" error=\"%s\"", strerror(errno));
                        (void) poll(&fds[1], 1, 100);
                        continue;
                }
                (void) MHD_add_connection(srv->daemon, fd, (struct sockaddr *) &addr, len);
        }
}

/* Stop the acceptor, the hub (it resumes every suspended stream), then the daemon (which frees the streams), then
 * the rest. */
static void server_free(struct api_server *srv) {
        if (srv->acceptor_started) {
                uint64_t one = 1;
                ssize_t w = write(srv->acceptor_stop_fd, &one, sizeof(one));
                ASSERT(w == (ssize_t) sizeof(one));
                pthread_join(srv->acceptor, NULL);
        }
        if (srv->acceptor_stop_fd >= 0)
                close(srv->acceptor_stop_fd);
        if (srv->hub_started) {
                pthread_mutex_lock(&srv->lock);
                srv->closing = true;
                pthread_mutex_unlock(&srv->lock);
                hub_wake(srv);
                pthread_join(srv->hub, NULL);
        }
        if (srv->daemon)
                MHD_stop_daemon(srv->daemon);
        ASSERT(!srv->streams);
        if (srv->wake_fd >= 0)
                close(srv->wake_fd);
        if (srv->listen_fd >= 0)
                close(srv->listen_fd);
        pthread_mutex_destroy(&srv->lock);
        free(srv);
}

/* Serve on the listening socket `fd` (always taken: closed on failure too). */
static int server_start(struct api *api, int fd, unsigned threads, bool metadata_only, bool credentials_only,
                        struct api_server **ret, struct err *e) {
        struct api_server *srv = xcalloc(1, sizeof(*srv));
        srv->api = api;
        srv->metadata_only = metadata_only;
        srv->credentials_only = credentials_only;
        srv->listen_fd = fd;
        pthread_mutex_init(&srv->lock, NULL);
        srv->wake_fd = -1;
        srv->acceptor_stop_fd = -1;
        int r;
        if (!metadata_only) {
                srv->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                if (srv->wake_fd < 0 || pthread_create(&srv->hub, NULL, hub_main, srv) != 0) {
                        r = err_set(e, -errno, ERR_KIND_INTERNAL, "cannot start the stream hub: %s", strerror(errno));
                        server_free(srv);
                        return r;
                }
                srv->hub_started = true;
        }
        /* libmicrohttpd gets a duplicate and closes it in MHD_stop_daemon; srv->listen_fd stays ours, to name the
         * bound address, and is closed after the daemon stops. Whether libmicrohttpd closes a given socket when its
         * start fails is not documented, so it never gets the one we must close. The API server's listening socket
         * is the acceptor's alone. */
        int mhd_fd = -1;
        if (metadata_only && (mhd_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0) {
                r = err_set(e, -errno, ERR_KIND_INTERNAL, "cannot duplicate the listening socket: %s",
                            strerror(errno));
                server_free(srv);
                return r;
        }
        /* The logger goes first so that libmicrohttpd never prints on its own. */
        if (metadata_only)
                srv->daemon = MHD_start_daemon(
                        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL,
                        NULL, access_handler, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                        MHD_OPTION_LISTEN_SOCKET, mhd_fd, MHD_OPTION_CONNECTION_LIMIT,
                        (unsigned) METADATA_CONNECTIONS_MAX, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                        (unsigned) METADATA_CONNECTIONS_PER_CLIENT, MHD_OPTION_CONNECTION_TIMEOUT,
                        (unsigned) METADATA_IDLE_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
                        MHD_OPTION_END);
        else
                srv->daemon = MHD_start_daemon(
                        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME |
                                MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC,
                        0, NULL, NULL, access_handler, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                        MHD_OPTION_THREAD_POOL_SIZE, (unsigned) (threads ? threads : 1), MHD_OPTION_CONNECTION_TIMEOUT,
                        (unsigned) 120, MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL, MHD_OPTION_END);
        if (!srv->daemon) {
                server_free(srv);
                return err_set(e, -EIO, ERR_KIND_INTERNAL, "cannot start the HTTP server (see the debug log)");
        }
        if (!metadata_only) {
                srv->acceptor_stop_fd = eventfd(0, EFD_CLOEXEC);
                int err = srv->acceptor_stop_fd < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0
                                  ? errno
                                  : pthread_create(&srv->acceptor, NULL, acceptor_main, srv);
                if (err != 0) {
                        r = err_set(e, -err, ERR_KIND_INTERNAL, "cannot start accepting connections: %s",
                                    strerror(err));
                        server_free(srv);
                        return r;
                }
                srv->acceptor_started = true;
        }
        *ret = srv;
        return 0;
}

void api_server_stop(struct api_server *srv) {
        if (!srv)
                return;
        server_free(srv);
}

int api_server_start_fd(struct api *api, int fd, unsigned threads, struct api_server **ret, struct err *e) {
        return server_start(api, fd, threads, false, false, ret, e);
}

/* Bind `listen` exclusively, then serve on it; *ret_port gets the bound port. */
static int listen_and_start(struct api *api, const char *listen, unsigned threads, bool metadata_only,
                            bool credentials_only, struct api_server **ret, unsigned *ret_port, struct err *e) {
        int fd = -1;
        int r = api_listen(listen, &fd, e);
        if (r < 0)
                return r;
        if ((r = server_start(api, fd, threads, metadata_only, credentials_only, ret, e)) < 0)
                return r;
        char addr[API_ADDRESS_MAX];
        if (api_server_address(*ret, addr, sizeof(addr), ret_port) < 0)
                *ret_port = 0;
        return 0;
}

int api_server_start(struct api *api, const char *listen, unsigned threads, struct api_server **ret,
                     unsigned *ret_port, struct err *e) {
        return listen_and_start(api, listen, threads, false, false, ret, ret_port, e);
}

int api_metadata_server_start(struct api *api, const char *listen, struct api_server **ret, unsigned *ret_port,
                              struct err *e) {
        return listen_and_start(api, listen, 1, true, false, ret, ret_port, e);
}

int api_credentials_server_start(struct api *api, const char *listen, struct api_server **ret, unsigned *ret_port,
                                 struct err *e) {
        return listen_and_start(api, listen, 1, true, true, ret, ret_port, e);
}

int api_server_address(const struct api_server *srv, char *buf, size_t size, unsigned *ret_port) {
        return api_listen_address(srv->listen_fd, buf, size, ret_port);
}
