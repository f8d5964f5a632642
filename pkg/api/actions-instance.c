/* actions-instance.c — container instances and attributes: ListContainerInstances, DescribeContainerInstances,
 * RegisterContainerInstance, DeregisterContainerInstance, UpdateContainerInstancesState, UpdateContainerAgent,
 * PutAttributes, ListAttributes, DeleteAttributes.
 *
 * The instances come from pkg/runtime/instances.h: the backend's hosts (the Docker engine, each schedulable node) and
 * the external instances clients register. Every check runs before anything is written, so a bad request changes
 * nothing. */
#include <string.h>

#include "api-internal.h"
#include "instances.h"
#include "placement.h"
#include "scheduler.h"

#define DESCRIBE_MAX 100
#define STATE_MAX 10
#define ATTRIBUTES_PER_CALL 10
#define CUSTOM_ATTRIBUTES_MAX 10
#define ATTRIBUTE_MAX 128

static struct rt_instances *instances_of(struct api_call *call) {
        return api_instances(call->api);
}

/* Remove ecsd's private member; tags only when asked for. */
static json_t *public_doc(const json_t *doc) {
        json_t *d = json_deep_copy(doc);
        json_object_del(d, "_ecsd");
        json_object_del(d, "tags");
        return d;
}

static const char *doc_id(const json_t *doc) {
        return ecs_json_str(json_object_get(doc, "_ecsd"), "id", "");
}

static bool is_external(const json_t *doc) {
        return json_is_true(json_object_get(json_object_get(doc, "_ecsd"), "external"));
}

/* The cluster and every instance of it. */
static int load(struct api_call *call, const json_t *in, char *cluster, json_t **ret_all, struct err *e) {
        json_auto_t *cluster_doc = NULL;
        int r = api_cluster_active(call, ecs_json_str(in, "cluster", NULL), cluster, &cluster_doc, e);
        if (r < 0)
                return r;
        return rt_instances_all(instances_of(call), call->region, call->account, cluster, ret_all, e);
}

static int cmp_docs(const void *x, const void *y) {
        const json_t *const *a = x, *const *b = y;
        return strcmp(doc_id(*a), doc_id(*b));
}

int api_list_container_instances(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        char cluster[ECS_NAME_MAX + 1];
        int limit;
        int r = ecs_page_max_results(in, ECS_PAGE_DEFAULT, 100, &limit, e);
        if (r < 0)
                return r;
        char after[ECS_PAGE_KEY_MAX] = "";
        const char *token = ecs_json_str(in, "nextToken", NULL);
        if (token && (r = ecs_page_token_decode("ListContainerInstances", token, after, e)) < 0)
                return r;
        json_auto_t *filter = NULL;
        const char *expr = ecs_json_str(in, "filter", NULL);
        if (expr && (r = rt_query_parse(expr, &filter, e)) < 0)
                return r;
        json_auto_t *all = NULL;
        if ((r = load(call, in, cluster, &all, e)) < 0)
                return r;
        const char *status = ecs_json_str(in, "status", NULL);
        size_t n = json_array_size(all), k = 0;
        const json_t **docs = xcalloc(n ? n : 1, sizeof(*docs));
        size_t i;
        const json_t *doc;
        json_array_foreach(all, i, doc) {
                const char *st = ecs_json_str(doc, "status", "");
                /* Without a status filter ECS lists the ACTIVE and DRAINING ones. */
                if (status ? strcmp(st, status) != 0 : (strcmp(st, "ACTIVE") != 0 && strcmp(st, "DRAINING") != 0))
                        continue;
                if (strcmp(doc_id(doc), after) <= 0)
                        continue;
                if (filter) {
                        json_auto_t *view = rt_instances_view(doc);
                        if (!rt_query_match(filter, view))
                                continue;
                }
                docs[k++] = doc;
        }
        qsort(docs, k, sizeof(*docs), cmp_docs);
        json_auto_t *arns = json_array();
        json_auto_t *resp = json_object();
        for (i = 0; i < k && i < (size_t) limit; i++)
                json_array_append_new(arns, json_string(ecs_json_str(docs[i], "containerInstanceArn", "")));
        if (k > (size_t) limit) {
                char next[ECS_PAGE_TOKEN_MAX];
                ecs_page_token_encode("ListContainerInstances", doc_id(docs[limit - 1]), next, sizeof(next));
                json_object_set_new(resp, "nextToken", json_string(next));
        }
        free(docs);
        json_object_set(resp, "containerInstanceArns", arns);
        *out = TAKE_PTR(resp);
        return 0;
}

