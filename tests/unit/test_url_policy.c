/* test_url_policy.c — the SSRF guard for customers' base_urls: built-in denials
 * (link-local, cloud metadata, unspecified addresses) in every spelling curl accepts,
 * operator allow/deny rules, the connect-time address check (DNS rebinding), rule
 * parsing errors and messages that name the rule but nothing else of the URL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "server/url_policy.h"

/* One configure-time case: the URL, allowed or not, and a piece the message must hold. */
typedef struct url_case {
    const char *url;
    bool allowed;
    const char *why; /* substring of the message when refused (NULL: any) */
} url_case;

static void run_cases(const llmux__base_url_policy *p, const url_case *cases, size_t n,
                      const char *label)
{
    for (size_t i = 0; i < n; i++) {
        llmux__error err;
        llmux_code rc = llmux__base_url_policy_check(p, cases[i].url, &err);
        if (cases[i].allowed && rc != LLMUX_OK)
            fail_msg("%s: %s refused: %s", label, cases[i].url, err.message);
        if (!cases[i].allowed) {
            if (rc != LLMUX_EINVALID_REQUEST)
                fail_msg("%s: %s allowed (rc %d)", label, cases[i].url, (int)rc);
            if (cases[i].why && !strstr(err.message, cases[i].why))
                fail_msg("%s: %s: message '%s' lacks '%s'", label, cases[i].url, err.message,
                         cases[i].why);
            /* never the path (it could carry anything) */
            if (strstr(err.message, "/latest") || strstr(err.message, "/computeMetadata") ||
                strstr(err.message, "/secret-path"))
                fail_msg("%s: %s: message echoes the path: %s", label, cases[i].url, err.message);
        }
    }
}

static void test_default_policy(void **state)
{
    (void)state;
    llmux__error err;
    llmux__base_url_policy *p = llmux__base_url_policy_new(NULL, 0, NULL, 0, &err);
    assert_non_null(p);
    static const url_case cases[] = {
        /* loopback, private and public hosts stay usable by default */
        {"http://127.0.0.1:8080/v1", true, NULL},
        {"http://localhost:11434/v1", true, NULL},
        {"http://[::1]:8080", true, NULL},
        {"http://10.0.0.5/v1", true, NULL},
        {"http://192.168.1.20:8000", true, NULL},
        {"https://api.openai.com/v1", true, NULL},
        {"https://my-model_1.internal.example.com/v1", true, NULL},
        {"https://1password-ai.example/v1", true, NULL},
        /* cloud metadata, every spelling */
        {"http://169.254.169.254/latest/meta-data", false, "169.254.169.254 (cloud metadata)"},
        {"http://169.254.169.254.:80/latest", false, "cloud metadata"},
        {"HTTP://169.254.169.254/secret-path", false, "cloud metadata"},
        {"http://2852039166/latest", false, "cloud metadata"},
        {"http://0xa9.0xfe.0xa9.0xfe/latest", false, "cloud metadata"},
        {"http://0xA9FEA9FE/latest", false, "cloud metadata"},
        {"http://0251.0376.0251.0376/latest", false, "cloud metadata"},
        {"http://169.254.43518/latest", false, "cloud metadata"},
        {"http://[::ffff:169.254.169.254]/latest", false, "cloud metadata"},
        {"http://[::ffff:a9fe:a9fe]/latest", false, "cloud metadata"},
        {"http://[64:ff9b::a9fe:a9fe]/latest", false, "cloud metadata"},
        {"http://[fd00:ec2::254]/latest", false, "cloud metadata"},
        {"http://100.100.100.200/latest", false, "cloud metadata"},
        {"http://metadata.google.internal/computeMetadata/v1", false,
         "metadata.google.internal (cloud metadata)"},
        {"http://METADATA.Google.Internal.:80/computeMetadata", false, "cloud metadata"},
        {"http://metadata/computeMetadata/v1", false, "cloud metadata"},
        /* link-local */
        {"http://169.254.1.1:8080", false, "169.254.0.0/16 (link-local)"},
        {"http://[fe80::1]/v1", false, "fe80::/10 (link-local)"},
        {"http://[fe80::1%25eth0]:8080/v1", false, "link-local"},
        {"http://[febf::1]/v1", false, "link-local"},
        /* unspecified (0.0.0.0 reaches the host itself on Linux) */
        {"http://0.0.0.0:8080", false, "unspecified"},
        {"http://0/", false, "unspecified"},
        {"http://0.1.2.3/", false, "unspecified"},
        {"http://[::]:8080", false, "unspecified"},
        {"http://[::2]/", false, "unspecified"},
        /* host spellings curl might read differently */
        {"http://exa%6dple.com/v1", false, "letters, digits"},
    };
    run_cases(p, cases, sizeof cases / sizeof cases[0], "default");
    /* The hook for the session store is the same check. */
    assert_int_equal(
        llmux__base_url_policy_hook(LLMUX__PROVIDER_OPENAI, "http://169.254.169.254/", p, &err),
        LLMUX_EINVALID_REQUEST);
    assert_int_equal(
        llmux__base_url_policy_hook(LLMUX__PROVIDER_OPENAI, "http://127.0.0.1/", p, &err),
        LLMUX_OK);
    llmux__base_url_policy_free(p);
}

