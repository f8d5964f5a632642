/* test_store.c — the SQLite store (pkg/runtime/store.c): revisions, listings in both orders with resume keys,
 * family status, tags, that state is still there after the database is closed and opened again, and that reads on
 * other threads (the read connections of an on-disk store) see every committed write. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <unistd.h>

#include "store.h"

static char dir[] = "/tmp/ecsd-test-store-XXXXXX";

static json_t *taskdef(const char *family) {
        return json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "family", family, "status", "ACTIVE", "containerDefinitions",
                         "name", "app", "image", "busybox");
}

static void register_n(struct rt_store *s, const char *region, const char *family, int n) {
        for (int i = 0; i < n; i++) {
                json_t *doc = taskdef(family);
                struct err e = {0};
                assert_int_equal(rt_taskdef_register(s, region, "000000000000", doc, &e), 0);
                json_decref(doc);
        }
}

static void revisions_and_lookup(void **state) {
        (void) state;
        struct rt_store *s = NULL;
        struct err e = {0};
        assert_int_equal(rt_store_open(":memory:", &s, &e), 0);
        json_t *doc = taskdef("web");
        assert_int_equal(rt_taskdef_register(s, "us-east-1", "000000000000", doc, &e), 0);
        assert_int_equal(json_integer_value(json_object_get(doc, "revision")), 1);
        assert_string_equal(json_string_value(json_object_get(doc, "taskDefinitionArn")),
                            "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1");
        json_decref(doc);
        register_n(s, "us-east-1", "web", 2);
        register_n(s, "eu-west-1", "web", 1); /* regions count revisions separately */

        json_t *got = NULL;
        assert_int_equal(rt_taskdef_get(s, "us-east-1", "web", 0, &got, &e), 0);
        assert_int_equal(json_integer_value(json_object_get(got, "revision")), 3);
        /* Deregister the latest: "latest ACTIVE" falls back to revision 2, revision 3 stays describable. */
        json_object_set_new(got, "status", json_string("INACTIVE"));
        assert_int_equal(rt_taskdef_update(s, "us-east-1", got, &e), 0);
        json_decref(got);
        assert_int_equal(rt_taskdef_get(s, "us-east-1", "web", 0, &got, &e), 0);
        assert_int_equal(json_integer_value(json_object_get(got, "revision")), 2);
        json_decref(got);
        assert_int_equal(rt_taskdef_get(s, "us-east-1", "web", 3, &got, &e), 0);
        assert_string_equal(json_string_value(json_object_get(got, "status")), "INACTIVE");
        json_decref(got);
        /* A new registration continues after the highest revision ever used. */
        register_n(s, "us-east-1", "web", 1);
        assert_int_equal(rt_taskdef_get(s, "us-east-1", "web", 4, &got, &e), 0);
        json_decref(got);
        assert_int_equal(rt_taskdef_get(s, "us-east-1", "nope", 0, &got, &e), -ENOENT);
        assert_int_equal(rt_taskdef_get(s, "eu-west-1", "web", 2, &got, &e), -ENOENT);
        rt_store_free(s);
}

static void listing_pages_visit_everything_once(void **state) {
        (void) state;
        struct rt_store *s = NULL;
        struct err e = {0};
        assert_int_equal(rt_store_open(":memory:", &s, &e), 0);
        register_n(s, "us-east-1", "a", 3);
        register_n(s, "us-east-1", "b", 2);
        register_n(s, "us-east-1", "c", 2);
        for (int desc = 0; desc <= 1; desc++) {
                struct rt_taskdef_query q = {.status = "ACTIVE", .descending = desc, .limit = 3};
                char fam[64] = "";
                int seen = 0;
                const char *first_expected = desc ? "arn:aws:ecs:us-east-1:000000000000:task-definition/c:2"
                                                  : "arn:aws:ecs:us-east-1:000000000000:task-definition/a:1";
                for (;;) {
                        json_t *rows = NULL;
                        assert_int_equal(rt_taskdef_list(s, "us-east-1", &q, &rows, &e), 0);
                        size_t n = json_array_size(rows);
                        if (seen == 0)
                                assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "arn")),
                                                    first_expected);
                        seen += (int) n;
                        if (n < 3) {
                                json_decref(rows);
                                break;
                        }
                        json_t *last = json_array_get(rows, n - 1);
                        snprintf(fam, sizeof(fam), "%s", json_string_value(json_object_get(last, "family")));
                        q.after_family = fam;
                        q.after_revision = json_integer_value(json_object_get(last, "revision"));
                        json_decref(rows);
                }
                assert_int_equal(seen, 7);
        }
        /* Exact family filter. */
        struct rt_taskdef_query q = {.family = "b", .status = "ACTIVE", .limit = 100};
        json_t *rows = NULL;
        assert_int_equal(rt_taskdef_list(s, "us-east-1", &q, &rows, &e), 0);
        assert_int_equal(json_array_size(rows), 2);
        json_decref(rows);
        rt_store_free(s);
}

