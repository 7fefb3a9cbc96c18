/* zeroshot.c — zero-shot classes and class embeddings (see zeroshot.h); moved here from
 * cmd_classify.c so that eval and probe share them. */
#include "zeroshot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "hub.h"

void zs_classes_free(zs_classes *c)
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
int zs_split(const char *cmd, const char *what, char *text, char sep, char ***out, int *n, int max)
{
    int cap = 16, cnt = 0;
    char **v = malloc((size_t)cap * sizeof *v);
    if (!v) return cli_fail(2, cmd, "out of memory");
    for (char *p = text; p;) {
        char *next = strchr(p, sep);
        if (next) *next++ = '\0';
        char *t = trim(p);
        p = next;
        if (!*t) continue;
        if (cnt == max) {
            cli_free_strings(v, cnt);
            return cli_fail(2, cmd, "more than %d %s", max, what);
        }
        if (cnt == cap) {
            char **nv = realloc(v, (size_t)(cap *= 2) * sizeof *v);
            if (!nv) { cli_free_strings(v, cnt); return cli_fail(2, cmd, "out of memory"); }
            v = nv;
        }
        if (!(v[cnt] = strdup(t))) { cli_free_strings(v, cnt); return cli_fail(2, cmd, "out of memory"); }
        cnt++;
    }
    *out = v;
    *n = cnt;
    return 0;
}

int zs_set_user_labels(const char *cmd, zs_classes *c, char **labels, int n)
{
    c->n = n;
    c->label = labels;
    c->names = calloc((size_t)n, sizeof *c->names);
    if (!c->names) return cli_fail(2, cmd, "out of memory");
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < i; j++)
            if (!strcmp(labels[i], labels[j])) return cli_fail(2, cmd, "label '%s' is given twice", labels[i]);
        c->names[i] = calloc(2, sizeof(char *));
        if (!c->names[i] || !(c->names[i][0] = strdup(labels[i]))) return cli_fail(2, cmd, "out of memory");
    }
    return 0;
}

int zs_set_builtin_labels(const char *cmd, zs_classes *c, const lbl_set *s)
{
    c->n = s->n_classes;
    c->label = calloc((size_t)c->n, sizeof *c->label);
    c->names = calloc((size_t)c->n, sizeof *c->names);
    if (!c->label || !c->names) return cli_fail(2, cmd, "out of memory");
    for (int i = 0; i < c->n; i++) {
        int k = lbl_n_synonyms(s, i), dup = 1;
        c->names[i] = calloc((size_t)k + 1, sizeof(char *));
        if (!c->names[i]) return cli_fail(2, cmd, "out of memory");
        for (int j = 0; j < k; j++)
            if (!(c->names[i][j] = strdup(s->classes[i][j]))) return cli_fail(2, cmd, "out of memory");
        /* OpenAI's ImageNet list repeats a few names; keep printed labels unique */
        for (int j = 0; j < i; j++)
            if (!strcmp(s->classes[j][0], s->classes[i][0])) dup++;
        char buf[1024];
        if (dup > 1) snprintf(buf, sizeof buf, "%s (%d)", s->classes[i][0], dup);
        else snprintf(buf, sizeof buf, "%s", s->classes[i][0]);
        if (!(c->label[i] = strdup(buf))) return cli_fail(2, cmd, "out of memory");
    }
    return 0;
}

int zs_set_templates(const char *cmd, zs_classes *c, const char *const *t, int n)
{
    c->templates = calloc((size_t)n, sizeof *c->templates);
    if (!c->templates) return cli_fail(2, cmd, "out of memory");
    for (int i = 0; i < n; i++) {
        if (lbl_template_check(t[i], NULL)) return cli_fail(2, cmd, "template \"%s\": %s", t[i], clipcl_errmsg());
        if (!(c->templates[i] = strdup(t[i]))) return cli_fail(2, cmd, "out of memory");
        c->n_templates = i + 1;
    }
    return 0;
}

int zs_choose_templates(const char *cmd, zs_classes *c, const char *const *user_t, int n_user_t, const char *tset,
                        const char *tfile)
{
    if (!!n_user_t + !!tset + !!tfile > 1)
        return cli_fail(2, cmd, "give templates with only one of --template, --templates or --templates-file");
    if (n_user_t) return zs_set_templates(cmd, c, user_t, n_user_t);
    if (tset) {
        int n;
        const char *const *t = lbl_templates_find(tset, &n);
        return t ? zs_set_templates(cmd, c, t, n)
                 : cli_fail(2, cmd, "unknown template set '%s' (clipcl %s --templates list shows them)", tset, cmd);
    }
    if (tfile) {
        char **v, *text = NULL;
        int n, rc;
        if (!(rc = cli_read_file(cmd, tfile, ZS_MAX_LIST_BYTES, &text, NULL)) &&
            !(rc = zs_split(cmd, "templates", text, '\n', &v, &n, ZS_MAX_TEMPLATES))) {
            rc = n ? zs_set_templates(cmd, c, (const char *const *)v, n) : cli_fail(2, cmd, "%s: no template", tfile);
            cli_free_strings(v, n);
        }
        free(text);
        return rc;
    }
    if (c->n_templates) return 0;
    const char *simple[1] = {"a photo of a {}."};
    return zs_set_templates(cmd, c, simple, 1);
}

