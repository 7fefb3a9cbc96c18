/* test_img.c — image decoding and OpenAI's preprocessing (host/img.c, host/img_resample.c)
 * against Pillow: the shared 224 ground truth, Pillow-made expectations for other sizes,
 * aspect ratios, modes and formats (tests/data/preprocess/make_extra.py), normalized pixels
 * from the model fixtures, and refusal of broken or oversized files. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <zlib.h>

#include "clipcl.h"
#include "img.h"
#include "st.h"
#include "testutil.h"


static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    ck_assert(b != NULL);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return b;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* Crops images/<rel> at size S and compares with exp (S×S×3). Appends a line to report on
 * a mismatch; returns 1 when it matches within the tolerance for its format. */
static int check_crop(const char *rel, int S, const uint8_t *exp, char *report, size_t cap)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/images/%s", TEST_DATA_DIR, rel);
    clipcl_image *img = NULL;
    clipcl_status st = clipcl_image_load(path, &img);
    size_t len = strlen(report);
    if (st != CLIPCL_OK) {
        snprintf(report + len, cap - len, "%s: load failed: %s\n", rel, clipcl_errmsg());
        return 0;
    }
    size_t n = (size_t)S * S * 3;
    uint8_t *got = malloc(n);
    ck_assert(got != NULL);
    st = clipcl_image_crop_rgb8(img, S, got);
    clipcl_image_free(img);
    if (st != CLIPCL_OK) {
        snprintf(report + len, cap - len, "%s@%d: crop failed: %s\n", rel, S, clipcl_errmsg());
        free(got);
        return 0;
    }
    int maxd = 0;
    double sum = 0;
    size_t first = n;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)got[i] - (int)exp[i]);
        if (d && first == n)
            first = i;
        if (d > maxd)
            maxd = d;
        sum += d;
    }
    free(got);
    double mean = sum / (double)n;
    /* every format, JPEG included (libjpeg-turbo decodes as Pillow does): byte for byte */
    int ok = maxd == 0;
    if (!ok)
        snprintf(report + len, cap - len,
                 "%s@%d: max diff %d, mean %.4f (first at y=%zu x=%zu c=%zu)\n", rel, S, maxd,
                 mean, first / 3 / S, first / 3 % S, first % 3);
    return ok;
}

static st_file *open_st(const char *rel)
{
    char path[4096];
    st_file *f = NULL;
    tu_data(path, sizeof path, rel);
    clipcl_status st = st_open(path, &f);
    ck_assert_msg(st == CLIPCL_OK, "st_open %s: %s", path, clipcl_errmsg());
    return f;
}

/* ------------------------------------------------------------------ ground truth */

START_TEST(fixtures_224)
{
    static const char *files[] = {"astronaut.png", "astronaut_small.jpg", "camera.png",
                                  "chelsea.png",   "chelsea_rgba.png",    "coffee.png",
                                  "coffee_palette.png", "rocket.jpg"};
    st_file *f = open_st("preprocess/expected_224.safetensors");
    ck_assert_int_eq(f->n, 8);
    char report[8192] = "";
    int ok = 1;
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char key[256];
        snprintf(key, sizeof key, "%s", files[i]);
        *strrchr(key, '.') = 0;
        const st_tensor *t = st_find(f, key);
        ck_assert_msg(t != NULL, "no tensor %s", key);
        ck_assert(t->dtype == ST_U8 && t->ndim == 3 && t->shape[0] == 224 &&
                  t->shape[1] == 224 && t->shape[2] == 3);
        ok &= check_crop(files[i], 224, t->data, report, sizeof report);
    }
    st_close(f);
    ck_assert_msg(ok, "mismatches:\n%s", report);
}
END_TEST

/* Every "<image>@<S>" tensor of expected_extra: sizes 336 and 64 of the fixtures, and the
 * synthetic aspect ratios / modes / formats at their sizes. */
