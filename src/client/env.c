/*
 * env.c — seed 001's conveniences: provider options read from the environment
 * (get_openai_provider() & co) and a .env loader in the manner of python-dotenv.
 *
 * Keys pass through here but are never copied into an error message; the file buffer
 * of a .env (which holds keys) is wiped before it is released.
 */
#include "client/client.h"
#include "core/secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOTENV_MAX ((size_t)1 << 20)

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

llmux_code llmux_provider_options_from_env(const char *provider, llmux_provider_options *out,
                                           llmux_error *err)
{
    memset(out, 0, sizeof *out);
    llmux__provider p;
    if (!provider || !llmux__provider_parse(provider, &p))
        return llmux__client_error(err, LLMUX_EINVALID_REQUEST,
                                   "unknown provider '%.40s' (expected openai, azure, anthropic "
                                   "or google)",
                                   provider ? provider : "(null)");
    switch (p) {
    case LLMUX__PROVIDER_OPENAI:
        if (!(out->api_key = env_nonempty("OPENAI_API_KEY")))
            return llmux__client_error(err, LLMUX_EINVALID_REQUEST, "OPENAI_API_KEY not set");
        out->base_url = env_nonempty("OPENAI_BASE_URL");
        break;
    case LLMUX__PROVIDER_AZURE: {
        const char *key = env_nonempty("AZURE_OPENAI_API_KEY");
        const char *endpoint = env_nonempty("AZURE_OPENAI_ENDPOINT");
        if (!key || !endpoint)
            return llmux__client_error(
                err, LLMUX_EINVALID_REQUEST,
                "AZURE_OPENAI_API_KEY and AZURE_OPENAI_ENDPOINT required (%s not set)",
                !key && !endpoint ? "neither is"
                : !key            ? "AZURE_OPENAI_API_KEY is"
                                  : "AZURE_OPENAI_ENDPOINT is");
        out->api_key = key;
        out->base_url = endpoint;
        out->api_version = env_nonempty("AZURE_OPENAI_API_VERSION");
        break;
    }
    case LLMUX__PROVIDER_ANTHROPIC:
        if (!(out->api_key = env_nonempty("ANTHROPIC_API_KEY")))
            return llmux__client_error(err, LLMUX_EINVALID_REQUEST, "ANTHROPIC_API_KEY not set");
        break;
    default:
        out->api_key = env_nonempty("GEMINI_API_KEY");
        if (!out->api_key)
            out->api_key = env_nonempty("GOOGLE_API_KEY");
        if (!out->api_key)
            return llmux__client_error(err, LLMUX_EINVALID_REQUEST,
                                       "GEMINI_API_KEY (or GOOGLE_API_KEY) not set");
        break;
    }
    return llmux__client_error(err, LLMUX_OK, "%s", "");
}

llmux_code llmux_configure_provider_from_env(llmux_session *session, const char *provider,
                                             llmux_error *err)
{
    llmux_provider_options po;
    llmux_code rc = llmux_provider_options_from_env(provider, &po, err);
    if (rc != LLMUX_OK)
        return rc;
    return llmux_configure_provider(session, provider, &po, err);
}

/* ---- .env ------------------------------------------------------------------------------ */

typedef struct dotenv_entry {
    char *name;
    char *value; /* secret memory */
} dotenv_entry;

typedef struct dotenv {
    dotenv_entry *v;
    size_t n, cap;
} dotenv;

static void dotenv_free(dotenv *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].name);
        llmux__secret_free(d->v[i].value);
    }
    free(d->v);
    memset(d, 0, sizeof *d);
}

/* A value being built (secret memory, grown by doubling). */
typedef struct valbuf {
    char *p;
    size_t len, cap;
    bool oom;
} valbuf;

static void vb_put(valbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = llmux__secret_alloc(cap);
        if (!np) {
            b->oom = true;
            return;
        }
        if (b->len)
            memcpy(np, b->p, b->len);
        llmux__secret_free(b->p);
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static bool name_char(char c, bool first)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           (!first && ((c >= '0' && c <= '9') || c == '.' || c == '-'));
}

/* The value of ${name} while loading: an earlier entry of the file, else the environment. */
static const char *lookup(const dotenv *d, const char *name, size_t n)
{
    for (size_t i = d->n; i-- > 0;)
        if (strlen(d->v[i].name) == n && memcmp(d->v[i].name, name, n) == 0)
            return d->v[i].value;
    char buf[256];
    if (n >= sizeof buf)
        return NULL;
    memcpy(buf, name, n);
    buf[n] = '\0';
    return getenv(buf);
}

