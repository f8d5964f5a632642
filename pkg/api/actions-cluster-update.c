/* actions-cluster-update.c — UpdateCluster and UpdateClusterSettings.
 *
 * Both rewrite the stored cluster document (actions-cluster.c) in place: settings are merged by name (the only
 * name, containerInsights, takes enhanced, enabled or disabled), configuration and serviceConnectDefaults are
 * replaced. Nothing here changes how tasks run: ecsd sends no metrics and keeps no execute-command sessions, so these
 * are stored and echoed for the clients (Terraform, CDK) that set them and read them back. The read-modify-write
 * runs under api->clusters_lock held exclusively, so it cannot interleave with DeleteCluster or another update. */
#include <string.h>

#include "api-internal.h"

int api_cluster_settings_check(const json_t *settings, struct err *e) {
        size_t i;
        const json_t *s;
        json_array_foreach(settings, i, s) {
                /* The model's enum already limits the name; a missing one is the only way it can be wrong here. */
                const char *name = ecs_json_str(s, "name", NULL);
                const char *value = ecs_json_str(s, "value", NULL);
                if (!name)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "A cluster setting needs a name.");
                if (!value || (strcmp(value, "enabled") != 0 && strcmp(value, "disabled") != 0 &&
                               strcmp(value, "enhanced") != 0))
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "The value of cluster setting %s must be enhanced, enabled or disabled.", name);
        }
        return 0;
}

/* Merge `settings` into doc.settings by name, keeping the stored order and appending new names. */
static void settings_merge(json_t *doc, const json_t *settings) {
        json_t *stored = json_object_get(doc, "settings");
        if (!json_is_array(stored)) {
                stored = json_array();
                json_object_set_new(doc, "settings", stored);
        }
        size_t i, k;
        const json_t *s;
        json_t *old;
        json_array_foreach(settings, i, s) {
                const char *name = ecs_json_str(s, "name", "");
                bool found = false;
                json_array_foreach(stored, k, old) {
                        if (strcmp(ecs_json_str(old, "name", ""), name) == 0) {
                                json_array_set_new(stored, k, json_deep_copy(s));
                                found = true;
                                break;
                        }
                }
                if (!found)
                        json_array_append_new(stored, json_deep_copy(s));
        }
}

int api_cluster_configuration_check(const json_t *configuration, struct err *e) {
        const json_t *exec = json_object_get(configuration, "executeCommandConfiguration");
        const char *logging = ecs_json_str(exec, "logging", "DEFAULT");
        if (strcmp(logging, "OVERRIDE") == 0 && !json_object_get(exec, "logConfiguration"))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "When logging is OVERRIDE, logConfiguration must be provided in "
                               "executeCommandConfiguration.");
        if (strcmp(logging, "OVERRIDE") != 0 && json_object_get(exec, "logConfiguration"))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "logConfiguration can be given only when logging is OVERRIDE.");
        return 0;
}

/* The cluster named by in.cluster (ACTIVE) with the update in `in` applied and stored; the answer as ECS gives it. */
static int cluster_update(struct api_call *call, const json_t *in, bool settings_only, json_t **out, struct err *e) {
        const json_t *settings = json_object_get(in, "settings");
        int r = api_cluster_settings_check(settings, e);
        if (r < 0)
                return r;
        const json_t *configuration = settings_only ? NULL : json_object_get(in, "configuration");
        const json_t *connect = settings_only ? NULL : json_object_get(in, "serviceConnectDefaults");
        if (configuration && (r = api_cluster_configuration_check(configuration, e)) < 0)
                return r;
        char name[ECS_NAME_MAX + 1];
        json_auto_t *doc = NULL;
        if ((r = api_cluster_active(call, ecs_json_str(in, "cluster", NULL), name, &doc, e)) < 0)
                return r;
        settings_merge(doc, settings);
        if (configuration)
                json_object_set_new(doc, "configuration", json_deep_copy(configuration));
        if (connect) {
                /* ECS: an empty namespace removes the cluster's Service Connect default. */
                if (ecs_json_str(connect, "namespace", "")[0] == '\0')
                        json_object_del(doc, "serviceConnectDefaults");
                else
                        json_object_set_new(doc, "serviceConnectDefaults",
                                            json_pack("{s:s}", "namespace", ecs_json_str(connect, "namespace", "")));
        }
        if ((r = rt_cluster_put(call->store, call->region, name, doc, e)) < 0)
                return r;
        if ((r = api_cluster_view(call, doc, API_CLUSTER_FULL, e)) < 0)
                return r;
        *out = json_pack("{s:O}", "cluster", doc);
        return 0;
}

int api_update_cluster(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        pthread_rwlock_wrlock(&call->api->clusters_lock);
        int r = cluster_update(call, in, false, out, e);
        pthread_rwlock_unlock(&call->api->clusters_lock);
        return r;
}

int api_update_cluster_settings(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        pthread_rwlock_wrlock(&call->api->clusters_lock);
        int r = cluster_update(call, in, true, out, e);
        pthread_rwlock_unlock(&call->api->clusters_lock);
        return r;
}
