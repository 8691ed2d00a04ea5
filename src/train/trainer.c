/*
 * The training loop: epochs of shuffled, augmented batches; forward, softmax
 * cross-entropy, backward, optimizer step with the scheduled learning rate;
 * after each epoch an evaluation, a CSV row and an atomic checkpoint.
 *
 * Exact resume: everything random in an epoch (shuffle order, augmentation,
 * dropout) is derived from (seed, epoch), and the checkpoint holds weights, BN
 * statistics, optimizer state and the epoch count, so continuing from epoch k's
 * checkpoint reproduces the uninterrupted run bit for bit (same thread count).
 * Mid-epoch checkpoints (checkpoint_every, or a stop request) add the position in the
 * epoch, the dropout and stochastic-binary random streams as they are at that step, and
 * the epoch's running loss and accuracy; the loader's samples and augmentation depend on
 * (seed, epoch, position) only, so resuming there is exact too.
 *
 * Safety: every step checks the loss and every gradient for NaN/Inf (the latter through
 * the optimizer's gradient norm), and the loss's moving average for divergence; trouble fails with
 * the step and the parameter named, or rolls back to the last checkpoint with half the learning
 * rate (on_nan).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "frost/io.h"
#include "frost/qat.h"
#include "frost/train.h"
#include "io/checkpoint.h"
#include "io/textfile.h"
#include "models/graph.h"
#include "train/parallel.h"

frost_train_config frost_train_defaults(void)
{
    frost_train_config c;
    memset(&c, 0, sizeof c);
    c.epochs = 10;
    c.batch = 64;
    c.optim = frost_optimizer_defaults(FROST_OPT_SGD);
    c.sched = (frost_schedule){.kind = FROST_SCHED_COSINE,
                               .base_lr = 0.1f,
                               .warmup_epochs = 1.0f,
                               .final_lr = 0.0f,
                               .step_epochs = 30.0f,
                               .gamma = 0.1f,
                               .epochs = 10};
    c.label_smoothing = 0.1f;
    c.augment = (frost_augment){
        .mean = FROST_DEFAULT_MEAN, .std = FROST_DEFAULT_STD, .crop_pad = 2, .hflip = false};
    c.seed = 1;
    c.test_every = 1;
    c.qat_freeze_bn_epoch = -1; /* never */
    c.qat_freeze_observers_epoch = -1;
    c.on_nan = FROST_ON_NAN_STOP;
    c.max_rollbacks = 3;
    c.divergence_factor = 10.0f;
    c.bucket_bytes = (size_t)25 << 20; /* PyTorch DDP's default bucket */
    return c;
}

