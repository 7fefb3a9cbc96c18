/* ops.c — argument setup and launch geometry for the kernels in cl/, plus the CLBlast GEMM. */
#include "ops.h"

#include <clblast_c.h>
#include <math.h>
#include <stdio.h>

#include "err.h"

#define NORM_WG 128  /* must match the -DNORM_WG given to norm.cl */
#define COL_TILE 64  /* 2-D element-wise launches: columns per work-group */

static const char *norm_opts = "-DNORM_WG=128";

clipcl_status ops_init(ops *k, ocl *o)
{
    clipcl_status st;
    k->o = o;
    if ((st = ocl_kernel(o, "norm", norm_opts, "layernorm", &k->layernorm)) ||
        (st = ocl_kernel(o, "norm", norm_opts, "l2norm", &k->l2norm)) ||
        (st = ocl_kernel(o, "eltwise", "", "bias_act", &k->bias_act)) ||
        (st = ocl_kernel(o, "eltwise", "", "add_bias", &k->add_bias)) ||
        (st = ocl_kernel(o, "eltwise", "", "gather_rows", &k->gather_rows)) ||
        (st = ocl_kernel(o, "embed", "", "text_embed", &k->text_embed)) ||
        (st = ocl_kernel(o, "embed", "", "patch_unfold", &k->patch_unfold)) ||
        (st = ocl_kernel(o, "embed", "", "vit_embed", &k->vit_embed))) {
        ops_free(k);
        return st;
    }
    return CLIPCL_OK;
}

void ops_free(ops *k)
{
    cl_kernel *all[] = {&k->layernorm, &k->l2norm, &k->bias_act, &k->add_bias,
                        &k->gather_rows, &k->text_embed, &k->patch_unfold, &k->vit_embed};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        if (*all[i]) clReleaseKernel(*all[i]);
        *all[i] = NULL;
    }
}

/* Launches a kernel over a cols × rows grid (dimension 0 = columns). */
static clipcl_status run2d(ops *k, cl_kernel kern, const char *name, int cols, int rows)
{
    size_t local[2] = {cols < COL_TILE ? (size_t)cols : COL_TILE, 1};
    size_t global[2] = {(size_t)cols, (size_t)rows};
    return ocl_run(k->o, kern, name, 2, global, local);
}

clipcl_status ops_layernorm(ops *k, cl_mem x, cl_mem bias, cl_mem gamma, cl_mem beta, cl_mem y, int rows,
                            int width, float eps)
{
    cl_int has_bias = bias != NULL;
    cl_mem b = bias ? bias : gamma; /* any valid buffer: the kernel does not read it */
    clipcl_status st = ocl_setargs(k->layernorm, "layernorm", 8, OCL_A(x), OCL_A(has_bias), OCL_A(b),
                                   OCL_A(gamma), OCL_A(beta), OCL_A(y), OCL_A(width), OCL_A(eps));
    if (st) return st;
    size_t local = NORM_WG, global = (size_t)rows * NORM_WG;
    return ocl_run(k->o, k->layernorm, "layernorm", 1, &global, &local);
}

clipcl_status ops_l2norm(ops *k, cl_mem x, cl_mem y, int rows, int width)
{
    clipcl_status st = ocl_setargs(k->l2norm, "l2norm", 3, OCL_A(x), OCL_A(y), OCL_A(width));
    if (st) return st;
    size_t local = NORM_WG, global = (size_t)rows * NORM_WG;
    return ocl_run(k->o, k->l2norm, "l2norm", 1, &global, &local);
}

clipcl_status ops_bias_act(ops *k, cl_mem h, cl_mem bias, int rows, int cols, int act)
{
    clipcl_status st = ocl_setargs(k->bias_act, "bias_act", 4, OCL_A(h), OCL_A(bias), OCL_A(cols), OCL_A(act));
    return st ? st : run2d(k, k->bias_act, "bias_act", cols, rows);
}

clipcl_status ops_add_bias(ops *k, cl_mem x, cl_mem bias, int rows, int cols)
{
    clipcl_status st = ocl_setargs(k->add_bias, "add_bias", 3, OCL_A(x), OCL_A(bias), OCL_A(cols));
    return st ? st : run2d(k, k->add_bias, "add_bias", cols, rows);
}