static void test_operator_deny(void **state)
{
    (void)state;
    const char *deny[] = {"127.0.0.2", "10.0.0.0/8", "*.corp.example", "[fd12::]/16", "192.168.*"};
    llmux__error err;
    llmux__base_url_policy *p = llmux__base_url_policy_new(NULL, 0, deny, 5, &err);
    if (!p)
        fail_msg("%s", err.message);
    static const url_case cases[] = {
        {"http://127.0.0.2:9000/v1", false, "--deny-base-url 127.0.0.2"},
        {"http://127.0.0.1:9000/v1", true, NULL},
        {"http://10.200.3.4/v1", false, "--deny-base-url 10.0.0.0/8"},
        {"http://012.1.2.3/v1", false, "10.0.0.0/8"}, /* octal 012 = 10 */
        {"http://[::ffff:10.1.2.3]/v1", false, "10.0.0.0/8"},
        {"http://11.0.0.1/v1", true, NULL},
        {"https://llm.gpu.corp.example/v1", false, "--deny-base-url *.corp.example"},
        {"https://LLM.CORP.EXAMPLE./v1", false, "*.corp.example"},
        {"https://corp.example/v1", true, NULL},
        {"http://[fd12:3456::1]/v1", false, "fd12::"},
        {"http://[fd13::1]/v1", true, NULL},
        {"http://192.168.0.9/v1", false, "192.168.*"},
        /* built-ins still apply */
        {"http://169.254.169.254/", false, "cloud metadata"},
    };
    run_cases(p, cases, sizeof cases / sizeof cases[0], "deny");
    llmux__base_url_policy_free(p);
}

static void test_operator_allow(void **state)
{
    (void)state;
    const char *allow[] = {"*.openai.com", "api.anthropic.com", "192.0.2.0/24", "169.254.0.0/16"};
    llmux__error err;
    llmux__base_url_policy *p = llmux__base_url_policy_new(allow, 4, NULL, 0, &err);
    if (!p)
        fail_msg("%s", err.message);
    static const url_case cases[] = {
        {"https://api.openai.com/v1", true, NULL},
        {"https://eu.api.openai.com/v1", true, NULL},
        /* a name outside the globs, with range rules present: decided by its address at
         * connect time (see test_connect_time_addresses) */
        {"https://openai.com.evil.example/v1", true, NULL},
        {"https://api.anthropic.com", true, NULL},
        {"https://www.anthropic.com", true, NULL},
        {"http://192.0.2.7:8000/v1", true, NULL},
        {"http://198.51.100.1/v1", false, "no --allow-base-url"},
        /* a name with range rules present: decided by its address at connect time */
        {"http://models.example/v1", true, NULL},
        /* deny wins over allow */
        {"http://169.254.169.254/", false, "cloud metadata"},
        {"http://169.254.7.7/", false, "link-local"},
    };
    run_cases(p, cases, sizeof cases / sizeof cases[0], "allow");
    llmux__base_url_policy_free(p);

    /* Only name globs: a name outside them is refused at once. */
    const char *names[] = {"*.example.com"};
    p = llmux__base_url_policy_new(names, 1, NULL, 0, &err);
    assert_non_null(p);
    static const url_case only_names[] = {
        {"https://a.example.com", true, NULL},
        {"http://localhost:8080", false, "no --allow-base-url"},
        {"http://127.0.0.1:8080", false, "no --allow-base-url"},
    };
    run_cases(p, only_names, sizeof only_names / sizeof only_names[0], "names");
    llmux__base_url_policy_free(p);

    /* "*" allows every host that no deny rule refuses. */
    const char *star[] = {"*"};
    p = llmux__base_url_policy_new(star, 1, NULL, 0, &err);
    static const url_case all[] = {
        {"https://anything.example", true, NULL},
        {"http://127.0.0.1", true, NULL},
        {"http://169.254.169.254", false, "cloud metadata"},
    };
    run_cases(p, all, sizeof all / sizeof all[0], "star");
    llmux__base_url_policy_free(p);
}

