/* bench_img.c — decode + OpenAI preprocessing throughput on the fixture images.
 *
 * usage: bench_img [--size S] [--runs R] [IMAGE ...]   (default: the 8 fixture images)
 * For each image: the median over R runs of decode alone, crop (resize + crop + RGB) alone,
 * and decode + preprocess (normalized floats); then images per second for the whole set. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clipcl.h"

static const char *default_images[] = {"astronaut.png", "astronaut_small.jpg", "camera.png",
                                       "chelsea.png",   "chelsea_rgba.png",    "coffee.png",
                                       "coffee_palette.png", "rocket.jpg"};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(sz > 0 ? (size_t)sz : 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return b;
}

int main(int argc, char **argv)
{
    int size = 224, runs = 15, nimg = 0;
    const char *paths[256];
    char defbuf[8][1024];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--size") && i + 1 < argc)
            size = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: bench_img [--size S] [--runs R] [IMAGE ...]\n");
            return 0;
        } else if (nimg < 256)
            paths[nimg++] = argv[i];
    }
    if (size < 1 || runs < 1) {
        fprintf(stderr, "bench_img: bad --size or --runs\n");
        return 2;
    }
    if (nimg == 0) {
        /* the fixture copies, found relative to the source tree this file lives in */
        const char *src = __FILE__;
        const char *slash = strrchr(src, '/');
        int dirlen = slash ? (int)(slash - src) : 0;
        for (int i = 0; i < 8; i++) {
            snprintf(defbuf[i], sizeof defbuf[i], "%.*s%s../tests/data/images/%s", dirlen, src,
                     dirlen ? "/" : "", default_images[i]);
            paths[nimg++] = defbuf[i];
        }
    }

    clipcl_preproc pp = clipcl_preproc_default();
    pp.size = size;
    float *pix = malloc((size_t)3 * size * size * sizeof(float));
    unsigned char *rgb = malloc((size_t)3 * size * size);
    double *t_dec = malloc(runs * sizeof(double)), *t_crop = malloc(runs * sizeof(double)),
           *t_all = malloc(runs * sizeof(double));
    double sum_dec = 0, sum_crop = 0, sum_all = 0;
    printf("%-24s %10s %10s %12s %12s\n", "image", "size", "decode ms", "resize ms",
           "dec+prep ms");
    for (int k = 0; k < nimg; k++) {
        size_t n;
        unsigned char *data = slurp(paths[k], &n);
        if (!data) {
            fprintf(stderr, "bench_img: cannot read %s\n", paths[k]);
            return 2;
        }
        clipcl_image *img = NULL;
        int w = 0, h = 0;
        for (int r = 0; r < runs; r++) {
            double t0 = now();
            if (clipcl_image_load_memory(data, n, paths[k], &img) != CLIPCL_OK) {
                fprintf(stderr, "bench_img: %s\n", clipcl_errmsg());
                return 2;
            }
            double t1 = now();
            clipcl_image_crop_rgb8(img, size, rgb);
            double t2 = now();
            clipcl_image_size(img, &w, &h);
            clipcl_image_free(img);
            double t3 = now();
            clipcl_image_load_memory(data, n, paths[k], &img);
            if (clipcl_image_preprocess(img, &pp, pix) != CLIPCL_OK) {
                fprintf(stderr, "bench_img: %s\n", clipcl_errmsg());
                return 2;
            }
            clipcl_image_free(img);
            double t4 = now();
            t_dec[r] = t1 - t0;
            t_crop[r] = t2 - t1;
            t_all[r] = t4 - t3;
        }
        double md = median(t_dec, runs), mc = median(t_crop, runs), ma = median(t_all, runs);
        sum_dec += md, sum_crop += mc, sum_all += ma;
        const char *base = strrchr(paths[k], '/');
        char dims[32];
        snprintf(dims, sizeof dims, "%dx%d", w, h);
        printf("%-24s %10s %10.3f %12.3f %12.3f\n", base ? base + 1 : paths[k], dims, md * 1e3,
               mc * 1e3, ma * 1e3);
        free(data);
    }
    printf("\n%d images, size %d, median of %d runs each (one thread):\n", nimg, size, runs);
    printf("  decode only:            %8.1f images/s\n", nimg / sum_dec);
    printf("  resize+crop only:       %8.1f images/s\n", nimg / sum_crop);
    printf("  decode + preprocess:    %8.1f images/s\n", nimg / sum_all);
    free(pix);
    free(rgb);
    free(t_dec);
    free(t_crop);
    free(t_all);
    return 0;
}
