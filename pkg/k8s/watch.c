/* watch.c — one watch of a namespace's pods: list, then a long-lived watch stream that resumes from the last
 * resourceVersion, with bookmarks, a relist on 410 Gone and capped exponential backoff while the API server is away.
 * Also the line splitter and the watch-line decoder (pure, fuzzed).
 *
 * Owns struct k8s_watch. Its thread (watch_main) is the only one that touches the curl handles, the line buffer and
 * the resourceVersion; k8s_watch_stop sets `stop` and wakes the thread (curl_multi_wakeup for a transfer, the condition
 * variable for a backoff sleep), so a stop is noticed at once rather than at the next progress tick. `stats` is read by
 * other threads under `lock`.
 *
 * Memory: each event is decoded whole (a Pod is tens of KB as a jansson tree) and freed once the backend took what
 * it keeps; a burst of them (1,000 tasks starting) interleaves with the long-lived allocations of the tasks, and the
 * allocator keeps the freed pages. So once events stop for TRIM_QUIET_MS, the watch thread hands the free pages back
 * (malloc_trim), once per burst: 1,000 tasks on kwok held ~30 MB more without it. */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "ecs.h"
#include "k8s-client-internal.h"
#include "k8s-internal.h"
#include "k8s.h"

#define LINE_CAP (4u << 20)         /* one watch event: a Pod is at most ~1.5 MiB in etcd */
#define LIST_CAP (64u << 20)        /* a whole list */
#define ERR_BODY_CAP (64u << 10)
#define WATCH_TIMEOUT_S 290         /* the server ends each stream after this; it is reopened at once */
#define CONNECT_TIMEOUT_MS 5000
#define LIST_TIMEOUT_MS 60000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define TRIM_QUIET_MS 2000 /* see the top of the file */
#define TRIM_MIN_EVENTS 64 /* a burst worth a trim */

/* ---- the line splitter ---- */

void k8s_lines_init(struct k8s_lines *l, size_t cap) {
        *l = (struct k8s_lines){.cap = cap};
}

void k8s_lines_free(struct k8s_lines *l) {
        free(l->buf);
        *l = (struct k8s_lines){.cap = l->cap};
}

void k8s_lines_reset(struct k8s_lines *l) {
        l->len = 0;
        l->discarding = false;
}

