/* cmd_index.c — `clipcl index` (embed a folder of images once, incrementally on re-runs) and
 * `clipcl search` (exact cosine top-K over that index, by text or by image). The file format
 * and what identifies a model and an unchanged file are documented in index_file.h.
 *
 * Paths: the index keeps the folder's absolute path (its root) once and each image's path
 * relative to it; search prints root + "/" + relative path, so results can be opened from
 * any working directory. Re-indexing reuses rows only when the model identity and the root
 * are the same as in the existing index; otherwise every image is embedded again. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "common.h"
#include "hub.h"
#include "index_file.h"
#include "npy.h"

/* ------------------------------------------------------------------ shared */

static int bad_option(const char *cmd, char **argv)
{
    return cli_fail(2, cmd, "bad option or missing value: %s (see --help)", argv[optind - 1]);
}

/* Resolves a -m argument (or the index's own model when NULL) to a folder + identity. */
static int resolve_model(const char *cmd, const char *arg, char *dir, size_t cap, idx_model_id *id)
{
    char err[4200];
    if (hub_resolve_model(arg, 1, dir, cap)) return 2;
    if (idx_model_identify(dir, id, err, sizeof err)) return cli_fail(2, cmd, "%s", err);
    return 0;
}

static int same_model(const idx_model_id *a, const idx_model_id *b)
{
    return !strcmp(a->path, b->path) && a->weights_size == b->weights_size &&
           a->weights_mtime_ns == b->weights_mtime_ns;
}

/* ------------------------------------------------------------------ index */

#define ICMD "index"

static void index_help(FILE *f)
{
    fprintf(f,
            "usage: clipcl index DIR -o INDEX [-m MODEL] [-d DEVICE] [--batch N] [-q]\n\n"
            "Embeds every image under DIR (recursively; image extensions only, hidden files skipped)\n"
            "into INDEX, for `clipcl search`. When INDEX exists and was built from the same folder with\n"
            "the same model, only new or changed files (by path, size and mtime) are embedded and deleted\n"
            "ones dropped; the counts of added, updated, removed and kept images are printed. Without -m\n"
            "an existing INDEX's own model is used. Images that cannot be decoded are skipped with a\n"
            "warning. INDEX is replaced atomically (temp file + rename).\n\n"
            "  -o, --output INDEX  the index file\n" CLI_COMMON_HELP
            "\nExit status: 0 written, 2 bad usage or input (including a corrupt existing INDEX).\n");
}

typedef struct item {
    char *rel;               /* points into full */
    char *full;
    uint64_t size;
    int64_t mtime_ns;
    long old_row;            /* row in the old index to keep, or -1 to embed */
    int is_update, ok;
} item;

static int cmp_item(const void *a, const void *b) { return strcmp(((const item *)a)->rel, ((const item *)b)->rel); }

/* Embeds the items without an old row, batch by batch; an image that cannot be loaded is
 * reported and left out (ok = 0) rather than failing the whole folder. */
static int embed_new(cli_session *s, const cli_opts *o, item *it, size_t n, size_t todo, float *emb, int *skipped)
{
    const size_t npix = clipcl_model_pixels_per_image(s->model), E = (size_t)clipcl_model_embed_dim(s->model);
    const int B = o->batch ? o->batch : 32, S = clipcl_model_preproc(s->model)->size;
    uint8_t *pix = malloc((size_t)B * npix); /* the crops' bytes: clipcl_encode_images_rgb8 */
    float *out = malloc((size_t)B * E * sizeof *out);
    size_t *slot = malloc((size_t)B * sizeof *slot);
    int rc = 0;
    if (!pix || !out || !slot) {
        rc = cli_fail(2, ICMD, "out of memory for a batch of %d images", B);
        goto done;
    }
    cli_progress pr;
    cli_progress_start(&pr, "images", (long)todo, o->quiet);
    size_t i = 0;
    while (i < n && !rc) {
        int nb = 0;
        for (; i < n && nb < B; i++) {
            if (it[i].old_row >= 0) continue;
            clipcl_image *img = NULL;
            clipcl_status st = clipcl_image_load(it[i].full, &img);
            if (!st) st = clipcl_image_crop_rgb8(img, S, pix + (size_t)nb * npix);
            clipcl_image_free(img);
            if (st) {
                const char *msg = clipcl_errmsg();
                if (pr.shown) fputc('\n', stderr);
                fprintf(stderr, "clipcl index: skipping %s: %s\n", it[i].full, msg && *msg ? msg : clipcl_status_str(st));
                ++*skipped;
                cli_progress_add(&pr, 1);
                continue;
            }
            slot[nb++] = i;
        }
        if (!nb) continue;
        clipcl_status st = clipcl_encode_images_rgb8(s->model, pix, nb, out);
        if (st) {
            rc = cli_lib_fail(ICMD, "encoding images", st);
            break;
        }
        for (int j = 0; j < nb; j++) {
            memcpy(emb + slot[j] * E, out + (size_t)j * E, E * sizeof *out);
            it[slot[j]].ok = 1;
        }
        cli_progress_add(&pr, nb);
    }
    cli_progress_end(&pr);
done:
    free(pix);
    free(out);
    free(slot);
    return rc;
}

