/*
 * clipcl.h — CLIP (contrastive image–text model) on any OpenCL 1.2 device.
 *
 * Example: embed an image and two texts, print the cosine similarities.
 *
 *     clipcl_context *ctx = NULL;
 *     clipcl_model *model = NULL;
 *     clipcl_context_params cp = clipcl_context_default_params();
 *     cp.device = "gpu";                                  // or "0", "cpu", "Radeon", NULL
 *     if (clipcl_context_create(&cp, &ctx) != CLIPCL_OK) { puts(clipcl_errmsg()); return 1; }
 *     clipcl_model_params mp = clipcl_model_default_params();
 *     if (clipcl_model_load(ctx, "clip-vit-base-patch32/", &mp, &model) != CLIPCL_OK) ...
 *
 *     clipcl_image *img = NULL;                           // decode + OpenAI preprocessing
 *     clipcl_image_load("cat.jpg", &img);
 *     float *pix = malloc(clipcl_model_pixels_per_image(model) * sizeof(float));
 *     clipcl_image_preprocess(img, clipcl_model_preproc(model), pix);
 *
 *     int32_t ids[2 * CLIPCL_CONTEXT_LENGTH];
 *     clipcl_tokenize(clipcl_model_tokenizer(model), "a photo of a cat", ids, CLIPCL_CONTEXT_LENGTH, 0, NULL);
 *     clipcl_tokenize(clipcl_model_tokenizer(model), "a photo of a dog", ids + 77, CLIPCL_CONTEXT_LENGTH, 0, NULL);
 *
 *     int E = clipcl_model_embed_dim(model);
 *     float *ie = malloc(E * sizeof(float)), *te = malloc(2 * E * sizeof(float));
 *     clipcl_encode_images(model, pix, 1, ie);            // L2-normalized embeddings
 *     clipcl_encode_texts(model, ids, 2, te);
 *     ... cosine = dot(ie, te + k*E); logits = clipcl_model_logit_scale(model) * cosine
 *
 *     clipcl_image_free(img); clipcl_model_free(model); clipcl_context_free(ctx);
 *
 * Threading: a clipcl_context and every model loaded into it belong to one thread at a
 * time (the caller serializes access; they hold one OpenCL queue and shared scratch
 * buffers). Different contexts may be used from different threads at the same time.
 * clipcl_errmsg() is per thread. Tokenizers and images are read-only after creation
 * and may be shared between threads.
 *
 * Ownership: every *_create / *_load returns an object the caller frees with the matching
 * *_free (NULL is accepted and ignored). Output arrays are always caller-allocated.
 * Strings returned by the library stay owned by the library.
 *
 * Errors: every function that can fail returns a clipcl_status; on failure
 * clipcl_errmsg() describes the problem (naming the file, tensor or OpenCL call involved).
 * The library never prints, never exits and never aborts.
 */
#ifndef CLIPCL_H
#define CLIPCL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLIPCL_VERSION "0.1.0"
#define CLIPCL_CONTEXT_LENGTH 77 /* CLIP's text context */
#define CLIPCL_SOT 49406         /* <|startoftext|> */
#define CLIPCL_EOT 49407         /* <|endoftext|> */

typedef enum clipcl_status {
    CLIPCL_OK = 0,
    CLIPCL_ERR_INVALID_ARG = 1,  /* a bad argument from the caller */
    CLIPCL_ERR_IO = 2,           /* a file could not be opened, read or written */
    CLIPCL_ERR_FORMAT = 3,       /* a file is corrupt, truncated or not what it claims */
    CLIPCL_ERR_MODEL = 4,        /* a model's config and tensors disagree or are missing */
    CLIPCL_ERR_UNSUPPORTED = 5,  /* valid input this build cannot handle */
    CLIPCL_ERR_NOMEM = 6,        /* host allocation failed */
    CLIPCL_ERR_DEVICE = 7,       /* no such device, or no OpenCL platform */
    CLIPCL_ERR_OPENCL = 8,       /* an OpenCL call failed (device memory, queue, …) */
    CLIPCL_ERR_BUILD = 9,        /* a kernel failed to compile (message has the build log) */
    CLIPCL_ERR_BLAS = 10,        /* a CLBlast call failed */
    CLIPCL_ERR_TOO_LONG = 11,    /* text longer than the context with truncation disabled */
    CLIPCL_ERR_LIMIT = 12        /* a size beyond a documented limit */
} clipcl_status;

/* Last error message of the calling thread ("" when none). Valid until the next call. */
const char *clipcl_errmsg(void);
/* Short constant name of a status code, e.g. "format error". */
const char *clipcl_status_str(clipcl_status s);

/* ------------------------------------------------------------------ devices */

