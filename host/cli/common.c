/* common.c — shared plumbing of the model-using commands. */
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <utf8proc.h>

#include "cli.h"
#include "hub.h"

int cli_parse_precision(const char *s)
{
    return !strcmp(s, "fp32") ? CLIPCL_PRECISION_FP32 : !strcmp(s, "fp16") ? CLIPCL_PRECISION_FP16 : -1;
}

const char *cli_precision_name(int precision) { return precision == CLIPCL_PRECISION_FP16 ? "fp16" : "fp32"; }

int cli_common_opt(const char *cmd, int c, const char *arg, cli_opts *o)
{
    char *end;
    switch (c) {
    case 'm': o->model = arg; return 0;
    case 'd': o->device = arg; return 0;
    case 'q': o->quiet = 1; return 0;
    case 0x100: {
        long v = strtol(arg, &end, 10);
        if (*end || v < 1 || v > 65536) return cli_fail(2, cmd, "--batch '%s' must be a number in 1..65536", arg);
        o->batch = (int)v;
        return 0;
    }
    case 0x101:
        if ((o->precision = cli_parse_precision(arg)) < 0)
            return cli_fail(2, cmd, "--precision '%s' must be fp32 or fp16", arg);
        return 0;
    default: return -1;
    }
}

int cli_open(const char *cmd, const cli_opts *o, int need_text, int need_vision, cli_session *s)
{
    memset(s, 0, sizeof *s);
    if (hub_resolve_model(o->model, 1, s->model_dir, sizeof s->model_dir)) return 2;
    clipcl_context_params cp = clipcl_context_default_params();
    cp.device = o->device;
    clipcl_status st = clipcl_context_create(&cp, &s->ctx);
    if (st) return cli_lib_fail(cmd, "opening the OpenCL device", st);
    clipcl_model_params mp = clipcl_model_default_params();
    mp.max_batch = o->batch;
    mp.precision = o->precision;
    mp.load_text = need_text;
    mp.load_vision = need_vision;
    st = clipcl_model_load(s->ctx, s->model_dir, &mp, &s->model);
    if (st) {
        int rc = cli_lib_fail(cmd, "loading the model", st);
        cli_close(s);
        return rc;
    }
    return 0;
}

void cli_close(cli_session *s)
{
    clipcl_model_free(s->model);
    clipcl_context_free(s->ctx);
    s->model = NULL;
    s->ctx = NULL;
}

/* ---------------------------------------------------------------- image files */

static int has_image_ext(const char *name)
{
    static const char *exts[] = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tga", ".psd",
                                 ".pnm", ".ppm", ".pgm", ".pbm", ".jpe", ".jfif", NULL};
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    for (int i = 0; exts[i]; i++)
        if (!strcasecmp(dot, exts[i])) return 1;
    return 0;
}

typedef struct strvec {
    char **v;
    int n, cap;
} strvec;

