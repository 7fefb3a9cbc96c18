/* cmd_verify.c — `clipcl verify`: run the inputs stored in a reference dump (PyTorch's
 * outputs saved as safetensors) through the model on this device and compare every output. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "st.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: clipcl verify -m MODEL_DIR REFERENCE.safetensors [--tol 1e-4] [-d DEVICE] [--batch N]\n"
            "                     [--precision fp32|fp16]\n\n"
            "Runs the input_ids and pixel_values stored in REFERENCE through the model and compares\n"
            "every output present there (text.*, vision.*, logits_per_image, probs_per_image).\n"
            "MODEL_DIR may be in Hugging Face or OpenAI / open_clip layout, with a ViT or ResNet image tower.\n"
            "Prints each output's max relative error (max |a-b| / max |b|).\n"
            "--precision fp16 stores the weights as half (float32 arithmetic): expect ~1e-3, so pass\n"
            "a matching --tol.\n"
            "Exit status: 0 all within tolerance, 1 some output is not, 2 error.\n");
}

static double max_rel(const float *a, const float *b, size_t n)
{
    double dmax = 0, bmax = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= dmax)) dmax = d; /* NaN propagates */
        if (fabs(b[i]) > bmax) bmax = fabs(b[i]);
    }
    return bmax > 0 ? dmax / bmax : dmax;
}

typedef struct outbuf {
    const char *name;
    float *data;
    size_t count;
} outbuf;

