/*
 * The architecture search loop (frost/nas.h, frost search): propose, evaluate (or take
 * the cached result), reward, observe; a CSV log written as it goes, so an interrupted
 * search resumes by replaying its log through the controller; at the end the Pareto
 * front and the best genotype by reward. With successive halving, each bracket of
 * proposals is evaluated on a fraction of the training images and its best 1/eta promoted
 * rung by rung to the full budget; the promotions depend only on the logged rewards, so
 * the same replay resumes them too. Progress goes to the caller's callback (the
 * library prints nothing); the plot of the candidates is the CLI's (tools/search_plot.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/timer.h"
#include "core/util.h"
#include "frost/nas.h"
#include "io/textfile.h"
#include "nas/search_internal.h"

/* rung: successive halving's (0 without it); train_images: the images it trained on;
 * eval_seconds: wall time of the whole evaluation (training, int8 conversion, accuracy,
 * latency; 0 when cached), so candidates per hour = lines / (sum of eval_seconds / 3600);
 * screened: 1 if the latency table predicted it too slow to train (latency_ms is then
 * the prediction, int8_acc the pessimistic stand-in the reward was computed from);
 * fp32_acc: the trained network's float accuracy (empty when unknown: results from before
 * it was measured), appended last, as in the cache, so older readers of the columns
 * before it keep working. */
#define LOG_HEADER                                                                         \
    "step,genotype,int8_acc,latency_ms,reward,params,macs,train_acc,train_seconds,cached," \
    "rung,train_images,eval_seconds,screened,fp32_acc"
#define CACHE_HEADER \
    "eval,genotype,int8_acc,latency_ms,params,macs,train_acc,train_seconds,fp32_acc"

#define MAX_RUNGS 8 /* eta >= 2: rung 0 of 8 rungs trains on 1/128 of the images */

typedef struct {
    frost_nas_genotype g;
    frost_nas_result r;
    double reward;
    bool cached, screened;
    int rung, train_images;
    double eval_seconds;
    int step; /* early results (pending.csv): the log line they are for */
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
 * included): results of other settings are not reused. A quantization scheme other than
 * W8A8 per-channel adds a suffix ("-w4a4", "-pt"), so the keys of default evaluations (and
 * the caches and search.json files holding them) stay what they were; so does a space with
 * cells ("-c<hash>": a 'c' genotype of other cells is another network). */
static void eval_key(const frost_nas_space *s, const frost_nas_eval_config *c,
                     const frost_dataset *train, const frost_dataset *val, char *buf, size_t n)
{
    char bits[32] = "", cells[32] = "";
    if (c->weight_bits != 8 || c->act_bits != 8)
        snprintf(bits, sizeof bits, "-w%da%d", c->weight_bits, c->act_bits);
    if (s->cells)
        snprintf(cells, sizeof cells, "-c%016llx", (unsigned long long)frost_nas_cells_hash(s));
    snprintf(buf, n, "w%g-h%d-e%d-f%d-gb%d-b%d-lr%g-s%llu-t%d-rq%d-n%d-v%d%s%s%s", (double)s->width,
             s->head, c->epochs, c->fp_epochs, c->gradboost, c->batch, (double)c->lr,
             (unsigned long long)c->seed, c->latency_threads, c->float_requant, train->n, val->n,
             bits, c->per_tensor ? "-pt" : "", cells);
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

/* Cached results with one of the rungs' evaluation keys (entry.rung tells which); a torn
 * last line (a kill) is skipped. Lines written before fp32_acc was measured lack it (NAN). */
static frost_status load_cache(const frost_nas_space *space, const char *path, char (*keys)[256],
                               int rungs, entries *cache)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return FROST_OK;
    char line[1024], k[256], text[128];
    while (fgets(line, sizeof line, f)) {
        entry x = {0};
        int fields = sscanf(line, "%255[^,],%127[^,],%lf,%lf,%" SCNd64 ",%" SCNd64 ",%lf,%lf,%lf",
                            k, text, &x.r.int8_acc, &x.r.latency_ms, &x.r.params, &x.r.macs,
                            &x.r.train_acc, &x.r.train_seconds, &x.r.fp32_acc);
        if (fields < 8 || frost_nas_from_string_in(space, text, &x.g) != FROST_OK)
            continue; /* also a cell genotype in a search without cells: not ours */
        if (fields == 8)
            x.r.fp32_acc = NAN;
        for (x.rung = 0; x.rung < rungs && strcmp(k, keys[x.rung]) != 0; x.rung++)
            ;
        if (x.rung == rungs)
            continue;
        if (push(cache, &x) != FROST_OK) {
            fclose(f);
            return FROST_ERR_NOMEM;
        }
    }
    fclose(f);
    return FROST_OK;
}

/* The latest cached result of g at a rung; with need_fp32 (the min objective) only one
 * that knows its float accuracy. */
static const entry *find_cached(const entries *cache, const frost_nas_genotype *g, int rung,
                                bool need_fp32)
{
    for (int i = cache->n - 1; i >= 0; i--)
        if (cache->e[i].rung == rung && frost_nas_equal(&cache->e[i].g, g) &&
            !(need_fp32 && isnan(cache->e[i].r.fp32_acc)))
            return &cache->e[i];
    return NULL;
}

