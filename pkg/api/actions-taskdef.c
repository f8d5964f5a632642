/* actions-taskdef.c — RegisterTaskDefinition, DescribeTaskDefinition, ListTaskDefinitions,
 * ListTaskDefinitionFamilies, DeregisterTaskDefinition, DeleteTaskDefinitions.
 *
 * The stored document is the shape-checked request (so it echoes back member for member) plus what ECS adds on
 * registration: revision, ARN, status, registeredAt/By, compatibilities, requiresAttributes, and the defaults ECS
 * writes into each container (cpu 0, essential true, empty lists for portMappings/environment/mountPoints/
 * volumesFrom, protocol tcp and the derived hostPort on each port mapping). Tags are kept in the tags table. */
#include <string.h>

#include "api-internal.h"
#include "taskdef-validate.h"

/* Fill `key` with `value` (stolen) only when the object does not have it already. */
static void set_default(json_t *obj, const char *key, json_t *value) {
        if (!json_object_get(obj, key))
                json_object_set_new(obj, key, value);
        else
                json_decref(value);
}

static void container_defaults(json_t *c, const char *network_mode) {
        set_default(c, "cpu", json_integer(0));
        set_default(c, "essential", json_true());
        set_default(c, "portMappings", json_array());
        set_default(c, "environment", json_array());
        set_default(c, "mountPoints", json_array());
        set_default(c, "volumesFrom", json_array());
        size_t i;
        json_t *pm;
        json_array_foreach(json_object_get(c, "portMappings"), i, pm) {
                set_default(pm, "protocol", json_string("tcp"));
                /* In awsvpc and host mode the host port is the container port; ECS writes it back. */
                json_t *cport = json_object_get(pm, "containerPort");
                if (cport && (strcmp(network_mode, "awsvpc") == 0 || strcmp(network_mode, "host") == 0))
                        set_default(pm, "hostPort", json_integer(json_integer_value(cport)));
        }
}

/* requiresAttributes the way the ECS scheduler derives them from a definition (the capabilities a container
 * instance must advertise). Only the attributes that follow directly from members are computed. */
static json_t *required_attributes(const json_t *td) {
        json_t *attrs = json_array();
        bool health = false, ordering = false, secrets = false, awslogs = false;
        size_t i;
        const json_t *c;
        json_array_foreach(json_object_get(td, "containerDefinitions"), i, c) {
                health |= json_object_get(c, "healthCheck") != NULL;
                ordering |= json_array_size(json_object_get(c, "dependsOn")) > 0;
                secrets |= json_array_size(json_object_get(c, "secrets")) > 0;
                const char *driver = json_string_value(json_object_get(json_object_get(c, "logConfiguration"),
                                                                       "logDriver"));
                awslogs |= driver && strcmp(driver, "awslogs") == 0;
        }
        struct {
                bool on;
                const char *name;
        } table[] = {
                {json_object_get(td, "taskRoleArn") != NULL, "com.amazonaws.ecs.capability.task-iam-role"},
                {json_object_get(td, "executionRoleArn") != NULL && awslogs, "ecs.capability.execution-role-awslogs"},
                {awslogs, "com.amazonaws.ecs.capability.logging-driver.awslogs"},
                {health, "ecs.capability.container-health-check"},
                {ordering, "ecs.capability.container-ordering"},
                {secrets, "ecs.capability.secrets.ssm.environment-variables"},
                {strcmp(ecs_json_str(td, "networkMode", "bridge"), "awsvpc") == 0, "ecs.capability.task-eni"},
        };
        for (size_t k = 0; k < ARRAY_SIZE(table); k++)
                if (table[k].on)
                        json_array_append_new(attrs, json_pack("{s:s}", "name", table[k].name));
        return attrs;
}

/* ECS stores task-level cpu and memory as integer strings: "1 vCPU" becomes "1024", "0.5 GB" becomes "512".
 * The validator has already accepted both forms. */
