/* cmd_bench.c — `clipcl bench`: throughput and latency of both towers per device and batch
 * size, cold start, peak device memory and a per-op breakdown from profiling events; JSON and
 * SVG outputs for comparing devices. Synthetic weights (--arch) need no download. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "cli.h"
#include "common.h"
#include "ctx.h"
#include "hub.h"
#include "synth.h"
#include "tune.h"

#define CMD "bench"
#define MAX_SIZES 16
#define MAX_DEVICES 64
#define MAX_RUNS 1000

static void help(FILE *f)
{
    fprintf(f,
            "usage: clipcl bench [-m MODEL | --arch ARCH] [-d DEVICE|all]\n"
            "                    [--batch-sizes 1,8,64,256] [--tower image|text|both] [--runs N]\n"
            "                    [--max-seconds S] [--profile] [--cold-start] [--rgb8] [--text-tokens N]\n"
            "                    [--json FILE] [--svg FILE] [-q]\n\n"
            "Measures images/s and texts/s per batch size (median of --runs timed runs after one warm-up;\n"
            "fewer when a measurement exceeds --max-seconds), batch-1 latency (median and p90), peak\n"
            "device memory, and optionally the per-op device time (--profile) and the cold start from\n"
            "process start to the first image embedding, with and without the kernel caches (--cold-start).\n"
            "Timings include host-device transfers of inputs and outputs. --precision fp16 stores the\n"
            "weights as half (arithmetic stays float32).\n\n"
            "  --arch A           synthetic weights of a standard architecture (generated once into the cache):\n"
            "                     ViT-B/32, ViT-B/16, ViT-L/14, ViT-L/14-336, RN50, RN101, RN50x4, RN50x16, RN50x64\n"
            "  -d all             every OpenCL device in turn\n"
            "  --rgb8             images as bytes (clipcl_encode_images_rgb8: normalized on the device, a\n"
            "                     quarter of the upload) instead of normalized floats\n"
            "  --text-tokens N    tokens per text, start and end included (2..77, default 77, as PyTorch\n"
            "                     comparisons use); the text tower stops at a batch's last end token, so\n"
            "                     short prompts (a class name in a template: about 10) run faster\n"
            "  --json FILE        results as JSON (an array with one object per device; '-' = stdout)\n"
            "  --svg FILE         bar chart of items/s per device and batch size\n"
            "  -m, --model M      model folder or Hub repository\n"
            "      --batch N      (ignored; use --batch-sizes)\n"
            "  -q, --quiet        no progress output\n");
}

typedef struct result {
    const char *tower;
    int batch, runs;
    double items_per_s, latency_ms, p90_ms;
} result;

typedef struct devres {
    clipcl_device_info dev;
    result res[2 * MAX_SIZES];
    int n_res;
    uint64_t peak_mem;
    int have_ops;
    clipcl_op_stats ops[2][CLIPCL_OP_KINDS]; /* image, text */
    int ops_batch[2];
    double cold_ms, cold_nocache_ms;
    int have_cold, cold_failed;
    char error[512];
    char gemm[800]; /* which GEMM parameters and kernels ran (tune_status, ClipclGemm, ClipclTile) */
    const char *precision;
} devres;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int i = (int)ceil(p * n) - 1;
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

/* --text-tokens: positions per text, start and end tokens included (the CLI is single-threaded) */
static int g_text_tokens = CLIPCL_CONTEXT_LENGTH;

/* Deterministic inputs: smooth noise for pixels; texts of g_text_tokens tokens, padded. */
static void make_inputs(float *pix, size_t npix, int32_t *ids, int n)
{
    uint64_t s = 42;
    for (size_t i = 0; i < npix; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        pix[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 4.0 - 2.0);
    }
    for (int r = 0; r < n; r++) {
        int32_t *row = ids + (size_t)r * CLIPCL_CONTEXT_LENGTH;
        memset(row, 0, CLIPCL_CONTEXT_LENGTH * sizeof *row);
        row[0] = CLIPCL_SOT;
        int len = g_text_tokens - 2;
        for (int i = 1; i <= len; i++) row[i] = 256 + (r * 131 + i * 977) % 40000;
        row[len + 1] = CLIPCL_EOT;
    }
}

/* --rgb8: images go in as bytes (the CLI is single-threaded) */
static int g_rgb8;

