/*
 * Fake-quant model -> int8 model.
 *
 * The quantized graph (src/quant/qgraph.c) puts one FAKEQUANT node after every value
 * that is quantized: the input, each conv unit (conv [+ BN] [+ ReLU/ReLU6]), adds,
 * products, concats, pools, standalone activations. Each such FAKEQUANT node becomes one int8
 * node producing that tensor; the node's op comes from what the fake-quant reads.
 * Weights, scales and zero points are computed with the very functions the fake-quant
 * forward uses (frost_qparams, frost_quantize_one), so the int8 weights are exactly the
 * integers the fake-quant model multiplies by.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "frost/qat.h"
#include "frost/quant.h"
#include "int8/i8model.h"
#include "int8/requant.h"
#include "models/graph.h"
#include "ops/act_def.h"

typedef struct {
    const frost_model *m;
    frost_int8_model *out;
    int *tensor_of; /* QAT node -> int8 node holding its quantized output, or -1 */
    frost_int8_convert_options opts;
} conv_ctx;

typedef struct {
    float scale;
    int zp, qmin, qmax, off; /* the real range; stored = real + off */
} tensor_q;

static bool has_fq(const frost_model *m, int j)
{
    return j + 1 < m->n_nodes && m->nodes[j + 1].op == FROST_OP_FAKEQUANT &&
           m->nodes[j + 1].in[0] == j;
}

/* The int8 node that holds QAT node j's value (past dropout / flatten). */
static frost_status resolve(const conv_ctx *c, int user, int j, int *t)
{
    const frost_model *m = c->m;
    while (frost_op_has(m->nodes[j].op, FROST_OPF_ALIAS))
        j = m->nodes[j].in[0];
    if (c->tensor_of[j] < 0)
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "int8 convert: '%s' reads '%s', which is not quantized (every layer "
                          "but the logits must be quantized for the int8 engine)",
                          m->nodes[user].name, m->nodes[j].name);
    *t = c->tensor_of[j];
    return FROST_OK;
}

/* Scale / zero point of a FAKEQUANT node from its range, in the stored (unsigned) domain. */
static frost_status fq_params(const frost_model *m, const frost_node *f, tensor_q *t)
{
    const float *r = m->buffers[f->q.range].data;
    if (r[2] == 0.0f)
        return frost_fail(FROST_ERR_ARG,
                          "int8 convert: '%s' has no range: calibrate (frost quantize) or "
                          "train with --qat first",
                          f->name);
    FROST_TRY(frost_qparams(r[0], r[1], f->q.qmin, f->q.qmax, f->q.symmetric, &t->scale, &t->zp));
    t->qmin = f->q.qmin;
    t->qmax = f->q.qmax;
    t->off = f->q.qmin < 0 ? 128 : 0;
    return FROST_OK;
}

static frost_int8_node *new_node(conv_ctx *c, const frost_node *f, frost_int8_op op,
                                 const tensor_q *q)
{
    frost_int8_node *n = &c->out->nodes[c->out->n_nodes];
    memset(n, 0, sizeof *n);
    /* the node is named after the layer whose output it holds ("s1.b1.dw.act") */
    const frost_node *src = f->op == FROST_OP_FAKEQUANT ? &c->m->nodes[f->in[0]] : f;
    snprintf(n->name, sizeof n->name, "%s", src->name);
    n->op = op;
    n->h = f->h;
    n->w = f->w;
    n->c = f->c;
    n->k = n->stride = n->groups = 1;
    n->source = (int)(f - c->m->nodes);
    if (q) {
        n->scale = q->scale;
        n->zp = q->zp + q->off;
        n->lo = q->qmin + q->off;
        n->hi = q->qmax + q->off;
    }
    return n;
}

static void add_input(frost_int8_node *n, int t) { n->in[n->n_in++] = t; }

/* Table from the stored input value to the stored output: dequantize exactly as the
 * fake-quant forward does, apply `act` (frost's own float op), quantize to `out`. */
static void build_lut(const frost_int8_node *in, frost_act_kind act, const tensor_q *out,
                      uint8_t *lut)
{
    for (int s = 0; s < 256; s++) {
        /* (q - Z) * S with q, Z as floats, as fq_one computes; stored s - stored Z is q - Z */
        float x = ((float)s - (float)in->zp) * in->scale;
        float y = frost_act_value(act, x);
        lut[s] =
            (uint8_t)(frost_quantize_one(y, out->scale, out->zp, out->qmin, out->qmax) + out->off);
    }
}

/* ---- weights ---- */

