/* test_tune.c — GEMM tuning as data (host/tune.c): the built-in rows' parameters still
 * give correct products through ops_gemm_nt on odd shapes, through both of CLBlast's GEMM
 * paths; tuning files round-trip and are applied at context creation; corrupt, edited,
 * foreign or invalid files are ignored; the parser, the checks and the search helpers. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctx.h"
#include "testutil.h"
#include "tune.h"

#define OK(call) ck_assert_msg((call) == CLIPCL_OK, "%s: %s", #call, clipcl_errmsg())

static clipcl_device_info fake_device(const char *platform, const char *vendor, const char *name, const char *driver,
                                      int gpu)
{
    clipcl_device_info d;
    memset(&d, 0, sizeof d);
    snprintf(d.platform, sizeof d.platform, "%s", platform);
    snprintf(d.vendor, sizeof d.vendor, "%s", vendor);
    snprintf(d.name, sizeof d.name, "%s", name);
    snprintf(d.driver, sizeof d.driver, "%s", driver);
    d.is_gpu = gpu;
    d.is_cpu = !gpu;
    d.vector_width = gpu ? 1 : 8;
    return d;
}

static clipcl_device_info pocl_cpu(void)
{
    return fake_device("Portable Computing Language", "GenuineIntel", "cpu-haswell-Intel(R) Xeon(R) CPU", "6.0", 0);
}

static clipcl_device_info nvidia_h200(void)
{
    return fake_device("NVIDIA CUDA", "NVIDIA Corporation", "NVIDIA H200", "580.159.04", 1);
}

static int set_equal(const tune_set *a, const tune_set *b)
{
    for (int k = 0; k < TUNE_NKERNELS; k++) {
        if (a->have[k] != b->have[k]) return 0;
        if (a->have[k] && memcmp(a->v[k], b->v[k], (size_t)tune_nparams(k) * sizeof(size_t))) return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ products */

typedef struct gshape {
    size_t M, N, K, a_off, b_off, c_off;
    float alpha, beta;
} gshape;

/* The built-in rows' kernels compute right on this device too (CLBlast's kernels are plain
 * OpenCL; only their speed depends on the device): the PoCL row through both paths, the
 * H200 row's XgemmDirect (it keeps CLBlast's own Xgemm) through the direct one. */
