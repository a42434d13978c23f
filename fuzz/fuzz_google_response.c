/* fuzz_google_response.c — the google adapter's response parser on arbitrary status, headers
 * and body: a usable answer with every field set, or a classified error; never a crash. */
#include "provider_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_response(LLMUX__PROVIDER_GOOGLE, data, size);
}
