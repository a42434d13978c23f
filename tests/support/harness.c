/* harness.c — see harness.h. */
#include "harness.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

extern char **environ;

double tu_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

void tu_sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

const char *tu_llmux_bin(void)
{
    const char *bin = getenv("LLMUX_BIN");
    return bin && *bin ? bin : LLMUX_BIN;
}

const char *tu_url(char *buf, size_t n, int port, const char *path)
{
    snprintf(buf, n, "http://127.0.0.1:%d%s", port, path ? path : "");
    return buf;
}

/* ---------------------------------------------------------------------------------- */
/* processes                                                                            */
/* ---------------------------------------------------------------------------------- */

static void *drain(void *arg)
{
    tu_proc *p = arg;
    char buf[4096];
    for (;;) {
        ssize_t n = read(p->out_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        char *grown = realloc(p->output, p->output_len + (size_t)n + 1);
        if (!grown)
            continue;
        p->output = grown;
        memcpy(p->output + p->output_len, buf, (size_t)n);
        p->output_len += (size_t)n;
        p->output[p->output_len] = '\0';
    }
    return NULL;
}

static int parse_port(const char *line)
{
    const char *colon = strrchr(line, ':');
    const char *digits = colon ? colon + 1 : line;
    char *end;
    long port = strtol(digits, &end, 10);
    if (end == digits || port <= 0 || port > 65535)
        return 0;
    while (*end == ' ' || *end == '/' || *end == '\r')
        end++;
    return *end ? 0 : (int)port;
}

static void reap(tu_proc *p, int grace_ms)
{
    int status = 0;
    double deadline = tu_now_ms() + grace_ms;
    pid_t r;
    while ((r = waitpid(p->pid, &status, WNOHANG)) == 0 && tu_now_ms() < deadline)
        tu_sleep_ms(5);
    if (r == 0) {
        kill(p->pid, SIGKILL);
        while ((r = waitpid(p->pid, &status, 0)) < 0 && errno == EINTR)
            ;
    }
    if (r == p->pid)
        p->exit_status = WIFEXITED(status)     ? WEXITSTATUS(status)
                         : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                               : -1;
    else
        p->exit_status = -1;
    p->pid = 0;
}

int tu_proc_start(tu_proc *p, const char *const argv[], const char *const env[], int timeout_ms)
{
    memset(p, 0, sizeof *p);
    p->out_fd = -1;
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
#else
        (void)parent;
#endif
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            close(devnull);
        }
        for (const char *const *e = env; e && *e; e++)
            putenv((char *)*e);
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "harness: cannot exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    p->pid = pid;
    p->out_fd = fds[0];
    size_t n = 0;
    double deadline = tu_now_ms() + timeout_ms;
    bool got_line = false;
    while (!got_line) {
        int left = (int)(deadline - tu_now_ms());
        if (left <= 0)
            break;
        struct pollfd pfd = {.fd = p->out_fd, .events = POLLIN};
        int pr = poll(&pfd, 1, left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            break;
        char c;
        ssize_t r = read(p->out_fd, &c, 1); /* byte by byte: the rest stays for the drainer */
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (c == '\n')
            got_line = true;
        else if (n + 1 < sizeof p->first_line)
            p->first_line[n++] = c;
    }
    p->first_line[n] = '\0';
    if (!got_line) {
        fprintf(stderr, "harness: %s printed no first line within %d ms\n", argv[0], timeout_ms);
        kill(p->pid, SIGKILL);
        reap(p, 0);
        close(p->out_fd);
        p->out_fd = -1;
        return -1;
    }
    p->port = parse_port(p->first_line);
    if (pthread_create(&p->drainer, NULL, drain, p) == 0)
        p->draining = true;
    return 0;
}

int tu_proc_stop(tu_proc *p, int grace_ms)
{
    if (!p || p->pid <= 0)
        return -1;
    kill(p->pid, SIGTERM);
    reap(p, grace_ms);
    if (p->draining) {
        pthread_join(p->drainer, NULL);
        p->draining = false;
    }
    if (p->out_fd >= 0) {
        close(p->out_fd);
        p->out_fd = -1;
    }
    return p->exit_status;
}

void tu_proc_free(tu_proc *p)
{
    if (!p)
        return;
    if (p->pid > 0)
        tu_proc_stop(p, 2000);
    free(p->output);
    p->output = NULL;
    p->output_len = 0;
}

int tu_mock_start(tu_proc *p, const char *const extra_args[])
{
    const char *argv[32];
    size_t n = 0;
    argv[n++] = tu_llmux_bin();
    argv[n++] = "mock";
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    for (const char *const *a = extra_args; a && *a && n < 31; a++)
        argv[n++] = *a;
    argv[n] = NULL;
    if (tu_proc_start(p, argv, NULL, 5000) != 0)
        return -1;
    if (p->port <= 0) {
        fprintf(stderr, "harness: no port in mock's first line '%s'\n", p->first_line);
        tu_proc_stop(p, 1000);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* HTTP                                                                                 */
/* ---------------------------------------------------------------------------------- */

struct tu_client {
    CURLSH *share;
    CURL *easy; /* one easy handle keeps its connection cache across transfers */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

tu_client *tu_client_new(void)
{
    pthread_once(&curl_once, curl_init_once);
    tu_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->easy = curl_easy_init();
    if (!c->easy) {
        free(c);
        return NULL;
    }
    return c;
}

void tu_client_free(tu_client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->easy);
    free(c);
}

typedef struct transfer {
    tu_response *resp;
    double start_ms;
} transfer;

static bool append(char **buf, size_t *len, const char *data, size_t n)
{
    char *grown = realloc(*buf, *len + n + 1);
    if (!grown)
        return false;
    memcpy(grown + *len, data, n);
    *len += n;
    grown[*len] = '\0';
    *buf = grown;
    return true;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    transfer *t = arg;
    tu_response *r = t->resp;
    size_t n = size * nmemb;
    if (!append(&r->body, &r->body_len, data, n))
        return 0;
    if (r->nwrites < TU_MAX_WRITES) {
        r->write_ms[r->nwrites] = tu_now_ms() - t->start_ms;
        r->write_end[r->nwrites] = r->body_len;
    }
    r->nwrites++;
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    transfer *t = arg;
    size_t n = size * nmemb;
    return append(&t->resp->headers, &t->resp->headers_len, data, n) ? n : 0;
}

int tu_http_ex(tu_client *client, const char *method, const char *url, const char *const headers[],
               const char *body, const tu_http_opts *opts, tu_response *resp)
{
    pthread_once(&curl_once, curl_init_once);
    memset(resp, 0, sizeof *resp);
    resp->body = calloc(1, 1);
    resp->headers = calloc(1, 1);
    tu_http_opts none = {0};
    if (!opts)
        opts = &none;
    CURL *easy = client ? client->easy : curl_easy_init();
    if (!easy || !resp->body || !resp->headers) {
        resp->curl_code = CURLE_OUT_OF_MEMORY;
        snprintf(resp->error, sizeof resp->error, "out of memory");
        if (!client && easy)
            curl_easy_cleanup(easy);
        return resp->curl_code;
    }
    if (client)
        curl_easy_reset(easy);
    struct curl_slist *list = NULL;
    bool has_ct = false;
    for (const char *const *h = headers; h && *h; h++) {
        list = curl_slist_append(list, *h);
        if (strncasecmp(*h, "content-type:", 13) == 0)
            has_ct = true;
    }
    if (body && !has_ct)
        list = curl_slist_append(list, "Content-Type: application/json");
    list = curl_slist_append(list, "Expect:");
    transfer t = {.resp = resp, .start_ms = tu_now_ms()};
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, NULL);
    }
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, opts->timeout_ms > 0 ? opts->timeout_ms : 10000L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_NOPROXY, "*");
    if (opts->http10)
        curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_0);
    else
        curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    if (opts->insecure) {
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (opts->ca_file)
        curl_easy_setopt(easy, CURLOPT_CAINFO, opts->ca_file);
    CURLcode rc = curl_easy_perform(easy);
    resp->curl_code = (int)rc;
    if (rc != CURLE_OK)
        snprintf(resp->error, sizeof resp->error, "%s", *errbuf ? errbuf : curl_easy_strerror(rc));
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &resp->status);
    double t_total = 0, t_first = 0;
    curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &t_total);
    curl_easy_getinfo(easy, CURLINFO_STARTTRANSFER_TIME, &t_first);
    resp->total_ms = t_total * 1e3;
    resp->first_byte_ms = t_first * 1e3;
    curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &resp->new_connections);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(list);
    if (!client)
        curl_easy_cleanup(easy);
    return resp->curl_code;
}

