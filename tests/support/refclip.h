/* refclip.h — a slow, independent CLIP forward pass in double precision, for tests.
 *
 * It shares nothing with the engine except the file readers (cfg_load, st_open): every
 * operation is a plain loop over doubles, so that the engine's OpenCL kernels can be compared
 * against it on random models of any shape. Outputs follow Hugging Face's CLIPModel. */
#ifndef CLIPCL_REFCLIP_H
#define CLIPCL_REFCLIP_H

#include <stddef.h>
#include <stdint.h>

typedef struct ref_model ref_model; /* opaque, weights as double */

/* Loads dir/config.json and dir/model.safetensors (Hugging Face layout). Returns 0 on success;
 * on failure prints the reason to stderr and returns nonzero. */
int ref_load(const char *dir, ref_model **out);
void ref_free(ref_model *m);

/* n texts of 77 ids each. Any output may be NULL.
 * last_hidden [n,77,W] after final_layer_norm; pooled [n,W] at the first 49407 of each row (the
 * argmax of the ids when absent); features [n,E] = pooled · text_projectionᵀ; embeds [n,E] =
 * features / ||features||. Ids outside the vocabulary abort (a test bug, not an input case). */
void ref_encode_texts(const ref_model *m, const int32_t *ids, int n, float *last_hidden, float *pooled,
                      float *features, float *embeds);

/* n normalized images [n,3,S,S]. Any output may be NULL.
 * last_hidden [n,T,W] = encoder output before post_layernorm (T = (S/P)² + 1); pooled [n,W] =
 * post_layernorm(class token); features [n,E]; embeds [n,E] normalized. */
void ref_encode_images(const ref_model *m, const float *pix, int n, float *last_hidden, float *pooled,
                       float *features, float *embeds);

float ref_logit_scale(const ref_model *m); /* exp(logit_scale) */

/* Sizes of a random model. t_act / v_act: 1 = quick_gelu, 2 = gelu (erf). vocab 0 means 49408;
 * otherwise it must exceed 49407 (CLIP's special tokens). */
typedef struct ref_arch {
    int embed_dim;
    int t_width, t_layers, t_heads, t_ff, t_act;
    int v_width, v_layers, v_heads, v_ff, v_act, image_size, patch_size;
    int vocab;
} ref_arch;

/* Writes dir/config.json and dir/model.safetensors (F32, Hugging Face names), creating dir.
 * Weights come from a PRNG seeded with seed: LayerNorm weights 1 + 0.1u, biases 0.02u,
 * matrices u·sqrt(3/fan_in) (unit variance out for unit variance in), embeddings u, with u
 * uniform in [-1, 1); logit_scale = ln(100). Returns 0 on success (else prints why). */
int ref_write_random_model(const char *dir, const ref_arch *a, uint64_t seed);

/* max |a-b| / max |b| (max |a-b| when b is all zero); +inf when any value is not finite. */
double ref_max_rel(const float *a, const float *b, size_t n);

#endif
