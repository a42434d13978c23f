/* url_policy.c — see url_policy.h. */
#include "server/url_policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HOST_MAX 256

/* An address in one form: IPv4 as 4 bytes, IPv6 as 16. */
typedef struct addr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char b[16];
} addr;

typedef struct rule {
    bool is_range;
    char *glob;       /* host glob, lower-cased, trailing dots removed (when !is_range) */
    addr net;         /* range (when is_range) */
    int prefix;       /* bits */
    char *text;       /* the rule as the operator wrote it, for messages */
    const char *note; /* built-in rules: what it protects, else NULL */
} rule;

struct llmux__base_url_policy {
    rule *deny, *allow;
    size_t n_deny, n_allow;
};

/* The built-in deny rules, most specific first so messages name the metadata rule. */
static const struct {
    const char *pattern;
    const char *note;
} builtin_deny[] = {
    {"169.254.169.254", "cloud metadata"}, {"fd00:ec2::254", "cloud metadata"},
    {"100.100.100.200", "cloud metadata"}, {"metadata.google.internal", "cloud metadata"},
    {"metadata", "cloud metadata"},        {"169.254.0.0/16", "link-local"},
    {"fe80::/10", "link-local"},           {"0.0.0.0/8", "unspecified address"},
    {"::/128", "unspecified address"},
};

/* ---- addresses -------------------------------------------------------------------- */

/* IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d, not :: or ::1) and NAT64
 * (64:ff9b::a.b.c.d) IPv6 addresses become the IPv4 address they carry. */
static void normalize(addr *a)
{
    if (a->family != AF_INET6)
        return;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char zero[12] = {0};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    const unsigned char *b = a->b;
    bool compat = memcmp(b, zero, 12) == 0 && (b[12] | b[13] | b[14] | (b[15] & 0xfe)) != 0;
    if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0 || compat) {
        unsigned char v4[4];
        memcpy(v4, b + 12, 4);
        memset(a->b, 0, sizeof a->b);
        memcpy(a->b, v4, 4);
        a->family = AF_INET;
    }
}

/* Parses a host as an address literal the way curl reads one: IPv6 (a "%zone" is
 * dropped) or any inet_aton form of IPv4. */
static bool parse_addr(const char *host, addr *out)
{
    memset(out, 0, sizeof *out);
    char buf[HOST_MAX];
    snprintf(buf, sizeof buf, "%s", host);
    if (strchr(buf, ':')) {
        char *zone = strchr(buf, '%');
        if (zone)
            *zone = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, buf, &a6) != 1)
            return false;
        out->family = AF_INET6;
        memcpy(out->b, &a6, 16);
        normalize(out);
        return true;
    }
    if (!buf[0] || !isdigit((unsigned char)buf[0]))
        return false; /* inet_aton forms start with a digit; names may not be all digits */
    struct in_addr a4;
    if (inet_aton(buf, &a4) == 0)
        return false;
    out->family = AF_INET;
    memcpy(out->b, &a4, 4);
    return true;
}

static bool addr_from_sockaddr(const struct sockaddr *sa, addr *out)
{
    memset(out, 0, sizeof *out);
    if (!sa)
        return false;
    if (sa->sa_family == AF_INET) {
        out->family = AF_INET;
        memcpy(out->b, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        out->family = AF_INET6;
        memcpy(out->b, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        normalize(out);
        return true;
    }
    return false;
}

static void addr_text(const addr *a, char *out, size_t n)
{
    if (!inet_ntop(a->family, a->b, out, (socklen_t)n))
        snprintf(out, n, "?");
}

static bool in_range(const addr *a, const rule *r)
{
    if (!r->is_range || a->family != r->net.family)
        return false;
    int bits = r->prefix;
    for (int i = 0; bits > 0; i++, bits -= 8) {
        unsigned char mask = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
        if ((a->b[i] & mask) != (r->net.b[i] & mask))
            return false;
    }
    return true;
}

/* ---- names ------------------------------------------------------------------------ */

/* '*' any run, '?' one character; both strings lower-case. */
static bool glob_match(const char *g, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*g == '*') {
            star = g++;
            resume = s;
        } else if (*g == '?' || *g == *s) {
            g++;
            s++;
        } else if (star) {
            g = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*g == '*')
        g++;
    return *g == '\0';
}

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_';
}

/* Lower-cases and drops trailing dots in place. */
static void canon_name(char *s)
{
    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '.')
        s[--n] = '\0';
}

bool llmux__base_url_host(const char *url, char *host, size_t n)
{
    if (!url || !host || n == 0)
        return false;
    const char *p;
    if (strncasecmp(url, "http://", 7) == 0)
        p = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        p = url + 8;
    else
        return false;
    size_t alen = strcspn(p, "/?#");
    const char *end = p + alen;
    for (const char *q = p; q < end; q++) /* userinfo (refused earlier anyway) */
        if (*q == '@')
            p = q + 1;
    const char *hs = p, *he;
    if (*hs == '[') {
        hs++;
        he = memchr(hs, ']', (size_t)(end - hs));
        if (!he)
            return false;
    } else {
        he = memchr(hs, ':', (size_t)(end - hs));
        if (!he)
            he = end;
    }
    size_t len = (size_t)(he - hs);
    if (len == 0 || len >= n)
        return false;
    memcpy(host, hs, len);
    host[len] = '\0';
    canon_name(host);
    return host[0] != '\0';
}

