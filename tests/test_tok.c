/* test_tok.c — the CLIP tokenizer against ids produced by OpenAI's own Python tokenizer. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <zlib.h>

#include "clipcl.h"
#include "testutil.h"
#include "tok.h"

extern const unsigned char bpe_vocab_gz[];
extern const size_t bpe_vocab_gz_len;

static clipcl_tokenizer *tok;

static void setup(void)
{
    ck_assert_msg(clipcl_tokenizer_create(NULL, &tok) == CLIPCL_OK, "%s", clipcl_errmsg());
}

static void teardown(void)
{
    clipcl_tokenizer_free(tok);
    tok = NULL;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert(buf != NULL);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return buf;
}

static cJSON *load_json(const char *rel)
{
    char path[1024];
    char *text = read_all(tu_data(path, sizeof path, rel), NULL);
    cJSON *j = cJSON_Parse(text);
    free(text);
    ck_assert_msg(j != NULL, "cannot parse %s", path);
    return j;
}

/* The input bytes of a case: "text" (UTF-8) or "bytes_hex" (possibly invalid UTF-8). */
static char *case_bytes(const cJSON *c, size_t *len)
{
    const cJSON *t = cJSON_GetObjectItem(c, "text");
    if (cJSON_IsString(t)) {
        *len = strlen(t->valuestring);
        return strdup(t->valuestring);
    }
    const char *hex = cJSON_GetStringValue(cJSON_GetObjectItem(c, "bytes_hex"));
    ck_assert(hex != NULL);
    size_t n = strlen(hex) / 2;
    char *b = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        ck_assert(sscanf(hex + 2 * i, "%2x", &v) == 1);
        b[i] = (char)v;
    }
    b[n] = 0;
    *len = n;
    return b;
}

static int json_ints(const cJSON *arr, int32_t *out, int cap)
{
    int n = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        ck_assert(n < cap);
        out[n++] = (int32_t)v->valueint;
    }
    return n;
}

static void check_ids(const clipcl_tokenizer *t, const cJSON *c, int idx, const char *file)
{
    static int32_t want[100000], got[100000];
    size_t len;
    char *text = case_bytes(c, &len);
    int nw = json_ints(cJSON_GetObjectItem(c, "ids"), want, 100000);
    int n = -1;
    ck_assert_msg(clipcl_tokenize_raw(t, text, (ptrdiff_t)len, got, 100000, &n) == CLIPCL_OK, "%s",
                  clipcl_errmsg());
    ck_assert_msg(n == nw, "%s case %d: %d ids, expected %d", file, idx, n, nw);
    for (int i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "%s case %d: id %d is %d, expected %d", file, idx, i,
                      got[i], want[i]);
    if (strlen(text) == len) { /* clipcl_tokenize needs a NUL-free string */
        int32_t ctx[CLIPCL_CONTEXT_LENGTH], wctx[CLIPCL_CONTEXT_LENGTH];
        int nt = 0;
        ck_assert_int_eq(json_ints(cJSON_GetObjectItem(c, "context77"), wctx, 77), 77);
        ck_assert_int_eq(clipcl_tokenize(t, text, ctx, CLIPCL_CONTEXT_LENGTH, 0, &nt), CLIPCL_OK);
        ck_assert_int_eq(nt, nw + 2);
        for (int i = 0; i < 77; i++)
            ck_assert_msg(ctx[i] == wctx[i], "%s case %d: context id %d is %d, expected %d", file,
                          idx, i, ctx[i], wctx[i]);
    }
    const char *clean = cJSON_GetStringValue(cJSON_GetObjectItem(c, "clean"));
    if (clean) {
        char *out;
        size_t ol;
        ck_assert_int_eq(tok_clean_text(text, len, &out, &ol), CLIPCL_OK);
        ck_assert_msg(ol == strlen(clean) && !memcmp(out, clean, ol), "%s case %d: cleaned to '%s', "
                      "expected '%s'", file, idx, out, clean);
        free(out);
    }
    free(text);
}

START_TEST(fixture_cases)
{
    cJSON *j = load_json("tokenizer/cases.json");
    int k = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, j) check_ids(tok, c, k++, "cases.json");
    ck_assert_int_eq(k, 73);
    cJSON_Delete(j);
}
END_TEST

