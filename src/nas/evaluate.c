/*
 * Candidate evaluation for the architecture search (frost/nas.h): build the genotype's
 * network, train it with QAT from scratch (StatAssist + GradBoost) on the proxy subset,
 * convert it to int8, and measure the int8 model: accuracy on held-out images, latency
 * on this machine's engine; then the same trained network's float accuracy.
 */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "frost/int8.h"
#include "frost/nas.h"
#include "frost/qat.h"
#include "frost/train.h"
#include "nas/search_internal.h"

frost_nas_eval_config frost_nas_eval_defaults(void)
{
    return (frost_nas_eval_config){.epochs = 3,
                                   .fp_epochs = 1,
                                   .gradboost = true,
                                   .batch = 64,
                                   .lr = 0.1f,
                                   .seed = 1,
                                   .train_threads = 0,
                                   .latency_threads = 1,
                                   .latency_reps = 30,
                                   .float_requant = false,
                                   .weight_bits = 8,
                                   .act_bits = 8,
                                   .per_tensor = false};
}

static frost_status check_config(const frost_nas_eval_config *c)
{
    if (c->epochs < 1 || c->fp_epochs < 0 || c->fp_epochs >= c->epochs || c->batch < 1 ||
        !(c->lr > 0.0f) || c->latency_threads < 1 || c->latency_reps < 1 || c->train_threads < 0 ||
        c->weight_bits < 2 || c->weight_bits > 8 || c->act_bits < 2 || c->act_bits > 8)
        return frost_fail(FROST_ERR_ARG,
                          "nas evaluate: bad settings (epochs %d, fp epochs %d "
                          "(must be fewer than epochs), batch %d, lr %g, latency threads %d, "
                          "reps %d, weight bits %d, activation bits %d (2..8))",
                          c->epochs, c->fp_epochs, c->batch, (double)c->lr, c->latency_threads,
                          c->latency_reps, c->weight_bits, c->act_bits);
    return FROST_OK;
}

/* The data at the genotype's resolution (a copy either way, so the caller's stays). */
static frost_status at_resolution(const frost_dataset *d, int side, frost_dataset *out)
{
    if (d->h == side && d->w == side)
        return frost_dataset_head(d, d->n, out);
    return frost_dataset_resize(d, side, side, out);
}

/* QAT with StatAssist + GradBoost: the float epochs and the quantized ones in one run,
 * with the configured scheme (W8A8 per-channel unless set otherwise; as frost train's
 * --w-bits, --a-bits and --per-tensor). */
static frost_status train(frost_model *m, const frost_dataset *tr, const frost_nas_eval_config *c,
                          frost_nas_result *out)
{
    frost_qconfig *qc = NULL;
    FROST_TRY(frost_qconfig_default(&qc));
    frost_status s =
        frost_qconfig_set_defaults(qc, c->weight_bits, c->act_bits, c->per_tensor ? 0 : -1, -1);
    if (s == FROST_OK)
        s = frost_model_quantize(m, qc);
    frost_qconfig_free(qc);
    FROST_TRY(s);
    frost_train_config cfg = frost_train_defaults();
    cfg.epochs = c->epochs;
    cfg.batch = c->batch;
    cfg.sched.base_lr = c->lr;
    cfg.seed = c->seed;
    cfg.quiet = true;
    cfg.qat_delay_epochs = c->fp_epochs;
    cfg.optim.gradboost = c->gradboost;
    frost_model_init_weights(m, c->seed);
    frost_train_result r = {0};
    FROST_TRY(frost_train(m, tr, NULL, NULL, &cfg, NULL, NULL, &r));
    out->train_acc = r.train_acc;
    out->train_seconds = r.seconds;
    return FROST_OK;
}

/* FROST_TEST_FAKE_LATENCY=1 (tests only): the latency is the network's MACs / 1e6 "ms"
 * instead of a measurement, so that two runs of a search (e.g. on 1 and on 3 ranks) can be
 * compared reward for reward; nothing is timed. */
