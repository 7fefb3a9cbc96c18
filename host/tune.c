/* tune.c — CLBlast GEMM parameters per device: the built-in table, the tuning files written
 * by `clipcl tune`, validation, and applying them with CLBlastOverrideParameters.
 *
 * Tuning file (text, one item per line, every byte before the last line checksummed):
 *   clipcl-tuning 1
 *   platform <platform name>
 *   device <device name>
 *   driver <driver version>
 *   kernel <Xgemm|XgemmDirect|GemmRoutine|Padtranspose|ClipclGemm> NAME=V ...   (each at most once)
 *   note <free text>                                            (any number)
 *   end <FNV-1a 64 of all bytes before this line, 16 hex digits>
 * The platform, device and driver lines must equal the device's, so a driver upgrade
 * silently drops back to the built-in table until the device is tuned again. */
#include "tune.h"

#include <clblast_c.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

/* ------------------------------------------------------------------ kernels and names */

static const char *const kernel_names[TUNE_NKERNELS] = {"Xgemm", "XgemmDirect", "GemmRoutine", "Padtranspose",
                                                         "ClipclGemm", "ClipclTile"};
/* CLBlast's own order (src/database/kernels/...): OverrideParameters needs every name. */
static const char *const xgemm_names[] = {"GEMMK", "KREG", "KWG",  "KWI", "MDIMA", "MDIMC", "MWG",  "NDIMB",
                                          "NDIMC", "NWG",  "SA",   "SB",  "STRM",  "STRN",  "VWM",  "VWN"};
static const char *const direct_names[] = {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD",
                                           "PADA", "PADB",   "VWMD",   "VWND",   "WGD"};
static const char *const routine_names[] = {"XGEMM_MIN_INDIRECT_SIZE"};
static const char *const padtra_names[] = {"PADTRA_PAD", "PADTRA_TILE", "PADTRA_WPT"};
static const char *const own_names[] = {"SMALL_TOKENS"};
static const char *const tile_names[] = {"MIN_TOKENS", "LOCAL", "NF", "TT", "RF", "RT", "KB"};
static const char *const *const param_names[TUNE_NKERNELS] = {xgemm_names, direct_names, routine_names, padtra_names,
                                                              own_names,   tile_names};
static const int n_params[TUNE_NKERNELS] = {16, 10, 1, 3, 1, 7};

enum { X_GEMMK, X_KREG, X_KWG, X_KWI, X_MDIMA, X_MDIMC, X_MWG, X_NDIMB, X_NDIMC, X_NWG, X_SA, X_SB, X_STRM, X_STRN,
       X_VWM, X_VWN };
enum { P_PAD, P_TILE, P_WPT };
enum { T_MIN, T_LOCAL, T_NF, T_TT, T_RF, T_RT, T_KB };
enum { D_KWID, D_MDIMAD, D_MDIMCD, D_NDIMBD, D_NDIMCD, D_PADA, D_PADB, D_VWMD, D_VWND, D_WGD };

#define MAX_TILE 1024u       /* no sane GEMM tile is bigger; bounds every product below */
#define MAX_MIN_INDIRECT 65536u /* its cube must fit in CLBlast's unsigned long long */

const char *tune_kernel_name(int kernel)
{
    return kernel >= 0 && kernel < TUNE_NKERNELS ? kernel_names[kernel] : "?";
}

int tune_kernel_index(const char *name)
{
    for (int k = 0; k < TUNE_NKERNELS; k++)
        if (name && !strcmp(name, kernel_names[k])) return k;
    return -1;
}

int tune_nparams(int kernel) { return kernel >= 0 && kernel < TUNE_NKERNELS ? n_params[kernel] : 0; }

long tune_get(const tune_set *s, int kernel, const char *name)
{
    if (kernel < 0 || kernel >= TUNE_NKERNELS || !s->have[kernel]) return -1;
    for (int i = 0; i < n_params[kernel]; i++)
        if (!strcmp(param_names[kernel][i], name)) return (long)s->v[kernel][i];
    return -1;
}

const char *tune_param_name(int kernel, int i)
{
    return i >= 0 && i < tune_nparams(kernel) ? param_names[kernel][i] : "?";
}

const char *tune_clblast_default(int kernel)
{
    /* the kDeviceTypeAll "default" rows of src/database/kernels in CLBlast 1.5.3 */
    switch (kernel) {
    case TUNE_XGEMM:
        return "GEMMK=0 KREG=1 KWG=32 KWI=2 MDIMA=8 MDIMC=8 MWG=32 NDIMB=16 NDIMC=16 NWG=32 SA=1 SB=1 STRM=0 STRN=0 "
               "VWM=4 VWN=2";
    case TUNE_XGEMM_DIRECT: return "KWID=2 MDIMAD=8 MDIMCD=8 NDIMBD=8 NDIMCD=8 PADA=1 PADB=1 VWMD=1 VWND=1 WGD=16";
    case TUNE_GEMM_ROUTINE: return "XGEMM_MIN_INDIRECT_SIZE=896";
    case TUNE_PADTRANSPOSE: return "PADTRA_PAD=0 PADTRA_TILE=8 PADTRA_WPT=4";
    case TUNE_OWN: return "SMALL_TOKENS=0"; /* not CLBlast's: what applies without a row or file */
    case TUNE_TILE: return "MIN_TOKENS=0 LOCAL=1 NF=128 TT=128 RF=8 RT=8 KB=16"; /* as ops_init's */
    }
    return "";
}

ops_tile tune_tile(const size_t *v)
{
    ops_tile t = {(int)v[T_MIN], (int)v[T_LOCAL], (int)v[T_NF], (int)v[T_TT], (int)v[T_RF], (int)v[T_RT], (int)v[T_KB]};
    return t;
}

/* ------------------------------------------------------------------ built-in table */

enum { ROW_ANY, ROW_CPU, ROW_GPU };

typedef struct tune_row {
    const char *label;
    const char *platform; /* substring of the platform name; NULL = any */
    const char *device;   /* substring of the vendor or the device name; NULL = any */
    int type;
    int min_vec;          /* native float vector width at least this (0 = any) */
    const char *kernel;   /* NULL: nothing to apply */
    const char *params;
} tune_row;

