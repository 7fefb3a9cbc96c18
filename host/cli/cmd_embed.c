/* cmd_embed.c — `clipcl embed`: L2-normalized embeddings of image files or texts as a float32
 * .npy matrix plus a sidecar naming the source of each row. Both files are written through
 * a temporary file and renamed, and are opened before the model loads so that an unwritable
 * output fails at once rather than after the work. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "common.h"
#include "npy.h"

#define CMD "embed"
#define MAX_TEXT_FILE (256u << 20)
#define MAX_ROWS (1 << 26)

static void help(FILE *f)
{
    fprintf(f,
            "usage: clipcl embed (--images IMAGE|DIR... | --texts FILE) -o OUT.npy [--jsonl]\n"
            "                    [-m MODEL] [-d DEVICE] [--batch N] [-q]\n\n"
            "Writes L2-normalized float32 embeddings as a NumPy .npy file (version 1.0, '<f4', C order,\n"
            "shape (rows, embed_dim)) and a sidecar naming the source of each row: OUT.txt with one\n"
            "source per line, or OUT.jsonl with one {\"row\": i, \"source\": ...} object per line.\n"
            "(OUT.txt / OUT.jsonl replace a trailing .npy of OUT; otherwise they are appended.)\n\n"
            "  --images          the arguments are image files and folders; folders are walked\n"
            "                    recursively (image extensions only, hidden files skipped, sorted)\n"
            "  --texts FILE      one UTF-8 text per line, every line (empty ones too) a row; with\n"
            "                    --jsonl one JSON string per line (blank lines skipped)\n"
            "  -o, --output OUT  the .npy file; files are replaced atomically (temp file + rename)\n"
            "  --jsonl           JSON-lines sidecar (and JSON-string input for --texts)\n" CLI_COMMON_HELP
            "\nExit status: 0 written, 1 no input found, 2 bad usage or input.\n");
}

/* Splits buf (NUL-terminated, len bytes) into lines in place. Plain mode: every line is a
 * text (a final line without '\n' too, a trailing '\r' dropped). JSON mode: each non-blank
 * line must hold one JSON string. Texts are malloc'd. */
static int read_texts(const char *path, char *buf, size_t len, int jsonl, char ***out, int *count)
{
    char **v = NULL;
    int n = 0, cap = 0, rc = 0;
    size_t pos = 0;
    for (long line = 1; pos < len; line++) {
        char *s = buf + pos;
        char *nl = memchr(s, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - s) : len - pos;
        pos += l + (nl ? 1 : 0);
        if (memchr(s, '\0', l)) {
            rc = cli_fail(2, CMD, "%s:%ld: contains a NUL byte", path, line);
            break;
        }
        s[l] = '\0';
        if (l && s[l - 1] == '\r') s[--l] = '\0';
        char *text;
        if (jsonl) {
            if (!s[strspn(s, " \t\r\f\v")]) continue;
            cJSON *j = cJSON_ParseWithOpts(s, NULL, 1);
            if (!cJSON_IsString(j)) {
                cJSON_Delete(j);
                rc = cli_fail(2, CMD, "%s:%ld: not a JSON string", path, line);
                break;
            }
            text = strdup(j->valuestring);
            cJSON_Delete(j);
        } else {
            text = strdup(s);
        }
        if (n == MAX_ROWS) {
            free(text);
            rc = cli_fail(2, CMD, "%s: more than %d texts", path, MAX_ROWS);
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            char **nv = realloc(v, (size_t)cap * sizeof *v);
            if (!nv) {
                free(text);
                rc = cli_fail(2, CMD, "out of memory");
                break;
            }
            v = nv;
        }
        if (!text) {
            rc = cli_fail(2, CMD, "out of memory");
            break;
        }
        v[n++] = text;
    }
    if (rc) {
        cli_free_strings(v, n);
        return rc;
    }
    *out = v;
    *count = n;
    return 0;
}

static void sidecar_path(const char *out, int jsonl, char *buf, size_t cap)
{
    size_t l = strlen(out);
    if (l > 4 && !strcmp(out + l - 4, ".npy")) l -= 4;
    snprintf(buf, cap, "%.*s%s", (int)l, out, jsonl ? ".jsonl" : ".txt");
}

