/* test_hostile.c — the command-line tool on damaged and hostile files it has never seen:
 * truncated and bit-flipped models, configs, images, indexes and vocabularies, absurd headers
 * and claimed sizes, invalid UTF-8, empty files. Every run must end by itself within the time
 * limit with an exit status (never a signal), and a failing run must say why on stderr. In the
 * sanitizer build (tests/run_sanitized.sh) a sanitizer report exits 23, which fails here too.
 * The mutations are deterministic (seeded), so a failure names a reproducible file. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define RUN_LIMIT_S 120 /* generous: valgrind and sanitizer builds are slow; a hang is far longer */

static char *tmp;

static void setup(void) { tmp = tu_tmpdir(); }
static void teardown(void)
{
    tu_rmtree(tmp);
    free(tmp);
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void copy_file(const char *from, const char *to)
{
    size_t n;
    unsigned char *b = (unsigned char *)tu_slurp(from, &n);
    tu_spit(to, b, n);
    free(b);
}

/* Runs the CLI with args (NULL-terminated), stdin from in_path (or /dev/null). Fails the test on
 * a signal, a hang, a sanitizer exit (23) or a silent failure. Returns the exit status. */
static int run_cli(const char *what, const char *in_path, const char *const *args)
{
    const char *argv[32];
    int k = 0;
    argv[k++] = CLIPCL_EXE;
    for (; args[k - 1] && k < 31; k++) argv[k] = args[k - 1];
    argv[k] = NULL;
    char *err = NULL;
    int rc = tu_exec(what, argv, in_path, tmp, RUN_LIMIT_S, NULL, &err);
    size_t n = strlen(err);
    char msg[512];
    snprintf(msg, sizeof msg, "%.400s", err);
    ck_assert_msg(rc != 23 && !strstr(err, "Sanitizer") && !strstr(msg, "runtime error"),
                  "%s: sanitizer report: %s", what, msg);
    ck_assert_msg(rc == 0 || rc == 1 || rc == 2, "%s: exit status %d; stderr: %s", what, rc, msg);
    if (rc != 0) ck_assert_msg(n > 0, "%s: exit status %d without a message", what, rc);
    free(err);
    return rc;
}

/* Variants of a file's bytes: empty, cut at several lengths, bits flipped, and, at the given
 * offsets (e.g. size fields), 0xFF bytes. Calls fn(name, bytes, len) for each. */
typedef void (*variant_fn)(const char *name, const unsigned char *b, size_t n, void *user);
static void variants(const unsigned char *orig, size_t n, uint64_t seed, const size_t *ff_at, int n_ff, int flips,
                     variant_fn fn, void *user)
{
    unsigned char *b = malloc(n ? n : 1);
    char name[128];
    rng_state = seed;
    fn("empty", orig, 0, user);
    size_t cuts[] = {1, 7, 8, 16, 33, n / 3, n / 2, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++)
        if (cuts[i] < n) {
            snprintf(name, sizeof name, "cut at %zu", cuts[i]);
            fn(name, orig, cuts[i], user);
        }
    for (int v = 0; v < flips; v++) {
        memcpy(b, orig, n);
        int nbits = 1 + (int)(rnd() % 8);
        /* half of the variants flip bits in the first 512 bytes, where the headers are */
        size_t span = (v & 1) && n > 512 ? 512 : n;
        for (int i = 0; i < nbits; i++) {
            size_t at = (size_t)(rnd() % span);
            b[at] ^= (unsigned char)(1u << (rnd() % 8));
        }
        snprintf(name, sizeof name, "%d bit flips (variant %d)", nbits, v);
        fn(name, b, n, user);
    }
    for (int i = 0; i < n_ff; i++)
        if (ff_at[i] + 4 <= n) {
            memcpy(b, orig, n);
            memset(b + ff_at[i], 0xFF, 4);
            snprintf(name, sizeof name, "0xFFFFFFFF at %zu", ff_at[i]);
            fn(name, b, n, user);
        }
    free(b);
}

/* ------------------------------------------------------------------ images */

static void run_image(const char *name, const unsigned char *b, size_t n, void *user)
{
    char path[4096], outp[4096], what[512];
    snprintf(path, sizeof path, "%s/%s", tmp, (const char *)user);
    snprintf(outp, sizeof outp, "%s/out.png", tmp);
    tu_spit(path, b, n);
    snprintf(what, sizeof what, "preprocess %s (%s)", (const char *)user, name);
    const char *args[] = {"preprocess", path, "-o", outp, "--size", "32", NULL};
    run_cli(what, NULL, args);
}

START_TEST(test_damaged_images)
{
    static const char *files[] = {"images/synth/rgb.bmp",   "images/synth/palette.gif", "images/synth/grey.jpg",
                                  "images/synth/palette.tga", "images/synth/grey.pgm", "images/synth/rgb.ppm",
                                  "images/synth/palette4_trns.png", "images/synth/grey16.png",
                                  "images/astronaut_small.jpg", "images/synth/progressive.jpg",
                                  "images/synth/cmyk.jpg"};
    /* header size fields: PNG IHDR width/height, BMP width/height, GIF screen size */
    static const size_t ff[] = {16, 18, 20, 22, 6};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char src[4096];
        size_t n;
        unsigned char *b = (unsigned char *)tu_slurp(tu_data(src, sizeof src, files[i]), &n);
        const char *base = strrchr(files[i], '/') + 1;
        variants(b, n, 1000 + i, ff, 5, 6, run_image, (void *)base);
        free(b);
    }
}
END_TEST