/* Each kernel's parameters come from the first row that matches the device and names that
 * kernel, so a narrower row above a broader one (pocl-avx512 above pocl-cpu) gives only what
 * it names and the broader row the rest; the first matching row's label names the result.
 * Keep the default last.
 *
 * PoCL on CPUs: CLBlast 1.5.3 knows no AMD or PoCL CPU and falls back to generic parameters
 * made for GPUs, which ran ViT-B/32's products at 3-12 GFLOP/s here. The row below is kernel 1
 * of Xgemm (GEMMK=1, 2-D register tiling, no local memory: PoCL turns barriers and local
 * memory into loops and copies) with 2x8 work-items on 32x32 tiles, floats 8 wide along
 * CLBlast's M (the weight's rows: ops_gemm_nt calls it column-major with operands swapped),
 * K unrolled by 2. Every product goes to this kernel, the 1-row projections included (the
 * tuner found XgemmDirect no faster at any of our sizes).
 * Found by `clipcl tune --arch ViT-B/32` plus hand searches around its best kernel-1
 * candidates (bench/NOTES.md, "CLBlast GEMM tuning"), PoCL 3.1 (pthread-haswell, LLVM 15) on
 * a 2-core AMD EPYC (Zen 1, AVX2) VM with CLBlast 1.5.3, 2026-11-27/28: 6.5x less GEMM time
 * per item than CLBlast's defaults over both towers at batches 1 and 8 (35-64 GFLOP/s per
 * product against 5-11). Every candidate was checked against a double-precision product;
 * tests/test_tune.c checks this row on odd shapes.
 *
 * Its Padtranspose set (the copies that transposed the activations into, and C out of, kernel
 * 1's layout while the blocks were row-major: 13 % of the image tower with CLBlast's generic
 * 8x8 work-groups of 4x4 items; now only the row-major products copy)
 * won among 11 sets timed per kernel with bench/cltrace.c: the copies 615 -> 392-531 ms per
 * four image batches of 8 (bench/NOTES.md, sixth session).
 *
 * NVIDIA H200 through NVIDIA's OpenCL (driver 580.159.04, 2026-11-28): CLBlast's own Xgemm
 * (32 TFLOP/s on ViT-B/32's batch-256 products; no tuned set beat it there), XgemmDirect
 * from `clipcl tune --in-process --batch 256` (200 s, 83 candidates), and the threshold
 * that tuner chose, which sends the batch-1 and batch-8 products (below 491^3 multiply-adds)
 * to the direct kernel. Measured in one session against CLBlast's own parameters: image
 * batch 1 4.35 -> 4.06 ms, batch 8 1066 -> 1263 images/s, batch 256 unchanged (2683 /
 * 2676); text batch 1 3.11 -> 2.88 ms, batch 8 1598 -> 1862 texts/s, batch 256 4715 / 4715
 * (bench/RESULTS.md). The H100 has the same chip; it gets the row once measured there. */
#define POCL "Portable Computing Language"
static const tune_row table[] = {
    /* AVX-512 CPUs (PoCL's native float vectors of 16), measured on a 2-core Intel Xeon (PoCL's
       skylake-avx512 target; 2.7 GHz, 320 GFLOP/s of FMAs) on 2026-11-28: clipcl's register
       GEMM with 6 features x 64 tokens in vectors of 16 per work-item (24 of the 32 zmm
       registers) ran ViT-B/32's block products at batch 8 at 175-193 GFLOP/s against 97 with
       the AVX2 set below and 48 with the Xgemm row (bench/NOTES.md, tenth session). The other
       kernels from the pocl-cpu rows. */
    {"pocl-avx512", POCL, NULL, ROW_CPU, 16, "ClipclTile", "MIN_TOKENS=1 LOCAL=0 NF=6 TT=64 RF=6 RT=16 KB=1"},
    {"pocl-cpu", POCL, NULL, ROW_CPU, 0, "Xgemm",
     "GEMMK=1 KREG=2 KWG=1 KWI=1 MDIMA=2 MDIMC=2 MWG=32 NDIMB=8 NDIMC=8 NWG=32 SA=0 SB=0 STRM=0 STRN=0 VWM=8 VWN=1"},
    /* clipcl's own kernel for few tokens (cl/gemm.cl) is a GPU design: local-memory tiles and
       barriers, which PoCL runs as loops over the work-items. ViT-B/32 batch 1 with it: 2.0 s
       per image against 0.19 s with the row's Xgemm (2026-11-28, bench/NOTES.md). */
    {"pocl-cpu", POCL, NULL, ROW_CPU, 0, "ClipclGemm", "SMALL_TOKENS=0"},
    /* its kernel for many tokens in the CPU form (registers only, 6 features x 16 tokens per
       work-item in vectors of 8) on every block product: 70-77 GFLOP/s against the row's
       Xgemm at 56-72 on the ViT-B/32 products at batch 1 and 8 (`clipcl tune`, 2026-11-28,
       bench/NOTES.md) */
    {"pocl-cpu", POCL, NULL, ROW_CPU, 0, "ClipclTile", "MIN_TOKENS=1 LOCAL=0 NF=6 TT=16 RF=6 RT=8 KB=1"},
    {"pocl-cpu", POCL, NULL, ROW_CPU, 0, "XgemmDirect",
     "KWID=2 MDIMAD=8 MDIMCD=8 NDIMBD=8 NDIMCD=8 PADA=1 PADB=1 VWMD=1 VWND=1 WGD=16"},
    {"pocl-cpu", POCL, NULL, ROW_CPU, 0, "GemmRoutine", "XGEMM_MIN_INDIRECT_SIZE=0"},
    {"pocl-cpu", POCL, NULL, ROW_CPU, 0, "Padtranspose", "PADTRA_PAD=1 PADTRA_TILE=16 PADTRA_WPT=1"},
    {"nvidia-h200", "NVIDIA CUDA", "H200", ROW_GPU, 0, "XgemmDirect",
     "KWID=4 MDIMAD=16 MDIMCD=8 NDIMBD=8 NDIMCD=8 PADA=1 PADB=1 VWMD=1 VWND=1 WGD=16"},
    {"nvidia-h200", "NVIDIA CUDA", "H200", ROW_GPU, 0, "GemmRoutine", "XGEMM_MIN_INDIRECT_SIZE=491"},
    /* every other device: CLBlast's own database */
    {"default", NULL, NULL, ROW_ANY, 0, NULL, NULL},
};
#undef POCL

