/*
 * Running a model graph: memory planning (one arena per batch size), the
 * forward pass and the backward pass. Every node keeps its output and its
 * output gradient for the whole step (training needs them); BN keeps its batch
 * statistics, max pool its argmax, dropout its mask.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "models/graph.h"
#include "ops/bn_act.h"

/* FROST_PROFILE=1 in the environment (or frost_profile_enable): time per op kind, read
 * with frost_profile_get (include/frost/model.h). A debugging aid for "where does the
 * time go"; costs two clock reads per node. */
static int profile_on = -1;
static double profile_s[2][FROST_OP_COUNT];
static long profile_calls[2][FROST_OP_COUNT];
_Static_assert(2 * FROST_OP_COUNT <= FROST_PROFILE_MAX_ENTRIES, "room for every op kind");

static bool profiling(void)
{
    if (profile_on < 0) {
        const char *e = getenv("FROST_PROFILE");
        profile_on = e && *e && *e != '0';
    }
    return profile_on;
}

void frost_profile_enable(bool on) { profile_on = on; }

int frost_profile_get(frost_profile_entry *out, int max)
{
    int n = 0;
    for (int d = 0; d < 2; d++)
        for (int i = 0; i < FROST_OP_COUNT; i++) {
            if (!profile_calls[d][i])
                continue;
            if (n < max)
                out[n] = (frost_profile_entry){.op = frost_op_name((frost_op)i),
                                               .direction = d ? "backward" : "forward",
                                               .seconds = profile_s[d][i],
                                               .calls = profile_calls[d][i]};
            n++;
        }
    return n;
}

