/* ops.c — argument setup and launch geometry for the kernels in cl/, plus the CLBlast GEMM. */
#include "ops.h"

#include <clblast_c.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "err.h"

#define COL_TILE 64  /* 2-D element-wise launches: columns per work-group */
#ifndef NORM_WG_GPU
#define NORM_WG_GPU 128 /* work-items per row of norm.cl (a power of two) */
#endif
#ifndef NORM_WG_CPU
#define NORM_WG_CPU 16
#endif

#define FM_TT 8 /* tokens per work-group of layernorm_fm (cl/fm.cl) */
#ifndef FM_WG_CPU
#define FM_WG_CPU 1 /* work-items per group of layernorm_fm on CPUs: its vector form (cl/fm.cl) */
#endif
#ifndef FM_WG_GPU
#define FM_WG_GPU 512 /* ... on GPUs (at most): 64 lanes per token */
#endif

#ifndef GEMM_CPU_ROWS
#define GEMM_CPU_ROWS 128
#endif

/* A token count from the environment, at most max: 1 when the variable gave one. */
static int env_tokens(const char *name, unsigned long max, int *out)
{
    const char *env = getenv(name);
    if (!env || *env < '0' || *env > '9') return 0;
    unsigned long v = strtoul(env, NULL, 10);
    *out = (int)(v > max ? max : v);
    return 1;
}

/* Tokens per feature-major chunk unless the CPU form of the tiled GEMM wants its own (see
 * ops_set_tile): gemm_rows, one chunk (0) on GPUs. */
static int default_chunk(const ops *k) { return (int)(k->gemm_rows < 65536 ? k->gemm_rows : 65536); }

clipcl_status ops_init(ops *k, ocl *o)
{
    clipcl_status st;
    k->o = o;
    /* rows per GEMM call on CPUs (see ops_gemm_nt) */
    k->gemm_rows = o->info.is_cpu ? GEMM_CPU_ROWS : 0;
    const char *env = getenv("CLIPCL_GEMM_ROWS"); /* 0 = one call (for tuning experiments) */
    k->rows_forced = env && *env >= '0' && *env <= '9';
    if (k->rows_forced) k->gemm_rows = (size_t)strtoull(env, NULL, 10);
    /* tokens up to which cl/gemm.cl replaces CLBlast: tuning sets it (ctx.c); this variable,
       for experiments, wins over tuning */
    k->small_forced = env_tokens("CLIPCL_GEMM_SMALL", 65536, &k->small_tokens);
    /* the tiled kernel's sizes until tuning says otherwise; this variable (tokens from
       which it runs) likewise wins over tuning */
    ops_tile tile = {0, 1, 128, 128, 8, 8, 16};
    k->tile = tile;
    k->tile_forced = env_tokens("CLIPCL_GEMM_TILE", 0x7fffffff, &k->tile.min_tokens);
    /* PoCL runs a work-group as loops over its items, split at every barrier: a row's
       reduction over 128 items is 7 such rounds. 16 items: norms 26 -> 16 ms per ViT-B/32
       image batch of 8 (bench/NOTES.md, sixth session). */
    k->norm_wg = o->info.is_cpu ? NORM_WG_CPU : NORM_WG_GPU;
    k->fm_chunk = default_chunk(k);
    cl_uint align_bits = 0; /* sub-buffer origins must be multiples of this */
    if (clGetDeviceInfo(o->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, NULL) == CL_SUCCESS)
        k->sub_align = align_bits / 8;
    ops_set_gemm(k, -1, 0, 0);
    /* feature-major LayerNorm: FM_TT tokens per group times lanes over the features; CPUs
       get its vector form (a reduction across lanes is barrier rounds there, and one lane per
       token loaded scalars a chunk's row apart). GPUs get many lanes: over
       few tokens (batch 1: 7 groups for 50 tokens) each lane's loop over the features is a
       chain of loads whose latency nothing else hides, so the fewer features per lane the
       better (16 lanes: 48 loads each at width 768; 64 lanes: 12). */
    if (o->info.is_cpu) {
        k->fm_wg = FM_WG_CPU;
    } else {
        size_t max_wg = 0;
        if (clGetDeviceInfo(o->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof max_wg, &max_wg, NULL) != CL_SUCCESS)
            max_wg = NORM_WG_GPU;
        k->fm_wg = FM_TT;
        while (k->fm_wg * 2 <= FM_WG_GPU && (size_t)k->fm_wg * 2 <= max_wg) k->fm_wg *= 2;
    }
    char norm_opts[32], fm_opts[32];
    snprintf(norm_opts, sizeof norm_opts, "-DNORM_WG=%d", k->norm_wg);
    snprintf(fm_opts, sizeof fm_opts, "-DNORM_WG=%d", k->fm_wg);
    if ((st = ocl_kernel(o, "norm", norm_opts, "layernorm", &k->layernorm)) ||
        (st = ocl_kernel(o, "norm", norm_opts, "l2norm", &k->l2norm)) ||
        (st = ocl_kernel(o, "eltwise", "", "add_bias", &k->add_bias)) ||
        (st = ocl_kernel(o, "eltwise", "", "gather_rows", &k->gather_rows)) ||
        (st = ocl_kernel(o, "embed", "", "text_embed", &k->text_embed)) ||
        (st = ocl_kernel(o, "embed", "", "text_embed_h", &k->text_embed_h)) ||
        (st = ocl_kernel(o, "eltwise", "", "half_to_float", &k->half_to_float)) ||
        (st = ocl_kernel(o, "embed", "", "rgb8_normalize", &k->rgb8_normalize)) ||
        (st = ocl_kernel(o, "fm", fm_opts, "layernorm_fm", &k->layernorm_fm)) ||
        (st = ocl_kernel(o, "fm", fm_opts, "bias_act_fm", &k->bias_act_fm)) ||
        (st = ocl_kernel(o, "fm", fm_opts, "gather_fm", &k->gather_fm)) ||
        (st = ocl_kernel(o, "fm", fm_opts, "fm_from_rows", &k->fm_from_rows)) ||
        (st = ocl_kernel(o, "fm", fm_opts, "patch_unfold_fm", &k->patch_unfold_fm)) ||
        (st = ocl_kernel(o, "fm", fm_opts, "vit_embed_fm", &k->vit_embed_fm)) ||
        (st = ocl_kernel(o, "fm", fm_opts, "fm_to_rows", &k->fm_to_rows)) ||
        (st = ocl_kernel(o, "eltwise", "", "transpose32", &k->transpose32)) ||
        (st = ocl_kernel(o, "eltwise", "", "transpose16", &k->transpose16))) {
        ops_free(k);
        return st;
    }
    return CLIPCL_OK;
}

void ops_gemm_scratch_free(ops *k)
{
    if (k->o) ocl_release(k->o, &k->gemm_tmp);
    k->gemm_tmp_bytes = 0;
}

static void tile_release(ops *k)
{
    cl_kernel *g = &k->gemm_tile[0][0];
    for (size_t i = 0; i < sizeof k->gemm_tile / sizeof *g; i++) {
        if (g[i]) clReleaseKernel(g[i]);
        g[i] = NULL;
    }
}

