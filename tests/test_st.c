/* test_st.c — the safetensors reader on valid and hostile files: each corruption gets its own
 * clear error naming the file and the problem. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st.h"
#include "testutil.h"

static char *dir;
static void setup(void) { dir = tu_tmpdir(); }
static void teardown(void)
{
    tu_rmtree(dir);
    free(dir);
}

/* Writes a file: 8-byte little-endian header length (hlen_override if nonzero), the JSON, then
 * `data_bytes` bytes of data. */
static char *write_raw(const char *name, const char *json, unsigned long long hlen_override, size_t data_bytes)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    unsigned long long hl = hlen_override ? hlen_override : strlen(json);
    for (int i = 0; i < 8; i++) fputc((int)((hl >> (8 * i)) & 0xff), f);
    fwrite(json, 1, strlen(json), f);
    for (size_t i = 0; i < data_bytes; i++) fputc((int)(i & 0xff), f);
    fclose(f);
    return path;
}

static void expect_error(const char *path, clipcl_status want, const char *needle)
{
    st_file *f = NULL;
    clipcl_status st = st_open(path, &f);
    ck_assert_msg(st == want, "%s: status %d (%s), want %d", path, st, clipcl_errmsg(), want);
    ck_assert(f == NULL);
    ck_assert_msg(strstr(clipcl_errmsg(), needle) != NULL, "message '%s' lacks '%s'", clipcl_errmsg(), needle);
    ck_assert_msg(strstr(clipcl_errmsg(), path) != NULL, "message '%s' does not name the file", clipcl_errmsg());
}

START_TEST(test_valid_roundtrip)
{
    float a[6] = {1, 2, 3, 4, 5, 6};
    uint16_t h[2] = {st_f32_to_f16(1.5f), st_f32_to_f16(-2.0f)};
    uint16_t bf[2] = {0x3fc0, 0xc000}; /* 1.5, -2 */
    st_tensor ts[3] = {
        {.name = "a", .dtype = ST_F32, .ndim = 2, .shape = {2, 3}, .numel = 6, .data = (const uint8_t *)a, .nbytes = 24},
        {.name = "h", .dtype = ST_F16, .ndim = 1, .shape = {2}, .numel = 2, .data = (const uint8_t *)h, .nbytes = 4},
        {.name = "b", .dtype = ST_BF16, .ndim = 1, .shape = {2}, .numel = 2, .data = (const uint8_t *)bf, .nbytes = 4},
    };
    char path[4096];
    snprintf(path, sizeof path, "%s/ok.safetensors", dir);
    ck_assert(st_write(path, ts, 3) == CLIPCL_OK);
    st_file *f;
    ck_assert_msg(st_open(path, &f) == CLIPCL_OK, "%s", clipcl_errmsg());
    ck_assert_int_eq(f->n, 3);
    const st_tensor *t = st_find(f, "a");
    ck_assert(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3);
    float out[6];
    ck_assert(st_to_f32(t, out) == CLIPCL_OK);
    ck_assert(memcmp(out, a, sizeof a) == 0);
    ck_assert(st_to_f32(st_find(f, "h"), out) == CLIPCL_OK);
    ck_assert(out[0] == 1.5f && out[1] == -2.0f);
    ck_assert(st_to_f32(st_find(f, "b"), out) == CLIPCL_OK);
    ck_assert(out[0] == 1.5f && out[1] == -2.0f);
    ck_assert(st_find(f, "missing") == NULL);
    st_close(f);
}
END_TEST

START_TEST(test_half_conversions)
{
    /* every finite half survives half -> float -> half */
    for (unsigned v = 0; v < 0x10000; v++) {
        if ((v & 0x7c00) == 0x7c00) continue;
        float x = st_f16_to_f32((uint16_t)v);
        ck_assert_msg(st_f32_to_f16(x) == v || (x == 0 && (v & 0x7fff) == 0), "half 0x%04x", v);
    }
    ck_assert(st_f16_to_f32(0x3c00) == 1.0f);
    ck_assert(st_f16_to_f32(0x0001) == 5.9604644775390625e-8f); /* smallest subnormal */
}
END_TEST

START_TEST(test_corruptions)
{
    char shortp[4096];
    snprintf(shortp, sizeof shortp, "%s/short", dir);
    FILE *sf = fopen(shortp, "wb");
    fputs("abc", sf);
    fclose(sf);
    expect_error(shortp, CLIPCL_ERR_FORMAT, "too short");
    expect_error(write_raw("emptyheader", "", 0, 0), CLIPCL_ERR_FORMAT, "JSON object");
    expect_error(write_raw("hugeheader", "{}", 1ull << 40, 0), CLIPCL_ERR_FORMAT, "exceeds");
    expect_error(write_raw("pastend", "{}", 1000, 0), CLIPCL_ERR_FORMAT, "past the end");
    expect_error(write_raw("notjson", "{\"a\": [", 0, 0), CLIPCL_ERR_FORMAT, "JSON");
    expect_error(write_raw("dtype", "{\"a\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 0, 1),
                 CLIPCL_ERR_FORMAT, "unknown dtype 'F8'");
    expect_error(write_raw("outside", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 0, 8),
                 CLIPCL_ERR_FORMAT, "outside the file");
    expect_error(write_raw("overlap",
                           "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                           0, 12),
                 CLIPCL_ERR_FORMAT, "overlap");
    expect_error(write_raw("mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 0, 8),
                 CLIPCL_ERR_FORMAT, "need 12");
    expect_error(write_raw("negdim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 0, 8),
                 CLIPCL_ERR_FORMAT, "non-negative");
    expect_error(write_raw("hugedim",
                           "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 0, 8),
                 CLIPCL_ERR_FORMAT, "larger than the file");
    expect_error(write_raw("fracoff", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0.5,8]}}", 0, 8),
                 CLIPCL_ERR_FORMAT, "data_offsets");
    expect_error(write_raw("noshape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 0, 8), CLIPCL_ERR_FORMAT,
                 "needs dtype, shape");
    expect_error(write_raw("array", "[1,2]", 0, 0), CLIPCL_ERR_FORMAT, "JSON object");
    char missing[4096];
    snprintf(missing, sizeof missing, "%s/does-not-exist", dir);
    expect_error(missing, CLIPCL_ERR_IO, "cannot open");
    expect_error(dir, CLIPCL_ERR_IO, "not a regular file");
}
END_TEST

START_TEST(test_metadata_and_empty)
{
    /* __metadata__ is skipped; zero-size tensors are fine anywhere */
    const char *p = write_raw("meta",
                              "{\"__metadata__\":{\"format\":\"pt\"},\"e\":{\"dtype\":\"F32\",\"shape\":[0],"
                              "\"data_offsets\":[4,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                              0, 4);
    st_file *f;
    ck_assert_msg(st_open(p, &f) == CLIPCL_OK, "%s", clipcl_errmsg());
    ck_assert_int_eq(f->n, 2);
    st_close(f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("st");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_valid_roundtrip);
    tcase_add_test(tc, test_half_conversions);
    tcase_add_test(tc, test_corruptions);
    tcase_add_test(tc, test_metadata_and_empty);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
