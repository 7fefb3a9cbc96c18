/* test_hardening.c — regression tests for what the fuzz harnesses (fuzz/) and the hostile-input
 * work found, one test per finding (docs/HARDENING.md lists them). Several only show their bug
 * in the sanitizer build (tests/run_sanitized.sh), which CI runs. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "arch.h"
#include "cfg.h"
#include "clipcl.h"
#include "kcache.h"
#include "testutil.h"

static char *dir;
static void setup(void) { dir = tu_tmpdir(); }
static void teardown(void)
{
    tu_rmtree(dir);
    free(dir);
}

static const char *file_with(const char *name, const void *data, size_t n)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    ck_assert(n == 0 || fwrite(data, 1, n, f) == n);
    fclose(f);
    return path;
}

/* Finding 1 (fuzz_tokenizer, UBSan): an empty or all-whitespace text made clean_text add an
 * offset to a NULL pointer (host/tok.c). */
START_TEST(test_tokenize_empty_text)
{
    clipcl_tokenizer *tok = NULL;
    ck_assert(clipcl_tokenizer_create(NULL, &tok) == CLIPCL_OK);
    const char *texts[] = {"", " ", "\t\n  \r", "\xc2\xa0"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        int32_t ids[CLIPCL_CONTEXT_LENGTH];
        int n = -1;
        ck_assert(clipcl_tokenize(tok, texts[i], ids, CLIPCL_CONTEXT_LENGTH, 0, &n) == CLIPCL_OK);
        ck_assert_int_eq(n, 2);
        ck_assert(ids[0] == CLIPCL_SOT && ids[1] == CLIPCL_EOT && ids[2] == 0);
        int nraw = -1;
        ck_assert(clipcl_tokenize_raw(tok, texts[i], -1, ids, 4, &nraw) == CLIPCL_OK);
        ck_assert_int_eq(nraw, 0);
    }
    clipcl_tokenizer_free(tok);
}
END_TEST

/* Finding 2 (kernel cache review for fuzz_kcache): the binary length was allocated before it was
 * compared with the file's size, so a 40-byte entry could claim (and get) 256 MiB. Now every
 * length must add up to the file's size exactly, before any allocation. */
START_TEST(test_kcache_entry_lengths)
{
    const char *key = "clipcl test key\n";
    uint64_t klen = strlen(key);
    unsigned char buf[256];
    size_t n = 0;
    memcpy(buf, "CLIPCLKB", 8), n = 8;
    uint32_t ver = 1;
    memcpy(buf + n, &ver, 4), n += 4;
    memcpy(buf + n, &klen, 8), n += 8;
    memcpy(buf + n, key, klen), n += klen;
    uint64_t blen = 5;
    memcpy(buf + n, &blen, 8), n += 8;
    memcpy(buf + n, "hello", 5), n += 5;

    unsigned char *bin = NULL;
    size_t len = 0;
    ck_assert_int_eq(kc_read_entry(file_with("ok.bin", buf, n), key, &bin, &len), 0);
    ck_assert(len == 5 && !memcmp(bin, "hello", 5));
    free(bin);
    /* other key, truncated, trailing byte, absurd lengths: stale (1), nothing handed out */
    ck_assert_int_eq(kc_read_entry(file_with("ok.bin", buf, n), "another key\n", &bin, &len), 1);
    ck_assert(bin == NULL);
    ck_assert_int_eq(kc_read_entry(file_with("cut.bin", buf, n - 1), key, &bin, &len), 1);
    buf[n] = 0;
    ck_assert_int_eq(kc_read_entry(file_with("long.bin", buf, n + 1), key, &bin, &len), 1);
    uint64_t huge = 256u << 20;
    memcpy(buf + n - 13, &huge, 8);
    ck_assert_int_eq(kc_read_entry(file_with("huge.bin", buf, n), key, &bin, &len), 1);
    huge = UINT64_MAX;
    memcpy(buf + n - 13, &huge, 8);
    ck_assert_int_eq(kc_read_entry(file_with("huge.bin", buf, n), key, &bin, &len), 1);
    memcpy(buf + 12, &huge, 8); /* key length */
    ck_assert_int_eq(kc_read_entry(file_with("huge.bin", buf, n), key, &bin, &len), 1);
    ck_assert(bin == NULL);
    ck_assert_int_eq(kc_read_entry(file_with("empty.bin", buf, 0), key, &bin, &len), 1);
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/none.bin", dir);
    ck_assert_int_eq(kc_read_entry(missing, key, &bin, &len), -1);
}
END_TEST

