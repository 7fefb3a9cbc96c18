/* test_cli_probe.c — `clipcl probe` and `clipcl eval` end to end on the tiny model:
 *  - a probe trained on a few augmented crops of real photos (tests/data/images) per class
 *    predicts held-out crops correctly; the same for noisy solid-colour classes;
 *  - eval's accuracies, per-class numbers, confusion matrix and predictions equal the ones
 *    counted here from `classify --json` (zero-shot) or `probe predict --json` (probe);
 *  - a zero-shot-prior probe with tiny C is the zero-shot classifier;
 *  - --shots draws are deterministic per seed, --c-search follows the lattice and picks the
 *    best held-out point, the embedding cache is keyed by path + size + mtime;
 *  - corrupt, truncated or foreign probe files and bad usage give one clear error, exit 2. */
#include <check.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static char *tmp;
static char model[4096], model2[4096];

static void setup(void)
{
    tmp = tu_tmpdir();
    tu_data(model, sizeof model, "tiny-quickgelu");
    tu_data(model2, sizeof model2, "tiny-gelu");
    setenv("XDG_CACHE_HOME", tmp, 1);
}

static void teardown(void)
{
    tu_rmtree(tmp);
    free(tmp);
}

/* ------------------------------------------------------------------ image folders */

static void mkdirs(const char *p)
{
    char cmd[40100];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p);
    ck_assert(system(cmd) == 0);
}

static void write_ppm(const char *path, int w, int h, const unsigned char *rgb)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fprintf(f, "P6\n%d %d\n255\n", w, h);
    ck_assert(fwrite(rgb, 3, (size_t)w * h, f) == (size_t)w * h);
    ck_assert(fclose(f) == 0);
}

static unsigned char clamp8(float v) { return v < 0 ? 0 : v > 255 ? 255 : (unsigned char)lrintf(v); }

/* A noisy image of one colour: base ± 30 per image, ± 40 per pixel. */
static void colour_image(const char *path, const float base[3], uint64_t seed)
{
    enum { W = 40, H = 32 };
    float jitter[3], noise[W * H * 3];
    unsigned char rgb[W * H * 3];
    tu_rand(jitter, 3, seed, -30, 30);
    tu_rand(noise, W * H * 3, seed + 7777, -40, 40);
    for (int i = 0; i < W * H * 3; i++) rgb[i] = clamp8(base[i % 3] + jitter[i % 3] + noise[i]);
    write_ppm(path, W, H, rgb);
}

/* An augmented crop of a fixture photo: a random 100×100 window of its 112-pixel centre crop,
 * maybe mirrored, brightness × 0.9 .. 1.1. */
static void photo_crop(const char *path, const char *fixture, uint64_t seed)
{
    char src[4096];
    clipcl_image *img;
    ck_assert_msg(clipcl_image_load(tu_data(src, sizeof src, fixture), &img) == CLIPCL_OK, "%s", clipcl_errmsg());
    enum { S = 112, C = 100 };
    static unsigned char full[S * S * 3], out[C * C * 3];
    ck_assert(clipcl_image_crop_rgb8(img, S, full) == CLIPCL_OK);
    clipcl_image_free(img);
    float r[4];
    tu_rand(r, 4, seed, 0, 1);
    int ox = (int)(r[0] * (S - C)), oy = (int)(r[1] * (S - C)), flip = r[2] < 0.5f;
    float gain = 0.9f + 0.2f * r[3];
    for (int y = 0; y < C; y++)
        for (int x = 0; x < C; x++)
            for (int c = 0; c < 3; c++) {
                int sx = flip ? ox + C - 1 - x : ox + x;
                out[(y * C + x) * 3 + c] = clamp8(full[((oy + y) * S + sx) * 3 + c] * gain);
            }
    write_ppm(path, C, C, out);
}

static const struct {
    const char *folder, *fixture;
} photos[] = {{"cat", "images/chelsea.png"},
              {"astronaut", "images/astronaut.png"},
              {"camera_man", "images/camera.png"},
              {"rocket", "images/rocket.jpg"}};
enum { N_PHOTOS = 4 };

