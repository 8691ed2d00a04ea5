/* Per-node latency of a graph engine (the int8 and FP32 inference engines): runs nodes
 * 1..n-1 in order `warmup` times, then `reps` times timing each, and reports medians. */
#ifndef FROST_CORE_NODE_TIMER_H
#define FROST_CORE_NODE_TIMER_H

#include "frost/status.h"

typedef void (*frost_run_node_fn)(void *engine, int node);

/* *total_ms: median of the whole pass; per_node_ms (n entries, [0] = 0; NULL = skip the
 * per-node clock reads): median of each node. `what` names the engine in errors. */
frost_status frost_time_nodes(const char *what, frost_run_node_fn run, void *engine, int n,
                              int warmup, int reps, double *total_ms, double *per_node_ms);

#endif
