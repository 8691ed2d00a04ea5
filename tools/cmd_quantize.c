/* frost quantize: post-training quantization of an FP32 checkpoint (calibrate, compare). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char *const help =
    "usage: frost quantize CHECKPOINT [options]\n"
    "Post-training quantization: fold BN, insert fake-quant, calibrate the activation\n"
    "ranges on N training images, and report FP32 vs fake-quant test accuracy. Saves\n"
    "the fake-quant model (a checkpoint `frost eval` and `frost train --from` read).\n\n"
    "  --calib N           calibration images, a seeded random subset of the training\n"
    "                      split (default 2048)\n"
    "  --observer KIND     minmax, ema, hist (L2 histogram search, default), percentile\n"
    "                      (the percentile is set in --qconfig, default 99.99) or entropy\n"
    "                      (TensorRT's KL-divergence threshold)\n" CLI_QUANT_HELP
    "  -o, --out FILE      fake-quant checkpoint (default CHECKPOINT with .ptq.safetensors)\n"
    "  --batch N           batch size (default 256)\n"
    "  --seed N            calibration subset seed (default 1)\n"
    "  --threads N         threads (default: all cores)\n\n" CLI_DATA_HELP;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* "<stem>.ptq.safetensors" next to the input checkpoint. */
static void default_out(const char *ckpt, char *out, size_t size)
{
    snprintf(out, size, "%.*s.ptq.safetensors", (int)cli_model_stem_len(ckpt), ckpt);
}

static const cli_opt options[] = {
    CLI_OPT_INT("calib", 1, 10000000),
    CLI_OPT_INT("batch", 1, 65536),
    CLI_OPT_INT("threads", 1, 1024),
    CLI_OPT_INT("seed", 0, 2147483647),
    CLI_OPT_OUT,
    CLI_OPT_END,
};

int cmd_quantize(int argc, char **argv)
{
    static const cli_opt *const tables[] = {options, cli_quant_options, cli_data_options, NULL};
    static const cli_spec spec = {"quantize", help, tables, 1};
    cli_args a;
    if (!cli_parse(&a, &spec, argc, argv))
        return a.exit_code;
    int calib_n = cli_int(&a, "calib", 2048);
    int batch = cli_int(&a, "batch", 256);
    int threads = cli_int(&a, "threads", 0);
    int seed = cli_int(&a, "seed", 1);
    const char *out = cli_str(&a, "out", NULL);
    cli_data_opts data;
    cli_parse_data(&a, &data);
    if (a.n_positional != 1)
        return cli_usage_error(&a, "give one FP32 checkpoint");
    frost_qconfig *qc = NULL;
    if (!cli_parse_qconfig(&a, "hist", &qc))
        return 1;
    const char *ckpt = a.positional[0];
    char out_default[4200];
    if (!out) {
        default_out(ckpt, out_default, sizeof out_default);
        out = out_default;
    }
    frost_set_threads(threads);
    cli_ptq_inputs in;
    float acc_fp = 0, acc_q = 0;
    frost_status s = cli_load_ptq_inputs(&data, ckpt, calib_n, (uint64_t)seed, &in);
    frost_model *m = in.model;
    frost_augment norm = m ? cli_model_norm(m) : frost_train_defaults().augment;
    const frost_dataset test = in.test, calib = in.calib;
    if (s == FROST_OK)
        s = frost_evaluate(m, &test, &norm, batch, &acc_fp, NULL);
    if (s == FROST_OK)
        s = frost_model_quantize(m, qc);
    double t1 = now_s();
    if (s == FROST_OK) {
        printf("calibrating on %d training images: %s\n", calib.n, frost_model_qconfig_json(m));
        fflush(stdout);
        s = cli_calibrate(m, &calib, batch);
    }
    double t2 = now_s();
    if (s == FROST_OK)
        s = frost_evaluate(m, &test, &norm, batch, &acc_q, NULL);
    char calib_json[256];
    snprintf(calib_json, sizeof calib_json, "{\"split\": \"train\", \"images\": %d, \"seed\": %d}",
             calib.n, seed);
    frost_st_meta meta[1] = {{"frost.calibration", calib_json}};
    if (s == FROST_OK) /* how it was calibrated, for whoever reads the file later */
        s = frost_checkpoint_save_weights_meta(out, m, meta, 1);
    if (s == FROST_OK) {
        printf("%-12s test accuracy %6.2f%%\n", "FP32", 100.0 * acc_fp);
        printf("%-12s test accuracy %6.2f%%  (%+.2f points)\n", "fake-quant", 100.0 * acc_q,
               100.0 * ((double)acc_q - acc_fp));
        printf("calibration %.1fs, fake-quant model saved to %s (with %s)\n", t2 - t1, out,
               calib_json);
    }
    int rc = s == FROST_OK ? 0 : cli_error("quantize");
    frost_qconfig_free(qc);
    cli_free_ptq_inputs(&in);
    return rc;
}
