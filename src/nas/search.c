/*
 * The architecture search loop (frost/nas.h, frost search): propose, evaluate (or take
 * the cached result), reward, observe; a CSV log written as it goes, so an interrupted
 * search resumes by replaying its log through the controller; at the end the Pareto
 * front and the best genotype by reward. Progress goes to the caller's callback (the
 * library prints nothing); the plot of the candidates is the CLI's (tools/search_plot.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/timer.h"
#include "core/util.h"
#include "frost/nas.h"
#include "io/textfile.h"

#define LOG_HEADER \
    "step,genotype,int8_acc,latency_ms,reward,params,macs,train_acc,train_seconds,cached"
#define CACHE_HEADER "eval,genotype,int8_acc,latency_ms,params,macs,train_acc,train_seconds"

typedef struct {
    frost_nas_genotype g;
    frost_nas_result r;
    double reward;
    bool cached;
} entry;

typedef struct {
    entry *e;
    int n, cap;
} entries;

static frost_status push(entries *l, const entry *x)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        entry *e = realloc(l->e, (size_t)cap * sizeof *e);
        if (!e)
            return frost_fail(FROST_ERR_NOMEM, "nas search: out of memory");
        l->e = e;
        l->cap = cap;
    }
    l->e[l->n++] = *x;
    return FROST_OK;
}

static void path_in(char *buf, size_t n, const char *dir, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

/* The evaluation settings a cached result was made with (the proxy data's sizes
 * included): results of other settings are not reused. */
static void eval_key(const frost_nas_space *s, const frost_nas_eval_config *c,
                     const frost_dataset *train, const frost_dataset *val, char *buf, size_t n)
{
    snprintf(buf, n, "w%g-h%d-e%d-f%d-gb%d-b%d-lr%g-s%llu-t%d-rq%d-n%d-v%d", (double)s->width,
             s->head, c->epochs, c->fp_epochs, c->gradboost, c->batch, (double)c->lr,
             (unsigned long long)c->seed, c->latency_threads, c->float_requant, train->n, val->n);
}

/* ---- files ---- */

static frost_status append_line(const char *path, const char *header, const char *line)
{
    bool fresh = access(path, F_OK) != 0;
    FILE *f = fopen(path, "a");
    if (!f)
        return frost_fail(FROST_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    bool ok =
        (!fresh || frost_file_printf(f, "%s\n", header)) && frost_file_printf(f, "%s\n", line);
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0; /* a kill loses at most this line */
    ok = fclose(f) == 0 && ok;
    return ok ? FROST_OK : frost_fail(FROST_ERR_IO, "cannot write %s", path);
}

/* Cached results with this evaluation key; a torn last line (a kill) is skipped. */
static frost_status load_cache(const char *path, const char *key, entries *cache)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return FROST_OK;
    char line[1024], k[256], text[128];
    while (fgets(line, sizeof line, f)) {
        entry x = {0};
        if (sscanf(line, "%255[^,],%127[^,],%lf,%lf,%" SCNd64 ",%" SCNd64 ",%lf,%lf", k, text,
                   &x.r.int8_acc, &x.r.latency_ms, &x.r.params, &x.r.macs, &x.r.train_acc,
                   &x.r.train_seconds) != 8 ||
            strcmp(k, key) != 0 || frost_nas_from_string(text, &x.g) != FROST_OK)
            continue;
        if (push(cache, &x) != FROST_OK) {
            fclose(f);
            return FROST_ERR_NOMEM;
        }
    }
    fclose(f);
    return FROST_OK;
}

static const entry *find_cached(const entries *cache, const frost_nas_genotype *g)
{
    for (int i = cache->n - 1; i >= 0; i--)
        if (frost_nas_equal(&cache->e[i].g, g))
            return &cache->e[i];
    return NULL;
}