START_TEST(pillow_extra)
{
    st_file *f = open_st("preprocess/expected_extra.safetensors");
    char *report = calloc(1, 65536);
    int ok = 1, checked = 0, s336 = 0, s64 = 0;
    for (int i = 0; i < f->n; i++) {
        const st_tensor *t = &f->tensors[i];
        if (!strncmp(t->name, "norm:", 5))
            continue;
        char rel[512];
        snprintf(rel, sizeof rel, "%s", t->name);
        char *at = strrchr(rel, '@');
        ck_assert_msg(at != NULL, "bad key %s", t->name);
        *at = 0;
        int S = atoi(at + 1);
        ck_assert(t->dtype == ST_U8 && t->ndim == 3 && t->shape[0] == S && t->shape[1] == S &&
                  t->shape[2] == 3);
        ok &= check_crop(rel, S, t->data, report, 65536);
        checked++;
        s336 += S == 336;
        s64 += S == 64;
    }
    st_close(f);
    ck_assert_int_ge(checked, 50);
    ck_assert_int_ge(s336, 3);
    ck_assert_int_ge(s64, 8);
    ck_assert_msg(ok, "mismatches:\n%s", report);
    free(report);
}
END_TEST

/* The mode each file decodes to is the mode Pillow opens it in (tests/data/images/MODES.txt). */
START_TEST(modes_match_pillow)
{
    char path[4096];
    FILE *mf = fopen(tu_data(path, sizeof path, "images/MODES.txt"), "r");
    ck_assert(mf != NULL);
    char rel[512], mode[32];
    int n = 0, seen[IMG_MODE_CMYK + 1] = {0};
    while (fscanf(mf, "%511s %31s", rel, mode) == 2) {
        snprintf(path, sizeof path, "%s/images/%s", TEST_DATA_DIR, rel);
        clipcl_image *img = NULL;
        ck_assert_msg(clipcl_image_load(path, &img) == CLIPCL_OK, "%s: %s", rel, clipcl_errmsg());
        const char *got = img_mode_name(img_get_mode(img));
        /* Pillow unpacks 16-bit grey+alpha PNGs into RGBA (grey repeated): resized the same
         * way as LA, which is what is kept here. */
        if (!strcmp(mode, "RGBA") && strstr(rel, "la16"))
            snprintf(mode, sizeof mode, "LA");
        ck_assert_msg(!strcmp(got, mode), "%s: mode %s, Pillow says %s", rel, got, mode);
        seen[img_get_mode(img)]++;
        clipcl_image_free(img);
        n++;
    }
    fclose(mf);
    ck_assert_int_ge(n, 30);
    for (int m = 0; m <= IMG_MODE_CMYK; m++)
        ck_assert_msg(seen[m] > 0, "no test image in mode %s", img_mode_name((img_mode)m));
}
END_TEST

/* ------------------------------------------------------------------ normalization */

/* Normalized pixels of the model fixtures (OpenAI preprocessing at 64, float32). */
START_TEST(normalized_like_torch)
{
    st_file *f = open_st("preprocess/expected_extra.safetensors");
    clipcl_preproc pp = clipcl_preproc_default();
    pp.size = 64;
    float *got = malloc(3 * 64 * 64 * sizeof(float)), *exp = malloc(3 * 64 * 64 * sizeof(float));
    int checked = 0;
    for (int i = 0; i < f->n; i++) {
        const st_tensor *t = &f->tensors[i];
        if (strncmp(t->name, "norm:", 5))
            continue;
        char rel[512], path[4096];
        snprintf(rel, sizeof rel, "%s", t->name + 5);
        *strrchr(rel, '@') = 0;
        ck_assert(t->dtype == ST_F32 && t->numel == 3 * 64 * 64);
        ck_assert(st_to_f32(t, exp) == CLIPCL_OK);
        snprintf(path, sizeof path, "%s/images/%s", TEST_DATA_DIR, rel);
        clipcl_image *img = NULL;
        ck_assert_msg(clipcl_image_load(path, &img) == CLIPCL_OK, "%s", clipcl_errmsg());
        ck_assert(clipcl_image_preprocess(img, &pp, got) == CLIPCL_OK);
        clipcl_image_free(img);
        double maxd = 0, sum = 0;
        for (int j = 0; j < 3 * 64 * 64; j++) {
            double d = fabs((double)got[j] - exp[j]);
            maxd = d > maxd ? d : maxd;
            sum += d;
        }
        /* the same float32 operations as torchvision: the tiny-quickgelu references agree
         * exactly; tiny-rn's (torch 1.13) by one ulp at most. JPEGs too (same decoder). */
        ck_assert_msg(maxd <= 5e-7, "%s: max diff %g (mean %g)", rel, maxd,
                      sum / (3 * 64 * 64));
        checked++;
    }
    ck_assert_int_eq(checked, 5);
    free(got);
    free(exp);
    st_close(f);
}
END_TEST

