/* placement.c — the cluster query language, placement constraints and strategies (placement.h).
 *
 * The query language is parsed by recursive descent into a small JSON tree: {"op": "and"|"or", "l", "r"},
 * {"op": "not", "e"}, {"op": "cmp", "subject", "cmp": "==" ..., "values": [..]}. Precedence, loosest first: or, and,
 * not; parentheses group. Words are runs of the characters attribute names and values may hold; list values are
 * "[a, b]". Matching reads an instance view (placement.h). Pure: no state, any thread. */
#include "placement.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ecs.h"
#include "taskdef-validate.h"

#define CONSTRAINTS_MAX 10
#define STRATEGIES_MAX 5
#define EXPRESSION_MAX 2000
#define WORD_MAX 256

/* ---- the tokenizer ---- */

struct lexer {
        const char *s, *p;
        struct err *e;
        int r; /* first error */
};

static void skip_space(struct lexer *lx) {
        while (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\n')
                lx->p++;
}

static bool word_char(char c) {
        return c && (isalnum((unsigned char) c) || strchr("._-:/@*\\+?", c));
}

static int fail(struct lexer *lx, const char *what) {
        if (lx->r == 0)
                lx->r = err_set(lx->e, -EINVAL, ERR_KIND_INVALID,
                                "Invalid query expression '%.200s': %s at position %d.", lx->s, what,
                                (int) (lx->p - lx->s) + 1);
        return lx->r;
}

/* Read a word into buf; false (and nothing consumed) when none starts here. */
static bool read_word(struct lexer *lx, char *buf, size_t size) {
        skip_space(lx);
        const char *q = lx->p;
        while (*q && word_char(*q))
                q++;
        size_t n = (size_t) (q - lx->p);
        if (n == 0)
                return false;
        if (n >= size) {
                fail(lx, "a word is too long");
                return false;
        }
        memcpy(buf, lx->p, n);
        buf[n] = '\0';
        lx->p = q;
        return true;
}

/* Consume `tok` when it comes next (a keyword only as a whole word). */
static bool accept(struct lexer *lx, const char *tok) {
        skip_space(lx);
        size_t n = strlen(tok);
        if (strncmp(lx->p, tok, n) != 0)
                return false;
        if (isalpha((unsigned char) tok[0]) && word_char(lx->p[n]))
                return false;
        lx->p += n;
        return true;
}

/* ---- the parser ---- */

static json_t *parse_or(struct lexer *lx);

static const char *const subjects[] = {"agentConnected", "agentVersion",      "ec2InstanceId",
                                       "instanceId",     "registeredAt",      "runningTasksCount",
                                       "task:group"};

/* Operators, longest spelling first so that ">=" is not read as ">". The second column is the canonical form. */
static const char *const operators[][2] = {
        {"==", "=="}, {"equals", "=="}, {"!=", "!="}, {"not_equals", "!="}, {">=", ">="},
        {"greater_than_equal", ">="}, {"<=", "<="}, {"less_than_equal", "<="}, {">", ">"}, {"greater_than", ">"},
        {"<", "<"}, {"less_than", "<"}, {"=~", "=~"}, {"matches", "=~"}, {"!~", "!~"}, {"not_matches", "!~"},
        {"not_in", "not_in"}, {"in", "in"}, {"!exists", "!exists"}, {"exists", "exists"},
};

static json_t *parse_values(struct lexer *lx, bool list) {
        json_t *values = json_array();
        char w[WORD_MAX];
        if (!list) {
                if (!read_word(lx, w, sizeof(w))) {
                        fail(lx, "a value is expected");
                        json_decref(values);
                        return NULL;
                }
                json_array_append_new(values, json_string(w));
                return values;
        }
        if (!accept(lx, "[")) {
                fail(lx, "a list '[a, b]' is expected");
                json_decref(values);
                return NULL;
        }
        do {
                if (!read_word(lx, w, sizeof(w))) {
                        fail(lx, "a list value is expected");
                        json_decref(values);
                        return NULL;
                }
                json_array_append_new(values, json_string(w));
        } while (accept(lx, ","));
        if (!accept(lx, "]")) {
                fail(lx, "']' is expected");
                json_decref(values);
                return NULL;
        }
        return values;
}

static json_t *parse_cmp(struct lexer *lx) {
        char subject[WORD_MAX];
        const char *start = lx->p;
        if (!read_word(lx, subject, sizeof(subject))) {
                fail(lx, "an attribute or 'task:group' is expected");
                return NULL;
        }
        bool known = strncmp(subject, "attribute:", 10) == 0 && subject[10];
        for (size_t i = 0; !known && i < ARRAY_SIZE(subjects); i++)
                known = strcmp(subject, subjects[i]) == 0;
        if (!known) {
                lx->p = start;
                skip_space(lx);
                fail(lx, "unknown attribute");
                return NULL;
        }
        const char *op = NULL;
        for (size_t i = 0; !op && i < ARRAY_SIZE(operators); i++)
                if (accept(lx, operators[i][0]))
                        op = operators[i][1];
        if (!op) {
                fail(lx, "an operator is expected");
                return NULL;
        }
        json_t *node = json_pack("{s:s, s:s, s:s}", "op", "cmp", "subject", subject, "cmp", op);
        if (strcmp(op, "exists") == 0 || strcmp(op, "!exists") == 0) {
                json_object_set_new(node, "values", json_array());
                return node;
        }
        json_t *values = parse_values(lx, strcmp(op, "in") == 0 || strcmp(op, "not_in") == 0);
        if (!values) {
                json_decref(node);
                return NULL;
        }
        json_object_set_new(node, "values", values);
        return node;
}

static json_t *parse_unary(struct lexer *lx) {
        if (accept(lx, "not") || accept(lx, "!")) {
                json_t *inner = parse_unary(lx);
                return inner ? json_pack("{s:s, s:o}", "op", "not", "e", inner) : NULL;
        }
        if (accept(lx, "(")) {
                json_t *inner = parse_or(lx);
                if (inner && !accept(lx, ")")) {
                        fail(lx, "')' is expected");
                        json_decref(inner);
                        return NULL;
                }
                return inner;
        }
        return parse_cmp(lx);
}

static json_t *parse_and(struct lexer *lx) {
        json_t *l = parse_unary(lx);
        while (l && (accept(lx, "and") || accept(lx, "&&"))) {
                json_t *r = parse_unary(lx);
                if (!r) {
                        json_decref(l);
                        return NULL;
                }
                l = json_pack("{s:s, s:o, s:o}", "op", "and", "l", l, "r", r);
        }
        return l;
}

static json_t *parse_or(struct lexer *lx) {
        json_t *l = parse_and(lx);
        while (l && (accept(lx, "or") || accept(lx, "||"))) {
                json_t *r = parse_and(lx);
                if (!r) {
                        json_decref(l);
                        return NULL;
                }
                l = json_pack("{s:s, s:o, s:o}", "op", "or", "l", l, "r", r);
        }
        return l;
}

int rt_query_parse(const char *expr, json_t **ret, struct err *e) {
        if (!expr || !*expr)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "The query expression is empty.");
        if (strlen(expr) > EXPRESSION_MAX)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "The query expression is longer than %d characters.",
                               EXPRESSION_MAX);
        struct lexer lx = {.s = expr, .p = expr, .e = e};
        json_t *q = parse_or(&lx);
        if (q) {
                skip_space(&lx);
                if (*lx.p) {
                        fail(&lx, "unexpected text");
                        json_decref(q);
                        q = NULL;
                }
        }
        if (!q)
                return lx.r ? lx.r : err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid query expression.");
        *ret = q;
        return 0;
}

