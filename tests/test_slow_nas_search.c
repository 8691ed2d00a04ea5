/* A tiny architecture search end to end (a few candidates, a few hundred Fashion-MNIST
 * images): its files, its progress events, resuming after a torn log line, refusing other
 * settings in the same folder, and a shared cache that spares the training; then frost
 * search on the same cache: its progress and JSON lines, and its plot. Release only
 * ("slow" label). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frost/frost.h"
#include "frost/nas.h"
#include "harness.h"

static char *slurp(const char *dir, const char *name)
{
    size_t n;
    return frost_test_read_all(frost_test_path(dir, name), &n);
}

/* The progress events of one search, as the callback saw them. */
typedef struct {
    frost_nas_progress ev[8];
    char text[8][128]; /* genotype_text only lives during the callback */
    int n;
} events;

static void record(const frost_nas_progress *ev, void *user)
{
    events *e = user;
    if (e->n < 8) {
        e->ev[e->n] = *ev;
        snprintf(e->text[e->n], sizeof e->text[e->n], "%s",
                 ev->genotype_text ? ev->genotype_text : "");
        e->ev[e->n].genotype_text = e->text[e->n];
        e->ev[e->n].genotype = NULL;
        e->n++;
    }
}

/* `frost ARGS` (FROST_BIN), its stdout into a malloc'd string; NULL if it failed. */
static char *run_frost(const char *args)
{
    const char *bin = getenv("FROST_BIN");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s", bin ? bin : "build/frost", args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    size_t n = 0, cap = 1 << 16;
    char *b = calloc(cap, 1);
    while (b && n + 1 < cap && fgets(b + n, (int)(cap - n), p))
        n += strlen(b + n);
    if (pclose(p) != 0) {
        free(b);
        return NULL;
    }
    return b;
}

