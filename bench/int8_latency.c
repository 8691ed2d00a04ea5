/*
 * bench_int8_latency: frost's side of bench/int8_latency. For each model (224x224 RGB,
 * 1000 classes, width 1.0, random weights: latency does not depend on their values)
 * it prepares the files the peers read, then times batch-1 inference:
 *   DIR/<model>.json         architecture (BN folded) for PyTorch / ONNX Runtime / XNNPACK
 *   DIR/<model>.safetensors  its FP32 weights
 *   DIR/<model>.int8         the int8 model (PTQ on random images), for frost and the
 *                            peers' int8 graphs (same scales, zero points and weights)
 *   DIR/<model>.layers.tsv   frost INT8 per-layer median ms at 1 thread (fixed-point and
 *                            float requantization)
 * and prints "model<TAB>engine<TAB>threads<TAB>median ms" lines for frost FP32 and INT8.
 *
 *   bench_int8_latency prepare DIR [--models "mobilenetv2 frostnet_s"]
 *   bench_int8_latency peak         (the CPU, its kernel paths and per-core peaks: peaks.h)
 *   bench_int8_latency cpu          (one line: frost_cpu_text)
 *   bench_int8_latency time DIR [--models ..] [--threads "1 2"] [--reps N]
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "core/timer.h"
#include "frost/frost.h"
#include "peaks.h"

static int fail(const char *what)
{
    fprintf(stderr, "bench_int8_latency: %s: %s\n", what, frost_last_error());
    return 1;
}

static int prepare(const char *dir, const char *name, frost_model **fp32, frost_int8_model **i8,
                   float *x)
{
    char path[4096];
    frost_builtin_opts o = frost_builtin_defaults();
    frost_model *m = NULL, *q = NULL;
    if (frost_model_builtin(name, &o, &m) != FROST_OK)
        return fail(name);
    frost_model_init_weights(m, 1);
    /* BN running statistics from training-mode forwards on random images, so the
     * eval-mode network keeps its activations near unit scale (with the initial
     * statistics they fade to ~1e-10 by the logits and int8 would round them to 0) */
    if (frost_model_set_batch(m, 2) != FROST_OK)
        return fail("plan");
    for (int i = 0; i < 40; i++)
        if (frost_model_forward(m, x, 2, true) != FROST_OK)
            return fail("statistics");
    if (frost_model_fold_bn(m, fp32) != FROST_OK)
        return fail("fold");
    char *json = frost_model_to_json(*fp32);
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    if (frost_write_file_atomic(path, json, strlen(json)) != FROST_OK)
        return fail(path);
    free(json);
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
    if (frost_checkpoint_save_weights(path, *fp32) != FROST_OK)
        return fail(path);
    /* int8: quantize the BN model (BN folds into the weights), calibrate on 2 images */
    q = m;
    frost_qconfig *c;
    if (frost_qconfig_default(&c) != FROST_OK || frost_model_quantize(q, c) != FROST_OK ||
        frost_model_set_batch(q, 2) != FROST_OK ||
        frost_model_set_qmode(q, FROST_QMODE_CALIBRATE) != FROST_OK ||
        frost_model_forward(q, x, 2, false) != FROST_OK ||
        frost_model_set_qmode(q, FROST_QMODE_FIXED) != FROST_OK)
        return fail("quantize");
    frost_qconfig_free(c);
    snprintf(path, sizeof path, "%s/%s.int8", dir, name);
    if (frost_int8_convert(q, path) != FROST_OK || frost_int8_load(path, i8) != FROST_OK)
        return fail(path);
    frost_model_free(q);
    return frost_model_set_batch(*fp32, 1) == FROST_OK ? 0 : fail("plan");
}

