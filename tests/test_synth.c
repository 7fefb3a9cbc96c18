/* test_synth.c — full-size ViT-B/32: weights regenerated in C from the formula of
 * shared/tools/synth.py, every tensor name and shape as in the manifest, and every output
 * within 1e-4 relative of the PyTorch reference. */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "st.h"
#include "synth.h"
#include "testutil.h"

static char *dir;

static void setup(void)
{
    char cfgp[4096];
    model_cfg c;
    dir = tu_tmpdir();
    ck_assert_msg(cfg_load(tu_data(cfgp, sizeof cfgp, "synth-vit-b-32/config.json"), &c) == CLIPCL_OK, "%s",
                  clipcl_errmsg());
    ck_assert_msg(synth_write_model(&c, dir) == CLIPCL_OK, "%s", clipcl_errmsg());
}

static void teardown(void)
{
    tu_rmtree(dir);
    free(dir);
}

START_TEST(test_manifest)
{
    char p[4096];
    FILE *f = fopen(tu_data(p, sizeof p, "synth-vit-b-32/manifest.json"), "rb");
    ck_assert(f != NULL);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    cJSON *root = cJSON_Parse(buf);
    ck_assert(root != NULL);
    const cJSON *list = cJSON_GetObjectItem(root, "tensors");
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    st_file *sf;
    ck_assert(st_open(p, &sf) == CLIPCL_OK);
    ck_assert_int_eq(sf->n, cJSON_GetArraySize(list));
    for (const cJSON *e = list->child; e; e = e->next) {
        const char *name = e->child->valuestring;
        const st_tensor *t = st_find(sf, name);
        ck_assert_msg(t != NULL, "generated weights lack %s", name);
        const cJSON *shape = e->child->next;
        ck_assert_int_eq(t->ndim, cJSON_GetArraySize(shape));
        int d = 0;
        for (const cJSON *s = shape->child; s; s = s->next, d++) ck_assert_int_eq(t->shape[d], s->valueint);
    }
    /* spot values computed with shared/tools/synth.py */
    static const struct {
        const char *name;
        float v[3];
    } spots[] = {
        {"text_model.final_layer_norm.weight", {1.0289340019226074f, 0.9917505383491516f, 1.0096787214279175f}},
        {"vision_model.embeddings.class_embedding", {0.003914682660251856f, -0.011277904734015465f, 0.009793872945010662f}},
        {"text_model.encoder.layers.3.mlp.fc1.bias", {0.016992630437016487f, 0.01343226432800293f, -0.014765321277081966f}},
    };
    for (size_t i = 0; i < sizeof spots / sizeof *spots; i++) {
        float v[3];
        synth_fill(spots[i].name, v, 3);
        ck_assert_msg(memcmp(v, spots[i].v, sizeof v) == 0, "%s differs from synth.py", spots[i].name);
    }
    float ls;
    synth_fill("logit_scale", &ls, 1);
    ck_assert_float_eq_tol(ls, 4.6051702f, 1e-6f);
    st_close(sf);
    cJSON_Delete(root);
}
END_TEST

START_TEST(test_reference)
{
    char cmd[8192], ref[4096];
    snprintf(cmd, sizeof cmd, "%s verify -m %s %s --tol 1e-4", CLIPCL_EXE, dir,
             tu_data(ref, sizeof ref, "synth-vit-b-32/reference.safetensors"));
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 0);
    /* fp16 weight storage, float32 arithmetic: ~1e-3 */
    snprintf(cmd, sizeof cmd, "%s verify -m %s %s --tol 3e-3 --precision fp16", CLIPCL_EXE, dir, ref);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("synth-vit-b-32");
    TCase *tc = tcase_create("synth");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, test_manifest);
    tcase_add_test(tc, test_reference);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK); /* the fixture's model folder is shared */
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
