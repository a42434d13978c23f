/*
 * url_policy.h — which hosts a customer's base_url may point at: the proxy's guard
 * against server-side request forgery (SSRF). See docs/security.md.
 *
 * A customer configures a provider with their own base_url; the proxy then connects
 * to it from inside the operator's network, carrying the customer's key. Without a
 * policy that URL could be http://169.254.169.254/ (the cloud metadata service) or an
 * internal admin endpoint. The policy is applied twice:
 *
 *  - at configure time, on the URL's host as written (llmux__base_url_policy_check,
 *    also usable as the session store's url_policy hook): a name or an address
 *    literal that a rule denies is refused with 400 invalid_request naming the rule;
 *  - at connect time, on every address the engine is about to open a socket to
 *    (llmux__base_url_policy_check_addr), after DNS: a name that resolves — or later
 *    re-resolves (DNS rebinding) — to a denied address is caught there.
 *
 * Rules. A rule is a host glob (`*.example.com`, `metadata`, `*`: '*' matches any run
 * of characters, '?' one, case-insensitive, a trailing '.' ignored) or an address
 * range (`10.0.0.0/8`, `fd00::/8`; a bare address is a /32 or /128). Deny rules always
 * win. Built in and always on (deny): link-local 169.254.0.0/16 and fe80::/10, the
 * metadata addresses 169.254.169.254, fd00:ec2::254 and 100.100.100.200, the names
 * metadata.google.internal and metadata, and the unspecified addresses 0.0.0.0/8 and
 * ::. Loopback and private ranges are allowed by default (local models, the mock);
 * the operator denies them with --deny-base-url. When at least one allow rule is
 * given, a host passes only if it matches one: a name by an allow glob, or an address
 * (written, or resolved at connect time) by an allow range or glob.
 * IPv4-mapped and IPv4-compatible IPv6 addresses (::ffff:a.b.c.d, ::a.b.c.d) are
 * judged as the IPv4 address they carry. Host literals are read the way curl reads
 * them (inet_aton: 2852039166, 0xa9.0xfe.0xa9.0xfe and 0251.0376.0251.0376 are all
 * 169.254.169.254).
 *
 * Messages name the host and the rule, never anything else of the URL (a base_url
 * carries no credentials: llmux__base_url_check refuses them, and keys never pass
 * through here).
 *
 * Thread-safety: a policy is immutable once made; every function may be called from
 * any number of threads at once.
 */
#ifndef LLMUX_SERVER_URL_POLICY_H
#define LLMUX_SERVER_URL_POLICY_H

#include "core/error.h"
#include "providers/provider.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

typedef struct llmux__base_url_policy llmux__base_url_policy;

/*
 * A policy with the built-in deny rules plus the operator's `allow` (n_allow) and
 * `deny` (n_deny) patterns. Returns NULL with err set: LLMUX_EINVALID_REQUEST naming a
 * pattern that is neither a host glob nor an address range, LLMUX_ENOMEM. Caller owns
 * the result; free with llmux__base_url_policy_free().
 */
llmux__base_url_policy *llmux__base_url_policy_new(const char *const *allow, size_t n_allow,
                                                   const char *const *deny, size_t n_deny,
                                                   llmux__error *err);

/* Releases the policy. NULL is fine. */
void llmux__base_url_policy_free(llmux__base_url_policy *p);

/*
 * Configure time: may a customer use `base_url` (already accepted by
 * llmux__base_url_check)? LLMUX_OK, or LLMUX_EINVALID_REQUEST with err's message
 * saying why, e.g. "is not allowed on this proxy: host 169.254.169.254 is denied by
 * rule 169.254.169.254 (cloud metadata)". A NULL policy allows everything.
 */
llmux_code llmux__base_url_policy_check(const llmux__base_url_policy *p, const char *base_url,
                                        llmux__error *err);

/* The session store's url_policy hook (sessions.h): ud is the policy. */
llmux_code llmux__base_url_policy_hook(llmux__provider provider, const char *base_url, void *ud,
                                       llmux__error *err);

/*
 * Connect time: may the proxy open a connection to `addr` (AF_INET or AF_INET6; any
 * other family is refused) while serving `base_url`? On false, why (when not NULL,
 * why_len > 0) gets the reason naming the address and the rule. A NULL policy allows
 * everything.
 */
bool llmux__base_url_policy_check_addr(const llmux__base_url_policy *p, const char *base_url,
                                       const struct sockaddr *addr, char *why, size_t why_len);

/*
 * The host of an http(s) URL, lower-cased, without brackets, port or trailing dots,
 * into host (n bytes). Returns false when there is no host or it does not fit.
 */
bool llmux__base_url_host(const char *url, char *host, size_t n);

#endif