frost_augment frost_augment_for(const frost_preprocess *pre, frost_augment base)
{
    if (!pre || !pre->set)
        return base;
    base.per_channel = true;
    for (int k = 0; k < 3; k++) {
        base.ch_mean[k] = pre->mean[k];
        base.ch_std[k] = pre->std[k];
    }
    base.mean = pre->mean[0];
    base.std = pre->std[0];
    return base;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static frost_status check_data(const frost_model *m, const frost_dataset *d, const char *what)
{
    if (!d)
        return FROST_OK;
    if (d->h != m->in_h || d->w != m->in_w || d->c != m->in_c)
        return frost_fail(FROST_ERR_SHAPE, "%s data is %dx%dx%d but model '%s' takes %dx%dx%d",
                          what, d->h, d->w, d->c, m->name, m->in_h, m->in_w, m->in_c);
    if (d->classes > m->classes)
        return frost_fail(FROST_ERR_SHAPE, "%s data has %d classes but model '%s' outputs %d", what,
                          d->classes, m->name, m->classes);
    return FROST_OK;
}

frost_status frost_evaluate(frost_model *m, const frost_dataset *d, const frost_augment *norm,
                            int batch, float *acc, float *loss)
{
    FROST_TRY(check_data(m, d, "evaluation"));
    if (m->batch == 0)
        FROST_TRY(frost_model_set_batch(m, batch));
    batch = m->batch;
    /* the normalization only: no crop, no flip */
    frost_augment plain = norm ? *norm : (frost_augment){.mean = 0.0f, .std = 1.0f};
    plain.crop_pad = 0;
    plain.hflip = false;
    frost_loader *l;
    FROST_TRY(frost_loader_create(d, batch, false, &plain, 0, &l));
    size_t img = (size_t)d->h * d->w * d->c;
    float *x = frost_alloc((size_t)batch * img * sizeof(float));
    uint8_t *y = malloc((size_t)batch);
    if (!x || !y) {
        frost_free(x);
        free(y);
        frost_loader_free(l);
        return frost_fail(FROST_ERR_NOMEM, "out of memory in evaluation");
    }
    frost_loader_start_epoch(l, 0);
    double loss_sum = 0.0;
    int64_t correct = 0, seen = 0;
    int n;
    frost_status s = FROST_OK;
    while ((n = frost_loader_next(l, x, y)) > 0) {
        if ((s = frost_model_forward(m, x, n, false)) != FROST_OK)
            break;
        int c = 0;
        loss_sum +=
            (double)frost_softmax_xent(n, m->classes, frost_model_logits(m), y, 0.0f, NULL, &c) * n;
        correct += c;
        seen += n;
    }
    frost_free(x);
    free(y);
    frost_loader_free(l);
    if (s == FROST_OK) {
        *acc = seen ? (float)((double)correct / (double)seen) : 0.0f;
        if (loss)
            *loss = seen ? (float)(loss_sum / (double)seen) : 0.0f;
    }
    return s;
}

static frost_status check_config(const frost_train_config *c)
{
    if (c->epochs <= 0 || c->epochs > 100000)
        return frost_fail(FROST_ERR_ARG, "epochs must be in 1..100000 (got %d)", c->epochs);
    if (c->batch <= 0 || c->batch > 65536)
        return frost_fail(FROST_ERR_ARG, "batch must be in 1..65536 (got %d)", c->batch);
    if (!(c->sched.base_lr > 0.0f) || !isfinite(c->sched.base_lr))
        return frost_fail(FROST_ERR_ARG, "learning rate must be > 0 (got %g)",
                          (double)c->sched.base_lr);
    if (!(c->label_smoothing >= 0.0f && c->label_smoothing < 1.0f))
        return frost_fail(FROST_ERR_ARG, "label smoothing must be in [0, 1) (got %g)",
                          (double)c->label_smoothing);
    if (!(c->augment.std > 0.0f) || c->augment.crop_pad < 0 || c->augment.crop_pad > 64)
        return frost_fail(FROST_ERR_ARG, "augmentation: std must be > 0 and crop pad in 0..64");
    if (c->checkpoint_every < 0)
        return frost_fail(FROST_ERR_ARG, "checkpoint_every must be >= 0 (got %d)",
                          c->checkpoint_every);
    if (c->bucket_bytes == 0)
        return frost_fail(FROST_ERR_ARG, "the gradient bucket size must be > 0");
    if (c->comm && frost_comm_size(c->comm) > c->batch)
        return frost_fail(FROST_ERR_ARG,
                          "batch %d is smaller than the %d ranks: every rank needs an image",
                          c->batch, frost_comm_size(c->comm));
    if (c->max_rollbacks < 0 || !(c->divergence_factor >= 0.0f) ||
        !isfinite(c->divergence_factor) ||
        (c->divergence_factor > 0.0f && c->divergence_factor <= 1.0f))
        return frost_fail(FROST_ERR_ARG,
                          "max_rollbacks must be >= 0 and the divergence factor 0 (off) or > 1");
    return FROST_OK;
}

/* The settings a resumed run must share with the checkpoint, as one string. */
static void config_signature(const frost_model *m, const frost_train_config *c, char *buf,
                             size_t size)
{
    snprintf(buf, size,
             "model=%s epochs=%d batch=%d opt=%s lr=%.9g sched=%d warmup=%.9g wd=%.9g seed=%llu "
             "smoothing=%.9g crop=%d flip=%d",
             m->name, c->epochs, c->batch, frost_optimizer_name(c->optim.kind),
             (double)c->sched.base_lr, (int)c->sched.kind, (double)c->sched.warmup_epochs,
             (double)c->optim.wd, (unsigned long long)c->seed, (double)c->label_smoothing,
             c->augment.crop_pad, (int)c->augment.hflip);
    if (c->optim.gradboost) {
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, " gradboost=%d", c->optim.gb_mode);
    }
    if (m->quant.active) {
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, " qat=1 delay=%d freeze_bn=%d freeze_obs=%d",
                 c->qat_delay_epochs, c->qat_freeze_bn_epoch, c->qat_freeze_observers_epoch);
    }
    if (c->comm && frost_comm_size(c->comm) > 1) { /* another rank count trains otherwise */
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, " ranks=%d sync_bn=%d", frost_comm_size(c->comm),
                 (int)c->sync_bn);
    }
}

/* QAT schedule: BN and observer freezing by epoch, and GradBoost's switch-on when the
 * float warm-up (StatAssist / quantization delay) ends; recomputed on resume. */
static frost_status qat_epoch_setup(frost_model *m, frost_optimizer *opt,
                                    const frost_train_config *c, int epoch)
{
    frost_optimizer_set_boost(opt, !(m->quant.active && epoch < c->qat_delay_epochs));
    if (!m->quant.active)
        return FROST_OK;
    bool bn = c->qat_freeze_bn_epoch >= 0 && epoch >= c->qat_freeze_bn_epoch;
    bool obs = c->qat_freeze_observers_epoch >= 0 && epoch >= c->qat_freeze_observers_epoch;
    frost_model_freeze_bn(m, bn);
    if (epoch < c->qat_delay_epochs) /* float; observers run unless frozen already */
        return frost_model_set_qmode(m, obs ? FROST_QMODE_FLOAT : FROST_QMODE_DELAY);
    return frost_model_set_qmode(m, obs ? FROST_QMODE_FIXED : FROST_QMODE_QAT);
}

