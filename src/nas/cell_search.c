/*
 * The cell search loop (docs/cell-search.md): per stage a supernet, first-order DARTS
 * updates (an alpha step on a held-out batch, then a weight step on a training batch),
 * P-DARTS' warm-up without alpha steps, skip dropout and candidate shrinking between
 * stages; optionally the supernet trains quantization-aware (StatAssist float epochs, then
 * fake-quant, GradBoost on the weights).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "frost/cell.h"
#include "frost/optim.h"
#include "frost/train.h"
#include "models/graph.h"
#include "nas/cell_internal.h"
#include "ops/ops.h"

frost_cell_search_config frost_cell_search_defaults(void)
{
    frost_cell_search_config c;
    memset(&c, 0, sizeof c);
    c.net = frost_cell_net_default();
    c.stages = 1;
    c.cells[0] = 5;
    c.cells[1] = 8;
    c.cells[2] = 11;
    c.keep[0] = 8;
    c.keep[1] = 5;
    c.keep[2] = 3;
    c.skip_drop[0] = 0.0f;
    c.skip_drop[1] = 0.4f;
    c.skip_drop[2] = 0.7f;
    static const int ops[] = {FROST_CELL_NONE, FROST_CELL_SKIP, FROST_CELL_MAX3, FROST_CELL_AVG3,
                              FROST_CELL_SEP3, FROST_CELL_SEP5, FROST_CELL_SC3,  FROST_CELL_MB3,
                              FROST_CELL_SE3};
    c.n_ops = (int)FROST_ARRAY_LEN(ops);
    memcpy(c.ops, ops, sizeof ops);
    c.epochs = 10;
    c.warmup = 3;
    c.batch = 64;
    c.w_lr = 0.025f;
    c.w_lr_min = 0.001f;
    c.w_momentum = 0.9f;
    c.w_wd = 3e-4f;
    c.w_clip = 5.0f;
    c.a_lr = 6e-4f;
    c.a_wd = 1e-3f;
    c.max_skips = 2;
    c.fp_epochs = 1;
    c.gradboost = true;
    c.seed = 1;
    return c;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static frost_status check_config(const frost_cell_search_config *c)
{
    if (c->stages < 1 || c->stages > FROST_CELL_MAX_STAGES)
        return frost_fail(FROST_ERR_ARG, "cell search: stages must be 1..%d (got %d)",
                          FROST_CELL_MAX_STAGES, c->stages);
    for (int s = 0; s < c->stages; s++) {
        if (c->cells[s] < 3 || c->cells[s] > 32)
            return frost_fail(FROST_ERR_ARG, "cell search: stage %d: cells must be 3..32 (got %d)",
                              s + 1, c->cells[s]);
        if (s > 0 && (c->keep[s] < 1 || c->keep[s] > 8))
            return frost_fail(FROST_ERR_ARG,
                              "cell search: stage %d keeps 1..8 candidates per edge (got %d)",
                              s + 1, c->keep[s]);
        if (!(c->skip_drop[s] >= 0.0f && c->skip_drop[s] < 1.0f))
            return frost_fail(FROST_ERR_ARG, "cell search: skip dropout must be in [0, 1)");
    }
    if (c->epochs < 1 || c->epochs > 1000 || c->warmup < 0 || c->warmup >= c->epochs)
        return frost_fail(FROST_ERR_ARG,
                          "cell search: epochs %d with %d warm-up epochs (warm-up must leave "
                          "at least one epoch of alpha updates)",
                          c->epochs, c->warmup);
    if (c->batch < 2 || c->batch > 4096)
        return frost_fail(FROST_ERR_ARG, "cell search: batch must be 2..4096 (got %d)", c->batch);
    if (!(c->w_lr > 0.0f) || !(c->a_lr > 0.0f) || !(c->w_lr_min >= 0.0f))
        return frost_fail(FROST_ERR_ARG, "cell search: learning rates must be > 0");
    if (c->qconfig && (c->fp_epochs < 0 || c->fp_epochs >= c->epochs))
        return frost_fail(FROST_ERR_ARG,
                          "cell search: %d float epochs leave no quantization-aware epoch of %d",
                          c->fp_epochs, c->epochs);
    return FROST_OK;
}

/* P-DARTS' skip dropout schedule within a stage: decays linearly while alpha is frozen,
 * then exponentially (rate 0.2 per epoch). */
static float skip_dropout(float p0, int epoch, int epochs, int warmup)
{
    if (epoch < warmup)
        return p0 * (float)(epochs - epoch - 1) / (float)epochs;
    return p0 * expf(-0.2f * (float)(epoch - warmup));
}

typedef struct {
    frost_cell_supernet *net;
    frost_model *m;
    frost_optimizer *w_opt, *a_opt;
    frost_loader *train, *val;
    float *x, *dlogits;
    uint8_t *y;
} stage_state;

static void stage_free(stage_state *st)
{
    frost_optimizer_free(st->w_opt);
    frost_optimizer_free(st->a_opt);
    frost_loader_free(st->train);
    frost_loader_free(st->val);
    frost_free(st->x);
    frost_free(st->dlogits);
    free(st->y);
    frost_cell_supernet_free(st->net);
    memset(st, 0, sizeof *st);
}

