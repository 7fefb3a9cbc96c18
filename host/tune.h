/* tune.h — CLBlast GEMM tuning as data.
 *
 * CLBlast picks kernel parameters from its own database; devices it does not know (PoCL on
 * CPUs, for one) get generic values that can be many times slower than the device allows.
 * clipcl keeps its own parameters as data and applies them per device with
 * CLBlastOverrideParameters when a context is created:
 *   1. a built-in table (tune.c): rows matched on platform/vendor/device name substrings and
 *      device type; the last row is the default, which applies nothing (CLBlast's values);
 *   2. a per-device file written by `clipcl tune`, which wins kernel by kernel:
 *      $CLIPCL_CACHE_DIR/tuning/, else $XDG_CACHE_HOME/clipcl/tuning/, else
 *      ~/.cache/clipcl/tuning/, one file per platform + device name + driver version.
 * Every parameter set is checked against what CLBlast's kernels need (tile multiples,
 * vector widths, work-group size, local memory) before it is applied; a file that is
 * unreadable, for another device, or fails its checksum or those checks is ignored.
 * CLIPCL_TUNING=0 in the environment applies nothing (CLBlast's own parameters).
 *
 * The kernels and parameter names are CLBlast 1.5's, single precision:
 *   Xgemm        the tiled kernel of the "indirect" GEMM (plus pad/transpose helper kernels)
 *   XgemmDirect  the single-kernel GEMM CLBlast uses for small products
 *   GemmRoutine  XGEMM_MIN_INDIRECT_SIZE: direct when M*N*K < this value cubed
 *   Padtranspose the indirect GEMM's copies of an operand that must be transposed and padded
 *                (TransposePadMatrix, TransposeMatrix): left only in the row-major products (patch
 *                embedding, projections, ResNet) since the blocks went feature-major
 * and two of clipcl's own, kept in the same sets and files but never given to CLBlast:
 *   ClipclGemm   SMALL_TOKENS: the transformer blocks' products over at most this many tokens
 *                run clipcl's kernel (cl/gemm.cl, ops_gemm_small) instead of CLBlast's
 *   ClipclTile   MIN_TOKENS: the blocks' products over at least this many tokens (and more
 *                than SMALL_TOKENS) run clipcl's kernel for many tokens (ops_gemm_tile),
 *                0 = never; LOCAL: its form, 1 for GPUs (gemm_fm_tile, local-memory tiles),
 *                0 for CPUs (gemm_fm_reg, registers only); NF TT RF RT KB: its sizes
 *                (features × tokens per work-group, per work-item, K per local tile; with
 *                LOCAL=0: NF × TT per work-item in vectors of RT tokens; see ops_tile).
 *                A file without it leaves the kernel off. */
#ifndef CLIPCL_TUNE_H
#define CLIPCL_TUNE_H

#include <stddef.h>
#include <stdint.h>

#include "ocl.h"
#include "ops.h"

enum {
    TUNE_XGEMM = 0,
    TUNE_XGEMM_DIRECT = 1,
    TUNE_GEMM_ROUTINE = 2,
    TUNE_PADTRANSPOSE = 3,
    TUNE_OWN = 4,
    TUNE_TILE = 5,
    TUNE_NKERNELS = 6
};
#define TUNE_SMALL_MAX 65536u /* bound on ClipclGemm's SMALL_TOKENS */
#define TUNE_TILE_MAX (1u << 24) /* bound on ClipclTile's MIN_TOKENS */
#define TUNE_MAX_PARAMS 16
#define TUNE_FILE_MAX (64u << 10) /* a tuning file is a few hundred bytes; more is not ours */

/* Parameters per kernel, in CLBlast's order of names (tune_param_name); have[k] = 0 leaves
 * kernel k at whatever CLBlast uses. */
typedef struct tune_set {
    int have[TUNE_NKERNELS];
    size_t v[TUNE_NKERNELS][TUNE_MAX_PARAMS];
} tune_set;