int k8s_lines_feed(struct k8s_lines *l, const char *data, size_t n, int (*fn)(const char *line, size_t len, void *ud),
                   void *ud) {
        while (n > 0) {
                const char *nl = memchr(data, '\n', n);
                if (l->discarding) {
                        if (!nl)
                                return 0;
                        n -= (size_t) (nl + 1 - data);
                        data = nl + 1;
                        l->discarding = false;
                        continue;
                }
                size_t take = nl ? (size_t) (nl - data) : n;
                if (l->len + take > l->cap) {
                        /* Over the cap: drop what we hold and the rest of this line. */
                        l->overlong++;
                        l->len = 0;
                        l->discarding = true;
                        continue;
                }
                if (l->len + take + 1 > l->alloc) {
                        size_t want = l->alloc ? l->alloc : 4096;
                        while (want < l->len + take + 1)
                                want *= 2;
                        if (want > l->cap + 1)
                                want = l->cap + 1;
                        char *p = realloc(l->buf, want);
                        if (!p)
                                return -ENOMEM;
                        l->buf = p;
                        l->alloc = want;
                }
                memcpy(l->buf + l->len, data, take);
                l->len += take;
                if (!nl)
                        return 0;
                n -= take + 1;
                data = nl + 1;
                size_t len = l->len;
                if (len > 0 && l->buf[len - 1] == '\r')
                        len--;
                l->buf[len] = '\0';
                l->len = 0;
                if (len == 0)
                        continue;
                int r = fn(l->buf, len, ud);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- one watch line ---- */

const char *k8s_watch_event_to_string(enum k8s_watch_event ev) {
        static const char *const names[] = {"ADDED", "MODIFIED", "DELETED", "RELISTED"};
        return (unsigned) ev < ARRAY_SIZE(names) ? names[ev] : "?";
}

int k8s_watch_line_decode(const char *line, size_t len, json_t **ret_doc, struct k8s_watch_line *ret) {
        json_error_t jerr;
        json_t *doc = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(doc)) {
                json_decref(doc);
                return -EINVAL;
        }
        const char *type = ecs_json_str(doc, "type", NULL);
        json_t *obj = json_object_get(doc, "object");
        if (!type || !json_is_object(obj)) {
                json_decref(doc);
                return -EINVAL;
        }
        *ret = (struct k8s_watch_line){.object = obj};
        if (strcmp(type, "ADDED") == 0)
                ret->type = K8S_WATCH_ADDED;
        else if (strcmp(type, "MODIFIED") == 0)
                ret->type = K8S_WATCH_MODIFIED;
        else if (strcmp(type, "DELETED") == 0)
                ret->type = K8S_WATCH_DELETED;
        else if (strcmp(type, "BOOKMARK") == 0)
                ret->type = -1;
        else if (strcmp(type, "ERROR") == 0)
                ret->type = -2;
        else {
                json_decref(doc);
                return -EINVAL;
        }
        if (ret->type == -2) {
                int64_t code = 0;
                ecs_json_int(obj, "code", &code);
                ret->error_code = (long) code;
        } else {
                const char *rv = ecs_json_str(json_object_get(obj, "metadata"), "resourceVersion", NULL);
                ret->resource_version = rv && *rv ? rv : NULL;
        }
        *ret_doc = doc;
        return 0;
}

/* ---- the watch ---- */

struct k8s_watch {
        struct k8s_config *cfg;
        char *ns, *selector;
        bool nodes; /* a watch of the cluster's Nodes (k8s_watch_start_nodes), not of Pods */
        k8s_watch_fn fn;
        void *userdata;

        pthread_t thread;
        pthread_mutex_t lock; /* guards stats; with cond, the backoff sleep */
        pthread_cond_t cond;
        atomic_bool stop;
        struct k8s_watch_stats stats;

        CURLM *multi;
        CURL *h;
        char errbuf[CURL_ERROR_SIZE];
        char *rv; /* last resourceVersion seen; NULL before the first list */
        struct k8s_lines lines;
        struct k8s_body errbody; /* a non-200 answer's body */
        struct k8s_body listbody;
        bool stream_ok; /* the current stream answered 200 */
        bool gone;      /* the current stream reported 410 */
        bool delivered; /* the current stream carried at least one line */
        bool errored;   /* the current stream reported an ERROR other than 410 */
        uint64_t untrimmed;     /* events since the last trim (see the top of the file) */
        int64_t last_event_ms;  /* monotonic */
};

static void stat_add(struct k8s_watch *w, uint64_t *field) {
        pthread_mutex_lock(&w->lock);
        (*field)++;
        pthread_mutex_unlock(&w->lock);
}

static void set_rv(struct k8s_watch *w, const char *rv) {
        if (!rv)
                return;
        free(w->rv);
        w->rv = xstrdup(rv);
}

/* Run one transfer on w->h through the watch's multi handle, waking for stop. */
static int transfer(struct k8s_watch *w, CURLcode *ret_rc) {
        return k8s_multi_transfer(w->multi, w->h, &w->stop, ret_rc);
}

static void slist_freep(struct curl_slist **l) {
        curl_slist_free_all(*l);
}

/* Prepare w->h for GET `url`; the caller owns *headers. */
static int prepare(struct k8s_watch *w, const char *url, long timeout_ms, curl_write_callback cb, void *ud,
                   struct curl_slist **headers, struct err *e) {
        int r = k8s_headers(w->cfg, false, NULL, headers, e);
        if (r < 0)
                return r;
        w->errbuf[0] = '\0';
        if (curl_easy_setopt(w->h, CURLOPT_URL, url) != CURLE_OK ||
            curl_easy_setopt(w->h, CURLOPT_HTTPHEADER, *headers) != CURLE_OK ||
            curl_easy_setopt(w->h, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
            curl_easy_setopt(w->h, CURLOPT_WRITEFUNCTION, cb) != CURLE_OK ||
            curl_easy_setopt(w->h, CURLOPT_WRITEDATA, ud) != CURLE_OK)
                return err_set(e, -EIO, ERR_KIND_INTERNAL, "libcurl refused a watch option.");
        return 0;
}

static int base_url(struct k8s_watch *w, char *buf, size_t size) {
        char path[1024] = "/api/v1/nodes";
        if (!w->nodes && k8s_path_pods(path, sizeof(path), *w->ns ? w->ns : NULL, NULL) < 0)
                return -EINVAL;
        return str_printf(buf, size, "%s%s", k8s_config_server(w->cfg), path) < 0 ? -ENAMETOOLONG : 0;
}

static int do_list(struct k8s_watch *w, struct err *e) {
        const char *what = w->nodes ? "list nodes" : "list pods";
        char url[4096], sel[1024];
        int r = base_url(w, url, sizeof(url));
        if (r < 0)
                return err_set(e, r, ERR_KIND_INTERNAL, "watch: bad namespace.");
        if (w->selector && (k8s_escape(w->selector, sel, sizeof(sel)) < 0 ||
                            str_printf(url + strlen(url), sizeof(url) - strlen(url), "?labelSelector=%s", sel) < 0))
                return err_set(e, -EINVAL, ERR_KIND_INTERNAL, "watch: label selector too long.");
        _cleanup_(slist_freep) struct curl_slist *headers = NULL;
        k8s_body_free(&w->listbody);
        k8s_body_init(&w->listbody, LIST_CAP);
        if ((r = prepare(w, url, LIST_TIMEOUT_MS, k8s_body_write, &w->listbody, &headers, e)) < 0)
                return r;
        pthread_mutex_lock(&w->lock);
        w->stats.calls++;
        w->stats.lists++;
        pthread_mutex_unlock(&w->lock);
        CURLcode rc;
        r = transfer(w, &rc);
        curl_easy_setopt(w->h, CURLOPT_HTTPHEADER, NULL);
        if (r < 0)
                return r;
        if (rc != CURLE_OK)
                return w->listbody.overflow ? err_set(e, -EFBIG, ERR_KIND_INTERNAL, "watch: the pod list is larger "
                                                      "than %u bytes.", LIST_CAP)
                                            : k8s_transport_err(rc, w->errbuf, what, e);
        long status = 0;
        curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200)
                return k8s_status_to_err(status, w->listbody.data, w->listbody.len, what, e);
        json_error_t jerr;
        json_auto_t *list = json_loadb(w->listbody.data, w->listbody.len, JSON_REJECT_DUPLICATES, &jerr);
        k8s_body_free(&w->listbody);
        json_t *items = json_object_get(list, "items");
        const char *rv = ecs_json_str(json_object_get(list, "metadata"), "resourceVersion", NULL);
        if (!json_is_object(list) || !rv || !*rv)
                return err_set(e, -EPROTO, ERR_KIND_INTERNAL, "watch: the pod list has no resourceVersion.");
        set_rv(w, rv);
        json_auto_t *arr = json_is_array(items) ? json_incref(items) : json_array();
        w->fn(K8S_WATCH_RELISTED, arr, w->userdata);
        w->untrimmed += TRIM_MIN_EVENTS; /* the whole list was decoded at once */
        w->last_event_ms = time_mono_ms();
        return 0;
}

static int on_line(const char *line, size_t len, void *ud) {
        struct k8s_watch *w = ud;
        json_auto_t *doc = NULL;
        struct k8s_watch_line wl;
        w->delivered = true;
        if (k8s_watch_line_decode(line, len, &doc, &wl) < 0) {
                log_debug("k8s", "\"watch line is not an event; skipped\" namespace=%s bytes=%zu", w->ns, len);
                return 0;
        }
        if (wl.type == -2) {
                if (wl.error_code == 410) {
                        w->gone = true;
                        return -ESTALE; /* ends the stream: relist */
                }
                log_debug("k8s", "\"watch error event\" namespace=%s code=%ld", w->ns, wl.error_code);
                w->errored = true;
                return -EPROTO;
        }
        set_rv(w, wl.resource_version);
        if (wl.type == -1) {
                stat_add(w, &w->stats.bookmarks);
                return 0;
        }
        stat_add(w, &w->stats.events);
        w->fn((enum k8s_watch_event) wl.type, wl.object, w->userdata);
        w->untrimmed++;
        w->last_event_ms = time_mono_ms();
        return 0;
}

/* Give glibc's free pages back. Not under a sanitizer: the program's memory is then the sanitizer's, and glibc's
 * malloc_trim on a thread glibc's allocator never attached made glibc abort at that thread's exit ("malloc assertion
 * failure in __malloc_arena_thread_freeres", ThreadSanitizer, k8s scenarios). */
static void trim_heap(void) {
#if !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
        malloc_trim(0);
#endif
}

/* libcurl's progress callback, called about once a second on an idle stream: the moment to trim after a burst. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
        struct k8s_watch *w = ud;
        (void) dltotal, (void) dlnow, (void) ultotal, (void) ulnow;
        if (w->untrimmed >= TRIM_MIN_EVENTS && time_mono_ms() - w->last_event_ms >= TRIM_QUIET_MS) {
                w->untrimmed = 0;
                trim_heap();
        }
        return 0;
}

static size_t stream_write(char *ptr, size_t size, size_t nmemb, void *ud) {
        struct k8s_watch *w = ud;
        size_t n = size * nmemb;
        long status = 0;
        curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200)
                return k8s_body_write(ptr, size, nmemb, &w->errbody);
        w->stream_ok = true;
        return k8s_lines_feed(&w->lines, ptr, n, on_line, w) < 0 ? 0 : n;
}

enum stream_end { STREAM_ENDED, STREAM_GONE, STREAM_FAILED, STREAM_STOPPED };

static enum stream_end do_watch(struct k8s_watch *w, struct err *e) {
        char url[4096], sel[1024], rv[256];
        if (base_url(w, url, sizeof(url)) < 0 || k8s_escape(w->rv ? w->rv : "", rv, sizeof(rv)) < 0 ||
            str_printf(url + strlen(url), sizeof(url) - strlen(url),
                       "?watch=1&allowWatchBookmarks=true&timeoutSeconds=%d&resourceVersion=%s", WATCH_TIMEOUT_S,
                       rv) < 0 ||
            (w->selector && (k8s_escape(w->selector, sel, sizeof(sel)) < 0 ||
                             str_printf(url + strlen(url), sizeof(url) - strlen(url), "&labelSelector=%s", sel) < 0))) {
                err_set(e, -EINVAL, ERR_KIND_INTERNAL, "watch: URL too long.");
                return STREAM_FAILED;
        }
        _cleanup_(slist_freep) struct curl_slist *headers = NULL;
        k8s_lines_reset(&w->lines);
        k8s_body_free(&w->errbody);
        k8s_body_init(&w->errbody, ERR_BODY_CAP);
        w->stream_ok = w->gone = w->delivered = w->errored = false;
        /* The server closes the stream after WATCH_TIMEOUT_S; the total timeout only catches a server that went
         * silent without closing (TCP keepalive catches a dead peer sooner). */
        if (prepare(w, url, (WATCH_TIMEOUT_S + 30) * 1000L, stream_write, w, &headers, e) < 0)
                return STREAM_FAILED;
        stat_add(w, &w->stats.calls);
        CURLcode rc;
        int r = transfer(w, &rc);
        curl_easy_setopt(w->h, CURLOPT_HTTPHEADER, NULL);
        if (r == -ECANCELED)
                return STREAM_STOPPED;
        long status = 0;
        curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &status);
        if (w->gone || status == 410) {
                stat_add(w, &w->stats.relists_410);
                log_info("k8s", "\"watch resourceVersion expired (410 Gone); relisting\" namespace=%s", w->ns);
                return STREAM_GONE;
        }
        if (r < 0 || w->errored) {
                err_set(e, r < 0 ? r : -EPROTO, ERR_KIND_INTERNAL, "watch: %s.",
                        r < 0 ? "libcurl multi failure" : "the server sent an ERROR event");
                return STREAM_FAILED;
        }
        if (status != 0 && status != 200) {
                k8s_status_to_err(status, w->errbody.data, w->errbody.len, w->nodes ? "watch nodes" : "watch pods", e);
                return STREAM_FAILED;
        }
        if (rc != CURLE_OK && !(rc == CURLE_OPERATION_TIMEDOUT && w->stream_ok)) {
                k8s_transport_err(rc, w->errbuf, w->nodes ? "watch nodes" : "watch pods", e);
                /* A stream that was flowing and then broke (the server restarted) is reopened at once from the last
                 * resourceVersion; one that never got going waits for the backoff. */
                return w->stream_ok && w->delivered ? STREAM_ENDED : STREAM_FAILED;
        }
        return STREAM_ENDED;
}

