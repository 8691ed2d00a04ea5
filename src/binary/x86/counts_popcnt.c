/* The scalar loops with the POPCNT instruction (built with -mpopcnt; called only where
 * frost_bin_path_available(FROST_BIN_POPCNT) says the CPU has it). The benchmark
 * (bench/popcount.c) measures it beside the vector paths. */
#include "binary/counts_scalar.h"
#include "binary/kernels.h"

DEFINE_SCALAR_DOTS(frost_bin_dots_popcnt, __builtin_popcountll)
DEFINE_SCALAR_POPCOUNT(frost_bin_popcount_popcnt, __builtin_popcountll)