/* ECS's CONTAINER_INSTANCE_HEALTH: the runtime is what ecsd can speak for. */
static json_t *health_of(const json_t *doc) {
        const char *status = json_is_true(json_object_get(doc, "agentConnected")) ? "OK" : "IMPAIRED";
        json_t *now = ecs_timestamp_now();
        return json_pack("{s:s, s:[{s:s, s:s, s:O, s:o}]}", "overallStatus", status, "details", "type",
                         "CONTAINER_RUNTIME", "status", status, "lastUpdated", now, "lastStatusChange", now);
}

static int describe_one(struct api_call *call, const json_t *doc, bool with_tags, bool with_health, json_t **ret,
                        struct err *e) {
        json_auto_t *d = public_doc(doc);
        int r;
        if (with_tags && (r = api_doc_attach_tags(call, d, "containerInstanceArn", e)) < 0)
                return r;
        if (with_health)
                json_object_set_new(d, "healthStatus", health_of(doc));
        *ret = TAKE_PTR(d);
        return 0;
}

int api_describe_container_instances(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        char cluster[ECS_NAME_MAX + 1];
        const json_t *refs = json_object_get(in, "containerInstances");
        if (json_array_size(refs) == 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "containerInstances cannot be empty.");
        if (json_array_size(refs) > DESCRIBE_MAX)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "containerInstances can list at most %d instances.",
                               DESCRIBE_MAX);
        json_auto_t *all = NULL;
        int r = load(call, in, cluster, &all, e);
        if (r < 0)
                return r;
        const json_t *include = json_object_get(in, "include");
        bool with_tags = ecs_json_list_has(include, "TAGS");
        bool with_health = ecs_json_list_has(include, "CONTAINER_INSTANCE_HEALTH");
        json_auto_t *list = json_array();
        json_auto_t *failures = json_array();
        size_t i;
        const json_t *ref;
        json_array_foreach(refs, i, ref) {
                const json_t *doc = rt_instances_find(all, call->region, cluster, json_string_value(ref));
                if (!doc) {
                        json_array_append_new(failures, json_pack("{s:s, s:s}", "arn", json_string_value(ref),
                                                                  "reason", "MISSING"));
                        continue;
                }
                json_t *d = NULL;
                if ((r = describe_one(call, doc, with_tags, with_health, &d, e)) < 0)
                        return r;
                json_array_append_new(list, d);
        }
        *out = json_pack("{s:O, s:O}", "containerInstances", list, "failures", failures);
        return 0;
}

/* ---- attributes ---- */

static bool chars_in(const char *s, const char *extra) {
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                      strchr(extra, *s)))
                        return false;
        return true;
}

/* An attribute as the model documents it: name 1..128 of letters, digits, - _ / \ .; value 1..128 of those and
 * @ : and spaces, not starting or ending with a space. */
