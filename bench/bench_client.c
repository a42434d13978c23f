/* bench_client.c — the small load clients bench/run.sh needs beyond wrk (not a test;
 * prints numbers for run.sh to put in its tables).
 *
 *   bench_client script MODEL WORDS INTERVAL_MS
 *       prints a `llmux mock` script step for MODEL: a text of WORDS words in sentences
 *       of about ten, split at every word (split_at), chunk_interval_ms INTERVAL_MS,
 *       count 1000000.
 *   bench_client stream URL BODY_FILE N OUT_FILE [-H 'Name: value']...
 *       N streamed requests one after another on one keep-alive connection (plus one
 *       unrecorded warm-up); appends to OUT_FILE, per request, the arrival time of
 *       every content event (µs since the request was sent) and the count of
 *       non-blank content bytes received so far.
 *   bench_client compare BASE_FILE OTHER_FILE LABEL
 *       one table row: OTHER's added time to the first content chunk vs BASE (p50 and
 *       p90 over streams; OTHER's first event against BASE's mean arrival time of the
 *       same content offset, so a first sentence is compared with the word that
 *       completed it), and the inter-chunk gaps of both when they have the same chunks.
 *       (Later chunks are not compared by arrival time: the upstream paces each chunk
 *       after writing the previous one, so separate streams drift apart.)
 *   bench_client hold HOST:PORT BODY_FILE N HOLD_S [-H 'Name: value']...
 *       opens N connections at once, sends a streamed request on each, waits until each
 *       has received its first content chunk (or 60 s), prints "ready K N ERRORS" on
 *       stdout, keeps reading for HOLD_S seconds, then closes them all.
 *   bench_client request METHOD URL [BODY]
 *       one request; prints the body, exits 0 on a 2xx (configures sessions, mock scripts).
 *   bench_client seq URL BODY_FILE N [-H 'Name: value']...
 *       N requests one after another on one keep-alive connection; prints
 *       "ok K N" (K = 2xx answers). Used to drive the proxy under callgrind.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_client: cannot read %s: %s\n", path, strerror(errno));
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "bench_client: cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

/* ---- script ----------------------------------------------------------------------- */

static int cmd_script(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    const char *model = argv[2];
    int words = atoi(argv[3]);
    int interval = atoi(argv[4]);
    static const char *vocab[] = {
        "the",    "caller", "asked", "about",   "moving",  "her",   "cleaning", "to",
        "Monday", "at",     "9.30",  "because", "work",    "got",   "busy",     "and",
        "Dr.",    "Patel",  "has",   "an",      "opening", "after", "lunch",    "which",
        "might",  "suit",   "them",  "better",  "so",      "we",    "confirm",  "it"};
    size_t nv = sizeof vocab / sizeof vocab[0];
    char *text = malloc((size_t)words * 16 + 16);
    size_t *splits = malloc(sizeof *splits * (size_t)words);
    if (!text || !splits)
        return 1;
    size_t len = 0, ns = 0;
    for (int i = 0; i < words; i++) {
        bool first = i % 10 == 0;
        bool last = i % 10 == 9 || i == words - 1;
        if (i > 0) {
            splits[ns++] = len;
            text[len++] = ' ';
        }
        const char *w = vocab[(size_t)i * 7 % nv];
        size_t wl = strlen(w);
        memcpy(text + len, w, wl);
        if (first && text[len] >= 'a' && text[len] <= 'z')
            text[len] = (char)(text[len] - 'a' + 'A');
        len += wl;
        if (last)
            text[len++] = i % 30 == 29 ? '?' : '.';
    }
    text[len] = '\0';
    printf("[{\"model\":\"%s\",\"count\":1000000,\"chunk_interval_ms\":%d,\"text\":\"%s\","
           "\"split_at\":[",
           model, interval, text);
    for (size_t i = 0; i < ns; i++)
        printf("%s%zu", i ? "," : "", splits[i]);
    printf("]}]\n");
    free(text);
    free(splits);
    return 0;
}

/* ---- curl helpers ------------------------------------------------------------------ */

