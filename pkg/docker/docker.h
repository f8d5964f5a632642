/* docker.h — the Docker backend. This part is the plan: a pure function from a registered task definition plus a
 * task's identity and overrides to the `docker` CLI invocations that run it. No I/O, no process spawning, safe from
 * any thread. The plan's JSON layout and every mapping decision are in docs/internals/docker-plan.md.
 *
 * Contract the runner relies on:
 * - every argv starts with "docker"; the runner substitutes the CLI path (docker or podman) for argv[0];
 * - no environment or secret value is ever in an argv. A container's `env` map holds the values; its argv names
 *   them with `-e NAME`, and the runner puts NAME=value into the child's environment. Names the CLI itself reads
 *   (PATH, HOME, DOCKER_*, proxies, ...; see docker_plan_env_name_reserved) are listed in `env_file` instead and
 *   the argv carries `--env-file /dev/fd/3` (DOCKER_PLAN_ENV_FILE_FD): the runner writes "NAME=value\n" lines for
 *   exactly those names into a pipe whose read end is fd 3 of the child;
 * - `secrets` entries ({name, valueFrom}) are resolved by the lifecycle, which adds each value to `env` under its
 *   name before the run (the argv already carries `-e NAME` or the env-file entry). */
#pragma once

#include <stdio.h>

#include <jansson.h>

#include "base.h"

/* The descriptor through which the values of `env_file` names reach `docker run --env-file /dev/fd/3`. */
#define DOCKER_PLAN_ENV_FILE_FD 3

/* ecsd's own labels on everything it creates: the instance that owns it, and the task id. */
#define DOCKER_LABEL_OWNER "io.ecsd.owner"
#define DOCKER_LABEL_TASK_ID "io.ecsd.task-id"

/* ECS agent default for a container's stop timeout (ECS_CONTAINER_STOP_TIMEOUT). */
#define DOCKER_PLAN_STOP_TIMEOUT_DEFAULT_S 30

struct docker_task_spec {
        const json_t *taskdef;   /* borrowed: the registered TaskDefinition object (as DescribeTaskDefinition returns) */
        const json_t *overrides; /* borrowed, may be NULL: TaskOverride {containerOverrides, cpu, memory, taskRoleArn} */
        const char *task_arn;    /* full task ARN; its region also fills AWS_REGION / AWS_DEFAULT_REGION */
        const char *task_id;     /* [A-Za-z0-9_-]+, used in docker names: ecsd-<task_id>-<container> */
        const char *cluster_name;
        /* Base of the task metadata endpoint as a container sees it, e.g.
         * "http://host.docker.internal:4566/_ecsd/metadata"; a container's URI is <this>/<task_id>/<container>. */
        const char *metadata_endpoint;
        /* The credentials listener as a container reaches it, a URL without a path. ECS_CREDENTIALS_URL (ECS's own
         * address, port 80): a task with credentials gets AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/<id>,
         * exactly as on ECS; another ("http://169.254.170.2:PORT"): AWS_CONTAINER_CREDENTIALS_FULL_URI=<this>/v2/
         * credentials/<id>. May be NULL (no listener): a task role then only gets a note. */
        const char *credentials_endpoint;
        const char *credentials_id; /* the task's credentials id (rt_task_input); NULL: no credentials variables */
        const char *host_alias;  /* "host.docker.internal" (docker); the plan adds --add-host <alias>:host-gateway */
        const char *owner_label; /* value of ecsd's io.ecsd.owner label (the instance id) */
        /* Host address ports are published on in bridge/awsvpc mode. NULL: all interfaces, like ECS and plain
         * `docker run -p`. "127.0.0.1" keeps them on loopback (then other containers cannot reach them through
         * host_alias). */
        const char *publish_address;
        int default_stop_timeout_s; /* 0: DOCKER_PLAN_STOP_TIMEOUT_DEFAULT_S */
};

/* Build the plan for one task. On success stores a new JSON object in *ret (caller owns) and returns 0. A field
 * that cannot be run locally, or an invalid value, fails with -EINVAL, ERR_KIND_CLIENT and a sentence naming the
 * container and field in `e` (may be NULL); *ret is then untouched. Missing spec members fail the same way
 * (ERR_KIND_INTERNAL). */
int docker_plan_task(const struct docker_task_spec *spec, json_t **ret, struct err *e);

/* Print a plan for reading (`ecsd render --backend docker`): each argv on one line, shell-quoted for reading only
 * (the runner never uses a shell), with comments naming the environment variables and secrets by name. Values of
 * environment variables and secrets are never printed. Returns 0, or -EIO when writing to `out` failed. */
int docker_plan_render(const json_t *plan, FILE *out);

/* True when `name` is an environment variable the docker/podman CLI itself reads (so it cannot be handed to the CLI
 * through its own environment): PATH, HOME, TMPDIR, USER, SHELL, proxies, SSL_CERT_*, GO*, and the prefixes DOCKER_,
 * XDG_, CONTAINERS_, CONTAINER_, PODMAN_, BUILDKIT_, LD_ — compared case-insensitively. */
bool docker_plan_env_name_reserved(const char *name);
