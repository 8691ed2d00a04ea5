/*
 * Training: the training loop (epochs, schedules, QAT phases, checkpoints, progress).
 * The optimizers and learning-rate schedules it uses are in frost/optim.h.
 */
#ifndef FROST_TRAIN_H
#define FROST_TRAIN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "frost/comm.h"
#include "frost/data.h"
#include "frost/model.h"
#include "frost/optim.h"
#include "frost/status.h"

/* What training does when the loss or a gradient is NaN/Inf, or the loss diverges. */
typedef enum {
    FROST_ON_NAN_STOP = 0, /* fail with FROST_ERR_NUMERIC, naming the step and the layer */
    FROST_ON_NAN_ROLLBACK  /* reload the last checkpoint, halve the learning rate, go on */
} frost_on_nan;

typedef struct {
    int epochs; /* > 0 */
    int batch;  /* > 0 */
    frost_optimizer_config optim;
    frost_schedule sched;   /* sched.epochs is set from epochs */
    float label_smoothing;  /* 0..1 */
    frost_augment augment;  /* training augmentation (eval uses its mean/std only) */
    uint64_t seed;          /* init, shuffling, augmentation, dropout */
    const char *checkpoint; /* written atomically after every epoch; NULL = none */
    const char *csv;        /* per-epoch metrics appended here; NULL = none */
    bool resume;            /* continue from `checkpoint` if it exists */
    bool quiet;
    int test_every; /* evaluate the test set every N epochs (and after the last);
                     * 0 = only after the last epoch */
    /* Quantized (fake-quant) models only: after this many epochs BN uses running statistics
     * (frost_model_freeze_bn), and the observers stop updating; 0 = from the start,
     * -1 = never (the default). */
    int qat_delay_epochs; /* float training (observers only) before fake-quant starts */
    int qat_freeze_bn_epoch;
    int qat_freeze_observers_epoch;
    /* Called after every optimizer step with the step's learning rate, the step's gradients
     * still in the model: training with constraints the optimizer does not know, such as
     * k-means weight sharing (docs/kmeans.md), which updates its centroids from the summed
     * gradients and rewrites the shared weights here. NULL = none. */
    void (*after_step)(frost_model *m, float lr, void *user);
    void *after_step_user;
    /* Also save the checkpoint every N optimizer steps inside an epoch (with the position,
     * the random streams and the epoch's running metrics, so resuming is exact); 0 = at
     * epoch ends only. Needs `checkpoint`. */
    int checkpoint_every;
    frost_on_nan on_nan;
    int max_rollbacks; /* FROST_ON_NAN_ROLLBACK gives up after this many (default 3) */
    /* Divergence: after a 50-step warm-up, training counts as diverged when the loss's
     * moving average (about the last 50 steps) exceeds divergence_factor x max(the lowest
     * such average so far, ln(classes) / 2), the lowest average starting at ln(classes),
     * the loss of a uniform guess. Default 10; 0 = off (NaN/Inf is always caught). */
    float divergence_factor;
    /* Polled between steps (a flag a signal handler sets): when non-zero, frost_train saves
     * the checkpoint at the current step and returns FROST_STOPPED. NULL = never. */
    const volatile sig_atomic_t *stop;
    /* Data-parallel training (docs/distributed.md). With a communicator of N >= 2 ranks,
     * every rank calls frost_train with the same model, data and settings; `batch` is the
     * global batch, of which rank r computes images [batch*r/N, batch*(r+1)/N) (so batch
     * >= N; a last batch of an epoch with fewer than N images is skipped). Gradients are
     * summed in buckets while backward runs; the checkpoint and CSV are written by rank 0
     * only and progress is reported on rank 0 only. NULL (or one rank) = this process. */
    frost_comm *comm;
    bool sync_bn;        /* BN statistics over the global batch (SyncBN); else per rank */
    size_t bucket_bytes; /* gradient bucket size; default 25 MiB */
} frost_train_config;

/* Defaults: 10 epochs, batch 64, SGD Nesterov lr 0.1 cosine with 1 warm-up epoch,
 * label smoothing 0.1, Fashion-MNIST normalisation, crop pad 2, no flip, seed 1;
 * stop on NaN, divergence factor 10, 3 rollbacks at most. */
frost_train_config frost_train_defaults(void);

typedef struct {
    int epoch, epochs;        /* epoch is 1-based while running */
    int batch_index, batches; /* within the epoch */
    int64_t images_done;      /* in this epoch */
    float loss, acc;          /* running means over the epoch so far */
    float batch_loss;         /* the last step's loss (over the whole global batch) */
    float lr;
    double elapsed_s;        /* since the start of this epoch */
    bool epoch_end;          /* the epoch's summary (val/test filled) */
    float val_acc, test_acc; /* -1 if not evaluated */
    double images_per_s;
    const char *note; /* non-NULL for one call: an event to tell the user (a rollback) */
} frost_progress;

typedef void (*frost_progress_fn)(const frost_progress *p, void *user);

typedef struct {
    int epochs_run; /* in this call (less than epochs after a resume) */
    float train_loss, train_acc, val_acc, test_acc;
    double seconds, images_per_s;
    int rollbacks; /* FROST_ON_NAN_ROLLBACK: how many happened */
    /* FROST_STOPPED: the position saved in the checkpoint (epochs done, batches of the next) */
    int stop_epoch, stop_batch;
    bool stop_saved; /* the checkpoint holds that position (false without a checkpoint) */
    /* data-parallel runs: floats summed over the ranks per step, buckets, the time
     * backward's end waited for the sums (what communication did not hide), and the time
     * in the step's other exchanges (SyncBN, observer ranges, the per-step agreement);
     * both include waiting for a slower rank */
    int64_t allreduce_floats;
    int buckets;
    double comm_wait_s, comm_sync_s;
} frost_train_result;

/* Trains m on `train`; after each epoch evaluates on val and test (either may be
 * NULL), calls progress, appends to the CSV and saves the checkpoint. With
 * cfg->resume and an existing checkpoint, loads it and continues from the step
 * after the one it holds: the result equals an uninterrupted run.
 * A NaN/Inf loss or gradient, or a diverging loss, fails with FROST_ERR_NUMERIC and a
 * message naming the epoch, batch, global step and (for gradients) the parameter, unless
 * cfg->on_nan rolls back. *cfg->stop set: returns FROST_STOPPED after saving (result
 * filled). The environment variable FROST_TEST_NAN_GRAD=<param>@<step> (tests only)
 * poisons that parameter's gradient at that global step (1-based), once per call. */
frost_status frost_train(frost_model *m, const frost_dataset *train, const frost_dataset *val,
                         const frost_dataset *test, const frost_train_config *cfg,
                         frost_progress_fn progress, void *user, frost_train_result *result);

/* `base` with the normalization a model's preprocessing asks for (per channel), its crop
 * and flip kept; base itself when the preprocessing is not set. */
frost_augment frost_augment_for(const frost_preprocess *pre, frost_augment base);

/* Accuracy (0..1) and mean loss of m on d in eval mode, normalised with aug's mean/std. */
frost_status frost_evaluate(frost_model *m, const frost_dataset *d, const frost_augment *norm,
                            int batch, float *acc, float *loss);

#endif
