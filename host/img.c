/* img.c — image decoding with Pillow's modes, and the public image API.
 *
 * JPEGs are decoded by libjpeg-turbo (img_jpeg.c), as Pillow decodes them; stb_image decodes
 * every other format (it is built without its JPEG decoder). The headers are read here too
 * because OpenAI's pipeline depends on the mode Pillow opens a file in, which stb does not
 * report (it expands palettes and adds an alpha channel for tRNS chunks). The rules, taken
 * from Pillow 12's plugins (PngImagePlugin, GifImagePlugin, BmpImagePlugin, TgaImagePlugin):
 *
 * PNG   grey 1-bit → "1"; grey 2/4/8-bit → L; grey 16-bit → I;16 (kept at 16 bits: Pillow
 *       resizes it in floating point and convert("RGB") then saturates values above 255,
 *       so most 16-bit grey photos come out nearly white — that is what the reference does);
 *       RGB → RGB; palette → P; grey+alpha → LA; RGBA → RGBA. 16-bit RGB(A)/LA keep the
 *       high byte of each sample, as Pillow's RGB;16B / RGBA;16B / LA;16B unpackers do
 *       (stb's 16 → 8 conversion is the same). A tRNS chunk leaves L, RGB and P as they are
 *       (convert("RGB") ignores it), so stb's added alpha is dropped.
 * GIF   first frame; P, unless the frame's palette is the identity grey ramp (Pillow then
 *       opens it as L). The transparent index shows its palette colour after convert("RGB"),
 *       so the transparency flag is cleared in a copy before stb decodes it (stb would
 *       leave those pixels black).
 * BMP   ≤ 8 bits: "1" for a black/white 2-colour palette, L for an 8-bit identity grey
 *       palette, else P; 16/24 bits RGB; 32 bits RGB unless BITFIELDS with an alpha mask
 *       in a ≥ 56-byte header (RGBA).
 * TGA   colour-mapped → P; grey → L; else from the channel count.
 * JPEG  L, RGB or CMYK from the component count (img_jpeg.c); a file is a JPEG when it starts
 *       FF D8 FF, Pillow's test.
 * PSD, PNM: from the channel count (grey L, else RGB; PSD RGBA only when some alpha is below
 *       255).
 * Not matched: GIF first frames that do not cover the logical screen (outside them),
 * PNM with maxval other than 255, EXIF orientation (ignored by both, as in OpenAI's code). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "img.h"

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_NO_STDIO
#define STBI_NO_JPEG
#define STBI_NO_HDR
#define STBI_NO_PIC
#define STBI_NO_LINEAR
#define STBI_ASSERT(x) ((void)0)
#define STBI_MALLOC(sz) malloc(sz)
#define STBI_REALLOC(p, sz) realloc(p, sz)
#define STBI_FREE(p) free(p)
/* stb_image 2.27 declares a function it never defines when static, and GCC reports false
 * positives inside it; neither concerns this file's code. The unused-function warning is
 * issued at the end of the file, so it stays off for the whole file. */
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wtype-limits"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
#endif
#include <stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

/* Files above this are refused before reading (stb takes an int length anyway). */
#define IMG_MAX_FILE_BYTES ((size_t)INT_MAX)

typedef enum img_format {
    FMT_PNG, FMT_BMP, FMT_GIF, FMT_PSD, FMT_JPEG, FMT_PNM, FMT_TGA
} img_format;

static const char *format_name(img_format f)
{
    static const char *names[] = {"PNG", "BMP", "GIF", "PSD", "JPEG", "PNM", "TGA"};
    return names[f];
}

const char *img_mode_name(img_mode m)
{
    switch (m) {
    case IMG_MODE_L: return "L";
    case IMG_MODE_LA: return "LA";
    case IMG_MODE_RGB: return "RGB";
    case IMG_MODE_RGBA: return "RGBA";
    case IMG_MODE_P: return "P";
    case IMG_MODE_1: return "1";
    case IMG_MODE_I16: return "I;16";
    case IMG_MODE_CMYK: return "CMYK";
    }
    return "?";
}

img_mode img_get_mode(const clipcl_image *img) { return img->mode; }