/* ---- matching ---- */

/* Compare as numbers when both are numbers, else as strings (ISO dates compare right as strings). */
static int compare(const char *a, const char *b) {
        char *ea, *eb;
        double x = strtod(a, &ea), y = strtod(b, &eb);
        if (*a && *b && !*ea && !*eb)
                return x < y ? -1 : x > y ? 1 : 0;
        return strcmp(a, b);
}

static bool cmp_one(const char *op, const char *have, const json_t *values) {
        const char *v0 = json_string_value(json_array_get(values, 0));
        if (strcmp(op, "==") == 0)
                return compare(have, v0) == 0;
        if (strcmp(op, ">") == 0)
                return compare(have, v0) > 0;
        if (strcmp(op, ">=") == 0)
                return compare(have, v0) >= 0;
        if (strcmp(op, "<") == 0)
                return compare(have, v0) < 0;
        if (strcmp(op, "<=") == 0)
                return compare(have, v0) <= 0;
        if (strcmp(op, "=~") == 0)
                return fnmatch(v0, have, 0) == 0;
        if (strcmp(op, "in") == 0) {
                size_t i;
                const json_t *v;
                json_array_foreach(values, i, v) if (compare(have, json_string_value(v)) == 0) return true;
                return false;
        }
        return false;
}

