/*
 * Fake-quant at run time: weight preparation (BN folding + per-channel or
 * per-tensor fake-quant), the straight-through weight gradient, and the
 * FAKEQUANT node's observer update, forward and backward.
 */
#include <math.h>
#include <string.h>

#include "core/util.h"
#include "models/graph.h"
#include "quant/lowbit.h"
#include "quant/qgraph.h"

/* Folding factor gamma / sqrt(running_var + eps) per output channel. A channel whose
 * factor is 0 or not finite (gamma = 0) keeps its raw weight (factor 1): its BN output
 * does not depend on the conv then. */
static void fold_factors(const frost_model *m, const frost_node *bn, int cout, float *f)
{
    const float *g = m->params[bn->gamma].data, *rv = m->buffers[bn->running_var].data;
    for (int c = 0; c < cout; c++) {
        float v = g[c] / sqrtf(rv[c] + bn->bn.eps);
        f[c] = (v != 0.0f && isfinite(v)) ? v : 1.0f;
    }
}

/* Scale and zero point per channel from the current weights (weights are quantized from
 * their own min/max every step: they change every step, and the int8 converter sees the
 * same numbers). Per-tensor copies one pair to every channel. */
static void weight_qparams(frost_nodeq *q, int cout, int64_t inner)
{
    float mn[cout > 0 ? cout : 1], mx[cout > 0 ? cout : 1];
    frost_minmax_per_channel(1, cout, inner, q->w_in, mn, mx);
    if (!q->per_channel) {
        for (int c = 1; c < cout; c++) {
            mn[0] = fminf(mn[0], mn[c]);
            mx[0] = fmaxf(mx[0], mx[c]);
        }
        for (int c = 1; c < cout; c++) {
            mn[c] = mn[0];
            mx[c] = mx[0];
        }
    }
    for (int c = 0; c < cout; c++) /* finite inputs: cannot fail */
        (void)frost_qparams(mn[c], mx[c], q->qmin, q->qmax, q->symmetric, &q->wscale[c],
                            &q->wzp[c]);
}

/* Scale groups of a per-filter-or-per-layer scheme (BWN, TWN): one per output channel
 * when per_channel, else one for the tensor. */
static int lowbit_groups(const frost_nodeq *q, int cout) { return q->per_channel ? cout : 1; }

/* The binary/ternary weights the layer computes with, from its real (unfolded) weights:
 * a BN after the conv is not folded in (docs/lowbit.md#bn-folding). */
static const float *lowbit_weight(frost_model *m, frost_node *n, bool training)
{
    frost_nodeq *q = &n->q;
    const frost_param *p = &m->params[n->weight];
    int cout = (int)p->shape[0], groups = lowbit_groups(q, cout);
    switch ((frost_wscheme)q->wscheme) {
    case FROST_WSCHEME_BINARY:
        frost_binary_forward(p->numel, p->data, q->binary_h, q->w_eff);
        break;
    case FROST_WSCHEME_BINARY_STOCHASTIC:
        if (!training) { /* BinaryConnect tests with the real weights */
            q->w_applied = false;
            return p->data;
        }
        frost_binary_stochastic_forward(p->numel, p->data, q->binary_h, &m->quant.rng, q->w_eff);
        break;
    case FROST_WSCHEME_BWN:
        frost_bwn_forward(groups, p->numel / groups, p->data, q->wscale, q->w_eff);
        break;
    case FROST_WSCHEME_TWN: /* q->fold holds the thresholds (no BN fold below 8 bits) */
        frost_twn_forward(groups, p->numel / groups, p->data, q->fold, q->wscale, q->w_eff);
        break;
    case FROST_WSCHEME_TTQ: {
        float *s = m->params[q->ttq_scales].data;
        if (s[0] == 0.0f && s[1] == 0.0f) /* not started: from the weights' own magnitudes */
            frost_ttq_init_scales(p->numel, p->data, q->ttq_t, &s[0], &s[1]);
        q->ttq_thr = frost_ttq_forward(p->numel, p->data, q->ttq_t, s[0], s[1], q->w_eff);
        break;
    }
    case FROST_WSCHEME_AFFINE:
    case FROST_WSCHEME_COUNT: break;
    }
    return q->w_eff;
}

