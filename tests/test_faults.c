/* test_faults.c — device faults give a clean status and message, and leave the context usable
 * (or freed without leaks): device allocations failing at every point of a model load and of
 * an encode (the CLIPCL_FAULT_ALLOC hook in ocl.c), a batch whose buffers exceed what the
 * device can allocate, kernels that fail to build (broken sources through CLIPCL_KERNEL_DIR),
 * a missing kernel file, and device selectors that match nothing. Leaks are caught by the
 * sanitizer build (LeakSanitizer) and valgrind runs of this test (docs/HARDENING.md). */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocl.h"
#include "testutil.h"

#define CL_DIR TEST_DATA_DIR "/../../cl"

static const char *model_dir(void)
{
    static char buf[4096];
    return tu_data(buf, sizeof buf, "tiny-gelu");
}

static void expect_msg(const char *needle)
{
    ck_assert_msg(strstr(clipcl_errmsg(), needle) != NULL, "message '%s' lacks '%s'", clipcl_errmsg(), needle);
}

/* Encodes two texts; the embeddings must match want (when given) exactly. */
static void encode_ok(clipcl_model *m, float *emb, const float *want)
{
    int32_t ids[2 * CLIPCL_CONTEXT_LENGTH];
    const clipcl_tokenizer *tok = clipcl_model_tokenizer(m);
    ck_assert(clipcl_tokenize(tok, "a photo of a cat", ids, CLIPCL_CONTEXT_LENGTH, 0, NULL) == CLIPCL_OK);
    ck_assert(clipcl_tokenize(tok, "a dog", ids + CLIPCL_CONTEXT_LENGTH, CLIPCL_CONTEXT_LENGTH, 0, NULL) == CLIPCL_OK);
    clipcl_status st = clipcl_encode_texts(m, ids, 2, emb);
    ck_assert_msg(st == CLIPCL_OK, "encode: %s", clipcl_errmsg());
    if (want)
        ck_assert_msg(memcmp(emb, want, 2 * (size_t)clipcl_model_embed_dim(m) * sizeof(float)) == 0,
                      "embeddings differ after a recovered fault");
}

/* Every device allocation of a model load fails in turn: each gives CLIPCL_ERR_NOMEM with a
 * message naming the buffer, no model, and all device memory of the attempt released. */
START_TEST(test_alloc_fault_every_load_step)
{
    clipcl_context *ctx = tu_context();
    uint64_t base = 0, now = 0, peak = 0;
    clipcl_context_memory(ctx, &base, &peak);
    int failures = 0;
    clipcl_model *m = NULL;
    for (long n = 1; n < 10000; n++) {
        ocl_fault_alloc(n);
        clipcl_status st = clipcl_model_load(ctx, model_dir(), NULL, &m);
        if (st == CLIPCL_OK) break;
        ck_assert_msg(st == CLIPCL_ERR_NOMEM, "allocation %ld: status %d (%s)", n, st, clipcl_errmsg());
        ck_assert(m == NULL);
        expect_msg("injected");
        clipcl_context_memory(ctx, &now, &peak);
        ck_assert_msg(now == base, "allocation %ld: %llu device bytes left after a failed load", n,
                      (unsigned long long)(now - base));
        failures++;
    }
    ocl_fault_alloc(0);
    ck_assert_msg(m != NULL, "model never loaded");
    ck_assert_msg(failures >= 10, "only %d allocations in a model load", failures);
    float emb[2 * 512], emb2[2 * 512];
    ck_assert(clipcl_model_embed_dim(m) <= 512);
    encode_ok(m, emb, NULL);
    clipcl_model_free(m);
    clipcl_context_memory(ctx, &now, &peak);
    ck_assert(now == base);

    /* the context is still sound: the same model loads and gives the same embeddings */
    ck_assert(clipcl_model_load(ctx, model_dir(), NULL, &m) == CLIPCL_OK);
    encode_ok(m, emb2, emb);
    clipcl_model_free(m);
    clipcl_context_free(ctx);
}
END_TEST

/* The workspace of an encode fails at each of its allocations: the encode reports it, and
 * the next encode on the same model works and gives the same result. */
