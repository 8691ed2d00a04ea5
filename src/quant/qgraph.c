/*
 * The fake-quant graph transform (frost_model_quantize), quantization modes,
 * BN freezing and the per-layer switches used by sensitivity analysis.
 *
 * Units: a conv, its BN (if the BN is the conv's only consumer) and a ReLU/ReLU6
 * that is the only consumer of the result form one unit, exactly the patterns
 * PyTorch fuses (ConvBnReLU, ConvBn, ConvReLU). Inside a unit nothing is
 * quantized; its output gets one fake-quant. The BN of a unit is folded into the
 * conv's weights for weight quantization (qrun.c).
 */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "models/graph.h"
#include "ops/act_def.h"
#include "quant/lowbit.h"
#include "quant/qgraph.h"

typedef struct {
    int n;
    int *consumers; /* number of consumers per node */
    int *sole;      /* the only consumer, or -1 */
    int *unit_end;  /* last node of the unit a node belongs to (itself if none) */
    int *fold;      /* conv: its BN node, or -1 */
    bool *interior; /* inside a unit, not its end */
    bool *needs_fq;
    int out_src; /* the node whose fake-quant gives the model output (past dropout/flatten) */
} graph_scan;

static void scan_free(graph_scan *g)
{
    free(g->consumers);
    free(g->sole);
    free(g->unit_end);
    free(g->fold);
    free(g->interior);
    free(g->needs_fq);
}

/* Extends a unit from node e by its sole consumer if that is `op` reading e. */
static int unit_next(const frost_model *m, const graph_scan *g, int e, frost_op op)
{
    int j = g->sole[e];
    if (j < 0 || m->nodes[j].op != op || m->nodes[j].in[0] != e)
        return -1;
    if (op == FROST_OP_ACT && !frost_act_is_real_clamp(m->nodes[j].act))
        return -1;
    return j;
}

static frost_status scan_graph(const frost_model *m, graph_scan *g)
{
    int n = m->n_nodes;
    g->n = n;
    g->consumers = calloc((size_t)n, sizeof(int));
    g->sole = malloc((size_t)n * sizeof(int));
    g->unit_end = malloc((size_t)n * sizeof(int));
    g->fold = malloc((size_t)n * sizeof(int));
    g->interior = calloc((size_t)n, sizeof(bool));
    g->needs_fq = calloc((size_t)n, sizeof(bool));
    if (!g->consumers || !g->sole || !g->unit_end || !g->fold || !g->interior || !g->needs_fq)
        return frost_fail(FROST_ERR_NOMEM, "out of memory quantizing model '%s'", m->name);
    for (int i = 0; i < n; i++) {
        g->sole[i] = -1;
        g->unit_end[i] = i;
        g->fold[i] = -1;
    }
    for (int j = 0; j < n; j++)
        for (int k = 0; k < m->nodes[j].n_in; k++) {
            int i = m->nodes[j].in[k];
            g->sole[i] = g->consumers[i]++ ? -1 : j;
        }
    for (int i = 0; i < n; i++) {
        if (m->nodes[i].op != FROST_OP_CONV)
            continue;
        int e = i, bn = unit_next(m, g, i, FROST_OP_BN);
        if (bn >= 0) {
            g->fold[i] = bn;
            g->interior[e] = true;
            e = bn;
        }
        int act = unit_next(m, g, e, FROST_OP_ACT);
        if (act >= 0) {
            g->interior[e] = true;
            e = act;
        }
        for (int j = i; j <= e; j++)
            if (j == i || j == bn || j == act)
                g->unit_end[j] = e;
    }
    for (int i = 0; i < n; i++)
        g->needs_fq[i] = !g->interior[i] && frost_op_has(m->nodes[i].op, FROST_OPF_NEW_RANGE);
    int e = n - 1;
    while (e > 0 && frost_op_has(m->nodes[e].op, FROST_OPF_ALIAS))
        e = m->nodes[e].in[0];
    g->out_src = e;
    return FROST_OK;
}

static bool has_weights(const frost_node *n) { return frost_op_has(n->op, FROST_OPF_WEIGHTED); }

