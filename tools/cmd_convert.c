/* frost convert: a QAT or PTQ checkpoint -> an int8 model file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const help =
    "usage: frost convert CHECKPOINT [options]\n"
    "Converts a fake-quant checkpoint (frost train --qat, or frost quantize --out) into an\n"
    "int8 model for the integer-only runtime: BN folded, int8 weights, int32 biases,\n"
    "fixed-point multipliers, fused clamps, tables for hard-swish and requantizing copies.\n\n"
    "  -o, --out FILE      the int8 model (default: CHECKPOINT with .int8 for .safetensors)\n"
    "  --requant MODE      fixed (default: TFLite fixed point, integer-only) or float\n"
    "                      (float32 scale per channel, as XNNPACK / ONNX Runtime; faster)\n"
    "  --bias-grid G       fine (default: conv / linear int32 biases on a grid up to 2^8\n"
    "                      finer than the accumulator step S_x S_w: fewer rounded outputs)\n"
    "                      or onnx (on S_x S_w, the int32 bias ONNX QLinearConv / QGemm\n"
    "                      take: frost export --onnx then carries the model exactly)\n"
    "  --compare           also report fake-quant vs int8 test accuracy and agreement\n"
    "  --fp32 CKPT         also compare the int8 model with this FP32 model (the checkpoint\n"
    "                      or .onnx it was quantized from): top-1 agreement on the test set\n"
    "                      and per-layer SQNR (dB) of each int8 layer's dequantized output\n"
    "                      against the FP32 layer of the same name, both models fed their\n"
    "                      own outputs from the input on (errors accumulate layer to layer)\n"
    "  --sqnr-images N     images for the SQNR (the first N test images; default 256)\n"
    "  --limit N           --compare / --fp32 on the first N test images only\n"
    "  --threads N         threads for --compare / --fp32 (default 1, as frost run: the int8\n"
    "                      model runs image by image, and waking threads for every layer of\n"
    "                      every image costs more than it gains on a busy "
    "machine)\n\n" CLI_DATA_HELP;

/* CKPT.safetensors -> CKPT.int8 (or CKPT + ".int8"). */
static void default_out(const char *ckpt, char *out, size_t n)
{
    snprintf(out, n, "%.*s.int8", (int)cli_model_stem_len(ckpt), ckpt);
}

static frost_status compare(frost_model *qm, frost_int8_model *im, const cli_data_opts *data,
                            int limit)
{
    frost_dataset train = {0}, test = {0}, head = {0};
    frost_status s = cli_load_data(data, false, true, &train, &test);
    if (s == FROST_OK)
        s = cli_fit_data_to_model(qm, NULL, &test);
    if (s != FROST_OK) {
        frost_dataset_free(&test);
        return s;
    }
    const frost_dataset *d = &test;
    if (limit > 0 && limit < test.n) {
        s = frost_dataset_head(&test, limit, &head);
        d = &head;
    }
    frost_augment norm = cli_model_norm(qm); /* the int8 model keeps the same */
    float acc_fq = 0, acc_i8 = 0, loss;
    if (s == FROST_OK)
        s = frost_model_set_batch(qm, 256);
    if (s == FROST_OK)
        s = frost_evaluate(qm, d, &norm, 256, &acc_fq, &loss);
    if (s == FROST_OK)
        s = frost_int8_evaluate(im, d, &norm, &acc_i8);
    if (s == FROST_OK)
        printf("test accuracy on %d images: fake-quant %.2f%%, int8 %.2f%% (difference %+.2f "
               "points)\n",
               d->n, 100.0 * acc_fq, 100.0 * acc_i8, 100.0 * (acc_i8 - acc_fq));
    frost_dataset_free(&head);
    frost_dataset_free(&test);
    return s;
}

static void print_fp32_report(const frost_int8_fp32_report *r)
{
    printf("int8 vs FP32 on %d test images: top-1 agreement %.2f%% (%d differ); accuracy FP32 "
           "%.2f%%, int8 %.2f%%\n",
           r->images, 100.0 * r->agree / (r->images ? r->images : 1), r->images - r->agree,
           100.0 * r->correct_fp32 / (r->images ? r->images : 1),
           100.0 * r->correct_int8 / (r->images ? r->images : 1));
    printf("per-layer SQNR on the first %d test images (int8 output dequantized vs the FP32 "
           "layer; end to end: each layer carries the error of the layers before it)\n",
           r->sqnr_images);
    printf("  %-32s %-9s %10s\n", "layer", "op", "SQNR dB");
    for (int i = 0; i < r->n_layers; i++) {
        const frost_int8_layer_sqnr *l = &r->layers[i];
        if (isinf(l->sqnr_db))
            printf("  %-32s %-9s %10s\n", l->name, l->op, "exact");
        else
            printf("  %-32s %-9s %10.2f\n", l->name, l->op, l->sqnr_db);
    }
}

