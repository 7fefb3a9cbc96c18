/* cmd_tune.c — `clipcl tune`: searches CLBlast's GEMM parameters for one device at a model's
 * own matrix shapes and stores the best in the device's tuning file (host/tune.h), which
 * every later context on that device applies. `clipcl tune --show` prints what is applied.
 *
 * Each candidate runs in a worker process (`clipcl tune --worker`, fed on stdin), because a
 * bad parameter set can do worse than fail: CLBlast 1.5.3's kernels write out of bounds
 * with some of them, and on a CPU device that corrupts the host heap. The worker times
 * the calls the encoders make (ops_gemm_fm, ops_gemm_nt), so CLBlast's pad/transpose helper kernels
 * are part of every measurement, after checking the product against a double-precision
 * reference; a wrong, failing, crashing or hanging candidate is rejected. --in-process runs
 * the same worker code in the tuner itself, for drivers whose devices its children cannot open.
 *
 * The objective is the sum over the batch sizes of GEMM time per item relative to CLBlast's
 * own parameters (normalise()), so batch 1 and a large batch count alike.
 *
 * The transformer blocks' products are timed as ops_gemm_fm makes them (feature-major
 * activations in chunks, cl/fm.cl), with the token tile the candidate's NWG gives; the patch
 * embedding and projections as ops_gemm_nt. A shape's flags field says which: bit 0 beta,
 * bit 1 feature-major.
 *
 * The search goes in steps: the indirect kernel (Xgemm, every product forced indirect),
 * its transposing copies (Padtranspose, with that Xgemm), the direct kernel (XgemmDirect,
 * every product forced direct), then the direct/indirect
 * threshold chosen from the two winners' per-shape times, clipcl's own kernel for few tokens
 * (cl/gemm.cl) timed on every feature-major product and kept up to the token count where it
 * wins (ClipclGemm SMALL_TOKENS), its tiled kernel for many tokens at a few tile sizes, kept
 * from the token count where the best wins (ClipclTile), and a final check of the combination
 * on the model's shapes plus other batch sizes. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "cli.h"
#include "common.h"
#include "ctx.h"
#include "hub.h"
#include "ops.h"
#include "synth.h"
#include "tune.h"

extern char **environ;

#define CMD "tune"
#define MAX_SHAPES 48
#define MAX_CHECKS 96
#define CHECK_ROWS 8
#define MAX_SEEN 4096
#define ALWAYS_DIRECT 65536 /* XGEMM_MIN_INDIRECT_SIZE that sends every product to XgemmDirect */
#define SPEC_MAX (64u << 10)
#define DIM_MAX 65536u
#define ELEMS_MAX (64u << 20) /* floats per operand in a worker */

static void help(FILE *f)
{
    fprintf(f,
            "usage: clipcl tune [-m MODEL | --arch ViT-B/32|ViT-B/16|ViT-L/14|ViT-L/14-336] [-d DEVICE]\n"
            "                   [--budget SECONDS] [--batch N] [--tower image|text|both] [--seed N]\n"
            "                   [--no-save] [--in-process] [-q]\n"
            "       clipcl tune --show [-d DEVICE]\n\n"
            "Searches CLBlast's SGEMM kernel parameters (Xgemm, the copies it transposes its operands\n"
            "with, XgemmDirect, and the size where CLBlast switches between the two GEMMs) for one\n"
            "OpenCL device, at the matrix shapes the model's encoders multiply at batch 1 and at\n"
            "--batch (default 8), then up to how many tokens clipcl's own GEMM for small products\n"
            "beats them, and from how many tokens (and with which tile sizes) its tiled GEMM for\n"
            "large products does, and stores the fastest combination in the device's tuning file\n"
            "(each batch size counts as its GEMM time relative to CLBlast's own parameters); every\n"
            "later clipcl run on that device applies it. Each candidate's result is checked against\n"
            "a double-precision reference; wrong or failing ones are rejected.\n"
            "Progress goes to stderr, the per-shape summary (GFLOP/s before and after) to stdout.\n"
            "Candidates are compiled by the OpenCL driver, which takes seconds each on CPUs: a longer\n"
            "budget tries more of them.\n\n"
            "  -m, --model M      model folder or Hub repository (its config.json gives the shapes)\n"
            "      --arch A       shapes of a standard architecture (default ViT-B/32, no download)\n"
            "  -d, --device D     OpenCL device: index, name substring, cpu or gpu\n"
            "      --budget S     seconds to search (default 600)\n"
            "      --batch N      batch size to tune for besides batch 1 (default 8)\n"
            "      --tower T      image, text or both (default both)\n"
            "      --seed N       random seed of the search (default: from the clock)\n"
            "      --no-save      search and report, but leave the tuning file alone\n"
            "      --in-process   run the candidates in this process instead of one worker process each:\n"
            "                     faster, but a candidate that crashes takes the search with it (CLBlast's\n"
            "                     out-of-bounds parameter sets can do that on CPU devices); for drivers that\n"
            "                     do not let the workers open the device\n"
            "      --show         print the parameters applied on the device and where they come from\n"
            "  -q, --quiet        no progress output\n\n"
            "Tuning files live in $CLIPCL_CACHE_DIR/tuning (else $XDG_CACHE_HOME/clipcl/tuning, else\n"
            "~/.cache/clipcl/tuning), one per platform, device and driver version; delete one to forget\n"
            "it. CLIPCL_TUNING=0 runs with CLBlast's own parameters.\n");
}

/* ------------------------------------------------------------------ worker */

typedef struct wshape {
    int idx, timed;
    size_t M, N, K;
    float beta;
    int fm; /* timed as ops_gemm_fm: A, C feature-major */
    double weight;
    size_t rows[CHECK_ROWS];
    int n_rows;
    double *ref, *tol; /* [n_rows * N]: reference and allowed error of the checked rows */
} wshape;

typedef struct worker_state {
    clipcl_context *ctx;
    ocl *o;
    wshape s[MAX_SHAPES + MAX_CHECKS];
    int n;
    cl_mem A, B, Bt, C;
    float *a, *b, *c0, *c;
    float *fa, *fc, *bt; /* feature-major copies of a and c0, b transposed */
} worker_state;