/* Every override must name a layer that can take it; checked before the model changes. */
static frost_status check_overrides(const frost_model *m, const graph_scan *g,
                                    const frost_qconfig *c)
{
    for (int i = 0; i < frost_qconfig_override_count(c); i++) {
        bool has_w, has_a;
        const char *name = frost_qconfig_override(c, i, &has_w, &has_a);
        int ni = frost_g_find(m, name);
        if (ni < 0)
            return frost_fail(FROST_ERR_ARG,
                              "quant config: layer '%s' does not exist in model '%s' "
                              "(`frost info` lists the layers)",
                              name, m->name);
        if (has_w && !has_weights(&m->nodes[ni]))
            return frost_fail(FROST_ERR_ARG,
                              "quant config: layer '%s' is a %s and has no weights to quantize",
                              name, frost_op_name(m->nodes[ni].op));
        if (has_a && !g->needs_fq[g->unit_end[ni]])
            return frost_fail(FROST_ERR_ARG,
                              "quant config: layer '%s' (%s) has no quantized output of its own",
                              name, frost_op_name(m->nodes[ni].op));
    }
    return FROST_OK;
}

/* The activation spec of the fake-quant after unit end e: the defaults, overridden by
 * "activations" overrides on members of the unit (merged; a later member wins a key). */
static frost_qspec act_spec(const frost_model *m, const graph_scan *g, const frost_qconfig *c,
                            int e, const int *map_node)
{
    frost_qspec w, a;
    frost_qconfig_resolve(c, NULL, &w, &a);
    for (int i = 0; i <= e; i++) /* i: old index; its node now sits at map_node[i] */
        if (g->unit_end[i] == e) /* overrides of several members merge, in graph order */
            frost_qconfig_merge_layer(c, m->nodes[map_node[i]].name, &w, &a);
    return a;
}

/* BinaryConnect's default H: fan-in and fan-out as Glorot counts them for a conv
 * (receptive field times input channels per group / output channels). */
static float default_binary_h(const frost_model *m, const frost_node *n)
{
    const frost_param *p = &m->params[n->weight];
    int64_t cout = p->shape[0], inner = p->numel / cout;
    int64_t field = n->op == FROST_OP_CONV ? (int64_t)n->conv.kh * n->conv.kw : 1;
    return frost_binary_glorot_h(inner, cout * field);
}

/* TTQ's learned scales [Wp, Wn]: a trainable parameter "<layer>.ttq", saved with the
 * model. Zero means "not started": the first forward sets them from the weights (so an
 * FP32 checkpoint loaded after quantizing starts from its own magnitudes). */
static frost_status setup_ttq(frost_model *m, frost_node *n)
{
    int i = frost_g_param(m, n->name, "ttq", 2);
    if (i < 0)
        return FROST_ERR_NOMEM;
    n->q.ttq_scales = i;
    return FROST_OK;
}

static frost_status setup_weights(frost_model *m, frost_node *n, const frost_qspec *s)
{
    const frost_param *p = &m->params[n->weight];
    int cout = (int)p->shape[0];
    frost_nodeq *q = &n->q;
    q->on = q->configured_on = s->enabled;
    q->wscheme = s->scheme;
    q->ttq_scales = -1;
    q->ttq_t = s->ttq_t;
    q->binary_h = s->binary_h > 0.0f ? s->binary_h : default_binary_h(m, n);
    if (q->wscheme == FROST_WSCHEME_TTQ)
        FROST_TRY(setup_ttq(m, n));
    q->bits = s->bits;
    q->symmetric = s->symmetric;
    q->per_channel = s->per_channel;
    /* symmetric weights: narrow signed ([-127, 127]); affine: the full signed range */
    FROST_TRY(frost_qrange(s->bits, true, s->symmetric, false, &q->qmin, &q->qmax));
    q->wscale = malloc((size_t)cout * sizeof(float));
    q->wzp = malloc((size_t)cout * sizeof(int));
    q->fold = malloc((size_t)cout * sizeof(float));
    q->w_in = frost_alloc((size_t)p->numel * sizeof(float));
    q->w_eff = frost_alloc((size_t)p->numel * sizeof(float));
    q->dw_eff = frost_alloc((size_t)p->numel * sizeof(float));
    if (!q->wscale || !q->wzp || !q->fold || !q->w_in || !q->w_eff || !q->dw_eff)
        return frost_fail(FROST_ERR_NOMEM, "layer '%s': out of memory for weight quantization",
                          n->name);
    return FROST_OK;
}

