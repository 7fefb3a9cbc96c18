/* cmd_probe.c — `clipcl probe train|predict|info`: linear probes on frozen image embeddings,
 * as in the CLIP paper's linear-probe and few-shot evaluations.
 *
 * train: the L2-normalized image embeddings of a labelled folder (one sub-folder per class,
 * embeddings cached) feed a multinomial logistic regression with L2 regularization (logreg.h:
 * scikit-learn's convention, L-BFGS). --shots K keeps K images per class, drawn with --seed.
 * --c-search picks C as the paper does: a parametric binary search over C = 10^-6 .. 10^6 on
 * a held-out split of the training images (start at every second decade, then halve the
 * interval around the best value down to 8 steps per decade), after which the probe is
 * refitted on all training images. --zeroshot regularizes toward the zero-shot classifier
 * (W₀ = logit_scale × the class-prompt embeddings, b₀ = 0; the intercept is penalized too) instead
 * of toward 0: with little data (small C) the probe is the zero-shot classifier, with more it
 * moves toward the data.
 *
 * The probe file (probe_file.h) records the classes, weights, the model's fingerprint and
 * the preprocessing; predict and eval refuse a probe made with another model. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "common.h"
#include "hub.h"
#include "labelled.h"
#include "logreg.h"
#include "npy.h"
#include "probe_file.h"
#include "zeroshot.h"

#define CMD "probe"
#define TCMD "probe train"
#define PCMD "probe predict"
#define ICMD "probe info"

/* the C search lattice: log10 C = -6 + i / 8, i = 0 .. 96 */
#define CS_STEPS 96
#define CS_PER_DECADE 8

static void help(FILE *f)
{
    fprintf(f, "usage: clipcl probe train DIR -o PROBE [options]     train a linear probe on a labelled folder\n"
               "       clipcl probe predict PROBE IMAGE|DIR... [options]   classify images with a probe\n"
               "       clipcl probe info PROBE [--json]                 show what a probe file holds\n\n"
               "clipcl probe <sub-command> --help for details; `clipcl eval --probe` measures a probe's accuracy.\n");
}

static void train_help(FILE *f)
{
    fprintf(f,
            "usage: clipcl probe train DIR -o PROBE [--shots K] [--seed S] [--c C | --c-search]\n"
            "                          [--val-fraction F] [--zeroshot [--labelset NAME] [--template T]...\n"
            "                          [--templates NAME | --templates-file F]] [--max-iter N] [--tol T]\n"
            "                          [--no-cache] [--json] [-m MODEL] [-d DEVICE] [--batch N] [-q]\n\n"
            "Trains a linear probe (multinomial logistic regression) on the frozen, L2-normalized image\n"
            "embeddings of DIR, which holds one sub-folder of images per class (the folder's name is the\n"
            "class; images directly in DIR are ignored). Image embeddings are cached per model and folder\n"
            "under $XDG_CACHE_HOME/clipcl/embeddings. The loss is scikit-learn's LogisticRegression one:\n"
            "C x (sum of cross-entropies) + 1/2 |W|^2, intercept unpenalized (with --zeroshot:\n"
            "C x (sum of cross-entropies) + 1/2 |W - W0|^2 + 1/2 |b|^2, W0 the zero-shot classifier);\n"
            "minimized by L-BFGS until the largest gradient component of the\n"
            "loss / (C n) is below --tol, the loss stops decreasing (64 x double epsilon, relative), or\n"
            "--max-iter iterations have run (a warning is printed then).\n\n"
            "  -o, --output PROBE  the probe file to write (replaced atomically)\n"
            "  --shots K           use K images per class (every class needs K), drawn with --seed;\n"
            "                      default: every image\n"
            "  --seed S            seed of the shot draw and of the held-out split (default 0)\n"
            "  --c C               inverse regularization strength (> 0)\n"
            "  --c-search          choose C in 1e-6 .. 1e6 on a held-out split as the CLIP paper does:\n"
            "                      every second decade first, then halving around the best down to 8 steps\n"
            "                      per decade; best = highest held-out accuracy, ties by lower held-out\n"
            "                      cross-entropy, then smaller C. The probe is then refitted on all\n"
            "                      training images.\n"
            "                      Default when neither is given: --c-search if every class has at least 2\n"
            "                      training images, else C = 1\n"
            "  --val-fraction F    share of each class held out for --c-search (default 0.25; at least one\n"
            "                      image held out and one kept per class)\n"
            "  --zeroshot          regularize toward the zero-shot classifier (logit_scale x the class\n"
            "                      prompts' embeddings) instead of toward zero, and start from it: few-shot\n"
            "                      probes then stay near zero-shot where data are scarce. Class names for the\n"
            "                      prompts are the folder names ('_' read as ' '), or with --labelset NAME\n"
            "                      the names of the label-set classes the folders match (case-insensitive)\n"
            "  --labelset NAME     see --zeroshot; the set's templates are used unless others are given\n"
            "  --template T, --templates NAME, --templates-file F\n"
            "                      prompt templates for --zeroshot, as for classify (default \"a photo of a {}.\")\n"
            "  --max-iter N        L-BFGS iteration cap (default 1000)\n"
            "  --tol T             gradient tolerance (default 1e-6)\n"
            "  --no-cache          embed every image again (the cache is rewritten)\n"
            "  --json              print the training summary as a JSON object\n" CLI_COMMON_HELP
            "\nExit status: 0 written, 2 bad usage or input.\n");
}

