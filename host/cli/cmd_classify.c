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
#include "labelsets.h"

#define CMD "classify"
#define MAX_CLASSES 100000
#define MAX_TEMPLATES 10000
#define MAX_LIST_BYTES (64u << 20)

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

typedef struct classes {
    int n;
    char **label;            /* printed name (first synonym), unique */
    char ***names;           /* per class: NULL-terminated synonyms */
    int n_templates;
    char **templates;
} classes;

static void classes_free(classes *c)
{
    for (int i = 0; i < c->n; i++) {
        free(c->label[i]);
        if (c->names && c->names[i]) {
            for (char **p = c->names[i]; *p; p++) free(*p);
            free(c->names[i]);
        }
    }
    free(c->label);
    free(c->names);
    cli_free_strings(c->templates, c->n_templates);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = '\0';
    return s;
}

/* Splits text on sep into trimmed, non-empty items. */
static int split(const char *what, char *text, char sep, char ***out, int *n, int max)
{
    int cap = 16, cnt = 0;
    char **v = malloc((size_t)cap * sizeof *v);
    if (!v) return cli_fail(2, CMD, "out of memory");
    for (char *p = text; p;) {
        char *next = strchr(p, sep);
        if (next) *next++ = '\0';
        char *t = trim(p);
        p = next;
        if (!*t) continue;
        if (cnt == max) {
            cli_free_strings(v, cnt);
            return cli_fail(2, CMD, "more than %d %s", max, what);
        }
        if (cnt == cap) {
            char **nv = realloc(v, (size_t)(cap *= 2) * sizeof *v);
            if (!nv) { cli_free_strings(v, cnt); return cli_fail(2, CMD, "out of memory"); }
            v = nv;
        }
        if (!(v[cnt] = strdup(t))) { cli_free_strings(v, cnt); return cli_fail(2, CMD, "out of memory"); }
        cnt++;
    }
    *out = v;
    *n = cnt;
    return 0;
}

static int set_user_labels(classes *c, char **labels, int n)
{
    c->n = n;
    c->label = labels;
    c->names = calloc((size_t)n, sizeof *c->names);
    if (!c->names) return cli_fail(2, CMD, "out of memory");
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < i; j++)
            if (!strcmp(labels[i], labels[j])) return cli_fail(2, CMD, "label '%s' is given twice", labels[i]);
        c->names[i] = calloc(2, sizeof(char *));
        if (!c->names[i] || !(c->names[i][0] = strdup(labels[i]))) return cli_fail(2, CMD, "out of memory");
    }
    return 0;
}

static int set_builtin_labels(classes *c, const lbl_set *s)
{
    c->n = s->n_classes;
    c->label = calloc((size_t)c->n, sizeof *c->label);
    c->names = calloc((size_t)c->n, sizeof *c->names);
    if (!c->label || !c->names) return cli_fail(2, CMD, "out of memory");
    for (int i = 0; i < c->n; i++) {
        int k = lbl_n_synonyms(s, i), dup = 1;
        c->names[i] = calloc((size_t)k + 1, sizeof(char *));
        if (!c->names[i]) return cli_fail(2, CMD, "out of memory");
        for (int j = 0; j < k; j++)
            if (!(c->names[i][j] = strdup(s->classes[i][j]))) return cli_fail(2, CMD, "out of memory");
        /* OpenAI's ImageNet list repeats a few names; keep printed labels unique */
        for (int j = 0; j < i; j++)
            if (!strcmp(s->classes[j][0], s->classes[i][0])) dup++;
        char buf[1024];
        if (dup > 1) snprintf(buf, sizeof buf, "%s (%d)", s->classes[i][0], dup);
        else snprintf(buf, sizeof buf, "%s", s->classes[i][0]);
        if (!(c->label[i] = strdup(buf))) return cli_fail(2, CMD, "out of memory");
    }
    return 0;
}

static int set_templates(classes *c, const char *const *t, int n)
{
    c->templates = calloc((size_t)n, sizeof *c->templates);
    if (!c->templates) return cli_fail(2, CMD, "out of memory");
    for (int i = 0; i < n; i++) {
        if (lbl_template_check(t[i], NULL)) return cli_fail(2, CMD, "template \"%s\": %s", t[i], clipcl_errmsg());
        if (!(c->templates[i] = strdup(t[i]))) return cli_fail(2, CMD, "out of memory");
        c->n_templates = i + 1;
    }
    return 0;
}

