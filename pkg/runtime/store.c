/* store.c — SQLite persistence for clusters, task definitions, tags, tasks and their captured logs, and services
 * (see store.h).
 *
 * One writer connection, guarded by its lock; every public function that writes holds it for its whole duration, so
 * such a function is one atomic step (revision allocation + insert included). A function that only reads takes one
 * of STORE_READERS read connections instead (reader_lock): in WAL mode they read beside the writer, each at the
 * last committed state, so API calls on several threads do not queue behind one lock, or behind a write. A :memory:
 * store has only the writer. WAL with synchronous=NORMAL: a committed transaction is in the WAL file before the call
 * returns, which is what surviving kill -9 needs (power loss may drop the last few commits; that is the documented
 * trade-off, see docs/operations.md). Documents are stored as compact JSON text.
 *
 * The state directory belongs to one ecsd at a time: rt_store_open locks it (dir_lock) before SQLite opens anything
 * in it, and the lock lives as long as the store. The directory is 0700 when made here, one that other users can
 * write is refused, and every file in it is 0600 whatever the umask (dir_check, file_private). */
#include "store.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>

#include "ecs.h"

/* The lock file in the state directory (see dir_lock). */
#define STORE_LOCK_FILE "ecsd.lock"

/* Distinct SQL texts the statement cache holds at most (see prepare). The store has a few dozen. */
#define STMT_CACHE_MAX 256

struct stmt_slot {
        uint64_t hash;
        char *sql;
        sqlite3_stmt *st;
};

/* Read connections of an on-disk store (see reader_lock). Each keeps its own statements and page cache. */
#define STORE_READERS 4
/* Each read connection's page cache, in KiB (SQLite's default is 2 MiB a connection). */
#define STORE_READER_CACHE_KIB 1024

/* One SQLite connection, used by one thread at a time (under `lock`). */
struct conn {
        pthread_mutex_t lock;
        sqlite3 *db;

        /* Every statement prepare() made, by its SQL text, kept for the life of the connection (under `lock`). */
        struct stmt_slot *stmts;
        size_t n_stmts, cap_stmts;
};

struct rt_store {
        struct conn writer;                    /* every write, and every read of a :memory: store */
        struct conn readers[STORE_READERS];    /* read-only calls of an on-disk store */
        size_t n_readers;                      /* 0 for :memory: */
        int lock_fd; /* holds the state directory's lock; -1 for :memory: */
};

/* The sqlite statement cleanup lives here rather than in base.h because only the store speaks SQL. Statements come
 * from the cache (prepare), so the cleanup does not finalize one: it resets it and drops its bindings, so that it
 * holds no read transaction open and no bound text, ready for the next call. */
static void stmt_releasep(sqlite3_stmt **st) {
        if (*st) {
                sqlite3_reset(*st);
                sqlite3_clear_bindings(*st);
        }
}
#define _cleanup_stmt_ _cleanup_(stmt_releasep)

/* The connection a public function works on, locked until the end of the enclosing scope: WRITER(c, s) for a
 * function that writes, READER(c, s) for one that only reads. Declared before any statement variable, so that
 * statements are released (cleanups run in reverse order) while the lock is still held. */
static struct conn *writer_lock(struct rt_store *s) {
        pthread_mutex_lock(&s->writer.lock);
        return &s->writer;
}

/* A read connection for this thread. WAL lets every connection read while one writes, each at its own snapshot of
 * the last commit, so reads of an on-disk store never wait for the writer or for one another: an API worker, the
 * scheduler and a launcher each take a free one. A thread starts at its own slot (threads are numbered as they first
 * read) and takes the first connection no one holds; when every one is held it waits for its own. A :memory:
 * database belongs to one connection, so its reads take the writer. */
static struct conn *reader_lock(struct rt_store *s) {
        if (s->n_readers == 0)
                return writer_lock(s);
        static atomic_uint next_thread;
        static _Thread_local unsigned slot = UINT_MAX;
        if (slot == UINT_MAX)
                slot = atomic_fetch_add(&next_thread, 1) % STORE_READERS;
        for (size_t i = 0; i < s->n_readers; i++) {
                struct conn *c = &s->readers[(slot + i) % s->n_readers];
                if (pthread_mutex_trylock(&c->lock) == 0)
                        return c;
        }
        struct conn *c = &s->readers[slot % s->n_readers];
        pthread_mutex_lock(&c->lock);
        return c;
}

static void conn_unlockp(struct conn **c) {
        if (*c)
                pthread_mutex_unlock(&(*c)->lock);
}
#define WRITER(c, s) _cleanup_(conn_unlockp) struct conn *c = writer_lock(s)
#define READER(c, s) _cleanup_(conn_unlockp) struct conn *c = reader_lock(s)

/* The schema grows by numbered migrations; PRAGMA user_version is the number of the last one applied. A database
 * made before versioning (user_version 0, tables present) takes migration 1 as a no-op, since it only creates what is
 * missing, and then the later ones: an existing state directory upgrades in place. Each migration runs in one
 * transaction with the user_version bump, so a kill -9 mid-upgrade leaves the previous version whole. */
static const char *const migrations[] = {
        /* 1: clusters, task definitions, tags, tasks, captured output, small named values. */
        "CREATE TABLE IF NOT EXISTS clusters ("
        "  region TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, doc TEXT NOT NULL,"
        "  PRIMARY KEY (region, name));"
        "CREATE TABLE IF NOT EXISTS task_definitions ("
        "  region TEXT NOT NULL, family TEXT NOT NULL, revision INTEGER NOT NULL, status TEXT NOT NULL,"
        "  arn TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (region, family, revision));"
        "CREATE TABLE IF NOT EXISTS tags ("
        "  arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (arn, key));"
        "CREATE TABLE IF NOT EXISTS tasks ("
        "  id TEXT PRIMARY KEY, region TEXT NOT NULL, cluster TEXT NOT NULL, family TEXT NOT NULL,"
        "  started_by TEXT, desired TEXT NOT NULL, last_status TEXT NOT NULL, launch_type TEXT,"
        "  stopped_ms INTEGER, doc TEXT NOT NULL, private TEXT NOT NULL);"
        "CREATE INDEX IF NOT EXISTS tasks_by_cluster ON tasks (region, cluster, id);"
        "CREATE INDEX IF NOT EXISTS tasks_by_status ON tasks (last_status);"
        "CREATE INDEX IF NOT EXISTS tasks_by_cluster_status ON tasks (region, cluster, last_status);"
        "CREATE TABLE IF NOT EXISTS task_logs ("
        "  task_id TEXT NOT NULL, container TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (task_id, container));"
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
        /* 2: services (the Service document and the scheduler's own record), and the task's group as a column so
         * that ListTasks --service-name and the scheduler's recovery find a service's tasks by index. */
        "ALTER TABLE tasks ADD COLUMN grp TEXT;"
        "UPDATE tasks SET grp = json_extract(doc, '$.group');"
        "CREATE INDEX tasks_by_group ON tasks (region, cluster, grp);"
        "CREATE TABLE services ("
        "  region TEXT NOT NULL, cluster TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,"
        "  launch_type TEXT, strategy TEXT NOT NULL, doc TEXT NOT NULL, private TEXT NOT NULL,"
        "  PRIMARY KEY (region, cluster, name));"
        "CREATE INDEX services_by_status ON services (status);",
        /* 3: container instances: those clients register (RegisterContainerInstance) and, for ecsd's own hosts, their
         * per-cluster state (status, custom attributes). One document per (region, cluster, instance id). And each
         * task's instance and what it reserved there as columns, so that placement sums the live tasks without
         * parsing their documents, and ListTasks --container-instance finds them by index. */
        "CREATE TABLE container_instances ("
        "  region TEXT NOT NULL, cluster TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL,"
        "  PRIMARY KEY (region, cluster, id));"
        "ALTER TABLE tasks ADD COLUMN instance TEXT;"
        "ALTER TABLE tasks ADD COLUMN res_cpu INTEGER;"
        "ALTER TABLE tasks ADD COLUMN res_mem INTEGER;"
        "UPDATE tasks SET instance = json_extract(doc, '$.containerInstanceArn'),"
        "  res_cpu = json_extract(private, '$.reserved.cpu'), res_mem = json_extract(private, '$.reserved.memory');"
        "CREATE INDEX tasks_by_instance ON tasks (instance, last_status, region, cluster, grp, id, res_cpu, res_mem)"
        "  WHERE instance IS NOT NULL;",
        /* 4: the smaller per-region records, one JSON document per (region, kind, key): account settings
         * (kind "setting", key "PRINCIPAL NAME"), capacity providers ("capacity-provider", key its name) and task
         * protection ("task-protection", key the task id). See rt_doc_get. */
        "CREATE TABLE records ("
        "  region TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL,"
        "  PRIMARY KEY (region, kind, key));",
        /* 5 (issue 17): each task's and each service's ARN as a column, written with
         * every write of the document, and an index per listing in its order (region, cluster, desiredStatus or
         * status, then the resume key) that also holds every column the listing filters on and returns: ListTasks
         * and ListServices read the index alone, no table row and no document. The UPDATEs fill the rows written
         * before; the whole migration is one transaction (see migrate). */
        "ALTER TABLE tasks ADD COLUMN arn TEXT;"
        "UPDATE tasks SET arn = json_extract(doc, '$.taskArn');"
        "CREATE INDEX tasks_list ON tasks"
        "  (region, cluster, desired, id, arn, family, started_by, launch_type, grp, instance);"
        "ALTER TABLE services ADD COLUMN arn TEXT;"
        "UPDATE services SET arn = json_extract(doc, '$.serviceArn');"
        "CREATE INDEX services_list ON services (region, cluster, status, name, arn, launch_type, strategy);"
        /* ... and how many tasks (by lastStatus) and services (by status) each cluster has, kept in step with their
         * tables by triggers, in the writing transaction: DescribeClusters and DeleteCluster read a few rows instead
         * of counting the cluster's rows per call. INSERT OR REPLACE fires the DELETE trigger for the row it replaces
         * because the store turns recursive_triggers on (rt_store_open). */
        "CREATE TABLE counts (region TEXT NOT NULL, cluster TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,"
        "  n INTEGER NOT NULL, PRIMARY KEY (region, cluster, kind, status)) WITHOUT ROWID;"
        "INSERT INTO counts SELECT region, cluster, 'task', last_status, count(*) FROM tasks"
        "  GROUP BY region, cluster, last_status;"
        "INSERT INTO counts SELECT region, cluster, 'service', status, count(*) FROM services"
        "  GROUP BY region, cluster, status;"
        "CREATE TRIGGER tasks_count_insert AFTER INSERT ON tasks BEGIN"
        "  INSERT INTO counts VALUES (NEW.region, NEW.cluster, 'task', NEW.last_status, 1)"
        "    ON CONFLICT (region, cluster, kind, status) DO UPDATE SET n = n + 1; END;"
        "CREATE TRIGGER tasks_count_delete AFTER DELETE ON tasks BEGIN"
        "  UPDATE counts SET n = n - 1 WHERE region = OLD.region AND cluster = OLD.cluster AND kind = 'task'"
        "    AND status = OLD.last_status; END;"
        "CREATE TRIGGER tasks_count_update AFTER UPDATE OF region, cluster, last_status ON tasks BEGIN"
        "  UPDATE counts SET n = n - 1 WHERE region = OLD.region AND cluster = OLD.cluster AND kind = 'task'"
        "    AND status = OLD.last_status;"
        "  INSERT INTO counts VALUES (NEW.region, NEW.cluster, 'task', NEW.last_status, 1)"
        "    ON CONFLICT (region, cluster, kind, status) DO UPDATE SET n = n + 1; END;"
        "CREATE TRIGGER services_count_insert AFTER INSERT ON services BEGIN"
        "  INSERT INTO counts VALUES (NEW.region, NEW.cluster, 'service', NEW.status, 1)"
        "    ON CONFLICT (region, cluster, kind, status) DO UPDATE SET n = n + 1; END;"
        "CREATE TRIGGER services_count_delete AFTER DELETE ON services BEGIN"
        "  UPDATE counts SET n = n - 1 WHERE region = OLD.region AND cluster = OLD.cluster AND kind = 'service'"
        "    AND status = OLD.status; END;"
        "CREATE TRIGGER services_count_update AFTER UPDATE OF region, cluster, status ON services BEGIN"
        "  UPDATE counts SET n = n - 1 WHERE region = OLD.region AND cluster = OLD.cluster AND kind = 'service'"
        "    AND status = OLD.status;"
        "  INSERT INTO counts VALUES (NEW.region, NEW.cluster, 'service', NEW.status, 1)"
        "    ON CONFLICT (region, cluster, kind, status) DO UPDATE SET n = n + 1; END;",
};

