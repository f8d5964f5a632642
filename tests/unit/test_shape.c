/* test_shape.c — unit tests of the input shape checker (pkg/ecs/shape.c) against the generated ECS tables.
 *
 * JSON in these tests is written with single quotes for readability; load() turns them into double quotes, so no
 * test text may need an apostrophe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "shape-internal.h"
#include "shape.h"

static json_t *load(const char *text) {
        char *buf = xstrdup(text);
        for (char *p = buf; *p; p++)
                if (*p == '\'')
                        *p = '"';
        json_error_t je;
        json_t *v = json_loads(buf, JSON_REJECT_DUPLICATES, &je);
        if (!v)
                fail_msg("test JSON does not parse: %s at line %d col %d: %s", je.text, je.line, je.column, buf);
        free(buf);
        return v;
}

static const struct ecs_shape *input(const char *action) {
        const struct ecs_shape *s = ecs_shape_input(action);
        if (!s)
                fail_msg("no input shape for %s", action);
        return s;
}

/* Check `in` for `action` and expect success; returns the output (caller frees). */
static json_t *check_ok_json(const char *action, const json_t *in) {
        json_t *out = NULL;
        struct err e = {0};
        int r = ecs_shape_check(input(action), in, &out, &e);
        if (r < 0)
                fail_msg("%s: unexpected error %d kind %d: %s", action, r, e.kind, e.msg);
        assert_non_null(out);
        return out;
}

static json_t *check_ok(const char *action, const char *text) {
        json_t *in = load(text);
        json_t *out = check_ok_json(action, in);
        json_decref(in);
        return out;
}

static void expect_error_json(const char *action, const json_t *in, int kind, const char *needle1,
                              const char *needle2) {
        json_t *out = NULL;
        struct err e = {0};
        int r = ecs_shape_check(input(action), in, &out, &e);
        if (r >= 0) {
                char *dump = json_dumps(out, JSON_COMPACT);
                fail_msg("%s: expected an error containing '%s', got success: %s", action, needle1, dump);
        }
        assert_int_equal(r, -EINVAL);
        assert_null(out);
        if (e.kind != kind)
                fail_msg("expected kind %d, got %d (%s)", kind, e.kind, e.msg);
        if (!strstr(e.msg, needle1))
                fail_msg("message '%s' does not contain '%s'", e.msg, needle1);
        if (needle2 && !strstr(e.msg, needle2))
                fail_msg("message '%s' does not contain '%s'", e.msg, needle2);
}

static void expect_error(const char *action, const char *text, int kind, const char *needle1, const char *needle2) {
        json_t *in = load(text);
        expect_error_json(action, in, kind, needle1, needle2);
        json_decref(in);
}

/* ---- operations ---- */

static void test_operations_table(void **state) {
        (void) state;
        assert_int_equal(ecs_operations_count, 77);
        for (size_t i = 0; i < ecs_operations_count; i++) {
                assert_non_null(ecs_operations[i].input);
                assert_true(ecs_action_known(ecs_operations[i].name));
                assert_ptr_equal(ecs_shape_input(ecs_operations[i].name), ecs_operations[i].input);
                if (i > 0)
                        assert_true(strcmp(ecs_operations[i - 1].name, ecs_operations[i].name) < 0);
        }
        assert_true(ecs_action_known("RegisterTaskDefinition"));
        assert_true(ecs_action_known("RunTask"));
        assert_true(ecs_action_known("ListClusters"));
        assert_false(ecs_action_known("registerTaskDefinition"));
        assert_false(ecs_action_known("RegisterTaskDefinitionX"));
        assert_false(ecs_action_known(""));
        assert_false(ecs_action_known(NULL));
        assert_null(ecs_shape_input("Nope"));
        assert_string_equal(ecs_shape_name(ecs_shape_input("RegisterTaskDefinition")), "RegisterTaskDefinitionRequest");
}

/* ---- round trip ---- */