/* DIR/<class>/img<i>.ppm for the photo classes, n per class, seeds from base. */
static void photo_folder(const char *dir, int n, uint64_t base)
{
    for (int c = 0; c < N_PHOTOS; c++) {
        char d[4400], p[4600];
        snprintf(d, sizeof d, "%s/%s", dir, photos[c].folder);
        mkdirs(d);
        for (int i = 0; i < n; i++) {
            snprintf(p, sizeof p, "%s/img%d.ppm", d, i);
            photo_crop(p, photos[c].fixture, base + 100 * c + i);
        }
    }
}

static const struct {
    const char *folder;
    float rgb[3];
} colours[] = {{"red", {200, 40, 40}}, {"blue", {40, 60, 200}}, {"green", {50, 180, 60}}};
enum { N_COLOURS = 3 };

static void colour_folder(const char *dir, int n, uint64_t base)
{
    for (int c = 0; c < N_COLOURS; c++) {
        char d[4400], p[4600];
        snprintf(d, sizeof d, "%s/%s", dir, colours[c].folder);
        mkdirs(d);
        for (int i = 0; i < n; i++) {
            snprintf(p, sizeof p, "%s/c%d.ppm", d, i);
            colour_image(p, colours[c].rgb, base + 1000 * c + i);
        }
    }
}

/* ------------------------------------------------------------------ helpers */

static int clipcl(char **out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int clipcl(char **out, const char *fmt, ...)
{
    char args[16384], cmd[20000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s", CLIPCL_EXE, args);
    return tu_sh(cmd, out);
}

static cJSON *parse(const char *s)
{
    cJSON *j = cJSON_Parse(s);
    ck_assert_msg(j != NULL, "not JSON: %s", s);
    return j;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    ck_assert_msg(cJSON_IsNumber(v), "no number '%s'", k);
    return v->valuedouble;
}

/* The class folder an image path lies in (the last directory component). */
static void folder_of(const char *path, char *out, size_t cap)
{
    const char *end = strrchr(path, '/'), *start = end;
    ck_assert(end != NULL);
    while (start > path && start[-1] != '/') start--;
    snprintf(out, cap, "%.*s", (int)(end - start), start);
}

/* ------------------------------------------------------------------ tests */

START_TEST(test_probe_on_photos_predicts_heldout)
{
    char train[4200], held[4200], probe[4200], *out;
    snprintf(train, sizeof train, "%s/train", tmp);
    snprintf(held, sizeof held, "%s/held", tmp);
    snprintf(probe, sizeof probe, "%s/photos.probe", tmp);
    photo_folder(train, 6, 1);
    photo_folder(held, 3, 50000); /* other crops than any training one */
    /* (a C search on one held-out crop per class is too noisy to pin in a test: fixed C) */
    ck_assert_int_eq(clipcl(&out, "probe train -q -m %s %s -o %s --shots 3 --seed 5 --c 1000 --json", model, train,
                            probe),
                     0);
    cJSON *j = parse(out);
    ck_assert_int_eq((int)num(j, "n_train"), 3 * N_PHOTOS);
    ck_assert_int_eq((int)num(j, "shots"), 3);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "c_search")));
    cJSON_Delete(j);
    free(out);
    /* predict: same JSON shape as classify, every held-out crop in its own class */
    ck_assert_int_eq(clipcl(&out, "probe predict -q %s %s --json --top 2", probe, held), 0);
    cJSON *arr = parse(out);
    ck_assert_int_eq(cJSON_GetArraySize(arr), 3 * N_PHOTOS);
    cJSON *o;
    cJSON_ArrayForEach(o, arr)
    {
        const char *img = cJSON_GetObjectItem(o, "image")->valuestring;
        char want[256];
        folder_of(img, want, sizeof want);
        cJSON *top = cJSON_GetObjectItem(o, "top");
        ck_assert_int_eq(cJSON_GetArraySize(top), 2);
        const char *got = cJSON_GetArrayItem(cJSON_GetArrayItem(top, 0), 0)->valuestring;
        ck_assert_msg(!strcmp(got, want), "%s predicted as %s", img, got);
        double sum = 0;
        cJSON *sc;
        cJSON_ArrayForEach(sc, cJSON_GetObjectItem(o, "scores")) sum += sc->valuedouble;
        ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "scores")), N_PHOTOS);
        ck_assert(fabs(sum - 1) < 1e-4);
    }
    cJSON_Delete(arr);
    free(out);
    /* eval of the probe on the held-out folder: everything right */
    ck_assert_int_eq(clipcl(&out, "eval -q %s --probe %s --json", held, probe), 0);
    j = parse(out);
    ck_assert_int_eq((int)num(j, "n"), 3 * N_PHOTOS);
    ck_assert(num(j, "top1") == 1.0 && num(j, "mean_per_class") == 1.0);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "mode")->valuestring, "probe");
    cJSON_Delete(j);
    free(out);
}
END_TEST