/* Tiny files whose headers claim enormous images: refused from the header, fast. */
START_TEST(test_image_bombs)
{
    /* PNG: signature, IHDR 30000 × 30000 RGB (900 M pixels, each side within the limit) */
    unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                           0, 0, 0x75, 0x30, 0, 0, 0x75, 0x30, 8, 2, 0, 0, 0, 0, 0, 0, 0};
    run_image("30000x30000 PNG", png, sizeof png, "bomb.png");
    png[16] = 0x7f, png[17] = png[18] = png[19] = 0xff; /* width 2^31 - 1 */
    run_image("2^31 wide PNG", png, sizeof png, "bomb.png");
    /* GIF: 65535 × 65535 logical screen */
    unsigned char gif[] = {'G', 'I', 'F', '8', '9', 'a', 0xff, 0xff, 0xff, 0xff, 0, 0, 0,
                           0x2c, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 2, 2, 0x44, 1, 0, 0x3b};
    run_image("65535x65535 GIF", gif, sizeof gif, "bomb.gif");
    /* JPEG: SOI, SOF0 65500 × 65500 grey, EOI */
    unsigned char jpg[] = {0xff, 0xd8, 0xff, 0xc0, 0, 11, 8, 0xff, 0xdc, 0xff, 0xdc, 1, 1, 0x11, 0, 0xff, 0xd9};
    run_image("65500x65500 JPEG", jpg, sizeof jpg, "bomb.jpg");
    /* BMP: 40-byte header, -2^31 × 2^31 - 1, 24 bits */
    unsigned char bmp[54] = {'B', 'M', 54, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0,
                             0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0x80, 1, 0, 24, 0};
    run_image("2^31 BMP", bmp, sizeof bmp, "bomb.bmp");
    /* PNM: 20000 × 20000 with no pixels */
    const char *pgm = "P5\n20000 20000\n255\n";
    run_image("20000x20000 PGM", (const unsigned char *)pgm, strlen(pgm), "bomb.pgm");
    const char *garbage = "this is not an image at all \xff\xfe\x00\x01";
    run_image("text", (const unsigned char *)garbage, 33, "text.png");
}
END_TEST

/* ------------------------------------------------------------------ models */

typedef struct model_case {
    char dir[4096];
    const char *file; /* the file of the folder being replaced */
    char image[4096];
} model_case;

static void run_model(const char *name, const unsigned char *b, size_t n, void *user)
{
    model_case *mc = user;
    char path[4200], what[512];
    snprintf(path, sizeof path, "%s/%s", mc->dir, mc->file);
    tu_spit(path, b, n);
    snprintf(what, sizeof what, "classify with %s (%s)", mc->file, name);
    const char *args[] = {"classify", "-m", mc->dir, "--labels", "cat,dog", "--no-cache", "-q", mc->image, NULL};
    run_cli(what, NULL, args);
}

static void model_copy(model_case *mc, const char *file)
{
    static const char *all[] = {"config.json", "model.safetensors"};
    char src[4096], dst[4400];
    snprintf(mc->dir, sizeof mc->dir, "%s/model", tmp);
    mkdir(mc->dir, 0755);
    for (int i = 0; i < 2; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "tiny-gelu/%s", all[i]);
        snprintf(dst, sizeof dst, "%s/%s", mc->dir, all[i]);
        copy_file(tu_data(src, sizeof src, rel), dst);
    }
    mc->file = file;
    tu_data(mc->image, sizeof mc->image, "images/synth/one_pixel.png");
}

