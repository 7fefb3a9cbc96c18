/* test_cli_index.c — `clipcl index` and `clipcl search` driven as programs on a small folder
 * of fixture images with the tiny-quickgelu model: rankings and scores against the library
 * API, incremental re-indexing (added / updated / removed / kept), a model mismatch, and
 * corrupt, truncated or hostile index files (exit 2 and one stderr line naming the file,
 * never a crash). Unit tests of index_file.c build hostile files with a valid checksum so
 * that every validation behind the checksum is reached too. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../host/cli/index_file.c"
#include "testutil.h"

#define MODEL TEST_DATA_DIR "/tiny-quickgelu"
#define OTHER_MODEL TEST_DATA_DIR "/tiny-gelu"
#define IMAGES TEST_DATA_DIR "/images"
#define CLI_DEADLINE_S 120

static char *g_tmp;
static char *g_out, *g_err;
/* Runs CLIPCL_EXE with the NULL-terminated arguments; returns its exit status. */
#define run(...) tu_run(g_tmp, CLI_DEADLINE_S, &g_out, &g_err, CLIPCL_EXE, __VA_ARGS__)
static char g_dir[4200], g_idx[4200];

/* imgs/astronaut.png, imgs/camera.png, imgs/chelsea.png, imgs/sub/coffee.png */
static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    ck_assert_msg(a && b, "copy %s -> %s: %s", from, to, strerror(errno));
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) ck_assert_int_eq(fwrite(buf, 1, n, b), n);
    fclose(a);
    fclose(b);
}

static void put_image(const char *fixture, const char *rel)
{
    char from[4200], to[8400];
    snprintf(from, sizeof from, "%s/%s", IMAGES, fixture);
    snprintf(to, sizeof to, "%s/%s", g_dir, rel);
    copy_file(from, to);
}

static void setup(void)
{
    g_tmp = tu_tmpdir();
    snprintf(g_dir, sizeof g_dir, "%s/imgs", g_tmp);
    snprintf(g_idx, sizeof g_idx, "%s/photos.idx", g_tmp);
    char sub[4300];
    snprintf(sub, sizeof sub, "%s/sub", g_dir);
    ck_assert(mkdir(g_dir, 0755) == 0 && mkdir(sub, 0755) == 0);
    put_image("astronaut.png", "astronaut.png");
    put_image("camera.png", "camera.png");
    put_image("chelsea.png", "chelsea.png");
    put_image("coffee.png", "sub/coffee.png");
}

static void teardown(void)
{
    tu_rmtree(g_tmp);
    free(g_tmp);
    free(g_out);
    free(g_err);
    g_out = g_err = NULL;
}




static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void expect_fail(int rc, int want, const char *mention)
{
    ck_assert_msg(rc == want, "exit %d, expected %d; stderr: %s", rc, want, g_err);
    ck_assert_msg(count_lines(g_err) == 1 && !strncmp(g_err, "clipcl ", 7), "want one error line, got: '%s'", g_err);
    if (mention) ck_assert_msg(strstr(g_err, mention), "error does not mention '%s': %s", mention, g_err);
}

static void index_ok(const char *counts)
{
    int rc = run("index", g_dir, "-o", g_idx, "-m", MODEL, "-q", NULL);
    ck_assert_msg(rc == 0, "index exit %d: %s", rc, g_err);
    ck_assert_msg(strstr(g_out, counts), "index said '%s', expected '%s'", g_out, counts);
}

/* ---- search results against the library ---------------------------------------------- */

typedef struct result {
    char path[4200];
    double score;
} result;

