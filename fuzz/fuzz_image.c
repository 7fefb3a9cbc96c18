/* fuzz_image.c — image decoding (every format stb_image reads, with clipcl's own header
 * sniffing) and OpenAI's preprocessing on arbitrary bytes. fuzz/build.sh lowers the size
 * limits (4096 per side, 2^20 pixels) so that each input takes milliseconds. */
#include <stdint.h>
#include <stdlib.h>

#include "clipcl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    clipcl_image *img = NULL;
    if (clipcl_image_load_memory(data, size, "fuzz", &img) != CLIPCL_OK) {
        if (img || !clipcl_errmsg()[0]) abort();
        return 0;
    }
    int w = 0, h = 0;
    clipcl_image_size(img, &w, &h);
    if (w < 1 || h < 1) abort();
    /* a crop size chosen by the input's length: 1 .. 40 */
    clipcl_preproc pp = clipcl_preproc_default();
    pp.size = 1 + (int)(size % 40);
    float *px = malloc((size_t)3 * pp.size * pp.size * sizeof(float));
    if (px) {
        if (clipcl_image_preprocess(img, &pp, px) != CLIPCL_OK) abort();
        for (int i = 0; i < 3 * pp.size * pp.size; i++)
            if (px[i] != px[i]) abort();
        free(px);
    }
    clipcl_image_free(img);
    return 0;
}