typedef struct {
    int cout;
    int64_t inner;
    float *w;      /* folded float weights [cout][inner] */
    float *bias;   /* folded float bias [cout] */
    bool *dead;    /* BN factor exactly 0: the channel's output is its bias */
    float *wscale; /* [cout] */
} folded_weights;

static void folded_free(folded_weights *f)
{
    free(f->w);
    free(f->bias);
    free(f->dead);
    free(f->wscale);
}

/* W * f and beta + f * (b - mean) with f = gamma / sqrt(var + eps), as qrun.c folds them. */
static frost_status fold_weights(const frost_model *m, const frost_node *n, int bn,
                                 folded_weights *f)
{
    const frost_param *p = &m->params[n->weight];
    f->cout = (int)p->shape[0];
    f->inner = p->numel / f->cout;
    f->w = malloc((size_t)p->numel * sizeof(float));
    f->bias = calloc((size_t)f->cout, sizeof(float));
    f->dead = calloc((size_t)f->cout, sizeof(bool));
    f->wscale = malloc((size_t)f->cout * sizeof(float));
    if (!f->w || !f->bias || !f->dead || !f->wscale)
        return frost_fail(FROST_ERR_NOMEM, "int8 convert: out of memory");
    const float *cb = n->bias_p >= 0 ? m->params[n->bias_p].data : NULL;
    for (int c = 0; c < f->cout; c++) {
        float fc = 1.0f, b = cb ? cb[c] : 0.0f;
        if (bn >= 0) {
            const frost_node *bnn = &m->nodes[bn];
            float g = m->params[bnn->gamma].data[c], beta = m->params[bnn->beta].data[c];
            float mean = m->buffers[bnn->running_mean].data[c];
            float var = m->buffers[bnn->running_var].data[c];
            float v = g / sqrtf(var + bnn->bn.eps);
            if (!isfinite(v))
                return frost_fail(FROST_ERR_NUMERIC,
                                  "int8 convert: BN '%s' channel %d has a "
                                  "non-finite scale",
                                  bnn->name, c);
            f->dead[c] = v == 0.0f;
            fc = f->dead[c] ? 1.0f : v; /* qrun.c quantizes the raw weight then */
            b = beta + v * (b - mean);
        }
        f->bias[c] = b;
        for (int64_t i = 0; i < f->inner; i++)
            f->w[c * f->inner + i] = p->data[c * f->inner + i] * fc;
    }
    return FROST_OK;
}

/* Per-channel (or per-tensor) symmetric scales, the same rule as qrun.c's weight_qparams. */
static frost_status weight_scales(const frost_node *n, folded_weights *f)
{
    const frost_nodeq *q = &n->q;
    if (!q->symmetric)
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "int8 convert: '%s' has affine (asymmetric) "
                          "weights; the int8 engine takes symmetric weights only",
                          n->name);
    int cout = f->cout;
    float *mn = malloc((size_t)cout * sizeof(float)), *mx = malloc((size_t)cout * sizeof(float));
    if (!mn || !mx) {
        free(mn);
        free(mx);
        return frost_fail(FROST_ERR_NOMEM, "int8 convert: out of memory");
    }
    frost_minmax_per_channel(1, cout, f->inner, f->w, mn, mx);
    for (int c = 1; c < cout && !q->per_channel; c++) {
        mn[0] = fminf(mn[0], mn[c]);
        mx[0] = fmaxf(mx[0], mx[c]);
    }
    frost_status s = FROST_OK;
    for (int c = 0; c < cout && s == FROST_OK; c++) {
        int zp, k = q->per_channel ? c : 0;
        s = frost_qparams(mn[k], mx[k], q->qmin, q->qmax, true, &f->wscale[c], &zp);
    }
    free(mn);
    free(mx);
    return s;
}

/* The largest |bias| on the accumulator grid, |b| 2^shift / (S_x S_w): 2^30 leaves room
 * for the sum in the int32 accumulator. */
#define BIAS_LIMIT 1073741824.0

/* The int32 biases and requant multipliers of a conv / linear node whose int8 weights and
 * per-channel scales S_w (o->weight, o->wscale) are set, from its float biases; float
 * logits get S_x S_w and the float bias instead. */
