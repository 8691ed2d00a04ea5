/* frost run: accuracy of an int8 model on a data set. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char *const help =
    "usage: frost run MODEL.int8 | MODEL.qdq.onnx [options]\n"
    "Runs the integer-only model on every image of a split (one image at a time, as a\n"
    "deployed model runs) and prints the top-1 accuracy. A quantized (QDQ) ONNX model is\n"
    "imported on the fly (as frost import does).\n\n" CLI_DATA_HELP
    "\n  --split test|train  which split (default test)\n"
    "  --limit N           only the first N images\n"
    "  --threads N         threads inside the kernels (default 1)\n"
    "  --reference         use the portable reference kernels (no AVX2)\n"
    "  --requant MODE      fixed or float: override the model's requantization\n";

static const cli_opt options[] = {
    CLI_OPT_CHOICE("split", "test|train"),
    CLI_OPT_INT("limit", 1, 1 << 30),
    CLI_OPT_INT("threads", 1, 1024),
    CLI_OPT_FLAG("reference"),
    CLI_OPT_REQUANT,
    CLI_OPT_END,
};

int cmd_run(int argc, char **argv)
{
    static const cli_opt *const tables[] = {options, cli_data_options, NULL};
    static const cli_spec spec = {"run", help, tables, 1};
    cli_args a;
    if (!cli_parse(&a, &spec, argc, argv))
        return a.exit_code;
    const char *split = cli_str(&a, "split", "test");
    int limit = cli_int(&a, "limit", 0);
    int threads = cli_int(&a, "threads", 1);
    bool reference = cli_flag(&a, "reference");
    int requant = cli_requant(&a);
    cli_data_opts data;
    cli_parse_data(&a, &data);
    bool want_train = strcmp(split, "train") == 0;
    if (a.n_positional != 1)
        return cli_usage_error(&a, "give one int8 model");
    frost_set_threads(threads);
    frost_int8_model *m = NULL;
    frost_dataset train = {0}, test = {0}, head = {0};
    frost_status s = frost_int8_load(a.positional[0], &m);
    if (s == FROST_OK)
        s = cli_load_data(&data, want_train, !want_train, &train, &test);
    if (s == FROST_OK)
        s = cli_fit_data_to_int8(m, &train, &test);
    const frost_dataset *d = want_train ? &train : &test;
    if (s == FROST_OK && limit > 0 && limit < d->n) {
        s = frost_dataset_head(d, limit, &head);
        d = &head;
    }
    if (s == FROST_OK && reference)
        frost_int8_force_reference(m, 1);
    if (s == FROST_OK && requant >= 0)
        s = frost_int8_set_float_requant(m, requant);
    if (s == FROST_OK)
        cli_print_cpu(reference);
    float acc = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    frost_preprocess pre = m ? frost_int8_preprocess(m) : (frost_preprocess){0};
    frost_augment norm = frost_augment_for(&pre, frost_train_defaults().augment);
    if (s == FROST_OK)
        s = frost_int8_evaluate(m, d, &norm, &acc);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double sec = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (s == FROST_OK)
        printf("%s on %s split (%d images): int8 accuracy %.2f%%  (%.3f ms/image incl. "
               "input quantization)\n",
               a.positional[0], split, d->n, 100.0 * acc, 1e3 * sec / (d->n ? d->n : 1));
    int rc = s == FROST_OK ? 0 : cli_error("run");
    frost_int8_free(m);
    frost_dataset_free(&head);
    frost_dataset_free(&train);
    frost_dataset_free(&test);
    return rc;
}