typedef struct opts {
    struct curl_slist *headers;
} opts;

static void parse_headers(int argc, char **argv, int from, opts *o)
{
    o->headers = curl_slist_append(NULL, "Content-Type: application/json");
    for (int i = from; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-H") == 0)
            o->headers = curl_slist_append(o->headers, argv[i + 1]);
    }
}

static CURL *make_easy(const char *url, const char *body, size_t body_len, const opts *o)
{
    CURL *h = curl_easy_init();
    if (!h)
        exit(1);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, o->headers);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    return h;
}

/* ---- stream ------------------------------------------------------------------------ */

typedef struct stream_rec {
    double t0;
    char line[65536];
    size_t line_len;
    long cum; /* non-blank content bytes so far */
    FILE *out;
    int req;
    bool record;
    int events;
} stream_rec;

/* Counts the non-blank bytes of the text in one data line — OpenAI's delta "content",
 * or Anthropic's content_block_delta "text" — or -1 when the line has none. Escapes
 * count as one byte; \n \t \r as blanks. */
static long content_bytes(const char *line, size_t len)
{
    static const char key[] = "\"content\":\"";
    static const char akey[] = "\"text\":\"";
    const char *end = line + len;
    const char *p = memmem(line, len, key, sizeof key - 1);
    if (p) {
        p += sizeof key - 1;
    } else if (memmem(line, len, "\"content_block_delta\"", 21) &&
               (p = memmem(line, len, akey, sizeof akey - 1))) {
        p += sizeof akey - 1;
    } else {
        return -1;
    }
    long n = 0;
    while (p < end && *p != '"') {
        if (*p == '\\' && p + 1 < end) {
            char e = p[1];
            if (e != 'n' && e != 't' && e != 'r')
                n++;
            p += e == 'u' ? 6 : 2;
            continue;
        }
        if (*p != ' ')
            n++;
        p++;
    }
    return n;
}

static void stream_line(stream_rec *r, double t)
{
    if (r->line_len < 6 || memcmp(r->line, "data: ", 6) != 0)
        return;
    long n = content_bytes(r->line, r->line_len);
    if (n <= 0)
        return;
    r->cum += n;
    r->events++;
    if (r->record)
        fprintf(r->out, "c %d %.1f %ld\n", r->req, t - r->t0, r->cum);
}

static size_t stream_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    stream_rec *r = ud;
    size_t n = size * nmemb;
    double t = now_us();
    for (size_t i = 0; i < n; i++) {
        char ch = ptr[i];
        if (ch == '\n') {
            stream_line(r, t);
            r->line_len = 0;
        } else if (r->line_len < sizeof r->line) {
            r->line[r->line_len++] = ch;
        }
    }
    return n;
}

static int cmd_stream(int argc, char **argv)
{
    if (argc < 6)
        return 2;
    size_t body_len;
    char *body = read_file(argv[3], &body_len);
    int n = atoi(argv[4]);
    FILE *out = fopen(argv[5], "a");
    if (!out)
        return 2;
    opts o;
    parse_headers(argc, argv, 6, &o);
    CURL *h = make_easy(argv[2], body, body_len, &o);
    stream_rec *r = calloc(1, sizeof *r);
    if (!r)
        return 1;
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, stream_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    int failed = 0;
    for (int i = -1; i < n; i++) {
        r->line_len = 0;
        r->cum = 0;
        r->events = 0;
        r->out = out;
        r->record = i >= 0;
        r->req = i;
        r->t0 = now_us();
        CURLcode rc = curl_easy_perform(h);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK || status != 200 || r->events == 0) {
            fprintf(stderr, "bench_client stream: request %d: %s, status %ld, %d events\n", i,
                    curl_easy_strerror(rc), status, r->events);
            failed++;
        }
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(o.headers);
    fclose(out);
    free(r);
    free(body);
    return failed ? 1 : 0;
}

/* ---- compare ----------------------------------------------------------------------- */

typedef struct ev {
    int req;
    double t;
    long cum;
} ev;

typedef struct run {
    ev *e;
    size_t n, cap;
    int n_req;
} run;