static struct sockaddr_in v4(const char *a)
{
    struct sockaddr_in s;
    memset(&s, 0, sizeof s);
    s.sin_family = AF_INET;
    s.sin_port = htons(80);
    assert_int_equal(inet_pton(AF_INET, a, &s.sin_addr), 1);
    return s;
}

static struct sockaddr_in6 v6(const char *a)
{
    struct sockaddr_in6 s;
    memset(&s, 0, sizeof s);
    s.sin6_family = AF_INET6;
    s.sin6_port = htons(80);
    assert_int_equal(inet_pton(AF_INET6, a, &s.sin6_addr), 1);
    return s;
}

static void test_connect_time_addresses(void **state)
{
    (void)state;
    llmux__error err;
    llmux__base_url_policy *p = llmux__base_url_policy_new(NULL, 0, NULL, 0, &err);
    char why[256];
    /* a harmless-looking name that resolves to the metadata service (DNS rebinding) */
    struct sockaddr_in meta = v4("169.254.169.254");
    assert_false(llmux__base_url_policy_check_addr(p, "https://rebind.example/v1",
                                                   (struct sockaddr *)&meta, why, sizeof why));
    assert_non_null(strstr(why, "rebind.example"));
    assert_non_null(strstr(why, "resolves to 169.254.169.254"));
    assert_non_null(strstr(why, "cloud metadata"));
    struct sockaddr_in6 mapped = v6("::ffff:169.254.169.254");
    assert_false(llmux__base_url_policy_check_addr(p, "https://rebind.example/v1",
                                                   (struct sockaddr *)&mapped, why, sizeof why));
    struct sockaddr_in6 ll6 = v6("fe80::1234");
    assert_false(llmux__base_url_policy_check_addr(p, "https://x.example", (struct sockaddr *)&ll6,
                                                   why, sizeof why));
    assert_non_null(strstr(why, "link-local"));
    struct sockaddr_in zero = v4("0.0.0.0");
    assert_false(llmux__base_url_policy_check_addr(p, "https://x.example", (struct sockaddr *)&zero,
                                                   why, sizeof why));
    struct sockaddr_in lo = v4("127.0.0.1");
    assert_true(llmux__base_url_policy_check_addr(p, "http://localhost:8080",
                                                  (struct sockaddr *)&lo, why, sizeof why));
    assert_string_equal(why, "");
    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    assert_false(llmux__base_url_policy_check_addr(p, "http://localhost", (struct sockaddr *)&un,
                                                   why, sizeof why));
    assert_false(llmux__base_url_policy_check_addr(p, "http://localhost", NULL, NULL, 0));
    llmux__base_url_policy_free(p);

    /* Operator rules at connect time: a deny range and an allow list. */
    const char *deny[] = {"127.0.0.2/32"};
    const char *allow[] = {"10.0.0.0/8", "*.trusted.example"};
    p = llmux__base_url_policy_new(allow, 2, deny, 1, &err);
    assert_non_null(p);
    struct sockaddr_in lo2 = v4("127.0.0.2");
    assert_false(llmux__base_url_policy_check_addr(p, "http://a.trusted.example",
                                                   (struct sockaddr *)&lo2, why, sizeof why));
    assert_non_null(strstr(why, "--deny-base-url 127.0.0.2/32"));
    struct sockaddr_in ten = v4("10.9.8.7");
    assert_true(llmux__base_url_policy_check_addr(p, "http://models.example",
                                                  (struct sockaddr *)&ten, why, sizeof why));
    struct sockaddr_in pub = v4("203.0.113.5");
    assert_true(llmux__base_url_policy_check_addr(p, "http://a.trusted.example",
                                                  (struct sockaddr *)&pub, why, sizeof why));
    assert_false(llmux__base_url_policy_check_addr(p, "http://models.example",
                                                   (struct sockaddr *)&pub, why, sizeof why));
    assert_non_null(strstr(why, "no --allow-base-url rule"));
    assert_false(llmux__base_url_policy_check_addr(p, "http://a.trusted.example",
                                                   (struct sockaddr *)&meta, why, sizeof why));
    llmux__base_url_policy_free(p);

    /* No policy: everything goes. */
    assert_true(llmux__base_url_policy_check_addr(NULL, "http://x", (struct sockaddr *)&meta, why,
                                                  sizeof why));
    assert_int_equal(llmux__base_url_policy_check(NULL, "http://169.254.169.254", &err), LLMUX_OK);
}

