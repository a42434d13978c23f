/* fuzz_headers.c — the small parsers of values that arrive in headers and request fields:
 * the upstream's retry-after / retry-after-ms (seconds or an HTTP date), the client's
 * Authorization bearer token, the session id, and a configured base URL, key and
 * api-version.
 *
 * Input: lines (LF-separated); line 0 is the retry-after-ms value, line 1 retry-after,
 * line 2 an Authorization value, line 3 a session id, line 4 a base URL, line 5 a key,
 * line 6 an api-version. Missing lines are absent headers.
 *
 * Invariants (abort on violation): never crash or read past a string (ASan); a wait is
 * -1 or within (0, 60] s, and the same whatever the case of the header names; a bearer
 * token lies inside its header, is non-empty, has no space at either end; a valid session
 * id is 1..128 characters of [A-Za-z0-9._:-]; a refused base URL says why; an accepted
 * one starts with http:// or https://. */
#include "providers/provider.h"
#include "server/keys.h"
#include "server/sessions.h"
#include "server/tokens.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_headers: check failed at line %d: %s\n", __LINE__, #cond);       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define LINES 7

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    CHECK(copy);
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *line[LINES] = {0};
    char *p = copy;
    for (int i = 0; i < LINES && p; i++) {
        line[i] = p;
        char *nl = memchr(p, '\n', (size_t)(copy + size - p));
        if (nl) {
            *nl = '\0';
            p = nl + 1;
        } else {
            p = NULL;
        }
    }
    /* an embedded NUL ends a line early, as it would in a C string header */

    /* retry-after (the first two lines), in two header-name spellings */
    llmux__header h[2];
    size_t n = 0;
    if (line[0])
        h[n++] = (llmux__header){"retry-after-ms", line[0]};
    if (line[1])
        h[n++] = (llmux__header){"retry-after", line[1]};
    double w = llmux__retry_after(h, n, 1763719200.0);
    CHECK(w == -1.0 || (w > 0 && w <= 60));
    llmux__header H[2];
    for (size_t i = 0; i < n; i++)
        H[i] = (llmux__header){i == 0 && line[0] ? "Retry-After-Ms" : "RETRY-AFTER", h[i].value};
    CHECK(llmux__retry_after(H, n, 1763719200.0) == w);

    if (line[2]) {
        size_t len = 0;
        const char *t = llmux__bearer_token(line[2], &len);
        if (t) {
            CHECK(t >= line[2] && t + len <= line[2] + strlen(line[2]) && len > 0);
            CHECK(t[0] != ' ' && t[len - 1] != ' ');
        }
    }
    if (line[3] && llmux__session_id_valid(line[3])) {
        size_t len = strlen(line[3]);
        CHECK(len >= 1 && len <= LLMUX__SESSION_ID_MAX);
        for (size_t i = 0; i < len; i++)
            CHECK(isalnum((unsigned char)line[3][i]) || strchr("._:-", line[3][i]));
    }
    if (line[4]) {
        const char *why = NULL;
        if (llmux__base_url_check(line[4], &why))
            CHECK(strncasecmp(line[4], "http://", 7) == 0 ||
                  strncasecmp(line[4], "https://", 8) == 0);
        else
            CHECK(why && why[0]);
    }
    if (line[5])
        (void)llmux__key_chars_ok(line[5], strlen(line[5]));
    if (line[6])
        (void)llmux__api_version_check(line[6]);
    free(copy);
    return 0;
}