START_TEST(test_probe_on_colours_predicts_heldout)
{
    char train[4200], held[4200], probe[4200], *out;
    snprintf(train, sizeof train, "%s/train", tmp);
    snprintf(held, sizeof held, "%s/held", tmp);
    snprintf(probe, sizeof probe, "%s/colours.probe", tmp);
    colour_folder(train, 4, 11);
    colour_folder(held, 4, 90000);
    /* three shots; C searched by default (2 kept, 1 held out per class) */
    ck_assert_int_eq(clipcl(&out, "probe train -q -m %s %s -o %s --shots 3 --json", model, train, probe), 0);
    cJSON *j = parse(out);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "c_search")));
    cJSON_Delete(j);
    free(out);
    ck_assert_int_eq(clipcl(&out, "eval -q %s --probe %s --json", held, probe), 0);
    j = parse(out);
    ck_assert_msg(num(j, "top1") == 1.0, "colour probe: %s", out);
    cJSON_Delete(j);
    free(out);
}
END_TEST

/* eval's numbers against counts made here from per-image results. pred_cmd prints one
 * classify-shaped JSON array for the images of dir; class c is folders[c] on disk, labels[c]
 * in pred_cmd's output and eval_labels[c] in eval's. */
static void check_eval_against(const char *eval_args, const char *pred_cmd, const char *dir, int n_classes,
                               const char *const *folders, const char *const *labels, const char *const *eval_labels)
{
    char *out, conf[4200], preds[4200];
    snprintf(conf, sizeof conf, "%s/confusion.csv", tmp);
    snprintf(preds, sizeof preds, "%s/predictions.csv", tmp);
    ck_assert_int_eq(tu_sh(pred_cmd, &out), 0);
    cJSON *arr = parse(out);
    free(out);
    int n = 0, top1 = 0, top5 = 0, per_n[16] = {0}, per1[16] = {0}, per5[16] = {0}, cm[16][16] = {{0}};
    cJSON *o;
    cJSON_ArrayForEach(o, arr)
    {
        char folder[256];
        folder_of(cJSON_GetObjectItem(o, "image")->valuestring, folder, sizeof folder);
        int t = -1;
        for (int c = 0; c < n_classes; c++)
            if (!strcmp(folders[c], folder)) t = c;
        ck_assert(t >= 0);
        /* rank of the true label among the scores, by hand */
        cJSON *scores = cJSON_GetObjectItem(o, "scores");
        double pt = cJSON_GetObjectItem(scores, labels[t])->valuedouble;
        int above = 0, k = cJSON_GetArraySize(scores), k5 = k < 5 ? k : 5;
        cJSON *sc;
        cJSON_ArrayForEach(sc, scores) above += sc->valuedouble > pt;
        const char *best = cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "top"), 0), 0)->valuestring;
        int p = -1;
        for (int c = 0; c < n_classes; c++)
            if (!strcmp(labels[c], best)) p = c;
        ck_assert(p >= 0);
        n++;
        per_n[t]++;
        top1 += p == t, per1[t] += p == t;
        top5 += above < k5, per5[t] += above < k5;
        cm[t][p]++;
    }
    cJSON_Delete(arr);
    ck_assert_msg(n > 0, "no images");

    char cmd[40000];
    snprintf(cmd, sizeof cmd, "%s eval -q %s %s --json --confusion %s --predictions %s", CLIPCL_EXE, eval_args, dir,
             conf, preds);
    ck_assert_int_eq(tu_sh(cmd, &out), 0);
    cJSON *j = parse(out);
    ck_assert_int_eq((int)num(j, "n"), n);
    ck_assert_int_eq((int)num(j, "top1_correct"), top1);
    ck_assert_int_eq((int)num(j, "top5_correct"), top5);
    ck_assert(fabs(num(j, "top1") - (double)top1 / n) < 1e-12);
    ck_assert(fabs(num(j, "top5") - (double)top5 / n) < 1e-12);
    double mean = 0;
    cJSON *pc = cJSON_GetObjectItem(j, "per_class");
    for (int c = 0; c < n_classes; c++) {
        cJSON *e = cJSON_GetObjectItem(pc, folders[c]);
        ck_assert_msg(e != NULL, "no per_class entry for %s", folders[c]);
        ck_assert_str_eq(cJSON_GetObjectItem(e, "class")->valuestring, eval_labels[c]);
        ck_assert_int_eq((int)num(e, "n"), per_n[c]);
        ck_assert(fabs(num(e, "top1") - (double)per1[c] / per_n[c]) < 1e-12);
        ck_assert(fabs(num(e, "top5") - (double)per5[c] / per_n[c]) < 1e-12);
        mean += (double)per1[c] / per_n[c] / n_classes;
    }
    ck_assert(fabs(num(j, "mean_per_class") - mean) < 1e-12);
    cJSON_Delete(j);
    free(out);

    /* the confusion matrix: rows = folders, cells = counts (columns named by label) */
    char *csv = tu_slurp(conf, NULL), *save = NULL, *line = strtok_r(csv, "\n", &save);
    char *cols[32];
    int ncols = 0;
    ck_assert(!strncmp(line, "true\\predicted,", 15));
    for (char *s2 = NULL, *tok = strtok_r(line + 15, ",", &s2); tok; tok = strtok_r(NULL, ",", &s2)) cols[ncols++] = tok;
    int rows = 0;
    while ((line = strtok_r(NULL, "\n", &save))) {
        char *s2 = NULL, *tok = strtok_r(line, ",", &s2);
        int t = -1;
        for (int c = 0; c < n_classes; c++)
            if (!strcmp(folders[c], tok)) t = c;
        ck_assert_msg(t >= 0, "confusion row %s", tok);
        for (int col = 0; col < ncols; col++) {
            tok = strtok_r(NULL, ",", &s2);
            ck_assert(tok != NULL);
            int p = -1;
            for (int c = 0; c < n_classes; c++)
                if (!strcmp(eval_labels[c], cols[col])) p = c;
            ck_assert_msg(p >= 0 ? cm[t][p] == atoi(tok) : atoi(tok) == 0, "confusion %s -> %s: %s", folders[t],
                          cols[col], tok);
        }
        rows++;
    }
    ck_assert_int_eq(rows, n_classes);
    free(csv);
    /* predictions: one row per image, the correct column agrees with the count */
    csv = tu_slurp(preds, NULL);
    int lines = 0, correct = 0;
    for (char *l = strtok_r(csv, "\n", &save); l; l = strtok_r(NULL, "\n", &save), lines++)
        if (lines) correct += l[strlen(l) - 1] == '1';
    ck_assert_int_eq(lines - 1, n);
    ck_assert_int_eq(correct, top1);
    free(csv);
}