static void normalize_task_size(json_t *doc) {
        static const struct {
                const char *key;
                int (*parse)(const char *s, int64_t *ret);
        } sizes[] = {{"cpu", ecs_taskdef_cpu_parse}, {"memory", ecs_taskdef_memory_parse}};
        for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
                const char *v = ecs_json_str(doc, sizes[i].key, NULL);
                int64_t n;
                char buf[32];
                if (v && sizes[i].parse(v, &n) >= 0 && str_printf(buf, sizeof(buf), "%lld", (long long) n) >= 0)
                        json_object_set_new(doc, sizes[i].key, json_string(buf));
        }
}

int api_register_task_definition(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        int r = ecs_taskdef_validate(in, e);
        if (r < 0)
                return r;
        const json_t *tags = json_object_get(in, "tags");
        r = api_tags_validate(tags, e);
        if (r < 0)
                return r;

        json_auto_t *doc = json_deep_copy(in);
        json_object_del(doc, "tags");
        normalize_task_size(doc);
        const char *network_mode = ecs_json_str(doc, "networkMode", "bridge");
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(doc, "containerDefinitions"), i, c)
                container_defaults(c, network_mode);
        set_default(doc, "volumes", json_array());
        set_default(doc, "placementConstraints", json_array());
        json_object_set_new(doc, "status", json_string("ACTIVE"));
        json_object_set_new(doc, "requiresAttributes", required_attributes(doc));
        json_auto_t *compat = json_pack("[s]", "EC2");
        if (ecs_json_list_has(json_object_get(doc, "requiresCompatibilities"), "FARGATE") ||
            (strcmp(network_mode, "awsvpc") == 0 && json_object_get(doc, "cpu") && json_object_get(doc, "memory")))
                json_array_append_new(compat, json_string("FARGATE"));
        json_object_set(doc, "compatibilities", compat);
        json_object_set_new(doc, "registeredAt", ecs_timestamp_now());
        char by[64];
        str_printf(by, sizeof(by), "arn:aws:iam::%s:root", call->account);
        json_object_set_new(doc, "registeredBy", json_string(by));

        r = rt_taskdef_register(call->store, call->region, call->account, doc, e);
        if (r < 0)
                return r;
        *out = json_pack("{s:O}", "taskDefinition", doc);
        if (json_array_size(tags) > 0) {
                r = rt_tags_put(call->store, ecs_json_str(doc, "taskDefinitionArn", ""), tags, e);
                if (r < 0) {
                        json_decref(*out);
                        return r;
                }
                json_object_set_new(*out, "tags", json_deep_copy(tags));
        }
        return 0;
}

/* Look a task definition up by family, family:revision or ARN. */
static int taskdef_lookup(struct api_call *call, const char *ref, bool need_revision, json_t **ret, struct err *e) {
        char family[ECS_NAME_MAX + 1];
        int64_t rev;
        int r = ecs_taskdef_ref_resolve(ref, call->region, call->account, family, &rev, e);
        if (r < 0)
                return r;
        if (need_revision && rev == 0)
                return err_set(e, -EINVAL, ERR_KIND_CLIENT,
                               "The task definition must be given as family:revision or as a full ARN.");
        return rt_taskdef_get(call->store, call->region, family, rev, ret, e);
}