static const float *qrun_weight(frost_model *m, int ni, bool training)
{
    frost_node *n = &m->nodes[ni];
    frost_nodeq *q = &n->q;
    const frost_param *p = &m->params[n->weight];
    q->w_applied = m->quant.fake && q->on;
    if (!q->w_applied)
        return p->data;
    if (q->wscheme != FROST_WSCHEME_AFFINE)
        return lowbit_weight(m, n, training);
    int cout = (int)p->shape[0];
    int64_t inner = p->numel / cout;
    if (q->fold_bn >= 0) {
        fold_factors(m, &m->nodes[q->fold_bn], cout, q->fold);
        for (int c = 0; c < cout; c++)
            for (int64_t i = 0; i < inner; i++)
                q->w_in[c * inner + i] = p->data[c * inner + i] * q->fold[c];
    } else {
        memcpy(q->w_in, p->data, (size_t)p->numel * sizeof(float));
    }
    weight_qparams(q, cout, inner);
    frost_fake_quant_per_channel(1, cout, inner, q->w_in, q->wscale, q->wzp, q->qmin, q->qmax,
                                 q->w_eff);
    if (q->fold_bn >= 0)
        for (int c = 0; c < cout; c++)
            for (int64_t i = 0; i < inner; i++)
                q->w_eff[c * inner + i] /= q->fold[c];
    return q->w_eff;
}

static bool qrun_weight_quantized(const frost_model *m, int ni) { return m->nodes[ni].q.w_applied; }

/* The straight-through rule of each binary/ternary scheme: dW += rule(dW_eff). */
static void lowbit_weight_backward(frost_model *m, frost_node *n)
{
    frost_nodeq *q = &n->q;
    const frost_param *p = &m->params[n->weight];
    int cout = (int)p->shape[0], groups = lowbit_groups(q, cout);
    switch ((frost_wscheme)q->wscheme) {
    case FROST_WSCHEME_BWN:
        frost_bwn_backward(groups, p->numel / groups, p->data, q->wscale, q->dw_eff, p->grad);
        break;
    case FROST_WSCHEME_TTQ: {
        frost_param *s = &m->params[q->ttq_scales];
        frost_ttq_backward(p->numel, p->data, q->ttq_thr, s->data[0], s->data[1], q->dw_eff,
                           p->grad, &s->grad[0], &s->grad[1]);
        break;
    }
    case FROST_WSCHEME_BINARY: /* BinaryConnect and TWN pass dL/dW_eff to W unchanged */
    case FROST_WSCHEME_BINARY_STOCHASTIC:
    case FROST_WSCHEME_TWN:
        for (int64_t i = 0; i < p->numel; i++)
            p->grad[i] += q->dw_eff[i];
        break;
    case FROST_WSCHEME_AFFINE:
    case FROST_WSCHEME_COUNT: break;
    }
}

static void qrun_weight_backward(frost_model *m, int ni)
{
    frost_node *n = &m->nodes[ni];
    frost_nodeq *q = &n->q;
    const frost_param *p = &m->params[n->weight];
    int cout = (int)p->shape[0];
    if (q->wscheme != FROST_WSCHEME_AFFINE) {
        lowbit_weight_backward(m, n);
        return;
    }
    /* W_eff = FQ(W * f) / f, so dW = dW_eff * mask(W * f): the f cancels. */
    frost_fake_quant_per_channel_backward(1, cout, p->numel / cout, q->w_in, q->wscale, q->wzp,
                                          q->qmin, q->qmax, q->dw_eff, p->grad);
}

static bool observing(const frost_model *m, bool training)
{
    return m->quant.observe == FROST_QOBS_ALL || (m->quant.observe == FROST_QOBS_TRAIN && training);
}

/* Min-max and EMA keep their state in the range buffer [min, max, batches], so a
 * checkpoint carries it and training resumes exactly. Histogram, percentile and
 * entropy observers are calibration observers: they collect during CALIBRATE only,
 * and training (QAT after PTQ, or a QAT run configured with them) moves the range
 * by the EMA rule. */
static frost_status observe(frost_model *m, frost_node *n, int64_t numel, const float *x)
{
    float lo, hi;
    float *r = m->buffers[n->q.range].data;
    if (frost_fq_fixed_range(m, n, &lo, &hi)) { /* known output range: nothing to observe */
        r[0] = lo;
        r[1] = hi;
        r[2] += 1.0f;
        return FROST_OK;
    }
    if (n->q.obs && m->quant.observe == FROST_QOBS_ALL)
        return frost_observer_observe(n->q.obs, numel, x);
    frost_minmax_finite(numel, x, &lo, &hi);
    if (m->parallel.range) /* data-parallel: the batch is every process's images */
        FROST_TRY(m->parallel.range(m->parallel.ctx, &lo, &hi));
    if (lo > hi)
        return FROST_OK; /* nothing finite in this batch */
    if (r[2] == 0.0f) {
        r[0] = lo;
        r[1] = hi;
    } else if (n->q.observer != FROST_OBS_MINMAX) {
        float c = m->quant.ema_constant;
        r[0] = r[0] + c * (lo - r[0]);
        r[1] = r[1] + c * (hi - r[1]);
    } else {
        r[0] = fminf(r[0], lo);
        r[1] = fmaxf(r[1], hi);
    }
    r[2] += 1.0f;
    return FROST_OK;
}