static int parse_json_results(result *r, int cap)
{
    cJSON *a = cJSON_Parse(g_out);
    ck_assert_msg(cJSON_IsArray(a), "not a JSON array: %s", g_out);
    int n = 0;
    cJSON *e;
    cJSON_ArrayForEach(e, a)
    {
        ck_assert(n < cap);
        cJSON *p = cJSON_GetObjectItem(e, "path"), *s = cJSON_GetObjectItem(e, "score");
        ck_assert(cJSON_IsString(p) && cJSON_IsNumber(s));
        snprintf(r[n].path, sizeof r[n].path, "%s", p->valuestring);
        r[n].score = s->valuedouble;
        n++;
    }
    cJSON_Delete(a);
    return n;
}

static int parse_text_results(result *r, int cap)
{
    int n = 0;
    for (char *line = g_out; *line;) {
        char *nl = strchr(line, '\n');
        ck_assert(nl && n < cap);
        *nl = '\0';
        char *end;
        r[n].score = strtod(line, &end);
        ck_assert_msg(end != line && !strncmp(end, "  ", 2), "bad line '%s'", line);
        snprintf(r[n].path, sizeof r[n].path, "%s", end + 2);
        n++;
        line = nl + 1;
    }
    return n;
}

static const char *g_rel[] = {"astronaut.png", "camera.png", "chelsea.png", "sub/coffee.png"};
#define NIMG 4

/* Checks results (best first) against the cosines the library gives: every printed score
 * within tol of the library's for that path, scores non-increasing, and the order the
 * library's wherever the library's scores are apart by more than the printing resolution. */
static void check_ranking(const result *r, int n, const double *expect, int want_n, double tol)
{
    int order[NIMG] = {0, 1, 2, 3};
    for (int i = 0; i < NIMG; i++)
        for (int j = i + 1; j < NIMG; j++)
            if (expect[order[j]] > expect[order[i]]) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    ck_assert_int_eq(n, want_n);
    char real[4200];
    ck_assert(realpath(g_dir, real));
    for (int i = 0; i < n; i++) {
        int k = -1;
        for (int j = 0; j < NIMG; j++) {
            char full[8400];
            snprintf(full, sizeof full, "%s/%s", real, g_rel[j]);
            if (!strcmp(full, r[i].path)) k = j;
        }
        ck_assert_msg(k >= 0, "unknown path %s", r[i].path);
        ck_assert_msg(fabs(r[i].score - expect[k]) <= tol, "%s: score %.6f, library %.6f", g_rel[k], r[i].score,
                      expect[k]);
        if (i) ck_assert(r[i].score <= r[i - 1].score);
        if (i < NIMG - 1 && expect[order[i]] - expect[order[i + 1]] > 2 * tol)
            ck_assert_msg(k == order[i], "rank %d is %s, library says %s", i, g_rel[k], g_rel[order[i]]);
    }
}

static void library_scores(tu_lib *l, const float *q, double *out)
{
    float *e = malloc(sizeof(float) * l->E);
    for (int j = 0; j < NIMG; j++) {
        char p[8400];
        snprintf(p, sizeof p, "%s/%s", g_dir, g_rel[j]);
        tu_lib_image(l, p, e);
        double d = 0;
        for (int k = 0; k < l->E; k++) d += (double)e[k] * q[k];
        out[j] = d;
    }
    free(e);
}