static int mode_channels(img_mode m)
{
    switch (m) {
    case IMG_MODE_LA: return 2;
    case IMG_MODE_RGB:
    case IMG_MODE_P: return 3;
    case IMG_MODE_RGBA:
    case IMG_MODE_CMYK: return 4;
    default: return 1;
    }
}

/* What the header says, before stb decodes anything. */
typedef struct sniff {
    img_format fmt;
    int mode;         /* an img_mode, or -1: decide from stb's channel count */
    int sixteen;      /* decode at 16 bits per sample (PNG grey 16 → I;16) */
    size_t gif_gce;   /* offset of the first frame's GCE flags byte with transparency set, or 0 */
} sniff;

static uint32_t rd32le(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static unsigned rd16le(const uint8_t *p) { return (unsigned)p[1] << 8 | p[0]; }

/* Pillow's GifImageFile._is_palette_needed: false for the identity grey ramp. */
static int gif_palette_needed(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 2 < len; i += 3)
        if (!(i / 3 == p[i] && p[i] == p[i + 1] && p[i + 1] == p[i + 2]))
            return 1;
    return 0;
}

static void sniff_gif(const uint8_t *d, size_t n, sniff *s)
{
    int global_needed = 0;
    size_t pos = 13;
    s->mode = IMG_MODE_L;
    if (n < pos)
        return; /* stb reports the short header */
    unsigned flags = d[10];
    if (flags & 0x80) {
        size_t len = (size_t)3 << ((flags & 7) + 1);
        if (len > n - pos)
            len = n - pos;
        global_needed = gif_palette_needed(d + pos, len);
        pos += len;
    }
    size_t gce = 0;
    while (pos < n) {
        if (d[pos] == 0x21) { /* extension: label, then data sub-blocks */
            if (pos + 1 >= n)
                return;
            unsigned label = d[pos + 1];
            pos += 2;
            if (label == 0xF9 && pos + 1 < n && d[pos] == 4)
                gce = (d[pos + 1] & 1) ? pos + 1 : 0; /* each GCE replaces the previous */
            while (pos < n) {
                size_t len = d[pos++];
                if (len == 0)
                    break;
                pos += len;
            }
        } else if (d[pos] == 0x2C) { /* the first image descriptor */
            if (pos + 10 > n)
                return;
            unsigned lflags = d[pos + 9];
            int needed = global_needed;
            if (lflags & 0x80) {
                size_t len = (size_t)3 << ((lflags & 7) + 1), off = pos + 10;
                if (len > n - off)
                    len = n - off;
                needed = gif_palette_needed(d + off, len);
            }
            s->mode = needed ? IMG_MODE_P : IMG_MODE_L;
            s->gif_gce = gce;
            return;
        } else {
            return; /* trailer or garbage: stb reports it */
        }
    }
}

static void sniff_bmp(const uint8_t *d, size_t n, sniff *s)
{
    if (n < 18)
        return;
    uint32_t hsize = rd32le(d + 14);
    unsigned bpp;
    uint32_t comp = 0, colors = 0, amask = 0, masks_or = 1;
    size_t pad = 4;
    if (hsize == 12) {
        if (n < 26)
            return;
        bpp = rd16le(d + 24);
        pad = 3;
    } else if (hsize == 40 || hsize == 52 || hsize == 56 || hsize == 64 || hsize == 108 ||
               hsize == 124) {
        if (n < 50)
            return;
        bpp = rd16le(d + 28);
        comp = rd32le(d + 30);
        colors = rd32le(d + 46);
        if (comp == 3 && hsize >= 56 && n >= 70) {
            amask = rd32le(d + 66);
            masks_or = rd32le(d + 54) | rd32le(d + 58) | rd32le(d + 62) | amask;
        }
    } else {
        return;
    }
    if (bpp <= 8) {
        if (colors == 0)
            colors = 1u << bpp;
        size_t off = 14 + (size_t)hsize;
        s->mode = IMG_MODE_P;
        if (colors > 256 || off + colors * pad > n)
            return;
        const uint8_t *pal = d + off;
        int grey = 1;
        for (uint32_t i = 0; i < colors && grey; i++) {
            unsigned v = colors == 2 ? (i ? 255 : 0) : i;
            /* BMP palettes are BGR(X); grey entries read the same either way */
            if (pal[i * pad] != v || pal[i * pad + 1] != v || pal[i * pad + 2] != v)
                grey = 0;
        }
        if (grey && colors == 2)
            s->mode = IMG_MODE_1;
        else if (grey && bpp == 8)
            s->mode = IMG_MODE_L;
    } else if (bpp == 32) {
        s->mode = (comp == 3 && (amask != 0 || masks_or == 0)) ? IMG_MODE_RGBA : IMG_MODE_RGB;
    } else {
        s->mode = IMG_MODE_RGB;
    }
}

