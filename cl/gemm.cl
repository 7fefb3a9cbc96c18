/* gemm.cl — clipcl's own GEMMs for the transformer blocks' products: gemm_fm_small over few
 * tokens, gemm_fm_tile over many (both chosen by measurement, see the end of this comment).
 *
 * CLBlast takes every large product. Over few tokens (a batch of one: 50 image or up to 77
 * text tokens) a product is a handful of MFLOP and CLBlast's kernels leave most of a big GPU
 * idle: on an H200 its direct kernel took 69 µs for 50×2304×768 (2.5 TFLOP/s), 50 such
 * calls per image (bench/NOTES.md). This kernel spreads the output features over many small
 * work-groups, reads fp16 weights directly (no widening pass) and is launched without any
 * host-side bookkeeping. It is used only where `clipcl tune` or the device's built-in row
 * found it faster (ops_gemm_fm, k->small_tokens).
 *
 * C = W · A + beta · C on one feature-major chunk (cl/fm.cl): A [K][Tp], C [N][Tp] (tokens
 * contiguous), W the weight as stored [N][K] or, with W_T, transposed [K][N] (the form the
 * model keeps for CLBlast's GEMMK=0 kernel); with W_HALF its elements are halves. With
 * act >= 0 the result gets bias[feature] and that activation (as bias_act_fm in cl/fm.cl),
 * which saves the MLP a launch.
 *
 * A work-group computes SG_NF features × SG_TT tokens through local-memory tiles of SG_KB
 * along K; each work-item keeps SG_RF features × SG_RT tokens in registers. Its tokens are
 * SG_TT / SG_RT apart, so that neighbouring work-items read neighbouring local words and
 * write neighbouring tokens; its features are neighbours read as one broadcast word each.
 * Launch: global (ceil(Tp / SG_TT) * SG_TX, ceil(N / SG_NF) * SG_FY, parts), local (SG_TX,
 * SG_FY, 1); SG_KB * SG_TT and SG_KB * SG_NF must be multiples of SG_TX * SG_FY.
 *
 * gemm_fm_tile is the same product over many tokens (batch 256: 12,800), where CLBlast's
 * Xgemm reached 32 TFLOP/s on an H200 and cuBLAS about 45 (bench/NOTES.md). Larger tiles
 * (TL_NF features × TL_TT tokens per work-group, TL_RF × TL_RT per work-item, both multiples
 * of 4) and float4 reads of local memory: with 8 × 8 results per work-item each K step is
 * 4 local reads for 64 multiply-adds. A work-item's features and tokens are groups of 4,
 * TL_FY * 4 and TL_TX * 4 apart, so that a warp's reads of a tile row are contiguous and its
 * stores are float4s along tokens. It works on every chunk at once (z = chunk). Its tile
 * sizes are parameters: `clipcl tune` times a few sets and keeps the best where it beats
 * CLBlast (ClipclTile in host/tune.h). */
#ifndef SG_TT
#define SG_TT 64 /* tokens per work-group */
#endif
#ifndef SG_NF
#define SG_NF 16 /* output features per work-group */
#endif
#ifndef SG_KB
#define SG_KB 32 /* K per local-memory tile */
#endif
#ifndef SG_RT
#define SG_RT 2 /* tokens per work-item (divides SG_TT) */
#endif
#ifndef SG_RF
#define SG_RF 4 /* features per work-item (divides SG_NF) */
#endif
#ifndef W_T
#define W_T 0
#endif
#ifndef W_HALF
#define W_HALF 0
#endif
/* which kernels a build holds (1: gemm_fm_small, 2: gemm_fm_tile, 4: gemm_fm_reg; the
 * reduction always): PoCL spends seconds per kernel on fully unrolled register tiles, and
 * the host builds each kernel with its own sizes anyway */
#ifndef GEMM_KERNELS
#define GEMM_KERNELS 7
#endif

#define ACT_QUICK_GELU 1 /* as cl/fm.cl */
#define ACT_GELU 2

/* act < 0: v as it is; else v + bias and the activation */
static inline float sg_epilogue(float v, __global const float *bias, int n, int act)
{
    if (act < 0) return v;
    v += bias[n];
    if (act == ACT_QUICK_GELU) return v * (1.0f / (1.0f + exp(-1.702f * v)));
    if (act == ACT_GELU) return 0.5f * v * (1.0f + erf(v * 0.70710678118654752f));
    return v;
}