START_TEST(test_damaged_safetensors)
{
    model_case mc;
    model_copy(&mc, "model.safetensors");
    char src[4096];
    size_t n;
    unsigned char *b = (unsigned char *)tu_slurp(tu_data(src, sizeof src, "tiny-gelu/model.safetensors"), &n);
    static const size_t ff[] = {0, 4}; /* the header length: 2^32 - 1 and 2^64 - 2^32 ... */
    variants(b, n, 77, ff, 2, 10, run_model, &mc);
    /* a header that claims 2^40-element tensors */
    const char *json = "{\"logit_scale\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],"
                       "\"data_offsets\":[0,4]}}";
    unsigned char *h = malloc(8 + strlen(json) + 4);
    uint64_t hl = strlen(json);
    for (int i = 0; i < 8; i++) h[i] = (unsigned char)(hl >> (8 * i));
    memcpy(h + 8, json, hl);
    memset(h + 8 + hl, 0, 4);
    run_model("2^80 elements claimed", h, 8 + hl + 4, &mc);
    free(h);
    free(b);
}
END_TEST

START_TEST(test_damaged_configs)
{
    model_case mc;
    model_copy(&mc, "config.json");
    char src[4096];
    size_t n;
    unsigned char *b = (unsigned char *)tu_slurp(tu_data(src, sizeof src, "tiny-gelu/config.json"), &n);
    variants(b, n, 78, NULL, 0, 8, run_model, &mc);
    static const char *absurd[] = {
        "{\"projection_dim\": 1e300}",
        "{\"text_config\": {\"hidden_size\": 2147483647, \"num_attention_heads\": 1}}",
        "{\"vision_config\": {\"hidden_size\": 32, \"intermediate_size\": 1048576, \"num_hidden_layers\": 1024,"
        " \"num_attention_heads\": 2, \"image_size\": 8192, \"patch_size\": 1}}",
        "{\"text_config\": {\"num_hidden_layers\": -1}}",
        "{\"text_config\": \"not an object\"}",
        "{\"vision_config\": {\"image_size\": 48, \"patch_size\": 64}}",
        "[1, 2, 3]",
        "{\"text_config\": {\"hidden_size\": 32, \"num_attention_heads\": 0}}",
        "{\"text_config\": {\"layer_norm_eps\": \"NaN\"}}",
        "{\"\xff\xfe\": \"\xc3\"}",
    };
    for (size_t i = 0; i < sizeof absurd / sizeof *absurd; i++) {
        char name[64];
        snprintf(name, sizeof name, "absurd config %zu", i);
        run_model(name, (const unsigned char *)absurd[i], strlen(absurd[i]), &mc);
    }
    /* preprocessor_config.json beside a good config */
    char dst[4400];
    snprintf(dst, sizeof dst, "%s/config.json", mc.dir);
    copy_file(tu_data(src, sizeof src, "tiny-gelu/config.json"), dst);
    mc.file = "preprocessor_config.json";
    static const char *pp[] = {"{\"crop_size\": 1e9}", "{\"image_std\": [0, 0, 0]}", "{\"image_mean\": [1, 2]}",
                               "{\"size\": {\"height\": 10, \"width\": 20}}", "", "{\"crop_size\": {\"height\": null}}"};
    for (size_t i = 0; i < sizeof pp / sizeof *pp; i++) {
        char name[64];
        snprintf(name, sizeof name, "absurd preprocessor config %zu", i);
        run_model(name, (const unsigned char *)pp[i], strlen(pp[i]), &mc);
    }
    free(b);
}
END_TEST

/* ------------------------------------------------------------------ texts and label files */

