/* service.c — the Kubernetes Service in front of an express gateway service's Pods (docs/internals/express.md).
 *
 * One Service of type ClusterIP per express gateway service, selecting its Pods by ecsd's own labels and sending one
 * port to the container's port. Created when the express service is, replaced (its clusterIP kept) when its port
 * changes, deleted with it. Stateless: each call is one or two requests on the caller's client (not thread-safe,
 * as the client is not). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ecs.h"
#include "express.h"
#include "k8s-internal.h"
#include "k8s.h"

#define SERVICE_PATH_BYTES 1024

static int service_path(char *buf, size_t size, const char *ns, const char *name, struct err *e) {
        char ens[256], ename[256];
        if (!ns || !*ns || k8s_escape(ns, ens, sizeof(ens)) < 0 ||
            (name && (!*name || k8s_escape(name, ename, sizeof(ename)) < 0)))
                return err_set(e, -EINVAL, ERR_KIND_INTERNAL, "Kubernetes API: empty or oversized namespace or "
                                                              "service name.");
        int r = name ? str_printf(buf, size, "/api/v1/namespaces/%s/services/%s", ens, ename)
                     : str_printf(buf, size, "/api/v1/namespaces/%s/services", ens);
        if (r < 0)
                return err_set(e, -ENAMETOOLONG, ERR_KIND_INTERNAL, "Kubernetes API: path too long.");
        return 0;
}

json_t *k8s_service_manifest(const char *name, const json_t *selector, const json_t *labels, int port,
                             int target_port) {
        json_t *svc = json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:O, s:[{s:s, s:s, s:i, s:i}]}}", "apiVersion", "v1",
                                "kind", "Service", "metadata", "name", name, "spec", "type", "ClusterIP", "selector",
                                selector, "ports", "name", "http", "protocol", "TCP", "port", port, "targetPort",
                                target_port);
        if (svc && labels)
                json_object_set_new(json_object_get(svc, "metadata"), "labels", json_deep_copy(labels));
        return svc;
}

int k8s_service_apply(struct k8s_client *c, const char *ns, const char *name, const json_t *selector,
                      const json_t *labels, int port, int target_port, json_t **ret, struct err *e) {
        if (!k8s_dns_label_valid(name))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "'%s' is not a valid Kubernetes Service name.", name);
        if (port < 1 || port > 65535 || target_port < 1 || target_port > 65535)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "A Service port must be between 1 and 65535.");
        char path[SERVICE_PATH_BYTES];
        int r = service_path(path, sizeof(path), ns, NULL, e);
        if (r < 0)
                return r;
        json_auto_t *svc = k8s_service_manifest(name, selector, labels, port, target_port);
        if (!svc)
                return err_set(e, -ENOMEM, ERR_KIND_INTERNAL, "Kubernetes Service: out of memory.");
        struct err ce = {0};
        r = k8s_request(c, "POST", path, svc, NULL, ret, &ce);
        if (r != -EEXIST) {
                if (r < 0)
                        *e = ce;
                return r;
        }
        /* One of that name exists (an earlier try, or a port change): replace its spec, keeping the clusterIP the
         * API server gave it, under its resourceVersion so that a concurrent change fails instead of being lost. */
        if ((r = service_path(path, sizeof(path), ns, name, e)) < 0)
                return r;
        json_auto_t *old = NULL;
        if ((r = k8s_request(c, "GET", path, NULL, NULL, &old, e)) < 0)
                return r;
        const json_t *meta = json_object_get(old, "metadata"), *spec = json_object_get(old, "spec");
        json_object_set_new(json_object_get(svc, "metadata"), "resourceVersion",
                            json_string(ecs_json_str(meta, "resourceVersion", "")));
        static const char *const kept[] = {"clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"};
        for (size_t i = 0; i < ARRAY_SIZE(kept); i++) {
                json_t *v = json_object_get(spec, kept[i]);
                if (v)
                        json_object_set(json_object_get(svc, "spec"), kept[i], v);
        }
        return k8s_request(c, "PUT", path, svc, NULL, ret, e);
}

int k8s_service_delete(struct k8s_client *c, const char *ns, const char *name, struct err *e) {
        char path[SERVICE_PATH_BYTES];
        int r = service_path(path, sizeof(path), ns, name, e);
        if (r < 0)
                return r;
        return k8s_request(c, "DELETE", path, NULL, NULL, NULL, e);
}

int k8s_service_get(struct k8s_client *c, const char *ns, const char *name, json_t **ret, struct err *e) {
        char path[SERVICE_PATH_BYTES];
        int r = service_path(path, sizeof(path), ns, name, e);
        if (r < 0)
                return r;
        return k8s_request(c, "GET", path, NULL, NULL, ret, e);
}

