/* frost bench: batch-1 latency, per layer, of an int8 model or of an FP32 checkpoint
 * (frost/infer.h: BN folded, activations fused), median of repeated runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/timer.h"

static const char *const help =
    "usage: frost bench MODEL.int8 | MODEL.qdq.onnx | CHECKPOINT.safetensors [options]\n"
    "Batch-1 inference latency, median over repeated runs. An int8 model is timed layer\n"
    "by layer (with GMAC/s); an FP32 checkpoint runs on frost's FP32 inference engine\n"
    "(every conv->BN folded, activations fused, the same layers the int8 engine runs).\n"
    "A quantized (QDQ) ONNX model runs on the int8 engine, a float one as FP32.\n\n"
    "  --threads N         threads inside the kernels (default 1)\n"
    "  --reps N            timed runs (default 50)\n"
    "  --warmup N          untimed runs first (default 5)\n"
    "  --reference         int8: use the portable reference kernels (no AVX2)\n"
    "  --requant MODE      int8: fixed or float, overriding the model's requantization\n";

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n > k && strcmp(s + n - k, suf) == 0;
}

static int bench_fp32(const char *path, int threads, int warmup, int reps)
{
    frost_model *m = NULL;
    frost_fp32_model *e = NULL;
    frost_status s = frost_model_load(path, &m);
    if (s == FROST_OK && frost_model_is_quantized(m))
        s = frost_fail(FROST_ERR_ARG,
                       "%s is a fake-quant checkpoint: time its int8 model "
                       "(frost convert) or the FP32 checkpoint it came from",
                       path);
    if (s == FROST_OK)
        s = frost_fp32_create(m, &e);
    int n = e ? frost_fp32_node_count(e) : 0;
    double total, *per = calloc((size_t)n + 1, sizeof *per);
    if (s == FROST_OK && !per)
        s = frost_fail(FROST_ERR_NOMEM, "out of memory");
    if (s == FROST_OK)
        s = frost_fp32_time(e, warmup, reps, &total, per);
    if (s == FROST_OK) {
        cli_print_cpu(false);
        printf("%-28s %-8s %10s %10s %8s\n", "layer", "op", "MMACs", "ms", "GMAC/s");
        for (int i = 1; i < n; i++) {
            if (strcmp(frost_fp32_node_op(e, i), "alias") == 0)
                continue; /* fused into the layer before (or a no-op) */
            double mm = (double)frost_fp32_node_macs(e, i) / 1e6;
            printf("%-28s %-8s %10.3f %10.4f %8.1f\n", frost_fp32_node_name(e, i),
                   frost_fp32_node_op(e, i), mm, per[i], per[i] > 0 ? mm / per[i] : 0.0);
        }
        double macs = (double)frost_fp32_macs(e) / 1e6;
        printf("FP32 (BN folded) total: %.4f ms per image (median of %d runs, %d thread%s), "
               "%.2f M MACs, %.1f GMAC/s\n",
               total, reps, threads, threads == 1 ? "" : "s", macs, macs / total);
    }
    free(per);
    frost_fp32_free(e);
    frost_model_free(m);
    return s == FROST_OK ? 0 : cli_error("bench");
}

static int bench_int8(const char *path, int threads, int warmup, int reps, bool reference,
                      int requant)
{
    frost_int8_model *m = NULL;
    if (frost_int8_load(path, &m) != FROST_OK ||
        (requant >= 0 && frost_int8_set_float_requant(m, requant) != FROST_OK)) {
        frost_int8_free(m);
        return cli_error("bench");
    }
    if (reference)
        frost_int8_force_reference(m, 1);
    int n = frost_int8_node_count(m);
    double total, *per = calloc((size_t)n, sizeof *per);
    frost_status s = per ? frost_int8_time(m, warmup, reps, &total, per)
                         : frost_fail(FROST_ERR_NOMEM, "out of memory");
    if (s == FROST_OK) {
        cli_print_cpu(reference);
        printf("%-28s %-8s %10s %10s %8s\n", "layer", "op", "MMACs", "ms", "GMAC/s");
        for (int i = 1; i < n; i++) {
            double mm = (double)frost_int8_node_macs(m, i) / 1e6;
            printf("%-28s %-8s %10.3f %10.4f %8.1f\n", frost_int8_node_name(m, i),
                   frost_int8_node_op(m, i), mm, per[i], per[i] > 0 ? mm / per[i] : 0.0);
        }
        printf("INT8 (%s requant) total: %.4f ms per image (median of %d runs, %d thread%s), "
               "%.2f M MACs, %.1f GMAC/s\n",
               frost_int8_float_requant(m) ? "float" : "fixed-point", total, reps, threads,
               threads == 1 ? "" : "s", (double)frost_int8_macs(m) / 1e6,
               (double)frost_int8_macs(m) / 1e6 / total);
    }
    free(per);
    frost_int8_free(m);
    return s == FROST_OK ? 0 : cli_error("bench");
}

static const cli_opt options[] = {
    CLI_OPT_INT("threads", 1, 1024),
    CLI_OPT_INT("reps", 1, 1000000),
    CLI_OPT_INT("warmup", 0, 1000000),
    CLI_OPT_FLAG("reference"),
    CLI_OPT_REQUANT,
    CLI_OPT_END,
};

int cmd_bench(int argc, char **argv)
{
    static const cli_opt *const tables[] = {options, NULL};
    static const cli_spec spec = {"bench", help, tables, 1};
    cli_args a;
    if (!cli_parse(&a, &spec, argc, argv))
        return a.exit_code;
    int threads = cli_int(&a, "threads", 1);
    int reps = cli_int(&a, "reps", 50);
    int warmup = cli_int(&a, "warmup", 5);
    bool reference = cli_flag(&a, "reference");
    int requant = cli_requant(&a);
    if (a.n_positional != 1)
        return cli_usage_error(&a, "give one int8 model or checkpoint");
    frost_set_threads(threads);
    const char *path = a.positional[0];
    if (has_suffix(path, ".safetensors") ||
        (has_suffix(path, ".onnx") && frost_int8_onnx_is_qdq(path) == 0))
        return bench_fp32(path, threads, warmup, reps);
    return bench_int8(path, threads, warmup, reps, reference, requant);
}
