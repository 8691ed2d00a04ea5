/* Successive halving in frost_nas_search with a stand-in evaluator (no training): the rung
 * sizes and training-image counts, that each rung promotes the best 1/eta by reward, that
 * the Pareto front and best genotype use full-budget results only, the cache keys of the
 * rungs, and resuming (from a finished log, and from a cut one with a torn line). Then
 * latency screening with a real (small) latency table. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frost/nas.h"
#include "harness.h"

#define MAX_EVENTS 64

typedef struct {
    int n, rung[MAX_EVENTS], images[MAX_EVENTS], step[MAX_EVENTS], budget[MAX_EVENTS];
    double reward[MAX_EVENTS];
    frost_nas_genotype g[MAX_EVENTS];
    int resumed_events;
} events;

static void record(const frost_nas_progress *ev, void *user)
{
    events *e = user;
    if (ev->event == FROST_NAS_EVENT_RESUMED) {
        e->resumed_events++;
        return;
    }
    if (e->n == MAX_EVENTS)
        return;
    e->rung[e->n] = ev->rung;
    e->images[e->n] = ev->train_images;
    e->step[e->n] = ev->step;
    e->budget[e->n] = ev->budget;
    e->reward[e->n] = ev->reward;
    e->g[e->n] = *ev->genotype;
    e->n++;
}

static int fail_one_in; /* > 0: the stand-in fails numerically on 1 genotype in this many */

/* A cheap stand-in for training: the accuracy grows with the training images and depends
 * on the genotype through its hash, differently at each image count (so the rungs do
 * not simply agree); the latency is the hash's, about the target; the float accuracy is
 * the int8 one +-0.1 (by another bit of the hash), so that either can be the lower. */
static frost_status fake_evaluate(const frost_nas_genotype *g, const frost_nas_space *space,
                                  const frost_dataset *train, const frost_dataset *val,
                                  const frost_nas_eval_config *cfg, frost_nas_result *out,
                                  void *user)
{
    (void)space, (void)val, (void)cfg;
    (*(int *)user)++;
    uint64_t h = frost_nas_hash(g), mix = h ^ ((uint64_t)train->n * 0x9e3779b97f4a7c15ull);
    if (fail_one_in && h % (uint64_t)fail_one_in == 0) /* as a diverged training would */
        return frost_fail(FROST_ERR_NUMERIC, "stand-in: the loss is nan");
    double quality = (double)(h % 1000) / 1000, noise = (double)(mix >> 40 & 0xff) / 255;
    *out = (frost_nas_result){.int8_acc = 0.5 + 0.3 * quality + 0.1 * noise,
                              .latency_ms = 0.2 + (double)(h >> 20 & 0xff) / 1275,
                              .train_acc = 0.5,
                              .params = 1000,
                              .macs = 10000,
                              .train_seconds = 0.001 * train->n};
    out->fp32_acc = out->int8_acc + (h >> 33 & 1 ? 0.1 : -0.1);
    return FROST_OK;
}

static char *slurp(const char *dir, const char *name)
{
    size_t n;
    return frost_test_read_all(frost_test_path(dir, name), &n);
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; p && (p = strstr(p, what)); p++)
        n++;
    return n;
}

/* The start of field i (0-based) of a CSV line, or NULL past the line's end. */
static const char *field(const char *line, int i)
{
    const char *end = strchr(line, '\n');
    for (; i > 0 && line; i--) {
        line = strchr(line, ',');
        line = line && (!end || line < end) ? line + 1 : NULL;
    }
    return line;
}

/* The log without its eval_seconds column (wall time; field 12), for comparing two runs. */
static void strip_seconds(char *log)
{
    char *w = log;
    for (char *line = log; line && *line;) {
        char *end = strchr(line, '\n');
        const char *from = field(line, 12), *to = field(line, 13);
        size_t head = (size_t)(from - line), tail = (size_t)(end + 1 - to);
        memmove(w, line, head);
        memmove(w + head, to, tail);
        w += head + tail;
        line = end + 1;
    }
    *w = 0;
}

/* Lines of a log whose screened column (field 13) is `flag`. */
static int count_screened(const char *log, int flag)
{
    int n = 0;
    for (const char *line = strchr(log ? log : "", '\n'); line && line[1];
         line = strchr(line + 1, '\n')) {
        const char *f = field(line + 1, 13);
        n += f && atoi(f) == flag && f[1] == ',';
    }
    return n;
}

