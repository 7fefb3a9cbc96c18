/* img.h — decoded images and OpenAI's CLIP preprocessing (internal to the library).
 *
 * An image keeps the mode Pillow would give the same file, because OpenAI's pipeline
 * (torchvision Resize(BICUBIC) → CenterCrop → convert("RGB") on a PIL image) resizes each
 * mode differently: palette and bilevel images with nearest neighbour, images with alpha
 * premultiplied, 16-bit grey in floating point. */
#ifndef CLIPCL_IMG_H
#define CLIPCL_IMG_H

#include <stdint.h>

#include "clipcl.h"

typedef enum img_mode {
    IMG_MODE_L,    /* 8-bit grey: bicubic */
    IMG_MODE_LA,   /* grey + alpha: bicubic on premultiplied values */
    IMG_MODE_RGB,  /* bicubic */
    IMG_MODE_RGBA, /* bicubic on premultiplied values */
    IMG_MODE_P,    /* palette; stored expanded to RGB: nearest neighbour */
    IMG_MODE_1,    /* bilevel; stored as grey 0/255: nearest neighbour */
    IMG_MODE_I16,  /* 16-bit grey (Pillow "I;16"); stored as uint16_t */
    IMG_MODE_CMYK  /* JPEG CMYK, values as Pillow holds them: bicubic, then Pillow's cmyk2rgb */
} img_mode;

struct clipcl_image {
    int width, height;
    img_mode mode;
    int channels;  /* stored values per pixel: 1 (L, 1, I16), 2 (LA), 3 (RGB, P), 4 (RGBA, CMYK) */
    void *pixels;  /* row-major, channels interleaved; uint8_t, or uint16_t for I16 */
};

/* The normalized value of every byte per channel, (v / 255 - mean) / std in float32 as
 * torchvision computes it: what clipcl_image_preprocess writes and what the device applies to
 * clipcl_encode_images_rgb8's bytes. CLIPCL_ERR_INVALID_ARG for a std that is not positive or
 * a NaN mean. */
clipcl_status img_norm_lut(const clipcl_preproc *pp, float lut[3][256]);

/* Largest crop size accepted by the preprocessing functions. */
#define IMG_MAX_CROP 8192

/* Pillow's name of a mode ("L", "RGBA", "P", "I;16", ...). */
const char *img_mode_name(img_mode m);
img_mode img_get_mode(const clipcl_image *img);

/* Refuses (CLIPCL_ERR_LIMIT / CLIPCL_ERR_FORMAT, message naming the file) a claimed size
 * beyond CLIPCL_IMAGE_MAX_SIDE / CLIPCL_IMAGE_MAX_PIXELS, or more pixels than a file of
 * file_bytes can describe at max_px_per_byte (truncated, or a decompression bomb; 0 skips
 * that test). */
clipcl_status img_check_size(const char *name, const char *format, uint64_t w, uint64_t h,
                             size_t file_bytes, uint64_t max_px_per_byte);

/* img_jpeg.c: decodes a JPEG held in memory with libjpeg-turbo, as Pillow opens it (mode L,
 * RGB or CMYK). On success *pixels is malloc'd (the caller frees it) and holds
 * width × height × channels bytes. */
clipcl_status img_jpeg_decode(const uint8_t *data, size_t size, const char *name, int *width,
                              int *height, img_mode *mode, uint8_t **pixels);

/* The most scans a progressive JPEG of that many pixels may have: 500, or 2^34 / pixels for
 * images above 34 M pixels, never below 64. */
int img_jpeg_scan_limit(uint64_t pixels);

/* torchvision's Resize(size) output size: the shorter side becomes size, the longer
 * int(size * long / short). */
void img_resized_size(int width, int height, int size, int *out_w, int *out_h);

/* Python's round((extent - size) / 2): the centre crop's offset (half to even). */
int img_crop_offset(int64_t extent, int size);

/* Resize (as Pillow's Image.resize with BICUBIC on this mode) + centre crop + convert("RGB"):
 * writes size*size*3 bytes. Only the cropped part of the resized image is computed. */
clipcl_status img_resize_crop_rgb8(const clipcl_image *img, int size, uint8_t *out);

#endif
