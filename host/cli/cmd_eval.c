/* cmd_eval.c — `clipcl eval`: accuracy of zero-shot classification or of a linear probe on a
 * labelled folder (one sub-folder per class): top-1 and top-5 accuracy over the images,
 * per-class accuracy, their mean, and a confusion matrix.
 *
 * Classes: with --labels-from-folders the folders are the classes (zero-shot prompts use the
 * folder names, '_' read as ' '); with --labelset every class of the built-in set is a
 * candidate and each folder must name one of them; with --probe the probe's classes are the
 * candidates and each folder must name one. Folder names match class names ignoring case,
 * '_' read as ' ' (labelled.h). Image embeddings are cached per model and folder. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "labelled.h"
#include "logreg.h"
#include "npy.h"
#include "probe_file.h"
#include "zeroshot.h"

#define CMD "eval"

static void help(FILE *f)
{
    fprintf(f,
            "usage: clipcl eval DIR (--labels-from-folders | --labelset NAME | --probe PROBE)\n"
            "                   [--template T]... [--templates NAME | --templates-file F]\n"
            "                   [--confusion FILE.csv] [--predictions FILE.csv] [--json] [--no-cache]\n"
            "                   [-m MODEL] [-d DEVICE] [--batch N] [-q]\n\n"
            "Measures zero-shot classification, or a probe from `clipcl probe train`, on DIR, which holds one\n"
            "sub-folder of images per class (the folder's name is the true class of every image under it;\n"
            "images directly in DIR are ignored). Reports top-1 and top-5 accuracy over all images (top-5\n"
            "means top-K when there are K < 5 candidate classes), the top-1 and top-5 accuracy of each class\n"
            "and the mean per-class top-1 accuracy. Image embeddings are cached per model and folder under\n"
            "$XDG_CACHE_HOME/clipcl/embeddings.\n\n"
            "  --labels-from-folders  zero-shot with the folder names as the classes ('_' read as ' ' in the\n"
            "                      prompts)\n"
            "  --labelset NAME     zero-shot over every class of a built-in label set (see clipcl classify\n"
            "                      --labelset list) with its templates unless others are given; each folder\n"
            "                      must name one of its classes (case-insensitive, '_' = ' ', any synonym)\n"
            "  --probe PROBE       a trained probe; each folder must name one of its classes. Without -m the\n"
            "                      probe's own model is used\n"
            "  --template T, --templates NAME, --templates-file F\n"
            "                      zero-shot prompt templates, as for classify (default \"a photo of a {}.\")\n"
            "  --confusion FILE    write the confusion matrix as CSV: one row per class folder (the true\n"
            "                      class), one column per candidate class that is a folder's class or was\n"
            "                      predicted at least once; cells count images\n"
            "  --predictions FILE  write image,true,predicted,probability,correct CSV rows (top-1)\n"
            "  --json              {\"mode\", \"n\", \"top1\", \"top5\", \"top1_correct\", \"top5_correct\",\n"
            "                      \"mean_per_class\", \"per_class\": {FOLDER: {\"class\", \"n\", \"top1\", \"top5\"}}}\n"
            "  --no-cache          recompute image and class embeddings (the caches are rewritten)\n" CLI_COMMON_HELP
            "\nExit status: 0 measured, 1 no image in the class folders, 2 bad usage or input.\n");
}

static int bad_option(char **argv)
{
    return cli_fail(2, CMD, "bad option or missing value: %s (see --help)", argv[optind - 1]);
}

/* CSV outputs go through a temporary file renamed on success: a failed run leaves none. */
static int open_out(npy_atomic *a, const char *path)
{
    return npy_atomic_open(a, path) ? cli_fail(2, CMD, "%s: cannot write: %s", path, strerror(errno)) : 0;
}

static int commit_out(npy_atomic *a, const char *path)
{
    if (!a->f) return 0;
    return npy_atomic_commit(a) ? cli_fail(2, CMD, "%s: cannot write: %s", path, strerror(errno)) : 0;
}

static void json_ratio(int num, int den)
{
    if (den) printf("%.17g", (double)num / den);
    else fputs("null", stdout);
}