static frost_status stage_setup(const frost_cell_search_config *c, int stage,
                                const frost_cell_candidates cand[2], const frost_dataset *train,
                                const frost_dataset *val, stage_state *st)
{
    frost_cell_net net = c->net;
    net.cells = c->cells[stage];
    FROST_TRY(frost_cell_supernet_build(&net, cand, &st->net));
    st->m = frost_cell_supernet_model(st->net);
    uint64_t seed = c->seed * 1000003ULL + (uint64_t)stage;
    frost_model_init_weights(st->m, seed);
    if (c->qconfig) { /* quantizing adds nodes: before the batch's buffers are planned */
        FROST_TRY(frost_cell_supernet_quantize(st->net, c->qconfig));
        FROST_TRY(frost_model_set_qmode(st->m, FROST_QMODE_DELAY));
    }
    FROST_TRY(frost_model_set_batch(st->m, c->batch));
    frost_optimizer_config wc = frost_optimizer_defaults(FROST_OPT_SGD);
    wc.momentum = c->w_momentum;
    wc.nesterov = false;
    wc.wd = wc.wd_depthwise = wc.wd_1d = c->w_wd;
    wc.clip_norm = c->w_clip;
    wc.gradboost = c->qconfig && c->gradboost;
    wc.gb_seed = seed;
    FROST_TRY(frost_optimizer_create(&wc, st->m, &st->w_opt));
    frost_optimizer_config ac = frost_optimizer_defaults(FROST_OPT_ADAM);
    ac.params = FROST_PARAMS_ARCH;
    ac.beta1 = 0.5f;
    ac.beta2 = 0.999f;
    ac.wd = c->a_wd;
    ac.clip_norm = 0.0f;
    FROST_TRY(frost_optimizer_create(&ac, st->m, &st->a_opt));
    frost_augment aug = frost_train_defaults().augment;
    FROST_TRY(frost_loader_create(train, c->batch, true, &aug, seed, &st->train));
    FROST_TRY(frost_loader_create(val, c->batch, true, &aug, seed ^ 0xA1FAULL, &st->val));
    size_t img = (size_t)train->h * train->w * train->c;
    st->x = frost_alloc((size_t)c->batch * img * sizeof(float));
    st->dlogits = frost_alloc((size_t)c->batch * (size_t)st->m->classes * sizeof(float));
    st->y = malloc((size_t)c->batch);
    if (!st->x || !st->dlogits || !st->y)
        return frost_fail(FROST_ERR_NOMEM, "out of memory for the search's batches");
    return FROST_OK;
}

/* Forward and backward of one batch from loader l (restarting it at its end); the loss,
 * correct count and image count of the batch. */
static frost_status batch_grad(stage_state *st, frost_loader *l, int epoch, float *loss,
                               int *correct, int *n_out)
{
    int n = frost_loader_next(l, st->x, st->y);
    if (n == 0) {
        frost_loader_start_epoch(l, epoch + 1000);
        n = frost_loader_next(l, st->x, st->y);
    }
    frost_model_zero_grad(st->m);
    FROST_TRY(frost_model_forward(st->m, st->x, n, true));
    *loss = frost_softmax_xent(n, st->m->classes, frost_model_logits(st->m), st->y, 0.0f,
                               st->dlogits, correct);
    if (!isfinite(*loss))
        return frost_fail(FROST_ERR_NUMERIC, "cell search diverged (loss %g): lower --lr",
                          (double)*loss);
    *n_out = n;
    return frost_model_backward(st->m, st->dlogits);
}

typedef struct {
    double loss, val_loss;
    int64_t correct, val_correct, seen, val_seen;
} epoch_sums;

static frost_status run_epoch(const frost_cell_search_config *c, stage_state *st, int epoch,
                              const frost_schedule *sched, frost_cell_progress *p,
                              frost_cell_progress_fn progress, void *user)
{
    int64_t spe = frost_loader_batches(st->train);
    bool alpha = epoch >= c->warmup;
    frost_loader_start_epoch(st->train, epoch);
    frost_loader_start_epoch(st->val, epoch);
    frost_model_seed_dropout(st->m, c->seed * 7919ULL + (uint64_t)(p->stage * 1000 + epoch));
    epoch_sums s = {0};
    for (int64_t b = 0; b < spe; b++) {
        float loss;
        int correct, n;
        if (alpha) {
            FROST_TRY(batch_grad(st, st->val, epoch, &loss, &correct, &n));
            FROST_TRY(frost_optimizer_step(st->a_opt, c->a_lr));
            s.val_loss += (double)loss * n;
            s.val_correct += correct;
            s.val_seen += n;
        }
        FROST_TRY(batch_grad(st, st->train, epoch, &loss, &correct, &n));
        FROST_TRY(frost_optimizer_step(st->w_opt, frost_schedule_lr(sched, epoch * spe + b, spe)));
        frost_model_qat_after_step(st->m);
        s.loss += (double)loss * n;
        s.correct += correct;
        s.seen += n;
        p->batch = (int)b;
        p->batches = (int)spe;
        p->train_loss = (float)(s.loss / (double)s.seen);
        p->train_acc = (float)((double)s.correct / (double)s.seen);
        p->val_acc = s.val_seen ? (float)((double)s.val_correct / (double)s.val_seen) : -1.0f;
        if (progress && (b + 1) % 20 == 0 && b + 1 < spe)
            progress(p, user);
    }
    p->batch = -1;
    return FROST_OK;
}