void ops_free(ops *k)
{
    ops_profile_flush(k);
    ops_gemm_scratch_free(k);
    free(k->evs);
    k->evs = NULL;
    k->cap_evs = 0;
    cl_kernel *all[] = {&k->layernorm, &k->l2norm, &k->add_bias,
                        &k->gather_rows, &k->text_embed, &k->patch_unfold_fm, &k->vit_embed_fm,
                        &k->text_embed_h, &k->half_to_float, &k->rgb8_normalize, &k->layernorm_fm,
                        &k->bias_act_fm, &k->gather_fm, &k->fm_from_rows, &k->fm_to_rows, &k->transpose32,
                        &k->transpose16};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        if (*all[i]) clReleaseKernel(*all[i]);
        *all[i] = NULL;
    }
    if (k->gemm_reduce) clReleaseKernel(k->gemm_reduce);
    k->gemm_reduce = NULL;
    tile_release(k);
    cl_kernel *g = &k->gemm_small[0][0][0];
    for (size_t i = 0; i < sizeof k->gemm_small / sizeof *g; i++) {
        if (g[i]) clReleaseKernel(g[i]);
        g[i] = NULL;
    }
}

static const char *const kind_names[CLIPCL_OP_KINDS] = {"gemm", "attention", "norm", "elementwise"};

clipcl_status ops_profile_flush(ops *k)
{
    clipcl_status st = CLIPCL_OK;
    for (int i = 0; i < k->n_evs; i++) {
        ops_event *e = &k->evs[i];
        if (!e->ev) {
            if (e->start) clReleaseEvent(e->start);
            continue;
        }
        cl_ulong t0 = 0, t1 = 0;
        cl_int rc = clWaitForEvents(1, &e->ev);
        if (rc == CL_SUCCESS) rc = clGetEventProfilingInfo(e->ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL);
        if (rc == CL_SUCCESS) rc = clGetEventProfilingInfo(e->ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL);
        /* A call that enqueues several kernels (CLBlast) returns the last one's event; the
           marker before it holds when the call's first command could start. */
        cl_ulong m = 0;
        if (rc == CL_SUCCESS && e->start &&
            clGetEventProfilingInfo(e->start, CL_PROFILING_COMMAND_END, sizeof m, &m, NULL) == CL_SUCCESS && m && m < t0)
            t0 = m;
        if (e->start) clReleaseEvent(e->start);
        if (rc != CL_SUCCESS && !st) st = ocl_fail(rc, "clGetEventProfilingInfo");
        clipcl_op_stats *s = &k->stats[e->kind];
        s->count++;
        s->ms += t1 > t0 ? (double)(t1 - t0) * 1e-6 : 0.0;
        s->flop += e->flops;
        s->bytes += e->bytes;
        clReleaseEvent(e->ev);
    }
    k->n_evs = 0;
    return st;
}

/* Where a launch should put its event: NULL unless profiling. */
static cl_event *prof_slot(ops *k, int kind, double flops, double bytes)
{
    if (!k->o->profile) return NULL;
    if (k->n_evs == k->cap_evs) {
        if (k->n_evs >= 16384) {
            ops_profile_flush(k); /* bounded memory in long runs */
        } else {
            int cap = k->cap_evs ? 2 * k->cap_evs : 256;
            ops_event *e = realloc(k->evs, (size_t)cap * sizeof *e);
            if (!e) return NULL; /* profiling is best effort */
            k->evs = e;
            k->cap_evs = cap;
        }
    }
    ops_event *e = &k->evs[k->n_evs++];
    *e = (ops_event){kind, flops, bytes, NULL, NULL};
    return &e->ev;
}

/* Launches an element-wise kernel over a cols × rows grid (dimension 0 = columns). */
static clipcl_status run2d(ops *k, cl_kernel kern, const char *name, int cols, int rows, int kind, double bytes)
{
    size_t local[2] = {cols < COL_TILE ? (size_t)cols : COL_TILE, 1};
    size_t global[2] = {(size_t)cols, (size_t)rows};
    return ocl_run(k->o, kern, name, 2, global, local, prof_slot(k, kind, 0, bytes));
}

clipcl_status ops_layernorm(ops *k, cl_mem x, cl_mem bias, cl_mem gamma, cl_mem beta, cl_mem y, int rows,
                            int width, float eps)
{
    cl_int has_bias = bias != NULL;
    cl_mem b = bias ? bias : gamma; /* any valid buffer: the kernel does not read it */
    clipcl_status st = ocl_setargs(k->layernorm, "layernorm", 8, OCL_A(x), OCL_A(has_bias), OCL_A(b),
                                   OCL_A(gamma), OCL_A(beta), OCL_A(y), OCL_A(width), OCL_A(eps));
    if (st) return st;
    size_t local = (size_t)k->norm_wg, global = (size_t)rows * k->norm_wg;
    double bytes = 4.0 * rows * width * (bias ? 4 : 2);
    return ocl_run(k->o, k->layernorm, "layernorm", 1, &global, &local, prof_slot(k, CLIPCL_OP_NORM, 0, bytes));
}

void ops_set_gemm(ops *k, int gemmk, int mwg, int nwg)
{
    /* CLBlast's indirect GEMM copies every operand that is not "rotated" as its kernel wants
       (kernel 1: all three; kernel 0: only B) or whose token count is not a multiple of the
       kernel's tile along tokens. With feature-major activations kernel 1 gets the weight
       as stored as A (tokens along N: tile NWG); kernel 0 needs the weight transposed as B
       (tokens along M: tile MWG). Without a known tile 64 covers CLBlast's common values.
       FM_TT and the 8-wide bias_act_fm need a multiple of 8. */
    k->w_t = gemmk != 1;
    int t = k->w_t ? mwg : nwg, a = t > 0 ? t : 64;
    if (a < FM_TT) a = FM_TT;
    if (a > OPS_FM_MAX_ALIGN) a = OPS_FM_MAX_ALIGN;
    int p = FM_TT;
    while (p < a) p *= 2; /* CLBlast's tiles are powers of two; keep it one */
    k->fm_align = p;
}

clipcl_status ops_transpose(ops *k, cl_mem src, cl_mem dst, int rows, int cols, int elem)
{
    cl_kernel kern = elem == 2 ? k->transpose16 : k->transpose32;
    const char *name = elem == 2 ? "transpose16" : "transpose32";
    clipcl_status st = ocl_setargs(kern, name, 4, OCL_A(src), OCL_A(dst), OCL_A(rows), OCL_A(cols));
    return st ? st : run2d(k, kern, name, cols, rows, CLIPCL_OP_ELEMENTWISE, 2.0 * elem * rows * cols);
}

ops_fm ops_fm_layout(const ops *k, int rows)
{
    const int a = k->fm_align;
    ops_fm L = {rows, (rows + a - 1) / a * a, 0};
    L.ch = k->fm_chunk > 0 ? (k->fm_chunk + a - 1) / a * a : L.tp;
    if (L.ch > L.tp) L.ch = L.tp;
    if (L.ch < a) L.ch = a;
    return L;
}

