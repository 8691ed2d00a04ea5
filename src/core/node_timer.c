/* Per-node latency medians (see node_timer.h). */
#include "core/node_timer.h"

#include <stdlib.h>

#include "core/timer.h"

frost_status frost_time_nodes(const char *what, frost_run_node_fn run, void *engine, int n,
                              int warmup, int reps, double *total_ms, double *per_node_ms)
{
    if (reps < 1 || warmup < 0)
        return frost_fail(FROST_ERR_ARG, "%s time: reps must be >= 1", what);
    double *t = malloc((size_t)reps * (size_t)(n + 1) * sizeof(double));
    if (!t)
        return frost_fail(FROST_ERR_NOMEM, "%s time: out of memory", what);
    for (int r = -warmup; r < reps; r++) {
        double start = frost_now_ms(), prev = start;
        for (int i = 1; i < n; i++) {
            run(engine, i);
            double now = per_node_ms ? frost_now_ms() : 0.0;
            if (r >= 0 && per_node_ms)
                t[(size_t)i * reps + r] = now - prev;
            prev = now;
        }
        if (r >= 0)
            t[(size_t)n * reps + r] = frost_now_ms() - start;
    }
    if (per_node_ms) {
        per_node_ms[0] = 0.0;
        for (int i = 1; i < n; i++)
            per_node_ms[i] = frost_median(t + (size_t)i * reps, reps);
    }
    *total_ms = frost_median(t + (size_t)n * reps, reps);
    free(t);
    return FROST_OK;
}
