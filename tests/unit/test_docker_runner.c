/* test_docker_runner.c — the docker CLI runner (pkg/docker/runner.c) against real processes.
 *
 * Without arguments: the runner's own behaviour, with /bin/sh as the "CLI" (the runner itself never adds a shell;
 * the tests use one as the program they run). With the argument `docker`: the real Docker engine named by
 * DOCKER_HOST (set by the tests/docker/engine-up fixture) — a missing or dead engine FAILS these tests, it does not
 * skip them. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "runner.h"

#define SH "/bin/sh"

/* Run `sh -c script` through the runner (argv[0] "docker" replaced by /bin/sh, as a plan's would be by the CLI). */
static int run_sh(const char *script, const struct docker_env_var *env, size_t n_env, const char *fd3, int64_t timeout_ms,
                  struct docker_cmd_result *ret, struct err *e) {
        const char *argv[] = {"docker", "-c", script, NULL};
        struct docker_cmd cmd = {
                .argv = argv,
                .env = env,
                .n_env = n_env,
                .fd3_data = fd3,
                .fd3_len = fd3 ? strlen(fd3) : 0,
                .timeout_ms = timeout_ms,
                .cli = SH,
        };
        return docker_run_cmd(&cmd, ret, e);
}

static void exit_code(void **state) {
        (void) state;
        struct docker_cmd_result r = {0};
        struct err e = {0};
        assert_int_equal(run_sh("exit 7", NULL, 0, NULL, 5000, &r, &e), 0);
        assert_int_equal(r.exit_code, 7);
        assert_int_equal(r.signal, 0);
        assert_int_equal(docker_cmd_result_check(&r, "docker thing", &e), -EIO);
        assert_non_null(strstr(e.msg, "exit 7"));
        docker_cmd_result_free(&r);

        assert_int_equal(run_sh("true", NULL, 0, NULL, 5000, &r, &e), 0);
        assert_int_equal(r.exit_code, 0);
        assert_int_equal(docker_cmd_result_check(&r, "docker thing", &e), 0);
        assert_true(r.duration_ms >= 0 && r.duration_ms < 5000);
        docker_cmd_result_free(&r);
}

static void signal_death(void **state) {
        (void) state;
        struct docker_cmd_result r = {0};
        struct err e = {0};
        assert_int_equal(run_sh("kill -KILL $$", NULL, 0, NULL, 5000, &r, &e), 0);
        assert_int_equal(r.exit_code, -1);
        assert_int_equal(r.signal, SIGKILL);
        assert_int_equal(docker_cmd_result_check(&r, "docker run", &e), -EIO);
        assert_non_null(strstr(e.msg, "signal 9"));
        docker_cmd_result_free(&r);
}

static void capture_and_first_line(void **state) {
        (void) state;
        struct docker_cmd_result r = {0};
        struct err e = {0};
        assert_int_equal(run_sh("printf 'hello\\nworld\\n'; printf '\\nError: boom\\nmore\\n' >&2; exit 1", NULL, 0,
                                NULL, 5000, &r, &e),
                         0);
        assert_string_equal(r.out, "hello\nworld\n");
        assert_int_equal(r.out_len, 12);
        assert_string_equal(r.err, "\nError: boom\nmore\n");
        assert_false(r.out_truncated);
        assert_false(r.err_truncated);
        assert_int_equal(docker_cmd_result_check(&r, "docker pull x", &e), -EIO);
        assert_string_equal(e.msg, "docker pull x failed (exit 1): Error: boom");
        docker_cmd_result_free(&r);

        /* Empty output still yields owned, terminated buffers. */
        assert_int_equal(run_sh("exit 2", NULL, 0, NULL, 5000, &r, &e), 0);
        assert_non_null(r.out);
        assert_non_null(r.err);
        assert_int_equal(r.out_len, 0);
        assert_int_equal(docker_cmd_result_check(&r, "docker rm", &e), -EIO);
        assert_string_equal(e.msg, "docker rm failed (exit 2).");
        docker_cmd_result_free(&r);
}