static void do_sniff(const uint8_t *d, size_t n, sniff *s)
{
    memset(s, 0, sizeof *s);
    s->mode = -1;
    if (n >= 26 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8) && !memcmp(d + 12, "IHDR", 4)) {
        unsigned depth = d[24], ct = d[25];
        s->fmt = FMT_PNG;
        switch (ct) {
        case 0:
            s->mode = depth == 1 ? IMG_MODE_1 : depth == 16 ? IMG_MODE_I16 : IMG_MODE_L;
            s->sixteen = depth == 16;
            break;
        case 2: s->mode = IMG_MODE_RGB; break;
        case 3: s->mode = IMG_MODE_P; break;
        case 4: s->mode = IMG_MODE_LA; break;
        case 6: s->mode = IMG_MODE_RGBA; break;
        default: break; /* stb refuses it */
        }
    } else if (n >= 2 && d[0] == 'B' && d[1] == 'M') {
        s->fmt = FMT_BMP;
        sniff_bmp(d, n, s);
    } else if (n >= 6 && (!memcmp(d, "GIF87a", 6) || !memcmp(d, "GIF89a", 6))) {
        s->fmt = FMT_GIF;
        sniff_gif(d, n, s);
    } else if (n >= 4 && !memcmp(d, "8BPS", 4)) {
        s->fmt = FMT_PSD;
    } else if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) {
        s->fmt = FMT_JPEG;
    } else if (n >= 2 && d[0] == 'P' && (d[1] == '5' || d[1] == '6')) {
        s->fmt = FMT_PNM;
    } else {
        s->fmt = FMT_TGA; /* the only format stb recognizes without a magic number */
        if (n >= 3) {
            if (d[2] == 1 || d[2] == 9)
                s->mode = IMG_MODE_P;
            else if (d[2] == 3 || d[2] == 11)
                s->mode = IMG_MODE_L;
        }
    }
}

/* Past the whitespace and '#' comments before a PNM header number, as stb skips them. */
static size_t pnm_skip_space(const uint8_t *d, size_t n, size_t pos)
{
    for (;;) {
        while (pos < n && (d[pos] == ' ' || (d[pos] >= '\t' && d[pos] <= '\r')))
            pos++;
        if (pos >= n || d[pos] != '#') return pos;
        while (pos < n && d[pos] != '\n' && d[pos] != '\r')
            pos++;
    }
}

/* stb 2.27 reads a PNM header's numbers into an int without an overflow check (undefined
 * behaviour for 2^31 and more, found by fuzz_image): the header is read here first, as stb
 * reads it, and refused when a number has more than 8 digits' worth of value. */
static int pnm_numbers_ok(const uint8_t *d, size_t n)
{
    size_t pos = 2;
    for (int i = 0; i < 3; i++) {
        pos = pnm_skip_space(d, n, pos);
        uint32_t v = 0;
        while (pos < n && d[pos] >= '0' && d[pos] <= '9') {
            v = v * 10 + (uint32_t)(d[pos++] - '0');
            if (v > 99999999u)
                return 0;
        }
    }
    return 1;
}

/* stb 2.27 does not notice a PNM whose pixel data is short (it leaves the rest of its buffer
 * unset), so the header is parsed here as stb parses it and the payload size checked. */
