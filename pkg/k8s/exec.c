/* exec.c — run a command in a Pod's container: pods/<name>/exec over a WebSocket (subprotocol v5.channel.k8s.io),
 * its stdout and stderr copied into a pipe as they arrive, its exit code read from the error channel (k8s.h,
 * "running a command in a container").
 *
 * The libcurl of the supported distributions has no WebSocket support, so the upgrade is done by hand over a
 * CONNECT_ONLY handle (TLS and the kubeconfig's credentials are libcurl's, set up as for every call; HTTP/1.1 only,
 * since an Upgrade needs it): the request line and headers are written with curl_easy_send, the 101 answer read with
 * curl_easy_recv, then frames. Frames from the server are not masked; the only frames ecsd sends (a pong) are,
 * as RFC 6455 requires of a client. Every v5 message starts with its channel: 1 stdout, 2 stderr, 3 the final
 * Status (Success, or Failure with a cause ExitCode). Nothing is written to stdin (channel 0 is never opened).
 *
 * One pump thread per exec reads the socket and owns the write end of the pipe; k8s_exec_end waits for it (bounded),
 * then ends it by closing the read end (a blocked write fails) and shutting the socket down, and joins it. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ecs.h"
#include "k8s-client-internal.h"
#include "k8s-internal.h"
#include "k8s.h"

#define CONNECT_TIMEOUT_MS 5000
#define ANSWER_TIMEOUT_MS 30000
#define HEAD_MAX (16 * 1024)
#define FRAME_MAX (4 * 1024 * 1024)
#define STATUS_MAX (64 * 1024)
#define URL_MAX 65536

struct k8s_exec {
        CURL *h;
        char errbuf[CURL_ERROR_SIZE];
        int sock;
        int read_fd, write_fd;
        pthread_t thread;
        atomic_bool stop;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool done;
        int exit_code;
        /* Bytes read past the 101 answer's head: the first frames. */
        char *buf;
        size_t len;
        struct k8s_body status; /* channel 3 */
};

/* Wait for the socket: POLLIN or POLLOUT, up to `ms`. */
static void sock_wait(int sock, short events, int ms) {
        struct pollfd p = {.fd = sock, .events = events};
        (void) poll(&p, 1, ms);
}

static int send_all(struct k8s_exec *x, const void *data, size_t n, struct err *e) {
        const char *p = data;
        int64_t deadline = time_mono_ms() + ANSWER_TIMEOUT_MS;
        while (n) {
                size_t sent = 0;
                CURLcode rc = curl_easy_send(x->h, p, n, &sent);
                if (rc == CURLE_AGAIN) {
                        if (time_mono_ms() > deadline || atomic_load(&x->stop))
                                return err_set(e, -ETIMEDOUT, ERR_KIND_INTERNAL, "pods/exec: the API server does not read");
                        sock_wait(x->sock, POLLOUT, 1000);
                        continue;
                }
                if (rc != CURLE_OK)
                        return k8s_transport_err(rc, x->errbuf, "pods/exec", e);
                p += sent;
                n -= sent;
        }
        return 0;
}

/* A masked frame from the client (a pong, ≤ 125 bytes of payload). */
static void send_frame(struct k8s_exec *x, unsigned opcode, const unsigned char *payload, size_t n) {
        unsigned char f[2 + 4 + 125];
        if (n > 125)
                n = 125;
        unsigned char mask[4];
        random_bytes(mask, sizeof(mask));
        f[0] = (unsigned char) (0x80 | opcode);
        f[1] = (unsigned char) (0x80 | n);
        memcpy(f + 2, mask, 4);
        for (size_t i = 0; i < n; i++)
                f[6 + i] = payload[i] ^ mask[i % 4];
        struct err ignored = {0};
        (void) send_all(x, f, 6 + n, &ignored);
}

static void pipe_write(struct k8s_exec *x, const unsigned char *data, size_t n) {
        while (n && x->write_fd >= 0) {
                ssize_t w = write(x->write_fd, data, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0) {
                        /* The reader went away: nothing more to deliver. */
                        close(x->write_fd);
                        x->write_fd = -1;
                        return;
                }
                data += w;
                n -= (size_t) w;
        }
}