START_TEST(test_eval_zeroshot_matches_classify)
{
    /* six classes so that top-5 differs from top-1 and from "everything" */
    char dir[4200], cmd[16384];
    snprintf(dir, sizeof dir, "%s/six", tmp);
    photo_folder(dir, 3, 7);
    colour_folder(dir, 2, 70);
    const char *folders[7] = {"astronaut", "blue", "camera_man", "cat", "green", "red", "rocket"};
    const char *labels[7] = {"astronaut", "blue", "camera man", "cat", "green", "red", "rocket"};
    /* classify with the same prompts: folder names with '_' read as ' ' */
    snprintf(cmd, sizeof cmd, "%s classify -q -m %s %s --labels '%s,%s,%s,%s,%s,%s,%s' --json", CLIPCL_EXE, model, dir,
             labels[0], labels[1], labels[2], labels[3], labels[4], labels[5], labels[6]);
    char eval_args[8192];
    snprintf(eval_args, sizeof eval_args, "-m %s --labels-from-folders", model);
    /* eval's labels are the folder names */
    check_eval_against(eval_args, cmd, dir, 7, folders, labels, folders);
}
END_TEST

START_TEST(test_eval_probe_matches_predict)
{
    char train[4200], held[4200], probe[4200], cmd[16384], *out;
    snprintf(train, sizeof train, "%s/train", tmp);
    snprintf(held, sizeof held, "%s/held", tmp);
    snprintf(probe, sizeof probe, "%s/weak.probe", tmp);
    photo_folder(train, 2, 3);
    photo_folder(held, 3, 333);
    /* a heavily regularized probe makes some mistakes worth counting */
    ck_assert_int_eq(clipcl(&out, "probe train -q -m %s %s -o %s --c 1e-5", model, train, probe), 0);
    free(out);
    snprintf(cmd, sizeof cmd, "%s probe predict -q %s %s --json", CLIPCL_EXE, probe, held);
    const char *folders[4] = {"astronaut", "camera_man", "cat", "rocket"};
    char eval_args[4400];
    snprintf(eval_args, sizeof eval_args, "--probe %s", probe);
    check_eval_against(eval_args, cmd, held, 4, folders, folders, folders);
}
END_TEST