START_TEST(test_alloc_fault_encode)
{
    clipcl_context *ctx = tu_context();
    clipcl_model *m = NULL;
    ck_assert_msg(clipcl_model_load(ctx, model_dir(), NULL, &m) == CLIPCL_OK, "%s", clipcl_errmsg());
    float ref[2 * 512], emb[2 * 512];
    encode_ok(m, ref, NULL);
    clipcl_model_free(m);
    int failures = 0;
    for (long n = 1; n < 100; n++) {
        ck_assert(clipcl_model_load(ctx, model_dir(), NULL, &m) == CLIPCL_OK);
        int32_t ids[2 * CLIPCL_CONTEXT_LENGTH];
        clipcl_tokenize(clipcl_model_tokenizer(m), "a photo of a cat", ids, CLIPCL_CONTEXT_LENGTH, 0, NULL);
        clipcl_tokenize(clipcl_model_tokenizer(m), "a dog", ids + CLIPCL_CONTEXT_LENGTH, CLIPCL_CONTEXT_LENGTH, 0,
                        NULL);
        ocl_fault_alloc(n);
        clipcl_status st = clipcl_encode_texts(m, ids, 2, emb);
        ocl_fault_alloc(0);
        if (st == CLIPCL_OK) {
            ck_assert(memcmp(emb, ref, 2 * (size_t)clipcl_model_embed_dim(m) * sizeof(float)) == 0);
            clipcl_model_free(m);
            break;
        }
        ck_assert_msg(st == CLIPCL_ERR_NOMEM, "allocation %ld: status %d (%s)", n, st, clipcl_errmsg());
        expect_msg("injected");
        expect_msg("batch of 2");
        failures++;
        encode_ok(m, emb, ref); /* recovered */
        clipcl_model_free(m);
    }
    ck_assert_msg(failures >= 5, "only %d workspace allocations", failures);
    clipcl_context_free(ctx);
}
END_TEST

/* The same for images handed over as bytes, whose table and byte buffer are taken on the
 * first such call: each failure is a clean CLIPCL_ERR_NOMEM, and the next call works. */
START_TEST(test_alloc_fault_encode_rgb8)
{
    clipcl_context *ctx = tu_context();
    clipcl_model *m = NULL;
    ck_assert_msg(clipcl_model_load(ctx, model_dir(), NULL, &m) == CLIPCL_OK, "%s", clipcl_errmsg());
    const size_t per = clipcl_model_pixels_per_image(m), E = (size_t)clipcl_model_embed_dim(m);
    uint8_t *rgb = malloc(3 * per);
    float *ref = malloc(3 * E * sizeof *ref), *emb = malloc(3 * E * sizeof *emb);
    ck_assert(rgb && ref && emb);
    for (size_t i = 0; i < 3 * per; i++) rgb[i] = (uint8_t)(i * 2654435761u >> 11);
    ck_assert_msg(clipcl_encode_images_rgb8(m, rgb, 3, ref) == CLIPCL_OK, "%s", clipcl_errmsg());
    clipcl_model_free(m);
    int failures = 0;
    for (long n = 1; n < 100; n++) {
        ck_assert(clipcl_model_load(ctx, model_dir(), NULL, &m) == CLIPCL_OK);
        ocl_fault_alloc(n);
        clipcl_status st = clipcl_encode_images_rgb8(m, rgb, 3, emb);
        ocl_fault_alloc(0);
        if (st == CLIPCL_OK) {
            ck_assert(memcmp(emb, ref, 3 * E * sizeof *emb) == 0);
            clipcl_model_free(m);
            break;
        }
        ck_assert_msg(st == CLIPCL_ERR_NOMEM, "allocation %ld: status %d (%s)", n, st, clipcl_errmsg());
        expect_msg("injected");
        expect_msg("batch of 3");
        failures++;
        memset(emb, 0, 3 * E * sizeof *emb);
        ck_assert_msg(clipcl_encode_images_rgb8(m, rgb, 3, emb) == CLIPCL_OK, "%s", clipcl_errmsg()); /* recovered */
        ck_assert(memcmp(emb, ref, 3 * E * sizeof *emb) == 0);
        clipcl_model_free(m);
    }
    ck_assert_msg(failures >= 12, "only %d allocations on the way", failures);
    free(rgb), free(ref), free(emb);
    clipcl_context_free(ctx);
}
END_TEST

/* A batch whose activations exceed the device's largest buffer: a clean CLIPCL_ERR_NOMEM before
 * any kernel runs; a smaller batch on the same model then works. */