static void output_cap_drains(void **state) {
        (void) state;
        struct docker_cmd_result r = {0};
        struct err e = {0};
        /* 1 MiB on each stream: must neither block the child nor be kept past the cap. */
        assert_int_equal(run_sh("head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2; echo done >&2; exit 4",
                                NULL, 0, NULL, 10000, &r, &e),
                         0);
        assert_int_equal(r.exit_code, 4);
        assert_int_equal(r.out_len, DOCKER_RUNNER_OUTPUT_CAP_DEFAULT);
        assert_int_equal(r.err_len, DOCKER_RUNNER_OUTPUT_CAP_DEFAULT);
        assert_true(r.out_truncated);
        assert_true(r.err_truncated);
        assert_true(r.duration_ms < 5000);
        docker_cmd_result_free(&r);

        const char *argv[] = {"docker", "-c", "printf 0123456789", NULL};
        struct docker_cmd cmd = {.argv = argv, .timeout_ms = 5000, .cli = SH, .output_cap = 4};
        assert_int_equal(docker_run_cmd(&cmd, &r, &e), 0);
        assert_string_equal(r.out, "0123");
        assert_true(r.out_truncated);
        docker_cmd_result_free(&r);
}

/* A process that is gone or a zombie waiting for a reaper that is not us: either way it no longer runs. */
static bool process_gone(long pid) {
        char path[64], buf[512];
        str_printf(path, sizeof(path), "/proc/%ld/stat", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return true;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return true;
        buf[n] = '\0';
        const char *rp = strrchr(buf, ')');
        return rp && (rp[2] == 'Z' || rp[2] == 'X');
}

/* The child printed a background process's pid on its first line: that process must be gone within a second. */
static void assert_printed_pid_dies(struct docker_cmd_result *r) {
        int64_t gpid = 0;
        assert_non_null(r->out);
        r->out[strcspn(r->out, "\n")] = '\0';
        assert_int_equal(parse_int64(r->out, 2, INT32_MAX, &gpid), 0);
        bool gone = false;
        for (int i = 0; i < 100 && !gone; i++) {
                gone = process_gone((long) gpid);
                if (!gone)
                        usleep(10000);
        }
        assert_true(gone);
}

static void deadline_kills_group(void **state) {
        (void) state;
        struct docker_cmd_result r = {0};
        struct err e = {0};
        int64_t t0 = time_mono_ms();
        assert_int_equal(run_sh("sleep 30 & echo $!; wait", NULL, 0, NULL, 200, &r, &e), -ETIMEDOUT);
        int64_t took = time_mono_ms() - t0;
        assert_true(took >= 200);
        assert_true(took < 200 + DOCKER_RUNNER_KILL_GRACE_MS + 1000);
        assert_non_null(strstr(e.msg, "did not finish within 200 ms"));
        assert_int_equal(e.code, -ETIMEDOUT);
        assert_true(r.signal == SIGTERM || r.signal == SIGKILL);
        assert_printed_pid_dies(&r);
        docker_cmd_result_free(&r);

        /* A child that ignores SIGTERM is killed after the grace. */
        t0 = time_mono_ms();
        assert_int_equal(run_sh("trap '' TERM; sleep 30", NULL, 0, NULL, 100, &r, &e), -ETIMEDOUT);
        took = time_mono_ms() - t0;
        assert_true(took >= 100 + DOCKER_RUNNER_KILL_GRACE_MS - 20);
        assert_true(took < 100 + DOCKER_RUNNER_KILL_GRACE_MS + 1000);
        docker_cmd_result_free(&r);
}

/* A cancel from another thread ends a command at once, whatever its deadline, and kills its whole process group
 * (what StopTask and shutdown need while `docker pull` hangs on a registry that does not answer). */
struct cancel_run {
        struct docker_cancel *cancel;
        const char *script;
        struct docker_cmd_result r;
        struct err e;
        int ret;
};

static void *cancel_run_main(void *arg) {
        struct cancel_run *c = arg;
        const char *argv[] = {"docker", "-c", c->script, NULL};
        struct docker_cmd cmd = {.argv = argv, .timeout_ms = 10 * 60 * 1000, .cli = SH, .cancel = c->cancel};
        c->ret = docker_run_cmd(&cmd, &c->r, &c->e);
        return NULL;
}

static void cancel_kills_group(void **state) {
        (void) state;
        char dir[] = "/tmp/ecsd-runner-cancel-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char pidfile[128], script[512], marker[128];
        snprintf(pidfile, sizeof(pidfile), "%s/pid", dir);
        snprintf(marker, sizeof(marker), "%s/ran", dir);
        /* The background sleep's pid reaches the file only once the group is running. */
        snprintf(script, sizeof(script), "sleep 600 & echo $! > %s.tmp && mv %s.tmp %s; wait", pidfile, pidfile,
                 pidfile);
        struct cancel_run c = {.cancel = docker_cancel_new(), .script = script};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, cancel_run_main, &c), 0);
        FILE *f = NULL;
        while (!(f = fopen(pidfile, "r")))
                usleep(5000); /* the test's own timeout bounds this wait */
        long gpid = 0;
        assert_int_equal(fscanf(f, "%ld", &gpid), 1);
        fclose(f);
        assert_false(process_gone(gpid));
        assert_false(docker_cancel_fired(c.cancel));
        docker_cancel_fire(c.cancel);
        assert_true(docker_cancel_fired(c.cancel));
        pthread_join(th, NULL);
        assert_int_equal(c.ret, -ECANCELED);
        assert_int_equal(c.e.code, -ECANCELED);
        assert_non_null(strstr(c.e.msg, "cancelled"));
        assert_true(c.r.signal == SIGTERM || c.r.signal == SIGKILL);
        bool gone = false;
        for (int i = 0; i < 100 && !gone; i++) {
                gone = process_gone(gpid);
                if (!gone)
                        usleep(10000);
        }
        assert_true(gone);
        docker_cmd_result_free(&c.r);

        /* Sticky: a command started after the cancel is never spawned. */
        snprintf(script, sizeof(script), "touch %s", marker);
        struct cancel_run later = {.cancel = c.cancel, .script = script};
        cancel_run_main(&later);
        assert_int_equal(later.ret, -ECANCELED);
        assert_int_equal(access(marker, F_OK), -1);
        docker_cmd_result_free(&later.r);
        docker_cancel_free(c.cancel);
        docker_cancel_free(NULL);
        unlink(pidfile);
        rmdir(dir);
}