static int pnm_complete(const uint8_t *d, size_t n, int w, int h, int ch)
{
    size_t pos = 2;
    uint64_t v[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        pos = pnm_skip_space(d, n, pos);
        if (pos >= n || d[pos] < '0' || d[pos] > '9')
            return 0;
        while (pos < n && d[pos] >= '0' && d[pos] <= '9' && v[i] < 1000000)
            v[i] = v[i] * 10 + (uint64_t)(d[pos++] - '0');
    }
    pos++; /* the single whitespace byte ending the header */
    uint64_t need = (uint64_t)w * (uint64_t)h * (uint64_t)ch * (v[2] > 255 ? 2u : 1u);
    return pos <= n && n - pos >= need;
}

/* A memory source for stb's callback API that notes any attempt to read past the end. */
typedef struct memsrc {
    const uint8_t *data;
    size_t size, pos;
    int overrun;
} memsrc;

static int cb_read(void *user, char *buf, int n)
{
    memsrc *m = user;
    if (n <= 0)
        return 0;
    if (m->pos >= m->size) {
        m->overrun = 1;
        return 0;
    }
    size_t k = m->size - m->pos < (size_t)n ? m->size - m->pos : (size_t)n;
    memcpy(buf, m->data + m->pos, k);
    m->pos += k;
    return (int)k;
}

static void cb_skip(void *user, int n)
{
    memsrc *m = user;
    if (n < 0) { /* stb's "unget" */
        size_t back = (size_t)-(int64_t)n;
        m->pos = back > m->pos ? 0 : m->pos - back;
    } else if ((size_t)n > m->size - m->pos) {
        m->overrun = 1;
        m->pos = m->size;
    } else {
        m->pos += (size_t)n;
    }
}

static int cb_eof(void *user)
{
    const memsrc *m = user;
    return m->pos >= m->size;
}

