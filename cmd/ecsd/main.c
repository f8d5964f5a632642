/* main.c — the ecsd command: parse the command line and ECSD_* variables into a configuration, wire the store, the
 * API and the HTTP server, wait for SIGINT/SIGTERM, and pick the exit code. The only file that exits.
 *
 * Signals are blocked before any thread starts, so every thread inherits the mask and the main thread alone
 * receives them through sigwait(). */
#include <getopt.h>
#include <signal.h>
#include <string.h>

#include "api.h"
#include "base.h"
#include "store.h"

#define EXIT_USAGE 2

struct config {
        const char *listen;
        const char *data_dir;
        const char *region;
        const char *account;
        const char *backend;
        const char *log_level;
        long threads;
};

static const char usage_text[] =
        "ecsd — Amazon ECS, run locally on Docker or on Kubernetes.\n"
        "\n"
        "Usage:\n"
        "  ecsd serve [flags]    serve the ECS API (point the AWS CLI, boto3 or Terraform at it)\n"
        "  ecsd version          print the version\n"
        "  ecsd help             this text\n"
        "\n"
        "Flags of serve (each also read from the environment variable shown; a flag wins):\n"
        "  --listen HOST:PORT    address to serve on (ECSD_LISTEN, default 127.0.0.1:4566)\n"
        "  --data-dir DIR        state directory, or :memory: for throwaway state (ECSD_DATA_DIR,\n"
        "                        default $XDG_STATE_HOME/ecsd, else ~/.local/state/ecsd)\n"
        "  --region REGION       region for unsigned requests; signed requests use the region they\n"
        "                        were signed for (ECSD_REGION, default us-east-1)\n"
        "  --account-id ID       account id in every ARN (ECSD_ACCOUNT_ID, default 000000000000)\n"
        "  --backend NAME        docker or k8s (ECSD_BACKEND, default docker)\n"
        "  --log-level LEVEL     error, warn, info or debug (ECSD_LOG_LEVEL, default info)\n"
        "  --threads N           HTTP worker threads (ECSD_THREADS, default: number of CPUs)\n"
        "\n"
        "Example:\n"
        "  ecsd serve &\n"
        "  aws --endpoint-url http://127.0.0.1:4566 --region us-east-1 ecs list-clusters\n";

static const char *env_or(const char *name, const char *dflt) {
        const char *v = getenv(name);
        return v && *v ? v : dflt;
}

/* $XDG_STATE_HOME/ecsd, else $HOME/.local/state/ecsd, else ./ecsd-state. Written into buf. */
static const char *default_data_dir(char *buf, size_t size) {
        const char *xdg = getenv("XDG_STATE_HOME");
        const char *home = getenv("HOME");
        if (xdg && xdg[0] == '/')
                str_printf(buf, size, "%s/ecsd", xdg);
        else if (home && home[0] == '/')
                str_printf(buf, size, "%s/.local/state/ecsd", home);
        else
                str_printf(buf, size, "ecsd-state");
        return buf;
}