/* The CLI exits but leaves something holding its pipes: the runner returns the CLI's status after a short linger and
 * kills the leftovers, instead of waiting for the deadline. */
static void leftovers_killed(void **state) {
        (void) state;
        struct docker_cmd_result r = {0};
        struct err e = {0};
        int64_t t0 = time_mono_ms();
        assert_int_equal(run_sh("sleep 30 & echo $!; exit 5", NULL, 0, NULL, 20000, &r, &e), 0);
        assert_true(time_mono_ms() - t0 < 5000);
        assert_int_equal(r.exit_code, 5);
        assert_printed_pid_dies(&r);
        docker_cmd_result_free(&r);
}

static void env_passing(void **state) {
        (void) state;
        struct docker_cmd_result r = {0};
        struct err e = {0};
        const struct docker_env_var env[] = {{"SECRET_X", "s3cr3t value; $(no) `shell`"}, {"OTHER", ""}};
        /* The child sees the value; its argv (sh's own) does not hold it; nothing of ecsd's env leaks besides the
         * base (ECSD_TEST_LEAK was set in main). */
        assert_int_equal(run_sh("printf '%s|' \"$SECRET_X\" \"${OTHER-unset}\"; tr '\\0' ' ' </proc/$$/cmdline; echo; "
                                "env | grep -c ECSD_TEST_LEAK; true",
                                env, ARRAY_SIZE(env), NULL, 5000, &r, &e),
                         0);
        assert_non_null(strstr(r.out, "s3cr3t value; $(no) `shell`||"));
        assert_null(strstr(strchr(r.out, '|') + 2, "s3cr3t"));
        assert_non_null(strstr(r.out, "\n0\n"));
        docker_cmd_result_free(&r);

        /* Names the CLI reads itself must go through fd 3, and bad names are refused. */
        const struct docker_env_var reserved[] = {{"DOCKER_HOST", "tcp://evil"}};
        assert_int_equal(run_sh("true", reserved, 1, NULL, 5000, &r, &e), -EINVAL);
        assert_non_null(strstr(e.msg, "DOCKER_HOST"));
        assert_null(strstr(e.msg, "evil"));
        const struct docker_env_var bad[] = {{"A=B", "x"}};
        assert_int_equal(run_sh("true", bad, 1, NULL, 5000, &r, &e), -EINVAL);
        assert_null(r.out);
}

