/* A tiny architecture search end to end (a few candidates, a few hundred Fashion-MNIST
 * images): its files, resuming after a torn log line, refusing other settings in the same
 * folder, and a shared cache that spares the training. Release only ("slow" label). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frost/frost.h"
#include "frost/nas.h"
#include "harness.h"

static char *slurp(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = calloc((size_t)n + 1, 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n)
        b[0] = 0;
    fclose(f);
    return b;
}

static int lines(const char *s)
{
    int n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

TEST(test_tiny_search_resume_and_cache)
{
    frost_dataset full = {0}, rest = {0}, tr = {0}, va = {0};
    CHECK(frost_dataset_fashion_mnist(FROST_FASHION_MNIST_DIR, true, &full) == FROST_OK);
    CHECK(frost_dataset_split(&full, 100, 1, &rest, &va) == FROST_OK);
    CHECK(frost_dataset_head(&rest, 200, &tr) == FROST_OK);
    frost_dataset_free(&full);
    frost_dataset_free(&rest);
    char dir[] = "/tmp/frost_nas_XXXXXX", out[600], out2[600], cache[600];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(out, sizeof out, "%s/run", dir);
    snprintf(out2, sizeof out2, "%s/again", dir);
    snprintf(cache, sizeof cache, "%s/cache.csv", dir);
    frost_nas_space space = frost_nas_space_default();
    frost_nas_search_config cfg = {0};
    cfg.controller = frost_nas_controller_defaults(FROST_NAS_EVOLUTION);
    cfg.controller.population = 2;
    cfg.controller.tournament = 2;
    cfg.reward = frost_nas_reward_soft(0.3);
    cfg.eval = frost_nas_eval_defaults();
    cfg.eval.epochs = 2;
    cfg.eval.latency_reps = 2;
    cfg.budget = 2;
    cfg.out_dir = out;
    cfg.cache_path = cache;
    cfg.quiet = true;
    CHECK(frost_nas_search(&space, &tr, &va, &cfg) == FROST_OK);
    char *log2 = slurp(out, "log.csv"), *svg = slurp(out, "candidates.svg");
    char *best = slurp(out, "best.json"), *arch = slurp(out, "best.arch.json");
    CHECK_EQ_INT(lines(log2), 3); /* header + 2 */
    CHECK(svg && strstr(svg, "<svg") && strstr(svg, "Pareto"));
    frost_nas_genotype g;
    CHECK(best && frost_nas_from_json(best, &g) == FROST_OK);
    frost_model *m = NULL;
    CHECK(arch && frost_model_from_json(arch, "best", &m) == FROST_OK);
    frost_model_free(m);
    /* killed while writing step 3: a torn line; the rerun drops it and continues */
    char path[700];
    snprintf(path, sizeof path, "%s/log.csv", out);
    FILE *f = fopen(path, "a");
    fputs("3,r28.m3", f);
    fclose(f);
    cfg.budget = 3;
    CHECK(frost_nas_search(&space, &tr, &va, &cfg) == FROST_OK);
    char *log3 = slurp(out, "log.csv");
    CHECK_EQ_INT(lines(log3), 4);
    CHECK(log2 && log3 && strncmp(log2, log3, strlen(log2)) == 0); /* the first two as they were */
    /* the same folder with other settings is refused */
    cfg.controller.seed = 2;
    CHECK(frost_nas_search(&space, &tr, &va, &cfg) == FROST_ERR_ARG);
    CHECK(strstr(frost_last_error(), "other settings") != NULL);
    /* a second search with the same seed and the shared cache: every candidate cached */
    cfg.controller.seed = 1;
    cfg.out_dir = out2;
    CHECK(frost_nas_search(&space, &tr, &va, &cfg) == FROST_OK);
    char *again = slurp(out2, "log.csv");
    CHECK_EQ_INT(lines(again), 4);
    int cached = 0;
    for (const char *p = again; p && (p = strstr(p, ",1\n")); p++)
        cached++;
    CHECK_EQ_INT(cached, 3);
    /* other proxy data (a smaller validation set): the shared cache does not apply */
    frost_dataset va_small = {0};
    CHECK(frost_dataset_head(&va, 50, &va_small) == FROST_OK);
    char out3[600];
    snprintf(out3, sizeof out3, "%s/smaller", dir);
    cfg.out_dir = out3;
    cfg.budget = 1;
    CHECK(frost_nas_search(&space, &tr, &va_small, &cfg) == FROST_OK);
    char *other = slurp(out3, "log.csv");
    CHECK(other && strstr(other, ",0\n") != NULL && strstr(other, ",1\n") == NULL);
    free(other);
    frost_dataset_free(&va_small);
    free(log2), free(log3), free(svg), free(best), free(arch), free(again);
    frost_dataset_free(&tr);
    frost_dataset_free(&va);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    RUN(test_tiny_search_resume_and_cache);
    return frost_test_summary();
}
