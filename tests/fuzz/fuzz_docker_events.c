/* fuzz_docker_events.c — libFuzzer target for what ecsd reads from `docker events --format '{{json .}}'`: the
 * stream's line splitter (docker_event_lines) and the event line decoder (docker_events_parse_line). The first byte
 * gives the chunk size the stream arrives in, so lines split across reads at every offset are explored; the second
 * byte's low bit the line cap; the rest is the stream. Checked: the lines delivered are exactly the
 * newline-terminated segments shorter than the cap, in order (computed independently from the input), and every
 * event handed to the lifecycle is one it can use. Built with clang's -fsanitize=fuzzer, or linked with replay.c to
 * replay the corpus (tests/fuzz/corpus/docker-events/) under ctest with any compiler. */
#include <stdint.h>
#include <string.h>

#include "docker-backend.h"
#include "docker-internal.h"

/* The second byte's low bit picks the cap: a small one, so over-cap lines are cheap to reach, or events.c's own. */
#define FUZZ_SMALL_CAP 256
#define FUZZ_LARGE_CAP (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct expect {
        const char *p, *end; /* the input not yet matched against delivered lines */
        size_t cap;
};

/* The next segment that must be delivered: terminated by a newline and shorter than the cap. */
static bool next_expected(struct expect *x, const char **ret, size_t *ret_len) {
        while (x->p < x->end) {
                const char *nl = memchr(x->p, '\n', (size_t) (x->end - x->p));
                if (!nl)
                        return false;
                const char *seg = x->p;
                x->p = nl + 1;
                if ((size_t) (nl - seg) < x->cap) {
                        *ret = seg;
                        *ret_len = (size_t) (nl - seg);
                        return true;
                }
        }
        return false;
}

static void on_event(void *userdata, const struct rt_container_event *ev) {
        (void) userdata;
        if (!ev->task_id || !ev->container)
                __builtin_trap(); /* the lifecycle needs both */
        switch (ev->kind) {
        case RT_EVENT_START:
        case RT_EVENT_OOM:
                break;
        case RT_EVENT_DIE:
                if (ev->exit_code < -1 || ev->exit_code > 255)
                        __builtin_trap();
                break;
        case RT_EVENT_HEALTH:
                if (!ev->health || (strcmp(ev->health, "HEALTHY") != 0 && strcmp(ev->health, "UNHEALTHY") != 0))
                        __builtin_trap();
                break;
        case RT_EVENT_GONE:
        default:
                __builtin_trap(); /* docker events never yield these */
        }
}

static void on_line(void *userdata, const char *line, size_t len) {
        struct expect *x = userdata;
        const char *want;
        size_t want_len;
        if (!next_expected(x, &want, &want_len) || want_len != len || memcmp(want, line, len) != 0)
                __builtin_trap(); /* a line delivered that the input does not hold at this point */
        struct docker_events_config cfg = {.owner = "fuzz", .on_event = on_event};
        int64_t time_ms = 0;
        docker_events_parse_line(line, len, &cfg, &time_ms);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 2)
                return 0;
        log_max_level = LOG_ERROR;
        size_t chunk = (size_t) data[0] + 1, cap = (data[1] & 1) ? FUZZ_SMALL_CAP : FUZZ_LARGE_CAP;
        const char *p = (const char *) data + 2;
        size_t n = size - 2;
        struct expect x = {.p = p, .end = p + n, .cap = cap};
        struct docker_event_lines l;
        docker_event_lines_init(&l, cap);
        while (n > 0) {
                size_t take = n < chunk ? n : chunk;
                docker_event_lines_feed(&l, p, take, on_line, &x);
                if (l.len >= l.cap)
                        __builtin_trap(); /* a full buffer is always emptied */
                p += take;
                n -= take;
        }
        const char *rest;
        size_t rest_len;
        if (next_expected(&x, &rest, &rest_len))
                __builtin_trap(); /* a complete line that was never delivered */
        docker_event_lines_free(&l);
        return 0;
}