static frost_status finish_weights(conv_ctx *c, frost_int8_node *o, const char *layer,
                                   const float *fbias, const frost_int8_node *in, bool logits)
{
    int cout = o->c;
    int32_t *bias = frost_int8_own(c->out, (size_t)cout * 4);
    int32_t *mult = bias ? frost_int8_own(c->out, (size_t)cout * 4) : NULL;
    int32_t *shift = mult ? frost_int8_own(c->out, (size_t)cout * 4) : NULL;
    float *oscale = shift && logits ? frost_int8_own(c->out, (size_t)cout * 4) : NULL;
    float *obias = oscale ? frost_int8_own(c->out, (size_t)cout * 4) : NULL;
    if (!shift || (logits && !obias))
        return FROST_ERR_NOMEM;
    frost_status s = FROST_OK;
    for (int ch = 0; ch < cout && s == FROST_OK; ch++) {
        double acc_scale = (double)in->scale * (double)o->wscale[ch];
        if (logits) {
            oscale[ch] = (float)acc_scale;
            /* ONNX's QGemm adds an int32 bias to the accumulator: on its grid the float
             * classifier's bias is that integer times the step, so the export is exact
             * (else each class's logit is off by up to half an accumulator step) */
            obias[ch] = c->opts.onnx_bias_grid
                            ? (float)(round((double)fbias[ch] / acc_scale) * acc_scale)
                            : fbias[ch];
            bias[ch] = 0;
            mult[ch] = shift[ch] = 0;
            continue;
        }
        double qb = round((double)fbias[ch] * (double)(1 << o->acc_shift) / acc_scale);
        if (!(fabs(qb) <= BIAS_LIMIT))
            s = frost_fail(FROST_ERR_NUMERIC,
                           "int8 convert: '%s' channel %d: bias %g does not "
                           "fit int32 at scale %g",
                           layer, ch, (double)fbias[ch], acc_scale);
        bias[ch] = (int32_t)qb;
        frost_quantize_multiplier(acc_scale / (double)(1 << o->acc_shift) / (double)o->scale,
                                  &mult[ch], &shift[ch]);
    }
    o->bias = bias;
    o->mult = mult;
    o->shift = shift;
    o->n_mult = logits ? 0 : o->c; /* float logits have no multipliers (as a loaded model) */
    o->out_scale = oscale;
    o->out_bias = obias;
    return s;
}

static double bias_steps(const folded_weights *f, int ch, double in_scale, int shift)
{
    return fabs((double)f->bias[ch]) * (double)(1 << shift) / (in_scale * (double)f->wscale[ch]);
}

/* Whether every channel that can fit at all (at shift 0) fits at this shift. */
static bool fitting_channels_fit(const folded_weights *f, double in_scale, int shift)
{
    for (int ch = 0; ch < f->cout; ch++)
        if (bias_steps(f, ch, in_scale, 0) <= BIAS_LIMIT &&
            !(bias_steps(f, ch, in_scale, shift) <= BIAS_LIMIT))
            return false;
    return true;
}

/* A channel whose weights are almost all zero gets an almost zero scale, and a bias of
 * ordinary size then falls off the int32 grid. The layer's bias grid is made as much
 * coarser (a smaller shift) as the channels that fit at shift 0 need; their weights stay
 * as they are. A channel that fits at no shift has its scale raised to the smallest that
 * holds its bias at the chosen shift: its weights then round to a few levels, an error of
 * at most half that step per weight, small against the bias that dominates such a
 * channel's output. (Seen in a searched network: weights below 1e-6, bias -1.4.) */
static void fit_biases(folded_weights *f, double in_scale, int *shift)
{
    while (*shift > 0 && !fitting_channels_fit(f, in_scale, *shift))
        (*shift)--;
    for (int ch = 0; ch < f->cout; ch++)
        if (!(bias_steps(f, ch, in_scale, *shift) <= BIAS_LIMIT))
            f->wscale[ch] = nextafterf(
                (float)(fabs((double)f->bias[ch]) * (double)(1 << *shift) / (in_scale * BIAS_LIMIT)),
                INFINITY);
}

/* int8 weights, int32 bias and requant multipliers of a conv / linear node. */
static frost_status quantize_weights(conv_ctx *c, frost_int8_node *o, const frost_node *n, int bn,
                                     const frost_int8_node *in, bool logits)
{
    folded_weights f = {0};
    frost_status s = fold_weights(c->m, n, bn, &f);
    /* The int32 bias sits on the accumulator's grid S_x S_w; its rounding (up to half a
     * step, M/2 of an output step) flipped ~0.2% of outputs against the float fake-quant
     * model. A grid 2^s finer (weights scaled by 2^s inside the kernels, M by 2^-s) takes
     * that to ~0.01%; s is the largest in 0..8 that keeps every sum within 2^30. ONNX's
     * int32 bias has no such grid: opts.onnx_bias_grid keeps s = 0 for an exact export. */
    o->acc_shift = logits || c->opts.onnx_bias_grid || s != FROST_OK
                       ? 0
                       : frost_int8_weights_acc_shift(f.inner);
    if (s == FROST_OK)
        s = weight_scales(n, &f);
    if (s == FROST_OK && !logits)
        fit_biases(&f, (double)in->scale, &o->acc_shift);
    int8_t *w = s == FROST_OK ? frost_int8_own(c->out, (size_t)f.cout * f.inner) : NULL;
    float *wscale = w ? frost_int8_own(c->out, (size_t)f.cout * 4) : NULL;
    if (s == FROST_OK && !wscale)
        s = FROST_ERR_NOMEM;
    for (int ch = 0; ch < f.cout && s == FROST_OK; ch++) {
        for (int64_t i = 0; i < f.inner; i++)
            w[ch * f.inner + i] =
                f.dead[ch] ? 0
                           : (int8_t)frost_quantize_one(f.w[ch * f.inner + i], f.wscale[ch], 0,
                                                        n->q.qmin, n->q.qmax);
        wscale[ch] = f.wscale[ch];
    }
    o->weight = w;
    o->wscale = wscale;
    if (s == FROST_OK)
        s = finish_weights(c, o, n->name, f.bias, in, logits);
    folded_free(&f);
    return s;
}

