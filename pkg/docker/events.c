/* events.c — the one `docker events` stream that feeds the lifecycle (see backend.h in this package and
 * docs/internals/docker-backend.md).
 *
 * A single thread runs `docker events --format '{{json .}}' --filter type=container --filter label=io.ecsd.owner=X
 * --since T`, splits its output into lines (each capped: docker_event_lines, also fed by the fuzzer
 * tests/fuzz/fuzz_docker_events.c), and turns start/die/oom/health_status events into lifecycle events.
 * When the stream ends (engine restart, CLI killed) it reconnects with capped exponential backoff, asking for the
 * events since shortly before the last one it saw; right after every (re)connect it asks the lifecycle to resync,
 * which catches whatever happened while the engine's buffer could not replay it (an engine restart empties it).
 * Duplicated events are harmless: the lifecycle's transitions only move forward.
 *
 * Threads: the monitor thread; docker_events_stop() from another thread wakes it through a pipe. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>

#include "docker-backend.h"
#include "docker-internal.h"
#include "ecs.h"
#include "runner.h"

#define LINE_MAX_BYTES (64 * 1024)
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000
/* A stream that lived this long counts as healthy: the next reconnect starts from the minimum backoff again. */
#define HEALTHY_STREAM_MS 10000

struct docker_events {
        struct docker_events_config cfg;
        char owner[128];
        pthread_t thread;
        int wake[2]; /* written by docker_events_stop */
        int64_t last_event_ms;
        long reconnects;
};

/* Parse one event line and hand it to the consumer. Unknown or malformed lines are ignored (logged at debug). */
void docker_events_parse_line(const char *line, size_t len, const struct docker_events_config *cfg,
                              int64_t *ret_time_ms) {
        json_error_t jerr;
        json_auto_t *ev = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(ev)) {
                log_debug("docker-events", "\"unparsable event line\" error=\"%s\"", jerr.text);
                return;
        }
        const char *action = ecs_json_str(ev, "Action", ecs_json_str(ev, "status", ""));
        const json_t *attrs = json_object_get(json_object_get(ev, "Actor"), "Attributes");
        int64_t nano = 0;
        if (ecs_json_int(ev, "timeNano", &nano) && ret_time_ms)
                *ret_time_ms = nano / 1000000;
        struct rt_container_event out = {
                .task_id = ecs_json_str(attrs, DOCKER_LABEL_TASK_ID, NULL),
                .container = ecs_json_str(attrs, "com.amazonaws.ecs.container-name", NULL),
                .observed_ms = nano > 0 ? nano / 1000000 : 0,
        };
        if (!out.task_id || !out.container)
                return;
        if (strcmp(action, "start") == 0)
                out.kind = RT_EVENT_START;
        else if (strcmp(action, "die") == 0) {
                out.kind = RT_EVENT_DIE;
                int64_t code = -1;
                if (parse_int64(ecs_json_str(attrs, "exitCode", "-1"), -1, 255, &code) < 0)
                        code = -1;
                out.exit_code = (int) code;
        } else if (strcmp(action, "oom") == 0)
                out.kind = RT_EVENT_OOM;
        else if (strcmp(action, "health_status: healthy") == 0) {
                out.kind = RT_EVENT_HEALTH;
                out.health = "HEALTHY";
        } else if (strcmp(action, "health_status: unhealthy") == 0) {
                out.kind = RT_EVENT_HEALTH;
                out.health = "UNHEALTHY";
        } else
                return;
        cfg->on_event(cfg->userdata, &out);
}

void docker_event_lines_init(struct docker_event_lines *l, size_t cap) {
        ASSERT(cap > 0);
        *l = (struct docker_event_lines){.cap = cap};
}

void docker_event_lines_free(struct docker_event_lines *l) {
        free(l->buf);
        *l = (struct docker_event_lines){0};
}

void docker_event_lines_feed(struct docker_event_lines *l, const char *data, size_t n,
                             void (*on_line)(void *userdata, const char *line, size_t len), void *userdata) {
        if (!l->buf)
                l->buf = xmalloc(l->cap);
        while (n > 0) {
                size_t take = l->cap - l->len < n ? l->cap - l->len : n;
                memcpy(l->buf + l->len, data, take);
                data += take;
                n -= take;
                /* Only the bytes just copied can hold a newline: what stayed in the buffer had none. */
                size_t scan = l->len, start = 0;
                l->len += take;
                for (size_t i = scan; i < l->len; i++) {
                        if (l->buf[i] != '\n')
                                continue;
                        if (!l->skipping)
                                on_line(userdata, l->buf + start, i - start);
                        l->skipping = false;
                        start = i + 1;
                }
                memmove(l->buf, l->buf + start, l->len - start);
                l->len -= start;
                if (l->len == l->cap) {
                        log_warn("docker-events", "\"event line over the cap dropped\" cap=%zu", l->cap);
                        l->len = 0;
                        l->skipping = true;
                }
        }
}