static void load_run(const char *path, run *r)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_client compare: cannot read %s\n", path);
        exit(2);
    }
    memset(r, 0, sizeof *r);
    char line[256];
    int base_req = 0, last_req = -1, max_req = -1;
    while (fgets(line, sizeof line, f)) {
        ev e;
        if (sscanf(line, "c %d %lf %ld", &e.req, &e.t, &e.cum) != 3)
            continue;
        /* files may hold several invocations appended: renumber requests */
        if (e.req < last_req)
            base_req = max_req + 1;
        last_req = e.req;
        e.req += base_req;
        if (e.req > max_req)
            max_req = e.req;
        if (r->n == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 1024;
            r->e = realloc(r->e, r->cap * sizeof *r->e);
            if (!r->e)
                exit(1);
        }
        r->e[r->n++] = e;
    }
    r->n_req = max_req + 1;
    fclose(f);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    if (n == 0)
        return NAN;
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)ceil(p / 100.0 * (double)n);
    if (i > 0)
        i--;
    if (i >= n)
        i = n - 1;
    return v[i];
}

/* Mean arrival time per content offset of the base run: index k of the first request's
 * events; every request has the same offsets (same script). */
static int cmd_compare(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    run base, other;
    load_run(argv[2], &base);
    load_run(argv[3], &other);
    if (base.n_req == 0 || other.n_req == 0) {
        printf("%-34s %s\n", argv[4], "(no data)");
        return 0;
    }
    size_t per = 0; /* events of base request 0 */
    while (per < base.n && base.e[per].req == base.e[0].req)
        per++;
    /* base: the median arrival time of each content offset over its requests (a mean
     * would let one slow stream of the upstream move every row) */
    size_t nr = (size_t)base.n_req;
    long *bcum = calloc(per, sizeof *bcum);
    double *bt = calloc(per, sizeof *bt);
    int *bn = calloc(per, sizeof *bn);
    double *bv = calloc(per * nr, sizeof *bv);
    if (!bcum || !bt || !bn || !bv)
        return 1;
    for (size_t i = 0; i < per; i++)
        bcum[i] = base.e[i].cum;
    for (size_t i = 0, k = 0; i < base.n; i++) {
        k = i > 0 && base.e[i].req == base.e[i - 1].req ? k + 1 : 0;
        if (k < per && base.e[i].cum == bcum[k] && (size_t)bn[k] < nr)
            bv[k * nr + (size_t)bn[k]++] = base.e[i].t;
    }
    for (size_t k = 0; k < per; k++)
        bt[k] = bn[k] ? pct(bv + k * nr, (size_t)bn[k], 50) : NAN;
    free(bv);

    double *first = calloc((size_t)other.n_req, sizeof *first);
    size_t nf = 0;
    size_t other_per = 0;
    while (other_per < other.n && other.e[other_per].req == other.e[0].req)
        other_per++;
    for (size_t i = 0; i < other.n; i++) {
        if (i > 0 && other.e[i].req == other.e[i - 1].req)
            continue; /* first events only */
        size_t k = 0;
        while (k < per && bcum[k] < other.e[i].cum)
            k++;
        if (k < per && !isnan(bt[k]))
            first[nf++] = other.e[i].t - bt[k];
    }
    /* gaps, only meaningful when both runs have the same chunks */
    double *gb = calloc(base.n, sizeof *gb), *go = calloc(other.n, sizeof *go);
    size_t ngb = 0, ngo = 0;
    for (size_t i = 1; i < base.n; i++)
        if (base.e[i].req == base.e[i - 1].req)
            gb[ngb++] = base.e[i].t - base.e[i - 1].t;
    for (size_t i = 1; i < other.n; i++)
        if (other.e[i].req == other.e[i - 1].req)
            go[ngo++] = other.e[i].t - other.e[i - 1].t;
    double *own = calloc((size_t)other.n_req, sizeof *own);
    size_t no = 0;
    for (size_t i = 0; own && i < other.n; i++)
        if (i == 0 || other.e[i].req != other.e[i - 1].req)
            own[no++] = other.e[i].t;
    double own50 = pct(own, no, 50);
    free(own);
    double f50 = pct(first, nf, 50), f90 = pct(first, nf, 90);
    printf("%-34s %7zu %8zu %9.0f %10.0f %10.0f", argv[4], other_per, (size_t)other.n_req, own50,
           f50, f90);
    if (other_per == per) {
        double b50 = pct(gb, ngb, 50), b99 = pct(gb, ngb, 99);
        double o50 = pct(go, ngo, 50), o99 = pct(go, ngo, 99);
        printf(" %9.0f %9.0f %9.0f %9.0f\n", b50, o50 - b50, b99, o99 - b99);
    } else {
        printf(" %9s %9s %9s %9s\n", "-", "-", "-", "-");
    }
    free(bcum);
    free(bt);
    free(bn);
    free(first);
    free(gb);
    free(go);
    free(base.e);
    free(other.e);
    return 0;
}

