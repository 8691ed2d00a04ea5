/* The text report of a model's layers (frost info), built as a string: the library never
 * prints, the caller decides where the text goes. */
#include <stdio.h>

#include "core/strbuf.h"
#include "models/graph.h"

/* The op column: activations by kind, convs by kernel (depthwise apart), fake-quant by bits. */
static void op_label(const frost_node *n, char *op, size_t size)
{
    if (n->op == FROST_OP_ACT)
        snprintf(op, size, "%s", frost_act_name(n->act));
    else if (n->op == FROST_OP_CONV && n->conv.groups == n->conv.cin && n->conv.groups > 1)
        snprintf(op, size, "dwconv%d", n->conv.kh);
    else if (n->op == FROST_OP_CONV)
        snprintf(op, size, "conv%d", n->conv.kh);
    else if (n->op == FROST_OP_FAKEQUANT && n->q.on) /* fq8: 8-bit fake-quant */
        snprintf(op, size, "fq%d", n->q.bits);
    else if (n->op == FROST_OP_FAKEQUANT)
        snprintf(op, size, "fq-off");
    else
        snprintf(op, size, "%s", frost_op_name(n->op));
}

char *frost_model_info_text(const frost_model *m)
{
    frost_strbuf out = {0};
    frost_strbuf_appendf(&out, "model %s: input %dx%dx%d, %d classes\n", m->name, m->in_h, m->in_w,
                         m->in_c, m->classes);
    frost_strbuf_appendf(&out, "%-4s %-28s %-8s %-16s %12s %14s\n", "#", "layer", "op",
                         "output HxWxC", "params", "MACs");
    for (int i = 1; i < m->n_nodes; i++) {
        const frost_node *n = &m->nodes[i];
        int64_t np = 0;
        int idx[5] = {n->weight, n->bias_p, n->gamma, n->beta, n->alpha};
        for (int j = 0; j < 5; j++)
            if (idx[j] >= 0)
                np += m->params[idx[j]].numel;
        char shape[32], op[24];
        snprintf(shape, sizeof shape, "%dx%dx%d", n->h, n->w, n->c);
        op_label(n, op, sizeof op);
        frost_strbuf_appendf(&out, "%-4d %-28s %-8s %-16s %12lld %14lld\n", i, n->name, op, shape,
                             (long long)np, (long long)n->macs);
    }
    int64_t params = frost_model_param_count(m), macs = frost_model_macs(m);
    int fq = 0;
    for (int i = 0; i < m->n_nodes; i++)
        fq += m->nodes[i].op == FROST_OP_FAKEQUANT;
    frost_strbuf_appendf(&out,
                         "total: %lld params (%.3fM), %lld MACs (%.2fM) per image, %d layers\n",
                         (long long)params, (double)params / 1e6, (long long)macs,
                         (double)macs / 1e6, m->n_nodes - 1 - fq);
    int64_t arch = frost_model_arch_param_count(m);
    if (arch > 0) /* the mix layers' column above counts them */
        frost_strbuf_appendf(&out,
                             "cell-search supernet: %lld architecture weights (alpha) besides "
                             "the params\n",
                             (long long)arch);
    if (m->quant.active)
        frost_strbuf_appendf(&out, "fake-quant model: %d fake-quant nodes, config %s\n", fq,
                             m->quant.config_json);
    return frost_strbuf_finish(&out);
}