static int db_error(struct conn *c, struct err *e, const char *what) {
        log_debug("store", "\"sqlite error\" op=\"%s\" error=\"%s\"", what, sqlite3_errmsg(c->db));
        return err_set(e, -EIO, ERR_KIND_INTERNAL, "state store: %s failed: %s", what, sqlite3_errmsg(c->db));
}

static int exec_sql(struct conn *c, const char *sql, struct err *e) {
        char *msg = NULL;
        if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
                err_set(e, -EIO, ERR_KIND_INTERNAL, "state store: %s", msg ? msg : "unknown error");
                sqlite3_free(msg);
                return -EIO;
        }
        return 0;
}

static uint64_t sql_hash(const char *sql) {
        uint64_t h = 14695981039346656037ULL; /* FNV-1a */
        for (const unsigned char *p = (const unsigned char *) sql; *p; p++)
                h = (h ^ *p) * 1099511628211ULL;
        return h;
}

/* The prepared statement for `sql` on connection `c` (its lock held), in *ret; release it with the _cleanup_stmt_
 * variable it is stored in (reset, not finalized). SQLite compiles a text once per connection: the first call
 * prepares it and keeps it, later calls reuse it (parsing and planning was a fifth of a small API call's time). So
 * `sql` must be constant text, with values bound as parameters, never formatted into it; STMT_CACHE_MAX bounds the
 * distinct texts. A statement is used by one caller at a time, which the connection's lock gives, as long as one
 * locked step does not prepare the text it is already stepping (that is refused). Statements survive schema changes
 * (SQLite re-prepares them itself). */
static int prepare(struct conn *c, const char *sql, sqlite3_stmt **ret, struct err *e) {
        uint64_t h = sql_hash(sql);
        for (size_t i = 0; i < c->n_stmts; i++) {
                struct stmt_slot *slot = &c->stmts[i];
                if (slot->hash != h || strcmp(slot->sql, sql) != 0)
                        continue;
                if (sqlite3_stmt_busy(slot->st))
                        return err_set(e, -EBUSY, ERR_KIND_INTERNAL,
                                       "state store: a statement was prepared again while it was being stepped");
                *ret = slot->st;
                return 0;
        }
        if (c->n_stmts == STMT_CACHE_MAX)
                return err_set(e, -ENOSPC, ERR_KIND_INTERNAL,
                               "state store: more than %d distinct SQL statements (SQL must be constant text)",
                               STMT_CACHE_MAX);
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
                return db_error(c, e, "prepare");
        if (c->n_stmts == c->cap_stmts) {
                size_t cap = c->cap_stmts ? c->cap_stmts * 2 : 32;
                struct stmt_slot *v = realloc(c->stmts, cap * sizeof(*v));
                if (!v)
                        abort();
                c->stmts = v;
                c->cap_stmts = cap;
        }
        c->stmts[c->n_stmts++] = (struct stmt_slot){.hash = h, .sql = xstrdup(sql), .st = st};
        *ret = st;
        return 0;
}

static int user_version(struct conn *c, int *ret, struct err *e) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, "PRAGMA user_version", &st, e);
        if (r < 0)
                return r;
        if (sqlite3_step(st) == SQLITE_ROW)
                *ret = sqlite3_column_int(st, 0);
        else
                r = db_error(c, e, "user_version");
        return r;
}

/* Apply every migration newer than the database (see `migrations`). A database of a newer ecsd is refused: this one
 * would not know what its tables mean. */
static int migrate(struct conn *c, struct err *e) {
        int version = 0;
        int r = user_version(c, &version, e);
        if (r < 0)
                return r;
        int known = (int) ARRAY_SIZE(migrations);
        if (version > known)
                return err_set(e, -EPROTO, ERR_KIND_INTERNAL,
                               "the state database has schema version %d, newer than this ecsd knows (%d); use a "
                               "newer ecsd or another --data-dir",
                               version, known);
        for (int v = version; v < known; v++) {
                char bump[64];
                str_printf(bump, sizeof(bump), "PRAGMA user_version = %d", v + 1);
                if ((r = exec_sql(c, "BEGIN IMMEDIATE", e)) < 0)
                        return r;
                r = exec_sql(c, migrations[v], e);
                if (r >= 0)
                        r = exec_sql(c, bump, e);
                if (r < 0) {
                        exec_sql(c, "ROLLBACK", NULL);
                        err_prefix(e, "schema migration %d", v + 1);
                        return r;
                }
                if ((r = exec_sql(c, "COMMIT", e)) < 0)
                        return r;
                if (v > 0 || version > 0)
                        log_info("store", "\"schema migrated\" version=%d", v + 1);
        }
        return 0;
}

static int bind_text(sqlite3_stmt *st, int idx, const char *v) {
        return v ? sqlite3_bind_text(st, idx, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, idx);
}

static int make_dir(const char *path, struct err *e) {
        char buf[4096];
        if (str_printf(buf, sizeof(buf), "%s", path) < 0)
                return err_set(e, -ENAMETOOLONG, ERR_KIND_INTERNAL, "data directory path is too long");
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(buf, 0700) < 0 && errno != EEXIST)
                        return err_set(e, -errno, ERR_KIND_INTERNAL, "cannot create %s: %s", buf, strerror(errno));
                *p = '/';
        }
        if (mkdir(buf, 0700) < 0) {
                if (errno != EEXIST)
                        return err_set(e, -errno, ERR_KIND_INTERNAL, "cannot create %s: %s", buf, strerror(errno));
        } else if (chmod(buf, 0700) < 0) /* the umask may have taken bits from the mode mkdir was given */
                return err_set(e, -errno, ERR_KIND_INTERNAL, "cannot set the mode of %s: %s", buf, strerror(errno));
        return 0;
}

