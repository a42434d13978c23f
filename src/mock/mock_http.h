/* mock_http.h — the mock's small HTTP/1.1 server on libevent bufferevents.
 *
 * Why not evhttp: the mock must misbehave on purpose (cut a body short against its
 * Content-Length, close mid-stream, never answer) and must know which TCP connection carried
 * each request and when a client went away mid-response. Owning the connection makes that
 * direct. It handles keep-alive, pipelining (one request at a time), Content-Length and
 * chunked request bodies, `Expect: 100-continue`, and HTTPS through bufferevent_openssl.
 *
 * Everything here runs on the thread of the event_base given to llmux__mock_http_new().
 */
#ifndef LLMUX_MOCK_HTTP_H
#define LLMUX_MOCK_HTTP_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct llmux__mock_http llmux__mock_http;
typedef struct llmux__mock_conn llmux__mock_conn;

/* One received request. Borrowed: valid until the response is finished
 * (llmux__mock_conn_done / _drop) or the connection closes. */
typedef struct llmux__mock_http_req {
    const char *method;
    const char *path;                 /* the target up to '?', not decoded */
    const char *query;                /* after '?', "" when none */
    const char *const *header_names;  /* lower-cased */
    const char *const *header_values; /* surrounding blanks trimmed */
    size_t nheaders;
    const char *body; /* NUL-terminated for convenience; body_len excludes the NUL */
    size_t body_len;
    int http_minor;   /* 1 for HTTP/1.1, 0 for HTTP/1.0 */
    bool keep_alive;  /* the connection stays open after this response */
    uint64_t conn_id; /* 1, 2, ... per accepted TCP connection */
} llmux__mock_http_req;

/* Called for each complete request. The handler must eventually finish the response with
 * llmux__mock_conn_done() or llmux__mock_conn_drop() (either now or later from a timer),
 * unless the connection closes first (then on_abort runs instead). */
typedef void (*llmux__mock_on_request)(llmux__mock_conn *conn, const llmux__mock_http_req *req,
                                       void *arg);

/* Called when a connection closes (peer went away, error, or server shutdown) while an
 * exchange is attached to it (llmux__mock_conn_set_exchange). The connection is gone after
 * this returns: the callee must forget it. */
typedef void (*llmux__mock_on_abort)(void *exchange, void *arg);

/* Starts listening on `addr` ("HOST:PORT", port 0 allowed) on `base`. With tls_cert and
 * tls_key (PEM files) it serves HTTPS. Returns NULL with a message in why on failure.
 * Free with llmux__mock_http_free(). */
llmux__mock_http *llmux__mock_http_new(struct event_base *base, const char *addr,
                                       const char *tls_cert, const char *tls_key,
                                       llmux__mock_on_request on_request,
                                       llmux__mock_on_abort on_abort, void *arg, char *why,
                                       size_t why_len);

/* The bound port. */
int llmux__mock_http_port(const llmux__mock_http *http);

/* Closes the listener and every connection (on_abort runs for each attached exchange). */
void llmux__mock_http_free(llmux__mock_http *http);

/* Queues bytes for the peer, as they are (the caller writes status line, headers and any
 * chunk framing). They leave as soon as the event loop runs. */
void llmux__mock_conn_write(llmux__mock_conn *conn, const void *data, size_t len);

/* Attaches the caller's exchange (NULL detaches): on_abort gets it if the connection closes
 * before the response is finished. */
void llmux__mock_conn_set_exchange(llmux__mock_conn *conn, void *exchange);

/* The response is complete: keep-alive connections read the next request, others close once
 * the output is flushed. Detaches the exchange. The request pointers die here. */
void llmux__mock_conn_done(llmux__mock_conn *conn);

/* Closes the TCP connection once what was written so far is flushed, whatever the HTTP
 * framing says (a fault on purpose). Detaches the exchange without calling on_abort. */
void llmux__mock_conn_drop(llmux__mock_conn *conn);

#endif