int cmd_index(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         CLI_COMMON_LONGOPTS,
                                         {0, 0, 0, 0}};
    cli_opts o = {0};
    const char *out = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "o:h", opts, NULL)) != -1) {
        int r = cli_common_opt(ICMD, c, optarg, &o);
        if (r >= 0) {
            if (r) return r;
            continue;
        }
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': index_help(stdout); return 0;
        default: return bad_option(ICMD, argv);
        }
    }
    if (optind >= argc) return cli_fail(2, ICMD, "no folder given (see --help)");
    if (argc - optind > 1) return cli_fail(2, ICMD, "one folder only; unexpected '%s'", argv[optind + 1]);
    if (!out) return cli_fail(2, ICMD, "no index file: give -o INDEX");
    const char *dir = argv[optind];

    idx_index old = {0}, nx = {0};
    item *it = NULL;
    char **paths = NULL, *mdir = NULL, err[4400], root[PATH_MAX];
    int np = 0, rc = 2, have_old = 0, reuse = 0, skipped = 0;
    size_t n = 0, added = 0, updated = 0, removed = 0, kept = 0;
    float *emb = NULL;
    npy_atomic fa = {0};
    cli_session s = {0};
    idx_model_id mid;
    struct stat sb;

    if (stat(dir, &sb) != 0) {
        rc = cli_fail(2, ICMD, "%s: %s", dir, strerror(errno));
        goto done;
    }
    if (!S_ISDIR(sb.st_mode)) {
        rc = cli_fail(2, ICMD, "%s: not a folder", dir);
        goto done;
    }
    if (!realpath(dir, root) || strlen(root) >= IDX_MAX_PATH) {
        rc = cli_fail(2, ICMD, "%s: cannot resolve the folder's path", dir);
        goto done;
    }
    int r = idx_read(out, &old, err, sizeof err);
    if (r == -1) {
        rc = cli_fail(2, ICMD, "%s (remove it to build a new index)", err);
        goto done;
    }
    have_old = r == 0;

    if (have_old && !o.model && stat(old.model.path, &sb) != 0) {
        rc = cli_fail(2, ICMD, "%s: its model folder %s is gone (pass -m MODEL to re-index with another)", out,
                      old.model.path);
        goto done;
    }
    if (!(mdir = malloc(IDX_MAX_PATH))) {
        rc = cli_fail(2, ICMD, "out of memory");
        goto done;
    }
    if ((rc = resolve_model(ICMD, o.model ? o.model : have_old ? old.model.path : NULL, mdir, IDX_MAX_PATH, &mid)))
        goto done;
    rc = 2;
    reuse = have_old && same_model(&old.model, &mid) && !strcmp(old.root, root);
    if (have_old && !reuse)
        fprintf(stderr, "clipcl index: %s was built %s; embedding every image again\n", out,
                !same_model(&old.model, &mid) ? "with another model (or its weights changed)" : "from another folder");

    /* the files now under the folder, sorted by relative path */
    if ((rc = cli_collect_images(ICMD, (char *const *)&dir, 1, &paths, &np))) goto done;
    rc = 2;
    if (np > (int)IDX_MAX_ENTRIES) {
        rc = cli_fail(2, ICMD, "%s: more than %u images", dir, IDX_MAX_ENTRIES);
        goto done;
    }
    if (np && !(it = calloc((size_t)np, sizeof *it))) {
        rc = cli_fail(2, ICMD, "out of memory");
        goto done;
    }
    const size_t dl = strlen(dir);
    for (int i = 0; i < np; i++) {
        char *rel = paths[i] + dl;
        while (*rel == '/') rel++;
        if (strncmp(paths[i], dir, dl) || !idx_path_ok(rel, strlen(rel))) {
            fprintf(stderr, "clipcl index: skipping %s: unusable path\n", paths[i]);
            continue;
        }
        if (stat(paths[i], &sb) != 0) continue; /* vanished since the walk */
        it[n] = (item){.rel = rel, .full = paths[i], .size = (uint64_t)sb.st_size, .mtime_ns = idx_mtime_ns(&sb),
                       .old_row = -1};
        n++;
    }
    if (n) qsort(it, n, sizeof *it, cmp_item);

    /* merge with the old entries (both sorted by strcmp of the relative path) */
    size_t todo = 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        int cmp = 1;
        while (reuse && k < old.n && (cmp = strcmp(old.entries[k].path, it[i].rel)) < 0) {
            removed++;
            k++;
        }
        if (reuse && k < old.n && cmp == 0) {
            if (old.entries[k].size == it[i].size && old.entries[k].mtime_ns == it[i].mtime_ns) {
                it[i].old_row = (long)k;
                it[i].ok = 1;
            } else {
                it[i].is_update = 1;
            }
            k++;
        }
        if (it[i].old_row < 0) todo++;
    }
    removed += reuse ? old.n - k : old.n;

    if (npy_atomic_open(&fa, out)) {
        rc = cli_fail(2, ICMD, "%s: cannot write: %s", out, strerror(errno));
        goto done;
    }
    int E = have_old ? old.embed_dim : 0;
    if (todo || !reuse) {
        cli_opts mo = o;
        mo.model = mdir;
        if ((rc = cli_open(ICMD, &mo, 0, 1, &s))) goto done;
        rc = 2;
        if (reuse && clipcl_model_embed_dim(s.model) != E) {
            rc = cli_fail(2, ICMD, "%s: embedding width %d differs from the model's %d", out, E,
                          clipcl_model_embed_dim(s.model));
            goto done;
        }
        E = clipcl_model_embed_dim(s.model);
    }
    if (n && !(emb = malloc(n * (size_t)E * sizeof *emb))) {
        rc = cli_fail(2, ICMD, "out of memory for %zu × %d embeddings", n, E);
        goto done;
    }
    if (todo && (rc = embed_new(&s, &o, it, n, todo, emb, &skipped))) goto done;

    nx.model = mid;
    nx.embed_dim = E;
    strcpy(nx.root, root);
    if (n && !(nx.entries = calloc(n, sizeof *nx.entries))) {
        rc = cli_fail(2, ICMD, "out of memory");
        goto done;
    }
    /* compact: kept rows come from the old matrix, the rest from emb; rows only move down */
    for (size_t i = 0; i < n; i++) {
        if (!it[i].ok) continue;
        const float *src = it[i].old_row >= 0 ? old.emb + (size_t)it[i].old_row * E : emb + i * E;
        memmove(emb + nx.n * E, src, (size_t)E * sizeof *emb);
        nx.entries[nx.n] = (idx_entry){.path = it[i].rel, .size = it[i].size, .mtime_ns = it[i].mtime_ns};
        nx.n++;
        if (it[i].old_row >= 0) kept++;
        else if (it[i].is_update) updated++;
        else added++;
    }
    /* an updated file that now fails to decode loses its old row: it counts as removed */
    for (size_t i = 0; i < n; i++)
        if (!it[i].ok && it[i].is_update) removed++;
    nx.emb = emb;
    if (idx_write(fa.f, &nx) || npy_atomic_commit(&fa)) {
        rc = cli_fail(2, ICMD, "%s: cannot write: %s", out, strerror(errno));
        goto done;
    }
    printf("%s: %zu image%s (%zu added, %zu updated, %zu removed, %zu kept", out, nx.n, nx.n == 1 ? "" : "s", added,
           updated, removed, kept);
    if (skipped) printf(", %d skipped", skipped);
    printf(")\n");
    rc = 0;
