/* embed.cl — the encoders' input stages: token + position embeddings and image bytes to
 * normalized pixels. (The ViT's patch unfold and class + position embeddings work on the
 * blocks' feature-major layout: cl/fm.cl.) */

/* x[row] = tok[ids[row]] + pos[row % T]; ids were range-checked on the host. */
__kernel void text_embed(__global const int *ids, __global const float *tok, __global const float *pos,
                         __global float *x, const int T, const int W)
{
    const int c = get_global_id(0);
    if (c >= W) return;
    const int row = get_global_id(1);
    x[(size_t)row * W + c] = tok[(size_t)ids[row] * W + c] + pos[(size_t)(row % T) * W + c];
}

/* The same with a half-precision token table (fp16 weight storage). */
__kernel void text_embed_h(__global const int *ids, __global const half *tok, __global const float *pos,
                           __global float *x, const int T, const int W)
{
    const int c = get_global_id(0);
    if (c >= W) return;
    const int row = get_global_id(1);
    x[(size_t)row * W + c] = vload_half((size_t)ids[row] * W + c, tok) + pos[(size_t)(row % T) * W + c];
}

/* pix[b][c][p] = lut[c][rgb[(b*plane + p)*3 + c]]: HWC bytes to normalized CHW floats through
 * the host's table of every byte's value, so the result equals the host's bit for bit. */
__kernel void rgb8_normalize(__global const uchar *rgb, __global const float *lut, __global float *pix,
                             const int plane, const int total)
{
    const int i = get_global_id(0);
    if (i >= total) return;
    const int b = i / plane, p = i - b * plane;
    __global const uchar *s = rgb + (size_t)i * 3;
    __global float *d = pix + (size_t)b * 3 * plane + p;
    d[0] = lut[s[0]];
    d[plane] = lut[256 + s[1]];
    d[(size_t)2 * plane] = lut[512 + s[2]];
}