static void predict_help(FILE *f)
{
    fprintf(f,
            "usage: clipcl probe predict PROBE IMAGE|DIR... [--top K] [--json | --csv]\n"
            "                            [-m MODEL] [-d DEVICE] [--batch N] [-q]\n\n"
            "Classifies images with a probe from `clipcl probe train`: softmax(W x + b) of each image's\n"
            "embedding x. Output as `clipcl classify`: text, --json ({\"image\", \"scores\", \"top\"}; an\n"
            "array for several images) or --csv (image,rank,label,probability). Without -m the model the\n"
            "probe was trained with is used (its folder, or its Hub id); a probe is refused with any other\n"
            "model or preprocessing.\n\n"
            "  --top K           classes shown per image (default 5)\n"
            "  --json, --csv     output format\n" CLI_COMMON_HELP
            "\nExit status: 0 ok, 2 bad usage or input (including a probe of another model).\n");
}

static void info_help(FILE *f)
{
    fprintf(f, "usage: clipcl probe info PROBE [--json]\n\n"
               "Prints a probe file's classes, model, preprocessing and training record after validating it.\n"
               "\nExit status: 0 ok, 2 unreadable or corrupt file.\n");
}

static int bad_option(const char *cmd, char **argv)
{
    return cli_fail(2, cmd, "bad option or missing value: %s (see --help)", argv[optind - 1]);
}