static int row_matches(const tune_row *r, const clipcl_device_info *d)
{
    if (r->type == ROW_CPU && !d->is_cpu) return 0;
    if (r->type == ROW_GPU && !d->is_gpu) return 0;
    if (d->vector_width < r->min_vec) return 0;
    if (r->platform && !strstr(d->platform, r->platform)) return 0;
    if (r->device && !strstr(d->vendor, r->device) && !strstr(d->name, r->device)) return 0;
    return 1;
}

const char *tune_builtin(const clipcl_device_info *d, tune_set *out)
{
    memset(out, 0, sizeof *out);
    const char *label = NULL;
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        const tune_row *r = &table[i];
        if (!row_matches(r, d)) continue;
        if (!label) label = r->label;
        int k = tune_kernel_index(r->kernel);
        if (k >= 0 && !out->have[k] && tune_parse(k, r->params, out->v[k]) == CLIPCL_OK) out->have[k] = 1;
    }
    err_clear();
    return label ? label : "default";
}

/* ------------------------------------------------------------------ validation */

static int pow2_upto(size_t v, size_t max) { return v >= 1 && v <= max && !(v & (v - 1)); }

#define RULE(cond, ...)                                                                                          \
    do {                                                                                                       \
        if (!(cond)) {                                                                                         \
            if (why && cap) snprintf(why, cap, __VA_ARGS__);                                                   \
            return -1;                                                                                         \
        }                                                                                                      \
    } while (0)

static int valid_xgemm(const size_t *v, const tune_limits *lim, char *why, size_t cap)
{
    for (int i = 0; i < 16; i++) RULE(v[i] <= MAX_TILE, "%s=%zu is out of range", xgemm_names[i], v[i]);
    RULE(v[X_GEMMK] <= 1, "GEMMK must be 0 or 1");
    RULE(v[X_SA] <= 1 && v[X_SB] <= 1 && v[X_STRM] <= 1 && v[X_STRN] <= 1, "SA, SB, STRM and STRN must be 0 or 1");
    RULE(pow2_upto(v[X_VWM], 16) && pow2_upto(v[X_VWN], 16), "VWM and VWN must be 1, 2, 4, 8 or 16");
    for (int i = X_KREG; i <= X_NWG; i++) RULE(v[i] >= 1, "%s must be positive", xgemm_names[i]);
    RULE(v[X_KWG] % v[X_KWI] == 0, "KWG must be a multiple of KWI");
    RULE(v[X_MWG] % (v[X_MDIMC] * v[X_VWM]) == 0, "MWG must be a multiple of MDIMC*VWM");
    RULE(v[X_NWG] % (v[X_NDIMC] * v[X_VWN]) == 0, "NWG must be a multiple of NDIMC*VWN");
    RULE(v[X_MWG] % (v[X_MDIMA] * v[X_VWM]) == 0, "MWG must be a multiple of MDIMA*VWM");
    RULE(v[X_NWG] % (v[X_NDIMB] * v[X_VWN]) == 0, "NWG must be a multiple of NDIMB*VWN");
    const size_t threads = v[X_MDIMC] * v[X_NDIMC];
    if (v[X_GEMMK] == 0) {
        RULE(v[X_KREG] == 1, "KREG must be 1 with GEMMK=0");
        RULE(threads % v[X_MDIMA] == 0 && threads % v[X_NDIMB] == 0,
             "MDIMC*NDIMC must be a multiple of MDIMA and of NDIMB");
        RULE(v[X_KWG] % (threads / v[X_MDIMA]) == 0 && v[X_KWG] % (threads / v[X_NDIMB]) == 0,
             "KWG must be a multiple of MDIMC*NDIMC/MDIMA and of MDIMC*NDIMC/NDIMB");
    } else {
        /* kernel 1 (2-D register tiling) as CLBlast's tuner explores it */
        RULE(v[X_KWG] == 1 && v[X_KWI] == 1, "GEMMK=1 needs KWG=1 and KWI=1");
        RULE(!v[X_SA] && !v[X_SB] && !v[X_STRM] && !v[X_STRN], "GEMMK=1 needs SA=SB=STRM=STRN=0");
        RULE(v[X_MDIMA] == v[X_MDIMC] && v[X_NDIMB] == v[X_NDIMC], "GEMMK=1 needs MDIMA=MDIMC and NDIMB=NDIMC");
        RULE(v[X_KREG] % v[X_VWN] == 0, "GEMMK=1 needs KREG to be a multiple of VWN");
        /* CLBlast before 1.7 computes wrong results (and on PoCL writes out of bounds) with
         * kernel 1 when MWG != NWG: upstream commit 962f929 "Fix GEMMK=1 kernel (#543)" */
        RULE(v[X_MWG] == v[X_NWG], "GEMMK=1 needs MWG=NWG (CLBlast bug #543 before 1.7)");
    }
    if (lim) {
        RULE(threads <= lim->max_wg && v[X_MDIMC] <= lim->max_item[0] && v[X_NDIMC] <= lim->max_item[1],
             "a %zux%zu work-group is too big for the device", v[X_MDIMC], v[X_NDIMC]);
        uint64_t local = 4ull * (v[X_SA] * v[X_KWG] * v[X_MWG] + v[X_SB] * v[X_KWG] * v[X_NWG]);
        RULE(local <= lim->local_mem, "needs %llu bytes of local memory", (unsigned long long)local);
    }
    return 0;
}

