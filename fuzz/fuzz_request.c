/* fuzz_request.c — request decode + validation + plan + encode round trip.
 * Invariants: never crash or leak; a request that decodes re-encodes into JSON
 * that decodes again to a plan with the same number of attempts. */
#include "core/request.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    llmux__request *req = NULL;
    llmux__error err;
    if (llmux__request_decode((const char *)data, size, &req, &err) != LLMUX_OK)
        return 0;
    llmux__plan plan;
    if (llmux__plan_build(req, &plan, &err) == LLMUX_OK) {
        cJSON *pj = llmux__plan_to_json(&plan);
        cJSON_Delete(pj);
        cJSON *j = llmux__request_to_json(req);
        char *text = j ? cJSON_PrintUnformatted(j) : NULL;
        cJSON_Delete(j);
        if (text) {
            llmux__request *again = NULL;
            if (llmux__request_decode(text, strlen(text), &again, &err) != LLMUX_OK)
                abort(); /* what we encode must decode */
            llmux__plan plan2;
            if (llmux__plan_build(again, &plan2, &err) == LLMUX_OK) {
                if (plan2.n_steps != plan.n_steps)
                    abort();
                llmux__plan_free(&plan2);
            }
            llmux__request_free(again);
            cJSON_free(text);
        }
        llmux__plan_free(&plan);
    }
    llmux__request_free(req);
    return 0;
}
