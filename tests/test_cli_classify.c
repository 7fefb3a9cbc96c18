/* test_cli_classify.c — `clipcl classify` end to end on the tiny model: its probabilities
 * equal the softmax of logit_scale × cosine between the image and the template-averaged text
 * embeddings computed independently (tokenizer + the float64 reference forward), the output
 * formats parse, the class-embedding cache is used, and bad input gives one clear error. */
#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "refclip.h"
#include "testutil.h"

static char *tmp;
static char model[4096], img_a[4096], img_b[4096];

static void setup(void)
{
    tmp = tu_tmpdir();
    tu_data(model, sizeof model, "tiny-quickgelu");
    tu_data(img_a, sizeof img_a, "images/chelsea.png");
    tu_data(img_b, sizeof img_b, "images/camera.png");
    setenv("XDG_CACHE_HOME", tmp, 1);
}

static void teardown(void)
{
    tu_rmtree(tmp);
    free(tmp);
}

static const char *labels[3] = {"cat", "astronaut", "cup of coffee"};
static const char *templates[2] = {"a photo of a {}.", "a blurry photo of the {}"};

/* Expected probabilities [2 images][3 classes], computed without the engine. */
static void expected(double probs[2][3])
{
    ref_model *ref;
    ck_assert_int_eq(ref_load(model, &ref), 0);
    clipcl_tokenizer *tok;
    ck_assert(clipcl_tokenizer_create(NULL, &tok) == CLIPCL_OK);
    enum { E = 24 };
    float cls[3][E];
    for (int c = 0; c < 3; c++) {
        int32_t ids[2 * 77];
        for (int t = 0; t < 2; t++) {
            char text[256];
            snprintf(text, sizeof text, strcmp(templates[t], "a photo of a {}.") ? "a blurry photo of the %s" : "a photo of a %s.",
                     labels[c]);
            ck_assert(clipcl_tokenize(tok, text, ids + 77 * t, 77, 0, NULL) == CLIPCL_OK);
        }
        float emb[2 * E];
        ref_encode_texts(ref, ids, 2, NULL, NULL, NULL, emb);
        double m[E], norm = 0;
        for (int e = 0; e < E; e++) {
            m[e] = (emb[e] + emb[E + e]) / 2;
            norm += m[e] * m[e];
        }
        for (int e = 0; e < E; e++) cls[c][e] = (float)(m[e] / sqrt(norm));
    }
    const char *imgs[2] = {img_a, img_b};
    for (int i = 0; i < 2; i++) {
        clipcl_image *im;
        ck_assert(clipcl_image_load(imgs[i], &im) == CLIPCL_OK);
        clipcl_preproc pp = clipcl_preproc_default();
        pp.size = 64;
        float pix[3 * 64 * 64], emb[E];
        ck_assert(clipcl_image_preprocess(im, &pp, pix) == CLIPCL_OK);
        clipcl_image_free(im);
        ref_encode_images(ref, pix, 1, NULL, NULL, NULL, emb);
        double logit[3], mx = -INFINITY, sum = 0;
        for (int c = 0; c < 3; c++) {
            double d = 0;
            for (int e = 0; e < E; e++) d += (double)emb[e] * cls[c][e];
            logit[c] = ref_logit_scale(ref) * d;
            if (logit[c] > mx) mx = logit[c];
        }
        for (int c = 0; c < 3; c++) sum += exp(logit[c] - mx);
        for (int c = 0; c < 3; c++) probs[i][c] = exp(logit[c] - mx) / sum;
    }
    clipcl_tokenizer_free(tok);
    ref_free(ref);
}

static char *templates_file(void)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/templates.txt", tmp);
    FILE *f = fopen(path, "w");
    fprintf(f, "%s\n\n%s\n", templates[0], templates[1]);
    fclose(f);
    return path;
}

START_TEST(test_json_matches_independent_computation)
{
    double want[2][3];
    expected(want);
    char cmd[32768], *out;
    snprintf(cmd, sizeof cmd, "%s classify -q -m %s %s %s --labels 'cat, astronaut,cup of coffee' --templates-file %s --json",
             CLIPCL_EXE, model, img_a, img_b, templates_file());
    for (int pass = 0; pass < 2; pass++) { /* the second run uses the class-embedding cache */
        ck_assert_int_eq(tu_sh(cmd, &out), 0);
        cJSON *arr = cJSON_Parse(out);
        ck_assert_msg(cJSON_IsArray(arr) && cJSON_GetArraySize(arr) == 2, "not a JSON array of 2: %s", out);
        for (int i = 0; i < 2; i++) {
            cJSON *o = cJSON_GetArrayItem(arr, i);
            ck_assert_str_eq(cJSON_GetObjectItem(o, "image")->valuestring, i ? img_b : img_a);
            cJSON *scores = cJSON_GetObjectItem(o, "scores");
            double sum = 0;
            for (int c = 0; c < 3; c++) {
                double p = cJSON_GetObjectItem(scores, labels[c])->valuedouble;
                ck_assert_msg(fabs(p - want[i][c]) <= 1e-4, "image %d %s: %g vs %g", i, labels[c], p, want[i][c]);
                sum += p;
            }
            ck_assert(fabs(sum - 1) < 1e-5);
            cJSON *top = cJSON_GetObjectItem(o, "top");
            ck_assert_int_eq(cJSON_GetArraySize(top), 3);
            double prev = 2;
            for (int k = 0; k < 3; k++) {
                double p = cJSON_GetArrayItem(cJSON_GetArrayItem(top, k), 1)->valuedouble;
                ck_assert(p <= prev);
                prev = p;
            }
        }
        cJSON_Delete(arr);
        free(out);
        char probe[8192];
        snprintf(probe, sizeof probe, "ls %s/clipcl/classes/*.bin > /dev/null 2>&1", tmp);
        ck_assert_msg(system(probe) == 0, "no class-embedding cache file written");
    }
    /* a damaged cache entry is ignored, not trusted */
    char corrupt[8192];
    snprintf(corrupt, sizeof corrupt, "for f in %s/clipcl/classes/*.bin; do printf garbage > \"$f\"; done", tmp);
    ck_assert_int_eq(system(corrupt), 0);
    ck_assert_int_eq(tu_sh(cmd, &out), 0);
    cJSON *arr = cJSON_Parse(out);
    double p = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "scores"), "cat")->valuedouble;
    ck_assert(fabs(p - want[0][0]) <= 1e-4);
    cJSON_Delete(arr);
    free(out);
}
END_TEST

