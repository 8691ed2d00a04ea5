/*
 * The training loop: epochs of shuffled, augmented batches; forward, softmax
 * cross-entropy, backward, optimizer step with the scheduled learning rate;
 * after each epoch an evaluation, a CSV row and an atomic checkpoint.
 *
 * Exact resume: everything random in an epoch (shuffle order, augmentation,
 * dropout) is derived from (seed, epoch), and the checkpoint holds weights, BN
 * statistics, optimizer state and the epoch count, so continuing from epoch k's
 * checkpoint reproduces the uninterrupted run bit for bit (same thread count).
 */
#include <math.h>
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

/* Loads a training checkpoint; returns the number of epochs it completed. */
static frost_status resume_from(const char *path, frost_model *m, frost_optimizer *opt,
                                const char *signature, int *epochs_done)
{
    frost_st_file *f;
    FROST_TRY(frost_st_read(path, &f));
    frost_status s = FROST_OK;
    const char *sig = frost_st_meta_get(f, "train.config");
    const char *ep = frost_st_meta_get(f, "train.epoch");
    char *end = NULL;
    long e = ep ? strtol(ep, &end, 10) : -1;
    if (!sig || !ep || *end || e < 0)
        s = frost_fail(FROST_ERR_FORMAT, "%s: not a training checkpoint (no train.epoch)", path);
    else if (strcmp(sig, signature) != 0)
        s = frost_fail(FROST_ERR_ARG,
                       "%s: was trained with other settings; resume with the same ones:\n  "
                       "checkpoint: %s\n  now:        %s",
                       path, sig, signature);
    const char *qf = frost_st_meta_get(f, "frost.quant"), *qm = frost_model_qconfig_json(m);
    if (s == FROST_OK && (!qf != !qm || (qf && strcmp(qf, qm) != 0)))
        s = frost_fail(FROST_ERR_ARG,
                       "%s: was trained with another quantization config; resume with the same "
                       "one:\n  checkpoint: %s\n  now:        %s",
                       path, qf ? qf : "(float)", qm ? qm : "(float)");
    if (s == FROST_OK)
        s = frost_checkpoint_apply_weights(f, path, m);
    if (s == FROST_OK)
        s = frost_checkpoint_apply_optimizer(f, path, opt);
    frost_st_close(f);
    if (s == FROST_OK)
        *epochs_done = (int)e;
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

typedef struct {
    float *x, *dlogits;
    uint8_t *y;
} batch_buffers;

static frost_status run_epoch(frost_model *m, frost_optimizer *opt, frost_loader *l,
                              const frost_train_config *cfg, int epoch, batch_buffers *b,
                              frost_progress *p, frost_progress_fn progress, void *user)
{
    int64_t spe = frost_loader_batches(l);
    frost_loader_start_epoch(l, epoch);
    frost_model_seed_dropout(m, cfg->seed * 1000003ULL + (uint64_t)epoch);
    if (m->quant.active) /* stochastic binary weights: their own stream, from the same seed */
        frost_model_seed_qat(m, (cfg->seed * 1000003ULL + (uint64_t)epoch) ^ 0x5157A7B1ULL);
    double t0 = now_s(), loss_sum = 0.0;
    int64_t correct_sum = 0, seen = 0;
    int n;
    p->epoch = epoch + 1;
    p->batches = (int)spe;
    p->epoch_end = false;
    p->val_acc = p->test_acc = -1.0f;
    for (int bi = 0; (n = frost_loader_next(l, b->x, b->y)) > 0; bi++) {
        float lr = frost_schedule_lr(&cfg->sched, (int64_t)epoch * spe + bi, spe);
        frost_model_zero_grad(m);
        FROST_TRY(frost_model_forward(m, b->x, n, true));
        int correct = 0;
        float loss = frost_softmax_xent(n, m->classes, frost_model_logits(m), b->y,
                                        cfg->label_smoothing, b->dlogits, &correct);
        if (!isfinite(loss))
            return frost_fail(
                FROST_ERR_NUMERIC,
                "training diverged at epoch %d batch %d (loss %g): lower the learning rate",
                epoch + 1, bi + 1, (double)loss);
        FROST_TRY(frost_model_backward(m, b->dlogits));
        FROST_TRY(frost_optimizer_step(opt, lr));
        frost_model_qat_after_step(m); /* BinaryConnect's weight clipping */
        if (cfg->after_step)
            cfg->after_step(m, lr, cfg->after_step_user);
        loss_sum += (double)loss * n;
        correct_sum += correct;
        seen += n;
        p->batch_index = bi + 1;
        p->images_done = seen;
        p->loss = (float)(loss_sum / (double)seen);
        p->acc = (float)((double)correct_sum / (double)seen);
        p->lr = lr;
        p->elapsed_s = now_s() - t0;
        p->images_per_s = (double)seen / fmax(p->elapsed_s, 1e-9);
        if (progress)
            progress(p, user);
    }
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
    FROST_TRY(frost_model_set_batch(m, cfg.batch));

    frost_optimizer *opt = NULL;
    frost_loader *l = NULL;
    batch_buffers b = {0};
    frost_status s = frost_optimizer_create(&cfg.optim, m, &opt);
    if (s != FROST_OK)
        return s;
    char signature[512];
    config_signature(m, &cfg, signature, sizeof signature);
    int start = 0;
    if (cfg.resume && cfg.checkpoint && access(cfg.checkpoint, F_OK) == 0) {
        s = resume_from(cfg.checkpoint, m, opt, signature, &start);
        if (s != FROST_OK)
            goto done;
    }
    s = frost_loader_create(train, cfg.batch, true, &cfg.augment, cfg.seed, &l);
    if (s != FROST_OK)
        goto done;
    size_t img = (size_t)m->in_h * m->in_w * m->in_c;
    b.x = frost_alloc((size_t)cfg.batch * img * sizeof(float));
    b.dlogits = frost_alloc((size_t)cfg.batch * m->classes * sizeof(float));
    b.y = malloc((size_t)cfg.batch);
    if (!b.x || !b.dlogits || !b.y) {
        s = frost_fail(FROST_ERR_NOMEM, "out of memory for batch buffers");
        goto done;
    }
    frost_progress p = {.epochs = cfg.epochs};
    frost_train_result r = {.val_acc = -1.0f, .test_acc = -1.0f};
    double t_all = now_s();
    int64_t images_all = 0;
    for (int epoch = start; epoch < cfg.epochs; epoch++) {
        if ((s = qat_epoch_setup(m, opt, &cfg, epoch)) != FROST_OK)
            goto done;
        s = run_epoch(m, opt, l, &cfg, epoch, &b, &p, progress, user);
        if (s != FROST_OK)
            goto done;
        images_all += p.images_done;
        double train_s = p.elapsed_s;
        if (val &&
            (s = frost_evaluate(m, val, &cfg.augment, cfg.batch, &p.val_acc, NULL)) != FROST_OK)
            goto done;
        bool last = epoch + 1 == cfg.epochs;
        bool test_now = last || (cfg.test_every > 0 && (epoch + 1) % cfg.test_every == 0);
        if (test && test_now &&
            (s = frost_evaluate(m, test, &cfg.augment, cfg.batch, &p.test_acc, NULL)) != FROST_OK)
            goto done;
        p.epoch_end = true;
        p.elapsed_s = train_s;
        if (progress)
            progress(&p, user);
        if (cfg.csv)
            append_csv(cfg.csv, epoch + 1, p.lr, &p);
        if (cfg.checkpoint) {
            char ep[16];
            snprintf(ep, sizeof ep, "%d", epoch + 1);
            frost_st_meta meta[2] = {{"train.epoch", ep}, {"train.config", signature}};
            if ((s = frost_checkpoint_save(cfg.checkpoint, m, opt, meta, 2)) != FROST_OK)
                goto done;
        }
        r.epochs_run++;
        r.train_loss = p.loss;
        r.train_acc = p.acc;
        r.val_acc = p.val_acc;
        r.test_acc = p.test_acc;
    }
    r.seconds = now_s() - t_all;
    r.images_per_s = (double)images_all / fmax(r.seconds, 1e-9);
    if (result)
        *result = r;
done:
    frost_free(b.x);
    frost_free(b.dlogits);
    free(b.y);
    frost_loader_free(l);
    frost_optimizer_free(opt);
    return s;
}