START_TEST(test_builtin_row_products)
{
    clipcl_context *ctx = tu_context();
    ocl *o = &ctx->cl;
    tune_limits lim;
    OK(tune_limits_query(o, &lim));
    clipcl_device_info pocl = pocl_cpu(), h200 = nvidia_h200();
    tune_set rows[2];
    ck_assert_str_eq(tune_builtin(&pocl, &rows[0]), "pocl-cpu");
    ck_assert_str_eq(tune_builtin(&h200, &rows[1]), "nvidia-h200");
    ck_assert_msg(!rows[1].have[TUNE_XGEMM] && rows[1].have[TUNE_XGEMM_DIRECT] && rows[1].have[TUNE_GEMM_ROUTINE],
                  "the H200 row: XgemmDirect and the threshold only");
    for (int r = 0; r < 2; r++)
        for (int k = 0; k < TUNE_NKERNELS; k++) {
            char why[200] = "";
            ck_assert_msg(r || rows[r].have[k], "the PoCL row has no %s parameters", tune_kernel_name(k));
            ck_assert_msg(!rows[r].have[k] || !tune_valid(k, rows[r].v[k], &lim, why, sizeof why), "%s: %s",
                          tune_kernel_name(k), why);
        }
    /* M = 1, 7, 33, 400; N and K not multiples of 16; offsets; beta 0 and 1 as enc.c uses them */
    static const gshape shapes[] = {
        {1, 513, 769, 0, 0, 0, 1.0f, 0.0f},    {7, 100, 33, 0, 0, 0, 0.5f, 1.0f},
        {33, 1000, 77, 5, 3, 11, 1.0f, 1.0f},  {400, 2304, 768, 0, 0, 0, 1.0f, 0.0f},
        {400, 250, 1001, 0, 0, 0, 1.0f, 1.0f}, {49, 77, 3071, 1, 0, 0, 1.0f, 0.0f},
    };
    const size_t ns = sizeof shapes / sizeof *shapes;
    double *want[sizeof shapes / sizeof *shapes];
    float *a[sizeof shapes / sizeof *shapes], *b[sizeof shapes / sizeof *shapes], *c[sizeof shapes / sizeof *shapes];
    for (size_t i = 0; i < ns; i++) {
        const gshape *s = &shapes[i];
        size_t na = s->a_off + s->M * s->K, nb = s->b_off + s->N * s->K, nc = s->c_off + s->M * s->N;
        a[i] = malloc(na * 4), b[i] = malloc(nb * 4), c[i] = malloc(nc * 4);
        want[i] = malloc(s->M * s->N * sizeof(double));
        ck_assert(a[i] && b[i] && c[i] && want[i]);
        tu_rand(a[i], na, 100 + i, -1, 1);
        tu_rand(b[i], nb, 200 + i, -1, 1);
        tu_rand(c[i], nc, 300 + i, -1, 1);
        for (size_t m = 0; m < s->M; m++)
            for (size_t n = 0; n < s->N; n++) {
                double acc = 0;
                for (size_t k = 0; k < s->K; k++)
                    acc += (double)a[i][s->a_off + m * s->K + k] * b[i][s->b_off + n * s->K + k];
                want[i][m * s->N + n] = s->alpha * acc + s->beta * c[i][s->c_off + m * s->N + n];
            }
    }
    /* every product once through Xgemm (threshold 0) and once through XgemmDirect */
    const size_t thresholds[2] = {0, 65536};
    for (int rp = 0; rp < 4; rp++) {
        const tune_set *row = &rows[rp / 2];
        const int path = rp % 2;
        if (!row->have[path ? TUNE_XGEMM_DIRECT : TUNE_XGEMM]) continue;
        if (row->have[TUNE_XGEMM]) OK(tune_override(o, TUNE_XGEMM, row->v[TUNE_XGEMM]));
        OK(tune_override(o, TUNE_XGEMM_DIRECT, row->v[TUNE_XGEMM_DIRECT]));
        OK(tune_override(o, TUNE_GEMM_ROUTINE, &thresholds[path]));
        if (row->have[TUNE_PADTRANSPOSE]) OK(tune_override(o, TUNE_PADTRANSPOSE, row->v[TUNE_PADTRANSPOSE]));
        for (size_t i = 0; i < ns; i++) {
            const gshape *s = &shapes[i];
            size_t na = s->a_off + s->M * s->K, nb = s->b_off + s->N * s->K, nc = s->c_off + s->M * s->N;
            cl_mem da, db, dc;
            OK(ocl_alloc(o, na * 4, &da, "A"));
            OK(ocl_alloc(o, nb * 4, &db, "B"));
            OK(ocl_alloc(o, nc * 4, &dc, "C"));
            OK(ocl_upload(o, da, 0, na * 4, a[i]));
            OK(ocl_upload(o, db, 0, nb * 4, b[i]));
            OK(ocl_upload(o, dc, 0, nc * 4, c[i]));
            OK(ops_gemm_nt(&ctx->k, s->M, s->N, s->K, s->alpha, da, s->a_off, db, s->b_off, s->beta, dc, s->c_off));
            float *got = malloc(nc * 4);
            ck_assert(got);
            OK(ocl_download(o, dc, 0, nc * 4, got));
            for (size_t j = 0; j < s->c_off; j++)
                ck_assert_msg(got[j] == c[i][j], "%s path wrote before C's offset", path ? "direct" : "indirect");
            double worst = 0;
            for (size_t j = 0; j < s->M * s->N; j++) {
                double e = fabs(got[s->c_off + j] - want[i][j]);
                if (!(e <= worst)) worst = e;
            }
            ck_assert_msg(worst <= 2e-4 * sqrt((double)s->K), "%s row, %zux%zux%zu via %s: max error %g",
                          rp / 2 ? "H200" : "PoCL", s->M, s->N, s->K, path ? "XgemmDirect" : "Xgemm", worst);
            free(got);
            ocl_release(o, &da);
            ocl_release(o, &db);
            ocl_release(o, &dc);
        }
    }
    for (size_t i = 0; i < ns; i++) free(a[i]), free(b[i]), free(c[i]), free(want[i]);
    clipcl_context_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------ files */

static char *tmp;

static void file_setup(void)
{
    tmp = tu_tmpdir();
    setenv("CLIPCL_CACHE_DIR", tmp, 1);
    unsetenv("CLIPCL_TUNING");
}

static void file_teardown(void)
{
    tu_rmtree(tmp);
    free(tmp);
}

/* a valid set that differs from every built-in row */
static tune_set sample_set(void)
{
    tune_set s;
    memset(&s, 0, sizeof s);
    OK(tune_parse(TUNE_XGEMM,
                  "GEMMK=0 KREG=1 KWG=16 KWI=2 MDIMA=8 MDIMC=8 MWG=64 NDIMB=8 NDIMC=8 NWG=64 SA=0 SB=1 STRM=1 STRN=0 "
                  "VWM=2 VWN=4",
                  s.v[TUNE_XGEMM]));
    OK(tune_parse(TUNE_XGEMM_DIRECT, "KWID=8 MDIMAD=8 MDIMCD=8 NDIMBD=8 NDIMCD=8 PADA=0 PADB=1 VWMD=2 VWND=2 WGD=32",
                  s.v[TUNE_XGEMM_DIRECT]));
    s.v[TUNE_GEMM_ROUTINE][0] = 333;
    OK(tune_parse(TUNE_PADTRANSPOSE, "PADTRA_PAD=1 PADTRA_TILE=4 PADTRA_WPT=2", s.v[TUNE_PADTRANSPOSE]));
    s.v[TUNE_OWN][0] = 64;
    OK(tune_parse(TUNE_TILE, "MIN_TOKENS=900 LOCAL=1 NF=64 TT=32 RF=8 RT=4 KB=8", s.v[TUNE_TILE]));
    for (int k = 0; k < TUNE_NKERNELS; k++) s.have[k] = 1;
    return s;
}

/* The file format's checksum, computed independently of tune.c. */
static void seal(char *body, size_t cap)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (const unsigned char *p = (const unsigned char *)body; *p; p++) h = (h ^ *p) * 0x100000001B3ull;
    size_t n = strlen(body);
    snprintf(body + n, cap - n, "end %016llx\n", (unsigned long long)h);
}