static const char big_taskdef[] =
        "{'family': 'big-app_1', 'taskRoleArn': 'arn:aws:iam::123456789012:role/task',"
        " 'executionRoleArn': 'arn:aws:iam::123456789012:role/exec', 'networkMode': 'awsvpc',"
        " 'containerDefinitions': ["
        "  {'name': 'web', 'image': 'nginx:1.27', 'repositoryCredentials': {'credentialsParameter': 'arn:x'},"
        "   'cpu': 256, 'memory': 512, 'memoryReservation': 256, 'links': [],"
        "   'portMappings': [{'containerPort': 80, 'hostPort': 80, 'protocol': 'tcp', 'name': 'http',"
        "                     'appProtocol': 'http'}, {'containerPortRange': '9000-9010', 'protocol': 'udp'}],"
        "   'essential': true, 'restartPolicy': {'enabled': true, 'ignoredExitCodes': [0, 2],"
        "   'restartAttemptPeriod': 60}, 'entryPoint': ['/bin/sh', '-c'], 'command': ['nginx', '-g', 'daemon off;'],"
        "   'environment': [{'name': 'A', 'value': '1'}, {'name': 'B', 'value': ''}],"
        "   'environmentFiles': [{'value': 'arn:aws:s3:::bucket/env', 'type': 's3'}],"
        "   'mountPoints': [{'sourceVolume': 'data', 'containerPath': '/data', 'readOnly': false}],"
        "   'volumesFrom': [{'sourceContainer': 'side', 'readOnly': true}],"
        "   'linuxParameters': {'capabilities': {'add': ['NET_ADMIN'], 'drop': ['MKNOD']},"
        "     'devices': [{'hostPath': '/dev/fuse', 'containerPath': '/dev/fuse', 'permissions': ['read', 'write']}],"
        "     'initProcessEnabled': true, 'sharedMemorySize': 64,"
        "     'tmpfs': [{'containerPath': '/tmp', 'size': 128, 'mountOptions': ['rw']}], 'maxSwap': 0,"
        "     'swappiness': 60},"
        "   'secrets': [{'name': 'DB_PASSWORD', 'valueFrom': 'arn:aws:secretsmanager:eu-west-1:1:secret:db'}],"
        "   'dependsOn': [{'containerName': 'side', 'condition': 'START'}], 'startTimeout': 30, 'stopTimeout': 20,"
        "   'versionConsistency': 'disabled', 'hostname': 'web', 'user': '1000:1000', 'workingDirectory': '/srv',"
        "   'disableNetworking': false, 'privileged': false, 'readonlyRootFilesystem': true,"
        "   'dnsSearchDomains': ['example.com'], 'dockerSecurityOptions': ['no-new-privileges'],"
        "   'interactive': false, 'pseudoTerminal': false, 'dockerLabels': {'team': 'core', 'tier': 'web'},"
        "   'ulimits': [{'name': 'nofile', 'softLimit': 1024, 'hardLimit': 4096}],"
        "   'logConfiguration': {'logDriver': 'awslogs', 'options': {'awslogs-group': '/ecs/web'},"
        "     'secretOptions': [{'name': 'token', 'valueFrom': 'arn:aws:ssm:eu-west-1:1:parameter/t'}]},"
        "   'healthCheck': {'command': ['CMD-SHELL', 'curl -f http://localhost/ || exit 1'], 'interval': 30,"
        "     'timeout': 5, 'retries': 3, 'startPeriod': 10},"
        "   'systemControls': [{'namespace': 'net.core.somaxconn', 'value': '1024'}],"
        "   'resourceRequirements': [{'value': '1', 'type': 'GPU'}], 'credentialSpecs': []},"
        "  {'name': 'side', 'image': 'busybox', 'memory': 64, 'essential': false,"
        "   'firelensConfiguration': {'type': 'fluentbit', 'options': {'enable-ecs-log-metadata': 'true'}}}],"
        " 'volumes': [{'name': 'data', 'host': {'sourcePath': '/var/data'}},"
        "   {'name': 'dv', 'dockerVolumeConfiguration': {'scope': 'shared', 'autoprovision': true, 'driver': 'local',"
        "     'driverOpts': {'type': 'tmpfs'}, 'labels': {'a': 'b'}}},"
        "   {'name': 'efs', 'efsVolumeConfiguration': {'fileSystemId': 'fs-1', 'rootDirectory': '/',"
        "     'transitEncryption': 'ENABLED', 'transitEncryptionPort': 2049,"
        "     'authorizationConfig': {'accessPointId': 'fsap-1', 'iam': 'ENABLED'}}, 'configuredAtLaunch': false}],"
        " 'placementConstraints': [{'type': 'memberOf', 'expression': 'attribute:ecs.os-type == linux'}],"
        " 'requiresCompatibilities': ['EC2', 'FARGATE'], 'cpu': '1 vCPU', 'memory': '2 GB',"
        " 'tags': [{'key': 'env', 'value': 'prod'}, {'key': 'owner', 'value': ''}], 'pidMode': 'task',"
        " 'ipcMode': 'none', 'proxyConfiguration': {'type': 'APPMESH', 'containerName': 'side',"
        "   'properties': [{'name': 'AppPorts', 'value': '80'}]},"
        " 'ephemeralStorage': {'sizeInGiB': 30},"
        " 'runtimePlatform': {'cpuArchitecture': 'ARM64', 'operatingSystemFamily': 'LINUX'},"
        " 'enableFaultInjection': false}";

