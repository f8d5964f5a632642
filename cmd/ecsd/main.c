/* main.c — the ecsd command: parse the command line and ECSD_* variables into a configuration, wire the store, the
 * API and the HTTP server, wait for SIGINT/SIGTERM, and pick the exit code. The only file that exits.
 *
 * Signals are blocked before any thread starts, so every thread inherits the mask and the main thread alone
 * receives them through sigwait(). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "api.h"
#include "base.h"
#include "docker-backend.h"
#include "docker.h"
#include "ecs.h"
#include "exec-cli.h"
#include "k8s-backend.h"
#include "k8s.h"
#include "instances.h"
#include "lifecycle.h"
#include "express.h"
#include "scheduler.h"
#include "runner.h"
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
        const char *docker_cli;
        const char *host_alias;
        const char *metadata_listen; /* NULL: the docker bridge's gateway address, port chosen by the kernel */
        const char *pull_behavior;
        const char *secrets_file;
        int64_t retention_s;
        int64_t service_healthy_after_s;
        int64_t express_health_interval_s;
        const char *express_endpoint; /* NULL: each backend's own (a host port, a Kubernetes Service) */
        int64_t stop_timeout_s;
        bool cleanup_on_exit;
        const char *kubeconfig;   /* NULL: in-cluster, $KUBECONFIG, ~/.kube/config */
        const char *kube_context; /* NULL: current-context */
        const char *k8s_namespace; /* NULL: the context's namespace */
        const char *k8s_namespace_prefix; /* non-NULL: one namespace per ECS cluster, <prefix><cluster> */
        const char *k8s_node_name;
        const char *k8s_endpoint; /* base URL Pods reach the metadata listener at; NULL: http://<its address> */
        const char *ready_file;   /* NULL: none */
        const char *api_address;  /* the API's bound address ("127.0.0.1:41234"), once it listens */
        int64_t k8s_start_timeout_s;
        const char *credentials_listen; /* "off": none */
        bool credentials_listen_set;    /* given by flag or environment: no fallback from port 80 */
        const char *task_credentials_file;
};

static const char usage_text[] =
        "ecsd — Amazon ECS, run locally on Docker or on Kubernetes.\n"
        "\n"
        "Usage:\n"
        "  ecsd serve [flags]    serve the ECS API (point the AWS CLI, boto3 or Terraform at it)\n"
        "  ecsd run TASKDEF.json [flags]  run one task in the foreground, stream its output, exit\n"
        "                        with its essential container's exit code (Ctrl-C stops it)\n"
        "  ecsd render --backend docker|k8s TASKDEF.json  print the docker commands or the Pod a\n"
        "                        task runs as\n"
        "  ecsd exec TASK [--container NAME] [--cluster NAME] [--endpoint-url URL] -- CMD [ARG...]\n"
        "                        run a command in a running task's container through a running\n"
        "                        ecsd (ECSD_ENDPOINT_URL, default http://127.0.0.1:4566): its output\n"
        "                        to stdout, its exit code as ecsd exec's (125: ecsd could not run it)\n"
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
        "  --docker-cli PATH     docker or podman CLI (ECSD_DOCKER_CLI, default docker)\n"
        "  --host-alias NAME     name containers use for the host (ECSD_HOST_ALIAS, default\n"
        "                        host.docker.internal; podman: host.containers.internal)\n"
        "  --metadata-listen HOST:PORT  where containers reach the task metadata endpoint\n"
        "                        (ECSD_METADATA_LISTEN, default: docker: the docker bridge gateway,\n"
        "                        k8s: the --listen host; any port)\n"
        "  --credentials-listen HOST:PORT  where containers get task role credentials, as on ECS\n"
        "                        (ECSD_CREDENTIALS_LISTEN, default 169.254.170.2:80, else any port of\n"
        "                        it; the address must be on this host: ip addr add 169.254.170.2/32\n"
        "                        dev lo; off: none)\n"
        "  --task-credentials-file FILE  JSON mapping a role ARN (or \"*\") to the AccessKeyId,\n"
        "                        SecretAccessKey and Token tasks get (ECSD_TASK_CREDENTIALS_FILE,\n"
        "                        default: local placeholders)\n"
        "  --image-pull-behavior B  default, always, once or prefer-cached\n"
        "                        (ECSD_IMAGE_PULL_BEHAVIOR, default default)\n"
        "  --secrets-file FILE   JSON object mapping a secret's valueFrom to its value\n"
        "                        (ECSD_SECRETS_FILE)\n"
        "  --task-retention S    seconds a STOPPED task stays describable (ECSD_TASK_RETENTION,\n"
        "                        default 3600)\n"
        "  --service-healthy-after S  seconds a service task without a health check must run before\n"
        "                        a deployment counts it healthy (ECSD_SERVICE_HEALTHY_AFTER, default 40,\n"
        "                        as ECS)\n"
        "  --stop-timeout S      default container stop timeout (ECSD_CONTAINER_STOP_TIMEOUT,\n"
        "                        default 30)\n"
        "  --cleanup-on-exit     stop and remove every task when ecsd exits\n"
        "                        (ECSD_CLEANUP_ON_EXIT=1)\n"
        "  --ready-file FILE     once every listener is up, write the addresses they are bound to\n"
        "                        (the ports port 0 gave) as JSON to FILE, e.g.\n"
        "                        {\"api\":\"127.0.0.1:41234\",\"metadata\":\"172.17.0.1:40111\",\n"
        "                        \"credentials\":\"169.254.170.2:80\",\"pid\":123}\n"
        "                        (ECSD_READY_FILE)\n";

/* Two strings: one would be longer than C11 promises a literal may be. */
static const char usage_text_k8s[] =
        "Flags of express gateway services:\n"
        "  --express-health-interval S  seconds between the health checks of express gateway\n"
        "                        services' tasks (ECSD_EXPRESS_HEALTH_INTERVAL, default 10)\n"
        "  --express-endpoint URL  base URL reported for express gateway services, as\n"
        "                        URL/CLUSTER/NAME/ (ECSD_EXPRESS_ENDPOINT; default: docker\n"
        "                        http://127.0.0.1:PORT/, k8s the clusterIP of their Service)\n"
        "\n"
        "Flags of the k8s backend:\n"
        "  --kubeconfig FILE     kubeconfig (ECSD_KUBECONFIG; default: in-cluster service account,\n"
        "                        else $KUBECONFIG, else ~/.kube/config)\n"
        "  --kube-context NAME   kubeconfig context (ECSD_KUBE_CONTEXT, default current-context)\n"
        "  --k8s-namespace NS    namespace of the task Pods (ECSD_K8S_NAMESPACE, default the\n"
        "                        context's namespace)\n"
        "  --k8s-namespace-prefix P  one namespace per ECS cluster instead: P<cluster name>\n"
        "                        (ECSD_K8S_NAMESPACE_PREFIX; the namespaces must exist)\n"
        "  --k8s-node-name NAME  bind every Pod to this node (ECSD_K8S_NODE_NAME; default: the\n"
        "                        scheduler places them)\n"
        "  --k8s-endpoint URL    how Pods reach the metadata listener (--metadata-listen), e.g.\n"
        "                        http://ecsd-metadata.ecsd.svc:4567 (ECSD_K8S_ENDPOINT, default\n"
        "                        http://<its address>)\n"
        "  --k8s-start-timeout S longest wait for a Pod's container to start before the task\n"
        "                        fails to start (ECSD_K8S_START_TIMEOUT, default 600)\n"
        "\n"
        "One ecsd per address and per state directory: if another process listens on the address,\n"
        "or another ecsd holds the state directory, serve exits at once with status 1 and says which.\n"
        "\n"
        "Example:\n"
        "  ecsd serve &\n"
        "  aws --endpoint-url http://127.0.0.1:4566 --region us-east-1 ecs list-clusters\n";