static frost_status setup_fq(frost_model *m, int fi, const frost_qspec *s, int observer,
                             float percentile)
{
    frost_node *f = &m->nodes[fi];
    frost_nodeq *q = &f->q;
    q->on = q->configured_on = s->enabled;
    q->bits = s->bits;
    q->symmetric = s->symmetric;
    q->observer = observer;
    q->fold_bn = -1;
    FROST_TRY(frost_qrange(s->bits, s->symmetric, false, false, &q->qmin, &q->qmax));
    q->range = frost_g_buffer(m, f->name, "range", 3);
    if (q->range < 0)
        return FROST_ERR_NOMEM;
    if (observer == FROST_OBS_HISTOGRAM || observer == FROST_OBS_PERCENTILE ||
        observer == FROST_OBS_ENTROPY) {
        frost_observer_config oc = frost_observer_defaults((frost_observer_kind)observer);
        oc.percentile = percentile;
        oc.dst_bins = 1 << s->bits;
        oc.symmetric = s->symmetric;
        FROST_TRY(frost_observer_new(&oc, &q->obs));
    }
    return FROST_OK;
}

/* Builds the new node array: every old node, each followed by its fake-quant if needed;
 * inputs re-pointed at the fake-quants. map_out[i] = where consumers of old node i read. */
static frost_status rebuild_nodes(frost_model *m, const graph_scan *g, int *map_node, int *map_out)
{
    int n_fq = 0;
    for (int i = 0; i < g->n; i++)
        n_fq += g->needs_fq[i];
    int total = g->n + n_fq;
    frost_node *nodes = calloc((size_t)total, sizeof *nodes);
    if (!nodes)
        return frost_fail(FROST_ERR_NOMEM, "out of memory quantizing model '%s'", m->name);
    int k = 0;
    for (int i = 0; i < g->n; i++) {
        frost_node *n = &nodes[k];
        *n = m->nodes[i];
        for (int j = 0; j < n->n_in; j++)
            n->in[j] = map_out[n->in[j]];
        n->q.fold_bn = -1;
        map_node[i] = map_out[i] = k++;
        if (!g->needs_fq[i])
            continue;
        frost_node *f = &nodes[k];
        memset(f, 0, sizeof *f);
        char src_name[FROST_NAME_LEN];
        memcpy(src_name, n->name, sizeof src_name);
        if (snprintf(f->name, sizeof f->name, "%s.fq", src_name) >= (int)sizeof f->name) {
            free(nodes);
            return frost_fail(FROST_ERR_ARG, "layer name '%s' is too long to quantize", src_name);
        }
        f->op = FROST_OP_FAKEQUANT;
        f->n_in = 1;
        f->in[0] = map_node[i];
        f->h = n->h;
        f->w = n->w;
        f->c = n->c;
        f->weight = f->bias_p = f->gamma = f->beta = -1;
        f->running_mean = f->running_var = -1;
        f->alpha = -1;
        map_out[i] = k++;
    }
    free(m->nodes);
    m->nodes = nodes;
    m->n_nodes = m->cap_nodes = total;
    return FROST_OK;
}

static frost_status build_layers(frost_model *m, const graph_scan *g, const int *map_node,
                                 const int *map_out)
{
    frost_model_quant *mq = &m->quant;
    mq->layer_w = malloc((size_t)m->n_nodes * sizeof(int));
    mq->layer_fq = malloc((size_t)m->n_nodes * sizeof(int));
    bool *claimed = calloc((size_t)m->n_nodes, sizeof(bool));
    if (!mq->layer_w || !mq->layer_fq || !claimed) {
        free(claimed);
        return frost_fail(FROST_ERR_NOMEM, "out of memory quantizing model '%s'", m->name);
    }
    for (int i = 0; i < g->n; i++) {
        if (!has_weights(&m->nodes[map_node[i]]))
            continue;
        int e = g->unit_end[i];
        int fq = g->needs_fq[e] ? map_out[e] : -1;
        mq->layer_w[mq->n_layers] = map_node[i];
        mq->layer_fq[mq->n_layers++] = fq;
        if (fq >= 0)
            claimed[fq] = true;
    }
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].op == FROST_OP_FAKEQUANT && !claimed[i]) {
            mq->layer_w[mq->n_layers] = -1;
            mq->layer_fq[mq->n_layers++] = i;
        }
    free(claimed);
    return FROST_OK;
}