static int valid_direct(const size_t *v, const tune_limits *lim, char *why, size_t cap)
{
    for (int i = 0; i < 10; i++) RULE(v[i] <= MAX_TILE, "%s=%zu is out of range", direct_names[i], v[i]);
    RULE(v[D_PADA] <= 1 && v[D_PADB] <= 1, "PADA and PADB must be 0 or 1");
    RULE(pow2_upto(v[D_VWMD], 16) && pow2_upto(v[D_VWND], 16), "VWMD and VWND must be 1, 2, 4, 8 or 16");
    RULE(v[D_KWID] && v[D_MDIMAD] && v[D_MDIMCD] && v[D_NDIMBD] && v[D_NDIMCD] && v[D_WGD],
         "sizes must be positive");
    const size_t wgd = v[D_WGD], threads = v[D_MDIMCD] * v[D_NDIMCD];
    RULE(wgd % v[D_KWID] == 0, "WGD must be a multiple of KWID");
    RULE(wgd % (v[D_MDIMCD] * v[D_VWMD]) == 0 && wgd % (v[D_MDIMAD] * v[D_VWMD]) == 0,
         "WGD must be a multiple of MDIMCD*VWMD and MDIMAD*VWMD");
    RULE(wgd % (v[D_NDIMCD] * v[D_VWND]) == 0 && wgd % (v[D_NDIMBD] * v[D_VWND]) == 0,
         "WGD must be a multiple of NDIMCD*VWND and NDIMBD*VWND");
    RULE(threads % v[D_MDIMAD] == 0 && threads % v[D_NDIMBD] == 0,
         "MDIMCD*NDIMCD must be a multiple of MDIMAD and of NDIMBD");
    RULE(wgd % (threads / v[D_MDIMAD]) == 0 && wgd % (threads / v[D_NDIMBD]) == 0,
         "WGD must be a multiple of MDIMCD*NDIMCD/MDIMAD and of MDIMCD*NDIMCD/NDIMBD");
    if (lim) {
        RULE(threads <= lim->max_wg && v[D_MDIMCD] <= lim->max_item[0] && v[D_NDIMCD] <= lim->max_item[1],
             "a %zux%zu work-group is too big for the device", v[D_MDIMCD], v[D_NDIMCD]);
        uint64_t local = 4ull * (wgd * (wgd + v[D_PADA]) + wgd * (wgd + v[D_PADB]));
        RULE(local <= lim->local_mem, "needs %llu bytes of local memory", (unsigned long long)local);
    }
    return 0;
}

static int valid_padtranspose(const size_t *v, const tune_limits *lim, char *why, size_t cap)
{
    RULE(v[P_PAD] <= 1, "PADTRA_PAD must be 0 or 1");
    RULE(v[P_TILE] >= 1 && v[P_TILE] <= 64, "PADTRA_TILE must be 1..64");
    RULE(v[P_WPT] >= 1 && v[P_WPT] <= 16, "PADTRA_WPT must be 1..16");
    if (lim) {
        RULE(v[P_TILE] * v[P_TILE] <= lim->max_wg && v[P_TILE] <= lim->max_item[0] && v[P_TILE] <= lim->max_item[1],
             "a %zux%zu work-group is too big for the device", v[P_TILE], v[P_TILE]);
        const uint64_t side = (uint64_t)v[P_TILE] * v[P_WPT], local = 4ull * side * (side + v[P_PAD]);
        RULE(local <= lim->local_mem, "needs %llu bytes of local memory", (unsigned long long)local);
    }
    return 0;
}

/* cl/gemm.cl's gemm_fm_tile (LOCAL=1): register tiles of groups of 4, a work-group that
 * fits, local tiles that its items fill evenly; gemm_fm_reg (LOCAL=0): up to 16 features
 * by 8 to 64 tokens per work-item in vectors of RT = 8 or 16 tokens (at most 32 of them:
 * a CPU's register file), written with RF = NF and KB = 1 */
static int valid_tile(const size_t *v, const tune_limits *lim, char *why, size_t cap)
{
    RULE(v[T_MIN] <= TUNE_TILE_MAX, "MIN_TOKENS must be at most %u", TUNE_TILE_MAX);
    RULE(v[T_LOCAL] <= 1, "LOCAL must be 0 or 1");
    if (!v[T_LOCAL]) {
        RULE(v[T_NF] >= 1 && v[T_NF] <= 16, "NF must be 1..16 with LOCAL=0");
        RULE(v[T_RT] == 8 || v[T_RT] == 16, "RT (tokens per vector) must be 8 or 16 with LOCAL=0");
        RULE(v[T_TT] >= v[T_RT] && v[T_TT] <= 64 && v[T_TT] % v[T_RT] == 0,
             "TT must be a multiple of RT up to 64 with LOCAL=0");
        RULE(v[T_NF] * (v[T_TT] / v[T_RT]) <= 32, "LOCAL=0 keeps at most 32 vectors (NF x TT / RT)");
        RULE(v[T_RF] == v[T_NF] && v[T_KB] == 1, "LOCAL=0 takes RF=NF and KB=1");
        return 0;
    }
    RULE(pow2_upto(v[T_NF], 256) && pow2_upto(v[T_TT], 256) && v[T_NF] >= 4 && v[T_TT] >= 4,
         "NF and TT must be 4, 8, ..., 256");
    RULE((v[T_RF] == 4 || v[T_RF] == 8) && (v[T_RT] == 4 || v[T_RT] == 8), "RF and RT must be 4 or 8");
    RULE(v[T_RF] <= v[T_NF] && v[T_RT] <= v[T_TT], "RF and RT must be at most NF and TT");
    RULE(pow2_upto(v[T_KB], 64), "KB must be 1, 2, 4, ..., 64");
    const size_t tx = v[T_TT] / v[T_RT], fy = v[T_NF] / v[T_RF], wg = tx * fy;
    RULE(wg <= 1024, "a %zux%zu work-group is too big", tx, fy);
    RULE(v[T_KB] * v[T_TT] % wg == 0 && v[T_KB] * v[T_NF] % wg == 0,
         "KB*TT and KB*NF must be multiples of the work-group's %zu items", wg);
    if (lim) {
        RULE(wg <= lim->max_wg && tx <= lim->max_item[0] && fy <= lim->max_item[1],
             "a %zux%zu work-group is too big for the device", tx, fy);
        const uint64_t local = 4ull * v[T_KB] * (v[T_NF] + v[T_TT]);
        RULE(local <= lim->local_mem, "needs %llu bytes of local memory", (unsigned long long)local);
    }
    return 0;
}

int tune_valid(int kernel, const size_t *v, const tune_limits *lim, char *why, size_t cap)
{
    switch (kernel) {
    case TUNE_XGEMM: return valid_xgemm(v, lim, why, cap);
    case TUNE_XGEMM_DIRECT: return valid_direct(v, lim, why, cap);
    case TUNE_GEMM_ROUTINE:
        RULE(v[0] <= MAX_MIN_INDIRECT, "XGEMM_MIN_INDIRECT_SIZE must be at most %u", MAX_MIN_INDIRECT);
        return 0;
    case TUNE_PADTRANSPOSE: return valid_padtranspose(v, lim, why, cap);
    case TUNE_OWN:
        RULE(v[0] <= TUNE_SMALL_MAX, "SMALL_TOKENS must be at most %u", TUNE_SMALL_MAX);
        return 0;
    case TUNE_TILE: return valid_tile(v, lim, why, cap);
    }
    RULE(0, "unknown kernel");
}

