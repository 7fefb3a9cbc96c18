/* labelled.c — labelled image folders and their embedding cache (see labelled.h). */
#include "labelled.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "hub.h"
#include "index_file.h"
#include "npy.h"

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void lf_free(lf_set *s)
{
    cli_free_strings(s->class_name, s->n_classes);
    cli_free_strings(s->path, s->n);
    free(s->label);
    memset(s, 0, sizeof *s);
}

int lf_scan(const char *cmd, const char *dir, lf_set *out)
{
    memset(out, 0, sizeof *out);
    if (strlen(dir) >= sizeof out->root) return cli_fail(2, cmd, "%s: path too long", dir);
    strcpy(out->root, dir);
    DIR *d = opendir(dir);
    if (!d) return cli_fail(2, cmd, "%s: cannot read the folder: %s", dir, strerror(errno));
    const size_t dl = strlen(dir);
    const char *sep = dl && dir[dl - 1] == '/' ? "" : "/";
    int cap = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) && !rc) {
        if (e->d_name[0] == '.') continue;
        char p[PATH_MAX];
        struct stat sb;
        if ((size_t)snprintf(p, sizeof p, "%s%s%s", dir, sep, e->d_name) >= sizeof p || stat(p, &sb)) continue;
        if (S_ISREG(sb.st_mode)) {
            out->n_loose++;
            continue;
        }
        if (!S_ISDIR(sb.st_mode)) continue;
        if (out->n_classes == LF_MAX_CLASSES) {
            rc = cli_fail(2, cmd, "%s: more than %d class folders", dir, LF_MAX_CLASSES);
            break;
        }
        if (out->n_classes == cap) {
            cap = cap ? 2 * cap : 16;
            char **v = realloc(out->class_name, (size_t)cap * sizeof *v);
            if (!v) {
                rc = cli_fail(2, cmd, "out of memory");
                break;
            }
            out->class_name = v;
        }
        if (!(out->class_name[out->n_classes] = strdup(e->d_name))) rc = cli_fail(2, cmd, "out of memory");
        else out->n_classes++;
    }
    closedir(d);
    if (rc) goto fail;
    if (!out->n_classes) {
        rc = cli_fail(2, cmd, "%s: no class folders (DIR must hold one sub-folder of images per class)", dir);
        goto fail;
    }
    qsort(out->class_name, (size_t)out->n_classes, sizeof *out->class_name, cmp_str);
    int img_cap = 0;
    for (int c = 0; c < out->n_classes && !rc; c++) {
        char cdir[PATH_MAX], *cd = cdir, **paths = NULL;
        int np = 0;
        snprintf(cdir, sizeof cdir, "%s%s%s", dir, sep, out->class_name[c]);
        if ((rc = cli_collect_images(cmd, &cd, 1, &paths, &np))) break;
        if (np > LF_MAX_IMAGES - out->n) {
            cli_free_strings(paths, np);
            rc = cli_fail(2, cmd, "%s: more than %d images", dir, LF_MAX_IMAGES);
            break;
        }
        if (out->n + np > img_cap) {
            img_cap = 2 * (out->n + np) + 64;
            char **v = realloc(out->path, (size_t)img_cap * sizeof *v);
            int *l = v ? realloc(out->label, (size_t)img_cap * sizeof *l) : NULL;
            if (v) out->path = v;
            if (l) out->label = l;
            if (!v || !l) {
                cli_free_strings(paths, np);
                rc = cli_fail(2, cmd, "out of memory");
                break;
            }
        }
        for (int i = 0; i < np; i++) {
            out->path[out->n] = paths[i];
            out->label[out->n++] = c;
        }
        free(paths); /* the strings moved to out->path */
    }
    if (!rc) return 0;
fail:
    lf_free(out);
    return rc;
}

/* ------------------------------------------------------------------ embedding cache */

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001B3ull;
    return h;
}

/* mkdir -p */
static int make_dirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        int bad = mkdir(path, 0755) && errno != EEXIST;
        *p = '/';
        if (bad) return -1;
    }
    return mkdir(path, 0755) && errno != EEXIST ? -1 : 0;
}

static int cache_file(const char *model_path, const char *root, char *out, size_t cap)
{
    char base[PATH_MAX], key[2 * IDX_MAX_PATH + 64];
    if (hub_cache_root(base, sizeof base)) return -1;
    size_t n = strlen(base);
    if (n + 16 >= sizeof base) return -1;
    strcpy(base + n, "/embeddings");
    if (make_dirs(base)) return -1;
    snprintf(key, sizeof key, "clipcl embedding cache v1\nmodel %s\nroot %s\n", model_path, root);
    return (size_t)snprintf(out, cap, "%s/%016llx.idx", base, (unsigned long long)fnv1a(key)) < cap ? 0 : -1;
}