typedef struct {
    frost_dataset train, val;
    frost_nas_space space;
    frost_nas_search_config cfg;
    events ev;
    int calls;
    char dir[64], out[128], cache[128];
} fixture;

static void setup(fixture *f, int eta, int rungs, int budget)
{
    memset(f, 0, sizeof *f);
    f->train = (frost_dataset){.n = 90, .h = 28, .w = 28, .c = 1, .classes = 10};
    f->train.images = calloc(90 * 28 * 28, 1);
    f->train.labels = calloc(90, 1);
    f->val = (frost_dataset){.n = 20, .h = 28, .w = 28, .c = 1, .classes = 10};
    f->val.images = calloc(20 * 28 * 28, 1);
    f->val.labels = calloc(20, 1);
    f->space = frost_nas_space_default();
    snprintf(f->dir, sizeof f->dir, "/tmp/frost_halving_XXXXXX");
    CHECK(mkdtemp(f->dir) != NULL);
    snprintf(f->out, sizeof f->out, "%s/run", f->dir);
    snprintf(f->cache, sizeof f->cache, "%s/cache.csv", f->dir);
    frost_nas_search_config *c = &f->cfg;
    c->controller = frost_nas_controller_defaults(FROST_NAS_RANDOM);
    c->budget = budget;
    c->reward = frost_nas_reward_soft(0.3);
    c->eval = frost_nas_eval_defaults();
    c->out_dir = f->out;
    c->cache_path = f->cache;
    c->progress = record;
    c->progress_user = &f->ev;
    c->halving = (frost_nas_halving){.eta = eta, .rungs = rungs};
    c->evaluate = fake_evaluate;
    c->evaluate_user = &f->calls;
}

static void teardown(fixture *f)
{
    frost_dataset_free(&f->train);
    frost_dataset_free(&f->val);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    CHECK(system(cmd) == 0);
}

/* Checks one bracket of events from index at (9 at rung 0, 3 at rung 1, 1 at rung 2):
 * the promoted ones are the best by the previous rung's reward. */
static void check_bracket(const events *e, int at)
{
    static const int size[3] = {9, 3, 1}, images[3] = {10, 30, 90};
    int first = at;
    for (int rung = 0; rung < 3; rung++) {
        for (int i = 0; i < size[rung]; i++) {
            CHECK_EQ_INT(e->rung[at + i], rung);
            CHECK_EQ_INT(e->images[at + i], images[rung]);
        }
        if (rung > 0) { /* each promoted one beats every member of the rung below it left */
            int below = first, n_below = size[rung - 1];
            for (int j = 0; j < n_below; j++) {
                bool promoted = false;
                for (int i = 0; i < size[rung]; i++)
                    promoted |= frost_nas_equal(&e->g[below + j], &e->g[at + i]);
                for (int k = 0; promoted && k < n_below; k++) {
                    bool k_promoted = false;
                    for (int i = 0; i < size[rung]; i++)
                        k_promoted |= frost_nas_equal(&e->g[below + k], &e->g[at + i]);
                    if (!k_promoted)
                        CHECK(e->reward[below + j] >= e->reward[below + k]);
                }
            }
        }
        first = at;
        at += size[rung];
    }
}

