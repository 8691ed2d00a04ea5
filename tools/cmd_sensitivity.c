/* frost sensitivity: which layer breaks quantization? Quantize one layer at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const help =
    "usage: frost sensitivity CHECKPOINT [options]\n"
    "Per-layer quantization sensitivity of an FP32 checkpoint: calibrates every range,\n"
    "then quantizes only one layer at a time (its weights and its output) and reports\n"
    "the test accuracy drop against FP32, worst layers marked.\n\n"
    "  --calib N           calibration images from the training split (default 2048)\n"
    "  --observer KIND     minmax, ema, hist (default), percentile or entropy\n" CLI_QUANT_HELP
    "  --test-limit N      evaluate on the first N test images (default 2000; 0 = all)\n"
    "  --sort              sort by accuracy drop, worst first\n"
    "  --batch N           batch size (default 256)\n"
    "  --threads N         threads (default: all cores)\n\n" CLI_DATA_HELP;

typedef struct {
    int layer;
    float acc;
} row;

static int by_acc(const void *a, const void *b)
{
    float x = ((const row *)a)->acc, y = ((const row *)b)->acc;
    return (x > y) - (x < y);
}

static frost_status run_rows(frost_model *m, const frost_dataset *test, int batch, row *rows, int n)
{
    frost_augment norm = cli_model_norm(m);
    for (int i = 0; i < n; i++) {
        frost_model_quantize_only(m, i);
        rows[i].layer = i;
        frost_status s = frost_evaluate(m, test, &norm, batch, &rows[i].acc, NULL);
        if (s != FROST_OK)
            return s;
        fprintf(stderr, "\r[%d/%d] %-40s", i + 1, n, frost_model_qlayer_name(m, i));
    }
    fprintf(stderr, "\r%60s\r", "");
    frost_model_quantize_only(m, -1);
    return FROST_OK;
}

static void print_table(const frost_model *m, const row *rows, int n, float acc_fp, float acc_all)
{
    printf("%-4s %-32s %5s %5s %9s %8s\n", "#", "layer", "W", "A", "accuracy", "drop");
    printf("(drop: FP32 accuracy minus accuracy with only this layer quantized, in points)\n");
    for (int i = 0; i < n; i++) {
        int wb, ab;
        frost_model_qlayer_bits(m, rows[i].layer, &wb, &ab);
        char w[8] = "-", a[8] = "-";
        if (wb)
            snprintf(w, sizeof w, "%d", wb);
        if (ab)
            snprintf(a, sizeof a, "%d", ab);
        double drop = 100.0 * ((double)acc_fp - rows[i].acc);
        printf("%-4d %-32s %5s %5s %8.2f%% %8.2f%s\n", rows[i].layer,
               frost_model_qlayer_name(m, rows[i].layer), w, a, 100.0 * rows[i].acc, drop + 0.0,
               drop >= 0.5 ? "  <==" : ""); /* + 0.0: no "-0.00" */
    }
    printf("FP32 %.2f%%, every layer quantized %.2f%% (%+.2f points)\n", 100.0 * acc_fp,
           100.0 * acc_all, 100.0 * ((double)acc_all - acc_fp));
}

static const cli_opt options[] = {
    CLI_OPT_INT("calib", 1, 10000000),
    CLI_OPT_INT("test-limit", 0, 100000000),
    CLI_OPT_INT("batch", 1, 65536),
    CLI_OPT_INT("threads", 1, 1024),
    CLI_OPT_FLAG("sort"),
    CLI_OPT_END,
};

int cmd_sensitivity(int argc, char **argv)
{
    static const cli_opt *const tables[] = {options, cli_quant_options, cli_data_options, NULL};
    static const cli_spec spec = {"sensitivity", help, tables, 1};
    cli_args a;
    if (!cli_parse(&a, &spec, argc, argv))
        return a.exit_code;
    int calib_n = cli_int(&a, "calib", 2048);
    int test_limit = cli_int(&a, "test-limit", 2000);
    int batch = cli_int(&a, "batch", 256);
    int threads = cli_int(&a, "threads", 0);
    bool sort = cli_flag(&a, "sort");
    cli_data_opts data;
    cli_parse_data(&a, &data);
    if (a.n_positional != 1)
        return cli_usage_error(&a, "give one FP32 checkpoint");
    frost_qconfig *qc = NULL;
    if (!cli_parse_qconfig(&a, "hist", &qc))
        return 1;
    frost_set_threads(threads);
    cli_ptq_inputs in;
    frost_dataset test = {0};
    row *rows = NULL;
    float acc_fp = 0, acc_all = 0;
    frost_status s = cli_load_ptq_inputs(&data, a.positional[0], calib_n, 1, &in);
    frost_model *m = in.model;
    frost_augment norm = m ? cli_model_norm(m) : frost_train_defaults().augment;
    const frost_dataset calib = in.calib;
    if (s == FROST_OK)
        s = frost_dataset_head(
            &in.test, test_limit > 0 && test_limit < in.test.n ? test_limit : in.test.n, &test);
    if (s == FROST_OK)
        s = frost_evaluate(m, &test, &norm, batch, &acc_fp, NULL);
    if (s == FROST_OK)
        s = frost_model_quantize(m, qc);
    if (s == FROST_OK)
        s = cli_calibrate(m, &calib, batch);
    if (s == FROST_OK)
        s = frost_evaluate(m, &test, &norm, batch, &acc_all, NULL);
    int n = s == FROST_OK ? frost_model_qlayer_count(m) : 0;
    if (s == FROST_OK && !(rows = calloc((size_t)n + 1, sizeof *rows)))
        s = frost_fail(FROST_ERR_NOMEM, "out of memory");
    if (s == FROST_OK) {
        printf("%s: %d quantized layers, test on %d images, calibrated on %d\n", a.positional[0], n,
               test.n, calib.n);
        s = run_rows(m, &test, batch, rows, n);
    }
    if (s == FROST_OK) {
        if (sort)
            qsort(rows, (size_t)n, sizeof *rows, by_acc);
        print_table(m, rows, n, acc_fp, acc_all);
    }
    int rc = s == FROST_OK ? 0 : cli_error("sensitivity");
    free(rows);
    frost_qconfig_free(qc);
    cli_free_ptq_inputs(&in);
    frost_dataset_free(&test);
    return rc;
}