START_TEST(test_zeroshot_prior_small_c_is_zeroshot)
{
    char dir[4200], probe[4200], *a, *b;
    snprintf(dir, sizeof dir, "%s/colours", tmp);
    snprintf(probe, sizeof probe, "%s/zs.probe", tmp);
    colour_folder(dir, 3, 5);
    ck_assert_int_eq(clipcl(&a, "probe train -q -m %s %s -o %s --zeroshot --c 1e-9 --json", model, dir, probe), 0);
    cJSON *j = parse(a);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "zeroshot")));
    cJSON_Delete(j);
    free(a);
    /* the probe's probabilities are zero-shot's for the same prompts */
    ck_assert_int_eq(clipcl(&a, "probe predict -q %s %s --json", probe, dir), 0);
    ck_assert_int_eq(clipcl(&b, "classify -q -m %s %s --labels red,blue,green --json", model, dir), 0);
    cJSON *pa = parse(a), *pb = parse(b);
    ck_assert_int_eq(cJSON_GetArraySize(pa), 9);
    ck_assert_int_eq(cJSON_GetArraySize(pb), 9);
    for (int i = 0; i < 9; i++) {
        cJSON *sa = cJSON_GetObjectItem(cJSON_GetArrayItem(pa, i), "scores");
        cJSON *sb = cJSON_GetObjectItem(cJSON_GetArrayItem(pb, i), "scores");
        for (int c = 0; c < N_COLOURS; c++) {
            double x = cJSON_GetObjectItem(sa, colours[c].folder)->valuedouble;
            double y = cJSON_GetObjectItem(sb, colours[c].folder)->valuedouble;
            ck_assert_msg(fabs(x - y) < 1e-4, "image %d %s: probe %g vs zero-shot %g", i, colours[c].folder, x, y);
        }
    }
    cJSON_Delete(pa), cJSON_Delete(pb);
    free(a), free(b);
    /* with ample C the same prior probe learns the colours */
    ck_assert_int_eq(clipcl(&a, "probe train -q -m %s %s -o %s --zeroshot --c 1e4", model, dir, probe), 0);
    free(a);
    ck_assert_int_eq(clipcl(&a, "eval -q %s --probe %s --json", dir, probe), 0);
    j = parse(a);
    ck_assert(num(j, "top1") == 1.0);
    cJSON_Delete(j);
    free(a);
}
END_TEST

