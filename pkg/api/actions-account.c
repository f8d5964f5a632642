/* actions-account.c — ListAccountSettings, PutAccountSetting, PutAccountSettingDefault, DeleteAccountSetting.
 *
 * An account setting is a value per (region, principal, name), stored as a record of kind "setting" keyed
 * "PRINCIPAL NAME". What applies to a principal is, in ECS's order: its own value, else the account default (the
 * value of the root principal, which PutAccountSettingDefault sets), else ECS's built-in default (the table below).
 * ecsd has no IAM: every caller is the account's root user, so a call without principalArn acts for the root and
 * PutAccountSetting without one is the same as PutAccountSettingDefault. Explicit principalArns (users and roles of
 * the account) hold their own overrides, which ListAccountSettings reports.
 *
 * Effects here: containerInsights is the default of a new cluster's containerInsights setting (CreateCluster reads
 * api_account_setting_effective). The other settings change nothing ecsd does (its ARNs are always the long format,
 * it has no IAM to authorize tagging, no ENI trunking, no Fargate platform) and are stored and reported only. */
#include <string.h>

#include "api-internal.h"

#define SETTINGS_PAGE_MAX 10
#define SETTING_KIND "setting"

struct setting_rule {
        const char *name;
        const char *dflt;
        const char *values[4]; /* NULL-terminated; the values ECS accepts */
        bool aws_managed;      /* read-only: AWS manages it */
        bool root_only;        /* only the root user may set it */
};

/* ECS's current defaults for an account that never set anything (the AWS API reference and the ECS developer guide,
 * "Account settings"), in the order of the model's SettingName enum. */
static const struct setting_rule rules[] = {
        {"serviceLongArnFormat", "enabled", {"enabled", "disabled"}, false, false},
        {"taskLongArnFormat", "enabled", {"enabled", "disabled"}, false, false},
        {"containerInstanceLongArnFormat", "enabled", {"enabled", "disabled"}, false, false},
        {"awsvpcTrunking", "disabled", {"enabled", "disabled"}, false, false},
        {"containerInsights", "disabled", {"enhanced", "enabled", "disabled"}, false, false},
        {"fargateFIPSMode", "disabled", {"enabled", "disabled"}, false, true},
        {"tagResourceAuthorization", "on", {"on", "off"}, false, false},
        {"fargateTaskRetirementWaitPeriod", "7", {"0", "7", "14"}, false, true},
        {"guardDutyActivate", "off", {"on", "off"}, true, false},
        {"defaultLogDriverMode", "non-blocking", {"blocking", "non-blocking"}, false, false},
        {"fargateEventWindows", "disabled", {"enabled", "disabled"}, false, false},
};

static const struct setting_rule *rule_find(const char *name) {
        for (size_t i = 0; name && i < ARRAY_SIZE(rules); i++)
                if (strcmp(rules[i].name, name) == 0)
                        return &rules[i];
        return NULL;
}

static void root_arn(struct api_call *call, char *buf, size_t size) {
        str_printf(buf, size, "arn:aws:iam::%s:root", call->account);
}

/* The principal a call names (principalArn; absent: the caller, who is the root user here) into `buf`. It must be
 * the root, a user or a role of this account: arn:aws:iam::ACCOUNT:root | user/NAME | role/NAME. */
static int principal_of(struct api_call *call, const json_t *in, char *buf, size_t size, struct err *e) {
        const char *p = ecs_json_str(in, "principalArn", NULL);
        if (!p) {
                root_arn(call, buf, size);
                return 0;
        }
        char prefix[64];
        str_printf(prefix, sizeof(prefix), "arn:aws:iam::%s:", call->account);
        size_t plen = strlen(prefix);
        const char *rest = strncmp(p, prefix, plen) == 0 ? p + plen : NULL;
        bool ok = rest && strlen(p) < 1024 && strchr(p, ' ') == NULL &&
                  (strcmp(rest, "root") == 0 || (strncmp(rest, "user/", 5) == 0 && rest[5]) ||
                   (strncmp(rest, "role/", 5) == 0 && rest[5]));
        if (!ok)
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "principalArn '%.200s' is not the root user, a user or a role of account %s.", p,
                               call->account);
        return str_printf(buf, size, "%s", p) < 0 ? err_set(e, -EINVAL, ERR_KIND_INVALID, "principalArn is too long.")
                                                  : 0;
}

