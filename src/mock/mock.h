/* mock.h — the mock provider: a fake upstream that answers like OpenAI, Azure OpenAI,
 * Anthropic and Google Gemini (streaming too), with scripted faults and a request log.
 *
 * It writes every provider shape from its own code (src/mock/mock_wire.c), never through
 * src/providers/: the adapters are what it is there to test.
 *
 * A mock runs its own libevent event_base on its own thread, so it can serve a test or the
 * `llmux demo` command in-process as well as the `llmux mock` CLI. The HTTP surface (provider
 * endpoints, /_mock/script, /_mock/reset, /_mock/requests, /_mock/health) is documented in
 * docs/mock.md.
 *
 * Threads: llmux__mock_start(), llmux__mock_port() and llmux__mock_stop() may be called from
 * any one thread (not concurrently on the same mock); everything else happens on the mock's
 * own thread. Several mocks may run in one process.
 */
#ifndef LLMUX_MOCK_H
#define LLMUX_MOCK_H

#include "core/error.h"
#include "llmux.h"

#include <stdbool.h>
#include <stddef.h>

/* The default answer: several sentences with an abbreviation, a decimal and a bit of
 * markdown, so sentence chunking has something to get wrong. */
#define LLMUX__MOCK_DEFAULT_TEXT                                                                   \
    "Hello from the llmux mock. Dr. Ada Byte measured 3.14 meters of cable today. That is "        \
    "**good** news! Is there anything else I can check for you?"

/* How the mock counts tokens for usage: every whitespace-separated word costs
 * ceil(length / 4). NULL counts 0. Exposed so tests can predict usage numbers. */
long llmux__mock_count_tokens(const char *text);

/* The wire formats the mock speaks. The numbers index llmux__mock_options.keys. */
typedef enum llmux__mock_provider {
    LLMUX__MOCK_OPENAI = 0,
    LLMUX__MOCK_AZURE = 1,
    LLMUX__MOCK_ANTHROPIC = 2,
    LLMUX__MOCK_GOOGLE = 3,
    LLMUX__MOCK_PROVIDER_COUNT = 4
} llmux__mock_provider;

/* "openai", "azure", "anthropic", "google". Never NULL ("unknown" when out of range). */
const char *llmux__mock_provider_name(int provider);

/* The provider whose name is `name`, or -1. */
int llmux__mock_provider_from_name(const char *name);

/* How to start a mock. Zero-initialise, then set what you need; every pointer is borrowed
 * only for the duration of llmux__mock_start() (the mock copies what it keeps). */
typedef struct llmux__mock_options {
    const char *listen;   /* "HOST:PORT" ("[::1]:0" for IPv6); NULL = "127.0.0.1:0".
                           * Port 0 picks a free port: read it with llmux__mock_port(). */
    bool echo;            /* answer with the last user message instead of the default text */
    const char *tls_cert; /* PEM certificate file: serve HTTPS (needs tls_key too) */
    const char *tls_key;  /* PEM private key file */
    const char *keys[LLMUX__MOCK_PROVIDER_COUNT]; /* NULL: any non-empty key is accepted;
                                                   * else only this key for that provider */
    size_t log_limit; /* request-log entries kept (oldest dropped first); 0 = 10000 */
    bool verbose;     /* one line per request on stderr */
} llmux__mock_options;

/* A running mock. Opaque. */
typedef struct llmux__mock llmux__mock;

/* Binds the listening socket (so the port is known and connections are accepted once this
 * returns), then serves on a new thread. On success *out is the mock, owned by the caller
 * and freed with llmux__mock_stop(). On failure *out is NULL, nothing keeps running, and err
 * (when not NULL) names the cause: LLMUX_EINVALID_REQUEST for a bad address or TLS file,
 * LLMUX_EIO when binding fails, LLMUX_ENOMEM. */
llmux_code llmux__mock_start(const llmux__mock_options *opts, llmux__mock **out, llmux__error *err);

/* The TCP port the mock listens on (the real one when port 0 was asked for). */
int llmux__mock_port(const llmux__mock *mock);

/* Stops the serving thread, closes the listener and every connection (responses in progress
 * are cut), and frees everything. NULL is a no-op. */
void llmux__mock_stop(llmux__mock *mock);

#endif
