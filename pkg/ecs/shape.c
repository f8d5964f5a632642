/* shape.c — the input shape checker (see shape.h and docs/internals/shapes.md).
 *
 * It walks a request body and the generated shape tables (shapes-gen.c) side by side and builds a fresh copy that
 * holds only what the model knows. Invariants: the output never contains null and never shares a json_t with the
 * input; the first error found wins and names the member path ("containerDefinitions[0].portMappings[1].hostPort").
 * Hostile nesting is refused by an iterative pass before the recursive walk, so recursion depth is bounded by
 * ECS_SHAPE_MAX_DEPTH. No state: safe from any thread. */
#include "shape.h"

#include <inttypes.h>
#include <string.h>

#include "shape-internal.h"

/* The member path of the value being checked, built in place as the walk descends. Very long paths are cut short
 * (the message buffer of struct err is smaller anyway). */
struct path {
        char buf[384];
        size_t len;
};

static size_t path_append(struct path *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append to the path; returns the length before, to hand to path_restore. */
static size_t path_append(struct path *p, const char *fmt, ...) {
        size_t old = p->len;
        size_t room = sizeof(p->buf) - p->len;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(p->buf + p->len, room, fmt, ap);
        va_end(ap);
        if (n < 0)
                p->buf[p->len] = '\0';
        else if ((size_t) n >= room)
                p->len = sizeof(p->buf) - 1;
        else
                p->len += (size_t) n;
        return old;
}

static size_t path_push_key(struct path *p, const char *key) {
        return p->len == 0 ? path_append(p, "%s", key) : path_append(p, ".%s", key);
}

static size_t path_push_index(struct path *p, size_t i) {
        return path_append(p, "[%zu]", i);
}

static void path_restore(struct path *p, size_t len) {
        p->len = len;
        p->buf[len] = '\0';
}

static const char *path_str(const struct path *p) {
        return p->len > 0 ? p->buf : "request";
}

/* jansson's object iteration API takes non-const pointers although it does not modify the object. */
static json_t *unconst(const json_t *v) {
        union {
                const json_t *c;
                json_t *m;
        } u = {.c = v};
        return u.m;
}

static const char *json_kind(const json_t *v) {
        switch (json_typeof(v)) {
        case JSON_OBJECT: return "an object";
        case JSON_ARRAY: return "an array";
        case JSON_STRING: return "a string";
        case JSON_INTEGER: return "an integer";
        case JSON_REAL: return "a non-integer number";
        case JSON_TRUE:
        case JSON_FALSE: return "a boolean";
        case JSON_NULL: return "null";
        }
        return "an unknown value";
}

static const char *shape_expects(const struct ecs_shape *s) {
        switch (s->type) {
        case ECS_SHAPE_STRUCTURE:
        case ECS_SHAPE_MAP: return "an object";
        case ECS_SHAPE_LIST: return "an array";
        case ECS_SHAPE_STRING: return "a string";
        case ECS_SHAPE_BLOB: return "a base64 string";
        case ECS_SHAPE_INTEGER:
        case ECS_SHAPE_LONG: return "an integer";
        case ECS_SHAPE_BOOLEAN: return "a boolean";
        case ECS_SHAPE_DOUBLE:
        case ECS_SHAPE_FLOAT: return "a number";
        case ECS_SHAPE_TIMESTAMP: return "a number (seconds since the epoch)";
        case ECS_SHAPE_DOCUMENT: return "a JSON value";
        }
        return "a value";
}

static int oom(struct err *e) {
        return err_set(e, -ENOMEM, ERR_KIND_INTERNAL, "Out of memory while checking the request.");
}

static int type_error(const struct ecs_shape *s, const json_t *v, const struct path *p, struct err *e) {
        return err_set(e, -EINVAL, ERR_KIND_SERIALIZATION, "%s: expected %s, got %s", path_str(p), shape_expects(s),
                       json_kind(v));
}

static int length_error(int64_t n, bool too_short, int64_t bound, const struct path *p, struct err *e) {
        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                       "Value at '%s' failed to satisfy constraint: Member must have length %s %" PRId64
                       " (it has %" PRId64 ")",
                       path_str(p), too_short ? "greater than or equal to" : "less than or equal to", bound, n);
}