static frost_status compare_fp32(frost_int8_model *im, const char *fp32_path,
                                 const cli_data_opts *data, int limit, int sqnr_images)
{
    frost_dataset train = {0}, test = {0}, head = {0};
    frost_model *fm = NULL;
    frost_int8_fp32_report r = {0};
    frost_status s = frost_model_load(fp32_path, &fm);
    if (s == FROST_OK)
        s = cli_load_data(data, false, true, &train, &test);
    if (s == FROST_OK)
        s = cli_fit_data_to_int8(im, NULL, &test);
    const frost_dataset *d = &test;
    if (s == FROST_OK && limit > 0 && limit < test.n) {
        s = frost_dataset_head(&test, limit, &head);
        d = &head;
    }
    frost_preprocess pre = frost_int8_preprocess(im);
    frost_augment norm = frost_augment_for(&pre, frost_train_defaults().augment);
    if (s == FROST_OK)
        s = frost_int8_compare_fp32(im, fm, d, &norm, sqnr_images, &r);
    if (s == FROST_OK)
        print_fp32_report(&r);
    frost_int8_fp32_report_free(&r);
    frost_dataset_free(&head);
    frost_dataset_free(&test);
    frost_model_free(fm);
    return s;
}

static const cli_opt options[] = {
    CLI_OPT_OUT,
    CLI_OPT_FLAG("compare"),
    CLI_OPT_INT("limit", 1, 1 << 30),
    CLI_OPT_INT("threads", 1, 1024),
    CLI_OPT_REQUANT,
    CLI_OPT_STR("fp32"),
    CLI_OPT_INT("sqnr-images", 0, 1 << 30),
    CLI_OPT_CHOICE("bias-grid", "fine|onnx"),
    CLI_OPT_END,
};

int cmd_convert(int argc, char **argv)
{
    static const cli_opt *const tables[] = {options, cli_data_options, NULL};
    static const cli_spec spec = {"convert", help, tables, 1};
    cli_args a;
    if (!cli_parse(&a, &spec, argc, argv))
        return a.exit_code;
    const char *out_opt = cli_str(&a, "out", NULL);
    bool want_compare = cli_flag(&a, "compare");
    int limit = cli_int(&a, "limit", 0);
    int threads = cli_int(&a, "threads", 1);
    int requant = cli_requant(&a);
    const char *fp32_path = cli_str(&a, "fp32", NULL);
    int sqnr_images = cli_int(&a, "sqnr-images", 256);
    frost_int8_convert_options copts = frost_int8_convert_defaults();
    copts.onnx_bias_grid = strcmp(cli_str(&a, "bias-grid", "fine"), "onnx") == 0;
    cli_data_opts data;
    cli_parse_data(&a, &data);
    if (a.n_positional != 1)
        return cli_usage_error(&a, "give one checkpoint");
    frost_set_threads(threads);
    char out[4096];
    if (out_opt)
        snprintf(out, sizeof out, "%s", out_opt);
    else
        default_out(a.positional[0], out, sizeof out);
    frost_model *qm = NULL;
    frost_int8_model *im = NULL;
    frost_status s = frost_model_load(a.positional[0], &qm);
    if (s == FROST_OK && !frost_model_is_quantized(qm))
        s = frost_fail(FROST_ERR_ARG,
                       "%s is an FP32 checkpoint: quantize it first (frost "
                       "quantize CKPT --out Q.safetensors, or frost train --qat)",
                       a.positional[0]);
    if (s == FROST_OK)
        s = frost_int8_from_model_opts(qm, &copts, &im);
    if (s == FROST_OK && requant == 1)
        s = frost_int8_set_float_requant(im, 1);
    if (s == FROST_OK)
        s = frost_int8_save(im, out);
    if (s == FROST_OK)
        printf("wrote %s: %d nodes, %zu weight bytes, %zu activation arena bytes, %.2f M "
               "MACs/image\n",
               out, frost_int8_node_count(im), frost_int8_weight_bytes(im),
               frost_int8_arena_bytes(im), (double)frost_int8_macs(im) / 1e6);
    if (s == FROST_OK && want_compare)
        s = compare(qm, im, &data, limit);
    if (s == FROST_OK && fp32_path)
        s = compare_fp32(im, fp32_path, &data, limit, sqnr_images);
    int rc = s == FROST_OK ? 0 : cli_error("convert");
    frost_int8_free(im);
    frost_model_free(qm);
    return rc;
}
