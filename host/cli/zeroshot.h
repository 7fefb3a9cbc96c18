/* zeroshot.h — zero-shot classes, shared by classify, eval and probe: class names (a user
 * list or a built-in label set), prompt templates, the prompt-ensembled class embeddings
 * with their on-disk cache, zero-shot probabilities, and classify's output formats.
 *
 * Class embeddings, as in the CLIP paper: every name of a class is put into every template,
 * the normalized text embeddings are averaged and normalized again. They are cached under
 * $XDG_CACHE_HOME/clipcl/classes, keyed by the model (folder, weights size and mtime, width),
 * the templates and the class names. Functions taking cmd print their errors as
 * "clipcl <cmd>: ..." and return the exit code (0 ok, 2 bad input). */
#ifndef CLIPCL_CLI_ZEROSHOT_H
#define CLIPCL_CLI_ZEROSHOT_H

#include "common.h"
#include "labelsets.h"

#define ZS_MAX_CLASSES 100000
#define ZS_MAX_TEMPLATES 10000
#define ZS_MAX_LIST_BYTES (64u << 20)

typedef struct zs_classes {
    int n;
    char **label;            /* printed name (first synonym), unique */
    char ***names;           /* per class: NULL-terminated names put into the templates */
    int n_templates;
    char **templates;
} zs_classes;

void zs_classes_free(zs_classes *c);

/* Splits text on sep into trimmed, non-empty, malloc'd items (at most max). */
int zs_split(const char *cmd, const char *what, char *text, char sep, char ***out, int *n, int max);
/* Classes from n unique names; takes ownership of labels (freed by zs_classes_free). */
int zs_set_user_labels(const char *cmd, zs_classes *c, char **labels, int n);
/* Every class of a built-in label set, with its synonyms (not its templates). */
int zs_set_builtin_labels(const char *cmd, zs_classes *c, const lbl_set *s);
/* Checks and copies n templates. */
int zs_set_templates(const char *cmd, zs_classes *c, const char *const *t, int n);
/* Templates from at most one of: user_t (n_user_t > 0), a template set's name, a file of one
 * template per line. With none, keeps templates already set, else "a photo of a {}.". */
int zs_choose_templates(const char *cmd, zs_classes *c, const char *const *user_t, int n_user_t, const char *tset,
                        const char *tfile);

/* Listings for "--labelset list" and "--templates list". */
void zs_list_labelsets(void);
void zs_list_templatesets(const char *cmd);

/* Class embeddings [c->n, E] (L2-normalized): from the cache, or computed and cached. */
int zs_class_embeddings(const char *cmd, cli_session *s, const cli_opts *o, const zs_classes *c, int use_cache,
                        float *out);

/* Zero-shot probabilities of one image: softmax over the n classes of scale × cosine. */
void zs_probs(const float *image_emb, const float *class_emb, int n, int E, double scale, double *prob);

/* order := the classes by decreasing probability (ties: lower index first). */
void zs_rank(const double *prob, int n, int *order);

typedef enum { ZS_TEXT, ZS_JSON, ZS_CSV } zs_fmt;

/* Prints one image's result as classify does. Text: the path, then "  prob  label" lines;
 * CSV: image,rank,label,probability rows (the caller prints the header); JSON:
 * {"image": PATH, "scores": {LABEL: P, ...}, "top": [[LABEL, P], ...]}, inside a "[ ... ]"
 * array when several (first opens it; the caller closes it with "\n]\n"). order is scratch
 * of n ints. */
void zs_print_image(zs_fmt fmt, const char *path, char *const *label, int n, const double *prob, int *order, int top,
                    int first, int several);

#endif
