/* actions-service.c — CreateService, UpdateService, DeleteService, DescribeServices, ListServices, and the service
 * reference rule the task actions share.
 *
 * A service is a stored document (the botocore Service shape without tags, which live in the tags table). The
 * handlers check a request the way ECS does; every change to a stored service goes through the scheduler
 * (pkg/runtime/scheduler.h), which owns service documents once they exist and keeps their tasks. */
#include <string.h>

#include "api-internal.h"

int api_service_ref_name(struct api_call *call, const char *cluster, const char *ref, char *name, struct err *e) {
        const char *tail = ref;
        if (strncmp(ref, "arn:", 4) == 0) {
                struct ecs_arn arn;
                int r = ecs_arn_parse(ref, &arn, e);
                if (r < 0)
                        return r;
                if (strcmp(arn.type, "service") != 0)
                        return err_set(e, -EINVAL, ERR_KIND_INVALID, "'%.200s' is not a service ARN.", ref);
                if (strcmp(arn.region, call->region) != 0 || strcmp(arn.account, call->account) != 0)
                        return err_set(e, -ENOENT, ERR_KIND_SERVICE_NOT_FOUND, "Service not found.");
                const char *slash = strchr(arn.resource, '/');
                if (slash && ((size_t) (slash - arn.resource) != strlen(cluster) ||
                              strncmp(arn.resource, cluster, strlen(cluster)) != 0))
                        return err_set(e, -ENOENT, ERR_KIND_SERVICE_NOT_FOUND, "Service not found.");
                tail = strrchr(ref, '/') + 1;
        }
        if (!ecs_name_valid(tail))
                return err_set(e, -EINVAL, ERR_KIND_INVALID,
                               "Service name must be 1 to 255 letters, numbers, hyphens and underscores.");
        return str_printf(name, ECS_NAME_MAX + 1, "%s", tail);
}
