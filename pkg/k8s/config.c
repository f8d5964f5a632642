/* config.c — where the API server is and how to authenticate: a kubeconfig file (libyaml) or the in-cluster service
 * account.
 *
 * Owns struct k8s_config. Everything but the token cache is written once by the loader and read-only afterwards; the
 * token cache (for a token file that rotates) is guarded by `lock`, so clients and watches on several threads can
 * share one config. Certificates and keys are kept in memory and handed to libcurl as blobs; nothing here writes a
 * file. Token values are never logged. */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

#include "ecs.h"
#include "k8s-internal.h"
#include "k8s.h"

#define YAML_MAX_BYTES (4u << 20)
#define YAML_MAX_DEPTH 64
#define FILE_MAX_BYTES (1u << 20)
#define SA_DIR_DEFAULT "/var/run/secrets/kubernetes.io/serviceaccount"

struct k8s_config {
        char *server;
        char *namespace_;
        char *ca;   /* PEM bundle, or NULL: the system's trust store */
        size_t ca_len;
        char *cert; /* client certificate PEM, or NULL */
        size_t cert_len;
        char *key;  /* client key PEM, or NULL */
        size_t key_len;
        bool insecure;
        char *tls_server_name;
        char *token;      /* a static token, or NULL */
        char *token_file; /* a token file re-read when it changes, or NULL */

        pthread_mutex_t lock; /* guards the four members below */
        char *token_cached;
        struct timespec token_mtime;
        off_t token_size;
        ino_t token_ino;
};

/* True when `s` holds a control character: such a value must never reach an HTTP header or URL. */
static bool has_ctl(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        return true;
        return false;
}

/* ---- YAML → JSON ---- */

static int yaml_fail(struct err *e, const yaml_parser_t *p, const char *what) {
        return err_set(e, -EINVAL, ERR_KIND_INVALID, "kubeconfig: %s at line %zu: %s", what,
                       (size_t) p->problem_mark.line + 1, p->problem ? p->problem : "invalid YAML");
}

/* Attach `v` (stolen) to the container on top of the stack: appended to an array, or stored under the pending key
 * of a mapping. */
static int attach(json_t **stack, char **keys, int depth, json_t *v, struct err *e) {
        json_t *top = stack[depth - 1];
        if (json_is_array(top))
                return json_array_append_new(top, v) == 0 ? 0
                                                          : err_set(e, -ENOMEM, ERR_KIND_INTERNAL, "Out of memory.");
        if (!keys[depth - 1]) {
                /* A key: must be a scalar. */
                if (!json_is_string(v)) {
                        json_decref(v);
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "kubeconfig: a mapping key is not a scalar.");
                }
                keys[depth - 1] = xstrdup(json_string_value(v));
                json_decref(v);
                return 0;
        }
        int r = json_object_set_new(top, keys[depth - 1], v);
        free(keys[depth - 1]);
        keys[depth - 1] = NULL;
        return r == 0 ? 0 : err_set(e, -ENOMEM, ERR_KIND_INTERNAL, "Out of memory.");
}