/* The first and the last conv/linear layer stay affine under a binary or ternary
 * model-wide scheme (their weights at 8 bits, their input not binarized) unless their own
 * "layers" entry sets a scheme: the image input and the logits lose the most accuracy. */
static void keep_edge_layer_affine(frost_qspec *w, frost_qspec *a)
{
    if (w->scheme != FROST_WSCHEME_AFFINE && !w->scheme_set) {
        w->scheme = FROST_WSCHEME_AFFINE;
        if (!w->bits_set) /* the layer's own "bits" still applies */
            w->bits = 8;
    }
    if (a->scheme != FROST_ASCHEME_AFFINE && !a->scheme_set)
        a->scheme = FROST_ASCHEME_AFFINE;
}

/* A binary activation must not read a ReLU's output: sign of a value >= 0 is always +1.
 * Walks back over nodes that keep the sign (fake-quant, pooling, flatten, dropout). */
static frost_status check_binary_input(const frost_model *m, const frost_node *n)
{
    const frost_node *x = &m->nodes[n->in[0]];
    while (x->op == FROST_OP_FAKEQUANT || x->op == FROST_OP_MAXPOOL || x->op == FROST_OP_AVGPOOL ||
           x->op == FROST_OP_FLATTEN || x->op == FROST_OP_DROPOUT)
        x = &m->nodes[x->in[0]];
    if (x->op == FROST_OP_ACT && (x->act == FROST_ACT_RELU || x->act == FROST_ACT_RELU6))
        return frost_fail(FROST_ERR_ARG,
                          "quant config: layer '%s' binarizes its input, which comes from the "
                          "ReLU '%s' (never negative, so sign() is always +1); binary activations "
                          "need BN -> sign -> conv without a ReLU in between (docs/lowbit.md)",
                          n->name, x->name);
    return FROST_OK;
}

/* The first and the last conv/linear node (graph order), or -1. */
static void edge_layers(const frost_model *m, int *first, int *last)
{
    *first = *last = -1;
    for (int i = 0; i < m->n_nodes; i++)
        if (has_weights(&m->nodes[i])) {
            *first = *first < 0 ? i : *first;
            *last = i;
        }
}

/* Moves node old[k] to position k (old: a permutation of 0..n-1 that keeps every input
 * before its consumer) and re-points the inputs. */
static frost_status reorder_nodes(frost_model *m, const int *order)
{
    int n = m->n_nodes;
    int *pos = malloc((size_t)n * sizeof(int));
    frost_node *nodes = malloc((size_t)m->cap_nodes * sizeof *nodes);
    if (!pos || !nodes) {
        free(pos);
        free(nodes);
        return frost_fail(FROST_ERR_NOMEM, "out of memory quantizing model '%s'", m->name);
    }
    for (int k = 0; k < n; k++)
        pos[order[k]] = k;
    for (int k = 0; k < n; k++) {
        nodes[k] = m->nodes[order[k]];
        for (int j = 0; j < nodes[k].n_in; j++)
            nodes[k].in[j] = pos[nodes[k].in[j]];
    }
    free(m->nodes);
    m->nodes = nodes;
    free(pos);
    return FROST_OK;
}

/* "<conv>.shortcut"; false if the name does not fit. */
static bool shortcut_name(const frost_node *conv, char name[FROST_NAME_LEN])
{
    static const char suffix[] = ".shortcut";
    size_t n = strlen(conv->name);
    if (n + sizeof suffix > FROST_NAME_LEN)
        return false;
    memcpy(name, conv->name, n);
    memcpy(name + n, suffix, sizeof suffix);
    return true;
}

/* Whether conv node i (in the float graph) gets a Bi-Real shortcut: a conv+BN unit whose
 * input is binarized and whose input and output shapes agree, not added before. */
static bool wants_shortcut(const frost_model *m, const graph_scan *g, const frost_qconfig *c, int i,
                           int first, int last)
{
    const frost_node *conv = &m->nodes[i];
    if (conv->op != FROST_OP_CONV || g->fold[i] < 0)
        return false;
    frost_qspec w, a;
    frost_qconfig_resolve(c, conv->name, &w, &a);
    if (i == first || i == last)
        keep_edge_layer_affine(&w, &a);
    const frost_node *x = &m->nodes[conv->in[0]], *e = &m->nodes[g->unit_end[i]];
    char name[FROST_NAME_LEN];
    return a.scheme != FROST_ASCHEME_AFFINE && x->h == e->h && x->w == e->w && x->c == e->c &&
           shortcut_name(conv, name) && frost_g_find(m, name) < 0;
}