/* pix holds floats, or with --rgb8 the same number of bytes at its start */
static int encode(clipcl_model *m, int image, const float *pix, const int32_t *ids, int b, float *out)
{
    if (!image) return clipcl_encode_texts(m, ids, b, out);
    return g_rgb8 ? clipcl_encode_images_rgb8(m, (const uint8_t *)pix, b, out) : clipcl_encode_images(m, pix, b, out);
}

/* The model folder for --arch: synthetic weights in the cache, generated on first use. */
static int arch_dir(const char *arch, char *out, size_t cap, int quiet)
{
    arch_desc c;
    if (synth_arch_desc(arch, &c)) return cli_fail(2, CMD, "%s", clipcl_errmsg());
    char root[4096], name[64];
    if (hub_cache_root(root, sizeof root)) return cli_fail(2, CMD, "cannot determine the cache folder (set XDG_CACHE_HOME or HOME)");
    snprintf(name, sizeof name, "%s", arch);
    for (char *p = name; *p; p++)
        if (*p == '/') *p = '-';
    if ((size_t)snprintf(out, cap, "%s/synth/%s", root, name) >= cap) return cli_fail(2, CMD, "cache path too long");
    char probe[4300];
    snprintf(probe, sizeof probe, "%s/%s", out,
             c.layout == ARCH_LAYOUT_OPENAI ? "open_clip_model.safetensors" : "model.safetensors");
    struct stat sb;
    if (!stat(probe, &sb)) return 0;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/synth", root);
    if ((mkdir(root, 0755) && errno != EEXIST) || (mkdir(dir, 0755) && errno != EEXIST) ||
        (mkdir(out, 0755) && errno != EEXIST))
        return cli_fail(2, CMD, "%s: cannot create: %s", out, strerror(errno));
    if (!quiet) fprintf(stderr, "clipcl bench: writing synthetic %s weights to %s (once)\n", arch, out);
    if (synth_write(&c, out)) return cli_fail(2, CMD, "%s", clipcl_errmsg());
    return 0;
}

/* Child mode: time from the parent's timestamp to the first image embedding. */
static int first_embedding(const char *dir, const char *device, int precision)
{
    const char *t0s = getenv("CLIPCL_BENCH_T0");
    double t0 = t0s ? strtod(t0s, NULL) : cli_now();
    clipcl_context *ctx = NULL;
    clipcl_model *m = NULL;
    clipcl_context_params cp = clipcl_context_default_params();
    cp.device = device;
    clipcl_model_params mp = clipcl_model_default_params();
    mp.load_text = 0;
    mp.max_batch = 1;
    mp.precision = precision;
    int rc = 2;
    float *pix = NULL, emb[4096];
    if (clipcl_context_create(&cp, &ctx) || clipcl_model_load(ctx, dir, &mp, &m)) goto done;
    size_t n = clipcl_model_pixels_per_image(m);
    if (!(pix = calloc(n, sizeof *pix)) || clipcl_model_embed_dim(m) > 4096) goto done;
    if (clipcl_encode_images(m, pix, 1, emb)) goto done;
    printf("%.3f\n", (cli_now() - t0) * 1e3);
    rc = 0;
done:
    if (rc) fprintf(stderr, "clipcl bench: %s\n", clipcl_errmsg());
    free(pix);
    clipcl_model_free(m);
    clipcl_context_free(ctx);
    return rc;
}