TEST(test_rungs_promote_the_best_third)
{
    fixture f;
    setup(&f, 3, 2, 18);
    CHECK(frost_nas_search(&f.space, &f.train, &f.val, &f.cfg) == FROST_OK);
    CHECK_EQ_INT(f.ev.n, 26); /* two brackets of 9 + 3 + 1 */
    CHECK_EQ_INT(f.calls, 26);
    for (int i = 0; i < f.ev.n; i++)
        CHECK(f.ev.step[i] == i + 1 && f.ev.budget[i] == 26);
    if (f.ev.n == 26) {
        check_bracket(&f.ev, 0);
        check_bracket(&f.ev, 13);
    }
    /* the log says the rung and images of each line; the cache keys differ by images */
    char *log = slurp(f.out, "log.csv"), *cache = slurp(f.dir, "cache.csv");
    CHECK(log && strstr(log, ",cached,rung,train_images,eval_seconds,screened,fp32_acc\n") != NULL);
    CHECK_EQ_INT(count(log, ",0,0,10,"), 18);
    CHECK_EQ_INT(count(log, ",0,1,30,"), 6);
    CHECK_EQ_INT(count(log, ",0,2,90,"), 2);
    CHECK_EQ_INT(count(cache, "-n10-v20,"), 18);
    CHECK_EQ_INT(count(cache, "-n30-v20,"), 6);
    CHECK_EQ_INT(count(cache, "-n90-v20,"), 2);
    /* the front and the best: full-budget results only */
    char *front = slurp(f.out, "pareto.csv"), *best = slurp(f.out, "best.json");
    int front_lines = count(front, "\n") - 1;
    CHECK(front_lines >= 1 && front_lines == count(front, ",2,90,"));
    frost_nas_genotype g, want = f.ev.g[12];
    if (f.ev.n == 26 && f.ev.reward[25] > f.ev.reward[12])
        want = f.ev.g[25];
    CHECK(best && frost_nas_from_json(best, &g) == FROST_OK && frost_nas_equal(&g, &want));
    free(front), free(best), free(cache);
    /* resuming a finished search replays it: nothing evaluated, nothing reported */
    f.calls = 0;
    f.ev.n = 0;
    CHECK(frost_nas_search(&f.space, &f.train, &f.val, &f.cfg) == FROST_OK);
    CHECK(f.calls == 0 && f.ev.n == 0 && f.ev.resumed_events == 1);
    /* cut after step 11 (inside the first bracket's rung 1) with a torn line, no cache */
    char path[300];
    snprintf(path, sizeof path, "%s/log.csv", f.out);
    FILE *out = fopen(path, "w");
    const char *p = log;
    for (int line = 0; p && line < 12; line++) /* the header and 11 steps */
        p = strchr(p, '\n') + 1;
    fwrite(log, 1, (size_t)(p - log), out);
    fputs("12,r28.m3", out);
    fclose(out);
    unlink(f.cache);
    f.calls = 0;
    CHECK(frost_nas_search(&f.space, &f.train, &f.val, &f.cfg) == FROST_OK);
    CHECK_EQ_INT(f.calls, 15);
    CHECK(f.ev.n == 15 && f.ev.step[0] == 12);
    char *again = slurp(f.out, "log.csv");
    strip_seconds(log);
    strip_seconds(again);
    CHECK(again && strcmp(log, again) == 0);
    free(log), free(again);
    /* other halving settings in the same folder are refused */
    f.cfg.halving.eta = 2;
    f.cfg.budget = 16;
    CHECK(frost_nas_search(&f.space, &f.train, &f.val, &f.cfg) == FROST_ERR_ARG);
    teardown(&f);
}

TEST(test_without_halving_every_line_is_full)
{
    fixture f;
    setup(&f, 0, 0, 5);
    f.cfg.controller = frost_nas_controller_defaults(FROST_NAS_PPO);
    f.cfg.controller.ppo_batch = 2;
    CHECK(frost_nas_search(&f.space, &f.train, &f.val, &f.cfg) == FROST_OK);
    CHECK_EQ_INT(f.ev.n, 5);
    CHECK_EQ_INT(f.calls, 5);
    double best = -1;
    for (int i = 0; i < f.ev.n; i++) {
        CHECK(f.ev.rung[i] == 0 && f.ev.images[i] == 90 && f.ev.budget[i] == 5);
        best = fmax(best, f.ev.reward[i]);
    }
    char *log = slurp(f.out, "log.csv");
    CHECK_EQ_INT(count(log, ",0,0,90,"), 5);
    free(log);
    /* a larger budget extends it: the PPO controller proposes the logged five again */
    f.cfg.budget = 7;
    f.calls = 0;
    CHECK(frost_nas_search(&f.space, &f.train, &f.val, &f.cfg) == FROST_OK);
    CHECK(f.calls == 2 && f.ev.n == 7 && f.ev.step[6] == 7);
    teardown(&f);
}

TEST(test_bad_halving_refused)
{
    fixture f;
    setup(&f, 3, 2, 10); /* not whole brackets of 9 */
    CHECK(frost_nas_search(&f.space, &f.train, &f.val, &f.cfg) == FROST_ERR_ARG);
    f.cfg.halving = (frost_nas_halving){.eta = 1, .rungs = 2};
    f.cfg.budget = 9;
    CHECK(frost_nas_search(&f.space, &f.train, &f.val, &f.cfg) == FROST_ERR_ARG);
    CHECK_EQ_INT(f.calls, 0);
    teardown(&f);
}

/* The cache's evaluation key: a default (W8A8 per-channel) evaluation keeps the key it
 * always had (existing caches and search.json files stay valid); W4A4 and per-tensor
 * weights add a suffix, which search.json pins (another scheme in the folder is refused). */