/* Constant 2×2 PPMs (no resize at size 2) with values 0, 1, 128, 254, 255; expected values
 * from numpy in float32: (v / 255 - mean) / std, as torchvision's ToTensor + Normalize. */
START_TEST(normalize_values)
{
    static const struct {
        int v;
        float e[3];
    } cases[] = {
        {0, {-1.79226255f, -1.75209713f, -1.48021984f}},
        {1, {-1.77766407f, -1.73708928f, -1.46599972f}},
        {128, {0.0763361454f, 0.168897316f, 0.339948773f}},
        {254, {1.91573775f, 2.05987597f, 2.13167715f}},
        {255, {1.93033612f, 2.0748837f, 2.14589691f}},
    };
    clipcl_preproc pp = clipcl_preproc_default();
    ck_assert_int_eq(pp.size, 224);
    ck_assert(pp.mean[0] == 0.48145466f && pp.mean[1] == 0.4578275f && pp.mean[2] == 0.40821073f);
    ck_assert(pp.std[0] == 0.26862954f && pp.std[1] == 0.26130258f && pp.std[2] == 0.27577711f);
    pp.size = 2;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint8_t ppm[32];
        int hl = snprintf((char *)ppm, sizeof ppm, "P6\n2 2\n255\n");
        memset(ppm + hl, cases[i].v, 12);
        clipcl_image *img = NULL;
        ck_assert(clipcl_image_load_memory(ppm, (size_t)hl + 12, "const.ppm", &img) == CLIPCL_OK);
        float out[12];
        ck_assert(clipcl_image_preprocess(img, &pp, out) == CLIPCL_OK);
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 4; k++)
                ck_assert_msg(fabsf(out[c * 4 + k] - cases[i].e[c]) <= 1e-6f,
                              "v=%d c=%d: %.9g vs %.9g", cases[i].v, c, out[c * 4 + k],
                              cases[i].e[c]);
        clipcl_image_free(img);
    }
    /* CHW order and custom mean/std: a 2×1 PPM red, blue → plane R = (1, 0), plane B = (0, 1) */
    uint8_t ppm[32];
    int hl = snprintf((char *)ppm, sizeof ppm, "P6\n2 1\n255\n");
    const uint8_t px[6] = {255, 0, 0, 0, 0, 255};
    memcpy(ppm + hl, px, 6);
    clipcl_image *img = NULL;
    ck_assert(clipcl_image_load_memory(ppm, (size_t)hl + 6, "rb.ppm", &img) == CLIPCL_OK);
    int w = 0, h = 0;
    clipcl_image_size(img, &w, &h);
    ck_assert(w == 2 && h == 1);
    clipcl_preproc id = {1, {0, 0, 0}, {1, 1, 1}};
    float o1[3];
    ck_assert(clipcl_image_preprocess(img, &id, o1) == CLIPCL_OK);
    /* 2×1 → resized to 2×1 (shorter side already 1), crop offset round(0.5) = 0: pixel 0 */
    ck_assert(o1[0] == 1.0f && o1[1] == 0.0f && o1[2] == 0.0f);
    clipcl_preproc half = {1, {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}};
    ck_assert(clipcl_image_preprocess(img, &half, o1) == CLIPCL_OK);
    ck_assert(o1[0] == 1.0f && o1[1] == -1.0f && o1[2] == -1.0f);
    clipcl_preproc bad = half;
    bad.std[1] = 0;
    ck_assert_int_eq(clipcl_image_preprocess(img, &bad, o1), CLIPCL_ERR_INVALID_ARG);
    bad = half;
    bad.mean[2] = NAN;
    ck_assert_int_eq(clipcl_image_preprocess(img, &bad, o1), CLIPCL_ERR_INVALID_ARG);
    bad = half;
    bad.size = 0;
    ck_assert_int_eq(clipcl_image_preprocess(img, &bad, o1), CLIPCL_ERR_INVALID_ARG);
    clipcl_image_free(img);
}
END_TEST