done:
    npy_atomic_abort(&fa);
    cli_close(&s);
    free(nx.entries); /* paths belong to `paths`, rows to emb */
    free(emb);
    free(it);
    free(mdir);
    idx_free(&old);
    cli_free_strings(paths, np);
    return rc;
}

/* ------------------------------------------------------------------ search */

#define SCMD "search"

static void search_help(FILE *f)
{
    fprintf(f,
            "usage: clipcl search INDEX (\"text query\" | --image IMAGE) [--top K] [--json]\n"
            "                     [-m MODEL] [-d DEVICE] [-q]\n\n"
            "Ranks the images of INDEX (made by `clipcl index`) by exact cosine similarity to a text or\n"
            "an image and prints the best K as \"score  path\" lines, best first; paths are the indexed\n"
            "folder's absolute path joined with each image's path under it. Without -m the index's own\n"
            "model is used; a different model is refused, since its embeddings are not comparable.\n\n"
            "  --image IMAGE     search by an image instead of a text\n"
            "  --top K           how many results (default 5)\n"
            "  --json            a JSON array of {\"path\": ..., \"score\": ...}\n" CLI_COMMON_HELP
            "\nExit status: 0 results printed, 1 the index is empty, 2 bad usage or input.\n");
}

typedef struct hit {
    float score;
    size_t row;
} hit;