int api_describe_task_definition(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        if (!ecs_json_list_has(json_object_get(in, "include"), "TAGS")) {
                /* Without tags the answer is {"taskDefinition": the stored document}: written as text, byte for
                 * byte what decoding and encoding it again gives (the store wrote it with the same encoder). */
                char family[ECS_NAME_MAX + 1];
                int64_t rev;
                int r = ecs_taskdef_ref_resolve(ecs_json_str(in, "taskDefinition", ""), call->region, call->account,
                                                family, &rev, e);
                if (r < 0)
                        return r;
                _cleanup_free_ char *text = NULL;
                size_t len = 0;
                if ((r = rt_taskdef_doc_text(call->store, call->region, family, rev, &text, &len, e)) < 0)
                        return r;
                static const char head[] = "{\"taskDefinition\":";
                api_body_append(&call->body, head, sizeof(head) - 1);
                api_body_append(&call->body, text, len);
                api_body_append(&call->body, "}", 1);
                *out = NULL;
                return 0;
        }
        json_auto_t *doc = NULL;
        int r = taskdef_lookup(call, ecs_json_str(in, "taskDefinition", ""), false, &doc, e);
        if (r < 0)
                return r;
        *out = json_pack("{s:O}", "taskDefinition", doc);
        if (ecs_json_list_has(json_object_get(in, "include"), "TAGS")) {
                json_t *tags = NULL;
                r = rt_tags_get(call->store, ecs_json_str(doc, "taskDefinitionArn", ""), &tags, e);
                if (r < 0) {
                        json_decref(*out);
                        return r;
                }
                json_object_set_new(*out, "tags", tags);
        }
        return 0;
}

int api_list_task_definitions(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        int limit;
        int r = ecs_page_max_results(in, ECS_PAGE_DEFAULT, 100, &limit, e);
        if (r < 0)
                return r;
        /* familyPrefix is, despite its name, an exact family name in ECS's ListTaskDefinitions. */
        struct rt_taskdef_query q = {
                .family = ecs_json_str(in, "familyPrefix", NULL),
                .status = ecs_json_str(in, "status", "ACTIVE"),
                .descending = strcmp(ecs_json_str(in, "sort", "ASC"), "DESC") == 0,
                .limit = limit + 1,
        };
        char after[ECS_PAGE_KEY_MAX], after_family[ECS_NAME_MAX + 1];
        const char *token = ecs_json_str(in, "nextToken", NULL);
        if (token) {
                r = ecs_page_token_decode("task-definitions", token, after, e);
                if (r < 0)
                        return r;
                /* The key is the last "family:revision" listed: split by the one family:revision parser. */
                if (strncmp(after, "arn:", 4) == 0 ||
                    ecs_taskdef_ref_resolve(after, call->region, call->account, after_family, &q.after_revision,
                                            NULL) < 0 ||
                    q.after_revision == 0)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid nextToken.");
                q.after_family = after_family;
        }
        json_auto_t *rows = NULL;
        r = rt_taskdef_list(call->store, call->region, &q, &rows, e);
        if (r < 0)
                return r;
        json_auto_t *arns = json_array();
        size_t i;
        const json_t *row;
        json_array_foreach(rows, i, row) {
                if (i == (size_t) limit)
                        break;
                json_array_append_new(arns, json_string(ecs_json_str(row, "arn", "")));
        }
        *out = json_pack("{s:O}", "taskDefinitionArns", arns);
        if (json_array_size(rows) > (size_t) limit) {
                const json_t *last = json_array_get(rows, (size_t) limit - 1);
                char key[ECS_PAGE_KEY_MAX], next[ECS_PAGE_TOKEN_MAX];
                str_printf(key, sizeof(key), "%s:%lld", ecs_json_str(last, "family", ""),
                           (long long) json_integer_value(json_object_get(last, "revision")));
                r = ecs_page_token_encode("task-definitions", key, next, sizeof(next));
                ASSERT(r >= 0);
                json_object_set_new(*out, "nextToken", json_string(next));
        }
        return 0;
}

int api_list_task_definition_families(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        int limit;
        int r = ecs_page_max_results(in, ECS_PAGE_DEFAULT, 100, &limit, e);
        if (r < 0)
                return r;
        char after[ECS_PAGE_KEY_MAX] = "";
        const char *token = ecs_json_str(in, "nextToken", NULL);
        if (token && (r = ecs_page_token_decode("families", token, after, e)) < 0)
                return r;
        json_auto_t *names = NULL;
        r = rt_taskdef_families(call->store, call->region, ecs_json_str(in, "familyPrefix", NULL),
                                ecs_json_str(in, "status", "ACTIVE"), after, limit + 1, &names, e);
        if (r < 0)
                return r;
        bool more = json_array_size(names) > (size_t) limit;
        if (more)
                json_array_remove(names, (size_t) limit);
        *out = json_pack("{s:O}", "families", names);
        if (more) {
                char next[ECS_PAGE_TOKEN_MAX];
                r = ecs_page_token_encode("families", json_string_value(json_array_get(names, (size_t) limit - 1)),
                                          next, sizeof(next));
                ASSERT(r >= 0);
                json_object_set_new(*out, "nextToken", json_string(next));
        }
        return 0;
}