clipcl_status ops_layernorm_fm(ops *k, cl_mem x, cl_mem bias, cl_mem gamma, cl_mem beta, cl_mem y, const ops_fm *L,
                               int width, float eps)
{
    cl_int has_bias = bias != NULL;
    cl_mem b = bias ? bias : gamma;
    clipcl_status st = ocl_setargs(k->layernorm_fm, "layernorm_fm", 11, OCL_A(x), OCL_A(has_bias), OCL_A(b),
                                   OCL_A(gamma), OCL_A(beta), OCL_A(y), OCL_A(L->rows), OCL_A(width), OCL_A(eps),
                                   OCL_A(L->ch), OCL_A(L->tp));
    if (st) return st;
    size_t local = (size_t)k->fm_wg, global = (size_t)(L->tp + FM_TT - 1) / FM_TT * k->fm_wg;
    double bytes = 4.0 * L->rows * width * (bias ? 4 : 2);
    return ocl_run(k->o, k->layernorm_fm, "layernorm_fm", 1, &global, &local,
                   prof_slot(k, CLIPCL_OP_NORM, 0, bytes));
}

clipcl_status ops_fm_from_rows(ops *k, cl_mem src, cl_mem dst, const ops_fm *L, int F)
{
    clipcl_status st = ocl_setargs(k->fm_from_rows, "fm_from_rows", 6, OCL_A(src), OCL_A(dst), OCL_A(F),
                                   OCL_A(L->ch), OCL_A(L->tp), OCL_A(L->rows));
    return st ? st : run2d(k, k->fm_from_rows, "fm_from_rows", L->tp, F, CLIPCL_OP_ELEMENTWISE, 8.0 * L->tp * F);
}

clipcl_status ops_fm_to_rows(ops *k, cl_mem src, const ops_fm *L, cl_mem bias, cl_mem dst, int F)
{
    cl_int has_bias = bias != NULL;
    cl_mem b = bias ? bias : src;
    clipcl_status st = ocl_setargs(k->fm_to_rows, "fm_to_rows", 7, OCL_A(src), OCL_A(has_bias), OCL_A(b), OCL_A(dst),
                                   OCL_A(F), OCL_A(L->ch), OCL_A(L->tp));
    return st ? st : run2d(k, k->fm_to_rows, "fm_to_rows", F, L->rows, CLIPCL_OP_ELEMENTWISE, 8.0 * L->rows * F);
}

clipcl_status ops_bias_act_fm(ops *k, cl_mem h, cl_mem bias, const ops_fm *L, int features, int act)
{
    clipcl_status st = ocl_setargs(k->bias_act_fm, "bias_act_fm", 6, OCL_A(h), OCL_A(bias), OCL_A(features),
                                   OCL_A(L->ch), OCL_A(L->tp), OCL_A(act));
    if (st) return st;
    size_t chunks = ((size_t)L->tp + L->ch - 1) / L->ch;
    size_t global[2] = {(size_t)L->ch / 8, chunks * features}, local[2] = {global[0] < 32 ? global[0] : 32, 1};
    while (global[0] % local[0]) local[0]--; /* OpenCL 1.2: the range must divide */
    return ocl_run(k->o, k->bias_act_fm, "bias_act_fm", 2, global, local,
                   prof_slot(k, CLIPCL_OP_ELEMENTWISE, 0, 8.0 * L->tp * features));
}

clipcl_status ops_gather_fm(ops *k, cl_mem src, const ops_fm *Ls, cl_mem idx, cl_mem dst, const ops_fm *Ld,
                            int features)
{
    clipcl_status st = ocl_setargs(k->gather_fm, "gather_fm", 9, OCL_A(src), OCL_A(idx), OCL_A(dst), OCL_A(features),
                                   OCL_A(Ls->ch), OCL_A(Ls->tp), OCL_A(Ld->rows), OCL_A(Ld->ch), OCL_A(Ld->tp));
    return st ? st : run2d(k, k->gather_fm, "gather_fm", Ld->tp, features, CLIPCL_OP_ELEMENTWISE,
                                8.0 * Ld->tp * features);
}

clipcl_status ops_l2norm(ops *k, cl_mem x, cl_mem y, int rows, int width)
{
    clipcl_status st = ocl_setargs(k->l2norm, "l2norm", 3, OCL_A(x), OCL_A(y), OCL_A(width));
    if (st) return st;
    size_t local = (size_t)k->norm_wg, global = (size_t)rows * k->norm_wg;
    return ocl_run(k->o, k->l2norm, "l2norm", 1, &global, &local, prof_slot(k, CLIPCL_OP_NORM, 0, 8.0 * rows * width));
}

clipcl_status ops_add_bias(ops *k, cl_mem x, cl_mem bias, int rows, int cols)
{
    clipcl_status st = ocl_setargs(k->add_bias, "add_bias", 3, OCL_A(x), OCL_A(bias), OCL_A(cols));
    return st ? st : run2d(k, k->add_bias, "add_bias", cols, rows, CLIPCL_OP_ELEMENTWISE, 8.0 * rows * cols);
}

clipcl_status ops_gather_rows(ops *k, cl_mem src, cl_mem idx, cl_mem bias, cl_mem dst, int rows, int cols)
{
    cl_int has_bias = bias != NULL;
    cl_mem b = bias ? bias : src;
    clipcl_status st = ocl_setargs(k->gather_rows, "gather_rows", 6, OCL_A(src), OCL_A(idx), OCL_A(has_bias),
                                   OCL_A(b), OCL_A(dst), OCL_A(cols));
    return st ? st : run2d(k, k->gather_rows, "gather_rows", cols, rows, CLIPCL_OP_ELEMENTWISE, 8.0 * rows * cols);
}

clipcl_status ops_text_embed(ops *k, cl_mem ids, cl_mem tok, int tok_half, cl_mem pos, cl_mem x, int rows, int T,
                             int W)
{
    cl_kernel kern = tok_half ? k->text_embed_h : k->text_embed;
    clipcl_status st = ocl_setargs(kern, "text_embed", 6, OCL_A(ids), OCL_A(tok), OCL_A(pos), OCL_A(x), OCL_A(T),
                                   OCL_A(W));
    return st ? st : run2d(k, kern, "text_embed", W, rows, CLIPCL_OP_ELEMENTWISE, 12.0 * rows * W);
}

clipcl_status ops_half_to_float(ops *k, cl_mem src, cl_mem dst, size_t n)
{
    if (n > 0x7fffffff) return err_set(CLIPCL_ERR_LIMIT, "half_to_float: %zu elements", n);
    cl_int ni = (cl_int)n;
    clipcl_status st = ocl_setargs(k->half_to_float, "half_to_float", 3, OCL_A(src), OCL_A(dst), OCL_A(ni));
    if (st) return st;
    size_t local = 256, global = n;
    return ocl_run(k->o, k->half_to_float, "half_to_float", 1, &global, &local,
                   prof_slot(k, CLIPCL_OP_ELEMENTWISE, 0, 6.0 * n));
}

