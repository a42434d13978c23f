/*
 * log.h — structured logs: one JSON object per line,
 *   {"ts":"2025-01-02T03:04:05.678Z","level":"info","event":"listening","addr":"127.0.0.1:8080"}
 * written with a single write(2) per line (lines from several threads never interleave;
 * a short write is completed by further writes).
 *
 *   llmux__log(LLMUX__LOG_INFO, "listening", LLMUX__LS("addr", addr), LLMUX__LI("port", p));
 *
 * Field constructors (keys are static strings; values are copied into the line):
 *   LLMUX__LS(key, const char *)  string (NULL → null)
 *   LLMUX__LI(key, integer)       integer (long long)
 *   LLMUX__LD(key, double)        number (NaN/Inf → null)
 *   LLMUX__LB(key, bool)          true / false
 *   LLMUX__LC(key, const char *)  message content (prompt or completion text): written only
 *                                 when content logging is on, else the field is left out
 * Strings are JSON-escaped; invalid UTF-8 becomes U+FFFD; a value longer than
 * LLMUX__LOG_VALUE_MAX bytes is cut there and ends with "...(truncated)".
 *
 * Keys. There is no redaction pass that guesses what looks like a key: the design keeps
 * keys away from the logger instead. No type here carries a key (llmux__log_request has
 * no key field; resolved provider configs are never logged) and callers must never pass
 * a key, an Authorization header or a provider config to a field constructor. Request
 * paths are logged without their query string.
 *
 * Configuration is process-wide (documented one-time set-up; the settings are atomics,
 * so changing them later is safe, e.g. on SIGHUP). Before llmux__log_configure: stderr,
 * level info, no content. Every function here is thread-safe.
 */
#ifndef LLMUX_SERVER_LOG_H
#define LLMUX_SERVER_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum llmux__log_level {
    LLMUX__LOG_ERROR = 0,
    LLMUX__LOG_WARN = 1,
    LLMUX__LOG_INFO = 2,
    LLMUX__LOG_DEBUG = 3
} llmux__log_level;

/* Longest string value written, in bytes of input. */
#define LLMUX__LOG_VALUE_MAX 16384

/* Field types of the llmux__log varargs (use the LLMUX__L* macros, not these). */
enum llmux__log_field_type {
    LLMUX__LT_END = 0,
    LLMUX__LT_STR,
    LLMUX__LT_INT,
    LLMUX__LT_DBL,
    LLMUX__LT_BOOL,
    LLMUX__LT_CONTENT
};

#define LLMUX__LS(k, v) LLMUX__LT_STR, (const char *)(k), (const char *)(v)
#define LLMUX__LI(k, v) LLMUX__LT_INT, (const char *)(k), (long long)(v)
#define LLMUX__LD(k, v) LLMUX__LT_DBL, (const char *)(k), (double)(v)
#define LLMUX__LB(k, v) LLMUX__LT_BOOL, (const char *)(k), (int)((v) != 0)
#define LLMUX__LC(k, v) LLMUX__LT_CONTENT, (const char *)(k), (const char *)(v)

/* Writes one line {ts, level, event, fields...} when level is enabled. The macro ends
 * the field list; call it as llmux__log(level, event, field, field, ...). */
#define llmux__log(level, ...) llmux__log_write((level), __VA_ARGS__, LLMUX__LT_END)

/* What llmux__log expands to: the fields are (type, key, value) triples ending with
 * LLMUX__LT_END. Prefer the macro. */
void llmux__log_write(llmux__log_level level, const char *event, ...);

/*
 * Sets where lines go (out: its file descriptor is used directly, bypassing stdio
 * buffering; NULL → stderr), the most detailed level written, and whether LLMUX__LC
 * content fields are written. out must stay open while logging may happen.
 */
void llmux__log_configure(FILE *out, llmux__log_level level, bool log_content);

/* True when a line at `level` would be written: skip expensive argument preparation
 * otherwise. */
bool llmux__log_enabled(llmux__log_level level);

/* True when content logging is on. */
bool llmux__log_content_enabled(void);

/* "error", "warn", "info", "debug". */
const char *llmux__log_level_name(llmux__log_level level);

/* Parses a --log-level value (the names above, "warning" too). False when unknown. */
bool llmux__log_level_parse(const char *name, llmux__log_level *out);

/* One upstream attempt of a request, for the request line. Borrowed strings. */
typedef struct llmux__log_attempt {
    const char *provider;   /* "openai", ... */
    const char *model;      /* the model asked for */
    int status;             /* upstream HTTP status; 0: none (transport failure) → null */
    const char *error_type; /* NULL on success → null */
    double latency_ms;
} llmux__log_attempt;

/* The per-request line (event "request"). Borrowed strings; NULL ones are written as
 * null. Carries no message content and has no place for a key. */
typedef struct llmux__log_request {
    const char *id;      /* request id */
    const char *session; /* session id (never the token) */
    const char *method;
    const char *path;     /* logged up to its '?': a query string never reaches the log */
    int status;           /* HTTP status answered */
    const char *outcome;  /* "success" or the error type */
    const char *provider; /* provider that answered (else the primary), or NULL */
    const char *model;    /* its model, or NULL */
    const llmux__log_attempt *attempts;
    size_t n_attempts;
    double latency_ms; /* whole request at the proxy */
    double ttfb_ms;    /* first byte sent to the client; < 0: left out */
} llmux__log_request;

/* Writes the request line: level info, or warn when status >= 500. */
void llmux__log_request_line(const llmux__log_request *r);

#endif