/* The state directory must be a directory of this user that no one else can write: another user who can write it
 * can replace the database, or the lock file, under a running ecsd. A directory others can only read (0755, made by
 * hand or by an older ecsd) is accepted; the files in it are 0600 whatever the directory's mode, so only the names
 * of the files show. */
static int dir_check(const char *dir, struct err *e) {
        struct stat st;
        if (stat(dir, &st) < 0)
                return err_set(e, -errno, ERR_KIND_INTERNAL, "state directory %s: %s", dir, strerror(errno));
        if (!S_ISDIR(st.st_mode))
                return err_set(e, -ENOTDIR, ERR_KIND_INVALID, "state directory %s is not a directory", dir);
        if (st.st_uid != geteuid())
                return err_set(e, -EPERM, ERR_KIND_INVALID,
                               "state directory %s belongs to uid %u, not to this user (uid %u); give a directory "
                               "of your own as --data-dir",
                               dir, (unsigned) st.st_uid, (unsigned) geteuid());
        if (st.st_mode & (S_IWGRP | S_IWOTH))
                return err_set(e, -EPERM, ERR_KIND_INVALID,
                               "state directory %s can be written by other users (mode %04o); run `chmod 700 %s`, or "
                               "give another --data-dir",
                               dir, (unsigned) (st.st_mode & 07777), dir);
        return 0;
}

/* Make `path` a regular file of mode 0600: created so if missing (create) and narrowed if it exists, whatever the
 * umask. SQLite creates the -wal and -shm files with the mode of the database file, so the database made here first
 * gives them 0600 too. */
static int file_private(const char *path, bool create, struct err *e) {
        _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0600);
        if (fd < 0) {
                if (errno == ENOENT && !create)
                        return 0;
                return err_set(e, -errno, ERR_KIND_INTERNAL, "cannot open %s: %s", path, strerror(errno));
        }
        if (fchmod(fd, 0600) < 0)
                return err_set(e, -errno, ERR_KIND_INTERNAL, "cannot set the mode of %s: %s", path, strerror(errno));
        return 0;
}

/* Lock the state directory for the life of the process: a POSIX write lock on `dir`/ecsd.lock, which the kernel
 * releases on any exit, kill -9 included. A record lock rather than flock() because F_GETLK names the holder's pid.
 * A record lock is dropped when the process closes any descriptor of the file, so nothing else in ecsd opens it. The
 * file also holds the pid as text, for people. */
static int dir_lock(const char *dir, int *ret_fd, struct err *e) {
        char path[4096];
        if (str_printf(path, sizeof(path), "%s/" STORE_LOCK_FILE, dir) < 0)
                return err_set(e, -ENAMETOOLONG, ERR_KIND_INTERNAL, "data directory path is too long");
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return err_set(e, -errno, ERR_KIND_INTERNAL, "cannot open %s: %s", path, strerror(errno));
        if (fchmod(fd, 0600) < 0)
                return err_set(e, -errno, ERR_KIND_INTERNAL, "cannot set the mode of %s: %s", path, strerror(errno));
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        if (fcntl(fd, F_SETLK, &fl) < 0) {
                if (errno != EACCES && errno != EAGAIN)
                        return err_set(e, -errno, ERR_KIND_INTERNAL, "cannot lock %s: %s", path, strerror(errno));
                struct flock holder = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
                long pid = 0;
                if (fcntl(fd, F_GETLK, &holder) == 0 && holder.l_type != F_UNLCK)
                        pid = (long) holder.l_pid;
                if (pid <= 0) { /* the holder is in another pid namespace: trust what it wrote */
                        char text[32] = {0};
                        if (pread(fd, text, sizeof(text) - 1, 0) > 0)
                                pid = strtol(text, NULL, 10);
                }
                char who[48] = "pid unknown";
                if (pid > 0)
                        str_printf(who, sizeof(who), "pid %ld", pid);
                return err_set(e, -EBUSY, ERR_KIND_INVALID,
                               "state directory %s is in use by another ecsd (%s); stop it, or give this one another "
                               "--data-dir",
                               dir, who);
        }
        char text[32];
        str_printf(text, sizeof(text), "%ld\n", (long) getpid());
        if (ftruncate(fd, 0) < 0 || pwrite(fd, text, strlen(text), 0) < 0)
                return err_set(e, -errno, ERR_KIND_INTERNAL, "cannot write %s: %s", path, strerror(errno));
        *ret_fd = fd;
        fd = -1;
        return 0;
}

/* The state directory made ready before SQLite sees it: created or checked, locked, and the database files 0600. */
static int dir_prepare(const char *dir, int *ret_lock_fd, struct err *e) {
        int r = make_dir(dir, e);
        if (r >= 0)
                r = dir_check(dir, e);
        if (r < 0)
                return r;
        _cleanup_close_ int lock_fd = -1;
        if ((r = dir_lock(dir, &lock_fd, e)) < 0)
                return r;
        static const char *const files[] = {"ecsd.db", "ecsd.db-wal", "ecsd.db-shm"};
        for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
                char path[4096];
                if (str_printf(path, sizeof(path), "%s/%s", dir, files[i]) < 0)
                        return err_set(e, -ENAMETOOLONG, ERR_KIND_INTERNAL, "data directory path is too long");
                if ((r = file_private(path, i == 0, e)) < 0)
                        return r;
        }
        *ret_lock_fd = lock_fd;
        lock_fd = -1;
        return 0;
}

/* Open one connection to `path` (and lock-guard it). A read connection is query_only: a write through it would be a
 * bug, and SQLite refuses it. */
static int conn_open(struct conn *c, const char *path, bool reader, struct err *e) {
        pthread_mutex_init(&c->lock, NULL);
        int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (reader ? 0 : SQLITE_OPEN_CREATE);
        if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK)
                return err_set(e, -EIO, ERR_KIND_INTERNAL, "cannot open state database %s: %s", path,
                               c->db ? sqlite3_errmsg(c->db) : "out of memory");
        sqlite3_busy_timeout(c->db, 5000);
        if (!reader)
                return exec_sql(c, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                                   " PRAGMA recursive_triggers=ON;", e);
        char pragmas[128];
        str_printf(pragmas, sizeof(pragmas), "PRAGMA query_only=ON; PRAGMA cache_size=-%d;", STORE_READER_CACHE_KIB);
        return exec_sql(c, pragmas, e);
}

static void conn_close(struct conn *c) {
        for (size_t i = 0; i < c->n_stmts; i++) {
                sqlite3_finalize(c->stmts[i].st);
                free(c->stmts[i].sql);
        }
        free(c->stmts);
        sqlite3_close(c->db);
        pthread_mutex_destroy(&c->lock);
}

/* SQLite counts its memory in use behind one process-wide mutex on every allocation it makes, which every thread's
 * reads would queue on; ecsd never asks for the count. Set before SQLite's first use (later it is refused, which
 * changes nothing but speed). */
