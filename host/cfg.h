/* cfg.h — a model's description: Hugging Face config.json and preprocessor_config.json. */
#ifndef CLIPCL_CFG_H
#define CLIPCL_CFG_H

#include "clipcl.h"

typedef struct tower_cfg {
    int width, layers, heads, ff;
    int act;                 /* OPS_ACT_QUICK_GELU or OPS_ACT_GELU */
    float eps;
    int image_size, patch_size, channels; /* vision */
    int ctx, vocab;                       /* text */
} tower_cfg;

typedef struct model_cfg {
    int embed_dim;
    tower_cfg text, vision;
} model_cfg;

/* Parses config.json with Hugging Face's CLIPConfig defaults for absent fields, and checks
 * every size is positive and within sane bounds (errors name the file and the field). */
clipcl_status cfg_load(const char *path, model_cfg *out);
/* Parses preprocessor_config.json (image_mean, image_std, crop_size / size); fields that are
 * absent keep the values already in *pp. */
clipcl_status cfg_load_preproc(const char *path, clipcl_preproc *pp);

/* Reads a JSON file of at most 16 MiB whose top level is an object (the buffer is sized from
 * the file). *out is the caller's (cJSON_Delete); errors name the file. */
struct cJSON;
clipcl_status cfg_read_json(const char *path, struct cJSON **out);

#endif