clipcl_status ops_patch_unfold_fm(ops *k, cl_mem pix, cl_mem patches, const ops_fm *L, int C, int S, int P)
{
    const int G = S / P;
    clipcl_status st = ocl_setargs(k->patch_unfold_fm, "patch_unfold_fm", 9, OCL_A(pix), OCL_A(patches), OCL_A(C),
                                   OCL_A(S), OCL_A(P), OCL_A(G), OCL_A(L->rows), OCL_A(L->ch), OCL_A(L->tp));
    return st ? st : run2d(k, k->patch_unfold_fm, "patch_unfold_fm", L->tp, C * P, CLIPCL_OP_ELEMENTWISE,
                                8.0 * L->tp * C * P * P);
}

clipcl_status ops_rgb8_normalize(ops *k, cl_mem rgb, cl_mem lut, cl_mem pix, int B, int plane)
{
    if ((double)B * plane > 0x7fffffff) return err_set(CLIPCL_ERR_LIMIT, "rgb8_normalize: %d x %d pixels", B, plane);
    cl_int total = B * plane;
    clipcl_status st = ocl_setargs(k->rgb8_normalize, "rgb8_normalize", 5, OCL_A(rgb), OCL_A(lut), OCL_A(pix),
                                   OCL_A(plane), OCL_A(total));
    if (st) return st;
    size_t local = 256, global = (size_t)total;
    return ocl_run(k->o, k->rgb8_normalize, "rgb8_normalize", 1, &global, &local,
                   prof_slot(k, CLIPCL_OP_ELEMENTWISE, 0, 15.0 * total));
}

clipcl_status ops_vit_embed_fm(ops *k, cl_mem x, cl_mem cls, cl_mem pos, const ops_fm *L, int T, int W)
{
    clipcl_status st = ocl_setargs(k->vit_embed_fm, "vit_embed_fm", 8, OCL_A(x), OCL_A(cls), OCL_A(pos), OCL_A(T),
                                   OCL_A(W), OCL_A(L->rows), OCL_A(L->ch), OCL_A(L->tp));
    return st ? st : run2d(k, k->vit_embed_fm, "vit_embed_fm", L->rows, W, CLIPCL_OP_ELEMENTWISE, 12.0 * L->rows * W);
}

#ifndef ATTN_CPU_QB
#define ATTN_CPU_QB 32 /* queries per work-item of the CPU variant (cl/attn.cl, ATT_QB) */
#endif

clipcl_status ops_attn_create(ops *k, int head_dim, ops_attn *out)
{
    /* CPUs have no separate local memory: the barrier-free variant (see cl/attn.cl) */
    const char *env = getenv("CLIPCL_ATTN_LOCAL"); /* 0 or 1: for kernel work and tests */
    int local = env && (*env == '0' || *env == '1') ? *env == '1' : !k->o->info.is_cpu;
    return ops_attn_create_variant(k, head_dim, local, 0, 0, out);
}

clipcl_status ops_attn_create_variant(ops *k, int head_dim, int local_tiles, int qb, int vw, ops_attn *out)
{
    char opts[160];
    /* Keys per tile: each of the two local tiles within 16 KB, so that devices with 32 KB of
       local memory run every head size. Rows are padded by one float4 where head_dim is a
       multiple of 4, else by one float (cl/attn.cl). */
    int kt = 4096 / (head_dim + (head_dim % 4 ? 1 : 4));
    if (kt > 32) kt = 32;
    if (kt < 1) kt = 1;
    out->head_dim = head_dim;
    out->wg = local_tiles ? 32 : 1;
    /* The CPU variant on a GPU (tests only) takes one query per work-item: its private arrays
       would otherwise be reserved for every resident thread (32 KB each at HEAD_DIM 64). */
    if (qb < 1) qb = k->o->info.is_cpu ? ATTN_CPU_QB : 1;
    out->qb = local_tiles ? 0 : qb;
    if (vw != 8 && vw != 16) vw = k->o->info.vector_width >= 16 ? 16 : 8; /* AVX-512 or narrower */
    snprintf(opts, sizeof opts, "-DHEAD_DIM=%d -DATT_WG=%d -DATT_KT=%d -DATT_LOCAL=%d -DATT_QB=%d -DATT_VW=%d", head_dim,
             out->wg, kt, local_tiles ? 1 : 0, out->qb ? out->qb : 1, vw);
    return ocl_kernel(k->o, "attn", opts, "attention", &out->k);
}

void ops_attn_free(ops_attn *a)
{
    if (a->k) clReleaseKernel(a->k);
    a->k = NULL;
}

clipcl_status ops_attention(ops *k, const ops_attn *a, cl_mem qkv, cl_mem bias, cl_mem out, const ops_fm *L, int B,
                            int T, int heads, int causal)
{
    float scale = 1.0f / sqrtf((float)a->head_dim);
    cl_int c = causal;
    if ((size_t)B * T > (size_t)L->rows)
        return err_set(CLIPCL_ERR_INVALID_ARG, "attention: %d x %d tokens in a layout of %d", B, T, L->rows);
    clipcl_status st = ocl_setargs(a->k, "attention", 9, OCL_A(qkv), OCL_A(bias), OCL_A(out), OCL_A(T),
                                   OCL_A(heads), OCL_A(scale), OCL_A(c), OCL_A(L->ch), OCL_A(L->tp));
    if (st) return st;
    size_t global[3] = {a->qb ? ((size_t)T + a->qb - 1) / a->qb : (size_t)T, (size_t)heads, (size_t)B},
           local[3] = {(size_t)a->wg, 1, 1};
    /* q·k and p·v: 2 T² D flops each per head (half of that with the causal mask) */
    double flops = 4.0 * B * heads * (double)T * T * a->head_dim * (causal ? 0.5 : 1.0);
    double bytes = 4.0 * B * T * heads * a->head_dim * 4;
    return ocl_run(k->o, a->k, "attention", 3, global, local, prof_slot(k, CLIPCL_OP_ATTENTION, flops, bytes));
}

static const char *clblast_errstr(CLBlastStatusCode s)
{
    switch (s) {
    case CLBlastInvalidLocalMemUsage: return "kernel needs too much local memory";
    case CLBlastNoHalfPrecision: return "no half precision on this device";
    case CLBlastInvalidLocalNumDimensions: return "invalid local work dimensions";
    case CLBlastInvalidLocalThreadsTotal: return "too many work-items per work-group for this device";
    case CLBlastInvalidLocalThreadsDim: return "work-group size not supported by this device";
    case CLBlastDatabaseError: return "CLBlast database error";
    case CLBlastUnknownError: return "unknown CLBlast error";
    case CLBlastUnexpectedError: return "unexpected CLBlast error";
    case CLBlastInsufficientMemoryA: case CLBlastInsufficientMemoryB:
    case CLBlastInsufficientMemoryC: return "buffer too small for the matrix";
    case CLBlastInvalidDimension: return "invalid matrix dimension";
    case CLBlastInvalidLeadDimA: case CLBlastInvalidLeadDimB:
    case CLBlastInvalidLeadDimC: return "invalid leading dimension";
    case CLBlastOpenCLBuildProgramFailure: return "CLBlast kernel build failed";
    case CLBlastOpenCLOutOfResources: return "out of device resources";
    case CLBlastOpenCLOutOfHostMemory: return "out of host memory";
    default: return s < 0 && s > -100 ? ocl_errstr((cl_int)s) : "CLBlast error";
    }
}