/* The negative operators hold when their positive does not (a missing attribute included). */
static const char *positive_of(const char *op) {
        if (strcmp(op, "!=") == 0)
                return "==";
        if (strcmp(op, "!~") == 0)
                return "=~";
        if (strcmp(op, "not_in") == 0)
                return "in";
        return NULL;
}

/* The instance's value for `subject` in buf; false when it has none. */
static bool subject_value(const json_t *view, const char *subject, char *buf, size_t size) {
        if (strncmp(subject, "attribute:", 10) == 0) {
                const json_t *attrs = json_object_get(view, "attributes");
                const json_t *v = json_object_get(attrs, subject + 10);
                if (!v)
                        return false;
                str_printf(buf, size, "%s", json_is_string(v) ? json_string_value(v) : "");
                return true;
        }
        const char *key = strcmp(subject, "instanceId") == 0 ? "ec2InstanceId" : subject;
        const json_t *v = json_object_get(view, key);
        if (!v || json_is_null(v))
                return false;
        if (json_is_boolean(v))
                str_printf(buf, size, "%s", json_is_true(v) ? "true" : "false");
        else if (json_is_integer(v))
                str_printf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else
                str_printf(buf, size, "%s", json_string_value(v) ? json_string_value(v) : "");
        return true;
}

bool rt_query_match(const json_t *q, const json_t *view) {
        const char *op = ecs_json_str(q, "op", "");
        if (strcmp(op, "and") == 0)
                return rt_query_match(json_object_get(q, "l"), view) && rt_query_match(json_object_get(q, "r"), view);
        if (strcmp(op, "or") == 0)
                return rt_query_match(json_object_get(q, "l"), view) || rt_query_match(json_object_get(q, "r"), view);
        if (strcmp(op, "not") == 0)
                return !rt_query_match(json_object_get(q, "e"), view);
        const char *subject = ecs_json_str(q, "subject", "");
        const char *cmp = ecs_json_str(q, "cmp", "");
        const json_t *values = json_object_get(q, "values");
        const char *pos = positive_of(cmp);
        if (strcmp(subject, "task:group") == 0) {
                /* The instance runs a task of the group. */
                const char *want = pos ? pos : cmp;
                bool any = false;
                size_t i;
                const json_t *g;
                json_array_foreach(json_object_get(view, "groups"), i, g) {
                        if (strcmp(want, "exists") == 0 || strcmp(want, "!exists") == 0)
                                any = true;
                        else if (cmp_one(want, json_string_value(g), values))
                                any = true;
                }
                if (strcmp(cmp, "!exists") == 0)
                        return !any;
                return pos ? !any : any;
        }
        char have[WORD_MAX * 2];
        bool has = subject_value(view, subject, have, sizeof(have));
        if (strcmp(cmp, "exists") == 0)
                return has;
        if (strcmp(cmp, "!exists") == 0)
                return !has;
        if (pos)
                return !has || !cmp_one(pos, have, values);
        return has && cmp_one(cmp, have, values);
}

/* ---- constraints and strategies ---- */