static bool fake_latency(void)
{
    const char *e = getenv("FROST_TEST_FAKE_LATENCY");
    return e && *e && strcmp(e, "0") != 0;
}

/* The median latency at the configured thread count, holding the timing lock if any. */
static frost_status time_int8(frost_int8_model *im, const frost_nas_eval_config *c,
                              const frost_nas_timing_lock *lock, int64_t macs, double *ms)
{
    if (fake_latency()) {
        *ms = (double)macs / 1e6;
        return FROST_OK;
    }
    if (lock)
        FROST_TRY(lock->acquire(lock->user));
    int threads = frost_get_threads();
    frost_set_threads(c->latency_threads);
    frost_status s = frost_int8_time(im, 5, c->latency_reps, ms, NULL);
    frost_set_threads(threads);
    frost_status r = lock ? lock->release(lock->user) : FROST_OK;
    return s != FROST_OK ? s : r;
}

/* int8 accuracy on val, then the median latency at the configured thread count. */
static frost_status measure(frost_model *m, const frost_dataset *val,
                            const frost_nas_eval_config *c, const frost_nas_timing_lock *lock,
                            frost_nas_result *out)
{
    frost_int8_model *im = NULL;
    FROST_TRY(frost_int8_from_model(m, &im));
    frost_status s = frost_int8_set_float_requant(im, c->float_requant);
    frost_augment norm = frost_train_defaults().augment;
    float acc = 0.0f;
    if (s == FROST_OK)
        s = frost_int8_evaluate(im, val, &norm, &acc);
    double ms = 0.0;
    if (s == FROST_OK)
        s = time_int8(im, c, lock, out->macs, &ms);
    out->int8_acc = acc;
    out->latency_ms = ms;
    frost_int8_free(im);
    return s;
}

/* The trained network in float on val: every fake-quant bypassed (the mode StatAssist's
 * float epochs train in, observers off), so the weights are the float ones and each BN
 * runs on its own with its running statistics; then back to the QAT mode training left. */
static frost_status measure_float(frost_model *m, const frost_dataset *val,
                                  const frost_nas_eval_config *c, frost_nas_result *out)
{
    FROST_TRY(frost_model_set_qmode(m, FROST_QMODE_FLOAT));
    frost_augment norm = frost_train_defaults().augment;
    float acc = 0.0f;
    frost_status s = frost_evaluate(m, val, &norm, c->batch, &acc, NULL);
    frost_status back = frost_model_set_qmode(m, FROST_QMODE_QAT);
    out->fp32_acc = acc;
    return s != FROST_OK ? s : back;
}

static frost_status evaluate_model(frost_model *m, const frost_dataset *train_set,
                                   const frost_dataset *val, const frost_nas_eval_config *cfg,
                                   const frost_nas_timing_lock *lock, frost_nas_result *out)
{
    memset(out, 0, sizeof *out);
    FROST_TRY(check_config(cfg));
    int h, w, c;
    frost_model_input_shape(m, &h, &w, &c);
    if (h != w || train_set->c != c || val->c != c || train_set->h != val->h ||
        train_set->w != val->w)
        return frost_fail(FROST_ERR_ARG,
                          "nas evaluate: data of %dx%dx%d / %dx%dx%d for a "
                          "model taking %dx%dx%d",
                          train_set->h, train_set->w, train_set->c, val->h, val->w, val->c, h, w,
                          c);
    out->params = frost_model_param_count(m);
    out->macs = frost_model_macs(m);
    int threads = frost_get_threads();
    if (cfg->train_threads > 0)
        frost_set_threads(cfg->train_threads);
    frost_dataset tr = {0}, va = {0};
    frost_status s = at_resolution(train_set, h, &tr);
    if (s == FROST_OK)
        s = at_resolution(val, h, &va);
    if (s == FROST_OK)
        s = train(m, &tr, cfg, out);
    frost_set_threads(threads);
    if (s == FROST_OK)
        s = measure(m, &va, cfg, lock, out);
    if (s == FROST_OK)
        s = measure_float(m, &va, cfg, out);
    frost_dataset_free(&tr);
    frost_dataset_free(&va);
    return s;
}