int cmd_embed(int argc, char **argv)
{
    static const struct option opts[] = {{"images", no_argument, 0, 'I'},
                                         {"texts", required_argument, 0, 'T'},
                                         {"output", required_argument, 0, 'o'},
                                         {"jsonl", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         CLI_COMMON_LONGOPTS,
                                         {0, 0, 0, 0}};
    cli_opts o = {0};
    const char *texts_file = NULL, *out = NULL;
    int images = 0, jsonl = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "o:h", opts, NULL)) != -1) {
        int r = cli_common_opt(CMD, c, optarg, &o);
        if (r >= 0) {
            if (r) return r;
            continue;
        }
        switch (c) {
        case 'I': images = 1; break;
        case 'T': texts_file = optarg; break;
        case 'o': out = optarg; break;
        case 'j': jsonl = 1; break;
        case 'h': help(stdout); return 0;
        default: return cli_fail(2, CMD, "bad option or missing value: %s (see --help)", argv[optind - 1]);
        }
    }
    if (images == !!texts_file) return cli_fail(2, CMD, "give either --images or --texts (see --help)");
    if (!out) return cli_fail(2, CMD, "no output file: give -o OUT.npy");
    if (texts_file && optind < argc) return cli_fail(2, CMD, "unexpected argument '%s' with --texts", argv[optind]);
    if (images && optind >= argc) return cli_fail(2, CMD, "--images needs image files or folders");

    char side[4096 + 8];
    sidecar_path(out, jsonl, side, sizeof side);
    char **src = NULL, *buf = NULL;
    int n = 0, rc;
    float *emb = NULL;
    npy_atomic fa = {0}, fs = {0};
    cli_session s = {0};

    if (images) {
        if ((rc = cli_collect_images(CMD, argv + optind, argc - optind, &src, &n))) goto done;
        if (n > MAX_ROWS) {
            rc = cli_fail(2, CMD, "more than %d images", MAX_ROWS);
            goto done;
        }
        if (!jsonl)
            for (int i = 0; i < n; i++)
                if (strpbrk(src[i], "\n\r")) {
                    rc = cli_fail(2, CMD, "%s: a path with a line break cannot go in a .txt sidecar; use --jsonl", src[i]);
                    goto done;
                }
    } else {
        size_t len;
        if ((rc = cli_read_file(CMD, texts_file, MAX_TEXT_FILE, &buf, &len))) goto done;
        if ((rc = read_texts(texts_file, buf, len, jsonl, &src, &n))) goto done;
    }
    if (n == 0) {
        rc = cli_fail(1, CMD, images ? "no image files found" : "%s: no texts", texts_file);
        goto done;
    }

    if (texts_file) {
        /* e.g. --texts t.jsonl -o t.npy --jsonl: the sidecar would replace the input */
        struct stat in, sb;
        if (stat(texts_file, &in) == 0 &&
            ((stat(out, &sb) == 0 && sb.st_dev == in.st_dev && sb.st_ino == in.st_ino) ||
             (stat(side, &sb) == 0 && sb.st_dev == in.st_dev && sb.st_ino == in.st_ino))) {
            rc = cli_fail(2, CMD, "%s: the output would overwrite this input file", texts_file);
            goto done;
        }
    }
    if (npy_atomic_open(&fa, out) || npy_atomic_open(&fs, side)) {
        rc = cli_fail(2, CMD, "%s: cannot write: %s", fa.f ? side : out, strerror(errno));
        goto done;
    }
    if ((rc = cli_open(CMD, &o, !images, images, &s))) goto done;
    const int E = clipcl_model_embed_dim(s.model);
    if (!(emb = malloc((size_t)n * (size_t)E * sizeof *emb))) {
        rc = cli_fail(2, CMD, "out of memory for %d × %d embeddings", n, E);
        goto done;
    }
    rc = images ? cli_embed_images(CMD, &s, &o, src, n, emb)
                : cli_embed_texts(CMD, &s, &o, (const char *const *)src, n, emb);
    if (rc) goto done;

    for (int i = 0; i < n; i++) {
        if (jsonl) {
            fprintf(fs.f, "{\"row\": %d, \"source\": ", i);
            cli_json_str(fs.f, src[i]);
            fputs("}\n", fs.f);
        } else {
            fprintf(fs.f, "%s\n", src[i]);
        }
    }
    if (npy_write_f32(fa.f, emb, n, E) || ferror(fs.f)) {
        rc = cli_fail(2, CMD, "%s: write error: %s", ferror(fs.f) ? side : out, strerror(errno));
        goto done;
    }
    /* sidecar first: a reader that finds the new matrix also finds its row names */
    if (npy_atomic_commit(&fs)) {
        rc = cli_fail(2, CMD, "%s: cannot write: %s", side, strerror(errno));
        goto done;
    }
    if (npy_atomic_commit(&fa)) {
        rc = cli_fail(2, CMD, "%s: cannot write: %s", out, strerror(errno));
        goto done;
    }
    printf("%s: %d × %d embeddings, sources in %s\n", out, n, E, side);
    rc = 0;
done:
    npy_atomic_abort(&fa);
    npy_atomic_abort(&fs);
    cli_close(&s);
    free(emb);
    free(buf);
    cli_free_strings(src, n);
    return rc;
}
