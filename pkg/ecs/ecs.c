/* ecs.c — ARNs, names, resource references, pagination tokens and error shapes (see ecs.h).
 *
 * Everything here is a pure function of its arguments; no state, safe from any thread. */
#include "ecs.h"

#include <ctype.h>
#include <string.h>

static bool copy_field(char *dst, size_t size, const char *src, size_t len) {
        if (len >= size)
                return false;
        memcpy(dst, src, len);
        dst[len] = '\0';
        return true;
}

int ecs_arn_parse(const char *s, struct ecs_arn *ret, struct err *e) {
        struct ecs_arn arn = {0};
        const char *p = s;
        if (!s || strncmp(s, "arn:", 4) != 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid ARN '%.200s': it must start with 'arn:'.",
                               s ? s : "");
        p += 4;
        /* partition:service:region:account:rest */
        const char *fields[4];
        size_t lens[4];
        for (int i = 0; i < 4; i++) {
                const char *colon = strchr(p, ':');
                if (!colon)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid ARN '%.200s'.", s);
                fields[i] = p;
                lens[i] = (size_t) (colon - p);
                p = colon + 1;
        }
        char service[16];
        if (!copy_field(arn.partition, sizeof(arn.partition), fields[0], lens[0]) ||
            !copy_field(service, sizeof(service), fields[1], lens[1]) ||
            !copy_field(arn.region, sizeof(arn.region), fields[2], lens[2]) ||
            !copy_field(arn.account, sizeof(arn.account), fields[3], lens[3]) || strcmp(service, "ecs") != 0 ||
            arn.partition[0] == '\0' || !ecs_region_valid(arn.region) || arn.account[0] == '\0')
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid ARN '%.200s'.", s);
        const char *slash = strchr(p, '/');
        if (!slash || slash == p || slash[1] == '\0' ||
            !copy_field(arn.type, sizeof(arn.type), p, (size_t) (slash - p)) ||
            !copy_field(arn.resource, sizeof(arn.resource), slash + 1, strlen(slash + 1)))
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid ARN '%.200s': no resource part.", s);
        *ret = arn;
        return 0;
}

int ecs_arn_format(char *buf, size_t size, const char *region, const char *account, const char *type,
                   const char *resource) {
        return str_printf(buf, size, "arn:aws:ecs:%s:%s:%s/%s", region, account, type, resource);
}

bool ecs_name_valid(const char *s) {
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > ECS_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '_'))
                        return false;
        }
        return true;
}

bool ecs_region_valid(const char *s) {
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > ECS_REGION_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
                        return false;
        return true;
}

/* An ARN names a resource of this endpoint only when its region and account are the request's. */
static bool arn_is_ours(const struct ecs_arn *arn, const char *region, const char *account) {
        return strcmp(arn->region, region) == 0 && strcmp(arn->account, account) == 0;
}

int ecs_cluster_ref_resolve(const char *ref, const char *region, const char *account, char *name, struct err *e) {
        if (!ref || !*ref) {
                memcpy(name, ECS_DEFAULT_CLUSTER, sizeof(ECS_DEFAULT_CLUSTER));
                return 0;
        }
        const char *n = ref;
        struct ecs_arn arn;
        if (strncmp(ref, "arn:", 4) == 0) {
                int r = ecs_arn_parse(ref, &arn, e);
                if (r < 0)
                        return r;
                if (strcmp(arn.type, "cluster") != 0)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "'%.200s' is not a cluster ARN.", ref);
                if (!arn_is_ours(&arn, region, account))
                        return err_set(e, -ENOENT, ERR_KIND_CLUSTER_NOT_FOUND, "Cluster not found.");
                n = arn.resource;
        }
        if (!ecs_name_valid(n))
                return err_set(e, -ENOENT, ERR_KIND_CLUSTER_NOT_FOUND, "Cluster not found.");
        memcpy(name, n, strlen(n) + 1); /* ecs_name_valid bounded it to ECS_NAME_MAX */
        return 0;
}

/* "family" or "family:revision" (the resource of a task definition ARN, or a reference) into `family` and
 * *ret_revision (0 when there is none). The one place that splits the two. */
static int split_family_revision(const char *spec, const char *whole, char *family, int64_t *ret_revision,
                                 struct err *e) {
        const char *colon = strchr(spec, ':');
        size_t flen = colon ? (size_t) (colon - spec) : strlen(spec);
        if (flen == 0 || flen > ECS_NAME_MAX)
                return err_set(e, -EINVAL, ERR_KIND_CLIENT, "Invalid task definition '%.200s'.", whole);
        char f[ECS_NAME_MAX + 1];
        memcpy(f, spec, flen);
        f[flen] = '\0';
        if (!ecs_name_valid(f))
                return err_set(e, -EINVAL, ERR_KIND_CLIENT, "Invalid task definition '%.200s'.", whole);
        int64_t rev = 0;
        if (colon && parse_int64(colon + 1, 1, INT32_MAX, &rev) < 0)
                return err_set(e, -EINVAL, ERR_KIND_CLIENT, "Invalid revision number in '%.200s'.", whole);
        memcpy(family, f, flen + 1);
        *ret_revision = rev;
        return 0;
}