static void list_labelsets(void)
{
    printf("%-34s %8s %10s\n", "label set", "classes", "templates");
    for (int i = 0; i < lbl_count(); i++) {
        const lbl_set *s = lbl_get(i);
        printf("%-34s %8d %10d\n", s->name, s->n_classes, s->n_templates);
    }
}

static void list_templatesets(void)
{
    for (int i = 0; i < lbl_tset_count(); i++) {
        const lbl_tset *t = lbl_tset_get(i);
        printf("%-12s %3d  %s\n", t->name, t->n_templates, t->note);
    }
    printf("(any label set's name gives that dataset's own templates: clipcl classify --labelset list)\n");
}

/* ---------------------------------------------------------------- class-embedding cache */

#define CACHE_MAGIC "CLIPCLCE"
#define CACHE_VERSION 1u

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001B3ull;
    return h;
}

/* The cache key: everything the class embeddings depend on. */
static char *cache_key(const cli_session *s, const classes *c, size_t *len)
{
    char weights[4200], absdir[4096];
    struct stat sb = {0};
    if (!realpath(s->model_dir, absdir)) snprintf(absdir, sizeof absdir, "%s", s->model_dir);
    snprintf(weights, sizeof weights, "%s/model.safetensors", s->model_dir);
    stat(weights, &sb);
    size_t cap = 8192;
    for (int i = 0; i < c->n_templates; i++) cap += strlen(c->templates[i]) + 1;
    for (int i = 0; i < c->n; i++)
        for (char **p = c->names[i]; *p; p++) cap += strlen(*p) + 2;
    char *k = malloc(cap);
    if (!k) return NULL;
    size_t o = (size_t)snprintf(k, cap, "clipcl class embeddings v%u\nmodel %s\nweights %lld %lld.%09ld\nE %d\n",
                                CACHE_VERSION, absdir, (long long)sb.st_size, (long long)sb.st_mtim.tv_sec,
                                sb.st_mtim.tv_nsec, clipcl_model_embed_dim(s->model));
    for (int i = 0; i < c->n_templates; i++) o += (size_t)snprintf(k + o, cap - o, "T %s\n", c->templates[i]);
    for (int i = 0; i < c->n; i++) {
        o += (size_t)snprintf(k + o, cap - o, "C");
        for (char **p = c->names[i]; *p; p++) o += (size_t)snprintf(k + o, cap - o, "\t%s", *p);
        o += (size_t)snprintf(k + o, cap - o, "\n");
    }
    *len = o;
    return k;
}

static int cache_path(const char *key, size_t len, char *out, size_t cap)
{
    char root[4096];
    if (hub_cache_root(root, sizeof root)) return -1;
    snprintf(out, cap, "%s/classes", root);
    if (mkdir(root, 0755) && errno != EEXIST) return -1;
    if (mkdir(out, 0755) && errno != EEXIST) return -1;
    size_t n = strlen(out);
    return (size_t)snprintf(out + n, cap - n, "/%016llx.bin", (unsigned long long)fnv1a(key, len)) < cap - n ? 0 : -1;
}

/* Loads cached embeddings; any mismatch or damage just means "not cached". */
static int cache_load(const char *path, const char *key, size_t klen, float *emb, size_t count)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char magic[8];
    uint32_t ver;
    uint64_t kl, cnt;
    int ok = fread(magic, 1, 8, f) == 8 && !memcmp(magic, CACHE_MAGIC, 8) && fread(&ver, 4, 1, f) == 1 &&
             ver == CACHE_VERSION && fread(&kl, 8, 1, f) == 1 && kl == klen && fread(&cnt, 8, 1, f) == 1 &&
             cnt == count;
    char *k = ok ? malloc(klen) : NULL;
    ok = ok && k && fread(k, 1, klen, f) == klen && !memcmp(k, key, klen) && fread(emb, sizeof(float), count, f) == count &&
         fgetc(f) == EOF;
    free(k);
    fclose(f);
    for (size_t i = 0; ok && i < count; i++) ok = isfinite(emb[i]);
    return ok ? 0 : -1;
}

static void cache_store(const char *path, const char *key, size_t klen, const float *emb, size_t count)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return; /* a cache is an optimization: failing to write it is not an error */
    uint32_t ver = CACHE_VERSION;
    uint64_t kl = klen, cnt = count;
    int ok = fwrite(CACHE_MAGIC, 1, 8, f) == 8 && fwrite(&ver, 4, 1, f) == 1 && fwrite(&kl, 8, 1, f) == 1 &&
             fwrite(&cnt, 8, 1, f) == 1 && fwrite(key, 1, klen, f) == klen &&
             fwrite(emb, sizeof(float), count, f) == count;
    if (fclose(f) || !ok || rename(tmp, path)) unlink(tmp);
}