/* the same on each lane of a vector of tokens (one feature n) */
static inline float4 sg_epilogue4(float4 v, __global const float *bias, int n, int act)
{
    if (act < 0) return v;
    return (float4)(sg_epilogue(v.x, bias, n, act), sg_epilogue(v.y, bias, n, act), sg_epilogue(v.z, bias, n, act),
                    sg_epilogue(v.w, bias, n, act));
}

#define SG_TX (SG_TT / SG_RT)
#define SG_FY (SG_NF / SG_RF)
#define SG_WG (SG_TX * SG_FY)

#if W_HALF
#define WLOAD(i) vload_half((i), W)
#define WLOADP(p, i) vload_half((i), (p))
typedef __global const half *wptr;
#else
#define WLOAD(i) (W[i])
#define WLOADP(p, i) ((p)[i])
typedef __global const float *wptr;
#endif

#if GEMM_KERNELS & 1
#define SG_LA (SG_KB * SG_TT / SG_WG) /* A-tile elements each work-item loads */
#define SG_LW (SG_KB * SG_NF / SG_WG) /* W-tile elements each work-item loads (>= 1) */

/* The next tiles go into registers before the current ones are multiplied, so that their
 * global latency overlaps the arithmetic (a product over few tokens has about one
 * work-group per compute unit: nothing else would hide it). */
static inline void sg_fetch(__global const float *A, wptr W, int N, int K, int Tp, int k0, int kend, int t0, int n0,
                            int lid, float *pa, float *pw)
{
    for (int i = 0; i < SG_LA; i++) {
        const int e = lid + i * SG_WG, kk = e / SG_TT, t = e % SG_TT;
        pa[i] = k0 + kk < kend && t0 + t < Tp ? A[(size_t)(k0 + kk) * Tp + t0 + t] : 0.0f;
    }
    for (int i = 0; i < SG_LW; i++) {
        const int e = lid + i * SG_WG;
#if W_T
        const int kk = e / SG_NF, f = e % SG_NF;
        pw[i] = k0 + kk < kend && n0 + f < N ? WLOAD((size_t)(k0 + kk) * N + n0 + f) : 0.0f;
#else
        const int f = e / SG_KB, kk = e % SG_KB;
        pw[i] = k0 + kk < kend && n0 + f < N ? WLOAD((size_t)(n0 + f) * K + k0 + kk) : 0.0f;
#endif
    }
}

/* Work-group (x, y, z) takes tokens from x * SG_TT, features from y * SG_NF and K from
 * z * kpart (split K: more work-groups for the long products; then C is a scratch of
 * [parts][N][Tp] partial sums that gemm_fm_reduce adds up, and beta is not used). */
__kernel __attribute__((reqd_work_group_size(SG_TX, SG_FY, 1)))
void gemm_fm_small(__global const float *A, wptr W, __global float *C, const int N, const int K, const int Tp,
                   const float beta, const int kpart, __global const float *bias, const int act)
{
    __local float As[SG_KB][SG_TT];
    __local float Ws[SG_KB][SG_NF];
    const int tx = get_local_id(0), fy = get_local_id(1), lid = fy * SG_TX + tx;
    const int t0 = get_group_id(0) * SG_TT, n0 = get_group_id(1) * SG_NF;
    const int kbeg = get_group_id(2) * kpart, kend = min(K, kbeg + kpart);
    const int split = get_num_groups(2) > 1;
    float acc[SG_RF][SG_RT], pa[SG_LA], pw[SG_LW];
    for (int r = 0; r < SG_RF; r++)
        for (int c = 0; c < SG_RT; c++) acc[r][c] = 0.0f;

    sg_fetch(A, W, N, K, Tp, kbeg, kend, t0, n0, lid, pa, pw);
    for (int k0 = kbeg; k0 < kend; k0 += SG_KB) {
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int i = 0; i < SG_LA; i++) {
            const int e = lid + i * SG_WG;
            As[e / SG_TT][e % SG_TT] = pa[i];
        }
        for (int i = 0; i < SG_LW; i++) {
            const int e = lid + i * SG_WG;
#if W_T
            Ws[e / SG_NF][e % SG_NF] = pw[i];
#else
            Ws[e % SG_KB][e / SG_KB] = pw[i];
#endif
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (k0 + SG_KB < kend) sg_fetch(A, W, N, K, Tp, k0 + SG_KB, kend, t0, n0, lid, pa, pw);
        for (int kk = 0; kk < SG_KB; kk++) {
            float a[SG_RT], w[SG_RF];
            for (int c = 0; c < SG_RT; c++) a[c] = As[kk][tx + c * SG_TX];
            for (int r = 0; r < SG_RF; r++) w[r] = Ws[kk][fy * SG_RF + r];
            for (int r = 0; r < SG_RF; r++)
                for (int c = 0; c < SG_RT; c++) acc[r][c] += w[r] * a[c];
        }
    }
    __global float *out = C + (split ? (size_t)get_group_id(2) * N * Tp : 0);
    for (int r = 0; r < SG_RF; r++) {
        const int n = n0 + fy * SG_RF + r;
        if (n >= N) break;
        for (int c = 0; c < SG_RT; c++) {
            const int t = t0 + tx + c * SG_TX;
            if (t >= Tp) continue;
            __global float *p = out + (size_t)n * Tp + t;
            *p = split ? acc[r][c] : sg_epilogue(beta != 0.0f ? acc[r][c] + beta * *p : acc[r][c], bias, n, act);
        }
    }
}