/* The log so far (a torn last line is dropped and rewritten by the resumed run). Logs
 * written before successive halving and screening lack their last four columns: every
 * line of those was a full-budget evaluation on full_images; those written before
 * fp32_acc lack it (NAN; its field is empty for such lines after a rewrite). */
static frost_status load_log(const frost_nas_space *space, const char *path, int full_images,
                             entries *log)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return FROST_OK;
    char line[1024], text[128];
    int step, cached, screened = 0;
    while (fgets(line, sizeof line, f)) {
        entry x = {0};
        int fields = sscanf(
            line, "%d,%127[^,],%lf,%lf,%lf,%" SCNd64 ",%" SCNd64 ",%lf,%lf,%d,%d,%d,%lf,%d,%lf",
            &step, text, &x.r.int8_acc, &x.r.latency_ms, &x.reward, &x.r.params, &x.r.macs,
            &x.r.train_acc, &x.r.train_seconds, &cached, &x.rung, &x.train_images, &x.eval_seconds,
            &screened, &x.r.fp32_acc);
        if (!strchr(line, '\n') || (fields != 10 && fields != 14 && fields != 15))
            continue;
        if (fields < 15)
            x.r.fp32_acc = NAN;
        if (fields == 10) {
            x.rung = 0;
            x.train_images = full_images;
        }
        if (step != log->n + 1 || frost_nas_from_string_in(space, text, &x.g) != FROST_OK) {
            fclose(f);
            return frost_fail(FROST_ERR_FORMAT, "%s: line for step %d is not the next step (%d)",
                              path, step, log->n + 1);
        }
        x.cached = cached != 0;
        x.screened = fields >= 14 && screened != 0;
        FROST_TRY(push(log, &x));
    }
    fclose(f);
    return FROST_OK;
}

/* An accuracy field: empty when unknown. */
static void acc_field(double acc, char *buf, size_t n)
{
    if (isnan(acc))
        buf[0] = 0;
    else
        snprintf(buf, n, "%.6f", acc);
}