/* Class embeddings [n, E]: from the cache, or computed (and cached). */
static int class_embeddings(cli_session *s, const cli_opts *o, const classes *c, int use_cache, float *out)
{
    const int E = clipcl_model_embed_dim(s->model);
    size_t klen = 0;
    char *key = cache_key(s, c, &klen), path[4400];
    int have_path = key && !cache_path(key, klen, path, sizeof path);
    if (use_cache && have_path && !cache_load(path, key, klen, out, (size_t)c->n * E)) {
        free(key);
        return 0;
    }
    /* every (synonym, template) text of every class */
    int total = 0;
    for (int i = 0; i < c->n; i++)
        for (char **p = c->names[i]; *p; p++) total += c->n_templates;
    char **texts = calloc((size_t)total, sizeof *texts);
    float *emb = malloc((size_t)total * E * sizeof *emb);
    int rc = 0, t = 0;
    if (!texts || !emb) rc = cli_fail(2, CMD, "out of memory for %d prompts", total);
    for (int i = 0; i < c->n && !rc; i++)
        for (char **p = c->names[i]; *p && !rc; p++)
            for (int j = 0; j < c->n_templates && !rc; j++) {
                size_t fixed;
                lbl_template_check(c->templates[j], &fixed);
                size_t cap = fixed + strlen(*p) + 1;
                if (!(texts[t] = malloc(cap))) rc = cli_fail(2, CMD, "out of memory");
                else if (lbl_fill(c->templates[j], *p, texts[t++], cap)) rc = cli_lib_fail(CMD, "filling a template", 1);
            }
    if (!rc) rc = cli_embed_texts(CMD, s, o, (const char *const *)texts, total, emb);
    for (int i = 0, k = 0; i < c->n && !rc; i++) {
        double acc[8192] = {0}, *a = E <= 8192 ? acc : NULL;
        if (!a) { rc = cli_fail(2, CMD, "embedding width %d too large", E); break; }
        int cnt = 0;
        for (char **p = c->names[i]; *p; p++)
            for (int j = 0; j < c->n_templates; j++, k++, cnt++)
                for (int e = 0; e < E; e++) a[e] += emb[(size_t)k * E + e];
        double norm = 0;
        for (int e = 0; e < E; e++) norm += (a[e] / cnt) * (a[e] / cnt);
        norm = sqrt(norm);
        for (int e = 0; e < E; e++) out[(size_t)i * E + e] = (float)(norm > 0 ? a[e] / cnt / norm : 0);
    }
    if (!rc && have_path) cache_store(path, key, klen, out, (size_t)c->n * E);
    cli_free_strings(texts, total);
    free(emb);
    free(key);
    return rc;
}

/* ---------------------------------------------------------------- output */

typedef enum { OUT_TEXT, OUT_JSON, OUT_CSV } out_fmt;

static int cmp_prob_desc(const void *a, const void *b, void *probs)
{
    const double *p = probs;
    double x = p[*(const int *)a], y = p[*(const int *)b];
    return x < y ? 1 : x > y ? -1 : (*(const int *)a - *(const int *)b);
}

