/* Data-parallel training (frost_train_config.comm, docs/distributed.md). Run alone: a
 * one-rank communicator trains exactly like none. Run under mpirun (CTest's
 * test_train_parallel_np2, label "mpi"): 2-rank training against 1-rank training of the
 * same global batch, with SyncBN, dropout, QAT observers and GradBoost on; two 2-rank runs
 * against each other bit for bit; the replicas (weights, BN statistics, observer ranges)
 * equal on every rank; checkpoints written by rank 0 and resumed exactly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frost/comm.h"
#include "frost/qat.h"
#include "models/graph.h"
#include "train_fixture.h"

#define STEPS 20
#define BATCH 16

static frost_comm *comm; /* one per process: MPI cannot start twice */
static int rank, ranks;

typedef struct {
    float loss[STEPS];
    int steps;
    int stop_after; /* > 0: ask training to stop after this many steps (rank 0 only) */
} step_log;

static volatile sig_atomic_t stop_flag;

static void log_step(const frost_progress *p, void *user)
{
    step_log *l = user;
    if (p->epoch_end || p->note)
        return;
    if (l->steps < STEPS)
        l->loss[l->steps] = p->batch_loss;
    l->steps++;
    if (l->stop_after > 0 && l->steps == l->stop_after)
        stop_flag = 1; /* as a signal handler would, on one rank only */
}

/* The fixture's network with QAT (8-bit, EMA observers, fake-quant from the first step). */
static frost_model *quantized(void)
{
    frost_model *m = fresh();
    frost_qconfig *q = NULL;
    CHECK(frost_qconfig_parse("{}", "test", &q) == FROST_OK);
    if (m && q)
        CHECK(frost_model_quantize(m, q) == FROST_OK);
    frost_qconfig_free(q);
    return m;
}

/* `epochs` of STEPS steps, GradBoost on, over `with` (NULL = this process alone); with a
 * checkpoint, resumed from it when it exists, and stopped after log->stop_after steps. */
static frost_model *train(frost_comm *with, bool sync_bn, const char *ckpt, int epochs,
                          step_log *log)
{
    int stop_after = log ? log->stop_after : 0;
    frost_dataset d = synthetic(STEPS * BATCH, 5);
    frost_train_config c = config(ckpt);
    c.epochs = epochs;
    c.batch = BATCH;
    c.test_every = 0;
    c.resume = ckpt != NULL;
    c.qat_delay_epochs = 0;
    c.optim.gradboost = true;
    c.optim.gb_seed = 3;
    c.comm = with;
    c.sync_bn = sync_bn;
    c.bucket_bytes = 512; /* several buckets even for this small network */
    c.stop = &stop_flag;
    stop_flag = 0;
    frost_model *m = quantized();
    if (log) {
        memset(log, 0, sizeof *log);
        log->stop_after = stop_after;
    }
    frost_status want = stop_after > 0 ? FROST_STOPPED : FROST_OK;
    frost_status got =
        m ? frost_train(m, &d, NULL, NULL, &c, log ? log_step : NULL, log, NULL) : FROST_ERR_ARG;
    if (got != want)
        printf("  rank %d: frost_train: %s\n", rank, frost_last_error());
    CHECK(got == want);
    frost_dataset_free(&d);
    return m;
}

static double relative(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-30); }

/* Rank 0's copy of every parameter and buffer equals this rank's, bit for bit (checked on
 * rank 0 from a gather); returns the number of tensors that differ. */
static int replica_differences(const frost_model *m)
{
    int differ = 0;
    for (int k = 0; k < 2; k++) {
        const frost_param *t = k ? m->buffers : m->params;
        int n = k ? m->n_buffers : m->n_params;
        for (int i = 0; i < n; i++) {
            size_t bytes = (size_t)t[i].numel * sizeof(float);
            char *all = rank == 0 ? malloc(bytes * (size_t)ranks) : NULL;
            CHECK(frost_comm_gather(comm, t[i].data, bytes, all, 0) == FROST_OK);
            for (int r = 1; rank == 0 && r < ranks; r++)
                if (memcmp(all, all + (size_t)r * bytes, bytes) != 0) {
                    printf("  rank %d's %s differs from rank 0's\n", r, t[i].name);
                    differ++;
                }
            free(all);
        }
    }
    CHECK(frost_comm_broadcast(comm, &differ, sizeof differ, 0) == FROST_OK);
    return differ;
}