typedef struct clipcl_device_info {
    int index;               /* global index across all platforms, as accepted by "device" */
    int platform_index;
    char platform[128];
    char vendor[128];
    char name[256];
    char version[128];       /* OpenCL C version string */
    char driver[128];
    int is_gpu, is_cpu;
    int compute_units;
    uint64_t global_mem;     /* bytes */
    uint64_t max_alloc;      /* bytes */
    int fp16;                /* cl_khr_fp16 present */
    int is_default;          /* what a NULL device selector picks */
    int vector_width;        /* native float vector width: 16 on AVX-512 CPUs, 8 on AVX2, 1 on most GPUs */
} clipcl_device_info;

/* Fills up to cap entries of out (out may be NULL with cap 0) and stores the total number of
 * devices in *count. Returns CLIPCL_ERR_DEVICE when no OpenCL platform is installed. */
clipcl_status clipcl_devices(clipcl_device_info *out, int cap, int *count);

/* ------------------------------------------------------------------ context */

typedef struct clipcl_context clipcl_context;

typedef struct clipcl_context_params {
    /* Device selector: NULL = $CLIPCL_DEVICE if set, else the first GPU, else the first device.
     * "3" = global index, "gpu"/"cpu" = first of that type, anything else = first device
     * whose name, vendor or platform contains it (case-insensitive). */
    const char *device;
    int profile;             /* enable OpenCL profiling events (benchmarks) */
} clipcl_context_params;

clipcl_context_params clipcl_context_default_params(void);
clipcl_status clipcl_context_create(const clipcl_context_params *params, clipcl_context **out);
void clipcl_context_free(clipcl_context *ctx);
/* Information on the context's device. */
const clipcl_device_info *clipcl_context_device(const clipcl_context *ctx);

/* Device memory in buffers the library allocated (weights + activations) on this context:
 * now and the peak since creation. CLBlast's temporary buffers are not included. */
void clipcl_context_memory(const clipcl_context *ctx, uint64_t *current, uint64_t *peak);

/* Per-op device time, from OpenCL profiling events (context created with profile = 1). */
typedef enum clipcl_op_kind {
    CLIPCL_OP_GEMM,          /* CLBlast matrix products */
    CLIPCL_OP_ATTENTION,     /* fused attention kernel */
    CLIPCL_OP_NORM,          /* LayerNorm, L2 norm */
    CLIPCL_OP_ELEMENTWISE,   /* bias + activation, embeddings, gathers */
    CLIPCL_OP_KINDS
} clipcl_op_kind;

typedef struct clipcl_op_stats {
    const char *name;        /* "gemm", "attention", "norm", "elementwise" */
    long count;              /* launches */
    double ms;               /* device time */
    double flop;             /* arithmetic done (GEMM and attention) */
    double bytes;            /* global memory traffic, estimated */
} clipcl_op_stats;

/* Copies the accumulated statistics (CLIPCL_OP_KINDS entries) into stats. Returns
 * CLIPCL_ERR_INVALID_ARG when the context was created without profiling. */
clipcl_status clipcl_profile_read(clipcl_context *ctx, clipcl_op_stats stats[CLIPCL_OP_KINDS]);
void clipcl_profile_reset(clipcl_context *ctx);

/* ------------------------------------------------------------------ tokenizer */

typedef struct clipcl_tokenizer clipcl_tokenizer;

/* Creates OpenAI's CLIP BPE tokenizer. bpe_path: a bpe_simple_vocab_16e6.txt(.gz) file, or
 * NULL for the copy embedded in the library. */
clipcl_status clipcl_tokenizer_create(const char *bpe_path, clipcl_tokenizer **out);
void clipcl_tokenizer_free(clipcl_tokenizer *tok);

/* Tokenizes NUL-terminated UTF-8 text exactly as OpenAI's clip.tokenize: text cleanup
 * (ftfy-style fixes, NFC, HTML unescape twice, whitespace collapse, lowercase), then BPE.
 * Invalid UTF-8 becomes U+FFFD. Writes exactly `context` (> 1) ids to out: 49406, the BPE
 * ids, 49407, zeros. When too long, the ids are cut so that 49407 stays last — unless
 * no_truncate is set, in which case CLIPCL_ERR_TOO_LONG is returned.
 * *n_tokens (may be NULL) receives the untruncated length including start and end tokens,
 * also when CLIPCL_ERR_TOO_LONG is returned (out is then left untouched). Texts over 64 MiB
 * return CLIPCL_ERR_LIMIT. */
clipcl_status clipcl_tokenize(const clipcl_tokenizer *tok, const char *text, int32_t *out,
                              int context, int no_truncate, int *n_tokens);
/* BPE ids only, without start/end tokens, of len bytes of text (len < 0: NUL-terminated).
 * Writes at most cap ids; *n receives the full count (which may exceed cap: call again
 * with a bigger buffer). */