int k8s_yaml_to_json(const char *yaml, size_t len, json_t **ret, struct err *e) {
        if (len > YAML_MAX_BYTES)
                return err_set(e, -EFBIG, ERR_KIND_INVALID, "kubeconfig: larger than %u bytes.", YAML_MAX_BYTES);
        yaml_parser_t p;
        if (!yaml_parser_initialize(&p))
                return err_set(e, -ENOMEM, ERR_KIND_INTERNAL, "Out of memory.");
        yaml_parser_set_input_string(&p, (const unsigned char *) yaml, len);
        json_t *stack[YAML_MAX_DEPTH + 1] = {0};
        char *keys[YAML_MAX_DEPTH + 1] = {0};
        int depth = 0, r = 0;
        json_t *root = NULL;
        bool done = false;
        while (!done && r == 0) {
                yaml_event_t ev;
                if (!yaml_parser_parse(&p, &ev)) {
                        r = yaml_fail(e, &p, "parse error");
                        break;
                }
                json_t *v = NULL;
                switch (ev.type) {
                case YAML_STREAM_END_EVENT:
                case YAML_DOCUMENT_END_EVENT:
                        done = ev.type == YAML_STREAM_END_EVENT || root != NULL;
                        break;
                case YAML_ALIAS_EVENT:
                        r = err_set(e, -EINVAL, ERR_KIND_INVALID, "kubeconfig: YAML aliases are not supported (line "
                                    "%zu).", (size_t) ev.start_mark.line + 1);
                        break;
                case YAML_SCALAR_EVENT:
                        if (ev.data.scalar.anchor) {
                                r = err_set(e, -EINVAL, ERR_KIND_INVALID, "kubeconfig: YAML anchors are not "
                                            "supported (line %zu).", (size_t) ev.start_mark.line + 1);
                                break;
                        }
                        v = json_stringn((const char *) ev.data.scalar.value, ev.data.scalar.length);
                        if (!v) {
                                r = err_set(e, -EINVAL, ERR_KIND_INVALID, "kubeconfig: a value at line %zu is not "
                                            "UTF-8.", (size_t) ev.start_mark.line + 1);
                                break;
                        }
                        if (depth == 0) {
                                root = v;
                                done = true;
                        } else {
                                r = attach(stack, keys, depth, v, e);
                        }
                        break;
                case YAML_SEQUENCE_START_EVENT:
                case YAML_MAPPING_START_EVENT:
                        if ((ev.type == YAML_SEQUENCE_START_EVENT ? ev.data.sequence_start.anchor
                                                                  : ev.data.mapping_start.anchor)) {
                                r = err_set(e, -EINVAL, ERR_KIND_INVALID, "kubeconfig: YAML anchors are not "
                                            "supported (line %zu).", (size_t) ev.start_mark.line + 1);
                                break;
                        }
                        if (depth >= YAML_MAX_DEPTH) {
                                r = err_set(e, -EINVAL, ERR_KIND_INVALID, "kubeconfig: nested deeper than %d.",
                                            YAML_MAX_DEPTH);
                                break;
                        }
                        if (depth > 0 && json_is_object(stack[depth - 1]) && !keys[depth - 1]) {
                                r = err_set(e, -EINVAL, ERR_KIND_INVALID, "kubeconfig: a mapping key is not a scalar "
                                            "(line %zu).", (size_t) ev.start_mark.line + 1);
                                break;
                        }
                        stack[depth] = ev.type == YAML_SEQUENCE_START_EVENT ? json_array() : json_object();
                        keys[depth] = NULL;
                        depth++;
                        break;
                case YAML_SEQUENCE_END_EVENT:
                case YAML_MAPPING_END_EVENT:
                        if (depth == 0)
                                break;
                        depth--;
                        v = stack[depth];
                        stack[depth] = NULL;
                        free(keys[depth]);
                        keys[depth] = NULL;
                        if (depth == 0) {
                                root = v;
                                done = true;
                        } else {
                                r = attach(stack, keys, depth, v, e);
                        }
                        break;
                default:
                        break;
                }
                yaml_event_delete(&ev);
        }
        for (int i = 0; i < depth; i++) {
                json_decref(stack[i]);
                free(keys[i]);
        }
        yaml_parser_delete(&p);
        if (r < 0) {
                json_decref(root);
                return r;
        }
        if (!root)
                root = json_null();
        *ret = root;
        return 0;
}

/* ---- files and base64 ---- */