static void test_roundtrip_big_taskdef(void **state) {
        (void) state;
        json_t *in = load(big_taskdef);
        json_t *out = check_ok_json("RegisterTaskDefinition", in);
        if (!json_equal(in, out)) {
                char *a = json_dumps(in, JSON_SORT_KEYS | JSON_COMPACT),
                     *b = json_dumps(out, JSON_SORT_KEYS | JSON_COMPACT);
                fail_msg("round trip differs:\n in: %s\nout: %s", a, b);
        }
        assert_ptr_not_equal(in, out);

        /* The same request with unknown members sprinkled at every level comes out as the clean one. */
        json_t *noisy = json_deep_copy(in);
        assert_int_equal(json_object_set_new(noisy, "bogusTop", json_string("x")), 0);
        json_t *c0 = json_array_get(json_object_get(noisy, "containerDefinitions"), 0);
        assert_int_equal(json_object_set_new(c0, "bogusContainer", json_pack("{s:[i,i]}", "deep", 1, 2)), 0);
        json_t *pm0 = json_array_get(json_object_get(c0, "portMappings"), 0);
        assert_int_equal(json_object_set_new(pm0, "bogusPort", json_true()), 0);
        json_t *lp = json_object_get(json_object_get(c0, "linuxParameters"), "capabilities");
        assert_int_equal(json_object_set_new(lp, "bogusCap", json_null()), 0);
        json_t *clean = check_ok_json("RegisterTaskDefinition", noisy);
        assert_true(json_equal(clean, in));
        assert_null(json_object_get(clean, "bogusTop"));

        json_decref(clean);
        json_decref(noisy);
        json_decref(out);
        json_decref(in);
}

static void test_output_shares_nothing(void **state) {
        (void) state;
        json_t *in = load("{'family': 'f', 'containerDefinitions': [{'name': 'a', 'image': 'i', 'memory': 10}]}");
        json_t *out = check_ok_json("RegisterTaskDefinition", in);
        json_t *name = json_object_get(json_array_get(json_object_get(out, "containerDefinitions"), 0), "name");
        assert_int_equal(json_string_set(name, "changed"), 0);
        json_t *mem = json_object_get(json_array_get(json_object_get(out, "containerDefinitions"), 0), "memory");
        assert_int_equal(json_integer_set(mem, 99), 0);
        const json_t *c = json_array_get(json_object_get(in, "containerDefinitions"), 0);
        assert_string_equal(json_string_value(json_object_get(c, "name")), "a");
        assert_int_equal(json_integer_value(json_object_get(c, "memory")), 10);
        json_decref(out);
        json_decref(in);
}