START_TEST(search_by_image_and_text)
{
    index_ok("4 images (4 added, 0 updated, 0 removed, 0 kept)");
    tu_lib l;
    tu_lib_open(&l, MODEL);
    float *q = malloc(sizeof(float) * l.E);
    double expect[NIMG];
    result r[8];

    /* by image: each image finds itself first with cosine 1 */
    for (int j = 0; j < NIMG; j++) {
        char p[8400];
        snprintf(p, sizeof p, "%s/%s", g_dir, g_rel[j]);
        int rc = run("search", g_idx, "--image", p, "--json", "-q", NULL);
        ck_assert_msg(rc == 0, "search exit %d: %s", rc, g_err);
        int n = parse_json_results(r, 8);
        ck_assert_msg(n == NIMG, "%d results with default --top 5 over %d images", n, NIMG);
        ck_assert_msg(strstr(r[0].path, g_rel[j]) && fabs(r[0].score - 1) < 1e-4, "%s: first is %s (%f)", g_rel[j],
                      r[0].path, r[0].score);
        tu_lib_image(&l, p, q);
        library_scores(&l, q, expect);
        check_ranking(r, n, expect, NIMG, 1e-4);
    }

    /* by text, plain output (4 decimals) and --top */
    const char *query = "a photo of a cat";
    tu_lib_text(&l, query, q);
    library_scores(&l, q, expect);
    ck_assert_int_eq(run("search", g_idx, query, "-q", NULL), 0);
    int n = parse_text_results(r, 8);
    check_ranking(r, n, expect, NIMG, 1.5e-4);
    ck_assert_int_eq(run("search", g_idx, "--top", "2", "--json", "a", "photo", "of", "a", "cat", NULL), 0);
    n = parse_json_results(r, 8);
    check_ranking(r, n, expect, 2, 1e-4);
    free(q);
    tu_lib_close(&l);
}
END_TEST

/* ---- re-indexing ---------------------------------------------------------------------- */

/* each indexed image still finds itself first (rows and paths stay paired through merges) */
static void check_self_search(const char *const *rels, int n)
{
    char real[4200];
    ck_assert(realpath(g_dir, real));
    for (int i = 0; i < n; i++) {
        char p[8400], full[8400];
        snprintf(p, sizeof p, "%s/%s", g_dir, rels[i]);
        snprintf(full, sizeof full, "%s/%s", real, rels[i]);
        ck_assert_int_eq(run("search", g_idx, "--image", p, "--top", "10", "-q", NULL), 0);
        result r[16];
        int m = parse_text_results(r, 16);
        ck_assert_int_eq(m, n);
        ck_assert_msg(!strcmp(r[0].path, full) && r[0].score > 0.9999, "%s: first is %s %.4f", rels[i], r[0].path,
                      r[0].score);
    }
}

START_TEST(reindex_incremental)
{
    index_ok("4 images (4 added, 0 updated, 0 removed, 0 kept)");
    index_ok("4 images (0 added, 0 updated, 0 removed, 4 kept)");

    put_image("rocket.jpg", "sub/rocket.jpg");
    index_ok("5 images (1 added, 0 updated, 0 removed, 4 kept)");

    char p[8400];
    snprintf(p, sizeof p, "%s/camera.png", g_dir);
    ck_assert_int_eq(unlink(p), 0);
    index_ok("4 images (0 added, 0 updated, 1 removed, 4 kept)");
    static const char *now[] = {"astronaut.png", "chelsea.png", "sub/coffee.png", "sub/rocket.jpg"};
    check_self_search(now, 4);

    /* new content under an old name (size changes) */
    put_image("astronaut_small.jpg", "chelsea.png");
    index_ok("4 images (0 added, 1 updated, 0 removed, 3 kept)");
    /* same size, new mtime */
    snprintf(p, sizeof p, "%s/astronaut.png", g_dir);
    struct timespec ts[2] = {{1000000000, 5}, {1000000000, 5}};
    ck_assert_int_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
    index_ok("4 images (0 added, 1 updated, 0 removed, 3 kept)");
    check_self_search(now, 4);

    /* a file that does not decode is skipped with a warning and not stored */
    snprintf(p, sizeof p, "%s/broken.png", g_dir);
    tu_spit(p, "no png", 6);
    int rc = run("index", g_dir, "-o", g_idx, "-m", MODEL, "-q", NULL);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, g_err);
    ck_assert_msg(strstr(g_out, "4 images (0 added, 0 updated, 0 removed, 4 kept, 1 skipped)"), "%s", g_out);
    ck_assert_msg(strstr(g_err, "broken.png") && count_lines(g_err) == 1, "%s", g_err);
    ck_assert_int_eq(unlink(p), 0);

    /* deleting everything leaves an empty index: search finds nothing (exit 1) */
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", g_dir, now[i]);
        ck_assert_int_eq(unlink(p), 0);
    }
    index_ok("0 images (0 added, 0 updated, 4 removed, 0 kept)");
    expect_fail(run("search", g_idx, "cat", NULL), 1, "photos.idx");

    /* another model: everything is embedded again */
    put_image("camera.png", "camera.png");
    rc = run("index", g_dir, "-o", g_idx, "-m", OTHER_MODEL, "-q", NULL);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, g_err);
    ck_assert_msg(strstr(g_out, "1 image (1 added, 0 updated, 0 removed, 0 kept)"), "%s", g_out);
    /* and without -m the index's own model is used again */
    rc = run("index", g_dir, "-o", g_idx, "-q", NULL);
    ck_assert_msg(rc == 0 && strstr(g_out, "(0 added, 0 updated, 0 removed, 1 kept)"), "%d %s %s", rc, g_out, g_err);
}
END_TEST

