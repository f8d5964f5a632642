/* httpload.c — a small keep-alive HTTP/1.1 load generator for bench/api_throughput.py, loopback only.
 *
 * One thread, epoll, N connections to 127.0.0.1:PORT, each sending the same request again as soon as the previous
 * answer is complete (no pipelining, like `ab -k`). Bounded twice: at most --requests answers and at most --seconds
 * of wall time, whichever comes first. An answer is framed by its Content-Length (the server never streams these
 * endpoints); a connection the server closes is counted as an error and reopened. Prints one JSON line.
 *
 *   httpload --port P [--connections 16] [--requests 200000] [--seconds 10] [--path /] [--header 'K: V']...
 *            [--body '{}']      (POST when a body is given, else GET)
 *
 * Built by the bench itself (cc -O2); not part of ecsd. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTIONS 256
#define MAX_HEADERS 16
#define RESPONSE_CAP (1u << 20)

struct conn {
        int fd;
        size_t sent;   /* bytes of the request written */
        size_t have;   /* bytes of the answer read */
        char *buf;     /* RESPONSE_CAP */
};

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int conn_open(int ep, struct conn *c, int port) {
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
                return -errno;
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(c->fd, (struct sockaddr *) &a, sizeof(a)) < 0) {
                int r = -errno;
                close(c->fd);
                return r;
        }
        c->sent = c->have = 0;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
        return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0 ? -errno : 0;
}

/* Length of a complete answer at the start of buf, 0 while incomplete, -1 when it cannot be framed. Sets *status. */
static long answer_length(const char *buf, size_t n, int *status) {
        const char *end = memmem(buf, n, "\r\n\r\n", 4);
        if (!end)
                return 0;
        size_t head = (size_t) (end - buf) + 4;
        if (n < 12 || strncmp(buf, "HTTP/1.", 7) != 0)
                return -1;
        *status = atoi(buf + 9);
        long body = -1;
        for (const char *p = buf; p < end;) {
                const char *eol = memmem(p, (size_t) (end - p) + 2, "\r\n", 2);
                if (!eol)
                        break;
                if ((size_t) (eol - p) > 15 && strncasecmp(p, "Content-Length:", 15) == 0)
                        body = strtol(p + 15, NULL, 10);
                p = eol + 2;
        }
        if (body < 0)
                return -1;
        return n >= head + (size_t) body ? (long) (head + (size_t) body) : 0;
}

