/*
 * Data-parallel training: gradient buckets, SyncBN's sums, observer ranges
 * (train/parallel.h says what and why).
 */
#include "train/parallel.h"

#include <stdlib.h>
#include <string.h>

#include "core/timer.h"
#include "core/util.h"
#include "models/graph.h"

/* One bucket: parameters whose gradients are summed together, packed into one buffer. */
typedef struct {
    int *params; /* indices into m->params, in packing order */
    int n_params;
    float *buf;
    size_t floats;
    int ready_node; /* backward has finished every gradient here once it passed this node */
    frost_comm_request *req;
    bool started;
} grad_bucket;

struct frost_dp {
    frost_model *m;
    frost_comm *comm;
    grad_bucket *buckets;
    int n_buckets;
    frost_bn_sync bn_sync;
    bool sync_bn;
    float *stats_buf; /* the BN running statistics, packed (without SyncBN) */
    size_t stats_floats;
    frost_dp_stats stats;
};

/* Seconds on the monotonic clock (for the blocked-time statistics). */
static double seconds_now(void) { return 1e-3 * frost_now_ms(); }

/* The lowest node index that uses parameter p: backward visits nodes from the last to
 * the first, so p's gradient is final once backward has passed that node. (A fused
 * BN's activation writes the BN's gradients, but the BN node comes first anyway.) */
static void last_writers(const frost_model *m, int *node_of)
{
    for (int p = 0; p < m->n_params; p++)
        node_of[p] = 0; /* unknown: final only when backward is over */
    for (int i = m->n_nodes - 1; i >= 1; i--) {
        const frost_node *n = &m->nodes[i];
        int uses[] = {n->weight, n->bias_p, n->gamma, n->beta, n->alpha};
        for (size_t k = 0; k < sizeof uses / sizeof uses[0]; k++)
            if (uses[k] >= 0 && uses[k] < m->n_params)
                node_of[uses[k]] = i;
    }
}

/* Parameters in the order backward finishes them (ties: the later parameter first). */
static void backward_order(const int *node_of, int n, int *order)
{
    for (int i = 0; i < n; i++)
        order[i] = n - 1 - i;
    for (int i = 1; i < n; i++) { /* insertion sort, stable: a few hundred parameters */
        int p = order[i], j = i - 1;
        while (j >= 0 && node_of[order[j]] < node_of[p]) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = p;
    }
}

static frost_status add_bucket(frost_dp *dp, const int *params, int n, size_t floats, int ready)
{
    grad_bucket *nb = realloc(dp->buckets, (size_t)(dp->n_buckets + 1) * sizeof *nb);
    if (!nb)
        return frost_fail(FROST_ERR_NOMEM, "data-parallel: out of memory for gradient buckets");
    dp->buckets = nb;
    grad_bucket *b = &nb[dp->n_buckets];
    memset(b, 0, sizeof *b);
    b->params = malloc((size_t)n * sizeof(int));
    b->buf = frost_alloc(floats * sizeof(float));
    if (!b->params || !b->buf) {
        free(b->params);
        frost_free(b->buf);
        return frost_fail(FROST_ERR_NOMEM, "data-parallel: cannot allocate a %.1f MB bucket",
                          (double)floats * 4e-6);
    }
    memcpy(b->params, params, (size_t)n * sizeof(int));
    b->n_params = n;
    b->floats = floats;
    b->ready_node = ready;
    dp->n_buckets++;
    return FROST_OK;
}

