/* test_cli_embed.c — `clipcl embed` driven as a program: the .npy it writes (read back by a
 * small independent reader here) against the Hugging Face reference embeddings of the
 * tiny-quickgelu fixture and against the library API run on the same inputs; the sidecars;
 * batching; atomic replacement; every error as non-zero exit + one stderr line. Also unit
 * tests of npy.c (writer/reader round trip, each rejected header, atomic replacement). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <cjson/cJSON.h>
#include <dirent.h>
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

#include "../host/cli/npy.c"
#include "st.h"
#include "testutil.h"

#define MODEL TEST_DATA_DIR "/tiny-quickgelu"
#define IMAGES TEST_DATA_DIR "/images"
#define TOL 1e-4
#define CLI_DEADLINE_S 120

static char *g_tmp;
static char *g_out, *g_err; /* stdout / stderr of the last run */
/* Runs CLIPCL_EXE with the NULL-terminated arguments; returns its exit status. */
#define run(...) tu_run(g_tmp, CLI_DEADLINE_S, &g_out, &g_err, CLIPCL_EXE, __VA_ARGS__)

static void setup(void) { g_tmp = tu_tmpdir(); }
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

/* a failure: the expected exit status and exactly one line on stderr starting "clipcl " */
static void expect_fail(int rc, int want, const char *mention)
{
    ck_assert_msg(rc == want, "exit %d, expected %d; stderr: %s", rc, want, g_err);
    ck_assert_msg(count_lines(g_err) == 1 && !strncmp(g_err, "clipcl ", 7), "want one error line, got: '%s'", g_err);
    if (mention) ck_assert_msg(strstr(g_err, mention), "error does not mention '%s': %s", mention, g_err);
}

static const char *tpath(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", g_tmp, name);
    return buf;
}

/* ---- an independent .npy reader: exactly what numpy.save writes for 2-D float32 ----------- */

static float *load_npy(const char *path, int *rows, int *cols)
{
    size_t len;
    char *b = tu_try_slurp(path, &len);
    ck_assert_msg(b, "%s missing", path);
    ck_assert(len >= 10 && !memcmp(b, "\x93NUMPY\x01\x00", 8));
    size_t hl = (unsigned char)b[8] | (size_t)(unsigned char)b[9] << 8;
    ck_assert_msg((10 + hl) % 64 == 0, "data offset %zu not 64-aligned", 10 + hl);
    ck_assert(10 + hl <= len && b[10 + hl - 1] == '\n');
    char *hdr = strndup(b + 10, hl);
    ck_assert_msg(strstr(hdr, "'descr': '<f4'") && strstr(hdr, "'fortran_order': False"), "header %s", hdr);
    char *sh = strstr(hdr, "'shape': (");
    ck_assert(sh);
    ck_assert_int_eq(sscanf(sh, "'shape': (%d, %d)", rows, cols), 2);
    free(hdr);
    ck_assert_msg(len == 10 + hl + (size_t)*rows * *cols * 4, "size %zu vs shape (%d, %d)", len, *rows, *cols);
    float *x = malloc((size_t)*rows * *cols * 4 + 4);
    memcpy(x, b + 10 + hl, (size_t)*rows * *cols * 4);
    free(b);
    return x;
}

/* ---- the library run directly --------------------------------------------------------- */

static double max_abs(const float *a, const float *b, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d;
    }
    return m;
}

static float *ref_rows(const char *name, int *rows, int *cols)
{
    st_file *f = NULL;
    ck_assert_msg(st_open(MODEL "/reference.safetensors", &f) == CLIPCL_OK, "%s", clipcl_errmsg());
    const st_tensor *t = st_find(f, name);
    ck_assert(t && t->dtype == ST_F32 && t->ndim == 2);
    *rows = (int)t->shape[0];
    *cols = (int)t->shape[1];
    float *x = malloc(t->nbytes);
    memcpy(x, t->data, t->nbytes);
    st_close(f);
    return x;
}

/* ---- images --------------------------------------------------------------------------- */

/* The file rows of the reference (pixel_values rows 0 to 3 come from these files): the JPEG
 * too, since libjpeg-turbo decodes it as Pillow does. */