static uint32_t rd32be(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The width and height a header claims, for the formats that store them at fixed places
 * (PNM is left to stb, which reports its sizes faithfully). */
static int header_size(const uint8_t *d, size_t n, img_format fmt, uint64_t *w, uint64_t *h)
{
    switch (fmt) {
    case FMT_PNG:
        if (n < 24)
            return 0;
        *w = rd32be(d + 16);
        *h = rd32be(d + 20);
        return 1;
    case FMT_GIF:
        if (n < 10)
            return 0;
        *w = rd16le(d + 6);
        *h = rd16le(d + 8);
        return 1;
    case FMT_BMP:
        if (n < 26)
            return 0;
        if (rd32le(d + 14) == 12) {
            *w = rd16le(d + 18);
            *h = rd16le(d + 20);
        } else {
            int32_t sw = (int32_t)rd32le(d + 18), sh = (int32_t)rd32le(d + 22);
            *w = sw < 0 ? (uint64_t)(-(int64_t)sw) : (uint64_t)sw;
            *h = sh < 0 ? (uint64_t)(-(int64_t)sh) : (uint64_t)sh; /* negative: top-down */
        }
        return 1;
    case FMT_PSD:
        if (n < 22)
            return 0;
        *h = rd32be(d + 14);
        *w = rd32be(d + 18);
        return 1;
    default:
        return 0;
    }
}

/* stb 2.27 grows its IDAT buffer to whatever a chunk's length field says before reading the
 * chunk, and sizes its inflate buffer from IHDR: a 600-byte PNG made it allocate 1.1 GB (found
 * by fuzz_image). The chunks are walked here first: each must fit in the file, and the image
 * data must be able to inflate, at deflate's 1032:1 maximum, to the bytes IHDR's pixels need.
 * Applies to every file with the PNG signature, as stb decodes those as PNG whatever follows.
 * Returns NULL when the file passes, else the problem. */
static const char *png_check(const uint8_t *d, size_t n, size_t *empty_idat)
{
    uint64_t idat = 0, w = 0, h = 0, bits = 0;
    size_t pos = 8;
    *empty_idat = 0;
    /* stb reads a chunk once its length and type are there (8 bytes), so that is the test:
     * a last chunk cut inside its first 12 bytes must not slip past (found by fuzz_image:
     * ten bytes "<822 MB>IDATx." after IHDR made stb allocate 822 MB). */
    while (n - pos >= 8) {
        uint32_t len = rd32be(d + pos);
        const uint8_t *type = d + pos + 4;
        if (!memcmp(type, "IEND", 4)) break;
        if (n - pos < 12 || len > n - pos - 12)
            return "a chunk runs past the end of the file (truncated?)";
        if (!memcmp(type, "IHDR", 4) && len >= 13 && !w) {
            static const unsigned channels[7] = {1, 0, 3, 1, 2, 0, 4};
            unsigned depth = d[pos + 16], ct = d[pos + 17];
            w = rd32be(d + pos + 8);
            h = rd32be(d + pos + 12);
            bits = (uint64_t)depth * (ct < 7 ? channels[ct] : 0);
        } else if (!memcmp(type, "IDAT", 4)) {
            idat += len;
            *empty_idat += len == 0;
        }
        pos += 12 + (size_t)len;
    }
    /* w × h × bits bits of pixels at least (interlaced or not); w × bits < 2^38 and the
     * inflated bits < 2^45, so dividing avoids the 128-bit product */
    if (w && h && bits && h > 8 * (1032 * idat + 1024) / (w * bits))
        return "its image data is too short for the size in its header (truncated, or a "
               "decompression bomb)";
    return NULL;
}

/* stb 2.27 appends each IDAT chunk to a buffer it allocates on the first non-empty one, so a
 * zero-length IDAT before it is read into NULL + 0 (undefined behaviour; finding 15). Such
 * chunks carry no data: they are left out of a copy (out, n bytes at most) of a file that
 * png_check passed. Returns the copy's length. */
static size_t png_drop_empty_idat(const uint8_t *d, size_t n, uint8_t *out)
{
    size_t pos = 8, o = 8;
    memcpy(out, d, 8);
    while (n - pos >= 12) {
        uint32_t len = rd32be(d + pos);
        if (!memcmp(d + pos + 4, "IEND", 4))
            break;
        size_t chunk = 12 + (size_t)len; /* fits: png_check walked the same chunks */
        if (len || memcmp(d + pos + 4, "IDAT", 4)) {
            memcpy(out + o, d + pos, chunk);
            o += chunk;
        }
        pos += chunk;
    }
    memcpy(out + o, d + pos, n - pos);
    return o + (n - pos);
}

/* The most pixels a complete file of each format can describe per byte, from its densest
 * encoding (stb_image reads no RLE BMP; JPEG's bound is in img_jpeg.c):
 *   PNG   1-bit pixels, deflate at its 1032:1 maximum: 8 × 1032
 *   GIF   LZW, 12-bit codes each expanding to at most 4096 pixels: 2731
 *   TGA, PSD  RLE packets of 128 pixels in 2 bytes or more: 64
 *   BMP   1-bit rows: 8;  PNM  binary, 1 byte per sample: 1
 * A header claiming more pixels than its file could hold is truncated or a decompression bomb
 * (a 150-byte JPEG can claim 16384 × 16384 pixels and cost seconds and 800 MB to decode): it
 * is refused before stb allocates the pixels. A GIF whose first frame is smaller than a huge
 * logical screen is refused too; stb and Pillow would fill the screen with the background. */
static uint64_t max_pixels_per_byte(img_format f)
{
    switch (f) {
    case FMT_PNG: return 8 * 1032;
    case FMT_GIF: return 2731;
    case FMT_TGA:
    case FMT_PSD: return 64;
    case FMT_BMP: return 8;
    default: return 1; /* PNM; JPEG has its own bound in img_jpeg.c */
    }
}

/* Rearranges n pixels of `from` interleaved channels into `to` channels (in place when
 * to <= from): grey → colour replicates, a missing alpha is opaque. */
static void *convert_channels(void *px, size_t n, int from, int to, size_t vsize)
{
    if (from == to)
        return px;
    void *dst = to <= from ? px : malloc(n * to * vsize);
    if (!dst)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned v[4] = {0}, o[4] = {0};
        for (int j = 0; j < from; j++)
            v[j] = vsize == 2 ? ((uint16_t *)px)[i * from + j] : ((uint8_t *)px)[i * from + j];
        unsigned alpha = (from == 2 || from == 4) ? v[from - 1] : (vsize == 2 ? 65535 : 255);
        int colour = from >= 3;
        switch (to) {
        case 1: o[0] = v[0]; break;
        case 2: o[0] = v[0]; o[1] = alpha; break;
        case 3:
        case 4:
            o[0] = v[0];
            o[1] = colour ? v[1] : v[0];
            o[2] = colour ? v[2] : v[0];
            o[3] = alpha;
            break;
        }
        for (int j = 0; j < to; j++) {
            if (vsize == 2)
                ((uint16_t *)dst)[i * to + j] = (uint16_t)o[j];
            else
                ((uint8_t *)dst)[i * to + j] = (uint8_t)o[j];
        }
    }
    if (dst != px)
        stbi_image_free(px);
    return dst;
}