static void families_by_status_and_prefix(void **state) {
        (void) state;
        struct rt_store *s = NULL;
        struct err e = {0};
        assert_int_equal(rt_store_open(":memory:", &s, &e), 0);
        register_n(s, "us-east-1", "web_a", 1);
        register_n(s, "us-east-1", "webxa", 1);
        register_n(s, "us-east-1", "worker", 1);
        json_t *doc = NULL;
        assert_int_equal(rt_taskdef_get(s, "us-east-1", "worker", 1, &doc, &e), 0);
        json_object_set_new(doc, "status", json_string("INACTIVE"));
        assert_int_equal(rt_taskdef_update(s, "us-east-1", doc, &e), 0);
        json_decref(doc);

        json_t *names = NULL;
        assert_int_equal(rt_taskdef_families(s, "us-east-1", NULL, "ACTIVE", NULL, 100, &names, &e), 0);
        assert_int_equal(json_array_size(names), 2);
        json_decref(names);
        assert_int_equal(rt_taskdef_families(s, "us-east-1", NULL, "INACTIVE", NULL, 100, &names, &e), 0);
        assert_int_equal(json_array_size(names), 1);
        assert_string_equal(json_string_value(json_array_get(names, 0)), "worker");
        json_decref(names);
        /* '_' is a plain character in a prefix, not a wildcard. */
        assert_int_equal(rt_taskdef_families(s, "us-east-1", "web_", "ALL", NULL, 100, &names, &e), 0);
        assert_int_equal(json_array_size(names), 1);
        assert_string_equal(json_string_value(json_array_get(names, 0)), "web_a");
        json_decref(names);
        assert_int_equal(rt_taskdef_families(s, "us-east-1", NULL, "ALL", "web_a", 100, &names, &e), 0);
        assert_int_equal(json_array_size(names), 2);
        json_decref(names);
        rt_store_free(s);
}