/* ---- errors --------------------------------------------------------------------------- */

START_TEST(model_mismatch_and_usage_errors)
{
    index_ok("(4 added");
    char p[8400];
    snprintf(p, sizeof p, "%s/camera.png", g_dir);
    expect_fail(run("search", g_idx, "--image", p, "-m", OTHER_MODEL, NULL), 2, "tiny-gelu");

    /* the same folder path, but weights whose mtime changed: refused as a different model */
    char mdir[4300], from[4300], to[8600];
    snprintf(mdir, sizeof mdir, "%s/model", g_tmp);
    ck_assert_int_eq(mkdir(mdir, 0755), 0);
    static const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(from, sizeof from, "%s/%s", MODEL, files[i]);
        snprintf(to, sizeof to, "%s/%s", mdir, files[i]);
        copy_file(from, to);
    }
    int rc = run("index", g_dir, "-o", g_idx, "-m", mdir, "-q", NULL);
    ck_assert_msg(rc == 0 && strstr(g_out, "(4 added"), "%d %s %s", rc, g_out, g_err); /* other model */
    ck_assert_int_eq(run("search", g_idx, "--image", p, "-q", NULL), 0);
    struct timespec ts[2] = {{2000000000, 0}, {2000000000, 0}};
    ck_assert_int_eq(utimensat(AT_FDCWD, to, ts, 0), 0);
    expect_fail(run("search", g_idx, "--image", p, NULL), 2, "changed");
    expect_fail(run("search", g_idx, "--image", p, "-m", mdir, NULL), 2, "changed");

    /* missing query image, missing index, unwritable index */
    snprintf(p, sizeof p, "%s/nope.png", g_dir);
    expect_fail(run("search", g_idx, "--image", p, NULL), 2, "nope.png");
    snprintf(p, sizeof p, "%s/none.idx", g_tmp);
    expect_fail(run("search", p, "cat", NULL), 2, "none.idx");
    snprintf(p, sizeof p, "%s/no/such/dir/x.idx", g_tmp);
    expect_fail(run("index", g_dir, "-o", p, "-m", MODEL, NULL), 2, p);
    snprintf(p, sizeof p, "%s/not-a-dir", g_tmp);
    expect_fail(run("index", p, "-o", g_idx, "-m", MODEL, NULL), 2, "not-a-dir");

    /* usage */
    expect_fail(run("search", g_idx, NULL), 2, "query");
    expect_fail(run("search", g_idx, "cat", "--image", IMAGES "/camera.png", NULL), 2, NULL);
    expect_fail(run("search", g_idx, "cat", "--top", "0", NULL), 2, "--top");
    expect_fail(run("search", NULL), 2, NULL);
    expect_fail(run("index", g_dir, NULL), 2, "-o");
    expect_fail(run("index", "-o", g_idx, NULL), 2, NULL);
    expect_fail(run("index", g_dir, g_dir, "-o", g_idx, NULL), 2, NULL);
    ck_assert_int_eq(run("index", "--help", NULL), 0);
    ck_assert(strstr(g_out, "usage: clipcl index"));
    ck_assert_int_eq(run("search", "--help", NULL), 0);
    ck_assert(strstr(g_out, "usage: clipcl search"));
}
END_TEST