static int attribute_check(const json_t *a, bool custom, struct err *e) {
        const char *name = ecs_json_str(a, "name", "");
        const char *value = ecs_json_str(a, "value", NULL);
        size_t n = strlen(name);
        if (n == 0 || n > ATTRIBUTE_MAX || !chars_in(name, "-_/\\."))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Invalid attribute name '%.200s': 1 to 128 letters, numbers, hyphens, underscores, "
                               "slashes, back slashes or periods.",
                               name);
        if (custom && strncmp(name, "ecs.", 4) == 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Invalid attribute name '%.200s': the ecs. prefix is reserved for Amazon ECS.", name);
        if (value) {
                size_t vn = strlen(value);
                if (vn == 0 || vn > ATTRIBUTE_MAX || !chars_in(value, "-_./\\@: ") || value[0] == ' ' ||
                    value[vn - 1] == ' ')
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "Invalid value for attribute '%.200s': 1 to 128 letters, numbers, hyphens, "
                                       "underscores, periods, at signs, slashes, back slashes, colons or spaces, not "
                                       "starting or ending with a space.",
                                       name);
        }
        return 0;
}

static const json_t *attribute_target(const json_t *all, struct api_call *call, const char *cluster, const json_t *a,
                                      struct err *e) {
        const char *target = ecs_json_str(a, "targetId", NULL);
        if (!target || !*target) {
                err_set(e, -EINVAL, ERR_KIND_INVALID, "Attribute '%.200s' needs a targetId.",
                        ecs_json_str(a, "name", ""));
                return NULL;
        }
        if (strncmp(target, "arn:", 4) != 0 && !json_object_get(a, "targetType")) {
                err_set(e, -EINVAL, ERR_KIND_INVALID,
                        "targetType is required when targetId '%.200s' is not an ARN.", target);
                return NULL;
        }
        const json_t *doc = rt_instances_find(all, call->region, cluster, target);
        if (!doc)
                err_set(e, -ENOENT, ERR_KIND_TARGET_NOT_FOUND, "Could not find %.300s.", target);
        return doc;
}

/* The stored record of an instance: an external instance's whole record, or a host's per-cluster one ({} when it
 * has none yet). */
static int record_of(struct api_call *call, const char *cluster, const json_t *doc, json_t **ret, struct err *e) {
        int r = rt_instances_record_get(instances_of(call), call->region, cluster, doc_id(doc), ret, e);
        if (r == -ENOENT) {
                *ret = json_object();
                return 0;
        }
        return r;
}

/* PutAttributes (`put`) or DeleteAttributes: every attribute checked and every target found before any write. */
static int change_attributes(struct api_call *call, const json_t *in, bool put, json_t **out, struct err *e) {
        char cluster[ECS_NAME_MAX + 1];
        const json_t *attrs = json_object_get(in, "attributes");
        if (json_array_size(attrs) == 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "attributes cannot be empty.");
        if (put && json_array_size(attrs) > ATTRIBUTES_PER_CALL)
                return err_set(e, -EINVAL, ERR_KIND_ATTRIBUTE_LIMIT,
                               "You can specify up to %d attributes in a single call.", ATTRIBUTES_PER_CALL);
        size_t i;
        const json_t *a;
        int r;
        json_array_foreach(attrs, i, a) if ((r = attribute_check(a, put, e)) < 0) return r;
        json_auto_t *all = NULL;
        if ((r = load(call, in, cluster, &all, e)) < 0)
                return r;
        json_auto_t *records = json_object(); /* id → record, changed in memory first */
        json_array_foreach(attrs, i, a) {
                const json_t *doc = attribute_target(all, call, cluster, a, e);
                if (!doc)
                        return e->code;
                json_t *rec = json_object_get(records, doc_id(doc));
                if (!rec) {
                        if ((r = record_of(call, cluster, doc, &rec, e)) < 0)
                                return r;
                        json_object_set_new(records, doc_id(doc), rec);
                }
                json_t *custom = json_object_get(rec, "attributes");
                if (!custom) {
                        custom = json_array();
                        json_object_set_new(rec, "attributes", custom);
                }
                const char *name = ecs_json_str(a, "name", "");
                size_t j;
                const json_t *old;
                for (j = 0; j < json_array_size(custom); j++) {
                        old = json_array_get(custom, j);
                        if (strcmp(ecs_json_str(old, "name", ""), name) == 0)
                                break;
                }
                if (put) {
                        json_t *na = json_pack("{s:s}", "name", name);
                        if (ecs_json_str(a, "value", NULL))
                                json_object_set_new(na, "value", json_string(ecs_json_str(a, "value", NULL)));
                        if (j < json_array_size(custom))
                                json_array_set_new(custom, j, na);
                        else
                                json_array_append_new(custom, na);
                        if (json_array_size(custom) > CUSTOM_ATTRIBUTES_MAX)
                                return err_set(e, -EINVAL, ERR_KIND_ATTRIBUTE_LIMIT,
                                               "You can apply up to %d custom attributes to a resource.",
                                               CUSTOM_ATTRIBUTES_MAX);
                } else if (j < json_array_size(custom))
                        json_array_remove(custom, j);
        }
        const char *id;
        json_t *rec;
        json_object_foreach(records, id, rec) if ((r = rt_instances_record_put(instances_of(call), call->region,
                                                                               cluster, id, rec, e)) < 0) return r;
        /* A new attribute can make an instance eligible for a service's memberOf constraint. */
        if (api_scheduler(call->api))
                rt_scheduler_wake(api_scheduler(call->api));
        *out = json_pack("{s:O}", "attributes", attrs);
        return 0;
}