/* The exit code the final Status gives; a Failure other than a non-zero exit writes its message to the output. */
static int status_exit_code(struct k8s_exec *x) {
        json_auto_t *st = x->status.len ? json_loadb(x->status.data, x->status.len, 0, NULL) : NULL;
        const char *status = ecs_json_str(st, "status", NULL);
        if (!status)
                return -1;
        if (strcmp(status, "Success") == 0)
                return 0;
        size_t i;
        const json_t *c;
        json_array_foreach(json_object_get(json_object_get(st, "details"), "causes"), i, c) {
                int64_t code;
                if (strcmp(ecs_json_str(c, "reason", ""), "ExitCode") == 0 &&
                    parse_int64(ecs_json_str(c, "message", ""), 0, 255, &code) == 0)
                        return (int) code;
        }
        const char *msg = ecs_json_str(st, "message", "the command could not be run");
        pipe_write(x, (const unsigned char *) msg, strlen(msg));
        pipe_write(x, (const unsigned char *) "\n", 1);
        return 126;
}

/* Parse the frames in x->buf; returns false at a close frame or a protocol error. */
static bool frames(struct k8s_exec *x, int *channel) {
        size_t off = 0;
        bool go_on = true;
        while (go_on) {
                const unsigned char *p = (const unsigned char *) x->buf + off;
                size_t have = x->len - off;
                if (have < 2)
                        break;
                unsigned op = p[0] & 0x0f;
                uint64_t n = p[1] & 0x7f;
                size_t head = 2;
                if (n == 126) {
                        if (have < 4)
                                break;
                        n = ((uint64_t) p[2] << 8) | p[3];
                        head = 4;
                } else if (n == 127) {
                        if (have < 10)
                                break;
                        n = 0;
                        for (int i = 0; i < 8; i++)
                                n = (n << 8) | p[2 + i];
                        head = 10;
                }
                if (p[1] & 0x80 || n > FRAME_MAX)
                        return false; /* a server never masks; a frame this large is not output */
                if (have < head + n)
                        break;
                const unsigned char *data = p + head;
                size_t frame = head + (size_t) n;
                if (op == 0x8)
                        go_on = false;
                else if (op == 0x9)
                        send_frame(x, 0xA, data, (size_t) n);
                else if (op == 0x1 || op == 0x2 || op == 0x0) {
                        if (op != 0x0 && n > 0) {
                                *channel = data[0];
                                data++;
                                n--;
                        }
                        if (*channel == 1 || *channel == 2)
                                pipe_write(x, data, (size_t) n);
                        else if (*channel == 3)
                                (void) k8s_body_append(&x->status, (const char *) data, (size_t) n);
                }
                off += frame;
        }
        memmove(x->buf, x->buf + off, x->len - off);
        x->len -= off;
        return go_on;
}

static void *pump_main(void *arg) {
        struct k8s_exec *x = arg;
        int channel = 0;
        bool go_on = frames(x, &channel);
        while (go_on && !atomic_load(&x->stop)) {
                if (x->len == FRAME_MAX + 16)
                        break;
                size_t got = 0;
                CURLcode rc = curl_easy_recv(x->h, x->buf + x->len, FRAME_MAX + 16 - x->len, &got);
                if (rc == CURLE_AGAIN) {
                        sock_wait(x->sock, POLLIN, 1000);
                        continue;
                }
                if (rc != CURLE_OK || got == 0) {
                        log_debug("k8s", "\"exec stream ended\" curl=%d", (int) rc);
                        break;
                }
                x->len += got;
                go_on = frames(x, &channel);
        }
        int code = status_exit_code(x);
        log_debug("k8s", "\"exec ended\" exit_code=%d", code);
        if (x->write_fd >= 0) {
                close(x->write_fd);
                x->write_fd = -1;
        }
        pthread_mutex_lock(&x->lock);
        x->exit_code = code;
        x->done = true;
        pthread_cond_broadcast(&x->cond);
        pthread_mutex_unlock(&x->lock);
        return NULL;
}

static void exec_free(struct k8s_exec *x) {
        if (x->h)
                curl_easy_cleanup(x->h);
        if (x->read_fd >= 0)
                close(x->read_fd);
        if (x->write_fd >= 0)
                close(x->write_fd);
        free(x->buf);
        k8s_body_free(&x->status);
        pthread_cond_destroy(&x->cond);
        pthread_mutex_destroy(&x->lock);
        free(x);
}