void zs_list_labelsets(void)
{
    printf("%-34s %8s %10s\n", "label set", "classes", "templates");
    for (int i = 0; i < lbl_count(); i++) {
        const lbl_set *s = lbl_get(i);
        printf("%-34s %8d %10d\n", s->name, s->n_classes, s->n_templates);
    }
}

void zs_list_templatesets(const char *cmd)
{
    for (int i = 0; i < lbl_tset_count(); i++) {
        const lbl_tset *t = lbl_tset_get(i);
        printf("%-12s %3d  %s\n", t->name, t->n_templates, t->note);
    }
    printf("(any label set's name gives that dataset's own templates: clipcl %s --labelset list)\n", cmd);
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
static char *cache_key(const cli_session *s, const zs_classes *c, size_t *len)
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
int zs_class_embeddings(const char *cmd, cli_session *s, const cli_opts *o, const zs_classes *c, int use_cache, float *out)
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
    if (!texts || !emb) rc = cli_fail(2, cmd, "out of memory for %d prompts", total);
    for (int i = 0; i < c->n && !rc; i++)
        for (char **p = c->names[i]; *p && !rc; p++)
            for (int j = 0; j < c->n_templates && !rc; j++) {
                size_t fixed;
                lbl_template_check(c->templates[j], &fixed);
                size_t cap = fixed + strlen(*p) + 1;
                if (!(texts[t] = malloc(cap))) rc = cli_fail(2, cmd, "out of memory");
                else if (lbl_fill(c->templates[j], *p, texts[t++], cap)) rc = cli_lib_fail(cmd, "filling a template", 1);
            }
    if (!rc) rc = cli_embed_texts(cmd, s, o, (const char *const *)texts, total, emb);
    for (int i = 0, k = 0; i < c->n && !rc; i++) {
        double acc[8192] = {0}, *a = E <= 8192 ? acc : NULL;
        if (!a) { rc = cli_fail(2, cmd, "embedding width %d too large", E); break; }
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

/* ---------------------------------------------------------------- scores and output */

void zs_probs(const float *image_emb, const float *class_emb, int n, int E, double scale, double *prob)
{
    double mx = -INFINITY, sum = 0;
    for (int k = 0; k < n; k++) {
        double d = 0;
        for (int e = 0; e < E; e++) d += (double)image_emb[e] * class_emb[(size_t)k * E + e];
        prob[k] = scale * d;
        if (prob[k] > mx) mx = prob[k];
    }
    for (int k = 0; k < n; k++) sum += (prob[k] = exp(prob[k] - mx));
    for (int k = 0; k < n; k++) prob[k] /= sum;
}


static int cmp_prob_desc(const void *a, const void *b, void *probs)
{
    const double *p = probs;
    double x = p[*(const int *)a], y = p[*(const int *)b];
    return x < y ? 1 : x > y ? -1 : (*(const int *)a - *(const int *)b);
}

void zs_rank(const double *prob, int n, int *order)
{
    for (int i = 0; i < n; i++) order[i] = i;
    qsort_r(order, (size_t)n, sizeof *order, cmp_prob_desc, (void *)prob);
}

void zs_print_image(zs_fmt fmt, const char *path, char *const *label, int n, const double *prob, int *order, int top,
                    int first, int several)
{
    zs_rank(prob, n, order);
    if (top > n) top = n;
    if (fmt == ZS_TEXT) {
        printf("%s\n", path);
        for (int k = 0; k < top; k++) printf("  %.4f  %s\n", prob[order[k]], label[order[k]]);
    } else if (fmt == ZS_CSV) {
        for (int k = 0; k < top; k++) {
            cli_csv_str(stdout, path);
            printf(",%d,", k + 1);
            cli_csv_str(stdout, label[order[k]]);
            printf(",%.6g\n", prob[order[k]]);
        }
    } else {
        if (several) fputs(first ? "[\n" : ",\n", stdout);
        fputs("{\"image\": ", stdout);
        cli_json_str(stdout, path);
        fputs(", \"scores\": {", stdout);
        for (int i = 0; i < n; i++) {
            if (i) fputs(", ", stdout);
            cli_json_str(stdout, label[i]);
            printf(": %.6g", prob[i]);
        }
        fputs("}, \"top\": [", stdout);
        for (int k = 0; k < top; k++) {
            fputs(k ? ", [" : "[", stdout);
            cli_json_str(stdout, label[order[k]]);
            printf(", %.6g]", prob[order[k]]);
        }
        fputs("]}", stdout);
        if (!several) fputc('\n', stdout);
    }
}