static void tags_and_persistence(void **state) {
        (void) state;
        struct rt_store *s = NULL;
        struct err e = {0};
        assert_non_null(mkdtemp(dir));
        char path[256];
        snprintf(path, sizeof(path), "%s/nested/data", dir);
        assert_int_equal(rt_store_open(path, &s, &e), 0);
        const char *arn = "arn:aws:ecs:us-east-1:000000000000:cluster/prod";
        json_t *tags = json_pack("[{s:s, s:s}, {s:s, s:s}]", "key", "team", "value", "a", "key", "env", "value", "p");
        assert_int_equal(rt_tags_put(s, arn, tags, &e), 0);
        json_decref(tags);
        json_t *cluster = json_pack("{s:s, s:s}", "clusterArn", arn, "status", "ACTIVE");
        assert_int_equal(rt_cluster_put(s, "us-east-1", "prod", cluster, &e), 0);
        json_decref(cluster);
        register_n(s, "us-east-1", "web", 2);
        rt_store_free(s);

        assert_int_equal(rt_store_open(path, &s, &e), 0);
        json_t *got = NULL;
        assert_int_equal(rt_tags_get(s, arn, &got, &e), 0);
        assert_int_equal(json_array_size(got), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(got, 0), "key")), "env");
        json_decref(got);
        json_t *keys = json_pack("[s, s]", "env", "missing");
        assert_int_equal(rt_tags_remove(s, arn, keys, &e), 0);
        json_decref(keys);
        assert_int_equal(rt_tags_get(s, arn, &got, &e), 0);
        assert_int_equal(json_array_size(got), 1);
        json_decref(got);
        assert_int_equal(rt_cluster_get(s, "us-east-1", "prod", &got, &e), 0);
        json_decref(got);
        register_n(s, "us-east-1", "web", 1);
        assert_int_equal(rt_taskdef_get(s, "us-east-1", "web", 0, &got, &e), 0);
        assert_int_equal(json_integer_value(json_object_get(got, "revision")), 3);
        json_decref(got);
        rt_store_free(s);
        static const char *const leftovers[] = {"/nested/data/ecsd.db", "/nested/data/ecsd.db-wal",
                                                "/nested/data/ecsd.db-shm", "/nested/data", "/nested", ""};
        for (size_t i = 0; i < sizeof(leftovers) / sizeof(leftovers[0]); i++) {
                snprintf(path, sizeof(path), "%s%s", dir, leftovers[i]);
                (void) remove(path);
        }
}

static void put_task(struct rt_store *s, const char *id, const char *cluster, const char *last, double stopped_at) {
        json_t *doc = json_pack("{s:s, s:s, s:s}", "taskArn", id, "lastStatus", last, "desiredStatus",
                                strcmp(last, "STOPPED") == 0 ? "STOPPED" : "RUNNING");
        if (stopped_at > 0)
                json_object_set_new(doc, "stoppedAt", json_real(stopped_at));
        json_t *priv = json_object();
        struct rt_task_row row = {.id = id, .region = "us-east-1", .cluster = cluster, .family = "f", .doc = doc,
                                  .priv = priv};
        struct err e = {0};
        assert_int_equal(rt_task_put(s, &row, &e), 0);
        json_decref(doc);
        json_decref(priv);
}

static void assert_task_counts(struct rt_store *s, const char *cluster, int64_t running, int64_t pending,
                               int64_t active) {
        struct rt_cluster_counts c;
        struct err e = {0};
        assert_int_equal(rt_cluster_counts(s, "us-east-1", cluster, &c, &e), 0);
        assert_int_equal(c.running, running);
        assert_int_equal(c.pending, pending);
        assert_int_equal(c.active, active);
}

static void assert_service_counts(struct rt_store *s, const char *cluster, int64_t active, int64_t draining) {
        struct rt_cluster_counts c;
        struct err e = {0};
        assert_int_equal(rt_cluster_counts(s, "us-east-1", cluster, &c, &e), 0);
        assert_int_equal(c.services_active, active);
        assert_int_equal(c.services_draining, draining);
}

static void put_service(struct rt_store *s, const char *cluster, const char *name, const char *status) {
        json_t *doc = json_pack("{s:s, s:s}", "serviceName", name, "status", status);
        json_t *priv = json_object();
        struct err e = {0};
        assert_int_equal(rt_service_put(s, "us-east-1", cluster, doc, priv, &e), 0);
        json_decref(doc);
        json_decref(priv);
}

/* The schema of a state directory made before the store had versions (user_version 0): written here by hand, as
 * that ecsd wrote it, to check that a directory of an older ecsd upgrades in place. */
