/* harness.h — helpers for integration tests: start and stop llmux processes (the mock,
 * later the proxy), blocking HTTP on libcurl, SSE splitting, JSON shape comparison, the
 * mock's control endpoints and a throw-away TLS certificate.
 *
 * Everything is bounded: process start waits at most the given time for the port line,
 * stop escalates SIGTERM to SIGKILL, every HTTP call has a timeout. Children get
 * PR_SET_PDEATHSIG so a crashed test leaves no server behind. Not thread-safe unless
 * stated; use from the test's main thread.
 */
#ifndef LLMUX_TEST_HARNESS_H
#define LLMUX_TEST_HARNESS_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* ---------------------------------------------------------------------------------- */
/* Child processes                                                                      */
/* ---------------------------------------------------------------------------------- */

/* A running child. Zero-initialise; tu_proc_start() fills it. */
typedef struct tu_proc {
    pid_t pid;            /* 0 when not running */
    int port;             /* from the first stdout line ("... HOST:PORT" or "PORT"), 0 none */
    char first_line[256]; /* that line, without the newline */
    int out_fd;           /* read end of the child's stdout (drained by a thread) */
    pthread_t drainer;
    bool draining;
    char *output; /* stdout after the first line; complete after tu_proc_stop() */
    size_t output_len;
    int exit_status; /* after tu_proc_stop(): exit code, or 128 + signal number */
} tu_proc;

/* The llmux binary under test: $LLMUX_BIN, else the path CMake compiled in. */
const char *tu_llmux_bin(void);

/* Starts argv[0] with argv (NULL-terminated) and, when env is not NULL, these extra
 * "NAME=VALUE" entries added to the environment. stdin is /dev/null, stderr is inherited.
 * Waits up to timeout_ms for the first stdout line and parses the port from it.
 * Returns 0, or -1 (the child is killed and reaped, p->pid is 0) when it could not start,
 * exited, or printed no line in time. */
int tu_proc_start(tu_proc *p, const char *const argv[], const char *const env[], int timeout_ms);

/* Sends SIGTERM, waits up to grace_ms, then SIGKILL; reaps the child and the stdout
 * drainer. Returns the exit status (also in p->exit_status). Safe on a stopped or zeroed
 * proc (returns -1). Frees p->output only in tu_proc_free(). */
int tu_proc_stop(tu_proc *p, int grace_ms);

/* Stops the child if running (grace 2 s) and frees p->output. */
void tu_proc_free(tu_proc *p);

/* Starts `llmux mock --listen 127.0.0.1:0` plus extra_args (NULL-terminated, may be NULL)
 * and waits (5 s at most) for its port. Returns 0 or -1. */
int tu_mock_start(tu_proc *p, const char *const extra_args[]);

/* Writes "http://127.0.0.1:PORT" + path into buf and returns buf. */
const char *tu_url(char *buf, size_t n, int port, const char *path);

/* ---------------------------------------------------------------------------------- */
/* HTTP (libcurl, blocking)                                                             */
/* ---------------------------------------------------------------------------------- */

#define TU_MAX_WRITES 512

/* One finished (or failed) transfer. Free with tu_response_free(). */
typedef struct tu_response {
    long status;     /* HTTP status, 0 when no status line arrived */
    int curl_code;   /* CURLcode: 0 ok, 18 partial body, 28 timeout, 52 empty reply,
                      * 56 receive error (reset / broken chunked stream) */
    char error[256]; /* curl's message when curl_code != 0 */
    char *headers;   /* the raw header block(s), NUL-terminated */
    size_t headers_len;
    char *body; /* NUL-terminated */
    size_t body_len;
    double total_ms;
    double first_byte_ms;            /* start to first response byte */
    long new_connections;            /* connections this transfer opened (0 when one was reused) */
    size_t nwrites;                  /* body pieces as they arrived (at most TU_MAX_WRITES kept) */
    double write_ms[TU_MAX_WRITES];  /* arrival time of each, from the transfer's start */
    size_t write_end[TU_MAX_WRITES]; /* body_len after each */
} tu_response;

/* Options for tu_http_ex(); zero = defaults. */
typedef struct tu_http_opts {
    long timeout_ms;     /* whole transfer; 0 = 10000 */
    bool insecure;       /* TLS: skip peer and host verification */
    const char *ca_file; /* TLS: trust this PEM (a self-signed test cert) */
    bool http10;         /* speak HTTP/1.0 */
} tu_http_opts;