/* The request's path and query: every part escaped. */
static int exec_target(CURL *h, const char *ns, const char *pod, const char *container, const char *const *argv,
                       char **ret, struct err *e) {
        char path[1024];
        if (k8s_path_pods(path, sizeof(path), ns, pod) < 0)
                return err_set(e, -EINVAL, ERR_KIND_INTERNAL, "pods/exec: no namespace or Pod name");
        size_t cap = URL_MAX, used = 0;
        char *t = xmalloc(cap);
        int w = snprintf(t, cap, "%s/exec?stdout=true&stderr=true", path);
        used = (size_t) w;
        char *c = curl_easy_escape(h, container, 0);
        w = c ? snprintf(t + used, cap - used, "&container=%s", c) : -1;
        curl_free(c);
        if (w < 0 || (size_t) w >= cap - used) {
                free(t);
                return err_set(e, -E2BIG, ERR_KIND_INTERNAL, "pods/exec: the request is too long");
        }
        used += (size_t) w;
        for (size_t i = 0; argv[i]; i++) {
                char *a = curl_easy_escape(h, argv[i], 0);
                w = a ? snprintf(t + used, cap - used, "&command=%s", a) : -1;
                curl_free(a);
                if (w < 0 || (size_t) w >= cap - used) {
                        free(t);
                        return err_set(e, -E2BIG, ERR_KIND_INVALID, "The command is too long for pods/exec.");
                }
                used += (size_t) w;
        }
        *ret = t;
        return 0;
}

/* Read the answer's head; a 101 keeps the bytes after it in x->buf, anything else becomes the error (the Status
 * message when the body holds one). */
static int read_answer(struct k8s_exec *x, struct err *e) {
        int64_t deadline = time_mono_ms() + ANSWER_TIMEOUT_MS;
        char *end = NULL;
        for (;;) {
                x->buf[x->len] = '\0';
                end = strstr(x->buf, "\r\n\r\n");
                if (end)
                        break;
                if (x->len >= HEAD_MAX)
                        return err_set(e, -EPROTO, ERR_KIND_INTERNAL, "pods/exec: the answer's head is too long");
                size_t got = 0;
                CURLcode rc = curl_easy_recv(x->h, x->buf + x->len, HEAD_MAX - x->len, &got);
                if (rc == CURLE_AGAIN) {
                        if (time_mono_ms() > deadline)
                                return err_set(e, -ETIMEDOUT, ERR_KIND_INTERNAL, "pods/exec: no answer");
                        sock_wait(x->sock, POLLIN, 1000);
                        continue;
                }
                if (rc != CURLE_OK)
                        return k8s_transport_err(rc, x->errbuf, "pods/exec", e);
                if (got == 0)
                        break;
                x->len += got;
        }
        int status = 0;
        if (sscanf(x->buf, "HTTP/1.1 %d", &status) != 1)
                return err_set(e, -EPROTO, ERR_KIND_INTERNAL, "pods/exec: not an HTTP answer");
        if (status == 101 && end) {
                size_t head = (size_t) (end + 4 - x->buf);
                memmove(x->buf, x->buf + head, x->len - head);
                x->len -= head;
                return 0;
        }
        /* An error: the Status object is the body (what has arrived of it). */
        const char *body = end ? end + 4 : "";
        json_auto_t *st = json_loads(body, 0, NULL);
        const char *msg = ecs_json_str(st, "message", NULL);
        return err_set(e, status == 404 ? -ENOENT : -EIO, ERR_KIND_INTERNAL, "pods/exec: HTTP %d: %.200s", status,
                       msg ? msg : "the API server refused the exec");
}