/* ---- seq --------------------------------------------------------------------------- */

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

static int cmd_seq(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    size_t body_len;
    char *body = read_file(argv[3], &body_len);
    int n = atoi(argv[4]);
    opts o;
    parse_headers(argc, argv, 5, &o);
    CURL *h = make_easy(argv[2], body, body_len, &o);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    int ok = 0;
    for (int i = 0; i < n; i++) {
        long status = 0;
        if (curl_easy_perform(h) == CURLE_OK &&
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status >= 200 &&
            status < 300)
            ok++;
    }
    printf("ok %d %d\n", ok, n);
    curl_easy_cleanup(h);
    curl_slist_free_all(o.headers);
    free(body);
    return ok == n ? 0 : 1;
}

/* ---- request ----------------------------------------------------------------------- */

static size_t to_stdout(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ud;
    return fwrite(ptr, size, nmemb, stdout);
}

static int cmd_request(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    opts o;
    parse_headers(argc, argv, argc, &o);
    const char *body = argc > 4 ? argv[4] : "";
    CURL *h = make_easy(argv[3], body, strlen(body), &o);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, argv[2]);
    if (strcmp(argv[2], "GET") == 0)
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, to_stdout);
    long status = 0;
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    printf("\n");
    if (rc != CURLE_OK)
        fprintf(stderr, "bench_client request: %s\n", curl_easy_strerror(rc));
    curl_easy_cleanup(h);
    curl_slist_free_all(o.headers);
    return rc == CURLE_OK && status >= 200 && status < 300 ? 0 : 1;
}

/* ---- hold -------------------------------------------------------------------------- */

typedef struct hconn {
    int fd;
    bool sent, ready, dead;
    char tail[40];
    size_t tail_len;
} hconn;

/* A text delta of an OpenAI chunk: {"content":" followed by anything but a quote. */
static bool has_content(hconn *c, const char *buf, size_t n)
{
    static const char key[] = "\"delta\":{\"content\":\"";
    const size_t kl = sizeof key - 1;
    char tmp[40 + 4096];
    size_t m = c->tail_len;
    memcpy(tmp, c->tail, m);
    size_t take = n < 4096 ? n : 4096;
    memcpy(tmp + m, buf, take);
    m += take;
    for (const char *p = tmp; (p = memmem(p, (size_t)(tmp + m - p), key, kl));) {
        if (p + kl < tmp + m && p[kl] != '"')
            return true;
        p++;
    }
    size_t keep = m < kl + 1 ? m : kl + 1;
    memcpy(c->tail, tmp + m - keep, keep);
    c->tail_len = keep;
    return false;
}

