/* render.c — print a docker plan for people (`ecsd render --backend docker`), and the shell quoting it uses.
 *
 * The output is for reading: argv are shell-quoted so a person can copy one, but ecsd never runs a shell. Values of
 * environment variables and secrets are never printed, only their names (STYLE.md: never log environment values).
 * Pure apart from writing to the caller's FILE; safe from any thread with its own FILE. */
#include <string.h>

#include "docker-internal.h"
#include "docker.h"

int docker_quote_word(FILE *out, const char *s) {
        static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-";
        if (*s != '\0' && strspn(s, safe) == strlen(s))
                return fputs(s, out) < 0 ? -EIO : 0;
        if (fputc('\'', out) == EOF)
                return -EIO;
        for (const char *p = s; *p; p++) {
                int r = *p == '\'' ? fputs("'\\''", out) : fputc(*p, out);
                if (r < 0)
                        return -EIO;
        }
        return fputc('\'', out) == EOF ? -EIO : 0;
}

static int render_argv(FILE *out, const json_t *argv) {
        size_t i;
        const json_t *w;
        if (!json_is_array(argv))
                return 0;
        json_array_foreach(argv, i, w) {
                if (i > 0 && fputc(' ', out) == EOF)
                        return -EIO;
                if (docker_quote_word(out, json_string_value(w) ? json_string_value(w) : "") < 0)
                        return -EIO;
        }
        return fputc('\n', out) == EOF ? -EIO : 0;
}

/* "# <label>: A B C" listing the names of an array of strings (or of objects with "name"). */
static int render_names(FILE *out, const char *label, const json_t *list) {
        if (json_array_size(list) == 0)
                return 0;
        if (fprintf(out, "#   %s:", label) < 0)
                return -EIO;
        size_t i;
        const json_t *v;
        json_array_foreach(list, i, v) {
                const char *name = json_is_string(v) ? json_string_value(v)
                                                     : json_string_value(json_object_get(v, "name"));
                if (fprintf(out, " %s", name ? name : "?") < 0)
                        return -EIO;
        }
        return fputc('\n', out) == EOF ? -EIO : 0;
}

int docker_plan_render(const json_t *plan, FILE *out) {
        int r = 0;
        size_t i;
        const json_t *v;
        json_array_foreach(json_object_get(plan, "notes"), i, v)
                if (fprintf(out, "# note: %s\n", json_string_value(v) ? json_string_value(v) : "") < 0)
                        return -EIO;

        const json_t *net = json_object_get(plan, "network");
        if (json_is_object(net)) {
                if (fprintf(out, "# network %s\n", json_string_value(json_object_get(net, "name"))) < 0)
                        return -EIO;
                if ((r = render_argv(out, json_object_get(net, "create"))) < 0)
                        return r;
        }
        json_array_foreach(json_object_get(plan, "volumes"), i, v) {
                if (fprintf(out, "# volume %s (%s)%s\n", json_string_value(json_object_get(v, "name")),
                            json_string_value(json_object_get(v, "docker_name")),
                            json_is_true(json_object_get(v, "must_exist")) ? " must already exist" : "") < 0)
                        return -EIO;
                if ((r = render_argv(out, json_object_get(v, "create"))) < 0)
                        return r;
        }

        /* Containers in start order, so the output reads the way the lifecycle runs it. */
        const json_t *containers = json_object_get(plan, "containers");
        json_array_foreach(json_object_get(plan, "order"), i, v) {
                const json_t *c = NULL, *x;
                size_t k;
                json_array_foreach(containers, k, x)
                        if (json_equal(json_object_get(x, "name"), v))
                                c = x;
                if (!c)
                        continue;
                if (fprintf(out, "# container %s%s, stop timeout %llds\n", json_string_value(v),
                            json_is_true(json_object_get(c, "essential")) ? " (essential)" : "",
                            (long long) json_integer_value(json_object_get(c, "stop_timeout_s"))) < 0)
                        return -EIO;
                const json_t *deps = json_object_get(c, "depends_on"), *d;
                json_array_foreach(deps, k, d)
                        if (fprintf(out, "#   after %s is %s\n",
                                    json_string_value(json_object_get(d, "containerName")),
                                    json_string_value(json_object_get(d, "condition"))) < 0)
                                return -EIO;
                /* Names only: the values stay in the plan's env map and never reach a terminal or a log. */
                json_auto_t *env_names = json_array();
                const char *name;
                json_t *env = json_object_get(c, "env"), *val;
                json_object_foreach(env, name, val)
                        json_array_append_new(env_names, json_string(name));
                if ((r = render_names(out, "environment (values not shown)", env_names)) < 0 ||
                    (r = render_names(out, "via --env-file pipe", json_object_get(c, "env_file"))) < 0 ||
                    (r = render_names(out, "secrets (resolved at launch)", json_object_get(c, "secrets"))) < 0)
                        return r;
                if ((r = render_argv(out, json_object_get(c, "run"))) < 0)
                        return r;
        }
        if (fputs("# teardown\n", out) < 0)
                return -EIO;
        /* Teardown in reverse start order, then volumes and the network. */
        const json_t *order = json_object_get(plan, "order");
        for (size_t n = json_array_size(order); n > 0; n--) {
                size_t k;
                const json_t *x;
                json_array_foreach(containers, k, x)
                        if (json_equal(json_object_get(x, "name"), json_array_get(order, n - 1)) &&
                            ((r = render_argv(out, json_object_get(x, "stop"))) < 0 ||
                             (r = render_argv(out, json_object_get(x, "remove"))) < 0))
                                return r;
        }
        json_array_foreach(json_object_get(plan, "volumes"), i, v)
                if ((r = render_argv(out, json_object_get(v, "remove"))) < 0)
                        return r;
        if (json_is_object(net) && (r = render_argv(out, json_object_get(net, "remove"))) < 0)
                return r;
        return fflush(out) == EOF ? -EIO : 0;
}