/* Where training is: what a checkpoint records beyond the weights and the optimizer. */
typedef struct {
    int epoch; /* the epoch in progress, 0-based (= epochs completed) */
    int batch; /* batches done in it; > 0 means the streams below are the ones to use */
    frost_rng dropout_rng, qat_rng;
    double loss_sum; /* the epoch's running metrics */
    int64_t correct, seen;
    float lr_scale; /* 1, halved by each rollback */
} train_pos;

/* The divergence rule (frost/train.h): a moving average of the loss against the lowest one
 * seen so far, after a warm-up, never below half a uniform guess's loss. */
#define WATCH_WARMUP_STEPS 50
#define WATCH_DECAY        0.98

typedef struct {
    double ema, lowest;
    int64_t steps;
} divergence_watch;

typedef struct {
    float *x, *dlogits;
    uint8_t *y;
} batch_buffers;

typedef struct {
    frost_model *m;
    frost_optimizer *opt;
    frost_loader *l;
    const frost_train_config *cfg;
    const char *signature;
    batch_buffers b;
    train_pos pos;
    divergence_watch watch;
    bool trouble; /* the last FROST_ERR_NUMERIC came from the safety checks */
    int rollbacks;
    int poison_param; /* FROST_TEST_NAN_GRAD: the parameter and step; -1 = none */
    int64_t poison_step;
    frost_progress p;
    frost_progress_fn progress; /* NULL on ranks other than 0 */
    void *user;
    frost_dp *dp;    /* data-parallel runs; NULL = this process alone */
    bool stop_voted; /* data-parallel: some rank was asked to stop (agreed on by all) */
} trainer;

static double uniform_guess_loss(const frost_model *m)
{
    return log((double)(m->classes < 2 ? 2 : m->classes));
}

static void watch_reset(divergence_watch *w, const frost_model *m)
{
    w->ema = 0.0;
    w->steps = 0;
    w->lowest = uniform_guess_loss(m);
}

/* Adds a step's loss; true (and the limit it crossed) when training diverged. */
static bool watch_diverged(divergence_watch *w, double loss, const frost_model *m, float factor,
                           double *limit)
{
    w->ema = w->steps == 0 ? loss : WATCH_DECAY * w->ema + (1.0 - WATCH_DECAY) * loss;
    w->steps++;
    if (factor <= 0.0f || w->steps < WATCH_WARMUP_STEPS)
        return false;
    *limit = (double)factor * fmax(w->lowest, 0.5 * uniform_guess_loss(m));
    if (w->ema > *limit)
        return true;
    w->lowest = fmin(w->lowest, w->ema);
    return false;
}

/* No NaN or Inf in x. x - x is 0 for finite values and NaN otherwise; sixteen independent
 * lanes keep it one vectorized read of the buffer (no reassociation needed). Gradients are
 * only read after the optimizer found a non-finite one (see train_step). */
static bool all_finite(const float *x, int64_t n)
{
    float lane[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++)
            lane[k] += x[i + k] - x[i + k];
    float rest = 0.0f;
    for (; i < n; i++)
        rest += x[i] - x[i];
    for (int k = 0; k < 16; k++)
        rest += lane[k];
    return rest == 0.0f;
}

/* The first parameter (in checkpoint order) whose gradient is not finite, or -1. */
static int first_nonfinite_grad(const frost_model *m)
{
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].grad && !all_finite(m->params[i].grad, m->params[i].numel))
            return i;
    return -1;
}

/* The first BN running statistic that is not finite, or -1. Checked every step: a batch
 * whose variance overflows leaves the loss finite (training normalises with the batch's
 * own statistics) but makes every evaluation and the saved checkpoint unusable; the
 * statistics are a few thousand floats, nothing beside a forward pass. */
static int first_nonfinite_statistic(const frost_model *m)
{
    for (int i = 0; i < m->n_buffers; i++)
        if (!all_finite(m->buffers[i].data, m->buffers[i].numel))
            return i;
    return -1;
}

/* FROST_TEST_NAN_GRAD=<param>@<step>: the test hook that poisons one gradient. */
static frost_status read_poison_hook(trainer *t)
{
    t->poison_param = -1;
    const char *env = getenv("FROST_TEST_NAN_GRAD");
    if (!env || !*env)
        return FROST_OK;
    const char *at = strrchr(env, '@');
    char *end = NULL;
    long long step = at ? strtoll(at + 1, &end, 10) : 0;
    if (!at || *end || step < 1)
        return frost_fail(FROST_ERR_ARG, "FROST_TEST_NAN_GRAD='%s': want <param>@<step>", env);
    for (int i = 0; i < t->m->n_params; i++)
        if (strlen(t->m->params[i].name) == (size_t)(at - env) &&
            strncmp(t->m->params[i].name, env, (size_t)(at - env)) == 0)
            t->poison_param = i;
    if (t->poison_param < 0)
        return frost_fail(FROST_ERR_ARG, "FROST_TEST_NAN_GRAD: no parameter named '%.*s'",
                          (int)(at - env), env);
    t->poison_step = step;
    return FROST_OK;
}