/* ------------------------------------------------------------------ sampling */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Fisher–Yates with a bias-free bounded draw, so a seed gives the same draw everywhere. */
static void shuffle(int *v, int n, uint64_t *state)
{
    for (int i = n - 1; i > 0; i--) {
        uint64_t range = (uint64_t)i + 1, lim = UINT64_MAX - UINT64_MAX % range, r;
        do r = splitmix64(state);
        while (r >= lim);
        int j = (int)(r % range), t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* ------------------------------------------------------------------ fitting */

typedef struct fitset {
    const float *X;          /* rows of E floats */
    int *y;
    int n;
} fitset;

/* Top-1 accuracy and mean cross-entropy of (W, b) on a set. */
static double evaluate(const double *W, const double *b, int E, int K, const fitset *s, double *mean_ce, double *prob)
{
    int correct = 0;
    double ce = 0;
    for (int i = 0; i < s->n; i++) {
        lr_predict(W, b, E, K, s->X + (size_t)i * E, prob);
        int best = 0;
        for (int k = 1; k < K; k++)
            if (prob[k] > prob[best]) best = k;
        correct += best == s->y[i];
        ce -= log(prob[s->y[i]] > 1e-300 ? prob[s->y[i]] : 1e-300);
    }
    if (mean_ce) *mean_ce = s->n ? ce / s->n : 0;
    return s->n ? (double)correct / s->n : NAN;
}

typedef struct search_point {
    int done;
    double acc, ce;
} search_point;

/* Held-out accuracy first, then cross-entropy, then the smaller C (stronger regularization),
 * so that the choice does not depend on the order of the search. */
static int better_point(const search_point *pts, int a, int b)
{
    const search_point *x = &pts[a], *y = &pts[b];
    return x->acc > y->acc || (x->acc == y->acc && (x->ce < y->ce || (x->ce == y->ce && a < b)));
}

static double lattice_c(int i) { return pow(10.0, -6.0 + (double)i / CS_PER_DECADE); }

/* One fit at lattice point i on tr, scored on va; warm-started from (W, b), which receive
 * the solution. */
static int search_fit(const char *cmd, int i, const fitset *tr, const fitset *va, int E, int K, const lr_params *base,
                      double *W, double *b, search_point *pt, double *prob, int verbose)
{
    lr_params p = *base;
    p.C = lattice_c(i);
    p.init_W = W;
    p.init_b = b;
    lr_result r;
    int st = lr_fit(tr->X, tr->y, tr->n, E, K, &p, W, b, &r);
    if (st) return cli_fail(2, cmd, st == LR_ENOMEM ? "out of memory fitting the probe" : "cannot fit the probe");
    pt->acc = evaluate(W, b, E, K, va, &pt->ce, prob);
    pt->done = 1;
    if (verbose)
        fprintf(stderr, "clipcl %s: C = %-10.4g held-out accuracy %.4f  cross-entropy %.4f  (%d iterations)\n", cmd,
                p.C, pt->acc, pt->ce, r.iterations);
    return 0;
}

/* The CLIP paper's parametric binary search over C. Returns the chosen lattice index. */
static int c_search(const char *cmd, const fitset *tr, const fitset *va, int E, int K, const lr_params *base,
                    search_point *pts, int verbose, int *chosen)
{
    const size_t nw = (size_t)K * E;
    double *W = malloc(nw * sizeof *W), *b = malloc((size_t)K * sizeof *b), *prob = malloc((size_t)K * sizeof *prob);
    double *bestW = malloc(nw * sizeof *bestW), *bestb = malloc((size_t)K * sizeof *bestb);
    int rc = 0, best = -1;
    if (!W || !b || !prob || !bestW || !bestb) {
        rc = cli_fail(2, cmd, "out of memory");
        goto done;
    }
    for (size_t j = 0; j < nw; j++) W[j] = base->prior ? base->prior[j] : 0;
    for (int k = 0; k < K; k++) b[k] = 0;
    /* every second decade, increasing C: each fit starts from the previous solution */
    for (int i = 0; i <= CS_STEPS && !rc; i += 2 * CS_PER_DECADE) {
        if ((rc = search_fit(cmd, i, tr, va, E, K, base, W, b, &pts[i], prob, verbose))) break;
        if (best < 0 || better_point(pts, i, best)) {
            best = i;
            memcpy(bestW, W, nw * sizeof *W);
            memcpy(bestb, b, (size_t)K * sizeof *b);
        }
    }
    for (int step = CS_PER_DECADE; step >= 1 && !rc; step /= 2) {
        int centre = best;
        for (int side = -1; side <= 1 && !rc; side += 2) {
            int i = centre + side * step;
            if (i < 0 || i > CS_STEPS || pts[i].done) continue;
            memcpy(W, bestW, nw * sizeof *W);
            memcpy(b, bestb, (size_t)K * sizeof *b);
            if ((rc = search_fit(cmd, i, tr, va, E, K, base, W, b, &pts[i], prob, verbose))) break;
            if (better_point(pts, i, best)) {
                best = i;
                memcpy(bestW, W, nw * sizeof *W);
                memcpy(bestb, b, (size_t)K * sizeof *b);
            }
        }
    }
    *chosen = best;
done:
    free(W), free(b), free(prob), free(bestW), free(bestb);
    return rc;
}

/* ------------------------------------------------------------------ train */

/* What the probe records as its model's name: a Hub id as given, else the folder's path. */
static void model_name(const char *arg, const char *dir, char *out, size_t cap)
{
    struct stat sb;
    char real[PATH_MAX];
    const char *name = !arg ? HUB_DEFAULT_REPO
                       : stat(arg, &sb) != 0 || !S_ISDIR(sb.st_mode) ? arg
                       : realpath(dir, real)                         ? real
                                                                     : dir;
    size_t l = strlen(name);
    if (l >= cap) l = 0; /* too long to be useful as a default: predict then needs -m */
    memcpy(out, name, l);
    out[l] = '\0';
}

static int parse_double(const char *cmd, const char *opt, const char *arg, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (end == arg || *end || errno || !(v > lo) || !(v < hi))
        return cli_fail(2, cmd, "%s '%s' must be a number above %g and below %g", opt, arg, lo, hi);
    *out = v;
    return 0;
}

static int parse_int(const char *cmd, const char *opt, const char *arg, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (end == arg || *end || errno || v < lo || v > hi)
        return cli_fail(2, cmd, "%s '%s' must be a whole number in %ld..%ld", opt, arg, lo, hi);
    *out = v;
    return 0;
}

static int cmd_train(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, 0, 'o'},    {"shots", required_argument, 0, 'k'},
        {"seed", required_argument, 0, 's'},      {"c", required_argument, 0, 'C'},
        {"c-search", no_argument, 0, 'S'},        {"val-fraction", required_argument, 0, 'v'},
        {"zeroshot", no_argument, 0, 'z'},        {"labelset", required_argument, 0, 'L'},
        {"template", required_argument, 0, 't'},  {"templates", required_argument, 0, 'T'},
        {"templates-file", required_argument, 0, 'X'}, {"max-iter", required_argument, 0, 'i'},
        {"tol", required_argument, 0, 'e'},       {"no-cache", no_argument, 0, 'n'},
        {"json", no_argument, 0, 'j'},            {"help", no_argument, 0, 'h'},
        CLI_COMMON_LONGOPTS,                      {0, 0, 0, 0}};
    cli_opts o = {0};
    const char *out = NULL, *labelset = NULL, *tset = NULL, *tfile = NULL, *user_t[64];
    long shots = 0, seed = 0, max_iter = 1000;
    double C = 0, val_frac = 0.25, tol = 1e-6;
    int search = 0, zeroshot = 0, use_cache = 1, json = 0, n_user_t = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "o:h", opts, NULL)) != -1) {
        int r = cli_common_opt(TCMD, c, optarg, &o);
        if (r >= 0) {
            if (r) return r;
            continue;
        }
        switch (c) {
        case 'o': out = optarg; break;
        case 'k': if (parse_int(TCMD, "--shots", optarg, 1, 1000000, &shots)) return 2; break;
        case 's': if (parse_int(TCMD, "--seed", optarg, 0, LONG_MAX, &seed)) return 2; break;
        case 'C': if (parse_double(TCMD, "--c", optarg, 0, 1e300, &C)) return 2; break;
        case 'S': search = 1; break;
        case 'v': if (parse_double(TCMD, "--val-fraction", optarg, 0, 1, &val_frac)) return 2; break;
        case 'z': zeroshot = 1; break;
        case 'L': labelset = optarg; break;
        case 't':
            if (n_user_t == 64) return cli_fail(2, TCMD, "at most 64 --template options (use --templates-file)");
            user_t[n_user_t++] = optarg;
            break;
        case 'T': tset = optarg; break;
        case 'X': tfile = optarg; break;
        case 'i': if (parse_int(TCMD, "--max-iter", optarg, 1, 1000000, &max_iter)) return 2; break;
        case 'e': if (parse_double(TCMD, "--tol", optarg, 0, 1, &tol)) return 2; break;
        case 'n': use_cache = 0; break;
        case 'j': json = 1; break;
        case 'h': train_help(stdout); return 0;
        default: return bad_option(TCMD, argv);
        }
    }
    if (optind >= argc) return cli_fail(2, TCMD, "no folder given (see --help)");
    if (argc - optind > 1) return cli_fail(2, TCMD, "one folder only; unexpected '%s'", argv[optind + 1]);
    if (!out) return cli_fail(2, TCMD, "no probe file: give -o PROBE");
    if (C > 0 && search) return cli_fail(2, TCMD, "give --c or --c-search, not both");
    if (!zeroshot && (labelset || n_user_t || tset || tfile))
        return cli_fail(2, TCMD, "--labelset and templates only apply with --zeroshot");
    const char *dir = argv[optind];

    lf_set set = {0};
    zs_classes zc = {0};
    cli_session s = {0};
    probe pr = {0};
    int rc = 2, K = 0, E = 0, n = 0, *sel = NULL, *y = NULL, *count = NULL, chosen = -1, n_tr = 0, n_va = 0;
    float *X = NULL, *cemb = NULL, *Xtr = NULL, *Xva = NULL;
    int *ytr = NULL, *yva = NULL;
    double *W = NULL, *b = NULL, *prior = NULL, *prob = NULL, val_acc = NAN;
    search_point pts[CS_STEPS + 1] = {{0}};
    char err[8192];
    lr_result res = {0};

    if ((rc = lf_scan(TCMD, dir, &set))) goto done;
    rc = 2;
    K = set.n_classes;
    if (K < 2) {
        rc = cli_fail(2, TCMD, "%s: a probe needs at least 2 class folders, found %d", dir, K);
        goto done;
    }
    if (set.n_loose && !o.quiet)
        fprintf(stderr, "clipcl %s: %d file%s directly in %s, not in a class folder, left out\n", TCMD, set.n_loose,
                set.n_loose == 1 ? "" : "s", dir);
    for (int k = 0; k < K; k++) { /* what a probe file can hold as a label */
        const char *nm = set.class_name[k];
        int ctl = 0;
        for (const char *q = nm; *q; q++) ctl |= (unsigned char)*q < 0x20 || *q == 0x7f;
        if (ctl || strlen(nm) >= PROBE_MAX_LABEL) {
            rc = cli_fail(2, TCMD, "%s: class folder name unusable as a label (control characters or over %d bytes)",
                          dir, PROBE_MAX_LABEL - 1);
            goto done;
        }
    }
    /* per-class image lists; the shot draw */
    if (!(count = calloc((size_t)K, sizeof *count)) || !(sel = malloc((size_t)set.n * sizeof *sel)) ||
        !(y = malloc((size_t)set.n * sizeof *y))) {
        rc = cli_fail(2, TCMD, "out of memory");
        goto done;
    }
    uint64_t rng = (uint64_t)seed;
    for (int c0 = 0, i0 = 0; c0 < K; c0++) {
        int m = 0;
        while (i0 + m < set.n && set.label[i0 + m] == c0) m++;
        if (!m) {
            rc = cli_fail(2, TCMD, "%s: class folder '%s' has no images", dir, set.class_name[c0]);
            goto done;
        }
        if (shots && m < shots) {
            rc = cli_fail(2, TCMD, "%s: class '%s' has %d image%s, fewer than --shots %ld", dir, set.class_name[c0], m,
                          m == 1 ? "" : "s", shots);
            goto done;
        }
        int take = shots ? (int)shots : m;
        for (int j = 0; j < m; j++) sel[n + j] = i0 + j;
        if (shots) {
            shuffle(sel + n, m, &rng);
            qsort(sel + n, (size_t)take, sizeof *sel, cmp_int);
        }
        for (int j = 0; j < take; j++) y[n + j] = c0;
        count[c0] = take;
        n += take;
        i0 += m;
    }
    int min_count = count[0];
    for (int k = 1; k < K; k++)
        if (count[k] < min_count) min_count = count[k];
    if (search && min_count < 2) {
        rc = cli_fail(2, TCMD, "--c-search holds images out: every class needs at least 2 training images");
        goto done;
    }
    if (!search && C == 0) {
        search = min_count >= 2;
        if (!search) {
            C = 1;
            if (!o.quiet) fprintf(stderr, "clipcl %s: a class has a single image: no C search, C = 1\n", TCMD);
        }
    }
    if (zeroshot) {
        const lbl_set *ls = NULL;
        if (labelset && !(ls = lbl_find(labelset))) {
            rc = cli_fail(2, TCMD, "unknown label set '%s' (clipcl classify --labelset list shows them)", labelset);
            goto done;
        }
        if ((rc = lf_folder_classes(TCMD, &set, ls, &zc))) goto done;
        if (ls && !n_user_t && !tset && !tfile && (rc = zs_set_templates(TCMD, &zc, ls->templates, ls->n_templates)))
            goto done;
        if ((rc = zs_choose_templates(TCMD, &zc, user_t, n_user_t, tset, tfile))) goto done;
        rc = 2;
    }
    /* fail on an unwritable output before the work */
    {
        npy_atomic a = {0};
        if (npy_atomic_open(&a, out)) {
            rc = cli_fail(2, TCMD, "%s: cannot write: %s", out, strerror(errno));
            goto done;
        }
        npy_atomic_abort(&a);
    }

    if ((rc = cli_open(TCMD, &o, zeroshot, 1, &s))) goto done;
    rc = 2;
    if (probe_model_identify(s.model_dir, &pr.model, err, sizeof err)) {
        rc = cli_fail(2, TCMD, "%s", err);
        goto done;
    }
    E = clipcl_model_embed_dim(s.model);
    const size_t nw = (size_t)K * E;
    if (nw > PROBE_MAX_WEIGHTS) {
        rc = cli_fail(2, TCMD, "%d classes x width %d is more than a probe holds", K, E);
        goto done;
    }
    X = malloc((size_t)n * E * sizeof *X);
    W = malloc(nw * sizeof *W);
    b = malloc((size_t)K * sizeof *b);
    prob = malloc((size_t)K * sizeof *prob);
    if (!X || !W || !b || !prob) {
        rc = cli_fail(2, TCMD, "out of memory for %d embeddings", n);
        goto done;
    }
    if ((rc = lf_embed(TCMD, &s, &o, &set, sel, n, use_cache, X))) goto done;
    rc = 2;
    if (zeroshot) {
        if (!(cemb = malloc(nw * sizeof *cemb)) || !(prior = malloc(nw * sizeof *prior))) {
            rc = cli_fail(2, TCMD, "out of memory");
            goto done;
        }
        if ((rc = zs_class_embeddings(TCMD, &s, &o, &zc, use_cache, cemb))) goto done;
        rc = 2;
        const double scale = clipcl_model_logit_scale(s.model);
        for (size_t j = 0; j < nw; j++) prior[j] = scale * cemb[j];
    }
    lr_params base = lr_default_params();
    base.max_iter = (int)max_iter;
    base.tol = tol;
    base.prior = prior;
    base.penalize_intercept = zeroshot; /* small C must give the zero-shot classifier, b = 0 included */

    if (search) {
        /* per class: a seeded draw of the held-out images, at least one out and one in */
        Xtr = malloc((size_t)n * E * sizeof *Xtr);
        Xva = malloc((size_t)n * E * sizeof *Xva);
        ytr = malloc((size_t)n * sizeof *ytr);
        yva = malloc((size_t)n * sizeof *yva);
        int *perm = malloc((size_t)n * sizeof *perm);
        if (!Xtr || !Xva || !ytr || !yva || !perm) {
            free(perm);
            rc = cli_fail(2, TCMD, "out of memory");
            goto done;
        }
        uint64_t srng = (uint64_t)seed ^ 0x5EA5C0FFEEull;
        for (int k = 0, i0 = 0; k < K; i0 += count[k], k++) {
            int m = count[k], nv = (int)lround(val_frac * m);
            if (nv < 1) nv = 1;
            if (nv > m - 1) nv = m - 1;
            for (int j = 0; j < m; j++) perm[j] = i0 + j;
            shuffle(perm, m, &srng);
            qsort(perm, (size_t)nv, sizeof *perm, cmp_int);
            qsort(perm + nv, (size_t)(m - nv), sizeof *perm, cmp_int);
            for (int j = 0; j < m; j++) {
                int src = perm[j], va = j < nv;
                float *dst = va ? Xva + (size_t)n_va * E : Xtr + (size_t)n_tr * E;
                memcpy(dst, X + (size_t)src * E, (size_t)E * sizeof *X);
                if (va) yva[n_va++] = k;
                else ytr[n_tr++] = k;
            }
        }
        free(perm);
        fitset tr = {Xtr, ytr, n_tr}, va = {Xva, yva, n_va};
        if ((rc = c_search(TCMD, &tr, &va, E, K, &base, pts, !o.quiet && !json, &chosen))) goto done;
        C = lattice_c(chosen);
        val_acc = pts[chosen].acc;
    }
    /* the final fit on every training image */
    base.C = C;
    int st = lr_fit(X, y, n, E, K, &base, W, b, &res);
    if (st) {
        rc = cli_fail(2, TCMD, st == LR_ENOMEM ? "out of memory fitting the probe" : "cannot fit the probe");
        goto done;
    }
    if (!res.converged)
        fprintf(stderr, "clipcl %s: warning: L-BFGS stopped at the --max-iter cap (%d) before converging (largest "
                        "gradient %.3g > --tol %.3g)\n", TCMD, res.iterations, res.grad_max, tol);
    fitset all = {X, y, n};
    double train_acc = evaluate(W, b, E, K, &all, NULL, prob);

    /* the probe file */
    pr.n_classes = K;
    pr.embed_dim = E;
    pr.labels = set.class_name;
    model_name(o.model, s.model_dir, pr.model_name, sizeof pr.model_name);
    pr.preproc = *clipcl_model_preproc(s.model);
    pr.flags = (zeroshot ? PROBE_FLAG_ZEROSHOT : 0) | (search ? PROBE_FLAG_CSEARCH : 0);
    pr.C = C;
    pr.shots = (int)shots;
    pr.n_train = n;
    pr.seed = (uint64_t)seed;
    pr.iterations = res.iterations;
    pr.outcome = res.converged;
    pr.train_accuracy = train_acc;
    pr.val_accuracy = val_acc;
    float *wf = malloc((nw + (size_t)K) * sizeof *wf);
    if (!wf) {
        rc = cli_fail(2, TCMD, "out of memory");
        goto done;
    }
    for (size_t j = 0; j < nw; j++) wf[j] = (float)W[j];
    for (int k = 0; k < K; k++) wf[nw + k] = (float)b[k];
    pr.W = wf;
    pr.b = wf + nw;
    int wr = probe_write(out, &pr, err, sizeof err);
    free(wf);
    pr.W = pr.b = NULL;
    if (wr) {
        rc = cli_fail(2, TCMD, "%s", err);
        goto done;
    }
    if (json) {
        fputs("{\"probe\": ", stdout);
        cli_json_str(stdout, out);
        fputs(", \"model\": ", stdout);
        cli_json_str(stdout, pr.model_name);
        fputs(", \"classes\": [", stdout);
        for (int k = 0; k < K; k++) {
            if (k) fputs(", ", stdout);
            cli_json_str(stdout, set.class_name[k]);
        }
        printf("], \"n_train\": %d, \"shots\": %ld, \"seed\": %ld, \"C\": %.10g, \"c_search\": %s, \"zeroshot\": %s, "
               "\"train_accuracy\": %.17g, \"val_accuracy\": ",
               n, shots, seed, C, search ? "true" : "false", zeroshot ? "true" : "false", train_acc);
        if (isnan(val_acc)) fputs("null", stdout);
        else printf("%.17g", val_acc);
        printf(", \"loss\": %.17g, \"iterations\": %d, \"converged\": %s, \"search\": [", res.loss, res.iterations,
               res.converged ? "true" : "false");
        for (int i = 0, first = 1; search && i <= CS_STEPS; i++) {
            if (!pts[i].done) continue;
            printf("%s{\"C\": %.17g, \"val_accuracy\": %.17g, \"val_cross_entropy\": %.17g}", first ? "" : ", ",
                   lattice_c(i), pts[i].acc, pts[i].ce);
            first = 0;
        }
        fputs("]}\n", stdout);
    } else {
        printf("%s: %d classes, %d training images", out, K, n);
        if (shots) printf(" (%ld per class)", shots);
        printf(", C = %.4g", C);
        if (search) printf(" (searched; held-out accuracy %.4f)", val_acc);
        printf("%s, training accuracy %.4f, %d L-BFGS iterations (%s)\n", zeroshot ? ", zero-shot prior" : "",
               train_acc, res.iterations,
               res.converged == 1 ? "converged" : res.converged == 2 ? "no further progress" : "iteration cap");
    }
    rc = fflush(stdout) ? cli_fail(2, TCMD, "writing the output failed: %s", strerror(errno)) : 0;
