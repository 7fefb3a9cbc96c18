/* test_labelsets.c — built-in label sets, lookups and template filling (host/labelsets.h). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "clipcl.h"
#include "labelsets.h"

/* Counts, first and last (first synonym) names, taken from host/data/prompts.md and the
 * CLIP ImageNet notebook with Python's ast.literal_eval, independently of the generator. */
static const struct {
    const char *name;
    int n_classes, n_templates;
    const char *first, *last;
} expect[] = {
    {"ImageNet", 1000, 80, "tench", "toilet paper"},
    {"Birdsnap", 500, 1, "Acadian Flycatcher", "Zone tailed Hawk"},
    {"CIFAR10", 10, 18, "airplane", "truck"},
    {"CIFAR100", 100, 18, "apple", "worm"},
    {"CLEVRCounts", 8, 1, "10", "9"},
    {"Caltech101", 102, 34, "background", "yin and yang symbol"},
    {"Country211", 211, 5, "Andorra", "Zimbabwe"},
    {"DescribableTextures", 47, 8, "banded", "zigzagged"},
    {"EuroSAT", 10, 3, "forest", "highway or road"},
    {"FGVCAircraft", 100, 2, "707-320", "Yak-42"},
    {"FacialEmotionRecognition2013", 7, 6, "angry", "neutral"},
    {"Flowers102", 102, 1, "pink primrose", "blackberry lily"},
    {"Food101", 101, 1, "apple pie", "waffles"},
    {"GTSRB", 43, 3, "red and white circle 20 kph speed limit",
     "white circle with gray strike bar indicating no passing for trucks has ended"},
    {"HatefulMemes", 2, 1, "meme", "hatespeech meme"},
    {"KITTI", 4, 1, "a photo i took of a car on my left or right side.",
     "a photo i took with no car."},
    {"Kinetics700", 700, 28, "abseiling", "zumba"},
    {"MNIST", 10, 1, "0", "9"},
    {"OxfordPets", 37, 1, "Abyssinian", "yorkshire terrier"},
    {"PascalVOC2007", 20, 1, "aeroplane", "tvmonitor"},
    {"PatchCamelyon", 2, 1, "lymph node", "lymph node containing metastatic tumor tissue"},
    {"RESISC45", 45, 18, "airplane", "wetland"},
    {"SST2", 2, 1, "negative", "positive"},
    {"STL10", 10, 2, "airplane", "truck"},
    {"SUN397", 397, 2, "abbey", "youth hostel"},
    {"StanfordCars", 196, 8, "AM General Hummer SUV 2000", "smart fortwo Convertible 2012"},
    {"UCF101", 101, 48, "Apply Eye Makeup", "Yo Yo"},
};
#define N_EXPECT ((int)(sizeof expect / sizeof expect[0]))

START_TEST(all_sets_match_sources)
{
    ck_assert_int_eq(lbl_count(), N_EXPECT);
    ck_assert_ptr_null(lbl_get(-1));
    ck_assert_ptr_null(lbl_get(N_EXPECT));
    for (int i = 0; i < N_EXPECT; i++) {
        const lbl_set *s = lbl_get(i);
        ck_assert_ptr_nonnull(s);
        ck_assert_str_eq(s->name, expect[i].name);
        ck_assert_int_eq(s->n_classes, expect[i].n_classes);
        ck_assert_int_eq(s->n_templates, expect[i].n_templates);
        ck_assert_str_eq(s->classes[0][0], expect[i].first);
        ck_assert_str_eq(s->classes[s->n_classes - 1][0], expect[i].last);
        ck_assert_ptr_nonnull(s->source);
        ck_assert_ptr_eq(lbl_find(s->name), s);
        for (const char *const *a = s->aliases; *a; a++)
            ck_assert_ptr_eq(lbl_find(*a), s);
        for (int c = 0; c < s->n_classes; c++) {
            int k = lbl_n_synonyms(s, c);
            ck_assert_int_ge(k, 1);
            for (int j = 0; j < k; j++)
                ck_assert_int_gt((int)strlen(s->classes[c][j]), 0);
        }
        ck_assert_int_eq(lbl_n_synonyms(s, -1), 0);
        ck_assert_int_eq(lbl_n_synonyms(s, s->n_classes), 0);
        for (int t = 0; t < s->n_templates; t++)
            ck_assert_int_eq(lbl_template_check(s->templates[t], NULL), CLIPCL_OK);
    }
}
END_TEST