/* Appends s[0..n) expanding ${NAME}. */
static void put_expanded(valbuf *b, const dotenv *d, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] == '$' && i + 1 < n && s[i + 1] == '{') {
            const char *close = memchr(s + i + 2, '}', n - i - 2);
            if (close) {
                const char *v = lookup(d, s + i + 2, (size_t)(close - (s + i + 2)));
                if (v)
                    vb_put(b, v, strlen(v));
                i = (size_t)(close - s) + 1;
                continue;
            }
        }
        vb_put(b, s + i, 1);
        i++;
    }
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Parses the whole text into d. Returns 0 or the 1-based line of the first error. */
static size_t dotenv_parse(const char *text, size_t len, dotenv *d, bool *oom)
{
    size_t i = 0, line = 1;
    *oom = false;
    while (i < len) {
        size_t start_line = line;
        while (i < len && (is_blank(text[i]) || text[i] == '\r'))
            i++;
        if (i >= len)
            break;
        if (text[i] == '\n') {
            i++;
            line++;
            continue;
        }
        if (text[i] == '#') {
            while (i < len && text[i] != '\n')
                i++;
            continue;
        }
        if (len - i > 7 && memcmp(text + i, "export", 6) == 0 && is_blank(text[i + 6])) {
            i += 7;
            while (i < len && is_blank(text[i]))
                i++;
        }
        size_t ns = i;
        while (i < len && name_char(text[i], i == ns))
            i++;
        size_t nl = i - ns;
        while (i < len && is_blank(text[i]))
            i++;
        if (nl == 0 || i >= len || text[i] != '=')
            return start_line;
        i++;
        while (i < len && is_blank(text[i]))
            i++;
        valbuf b = {0};
        if (i < len && (text[i] == '\'' || text[i] == '"')) {
            char q = text[i++];
            size_t vs = i;
            bool closed = false;
            while (i < len) {
                if (text[i] == '\\' && q == '"' && i + 1 < len) {
                    i += 2;
                    continue;
                }
                if (text[i] == q) {
                    closed = true;
                    break;
                }
                if (text[i] == '\n')
                    line++;
                i++;
            }
            if (!closed) {
                llmux__secret_free(b.p);
                return start_line;
            }
            if (q == '\'') {
                vb_put(&b, text + vs, i - vs);
            } else {
                size_t k = vs;
                while (k < i) {
                    size_t run = k;
                    while (run < i && text[run] != '\\')
                        run++;
                    put_expanded(&b, d, text + k, run - k);
                    if (run >= i)
                        break;
                    char e = text[run + 1];
                    const char *rep = e == 'n' ? "\n" : e == 't' ? "\t" : e == 'r' ? "\r" : NULL;
                    char one[2] = {e, '\0'};
                    if (!rep && (e == '"' || e == '\\' || e == '\'' || e == '$'))
                        rep = one;
                    if (rep) {
                        vb_put(&b, rep, strlen(rep));
                    } else {
                        vb_put(&b, text + run, 2);
                    }
                    k = run + 2;
                }
            }
            i++; /* the closing quote */
            while (i < len && is_blank(text[i]))
                i++;
            if (i < len && text[i] == '#')
                while (i < len && text[i] != '\n')
                    i++;
            while (i < len && text[i] == '\r')
                i++;
            if (i < len && text[i] != '\n') {
                llmux__secret_free(b.p);
                return start_line;
            }
        } else {
            size_t vs = i;
            while (i < len && text[i] != '\n') {
                if (text[i] == '#' && i > vs && is_blank(text[i - 1]))
                    break;
                i++;
            }
            size_t ve = i;
            while (ve > vs && (is_blank(text[ve - 1]) || text[ve - 1] == '\r'))
                ve--;
            put_expanded(&b, d, text + vs, ve - vs);
            while (i < len && text[i] != '\n')
                i++;
        }
        if (!b.p && !b.oom)
            vb_put(&b, "", 0);
        if (d->n == d->cap) {
            size_t cap = d->cap ? d->cap * 2 : 16;
            dotenv_entry *nv = realloc(d->v, cap * sizeof *nv);
            if (!nv)
                b.oom = true;
            else {
                d->v = nv;
                d->cap = cap;
            }
        }
        char *name = b.oom ? NULL : strndup(text + ns, nl);
        if (!name) {
            llmux__secret_free(b.p);
            *oom = true;
            return start_line;
        }
        d->v[d->n].name = name;
        d->v[d->n].value = b.p;
        d->n++;
    }
    return 0;
}

llmux_code llmux_load_dotenv(const char *path, bool override, llmux_error *err)
{
    if (!path)
        path = ".env";
    FILE *f = fopen(path, "rb");
    if (!f)
        return llmux__client_error(err, errno == ENOENT ? LLMUX_ENOT_FOUND : LLMUX_EINVALID_REQUEST,
                                   "cannot open '%.200s': %s", path, strerror(errno));
    char *buf = llmux__secret_alloc(DOTENV_MAX);
    if (!buf) {
        fclose(f);
        return llmux__client_error(err, LLMUX_ENOMEM, "out of memory");
    }
    size_t len = fread(buf, 1, DOTENV_MAX, f);
    bool too_big = len == DOTENV_MAX && fgetc(f) != EOF;
    bool read_error = ferror(f);
    fclose(f);
    llmux_code rc = LLMUX_OK;
    dotenv d = {0};
    if (too_big || read_error) {
        rc = llmux__client_error(err, LLMUX_EINVALID_REQUEST, "'%.200s': %s", path,
                                 too_big ? "larger than 1 MiB" : "read error");
        goto out;
    }
    bool oom = false;
    size_t bad = dotenv_parse(buf, len, &d, &oom);
    if (oom) {
        rc = llmux__client_error(err, LLMUX_ENOMEM, "out of memory reading '%.200s'", path);
        goto out;
    }
    if (bad) {
        rc = llmux__client_error(err, LLMUX_EINVALID_REQUEST,
                                 "'%.200s' line %zu: expected NAME=VALUE (a value in quotes must "
                                 "end with the same quote)",
                                 path, bad);
        goto out;
    }
    for (size_t i = 0; i < d.n; i++) {
        if (setenv(d.v[i].name, d.v[i].value, override ? 1 : 0) != 0) {
            rc = llmux__client_error(err, LLMUX_ENOMEM, "cannot set %.100s", d.v[i].name);
            goto out;
        }
    }
    llmux__client_error(err, LLMUX_OK, "%s", "");
out:
    dotenv_free(&d);
    llmux__secret_free(buf);
    return rc;
}
