/* bench_tok.c — tokenizer throughput: tokens per second over a corpus, median of several runs.
 *
 * usage: bench_tok [FILE] [--runs N]
 *   FILE: one text per line (UTF-8); default: a generated corpus of 20,000 prompt-like texts
 *   (zero-shot templates over class names, with a share of accented, CJK, emoji and
 *   mojibake texts so that the slower cleanup paths are represented). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clipcl.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static char **generate(int n)
{
    static const char *templates[] = {
        "a photo of a %s.", "a bad photo of the %s.", "a sculpture of a %s.", "itap of the %s.",
        "a close-up photo of a %s.", "a bright photo of a %s.", "a photo of the large %s.",
        "art of the %s.", "a drawing of a %s.", "a low resolution photo of the %s.",
        "This is a photo of a %s, taken on a sunny day in the park with friends.",
    };
    static const char *classes[] = {
        "goldfish", "great white shark", "tiger shark", "hammerhead", "electric ray", "stingray",
        "cock", "hen", "ostrich", "brambling", "goldfinch", "house finch", "junco", "indigo bunting",
        "American robin", "bulbul", "jay", "magpie", "chickadee", "American dipper", "kite",
        "bald eagle", "vulture", "great grey owl", "fire salamander", "smooth newt", "newt",
        "spotted salamander", "axolotl", "American bullfrog", "tree frog", "tailed frog",
        "loggerhead sea turtle", "leatherback sea turtle", "mud turtle", "terrapin", "box turtle",
        "banded gecko", "green iguana", "Carolina anole", "desert grassland whiptail lizard",
    };
    static const char *others[] = {
        "Crème brûlée au café, naïve résumé", "東京タワーの夜景の写真", "서울의 밤 풍경", "猫がソファで寝ている",
        "Привет, как дела?", "صورة قطة على الأريكة", "नमस्ते दुनिया", "😀🐱👍🏽 emoji 👨‍👩‍👧‍👦",
        "Ã©tÃ© mojibake â€œquotedâ€\x9d", "&lt;b&gt;bold&lt;/b&gt; &amp; more", "ＦＵＬＬＷＩＤＴＨ　１２３",
        "“curly” ‘quotes’ — ﬁne ﬂower", "ΟΔΥΣΣΕΥΣ ΣΑΣ", "İstanbul straße",
    };
    char **texts = malloc((size_t)n * sizeof *texts);
    unsigned seed = 12345;
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        char buf[512];
        if ((seed >> 16) % 10 == 0) {
            snprintf(buf, sizeof buf, "%s", others[(seed >> 8) % (sizeof others / sizeof *others)]);
        } else {
            const char *t = templates[(seed >> 4) % (sizeof templates / sizeof *templates)];
            const char *c = classes[(seed >> 12) % (sizeof classes / sizeof *classes)];
            snprintf(buf, sizeof buf, t, c);
        }
        texts[i] = strdup(buf);
    }
    return texts;
}

static char **read_lines(const char *path, int *n)
{
    FILE *f = fopen(path, "r");
    if (!f) { perror(path); exit(2); }
    char **texts = NULL, *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int count = 0, tcap = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        if (len && line[len - 1] == '\n') line[len - 1] = 0;
        if (count == tcap) {
            tcap = tcap ? tcap * 2 : 1024;
            texts = realloc(texts, (size_t)tcap * sizeof *texts);
        }
        texts[count++] = strdup(line);
    }
    free(line);
    fclose(f);
    *n = count;
    return texts;
}

int main(int argc, char **argv)
{
    const char *file = NULL;
    int runs = 7;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--help")) {
            printf("usage: bench_tok [FILE] [--runs N]\n");
            return 0;
        } else file = argv[i];
    }
    if (runs < 1) runs = 1;
    int n = 20000;
    char **texts = file ? read_lines(file, &n) : generate(n);

    double *t = malloc((size_t)(runs > 5 ? runs : 5) * sizeof *t);
    clipcl_tokenizer *tok = NULL;
    for (int r = 0; r < 5; r++) {
        double a = now();
        if (clipcl_tokenizer_create(NULL, &tok) != CLIPCL_OK) {
            fprintf(stderr, "bench_tok: %s\n", clipcl_errmsg());
            return 1;
        }
        t[r] = now() - a;
        if (r < 4) clipcl_tokenizer_free(tok);
    }
    printf("tokenizer creation: %.1f ms (median of 5)\n", median(t, 5) * 1e3);

    int32_t *ids = malloc(4096 * sizeof *ids);
    long tokens = 0;
    for (int r = 0; r < runs; r++) {
        long count = 0;
        double a = now();
        for (int i = 0; i < n; i++) {
            int k = 0;
            if (clipcl_tokenize_raw(tok, texts[i], -1, ids, 4096, &k) != CLIPCL_OK) {
                fprintf(stderr, "bench_tok: text %d: %s\n", i, clipcl_errmsg());
                return 1;
            }
            count += k;
        }
        t[r] = now() - a;
        tokens = count;
    }
    double s = median(t, runs);
    printf("corpus: %d texts, %ld BPE tokens (%s)\n", n, tokens, file ? file : "generated");
    printf("tokenize: %.0f tokens/s, %.0f texts/s (median of %d runs, %.1f ms per run)\n",
           (double)tokens / s, (double)n / s, runs, s * 1e3);

    clipcl_tokenizer_free(tok);
    for (int i = 0; i < n; i++) free(texts[i]);
    free(texts);
    free(ids);
    free(t);
    return 0;
}