int ecs_taskdef_ref_resolve(const char *ref, const char *region, const char *account, char *family,
                            int64_t *ret_revision, struct err *e) {
        const char *spec = ref;
        struct ecs_arn arn;
        if (!ref || !*ref)
                return err_set(e, -EINVAL, ERR_KIND_CLIENT, "Task definition must not be empty.");
        if (strncmp(ref, "arn:", 4) == 0) {
                int r = ecs_arn_parse(ref, &arn, e);
                if (r < 0)
                        return r;
                if (strcmp(arn.type, "task-definition") != 0 || !arn_is_ours(&arn, region, account))
                        return err_set(e, -ENOENT, ERR_KIND_CLIENT, "Unable to describe task definition.");
                spec = arn.resource;
        }
        return split_family_revision(spec, ref, family, ret_revision, e);
}

/* FAMILY:REV out of an ARN of `type` ("task-definition" or "daemon-task-definition"); `what` names it in errors. */
static int family_arn_parse(const char *arn_str, const char *type, const char *what, char *family,
                            int64_t *ret_revision, struct err *e) {
        struct ecs_arn arn;
        int r = ecs_arn_parse(arn_str, &arn, e);
        if (r < 0)
                return r;
        if (strcmp(arn.type, type) != 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "'%.200s' is not a %s ARN.", arn_str, what);
        int64_t rev;
        char f[ECS_NAME_MAX + 1];
        r = split_family_revision(arn.resource, arn_str, f, &rev, e);
        if (r < 0)
                return r;
        if (rev == 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "%c%s ARN '%.200s' has no revision.", toupper((unsigned char) what[0]),
                               what + 1, arn_str);
        memcpy(family, f, strlen(f) + 1);
        *ret_revision = rev;
        return 0;
}

int ecs_taskdef_arn_parse(const char *arn_str, char *family, int64_t *ret_revision, struct err *e) {
        return family_arn_parse(arn_str, "task-definition", "task definition", family, ret_revision, e);
}

int ecs_daemon_taskdef_arn_parse(const char *arn_str, char *family, int64_t *ret_revision, struct err *e) {
        return family_arn_parse(arn_str, "daemon-task-definition", "daemon task definition", family, ret_revision, e);
}

const char *ecs_json_str(const json_t *obj, const char *key, const char *dflt) {
        const char *v = json_string_value(json_object_get(obj, key));
        return v ? v : dflt;
}

bool ecs_json_int(const json_t *obj, const char *key, int64_t *ret) {
        const json_t *v = json_object_get(obj, key);
        if (!json_is_integer(v))
                return false;
        *ret = (int64_t) json_integer_value(v);
        return true;
}

int64_t ecs_json_int_or(const json_t *obj, const char *key, int64_t dflt) {
        int64_t v;
        return ecs_json_int(obj, key, &v) ? v : dflt;
}

bool ecs_status_pending(const char *s) {
        return s && (strcmp(s, "PROVISIONING") == 0 || strcmp(s, "PENDING") == 0 || strcmp(s, "ACTIVATING") == 0);
}

int ecs_page_token_encode(const char *scope, const char *last_key, char *out, size_t size) {
        char raw[ECS_PAGE_KEY_MAX + 64];
        int n = str_printf(raw, sizeof(raw), "%s\n%s", scope, last_key);
        if (n < 0 || base64url_encoded_size((size_t) n) > size)
                return -ENOBUFS;
        base64url_encode(raw, (size_t) n, out);
        return 0;
}

int ecs_page_token_decode(const char *scope, const char *token, char *last_key, struct err *e) {
        char raw[ECS_PAGE_KEY_MAX + 64];
        if (strlen(token) > ECS_PAGE_TOKEN_MAX)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid nextToken: too long.");
        int n = base64url_decode(token, raw, sizeof(raw) - 1);
        if (n < 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid nextToken.");
        raw[n] = '\0';
        size_t slen = strlen(scope);
        if ((size_t) n <= slen || strncmp(raw, scope, slen) != 0 || raw[slen] != '\n' ||
            memchr(raw, '\0', (size_t) n) != NULL)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid nextToken: it does not belong to this listing.");
        size_t klen = (size_t) n - slen - 1;
        if (klen >= ECS_PAGE_KEY_MAX)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid nextToken.");
        memcpy(last_key, raw + slen + 1, klen);
        last_key[klen] = '\0';
        return 0;
}

int ecs_page_max_results(const json_t *req, int dflt, int max, int *ret, struct err *e) {
        const json_t *v = json_object_get(req, "maxResults");
        if (!v || json_is_null(v)) {
                *ret = dflt;
                return 0;
        }
        json_int_t n = json_integer_value(v);
        if (!json_is_integer(v) || n < 1 || n > max)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "maxResults must be between 1 and %d.", max);
        *ret = (int) n;
        return 0;
}