/* a better than b: higher score, then the earlier row (sorted path) for a stable order */
static int better(const hit *a, const hit *b) { return a->score > b->score || (a->score == b->score && a->row < b->row); }

/* min-heap on `better`: the root is the worst of the K kept */
static void sift_down(hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && better(&h[w], &h[l])) w = l;
        if (r < n && better(&h[w], &h[r])) w = r;
        if (w == i) return;
        hit t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static int cmp_hit(const void *a, const void *b) { return better(a, b) ? -1 : better(b, a) ? 1 : 0; }

static size_t top_k(const float *emb, size_t n, int E, const float *q, size_t K, hit *h)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const float *row = emb + i * (size_t)E;
        float d = 0;
        for (int j = 0; j < E; j++) d += row[j] * q[j];
        hit x = {d, i};
        if (m < K) {
            h[m++] = x;
            if (m == K)
                for (size_t j = K / 2 + 1; j-- > 0;) sift_down(h, m, j);
        } else if (better(&x, &h[0])) {
            h[0] = x;
            sift_down(h, m, 0);
        }
    }
    qsort(h, m, sizeof *h, cmp_hit);
    return m;
}

int cmd_search(int argc, char **argv)
{
    static const struct option opts[] = {{"image", required_argument, 0, 'i'},
                                         {"top", required_argument, 0, 'k'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         CLI_COMMON_LONGOPTS,
                                         {0, 0, 0, 0}};
    cli_opts o = {0};
    const char *image = NULL;
    long top = 5;
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "h", opts, NULL)) != -1) {
        int r = cli_common_opt(SCMD, c, optarg, &o);
        if (r >= 0) {
            if (r) return r;
            continue;
        }
        char *end;
        switch (c) {
        case 'i': image = optarg; break;
        case 'k':
            top = strtol(optarg, &end, 10);
            if (*end || top < 1 || top > (long)IDX_MAX_ENTRIES)
                return cli_fail(2, SCMD, "--top '%s' must be a number in 1..%u", optarg, IDX_MAX_ENTRIES);
            break;
        case 'j': json = 1; break;
        case 'h': search_help(stdout); return 0;
        default: return bad_option(SCMD, argv);
        }
    }
    if (optind >= argc) return cli_fail(2, SCMD, "no index given (see --help)");
    const char *index = argv[optind++];
    if (image && optind < argc) return cli_fail(2, SCMD, "give a text query or --image, not both");
    if (!image && optind >= argc) return cli_fail(2, SCMD, "no query: give a text or --image IMAGE");

    idx_index ix = {0};
    char *query = NULL, mdir[IDX_MAX_PATH], err[4400];
    float *q = NULL;
    hit *h = NULL;
    int rc = 2;
    cli_session s = {0};
    idx_model_id mid;

    if (image) {
        FILE *f = fopen(image, "rb");
        if (!f) return cli_fail(2, SCMD, "%s: %s", image, strerror(errno));
        fclose(f);
    } else {
        /* several words are one query, as if quoted */
        size_t len = 0;
        for (int i = optind; i < argc; i++) len += strlen(argv[i]) + 1;
        if (!(query = malloc(len))) return cli_fail(2, SCMD, "out of memory");
        query[0] = '\0';
        for (int i = optind; i < argc; i++) {
            if (i > optind) strcat(query, " ");
            strcat(query, argv[i]);
        }
    }
    if (idx_read(index, &ix, err, sizeof err)) {
        rc = cli_fail(2, SCMD, "%s", err);
        goto done;
    }
    if (ix.n == 0) {
        rc = cli_fail(1, SCMD, "%s: the index holds no images", index);
        goto done;
    }
    if (o.model) {
        if ((rc = resolve_model(SCMD, o.model, mdir, sizeof mdir, &mid))) goto done;
        rc = 2;
        if (strcmp(mid.path, ix.model.path)) {
            rc = cli_fail(2, SCMD, "%s was built with the model %s, not %s (search without -m, or re-index)", index,
                          ix.model.path, mid.path);
            goto done;
        }
    } else {
        if (idx_model_identify(ix.model.path, &mid, err, sizeof err)) {
            rc = cli_fail(2, SCMD, "%s: its model is gone: %s (pass -m or re-index)", index, err);
            goto done;
        }
        strcpy(mdir, ix.model.path);
    }
    if (!same_model(&mid, &ix.model)) {
        rc = cli_fail(2, SCMD, "%s: the weights of the model %s changed since the index was built (re-index)", index,
                      ix.model.path);
        goto done;
    }
    cli_opts mo = o;
    mo.model = mdir;
    if ((rc = cli_open(SCMD, &mo, !image, !!image, &s))) goto done;
    rc = 2;
    const int E = clipcl_model_embed_dim(s.model);
    if (E != ix.embed_dim) {
        rc = cli_fail(2, SCMD, "%s: embedding width %d differs from the model's %d", index, ix.embed_dim, E);
        goto done;
    }
    const size_t K = (size_t)top < ix.n ? (size_t)top : ix.n;
    if (!(q = malloc((size_t)E * sizeof *q)) || !(h = malloc(K * sizeof *h))) {
        rc = cli_fail(2, SCMD, "out of memory");
        goto done;
    }
    char *img = (char *)image;
    if ((rc = image ? cli_embed_images(SCMD, &s, &o, &img, 1, q)
                    : cli_embed_texts(SCMD, &s, &o, (const char *const *)&query, 1, q)))
        goto done;
    const size_t m = top_k(ix.emb, ix.n, E, q, K, h);
    const char *sep = ix.root[strlen(ix.root) - 1] == '/' ? "" : "/";
    if (json) putchar('[');
    for (size_t i = 0; i < m; i++) {
        const char *rel = ix.entries[h[i].row].path;
        if (json) {
            char full[2 * IDX_MAX_PATH];
            snprintf(full, sizeof full, "%s%s%s", ix.root, sep, rel);
            printf("%s\n  {\"path\": ", i ? "," : "");
            cli_json_str(stdout, full);
            printf(", \"score\": %.6f}", h[i].score);
        } else {
            printf("%.4f  %s%s%s\n", h[i].score, ix.root, sep, rel);
        }
    }
    if (json) printf("\n]\n");
    rc = fflush(stdout) || ferror(stdout) ? cli_fail(2, SCMD, "writing the results: %s", strerror(errno)) : 0;
done:
    cli_close(&s);
    free(h);
    free(q);
    free(query);
    idx_free(&ix);
    return rc;
}