/* k's scratch buffer (shared by CLBlast's operand copies and split-K partial sums: calls on
   one in-order queue never overlap), at least `bytes` large. */
static clipcl_status gemm_scratch(ops *k, size_t bytes)
{
    if (bytes <= k->gemm_tmp_bytes) return CLIPCL_OK;
    ocl_release(k->o, &k->gemm_tmp);
    k->gemm_tmp_bytes = 0;
    clipcl_status st = ocl_alloc(k->o, bytes, &k->gemm_tmp, "GEMM scratch");
    if (!st) k->gemm_tmp_bytes = bytes;
    return st;
}

/* One CLBlast SGEMM; operand copies (padding, transposes) go through k's scratch buffer.
   Without it CLBlast creates and frees a buffer on every call that copies an operand
   (bench/NOTES.md, "Third session"): keep one, grown as needed. */
static CLBlastStatusCode blast_sgemm(ops *k, CLBlastLayout lay, CLBlastTranspose ta, CLBlastTranspose tb, size_t m,
                                     size_t n, size_t kk, float alpha, cl_mem A, size_t a_off, size_t lda, cl_mem B,
                                     size_t b_off, size_t ldb, float beta, cl_mem C, size_t c_off, size_t ldc,
                                     cl_event *e, clipcl_status *st)
{
    size_t need = 0;
    CLBlastStatusCode s = CLBlastSGemmTempBufferSize(lay, ta, tb, m, n, kk, a_off, lda, b_off, ldb, c_off, ldc,
                                                     &k->o->queue, &need);
    if (s != CLBlastSuccess) return s;
    if ((*st = gemm_scratch(k, need))) return CLBlastSuccess;
    if (need)
        return CLBlastSgemmWithTempBuffer(lay, ta, tb, m, n, kk, alpha, A, a_off, lda, B, b_off, ldb, beta, C, c_off,
                                          ldc, &k->o->queue, e, k->gemm_tmp);
    return CLBlastSgemm(lay, ta, tb, m, n, kk, alpha, A, a_off, lda, B, b_off, ldb, beta, C, c_off, ldc, &k->o->queue,
                        e);
}

static clipcl_status blast_fail(CLBlastStatusCode s, size_t M, size_t N, size_t K)
{
    return err_set(s == CLBlastOpenCLOutOfResources || s == -4 ? CLIPCL_ERR_NOMEM : CLIPCL_ERR_BLAS,
                   "CLBlastSgemm(%zux%zux%zu) failed: %s (%d)", M, N, K, clblast_errstr(s), (int)s);
}

/* The profiling event for a GEMM and a marker before it (its calls enqueue several kernels). */
static cl_event *gemm_prof(ops *k, size_t M, size_t N, size_t K, float beta)
{
    cl_event *ev = prof_slot(k, CLIPCL_OP_GEMM, 2.0 * M * N * K, 4.0 * (M * K + N * K + M * N * (beta != 0 ? 2 : 1)));
    if (ev && clEnqueueMarkerWithWaitList(k->o->queue, 0, NULL, &k->evs[k->n_evs - 1].start) != CL_SUCCESS)
        k->evs[k->n_evs - 1].start = NULL;
    return ev;
}

clipcl_status ops_gemm_nt(ops *k, size_t M, size_t N, size_t K, float alpha, cl_mem A, size_t a_off, cl_mem B,
                          size_t b_off, float beta, cl_mem C, size_t c_off)
{
    if (!M || !N) return CLIPCL_OK;
    cl_event *ev = gemm_prof(k, M, N, K, beta);
    /* The same product seen column-major: C^T (N x M) = B (N x K) * A^T. CLBlast's row-major
       path would otherwise transpose-copy an operand on every call; this form feeds its
       kernels directly (measured 3.1-3.4x at batch 1 on PoCL, bench/NOTES.md). */
    /* On PoCL one call over many rows ran at half the speed of calls over fewer rows
       (ViT-B/32 image tower at batch 64: GEMMs at 24.5 GFLOP/s in one call per product, 2.2x
       faster end to end in chunks of 128-448 rows; 128 was best at batches 8 and 64 too,
       bench/NOTES.md). GPUs get one call. */
    size_t mc = k->gemm_rows && M > k->gemm_rows ? k->gemm_rows : M;
    CLBlastStatusCode s = CLBlastSuccess;
    clipcl_status st = CLIPCL_OK;
    for (size_t m0 = 0; m0 < M && s == CLBlastSuccess && !st; m0 += mc) {
        size_t mm = M - m0 < mc ? M - m0 : mc;
        s = blast_sgemm(k, CLBlastLayoutColMajor, CLBlastTransposeYes, CLBlastTransposeNo, N, mm, K, alpha, B, b_off,
                        K, A, a_off + m0 * K, K, beta, C, c_off + m0 * N, N, m0 + mm >= M ? ev : NULL, &st);
    }
    if (st) return st;
    return s != CLBlastSuccess ? blast_fail(s, M, N, K) : CLIPCL_OK;
}

/* A region of buf as a buffer of its own, so that CLBlast sees offset 0 (it copies any
   operand with an offset); NULL when the device's alignment rules do not allow it. */
static cl_mem sub_buffer(ops *k, cl_mem buf, size_t off_floats, size_t floats)
{
    if (!off_floats) {
        clRetainMemObject(buf);
        return buf;
    }
    if (!k->sub_align || off_floats * 4 % k->sub_align) return NULL;
    cl_buffer_region r = {off_floats * 4, floats * 4};
    cl_int e;
    cl_mem sub = clCreateSubBuffer(buf, 0, CL_BUFFER_CREATE_TYPE_REGION, &r, &e);
    return e == CL_SUCCESS ? sub : NULL;
}

int ops_gemm_small(const ops *k, const ops_fm *L) { return L->rows <= k->small_tokens && L->tp <= L->ch; }

#define SG_TT 64 /* as cl/gemm.cl's defaults */
#define SG_RT 2
#define SG_KB 32

/* cl/gemm.cl on one chunk. Work-groups of 16 output features, or of 8 when that leaves fewer
   than two per compute unit (N = 768 over one token tile: 48 groups on a 132-unit GPU). A
   long K (MLP's second product, 3072) is split into parts of about 768, summed by
   gemm_fm_reduce in a fixed order: a work-group walks its K one tile after another, so K
   sets its latency. */
