/* fuzz_google_stream.c — the google stream decoder (through the SSE parser) on arbitrary bytes
 * split anywhere: valid delta order, every chunk valid JSON, exactly one end. */
#include "provider_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_stream(LLMUX__PROVIDER_GOOGLE, data, size);
}