START_TEST(extra_cases)
{
    cJSON *j = load_json("tokenizer/extra_cases.json");
    int k = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "cases")) check_ids(tok, c, k++, "extra_cases.json");
    ck_assert_int_ge(k, 400);
    k = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "html_unescape")) {
        const char *in = cJSON_GetStringValue(cJSON_GetObjectItem(c, "in"));
        const char *want = cJSON_GetStringValue(cJSON_GetObjectItem(c, "out"));
        char *out;
        size_t ol;
        ck_assert_int_eq(tok_html_unescape(in, strlen(in), &out, &ol), CLIPCL_OK);
        ck_assert_msg(ol == strlen(want) && !memcmp(out, want, ol), "html.unescape('%s') gave '%s', "
                      "expected '%s'", in, out, want);
        free(out);
        k++;
    }
    ck_assert_int_ge(k, 30);
    cJSON_Delete(j);
}
END_TEST

static int raw(const char *text, ptrdiff_t len, int32_t *ids, int cap)
{
    int n = -1;
    ck_assert_msg(clipcl_tokenize_raw(tok, text, len, ids, cap, &n) == CLIPCL_OK, "%s", clipcl_errmsg());
    return n;
}

static void assert_same_raw(const char *a, ptrdiff_t la, const char *b, ptrdiff_t lb)
{
    int32_t x[256], y[256];
    int nx = raw(a, la, x, 256), ny = raw(b, lb, y, 256);
    ck_assert_int_eq(nx, ny);
    for (int i = 0; i < nx; i++) ck_assert_int_eq(x[i], y[i]);
}

