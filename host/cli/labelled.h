/* labelled.h — labelled image folders (one sub-folder per class) for `probe train` and
 * `eval`, and the on-disk cache of their image embeddings.
 *
 * A labelled folder DIR holds one sub-folder per class, named after the class; every image
 * under a class folder (recursively; image extensions only, hidden files skipped) is an
 * example of it. Images directly in DIR belong to no class and are left out (counted).
 *
 * Embedding cache: $XDG_CACHE_HOME/clipcl/embeddings/<hash>.idx, one file per (model, DIR),
 * in the index format of index_file.h (so `clipcl search` could even read it). A row is
 * reused when the image's path relative to DIR, its size and its mtime are unchanged and the
 * model identity (folder, weights size and mtime, width) is the same; anything else is
 * embedded again. The cache is an optimization: when it cannot be read or written the
 * images are simply embedded. */
#ifndef CLIPCL_CLI_LABELLED_H
#define CLIPCL_CLI_LABELLED_H

#include "common.h"
#include "labelsets.h"
#include "zeroshot.h"

#define LF_MAX_CLASSES 100000
#define LF_MAX_IMAGES (1 << 24)

typedef struct lf_set {
    char root[4096];         /* DIR as given */
    int n_classes;
    char **class_name;       /* sub-folder names, strcmp order */
    int n;                   /* images, grouped by class in class order, paths sorted within */
    char **path;             /* "DIR/class/..." */
    int *label;              /* class index of each image */
    int n_loose;             /* image files directly in DIR (ignored) */
} lf_set;

/* Lists DIR's classes and images. Errors (printed, return 2): DIR unreadable, no class
 * folder, more than LF_MAX_CLASSES classes or LF_MAX_IMAGES images. Empty class folders are
 * kept (n images per class may be 0): the caller decides. */
int lf_scan(const char *cmd, const char *dir, lf_set *out);
void lf_free(lf_set *s);

/* Embeddings (L2-normalized, m × E) of the images which[0..m-1] (indices into s->path),
 * from the cache where valid, the rest computed on the session's model; the cache is then
 * updated. use_cache = 0 skips reading it (it is still rewritten). Returns 0 or the exit code
 * after printing an error (an image that cannot be decoded is an error naming it). */
int lf_embed(const char *cmd, cli_session *sess, const cli_opts *o, const lf_set *s, const int *which, int m,
             int use_cache, float *emb);

/* Whether a folder name stands for a class name: equal ignoring ASCII case and reading '_'
 * as ' ' ("golden_retriever" is "Golden retriever"). */
int lf_name_matches(const char *folder, const char *name);

/* For each class folder, the index of the class it names among n classes (a match on the
 * label, or on any of names[k] when names is given; the first match wins). Folders that name
 * no class are an error listing them (printed, returns 2); what says where the classes come
 * from ("label set CIFAR10", "probe p.bin"). */
int lf_map_folders(const char *cmd, const lf_set *s, char *const *label, char **const *names, int n, const char *what,
                   int *map);

/* Zero-shot classes for the class folders, in folder order: labels are the folder names;
 * the names put into the templates are the matched label-set class's names when ls is given
 * (every folder must match one), else the folder name with '_' turned into ' '. Templates are
 * left unset. */
int lf_folder_classes(const char *cmd, const lf_set *s, const lbl_set *ls, zs_classes *out);

#endif