static double run_child(const char *self, const char *dir, int device_index, const char *precision, int no_cache)
{
    int fd[2];
    if (pipe(fd)) return -1;
    char t0[64], dev[32];
    snprintf(t0, sizeof t0, "%.9f", cli_now());
    snprintf(dev, sizeof dev, "%d", device_index);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(fd[1], STDOUT_FILENO);
        /* nothing of the parent's but stdio: an H200 under NVIDIA's OpenCL showed no NVIDIA
         * platform to children of a process that had opened it, and the driver's open device
         * files are the likeliest thing they inherit */
        closefrom(STDERR_FILENO + 1);
        setenv("CLIPCL_BENCH_T0", t0, 1);
        if (no_cache) {
            setenv("CLIPCL_KERNEL_CACHE", "0", 1);
            setenv("POCL_KERNEL_CACHE", "0", 1);
            setenv("CUDA_CACHE_DISABLE", "1", 1);
        }
        execl(self, self, "bench", "--first-embedding", "-m", dir, "-d", dev, "--precision", precision, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char buf[64] = "";
    ssize_t n = read(fd[0], buf, sizeof buf - 1);
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (n <= 0 || !WIFEXITED(status) || WEXITSTATUS(status)) return -1;
    buf[n] = '\0';
    return strtod(buf, NULL);
}

static void bench_device(const char *self, const char *dir, int devidx, const int *sizes, int n_sizes, int towers,
                         int runs, double max_s, int profile, int cold, int quiet, devres *r)
{
    char dev[32];
    snprintf(dev, sizeof dev, "%d", devidx);
    clipcl_context *ctx = NULL;
    clipcl_model *m = NULL;
    float *pix = NULL, *out = NULL;
    int32_t *ids = NULL;
    int maxb = 1;
    for (int i = 0; i < n_sizes; i++)
        if (sizes[i] > maxb) maxb = sizes[i];
    for (int pass = 0; pass < 1 + !!profile; pass++) {
        clipcl_context_params cp = clipcl_context_default_params();
        cp.device = dev;
        cp.profile = pass == 1;
        clipcl_model_params mp = clipcl_model_default_params();
        mp.max_batch = maxb;
        mp.precision = cli_parse_precision(r->precision);
        mp.load_vision = !!(towers & 1);
        mp.load_text = !!(towers & 2);
        if (clipcl_context_create(&cp, &ctx) || clipcl_model_load(ctx, dir, &mp, &m)) {
            snprintf(r->error, sizeof r->error, "%s", clipcl_errmsg());
            goto done;
        }
        r->dev = *clipcl_context_device(ctx);
        char tdesc[600];
        tune_status(&ctx->cl, tdesc, sizeof tdesc);
        char small[64] = "", tile[128] = "";
        const ops_tile *g = &ctx->k.tile;
        if (ctx->k.small_tokens)
            snprintf(small, sizeof small, "; clipcl's own GEMM over up to %d tokens", ctx->k.small_tokens);
        if (g->min_tokens && g->local)
            snprintf(tile, sizeof tile, "; clipcl's tiled GEMM (%dx%d, %dx%d per item, K by %d) from %d tokens", g->nf,
                     g->tt, g->rf, g->rt, g->kb, g->min_tokens);
        else if (g->min_tokens)
            snprintf(tile, sizeof tile, "; clipcl's register GEMM (%dx%d per item) from %d tokens", g->nf, g->tt,
                     g->min_tokens);
        snprintf(r->gemm, sizeof r->gemm, "%s%s%s", tdesc, small, tile);
        if (!pix) {
            size_t npix = clipcl_model_pixels_per_image(m);
            pix = malloc((size_t)maxb * (npix ? npix : 1) * sizeof *pix);
            ids = malloc((size_t)maxb * CLIPCL_CONTEXT_LENGTH * sizeof *ids);
            out = malloc((size_t)maxb * clipcl_model_embed_dim(m) * sizeof *out);
            if (!pix || !ids || !out) {
                snprintf(r->error, sizeof r->error, "out of memory");
                goto done;
            }
            make_inputs(pix, (size_t)maxb * npix, ids, maxb);
            if (g_rgb8) /* bytes in the first quarter; the pixels' source bytes are as random */
                for (size_t i = 0; i < (size_t)maxb * npix; i++) ((uint8_t *)pix)[i] = (uint8_t)(i * 2654435761u >> 13);
        }
        for (int t = 0; t < 2; t++) {
            if (!(towers & (1 << t))) continue;
            int image = t == 0;
            if (pass == 1) { /* one profiled run at the largest batch */
                if (encode(m, image, pix, ids, maxb, out)) goto fail;
                clipcl_profile_reset(ctx);
                if (encode(m, image, pix, ids, maxb, out) || clipcl_profile_read(ctx, r->ops[t])) goto fail;
                r->ops_batch[t] = maxb;
                r->have_ops = 1;
                continue;
            }
            for (int si = 0; si < n_sizes; si++) {
                int b = sizes[si];
                double times[MAX_RUNS];
                int n = 0;
                if (!quiet) fprintf(stderr, "\r%s: %s batch %d ...          ", r->dev.name, image ? "image" : "text", b);
                if (encode(m, image, pix, ids, b, out)) goto fail; /* warm-up: kernels, buffers */
                double start = cli_now();
                while (n < runs) {
                    double t0 = cli_now();
                    if (encode(m, image, pix, ids, b, out)) goto fail;
                    times[n++] = cli_now() - t0;
                    if (cli_now() - start > max_s) break;
                }
                double med = percentile(times, n, 0.5), p90 = percentile(times, n, 0.9);
                r->res[r->n_res++] = (result){image ? "image" : "text", b, n, b / med, med * 1e3, p90 * 1e3};
            }
        }
        if (pass == 0) clipcl_context_memory(ctx, NULL, &r->peak_mem);
        clipcl_model_free(m);
        clipcl_context_free(ctx);
        m = NULL;
        ctx = NULL;
    }
    if (!quiet) fprintf(stderr, "\r%*s\r", 60, "");
    if (cold && (towers & 1)) {
        if (!quiet) fprintf(stderr, "%s: cold start ...\r", r->dev.name);
        r->cold_nocache_ms = run_child(self, dir, devidx, r->precision, 1);
        run_child(self, dir, devidx, r->precision, 0); /* fills the caches */
        r->cold_ms = run_child(self, dir, devidx, r->precision, 0);
        r->have_cold = r->cold_ms >= 0 && r->cold_nocache_ms >= 0;
        r->cold_failed = !r->have_cold;
    }
    goto done;
fail:
    snprintf(r->error, sizeof r->error, "%s", clipcl_errmsg());
done:
    clipcl_model_free(m);
    clipcl_context_free(ctx);
    free(pix);
    free(ids);
    free(out);
}

static void print_text(const devres *r, const char *model)
{
    printf("device: %s (%s, %s)\nmodel: %s   precision: %s%s   texts of %d tokens\n", r->dev.name, r->dev.platform,
           r->dev.driver, model, r->precision, g_rgb8 ? "   images as bytes (--rgb8)" : "", g_text_tokens);
    if (r->gemm[0]) printf("GEMM: %s\n", r->gemm);
    if (r->error[0]) {
        printf("  error: %s\n", r->error);
        return;
    }
    printf("  %-6s %6s %12s %12s %10s %5s\n", "tower", "batch", "items/s", "latency ms", "p90 ms", "runs");
    for (int i = 0; i < r->n_res; i++)
        printf("  %-6s %6d %12.2f %12.2f %10.2f %5d\n", r->res[i].tower, r->res[i].batch, r->res[i].items_per_s,
               r->res[i].latency_ms, r->res[i].p90_ms, r->res[i].runs);
    printf("  peak device memory: %.1f MiB (weights + activations)\n", r->peak_mem / 1048576.0);
    if (r->have_cold)
        printf("  cold start to first image embedding: %.0f ms with kernel caches, %.0f ms without\n", r->cold_ms,
               r->cold_nocache_ms);
    else if (r->cold_failed)
        printf("  cold start: not measured (a child process failed; its message is above)\n");
    for (int t = 0; t < 2 && r->have_ops; t++) {
        if (!r->ops_batch[t]) continue;
        double total = 0;
        for (int k = 0; k < CLIPCL_OP_KINDS; k++) total += r->ops[t][k].ms;
        printf("  %s tower, batch %d, device time per op (%.2f ms in all):\n", t ? "text" : "image", r->ops_batch[t],
               total);
        for (int k = 0; k < CLIPCL_OP_KINDS; k++) {
            const clipcl_op_stats *s = &r->ops[t][k];
            if (!s->count) continue;
            printf("    %-12s %5ld launches %9.2f ms %5.1f%%", s->name, s->count, s->ms, total > 0 ? 100 * s->ms / total : 0);
            if (s->flop > 0 && s->ms > 0) printf(" %9.1f GFLOP/s", s->flop / s->ms * 1e-6);
            if (s->bytes > 0 && s->ms > 0) printf(" %8.1f GB/s", s->bytes / s->ms * 1e-6);
            putchar('\n');
        }
    }
}

static void print_json(FILE *f, const devres *rs, int n, const char *model)
{
    fputs("[", f);
    for (int d = 0; d < n; d++) {
        const devres *r = &rs[d];
        fprintf(f, "%s\n  {\"device\": ", d ? "," : "");
        cli_json_str(f, r->dev.name);
        fputs(", \"platform\": ", f);
        cli_json_str(f, r->dev.platform);
        fputs(", \"driver\": ", f);
        cli_json_str(f, r->dev.driver);
        fputs(", \"model\": ", f);
        cli_json_str(f, model);
        fprintf(f, ", \"precision\": \"%s\", \"image_input\": \"%s\", \"text_tokens\": %d", r->precision,
                g_rgb8 ? "rgb8" : "float", g_text_tokens);
        if (r->gemm[0]) {
            fputs(", \"gemm\": ", f);
            cli_json_str(f, r->gemm);
        }
        if (r->error[0]) {
            fputs(", \"error\": ", f);
            cli_json_str(f, r->error);
        }
        fputs(", \"results\": [", f);
        for (int i = 0; i < r->n_res; i++)
            fprintf(f, "%s\n    {\"tower\": \"%s\", \"batch\": %d, \"items_per_s\": %.4g, \"latency_ms\": %.4g, "
                       "\"p90_ms\": %.4g, \"runs\": %d}",
                    i ? "," : "", r->res[i].tower, r->res[i].batch, r->res[i].items_per_s, r->res[i].latency_ms,
                    r->res[i].p90_ms, r->res[i].runs);
        fprintf(f, "], \"peak_device_memory_bytes\": %llu", (unsigned long long)r->peak_mem);
        if (r->have_cold)
            fprintf(f, ", \"cold_start_ms\": {\"with_cache\": %.1f, \"without_cache\": %.1f}", r->cold_ms,
                    r->cold_nocache_ms);
        else if (r->cold_failed)
            fputs(", \"cold_start_ms\": null", f);
        if (r->have_ops) {
            fputs(", \"ops\": [", f);
            int first = 1;
            for (int t = 0; t < 2; t++)
                for (int k = 0; k < CLIPCL_OP_KINDS && r->ops_batch[t]; k++) {
                    const clipcl_op_stats *s = &r->ops[t][k];
                    fprintf(f, "%s\n    {\"tower\": \"%s\", \"batch\": %d, \"op\": \"%s\", \"launches\": %ld, "
                               "\"ms\": %.4g, \"gflop\": %.4g, \"gbytes\": %.4g}",
                            first ? "" : ",", t ? "text" : "image", r->ops_batch[t], s->name, s->count, s->ms,
                            s->flop * 1e-9, s->bytes * 1e-9);
                    first = 0;
                }
            fputs("]", f);
        }
        fputs("}", f);
    }
    fputs("\n]\n", f);
}

/* Fails now rather than after minutes of measuring when FILE's folder cannot take it. */
static int check_out(const char *path)
{
    if (!path || !strcmp(path, "-")) return 0;
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) return cli_fail(2, CMD, "%s: path too long", path);
    if (access(dirname(dir), W_OK)) return cli_fail(2, CMD, "%s: cannot create: %s", path, strerror(errno));
    return 0;
}