static int all_opaque(const uint8_t *px, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (px[i * 4 + 3] != 255)
            return 0;
    return 1;
}

/* Every format but JPEG: checks what stb_image 2.27 does not, then decodes with it into
 * *px (malloc'd: STBI_MALLOC) of *w × *h × *n values. */
static clipcl_status stb_decode(const uint8_t *d, size_t size, const char *name,
                                const sniff *s, int *w, int *h, int *n, void **px)
{
    clipcl_status st = CLIPCL_OK;
    uint8_t *patched = NULL;
    const char *fmt = format_name(s->fmt);

    /* stb refuses some huge headers itself, but then tries the other formats and reports
     * "unknown image type": read the claimed size first where the header is simple. */
    uint64_t hw, hh;
    if (header_size(d, size, s->fmt, &hw, &hh) && hw && hh &&
        (st = img_check_size(name, fmt, hw, hh, size, 0)) != CLIPCL_OK)
        return st;
    size_t empty_idat = 0;
    if (size >= 8 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8)) {
        const char *why = png_check(d, size, &empty_idat);
        if (why)
            return err_set(CLIPCL_ERR_FORMAT, "%s: corrupt PNG: %s", name, why);
    }
    if (s->fmt == FMT_PNM && !pnm_numbers_ok(d, size))
        return err_set(CLIPCL_ERR_FORMAT, "%s: corrupt PNM header (a number is too large)", name);
    int len = (int)size, w1 = 0, h1 = 0, n1 = 0;
    if (!stbi_info_from_memory(d, len, &w1, &h1, &n1)) {
        const char *why = stbi_failure_reason();
        if (why && !strcmp(why, "too large"))
            return err_set(CLIPCL_ERR_LIMIT, "%s: image dimensions too large (stb_image: %s)",
                           name, why);
        return err_set(CLIPCL_ERR_FORMAT, "%s: not a readable image (stb_image: %s)", name,
                       why ? why : "unknown");
    }
    st = img_check_size(name, fmt, (uint64_t)w1, (uint64_t)h1, size, max_pixels_per_byte(s->fmt));
    if (st != CLIPCL_OK)
        return st;

    if (s->gif_gce || empty_idat) {
        patched = malloc(size);
        if (!patched)
            return err_set(CLIPCL_ERR_NOMEM, "%s: out of memory (%zu bytes)", name, size);
        if (empty_idat) {
            size = png_drop_empty_idat(d, size, patched);
        } else {
            memcpy(patched, d, size);
            patched[s->gif_gce] &= (uint8_t)~1u;
        }
        d = patched;
    }

    /* Decoding through callbacks reveals truncation: stb pads a short BMP, TGA, PNM or GIF
     * with zeros and reports success, but it must ask for bytes past the end to do so. */
    int w2 = 0, h2 = 0, n2 = 0;
    memsrc src = {d, size, 0, 0};
    stbi_io_callbacks io = {cb_read, cb_skip, cb_eof};
    void *p = s->sixteen ? (void *)stbi_load_16_from_callbacks(&io, &src, &w2, &h2, &n2, 0)
                         : (void *)stbi_load_from_callbacks(&io, &src, &w2, &h2, &n2, 0);
    if (p && s->fmt == FMT_PNM && !pnm_complete(d, size, w2, h2, n2))
        src.overrun = 1;
    if (p && src.overrun) {
        st = err_set(CLIPCL_ERR_FORMAT, "%s: truncated %s image (data ends before the pixels do)",
                     name, fmt);
        goto fail;
    }
    if (!p) {
        const char *why = stbi_failure_reason();
        if (why && !strcmp(why, "outofmem"))
            st = err_set(CLIPCL_ERR_NOMEM, "%s: out of memory decoding a %d×%d %s image", name,
                         w1, h1, fmt);
        else
            st = err_set(CLIPCL_ERR_FORMAT, "%s: corrupt or truncated %s image (stb_image: %s)",
                         name, fmt, why ? why : "unknown");
        goto fail;
    }
    if (w2 != w1 || h2 != h1 || n2 < 1 || n2 > 4) {
        st = err_set(CLIPCL_ERR_FORMAT, "%s: %s header says %d×%d, decoded %d×%d×%d", name, fmt,
                     w1, h1, w2, h2, n2);
        goto fail;
    }
    free(patched);
    *w = w2, *h = h2, *n = n2, *px = p;
    return CLIPCL_OK;

