/* logstream.c — follow one container's output: GET pods/NAME/log?container=C&follow=true on a thread of its own,
 * handing each chunk to a callback as the kubelet sends it (k8s.h, "following a container's output").
 *
 * Owns struct k8s_log_stream. The stream has its own easy and multi handle, so a cancel (curl_multi_wakeup) ends it
 * at once whatever it is waiting for. k8s_log_stream_open waits a bounded time for the server's answer: an error
 * answer (a Pod or container that does not exist, a container not started, an API server that cannot reach the
 * kubelet) fails the open with the Status object's message; a 200, or no answer yet, hands the stream over. The wait
 * is bounded because the API server answers only once the kubelet writes, and the kubelet writes only once the
 * container has output. From the hand-over on, on_end is called exactly once, last, on the stream's thread. */
#include <pthread.h>
#include <string.h>

#include <curl/curl.h>

#include "k8s-client-internal.h"
#include "k8s-internal.h"
#include "k8s.h"

#define CONNECT_TIMEOUT_MS 5000
#define ERR_BODY_CAP (64 * 1024)
#define URL_MAX 4096

struct k8s_log_stream {
        k8s_log_data_fn on_data;
        k8s_log_end_fn on_end;
        void *userdata;
        char what[512]; /* "follow pods/log NS/NAME container C", for errors */

        CURLM *multi;
        CURL *h;
        char errbuf[CURL_ERROR_SIZE];
        struct curl_slist *headers;
        atomic_bool stop;
        pthread_t thread;

        pthread_mutex_t lock; /* guards the four flags below; cond signals them */
        pthread_cond_t cond;
        bool answered;    /* a 200 arrived */
        bool ended;       /* the transfer is over (then `end_err` says how) */
        bool decided;     /* open has decided whether it hands the stream over */
        bool handed_over; /* it did: the end goes to on_end */

        long status;             /* the answer's HTTP status, once known */
        bool refused;            /* on_data asked to end */
        struct k8s_body errbody; /* a non-200 answer's body */
        struct err end_err;
        bool failed;
};

static void mark(struct k8s_log_stream *s, bool *flag) {
        pthread_mutex_lock(&s->lock);
        *flag = true;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
}

static long response_status(struct k8s_log_stream *s) {
        if (!s->status)
                curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->status);
        return s->status;
}

/* The empty line that ends the headers tells the status before any output (a silent container sends none). */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata) {
        struct k8s_log_stream *s = userdata;
        size_t n = size * nmemb;
        if ((n == 2 && ptr[0] == '\r' && ptr[1] == '\n') || (n == 1 && ptr[0] == '\n')) {
                s->status = 0;
                if (response_status(s) == 200)
                        mark(s, &s->answered);
        }
        return n;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata) {
        struct k8s_log_stream *s = userdata;
        size_t n = size * nmemb;
        if (response_status(s) != 200)
                return k8s_body_write(ptr, size, nmemb, &s->errbody);
        if (!s->on_data(ptr, n, s->userdata)) {
                s->refused = true;
                return 0; /* ends the transfer */
        }
        return n;
}

static void *stream_main(void *arg) {
        struct k8s_log_stream *s = arg;
        CURLcode rc;
        int r = k8s_multi_transfer(s->multi, s->h, &s->stop, &rc);
        long status = response_status(s);
        if (r == -EIO)
                s->failed = err_set(&s->end_err, r, ERR_KIND_INTERNAL, "%s: libcurl multi failure.", s->what) < 0;
        else if (r == 0 && status && status != 200)
                s->failed = k8s_status_to_err(status, s->errbody.data, s->errbody.len, s->what, &s->end_err) < 0;
        else if (r == 0 && rc != CURLE_OK && !s->refused)
                s->failed = k8s_transport_err(rc, s->errbuf, s->what, &s->end_err) < 0;

        pthread_mutex_lock(&s->lock);
        s->ended = true;
        pthread_cond_broadcast(&s->cond);
        while (!s->decided)
                pthread_cond_wait(&s->cond, &s->lock);
        bool handed_over = s->handed_over;
        pthread_mutex_unlock(&s->lock);
        if (handed_over)
                s->on_end(s->failed ? &s->end_err : NULL, s->userdata);
        return NULL;
}

static void stream_free(struct k8s_log_stream *s) {
        if (s->multi)
                curl_multi_cleanup(s->multi);
        if (s->h)
                curl_easy_cleanup(s->h);
        curl_slist_free_all(s->headers);
        k8s_body_free(&s->errbody);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cond);
        free(s);
}