int tu_http(const char *method, const char *url, const char *const headers[], const char *body,
            tu_response *resp)
{
    return tu_http_ex(NULL, method, url, headers, body, NULL, resp);
}

void tu_response_free(tu_response *r)
{
    if (!r)
        return;
    free(r->body);
    free(r->headers);
    r->body = r->headers = NULL;
    r->body_len = r->headers_len = 0;
}

const char *tu_header(const tu_response *r, const char *name, char *buf, size_t n)
{
    size_t nlen = strlen(name);
    const char *found = NULL;
    size_t found_len = 0;
    for (const char *line = r->headers; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vlen = len - (size_t)(v - line);
            while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
                vlen--;
            found = v;
            found_len = vlen;
        }
        line = eol ? eol + 1 : NULL;
    }
    if (!found || n == 0)
        return NULL;
    if (found_len >= n)
        found_len = n - 1;
    memcpy(buf, found, found_len);
    buf[found_len] = '\0';
    return buf;
}

cJSON *tu_json(const tu_response *r)
{
    return r->body ? cJSON_ParseWithLength(r->body, r->body_len) : NULL;
}

/* ---------------------------------------------------------------------------------- */
/* SSE                                                                                  */
/* ---------------------------------------------------------------------------------- */

static int sse_push(tu_sse *s, char *event, char *data)
{
    tu_sse_event *v = realloc(s->events, (s->count + 1) * sizeof *v);
    if (!v)
        return -1;
    s->events = v;
    v[s->count].event = event;
    v[s->count].data = data ? data : strdup("");
    s->count++;
    return v[s->count - 1].data ? 0 : -1;
}