START_TEST(embed_images_match_reference)
{
    char out[4200], side[4200];
    tpath(out, sizeof out, "img.npy");
    int rc = run("embed", "--images", IMAGES "/astronaut.png", IMAGES "/astronaut_small.jpg", IMAGES "/camera.png",
                 IMAGES "/chelsea.png", "-o", out, "-m", MODEL, "-q", NULL);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, g_err);
    int R, C, rr, rc2;
    float *x = load_npy(out, &R, &C);
    float *ref = ref_rows("vision.embeds", &rr, &rc2);
    ck_assert_int_eq(R, 4);
    ck_assert_int_eq(C, rc2);
    static const int ref_row[4] = {0, 1, 2, 3};
    for (int i = 0; i < 4; i++) {
        double d = max_abs(x + i * C, ref + ref_row[i] * C, C), norm = 0;
        for (int j = 0; j < C; j++) norm += (double)x[i * C + j] * x[i * C + j];
        ck_assert_msg(d <= TOL, "row %d differs from reference row %d by %g", i, ref_row[i], d);
        ck_assert_msg(fabs(norm - 1) < 1e-5, "row %d not L2-normalized (%g)", i, norm);
    }
    char *txt = tu_try_slurp(tpath(side, sizeof side, "img.txt"), NULL);
    ck_assert_str_eq(txt, IMAGES "/astronaut.png\n" IMAGES "/astronaut_small.jpg\n" IMAGES "/camera.png\n" IMAGES
                          "/chelsea.png\n");
    free(txt);
    free(x);
    free(ref);
}
END_TEST

/* A folder, walked recursively, in odd-sized batches, with the JSON-lines sidecar: every row
 * equals the library's own embedding of the file its sidecar line names. */
START_TEST(embed_folder_recursive_batched_jsonl)
{
    char out[4200], side[4200];
    tpath(out, sizeof out, "all.npy");
    int rc = run("embed", "--images", IMAGES, "-o", out, "--jsonl", "--batch", "5", "-m", MODEL, "-q", NULL);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, g_err);
    int R, C;
    float *x = load_npy(out, &R, &C);
    char *jl = tu_try_slurp(tpath(side, sizeof side, "all.jsonl"), NULL);
    ck_assert(jl);
    ck_assert_int_eq(count_lines(jl), R);
    ck_assert_msg(R >= 12, "only %d images found under %s", R, IMAGES);
    tu_lib l;
    tu_lib_open(&l, MODEL);
    ck_assert_int_eq(C, l.E);
    float *e = malloc(sizeof(float) * C);
    int saw_synth = 0, saw_chelsea = 0;
    char *line = jl;
    char prev[4096] = "";
    for (int i = 0; i < R; i++) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        cJSON *j = cJSON_Parse(line);
        ck_assert_msg(j, "bad JSON line %d: %s", i, line);
        cJSON *row = cJSON_GetObjectItem(j, "row"), *src = cJSON_GetObjectItem(j, "source");
        ck_assert(cJSON_IsNumber(row) && cJSON_IsString(src));
        ck_assert_int_eq(row->valueint, i);
        const char *p = src->valuestring;
        ck_assert_msg(!strncmp(p, IMAGES "/", strlen(IMAGES) + 1), "%s", p);
        ck_assert_msg(!strstr(p, ".txt"), "non-image %s embedded", p);
        saw_synth += strstr(p, "/synth/") != NULL;
        saw_chelsea += !strcmp(p, IMAGES "/chelsea.png");
        ck_assert_msg(strcmp(prev, p) != 0, "%s listed twice", p);
        snprintf(prev, sizeof prev, "%s", p);
        tu_lib_image(&l, p, e);
        double d = max_abs(x + (size_t)i * C, e, C);
        ck_assert_msg(d <= TOL, "row %d (%s) differs from the library's embedding by %g", i, p, d);
        cJSON_Delete(j);
        line = nl + 1;
    }
    ck_assert_msg(saw_synth > 0, "folder not walked recursively");
    ck_assert_int_eq(saw_chelsea, 1);
    tu_lib_close(&l);
    free(e);
    free(jl);
    free(x);
}
END_TEST

/* ---- texts ---------------------------------------------------------------------------- */

