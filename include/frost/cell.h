/*
 * Cell search: DARTS (arXiv 1806.09055) and P-DARTS (arXiv 1904.12760) with FrostNet's
 * changes to the cell and, optionally, quantization-aware training inside the search
 * (docs/cell-search.md).
 *
 * A cell takes ONE input (FrostNet drops DARTS' second, the (k-2)-th cell's output): a
 * 1x1 conv-BN-ReLU brings it to the cell's C channels (state 0); intermediate node j
 * (0..nodes-1) sums one operation on each earlier state (the input and nodes 0..j-1).
 * The cell's output is the concatenation of its last two nodes (2C channels), not of
 * all of them. In a reduction cell the edges leaving the input have stride 2.
 * Edge e = j(j+1)/2 + i joins state i to node j.
 *
 * During the search every edge is a `mix` op over its candidate operations, weighted by
 * softmax(alpha); all normal cells share one alpha per edge, all reduction cells another.
 * The derived (discrete) cell keeps the two strongest incoming edges of each node (one
 * for node 0), each with its strongest operation other than "none".
 */
#ifndef FROST_CELL_H
#define FROST_CELL_H

#include <stdbool.h>
#include <stdint.h>

#include "frost/data.h"
#include "frost/model.h"
#include "frost/qat.h"
#include "frost/status.h"

/* X(ID, name): the candidate operations of an edge (C channels in, C out, stride s).
 * Every convolution is conv-BN-ReLU (the order that fuses for int8) unless it is the
 * last of its operation, which is conv-BN (linear). */
#define FROST_CELL_OP_LIST(X)                                                             \
    X(NONE, "none")               /* zero (only as a mixed-op candidate) */               \
    X(SKIP, "skip")               /* identity; stride 2: 1x1 conv-BN */                   \
    X(MAX3, "max_pool_3")         /* 3x3 max pool */                                      \
    X(AVG3, "avg_pool_3")         /* 3x3 average pool */                                  \
    X(SEP3, "sep_conv_3")         /* (k x k depthwise, 1x1) twice, as DARTS */            \
    X(SEP5, "sep_conv_5")                                                                 \
    X(SC3, "sc_3")                /* Frost bottleneck: SC module (r 4), expand 3, dw k */ \
    X(SC5, "sc_5")                                                                        \
    X(MB3, "mbconv_3")            /* inverted residual: expand 3, dw k, project */        \
    X(MB5, "mbconv_5")                                                                    \
    X(SE3, "se_swish_3")          /* MBConv 3 with SiLU and squeeze-excite (sigmoid) */   \
    X(SEH3, "se_hswish_3")        /* MBConv 3 with h-swish and SE (h-sigmoid gate) */

#define FROST_CELL_OP_ENUM_(id, name) FROST_CELL_##id,
typedef enum { FROST_CELL_OP_LIST(FROST_CELL_OP_ENUM_) FROST_CELL_OP_COUNT } frost_cell_op;
#undef FROST_CELL_OP_ENUM_

const char *frost_cell_op_name(frost_cell_op op);
/* The op called `name`, or -1. */
int frost_cell_op_from_name(const char *name);

#define FROST_CELL_MAX_NODES 6
#define FROST_CELL_MAX_EDGES (FROST_CELL_MAX_NODES * (FROST_CELL_MAX_NODES + 1) / 2)

/* A discrete cell: node j reads states in[j][0..n_in[j]) (0 = the cell's input, 1 + i =
 * node i) through operations op[j][..]. */
typedef struct {
    int nodes; /* 2..FROST_CELL_MAX_NODES */
    int n_in[FROST_CELL_MAX_NODES];
    int in[FROST_CELL_MAX_NODES][2];
    int op[FROST_CELL_MAX_NODES][2]; /* frost_cell_op, never NONE */
} frost_cell_genotype;

/* A cell pair: the normal cell and the reduction cell. */
typedef struct {
    frost_cell_genotype normal, reduce;
} frost_cell_pair;

/* FROST_OK if g is well formed (inputs in range and distinct, ops real). */
frost_status frost_cell_check(const frost_cell_genotype *g);
/* {"normal": {"nodes": 4, "edges": [[node, input, "op"], ...]}, "reduce": {...}};
 * malloc'd, NULL when out of memory. */
char *frost_cell_pair_to_json(const frost_cell_pair *p);
frost_status frost_cell_pair_from_json(const char *text, frost_cell_pair *out);
/* A Graphviz description of one cell (for `dot -Tsvg`); malloc'd. */
char *frost_cell_to_dot(const frost_cell_genotype *g, const char *title);

/* The network a cell is stacked into (the same for the supernet and the derived one). */
typedef struct {
    int in_h, in_w, in_c, classes;
    int cells;       /* reduction cells at cells/3 and 2*cells/3 (channels double there) */
    int nodes;       /* intermediate nodes per cell, 2..FROST_CELL_MAX_NODES */
    int channels;    /* C of the first cells (>= 8: channels never go below 8) */
    int stem_stride; /* 1 or 2: the 3x3 stem conv (2C channels) */
} frost_cell_net;

frost_cell_net frost_cell_net_default(void); /* 28x28x1, 10 classes, 5 cells, 4 nodes, C 8, stem stride 1 */