/* A reusable connection cache: transfers through one client reuse keep-alive connections. */
typedef struct tu_client tu_client;

/* A new client; NULL when out of memory. Free with tu_client_free(). */
tu_client *tu_client_new(void);
void tu_client_free(tu_client *c);

/* One request: method ("GET", "POST", ...), url, headers (NULL-terminated array of
 * "Name: value", may be NULL), body (NUL-terminated, may be NULL). Fills *resp (always,
 * free it with tu_response_free()). Returns resp->curl_code: 0 when a whole response came,
 * whatever its status. A POST with a body gets Content-Type: application/json unless the
 * headers set one. client NULL: a fresh connection; opts NULL: defaults. */
int tu_http_ex(tu_client *client, const char *method, const char *url, const char *const headers[],
               const char *body, const tu_http_opts *opts, tu_response *resp);

/* tu_http_ex(NULL, method, url, headers, body, NULL, resp). */
int tu_http(const char *method, const char *url, const char *const headers[], const char *body,
            tu_response *resp);

void tu_response_free(tu_response *r);

/* Copies the value of the last response header `name` (case-insensitive) into buf and
 * returns buf, or NULL when absent. */
const char *tu_header(const tu_response *r, const char *name, char *buf, size_t n);

/* The body parsed as JSON, or NULL. Caller cJSON_Delete()s it. */
cJSON *tu_json(const tu_response *r);

/* ---------------------------------------------------------------------------------- */
/* Server-sent events                                                                   */
/* ---------------------------------------------------------------------------------- */

typedef struct tu_sse_event {
    char *event; /* the `event:` name, NULL when none */
    char *data;  /* `data:` lines joined with "\n" ("" when none) */
} tu_sse_event;

typedef struct tu_sse {
    tu_sse_event *events;
    size_t count;
    bool partial; /* the body ended inside an event (no blank line after it) */
} tu_sse;

/* Splits an event-stream body into events (LF, CRLF or CR line ends; `:` comments and
 * unknown fields skipped). Returns 0, or -1 when out of memory. Free with tu_sse_free(). */
int tu_sse_parse(const char *body, size_t len, tu_sse *out);
void tu_sse_free(tu_sse *s);

/* ---------------------------------------------------------------------------------- */
/* JSON shapes                                                                          */
/* ---------------------------------------------------------------------------------- */

/* True when `got` has every member `want` has, recursively, with the same JSON type
 * (numbers match numbers, true/false match either; a null in `want` matches anything;
 * arrays compare their first elements when both have one). Members named in `ignore`
 * (NULL-terminated, may be NULL) are skipped at any depth. On false, why gets the path and
 * the difference ("choices[0].message.refusal: missing"). */
bool tu_json_same_shape(const cJSON *want, const cJSON *got, const char *const ignore[], char *why,
                        size_t why_len);

/* ---------------------------------------------------------------------------------- */
/* The mock's control endpoints                                                         */
/* ---------------------------------------------------------------------------------- */

/* POST /_mock/script with `json`. Returns the HTTP status (200 accepted), -1 on transport
 * failure. When why is not NULL it gets the response body. */
int tu_mock_script(int port, const char *json, char *why, size_t why_len);

/* POST /_mock/reset (steps and request log). Returns the HTTP status or -1. */
int tu_mock_reset(int port);

/* GET /_mock/requests: the parsed response ({"requests": [...], "dropped": n}) or NULL.
 * Caller cJSON_Delete()s it. */
cJSON *tu_mock_requests(int port);

/* ---------------------------------------------------------------------------------- */
/* TLS                                                                                  */
/* ---------------------------------------------------------------------------------- */

/* Makes a self-signed certificate for 127.0.0.1/localhost with the openssl CLI in a new
 * temporary directory: cert and key get the file paths (PATH_MAX-sized buffers).
 * Returns 0, 1 when the openssl CLI is not available (skip the test), -1 on error.
 * Remove the files with tu_remove_cert(). */
int tu_make_cert(char *cert, char *key);
void tu_remove_cert(const char *cert, const char *key);

/* Milliseconds on a monotonic clock. */
double tu_now_ms(void);

/* Sleeps ms milliseconds. */
void tu_sleep_ms(long ms);

#endif