static int lines(const char *s)
{
    int n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

/* frost search with the same settings on the shared cache: every candidate cached, so its
 * output is known exactly. The progress lines (bench/nas and users read them), the JSON
 * lines and the plot the CLI draws from log.csv and pareto.csv. */
static void check_cli_search(const char *dir, const char *cache, const events *lib)
{
    char args[2048], want[8192];
    const char *same = "--target-ms 0.3 --controller evolution --population 2 --tournament 2 "
                       "--train 200 --val 100 --epochs 2 --reps 2 --budget 3";
    snprintf(args, sizeof args, "search %s --cache %s --out %s/cli", same, cache, dir);
    char *got = run_frost(args);
    int n = snprintf(want, sizeof want,
                     "search: evolution controller, 3 candidates, target "
                     "0.300 ms (soft reward), 200 training images, 100 held out, 2 epochs per "
                     "candidate -> %s/cli\n",
                     dir);
    for (int i = 0; i < lib->n; i++) {
        const frost_nas_progress *ev = &lib->ev[i];
        n += snprintf(want + n, sizeof want - (size_t)n,
                      "[%3d/3] %s  int8 %.2f%%  %.4f ms  reward %.4f (cached)  best %.4f  "
                      "(0s/candidate)\n",
                      ev->step, ev->genotype_text, 100 * ev->result.int8_acc, ev->result.latency_ms,
                      ev->reward, ev->best_reward);
    }
    snprintf(want + n, sizeof want - (size_t)n,
             "wrote %s/cli/log.csv, pareto.csv, candidates.svg, best.json, best.arch.json\n"
             "to train the best network fully (as the candidates were, at full data) and make "
             "it an int8 model:\n"
             "  frost train --arch %s/cli/best.arch.json --qat --qat-delay 1 --gradboost --opt sgd "
             "--lr 0.1 --sched cosine --batch 64 --epochs 6 --val 5000 -o "
             "%s/cli/best.safetensors\n"
             "  frost convert %s/cli/best.safetensors -o %s/cli/best.int8\n"
             "  frost run %s/cli/best.int8\n",
             dir, dir, dir, dir, dir, dir);
    CHECK(got && strcmp(got, want) == 0);
    if (got && strcmp(got, want) != 0)
        fprintf(stderr, "  got:\n%s  want:\n%s", got, want);
    free(got);
    char cli_dir[700];
    snprintf(cli_dir, sizeof cli_dir, "%s/cli", dir);
    char *svg = slurp(cli_dir, "candidates.svg");
    CHECK(svg && strncmp(svg, "<svg xmlns=", 11) == 0 &&
          strstr(svg, ">3 candidates (grey), Pareto front (red)</text>") &&
          strstr(svg, "</svg>\n"));
    int grey = 0;
    for (const char *p = svg; p && (p = strstr(p, "fill=\"#999\"")); p++)
        grey++;
    CHECK_EQ_INT(grey, 3);
    free(svg);
    /* --json: one object per candidate and nothing else */
    snprintf(args, sizeof args, "search %s --cache %s --out %s/json --json", same, cache, dir);
    got = run_frost(args);
    const char *json_start = "{\"step\":1,\"reward\":";
    CHECK(got && lines(got) == 3 && strncmp(got, json_start, strlen(json_start)) == 0);
    CHECK(got && strstr(got, "\"cached\":true,\"result\":{\"genotype\":\"") != NULL);
    if (got && lib->n == 3) {
        char step3[256];
        snprintf(step3, sizeof step3,
                 "{\"step\":3,\"reward\":%.6f,\"cached\":true,"
                 "\"result\":{\"genotype\":\"%s\"",
                 lib->ev[2].reward, lib->ev[2].genotype_text);
        CHECK(strstr(got, step3) != NULL);
    }
    free(got);
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
    events first = {0};
    cfg.progress = record;
    cfg.progress_user = &first;
    CHECK(frost_nas_search(&space, &tr, &va, &cfg) == FROST_OK);
    char *log2 = slurp(out, "log.csv"), *svg = slurp(out, "candidates.svg");
    char *best = slurp(out, "best.json"), *arch = slurp(out, "best.arch.json");
    CHECK_EQ_INT(lines(log2), 3); /* header + 2 */
    CHECK(svg == NULL);           /* the plot is frost search's, not the library's */
    CHECK_EQ_INT(first.n, 2);     /* one event per candidate, no resume */
    for (int i = 0; i < first.n; i++) {
        const frost_nas_progress *ev = &first.ev[i];
        CHECK(ev->event == FROST_NAS_EVENT_CANDIDATE && ev->step == i + 1 && ev->budget == 2);
        CHECK(!ev->cached && ev->resumed == 0 && ev->seconds_per_candidate > 0);
        CHECK(ev->result.latency_ms > 0 && ev->result.int8_acc >= 0 && ev->reward > 0);
        CHECK(ev->best_reward >= ev->reward && strncmp(ev->genotype_text, "r", 1) == 0);
    }
    if (first.n == 2)
        CHECK(first.ev[1].best_reward ==
              (first.ev[0].reward > first.ev[1].reward ? first.ev[0].reward : first.ev[1].reward));
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
    events resumed = {0};
    cfg.progress_user = &resumed;
    CHECK(frost_nas_search(&space, &tr, &va, &cfg) == FROST_OK);
    CHECK_EQ_INT(resumed.n, 2); /* "resumed", then step 3 */
    CHECK(resumed.ev[0].event == FROST_NAS_EVENT_RESUMED && resumed.ev[0].resumed == 2 &&
          resumed.ev[0].budget == 3);
    CHECK(resumed.ev[1].event == FROST_NAS_EVENT_CANDIDATE && resumed.ev[1].step == 3);
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
    events again_ev = {0};
    cfg.progress_user = &again_ev;
    CHECK(frost_nas_search(&space, &tr, &va, &cfg) == FROST_OK);
    CHECK_EQ_INT(again_ev.n, 3);
    for (int i = 0; i < again_ev.n; i++)
        CHECK(again_ev.ev[i].cached && again_ev.ev[i].seconds_per_candidate == 0.0);
    char *again = slurp(out2, "log.csv");
    CHECK_EQ_INT(lines(again), 4);
    int cached = 0;
    for (const char *p = again; p && (p = strstr(p, ",1,0,200,0.000,0,")); p++) /* cached */
        cached++;
    CHECK_EQ_INT(cached, 3);
    /* other proxy data (a smaller validation set): the shared cache does not apply */
    frost_dataset va_small = {0};
    CHECK(frost_dataset_head(&va, 50, &va_small) == FROST_OK);
    char out3[600];
    snprintf(out3, sizeof out3, "%s/smaller", dir);
    cfg.out_dir = out3;
    cfg.budget = 1;
    cfg.progress = NULL; /* no callback: nothing reported */
    CHECK(frost_nas_search(&space, &tr, &va_small, &cfg) == FROST_OK);
    char *other = slurp(out3, "log.csv");
    CHECK(other && strstr(other, ",0,0,200,") != NULL && strstr(other, ",1,0,200,") == NULL);
    free(other);
    frost_dataset_free(&va_small);
    check_cli_search(dir, cache, &again_ev);
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