static void test_unknown_members_dropped(void **state) {
        (void) state;
        json_t *out = check_ok("RegisterTaskDefinition",
                               "{'family': 'f', 'nonsense': {'a': [1, 2, {'b': null}]}, 'Family': 'case matters',"
                               " 'containerDefinitions': [{'name': 'a', 'image': 'i', 'memory': 10, 'colour': 'red',"
                               " 'portMappings': [{'containerPort': 80, 'hostport': 'x'}]}]}");
        assert_null(json_object_get(out, "nonsense"));
        assert_null(json_object_get(out, "Family"));
        const json_t *c = json_array_get(json_object_get(out, "containerDefinitions"), 0);
        assert_null(json_object_get(c, "colour"));
        const json_t *pm = json_array_get(json_object_get(c, "portMappings"), 0);
        assert_null(json_object_get(pm, "hostport"));
        assert_int_equal(json_integer_value(json_object_get(pm, "containerPort")), 80);
        assert_int_equal(json_object_size(out), 2);
        json_decref(out);
}

static void test_null_is_absent(void **state) {
        (void) state;
        json_t *out = check_ok("RegisterTaskDefinition",
                               "{'family': 'f', 'cpu': null, 'volumes': null, 'containerDefinitions': [{'name': 'a',"
                               " 'image': 'i', 'memory': null, 'dockerLabels': {'keep': 'v', 'drop': null}}]}");
        assert_null(json_object_get(out, "cpu"));
        assert_null(json_object_get(out, "volumes"));
        const json_t *c = json_array_get(json_object_get(out, "containerDefinitions"), 0);
        assert_null(json_object_get(c, "memory"));
        const json_t *labels = json_object_get(c, "dockerLabels");
        assert_int_equal(json_object_size(labels), 1);
        assert_string_equal(json_string_value(json_object_get(labels, "keep")), "v");
        json_decref(out);

        /* A required member that is null is missing. */
        expect_error("RegisterTaskDefinition", "{'family': null, 'containerDefinitions': []}", ERR_KIND_INVALID,
                     "Missing required parameter: family", NULL);
        expect_error("RegisterTaskDefinition",
                     "{'family': 'f', 'containerDefinitions': [{'name': 'a', 'image': 'i', 'dependsOn':"
                     " [{'containerName': 'b', 'condition': null}]}]}",
                     ERR_KIND_INVALID, "Missing required parameter: containerDefinitions[0].dependsOn[0].condition",
                     NULL);
}

static void test_null_input_is_empty_object(void **state) {
        (void) state;
        json_t *out = NULL;
        struct err e = {0};
        assert_int_equal(ecs_shape_check(input("ListClusters"), NULL, &out, &e), 0);
        assert_true(json_is_object(out));
        assert_int_equal(json_object_size(out), 0);
        json_decref(out);
        out = NULL;
        assert_int_equal(ecs_shape_check(input("RegisterTaskDefinition"), NULL, &out, &e), -EINVAL);
        assert_int_equal(e.kind, ERR_KIND_INVALID);
        assert_string_equal(e.msg, "Missing required parameter: family");
        assert_null(out);
}

/* ---- wrong JSON types ---- */