static double frand(uint64_t *r)
{
    uint64_t x = *r;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *r = x;
    return (double)(x >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* Where the worker code writes its answer: stdout in a worker process, a memory stream
 * for --in-process. */
static FILE *wout_stream;
static FILE *wout(void) { return wout_stream ? wout_stream : stdout; }

static int wfail(const char *fmt, const char *msg)
{
    fprintf(wout(), "fail ");
    fprintf(wout(), fmt, msg);
    fprintf(wout(), "\n");
    fflush(wout());
    return 1;
}

/* Random operands (the same in every worker), device buffers, reference rows. */
static int worker_setup(worker_state *w)
{
    size_t maxA = 1, maxB = 1, maxC = 1;
    for (int i = 0; i < w->n; i++) {
        wshape *s = &w->s[i];
        const size_t M = s->M + OPS_FM_MAX_ALIGN; /* room for a feature-major layout's padding */
        if (M * s->K > maxA) maxA = M * s->K;
        if (s->N * s->K > maxB) maxB = s->N * s->K;
        if (M * s->N > maxC) maxC = M * s->N;
    }
    w->a = malloc(maxA * sizeof(float));
    w->b = malloc(maxB * sizeof(float));
    w->c0 = malloc(maxC * sizeof(float));
    w->c = malloc(maxC * sizeof(float));
    w->fa = malloc(maxA * sizeof(float));
    w->fc = malloc(maxC * sizeof(float));
    w->bt = malloc(maxB * sizeof(float));
    if (!w->a || !w->b || !w->c0 || !w->c || !w->fa || !w->fc || !w->bt) return wfail("%s", "out of memory");
    uint64_t r = 0x243F6A8885A308D3ull;
    for (size_t i = 0; i < maxA; i++) w->a[i] = (float)frand(&r);
    for (size_t i = 0; i < maxB; i++) w->b[i] = (float)frand(&r);
    for (size_t i = 0; i < maxC; i++) w->c0[i] = (float)frand(&r);
    if (ocl_alloc(w->o, maxA * sizeof(float), &w->A, "A") || ocl_alloc(w->o, maxB * sizeof(float), &w->B, "B") ||
        ocl_alloc(w->o, maxC * sizeof(float), &w->C, "C") || ocl_alloc(w->o, maxB * sizeof(float), &w->Bt, "Bt") || ocl_upload(w->o, w->A, 0, maxA * sizeof(float), w->a) ||
        ocl_upload(w->o, w->B, 0, maxB * sizeof(float), w->b))
        return wfail("%s", clipcl_errmsg());
    for (int i = 0; i < w->n; i++) {
        wshape *s = &w->s[i];
        /* edges catch padding bugs; a few rows in between catch the rest */
        size_t cand[CHECK_ROWS] = {0, 1, s->M / 2, s->M - 2, s->M - 1, 0, 0, 0};
        for (int j = 5; j < CHECK_ROWS; j++) cand[j] = (size_t)((frand(&r) + 1.0) * 0.5 * (double)s->M) % s->M;
        s->n_rows = 0;
        for (int j = 0; j < CHECK_ROWS; j++) {
            if (cand[j] >= s->M) continue;
            int dup = 0;
            for (int q = 0; q < s->n_rows; q++) dup |= s->rows[q] == cand[j];
            if (!dup) s->rows[s->n_rows++] = cand[j];
        }
        s->ref = malloc((size_t)s->n_rows * s->N * sizeof(double));
        s->tol = malloc((size_t)s->n_rows * s->N * sizeof(double));
        if (!s->ref || !s->tol) return wfail("%s", "out of memory");
        for (int q = 0; q < s->n_rows; q++) {
            const float *arow = w->a + s->rows[q] * s->K;
            for (size_t n = 0; n < s->N; n++) {
                const float *brow = w->b + n * s->K;
                double acc = 0, mag = 0;
                for (size_t k = 0; k < s->K; k++) {
                    double p = (double)arow[k] * brow[k];
                    acc += p;
                    mag += fabs(p);
                }
                double c0 = w->c0[s->rows[q] * s->N + n];
                s->ref[(size_t)q * s->N + n] = acc + s->beta * c0;
                /* float32 accumulation stays far below this; a skipped or repeated tile does not */
                s->tol[(size_t)q * s->N + n] = 1e-4 * (mag + fabs(c0)) + 1e-6;
            }
        }
    }
    return 0;
}

/* The product as the encoders make it: C = A·Bᵀ + beta·C, feature-major when s->fm. */
static clipcl_status worker_gemm(worker_state *w, const wshape *s, const ops_fm *L)
{
    ops *k = &w->ctx->k;
    if (s->fm) return ops_gemm_fm(k, L, s->N, s->K, w->A, k->w_t ? w->Bt : w->B, 0, s->beta, w->C);
    return ops_gemm_nt(k, s->M, s->N, s->K, 1.0f, w->A, 0, w->B, 0, s->beta, w->C, 0);
}

/* C[row, n] of the last product. */
static float worker_c(const worker_state *w, const wshape *s, const ops_fm *L, size_t row, size_t n)
{
    return s->fm ? w->c[ops_fm_at(L, row, n, s->N)] : w->c[row * s->N + n];
}

/* One checked call, then (for timed shapes) timed ones; *secs = the fastest. */
static int worker_measure(worker_state *w, const wshape *s, double *secs)
{
    const ops_fm L = ops_fm_layout(&w->ctx->k, (int)s->M);
    size_t nc = s->M * s->N;
    const float *c0 = w->c0;
    if (s->fm) {
        /* the same operands, turned feature-major (padding tokens zero) */
        for (size_t t = 0; t < (size_t)L.tp; t++) {
            for (size_t q = 0; q < s->K; q++) w->fa[ops_fm_at(&L, t, q, s->K)] = t < s->M ? w->a[t * s->K + q] : 0.0f;
            for (size_t n = 0; n < s->N; n++) w->fc[ops_fm_at(&L, t, n, s->N)] = t < s->M ? w->c0[t * s->N + n] : 0.0f;
        }
        if (ocl_upload(w->o, w->A, 0, (size_t)L.tp * s->K * sizeof(float), w->fa)) return wfail("%s", clipcl_errmsg());
        if (w->ctx->k.w_t) { /* the weight as such a context stores it: [K, N] */
            for (size_t n = 0; n < s->N; n++)
                for (size_t q = 0; q < s->K; q++) w->bt[q * s->N + n] = w->b[n * s->K + q];
            if (ocl_upload(w->o, w->Bt, 0, s->N * s->K * sizeof(float), w->bt)) return wfail("%s", clipcl_errmsg());
        }
        nc = (size_t)L.tp * s->N;
        c0 = w->fc;
    } else if (ocl_upload(w->o, w->A, 0, s->M * s->K * sizeof(float), w->a)) {
        return wfail("%s", clipcl_errmsg());
    }
    if (ocl_upload(w->o, w->C, 0, nc * sizeof(float), c0)) return wfail("%s", clipcl_errmsg());
    double t0 = cli_now();
    clipcl_status st = worker_gemm(w, s, &L);
    cl_int fin = clFinish(w->o->queue);
    double first = cli_now() - t0;
    if (st) return wfail("%s", clipcl_errmsg());
    if (fin != CL_SUCCESS) return wfail("clFinish: %s", ocl_errstr(fin));
    if (ocl_download(w->o, w->C, 0, nc * sizeof(float), w->c)) return wfail("%s", clipcl_errmsg());
    for (int q = 0; q < s->n_rows; q++)
        for (size_t n = 0; n < s->N; n++) {
            double got = worker_c(w, s, &L, s->rows[q], n), want = s->ref[(size_t)q * s->N + n];
            if (!(fabs(got - want) <= s->tol[(size_t)q * s->N + n])) {
                fprintf(wout(), "fail wrong result at %zux%zux%zu: C[%zu,%zu] = %g, expected %g\n", s->M, s->N, s->K,
                        s->rows[q], n, got, want);
                fflush(wout());
                return 1;
            }
        }
    if (!s->timed) return 0;
    /* the first call compiled for its work-group size; other processes come and go: the
     * fastest of a few calls is the product's own time */
    *secs = INFINITY;
    int reps = first > 0.2 ? 2 : first > 0.05 ? 3 : 5;
    double spent = 0;
    for (int r = 0; r < reps || (spent < 0.05 && r < 50); r++) {
        t0 = cli_now();
        st = worker_gemm(w, s, &L);
        fin = clFinish(w->o->queue);
        double dt = cli_now() - t0;
        if (st) return wfail("%s", clipcl_errmsg());
        if (fin != CL_SUCCESS) return wfail("clFinish: %s", ocl_errstr(fin));
        spent += dt;
        if (dt < *secs) *secs = dt;
    }
    return 0;
}

static int parse_dims(const char *p, size_t *M, size_t *N, size_t *K, float *beta, int *fm, double *weight, int *idx)
{
    unsigned long m, n, k;
    int b, used = 0;
    if (idx) {
        if (sscanf(p, "%d %lu %lu %lu %d %lf%n", idx, &m, &n, &k, &b, weight, &used) != 6 || *idx < 0 ||
            *idx >= MAX_SHAPES || !(*weight >= 0 && *weight < 1e9))
            return -1;
    } else if (sscanf(p, "%lu %lu %lu %d%n", &m, &n, &k, &b, &used) != 4) {
        return -1;
    }
    if (p[used] || !m || !n || !k || m > DIM_MAX || n > DIM_MAX || k > DIM_MAX || b < 0 || b > 3 ||
        (double)m * k > ELEMS_MAX || (double)n * k > ELEMS_MAX || (double)m * n > ELEMS_MAX)
        return -1;
    *M = m, *N = n, *K = k, *beta = (float)(b & 1), *fm = b >> 1;
    return 0;
}

/* Measures one candidate as the spec (see evaluate()) says; writes "t IDX SECONDS" per timed
 * shape, then "ok", "pruned" or "fail REASON" to wout(). spec is modified. */
static int worker_run(char *spec)
{
    worker_state w;
    memset(&w, 0, sizeof w);
    char *save = NULL;
    char device[32] = "";
    double bound = INFINITY;
    tune_set set;
    memset(&set, 0, sizeof set);
    int rc = 1;
    for (char *line = strtok_r(spec, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!strncmp(line, "device ", 7)) {
            snprintf(device, sizeof device, "%s", line + 7);
        } else if (!strncmp(line, "shape ", 6) || !strncmp(line, "check ", 6)) {
            if (w.n == MAX_SHAPES + MAX_CHECKS) return wfail("%s", "too many shapes");
            wshape *s = &w.s[w.n];
            memset(s, 0, sizeof *s);
            s->timed = line[0] == 's';
            s->idx = -1;
            if (parse_dims(line + 6, &s->M, &s->N, &s->K, &s->beta, &s->fm, &s->weight, s->timed ? &s->idx : NULL))
                return wfail("bad spec line '%s'", line);
            w.n++;
        } else if (!strncmp(line, "bound ", 6)) {
            bound = strcmp(line + 6, "inf") ? strtod(line + 6, NULL) : INFINITY;
        } else if (!strncmp(line, "kernel ", 7)) {
            char *sp = strchr(line + 7, ' ');
            if (sp) *sp = '\0';
            int k = tune_kernel_index(line + 7);
            if (k < 0 || !sp || tune_parse(k, sp + 1, set.v[k])) return wfail("bad spec line '%s'", line + 7);
            set.have[k] = 1;
        } else {
            return wfail("bad spec line '%s'", line);
        }
    }
    /* nothing may be applied but the candidate */
    setenv("CLIPCL_TUNING", "0", 1);
    clipcl_context_params cp = clipcl_context_default_params();
    cp.device = device[0] ? device : NULL;
    if (clipcl_context_create(&cp, &w.ctx)) {
        rc = wfail("%s", clipcl_errmsg());
        goto done;
    }
    w.o = &w.ctx->cl;
    tune_limits lim;
    if (tune_limits_query(w.o, &lim)) {
        rc = wfail("%s", clipcl_errmsg());
        goto done;
    }
    for (int k = 0; k < TUNE_NKERNELS; k++) {
        char why[200];
        if (!set.have[k]) continue;
        if (tune_valid(k, set.v[k], &lim, why, sizeof why)) {
            rc = wfail("%s", why);
            goto done;
        }
        if (tune_override(w.o, k, set.v[k])) {
            rc = wfail("%s", clipcl_errmsg());
            goto done;
        }
    }
    /* the token tile of feature-major operands and the weights' layout follow the
       candidate's Xgemm, as they will in every context once the candidate is applied */
    ops_set_gemm(&w.ctx->k, (int)tune_get(&set, TUNE_XGEMM, "GEMMK"), (int)tune_get(&set, TUNE_XGEMM, "MWG"),
                 (int)tune_get(&set, TUNE_XGEMM, "NWG"));
    /* clipcl's own kernels only where the candidate says so ($CLIPCL_GEMM_SMALL and
       $CLIPCL_GEMM_TILE are ignored) */
    w.ctx->k.small_tokens = set.have[TUNE_OWN] ? (int)set.v[TUNE_OWN][0] : 0;
    w.ctx->k.tile_forced = 0;
    ops_tile tile = w.ctx->k.tile;
    tile.min_tokens = 0;
    if (set.have[TUNE_TILE]) tile = tune_tile(set.v[TUNE_TILE]);
    ops_set_tile(&w.ctx->k, &tile);
    if ((rc = worker_setup(&w))) goto done;
    double sum = 0;
    rc = 1;
    for (int i = 0; i < w.n; i++) {
        double secs;
        if (worker_measure(&w, &w.s[i], &secs)) goto done;
        if (!w.s[i].timed) continue;
        /* which kernel ran it: CLBlast, or one of clipcl's (c: few tokens, t: tiled) */
        const ops_fm L = ops_fm_layout(&w.ctx->k, (int)w.s[i].M);
        const char *who = !w.s[i].fm                         ? "b"
                          : ops_gemm_small(&w.ctx->k, &L) ? "c"
                          : ops_gemm_tile(&w.ctx->k, &L)  ? "t"
                                                          : "b";
        fprintf(wout(), "t %d %.9f %s\n", w.s[i].idx, secs, who);
        fflush(wout());
        sum += w.s[i].weight * secs;
        if (sum > bound) {
            fprintf(wout(), "pruned\n");
            rc = 0;
            goto done;
        }
    }
    fprintf(wout(), "ok\n");
    rc = 0;
done:
    fflush(wout());
    for (int i = 0; i < w.n; i++) free(w.s[i].ref), free(w.s[i].tol);
    if (w.o) {
        ocl_release(w.o, &w.A);
        ocl_release(w.o, &w.B);
        ocl_release(w.o, &w.Bt);
        ocl_release(w.o, &w.C);
    }
    free(w.a), free(w.b), free(w.c0), free(w.c), free(w.fa), free(w.fc), free(w.bt);
    clipcl_context_free(w.ctx);
    return rc;
}

/* `clipcl tune --worker`: worker_run on a spec read from stdin. */
static int worker(void)
{
    char *spec = malloc(SPEC_MAX + 1);
    if (!spec) return wfail("%s", "out of memory");
    size_t len = fread(spec, 1, SPEC_MAX + 1, stdin);
    int rc = len > SPEC_MAX ? wfail("%s", "spec too long") : (spec[len] = '\0', worker_run(spec));
    free(spec);
    return rc;
}

/* ------------------------------------------------------------------ shapes */

typedef struct shape {
    size_t M, N, K;
    float beta;
    int fm;        /* made by ops_gemm_fm (feature-major) */
    int batch;     /* the batch size it belongs to */
    double calls;  /* calls per encoded item at that batch size */
    double weight; /* its share of the search's objective (see normalise()) */
    char what[48];
    double before, after; /* seconds per call */
} shape;

typedef struct cand {
    tune_set set;
    double t[MAX_SHAPES]; /* fastest seconds per call seen; 0 = not measured */
    char who[MAX_SHAPES]; /* the kernel the worker ran: 'b' CLBlast, 'c' clipcl's for few tokens, 't' tiled */
    double total;         /* weighted sum; INFINITY when rejected or stopped early */
} cand;

typedef struct tuner {
    int dev_index;
    int in_process; /* candidates run in this process (--in-process) */
    double ref;     /* the objective of CLBlast's own parameters */
    tune_limits lim;
    shape s[MAX_SHAPES];
    int n, order[MAX_SHAPES];
    size_t checks[MAX_CHECKS][4]; /* M N K flags: verified in the final run only */
    int n_checks;
    char self[4096];
    uint64_t rng;
    int quiet, evals;
    double t0, budget, timeout, phase_end; /* phase_end: 0 outside the searches */
    tune_set seen[MAX_SEEN];
    int n_seen;
} tuner;

static void add_shape(tuner *t, size_t M, size_t N, size_t K, float beta, int fm, int batch, double calls,
                      const char *what)
{
    for (int i = 0; i < t->n; i++) {
        shape *s = &t->s[i];
        if (s->M == M && s->N == N && s->K == K && s->beta == beta && s->fm == fm && s->batch == batch) {
            s->calls += calls;
            s->weight = s->calls;
            return;
        }
    }
    if (t->n == MAX_SHAPES) return;
    shape *s = &t->s[t->n++];
    memset(s, 0, sizeof *s);
    s->M = M, s->N = N, s->K = K, s->beta = beta, s->fm = fm, s->batch = batch, s->calls = s->weight = calls;
    snprintf(s->what, sizeof s->what, "%s", what);
}

/* The products enc.c makes for one tower at batch B (see blocks(), project(), vision_chunk()). */
static void tower_shapes(tuner *t, const tower_cfg *c, int E, int vision, int B)
{
    const char *name = vision ? "image" : "text";
    char what[48];
    size_t T = vision ? (size_t)(c->image_size / c->patch_size) * (c->image_size / c->patch_size) + 1 : (size_t)c->ctx;
    size_t rows = (size_t)B * T, W = (size_t)c->width, I = (size_t)c->ff;
    double per = (double)c->layers / B;
    snprintf(what, sizeof what, "%s qkv b%d", name, B);
    add_shape(t, rows, 3 * W, W, 0.0f, 1, B, per, what);
    snprintf(what, sizeof what, "%s out b%d", name, B);
    add_shape(t, rows, W, W, 1.0f, 1, B, per, what);
    snprintf(what, sizeof what, "%s fc1 b%d", name, B);
    add_shape(t, rows, I, W, 0.0f, 1, B, per, what);
    snprintf(what, sizeof what, "%s fc2 b%d", name, B);
    add_shape(t, rows, W, I, 1.0f, 1, B, per, what);
    if (vision) { /* on the blocks' layout too, over every token (zeros at the class tokens) */
        snprintf(what, sizeof what, "image patches b%d", B);
        add_shape(t, rows, W, (size_t)c->channels * c->patch_size * c->patch_size, 0.0f, 1, B, 1.0 / B, what);
    }
    snprintf(what, sizeof what, "%s proj b%d", name, B);
    add_shape(t, (size_t)B, (size_t)E, W, 0.0f, 0, B, 1.0 / B, what);
}

/* Other batch sizes for the final check: the same N, K and beta with other row counts. */
static void add_checks(tuner *t)
{
    static const size_t Ms[] = {2, 17, 231, 800};
    for (int i = 0; i < t->n; i++) {
        int dup = 0;
        for (int j = 0; j < i; j++)
            dup |= t->s[j].N == t->s[i].N && t->s[j].K == t->s[i].K && t->s[j].beta == t->s[i].beta &&
                   t->s[j].fm == t->s[i].fm;
        for (size_t m = 0; !dup && m < sizeof Ms / sizeof *Ms && t->n_checks < MAX_CHECKS; m++) {
            size_t *c = t->checks[t->n_checks++];
            c[0] = Ms[m], c[1] = t->s[i].N, c[2] = t->s[i].K, c[3] = (t->s[i].beta != 0) | t->s[i].fm << 1;
        }
    }
}

/* ------------------------------------------------------------------ evaluating in a worker */

static double flops(const shape *s) { return 2.0 * (double)s->M * s->N * s->K; }

/* GEMM seconds per encoded item at one batch size. */
static double per_item(const tuner *t, const double *secs, int batch)
{
    double sum = 0;
    for (int i = 0; i < t->n; i++)
        if (t->s[i].batch == batch) sum += t->s[i].calls * secs[i];
    return sum;
}

/* The objective is the sum over batch sizes of the time per item relative to CLBlast's own
 * parameters. Plain time per item would let batch 1 outweigh batch 256 by the ratio of
 * their per-item costs: an H200 search that way stored parameters 20 % faster at batch 1
 * and 12 % slower at batch 256. */
static void normalise(tuner *t, const double *before)
{
    for (int i = 0; i < t->n; i++) {
        double g = per_item(t, before, t->s[i].batch);
        t->s[i].weight = g > 0 ? t->s[i].calls / g : t->s[i].calls;
    }
}

static double weighted(const tuner *t, const double *secs)
{
    double sum = 0;
    for (int i = 0; i < t->n; i++) sum += t->s[i].weight * secs[i];
    return sum;
}

static int append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static int append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= cap - *len) return -1;
    *len += (size_t)w;
    return 0;
}