/* ---- binary and ternary weights (docs/int8.md#low-bit-layers) ---- */

/* The quantized-layer index of weighted node `node` (frost_model_qlayer_*), or -1. */
static int qlayer_of(const frost_model *m, int node)
{
    for (int i = 0; i < m->quant.n_layers; i++)
        if (m->quant.layer_w[i] == node)
            return i;
    return -1;
}

/* Guard: a binary/ternary layer the int8 engine cannot run exactly is refused here rather
 * than converted as affine int8 (which would run other weights than the ones trained). A
 * binarized input (sign, bireal, xnor) runs with binary / ternary weights (binact.c). */
static frost_status check_scheme_supported(const frost_node *cn, bool logits)
{
    const frost_nodeq *q = &cn->q;
    if (q->ascheme != FROST_ASCHEME_AFFINE && (q->wscheme == FROST_WSCHEME_AFFINE || logits))
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "int8 convert: '%s' binarizes its input (%s activations)%s; the int8 "
                          "engine runs a binarized input with binary, BWN or TWN weights and an "
                          "8-bit output only",
                          cn->name, frost_ascheme_name((frost_ascheme)q->ascheme),
                          logits ? " and gives the float output" : " with affine weights");
    if (q->ascheme != FROST_ASCHEME_AFFINE && q->wscheme == FROST_WSCHEME_TTQ)
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "int8 convert: '%s' binarizes its input (%s activations) and has TTQ "
                          "weights; the popcount kernels need one scale per output channel "
                          "(binary, BWN or TWN weights)",
                          cn->name, frost_ascheme_name((frost_ascheme)q->ascheme));
    if (q->wscheme == FROST_WSCHEME_BINARY_STOCHASTIC)
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "int8 convert: '%s' uses binary_stochastic weights, which run as "
                          "real-valued weights at test time; the int8 engine does not "
                          "convert them (train with the binary scheme)",
                          cn->name);
    return FROST_OK;
}

/* The packed form of the node's -1/0/+1 codes, what the file stores (lowbit.c). */
static frost_status pack_codes(conv_ctx *c, frost_int8_node *o, const int8_t *codes, int cout,
                               int64_t inner)
{
    o->wbits = frost_int8_lowbit_wbits(codes, (int64_t)cout * inner);
    if (o->wbits == 8) { /* not codes (cannot happen for a low-bit layer): plain int8 */
        o->wbits = 0;
        return FROST_OK;
    }
    uint8_t *p = frost_int8_own(c->out, frost_int8_packed_row_bytes(o->wbits, inner) * cout);
    if (!p)
        return FROST_ERR_NOMEM;
    frost_int8_pack_weights(codes, cout, inner, o->wbits, p);
    o->wpacked = p;
    return FROST_OK;
}

/* One scale per channel (binary, BWN, TWN): w = code and S_w = the scale, so the int8
 * conv's sum is exactly the low-bit layer's (the input's zero point handled as for any int8
 * weights). A negative scale (a folded BN with negative gamma) flips the channel's codes; a
 * zero scale leaves only the bias. */
static frost_status one_scale_channel(const frost_lowbit_layer *l, int ch, const char *name,
                                      int8_t *w, float *wscale)
{
    float pos = l->pos_scale[ch], neg = l->neg_scale[ch];
    if (pos != neg || !isfinite(pos))
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "int8 convert: '%s' (%s weights) channel %d has scale %g for +1 "
                          "and %g for -1; the int8 engine runs one scale per channel only",
                          name, frost_wscheme_name(l->wscheme), ch, (double)pos, (double)neg);
    int sign = pos < 0.0f ? -1 : pos > 0.0f ? 1 : 0;
    for (int64_t i = 0; i < l->inner; i++)
        w[ch * l->inner + i] = (int8_t)(sign * l->codes[ch * l->inner + i]);
    *wscale = fabsf(pos);
    return FROST_OK;
}

