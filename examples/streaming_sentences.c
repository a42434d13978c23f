/* streaming_sentences.c — seed 002: a streamed turn cut into whole sentences
 * for TTS.
 *
 * chunk_by_sentence emits one whole sentence per chunk the moment it is
 * complete; clean_sentences removes markdown a voice must not read. Retries and
 * the fallback happen only before the first chunk: once text reached the
 * handler, the provider owns the turn, and a failure comes out of the iteration
 * (stream_interrupted) — retrying would repeat what the user already heard.
 *
 * Usage: streaming_sentences ["prompt"] */
#include <llmux.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    const char *prompt = argc > 1 ? argv[1] : "Tell me about the cable measurements.";
    llmux_client_options opts = {.proxy_url = getenv("LLMUX_PROXY_URL"),
                                 .proxy_token = getenv("LLMUX_PROXY_TOKEN")};
    llmux_client *client = NULL;
    llmux_session *session = NULL;
    llmux_request *req = NULL;
    llmux_stream *stream = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    int status = 1;

    if (llmux_client_new(&opts, &client, &err) != LLMUX_OK ||
        llmux_session_new(client, NULL, &session) != LLMUX_OK)
        goto fail;
    llmux_provider_options managed = {.managed = true};
    if (llmux_configure_provider(session, "anthropic", &managed, &err) != LLMUX_OK ||
        llmux_configure_provider(session, "openai", &managed, &err) != LLMUX_OK)
        goto fail;

    req = llmux_request_new("anthropic", "claude-haiku-4-5");
    llmux_params_add_message(llmux_request_params(req), "user", prompt);
    llmux_request_add_fallback(req, "openai", "gpt-4.1-mini");
    /* stream_options={"chunk_by_sentence": True, "clean_sentences": True} */
    llmux_request_set_stream_options(req, true, true, false);
    if (llmux_generate_chat_completion_stream(session, req, &stream, &err) != LLMUX_OK)
        goto fail;

    llmux_chunk chunk;
    llmux_code rc;
    int n = 0;
    while ((rc = llmux_stream_next(stream, &chunk, 30.0)) == LLMUX_OK &&
           chunk.kind != LLMUX_CHUNK_END) {
        if (chunk.kind == LLMUX_CHUNK_TEXT) /* yield TextToSpeechEvent(text=chunk.text) */
            printf("[%d] %s\n", ++n, chunk.text);
        else if (chunk.kind == LLMUX_CHUNK_TOOL_CALL_START)
            printf("(tool call: %s)\n", chunk.tool_name);
        fflush(stdout);
    }
    if (rc == LLMUX_OK) {
        printf("done: %d sentences from %s / %s\n", n, llmux_stream_provider(stream),
               llmux_stream_model(stream));
    } else if (rc == LLMUX_ETIMEOUT) {
        printf("no chunk within 30 s; giving up on this turn\n"); /* freeing cancels it */
    } else {
        /* raised inside the iteration: after the first chunk no retry, no fallback */
        const llmux_error *e = llmux_stream_error(stream);
        printf("stream error after %d sentences: %s: %s\n", n, llmux_code_type(e->code),
               e->message);
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
    return status;
}