/* The worker's answer: its output, the signal that ended it (0: none) and its exit status
 * (-1: none). Returns 0 measured, 1 stopped early, -1 rejected (why says why). */
static int read_answer(tuner *t, cand *c, char *out, int sig, int code, char *why, size_t cap)
{
    int verdict = -1; /* from the last line */
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int idx;
        double secs;
        char who = 'b';
        if (sscanf(line, "t %d %lf %c", &idx, &secs, &who) >= 2 && idx >= 0 && idx < t->n && secs > 0) {
            if (!c->t[idx] || secs < c->t[idx]) c->t[idx] = secs;
            c->who[idx] = who;
        } else if (!strcmp(line, "ok")) {
            verdict = 0;
        } else if (!strcmp(line, "pruned")) {
            verdict = 1;
        } else if (!strncmp(line, "fail ", 5)) {
            snprintf(why, cap, "%s", line + 5);
            verdict = -2;
        }
    }
    /* a worker that crashes, even after "ok", has run a kernel that broke its process */
    if (sig) {
        snprintf(why, cap, "the worker crashed (signal %d)", sig);
        return -1;
    }
    if (verdict == -2) return -1;
    if (verdict < 0 || code) {
        snprintf(why, cap, "the worker ended without a result (exit status %d)", code);
        return -1;
    }
    if (verdict == 0) {
        for (int i = 0; i < t->n; i++)
            if (!c->t[i]) {
                snprintf(why, cap, "the worker skipped a shape");
                return -1;
            }
        c->total = weighted(t, c->t);
    }
    return verdict;
}

