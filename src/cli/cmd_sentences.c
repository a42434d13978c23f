/* cmd_sentences.c — `llmux sentences [--clean] [--json] [--eager] [--max-buffer N]`:
 * shows how a model's output will be chunked (and cleaned) for text-to-speech. Reads
 * stdin as a stream and prints each chunk as soon as the chunker emits it. */
#include "cli/commands.h"
#include "core/sentence.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void sentences_usage(FILE *out)
{
    fprintf(out,
            "usage: llmux sentences [--clean] [--json] [--eager] [--max-buffer BYTES]\n\n"
            "Reads text on stdin as a stream and prints the chunks a text-to-speech voice\n"
            "would get, as soon as each is certain: one per line (line breaks inside a\n"
            "chunk, as in a fenced code block, are shown as \\n and backslashes as \\\\), or\n"
            "with --json one JSON array of strings.\n\n"
            "  --clean           also clean each chunk (markdown, HTML, emoji; clean_sentences)\n"
            "  --json            print one JSON array of the chunks\n"
            "  --eager           end the first chunk early at a clause boundary\n"
            "  --max-buffer N    cap on a pending chunk in bytes (default %u, minimum %u)\n",
            LLMUX__SENTENCE_DEFAULT_CAP, LLMUX__SENTENCE_MIN_CAP);
}

typedef struct printer {
    bool json;
    size_t count; /* chunks printed so far */
} printer;

/* Writes s[0..len) as the body of a JSON string: UTF-8 is kept, invalid bytes become
 * U+FFFD so the output is always valid JSON. */
static void put_json_string(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    putchar('"');
    for (size_t i = 0; i < len;) {
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            putchar('\\');
            putchar(c);
            i++;
        } else if (c == '\n') {
            fputs("\\n", stdout);
            i++;
        } else if (c == '\r') {
            fputs("\\r", stdout);
            i++;
        } else if (c == '\t') {
            fputs("\\t", stdout);
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            printf("\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            putchar(c);
            i++;
        } else {
            size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
            bool ok = need > 0 && c <= 0xF4 && i + need <= len;
            for (size_t k = 1; ok && k < need; k++)
                ok = (u[i + k] & 0xC0) == 0x80;
            if (ok && need >= 3) {
                unsigned char t = u[i + 1];
                ok = !((c == 0xE0 && t < 0xA0) || (c == 0xED && t > 0x9F) ||
                       (c == 0xF0 && t < 0x90) || (c == 0xF4 && t > 0x8F));
            }
            if (ok) {
                fwrite(u + i, 1, need, stdout);
                i += need;
            } else {
                fputs("\\ufffd", stdout);
                i++;
            }
        }
    }
    putchar('"');
}

static int print_chunk(void *ud, const char *s, size_t len)
{
    printer *p = ud;
    if (p->json) {
        fputs(p->count ? ",\n  " : "[\n  ", stdout);
        put_json_string(s, len);
    } else {
        for (size_t i = 0; i < len; i++) {
            if (s[i] == '\n')
                fputs("\\n", stdout);
            else if (s[i] == '\r')
                fputs("\\r", stdout);
            else if (s[i] == '\\')
                fputs("\\\\", stdout);
            else
                putchar(s[i]);
        }
        putchar('\n');
    }
    p->count++;
    return ferror(stdout) ? LLMUX_EIO : 0;
}

int llmux__cmd_sentences(int argc, char **argv)
{
    llmux__sentence_options opt = {0};
    printer p = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            sentences_usage(stdout);
            return 0;
        } else if (strcmp(a, "--clean") == 0) {
            opt.clean = true;
        } else if (strcmp(a, "--json") == 0) {
            p.json = true;
        } else if (strcmp(a, "--eager") == 0) {
            opt.eager_first_chunk = true;
        } else if (strcmp(a, "--max-buffer") == 0 && i + 1 < argc) {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (errno || !end || *end || argv[i][0] == '-' || v == 0) {
                fprintf(stderr, "llmux sentences: --max-buffer needs a positive byte count\n");
                return 2;
            }
            opt.max_buffer = (size_t)v;
        } else {
            fprintf(stderr, "llmux sentences: unknown argument '%s'\n", a);
            sentences_usage(stderr);
            return 2;
        }
    }
    llmux__sentencer *s = llmux__sentencer_new(&opt);
    if (!s) {
        fprintf(stderr, "llmux sentences: out of memory\n");
        return 1;
    }
    int status = 0, rc = 0;
    char buf[16384];
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "llmux sentences: reading stdin: %s\n", strerror(errno));
            status = 1;
            break; /* still flush what was read */
        }
        if (n == 0)
            break;
        rc = llmux__sentencer_feed(s, buf, (size_t)n, print_chunk, &p);
        fflush(stdout);
        if (rc)
            break;
    }
    if (!rc)
        rc = llmux__sentencer_finish(s, print_chunk, &p);
    if (p.json)
        fputs(p.count ? "\n]\n" : "[]\n", stdout);
    if (fflush(stdout) != 0 && !rc)
        rc = LLMUX_EIO;
    if (rc) {
        fprintf(stderr, "llmux sentences: %s\n", llmux_strerror((llmux_code)rc));
        status = 1;
    }
    llmux__sentencer_free(s);
    return status;
}
