/* store.h — the durable state of ecsd: clusters, task definitions, tags, tasks, captured task output and services, in
 * one SQLite database (WAL mode).
 *
 * Every function is safe to call from any thread (a writer connection behind a mutex, and read connections beside
 * it that see every commit) and returns only after the change is committed to the WAL, so an acknowledged write
 * survives kill -9 of the process. Documents go in and come out as jansson objects; the store never keeps a
 * reference to what it is given, and what it returns belongs to the caller.
 * "Not found" is -ENOENT with nothing written to *ret. */
#pragma once

#include <jansson.h>

#include "base.h"

struct rt_store;

/* Open (creating as needed) the database in `data_dir`; ":memory:" keeps state in memory only. The schema is created
 * or migrated here. A directory on disk is created 0700 if missing, refused if other users can write it (-EPERM) or
 * if another process holds its lock (-EBUSY, the message names the directory and the holder's pid), and locked until
 * rt_store_free (or the process's end, however it ends); the files in it are made 0600. */
int rt_store_open(const char *data_dir, struct rt_store **ret, struct err *e);
void rt_store_free(struct rt_store *s);

/* ---- clusters: one row per (region, name); status ACTIVE or INACTIVE ---- */

int rt_cluster_get(struct rt_store *s, const char *region, const char *name, json_t **ret, struct err *e);
/* 0 when the cluster exists and is ACTIVE, else -ENOENT (ERR_KIND_CLUSTER_NOT_FOUND); reads no document. */
int rt_cluster_check_active(struct rt_store *s, const char *region, const char *name, struct err *e);
/* Insert or replace the cluster; `doc` must carry clusterArn and status. */
int rt_cluster_put(struct rt_store *s, const char *region, const char *name, const json_t *doc, struct err *e);
/* Insert the cluster only when no row of that name exists (used for each region's "default" cluster). */
int rt_cluster_put_if_absent(struct rt_store *s, const char *region, const char *name, const json_t *doc,
                             struct err *e);
/* ACTIVE clusters of a region ordered by name, names > after (NULL: from the start), at most `limit` documents. */
int rt_cluster_list(struct rt_store *s, const char *region, const char *after, int limit, json_t **ret,
                    struct err *e);

/* ---- task definitions: one row per (region, family, revision) ---- */

/* Allocate the next revision of doc.family (1 + the highest ever used, deleted ones included), write revision and
 * taskDefinitionArn into `doc`, and insert it, atomically. */
int rt_taskdef_register(struct rt_store *s, const char *region, const char *account, json_t *doc, struct err *e);
/* `revision` 0 means the latest ACTIVE revision. */
int rt_taskdef_get(struct rt_store *s, const char *region, const char *family, int64_t revision, json_t **ret,
                   struct err *e);
/* The same document as the stored compact JSON text (as rt_task_doc_text): a new string in *ret, its length in
 * *ret_len. */
int rt_taskdef_doc_text(struct rt_store *s, const char *region, const char *family, int64_t revision, char **ret,
                        size_t *ret_len, struct err *e);
/* Replace an existing revision's document (its status is read from doc.status). */
int rt_taskdef_update(struct rt_store *s, const char *region, const json_t *doc, struct err *e);

struct rt_taskdef_query {
        const char *family;  /* exact family, or NULL for all */
        const char *status;  /* ACTIVE, INACTIVE, DELETE_IN_PROGRESS */
        bool descending;     /* order by (family, revision) descending */
        const char *after_family; /* resume after this (family, revision) in the chosen order; NULL: from the start */
        int64_t after_revision;
        int limit;
};
/* Task definition ARNs (strings) matching the query, in order. Each element of *ret is {"arn","family","revision"}. */
int rt_taskdef_list(struct rt_store *s, const char *region, const struct rt_taskdef_query *q, json_t **ret,
                    struct err *e);

/* Family names with `prefix` (NULL: any); status "ACTIVE" (some ACTIVE revision), "INACTIVE" (none ACTIVE) or "ALL";
 * names > after, ordered, at most `limit`. */
int rt_taskdef_families(struct rt_store *s, const char *region, const char *prefix, const char *status,
                        const char *after, int limit, json_t **ret, struct err *e);

/* ---- tags, keyed by resource ARN ---- */

/* [{"key","value"}...] ordered by key; an empty array when there are none. */
int rt_tags_get(struct rt_store *s, const char *arn, json_t **ret, struct err *e);
/* Add or overwrite each {"key","value"} of `tags`. */
int rt_tags_put(struct rt_store *s, const char *arn, const json_t *tags, struct err *e);
/* Remove each key in `keys` (an array of strings); missing keys are ignored. */
int rt_tags_remove(struct rt_store *s, const char *arn, const json_t *keys, struct err *e);
/* Remove every tag of a resource (when the resource itself goes away). */
int rt_tags_clear(struct rt_store *s, const char *arn, struct err *e);