START_TEST(imagenet_entries)
{
    const lbl_set *s = lbl_find("imagenet");
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s->classes[21][0], "kite (bird of prey)");
    ck_assert_str_eq(s->classes[1][0], "goldfish");
    ck_assert_str_eq(s->templates[0], "a bad photo of a {}.");
    ck_assert_str_eq(s->templates[39], "a photo of a {}.");
    ck_assert_str_eq(s->templates[79], "a tattoo of the {}.");
    ck_assert_str_eq(s->classes[248][0], "husky");
    for (int c = 0; c < s->n_classes; c++)
        ck_assert_int_eq(lbl_n_synonyms(s, c), 1);
    /* The 80 templates are distinct; OpenAI's class list repeats exactly two names. */
    for (int a = 0; a < 80; a++)
        for (int b = a + 1; b < 80; b++)
            ck_assert_str_ne(s->templates[a], s->templates[b]);
    int dups = 0;
    for (int a = 0; a < 1000; a++)
        for (int b = a + 1; b < 1000; b++)
            dups += strcmp(s->classes[a][0], s->classes[b][0]) == 0;
    ck_assert_int_eq(dups, 2);
}
END_TEST

START_TEST(fer_synonyms)
{
    const lbl_set *s = lbl_find("fer2013");
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s->name, "FacialEmotionRecognition2013");
    static const int n[7] = {1, 1, 1, 2, 2, 3, 2};
    for (int c = 0; c < 7; c++)
        ck_assert_int_eq(lbl_n_synonyms(s, c), n[c]);
    ck_assert_str_eq(s->classes[3][1], "smiling");
    ck_assert_str_eq(s->classes[5][0], "surprised");
    ck_assert_str_eq(s->classes[5][1], "shocked");
    ck_assert_str_eq(s->classes[5][2], "spooked");
    ck_assert_ptr_null(s->classes[5][3]);
    ck_assert_str_eq(s->classes[6][1], "bored");
    ck_assert_str_eq(s->templates[5], "look at how {} they are.");
}
END_TEST

START_TEST(quoted_strings)
{
    /* Double-quoted literals in the sources, holding ' or " characters. */
    const lbl_set *c = lbl_find("Country211");
    int found = 0;
    for (int i = 0; i < c->n_classes; i++)
        found += strcmp(c->classes[i][0], "Cote d'Ivoire") == 0;
    ck_assert_int_eq(found, 1);
    const lbl_set *g = lbl_find("gtsrb");
    ck_assert_str_eq(g->templates[0], "a zoomed in photo of a \"{}\" traffic sign.");
    ck_assert_str_eq(lbl_find("mnist")->templates[0], "a photo of the number: \"{}\".");
    ck_assert_str_eq(lbl_find("kitti")->templates[0], "{}");
}
END_TEST

START_TEST(alias_lookup)
{
    const lbl_set *in = lbl_get(0);
    ck_assert_ptr_eq(lbl_find("ImageNet"), in);
    ck_assert_ptr_eq(lbl_find("IMAGENET"), in);
    ck_assert_ptr_eq(lbl_find("imagenet1k"), in);
    ck_assert_ptr_eq(lbl_find("ImageNet-1k"), in);
    ck_assert_ptr_eq(lbl_find("in1k"), in);
    ck_assert_str_eq(lbl_find("cifar10")->name, "CIFAR10");
    ck_assert_str_eq(lbl_find("CIFAR-100")->name, "CIFAR100");
    ck_assert_str_eq(lbl_find("cifar_100")->name, "CIFAR100");
    ck_assert_str_eq(lbl_find("dtd")->name, "DescribableTextures");
    ck_assert_str_eq(lbl_find("pets")->name, "OxfordPets");
    ck_assert_str_eq(lbl_find("Oxford-IIIT-Pet")->name, "OxfordPets");
    ck_assert_str_eq(lbl_find("voc2007")->name, "PascalVOC2007");
    ck_assert_str_eq(lbl_find("pcam")->name, "PatchCamelyon");
    ck_assert_str_eq(lbl_find("Kinetics-700")->name, "Kinetics700");
    ck_assert_str_eq(lbl_find("sun")->name, "SUN397");
    ck_assert_str_eq(lbl_find("stanford cars")->name, "StanfordCars");
    ck_assert_str_eq(lbl_find("FER")->name, "FacialEmotionRecognition2013");
}
END_TEST