/* Runs set (NULL: CLBlast's own parameters) in a worker on every shape, keeping the fastest
 * time per shape in c->t; the worker stops once the weighted sum passes bound. With final,
 * the other batch sizes are checked too. Returns 0 measured, 1 stopped early, -1 rejected. */
static int evaluate(tuner *t, cand *c, const tune_set *set, double bound, int final, char *why, size_t cap)
{
    t->evals++;
    c->total = INFINITY;
    char *spec = malloc(SPEC_MAX);
    if (!spec) {
        snprintf(why, cap, "out of memory");
        return -1;
    }
    size_t len = 0;
    int bad = append(spec, SPEC_MAX, &len, "device %d\n", t->dev_index);
    for (int j = 0; j < t->n; j++) {
        const shape *s = &t->s[t->order[j]];
        bad |= append(spec, SPEC_MAX, &len, "shape %d %zu %zu %zu %d %.17g\n", t->order[j], s->M, s->N, s->K,
                      (s->beta != 0) | s->fm << 1, s->weight);
    }
    for (int j = 0; final && j < t->n_checks; j++)
        bad |= append(spec, SPEC_MAX, &len, "check %zu %zu %zu %zu\n", t->checks[j][0], t->checks[j][1],
                      t->checks[j][2], t->checks[j][3]);
    if (isinf(bound)) bad |= append(spec, SPEC_MAX, &len, "bound inf\n");
    else bad |= append(spec, SPEC_MAX, &len, "bound %.17g\n", bound);
    for (int k = 0; set && k < TUNE_NKERNELS; k++) {
        char p[512];
        if (!set->have[k]) continue;
        tune_format(k, set->v[k], p, sizeof p);
        bad |= append(spec, SPEC_MAX, &len, "kernel %s %s\n", tune_kernel_name(k), p);
    }
    if (bad) {
        free(spec);
        snprintf(why, cap, "worker spec too long");
        return -1;
    }

    int to_child[2] = {-1, -1}, from_child[2] = {-1, -1}, result = -1;
    pid_t pid = -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (t->in_process) {
        char *answer = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&answer, &n);
        if (!f) {
            snprintf(why, cap, "open_memstream: %s", strerror(errno));
            goto out;
        }
        wout_stream = f;
        int code = worker_run(spec);
        wout_stream = NULL;
        fclose(f);
        result = read_answer(t, c, answer, 0, code, why, cap);
        free(answer);
        goto out;
    }
    if (pipe(to_child) || pipe(from_child)) {
        snprintf(why, cap, "pipe: %s", strerror(errno));
        goto out;
    }
    posix_spawn_file_actions_adddup2(&fa, to_child[0], 0);
    posix_spawn_file_actions_adddup2(&fa, from_child[1], 1);
    posix_spawn_file_actions_addclose(&fa, to_child[0]);
    posix_spawn_file_actions_addclose(&fa, to_child[1]);
    posix_spawn_file_actions_addclose(&fa, from_child[0]);
    posix_spawn_file_actions_addclose(&fa, from_child[1]);
    /* see run_child in cmd_bench.c: the worker gets stdio only */
    posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
    char *args[] = {t->self, "tune", "--worker", NULL};
    int e = posix_spawn(&pid, t->self, &fa, NULL, args, environ);
    close(to_child[0]);
    close(from_child[1]);
    to_child[0] = from_child[1] = -1;
    if (e) {
        pid = -1;
        snprintf(why, cap, "cannot start the worker (%.200s): %s", t->self, strerror(e));
        goto out;
    }
    /* the spec is far below a pipe's buffer, so this cannot block on a stuck worker */
    ssize_t wr = write(to_child[1], spec, len);
    close(to_child[1]);
    to_child[1] = -1;
    if (wr != (ssize_t)len) {
        snprintf(why, cap, "writing to the worker failed");
        goto out;
    }
    char out[8192];
    size_t got = 0;
    /* a candidate may compile for minutes (huge unrolled tiles) or hang: cap its time, and
     * let it overrun the search budget only a little */
    double limit = t->timeout;
    if (t->phase_end > 0 && t->phase_end + 60 - cli_now() < limit) limit = t->phase_end + 60 - cli_now();
    if (limit < 90) limit = 90;
    double deadline = cli_now() + limit;
    for (;;) {
        double left = deadline - cli_now();
        if (left <= 0) {
            snprintf(why, cap, "no answer within %.0f s (killed)", limit);
            goto out;
        }
        struct pollfd pfd = {from_child[0], POLLIN, 0};
        int pr = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) continue;
        ssize_t r = read(from_child[0], out + got, sizeof out - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
        if (got == sizeof out - 1) break;
    }
    out[got] = '\0';
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    pid = -1;
    result = read_answer(t, c, out, WIFSIGNALED(status) ? WTERMSIG(status) : 0,
                         WIFEXITED(status) ? WEXITSTATUS(status) : -1, why, cap);
out:
    if (pid > 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
    for (int i = 0; i < 2; i++) {
        if (to_child[i] >= 0) close(to_child[i]);
        if (from_child[i] >= 0) close(from_child[i]);
    }
    posix_spawn_file_actions_destroy(&fa);
    free(spec);
    return result;
}

/* ------------------------------------------------------------------ the search */

static int seen_before(tuner *t, const tune_set *s)
{
    for (int i = 0; i < t->n_seen; i++)
        if (!memcmp(&t->seen[i], s, sizeof *s)) return 1;
    if (t->n_seen < MAX_SEEN) t->seen[t->n_seen++] = *s;
    return 0;
}