START_TEST(test_file_roundtrip)
{
    clipcl_device_info d = pocl_cpu();
    char path[4200];
    OK(tune_file_path(&d, 1, path, sizeof path));
    ck_assert_msg(!strncmp(path, tmp, strlen(tmp)) && strstr(path, "/tuning/"), "%s", path);
    tune_set s = sample_set(), back;
    OK(tune_file_write(path, &d, &s, "first note\nsecond note"));
    char note[128];
    OK(tune_file_read(path, &d, NULL, &back, note, sizeof note));
    ck_assert(set_equal(&s, &back));
    ck_assert_str_eq(note, "first note");
    /* a subset of kernels stays a subset */
    s.have[TUNE_XGEMM_DIRECT] = 0;
    OK(tune_file_write(path, &d, &s, NULL));
    OK(tune_file_read(path, &d, NULL, &back, NULL, 0));
    ck_assert(set_equal(&s, &back));
    /* another driver version is another file, and this one is not valid for it */
    clipcl_device_info d2 = d;
    snprintf(d2.driver, sizeof d2.driver, "6.1");
    char path2[4200];
    OK(tune_file_path(&d2, 0, path2, sizeof path2));
    ck_assert_str_ne(path, path2);
    ck_assert_int_eq(tune_file_read(path, &d2, NULL, &back, NULL, 0), CLIPCL_ERR_FORMAT);
    /* invalid parameters are refused when writing */
    s.v[TUNE_XGEMM][6] = 40; /* MWG not a multiple of MDIMC*VWM */
    ck_assert_int_ne(tune_file_write(path, &d, &s, NULL), CLIPCL_OK);
}
END_TEST