static clipcl_status gemm_small(ops *k, const ops_fm *L, size_t N, size_t K, cl_mem A, cl_mem W, int w_half,
                                float beta, cl_mem bias, int act, cl_mem C)
{
    if (N > 0x7fffffff || K > 0x7fffffff) return err_set(CLIPCL_ERR_LIMIT, "GEMM of %zu x %zu", N, K);
    const size_t tiles = ((size_t)L->tp + SG_TT - 1) / SG_TT;
    const int narrow = tiles * ((N + 15) / 16) < 2 * (size_t)k->o->info.compute_units;
    const int nf = narrow ? 8 : 16, rf = narrow ? 2 : 4;
    const size_t parts = K > 1024 ? (K + 767) / 768 : 1;
    const size_t kpart = (K + parts - 1) / parts;
    const cl_int n = (cl_int)N, kd = (cl_int)K, tp = L->tp, kp = (cl_int)((kpart + SG_KB - 1) / SG_KB * SG_KB);
    cl_kernel *kern = &k->gemm_small[k->w_t != 0][w_half != 0][narrow];
    clipcl_status st;
    if (!*kern) {
        char opts[144];
        snprintf(opts, sizeof opts,
                 "-DGEMM_KERNELS=1 -DW_T=%d -DW_HALF=%d -DSG_NF=%d -DSG_RF=%d -DSG_TT=%d -DSG_RT=%d -DSG_KB=%d",
                 k->w_t != 0, w_half != 0, nf, rf, SG_TT, SG_RT, SG_KB);
        if ((st = ocl_kernel(k->o, "gemm", opts, "gemm_fm_small", kern))) return st;
    }
    if (parts > 1 && !k->gemm_reduce && (st = ocl_kernel(k->o, "gemm", "-DGEMM_KERNELS=0", "gemm_fm_reduce", &k->gemm_reduce)))
        return st;
    const size_t nc = N * (size_t)tp;
    if (nc > 0x7fffffff) return err_set(CLIPCL_ERR_LIMIT, "GEMM over %d tokens x %zu features", tp, N);
    if (parts > 1 && (st = gemm_scratch(k, parts * nc * 4))) return st;
    cl_mem out = parts > 1 ? k->gemm_tmp : C;
    cl_mem b = bias ? bias : A; /* any valid buffer when act < 0: the kernel does not read it */
    const cl_int ea = bias ? act : -1;
    if ((st = ocl_setargs(*kern, "gemm_fm_small", 10, OCL_A(A), OCL_A(W), OCL_A(out), OCL_A(n), OCL_A(kd), OCL_A(tp),
                          OCL_A(beta), OCL_A(kp), OCL_A(b), OCL_A(ea))))
        return st;
    size_t local[3] = {SG_TT / SG_RT, (size_t)(nf / rf), 1};
    size_t global[3] = {tiles * local[0], (N + nf - 1) / nf * local[1], parts};
    cl_event *ev = gemm_prof(k, (size_t)tp, N, K, beta);
    if ((st = ocl_run(k->o, *kern, "gemm_fm_small", 3, global, local, parts > 1 ? NULL : ev)) || parts == 1) return st;
    const cl_int total = (cl_int)nc, np = (cl_int)parts;
    if ((st = ocl_setargs(k->gemm_reduce, "gemm_fm_reduce", 8, OCL_A(k->gemm_tmp), OCL_A(C), OCL_A(total), OCL_A(np),
                          OCL_A(beta), OCL_A(tp), OCL_A(b), OCL_A(ea))))
        return st;
    size_t lr = 256, gr = nc;
    return ocl_run(k->o, k->gemm_reduce, "gemm_fm_reduce", 1, &gr, &lr, ev);
}

int ops_gemm_tile(const ops *k, const ops_fm *L)
{
    return k->tile.min_tokens > 0 && L->rows >= k->tile.min_tokens && !ops_gemm_small(k, L);
}

void ops_set_tile(ops *k, const ops_tile *t)
{
    const int min_tokens = k->tile_forced ? k->tile.min_tokens : t->min_tokens;
    if (t->local != k->tile.local || t->nf != k->tile.nf || t->tt != k->tile.tt || t->rf != k->tile.rf ||
        t->rt != k->tile.rt || t->kb != k->tile.kb)
        tile_release(k); /* built for other sizes */
    k->tile = *t;
    k->tile.min_tokens = min_tokens;
    /* The CPU form over at least 64 tokens per work-item gets chunks of one work-item's width:
       each K step's loads of A are then one contiguous run (a chunk's rows are its tokens).
       AVX-512, 6 x 64 per work-item, ViT-B/32 batch 8: GEMMs 4-15 % faster than in chunks of
       128 (bench/NOTES.md, tenth session). */
    const int cpu_wide = k->o && k->o->info.is_cpu && !t->local && t->min_tokens > 0 && t->tt >= 64;
    if (!k->rows_forced) k->fm_chunk = cpu_wide ? t->tt : default_chunk(k);
}

/* cl/gemm.cl's gemm_fm_tile (GPUs) or gemm_fm_reg (CPUs) over every chunk in one launch. */
static clipcl_status gemm_tile(ops *k, const ops_fm *L, size_t N, size_t K, cl_mem A, cl_mem W, int w_half,
                               float beta, cl_mem bias, int act, cl_mem C)
{
    const ops_tile *g = &k->tile;
    /* the kernel indexes each operand (one chunk of A and C) with ints */
    const double tpd = L->tp > 0 ? L->tp : 1;
    if ((double)K * tpd > 0x7fffffff || (double)N * tpd > 0x7fffffff || (double)N * K > 0x7fffffff)
        return err_set(CLIPCL_ERR_LIMIT, "GEMM of %zu x %zu over %d tokens", N, K, L->tp);
    const char *name = g->local ? "gemm_fm_tile" : "gemm_fm_reg";
    if (L->tp % 8 || L->ch % 8) /* ops_set_gemm's alignment is a multiple of 8 */
        return err_set(CLIPCL_ERR_UNSUPPORTED, "%s: %d tokens in chunks of %d", name, L->tp, L->ch);
    cl_kernel *kern = &k->gemm_tile[k->w_t != 0][w_half != 0];
    clipcl_status st;
    if (!*kern) {
        char opts[192];
        if (g->local)
            snprintf(opts, sizeof opts,
                     "-DGEMM_KERNELS=2 -DW_T=%d -DW_HALF=%d -DTL_NF=%d -DTL_TT=%d -DTL_RF=%d -DTL_RT=%d -DTL_KB=%d",
                     k->w_t != 0, w_half != 0, g->nf, g->tt, g->rf, g->rt, g->kb);
        else
            snprintf(opts, sizeof opts, "-DGEMM_KERNELS=4 -DW_T=%d -DW_HALF=%d -DRG_NF=%d -DRG_TT=%d -DRG_VW=%d",
                     k->w_t != 0, w_half != 0, g->nf, g->tt, g->rt);
        if ((st = ocl_kernel(k->o, "gemm", opts, name, kern))) return st;
    }
    const cl_int n = (cl_int)N, kd = (cl_int)K, tp = L->tp, ch = L->ch, rows = L->rows;
    cl_mem b = bias ? bias : A; /* any valid buffer when act < 0: the kernel does not read it */
    const cl_int ea = bias ? act : -1;
    if (g->local)
        st = ocl_setargs(*kern, name, 10, OCL_A(A), OCL_A(W), OCL_A(C), OCL_A(n), OCL_A(kd), OCL_A(tp), OCL_A(ch),
                         OCL_A(beta), OCL_A(b), OCL_A(ea));
    else
        st = ocl_setargs(*kern, name, 11, OCL_A(A), OCL_A(W), OCL_A(C), OCL_A(n), OCL_A(kd), OCL_A(tp), OCL_A(ch),
                         OCL_A(rows), OCL_A(beta), OCL_A(b), OCL_A(ea));
    if (st) return st;
    const size_t w = (size_t)(ch < tp ? ch : tp), chunks = ((size_t)tp + ch - 1) / ch;
    size_t local[3] = {1, 1, 1};
    if (g->local) local[0] = (size_t)(g->tt / g->rt), local[1] = (size_t)(g->nf / g->rf);
    size_t global[3] = {(w + g->tt - 1) / g->tt * local[0], (N + g->nf - 1) / g->nf * local[1], chunks};
    return ocl_run(k->o, *kern, name, 3, global, local, gemm_prof(k, (size_t)tp, N, K, beta));
}