int main(int argc, char **argv) {
        int port = 0, nconn = 16;
        long max_requests = 200000;
        double max_seconds = 10;
        const char *path = "/", *body = NULL;
        const char *headers[MAX_HEADERS];
        int nheaders = 0;
        for (int i = 1; i + 1 < argc; i += 2) {
                if (strcmp(argv[i], "--port") == 0)
                        port = atoi(argv[i + 1]);
                else if (strcmp(argv[i], "--connections") == 0)
                        nconn = atoi(argv[i + 1]);
                else if (strcmp(argv[i], "--requests") == 0)
                        max_requests = atol(argv[i + 1]);
                else if (strcmp(argv[i], "--seconds") == 0)
                        max_seconds = atof(argv[i + 1]);
                else if (strcmp(argv[i], "--path") == 0)
                        path = argv[i + 1];
                else if (strcmp(argv[i], "--body") == 0)
                        body = argv[i + 1];
                else if (strcmp(argv[i], "--header") == 0 && nheaders < MAX_HEADERS)
                        headers[nheaders++] = argv[i + 1];
                else {
                        fprintf(stderr, "httpload: unknown argument %s\n", argv[i]);
                        return 2;
                }
        }
        if (port <= 0 || port > 65535 || nconn < 1 || nconn > MAX_CONNECTIONS || max_requests < 1 ||
            max_seconds <= 0 || max_seconds > 600) {
                fprintf(stderr, "httpload: --port 1..65535, --connections 1..%d, --seconds up to 600\n",
                        MAX_CONNECTIONS);
                return 2;
        }
        char req[8192];
        int len = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n", body ? "POST" : "GET", path,
                           port);
        for (int i = 0; i < nheaders && len > 0 && (size_t) len < sizeof(req); i++)
                len += snprintf(req + len, sizeof(req) - (size_t) len, "%s\r\n", headers[i]);
        if (len > 0 && (size_t) len < sizeof(req))
                len += snprintf(req + len, sizeof(req) - (size_t) len, "Content-Length: %zu\r\n\r\n%s",
                                body ? strlen(body) : 0, body ? body : "");
        if (len <= 0 || (size_t) len >= sizeof(req)) {
                fprintf(stderr, "httpload: request too long\n");
                return 2;
        }
        size_t req_len = (size_t) len;

        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct conn *conns = calloc((size_t) nconn, sizeof(*conns));
        if (ep < 0 || !conns)
                return 1;
        for (int i = 0; i < nconn; i++) {
                conns[i].buf = malloc(RESPONSE_CAP);
                int r = conns[i].buf ? conn_open(ep, &conns[i], port) : -ENOMEM;
                if (r < 0) {
                        fprintf(stderr, "httpload: connect: %s\n", strerror(-r));
                        return 1;
                }
        }
        long done = 0, ok = 0, non2xx = 0, errors = 0, started = nconn;
        double t0 = now_s(), deadline = t0 + max_seconds;
        struct epoll_event evs[MAX_CONNECTIONS];
        int live = nconn;
        while (live > 0) {
                if (now_s() > deadline)
                        break;
                int n = epoll_wait(ep, evs, MAX_CONNECTIONS, 100);
                if (n < 0 && errno != EINTR)
                        return 1;
                for (int k = 0; k < n; k++) {
                        struct conn *c = evs[k].data.ptr;
                        if (c->sent < req_len && (evs[k].events & EPOLLOUT)) {
                                ssize_t w = write(c->fd, req + c->sent, req_len - c->sent);
                                if (w > 0)
                                        c->sent += (size_t) w;
                                if (c->sent == req_len) {
                                        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                                        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                                }
                        }
                        if (!(evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                                continue;
                        ssize_t rd = read(c->fd, c->buf + c->have, RESPONSE_CAP - c->have);
                        if (rd > 0)
                                c->have += (size_t) rd;
                        int status = 0;
                        long alen = rd > 0 ? answer_length(c->buf, c->have, &status) : -1;
                        if (alen == 0 && rd < 0 && errno == EAGAIN)
                                continue;
                        if (alen == 0 && c->have < RESPONSE_CAP)
                                continue;
                        if (alen < 0 || alen == 0) { /* closed, unframable or over the cap: count it, reopen */
                                errors++;
                                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                                close(c->fd);
                                if (started >= max_requests || conn_open(ep, c, port) < 0) {
                                        c->fd = -1;
                                        live--;
                                } else
                                        started++;
                                continue;
                        }
                        done++;
                        if (status >= 200 && status < 300)
                                ok++;
                        else
                                non2xx++;
                        memmove(c->buf, c->buf + alen, c->have - (size_t) alen);
                        c->have -= (size_t) alen;
                        if (started >= max_requests) {
                                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                                close(c->fd);
                                c->fd = -1;
                                live--;
                                continue;
                        }
                        started++;
                        c->sent = 0;
                        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
                        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
        }
        double secs = now_s() - t0;
        printf("{\"requests\": %ld, \"ok\": %ld, \"non2xx\": %ld, \"errors\": %ld, \"seconds\": %.3f, "
               "\"per_second\": %.1f}\n",
               done, ok, non2xx, errors, secs, secs > 0 ? (double) done / secs : 0.0);
        for (int i = 0; i < nconn; i++) {
                if (conns[i].fd >= 0)
                        close(conns[i].fd);
                free(conns[i].buf);
        }
        free(conns);
        close(ep);
        return 0;
}