START_TEST(test_file_applied)
{
    /* the real device: a file for it is applied at context creation */
    clipcl_context *ctx = tu_context();
    tune_set s = sample_set(), got;
    char path[4200], desc[700];
    OK(tune_file_path(&ctx->cl.info, 1, path, sizeof path));
    clipcl_device_info info = ctx->cl.info;
    clipcl_context_free(ctx);
    OK(tune_file_write(path, &info, &s, "test"));
    unsetenv("CLIPCL_GEMM_SMALL");
    unsetenv("CLIPCL_GEMM_TILE");
    ctx = tu_context();
    ck_assert_int_eq(tune_status(&ctx->cl, desc, sizeof desc), 2);
    /* clipcl's own part of the set reaches the context, not CLBlast */
    ck_assert_int_eq(ctx->k.small_tokens, 64);
    ck_assert(ctx->k.tile.min_tokens == 900 && ctx->k.tile.nf == 64 && ctx->k.tile.tt == 32 && ctx->k.tile.rf == 8 &&
              ctx->k.tile.rt == 4 && ctx->k.tile.kb == 8);
    ck_assert_msg(strstr(desc, path) != NULL, "%s", desc);
    char preview[700];
    ck_assert_int_eq(tune_preview(&ctx->cl.info, preview, sizeof preview), 2);
    ck_assert_str_eq(preview, desc);
    tune_applied(&ctx->cl, &got);
    ck_assert(set_equal(&s, &got));
    clipcl_context_free(ctx);
    /* the variables win over the file (the tile's sizes still come from it) */
    setenv("CLIPCL_GEMM_SMALL", "7", 1);
    setenv("CLIPCL_GEMM_TILE", "0", 1);
    ctx = tu_context();
    ck_assert_int_eq(ctx->k.small_tokens, 7);
    ck_assert(ctx->k.tile.min_tokens == 0 && ctx->k.tile.nf == 64 && ctx->k.tile.kb == 8);
    clipcl_context_free(ctx);
    unsetenv("CLIPCL_GEMM_SMALL");
    unsetenv("CLIPCL_GEMM_TILE");
    /* CLIPCL_TUNING=0 applies nothing */
    setenv("CLIPCL_TUNING", "0", 1);
    ctx = tu_context();
    ck_assert_int_eq(tune_status(&ctx->cl, NULL, 0), 0);
    ck_assert_int_eq(tune_preview(&ctx->cl.info, NULL, 0), 0);
    tune_applied(&ctx->cl, &got);
    for (int k = 0; k < TUNE_NKERNELS; k++) ck_assert(!got.have[k]);
    ck_assert_int_eq(ctx->k.small_tokens, 0);
    ck_assert_int_eq(ctx->k.tile.min_tokens, 0);
    clipcl_context_free(ctx);
    unsetenv("CLIPCL_TUNING");
}
END_TEST

START_TEST(test_file_corrupt)
{
    clipcl_context *ctx = tu_context();
    clipcl_device_info d = ctx->cl.info;
    tune_set builtin, s = sample_set(), back;
    int builtin_status = strcmp(tune_builtin(&d, &builtin), "default") ? 1 : 0;
    clipcl_context_free(ctx);
    char path[4200];
    OK(tune_file_path(&d, 1, path, sizeof path));
    OK(tune_file_write(path, &d, &s, "note"));
    size_t len;
    char *good = tu_slurp(path, &len), *bad = malloc(len + 4096);
    ck_assert(bad != NULL);

    /* each damaged version is refused by the reader and ignored by contexts */
    for (int variant = 0; variant < 9; variant++) {
        size_t n = len;
        memcpy(bad, good, len + 1);
        char *p;
        switch (variant) {
        case 0: /* a changed digit: checksum mismatch */
            p = strstr(bad, "MWG=64");
            ck_assert(p);
            p[4] = '3';
            break;
        case 1: n = len / 2; break;    /* truncated */
        case 2: n = 0; break;          /* empty */
        case 3: bad[3] = '\0'; break;  /* a NUL byte */
        case 4: /* valid checksum, parameters CLBlast's kernel cannot use (MWG=40) */
            p = strstr(bad, "end ");
            *p = '\0';
            p = strstr(bad, "MWG=64");
            memcpy(p, "MWG=40", 6);
            seal(bad, len + 4096);
            n = strlen(bad);
            break;
        case 5: /* valid checksum, another driver */
            snprintf(bad, len + 4096, "clipcl-tuning 1\nplatform %s\ndevice %s\ndriver %s-other\n", d.platform, d.name,
                     d.driver);
            seal(bad, len + 4096);
            n = strlen(bad);
            break;
        case 6: /* valid checksum, a parameter missing */
            snprintf(bad, len + 4096, "clipcl-tuning 1\nplatform %s\ndevice %s\ndriver %s\nkernel GemmRoutine\n",
                     d.platform, d.name, d.driver);
            seal(bad, len + 4096);
            n = strlen(bad);
            break;
        case 7: /* valid checksum, unknown line */
            snprintf(bad, len + 4096, "clipcl-tuning 1\nplatform %s\ndevice %s\ndriver %s\nkernel Xgemm2 A=1\n",
                     d.platform, d.name, d.driver);
            seal(bad, len + 4096);
            n = strlen(bad);
            break;
        case 8: /* valid checksum, a later format version */
            p = strstr(bad, "end ");
            *p = '\0';
            bad[14] = '2';
            seal(bad, len + 4096);
            n = strlen(bad);
            break;
        }
        tu_spit(path, bad, n);
        ck_assert_msg(tune_file_read(path, &d, NULL, &back, NULL, 0) != CLIPCL_OK, "variant %d was accepted", variant);
        ctx = tu_context();
        char desc[700];
        ck_assert_msg(tune_status(&ctx->cl, desc, sizeof desc) == builtin_status, "variant %d: %s", variant, desc);
        ck_assert_int_eq(tune_preview(&d, NULL, 0), builtin_status);
        tune_set applied;
        tune_applied(&ctx->cl, &applied);
        ck_assert_msg(set_equal(&applied, &builtin), "variant %d: not the built-in parameters", variant);
        clipcl_context_free(ctx);
    }
    /* and the intact file is accepted again */
    tu_spit(path, good, len);
    OK(tune_file_read(path, &d, NULL, &back, NULL, 0));
    free(good);
    free(bad);
}
END_TEST