clipcl_status tune_limits_query(const ocl *o, tune_limits *out)
{
    size_t items[3] = {0, 0, 0}, wg = 0;
    cl_ulong local = 0;
    cl_uint dims = 0;
    cl_int rc = clGetDeviceInfo(o->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    if (rc == CL_SUCCESS) rc = clGetDeviceInfo(o->device, CL_DEVICE_MAX_WORK_ITEM_DIMENSIONS, sizeof dims, &dims, NULL);
    if (rc == CL_SUCCESS && dims >= 2) {
        size_t all[16] = {0};
        if (dims > 16) dims = 16;
        rc = clGetDeviceInfo(o->device, CL_DEVICE_MAX_WORK_ITEM_SIZES, dims * sizeof(size_t), all, NULL);
        memcpy(items, all, (dims < 3 ? dims : 3) * sizeof(size_t));
    }
    if (rc == CL_SUCCESS) rc = clGetDeviceInfo(o->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local, &local, NULL);
    if (rc != CL_SUCCESS) return ocl_fail(rc, "clGetDeviceInfo (work-group and local memory limits)");
    if (dims < 2) return err_set(CLIPCL_ERR_DEVICE, "the device has fewer than 2 work-item dimensions");
    out->max_wg = wg;
    memcpy(out->max_item, items, sizeof items);
    out->local_mem = local;
    return CLIPCL_OK;
}

/* ------------------------------------------------------------------ text form */

clipcl_status tune_parse(int kernel, const char *text, size_t *v)
{
    const int n = tune_nparams(kernel);
    if (!n) return err_set(CLIPCL_ERR_INVALID_ARG, "unknown CLBlast kernel %d", kernel);
    int seen[TUNE_MAX_PARAMS] = {0};
    const char *p = text;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        const char *eq = p;
        while (*eq && *eq != '=' && *eq != ' ' && *eq != '\t') eq++;
        if (*eq != '=')
            return err_set(CLIPCL_ERR_FORMAT, "%s parameters: expected NAME=VALUE at '%.40s'", kernel_names[kernel], p);
        int idx = -1;
        for (int i = 0; i < n; i++)
            if (strlen(param_names[kernel][i]) == (size_t)(eq - p) && !memcmp(param_names[kernel][i], p, eq - p))
                idx = i;
        if (idx < 0)
            return err_set(CLIPCL_ERR_FORMAT, "%s parameters: unknown name '%.*s'", kernel_names[kernel],
                           (int)(eq - p > 40 ? 40 : eq - p), p);
        if (seen[idx]) return err_set(CLIPCL_ERR_FORMAT, "%s parameters: %s given twice", kernel_names[kernel], param_names[kernel][idx]);
        const char *d = eq + 1;
        size_t val = 0;
        int digits = 0;
        for (; *d >= '0' && *d <= '9'; d++, digits++) {
            if (digits >= 9) break;
            val = val * 10 + (size_t)(*d - '0');
        }
        if (!digits || (*d && *d != ' ' && *d != '\t'))
            return err_set(CLIPCL_ERR_FORMAT, "%s parameters: %s needs a number of at most 9 digits",
                           kernel_names[kernel], param_names[kernel][idx]);
        v[idx] = val;
        seen[idx] = 1;
        p = d;
    }
    for (int i = 0; i < n; i++)
        if (!seen[i]) return err_set(CLIPCL_ERR_FORMAT, "%s parameters: %s is missing", kernel_names[kernel], param_names[kernel][i]);
    return CLIPCL_OK;
}

int tune_format(int kernel, const size_t *v, char *out, size_t cap)
{
    size_t len = 0;
    if (cap) out[0] = '\0';
    for (int i = 0; i < tune_nparams(kernel); i++) {
        int w = snprintf(out + len, cap > len ? cap - len : 0, "%s%s=%zu", i ? " " : "", param_names[kernel][i], v[i]);
        if (w < 0 || len + (size_t)w >= cap) return -1;
        len += (size_t)w;
    }
    return (int)len;
}

/* ------------------------------------------------------------------ files */

static uint64_t fnv(const void *data, size_t n, uint64_t h)
{
    const unsigned char *s = data;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001B3ull;
    return h;
}
#define FNV0 0xCBF29CE484222325ull

static int mkdirs(char *path)
{
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            int r = mkdir(path, 0755);
            *p = '/';
            if (r && errno != EEXIST) return -1;
        }
    return mkdir(path, 0755) && errno != EEXIST ? -1 : 0;
}

