/* base.h — the small base library every package uses: the error carrier, cleanup helpers, an always-on assert,
 * logging, and a few string/time helpers.
 *
 * Conventions (STYLE.md): a function that can fail returns int, >= 0 on success and a negative errno on failure, and
 * fills a caller-owned `struct err` with a human sentence. Nothing here allocates on an error path. */
#pragma once

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The error carrier. `code` is a negative errno or one of the ERR_* kinds below; `msg` is a full sentence that can be
 * shown to a user as is. The API layer maps kinds to AWS error shapes. */
struct err {
        int code;
        int kind;
        char msg[256];
};

/* What sort of failure an error is, so the API layer can pick an AWS error shape without parsing the text. */
enum err_kind {
        ERR_KIND_INTERNAL = 0,  /* ServerException */
        ERR_KIND_INVALID,       /* InvalidParameterException: a value breaks a rule */
        ERR_KIND_CLIENT,        /* ClientException: the request cannot be served as asked */
        ERR_KIND_SERIALIZATION, /* SerializationException: malformed JSON or a member of the wrong type */
        ERR_KIND_NOT_FOUND,     /* resource-specific "not found" (the caller picks the exact shape) */
        ERR_KIND_CLUSTER_NOT_FOUND,
        ERR_KIND_CLUSTER_CONTAINS_TASKS,
        ERR_KIND_CLUSTER_CONTAINS_SERVICES,
        ERR_KIND_RESOURCE_IN_USE,
        ERR_KIND_UNKNOWN_OPERATION,
        ERR_KIND_TOO_LARGE,
        ERR_KIND_SERVICE_NOT_FOUND,
        ERR_KIND_SERVICE_NOT_ACTIVE,
        ERR_KIND_CONFLICT,
        ERR_KIND_SERVICE_DEPLOYMENT_NOT_FOUND,
        ERR_KIND_NAMESPACE_NOT_FOUND,
        ERR_KIND_TARGET_NOT_FOUND,     /* TargetNotFoundException (PutAttributes, DeleteAttributes) */
        ERR_KIND_ATTRIBUTE_LIMIT,      /* AttributeLimitExceededException */
        ERR_KIND_NO_UPDATE_AVAILABLE,  /* NoUpdateAvailableException (UpdateContainerAgent) */
        ERR_KIND_UNSUPPORTED_FEATURE, /* UnsupportedFeatureException: ECS has the feature, ecsd does not serve it */
        ERR_KIND_TARGET_NOT_CONNECTED, /* ExecuteCommand: nothing in the task can run the command */
        ERR_KIND_TASK_SET_NOT_FOUND,   /* TaskSetNotFoundException */
        ERR_KIND_DAEMON_NOT_FOUND,     /* DaemonNotFoundException */
        ERR_KIND_DAEMON_NOT_ACTIVE,    /* DaemonNotActiveException */
        ERR_KIND_COUNT,                /* not a kind: how many there are (keep it last) */
};

/* Fill `e` (may be NULL) and return `code` (a negative errno), so call sites read `return err_set(e, -EINVAL, ...)`. */
int err_set(struct err *e, int code, int kind, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Prefix the message already in `e` with more context ("registering task definition: <old message>"). */
void err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An assert that stays on in release builds; for invariants only, never for input. */
#define ASSERT(cond)                                                                                                   \
        do {                                                                                                           \
                if (!(cond))                                                                                           \
                        base_assert_fail(#cond, __FILE__, __LINE__);                                                   \
        } while (0)
_Noreturn void base_assert_fail(const char *expr, const char *file, int line);

/* ---- cleanup helpers: the only place __attribute__((cleanup)) is spelled out ---- */
/* Both strings present and equal. */
static inline bool str_eq(const char *a, const char *b) {
        return a && b && strcmp(a, b) == 0;
}

static inline void freep(void *p) {
        free(*(void **) p);
}
static inline void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}
static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Hand ownership out of a cleanup variable: returns the pointer and leaves NULL behind. */
#define TAKE_PTR(p)                                                                                                    \
        __extension__({                                                                                                \
                __typeof__(p) _ptr_ = (p);                                                                             \
                (p) = NULL;                                                                                            \
                _ptr_;                                                                                                 \
        })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- logging: one logfmt line per event, written with a single write(2) ---- */
enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern enum log_level log_max_level;

/* Parse "error|warn|info|debug"; returns 0 and fills *ret, or -EINVAL. */
int log_level_from_string(const char *s, enum log_level *ret);
const char *log_level_to_string(enum log_level level);

void log_write(enum log_level level, const char *component, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The level is checked before the arguments are evaluated. `fmt` continues the logfmt line after msg=, e.g.
 * log_info("api", "\"listening\" addr=%s", addr). */
#define log_at(level, component, ...)                                                                                  \
        do {                                                                                                           \
                if ((level) <= log_max_level)                                                                          \
                        log_write((level), (component), __VA_ARGS__);                                                  \
        } while (0)
#define log_error(c, ...) log_at(LOG_ERROR, c, __VA_ARGS__)
#define log_warn(c, ...) log_at(LOG_WARN, c, __VA_ARGS__)
#define log_info(c, ...) log_at(LOG_INFO, c, __VA_ARGS__)
#define log_debug(c, ...) log_at(LOG_DEBUG, c, __VA_ARGS__)

/* ---- small helpers ---- */

/* Wall-clock time in milliseconds since the epoch, and a monotonic clock in milliseconds. */
int64_t time_now_ms(void);
int64_t time_mono_ms(void);
/* pthread_cond_timedwait for at most `ms`. `cond` must use the default clock (pthread_cond_init(cond, NULL)): the
 * deadline is on CLOCK_REALTIME, so a CLOCK_MONOTONIC condition would wait far too long. Callers re-check their
 * condition: wake-ups come early too. */
void cond_wait_ms(pthread_cond_t *cond, pthread_mutex_t *mutex, int64_t ms);

/* strdup that aborts on out-of-memory (allocation failure of a few bytes is not a recoverable condition here). */
char *xstrdup(const char *s);
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);

/* Bounded, always-terminated formatting into a fixed buffer; returns -ENOBUFS when the result was truncated. */
int str_printf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Parse a whole decimal string into an int64 within [min, max]; -EINVAL otherwise. */
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret);

/* Replace, in place, every byte of `s` that is not part of a well-formed UTF-8 sequence (including a sequence cut
 * short by truncation) with '?'. Messages that quote user input go through this before they become JSON. */
void str_utf8_sanitize(char *s);

/* `n` bytes from the kernel's random source (getrandom, drawn a pool at a time per thread; never fails on Linux once
 * booted). */
void random_bytes(void *buf, size_t n);
/* `n_digits` (at most 64) random lowercase hex digits and a NUL in out. */
void random_hex(char *out, size_t n_digits);
/* A random (version 4) UUID in its 36-character text form, as ECS's event and credentials ids are. */
void uuid_v4(char out[37]);

/* URL-safe base64 without padding. `out` must hold base64url_encoded_size(n) bytes (including the NUL). */
size_t base64url_encoded_size(size_t n);
void base64url_encode(const void *in, size_t n, char *out);
/* Decodes into `out` (capacity `cap`); returns the decoded length or -EINVAL on bad input / -ENOBUFS. */
int base64url_decode(const char *in, void *out, size_t cap);
