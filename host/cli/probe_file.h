/* probe_file.h — the linear-probe file that `clipcl probe train` writes and `probe predict`
 * and `eval --probe` read, and the model fingerprint that ties a probe to its model.
 *
 * Format, version 1. Integers little-endian, floats IEEE-754 little-endian; the file is
 * exactly PROBE_HEADER + name_len + labels_len + 4·K·(E + 1) bytes long.
 *
 *   offset size
 *    0      8  magic "CLIPCLPR"
 *    8      4  u32 version (1)
 *   12      4  u32 K, classes (2 .. PROBE_MAX_CLASSES)
 *   16      4  u32 E, embedding width (1 .. PROBE_MAX_EMBED; K·E <= PROBE_MAX_WEIGHTS)
 *   20      4  u32 labels_len, bytes of the label block (2K .. PROBE_MAX_LABEL_BYTES)
 *   24      4  u32 name_len, bytes of the model's name (0 .. PROBE_MAX_NAME - 1)
 *   28      4  u32 CRC-32 (zlib) of the whole file, these 4 bytes counted as zero
 *   32      8  u64 size of the model's weights file
 *   40     32  model fingerprint (probe_model_identify)
 *   72      4  i32 preprocessing size (1 .. 8192)
 *   76     12  f32 mean[3]   (finite)
 *   88     12  f32 std[3]    (finite, > 0)
 *  100      4  u32 flags: 1 = regularized toward the zero-shot classifier, 2 = C chosen by
 *              search on a held-out split; other bits 0
 *  104      8  f64 C (finite, > 0)
 *  112      4  u32 shots per class (0 = every image)
 *  116      4  u32 training images
 *  120      8  u64 seed of the shot / split sampling
 *  128      4  u32 optimizer iterations
 *  132      4  u32 optimizer outcome (0 cap reached, 1 converged, 2 no further progress)
 *  136      8  f64 accuracy on the training images
 *  144      8  f64 accuracy on the held-out split of the C search (NaN when none)
 *  152      8  reserved, 0
 *  160         the model's name (folder name or Hub id, UTF-8, no NUL; for messages only)
 *              K labels, each 1 .. PROBE_MAX_LABEL - 1 bytes + NUL, unique, no control bytes
 *              W: K × E f32 (row k = class k), then b: K f32 — all finite
 *
 * Class probabilities of an L2-normalized image embedding x are softmax(W x + b), the
 * multinomial logistic regression of logreg.h. */
#ifndef CLIPCL_CLI_PROBE_FILE_H
#define CLIPCL_CLI_PROBE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "clipcl.h"
#include "common.h"

#define PROBE_MAGIC "CLIPCLPR"
#define PROBE_VERSION 1u
#define PROBE_HEADER 160
#define PROBE_MAX_CLASSES 100000
#define PROBE_MAX_EMBED 65536
#define PROBE_MAX_WEIGHTS (1u << 28)
#define PROBE_MAX_LABEL 1024
#define PROBE_MAX_LABEL_BYTES (PROBE_MAX_CLASSES * 64)
#define PROBE_MAX_NAME 1024

#define PROBE_FLAG_ZEROSHOT 1u
#define PROBE_FLAG_CSEARCH 2u

/* What a probe belongs to: the model's weights, recognized wherever the folder lives. */
typedef struct probe_model_id {
    uint64_t weights_size;
    uint8_t digest[32];
} probe_model_id;

typedef struct probe {
    int n_classes, embed_dim;
    char **labels;           /* n_classes strings */
    float *W;                /* n_classes × embed_dim */
    float *b;                /* n_classes */
    probe_model_id model;
    char model_name[PROBE_MAX_NAME];
    clipcl_preproc preproc;
    uint32_t flags;
    double C;
    int shots, n_train;
    uint64_t seed;
    int iterations, outcome;
    double train_accuracy, val_accuracy;
} probe;

/* The fingerprint of the model folder dir: SHA-256 of its weights file's size, its first
 * MiB (the safetensors header and the first tensors) and 64 KiB samples at 16 evenly spaced
 * offsets. Reading about 2 MiB tells any two checkpoints apart without hashing gigabytes.
 * The weights file is model.safetensors, else open_clip_model.safetensors. Returns 0, or -1
 * with a message naming the file in err. */
int probe_model_identify(const char *dir, probe_model_id *out, char *err, size_t errlen);

/* Writes p to path atomically (temporary file + rename). Returns 0, or -1 with a message. */
int probe_write(const char *path, const probe *p, char *err, size_t errlen);

/* Reads and validates a probe file (every bound above, the CRC, the exact size). Returns 0,
 * or -1 with a message naming the file and the problem. */
int probe_read(const char *path, probe *out, char *err, size_t errlen);

void probe_free(probe *p);

/* Whether p may be used with a model of this identity, width and preprocessing; -1 with a
 * message otherwise. */
int probe_check_model(const probe *p, const char *probe_path, const probe_model_id *id, int embed_dim,
                      const clipcl_preproc *pp, char *err, size_t errlen);

/* For predict and eval: opens the vision tower of -m, or of the model the probe names when
 * -m is absent, and refuses a probe that does not belong to it (printed, returns 2). */
int probe_open_model(const char *cmd, const char *probe_path, const probe *p, const cli_opts *o, cli_session *s);

#endif
