/* cmd_classify.c — `clipcl classify`: zero-shot classification as in the CLIP paper. Every
 * class name is put into every template, the normalized text embeddings of a class are
 * averaged and normalized again (prompt ensembling); an image's scores are the softmax over
 * classes of logit_scale × cosine. Class embeddings are cached on disk per model, labels and
 * templates, so later runs skip the text tower. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "hub.h"
#include "zeroshot.h"

#define CMD "classify"

static void help(FILE *f)
{
    fprintf(f,
            "usage: clipcl classify IMAGE|DIR... (--labels \"cat,dog,car\" | --labels-file FILE | --labelset NAME)\n"
            "                       [--template \"a photo of a {}.\"]... [--templates NAME | --templates-file FILE]\n"
            "                       [--top K] [--json | --csv] [--no-cache] [-m MODEL] [-d DEVICE] [--batch N] [-q]\n\n"
            "Zero-shot classification: each class's prompts (every template filled with every class name)\n"
            "are embedded, averaged and normalized; an image's probabilities are the softmax over classes\n"
            "of logit_scale x cosine similarity.\n\n"
            "  --labels L          comma-separated class names\n"
            "  --labels-file F     one class name per line (blank lines skipped)\n"
            "  --labelset NAME     a built-in label set (OpenAI's prompts: imagenet, cifar10, cifar100, ...);\n"
            "                      'list' shows them. Its own templates are used unless others are given.\n"
            "  --template T        a prompt template with one {} (repeatable; default \"a photo of a {}.\")\n"
            "  --templates NAME    a built-in template set: simple, imagenet80, imagenet7, or a label set's\n"
            "                      name for its templates; 'list' shows them\n"
            "  --templates-file F  one template per line\n"
            "  --top K             classes shown per image (default 5)\n"
            "  --json              one JSON object per image {\"image\", \"scores\", \"top\"} (an array for several)\n"
            "  --csv               image,rank,label,probability rows\n"
            "  --no-cache          recompute class embeddings (the cache lives under $XDG_CACHE_HOME/clipcl/classes)\n"
            CLI_COMMON_HELP);
}


int cmd_classify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"labels", required_argument, 0, 'L'},    {"labels-file", required_argument, 0, 'F'},
        {"labelset", required_argument, 0, 'S'},  {"template", required_argument, 0, 't'},
        {"templates", required_argument, 0, 'T'}, {"templates-file", required_argument, 0, 'X'},
        {"top", required_argument, 0, 'k'},       {"json", no_argument, 0, 'j'},
        {"csv", no_argument, 0, 'c'},             {"no-cache", no_argument, 0, 'n'},
        {"help", no_argument, 0, 'h'},            CLI_COMMON_LONGOPTS,
        {0, 0, 0, 0}};
    cli_opts o = {0};
    const char *labels = NULL, *labels_file = NULL, *labelset = NULL, *tset = NULL, *tfile = NULL;
    const char *user_t[64];
    int n_user_t = 0, top = 5, use_cache = 1, rc = 2;
    zs_fmt fmt = ZS_TEXT;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "h", opts, NULL)) != -1) {
        int r = cli_common_opt(CMD, c, optarg, &o);
        if (r >= 0) {
            if (r) return r;
            continue;
        }
        char *end;
        switch (c) {
        case 'L': labels = optarg; break;
        case 'F': labels_file = optarg; break;
        case 'S': labelset = optarg; break;
        case 't':
            if (n_user_t == 64) return cli_fail(2, CMD, "at most 64 --template options (use --templates-file)");
            user_t[n_user_t++] = optarg;
            break;
        case 'T': tset = optarg; break;
        case 'X': tfile = optarg; break;
        case 'k':
            top = (int)strtol(optarg, &end, 10);
            if (*end || top < 1) return cli_fail(2, CMD, "--top '%s' must be a positive number", optarg);
            break;
        case 'j': fmt = ZS_JSON; break;
        case 'c': fmt = ZS_CSV; break;
        case 'n': use_cache = 0; break;
        case 'h': help(stdout); return 0;
        default: help(stderr); return 2;
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
    if (!!labels + !!labels_file + !!labelset != 1)
        return cli_fail(2, CMD, "give exactly one of --labels, --labels-file or --labelset (see --help)");
    if (!!n_user_t + !!tset + !!tfile > 1)
        return cli_fail(2, CMD, "give templates with only one of --template, --templates or --templates-file");
    if (optind >= argc) return cli_fail(2, CMD, "no image given (see --help)");

    zs_classes cls = {0};
    char **images = NULL, *text = NULL;
    int n_images = 0;
    float *cemb = NULL, *iemb = NULL;
    double *prob = NULL;
    int *order = NULL;
    cli_session s = {0};

    /* classes */
    if (labelset) {
        const lbl_set *ls = lbl_find(labelset);
        if (!ls) {
            rc = cli_fail(2, CMD, "unknown label set '%s' (clipcl classify --labelset list shows them)", labelset);
            goto done;
        }
        if ((rc = zs_set_builtin_labels(CMD, &cls, ls))) goto done;
        if (!n_user_t && !tset && !tfile && (rc = zs_set_templates(CMD, &cls, ls->templates, ls->n_templates)))
            goto done;
    } else {
        char **v;
        int n;
        if (labels) {
            if (!(text = strdup(labels))) { rc = cli_fail(2, CMD, "out of memory"); goto done; }
            if ((rc = zs_split(CMD, "labels", text, ',', &v, &n, ZS_MAX_CLASSES))) goto done;
        } else if ((rc = cli_read_file(CMD, labels_file, ZS_MAX_LIST_BYTES, &text, NULL)) ||
                   (rc = zs_split(CMD, "labels", text, '\n', &v, &n, ZS_MAX_CLASSES))) {
            goto done;
        }
        if (n == 0) {
            cli_free_strings(v, n);
            rc = cli_fail(2, CMD, "the label list is empty");
            goto done;
        }
        if ((rc = zs_set_user_labels(CMD, &cls, v, n))) goto done;
    }
    free(text);
    text = NULL;
    /* templates */
    if ((rc = zs_choose_templates(CMD, &cls, user_t, n_user_t, tset, tfile))) goto done;

    if ((rc = cli_collect_images(CMD, argv + optind, argc - optind, &images, &n_images))) goto done;
    if (!n_images) {
        rc = cli_fail(2, CMD, "no image files found");
        goto done;
    }
    if ((rc = cli_open(CMD, &o, 1, 1, &s))) goto done;
    const int E = clipcl_model_embed_dim(s.model);
    cemb = malloc((size_t)cls.n * E * sizeof *cemb);
    iemb = malloc((size_t)n_images * E * sizeof *iemb);
    prob = malloc((size_t)cls.n * sizeof *prob);
    order = malloc((size_t)cls.n * sizeof *order);
    if (!cemb || !iemb || !prob || !order) {
        rc = cli_fail(2, CMD, "out of memory");
        goto done;
    }
    if ((rc = zs_class_embeddings(CMD, &s, &o, &cls, use_cache, cemb)) ||
        (rc = cli_embed_images(CMD, &s, &o, images, n_images, iemb)))
        goto done;
    const double scale = clipcl_model_logit_scale(s.model);
    if (fmt == ZS_CSV) puts("image,rank,label,probability");
    for (int i = 0; i < n_images; i++) {
        zs_probs(iemb + (size_t)i * E, cemb, cls.n, E, scale, prob);
        zs_print_image(fmt, images[i], cls.label, cls.n, prob, order, top, i == 0, n_images > 1);
    }
    if (fmt == ZS_JSON && n_images > 1) fputs("\n]\n", stdout);
    rc = fflush(stdout) ? cli_fail(2, CMD, "writing the output failed: %s", strerror(errno)) : 0;
done:
    cli_close(&s);
    zs_classes_free(&cls);
    cli_free_strings(images, n_images);
    free(text), free(cemb), free(iemb), free(prob), free(order);
    return rc;
}