/* ---- rules ------------------------------------------------------------------------ */

static void rule_clear(rule *r)
{
    free(r->glob);
    free(r->text);
    memset(r, 0, sizeof *r);
}

static bool rule_parse(const char *pattern, const char *note, rule *r, llmux__error *err)
{
    memset(r, 0, sizeof *r);
    char buf[HOST_MAX];
    size_t len = pattern ? strlen(pattern) : 0;
    if (len == 0 || len >= sizeof buf) {
        llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                         "base URL rule '%.80s': must be a host glob or an address range "
                         "(1-%d characters)",
                         pattern ? pattern : "", HOST_MAX - 1);
        return false;
    }
    memcpy(buf, pattern, len + 1);
    r->note = note;
    r->text = strdup(pattern);
    if (!r->text)
        goto oom;
    if (buf[0] == '[') { /* [v6] or [v6]/bits */
        char *close = strchr(buf, ']');
        if (!close || (close[1] != '\0' && close[1] != '/'))
            goto bad;
        memmove(close, close + 1, strlen(close + 1) + 1);
        memmove(buf, buf + 1, strlen(buf + 1) + 1);
    }
    char *slash = strchr(buf, '/');
    if (slash || strchr(buf, ':') || (isdigit((unsigned char)buf[0]) && !strpbrk(buf, "*?"))) {
        long prefix = -1; /* -1: none given */
        if (slash) {
            *slash = '\0';
            char *end;
            prefix = isdigit((unsigned char)slash[1]) ? strtol(slash + 1, &end, 10) : -2;
            if (prefix >= 0 && *end)
                prefix = -2;
        }
        struct in_addr a4;
        struct in6_addr a6;
        if (inet_pton(AF_INET, buf, &a4) == 1) {
            r->net.family = AF_INET;
            memcpy(r->net.b, &a4, 4);
            if (prefix == -1)
                prefix = 32;
            if (prefix < 0 || prefix > 32)
                goto bad;
        } else if (inet_pton(AF_INET6, buf, &a6) == 1) {
            r->net.family = AF_INET6;
            memcpy(r->net.b, &a6, 16);
            if (prefix == -1)
                prefix = 128;
            if (prefix < 0 || prefix > 128)
                goto bad;
            if (prefix >= 96) { /* ::ffff:a.b.c.d/104 means the IPv4 range */
                addr n = r->net;
                normalize(&n);
                if (n.family == AF_INET) {
                    r->net = n;
                    prefix -= 96;
                }
            }
        } else if (!slash && !strchr(buf, ':')) {
            goto glob; /* e.g. "1password.example": a name starting with a digit */
        } else {
            goto bad;
        }
        r->is_range = true;
        r->prefix = (int)prefix;
        return true;
    }
glob:
    canon_name(buf);
    if (!buf[0])
        goto bad;
    for (const char *p = buf; *p; p++)
        if (!name_char(*p) && *p != '*' && *p != '?')
            goto bad;
    r->glob = strdup(buf);
    if (!r->glob)
        goto oom;
    return true;
bad:
    llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                     "base URL rule '%.80s': not a host glob (*.example.com) or an address "
                     "range (10.0.0.0/8, fd00::/8, 192.0.2.7)",
                     pattern);
    rule_clear(r);
    return false;
oom:
    llmux__error_set(err, LLMUX_ENOMEM, NULL);
    rule_clear(r);
    return false;
}

void llmux__base_url_policy_free(llmux__base_url_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_deny; i++)
        rule_clear(&p->deny[i]);
    for (size_t i = 0; i < p->n_allow; i++)
        rule_clear(&p->allow[i]);
    free(p->deny);
    free(p->allow);
    free(p);
}

llmux__base_url_policy *llmux__base_url_policy_new(const char *const *allow, size_t n_allow,
                                                   const char *const *deny, size_t n_deny,
                                                   llmux__error *err)
{
    llmux__error_clear(err);
    size_t n_builtin = sizeof builtin_deny / sizeof builtin_deny[0];
    llmux__base_url_policy *p = calloc(1, sizeof *p);
    if (!p) {
        llmux__error_set(err, LLMUX_ENOMEM, NULL);
        return NULL;
    }
    p->deny = calloc(n_builtin + n_deny, sizeof *p->deny);
    p->allow = n_allow ? calloc(n_allow, sizeof *p->allow) : NULL;
    if (!p->deny || (n_allow && !p->allow)) {
        llmux__error_set(err, LLMUX_ENOMEM, NULL);
        goto fail;
    }
    for (size_t i = 0; i < n_builtin; i++) {
        if (!rule_parse(builtin_deny[i].pattern, builtin_deny[i].note, &p->deny[p->n_deny], err))
            goto fail;
        p->n_deny++;
    }
    for (size_t i = 0; i < n_deny; i++) {
        if (!rule_parse(deny[i], NULL, &p->deny[p->n_deny], err))
            goto fail;
        p->n_deny++;
    }
    for (size_t i = 0; i < n_allow; i++) {
        if (!rule_parse(allow[i], NULL, &p->allow[p->n_allow], err))
            goto fail;
        p->n_allow++;
    }
    return p;
fail:
    llmux__base_url_policy_free(p);
    return NULL;
}

