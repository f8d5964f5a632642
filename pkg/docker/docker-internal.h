/* docker-internal.h — helpers shared by the files of pkg/docker, not part of its public face. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Write `s` to `out` so that a POSIX shell would read it back as one word: bare when it only holds characters
 * that need no quoting, else in single quotes (with ' written as '\''). For people reading a plan, never for
 * running one. Returns 0 or -EIO. */
int docker_quote_word(FILE *out, const char *s);

/* The line splitter of the `docker events` stream (events.c): bytes in, whole lines out, each at most cap - 1 bytes.
 * A line that fills the cap without its newline is dropped whole (logged), up to and including its newline; a last
 * line without a newline is never delivered. Only newly arrived bytes are scanned. Not thread-safe. */
struct docker_event_lines {
        char *buf; /* cap bytes, allocated by the first feed; holds at most the current partial line */
        size_t len, cap;
        bool skipping; /* inside a dropped over-cap line, until its newline */
};
void docker_event_lines_init(struct docker_event_lines *l, size_t cap);
/* Calls on_line for each complete line in the order received; `line` (no newline in it, may hold NULs) is
 * borrowed for the call only. */
void docker_event_lines_feed(struct docker_event_lines *l, const char *data, size_t n,
                             void (*on_line)(void *userdata, const char *line, size_t len), void *userdata);
void docker_event_lines_free(struct docker_event_lines *l);