/* Bi-Real's real-valued shortcuts ("bireal_shortcuts": true): an add "<conv>.shortcut" of
 * the unit's output and the conv's (real) input after every binary conv+BN unit whose
 * shapes allow it; the unit's consumers read the add. A model that has them already (a
 * checkpoint's architecture) is left as is. */
static frost_status insert_shortcuts(frost_model *m, const frost_qconfig *c)
{
    if (!frost_qconfig_shortcuts(c))
        return FROST_OK;
    frost_free(m->arena); /* the graph is about to change: frost_model_quantize plans again */
    m->arena = NULL;
    m->batch = 0;
    m->cur_n = 0;
    int n0 = m->n_nodes, first, last, added = 0;
    graph_scan g = {0};
    frost_status s = scan_graph(m, &g);
    int *after = s == FROST_OK ? malloc((size_t)n0 * sizeof(int)) : NULL;
    if (s == FROST_OK && !after)
        s = frost_fail(FROST_ERR_NOMEM, "out of memory quantizing model '%s'", m->name);
    edge_layers(m, &first, &last);
    for (int i = 0; s == FROST_OK && i < n0; i++)
        after[i] = -1;
    for (int i = 0; s == FROST_OK && i < n0; i++) {
        if (!wants_shortcut(m, &g, c, i, first, last))
            continue;
        int e = g.unit_end[i], src = m->nodes[i].in[0];
        char name[FROST_NAME_LEN];
        (void)shortcut_name(&m->nodes[i], name); /* fits: wants_shortcut checked */
        int add = frost_g_add(m, name, e, src);
        if (add < 0) {
            s = FROST_ERR_NOMEM;
            break;
        }
        for (int j = 0; j < n0; j++) /* the unit's consumers read the sum */
            for (int k = 0; k < m->nodes[j].n_in; k++)
                if (m->nodes[j].in[k] == e)
                    m->nodes[j].in[k] = add;
        after[e] = add;
        added++;
    }
    int *order = s == FROST_OK && added ? malloc((size_t)m->n_nodes * sizeof(int)) : NULL;
    if (s == FROST_OK && added && !order)
        s = frost_fail(FROST_ERR_NOMEM, "out of memory quantizing model '%s'", m->name);
    if (order) {
        int k = 0;
        for (int i = 0; i < n0; i++) {
            order[k++] = i;
            if (after[i] >= 0)
                order[k++] = after[i];
        }
        s = reorder_nodes(m, order);
    }
    free(order);
    free(after);
    scan_free(&g);
    return s;
}

static frost_status apply_config(frost_model *m, const graph_scan *g, const frost_qconfig *c,
                                 const int *map_node, const int *map_out)
{
    float percentile;
    int observer = frost_qconfig_observer(c, &percentile);
    int out_src = g->out_src;
    int first_w = -1, last_w = -1;
    for (int i = 0; i < g->n; i++)
        if (has_weights(&m->nodes[map_node[i]])) {
            first_w = first_w < 0 ? i : first_w;
            last_w = i;
        }
    for (int i = 0; i < g->n; i++) {
        frost_node *n = &m->nodes[map_node[i]];
        if (has_weights(n)) {
            frost_qspec w, a;
            frost_qconfig_resolve(c, n->name, &w, &a);
            if (i == first_w || i == last_w)
                keep_edge_layer_affine(&w, &a);
            n->q.ascheme = a.scheme;
            if (a.scheme != FROST_ASCHEME_AFFINE)
                FROST_TRY(check_binary_input(m, n));
            FROST_TRY(setup_weights(m, n, &w));
            n->q.fold_bn = g->fold[i] >= 0 ? map_node[g->fold[i]] : -1;
            if (n->q.fold_bn >= 0)
                m->nodes[n->q.fold_bn].q.folded = true;
        }
        if (g->needs_fq[i]) {
            frost_qspec a = act_spec(m, g, c, i, map_node);
            /* The logits stay float unless a layer override says otherwise: the int8 engine
             * dequantizes the classifier's int32 accumulators directly, and clamping logits
             * to a lagging EMA range stalls training (zero STE gradient beyond it). */
            bool explicit_on = false;
            for (int j = 0; j <= i; j++)
                explicit_on |= g->unit_end[j] == i &&
                               frost_qconfig_sets_enabled(c, m->nodes[map_node[j]].name);
            if (i == out_src && !explicit_on)
                a.enabled = false;
            FROST_TRY(setup_fq(m, map_out[i], &a, observer, percentile));
        }
    }
    return build_layers(m, g, map_node, map_out);
}