/* The fraction small/big (1 <= big <= 127, 0 <= small <= big) closest to r in [0, 1]: the
 * ratio of TTQ's two magnitudes in whole int8 steps (r = 1 gives 1/1, TWN's form). */
static void closest_level_ratio(float r, int *small, int *big)
{
    double best = 2.0;
    for (int q = 1; q <= 127; q++) {
        int p = (int)lrint((double)r * q);
        double err = fabs((double)p / q - (double)r);
        if (err < best) {
            best = err;
            *small = p;
            *big = q;
        }
    }
}

/* TTQ: a +1 code is worth pos, a -1 code -neg (BN folded in; the same ratio in every
 * channel). With M = max(|pos|, |neg|) and small/big the fraction closest to
 * min(|pos|, |neg|) / M, the weight scale is M / big and the int8 weights two levels,
 * +-big for the larger magnitude (exact) and +-small for the other (off by M |small/big -
 * r| <= M / 254, docs/int8.md#low-bit-layers). The levels are kept per channel (a negative
 * BN gamma negates both). A zero channel leaves only the bias. */
static frost_status ttq_channel(const frost_lowbit_layer *l, int ch, const char *name, int8_t *w,
                                float *wscale, int8_t *levels)
{
    float pos = l->pos_scale[ch], neg = l->neg_scale[ch];
    float top = fmaxf(fabsf(pos), fabsf(neg));
    if (!isfinite(top))
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "int8 convert: '%s' (ttq weights) channel %d has scales %g and %g", name,
                          ch, (double)pos, (double)neg);
    int small = 0, big = 1;
    if (top > 0.0f)
        closest_level_ratio(fminf(fabsf(pos), fabsf(neg)) / top, &small, &big);
    float step = top / (float)big;
    levels[0] = (int8_t)(top > 0.0f ? lrintf(pos / step) : 0);
    levels[1] = (int8_t)(top > 0.0f ? -lrintf(neg / step) : 0);
    memcpy(w + ch * l->inner, l->codes + ch * l->inner, (size_t)l->inner);
    frost_int8_apply_levels(w + ch * l->inner, 1, l->inner, levels);
    *wscale = top > 0.0f ? step : 0.0f;
    return FROST_OK;
}

/* The accumulator shift of a node with a binarized input: |dot| <= inner, so the bias grid
 * alpha_c / 2^s can be far finer than an int8 node's (whose products reach 255 * 127). With
 * the 8-bit nodes' s the grid is about 1/256 of an output step (alpha_c is about one output
 * step: a +-1 dot over ~100 taps spans the 8-bit range) and the bias rounding moved ~0.4% of
 * outputs (1% with a Bi-Real shortcut) by 1 LSB against the fake-quant model. The largest s
 * in 0..20 with inner * 2^s and every |bias_c / alpha_c| * 2^s within 2^28. */
static int binarized_acc_shift(const frost_int8_node *o, const frost_lowbit_layer *l)
{
    double most = (double)l->inner;
    for (int ch = 0; ch < l->cout; ch++) {
        double alpha = l->pos_scale[ch] != 0.0f ? fabs((double)l->pos_scale[ch]) : o->scale;
        double b = fabs((double)l->bias[ch]) / alpha;
        most = b > most ? b : most;
    }
    int s = 20;
    while (s > 0 && most * (double)(1 << s) > 268435456.0)
        s--;
    return s;
}

/* The int8 form of a binary/ternary layer: per-channel weights and scales from the layer's
 * codes (one_scale_channel, ttq_channel), the codes packed for the file, then the bias. */