START_TEST(invalid_utf8)
{
    /* each maximal invalid subpart is one U+FFFD, as in bytes.decode("utf-8", "replace") */
    assert_same_raw("caf\xc3", -1, "caf\xef\xbf\xbd", -1);
    assert_same_raw("\xe2\x82", -1, "\xef\xbf\xbd", -1);
    assert_same_raw("\xf0\x9f\x98" "x", -1, "\xef\xbf\xbd" "x", -1);
    assert_same_raw("\xed\xa0\x80", -1, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", -1);
    assert_same_raw("\xc0\xaf", -1, "\xef\xbf\xbd\xef\xbf\xbd", -1);
    assert_same_raw("\xff" "a", -1, "\xef\xbf\xbd" "a", -1);
    /* a length that cuts a character: the bytes after it must not be read */
    assert_same_raw("\xc3\xa9", 1, "\xef\xbf\xbd", -1);
    char *heap = malloc(3);
    memcpy(heap, "\xf0\x9f\x98", 3); /* no terminator: reading past it is a bug ASan would catch */
    assert_same_raw(heap, 3, "\xef\xbf\xbd", -1);
    free(heap);
    /* the ids from Python: U+FFFD is one token */
    int32_t ids[8];
    ck_assert_int_eq(raw("\xff", -1, ids, 8), 1);
    ck_assert_int_eq(ids[0], 39802);
}
END_TEST

START_TEST(truncation)
{
    char text[2048] = "";
    for (int i = 0; i < 200; i++) strcat(text, "word ");
    int32_t ids[300], ctx[CLIPCL_CONTEXT_LENGTH + 1];
    int n = raw(text, -1, ids, 300), nt = 0;
    ck_assert_int_eq(n, 200);
    ctx[77] = 12345;
    ck_assert_int_eq(clipcl_tokenize(tok, text, ctx, 77, 0, &nt), CLIPCL_OK);
    ck_assert_int_eq(nt, 202);
    ck_assert_int_eq(ctx[0], CLIPCL_SOT);
    for (int i = 1; i < 76; i++) ck_assert_int_eq(ctx[i], ids[i - 1]);
    ck_assert_int_eq(ctx[76], CLIPCL_EOT);
    ck_assert_int_eq(ctx[77], 12345); /* nothing written past the context */

    nt = 0;
    ck_assert_int_eq(clipcl_tokenize(tok, text, ctx, 77, 1, &nt), CLIPCL_ERR_TOO_LONG);
    ck_assert_int_eq(nt, 202);
    ck_assert(strstr(clipcl_errmsg(), "202") != NULL);

    /* 75 words fit exactly (77 with start and end); 76 do not */
    text[75 * 5] = 0;
    ck_assert_int_eq(clipcl_tokenize(tok, text, ctx, 77, 1, &nt), CLIPCL_OK);
    ck_assert_int_eq(nt, 77);
    ck_assert_int_eq(ctx[76], CLIPCL_EOT);
    text[75 * 5] = 'w';
    text[76 * 5] = 0;
    ck_assert_int_eq(clipcl_tokenize(tok, text, ctx, 77, 1, &nt), CLIPCL_ERR_TOO_LONG);
    ck_assert_int_eq(nt, 78);

    /* other context sizes */
    ck_assert_int_eq(clipcl_tokenize(tok, "a photo of a dog", ctx, 4, 0, &nt), CLIPCL_OK);
    ck_assert_int_eq(ctx[0], CLIPCL_SOT);
    ck_assert_int_eq(ctx[1], 320);
    ck_assert_int_eq(ctx[2], 1125);
    ck_assert_int_eq(ctx[3], CLIPCL_EOT);
    ck_assert_int_eq(clipcl_tokenize(tok, "a photo of a dog", ctx, 2, 0, NULL), CLIPCL_OK);
    ck_assert_int_eq(ctx[0], CLIPCL_SOT);
    ck_assert_int_eq(ctx[1], CLIPCL_EOT);
    ck_assert_int_eq(clipcl_tokenize(tok, "a", ctx, 1, 0, NULL), CLIPCL_ERR_INVALID_ARG);
}
END_TEST

START_TEST(long_text)
{
    /* 100 KB of text: all ids computed, counted, and the context cut correctly */
    size_t len = 100000;
    char *text = malloc(len + 1);
    for (size_t i = 0; i < len; i++) text[i] = "abcdefgh ij."[i % 12];
    text[len] = 0;
    int n = 0;
    ck_assert_int_eq(clipcl_tokenize_raw(tok, text, -1, NULL, 0, &n), CLIPCL_OK);
    ck_assert_int_gt(n, 10000);
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    int n2 = raw(text, -1, ids, n);
    ck_assert_int_eq(n2, n);
    int32_t ctx[77];
    int nt = 0;
    ck_assert_int_eq(clipcl_tokenize(tok, text, ctx, 77, 0, &nt), CLIPCL_OK);
    ck_assert_int_eq(nt, n + 2);
    ck_assert_int_eq(memcmp(ctx + 1, ids, 75 * sizeof *ids), 0);
    /* a single 50,000-letter word goes through BPE in reasonable time */
    memset(text, 'a', 50000);
    text[50000] = 0;
    n = raw(text, -1, NULL, 0);
    ck_assert_int_eq(n, 6251); /* as many ids as Python gives */
    free(ids);
    free(text);
}
END_TEST

START_TEST(empty_and_blank)
{
    int32_t ctx[77];
    int nt = -1;
    const char *blank[] = {"", " ", " \t\n\r\v\f\xc2\xa0\xe3\x80\x80 ", "\x01\x02", "&#1;"};
    for (size_t k = 0; k < sizeof blank / sizeof *blank; k++) {
        ck_assert_int_eq(clipcl_tokenize(tok, blank[k], ctx, 77, 1, &nt), CLIPCL_OK);
        ck_assert_int_eq(nt, 2);
        ck_assert_int_eq(ctx[0], CLIPCL_SOT);
        ck_assert_int_eq(ctx[1], CLIPCL_EOT);
        for (int i = 2; i < 77; i++) ck_assert_int_eq(ctx[i], 0);
        ck_assert_int_eq(raw(blank[k], -1, NULL, 0), 0);
    }
    ck_assert_int_eq(raw("abc", 0, NULL, 0), 0);
}
END_TEST

START_TEST(raw_capacity_and_args)
{
    int32_t ids[8];
    for (int i = 0; i < 8; i++) ids[i] = -7;
    int n = raw("a photo of a dog", -1, ids, 2);
    ck_assert_int_eq(n, 5);
    ck_assert_int_eq(ids[0], 320);
    ck_assert_int_eq(ids[1], 1125);
    ck_assert_int_eq(ids[2], -7);
    int32_t ctx[77];
    ck_assert_int_eq(clipcl_tokenize(NULL, "x", ctx, 77, 0, NULL), CLIPCL_ERR_INVALID_ARG);
    ck_assert_int_eq(clipcl_tokenize(tok, NULL, ctx, 77, 0, NULL), CLIPCL_ERR_INVALID_ARG);
    ck_assert_int_eq(clipcl_tokenize(tok, "x", NULL, 77, 0, NULL), CLIPCL_ERR_INVALID_ARG);
    ck_assert_int_eq(clipcl_tokenize_raw(tok, "x", -1, NULL, 3, &n), CLIPCL_ERR_INVALID_ARG);
    ck_assert_int_eq(clipcl_tokenize_raw(tok, "x", -1, ids, -1, &n), CLIPCL_ERR_INVALID_ARG);
    ck_assert_int_eq(clipcl_tokenize_raw(tok, "x", -1, ids, 8, NULL), CLIPCL_ERR_INVALID_ARG);
    ck_assert_int_eq(clipcl_tokenizer_create(NULL, NULL), CLIPCL_ERR_INVALID_ARG);
    clipcl_tokenizer_free(NULL);
}
END_TEST

START_TEST(token_text)
{
    ck_assert_str_eq(clipcl_token_text(tok, 320), "a</w>");
    ck_assert_str_eq(clipcl_token_text(tok, 1125), "photo</w>");
    ck_assert_str_eq(clipcl_token_text(tok, CLIPCL_SOT), "<|startoftext|>");
    ck_assert_str_eq(clipcl_token_text(tok, CLIPCL_EOT), "<|endoftext|>");
    ck_assert_str_eq(clipcl_token_text(tok, 0), "!");
    ck_assert_str_eq(clipcl_token_text(tok, 256), "!</w>");
    ck_assert_ptr_null(clipcl_token_text(tok, -1));
    ck_assert_ptr_null(clipcl_token_text(tok, 49408));
    ck_assert_ptr_null(clipcl_token_text(NULL, 0));
    for (int id = 0; id < 49408; id++) ck_assert_ptr_nonnull(clipcl_token_text(tok, id));
    int nul = 0;
    for (int id = 256; id < 512; id++) {
        const char *s = clipcl_token_text(tok, id);
        size_t l = strlen(s);
        if (l == 0) { /* byte 0 + "</w>": a C string ends at its NUL */
            nul++;
            continue;
        }
        ck_assert(l == 5 && !strcmp(s + 1, "</w>"));
    }
    ck_assert_int_eq(nul, 1);
    /* ids → text: the concatenated token texts, without "</w>", are the cleaned text without
     * its spaces (the pre-tokenizer drops only whitespace) */
    cJSON *j = load_json("tokenizer/cases.json");
    const cJSON *c;
    cJSON_ArrayForEach(c, j) {
        const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(c, "text"));
        int32_t ids[512];
        int n = raw(text, -1, ids, 512);
        char joined[8192] = "", *clean;
        size_t cl, jl = 0;
        for (int i = 0; i < n; i++) {
            const char *s = clipcl_token_text(tok, ids[i]);
            size_t l = strlen(s);
            if (ids[i] < CLIPCL_SOT && l >= 4 && !strcmp(s + l - 4, "</w>")) l -= 4;
            ck_assert(jl + l < sizeof joined);
            memcpy(joined + jl, s, l);
            jl += l;
        }
        ck_assert_int_eq(tok_clean_text(text, strlen(text), &clean, &cl), CLIPCL_OK);
        size_t w = 0;
        for (size_t i = 0; i < cl; i++)
            if (clean[i] != ' ') clean[w++] = clean[i];
        ck_assert_msg(w == jl && !memcmp(clean, joined, jl), "round trip of '%s'", text);
        free(clean);
    }
    cJSON_Delete(j);
}
END_TEST