static bool principal_is_root(struct api_call *call, const char *principal) {
        char root[64];
        root_arn(call, root, sizeof(root));
        return strcmp(principal, root) == 0;
}

static void record_key(char *buf, size_t size, const char *principal, const char *name) {
        str_printf(buf, size, "%s %s", principal, name);
}

static json_t *setting_doc(const struct setting_rule *rule, const char *value, const char *principal) {
        return json_pack("{s:s, s:s, s:s, s:s}", "name", rule->name, "value", value, "principalArn", principal, "type",
                         rule->aws_managed ? "aws_managed" : "user");
}

/* The principal's own stored value of `rule`, or NULL (-ENOENT). */
static int own_value(struct api_call *call, const char *principal, const struct setting_rule *rule, json_t **ret,
                     struct err *e) {
        char key[1200];
        record_key(key, sizeof(key), principal, rule->name);
        struct err lookup = {0};
        int r = rt_record_get(call->store, call->region, SETTING_KIND, key, ret, &lookup);
        if (r < 0 && r != -ENOENT)
                *e = lookup;
        return r;
}

/* What applies to `principal`: its own value, else the root's (the account default), else ECS's default. */
static int effective(struct api_call *call, const char *principal, const struct setting_rule *rule, char *value,
                     size_t size, struct err *e) {
        char root[64];
        root_arn(call, root, sizeof(root));
        const char *who[2] = {principal, root};
        for (size_t i = 0; i < 2; i++) {
                json_auto_t *doc = NULL;
                int r = own_value(call, who[i], rule, &doc, e);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return r;
                str_printf(value, size, "%s", ecs_json_str(doc, "value", rule->dflt));
                return 0;
        }
        str_printf(value, size, "%s", rule->dflt);
        return 0;
}

int api_account_setting_effective(struct api_call *call, const char *name, char *value, size_t size,
                                  struct err *e) {
        const struct setting_rule *rule = rule_find(name);
        ASSERT(rule);
        char root[64];
        root_arn(call, root, sizeof(root));
        return effective(call, root, rule, value, size, e);
}

/* The rule named by in.name, checked for a change to `value` by `principal`. */
static int change_check(struct api_call *call, const json_t *in, const char *principal, const char *value,
                        const struct setting_rule **ret, struct err *e) {
        const struct setting_rule *rule = rule_find(ecs_json_str(in, "name", NULL));
        if (!rule) /* the model's enum already refused other names; this keeps a missing one an error too */
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "An account setting name is required.");
        if (rule->aws_managed)
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "The %s account setting is managed by AWS and cannot be changed.", rule->name);
        if (rule->root_only && !principal_is_root(call, principal))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "The %s account setting can only be set for the root user.", rule->name);
        if (value) {
                bool ok = false;
                for (size_t i = 0; i < ARRAY_SIZE(rule->values) && rule->values[i]; i++)
                        ok = ok || strcmp(rule->values[i], value) == 0;
                if (!ok) {
                        char allowed[96] = "";
                        for (size_t i = 0; i < ARRAY_SIZE(rule->values) && rule->values[i]; i++)
                                str_printf(allowed + strlen(allowed), sizeof(allowed) - strlen(allowed), "%s%s",
                                           i ? ", " : "", rule->values[i]);
                        return err_set(e, -EINVAL, ERR_KIND_INVALID,
                                       "'%.64s' is not a valid value for %s: use one of %s.", value, rule->name,
                                       allowed);
                }
        }
        *ret = rule;
        return 0;
}

static int put_setting(struct api_call *call, const json_t *in, const char *principal, json_t **out, struct err *e) {
        const char *value = ecs_json_str(in, "value", "");
        const struct setting_rule *rule;
        int r = change_check(call, in, principal, value, &rule, e);
        if (r < 0)
                return r;
        json_auto_t *doc = setting_doc(rule, value, principal);
        char key[1200];
        record_key(key, sizeof(key), principal, rule->name);
        if ((r = rt_record_put(call->store, call->region, SETTING_KIND, key, doc, e)) < 0)
                return r;
        *out = json_pack("{s:O}", "setting", doc);
        return 0;
}