/* ---- the express services' ingress hooks (express.h) ---- */

struct k8s_express_ingress {
        struct k8s_config *kube;
        enum k8s_ns_mode mode;
        char *ns;
        pthread_mutex_t lock; /* the client is not thread-safe; API threads call the hooks at once */
        struct k8s_client *client; /* made on first use */
};

int k8s_express_service_name(const char *cluster, const char *name, char *buf, size_t size, struct err *e) {
        char joined[2 * 256 + 2];
        str_printf(joined, sizeof(joined), "%s-%s", cluster, name);
        return k8s_namespace_for_cluster(K8S_NS_PER_CLUSTER, "ecsd-x-", joined, buf, size, e);
}

static int ingress_client(struct k8s_express_ingress *g, struct err *e) {
        if (g->client)
                return 0;
        struct k8s_client_options o = {.connect_timeout_ms = 3000, .request_timeout_ms = 10000};
        return k8s_client_new(g->kube, &o, &g->client, e);
}

static int ingress_ns(struct k8s_express_ingress *g, const char *cluster, char *buf, size_t size, struct err *e) {
        return k8s_namespace_for_cluster(g->mode, g->ns, cluster, buf, size, e);
}

static int expose(void *userdata, const char *region, const char *cluster, const char *name, const char *family,
                  int port, char *endpoint, size_t size, struct err *e) {
        (void) region;
        struct k8s_express_ingress *g = userdata;
        char ns[64], sname[64], fam[64], cl[64];
        int r = ingress_ns(g, cluster, ns, sizeof(ns), e);
        if (r >= 0)
                r = k8s_express_service_name(cluster, name, sname, sizeof(sname), e);
        if (r < 0)
                return r;
        k8s_label_value(family, fam, sizeof(fam));
        k8s_label_value(cluster, cl, sizeof(cl));
        json_auto_t *selector = json_pack("{s:s, s:s, s:s}", K8S_LABEL_MANAGED_BY, "ecsd", K8S_LABEL_FAMILY, fam,
                                          K8S_LABEL_CLUSTER, cl);
        json_auto_t *labels = json_pack("{s:s, s:s}", K8S_LABEL_MANAGED_BY, "ecsd", K8S_LABEL_CLUSTER, cl);
        json_auto_t *svc = NULL;
        pthread_mutex_lock(&g->lock);
        r = ingress_client(g, e);
        if (r >= 0)
                r = k8s_service_apply(g->client, ns, sname, selector, labels, port, port, &svc, e);
        pthread_mutex_unlock(&g->lock);
        if (r < 0)
                return r;
        /* The clusterIP is reachable from every Pod and node without the cluster's DNS domain. */
        const char *ip = ecs_json_str(json_object_get(svc, "spec"), "clusterIP", NULL);
        if (ip && *ip && strcmp(ip, "None") != 0)
                str_printf(endpoint, size, strchr(ip, ':') ? "http://[%s]:%d/" : "http://%s:%d/", ip, port);
        else
                str_printf(endpoint, size, "http://%s.%s.svc:%d/", sname, ns, port);
        return 0;
}

static int unexpose(void *userdata, const char *region, const char *cluster, const char *name, struct err *e) {
        (void) region;
        struct k8s_express_ingress *g = userdata;
        char ns[64], sname[64];
        int r = ingress_ns(g, cluster, ns, sizeof(ns), e);
        if (r >= 0)
                r = k8s_express_service_name(cluster, name, sname, sizeof(sname), e);
        if (r < 0)
                return r;
        struct err de = {0};
        pthread_mutex_lock(&g->lock);
        r = ingress_client(g, e);
        if (r >= 0)
                r = k8s_service_delete(g->client, ns, sname, &de);
        pthread_mutex_unlock(&g->lock);
        if (r == -ENOENT)
                return 0;
        if (r < 0 && de.msg[0])
                *e = de;
        return r;
}

int k8s_express_ingress_new(struct k8s_config *kube, enum k8s_ns_mode mode, const char *ns,
                            struct k8s_express_ingress **ret, struct rt_express_ingress *ret_hooks) {
        struct k8s_express_ingress *g = xcalloc(1, sizeof(*g));
        g->kube = kube;
        g->mode = mode;
        g->ns = xstrdup(ns ? ns : "");
        pthread_mutex_init(&g->lock, NULL);
        *ret_hooks = (struct rt_express_ingress){.expose = expose, .unexpose = unexpose, .userdata = g};
        *ret = g;
        return 0;
}

void k8s_express_ingress_free(struct k8s_express_ingress *g) {
        if (!g)
                return;
        k8s_client_free(g->client);
        pthread_mutex_destroy(&g->lock);
        free(g->ns);
        free(g);
}