/* Fails with FROST_ERR_NUMERIC: "<where>: <what>; lower the learning rate". */
static frost_status __attribute__((format(printf, 3, 4)))
trouble(trainer *t, int64_t step, const char *fmt, ...)
{
    char what[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    t->trouble = true;
    return frost_fail(FROST_ERR_NUMERIC,
                      "training diverged at epoch %d batch %d/%d (global step %lld): %s; lower "
                      "the learning rate",
                      t->pos.epoch + 1, t->pos.batch + 1, frost_loader_batches(t->l),
                      (long long)step, what);
}

static void rng_text(const frost_rng *a, const frost_rng *b, char *buf, size_t size)
{
    snprintf(buf, size, "%016llx %016llx %016llx %016llx %016llx %016llx %016llx %016llx",
             (unsigned long long)a->s[0], (unsigned long long)a->s[1], (unsigned long long)a->s[2],
             (unsigned long long)a->s[3], (unsigned long long)b->s[0], (unsigned long long)b->s[1],
             (unsigned long long)b->s[2], (unsigned long long)b->s[3]);
}

static bool rng_parse(const char *text, frost_rng *a, frost_rng *b)
{
    uint64_t w[8];
    for (int i = 0; i < 8; i++) {
        char *end = NULL;
        w[i] = strtoull(text, &end, 16);
        if (end == text)
            return false;
        text = end;
    }
    if (*text)
        return false;
    for (int i = 0; i < 4; i++) {
        a->s[i] = w[i];
        b->s[i] = w[4 + i];
    }
    return true;
}

/* Saves the checkpoint at t->pos (atomically: a kill leaves the previous one whole). */
static frost_status save_position(trainer *t)
{
    const train_pos *p = &t->pos;
    char ep[16], batch[16], rng[160], loss[40], correct[24], seen[24], scale[24];
    frost_st_meta meta[8];
    int n = 0;
    snprintf(ep, sizeof ep, "%d", p->epoch);
    meta[n++] = (frost_st_meta){"train.epoch", ep};
    meta[n++] = (frost_st_meta){"train.config", t->signature};
    if (p->batch > 0) {
        snprintf(batch, sizeof batch, "%d", p->batch);
        rng_text(&t->m->dropout_rng, &t->m->quant.rng, rng, sizeof rng);
        snprintf(loss, sizeof loss, "%.17g", p->loss_sum);
        snprintf(correct, sizeof correct, "%lld", (long long)p->correct);
        snprintf(seen, sizeof seen, "%lld", (long long)p->seen);
        meta[n++] = (frost_st_meta){"train.batch", batch};
        meta[n++] = (frost_st_meta){"train.rng", rng};
        meta[n++] = (frost_st_meta){"train.loss_sum", loss};
        meta[n++] = (frost_st_meta){"train.correct", correct};
        meta[n++] = (frost_st_meta){"train.seen", seen};
    }
    if (p->lr_scale != 1.0f) {
        snprintf(scale, sizeof scale, "%.9g", (double)p->lr_scale);
        meta[n++] = (frost_st_meta){"train.lr_scale", scale};
    }
    if (t->dp && frost_dp_rank(t->dp) != 0) /* the replicas are equal: rank 0 writes */
        return frost_dp_barrier(t->dp);
    frost_status s = frost_checkpoint_save(t->cfg->checkpoint, t->m, t->opt, meta, n);
    /* the others may read it (a rollback) only once it is written */
    frost_status b = t->dp ? frost_dp_barrier(t->dp) : FROST_OK;
    return s != FROST_OK ? s : b;
}

static bool meta_long(const frost_st_file *f, const char *key, long long lo, long long *v)
{
    const char *text = frost_st_meta_get(f, key);
    char *end = NULL;
    if (!text)
        return false;
    *v = strtoll(text, &end, 10);
    return end != text && !*end && *v >= lo;
}

/* The mid-epoch part of a checkpoint (train.batch and what goes with it), if any. */
static frost_status read_position(const frost_st_file *f, const char *path, train_pos *p)
{
    long long batch = 0, correct, seen;
    const char *rng = frost_st_meta_get(f, "train.rng");
    const char *loss = frost_st_meta_get(f, "train.loss_sum");
    const char *scale = frost_st_meta_get(f, "train.lr_scale");
    if (scale) {
        char *end = NULL;
        p->lr_scale = strtof(scale, &end);
        if (end == scale || *end || !(p->lr_scale > 0.0f && p->lr_scale <= 1.0f))
            return frost_fail(FROST_ERR_FORMAT, "%s: bad 'train.lr_scale' '%s'", path, scale);
    }
    if (!frost_st_meta_get(f, "train.batch"))
        return FROST_OK; /* saved at an epoch's end */
    char *end = NULL;
    if (!meta_long(f, "train.batch", 1, &batch) || batch > 1000000000 || !rng ||
        !rng_parse(rng, &p->dropout_rng, &p->qat_rng) || !loss ||
        !meta_long(f, "train.correct", 0, &correct) || !meta_long(f, "train.seen", 1, &seen))
        return frost_fail(FROST_ERR_FORMAT,
                          "%s: bad mid-epoch position (train.batch, train.rng, "
                          "train.loss_sum, train.correct, train.seen)",
                          path);
    p->loss_sum = strtod(loss, &end);
    if (end == loss || *end || !isfinite(p->loss_sum))
        return frost_fail(FROST_ERR_FORMAT, "%s: bad 'train.loss_sum' '%s'", path, loss);
    p->batch = (int)batch;
    p->correct = correct;
    p->seen = seen;
    return FROST_OK;
}

/* Loads a training checkpoint: weights, optimizer state and the position. */
static frost_status resume_from(trainer *t, const char *path)
{
    frost_st_file *f;
    FROST_TRY(frost_st_read(path, &f));
    frost_status s = FROST_OK;
    const char *sig = frost_st_meta_get(f, "train.config");
    long long e = -1;
    if (!sig || !meta_long(f, "train.epoch", 0, &e) || e > 100000)
        s = frost_fail(FROST_ERR_FORMAT, "%s: not a training checkpoint (no train.epoch)", path);
    else if (strcmp(sig, t->signature) != 0)
        s = frost_fail(FROST_ERR_ARG,
                       "%s: was trained with other settings; resume with the same ones:\n  "
                       "checkpoint: %s\n  now:        %s",
                       path, sig, t->signature);
    const char *qf = frost_st_meta_get(f, "frost.quant"), *qm = frost_model_qconfig_json(t->m);
    if (s == FROST_OK && (!qf != !qm || (qf && strcmp(qf, qm) != 0)))
        s = frost_fail(FROST_ERR_ARG,
                       "%s: was trained with another quantization config; resume with the same "
                       "one:\n  checkpoint: %s\n  now:        %s",
                       path, qf ? qf : "(float)", qm ? qm : "(float)");
    train_pos p = {.epoch = (int)e, .lr_scale = 1.0f};
    if (s == FROST_OK)
        s = read_position(f, path, &p);
    if (s == FROST_OK)
        s = frost_checkpoint_apply_weights(f, path, t->m);
    if (s == FROST_OK)
        s = frost_checkpoint_apply_optimizer(f, path, t->opt);
    frost_st_close(f);
    if (s == FROST_OK)
        t->pos = p;
    return s;
}

static void append_csv(const char *path, int epoch, float lr, const frost_progress *p)
{
    bool fresh = access(path, F_OK) != 0;
    FILE *f = fopen(path, "a");
    if (!f)
        return;
    if (fresh)
        frost_file_printf(f,
                          "epoch,lr,train_loss,train_acc,val_acc,test_acc,seconds,images_per_s\n");
    frost_file_printf(f, "%d,%.6g,%.5f,%.5f,%.5f,%.5f,%.2f,%.1f\n", epoch, (double)lr,
                      (double)p->loss, (double)p->acc, (double)p->val_acc, (double)p->test_acc,
                      p->elapsed_s, p->images_per_s);
    fclose(f);
}

/* Saves where training is (when it has a checkpoint) and returns FROST_STOPPED. */
static frost_status stop_here(trainer *t, frost_train_result *r)
{
    r->stop_epoch = t->pos.epoch;
    r->stop_batch = t->pos.batch;
    r->stop_saved = false;
    if (t->cfg->checkpoint) {
        FROST_TRY(save_position(t));
        r->stop_saved = true;
    }
    return frost_fail(FROST_STOPPED, "stopped at epoch %d after batch %d/%d%s%s", t->pos.epoch + 1,
                      t->pos.batch, frost_loader_batches(t->l),
                      t->cfg->checkpoint ? "; saved in " : " (no checkpoint)",
                      t->cfg->checkpoint ? t->cfg->checkpoint : "");
}

/* One step's numbers for the whole global batch: a data-parallel run sums them over the
 * ranks (one small sum per step), so every rank takes the same decisions from them. */
typedef struct {
    double loss_sum; /* loss x images */
    double correct, images;
    double bad_statistic; /* ranks whose BN running statistics are not finite */
    double stop;          /* ranks asked to stop */
} step_numbers;

static frost_status agree_on(trainer *t, step_numbers *v)
{
    if (!t->dp)
        return FROST_OK;
    double buf[5] = {v->loss_sum, v->correct, v->images, v->bad_statistic, v->stop};
    FROST_TRY(frost_dp_sum(t->dp, buf, 5));
    *v = (step_numbers){buf[0], buf[1], buf[2], buf[3], buf[4]};
    return FROST_OK;
}

/* Forward, loss, backward and the update of one batch, with the safety checks: this
 * rank's n images, the first of them image `first` of a global batch of n_all. */
static frost_status train_step(trainer *t, int n, int first, int n_all, int64_t step, float lr)
{
    frost_model *m = t->m;
    const frost_train_config *cfg = t->cfg;
    frost_model_zero_grad(m);
    m->dropout_step = t->pos.batch; /* the step's masks, whatever ran before (resume) */
    if (t->dp)
        frost_dp_begin_step(t->dp, first);
    FROST_TRY(frost_model_forward(m, t->b.x, n, true));
    int correct = 0;
    float loss = frost_softmax_xent(n, m->classes, frost_model_logits(m), t->b.y,
                                    cfg->label_smoothing, t->b.dlogits, &correct);
    int stat = first_nonfinite_statistic(m);
    step_numbers v = {(double)loss * n, correct, n, stat >= 0, cfg->stop && *cfg->stop};
    FROST_TRY(agree_on(t, &v));
    loss = (float)(v.loss_sum / v.images);
    t->stop_voted = v.stop > 0.0;
    double limit = 0.0;
    if (!isfinite(loss))
        return trouble(t, step, "the loss is %g", (double)loss);
    if (v.bad_statistic > 0.0)
        return trouble(t, step, "the running statistic %s is not finite (loss %g)",
                       stat >= 0 ? m->buffers[stat].name : "of another rank", (double)loss);
    if (watch_diverged(&t->watch, loss, m, cfg->divergence_factor, &limit))
        return trouble(t, step,
                       "the loss's moving average %.4g exceeds %g x %.4g (divergence rule: "
                       "factor x max(lowest average, ln(classes)/2))",
                       t->watch.ema, (double)cfg->divergence_factor,
                       limit / (double)cfg->divergence_factor);
    if (n != n_all) { /* the mean over the global batch: this rank's share of it */
        float share = (float)n / (float)n_all;
        for (int i = 0; i < n * m->classes; i++)
            t->b.dlogits[i] *= share;
    }
    FROST_TRY(frost_model_backward(m, t->b.dlogits));
    if (t->dp)
        FROST_TRY(frost_dp_finish_gradients(t->dp));
    if (t->poison_param >= 0 && step == t->poison_step) {
        m->params[t->poison_param].grad[0] = NAN;
        t->poison_param = -1; /* once: a rollback then passes this step */
    }
    /* The optimizer's global gradient norm (every step, for clipping) is the finite check:
     * a NaN/Inf element makes it fail before anything is updated. Only then are the
     * gradients read again, to name the first bad parameter. */
    frost_status s = frost_optimizer_step(t->opt, lr);
    int bad = s == FROST_ERR_NUMERIC ? first_nonfinite_grad(m) : -1;
    if (bad >= 0)
        return trouble(t, step,
                       "the gradient of %s is not finite (the first such parameter; loss %g)",
                       m->params[bad].name, (double)loss);
    FROST_TRY(s);
    frost_model_qat_after_step(m); /* BinaryConnect's weight clipping */
    if (cfg->after_step)
        cfg->after_step(m, lr, cfg->after_step_user);
    if (t->dp)
        FROST_TRY(frost_dp_share_statistics(t->dp));
    t->pos.loss_sum += v.loss_sum;
    t->pos.correct += (int64_t)v.correct;
    t->pos.seen += (int64_t)v.images;
    t->pos.batch++;
    t->p.batch_loss = loss;
    return FROST_OK;
}

static void update_progress(frost_progress *p, const train_pos *pos, float lr, double t0,
                            int64_t seen0)
{
    p->batch_index = pos->batch;
    p->images_done = pos->seen;
    p->loss = (float)(pos->loss_sum / (double)pos->seen);
    p->acc = (float)((double)pos->correct / (double)pos->seen);
    p->lr = lr;
    p->elapsed_s = now_s() - t0;
    p->images_per_s = (double)(pos->seen - seen0) / fmax(p->elapsed_s, 1e-9);
}

/* The epoch t->pos.epoch from batch t->pos.batch on. */
static frost_status run_epoch(trainer *t, frost_train_result *r)
{
    frost_model *m = t->m;
    const frost_train_config *cfg = t->cfg;
    train_pos *pos = &t->pos;
    frost_progress *p = &t->p;
    int spe = frost_loader_batches(t->l);
    uint64_t epoch_seed = cfg->seed * 1000003ULL + (uint64_t)pos->epoch;
    frost_loader_start_epoch(t->l, pos->epoch);
    if (pos->batch > 0) { /* resuming mid-epoch: the streams as they were at that step */
        frost_loader_seek(t->l, pos->batch);
        m->dropout_rng = pos->dropout_rng;
        m->quant.rng = pos->qat_rng;
    } else {
        frost_model_seed_dropout(m, epoch_seed);
        if (m->quant.active) /* stochastic binary weights: their own stream, same seed */
            frost_model_seed_qat(m, epoch_seed ^ 0x5157A7B1ULL);
    }
    double t0 = now_s();
    int64_t seen0 = pos->seen;
    p->epoch = pos->epoch + 1;
    p->batches = spe;
    p->epoch_end = false;
    p->val_acc = p->test_acc = -1.0f;
    int rank = t->dp ? frost_dp_rank(t->dp) : 0, ranks = t->dp ? frost_dp_size(t->dp) : 1;
    for (;;) {
        /* a data-parallel run stops where every rank has heard of the request */
        if (t->dp ? t->stop_voted : cfg->stop && *cfg->stop)
            return stop_here(t, r);
        int first = 0, n = 0;
        int n_all = frost_loader_next_part(t->l, rank, ranks, t->b.x, t->b.y, &first, &n);
        if (n_all < ranks) /* the epoch's end, or a last batch too small to share */
            break;
        int64_t step = (int64_t)pos->epoch * spe + pos->batch + 1; /* 1-based, global */
        float lr = pos->lr_scale * frost_schedule_lr(&cfg->sched, step - 1, spe);
        FROST_TRY(train_step(t, n, first, n_all, step, lr));
        update_progress(p, pos, lr, t0, seen0);
        if (t->progress)
            t->progress(p, t->user);
        if (cfg->checkpoint && cfg->checkpoint_every > 0 && step % cfg->checkpoint_every == 0 &&
            pos->batch < spe) /* the epoch's end saves anyway */
            FROST_TRY(save_position(t));
    }
    if (pos->seen > 0) /* the metrics of an epoch resumed after its last batch */
        update_progress(p, pos,
                        pos->lr_scale * frost_schedule_lr(&cfg->sched,
                                                          (int64_t)(pos->epoch + 1) * spe - 1, spe),
                        t0, seen0);
    return FROST_OK;
}

/* Accuracy on d: data-parallel runs split d into one contiguous part per rank (the
 * replicas are equal) and add up the correct answers. */
static frost_status evaluate(trainer *t, const frost_dataset *d, float *acc)
{
    const frost_train_config *cfg = t->cfg;
    if (!t->dp)
        return frost_evaluate(t->m, d, &cfg->augment, cfg->batch, acc, NULL);
    int rank = frost_dp_rank(t->dp), ranks = frost_dp_size(t->dp);
    int begin = (int)((int64_t)d->n * rank / ranks),
        end = (int)((int64_t)d->n * (rank + 1) / ranks);
    size_t pixels = (size_t)d->h * d->w * d->c;
    frost_dataset part = *d;
    part.n = end - begin;
    part.images = d->images + (size_t)begin * pixels;
    part.labels = d->labels + begin;
    float part_acc = 0.0f;
    frost_status s = FROST_OK;
    if (part.n > 0)
        s = frost_evaluate(t->m, &part, &cfg->augment, cfg->batch, &part_acc, NULL);
    /* every rank joins the sum, even after a failure, so none waits for it forever */
    double v[2] = {s == FROST_OK ? round((double)part_acc * part.n) : 0.0, s != FROST_OK};
    frost_status sum = frost_dp_sum(t->dp, v, 2);
    FROST_TRY(s);
    FROST_TRY(sum);
    if (v[1] > 0.0)
        return frost_fail(FROST_ERR_IO, "evaluation failed on another rank");
    *acc = (float)(v[0] / (double)d->n);
    return FROST_OK;
}

/* Evaluation, progress, CSV and checkpoint at the end of epoch t->pos.epoch. */
static frost_status finish_epoch(trainer *t, const frost_dataset *val, const frost_dataset *test,
                                 frost_train_result *r)
{
    const frost_train_config *cfg = t->cfg;
    frost_progress *p = &t->p;
    double train_s = p->elapsed_s;
    if (val)
        FROST_TRY(evaluate(t, val, &p->val_acc));
    bool last = t->pos.epoch + 1 == cfg->epochs;
    bool test_now = last || (cfg->test_every > 0 && (t->pos.epoch + 1) % cfg->test_every == 0);
    if (test && test_now)
        FROST_TRY(evaluate(t, test, &p->test_acc));
    p->epoch_end = true;
    p->elapsed_s = train_s;
    if (t->progress)
        t->progress(p, t->user);
    if (cfg->csv && (!t->dp || frost_dp_rank(t->dp) == 0))
        append_csv(cfg->csv, t->pos.epoch + 1, p->lr, p);
    float lr_scale = t->pos.lr_scale;
    t->pos = (train_pos){.epoch = t->pos.epoch + 1, .lr_scale = lr_scale};
    if (cfg->checkpoint)
        FROST_TRY(save_position(t));
    r->epochs_run++;
    r->train_loss = p->loss;
    r->train_acc = p->acc;
    r->val_acc = p->val_acc;
    r->test_acc = p->test_acc;
    return FROST_OK;
}

static frost_status train_epochs(trainer *t, const frost_dataset *val, const frost_dataset *test,
                                 frost_train_result *r, int64_t *images)
{
    while (t->pos.epoch < t->cfg->epochs) {
        FROST_TRY(qat_epoch_setup(t->m, t->opt, t->cfg, t->pos.epoch));
        int64_t seen0 = t->pos.seen;
        FROST_TRY(run_epoch(t, r));
        *images += t->pos.seen - seen0;
        FROST_TRY(finish_epoch(t, val, test, r));
    }
    return FROST_OK;
}

/* on_nan = rollback: back to the last checkpoint with half the learning rate. */
static frost_status roll_back(trainer *t)
{
    char why[512];
    snprintf(why, sizeof why, "%s", frost_last_error());
    const char *path = t->cfg->checkpoint;
    if (!path || access(path, F_OK) != 0)
        return frost_fail(FROST_ERR_NUMERIC, "%s (no checkpoint to roll back to)", why);
    if (t->rollbacks >= t->cfg->max_rollbacks)
        return frost_fail(FROST_ERR_NUMERIC, "%s; gave up after %d rollbacks", why, t->rollbacks);
    float scale = t->pos.lr_scale;
    FROST_TRY(resume_from(t, path));
    t->pos.lr_scale = fminf(scale, t->pos.lr_scale) * 0.5f;
    t->rollbacks++;
    t->trouble = false;
    watch_reset(&t->watch, t->m);
    char note[700];
    snprintf(note, sizeof note,
             "%s\nrollback %d/%d: back to epoch %d batch %d from %s, learning rate x%g", why,
             t->rollbacks, t->cfg->max_rollbacks, t->pos.epoch + 1, t->pos.batch, path,
             (double)t->pos.lr_scale);
    if (t->progress) {
        t->p.note = note;
        t->progress(&t->p, t->user);
        t->p.note = NULL;
    }
    return FROST_OK;
}

static frost_status train_start(trainer *t)
{
    const frost_train_config *cfg = t->cfg;
    t->pos = (train_pos){.lr_scale = 1.0f};
    watch_reset(&t->watch, t->m);
    FROST_TRY(read_poison_hook(t));
    if (cfg->resume && cfg->checkpoint && access(cfg->checkpoint, F_OK) == 0)
        return resume_from(t, cfg->checkpoint);
    if (cfg->on_nan == FROST_ON_NAN_ROLLBACK && cfg->checkpoint)
        return save_position(t); /* something to roll back to before the first epoch ends */
    return FROST_OK;
}

frost_status frost_train(frost_model *m, const frost_dataset *train, const frost_dataset *val,
                         const frost_dataset *test, const frost_train_config *cfg_in,
                         frost_progress_fn progress, void *user, frost_train_result *result)
{
    frost_train_config cfg = *cfg_in;
    cfg.sched.epochs = cfg.epochs;
    FROST_TRY(check_config(&cfg));
    FROST_TRY(check_data(m, train, "training"));
    FROST_TRY(check_data(m, val, "validation"));
    FROST_TRY(check_data(m, test, "test"));
    int ranks = cfg.comm ? frost_comm_size(cfg.comm) : 1;
    int local_batch = cfg.batch / ranks + (cfg.batch % ranks != 0); /* the largest part */
    FROST_TRY(frost_model_set_batch(m, local_batch));

    char signature[512];
    config_signature(m, &cfg, signature, sizeof signature);
    trainer t = {.m = m, .cfg = &cfg, .signature = signature, .user = user};
    if (ranks > 1)
        FROST_TRY(frost_dp_create(m, cfg.comm, cfg.sync_bn, cfg.bucket_bytes, &t.dp));
    if (!t.dp || frost_dp_rank(t.dp) == 0)
        t.progress = progress;
    t.p.epochs = cfg.epochs;
    frost_train_result r = {.val_acc = -1.0f, .test_acc = -1.0f};
    frost_status s = frost_optimizer_create(&cfg.optim, m, &t.opt);
    if (s != FROST_OK) {
        frost_dp_free(t.dp);
        return s;
    }
    s = frost_loader_create(train, cfg.batch, true, &cfg.augment, cfg.seed, &t.l);
    if (s == FROST_OK)
        s = train_start(&t);
    if (s != FROST_OK)
        goto done;
    size_t img = (size_t)m->in_h * m->in_w * m->in_c;
    t.b.x = frost_alloc((size_t)local_batch * img * sizeof(float));
    t.b.dlogits = frost_alloc((size_t)local_batch * m->classes * sizeof(float));
    t.b.y = malloc((size_t)local_batch);
    if (!t.b.x || !t.b.dlogits || !t.b.y) {
        s = frost_fail(FROST_ERR_NOMEM, "out of memory for batch buffers");
        goto done;
    }
    double t_all = now_s();
    int64_t images_all = 0;
    for (;;) {
        s = train_epochs(&t, val, test, &r, &images_all);
        if (s != FROST_ERR_NUMERIC || !t.trouble || cfg.on_nan != FROST_ON_NAN_ROLLBACK ||
            (s = roll_back(&t)) != FROST_OK)
            break;
    }
    r.seconds = now_s() - t_all;
    r.images_per_s = (double)images_all / fmax(r.seconds, 1e-9);
    r.rollbacks = t.rollbacks;
    if (t.dp) {
        frost_dp_stats st = frost_dp_get_stats(t.dp);
        r.allreduce_floats = st.gradient_floats;
        r.buckets = st.buckets;
        r.comm_wait_s = st.wait_s;
        r.comm_sync_s = st.sync_s;
    }
    if (result && (s == FROST_OK || s == FROST_STOPPED))
        *result = r;
done:
    frost_dp_free(t.dp);
    frost_free(t.b.x);
    frost_free(t.b.dlogits);
    free(t.b.y);
    frost_loader_free(t.l);
    frost_optimizer_free(t.opt);
    return s;
}