static void sqlite_configure(void) {
        sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int rt_store_open(const char *data_dir, struct rt_store **ret, struct err *e) {
        static pthread_once_t configured = PTHREAD_ONCE_INIT;
        pthread_once(&configured, sqlite_configure);
        bool in_memory = strcmp(data_dir, ":memory:") == 0;
        char path[4096];
        int lock_fd = -1;
        if (in_memory)
                str_printf(path, sizeof(path), ":memory:");
        else {
                if (str_printf(path, sizeof(path), "%s/ecsd.db", data_dir) < 0)
                        return err_set(e, -ENAMETOOLONG, ERR_KIND_INTERNAL, "data directory path is too long");
                int r = dir_prepare(data_dir, &lock_fd, e);
                if (r < 0)
                        return r;
        }
        struct rt_store *s = xcalloc(1, sizeof(*s));
        s->lock_fd = lock_fd;
        /* The readers open after the migrations, so that they see the schema this ecsd knows. */
        int r = conn_open(&s->writer, path, false, e);
        if (r >= 0)
                r = migrate(&s->writer, e);
        for (; r >= 0 && !in_memory && s->n_readers < STORE_READERS; s->n_readers++)
                r = conn_open(&s->readers[s->n_readers], path, true, e);
        if (r < 0) {
                err_prefix(e, "opening state database %s", path);
                rt_store_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

void rt_store_free(struct rt_store *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n_readers; i++)
                conn_close(&s->readers[i]);
        conn_close(&s->writer); /* the last one: it checkpoints the WAL into the database */
        if (s->lock_fd >= 0)
                close(s->lock_fd); /* after the database is closed: the next ecsd may open it at once */
        free(s);
}

/* Decode a stored document; the store wrote it, so a failure means the file was damaged. */
static int doc_from_column(sqlite3_stmt *st, int col, json_t **ret, struct err *e) {
        const char *text = (const char *) sqlite3_column_text(st, col);
        json_error_t jerr;
        json_t *doc = text ? json_loads(text, 0, &jerr) : NULL;
        if (!doc)
                return err_set(e, -EIO, ERR_KIND_INTERNAL, "state store: a stored document is damaged");
        *ret = doc;
        return 0;
}

/* A stored document as its text, copied out (the caller frees it): answers that serve it as it is. */
static int text_from_column(sqlite3_stmt *st, int col, char **ret, size_t *ret_len, struct err *e) {
        const char *text = (const char *) sqlite3_column_text(st, col);
        size_t len = (size_t) sqlite3_column_bytes(st, col);
        if (!text)
                return err_set(e, -EIO, ERR_KIND_INTERNAL, "state store: a stored document is damaged");
        char *copy = xmalloc(len + 1);
        memcpy(copy, text, len + 1);
        *ret = copy;
        *ret_len = len;
        return 0;
}

static char *doc_to_text(const json_t *doc) {
        char *text = json_dumps(doc, JSON_COMPACT);
        if (!text)
                abort(); /* only fails on out-of-memory */
        return text;
}

/* Run a statement that returns no rows. */
static int step_done(struct conn *c, sqlite3_stmt *st, const char *what, struct err *e) {
        if (sqlite3_step(st) != SQLITE_DONE)
                return db_error(c, e, what);
        return 0;
}

/* Collect the documents in column `col` of every row into a new array. */
static int collect_docs(struct conn *c, sqlite3_stmt *st, int col, json_t **ret, struct err *e) {
        json_auto_t *arr = json_array();
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                json_t *doc;
                int r = doc_from_column(st, col, &doc, e);
                if (r < 0)
                        return r;
                json_array_append_new(arr, doc);
        }
        if (rc != SQLITE_DONE)
                return db_error(c, e, "query");
        *ret = json_incref(arr);
        return 0;
}

/* ---- clusters ---- */

/* The doc (column 0) and, when ret_priv is not NULL, the private record (column 1) of the row `st` is on. */
static int row_docs(sqlite3_stmt *st, json_t **ret_doc, json_t **ret_priv, struct err *e) {
        json_auto_t *doc = NULL;
        json_auto_t *priv = NULL;
        int r = doc_from_column(st, 0, &doc, e);
        if (r >= 0 && ret_priv)
                r = doc_from_column(st, 1, &priv, e);
        if (r < 0)
                return r;
        *ret_doc = TAKE_PTR(doc);
        if (ret_priv)
                *ret_priv = TAKE_PTR(priv);
        return 0;
}

int rt_cluster_get(struct rt_store *s, const char *region, const char *name, json_t **ret, struct err *e) {
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, "SELECT doc FROM clusters WHERE region = ? AND name = ?", &st, e);
        if (r >= 0) {
                bind_text(st, 1, region);
                bind_text(st, 2, name);
                int rc = sqlite3_step(st);
                if (rc == SQLITE_ROW)
                        r = doc_from_column(st, 0, ret, e);
                else if (rc == SQLITE_DONE)
                        r = err_set(e, -ENOENT, ERR_KIND_CLUSTER_NOT_FOUND, "Cluster not found.");
                else
                        r = db_error(c, e, "cluster lookup");
        }
        return r;
}

int rt_cluster_check_active(struct rt_store *s, const char *region, const char *name, struct err *e) {
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, "SELECT 1 FROM clusters WHERE region = ? AND name = ? AND status = 'ACTIVE'", &st, e);
        if (r >= 0) {
                bind_text(st, 1, region);
                bind_text(st, 2, name);
                int rc = sqlite3_step(st);
                if (rc == SQLITE_DONE)
                        r = err_set(e, -ENOENT, ERR_KIND_CLUSTER_NOT_FOUND, "Cluster not found.");
                else if (rc != SQLITE_ROW)
                        r = db_error(c, e, "cluster lookup");
        }
        return r;
}

static int cluster_write(struct rt_store *s, const char *sql, const char *region, const char *name,
                         const json_t *doc, struct err *e) {
        _cleanup_free_ char *text = doc_to_text(doc);
        const char *status = json_string_value(json_object_get(doc, "status"));
        ASSERT(status);
        WRITER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, sql, &st, e);
        if (r >= 0) {
                bind_text(st, 1, region);
                bind_text(st, 2, name);
                bind_text(st, 3, status);
                bind_text(st, 4, text);
                r = step_done(c, st, "cluster write", e);
        }
        return r;
}

int rt_cluster_put(struct rt_store *s, const char *region, const char *name, const json_t *doc, struct err *e) {
        return cluster_write(s, "INSERT OR REPLACE INTO clusters (region, name, status, doc) VALUES (?, ?, ?, ?)",
                             region, name, doc, e);
}

int rt_cluster_put_if_absent(struct rt_store *s, const char *region, const char *name, const json_t *doc,
                             struct err *e) {
        return cluster_write(s, "INSERT OR IGNORE INTO clusters (region, name, status, doc) VALUES (?, ?, ?, ?)",
                             region, name, doc, e);
}

int rt_cluster_list(struct rt_store *s, const char *region, const char *after, int limit, json_t **ret,
                    struct err *e) {
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c,
                        "SELECT doc FROM clusters WHERE region = ? AND status = 'ACTIVE' AND name > ?"
                        " ORDER BY name LIMIT ?",
                        &st, e);
        if (r >= 0) {
                bind_text(st, 1, region);
                bind_text(st, 2, after ? after : "");
                sqlite3_bind_int(st, 3, limit);
                r = collect_docs(c, st, 0, ret, e);
        }
        return r;
}

/* ---- task definitions ---- */

static int64_t max_revision(struct conn *c, const char *region, const char *family, struct err *e) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, "SELECT COALESCE(MAX(revision), 0) FROM task_definitions WHERE region = ? AND family = ?",
                        &st, e);
        if (r < 0)
                return r;
        bind_text(st, 1, region);
        bind_text(st, 2, family);
        if (sqlite3_step(st) != SQLITE_ROW)
                return db_error(c, e, "revision lookup");
        return sqlite3_column_int64(st, 0);
}

int rt_taskdef_register(struct rt_store *s, const char *region, const char *account, json_t *doc, struct err *e) {
        const char *family = json_string_value(json_object_get(doc, "family"));
        ASSERT(family);
        WRITER(c, s);
        int64_t rev = max_revision(c, region, family, e);
        int r = rev < 0 ? (int) rev : 0;
        if (r >= 0) {
                rev++;
                char resource[ECS_NAME_MAX + 32], arn[ECS_ARN_MAX];
                str_printf(resource, sizeof(resource), "%s:%lld", family, (long long) rev);
                r = ecs_arn_format(arn, sizeof(arn), region, account, "task-definition", resource);
                ASSERT(r >= 0);
                json_object_set_new(doc, "taskDefinitionArn", json_string(arn));
                json_object_set_new(doc, "revision", json_integer(rev));
                _cleanup_free_ char *text = doc_to_text(doc);
                _cleanup_stmt_ sqlite3_stmt *st = NULL;
                r = prepare(c,
                            "INSERT INTO task_definitions (region, family, revision, status, arn, doc)"
                            " VALUES (?, ?, ?, ?, ?, ?)",
                            &st, e);
                if (r >= 0) {
                        bind_text(st, 1, region);
                        bind_text(st, 2, family);
                        sqlite3_bind_int64(st, 3, rev);
                        bind_text(st, 4, json_string_value(json_object_get(doc, "status")));
                        bind_text(st, 5, arn);
                        bind_text(st, 6, text);
                        r = step_done(c, st, "task definition insert", e);
                }
        }
        return r;
}

/* `sql` (a SELECT of one task's columns by id), bound and stepped to its row: 0 with a row, else the error (not
 * found: -ENOENT). */
static int task_row(struct conn *c, const char *sql, const char *id, sqlite3_stmt **st, struct err *e) {
        int r = prepare(c, sql, st, e);
        if (r < 0)
                return r;
        bind_text(*st, 1, id);
        int rc = sqlite3_step(*st);
        if (rc == SQLITE_ROW)
                return 0;
        if (rc == SQLITE_DONE)
                return err_set(e, -ENOENT, ERR_KIND_NOT_FOUND, "task %s not found", id);
        return db_error(c, e, "task lookup");
}

/* `sql` (a SELECT of one service's columns by region, cluster and name), bound and stepped to its row, as task_row. */
static int service_row(struct conn *c, const char *sql, const char *region, const char *cluster, const char *name,
                       sqlite3_stmt **st, struct err *e) {
        int r = prepare(c, sql, st, e);
        if (r < 0)
                return r;
        bind_text(*st, 1, region);
        bind_text(*st, 2, cluster);
        bind_text(*st, 3, name);
        int rc = sqlite3_step(*st);
        if (rc == SQLITE_ROW)
                return 0;
        if (rc == SQLITE_DONE)
                return err_set(e, -ENOENT, ERR_KIND_SERVICE_NOT_FOUND, "Service not found.");
        return db_error(c, e, "service lookup");
}

/* The statement of rt_taskdef_get and rt_taskdef_doc_text, bound and stepped to its row: 0 with a row, else the
 * error (not found: -ENOENT). */