struct error_shape {
        const char *type;
        unsigned status;
};

static const struct error_shape error_shapes[] = {
        [ERR_KIND_INTERNAL] = {"ServerException", 500},
        [ERR_KIND_INVALID] = {"InvalidParameterException", 400},
        [ERR_KIND_CLIENT] = {"ClientException", 400},
        [ERR_KIND_SERIALIZATION] = {"SerializationException", 400},
        [ERR_KIND_NOT_FOUND] = {"ResourceNotFoundException", 400},
        [ERR_KIND_CLUSTER_NOT_FOUND] = {"ClusterNotFoundException", 400},
        [ERR_KIND_CLUSTER_CONTAINS_TASKS] = {"ClusterContainsTasksException", 400},
        [ERR_KIND_CLUSTER_CONTAINS_SERVICES] = {"ClusterContainsServicesException", 400},
        [ERR_KIND_RESOURCE_IN_USE] = {"ResourceInUseException", 400},
        [ERR_KIND_UNKNOWN_OPERATION] = {"UnknownOperationException", 400},
        [ERR_KIND_TOO_LARGE] = {"ClientException", 400},
        [ERR_KIND_SERVICE_NOT_FOUND] = {"ServiceNotFoundException", 400},
        [ERR_KIND_SERVICE_NOT_ACTIVE] = {"ServiceNotActiveException", 400},
        [ERR_KIND_CONFLICT] = {"ConflictException", 400},
        [ERR_KIND_SERVICE_DEPLOYMENT_NOT_FOUND] = {"ServiceDeploymentNotFoundException", 400},
        [ERR_KIND_NAMESPACE_NOT_FOUND] = {"NamespaceNotFoundException", 400},
        [ERR_KIND_TARGET_NOT_FOUND] = {"TargetNotFoundException", 400},
        [ERR_KIND_ATTRIBUTE_LIMIT] = {"AttributeLimitExceededException", 400},
        [ERR_KIND_NO_UPDATE_AVAILABLE] = {"NoUpdateAvailableException", 400},
        [ERR_KIND_UNSUPPORTED_FEATURE] = {"UnsupportedFeatureException", 400},
        [ERR_KIND_TARGET_NOT_CONNECTED] = {"TargetNotConnectedException", 400},
        [ERR_KIND_TASK_SET_NOT_FOUND] = {"TaskSetNotFoundException", 400},
        [ERR_KIND_DAEMON_NOT_FOUND] = {"DaemonNotFoundException", 400},
        [ERR_KIND_DAEMON_NOT_ACTIVE] = {"DaemonNotActiveException", 400},
};

_Static_assert(sizeof(error_shapes) / sizeof(error_shapes[0]) == ERR_KIND_COUNT, "every error kind has a shape");

const char *ecs_error_type(int kind) {
        if (kind < 0 || (size_t) kind >= ARRAY_SIZE(error_shapes) || !error_shapes[kind].type)
                return error_shapes[ERR_KIND_INTERNAL].type;
        return error_shapes[kind].type;
}

unsigned ecs_error_http_status(int kind) {
        if (kind < 0 || (size_t) kind >= ARRAY_SIZE(error_shapes) || !error_shapes[kind].type)
                return 500;
        return error_shapes[kind].status;
}

json_t *ecs_error_body(int kind, const char *message) {
        /* Messages quote user input (action names, ARNs) and may cut it short, so they are made valid UTF-8 before
         * they become a JSON string; jansson refuses anything else. */
        char clean[1024];
        str_printf(clean, sizeof(clean), "%s", message);
        str_utf8_sanitize(clean);
        json_t *body = json_pack("{s:s, s:s}", "__type", ecs_error_type(kind), "message", clean);
        ASSERT(body);
        return body;
}

bool ecs_json_list_has(const json_t *list, const char *value) {
        size_t i;
        const json_t *item;
        json_array_foreach(list, i, item) {
                const char *s = json_string_value(item);
                if (s && strcmp(s, value) == 0)
                        return true;
        }
        return false;
}

json_t *ecs_timestamp_now(void) {
        return json_real((double) time_now_ms() / 1000.0);
}
