/*
 * Internals shared by the cell files (cell.c: operations and the discrete network;
 * cell_supernet.c: the mixed-op supernet; cell_search.c: the search loop).
 * Builders follow the graph's convention: a node index, or -1 with frost_last_error() set.
 */
#ifndef FROST_NAS_CELL_INTERNAL_H
#define FROST_NAS_CELL_INTERNAL_H

#include <stdbool.h>

#include "frost/cell.h"
#include "models/graph.h"

/* One candidate operation on an edge: C channels in and out, `stride`, layers named
 * <prefix>.*; "skip" at stride 1 adds no layer and returns `in`. */
int frost_cell_edge_op(frost_model *m, const char *prefix, int in, int c, int stride,
                       frost_cell_op op);

bool frost_cell_is_reduction(int cell, int cells);
frost_status frost_cell_net_check(const frost_cell_net *n);

/* Builds cell `cell` (a reduction cell if `reduction`, C channels) on node `in`;
 * returns its output node. */
typedef int (*frost_cell_build_fn)(frost_model *m, void *user, int cell, bool reduction, int in,
                                   int c);
/* stem (3x3 conv-BN-ReLU to 2C), the cells, then global pooling and the classifier. */
frost_status frost_cell_net_stack(const frost_cell_net *net, const char *model_name,
                                  frost_cell_build_fn cell, void *user, frost_model **out);

/* The pieces every cell has: state 0 (1x1 conv-BN-ReLU of the input to C channels),
 * a node's sum of its edges, and the output (concat of the last two nodes). Layers are
 * named <prefix>.pre, <prefix>.n<node>.add<k> and <prefix>.out ("c3" in a cell network,
 * "s2.b1" for a cell block of the architecture search). */
int frost_cell_preprocess(frost_model *m, const char *prefix, int in, int c);
int frost_cell_sum(frost_model *m, const char *prefix, int node, const int *terms, int n);
int frost_cell_output(frost_model *m, const char *prefix, const int *node_out, int nodes);

/* One discrete cell g (a reduction cell if `reduction`: its edges from the input have
 * stride 2) on node `in`, C channels inside, 2C out; layers named <prefix>.*. Returns its
 * output node. Shared by the cell network and the search space's cell blocks. */
int frost_cell_block(frost_model *m, const char *prefix, const frost_cell_genotype *g,
                     bool reduction, int in, int c);

static inline int frost_cell_edge_index(int node, int input)
{
    return node * (node + 1) / 2 + input;
}

#endif