int k8s_exec_open(struct k8s_config *cfg, const char *ns, const char *pod, const char *container,
                  const char *const *argv, int *ret_fd, struct k8s_exec **ret, struct err *e) {
        int r = k8s_curl_global_init(e);
        if (r < 0)
                return r;
        struct k8s_exec *x = xcalloc(1, sizeof(*x));
        x->read_fd = x->write_fd = -1;
        pthread_mutex_init(&x->lock, NULL);
        pthread_cond_init(&x->cond, NULL);
        k8s_body_init(&x->status, STATUS_MAX);
        x->buf = xmalloc(FRAME_MAX + 17);
        x->h = curl_easy_init();
        if (!x->h) {
                exec_free(x);
                return err_set(e, -ENOMEM, ERR_KIND_INTERNAL, "pods/exec: no curl handle");
        }
        _cleanup_free_ char *target = NULL;
        struct curl_slist *headers = NULL;
        char url[2048];
        const char *server = k8s_config_server(cfg);
        str_printf(url, sizeof(url), "%s/", server);
        r = k8s_handle_setup(x->h, cfg, x->errbuf, CONNECT_TIMEOUT_MS, e);
        if (r >= 0)
                r = exec_target(x->h, ns, pod, container, argv, &target, e);
        if (r >= 0)
                r = k8s_headers(cfg, false, NULL, &headers, e);
        if (r >= 0) {
                /* HTTP/1.1 only: with h2 offered by ALPN the server could pick it, and an Upgrade needs HTTP/1.1. */
                curl_easy_setopt(x->h, CURLOPT_URL, url);
                curl_easy_setopt(x->h, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
                curl_easy_setopt(x->h, CURLOPT_SSL_ENABLE_ALPN, 0L);
                curl_easy_setopt(x->h, CURLOPT_CONNECT_ONLY, 1L);
                CURLcode rc = curl_easy_perform(x->h);
                curl_socket_t sock = CURL_SOCKET_BAD;
                if (rc == CURLE_OK)
                        rc = curl_easy_getinfo(x->h, CURLINFO_ACTIVESOCKET, &sock);
                if (rc != CURLE_OK || sock == CURL_SOCKET_BAD)
                        r = k8s_transport_err(rc, x->errbuf, "pods/exec", e);
                x->sock = (int) sock;
        }
        if (r >= 0) {
                /* Host is the server's authority; the key is random, as RFC 6455 asks. */
                const char *authority = strstr(server, "://") ? strstr(server, "://") + 3 : server;
                size_t alen = strcspn(authority, "/");
                unsigned char raw[16];
                random_bytes(raw, sizeof(raw));
                char key[32];
                base64url_encode(raw, sizeof(raw), key);
                for (char *k = key; *k; k++)
                        *k = *k == '-' ? '+' : *k == '_' ? '/' : *k;
                size_t cap = strlen(target) + 16384;
                _cleanup_free_ char *req = xmalloc(cap);
                int w = snprintf(req, cap,
                                 "GET %s HTTP/1.1\r\nHost: %.*s\r\nUser-Agent: ecsd/" ECSD_VERSION
                                 "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                                 "Sec-WebSocket-Key: %s==\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n",
                                 target, (int) alen, authority, key);
                size_t used = (size_t) w;
                for (struct curl_slist *h = headers; h && used < cap; h = h->next) {
                        if (strncasecmp(h->data, "Authorization:", 14) != 0)
                                continue;
                        w = snprintf(req + used, cap - used, "%s\r\n", h->data);
                        used = w < 0 ? cap : used + (size_t) w;
                }
                if (used + 3 > cap)
                        r = err_set(e, -E2BIG, ERR_KIND_INTERNAL, "pods/exec: the request is too long");
                else {
                        memcpy(req + used, "\r\n", 3);
                        used += 2;
                        r = send_all(x, req, used, e);
                }
                explicit_bzero(req, cap);
        }
        if (headers) {
                for (struct curl_slist *h = headers; h; h = h->next)
                        explicit_bzero(h->data, strlen(h->data));
                curl_slist_free_all(headers);
        }
        if (r >= 0)
                r = read_answer(x, e);
        int fds[2] = {-1, -1};
        if (r >= 0 && pipe2(fds, O_CLOEXEC) < 0)
                r = err_set(e, -errno, ERR_KIND_INTERNAL, "pods/exec: cannot make a pipe: %s", strerror(errno));
        if (r >= 0) {
                x->read_fd = fds[0];
                x->write_fd = fds[1];
                if (pthread_create(&x->thread, NULL, pump_main, x) != 0)
                        r = err_set(e, -EAGAIN, ERR_KIND_INTERNAL, "pods/exec: cannot start a thread");
        }
        if (r < 0) {
                exec_free(x);
                return r;
        }
        *ret_fd = x->read_fd;
        *ret = x;
        return 0;
}

int k8s_exec_end(struct k8s_exec *x, int64_t wait_ms) {
        int64_t deadline = time_mono_ms() + wait_ms;
        pthread_mutex_lock(&x->lock);
        while (!x->done) {
                int64_t left = deadline - time_mono_ms();
                if (left <= 0)
                        break;
                cond_wait_ms(&x->cond, &x->lock, left);
        }
        bool done = x->done;
        pthread_mutex_unlock(&x->lock);
        if (!done) {
                /* End the pump: a write on the pipe fails, a wait on the socket returns. The command in the container
                 * is not signalled (pods/exec has no way to); it ends when it next writes, or on its own. */
                atomic_store(&x->stop, true);
                close(x->read_fd);
                x->read_fd = -1;
                shutdown(x->sock, SHUT_RDWR);
        }
        pthread_join(x->thread, NULL);
        int code = done ? x->exit_code : -1;
        exec_free(x);
        return code;
}