/* ---- corrupt files -------------------------------------------------------------------- */

static void expect_corrupt(const char *path, const void *data, size_t n, const char *what)
{
    tu_spit(path, data, n);
    int rc = run("search", path, "cat", "-q", NULL);
    ck_assert_msg(rc == 2, "%s: exit %d (stderr %s)", what, rc, g_err);
    ck_assert_msg(count_lines(g_err) == 1 && strstr(g_err, "bad.idx"), "%s: stderr '%s'", what, g_err);
}

START_TEST(corrupt_index_files_via_cli)
{
    index_ok("(4 added");
    size_t len;
    unsigned char *good = (unsigned char *)tu_try_slurp(g_idx, &len);
    ck_assert(len > 256);
    char bad[4300];
    snprintf(bad, sizeof bad, "%s/bad.idx", g_tmp);

    static const size_t cuts[] = {0, 1, 7, 8, 63, 64, 65, 200};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) expect_corrupt(bad, good, cuts[i], "truncated");
    expect_corrupt(bad, good, len - 1, "truncated by one byte");
    unsigned char *longer = malloc(len + 1);
    memcpy(longer, good, len);
    longer[len] = 0;
    expect_corrupt(bad, longer, len + 1, "one byte appended");
    free(longer);
    /* one flipped bit in every 13th byte, header and body */
    unsigned char *m = malloc(len);
    for (size_t pos = 0; pos < len; pos += 13) {
        memcpy(m, good, len);
        m[pos] ^= 0x10;
        expect_corrupt(bad, m, len, "flipped bit");
    }
    free(m);
    tu_spit(bad, "hello", 5);
    ck_assert_int_eq(run("search", bad, "cat", NULL), 2);
    ck_assert(strstr(g_err, "not a clipcl index"));

    /* re-indexing onto a corrupt index refuses, and leaves it alone */
    memcpy(g_idx, bad, strlen(bad) + 1);
    static const char junk[] = "CLIPCLIX\x01\x00\x00\x00junk";
    tu_spit(g_idx, junk, sizeof junk - 1);
    expect_fail(run("index", g_dir, "-o", g_idx, "-m", MODEL, NULL), 2, "bad.idx");
    size_t l2;
    char *after = tu_try_slurp(g_idx, &l2);
    ck_assert(l2 == sizeof junk - 1 && !memcmp(after, junk, l2));
    free(after);
    free(good);
}
END_TEST

/* Hostile files with a correct checksum, made by editing a valid index in memory. */
static unsigned char *g_img;
static size_t g_len;

static void refix_crc(unsigned char *b, size_t len)
{
    wr32(b + 56, 0);
    wr32(b + 56, crc_update((uint32_t)crc32(0, Z_NULL, 0), b, len));
}

static void expect_reject(const unsigned char *b, size_t len, const char *msg)
{
    char p[4300], err[4400];
    snprintf(p, sizeof p, "%s/h.idx", g_tmp);
    tu_spit(p, b, len);
    idx_index ix;
    ck_assert_msg(idx_read(p, &ix, err, sizeof err) == -1, "accepted: expected '%s'", msg);
    ck_assert_msg(strstr(err, msg) && strstr(err, "h.idx"), "'%s' lacks '%s'", err, msg);
    ck_assert(ix.entries == NULL && ix.emb == NULL);
}

static unsigned char *fresh(void)
{
    unsigned char *b = malloc(g_len + 4096);
    memcpy(b, g_img, g_len);
    return b;
}