static int taskdef_row(struct conn *c, const char *region, const char *family, int64_t revision,
                       sqlite3_stmt **st, struct err *e) {
        int r = prepare(c,
                        revision > 0 ? "SELECT doc FROM task_definitions WHERE region = ? AND family = ? AND revision = ?"
                                     : "SELECT doc FROM task_definitions WHERE region = ? AND family = ?"
                                       " AND status = 'ACTIVE' ORDER BY revision DESC LIMIT 1",
                        st, e);
        if (r < 0)
                return r;
        bind_text(*st, 1, region);
        bind_text(*st, 2, family);
        if (revision > 0)
                sqlite3_bind_int64(*st, 3, revision);
        int rc = sqlite3_step(*st);
        if (rc == SQLITE_ROW)
                return 0;
        if (rc == SQLITE_DONE)
                return err_set(e, -ENOENT, ERR_KIND_CLIENT, "Unable to describe task definition.");
        return db_error(c, e, "task definition lookup");
}

int rt_taskdef_get(struct rt_store *s, const char *region, const char *family, int64_t revision, json_t **ret,
                   struct err *e) {
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = taskdef_row(c, region, family, revision, &st, e);
        if (r < 0)
                return r;
        return doc_from_column(st, 0, ret, e);
}

int rt_taskdef_doc_text(struct rt_store *s, const char *region, const char *family, int64_t revision, char **ret,
                        size_t *ret_len, struct err *e) {
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = taskdef_row(c, region, family, revision, &st, e);
        if (r < 0)
                return r;
        return text_from_column(st, 0, ret, ret_len, e);
}

int rt_taskdef_update(struct rt_store *s, const char *region, const json_t *doc, struct err *e) {
        _cleanup_free_ char *text = doc_to_text(doc);
        WRITER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c,
                        "UPDATE task_definitions SET status = ?, doc = ?"
                        " WHERE region = ? AND family = ? AND revision = ?",
                        &st, e);
        if (r >= 0) {
                bind_text(st, 1, json_string_value(json_object_get(doc, "status")));
                bind_text(st, 2, text);
                bind_text(st, 3, region);
                bind_text(st, 4, json_string_value(json_object_get(doc, "family")));
                sqlite3_bind_int64(st, 5, json_integer_value(json_object_get(doc, "revision")));
                r = step_done(c, st, "task definition update", e);
                if (r >= 0 && sqlite3_changes(c->db) != 1)
                        r = err_set(e, -ENOENT, ERR_KIND_CLIENT, "Unable to describe task definition.");
        }
        return r;
}

int rt_taskdef_list(struct rt_store *s, const char *region, const struct rt_taskdef_query *q, json_t **ret,
                    struct err *e) {
        /* Row-value comparison keeps paging stable: resume strictly after the last (family, revision) returned. */
        const char *sql_asc = "SELECT arn, family, revision FROM task_definitions"
                              " WHERE region = ?1 AND status = ?2 AND (?3 IS NULL OR family = ?3)"
                              " AND (?4 IS NULL OR (family, revision) > (?4, ?5))"
                              " ORDER BY family, revision LIMIT ?6";
        const char *sql_desc = "SELECT arn, family, revision FROM task_definitions"
                               " WHERE region = ?1 AND status = ?2 AND (?3 IS NULL OR family = ?3)"
                               " AND (?4 IS NULL OR (family, revision) < (?4, ?5))"
                               " ORDER BY family DESC, revision DESC LIMIT ?6";
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, q->descending ? sql_desc : sql_asc, &st, e);
        if (r >= 0) {
                bind_text(st, 1, region);
                bind_text(st, 2, q->status);
                bind_text(st, 3, q->family);
                bind_text(st, 4, q->after_family);
                sqlite3_bind_int64(st, 5, q->after_revision);
                sqlite3_bind_int(st, 6, q->limit);
                json_auto_t *arr = json_array();
                int rc;
                while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                        json_array_append_new(arr, json_pack("{s:s, s:s, s:I}", "arn",
                                                             (const char *) sqlite3_column_text(st, 0), "family",
                                                             (const char *) sqlite3_column_text(st, 1), "revision",
                                                             (json_int_t) sqlite3_column_int64(st, 2)));
                if (rc != SQLITE_DONE)
                        r = db_error(c, e, "task definition list");
                else
                        *ret = json_incref(arr);
        }
        return r;
}

int rt_taskdef_families(struct rt_store *s, const char *region, const char *prefix, const char *status,
                        const char *after, int limit, json_t **ret, struct err *e) {
        /* A family is ACTIVE while any revision is ACTIVE; INACTIVE once none is. The prefix match uses substr()
         * rather than LIKE so that '_' and '%' in names are plain characters. */
        const char *sql = "SELECT family, MAX(status = 'ACTIVE') AS active FROM task_definitions"
                          " WHERE region = ?1 AND (?2 IS NULL OR substr(family, 1, length(?2)) = ?2) AND family > ?3"
                          " GROUP BY family"
                          " HAVING ?4 = 'ALL' OR (?4 = 'ACTIVE' AND active = 1) OR (?4 = 'INACTIVE' AND active = 0)"
                          " ORDER BY family LIMIT ?5";
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, sql, &st, e);
        if (r >= 0) {
                bind_text(st, 1, region);
                bind_text(st, 2, prefix);
                bind_text(st, 3, after ? after : "");
                bind_text(st, 4, status);
                sqlite3_bind_int(st, 5, limit);
                json_auto_t *arr = json_array();
                int rc;
                while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                        json_array_append_new(arr, json_string((const char *) sqlite3_column_text(st, 0)));
                if (rc != SQLITE_DONE)
                        r = db_error(c, e, "family list");
                else
                        *ret = json_incref(arr);
        }
        return r;
}

/* ---- tags ---- */

int rt_tags_get(struct rt_store *s, const char *arn, json_t **ret, struct err *e) {
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, "SELECT key, value FROM tags WHERE arn = ? ORDER BY key", &st, e);
        if (r >= 0) {
                bind_text(st, 1, arn);
                json_auto_t *arr = json_array();
                int rc;
                while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                        json_array_append_new(arr, json_pack("{s:s, s:s}", "key",
                                                             (const char *) sqlite3_column_text(st, 0), "value",
                                                             (const char *) sqlite3_column_text(st, 1)));
                if (rc != SQLITE_DONE)
                        r = db_error(c, e, "tag list");
                else
                        *ret = json_incref(arr);
        }
        return r;
}

/* Apply `sql` once per element of `items`, binding (arn, first, second) from each element, in one transaction. */
static int tags_apply(struct rt_store *s, const char *sql, const char *arn, const json_t *items, bool pairs,
                      struct err *e) {
        WRITER(c, s);
        int r = exec_sql(c, "BEGIN IMMEDIATE", e);
        if (r >= 0) {
                _cleanup_stmt_ sqlite3_stmt *st = NULL;
                r = prepare(c, sql, &st, e);
                size_t i;
                const json_t *item;
                json_array_foreach(items, i, item) {
                        if (r < 0)
                                break;
                        sqlite3_reset(st);
                        bind_text(st, 1, arn);
                        if (pairs) {
                                const char *value = json_string_value(json_object_get(item, "value"));
                                bind_text(st, 2, json_string_value(json_object_get(item, "key")));
                                bind_text(st, 3, value ? value : "");
                        } else
                                bind_text(st, 2, json_string_value(item));
                        r = step_done(c, st, "tag write", e);
                }
                int r2 = exec_sql(c, r >= 0 ? "COMMIT" : "ROLLBACK", r >= 0 ? e : NULL);
                if (r >= 0)
                        r = r2;
        }
        return r;
}

int rt_tags_put(struct rt_store *s, const char *arn, const json_t *tags, struct err *e) {
        return tags_apply(s, "INSERT OR REPLACE INTO tags (arn, key, value) VALUES (?, ?, ?)", arn, tags, true, e);
}

int rt_tags_remove(struct rt_store *s, const char *arn, const json_t *keys, struct err *e) {
        return tags_apply(s, "DELETE FROM tags WHERE arn = ? AND key = ?", arn, keys, false, e);
}

int rt_tags_clear(struct rt_store *s, const char *arn, struct err *e) {
        WRITER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, "DELETE FROM tags WHERE arn = ?", &st, e);
        if (r >= 0) {
                bind_text(st, 1, arn);
                r = step_done(c, st, "tag clear", e);
        }
        return r;
}

/* ---- tasks ---- */