#endif /* GEMM_KERNELS & 1 */

/* C = beta * C + the sum of the parts' partial products P [parts][n], in order (the same
 * result on every run), then the epilogue. Launch: global n = N * Tp. */
__kernel void gemm_fm_reduce(__global const float *P, __global float *C, const int n, const int parts,
                             const float beta, const int Tp, __global const float *bias, const int act)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    float s = P[i];
    for (int p = 1; p < parts; p++) s += P[(size_t)p * n + i];
    C[i] = sg_epilogue(beta != 0.0f ? s + beta * C[i] : s, bias, i / Tp, act);
}

/* ------------------------------------------------------------------ many tokens */
#if GEMM_KERNELS & 2

#ifndef TL_TT
#define TL_TT 128 /* tokens per work-group */
#endif
#ifndef TL_NF
#define TL_NF 128 /* output features per work-group */
#endif
#ifndef TL_RT
#define TL_RT 8 /* tokens per work-item, a multiple of 4 */
#endif
#ifndef TL_RF
#define TL_RF 8 /* features per work-item, a multiple of 4 */
#endif
#ifndef TL_KB
#define TL_KB 16 /* K per local-memory tile */
#endif
#define TL_TX (TL_TT / TL_RT)
#define TL_FY (TL_NF / TL_RF)
#define TL_WG (TL_TX * TL_FY)
#define TL_LA (TL_KB * TL_TT / TL_WG) /* A-tile elements each work-item loads */
#define TL_LW (TL_KB * TL_NF / TL_WG) /* W-tile elements each work-item loads */

/* Element e of a tile, e = lid + i * TL_WG, is the tile's row-major element e: neighbouring
 * work-items read neighbouring addresses of A (and of W when it is transposed). Indices are
 * ints (the host bounds every operand below 2^31 elements): 64-bit addresses per element
 * cost the unrolled loads a register pair each. Tiles wholly inside the operands, all but
 * the edges, load without per-element tests. */
static inline void tl_fetch(__global const float *A, wptr W, int N, int K, int w, int k0, int t0, int n0, int lid,
                            int inside, float *pa, float *pw)
{
    if (inside && k0 + TL_KB <= K) {
        #pragma unroll
        for (int i = 0; i < TL_LA; i++) {
            const int e = lid + i * TL_WG;
            pa[i] = A[(k0 + e / TL_TT) * w + t0 + e % TL_TT];
        }
        #pragma unroll
        for (int i = 0; i < TL_LW; i++) {
            const int e = lid + i * TL_WG;
#if W_T
            pw[i] = WLOAD((k0 + e / TL_NF) * N + n0 + e % TL_NF);
#else
            pw[i] = WLOAD((n0 + e / TL_KB) * K + k0 + e % TL_KB);
#endif
        }
        return;
    }
    #pragma unroll
    for (int i = 0; i < TL_LA; i++) {
        const int e = lid + i * TL_WG, kk = e / TL_TT, t = e % TL_TT;
        pa[i] = k0 + kk < K && t0 + t < w ? A[(k0 + kk) * w + t0 + t] : 0.0f;
    }
    #pragma unroll
    for (int i = 0; i < TL_LW; i++) {
        const int e = lid + i * TL_WG;
#if W_T
        const int kk = e / TL_NF, f = e % TL_NF;
        pw[i] = k0 + kk < K && n0 + f < N ? WLOAD((k0 + kk) * N + n0 + f) : 0.0f;
#else
        const int f = e / TL_KB, kk = e % TL_KB;
        pw[i] = k0 + kk < K && n0 + f < N ? WLOAD((n0 + f) * K + k0 + kk) : 0.0f;
#endif
    }
}