/* The log so far (a torn last line is dropped and rewritten by the resumed run). */
static frost_status load_log(const char *path, entries *log)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return FROST_OK;
    char line[1024], text[128];
    int step, cached;
    while (fgets(line, sizeof line, f)) {
        entry x = {0};
        if (!strchr(line, '\n') ||
            sscanf(line, "%d,%127[^,],%lf,%lf,%lf,%" SCNd64 ",%" SCNd64 ",%lf,%lf,%d", &step, text,
                   &x.r.int8_acc, &x.r.latency_ms, &x.reward, &x.r.params, &x.r.macs,
                   &x.r.train_acc, &x.r.train_seconds, &cached) != 10)
            continue;
        if (step != log->n + 1 || frost_nas_from_string(text, &x.g) != FROST_OK) {
            fclose(f);
            return frost_fail(FROST_ERR_FORMAT, "%s: line for step %d is not the next step (%d)",
                              path, step, log->n + 1);
        }
        x.cached = cached != 0;
        FROST_TRY(push(log, &x));
    }
    fclose(f);
    return FROST_OK;
}

static void log_line(const entry *x, int step, char *buf, size_t n)
{
    char text[128];
    frost_nas_to_string(&x->g, text, sizeof text);
    snprintf(buf, n, "%d,%s,%.6f,%.6f,%.6f,%lld,%lld,%.6f,%.3f,%d", step, text, x->r.int8_acc,
             x->r.latency_ms, x->reward, (long long)x->r.params, (long long)x->r.macs,
             x->r.train_acc, x->r.train_seconds, x->cached);
}

/* Rewrites the log without a torn last line, so appends continue cleanly. */
static frost_status rewrite_log(const char *path, const entries *log)
{
    char tmp[4300], line[1024];
    snprintf(tmp, sizeof tmp, "%.4200s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return frost_fail(FROST_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    bool ok = frost_file_printf(f, "%s\n", LOG_HEADER);
    for (int i = 0; ok && i < log->n; i++) {
        log_line(&log->e[i], i + 1, line, sizeof line);
        ok = frost_file_printf(f, "%s\n", line);
    }
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0)
        return frost_fail(FROST_ERR_IO, "cannot write %s", path);
    return FROST_OK;
}

/* search.json: the settings that decide the proposals; a resume must use the same. */
static frost_status check_settings(const char *dir, const frost_nas_search_config *c,
                                   const char *key)
{
    char path[4200], want[1024], have[1024] = {0}, ppo[128] = "";
    path_in(path, sizeof path, dir, "search.json");
    const frost_nas_controller_config *k = &c->controller;
    if (k->kind == FROST_NAS_PPO) /* only then: older folders keep their search.json */
        snprintf(ppo, sizeof ppo, "\"ppo_batch\":%d,\"ppo_epochs\":%d,\"ppo_clip\":%g,",
                 k->ppo_batch, k->ppo_epochs, k->ppo_clip);
    snprintf(want, sizeof want,
             "{\"controller\":\"%s\",\"seed\":%llu,\"population\":%d,\"tournament\":%d,"
             "\"lr\":%g,\"entropy\":%g,%s\"target_ms\":%g,\"alpha\":%g,\"beta\":%g,"
             "\"eval\":\"%s\"}",
             frost_nas_controller_name(k->kind), (unsigned long long)k->seed, k->population,
             k->tournament, k->lr, k->entropy, ppo, c->reward.target_ms, c->reward.alpha,
             c->reward.beta, key);
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(have, sizeof have, f))
            have[0] = 0;
        fclose(f);
        have[strcspn(have, "\n")] = 0;
        if (strcmp(have, want) != 0)
            return frost_fail(FROST_ERR_ARG,
                              "%s holds a search with other settings (%s); use "
                              "another --out or the same settings (%s)",
                              dir, have, want);
        return FROST_OK;
    }
    f = fopen(path, "w");
    if (!f)
        return frost_fail(FROST_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    bool ok = frost_file_printf(f, "%s\n", want);
    ok = fclose(f) == 0 && ok;
    return ok ? FROST_OK : frost_fail(FROST_ERR_IO, "cannot write %s", path);
}

/* ---- results: Pareto front, best ---- */

static bool dominates(const entry *a, const entry *b)
{
    return a->r.int8_acc >= b->r.int8_acc && a->r.latency_ms <= b->r.latency_ms &&
           (a->r.int8_acc > b->r.int8_acc || a->r.latency_ms < b->r.latency_ms);
}

static int by_latency(const void *a, const void *b)
{
    double x = ((const entry *)a)->r.latency_ms, y = ((const entry *)b)->r.latency_ms;
    return (x > y) - (x < y);
}