int tu_sse_parse(const char *body, size_t len, tu_sse *out)
{
    memset(out, 0, sizeof *out);
    char *event = NULL, *data = NULL;
    size_t data_len = 0;
    bool in_event = false;
    size_t i = 0;
    while (i < len) {
        size_t start = i;
        while (i < len && body[i] != '\n' && body[i] != '\r')
            i++;
        size_t line_len = i - start;
        bool ended = i < len;
        if (i < len && body[i] == '\r' && i + 1 < len && body[i + 1] == '\n')
            i += 2;
        else if (i < len)
            i++;
        const char *line = body + start;
        if (!ended) { /* last line without an end: still part of the event */
            if (line_len == 0)
                break;
        }
        if (line_len == 0) {
            if (in_event && sse_push(out, event, data) != 0)
                goto oom;
            event = data = NULL;
            data_len = 0;
            in_event = false;
            continue;
        }
        if (line[0] == ':')
            continue;
        const char *colon = memchr(line, ':', line_len);
        size_t flen = colon ? (size_t)(colon - line) : line_len;
        const char *value = colon ? colon + 1 : line + line_len;
        size_t vlen = line_len - (size_t)(value - line);
        if (vlen && *value == ' ') {
            value++;
            vlen--;
        }
        if (flen == 5 && strncmp(line, "event", 5) == 0) {
            free(event);
            event = strndup(value, vlen);
            in_event = true;
        } else if (flen == 4 && strncmp(line, "data", 4) == 0) {
            if (data && !append(&data, &data_len, "\n", 1))
                goto oom;
            if (!data && !(data = calloc(1, 1)))
                goto oom;
            if (!append(&data, &data_len, value, vlen))
                goto oom;
            in_event = true;
        }
    }
    if (in_event) {
        out->partial = true;
        if (sse_push(out, event, data) != 0)
            goto oom_pushed;
    }
    return 0;
oom:
    free(event);
    free(data);
oom_pushed:
    tu_sse_free(out);
    return -1;
}

void tu_sse_free(tu_sse *s)
{
    for (size_t i = 0; s && i < s->count; i++) {
        free(s->events[i].event);
        free(s->events[i].data);
    }
    if (s) {
        free(s->events);
        memset(s, 0, sizeof *s);
    }
}

/* ---------------------------------------------------------------------------------- */
/* JSON shapes                                                                          */
/* ---------------------------------------------------------------------------------- */

static bool ignored(const char *name, const char *const ignore[])
{
    for (const char *const *i = ignore; name && i && *i; i++)
        if (strcmp(*i, name) == 0)
            return true;
    return false;
}