/* ---- tasks: one row per task id; `doc` is the ECS Task object exactly as the API returns it, `priv` what the
 * lifecycle keeps for itself (the backend plan, the task definition, the stop bookkeeping) ---- */

struct rt_task_row {
        const char *id;
        const char *region;
        const char *cluster; /* cluster name */
        const char *family;
        const json_t *doc;   /* must carry desiredStatus and lastStatus; startedBy, launchType, stoppedAt are indexed */
        const json_t *priv;
};
/* Insert or replace the task's row. */
int rt_task_put(struct rt_store *s, const struct rt_task_row *row, struct err *e);
/* The task's documents; ret_priv may be NULL. -ENOENT (ERR_KIND_NOT_FOUND) when there is no such task. */
int rt_task_get(struct rt_store *s, const char *id, json_t **ret_doc, json_t **ret_priv, struct err *e);
/* The task's document as the stored compact JSON text (what json_dumps(doc, JSON_COMPACT) gave), for serving it
 * without decoding it: a new NUL-terminated string in *ret (free it), its length in *ret_len. -ENOENT as above. */
int rt_task_doc_text(struct rt_store *s, const char *id, char **ret, size_t *ret_len, struct err *e);

struct rt_task_query {
        const char *region;
        const char *cluster;
        const char *family;      /* NULL: any */
        const char *started_by;  /* NULL: any */
        const char *desired;     /* NULL: any */
        const char *launch_type; /* NULL: any */
        const char *group;       /* NULL: any; "service:NAME" finds a service's tasks */
        const char *instance;    /* NULL: any; a container instance ARN finds the tasks placed there */
        const char *after_id;    /* resume after this task id; NULL: from the start */
        int limit;
};
/* Task ARNs (strings) matching the query, ordered by task id. */
int rt_task_list(struct rt_store *s, const struct rt_task_query *q, json_t **ret, struct err *e);
/* The same listing without an array: `fn` gets each matching task in order, its id and its ARN (borrowed for the
 * call; `arn_len` bytes, NUL-terminated), holding a store connection, so it must not call the store. A negative return
 * from `fn` stops the listing and is returned. Read from the tasks_list index alone (no document) when `desired` is
 * given. */
typedef int (*rt_task_list_fn)(void *ctx, const char *id, const char *arn, size_t arn_len);
int rt_task_list_each(struct rt_store *s, const struct rt_task_query *q, rt_task_list_fn fn, void *ctx,
                      struct err *e);
/* A cluster's tasks by lastStatus: `running` (RUNNING), `pending` (not running yet: PROVISIONING, PENDING,
 * ACTIVATING) and `active` (every one not STOPPED, those on their way to STOPPED included); and its services by
 * status, ACTIVE and DRAINING. One read of the counts the store keeps, whatever the number of tasks. */
struct rt_cluster_counts {
        int64_t running;
        int64_t pending;
        int64_t active;
        int64_t services_active;
        int64_t services_draining;
};
int rt_cluster_counts(struct rt_store *s, const char *region, const char *cluster, struct rt_cluster_counts *ret,
                      struct err *e);
/* Every task not yet STOPPED, as [{"doc", "private"}], for restart recovery. */
int rt_task_active(struct rt_store *s, json_t **ret, struct err *e);
/* Forget STOPPED tasks that stopped before `stopped_before_ms` (epoch ms), with their tags and captured output. */
int rt_task_expire(struct rt_store *s, int64_t stopped_before_ms, int *ret_removed, struct err *e);

/* ---- services: one row per (region, cluster, name); `doc` is the ECS Service object as DescribeServices returns
 * it (without tags), `priv` what the scheduler keeps for itself. status ACTIVE, DRAINING or INACTIVE. ---- */

/* -ENOENT (ERR_KIND_SERVICE_NOT_FOUND) when no service of that name was ever made; ret_priv may be NULL. */
int rt_service_get(struct rt_store *s, const char *region, const char *cluster, const char *name, json_t **ret_doc,
                   json_t **ret_priv, struct err *e);
/* Insert or replace; `doc` must carry serviceName and status. */
int rt_service_put(struct rt_store *s, const char *region, const char *cluster, const json_t *doc,
                   const json_t *priv, struct err *e);
