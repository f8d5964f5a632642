/* fuzz_api.c — libFuzzer target for request decoding: the router, the JSON parser, the input shape checker and the
 * handlers, against an in-memory store. The input is "<Action>\n<body>": the first line becomes the X-Amz-Target
 * action, the rest the request body. Built with clang's -fsanitize=fuzzer, or linked with replay.c to replay a
 * corpus under ctest with any compiler. */
#include <stdint.h>
#include <string.h>

#include "api.h"
#include "ecs.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct api *fuzz_api;

static struct api *api_get(void) {
        if (fuzz_api)
                return fuzz_api;
        struct err e = {0};
        struct rt_store *store = NULL;
        log_max_level = LOG_ERROR;
        if (rt_store_open(":memory:", &store, &e) < 0 ||
            api_new(&(struct api_config){.region = "us-east-1", .account = "000000000000", .store = store},
                    &fuzz_api, &e) < 0)
                abort();
        return fuzz_api;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *nl = memchr(data, '\n', size);
        size_t action_len = nl ? (size_t) (nl - (const char *) data) : size;
        if (action_len > 128)
                return 0;
        char target[256];
        int n = snprintf(target, sizeof(target), "%s%.*s", ECS_TARGET_PREFIX, (int) action_len, (const char *) data);
        if (n < 0)
                return 0;
        const char *body = nl ? nl + 1 : "";
        size_t body_len = nl ? size - action_len - 1 : 0;
        struct api_request req = {
                .method = "POST",
                .path = "/",
                .target = target,
                .authorization = "AWS4-HMAC-SHA256 Credential=AKID/20261124/eu-west-1/ecs/aws4_request",
                .body = body,
                .body_len = body_len,
        };
        struct api_response resp;
        api_handle(api_get(), &req, &resp);
        if (resp.status != 200 && resp.status != 400)
                abort(); /* a 500 means an input reached an internal failure: that is a bug to find */
        api_response_release(&resp);
        return 0;
}