/* ------------------------------------------------------------------ geometry */

START_TEST(geometry)
{
    int w, h;
    img_resized_size(451, 300, 224, &w, &h);
    ck_assert(w == 336 && h == 224); /* int(224 * 451 / 300) = int(336.75) */
    img_resized_size(427, 640, 224, &w, &h);
    ck_assert(w == 224 && h == 335); /* 335.74 */
    img_resized_size(224, 224, 224, &w, &h);
    ck_assert(w == 224 && h == 224);
    img_resized_size(1, 32768, 224, &w, &h);
    ck_assert(w == 224 && h == 224 * 32768);
    img_resized_size(3, 7, 5, &w, &h);
    ck_assert(w == 5 && h == 11); /* 11.666 */
    /* Python round((e - s) / 2): half to even */
    ck_assert_int_eq(img_crop_offset(224, 224), 0);
    ck_assert_int_eq(img_crop_offset(225, 224), 0); /* 0.5 → 0 */
    ck_assert_int_eq(img_crop_offset(226, 224), 1);
    ck_assert_int_eq(img_crop_offset(227, 224), 2); /* 1.5 → 2 */
    ck_assert_int_eq(img_crop_offset(229, 224), 2); /* 2.5 → 2 */
    ck_assert_int_eq(img_crop_offset(231, 224), 4); /* 3.5 → 4 */
    ck_assert_int_eq(img_crop_offset(336, 224), 56);
}
END_TEST

/* Memory and file loading agree; bad arguments are refused. */
START_TEST(api_arguments)
{
    char path[4096];
    size_t n;
    uint8_t *data = read_file(tu_data(path, sizeof path, "images/chelsea_rgba.png"), &n);
    clipcl_image *a = NULL, *b = NULL;
    ck_assert(clipcl_image_load(path, &a) == CLIPCL_OK);
    ck_assert(clipcl_image_load_memory(data, n, "mem", &b) == CLIPCL_OK);
    int w, h;
    clipcl_image_size(a, &w, &h);
    ck_assert(w == 451 && h == 300);
    uint8_t *oa = malloc(48 * 48 * 3), *ob = malloc(48 * 48 * 3);
    ck_assert(clipcl_image_crop_rgb8(a, 48, oa) == CLIPCL_OK);
    ck_assert(clipcl_image_crop_rgb8(b, 48, ob) == CLIPCL_OK);
    ck_assert(!memcmp(oa, ob, 48 * 48 * 3));
    clipcl_image_free(b);
    ck_assert_int_eq(clipcl_image_crop_rgb8(a, 0, oa), CLIPCL_ERR_INVALID_ARG);
    ck_assert_int_eq(clipcl_image_crop_rgb8(a, IMG_MAX_CROP + 1, oa), CLIPCL_ERR_INVALID_ARG);
    ck_assert_int_eq(clipcl_image_crop_rgb8(NULL, 48, oa), CLIPCL_ERR_INVALID_ARG);
    ck_assert_int_eq(clipcl_image_crop_rgb8(a, 48, NULL), CLIPCL_ERR_INVALID_ARG);
    ck_assert_int_eq(clipcl_image_preprocess(a, NULL, NULL), CLIPCL_ERR_INVALID_ARG);
    ck_assert_int_eq(clipcl_image_load(NULL, &b), CLIPCL_ERR_INVALID_ARG);
    ck_assert_int_eq(clipcl_image_load(path, NULL), CLIPCL_ERR_INVALID_ARG);
    ck_assert_int_eq(clipcl_image_load_memory(NULL, 5, "x", &b), CLIPCL_ERR_INVALID_ARG);
    ck_assert(b == NULL);
    clipcl_image_size(NULL, &w, &h);
    ck_assert(w == 0 && h == 0);
    clipcl_image_free(a);
    clipcl_image_free(NULL);
    free(oa);
    free(ob);
    free(data);
}
END_TEST

/* ------------------------------------------------------------------ refusals */