static int check_length(const struct ecs_shape *s, int64_t n, const struct path *p, struct err *e) {
        if (s->has_min && n < s->min)
                return length_error(n, true, s->min, p, e);
        if (s->has_max && n > s->max)
                return length_error(n, false, s->max, p, e);
        return 0;
}

/* Number of characters (code points) in UTF-8 text that jansson already validated. */
static int64_t utf8_chars(const char *s, size_t len) {
        int64_t n = 0;
        for (size_t i = 0; i < len; i++)
                if (((unsigned char) s[i] & 0xC0) != 0x80)
                        n++;
        return n;
}

/* Enum and length constraints of a string shape, for string values and map keys alike. */
static int check_string(const struct ecs_shape *s, const char *str, size_t len, const struct path *p, struct err *e) {
        if (s->n_enum > 0) {
                bool found = false;
                for (size_t i = 0; i < s->n_enum && !found; i++)
                        found = strlen(s->enum_values[i]) == len && memcmp(s->enum_values[i], str, len) == 0;
                if (!found) {
                        char allowed[200] = "";
                        size_t used = 0;
                        for (size_t i = 0; i < s->n_enum && used < sizeof(allowed); i++) {
                                int n = snprintf(allowed + used, sizeof(allowed) - used, "%s%s", i ? ", " : "",
                                                 s->enum_values[i]);
                                if (n < 0)
                                        break;
                                used += (size_t) n;
                        }
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "Value '%.64s' at '%s' failed to satisfy constraint: Member must satisfy enum "
                                       "value set: [%s]",
                                       str, path_str(p), allowed);
                }
        }
        return check_length(s, utf8_chars(str, len), p, e);
}

static int check_integer(const struct ecs_shape *s, const json_t *v, const struct path *p, struct err *e) {
        if (!json_is_integer(v))
                return type_error(s, v, p, e);
        int64_t n = (int64_t) json_integer_value(v);
        if (s->type == ECS_SHAPE_INTEGER && (n < INT32_MIN || n > INT32_MAX))
                return err_set(e, -EINVAL, ERR_KIND_SERIALIZATION, "%s: expected a 32-bit integer, got %" PRId64,
                               path_str(p), n);
        if (s->has_min && n < s->min)
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Value '%" PRId64 "' at '%s' failed to satisfy constraint: Member must have value "
                               "greater than or equal to %" PRId64,
                               n, path_str(p), s->min);
        if (s->has_max && n > s->max)
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Value '%" PRId64 "' at '%s' failed to satisfy constraint: Member must have value "
                               "less than or equal to %" PRId64,
                               n, path_str(p), s->max);
        return 0;
}

static int check_double(const struct ecs_shape *s, const json_t *v, const struct path *p, struct err *e) {
        if (!json_is_number(v))
                return type_error(s, v, p, e);
        double d = json_number_value(v);
        if (s->has_min && d < s->fmin)
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Value '%g' at '%s' failed to satisfy constraint: Member must have value greater than "
                               "or equal to %g",
                               d, path_str(p), s->fmin);
        if (s->has_max && d > s->fmax)
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Value '%g' at '%s' failed to satisfy constraint: Member must have value less than or "
                               "equal to %g",
                               d, path_str(p), s->fmax);
        return 0;
}

/* A fresh copy of a scalar or (depth already bounded) document value. */
static int copy_value(const json_t *v, json_t **ret, struct err *e) {
        json_t *c = json_deep_copy(v);
        if (!c)
                return oom(e);
        *ret = c;
        return 0;
}

static int walk(const struct ecs_shape *s, const json_t *v, struct path *p, int depth, json_t **ret, struct err *e);