clipcl_status tune_file_path(const clipcl_device_info *d, int create, char *out, size_t cap)
{
    const char *c = getenv("CLIPCL_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char dir[4096];
    int n;
    if (c && *c) n = snprintf(dir, sizeof dir, "%s/tuning", c);
    else if (xdg && xdg[0] == '/') n = snprintf(dir, sizeof dir, "%s/clipcl/tuning", xdg);
    else if (home && *home) n = snprintf(dir, sizeof dir, "%s/.cache/clipcl/tuning", home);
    else return err_set(CLIPCL_ERR_IO, "no cache folder for tuning files: set CLIPCL_CACHE_DIR, XDG_CACHE_HOME or HOME");
    if (n < 0 || (size_t)n >= sizeof dir) return err_set(CLIPCL_ERR_IO, "the tuning folder path is too long");
    if (create && mkdirs(dir)) return err_set(CLIPCL_ERR_IO, "%s: cannot create: %s", dir, strerror(errno));
    /* readable name + a hash of everything the parameters depend on */
    char stem[49];
    size_t j = 0;
    for (const char *s = d->name; *s && j < sizeof stem - 1; s++) {
        char ch = *s;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-';
        stem[j++] = ok ? ch : '_';
    }
    stem[j] = '\0';
    uint64_t h = fnv(d->platform, strlen(d->platform) + 1, FNV0);
    h = fnv(d->name, strlen(d->name) + 1, h);
    h = fnv(d->driver, strlen(d->driver) + 1, h);
    n = snprintf(out, cap, "%s/%s-%016llx.txt", dir, j ? stem : "device", (unsigned long long)h);
    if (n < 0 || (size_t)n >= cap) return err_set(CLIPCL_ERR_IO, "the tuning file path is too long");
    return CLIPCL_OK;
}

/* Next line of buf[*pos..len) without its '\n'; NULL at the end or for an unterminated line. */
static char *next_line(char *buf, size_t len, size_t *pos)
{
    if (*pos >= len) return NULL;
    char *start = buf + *pos, *nl = memchr(start, '\n', len - *pos);
    if (!nl) return NULL;
    *nl = '\0';
    *pos = (size_t)(nl - buf) + 1;
    return start;
}

static const char *after(const char *line, const char *key)
{
    size_t n = strlen(key);
    return !strncmp(line, key, n) && line[n] == ' ' ? line + n + 1 : NULL;
}

clipcl_status tune_file_read(const char *path, const clipcl_device_info *d, const tune_limits *lim, tune_set *out,
                             char *note, size_t note_cap)
{
    memset(out, 0, sizeof *out);
    if (note && note_cap) note[0] = '\0';
    clipcl_status st = CLIPCL_OK;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(CLIPCL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (!(buf = malloc(TUNE_FILE_MAX + 1))) {
        st = err_set(CLIPCL_ERR_NOMEM, "out of memory");
        goto fail;
    }
    size_t len = fread(buf, 1, TUNE_FILE_MAX + 1, f);
    if (ferror(f)) {
        st = err_set(CLIPCL_ERR_IO, "%s: read failed", path);
        goto fail;
    }
    if (len > TUNE_FILE_MAX) {
        st = err_set(CLIPCL_ERR_FORMAT, "%s: larger than %u bytes", path, TUNE_FILE_MAX);
        goto fail;
    }
    if (memchr(buf, '\0', len)) {
        st = err_set(CLIPCL_ERR_FORMAT, "%s: contains NUL bytes", path);
        goto fail;
    }
    /* the checksum line is the last one */
    if (len < 2 || buf[len - 1] != '\n') {
        st = err_set(CLIPCL_ERR_FORMAT, "%s: truncated (no final newline)", path);
        goto fail;
    }
    size_t last = len - 1;
    while (last > 0 && buf[last - 1] != '\n') last--;
    buf[len - 1] = '\0';
    unsigned long long want = 0;
    char tail = 0;
    if (strncmp(buf + last, "end ", 4) || strlen(buf + last) != 20 || sscanf(buf + last + 4, "%16llx%c", &want, &tail) != 1) {
        st = err_set(CLIPCL_ERR_FORMAT, "%s: no 'end <checksum>' line at the end", path);
        goto fail;
    }
    if (fnv(buf, last, FNV0) != (uint64_t)want) {
        st = err_set(CLIPCL_ERR_FORMAT, "%s: checksum mismatch (corrupt or edited)", path);
        goto fail;
    }
    size_t pos = 0, lineno = 0;
    char *line;
    int have_head[4] = {0};
    while (pos < last && (line = next_line(buf, last, &pos))) {
        const char *rest;
        lineno++;
        if (lineno == 1) {
            if (strcmp(line, "clipcl-tuning 1")) {
                st = err_set(CLIPCL_ERR_FORMAT, "%s: not a clipcl tuning file (version 1)", path);
                goto fail;
            }
            have_head[0] = 1;
        } else if ((rest = after(line, "platform")) || (rest = after(line, "device")) || (rest = after(line, "driver"))) {
            int which = line[0] == 'p' ? 1 : line[1] == 'e' ? 2 : 3;
            const char *mine = which == 1 ? d->platform : which == 2 ? d->name : d->driver;
            if (have_head[which] || strcmp(rest, mine)) {
                st = err_set(CLIPCL_ERR_FORMAT, "%s: line %zu: for another device or driver ('%.60s')", path, lineno, rest);
                goto fail;
            }
            have_head[which] = 1;
        } else if ((rest = after(line, "kernel"))) {
            const char *sp = strchr(rest, ' ');
            char name[32];
            size_t nl = sp ? (size_t)(sp - rest) : strlen(rest);
            int k = -1;
            if (nl < sizeof name) {
                memcpy(name, rest, nl);
                name[nl] = '\0';
                k = tune_kernel_index(name);
            }
            char why[160];
            if (k < 0 || out->have[k]) {
                st = err_set(CLIPCL_ERR_FORMAT, "%s: line %zu: unknown or repeated kernel", path, lineno);
                goto fail;
            }
            if ((st = tune_parse(k, sp ? sp + 1 : "", out->v[k]))) {
                st = err_prefix(st, "%s: line %zu: ", path, lineno);
                goto fail;
            }
            if (tune_valid(k, out->v[k], lim, why, sizeof why)) {
                st = err_set(CLIPCL_ERR_FORMAT, "%s: line %zu: %s: %s", path, lineno, name, why);
                goto fail;
            }
            out->have[k] = 1;
        } else if ((rest = after(line, "note"))) {
            if (note && note_cap && !note[0]) snprintf(note, note_cap, "%s", rest);
        } else {
            st = err_set(CLIPCL_ERR_FORMAT, "%s: line %zu: unknown line '%.40s'", path, lineno, line);
            goto fail;
        }
    }
    if (!have_head[0] || !have_head[1] || !have_head[2] || !have_head[3]) {
        st = err_set(CLIPCL_ERR_FORMAT, "%s: missing the header or the platform, device or driver line", path);
        goto fail;
    }
    fclose(f);
    free(buf);
    return CLIPCL_OK;
fail:
    memset(out, 0, sizeof *out);
    fclose(f);
    free(buf);
    return st;
}

static int one_line(const char *s) { return !strchr(s, '\n') && !strchr(s, '\r'); }

clipcl_status tune_file_write(const char *path, const clipcl_device_info *d, const tune_set *s, const char *notes)
{
    if (!one_line(d->platform) || !one_line(d->name) || !one_line(d->driver))
        return err_set(CLIPCL_ERR_UNSUPPORTED, "device strings with line breaks cannot be stored in a tuning file");
    size_t cap = 16384, len = 0;
    char *buf = malloc(cap), tmp[4300];
    FILE *f = NULL;
    clipcl_status st = CLIPCL_OK;
    if (!buf) return err_set(CLIPCL_ERR_NOMEM, "out of memory");
#define PUT(...)                                                                                                   \
    do {                                                                                                           \
        int w_ = snprintf(buf + len, cap - len, __VA_ARGS__);                                                      \
        if (w_ < 0 || (size_t)w_ >= cap - len) {                                                                   \
            st = err_set(CLIPCL_ERR_LIMIT, "tuning file contents too long");                                       \
            goto fail;                                                                                             \
        }                                                                                                          \
        len += (size_t)w_;                                                                                         \
    } while (0)
    PUT("clipcl-tuning 1\nplatform %s\ndevice %s\ndriver %s\n", d->platform, d->name, d->driver);
    for (int k = 0; k < TUNE_NKERNELS; k++) {
        if (!s->have[k]) continue;
        char p[512], why[160];
        if (tune_valid(k, s->v[k], NULL, why, sizeof why)) {
            st = err_set(CLIPCL_ERR_INVALID_ARG, "%s parameters not stored: %s", kernel_names[k], why);
            goto fail;
        }
        if (tune_format(k, s->v[k], p, sizeof p) < 0) {
            st = err_set(CLIPCL_ERR_LIMIT, "%s parameters too long", kernel_names[k]);
            goto fail;
        }
        PUT("kernel %s %s\n", kernel_names[k], p);
    }
    for (const char *n = notes; n && *n;) {
        const char *e = strchr(n, '\n');
        size_t l = e ? (size_t)(e - n) : strlen(n);
        PUT("note ");
        for (size_t i = 0; i < l; i++) PUT("%c", (unsigned char)n[i] < 32 ? ' ' : n[i]);
        PUT("\n");
        n += l + (e ? 1 : 0);
    }
    PUT("end %016llx\n", (unsigned long long)fnv(buf, len, FNV0));
#undef PUT
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid()) >= sizeof tmp) {
        st = err_set(CLIPCL_ERR_IO, "%s: path too long", path);
        goto fail;
    }
    if (!(f = fopen(tmp, "wb"))) {
        st = err_set(CLIPCL_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto fail;
    }
    int ok = fwrite(buf, 1, len, f) == len;
    if (fclose(f)) ok = 0;
    f = NULL;
    if (!ok || rename(tmp, path)) {
        st = err_set(CLIPCL_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
        goto fail;
    }
fail:
    free(buf);
    return st;
}

/* ------------------------------------------------------------------ applying */

clipcl_status tune_override(ocl *o, int kernel, const size_t *v)
{
    const int n = tune_nparams(kernel);
    if (!n) return err_set(CLIPCL_ERR_INVALID_ARG, "unknown CLBlast kernel %d", kernel);
    if (kernel == TUNE_OWN || kernel == TUNE_TILE) return CLIPCL_OK;
    CLBlastStatusCode s = CLBlastOverrideParameters(o->device, kernel_names[kernel], CLBlastPrecisionSingle, (size_t)n,
                                                    (const char **)param_names[kernel], v);
    if (s != CLBlastSuccess)
        return err_set(CLIPCL_ERR_BLAS, "CLBlastOverrideParameters(%s) failed (%d)", kernel_names[kernel], (int)s);
    return CLIPCL_OK;
}

/* CLBlast keeps overrides per device for the whole process, so what was applied is
 * remembered per device too, for tune_status. */
#define REG_MAX 32
static struct {
    cl_device_id dev;
    int status;
    char desc[600];
    tune_set applied;
} reg[REG_MAX];
static int n_reg;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;

static void reg_put(cl_device_id dev, int status, const char *desc, const tune_set *s)
{
    pthread_mutex_lock(&reg_lock);
    int i = 0;
    while (i < n_reg && reg[i].dev != dev) i++;
    if (i == n_reg && n_reg < REG_MAX) n_reg++;
    if (i < n_reg) {
        reg[i].dev = dev;
        reg[i].status = status;
        snprintf(reg[i].desc, sizeof reg[i].desc, "%s", desc);
        reg[i].applied = *s;
    }
    pthread_mutex_unlock(&reg_lock);
}

void tune_apply(ocl *o)
{
    tune_set s, f;
    int from[TUNE_NKERNELS] = {0}; /* 1 table, 2 file */
    char path[4200] = "", desc[600];
    const char *label = "default";
    const char *env = getenv("CLIPCL_TUNING");
    tune_limits lim;
    memset(&s, 0, sizeof s);
    if (env && !strcmp(env, "0")) {
        reg_put(o->device, 0, "CLBlast defaults (CLIPCL_TUNING=0)", &s);
        err_clear();
        return;
    }
    if (tune_limits_query(o, &lim)) {
        reg_put(o->device, 0, "CLBlast defaults (device limits unknown)", &s);
        err_clear();
        return;
    }
    label = tune_builtin(&o->info, &s);
    for (int k = 0; k < TUNE_NKERNELS; k++) {
        if (s.have[k] && tune_valid(k, s.v[k], &lim, NULL, 0)) s.have[k] = 0;
        from[k] = s.have[k];
    }
    if (!tune_file_path(&o->info, 0, path, sizeof path) && !tune_file_read(path, &o->info, &lim, &f, NULL, 0)) {
        for (int k = 0; k < TUNE_NKERNELS; k++)
            if (f.have[k]) {
                memcpy(s.v[k], f.v[k], sizeof s.v[k]);
                s.have[k] = 1;
                from[k] = 2;
            }
    }
    int status = 0;
    for (int k = 0; k < TUNE_NKERNELS; k++) {
        if (s.have[k] && tune_override(o, k, s.v[k])) s.have[k] = from[k] = 0;
        if (from[k] > status) status = from[k];
    }
    if (status == 2) snprintf(desc, sizeof desc, "tuned by clipcl tune (%s)", path);
    else if (status == 1) snprintf(desc, sizeof desc, "built-in parameters (%s)", label);
    else snprintf(desc, sizeof desc, "CLBlast defaults");
    reg_put(o->device, status, desc, &s);
    err_clear();
}

int tune_preview(const clipcl_device_info *d, char *desc, size_t cap)
{
    const char *env = getenv("CLIPCL_TUNING");
    tune_set s;
    char path[4200];
    int status = 0;
    if (env && !strcmp(env, "0")) {
        if (desc && cap) snprintf(desc, cap, "CLBlast defaults (CLIPCL_TUNING=0)");
        err_clear();
        return 0;
    }
    const char *label = tune_builtin(d, &s);
    for (int k = 0; k < TUNE_NKERNELS; k++)
        if (s.have[k]) status = 1;
    if (!tune_file_path(d, 0, path, sizeof path) && !tune_file_read(path, d, NULL, &s, NULL, 0)) status = 2;
    if (desc && cap) {
        if (status == 2) snprintf(desc, cap, "tuned by clipcl tune (%s)", path);
        else if (status == 1) snprintf(desc, cap, "built-in parameters (%s)", label);
        else snprintf(desc, cap, "CLBlast defaults");
    }
    err_clear();
    return status;
}

int tune_status(const ocl *o, char *desc, size_t cap)
{
    int status = 0;
    const char *d = "CLBlast defaults";
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < n_reg; i++)
        if (reg[i].dev == o->device) {
            status = reg[i].status;
            d = reg[i].desc;
        }
    if (desc && cap) snprintf(desc, cap, "%s", d);
    pthread_mutex_unlock(&reg_lock);
    return status;
}

void tune_applied(const ocl *o, tune_set *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < n_reg; i++)
        if (reg[i].dev == o->device) *out = reg[i].applied;
    pthread_mutex_unlock(&reg_lock);
}