static void expect_refused(const void *data, size_t n, const char *name, clipcl_status want)
{
    clipcl_image *img = (clipcl_image *)1;
    clipcl_status st = clipcl_image_load_memory(data, n, name, &img);
    ck_assert_msg(st == want, "%s: status %d (%s), want %d", name, st, clipcl_errmsg(), want);
    ck_assert(img == NULL);
    ck_assert_msg(strstr(clipcl_errmsg(), name) != NULL, "message does not name %s: %s", name,
                  clipcl_errmsg());
}

START_TEST(truncated_and_corrupt)
{
    static const char *files[] = {"camera.png",        "coffee_palette.png", "rocket.jpg",
                                  "astronaut_small.jpg", "synth/palette.gif", "synth/rgb.bmp",
                                  "synth/palette.bmp", "synth/grey.pgm",     "synth/rgb.ppm",
                                  "synth/rgba.tga",    "synth/grey16.png",   "synth/progressive.jpg",
                                  "synth/cmyk.jpg",    "synth/restart.jpg"};
    char path[4096], rel[600];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        size_t n;
        snprintf(rel, sizeof rel, "images/%s", files[i]);
        uint8_t *d = read_file(tu_data(path, sizeof path, rel), &n);
        static const double fr[] = {0.25, 0.5, 0.9};
        for (int k = 0; k < 3; k++) {
            char name[700];
            snprintf(name, sizeof name, "%s[:%d%%]", files[i], (int)(fr[k] * 100));
            expect_refused(d, (size_t)(n * fr[k]), name, CLIPCL_ERR_FORMAT);
        }
        /* the complete file loads */
        clipcl_image *img = NULL;
        ck_assert_msg(clipcl_image_load_memory(d, n, files[i], &img) == CLIPCL_OK, "%s: %s",
                      files[i], clipcl_errmsg());
        clipcl_image_free(img);
        free(d);
    }
    /* random bytes, many seeds */
    uint8_t buf[4096];
    for (uint64_t seed = 1; seed <= 32; seed++) {
        uint64_t s = seed * 0x9E3779B97F4A7C15ull;
        for (size_t i = 0; i < sizeof buf; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            buf[i] = (uint8_t)(s >> 24);
        }
        char name[64];
        snprintf(name, sizeof name, "random-%d.bin", (int)seed);
        expect_refused(buf, sizeof buf, name, CLIPCL_ERR_FORMAT);
    }
    expect_refused("", 0, "empty.png", CLIPCL_ERR_FORMAT);
    expect_refused("\x89PNG", 4, "four.png", CLIPCL_ERR_FORMAT);
}
END_TEST

/* Position just past the first occurrence of marker FF m at or after `from`, or 0. */
static size_t jpeg_find(const uint8_t *d, size_t n, size_t from, uint8_t m)
{
    for (size_t i = from; i + 1 < n; i++)
        if (d[i] == 0xFF && d[i + 1] == m)
            return i + 2;
    return 0;
}

/* JPEG damage that libjpeg would paper over with warnings (grey fill, garbled blocks): each is
 * an error naming the file, as is a scan flood. */