frost_status frost_model_quantize(frost_model *m, const frost_qconfig *c)
{
    if (m->quant.active)
        return frost_fail(FROST_ERR_ARG, "model '%s' is already quantized", m->name);
    if (m->classes == 0)
        return frost_fail(FROST_ERR_ARG, "model '%s' is not finished", m->name);
    graph_scan g = {0};
    int *map_node = NULL, *map_out = NULL;
    m->quant.hooks = &frost_qrun_hooks; /* from here on frost_model_free releases our state */
    frost_status s = insert_shortcuts(m, c);
    if (s == FROST_OK)
        s = scan_graph(m, &g);
    if (s == FROST_OK)
        s = check_overrides(m, &g, c);
    if (s == FROST_OK) {
        map_node = malloc((size_t)g.n * sizeof(int));
        map_out = malloc((size_t)g.n * sizeof(int));
        s = map_node && map_out ? FROST_OK : frost_fail(FROST_ERR_NOMEM, "out of memory");
    }
    if (s == FROST_OK) {
        s = rebuild_nodes(m, &g, map_node, map_out);
        if (s == FROST_OK) {
            /* From here on the graph is changed; a failure leaves a model that can only
             * be freed (allocation failures only). */
            m->quant.active = true;
            s = apply_config(m, &g, c, map_node, map_out);
        }
    }
    if (s == FROST_OK) {
        m->quant.config_json = frost_qconfig_to_json(c);
        if (!m->quant.config_json)
            s = frost_fail(FROST_ERR_NOMEM, "out of memory");
    }
    if (s == FROST_OK) {
        frost_free(m->arena); /* the graph changed: plan again */
        m->arena = NULL;
        m->batch = 0;
        m->cur_n = 0;
        m->quant.ema_constant = 0.01f;
        frost_rng_seed(&m->quant.rng, 1); /* reproducible until a run seeds it */
        m->quant.fake = true;
        m->quant.observe = FROST_QOBS_TRAIN;
    }
    free(map_node);
    free(map_out);
    scan_free(&g);
    return s;
}

void frost_model_quant_release(frost_model *m)
{
    for (int i = 0; i < m->n_nodes; i++) {
        frost_nodeq *q = &m->nodes[i].q;
        frost_observer_free(q->obs);
        free(q->wscale);
        free(q->wzp);
        free(q->fold);
        frost_free(q->w_in);
        frost_free(q->w_eff);
        frost_free(q->dw_eff);
        frost_free(q->x_bin);
        frost_free(q->dx_bin);
        frost_free(q->xnor_k);
        frost_free(q->xnor_a);
    }
    free(m->quant.config_json);
    free(m->quant.layer_w);
    free(m->quant.layer_fq);
}

bool frost_model_is_quantized(const frost_model *m) { return m->quant.active; }

const char *frost_model_qconfig_json(const frost_model *m)
{
    return m->quant.active ? m->quant.config_json : NULL;
}

bool frost_fq_fixed_range(const frost_model *m, const frost_node *fq, float *lo, float *hi)
{
    const frost_node *src = &m->nodes[fq->in[0]];
    return src->op == FROST_OP_ACT && frost_act_fixed_qrange(src->act, lo, hi);
}

/* Moves the histogram/percentile/entropy observers' ranges into the range buffers (a
 * fixed range is there already). */