/* ------------------------------------------------------------------ parsing, checks, search */

START_TEST(test_parse_and_check)
{
    size_t v[TUNE_MAX_PARAMS];
    OK(tune_parse(TUNE_GEMM_ROUTINE, "XGEMM_MIN_INDIRECT_SIZE=512", v));
    ck_assert_uint_eq(v[0], 512);
    ck_assert_int_eq(tune_parse(TUNE_GEMM_ROUTINE, "", v), CLIPCL_ERR_FORMAT);
    ck_assert_int_eq(tune_parse(TUNE_GEMM_ROUTINE, "XGEMM_MIN_INDIRECT_SIZE=1 XGEMM_MIN_INDIRECT_SIZE=2", v),
                     CLIPCL_ERR_FORMAT);
    ck_assert_int_eq(tune_parse(TUNE_GEMM_ROUTINE, "NOPE=1", v), CLIPCL_ERR_FORMAT);
    ck_assert_int_eq(tune_parse(TUNE_GEMM_ROUTINE, "XGEMM_MIN_INDIRECT_SIZE=-1", v), CLIPCL_ERR_FORMAT);
    ck_assert_int_eq(tune_parse(TUNE_GEMM_ROUTINE, "XGEMM_MIN_INDIRECT_SIZE=99999999999", v), CLIPCL_ERR_FORMAT);
    ck_assert_int_eq(tune_valid(TUNE_GEMM_ROUTINE, (size_t[]){70000}, NULL, NULL, 0), -1);
    for (int k = 0; k < TUNE_NKERNELS; k++) {
        if (k == TUNE_GEMM_ROUTINE) continue;
        OK(tune_parse(k, tune_clblast_default(k), v));
        ck_assert(!tune_valid(k, v, NULL, NULL, 0));
        char text[512];
        ck_assert(tune_format(k, v, text, sizeof text) > 0);
        ck_assert_str_eq(text, tune_clblast_default(k));
        ck_assert_int_eq(tune_format(k, v, text, 10), -1);
    }
    /* Xgemm rules: tile multiples, GEMMK=1 ties, vector widths, device limits */
    char why[200];
    OK(tune_parse(TUNE_XGEMM, tune_clblast_default(TUNE_XGEMM), v));
    size_t w[TUNE_MAX_PARAMS];
    memcpy(w, v, sizeof w);
    w[2] = 24; /* KWG not a multiple of KWI*... */
    w[3] = 16;
    ck_assert_int_eq(tune_valid(TUNE_XGEMM, w, NULL, why, sizeof why), -1);
    memcpy(w, v, sizeof w);
    w[14] = 3; /* VWM */
    ck_assert_int_eq(tune_valid(TUNE_XGEMM, w, NULL, why, sizeof why), -1);
    memcpy(w, v, sizeof w);
    w[0] = 1; /* GEMMK=1 with KWG=32 */
    ck_assert_int_eq(tune_valid(TUNE_XGEMM, w, NULL, why, sizeof why), -1);
    tune_limits tiny = {.max_wg = 64, .max_item = {64, 64, 64}, .local_mem = 1024};
    ck_assert_int_eq(tune_valid(TUNE_XGEMM, v, &tiny, why, sizeof why), -1); /* 16x16 work-group, 8 KiB local */
    ck_assert_msg(strstr(why, "work-group") || strstr(why, "local"), "%s", why);
    /* Padtranspose: a TILE x TILE work-group holding a (TILE*WPT)^2 tile in local memory */
    OK(tune_parse(TUNE_PADTRANSPOSE, "PADTRA_PAD=1 PADTRA_TILE=16 PADTRA_WPT=1", v));
    ck_assert(!tune_valid(TUNE_PADTRANSPOSE, v, NULL, why, sizeof why));
    ck_assert_int_eq(tune_valid(TUNE_PADTRANSPOSE, v, &tiny, why, sizeof why), -1); /* 256 items > 64 */
    ck_assert_msg(strstr(why, "work-group"), "%s", why);
    OK(tune_parse(TUNE_PADTRANSPOSE, "PADTRA_PAD=0 PADTRA_TILE=4 PADTRA_WPT=8", v));
    ck_assert_int_eq(tune_valid(TUNE_PADTRANSPOSE, v, &tiny, why, sizeof why), -1); /* 32x32 floats > 1 KiB */
    ck_assert_msg(strstr(why, "local memory"), "%s", why);
    tiny.local_mem = 32 * 32 * 4;
    ck_assert(!tune_valid(TUNE_PADTRANSPOSE, v, &tiny, why, sizeof why));
    tiny.local_mem = 1024;
    OK(tune_parse(TUNE_PADTRANSPOSE, "PADTRA_PAD=2 PADTRA_TILE=4 PADTRA_WPT=8", v));
    ck_assert_int_eq(tune_valid(TUNE_PADTRANSPOSE, v, NULL, why, sizeof why), -1);
    OK(tune_parse(TUNE_PADTRANSPOSE, "PADTRA_PAD=0 PADTRA_TILE=0 PADTRA_WPT=8", v));
    ck_assert_int_eq(tune_valid(TUNE_PADTRANSPOSE, v, NULL, why, sizeof why), -1);
    OK(tune_parse(TUNE_PADTRANSPOSE, "PADTRA_PAD=0 PADTRA_TILE=8 PADTRA_WPT=17", v));
    ck_assert_int_eq(tune_valid(TUNE_PADTRANSPOSE, v, NULL, why, sizeof why), -1);
    ck_assert_int_eq(tune_parse(TUNE_PADTRANSPOSE, "PADTRA_PAD=0 PADTRA_TILE=8", v), CLIPCL_ERR_FORMAT);
    /* clipcl's own kernel: a token count, bounded */
    OK(tune_parse(TUNE_OWN, "SMALL_TOKENS=65536", v));
    ck_assert(!tune_valid(TUNE_OWN, v, NULL, why, sizeof why));
    OK(tune_parse(TUNE_OWN, "SMALL_TOKENS=65537", v));
    ck_assert_int_eq(tune_valid(TUNE_OWN, v, NULL, why, sizeof why), -1);
    ck_assert_int_eq(tune_kernel_index("ClipclGemm"), TUNE_OWN);
    /* its tiled kernel: sizes that make a work-group and fill the local tiles evenly */
    ck_assert_int_eq(tune_kernel_index("ClipclTile"), TUNE_TILE);
    OK(tune_parse(TUNE_TILE, tune_clblast_default(TUNE_TILE), v));
    ck_assert(!tune_valid(TUNE_TILE, v, NULL, why, sizeof why) && v[0] == 0);
    static const char *const bad_tiles[] = {
        "MIN_TOKENS=16777217 LOCAL=1 NF=128 TT=128 RF=8 RT=8 KB=16", /* beyond TUNE_TILE_MAX */
        "MIN_TOKENS=1 LOCAL=1 NF=96 TT=128 RF=8 RT=8 KB=16",        /* not a power of two */
        "MIN_TOKENS=1 LOCAL=1 NF=128 TT=128 RF=2 RT=8 KB=16",       /* not a group of 4 */
        "MIN_TOKENS=1 LOCAL=1 NF=4 TT=128 RF=8 RT=8 KB=16",         /* more per item than per group */
        "MIN_TOKENS=1 LOCAL=1 NF=256 TT=256 RF=4 RT=4 KB=16",       /* 4096 items */
        "MIN_TOKENS=1 LOCAL=1 NF=128 TT=128 RF=4 RT=4 KB=1",        /* 1024 items cannot fill 128-float tiles */
        "MIN_TOKENS=1 LOCAL=1 NF=128 TT=128 RF=8 RT=8 KB=128",      /* K tile too long */
        "MIN_TOKENS=1 LOCAL=2 NF=128 TT=128 RF=8 RT=8 KB=16",       /* no such form */
        "MIN_TOKENS=1 LOCAL=0 NF=17 TT=16 RF=17 RT=16 KB=1",        /* the CPU form: too many features */
        "MIN_TOKENS=1 LOCAL=0 NF=6 TT=12 RF=6 RT=12 KB=1",          /* ... vectors not of 8 or 16 */
        "MIN_TOKENS=1 LOCAL=0 NF=6 TT=24 RF=6 RT=16 KB=1",          /* ... tokens not whole vectors */
        "MIN_TOKENS=1 LOCAL=0 NF=2 TT=80 RF=2 RT=16 KB=1",          /* ... too many tokens */
        "MIN_TOKENS=1 LOCAL=0 NF=12 TT=48 RF=12 RT=16 KB=1",        /* ... 36 vectors: no CPU has them */
        "MIN_TOKENS=1 LOCAL=0 NF=6 TT=16 RF=8 RT=8 KB=16",          /* ... not written canonically */
    };
    for (size_t i = 0; i < sizeof bad_tiles / sizeof *bad_tiles; i++) {
        OK(tune_parse(TUNE_TILE, bad_tiles[i], v));
        ck_assert_msg(tune_valid(TUNE_TILE, v, NULL, why, sizeof why) == -1, "%s", bad_tiles[i]);
    }
    OK(tune_parse(TUNE_TILE, "MIN_TOKENS=1 LOCAL=1 NF=128 TT=128 RF=8 RT=8 KB=32", v));
    ck_assert(!tune_valid(TUNE_TILE, v, NULL, why, sizeof why));
    OK(tune_parse(TUNE_TILE, "MIN_TOKENS=5 LOCAL=0 NF=6 TT=16 RF=6 RT=16 KB=1", v));
    ck_assert(!tune_valid(TUNE_TILE, v, &tiny, why, sizeof why)); /* one work-item, no local memory */
    ops_tile ot = tune_tile(v);
    ck_assert(ot.min_tokens == 5 && ot.local == 0 && ot.nf == 6 && ot.tt == 16 && ot.rt == 16);
    OK(tune_parse(TUNE_TILE, "MIN_TOKENS=1 LOCAL=0 NF=8 TT=64 RF=8 RT=16 KB=1", v)); /* 32 vectors */
    ck_assert(!tune_valid(TUNE_TILE, v, NULL, why, sizeof why));
    OK(tune_parse(TUNE_TILE, "MIN_TOKENS=1 LOCAL=1 NF=128 TT=128 RF=8 RT=8 KB=32", v));
    tune_limits small_dev = {256, {256, 256, 256}, 16384}; /* 32 KB of local tiles do not fit 16 KB */
    ck_assert_int_eq(tune_valid(TUNE_TILE, v, &small_dev, why, sizeof why), -1);
    ck_assert_msg(strstr(why, "local memory"), "%s", why);
    /* the table: PoCL CPUs get a complete row, other devices nothing; the CPU form of the
       tiled kernel in vectors as wide as the CPU's (AVX2: 8 floats, AVX-512: 16) */
    clipcl_device_info d = pocl_cpu();
    tune_set s;
    ck_assert_str_eq(tune_builtin(&d, &s), "pocl-cpu");
    for (int k = 0; k < TUNE_NKERNELS; k++) ck_assert(s.have[k] && !tune_valid(k, s.v[k], NULL, NULL, 0));
    ck_assert(tune_get(&s, TUNE_TILE, "LOCAL") == 0 && tune_get(&s, TUNE_TILE, "RT") == 8);
    d.vector_width = 16;
    ck_assert_str_eq(tune_builtin(&d, &s), "pocl-avx512");
    for (int k = 0; k < TUNE_NKERNELS; k++) ck_assert(s.have[k] && !tune_valid(k, s.v[k], NULL, NULL, 0));
    ck_assert(tune_get(&s, TUNE_TILE, "LOCAL") == 0 && tune_get(&s, TUNE_TILE, "RT") == 16);
    d.vector_width = 4; /* SSE: the AVX2 row's vectors of 8 are two registers each, still correct */
    ck_assert_str_eq(tune_builtin(&d, &s), "pocl-cpu");
    d = pocl_cpu();
    snprintf(d.platform, sizeof d.platform, "NVIDIA CUDA");
    d.is_cpu = 0, d.is_gpu = 1;
    ck_assert_str_eq(tune_builtin(&d, &s), "default");
    for (int k = 0; k < TUNE_NKERNELS; k++) ck_assert(!s.have[k]);
    d = pocl_cpu();
    d.is_cpu = 0, d.is_gpu = 1; /* PoCL on a GPU is not a CPU */
    ck_assert_str_eq(tune_builtin(&d, &s), "default");
}
END_TEST