static int push(strvec *sv, const char *s)
{
    if (sv->n == sv->cap) {
        int cap = sv->cap ? 2 * sv->cap : 64;
        char **v = realloc(sv->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        sv->v = v;
        sv->cap = cap;
    }
    if (!(sv->v[sv->n] = strdup(s))) return -1;
    sv->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int walk(const char *cmd, const char *dir, strvec *sv, int depth)
{
    if (depth > 64) return cli_fail(2, cmd, "%s: directory nesting too deep", dir);
    DIR *d = opendir(dir);
    if (!d) return cli_fail(2, cmd, "%s: cannot read directory: %s", dir, strerror(errno));
    strvec local = {0};
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue; /* hidden files, . and .. */
        char path[4096];
        size_t dl = strlen(dir);
        const char *sep = dl && dir[dl - 1] == '/' ? "" : "/";
        if ((size_t)snprintf(path, sizeof path, "%s%s%s", dir, sep, e->d_name) >= sizeof path) continue;
        if (push(&local, path)) { rc = cli_fail(2, cmd, "out of memory"); break; }
    }
    closedir(d);
    if (local.n) qsort(local.v, (size_t)local.n, sizeof *local.v, cmp_str);
    for (int i = 0; i < local.n && !rc; i++) {
        struct stat sb;
        if (stat(local.v[i], &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode))
            rc = walk(cmd, local.v[i], sv, depth + 1);
        else if (S_ISREG(sb.st_mode) && has_image_ext(local.v[i]) && push(sv, local.v[i]))
            rc = cli_fail(2, cmd, "out of memory");
    }
    cli_free_strings(local.v, local.n);
    return rc;
}

int cli_collect_images(const char *cmd, char *const *args, int n, char ***out, int *count)
{
    strvec sv = {0};
    for (int i = 0; i < n; i++) {
        struct stat sb;
        if (stat(args[i], &sb) != 0) {
            cli_free_strings(sv.v, sv.n);
            return cli_fail(2, cmd, "%s: %s", args[i], strerror(errno));
        }
        int rc = 0;
        if (S_ISDIR(sb.st_mode)) {
            rc = walk(cmd, args[i], &sv, 0);
        } else if (push(&sv, args[i])) {
            rc = cli_fail(2, cmd, "out of memory");
        }
        if (rc) {
            cli_free_strings(sv.v, sv.n);
            return rc;
        }
    }
    *out = sv.v;
    *count = sv.n;
    return 0;
}

void cli_free_strings(char **v, int n)
{
    if (!v) return;
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* ---------------------------------------------------------------- batched embedding */

static int batch_size(const cli_opts *o) { return o->batch ? o->batch : 32; }

int cli_embed_images(const char *cmd, cli_session *s, const cli_opts *o, char *const *paths, int n, float *emb)
{
    /* images go to the device as the crop's bytes: normalized there (bit-identical), a
       quarter of the upload */
    const size_t npix = clipcl_model_pixels_per_image(s->model), E = (size_t)clipcl_model_embed_dim(s->model);
    const int B = batch_size(o), S = clipcl_model_preproc(s->model)->size;
    uint8_t *pix = malloc((size_t)B * npix);
    if (!pix) return cli_fail(2, cmd, "out of memory for a batch of %d images", B);
    cli_progress pr;
    cli_progress_start(&pr, "images", n, o->quiet);
    int rc = 0;
    for (int i0 = 0; i0 < n && !rc; i0 += B) {
        int nb = n - i0 < B ? n - i0 : B;
        for (int j = 0; j < nb && !rc; j++) {
            clipcl_image *img = NULL;
            clipcl_status st = clipcl_image_load(paths[i0 + j], &img);
            if (!st) st = clipcl_image_crop_rgb8(img, S, pix + (size_t)j * npix);
            clipcl_image_free(img);
            if (st) rc = cli_lib_fail(cmd, paths[i0 + j], st);
        }
        if (rc) break;
        clipcl_status st = clipcl_encode_images_rgb8(s->model, pix, nb, emb + (size_t)i0 * E);
        if (st) rc = cli_lib_fail(cmd, "encoding images", st);
        cli_progress_add(&pr, nb);
    }
    cli_progress_end(&pr);
    free(pix);
    return rc;
}

typedef struct text_len {
    int len, index;
} text_len;

static int cmp_text_len(const void *a, const void *b)
{
    const text_len *x = a, *y = b;
    return x->len != y->len ? (x->len > y->len) - (x->len < y->len) : (x->index > y->index) - (x->index < y->index);
}

/* Position of the end token (where the text tower pools), or the context length. */
static int ids_len(const int32_t *ids)
{
    for (int i = 0; i < CLIPCL_CONTEXT_LENGTH; i++)
        if (ids[i] == CLIPCL_EOT) return i + 1;
    return CLIPCL_CONTEXT_LENGTH;
}

int cli_embed_texts(const char *cmd, cli_session *s, const cli_opts *o, const char *const *texts, int n, float *emb)
{
    const clipcl_tokenizer *tok = clipcl_model_tokenizer(s->model);
    if (!tok) return cli_lib_fail(cmd, "creating the tokenizer", CLIPCL_ERR_FORMAT);
    const size_t E = (size_t)clipcl_model_embed_dim(s->model);
    const int B = batch_size(o) * 4; /* texts are cheaper than images */
    int32_t *ids = malloc((size_t)B * CLIPCL_CONTEXT_LENGTH * sizeof *ids);
    float *out = malloc((size_t)B * E * sizeof *out);
    text_len *order = malloc((n > 0 ? (size_t)n : 1) * sizeof *order);
    int rc = 0;
    if (!ids || !out || !order) {
        rc = cli_fail(2, cmd, "out of memory");
        goto done;
    }
    /* A batch costs as many positions as its longest text (the text tower stops at the last
       end token), so texts go to the device shortest first; each result returns to its place.
       Only the lengths are kept and each batch is tokenized again: a microsecond per prompt,
       against 308 bytes per text for keeping every text's ids (millions in `embed --texts`). */
    for (int i = 0; i < n; i++) {
        clipcl_status st = clipcl_tokenize(tok, texts[i], ids, CLIPCL_CONTEXT_LENGTH, 0, NULL);
        if (st) {
            rc = cli_lib_fail(cmd, "tokenizing", st);
            goto done;
        }
        order[i] = (text_len){ids_len(ids), i};
    }
    qsort(order, (size_t)n, sizeof *order, cmp_text_len);
    cli_progress pr;
    cli_progress_start(&pr, "texts", n, o->quiet);
    for (int i0 = 0; i0 < n && !rc; i0 += B) {
        int nb = n - i0 < B ? n - i0 : B;
        for (int j = 0; j < nb && !rc; j++) {
            clipcl_status st = clipcl_tokenize(tok, texts[order[i0 + j].index], ids + (size_t)j * CLIPCL_CONTEXT_LENGTH,
                                               CLIPCL_CONTEXT_LENGTH, 0, NULL);
            if (st) rc = cli_lib_fail(cmd, "tokenizing", st);
        }
        if (rc) break;
        clipcl_status st = clipcl_encode_texts(s->model, ids, nb, out);
        if (st) rc = cli_lib_fail(cmd, "encoding texts", st);
        for (int j = 0; j < nb && !rc; j++)
            memcpy(emb + (size_t)order[i0 + j].index * E, out + (size_t)j * E, E * sizeof *out);
        cli_progress_add(&pr, nb);
    }
    cli_progress_end(&pr);
done:
    free(ids);
    free(out);
    free(order);
    return rc;
}

/* ---------------------------------------------------------------- progress */

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void cli_progress_start(cli_progress *p, const char *label, long total, int quiet)
{
    memset(p, 0, sizeof *p);
    p->label = label;
    p->total = total;
    p->enabled = !quiet && isatty(STDERR_FILENO);
    p->start = p->last = cli_now();
}

static void progress_draw(cli_progress *p)
{
    double el = cli_now() - p->start, rate = el > 0 ? p->done / el : 0;
    int width = 30, fill = p->total ? (int)(width * p->done / p->total) : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    double eta = rate > 0 ? (p->total - p->done) / rate : 0;
    fprintf(stderr, "\r%s [%s] %ld/%ld %s  %.1f/s  eta %.0fs  ", p->label, bar, p->done, p->total, p->label, rate,
            eta);
    fflush(stderr);
    p->shown = 1;
}

void cli_progress_add(cli_progress *p, long n)
{
    p->done += n;
    if (!p->enabled) return;
    double t = cli_now();
    /* Appear only for work that takes over a second; then refresh at most 10 times a second. */
    if (t - p->start < 1.0 || t - p->last < 0.1) return;
    p->last = t;
    progress_draw(p);
}

void cli_progress_end(cli_progress *p)
{
    if (!p->shown) return;
    progress_draw(p);
    fputc('\n', stderr);
}

/* ---------------------------------------------------------------- output helpers */

void cli_json_str(FILE *f, const char *s)
{
    /* JSON text must be valid UTF-8: bytes that are not (e.g. in file names) become U+FFFD. */
    fputc('"', f);
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    while (*p) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p, -1, &cp);
        if (n <= 0) {
            fputs("\\ufffd", f);
            p++;
            continue;
        }
        switch (cp) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (cp < 0x20) fprintf(f, "\\u%04x", (unsigned)cp);
            else fwrite(p, 1, (size_t)n, f);
        }
        p += n;
    }
    fputc('"', f);
}

void cli_csv_str(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int cli_read_file(const char *cmd, const char *path, size_t limit, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return cli_fail(2, cmd, "%s: cannot open: %s", path, strerror(errno));
    /* Size the buffer from the file, not the limit; grow for pipes and files that grow. */
    struct stat sb;
    size_t cap = fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) ? (size_t)sb.st_size + 1 : 4096, n = 0;
    if (cap > limit + 1) cap = limit + 1;
    char *buf = malloc(cap + 1);
    int rc = 0;
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap || cap == limit + 1) break;
        size_t ncap = cap * 2 > limit + 1 ? limit + 1 : cap * 2;
        char *nb = realloc(buf, ncap + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap = ncap;
    }
    if (!buf) rc = cli_fail(2, cmd, "out of memory reading %s", path);
    else if (ferror(f)) rc = cli_fail(2, cmd, "%s: read error", path);
    else if (n > limit) rc = cli_fail(2, cmd, "%s: larger than %zu bytes", path, limit);
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    if (len) *len = n;
    return 0;
}
