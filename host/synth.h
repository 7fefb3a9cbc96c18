/* synth.h — deterministic synthetic CLIP weights (the formula of shared/tools/synth.py), so
 * full-size models can be tested and benchmarked without downloading weights. */
#ifndef CLIPCL_SYNTH_H
#define CLIPCL_SYNTH_H

#include <stddef.h>

#include "cfg.h"

/* Fills out[0..n) with the synthetic values for tensor `name`. */
void synth_fill(const char *name, float *out, size_t n);
/* Writes config.json and model.safetensors (Hugging Face layout, F32) for cfg into dir,
 * which must exist. */
clipcl_status synth_write_model(const model_cfg *cfg, const char *dir);
/* Hugging Face config for a named architecture: "ViT-B/32", "ViT-B/16", "ViT-L/14",
 * "ViT-L/14-336". Returns CLIPCL_ERR_INVALID_ARG for an unknown name. */
clipcl_status synth_arch(const char *name, model_cfg *out);

#endif