/* Finding 3 (fuzz_config throughput): config readers allocated their 16 MiB limit for every
 * file; the buffer now follows the file's size, and the limit still holds. Finding 6
 * (fuzz_config): layer_norm_eps 1e-50 passed the "> 0" check as a double and became 0.0f;
 * finding 8 (fuzz_config): likewise image_std 1e-95, and means beyond the float range. */
START_TEST(test_config_sizes)
{
    const char *json = "{\"projection_dim\": 64}";
    model_cfg c;
    ck_assert(cfg_load(file_with("config.json", json, strlen(json)), &c) == CLIPCL_OK);
    ck_assert_int_eq(c.embed_dim, 64);
    ck_assert(cfg_load(file_with("config.json", "", 0), &c) == CLIPCL_ERR_FORMAT);
    /* finding 6: an epsilon that is positive as a double but 0 as the kernels' float */
    const char *tiny_eps = "{\"text_config\": {\"layer_norm_eps\": 1e-50}}";
    ck_assert(cfg_load(file_with("config.json", tiny_eps, strlen(tiny_eps)), &c) == CLIPCL_ERR_MODEL);
    ck_assert_msg(strstr(clipcl_errmsg(), "layer_norm_eps") != NULL, "%s", clipcl_errmsg());
    const char *small_eps = "{\"vision_config\": {\"layer_norm_eps\": 1e-12}}";
    ck_assert(cfg_load(file_with("config.json", small_eps, strlen(small_eps)), &c) == CLIPCL_OK);
    ck_assert(c.vision.eps > 0.0f);
    /* finding 8: an image_std positive as a double but 0 as a float (and a mean out of float
     * range) were accepted; preprocessing then divided by zero */
    clipcl_preproc pp0 = clipcl_preproc_default();
    const char *bad_std = "{ \"image_std\":[5,0.5,1e-095]}";
    ck_assert(cfg_load_preproc(file_with("pp.json", bad_std, strlen(bad_std)), &pp0) == CLIPCL_ERR_FORMAT);
    const char *bad_mean = "{ \"image_mean\":[1e300,0,0]}";
    ck_assert(cfg_load_preproc(file_with("pp.json", bad_mean, strlen(bad_mean)), &pp0) == CLIPCL_ERR_FORMAT);
    const char *ok = "{ \"image_mean\":[-3,0,1e30], \"image_std\":[1e-30,2,3]}";
    ck_assert(cfg_load_preproc(file_with("pp.json", ok, strlen(ok)), &pp0) == CLIPCL_OK);
    ck_assert(pp0.std[0] > 0.0f && pp0.mean[2] == 1e30f);
    size_t big = (16u << 20) + 1;
    char *b = malloc(big);
    ck_assert(b != NULL);
    memset(b, ' ', big);
    b[0] = '{', b[big - 1] = '}';
    ck_assert(cfg_load(file_with("config.json", b, big), &c) == CLIPCL_ERR_LIMIT);
    free(b);
    /* a non-regular file (a folder) is refused, not read forever */
    clipcl_preproc pp = clipcl_preproc_default();
    ck_assert(cfg_load_preproc(dir, &pp) != CLIPCL_OK);
}
END_TEST

/* Finding 11 (fuzz_openclip): open_clip_config.json's preprocess_cfg.std of 1e-95 passed the
 * "> 0" check as a double and became 0.0f; a mean of 1e300 made the float conversion undefined.
 * Finding 12 (its throughput): the reader allocated 16 MiB per file; it is cfg.c's reader now,
 * so the size limit is the same for both. */
