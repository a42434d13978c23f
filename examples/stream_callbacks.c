/* stream_callbacks.c — streaming for code that runs its own event loop.
 *
 * The callbacks run on the client's background thread, so they only hand each
 * chunk to the application's loop — here a poll() loop reading a pipe — and
 * return at once. The loop does the real work (printing; a voice agent would
 * queue speech).
 *
 * Usage: stream_callbacks */
#define _POSIX_C_SOURCE 200809L /* pipe, poll, strdup */
#include <llmux.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What travels through the pipe: one message per chunk, then one for the end. */
typedef struct message {
    int end;         /* 1: the stream ended */
    llmux_code code; /* the end's outcome */
    char *text;      /* a sentence (malloc), or NULL */
} message;

static int pipe_fds[2];

static int on_chunk(void *ud, const llmux_chunk *chunk)
{
    (void)ud;
    if (chunk->kind != LLMUX_CHUNK_TEXT)
        return 0;
    message m = {0, LLMUX_OK, strdup(chunk->text)};
    return write(pipe_fds[1], &m, sizeof m) == (ssize_t)sizeof m ? 0 : 1;
}

static void on_end(void *ud, const llmux_error *err)
{
    (void)ud;
    message m = {1, err->code, err->code ? strdup(err->message) : NULL};
    if (write(pipe_fds[1], &m, sizeof m) != (ssize_t)sizeof m)
        free(m.text);
}

int main(void)
{
    llmux_client_options opts = {.proxy_url = getenv("LLMUX_PROXY_URL"),
                                 .proxy_token = getenv("LLMUX_PROXY_TOKEN")};
    llmux_client *client = NULL;
    llmux_session *session = NULL;
    llmux_request *req = NULL;
    llmux_stream *stream = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    int status = 1;

    if (pipe(pipe_fds) != 0)
        return 1;
    if (llmux_client_new(&opts, &client, &err) != LLMUX_OK ||
        llmux_session_new(client, NULL, &session) != LLMUX_OK)
        goto fail;
    llmux_provider_options managed = {.managed = true};
    if (llmux_configure_provider(session, "openai", &managed, &err) != LLMUX_OK)
        goto fail;
    req = llmux_request_new("openai", "gpt-4.1-mini");
    llmux_params_add_message(llmux_request_params(req), "user", "Say something.");
    llmux_request_set_stream_options(req, true, false, false);
    llmux_stream_callbacks cb = {.ud = NULL, .on_chunk = on_chunk, .on_end = on_end};
    if (llmux_generate_chat_completion_stream_cb(session, req, &cb, &stream, &err) != LLMUX_OK)
        goto fail;

    /* The application's own event loop. */
    struct pollfd pfd = {.fd = pipe_fds[0], .events = POLLIN};
    int sentences = 0;
    for (;;) {
        if (poll(&pfd, 1, 30000) <= 0) {
            fprintf(stderr, "no event within 30 s\n");
            goto out;
        }
        message m;
        if (read(pipe_fds[0], &m, sizeof m) != (ssize_t)sizeof m)
            goto out;
        if (!m.end) {
            printf("sentence %d: %s\n", ++sentences, m.text);
            free(m.text);
            continue;
        }
        if (m.code == LLMUX_OK)
            printf("on_end: ok after %d sentences\n", sentences);
        else
            printf("on_end: %s: %s\n", llmux_code_type(m.code), m.text);
        free(m.text);
        break;
    }
    status = 0;
    goto out;
fail:
    fprintf(stderr, "error: %s: %s\n", llmux_code_type(err.code), err.message);
out:
    llmux_stream_free(stream);
    llmux_request_free(req);
    llmux_session_free(session);
    llmux_client_free(client);
    llmux_error_free(&err);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return status;
}