clipcl_status ops_gather_rows(ops *k, cl_mem src, cl_mem idx, cl_mem bias, cl_mem dst, int rows, int cols)
{
    cl_int has_bias = bias != NULL;
    cl_mem b = bias ? bias : src;
    clipcl_status st = ocl_setargs(k->gather_rows, "gather_rows", 6, OCL_A(src), OCL_A(idx), OCL_A(has_bias),
                                   OCL_A(b), OCL_A(dst), OCL_A(cols));
    return st ? st : run2d(k, k->gather_rows, "gather_rows", cols, rows);
}

clipcl_status ops_text_embed(ops *k, cl_mem ids, cl_mem tok, cl_mem pos, cl_mem x, int rows, int T, int W)
{
    clipcl_status st = ocl_setargs(k->text_embed, "text_embed", 6, OCL_A(ids), OCL_A(tok), OCL_A(pos), OCL_A(x),
                                   OCL_A(T), OCL_A(W));
    return st ? st : run2d(k, k->text_embed, "text_embed", W, rows);
}

clipcl_status ops_patch_unfold(ops *k, cl_mem pix, cl_mem patches, int B, int C, int S, int P)
{
    int G = S / P;
    clipcl_status st = ocl_setargs(k->patch_unfold, "patch_unfold", 6, OCL_A(pix), OCL_A(patches), OCL_A(C),
                                   OCL_A(S), OCL_A(P), OCL_A(G));
    return st ? st : run2d(k, k->patch_unfold, "patch_unfold", C * P * P, B * G * G);
}

clipcl_status ops_vit_embed(ops *k, cl_mem patch_out, cl_mem cls, cl_mem pos, cl_mem x, int B, int T, int W)
{
    clipcl_status st = ocl_setargs(k->vit_embed, "vit_embed", 6, OCL_A(patch_out), OCL_A(cls), OCL_A(pos),
                                   OCL_A(x), OCL_A(T), OCL_A(W));
    return st ? st : run2d(k, k->vit_embed, "vit_embed", W, B * T);
}

clipcl_status ops_attn_create(ops *k, int head_dim, ops_attn *out)
{
    char opts[128];
    /* Keys per tile: keep the two local tiles within 16 KB. */
    int kt = 4096 / head_dim;
    if (kt > 32) kt = 32;
    if (kt < 1) kt = 1;
    out->head_dim = head_dim;
    out->wg = 32;
    snprintf(opts, sizeof opts, "-DHEAD_DIM=%d -DATT_WG=%d -DATT_KT=%d", head_dim, out->wg, kt);
    return ocl_kernel(k->o, "attn", opts, "attention", &out->k);
}

void ops_attn_free(ops_attn *a)
{
    if (a->k) clReleaseKernel(a->k);
    a->k = NULL;
}

clipcl_status ops_attention(ops *k, const ops_attn *a, cl_mem qkv, cl_mem bias, cl_mem out, int B, int T,
                            int heads, int causal)
{
    float scale = 1.0f / sqrtf((float)a->head_dim);
    cl_int c = causal;
    clipcl_status st = ocl_setargs(a->k, "attention", 7, OCL_A(qkv), OCL_A(bias), OCL_A(out), OCL_A(T),
                                   OCL_A(heads), OCL_A(scale), OCL_A(c));
    if (st) return st;
    size_t global[3] = {(size_t)T, (size_t)heads, (size_t)B}, local[3] = {(size_t)a->wg, 1, 1};
    return ocl_run(k->o, a->k, "attention", 3, global, local);
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

clipcl_status ops_gemm_nt(ops *k, size_t M, size_t N, size_t K, float alpha, cl_mem A, size_t a_off, cl_mem B,
                          size_t b_off, float beta, cl_mem C, size_t c_off)
{
    if (!M || !N) return CLIPCL_OK;
    CLBlastStatusCode s = CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeYes, M, N, K,
                                       alpha, A, a_off, K, B, b_off, K, beta, C, c_off, N, &k->o->queue, NULL);
    if (s != CLBlastSuccess)
        return err_set(s == CLBlastOpenCLOutOfResources || s == -4 ? CLIPCL_ERR_NOMEM : CLIPCL_ERR_BLAS,
                       "CLBlastSgemm(%zux%zux%zu) failed: %s (%d)", M, N, K, clblast_errstr(s), (int)s);
    return CLIPCL_OK;
}
