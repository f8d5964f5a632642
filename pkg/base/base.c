/* base.c — the error carrier, logging, and small helpers declared in base.h.
 *
 * Logging is safe from any thread: each line is formatted into a stack buffer and written with one write(2) to
 * stderr, so lines from different threads never interleave. The level is a plain global set once at start-up. */
#include "base.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

enum log_level log_max_level = LOG_INFO;

int err_set(struct err *e, int code, int kind, const char *fmt, ...) {
        if (e) {
                va_list ap;
                va_start(ap, fmt);
                e->code = code;
                e->kind = kind;
                vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
                va_end(ap);
        }
        return code;
}

void err_prefix(struct err *e, const char *fmt, ...) {
        if (!e)
                return;
        char prefix[sizeof(e->msg)];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        /* Compose in a buffer large enough for both parts, then keep what fits. */
        char joined[2 * sizeof(e->msg) + 2];
        snprintf(joined, sizeof(joined), "%s: %s", prefix, e->msg);
        size_t n = strnlen(joined, sizeof(e->msg) - 1);
        memcpy(e->msg, joined, n);
        e->msg[n] = '\0';
}

_Noreturn void base_assert_fail(const char *expr, const char *file, int line) {
        log_write(LOG_ERROR, "assert", "\"assertion failed\" expr=\"%s\" at=%s:%d", expr, file, line);
        abort();
}

static const char *const log_level_names[] = {
        [LOG_ERROR] = "error",
        [LOG_WARN] = "warn",
        [LOG_INFO] = "info",
        [LOG_DEBUG] = "debug",
};

const char *log_level_to_string(enum log_level level) {
        if ((size_t) level >= ARRAY_SIZE(log_level_names))
                return "?";
        return log_level_names[level];
}

int log_level_from_string(const char *s, enum log_level *ret) {
        for (size_t i = 0; i < ARRAY_SIZE(log_level_names); i++)
                if (strcmp(s, log_level_names[i]) == 0) {
                        *ret = (enum log_level) i;
                        return 0;
                }
        return -EINVAL;
}

void log_write(enum log_level level, const char *component, const char *fmt, ...) {
        char line[2048];
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        int n = snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s component=%s msg=",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                         ts.tv_nsec / 1000000, log_level_to_string(level), component);
        if (n < 0)
                return;
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof(line) - (size_t) n, fmt, ap);
        va_end(ap);
        size_t len = (size_t) n + (m > 0 ? (size_t) m : 0);
        if (len > sizeof(line) - 2)
                len = sizeof(line) - 2;
        line[len++] = '\n';
        /* One write per line; a short write to stderr is not worth retrying for logs. */
        ssize_t r = write(STDERR_FILENO, line, len);
        (void) r;
}

int64_t time_now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cond_wait_ms(pthread_cond_t *cond, pthread_mutex_t *mutex, int64_t ms) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t) (ms / 1000);
        ts.tv_nsec += (long) (ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(cond, mutex, &ts);
}

void *xmalloc(size_t n) {
        void *p = malloc(n ? n : 1);
        if (!p)
                abort();
        return p;
}

void *xcalloc(size_t n, size_t size) {
        void *p = calloc(n ? n : 1, size ? size : 1);
        if (!p)
                abort();
        return p;
}

char *xstrdup(const char *s) {
        char *p = strdup(s);
        if (!p)
                abort();
        return p;
}

int str_printf(char *buf, size_t size, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(buf, size, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t) n >= size)
                return -ENOBUFS;
        return n;
}

int parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret) {
        if (!s || !*s)
                return -EINVAL;
        char *end = NULL;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno != 0 || *end != '\0' || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* Length of the well-formed UTF-8 sequence at `p` (1..4), or 0 when it is not one. Overlong forms, surrogates and
 * code points above U+10FFFF are not well-formed. */
static size_t utf8_sequence_len(const unsigned char *p) {
        unsigned char c = p[0];
        size_t n;
        uint32_t cp;
        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                n = 2, cp = c & 0x1fu;
        else if (c >= 0xe0 && c <= 0xef)
                n = 3, cp = c & 0x0fu;
        else if (c >= 0xf0 && c <= 0xf4)
                n = 4, cp = c & 0x07u;
        else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0; /* also stops at the terminating NUL */
                cp = (cp << 6) | (p[i] & 0x3fu);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

void str_utf8_sanitize(char *s) {
        unsigned char *p = (unsigned char *) s;
        while (*p) {
                size_t n = utf8_sequence_len(p);
                if (n == 0) {
                        *p++ = '?';
                        continue;
                }
                p += n;
        }
}

static const char b64url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t base64url_encoded_size(size_t n) {
        return (n * 4 + 2) / 3 + 1;
}

void base64url_encode(const void *in, size_t n, char *out) {
        const unsigned char *p = in;
        size_t o = 0;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) p[i] << 16;
                if (i + 1 < n)
                        v |= (uint32_t) p[i + 1] << 8;
                if (i + 2 < n)
                        v |= p[i + 2];
                out[o++] = b64url_alphabet[(v >> 18) & 63];
                out[o++] = b64url_alphabet[(v >> 12) & 63];
                if (i + 1 < n)
                        out[o++] = b64url_alphabet[(v >> 6) & 63];
                if (i + 2 < n)
                        out[o++] = b64url_alphabet[v & 63];
        }
        out[o] = '\0';
}

static int b64url_value(char c) {
        const char *p = c ? strchr(b64url_alphabet, c) : NULL;
        return p ? (int) (p - b64url_alphabet) : -1;
}

int base64url_decode(const char *in, void *out, size_t cap) {
        unsigned char *o = out;
        size_t len = strlen(in), n = 0;
        if (len % 4 == 1)
                return -EINVAL;
        for (size_t i = 0; i < len; i += 4) {
                uint32_t v = 0;
                size_t chunk = len - i < 4 ? len - i : 4;
                for (size_t j = 0; j < 4; j++) {
                        int d = j < chunk ? b64url_value(in[i + j]) : 0;
                        if (d < 0)
                                return -EINVAL;
                        v = (v << 6) | (uint32_t) d;
                }
                size_t bytes = chunk - 1;
                if (n + bytes > cap)
                        return -ENOBUFS;
                for (size_t j = 0; j < bytes; j++)
                        o[n++] = (unsigned char) (v >> (16 - 8 * j));
        }
        return (int) n;
}

/* Random bytes are drawn from the kernel a pool at a time, one pool per thread: every API answer carries a new request
 * id, and a getrandom(2) call for each was a visible share of a small call. A byte is handed out once and then
 * forgotten. A forked child would inherit its parent's pool, but ecsd's children exec at once and draw nothing. */
#define RANDOM_POOL_BYTES 256

void random_bytes(void *buf, size_t n) {
        static _Thread_local unsigned char pool[RANDOM_POOL_BYTES];
        static _Thread_local size_t left;
        unsigned char *out = buf;
        while (n > 0) {
                if (left == 0) {
                        size_t got = 0;
                        while (got < sizeof(pool)) {
                                ssize_t k = getrandom(pool + got, sizeof(pool) - got, 0);
                                ASSERT(k > 0 || errno == EINTR);
                                if (k > 0)
                                        got += (size_t) k;
                        }
                        left = sizeof(pool);
                }
                size_t take = n < left ? n : left;
                unsigned char *from = pool + sizeof(pool) - left;
                memcpy(out, from, take);
                memset(from, 0, take);
                out += take;
                n -= take;
                left -= take;
        }
}

static const char hex_digits[] = "0123456789abcdef";

void random_hex(char *out, size_t n_digits) {
        unsigned char raw[32];
        ASSERT((n_digits + 1) / 2 <= sizeof(raw));
        random_bytes(raw, (n_digits + 1) / 2);
        for (size_t i = 0; i < n_digits; i++)
                out[i] = hex_digits[(raw[i / 2] >> (i % 2 ? 0 : 4)) & 0xf];
        out[n_digits] = '\0';
}

void uuid_v4(char out[37]) {
        unsigned char b[16];
        random_bytes(b, sizeof(b));
        b[6] = (unsigned char) ((b[6] & 0x0f) | 0x40); /* the version */
        b[8] = (unsigned char) ((b[8] & 0x3f) | 0x80); /* the variant, 10xx */
        /* By hand rather than with snprintf: every API answer's request id is one, and the format was 2 % of a
         * small call. */
        char *p = out;
        for (size_t i = 0; i < sizeof(b); i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        *p++ = '-';
                *p++ = hex_digits[b[i] >> 4];
                *p++ = hex_digits[b[i] & 15];
        }
        *p = '\0';
}