static void test_wrong_type_top_and_depth(void **state) {
        (void) state;
        json_t *arr = json_array();
        expect_error_json("ListClusters", arr, ERR_KIND_SERIALIZATION, "request: expected an object, got an array",
                          NULL);
        json_decref(arr);

        expect_error("RegisterTaskDefinition",
                     "{'family': 'f', 'containerDefinitions': [{'name': 'a', 'image': 'i', 'memory': '512'}]}",
                     ERR_KIND_SERIALIZATION, "containerDefinitions[0].memory: expected an integer, got a string", NULL);
        expect_error("RegisterTaskDefinition",
                     "{'family': 'f', 'containerDefinitions': [{'name': 'a', 'image': 'i'}, {'name': 'b', 'image': 'i',"
                     " 'portMappings': [{'containerPort': 1}, {'containerPort': 2}, {'hostPort': true}]}]}",
                     ERR_KIND_SERIALIZATION,
                     "containerDefinitions[1].portMappings[2].hostPort: expected an integer, got a boolean", NULL);
        expect_error("RegisterTaskDefinition", "{'family': 7, 'containerDefinitions': []}", ERR_KIND_SERIALIZATION,
                     "family: expected a string, got an integer", NULL);
        expect_error("RegisterTaskDefinition", "{'family': 'f', 'containerDefinitions': {}}", ERR_KIND_SERIALIZATION,
                     "containerDefinitions: expected an array, got an object", NULL);
        expect_error("RegisterTaskDefinition", "{'family': 'f', 'containerDefinitions': ['web']}",
                     ERR_KIND_SERIALIZATION, "containerDefinitions[0]: expected an object, got a string", NULL);
        expect_error("RegisterTaskDefinition",
                     "{'family': 'f', 'containerDefinitions': [{'name': 'a', 'essential': 'true'}]}",
                     ERR_KIND_SERIALIZATION, "containerDefinitions[0].essential: expected a boolean, got a string",
                     NULL);
        expect_error("RegisterTaskDefinition",
                     "{'family': 'f', 'containerDefinitions': [{'name': 'a', 'dockerLabels': ['x']}]}",
                     ERR_KIND_SERIALIZATION, "containerDefinitions[0].dockerLabels: expected an object, got an array",
                     NULL);
        expect_error("RegisterTaskDefinition",
                     "{'family': 'f', 'containerDefinitions': [{'name': 'a', 'dockerLabels': {'team': 5}}]}",
                     ERR_KIND_SERIALIZATION,
                     "containerDefinitions[0].dockerLabels.team: expected a string, got an integer", NULL);
        expect_error("RegisterTaskDefinition", "{'family': 'f', 'containerDefinitions': [null]}",
                     ERR_KIND_SERIALIZATION, "containerDefinitions[0]: expected an object, got null", NULL);
        expect_error("RegisterTaskDefinition",
                     "{'family': 'f', 'containerDefinitions': [{'name': 'a', 'command': ['ok', 3]}]}",
                     ERR_KIND_SERIALIZATION, "containerDefinitions[0].command[1]: expected a string, got an integer",
                     NULL);
}

static void test_integers_are_strict(void **state) {
        (void) state;
        expect_error("RegisterTaskDefinition",
                     "{'family': 'f', 'containerDefinitions': [{'name': 'a', 'image': 'i', 'memory': 1.5}]}",
                     ERR_KIND_SERIALIZATION, "containerDefinitions[0].memory: expected an integer, got a non-integer",
                     NULL);
        expect_error("RegisterTaskDefinition",
                     "{'family': 'f', 'containerDefinitions': [{'name': 'a', 'image': 'i', 'memory': 512.0}]}",
                     ERR_KIND_SERIALIZATION, "containerDefinitions[0].memory", NULL);
        expect_error("RegisterTaskDefinition",
                     "{'family': 'f', 'containerDefinitions': [{'name': 'a', 'image': 'i', 'memory': '1'}]}",
                     ERR_KIND_SERIALIZATION, "containerDefinitions[0].memory", NULL);
        /* Integer members are 32-bit; long members are not. */
        expect_error("RegisterTaskDefinition",
                     "{'family': 'f', 'containerDefinitions': [{'name': 'a', 'image': 'i', 'memory': 4294967296}]}",
                     ERR_KIND_SERIALIZATION, "containerDefinitions[0].memory: expected a 32-bit integer", NULL);
        json_t *out = check_ok("RegisterContainerInstance",
                               "{'totalResources': [{'name': 'MEMORY', 'type': 'LONG', 'longValue': 1099511627776,"
                               " 'doubleValue': 2, 'integerValue': -5}]}");
        const json_t *res = json_array_get(json_object_get(out, "totalResources"), 0);
        assert_int_equal(json_integer_value(json_object_get(res, "longValue")), 1099511627776LL);
        assert_true(json_is_integer(json_object_get(res, "doubleValue")));
        json_decref(out);
        expect_error("RegisterContainerInstance", "{'totalResources': [{'longValue': 1.25}]}", ERR_KIND_SERIALIZATION,
                     "totalResources[0].longValue: expected an integer", NULL);
        expect_error("RegisterContainerInstance", "{'totalResources': [{'doubleValue': '2.5'}]}",
                     ERR_KIND_SERIALIZATION, "totalResources[0].doubleValue: expected a number, got a string", NULL);
}