START_TEST(jpeg_damaged)
{
    char path[4096];
    size_t n;
    uint8_t *d = read_file(tu_data(path, sizeof path, "images/synth/progressive.jpg"), &n);
    clipcl_image *img = NULL;
    ck_assert_int_eq(clipcl_image_load_memory(d, n, "ok.jpg", &img), CLIPCL_OK);
    clipcl_image_free(img);
    ck_assert(d[n - 2] == 0xFF && d[n - 1] == 0xD9);

    /* every cut in the last 64 bytes, EOI included, is truncation */
    for (size_t cut = n - 64; cut < n; cut++) {
        expect_refused(d, cut, "cut.jpg", CLIPCL_ERR_FORMAT);
        ck_assert_msg(strstr(clipcl_errmsg(), "truncated") || strstr(clipcl_errmsg(), "corrupt"),
                      "%s", clipcl_errmsg());
    }

    /* a marker in the middle of the first scan's data: "premature end of data segment" */
    size_t sos = jpeg_find(d, n, 2, 0xDA);
    ck_assert(sos > 0);
    size_t next = jpeg_find(d, n, sos + 2 + ((size_t)d[sos] << 8 | d[sos + 1]), 0xDA);
    ck_assert(next > sos + 40);
    uint8_t *bad = malloc(n);
    memcpy(bad, d, n);
    size_t mid = (sos + next) / 2;
    bad[mid] = 0xFF, bad[mid + 1] = 0xD9;
    expect_refused(bad, n, "marker.jpg", CLIPCL_ERR_FORMAT);
    ck_assert_msg(strstr(clipcl_errmsg(), "corrupt JPEG"), "%s", clipcl_errmsg());
    free(bad);

    /* the last scan repeated 600 times: more scans than any encoder writes */
    size_t last = 0, p = 2;
    while ((p = jpeg_find(d, n, p, 0xDA)) != 0)
        last = p - 2;
    size_t scan = n - 2 - last, big = last + 600 * scan + 2;
    bad = malloc(big);
    memcpy(bad, d, last);
    for (int i = 0; i < 600; i++)
        memcpy(bad + last + (size_t)i * scan, d + last, scan);
    bad[big - 2] = 0xFF, bad[big - 1] = 0xD9;
    expect_refused(bad, big, "scans.jpg", CLIPCL_ERR_LIMIT);
    ck_assert_msg(strstr(clipcl_errmsg(), "more than 500 scans"), "%s", clipcl_errmsg());
    /* fewer scans allowed as the image grows: scans × pixels ≤ 2^34, at least 64 */
    ck_assert_int_eq(img_jpeg_scan_limit(90 * 70), 500);
    ck_assert_int_eq(img_jpeg_scan_limit(34359738), 500); /* 2^34 / 500, rounded down */
    ck_assert_int_eq(img_jpeg_scan_limit(34359739), 499);
    ck_assert_int_eq(img_jpeg_scan_limit((uint64_t)8192 * 8192), 256);
    ck_assert_int_eq(img_jpeg_scan_limit((uint64_t)1 << 28), 64);
    ck_assert_int_eq(img_jpeg_scan_limit((uint64_t)1 << 32), 64);
    free(bad);
    free(d);

    /* Pillow's test for a JPEG is FF D8 FF: fill bytes before SOI are not an image */
    static const uint8_t fill[] = {0xFF, 0xFF, 0xD8, 0xFF, 0xD9};
    expect_refused(fill, sizeof fill, "fill.jpg", CLIPCL_ERR_FORMAT);
    /* two components: neither L, RGB nor CMYK */
    static const uint8_t two[] = {0xff, 0xd8, 0xff, 0xc0, 0, 14, 8, 0, 8, 0, 8, 2, 1, 0x11, 0,
                                  2, 0x11, 0, 0xff, 0xda, 0, 10, 2, 1, 0, 2, 0, 0, 63, 0,
                                  0xff, 0xd9};
    expect_refused(two, sizeof two, "two.jpg", CLIPCL_ERR_UNSUPPORTED);
}
END_TEST

START_TEST(files_on_disk)
{
    char *dir = tu_tmpdir(), path[4096];
    clipcl_image *img = (clipcl_image *)1;
    snprintf(path, sizeof path, "%s/missing.png", dir);
    ck_assert_int_eq(clipcl_image_load(path, &img), CLIPCL_ERR_IO);
    ck_assert(img == NULL);
    ck_assert(strstr(clipcl_errmsg(), path) != NULL);
    ck_assert_int_eq(clipcl_image_load(dir, &img), CLIPCL_ERR_IO);
    snprintf(path, sizeof path, "%s/empty.jpg", dir);
    write_file(path, "", 0);
    ck_assert_int_eq(clipcl_image_load(path, &img), CLIPCL_ERR_FORMAT);
    ck_assert(strstr(clipcl_errmsg(), path) != NULL);
    size_t n;
    char src[4096];
    uint8_t *d = read_file(tu_data(src, sizeof src, "images/chelsea.png"), &n);
    snprintf(path, sizeof path, "%s/cut.png", dir);
    write_file(path, d, n / 3);
    ck_assert_int_eq(clipcl_image_load(path, &img), CLIPCL_ERR_FORMAT);
    ck_assert(strstr(clipcl_errmsg(), path) != NULL);
    free(d);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

static size_t png_header(uint8_t *b, uint32_t w, uint32_t h, int depth, int ct)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t ihdr[17] = {'I', 'H', 'D', 'R', w >> 24, w >> 16, w >> 8, w, h >> 24, h >> 16,
                        h >> 8, h, (uint8_t)depth, (uint8_t)ct, 0, 0, 0};
    memcpy(b, sig, 8);
    b[8] = 0, b[9] = 0, b[10] = 0, b[11] = 13;
    memcpy(b + 12, ihdr, 17);
    uLong crc = crc32(0, ihdr, 17);
    b[29] = crc >> 24, b[30] = crc >> 16, b[31] = crc >> 8, b[32] = crc;
    static const uint8_t iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
    memcpy(b + 33, iend, 12);
    return 45;
}

