/* common.h — what the model-using commands share: the common options (-m, -d, --batch,
 * --quiet), opening a device + model, collecting image files, batched embedding of image
 * files and texts, progress bars and small output helpers. */
#ifndef CLIPCL_CLI_COMMON_H
#define CLIPCL_CLI_COMMON_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

#include "clipcl.h"

typedef struct cli_opts {
    const char *model;       /* -m: folder or Hub repo; NULL = default repo */
    const char *device;      /* -d */
    int batch;               /* --batch: items per device batch (0 = library default) */
    int quiet;               /* --quiet: no progress output */
    int precision;           /* --precision: CLIPCL_PRECISION_FP32 or _FP16 (weight storage) */
} cli_opts;

/* Long options every model command accepts; append to the command's own table. */
#define CLI_COMMON_LONGOPTS                                                                        \
    {"model", required_argument, 0, 'm'}, {"device", required_argument, 0, 'd'},                   \
        {"batch", required_argument, 0, 0x100}, {"quiet", no_argument, 0, 'q'},                   \
        {"precision", required_argument, 0, 0x101}
#define CLI_COMMON_SHORTOPTS "m:d:q"
#define CLI_COMMON_HELP                                                                            \
    "  -m, --model M     model folder or Hub repository (default: " "openai/clip-vit-base-patch32" \
    ", pulled on first use)\n"                                                                     \
    "  -d, --device D    OpenCL device: index, name substring, cpu or gpu (see clipcl devices)\n"  \
    "      --batch N     items per device batch\n"                                                 \
    "      --precision P fp32 (default) or fp16: weights stored as half, arithmetic in float32\n"  \
    "  -q, --quiet       no progress output\n"

/* Applies a common option: 0 = consumed, -1 = not a common option, 2 = bad value (printed). */
int cli_common_opt(const char *cmd, int c, const char *arg, cli_opts *o);
/* "fp32" / "fp16" to CLIPCL_PRECISION_*; -1 when neither. */
int cli_parse_precision(const char *s);
const char *cli_precision_name(int precision);

typedef struct cli_session {
    clipcl_context *ctx;
    clipcl_model *model;
    char model_dir[4096];
} cli_session;

/* Resolves the model (pulling the default one when needed), opens the device, loads the
 * towers asked for. Returns 0 or the exit code after printing the error. */
int cli_open(const char *cmd, const cli_opts *o, int need_text, int need_vision, cli_session *s);
void cli_close(cli_session *s);

/* Expands arguments into image files: files as given, directories walked recursively
 * (files with image extensions, sorted by path). *out is an array of malloc'd strings. */
int cli_collect_images(const char *cmd, char *const *args, int n, char ***out, int *count);
void cli_free_strings(char **v, int n);

/* Embeds image files / texts (L2-normalized, n × E) in batches, with a progress bar when
 * stderr is a terminal and there is enough work. Returns 0 or the exit code (2) after
 * printing an error naming the file or text. */
int cli_embed_images(const char *cmd, cli_session *s, const cli_opts *o, char *const *paths, int n, float *emb);
int cli_embed_texts(const char *cmd, cli_session *s, const cli_opts *o, const char *const *texts, int n,
                    float *emb);

/* Progress on stderr: shown only on a terminal, not quiet, and once a second has passed. */
typedef struct cli_progress {
    const char *label;
    long total, done;
    double start, last;
    int enabled, shown;
} cli_progress;

void cli_progress_start(cli_progress *p, const char *label, long total, int quiet);
void cli_progress_add(cli_progress *p, long n);
void cli_progress_end(cli_progress *p);
double cli_now(void);

/* Writes s as a JSON string (quotes, escapes) to f. */
void cli_json_str(FILE *f, const char *s);
/* Writes s as one CSV field (quoted when needed). */
void cli_csv_str(FILE *f, const char *s);
/* Reads a whole file (limit bytes) into a NUL-terminated buffer. Returns 0 or prints and 2. */
int cli_read_file(const char *cmd, const char *path, size_t limit, char **out, size_t *len);

#endif
