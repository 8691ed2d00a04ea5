/*
 * Activation arena planning shared by the inference engines (int8 and FP32): tensors
 * in topological order, each with a byte size and the index of its last reader; the
 * planner gives each an offset so that tensors alive at the same time never overlap.
 */
#ifndef FROST_CORE_ARENA_PLAN_H
#define FROST_CORE_ARENA_PLAN_H

#include <stddef.h>

#include "frost/status.h"

/* Greedy by size (as TFLite's arena planner): biggest tensors first, each at the lowest
 * 64-byte aligned offset that no tensor alive at the same time occupies. Tensor i lives
 * from step i to step last[i] (>= i). Writes offset[i]; *peak = the arena bytes. */
frost_status frost_arena_plan(int n, const size_t *bytes, const int *last, size_t *offset,
                              size_t *peak);

/* One node of an engine's graph, as the liveness analysis sees it. */
typedef struct {
    size_t bytes; /* its output tensor's bytes (0: an alias, or not in the arena) */
    int tensor;   /* the node whose bytes hold its output: itself, or the one it aliases */
    int n_in;
    const int *in; /* the nodes it reads (earlier indices) */
} frost_arena_node;

/* Liveness, then frost_arena_plan: a tensor lives from its node until the last reader of
 * it or of any alias of it; the last node's tensor (the output) until the end. */
frost_status frost_arena_plan_graph(int n, const frost_arena_node *nodes, size_t *offset,
                                    size_t *peak);

#endif