/* Sleep `ms` unless stopped first. */
static void nap(struct k8s_watch *w, long ms) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&w->lock);
        while (!atomic_load(&w->stop))
                if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) == ETIMEDOUT)
                        break;
        pthread_mutex_unlock(&w->lock);
}

static void *watch_main(void *arg) {
        struct k8s_watch *w = arg;
        long backoff = BACKOFF_MIN_MS;
        bool need_list = true, first = true;
        while (!atomic_load(&w->stop)) {
                struct err e = {0};
                if (need_list) {
                        int r = do_list(w, &e);
                        if (r == -ECANCELED)
                                break;
                        if (r < 0) {
                                log_debug("k8s", "\"watch list failed; retrying\" namespace=%s backoff_ms=%ld error=\"%s\"",
                                          w->ns, backoff, e.msg);
                                nap(w, backoff);
                                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
                                continue;
                        }
                        need_list = false;
                }
                if (!first)
                        stat_add(w, &w->stats.reconnects);
                first = false;
                switch (do_watch(w, &e)) {
                case STREAM_STOPPED:
                        return NULL;
                case STREAM_GONE:
                        need_list = true;
                        backoff = BACKOFF_MIN_MS;
                        break;
                case STREAM_ENDED:
                        backoff = BACKOFF_MIN_MS;
                        break;
                case STREAM_FAILED:
                        log_debug("k8s", "\"watch failed; retrying\" namespace=%s backoff_ms=%ld error=\"%s\"", w->ns,
                                  backoff, e.msg);
                        nap(w, backoff);
                        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
                        break;
                }
        }
        return NULL;
}