/* The instance records are read, changed and written back: the place lock keeps two such calls (and a placement,
 * which reads them) from interleaving. */
int api_put_attributes(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        rt_instances_place_lock(instances_of(call));
        int r = change_attributes(call, in, true, out, e);
        rt_instances_place_unlock(instances_of(call));
        return r;
}

int api_delete_attributes(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        rt_instances_place_lock(instances_of(call));
        int r = change_attributes(call, in, false, out, e);
        rt_instances_place_unlock(instances_of(call));
        return r;
}

int api_list_attributes(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        char cluster[ECS_NAME_MAX + 1];
        int limit;
        int r = ecs_page_max_results(in, ECS_PAGE_DEFAULT, 100, &limit, e);
        if (r < 0)
                return r;
        char after[ECS_PAGE_KEY_MAX] = "";
        const char *token = ecs_json_str(in, "nextToken", NULL);
        if (token && (r = ecs_page_token_decode("ListAttributes", token, after, e)) < 0)
                return r;
        const char *name = ecs_json_str(in, "attributeName", NULL);
        const char *value = ecs_json_str(in, "attributeValue", NULL);
        if (value && !name)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "attributeValue requires attributeName.");
        json_auto_t *all = NULL;
        if ((r = load(call, in, cluster, &all, e)) < 0)
                return r;
        size_t n = json_array_size(all), k = 0;
        const json_t **docs = xcalloc(n ? n : 1, sizeof(*docs));
        size_t i;
        const json_t *doc;
        json_array_foreach(all, i, doc) docs[k++] = doc;
        qsort(docs, k, sizeof(*docs), cmp_docs);
        json_auto_t *list = json_array();
        json_auto_t *resp = json_object();
        /* The key of an entry is "<instance id>/<index in its attributes>": stable while nothing changes. */
        for (i = 0; i < k; i++) {
                size_t j;
                const json_t *a;
                json_array_foreach(json_object_get(docs[i], "attributes"), j, a) {
                        if (name && strcmp(ecs_json_str(a, "name", ""), name) != 0)
                                continue;
                        if (value && strcmp(ecs_json_str(a, "value", ""), value) != 0)
                                continue;
                        char key[ECS_PAGE_KEY_MAX];
                        str_printf(key, sizeof(key), "%s/%06zu", doc_id(docs[i]), j);
                        if (strcmp(key, after) <= 0)
                                continue;
                        if (json_array_size(list) == (size_t) limit) {
                                char next[ECS_PAGE_TOKEN_MAX];
                                const json_t *last = json_array_get(list, (size_t) limit - 1);
                                ecs_page_token_encode("ListAttributes", ecs_json_str(last, "_key", ""), next,
                                                      sizeof(next));
                                json_object_set_new(resp, "nextToken", json_string(next));
                                goto done;
                        }
                        json_t *entry = json_pack("{s:s, s:s, s:s, s:s}", "name", ecs_json_str(a, "name", ""),
                                                  "targetType", "container-instance", "targetId",
                                                  ecs_json_str(docs[i], "containerInstanceArn", ""), "_key", key);
                        if (ecs_json_str(a, "value", NULL))
                                json_object_set_new(entry, "value", json_string(ecs_json_str(a, "value", NULL)));
                        json_array_append_new(list, entry);
                }
        }