static int stream_url(struct k8s_config *cfg, const char *ns, const char *pod, const char *container, char *buf,
                      size_t size) {
        char path[1024], esc[256];
        if (k8s_path_pods(path, sizeof(path), ns, pod) < 0 || k8s_escape(container, esc, sizeof(esc)) < 0)
                return -EINVAL;
        return str_printf(buf, size, "%s%s/log?container=%s&follow=true", k8s_config_server(cfg), path, esc) < 0
                       ? -ENAMETOOLONG
                       : 0;
}

int k8s_log_stream_open(struct k8s_config *cfg, const char *ns, const char *pod, const char *container,
                        k8s_log_data_fn on_data, k8s_log_end_fn on_end, void *userdata, long answer_wait_ms,
                        struct k8s_log_stream **ret, struct err *e) {
        if (!cfg || !ns || !*ns || !pod || !*pod || !container || !*container || !on_data || !on_end)
                return err_set(e, -EINVAL, ERR_KIND_INTERNAL, "log stream: needs a Pod, a container and callbacks.");
        int r = k8s_curl_global_init(e);
        if (r < 0)
                return r;
        char url[URL_MAX];
        if (stream_url(cfg, ns, pod, container, url, sizeof(url)) < 0)
                return err_set(e, -EINVAL, ERR_KIND_INTERNAL, "log stream: bad Pod or container name.");

        struct k8s_log_stream *s = xcalloc(1, sizeof(*s));
        s->on_data = on_data;
        s->on_end = on_end;
        s->userdata = userdata;
        str_printf(s->what, sizeof(s->what), "follow pods/log %s/%s container %s", ns, pod, container);
        atomic_init(&s->stop, false);
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->cond, NULL); /* the default clock: cond_wait_ms counts on it */
        k8s_body_init(&s->errbody, ERR_BODY_CAP);
        s->multi = curl_multi_init();
        s->h = curl_easy_init();
        if (!s->multi || !s->h) {
                stream_free(s);
                return err_set(e, -ENOMEM, ERR_KIND_INTERNAL, "log stream: libcurl handles could not be made.");
        }
        if ((r = k8s_handle_setup(s->h, cfg, s->errbuf, CONNECT_TIMEOUT_MS, e)) < 0 ||
            (r = k8s_headers(cfg, false, NULL, &s->headers, e)) < 0) {
                stream_free(s);
                return r;
        }
        if (curl_easy_setopt(s->h, CURLOPT_HTTPGET, 1L) != CURLE_OK ||
            curl_easy_setopt(s->h, CURLOPT_URL, url) != CURLE_OK ||
            curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, s->headers) != CURLE_OK ||
            curl_easy_setopt(s->h, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
            curl_easy_setopt(s->h, CURLOPT_HEADERDATA, s) != CURLE_OK ||
            curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
            curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s) != CURLE_OK) {
                stream_free(s);
                return err_set(e, -EIO, ERR_KIND_INTERNAL, "log stream: libcurl refused an option.");
        }
        if ((r = pthread_create(&s->thread, NULL, stream_main, s)) != 0) {
                stream_free(s);
                return err_set(e, -r, ERR_KIND_INTERNAL, "log stream: cannot start its thread: %s.", strerror(r));
        }

        /* Wait for the answer, but not for output: see the top of the file. */
        int64_t deadline = time_mono_ms() + answer_wait_ms;
        pthread_mutex_lock(&s->lock);
        while (!s->answered && !s->ended && time_mono_ms() < deadline)
                cond_wait_ms(&s->cond, &s->lock, deadline - time_mono_ms());
        bool failed = s->ended && s->failed;
        s->decided = true;
        s->handed_over = !failed;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        if (failed) {
                pthread_join(s->thread, NULL);
                r = err_set(e, s->end_err.code, s->end_err.kind, "%s", s->end_err.msg);
                stream_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

void k8s_log_stream_cancel(struct k8s_log_stream *s) {
        if (!s)
                return;
        atomic_store(&s->stop, true);
        curl_multi_wakeup(s->multi);
}

void k8s_log_stream_close(struct k8s_log_stream *s) {
        if (!s)
                return;
        k8s_log_stream_cancel(s);
        pthread_join(s->thread, NULL);
        stream_free(s);
}