/* Grouped bars: one panel per tower, one group per batch size, one bar per device. */
static int write_svg(const char *path, const devres *rs, int n, const char *model)
{
    static const char *colors[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1"};
    FILE *f = fopen(path, "w");
    if (!f) return cli_fail(2, CMD, "%s: cannot create: %s", path, strerror(errno));
    const int W = 900, PH = 300, top = 60;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            W, top + 2 * (PH + 60) + 20 * n);
    fprintf(f, "<text x=\"20\" y=\"30\" font-size=\"18\">clipcl bench: ");
    for (const char *p = model; *p; p++) fputs(*p == '<' ? "&lt;" : *p == '&' ? "&amp;" : (char[]){*p, 0}, f);
    fprintf(f, ", %s</text>\n", n ? rs[0].precision : "fp32");
    const char *towers[2] = {"image", "text"};
    for (int t = 0; t < 2; t++) {
        int y0 = top + t * (PH + 60);
        int batches[MAX_SIZES], nb = 0;
        double vmax = 0;
        for (int d = 0; d < n; d++)
            for (int i = 0; i < rs[d].n_res; i++) {
                const result *r = &rs[d].res[i];
                if (strcmp(r->tower, towers[t])) continue;
                if (r->items_per_s > vmax) vmax = r->items_per_s;
                int seen = 0;
                for (int j = 0; j < nb; j++) seen |= batches[j] == r->batch;
                if (!seen && nb < MAX_SIZES) batches[nb++] = r->batch;
            }
        fprintf(f, "<text x=\"20\" y=\"%d\" font-size=\"14\">%s tower: %ss per second (higher is better)</text>\n",
                y0 + 10, towers[t], towers[t]);
        if (!nb || vmax <= 0) continue;
        int x0 = 80, plot_w = W - 120, base = y0 + PH;
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", x0, base, x0 + plot_w, base);
        for (int g = 0; g <= 4; g++) {
            double v = vmax * g / 4;
            int y = base - (int)((PH - 40) * g / 4.0);
            fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.3g</text>\n", x0 - 6, y + 4, v);
            fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>\n", x0, y, x0 + plot_w, y);
        }
        double gw = (double)plot_w / nb, bw = gw * 0.8 / n;
        for (int j = 0; j < nb; j++) {
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">batch %d</text>\n", x0 + gw * (j + 0.5),
                    base + 18, batches[j]);
            for (int d = 0; d < n; d++)
                for (int i = 0; i < rs[d].n_res; i++) {
                    const result *r = &rs[d].res[i];
                    if (strcmp(r->tower, towers[t]) || r->batch != batches[j]) continue;
                    double h = (PH - 40) * r->items_per_s / vmax, x = x0 + gw * j + gw * 0.1 + bw * d;
                    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>%.4g "
                               "%ss/s</title></rect>\n",
                            x, base - h, bw, h, colors[d % 7], r->items_per_s, towers[t]);
                }
        }
    }
    for (int d = 0; d < n; d++) {
        int y = top + 2 * (PH + 60) + 20 * d;
        fprintf(f, "<rect x=\"20\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/><text x=\"40\" y=\"%d\">", y - 10,
                colors[d % 7], y);
        for (const char *p = rs[d].dev.name; *p; p++)
            fputs(*p == '<' ? "&lt;" : *p == '&' ? "&amp;" : (char[]){*p, 0}, f);
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
    return fclose(f) ? cli_fail(2, CMD, "%s: write failed", path) : 0;
}

