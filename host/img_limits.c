/* img_limits.c — the size check every image decoder makes before it allocates pixels. */
#include "err.h"
#include "img.h"

/* The public limits; fuzz/build.sh lowers them so that every input decodes in milliseconds. */
#ifndef IMG_LIMIT_SIDE
#define IMG_LIMIT_SIDE CLIPCL_IMAGE_MAX_SIDE
#endif
#ifndef IMG_LIMIT_PIXELS
#define IMG_LIMIT_PIXELS CLIPCL_IMAGE_MAX_PIXELS
#endif

clipcl_status img_check_size(const char *name, const char *format, uint64_t w, uint64_t h,
                             size_t file_bytes, uint64_t max_px_per_byte)
{
    if (w == 0 || h == 0)
        return err_set(CLIPCL_ERR_FORMAT, "%s: bad %s image size %llu×%llu", name, format,
                       (unsigned long long)w, (unsigned long long)h);
    if (w > IMG_LIMIT_SIDE || h > IMG_LIMIT_SIDE || w * h > IMG_LIMIT_PIXELS)
        return err_set(CLIPCL_ERR_LIMIT,
                       "%s: %s header claims %llu×%llu pixels, beyond the limit of %d per side "
                       "and %u pixels",
                       name, format, (unsigned long long)w, (unsigned long long)h,
                       IMG_LIMIT_SIDE, IMG_LIMIT_PIXELS);
    if (max_px_per_byte && w * h > (uint64_t)file_bytes * max_px_per_byte)
        return err_set(CLIPCL_ERR_FORMAT,
                       "%s: %s header claims %llu×%llu pixels, more than a %zu-byte file can "
                       "hold (truncated, or a decompression bomb)",
                       name, format, (unsigned long long)w, (unsigned long long)h, file_bytes);
    return CLIPCL_OK;
}