clipcl_status clipcl_tokenize_raw(const clipcl_tokenizer *tok, const char *text, ptrdiff_t len,
                                  int32_t *out, int cap, int *n);
/* The bytes of one token id ("a</w>" style, byte-decoded): raw bytes, which may be part of a
 * multi-byte UTF-8 character; "" for the two tokens of byte 0x00 (ids 188 and 444); NULL
 * when the id is out of range. */
const char *clipcl_token_text(const clipcl_tokenizer *tok, int32_t id);

/* ------------------------------------------------------------------ images */

typedef struct clipcl_image clipcl_image;

/* Largest accepted image: each side and the total pixel count. Larger files are refused
 * from their header, before any pixel memory is allocated. */
#define CLIPCL_IMAGE_MAX_SIDE 32768
#define CLIPCL_IMAGE_MAX_PIXELS (256u * 1024u * 1024u)

typedef struct clipcl_preproc {
    int size;                /* shortest side after resize, and the crop (224 for most models) */
    float mean[3], std[3];
} clipcl_preproc;

/* OpenAI's defaults: 224, mean (0.48145466, 0.4578275, 0.40821073),
 * std (0.26862954, 0.26130258, 0.27577711). */
clipcl_preproc clipcl_preproc_default(void);

/* Decodes an image file (PNG, JPEG, BMP, GIF first frame, TGA, PSD, PNM) into the mode Pillow
 * opens it in (JPEGs with libjpeg-turbo, as Pillow; CMYK JPEGs are resized in CMYK and
 * converted after, as OpenAI's pipeline does). A corrupt or truncated file is an error
 * (CLIPCL_ERR_FORMAT), never a partly grey image. */
clipcl_status clipcl_image_load(const char *path, clipcl_image **out);
/* Decodes an image held in memory; name is used in error messages. */
clipcl_status clipcl_image_load_memory(const void *data, size_t size, const char *name,
                                       clipcl_image **out);
void clipcl_image_free(clipcl_image *img);
void clipcl_image_size(const clipcl_image *img, int *width, int *height);

/* OpenAI's pipeline: resize (Pillow bicubic, shorter side = size) → centre crop → RGB.
 * Writes size*size*3 bytes (HWC, RGB) to out. size must be 1..8192 (else
 * CLIPCL_ERR_INVALID_ARG). */
clipcl_status clipcl_image_crop_rgb8(const clipcl_image *img, int size, uint8_t *out);
/* The same, then /255 and (x - mean) / std; writes 3*size*size floats (CHW) to out. */
clipcl_status clipcl_image_preprocess(const clipcl_image *img, const clipcl_preproc *pp,
                                      float *out);

/* ------------------------------------------------------------------ model */

typedef struct clipcl_model clipcl_model;

typedef struct clipcl_model_params {
    int max_batch;           /* largest batch run on the device at once; 0 = chosen from
                                device memory. Bigger requests are split internally. */
    int load_text;           /* load the text tower (default 1) */
    int load_vision;         /* load the image tower (default 1) */
    int precision;           /* CLIPCL_PRECISION_FP32 (default) or CLIPCL_PRECISION_FP16 */
} clipcl_model_params;

/* Weight storage on the device. FP16 stores the transformer towers' matrices (q|k|v, output,
 * MLP, patch embedding, projections, token embeddings) as IEEE half, halving their memory;
 * arithmetic stays float32 on every device (a matrix is widened with vload_half just before
 * its GEMM), so it works without cl_khr_fp16 too. Expect ~1e-3 relative error against
 * float32. ResNet convolutions are kept in float32. */
#define CLIPCL_PRECISION_FP32 0
#define CLIPCL_PRECISION_FP16 1

clipcl_model_params clipcl_model_default_params(void);

/* Loads a model folder into the context's device. Two layouts are recognized by their files:
 * Hugging Face (config.json, model.safetensors, optional preprocessor_config.json) and
 * OpenAI / open_clip (open_clip_model.safetensors with open_clip_config.json, as open_clip
 * repositories publish them; without the config, sizes are derived from the tensor shapes as
 * OpenAI's loader does, and a model.safetensors with OpenAI tensor names is accepted too).
 * When a folder holds both, the Hugging Face files are used. Image towers may be ViTs or
 * OpenAI's modified ResNets (RN50, RN101, RN50x4, ...); weights may be F32, F16 or BF16. */
clipcl_status clipcl_model_load(clipcl_context *ctx, const char *dir,
                                const clipcl_model_params *params, clipcl_model **out);
void clipcl_model_free(clipcl_model *model);

#define CLIPCL_VISION_VIT 0    /* clipcl_model_info.vision_kind */
#define CLIPCL_VISION_RESNET 1
#define CLIPCL_LAYOUT_HF 0     /* clipcl_model_info.layout */
#define CLIPCL_LAYOUT_OPENAI 1