/* ---------------------------------------------------------------- vocabulary files */

static char *write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char *path = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    ck_assert_int_eq(fwrite(data, 1, len, f), len);
    fclose(f);
    return path;
}

static char *gunzip_vocab(size_t *len)
{
    size_t cap = 8 << 20;
    char *out = malloc(cap);
    z_stream z;
    memset(&z, 0, sizeof z);
    ck_assert_int_eq(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
    z.next_in = (Bytef *)bpe_vocab_gz;
    z.avail_in = (uInt)bpe_vocab_gz_len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
    *len = cap - z.avail_out;
    inflateEnd(&z);
    return out;
}

static void expect_same_as_embedded(const char *path)
{
    clipcl_tokenizer *t = NULL;
    ck_assert_msg(clipcl_tokenizer_create(path, &t) == CLIPCL_OK, "%s", clipcl_errmsg());
    cJSON *j = load_json("tokenizer/cases.json");
    int k = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, j) check_ids(t, c, k++, path);
    cJSON_Delete(j);
    for (int id = 0; id < 49408; id++)
        ck_assert_str_eq(clipcl_token_text(t, id), clipcl_token_text(tok, id));
    clipcl_tokenizer_free(t);
}

static void expect_error(const char *path, clipcl_status want, const char *fragment)
{
    clipcl_tokenizer *t = (clipcl_tokenizer *)1;
    clipcl_status st = clipcl_tokenizer_create(path, &t);
    ck_assert_msg(st == want, "%s: status %d (%s), expected %d", path, st, clipcl_errmsg(), want);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(clipcl_errmsg(), fragment) != NULL, "message '%s' lacks '%s'",
                  clipcl_errmsg(), fragment);
}