/* Packs parameters, in backward order, into buckets of about bucket_bytes. */
static frost_status make_buckets(frost_dp *dp, size_t bucket_bytes)
{
    frost_model *m = dp->m;
    int n = m->n_params;
    int *node_of = malloc((size_t)(n ? n : 1) * sizeof(int));
    int *order = malloc((size_t)(n ? n : 1) * sizeof(int));
    frost_status s =
        node_of && order ? FROST_OK : frost_fail(FROST_ERR_NOMEM, "data-parallel: out of memory");
    size_t cap = bucket_bytes / sizeof(float) ? bucket_bytes / sizeof(float) : 1;
    if (s == FROST_OK) {
        last_writers(m, node_of);
        backward_order(node_of, n, order);
    }
    int begin = 0;
    size_t floats = 0;
    for (int i = 0; s == FROST_OK && i < n; i++) {
        floats += (size_t)m->params[order[i]].numel;
        bool last = i + 1 == n;
        if (floats >= cap || last) {
            s = add_bucket(dp, order + begin, i + 1 - begin, floats, node_of[order[i]]);
            dp->stats.gradient_floats += (int64_t)floats;
            begin = i + 1;
            floats = 0;
        }
    }
    dp->stats.buckets = dp->n_buckets;
    free(node_of);
    free(order);
    return s;
}

static frost_status start_bucket(frost_dp *dp, grad_bucket *b)
{
    size_t at = 0;
    for (int k = 0; k < b->n_params; k++) {
        const frost_param *p = &dp->m->params[b->params[k]];
        memcpy(b->buf + at, p->grad, (size_t)p->numel * sizeof(float));
        at += (size_t)p->numel;
    }
    b->started = true;
    return frost_comm_allreduce_start(dp->comm, b->buf, b->floats, FROST_COMM_F32, &b->req);
}

/* The model's hook: sends every bucket backward has finished, and keeps the sums moving
 * (MPI progresses mostly inside MPI calls). */
static frost_status on_grad_ready(void *ctx, int node)
{
    frost_dp *dp = ctx;
    for (int i = 0; i < dp->n_buckets; i++) {
        grad_bucket *b = &dp->buckets[i];
        if (!b->started && b->ready_node >= node)
            FROST_TRY(start_bucket(dp, b));
        if (b->req) {
            bool done;
            FROST_TRY(frost_comm_test(b->req, &done));
        }
    }
    return FROST_OK;
}

/* SyncBN's hook: the sums of every rank, in rank order. */
static frost_status on_bn_sums(void *ctx, double *buf, int count)
{
    frost_dp *dp = ctx;
    double t0 = seconds_now();
    frost_status s = frost_comm_allreduce_sum(dp->comm, buf, (size_t)count, FROST_COMM_F64);
    dp->stats.sync_s += seconds_now() - t0;
    return s;
}

/* The observers' hook: the global batch's range is the widest of the ranks'. */
static frost_status on_range(void *ctx, float *lo, float *hi)
{
    frost_dp *dp = ctx;
    float v[2] = {-*lo, *hi}; /* a min is a max of the negated values */
    double t0 = seconds_now();
    frost_status s = frost_comm_allreduce_max(dp->comm, v, 2);
    dp->stats.sync_s += seconds_now() - t0;
    FROST_TRY(s);
    *lo = -v[0];
    *hi = v[1];
    return FROST_OK;
}

static frost_status make_stats_buffer(frost_dp *dp)
{
    for (int i = 0; i < dp->m->n_buffers; i++)
        dp->stats_floats += (size_t)dp->m->buffers[i].numel;
    dp->stats_buf = malloc((dp->stats_floats ? dp->stats_floats : 1) * sizeof(float));
    return dp->stats_buf ? FROST_OK
                         : frost_fail(FROST_ERR_NOMEM, "data-parallel: out of memory (statistics)");
}

frost_status frost_dp_create(frost_model *m, frost_comm *comm, bool sync_bn, size_t bucket_bytes,
                             frost_dp **out)
{
    *out = NULL;
    if (!comm || frost_comm_size(comm) < 2)
        return frost_fail(FROST_ERR_ARG, "data-parallel training needs two or more ranks");
    frost_dp *dp = calloc(1, sizeof *dp);
    if (!dp)
        return frost_fail(FROST_ERR_NOMEM, "data-parallel: out of memory");
    dp->m = m;
    dp->comm = comm;
    dp->sync_bn = sync_bn;
    dp->bn_sync = (frost_bn_sync){.sum = on_bn_sums, .ctx = dp, .status = FROST_OK};
    frost_status s = make_buckets(dp, bucket_bytes);
    if (s == FROST_OK)
        s = make_stats_buffer(dp);
    if (s != FROST_OK) {
        frost_dp_free(dp);
        return s;
    }
    m->parallel = (frost_model_parallel){.bn_sync = sync_bn ? &dp->bn_sync : NULL,
                                         .range = on_range,
                                         .grad_ready = on_grad_ready,
                                         .ctx = dp};
    *out = dp;
    return FROST_OK;
}