clipcl_status ops_gemm_fm(ops *k, const ops_fm *L, size_t N, size_t K, cl_mem A, cl_mem W, int w_half, float beta,
                          cl_mem C)
{
    if (!L->rows || !N) return CLIPCL_OK;
    if (ops_gemm_small(k, L)) return gemm_small(k, L, N, K, A, W, w_half, beta, NULL, -1, C);
    if (ops_gemm_tile(k, L)) return gemm_tile(k, L, N, K, A, W, w_half, beta, NULL, -1, C);
    if (w_half) return err_set(CLIPCL_ERR_UNSUPPORTED, "ops_gemm_fm: fp16 weight for CLBlast (widen it first)");
    const size_t tp = (size_t)L->tp, ch = (size_t)L->ch;
    cl_event *ev = gemm_prof(k, tp, N, K, beta);
    CLBlastStatusCode s = CLBlastSuccess;
    clipcl_status st = CLIPCL_OK;
    /* Each chunk of tokens is a dense [K][w] block of A and [N][w] block of C (cl/fm.cl); as
       buffers of their own (offset 0) they are operands CLBlast reads and writes in place. */
    for (size_t t0 = 0; t0 < tp && s == CLBlastSuccess && !st; t0 += ch) {
        const size_t w = tp - t0 < ch ? tp - t0 : ch;
        cl_mem a = sub_buffer(k, A, t0 * K, w * K), c = sub_buffer(k, C, t0 * N, w * N);
        cl_mem ac = a ? a : A, cc = c ? c : C;
        const size_t a_off = a ? 0 : t0 * K, c_off = c ? 0 : t0 * N;
        cl_event *e = t0 + w >= tp ? ev : NULL;
        if (k->w_t) /* column-major C = A · Wt, Wt [K, N]: kernel 0's layout for every operand */
            s = blast_sgemm(k, CLBlastLayoutColMajor, CLBlastTransposeNo, CLBlastTransposeYes, w, N, K, 1.0f, ac, a_off,
                            w, W, 0, N, beta, cc, c_off, w, e, &st);
        else /* row-major C = W · A, W [N, K]: kernel 1's layout for every operand */
            s = blast_sgemm(k, CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, N, w, K, 1.0f, W, 0, K,
                            ac, a_off, w, beta, cc, c_off, w, e, &st);
        if (a) clReleaseMemObject(a); /* OpenCL keeps it until the queued kernels are done */
        if (c) clReleaseMemObject(c);
    }
    if (st) return st;
    return s != CLBlastSuccess ? blast_fail(s, tp, N, K) : CLIPCL_OK;
}

clipcl_status ops_gemm_fm_act(ops *k, const ops_fm *L, size_t N, size_t K, cl_mem A, cl_mem W, int w_half,
                              cl_mem bias, int act, cl_mem C)
{
    if (!L->rows || !N) return CLIPCL_OK;
    if (ops_gemm_small(k, L)) return gemm_small(k, L, N, K, A, W, w_half, 0.0f, bias, act, C);
    if (ops_gemm_tile(k, L)) return gemm_tile(k, L, N, K, A, W, w_half, 0.0f, bias, act, C);
    clipcl_status st = ops_gemm_fm(k, L, N, K, A, W, w_half, 0.0f, C);
    return st ? st : ops_bias_act_fm(k, C, bias, L, (int)N, act);
}

/* ---------------------------------------------------------------- ResNet (cl/conv.cl) */

#define POOL_WG 64 /* must match the -DPOOL_WG given to conv.cl */

clipcl_status ops_conv_create(ops *k, ops_conv *out)
{
    static const char *opts = "-DPOOL_WG=64";
    memset(out, 0, sizeof *out);
    cl_ulong lm = 0;
    cl_int e = clGetDeviceInfo(k->o->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof lm, &lm, NULL);
    if (e != CL_SUCCESS) return ocl_fail(e, "clGetDeviceInfo(CL_DEVICE_LOCAL_MEM_SIZE)");
    out->local_mem = (size_t)lm;
    clipcl_status st;
    if ((st = ocl_kernel(k->o, "conv", opts, "im2col", &out->im2col)) ||
        (st = ocl_kernel(k->o, "conv", opts, "bias_relu", &out->bias_relu)) ||
        (st = ocl_kernel(k->o, "conv", opts, "avgpool", &out->avgpool)) ||
        (st = ocl_kernel(k->o, "conv", opts, "rn_tokens", &out->tokens)) ||
        (st = ocl_kernel(k->o, "conv", opts, "attn_pool", &out->attn_pool))) {
        ops_conv_free(out);
        return st;
    }
    return CLIPCL_OK;
}

void ops_conv_free(ops_conv *c)
{
    cl_kernel *all[] = {&c->im2col, &c->bias_relu, &c->avgpool, &c->tokens, &c->attn_pool};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        if (*all[i]) clReleaseKernel(*all[i]);
        *all[i] = NULL;
    }
}

int ops_attn_pool_max_tokens(const ops_conv *c, int D)
{
    /* scores + query + the reduction array, with 1 KB left for the implementation */
    long avail = (long)c->local_mem - 1024 - 4L * (D + POOL_WG);
    return avail > 4 ? (int)(avail / 4 > (1 << 24) ? (1 << 24) : avail / 4) : 0;
}