static frost_status report_epoch(stage_state *st, const frost_cell_search_config *c,
                                 frost_cell_candidates cand[2], frost_cell_weights w[2],
                                 frost_cell_pair *derived, frost_cell_progress *p,
                                 frost_cell_progress_fn progress, void *user)
{
    for (int t = 0; t < 2; t++)
        frost_cell_supernet_weights(st->net, t, &w[t]);
    FROST_TRY(frost_cell_derive(&cand[0], &w[0], c->net.nodes, c->max_skips, &derived->normal));
    FROST_TRY(frost_cell_derive(&cand[1], &w[1], c->net.nodes, -1, &derived->reduce));
    if (progress)
        progress(p, user);
    return FROST_OK;
}

static frost_status run_stage(const frost_cell_search_config *c, int stage,
                              frost_cell_candidates cand[2], const frost_dataset *train,
                              const frost_dataset *val, double t0, frost_cell_progress_fn progress,
                              void *user, frost_cell_weights w[2], frost_cell_pair *derived)
{
    stage_state st = {0};
    frost_status s = stage_setup(c, stage, cand, train, val, &st);
    frost_schedule sched = {.kind = FROST_SCHED_COSINE,
                            .base_lr = c->w_lr,
                            .final_lr = c->w_lr_min,
                            .epochs = c->epochs};
    frost_cell_progress p = {.stage = stage,
                             .stages = c->stages,
                             .epochs = c->epochs,
                             .cells = c->cells[stage],
                             .cand = cand,
                             .w = w,
                             .derived = derived};
    for (int e = 0; s == FROST_OK && e < c->epochs; e++) {
        p.epoch = e;
        p.skip_p = skip_dropout(c->skip_drop[stage], e, c->epochs, c->warmup);
        p.alpha_updates = e >= c->warmup;
        frost_cell_supernet_set_skip_dropout(st.net, p.skip_p);
        if (c->qconfig) {
            bool fq = e >= c->fp_epochs;
            frost_optimizer_set_boost(st.w_opt, fq);
            s = frost_model_set_qmode(st.m, fq ? FROST_QMODE_QAT : FROST_QMODE_DELAY);
        }
        if (s == FROST_OK)
            s = run_epoch(c, &st, e, &sched, &p, progress, user);
        p.seconds = now_s() - t0;
        if (s == FROST_OK)
            s = report_epoch(&st, c, cand, w, derived, &p, progress, user);
    }
    stage_free(&st);
    return s;
}

frost_status frost_cell_search(const frost_dataset *train, const frost_dataset *val,
                               const frost_cell_search_config *cfg, frost_cell_progress_fn progress,
                               void *user, frost_cell_pair *out)
{
    FROST_TRY(check_config(cfg));
    if (!train || !val || train->n < cfg->batch || val->n < cfg->batch)
        return frost_fail(FROST_ERR_ARG,
                          "cell search: the training and held-out splits need at least one "
                          "batch (%d images) each",
                          cfg->batch);
    if (train->h != cfg->net.in_h || train->w != cfg->net.in_w || train->c != cfg->net.in_c ||
        val->h != train->h || val->w != train->w || val->c != train->c)
        return frost_fail(FROST_ERR_SHAPE, "cell search: data is %dx%dx%d, the network takes %dx%dx%d",
                          train->h, train->w, train->c, cfg->net.in_h, cfg->net.in_w,
                          cfg->net.in_c);
    frost_cell_candidates cand[2];
    FROST_TRY(frost_cell_candidates_all(cfg->net.nodes, cfg->ops, cfg->n_ops, &cand[0]));
    cand[1] = cand[0];
    frost_cell_weights *w = calloc(2, sizeof *w);
    if (!w)
        return frost_fail(FROST_ERR_NOMEM, "out of memory for the mixing weights");
    int threads = frost_get_threads();
    if (cfg->threads > 0)
        frost_set_threads(cfg->threads);
    double t0 = now_s();
    frost_status s = FROST_OK;
    for (int stage = 0; s == FROST_OK && stage < cfg->stages; stage++) {
        if (stage > 0) /* P-DARTS: the next stage keeps each edge's strongest candidates */
            for (int t = 0; t < 2 && s == FROST_OK; t++)
                s = frost_cell_shrink(&cand[t], &w[t], cfg->net.nodes, cfg->keep[stage], &cand[t]);
        if (s == FROST_OK)
            s = run_stage(cfg, stage, cand, train, val, t0, progress, user, w, out);
    }
    frost_set_threads(threads);
    free(w);
    return s;
}