int rt_task_put(struct rt_store *s, const struct rt_task_row *row, struct err *e) {
        const json_t *doc = row->doc;
        const char *desired = json_string_value(json_object_get(doc, "desiredStatus"));
        const char *last = json_string_value(json_object_get(doc, "lastStatus"));
        ASSERT(desired && last && row->id && row->region && row->cluster && row->family);
        const json_t *stopped = json_object_get(doc, "stoppedAt");
        _cleanup_free_ char *text = doc_to_text(doc);
        _cleanup_free_ char *priv = doc_to_text(row->priv);
        WRITER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c,
                        "INSERT OR REPLACE INTO tasks (id, region, cluster, family, started_by, desired, last_status,"
                        " launch_type, stopped_ms, doc, private, grp, instance, res_cpu, res_mem, arn)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        &st, e);
        if (r >= 0) {
                bind_text(st, 1, row->id);
                bind_text(st, 2, row->region);
                bind_text(st, 3, row->cluster);
                bind_text(st, 4, row->family);
                bind_text(st, 5, json_string_value(json_object_get(doc, "startedBy")));
                bind_text(st, 6, desired);
                bind_text(st, 7, last);
                bind_text(st, 8, json_string_value(json_object_get(doc, "launchType")));
                if (json_is_number(stopped))
                        sqlite3_bind_int64(st, 9, (sqlite3_int64) (json_number_value(stopped) * 1000.0));
                else
                        sqlite3_bind_null(st, 9);
                bind_text(st, 10, text);
                bind_text(st, 11, priv);
                bind_text(st, 12, json_string_value(json_object_get(doc, "group")));
                bind_text(st, 13, json_string_value(json_object_get(doc, "containerInstanceArn")));
                const json_t *reserved = json_object_get(row->priv, "reserved");
                sqlite3_bind_int64(st, 14, (sqlite3_int64) json_integer_value(json_object_get(reserved, "cpu")));
                sqlite3_bind_int64(st, 15, (sqlite3_int64) json_integer_value(json_object_get(reserved, "memory")));
                bind_text(st, 16, json_string_value(json_object_get(doc, "taskArn")));
                r = step_done(c, st, "task write", e);
        }
        return r;
}

int rt_task_get(struct rt_store *s, const char *id, json_t **ret_doc, json_t **ret_priv, struct err *e) {
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = task_row(c, "SELECT doc, private FROM tasks WHERE id = ?", id, &st, e);
        if (r < 0)
                return r;
        return row_docs(st, ret_doc, ret_priv, e);
}

int rt_task_doc_text(struct rt_store *s, const char *id, char **ret, size_t *ret_len, struct err *e) {
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = task_row(c, "SELECT doc FROM tasks WHERE id = ?", id, &st, e);
        if (r < 0)
                return r;
        return text_from_column(st, 0, ret, ret_len, e);
}

/* The listing's statement: with a desiredStatus, tasks_list serves the filter and the order and holds every column
 * read (a covering index: no table row, no document); without one (no API call asks so), the cluster's rows in id
 * order. Constant texts, since `(? IS NULL OR desired = ?)` would keep SQLite from using the index for it. The most
 * common listing, a cluster's tasks of one desired status and nothing else, has its own text without the optional
 * filters: SQLite evaluates each `(? IS NULL OR ...)` on every row, which was a third of its time in such a call. */
static const char task_list_unfiltered_sql[] =
        "SELECT id, arn FROM tasks WHERE region = ?1 AND cluster = ?2 AND desired = ?5 AND id > ?7"
        " ORDER BY id LIMIT ?8";
static const char task_list_sql[] =
        "SELECT id, arn FROM tasks WHERE region = ?1 AND cluster = ?2 AND desired = ?5"
        " AND (?3 IS NULL OR family = ?3) AND (?4 IS NULL OR started_by = ?4)"
        " AND (?6 IS NULL OR launch_type = ?6) AND id > ?7 AND (?9 IS NULL OR grp = ?9)"
        " AND (?10 IS NULL OR instance = ?10) ORDER BY id LIMIT ?8";
static const char task_list_any_sql[] =
        "SELECT id, arn FROM tasks WHERE region = ?1 AND cluster = ?2"
        " AND (?3 IS NULL OR family = ?3) AND (?4 IS NULL OR started_by = ?4)"
        " AND (?6 IS NULL OR launch_type = ?6) AND id > ?7 AND (?9 IS NULL OR grp = ?9)"
        " AND (?10 IS NULL OR instance = ?10) ORDER BY id LIMIT ?8";

int rt_task_list_each(struct rt_store *s, const struct rt_task_query *q, rt_task_list_fn fn, void *ctx,
                      struct err *e) {
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        bool filtered = q->family || q->started_by || q->launch_type || q->group || q->instance;
        const char *sql = !q->desired ? task_list_any_sql : filtered ? task_list_sql : task_list_unfiltered_sql;
        int r = prepare(c, sql, &st, e);
        if (r < 0)
                return r;
        bind_text(st, 1, q->region);
        bind_text(st, 2, q->cluster);
        if (q->desired)
                bind_text(st, 5, q->desired);
        bind_text(st, 7, q->after_id ? q->after_id : "");
        sqlite3_bind_int(st, 8, q->limit);
        if (sql != task_list_unfiltered_sql) {
                bind_text(st, 3, q->family);
                bind_text(st, 4, q->started_by);
                bind_text(st, 6, q->launch_type);
                bind_text(st, 9, q->group);
                bind_text(st, 10, q->instance);
        }
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *id = (const char *) sqlite3_column_text(st, 0);
                const char *arn = (const char *) sqlite3_column_text(st, 1);
                size_t len = (size_t) sqlite3_column_bytes(st, 1);
                if (!arn) {
                        /* A row with no arn column (every write fills it, migration 5 filled the older ones): from
                         * its document. */
                        _cleanup_stmt_ sqlite3_stmt *one = NULL;
                        if ((r = prepare(c, "SELECT json_extract(doc, '$.taskArn') FROM tasks WHERE id = ?", &one,
                                         e)) < 0)
                                return r;
                        bind_text(one, 1, id);
                        if (sqlite3_step(one) != SQLITE_ROW)
                                return db_error(c, e, "task list");
                        const char *from_doc = (const char *) sqlite3_column_text(one, 0);
                        if ((r = fn(ctx, id, from_doc ? from_doc : "", from_doc ? strlen(from_doc) : 0)) < 0)
                                return r;
                        continue;
                }
                if ((r = fn(ctx, id, arn, len)) < 0)
                        return r;
        }
        if (rc != SQLITE_DONE)
                return db_error(c, e, "task list");
        return 0;
}

static int task_list_append(void *ctx, const char *id, const char *arn, size_t len) {
        (void) id;
        json_array_append_new(ctx, json_stringn(arn, len));
        return 0;
}

int rt_task_list(struct rt_store *s, const struct rt_task_query *q, json_t **ret, struct err *e) {
        json_auto_t *arr = json_array();
        int r = rt_task_list_each(s, q, task_list_append, arr, e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(arr);
        return 0;
}

int rt_cluster_counts(struct rt_store *s, const char *region, const char *cluster, struct rt_cluster_counts *ret,
                      struct err *e) {
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        /* The counts the triggers of migration 5 keep: a row per kind and status, whatever the number of rows. */
        int r = prepare(c, "SELECT kind, status, n FROM counts WHERE region = ? AND cluster = ?", &st, e);
        if (r < 0)
                return r;
        bind_text(st, 1, region);
        bind_text(st, 2, cluster);
        struct rt_cluster_counts counts = {0};
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *kind = (const char *) sqlite3_column_text(st, 0);
                const char *status = (const char *) sqlite3_column_text(st, 1);
                int64_t n = sqlite3_column_int64(st, 2);
                if (!kind || !status)
                        continue;
                if (strcmp(kind, "service") == 0) {
                        if (strcmp(status, "ACTIVE") == 0)
                                counts.services_active += n;
                        else if (strcmp(status, "DRAINING") == 0)
                                counts.services_draining += n;
                        continue;
                }
                if (strcmp(status, "STOPPED") == 0)
                        continue;
                counts.active += n;
                if (strcmp(status, "RUNNING") == 0)
                        counts.running += n;
                else if (strcmp(status, "PROVISIONING") == 0 || strcmp(status, "PENDING") == 0 ||
                         strcmp(status, "ACTIVATING") == 0)
                        counts.pending += n;
        }
        if (rc != SQLITE_DONE)
                return db_error(c, e, "cluster counts");
        *ret = counts;
        return 0;
}

int rt_task_active(struct rt_store *s, json_t **ret, struct err *e) {
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, "SELECT doc, private FROM tasks WHERE last_status != 'STOPPED' ORDER BY id", &st, e);
        if (r < 0)
                return r;
        json_auto_t *arr = json_array();
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                json_t *doc, *priv;
                if ((r = row_docs(st, &doc, &priv, e)) < 0)
                        return r;
                json_array_append_new(arr, json_pack("{s:o, s:o}", "doc", doc, "private", priv));
        }
        if (rc != SQLITE_DONE)
                return db_error(c, e, "active task list");
        *ret = TAKE_PTR(arr);
        return 0;
}