int api_put_account_setting(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        char principal[1024];
        int r = principal_of(call, in, principal, sizeof(principal), e);
        if (r < 0)
                return r;
        return put_setting(call, in, principal, out, e);
}

int api_put_account_setting_default(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        char root[64];
        root_arn(call, root, sizeof(root));
        return put_setting(call, in, root, out, e);
}

/* The principal's own value goes; the answer is the setting that was removed, or, when the principal had none, the
 * one that applies to it (nothing changed). */
int api_delete_account_setting(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        char principal[1024];
        int r = principal_of(call, in, principal, sizeof(principal), e);
        if (r < 0)
                return r;
        const struct setting_rule *rule;
        if ((r = change_check(call, in, principal, NULL, &rule, e)) < 0)
                return r;
        json_auto_t *doc = NULL;
        r = own_value(call, principal, rule, &doc, e);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r == -ENOENT) {
                char value[64];
                if ((r = effective(call, principal, rule, value, sizeof(value), e)) < 0)
                        return r;
                doc = setting_doc(rule, value, principal);
        } else {
                char key[1200];
                record_key(key, sizeof(key), principal, rule->name);
                struct err del = {0};
                if ((r = rt_record_delete(call->store, call->region, SETTING_KIND, key, &del)) < 0 && r != -ENOENT) {
                        *e = del;
                        return r;
                }
        }
        *out = json_pack("{s:O}", "setting", doc);
        return 0;
}

/* effectiveSettings true: one entry per setting (or the one named), what applies to the principal; false: only the
 * principal's own values. Ordered as the model lists the names; `value` keeps those equal to it; pages of
 * maxResults (1-10, default 10) resume after the last name returned. */
int api_list_account_settings(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        const char *name = ecs_json_str(in, "name", NULL);
        const char *want = ecs_json_str(in, "value", NULL);
        if (want && !name)
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "A setting name must be given when filtering by value.");
        int limit;
        int r = ecs_page_max_results(in, SETTINGS_PAGE_MAX, SETTINGS_PAGE_MAX, &limit, e);
        if (r < 0)
                return r;
        char after[ECS_PAGE_KEY_MAX] = "";
        const char *token = ecs_json_str(in, "nextToken", NULL);
        if (token && (r = ecs_page_token_decode("ListAccountSettings", token, after, e)) < 0)
                return r;
        char principal[1024];
        if ((r = principal_of(call, in, principal, sizeof(principal), e)) < 0)
                return r;
        bool effective_only = json_is_true(json_object_get(in, "effectiveSettings"));
        /* Resume after the name the token carries (it is one of the table's). */
        size_t start = 0;
        if (after[0]) {
                const struct setting_rule *last = rule_find(after);
                if (!last)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "Invalid nextToken.");
                start = (size_t) (last - rules) + 1;
        }
        json_auto_t *settings = json_array();
        const char *last_name = NULL;
        bool more = false;
        for (size_t i = start; i < ARRAY_SIZE(rules); i++) {
                const struct setting_rule *rule = &rules[i];
                if (name && strcmp(name, rule->name) != 0)
                        continue;
                json_auto_t *doc = NULL;
                if (effective_only) {
                        char value[64];
                        if ((r = effective(call, principal, rule, value, sizeof(value), e)) < 0)
                                return r;
                        doc = setting_doc(rule, value, principal);
                } else if ((r = own_value(call, principal, rule, &doc, e)) == -ENOENT)
                        continue;
                else if (r < 0)
                        return r;
                if (want && strcmp(ecs_json_str(doc, "value", ""), want) != 0)
                        continue;
                if (json_array_size(settings) == (size_t) limit) {
                        more = true;
                        break;
                }
                json_array_append(settings, doc);
                last_name = rule->name;
        }
        *out = json_pack("{s:O}", "settings", settings);
        if (more && last_name) {
                char next[ECS_PAGE_TOKEN_MAX];
                r = ecs_page_token_encode("ListAccountSettings", last_name, next, sizeof(next));
                ASSERT(r >= 0);
                json_object_set_new(*out, "nextToken", json_string(next));
        }
        return 0;
}