static void usage(void) {
        fputs(usage_text, stdout);
        fputs(usage_text_k8s, stdout);
}

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

/* ECS's credentials address and port; when port 80 cannot be had, any port of the same address (start_credentials). */
#define CREDENTIALS_LISTEN_DEFAULT "169.254.170.2:80"

/* Split "ADDRESS:PORT" or "[V6ADDRESS]:PORT" with a numeric address into the address and port. */
static bool listen_split(const char *listen, char *host, size_t size, unsigned *ret_port) {
        const char *colon = strrchr(listen, ':');
        if (!colon)
                return false;
        const char *h = listen;
        size_t n = (size_t) (colon - listen);
        if (listen[0] == '[') {
                if (n < 2 || colon[-1] != ']')
                        return false;
                h++;
                n -= 2;
        }
        int64_t port;
        if (n == 0 || n >= size || parse_int64(colon + 1, 0, 65535, &port) < 0)
                return false;
        memcpy(host, h, n);
        host[n] = '\0';
        unsigned char addr[sizeof(struct in6_addr)];
        if (inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1)
                return false;
        *ret_port = (unsigned) port;
        return true;
}

static bool host_is_wildcard(const char *host) {
        return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

/* True when `host` (a numeric address) is configured on an interface of this host. */
static bool host_is_local(const char *host) {
        struct in_addr a4;
        struct in6_addr a6;
        bool v4 = inet_pton(AF_INET, host, &a4) == 1;
        if (!v4 && inet_pton(AF_INET6, host, &a6) != 1)
                return false;
        struct ifaddrs *list = NULL;
        if (getifaddrs(&list) < 0)
                return true; /* cannot tell: let the bind decide */
        bool found = false;
        for (struct ifaddrs *i = list; i && !found; i = i->ifa_next) {
                if (!i->ifa_addr)
                        continue;
                if (v4 && i->ifa_addr->sa_family == AF_INET)
                        found = ((struct sockaddr_in *) (void *) i->ifa_addr)->sin_addr.s_addr == a4.s_addr;
                else if (!v4 && i->ifa_addr->sa_family == AF_INET6)
                        found = memcmp(&((struct sockaddr_in6 *) (void *) i->ifa_addr)->sin6_addr, &a6,
                                       sizeof(a6)) == 0;
        }
        freeifaddrs(list);
        return found;
}

/* Fill cfg from the environment, then from argv. Returns 0, or EXIT_USAGE after printing why. */
static int parse_serve_flags(int argc, char **argv, struct config *cfg, char *data_dir_buf, size_t size) {
        static const struct option options[] = {
                {"listen", required_argument, NULL, 'l'},  {"data-dir", required_argument, NULL, 'd'},
                {"region", required_argument, NULL, 'r'},  {"account-id", required_argument, NULL, 'a'},
                {"backend", required_argument, NULL, 'b'}, {"log-level", required_argument, NULL, 'v'},
                {"threads", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
                {"docker-cli", required_argument, NULL, 'D'}, {"host-alias", required_argument, NULL, 'H'},
                {"metadata-listen", required_argument, NULL, 'M'},
                {"image-pull-behavior", required_argument, NULL, 'P'},
                {"secrets-file", required_argument, NULL, 'S'}, {"task-retention", required_argument, NULL, 'R'},
                {"stop-timeout", required_argument, NULL, 'T'}, {"cleanup-on-exit", no_argument, NULL, 'C'},
                {"kubeconfig", required_argument, NULL, 'K'}, {"kube-context", required_argument, NULL, 'X'},
                {"k8s-namespace", required_argument, NULL, 'N'}, {"k8s-node-name", required_argument, NULL, 'O'},
                {"k8s-endpoint", required_argument, NULL, 'E'},
                {"k8s-namespace-prefix", required_argument, NULL, 'Q'},
                {"k8s-start-timeout", required_argument, NULL, 'U'},
                {"ready-file", required_argument, NULL, 'W'},
                {"credentials-listen", required_argument, NULL, 'c'},
                {"task-credentials-file", required_argument, NULL, 'F'},
                {"service-healthy-after", required_argument, NULL, 'Y'},
                {"express-health-interval", required_argument, NULL, 'G'},
                {"express-endpoint", required_argument, NULL, 'g'},
                {0},
        };
        const char *threads = env_or("ECSD_THREADS", NULL);
        const char *retention = env_or("ECSD_TASK_RETENTION", "3600");
        const char *healthy_after = env_or("ECSD_SERVICE_HEALTHY_AFTER", "40");
        const char *express_interval = env_or("ECSD_EXPRESS_HEALTH_INTERVAL", "10");
        const char *stop_timeout = env_or("ECSD_CONTAINER_STOP_TIMEOUT", "30");
        const char *start_timeout = env_or("ECSD_K8S_START_TIMEOUT", "600");
        *cfg = (struct config){
                .listen = env_or("ECSD_LISTEN", "127.0.0.1:4566"),
                .data_dir = env_or("ECSD_DATA_DIR", NULL),
                .region = env_or("ECSD_REGION", "us-east-1"),
                .account = env_or("ECSD_ACCOUNT_ID", "000000000000"),
                .backend = env_or("ECSD_BACKEND", "docker"),
                .log_level = env_or("ECSD_LOG_LEVEL", "info"),
                .docker_cli = env_or("ECSD_DOCKER_CLI", "docker"),
                .host_alias = env_or("ECSD_HOST_ALIAS", NULL),
                .metadata_listen = env_or("ECSD_METADATA_LISTEN", NULL),
                .pull_behavior = env_or("ECSD_IMAGE_PULL_BEHAVIOR", "default"),
                .secrets_file = env_or("ECSD_SECRETS_FILE", NULL),
                .cleanup_on_exit = strcmp(env_or("ECSD_CLEANUP_ON_EXIT", "0"), "1") == 0,
                .kubeconfig = env_or("ECSD_KUBECONFIG", NULL),
                .kube_context = env_or("ECSD_KUBE_CONTEXT", NULL),
                .k8s_namespace = env_or("ECSD_K8S_NAMESPACE", NULL),
                .k8s_namespace_prefix = env_or("ECSD_K8S_NAMESPACE_PREFIX", NULL),
                .k8s_node_name = env_or("ECSD_K8S_NODE_NAME", NULL),
                .k8s_endpoint = env_or("ECSD_K8S_ENDPOINT", NULL),
                .ready_file = env_or("ECSD_READY_FILE", NULL),
                .credentials_listen = env_or("ECSD_CREDENTIALS_LISTEN", NULL),
                .task_credentials_file = env_or("ECSD_TASK_CREDENTIALS_FILE", NULL),
                .express_endpoint = env_or("ECSD_EXPRESS_ENDPOINT", NULL),
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
                case 'D': cfg->docker_cli = optarg; break;
                case 'H': cfg->host_alias = optarg; break;
                case 'M': cfg->metadata_listen = optarg; break;
                case 'P': cfg->pull_behavior = optarg; break;
                case 'S': cfg->secrets_file = optarg; break;
                case 'R': retention = optarg; break;
                case 'T': stop_timeout = optarg; break;
                case 'C': cfg->cleanup_on_exit = true; break;
                case 'K': cfg->kubeconfig = optarg; break;
                case 'X': cfg->kube_context = optarg; break;
                case 'N': cfg->k8s_namespace = optarg; break;
                case 'O': cfg->k8s_node_name = optarg; break;
                case 'E': cfg->k8s_endpoint = optarg; break;
                case 'Q': cfg->k8s_namespace_prefix = optarg; break;
                case 'U': start_timeout = optarg; break;
                case 'W': cfg->ready_file = optarg; break;
                case 'c': cfg->credentials_listen = optarg; break;
                case 'F': cfg->task_credentials_file = optarg; break;
                case 'Y': healthy_after = optarg; break;
                case 'G': express_interval = optarg; break;
                case 'g': cfg->express_endpoint = optarg; break;
                case 'h': usage(); exit(EXIT_SUCCESS);
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
        if (parse_int64(healthy_after, 0, 3600, &cfg->service_healthy_after_s) < 0) {
                fprintf(stderr, "ecsd serve: --service-healthy-after must be a number of seconds from 0 to 3600\n");
                return EXIT_USAGE;
        }
        if (parse_int64(express_interval, 1, 3600, &cfg->express_health_interval_s) < 0) {
                fprintf(stderr, "ecsd serve: --express-health-interval must be a number of seconds from 1 to 3600\n");
                return EXIT_USAGE;
        }
        if (cfg->express_endpoint && strncmp(cfg->express_endpoint, "http://", 7) != 0 &&
            strncmp(cfg->express_endpoint, "https://", 8) != 0) {
                fprintf(stderr, "ecsd serve: --express-endpoint must be an http:// or https:// URL\n");
                return EXIT_USAGE;
        }
        if (parse_int64(retention, 1, 30 * 24 * 3600, &cfg->retention_s) < 0) {
                fprintf(stderr, "ecsd serve: --task-retention must be a number of seconds from 1 to 2592000\n");
                return EXIT_USAGE;
        }
        if (parse_int64(stop_timeout, 1, 3600, &cfg->stop_timeout_s) < 0) {
                fprintf(stderr, "ecsd serve: --stop-timeout must be a number of seconds from 1 to 3600\n");
                return EXIT_USAGE;
        }
        if (cfg->k8s_namespace && cfg->k8s_namespace_prefix) {
                fprintf(stderr, "ecsd serve: give --k8s-namespace or --k8s-namespace-prefix, not both\n");
                return EXIT_USAGE;
        }
        if (parse_int64(start_timeout, 1, 24 * 3600, &cfg->k8s_start_timeout_s) < 0) {
                fprintf(stderr, "ecsd serve: --k8s-start-timeout must be a number of seconds from 1 to 86400\n");
                return EXIT_USAGE;
        }
        enum docker_pull_behavior pull;
        if (docker_pull_behavior_from_string(cfg->pull_behavior, &pull) < 0) {
                fprintf(stderr, "ecsd serve: --image-pull-behavior must be default, always, once or prefer-cached\n");
                return EXIT_USAGE;
        }
        if (!cfg->host_alias)
                cfg->host_alias = strstr(cfg->docker_cli, "podman") ? "host.containers.internal" : "host.docker.internal";
        if (strcmp(cfg->backend, "docker") != 0 && strcmp(cfg->backend, "k8s") != 0) {
                fprintf(stderr, "ecsd serve: --backend must be docker or k8s\n");
                return EXIT_USAGE;
        }
        cfg->credentials_listen_set = cfg->credentials_listen != NULL;
        if (!cfg->credentials_listen)
                cfg->credentials_listen = CREDENTIALS_LISTEN_DEFAULT;
        char host[INET6_ADDRSTRLEN];
        unsigned port;
        if (strcmp(cfg->credentials_listen, "off") != 0 &&
            (!listen_split(cfg->credentials_listen, host, sizeof(host), &port) || host_is_wildcard(host))) {
                fprintf(stderr, "ecsd serve: --credentials-listen must be off or ADDRESS:PORT with one address of this "
                                "host (containers reach it by that address), e.g. 169.254.170.2:80\n");
                return EXIT_USAGE;
        }
        return 0;
}

/* The address containers reach ecsd at: the gateway of docker's default bridge, which `host-gateway` names. */
static int bridge_gateway(char *buf, size_t size, struct err *e) {
        const char *argv[] = {"docker", "network", "inspect", "bridge", "--format",
                              "{{range .IPAM.Config}}{{.Gateway}}{{end}}", NULL};
        struct docker_cmd cmd = {.argv = argv, .timeout_ms = 30000};
        struct docker_cmd_result res;
        int r = docker_run_cmd(&cmd, &res, e);
        if (r >= 0)
                r = docker_cmd_result_check(&res, "docker network inspect bridge", e);
        if (r >= 0) {
                str_printf(buf, size, "%.*s", (int) strcspn(res.out, "\r\n "), res.out);
                if (!*buf)
                        r = err_set(e, -ENOENT, ERR_KIND_INTERNAL, "the docker bridge network has no gateway");
        }
        docker_cmd_result_free(&res);
        return r;
}

static json_t *load_secrets(const char *path, struct err *e) {
        json_error_t jerr;
        json_t *secrets = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(secrets)) {
                json_decref(secrets);
                err_set(e, -EINVAL, ERR_KIND_INVALID, "secrets file %s: expected a JSON object (%s)", path, jerr.text);
                return NULL;
        }
        const char *k;
        json_t *v;
        json_object_foreach(secrets, k, v) if (!json_is_string(v)) {
                json_decref(secrets);
                err_set(e, -EINVAL, ERR_KIND_INVALID, "secrets file %s: the value of %s is not a string", path, k);
                return NULL;
        }
        return secrets;
}

/* --task-credentials-file: the keys tasks get, by role. Its values are secrets: never logged, and a file others can
 * read gets a warning. */
static json_t *load_task_credentials(const char *path, struct err *e) {
        json_error_t jerr;
        json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        if (!doc) {
                /* jansson quotes the text near a syntax error, which may be a key: only say where. */
                if (jerr.line < 1)
                        err_set(e, -EINVAL, ERR_KIND_INVALID, "task credentials file %s: %s", path, jerr.text);
                else
                        err_set(e, -EINVAL, ERR_KIND_INVALID, "task credentials file %s: not valid JSON (line %d, "
                                "column %d)", path, jerr.line, jerr.column);
                return NULL;
        }
        struct err ce = {0};
        if (api_task_credentials_check(doc, &ce) < 0) {
                json_decref(doc);
                err_set(e, -EINVAL, ERR_KIND_INVALID, "task credentials file %s: %s", path, ce.msg);
                return NULL;
        }
        struct stat st;
        if (stat(path, &st) == 0 && (st.st_mode & 077))
                log_warn("main", "\"task credentials file is readable by others\" file=%s mode=%04o", path,
                         (unsigned) (st.st_mode & 07777));
        return doc;
}

/* Everything `serve` runs, so one function can take it down in order. */
struct service {
        struct rt_store *store;
        struct api *api;
        struct api_server *srv, *metadata_srv, *credentials_srv;
        struct docker_backend *docker;
        struct k8s_config *kube;
        struct k8s_backend *k8s;
        struct rt_backend backend;
        struct rt_lifecycle *lc;
        struct rt_scheduler *sched;
        struct rt_express *express;
        struct k8s_express_ingress *k8s_ingress;
        struct rt_instances *instances;
        struct docker_events *events;
        json_t *secrets;
        json_t *task_credentials;
};

static void on_backend_event(void *userdata, const struct rt_container_event *ev) {
        rt_lifecycle_event(userdata, ev);
}

static void on_backend_sync(void *userdata) {
        rt_lifecycle_resync(userdata);
}

static void on_k8s_event(void *userdata, const struct rt_container_event *ev) {
        struct service *s = userdata;
        rt_lifecycle_event(s->lc, ev);
}

static void on_k8s_sync(void *userdata) {
        struct service *s = userdata;
        rt_lifecycle_resync(s->lc);
}

/* A node came, went or was cordoned: DAEMON services follow the nodes. service_stop takes the scheduler away under
 * sched_wake_lock, so a wake never reaches a freed one. */
static pthread_mutex_t sched_wake_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_k8s_hosts(void *userdata) {
        struct service *s = userdata;
        pthread_mutex_lock(&sched_wake_lock);
        if (s->sched)
                rt_scheduler_wake(s->sched);
        pthread_mutex_unlock(&sched_wake_lock);
}

/* Wire the docker backend: metadata listener, backend, lifecycle, event monitor. */
/* This instance's id, kept in the store: the owner label on everything it creates. */
static int instance_id(struct service *s, char *buf, size_t size, struct err *e) {
        char fresh[64];
        str_printf(fresh, sizeof(fresh), "ecsd-%08lx%08lx", (unsigned long) time_now_ms() & 0xffffffffUL,
                   (unsigned long) getpid());
        return rt_meta_get_or_put(s->store, "instance_id", fresh, buf, size, e);
}

/* The lifecycle over s->backend, once the backend is made. */
static int new_lifecycle(const struct config *cfg, struct service *s, const struct rt_express_ingress *ingress,
                         struct err *e) {
        struct rt_lifecycle_config lcfg = {
                .store = s->store,
                .backend = &s->backend,
                .retention_ms = cfg->retention_s * 1000,
                .secrets = s->secrets,
        };
        int r = rt_lifecycle_new(&lcfg, &s->lc, e);
        if (r >= 0)
                r = rt_instances_new(&(struct rt_instances_config){.store = s->store, .backend = &s->backend},
                                     &s->instances, e);
        if (r >= 0)
                r = rt_scheduler_new(&(struct rt_scheduler_config){.store = s->store, .lifecycle = s->lc,
                                                                   .instances = s->instances,
                                                                   .healthy_after_ms =
                                                                           cfg->service_healthy_after_s * 1000,
                                                                   .one_host = strcmp(cfg->backend, "docker") == 0},
                                     &s->sched, e);
        if (r >= 0)
                r = rt_express_new(&(struct rt_express_config){.store = s->store, .lifecycle = s->lc,
                                                               .scheduler = s->sched,
                                                               .host_ports = strcmp(cfg->backend, "docker") == 0,
                                                               .ingress = ingress,
                                                               .endpoint_base = cfg->express_endpoint,
                                                               .interval_ms = cfg->express_health_interval_s * 1000},
                                   &s->express, e);
        return r;
}

/* Start the credentials listener (--credentials-listen) and write the URL containers reach it at into `url`, "" when
 * there is none (tasks with a role then get no credentials variables; their metadata works all the same). ecsd never
 * changes the host's addresses: when the listener's address is missing it says how to add it and goes on. The default
 * port 80 needs root (or CAP_NET_BIND_SERVICE) and one ecsd per host; when it cannot be had, the default takes a port
 * the kernel picks on the same address, and containers get the full URL instead of the relative one. */
static int start_credentials(const struct config *cfg, struct service *s, char *url, size_t size, struct err *e) {
        url[0] = '\0';
        if (strcmp(cfg->credentials_listen, "off") == 0)
                return 0;
        char host[INET6_ADDRSTRLEN], any[INET6_ADDRSTRLEN + 8];
        unsigned port = 0, bound = 0;
        listen_split(cfg->credentials_listen, host, sizeof(host), &port); /* checked by parse_serve_flags */
        bool v6 = strchr(host, ':') != NULL;
        if (!host_is_local(host)) {
                log_warn("main", "\"no credentials listener: %s is not an address of this host, so tasks with a task "
                                 "role get no credentials; add it (as root: ip addr add %s/%d dev lo; "
                                 "deploy/local/serve.sh does) and restart ecsd\"",
                         host, host, v6 ? 128 : 32);
                return 0;
        }
        int r = api_credentials_server_start(s->api, cfg->credentials_listen, &s->credentials_srv, &bound, e);
        if (r < 0 && !cfg->credentials_listen_set && port == 80) {
                log_info("main", "\"port 80 of %s is not available (it needs root or CAP_NET_BIND_SERVICE, or another "
                                 "ecsd has it): the credentials listener takes a port the kernel picks\"",
                         host);
                str_printf(any, sizeof(any), "%s%s%s:0", v6 ? "[" : "", host, v6 ? "]" : "");
                r = api_credentials_server_start(s->api, any, &s->credentials_srv, &bound, e);
        }
        if (r < 0) {
                err_prefix(e, "credentials listener");
                return r;
        }
        if (bound == 80 && strcmp(host, "169.254.170.2") == 0)
                str_printf(url, size, "%s", ECS_CREDENTIALS_URL);
        else
                str_printf(url, size, "http://%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "", bound);
        log_info("main", "\"credentials listener\" url=%s", url);
        return 0;
}

static int start_docker(const struct config *cfg, struct service *s, struct err *e) {
        char owner[64], gateway[64], listen[96], endpoint[256], creds[256];
        unsigned mport = 0;
        if (docker_runner_set_cli(cfg->docker_cli) < 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "invalid --docker-cli");
        int r = instance_id(s, owner, sizeof(owner), e);
        if (r < 0)
                return r;
        const char *mlisten = cfg->metadata_listen;
        if (!mlisten) {
                struct err ge = {0};
                if (bridge_gateway(gateway, sizeof(gateway), &ge) < 0) {
                        log_warn("main", "\"docker bridge not found; containers cannot reach the metadata endpoint\" "
                                         "error=\"%s\"",
                                 ge.msg);
                        str_printf(gateway, sizeof(gateway), "127.0.0.1");
                }
                str_printf(listen, sizeof(listen), "%s%s%s:0", strchr(gateway, ':') ? "[" : "", gateway,
                           strchr(gateway, ':') ? "]" : "");
                mlisten = listen;
        }
        if ((r = api_metadata_server_start(s->api, mlisten, &s->metadata_srv, &mport, e)) < 0) {
                err_prefix(e, "metadata listener");
                return r;
        }
        str_printf(endpoint, sizeof(endpoint), "http://%s:%u/_ecsd/metadata", cfg->host_alias, mport);
        if ((r = start_credentials(cfg, s, creds, sizeof(creds), e)) < 0)
                return r;
        enum docker_pull_behavior pull = DOCKER_PULL_DEFAULT;
        docker_pull_behavior_from_string(cfg->pull_behavior, &pull);
        struct docker_backend_config dc = {
                .owner = owner,
                .host_alias = cfg->host_alias,
                .metadata_endpoint = endpoint,
                .credentials_endpoint = creds[0] ? creds : NULL,
                .pull = pull,
                .default_stop_timeout_s = (int) cfg->stop_timeout_s,
        };
        if ((r = docker_backend_new(&dc, &s->backend, &s->docker, e)) < 0)
                return r;
        if ((r = new_lifecycle(cfg, s, NULL, e)) < 0)
                return r;
        struct docker_events_config ec = {
                .owner = owner,
                .on_event = on_backend_event,
                .on_connect = on_backend_sync,
                .userdata = s->lc,
        };
        if ((r = docker_events_start(&ec, &s->events, e)) < 0)
                return r;
        docker_backend_set_events(s->docker, s->events);
        api_attach_lifecycle(s->api, s->lc);
        api_attach_scheduler(s->api, s->sched);
        api_attach_express(s->api, s->express);
        api_attach_instances(s->api, s->instances);
        log_info("main", "\"docker backend ready\" owner=%s metadata=%s cli=%s pull=%s", owner, endpoint,
                 cfg->docker_cli, cfg->pull_behavior);
        return 0;
}

/* Wire the k8s backend: kubeconfig, metadata and credentials listeners, backend, lifecycle, Pod watch. Pods reach the
 * metadata endpoint on the metadata listener (at --k8s-endpoint), never through the API listener: the API then need
 * not listen on the Pod network, where any Pod could drive it. */
static int start_k8s(const struct config *cfg, struct service *s, struct err *e) {
        char owner[64], endpoint[512], creds[256], mlisten_buf[300], base_buf[300];
        unsigned mport = 0;
        int r = instance_id(s, owner, sizeof(owner), e);
        if (r >= 0)
                r = k8s_config_load(cfg->kubeconfig, cfg->kube_context, &s->kube, e);
        if (r < 0)
                return r;
        /* Default: the API's host, any port. */
        const char *mlisten = cfg->metadata_listen;
        if (!mlisten) {
                const char *colon = strrchr(cfg->listen, ':');
                str_printf(mlisten_buf, sizeof(mlisten_buf), "%.*s:0",
                           (int) (colon ? colon - cfg->listen : (ptrdiff_t) strlen(cfg->listen)), cfg->listen);
                mlisten = mlisten_buf;
        }
        if ((r = api_metadata_server_start(s->api, mlisten, &s->metadata_srv, &mport, e)) < 0) {
                err_prefix(e, "metadata listener");
                return r;
        }
        const char *base = cfg->k8s_endpoint;
        if (!base) {
                const char *colon = strrchr(mlisten, ':');
                str_printf(base_buf, sizeof(base_buf), "http://%.*s:%u",
                           (int) (colon ? colon - mlisten : (ptrdiff_t) strlen(mlisten)), mlisten, mport);
                base = base_buf;
                log_warn("main", "\"no --k8s-endpoint: Pods are told to reach the metadata listener at %s\"", base);
        }
        str_printf(endpoint, sizeof(endpoint), "%s/_ecsd/metadata", base);
        if ((r = start_credentials(cfg, s, creds, sizeof(creds), e)) < 0)
                return r;
        struct k8s_backend_config kc = {
                .kube = s->kube,
                .owner = owner,
                .ns_mode = cfg->k8s_namespace_prefix ? K8S_NS_PER_CLUSTER : K8S_NS_FIXED,
                .namespace_ = cfg->k8s_namespace_prefix ? cfg->k8s_namespace_prefix
                              : cfg->k8s_namespace  ? cfg->k8s_namespace
                                                    : k8s_config_namespace(s->kube),
                .node_name = cfg->k8s_node_name && *cfg->k8s_node_name ? cfg->k8s_node_name : NULL,
                .metadata_endpoint = endpoint,
                .credentials_endpoint = creds[0] ? creds : NULL,
                .default_stop_timeout_s = (int) cfg->stop_timeout_s,
                .start_timeout_s = (int) cfg->k8s_start_timeout_s,
        };
        if ((r = k8s_backend_new(&kc, &s->backend, &s->k8s, e)) < 0)
                return r;
        struct rt_express_ingress ingress;
        k8s_express_ingress_new(s->kube, kc.ns_mode, kc.namespace_, &s->k8s_ingress, &ingress);
        if ((r = new_lifecycle(cfg, s, &ingress, e)) < 0)
                return r;
        struct k8s_backend_hooks hooks = {.on_event = on_k8s_event, .on_sync = on_k8s_sync, .on_hosts = on_k8s_hosts,
                                          .userdata = s};
        if ((r = k8s_backend_start(s->k8s, &hooks, e)) < 0)
                return r;
        api_attach_lifecycle(s->api, s->lc);
        api_attach_scheduler(s->api, s->sched);
        api_attach_express(s->api, s->express);
        api_attach_instances(s->api, s->instances);
        log_info("main", "\"k8s backend ready\" owner=%s server=%s namespace%s=%s metadata=%s", owner,
                 k8s_config_server(s->kube), kc.ns_mode == K8S_NS_FIXED ? "" : "_prefix", kc.namespace_, endpoint);
        return 0;
}

static void service_stop(struct service *s) {
        api_server_stop(s->srv);
        api_server_stop(s->credentials_srv); /* its requests read the lifecycle, freed below; they never wait */
        if (s->api) { /* a start that failed early has none */
                api_attach_express(s->api, NULL);
                api_attach_scheduler(s->api, NULL);
                api_attach_lifecycle(s->api, NULL);
                api_attach_instances(s->api, NULL);
        }
        pthread_mutex_lock(&sched_wake_lock); /* the Node watch wakes the scheduler until this */
        struct rt_scheduler *sched = s->sched;
        s->sched = NULL;
        pthread_mutex_unlock(&sched_wake_lock);
        rt_express_free(s->express); /* before the scheduler it writes events through */
        s->express = NULL;
        rt_scheduler_free(sched); /* before the lifecycle, whose subscriber it is */
        docker_events_stop(s->events);
        k8s_backend_stop(s->k8s); /* before the lifecycle: the watch calls into it */
        rt_lifecycle_free(s->lc);
        api_server_stop(s->metadata_srv);
        docker_backend_free(s->docker);
        k8s_backend_free(s->k8s);
        k8s_express_ingress_free(s->k8s_ingress);
        k8s_config_free(s->kube);
        api_free(s->api);
        rt_instances_free(s->instances);
        rt_store_free(s->store);
        json_decref(s->secrets);
        json_decref(s->task_credentials);
}

/* Block SIGINT and SIGTERM before any thread starts, so every thread inherits the mask and the main thread alone
 * takes them (sigwait, sigtimedwait); ignore SIGPIPE. */
static void block_signals(sigset_t *signals) {
        sigemptyset(signals);
        sigaddset(signals, SIGINT);
        sigaddset(signals, SIGTERM);
        pthread_sigmask(SIG_BLOCK, signals, NULL);
        signal(SIGPIPE, SIG_IGN);
}

/* Write the ready file: {"api":"HOST:PORT","metadata":"HOST:PORT" or null,"credentials":"HOST:PORT" or null,
 * "pid":N}, atomically (a temporary file in
 * the same directory, renamed over the name), so a reader sees either no file or the whole of it. */
static int write_ready_file(const char *path, const char *api_address, const char *metadata_address,
                            const char *credentials_address, struct err *e) {
        char tmp[4096];
        if (str_printf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long) getpid()) < 0)
                return err_set(e, -ENAMETOOLONG, ERR_KIND_INVALID, "--ready-file: the path is too long");
        /* The addresses come from inet_ntop (digits, hex, '.', ':', '[', ']'): nothing in them needs escaping. */
        char text[256];
        char metadata[API_ADDRESS_MAX + 2], credentials[API_ADDRESS_MAX + 2];
        str_printf(metadata, sizeof(metadata), metadata_address[0] ? "\"%s\"" : "null", metadata_address);
        str_printf(credentials, sizeof(credentials), credentials_address[0] ? "\"%s\"" : "null",
                   credentials_address);
        str_printf(text, sizeof(text), "{\"api\":\"%s\",\"metadata\":%s,\"credentials\":%s,\"pid\":%ld}\n",
                   api_address, metadata, credentials, (long) getpid());
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return err_set(e, -errno, ERR_KIND_INVALID, "--ready-file: cannot create %s: %s", tmp,
                               strerror(errno));
        size_t len = strlen(text);
        ssize_t n = write(fd, text, len);
        int r = n == (ssize_t) len ? 0 : -(n < 0 ? errno : EIO);
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                unlink(tmp);
                return err_set(e, r, ERR_KIND_INVALID, "--ready-file: cannot write %s: %s", path, strerror(-r));
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
        block_signals(&signals);

        struct err e = {0};
        struct service s = {0};
        unsigned port = 0;
        if (cfg.secrets_file && !(s.secrets = load_secrets(cfg.secrets_file, &e))) {
                log_error("main", "\"cannot start\" error=\"%s\"", e.msg);
                return EXIT_USAGE;
        }
        if (cfg.task_credentials_file && !(s.task_credentials = load_task_credentials(cfg.task_credentials_file, &e))) {
                log_error("main", "\"cannot start\" error=\"%s\"", e.msg);
                return EXIT_USAGE;
        }
        /* The state directory's lock, then the API's address, before anything else: a second ecsd on either exits
         * here, before it touches a container or the store's contents. */
        _cleanup_close_ int api_fd = -1;
        char api_address[API_ADDRESS_MAX] = "", metadata_address[API_ADDRESS_MAX] = "";
        char credentials_address[API_ADDRESS_MAX] = "";
        r = rt_store_open(cfg.data_dir, &s.store, &e);
        if (r >= 0)
                r = api_listen(cfg.listen, &api_fd, &e);
        if (r >= 0 && (r = api_listen_address(api_fd, api_address, sizeof(api_address), &port)) < 0)
                err_set(&e, r, ERR_KIND_INTERNAL, "cannot read the address of %s: %s", cfg.listen, strerror(-r));
        cfg.api_address = api_address;
        /* A ready file left by an earlier run must not pass for this one's; removed only now, so that an ecsd
         * refused above leaves the running one's file alone. */
        if (r >= 0 && cfg.ready_file && unlink(cfg.ready_file) < 0 && errno != ENOENT)
                r = err_set(&e, -errno, ERR_KIND_INVALID, "--ready-file: cannot remove the old %s: %s",
                            cfg.ready_file, strerror(errno));
        if (r >= 0)
                r = api_new(&(struct api_config){.region = cfg.region, .account = cfg.account, .store = s.store,
                                                 .task_credentials = s.task_credentials},
                            &s.api, &e);
        if (r >= 0 && strcmp(cfg.backend, "docker") == 0)
                r = start_docker(&cfg, &s, &e);
        else if (r >= 0)
                r = start_k8s(&cfg, &s, &e);
        if (r >= 0) {
                r = api_server_start_fd(s.api, api_fd, (unsigned) cfg.threads, &s.srv, &e);
                api_fd = -1; /* taken, whatever the outcome */
        }
        if (r >= 0 && s.metadata_srv &&
            (r = api_server_address(s.metadata_srv, metadata_address, sizeof(metadata_address), NULL)) < 0)
                err_set(&e, r, ERR_KIND_INTERNAL, "cannot read the metadata listener's address: %s", strerror(-r));
        if (r >= 0 && s.credentials_srv &&
            (r = api_server_address(s.credentials_srv, credentials_address, sizeof(credentials_address), NULL)) < 0)
                err_set(&e, r, ERR_KIND_INTERNAL, "cannot read the credentials listener's address: %s", strerror(-r));
        if (r >= 0 && cfg.ready_file)
                r = write_ready_file(cfg.ready_file, api_address, metadata_address, credentials_address, &e);
        if (r < 0) {
                log_error("main", "\"cannot start\" error=\"%s\"", e.msg);
                service_stop(&s);
                return EXIT_FAILURE;
        }
        log_info("main",
                 "\"listening\" addr=%s port=%u metadata=%s data_dir=%s region=%s account=%s backend=%s version=%s",
                 api_address, port, metadata_address[0] ? metadata_address : "none", cfg.data_dir, cfg.region,
                 cfg.account, cfg.backend, ECSD_VERSION);

        int sig = 0;
        sigwait(&signals, &sig);
        log_info("main", "\"shutting down\" signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
        if (cfg.cleanup_on_exit && s.lc) {
                /* The API listener first: an ECS call still being answered may be using the scheduler (a handler
                 * takes it before the detach below), and stopping the listener waits for those answers. Then the
                 * scheduler: it would replace the services' tasks as they stop. */
                api_server_stop(s.srv);
                s.srv = NULL;
                api_attach_express(s.api, NULL);
                api_attach_scheduler(s.api, NULL);
                rt_express_free(s.express); /* it writes events through the scheduler */
                s.express = NULL;
                pthread_mutex_lock(&sched_wake_lock);
                struct rt_scheduler *sched = s.sched;
                s.sched = NULL;
                pthread_mutex_unlock(&sched_wake_lock);
                rt_scheduler_free(sched);
                int left = rt_lifecycle_stop_all(s.lc, "Stopped because ecsd exited (--cleanup-on-exit)",
                                                 5 * 60 * 1000);
                if (left)
                        log_warn("main", "\"tasks not stopped at exit\" count=%d", left);
        }
        service_stop(&s);
        if (cfg.ready_file)
                unlink(cfg.ready_file); /* it no longer listens */
        return EXIT_SUCCESS;
}

/* ---- ecsd render and ecsd run ---- */

/* The identity `ecsd render` gives the task it prints, on either backend. */
#define RENDER_TASK_ID "00000000000000000000000000000000"
#define RENDER_TASK_ARN "arn:aws:ecs:us-east-1:000000000000:task/default/" RENDER_TASK_ID
/* A real task's is random (rt_task_input.credentials_id); a rendering shows where it goes. */
#define RENDER_CREDENTIALS_ID "00000000-0000-4000-8000-000000000000"

/* Read a task definition file: a RegisterTaskDefinition input, a TaskDefinition, or DescribeTaskDefinition's output
 * ({"taskDefinition": {...}}). */
static json_t *load_taskdef(const char *path) {
        json_error_t jerr;
        json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(doc)) {
                fprintf(stderr, "ecsd: %s: not a JSON object (%s, line %d)\n", path, jerr.text, jerr.line);
                json_decref(doc);
                return NULL;
        }
        json_t *inner = json_object_get(doc, "taskDefinition");
        if (json_is_object(inner)) {
                json_incref(inner);
                json_decref(doc);
                return inner;
        }
        return doc;
}

static int cmd_render(int argc, char **argv) {
        const char *backend = "docker", *file = NULL;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc)
                        backend = argv[++i];
                else if (argv[i][0] != '-' && !file)
                        file = argv[i];
                else {
                        fprintf(stderr, "usage: ecsd render [--backend docker|k8s] TASKDEF.json\n");
                        return EXIT_USAGE;
                }
        }
        if (!file) {
                fprintf(stderr, "usage: ecsd render [--backend docker|k8s] TASKDEF.json\n");
                return EXIT_USAGE;
        }
        if (strcmp(backend, "docker") != 0 && strcmp(backend, "k8s") != 0) {
                fprintf(stderr, "ecsd render: --backend must be docker or k8s\n");
                return EXIT_USAGE;
        }
        json_auto_t *td = load_taskdef(file);
        if (!td)
                return EXIT_USAGE;
        struct err e = {0};
        if (strcmp(backend, "k8s") == 0) {
                struct k8s_task_spec ks = {
                        .taskdef = td,
                        .task_arn = RENDER_TASK_ARN,
                        .task_id = RENDER_TASK_ID,
                        .cluster_name = "default",
                        .namespace_ = "default",
                        .metadata_endpoint = "http://ecsd-metadata.ecsd.svc:4567/_ecsd/metadata",
                        .credentials_endpoint = ECS_CREDENTIALS_URL,
                        .credentials_id = RENDER_CREDENTIALS_ID,
                        .owner_label = "ecsd-render",
                        .native_sidecars = true,
                };
                json_auto_t *pod = NULL;
                if (k8s_pod_manifest(&ks, &pod, &e) < 0) {
                        fprintf(stderr, "ecsd render: %s\n", e.msg);
                        return EXIT_FAILURE;
                }
                return json_dumpf(pod, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) < 0 || puts("") < 0 ? EXIT_FAILURE
                                                                                                    : EXIT_SUCCESS;
        }
        struct docker_task_spec spec = {
                .taskdef = td,
                .task_arn = RENDER_TASK_ARN,
                .task_id = RENDER_TASK_ID,
                .cluster_name = "default",
                .metadata_endpoint = "http://host.docker.internal:4566/_ecsd/metadata",
                .credentials_endpoint = ECS_CREDENTIALS_URL,
                .credentials_id = RENDER_CREDENTIALS_ID,
                .host_alias = "host.docker.internal",
                .owner_label = "ecsd-render",
        };
        json_auto_t *plan = NULL;
        if (docker_plan_task(&spec, &plan, &e) < 0) {
                fprintf(stderr, "ecsd render: %s\n", e.msg);
                return EXIT_FAILURE;
        }
        return docker_plan_render(plan, stdout) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* One API call made in-process (ecsd run). Returns the response document, or NULL after printing the error. */
