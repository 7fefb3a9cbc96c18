/* img_resample.c — resize + centre crop + convert("RGB"), bit-exact with OpenAI's pipeline
 * (torchvision Resize(S, BICUBIC) and CenterCrop(S) on a PIL image, Pillow ≤ 12).
 *
 * What has to match Pillow for identical bytes (see Pillow's libImaging/Resample.c):
 * - filter weights computed in double with the same expressions, normalized by their sum,
 *   then rounded to fixed point with 22 fractional bits (PRECISION_BITS = 32 - 8 - 2);
 * - accumulation starting at one half (rounding), then clipping to 8 bits after each pass;
 *   the horizontal pass runs first and its 8-bit result feeds the vertical pass;
 * - a pass is skipped when its dimension keeps its size, and nothing at all is resampled
 *   when both keep theirs (Image.resize returns a copy then, even for RGBA);
 * - RGBA/LA are premultiplied (MULDIV255) before and unpremultiplied (truncating division)
 *   after, P and 1 use nearest neighbour with Pillow's accumulated coordinates, I;16 uses
 *   double accumulation rounded and clipped to 16 bits per pass.
 * Pillow 13 runs the vertical pass first when the height shrinks more than twice as much as
 * the width (tall images); the pipeline CLIP models were trained with is horizontal first.
 *
 * Only the crop is computed: coefficient tables cover the cropped output columns and rows,
 * and the horizontal pass covers just the input rows those output rows read. Each output
 * value depends only on its own coefficients, so this gives the same bytes as resizing the
 * whole image and cropping, at a fraction of the work (and bounded memory for 1×N images). */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "img.h"

/* The weights must round exactly as Pillow's do: forbid fused multiply-add contraction. */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define PRECISION_BITS (32 - 8 - 2)
#define HALF (1 << (PRECISION_BITS - 1))
#define BICUBIC_SUPPORT 2.0

/* Coefficients of a run of output positions [o0, o0 + n) along one axis. */
typedef struct coeffs {
    int n, ksize;
    int *start;   /* first input index read by each output */
    int *count;   /* number of inputs read */
    int32_t *k;   /* n × ksize fixed-point weights */
    double *kd;   /* n × ksize double weights (16-bit path only), else NULL */
} coeffs;

static void coeffs_free(coeffs *c)
{
    free(c->start);
    free(c->count);
    free(c->k);
    free(c->kd);
    memset(c, 0, sizeof *c);
}

/* Keys' cubic with a = -0.5, written as Pillow writes it so that the doubles agree. */
static double bicubic_filter(double x)
{
    const double a = -0.5;
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc for outputs o0 .. o0+n-1 of an axis
 * resampled from in_size to out_size (box = the whole axis). */
static clipcl_status coeffs_make(coeffs *c, int in_size, int out_size, int o0, int n,
                                 int want_double)
{
    memset(c, 0, sizeof *c);
    /* Pillow divides a float box extent by the size; in_size <= 32768 is exact in float. */
    double scale = (double)(float)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = BICUBIC_SUPPORT * filterscale;
    double inv_filterscale = 1.0 / filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *w = NULL;

    c->n = n;
    c->ksize = ksize;
    c->start = malloc((size_t)n * sizeof *c->start);
    c->count = malloc((size_t)n * sizeof *c->count);
    c->k = malloc((size_t)n * ksize * sizeof *c->k);
    w = malloc((size_t)ksize * sizeof *w);
    if (want_double)
        c->kd = malloc((size_t)n * ksize * sizeof *c->kd);
    if (!c->start || !c->count || !c->k || !w || (want_double && !c->kd))
        goto nomem;

    for (int i = 0; i < n; i++) {
        int xx = o0 + i;
        double center = (xx + 0.5) * scale;
        double ww = 0.0;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        if (xmax > ksize) /* cannot happen (the window spans at most ksize inputs) */
            xmax = ksize;
        if (xmax < 0)
            xmax = 0;
        for (int x = 0; x < xmax; x++) {
            double v = bicubic_filter((x + xmin - center + 0.5) * inv_filterscale);
            w[x] = v;
            ww += v;
        }
        if (ww != 0.0)
            for (int x = 0; x < xmax; x++)
                w[x] /= ww;
        int32_t *k = c->k + (size_t)i * ksize;
        for (int x = 0; x < ksize; x++) {
            double v = x < xmax ? w[x] : 0.0;
            k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS))
                         : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
            if (c->kd)
                c->kd[(size_t)i * ksize + x] = v;
        }
        c->start[i] = xmin;
        c->count[i] = xmax;
    }
    free(w);
    return CLIPCL_OK;
