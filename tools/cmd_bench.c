/* frost bench: per-layer and total latency of an int8 model (median of repeated runs). */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const char *const help =
    "usage: frost bench MODEL.int8 [options]\n"
    "Batch-1 latency of the integer-only model: median over repeated runs, per layer\n"
    "(with GMAC/s) and in total.\n\n"
    "  --threads N         threads inside the kernels (default 1)\n"
    "  --reps N            timed runs (default 50)\n"
    "  --warmup N          untimed runs first (default 5)\n"
    "  --reference         use the portable reference kernels (no AVX2)\n";

int cmd_bench(int argc, char **argv)
{
    cli_args a;
    cli_init(&a, "bench", argc, argv);
    if (cli_help(&a)) {
        fputs(help, stdout);
        return 0;
    }
    int threads = cli_int(&a, "threads", 1, 1, 1024);
    int reps = cli_int(&a, "reps", 50, 1, 1000000);
    int warmup = cli_int(&a, "warmup", 5, 0, 1000000);
    bool reference = cli_flag(&a, "reference");
    if (!cli_finish(&a, 1))
        return 2;
    if (a.n_positional != 1) {
        fprintf(stderr, "frost bench: error: give one int8 model (see frost bench --help)\n");
        return 2;
    }
    frost_set_threads(threads);
    frost_int8_model *m = NULL;
    frost_status s = frost_int8_load(a.positional[0], &m);
    if (s != FROST_OK)
        return cli_error("bench");
    if (reference)
        frost_int8_force_reference(m, 1);
    int n = frost_int8_node_count(m);
    double total, *per = calloc((size_t)n, sizeof *per);
    s = per ? frost_int8_time(m, warmup, reps, &total, per)
            : frost_fail(FROST_ERR_NOMEM, "out of memory");
    if (s == FROST_OK) {
        printf("%-28s %-8s %10s %10s %8s\n", "layer", "op", "MMACs", "ms", "GMAC/s");
        for (int i = 1; i < n; i++) {
            double mm = (double)frost_int8_node_macs(m, i) / 1e6;
            printf("%-28s %-8s %10.3f %10.4f %8.1f\n", frost_int8_node_name(m, i),
                   frost_int8_node_op(m, i), mm, per[i], per[i] > 0 ? mm / per[i] : 0.0);
        }
        printf("total: %.4f ms per image (median of %d runs, %d thread%s), %.2f M MACs, %.1f "
               "GMAC/s\n", total, reps, threads, threads == 1 ? "" : "s",
               (double)frost_int8_macs(m) / 1e6, (double)frost_int8_macs(m) / 1e6 / total);
    }
    free(per);
    int rc = s == FROST_OK ? 0 : cli_error("bench");
    frost_int8_free(m);
    return rc;
}