static json_t *call_api(struct api *api, const char *action, const json_t *body) {
        char target[128];
        str_printf(target, sizeof(target), ECS_TARGET_PREFIX "%s", action);
        _cleanup_free_ char *text = json_dumps(body, JSON_COMPACT);
        struct api_request req = {.method = "POST", .path = "/", .target = target, .body = text,
                                  .body_len = strlen(text)};
        struct api_response resp;
        api_handle(api, &req, &resp);
        json_t *out = json_loadb(resp.body, resp.body_len, 0, NULL);
        if (resp.status != 200) {
                fprintf(stderr, "ecsd run: %s: %s: %s\n", action, ecs_json_str(out, "__type", "error"),
                        ecs_json_str(out, "message", ""));
                json_decref(out);
                out = NULL;
        }
        api_response_release(&resp);
        return out;
}

struct log_follower {
        pthread_t thread;
        char name[ECS_NAME_MAX + 1];
        char docker_name[ECS_NAME_MAX + 64];
        struct docker_stream stream;
        bool started;
};

/* Copy one container's output to stdout, each line prefixed with the container's name. */
static void *follow_logs(void *arg) {
        struct log_follower *f = arg;
        const char *argv[] = {"docker", "logs", "-f", f->docker_name, NULL};
        struct err e = {0};
        if (docker_stream_open(argv, &f->stream, &e) < 0)
                return NULL;
        _cleanup_fclose_ FILE *in = fdopen(f->stream.fd, "r");
        if (!in)
                return NULL;
        f->stream.fd = -1; /* the FILE owns it now */
        char line[8192];
        while (fgets(line, sizeof(line), in)) {
                flockfile(stdout);
                printf("%s | %s%s", f->name, line, strchr(line, '\n') ? "" : "\n");
                fflush(stdout);
                funlockfile(stdout);
        }
        return NULL;
}