fail:
    free(patched);
    if (p)
        stbi_image_free(p);
    return st;
}

clipcl_status clipcl_image_load_memory(const void *data, size_t size, const char *name,
                                       clipcl_image **out)
{
    clipcl_status st = CLIPCL_OK;
    void *px = NULL;
    clipcl_image *img = NULL;

    if (!out)
        return err_set(CLIPCL_ERR_INVALID_ARG, "clipcl_image_load_memory: out is NULL");
    *out = NULL;
    if (!name)
        name = "<memory>";
    if (!data && size)
        return err_set(CLIPCL_ERR_INVALID_ARG, "%s: NULL data", name);
    if (size == 0)
        return err_set(CLIPCL_ERR_FORMAT, "%s: empty file, not an image", name);
    if (size > IMG_MAX_FILE_BYTES)
        return err_set(CLIPCL_ERR_LIMIT, "%s: %zu bytes, more than the %zu accepted", name,
                       size, IMG_MAX_FILE_BYTES);

    const uint8_t *d = data;
    int w = 0, h = 0, n = 0;
    img_mode mode;
    sniff s;
    do_sniff(d, size, &s);
    if (s.fmt == FMT_JPEG) {
        uint8_t *p = NULL;
        st = img_jpeg_decode(d, size, name, &w, &h, &mode, &p);
        if (st != CLIPCL_OK)
            return st;
        px = p;
        n = mode_channels(mode);
    } else {
        st = stb_decode(d, size, name, &s, &w, &h, &n, &px);
        if (st != CLIPCL_OK)
            return st;
        if (s.mode >= 0) {
            mode = (img_mode)s.mode;
        } else {
            static const img_mode by_channels[] = {IMG_MODE_L, IMG_MODE_LA, IMG_MODE_RGB,
                                                   IMG_MODE_RGBA};
            mode = by_channels[n - 1];
            if (s.fmt == FMT_PSD && mode == IMG_MODE_RGBA && all_opaque(px, (size_t)w * h))
                mode = IMG_MODE_RGB; /* stb always adds alpha to PSDs */
        }
    }

    int ch = mode_channels(mode);
    void *conv = convert_channels(px, (size_t)w * h, n, ch, s.sixteen ? 2 : 1);
    if (!conv) {
        st = err_set(CLIPCL_ERR_NOMEM, "%s: out of memory for %d×%d pixels", name, w, h);
        goto fail;
    }
    px = conv;

    img = malloc(sizeof *img);
    if (!img) {
        st = err_set(CLIPCL_ERR_NOMEM, "%s: out of memory", name);
        goto fail;
    }
    img->width = w;
    img->height = h;
    img->mode = mode;
    img->channels = ch;
    img->pixels = px;
    *out = img;
    return CLIPCL_OK;

fail:
    free(px);
    return st;
}

