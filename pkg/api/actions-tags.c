/* actions-tags.c — TagResource, UntagResource, ListTagsForResource.
 *
 * Tags are stored per ARN. A tag call first proves the ARN names an existing resource of this region and account (a
 * cluster, a task definition revision, a task, a capacity provider of this account, a container instance, a daemon or
 * a daemon task definition): an
 * unknown cluster is ClusterNotFoundException, any other unknown resource ResourceNotFoundException, and a malformed
 * ARN InvalidParameterException, as the ECS model lists them. */
#include <string.h>

#include "api-internal.h"
#include "instances.h"

/* `missing_kind` is the error an unknown non-cluster resource gets: the ECS model lists ResourceNotFoundException
 * for TagResource and UntagResource, but not for ListTagsForResource, which answers InvalidParameterException. */
static int resource_check(struct api_call *call, const char *arn_str, int missing_kind, struct err *e) {
        struct ecs_arn arn;
        int r = ecs_arn_parse(arn_str, &arn, e);
        if (r < 0)
                return r;
        bool ours = strcmp(arn.region, call->region) == 0 && strcmp(arn.account, call->account) == 0;
        json_auto_t *doc = NULL;
        if (strcmp(arn.type, "cluster") == 0) {
                if (!ours || !ecs_name_valid(arn.resource))
                        return err_set(e, -ENOENT, ERR_KIND_CLUSTER_NOT_FOUND, "Cluster not found.");
                r = rt_cluster_get(call->store, call->region, arn.resource, &doc, e);
                if (r >= 0 && strcmp(ecs_json_str(doc, "status", ""), "ACTIVE") != 0)
                        r = err_set(e, -ENOENT, ERR_KIND_CLUSTER_NOT_FOUND, "Cluster not found.");
                return r;
        }
        if (strcmp(arn.type, "task-definition") == 0 && ours) {
                char family[ECS_NAME_MAX + 1];
                int64_t rev;
                struct err ignored = {0};
                r = ecs_taskdef_ref_resolve(arn.resource, call->region, call->account, family, &rev, &ignored);
                if (r >= 0 && rev > 0) {
                        r = rt_taskdef_get(call->store, call->region, family, rev, &doc, e);
                        if (r != -ENOENT)
                                return r; /* found, or a store failure */
                }
        }
        if (strcmp(arn.type, "task") == 0 && ours) {
                const char *id = strrchr(arn.resource, '/');
                id = id ? id + 1 : arn.resource;
                json_auto_t *task = NULL;
                struct err ignored = {0};
                r = rt_task_get(call->store, id, &task, NULL, &ignored);
                if (r >= 0 && strcmp(ecs_json_str(task, "taskArn", ""), arn_str) == 0)
                        return 0;
        }
        if (strcmp(arn.type, "capacity-provider") == 0 && ours && api_capacity_provider_taggable(call, arn.resource))
                return 0;
        if (ours && api_daemon_taggable(call, &arn, arn_str))
                return 0;
        if (strcmp(arn.type, "container-instance") == 0 && ours && strchr(arn.resource, '/')) {
                char cluster[ECS_NAME_MAX + 1];
                const char *slash = strchr(arn.resource, '/');
                str_printf(cluster, sizeof(cluster), "%.*s", (int) (slash - arn.resource), arn.resource);
                json_auto_t *all = NULL;
                struct err ignored = {0};
                if (ecs_name_valid(cluster) &&
                    rt_instances_all(api_instances(call->api), call->region, call->account, cluster, &all,
                                     &ignored) >= 0 &&
                    rt_instances_find(all, call->region, cluster, arn_str))
                        return 0;
        }
        return err_set(e, -ENOENT, missing_kind, "The specified resource could not be found.");
}

/* The tags a resource would have after adding `tags` must still number at most 50. */
static int tags_limit_check(struct api_call *call, const char *arn, const json_t *tags, struct err *e) {
        json_auto_t *existing = NULL;
        int r = rt_tags_get(call->store, arn, &existing, e);
        if (r < 0)
                return r;
        size_t count = json_array_size(existing);
        size_t i, j;
        const json_t *tag, *old;
        json_array_foreach(tags, i, tag) {
                bool replaces = false;
                json_array_foreach(existing, j, old)
                        replaces |= strcmp(ecs_json_str(old, "key", ""), ecs_json_str(tag, "key", "")) == 0;
                count += !replaces;
        }
        if (count > 50)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "A resource can have at most 50 tags.");
        return 0;
}

int api_tag_resource(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        const char *arn = ecs_json_str(in, "resourceArn", "");
        const json_t *tags = json_object_get(in, "tags");
        int r = api_tags_validate(tags, e);
        if (r >= 0)
                r = resource_check(call, arn, ERR_KIND_NOT_FOUND, e);
        if (r >= 0)
                r = tags_limit_check(call, arn, tags, e);
        if (r >= 0)
                r = rt_tags_put(call->store, arn, tags, e);
        if (r < 0)
                return r;
        *out = json_object();
        return 0;
}

int api_untag_resource(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        const char *arn = ecs_json_str(in, "resourceArn", "");
        int r = resource_check(call, arn, ERR_KIND_NOT_FOUND, e);
        if (r >= 0)
                r = rt_tags_remove(call->store, arn, json_object_get(in, "tagKeys"), e);
        if (r < 0)
                return r;
        *out = json_object();
        return 0;
}

int api_list_tags_for_resource(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        const char *arn = ecs_json_str(in, "resourceArn", "");
        int r = resource_check(call, arn, ERR_KIND_INVALID, e);
        json_t *tags = NULL;
        if (r >= 0)
                r = rt_tags_get(call->store, arn, &tags, e);
        if (r < 0)
                return r;
        *out = json_pack("{s:o}", "tags", tags);
        return 0;
}