int rt_placement_validate(const json_t *constraints, const json_t *strategy, struct err *e) {
        if (json_array_size(constraints) > CONSTRAINTS_MAX)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "Too many placement constraints: at most %d.",
                               CONSTRAINTS_MAX);
        if (json_array_size(strategy) > STRATEGIES_MAX)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "Too many placement strategies: at most %d.",
                               STRATEGIES_MAX);
        size_t i;
        const json_t *c;
        json_array_foreach(constraints, i, c) {
                const char *type = ecs_json_str(c, "type", NULL);
                const char *expr = ecs_json_str(c, "expression", NULL);
                if (!type)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "A placement constraint needs a type.");
                if (strcmp(type, "distinctInstance") == 0) {
                        if (expr && *expr)
                                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                               "A distinctInstance placement constraint takes no expression.");
                } else if (strcmp(type, "memberOf") == 0) {
                        if (!expr || !*expr)
                                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                               "A memberOf placement constraint needs an expression.");
                        json_t *q = NULL;
                        int r = rt_query_parse(expr, &q, e);
                        json_decref(q);
                        if (r < 0)
                                return r;
                } else
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "Unknown placement constraint type '%.64s'.",
                                       type);
        }
        json_array_foreach(strategy, i, c) {
                const char *type = ecs_json_str(c, "type", NULL);
                const char *field = ecs_json_str(c, "field", NULL);
                if (!type)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "A placement strategy needs a type.");
                if (strcmp(type, "random") == 0) {
                        if (field && *field)
                                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                               "The random placement strategy takes no field.");
                } else if (strcmp(type, "binpack") == 0) {
                        if (!field || (strcasecmp(field, "cpu") != 0 && strcasecmp(field, "memory") != 0))
                                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                               "The binpack placement strategy's field must be cpu or memory.");
                } else if (strcmp(type, "spread") == 0) {
                        if (!field || !(strcmp(field, "instanceId") == 0 || strcmp(field, "host") == 0 ||
                                        (strncmp(field, "attribute:", 10) == 0 && field[10])))
                                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                               "The spread placement strategy's field must be instanceId, host or "
                                               "attribute:NAME.");
                } else
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "Unknown placement strategy type '%.64s'.",
                                       type);
        }
        return 0;
}

static int64_t count_group(const json_t *view, const char *group) {
        int64_t n = 0;
        size_t i;
        const json_t *g;
        json_array_foreach(json_object_get(view, "groups"), i, g) if (group && strcmp(json_string_value(g), group) ==
                                                                       0) n++;
        return n;
}

/* How many tasks of the group run on instances that share this one's value of `attr`. */
static int64_t count_group_by_attr(const json_t *views, const json_t *view, const char *attr, const char *group) {
        const json_t *mine = json_object_get(json_object_get(view, "attributes"), attr);
        int64_t n = 0;
        size_t i;
        const json_t *v;
        json_array_foreach(views, i, v) {
                const json_t *theirs = json_object_get(json_object_get(v, "attributes"), attr);
                if ((!mine && !theirs) || (mine && theirs && json_equal(mine, theirs)))
                        n += count_group(v, group);
        }
        return n;
}

struct candidate {
        size_t index;
        const json_t *view;
        uint64_t random_key;
};

struct sort_ctx {
        const json_t *views;
        const struct rt_placement_need *need;
        const json_t *strategy; /* never empty */
};

static _Thread_local const struct sort_ctx *sort_ctx;

/* The key of one strategy for a candidate: smaller is better. */
static int64_t strategy_key(const json_t *s, const struct candidate *c) {
        const char *type = ecs_json_str(s, "type", "");
        const char *field = ecs_json_str(s, "field", "");
        const struct rt_placement_need *need = sort_ctx->need;
        if (strcmp(type, "binpack") == 0) {
                /* What would remain: least first, so tasks pack onto the fullest instance. */
                if (strcasecmp(field, "cpu") == 0)
                        return json_integer_value(json_object_get(c->view, "cpu")) - need->cpu;
                return json_integer_value(json_object_get(c->view, "memory")) - need->memory;
        }
        if (strcmp(type, "spread") == 0) {
                if (strncmp(field, "attribute:", 10) == 0)
                        return count_group_by_attr(sort_ctx->views, c->view, field + 10, need->group);
                return count_group(c->view, need->group);
        }
        return (int64_t) (c->random_key >> 1);
}

static int cmp_candidates(const void *x, const void *y) {
        const struct candidate *a = x, *b = y;
        size_t i;
        const json_t *s;
        json_array_foreach(sort_ctx->strategy, i, s) {
                int64_t ka = strategy_key(s, a), kb = strategy_key(s, b);
                if (ka != kb)
                        return ka < kb ? -1 : 1;
        }
        return a->index < b->index ? -1 : a->index > b->index ? 1 : 0;
}