void frost_profile_reset(void)
{
    memset(profile_s, 0, sizeof profile_s);
    memset(profile_calls, 0, sizeof profile_calls);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static frost_shape4 node_shape(const frost_node *n, int batch)
{
    return (frost_shape4){.n = batch, .h = n->h, .w = n->w, .c = n->c};
}

static int64_t node_numel(const frost_node *n, int batch)
{
    return (int64_t)batch * n->h * n->w * n->c;
}

/* A mul whose second input is one factor per channel (1x1xC) on a larger first input. */
static bool mul_per_channel(const frost_node *n, const frost_node *b)
{
    return b->h * b->w != n->h * n->w;
}

/* Bytes of one planned piece, rounded to 64 so every piece stays aligned. */
static size_t piece(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

/* Walks every node and either sizes (base == NULL) or assigns the arena pieces. */
static size_t layout_arena(frost_model *m, int batch, char *base)
{
    size_t off = 0;
#define TAKE(ptr, type, count)                                 \
    do {                                                       \
        size_t bytes_ = piece((size_t)(count) * sizeof(type)); \
        if (base)                                              \
            (ptr) = (type *)(void *)(base + off);              \
        off += bytes_;                                         \
    } while (0)
    for (int i = 0; i < m->n_nodes; i++) {
        frost_node *n = &m->nodes[i];
        int64_t numel = node_numel(n, batch);
        TAKE(n->y, float, numel);
        if (n->op != FROST_OP_INPUT)
            TAKE(n->dy, float, numel);
        switch (n->op) { /* what forward keeps for backward */
        case FROST_OP_BN:
            TAKE(n->save_a, float, n->c); /* batch mean */
            TAKE(n->save_b, float, n->c); /* 1/sqrt(var + eps) */
            break;
        case FROST_OP_DROPOUT: TAKE(n->save_a, float, numel); break; /* mask */
        case FROST_OP_MAXPOOL: TAKE(n->argmax, int32_t, numel); break;
        case FROST_OP_INPUT:
        case FROST_OP_CONV: /* its input and weights */
        case FROST_OP_ACT:
        case FROST_OP_AVGPOOL:
        case FROST_OP_GAP:
        case FROST_OP_LINEAR:
        case FROST_OP_ADD:
        case FROST_OP_MUL: /* its two inputs */
        case FROST_OP_CONCAT:
        case FROST_OP_MIX: /* its inputs (the weights come from alpha again) */
        case FROST_OP_FLATTEN:
        case FROST_OP_FAKEQUANT: /* its state lives in the node's quantization fields */
        case FROST_OP_COUNT: break;
        }
    }
    size_t scratch = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        const frost_node *n = &m->nodes[i];
        if (n->op == FROST_OP_CONV) {
            size_t s =
                frost_conv2d_scratch_floats(&n->conv, node_shape(&m->nodes[n->in[0]], batch));
            scratch = FROST_MAX(scratch, s);
        }
    }
    TAKE(m->scratch, float, scratch);
    if (base)
        m->scratch_floats = scratch;
#undef TAKE
    return off;
}

/* The QAT steps of a quantized model, or NULL (a float model, or quantized ones before
 * frost_model_quantize finished). */
static const frost_qat_hooks *qat(const frost_model *m)
{
    return m->quant.active ? m->quant.hooks : NULL;
}

static bool bn_frozen(const frost_model *m, int ni) { return qat(m) && qat(m)->bn_frozen(m, ni); }

/* A BN whose only consumer is the next node, a ReLU/ReLU6, runs fused with it:
 * one pass fewer over memory in forward and two in backward. The BN node's own
 * output buffer is then never written. FROST_NO_FUSE=1 disables it (for tests). */
static void plan_fusion(frost_model *m)
{
    const char *off = getenv("FROST_NO_FUSE");
    bool allowed = !(off && *off && *off != '0');
    m->fusion_stale = false;
    for (int i = 0; i < m->n_nodes; i++) {
        m->nodes[i].fused_bn = -1;
        m->nodes[i].fused_away = false;
    }
    for (int i = 1; allowed && i + 1 < m->n_nodes; i++) {
        frost_node *bn = &m->nodes[i], *act = &m->nodes[i + 1];
        if (bn->op != FROST_OP_BN || act->op != FROST_OP_ACT || act->in[0] != i ||
            !frost_bn_act_fusable(act->act))
            continue;
        if (bn_frozen(m, i))
            continue; /* trains on running statistics, which the fused kernel does not do */
        int consumers = 0;
        for (int j = i + 1; j < m->n_nodes; j++)
            for (int k = 0; k < m->nodes[j].n_in; k++)
                consumers += m->nodes[j].in[k] == i;
        if (consumers == 1) {
            act->fused_bn = i;
            bn->fused_away = true;
        }
    }
}

frost_status frost_model_set_batch(frost_model *m, int batch)
{
    if (batch <= 0 || batch > 65536)
        return frost_fail(FROST_ERR_ARG, "batch size must be in 1..65536 (got %d)", batch);
    if (m->classes == 0)
        return frost_fail(FROST_ERR_ARG, "model '%s' is not finished", m->name);
    if (batch == m->batch)
        return FROST_OK;
    size_t bytes = layout_arena(m, batch, NULL);
    char what[160];
    snprintf(what, sizeof what, "model '%s' at batch %d (activations)", m->name, batch);
    FROST_TRY(frost_check_memory(bytes, what));
    char *arena = frost_alloc(bytes);
    if (!arena)
        return frost_fail(FROST_ERR_NOMEM, "model '%s': cannot allocate %.1f MB for batch %d",
                          m->name, (double)bytes / 1e6, batch);
    frost_free(m->arena);
    m->arena = arena;
    layout_arena(m, batch, arena);
    plan_fusion(m);
    m->batch = batch;
    m->cur_n = 0;
    return FROST_OK;
}

void frost_model_seed_dropout(frost_model *m, uint64_t seed)
{
    frost_rng_seed(&m->dropout_rng, seed);
    m->dropout_step = 0;
}

/* A BN's settings with the model's SyncBN hook (training only). */
static frost_bn_params bn_params(const frost_model *m, const frost_node *bn)
{
    frost_bn_params p = bn->bn;
    p.sync = m->parallel.bn_sync;
    return p;
}

static const float *param_data(const frost_model *m, int idx)
{
    return idx >= 0 ? m->params[idx].data : NULL;
}

static float *param_grad(const frost_model *m, int idx)
{
    return idx >= 0 ? m->params[idx].grad : NULL;
}

/* The fused BN + activation: x is the BN node's input, y the activation's output. */
static void forward_bn_act(frost_model *m, frost_node *n, int bs, bool training)
{
    const frost_node *bn = &m->nodes[n->fused_bn];
    const float *x = m->nodes[bn->in[0]].y;
    int64_t rows = (int64_t)bs * n->h * n->w;
    float *rm = m->buffers[bn->running_mean].data, *rv = m->buffers[bn->running_var].data;
    frost_bn_params p = bn_params(m, bn);
    if (training)
        frost_bn_act_forward_train(&p, n->act, rows, n->c, x, param_data(m, bn->gamma),
                                   param_data(m, bn->beta), rm, rv, bn->save_a, bn->save_b, n->y);
    else
        frost_bn_act_forward_eval(&bn->bn, n->act, rows, n->c, x, param_data(m, bn->gamma),
                                  param_data(m, bn->beta), rm, rv, n->y);
}

/* The weights a conv/linear node computes with: fake-quantized in a quantized model. */
static const float *node_weight(frost_model *m, frost_node *n, bool training)
{
    if (!qat(m))
        return param_data(m, n->weight);
    return qat(m)->weight(m, (int)(n - m->nodes), training);
}

/* The input a conv/linear node computes with: binarized under a binary activation scheme. */
static frost_status node_input(frost_model *m, frost_node *n, int bs, bool training,
                               const float **x)
{
    *x = m->nodes[n->in[0]].y;
    if (!qat(m))
        return FROST_OK;
    return qat(m)->input(m, (int)(n - m->nodes), *x, bs, training, x);
}

/* Which dropout of the model n is (0, 1, ...): its masks' stream label, the same in a
 * model with fake-quant nodes added. */
static uint64_t dropout_ordinal(const frost_model *m, const frost_node *n)
{
    uint64_t k = 0;
    for (const frost_node *o = m->nodes; o < n; o++)
        k += o->op == FROST_OP_DROPOUT;
    return k;
}

/* SyncBN's sums cannot fail inside the kernels: a failure is kept and reported here. */
static frost_status sync_status(frost_model *m)
{
    frost_bn_sync *sync = m->parallel.bn_sync;
    if (!sync || sync->status == FROST_OK)
        return FROST_OK;
    m->cur_n = 0;
    return frost_fail(sync->status, "SyncBN: summing the batch statistics over the processes "
                                    "failed");
}

static frost_status forward_node(frost_model *m, frost_node *n, int bs, bool training)
{
    const frost_node *x0 = &m->nodes[n->in[0]];
    frost_shape4 in = node_shape(x0, bs);
    int64_t numel = node_numel(n, bs);
    const float *xw = NULL; /* a conv/linear layer's (maybe binarized) input */
    if (n->op == FROST_OP_CONV || n->op == FROST_OP_LINEAR)
        FROST_TRY(node_input(m, n, bs, training, &xw));
    switch (n->op) {
    case FROST_OP_CONV:
        frost_conv2d_forward(&n->conv, in, xw, node_weight(m, n, training),
                             param_data(m, n->bias_p), n->y, m->scratch);
        if (qat(m))
            qat(m)->output(m, (int)(n - m->nodes));
        break;
    case FROST_OP_BN: {
        if (n->fused_away)
            break; /* the next node (its activation) runs BN too */
        int64_t rows = (int64_t)bs * n->h * n->w;
        float *rm = m->buffers[n->running_mean].data, *rv = m->buffers[n->running_var].data;
        frost_bn_params p = bn_params(m, n);
        if (training && !bn_frozen(m, (int)(n - m->nodes)))
            frost_bn_forward_train(&p, rows, n->c, x0->y, param_data(m, n->gamma),
                                   param_data(m, n->beta), rm, rv, n->save_a, n->save_b, n->y);
        else
            frost_bn_forward_eval(&n->bn, rows, n->c, x0->y, param_data(m, n->gamma),
                                  param_data(m, n->beta), rm, rv, n->y);
        break;
    }
    case FROST_OP_ACT:
        if (n->fused_bn >= 0)
            forward_bn_act(m, n, bs, training);
        else
            frost_act_forward(n->act, numel, x0->y, n->y);
        break;
    case FROST_OP_MAXPOOL: frost_maxpool_forward(&n->pool, in, x0->y, n->y, n->argmax); break;
    case FROST_OP_AVGPOOL: frost_avgpool_forward(&n->pool, in, x0->y, n->y); break;
    case FROST_OP_GAP: frost_gap_forward(in, x0->y, n->y); break;
    case FROST_OP_LINEAR:
        frost_linear_forward(bs, x0->h * x0->w * x0->c, n->c, xw, node_weight(m, n, training),
                             param_data(m, n->bias_p), n->y);
        if (qat(m))
            qat(m)->output(m, (int)(n - m->nodes));
        break;
    case FROST_OP_ADD: frost_add_forward(numel, x0->y, m->nodes[n->in[1]].y, n->y); break;
    case FROST_OP_MUL: {
        const frost_node *x1 = &m->nodes[n->in[1]];
        frost_mul_forward(bs, (int64_t)n->h * n->w, n->c, x0->y, x1->y, mul_per_channel(n, x1),
                          n->y);
        break;
    }
    case FROST_OP_CONCAT: {
        int ci[FROST_MAX_NODE_INPUTS];
        const float *xs[FROST_MAX_NODE_INPUTS];
        for (int i = 0; i < n->n_in; i++) {
            ci[i] = m->nodes[n->in[i]].c;
            xs[i] = m->nodes[n->in[i]].y;
        }
        frost_concat_forward((int64_t)bs * n->h * n->w, n->n_in, ci, xs, n->y);
        break;
    }
    case FROST_OP_MIX: {
        float w[FROST_MAX_NODE_INPUTS + 1];
        const float *xs[FROST_MAX_NODE_INPUTS];
        frost_mix_weights(m, (int)(n - m->nodes), w);
        for (int i = 0; i < n->n_in; i++)
            xs[i] = m->nodes[n->in[i]].y;
        frost_mix_forward(numel, n->n_in, w, xs, n->y); /* "none" adds nothing */
        break;
    }
    case FROST_OP_DROPOUT:
        if (training && n->p > 0.0f) {
            frost_rng step = frost_rng_fork(&m->dropout_rng, (uint64_t)m->dropout_step);
            frost_rng root = frost_rng_fork(&step, dropout_ordinal(m, n));
            frost_dropout_forward(bs, numel / bs, n->p, &root, m->parallel.first_sample, x0->y,
                                  n->save_a, n->y);
        } else
            memcpy(n->y, x0->y, (size_t)numel * sizeof(float));
        break;
    case FROST_OP_FLATTEN: memcpy(n->y, x0->y, (size_t)numel * sizeof(float)); break;
    case FROST_OP_FAKEQUANT: return qat(m)->fq_forward(m, (int)(n - m->nodes), bs, training);
    case FROST_OP_INPUT:
    case FROST_OP_COUNT: break;
    }
    return FROST_OK;
}

frost_status frost_model_forward(frost_model *m, const float *input, int n, bool training)
{
    if (m->batch == 0)
        return frost_fail(FROST_ERR_ARG, "model '%s': call frost_model_set_batch first", m->name);
    if (n <= 0 || n > m->batch)
        return frost_fail(FROST_ERR_ARG, "model '%s': forward of %d images, planned batch is %d",
                          m->name, n, m->batch);
    if (m->fusion_stale)
        plan_fusion(m);
    memcpy(m->nodes[0].y, input, (size_t)node_numel(&m->nodes[0], n) * sizeof(float));
    bool prof = profiling();
    for (int i = 1; i < m->n_nodes; i++) {
        double t0 = prof ? now() : 0.0;
        frost_status s = forward_node(m, &m->nodes[i], n, training);
        if (s != FROST_OK) {
            m->cur_n = 0;
            return s;
        }
        if (prof) {
            profile_s[0][m->nodes[i].op] += now() - t0;
            profile_calls[0][m->nodes[i].op]++;
        }
    }
    m->cur_n = n;
    m->last_training = training;
    if (training)
        m->dropout_step++;
    return sync_status(m);
}

const float *frost_model_logits(const frost_model *m) { return m->nodes[m->n_nodes - 1].y; }

/* The backward pass's bookkeeping: which gradient buffers hold a value yet, and
 * whether a backward that can write its input gradient may do so. */
typedef struct {
    bool *touched;
    bool may_write;
} grad_pass;

/* FROST_GRAD_CLEAR=1 in the environment: every input gradient is cleared and then added
 * into, never written. The written path gives the same bits; this is the old path kept
 * for tests that check so. Read on every backward so a test can switch it. */
static bool always_clear_grads(void)
{
    const char *e = getenv("FROST_GRAD_CLEAR");
    return e && *e && *e != '0';
}

/* The gradient buffer of input k of node n as it is; NULL for the model input (maybe
 * through its fake-quant), which needs no gradient. */
static float *input_grad_unclear(frost_model *m, const frost_node *n, int k)
{
    int j = n->in[k];
    frost_node *x = &m->nodes[j];
    if (j == 0 || (x->op == FROST_OP_FAKEQUANT && x->in[0] == 0))
        return NULL;
    return x->dy;
}

/* The gradient buffer of input k of node n, zeroed on first use in this pass;
 * NULL for the model input (no gradient needed there). */
static float *input_grad(frost_model *m, const frost_node *n, int k, grad_pass *gp)
{
    int j = n->in[k];
    frost_node *x = &m->nodes[j];
    if (!input_grad_unclear(m, n, k))
        return NULL;
    if (!gp->touched[j]) {
        memset(x->dy, 0, (size_t)node_numel(x, m->cur_n) * sizeof(float));
        gp->touched[j] = true;
    }
    return x->dy;
}

/* Like input_grad, for a backward that can either add into the gradient or write it.
 * *write says it should write: nothing was added there yet in this pass. Writing takes
 * the old value as 0 without reading it (the kernel does the same arithmetic on the same
 * values as after a memset), so later consumers add on top exactly as before and the
 * number of consumers does not matter; the memset is saved. */
static float *input_grad_or_write(frost_model *m, const frost_node *n, int k, grad_pass *gp,
                                  bool *write)
{
    int j = n->in[k];
    float *dx = input_grad_unclear(m, n, k);
    *write = dx && gp->may_write && !gp->touched[j];
    if (!*write)
        return input_grad(m, n, k, gp);
    gp->touched[j] = true;
    return dx;
}

static void backward_bn_act(frost_model *m, frost_node *n, grad_pass *gp)
{
    const frost_node *bn = &m->nodes[n->fused_bn];
    bool write;
    float *dx = input_grad_or_write(m, bn, 0, gp, &write);
    (write ? frost_bn_act_backward_write : frost_bn_act_backward)(
        m->parallel.bn_sync, n->act, (int64_t)m->cur_n * n->h * n->w, n->c, m->nodes[bn->in[0]].y,
        n->y, param_data(m, bn->gamma), bn->save_a, bn->save_b, n->dy, dx, param_grad(m, bn->gamma),
        param_grad(m, bn->beta));
}

/* A fake-quant is usually the only consumer of its input, so its gradient can be
 * written instead of cleared-then-added (one pass over memory fewer). */
static void backward_fake_quant(frost_model *m, frost_node *n, grad_pass *gp)
{
    int j = n->in[0];
    if (j == 0)
        return; /* the model input needs no gradient */
    bool fresh = !gp->touched[j];
    gp->touched[j] = true;
    qat(m)->fq_backward(m, (int)(n - m->nodes), m->nodes[j].dy, fresh);
}

/* Where a conv/linear node's backward writes its input gradient: straight into dx, or,
 * when its forward binarized the input, a zeroed buffer of the gradient with respect to
 * the binarized values (the STE rule then adds it into dx). */
static float *binarized_input_grad(const frost_model *m, frost_node *n, float *dx)
{
    if (!n->q.x_applied || !dx)
        return dx;
    memset(n->q.dx_bin, 0, (size_t)node_numel(&m->nodes[n->in[0]], m->cur_n) * sizeof(float));
    return n->q.dx_bin;
}

/* XNOR-Net's output scaling, undone on n->dy before a conv/linear backward; returns the
 * bias gradient the backward should still add to (NULL when the scaling added it). */
static float *output_scale_backward(frost_model *m, frost_node *n)
{
    float *db = param_grad(m, n->bias_p);
    if (qat(m) && qat(m)->output_backward(m, (int)(n - m->nodes), db))
        return NULL;
    return db;
}

/* dx_i += w_i dy, and the softmax's backward for alpha: with g_i = <dy, x_i> over the
 * batch (g = 0 for "none"), d alpha_j = w_j (g_j - sum_i w_i g_i). */
static void backward_mix(frost_model *m, frost_node *n, grad_pass *gp)
{
    float w[FROST_MAX_NODE_INPUTS + 1];
    double g[FROST_MAX_NODE_INPUTS + 1] = {0};
    const float *xs[FROST_MAX_NODE_INPUTS];
    float *dxs[FROST_MAX_NODE_INPUTS];
    frost_mix_weights(m, (int)(n - m->nodes), w);
    for (int i = 0; i < n->n_in; i++) {
        xs[i] = m->nodes[n->in[i]].y;
        dxs[i] = input_grad(m, n, i, gp);
    }
    frost_mix_backward(node_numel(n, m->cur_n), n->n_in, w, xs, n->dy, dxs, g);
    int k = frost_mix_candidates(n);
    double mean = 0.0;
    for (int j = 0; j < k; j++)
        mean += (double)w[j] * g[j];
    float *dalpha = m->params[n->alpha].grad;
    for (int j = 0; j < k; j++)
        dalpha[j] += (float)((double)w[j] * (g[j] - mean));
}

static void backward_node(frost_model *m, frost_node *n, grad_pass *gp)
{
    if (n->op == FROST_OP_FAKEQUANT) {
        backward_fake_quant(m, n, gp);
        return;
    }
    int bs = m->cur_n;
    const frost_node *x0 = &m->nodes[n->in[0]];
    frost_shape4 in = node_shape(x0, bs);
    int64_t numel = node_numel(n, bs);
    /* The activation of a fused pair did the BN's backward; the act's own input
     * (the BN output) has no gradient buffer to fill. */
    bool write = false; /* dx may be written rather than added into (ops that can) */
    float *dx = NULL;
    if ((n->op == FROST_OP_BN && !bn_frozen(m, (int)(n - m->nodes))) ||
        (n->op == FROST_OP_CONV && !n->q.x_applied)) /* depthwise writes, GEMM convs clear */
        dx = input_grad_or_write(m, n, 0, gp, &write);
    else if (!(n->op == FROST_OP_ACT && n->fused_bn >= 0))
        dx = input_grad(m, n, 0, gp);
    switch (n->op) {
    case FROST_OP_CONV: {
        bool q = qat(m) && qat(m)->weight_quantized(m, (int)(n - m->nodes));
        float *dw = q ? n->q.dw_eff : param_grad(m, n->weight);
        if (q)
            memset(dw, 0, (size_t)m->params[n->weight].numel * sizeof(float));
        float *dxw = binarized_input_grad(m, n, dx);
        float *db = output_scale_backward(m, n);
        (write ? frost_conv2d_backward_write : frost_conv2d_backward)(
            &n->conv, in, n->q.x_applied ? n->q.x_bin : x0->y,
            q ? n->q.w_eff : param_data(m, n->weight), n->dy, dxw, dw, db, m->scratch);
        if (q)
            qat(m)->weight_backward(m, (int)(n - m->nodes));
        if (n->q.x_applied && dx)
            qat(m)->input_backward(m, (int)(n - m->nodes), x0->y, dx);
        break;
    }
    case FROST_OP_BN:
        if (bn_frozen(m, (int)(n - m->nodes))) {
            frost_bn_backward_eval(&n->bn, (int64_t)bs * n->h * n->w, n->c, x0->y,
                                   param_data(m, n->gamma), m->buffers[n->running_mean].data,
                                   m->buffers[n->running_var].data, n->dy, dx,
                                   param_grad(m, n->gamma), param_grad(m, n->beta));
            break;
        }
        (write ? frost_bn_backward_write : frost_bn_backward)(
            m->parallel.bn_sync, (int64_t)bs * n->h * n->w, n->c, x0->y, param_data(m, n->gamma),
            n->save_a, n->save_b, n->dy, dx, param_grad(m, n->gamma), param_grad(m, n->beta));
        break;
    case FROST_OP_ACT:
        if (n->fused_bn >= 0)
            backward_bn_act(m, n, gp);
        else if (dx)
            frost_act_backward(n->act, numel, x0->y, n->dy, dx);
        break;
    case FROST_OP_MAXPOOL:
        if (dx)
            frost_maxpool_backward(&n->pool, in, n->dy, n->argmax, dx);
        break;
    case FROST_OP_AVGPOOL:
        if (dx)
            frost_avgpool_backward(&n->pool, in, n->dy, dx);
        break;
    case FROST_OP_GAP:
        if (dx)
            frost_gap_backward(in, n->dy, dx);
        break;
    case FROST_OP_LINEAR: {
        bool q = qat(m) && qat(m)->weight_quantized(m, (int)(n - m->nodes));
        float *dw = q ? n->q.dw_eff : param_grad(m, n->weight);
        if (q)
            memset(dw, 0, (size_t)m->params[n->weight].numel * sizeof(float));
        float *dxw = binarized_input_grad(m, n, dx);
        float *db = output_scale_backward(m, n);
        frost_linear_backward(bs, x0->h * x0->w * x0->c, n->c, n->q.x_applied ? n->q.x_bin : x0->y,
                              q ? n->q.w_eff : param_data(m, n->weight), n->dy, dxw, dw, db);
        if (q)
            qat(m)->weight_backward(m, (int)(n - m->nodes));
        if (n->q.x_applied && dx)
            qat(m)->input_backward(m, (int)(n - m->nodes), x0->y, dx);
        break;
    }
    case FROST_OP_ADD: {
        float *db = input_grad(m, n, 1, gp);
        if (dx)
            frost_vec_add_inplace(numel, n->dy, dx);
        if (db)
            frost_vec_add_inplace(numel, n->dy, db);
        break;
    }
    case FROST_OP_MUL: {
        const frost_node *x1 = &m->nodes[n->in[1]];
        float *db = input_grad(m, n, 1, gp);
        frost_mul_backward(bs, (int64_t)n->h * n->w, n->c, x0->y, x1->y, mul_per_channel(n, x1),
                           n->dy, dx, db);
        break;
    }
    case FROST_OP_CONCAT: {
        int ci[FROST_MAX_NODE_INPUTS];
        float *dxs[FROST_MAX_NODE_INPUTS];
        for (int i = 0; i < n->n_in; i++) {
            ci[i] = m->nodes[n->in[i]].c;
            dxs[i] = input_grad(m, n, i, gp);
        }
        frost_concat_backward((int64_t)bs * n->h * n->w, n->n_in, ci, n->dy, dxs);
        break;
    }
    case FROST_OP_MIX: backward_mix(m, n, gp); break;
    case FROST_OP_DROPOUT:
        if (dx && m->last_training && n->p > 0.0f)
            frost_dropout_backward(numel, n->save_a, n->dy, dx);
        else if (dx)
            frost_vec_add_inplace(numel, n->dy, dx);
        break;
    case FROST_OP_FLATTEN:
        if (dx)
            frost_vec_add_inplace(numel, n->dy, dx);
        break;
    case FROST_OP_FAKEQUANT: /* handled by backward_fake_quant */
    case FROST_OP_INPUT:
    case FROST_OP_COUNT: break;
    }
}

frost_status frost_model_backward(frost_model *m, const float *dlogits)
{
    if (m->cur_n == 0 || !m->last_training)
        return frost_fail(FROST_ERR_ARG, "model '%s': backward needs a training forward first",
                          m->name);
    grad_pass pass = {calloc((size_t)m->n_nodes, sizeof(bool)), !always_clear_grads()};
    grad_pass *gp = &pass;
    if (!gp->touched)
        return frost_fail(FROST_ERR_NOMEM, "out of memory in backward");
    frost_node *last = &m->nodes[m->n_nodes - 1];
    memcpy(last->dy, dlogits, (size_t)node_numel(last, m->cur_n) * sizeof(float));
    gp->touched[m->n_nodes - 1] = true;
    frost_status s = FROST_OK;
    for (int i = m->n_nodes - 1; i >= 1 && s == FROST_OK; i--) {
        frost_node *n = &m->nodes[i];
        if (gp->touched[i] && !n->fused_away) { /* else no gradient flows here, or its
                                                 * fused activation did the work */
            double t0 = profiling() ? now() : 0.0;
            backward_node(m, n, gp);
            if (profiling()) {
                profile_s[1][n->op] += now() - t0;
                profile_calls[1][n->op]++;
            }
        }
        if (m->parallel.grad_ready)
            s = m->parallel.grad_ready(m->parallel.ctx, i);
    }
    free(gp->touched);
    FROST_TRY(s);
    return sync_status(m);
}

void frost_model_zero_grad(frost_model *m)
{
    for (int i = 0; i < m->n_params; i++)
        memset(m->params[i].grad, 0, (size_t)m->params[i].numel * sizeof(float));
}