START_TEST(test_batch_beyond_device_memory)
{
    clipcl_context *ctx = tu_context();
    const clipcl_device_info *dev = clipcl_context_device(ctx);
    ck_assert(dev->max_alloc > 0);
    clipcl_model *m = NULL;
    ck_assert(clipcl_model_load(ctx, model_dir(), NULL, &m) == CLIPCL_OK);
    const clipcl_model_info *info = clipcl_model_get_info(m);
    /* the text MLP activations alone: 77 × intermediate floats per text */
    uint64_t per = (uint64_t)CLIPCL_CONTEXT_LENGTH * info->text_ff * sizeof(float);
    uint64_t n64 = dev->max_alloc / per + 1;
    ck_assert_msg(n64 < (1u << 24), "device allows %llu-byte buffers: too large for this test",
                  (unsigned long long)dev->max_alloc);
    int n = (int)n64, E = info->embed_dim;
    clipcl_model_free(m);
    clipcl_model_params p = clipcl_model_default_params();
    p.max_batch = n;
    ck_assert(clipcl_model_load(ctx, model_dir(), &p, &m) == CLIPCL_OK);
    int32_t *ids = calloc((size_t)n * CLIPCL_CONTEXT_LENGTH, sizeof *ids);
    float *emb = malloc((size_t)n * E * sizeof(float));
    ck_assert(ids && emb);
    for (int i = 0; i < n; i++) {
        ids[(size_t)i * CLIPCL_CONTEXT_LENGTH] = CLIPCL_SOT;
        ids[(size_t)i * CLIPCL_CONTEXT_LENGTH + 1] = CLIPCL_EOT;
    }
    uint64_t before = 0, after = 0, peak = 0;
    clipcl_context_memory(ctx, &before, &peak);
    clipcl_status st = clipcl_encode_texts(m, ids, n, emb);
    ck_assert_msg(st == CLIPCL_ERR_NOMEM, "status %d (%s)", st, clipcl_errmsg());
    expect_msg("batch of");
    expect_msg("largest buffer");
    clipcl_context_memory(ctx, &after, &peak);
    ck_assert(after == before);
    free(ids);
    float small[2 * 512];
    encode_ok(m, small, NULL);
    clipcl_model_free(m);
    clipcl_context_free(ctx);
    free(emb);
}
END_TEST

/* A folder of the library's kernel sources, with `broken` (a file stem) replaced. */
static char *kernel_dir_with(const char *broken, const char *text)
{
    char *dir = tu_tmpdir();
    DIR *d = opendir(CL_DIR);
    ck_assert_msg(d != NULL, "cannot list %s", CL_DIR);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 4 || strcmp(e->d_name + l - 3, ".cl")) continue;
        char src[4096], dst[4096], cmd[8400];
        snprintf(src, sizeof src, "%s/%s", CL_DIR, e->d_name);
        snprintf(dst, sizeof dst, "%s/%s", dir, e->d_name);
        snprintf(cmd, sizeof cmd, "cp '%s' '%s'", src, dst);
        ck_assert(system(cmd) == 0);
    }
    closedir(d);
    if (broken) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.cl", dir, broken);
        FILE *f = fopen(path, "w");
        ck_assert(f != NULL);
        fputs(text, f);
        fclose(f);
    }
    return dir;
}

static const char *broken_source = "__kernel void layernorm(__global float *x) { x[0] = undeclared_thing; }\n";

/* The shared kernels are built with the context: a broken one fails the creation with the
 * build log, and nothing is left behind. */