/* ------------------------------------------------------------------ search spaces */

typedef struct pspace {
    int n;
    size_t vals[6];
} pspace;

/* CLBlast's tuner spaces (src/tuning/kernels/xgemm.hpp, variations 2 and 12; xgemm_direct.hpp
 * variation 2), widened a little towards the small work-groups CPUs like. */
static const pspace space_k0[16] = {
    {1, {0}},              {1, {1}},              {3, {16, 32, 64}},      {4, {1, 2, 4, 8}},
    {4, {4, 8, 16, 32}},   {4, {4, 8, 16, 32}},   {4, {16, 32, 64, 128}}, {4, {4, 8, 16, 32}},
    {4, {4, 8, 16, 32}},   {4, {16, 32, 64, 128}}, {2, {0, 1}},           {2, {0, 1}},
    {2, {0, 1}},           {2, {0, 1}},           {4, {1, 2, 4, 8}},      {4, {1, 2, 4, 8}},
};
static const pspace space_k1[16] = {
    {1, {1}},                {5, {1, 2, 4, 8, 16}},      {1, {1}},          {1, {1}},
    {5, {2, 4, 8, 16, 32}},  {5, {2, 4, 8, 16, 32}},     {5, {8, 16, 32, 64, 128}}, {5, {2, 4, 8, 16, 32}},
    {5, {2, 4, 8, 16, 32}},  {5, {8, 16, 32, 64, 128}},  {1, {0}},          {1, {0}},
    {1, {0}},                {1, {0}},                   {4, {1, 2, 4, 8}}, {4, {1, 2, 4, 8}},
};
static const pspace space_direct[10] = {
    {5, {1, 2, 4, 8, 16}}, {4, {4, 8, 16, 32}}, {4, {4, 8, 16, 32}}, {4, {4, 8, 16, 32}}, {4, {4, 8, 16, 32}},
    {2, {0, 1}},           {2, {0, 1}},         {4, {1, 2, 4, 8}},   {4, {1, 2, 4, 8}},   {5, {8, 16, 32, 64, 128}},
};