TEST(test_eval_key_names_the_quant_scheme)
{
    static const char *const default_key = "w0.35-h0-e3-f1-gb1-b64-lr0.1-s1-t1-rq0-n90-v20";
    static const struct {
        int wbits, abits;
        bool per_tensor;
        const char *suffix;
    } schemes[] = {
        {8, 8, false, ""}, {4, 4, false, "-w4a4"}, {8, 8, true, "-pt"}, {4, 8, true, "-w4a8-pt"}};
    for (size_t i = 0; i < sizeof schemes / sizeof *schemes; i++) {
        fixture f;
        setup(&f, 0, 0, 2);
        f.cfg.eval.weight_bits = schemes[i].wbits;
        f.cfg.eval.act_bits = schemes[i].abits;
        f.cfg.eval.per_tensor = schemes[i].per_tensor;
        CHECK(frost_nas_search(&f.space, &f.train, &f.val, &f.cfg) == FROST_OK);
        char key[128], pinned[160];
        snprintf(key, sizeof key, "\n%s%s,", default_key, schemes[i].suffix);
        snprintf(pinned, sizeof pinned, "\"eval\":\"%s%s\"}", default_key, schemes[i].suffix);
        char *cache = slurp(f.dir, "cache.csv"), *settings = slurp(f.out, "search.json");
        CHECK_EQ_INT(count(cache, key), 2);
        CHECK(settings && strstr(settings, pinned) != NULL);
        free(cache), free(settings);
        /* the same folder with another scheme: refused, nothing evaluated */
        f.cfg.eval.act_bits = schemes[i].abits == 8 ? 6 : 8;
        f.calls = 0;
        CHECK(frost_nas_search(&f.space, &f.train, &f.val, &f.cfg) == FROST_ERR_ARG);
        CHECK_EQ_INT(f.calls, 0);
        teardown(&f);
    }
}

/* Rewrites a file without the last column of each line: a log or cache as written before
 * fp32_acc was added. */
static void drop_last_column(const char *path)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f)
        return;
    char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    f = fopen(path, "wb");
    for (char *line = text; f && *line;) {
        char *end = strchr(line, '\n'), *comma = line;
        for (char *p = line; p < end; p++)
            if (*p == ',')
                comma = p;
        fwrite(line, 1, (size_t)(comma - line), f);
        fputc('\n', f);
        line = end + 1;
    }
    if (f)
        fclose(f);
}

/* The objective min: every logged reward is the reward of min(fp32_acc, int8_acc), both
 * accuracies are logged (fp32_acc last) and search.json pins the objective. Then logs and
 * caches without fp32_acc (older files) still load: the int8 objective takes the old
 * cache's results, the min objective evaluates again (it needs the float accuracy). */