/* Headers claiming huge sizes are refused from the header (CLIPCL_ERR_LIMIT), under an
 * address-space limit that any attempt to allocate the pixels would hit. */
START_TEST(huge_headers)
{
    struct rlimit old;
    int limited = 0;
#if !defined(__SANITIZE_ADDRESS__)
    if (getrlimit(RLIMIT_AS, &old) == 0) {
        struct rlimit lim = {(rlim_t)1 << 30, old.rlim_max};
        if (old.rlim_max == RLIM_INFINITY || old.rlim_max >= lim.rlim_cur)
            limited = setrlimit(RLIMIT_AS, &lim) == 0;
    }
#endif
    uint8_t b[256];
    size_t n = png_header(b, 100000, 100000, 8, 2);
    expect_refused(b, n, "huge100k.png", CLIPCL_ERR_LIMIT);
    n = png_header(b, 20000, 20000, 8, 0); /* sides fine, 400 M pixels */
    expect_refused(b, n, "huge400M.png", CLIPCL_ERR_LIMIT);
    n = png_header(b, 40000, 10, 8, 0); /* one side too long */
    expect_refused(b, n, "wide40k.png", CLIPCL_ERR_LIMIT);
    n = png_header(b, 10, 10, 8, 2); /* plausible header, no data */
    expect_refused(b, n, "nodata.png", CLIPCL_ERR_FORMAT);

    /* GIF 65535×65535 */
    static const uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a', 0xff, 0xff, 0xff, 0xff, 0, 0, 0,
                                  0x2c, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 2, 2, 0x4c, 0x01,
                                  0, 0x3b};
    expect_refused(gif, sizeof gif, "huge.gif", CLIPCL_ERR_LIMIT);

    /* BMP 100000×100000, 24 bits */
    uint8_t bmp[54] = {'B', 'M'};
    bmp[10] = 54;
    bmp[14] = 40;
    uint32_t v = 100000;
    memcpy(bmp + 18, &v, 4);
    memcpy(bmp + 22, &v, 4);
    bmp[26] = 1;
    bmp[28] = 24;
    expect_refused(bmp, sizeof bmp, "huge.bmp", CLIPCL_ERR_LIMIT);

    /* baseline JPEG SOF0 60000×60000, then its SOS: refused once the header is read */
    static const uint8_t jpg[] = {0xff, 0xd8, 0xff, 0xc0, 0, 17, 8, 0xea, 0x60, 0xea, 0x60, 3,
                                  1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1,
                                  0xff, 0xda, 0, 12, 3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0,
                                  0xff, 0xd9};
    expect_refused(jpg, sizeof jpg, "huge.jpg", CLIPCL_ERR_LIMIT);
    /* the same within the limits but claiming more pixels than 36 bytes can hold */
    uint8_t jpg2[sizeof jpg];
    memcpy(jpg2, jpg, sizeof jpg);
    jpg2[7] = jpg2[9] = 0x10, jpg2[8] = jpg2[10] = 0; /* 4096×4096 */
    expect_refused(jpg2, sizeof jpg2, "bomb.jpg", CLIPCL_ERR_FORMAT);
    ck_assert_msg(strstr(clipcl_errmsg(), "decompression bomb"), "%s", clipcl_errmsg());
    /* no SOS: libjpeg's header read fails first */
    static const uint8_t nosos[] = {0xff, 0xd8, 0xff, 0xc0, 0, 17, 8, 0xea, 0x60, 0xea, 0x60, 3,
                                    1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0xff, 0xd9};
    expect_refused(nosos, sizeof nosos, "nosos.jpg", CLIPCL_ERR_FORMAT);

    /* PNM 50000×50000 */
    const char *pgm = "P5\n50000 50000\n255\n";
    expect_refused(pgm, strlen(pgm), "huge.pgm", CLIPCL_ERR_LIMIT);

    if (limited)
        setrlimit(RLIMIT_AS, &old);
}
END_TEST