static void fd3_data(void **state) {
        (void) state;
        struct docker_cmd_result r = {0};
        struct err e = {0};
        assert_int_equal(run_sh("cat <&3", NULL, 0, "HOME=/x\nPATH=/y\n", 5000, &r, &e), 0);
        assert_string_equal(r.out, "HOME=/x\nPATH=/y\n");
        docker_cmd_result_free(&r);

        /* Larger than a default pipe buffer: the pipe is grown before the spawn. */
        size_t n = 200000;
        char *big = xmalloc(n + 1);
        memset(big, 'a', n);
        big[n] = '\0';
        assert_int_equal(run_sh("wc -c <&3", NULL, 0, big, 5000, &r, &e), 0);
        assert_int_equal(strtol(r.out, NULL, 10), (long) n);
        docker_cmd_result_free(&r);
        free(big);

        /* A child that never reads fd 3 is no problem either (no SIGPIPE in ecsd). */
        assert_int_equal(run_sh("exit 0", NULL, 0, "A=1\n", 5000, &r, &e), 0);
        docker_cmd_result_free(&r);
}

static void no_fd_leak(void **state) {
        (void) state;
        struct docker_cmd_result r = {0};
        struct err e = {0};
        /* A descriptor ecsd opened without O_CLOEXEC must not reach the child. */
        int leak = open("/dev/null", O_RDONLY);
        assert_true(leak >= 3);
        /* ls lists its own descriptors; the last one is the directory it reads. */
        assert_int_equal(run_sh("exec ls /proc/self/fd", NULL, 0, NULL, 5000, &r, &e), 0);
        assert_string_equal(r.out, "0\n1\n2\n3\n");
        docker_cmd_result_free(&r);
        assert_int_equal(run_sh("exec ls /proc/self/fd", NULL, 0, "X=1\n", 5000, &r, &e), 0);
        assert_string_equal(r.out, "0\n1\n2\n3\n4\n");
        docker_cmd_result_free(&r);
        /* stdin is /dev/null. */
        assert_int_equal(run_sh("readlink /proc/$$/fd/0; cat", NULL, 0, NULL, 5000, &r, &e), 0);
        assert_string_equal(r.out, "/dev/null\n");
        docker_cmd_result_free(&r);
        /* Clean signal mask and dispositions, own process group. The shell reads its own status with builtins only:
         * while it forks a child, a shell blocks signals for a moment, which a child reading /proc/$$/status could
         * catch (a flake seen under load). */
        assert_int_equal(run_sh("while read -r l; do case $l in SigBlk*|SigIgn*) echo \"$l\";; esac; done "
                                "</proc/$$/status; ps -o pid=,pgid= -p $$ 2>/dev/null || "
                                "cut -d' ' -f1,5 /proc/$$/stat",
                                NULL, 0, NULL, 5000, &r, &e),
                         0);
        assert_non_null(strstr(r.out, "SigBlk:\t0000000000000000\n"));
        /* glibc's posix_spawn leaves its two internal signals (32 SIGCANCEL, 33 SIGSETXID) ignored in the child;
         * sigfillset cannot name them. Every other disposition must be the default. */
        const char *ign = strstr(r.out, "SigIgn:\t");
        assert_non_null(ign);
        unsigned long long ignmask = strtoull(ign + 8, NULL, 16);
        assert_true((ignmask & ~0x180000000ULL) == 0);
        const char *last = strstr(r.out, "SigIgn");
        last = strchr(last, '\n') + 1;
        long a = 0, b = 0;
        assert_int_equal(sscanf(last, "%ld %ld", &a, &b), 2);
        assert_int_equal(a, b);
        docker_cmd_result_free(&r);
        close(leak);
}

static void spawn_failure_and_cli(void **state) {
        (void) state;
        struct docker_cmd_result r = {0};
        struct err e = {0};
        const char *argv[] = {"docker", "version", NULL};
        struct docker_cmd cmd = {.argv = argv, .timeout_ms = 5000, .cli = "/nonexistent/docker"};
        assert_int_equal(docker_run_cmd(&cmd, &r, &e), -ENOENT);
        assert_non_null(strstr(e.msg, "/nonexistent/docker"));
        cmd.cli = "no-such-docker-cli-ecsd";
        assert_int_equal(docker_run_cmd(&cmd, &r, &e), -ENOENT);

        /* The global CLI, looked up in PATH, replaces argv[0]. */
        assert_int_equal(docker_runner_set_cli("sh"), 0);
        const char *argv2[] = {"docker", "-c", "echo \"$0\"", NULL};
        struct docker_cmd cmd2 = {.argv = argv2, .timeout_ms = 5000};
        assert_int_equal(docker_run_cmd(&cmd2, &r, &e), 0);
        assert_string_equal(r.out, "sh\n");
        docker_cmd_result_free(&r);
        assert_int_equal(docker_runner_set_cli(""), -EINVAL);
        assert_int_equal(docker_runner_set_cli("docker"), 0);

        cmd2.timeout_ms = 0;
        assert_int_equal(docker_run_cmd(&cmd2, &r, &e), -EINVAL);
}