static frost_status finish_calibration(frost_model *m)
{
    for (int i = 0; i < m->n_nodes; i++) {
        frost_node *n = &m->nodes[i];
        float lo, hi;
        if (n->op != FROST_OP_FAKEQUANT || !n->q.obs || frost_fq_fixed_range(m, n, &lo, &hi))
            continue;
        float *r = m->buffers[n->q.range].data;
        r[2] = 1.0f; /* calibrated */
        if (frost_observer_range(n->q.obs, &r[0], &r[1]) != FROST_OK)
            return frost_fail(FROST_ERR_NUMERIC,
                              "fake-quant '%s': its observer saw no finite value (calibrate on "
                              "more data?)",
                              n->name);
    }
    return FROST_OK;
}

frost_status frost_model_set_qmode(frost_model *m, frost_qmode mode)
{
    if (!m->quant.active)
        return frost_fail(FROST_ERR_ARG, "model '%s' is not quantized", m->name);
    if (m->quant.observe == FROST_QOBS_ALL && mode != FROST_QMODE_CALIBRATE)
        FROST_TRY(finish_calibration(m));
    if (mode == FROST_QMODE_CALIBRATE && m->quant.observe != FROST_QOBS_ALL)
        for (int i = 0; i < m->n_nodes; i++) /* a fresh calibration */
            if (m->nodes[i].op == FROST_OP_FAKEQUANT) {
                if (m->nodes[i].q.obs)
                    frost_observer_reset(m->nodes[i].q.obs);
                memset(m->buffers[m->nodes[i].q.range].data, 0, 3 * sizeof(float));
            }
    m->quant.fake = mode == FROST_QMODE_QAT || mode == FROST_QMODE_FIXED;
    m->quant.observe = mode == FROST_QMODE_CALIBRATE                          ? FROST_QOBS_ALL
                       : mode == FROST_QMODE_QAT || mode == FROST_QMODE_DELAY ? FROST_QOBS_TRAIN
                                                                              : FROST_QOBS_OFF;
    return FROST_OK;
}

void frost_model_freeze_bn(frost_model *m, bool frozen)
{
    m->quant.bn_frozen = frozen;
    m->fusion_stale = true; /* the executor re-plans before its next forward */
}

int frost_model_qlayer_count(const frost_model *m) { return m->quant.n_layers; }

const char *frost_model_qlayer_name(const frost_model *m, int i)
{
    int w = m->quant.layer_w[i];
    return w >= 0 ? m->nodes[w].name : m->nodes[m->nodes[m->quant.layer_fq[i]].in[0]].name;
}

/* Bits per weight: binary schemes 1, ternary 2, affine its configured bits. */
static int scheme_bits(const frost_nodeq *q)
{
    switch ((frost_wscheme)q->wscheme) {
    case FROST_WSCHEME_BINARY:
    case FROST_WSCHEME_BINARY_STOCHASTIC:
    case FROST_WSCHEME_BWN: return 1;
    case FROST_WSCHEME_TWN:
    case FROST_WSCHEME_TTQ: return 2;
    case FROST_WSCHEME_AFFINE:
    case FROST_WSCHEME_COUNT: break;
    }
    return q->bits;
}

void frost_model_qlayer_schemes(const frost_model *m, int i, frost_wscheme *w, frost_ascheme *a)
{
    int wn = m->quant.layer_w[i];
    *w = wn >= 0 ? (frost_wscheme)m->nodes[wn].q.wscheme : FROST_WSCHEME_AFFINE;
    *a = wn >= 0 ? (frost_ascheme)m->nodes[wn].q.ascheme : FROST_ASCHEME_AFFINE;
}

void frost_model_qlayer_bits(const frost_model *m, int i, int *wbits, int *abits)
{
    int w = m->quant.layer_w[i], f = m->quant.layer_fq[i];
    *wbits = w >= 0 && m->nodes[w].q.configured_on ? scheme_bits(&m->nodes[w].q) : 0;
    *abits = f >= 0 && m->nodes[f].q.configured_on ? m->nodes[f].q.bits : 0;
}

void frost_model_quantize_only(frost_model *m, int layer)
{
    for (int i = 0; i < m->n_nodes; i++)
        m->nodes[i].q.on = layer < 0 && m->nodes[i].q.configured_on;
    if (layer < 0 || layer >= m->quant.n_layers)
        return;
    int w = m->quant.layer_w[layer], f = m->quant.layer_fq[layer];
    if (w >= 0)
        m->nodes[w].q.on = m->nodes[w].q.configured_on;
    if (f >= 0)
        m->nodes[f].q.on = m->nodes[f].q.configured_on;
}