/* The candidate operations of every edge of one cell type (none allowed, at most 8
 * others). */
typedef struct {
    int n_ops[FROST_CELL_MAX_EDGES];
    int ops[FROST_CELL_MAX_EDGES][FROST_CELL_OP_COUNT];
} frost_cell_candidates;

/* Every edge gets the same list. */
frost_status frost_cell_candidates_all(int nodes, const int *ops, int n_ops,
                                       frost_cell_candidates *out);

/* The discrete network with cells p stacked as `net` says. */
frost_status frost_cell_build(const frost_cell_pair *p, const frost_cell_net *net,
                              frost_model **out);

/* ---- derivation ---- */

/* Mixing weights (softmax of alpha) of one cell type: w[e][k] is the weight of candidate
 * cand->ops[e][k]. */
typedef struct {
    float w[FROST_CELL_MAX_EDGES][FROST_CELL_OP_COUNT];
} frost_cell_weights;

/* DARTS' rule: for each node the two incoming edges with the largest weight of an op
 * other than none (one edge for node 0), each with that op; ties go to the lower input
 * and the earlier candidate. max_skips >= 0: P-DARTS' limit, applied by zeroing the
 * weakest chosen skip's weight and deriving again until at most max_skips remain
 * (-1: no limit). */
frost_status frost_cell_derive(const frost_cell_candidates *cand, const frost_cell_weights *w,
                               int nodes, int max_skips, frost_cell_genotype *out);

/* P-DARTS' search-space shrinking: keeps on every edge the `keep` strongest candidates
 * other than none (none stays if it was there). */
frost_status frost_cell_shrink(const frost_cell_candidates *cand, const frost_cell_weights *w,
                               int nodes, int keep, frost_cell_candidates *out);

/* ---- the supernet and the search ---- */

typedef struct frost_cell_supernet frost_cell_supernet;

/* A supernet: every edge a mix over its candidates (normal cells: cand[0], reduction:
 * cand[1]), a dropout after every skip candidate (P-DARTS; p set per epoch). */
frost_status frost_cell_supernet_build(const frost_cell_net *net, const frost_cell_candidates cand[2],
                                       frost_cell_supernet **out);
frost_model *frost_cell_supernet_model(frost_cell_supernet *s);
/* The current mixing weights of cell type t (0 normal, 1 reduce). */
void frost_cell_supernet_weights(const frost_cell_supernet *s, int t, frost_cell_weights *w);
void frost_cell_supernet_set_skip_dropout(frost_cell_supernet *s, float p);
/* frost_model_quantize on the supernet's model (use this, not that directly: the supernet
 * keeps node positions that quantizing moves). */
frost_status frost_cell_supernet_quantize(frost_cell_supernet *s, const frost_qconfig *qc);
void frost_cell_supernet_free(frost_cell_supernet *s);

#define FROST_CELL_MAX_STAGES 3

typedef struct {
    frost_cell_net net;      /* net.cells is stage 0's depth */
    int stages;              /* 1 = DARTS, 2..3 = P-DARTS */
    int cells[FROST_CELL_MAX_STAGES];      /* supernet depth per stage (P-DARTS: 5, 11, 17) */
    int keep[FROST_CELL_MAX_STAGES];       /* candidates (besides none) entering each stage */
    float skip_drop[FROST_CELL_MAX_STAGES]; /* P-DARTS' skip dropout p0 per stage */
    int ops[FROST_CELL_OP_COUNT];          /* the candidate list of stage 0, every edge */
    int n_ops;
    int epochs;              /* per stage */
    int warmup;              /* epochs per stage without alpha updates */
    int batch;
    float w_lr, w_lr_min, w_momentum, w_wd, w_clip; /* SGD, cosine */
    float a_lr, a_wd;                               /* Adam (0.5, 0.999) */
    int max_skips;           /* normal cell; -1 = no limit */
    /* quantization-aware search: the supernet trains with fake-quant (qconfig) after
     * fp_epochs float epochs (StatAssist) and GradBoost on its weights */
    const frost_qconfig *qconfig; /* NULL: float search */
    int fp_epochs;
    bool gradboost;
    uint64_t seed;
    int threads; /* 0 = all */
} frost_cell_search_config;

frost_cell_search_config frost_cell_search_defaults(void);

/* What the search reports after every epoch (and, with batch >= 0, every few batches). */
typedef struct {
    int stage, stages, epoch, epochs; /* 0-based stage and epoch */
    int batch, batches;               /* batch >= 0: a mid-epoch report */
    int cells;
    float train_loss, train_acc, val_acc; /* running over the epoch */
    float skip_p;
    bool alpha_updates;
    double seconds; /* since the search started */
    const frost_cell_candidates *cand; /* [2] */
    const frost_cell_weights *w;       /* [2] */
    const frost_cell_pair *derived;    /* the cells the weights give now */
} frost_cell_progress;

typedef void (*frost_cell_progress_fn)(const frost_cell_progress *p, void *user);

/* Searches on `train` (weights) and `val` (alpha, the held-out half); *out is the derived
 * pair after the last stage. */
frost_status frost_cell_search(const frost_dataset *train, const frost_dataset *val,
                               const frost_cell_search_config *cfg, frost_cell_progress_fn progress,
                               void *user, frost_cell_pair *out);

#endif
