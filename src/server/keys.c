/* keys.c — see keys.h. Managed keys from LLMUX_KEYS_DIR files or the environment,
 * operator base URLs, and the checks shared with the session store. */
#include "server/keys.h"

#include "core/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define API_VERSION_MAX 64

/* What the operator configured for one provider. */
typedef struct managed_provider {
    char *key;         /* secret memory, or NULL */
    char *base_url;    /* malloc, or NULL */
    char *api_version; /* malloc, or NULL */
    char source[64];   /* where the key came from: "file openai", "env OPENAI_API_KEY" */
} managed_provider;

struct llmux__managed_keys {
    managed_provider p[LLMUX__PROVIDER_COUNT];
};

/* Per provider: key file names, key variables (in order), base URL variable. */
static const struct {
    const char *files[2];
    const char *key_vars[2];
    const char *base_url_var;
} sources[LLMUX__PROVIDER_COUNT] = {
    [LLMUX__PROVIDER_OPENAI] = {{"openai", NULL},
                                {"OPENAI_API_KEY", NULL},
                                "LLMUX_OPENAI_BASE_URL"},
    [LLMUX__PROVIDER_AZURE] = {{"azure", NULL},
                               {"AZURE_OPENAI_API_KEY", NULL},
                               "AZURE_OPENAI_ENDPOINT"},
    [LLMUX__PROVIDER_ANTHROPIC] = {{"anthropic", NULL},
                                   {"ANTHROPIC_API_KEY", NULL},
                                   "LLMUX_ANTHROPIC_BASE_URL"},
    [LLMUX__PROVIDER_GOOGLE] = {{"google", "gemini"},
                                {"GEMINI_API_KEY", "GOOGLE_API_KEY"},
                                "LLMUX_GOOGLE_BASE_URL"},
};

const char *llmux__getenv_process(const char *name, void *ud)
{
    (void)ud;
    return getenv(name);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool llmux__key_chars_ok(const char *s, size_t n)
{
    if (!s || n == 0 || n > LLMUX__KEY_FILE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e)
            return false;
    }
    return true;
}

bool llmux__api_version_check(const char *v)
{
    if (!v)
        return false;
    size_t n = strlen(v);
    if (n == 0 || n > API_VERSION_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* Length of the scheme prefix ("http://" or "https://"), 0 when neither. */
static size_t scheme_len(const char *url)
{
    if (strncasecmp(url, "http://", 7) == 0)
        return 7;
    if (strncasecmp(url, "https://", 8) == 0)
        return 8;
    return 0;
}

bool llmux__base_url_check(const char *url, const char **why)
{
    const char *reason = NULL;
    size_t n = url ? strlen(url) : 0;
    size_t skip = url ? scheme_len(url) : 0;
    if (n == 0)
        reason = "must not be empty";
    else if (n > LLMUX__BASE_URL_MAX)
        reason = "is longer than 2048 bytes";
    else if (skip == 0)
        reason = "must start with http:// or https://";
    for (size_t i = 0; !reason && i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f)
            reason = "must contain only visible ASCII characters (no spaces or control "
                     "characters; use punycode for international host names)";
        else if (c == '?')
            reason = "must not contain a query ('?')";
        else if (c == '#')
            reason = "must not contain a fragment ('#')";
    }
    if (!reason) {
        const char *auth = url + skip;
        size_t alen = strcspn(auth, "/");
        const char *at = memchr(auth, '@', alen);
        const char *host_end = auth + alen;
        if (alen > 0 && auth[0] == '[') {
            const char *close = memchr(auth, ']', alen);
            host_end = close ? close + 1 : auth;
        } else {
            const char *colon = memchr(auth, ':', alen);
            if (colon)
                host_end = colon;
        }
        if (at)
            reason = "must not contain credentials (user:password@); pass the key as api_key";
        else if (host_end == auth || (auth[0] == '[' && host_end - auth <= 2))
            reason = "must name a host";
    }
    if (why)
        *why = reason;
    return reason == NULL;
}

/* A variable's value, NULL when unset or empty. */
static const char *lookup(llmux__getenv_fn getenv_fn, void *ud, const char *name)
{
    const char *v = getenv_fn(name, ud);
    return v && v[0] ? v : NULL;
}

/* Trims surrounding whitespace from the n bytes at s: *start and the new length. */
static size_t trim(const char *s, size_t n, size_t *start)
{
    size_t a = 0;
    while (a < n && is_space(s[a]))
        a++;
    while (n > a && is_space(s[n - 1]))
        n--;
    *start = a;
    return n - a;
}

/*
 * Reads dir/name into *key (secret memory). A missing file leaves *key NULL and is not
 * an error. Returns LLMUX_OK or the error (set in err) naming the file.
 */
static llmux_code read_key_file(int dfd, const char *dir, const char *name, char **key,
                                llmux__error *err)
{
    *key = NULL;
    char buf[LLMUX__KEY_FILE_MAX + 1];
    size_t got = 0;
    llmux_code rc = LLMUX_OK;
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return LLMUX_OK;
        return llmux__error_set(err, LLMUX_EINVALID_REQUEST, "keys file '%s/%s': cannot open: %s",
                                dir, name, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = llmux__error_set(err, LLMUX_EINVALID_REQUEST, "keys file '%s/%s': cannot stat: %s",
                              dir, name, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = llmux__error_set(err, LLMUX_EINVALID_REQUEST, "keys file '%s/%s': not a regular file",
                              dir, name);
        goto out;
    }
    if (st.st_size > LLMUX__KEY_FILE_MAX)
        goto too_big;
    for (;;) {
        ssize_t r = read(fd, buf + got, sizeof buf - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = llmux__error_set(err, LLMUX_EINVALID_REQUEST, "keys file '%s/%s': cannot read: %s",
                                  dir, name, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
        if (got > LLMUX__KEY_FILE_MAX)
            goto too_big;
    }
    size_t start;
    size_t n = trim(buf, got, &start);
    if (n == 0) {
        rc = llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                              "keys file '%s/%s': empty (no key in it)", dir, name);
        goto out;
    }
    if (!llmux__key_chars_ok(buf + start, n)) {
        rc = llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                              "keys file '%s/%s': a key must be visible ASCII with no spaces "
                              "or control characters inside",
                              dir, name);
        goto out;
    }
    *key = llmux__secret_dup(buf + start, n);
    if (!*key)
        rc = llmux__error_set(err, LLMUX_ENOMEM, NULL);
    goto out;
too_big:
    rc = llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                          "keys file '%s/%s': larger than %d bytes (is it the right file?)", dir,
                          name, LLMUX__KEY_FILE_MAX);
out:
    llmux__secret_wipe(buf, sizeof buf);
    close(fd);
    return rc;
}

/* The key files of LLMUX_KEYS_DIR (when set) into mk. */
static llmux_code load_dir(llmux__managed_keys *mk, const char *dir, llmux__error *err)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                                "LLMUX_KEYS_DIR '%s': cannot open as a directory: %s", dir,
                                strerror(errno));
    llmux_code rc = LLMUX_OK;
    for (int p = 0; p < LLMUX__PROVIDER_COUNT && rc == LLMUX_OK; p++) {
        for (int f = 0; f < 2 && sources[p].files[f] && rc == LLMUX_OK; f++) {
            char *key;
            rc = read_key_file(dfd, dir, sources[p].files[f], &key, err);
            if (rc != LLMUX_OK || !key)
                continue;
            if (mk->p[p].key) {
                llmux__secret_free(key);
                rc = llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                                      "LLMUX_KEYS_DIR '%s': both '%s' and '%s' hold a key for %s; "
                                      "keep one",
                                      dir, sources[p].files[0], sources[p].files[f],
                                      llmux__provider_name((llmux__provider)p));
                continue;
            }
            mk->p[p].key = key;
            snprintf(mk->p[p].source, sizeof mk->p[p].source, "file %s", sources[p].files[f]);
        }
    }
    close(dfd);
    return rc;
}