/* The vision_* fields describe a ViT. For a ResNet tower (vision_kind CLIPCL_VISION_RESNET):
 * vision_width = the attention pool's width (32 × resnet_width), vision_layers = Bottleneck
 * blocks in all, vision_heads = the attention pool's heads, vision_ff = patch_size = 0,
 * vision_gelu = 0 (ReLU), vision_tokens = (feature map side)^2 + 1, the attention pool's
 * sequence (the mean token, then one per position of the final feature map). */
typedef struct clipcl_model_info {
    int embed_dim;           /* projection_dim */
    float logit_scale;       /* exp(stored logit_scale) */
    int text_width, text_layers, text_heads, text_ff, text_ctx, vocab_size;
    int vision_width, vision_layers, vision_heads, vision_ff, image_size, patch_size;
    int vision_tokens;       /* ViT: (image_size / patch_size)^2 + 1 */
    int text_gelu, vision_gelu; /* 1 = erf GELU, 0 = quick_gelu */
    int has_text, has_vision;
    int vision_kind;         /* CLIPCL_VISION_VIT or CLIPCL_VISION_RESNET */
    int layout;              /* CLIPCL_LAYOUT_HF or CLIPCL_LAYOUT_OPENAI: the folder's tensor names */
    int resnet_width;        /* ResNet: width of the first stage (64 in RN50); 0 for a ViT */
    int resnet_stages[4];    /* ResNet: Bottlenecks per stage (3, 4, 6, 3 in RN50); 0 for a ViT */
    int precision;           /* CLIPCL_PRECISION_* the weights are stored in */
} clipcl_model_info;

const clipcl_model_info *clipcl_model_get_info(const clipcl_model *model);
int clipcl_model_embed_dim(const clipcl_model *model);
float clipcl_model_logit_scale(const clipcl_model *model);
/* 3 * image_size * image_size: floats per image for clipcl_encode_images. */
size_t clipcl_model_pixels_per_image(const clipcl_model *model);
/* The model's preprocessing (from preprocessor_config.json, else OpenAI's defaults). */
const clipcl_preproc *clipcl_model_preproc(const clipcl_model *model);
/* The tokenizer the model uses (the embedded CLIP BPE); owned by the model. */
const clipcl_tokenizer *clipcl_model_tokenizer(clipcl_model *model);

/* Optional outputs of an encode call; NULL members are skipped. Shapes per item:
 * embeds [E] (L2-normalized), features [E] (projected, not normalized),
 * pooled [W] (text: final LN at the first 49407; ViT: post-LN of the class token; ResNet: the
 * attention pool's output before c_proj), last_hidden_state (text: [77, W] after the final
 * LN; ViT: [T, W] encoder output, before the post-LN; ResNet: [T, W] the attention pool's
 * input before its positional embedding: the mean of the final feature map, then the map's
 * positions row by row, channels last). W and T are vision_width and vision_tokens. */
typedef struct clipcl_outputs {
    float *embeds;
    float *features;
    float *pooled;
    float *last_hidden_state;
} clipcl_outputs;

/* Encodes n images given as normalized pixels, n × 3 × S × S float32 (S = image_size).
 * Writes n × E L2-normalized embeddings to embeds. */
clipcl_status clipcl_encode_images(clipcl_model *model, const float *pixels, int n, float *embeds);
/* Encodes n texts given as n × 77 token ids. Pooling is at the first 49407 of each row
 * (the argmax of the ids when there is none). Ids must be < vocab_size. A call costs as many
 * positions per text as its longest text has (up to its end token; all 77 when
 * last_hidden_state is asked for), so batches of similar lengths run fastest. */
clipcl_status clipcl_encode_texts(clipcl_model *model, const int32_t *ids, int n, float *embeds);
clipcl_status clipcl_encode_images_ex(clipcl_model *model, const float *pixels, int n,
                                      const clipcl_outputs *out);
clipcl_status clipcl_encode_texts_ex(clipcl_model *model, const int32_t *ids, int n,
                                     const clipcl_outputs *out);

/* Encodes n images given as the bytes clipcl_image_crop_rgb8 writes at the model's size:
 * n × S × S × 3 (HWC, RGB). The device applies the model's mean and std with the values
 * clipcl_image_preprocess uses, so the results equal clipcl_encode_images on its output bit
 * for bit, while a quarter of the bytes cross to the device. Device memory for S × S × 3
 * bytes per batch item is taken on the first call. */
clipcl_status clipcl_encode_images_rgb8(clipcl_model *model, const uint8_t *rgb, int n, float *embeds);
clipcl_status clipcl_encode_images_rgb8_ex(clipcl_model *model, const uint8_t *rgb, int n,
                                           const clipcl_outputs *out);

#ifdef __cplusplus
}
#endif
#endif