done:
        free(docs);
        json_t *entry;
        json_array_foreach(list, i, entry) json_object_del(entry, "_key");
        json_object_set(resp, "attributes", list);
        *out = TAKE_PTR(resp);
        return 0;
}

/* ---- registration and state ---- */

static json_t *resource_full(const json_t *r) {
        json_t *o = json_deep_copy(r);
        if (!json_object_get(o, "doubleValue"))
                json_object_set_new(o, "doubleValue", json_real(0.0));
        if (!json_object_get(o, "longValue"))
                json_object_set_new(o, "longValue", json_integer(0));
        if (!json_object_get(o, "integerValue"))
                json_object_set_new(o, "integerValue", json_integer(0));
        return o;
}

static int register_instance(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        char cluster[ECS_NAME_MAX + 1];
        json_auto_t *cluster_doc = NULL;
        int r = api_cluster_active(call, ecs_json_str(in, "cluster", NULL), cluster, &cluster_doc, e);
        if (r < 0)
                return r;
        const char *ec2 = NULL;
        json_auto_t *identity = NULL;
        const char *idoc = ecs_json_str(in, "instanceIdentityDocument", NULL);
        if (idoc) {
                identity = json_loads(idoc, JSON_REJECT_DUPLICATES, NULL);
                if (!json_is_object(identity))
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "instanceIdentityDocument is not a JSON document.");
                ec2 = ecs_json_str(identity, "instanceId", NULL);
        }
        size_t i;
        const json_t *a;
        json_array_foreach(json_object_get(in, "attributes"), i, a) {
                if ((r = attribute_check(a, false, e)) < 0)
                        return r;
        }
        if ((r = api_tags_validate(json_object_get(in, "tags"), e)) < 0)
                return r;
        json_auto_t *all = NULL;
        if ((r = rt_instances_all(instances_of(call), call->region, call->account, cluster, &all, e)) < 0)
                return r;
        /* The same instance registering again (its containerInstanceArn, or its identity) keeps its id. */
        char id[RT_INSTANCE_ID_LEN + 1] = "";
        const char *again = ecs_json_str(in, "containerInstanceArn", NULL);
        const json_t *doc;
        if (again) {
                doc = rt_instances_find(all, call->region, cluster, again);
                if (!doc || !is_external(doc))
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "containerInstanceArn '%.300s' is not a registered instance of this cluster.",
                                       again);
                str_printf(id, sizeof(id), "%s", doc_id(doc));
        } else if (ec2) {
                json_array_foreach(all, i, doc) if (is_external(doc) &&
                                                    strcmp(ecs_json_str(doc, "ec2InstanceId", ""), ec2) == 0)
                        str_printf(id, sizeof(id), "%s", doc_id(doc));
        }
        if (!id[0])
                random_hex(id, RT_INSTANCE_ID_LEN); /* 32 hex digits, as ECS's */
        char arn[ECS_ARN_MAX + 1];
        str_printf(arn, sizeof(arn), "arn:aws:ecs:%s:%s:container-instance/%s/%s", call->region, call->account,
                   cluster, id);
        json_auto_t *res = json_array();
        json_array_foreach(json_object_get(in, "totalResources"), i, a) json_array_append_new(res, resource_full(a));
        const json_t *vi = json_object_get(in, "versionInfo");
        json_auto_t *d = json_pack("{s:s, s:I, s:o, s:O, s:O, s:s, s:b, s:I, s:I, s:[], s:o, s:[], s:[]}",
                                   "containerInstanceArn", arn, "version", (json_int_t) 1, "versionInfo",
                                   vi ? json_deep_copy(vi) : json_object(), "registeredResources", res,
                                   "remainingResources", res, "status", "ACTIVE", "agentConnected", 0,
                                   "runningTasksCount", (json_int_t) 0, "pendingTasksCount", (json_int_t) 0,
                                   "attributes", "registeredAt", ecs_timestamp_now(), "attachments", "tags");
        if (ec2)
                json_object_set_new(d, "ec2InstanceId", json_string(ec2));
        json_auto_t *old = NULL;
        struct err ignored = {0};
        const json_t *given = json_object_get(in, "attributes");
        json_auto_t *rec = json_pack("{s:b, s:s, s:o, s:o, s:O}", "external", 1, "status", "ACTIVE", "builtin",
                                     given ? json_deep_copy(given) : json_array(), "attributes", json_array(), "doc",
                                     d);
        /* Custom attributes set with PutAttributes survive a re-registration, as they do in ECS. */
        if (rt_instances_record_get(instances_of(call), call->region, cluster, id, &old, &ignored) >= 0 &&
            json_object_get(old, "attributes"))
                json_object_set(rec, "attributes", json_object_get(old, "attributes"));
        if ((r = rt_instances_record_put(instances_of(call), call->region, cluster, id, rec, e)) < 0)
                return r;
        const json_t *tags = json_object_get(in, "tags");
        if (json_array_size(tags) && (r = rt_tags_put(call->store, arn, tags, e)) < 0)
                return r;
        json_decref(all);
        all = NULL;
        if ((r = rt_instances_all(instances_of(call), call->region, call->account, cluster, &all, e)) < 0)
                return r;
        doc = rt_instances_find(all, call->region, cluster, arn);
        if (!doc)
                return err_set(e, -EIO, ERR_KIND_INTERNAL, "The registered instance could not be read back.");
        json_t *outdoc = NULL;
        if ((r = describe_one(call, doc, json_array_size(tags) > 0, false, &outdoc, e)) < 0)
                return r;
        *out = json_pack("{s:o}", "containerInstance", outdoc);
        return 0;
}