/* ------------------------------------------------------------------ CLI */

static int run(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

START_TEST(cli_preprocess)
{
    char *dir = tu_tmpdir(), cmd[16384], out[4096], src[4096];
    snprintf(out, sizeof out, "%s/crop.png", dir);
    tu_data(src, sizeof src, "images/coffee_palette.png");
    snprintf(cmd, sizeof cmd, "'%s' preprocess '%s' -o '%s' --size 64 > /dev/null", CLIPCL_EXE,
             src, out);
    ck_assert_int_eq(run(cmd), 0);
    clipcl_image *img = NULL;
    ck_assert_msg(clipcl_image_load(out, &img) == CLIPCL_OK, "%s", clipcl_errmsg());
    int w, h;
    clipcl_image_size(img, &w, &h);
    ck_assert(w == 64 && h == 64);
    ck_assert_str_eq(img_mode_name(img_get_mode(img)), "RGB");
    uint8_t *got = malloc(64 * 64 * 3);
    ck_assert(clipcl_image_crop_rgb8(img, 64, got) == CLIPCL_OK); /* identity at its size */
    clipcl_image_free(img);
    st_file *f = open_st("preprocess/expected_extra.safetensors");
    const st_tensor *t = st_find(f, "coffee_palette.png@64");
    ck_assert(t != NULL && t->nbytes == 64 * 64 * 3);
    ck_assert(!memcmp(got, t->data, 64 * 64 * 3));
    st_close(f);
    free(got);

    /* default size 224 */
    tu_data(src, sizeof src, "images/camera.png");
    snprintf(cmd, sizeof cmd, "'%s' preprocess '%s' -o '%s' > /dev/null", CLIPCL_EXE, src, out);
    ck_assert_int_eq(run(cmd), 0);
    ck_assert(clipcl_image_load(out, &img) == CLIPCL_OK);
    clipcl_image_size(img, &w, &h);
    ck_assert(w == 224 && h == 224);
    clipcl_image_free(img);

    snprintf(cmd, sizeof cmd, "'%s' preprocess --help > /dev/null", CLIPCL_EXE);
    ck_assert_int_eq(run(cmd), 0);
    snprintf(cmd, sizeof cmd, "'%s' preprocess '%s' 2> /dev/null", CLIPCL_EXE, src);
    ck_assert_int_eq(run(cmd), 2); /* no -o */
    snprintf(cmd, sizeof cmd, "'%s' preprocess '%s' -o '%s' --size 0 2> /dev/null", CLIPCL_EXE,
             src, out);
    ck_assert_int_eq(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "'%s' preprocess '%s/none.png' -o '%s' 2> /dev/null", CLIPCL_EXE,
             dir, out);
    ck_assert_int_eq(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "'%s' preprocess '%s' -o '%s/no/such/dir.png' 2> /dev/null",
             CLIPCL_EXE, src, dir);
    ck_assert_int_eq(run(cmd), 2);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *img_suite(void)
{
    Suite *s = suite_create("img");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, fixtures_224);
    tcase_add_test(tc, pillow_extra);
    tcase_add_test(tc, modes_match_pillow);
    tcase_add_test(tc, normalized_like_torch);
    tcase_add_test(tc, normalize_values);
    tcase_add_test(tc, geometry);
    tcase_add_test(tc, api_arguments);
    tcase_add_test(tc, truncated_and_corrupt);
    tcase_add_test(tc, jpeg_damaged);
    tcase_add_test(tc, files_on_disk);
    tcase_add_test(tc, huge_headers);
    tcase_add_test(tc, cli_preprocess);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(img_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
