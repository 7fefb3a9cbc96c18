/* eltwise.cl — per-element passes on row-major matrices that GEMMs cannot fold: bias add,
 * row gathers, half -> float widening, transposes (the transformer blocks' bias + activation
 * is in fm.cl). Launched as 2-D ranges: dimension 0 over columns, dimension 1 over rows. */

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