static int find_instance(struct api_call *call, const json_t *in, char *cluster, json_t **ret_all,
                         const json_t **ret_doc, struct err *e) {
        int r = load(call, in, cluster, ret_all, e);
        if (r < 0)
                return r;
        const char *ref = ecs_json_str(in, "containerInstance", "");
        *ret_doc = rt_instances_find(*ret_all, call->region, cluster, ref);
        if (!*ret_doc)
                return err_set(e, -ENOENT, ERR_KIND_INVALID, "The referenced container instance %.300s was not found.",
                               ref);
        return 0;
}

int api_deregister_container_instance(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        char cluster[ECS_NAME_MAX + 1];
        json_auto_t *all = NULL;
        const json_t *doc = NULL;
        int r = find_instance(call, in, cluster, &all, &doc, e);
        if (r < 0)
                return r;
        if (!is_external(doc))
                return err_set(e, -EINVAL, ERR_KIND_CLIENT,
                               "Container instance %s is one of ecsd's hosts (the Docker engine or a Kubernetes "
                               "node) and stays registered while it exists; set it DRAINING "
                               "(UpdateContainerInstancesState) to move tasks off it.",
                               ecs_json_str(doc, "containerInstanceArn", ""));
        if (json_integer_value(json_object_get(doc, "runningTasksCount")) +
                            json_integer_value(json_object_get(doc, "pendingTasksCount")) >
                    0 &&
            !json_is_true(json_object_get(in, "force")))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Container instance has tasks; stop them or deregister with force.");
        const char *arn = ecs_json_str(doc, "containerInstanceArn", "");
        if ((r = rt_instances_record_delete(instances_of(call), call->region, cluster, doc_id(doc), e)) < 0 ||
            (r = rt_tags_clear(call->store, arn, e)) < 0)
                return r;
        json_t *d = public_doc(doc);
        json_object_set_new(d, "status", json_string("INACTIVE"));
        json_object_set_new(d, "agentConnected", json_false());
        *out = json_pack("{s:o}", "containerInstance", d);
        return 0;
}