struct rt_service_query {
        const char *region;
        const char *cluster;
        const char *launch_type; /* NULL: any */
        const char *strategy;    /* REPLICA, DAEMON; NULL: any */
        const char *after;       /* resume after this name; NULL: from the start */
        int limit;
};
/* ACTIVE services matching the query, ordered by name (documents). */
int rt_service_list(struct rt_store *s, const struct rt_service_query *q, json_t **ret, struct err *e);
/* The same listing without documents: `fn` gets each service's name and ARN (borrowed; `arn_len` bytes,
 * NUL-terminated; "" for a document without serviceArn) in order, holding a store connection (it must not call the
 * store); read from the services_list index alone. A negative return from `fn` stops it and is returned. */
typedef int (*rt_service_list_fn)(void *ctx, const char *name, const char *arn, size_t arn_len);
int rt_service_list_each(struct rt_store *s, const struct rt_service_query *q, rt_service_list_fn fn, void *ctx,
                         struct err *e);
/* The service's document as the stored compact JSON text (as rt_task_doc_text): a new string in *ret, its length in
 * *ret_len. -ENOENT (ERR_KIND_SERVICE_NOT_FOUND) as rt_service_get. */
int rt_service_doc_text(struct rt_store *s, const char *region, const char *cluster, const char *name, char **ret,
                        size_t *ret_len, struct err *e);
/* Every ACTIVE or DRAINING service of every region, as [{"region","cluster","name"}]: what the scheduler keeps. */
int rt_service_live(struct rt_store *s, json_t **ret, struct err *e);

/* Captured output of one container of a task (written once, when the task's workload is removed). *ret is
 * NUL-terminated, caller frees. -ENOENT when nothing was captured. */
int rt_task_log_put(struct rt_store *s, const char *task_id, const char *container, const void *data, size_t len,
                    struct err *e);
int rt_task_log_get(struct rt_store *s, const char *task_id, const char *container, char **ret, size_t *ret_len,
                    struct err *e);

/* Read the value stored under `key`, storing `dflt` first when there is none (how the instance id is made once and
 * kept across restarts). Copies the value into buf. */
int rt_meta_get_or_put(struct rt_store *s, const char *key, const char *dflt, char *buf, size_t size,
                       struct err *e);

/* ---- container instances: one document per (region, cluster, instance id); see instances.h ---- */

/* -ENOENT (ERR_KIND_NOT_FOUND) when there is none. */
int rt_instance_get(struct rt_store *s, const char *region, const char *cluster, const char *id, json_t **ret,
                    struct err *e);
int rt_instance_put(struct rt_store *s, const char *region, const char *cluster, const char *id, const json_t *doc,
                    struct err *e);
/* A missing row is not an error. */
int rt_instance_delete(struct rt_store *s, const char *region, const char *cluster, const char *id, struct err *e);
/* Every document of a cluster: {id: doc}, ordered by id. */
int rt_instance_list(struct rt_store *s, const char *region, const char *cluster, json_t **ret, struct err *e);
/* Every task not yet STOPPED that was placed on a container instance, in every region: [{"id", "region", "cluster",
 * "instance": its containerInstanceArn, "lastStatus", "group", "cpu", "memory": what it reserved there (the
 * private record's "reserved")}]. */
int rt_task_placements(struct rt_store *s, json_t **ret, struct err *e);
/* ---- small records: one document per (region, kind, key), for account settings ("setting"), capacity providers
 * ("capacity-provider") and task protection ("task-protection"); kinds are the callers' to choose ---- */

/* -ENOENT (ERR_KIND_NOT_FOUND) when there is none. */
int rt_record_get(struct rt_store *s, const char *region, const char *kind, const char *key, json_t **ret,
                  struct err *e);
/* Insert or replace. */
int rt_record_put(struct rt_store *s, const char *region, const char *kind, const char *key, const json_t *doc,
                  struct err *e);
/* -ENOENT (e untouched) when there was none. */
int rt_record_delete(struct rt_store *s, const char *region, const char *kind, const char *key, struct err *e);
/* Records of a kind with key > after (NULL: from the start), ordered by key, at most `limit`: [{"key", "doc"}]. */
int rt_record_list(struct rt_store *s, const char *region, const char *kind, const char *after, int limit,
                   json_t **ret, struct err *e);

/* How many of a cluster's tasks not yet STOPPED run on capacity provider `provider` (their capacityProviderName). */
int rt_task_count_provider(struct rt_store *s, const char *region, const char *cluster, const char *provider,
                           int64_t *ret, struct err *e);

/* A cluster's tasks and services by launch type (DescribeClusters include STATISTICS): {"tasks": {launchType:
 * {"running", "pending"}}, "services": {launchType or first capacity provider: {"active", "draining"}}}. */
int rt_cluster_statistics(struct rt_store *s, const char *region, const char *cluster, json_t **ret, struct err *e);