/* The 16 reference texts (one has a newline and a tab, so JSON lines) against text.embeds. */
START_TEST(embed_texts_jsonl_match_reference)
{
    char in[4200], out[4200], side[4200];
    size_t len;
    char *js = tu_try_slurp(MODEL "/reference_inputs.json", &len);
    cJSON *root = cJSON_Parse(js), *texts = cJSON_GetObjectItem(root, "texts");
    ck_assert(cJSON_IsArray(texts));
    FILE *f = fopen(tpath(in, sizeof in, "texts.in.jsonl"), "wb");
    int nt = 0;
    cJSON *t;
    cJSON_ArrayForEach(t, texts)
    {
        char *s = cJSON_PrintUnformatted(t);
        fprintf(f, "%s\n%s", s, nt == 3 ? "\n   \n" : ""); /* blank lines are skipped */
        free(s);
        nt++;
    }
    fclose(f);
    tpath(out, sizeof out, "texts.npy");
    int rc = run("embed", "--texts", in, "--jsonl", "-o", out, "-m", MODEL, "-q", NULL);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, g_err);
    int R, C, rr, rcols;
    float *x = load_npy(out, &R, &C);
    float *ref = ref_rows("text.embeds", &rr, &rcols);
    ck_assert_int_eq(R, nt);
    ck_assert_int_eq(rr, nt);
    ck_assert_int_eq(C, rcols);
    for (int i = 0; i < R; i++) {
        double d = max_abs(x + i * C, ref + i * C, C);
        ck_assert_msg(d <= TOL, "text %d differs from the reference by %g", i, d);
    }
    /* the sidecar gives the texts back exactly */
    char *jl = tu_try_slurp(tpath(side, sizeof side, "texts.jsonl"), NULL), *line = jl;
    ck_assert_int_eq(count_lines(jl), nt);
    for (int i = 0; i < nt; i++) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        cJSON *j = cJSON_Parse(line);
        ck_assert_msg(j, "bad JSON: %s", line);
        ck_assert_int_eq(cJSON_GetObjectItem(j, "row")->valueint, i);
        ck_assert_str_eq(cJSON_GetObjectItem(j, "source")->valuestring, cJSON_GetArrayItem(texts, i)->valuestring);
        cJSON_Delete(j);
        line = nl + 1;
    }
    free(jl);
    cJSON_Delete(root);
    free(js);
    free(x);
    free(ref);
}
END_TEST

/* Plain text lines: every line a row (an empty one too), CRLF endings, no final newline; a
 * texts batch split (--batch 1 → 4 texts per device call) over 9 lines. */
START_TEST(embed_texts_plain_lines)
{
    static const char *texts[] = {"a photo of a dog", "A Photo Of A DOG.", "", "it's", "zebra crossing",
                                  "naïve café",        "1234567",          " ", "last line"};
    const int nt = (int)(sizeof texts / sizeof *texts);
    char in[4200], out[4200], side[4200];
    FILE *f = fopen(tpath(in, sizeof in, "texts.in"), "wb");
    for (int i = 0; i < nt; i++) fprintf(f, "%s%s", texts[i], i == nt - 1 ? "" : i == 4 ? "\r\n" : "\n");
    fclose(f);
    tpath(out, sizeof out, "plain.npy");
    int rc = run("embed", "--texts", in, "-o", out, "--batch", "1", "-m", MODEL, "-q", NULL);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, g_err);
    int R, C, rr, rcols;
    float *x = load_npy(out, &R, &C);
    ck_assert_int_eq(R, nt);
    tu_lib l;
    tu_lib_open(&l, MODEL);
    ck_assert_int_eq(C, l.E);
    float *e = malloc(sizeof(float) * C);
    for (int i = 0; i < nt; i++) {
        tu_lib_text(&l, texts[i], e);
        double d = max_abs(x + i * C, e, C);
        ck_assert_msg(d <= TOL, "line %d '%s' differs from the library by %g", i + 1, texts[i], d);
    }
    /* rows 0..2 are reference texts 0..2 */
    float *ref = ref_rows("text.embeds", &rr, &rcols);
    for (int i = 0; i < 3; i++) ck_assert_msg(max_abs(x + i * C, ref + i * C, C) <= TOL, "row %d vs reference", i);
    char *txt = tu_try_slurp(tpath(side, sizeof side, "plain.txt"), NULL);
    ck_assert_str_eq(txt, "a photo of a dog\nA Photo Of A DOG.\n\nit's\nzebra crossing\nnaïve café\n1234567\n \nlast line\n");
    free(txt);
    free(ref);
    free(e);
    tu_lib_close(&l);
    free(x);
}
END_TEST

/* ---- errors --------------------------------------------------------------------------- */

static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

