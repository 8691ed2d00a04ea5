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

#endif
