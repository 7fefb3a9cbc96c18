/* img_jpeg.c — JPEG decoding with libjpeg-turbo, as Pillow opens a JPEG.
 *
 * Pillow decodes JPEGs with libjpeg-turbo using the library's defaults (accurate integer
 * IDCT, fancy upsampling), so decoding with the same library gives the same bytes: every
 * JPEG preprocesses exactly as in OpenAI's pipeline (stb_image's own IDCT and upsampling
 * differed by up to 3 levels). Pillow's modes: 1 component → L, 3 → RGB, 4 → CMYK with the
 * samples inverted (its "CMYK;I" raw mode: "assume Adobe conventions"); anything else is
 * refused, as Pillow refuses it.
 *
 * Hostile files: libjpeg reports errors through error_exit, which must not return; it
 * longjmps back here. Warnings that mean pixels are missing or invented (data ends early,
 * a marker or a bad code inside the entropy-coded data) stop the decode with an error,
 * where Pillow would return a grey-filled or garbled image; harmless ones (extra bytes
 * between segments, an unknown Adobe transform) are ignored as Pillow ignores them.
 * Nothing is printed. The claimed size is checked (img_check_size) before libjpeg allocates
 * anything for the pixels, and a progressive file may have at most img_jpeg_scan_limit()
 * scans (libjpeg-turbo's advice against scan floods that cost minutes of CPU). */
#include <limits.h>
#include <setjmp.h>
#include <stdio.h> /* jpeglib.h uses FILE and size_t without including their headers */
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "err.h"
#include "img.h"

#ifndef JPG_MAX_SCANS
#define JPG_MAX_SCANS 500
#endif
/* Each scan of a progressive file visits every block of its components: scans × pixels is
 * bounded too, so that a 260 KB file claiming 2^28 pixels cannot make 500 passes over them
 * (tens of seconds). 2^34 pixel-scans: 64 scans of the largest image, about a second. Real
 * encoders write 6 to 20 scans. */
#define JPG_MAX_SCAN_PIXELS ((uint64_t)1 << 34)
#define JPG_MIN_SCANS 64

/* The densest JPEG: each 8×8 block of each component costs at least a bit (its DC code),
 * and the components' blocks cover at least half the image (sampling 4×1 and 1×4). */
#define JPG_MAX_PIXELS_PER_BYTE 1024

typedef struct jpg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    clipcl_status status;
    int max_scans;
    char msg[JMSG_LENGTH_MAX + 64];
} jpg_err;

int img_jpeg_scan_limit(uint64_t pixels)
{
    uint64_t n = pixels ? JPG_MAX_SCAN_PIXELS / pixels : JPG_MAX_SCANS;
    return n > JPG_MAX_SCANS ? JPG_MAX_SCANS : n < JPG_MIN_SCANS ? JPG_MIN_SCANS : (int)n;
}

static void jpg_error_exit(j_common_ptr c)
{
    jpg_err *e = (jpg_err *)c->err;
    char text[JMSG_LENGTH_MAX];
    (*c->err->format_message)(c, text);
    if (c->err->msg_code == JERR_OUT_OF_MEMORY || c->err->msg_code == JERR_NO_BACKING_STORE) {
        e->status = CLIPCL_ERR_NOMEM;
        snprintf(e->msg, sizeof e->msg, "out of memory decoding it (libjpeg: %s)", text);
    } else if (c->err->msg_code == JWRN_JPEG_EOF) {
        e->status = CLIPCL_ERR_FORMAT;
        snprintf(e->msg, sizeof e->msg, "truncated JPEG image (data ends before the pixels do)");
    } else {
        e->status = CLIPCL_ERR_FORMAT;
        snprintf(e->msg, sizeof e->msg, "corrupt JPEG image (libjpeg: %s)", text);
    }
    longjmp(e->jump, 1);
}

/* Warnings after which the pixels are not the file's: stop (see the comment at the top).
 * jerror.h declares JWRN_ARITH_BAD_CODE only for some builds of the library; its text is
 * the same everywhere. */
static int jpg_data_lost(const struct jpeg_error_mgr *e)
{
    int code = e->msg_code;
    switch (code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_MUST_RESYNC:
        return 1;
    default:
        return code >= 0 && code <= e->last_jpeg_message && e->jpeg_message_table[code] &&
               strstr(e->jpeg_message_table[code], "bad arithmetic code") != NULL;
    }
}

static void jpg_emit_message(j_common_ptr c, int level)
{
    if (level < 0) {
        if (jpg_data_lost(c->err))
            jpg_error_exit(c);
        c->err->num_warnings++;
    }
}

static void jpg_output_message(j_common_ptr c) { (void)c; }