static const char old_schema[] =
        "CREATE TABLE clusters (region TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, doc TEXT NOT NULL,"
        "  PRIMARY KEY (region, name));"
        "CREATE TABLE task_definitions (region TEXT NOT NULL, family TEXT NOT NULL, revision INTEGER NOT NULL,"
        "  status TEXT NOT NULL, arn TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (region, family, revision));"
        "CREATE TABLE tags (arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (arn, key));"
        "CREATE TABLE tasks (id TEXT PRIMARY KEY, region TEXT NOT NULL, cluster TEXT NOT NULL, family TEXT NOT NULL,"
        "  started_by TEXT, desired TEXT NOT NULL, last_status TEXT NOT NULL, launch_type TEXT,"
        "  stopped_ms INTEGER, doc TEXT NOT NULL, private TEXT NOT NULL);"
        "CREATE TABLE task_logs (task_id TEXT NOT NULL, container TEXT NOT NULL, data BLOB NOT NULL,"
        "  PRIMARY KEY (task_id, container));"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO tasks VALUES ('abc', 'us-east-1', 'default', 'web', 'ecs-svc/1234567890123456789', 'RUNNING',"
        "  'RUNNING', 'EC2', NULL, '{\"taskArn\":\"arn:aws:ecs:us-east-1:000000000000:task/default/abc\","
        "\"group\":\"service:web\",\"desiredStatus\":\"RUNNING\",\"lastStatus\":\"RUNNING\"}', '{}');";

static int db_user_version(const char *path) {
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        int v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
        return v;
}

static void db_exec(const char *path, const char *sql) {
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
}

/* A state directory of an ecsd before schema versions upgrades in place: its task keeps its row and is found by its
 * group (the new column, filled from the stored document), services can be stored, and the version is recorded. */
static void old_state_directory_upgrades_in_place(void **state) {
        (void) state;
        char d[] = "/tmp/ecsd-test-store-mig-XXXXXX";
        assert_non_null(mkdtemp(d));
        char db[128];
        snprintf(db, sizeof(db), "%s/ecsd.db", d);
        db_exec(db, old_schema);
        assert_int_equal(db_user_version(db), 0);

        struct rt_store *s = NULL;
        struct err e = {0};
        assert_int_equal(rt_store_open(d, &s, &e), 0);
        json_t *arns = NULL;
        struct rt_task_query q = {.region = "us-east-1", .cluster = "default", .group = "service:web", .limit = 10};
        assert_int_equal(rt_task_list(s, &q, &arns, &e), 0);
        assert_int_equal(json_array_size(arns), 1);
        json_decref(arns);
        q.group = "service:other";
        assert_int_equal(rt_task_list(s, &q, &arns, &e), 0);
        assert_int_equal(json_array_size(arns), 0);
        json_decref(arns);

        json_t *svc = json_pack("{s:s, s:s, s:s}", "serviceName", "web", "status", "ACTIVE", "launchType", "EC2");
        json_t *priv = json_object();
        assert_int_equal(rt_service_put(s, "us-east-1", "default", svc, priv, &e), 0);
        json_t *got = NULL;
        assert_int_equal(rt_service_get(s, "us-east-1", "default", "web", &got, NULL, &e), 0);
        assert_string_equal(json_string_value(json_object_get(got, "status")), "ACTIVE");
        json_decref(got);
        assert_int_equal(rt_service_get(s, "us-east-1", "default", "nope", &got, NULL, &e), -ENOENT);
        assert_int_equal(e.kind, ERR_KIND_SERVICE_NOT_FOUND);
        struct rt_service_query sq = {.region = "us-east-1", .cluster = "default", .launch_type = "FARGATE",
                                      .limit = 10};
        assert_int_equal(rt_service_list(s, &sq, &got, &e), 0);
        assert_int_equal(json_array_size(got), 0);
        json_decref(got);
        sq.launch_type = "EC2";
        assert_int_equal(rt_service_list(s, &sq, &got, &e), 0);
        assert_int_equal(json_array_size(got), 1);
        json_decref(got);
        json_object_set_new(svc, "status", json_string("DRAINING"));
        assert_int_equal(rt_service_put(s, "us-east-1", "default", svc, priv, &e), 0);
        assert_service_counts(s, "default", 0, 1);
        assert_int_equal(rt_service_live(s, &got, &e), 0);
        assert_int_equal(json_array_size(got), 1);
        json_decref(got);
        json_decref(svc);
        json_decref(priv);
        rt_store_free(s);
        assert_int_equal(db_user_version(db), 5);
        /* ... and counted the tasks written before it (one RUNNING in default). */
        assert_int_equal(rt_store_open(d, &s, &e), 0);
        assert_task_counts(s, "default", 1, 0, 1);
        rt_store_free(s);
        /* Migration 5 filled the ARN column of the row written before it, from its document (ListTasks reads it from
         * the tasks_list index; a row without it would cost a lookup of its document per listing). */
        {
                sqlite3 *raw = NULL;
                sqlite3_stmt *st = NULL;
                assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
                assert_int_equal(sqlite3_prepare_v2(raw, "SELECT arn FROM tasks WHERE id = 'abc'", -1, &st, NULL),
                                 SQLITE_OK);
                assert_int_equal(sqlite3_step(st), SQLITE_ROW);
                assert_non_null(sqlite3_column_text(st, 0));
                assert_string_equal((const char *) sqlite3_column_text(st, 0),
                                    "arn:aws:ecs:us-east-1:000000000000:task/default/abc");
                sqlite3_finalize(st);
                sqlite3_close(raw);
        }

        /* Opening again applies nothing more, and keeps what is there. */
        assert_int_equal(rt_store_open(d, &s, &e), 0);
        assert_int_equal(rt_service_get(s, "us-east-1", "default", "web", &got, NULL, &e), 0);
        json_decref(got);
        rt_store_free(s);

        /* A database of a newer ecsd is refused, not misread. */
        db_exec(db, "PRAGMA user_version = 99");
        assert_int_equal(rt_store_open(d, &s, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "schema version 99"));
        static const char *const files[] = {"/ecsd.db", "/ecsd.db-wal", "/ecsd.db-shm", "/ecsd.lock", ""};
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                char path[160];
                snprintf(path, sizeof(path), "%s%s", d, files[i]);
                (void) remove(path);
        }
}