/* The first rule of `rules` that matches the name (may be NULL) or the address (may
 * be NULL), or NULL. */
static const rule *first_match(const rule *rules, size_t n, const char *name, const addr *a)
{
    char text[INET6_ADDRSTRLEN] = "";
    if (a)
        addr_text(a, text, sizeof text);
    for (size_t i = 0; i < n; i++) {
        const rule *r = &rules[i];
        if (r->is_range) {
            if (a && in_range(a, r))
                return r;
        } else if ((name && glob_match(r->glob, name)) || (a && glob_match(r->glob, text))) {
            return r;
        }
    }
    return NULL;
}

static bool has_ranges(const rule *rules, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (rules[i].is_range)
            return true;
    return false;
}

static void describe(const rule *r, char *out, size_t n)
{
    if (r->note)
        snprintf(out, n, "rule %s (%s)", r->text, r->note);
    else
        snprintf(out, n, "--deny-base-url %s", r->text);
}

llmux_code llmux__base_url_policy_check(const llmux__base_url_policy *p, const char *base_url,
                                        llmux__error *err)
{
    llmux__error_clear(err);
    if (!p)
        return LLMUX_OK;
    char host[HOST_MAX];
    if (!llmux__base_url_host(base_url, host, sizeof host))
        return llmux__error_set(err, LLMUX_EINVALID_REQUEST, "must name a host");
    addr a;
    bool literal = parse_addr(host, &a);
    if (!literal) {
        for (const char *c = host; *c; c++)
            if (!name_char(*c))
                return llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                                        "host must be an address or a name of letters, digits, "
                                        "'-', '_' and '.' (punycode for international names)");
    }
    const char *name = literal ? NULL : host;
    const rule *d = first_match(p->deny, p->n_deny, name, literal ? &a : NULL);
    char shown[INET6_ADDRSTRLEN + 4];
    if (literal)
        addr_text(&a, shown, sizeof shown);
    else
        snprintf(shown, sizeof shown, "%.40s", host);
    if (d) {
        char rule_desc[160];
        describe(d, rule_desc, sizeof rule_desc);
        return llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                                "is not allowed on this proxy: host %s is denied by %s", shown,
                                rule_desc);
    }
    if (p->n_allow == 0)
        return LLMUX_OK;
    if (first_match(p->allow, p->n_allow, name, literal ? &a : NULL))
        return LLMUX_OK;
    if (!literal && has_ranges(p->allow, p->n_allow))
        return LLMUX_OK; /* judged by its resolved addresses at connect time */
    return llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                            "is not allowed on this proxy: host %s matches no --allow-base-url "
                            "rule",
                            shown);
}

llmux_code llmux__base_url_policy_hook(llmux__provider provider, const char *base_url, void *ud,
                                       llmux__error *err)
{
    (void)provider;
    return llmux__base_url_policy_check(ud, base_url, err);
}

bool llmux__base_url_policy_check_addr(const llmux__base_url_policy *p, const char *base_url,
                                       const struct sockaddr *sa, char *why, size_t why_len)
{
    if (why && why_len)
        why[0] = '\0';
    if (!p)
        return true;
    addr a;
    if (!addr_from_sockaddr(sa, &a)) {
        if (why && why_len)
            snprintf(why, why_len, "base_url: connections other than TCP/IP are not allowed");
        return false;
    }
    char host[HOST_MAX];
    const char *name = NULL;
    addr literal;
    if (llmux__base_url_host(base_url, host, sizeof host) && !parse_addr(host, &literal))
        name = host;
    char text[INET6_ADDRSTRLEN];
    addr_text(&a, text, sizeof text);
    const rule *d = first_match(p->deny, p->n_deny, name, &a);
    if (d) {
        if (why && why_len) {
            char rule_desc[160];
            describe(d, rule_desc, sizeof rule_desc);
            snprintf(why, why_len, "base_url host %.40s resolves to %s, which is denied by %s",
                     name ? name : text, text, rule_desc);
        }
        return false;
    }
    if (p->n_allow == 0 || first_match(p->allow, p->n_allow, name, &a))
        return true;
    if (why && why_len)
        snprintf(why, why_len,
                 "base_url host %.40s resolves to %s, which matches no --allow-base-url rule",
                 name ? name : text, text);
    return false;
}