/* Work-group (x, y, z) takes tokens x * TL_TT.. of chunk z and features y * TL_NF..; a chunk
 * is ch tokens wide (the last one what is left of Tp) and a dense [K][w] block of A and
 * [N][w] block of C (cl/fm.cl). Launch: global (ceil(ch / TL_TT) * TL_TX, ceil(N / TL_NF) *
 * TL_FY, chunks), local (TL_TX, TL_FY, 1). Tp and ch are multiples of 4. */
__kernel __attribute__((reqd_work_group_size(TL_TX, TL_FY, 1)))
void gemm_fm_tile(__global const float *A, wptr W, __global float *C, const int N, const int K, const int Tp,
                  const int ch, const float beta, __global const float *bias, const int act)
{
    __local float4 As[TL_KB][TL_TT / 4];
    __local float4 Ws[TL_KB][TL_NF / 4];
    __local float *as = (__local float *)As, *ws = (__local float *)Ws;
    const int tx = get_local_id(0), fy = get_local_id(1), lid = fy * TL_TX + tx;
    const int c0 = get_group_id(2) * ch, w = min(ch, Tp - c0);
    const int t0 = get_group_id(0) * TL_TT, n0 = get_group_id(1) * TL_NF;
    if (t0 >= w) return; /* the whole work-group: the last chunk is narrower */
    A += (size_t)c0 * K;
    C += (size_t)c0 * N;
    float4 acc[TL_RF][TL_RT / 4];
    float pa[TL_LA], pw[TL_LW];
    #pragma unroll
    for (int r = 0; r < TL_RF; r++)
        #pragma unroll
        for (int c = 0; c < TL_RT / 4; c++) acc[r][c] = (float4)(0.0f);

    const int inside = t0 + TL_TT <= w && n0 + TL_NF <= N;
    tl_fetch(A, W, N, K, w, 0, t0, n0, lid, inside, pa, pw);
    for (int k0 = 0; k0 < K; k0 += TL_KB) {
        barrier(CLK_LOCAL_MEM_FENCE);
        #pragma unroll
        for (int i = 0; i < TL_LA; i++) as[lid + i * TL_WG] = pa[i];
        #pragma unroll
        for (int i = 0; i < TL_LW; i++) {
            const int e = lid + i * TL_WG;
#if W_T
            ws[e] = pw[i];
#else
            ws[(e % TL_KB) * TL_NF + e / TL_KB] = pw[i];
#endif
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (k0 + TL_KB < K) tl_fetch(A, W, N, K, w, k0 + TL_KB, t0, n0, lid, inside, pa, pw);
        #pragma unroll
        for (int kk = 0; kk < TL_KB; kk++) {
            float4 a[TL_RT / 4], f[TL_RF / 4];
            #pragma unroll
            for (int c = 0; c < TL_RT / 4; c++) a[c] = As[kk][c * TL_TX + tx];
            #pragma unroll
            for (int g = 0; g < TL_RF / 4; g++) f[g] = Ws[kk][g * TL_FY + fy];
            #pragma unroll
            for (int g = 0; g < TL_RF / 4; g++)
                #pragma unroll
                for (int c = 0; c < TL_RT / 4; c++) {
                    acc[4 * g + 0][c] += f[g].x * a[c];
                    acc[4 * g + 1][c] += f[g].y * a[c];
                    acc[4 * g + 2][c] += f[g].z * a[c];
                    acc[4 * g + 3][c] += f[g].w * a[c];
                }
        }
    }
    #pragma unroll
    for (int r = 0; r < TL_RF; r++) {
        const int n = n0 + ((r / 4) * TL_FY + fy) * 4 + r % 4;
        if (n >= N) continue;
        #pragma unroll
        for (int c = 0; c < TL_RT / 4; c++) {
            const int t = t0 + (c * TL_TX + tx) * 4;
            if (t >= w) continue;
            __global float *p = C + n * w + t;
            float4 v = acc[r][c];
            if (beta != 0.0f) v += beta * vload4(0, p);
            vstore4(sg_epilogue4(v, bias, n, act), 0, p);
        }
    }
}

#endif /* GEMM_KERNELS & 2 */

/* ------------------------------------------------------------------ many tokens, CPUs */
#if GEMM_KERNELS & 4

/* gemm_fm_reg: the same product without local memory, for CPUs. PoCL runs a work-group as
 * loops over its items, split at every barrier, so the tiled kernel's design costs there
 * what it saves on a GPU (0.65 against 3.8 images/s with CLBlast, ViT-B/32 batch 8). Here a
 * work-group is one work-item that keeps RG_NF features × RG_TT tokens in vector
 * accumulators of RG_VW tokens over all of K: per K step RG_TT / RG_VW vector loads of A, one
 * broadcast per feature, RG_TT / RG_VW FMAs per feature. RG_VW is the CPU's vector: 8 for
 * AVX2 (6 × 16 fills 12 of its 16 registers), 16 for AVX-512 (6 × 64 fills 24 of its 32).
 * fma() because the kernel is for CPUs, which have it (PoCL turns mad() into a multiply and
 * an add). The weight rows are streams along K; transposed weights (W_T) read a strided
 * column instead, which measured twice as slow on PoCL. Launch: global (ceil(ch / RG_TT),
 * ceil(N / RG_NF), chunks), local (1, 1, 1). Tp and ch are multiples of 8, so with
 * RG_VW = 16 a chunk's last vector may hold 8 tokens. Only the real tokens (the first rows,
 * rounded up to 8) are computed, and a work-item's loop runs on its vectors that hold some:
 * at batch 1 a text's 77 tokens were 128 columns of products, now 80; the padding's columns
 * of C keep what they held, which nothing reads for a result (cl/fm.cl). */
#ifndef RG_NF
#define RG_NF 6 /* features per work-item */
#endif
#ifndef RG_VW
#define RG_VW 8 /* tokens per vector: 8 or 16 */
#endif
#ifndef RG_TT
#define RG_TT 16 /* tokens per work-item, a multiple of RG_VW */
#endif
#define RG_V (RG_TT / RG_VW)

/* sg_epilogue on a vector of tokens of feature n, with the vector forms of exp and erf: the
 * lane-by-lane form took 6 % of a ViT-B/32 image batch on PoCL (fc1's GELU, 15 M values) */
#define RG_EPILOGUE(T)                                                                                          \
    static inline T rg_epilogue_##T(T v, __global const float *bias, int n, int act)                           \
    {                                                                                                           \
        if (act < 0) return v;                                                                                  \
        v += bias[n];                                                                                           \
        if (act == ACT_QUICK_GELU) return v * (1.0f / (1.0f + exp(-1.702f * v)));                              \
        if (act == ACT_GELU) return 0.5f * v * (1.0f + erf(v * 0.70710678118654752f));                          \
        return v;                                                                                               \
    }
RG_EPILOGUE(float8)
#define rg_epilogue8 rg_epilogue_float8

#if RG_VW == 16
typedef float16 rgvec;
#define RG_LOAD(i, p) vload16((i), (p))
#define RG_STORE(x, i, p) vstore16((x), (i), (p))
/* the first 8 tokens of vector i, the rest zeros */
#define RG_LOAD_HALF(i, p) ((float16)(vload8(2 * (i), (p)), (float8)(0.0f)))
#define RG_LO(x) ((x).lo)
RG_EPILOGUE(float16)
#define rg_epilogue rg_epilogue_float16
#elif RG_VW == 8
typedef float8 rgvec;
#define RG_LOAD(i, p) vload8((i), (p))
#define RG_STORE(x, i, p) vstore8((x), (i), (p))
#define RG_LOAD_HALF(i, p) ((float8)(0.0f)) /* never: chunks are whole vectors of 8 */
#define RG_LO(x) (x)
#define rg_epilogue rg_epilogue8
#else
#error "RG_VW must be 8 or 16"
#endif

#if W_T
#define RG_W(r, k) WLOADP(wr[r], (size_t)(k) * N)
#else
#define RG_W(r, k) WLOADP(wr[r], (k))
#endif
/* vector v of the work-item's tokens at p: whole, its first 8 tokens (the chunk's last), or
   zeros past the chunk */
#define RG_LOADV(v, p) ((v) < nv ? RG_LOAD(v, p) : (v) == nv && part ? RG_LOAD_HALF(v, p) : (rgvec)(0.0f))
/* one K step on the first NA vectors of tokens, with the A vectors that LOADV(v) gives */
#define RG_STEP(NA, LOADV)                                                                                      \
    {                                                                                                           \
        rgvec a[RG_V];                                                                                          \
        _Pragma("unroll") for (int v = 0; v < (NA); v++) a[v] = LOADV;                                          \
        _Pragma("unroll") for (int r = 0; r < RG_NF; r++) {                                                     \
            const rgvec f = (rgvec)(RG_W(r, k));                                                                \
            _Pragma("unroll") for (int v = 0; v < (NA); v++) acc[r][v] = fma(f, a[v], acc[r][v]);               \
        }                                                                                                       \
    }
/* the K loop over NA vectors of tokens, the last of them half (its first 8 tokens) when H:
   which vector loads what is known when the kernel is compiled, so the loop has no tests */
#define RG_LOOP(NA, H)                                                                                          \
    for (int k = 0; k < K; k++, A += w) RG_STEP(NA, (H) && v == (NA) - 1 ? RG_LOAD_HALF(v, A) : RG_LOAD(v, A))
/* the loops of a work-item with NA vectors that hold real tokens */
#define RG_TAIL(NA)                                                                                             \
    else if (nv + part == (NA)) {                                                                               \
        if (part)                                                                                               \
            RG_LOOP(NA, 1)                                                                                      \
        else                                                                                                    \
            RG_LOOP(NA, 0)                                                                                      \
    }

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void gemm_fm_reg(__global const float *A, wptr W, __global float *C, const int N, const int K, const int Tp,
                 const int ch, const int rows, const float beta, __global const float *bias, const int act)
{
    const int c0 = get_group_id(2) * ch, w = min(ch, Tp - c0);
    const int t0 = get_group_id(0) * RG_TT, n0 = get_group_id(1) * RG_NF;
    const int real = min(w, (rows - c0 + 7) / 8 * 8); /* the chunk's real tokens, rounded up to 8 */
    if (t0 >= real) return;
    /* whole vectors of real tokens, and whether one more holds the last 8 */
    const int nv = min(RG_V, (real - t0) / RG_VW), part = nv < RG_V && (real - t0) % RG_VW != 0;
    A += (size_t)c0 * K + t0;
    C += (size_t)c0 * N + t0;
    rgvec acc[RG_NF][RG_V];
    wptr wr[RG_NF];
    #pragma unroll
    for (int r = 0; r < RG_NF; r++) {
        #pragma unroll
        for (int v = 0; v < RG_V; v++) acc[r][v] = (rgvec)(0.0f);
        const int n = min(n0 + r, N - 1); /* rows past N repeat the last; not stored */
#if W_T
        wr[r] = W + n;
#else
        wr[r] = W + (size_t)n * K;
#endif
    }
    /* a work-item wholly inside its chunk's real tokens (all but a chunk's last), or with
       fewer vectors that hold some, the last maybe half: a loop made for each case */
    if (nv == RG_V)
        RG_LOOP(RG_V, 0)
#if RG_V > 1
    RG_TAIL(1)
#endif
#if RG_V > 2
    RG_TAIL(2)
#endif
#if RG_V > 3
    RG_TAIL(3)
#endif
#if RG_V > 4
    RG_TAIL(4)
#endif
#if RG_V > 5
    RG_TAIL(5)
#endif
#if RG_V > 6
    RG_TAIL(6)
#endif
#if RG_V > 7
    RG_TAIL(7)
#endif
    else /* nv == RG_V - 1 and the last vector half: the only case left */
        RG_LOOP(RG_V, 1)
    #pragma unroll
    for (int r = 0; r < RG_NF; r++) {
        const int n = n0 + r;
        __global float *p = C + n * w;
        #pragma unroll
        for (int v = 0; v < RG_V; v++) {
            if (n >= N || v > nv || (v == nv && !part)) continue;
            rgvec o = acc[r][v];
            if (beta != 0.0f) o += beta * RG_LOADV(v, p);
            if (v < nv)
                RG_STORE(rg_epilogue(o, bias, n, act), v, p);
            else /* the chunk's last 8 tokens */
                vstore8(rg_epilogue8(RG_LO(o), bias, n, act), 2 * v, p);
        }
    }
}
#endif /* GEMM_KERNELS & 4 */
