/* refrn.h — a slow, independent ResNet CLIP image tower in double precision, for tests.
 *
 * It reads OpenAI-layout weights (open_clip_model.safetensors or model.safetensors) through the
 * safetensors reader only and runs OpenAI's ModifiedResNet as written: NCHW, direct
 * convolutions, BatchNorm applied as it stands (not folded), the shortcut chosen by the
 * presence of downsample weights, and the attention pool with its query on the mean token.
 * Sizes come from the tensor shapes; the attention pool's head count is given by the caller
 * (it is a config value). Shares no code with the engine's kernels or model description. */
#ifndef CLIPCL_REFRN_H
#define CLIPCL_REFRN_H

#include <stddef.h>
#include <stdint.h>

typedef struct rn_ref rn_ref;

/* Loads the image tower of the OpenAI-layout model in dir. Returns 0 on success; on failure
 * prints why to stderr and returns nonzero. */
int rn_ref_load(const char *dir, int heads, rn_ref **out);
void rn_ref_free(rn_ref *m);

/* n normalized images [n, 3, S, S]; any output may be NULL. pooled [n, C] = the attention
 * pool's output before c_proj; features [n, E] = after c_proj; embeds [n, E] normalized;
 * tokens [n, T, C] = the attention pool's input before its positional embedding (the mean
 * token, then the final feature map's positions row by row). Aborts when S does not lead to
 * the attention pool's grid (a test bug). */
void rn_ref_encode_images(const rn_ref *m, const float *pix, int n, int S, float *tokens, float *pooled,
                          float *features, float *embeds);
int rn_ref_tokens(const rn_ref *m);      /* T = grid² + 1 */
int rn_ref_pool_width(const rn_ref *m);  /* C = 32 × width */

/* A random OpenAI-layout CLIP with a ResNet image tower and a small text tower. */
typedef struct rn_arch {
    int embed_dim, width, stages[4], head_width, image_size;
    int t_width, t_layers, t_heads;
    int quick_gelu;
    int write_config;        /* open_clip_config.json: 1 = written; 0 = none (sizes from shapes) */
    int model_safetensors;   /* name the weights model.safetensors instead of open_clip_model.safetensors */
} rn_arch;

/* Writes the model into dir (created). Weights from a PRNG seeded with seed: convolutions and
 * matrices u·sqrt(3/fan_in), BatchNorm weight 1 + 0.2u, bias 0.1u, running_mean 0.1u,
 * running_var 1 + 0.5u, other biases 0.02u, embeddings u, LayerNorm weights 1 + 0.1u; u uniform
 * in [-1, 1). Returns 0 on success (else prints why). */
int rn_write_random_model(const char *dir, const rn_arch *a, uint64_t seed);

#endif