void frost_dp_free(frost_dp *dp)
{
    if (!dp)
        return;
    for (int i = 0; i < dp->n_buckets; i++) {
        frost_comm_wait(dp->buckets[i].req); /* never free a buffer MPI still reads */
        free(dp->buckets[i].params);
        frost_free(dp->buckets[i].buf);
    }
    if (dp->m->parallel.ctx == dp)
        memset(&dp->m->parallel, 0, sizeof dp->m->parallel);
    free(dp->buckets);
    free(dp->stats_buf);
    free(dp);
}

int frost_dp_rank(const frost_dp *dp) { return frost_comm_rank(dp->comm); }
int frost_dp_size(const frost_dp *dp) { return frost_comm_size(dp->comm); }

void frost_dp_begin_step(frost_dp *dp, int64_t first_sample)
{
    dp->m->parallel.first_sample = first_sample;
    dp->bn_sync.status = FROST_OK;
    for (int i = 0; i < dp->n_buckets; i++)
        dp->buckets[i].started = false;
}

frost_status frost_dp_finish_gradients(frost_dp *dp)
{
    double t0 = seconds_now();
    frost_status s = FROST_OK;
    for (int i = 0; i < dp->n_buckets; i++) {
        grad_bucket *b = &dp->buckets[i];
        if (!b->started && s == FROST_OK)
            s = start_bucket(dp, b);
        frost_status w = frost_comm_wait(b->req);
        b->req = NULL;
        if (s == FROST_OK)
            s = w;
        size_t at = 0;
        for (int k = 0; s == FROST_OK && k < b->n_params; k++) {
            const frost_param *p = &dp->m->params[b->params[k]];
            memcpy(p->grad, b->buf + at, (size_t)p->numel * sizeof(float));
            at += (size_t)p->numel;
        }
    }
    dp->stats.wait_s += seconds_now() - t0;
    dp->stats.steps++;
    return s;
}

frost_status frost_dp_share_statistics(frost_dp *dp)
{
    if (dp->sync_bn || dp->stats_floats == 0)
        return FROST_OK; /* SyncBN keeps them equal already */
    frost_model *m = dp->m;
    size_t at = 0;
    for (int i = 0; i < m->n_buffers; i++) {
        memcpy(dp->stats_buf + at, m->buffers[i].data, (size_t)m->buffers[i].numel * sizeof(float));
        at += (size_t)m->buffers[i].numel;
    }
    double t0 = seconds_now();
    frost_status s =
        frost_comm_broadcast(dp->comm, dp->stats_buf, dp->stats_floats * sizeof(float), 0);
    dp->stats.sync_s += seconds_now() - t0;
    FROST_TRY(s);
    at = 0;
    for (int i = 0; i < m->n_buffers; i++) {
        memcpy(m->buffers[i].data, dp->stats_buf + at, (size_t)m->buffers[i].numel * sizeof(float));
        at += (size_t)m->buffers[i].numel;
    }
    return FROST_OK;
}

frost_status frost_dp_sum(frost_dp *dp, double *v, int n)
{
    double t0 = seconds_now();
    frost_status s = frost_comm_allreduce_sum(dp->comm, v, (size_t)n, FROST_COMM_F64);
    dp->stats.sync_s += seconds_now() - t0;
    return s;
}

frost_status frost_dp_barrier(frost_dp *dp)
{
    double t0 = seconds_now();
    frost_status s = frost_comm_barrier(dp->comm);
    dp->stats.sync_s += seconds_now() - t0;
    return s;
}

frost_dp_stats frost_dp_get_stats(const frost_dp *dp) { return dp->stats; }