nomem:
    free(w);
    coeffs_free(c);
    return err_set(CLIPCL_ERR_NOMEM, "image resize: out of memory for %d×%d coefficients", n,
                   ksize);
}

static inline uint8_t clip8(int32_t v)
{
    v >>= PRECISION_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static inline unsigned muldiv255(unsigned a, unsigned b)
{
    unsigned t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

/* ------------------------------------------------------------------ 8-bit passes */

/* One row of the horizontal pass: src holds input columns from `base` on. */
static inline void hrow8(const uint8_t *restrict src, int base, uint8_t *restrict dst,
                         const coeffs *c, const int ch)
{
    for (int i = 0; i < c->n; i++) {
        const int32_t *k = c->k + (size_t)i * c->ksize;
        const uint8_t *p = src + (size_t)(c->start[i] - base) * ch;
        int cnt = c->count[i];
        int32_t a0 = HALF, a1 = HALF, a2 = HALF, a3 = HALF;
        for (int x = 0; x < cnt; x++, p += ch) {
            int32_t kv = k[x];
            a0 += p[0] * kv;
            if (ch > 1)
                a1 += p[1] * kv;
            if (ch > 2)
                a2 += p[2] * kv;
            if (ch > 3)
                a3 += p[3] * kv;
        }
        dst[0] = clip8(a0);
        if (ch > 1)
            dst[1] = clip8(a1);
        if (ch > 2)
            dst[2] = clip8(a2);
        if (ch > 3)
            dst[3] = clip8(a3);
        dst += ch;
    }
}

static void hrow8_any(const uint8_t *src, int base, uint8_t *dst, const coeffs *c, int ch)
{
    switch (ch) {
    case 1: hrow8(src, base, dst, c, 1); break;
    case 2: hrow8(src, base, dst, c, 2); break;
    case 3: hrow8(src, base, dst, c, 3); break;
    default: hrow8(src, base, dst, c, 4); break;
    }
}

/* Vertical pass: rows of t (row_len values each) from input row `base` on. Integer sums
 * are exact, so accumulating tap by tap over a whole row gives Pillow's per-pixel result. */
static void vpass8(const uint8_t *t, int base, size_t row_len, const coeffs *c, int32_t *acc,
                   uint8_t *out)
{
    for (int i = 0; i < c->n; i++) {
        const int32_t *k = c->k + (size_t)i * c->ksize;
        for (size_t j = 0; j < row_len; j++)
            acc[j] = HALF;
        for (int y = 0; y < c->count[i]; y++) {
            const uint8_t *restrict row = t + (size_t)(c->start[i] - base + y) * row_len;
            int32_t kv = k[y];
            for (size_t j = 0; j < row_len; j++)
                acc[j] += row[j] * kv;
        }
        uint8_t *restrict o = out + (size_t)i * row_len;
        for (size_t j = 0; j < row_len; j++)
            o[j] = clip8(acc[j]);
    }
}

/* Copies pixels [c0, c1) of row y into dst, premultiplied when the mode has alpha. */
static void fetch_row8(const clipcl_image *img, int y, int c0, int c1, int premul,
                       uint8_t *dst)
{
    int ch = img->channels;
    const uint8_t *src = (const uint8_t *)img->pixels + ((size_t)y * img->width + c0) * ch;
    size_t n = (size_t)(c1 - c0);
    if (!premul) {
        memcpy(dst, src, n * ch);
        return;
    }
    for (size_t x = 0; x < n; x++, src += ch, dst += ch) {
        unsigned a = src[ch - 1];
        for (int j = 0; j < ch - 1; j++)
            dst[j] = (uint8_t)muldiv255(src[j], a);
        dst[ch - 1] = (uint8_t)a;
    }
}

/* Pillow's RGBa → RGBA (and La → LA): 255 * v / a truncated, clipped. The division is done
 * by multiplying with ceil(2^32 / a), exact for dividends below 2^32 / 255 (here <= 65025). */
static void unpremultiply(uint8_t *p, size_t n, int ch)
{
    uint64_t inv[256]; /* inv[1] = 2^32 needs 33 bits */
    inv[0] = 0;
    for (unsigned a = 1; a < 256; a++)
        inv[a] = 0xFFFFFFFFu / a + (uint64_t)1;
    for (size_t x = 0; x < n; x++, p += ch) {
        unsigned a = p[ch - 1];
        if (a == 0 || a == 255)
            continue;
        for (int j = 0; j < ch - 1; j++) {
            uint32_t v = (uint32_t)(((uint64_t)(255u * p[j]) * inv[a]) >> 32);
            p[j] = (uint8_t)(v > 255 ? 255 : v);
        }
    }
}

/* ------------------------------------------------------------------ 16-bit passes */

static inline uint16_t round_clip16(double ss)
{
    /* Pillow's ROUND_UP (a float 0.5 promoted to double), then CLIP16. */
    int v = (int)(ss >= 0.0 ? ss + 0.5F : ss - 0.5F);
    return (uint16_t)(v < 0 ? 0 : v > 65535 ? 65535 : v);
}

static void hrow16(const uint16_t *src, int base, uint16_t *dst, const coeffs *c)
{
    for (int i = 0; i < c->n; i++) {
        const double *k = c->kd + (size_t)i * c->ksize;
        const uint16_t *p = src + (c->start[i] - base);
        double ss = 0.0;
        for (int x = 0; x < c->count[i]; x++)
            ss += p[x] * k[x];
        dst[i] = round_clip16(ss);
    }
}

static void vpass16(const uint16_t *t, int base, size_t row_len, const coeffs *c, uint16_t *out)
{
    for (int i = 0; i < c->n; i++) {
        const double *k = c->kd + (size_t)i * c->ksize;
        for (size_t j = 0; j < row_len; j++) {
            double ss = 0.0;
            for (int y = 0; y < c->count[i]; y++)
                ss += t[(size_t)(c->start[i] - base + y) * row_len + j] * k[y];
            out[(size_t)i * row_len + j] = round_clip16(ss);
        }
    }
}

/* ------------------------------------------------------------------ geometry */

void img_resized_size(int width, int height, int size, int *out_w, int *out_h)
{
    int short_side = width <= height ? width : height;
    int long_side = width <= height ? height : width;
    /* Python's int(size * long / short): the quotient of two exact doubles, truncated. */
    int new_long = (int)((double)((int64_t)size * long_side) / short_side);
    if (width <= height) {
        *out_w = size;
        *out_h = new_long;
    } else {
        *out_w = new_long;
        *out_h = size;
    }
}

int img_crop_offset(int64_t extent, int size)
{
    int64_t d = extent - size; /* >= 0 after the resize */
    int64_t q = d / 2;
    if (d % 2 != 0 && q % 2 != 0)
        q++; /* x.5 rounds to the even neighbour */
    return (int)q;
}

/* Pillow's nearest-neighbour scale (ImagingScaleAffine): source coordinates accumulated in
 * double from a half step, truncated. Fills idx[0..n) for outputs o0 .. o0+n-1. */
static void nearest_index(int in_size, int out_size, int o0, int n, int *idx)
{
    double a = (double)(float)in_size / out_size;
    double xo = 0.0 + a * 0.5;
    for (int x = 0; x < o0 + n; x++) {
        if (x >= o0) {
            int xin = xo < 0.0 ? -1 : (int)xo;
            /* Pillow fills out-of-range positions with 0; the accumulated error never gets
             * that far for sizes within the limits, so clamping is only a safety net. */
            if (xin < 0)
                xin = 0;
            if (xin >= in_size)
                xin = in_size - 1;
            idx[x - o0] = xin;
        }
        xo += a;
    }
}

/* ------------------------------------------------------------------ to RGB */

/* convert("RGB") of n pixels of the image's mode held in src (8-bit). */
static void to_rgb8(img_mode mode, const uint8_t *src, size_t n, uint8_t *out)
{
    size_t x;
    switch (mode) {
    case IMG_MODE_L:
    case IMG_MODE_1:
        for (x = 0; x < n; x++, out += 3)
            out[0] = out[1] = out[2] = src[x];
        break;
    case IMG_MODE_LA:
        for (x = 0; x < n; x++, out += 3)
            out[0] = out[1] = out[2] = src[2 * x];
        break;
    case IMG_MODE_RGBA:
        for (x = 0; x < n; x++, out += 3, src += 4)
            out[0] = src[0], out[1] = src[1], out[2] = src[2];
        break;
    case IMG_MODE_CMYK: /* Pillow's cmyk2rgb: (255 - k) - c·(255 - k)/255, MULDIV255 rounding */
        for (x = 0; x < n; x++, out += 3, src += 4) {
            unsigned nk = 255u - src[3];
            for (int c = 0; c < 3; c++)
                out[c] = (uint8_t)(nk - muldiv255(src[c], nk));
        }
        break;
    default: /* RGB, P (stored as RGB) */
        memcpy(out, src, n * 3);
        break;
    }
}

/* Pillow's I;16 → RGB: values above 255 saturate (it does not scale). */
static void to_rgb16(const uint16_t *src, size_t n, uint8_t *out)
{
    for (size_t x = 0; x < n; x++, out += 3)
        out[0] = out[1] = out[2] = (uint8_t)(src[x] > 255 ? 255 : src[x]);
}

/* ------------------------------------------------------------------ pipeline */

static clipcl_status crop_only(const clipcl_image *img, int size, int left, int top,
                               uint8_t *out)
{
    int ch = img->channels;
    for (int y = 0; y < size; y++) {
        size_t off = ((size_t)(top + y) * img->width + left) * ch;
        uint8_t *o = out + (size_t)y * size * 3;
        if (img->mode == IMG_MODE_I16)
            to_rgb16((const uint16_t *)img->pixels + off, (size_t)size, o);
        else
            to_rgb8(img->mode, (const uint8_t *)img->pixels + off, (size_t)size, o);
    }
    return CLIPCL_OK;
}

static clipcl_status nearest_crop(const clipcl_image *img, int size, int new_w, int new_h,
                                  int left, int top, uint8_t *out)
{
    int *xi = malloc((size_t)size * sizeof *xi), *yi = malloc((size_t)size * sizeof *yi);
    if (!xi || !yi) {
        free(xi);
        free(yi);
        return err_set(CLIPCL_ERR_NOMEM, "image resize: out of memory");
    }
    nearest_index(img->width, new_w, left, size, xi);
    nearest_index(img->height, new_h, top, size, yi);
    int ch = img->channels;
    const uint8_t *px = img->pixels;
    for (int y = 0; y < size; y++) {
        const uint8_t *row = px + (size_t)yi[y] * img->width * ch;
        for (int x = 0; x < size; x++)
            to_rgb8(img->mode, row + (size_t)xi[x] * ch, 1, out + ((size_t)y * size + x) * 3);
    }
    free(xi);
    free(yi);
    return CLIPCL_OK;
}

/* Bicubic resize of the cropped region for 8-bit modes (L, LA, RGB, RGBA) and I;16. */
static clipcl_status bicubic_crop(const clipcl_image *img, int size, int new_w, int new_h,
                                  int left, int top, uint8_t *out)
{
    clipcl_status st = CLIPCL_OK;
    coeffs ch_ = {0}, cv = {0};
    int need_h = new_w != img->width, need_v = new_h != img->height;
    int wide = img->mode == IMG_MODE_I16;
    int premul = img->mode == IMG_MODE_RGBA || img->mode == IMG_MODE_LA;
    int ch = img->channels;
    size_t vsize = wide ? 2 : 1;
    void *t = NULL, *r = NULL, *row = NULL;
    int32_t *acc = NULL;
    size_t row_len = (size_t)size * ch;

    if (need_h && (st = coeffs_make(&ch_, img->width, new_w, left, size, wide)) != CLIPCL_OK)
        goto done;
    if (need_v && (st = coeffs_make(&cv, img->height, new_h, top, size, wide)) != CLIPCL_OK)
        goto done;

    /* Input rows the vertical pass reads, input columns the horizontal pass reads. */
    int r0 = top, r1 = top + size, c0 = left, c1 = left + size;
    if (need_v) {
        r0 = cv.start[0];
        r1 = 0;
        for (int i = 0; i < size; i++)
            if (cv.start[i] + cv.count[i] > r1)
                r1 = cv.start[i] + cv.count[i];
        if (r1 <= r0)
            r1 = r0 + 1;
    }
    if (need_h) {
        c0 = ch_.start[0];
        c1 = 0;
        for (int i = 0; i < size; i++)
            if (ch_.start[i] + ch_.count[i] > c1)
                c1 = ch_.start[i] + ch_.count[i];
        if (c1 <= c0)
            c1 = c0 + 1;
    }
    int nrows = r1 - r0;
    t = malloc((size_t)nrows * row_len * vsize);
    r = malloc((size_t)size * row_len * vsize);
    if (!wide) {
        row = malloc((size_t)(c1 - c0) * ch);
        if (need_v)
            acc = malloc(row_len * sizeof *acc);
    }
    if (!t || !r || (!wide && (!row || (need_v && !acc)))) {
        st = err_set(CLIPCL_ERR_NOMEM, "image resize: out of memory for a %d-row buffer",
                     nrows);
        goto done;
    }

    /* Horizontal pass (or the plain crop of columns when the width is kept). */
    for (int y = r0; y < r1; y++) {
        size_t toff = (size_t)(y - r0) * row_len;
        if (wide) {
            const uint16_t *src = (const uint16_t *)img->pixels + (size_t)y * img->width;
            if (need_h)
                hrow16(src + c0, c0, (uint16_t *)t + toff, &ch_);
            else
                memcpy((uint16_t *)t + toff, src + left, row_len * 2);
        } else {
            fetch_row8(img, y, c0, c1, premul, row);
            if (need_h)
                hrow8_any(row, c0, (uint8_t *)t + toff, &ch_, ch);
            else
                memcpy((uint8_t *)t + toff, row, row_len);
        }
    }

    /* Vertical pass (or the rows as they are when the height is kept: r0 = top). */
    const void *res = t;
    if (need_v) {
        if (wide)
            vpass16(t, r0, row_len, &cv, r);
        else
            vpass8(t, r0, row_len, &cv, acc, r);
        res = r;
    }

    size_t npx = (size_t)size * size;
    if (wide) {
        to_rgb16(res, npx, out);
    } else {
        if (premul) {
            if (res != r)
                memcpy(r, res, npx * ch);
            unpremultiply(r, npx, ch);
            res = r;
        }
        to_rgb8(img->mode, res, npx, out);
    }

done:
    coeffs_free(&ch_);
    coeffs_free(&cv);
    free(t);
    free(r);
    free(row);
    free(acc);
    return st;
}

clipcl_status img_resize_crop_rgb8(const clipcl_image *img, int size, uint8_t *out)
{
    if (!img || !out)
        return err_set(CLIPCL_ERR_INVALID_ARG, "image preprocessing: NULL argument");
    if (size < 1 || size > IMG_MAX_CROP)
        return err_set(CLIPCL_ERR_INVALID_ARG,
                       "image preprocessing: size %d outside 1..%d", size, IMG_MAX_CROP);
    int new_w, new_h;
    img_resized_size(img->width, img->height, size, &new_w, &new_h);
    int left = img_crop_offset(new_w, size), top = img_crop_offset(new_h, size);

    /* Image.resize returns a plain copy when the size does not change (no premultiply). */
    if (new_w == img->width && new_h == img->height)
        return crop_only(img, size, left, top, out);
    if (img->mode == IMG_MODE_P || img->mode == IMG_MODE_1)
        return nearest_crop(img, size, new_w, new_h, left, top, out);
    return bicubic_crop(img, size, new_w, new_h, left, top, out);
}