static void jpg_progress(j_common_ptr c)
{
    j_decompress_ptr d = (j_decompress_ptr)c;
    jpg_err *e = (jpg_err *)c->err;
    if (d->input_scan_number > e->max_scans) {
        e->status = CLIPCL_ERR_LIMIT;
        snprintf(e->msg, sizeof e->msg, "progressive JPEG with more than %d scans (the limit for "
                 "%u×%u pixels)", e->max_scans, d->image_width, d->image_height);
        longjmp(e->jump, 1);
    }
}

clipcl_status img_jpeg_decode(const uint8_t *data, size_t size, const char *name, int *width,
                              int *height, img_mode *mode, uint8_t **pixels)
{
    struct jpeg_decompress_struct ci;
    struct jpeg_progress_mgr prog;
    jpg_err err;
    /* changed after setjmp and read after a longjmp: volatile */
    uint8_t *volatile px = NULL;
    volatile clipcl_status st = CLIPCL_OK;

    *pixels = NULL;
    memset(&ci, 0, sizeof ci);
    memset(&prog, 0, sizeof prog);
    ci.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpg_error_exit;
    err.pub.emit_message = jpg_emit_message;
    err.pub.output_message = jpg_output_message;
    err.status = CLIPCL_OK;
    err.max_scans = JPG_MAX_SCANS;
    err.msg[0] = '\0';
    if (setjmp(err.jump)) {
        st = err_set(err.status, "%s: %s", name, err.msg);
        goto fail;
    }
    jpeg_create_decompress(&ci);
    prog.progress_monitor = jpg_progress;
    ci.progress = &prog;
    jpeg_mem_src(&ci, data, (unsigned long)size);
    jpeg_read_header(&ci, TRUE);

    st = img_check_size(name, "JPEG", ci.image_width, ci.image_height, size,
                        JPG_MAX_PIXELS_PER_BYTE);
    if (st != CLIPCL_OK)
        goto fail;
    err.max_scans = img_jpeg_scan_limit((uint64_t)ci.image_width * ci.image_height);
    img_mode m;
    switch (ci.num_components) {
    case 1: ci.out_color_space = JCS_GRAYSCALE; m = IMG_MODE_L; break;
    case 3: ci.out_color_space = JCS_RGB; m = IMG_MODE_RGB; break;
    case 4: ci.out_color_space = JCS_CMYK; m = IMG_MODE_CMYK; break;
    default:
        st = err_set(CLIPCL_ERR_UNSUPPORTED, "%s: JPEG with %d components (only 1, 3 and 4 are "
                     "images)", name, ci.num_components);
        goto fail;
    }
    ci.dct_method = JDCT_ISLOW;
    ci.do_fancy_upsampling = TRUE;
    /* libjpeg's own buffers (coefficients of progressive files: 2 bytes per sample) stay
     * within a bound set by the checked size; past it the decode fails, never swaps. */
    uint64_t mem_bound = ((uint64_t)64 << 20) + (uint64_t)ci.image_width * ci.image_height * 8;
    ci.mem->max_memory_to_use = mem_bound > LONG_MAX ? LONG_MAX : (long)mem_bound;
    jpeg_start_decompress(&ci);

    size_t stride = (size_t)ci.output_width * (size_t)ci.output_components;
    if (ci.output_components != ci.num_components || ci.output_width != ci.image_width ||
        ci.output_height != ci.image_height) {
        st = err_set(CLIPCL_ERR_FORMAT, "%s: JPEG decodes to %u×%u×%d, its header says %u×%u",
                     name, ci.output_width, ci.output_height, ci.output_components,
                     ci.image_width, ci.image_height);
        goto fail;
    }
    px = malloc(stride * ci.output_height);
    if (!px) {
        st = err_set(CLIPCL_ERR_NOMEM, "%s: out of memory for %u×%u pixels", name,
                     ci.output_width, ci.output_height);
        goto fail;
    }
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW row = px + (size_t)ci.output_scanline * stride;
        if (jpeg_read_scanlines(&ci, &row, 1) != 1) { /* only a suspending source returns 0 */
            st = err_set(CLIPCL_ERR_FORMAT, "%s: JPEG decoder stopped at row %u of %u", name,
                         ci.output_scanline, ci.output_height);
            goto fail;
        }
    }
    jpeg_finish_decompress(&ci);
    *width = (int)ci.output_width;
    *height = (int)ci.output_height;
    jpeg_destroy_decompress(&ci);

    if (m == IMG_MODE_CMYK)
        for (size_t i = 0; i < stride * (size_t)*height; i++)
            px[i] = (uint8_t)(255 - px[i]);
    *mode = m;
    *pixels = px;
    return CLIPCL_OK;

fail:
    jpeg_destroy_decompress(&ci);
    free(px);
    return st;
}