START_TEST(test_openclip_normalization)
{
    static const char *fmt = "{\"model_cfg\": {\"embed_dim\": 24, \"vision_cfg\": {\"image_size\": 64, "
                             "\"layers\": 1, \"width\": 64, \"head_width\": 32, \"patch_size\": 16}, "
                             "\"text_cfg\": {\"width\": 32, \"heads\": 4, \"layers\": 1}}, "
                             "\"preprocess_cfg\": {\"mean\": [%s], \"std\": [%s]}}";
    static const struct { const char *mean, *std; clipcl_status want; } cases[] = {
        {"0.5, 0.5, 0.5", "0.25, 0.25, 0.25", CLIPCL_OK},
        {"0.5, 0.5, 0.5", "0.25, 1e-95, 0.25", CLIPCL_ERR_FORMAT}, /* 0 as a float */
        {"1e300, 0.5, 0.5", "0.25, 0.25, 0.25", CLIPCL_ERR_FORMAT}, /* beyond the float range */
        {"0.5, 0.5, 0.5", "0.25, 0.25, -1", CLIPCL_ERR_FORMAT},
        {"-3, 0, 1e30", "1e-30, 2, 3", CLIPCL_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char json[1024];
        snprintf(json, sizeof json, fmt, cases[i].mean, cases[i].std);
        arch_desc d;
        clipcl_status st = arch_load_openclip(file_with("open_clip_config.json", json, strlen(json)), &d);
        ck_assert_msg(st == cases[i].want, "case %zu: status %d (%s)", i, (int)st, clipcl_errmsg());
        if (st == CLIPCL_OK) ck_assert(d.has_norm && d.std[0] > 0.0f && d.std[1] > 0.0f && d.std[2] > 0.0f);
        else ck_assert_msg(strstr(clipcl_errmsg(), "preprocess_cfg.") != NULL, "%s", clipcl_errmsg());
    }
    size_t big = (16u << 20) + 1;
    char *b = malloc(big);
    ck_assert(b != NULL);
    memset(b, ' ', big);
    b[0] = '{', b[big - 1] = '}';
    arch_desc d;
    ck_assert(arch_load_openclip(file_with("open_clip_config.json", b, big), &d) == CLIPCL_ERR_LIMIT);
    free(b);
}
END_TEST

/* Finding 4 (hostile-input review): a 152-byte JPEG claiming 16384 × 16384 pixels (within the
 * size limits) decoded "successfully" in 22 s and 540 MB; tiny BMP, TGA and PNM headers made stb
 * allocate and walk hundreds of megabytes before noticing the missing data. Such headers are
 * now refused at once from the file's size (host/img.c, max_pixels_per_byte). */
START_TEST(test_image_bombs_within_limits)
{
    /* JPEG: SOI, DQT, SOF0 16384² grey, DHT with 1-bit codes, SOS, 16 bytes, EOI */
    unsigned char jpg[200];
    size_t n = 0;
    const unsigned char head[] = {0xff, 0xd8, 0xff, 0xdb, 0, 67, 0};
    memcpy(jpg, head, sizeof head), n = sizeof head;
    memset(jpg + n, 1, 64), n += 64;
    const unsigned char sof[] = {0xff, 0xc0, 0, 11, 8, 0x40, 0, 0x40, 0, 1, 1, 0x11, 0};
    memcpy(jpg + n, sof, sizeof sof), n += sizeof sof;
    /* two tables (DC 0, AC 0), each one 1-bit code for symbol 0 */
    unsigned char dht[] = {0xff, 0xc4, 0, 38, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                           0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    memcpy(jpg + n, dht, sizeof dht), n += sizeof dht;
    const unsigned char sos[] = {0xff, 0xda, 0, 8, 1, 1, 0, 0, 0x3f, 0};
    memcpy(jpg + n, sos, sizeof sos), n += sizeof sos;
    memset(jpg + n, 0, 16), n += 16;
    jpg[n++] = 0xff, jpg[n++] = 0xd9;
    clipcl_image *img = NULL;
    ck_assert_int_eq(clipcl_image_load_memory(jpg, n, "bomb.jpg", &img), CLIPCL_ERR_FORMAT);
    ck_assert(img == NULL);
    ck_assert_msg(strstr(clipcl_errmsg(), "decompression bomb") != NULL, "%s", clipcl_errmsg());

    /* BMP 16384 × 16384, 24 bits, no pixel data */
    unsigned char bmp[54] = {'B', 'M', 54, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0,
                             0, 0x40, 0, 0, 0, 0x40, 0, 0, 1, 0, 24, 0};
    ck_assert_int_eq(clipcl_image_load_memory(bmp, sizeof bmp, "bomb.bmp", &img), CLIPCL_ERR_FORMAT);
    /* TGA 16384 × 16384 RLE true colour, one packet */
    unsigned char tga[24] = {0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0x40, 24, 0, 0xff, 1, 2, 3};
    ck_assert_int_eq(clipcl_image_load_memory(tga, sizeof tga, "bomb.tga", &img), CLIPCL_ERR_FORMAT);
    /* PGM 16000 × 16000, no pixels */
    const char *pgm = "P5\n16000 16000\n255\n";
    ck_assert_int_eq(clipcl_image_load_memory(pgm, strlen(pgm), "bomb.pgm", &img), CLIPCL_ERR_FORMAT);
    ck_assert(img == NULL);
}
END_TEST

/* Finding 5 (fuzz_image, 64 MiB allocation limit): stb grows its IDAT buffer to a chunk's
 * declared length before reading it, so a 600-byte PNG whose IDAT claimed 1.1 GB got a 1.1 GB
 * allocation; and a small PNG whose IHDR claims 16-bit RGBA at 16384 × 16384 made stb size its
 * inflate buffer at 2 GB. Chunks are now walked first (host/img.c, png_check). */
static size_t png_chunk(unsigned char *p, const char *type, const unsigned char *data, uint32_t len,
                        uint32_t claimed)
{
    p[0] = (unsigned char)(claimed >> 24), p[1] = (unsigned char)(claimed >> 16);
    p[2] = (unsigned char)(claimed >> 8), p[3] = (unsigned char)claimed;
    memcpy(p + 4, type, 4);
    if (len) memcpy(p + 8, data, len);
    memset(p + 8 + len, 0, 4); /* CRC: stb does not check it */
    return 12 + len;
}

START_TEST(test_png_lengths)
{
    unsigned char png[4096];
    const unsigned char ihdr_small[13] = {0, 0, 0, 4, 0, 0, 0, 4, 8, 2, 0, 0, 0}; /* 4×4 RGB */
    const unsigned char idat[] = {0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01};
    size_t n = 8;
    memcpy(png, "\x89PNG\r\n\x1a\n", 8);
    n += png_chunk(png + n, "IHDR", ihdr_small, 13, 13);
    /* an IDAT that claims 1.1 GB but holds 10 bytes */
    size_t at = n;
    n += png_chunk(png + n, "IDAT", idat, sizeof idat, 1178089313u);
    n += png_chunk(png + n, "IEND", NULL, 0, 0);
    clipcl_image *img = NULL;
    ck_assert_int_eq(clipcl_image_load_memory(png, n, "idat.png", &img), CLIPCL_ERR_FORMAT);
    ck_assert_msg(strstr(clipcl_errmsg(), "runs past the end") != NULL, "%s", clipcl_errmsg());
    /* a file cut inside that chunk's first 12 bytes (length, type, 2 bytes of data): stb still
       reads the length and would allocate 1.1 GB (finding 13, fuzz_image) */
    for (size_t cut = at + 8; cut < at + 12; cut++) {
        ck_assert_int_eq(clipcl_image_load_memory(png, cut, "cut.png", &img), CLIPCL_ERR_FORMAT);
        ck_assert_msg(strstr(clipcl_errmsg(), "runs past the end") != NULL, "%s", clipcl_errmsg());
    }
    /* the same with an honest length is just a corrupt (too short) image, refused by stb */
    png_chunk(png + at, "IDAT", idat, sizeof idat, sizeof idat);
    ck_assert(clipcl_image_load_memory(png, n, "idat.png", &img) != CLIPCL_OK);
    ck_assert(img == NULL);

    /* 16384 × 16384 RGBA 16-bit claimed by 3 KB of image data: at most 3 MB inflated */
    const unsigned char ihdr_big[13] = {0, 0, 0x40, 0, 0, 0, 0x40, 0, 16, 6, 0, 0, 0};
    unsigned char zeros[3000] = {0};
    n = 8;
    n += png_chunk(png + n, "IHDR", ihdr_big, 13, 13);
    n += png_chunk(png + n, "IDAT", zeros, sizeof zeros, sizeof zeros);
    n += png_chunk(png + n, "IEND", NULL, 0, 0);
    ck_assert_int_eq(clipcl_image_load_memory(png, n, "bomb16.png", &img), CLIPCL_ERR_FORMAT);
    ck_assert_msg(strstr(clipcl_errmsg(), "too short") != NULL, "%s", clipcl_errmsg());
}
END_TEST

/* Finding 15 (fuzz_image, UBSan inside stb): a zero-length IDAT before the first non-empty one
 * made stb 2.27 read into NULL + 0. Empty IDATs are legal and carry nothing; they are dropped
 * from a copy first, and the image decodes as without them. */
START_TEST(test_png_empty_idat)
{
    enum { W = 3, H = 2 };
    unsigned char raw[H * (1 + 3 * W)], z[256], png[512];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = i % (1 + 3 * W) == 0 ? 0 : (unsigned char)(17 * i + 3); /* filter 0 per row */
    uLongf zn = sizeof z;
    ck_assert_int_eq(compress(z, &zn, raw, sizeof raw), Z_OK);
    const unsigned char ihdr[13] = {0, 0, 0, W, 0, 0, 0, H, 8, 2, 0, 0, 0};
    size_t n = 8;
    memcpy(png, "\x89PNG\r\n\x1a\n", 8);
    n += png_chunk(png + n, "IHDR", ihdr, 13, 13);
    n += png_chunk(png + n, "IDAT", NULL, 0, 0);
    n += png_chunk(png + n, "IDAT", z, 5, 5);
    n += png_chunk(png + n, "IDAT", NULL, 0, 0);
    n += png_chunk(png + n, "IDAT", z + 5, (uint32_t)zn - 5, (uint32_t)zn - 5);
    n += png_chunk(png + n, "IEND", NULL, 0, 0);
    clipcl_image *img = NULL;
    ck_assert_msg(clipcl_image_load_memory(png, n, "empty-idat.png", &img) == CLIPCL_OK, "%s",
                  clipcl_errmsg());
    unsigned char rgb[W * H * 3];
    /* crop to the image's own height: no resampling, the decoded pixels themselves */
    ck_assert_int_eq(clipcl_image_crop_rgb8(img, H, rgb), CLIPCL_OK);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < H * 3; x++) /* the centre H×H crop of a W×H image: columns 0..1 */
            ck_assert_int_eq(rgb[(y * H) * 3 + x], raw[y * (1 + 3 * W) + 1 + x]);
    clipcl_image_free(img);
    /* only empty IDATs: no image data, refused */
    n = 8;
    n += png_chunk(png + n, "IHDR", ihdr, 13, 13);
    n += png_chunk(png + n, "IDAT", NULL, 0, 0);
    n += png_chunk(png + n, "IEND", NULL, 0, 0);
    ck_assert_int_eq(clipcl_image_load_memory(png, n, "no-data.png", &img), CLIPCL_ERR_FORMAT);
    ck_assert(img == NULL);
}
END_TEST

/* Findings 7 and 9 (fuzz_image, stb 2.27's Huffman-table overflow in its JPEG decoder): stb
 * no longer decodes JPEGs (libjpeg-turbo does, img_jpeg.c). The two inputs stay refused:
 * fill bytes before SOI are not a JPEG (Pillow's test is FF D8 FF), and libjpeg checks the
 * DHT segment itself. */
START_TEST(test_jpeg_fill_bytes_before_soi)
{
    /* FF FF D8, then a DHT whose 16 code counts add up to 510 */
    unsigned char jpg[64] = {0xff, 0xff, 0xd8, 0xff, 0xc4, 0, 19, 0x00};
    for (int i = 0; i < 16; i++) jpg[8 + i] = i < 2 ? 255 : 0;
    jpg[24] = 0xff, jpg[25] = 0xd9;
    clipcl_image *img = NULL;
    ck_assert_int_eq(clipcl_image_load_memory(jpg, 26, "fill.jpg", &img), CLIPCL_ERR_FORMAT);
    ck_assert_msg(strstr(clipcl_errmsg(), "not a readable image") != NULL, "%s", clipcl_errmsg());
    ck_assert(img == NULL);
    /* the same from byte 1: a JPEG whose table is refused */
    ck_assert_int_eq(clipcl_image_load_memory(jpg + 1, 25, "dht0.jpg", &img), CLIPCL_ERR_FORMAT);
    ck_assert_msg(strstr(clipcl_errmsg(), "Huffman") != NULL, "%s", clipcl_errmsg());

    /* finding 9: a DHT segment whose length leaves room for a second table that runs past the
     * segment's end */
    unsigned char j2[64] = {0xff, 0xd8, 0xff, 0xc4, 0, 21, 0x00, 0, 1};
    j2[24] = 0x00;
    for (int i = 0; i < 16; i++) j2[25 + i] = 0xff;
    j2[41] = 0xff, j2[42] = 0xd9;
    ck_assert_int_eq(clipcl_image_load_memory(j2, 43, "dht.jpg", &img), CLIPCL_ERR_FORMAT);
    ck_assert_msg(strstr(clipcl_errmsg(), "dht.jpg: corrupt JPEG") != NULL, "%s",
                  clipcl_errmsg());
    ck_assert(img == NULL);
}
END_TEST

/* Finding 10 (fuzz_image, UBSan inside stb): stb 2.27 parses a PNM header's numbers into an int
 * without an overflow check; such headers are now refused first (host/img.c, pnm_numbers_ok). */
START_TEST(test_pnm_huge_numbers)
{
    const char *bad[] = {"P5\n04444444444444444444 2\n255\n", "P6 1 99999999999\n255\n", "P5 1 1 2147483648\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        clipcl_image *img = NULL;
        ck_assert_int_eq(clipcl_image_load_memory(bad[i], strlen(bad[i]), "big.pgm", &img), CLIPCL_ERR_FORMAT);
        ck_assert(img == NULL);
    }
    /* a 2 × 1 grey image with a comment still decodes */
    const char good[] = "P5\n# comment\n2 1\n255\n\x10\x20";
    clipcl_image *img = NULL;
    ck_assert_msg(clipcl_image_load_memory(good, sizeof good - 1, "ok.pgm", &img) == CLIPCL_OK, "%s", clipcl_errmsg());
    int w, h;
    clipcl_image_size(img, &w, &h);
    ck_assert(w == 2 && h == 1);
    clipcl_image_free(img);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hardening");
    TCase *tc = tcase_create("findings");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_tokenize_empty_text);
    tcase_add_test(tc, test_kcache_entry_lengths);
    tcase_add_test(tc, test_config_sizes);
    tcase_add_test(tc, test_openclip_normalization);
    tcase_add_test(tc, test_image_bombs_within_limits);
    tcase_add_test(tc, test_png_lengths);
    tcase_add_test(tc, test_png_empty_idat);
    tcase_add_test(tc, test_jpeg_fill_bytes_before_soi);
    tcase_add_test(tc, test_pnm_huge_numbers);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