START_TEST(test_hostile_texts)
{
    const char *texts[] = {"\xff\xfe\xfd", "caf\xc3", "\xed\xa0\x80\xed\xb0\x80", "\xf4\x90\x80\x80 \xc0\xaf",
                           "&#x110000;&#0;&#xd800;&amp;&&&;", ""};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        const char *args[] = {"tokenize", "--context", texts[i], NULL};
        ck_assert_int_eq(run_cli("tokenize hostile text", NULL, args), 0);
    }
    /* 1 MiB of text through --jsonl, NULs escaped, a lone surrogate, broken JSON lines */
    char path[4096];
    snprintf(path, sizeof path, "%s/texts.jsonl", tmp);
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    fputc('"', f);
    for (int i = 0; i < (1 << 20) / 8; i++) fputs("ab \\u0000c ", f);
    fputs("\"\n\"\\ud800 lone\"\n{\"not\": \"a string\"}\n\"unterminated\n\xff\xfe\n", f);
    fclose(f);
    const char *args[] = {"tokenize", "--jsonl", "--no-truncate", NULL};
    run_cli("tokenize --jsonl hostile lines", path, args);

    /* label files: invalid UTF-8, empty, a single huge line, too many labels */
    model_case mc;
    model_copy(&mc, "config.json");
    char labels[4096];
    snprintf(labels, sizeof labels, "%s/labels.txt", tmp);
    const char *bad = "cat\n\xff\xfe dog\ncaf\xc3\n\n\n";
    tu_spit(labels, bad, strlen(bad));
    const char *a1[] = {"classify", "-m", mc.dir, "--labels-file", labels, "--no-cache", "-q", mc.image, NULL};
    run_cli("classify with invalid UTF-8 labels", NULL, a1);
    tu_spit(labels, "", 0);
    ck_assert_int_ne(run_cli("classify with an empty label file", NULL, a1), 0);
    f = fopen(labels, "wb");
    for (int i = 0; i < 200000; i++) fprintf(f, "label %d\n", i);
    fclose(f);
    ck_assert_int_ne(run_cli("classify with 200000 labels", NULL, a1), 0);
}
END_TEST

/* ------------------------------------------------------------------ vocabulary and index */

static void run_vocab(const char *name, const unsigned char *b, size_t n, void *user)
{
    char path[4096], what[256];
    snprintf(path, sizeof path, "%s/vocab.txt.gz", tmp);
    tu_spit(path, b, n);
    snprintf(what, sizeof what, "tokenize --vocab (%s)", name);
    const char *args[] = {"tokenize", "--vocab", path, "a photo of a cat", NULL};
    run_cli(what, NULL, args);
}

static void run_index(const char *name, const unsigned char *b, size_t n, void *user)
{
    model_case *mc = user;
    char path[4096], what[256];
    snprintf(path, sizeof path, "%s/index.clipclix", tmp);
    tu_spit(path, b, n);
    snprintf(what, sizeof what, "search (%s)", name);
    const char *args[] = {"search", path, "a cat", "-m", mc->dir, "-q", NULL};
    run_cli(what, NULL, args);
}

START_TEST(test_damaged_vocab_and_index)
{
    char src[4096];
    size_t n;
    unsigned char *b = (unsigned char *)tu_slurp(TEST_DATA_DIR "/../../host/data/bpe_simple_vocab_16e6.txt.gz", &n);
    variants(b, n, 79, NULL, 0, 6, run_vocab, NULL);
    free(b);

    /* an index of two images, then damaged copies of it */
    model_case mc;
    model_copy(&mc, "config.json");
    char imgdir[4096], index[4200];
    snprintf(imgdir, sizeof imgdir, "%s/photos", tmp);
    mkdir(imgdir, 0755);
    char dst[4400];
    snprintf(dst, sizeof dst, "%s/a.png", imgdir);
    copy_file(tu_data(src, sizeof src, "images/synth/one_pixel.png"), dst);
    snprintf(dst, sizeof dst, "%s/b.bmp", imgdir);
    copy_file(tu_data(src, sizeof src, "images/synth/rgb.bmp"), dst);
    snprintf(index, sizeof index, "%s/good.clipclix", tmp);
    const char *args[] = {"index", imgdir, "-o", index, "-m", mc.dir, "-q", NULL};
    ck_assert_int_eq(run_cli("index", NULL, args), 0);
    b = (unsigned char *)tu_slurp(index, &n);
    static const size_t ff[] = {12, 16, 24, 48, 52, 64};
    variants(b, n, 80, ff, 6, 6, run_index, &mc);
    free(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("hostile inputs");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, test_damaged_images);
    tcase_add_test(tc, test_image_bombs);
    tcase_add_test(tc, test_damaged_safetensors);
    tcase_add_test(tc, test_damaged_configs);
    tcase_add_test(tc, test_hostile_texts);
    tcase_add_test(tc, test_damaged_vocab_and_index);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