done:
    cli_close(&s);
    zs_classes_free(&zc);
    lf_free(&set);
    free(sel), free(y), free(count), free(X), free(cemb), free(Xtr), free(Xva), free(ytr), free(yva);
    free(W), free(b), free(prior), free(prob);
    return rc;
}

/* ------------------------------------------------------------------ predict */

static int cmd_predict(int argc, char **argv)
{
    static const struct option opts[] = {{"top", required_argument, 0, 'k'}, {"json", no_argument, 0, 'j'},
                                         {"csv", no_argument, 0, 'c'},       {"help", no_argument, 0, 'h'},
                                         CLI_COMMON_LONGOPTS,                {0, 0, 0, 0}};
    cli_opts o = {0};
    long top = 5;
    zs_fmt fmt = ZS_TEXT;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "h", opts, NULL)) != -1) {
        int r = cli_common_opt(PCMD, c, optarg, &o);
        if (r >= 0) {
            if (r) return r;
            continue;
        }
        switch (c) {
        case 'k': if (parse_int(PCMD, "--top", optarg, 1, INT_MAX, &top)) return 2; break;
        case 'j': fmt = ZS_JSON; break;
        case 'c': fmt = ZS_CSV; break;
        case 'h': predict_help(stdout); return 0;
        default: return bad_option(PCMD, argv);
        }
    }
    if (optind >= argc) return cli_fail(2, PCMD, "no probe file given (see --help)");
    if (optind + 1 >= argc) return cli_fail(2, PCMD, "no image given (see --help)");
    const char *path = argv[optind];
    probe p;
    char err[8192], **images = NULL;
    int n_images = 0, rc = 2, *order = NULL;
    float *emb = NULL;
    double *W = NULL, *prob = NULL;
    cli_session s = {0};
    if (probe_read(path, &p, err, sizeof err)) return cli_fail(2, PCMD, "%s", err);
    if ((rc = cli_collect_images(PCMD, argv + optind + 1, argc - optind - 1, &images, &n_images))) goto done;
    rc = 2;
    if (!n_images) {
        rc = cli_fail(2, PCMD, "no image files found");
        goto done;
    }
    if ((rc = probe_open_model(PCMD, path, &p, &o, &s))) goto done;
    rc = 2;
    const int K = p.n_classes, E = p.embed_dim;
    emb = malloc((size_t)n_images * E * sizeof *emb);
    W = malloc((size_t)K * (E + 1) * sizeof *W);
    prob = malloc((size_t)K * sizeof *prob);
    order = malloc((size_t)K * sizeof *order);
    if (!emb || !W || !prob || !order) {
        rc = cli_fail(2, PCMD, "out of memory");
        goto done;
    }
    for (size_t j = 0; j < (size_t)K * (E + 1); j++) W[j] = p.W[j]; /* b follows W in both */
    if ((rc = cli_embed_images(PCMD, &s, &o, images, n_images, emb))) goto done;
    if (fmt == ZS_CSV) puts("image,rank,label,probability");
    for (int i = 0; i < n_images; i++) {
        lr_predict(W, W + (size_t)K * E, E, K, emb + (size_t)i * E, prob);
        zs_print_image(fmt, images[i], p.labels, K, prob, order, (int)top, i == 0, n_images > 1);
    }
    if (fmt == ZS_JSON && n_images > 1) fputs("\n]\n", stdout);
    rc = fflush(stdout) ? cli_fail(2, PCMD, "writing the output failed: %s", strerror(errno)) : 0;