int cmd_verify(int argc, char **argv)
{
    const char *model_dir = NULL, *device = NULL;
    double tol = 1e-4;
    int batch = 0, rc = 2;
    static const struct option opts[] = {{"model", required_argument, 0, 'm'}, {"device", required_argument, 0, 'd'},
                                         {"tol", required_argument, 0, 't'},   {"batch", required_argument, 0, 'b'},
                                         {"precision", required_argument, 0, 'p'},
                                         {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    int precision = CLIPCL_PRECISION_FP32;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:d:h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'm': model_dir = optarg; break;
        case 'd': device = optarg; break;
        case 't':
            tol = strtod(optarg, &end);
            if (*end || !(tol >= 0)) return cli_fail(2, "verify", "--tol '%s' is not a non-negative number", optarg);
            break;
        case 'b':
            batch = (int)strtol(optarg, &end, 10);
            if (*end || batch < 1 || batch > 65536) return cli_fail(2, "verify", "--batch '%s' must be 1..65536", optarg);
            break;
        case 'p':
            if ((precision = cli_parse_precision(optarg)) < 0)
                return cli_fail(2, "verify", "--precision '%s' must be fp32 or fp16", optarg);
            break;
        case 'h': help(stdout); return 0;
        default: help(stderr); return 2;
        }
    }
    if (!model_dir || optind != argc - 1) {
        help(stderr);
        return 2;
    }
    const char *ref_path = argv[optind];

    clipcl_context *ctx = NULL;
    clipcl_model *model = NULL;
    st_file *ref = NULL;
    float *pix = NULL, *txt_e = NULL, *img_e = NULL;
    outbuf outs[8] = {{.name = "text.last_hidden_state"},   {.name = "text.pooled"},
                      {.name = "text.features"},            {.name = "text.embeds"},
                      {.name = "vision.last_hidden_state"}, {.name = "vision.pooled"},
                      {.name = "vision.features"},          {.name = "vision.embeds"}};
    clipcl_status st;

    if ((st = st_open(ref_path, &ref))) {
        rc = cli_lib_fail("verify", "reading the reference", st);
        goto done;
    }
    const st_tensor *ids_t = st_find(ref, "input_ids"), *pix_t = st_find(ref, "pixel_values");
    if (!ids_t && !pix_t) {
        rc = cli_fail(2, "verify", "%s: has neither input_ids nor pixel_values", ref_path);
        goto done;
    }
    clipcl_context_params cp = clipcl_context_default_params();
    cp.device = device;
    if ((st = clipcl_context_create(&cp, &ctx))) {
        rc = cli_lib_fail("verify", "opening the device", st);
        goto done;
    }
    clipcl_model_params mp = clipcl_model_default_params();
    mp.max_batch = batch;
    mp.precision = precision;
    mp.load_text = ids_t != NULL;
    mp.load_vision = pix_t != NULL;
    if ((st = clipcl_model_load(ctx, model_dir, &mp, &model))) {
        rc = cli_lib_fail("verify", "loading the model", st);
        goto done;
    }
    const clipcl_model_info *info = clipcl_model_get_info(model);
    const size_t E = (size_t)info->embed_dim;
    int nt = 0, ni = 0;
    if (ids_t) {
        if (ids_t->dtype != ST_I32 || ids_t->ndim != 2 || ids_t->shape[1] != CLIPCL_CONTEXT_LENGTH ||
            ids_t->shape[0] > 1000000) {
            rc = cli_fail(2, "verify", "%s: input_ids must be I32 [n, 77]", ref_path);
            goto done;
        }
        nt = (int)ids_t->shape[0];
    }
    if (pix_t) {
        int S = info->image_size;
        if (pix_t->dtype != ST_F32 || pix_t->ndim != 4 || pix_t->shape[1] != 3 || pix_t->shape[2] != S ||
            pix_t->shape[3] != S || pix_t->shape[0] > 1000000) {
            rc = cli_fail(2, "verify", "%s: pixel_values must be F32 [n, 3, %d, %d] for this model", ref_path, S, S);
            goto done;
        }
        ni = (int)pix_t->shape[0];
    }
    size_t sizes[8] = {(size_t)nt * CLIPCL_CONTEXT_LENGTH * info->text_width, (size_t)nt * info->text_width,
                       (size_t)nt * E, (size_t)nt * E,
                       (size_t)ni * info->vision_tokens * info->vision_width, (size_t)ni * info->vision_width,
                       (size_t)ni * E, (size_t)ni * E};
    /* Only what the reference holds (OpenAI-layout references have no pooled or hidden states,
     * and a ResNet's are its own), plus the embeddings the logits need. */
    const int want_logits = st_find(ref, "logits_per_image") || st_find(ref, "probs_per_image");
    for (int i = 0; i < 8; i++) {
        outs[i].count = sizes[i];
        if (!st_find(ref, outs[i].name) && !(want_logits && (i == 3 || i == 7))) continue;
        if (!(outs[i].data = malloc(sizes[i] ? sizes[i] * sizeof(float) : 4))) {
            rc = cli_fail(2, "verify", "out of memory");
            goto done;
        }
    }
    if (nt) {
        int32_t *ids = malloc((size_t)nt * CLIPCL_CONTEXT_LENGTH * sizeof *ids);
        if (!ids) { rc = cli_fail(2, "verify", "out of memory"); goto done; }
        memcpy(ids, ids_t->data, ids_t->nbytes);
        clipcl_outputs o = {outs[3].data, outs[2].data, outs[1].data, outs[0].data};
        st = clipcl_encode_texts_ex(model, ids, nt, &o);
        free(ids);
        if (st) { rc = cli_lib_fail("verify", "encoding texts", st); goto done; }
    }
    if (ni) {
        if (!(pix = malloc(pix_t->nbytes))) { rc = cli_fail(2, "verify", "out of memory"); goto done; }
        memcpy(pix, pix_t->data, pix_t->nbytes);
        clipcl_outputs o = {outs[7].data, outs[6].data, outs[5].data, outs[4].data};
        if ((st = clipcl_encode_images_ex(model, pix, ni, &o))) {
            rc = cli_lib_fail("verify", "encoding images", st);
            goto done;
        }
    }
    printf("device: %s   weights: %s\n", clipcl_context_device(ctx)->name, cli_precision_name(precision));
    int compared = 0, failed = 0;
    for (int i = 0; i < 8; i++) {
        const st_tensor *t = st_find(ref, outs[i].name);
        if (!t) continue;
        if (t->dtype != ST_F32 || (size_t)t->numel != outs[i].count) {
            rc = cli_fail(2, "verify", "%s: %s has %lld elements, the model produces %zu", ref_path, outs[i].name,
                          (long long)t->numel, outs[i].count);
            goto done;
        }
        float *want = malloc(t->nbytes ? t->nbytes : 4);
        if (!want) { rc = cli_fail(2, "verify", "out of memory"); goto done; }
        memcpy(want, t->data, t->nbytes);
        double e = max_rel(outs[i].data, want, outs[i].count);
        free(want);
        int ok = e <= tol;
        printf("%-26s max rel err %.3e  %s\n", outs[i].name, e, ok ? "ok" : "FAIL");
        compared++;
        failed += !ok;
    }
    /* logits and probabilities need both towers */
    const st_tensor *lt = st_find(ref, "logits_per_image"), *pt = st_find(ref, "probs_per_image");
    if ((lt || pt) && nt && ni) {
        txt_e = outs[3].data;
        img_e = outs[7].data;
        size_t nl = (size_t)ni * nt;
        float *logits = malloc(nl * sizeof(float)), *probs = malloc(nl * sizeof(float));
        if (!logits || !probs) {
            free(logits);
            free(probs);
            rc = cli_fail(2, "verify", "out of memory");
            goto done;
        }
        float scale = clipcl_model_logit_scale(model);
        for (int a = 0; a < ni; a++) {
            double mx = -INFINITY, sum = 0;
            for (int b = 0; b < nt; b++) {
                double d = 0;
                for (size_t k = 0; k < E; k++) d += (double)img_e[a * E + k] * txt_e[b * E + k];
                logits[(size_t)a * nt + b] = (float)(scale * d);
                if (scale * d > mx) mx = scale * d;
            }
            for (int b = 0; b < nt; b++) sum += exp(logits[(size_t)a * nt + b] - mx);
            for (int b = 0; b < nt; b++) probs[(size_t)a * nt + b] = (float)(exp(logits[(size_t)a * nt + b] - mx) / sum);
        }
        const st_tensor *ts[2] = {lt, pt};
        const char *names[2] = {"logits_per_image", "probs_per_image"};
        float *mine[2] = {logits, probs};
        for (int i = 0; i < 2; i++) {
            if (!ts[i]) continue;
            if (ts[i]->dtype != ST_F32 || (size_t)ts[i]->numel != nl) {
                printf("%-26s shape mismatch  FAIL\n", names[i]);
                failed++;
                continue;
            }
            float *want = malloc(ts[i]->nbytes);
            if (!want) break;
            memcpy(want, ts[i]->data, ts[i]->nbytes);
            double e = max_rel(mine[i], want, nl);
            free(want);
            printf("%-26s max rel err %.3e  %s\n", names[i], e, e <= tol ? "ok" : "FAIL");
            compared++;
            failed += !(e <= tol);
        }
        free(logits);
        free(probs);
    }
    if (!compared) {
        rc = cli_fail(1, "verify", "%s: no known output to compare", ref_path);
        goto done;
    }
    printf("%d output(s) compared, %d outside tolerance %.1e\n", compared, failed, tol);
    rc = failed ? 1 : 0;
done:
    for (int i = 0; i < 8; i++) free(outs[i].data);
    free(pix);
    clipcl_model_free(model);
    clipcl_context_free(ctx);
    st_close(ref);
    return rc;
}