/* ListTasks' ARNs come from each stored document's first member when the lifecycle wrote taskArn first, else from
 * the decoded document; DescribeTasks' stored text is the document exactly as encoded; a cluster check reads the
 * status alone. Each call runs many times over, on statements the store keeps prepared. */
static void task_reads_without_decoding(void **state) {
        (void) state;
        struct rt_store *s = NULL;
        struct err e = {0};
        assert_int_equal(rt_store_open(":memory:", &s, &e), 0);
        static const char *const docs[] = {
                "{\"taskArn\":\"arn:aws:ecs:us-east-1:000000000000:task/default/a1\",\"lastStatus\":\"STOPPED\","
                "\"desiredStatus\":\"STOPPED\",\"createdAt\":1764800000.123,\"note\":\"\\u00e9\\\"x\"}",
                "{\"lastStatus\":\"STOPPED\",\"desiredStatus\":\"STOPPED\","
                "\"taskArn\":\"arn:aws:ecs:us-east-1:000000000000:task/default/a2\"}",
        };
        static const char *const ids[] = {"a1", "a2"};
        for (size_t i = 0; i < 2; i++) {
                json_t *doc = json_loads(docs[i], 0, NULL);
                json_t *priv = json_object();
                assert_non_null(doc);
                struct rt_task_row row = {.id = ids[i], .region = "us-east-1", .cluster = "default", .family = "f",
                                          .doc = doc, .priv = priv};
                assert_int_equal(rt_task_put(s, &row, &e), 0);
                json_decref(doc);
                json_decref(priv);
        }
        for (int round = 0; round < 200; round++) {
                json_t *arns = NULL;
                struct rt_task_query q = {.region = "us-east-1", .cluster = "default", .desired = "STOPPED",
                                          .limit = 10};
                assert_int_equal(rt_task_list(s, &q, &arns, &e), 0);
                assert_int_equal(json_array_size(arns), 2);
                assert_string_equal(json_string_value(json_array_get(arns, 0)),
                                    "arn:aws:ecs:us-east-1:000000000000:task/default/a1");
                assert_string_equal(json_string_value(json_array_get(arns, 1)),
                                    "arn:aws:ecs:us-east-1:000000000000:task/default/a2");
                json_decref(arns);
                for (size_t i = 0; i < 2; i++) {
                        char *text = NULL;
                        size_t len = 0;
                        assert_int_equal(rt_task_doc_text(s, ids[i], &text, &len, &e), 0);
                        json_t *doc = json_loads(docs[i], 0, NULL);
                        char *want = json_dumps(doc, JSON_COMPACT);
                        assert_int_equal(len, strlen(want));
                        assert_string_equal(text, want);
                        free(want);
                        free(text);
                        json_decref(doc);
                }
        }
        char *text = NULL;
        size_t len = 0;
        assert_int_equal(rt_task_doc_text(s, "nope", &text, &len, &e), -ENOENT);
        assert_null(text);

        json_t *cluster = json_pack("{s:s, s:s}", "clusterName", "c1", "status", "ACTIVE");
        assert_int_equal(rt_cluster_put(s, "us-east-1", "c1", cluster, &e), 0);
        assert_int_equal(rt_cluster_check_active(s, "us-east-1", "c1", &e), 0);
        assert_int_equal(rt_cluster_check_active(s, "eu-west-1", "c1", &e), -ENOENT);
        assert_int_equal(e.kind, ERR_KIND_CLUSTER_NOT_FOUND);
        json_object_set_new(cluster, "status", json_string("INACTIVE"));
        assert_int_equal(rt_cluster_put(s, "us-east-1", "c1", cluster, &e), 0);
        assert_int_equal(rt_cluster_check_active(s, "us-east-1", "c1", &e), -ENOENT);
        json_decref(cluster);
        rt_store_free(s);
}