START_TEST(test_shots_seed_and_search)
{
    char dir[4200], p1[4200], p2[4200], p3[4200], *out;
    snprintf(dir, sizeof dir, "%s/colours", tmp);
    snprintf(p1, sizeof p1, "%s/a.probe", tmp);
    snprintf(p2, sizeof p2, "%s/b.probe", tmp);
    snprintf(p3, sizeof p3, "%s/c.probe", tmp);
    colour_folder(dir, 6, 21);
    /* same seed: byte-identical probes; another seed: another draw */
    ck_assert_int_eq(clipcl(&out, "probe train -q -m %s %s -o %s --shots 2 --seed 4 --c 3", model, dir, p1), 0);
    free(out);
    ck_assert_int_eq(clipcl(&out, "probe train -q -m %s %s -o %s --shots 2 --seed 4 --c 3", model, dir, p2), 0);
    free(out);
    ck_assert_int_eq(clipcl(&out, "probe train -q -m %s %s -o %s --shots 2 --seed 9 --c 3", model, dir, p3), 0);
    free(out);
    char cmp[16384];
    snprintf(cmp, sizeof cmp, "cmp -s %s %s", p1, p2);
    ck_assert_msg(system(cmp) == 0, "same seed, different probes");
    snprintf(cmp, sizeof cmp, "cmp -s %s %s", p1, p3);
    ck_assert_msg(system(cmp) != 0, "another seed, same probe");
    ck_assert_int_eq(clipcl(&out, "probe info %s --json", p1), 0);
    cJSON *j = parse(out);
    ck_assert_int_eq((int)num(j, "shots"), 2);
    ck_assert_int_eq((int)num(j, "seed"), 4);
    ck_assert_int_eq((int)num(j, "n_train"), 6);
    ck_assert(num(j, "C") == 3);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "classes")), 3);
    ck_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "classes"), 0)->valuestring, "blue");
    ck_assert_int_eq((int)num(cJSON_GetObjectItem(j, "preprocess"), "size"), 64);
    cJSON_Delete(j);
    free(out);

    /* C search: the paper's lattice, the chosen C is the best held-out point */
    ck_assert_int_eq(clipcl(&out, "probe train -q -m %s %s -o %s --c-search --json", model, dir, p1), 0);
    j = parse(out);
    cJSON *pts = cJSON_GetObjectItem(j, "search"), *pt, *best = NULL; /* ties: the smaller C */
    ck_assert_int_ge(cJSON_GetArraySize(pts), 7);
    ck_assert_int_le(cJSON_GetArraySize(pts), 15);
    int coarse = 0;
    cJSON_ArrayForEach(pt, pts)
    {
        double l = log10(num(pt, "C")) * 8;
        ck_assert_msg(fabs(l - lround(l)) < 1e-6 && l >= -48 - 1e-6 && l <= 48 + 1e-6, "C %g off the lattice",
                      num(pt, "C"));
        coarse += fabs(l / 16 - lround(l / 16)) < 1e-6;
        if (!best || num(pt, "val_accuracy") > num(best, "val_accuracy") ||
            (num(pt, "val_accuracy") == num(best, "val_accuracy") &&
             num(pt, "val_cross_entropy") < num(best, "val_cross_entropy")))
            best = pt;
    }
    ck_assert_int_eq(coarse, 7);
    ck_assert(fabs(num(j, "C") / num(best, "C") - 1) < 1e-9);
    ck_assert(num(j, "val_accuracy") == num(best, "val_accuracy"));
    cJSON_Delete(j);
    free(out);
}
END_TEST

START_TEST(test_embedding_cache)
{
    char dir[4200], img[4400], preds[4200], *out;
    snprintf(dir, sizeof dir, "%s/colours", tmp);
    snprintf(preds, sizeof preds, "%s/p.csv", tmp);
    colour_folder(dir, 2, 31);
#define EVAL(extra, result)                                                                                            \
    do {                                                                                                               \
        ck_assert_int_eq(                                                                                              \
            clipcl(&out, "eval -q -m %s %s --labels-from-folders --predictions %s" extra, model, dir, preds), 0);      \
        free(out);                                                                                                     \
        result = tu_slurp(preds, NULL);                                                                                         \
    } while (0)
    char *first, *cached, *changed, *fresh, *after, ls[8400];
    EVAL("", first);
    snprintf(ls, sizeof ls, "ls %s/clipcl/embeddings/*.idx > /dev/null 2>&1", tmp);
    ck_assert_msg(system(ls) == 0, "no embedding cache written");
    /* a red image turned blue with its size and mtime kept: the cache (rightly) cannot tell */
    snprintf(img, sizeof img, "%s/red/c0.ppm", dir);
    struct stat sb;
    ck_assert(stat(img, &sb) == 0);
    colour_image(img, colours[1].rgb, 4242);
    struct timespec ts[2] = {sb.st_atim, sb.st_mtim};
    ck_assert(utimensat(AT_FDCWD, img, ts, 0) == 0);
    EVAL("", cached);
    ck_assert_str_eq(cached, first);
    /* another mtime: the row is stale and the image embedded again */
    ts[1].tv_sec += 5;
    ck_assert(utimensat(AT_FDCWD, img, ts, 0) == 0);
    EVAL("", changed);
    ck_assert_msg(strcmp(changed, first) != 0, "a changed image kept its cached embedding:\n%s", changed);
    /* --no-cache agrees; a damaged cache file is ignored */
    EVAL(" --no-cache", fresh);
    ck_assert_str_eq(fresh, changed);
    char dmg[8400];
    snprintf(dmg, sizeof dmg, "for f in %s/clipcl/embeddings/*.idx; do printf garbage > \"$f\"; done", tmp);
    ck_assert(system(dmg) == 0);
    EVAL("", after);
    ck_assert_str_eq(after, changed);
#undef EVAL
    free(first), free(cached), free(changed), free(fresh), free(after);
}
END_TEST

