/* synth.h — deterministic synthetic CLIP weights (the formula of shared/tools/synth.py), so
 * full-size models can be tested and benchmarked without downloading weights. */
#ifndef CLIPCL_SYNTH_H
#define CLIPCL_SYNTH_H

#include <stddef.h>

#include "arch.h"
#include "cfg.h"

/* Fills out[0..n) with the synthetic values for tensor `name`. */
void synth_fill(const char *name, float *out, size_t n);
/* Writes config.json and model.safetensors (Hugging Face layout, F32) for cfg into dir,
 * which must exist. */
clipcl_status synth_write_model(const model_cfg *cfg, const char *dir);
/* Hugging Face config for a named architecture: "ViT-B/32", "ViT-B/16", "ViT-L/14",
 * "ViT-L/14-336". Returns CLIPCL_ERR_INVALID_ARG for an unknown name. */
clipcl_status synth_arch(const char *name, model_cfg *out);
/* Full description of a named architecture: the ViTs above (Hugging Face layout) and OpenAI's
 * ResNets "RN50", "RN101", "RN50x4", "RN50x16", "RN50x64" (OpenAI / open_clip layout). */
clipcl_status synth_arch_desc(const char *name, arch_desc *out);
/* Writes open_clip_config.json and open_clip_model.safetensors (OpenAI names, F32; BatchNorms
 * with num_batches_tracked as PyTorch stores them) for d, a ViT or a ResNet, into dir. */
clipcl_status synth_write_openai(const arch_desc *d, const char *dir);
/* synth_write_model or synth_write_openai, by d's layout. */
clipcl_status synth_write(const arch_desc *d, const char *dir);

#endif