static void watch_free(struct k8s_watch *w) {
        if (w->multi)
                curl_multi_cleanup(w->multi);
        if (w->h)
                curl_easy_cleanup(w->h);
        k8s_lines_free(&w->lines);
        k8s_body_free(&w->errbody);
        k8s_body_free(&w->listbody);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w->rv);
        free(w->ns);
        free(w->selector);
        free(w);
}

static int watch_start(struct k8s_config *cfg, const char *ns, bool nodes, const char *label_selector, k8s_watch_fn fn,
                       void *userdata, struct k8s_watch **ret, struct err *e) {
        if (!cfg || (ns && !*ns) || !fn)
                return err_set(e, -EINVAL, ERR_KIND_INTERNAL, "watch: needs a config, a namespace and a callback.");
        int r = k8s_curl_global_init(e);
        if (r < 0)
                return r;
        struct k8s_watch *w = xcalloc(1, sizeof(*w));
        w->cfg = cfg;
        w->ns = xstrdup(ns ? ns : ""); /* "": every namespace */
        w->nodes = nodes;
        w->selector = label_selector && *label_selector ? xstrdup(label_selector) : NULL;
        w->fn = fn;
        w->userdata = userdata;
        atomic_init(&w->stop, false);
        pthread_mutex_init(&w->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&w->cond, &ca);
        pthread_condattr_destroy(&ca);
        k8s_lines_init(&w->lines, LINE_CAP);
        k8s_body_init(&w->errbody, ERR_BODY_CAP);
        k8s_body_init(&w->listbody, LIST_CAP);
        w->multi = curl_multi_init();
        w->h = curl_easy_init();
        if (!w->multi || !w->h) {
                watch_free(w);
                return err_set(e, -ENOMEM, ERR_KIND_INTERNAL, "watch: libcurl handles could not be made.");
        }
        if ((r = k8s_handle_setup(w->h, cfg, w->errbuf, CONNECT_TIMEOUT_MS, e)) < 0 ||
            ((curl_easy_setopt(w->h, CURLOPT_HTTPGET, 1L) != CURLE_OK ||
              curl_easy_setopt(w->h, CURLOPT_XFERINFOFUNCTION, on_progress) != CURLE_OK ||
              curl_easy_setopt(w->h, CURLOPT_XFERINFODATA, w) != CURLE_OK ||
              curl_easy_setopt(w->h, CURLOPT_NOPROGRESS, 0L) != CURLE_OK) &&
             (r = err_set(e, -EIO, ERR_KIND_INTERNAL, "watch: libcurl refused an option.")) < 0)) {
                watch_free(w);
                return r;
        }
        if ((r = pthread_create(&w->thread, NULL, watch_main, w)) != 0) {
                watch_free(w);
                return err_set(e, -r, ERR_KIND_INTERNAL, "watch: cannot start its thread: %s.", strerror(r));
        }
        *ret = w;
        return 0;
}

int k8s_watch_start(struct k8s_config *cfg, const char *ns, const char *label_selector, k8s_watch_fn fn,
                    void *userdata, struct k8s_watch **ret, struct err *e) {
        return watch_start(cfg, ns, false, label_selector, fn, userdata, ret, e);
}

int k8s_watch_start_nodes(struct k8s_config *cfg, k8s_watch_fn fn, void *userdata, struct k8s_watch **ret,
                          struct err *e) {
        return watch_start(cfg, NULL, true, NULL, fn, userdata, ret, e);
}

void k8s_watch_stop(struct k8s_watch *w) {
        if (!w)
                return;
        pthread_mutex_lock(&w->lock);
        atomic_store(&w->stop, true);
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        curl_multi_wakeup(w->multi);
        pthread_join(w->thread, NULL);
        watch_free(w);
}

void k8s_watch_get_stats(struct k8s_watch *w, struct k8s_watch_stats *ret) {
        pthread_mutex_lock(&w->lock);
        *ret = w->stats;
        pthread_mutex_unlock(&w->lock);
}