static void plan_step(void **state) {
        (void) state;
        struct docker_cmd_result r = {0};
        struct err e = {0};
        json_t *argv = json_pack("[sss]", "docker", "-c", "cat <&3; printf '%s|%s' \"$PLAIN\" \"$HOME\"");
        json_t *env = json_pack("{ssss}", "PLAIN", "p v", "HOME", "/home/task");
        json_t *env_file = json_pack("[s]", "HOME");
        assert_int_equal(docker_runner_set_cli(SH), 0);
        assert_int_equal(docker_run_plan_step(argv, env, env_file, 5000, NULL, &r, &e), 0);
        /* HOME went through fd 3; the shell's own HOME is ecsd's. */
        const char *home = getenv("HOME");
        char want[512];
        str_printf(want, sizeof(want), "HOME=/home/task\np v|%s", home ? home : "");
        assert_string_equal(r.out, want);
        docker_cmd_result_free(&r);

        json_object_set_new(env, "HOME", json_string("a\nb"));
        assert_int_equal(docker_run_plan_step(argv, env, env_file, 5000, NULL, &r, &e), -EINVAL);
        assert_null(strstr(e.msg, "a\nb"));
        assert_int_equal(docker_runner_set_cli("docker"), 0);
        json_decref(argv);
        json_decref(env);
        json_decref(env_file);
}

/* ---- concurrency ---- */

struct worker {
        int id;
        int failures;
};

static void *worker_main(void *arg) {
        struct worker *w = arg;
        for (int i = 0; i < 20; i++) {
                char val[64], want[80];
                str_printf(val, sizeof(val), "w%d-r%d", w->id, i);
                const struct docker_env_var env[] = {{"N", val}};
                struct docker_cmd_result r = {0};
                struct err e = {0};
                int rc = run_sh("echo \"$N\"; echo \"e$N\" >&2; exit $((${#N} % 5))", env, 1, i % 2 ? "F=1\n" : NULL,
                                10000, &r, &e);
                str_printf(want, sizeof(want), "%s\n", val);
                if (rc != 0 || strcmp(r.out, want) != 0 || r.err[0] != 'e' ||
                    r.exit_code != (int) (strlen(val) % 5))
                        w->failures++;
                docker_cmd_result_free(&r);
        }
        return NULL;
}

static void concurrency(void **state) {
        (void) state;
        pthread_t t[8];
        struct worker w[8];
        for (int i = 0; i < 8; i++) {
                w[i] = (struct worker){.id = i};
                assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
        }
        for (int i = 0; i < 8; i++) {
                assert_int_equal(pthread_join(t[i], NULL), 0);
                assert_int_equal(w[i].failures, 0);
        }
}

/* ---- the real Docker engine ---- */

static int docker_setup(void **state) {
        (void) state;
        const char *host = getenv("DOCKER_HOST");
        if (!host || !*host) {
                print_error("DOCKER_HOST is not set: run tests/docker/engine-up (the ctest fixture does)\n");
                return -1;
        }
        return 0;
}

static void docker_version_answers(void **state) {
        (void) state;
        const char *argv[] = {"docker", "version", "--format", "{{json .Server.Version}}", NULL};
        struct docker_cmd cmd = {.argv = argv, .timeout_ms = 20000};
        struct docker_cmd_result r = {0};
        struct err e = {0};
        assert_int_equal(docker_run_cmd(&cmd, &r, &e), 0);
        if (docker_cmd_result_check(&r, "docker version", &e) < 0)
                fail_msg("%s", e.msg);
        assert_true(r.out_len > 2 && r.out[0] == '"');
        docker_cmd_result_free(&r);
}