START_TEST(embed_errors_one_line)
{
    char out[4200], bad[8400], in[4200], blocker[4200];
    tpath(out, sizeof out, "keep.npy");
    ck_assert_int_eq(run("embed", "--images", IMAGES "/camera.png", "-o", out, "-m", MODEL, "-q", NULL), 0);
    size_t n0;
    char *before = tu_try_slurp(out, &n0);

    /* an image that does not exist: exit 2, the old output untouched, no temporary left */
    expect_fail(run("embed", "--images", IMAGES "/camera.png", IMAGES "/no_such.png", "-o", out, "-m", MODEL, NULL), 2,
                "no_such.png");
    /* a file that is not an image (decode fails after the model loaded) */
    tpath(in, sizeof in, "fake.png");
    tu_spit_str(in, "not a png at all");
    expect_fail(run("embed", "--images", in, "-o", out, "-m", MODEL, "-q", NULL), 2, "fake.png");
    size_t n1;
    char *after = tu_try_slurp(out, &n1);
    ck_assert(n0 == n1 && !memcmp(before, after, n0));
    free(after);
    ck_assert_int_eq(dir_entries(g_tmp), 3); /* keep.npy, keep.txt, fake.png */

    /* unwritable output: its folder is a regular file */
    tpath(blocker, sizeof blocker, "keep.txt");
    snprintf(bad, sizeof bad, "%s/sub/out.npy", blocker);
    expect_fail(run("embed", "--images", IMAGES "/camera.png", "-o", bad, "-m", MODEL, NULL), 2, bad);
    snprintf(bad, sizeof bad, "%s/no/such/dir/out.npy", g_tmp);
    expect_fail(run("embed", "--texts", in, "-o", bad, "-m", MODEL, NULL), 2, "cannot write");

    /* usage */
    expect_fail(run("embed", "-o", out, "-m", MODEL, NULL), 2, "--images");
    expect_fail(run("embed", "--images", IMAGES "/camera.png", "--texts", in, "-o", out, NULL), 2, NULL);
    expect_fail(run("embed", "--images", IMAGES "/camera.png", NULL), 2, "-o");
    expect_fail(run("embed", "--images", IMAGES "/camera.png", "-o", out, "--frobnicate", NULL), 2, "--frobnicate");
    expect_fail(run("embed", "--images", IMAGES "/camera.png", "-o", out, "--batch", "0", NULL), 2, "--batch");
    /* a line that is not a JSON string names the file and line */
    tu_spit_str(in, "\"fine\"\n{\"text\": 1}\n");
    expect_fail(run("embed", "--texts", in, "--jsonl", "-o", out, "-m", MODEL, NULL), 2, "fake.png:2");
    /* the sidecar would overwrite the input */
    tpath(in, sizeof in, "clash.jsonl");
    tu_spit_str(in, "\"a\"\n");
    tpath(bad, sizeof bad, "clash.npy");
    expect_fail(run("embed", "--texts", in, "--jsonl", "-o", bad, "-m", MODEL, NULL), 2, "clash.jsonl");
    char *still = tu_try_slurp(in, NULL);
    ck_assert_str_eq(still, "\"a\"\n");
    free(still);
    /* nothing to embed: exit 1 */
    tpath(in, sizeof in, "emptydir");
    ck_assert_int_eq(mkdir(in, 0755), 0);
    expect_fail(run("embed", "--images", in, "-o", out, "-m", MODEL, NULL), 1, NULL);

    after = tu_try_slurp(out, &n1);
    ck_assert(n0 == n1 && !memcmp(before, after, n0));
    free(after);
    free(before);

    ck_assert_int_eq(run("embed", "--help", NULL), 0);
    ck_assert(strstr(g_out, "usage: clipcl embed"));
}
END_TEST

/* ---- npy.c ---------------------------------------------------------------------------- */

static void write_raw(const char *path, const char *hdr_dict, int version, size_t data_bytes)
{
    FILE *f = fopen(path, "wb");
    size_t hl = strlen(hdr_dict);
    fwrite("\x93NUMPY", 1, 6, f);
    fputc(version, f);
    fputc(0, f);
    if (version == 1) {
        fputc((int)(hl & 0xff), f);
        fputc((int)(hl >> 8), f);
    } else {
        for (int i = 0; i < 4; i++) fputc((int)((hl >> (8 * i)) & 0xff), f);
    }
    fputs(hdr_dict, f);
    for (size_t i = 0; i < data_bytes; i++) fputc(0, f);
    fclose(f);
}