/* Read a whole file of at most `max` bytes; NUL-terminated. */
static int read_file(const char *path, size_t max, char **ret, size_t *ret_len, struct err *e) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return err_set(e, -errno, ERR_KIND_INVALID, "Cannot read %s: %s.", path, strerror(errno));
        _cleanup_free_ char *buf = xmalloc(max + 1);
        size_t len = 0;
        for (;;) {
                ssize_t n = read(fd, buf + len, max + 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return err_set(e, -errno, ERR_KIND_INVALID, "Cannot read %s: %s.", path, strerror(errno));
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > max)
                        return err_set(e, -EFBIG, ERR_KIND_INVALID, "%s is larger than %zu bytes.", path, max);
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

static int b64val(unsigned char ch) {
        if (ch >= 'A' && ch <= 'Z')
                return ch - 'A';
        if (ch >= 'a' && ch <= 'z')
                return ch - 'a' + 26;
        if (ch >= '0' && ch <= '9')
                return ch - '0' + 52;
        if (ch == '+')
                return 62;
        if (ch == '/')
                return 63;
        return -1;
}

/* Standard base64 (with padding, whitespace ignored) into a new NUL-terminated buffer. */
static int b64_decode(const char *in, char **ret, size_t *ret_len) {
        size_t n = strlen(in);
        _cleanup_free_ char *out = xmalloc(n / 4 * 3 + 4);
        size_t o = 0;
        uint32_t acc = 0;
        int bits = 0;
        bool pad = false;
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char) in[i];
                if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
                        continue;
                if (ch == '=') {
                        pad = true;
                        continue;
                }
                int v = b64val(ch);
                if (v < 0 || pad)
                        return -EINVAL;
                acc = (acc << 6) | (uint32_t) v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[o++] = (char) ((acc >> bits) & 0xff);
                }
        }
        out[o] = '\0';
        *ret = TAKE_PTR(out);
        *ret_len = o;
        return 0;
}

/* `path` as given, or joined to `base_dir` when relative, into `buf`. */
static int resolve_path(const char *base_dir, const char *path, char *buf, size_t size) {
        if (path[0] == '/' || !base_dir || !*base_dir)
                return str_printf(buf, size, "%s", path) < 0 ? -ENAMETOOLONG : 0;
        return str_printf(buf, size, "%s/%s", base_dir, path) < 0 ? -ENAMETOOLONG : 0;
}

/* A credential given inline (`data_key`, base64) or as a file (`file_key`): into ret and ret_len, or left NULL. */
static int load_blob(const json_t *obj, const char *data_key, const char *file_key, const char *base_dir,
                     const char *what, char **ret, size_t *ret_len, struct err *e) {
        const char *data = ecs_json_str(obj, data_key, NULL), *file = ecs_json_str(obj, file_key, NULL);
        if (data && *data) {
                if (b64_decode(data, ret, ret_len) < 0)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "kubeconfig: %s (%s) is not valid base64.", what,
                                       data_key);
                return 0;
        }
        if (file && *file) {
                char path[PATH_MAX];
                if (resolve_path(base_dir, file, path, sizeof(path)) < 0)
                        return err_set(e, -ENAMETOOLONG, ERR_KIND_INVALID, "kubeconfig: %s path is too long.", what);
                int r = read_file(path, FILE_MAX_BYTES, ret, ret_len, e);
                if (r < 0)
                        err_prefix(e, "kubeconfig %s", what);
                return r;
        }
        return 0;
}

/* ---- kubeconfig ---- */

/* The member `inner` of the entry named `name` in the list `list_key` ("clusters" → "cluster"). */
static const json_t *named_entry(const json_t *doc, const char *list_key, const char *inner, const char *name) {
        size_t i;
        const json_t *v;
        json_array_foreach(json_object_get(doc, list_key), i, v) {
                const char *n = ecs_json_str(v, "name", NULL);
                if (n && strcmp(n, name) == 0) {
                        const json_t *in = json_object_get(v, inner);
                        return in ? in : json_null();
                }
        }
        return NULL;
}

static bool yaml_true(const char *s) {
        return s && (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0 ||
                     strcmp(s, "yes") == 0 || strcmp(s, "on") == 0);
}

static struct k8s_config *config_new(void) {
        struct k8s_config *cfg = xcalloc(1, sizeof(*cfg));
        pthread_mutex_init(&cfg->lock, NULL);
        return cfg;
}

void k8s_config_free(struct k8s_config *cfg) {
        if (!cfg)
                return;
        free(cfg->server);
        free(cfg->namespace_);
        free(cfg->ca);
        if (cfg->key)
                explicit_bzero(cfg->key, cfg->key_len);
        free(cfg->key);
        free(cfg->cert);
        free(cfg->tls_server_name);
        if (cfg->token)
                explicit_bzero(cfg->token, strlen(cfg->token));
        free(cfg->token);
        free(cfg->token_file);
        if (cfg->token_cached)
                explicit_bzero(cfg->token_cached, strlen(cfg->token_cached));
        free(cfg->token_cached);
        pthread_mutex_destroy(&cfg->lock);
        free(cfg);
}

