/* tokens.c — see tokens.h. SHA-256 digests of the accepted tokens, compared without
 * early exit. */
#include "server/tokens.h"

#include "core/secret.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DIGEST_LEN 32

struct llmux__token_set {
    size_t n;
    unsigned char (*digests)[DIGEST_LEN];
};

static bool digest_of(const char *s, size_t n, unsigned char out[DIGEST_LEN])
{
    unsigned int len = 0;
    return EVP_Digest(s, n, out, &len, EVP_sha256(), NULL) == 1 && len == DIGEST_LEN;
}

static bool token_chars_ok(const char *s, size_t n)
{
    if (n == 0 || n > LLMUX__TOKEN_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e)
            return false;
    }
    return true;
}

/* An empty set with room for n digests. */
static llmux__token_set *set_alloc(size_t n, llmux__error *err)
{
    llmux__token_set *set = calloc(1, sizeof *set);
    if (set && n > 0 && !(set->digests = calloc(n, sizeof *set->digests))) {
        free(set);
        set = NULL;
    }
    if (!set)
        llmux__error_set(err, LLMUX_ENOMEM, NULL);
    return set;
}

/* Adds the n bytes at s as token number `pos` of `total` (for messages). */
static bool set_add(llmux__token_set *set, const char *s, size_t n, size_t pos, size_t total,
                    llmux__error *err)
{
    if (!token_chars_ok(s, n)) {
        llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                         "token %zu of %zu: must be 1-%d visible ASCII characters (no spaces or "
                         "control characters)",
                         pos, total, LLMUX__TOKEN_MAX);
        return false;
    }
    if (!digest_of(s, n, set->digests[set->n])) {
        llmux__error_set(err, LLMUX_ENOMEM, "cannot hash token %zu", pos);
        return false;
    }
    set->n++;
    return true;
}

llmux__token_set *llmux__token_set_new(const char *const *tokens, size_t n, llmux__error *err)
{
    llmux__error_clear(err);
    llmux__token_set *set = set_alloc(n, err);
    for (size_t i = 0; set && i < n; i++) {
        const char *t = tokens[i] ? tokens[i] : "";
        if (!set_add(set, t, strlen(t), i + 1, n, err)) {
            llmux__token_set_free(set);
            set = NULL;
        }
    }
    return set;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

llmux__token_set *llmux__token_set_parse(const char *list, llmux__error *err)
{
    llmux__error_clear(err);
    if (!list)
        list = "";
    size_t total = 0;
    for (const char *p = list;; p++) {
        const char *end = p + strcspn(p, ",");
        while (p < end && is_blank(*p))
            p++;
        if (p < end)
            total++;
        if (!*end)
            break;
        p = end;
    }
    llmux__token_set *set = set_alloc(total, err);
    size_t pos = 0;
    for (const char *p = list; set;) {
        const char *end = p + strcspn(p, ",");
        const char *a = p, *b = end;
        while (a < b && is_blank(*a))
            a++;
        while (b > a && is_blank(b[-1]))
            b--;
        if (a < b && !set_add(set, a, (size_t)(b - a), ++pos, total, err)) {
            llmux__token_set_free(set);
            return NULL;
        }
        if (!*end)
            break;
        p = end + 1;
    }
    return set;
}

size_t llmux__token_set_count(const llmux__token_set *set)
{
    return set ? set->n : 0;
}

bool llmux__token_set_check(const llmux__token_set *set, const char *presented, size_t len)
{
    if (!set || set->n == 0 || !presented || len > LLMUX__TOKEN_MAX)
        return false;
    unsigned char d[DIGEST_LEN];
    if (!digest_of(presented, len, d))
        return false;
    int matched = 0;
    for (size_t i = 0; i < set->n; i++)
        matched |= CRYPTO_memcmp(d, set->digests[i], DIGEST_LEN) == 0;
    llmux__secret_wipe(d, sizeof d);
    return matched != 0;
}

const char *llmux__bearer_token(const char *header, size_t *len)
{
    if (!header || strncasecmp(header, "Bearer", 6) != 0 || !is_blank(header[6]))
        return NULL;
    const char *t = header + 6;
    while (is_blank(*t))
        t++;
    size_t n = strlen(t);
    while (n > 0 && is_blank(t[n - 1]))
        n--;
    if (n == 0)
        return NULL;
    *len = n;
    return t;
}

void llmux__token_set_free(llmux__token_set *set)
{
    if (!set)
        return;
    if (set->digests)
        llmux__secret_wipe(set->digests, set->n * sizeof *set->digests);
    free(set->digests);
    free(set);
}