static void log_line(const entry *x, int step, char *buf, size_t n)
{
    char text[128], fp32[32];
    frost_nas_to_string(&x->g, text, sizeof text);
    acc_field(x->r.fp32_acc, fp32, sizeof fp32);
    snprintf(buf, n, "%d,%s,%.6f,%.6f,%.6f,%lld,%lld,%.6f,%.3f,%d,%d,%d,%.3f,%d,%s", step, text,
             x->r.int8_acc, x->r.latency_ms, x->reward, (long long)x->r.params,
             (long long)x->r.macs, x->r.train_acc, x->r.train_seconds, x->cached, x->rung,
             x->train_images, x->eval_seconds, x->screened, fp32);
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

/* pending.csv: results a distributed search received ahead of the log (a worker finished a
 * later candidate first). Each is written the moment it arrives, so a job that dies loses
 * no finished evaluation; the log still takes them in step order, and a resumed run (on
 * any number of ranks) takes them from here instead of evaluating again. The file goes
 * when the search finishes. */
#define PENDING_HEADER                                                                     \
    "step,genotype,rung,int8_acc,fp32_acc,latency_ms,params,macs,train_acc,train_seconds," \
    "eval_seconds"

static void pending_line(const frost_nas_arrival *a, char *buf, size_t n)
{
    char text[128], fp32[32];
    frost_nas_to_string(&a->g, text, sizeof text);
    acc_field(a->r.fp32_acc, fp32, sizeof fp32);
    snprintf(buf, n, "%d,%s,%d,%.17g,%s,%.17g,%lld,%lld,%.17g,%.17g,%.17g", a->step, text, a->rung,
             a->r.int8_acc, fp32, a->r.latency_ms, (long long)a->r.params, (long long)a->r.macs,
             a->r.train_acc, a->r.train_seconds, a->eval_seconds);
}

/* The pending results of steps after the log's (older ones were logged already). */
static frost_status load_pending(const frost_nas_space *space, const char *path, int logged,
                                 entries *out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return FROST_OK;
    char line[1024], text[128], fp32[64];
    while (fgets(line, sizeof line, f)) {
        entry x = {0};
        int n = sscanf(line, "%d,%127[^,],%d,%lf,%63[^,],%lf,%" SCNd64 ",%" SCNd64 ",%lf,%lf,%lf",
                       &x.step, text, &x.rung, &x.r.int8_acc, fp32, &x.r.latency_ms, &x.r.params,
                       &x.r.macs, &x.r.train_acc, &x.r.train_seconds, &x.eval_seconds);
        if (!strchr(line, '\n') || n != 11 || x.step <= logged ||
            frost_nas_from_string_in(space, text, &x.g) != FROST_OK)
            continue; /* the header, a torn last line, or logged already */
        char *end;
        x.r.fp32_acc = strtod(fp32, &end);
        if (end == fp32)
            x.r.fp32_acc = NAN;
        if (push(out, &x) != FROST_OK) {
            fclose(f);
            return FROST_ERR_NOMEM;
        }
    }
    fclose(f);
    return FROST_OK;
}

/* The "cells" field of a search.json line ("none" when it has none). */
static void cells_field(const char *json, char *out, size_t n)
{
    const char *p = strstr(json, "\"cells\":\"");
    if (!p) {
        snprintf(out, n, "none");
        return;
    }
    p += strlen("\"cells\":\"");
    snprintf(out, n, "%.*s", (int)strcspn(p, "\""), p);
}

/* A search.json of other cells (or of none) gets its own message: the rest of the
 * settings may well agree, and "other settings" would not say what differs. */
static frost_status check_cells(const char *dir, const char *have, const char *want)
{
    char had[32], wants[32], had_text[64], want_text[64];
    cells_field(have, had, sizeof had);
    cells_field(want, wants, sizeof wants);
    if (strcmp(had, wants) == 0)
        return FROST_OK;
    bool had_cells = strcmp(had, "none") != 0, want_cells = strcmp(wants, "none") != 0;
    snprintf(had_text, sizeof had_text, "%s%s", had_cells ? "with cells " : "without cells",
             had_cells ? had : "");
    snprintf(want_text, sizeof want_text, "%s%s", want_cells ? "with cells " : "without cells",
             want_cells ? wants : "");
    return frost_fail(FROST_ERR_ARG,
                      "%s holds a search %s (search.json), this run is one %s: resume with the "
                      "same --blocks DIR (cells by their hash) or use another --out",
                      dir, had_text, want_text);
}

/* search.json: the settings that decide the proposals; a resume must use the same. */
static frost_status check_settings(const char *dir, const frost_nas_space *space,
                                   const frost_nas_search_config *c, const char *key)
{
    char path[4200], want[1024], have[1024] = {0}, ppo[128] = "", halving[64] = "",
                                 screening[64] = "", objective[64] = "", cells[64] = "";
    path_in(path, sizeof path, dir, "search.json");
    const frost_nas_controller_config *k = &c->controller;
    if (k->kind == FROST_NAS_PPO) /* only then: older folders keep their search.json */
        snprintf(ppo, sizeof ppo, "\"ppo_batch\":%d,\"ppo_epochs\":%d,\"ppo_clip\":%g,",
                 k->ppo_batch, k->ppo_epochs, k->ppo_clip);
    if (c->halving.eta) /* likewise */
        snprintf(halving, sizeof halving, "\"halving_eta\":%d,\"halving_rungs\":%d,",
                 c->halving.eta, c->halving.rungs);
    if (c->screen_factor > 0) /* likewise */
        snprintf(screening, sizeof screening, "\"screen_factor\":%g,", c->screen_factor);
    if (c->objective != FROST_NAS_OBJECTIVE_INT8) /* likewise */
        snprintf(objective, sizeof objective, "\"objective\":\"%s\",",
                 frost_nas_objective_name(c->objective));
    if (space->cells) /* likewise */
        snprintf(cells, sizeof cells, "\"cells\":\"%016llx\",",
                 (unsigned long long)frost_nas_cells_hash(space));
    snprintf(want, sizeof want,
             "{\"controller\":\"%s\",\"seed\":%llu,\"population\":%d,\"tournament\":%d,"
             "\"lr\":%g,\"entropy\":%g,%s%s%s%s%s\"target_ms\":%g,\"alpha\":%g,\"beta\":%g,"
             "\"eval\":\"%s\"}",
             frost_nas_controller_name(k->kind), (unsigned long long)k->seed, k->population,
             k->tournament, k->lr, k->entropy, ppo, halving, screening, objective, cells,
             c->reward.target_ms, c->reward.alpha, c->reward.beta, key);
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(have, sizeof have, f))
            have[0] = 0;
        fclose(f);
        have[strcspn(have, "\n")] = 0;
        FROST_TRY(check_cells(dir, have, want));
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

/* a beats b on the objective's accuracy and latency, strictly on one of them. */
static bool dominates(const entry *a, const entry *b, frost_nas_objective o)
{
    double acc_a = frost_nas_objective_acc(o, &a->r), acc_b = frost_nas_objective_acc(o, &b->r);
    return acc_a >= acc_b && a->r.latency_ms <= b->r.latency_ms &&
           (acc_a > acc_b || a->r.latency_ms < b->r.latency_ms);
}

static int by_latency(const void *a, const void *b)
{
    double x = ((const entry *)a)->r.latency_ms, y = ((const entry *)b)->r.latency_ms;
    return (x > y) - (x < y);
}

/* A line with a result of its own: trained (not screened) and not failed. */
static bool trained(const entry *x)
{
    return !x->screened && !frost_nas_result_failed(&x->r);
}

/* The front: unique genotypes no other candidate dominates, by latency; full-budget
 * evaluations (rung full) only, as lower rungs' accuracies are not comparable, and
 * trained ones only (a screened line's accuracy is a stand-in). */
static frost_status pareto(const entries *log, int full, frost_nas_objective o, entries *front)
{
    for (int i = 0; i < log->n; i++) {
        bool keep = log->e[i].rung == full && trained(&log->e[i]);
        for (int j = 0; keep && j < log->n; j++)
            keep = log->e[j].rung != full || !trained(&log->e[j]) ||
                   !dominates(&log->e[j], &log->e[i], o);
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

/* best.json (the genotype) and best.arch.json (its network) by full-budget reward, of
 * the trained candidates. */
static frost_status write_best(const char *dir, const frost_nas_space *space, const entries *log,
                               int full)
{
    const entry *best = NULL;
    for (int i = 0; i < log->n; i++)
        if (log->e[i].rung == full && trained(&log->e[i]) &&
            (!best || log->e[i].reward > best->reward))
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

/* A search as it runs: the data of each rung (the last is the full proxy budget), where
 * results go, and how far it got. Steps up to log->n replay the log instead of
 * evaluating, so a resumed search walks the same path as the first run did. */
typedef struct {
    const frost_nas_space *space;
    const frost_dataset *val;
    const frost_nas_search_config *cfg;
    int rungs;                       /* 1 without halving */
    frost_dataset subset[MAX_RUNGS]; /* the lower rungs' training images (heads of train) */
    const frost_dataset *train[MAX_RUNGS];
    char key[MAX_RUNGS][256]; /* the cache's evaluation key of each rung */
    const char *log_path, *cache_path;
    entries log, cache;
    int steps, total, resumed, evaluated;
    double best, started_ms;
    const frost_nas_lut *lut;    /* screening's latency table (NULL: off) */
    frost_nas_lut *own_lut;      /* the table this run built (NULL: none or the caller's) */
    double worst_acc[MAX_RUNGS]; /* the worst trained accuracy of each rung so far (NAN: none) */
    /* distributed (cfg->comm of 2 ranks or more; NULL otherwise): the workers, and the
     * results that came back ahead of the log (also those pending.csv held at the start) */
    frost_nas_pool *pool;
    entries early;
    const char *pending_path;
} search_run;

/* Hands one logged evaluation to the caller's progress callback. */
static void report(const search_run *s, const entry *x)
{
    if (!s->cfg->progress)
        return;
    char text[128];
    frost_nas_to_string(&x->g, text, sizeof text);
    frost_nas_progress ev = {
        .event = FROST_NAS_EVENT_CANDIDATE,
        .budget = s->total,
        .resumed = s->resumed,
        .step = s->steps,
        .genotype = &x->g,
        .genotype_text = text,
        .result = x->r,
        .reward = x->reward,
        .cached = x->cached,
        .best_reward = s->best,
        .seconds_per_candidate =
            s->evaluated ? (frost_now_ms() - s->started_ms) / 1e3 / s->evaluated : 0.0,
        .rung = x->rung,
        .rungs = s->rungs,
        .train_images = x->train_images,
        .screened = x->screened,
        .failed = frost_nas_result_failed(&x->r),
    };
    s->cfg->progress(&ev, s->cfg->progress_user);
}

/* The early result for step (g at the rung), if one came. */
static const entry *find_early(const search_run *s, int step, const frost_nas_genotype *g, int rung)
{
    for (int i = 0; i < s->early.n; i++)
        if (s->early.e[i].step == step && s->early.e[i].rung == rung &&
            frost_nas_equal(&s->early.e[i].g, g))
            return &s->early.e[i];
    return NULL;
}

/* A worker's result as it arrives (in any order): into pending.csv and the cache file at
 * once, and kept until the log reaches its step. */
static frost_status on_arrival(const frost_nas_arrival *a, void *user)
{
    search_run *s = user;
    char line[1024], text[128], fp32[32];
    pending_line(a, line, sizeof line);
    FROST_TRY(append_line(s->pending_path, PENDING_HEADER, line));
    frost_nas_to_string(&a->g, text, sizeof text);
    acc_field(a->r.fp32_acc, fp32, sizeof fp32);
    snprintf(line, sizeof line, "%s,%s,%.6f,%.6f,%lld,%lld,%.6f,%.3f,%s", s->key[a->rung], text,
             a->r.int8_acc, a->r.latency_ms, (long long)a->r.params, (long long)a->r.macs,
             a->r.train_acc, a->r.train_seconds, fp32);
    FROST_TRY(append_line(s->cache_path, CACHE_HEADER, line));
    entry x = {
        .g = a->g, .r = a->r, .rung = a->rung, .eval_seconds = a->eval_seconds, .step = a->step};
    return push(&s->early, &x);
}

/* A result that was evaluated for this step (ahead, by a worker, maybe in an earlier run):
 * logged as an evaluation, as it would have been had it been evaluated right now. */
static frost_status take_early(search_run *s, entry *x, const entry *early)
{
    x->r = early->r;
    x->eval_seconds = early->eval_seconds;
    s->evaluated++;
    return push(&s->cache, x);
}

/* The result of g at a rung for log line `step`: one that came back early, the cache's, or
 * a new evaluation (appended to the cache), by a worker when there are workers. */
static frost_status evaluate_at(search_run *s, entry *x, int step)
{
    const entry *early = find_early(s, step, &x->g, x->rung);
    if (early)
        return take_early(s, x, early);
    const entry *hit =
        find_cached(&s->cache, &x->g, x->rung, s->cfg->objective == FROST_NAS_OBJECTIVE_MIN);
    if (hit) {
        x->r = hit->r;
        x->cached = true;
        return FROST_OK;
    }
    if (s->pool) {
        if (!frost_nas_pool_busy(s->pool, step))
            FROST_TRY(frost_nas_pool_submit(s->pool, step, x->rung, &x->g));
        FROST_TRY(frost_nas_pool_wait(s->pool, step));
        early = find_early(s, step, &x->g, x->rung);
        if (!early)
            return frost_fail(FROST_ERR_FORMAT,
                              "nas search: step %d came back as another "
                              "candidate",
                              step);
        return take_early(s, x, early);
    }
    const frost_nas_search_config *cfg = s->cfg;
    const frost_dataset *train = s->train[x->rung];
    double t0 = frost_now_ms();
    frost_status st =
        cfg->evaluate
            ? cfg->evaluate(&x->g, s->space, train, s->val, &cfg->eval, &x->r, cfg->evaluate_user)
            : frost_nas_evaluate(&x->g, s->space, train, s->val, &cfg->eval, &x->r);
    FROST_TRY(frost_nas_settle_result(st, &x->r));
    x->eval_seconds = (frost_now_ms() - t0) / 1e3;
    s->evaluated++;
    char text[128], line[1024], fp32[32];
    frost_nas_to_string(&x->g, text, sizeof text);
    acc_field(x->r.fp32_acc, fp32, sizeof fp32);
    snprintf(line, sizeof line, "%s,%s,%.6f,%.6f,%lld,%lld,%.6f,%.3f,%s", s->key[x->rung], text,
             x->r.int8_acc, x->r.latency_ms, (long long)x->r.params, (long long)x->r.macs,
             x->r.train_acc, x->r.train_seconds, fp32);
    FROST_TRY(append_line(s->cache_path, CACHE_HEADER, line));
    return push(&s->cache, x);
}

/* Screening: true if the latency table predicts g slower than screen_factor * target. It
 * is then not trained: its result holds the prediction and, as its accuracies (int8 and
 * fp32), the worst trained accuracy of the objective in its rung so far (0 before any), so its
 * reward ranks it with the worst candidates of the search without the outlier that accuracy 0 would
 * be for REINFORCE's scale or PPO's batch normalization (docs/nas.md). */
static frost_status predicted_too_slow(const search_run *s, const frost_nas_genotype *g, bool *slow,
                                       double *ms)
{
    *slow = false;
    if (!s->lut)
        return FROST_OK;
    FROST_TRY(frost_nas_lut_predict(s->lut, g, s->space, ms, NULL, NULL));
    *slow = *ms > s->cfg->screen_factor * s->cfg->reward.target_ms;
    return FROST_OK;
}

static frost_status screen(search_run *s, entry *x, bool *screened)
{
    double ms;
    FROST_TRY(predicted_too_slow(s, &x->g, screened, &ms));
    if (!*screened)
        return FROST_OK;
    double worst = s->worst_acc[x->rung];
    double acc = worst == worst ? worst : 0.0;
    x->r = (frost_nas_result){.int8_acc = acc, .fp32_acc = acc, .latency_ms = ms};
    x->screened = *screened = true;
    return FROST_OK;
}

/* Bookkeeping of a logged line (replayed or new): the best full-budget reward and the
 * worst trained accuracy (the objective's) of its rung. */
static void account(search_run *s, const entry *x)
{
    s->steps++;
    if (!trained(x))
        return;
    if (x->rung == s->rungs - 1 && !(x->reward <= s->best))
        s->best = x->reward;
    double acc = frost_nas_objective_acc(s->cfg->objective, &x->r);
    if (!(acc >= s->worst_acc[x->rung]))
        s->worst_acc[x->rung] = acc;
}

/* The next line of the log: g at a rung, taken from the log when resuming (it must be g
 * at that rung again), else screened or evaluated, logged and reported. */
static frost_status next_step(search_run *s, const frost_nas_genotype *g, int rung, entry *out)
{
    int step = s->steps + 1;
    if (step <= s->log.n) {
        *out = s->log.e[step - 1];
        if (!frost_nas_equal(g, &out->g) || out->rung != rung)
            return frost_fail(FROST_ERR_ARG,
                              "nas search: the log's step %d is not what the search "
                              "proposes again (was the log edited?)",
                              step);
        account(s, out);
        return FROST_OK;
    }
    entry x = {.g = *g, .rung = rung, .train_images = s->train[rung]->n};
    bool screened;
    FROST_TRY(screen(s, &x, &screened));
    if (!screened)
        FROST_TRY(evaluate_at(s, &x, step));
    x.reward = frost_nas_result_failed(&x.r)
                   ? 0.0
                   : frost_nas_reward_value(&s->cfg->reward,
                                            frost_nas_objective_acc(s->cfg->objective, &x.r),
                                            x.r.latency_ms);
    char line[1024];
    log_line(&x, step, line, sizeof line);
    FROST_TRY(append_line(s->log_path, LOG_HEADER, line));
    FROST_TRY(push(&s->log, &x));
    account(s, &x);
    report(s, &x);
    *out = x;
    return FROST_OK;
}

/* ---- the distributed search: what can be evaluated ahead ---- */

/* Whether an unlogged early result (or one in a worker's hands) holds g at rung. */
static bool coming(const search_run *s, const frost_nas_genotype *g, int rung)
{
    for (int i = 0; i < s->early.n; i++)
        if (s->early.e[i].step > s->steps && s->early.e[i].rung == rung &&
            frost_nas_equal(&s->early.e[i].g, g))
            return true;
    return frost_nas_pool_running(s->pool, g, rung);
}

/* Hands the workers the candidates that log lines steps+1 .. steps+n will need, g[i] at
 * rung for line steps+1+i, unless the line will not train it: replayed from the log, come
 * back already, screened, cached, or the same genotype and rung as an earlier line still
 * on its way (that line's result will be in the cache when this one is logged). The checks
 * are those next_step makes, in the same order, so exactly the evaluations the search
 * would make one by one are made, only sooner. */
static frost_status prefetch(search_run *s, const frost_nas_genotype *g, int n, int rung)
{
    bool need_fp32 = s->cfg->objective == FROST_NAS_OBJECTIVE_MIN;
    for (int i = 0; s->pool && i < n; i++) {
        int step = s->steps + 1 + i;
        bool slow;
        double ms;
        if (step <= s->log.n || frost_nas_pool_busy(s->pool, step) ||
            find_early(s, step, &g[i], rung))
            continue;
        FROST_TRY(predicted_too_slow(s, &g[i], &slow, &ms));
        if (slow || find_cached(&s->cache, &g[i], rung, need_fp32) || coming(s, &g[i], rung))
            continue;
        FROST_TRY(frost_nas_pool_submit(s->pool, step, rung, &g[i]));
    }
    return FROST_OK;
}

/* The look-ahead of proposals: the next `left` proposals (up to a window) as far as the
 * controller makes them without rewards it has not seen, handed to the workers. */
#define PREFETCH_WINDOW 256
static frost_status prefetch_proposals(search_run *s, frost_nas_controller *c, int left)
{
    if (!s->pool)
        return FROST_OK;
    int n = frost_nas_controller_lookahead(c);
    n = FROST_MIN(FROST_MIN(n, left), PREFETCH_WINDOW);
    frost_nas_genotype g[PREFETCH_WINDOW];
    FROST_TRY(frost_nas_controller_peek(c, n, g));
    return prefetch(s, g, n, 0);
}

static frost_status prefetch_promoted(search_run *s, const entry *members, int n, int rung)
{
    if (!s->pool)
        return FROST_OK;
    frost_nas_genotype g[PREFETCH_WINDOW];
    for (int i = 0; i < n; i++)
        g[i] = members[i].g;
    return prefetch(s, g, n, rung);
}

/* Orders n bracket members by reward, best first; ties keep the earlier one first. */
static void rank_by_reward(entry *e, int n)
{
    for (int i = 1; i < n; i++) {
        entry x = e[i];
        int j = i;
        for (; j > 0 && e[j - 1].reward < x.reward; j--)
            e[j] = e[j - 1];
        e[j] = x;
    }
}

/* One bracket of m proposals: each evaluated at rung 0 and its reward observed; then rung
 * by rung the best 1/eta (at least one) evaluated again, on eta times more images. The
 * controller only sees rung 0 (it learns from every proposal, promotions are the
 * search's). A genotype proposed twice can be promoted twice: the second is a cache hit. */
static frost_status run_bracket(search_run *s, frost_nas_controller *c, int m, int left,
                                entry *members)
{
    for (int i = 0; i < m; i++) {
        frost_nas_genotype g;
        FROST_TRY(prefetch_proposals(s, c, left - i));
        FROST_TRY(frost_nas_propose(c, &g));
        FROST_TRY(next_step(s, &g, 0, &members[i]));
        FROST_TRY(frost_nas_observe(c, members[i].reward));
    }
    for (int rung = 1; rung < s->rungs; rung++) {
        rank_by_reward(members, m);
        m = m / s->cfg->halving.eta > 1 ? m / s->cfg->halving.eta : 1;
        for (int i = 0; i < m; i++) {
            frost_nas_genotype g = members[i].g;
            if (i % PREFETCH_WINDOW == 0) /* the promoted are known: all of them at once */
                FROST_TRY(
                    prefetch_promoted(s, members + i, FROST_MIN(m - i, PREFETCH_WINDOW), rung));
            FROST_TRY(next_step(s, &g, rung, &members[i]));
        }
    }
    return FROST_OK;
}

/* Proposals per bracket (1 without halving), and the log lines a bracket of m writes. */
static int bracket_size(const search_run *s)
{
    int n = 1;
    for (int r = 1; r < s->rungs; r++)
        n *= s->cfg->halving.eta;
    return n;
}

static int bracket_lines(const search_run *s, int m)
{
    int lines = m;
    for (int r = 1; r < s->rungs; r++) {
        m = m / s->cfg->halving.eta > 1 ? m / s->cfg->halving.eta : 1;
        lines += m;
    }
    return lines;
}

static frost_status search_loop(search_run *s, frost_nas_controller *c)
{
    s->started_ms = frost_now_ms();
    s->best = NAN;
    for (int r = 0; r < MAX_RUNGS; r++)
        s->worst_acc[r] = NAN;
    s->resumed = s->log.n;
    if (s->resumed && s->cfg->progress) {
        frost_nas_progress ev = {
            .event = FROST_NAS_EVENT_RESUMED, .budget = s->total, .resumed = s->resumed};
        s->cfg->progress(&ev, s->cfg->progress_user);
    }
    int size = bracket_size(s);
    entry *members = malloc((size_t)size * sizeof *members);
    if (!members)
        return frost_fail(FROST_ERR_NOMEM, "nas search: out of memory");
    frost_status st = FROST_OK;
    /* the proposals the look-ahead may reach: the bracket's own with halving (the next
     * bracket's come after its promotions), the rest of the budget without */
    for (int done = 0; st == FROST_OK && done < s->cfg->budget; done += size)
        st = run_bracket(s, c, size, s->rungs > 1 ? size : s->cfg->budget - done, members);
    free(members);
    return st;
}

/* The rungs' training data and cache keys: rung r of R + 1 trains on the first
 * train->n * eta^(r - R) images (train is in no particular order: a random subset). */
static frost_status prepare_rungs(search_run *s, const frost_dataset *train)
{
    const frost_nas_halving *h = &s->cfg->halving;
    s->rungs = h->eta ? h->rungs + 1 : 1;
    for (int r = 0; r < s->rungs; r++) {
        s->train[r] = train;
        if (r < s->rungs - 1) {
            double share = pow(h->eta, r - h->rungs);
            int n = (int)lround(train->n * share);
            FROST_TRY(frost_dataset_head(train, n > 1 ? n : 1, &s->subset[r]));
            s->train[r] = &s->subset[r];
        }
        eval_key(s->space, &s->cfg->eval, s->train[r], s->val, s->key[r], sizeof s->key[r]);
    }
    s->total = (s->cfg->budget / bracket_size(s)) * bracket_lines(s, bracket_size(s));
    return FROST_OK;
}

/* Screening's latency table: measured at the start of every run (also a resumed one; the
 * log keeps the decisions already made) on screen_nets random networks, seed 1. */
static frost_status build_lut(search_run *s)
{
    const frost_nas_search_config *cfg = s->cfg;
    if (!(cfg->screen_factor > 0))
        return FROST_OK;
    if (cfg->screen_lut) {
        s->lut = cfg->screen_lut;
        return FROST_OK;
    }
    FROST_TRY(
        frost_nas_lut_create(cfg->eval.latency_threads, 10, cfg->eval.float_requant, &s->own_lut));
    s->lut = s->own_lut;
    uint64_t rng = 1;
    for (int i = 0; i < cfg->screen_nets; i++) {
        frost_nas_genotype g;
        double ms;
        frost_nas_sample(s->space, &rng, &g);
        FROST_TRY(frost_nas_lut_measure(s->own_lut, &g, s->space, true, &ms));
    }
    return FROST_OK;
}

static frost_status check_config(const frost_nas_search_config *cfg)
{
    const frost_nas_halving *h = &cfg->halving;
    if (cfg->budget < 1 || !cfg->out_dir || !(cfg->reward.target_ms > 0))
        return frost_fail(FROST_ERR_ARG, "nas search: needs a budget >= 1, an output folder "
                                         "and a positive latency target");
    if (cfg->objective != FROST_NAS_OBJECTIVE_INT8 && cfg->objective != FROST_NAS_OBJECTIVE_MIN)
        return frost_fail(FROST_ERR_ARG, "nas search: unknown objective %d", (int)cfg->objective);
    if (cfg->screen_factor < 0 ||
        (cfg->screen_factor > 0 && !cfg->screen_lut && cfg->screen_nets < 1))
        return frost_fail(FROST_ERR_ARG,
                          "nas search: screening needs a factor > 0 and at least one network "
                          "for its latency table (factor %g, networks %d)",
                          cfg->screen_factor, cfg->screen_nets);
    if (h->eta == 0)
        return FROST_OK;
    if (h->eta < 2 || h->rungs < 1 || h->rungs >= MAX_RUNGS || pow(h->eta, h->rungs) > 1e6)
        return frost_fail(FROST_ERR_ARG,
                          "nas search: successive halving needs eta >= 2 and 1..%d rungs "
                          "(eta %d, rungs %d)",
                          MAX_RUNGS - 1, h->eta, h->rungs);
    int size = (int)lround(pow(h->eta, h->rungs));
    if (cfg->budget % size != 0)
        return frost_fail(FROST_ERR_ARG,
                          "nas search: with successive halving the budget counts whole "
                          "brackets of eta^rungs = %d proposals (budget %d)",
                          size, cfg->budget);
    return FROST_OK;
}

/* Every rank must search the same data with the same settings (each loaded them itself):
 * the full rung's evaluation key says so (data sizes, seed, training settings). */
static frost_status check_same_settings(search_run *s, frost_comm *comm)
{
    char key[256];
    int full = s->rungs - 1;
    memcpy(key, s->key[full], sizeof key);
    FROST_TRY(frost_comm_broadcast(comm, key, sizeof key, 0));
    if (strcmp(key, s->key[full]) != 0)
        return frost_fail(FROST_ERR_ARG,
                          "nas search: rank 0 evaluates with settings %s, this rank with %s "
                          "(every rank must get the same options and data)",
                          key, s->key[full]);
    return FROST_OK;
}

/* A worker of a distributed search: the rungs' data as rank 0 has them, then tasks. */
static frost_status run_worker(const frost_nas_space *space, const frost_dataset *train,
                               const frost_dataset *val, const frost_nas_search_config *cfg)
{
    search_run *s = calloc(1, sizeof *s);
    if (!s)
        return frost_fail(FROST_ERR_NOMEM, "nas search: out of memory");
    s->space = space;
    s->val = val;
    s->cfg = cfg;
    frost_status st = prepare_rungs(s, train);
    if (st == FROST_OK)
        st = check_same_settings(s, cfg->comm);
    if (st == FROST_OK)
        st = frost_nas_worker_run(cfg->comm, space, s->train, s->rungs, val, cfg);
    for (int r = 0; r < MAX_RUNGS; r++)
        frost_dataset_free(&s->subset[r]);
    free(s);
    return st;
}

frost_status frost_nas_search(const frost_nas_space *space, const frost_dataset *train,
                              const frost_dataset *val, const frost_nas_search_config *cfg)
{
    FROST_TRY(check_config(cfg));
    if (cfg->comm && frost_comm_rank(cfg->comm) != 0)
        return run_worker(space, train, val, cfg);
    if (mkdir(cfg->out_dir, 0777) != 0 && errno != EEXIST)
        return frost_fail(FROST_ERR_IO, "cannot create %s: %s", cfg->out_dir, strerror(errno));
    search_run *s = calloc(1, sizeof *s);
    if (!s)
        return frost_fail(FROST_ERR_NOMEM, "nas search: out of memory");
    s->space = space;
    s->val = val;
    s->cfg = cfg;
    char log_path[4200], cache_path[4200], pending_path[4200];
    path_in(log_path, sizeof log_path, cfg->out_dir, "log.csv");
    path_in(pending_path, sizeof pending_path, cfg->out_dir, "pending.csv");
    s->pending_path = pending_path;
    if (cfg->cache_path)
        snprintf(cache_path, sizeof cache_path, "%s", cfg->cache_path);
    else
        path_in(cache_path, sizeof cache_path, cfg->out_dir, "cache.csv");
    s->log_path = log_path;
    s->cache_path = cache_path;
    entries front = {0};
    frost_nas_controller *c = NULL;
    frost_status st = prepare_rungs(s, train);
    bool distributed = cfg->comm && frost_comm_size(cfg->comm) > 1;
    if (st == FROST_OK && distributed)
        st = check_same_settings(s, cfg->comm);
    if (st == FROST_OK && distributed)
        st = frost_nas_pool_create(cfg->comm, on_arrival, s, &s->pool);
    int full = s->rungs - 1;
    if (st == FROST_OK)
        st = check_settings(cfg->out_dir, space, cfg, s->key[full]);
    if (st == FROST_OK)
        st = load_log(space, log_path, train->n, &s->log);
    if (st == FROST_OK && s->log.n > s->total)
        st = frost_fail(FROST_ERR_ARG,
                        "%s already holds %d evaluations, more than the %d of "
                        "--budget %d",
                        log_path, s->log.n, s->total, cfg->budget);
    if (st == FROST_OK && s->log.n)
        st = rewrite_log(log_path, &s->log); /* drops a torn last line */
    if (st == FROST_OK)
        st = load_pending(space, pending_path, s->log.n, &s->early);
    if (st == FROST_OK)
        st = load_cache(space, cache_path, s->key, s->rungs, &s->cache);
    if (st == FROST_OK)
        st = frost_nas_controller_create(&cfg->controller, space, &c);
    if (st == FROST_OK)
        st = build_lut(s);
    if (st == FROST_OK)
        st = search_loop(s, c);
    if (s->pool) { /* the workers stop either way (after an error they may be mid-task) */
        frost_status fin = frost_nas_pool_finish(s->pool);
        st = st != FROST_OK ? st : fin;
    }
    if (st == FROST_OK && remove(pending_path) != 0 && errno != ENOENT)
        st = frost_fail(FROST_ERR_IO, "cannot remove %s: %s", pending_path, strerror(errno));
    if (st == FROST_OK)
        st = pareto(&s->log, full, cfg->objective, &front);
    if (st == FROST_OK)
        st = write_front(cfg->out_dir, &front);
    if (st == FROST_OK)
        st = write_best(cfg->out_dir, space, &s->log, full);
    frost_nas_controller_free(c);
    frost_nas_lut_free(s->own_lut);
    for (int r = 0; r < MAX_RUNGS; r++)
        frost_dataset_free(&s->subset[r]);
    free(s->log.e);
    free(s->cache.e);
    free(s->early.e);
    free(front.e);
    free(s);
    return st;
}