static void docker_env_secret(void **state) {
        (void) state;
        const char *argv[] = {"docker", "run", "--rm", "-e", "SECRET_X", "busybox:local", "sh", "-c", "echo $SECRET_X",
                              NULL};
        const struct docker_env_var env[] = {{"SECRET_X", "only-in-env 42"}};
        struct docker_cmd cmd = {.argv = argv, .env = env, .n_env = 1, .timeout_ms = 60000};
        struct docker_cmd_result r = {0};
        struct err e = {0};
        assert_int_equal(docker_run_cmd(&cmd, &r, &e), 0);
        if (docker_cmd_result_check(&r, "docker run", &e) < 0)
                fail_msg("%s", e.msg);
        assert_string_equal(r.out, "only-in-env 42\n");
        docker_cmd_result_free(&r);
}

static void docker_env_file_fd3(void **state) {
        (void) state;
        json_t *argv = json_pack("[sssssssssss]", "docker", "run", "--rm", "-e", "PLAIN", "--env-file", "/dev/fd/3",
                                 "busybox:local", "sh", "-c", "echo \"$HOME|$DOCKER_X|$PLAIN\"");
        json_t *env = json_pack("{ssssss}", "HOME", "/task/home", "DOCKER_X", "dx", "PLAIN", "plain value");
        json_t *env_file = json_pack("[ss]", "HOME", "DOCKER_X");
        struct docker_cmd_result r = {0};
        struct err e = {0};
        assert_int_equal(docker_run_plan_step(argv, env, env_file, 60000, NULL, &r, &e), 0);
        if (docker_cmd_result_check(&r, "docker run", &e) < 0)
                fail_msg("%s", e.msg);
        assert_string_equal(r.out, "/task/home|dx|plain value\n");
        docker_cmd_result_free(&r);
        json_decref(argv);
        json_decref(env);
        json_decref(env_file);
}

static void docker_exit_code(void **state) {
        (void) state;
        const char *argv[] = {"docker", "run", "--rm", "busybox:local", "false", NULL};
        struct docker_cmd cmd = {.argv = argv, .timeout_ms = 60000};
        struct docker_cmd_result r = {0};
        struct err e = {0};
        assert_int_equal(docker_run_cmd(&cmd, &r, &e), 0);
        assert_int_equal(r.exit_code, 1);
        docker_cmd_result_free(&r);

        const char *argv2[] = {"docker", "inspect", "ecsd-no-such-container-xyz", NULL};
        cmd.argv = argv2;
        assert_int_equal(docker_run_cmd(&cmd, &r, &e), 0);
        assert_int_equal(r.exit_code, 1);
        assert_int_equal(docker_cmd_result_check(&r, "docker inspect", &e), -EIO);
        assert_non_null(strstr(e.msg, "docker inspect failed (exit 1): Error"));
        assert_non_null(strstr(e.msg, "ecsd-no-such-container-xyz"));
        docker_cmd_result_free(&r);
}

int main(int argc, char **argv) {
        /* Must not reach any child: the runner builds the child's environment explicitly. */
        setenv("ECSD_TEST_LEAK", "1", 1);
        signal(SIGPIPE, SIG_DFL);
        if (argc > 1 && strcmp(argv[1], "docker") == 0) {
                const struct CMUnitTest tests[] = {
                        cmocka_unit_test(docker_version_answers),
                        cmocka_unit_test(docker_env_secret),
                        cmocka_unit_test(docker_env_file_fd3),
                        cmocka_unit_test(docker_exit_code),
                };
                return cmocka_run_group_tests_name("docker_engine", tests, docker_setup, NULL);
        }
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(exit_code),
                cmocka_unit_test(signal_death),
                cmocka_unit_test(capture_and_first_line),
                cmocka_unit_test(output_cap_drains),
                cmocka_unit_test(deadline_kills_group),
                cmocka_unit_test(cancel_kills_group),
                cmocka_unit_test(leftovers_killed),
                cmocka_unit_test(env_passing),
                cmocka_unit_test(fd3_data),
                cmocka_unit_test(no_fd_leak),
                cmocka_unit_test(spawn_failure_and_cli),
                cmocka_unit_test(plan_step),
                cmocka_unit_test(concurrency),
        };
        return cmocka_run_group_tests_name("docker_runner", tests, NULL, NULL);
}