TEST(test_objective_min_and_files_without_fp32)
{
    fixture f;
    setup(&f, 0, 0, 6);
    f.cfg.objective = FROST_NAS_OBJECTIVE_MIN;
    CHECK(frost_nas_search(&f.space, &f.train, &f.val, &f.cfg) == FROST_OK);
    CHECK_EQ_INT(f.calls, 6);
    char *log = slurp(f.out, "log.csv"), *settings = slurp(f.out, "search.json");
    CHECK(log && strstr(log, ",eval_seconds,screened,fp32_acc\n") != NULL);
    CHECK(settings && strstr(settings, "\"objective\":\"min\",") != NULL);
    int lower_fp32 = 0, lines = 0;
    for (const char *line = strchr(log ? log : "", '\n'); line && line[1];
         line = strchr(line + 1, '\n'), lines++) {
        double int8, lat, reward, fp32;
        CHECK(sscanf(field(line + 1, 2), "%lf,%lf,%lf", &int8, &lat, &reward) == 3);
        CHECK(sscanf(field(line + 1, 14), "%lf", &fp32) == 1);
        CHECK_NEAR(fabs(fp32 - int8), 0.1, 1e-5, 0);
        CHECK_NEAR(reward, frost_nas_reward_value(&f.cfg.reward, fmin(fp32, int8), lat), 1e-5, 0);
        lower_fp32 += fp32 < int8;
    }
    printf("  %d of %d candidates scored by their fp32 accuracy\n", lower_fp32, lines);
    CHECK(lines == 6 && lower_fp32 >= 1 && lower_fp32 <= 5); /* both cases occurred */
    free(log), free(settings);
    /* the int8 objective in the same folder is refused */
    f.cfg.objective = FROST_NAS_OBJECTIVE_INT8;
    CHECK(frost_nas_search(&f.space, &f.train, &f.val, &f.cfg) == FROST_ERR_ARG);
    /* an old cache (no fp32_acc): the int8 objective takes its results, fp32 unknown */
    drop_last_column(f.cache);
    char old[160], min[160], path[200];
    snprintf(old, sizeof old, "%s/old", f.dir);
    snprintf(min, sizeof min, "%s/min", f.dir);
    f.cfg.out_dir = old;
    f.calls = 0;
    f.ev.n = 0;
    CHECK(frost_nas_search(&f.space, &f.train, &f.val, &f.cfg) == FROST_OK);
    CHECK(f.calls == 0 && f.ev.n == 6);
    log = slurp(old, "log.csv");
    CHECK_EQ_INT(count(log, ",1,0,90,"), 6); /* cached, rung 0, 90 images */
    CHECK_EQ_INT(count(log, ",0,\n"), 6);    /* not screened, fp32 unknown */
    free(log);
    /* ... and the min objective evaluates them again */
    f.cfg.out_dir = min;
    f.cfg.objective = FROST_NAS_OBJECTIVE_MIN;
    CHECK(frost_nas_search(&f.space, &f.train, &f.val, &f.cfg) == FROST_OK);
    CHECK_EQ_INT(f.calls, 6);
    /* an old log (no fp32_acc column) resumes and is extended */
    snprintf(path, sizeof path, "%s/log.csv", old);
    drop_last_column(path);
    f.cfg.out_dir = old;
    f.cfg.objective = FROST_NAS_OBJECTIVE_INT8;
    f.cfg.budget = 8;
    f.calls = 0;
    f.ev.n = 0;
    CHECK(frost_nas_search(&f.space, &f.train, &f.val, &f.cfg) == FROST_OK);
    CHECK(f.calls == 2 && f.ev.n == 2 && f.ev.step[0] == 7);
    log = slurp(old, "log.csv");
    CHECK(log && strstr(log, ",screened,fp32_acc\n") != NULL);
    CHECK_EQ_INT(count(log, ",0,\n"), 6); /* the old lines: fp32 unknown */
    free(log);
    teardown(&f);
}

/* A latency table as the search would build it (the same random networks, seed 1). */
static frost_nas_lut *screening_table(const fixture *f)
{
    frost_nas_lut *lut = NULL;
    CHECK(frost_nas_lut_create(f->cfg.eval.latency_threads, 10, false, &lut) == FROST_OK);
    uint64_t rng = 1;
    for (int i = 0; lut && i < f->cfg.screen_nets; i++) {
        frost_nas_genotype g;
        double t;
        frost_nas_sample(&f->space, &rng, &g);
        CHECK(frost_nas_lut_measure(lut, &g, &f->space, true, &t) == FROST_OK);
    }
    return lut;
}

/* The table's prediction of each of the first n proposals of the fixture's controller (random,
 * seed 1: its proposals do not depend on the rewards). */