static void test_bad_rules(void **state)
{
    (void)state;
    const char *bad[] = {"",    "10.0.0.0/33",      "10.0.0.0/", "10.0.0.0/x", "fe80::/129",
                         "a b", "http://x.example", "ex@mple",   "1.2.3.4/-1", "::ffff:zz/96"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        llmux__error err;
        llmux__base_url_policy *p = llmux__base_url_policy_new(NULL, 0, &bad[i], 1, &err);
        if (p)
            fail_msg("deny rule '%s' accepted", bad[i]);
        assert_int_equal(err.code, LLMUX_EINVALID_REQUEST);
        assert_non_null(strstr(err.message, "base URL rule"));
        p = llmux__base_url_policy_new(&bad[i], 1, NULL, 0, &err);
        if (p)
            fail_msg("allow rule '%s' accepted", bad[i]);
    }
    const char *good[] = {"*",
                          "localhost",
                          "LOCALHOST.",
                          "[::1]",
                          "::1/128",
                          "192.0.2.1",
                          "*.example.com",
                          "api-?.example.com",
                          "::ffff:10.0.0.0/104"};
    llmux__error err;
    llmux__base_url_policy *p = llmux__base_url_policy_new(good, 9, good, 9, &err);
    if (!p)
        fail_msg("%s", err.message);
    llmux__base_url_policy_free(p);
    llmux__base_url_policy_free(NULL);
    /* ::ffff:10.0.0.0/104 is the IPv4 range 10.0.0.0/8 */
    const char *mapped[] = {"::ffff:10.0.0.0/104"};
    p = llmux__base_url_policy_new(NULL, 0, mapped, 1, &err);
    assert_int_equal(llmux__base_url_policy_check(p, "http://10.4.4.4", &err),
                     LLMUX_EINVALID_REQUEST);
    assert_int_equal(llmux__base_url_policy_check(p, "http://11.4.4.4", &err), LLMUX_OK);
    llmux__base_url_policy_free(p);
}

static void test_host_extraction(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        const char *host; /* NULL: none */
    } cases[] = {
        {"http://Host.Example.COM.:8080/v1", "host.example.com"},
        {"https://[::1]:443/x", "::1"},
        {"https://[FE80::1%25eth0]/", "fe80::1%25eth0"},
        {"http://u:p@h.example/", "h.example"},
        {"HTTPS://x.example", "x.example"},
        {"http://x.example?q", "x.example"},
        {"ftp://x.example", NULL},
        {"http://", NULL},
        {"http://:80/", NULL},
        {"http://[::1/", NULL},
        {"http://.../", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char host[64];
        bool ok = llmux__base_url_host(cases[i].url, host, sizeof host);
        if (!cases[i].host) {
            if (ok)
                fail_msg("%s: got host '%s'", cases[i].url, host);
            continue;
        }
        if (!ok)
            fail_msg("%s: no host", cases[i].url);
        assert_string_equal(host, cases[i].host);
    }
    char tiny[4];
    assert_false(llmux__base_url_host("http://long.example", tiny, sizeof tiny));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_policy), cmocka_unit_test(test_operator_deny),
        cmocka_unit_test(test_operator_allow), cmocka_unit_test(test_connect_time_addresses),
        cmocka_unit_test(test_bad_rules),      cmocka_unit_test(test_host_extraction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