static uint64_t splitmix(uint64_t *x) {
        uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

/* Why `view` cannot take the task, or NULL when it can. */
static const char *rejection(const json_t *view, const struct rt_placement_need *need) {
        if (!json_is_true(json_object_get(view, "runnable")) || !json_is_true(json_object_get(view, "agentConnected")))
                return "AGENT";
        size_t i;
        const json_t *c;
        json_array_foreach(need->constraints, i, c) {
                const char *type = ecs_json_str(c, "type", "");
                if (strcmp(type, "distinctInstance") == 0 && count_group(view, need->group) > 0)
                        return "DistinctInstance placement constraint unsatisfied.";
                if (strcmp(type, "memberOf") == 0) {
                        json_auto_t *q = NULL;
                        struct err ignored = {0};
                        if (rt_query_parse(ecs_json_str(c, "expression", ""), &q, &ignored) < 0 ||
                            !rt_query_match(q, view))
                                return "MemberOf placement constraint unsatisfied.";
                }
        }
        if (json_integer_value(json_object_get(view, "cpu")) < need->cpu)
                return "RESOURCE:CPU";
        if (json_integer_value(json_object_get(view, "memory")) < need->memory)
                return "RESOURCE:MEMORY";
        return NULL;
}

int rt_placement_choose(const json_t *views, const struct rt_placement_need *need, uint64_t seed,
                        json_t **ret_failures) {
        size_t n = json_array_size(views), k = 0;
        struct candidate *cands = xcalloc(n ? n : 1, sizeof(*cands));
        json_t *failures = json_array();
        size_t i;
        const json_t *v;
        json_array_foreach(views, i, v) {
                /* A DRAINING instance takes no new task; ECS does not list it as a failure. */
                if (strcmp(ecs_json_str(v, "status", ""), "ACTIVE") != 0)
                        continue;
                const char *why = rejection(v, need);
                if (why) {
                        json_array_append_new(failures, json_pack("{s:s, s:s}", "arn", ecs_json_str(v, "arn", ""),
                                                                  "reason", why));
                        continue;
                }
                cands[k++] = (struct candidate){.index = i, .view = v, .random_key = splitmix(&seed)};
        }
        if (k == 0) {
                free(cands);
                *ret_failures = failures;
                return -ENOSPC;
        }
        json_decref(failures);
        json_auto_t *dflt = json_pack("[{s:s, s:s}, {s:s, s:s}]", "type", "spread", "field",
                                      "attribute:ecs.availability-zone", "type", "spread", "field", "instanceId");
        struct sort_ctx ctx = {.views = views, .need = need,
                               .strategy = json_array_size(need->strategy) ? need->strategy : dflt};
        sort_ctx = &ctx;
        qsort(cands, k, sizeof(*cands), cmp_candidates);
        sort_ctx = NULL;
        int best = (int) cands[0].index;
        free(cands);
        return best;
}

/* ---- what a task reserves ---- */

void rt_placement_task_needs(const json_t *taskdef, const json_t *overrides, int64_t *ret_cpu, int64_t *ret_memory) {
        int64_t cpu = 0, mem = 0;
        const char *tcpu = ecs_json_str(overrides, "cpu", ecs_json_str(taskdef, "cpu", NULL));
        const char *tmem = ecs_json_str(overrides, "memory", ecs_json_str(taskdef, "memory", NULL));
        bool have_cpu = tcpu && ecs_taskdef_cpu_parse(tcpu, &cpu) == 0;
        bool have_mem = tmem && ecs_taskdef_memory_parse(tmem, &mem) == 0;
        size_t i;
        const json_t *c;
        int64_t sum_cpu = 0, sum_mem = 0;
        json_array_foreach(json_object_get(taskdef, "containerDefinitions"), i, c) {
                int64_t v;
                if (ecs_json_int(c, "cpu", &v) && v > 0)
                        sum_cpu += v;
                if (ecs_json_int(c, "memoryReservation", &v) && v > 0)
                        sum_mem += v;
                else if (ecs_json_int(c, "memory", &v) && v > 0)
                        sum_mem += v;
        }
        *ret_cpu = have_cpu ? cpu : sum_cpu;
        *ret_memory = have_mem ? mem : sum_mem;
}