static void progress(const tuner *t, const char *phase, int kernel, const tune_set *set, const cand *c, int rc,
                     const char *why, double best)
{
    if (t->quiet) return;
    char p[512];
    tune_format(kernel, set->v[kernel], p, sizeof p);
    fprintf(stderr, "[%4.0fs %s %3d] %s: ", cli_now() - t->t0, phase, t->evals, p);
    if (rc < 0) fprintf(stderr, "rejected: %s\n", why);
    else if (rc > 0) fprintf(stderr, "slower (stopped early)\n");
    else fprintf(stderr, "%.3f of CLBlast's time%s\n", c->total / t->ref, c->total < best ? "  (best so far)" : "");
}

/* Searches one kernel's parameters with the others fixed as in base; *best gets the winner
 * (total INFINITY when nothing valid was found). */
static void search(tuner *t, const char *phase, int kernel, const tune_set *base, const tune_set *seeds, int n_seeds,
                   double deadline, cand *best)
{
    enum { TOP = 3 };
    cand top[TOP]; /* fastest first */
    memset(top, 0, sizeof top);
    for (int i = 0; i < TOP; i++) top[i].total = INFINITY;
    char why[512];
    t->phase_end = deadline;
    for (int it = 0;; it++) {
        if (it > 0 && cli_now() >= deadline) break;
        tune_set set = *base;
        if (it < n_seeds) {
            memcpy(set.v[kernel], seeds[it].v[kernel], sizeof set.v[kernel]);
        } else if (top[0].total < INFINITY && (it - n_seeds) % 3 != 2) {
            /* mostly small moves around the best, every third a fresh random point */
            tune_mutate(kernel, &t->rng, &t->lim, top[0].set.v[kernel], set.v[kernel]);
        } else {
            tune_random(kernel, &t->rng, &t->lim, set.v[kernel]);
        }
        set.have[kernel] = 1;
        if (seen_before(t, &set)) continue;
        if (tune_valid(kernel, set.v[kernel], &t->lim, why, sizeof why)) {
            progress(t, phase, kernel, &set, NULL, -1, why, top[0].total);
            continue;
        }
        cand c;
        memset(&c, 0, sizeof c);
        c.set = set;
        int rc = evaluate(t, &c, &set, top[TOP - 1].total, 0, why, sizeof why);
        progress(t, phase, kernel, &set, &c, rc, why, top[0].total);
        if (rc == 0) {
            int pos = TOP - 1;
            while (pos > 0 && c.total < top[pos - 1].total) pos--;
            memmove(top + pos + 1, top + pos, (size_t)(TOP - 1 - pos) * sizeof *top);
            top[pos] = c;
        }
    }
    t->phase_end = 0;
    /* a busy machine can make one run lucky or unlucky: measure the leaders again and keep
     * each shape's fastest time (interference only ever slows a run down) */
    for (int i = 0; i < TOP && top[i].total < INFINITY; i++) {
        int rc = evaluate(t, &top[i], &top[i].set, INFINITY, 0, why, sizeof why);
        if (rc) top[i].total = INFINITY;
        if (!t->quiet) {
            fprintf(stderr, "[%4.0fs %s] measured again, #%d: ", cli_now() - t->t0, phase, i + 1);
            if (rc) fprintf(stderr, "rejected: %s\n", why);
            else fprintf(stderr, "%.3f of CLBlast's time\n", top[i].total / t->ref);
        }
    }
    *best = top[0];
    for (int i = 1; i < TOP; i++)
        if (top[i].total < best->total) *best = top[i];
}

/* smallest S with S^3 > mnk: CLBlast goes direct when M*N*K < S^3 */
static unsigned cube_root_above(double mnk)
{
    unsigned s = (unsigned)cbrt(mnk);
    while ((double)s * s * s <= mnk) s++;
    while (s > 1 && (double)(s - 1) * (s - 1) * (s - 1) > mnk) s--;
    return s;
}

/* ------------------------------------------------------------------ --show */

static int show(const char *device)
{
    clipcl_context *ctx = NULL;
    clipcl_context_params cp = clipcl_context_default_params();
    cp.device = device;
    clipcl_status st = clipcl_context_create(&cp, &ctx);
    if (st) return cli_lib_fail(CMD, "opening the OpenCL device", st);
    ocl *o = &ctx->cl;
    char desc[700], path[4200], note[512] = "", why[700] = "";
    tune_set applied, builtin, file;
    tune_status(o, desc, sizeof desc);
    tune_applied(o, &applied);
    const char *label = tune_builtin(&o->info, &builtin);
    int have_file = 0;
    tune_limits lim;
    if (tune_file_path(&o->info, 0, path, sizeof path)) {
        snprintf(path, sizeof path, "(none: %s)", clipcl_errmsg());
    } else if (access(path, F_OK)) {
        snprintf(why, sizeof why, "absent");
    } else if (tune_limits_query(o, &lim) || tune_file_read(path, &o->info, &lim, &file, note, sizeof note)) {
        snprintf(why, sizeof why, "ignored: %s", clipcl_errmsg());
    } else {
        have_file = 1;
        snprintf(why, sizeof why, "valid");
    }
    printf("device   %s (%s, driver %s)\n", o->info.name, o->info.platform, o->info.driver);
    printf("applied  %s\n", desc);
    for (int k = 0; k < TUNE_NKERNELS; k++) {
        char p[512];
        if (k == TUNE_OWN) /* what the context uses, $CLIPCL_GEMM_SMALL included */
            snprintf(p, sizeof p, "SMALL_TOKENS=%d%s", ctx->k.small_tokens,
                     ctx->k.small_forced ? " ($CLIPCL_GEMM_SMALL)" : applied.have[k] ? "" : " (off)");
        else if (k == TUNE_TILE) { /* likewise, $CLIPCL_GEMM_TILE included */
            const ops_tile *g = &ctx->k.tile;
            snprintf(p, sizeof p, "MIN_TOKENS=%d LOCAL=%d NF=%d TT=%d RF=%d RT=%d KB=%d%s", g->min_tokens, g->local,
                     g->nf, g->tt, g->rf, g->rt, g->kb,
                     ctx->k.tile_forced ? " ($CLIPCL_GEMM_TILE)" : g->min_tokens ? "" : " (off)");
        } else if (applied.have[k]) tune_format(k, applied.v[k], p, sizeof p);
        else snprintf(p, sizeof p, "(CLBlast's own)");
        printf("  %-12s %s\n", tune_kernel_name(k), p);
    }
    printf("built-in %s%s\n", label, strcmp(label, "default") ? "" : " (nothing: CLBlast's database)");
    printf("file     %s  [%s]\n", path, why);
    if (have_file && note[0]) printf("         %s\n", note);
    clipcl_context_free(ctx);
    return 0;
}

/* ------------------------------------------------------------------ command */

static void seed_sets(int kernel, const tune_set *builtin, const tune_set *file, const char *const *extra, int n_extra,
                      tune_set *out, int *n)
{
    *n = 0;
    if (file && file->have[kernel]) out[(*n)++] = *file;
    if (builtin->have[kernel]) out[(*n)++] = *builtin;
    for (int i = 0; i < n_extra; i++) {
        memset(&out[*n], 0, sizeof out[*n]);
        if (tune_parse(kernel, extra[i], out[*n].v[kernel]) == CLIPCL_OK) (*n)++;
    }
}

