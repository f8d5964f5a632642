/* ecs.h — the ECS domain vocabulary shared by every package: ARNs, resource names, pagination tokens, and the
 * AWS error shapes. Pure functions, no I/O, safe from any thread.
 *
 * The input shape checker (shape.h) and the task definition rules (taskdef-validate.h) live beside this header. */
#pragma once

#include <jansson.h>

#include "base.h"

#define ECS_TARGET_PREFIX "AmazonEC2ContainerServiceV20141113."
#define ECS_DEFAULT_CLUSTER "default"
/* Where ECS serves task credentials (the agent's address, port 80), and their path: a container with a task role gets
 * AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=ECS_CREDENTIALS_PATH<id>, which the SDKs resolve against this URL. */
#define ECS_CREDENTIALS_URL "http://169.254.170.2"
#define ECS_CREDENTIALS_PATH "/v2/credentials/"

/* Longest region / account / name / ARN we accept; longer input is rejected, never truncated. */
#define ECS_REGION_MAX 32
#define ECS_ACCOUNT_MAX 16
#define ECS_NAME_MAX 255
#define ECS_ARN_MAX 1024

/* A parsed ECS ARN: arn:PARTITION:ecs:REGION:ACCOUNT:TYPE/RESOURCE. `resource` is everything after the first '/'
 * (for a task definition "family:3", for a task "cluster/id"). */
struct ecs_arn {
        char partition[16];
        char region[ECS_REGION_MAX + 1];
        char account[ECS_ACCOUNT_MAX + 1];
        char type[32];
        char resource[ECS_ARN_MAX];
};

/* Parse `s` as an ECS ARN. Returns 0 and fills *ret, or -EINVAL (ERR_KIND_INVALID) naming what is wrong. */
int ecs_arn_parse(const char *s, struct ecs_arn *ret, struct err *e);

/* Format arn:aws:ecs:REGION:ACCOUNT:TYPE/RESOURCE into buf; -ENOBUFS if it does not fit. */
int ecs_arn_format(char *buf, size_t size, const char *region, const char *account, const char *type,
                   const char *resource);

/* True when `s` is 1..255 characters of letters, digits, '-' and '_' (cluster, family, container and volume names). */
bool ecs_name_valid(const char *s);

/* True when `s` looks like a region name ("us-east-1"): 1..32 of lowercase letters, digits and '-'. */
bool ecs_region_valid(const char *s);

/* Resolve a cluster reference (a name or a cluster ARN) to a cluster name in `name` (ECS_NAME_MAX + 1 bytes).
 * NULL or "" means the default cluster. An ARN of another region or account, or a malformed reference, fails with
 * ERR_KIND_CLUSTER_NOT_FOUND / ERR_KIND_INVALID. */
int ecs_cluster_ref_resolve(const char *ref, const char *region, const char *account, char *name, struct err *e);

/* Resolve a task definition reference: "family", "family:rev" or a task-definition ARN. Fills `family`
 * (ECS_NAME_MAX + 1 bytes) and *ret_revision (0 when none was given: "the latest ACTIVE"). */
int ecs_taskdef_ref_resolve(const char *ref, const char *region, const char *account, char *family,
                            int64_t *ret_revision, struct err *e);

/* Split a task definition ARN (arn:aws:ecs:REGION:ACCOUNT:task-definition/FAMILY:REVISION) into `family`
 * (ECS_NAME_MAX + 1 bytes) and *ret_revision (>= 1), whatever its region and account: for reading back ARNs ecsd
 * wrote (a task's taskDefinitionArn). -EINVAL (ERR_KIND_INVALID or ERR_KIND_CLIENT) when it is not one; nothing is
 * written then. Every family:revision split goes through here or ecs_taskdef_ref_resolve (one rule for both). */
int ecs_taskdef_arn_parse(const char *arn, char *family, int64_t *ret_revision, struct err *e);
/* The same for a daemon task definition ARN (arn:aws:ecs:REGION:ACCOUNT:daemon-task-definition/FAMILY:REVISION), the
 * taskDefinitionArn of a daemon's task. */
int ecs_daemon_taskdef_arn_parse(const char *arn, char *family, int64_t *ret_revision, struct err *e);

/* ---- reading request and definition documents ---- */

/* The string member `key` of `obj`, or `dflt` when it is absent or not a string. */
const char *ecs_json_str(const json_t *obj, const char *key, const char *dflt);
/* The integer member `key` of `obj`: true and *ret when it is present as a JSON integer. */
bool ecs_json_int(const json_t *obj, const char *key, int64_t *ret);
/* The integer member `key` of `obj`, or `dflt` when it is absent or not an integer. */
int64_t ecs_json_int_or(const json_t *obj, const char *key, int64_t dflt);
/* True for a task lastStatus before RUNNING that ECS counts as pending: PROVISIONING, PENDING, ACTIVATING. */
bool ecs_status_pending(const char *last_status);
/* True when the string array `list` (may be NULL) contains `value`. */
bool ecs_json_list_has(const json_t *list, const char *value);
/* Now as the ECS API writes timestamps: epoch seconds with millisecond precision (a new reference). */
json_t *ecs_timestamp_now(void);

/* ---- pagination tokens ----
 * A token is opaque to clients: base64url of "<scope>\n<last key>", where scope names the listing it belongs to
 * (so a token of ListClusters cannot be replayed on ListTaskDefinitions). */
#define ECS_PAGE_KEY_MAX 1024
#define ECS_PAGE_TOKEN_MAX 2048
#define ECS_PAGE_DEFAULT 100

int ecs_page_token_encode(const char *scope, const char *last_key, char *out, size_t size);
/* Decode `token` for `scope` into `last_key` (ECS_PAGE_KEY_MAX bytes). A token that is not ours, or is for another
 * scope, fails with ERR_KIND_INVALID. */
int ecs_page_token_decode(const char *scope, const char *token, char *last_key, struct err *e);

/* Read maxResults from a request: absent → `dflt`; outside 1..`max` → ERR_KIND_INVALID. */
int ecs_page_max_results(const json_t *req, int dflt, int max, int *ret, struct err *e);

/* ---- errors ---- */

/* The AWS error code ("__type") and HTTP status for an error kind. */
const char *ecs_error_type(int kind);
unsigned ecs_error_http_status(int kind);

/* A new {"__type": ..., "message": ...} object (caller owns). */
json_t *ecs_error_body(int kind, const char *message);