static const char *kind(const cJSON *j)
{
    if (cJSON_IsBool(j))
        return "boolean";
    if (cJSON_IsNumber(j))
        return "number";
    if (cJSON_IsString(j))
        return "string";
    if (cJSON_IsArray(j))
        return "array";
    if (cJSON_IsObject(j))
        return "object";
    return "null";
}

static bool same_shape(const cJSON *want, const cJSON *got, const char *const ignore[], char *path,
                       size_t path_len, char *why, size_t why_len)
{
    if (cJSON_IsNull(want))
        return true;
    if (strcmp(kind(want), kind(got)) != 0) {
        snprintf(why, why_len, "%s: want %s, got %s", *path ? path : "(root)", kind(want),
                 kind(got));
        return false;
    }
    size_t base = strlen(path);
    if (cJSON_IsObject(want)) {
        for (const cJSON *w = want->child; w; w = w->next) {
            if (ignored(w->string, ignore))
                continue;
            snprintf(path + base, path_len - base, "%s%s", base ? "." : "", w->string);
            const cJSON *g = cJSON_GetObjectItemCaseSensitive(got, w->string);
            if (!g) {
                snprintf(why, why_len, "%s: missing", path);
                return false;
            }
            if (!same_shape(w, g, ignore, path, path_len, why, why_len))
                return false;
            path[base] = '\0';
        }
    } else if (cJSON_IsArray(want) && want->child && got->child) {
        snprintf(path + base, path_len - base, "[0]");
        if (!same_shape(want->child, got->child, ignore, path, path_len, why, why_len))
            return false;
        path[base] = '\0';
    }
    return true;
}

bool tu_json_same_shape(const cJSON *want, const cJSON *got, const char *const ignore[], char *why,
                        size_t why_len)
{
    char path[512] = "";
    char scratch[8];
    if (!why || !why_len) {
        why = scratch;
        why_len = sizeof scratch;
    }
    why[0] = '\0';
    if (!want || !got) {
        snprintf(why, why_len, "(root): %s is NULL", want ? "got" : "want");
        return false;
    }
    return same_shape(want, got, ignore, path, sizeof path, why, why_len);
}

/* ---------------------------------------------------------------------------------- */
/* the mock's control endpoints                                                         */
/* ---------------------------------------------------------------------------------- */

int tu_mock_script(int port, const char *json, char *why, size_t why_len)
{
    char url[128];
    tu_response r;
    tu_http("POST", tu_url(url, sizeof url, port, "/_mock/script"), NULL, json, &r);
    int status = r.curl_code ? -1 : (int)r.status;
    if (why && why_len)
        snprintf(why, why_len, "%s", r.body ? r.body : "");
    tu_response_free(&r);
    return status;
}

int tu_mock_reset(int port)
{
    char url[128];
    tu_response r;
    tu_http("POST", tu_url(url, sizeof url, port, "/_mock/reset"), NULL, "", &r);
    int status = r.curl_code ? -1 : (int)r.status;
    tu_response_free(&r);
    return status;
}

cJSON *tu_mock_requests(int port)
{
    char url[128];
    tu_response r;
    tu_http("GET", tu_url(url, sizeof url, port, "/_mock/requests"), NULL, NULL, &r);
    cJSON *j = r.curl_code == 0 && r.status == 200 ? tu_json(&r) : NULL;
    tu_response_free(&r);
    return j;
}

/* ---------------------------------------------------------------------------------- */
/* TLS                                                                                  */
/* ---------------------------------------------------------------------------------- */

int tu_make_cert(char *cert, char *key)
{
    if (system("command -v openssl >/dev/null 2>&1") != 0)
        return 1;
    char dir[] = "/tmp/llmux-test-cert-XXXXXX";
    if (!mkdtemp(dir))
        return -1;
    snprintf(cert, PATH_MAX, "%s/cert.pem", dir);
    snprintf(key, PATH_MAX, "%s/key.pem", dir);
    char cmd[PATH_MAX * 2 + 512];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
             "-addext subjectAltName=IP:127.0.0.1,DNS:localhost "
             "-keyout '%s' -out '%s' >/dev/null 2>&1",
             key, cert);
    if (system(cmd) != 0) {
        tu_remove_cert(cert, key);
        return -1;
    }
    return 0;
}

void tu_remove_cert(const char *cert, const char *key)
{
    unlink(cert);
    unlink(key);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", cert);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        rmdir(dir);
    }
}