static frost_status qrun_fq_forward(frost_model *m, int ni, int n_images, bool training)
{
    frost_node *n = &m->nodes[ni];
    const float *x = m->nodes[n->in[0]].y;
    int64_t numel = (int64_t)n_images * n->h * n->w * n->c;
    if (observing(m, training))
        FROST_TRY(observe(m, n, numel, x));
    n->q.applied = m->quant.fake && n->q.on;
    if (!n->q.applied) {
        memcpy(n->y, x, (size_t)numel * sizeof(float));
        return FROST_OK;
    }
    const float *r = m->buffers[n->q.range].data;
    if (r[2] == 0.0f)
        return frost_fail(FROST_ERR_ARG,
                          "fake-quant '%s' has no range yet: calibrate (PTQ) or train (QAT) first",
                          n->name);
    FROST_TRY(
        frost_qparams(r[0], r[1], n->q.qmin, n->q.qmax, n->q.symmetric, &n->q.scale, &n->q.zp));
    frost_fake_quant(numel, x, n->q.scale, n->q.zp, n->q.qmin, n->q.qmax, n->y);
    return FROST_OK;
}

static void qrun_fq_backward(frost_model *m, int ni, float *dx, bool overwrite)
{
    frost_node *n = &m->nodes[ni];
    int64_t numel = (int64_t)m->cur_n * n->h * n->w * n->c;
    if (!dx)
        return;
    if (!n->q.applied) {
        for (int64_t i = 0; i < numel; i++)
            dx[i] = overwrite ? n->dy[i] : dx[i] + n->dy[i];
        return;
    }
    if (overwrite)
        frost_fake_quant_backward_write(numel, m->nodes[n->in[0]].y, n->q.scale, n->q.zp, n->q.qmin,
                                        n->q.qmax, n->dy, dx);
    else
        frost_fake_quant_backward(numel, m->nodes[n->in[0]].y, n->q.scale, n->q.zp, n->q.qmin,
                                  n->q.qmax, n->dy, dx);
}

static bool qrun_bn_frozen(const frost_model *m, int ni)
{
    return m->quant.active && m->quant.bn_frozen && m->nodes[ni].q.folded;
}

/* XNOR-Net's output scale from the real input x: K per output pixel of a conv, beta per
 * image of a linear layer (applied by qrun_output). */
static frost_status xnor_scale(frost_model *m, frost_node *n, const float *x, int n_images)
{
    frost_nodeq *q = &n->q;
    const frost_node *src = &m->nodes[n->in[0]];
    int64_t in_pixels = (int64_t)n_images * src->h * src->w;
    int64_t out_pixels = (int64_t)n_images * n->h * n->w;
    int64_t need = in_pixels > out_pixels ? in_pixels : out_pixels;
    if (need > q->xnor_cap) {
        frost_free(q->xnor_k);
        frost_free(q->xnor_a);
        q->xnor_k = frost_alloc((size_t)need * sizeof(float));
        q->xnor_a = frost_alloc((size_t)need * sizeof(float));
        q->xnor_cap = q->xnor_k && q->xnor_a ? need : 0;
        if (!q->xnor_cap) {
            q->x_applied = false;
            return frost_fail(FROST_ERR_NOMEM, "layer '%s': out of memory for its XNOR scale",
                              n->name);
        }
    }
    q->xnor_rows = out_pixels; /* a linear layer's output is 1x1: one row per image */
    if (n->op == FROST_OP_CONV) {
        frost_shape4 in = {n_images, src->h, src->w, src->c};
        frost_xnor_conv_k(&n->conv, in, x, q->xnor_a, q->xnor_k);
    } else {
        frost_xnor_linear_beta(n_images, (int64_t)src->h * src->w * src->c, x, q->xnor_k);
    }
    return FROST_OK;
}

static bool xnor_on(const frost_node *n)
{
    return n->q.x_applied && n->q.ascheme == FROST_ASCHEME_XNOR;
}