static void test_timestamps_take_numbers(void **state) {
        (void) state;
        json_t *out = check_ok("ListServiceDeployments",
                               "{'service': 's', 'createdAt': {'before': 1732480000.5, 'after': 1700000000}}");
        const json_t *c = json_object_get(out, "createdAt");
        assert_true(json_is_real(json_object_get(c, "before")));
        assert_true(json_is_integer(json_object_get(c, "after")));
        json_decref(out);
        expect_error("ListServiceDeployments", "{'service': 's', 'createdAt': {'before': '2024-11-24T00:00:00Z'}}",
                     ERR_KIND_SERIALIZATION, "createdAt.before: expected a number", NULL);
}

/* ---- required, enum, min/max ---- */

static void test_missing_required_at_depth(void **state) {
        (void) state;
        expect_error("RegisterTaskDefinition", "{'containerDefinitions': []}", ERR_KIND_INVALID,
                     "Missing required parameter: family", NULL);
        expect_error("RegisterTaskDefinition", "{'family': 'f'}", ERR_KIND_INVALID,
                     "Missing required parameter: containerDefinitions", NULL);
        expect_error("RegisterTaskDefinition",
                     "{'family': 'f', 'containerDefinitions': [{'name': 'a'}, {'name': 'b', 'ulimits':"
                     " [{'name': 'nofile', 'softLimit': 1}]}]}",
                     ERR_KIND_INVALID, "Missing required parameter: containerDefinitions[1].ulimits[0].hardLimit",
                     NULL);
        expect_error("RegisterTaskDefinition",
                     "{'family': 'f', 'containerDefinitions': [{'name': 'a', 'secrets': [{'name': 'S'}]}]}",
                     ERR_KIND_INVALID, "Missing required parameter: containerDefinitions[0].secrets[0].valueFrom",
                     NULL);
        expect_error("RegisterTaskDefinition",
                     "{'family': 'f', 'containerDefinitions': [{'name': 'a', 'healthCheck': {'interval': 5}}]}",
                     ERR_KIND_INVALID, "Missing required parameter: containerDefinitions[0].healthCheck.command", NULL);
}

static void test_enum(void **state) {
        (void) state;
        expect_error("RegisterTaskDefinition", "{'family': 'f', 'networkMode': 'AWSVPC', 'containerDefinitions': []}",
                     ERR_KIND_INVALID, "'networkMode'", "[bridge, host, awsvpc, none]");
        expect_error("RegisterTaskDefinition",
                     "{'family': 'f', 'containerDefinitions': [{'name': 'a', 'portMappings': [{'containerPort': 1,"
                     " 'protocol': 'sctp'}]}]}",
                     ERR_KIND_INVALID, "Value 'sctp' at 'containerDefinitions[0].portMappings[0].protocol'",
                     "[tcp, udp]");
        expect_error("RegisterTaskDefinition",
                     "{'family': 'f', 'containerDefinitions': [{'name': 'a', 'dependsOn': [{'containerName': 'b',"
                     " 'condition': 'READY'}]}]}",
                     ERR_KIND_INVALID, "containerDefinitions[0].dependsOn[0].condition",
                     "[START, COMPLETE, SUCCESS, HEALTHY]");
        expect_error("RegisterTaskDefinition",
                     "{'family': 'f', 'requiresCompatibilities': ['EC2', 'fargate'], 'containerDefinitions': []}",
                     ERR_KIND_INVALID, "requiresCompatibilities[1]", "FARGATE");
        json_t *out = check_ok("RegisterTaskDefinition",
                               "{'family': 'f', 'networkMode': 'host', 'containerDefinitions': [{'name': 'a',"
                               " 'ulimits': [{'name': 'nproc', 'softLimit': 1, 'hardLimit': 2}]}]}");
        assert_string_equal(json_string_value(json_object_get(out, "networkMode")), "host");
        json_decref(out);
}