typedef struct row {
    const char *rel;
    uint64_t size;
    int64_t mtime_ns;
    const float *emb;
    int fresh;               /* embedded in this run: wins over an old row of the same path */
} row;

static int cmp_row(const void *a, const void *b)
{
    const row *x = a, *y = b;
    int c = strcmp(x->rel, y->rel);
    return c ? c : y->fresh - x->fresh;
}

static int cmp_entry_key(const void *key, const void *e) { return strcmp(key, ((const idx_entry *)e)->path); }

/* Rewrites the cache with the old rows still usable plus the fresh ones. Best effort. */
static void cache_store(const char *file, const idx_model_id *mid, const char *root, int E, const idx_index *old,
                        row *fresh, int nf)
{
    size_t n_old = old ? old->n : 0, n = 0;
    row *r = malloc((n_old + (size_t)nf + 1) * sizeof *r);
    idx_index nx = {0};
    npy_atomic a = {0};
    if (!r) return;
    for (size_t i = 0; i < n_old; i++)
        r[n++] = (row){old->entries[i].path, old->entries[i].size, old->entries[i].mtime_ns, old->emb + i * (size_t)E, 0};
    for (int i = 0; i < nf; i++) r[n++] = fresh[i];
    qsort(r, n, sizeof *r, cmp_row);
    nx.entries = malloc((n + 1) * sizeof *nx.entries);
    nx.emb = malloc((n + 1) * (size_t)E * sizeof *nx.emb);
    if (!nx.entries || !nx.emb) goto done;
    for (size_t i = 0; i < n; i++) {
        if (nx.n && !strcmp(nx.entries[nx.n - 1].path, r[i].rel)) continue; /* fresh sorts first */
        nx.entries[nx.n] = (idx_entry){(char *)r[i].rel, r[i].size, r[i].mtime_ns};
        memcpy(nx.emb + nx.n * E, r[i].emb, (size_t)E * sizeof *nx.emb);
        nx.n++;
    }
    nx.model = *mid;
    nx.embed_dim = E;
    snprintf(nx.root, sizeof nx.root, "%s", root);
    if (!npy_atomic_open(&a, file) && !idx_write(a.f, &nx)) npy_atomic_commit(&a);
done:
    npy_atomic_abort(&a);
    free(nx.entries);
    free(nx.emb);
    free(r);
}

int lf_embed(const char *cmd, cli_session *sess, const cli_opts *o, const lf_set *s, const int *which, int m,
             int use_cache, float *emb)
{
    const int E = clipcl_model_embed_dim(sess->model);
    idx_model_id mid;
    idx_index old = {0};
    char err[4400], root[PATH_MAX], file[PATH_MAX + 64];
    int have_id = !idx_model_identify(sess->model_dir, &mid, err, sizeof err);
    int have_root = realpath(s->root, root) && strlen(root) < IDX_MAX_PATH;
    int have_file = have_id && have_root && !cache_file(mid.path, root, file, sizeof file);
    int usable = 0;
    if (have_file && use_cache && idx_read(file, &old, err, sizeof err) == 0)
        usable = !strcmp(old.model.path, mid.path) && old.model.weights_size == mid.weights_size &&
                 old.model.weights_mtime_ns == mid.weights_mtime_ns && old.embed_dim == E && !strcmp(old.root, root);

    const size_t dl = strlen(s->root);
    char **todo = malloc(((size_t)m + 1) * sizeof *todo);
    int *slot = malloc(((size_t)m + 1) * sizeof *slot), nt = 0, rc = 0, nf = 0;
    row *fresh = malloc(((size_t)m + 1) * sizeof *fresh);
    float *tmp = NULL;
    if (!todo || !slot || !fresh) {
        rc = cli_fail(2, cmd, "out of memory");
        goto done;
    }
    for (int j = 0; j < m; j++) {
        const char *p = s->path[which[j]], *rel = p + dl;
        while (*rel == '/') rel++;
        struct stat sb;
        int cacheable = !strncmp(p, s->root, dl) && idx_path_ok(rel, strlen(rel)) && !stat(p, &sb);
        const idx_entry *e = cacheable && usable ? bsearch(rel, old.entries, old.n, sizeof *old.entries, cmp_entry_key)
                                                 : NULL;
        if (e && e->size == (uint64_t)sb.st_size && e->mtime_ns == idx_mtime_ns(&sb)) {
            memcpy(emb + (size_t)j * E, old.emb + (size_t)(e - old.entries) * E, (size_t)E * sizeof *emb);
            continue;
        }
        if (cacheable) fresh[nf++] = (row){rel, (uint64_t)sb.st_size, idx_mtime_ns(&sb), emb + (size_t)j * E, 1};
        todo[nt] = (char *)p;
        slot[nt++] = j;
    }
    if (nt) {
        if (!(tmp = malloc((size_t)nt * E * sizeof *tmp))) {
            rc = cli_fail(2, cmd, "out of memory for %d embeddings", nt);
            goto done;
        }
        if ((rc = cli_embed_images(cmd, sess, o, todo, nt, tmp))) goto done;
        for (int t = 0; t < nt; t++) memcpy(emb + (size_t)slot[t] * E, tmp + (size_t)t * E, (size_t)E * sizeof *emb);
    }
    if (have_file && (nf || !usable)) cache_store(file, &mid, root, E, usable ? &old : NULL, fresh, nf);
done:
    idx_free(&old);
    free(todo), free(slot), free(fresh), free(tmp);
    return rc;
}