static void config_freep(struct k8s_config **p) {
        k8s_config_free(*p);
}

static int check_server(const char *server, struct err *e) {
        if (!server || !*server)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "kubeconfig: the cluster has no server.");
        if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "kubeconfig: server '%s' is not an http(s) URL.", server);
        if (has_ctl(server))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "kubeconfig: server URL contains control characters.");
        return 0;
}

int k8s_config_parse(const char *yaml, size_t len, const char *base_dir, const char *context, struct k8s_config **ret,
                     struct err *e) {
        json_auto_t *doc = NULL;
        int r = k8s_yaml_to_json(yaml, len, &doc, e);
        if (r < 0)
                return r;
        if (!json_is_object(doc))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "kubeconfig: the document is not a mapping.");
        const char *ctx_name = context && *context ? context : ecs_json_str(doc, "current-context", NULL);
        if (!ctx_name || !*ctx_name)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "kubeconfig: no context given and no current-context "
                               "set.");
        const json_t *ctx = named_entry(doc, "contexts", "context", ctx_name);
        if (!json_is_object(ctx))
                return err_set(e, -ENOENT, ERR_KIND_INVALID, "kubeconfig: context '%s' not found.", ctx_name);
        const char *cluster_name = ecs_json_str(ctx, "cluster", NULL), *user_name = ecs_json_str(ctx, "user", NULL);
        const json_t *cluster = cluster_name ? named_entry(doc, "clusters", "cluster", cluster_name) : NULL;
        if (!json_is_object(cluster))
                return err_set(e, -ENOENT, ERR_KIND_INVALID, "kubeconfig: cluster '%s' of context '%s' not found.",
                               cluster_name ? cluster_name : "", ctx_name);
        const json_t *user = user_name ? named_entry(doc, "users", "user", user_name) : NULL;
        if (user_name && *user_name && !user)
                return err_set(e, -ENOENT, ERR_KIND_INVALID, "kubeconfig: user '%s' of context '%s' not found.",
                               user_name, ctx_name);

        _cleanup_(config_freep) struct k8s_config *cfg = config_new();
        const char *server = ecs_json_str(cluster, "server", NULL);
        if ((r = check_server(server, e)) < 0)
                return r;
        cfg->server = xstrdup(server);
        size_t sl = strlen(cfg->server);
        while (sl > 0 && cfg->server[sl - 1] == '/')
                cfg->server[--sl] = '\0';
        const char *ns = ecs_json_str(ctx, "namespace", NULL);
        cfg->namespace_ = xstrdup(ns && *ns ? ns : "default");
        cfg->insecure = yaml_true(ecs_json_str(cluster, "insecure-skip-tls-verify", NULL));
        const char *tsn = ecs_json_str(cluster, "tls-server-name", NULL);
        if (tsn && *tsn)
                cfg->tls_server_name = xstrdup(tsn);
        if ((r = load_blob(cluster, "certificate-authority-data", "certificate-authority", base_dir,
                           "certificate authority", &cfg->ca, &cfg->ca_len, e)) < 0 ||
            (r = load_blob(user, "client-certificate-data", "client-certificate", base_dir, "client certificate",
                           &cfg->cert, &cfg->cert_len, e)) < 0 ||
            (r = load_blob(user, "client-key-data", "client-key", base_dir, "client key", &cfg->key, &cfg->key_len,
                           e)) < 0)
                return r;
        if (!cfg->cert != !cfg->key)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "kubeconfig: user '%s' has a client %s but no client "
                               "%s.", user_name ? user_name : "", cfg->cert ? "certificate" : "key",
                               cfg->cert ? "key" : "certificate");
        const char *token = ecs_json_str(user, "token", NULL), *token_file = ecs_json_str(user, "tokenFile", NULL);
        if (token && *token) {
                if (has_ctl(token))
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "kubeconfig: the token of user '%s' holds control "
                                       "characters.", user_name ? user_name : "");
                cfg->token = xstrdup(token);
        } else if (token_file && *token_file) {
                char path[PATH_MAX];
                if (resolve_path(base_dir, token_file, path, sizeof(path)) < 0)
                        return err_set(e, -ENAMETOOLONG, ERR_KIND_INVALID, "kubeconfig: tokenFile path is too long.");
                cfg->token_file = xstrdup(path);
                char probe[8];
                if ((r = k8s_config_token(cfg, probe, sizeof(probe), e)) < 0 && r != -ENOBUFS)
                        return r;
        }
        if (json_object_get(user, "exec") || json_object_get(user, "auth-provider"))
                return err_set(e, -ENOTSUP, ERR_KIND_INVALID, "kubeconfig: user '%s' authenticates with an exec "
                               "plugin or auth provider, which ecsd does not run; use a token, token file or client "
                               "certificate.", user_name ? user_name : "");
        if (ecs_json_str(user, "username", NULL) || ecs_json_str(user, "password", NULL))
                return err_set(e, -ENOTSUP, ERR_KIND_INVALID, "kubeconfig: user '%s' uses basic authentication, "
                               "which Kubernetes removed; use a token or client certificate.",
                               user_name ? user_name : "");
        *ret = TAKE_PTR(cfg);
        return 0;
}