START_TEST(index_file_validation)
{
    /* a valid index of 3 entries, E = 4, written by idx_write */
    idx_index ix = {0};
    snprintf(ix.model.path, sizeof ix.model.path, "/models/m");
    ix.model.weights_size = 1234;
    ix.model.weights_mtime_ns = 5678;
    snprintf(ix.root, sizeof ix.root, "/photos");
    ix.embed_dim = 4;
    ix.n = 3;
    idx_entry ent[3] = {{"a.png", 10, 20}, {"b/c.png", 11, 21}, {"b/d.jpg", 12, 22}};
    float emb[12] = {1, 0, 0, 0, 0, 1, 0, 0, 0.6f, 0.8f, 0, 0};
    ix.entries = ent;
    ix.emb = emb;
    char p[4300], err[4400];
    snprintf(p, sizeof p, "%s/h.idx", g_tmp);
    FILE *f = fopen(p, "wb");
    ck_assert_int_eq(idx_write(f, &ix), 0);
    fclose(f);
    idx_index rd;
    ck_assert_msg(idx_read(p, &rd, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(rd.model.path, "/models/m");
    ck_assert_str_eq(rd.root, "/photos");
    ck_assert(rd.model.weights_size == 1234 && rd.model.weights_mtime_ns == 5678);
    ck_assert(rd.n == 3 && rd.embed_dim == 4);
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(rd.entries[i].path, ent[i].path);
        ck_assert(rd.entries[i].size == ent[i].size && rd.entries[i].mtime_ns == ent[i].mtime_ns);
    }
    ck_assert(!memcmp(rd.emb, emb, sizeof emb));
    idx_free(&rd);
    g_img = (unsigned char *)tu_try_slurp(p, &g_len);
    ck_assert_int_eq(g_len % 64, (12 * 4) % 64);
    const size_t moff = (size_t)rd64(g_img + 24);
    const size_t e0 = IDX_HEADER + strlen("/models/m") + strlen("/photos"); /* first entry */

    unsigned char *b;
    /* header fields */
    b = fresh(), wr32(b + 8, 2), expect_reject(b, g_len, "version 2"), free(b);
    b = fresh(), wr32(b + 12, 0), refix_crc(b, g_len), expect_reject(b, g_len, "corrupt index header"), free(b);
    b = fresh(), wr32(b + 12, 70000), refix_crc(b, g_len), expect_reject(b, g_len, "corrupt index header"), free(b);
    b = fresh(), wr64(b + 16, (uint64_t)1 << 40), refix_crc(b, g_len), expect_reject(b, g_len, "header"), free(b);
    b = fresh(), wr64(b + 16, 1u << 20), refix_crc(b, g_len), expect_reject(b, g_len, "matrix offset"), free(b);
    b = fresh(), wr64(b + 16, 2), refix_crc(b, g_len), expect_reject(b, g_len, "bytes where its header needs"), free(b);
    b = fresh(), wr64(b + 24, moff + 64), refix_crc(b, g_len), expect_reject(b, g_len, "truncated"), free(b);
    b = fresh(), wr64(b + 24, moff + 1), refix_crc(b, g_len), expect_reject(b, g_len, "matrix offset"), free(b);
    b = fresh(), wr64(b + 24, (uint64_t)-64), refix_crc(b, g_len), expect_reject(b, g_len, "matrix offset"), free(b);
    b = fresh(), wr32(b + 48, 0), refix_crc(b, g_len), expect_reject(b, g_len, "header"), free(b);
    b = fresh(), wr32(b + 52, 1u << 31), refix_crc(b, g_len), expect_reject(b, g_len, "header"), free(b);
    b = fresh(), wr32(b + 60, 1), refix_crc(b, g_len), expect_reject(b, g_len, "header"), free(b);
    b = fresh(), b[70] ^= 1, expect_reject(b, g_len, "checksum"), free(b);
    b = fresh(), b[44] ^= 1, expect_reject(b, g_len, "checksum"), free(b); /* the header is covered too */
    /* strings and entries behind the checksum */
    b = fresh(), b[IDX_HEADER] = 'x', refix_crc(b, g_len), expect_reject(b, g_len, "model or root path"), free(b);
    b = fresh(), b[IDX_HEADER + 3] = 0, refix_crc(b, g_len), expect_reject(b, g_len, "model or root path"), free(b);
    b = fresh(), wr32(b + e0, 4096), refix_crc(b, g_len), expect_reject(b, g_len, "entry 0"), free(b);
    b = fresh(), wr32(b + e0, 900), refix_crc(b, g_len), expect_reject(b, g_len, "entry 0"), free(b);
    b = fresh(), wr32(b + e0, 0), refix_crc(b, g_len), expect_reject(b, g_len, "entry 0"), free(b);
    b = fresh(), wr32(b + e0 + 4, 7), refix_crc(b, g_len), expect_reject(b, g_len, "entry 0"), free(b);
    b = fresh(), b[e0 + 24] = '/', refix_crc(b, g_len), expect_reject(b, g_len, "entry 0"), free(b);
    b = fresh(), memcpy(b + e0 + 24, "../pn", 5), refix_crc(b, g_len), expect_reject(b, g_len, "entry 0"), free(b);
    b = fresh(), memcpy(b + e0 + 24, "a\0png", 5), refix_crc(b, g_len), expect_reject(b, g_len, "entry 0"), free(b);
    b = fresh(), b[e0 + 24] = 'z', refix_crc(b, g_len), expect_reject(b, g_len, "out of order"), free(b);
    /* the last entry's path made shorter by one: the table then ends in a non-zero byte */
    const size_t e2 = e0 + (24 + 5) + (24 + 7);
    b = fresh(), wr32(b + e2, 6), refix_crc(b, g_len), expect_reject(b, g_len, "padding"), free(b);
    /* the matrix: a NaN and a value no unit vector has */
    float nan = NAN, two = 2.0f;
    b = fresh(), memcpy(b + moff + 4, &nan, 4), refix_crc(b, g_len), expect_reject(b, g_len, "unit vector"), free(b);
    b = fresh(), memcpy(b + moff + 40, &two, 4), refix_crc(b, g_len), expect_reject(b, g_len, "entry 2"), free(b);
    /* every truncation */
    for (size_t cut = 0; cut < g_len; cut++) {
        snprintf(p, sizeof p, "%s/h.idx", g_tmp);
        tu_spit(p, g_img, cut);
        ck_assert_msg(idx_read(p, &rd, err, sizeof err) == -1, "accepted %zu of %zu bytes", cut, g_len);
        ck_assert(strstr(err, "h.idx"));
    }
    /* a missing file is told apart */
    snprintf(p, sizeof p, "%s/nothing.idx", g_tmp);
    ck_assert_int_eq(idx_read(p, &rd, err, sizeof err), -2);

    /* the writer refuses what the reader would */
    idx_entry unsorted[2] = {{"b.png", 1, 1}, {"a.png", 1, 1}};
    ix.entries = unsorted;
    ix.n = 2;
    f = fopen(p, "wb");
    ck_assert_int_eq(idx_write(f, &ix), -1);
    idx_entry dots[1] = {{"x/../y.png", 1, 1}};
    ix.entries = dots;
    ix.n = 1;
    ck_assert_int_eq(idx_write(f, &ix), -1);
    fclose(f);
    ck_assert(idx_path_ok("a/b.png", 7) && !idx_path_ok("a//b", 4) && !idx_path_ok("a/", 2) && !idx_path_ok("./a", 3));
    free(g_img);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli_index");
    TCase *tc = tcase_create("index");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, index_file_validation);
    tcase_add_test(tc, search_by_image_and_text);
    tcase_add_test(tc, reindex_incremental);
    tcase_add_test(tc, model_mismatch_and_usage_errors);
    tcase_add_test(tc, corrupt_index_files_via_cli);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