START_TEST(unknown_sets)
{
    ck_assert_ptr_null(lbl_find("nope"));
    ck_assert_ptr_nonnull(strstr(clipcl_errmsg(), "nope"));
    ck_assert_ptr_null(lbl_find(NULL));
    ck_assert_ptr_null(lbl_find(""));
    ck_assert_ptr_null(lbl_find("cifar1000"));
    ck_assert_ptr_null(lbl_find("cifar"));
    ck_assert_ptr_null(lbl_find("imagenet.1k"));
    ck_assert_ptr_null(lbl_find("imagenet80")); /* a template set, not a label set */
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ck_assert_ptr_null(lbl_find(longname));
    /* A long run of ignored characters still normalizes to a known name. */
    char padded[200];
    memset(padded, '-', sizeof padded);
    memcpy(padded + 150, "MNIST", 6);
    ck_assert_str_eq(lbl_find(padded)->name, "MNIST");
}
END_TEST

START_TEST(template_sets)
{
    int n = -1;
    const char *const *t = lbl_templates_find("simple", &n);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(t[0], "a photo of a {}.");
    t = lbl_templates_find("ImageNet80", &n);
    ck_assert_int_eq(n, 80);
    ck_assert_ptr_eq(t, lbl_get(0)->templates);
    ck_assert_ptr_eq(lbl_templates_find("imagenet", &n), t);
    ck_assert_int_eq(n, 80);
    t = lbl_templates_find("imagenet7", &n);
    ck_assert_int_eq(n, 7);
    ck_assert_str_eq(t[0], "itap of a {}.");
    ck_assert_str_eq(t[6], "a photo of the small {}.");
    for (int i = 0; i < 7; i++) {
        int in80 = 0;
        for (int j = 0; j < 80; j++)
            in80 += strcmp(t[i], lbl_get(0)->templates[j]) == 0;
        ck_assert_int_eq(in80, 1);
    }
    t = lbl_templates_find("cifar-10", &n);
    ck_assert_int_eq(n, 18);
    ck_assert_str_eq(t[0], "a photo of a {}.");
    ck_assert_str_eq(t[17], "a photo of the big {}.");
    ck_assert_ptr_nonnull(lbl_templates_find("fer2013", NULL));
    n = 5;
    ck_assert_ptr_null(lbl_templates_find("unknown", &n));
    ck_assert_int_eq(n, 0);
    ck_assert_ptr_nonnull(strstr(clipcl_errmsg(), "unknown"));
    ck_assert_ptr_null(lbl_templates_find(NULL, &n));
    ck_assert_int_eq(lbl_tset_count(), 3);
    ck_assert_str_eq(lbl_tset_get(2)->name, "imagenet7");
    ck_assert_ptr_null(lbl_tset_get(3));
    ck_assert_ptr_null(lbl_tset_get(-1));
}
END_TEST

START_TEST(fill_basic)
{
    char buf[128];
    ck_assert_int_eq(lbl_fill("a photo of a {}.", "dog", buf, sizeof buf), CLIPCL_OK);
    ck_assert_str_eq(buf, "a photo of a dog.");
    ck_assert_int_eq(lbl_fill("{}", "x y", buf, sizeof buf), CLIPCL_OK);
    ck_assert_str_eq(buf, "x y");
    ck_assert_int_eq(lbl_fill("{} at start", "", buf, sizeof buf), CLIPCL_OK);
    ck_assert_str_eq(buf, " at start");
    /* Python: '{{{}}} and {{}}'.format('x') == '{x} and {}' */
    ck_assert_int_eq(lbl_fill("{{{}}} and {{}}", "x", buf, sizeof buf), CLIPCL_OK);
    ck_assert_str_eq(buf, "{x} and {}");
    /* The name goes in verbatim: no second substitution. */
    ck_assert_int_eq(lbl_fill("a {}.", "{}{", buf, sizeof buf), CLIPCL_OK);
    ck_assert_str_eq(buf, "a {}{.");
    /* UTF-8 passes through byte for byte. */
    ck_assert_int_eq(lbl_fill("caf\xc3\xa9 {}", "\xe2\x80\x9cq\xe2\x80\x9d", buf, sizeof buf),
                     CLIPCL_OK);
    ck_assert_str_eq(buf, "caf\xc3\xa9 \xe2\x80\x9cq\xe2\x80\x9d");
    const lbl_set *g = lbl_find("GTSRB");
    ck_assert_int_eq(lbl_fill(g->templates[1], g->classes[0][0], buf, sizeof buf), CLIPCL_OK);
    ck_assert_str_eq(buf,
                     "a centered photo of a \"red and white circle 20 kph speed limit\" traffic sign.");
}
END_TEST