static frost_status lowbit_weights(conv_ctx *c, frost_int8_node *o, const frost_node *cn,
                                   const frost_int8_node *in, bool logits)
{
    int layer = qlayer_of(c->m, (int)(cn - c->m->nodes));
    frost_lowbit_layer l;
    FROST_TRY(frost_model_qlayer_lowbit(c->m, layer, &l));
    bool ttq = l.wscheme == FROST_WSCHEME_TTQ;
    o->acc_shift = logits || c->opts.onnx_bias_grid ? 0
                   : o->ain                         ? binarized_acc_shift(o, &l)
                                                    : frost_int8_weights_acc_shift(l.inner);
    int8_t *w = frost_int8_own(c->out, (size_t)l.cout * l.inner);
    float *wscale = w ? frost_int8_own(c->out, (size_t)l.cout * 4) : NULL;
    int8_t *levels = wscale && ttq ? frost_int8_own(c->out, (size_t)l.cout * 2) : NULL;
    frost_status s = wscale && (levels || !ttq) ? FROST_OK : FROST_ERR_NOMEM;
    for (int ch = 0; ch < l.cout && s == FROST_OK; ch++) {
        s = ttq ? ttq_channel(&l, ch, cn->name, w, &wscale[ch], &levels[2 * ch])
                : one_scale_channel(&l, ch, cn->name, w, &wscale[ch]);
        /* a dead channel: any scale; one output step per accumulator step keeps its bias
         * on the same fine grid as the others */
        if (wscale[ch] == 0.0f)
            wscale[ch] = logits ? 1.0f : o->scale / in->scale;
    }
    o->weight = w;
    o->wscale = wscale;
    o->wlevels = levels;
    /* TTQ stores the codes and the levels; the one-scale schemes' weights are codes */
    if (s == FROST_OK)
        s = pack_codes(c, o, ttq ? l.codes : w, l.cout, l.inner);
    if (s == FROST_OK && ttq && !o->wbits) /* cannot happen: codes are -1/0/+1 */
        o->wlevels = NULL;
    if (s == FROST_OK)
        s = finish_weights(c, o, cn->name, l.bias, in, logits);
    frost_lowbit_layer_free(&l);
    return s;
}

/* A layer whose input is binarized (sign / bireal / xnor, docs/int8.md#low-bit-layers): the
 * node reads the 8-bit tensor, sees +-1 (binact.c) and computes alpha_c * dot + bias_c
 * (xnor: K * alpha_c * dot + bias_c): the low-bit weights of an input whose scale is 1. Its
 * codes are always packed (wbits 1 or 2), which the popcount kernels take. */
static frost_status binarized_input(conv_ctx *c, frost_int8_node *o, const frost_node *cn)
{
    frost_int8_node unit_input = {.scale = 1.0f}; /* a +-1 value is its own integer */
    o->ain = cn->q.ascheme == FROST_ASCHEME_XNOR ? FROST_I8_AIN_XNOR : FROST_I8_AIN_SIGN;
    FROST_TRY(lowbit_weights(c, o, cn, &unit_input, false));
    if (!o->wbits)
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "int8 convert: '%s' binarizes its input but its weights are no "
                          "-1/0/+1 codes",
                          cn->name);
    return FROST_OK;
}

/* ---- one int8 node per quantized tensor ---- */

static frost_status emit_conv(conv_ctx *c, const frost_node *f, const tensor_q *q, int head, int bn,
                              frost_act_kind act, bool logits)
{
    const frost_model *m = c->m;
    const frost_node *cn = &m->nodes[head];
    if (!cn->q.on)
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "int8 convert: '%s' has float weights (its "
                          "quant config disables them)",
                          cn->name);
    FROST_TRY(check_scheme_supported(cn, logits));
    if (bn >= 0 && cn->q.fold_bn != bn)
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "int8 convert: BN '%s' is not folded into "
                          "'%s'",
                          m->nodes[bn].name, cn->name);
    int t;
    FROST_TRY(resolve(c, head, cn->in[0], &t));
    frost_int8_op op = logits                      ? FROST_I8_LOGITS
                       : cn->op == FROST_OP_LINEAR ? FROST_I8_LINEAR
                                                   : FROST_I8_CONV;
    frost_int8_node *o = new_node(c, f, op, logits ? NULL : q);
    add_input(o, t);
    if (cn->op == FROST_OP_CONV) {
        if (cn->conv.kh != cn->conv.kw || cn->conv.pad_h != cn->conv.pad_w)
            return frost_fail(FROST_ERR_UNSUPPORTED,
                              "int8 convert: '%s' has a non-square "
                              "kernel or padding",
                              cn->name);
        o->k = cn->conv.kh;
        o->stride = cn->conv.stride;
        o->pad = cn->conv.pad_h;
        o->groups = cn->conv.groups;
        if (logits && (cn->h != 1 || cn->w != 1))
            return frost_fail(FROST_ERR_UNSUPPORTED,
                              "int8 convert: '%s' gives float output "
                              "over %dx%d pixels; only a 1x1 classifier may",
                              cn->name, cn->h, cn->w);
    }
    /* a clamp activation becomes the output range (relu: from the zero point up) */
    float lo, hi;
    if (frost_act_clamp(act, &lo, &hi) && lo > -INFINITY) {
        int qlo = frost_quantize_one(lo, q->scale, q->zp, q->qmin, q->qmax) + q->off;
        o->lo = o->lo > qlo ? o->lo : qlo;
    }
    if (frost_act_clamp(act, &lo, &hi) && hi < INFINITY) {
        int qhi = frost_quantize_one(hi, q->scale, q->zp, q->qmin, q->qmax) + q->off;
        o->hi = o->hi < qhi ? o->hi : qhi;
    }
    if (cn->q.ascheme != FROST_ASCHEME_AFFINE)
        return binarized_input(c, o, cn);
    if (cn->q.wscheme != FROST_WSCHEME_AFFINE)
        return lowbit_weights(c, o, cn, &c->out->nodes[t], logits);
    return quantize_weights(c, o, cn, bn, &c->out->nodes[t], logits);
}