/* CLBlast's tuner space for the transposing copy (tuning/kernels/transpose_pad.hpp), with
 * the 1- to 4-wide work-groups added: PoCL runs a work-group as loops over its items. */
static const pspace space_padtra[3] = {{2, {0, 1}}, {6, {1, 2, 4, 8, 16, 32}}, {5, {1, 2, 4, 8, 16}}};

/* clipcl's tiled kernel, local-memory form (MIN_TOKENS 1: on every product it may take) */
static const pspace space_tile[7] = {{1, {1}},    {1, {1}},    {3, {32, 64, 128}}, {3, {32, 64, 128}},
                                     {2, {4, 8}}, {2, {4, 8}}, {3, {8, 16, 32}}};

static uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static const pspace *space_of(int kernel, const size_t *v)
{
    if (kernel == TUNE_XGEMM_DIRECT) return space_direct;
    if (kernel == TUNE_PADTRANSPOSE) return space_padtra;
    if (kernel == TUNE_TILE) return space_tile;
    return v && v[X_GEMMK] == 1 ? space_k1 : space_k0;
}

/* Kernel 1 ties MDIMA/NDIMB to MDIMC/NDIMC and NWG to MWG; keep sampled sets on that line. */
static void tie(int kernel, size_t *v)
{
    if (kernel == TUNE_XGEMM && v[X_GEMMK] == 1) {
        v[X_MDIMA] = v[X_MDIMC];
        v[X_NDIMB] = v[X_NDIMC];
        v[X_NWG] = v[X_MWG];
    }
}

void tune_random(int kernel, uint64_t *rng, const tune_limits *lim, size_t *v)
{
    const int n = tune_nparams(kernel);
    if (kernel == TUNE_GEMM_ROUTINE || kernel == TUNE_OWN) {
        v[0] = 64u << (rnd(rng) % 5);
        return;
    }
    for (int tries = 0; tries < 200000; tries++) {
        /* one in three Xgemm samples from kernel 1, which has far fewer valid sets */
        const pspace *sp = kernel == TUNE_XGEMM && rnd(rng) % 3 == 0 ? space_k1 : space_of(kernel, NULL);
        for (int i = 0; i < n; i++) v[i] = sp[i].vals[rnd(rng) % (uint64_t)sp[i].n];
        tie(kernel, v);
        if (!tune_valid(kernel, v, lim, NULL, 0)) return;
    }
    /* unreachable with the spaces above */
    tune_parse(kernel, tune_clblast_default(kernel), v);
    err_clear();
}

void tune_mutate(int kernel, uint64_t *rng, const tune_limits *lim, const size_t *from, size_t *v)
{
    const int n = tune_nparams(kernel);
    if (kernel == TUNE_GEMM_ROUTINE || kernel == TUNE_OWN) {
        v[0] = rnd(rng) % 2 ? from[0] * 2 : from[0] / 2;
        if (v[0] > MAX_MIN_INDIRECT) v[0] = MAX_MIN_INDIRECT;
        return;
    }
    const pspace *sp = space_of(kernel, from);
    for (int tries = 0; tries < 20000; tries++) {
        memcpy(v, from, (size_t)n * sizeof *v);
        int changes = 1 + (int)(rnd(rng) % 3);
        for (int c = 0; c < changes; c++) {
            int i = (int)(rnd(rng) % (uint64_t)n);
            v[i] = sp[i].vals[rnd(rng) % (uint64_t)sp[i].n];
        }
        tie(kernel, v);
        if (memcmp(v, from, (size_t)n * sizeof *v) && !tune_valid(kernel, v, lim, NULL, 0)) return;
    }
    tune_random(kernel, rng, lim, v);
}