static int cmd_run(int argc, char **argv) {
        const char *file = argc > 1 && argv[1][0] != '-' ? argv[1] : NULL;
        if (!file) {
                fprintf(stderr, "usage: ecsd run TASKDEF.json [serve flags]\n");
                return EXIT_USAGE;
        }
        struct config cfg;
        char data_dir_buf[4096];
        setenv("ECSD_DATA_DIR", ":memory:", 0);
        setenv("ECSD_LOG_LEVEL", "warn", 0);
        int r = parse_serve_flags(argc - 1, argv + 1, &cfg, data_dir_buf, sizeof(data_dir_buf));
        if (r != 0)
                return r;
        json_auto_t *td = load_taskdef(file);
        if (!td)
                return EXIT_USAGE;

        sigset_t signals;
        block_signals(&signals);

        struct err e = {0};
        struct service s = {0};
        if (cfg.secrets_file && !(s.secrets = load_secrets(cfg.secrets_file, &e))) {
                fprintf(stderr, "ecsd run: %s\n", e.msg);
                return EXIT_USAGE;
        }
        if (cfg.task_credentials_file && !(s.task_credentials = load_task_credentials(cfg.task_credentials_file, &e))) {
                fprintf(stderr, "ecsd run: %s\n", e.msg);
                return EXIT_USAGE;
        }
        r = rt_store_open(cfg.data_dir, &s.store, &e);
        if (r >= 0)
                r = api_new(&(struct api_config){.region = cfg.region, .account = cfg.account, .store = s.store,
                                                 .task_credentials = s.task_credentials},
                            &s.api, &e);
        if (r >= 0)
                r = start_docker(&cfg, &s, &e);
        if (r < 0) {
                fprintf(stderr, "ecsd run: %s\n", e.msg);
                service_stop(&s);
                return EXIT_FAILURE;
        }
        int code = EXIT_FAILURE;
        json_auto_t *registered = call_api(s.api, "RegisterTaskDefinition", td);
        const json_t *def = json_object_get(registered, "taskDefinition");
        json_auto_t *run_in = def ? json_pack("{s:s}", "taskDefinition", ecs_json_str(def, "taskDefinitionArn", ""))
                                  : NULL;
        if (run_in && strcmp(ecs_json_str(def, "networkMode", ""), "awsvpc") == 0)
                json_object_set_new(run_in, "networkConfiguration",
                                    json_pack("{s:{s:[s]}}", "awsvpcConfiguration", "subnets", "local"));
        json_auto_t *ran = run_in ? call_api(s.api, "RunTask", run_in) : NULL;
        const char *arn = ecs_json_str(json_array_get(json_object_get(ran, "tasks"), 0), "taskArn", NULL);
        if (!arn) {
                service_stop(&s);
                return EXIT_FAILURE;
        }
        char id[72];
        str_printf(id, sizeof(id), "%s", strrchr(arn, '/') + 1);

        size_t n = json_array_size(json_object_get(def, "containerDefinitions"));
        struct log_follower *followers = xcalloc(n ? n : 1, sizeof(*followers));
        bool stop_sent = false;
        json_auto_t *task = NULL;
        for (;;) {
                json_decref(task);
                task = NULL;
                json_auto_t *plan = NULL;
                if (rt_lifecycle_task(s.lc, id, &task, &plan, &e) < 0)
                        break;
                const char *status = ecs_json_str(task, "lastStatus", "");
                for (size_t i = 0; i < n; i++) {
                        const json_t *c = json_array_get(json_object_get(task, "containers"), i);
                        const json_t *pc = json_array_get(json_object_get(plan, "containers"), i);
                        if (followers[i].started || !json_object_get(c, "runtimeId") || !pc ||
                            strcmp(ecs_json_str(c, "lastStatus", ""), "PENDING") == 0)
                                continue;
                        str_printf(followers[i].name, sizeof(followers[i].name), "%s", ecs_json_str(c, "name", ""));
                        str_printf(followers[i].docker_name, sizeof(followers[i].docker_name), "%s",
                                   ecs_json_str(pc, "docker_name", ""));
                        followers[i].stream.fd = -1;
                        followers[i].started = pthread_create(&followers[i].thread, NULL, follow_logs,
                                                              &followers[i]) == 0;
                }
                if (strcmp(status, "STOPPED") == 0)
                        break;
                struct timespec tick = {.tv_sec = 0, .tv_nsec = 100 * 1000000L};
                if (sigtimedwait(&signals, NULL, &tick) > 0 && !stop_sent) {
                        fprintf(stderr, "ecsd run: stopping the task (its containers get SIGTERM)\n");
                        json_auto_t *stopped = NULL;
                        if (rt_lifecycle_stop(s.lc, id, NULL, "Stopped by ecsd run (interrupted)", &stopped, &e) < 0)
                                fprintf(stderr, "ecsd run: cannot stop the task: %s (interrupt again to retry)\n",
                                        e.msg);
                        else
                                stop_sent = true;
                }
        }
        for (size_t i = 0; i < n; i++)
                if (followers[i].started)
                        pthread_join(followers[i].thread, NULL);
        free(followers);
        const char *stop_code = ecs_json_str(task, "stopCode", "");
        if (strcmp(stop_code, "TaskFailedToStart") == 0) {
                fprintf(stderr, "ecsd run: the task failed to start: %s\n", ecs_json_str(task, "stoppedReason", ""));
                code = 125;
        } else {
                /* The first essential container that exited non-zero decides, else 0. */
                code = 0;
                size_t i;
                const json_t *c;
                json_array_foreach(json_object_get(task, "containers"), i, c) {
                        const json_t *cd = json_array_get(json_object_get(def, "containerDefinitions"), i);
                        int64_t exit_code;
                        if (!json_is_false(json_object_get(cd, "essential")) && ecs_json_int(c, "exitCode", &exit_code) &&
                            exit_code != 0) {
                                code = (int) (exit_code & 0xff);
                                break;
                        }
                }
        }
        service_stop(&s);
        return code;
}

int main(int argc, char **argv) {
        const char *cmd = argc > 1 ? argv[1] : "help";
        if (strcmp(cmd, "serve") == 0)
                return cmd_serve(argc - 1, argv + 1);
        if (strcmp(cmd, "run") == 0)
                return cmd_run(argc - 1, argv + 1);
        if (strcmp(cmd, "render") == 0)
                return cmd_render(argc - 1, argv + 1);
        if (strcmp(cmd, "exec") == 0)
                return cmd_exec(argc - 1, argv + 1);
        if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
                printf("ecsd %s\n", ECSD_VERSION);
                return EXIT_SUCCESS;
        }
        if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
                usage();
                return EXIT_SUCCESS;
        }
        fprintf(stderr, "ecsd: unknown command or flag '%s' (see ecsd --help)\n", cmd);
        return EXIT_USAGE;
}