int cmd_tune(int argc, char **argv)
{
    static const struct option opts[] = {
        {"arch", required_argument, 0, 'a'},  {"budget", required_argument, 0, 'b'},
        {"tower", required_argument, 0, 't'}, {"seed", required_argument, 0, 's'},
        {"no-save", no_argument, 0, 'n'},     {"show", no_argument, 0, 'S'},
        {"worker", no_argument, 0, 'W'},      {"help", no_argument, 0, 'h'},
        {"in-process", no_argument, 0, 'I'},
        CLI_COMMON_LONGOPTS,                  {0, 0, 0, 0}};
    cli_opts o = {0};
    const char *arch = NULL;
    double budget = 600;
    int towers = 3, no_save = 0, do_show = 0, in_process = 0, c;
    uint64_t seed = 0;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "h", opts, NULL)) != -1) {
        int r = cli_common_opt(CMD, c, optarg, &o);
        if (r >= 0) {
            if (r) return r;
            continue;
        }
        switch (c) {
        case 'a': arch = optarg; break;
        case 'b':
            budget = strtod(optarg, &end);
            if (*end || !(budget >= 1 && budget <= 7 * 86400.0))
                return cli_fail(2, CMD, "--budget '%s' must be seconds in 1..604800", optarg);
            break;
        case 't':
            towers = !strcmp(optarg, "image") ? 1 : !strcmp(optarg, "text") ? 2 : !strcmp(optarg, "both") ? 3 : 0;
            if (!towers) return cli_fail(2, CMD, "--tower must be image, text or both");
            break;
        case 's':
            seed = strtoull(optarg, &end, 10);
            if (*end || !*optarg) return cli_fail(2, CMD, "--seed '%s' must be a number", optarg);
            break;
        case 'n': no_save = 1; break;
        case 'I': in_process = 1; break;
        case 'S': do_show = 1; break;
        case 'W': return worker();
        case 'h': help(stdout); return 0;
        default: help(stderr); return 2;
        }
    }
    if (optind != argc) return cli_fail(2, CMD, "unexpected argument '%s' (see --help)", argv[optind]);
    if (do_show) return show(o.device);
    if (arch && o.model) return cli_fail(2, CMD, "give either -m or --arch, not both");

    model_cfg cfg;
    const char *model_name;
    if (o.model) {
        char dir[4096], path[4200];
        if (hub_resolve_model(o.model, 1, dir, sizeof dir)) return 2;
        snprintf(path, sizeof path, "%s/config.json", dir);
        if (access(path, R_OK))
            return cli_fail(2, CMD, "%s: no config.json (for other layouts give the architecture with --arch)", dir);
        if (cfg_load(path, &cfg)) return cli_fail(2, CMD, "%s", clipcl_errmsg());
        model_name = o.model;
    } else {
        model_name = arch ? arch : "ViT-B/32";
        if (synth_arch(model_name, &cfg)) return cli_fail(2, CMD, "%s", clipcl_errmsg());
    }
    const int batch = o.batch ? o.batch : 8;
    if (batch > 1024) return cli_fail(2, CMD, "--batch %d: tune for at most 1024", batch);

    tuner *t = calloc(1, sizeof *t);
    if (!t) return cli_fail(2, CMD, "out of memory");
    int rc = 2;
    clipcl_context *ctx = NULL;
    clipcl_context_params cp = clipcl_context_default_params();
    cp.device = o.device;
    /* in-process, nothing may be applied before CLBlast's own parameters are measured */
    if (in_process) setenv("CLIPCL_TUNING", "0", 1);
    clipcl_status st = clipcl_context_create(&cp, &ctx);
    if (st) {
        rc = cli_lib_fail(CMD, "opening the OpenCL device", st);
        goto done;
    }
    clipcl_device_info dev_copy = ctx->cl.info;
    const clipcl_device_info *dev = &dev_copy;
    t->dev_index = dev->index;
    t->quiet = o.quiet;
    t->budget = budget;
    t->in_process = in_process;
    t->timeout = 900;
    t->rng = seed ? seed * 0x9E3779B97F4A7C15ull | 1 : ((uint64_t)time(NULL) << 20 ^ (uint64_t)getpid()) | 1;
    ssize_t sl = readlink("/proc/self/exe", t->self, sizeof t->self - 1);
    if (sl <= 0) {
        rc = cli_fail(2, CMD, "cannot find the clipcl executable (/proc/self/exe)");
        goto done;
    }
    t->self[sl] = '\0';
    if ((st = tune_limits_query(&ctx->cl, &t->lim))) {
        rc = cli_lib_fail(CMD, "querying the device", st);
        goto done;
    }
    /* The workers open the device themselves; this process need not hold it meanwhile. */
    clipcl_context_free(ctx);
    ctx = NULL;
    int sizes[2] = {1, batch}, n_sizes = batch == 1 ? 1 : 2;
    for (int b = 0; b < n_sizes; b++) {
        if (towers & 1) tower_shapes(t, &cfg.vision, cfg.embed_dim, 1, sizes[b]);
        if (towers & 2) tower_shapes(t, &cfg.text, cfg.embed_dim, 0, sizes[b]);
    }
    add_checks(t);
    for (int i = 0; i < t->n; i++) t->order[i] = i;
    /* a worker that dies before reading its spec must not take us with it */
    signal(SIGPIPE, SIG_IGN);
    if (!o.quiet)
        fprintf(stderr,
                "clipcl tune: %s on %s: %d shapes, budget %.0f s; each new candidate is compiled first "
                "(seconds to a minute on CPUs)\n",
                model_name, dev->name, t->n, budget);
    t->t0 = cli_now();

    /* CLBlast's own parameters; shapes are then visited most expensive first, so that slow
     * candidates are stopped early */
    char why[512];
    cand before;
    memset(&before, 0, sizeof before);
    if (evaluate(t, &before, NULL, INFINITY, 0, why, sizeof why)) {
        rc = cli_fail(1, CMD, "CLBlast's default GEMM fails on this device: %s%s", why,
                      !t->in_process && strstr(why, "no OpenCL device matches")
                          ? " (the worker process could not open the device: try --in-process)"
                          : "");
        goto done;
    }
    normalise(t, before.t);
    before.total = t->ref = weighted(t, before.t);
    double unweighted = 0;
    for (int i = 0; i < t->n; i++) t->s[i].before = before.t[i], unweighted += before.t[i];
    t->timeout = 180 + 10 * unweighted;
    for (int i = 1; i < t->n; i++)
        for (int j = i; j > 0 && t->s[t->order[j]].weight * before.t[t->order[j]] >
                                     t->s[t->order[j - 1]].weight * before.t[t->order[j - 1]]; j--) {
            int x = t->order[j];
            t->order[j] = t->order[j - 1];
            t->order[j - 1] = x;
        }
    if (!o.quiet)
        fprintf(stderr, "[%4.0fs] CLBlast defaults: GEMM %.2f ms per item at batch 1, %.2f at batch %d\n",
                cli_now() - t->t0, per_item(t, before.t, 1) * 1e3, per_item(t, before.t, batch) * 1e3, batch);

    tune_set builtin, file, seeds[8];
    int n_seeds, have_file = 0;
    tune_builtin(dev, &builtin);
    char path[4200];
    if (!tune_file_path(dev, 0, path, sizeof path) && !tune_file_read(path, dev, &t->lim, &file, NULL, 0)) have_file = 1;
    static const char *const xgemm_extra[] = {
        /* CLBlast's generic row; shared/README.md's 1024^3 tuner result; CLBlast's Intel CPU row */
        "GEMMK=0 KREG=1 KWG=32 KWI=2 MDIMA=8 MDIMC=8 MWG=32 NDIMB=16 NDIMC=16 NWG=32 SA=1 SB=1 STRM=0 STRN=0 VWM=4 VWN=2",
        "GEMMK=0 KREG=1 KWG=32 KWI=2 MDIMA=8 MDIMC=8 MWG=128 NDIMB=8 NDIMC=8 NWG=64 SA=1 SB=0 STRM=1 STRN=0 VWM=8 VWN=8",
        "GEMMK=0 KREG=1 KWG=32 KWI=2 MDIMA=16 MDIMC=16 MWG=64 NDIMB=8 NDIMC=8 NWG=64 SA=0 SB=0 STRM=0 STRN=0 VWM=4 VWN=4",
    };
    static const char *const direct_extra[] = {
        /* CLBlast's generic row; CLBlast's Intel CPU row */
        "KWID=2 MDIMAD=8 MDIMCD=8 NDIMBD=8 NDIMCD=8 PADA=1 PADB=1 VWMD=1 VWND=1 WGD=16",
        "KWID=2 MDIMAD=8 MDIMCD=8 NDIMBD=8 NDIMCD=8 PADA=1 PADB=1 VWMD=4 VWND=4 WGD=32",
    };
    /* the kernel for many tokens: its GPU form (gemm_fm_tile) with 8x8 results per
       work-item in 128x128 tiles, then shorter K tiles, narrower tiles (more work-groups where
       N is 768), a longer K tile, 4x4 results per item; its CPU form (gemm_fm_reg) for AVX-512
       (vectors of 16 tokens: 6x64 fills 24 of 32 registers, then 12x32, 8x48, 14x32) and for
       AVX2 (vectors of 8: 6x16 fills 12 of 16 registers; 5x16 about as fast on PoCL, 4x16,
       7x16, 4x24, 3x32 and 6x8 slower: bench/NOTES.md). The device's own kind goes first (a
       CPU with vectors of 16 floats its AVX-512 sets); the first set is always timed. */
    static const char *const tile_gpu[] = {
        "MIN_TOKENS=1 LOCAL=1 NF=128 TT=128 RF=8 RT=8 KB=16", "MIN_TOKENS=1 LOCAL=1 NF=128 TT=128 RF=8 RT=8 KB=8",
        "MIN_TOKENS=1 LOCAL=1 NF=64 TT=128 RF=8 RT=8 KB=16",  "MIN_TOKENS=1 LOCAL=1 NF=128 TT=64 RF=8 RT=8 KB=16",
        "MIN_TOKENS=1 LOCAL=1 NF=128 TT=128 RF=8 RT=8 KB=32", "MIN_TOKENS=1 LOCAL=1 NF=64 TT=128 RF=4 RT=8 KB=16",
        "MIN_TOKENS=1 LOCAL=1 NF=64 TT=64 RF=4 RT=4 KB=16",
    };
    static const char *const tile_avx512[] = {
        "MIN_TOKENS=1 LOCAL=0 NF=6 TT=64 RF=6 RT=16 KB=1",   "MIN_TOKENS=1 LOCAL=0 NF=12 TT=32 RF=12 RT=16 KB=1",
        "MIN_TOKENS=1 LOCAL=0 NF=8 TT=48 RF=8 RT=16 KB=1",   "MIN_TOKENS=1 LOCAL=0 NF=14 TT=32 RF=14 RT=16 KB=1",
    };
    static const char *const tile_avx2[] = {
        "MIN_TOKENS=1 LOCAL=0 NF=6 TT=16 RF=6 RT=8 KB=1", "MIN_TOKENS=1 LOCAL=0 NF=5 TT=16 RF=5 RT=8 KB=1",
        "MIN_TOKENS=1 LOCAL=0 NF=4 TT=16 RF=4 RT=8 KB=1", "MIN_TOKENS=1 LOCAL=0 NF=4 TT=24 RF=4 RT=8 KB=1",
    };
    const char *const *groups[3] = {tile_gpu, tile_avx2, tile_avx512};
    const size_t group_n[3] = {sizeof tile_gpu / sizeof *tile_gpu, sizeof tile_avx2 / sizeof *tile_avx2,
                             sizeof tile_avx512 / sizeof *tile_avx512};
    /* the device's kind first, then the other CPU kind, the GPU sets last on CPUs */
    static const int orders[3][3] = {{0, 1, 2}, {1, 2, 0}, {2, 1, 0}};
    const int *order = orders[!dev->is_cpu ? 0 : dev->vector_width >= 16 ? 2 : 1];
    const char *tile_sets[sizeof tile_gpu / sizeof *tile_gpu + sizeof tile_avx2 / sizeof *tile_avx2 +
                          sizeof tile_avx512 / sizeof *tile_avx512];
    size_t n_tile = 0;
    for (int g = 0; g < 3; g++)
        for (size_t i = 0; i < group_n[order[g]]; i++) tile_sets[n_tile++] = groups[order[g]][i];
    tune_set base;
    memset(&base, 0, sizeof base);
    base.have[TUNE_XGEMM_DIRECT] = base.have[TUNE_GEMM_ROUTINE] = 1;
    tune_parse(TUNE_XGEMM_DIRECT, direct_extra[0], base.v[TUNE_XGEMM_DIRECT]);
    base.v[TUNE_GEMM_ROUTINE][0] = 0; /* every product indirect */
    seed_sets(TUNE_XGEMM, &builtin, have_file ? &file : NULL, xgemm_extra, 3, seeds, &n_seeds);
    double now = cli_now(), left = budget - (now - t->t0);
    cand ind, dir;
    search(t, "indirect", TUNE_XGEMM, &base, seeds, n_seeds, now + 0.6 * left, &ind);
    if (ind.total == INFINITY) {
        rc = cli_fail(1, CMD, "no Xgemm parameters worked on this device");
        goto done;
    }
    /* the indirect kernel's transposing copies: 9-13 % of the PoCL image tower with CLBlast's
       generic values while the blocks were row-major (bench/NOTES.md, sixth session); now
       only the row-major products (patch embedding, projections, ResNet) copy */
    static const char *const padtra_extra[] = {
        "PADTRA_PAD=0 PADTRA_TILE=8 PADTRA_WPT=4", /* CLBlast's generic row */
        "PADTRA_PAD=0 PADTRA_TILE=16 PADTRA_WPT=1",
        "PADTRA_PAD=0 PADTRA_TILE=16 PADTRA_WPT=2",
    };
    seed_sets(TUNE_PADTRANSPOSE, &builtin, have_file ? &file : NULL, padtra_extra, 3, seeds, &n_seeds);
    now = cli_now();
    left = budget - (now - t->t0);
    cand pad;
    search(t, "transpose", TUNE_PADTRANSPOSE, &ind.set, seeds, n_seeds, now + 0.15 * left, &pad);
    /* in-process, CLBlast keeps the last copy parameters tried, so the phase's winner goes on
       either way (its seeds include CLBlast's generic set); with workers the built-in row or
       CLBlast's own competes again at the end */
    if (pad.total < INFINITY && (pad.total < ind.total || t->in_process)) ind = pad;
    base = ind.set;
    base.v[TUNE_GEMM_ROUTINE][0] = ALWAYS_DIRECT;
    seed_sets(TUNE_XGEMM_DIRECT, &builtin, have_file ? &file : NULL, direct_extra, 2, seeds, &n_seeds);
    now = cli_now();
    left = budget - (now - t->t0);
    search(t, "direct", TUNE_XGEMM_DIRECT, &base, seeds, n_seeds, now + 0.6 * left, &dir);

    /* threshold: direct below S^3 multiply-adds; try every split the shapes allow */
    unsigned best_s = 0;
    double best_cost = weighted(t, ind.t);
    if (dir.total < INFINITY)
        for (int i = 0; i < t->n; i++) {
            unsigned S = cube_root_above((double)t->s[i].M * t->s[i].N * t->s[i].K);
            double cost = 0;
            for (int j = 0; j < t->n; j++) {
                double mnk = (double)t->s[j].M * t->s[j].N * t->s[j].K;
                cost += t->s[j].weight * (mnk < (double)S * S * S ? dir.t[j] : ind.t[j]);
            }
            if (cost < best_cost || (cost == best_cost && S < best_s)) best_cost = cost, best_s = S;
        }
    tune_set fin = ind.set;
    if (dir.total < INFINITY) {
        memcpy(fin.v[TUNE_XGEMM_DIRECT], dir.set.v[TUNE_XGEMM_DIRECT], sizeof fin.v[0]);
        fin.have[TUNE_XGEMM_DIRECT] = 1;
    }
    fin.v[TUNE_GEMM_ROUTINE][0] = best_s;
    fin.have[TUNE_GEMM_ROUTINE] = 1;
    /* clipcl's own kernel (cl/gemm.cl) on every block product it can take (one chunk of
       tokens), then used up to the token count that gives the least cost */
    double mixed[MAX_SHAPES];
    for (int j = 0; j < t->n; j++) {
        double mnk = (double)t->s[j].M * t->s[j].N * t->s[j].K;
        mixed[j] = dir.total < INFINITY && mnk < (double)best_s * best_s * best_s ? dir.t[j] : ind.t[j];
    }
    tune_set own_set = fin;
    own_set.have[TUNE_OWN] = 1;
    own_set.v[TUNE_OWN][0] = TUNE_SMALL_MAX;
    cand own;
    memset(&own, 0, sizeof own);
    size_t small = 0;
    if (!o.quiet) fprintf(stderr, "[%4.0fs] clipcl's own kernel for few tokens\n", cli_now() - t->t0);
    if (evaluate(t, &own, &own_set, INFINITY, 0, why, sizeof why) == 0) {
        double best_cost = weighted(t, mixed);
        for (int i = 0; i < t->n; i++) {
            if (own.who[i] != 'c') continue;
            double cost = 0;
            for (int j = 0; j < t->n; j++)
                cost += t->s[j].weight * (own.who[j] == 'c' && t->s[j].M <= t->s[i].M ? own.t[j] : mixed[j]);
            if (cost < best_cost || (cost == best_cost && t->s[i].M < small)) best_cost = cost, small = t->s[i].M;
        }
        if (!o.quiet) {
            for (int j = 0; j < t->n; j++)
                if (own.who[j] == 'c' && own.t[j] > 0 && mixed[j] > 0)
                    fprintf(stderr, "        %-18s %7.1f GFLOP/s (CLBlast: %.1f)\n", t->s[j].what,
                            flops(&t->s[j]) / own.t[j] * 1e-9, flops(&t->s[j]) / mixed[j] * 1e-9);
            fprintf(stderr, "[%4.0fs] clipcl's own kernel: %s\n", cli_now() - t->t0,
                    small ? "used up to the tokens below" : "not faster, not used");
        }
    } else if (!o.quiet) {
        fprintf(stderr, "[%4.0fs] clipcl's own kernel rejected: %s\n", cli_now() - t->t0, why);
    }
    fin.v[TUNE_OWN][0] = small;
    fin.have[TUNE_OWN] = 1;
    /* clipcl's tiled kernel (gemm_fm_tile) for many tokens: a few tile sets, each timed on
       every block product, the best kept from the token count where it lowers the cost */
    double cur[MAX_SHAPES];
    for (int j = 0; j < t->n; j++) cur[j] = own.who[j] == 'c' && t->s[j].M <= small ? own.t[j] : mixed[j];
    tune_parse(TUNE_TILE, tune_clblast_default(TUNE_TILE), fin.v[TUNE_TILE]);
    fin.have[TUNE_TILE] = 1;
    size_t tile_from = 0;
    double tile_cost = weighted(t, cur);
    now = cli_now();
    t->phase_end = now + 0.5 * (budget - (now - t->t0));
    if (!o.quiet) fprintf(stderr, "[%4.0fs] clipcl's tiled kernel for many tokens\n", now - t->t0);
    for (size_t c = 0; c < sizeof tile_sets / sizeof *tile_sets && (c == 0 || cli_now() < t->phase_end); c++) {
        tune_set ts = fin;
        tune_parse(TUNE_TILE, tile_sets[c], ts.v[TUNE_TILE]);
        if (tune_valid(TUNE_TILE, ts.v[TUNE_TILE], &t->lim, why, sizeof why)) continue;
        cand tc;
        memset(&tc, 0, sizeof tc);
        /* shapes go most expensive first: a set far slower there stops early */
        if (evaluate(t, &tc, &ts, 4 * weighted(t, cur), 0, why, sizeof why) < 0) {
            if (!o.quiet) fprintf(stderr, "        %s rejected: %s\n", tile_sets[c], why);
            continue;
        }
        int better = 0;
        for (int i = 0; i < t->n; i++) {
            if (tc.who[i] != 't') continue;
            double cost = 0;
            for (int j = 0; j < t->n && cost < INFINITY; j++) {
                /* as the worker ran it; a shape it did not reach would have been tiled
                   unless the few-token kernel takes it */
                const int tiled = tc.who[j] ? tc.who[j] == 't' : t->s[j].fm && !(own.who[j] == 'c' && t->s[j].M <= small);
                const int use = tiled && t->s[j].M >= t->s[i].M;
                cost += t->s[j].weight * (!use ? cur[j] : tc.t[j] > 0 ? tc.t[j] : INFINITY);
            }
            if (cost < tile_cost) tile_cost = cost, tile_from = t->s[i].M, better = 1;
        }
        if (better) memcpy(fin.v[TUNE_TILE], ts.v[TUNE_TILE], sizeof fin.v[0]);
        if (!o.quiet) {
            fprintf(stderr, "        %s%s\n", tile_sets[c], better ? " (best so far)" : "");
            for (int j = 0; j < t->n; j++)
                if (tc.who[j] == 't' && tc.t[j] > 0)
                    fprintf(stderr, "          %-18s %7.1f GFLOP/s (now: %.1f)\n", t->s[j].what,
                            flops(&t->s[j]) / tc.t[j] * 1e-9, flops(&t->s[j]) / cur[j] * 1e-9);
        }
    }
    t->phase_end = 0;
    fin.v[TUNE_TILE][0] = tile_from;
    if (!o.quiet)
        fprintf(stderr, "[%4.0fs] clipcl's tiled kernel: %s\n", cli_now() - t->t0,
                tile_from ? "used from the tokens below" : "not faster, not used");
    /* the combination is a new program: check it on every shape and other batch sizes */
    cand after;
    memset(&after, 0, sizeof after);
    if (!o.quiet) fprintf(stderr, "[%4.0fs] final check of the combination\n", cli_now() - t->t0);
    if (evaluate(t, &after, &fin, INFINITY, 1, why, sizeof why)) {
        rc = cli_fail(1, CMD, "the chosen parameters failed their final check: %s", why);
        goto done;
    }
    /* Each kernel was searched with the other fixed, so one can win its phase on products
     * the threshold then sends to the other: on an H200, Xgemm won on batch-1 products
     * forced indirect and was slower than CLBlast's own on the batch-256 products it kept.
     * So what would apply without our search (built-in row, else CLBlast's own) competes
     * for each kernel too. Only in workers: in-process, CLBlast's own parameters are gone
     * after the first override. */
    for (int k = TUNE_XGEMM; !t->in_process && k < TUNE_NKERNELS; k++) {
        if (k == TUNE_GEMM_ROUTINE) continue;
        tune_set alt = fin;
        alt.have[k] = builtin.have[k];
        memcpy(alt.v[k], builtin.v[k], sizeof alt.v[k]);
        if (!memcmp(&alt, &fin, sizeof alt)) continue;
        cand c;
        memset(&c, 0, sizeof c);
        int rc_alt = evaluate(t, &c, &alt, INFINITY, 1, why, sizeof why);
        if (!o.quiet)
            fprintf(stderr, "[%4.0fs] with %s's %s instead: %s%.3f of CLBlast's time (the search's: %.3f)\n",
                    cli_now() - t->t0, builtin.have[k] ? "the built-in row" : "CLBlast", tune_kernel_name(k),
                    rc_alt ? "rejected, " : "", rc_alt ? 0.0 : c.total / t->ref, after.total / t->ref);
        if (!rc_alt && c.total < after.total) fin = alt, after = c;
    }
    /* both once more, alternating, so that they see the same machine load; each shape keeps
     * its fastest time */
    cand again = before;
    /* CLBlast keeps overrides for the life of the process: in-process, its own parameters
     * can only be measured before the first candidate */
    if (!t->in_process && evaluate(t, &again, NULL, INFINITY, 0, why, sizeof why) == 0) before = again;
    again = after;
    if (evaluate(t, &again, &fin, INFINITY, 0, why, sizeof why) == 0) after = again;
    for (int i = 0; i < t->n; i++) t->s[i].before = before.t[i];
    for (int i = 0; i < t->n; i++) t->s[i].after = after.t[i];

    printf("clipcl tune: %s on %s (%s, driver %s): %d runs in %.0f s\n", model_name, dev->name, dev->platform,
           dev->driver, t->evals, cli_now() - t->t0);
    printf("%-18s %-16s %6s %8s %8s  %s\n", "product", "MxNxK", "calls", "before", "after", "(GFLOP/s, calls per item)");
    for (int i = 0; i < t->n; i++) {
        const shape *s = &t->s[i];
        char mnk[40];
        snprintf(mnk, sizeof mnk, "%zux%zux%zu", s->M, s->N, s->K);
        printf("%-18s %-16s %6.2f %8.1f %8.1f  %s\n", s->what, mnk, s->calls, flops(s) / s->before * 1e-9,
               flops(s) / s->after * 1e-9,
               s->fm && fin.v[TUNE_OWN][0] && s->M <= fin.v[TUNE_OWN][0]                  ? "clipcl"
               : s->fm && fin.v[TUNE_TILE][0] && s->M >= fin.v[TUNE_TILE][0]              ? "tiled"
               : (double)s->M * s->N * s->K < (double)best_s * best_s * best_s ? "direct"
                                                                               : "indirect");
    }
    for (int b = 0; b < n_sizes; b++) {
        double pb = per_item(t, before.t, sizes[b]), pa = per_item(t, after.t, sizes[b]);
        printf("GEMM time per item at batch %d: %.3f ms before, %.3f ms after (x%.2f)\n", sizes[b], pb * 1e3, pa * 1e3,
               pb / pa);
    }
    for (int k = 0; k < TUNE_NKERNELS; k++) {
        char p[512];
        snprintf(p, sizeof p, "%s",
                 k == TUNE_OWN ? "SMALL_TOKENS=0 (off)" : k == TUNE_TILE ? "MIN_TOKENS=0 (off)" : "(CLBlast's own)");
        if (fin.have[k]) tune_format(k, fin.v[k], p, sizeof p);
        printf("  %-12s %s\n", tune_kernel_name(k), p);
    }
    rc = 0;
    if (after.total >= before.total) {
        printf("CLBlast's own parameters were not beaten; nothing stored.\n");
        goto done;
    }
    if (no_save) {
        printf("not stored (--no-save)\n");
        goto done;
    }
    char notes[1024], date[32];
    time_t now_t = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M", localtime(&now_t));
    snprintf(notes, sizeof notes,
             "clipcl %s tune, %s, %s, %d runs: GEMM ms per item before/after: batch 1 %.3f/%.3f, batch %d %.3f/%.3f",
             CLIPCL_VERSION, date, model_name, t->evals, per_item(t, before.t, 1) * 1e3, per_item(t, after.t, 1) * 1e3,
             batch, per_item(t, before.t, batch) * 1e3, per_item(t, after.t, batch) * 1e3);
    if ((st = tune_file_path(dev, 1, path, sizeof path)) || (st = tune_file_write(path, dev, &fin, notes))) {
        rc = cli_lib_fail(CMD, "storing the tuning file", st);
        goto done;
    }
    printf("stored in %s\n", path);
done:
    clipcl_context_free(ctx);
    free(t);
    return rc;
}
