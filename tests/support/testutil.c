/* testutil.c — helpers shared by the tests. */
#include "testutil.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *tu_data(char *buf, size_t cap, const char *rel)
{
    snprintf(buf, cap, "%s/%s", TEST_DATA_DIR, rel);
    return buf;
}

char *tu_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/clipcl-test-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    ck_assert_msg(d != NULL, "mkdtemp failed");
    return strdup(d);
}

void tu_rmtree(const char *dir)
{
    if (!dir || strncmp(dir, "/tmp", 4) != 0 || strstr(dir, "clipcl-test-") == NULL) return;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
}

void tu_rand(float *x, size_t n, uint64_t seed, float lo, float hi)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = lo + (hi - lo) * (float)((s >> 11) * (1.0 / 9007199254740992.0));
    }
}

double tu_max_rel(const float *a, const float *b, size_t n)
{
    double dmax = 0, bmax = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= dmax)) dmax = d;
        if (fabs(b[i]) > bmax) bmax = fabs(b[i]);
    }
    return bmax > 0 ? dmax / bmax : dmax;
}

clipcl_context *tu_context(void)
{
    clipcl_context *ctx = NULL;
    clipcl_context_params p = clipcl_context_default_params();
    clipcl_status st = clipcl_context_create(&p, &ctx);
    ck_assert_msg(st == CLIPCL_OK, "context: %s", clipcl_errmsg());
    return ctx;
}

int tu_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

int tu_sh(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p != NULL, "popen failed: %s", cmd);
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap);
    ck_assert(buf != NULL);
    while ((r = fread(buf + n, 1, cap - 1 - n, p)) > 0) {
        n += r;
        if (cap - 1 - n == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            ck_assert(buf != NULL);
        }
    }
    buf[n] = '\0';
    int st = pclose(p);
    if (out) *out = buf;
    else free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

char *tu_try_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        ck_assert_msg(errno == ENOENT, "%s: %s", path, strerror(errno));
        return NULL;
    }
    ck_assert(fseek(f, 0, SEEK_END) == 0);
    long n = ftell(f);
    ck_assert_msg(n >= 0 && fseek(f, 0, SEEK_SET) == 0, "%s: not seekable", path);
    char *b = malloc((size_t)n + 1);
    ck_assert(b != NULL);
    ck_assert_msg(fread(b, 1, (size_t)n, f) == (size_t)n, "%s: short read", path);
    b[n] = '\0';
    fclose(f);
    if (len) *len = (size_t)n;
    return b;
}

char *tu_slurp(const char *path, size_t *len)
{
    char *b = tu_try_slurp(path, len);
    ck_assert_msg(b != NULL, "%s: no such file", path);
    return b;
}

void tu_spit(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    ck_assert_msg(n == 0 || fwrite(data, 1, n, f) == n, "%s: short write", path);
    ck_assert_msg(fclose(f) == 0, "%s: %s", path, strerror(errno));
}

void tu_spit_str(const char *path, const char *text) { tu_spit(path, text, strlen(text)); }