/* What the device allows, for tune_valid. */
typedef struct tune_limits {
    size_t max_wg, max_item[3];
    uint64_t local_mem;
} tune_limits;

const char *tune_kernel_name(int kernel);
int tune_kernel_index(const char *name); /* -1 when unknown */
int tune_nparams(int kernel);
const char *tune_param_name(int kernel, int i);
/* The value s holds for one parameter of a kernel; -1 when s leaves the kernel at CLBlast's
 * values (or the name is not the kernel's). */
long tune_get(const tune_set *s, int kernel, const char *name);

clipcl_status tune_limits_query(const ocl *o, tune_limits *out);
/* 0 when v is a parameter set the kernel works with (and fits the device when lim is not
 * NULL); else -1 with the first broken rule in why. */
int tune_valid(int kernel, const size_t *v, const tune_limits *lim, char *why, size_t cap);
/* Parses "NAME=V NAME=V ..." naming every parameter of the kernel exactly once. */
clipcl_status tune_parse(int kernel, const char *text, size_t *v);
/* Writes "NAME=V NAME=V ..."; returns the length, or -1 when cap is too small. */
int tune_format(int kernel, const size_t *v, char *out, size_t cap);

/* ClipclTile's parameters (as tune_valid checks them) as the ops_tile they set. */
ops_tile tune_tile(const size_t *v);

/* CLBlast 1.5's generic parameters (its database's default rows) as "NAME=V ..." text. */
const char *tune_clblast_default(int kernel);

/* Fills out from the built-in table's rows for this device; returns the rows' label
 * ("default" when only the default row matches, with nothing set). */
const char *tune_builtin(const clipcl_device_info *d, tune_set *out);

/* Path of the device's tuning file (the folder is created when create is set). */
clipcl_status tune_file_path(const clipcl_device_info *d, int create, char *out, size_t cap);
/* Reads and validates a tuning file for device d; lim (may be NULL) adds the device checks.
 * CLIPCL_ERR_IO when it cannot be opened, CLIPCL_ERR_FORMAT when it is corrupt or for
 * another device. note (may be NULL) receives the file's first note line. */
clipcl_status tune_file_read(const char *path, const clipcl_device_info *d, const tune_limits *lim, tune_set *out,
                             char *note, size_t note_cap);
/* Writes every kernel that s has, plus note lines (text split at '\n'; may be NULL),
 * through a temporary file renamed into place. */
clipcl_status tune_file_write(const char *path, const clipcl_device_info *d, const tune_set *s, const char *notes);

/* CLBlastOverrideParameters for one kernel (single precision) on o's device; nothing for
 * TUNE_OWN, which the context applies itself (ctx.c). */
clipcl_status tune_override(ocl *o, int kernel, const size_t *v);
/* Applies the best known parameters for o's device (table, then file); never fails: what
 * cannot be applied is left at CLBlast's values. Called once per context creation. */
void tune_apply(ocl *o);
/* What tune_apply left on o's device: 0 = CLBlast's own parameters, 1 = the built-in
 * table, 2 = a tuning file; desc (may be NULL) gets a one-line description. */
int tune_status(const ocl *o, char *desc, size_t cap);
/* What tune_apply would apply on a device, without a context (for device listings): the
 * same 0/1/2 and description; the device-limit checks are left out. */
int tune_preview(const clipcl_device_info *d, char *desc, size_t cap);
/* The parameters tune_apply set on o's device (have[k] = 0 for kernels left alone). */
void tune_applied(const ocl *o, tune_set *out);

/* Search helpers: a random valid parameter set from CLBlast's tuner search spaces
 * (Xgemm: both kernel variants, GEMMK 0 and 1), and a random neighbour of `from`
 * (1 to 3 parameters changed). rng is a xorshift state, never 0. */
void tune_random(int kernel, uint64_t *rng, const tune_limits *lim, size_t *v);
void tune_mutate(int kernel, uint64_t *rng, const tune_limits *lim, const size_t *from, size_t *v);

#endif