/* The front: unique genotypes no other candidate dominates, by latency. */
static frost_status pareto(const entries *log, entries *front)
{
    for (int i = 0; i < log->n; i++) {
        bool keep = true;
        for (int j = 0; keep && j < log->n; j++)
            keep = !dominates(&log->e[j], &log->e[i]);
        for (int j = 0; keep && j < front->n; j++)
            keep = !frost_nas_equal(&front->e[j].g, &log->e[i].g);
        if (keep)
            FROST_TRY(push(front, &log->e[i]));
    }
    qsort(front->e, (size_t)front->n, sizeof *front->e, by_latency);
    return FROST_OK;
}

static frost_status write_front(const char *dir, const entries *front)
{
    char path[4200], line[1024];
    path_in(path, sizeof path, dir, "pareto.csv");
    FILE *f = fopen(path, "w");
    if (!f)
        return frost_fail(FROST_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    bool ok = frost_file_printf(f, "%s\n", LOG_HEADER);
    for (int i = 0; ok && i < front->n; i++) {
        log_line(&front->e[i], i + 1, line, sizeof line);
        ok = frost_file_printf(f, "%s\n", line);
    }
    ok = fclose(f) == 0 && ok;
    return ok ? FROST_OK : frost_fail(FROST_ERR_IO, "cannot write %s", path);
}

static frost_status write_text(const char *dir, const char *name, const char *text)
{
    char path[4200];
    path_in(path, sizeof path, dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return frost_fail(FROST_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    bool ok = frost_file_printf(f, "%s\n", text);
    ok = fclose(f) == 0 && ok;
    return ok ? FROST_OK : frost_fail(FROST_ERR_IO, "cannot write %s", path);
}

/* best.json (the genotype) and best.arch.json (its network) by reward. */
static frost_status write_best(const char *dir, const frost_nas_space *space, const entries *log)
{
    const entry *best = NULL;
    for (int i = 0; i < log->n; i++)
        if (!best || log->e[i].reward > best->reward)
            best = &log->e[i];
    if (!best)
        return FROST_OK;
    char *g = frost_nas_to_json(&best->g);
    frost_model *m = NULL;
    frost_status s = g ? frost_nas_build(&best->g, space, &m) : FROST_ERR_NOMEM;
    char *arch = s == FROST_OK ? frost_model_to_json(m) : NULL;
    if (s == FROST_OK && !arch)
        s = frost_fail(FROST_ERR_NOMEM, "nas search: out of memory");
    if (s == FROST_OK)
        s = write_text(dir, "best.json", g);
    if (s == FROST_OK)
        s = write_text(dir, "best.arch.json", arch);
    free(g);
    free(arch);
    frost_model_free(m);
    return s;
}

/* ---- the loop ---- */

/* Hands one logged candidate to the caller's progress callback. */
static void report(const frost_nas_search_config *cfg, int resumed, int step, const entry *x,
                   double best_reward, double started_ms, int evaluated)
{
    if (!cfg->progress)
        return;
    char text[128];
    frost_nas_to_string(&x->g, text, sizeof text);
    frost_nas_progress ev = {
        .event = FROST_NAS_EVENT_CANDIDATE,
        .budget = cfg->budget,
        .resumed = resumed,
        .step = step,
        .genotype = &x->g,
        .genotype_text = text,
        .result = x->r,
        .reward = x->reward,
        .cached = x->cached,
        .best_reward = best_reward,
        .seconds_per_candidate = evaluated ? (frost_now_ms() - started_ms) / 1e3 / evaluated : 0.0,
    };
    cfg->progress(&ev, cfg->progress_user);
}

static frost_status replay(frost_nas_controller *c, const entries *log, double *best)
{
    for (int i = 0; i < log->n; i++) {
        frost_nas_genotype g;
        FROST_TRY(frost_nas_propose(c, &g));
        if (!frost_nas_equal(&g, &log->e[i].g))
            return frost_fail(FROST_ERR_ARG,
                              "nas search: the log's step %d is not what the "
                              "controller proposes again (was the log edited?)",
                              i + 1);
        FROST_TRY(frost_nas_observe(c, log->e[i].reward));
        *best = log->e[i].reward > *best ? log->e[i].reward : *best;
    }
    return FROST_OK;
}

static frost_status search_loop(const frost_nas_space *space, const frost_dataset *train,
                                const frost_dataset *val, const frost_nas_search_config *cfg,
                                const char *key, const char *log_path, const char *cache_path,
                                frost_nas_controller *c, entries *log, entries *cache)
{
    double best = -1e300, started = frost_now_ms();
    int evaluated = 0;
    FROST_TRY(replay(c, log, &best));
    int resumed = log->n;
    if (resumed && cfg->progress) {
        frost_nas_progress ev = {
            .event = FROST_NAS_EVENT_RESUMED, .budget = cfg->budget, .resumed = resumed};
        cfg->progress(&ev, cfg->progress_user);
    }
    for (int step = log->n + 1; step <= cfg->budget; step++) {
        entry x = {0};
        FROST_TRY(frost_nas_propose(c, &x.g));
        const entry *hit = find_cached(cache, &x.g);
        if (hit) {
            x.r = hit->r;
            x.cached = true;
        } else {
            FROST_TRY(frost_nas_evaluate(&x.g, space, train, val, &cfg->eval, &x.r));
            evaluated++;
            char text[128], line[1024];
            frost_nas_to_string(&x.g, text, sizeof text);
            snprintf(line, sizeof line, "%s,%s,%.6f,%.6f,%lld,%lld,%.6f,%.3f", key, text,
                     x.r.int8_acc, x.r.latency_ms, (long long)x.r.params, (long long)x.r.macs,
                     x.r.train_acc, x.r.train_seconds);
            FROST_TRY(append_line(cache_path, CACHE_HEADER, line));
            FROST_TRY(push(cache, &x));
        }
        x.reward = frost_nas_reward_value(&cfg->reward, x.r.int8_acc, x.r.latency_ms);
        FROST_TRY(frost_nas_observe(c, x.reward));
        char line[1024];
        log_line(&x, step, line, sizeof line);
        FROST_TRY(append_line(log_path, LOG_HEADER, line));
        FROST_TRY(push(log, &x));
        best = x.reward > best ? x.reward : best;
        report(cfg, resumed, step, &x, best, started, evaluated);
    }
    return FROST_OK;
}

frost_status frost_nas_search(const frost_nas_space *space, const frost_dataset *train,
                              const frost_dataset *val, const frost_nas_search_config *cfg)
{
    if (cfg->budget < 1 || !cfg->out_dir || !(cfg->reward.target_ms > 0))
        return frost_fail(FROST_ERR_ARG, "nas search: needs a budget >= 1, an output folder "
                                         "and a positive latency target");
    if (mkdir(cfg->out_dir, 0777) != 0 && errno != EEXIST)
        return frost_fail(FROST_ERR_IO, "cannot create %s: %s", cfg->out_dir, strerror(errno));
    char key[256], log_path[4200], cache_path[4200];
    eval_key(space, &cfg->eval, train, val, key, sizeof key);
    FROST_TRY(check_settings(cfg->out_dir, cfg, key));
    path_in(log_path, sizeof log_path, cfg->out_dir, "log.csv");
    if (cfg->cache_path)
        snprintf(cache_path, sizeof cache_path, "%s", cfg->cache_path);
    else
        path_in(cache_path, sizeof cache_path, cfg->out_dir, "cache.csv");
    entries log = {0}, cache = {0}, front = {0};
    frost_nas_controller *c = NULL;
    frost_status s = load_log(log_path, &log);
    if (s == FROST_OK && log.n > cfg->budget)
        s = frost_fail(FROST_ERR_ARG, "%s already holds %d candidates, more than --budget %d",
                       log_path, log.n, cfg->budget);
    if (s == FROST_OK && log.n)
        s = rewrite_log(log_path, &log); /* drops a torn last line */
    if (s == FROST_OK)
        s = load_cache(cache_path, key, &cache);
    if (s == FROST_OK)
        s = frost_nas_controller_create(&cfg->controller, space, &c);
    if (s == FROST_OK)
        s = search_loop(space, train, val, cfg, key, log_path, cache_path, c, &log, &cache);
    if (s == FROST_OK)
        s = pareto(&log, &front);
    if (s == FROST_OK)
        s = write_front(cfg->out_dir, &front);
    if (s == FROST_OK)
        s = write_best(cfg->out_dir, space, &log);
    frost_nas_controller_free(c);
    free(log.e);
    free(cache.e);
    free(front.e);
    return s;
}