clipcl_status clipcl_image_load(const char *path, clipcl_image **out)
{
    clipcl_status st;
    FILE *f = NULL;
    uint8_t *buf = NULL;
    struct stat sb;

    if (!out)
        return err_set(CLIPCL_ERR_INVALID_ARG, "clipcl_image_load: out is NULL");
    *out = NULL;
    if (!path)
        return err_set(CLIPCL_ERR_INVALID_ARG, "clipcl_image_load: path is NULL");
    f = fopen(path, "rb");
    if (!f)
        return err_set(CLIPCL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fileno(f), &sb) != 0) {
        st = err_set(CLIPCL_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (S_ISDIR(sb.st_mode)) {
        st = err_set(CLIPCL_ERR_IO, "%s: is a directory", path);
        goto fail;
    }
    if (sb.st_size < 0 || (uint64_t)sb.st_size > IMG_MAX_FILE_BYTES) {
        st = err_set(CLIPCL_ERR_LIMIT, "%s: %lld bytes, more than the %zu accepted", path,
                     (long long)sb.st_size, IMG_MAX_FILE_BYTES);
        goto fail;
    }
    size_t size = (size_t)sb.st_size;
    buf = malloc(size ? size : 1);
    if (!buf) {
        st = err_set(CLIPCL_ERR_NOMEM, "%s: out of memory (%zu bytes)", path, size);
        goto fail;
    }
    if (size && fread(buf, 1, size, f) != size) {
        st = err_set(CLIPCL_ERR_IO, "%s: read failed: %s", path,
                     ferror(f) ? strerror(errno) : "file shrank while reading");
        goto fail;
    }
    fclose(f);
    f = NULL;
    st = clipcl_image_load_memory(buf, size, path, out);
    free(buf);
    return st;

fail:
    if (f)
        fclose(f);
    free(buf);
    return st;
}

void clipcl_image_free(clipcl_image *img)
{
    if (!img)
        return;
    free(img->pixels); /* stb's STBI_FREE is free() */
    free(img);
}

void clipcl_image_size(const clipcl_image *img, int *width, int *height)
{
    if (width)
        *width = img ? img->width : 0;
    if (height)
        *height = img ? img->height : 0;
}

clipcl_preproc clipcl_preproc_default(void)
{
    clipcl_preproc p = {224,
                        {0.48145466f, 0.4578275f, 0.40821073f},
                        {0.26862954f, 0.26130258f, 0.27577711f}};
    return p;
}

clipcl_status clipcl_image_crop_rgb8(const clipcl_image *img, int size, uint8_t *out)
{
    if (!img || !out)
        return err_set(CLIPCL_ERR_INVALID_ARG, "clipcl_image_crop_rgb8: NULL argument");
    return img_resize_crop_rgb8(img, size, out);
}

clipcl_status img_norm_lut(const clipcl_preproc *pp, float lut[3][256])
{
    /* ToTensor then Normalize, in float32 as torchvision does: x / 255, then (x - m) / s. */
    for (int c = 0; c < 3; c++) {
        if (!(pp->std[c] > 0.0f) || pp->std[c] != pp->std[c] || pp->mean[c] != pp->mean[c])
            return err_set(CLIPCL_ERR_INVALID_ARG, "channel %d has std %g, mean %g", c,
                           (double)pp->std[c], (double)pp->mean[c]);
        for (int v = 0; v < 256; v++)
            lut[c][v] = ((float)v / 255.0f - pp->mean[c]) / pp->std[c];
    }
    return CLIPCL_OK;
}

clipcl_status clipcl_image_preprocess(const clipcl_image *img, const clipcl_preproc *pp,
                                      float *out)
{
    if (!img || !pp || !out)
        return err_set(CLIPCL_ERR_INVALID_ARG, "clipcl_image_preprocess: NULL argument");
    int S = pp->size;
    if (S < 1 || S > IMG_MAX_CROP)
        return err_set(CLIPCL_ERR_INVALID_ARG, "clipcl_image_preprocess: size %d outside 1..%d",
                       S, IMG_MAX_CROP);
    float lut[3][256];
    clipcl_status st = img_norm_lut(pp, lut);
    if (st) return err_prefix(st, "clipcl_image_preprocess: ");
    size_t plane = (size_t)S * S;
    uint8_t *rgb = malloc(plane * 3);
    if (!rgb)
        return err_set(CLIPCL_ERR_NOMEM, "clipcl_image_preprocess: out of memory");
    st = img_resize_crop_rgb8(img, S, rgb);
    if (st == CLIPCL_OK)
        for (size_t i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++)
                out[c * plane + i] = lut[c][rgb[i * 3 + c]];
    free(rgb);
    return st;
}
