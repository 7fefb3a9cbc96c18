/* eltwise.cl — per-element passes that GEMMs cannot fold: bias + activation, bias add,
 * row gathers. Launched as 2-D ranges: dimension 0 over columns, dimension 1 over rows. */

#define ACT_NONE 0
#define ACT_QUICK_GELU 1 /* x * sigmoid(1.702 x): OpenAI's models */
#define ACT_GELU 2       /* exact erf GELU: LAION / OpenCLIP models */

__kernel void bias_act(__global float *h, __global const float *bias, const int cols, const int act)
{
    const int c = get_global_id(0);
    if (c >= cols) return;
    const size_t i = (size_t)get_global_id(1) * cols + c;
    float v = h[i] + bias[c];
    if (act == ACT_QUICK_GELU)
        v = v * (1.0f / (1.0f + exp(-1.702f * v)));
    else if (act == ACT_GELU)
        v = 0.5f * v * (1.0f + erf(v * 0.70710678118654752f));
    h[i] = v;
}

/* The same for rows whose width is a multiple of 4, four columns per work-item: vector exp and
 * erf let CPU compilers use SIMD, where the scalar kernel calls the scalar functions once per
 * element (PoCL). */
__kernel void bias_act4(__global float *h, __global const float *bias, const int cols4, const int act)
{
    const int c = get_global_id(0);
    if (c >= cols4) return;
    const size_t i = (size_t)get_global_id(1) * cols4 + c;
    float4 v = vload4(i, h) + vload4(c, bias);
    if (act == ACT_QUICK_GELU)
        v = v * (1.0f / (1.0f + exp(-1.702f * v)));
    else if (act == ACT_GELU)
        v = 0.5f * v * (1.0f + erf(v * 0.70710678118654752f));
    vstore4(v, i, h);
}

__kernel void add_bias(__global float *x, __global const float *bias, const int cols)
{
    const int c = get_global_id(0);
    if (c >= cols) return;
    x[(size_t)get_global_id(1) * cols + c] += bias[c];
}

/* dst[r] = src[idx[r]] (+ bias): picks the pooled token of each item. */
__kernel void gather_rows(__global const float *src, __global const int *idx, const int has_bias,
                          __global const float *bias, __global float *dst, const int cols)
{
    const int c = get_global_id(0);
    if (c >= cols) return;
    const int r = get_global_id(1);
    float v = src[(size_t)idx[r] * cols + c];
    if (has_bias) v += bias[c];
    dst[(size_t)r * cols + c] = v;
}

/* dst = (float) src: widens a half-precision weight matrix just before its GEMM. */
__kernel void half_to_float(__global const half *src, __global float *dst, const int n)
{
    const int i = get_global_id(0);
    if (i < n) dst[i] = vload_half(i, src);
}

/* dst [cols, rows] = src [rows, cols] transposed: weights turned [in, out] at load for GEMM
 * kernels that read them that way (ops_set_gemm). Launch: global (cols, rows). */
__kernel void transpose32(__global const uint *src, __global uint *dst, const int rows, const int cols)
{
    const int c = get_global_id(0), r = get_global_id(1);
    if (c < cols) dst[(size_t)c * rows + r] = src[(size_t)r * cols + c];
}

/* The same for 2-byte elements (fp16 weight storage). */
__kernel void transpose16(__global const ushort *src, __global ushort *dst, const int rows, const int cols)
{
    const int c = get_global_id(0), r = get_global_id(1);
    if (c < cols) dst[(size_t)c * rows + r] = src[(size_t)r * cols + c];
}
