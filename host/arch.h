/* arch.h — what a model folder holds beyond cfg.h's Hugging Face view: its weight layout
 * (Hugging Face or OpenAI / open_clip tensor names), whether its image tower is a ViT or a
 * modified ResNet, and the ResNet's shape. Sizes of an OpenAI-layout model come from
 * open_clip_config.json, or, without one, from the tensor shapes as OpenAI's own loader
 * derives them. */
#ifndef CLIPCL_ARCH_H
#define CLIPCL_ARCH_H

#include "cfg.h"
#include "st.h"

enum { ARCH_LAYOUT_HF = CLIPCL_LAYOUT_HF, ARCH_LAYOUT_OPENAI = CLIPCL_LAYOUT_OPENAI };
enum { ARCH_VIT = CLIPCL_VISION_VIT, ARCH_RESNET = CLIPCL_VISION_RESNET };
#define ARCH_RN_STAGES 4
#define ARCH_RN_MAX_WIDTH 2048   /* 32 × width stays within cfg's 65536 */
#define ARCH_RN_MAX_BLOCKS 1024  /* per stage */
#define ARCH_BN_EPS 1e-5         /* PyTorch's BatchNorm2d default, which OpenAI's ResNets use */

typedef struct arch_desc {
    /* text tower and ViT sizes as cfg.h has them; for a ResNet: vision.image_size,
     * vision.width = 32 × rn_width (the attention pool's width), vision.heads (its heads),
     * vision.layers = Bottlenecks in all; ff and patch_size 0 */
    model_cfg c;
    int layout;                      /* ARCH_LAYOUT_* */
    int vision_kind;                 /* ARCH_VIT or ARCH_RESNET */
    int rn_width;                    /* ResNet: the first stage's width (the stem ends at it) */
    int rn_stages[ARCH_RN_STAGES];   /* ResNet: Bottlenecks per stage */
    int has_norm;                    /* preprocess_cfg gave mean and std */
    float mean[3], std[3];
    int pp_size;                     /* preprocess_cfg.size; 0 when absent */
} arch_desc;

/* Parses open_clip_config.json ({"model_cfg": {...}, "preprocess_cfg": {...}} as open_clip
 * repositories publish it, or a bare model config) with open_clip's defaults for absent
 * fields; every size is bounded, and features clipcl does not implement (timm or Hugging
 * Face towers, layer scale, attentional poolers, ...) are refused with CLIPCL_ERR_UNSUPPORTED. */
clipcl_status arch_load_openclip(const char *path, arch_desc *d);
/* Sizes of an OpenAI-layout checkpoint from its tensor shapes, as OpenAI's build_model does
 * (heads = width / 64, quick GELU). path names the file in messages. */
clipcl_status arch_from_tensors(const st_file *f, const char *path, arch_desc *d);
/* 1 when f holds OpenAI / open_clip tensor names rather than Hugging Face's. */
int arch_is_openai(const st_file *f);
/* Side of the feature map a ResNet tower makes of an image_size input: stride-2 stem
 * convolution, 2×2 pool, three stride-2 stages, each rounding down as PyTorch does. */
int arch_rn_grid(int image_size);
/* Checks the ResNet fields (bounds, heads dividing the width, a non-empty feature map). */
clipcl_status arch_check_resnet(const arch_desc *d, const char *path);
/* Writes d as open_clip_config.json (model_cfg + preprocess_cfg, OpenAI's normalization). */
clipcl_status arch_write_openclip(const arch_desc *d, const char *path);

#endif