/* The per-cluster counts (kept by triggers, migration 5) follow every write: a task rewritten with a new status (the
 * INSERT OR REPLACE of rt_task_put) moves from one count to the other, expiry removes stopped ones, clusters are
 * counted apart, and a service's status changes move it likewise. */
static void counts_follow_writes_in(const char *where) {
        struct rt_store *s = NULL;
        struct err e = {0};
        assert_int_equal(rt_store_open(where, &s, &e), 0);
        assert_task_counts(s, "c1", 0, 0, 0);
        put_task(s, "t1", "c1", "PROVISIONING", 0);
        put_task(s, "t2", "c1", "PENDING", 0);
        put_task(s, "t3", "c1", "RUNNING", 0);
        put_task(s, "t4", "c2", "RUNNING", 0);
        assert_task_counts(s, "c1", 1, 2, 3);
        assert_task_counts(s, "c2", 1, 0, 1);
        for (int i = 0; i < 3; i++) /* rewriting with the same status counts it once */
                put_task(s, "t1", "c1", "RUNNING", 0);
        assert_task_counts(s, "c1", 2, 1, 3);
        put_task(s, "t2", "c1", "DEACTIVATING", 0);
        assert_task_counts(s, "c1", 2, 0, 3);
        put_task(s, "t2", "c1", "STOPPED", 1000.0);
        put_task(s, "t3", "c1", "STOPPED", 5000.0);
        assert_task_counts(s, "c1", 1, 0, 1);
        int removed = 0;
        assert_int_equal(rt_task_expire(s, 2000 * 1000, &removed, &e), 0);
        assert_int_equal(removed, 1);
        assert_task_counts(s, "c1", 1, 0, 1);
        put_task(s, "t2", "c1", "RUNNING", 0); /* a new row of that id again */
        assert_task_counts(s, "c1", 2, 0, 2);

        assert_service_counts(s, "c1", 0, 0);
        put_service(s, "c1", "a", "ACTIVE");
        put_service(s, "c1", "b", "ACTIVE");
        put_service(s, "c2", "a", "ACTIVE");
        put_service(s, "c1", "a", "ACTIVE");
        assert_service_counts(s, "c1", 2, 0);
        put_service(s, "c1", "a", "DRAINING");
        assert_service_counts(s, "c1", 1, 1);
        put_service(s, "c1", "a", "INACTIVE");
        assert_service_counts(s, "c1", 1, 0);
        assert_service_counts(s, "c2", 1, 0);
        rt_store_free(s);
}