static void test_min_max(void **state) {
        (void) state;
        /* List length: Tags has max 50. */
        json_t *req = load("{'family': 'f', 'containerDefinitions': [{'name': 'a'}]}");
        json_t *tags = json_array();
        for (int i = 0; i < 51; i++)
                assert_int_equal(json_array_append_new(tags, json_pack("{s:s,s:s}", "key", "k", "value", "v")), 0);
        assert_int_equal(json_object_set_new(req, "tags", tags), 0);
        expect_error_json("RegisterTaskDefinition", req, ERR_KIND_INVALID, "at 'tags'",
                          "length less than or equal to 50");
        assert_int_equal(json_array_remove(tags, 0), 0);
        json_t *out = check_ok_json("RegisterTaskDefinition", req);
        assert_int_equal(json_array_size(json_object_get(out, "tags")), 50);
        json_decref(out);
        json_decref(req);

        /* String length in characters: TagKey 1..128, TagValue 0..256. */
        expect_error("TagResource", "{'resourceArn': 'a', 'tags': [{'key': '', 'value': 'v'}]}", ERR_KIND_INVALID,
                     "at 'tags[0].key'", "length greater than or equal to 1");
        char key[600];
        memset(key, 'k', 129);
        key[129] = '\0';
        req = json_pack("{s:s,s:[{s:s,s:s}]}", "resourceArn", "a", "tags", "key", key, "value", "v");
        expect_error_json("TagResource", req, ERR_KIND_INVALID, "at 'tags[0].key'", "length less than or equal to 128");
        json_decref(req);
        /* 128 two-byte characters are 256 bytes but 128 characters: accepted. */
        for (int i = 0; i < 128; i++)
                memcpy(key + 2 * i, "\xc3\xa9", 2);
        key[256] = '\0';
        req = json_pack("{s:s,s:[{s:s,s:s}]}", "resourceArn", "a", "tags", "key", key, "value", "");
        out = check_ok_json("TagResource", req);
        json_decref(out);
        json_decref(req);

        /* Integer range: CapacityProviderStrategyItemWeight is 0..1000, PortNumber 0..65535. */
        expect_error("RunTask",
                     "{'taskDefinition': 't', 'capacityProviderStrategy': [{'capacityProvider': 'FARGATE',"
                     " 'weight': 1001}]}",
                     ERR_KIND_INVALID, "Value '1001' at 'capacityProviderStrategy[0].weight'",
                     "less than or equal to 1000");
        expect_error("RunTask",
                     "{'taskDefinition': 't', 'capacityProviderStrategy': [{'capacityProvider': 'FARGATE',"
                     " 'weight': -1}]}",
                     ERR_KIND_INVALID, "capacityProviderStrategy[0].weight", "greater than or equal to 0");
        out = check_ok("RunTask", "{'taskDefinition': 't', 'capacityProviderStrategy': [{'capacityProvider': 'FARGATE',"
                                  " 'weight': 1000, 'base': 0}]}");
        json_decref(out);

        /* Double range: DaemonDrainPercent is 0.0..100.0. */
        expect_error("CreateDaemon",
                     "{'daemonName': 'd', 'daemonTaskDefinitionArn': 'a', 'capacityProviderArns': ['c'],"
                     " 'deploymentConfiguration': {'drainPercent': 100.5}}",
                     ERR_KIND_INVALID, "at 'deploymentConfiguration.drainPercent'", "less than or equal to 100");
        out = check_ok("CreateDaemon",
                       "{'daemonName': 'd', 'daemonTaskDefinitionArn': 'a', 'capacityProviderArns': ['c'],"
                       " 'deploymentConfiguration': {'drainPercent': 99.5}}");
        json_decref(out);
}