/* Keys from the environment for providers that have no key file. */
static llmux_code load_env_keys(llmux__managed_keys *mk, llmux__getenv_fn getenv_fn, void *ud,
                                llmux__error *err)
{
    for (int p = 0; p < LLMUX__PROVIDER_COUNT; p++) {
        for (int v = 0; v < 2 && sources[p].key_vars[v] && !mk->p[p].key; v++) {
            const char *name = sources[p].key_vars[v];
            const char *val = lookup(getenv_fn, ud, name);
            if (!val)
                continue;
            size_t start, n = trim(val, strlen(val), &start);
            if (n == 0)
                continue;
            if (!llmux__key_chars_ok(val + start, n))
                return llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                                        "%s: a key must be 1-%d visible ASCII characters with no "
                                        "spaces or control characters inside",
                                        name, LLMUX__KEY_FILE_MAX);
            mk->p[p].key = llmux__secret_dup(val + start, n);
            if (!mk->p[p].key)
                return llmux__error_set(err, LLMUX_ENOMEM, NULL);
            snprintf(mk->p[p].source, sizeof mk->p[p].source, "env %s", name);
        }
    }
    return LLMUX_OK;
}

static llmux_code load_urls(llmux__managed_keys *mk, llmux__getenv_fn getenv_fn, void *ud,
                            llmux__error *err)
{
    for (int p = 0; p < LLMUX__PROVIDER_COUNT; p++) {
        const char *name = sources[p].base_url_var;
        const char *url = lookup(getenv_fn, ud, name);
        if (!url)
            continue;
        const char *why;
        if (!llmux__base_url_check(url, &why))
            return llmux__error_set(err, LLMUX_EINVALID_REQUEST, "%s: %s", name, why);
        mk->p[p].base_url = strdup(url);
        if (!mk->p[p].base_url)
            return llmux__error_set(err, LLMUX_ENOMEM, NULL);
    }
    const char *ver = lookup(getenv_fn, ud, "AZURE_OPENAI_API_VERSION");
    if (ver) {
        if (!llmux__api_version_check(ver))
            return llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                                    "AZURE_OPENAI_API_VERSION: must be 1-%d characters of "
                                    "A-Z a-z 0-9 . _ -",
                                    API_VERSION_MAX);
        mk->p[LLMUX__PROVIDER_AZURE].api_version = strdup(ver);
        if (!mk->p[LLMUX__PROVIDER_AZURE].api_version)
            return llmux__error_set(err, LLMUX_ENOMEM, NULL);
    }
    return LLMUX_OK;
}