START_TEST(test_single_image_csv_top)
{
    char cmd[32768], *out;
    snprintf(cmd, sizeof cmd, "%s classify -q -m %s %s --labels cat,dog,car --json --top 1", CLIPCL_EXE, model, img_a);
    ck_assert_int_eq(tu_sh(cmd, &out), 0);
    cJSON *o = cJSON_Parse(out);
    ck_assert_msg(cJSON_IsObject(o), "one image gives one object: %s", out);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "top")), 1);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "scores")), 3);
    cJSON_Delete(o);
    free(out);
    snprintf(cmd, sizeof cmd, "%s classify -q -m %s %s %s --labelset cifar10 --csv --top 2", CLIPCL_EXE, model, img_a, img_b);
    ck_assert_int_eq(tu_sh(cmd, &out), 0);
    char *line = strtok(out, "\n");
    ck_assert_str_eq(line, "image,rank,label,probability");
    int rows = 0;
    while ((line = strtok(NULL, "\n"))) {
        char img[4096], label[256];
        int rank;
        double p;
        ck_assert_msg(sscanf(line, "%4095[^,],%d,%255[^,],%lf", img, &rank, label, &p) == 4, "bad row %s", line);
        ck_assert(rank >= 1 && rank <= 2 && p > 0 && p < 1);
        rows++;
    }
    ck_assert_int_eq(rows, 4);
    free(out);
    snprintf(cmd, sizeof cmd, "%s classify --labelset list", CLIPCL_EXE);
    ck_assert_int_eq(tu_sh(cmd, &out), 0);
    ck_assert(strstr(out, "ImageNet") && strstr(out, "CIFAR100"));
    free(out);
}
END_TEST

/* Each bad input: non-zero exit, exactly one line on stderr naming the problem. */
static void expect_fail(const char *args, int code, const char *needle)
{
    char cmd[32768], errf[4200], *err = NULL;
    snprintf(errf, sizeof errf, "%s/stderr.txt", tmp);
    snprintf(cmd, sizeof cmd, "%s classify -q -m %s %s 2> %s", CLIPCL_EXE, model, args, errf);
    int rc = tu_sh(cmd, NULL);
    ck_assert_msg(rc == code, "'%s' exited %d, want %d", args, rc, code);
    FILE *f = fopen(errf, "r");
    size_t cap = 65536;
    err = calloc(1, cap);
    size_t n = fread(err, 1, cap - 1, f);
    fclose(f);
    err[n] = '\0';
    ck_assert_msg(strstr(err, needle), "'%s': stderr '%s' lacks '%s'", args, err, needle);
    int lines = 0;
    for (char *p = err; *p; p++) lines += *p == '\n';
    ck_assert_msg(lines == 1, "'%s': %d lines on stderr: %s", args, lines, err);
    free(err);
}

START_TEST(test_bad_input)
{
    char args[8192];
    snprintf(args, sizeof args, "%s/missing.png --labels cat,dog", tmp);
    expect_fail(args, 2, "missing.png");
    snprintf(args, sizeof args, "%s --labels ' , ,'", img_a);
    expect_fail(args, 2, "label list is empty");
    snprintf(args, sizeof args, "%s --labelset nosuchset", img_a);
    expect_fail(args, 2, "unknown label set 'nosuchset'");
    snprintf(args, sizeof args, "%s --labels cat --template 'a photo'", img_a);
    expect_fail(args, 2, "template");
    snprintf(args, sizeof args, "%s --labels cat -d 99", img_a);
    expect_fail(args, 2, "99");
    snprintf(args, sizeof args, "%s --labels cat,cat", img_a);
    expect_fail(args, 2, "twice");
    snprintf(args, sizeof args, "%s", img_a);
    expect_fail(args, 2, "--labels");
    char bad[4200];
    snprintf(bad, sizeof bad, "%s/broken.png", tmp);
    FILE *f = fopen(bad, "w");
    fputs("\x89PNG\r\n\x1a\n not really", f);
    fclose(f);
    snprintf(args, sizeof args, "%s --labels cat,dog", bad);
    expect_fail(args, 2, "broken.png");
    snprintf(args, sizeof args, "%s --labels cat -m %s/no-model-here", img_a, tmp);
    expect_fail(args, 2, "no-model-here");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli-classify");
    TCase *tc = tcase_create("classify");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, test_json_matches_independent_computation);
    tcase_add_test(tc, test_single_image_csv_top);
    tcase_add_test(tc, test_bad_input);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