/* ---- documents and depth ---- */

/* `levels` nested arrays: levels == 1 is [], levels == 2 is [[]], ... Built iteratively. */
static json_t *nested_arrays(int levels) {
        json_t *v = json_array();
        for (int i = 1; i < levels; i++) {
                json_t *outer = json_array();
                assert_int_equal(json_array_append_new(outer, v), 0);
                v = outer;
        }
        return v;
}

static void test_document_copied(void **state) {
        (void) state;
        json_t *out = check_ok("CreateService",
                               "{'serviceName': 's', 'deploymentConfiguration': {'lifecycleHooks': [{'hookTargetArn':"
                               " 'arn:h', 'lifecycleStages': ['POST_SCALE_UP'], 'hookDetails': {'any': [1, 'two',"
                               " null, {'x': true}], 'n': 1.5}}]}}");
        const json_t *hook =
                json_array_get(json_object_get(json_object_get(out, "deploymentConfiguration"), "lifecycleHooks"), 0);
        json_t *expect = load("{'any': [1, 'two', null, {'x': true}], 'n': 1.5}");
        assert_true(json_equal(json_object_get(hook, "hookDetails"), expect));
        json_decref(expect);
        json_decref(out);
}

static void test_depth_bomb(void **state) {
        (void) state;
        /* Thousands of levels inside an unknown member: refused without recursion. */
        json_t *req = json_pack("{s:s,s:[]}", "family", "f", "containerDefinitions");
        assert_int_equal(json_object_set_new(req, "bomb", nested_arrays(5000)), 0);
        expect_error_json("RegisterTaskDefinition", req, ERR_KIND_SERIALIZATION, "bomb[0][0]",
                          "nesting deeper than 32 levels");
        json_decref(req);

        /* Inside a document member, which is copied as is. Depth counts the top-level object as 1:
         * {} > deploymentConfiguration {} > lifecycleHooks [] > hook {} > hookDetails = 4 levels above it. */
        for (int extra = 0; extra < 2; extra++) {
                json_t *hook = json_pack("{s:s,s:[s]}", "hookTargetArn", "arn:h", "lifecycleStages", "POST_SCALE_UP");
                assert_int_equal(json_object_set_new(hook, "hookDetails", nested_arrays(28 + extra)), 0);
                req = json_pack("{s:s,s:{s:[o]}}", "serviceName", "s", "deploymentConfiguration", "lifecycleHooks",
                                hook);
                if (extra == 0) {
                        json_t *out = check_ok_json("CreateService", req);
                        json_decref(out);
                } else {
                        expect_error_json("CreateService", req, ERR_KIND_SERIALIZATION,
                                          "deploymentConfiguration.lifecycleHooks[0].hookDetails",
                                          "nesting deeper than 32 levels");
                }
                json_decref(req);
        }

        /* Objects count as well as arrays. */
        json_t *deep = json_object();
        for (int i = 0; i < 40; i++)
                deep = json_pack("{s:o}", "k", deep);
        req = json_pack("{s:o}", "x", deep);
        expect_error_json("ListClusters", req, ERR_KIND_SERIALIZATION, "x.k.k.k", "nesting deeper than 32 levels");
        json_decref(req);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_operations_table),
                cmocka_unit_test(test_roundtrip_big_taskdef),
                cmocka_unit_test(test_output_shares_nothing),
                cmocka_unit_test(test_unknown_members_dropped),
                cmocka_unit_test(test_null_is_absent),
                cmocka_unit_test(test_null_input_is_empty_object),
                cmocka_unit_test(test_wrong_type_top_and_depth),
                cmocka_unit_test(test_integers_are_strict),
                cmocka_unit_test(test_timestamps_take_numbers),
                cmocka_unit_test(test_missing_required_at_depth),
                cmocka_unit_test(test_enum),
                cmocka_unit_test(test_min_max),
                cmocka_unit_test(test_document_copied),
                cmocka_unit_test(test_depth_bomb),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