static int walk_structure(const struct ecs_shape *s, const json_t *v, struct path *p, int depth, json_t **ret,
                          struct err *e) {
        if (!json_is_object(v))
                return type_error(s, v, p, e);
        json_auto_t *out = json_object();
        if (!out)
                return oom(e);
        for (size_t i = 0; i < s->n_members; i++) {
                const struct ecs_shape_member *m = &s->members[i];
                const json_t *mv = json_object_get(v, m->name);
                size_t saved = path_push_key(p, m->name);
                if (!mv || json_is_null(mv)) {
                        int r = 0;
                        if (m->required)
                                r = err_set(e, -EINVAL, ERR_KIND_INVALID, "Missing required parameter: %s",
                                            path_str(p));
                        path_restore(p, saved);
                        if (r < 0)
                                return r;
                        continue;
                }
                json_t *child = NULL;
                int r = walk(m->shape, mv, p, depth + 1, &child, e);
                path_restore(p, saved);
                if (r < 0)
                        return r;
                if (json_object_set_new(out, m->name, child) < 0)
                        return oom(e);
        }
        *ret = out;
        out = NULL;
        return 0;
}

static int walk_list(const struct ecs_shape *s, const json_t *v, struct path *p, int depth, json_t **ret,
                     struct err *e) {
        if (!json_is_array(v))
                return type_error(s, v, p, e);
        int r = check_length(s, (int64_t) json_array_size(v), p, e);
        if (r < 0)
                return r;
        json_auto_t *out = json_array();
        if (!out)
                return oom(e);
        for (size_t i = 0; i < json_array_size(v); i++) {
                const json_t *item = json_array_get(v, i);
                size_t saved = path_push_index(p, i);
                json_t *child = NULL;
                if (json_is_null(item))
                        r = type_error(s->member, item, p, e);
                else
                        r = walk(s->member, item, p, depth + 1, &child, e);
                path_restore(p, saved);
                if (r < 0)
                        return r;
                if (json_array_append_new(out, child) < 0)
                        return oom(e);
        }
        *ret = out;
        out = NULL;
        return 0;
}

static int walk_map(const struct ecs_shape *s, const json_t *v, struct path *p, int depth, json_t **ret,
                    struct err *e) {
        if (!json_is_object(v))
                return type_error(s, v, p, e);
        json_auto_t *out = json_object();
        if (!out)
                return oom(e);
        json_t *obj = unconst(v);
        for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
                const char *key = json_object_iter_key(it);
                const json_t *val = json_object_iter_value(it);
                size_t saved = path_push_key(p, key);
                int r = check_string(s->key, key, strlen(key), p, e);
                json_t *child = NULL;
                if (r >= 0 && !json_is_null(val))
                        r = walk(s->value, val, p, depth + 1, &child, e);
                path_restore(p, saved);
                if (r < 0)
                        return r;
                if (child && json_object_set_new(out, key, child) < 0)
                        return oom(e);
        }
        /* Null values were dropped, so the bounds apply to what is left. */
        int r = check_length(s, (int64_t) json_object_size(out), p, e);
        if (r < 0)
                return r;
        *ret = out;
        out = NULL;
        return 0;
}

/* Check `v` (neither NULL nor json null) against `s` and build its copy. `depth` counts the containers above. */
static int walk(const struct ecs_shape *s, const json_t *v, struct path *p, int depth, json_t **ret, struct err *e) {
        int r;
        if (depth > ECS_SHAPE_MAX_DEPTH)
                return err_set(e, -EINVAL, ERR_KIND_SERIALIZATION, "%s: nesting deeper than %d levels", path_str(p),
                               ECS_SHAPE_MAX_DEPTH);
        switch (s->type) {
        case ECS_SHAPE_STRUCTURE: return walk_structure(s, v, p, depth, ret, e);
        case ECS_SHAPE_LIST: return walk_list(s, v, p, depth, ret, e);
        case ECS_SHAPE_MAP: return walk_map(s, v, p, depth, ret, e);
        case ECS_SHAPE_STRING:
                if (!json_is_string(v))
                        return type_error(s, v, p, e);
                r = check_string(s, json_string_value(v), json_string_length(v), p, e);
                break;
        case ECS_SHAPE_BLOB: r = json_is_string(v) ? 0 : type_error(s, v, p, e); break;
        case ECS_SHAPE_INTEGER:
        case ECS_SHAPE_LONG: r = check_integer(s, v, p, e); break;
        case ECS_SHAPE_BOOLEAN: r = json_is_boolean(v) ? 0 : type_error(s, v, p, e); break;
        case ECS_SHAPE_DOUBLE:
        case ECS_SHAPE_FLOAT: r = check_double(s, v, p, e); break;
        case ECS_SHAPE_TIMESTAMP: r = json_is_number(v) ? 0 : type_error(s, v, p, e); break;
        case ECS_SHAPE_DOCUMENT: r = 0; break;
        default:
                return err_set(e, -EINVAL, ERR_KIND_INTERNAL, "%s: shape %s has an unknown type", path_str(p), s->name);
        }
        if (r < 0)
                return r;
        return copy_value(v, ret, e);
}