int tu_exec(const char *what, const char *const *argv, const char *in_path, const char *dir, int limit_s, char **out,
            char **err)
{
    if (!what) what = argv[1] ? argv[1] : argv[0];
    char po[4200], pe[4200];
    snprintf(po, sizeof po, "%s/.stdout", dir);
    snprintf(pe, sizeof pe, "%s/.stderr", dir);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int fi = open(in_path ? in_path : "/dev/null", O_RDONLY);
        int fo = open(po, O_WRONLY | O_CREAT | O_TRUNC, 0644), fe = open(pe, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fi < 0 || fo < 0 || fe < 0) _exit(126);
        dup2(fi, 0), dup2(fo, 1), dup2(fe, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        ck_assert(r >= 0);
        if (r == pid) break;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (t1.tv_sec - t0.tv_sec > limit_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            ck_abort_msg("%s: still running after %d s (hang?)", what, limit_s);
        }
        struct timespec nap = {0, 5 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
    char *e = tu_slurp(pe, NULL);
    ck_assert_msg(!WIFSIGNALED(status), "%s: killed by signal %d; stderr: %.400s", what, WTERMSIG(status), e);
    ck_assert(WIFEXITED(status));
    if (out) {
        free(*out);
        *out = tu_slurp(po, NULL);
    }
    if (err) {
        free(*err);
        *err = e;
    } else {
        free(e);
    }
    return WEXITSTATUS(status);
}

int tu_run(const char *dir, int limit_s, char **out, char **err, const char *exe, ...)
{
    const char *argv[64];
    int n = 0;
    argv[n++] = exe;
    va_list ap;
    va_start(ap, exe);
    for (const char *a = va_arg(ap, const char *); a; a = va_arg(ap, const char *)) {
        ck_assert_msg(n < 63, "too many arguments");
        argv[n++] = a;
    }
    va_end(ap);
    argv[n] = NULL;
    return tu_exec(NULL, argv, NULL, dir, limit_s, out, err);
}

void tu_lib_open(tu_lib *l, const char *model_dir)
{
    l->ctx = tu_context();
    clipcl_model_params mp = clipcl_model_default_params();
    ck_assert_msg(clipcl_model_load(l->ctx, model_dir, &mp, &l->model) == CLIPCL_OK, "%s", clipcl_errmsg());
    l->E = clipcl_model_embed_dim(l->model);
}

void tu_lib_close(tu_lib *l)
{
    clipcl_model_free(l->model);
    clipcl_context_free(l->ctx);
}

void tu_lib_image(tu_lib *l, const char *path, float *emb)
{
    clipcl_image *img = NULL;
    float *pix = malloc(clipcl_model_pixels_per_image(l->model) * sizeof *pix);
    ck_assert(pix != NULL);
    ck_assert_msg(clipcl_image_load(path, &img) == CLIPCL_OK, "%s", clipcl_errmsg());
    ck_assert_msg(clipcl_image_preprocess(img, clipcl_model_preproc(l->model), pix) == CLIPCL_OK, "%s",
                  clipcl_errmsg());
    ck_assert_msg(clipcl_encode_images(l->model, pix, 1, emb) == CLIPCL_OK, "%s", clipcl_errmsg());
    clipcl_image_free(img);
    free(pix);
}

void tu_lib_text(tu_lib *l, const char *text, float *emb)
{
    int32_t ids[CLIPCL_CONTEXT_LENGTH];
    ck_assert_msg(clipcl_tokenize(clipcl_model_tokenizer(l->model), text, ids, CLIPCL_CONTEXT_LENGTH, 0, NULL) ==
                      CLIPCL_OK,
                  "%s", clipcl_errmsg());
    ck_assert_msg(clipcl_encode_texts(l->model, ids, 1, emb) == CLIPCL_OK, "%s", clipcl_errmsg());
}

void tu_st_rewrite(const char *path, tu_st_edit edit, void *arg)
{
    st_file *f;
    ck_assert_msg(st_open(path, &f) == CLIPCL_OK, "%s", clipcl_errmsg());
    int n = f->n;
    st_tensor *ts = malloc((size_t)(n + 1) * sizeof *ts);
    ck_assert(ts != NULL);
    for (int i = 0; i < n; i++) {
        ts[i] = f->tensors[i];
        uint8_t *copy = malloc(ts[i].nbytes ? ts[i].nbytes : 1);
        ck_assert(copy != NULL);
        memcpy(copy, ts[i].data, ts[i].nbytes);
        ts[i].data = copy;
    }
    edit(ts, &n, arg);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.new", path);
    ck_assert_msg(st_write(tmp, ts, n) == CLIPCL_OK, "%s", clipcl_errmsg());
    ck_assert(rename(tmp, path) == 0);
    for (int i = 0; i < n; i++) free((void *)ts[i].data);
    free(ts);
    st_close(f);
}

st_tensor *tu_st_find(st_tensor *ts, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(ts[i].name, name)) return &ts[i];
    ck_abort_msg("no tensor %s", name);
    return NULL;
}

void tu_st_drop(st_tensor *ts, int *n, void *name)
{
    st_tensor *t = tu_st_find(ts, *n, name);
    free((void *)t->data);
    memmove(t, t + 1, (size_t)(ts + *n - t - 1) * sizeof *ts);
    (*n)--;
}

void tu_st_swap_2d(st_tensor *ts, int *n, void *name)
{
    st_tensor *t = tu_st_find(ts, *n, name);
    ck_assert_int_eq(t->ndim, 2);
    int64_t a = t->shape[0];
    t->shape[0] = t->shape[1];
    t->shape[1] = a;
}

void tu_st_to_half(st_tensor *ts, int *n, void *arg)
{
    int bf16 = *(int *)arg;
    for (int i = 0; i < *n; i++) {
        if (ts[i].dtype != ST_F32) continue; /* e.g. num_batches_tracked stays I64 */
        float *src = (float *)ts[i].data;
        uint16_t *h = malloc((size_t)ts[i].numel * 2 + 1);
        ck_assert(h != NULL);
        for (int64_t k = 0; k < ts[i].numel; k++) {
            uint32_t bits;
            memcpy(&bits, &src[k], 4);
            /* bf16: round to nearest even */
            h[k] = bf16 ? (uint16_t)((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) : st_f32_to_f16(src[k]);
        }
        free(src);
        ts[i].data = (const uint8_t *)h;
        ts[i].dtype = bf16 ? ST_BF16 : ST_F16;
        ts[i].nbytes = (size_t)ts[i].numel * 2;
    }
}

void tu_fixture_open(tu_fixture *f, const char *name)
{
    char path[4096], rel[256];
    snprintf(rel, sizeof rel, "%s/reference.safetensors", name);
    ck_assert_msg(st_open(tu_data(path, sizeof path, rel), &f->ref) == CLIPCL_OK, "%s", clipcl_errmsg());
    const st_tensor *ids = st_find(f->ref, "input_ids"), *pix = st_find(f->ref, "pixel_values");
    ck_assert(ids && pix && ids->dtype == ST_I32 && pix->dtype == ST_F32);
    f->nt = (int)ids->shape[0];
    f->ni = (int)pix->shape[0];
    f->ids = malloc(ids->nbytes);
    f->pix = malloc(pix->nbytes);
    ck_assert(f->ids && f->pix);
    memcpy(f->ids, ids->data, ids->nbytes);
    memcpy(f->pix, pix->data, pix->nbytes);
}

void tu_fixture_close(tu_fixture *f)
{
    st_close(f->ref);
    free(f->ids);
    free(f->pix);
}

float *tu_fixture_ref(const tu_fixture *f, const char *name, size_t *n)
{
    const st_tensor *t = st_find(f->ref, name);
    ck_assert_msg(t && t->dtype == ST_F32, "reference lacks %s", name);
    float *x = malloc(t->nbytes);
    ck_assert(x != NULL);
    memcpy(x, t->data, t->nbytes);
    if (n) *n = (size_t)t->numel;
    return x;
}

double tu_fixture_check(const tu_fixture *f, const char *name, const float *got, double tol)
{
    size_t n;
    float *want = tu_fixture_ref(f, name, &n);
    double e = tu_max_rel(got, want, n);
    ck_assert_msg(e <= tol, "%s: max rel err %.3g > %.1g", name, e, tol);
    free(want);
    return e;
}
