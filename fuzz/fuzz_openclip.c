/* fuzz_openclip.c — open_clip_config.json (arch_load_openclip) on arbitrary bytes; an accepted
 * ResNet description must pass its own checks, and an accepted normalization must be usable. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "arch.h"
#include "clipcl.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    const char *path = fz_file(data, size, ".json");
    arch_desc d;
    if (arch_load_openclip(path, &d) == CLIPCL_OK) {
        if (d.c.embed_dim < 1 || d.c.text.width < 1 || d.c.text.heads < 1) abort();
        if (d.vision_kind == ARCH_RESNET && arch_check_resnet(&d, path) != CLIPCL_OK) abort();
        /* the normalization the preprocessing divides by must be usable as floats */
        for (int i = 0; d.has_norm && i < 3; i++)
            if (!(d.std[i] > 0.0f) || !isfinite(d.std[i]) || !isfinite(d.mean[i])) abort();
    }
    return 0;
}