TEST(one_rank_trains_like_no_communicator)
{
    step_log a = {0}, b = {0};
    frost_model *alone = train(NULL, true, NULL, 1, &a);
    frost_model *one = train(comm, true, NULL, 1, &b);
    CHECK_EQ_INT(a.steps, STEPS);
    CHECK_EQ_INT(b.steps, STEPS);
    CHECK(memcmp(a.loss, b.loss, sizeof a.loss) == 0);
    CHECK(alone && one && same_weights(alone, one));
    frost_model_free(alone);
    frost_model_free(one);
}

TEST(two_ranks_with_syncbn_match_one_rank)
{
    step_log ref = {0}, dp = {0};
    frost_model *single = train(NULL, false, NULL, 1, &ref);
    frost_model *m = train(comm, true, NULL, 1, &dp);
    if (!single || !m)
        return;
    if (rank == 0) { /* progress is reported on rank 0 */
        CHECK_EQ_INT(dp.steps, STEPS);
        double worst = 0.0;
        for (int i = 0; i < STEPS; i++)
            worst = fmax(worst, relative(dp.loss[i], ref.loss[i]));
        printf("  %d ranks vs 1: losses of %d steps within %.2g relative (first %.6f, last "
               "%.6f)\n",
               ranks, STEPS, worst, (double)ref.loss[0], (double)ref.loss[STEPS - 1]);
        CHECK(worst <= 1e-5);
        CHECK(ref.loss[STEPS - 1] < ref.loss[0]); /* it learned something */
    }
    /* the replicas, SyncBN's running statistics and the observer ranges included */
    CHECK_EQ_INT(replica_differences(m), 0);
    frost_model_free(single);
    frost_model_free(m);
}

TEST(two_ranks_runs_are_bit_identical)
{
    step_log a = {0}, b = {0};
    frost_model *x = train(comm, true, NULL, 1, &a);
    frost_model *y = train(comm, true, NULL, 1, &b);
    CHECK(memcmp(a.loss, b.loss, sizeof a.loss) == 0);
    CHECK(x && y && same_weights(x, y));
    frost_model_free(x);
    frost_model_free(y);
}

TEST(without_syncbn_the_replicas_stay_equal)
{
    step_log l = {0};
    frost_model *m = train(comm, false, NULL, 1, &l);
    if (m)
        CHECK_EQ_INT(replica_differences(m), 0);
    frost_model_free(m);
}

/* Rank 0 alone writes; a resumed 2-rank run ends where an uninterrupted one does. */
TEST(rank_0_checkpoints_and_the_ranks_resume)
{
    char dir[64] = "/tmp/frost_dp_XXXXXX";
    if (rank == 0)
        CHECK(mkdtemp(dir) != NULL);
    CHECK(frost_comm_broadcast(comm, dir, sizeof dir, 0) == FROST_OK);
    char whole[128], split[128];
    snprintf(whole, sizeof whole, "%s/whole.safetensors", dir);
    snprintf(split, sizeof split, "%s/split.safetensors", dir);
    step_log stop = {.stop_after = STEPS + 7}; /* in the second epoch, asked on rank 0 */
    frost_model *a = train(comm, true, whole, 2, NULL);
    frost_model *first = train(comm, true, split, 2, &stop);
    frost_model *b = train(comm, true, split, 2, NULL); /* resumes from where it stopped */
    CHECK(a && b && same_weights(a, b));
    CHECK(access(split, F_OK) == 0);
    CHECK(frost_comm_barrier(comm) == FROST_OK);
    if (rank == 0) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        CHECK(system(cmd) == 0);
    }
    frost_model_free(a);
    frost_model_free(first);
    frost_model_free(b);
}

static int skip(const char *why)
{
    printf("skipped: %s\n", why);
    frost_comm_destroy(comm);
    return 77;
}

int main(void)
{
    if (frost_comm_create(&comm) != FROST_OK) {
        fprintf(stderr, "frost_comm_create: %s\n", frost_last_error());
        return 1;
    }
    rank = frost_comm_rank(comm), ranks = frost_comm_size(comm);
    const char *want = getenv("FROST_TEST_RANKS"), *why = getenv("FROST_TEST_SKIP_WHY");
    if (want && atoi(want) != ranks)
        return skip(why && *why ? why : "expected more ranks: not started by mpirun");
    frost_set_threads(1);
    if (ranks == 1)
        RUN(one_rank_trains_like_no_communicator);
    else {
        RUN(two_ranks_with_syncbn_match_one_rank);
        RUN(two_ranks_runs_are_bit_identical);
        RUN(without_syncbn_the_replicas_stay_equal);
        RUN(rank_0_checkpoints_and_the_ranks_resume);
    }
    frost_comm_destroy(comm);
    return frost_test_summary();
}