/* ADD / MUL of two quantized tensors (multipliers.c has the rules). */
static frost_status emit_binary(conv_ctx *c, const frost_node *f, const tensor_q *q,
                                const frost_node *src, frost_int8_op op)
{
    int t0, t1;
    FROST_TRY(resolve(c, f->in[0], src->in[0], &t0));
    FROST_TRY(resolve(c, f->in[0], src->in[1], &t1));
    frost_int8_node *o = new_node(c, f, op, q);
    add_input(o, t0);
    add_input(o, t1);
    return frost_int8_set_multipliers(c->out, o);
}

/* Nodes whose output is a table lookup of each input: LUT, CONCAT, MAXPOOL. */
static frost_status emit_tables(conv_ctx *c, const frost_node *f, const tensor_q *q,
                                const frost_node *src, frost_int8_op op, frost_act_kind act)
{
    frost_int8_node *o = new_node(c, f, op, q);
    uint8_t *lut = frost_int8_own(c->out, (size_t)src->n_in * 256);
    if (!lut)
        return FROST_ERR_NOMEM;
    for (int i = 0; i < src->n_in; i++) {
        int t;
        FROST_TRY(resolve(c, f->in[0], src->in[i], &t));
        add_input(o, t);
        build_lut(&c->out->nodes[t], act, q, lut + 256 * i);
    }
    o->lut = lut;
    if (op == FROST_I8_MAXPOOL) {
        o->k = src->pool.k;
        o->stride = src->pool.stride;
        o->pad = src->pool.pad;
    }
    return FROST_OK;
}

static frost_status emit_avgpool(conv_ctx *c, const frost_node *f, const tensor_q *q,
                                 const frost_node *src)
{
    int t;
    FROST_TRY(resolve(c, f->in[0], src->in[0], &t));
    frost_int8_node *o =
        new_node(c, f, src->op == FROST_OP_GAP ? FROST_I8_GAP : FROST_I8_AVGPOOL, q);
    add_input(o, t);
    if (src->op == FROST_OP_AVGPOOL) {
        o->k = src->pool.k;
        o->stride = src->pool.stride;
        o->pad = src->pool.pad;
    }
    return frost_int8_set_multipliers(c->out, o);
}

/* What FAKEQUANT node fi quantizes, walking back through its conv unit. */
static frost_status emit_for_fq(conv_ctx *c, int fi)
{
    const frost_model *m = c->m;
    const frost_node *f = &m->nodes[fi];
    int src = f->in[0], head = src, bn = -1;
    frost_act_kind act = FROST_ACT_IDENTITY;
    const frost_node *h = &m->nodes[head];
    if (h->op == FROST_OP_ACT && frost_act_is_real_clamp(h->act) && !has_fq(m, h->in[0]) &&
        (m->nodes[h->in[0]].op == FROST_OP_BN || m->nodes[h->in[0]].op == FROST_OP_CONV)) {
        act = h->act;
        head = h->in[0];
        h = &m->nodes[head];
    }
    if (h->op == FROST_OP_BN && !has_fq(m, h->in[0]) && m->nodes[h->in[0]].op == FROST_OP_CONV) {
        bn = head;
        head = h->in[0];
        h = &m->nodes[head];
    }
    bool logits = !f->q.on;
    tensor_q q = {0};
    if (!logits)
        FROST_TRY(fq_params(m, f, &q));
    if (logits && h->op != FROST_OP_LINEAR && h->op != FROST_OP_CONV)
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "int8 convert: the output of '%s' (%s) is not "
                          "quantized",
                          h->name, frost_op_name(h->op));
    switch (h->op) {
    case FROST_OP_CONV:
    case FROST_OP_LINEAR:
        if (logits && (act != FROST_ACT_IDENTITY || bn >= 0))
            return frost_fail(FROST_ERR_UNSUPPORTED,
                              "int8 convert: float output after '%s' "
                              "is only supported for a plain classifier",
                              h->name);
        return emit_conv(c, f, &q, head, bn, act, logits);
    case FROST_OP_INPUT: new_node(c, f, FROST_I8_QUANTIZE, &q); return FROST_OK;
    case FROST_OP_ADD: return emit_binary(c, f, &q, h, FROST_I8_ADD);
    case FROST_OP_MUL: return emit_binary(c, f, &q, h, FROST_I8_MUL);
    case FROST_OP_CONCAT: return emit_tables(c, f, &q, h, FROST_I8_CONCAT, FROST_ACT_IDENTITY);
    case FROST_OP_ACT: return emit_tables(c, f, &q, h, FROST_I8_LUT, h->act);
    case FROST_OP_MAXPOOL: return emit_tables(c, f, &q, h, FROST_I8_MAXPOOL, FROST_ACT_IDENTITY);
    case FROST_OP_AVGPOOL:
    case FROST_OP_GAP: return emit_avgpool(c, f, &q, h);
    case FROST_OP_MIX:
        return frost_fail(FROST_ERR_UNSUPPORTED, "int8 convert: %s", frost_mix_refusal(h));
    case FROST_OP_BN:      /* a BN that did not fold into a conv */
    case FROST_OP_DROPOUT: /* aliases: never the head of a quantized range */
    case FROST_OP_FLATTEN:
    case FROST_OP_FAKEQUANT:
    case FROST_OP_COUNT: break;
    }
    return frost_fail(FROST_ERR_UNSUPPORTED, "int8 convert: '%s' (%s) has no int8 kernel", h->name,
                      frost_op_name(h->op));
}