/* Fill cfg from the environment, then from argv. Returns 0, or EXIT_USAGE after printing why. */
static int parse_serve_flags(int argc, char **argv, struct config *cfg, char *data_dir_buf, size_t size) {
        static const struct option options[] = {
                {"listen", required_argument, NULL, 'l'},  {"data-dir", required_argument, NULL, 'd'},
                {"region", required_argument, NULL, 'r'},  {"account-id", required_argument, NULL, 'a'},
                {"backend", required_argument, NULL, 'b'}, {"log-level", required_argument, NULL, 'v'},
                {"threads", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
                {0},
        };
        const char *threads = env_or("ECSD_THREADS", NULL);
        *cfg = (struct config){
                .listen = env_or("ECSD_LISTEN", "127.0.0.1:4566"),
                .data_dir = env_or("ECSD_DATA_DIR", NULL),
                .region = env_or("ECSD_REGION", "us-east-1"),
                .account = env_or("ECSD_ACCOUNT_ID", "000000000000"),
                .backend = env_or("ECSD_BACKEND", "docker"),
                .log_level = env_or("ECSD_LOG_LEVEL", "info"),
        };
        int c;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                switch (c) {
                case 'l': cfg->listen = optarg; break;
                case 'd': cfg->data_dir = optarg; break;
                case 'r': cfg->region = optarg; break;
                case 'a': cfg->account = optarg; break;
                case 'b': cfg->backend = optarg; break;
                case 'v': cfg->log_level = optarg; break;
                case 't': threads = optarg; break;
                case 'h': fputs(usage_text, stdout); exit(EXIT_SUCCESS);
                default:
                        fprintf(stderr, "ecsd serve: unknown or incomplete flag '%s' (see ecsd --help)\n",
                                argv[optind - 1]);
                        return EXIT_USAGE;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "ecsd serve: unexpected argument '%s' (see ecsd --help)\n", argv[optind]);
                return EXIT_USAGE;
        }
        if (!cfg->data_dir)
                cfg->data_dir = default_data_dir(data_dir_buf, size);
        int64_t n = 0;
        if (threads && parse_int64(threads, 1, 256, &n) < 0) {
                fprintf(stderr, "ecsd serve: --threads must be a number from 1 to 256\n");
                return EXIT_USAGE;
        }
        cfg->threads = n ? (long) n : sysconf(_SC_NPROCESSORS_ONLN);
        enum log_level level;
        if (log_level_from_string(cfg->log_level, &level) < 0) {
                fprintf(stderr, "ecsd serve: --log-level must be error, warn, info or debug\n");
                return EXIT_USAGE;
        }
        log_max_level = level;
        if (strcmp(cfg->backend, "docker") != 0 && strcmp(cfg->backend, "k8s") != 0) {
                fprintf(stderr, "ecsd serve: --backend must be docker or k8s\n");
                return EXIT_USAGE;
        }
        return 0;
}

static int cmd_serve(int argc, char **argv) {
        struct config cfg;
        char data_dir_buf[4096];
        int r = parse_serve_flags(argc, argv, &cfg, data_dir_buf, sizeof(data_dir_buf));
        if (r != 0)
                return r;

        sigset_t signals;
        sigemptyset(&signals);
        sigaddset(&signals, SIGINT);
        sigaddset(&signals, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &signals, NULL);
        signal(SIGPIPE, SIG_IGN);

        struct err e = {0};
        struct rt_store *store = NULL;
        struct api *api = NULL;
        struct api_server *srv = NULL;
        unsigned port = 0;
        r = rt_store_open(cfg.data_dir, &store, &e);
        if (r >= 0)
                r = api_new(&(struct api_config){.region = cfg.region, .account = cfg.account, .store = store},
                            &api, &e);
        if (r >= 0)
                r = api_server_start(api, cfg.listen, (unsigned) cfg.threads, &srv, &port, &e);
        if (r < 0) {
                log_error("main", "\"cannot start\" error=\"%s\"", e.msg);
                api_free(api);
                rt_store_free(store);
                return EXIT_FAILURE;
        }
        log_info("main", "\"listening\" addr=%s port=%u data_dir=%s region=%s account=%s backend=%s version=%s",
                 cfg.listen, port, cfg.data_dir, cfg.region, cfg.account, cfg.backend, ECSD_VERSION);

        int sig = 0;
        sigwait(&signals, &sig);
        log_info("main", "\"shutting down\" signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
        api_server_stop(srv);
        api_free(api);
        rt_store_free(store);
        return EXIT_SUCCESS;
}

int main(int argc, char **argv) {
        const char *cmd = argc > 1 ? argv[1] : "help";
        if (strcmp(cmd, "serve") == 0)
                return cmd_serve(argc - 1, argv + 1);
        if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
                printf("ecsd %s\n", ECSD_VERSION);
                return EXIT_SUCCESS;
        }
        if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
                fputs(usage_text, stdout);
                return EXIT_SUCCESS;
        }
        fprintf(stderr, "ecsd: unknown command or flag '%s' (see ecsd --help)\n", cmd);
        return EXIT_USAGE;
}