static int parse_sizes(const char *s, int *sizes, int *n)
{
    *n = 0;
    char *copy = strdup(s), *save = NULL;
    if (!copy) return -1;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *end;
        long v = strtol(tok, &end, 10);
        if (*end || v < 1 || v > 65536 || *n == MAX_SIZES) {
            free(copy);
            return -1;
        }
        sizes[(*n)++] = (int)v;
    }
    free(copy);
    return *n ? 0 : -1;
}

int cmd_bench(int argc, char **argv)
{
    static const struct option opts[] = {
        {"arch", required_argument, 0, 'a'},        {"batch-sizes", required_argument, 0, 's'},
        {"tower", required_argument, 0, 't'},       {"runs", required_argument, 0, 'r'},
        {"max-seconds", required_argument, 0, 'x'}, {"profile", no_argument, 0, 'p'},
        {"rgb8", no_argument, 0, 'R'},             {"text-tokens", required_argument, 0, 'T'},
        {"cold-start", no_argument, 0, 'c'},        {"json", required_argument, 0, 'j'},
        {"svg", required_argument, 0, 'g'},         {"first-embedding", no_argument, 0, 'F'},
        {"help", no_argument, 0, 'h'},              CLI_COMMON_LONGOPTS,
        {0, 0, 0, 0}};
    cli_opts o = {0};
    const char *arch = NULL, *json = NULL, *svg = NULL;
    int sizes[MAX_SIZES] = {1, 8, 64, 256}, n_sizes = 4, towers = 3, runs = 5, profile = 0, cold = 0, child = 0;
    double max_s = 20;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "h", opts, NULL)) != -1) {
        int r = cli_common_opt(CMD, c, optarg, &o);
        if (r >= 0) {
            if (r) return r;
            continue;
        }
        char *end;
        switch (c) {
        case 'a': arch = optarg; break;
        case 's':
            if (parse_sizes(optarg, sizes, &n_sizes))
                return cli_fail(2, CMD, "--batch-sizes '%s': give up to %d numbers like 1,8,64", optarg, MAX_SIZES);
            break;
        case 't':
            towers = !strcmp(optarg, "image") ? 1 : !strcmp(optarg, "text") ? 2 : !strcmp(optarg, "both") ? 3 : 0;
            if (!towers) return cli_fail(2, CMD, "--tower must be image, text or both");
            break;
        case 'r':
            runs = (int)strtol(optarg, &end, 10);
            if (*end || runs < 1 || runs > MAX_RUNS) return cli_fail(2, CMD, "--runs must be 1..%d", MAX_RUNS);
            break;
        case 'x':
            max_s = strtod(optarg, &end);
            if (*end || !(max_s > 0)) return cli_fail(2, CMD, "--max-seconds must be positive");
            break;
        case 'p': profile = 1; break;
        case 'R': g_rgb8 = 1; break;
        case 'T':
            g_text_tokens = (int)strtol(optarg, &end, 10);
            if (*end || g_text_tokens < 2 || g_text_tokens > CLIPCL_CONTEXT_LENGTH)
                return cli_fail(2, CMD, "--text-tokens must be 2..%d", CLIPCL_CONTEXT_LENGTH);
            break;
        case 'c': cold = 1; break;
        case 'j': json = optarg; break;
        case 'g': svg = optarg; break;
        case 'F': child = 1; break;
        case 'h': help(stdout); return 0;
        default: help(stderr); return 2;
        }
    }
    if (optind != argc) return cli_fail(2, CMD, "unexpected argument '%s' (see --help)", argv[optind]);
    if (arch && o.model) return cli_fail(2, CMD, "give either -m or --arch, not both");
    if (check_out(json) || check_out(svg)) return 2;
    char dir[4096];
    const char *model_name;
    if (arch) {
        int rc = arch_dir(arch, dir, sizeof dir, o.quiet);
        if (rc) return rc;
        model_name = arch;
    } else {
        if (hub_resolve_model(o.model, 1, dir, sizeof dir)) return 2;
        model_name = o.model ? o.model : HUB_DEFAULT_REPO;
    }
    if (child) return first_embedding(dir, o.device, o.precision);

    /* which devices */
    int devs[MAX_DEVICES], n_devs = 0;
    clipcl_device_info infos[MAX_DEVICES];
    int total = 0;
    clipcl_status st = clipcl_devices(infos, MAX_DEVICES, &total);
    if (st) return cli_lib_fail(CMD, "listing OpenCL devices", st);
    if (total > MAX_DEVICES) total = MAX_DEVICES;
    if (o.device && !strcmp(o.device, "all")) {
        for (int i = 0; i < total; i++) devs[n_devs++] = i;
    } else {
        clipcl_context *ctx = NULL;
        clipcl_context_params cp = clipcl_context_default_params();
        cp.device = o.device;
        if ((st = clipcl_context_create(&cp, &ctx))) return cli_lib_fail(CMD, "opening the OpenCL device", st);
        devs[n_devs++] = clipcl_context_device(ctx)->index;
        clipcl_context_free(ctx);
    }
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) snprintf(self, sizeof self, "%s", "clipcl");
    else self[sl] = '\0';

    devres *rs = calloc((size_t)n_devs, sizeof *rs);
    if (!rs) return cli_fail(2, CMD, "out of memory");
    int failures = 0;
    for (int d = 0; d < n_devs; d++) {
        rs[d].dev = infos[devs[d]];
        rs[d].precision = cli_precision_name(o.precision);
        bench_device(self, dir, devs[d], sizes, n_sizes, towers, runs, max_s, profile, cold, o.quiet, &rs[d]);
        failures += rs[d].error[0] != 0;
        print_text(&rs[d], model_name);
    }
    int rc = failures == n_devs ? 2 : 0;
    if (json) {
        FILE *f = strcmp(json, "-") ? fopen(json, "w") : stdout;
        if (!f) {
            rc = cli_fail(2, CMD, "%s: cannot create: %s", json, strerror(errno));
        } else {
            print_json(f, rs, n_devs, model_name);
            if (f != stdout && fclose(f)) rc = cli_fail(2, CMD, "%s: write failed", json);
        }
    }
    if (svg && !rc) rc = write_svg(svg, rs, n_devs, model_name);
    free(rs);
    return rc;
}
