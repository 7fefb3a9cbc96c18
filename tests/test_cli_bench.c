/* test_cli_bench.c — `clipcl bench` driven as a program on the tiny model: the JSON it writes
 * (schema of issue 5: device, model, precision, one result per tower and batch size, the
 * per-op breakdown, cold start; images as floats or bytes), the SVG, the text table, and its
 * errors (exit 2 and one stderr line, before any measuring for output paths that cannot be
 * written). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define MODEL TEST_DATA_DIR "/tiny-quickgelu"
#define CLI_DEADLINE_S 600

static char *g_tmp;
static char *g_out, *g_err;
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

static const char *tpath(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", g_tmp, name);
    return buf;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsNumber(v), "'%s' is missing or not a number", key);
    return v->valuedouble;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsString(v), "'%s' is missing or not a string", key);
    return v->valuestring;
}

/* The one device object of the JSON file, checked for every tower x batch result. */
static cJSON *read_result(const char *path, const char *precision, cJSON **root)
{
    char *text = tu_slurp(path, NULL);
    *root = cJSON_Parse(text);
    free(text);
    ck_assert_msg(cJSON_IsArray(*root) && cJSON_GetArraySize(*root) == 1, "want an array of one device");
    cJSON *d = cJSON_GetArrayItem(*root, 0);
    ck_assert(strlen(str(d, "device")) > 0);
    ck_assert_str_eq(str(d, "model"), MODEL);
    ck_assert_str_eq(str(d, "precision"), precision);
    ck_assert(num(d, "peak_device_memory_bytes") > 0);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(d, "results");
    ck_assert_msg(cJSON_IsArray(res) && cJSON_GetArraySize(res) == 4, "want 4 results (2 towers x 2 batches)");
    int seen = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, res)
    {
        const char *tower = str(r, "tower");
        int b = (int)num(r, "batch");
        ck_assert_msg((!strcmp(tower, "image") || !strcmp(tower, "text")) && (b == 1 || b == 3), "%s %d", tower, b);
        seen |= 1 << ((tower[0] == 't') * 2 + (b == 3));
        double ips = num(r, "items_per_s"), lat = num(r, "latency_ms");
        ck_assert_msg(ips > 0 && lat > 0, "%s %d: %g/s, %g ms", tower, b, ips, lat);
        /* items/s is batch over the median latency */
        ck_assert_msg(ips * lat / 1e3 > b * 0.99 && ips * lat / 1e3 < b * 1.01, "%s %d: %g/s at %g ms", tower, b, ips,
                      lat);
        ck_assert(num(r, "p90_ms") >= lat && num(r, "runs") >= 1);
    }
    ck_assert_int_eq(seen, 15);
    return d;
}

START_TEST(test_json_svg_profile)
{
    char js[4200], svg[4200];
    int rc = run("bench", "-m", MODEL, "--batch-sizes", "1,3", "--runs", "2", "--profile", "-q", "--json",
                 tpath(js, sizeof js, "b.json"), "--svg", tpath(svg, sizeof svg, "b.svg"), NULL);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, g_err);
    ck_assert_msg(strstr(g_out, "device time per op") && strstr(g_out, "peak device memory"), "%s", g_out);
    cJSON *root;
    cJSON *d = read_result(js, "fp32", &root);
    ck_assert(!cJSON_GetObjectItemCaseSensitive(d, "cold_start_ms"));
    ck_assert_str_eq(str(d, "image_input"), "float");
    ck_assert_int_eq((int)num(d, "text_tokens"), 77);
    /* which GEMM parameters ran (the device's tuning status), in both outputs */
    ck_assert_msg(strlen(str(d, "gemm")) > 0 && strstr(g_out, "GEMM: "), "%s", g_out);
    /* the profile: every op kind of both towers at the largest batch, GEMM with flops */
    const cJSON *ops = cJSON_GetObjectItemCaseSensitive(d, "ops"), *op;
    ck_assert(cJSON_IsArray(ops));
    int gemms = 0, n = 0;
    cJSON_ArrayForEach(op, ops)
    {
        n++;
        ck_assert_int_eq((int)num(op, "batch"), 3);
        ck_assert(num(op, "launches") >= 1 && num(op, "ms") > 0);
        if (!strcmp(str(op, "op"), "gemm")) gemms++, ck_assert(num(op, "gflop") > 0);
    }
    ck_assert_int_eq(n, 8);
    ck_assert_int_eq(gemms, 2);
    cJSON_Delete(root);
    char *s = tu_slurp(svg, NULL);
    ck_assert_msg(!strncmp(s, "<svg ", 5) && strstr(s, "</svg>\n") && strstr(s, ", fp32</text>"), "%.200s", s);
    free(s);
}
END_TEST

