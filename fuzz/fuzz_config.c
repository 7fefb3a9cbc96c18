/* fuzz_config.c — the Hugging Face JSON model descriptions on arbitrary bytes: config.json
 * (cfg_load) and preprocessor_config.json (cfg_load_preproc). Whatever a parser accepts must
 * be within the bounds it promises. open_clip_config.json: fuzz_openclip.c. */
#include <stdint.h>
#include <stdlib.h>

#include "cfg.h"
#include "clipcl.h"
#include "fuzz_common.h"

static void check_tower(const tower_cfg *t, int vision)
{
    if (t->width < 1 || t->layers < 1 || t->heads < 1 || t->ff < 1 || t->width % t->heads) abort();
    if (!(t->eps > 0.0f)) abort();
    if (vision && (t->patch_size < 1 || t->patch_size > t->image_size)) abort();
    if (!vision && (t->ctx != CLIPCL_CONTEXT_LENGTH || t->vocab <= CLIPCL_EOT)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    const char *path = fz_file(data, size, ".json");
    model_cfg c;
    if (cfg_load(path, &c) == CLIPCL_OK) {
        if (c.embed_dim < 1) abort();
        check_tower(&c.text, 0);
        check_tower(&c.vision, 1);
    }
    clipcl_preproc pp = clipcl_preproc_default();
    if (cfg_load_preproc(path, &pp) == CLIPCL_OK) {
        if (pp.size < 1 || pp.size > 8192) abort();
        for (int i = 0; i < 3; i++)
            if (!(pp.std[i] > 0.0f) || pp.mean[i] != pp.mean[i]) abort();
    }
    return 0;
}
