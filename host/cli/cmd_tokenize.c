/* cmd_tokenize.c — `clipcl tokenize`: CLIP token ids of texts given as arguments or as JSON
 * lines on stdin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: clipcl tokenize [--context] [--no-truncate] [--vocab FILE] TEXT...\n"
            "       clipcl tokenize --jsonl [--context] [--no-truncate] [--vocab FILE] < texts.jsonl\n\n"
            "Prints OpenAI CLIP's token ids of each TEXT, space-separated, one line per text.\n"
            "  --context      the %d ids the text encoder takes: %d, the BPE ids, %d, zero padding\n"
            "                 (cut so that %d stays last when too long); default: BPE ids only\n"
            "  --no-truncate  fail (exit 2) when a text needs more than %d ids with start and end\n"
            "  --jsonl        read one JSON string per line from stdin, write one JSON array of ids\n"
            "                 per line\n"
            "  --vocab FILE   bpe_simple_vocab_16e6.txt(.gz) instead of the embedded vocabulary\n",
            CLIPCL_CONTEXT_LENGTH, CLIPCL_SOT, CLIPCL_EOT, CLIPCL_EOT, CLIPCL_CONTEXT_LENGTH);
}

typedef struct {
    const clipcl_tokenizer *tok;
    int context, no_truncate, jsonl;
    int32_t *ids;
    int cap;
} tok_opts;

/* Tokenizes one text into o->ids; returns the count or -1 after reporting the error. */
static int run_one(tok_opts *o, const char *text, const char *where)
{
    int n = 0;
    clipcl_status st;
    if (o->context) {
        st = clipcl_tokenize(o->tok, text, o->ids, CLIPCL_CONTEXT_LENGTH, o->no_truncate, &n);
        if (st != CLIPCL_OK) {
            cli_lib_fail("tokenize", where, st);
            return -1;
        }
        return CLIPCL_CONTEXT_LENGTH;
    }
    for (;;) {
        st = clipcl_tokenize_raw(o->tok, text, -1, o->ids, o->cap, &n);
        if (st != CLIPCL_OK) {
            cli_lib_fail("tokenize", where, st);
            return -1;
        }
        if (n <= o->cap) break;
        int32_t *q = realloc(o->ids, (size_t)n * sizeof *q);
        if (!q) {
            cli_fail(2, "tokenize", "%s: out of memory for %d ids", where, n);
            return -1;
        }
        o->ids = q;
        o->cap = n;
    }
    if (o->no_truncate && n + 2 > CLIPCL_CONTEXT_LENGTH) {
        cli_fail(2, "tokenize", "%s: text has %d tokens with start and end, more than the context "
                 "of %d", where, n + 2, CLIPCL_CONTEXT_LENGTH);
        return -1;
    }
    return n;
}

static void print_ids(const int32_t *ids, int n, int json)
{
    if (json) putchar('[');
    for (int i = 0; i < n; i++) printf(i ? (json ? ", %d" : " %d") : "%d", (int)ids[i]);
    if (json) putchar(']');
    putchar('\n');
}

static int run_jsonl(tok_opts *o)
{
    char *line = NULL, where[64];
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int rc = 0;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        snprintf(where, sizeof where, "stdin line %ld", lineno);
        cJSON *j = cJSON_ParseWithLength(line, (size_t)len);
        if (!j || !cJSON_IsString(j)) {
            cJSON_Delete(j);
            rc = cli_fail(2, "tokenize", "%s: expected a JSON string", where);
            break;
        }
        int n = run_one(o, cJSON_GetStringValue(j), where);
        cJSON_Delete(j);
        if (n < 0) { rc = 2; break; }
        print_ids(o->ids, n, 1);
    }
    if (rc == 0 && ferror(stdin)) rc = cli_fail(2, "tokenize", "error reading stdin");
    free(line);
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    tok_opts o = {0};
    const char *vocab = NULL;
    int first_text = argc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--context")) o.context = 1;
        else if (!strcmp(a, "--no-truncate")) o.no_truncate = 1;
        else if (!strcmp(a, "--jsonl")) o.jsonl = 1;
        else if (!strcmp(a, "--vocab")) {
            if (++i >= argc) return cli_fail(2, "tokenize", "--vocab needs a file");
            vocab = argv[i];
        } else if (!strcmp(a, "--")) { first_text = i + 1; break; }
        else if (a[0] == '-' && a[1] == '-') {
            usage(stderr);
            return cli_fail(2, "tokenize", "unknown option '%s'", a);
        } else { first_text = i; break; }
    }
    if (o.jsonl && first_text < argc)
        return cli_fail(2, "tokenize", "--jsonl reads texts from stdin, not from arguments");
    if (!o.jsonl && first_text >= argc) {
        usage(stderr);
        return cli_fail(2, "tokenize", "no text given");
    }
    clipcl_tokenizer *tok = NULL;
    clipcl_status st = clipcl_tokenizer_create(vocab, &tok);
    if (st != CLIPCL_OK) return cli_lib_fail("tokenize", "loading the vocabulary", st);
    o.tok = tok;
    o.cap = CLIPCL_CONTEXT_LENGTH;
    o.ids = malloc((size_t)o.cap * sizeof *o.ids);
    int rc = 0;
    if (!o.ids) rc = cli_fail(2, "tokenize", "out of memory");
    else if (o.jsonl) rc = run_jsonl(&o);
    else {
        for (int i = first_text; i < argc; i++) {
            char where[32];
            snprintf(where, sizeof where, "text %d", i - first_text + 1);
            int n = run_one(&o, argv[i], where);
            if (n < 0) { rc = 2; break; }
            print_ids(o.ids, n, 0);
        }
    }
    if (fflush(stdout) != 0 && rc == 0) rc = cli_fail(2, "tokenize", "cannot write the output");
    free(o.ids);
    clipcl_tokenizer_free(tok);
    return rc;
}