static void expect_fail(const char *args, const char *msg)
{
    char cmd[40100], *out;
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", CLIPCL_EXE, args);
    int rc = tu_sh(cmd, &out);
    ck_assert_msg(rc == 2, "exit %d for: %s\n%s", rc, args, out);
    ck_assert_msg(strstr(out, msg) != NULL, "message for %s lacks '%s': %s", args, msg, out);
    ck_assert_msg(strchr(out, '\n') == out + strlen(out) - 1, "not one line: %s", out);
    free(out);
}

START_TEST(test_probe_file_validation)
{
    char dir[4200], probe[4200], bad[4300], args[16384], *out;
    snprintf(dir, sizeof dir, "%s/colours", tmp);
    snprintf(probe, sizeof probe, "%s/ok.probe", tmp);
    snprintf(bad, sizeof bad, "%s/bad.probe", tmp);
    colour_folder(dir, 2, 41);
    ck_assert_int_eq(clipcl(&out, "probe train -q -m %s %s -o %s --c 1", model, dir, probe), 0);
    free(out);
    char *good;
    FILE *f = fopen(probe, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    good = malloc((size_t)size);
    ck_assert(fread(good, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    ck_assert_int_eq(clipcl(&out, "probe info %s", probe), 0);
    free(out);

    struct {
        long off, len; /* write len bytes of the file (len < 0: all), then patch */
        long patch_at;
        unsigned char value;
        const char *msg;
    } cases[] = {
        {0, 100, -1, 0, "truncated"},
        {0, -1, 0, 'X', "not a clipcl probe"},
        {0, -1, 8, 9, "version 9"},
        {0, -1, 12, 0, "corrupt probe header"},  /* 252 classes: too few label bytes */
        {0, -1, size - 3, 0x55, "checksum"},     /* a weight byte */
        {0, size - 4, -1, 0, "truncated"},
        {0, 0, -1, 0, "not a clipcl probe"},     /* empty */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        f = fopen(bad, "wb");
        long len = cases[i].len < 0 ? size : cases[i].len;
        char *copy = malloc((size_t)size);
        memcpy(copy, good, (size_t)size);
        if (cases[i].patch_at >= 0) copy[cases[i].patch_at] ^= cases[i].value ? cases[i].value : 0xFF;
        if (cases[i].patch_at == 8) copy[8] = 9, copy[9] = copy[10] = copy[11] = 0;
        ck_assert(fwrite(copy, 1, (size_t)len, f) == (size_t)len);
        fclose(f);
        free(copy);
        snprintf(args, sizeof args, "probe info %s", bad);
        expect_fail(args, cases[i].msg);
        snprintf(args, sizeof args, "probe predict -q %s %s/red/c0.ppm", bad, dir);
        expect_fail(args, cases[i].msg);
        snprintf(args, sizeof args, "eval -q %s --probe %s", dir, bad);
        expect_fail(args, cases[i].msg);
    }
    /* another model is refused, by predict and by eval */
    snprintf(args, sizeof args, "probe predict -q -m %s %s %s/red/c0.ppm", model2, probe, dir);
    expect_fail(args, "another model");
    snprintf(args, sizeof args, "eval -q -m %s %s --probe %s", model2, dir, probe);
    expect_fail(args, "another model");
    /* a copy of the right model elsewhere is the same model */
    char copy_cmd[16384], moved[4200];
    snprintf(moved, sizeof moved, "%s/moved-model", tmp);
    snprintf(copy_cmd, sizeof copy_cmd, "cp -r %s %s", model, moved);
    ck_assert(system(copy_cmd) == 0);
    ck_assert_int_eq(clipcl(&out, "probe predict -q -m %s %s %s/red/c0.ppm", moved, probe, dir), 0);
    free(out);
    free(good);
}
END_TEST

START_TEST(test_bad_usage)
{
    char dir[4200], one[4200], empty[4200], args[40000], *out;
    snprintf(dir, sizeof dir, "%s/colours", tmp);
    snprintf(one, sizeof one, "%s/one", tmp);
    snprintf(empty, sizeof empty, "%s/empty", tmp);
    colour_folder(dir, 2, 51);
    mkdirs(one);
    snprintf(args, sizeof args, "%s/red", one);
    mkdirs(args);
    snprintf(args, sizeof args, "cp %s/red/c0.ppm %s/red/", dir, one);
    ck_assert(system(args) == 0);
    snprintf(args, sizeof args, "%s/a", empty);
    mkdirs(args);
    snprintf(args, sizeof args, "%s/b", empty);
    mkdirs(args);

    snprintf(args, sizeof args, "eval -q -m %s %s", model, dir);
    expect_fail(args, "exactly one of");
    snprintf(args, sizeof args, "eval -q -m %s %s --labelset cifar10", model, dir); /* red, blue, green */
    expect_fail(args, "match no class of label set CIFAR10: 'blue', 'green', 'red'");
    snprintf(args, sizeof args, "eval -q -m %s %s --labelset nosuchset", model, dir);
    expect_fail(args, "unknown label set");
    snprintf(args, sizeof args, "eval -q -m %s %s/nonexistent --labels-from-folders", model, tmp);
    expect_fail(args, "nonexistent");
    snprintf(args, sizeof args, "probe train -q -m %s %s -o %s/x.probe", model, one, tmp);
    expect_fail(args, "at least 2 class folders");
    snprintf(args, sizeof args, "probe train -q -m %s %s -o %s/x.probe", model, empty, tmp);
    expect_fail(args, "has no images");
    snprintf(args, sizeof args, "probe train -q -m %s %s -o %s/x.probe --shots 3", model, dir, tmp);
    expect_fail(args, "fewer than --shots 3");
    snprintf(args, sizeof args, "probe train -q -m %s %s -o %s/x.probe --c 1 --c-search", model, dir, tmp);
    expect_fail(args, "not both");
    snprintf(args, sizeof args, "probe train -q -m %s %s -o %s/x.probe --c -1", model, dir, tmp);
    expect_fail(args, "--c '-1'");
    snprintf(args, sizeof args, "probe train -q -m %s %s -o %s/x.probe --shots 1 --c-search", model, dir, tmp);
    expect_fail(args, "at least 2 training images");
    snprintf(args, sizeof args, "probe train -q -m %s %s -o %s/no/such/dir/x.probe", model, dir, tmp);
    expect_fail(args, "cannot write");
    snprintf(args, sizeof args, "probe frobnicate");
    expect_fail(args, "unknown sub-command");
    /* labelled folders map to label-set classes ignoring case and '_' */
    snprintf(args, sizeof args, "mv %s/red %s/Cat && mv %s/blue %s/AUTOMOBILE && mv %s/green %s/frog", dir, dir, dir,
             dir, dir, dir);
    ck_assert(system(args) == 0);
    ck_assert_int_eq(clipcl(&out, "eval -q -m %s %s --labelset cifar10 --json", model, dir), 0);
    cJSON *j = parse(out);
    ck_assert_int_eq((int)num(j, "classes"), 10);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "per_class"), "Cat"), "class")
                         ->valuestring,
                     "cat");
    cJSON_Delete(j);
    free(out);
    ck_assert_int_eq(clipcl(&out, "probe --help"), 0);
    free(out);
    ck_assert_int_eq(clipcl(&out, "eval --help"), 0);
    free(out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli_probe");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_probe_on_photos_predicts_heldout);
    tcase_add_test(tc, test_probe_on_colours_predicts_heldout);
    tcase_add_test(tc, test_eval_zeroshot_matches_classify);
    tcase_add_test(tc, test_eval_probe_matches_predict);
    tcase_add_test(tc, test_zeroshot_prior_small_c_is_zeroshot);
    tcase_add_test(tc, test_shots_seed_and_search);
    tcase_add_test(tc, test_embedding_cache);
    tcase_add_test(tc, test_probe_file_validation);
    tcase_add_test(tc, test_bad_usage);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