START_TEST(npy_roundtrip_and_rejects)
{
    char p[4200], err[256];
    tpath(p, sizeof p, "m.npy");
    for (int64_t rows = 0; rows <= 5; rows += 5) {
        const int64_t cols = 7;
        float data[35];
        for (int i = 0; i < 35; i++) data[i] = (float)i * 0.5f - 3.0f;
        FILE *f = fopen(p, "wb");
        ck_assert_int_eq(npy_write_f32(f, data, rows, cols), 0);
        fclose(f);
        float *x = NULL;
        int64_t r, c;
        ck_assert_msg(npy_read_f32(p, &x, &r, &c, err, sizeof err) == 0, "%s", err);
        ck_assert(r == rows && c == cols);
        if (rows) {
            int R, C;
            float *y = load_npy(p, &R, &C);
            ck_assert(R == rows && C == cols);
            ck_assert(!memcmp(x, data, sizeof data) && !memcmp(y, data, sizeof data));
            free(y);
        }
        free(x);
    }
    /* version 2.0 with a 4-byte header length reads too */
    write_raw(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 2, 24);
    float *x = NULL;
    int64_t r, c;
    ck_assert_msg(npy_read_f32(p, &x, &r, &c, err, sizeof err) == 0, "%s", err);
    ck_assert(r == 2 && c == 3);
    free(x);

    static const struct {
        const char *dict;
        size_t bytes;
        const char *msg;
    } bad[] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 20, "does not match"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 28, "does not match"},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }\n", 24, "'>f4'"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }\n", 48, "'<f8'"},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", 24, "Fortran"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 1), }\n", 24, "2-D"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }\n", 24, "2-D"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 1), }\n", 4, "malformed"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }\n", 4, "malformed"},
        {"{'descr': '<f4', 'shape': (2, 3), }\n", 24, "malformed"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}\n", 24, "malformed"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3\n", 24, "malformed"},
        {"", 0, "malformed"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_raw(p, bad[i].dict, 1, bad[i].bytes);
        x = NULL;
        ck_assert_msg(npy_read_f32(p, &x, &r, &c, err, sizeof err) == -1, "case %zu accepted", i);
        ck_assert_msg(strstr(err, bad[i].msg), "case %zu: '%s' lacks '%s'", i, err, bad[i].msg);
        ck_assert(x == NULL);
    }
    tu_spit(p, "\x93NUMPX\x01\x00", 8);
    ck_assert_int_eq(npy_read_f32(p, &x, &r, &c, err, sizeof err), -1);
    ck_assert(strstr(err, "magic"));
    tu_spit(p, "\x93NUMPY\x01\x00\xff\x7f{", 11);
    ck_assert_int_eq(npy_read_f32(p, &x, &r, &c, err, sizeof err), -1);
    ck_assert(strstr(err, "exceeds"));
    ck_assert_int_eq(npy_read_f32(g_tmp, &x, &r, &c, err, sizeof err), -1);
}
END_TEST

START_TEST(npy_atomic_replace)
{
    char p[4200];
    tpath(p, sizeof p, "a.bin");
    tu_spit_str(p, "old");
    npy_atomic a;
    ck_assert_int_eq(npy_atomic_open(&a, p), 0);
    fputs("new contents", a.f);
    ck_assert_int_eq(dir_entries(g_tmp), 2); /* a.bin + its temporary */
    char *s = tu_try_slurp(p, NULL);
    ck_assert_str_eq(s, "old");
    free(s);
    npy_atomic_abort(&a);
    ck_assert_int_eq(dir_entries(g_tmp), 1);
    s = tu_try_slurp(p, NULL);
    ck_assert_str_eq(s, "old");
    free(s);
    ck_assert_int_eq(npy_atomic_open(&a, p), 0);
    fputs("new contents", a.f);
    ck_assert_int_eq(npy_atomic_commit(&a), 0);
    npy_atomic_abort(&a); /* harmless after commit */
    s = tu_try_slurp(p, NULL);
    ck_assert_str_eq(s, "new contents");
    free(s);
    ck_assert_int_eq(dir_entries(g_tmp), 1);
    struct stat sb;
    ck_assert_int_eq(stat(p, &sb), 0);
    mode_t um = umask(0);
    umask(um);
    ck_assert_int_eq(sb.st_mode & 0777, 0666 & ~um);
    snprintf(p, sizeof p, "%s/missing/x", g_tmp);
    ck_assert_int_eq(npy_atomic_open(&a, p), -1);
    ck_assert_int_eq(errno, ENOENT);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli_embed");
    TCase *tc = tcase_create("embed");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, npy_roundtrip_and_rejects);
    tcase_add_test(tc, npy_atomic_replace);
    tcase_add_test(tc, embed_images_match_reference);
    tcase_add_test(tc, embed_folder_recursive_batched_jsonl);
    tcase_add_test(tc, embed_texts_jsonl_match_reference);
    tcase_add_test(tc, embed_texts_plain_lines);
    tcase_add_test(tc, embed_errors_one_line);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