static void predictions(const fixture *f, const frost_nas_lut *lut, int n, double *ms)
{
    frost_nas_controller *c = NULL;
    CHECK(frost_nas_controller_create(&f->cfg.controller, &f->space, &c) == FROST_OK);
    for (int i = 0; c && lut && i < n; i++) {
        frost_nas_genotype g;
        CHECK(frost_nas_propose(c, &g) == FROST_OK);
        CHECK(frost_nas_lut_predict(lut, &g, &f->space, &ms[i], NULL, NULL) == FROST_OK);
        CHECK(frost_nas_observe(c, 0.5) == FROST_OK);
    }
    frost_nas_controller_free(c);
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

TEST(test_screening_skips_the_slow_ones)
{
    enum { N = 12 };
    fixture f;
    setup(&f, 0, 0, N);
    f.cfg.screen_factor = 1.5;
    f.cfg.screen_nets = 4;
    f.cfg.eval.latency_threads = 1;
    /* the search is handed this table: two tables measured apart would differ by the
     * machine's noise, and the median below would no longer split the proposals */
    frost_nas_lut *lut = screening_table(&f);
    f.cfg.screen_lut = lut;
    double ms[N];
    predictions(&f, lut, N, ms);
    qsort(ms, N, sizeof *ms, by_value);
    f.cfg.reward = frost_nas_reward_hard((ms[N / 2 - 1] + ms[N / 2]) / 2 / 1.5); /* the median */
    CHECK(frost_nas_search(&f.space, &f.train, &f.val, &f.cfg) == FROST_OK);
    CHECK_EQ_INT(f.ev.n, N);
    char *log = slurp(f.out, "log.csv"), *front = slurp(f.out, "pareto.csv");
    int screened = count_screened(log, 1), trained = count_screened(log, 0);
    printf("  screened %d of %d proposals\n", screened, N);
    CHECK(screened >= 1 && trained >= 1 && screened + trained == N);
    int slower = 0; /* the same table: exactly the proposals predicted above the line */
    for (int i = 0; i < N; i++)
        slower += ms[i] > 1.5 * f.cfg.reward.target_ms;
    CHECK_EQ_INT(screened, slower);
    CHECK_EQ_INT(f.calls, trained); /* the screened ones were never evaluated */
    CHECK(count_screened(front, 1) == 0 && count_screened(front, 0) >= 1);
    /* a screened line: its predicted latency above the line, the worst trained accuracy so
     * far (0 before any) as its accuracy, and the reward of the two */
    double worst = NAN;
    const char *line = strchr(log, '\n') + 1;
    for (int i = 0; i < N && line; i++, line = strchr(line, '\n') + 1) {
        double acc, lat, reward, fp32;
        int flag = -1;
        CHECK(sscanf(line,
                     "%*d,%*[^,],%lf,%lf,%lf,%*[^,],%*[^,],%*[^,],%*[^,],%*d,%*d,%*d,%*[^,],%d,%lf",
                     &acc, &lat, &reward, &flag, &fp32) == 5);
        if (flag == 1) {
            CHECK(lat > 1.5 * f.cfg.reward.target_ms);
            CHECK_NEAR(acc, worst == worst ? worst : 0.0, 1e-6, 0);
            CHECK_NEAR(fp32, acc, 1e-6, 0); /* the stand-in is both accuracies */
            CHECK_NEAR(reward, frost_nas_reward_value(&f.cfg.reward, acc, lat), 1e-5, 0);
        } else {
            CHECK(flag == 0);
            worst = worst == worst ? fmin(worst, acc) : acc;
        }
    }
    free(log), free(front);
    frost_nas_lut_free(lut);
    teardown(&f);
}

/* Candidates whose training fails numerically do not end the search: each is logged with
 * accuracy, latency and reward 0 (not screened), never promoted to a higher rung (the same
 * genotype fails again, so a promoted one would show up as a failed line there), never on
 * the front nor the best; another error still stops the search. */
TEST(test_failed_candidates_are_logged_and_passed_over)
{
    fixture f;
    setup(&f, 3, 2, 54);
    fail_one_in = 4;
    CHECK(frost_nas_search(&f.space, &f.train, &f.val, &f.cfg) == FROST_OK);
    fail_one_in = 0;
    char *log = slurp(f.out, "log.csv"), *front = slurp(f.out, "pareto.csv");
    char *best = slurp(f.out, "best.json");
    int failed = 0, lines = 0;
    for (const char *line = strchr(log, '\n') + 1; line && *line; line = strchr(line, '\n') + 1) {
        char genotype[128];
        double acc, lat, reward;
        int rung = -1, flag = -1;
        CHECK(sscanf(line, "%*d,%127[^,],%lf,%lf,%lf,%*[^,],%*[^,],%*[^,],%*[^,],%*d,%d,%*d,%*[^,],%d",
                     genotype, &acc, &lat, &reward, &rung, &flag) == 6);
        lines++;
        if (lat != 0.0)
            continue;
        failed++;
        CHECK(acc == 0.0 && reward == 0.0 && flag == 0);
        CHECK_EQ_INT(rung, 0);
        CHECK(front && strstr(front, genotype) == NULL);
        frost_nas_genotype g;
        CHECK_EQ_INT(frost_nas_from_string(genotype, &g), FROST_OK);
        char *j = frost_nas_to_json(&g);
        CHECK(best && j && strstr(best, j) == NULL);
        free(j);
    }
    printf("  %d of %d lines failed\n", failed, lines);
    CHECK_EQ_INT(lines, 54 + 18 + 6); /* 6 brackets: 9 + 3 + 1 lines each */
    CHECK(failed >= 3);
    free(log), free(front), free(best);
    teardown(&f);
}

int main(void)
{
    RUN(test_rungs_promote_the_best_third);
    RUN(test_without_halving_every_line_is_full);
    RUN(test_bad_halving_refused);
    RUN(test_eval_key_names_the_quant_scheme);
    RUN(test_objective_min_and_files_without_fp32);
    RUN(test_screening_skips_the_slow_ones);
    RUN(test_failed_candidates_are_logged_and_passed_over);
    return frost_test_summary();
}