int rt_task_expire(struct rt_store *s, int64_t stopped_before_ms, int *ret_removed, struct err *e) {
        WRITER(c, s);
        int r = exec_sql(c, "BEGIN IMMEDIATE", e);
        if (r < 0)
                return r;
        static const char *const sql[] = {
                "DELETE FROM tags WHERE arn IN (SELECT json_extract(doc, '$.taskArn') FROM tasks"
                " WHERE last_status = 'STOPPED' AND stopped_ms < ?1)",
                "DELETE FROM task_logs WHERE task_id IN (SELECT id FROM tasks WHERE last_status = 'STOPPED'"
                " AND stopped_ms < ?1)",
                "DELETE FROM tasks WHERE last_status = 'STOPPED' AND stopped_ms < ?1",
        };
        int removed = 0;
        for (size_t i = 0; i < ARRAY_SIZE(sql) && r >= 0; i++) {
                _cleanup_stmt_ sqlite3_stmt *st = NULL;
                r = prepare(c, sql[i], &st, e);
                if (r >= 0) {
                        sqlite3_bind_int64(st, 1, stopped_before_ms);
                        r = step_done(c, st, "task expiry", e);
                        removed = sqlite3_changes(c->db);
                }
        }
        int r2 = exec_sql(c, r >= 0 ? "COMMIT" : "ROLLBACK", r >= 0 ? e : NULL);
        if (r >= 0)
                r = r2;
        if (r >= 0 && ret_removed)
                *ret_removed = removed;
        return r;
}

/* ---- services ---- */

int rt_service_get(struct rt_store *s, const char *region, const char *cluster, const char *name, json_t **ret_doc,
                   json_t **ret_priv, struct err *e) {
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = service_row(c, "SELECT doc, private FROM services WHERE region = ? AND cluster = ? AND name = ?",
                            region, cluster, name, &st, e);
        if (r < 0)
                return r;
        return row_docs(st, ret_doc, ret_priv, e);
}

int rt_service_put(struct rt_store *s, const char *region, const char *cluster, const json_t *doc,
                   const json_t *priv, struct err *e) {
        const char *name = json_string_value(json_object_get(doc, "serviceName"));
        const char *status = json_string_value(json_object_get(doc, "status"));
        ASSERT(name && status);
        _cleanup_free_ char *text = doc_to_text(doc);
        _cleanup_free_ char *ptext = doc_to_text(priv);
        WRITER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c,
                        "INSERT OR REPLACE INTO services (region, cluster, name, status, launch_type, strategy, doc,"
                        " private, arn) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        &st, e);
        if (r >= 0) {
                bind_text(st, 1, region);
                bind_text(st, 2, cluster);
                bind_text(st, 3, name);
                bind_text(st, 4, status);
                bind_text(st, 5, json_string_value(json_object_get(doc, "launchType")));
                bind_text(st, 6, ecs_json_str(doc, "schedulingStrategy", "REPLICA"));
                bind_text(st, 7, text);
                bind_text(st, 8, ptext);
                bind_text(st, 9, json_string_value(json_object_get(doc, "serviceArn")));
                r = step_done(c, st, "service write", e);
        }
        return r;
}

int rt_service_list(struct rt_store *s, const struct rt_service_query *q, json_t **ret, struct err *e) {
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c,
                        "SELECT doc FROM services WHERE region = ?1 AND cluster = ?2 AND status = 'ACTIVE'"
                        " AND (?3 IS NULL OR launch_type = ?3) AND (?4 IS NULL OR strategy = ?4) AND name > ?5"
                        " ORDER BY name LIMIT ?6",
                        &st, e);
        if (r >= 0) {
                bind_text(st, 1, q->region);
                bind_text(st, 2, q->cluster);
                bind_text(st, 3, q->launch_type);
                bind_text(st, 4, q->strategy);
                bind_text(st, 5, q->after ? q->after : "");
                sqlite3_bind_int(st, 6, q->limit);
                r = collect_docs(c, st, 0, ret, e);
        }
        return r;
}

int rt_service_list_each(struct rt_store *s, const struct rt_service_query *q, rt_service_list_fn fn, void *ctx,
                         struct err *e) {
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        /* services_list covers it: (region, cluster, status, name) serve the filter and the order. Without a filter,
         * a text without the `(? IS NULL OR ...)` terms, as rt_task_list_each's. */
        bool filtered = q->launch_type || q->strategy;
        int r = prepare(c,
                        filtered ? "SELECT name, arn FROM services WHERE region = ?1 AND cluster = ?2"
                                   " AND status = 'ACTIVE' AND (?3 IS NULL OR launch_type = ?3)"
                                   " AND (?4 IS NULL OR strategy = ?4) AND name > ?5 ORDER BY name LIMIT ?6"
                                 : "SELECT name, arn FROM services WHERE region = ?1 AND cluster = ?2"
                                   " AND status = 'ACTIVE' AND name > ?5 ORDER BY name LIMIT ?6",
                        &st, e);
        if (r < 0)
                return r;
        bind_text(st, 1, q->region);
        bind_text(st, 2, q->cluster);
        if (filtered) {
                bind_text(st, 3, q->launch_type);
                bind_text(st, 4, q->strategy);
        }
        bind_text(st, 5, q->after ? q->after : "");
        sqlite3_bind_int(st, 6, q->limit);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *name = (const char *) sqlite3_column_text(st, 0);
                const char *arn = (const char *) sqlite3_column_text(st, 1);
                size_t len = (size_t) sqlite3_column_bytes(st, 1);
                if ((r = fn(ctx, name, arn ? arn : "", arn ? len : 0)) < 0)
                        return r;
        }
        if (rc != SQLITE_DONE)
                return db_error(c, e, "service list");
        return 0;
}

int rt_service_doc_text(struct rt_store *s, const char *region, const char *cluster, const char *name, char **ret,
                        size_t *ret_len, struct err *e) {
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = service_row(c, "SELECT doc FROM services WHERE region = ? AND cluster = ? AND name = ?", region,
                            cluster, name, &st, e);
        if (r < 0)
                return r;
        return text_from_column(st, 0, ret, ret_len, e);
}

int rt_service_live(struct rt_store *s, json_t **ret, struct err *e) {
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c,
                        "SELECT region, cluster, name FROM services WHERE status IN ('ACTIVE', 'DRAINING')"
                        " ORDER BY region, cluster, name",
                        &st, e);
        if (r < 0)
                return r;
        json_auto_t *arr = json_array();
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "region",
                                                     (const char *) sqlite3_column_text(st, 0), "cluster",
                                                     (const char *) sqlite3_column_text(st, 1), "name",
                                                     (const char *) sqlite3_column_text(st, 2)));
        if (rc != SQLITE_DONE)
                return db_error(c, e, "live service list");
        *ret = TAKE_PTR(arr);
        return 0;
}

/* ---- captured container output ---- */

int rt_task_log_put(struct rt_store *s, const char *task_id, const char *container, const void *data, size_t len,
                    struct err *e) {
        WRITER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, "INSERT OR REPLACE INTO task_logs (task_id, container, data) VALUES (?, ?, ?)", &st, e);
        if (r >= 0) {
                bind_text(st, 1, task_id);
                bind_text(st, 2, container);
                sqlite3_bind_blob64(st, 3, len ? data : "", (sqlite3_uint64) len, SQLITE_TRANSIENT);
                r = step_done(c, st, "log write", e);
        }
        return r;
}

int rt_task_log_get(struct rt_store *s, const char *task_id, const char *container, char **ret, size_t *ret_len,
                    struct err *e) {
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, "SELECT data FROM task_logs WHERE task_id = ? AND container = ?", &st, e);
        if (r < 0)
                return r;
        bind_text(st, 1, task_id);
        bind_text(st, 2, container);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return err_set(e, -ENOENT, ERR_KIND_NOT_FOUND, "no captured output for container %s", container);
        if (rc != SQLITE_ROW)
                return db_error(c, e, "log read");
        size_t len = (size_t) sqlite3_column_bytes(st, 0);
        char *buf = xmalloc(len + 1);
        if (len)
                memcpy(buf, sqlite3_column_blob(st, 0), len);
        buf[len] = '\0';
        *ret = buf;
        *ret_len = len;
        return 0;
}

/* ---- small named values (the instance id) ---- */

int rt_meta_get_or_put(struct rt_store *s, const char *key, const char *dflt, char *buf, size_t size,
                       struct err *e) {
        WRITER(c, s);
        {
                _cleanup_stmt_ sqlite3_stmt *st = NULL;
                int r = prepare(c, "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", &st, e);
                if (r < 0)
                        return r;
                bind_text(st, 1, key);
                bind_text(st, 2, dflt);
                if ((r = step_done(c, st, "meta write", e)) < 0)
                        return r;
        }
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, "SELECT value FROM meta WHERE key = ?", &st, e);
        if (r < 0)
                return r;
        bind_text(st, 1, key);
        if (sqlite3_step(st) != SQLITE_ROW)
                return db_error(c, e, "meta read");
        if (str_printf(buf, size, "%s", (const char *) sqlite3_column_text(st, 0)) < 0)
                return err_set(e, -ENAMETOOLONG, ERR_KIND_INTERNAL, "state store: value of %s is too long", key);
        return 0;
}

/* ---- container instances ---- */

int rt_instance_get(struct rt_store *s, const char *region, const char *cluster, const char *id, json_t **ret,
                    struct err *e) {
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, "SELECT doc FROM container_instances WHERE region = ? AND cluster = ? AND id = ?", &st, e);
        if (r < 0)
                return r;
        bind_text(st, 1, region);
        bind_text(st, 2, cluster);
        bind_text(st, 3, id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return err_set(e, -ENOENT, ERR_KIND_NOT_FOUND, "container instance not found");
        if (rc != SQLITE_ROW)
                return db_error(c, e, "container instance lookup");
        return doc_from_column(st, 0, ret, e);
}