llmux__managed_keys *llmux__managed_keys_load(llmux__getenv_fn getenv_fn, void *ud,
                                              llmux__error *err)
{
    llmux__error_clear(err);
    if (!getenv_fn)
        getenv_fn = llmux__getenv_process;
    llmux__managed_keys *mk = calloc(1, sizeof *mk);
    if (!mk) {
        llmux__error_set(err, LLMUX_ENOMEM, NULL);
        return NULL;
    }
    llmux_code rc = LLMUX_OK;
    const char *dir = lookup(getenv_fn, ud, "LLMUX_KEYS_DIR");
    if (dir)
        rc = load_dir(mk, dir, err);
    if (rc == LLMUX_OK)
        rc = load_env_keys(mk, getenv_fn, ud, err);
    if (rc == LLMUX_OK)
        rc = load_urls(mk, getenv_fn, ud, err);
    if (rc == LLMUX_OK && mk->p[LLMUX__PROVIDER_AZURE].key &&
        !mk->p[LLMUX__PROVIDER_AZURE].base_url)
        rc = llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                              "a managed Azure key is set (%s) but AZURE_OPENAI_ENDPOINT is not: "
                              "the key needs its resource URL",
                              mk->p[LLMUX__PROVIDER_AZURE].source);
    if (rc != LLMUX_OK) {
        llmux__managed_keys_free(mk);
        return NULL;
    }
    return mk;
}

static const managed_provider *entry(const llmux__managed_keys *mk, llmux__provider p)
{
    return mk && (unsigned)p < LLMUX__PROVIDER_COUNT ? &mk->p[p] : NULL;
}

bool llmux__managed_keys_has(const llmux__managed_keys *mk, llmux__provider p)
{
    const managed_provider *e = entry(mk, p);
    return e && e->key;
}

const char *llmux__managed_keys_key(const llmux__managed_keys *mk, llmux__provider p)
{
    const managed_provider *e = entry(mk, p);
    return e ? e->key : NULL;
}

const char *llmux__managed_keys_base_url(const llmux__managed_keys *mk, llmux__provider p)
{
    const managed_provider *e = entry(mk, p);
    return e ? e->base_url : NULL;
}

const char *llmux__managed_keys_api_version(const llmux__managed_keys *mk, llmux__provider p)
{
    const managed_provider *e = entry(mk, p);
    return e ? e->api_version : NULL;
}

/* snprintf-style appender: keeps counting past the end of buf. */
typedef struct summary_buf {
    char *buf;
    size_t len;
    size_t need;
} summary_buf;

static void put(summary_buf *s, const char *text, size_t n)
{
    if (s->need < s->len) {
        size_t room = s->len - 1 - s->need;
        memcpy(s->buf + s->need, text, n < room ? n : room);
    }
    s->need += n;
}

static void puts_(summary_buf *s, const char *text)
{
    put(s, text, strlen(text));
}

size_t llmux__managed_keys_summary(const llmux__managed_keys *mk, char *buf, size_t len)
{
    summary_buf s = {buf, len, 0};
    puts_(&s, "managed keys: ");
    int keys = 0;
    for (int p = 0; mk && p < LLMUX__PROVIDER_COUNT; p++) {
        if (!mk->p[p].key)
            continue;
        puts_(&s, keys++ ? ", " : "");
        puts_(&s, llmux__provider_name((llmux__provider)p));
        puts_(&s, " (");
        puts_(&s, mk->p[p].source);
        puts_(&s, ")");
    }
    if (keys == 0)
        puts_(&s, "none");
    int urls = 0;
    for (int p = 0; mk && p < LLMUX__PROVIDER_COUNT; p++) {
        const char *url = mk->p[p].base_url;
        if (!url)
            continue;
        puts_(&s, urls++ ? ", " : "; base urls: ");
        puts_(&s, llmux__provider_name((llmux__provider)p));
        puts_(&s, "=");
        /* scheme://host[:port] only: a path or query is nobody's business in a log. */
        size_t skip = scheme_len(url);
        put(&s, url, skip + strcspn(url + skip, "/"));
    }
    const char *ver = mk ? mk->p[LLMUX__PROVIDER_AZURE].api_version : NULL;
    if (ver) {
        puts_(&s, "; azure api_version=");
        puts_(&s, ver);
    }
    if (len > 0)
        buf[s.need < len ? s.need : len - 1] = '\0';
    return s.need;
}

void llmux__managed_keys_free(llmux__managed_keys *mk)
{
    if (!mk)
        return;
    for (int p = 0; p < LLMUX__PROVIDER_COUNT; p++) {
        llmux__secret_free(mk->p[p].key);
        free(mk->p[p].base_url);
        free(mk->p[p].api_version);
    }
    llmux__secret_wipe(mk, sizeof *mk);
    free(mk);
}