static int load_in_cluster(struct k8s_config **ret, struct err *e) {
        const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
        const char *dir = getenv("ECSD_K8S_SA_DIR");
        if (!dir || !*dir)
                dir = SA_DIR_DEFAULT;
        if (!host || !*host || has_ctl(host) || strpbrk(host, "/@ ") || (port && (has_ctl(port) || strpbrk(port,
                                                                                                       "/@ "))))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "in-cluster config: KUBERNETES_SERVICE_HOST / "
                               "KUBERNETES_SERVICE_PORT are not a host and port.");
        _cleanup_(config_freep) struct k8s_config *cfg = config_new();
        char buf[PATH_MAX];
        /* An IPv6 address needs brackets in a URL. */
        if (str_printf(buf, sizeof(buf), strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
                       port && *port ? port : "443") < 0)
                return err_set(e, -ENAMETOOLONG, ERR_KIND_INVALID, "in-cluster config: host name too long.");
        cfg->server = xstrdup(buf);
        int r;
        str_printf(buf, sizeof(buf), "%s/ca.crt", dir);
        if ((r = read_file(buf, FILE_MAX_BYTES, &cfg->ca, &cfg->ca_len, e)) < 0) {
                err_prefix(e, "in-cluster config");
                return r;
        }
        str_printf(buf, sizeof(buf), "%s/token", dir);
        cfg->token_file = xstrdup(buf);
        char probe[8];
        if ((r = k8s_config_token(cfg, probe, sizeof(probe), e)) < 0 && r != -ENOBUFS) {
                err_prefix(e, "in-cluster config");
                return r;
        }
        str_printf(buf, sizeof(buf), "%s/namespace", dir);
        _cleanup_free_ char *ns = NULL;
        if (read_file(buf, 256, &ns, NULL, NULL) == 0) {
                ns[strcspn(ns, " \r\n\t")] = '\0';
                if (*ns)
                        cfg->namespace_ = TAKE_PTR(ns);
        }
        if (!cfg->namespace_)
                cfg->namespace_ = xstrdup("default");
        *ret = TAKE_PTR(cfg);
        return 0;
}