/* A temporary state directory, and its removal. */
static void state_dir_new(char *d) {
        assert_non_null(mkdtemp(d));
}
static void state_dir_remove(const char *d) {
        static const char *const files[] = {"/ecsd.db", "/ecsd.db-wal", "/ecsd.db-shm", "/ecsd.lock", ""};
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                char path[256];
                snprintf(path, sizeof(path), "%s%s", d, files[i]);
                (void) remove(path);
        }
}

static void counts_follow_writes(void **state) {
        (void) state;
        counts_follow_writes_in(":memory:");
}

/* The same on disk, where reads go through the read connections: each read right after a write sees it. */
static void counts_follow_writes_on_disk(void **state) {
        (void) state;
        char d[] = "/tmp/ecsd-test-store-counts-XXXXXX";
        state_dir_new(d);
        counts_follow_writes_in(d);
        state_dir_remove(d);
}

/* Reads on several threads beside a writer (an on-disk store: each reader thread takes a read connection): a reader
 * never sees the count go back (each read is at a committed state no older than the last one it saw), and once the
 * writer is done every reader sees all of its writes. Failures are counted in the thread and asserted here (cmocka
 * asserts only on the main thread). Bounded: WRITES task rows, READERS threads. */
#define WRITES 300
#define READERS 3

struct reader_run {
        struct rt_store *s;
        atomic_bool *writer_done;
        int64_t last_seen;
        int went_back, failed_reads, reads;
};

static void *reader_main(void *arg) {
        struct reader_run *run = arg;
        for (;;) {
                bool done = atomic_load(run->writer_done); /* read before the counts: then the last read sees all */
                struct rt_cluster_counts c;
                struct err e = {0};
                if (rt_cluster_counts(run->s, "us-east-1", "c", &c, &e) < 0)
                        run->failed_reads++;
                else if (c.running < run->last_seen)
                        run->went_back++;
                else
                        run->last_seen = c.running;
                run->reads++;
                if (done)
                        return NULL;
        }
}

static void reads_beside_writes(void **state) {
        (void) state;
        char d[] = "/tmp/ecsd-test-store-readers-XXXXXX";
        state_dir_new(d);
        struct rt_store *s = NULL;
        struct err e = {0};
        assert_int_equal(rt_store_open(d, &s, &e), 0);
        atomic_bool writer_done = false;
        struct reader_run runs[READERS];
        pthread_t threads[READERS];
        for (int i = 0; i < READERS; i++) {
                runs[i] = (struct reader_run){.s = s, .writer_done = &writer_done};
                assert_int_equal(pthread_create(&threads[i], NULL, reader_main, &runs[i]), 0);
        }
        for (int i = 0; i < WRITES; i++) {
                char id[16];
                snprintf(id, sizeof(id), "t%03d", i);
                put_task(s, id, "c", "RUNNING", 0);
        }
        atomic_store(&writer_done, true);
        for (int i = 0; i < READERS; i++) {
                assert_int_equal(pthread_join(threads[i], NULL), 0);
                assert_int_equal(runs[i].failed_reads, 0);
                assert_int_equal(runs[i].went_back, 0);
                assert_int_equal(runs[i].last_seen, WRITES);
        }
        rt_store_free(s);
        state_dir_remove(d);
}

static void open_fails_clearly(void **state) {
        (void) state;
        struct rt_store *s = NULL;
        struct err e = {0};
        assert_true(rt_store_open("/proc/ecsd-cannot-exist/x", &s, &e) < 0);
        assert_null(s);
        assert_non_null(strstr(e.msg, "/proc/ecsd-cannot-exist"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(revisions_and_lookup),
                cmocka_unit_test(listing_pages_visit_everything_once),
                cmocka_unit_test(families_by_status_and_prefix),
                cmocka_unit_test(tags_and_persistence),
                cmocka_unit_test(task_reads_without_decoding),
                cmocka_unit_test(counts_follow_writes),
                cmocka_unit_test(counts_follow_writes_on_disk),
                cmocka_unit_test(reads_beside_writes),
                cmocka_unit_test(open_fails_clearly),
                cmocka_unit_test(old_state_directory_upgrades_in_place),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