/* ------------------------------------------------------------------ class names */

int lf_name_matches(const char *folder, const char *name)
{
    for (;; folder++, name++) {
        int a = (unsigned char)*folder, b = (unsigned char)*name;
        if (a == '_') a = ' ';
        if (b == '_') b = ' ';
        if (a >= 'A' && a <= 'Z') a += 32;
        if (b >= 'A' && b <= 'Z') b += 32;
        if (a != b) return 0;
        if (!a) return 1;
    }
}

int lf_map_folders(const char *cmd, const lf_set *s, char *const *label, char **const *names, int n, const char *what,
                   int *map)
{
    int bad = 0;
    char list[1024] = "";
    for (int c = 0; c < s->n_classes; c++) {
        map[c] = -1;
        for (int k = 0; k < n && map[c] < 0; k++) {
            if (lf_name_matches(s->class_name[c], label[k])) map[c] = k;
            for (char **p = names ? names[k] : NULL; p && *p && map[c] < 0; p++)
                if (lf_name_matches(s->class_name[c], *p)) map[c] = k;
        }
        if (map[c] >= 0) continue;
        size_t l = strlen(list);
        if (bad < 5 && l + strlen(s->class_name[c]) + 8 < sizeof list)
            snprintf(list + l, sizeof list - l, "%s'%s'", bad ? ", " : "", s->class_name[c]);
        bad++;
    }
    if (!bad) return 0;
    return cli_fail(2, cmd, "%s: %d class folder%s match%s no class of %s: %s%s", s->root, bad, bad == 1 ? "" : "s",
                    bad == 1 ? "es" : "", what, list, bad > 5 ? ", ..." : "");
}

int lf_folder_classes(const char *cmd, const lf_set *s, const lbl_set *ls, zs_classes *out)
{
    memset(out, 0, sizeof *out);
    const int n = s->n_classes;
    int *map = NULL, rc = 0;
    if (!(out->label = calloc((size_t)n, sizeof *out->label)) || !(out->names = calloc((size_t)n, sizeof *out->names)))
        return cli_fail(2, cmd, "out of memory");
    out->n = n;
    if (ls) {
        zs_classes all = {0};
        if (!(map = malloc((size_t)n * sizeof *map))) return cli_fail(2, cmd, "out of memory");
        char what[256];
        snprintf(what, sizeof what, "label set %s", ls->name);
        rc = zs_set_builtin_labels(cmd, &all, ls);
        if (!rc) rc = lf_map_folders(cmd, s, all.label, all.names, all.n, what, map);
        zs_classes_free(&all);
        if (rc) goto done;
    }
    for (int c = 0; c < n; c++) {
        if (!(out->label[c] = strdup(s->class_name[c]))) goto oom;
        int k = ls ? lbl_n_synonyms(ls, map[c]) : 1;
        if (!(out->names[c] = calloc((size_t)k + 1, sizeof(char *)))) goto oom;
        for (int j = 0; j < k; j++) {
            if (!(out->names[c][j] = strdup(ls ? ls->classes[map[c]][j] : s->class_name[c]))) goto oom;
            if (!ls)
                for (char *p = out->names[c][j]; *p; p++)
                    if (*p == '_') *p = ' ';
        }
    }
    goto done;
oom:
    rc = cli_fail(2, cmd, "out of memory");
done:
    free(map);
    return rc;
}