int rt_instance_put(struct rt_store *s, const char *region, const char *cluster, const char *id, const json_t *doc,
                    struct err *e) {
        _cleanup_free_ char *text = doc_to_text(doc);
        WRITER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, "INSERT OR REPLACE INTO container_instances (region, cluster, id, doc) VALUES (?, ?, ?, ?)",
                        &st, e);
        if (r < 0)
                return r;
        bind_text(st, 1, region);
        bind_text(st, 2, cluster);
        bind_text(st, 3, id);
        bind_text(st, 4, text);
        return step_done(c, st, "container instance write", e);
}

int rt_instance_delete(struct rt_store *s, const char *region, const char *cluster, const char *id, struct err *e) {
        WRITER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, "DELETE FROM container_instances WHERE region = ? AND cluster = ? AND id = ?", &st, e);
        if (r < 0)
                return r;
        bind_text(st, 1, region);
        bind_text(st, 2, cluster);
        bind_text(st, 3, id);
        return step_done(c, st, "container instance delete", e);
}

int rt_instance_list(struct rt_store *s, const char *region, const char *cluster, json_t **ret, struct err *e) {
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, "SELECT id, doc FROM container_instances WHERE region = ? AND cluster = ? ORDER BY id", &st,
                        e);
        if (r < 0)
                return r;
        bind_text(st, 1, region);
        bind_text(st, 2, cluster);
        json_auto_t *out = json_object();
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                json_t *doc;
                if ((r = doc_from_column(st, 1, &doc, e)) < 0)
                        return r;
                json_object_set_new(out, (const char *) sqlite3_column_text(st, 0), doc);
        }
        if (rc != SQLITE_DONE)
                return db_error(c, e, "container instance list");
        *ret = TAKE_PTR(out);
        return 0;
}

int rt_task_placements(struct rt_store *s, json_t **ret, struct err *e) {
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        /* Only a placed task has an instance, and only a live one holds resources. tasks_by_instance covers the query:
         * the rows' documents (kilobytes, after these columns) are never read. */
        int r = prepare(c,
                        "SELECT region, cluster, instance, last_status, grp, id, res_cpu, res_mem FROM tasks"
                        " WHERE instance IS NOT NULL AND last_status != 'STOPPED'",
                        &st, e);
        if (r < 0)
                return r;
        json_auto_t *arr = json_array();
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *grp = (const char *) sqlite3_column_text(st, 4);
                json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "region",
                                                     (const char *) sqlite3_column_text(st, 0), "cluster",
                                                     (const char *) sqlite3_column_text(st, 1), "instance",
                                                     (const char *) sqlite3_column_text(st, 2), "lastStatus",
                                                     (const char *) sqlite3_column_text(st, 3), "group",
                                                     grp ? grp : "", "id",
                                                     (const char *) sqlite3_column_text(st, 5), "cpu",
                                                     (json_int_t) sqlite3_column_int64(st, 6), "memory",
                                                     (json_int_t) sqlite3_column_int64(st, 7)));
        }
        if (rc != SQLITE_DONE)
                return db_error(c, e, "task placements");
        *ret = TAKE_PTR(arr);
        return 0;
}

/* ---- small records (migration 5) ---- */

int rt_record_get(struct rt_store *s, const char *region, const char *kind, const char *key, json_t **ret,
                  struct err *e) {
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, "SELECT doc FROM records WHERE region = ? AND kind = ? AND key = ?", &st, e);
        if (r < 0)
                return r;
        bind_text(st, 1, region);
        bind_text(st, 2, kind);
        bind_text(st, 3, key);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                return doc_from_column(st, 0, ret, e);
        if (rc == SQLITE_DONE)
                return err_set(e, -ENOENT, ERR_KIND_NOT_FOUND, "No %s record '%.100s'.", kind, key);
        return db_error(c, e, "record lookup");
}

int rt_record_put(struct rt_store *s, const char *region, const char *kind, const char *key, const json_t *doc,
                  struct err *e) {
        _cleanup_free_ char *text = doc_to_text(doc);
        WRITER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, "INSERT OR REPLACE INTO records (region, kind, key, doc) VALUES (?, ?, ?, ?)", &st, e);
        if (r < 0)
                return r;
        bind_text(st, 1, region);
        bind_text(st, 2, kind);
        bind_text(st, 3, key);
        bind_text(st, 4, text);
        return step_done(c, st, "record write", e);
}

int rt_record_delete(struct rt_store *s, const char *region, const char *kind, const char *key, struct err *e) {
        WRITER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, "DELETE FROM records WHERE region = ? AND kind = ? AND key = ?", &st, e);
        if (r < 0)
                return r;
        bind_text(st, 1, region);
        bind_text(st, 2, kind);
        bind_text(st, 3, key);
        if ((r = step_done(c, st, "record delete", e)) < 0)
                return r;
        return sqlite3_changes(c->db) > 0 ? 0 : -ENOENT;
}

int rt_record_list(struct rt_store *s, const char *region, const char *kind, const char *after, int limit,
                   json_t **ret, struct err *e) {
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c,
                        "SELECT doc, key FROM records WHERE region = ? AND kind = ? AND key > ? ORDER BY key LIMIT ?",
                        &st, e);
        if (r < 0)
                return r;
        bind_text(st, 1, region);
        bind_text(st, 2, kind);
        bind_text(st, 3, after ? after : "");
        sqlite3_bind_int(st, 4, limit);
        json_auto_t *arr = json_array();
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                json_t *doc;
                if ((r = doc_from_column(st, 0, &doc, e)) < 0)
                        return r;
                json_array_append_new(arr, json_pack("{s:s, s:o}", "key", (const char *) sqlite3_column_text(st, 1),
                                                     "doc", doc));
        }
        if (rc != SQLITE_DONE)
                return db_error(c, e, "record list");
        *ret = json_incref(arr);
        return 0;
}

int rt_cluster_statistics(struct rt_store *s, const char *region, const char *cluster, json_t **ret, struct err *e) {
        READER(c, s);
        json_auto_t *out = json_pack("{s:{}, s:{}}", "tasks", "services");
        _cleanup_stmt_ sqlite3_stmt *tasks = NULL;
        int r = prepare(c,
                        "SELECT COALESCE(launch_type, 'EC2'),"
                        " count(*) FILTER (WHERE last_status = 'RUNNING'),"
                        " count(*) FILTER (WHERE last_status IN ('PROVISIONING', 'PENDING', 'ACTIVATING'))"
                        " FROM tasks WHERE region = ? AND cluster = ? AND last_status != 'STOPPED'"
                        " GROUP BY 1",
                        &tasks, e);
        if (r < 0)
                return r;
        bind_text(tasks, 1, region);
        bind_text(tasks, 2, cluster);
        int rc;
        while ((rc = sqlite3_step(tasks)) == SQLITE_ROW)
                json_object_set_new(json_object_get(out, "tasks"), (const char *) sqlite3_column_text(tasks, 0),
                                    json_pack("{s:I, s:I}", "running", (json_int_t) sqlite3_column_int64(tasks, 1),
                                              "pending", (json_int_t) sqlite3_column_int64(tasks, 2)));
        if (rc != SQLITE_DONE)
                return db_error(c, e, "task statistics");
        /* A service with a capacity provider strategy has no launch_type column: its first provider stands for it. */
        _cleanup_stmt_ sqlite3_stmt *services = NULL;
        r = prepare(c,
                    "SELECT COALESCE(launch_type, json_extract(doc, '$.capacityProviderStrategy[0].capacityProvider'),"
                    " 'EC2'), count(*) FILTER (WHERE status = 'ACTIVE'), count(*) FILTER (WHERE status = 'DRAINING')"
                    " FROM services WHERE region = ? AND cluster = ? GROUP BY 1",
                    &services, e);
        if (r < 0)
                return r;
        bind_text(services, 1, region);
        bind_text(services, 2, cluster);
        while ((rc = sqlite3_step(services)) == SQLITE_ROW)
                json_object_set_new(json_object_get(out, "services"), (const char *) sqlite3_column_text(services, 0),
                                    json_pack("{s:I, s:I}", "active", (json_int_t) sqlite3_column_int64(services, 1),
                                              "draining", (json_int_t) sqlite3_column_int64(services, 2)));
        if (rc != SQLITE_DONE)
                return db_error(c, e, "service statistics");
        *ret = TAKE_PTR(out);
        return 0;
}

int rt_task_count_provider(struct rt_store *s, const char *region, const char *cluster, const char *provider,
                           int64_t *ret, struct err *e) {
        READER(c, s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c,
                        "SELECT count(*) FROM tasks WHERE region = ? AND cluster = ? AND last_status != 'STOPPED'"
                        " AND json_extract(doc, '$.capacityProviderName') = ?",
                        &st, e);
        if (r < 0)
                return r;
        bind_text(st, 1, region);
        bind_text(st, 2, cluster);
        bind_text(st, 3, provider);
        if (sqlite3_step(st) != SQLITE_ROW)
                return db_error(c, e, "task count by capacity provider");
        *ret = sqlite3_column_int64(st, 0);
        return 0;
}
