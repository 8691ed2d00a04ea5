/*
 * Data-parallel training's link between the training loop, the model's hooks
 * (frost_model_parallel in models/graph.h) and a communicator (frost/comm.h). Every rank
 * trains a replica on its part of each global batch; this part keeps the replicas equal:
 *
 * - gradients: summed over the ranks in buckets (about bucket_bytes each, packed in
 *   backward order), each sent as soon as backward has finished its parameters, so the
 *   sums travel while backward works on the earlier layers;
 * - SyncBN (optional): BN's statistics over the global batch (one sum per BN layer and
 *   pass); without it each rank normalises with its own images and rank 0's running
 *   statistics are copied to the others after every step (as PyTorch DDP does);
 * - QAT observers: every activation range is the global batch's (a max over ranks);
 * - the small per-step sums the loop needs (loss, accuracy, flags for stopping).
 *
 * The gradient of the mean loss over the global batch is the sum over ranks of each
 * rank's gradient with its dlogits scaled by n_rank / n_global: the trainer scales, this
 * part sums. Sums are frost_comm's rank-ordered ones, so results do not depend on timing.
 */
#ifndef FROST_TRAIN_PARALLEL_H
#define FROST_TRAIN_PARALLEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frost/comm.h"
#include "frost/model.h"

typedef struct frost_dp frost_dp;

/* Installs the hooks on m for a communicator of two or more ranks. */
frost_status frost_dp_create(frost_model *m, frost_comm *comm, bool sync_bn, size_t bucket_bytes,
                             frost_dp **out);
/* Removes the hooks and frees; sums still in flight are waited for first. NULL is fine. */
void frost_dp_free(frost_dp *dp);

int frost_dp_rank(const frost_dp *dp);
int frost_dp_size(const frost_dp *dp);

/* Before a training step's forward: this rank's first image's index in the global batch. */
void frost_dp_begin_step(frost_dp *dp, int64_t first_sample);
/* After backward: waits for every gradient bucket (and sends any backward did not reach);
 * the model's gradients are then the sums over ranks. */
frost_status frost_dp_finish_gradients(frost_dp *dp);
/* Without SyncBN: copies rank 0's BN running statistics to every rank. */
frost_status frost_dp_share_statistics(frost_dp *dp);
/* v[n] becomes the sum over ranks (doubles, rank order). */
frost_status frost_dp_sum(frost_dp *dp, double *v, int n);
frost_status frost_dp_barrier(frost_dp *dp);

/* What a step moved and waited: gradient floats summed per step, buckets, the time spent
 * blocked in frost_dp_finish_gradients since creation, and in every other exchange (SyncBN,
 * observer ranges, the per-step sums, statistics, barriers); seconds. Both include waiting
 * for a slower rank. */
typedef struct {
    int64_t gradient_floats;
    int buckets;
    double wait_s, sync_s;
    int64_t steps;
} frost_dp_stats;
frost_dp_stats frost_dp_get_stats(const frost_dp *dp);

#endif
