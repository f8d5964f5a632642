/* fuzz_k8s.c — libFuzzer target for the Kubernetes parsers ecsd feeds with bytes from outside: the watch stream (line
 * splitter with a small cap, then the watch-line decoder) and kubeconfig YAML (k8s_config_parse). The first byte picks
 * the parser (even: watch stream, odd: kubeconfig); for the stream, the second byte gives the chunk size, so lines
 * split across chunks at every offset are explored. Built with clang's -fsanitize=fuzzer, or linked with replay.c to
 * replay the corpus under ctest with any compiler. */
#include <stdint.h>
#include <string.h>

#include "k8s-internal.h"
#include "k8s.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_line(const char *line, size_t len, void *ud) {
        size_t *count = ud;
        json_t *doc = NULL;
        struct k8s_watch_line wl;
        if (line[len] != '\0' || memchr(line, '\n', len))
                __builtin_trap(); /* a line is NUL-terminated at its length and holds no newline (it may hold NULs) */
        if (k8s_watch_line_decode(line, len, &doc, &wl) == 0) {
                if (!wl.object || (wl.type >= 0 && wl.type > K8S_WATCH_DELETED))
                        __builtin_trap();
                json_decref(doc);
        }
        (*count)++;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 2)
                return 0;
        log_max_level = LOG_ERROR;
        if ((data[0] & 1) == 0) {
                size_t chunk = (size_t) data[1] + 1, count = 0;
                struct k8s_lines l;
                k8s_lines_init(&l, 256);
                const char *p = (const char *) data + 2;
                size_t n = size - 2;
                while (n > 0) {
                        size_t take = n < chunk ? n : chunk;
                        if (k8s_lines_feed(&l, p, take, on_line, &count) < 0)
                                __builtin_trap();
                        if (l.len > l.cap || (l.buf && l.alloc > l.cap + 1))
                                __builtin_trap();
                        p += take;
                        n -= take;
                }
                k8s_lines_free(&l);
                return 0;
        }
        struct k8s_config *cfg = NULL;
        struct err e = {0};
        if (k8s_config_parse((const char *) data + 1, size - 1, "/nonexistent", NULL, &cfg, &e) == 0) {
                if (!k8s_config_server(cfg) || !k8s_config_namespace(cfg))
                        __builtin_trap();
                k8s_config_free(cfg);
        } else if (cfg || e.msg[0] == '\0') {
                __builtin_trap(); /* a failure leaves *ret alone and always says why */
        }
        return 0;
}