clipcl_status ops_im2col(ops *k, const ops_conv *c, cl_mem src, int nchw, int Cin, int H, int W, int K, int stride,
                         int pad, int Ho, int Wo, int row0, int rows, cl_mem col)
{
    /* element strides of (image, channel, row, column) */
    cl_int sb = Cin * H * W, sc = nchw ? H * W : 1, sy = nchw ? W : W * Cin, sx = nchw ? 1 : Cin;
    clipcl_status st = ocl_setargs(c->im2col, "im2col", 15, OCL_A(src), OCL_A(col), OCL_A(Cin), OCL_A(H), OCL_A(W),
                                   OCL_A(sb), OCL_A(sc), OCL_A(sy), OCL_A(sx), OCL_A(K), OCL_A(stride), OCL_A(pad),
                                   OCL_A(Ho), OCL_A(Wo), OCL_A(row0));
    if (st) return st;
    size_t global[3] = {(size_t)Cin, (size_t)K * K, (size_t)rows}, local[3] = {Cin < 64 ? (size_t)Cin : 64, 1, 1};
    return ocl_run(k->o, c->im2col, "im2col", 3, global, local,
                   prof_slot(k, CLIPCL_OP_ELEMENTWISE, 0, 8.0 * rows * K * K * Cin));
}

clipcl_status ops_conv2d(ops *k, const ops_conv *c, cl_mem src, int nchw, int B, int Cin, int H, int W, cl_mem w,
                         int Cout, int K, int stride, int pad, float beta, cl_mem dst, cl_mem col,
                         size_t col_floats)
{
    if (B < 1 || Cin < 1 || Cout < 1 || K < 1 || stride < 1 || pad < 0 || H + 2 * pad < K || W + 2 * pad < K)
        return err_set(CLIPCL_ERR_INVALID_ARG, "convolution %dx%d stride %d pad %d does not fit a %dx%d input", K, K,
                       stride, pad, H, W);
    const int Ho = (H + 2 * pad - K) / stride + 1, Wo = (W + 2 * pad - K) / stride + 1;
    const size_t M = (size_t)B * Ho * Wo, KC = (size_t)K * K * Cin;
    if (!nchw && K == 1 && stride == 1 && pad == 0)
        return ops_gemm_nt(k, M, (size_t)Cout, KC, 1.0f, src, 0, w, 0, beta, dst, 0);
    if (col_floats < KC)
        return err_set(CLIPCL_ERR_INVALID_ARG, "im2col buffer of %zu floats is below one row of %zu", col_floats, KC);
    if (M > 0x7fffffff) return err_set(CLIPCL_ERR_LIMIT, "convolution output of %zu pixels is beyond the limit", M);
    size_t chunk = col_floats / KC;
    clipcl_status st = CLIPCL_OK;
    for (size_t r0 = 0; r0 < M && !st; r0 += chunk) {
        size_t rows = M - r0 < chunk ? M - r0 : chunk;
        if (!(st = ops_im2col(k, c, src, nchw, Cin, H, W, K, stride, pad, Ho, Wo, (int)r0, (int)rows, col)))
            st = ops_gemm_nt(k, rows, (size_t)Cout, KC, 1.0f, col, 0, w, 0, beta, dst, r0 * (size_t)Cout);
    }
    return st;
}

clipcl_status ops_bias_relu(ops *k, const ops_conv *c, cl_mem x, cl_mem bias, int rows, int cols)
{
    clipcl_status st = ocl_setargs(c->bias_relu, "bias_relu", 3, OCL_A(x), OCL_A(bias), OCL_A(cols));
    return st ? st : run2d(k, c->bias_relu, "bias_relu", cols, rows, CLIPCL_OP_ELEMENTWISE, 8.0 * rows * cols);
}

clipcl_status ops_avgpool(ops *k, const ops_conv *c, cl_mem src, cl_mem dst, int B, int C, int H, int W, int K)
{
    const int Ho = H / K, Wo = W / K;
    clipcl_status st = ocl_setargs(c->avgpool, "avgpool", 8, OCL_A(src), OCL_A(dst), OCL_A(C), OCL_A(H), OCL_A(W),
                                   OCL_A(K), OCL_A(Ho), OCL_A(Wo));
    return st ? st : run2d(k, c->avgpool, "avgpool", C, B * Ho * Wo, CLIPCL_OP_ELEMENTWISE,
                                4.0 * B * Ho * Wo * C * (K * K + 1));
}

clipcl_status ops_rn_tokens(ops *k, const ops_conv *c, cl_mem f, cl_mem x, int B, int P, int C)
{
    clipcl_status st = ocl_setargs(c->tokens, "rn_tokens", 4, OCL_A(f), OCL_A(x), OCL_A(P), OCL_A(C));
    return st ? st : run2d(k, c->tokens, "rn_tokens", C, B * (P + 1), CLIPCL_OP_ELEMENTWISE, 12.0 * B * P * C);
}

clipcl_status ops_attn_pool(ops *k, const ops_conv *c, cl_mem q, cl_mem qb, cl_mem kv, cl_mem kvb, cl_mem out,
                            int B, int T, int C, int heads)
{
    if (heads < 1 || C % heads) return err_set(CLIPCL_ERR_INVALID_ARG, "attention pool: %d heads do not divide %d", heads, C);
    const int D = C / heads;
    if (T < 1 || T > ops_attn_pool_max_tokens(c, D))
        return err_set(CLIPCL_ERR_LIMIT, "attention pool over %d tokens exceeds this device's local memory (%zu bytes)",
                       T, c->local_mem);
    float scale = 1.0f / sqrtf((float)D);
    clipcl_status st = ocl_setargs(c->attn_pool, "attn_pool", 11, OCL_A(q), OCL_A(qb), OCL_A(kv), OCL_A(kvb), OCL_A(out),
                                   OCL_A(T), OCL_A(C), OCL_A(D), OCL_A(scale), (size_t)T * sizeof(float), (const void *)NULL,
                                   (size_t)D * sizeof(float), (const void *)NULL);
    if (st) return st;
    size_t global[2] = {(size_t)heads * POOL_WG, (size_t)B}, local[2] = {POOL_WG, 1};
    double flops = 4.0 * B * (double)T * C, bytes = 4.0 * B * (double)T * 2 * C;
    return ocl_run(k->o, c->attn_pool, "attn_pool", 2, global, local, prof_slot(k, CLIPCL_OP_ATTENTION, flops, bytes));
}

clipcl_status clipcl_profile_read(clipcl_context *ctx, clipcl_op_stats stats[CLIPCL_OP_KINDS])
{
    if (!ctx || !stats) return err_set(CLIPCL_ERR_INVALID_ARG, "clipcl_profile_read: NULL argument");
    if (!ctx->cl.profile) return err_set(CLIPCL_ERR_INVALID_ARG, "the context was created without profiling");
    clipcl_status st = ops_profile_flush(&ctx->k);
    for (int i = 0; i < CLIPCL_OP_KINDS; i++) {
        stats[i] = ctx->k.stats[i];
        stats[i].name = kind_names[i];
    }
    return st;
}

void clipcl_profile_reset(clipcl_context *ctx)
{
    if (!ctx) return;
    ops_profile_flush(&ctx->k);
    memset(ctx->k.stats, 0, sizeof ctx->k.stats);
}

void clipcl_context_memory(const clipcl_context *ctx, uint64_t *current, uint64_t *peak)
{
    if (current) *current = ctx ? ctx->cl.mem_current : 0;
    if (peak) *peak = ctx ? ctx->cl.mem_peak : 0;
}