/* Refuse nesting deeper than ECS_SHAPE_MAX_DEPTH anywhere in `root`, unknown members included, without recursion:
 * an explicit stack of at most ECS_SHAPE_MAX_DEPTH frames. */
static int check_depth(const json_t *root, struct err *e) {
        struct frame {
                json_t *v;
                void *iter;
                size_t idx;
                size_t path_len;
        } stack[ECS_SHAPE_MAX_DEPTH];
        struct path path = {.len = 0};
        size_t n = 0;

        if (!json_is_object(root) && !json_is_array(root))
                return 0;
        stack[n++] = (struct frame){.v = unconst(root), .iter = json_object_iter(unconst(root)), .path_len = 0};
        while (n > 0) {
                struct frame *f = &stack[n - 1];
                json_t *child;
                path_restore(&path, f->path_len);
                if (json_is_object(f->v)) {
                        if (!f->iter) {
                                n--;
                                continue;
                        }
                        path_push_key(&path, json_object_iter_key(f->iter));
                        child = json_object_iter_value(f->iter);
                        f->iter = json_object_iter_next(f->v, f->iter);
                } else {
                        if (f->idx >= json_array_size(f->v)) {
                                n--;
                                continue;
                        }
                        path_push_index(&path, f->idx);
                        child = json_array_get(f->v, f->idx);
                        f->idx++;
                }
                if (!json_is_object(child) && !json_is_array(child))
                        continue;
                if (n == ECS_SHAPE_MAX_DEPTH)
                        return err_set(e, -EINVAL, ERR_KIND_SERIALIZATION, "%s: nesting deeper than %d levels",
                                       path_str(&path), ECS_SHAPE_MAX_DEPTH);
                stack[n++] = (struct frame){
                        .v = child,
                        .iter = json_is_object(child) ? json_object_iter(child) : NULL,
                        .path_len = path.len,
                };
        }
        return 0;
}

int ecs_shape_check(const struct ecs_shape *shape, const json_t *in, json_t **ret, struct err *e) {
        ASSERT(shape);
        ASSERT(ret);
        json_auto_t *empty = NULL;
        struct path path = {.len = 0};

        if (!in) {
                empty = json_object();
                if (!empty)
                        return oom(e);
                in = empty;
        }
        if (!json_is_object(in))
                return err_set(e, -EINVAL, ERR_KIND_SERIALIZATION, "request: expected an object, got %s",
                               json_kind(in));
        int r = check_depth(in, e);
        if (r < 0)
                return r;
        return walk(shape, in, &path, 1, ret, e);
}

static int operation_cmp(const void *key, const void *elem) {
        const struct ecs_operation *op = elem;
        return strcmp(key, op->name);
}

const struct ecs_shape *ecs_shape_input(const char *action) {
        if (!action)
                return NULL;
        const struct ecs_operation *op =
                bsearch(action, ecs_operations, ecs_operations_count, sizeof(ecs_operations[0]), operation_cmp);
        return op ? op->input : NULL;
}

bool ecs_action_known(const char *action) {
        return ecs_shape_input(action) != NULL;
}

const char *ecs_shape_name(const struct ecs_shape *shape) {
        return shape ? shape->name : NULL;
}