int k8s_config_load(const char *kubeconfig_path, const char *context, struct k8s_config **ret, struct err *e) {
        char path[PATH_MAX];
        if (!kubeconfig_path) {
                const char *host = getenv("KUBERNETES_SERVICE_HOST");
                const char *kc = getenv("KUBECONFIG");
                if (host && *host)
                        return load_in_cluster(ret, e);
                if (kc && *kc) {
                        /* KUBECONFIG is a ':'-separated list; kubectl merges them, ecsd reads the first. */
                        size_t n = strcspn(kc, ":");
                        if (str_printf(path, sizeof(path), "%.*s", (int) n, kc) < 0)
                                return err_set(e, -ENAMETOOLONG, ERR_KIND_INVALID, "KUBECONFIG path is too long.");
                } else {
                        const char *home = getenv("HOME");
                        if (!home || !*home)
                                return err_set(e, -ENOENT, ERR_KIND_INVALID, "No kubeconfig: not in a cluster, "
                                               "KUBECONFIG is unset and there is no HOME.");
                        if (str_printf(path, sizeof(path), "%s/.kube/config", home) < 0)
                                return err_set(e, -ENAMETOOLONG, ERR_KIND_INVALID, "HOME path is too long.");
                }
                kubeconfig_path = path;
        }
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = read_file(kubeconfig_path, YAML_MAX_BYTES, &text, &len, e);
        if (r < 0)
                return r;
        char dir[PATH_MAX];
        str_printf(dir, sizeof(dir), "%s", kubeconfig_path);
        char *slash = strrchr(dir, '/');
        if (slash)
                *slash = '\0';
        else
                str_printf(dir, sizeof(dir), ".");
        r = k8s_config_parse(text, len, slash ? (dir[0] ? dir : "/") : ".", context, ret, e);
        if (r < 0)
                err_prefix(e, "%s", kubeconfig_path);
        return r;
}

const char *k8s_config_server(const struct k8s_config *cfg) {
        return cfg->server;
}

const char *k8s_config_namespace(const struct k8s_config *cfg) {
        return cfg->namespace_;
}

/* Blob accessors for client.c. */
void k8s_config_tls(const struct k8s_config *cfg, struct k8s_tls *ret) {
        *ret = (struct k8s_tls){
                .ca = cfg->ca,
                .ca_len = cfg->ca_len,
                .cert = cfg->cert,
                .cert_len = cfg->cert_len,
                .key = cfg->key,
                .key_len = cfg->key_len,
                .insecure = cfg->insecure,
                .tls_server_name = cfg->tls_server_name,
        };
}

int k8s_config_token(struct k8s_config *cfg, char *buf, size_t size, struct err *e) {
        if (cfg->token) {
                size_t n = strlen(cfg->token);
                if (n >= size)
                        return -ENOBUFS;
                memcpy(buf, cfg->token, n + 1);
                return (int) n;
        }
        if (!cfg->token_file) {
                if (size > 0)
                        buf[0] = '\0';
                return 0;
        }
        pthread_mutex_lock(&cfg->lock);
        int r = 0;
        struct stat st;
        if (stat(cfg->token_file, &st) < 0) {
                /* Keep a cached token across a rotation that replaces the file (a symlink swap): it is still valid
                 * for a while. Without one, fail. */
                if (!cfg->token_cached)
                        r = err_set(e, -errno, ERR_KIND_INVALID, "Cannot read token file %s: %s.", cfg->token_file,
                                    strerror(errno));
        } else if (!cfg->token_cached || st.st_mtim.tv_sec != cfg->token_mtime.tv_sec ||
                   st.st_mtim.tv_nsec != cfg->token_mtime.tv_nsec || st.st_size != cfg->token_size ||
                   st.st_ino != cfg->token_ino) {
                char *text = NULL;
                size_t len = 0;
                r = read_file(cfg->token_file, 64 * 1024, &text, &len, e);
                if (r == 0) {
                        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
                                text[--len] = '\0';
                        if (len == 0 || has_ctl(text)) {
                                free(text);
                                r = err_set(e, -EINVAL, ERR_KIND_INVALID, "Token file %s is empty or holds control "
                                            "characters.", cfg->token_file);
                        } else {
                                if (cfg->token_cached)
                                        explicit_bzero(cfg->token_cached, strlen(cfg->token_cached));
                                free(cfg->token_cached);
                                cfg->token_cached = text;
                                cfg->token_mtime = st.st_mtim;
                                cfg->token_size = st.st_size;
                                cfg->token_ino = st.st_ino;
                        }
                }
        }
        if (r == 0 && cfg->token_cached) {
                size_t n = strlen(cfg->token_cached);
                if (n >= size)
                        r = -ENOBUFS;
                else {
                        memcpy(buf, cfg->token_cached, n + 1);
                        r = (int) n;
                }
        }
        pthread_mutex_unlock(&cfg->lock);
        return r;
}