/* Per-layer medians at 1 thread, fixed-point and float requantization side by side. */
static void write_layers(const char *dir, const char *name, frost_int8_model *m, int reps)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.layers.tsv", dir, name);
    FILE *f = fopen(path, "w");
    int n = frost_int8_node_count(m);
    double total, *per = calloc((size_t)n * 2, sizeof *per);
    frost_set_threads(1);
    for (int fp = 0; fp < 2; fp++) {
        frost_int8_set_float_requant(m, fp);
        frost_int8_time(m, 3, reps, &total, per + (size_t)n * fp);
    }
    frost_int8_set_float_requant(m, 0);
    for (int i = 1; f && i < n; i++)
        fprintf(f, "%s\t%s\t%lld\t%.5f\t%.5f\n", frost_int8_node_name(m, i),
                frost_int8_node_op(m, i), (long long)frost_int8_node_macs(m, i), per[i],
                per[n + i]);
    if (f)
        fclose(f);
    free(per);
}

/* Loads what `prepare` wrote and prints the frost FP32 and INT8 medians. */
static int time_model(const char *dir, const char *name, const char *threads, int reps)
{
    char path[4096];
    frost_model *fp32 = NULL;
    frost_int8_model *i8 = NULL;
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
    frost_fp32_model *engine = NULL;
    if (frost_checkpoint_load_model(path, &fp32) != FROST_OK ||
        frost_fp32_create(fp32, &engine) != FROST_OK)
        return fail(path);
    snprintf(path, sizeof path, "%s/%s.int8", dir, name);
    if (frost_int8_load(path, &i8) != FROST_OK)
        return fail(path);
    write_layers(dir, name, i8, reps);
    char tl[256];
    snprintf(tl, sizeof tl, "%s", threads);
    char *save = NULL;
    for (char *t = strtok_r(tl, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        int nt = atoi(t);
        frost_set_threads(nt);
        double ms8, ms8f, ms32;
        frost_fp32_time(engine, 3, reps, &ms32, NULL);
        frost_int8_time(i8, 3, reps, &ms8, NULL);
        frost_int8_set_float_requant(i8, 1);
        frost_int8_time(i8, 3, reps, &ms8f, NULL);
        frost_int8_set_float_requant(i8, 0);
        printf("%s\tfrost FP32\t%d\t%.3f\n%s\tfrost INT8\t%d\t%.3f\n%s\tfrost INT8 float-rq\t%d\t"
               "%.3f\n",
               name, nt, ms32, name, nt, ms8, name, nt, ms8f);
        fflush(stdout);
    }
    frost_fp32_free(engine);
    frost_model_free(fp32);
    frost_int8_free(i8);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "peak")) {
        bench_print_peaks(stdout);
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "cpu")) {
        frost_cpu_info c;
        char text[FROST_CPU_TEXT_MAX];
        frost_cpu_describe(&c);
        frost_cpu_text(&c, text, sizeof text);
        printf("%s\n", text);
        return 0;
    }
    if (argc < 3 || (strcmp(argv[1], "prepare") && strcmp(argv[1], "time"))) {
        fprintf(stderr, "usage: bench_int8_latency prepare|time DIR [--models LIST] "
                        "[--threads LIST] [--reps N] | peak | cpu\n");
        return 2;
    }
    bool do_prepare = !strcmp(argv[1], "prepare");
    const char *dir = argv[2], *models = "mobilenetv2 frostnet_s frostnet_b frostnet_l",
               *threads = "1 2";
    int reps = 30;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--models") && i + 1 < argc)
            models = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "bench_int8_latency: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (reps < 1)
        reps = 1;
    float *x = malloc(sizeof(float) * 2 * 224 * 224 * 3);
    frost_rng r;
    frost_rng_seed(&r, 1);
    for (int i = 0; i < 2 * 224 * 224 * 3; i++)
        x[i] = 4.0f * frost_rng_uniform(&r) - 2.0f;
    char list[1024];
    snprintf(list, sizeof list, "%s", models);
    int rc = 0;
    for (char *name = strtok(list, " "); name && !rc; name = strtok(NULL, " ")) {
        if (do_prepare) {
            frost_model *fp32 = NULL;
            frost_int8_model *i8 = NULL;
            rc = prepare(dir, name, &fp32, &i8, x);
            frost_model_free(fp32);
            frost_int8_free(i8);
        } else {
            rc = time_model(dir, name, threads, reps);
        }
    }
    free(x);
    return rc;
}
