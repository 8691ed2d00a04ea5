/*
 * From mixing weights to a discrete cell (DARTS' derivation, P-DARTS' limit on skips) and
 * P-DARTS' shrinking of the candidate lists between stages.
 */
#include <string.h>

#include "core/util.h"
#include "frost/cell.h"
#include "nas/cell_internal.h"

frost_status frost_cell_candidates_all(int nodes, const int *ops, int n_ops,
                                       frost_cell_candidates *out)
{
    if (nodes < 2 || nodes > FROST_CELL_MAX_NODES)
        return frost_fail(FROST_ERR_ARG, "cell: nodes must be in 2..%d (got %d)",
                          FROST_CELL_MAX_NODES, nodes);
    int real = 0;
    for (int k = 0; k < n_ops; k++) {
        if (ops[k] < 0 || ops[k] >= FROST_CELL_OP_COUNT)
            return frost_fail(FROST_ERR_ARG, "cell: unknown candidate operation %d", ops[k]);
        for (int q = 0; q < k; q++)
            if (ops[q] == ops[k])
                return frost_fail(FROST_ERR_ARG, "cell: candidate '%s' listed twice",
                                  frost_cell_op_name(ops[k]));
        real += ops[k] != FROST_CELL_NONE;
    }
    if (real < 1 || real > 8)
        return frost_fail(FROST_ERR_ARG,
                          "cell: 1..8 candidate operations besides 'none' are needed (got %d)",
                          real);
    memset(out, 0, sizeof *out);
    int edges = nodes * (nodes + 1) / 2;
    for (int e = 0; e < edges; e++) {
        out->n_ops[e] = n_ops;
        memcpy(out->ops[e], ops, (size_t)n_ops * sizeof *ops);
    }
    return FROST_OK;
}

/* The strongest candidate of edge e other than none: its position, or -1. */
static int strongest_op(const frost_cell_candidates *cand, const frost_cell_weights *w, int e)
{
    int best = -1;
    for (int k = 0; k < cand->n_ops[e]; k++)
        if (cand->ops[e][k] != FROST_CELL_NONE && (best < 0 || w->w[e][k] > w->w[e][best]))
            best = k;
    return best;
}

static void derive_once(const frost_cell_candidates *cand, const frost_cell_weights *w, int nodes,
                        frost_cell_genotype *g, int pos[FROST_CELL_MAX_NODES][2])
{
    memset(g, 0, sizeof *g);
    g->nodes = nodes;
    for (int j = 0; j < nodes; j++) {
        int keep = j == 0 ? 1 : 2;
        for (int k = 0; k < keep; k++) {
            int best_in = -1, best_pos = -1;
            float best_w = 0.0f;
            for (int i = 0; i <= j; i++) {
                if (k == 1 && i == g->in[j][0])
                    continue;
                int e = frost_cell_edge_index(j, i), p = strongest_op(cand, w, e);
                if (p >= 0 && (best_in < 0 || w->w[e][p] > best_w)) {
                    best_in = i;
                    best_pos = p;
                    best_w = w->w[e][p];
                }
            }
            g->in[j][k] = best_in;
            g->op[j][k] = cand->ops[frost_cell_edge_index(j, best_in)][best_pos];
            pos[j][k] = best_pos;
        }
        g->n_in[j] = keep;
    }
}

static int count_skips(const frost_cell_genotype *g)
{
    int n = 0;
    for (int j = 0; j < g->nodes; j++)
        for (int k = 0; k < g->n_in[j]; k++)
            n += g->op[j][k] == FROST_CELL_SKIP;
    return n;
}

static frost_status check_derivable(const frost_cell_candidates *cand, int nodes)
{
    if (nodes < 2 || nodes > FROST_CELL_MAX_NODES)
        return frost_fail(FROST_ERR_ARG, "cell: nodes must be in 2..%d (got %d)",
                          FROST_CELL_MAX_NODES, nodes);
    for (int e = 0; e < nodes * (nodes + 1) / 2; e++) {
        bool real = false;
        for (int k = 0; k < cand->n_ops[e]; k++)
            real |= cand->ops[e][k] != FROST_CELL_NONE;
        if (!real)
            return frost_fail(FROST_ERR_ARG, "cell: edge %d has no candidate besides 'none'", e);
    }
    return FROST_OK;
}

frost_status frost_cell_derive(const frost_cell_candidates *cand, const frost_cell_weights *w_in,
                               int nodes, int max_skips, frost_cell_genotype *out)
{
    FROST_TRY(check_derivable(cand, nodes));
    frost_cell_weights w = *w_in;
    int pos[FROST_CELL_MAX_NODES][2];
    derive_once(cand, &w, nodes, out, pos);
    /* P-DARTS: while too many skips survive, the weakest chosen skip loses its weight and
     * the cell is derived again (the edge may then keep another op or lose its place). */
    while (max_skips >= 0 && count_skips(out) > max_skips) {
        int wj = -1, wk = -1;
        float weakest = 0.0f;
        for (int j = 0; j < nodes; j++)
            for (int k = 0; k < out->n_in[j]; k++) {
                float v = w.w[frost_cell_edge_index(j, out->in[j][k])][pos[j][k]];
                /* a skip already zeroed is only chosen when its node has nothing else */
                if (out->op[j][k] != FROST_CELL_SKIP || v < 0.0f)
                    continue;
                if (wj < 0 || v < weakest) {
                    wj = j;
                    wk = k;
                    weakest = v;
                }
            }
        if (wj < 0)
            break; /* every remaining skip is the only choice its node has */
        w.w[frost_cell_edge_index(wj, out->in[wj][wk])][pos[wj][wk]] = -1.0f;
        derive_once(cand, &w, nodes, out, pos);
    }
    return FROST_OK;
}

frost_status frost_cell_shrink(const frost_cell_candidates *cand, const frost_cell_weights *w,
                               int nodes, int keep, frost_cell_candidates *out)
{
    FROST_TRY(check_derivable(cand, nodes));
    if (keep < 1 || keep > 8)
        return frost_fail(FROST_ERR_ARG, "cell: keep 1..8 candidates per edge (got %d)", keep);
    frost_cell_candidates r;
    memset(&r, 0, sizeof r);
    for (int e = 0; e < nodes * (nodes + 1) / 2; e++) {
        bool taken[FROST_CELL_OP_COUNT] = {false};
        /* the kept ones in their original order, so alpha positions stay readable */
        for (int n = 0; n < keep; n++) {
            int best = -1;
            for (int k = 0; k < cand->n_ops[e]; k++)
                if (cand->ops[e][k] != FROST_CELL_NONE && !taken[k] &&
                    (best < 0 || w->w[e][k] > w->w[e][best]))
                    best = k;
            if (best >= 0)
                taken[best] = true;
        }
        for (int k = 0; k < cand->n_ops[e]; k++)
            if (taken[k] || cand->ops[e][k] == FROST_CELL_NONE)
                r.ops[e][r.n_ops[e]++] = cand->ops[e][k];
    }
    *out = r;
    return FROST_OK;
}