START_TEST(test_search_helpers)
{
    tune_limits lim = {.max_wg = 256, .max_item = {256, 256, 256}, .local_mem = 32768};
    uint64_t rng = 12345;
    int gemmk1 = 0;
    for (int i = 0; i < 2000; i++) {
        size_t v[TUNE_MAX_PARAMS], m[TUNE_MAX_PARAMS];
        int k = i % 3 == 2 ? TUNE_PADTRANSPOSE : i % 3;
        char why[200];
        tune_random(k, &rng, &lim, v);
        ck_assert_msg(!tune_valid(k, v, &lim, why, sizeof why), "random %s: %s", tune_kernel_name(k), why);
        tune_mutate(k, &rng, &lim, v, m);
        ck_assert_msg(!tune_valid(k, m, &lim, why, sizeof why), "mutated %s: %s", tune_kernel_name(k), why);
        ck_assert(memcmp(v, m, (size_t)tune_nparams(k) * sizeof *v) != 0);
        gemmk1 += k == 0 && v[0] == 1;
    }
    ck_assert_msg(gemmk1 > 50, "kernel 1 (GEMMK=1) is sampled too rarely: %d of 667", gemmk1);
}
END_TEST

START_TEST(test_cli_show)
{
    char cmd[8600], *out = NULL;
    snprintf(cmd, sizeof cmd, "CLIPCL_CACHE_DIR='%s' '%s' tune --show 2>&1", tmp, CLIPCL_EXE);
    ck_assert_int_eq(tu_sh(cmd, &out), 0);
    ck_assert_msg(strstr(out, "applied") && strstr(out, "Xgemm") && strstr(out, "[absent]"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' tune --budget 0 2>&1", CLIPCL_EXE);
    ck_assert_int_eq(tu_sh(cmd, &out), 2);
    ck_assert_msg(strstr(out, "--budget"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' tune --arch ViT-Q/99 2>&1", CLIPCL_EXE);
    ck_assert_int_eq(tu_sh(cmd, &out), 2);
    free(out);
}
END_TEST

/* A whole search on the tiny model's shapes, in-process and with workers: both must finish
 * within their budget, report each batch size and store (or not) what they say. */
START_TEST(test_cli_search)
{
    char cmd[8800], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "CLIPCL_CACHE_DIR='%s' '%s' tune -m '%s' --budget 2 --batch 3 --seed 7 --in-process 2>&1", tmp,
             CLIPCL_EXE, TEST_DATA_DIR "/tiny-quickgelu");
    ck_assert_int_eq(tu_sh(cmd, &out), 0);
    ck_assert_msg(strstr(out, "GEMM time per item at batch 1:") && strstr(out, "GEMM time per item at batch 3:"), "%s",
                  out);
    int stored = strstr(out, "stored in ") != NULL;
    ck_assert_msg(stored || strstr(out, "were not beaten"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "CLIPCL_CACHE_DIR='%s' '%s' tune --show 2>&1", tmp, CLIPCL_EXE);
    ck_assert_int_eq(tu_sh(cmd, &out), 0);
    ck_assert_msg(!stored || strstr(out, "tuned by clipcl tune"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "CLIPCL_CACHE_DIR='%s' '%s' tune -m '%s' --budget 2 --batch 3 --seed 7 --no-save 2>&1",
             tmp, CLIPCL_EXE, TEST_DATA_DIR "/tiny-quickgelu");
    ck_assert_int_eq(tu_sh(cmd, &out), 0);
    ck_assert_msg(strstr(out, "GEMM time per item at batch 3:") &&
                      (strstr(out, "not stored (--no-save)") || strstr(out, "were not beaten")),
                  "%s", out);
    free(out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tune");
    TCase *tc = tcase_create("products");
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, test_builtin_row_products);
    suite_add_tcase(s, tc);
    TCase *tf = tcase_create("files");
    tcase_add_checked_fixture(tf, file_setup, file_teardown);
    tcase_set_timeout(tf, 600);
    tcase_add_test(tf, test_file_roundtrip);
    tcase_add_test(tf, test_file_applied);
    tcase_add_test(tf, test_file_corrupt);
    tcase_add_test(tf, test_cli_show);
    tcase_add_test(tf, test_cli_search);
    suite_add_tcase(s, tf);
    TCase *tp = tcase_create("parsing");
    tcase_add_test(tp, test_parse_and_check);
    tcase_add_test(tp, test_search_helpers);
    suite_add_tcase(s, tp);
    return tu_run_suite(s);
}