frost_status frost_nas_evaluate_model(frost_model *m, const frost_dataset *train_set,
                                      const frost_dataset *val, const frost_nas_eval_config *cfg,
                                      frost_nas_result *out)
{
    return evaluate_model(m, train_set, val, cfg, NULL, out);
}

frost_status frost_nas_evaluate(const frost_nas_genotype *g, const frost_nas_space *space,
                                const frost_dataset *train_set, const frost_dataset *val,
                                const frost_nas_eval_config *cfg, frost_nas_result *out)
{
    return frost_nas_evaluate_locked(g, space, train_set, val, cfg, NULL, out);
}

frost_status frost_nas_evaluate_locked(const frost_nas_genotype *g, const frost_nas_space *space,
                                       const frost_dataset *train_set, const frost_dataset *val,
                                       const frost_nas_eval_config *cfg,
                                       const frost_nas_timing_lock *lock, frost_nas_result *out)
{
    memset(out, 0, sizeof *out);
    if (train_set->h != space->input || val->h != space->input ||
        train_set->c != space->in_channels || val->c != space->in_channels)
        return frost_fail(FROST_ERR_ARG,
                          "nas evaluate: data of %dx%dx%d / %dx%dx%d, the space "
                          "expects %dx%dx%d",
                          train_set->h, train_set->w, train_set->c, val->h, val->w, val->c,
                          space->input, space->input, space->in_channels);
    FROST_TRY(check_config(cfg));
    frost_model *m = NULL;
    FROST_TRY(frost_nas_build(g, space, &m));
    frost_status s = evaluate_model(m, train_set, val, cfg, lock, out);
    frost_model_free(m);
    return s;
}

char *frost_nas_result_json(const frost_nas_genotype *g, const frost_nas_result *r)
{
    char text[128], hash[32];
    frost_nas_to_string(g, text, sizeof text);
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)frost_nas_hash(g));
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddStringToObject(o, "genotype", text) &&
              cJSON_AddStringToObject(o, "hash", hash) &&
              cJSON_AddNumberToObject(o, "int8_acc", r->int8_acc) &&
              cJSON_AddNumberToObject(o, "latency_ms", r->latency_ms) &&
              cJSON_AddNumberToObject(o, "train_acc", r->train_acc) &&
              cJSON_AddNumberToObject(o, "params", (double)r->params) &&
              cJSON_AddNumberToObject(o, "macs", (double)r->macs) &&
              cJSON_AddNumberToObject(o, "train_seconds", r->train_seconds) &&
              (isnan(r->fp32_acc) ? cJSON_AddNullToObject(o, "fp32_acc") != NULL
                                  : cJSON_AddNumberToObject(o, "fp32_acc", r->fp32_acc) != NULL);
    char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

int frost_nas_objective_from_name(const char *name)
{
    if (name && strcmp(name, "int8") == 0)
        return FROST_NAS_OBJECTIVE_INT8;
    if (name && strcmp(name, "min") == 0)
        return FROST_NAS_OBJECTIVE_MIN;
    return -1;
}

const char *frost_nas_objective_name(frost_nas_objective o)
{
    return o == FROST_NAS_OBJECTIVE_MIN ? "min" : "int8";
}

double frost_nas_objective_acc(frost_nas_objective o, const frost_nas_result *r)
{
    if (o == FROST_NAS_OBJECTIVE_MIN && !isnan(r->fp32_acc))
        return fmin(r->fp32_acc, r->int8_acc);
    return r->int8_acc;
}