done:
    cli_close(&s);
    probe_free(&p);
    cli_free_strings(images, n_images);
    free(emb), free(W), free(prob), free(order);
    return rc;
}

/* ------------------------------------------------------------------ info */

static int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'h': info_help(stdout); return 0;
        default: return bad_option(ICMD, argv);
        }
    }
    if (optind != argc - 1) return cli_fail(2, ICMD, "give one probe file (see --help)");
    probe p;
    char err[8192], hex[65];
    if (probe_read(argv[optind], &p, err, sizeof err)) return cli_fail(2, ICMD, "%s", err);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", p.model.digest[i]);
    const char *outcome = p.outcome == 1 ? "converged" : p.outcome == 2 ? "no further progress" : "iteration cap";
    if (json) {
        fputs("{\"model\": ", stdout);
        cli_json_str(stdout, p.model_name);
        printf(", \"model_fingerprint\": \"%s\", \"weights_size\": %llu, \"embed_dim\": %d, \"classes\": [", hex,
               (unsigned long long)p.model.weights_size, p.embed_dim);
        for (int k = 0; k < p.n_classes; k++) {
            if (k) fputs(", ", stdout);
            cli_json_str(stdout, p.labels[k]);
        }
        printf("], \"preprocess\": {\"size\": %d, \"mean\": [%.9g, %.9g, %.9g], \"std\": [%.9g, %.9g, %.9g]}, ",
               p.preproc.size, p.preproc.mean[0], p.preproc.mean[1], p.preproc.mean[2], p.preproc.std[0],
               p.preproc.std[1], p.preproc.std[2]);
        printf("\"C\": %.17g, \"c_search\": %s, \"zeroshot\": %s, \"shots\": %d, \"n_train\": %d, \"seed\": %llu, "
               "\"iterations\": %d, \"outcome\": \"%s\", \"train_accuracy\": %.17g, \"val_accuracy\": ",
               p.C, p.flags & PROBE_FLAG_CSEARCH ? "true" : "false", p.flags & PROBE_FLAG_ZEROSHOT ? "true" : "false",
               p.shots, p.n_train, (unsigned long long)p.seed, p.iterations, outcome, p.train_accuracy);
        if (isnan(p.val_accuracy)) fputs("null}\n", stdout);
        else printf("%.17g}\n", p.val_accuracy);
    } else {
        printf("probe      %s (format version %u)\n", argv[optind], PROBE_VERSION);
        printf("model      %s\n           weights %llu bytes, fingerprint %s\n", p.model_name,
               (unsigned long long)p.model.weights_size, hex);
        printf("embedding  %d\npreprocess %d px, mean %.6g %.6g %.6g, std %.6g %.6g %.6g\n", p.embed_dim, p.preproc.size,
               p.preproc.mean[0], p.preproc.mean[1], p.preproc.mean[2], p.preproc.std[0], p.preproc.std[1],
               p.preproc.std[2]);
        printf("training   %d images", p.n_train);
        if (p.shots) printf(" (%d per class, seed %llu)", p.shots, (unsigned long long)p.seed);
        printf(", C = %.6g%s%s\n", p.C, p.flags & PROBE_FLAG_CSEARCH ? " (searched)" : "",
               p.flags & PROBE_FLAG_ZEROSHOT ? ", zero-shot prior" : "");
        printf("           training accuracy %.4f", p.train_accuracy);
        if (!isnan(p.val_accuracy)) printf(", held-out accuracy %.4f", p.val_accuracy);
        printf(", %d iterations (%s)\n", p.iterations, outcome);
        printf("classes    %d\n", p.n_classes);
        for (int k = 0; k < p.n_classes; k++) printf("  %s\n", p.labels[k]);
    }
    probe_free(&p);
    return fflush(stdout) ? cli_fail(2, ICMD, "writing the output failed: %s", strerror(errno)) : 0;
}

int cmd_probe(int argc, char **argv)
{
    if (argc < 2) {
        help(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        help(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "predict")) return cmd_predict(argc - 1, argv + 1);
    if (!strcmp(argv[1], "info")) return cmd_info(argc - 1, argv + 1);
    cli_fail(2, CMD, "unknown sub-command '%s' (train, predict or info)", argv[1]);
    return 2;
}
