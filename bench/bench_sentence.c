/* bench_sentence.c — throughput of the streaming sentence chunker, with and without
 * cleaning, on a large mixed text (not a test; prints a table).
 *
 * usage: bench_sentence [SENTENCES_JSONL] [MEGABYTES]
 * The text is every `text` of ../shared/data/sentences.jsonl (prose, abbreviations,
 * numbers, URLs, markdown, tables, code, HTML, emoji, CJK, ...) joined by blank lines and
 * repeated up to MEGABYTES (default 50). Without the file a built-in mixed sample is
 * used. Each mode runs 3 times; the best time is reported. Time is CPU time of this
 * (single-threaded) process, so MB/s is per core even on a busy machine; the wall-clock
 * time of the same run is shown beside it. */
#include "core/sentence.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char k_builtin[] =
    "Sure! Here's how to reset your router:\n\n1. **Unplug** the power cable.\n"
    "2. Wait about 30 seconds, e.g. while Dr. Smith checks v2.4.1 at 10.0.0.1.\n"
    "The total is $42.50. Would you like a receipt? Visit https://example.com/a_b. Thanks!\n"
    "| Plan | Price |\n|---|---|\n| Basic | $10 |\n```sh\ngit push --force\n```\n"
    "This is <b>bold</b> &amp; *nice* \xF0\x9F\x8E\x89 \xE4\xBD\xA0\xE5\xA5\xBD\xE3\x80\x82"
    "Well... I'm not sure. It's at 3 p.m. tomorrow. \xC2\xBF"
    "C\xC3\xB3mo est\xC3\xA1s?\n\n";

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}

/* The corpus texts joined by blank lines (malloc'd), or NULL. */
static char *corpus_sample(const char *path, size_t *out_len)
{
    size_t len;
    char *data = read_all(path, &len);
    if (!data)
        return NULL;
    char *sample = malloc(len + 1);
    size_t n = 0;
    for (char *line = data; sample && line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        cJSON *c = cJSON_Parse(line);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "text");
        if (cJSON_IsString(t)) {
            size_t l = strlen(t->valuestring);
            memcpy(sample + n, t->valuestring, l);
            n += l;
            memcpy(sample + n, "\n\n", 2);
            n += 2;
        }
        cJSON_Delete(c);
        line = nl ? nl + 1 : NULL;
    }
    free(data);
    *out_len = n;
    return sample;
}

typedef struct sink {
    size_t chunks, bytes;
} sink;

static int count(void *ud, const char *s, size_t len)
{
    sink *k = ud;
    k->chunks++;
    k->bytes += len + (unsigned char)s[0];
    return 0;
}

static double seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void bench(const char *name, const char *text, size_t len, size_t delta, bool clean)
{
    double best = 1e30, best_wall = 1e30;
    sink k = {0};
    for (int rep = 0; rep < 3; rep++) {
        llmux__sentence_options opt = {.clean = clean};
        llmux__sentencer *s = llmux__sentencer_new(&opt);
        if (!s) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        k = (sink){0};
        double t0 = seconds(CLOCK_PROCESS_CPUTIME_ID), w0 = seconds(CLOCK_MONOTONIC);
        for (size_t i = 0; i < len; i += delta) {
            size_t n = len - i < delta ? len - i : delta;
            if (llmux__sentencer_feed(s, text + i, n, count, &k) != LLMUX_OK) {
                fprintf(stderr, "feed failed\n");
                exit(1);
            }
        }
        llmux__sentencer_finish(s, count, &k);
        double t = seconds(CLOCK_PROCESS_CPUTIME_ID) - t0, w = seconds(CLOCK_MONOTONIC) - w0;
        llmux__sentencer_free(s);
        if (t < best)
            best = t;
        if (w < best_wall)
            best_wall = w;
    }
    double mb = (double)len / 1e6;
    printf("%-14s %8zu %6.1f %9zu %9.3f %9.3f %9.1f\n", name, delta, mb, k.chunks, best, best_wall,
           mb / best);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "../shared/data/sentences.jsonl";
    double want_mb = argc > 2 ? atof(argv[2]) : 50.0;
    size_t sample_len;
    char *sample = corpus_sample(path, &sample_len);
    const char *source = "built-in sample";
    if (!sample) {
        sample_len = sizeof k_builtin - 1;
        sample = malloc(sample_len);
        if (!sample)
            return 1;
        memcpy(sample, k_builtin, sample_len);
    } else {
        source = path;
    }
    size_t len = (size_t)(want_mb * 1e6);
    char *text = malloc(len);
    if (!text || sample_len == 0)
        return 1;
    for (size_t i = 0; i < len; i += sample_len)
        memcpy(text + i, sample, len - i < sample_len ? len - i : sample_len);
    printf("text: %s repeated to %.1f MB (%zu-byte sample)\n\n", source, (double)len / 1e6,
           sample_len);
    printf("%-14s %8s %6s %9s %9s %9s %9s\n", "mode", "delta_B", "MB", "chunks", "cpu_s", "wall_s",
           "MB/s");
    bench("chunk", text, len, 65536, false);
    bench("chunk", text, len, 16, false);
    bench("chunk+clean", text, len, 65536, true);
    bench("chunk+clean", text, len, 16, true);
    free(text);
    free(sample);
    return 0;
}