START_TEST(vocab_files)
{
    char *dir = tu_tmpdir();
    size_t n;
    char *txt = gunzip_vocab(&n);
    char *p;

    p = write_file(dir, "vocab.txt.gz", bpe_vocab_gz, bpe_vocab_gz_len);
    expect_same_as_embedded(p);
    free(p);
    p = write_file(dir, "vocab.txt", txt, n);
    expect_same_as_embedded(p);
    free(p);

    /* CRLF line ends load the same (Python's str.split() drops the '\r') */
    char *crlf = malloc(2 * n);
    size_t m = 0;
    for (size_t i = 0; i < n && m < 4000000; i++) {
        if (txt[i] == '\n') crlf[m++] = '\r';
        crlf[m++] = txt[i];
    }
    p = write_file(dir, "crlf.txt", crlf, m);
    expect_same_as_embedded(p);
    free(p);
    free(crlf);

    /* only the first 1,000 lines */
    size_t cut = 0;
    for (int lines = 0; lines < 1000; cut++) lines += txt[cut] == '\n';
    p = write_file(dir, "short.txt", txt, cut);
    expect_error(p, CLIPCL_ERR_FORMAT, "1000 lines");
    free(p);

    /* a broken header */
    p = write_file(dir, "header.txt", "hello\ni n\n", 10);
    expect_error(p, CLIPCL_ERR_FORMAT, "line 1");
    free(p);
    p = write_file(dir, "empty.txt", "", 0);
    expect_error(p, CLIPCL_ERR_FORMAT, "no line break");
    free(p);

    /* a merge line with three symbols, and one with a character outside the byte alphabet */
    char *bad = malloc(n + 16);
    memcpy(bad, txt, n);
    size_t l5 = 0;
    for (int lines = 0; lines < 4; l5++) lines += bad[l5] == '\n';
    { /* line 5 gets a third symbol */
        size_t e = l5;
        while (bad[e] != '\n') e++;
        memmove(bad + e + 2, bad + e, n - e);
        bad[e] = ' ';
        bad[e + 1] = 'z';
        p = write_file(dir, "three.txt", bad, n + 2);
        expect_error(p, CLIPCL_ERR_FORMAT, "line 5");
        free(p);
    }
    memcpy(bad, txt, n);
    bad[l5] = '\x01';
    p = write_file(dir, "alphabet.txt", bad, n);
    expect_error(p, CLIPCL_ERR_FORMAT, "line 5");
    free(p);
    free(bad);

    /* gzip damage: a truncated stream and flipped bytes in the compressed data */
    p = write_file(dir, "trunc.gz", bpe_vocab_gz, 20000);
    expect_error(p, CLIPCL_ERR_FORMAT, "trunc.gz");
    free(p);
    unsigned char *gz = malloc(bpe_vocab_gz_len);
    memcpy(gz, bpe_vocab_gz, bpe_vocab_gz_len);
    for (size_t i = 5000; i < 5400; i++) gz[i] ^= 0x5A;
    p = write_file(dir, "flipped.gz", gz, bpe_vocab_gz_len);
    expect_error(p, CLIPCL_ERR_FORMAT, "flipped.gz");
    free(p);
    free(gz);

    /* a missing file */
    p = malloc(strlen(dir) + 32);
    sprintf(p, "%s/missing.txt.gz", dir);
    expect_error(p, CLIPCL_ERR_IO, "missing.txt.gz");
    free(p);

    free(txt);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(create_time)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    clipcl_tokenizer *t = NULL;
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(clipcl_tokenizer_create(NULL, &t), CLIPCL_OK);
        clipcl_tokenizer_free(t);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = ((double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6) / 5;
    printf("tokenizer creation: %.1f ms\n", ms);
    /* the target is well under 100 ms; allow slow sanitizer builds a wide margin */
    ck_assert_msg(ms < 1000, "creating the tokenizer took %.0f ms", ms);
}
END_TEST

/* ---------------------------------------------------------------- threads */

typedef struct { cJSON *cases; int failures; } thread_arg;

static void *thread_main(void *p)
{
    thread_arg *a = p;
    for (int rep = 0; rep < 5; rep++) {
        const cJSON *c;
        cJSON_ArrayForEach(c, a->cases) {
            const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(c, "text"));
            int32_t ctx[77], want[77];
            json_ints(cJSON_GetObjectItem(c, "context77"), want, 77);
            if (clipcl_tokenize(tok, text, ctx, 77, 0, NULL) != CLIPCL_OK || memcmp(ctx, want, sizeof ctx))
                a->failures++;
        }
    }
    return NULL;
}