START_TEST(test_fp16_cold_start)
{
    char js[4200], svg[4200];
    int rc = run("bench", "-m", MODEL, "--batch-sizes", "1,3", "--runs", "1", "--precision", "fp16", "--cold-start",
                 "-q", "--json", tpath(js, sizeof js, "b.json"), "--svg", tpath(svg, sizeof svg, "b.svg"), NULL);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, g_err);
    ck_assert_msg(strstr(g_out, "cold start to first image embedding"), "%s", g_out);
    cJSON *root;
    cJSON *d = read_result(js, "fp16", &root);
    const cJSON *cold = cJSON_GetObjectItemCaseSensitive(d, "cold_start_ms");
    ck_assert_msg(cJSON_IsObject(cold), "no cold_start_ms");
    ck_assert(num(cold, "with_cache") > 0 && num(cold, "without_cache") > 0);
    cJSON_Delete(root);
    char *s = tu_slurp(svg, NULL);
    ck_assert_msg(strstr(s, ", fp16</text>"), "the chart's title does not say fp16: %.300s", s);
    free(s);
}
END_TEST

START_TEST(test_rgb8_text_tokens)
{
    char js[4200];
    int rc = run("bench", "-m", MODEL, "--batch-sizes", "1,3", "--runs", "1", "--rgb8", "--text-tokens", "12", "-q",
                 "--json", tpath(js, sizeof js, "b.json"), NULL);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, g_err);
    ck_assert_msg(strstr(g_out, "images as bytes (--rgb8)"), "%s", g_out);
    ck_assert_msg(strstr(g_out, "texts of 12 tokens"), "%s", g_out);
    cJSON *root;
    cJSON *d = read_result(js, "fp32", &root);
    ck_assert_str_eq(str(d, "image_input"), "rgb8");
    ck_assert_int_eq((int)num(d, "text_tokens"), 12);
    cJSON_Delete(root);
}
END_TEST

static void expect_fail(int rc, const char *mention)
{
    ck_assert_msg(rc == 2, "exit %d, expected 2; stderr: %s", rc, g_err);
    ck_assert_msg(!strncmp(g_err, "clipcl", 6) && strchr(g_err, '\n') == g_err + strlen(g_err) - 1,
                  "want one error line, got: '%s'", g_err);
    ck_assert_msg(strstr(g_err, mention), "error does not mention '%s': %s", mention, g_err);
}

START_TEST(test_errors)
{
    expect_fail(run("bench", "-m", MODEL, "--batch-sizes", "0", NULL), "--batch-sizes");
    expect_fail(run("bench", "-m", MODEL, "--runs", "0", NULL), "--runs");
    expect_fail(run("bench", "-m", MODEL, "--text-tokens", "1", NULL), "--text-tokens");
    expect_fail(run("bench", "-m", MODEL, "--text-tokens", "78", NULL), "--text-tokens");
    expect_fail(run("bench", "--arch", "ViT-Q/1", NULL), "ViT-Q/1");
    expect_fail(run("bench", "-m", MODEL, "--arch", "ViT-B/32", NULL), "either");
    expect_fail(run("bench", "-m", MODEL, "-d", "12345", NULL), "12345");
    /* output paths are checked before anything is measured: nothing else may be printed */
    char bad[4200];
    snprintf(bad, sizeof bad, "%s/no/such/folder/b.json", g_tmp);
    expect_fail(run("bench", "-m", MODEL, "--json", bad, NULL), bad);
    ck_assert_str_eq(g_out, "");
    snprintf(bad, sizeof bad, "%s/no/such/folder/b.svg", g_tmp);
    expect_fail(run("bench", "-m", MODEL, "--svg", bad, NULL), bad);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli_bench");
    TCase *tc = tcase_create("bench");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 1200);
    tcase_add_test(tc, test_json_svg_profile);
    tcase_add_test(tc, test_fp16_cold_start);
    tcase_add_test(tc, test_rgb8_text_tokens);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