static void qrun_output(frost_model *m, int ni)
{
    frost_node *n = &m->nodes[ni];
    if (!xnor_on(n))
        return;
    int64_t rows = n->q.xnor_rows; /* cur_n is set only after the whole forward */
    const float *b = n->bias_p >= 0 ? m->params[n->bias_p].data : NULL;
    frost_xnor_scale_rows(rows, n->c, n->q.xnor_k, b, n->y);
}

/* y = k * conv + b: dconv = k * dy and db = dy; K is treated as a constant (no gradient
 * flows into x through the scale, only through the sign's STE). */
static bool qrun_output_backward(frost_model *m, int ni, float *db)
{
    frost_node *n = &m->nodes[ni];
    if (!xnor_on(n))
        return false;
    int64_t rows = n->q.xnor_rows; /* of the training forward this backward follows */
    for (int64_t r = 0; r < rows; r++)
        for (int j = 0; j < n->c; j++) {
            float *g = &n->dy[r * n->c + j];
            if (db)
                db[j] += *g;
            *g *= n->q.xnor_k[r];
        }
    return true;
}

/* Binarizes a conv/linear layer's input under a binary activation scheme. */
static frost_status qrun_input(frost_model *m, int ni, const float *x, int n_images, bool training,
                               const float **out)
{
    frost_node *n = &m->nodes[ni];
    frost_nodeq *q = &n->q;
    const frost_node *src = &m->nodes[n->in[0]];
    (void)training; /* sign is deterministic: training and inference binarize alike */
    *out = x;
    q->x_applied = m->quant.fake && q->on && q->ascheme != FROST_ASCHEME_AFFINE;
    if (!q->x_applied)
        return FROST_OK;
    int64_t numel = (int64_t)n_images * src->h * src->w * src->c;
    if (numel > q->x_bin_cap) { /* grows with the batch; kept for the backward */
        frost_free(q->x_bin);
        frost_free(q->dx_bin);
        q->x_bin = frost_alloc((size_t)numel * sizeof(float));
        q->dx_bin = frost_alloc((size_t)numel * sizeof(float));
        q->x_bin_cap = q->x_bin && q->dx_bin ? numel : 0;
        if (!q->x_bin_cap) {
            q->x_applied = false;
            return frost_fail(FROST_ERR_NOMEM, "layer '%s': out of memory binarizing its input",
                              n->name);
        }
    }
    frost_sign_forward(numel, x, q->x_bin);
    *out = q->x_bin;
    return q->ascheme == FROST_ASCHEME_XNOR ? xnor_scale(m, n, x, n_images) : FROST_OK;
}

static void qrun_input_backward(frost_model *m, int ni, const float *x, float *dx)
{
    frost_node *n = &m->nodes[ni];
    const frost_node *src = &m->nodes[n->in[0]];
    int64_t numel = (int64_t)m->cur_n * src->h * src->w * src->c;
    if (n->q.ascheme == FROST_ASCHEME_BIREAL)
        frost_approx_sign_backward(numel, x, n->q.dx_bin, dx);
    else
        frost_sign_backward(numel, x, n->q.dx_bin, dx);
}

void frost_model_qat_after_step(frost_model *m)
{
    if (!m->quant.active || !m->quant.fake)
        return;
    for (int i = 0; i < m->n_nodes; i++) {
        frost_nodeq *q = &m->nodes[i].q;
        if (q->on &&
            (q->wscheme == FROST_WSCHEME_BINARY || q->wscheme == FROST_WSCHEME_BINARY_STOCHASTIC)) {
            frost_param *p = &m->params[m->nodes[i].weight];
            frost_binary_clip(p->numel, p->data, q->binary_h);
        }
        if (q->on && q->wscheme == FROST_WSCHEME_TTQ)
            frost_ttq_keep_positive(m->params[q->ttq_scales].data);
    }
}

void frost_model_seed_qat(frost_model *m, uint64_t seed) { frost_rng_seed(&m->quant.rng, seed); }

const frost_qat_hooks frost_qrun_hooks = {
    .weight = qrun_weight,
    .weight_quantized = qrun_weight_quantized,
    .weight_backward = qrun_weight_backward,
    .fq_forward = qrun_fq_forward,
    .fq_backward = qrun_fq_backward,
    .bn_frozen = qrun_bn_frozen,
    .input = qrun_input,
    .input_backward = qrun_input_backward,
    .output = qrun_output,
    .output_backward = qrun_output_backward,
    .release = frost_model_quant_release,
};
