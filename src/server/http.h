/*
 * http.h — the proxy's HTTP/1.1 ingress on libevent bufferevents, parsed with
 * Node's http-parser.
 *
 * Owning the connection (rather than using evhttp) lets every limit answer with a
 * JSON error (413 body too large, 431 headers too large, 408 slow client, 400
 * malformed, 503 too many connections), lets streams apply backpressure (a drain
 * callback when the output buffer falls below a low watermark) and tells the
 * handler when a client goes away mid-response (on_abort), so the upstream
 * transfer can be cancelled at once.
 *
 * Keep-alive and pipelining: one request at a time per connection; bytes of the
 * next request wait in the input buffer until the response is finished.
 * Everything runs on the thread of the event_base given to llmux__http_server_new.
 */
#ifndef LLMUX_SERVER_HTTP_H
#define LLMUX_SERVER_HTTP_H

#include <event2/event.h>
#include <event2/util.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct llmux__http_server llmux__http_server;
typedef struct llmux__http_conn llmux__http_conn;

typedef struct llmux__http_limits {
    size_t max_body;          /* request body cap → 413; 0 → 8 MiB */
    size_t max_header_bytes;  /* request line + headers cap → 431; 0 → 32 KiB */
    double read_timeout_s;    /* a request must arrive whole within this → 408; 0 → 30 */
    double idle_timeout_s;    /* idle keep-alive connections close after; 0 → 75 */
    size_t max_connections;   /* per server; beyond → 503 and close; 0 → 10000 */
    size_t output_high_water; /* streams: pause the producer above this; 0 → 256 KiB */
} llmux__http_limits;

/* One request, borrowed by the handler until the response is finished. */
typedef struct llmux__http_req {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* up to '?', percent-decoding not applied */
    const char *query;  /* after '?', "" when none */
    const char *const *header_names;  /* lower-cased */
    const char *const *header_values; /* trimmed */
    size_t n_headers;
    const char *body; /* NUL-terminated; body_len excludes the NUL */
    size_t body_len;
    bool keep_alive;
    uint64_t conn_id; /* per server, from 1 */
    const char *peer; /* "ip:port" of the client */
} llmux__http_req;

/* A complete request arrived. The handler answers now or later (from the event loop)
 * with llmux__http_respond or llmux__http_stream_*; if the client goes away first,
 * on_abort runs instead with the exchange attached by llmux__http_set_exchange. */
typedef void (*llmux__http_on_request)(llmux__http_conn *conn, const llmux__http_req *req,
                                       void *ud);
typedef void (*llmux__http_on_abort)(void *exchange, void *ud);

/* Listens on fd (a bound, listening socket the server takes over). NULL on failure. */
llmux__http_server *llmux__http_server_new(struct event_base *base, evutil_socket_t fd,
                                           const llmux__http_limits *limits,
                                           llmux__http_on_request on_request,
                                           llmux__http_on_abort on_abort, void *ud);

/* Stops accepting new connections (existing ones go on). */
void llmux__http_server_stop_accepting(llmux__http_server *s);

/* Open connections and requests being answered. */
size_t llmux__http_server_connections(const llmux__http_server *s);
size_t llmux__http_server_busy(const llmux__http_server *s);

/* Closes every connection (on_abort for pending exchanges) and frees the server. */
void llmux__http_server_free(llmux__http_server *s);

/* Finishes the exchange with a whole response. `extra_headers` is "" or complete
 * "Name: value\r\n" lines. */
void llmux__http_respond(llmux__http_conn *c, int status, const char *content_type,
                         const char *body, size_t len, const char *extra_headers);

/* A JSON error body {"error":{"type":..., "message":...}} with `status`. */
void llmux__http_respond_error(llmux__http_conn *c, int status, const char *type,
                               const char *message);

/* Starts a chunked response (the status line and headers are sent now). */
void llmux__http_stream_start(llmux__http_conn *c, int status, const char *content_type,
                              const char *extra_headers);

/* Sends one chunk (len > 0). */
void llmux__http_stream_write(llmux__http_conn *c, const void *data, size_t len);

/* Ends the chunked response; the connection moves on to the next request. */
void llmux__http_stream_end(llmux__http_conn *c);

/* Bytes queued for the client and not yet sent. */
size_t llmux__http_output_pending(const llmux__http_conn *c);

/* True when the output is above the high watermark: the producer should pause and
 * wait for the drain callback. */
bool llmux__http_output_full(const llmux__http_conn *c);

/* Called (once per registration) when the output drops to half the high watermark. */
void llmux__http_on_drain(llmux__http_conn *c, void (*cb)(void *arg), void *arg);

/* Attaches the handler's exchange so on_abort can find it (NULL detaches). */
void llmux__http_set_exchange(llmux__http_conn *c, void *exchange);

#endif