static void on_stream_line(void *userdata, const char *line, size_t len) {
        struct docker_events *w = userdata;
        docker_events_parse_line(line, len, &w->cfg, &w->last_event_ms);
}

/* Read lines from the stream until it ends or a stop is asked for. Returns true when asked to stop. */
static bool read_stream(struct docker_events *w, int fd) {
        char chunk[16 * 1024];
        struct docker_event_lines lines;
        docker_event_lines_init(&lines, LINE_MAX_BYTES);
        bool stop = false;
        for (;;) {
                struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN}, {.fd = w->wake[0], .events = POLLIN}};
                if (poll(pfd, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (pfd[1].revents) {
                        stop = true;
                        break;
                }
                ssize_t n = read(fd, chunk, sizeof(chunk));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                docker_event_lines_feed(&lines, chunk, (size_t) n, on_stream_line, w);
        }
        docker_event_lines_free(&lines);
        return stop;
}

static bool sleep_or_stop(struct docker_events *w, int64_t ms) {
        struct pollfd pfd = {.fd = w->wake[0], .events = POLLIN};
        return poll(&pfd, 1, (int) ms) > 0;
}

static void *monitor_main(void *arg) {
        struct docker_events *w = arg;
        int64_t backoff = BACKOFF_MIN_MS;
        /* Start from a little before now; later, from a little before the last event seen. */
        int64_t since_ms = time_now_ms() - 1000;
        for (;;) {
                char since[32], filter[160];
                str_printf(since, sizeof(since), "%lld.%03lld", (long long) (since_ms / 1000),
                           (long long) (since_ms % 1000));
                str_printf(filter, sizeof(filter), "label=" DOCKER_LABEL_OWNER "=%s", w->owner);
                const char *argv[] = {"docker", "events", "--format", "{{json .}}", "--filter", "type=container",
                                      "--filter", filter, "--since", since, NULL};
                struct docker_stream s;
                struct err e = {0};
                int64_t opened = time_mono_ms();
                int64_t asked_at = time_now_ms();
                bool stop = false;
                if (docker_stream_open(argv, &s, &e) < 0)
                        log_warn("docker-events", "\"cannot start docker events\" error=\"%s\"", e.msg);
                else {
                        log_info("docker-events", "\"watching\" since=%s reconnects=%ld", since,
                                 docker_events_reconnects(w));
                        if (w->cfg.on_connect)
                                w->cfg.on_connect(w->cfg.userdata);
                        stop = read_stream(w, s.fd);
                        docker_stream_close(&s);
                }
                if (stop)
                        return NULL;
                __atomic_fetch_add(&w->reconnects, 1, __ATOMIC_RELAXED); /* read by docker_events_reconnects */
                if (time_mono_ms() - opened > HEALTHY_STREAM_MS)
                        backoff = BACKOFF_MIN_MS;
                log_warn("docker-events", "\"event stream ended; reconnecting\" backoff_ms=%lld", (long long) backoff);
                if (sleep_or_stop(w, backoff))
                        return NULL;
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
                int64_t from = w->last_event_ms ? w->last_event_ms : asked_at;
                since_ms = (from < asked_at ? from : asked_at) - 1000;
        }
}

long docker_events_reconnects(struct docker_events *w) {
        return w ? __atomic_load_n(&w->reconnects, __ATOMIC_RELAXED) : 0;
}

int docker_events_start(const struct docker_events_config *cfg, struct docker_events **ret, struct err *e) {
        struct docker_events *w = xcalloc(1, sizeof(*w));
        w->cfg = *cfg;
        str_printf(w->owner, sizeof(w->owner), "%s", cfg->owner);
        if (pipe2(w->wake, O_CLOEXEC) < 0) {
                free(w);
                return err_set(e, -errno, ERR_KIND_INTERNAL, "cannot create a pipe: %s", strerror(errno));
        }
        if (pthread_create(&w->thread, NULL, monitor_main, w) != 0) {
                close(w->wake[0]);
                close(w->wake[1]);
                free(w);
                return err_set(e, -EAGAIN, ERR_KIND_INTERNAL, "cannot start the docker events thread");
        }
        *ret = w;
        return 0;
}

void docker_events_stop(struct docker_events *w) {
        if (!w)
                return;
        ssize_t n;
        do
                n = write(w->wake[1], "x", 1);
        while (n < 0 && errno == EINTR);
        pthread_join(w->thread, NULL);
        close(w->wake[0]);
        close(w->wake[1]);
        free(w);
}