static void print_image(out_fmt fmt, const char *path, const classes *c, const double *prob, int *order, int top,
                        int first, int several)
{
    for (int i = 0; i < c->n; i++) order[i] = i;
    qsort_r(order, (size_t)c->n, sizeof *order, cmp_prob_desc, (void *)prob);
    if (top > c->n) top = c->n;
    if (fmt == OUT_TEXT) {
        printf("%s\n", path);
        for (int k = 0; k < top; k++) printf("  %.4f  %s\n", prob[order[k]], c->label[order[k]]);
    } else if (fmt == OUT_CSV) {
        for (int k = 0; k < top; k++) {
            cli_csv_str(stdout, path);
            printf(",%d,", k + 1);
            cli_csv_str(stdout, c->label[order[k]]);
            printf(",%.6g\n", prob[order[k]]);
        }
    } else {
        if (several) fputs(first ? "[\n" : ",\n", stdout);
        fputs("{\"image\": ", stdout);
        cli_json_str(stdout, path);
        fputs(", \"scores\": {", stdout);
        for (int i = 0; i < c->n; i++) {
            if (i) fputs(", ", stdout);
            cli_json_str(stdout, c->label[i]);
            printf(": %.6g", prob[i]);
        }
        fputs("}, \"top\": [", stdout);
        for (int k = 0; k < top; k++) {
            fputs(k ? ", [" : "[", stdout);
            cli_json_str(stdout, c->label[order[k]]);
            printf(", %.6g]", prob[order[k]]);
        }
        fputs("]}", stdout);
        if (!several) fputc('\n', stdout);
    }
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
    out_fmt fmt = OUT_TEXT;
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
        case 'j': fmt = OUT_JSON; break;
        case 'c': fmt = OUT_CSV; break;
        case 'n': use_cache = 0; break;
        case 'h': help(stdout); return 0;
        default: help(stderr); return 2;
        }
    }
    if (labelset && !strcmp(labelset, "list")) {
        list_labelsets();
        return 0;
    }
    if (tset && !strcmp(tset, "list")) {
        list_templatesets();
        return 0;
    }
    if (!!labels + !!labels_file + !!labelset != 1)
        return cli_fail(2, CMD, "give exactly one of --labels, --labels-file or --labelset (see --help)");
    if (!!n_user_t + !!tset + !!tfile > 1)
        return cli_fail(2, CMD, "give templates with only one of --template, --templates or --templates-file");
    if (optind >= argc) return cli_fail(2, CMD, "no image given (see --help)");

    classes cls = {0};
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
        if ((rc = set_builtin_labels(&cls, ls))) goto done;
        if (!n_user_t && !tset && !tfile && (rc = set_templates(&cls, ls->templates, ls->n_templates))) goto done;
    } else {
        char **v;
        int n;
        if (labels) {
            if (!(text = strdup(labels))) { rc = cli_fail(2, CMD, "out of memory"); goto done; }
            if ((rc = split("labels", text, ',', &v, &n, MAX_CLASSES))) goto done;
        } else if ((rc = cli_read_file(CMD, labels_file, MAX_LIST_BYTES, &text, NULL)) ||
                   (rc = split("labels", text, '\n', &v, &n, MAX_CLASSES))) {
            goto done;
        }
        if (n == 0) {
            cli_free_strings(v, n);
            rc = cli_fail(2, CMD, "the label list is empty");
            goto done;
        }
        if ((rc = set_user_labels(&cls, v, n))) goto done;
    }
    free(text);
    text = NULL;
    /* templates */
    if (n_user_t) {
        rc = set_templates(&cls, user_t, n_user_t);
    } else if (tset) {
        int n;
        const char *const *t = lbl_templates_find(tset, &n);
        rc = t ? set_templates(&cls, t, n)
               : cli_fail(2, CMD, "unknown template set '%s' (clipcl classify --templates list shows them)", tset);
    } else if (tfile) {
        char **v;
        int n;
        if (!(rc = cli_read_file(CMD, tfile, MAX_LIST_BYTES, &text, NULL)) &&
            !(rc = split("templates", text, '\n', &v, &n, MAX_TEMPLATES))) {
            rc = n ? set_templates(&cls, (const char *const *)v, n) : cli_fail(2, CMD, "%s: no template", tfile);
            cli_free_strings(v, n);
        }
    } else if (!cls.n_templates) {
        const char *simple[1] = {"a photo of a {}."};
        rc = set_templates(&cls, simple, 1);
    }
    if (rc) goto done;

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
    if ((rc = class_embeddings(&s, &o, &cls, use_cache, cemb)) ||
        (rc = cli_embed_images(CMD, &s, &o, images, n_images, iemb)))
        goto done;
    const double scale = clipcl_model_logit_scale(s.model);
    if (fmt == OUT_CSV) puts("image,rank,label,probability");
    for (int i = 0; i < n_images; i++) {
        double mx = -INFINITY, sum = 0;
        for (int k = 0; k < cls.n; k++) {
            double d = 0;
            for (int e = 0; e < E; e++) d += (double)iemb[(size_t)i * E + e] * cemb[(size_t)k * E + e];
            prob[k] = scale * d;
            if (prob[k] > mx) mx = prob[k];
        }
        for (int k = 0; k < cls.n; k++) sum += (prob[k] = exp(prob[k] - mx));
        for (int k = 0; k < cls.n; k++) prob[k] /= sum;
        print_image(fmt, images[i], &cls, prob, order, top, i == 0, n_images > 1);
    }
    if (fmt == OUT_JSON && n_images > 1) fputs("\n]\n", stdout);
    rc = fflush(stdout) ? cli_fail(2, CMD, "writing the output failed: %s", strerror(errno)) : 0;
done:
    cli_close(&s);
    classes_free(&cls);
    cli_free_strings(images, n_images);
    free(text), free(cemb), free(iemb), free(prob), free(order);
    return rc;
}