START_TEST(fill_bounds)
{
    char buf[32];
    size_t fixed = 0;
    ck_assert_int_eq(lbl_template_check("a {}.", &fixed), CLIPCL_OK);
    ck_assert_uint_eq(fixed, 3);
    ck_assert_int_eq(lbl_template_check("{{{}}}", &fixed), CLIPCL_OK);
    ck_assert_uint_eq(fixed, 2);
    /* "a dog." needs 7 bytes with the NUL: 7 fits, 6 does not. */
    memset(buf, 'Z', sizeof buf);
    ck_assert_int_eq(lbl_fill("a {}.", "dog", buf, 7), CLIPCL_OK);
    ck_assert_str_eq(buf, "a dog.");
    memset(buf, 'Z', sizeof buf);
    ck_assert_int_eq(lbl_fill("a {}.", "dog", buf, 6), CLIPCL_ERR_LIMIT);
    ck_assert_int_eq(buf[0], '\0');
    ck_assert_int_eq(buf[6], 'Z'); /* nothing written past cap */
    ck_assert_ptr_nonnull(strstr(clipcl_errmsg(), "needs 7 bytes"));
    ck_assert_int_eq(lbl_fill("{}", "abcd", buf, 4), CLIPCL_ERR_LIMIT);
    ck_assert_int_eq(lbl_fill("{}", "abcd", buf, 5), CLIPCL_OK);
    ck_assert_int_eq(lbl_fill("{}", "", buf, 1), CLIPCL_OK);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(lbl_fill("a {}.", "dog", buf, 0), CLIPCL_ERR_INVALID_ARG);
    ck_assert_int_eq(lbl_fill(NULL, "dog", buf, sizeof buf), CLIPCL_ERR_INVALID_ARG);
    ck_assert_int_eq(lbl_fill("a {}.", NULL, buf, sizeof buf), CLIPCL_ERR_INVALID_ARG);
    ck_assert_int_eq(lbl_fill("a {}.", "dog", NULL, sizeof buf), CLIPCL_ERR_INVALID_ARG);
    /* A 999-byte name: "a " + name + "." + NUL needs 1003 bytes. */
    char name[1000];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    ck_assert_int_eq(lbl_fill("a {}.", name, buf, sizeof buf), CLIPCL_ERR_LIMIT);
    char *big = malloc(1003);
    ck_assert_ptr_nonnull(big);
    ck_assert_int_eq(lbl_fill("a {}.", name, big, 1003), CLIPCL_OK);
    ck_assert_uint_eq(strlen(big), 1002); /* exactly cap - 1 */
    ck_assert_int_eq(lbl_fill("a {}.", name, big, 1002), CLIPCL_ERR_LIMIT);
    free(big);
}
END_TEST

START_TEST(fill_bad_templates)
{
    char buf[64];
    static const char *const bad[] = {
        "a photo of a dog.",   /* no placeholder */
        "",                    /* empty */
        "a {} and a {}.",      /* two: Python's format(name) raises IndexError */
        "{}{}",
        "a {0}.",              /* positional and named fields are not supported */
        "a {name}.",
        "a { }.",
        "a {.",                /* lone braces */
        "a }.",
        "{} }",
        "{{}}",                /* an escaped literal "{}", so no placeholder */
        "a {}}",               /* {} then a lone } (Python: "Single '}'") */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(buf, 'Z', sizeof buf);
        ck_assert_msg(lbl_template_check(bad[i], NULL) == CLIPCL_ERR_INVALID_ARG,
                      "accepted '%s'", bad[i]);
        ck_assert_msg(lbl_fill(bad[i], "dog", buf, sizeof buf) == CLIPCL_ERR_INVALID_ARG,
                      "filled '%s'", bad[i]);
        ck_assert_int_eq(buf[0], '\0');
        ck_assert_int_gt((int)strlen(clipcl_errmsg()), 0);
    }
    ck_assert_int_eq(lbl_template_check(NULL, NULL), CLIPCL_ERR_INVALID_ARG);
    lbl_template_check("x {} {}", NULL);
    ck_assert_ptr_nonnull(strstr(clipcl_errmsg(), "more than one"));
    lbl_template_check("x", NULL);
    ck_assert_ptr_nonnull(strstr(clipcl_errmsg(), "no {}"));
}
END_TEST

static Suite *labelsets_suite(void)
{
    Suite *s = suite_create("labelsets");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, all_sets_match_sources);
    tcase_add_test(tc, imagenet_entries);
    tcase_add_test(tc, fer_synonyms);
    tcase_add_test(tc, quoted_strings);
    tcase_add_test(tc, alias_lookup);
    tcase_add_test(tc, unknown_sets);
    tcase_add_test(tc, template_sets);
    tcase_add_test(tc, fill_basic);
    tcase_add_test(tc, fill_bounds);
    tcase_add_test(tc, fill_bad_templates);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(labelsets_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