int api_register_container_instance(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        rt_instances_place_lock(instances_of(call));
        int r = register_instance(call, in, out, e);
        rt_instances_place_unlock(instances_of(call));
        return r;
}

static int update_state(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        char cluster[ECS_NAME_MAX + 1];
        const char *status = ecs_json_str(in, "status", "");
        if (strcmp(status, "ACTIVE") != 0 && strcmp(status, "DRAINING") != 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "Container instances status should be one of [ACTIVE, "
                                                             "DRAINING].");
        const json_t *refs = json_object_get(in, "containerInstances");
        if (json_array_size(refs) == 0 || json_array_size(refs) > STATE_MAX)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "containerInstances must list 1 to %d instances.",
                               STATE_MAX);
        json_auto_t *all = NULL;
        int r = load(call, in, cluster, &all, e);
        if (r < 0)
                return r;
        json_auto_t *list = json_array();
        json_auto_t *failures = json_array();
        size_t i;
        const json_t *ref;
        json_array_foreach(refs, i, ref) {
                const json_t *doc = rt_instances_find(all, call->region, cluster, json_string_value(ref));
                if (!doc) {
                        json_array_append_new(failures, json_pack("{s:s, s:s}", "arn", json_string_value(ref),
                                                                  "reason", "MISSING"));
                        continue;
                }
                json_auto_t *rec = NULL;
                if ((r = record_of(call, cluster, doc, &rec, e)) < 0)
                        return r;
                json_object_set_new(rec, "status", json_string(status));
                if ((r = rt_instances_record_put(instances_of(call), call->region, cluster, doc_id(doc), rec, e)) < 0)
                        return r;
                json_t *d = public_doc(doc);
                json_object_set_new(d, "status", json_string(status));
                json_array_append_new(list, d);
        }
        /* DRAINING moves a service's tasks elsewhere; ACTIVE makes room again. */
        if (api_scheduler(call->api))
                rt_scheduler_wake(api_scheduler(call->api));
        *out = json_pack("{s:O, s:O}", "containerInstances", list, "failures", failures);
        return 0;
}

int api_update_container_instances_state(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        rt_instances_place_lock(instances_of(call));
        int r = update_state(call, in, out, e);
        rt_instances_place_unlock(instances_of(call));
        return r;
}

int api_update_container_agent(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        (void) out;
        char cluster[ECS_NAME_MAX + 1];
        json_auto_t *all = NULL;
        const json_t *doc = NULL;
        int r = find_instance(call, in, cluster, &all, &doc, e);
        if (r < 0)
                return r;
        if (is_external(doc))
                return err_set(e, -EINVAL, ERR_KIND_CLIENT,
                               "Agent updates are not supported for external container instances; update the agent "
                               "on the instance itself.");
        /* ecsd is the agent of its own hosts, and it is always the version that answers. */
        return err_set(e, -EALREADY, ERR_KIND_NO_UPDATE_AVAILABLE,
                       "There is no update available for your container agent (%s is ecsd %s).",
                       ecs_json_str(doc, "containerInstanceArn", ""),
                       ecs_json_str(json_object_get(doc, "versionInfo"), "agentVersion", ""));
}