START_TEST(test_broken_shared_kernel)
{
    char *dir = kernel_dir_with("norm", broken_source);
    setenv("CLIPCL_KERNEL_DIR", dir, 1);
    clipcl_context *ctx = NULL;
    clipcl_context_params cp = clipcl_context_default_params();
    clipcl_status st = clipcl_context_create(&cp, &ctx);
    unsetenv("CLIPCL_KERNEL_DIR");
    ck_assert_msg(st == CLIPCL_ERR_BUILD, "status %d (%s)", st, clipcl_errmsg());
    ck_assert(ctx == NULL);
    expect_msg("norm.cl");
    expect_msg("build log");
    expect_msg("undeclared_thing");
    /* without the broken folder a context works again */
    ctx = tu_context();
    clipcl_context_free(ctx);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* The attention kernel is built when a model loads: a broken one fails the load, and the same
 * context then loads the model from the good sources and encodes. */
START_TEST(test_broken_model_kernel)
{
    clipcl_context *ctx = tu_context();
    uint64_t base = 0, now = 0, peak = 0;
    clipcl_context_memory(ctx, &base, &peak);
    char *dir = kernel_dir_with("attn", "__kernel void attention(__global float *x) { x[0] = 1.0f +; }\n");
    setenv("CLIPCL_KERNEL_DIR", dir, 1);
    clipcl_model *m = NULL;
    clipcl_status st = clipcl_model_load(ctx, model_dir(), NULL, &m);
    unsetenv("CLIPCL_KERNEL_DIR");
    ck_assert_msg(st == CLIPCL_ERR_BUILD, "status %d (%s)", st, clipcl_errmsg());
    ck_assert(m == NULL);
    expect_msg("attn.cl");
    clipcl_context_memory(ctx, &now, &peak);
    ck_assert_msg(now == base, "%llu device bytes left after a failed load", (unsigned long long)(now - base));
    ck_assert(clipcl_model_load(ctx, model_dir(), NULL, &m) == CLIPCL_OK);
    float emb[2 * 512];
    encode_ok(m, emb, NULL);
    clipcl_model_free(m);
    clipcl_context_free(ctx);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* A kernel folder without the sources: an I/O error naming the file. */
START_TEST(test_missing_kernel_file)
{
    char *dir = tu_tmpdir();
    setenv("CLIPCL_KERNEL_DIR", dir, 1);
    clipcl_context *ctx = NULL;
    clipcl_status st = clipcl_context_create(NULL, &ctx);
    unsetenv("CLIPCL_KERNEL_DIR");
    ck_assert_msg(st == CLIPCL_ERR_IO, "status %d (%s)", st, clipcl_errmsg());
    ck_assert(ctx == NULL);
    expect_msg("norm.cl");
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* Device selectors that match nothing: CLIPCL_ERR_DEVICE naming the selector and listing the
 * devices; the same holds for $CLIPCL_DEVICE. */
START_TEST(test_invalid_device)
{
    const char *bad[] = {"999", "-1", "no-such-device-xyz", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        clipcl_context *ctx = (clipcl_context *)1;
        clipcl_context_params cp = clipcl_context_default_params();
        cp.device = bad[i];
        clipcl_status st = clipcl_context_create(&cp, &ctx);
        ck_assert_msg(st == CLIPCL_ERR_DEVICE, "'%s': status %d (%s)", bad[i], st, clipcl_errmsg());
        ck_assert(ctx == NULL);
        expect_msg(bad[i]);
        expect_msg("devices: 0:");
    }
    setenv("CLIPCL_DEVICE", "12345", 1);
    clipcl_context *ctx = NULL;
    clipcl_status st = clipcl_context_create(NULL, &ctx);
    unsetenv("CLIPCL_DEVICE");
    ck_assert_msg(st == CLIPCL_ERR_DEVICE, "status %d (%s)", st, clipcl_errmsg());
    ck_assert(ctx == NULL);
    expect_msg("$CLIPCL_DEVICE");
}
END_TEST

/* The environment switch: CLIPCL_FAULT_ALLOC=1 fails the first allocation of a process (the
 * CLI's model load), which exits with an error message, not a signal. */
START_TEST(test_fault_env_cli)
{
    char cmd[8192], img[4096];
    snprintf(cmd, sizeof cmd,
             "CLIPCL_FAULT_ALLOC=1 '%s' classify --model '%s' --labels cat,dog '%s' 2>&1; echo \"exit=$?\"",
             CLIPCL_EXE, model_dir(), tu_data(img, sizeof img, "images/synth/one_pixel.png"));
    char *out = NULL;
    ck_assert(tu_sh(cmd, &out) == 0);
    ck_assert_msg(strstr(out, "injected") != NULL, "output: %s", out);
    ck_assert_msg(strstr(out, "exit=1") != NULL || strstr(out, "exit=2") != NULL, "output: %s", out);
    free(out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("device faults");
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, test_alloc_fault_every_load_step);
    tcase_add_test(tc, test_alloc_fault_encode);
    tcase_add_test(tc, test_alloc_fault_encode_rgb8);
    tcase_add_test(tc, test_batch_beyond_device_memory);
    tcase_add_test(tc, test_broken_shared_kernel);
    tcase_add_test(tc, test_broken_model_kernel);
    tcase_add_test(tc, test_missing_kernel_file);
    tcase_add_test(tc, test_invalid_device);
    tcase_add_test(tc, test_fault_env_cli);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