static frost_status convert_graph(conv_ctx *c)
{
    const frost_model *m = c->m;
    for (int i = 0; i < m->n_nodes; i++) {
        c->tensor_of[i] = -1;
        if (m->nodes[i].op != FROST_OP_FAKEQUANT)
            continue;
        FROST_TRY(emit_for_fq(c, i));
        c->tensor_of[i] = c->out->n_nodes++;
    }
    int last = m->n_nodes - 1, t;
    FROST_TRY(resolve(c, last, last, &t));
    if (t != c->out->n_nodes - 1)
        return frost_fail(FROST_ERR_UNSUPPORTED, "int8 convert: the model output is not its "
                                                 "last quantized layer");
    if (c->out->nodes[0].op != FROST_I8_QUANTIZE)
        return frost_fail(FROST_ERR_UNSUPPORTED, "int8 convert: the model input is not "
                                                 "quantized");
    return FROST_OK;
}

frost_int8_convert_options frost_int8_convert_defaults(void)
{
    frost_int8_convert_options o = {0};
    return o;
}

frost_status frost_int8_from_model(const frost_model *qm, frost_int8_model **out)
{
    frost_int8_convert_options o = frost_int8_convert_defaults();
    return frost_int8_from_model_opts(qm, &o, out);
}

frost_status frost_int8_from_model_opts(const frost_model *qm,
                                        const frost_int8_convert_options *opts,
                                        frost_int8_model **out)
{
    if (!qm || !out)
        return frost_fail(FROST_ERR_ARG, "int8 convert: NULL argument");
    *out = NULL;
    if (!qm->quant.active)
        return frost_fail(FROST_ERR_ARG,
                          "int8 convert: model '%s' is not quantized (QAT or "
                          "PTQ checkpoint needed: frost quantize / frost train --qat)",
                          qm->name);
    frost_int8_model *m = calloc(1, sizeof *m);
    conv_ctx c = {qm, m, malloc((size_t)qm->n_nodes * sizeof(int)),
                  opts ? *opts : frost_int8_convert_defaults()};
    if (m)
        m->nodes = calloc((size_t)qm->n_nodes, sizeof *m->nodes);
    if (!m || !m->nodes || !c.tensor_of) {
        free(c.tensor_of);
        frost_int8_free(m);
        return frost_fail(FROST_ERR_NOMEM, "int8 convert: out of memory");
    }
    snprintf(m->name, sizeof m->name, "%s", qm->name);
    m->pre = frost_model_preprocess(qm);
    m->in_h = qm->in_h;
    m->in_w = qm->in_w;
    m->in_c = qm->in_c;
    m->classes = qm->classes;
    frost_status s = convert_graph(&c);
    free(c.tensor_of);
    return frost_int8_finish(m, s, out);
}

frost_status frost_int8_convert(const frost_model *qm, const char *path)
{
    frost_int8_model *m;
    FROST_TRY(frost_int8_from_model(qm, &m));
    frost_status s = frost_int8_save(m, path);
    frost_int8_free(m);
    return s;
}