int cmd_eval(int argc, char **argv)
{
    static const struct option opts[] = {
        {"labels-from-folders", no_argument, 0, 'F'}, {"labelset", required_argument, 0, 'S'},
        {"probe", required_argument, 0, 'p'},         {"template", required_argument, 0, 't'},
        {"templates", required_argument, 0, 'T'},     {"templates-file", required_argument, 0, 'X'},
        {"confusion", required_argument, 0, 'c'},     {"predictions", required_argument, 0, 'P'},
        {"json", no_argument, 0, 'j'},                {"no-cache", no_argument, 0, 'n'},
        {"help", no_argument, 0, 'h'},                CLI_COMMON_LONGOPTS,
        {0, 0, 0, 0}};
    cli_opts o = {0};
    const char *labelset = NULL, *probe_path = NULL, *tset = NULL, *tfile = NULL, *confusion = NULL,
               *predictions = NULL, *user_t[64];
    int from_folders = 0, n_user_t = 0, json = 0, use_cache = 1, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "h", opts, NULL)) != -1) {
        int r = cli_common_opt(CMD, c, optarg, &o);
        if (r >= 0) {
            if (r) return r;
            continue;
        }
        switch (c) {
        case 'F': from_folders = 1; break;
        case 'S': labelset = optarg; break;
        case 'p': probe_path = optarg; break;
        case 't':
            if (n_user_t == 64) return cli_fail(2, CMD, "at most 64 --template options (use --templates-file)");
            user_t[n_user_t++] = optarg;
            break;
        case 'T': tset = optarg; break;
        case 'X': tfile = optarg; break;
        case 'c': confusion = optarg; break;
        case 'P': predictions = optarg; break;
        case 'j': json = 1; break;
        case 'n': use_cache = 0; break;
        case 'h': help(stdout); return 0;
        default: return bad_option(argv);
        }
    }
    if (labelset && !strcmp(labelset, "list")) {
        zs_list_labelsets();
        return 0;
    }
    if (tset && !strcmp(tset, "list")) {
        zs_list_templatesets(CMD);
        return 0;
    }
    if (!!from_folders + !!labelset + !!probe_path != 1)
        return cli_fail(2, CMD, "give exactly one of --labels-from-folders, --labelset or --probe (see --help)");
    if (probe_path && (n_user_t || tset || tfile))
        return cli_fail(2, CMD, "templates are for zero-shot; a probe has no prompts");
    if (optind >= argc) return cli_fail(2, CMD, "no folder given (see --help)");
    if (argc - optind > 1) return cli_fail(2, CMD, "one folder only; unexpected '%s'", argv[optind + 1]);
    const char *dir = argv[optind];

    lf_set set = {0};
    zs_classes zc = {0};
    probe pr = {0};
    int have_probe = 0, rc = 2, K = 0, *map = NULL, *which = NULL, *pred = NULL, *order = NULL, *rank_true = NULL;
    int *counts = NULL, *used = NULL;
    char **cand = NULL, err[8192];
    float *emb = NULL, *cemb = NULL;
    double *prob = NULL, *W = NULL, *pprob = NULL;
    cli_session s = {0};
    npy_atomic ac = {0}, ap = {0};
    FILE *fc = NULL, *fp = NULL;

    if ((rc = lf_scan(CMD, dir, &set))) goto done;
    rc = 2;
    if (set.n_loose && !o.quiet)
        fprintf(stderr, "clipcl %s: %d file%s directly in %s, not in a class folder, left out\n", CMD, set.n_loose,
                set.n_loose == 1 ? "" : "s", dir);
    if (!(map = malloc((size_t)set.n_classes * sizeof *map))) {
        rc = cli_fail(2, CMD, "out of memory");
        goto done;
    }
    /* the candidate classes, and which one each folder is */
    if (probe_path) {
        if (probe_read(probe_path, &pr, err, sizeof err)) {
            rc = cli_fail(2, CMD, "%s", err);
            goto done;
        }
        have_probe = 1;
        K = pr.n_classes;
        cand = pr.labels;
        char what[4200];
        snprintf(what, sizeof what, "probe %s", probe_path);
        if ((rc = lf_map_folders(CMD, &set, cand, NULL, K, what, map))) goto done;
    } else if (labelset) {
        const lbl_set *ls = lbl_find(labelset);
        if (!ls) {
            rc = cli_fail(2, CMD, "unknown label set '%s' (clipcl eval --labelset list shows them)", labelset);
            goto done;
        }
        if ((rc = zs_set_builtin_labels(CMD, &zc, ls))) goto done;
        if (!n_user_t && !tset && !tfile && (rc = zs_set_templates(CMD, &zc, ls->templates, ls->n_templates)))
            goto done;
        char what[256];
        snprintf(what, sizeof what, "label set %s", ls->name);
        if ((rc = lf_map_folders(CMD, &set, zc.label, zc.names, zc.n, what, map))) goto done;
    } else {
        if ((rc = lf_folder_classes(CMD, &set, NULL, &zc))) goto done;
        for (int k = 0; k < set.n_classes; k++) map[k] = k;
    }
    if (!probe_path) {
        if ((rc = zs_choose_templates(CMD, &zc, user_t, n_user_t, tset, tfile))) goto done;
        K = zc.n;
        cand = zc.label;
    }
    rc = 2;
    if (K < 2) {
        rc = cli_fail(2, CMD, "%s: zero-shot needs at least 2 classes, found %d", dir, K);
        goto done;
    }
    if (!set.n) {
        rc = cli_fail(1, CMD, "%s: no images in the class folders", dir);
        goto done;
    }
    /* outputs fail before the work */
    if (confusion && open_out(&ac, confusion)) goto done;
    if (predictions && open_out(&ap, predictions)) goto done;
    fc = ac.f;
    fp = ap.f;

    if (have_probe) rc = probe_open_model(CMD, probe_path, &pr, &o, &s);
    else rc = cli_open(CMD, &o, 1, 1, &s);
    if (rc) goto done;
    rc = 2;
    const int E = clipcl_model_embed_dim(s.model), n = set.n;
    emb = malloc((size_t)n * E * sizeof *emb);
    which = malloc((size_t)n * sizeof *which);
    pred = malloc((size_t)n * sizeof *pred);
    rank_true = malloc((size_t)n * sizeof *rank_true);
    pprob = malloc((size_t)n * sizeof *pprob);
    prob = malloc((size_t)K * sizeof *prob);
    order = malloc((size_t)K * sizeof *order);
    if (!emb || !which || !pred || !rank_true || !pprob || !prob || !order) {
        rc = cli_fail(2, CMD, "out of memory for %d images", n);
        goto done;
    }
    if (have_probe) {
        if (!(W = malloc((size_t)K * (E + 1) * sizeof *W))) {
            rc = cli_fail(2, CMD, "out of memory");
            goto done;
        }
        for (size_t j = 0; j < (size_t)K * (E + 1); j++) W[j] = pr.W[j]; /* b follows W */
    } else {
        if (!(cemb = malloc((size_t)K * E * sizeof *cemb))) {
            rc = cli_fail(2, CMD, "out of memory");
            goto done;
        }
        if ((rc = zs_class_embeddings(CMD, &s, &o, &zc, use_cache, cemb))) goto done;
    }
    for (int i = 0; i < n; i++) which[i] = i;
    if ((rc = lf_embed(CMD, &s, &o, &set, which, n, use_cache, emb))) goto done;
    rc = 2;

    /* score every image; rank_true = position of the true class in the ranking */
    const double scale = clipcl_model_logit_scale(s.model);
    const int k5 = K < 5 ? K : 5;
    int top1 = 0, top5 = 0;
    for (int i = 0; i < n; i++) {
        const float *x = emb + (size_t)i * E;
        if (have_probe) lr_predict(W, W + (size_t)K * E, E, K, x, prob);
        else zs_probs(x, cemb, K, E, scale, prob);
        zs_rank(prob, K, order);
        int t = map[set.label[i]], r = 0;
        while (order[r] != t) r++;
        pred[i] = order[0];
        pprob[i] = prob[order[0]];
        rank_true[i] = r;
        top1 += r == 0;
        top5 += r < k5;
    }
    /* per class folder */
    int n_nonempty = 0;
    double mean_pc = 0;
    if (!(counts = calloc((size_t)set.n_classes * 3, sizeof *counts))) {
        rc = cli_fail(2, CMD, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        int *cc = counts + 3 * set.label[i];
        cc[0]++;
        cc[1] += rank_true[i] == 0;
        cc[2] += rank_true[i] < k5;
    }
    for (int c0 = 0; c0 < set.n_classes; c0++)
        if (counts[3 * c0]) {
            n_nonempty++;
            mean_pc += (double)counts[3 * c0 + 1] / counts[3 * c0];
        }
    mean_pc /= n_nonempty;

    if (fc) { /* columns: the folders' classes and every class predicted at least once */
        if (!(used = calloc((size_t)K * 2, sizeof *used))) {
            rc = cli_fail(2, CMD, "out of memory");
            goto done;
        }
        int *cnt = used + K;
        for (int c0 = 0; c0 < set.n_classes; c0++) used[map[c0]] = 1;
        for (int i = 0; i < n; i++) used[pred[i]] = 1;
        fputs("true\\predicted", fc);
        for (int k = 0; k < K; k++)
            if (used[k]) {
                fputc(',', fc);
                cli_csv_str(fc, cand[k]);
            }
        fputc('\n', fc);
        for (int c0 = 0, i0 = 0; c0 < set.n_classes; c0++) {
            memset(cnt, 0, (size_t)K * sizeof *cnt);
            for (; i0 < n && set.label[i0] == c0; i0++) cnt[pred[i0]]++;
            cli_csv_str(fc, set.class_name[c0]);
            for (int k = 0; k < K; k++)
                if (used[k]) fprintf(fc, ",%d", cnt[k]);
            fputc('\n', fc);
        }
    }
    if (fp) {
        fputs("image,true,predicted,probability,correct\n", fp);
        for (int i = 0; i < n; i++) {
            cli_csv_str(fp, set.path[i]);
            fputc(',', fp);
            cli_csv_str(fp, cand[map[set.label[i]]]);
            fputc(',', fp);
            cli_csv_str(fp, cand[pred[i]]);
            fprintf(fp, ",%.6g,%d\n", pprob[i], rank_true[i] == 0);
        }
    }
    const char *mode = have_probe ? "probe" : "zero-shot";
    if (json) {
        printf("{\"mode\": \"%s\", \"classes\": %d, \"n\": %d, \"top1\": %.17g, \"top5\": %.17g, \"top1_correct\": %d, "
               "\"top5_correct\": %d, \"top5_k\": %d, \"mean_per_class\": %.17g, \"per_class\": {",
               mode, K, n, (double)top1 / n, (double)top5 / n, top1, top5, k5, mean_pc);
        for (int c0 = 0; c0 < set.n_classes; c0++) {
            const int *cc = counts + 3 * c0;
            if (c0) fputs(", ", stdout);
            cli_json_str(stdout, set.class_name[c0]);
            fputs(": {\"class\": ", stdout);
            cli_json_str(stdout, cand[map[c0]]);
            printf(", \"n\": %d, \"top1\": ", cc[0]);
            json_ratio(cc[1], cc[0]);
            fputs(", \"top5\": ", stdout);
            json_ratio(cc[2], cc[0]);
            fputc('}', stdout);
        }
        fputs("}}\n", stdout);
    } else {
        printf("%s: %s", dir, mode);
        if (have_probe) printf(" %s", probe_path);
        else if (labelset) printf(" (label set %s)", labelset);
        else printf(" (labels from folders)");
        printf(", %d candidate classes, %d class folders, %d images\n", K, set.n_classes, n);
        printf("top-1 accuracy        %.4f  (%d/%d)\n", (double)top1 / n, top1, n);
        printf("top-%d accuracy        %.4f  (%d/%d)\n", k5, (double)top5 / n, top5, n);
        printf("mean per-class top-1  %.4f\n", mean_pc);
        int w = 5;
        for (int c0 = 0; c0 < set.n_classes; c0++)
            if ((int)strlen(set.class_name[c0]) > w) w = (int)strlen(set.class_name[c0]);
        if (w > 40) w = 40;
        char k5h[16];
        snprintf(k5h, sizeof k5h, "top-%d", k5);
        printf("%-*s  %7s  %7s  %7s\n", w, "class", "images", "top-1", k5h);
        for (int c0 = 0; c0 < set.n_classes; c0++) {
            const int *cc = counts + 3 * c0;
            if (cc[0]) printf("%-*s  %7d  %7.4f  %7.4f\n", w, set.class_name[c0], cc[0], (double)cc[1] / cc[0],
                              (double)cc[2] / cc[0]);
            else printf("%-*s  %7d  %7s  %7s\n", w, set.class_name[c0], 0, "-", "-");
        }
    }
    if ((rc = commit_out(&ac, confusion)) || (rc = commit_out(&ap, predictions))) goto done;
    rc = fflush(stdout) ? cli_fail(2, CMD, "writing the output failed: %s", strerror(errno)) : 0;
done:
    npy_atomic_abort(&ac);
    npy_atomic_abort(&ap);
    cli_close(&s);
    zs_classes_free(&zc);
    if (have_probe) probe_free(&pr);
    lf_free(&set);
    free(map), free(which), free(pred), free(order), free(rank_true), free(counts), free(used);
    free(emb), free(cemb), free(prob), free(W), free(pprob);
    return rc;
}