START_TEST(shared_between_threads)
{
    cJSON *j = load_json("tokenizer/cases.json");
    pthread_t th[4];
    thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i].cases = j;
        args[i].failures = 0;
        ck_assert_int_eq(pthread_create(&th[i], NULL, thread_main, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(args[i].failures, 0);
    }
    cJSON_Delete(j);
}
END_TEST

/* ---------------------------------------------------------------- CLI */

static int run_cli(const char *args, const char *stdin_text, char *out, size_t cap)
{
    char *dir = tu_tmpdir();
    char cmd[4096];
    char *in = NULL;
    if (stdin_text) {
        in = write_file(dir, "in.jsonl", stdin_text, strlen(stdin_text));
        snprintf(cmd, sizeof cmd, "'%s' tokenize %s < '%s' 2>/dev/null", CLIPCL_EXE, args, in);
    } else {
        snprintf(cmd, sizeof cmd, "'%s' tokenize %s 2>/dev/null </dev/null", CLIPCL_EXE, args);
    }
    FILE *f = popen(cmd, "r");
    ck_assert(f != NULL);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = 0;
    int st = pclose(f);
    free(in);
    tu_rmtree(dir);
    free(dir);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(cli)
{
    char out[8192];
    ck_assert_int_eq(run_cli("'a photo of a dog' 'A Photo Of A DOG.'", NULL, out, sizeof out), 0);
    ck_assert_str_eq(out, "320 1125 539 320 1929\n320 1125 539 320 1929 269\n");
    ck_assert_int_eq(run_cli("--context 'a photo of a dog'", NULL, out, sizeof out), 0);
    ck_assert(!strncmp(out, "49406 320 1125 539 320 1929 49407 0 0 ", 38));
    ck_assert_int_eq((int)strlen(out), 33 + 70 * 2 + 1); /* 7 ids, 70 zeros */
    ck_assert_int_eq(run_cli("--jsonl", "\"a photo of a dog\"\n\"\"\n\"caf\\u00e9\"\n", out, sizeof out), 0);
    ck_assert_str_eq(out, "[320, 1125, 539, 320, 1929]\n[]\n[15304]\n");
    ck_assert_int_eq(run_cli("--jsonl --context", "\"\"\n", out, sizeof out), 0);
    ck_assert(!strncmp(out, "[49406, 49407, 0, 0,", 20));
    ck_assert_int_eq(run_cli("--jsonl", "not json\n", out, sizeof out), 2);
    ck_assert_int_eq(run_cli("", NULL, out, sizeof out), 2);
    ck_assert_int_eq(run_cli("--bogus x", NULL, out, sizeof out), 2);
    ck_assert_int_eq(run_cli("--help", NULL, out, sizeof out), 0);
    ck_assert(strstr(out, "usage") != NULL);
    char longarg[1200] = "--no-truncate '";
    for (int i = 0; i < 100; i++) strcat(longarg, "word ");
    strcat(longarg, "'");
    ck_assert_int_eq(run_cli(longarg, NULL, out, sizeof out), 2);
    ck_assert_int_eq(run_cli("--vocab /nonexistent/vocab.txt x", NULL, out, sizeof out), 2);
}
END_TEST

Suite *tok_suite(void)
{
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, fixture_cases);
    tcase_add_test(tc, extra_cases);
    tcase_add_test(tc, invalid_utf8);
    tcase_add_test(tc, truncation);
    tcase_add_test(tc, long_text);
    tcase_add_test(tc, empty_and_blank);
    tcase_add_test(tc, raw_capacity_and_args);
    tcase_add_test(tc, token_text);
    tcase_add_test(tc, vocab_files);
    tcase_add_test(tc, create_time);
    tcase_add_test(tc, shared_between_threads);
    tcase_add_test(tc, cli);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tok_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