int api_deregister_task_definition(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        json_auto_t *doc = NULL;
        int r = taskdef_lookup(call, ecs_json_str(in, "taskDefinition", ""), true, &doc, e);
        if (r < 0)
                return r;
        if (strcmp(ecs_json_str(doc, "status", ""), "ACTIVE") == 0) {
                json_object_set_new(doc, "status", json_string("INACTIVE"));
                json_object_set_new(doc, "deregisteredAt", ecs_timestamp_now());
                r = rt_taskdef_update(call->store, call->region, doc, e);
                if (r < 0)
                        return r;
        }
        *out = json_pack("{s:O}", "taskDefinition", doc);
        return 0;
}

/* The ARN a task definition reference names ("web:3" → arn:...:task-definition/web:3), for failure entries; the
 * reference itself when it does not parse as family:revision. */
static const char *taskdef_ref_arn(struct api_call *call, const char *ref, char *buf, size_t size) {
        char family[ECS_NAME_MAX + 1], resource[ECS_NAME_MAX + 32];
        int64_t rev;
        if (ecs_taskdef_ref_resolve(ref, call->region, call->account, family, &rev, NULL) < 0 || rev == 0 ||
            str_printf(resource, sizeof(resource), "%s:%lld", family, (long long) rev) < 0 ||
            ecs_arn_format(buf, size, call->region, call->account, "task-definition", resource) < 0)
                return ref;
        return buf;
}

int api_delete_task_definitions(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        const json_t *refs = json_object_get(in, "taskDefinitions");
        if (json_array_size(refs) > 10)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "At most 10 task definitions can be deleted at once.");
        json_auto_t *deleted = json_array();
        json_auto_t *failures = json_array();
        char arn[ECS_ARN_MAX];
        size_t i;
        const json_t *ref;
        json_array_foreach(refs, i, ref) {
                const char *s = json_string_value(ref);
                struct err lookup = {0};
                json_t *doc = NULL;
                int r = taskdef_lookup(call, s, true, &doc, &lookup);
                if (r < 0 && lookup.kind == ERR_KIND_INTERNAL) {
                        *e = lookup;
                        return r;
                }
                if (r < 0) {
                        json_array_append_new(failures, json_pack("{s:s, s:s, s:s}", "arn",
                                                                  taskdef_ref_arn(call, s, arn, sizeof(arn)), "reason",
                                                                  "TASK_DEFINITION_NOT_FOUND", "detail", lookup.msg));
                        continue;
                }
                const char *status = ecs_json_str(doc, "status", "");
                if (strcmp(status, "ACTIVE") == 0) {
                        json_array_append_new(
                                failures,
                                json_pack("{s:s, s:s, s:s}", "arn", ecs_json_str(doc, "taskDefinitionArn", s), "reason",
                                          "TASK_DEFINITION_IN_USE",
                                          "detail",
                                          "The specified task definition is still in ACTIVE status. Please deregister "
                                          "the target and try again."));
                        json_decref(doc);
                        continue;
                }
                if (strcmp(status, "INACTIVE") == 0) {
                        json_object_set_new(doc, "status", json_string("DELETE_IN_PROGRESS"));
                        json_object_set_new(doc, "deleteRequestedAt", ecs_timestamp_now());
                        r = rt_taskdef_update(call->store, call->region, doc, e);
                        if (r < 0) {
                                json_decref(doc);
                                return r;
                        }
                }
                json_array_append_new(deleted, doc);
        }
        *out = json_pack("{s:O, s:O}", "taskDefinitions", deleted, "failures", failures);
        return 0;
}