static int cmd_hold(int argc, char **argv)
{
    if (argc < 6)
        return 2;
    char host[64];
    const char *colon = strrchr(argv[2], ':');
    if (!colon || (size_t)(colon - argv[2]) >= sizeof host)
        return 2;
    memcpy(host, argv[2], (size_t)(colon - argv[2]));
    host[colon - argv[2]] = '\0';
    int port = atoi(colon + 1);
    size_t body_len;
    char *body = read_file(argv[3], &body_len);
    int n = atoi(argv[4]);
    double hold_s = atof(argv[5]);
    char req[65536];
    int rl = snprintf(req, sizeof req,
                      "POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\n"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n",
                      argv[2], body_len);
    for (int i = 6; i + 1 < argc; i += 2)
        if (strcmp(argv[i], "-H") == 0)
            rl += snprintf(req + rl, sizeof req - (size_t)rl, "%s\r\n", argv[i + 1]);
    rl += snprintf(req + rl, sizeof req - (size_t)rl, "\r\n");
    if ((size_t)rl + body_len >= sizeof req)
        return 2;
    memcpy(req + rl, body, body_len);
    rl += (int)body_len;

    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, host, &sa.sin_addr);
    int ep = epoll_create1(0);
    hconn *cs = calloc((size_t)n, sizeof *cs);
    if (ep < 0 || !cs)
        return 1;
    int opened = 0, ready = 0, errors = 0;
    double start = now_us(), ready_at = 0;
    char buf[65536];
    /* phase 1: open (in batches, so the listen backlog keeps up) until all are ready */
    while (ready + errors < n && now_us() - start < 60e6) {
        for (int b = 0; b < 100 && opened < n; b++, opened++) {
            hconn *c = &cs[opened];
            c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (c->fd < 0) {
                c->dead = true;
                errors++;
                continue;
            }
            int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
                close(c->fd);
                c->dead = true;
                errors++;
                continue;
            }
            struct epoll_event e = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e);
        }
        struct epoll_event evs[256];
        int k = epoll_wait(ep, evs, 256, 10);
        for (int i = 0; i < k; i++) {
            hconn *c = evs[i].data.ptr;
            if (c->dead)
                continue;
            if ((evs[i].events & EPOLLOUT) && !c->sent) {
                ssize_t w = write(c->fd, req, (size_t)rl);
                if (w != rl) {
                    c->dead = true;
                    errors++;
                    close(c->fd);
                    continue;
                }
                c->sent = true;
                struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t r = read(c->fd, buf, sizeof buf);
                if (r <= 0 && !(r < 0 && errno == EAGAIN)) {
                    c->dead = true;
                    if (!c->ready)
                        errors++;
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    close(c->fd);
                    continue;
                }
                if (r > 0 && !c->ready && has_content(c, buf, (size_t)r)) {
                    c->ready = true;
                    ready++;
                }
            }
        }
    }
    ready_at = now_us();
    printf("ready %d %d %d %.1f\n", ready, n, errors, (ready_at - start) / 1e6);
    fflush(stdout);
    /* phase 2: hold, reading what the slow streams send */
    while (now_us() - ready_at < hold_s * 1e6) {
        struct epoll_event evs[256];
        int k = epoll_wait(ep, evs, 256, 50);
        for (int i = 0; i < k; i++) {
            hconn *c = evs[i].data.ptr;
            ssize_t r = read(c->fd, buf, sizeof buf);
            if (r == 0 || (r < 0 && errno != EAGAIN)) {
                c->dead = true;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
            }
        }
    }
    for (int i = 0; i < opened; i++)
        if (!cs[i].dead)
            close(cs[i].fd);
    free(cs);
    free(body);
    close(ep);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(
            stderr,
            "usage: bench_client script|stream|compare|hold|seq|request ... (see the source)\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = 2;
    if (strcmp(argv[1], "script") == 0)
        rc = cmd_script(argc, argv);
    else if (strcmp(argv[1], "stream") == 0)
        rc = cmd_stream(argc, argv);
    else if (strcmp(argv[1], "compare") == 0)
        rc = cmd_compare(argc, argv);
    else if (strcmp(argv[1], "hold") == 0)
        rc = cmd_hold(argc, argv);
    else if (strcmp(argv[1], "seq") == 0)
        rc = cmd_seq(argc, argv);
    else if (strcmp(argv[1], "request") == 0)
        rc = cmd_request(argc, argv);
    if (rc == 2)
        fprintf(stderr, "bench_client: bad arguments (see the comment at the top of "
                        "bench/bench_client.c)\n");
    curl_global_cleanup();
    return rc;
}
