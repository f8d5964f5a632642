/* actions-deployhooks.c — ContinueServiceDeployment: a service deployment paused at a PAUSE lifecycle hook goes on
 * (CONTINUE) or rolls back (ROLLBACK). The hooks themselves (which stage pauses, what a paused deployment holds back,
 * timeouts) live in the scheduler (pkg/runtime/scheduler.c, hooks_pass); DescribeServiceDeployments shows them as
 * lifecycleStage and lifecycleHookDetails (actions-service.c). */
#include <stdio.h>
#include <string.h>

#include "api-internal.h"
#include "scheduler.h"

int api_continue_service_deployment(struct api_call *call, const json_t *in, json_t **out, struct err *e) {
        struct rt_scheduler *sch = api_scheduler(call->api);
        if (!sch)
                return err_set(e, -ENOTSUP, ERR_KIND_INTERNAL, "ecsd runs without a backend; services cannot run.");
        const char *s = ecs_json_str(in, "serviceDeploymentArn", "");
        const char *hook = ecs_json_str(in, "hookId", "");
        if (!hook[0])
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "hookId must not be empty.");
        /* arn:aws:ecs:REGION:ACCOUNT:service-deployment/CLUSTER/SERVICE/ID, of the call's region and account. */
        struct ecs_arn arn;
        char cluster[ECS_NAME_MAX + 1] = "", name[ECS_NAME_MAX + 1] = "", id[64] = "", extra;
        if (ecs_arn_parse(s, &arn, NULL) < 0 || strcmp(arn.type, "service-deployment") != 0)
                return err_set(e, -EINVAL, ERR_KIND_INVALID, "'%.200s' is not a service deployment ARN.", s);
        if (strcmp(arn.region, call->region) != 0 || strcmp(arn.account, call->account) != 0 ||
            sscanf(arn.resource, "%255[^/]/%255[^/]/%63[^/]%c", cluster, name, id, &extra) != 3)
                return err_set(e, -ENOENT, ERR_KIND_SERVICE_DEPLOYMENT_NOT_FOUND, "Service deployment not found.");
        bool rollback = strcmp(ecs_json_str(in, "action", "CONTINUE"), "ROLLBACK") == 0;
        int r = rt_scheduler_continue_deployment(sch, call->region, cluster, name, id, hook, rollback, e);
        if (r < 0)
                return r;
        *out = json_pack("{s:s}", "serviceDeploymentArn", s);
        return 0;
}
