/* frost eval: accuracy of a checkpoint on the test (or training) split. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *const help =
    "usage: frost eval CHECKPOINT [options]\n"
    "Accuracy and loss of a trained checkpoint (FP32, BN in eval mode).\n\n" CLI_DATA_HELP
    "\n  --split test|train  which split (default test)\n"
    "  --batch N           batch size (default 256)\n"
    "  --threads N         threads (default: all cores)\n";

static const cli_opt options[] = {
    CLI_OPT_CHOICE("split", "test|train"),
    CLI_OPT_INT("batch", 1, 65536),
    CLI_OPT_INT("threads", 1, 1024),
    CLI_OPT_END,
};

int cmd_eval(int argc, char **argv)
{
    static const cli_opt *const tables[] = {options, cli_data_options, NULL};
    static const cli_spec spec = {"eval", help, tables, 1};
    cli_args a;
    if (!cli_parse(&a, &spec, argc, argv))
        return a.exit_code;
    const char *split = cli_str(&a, "split", "test");
    int batch = cli_int(&a, "batch", 256);
    int threads = cli_int(&a, "threads", 0);
    bool want_train = strcmp(split, "train") == 0;
    frost_dataset train = {0}, test = {0};
    cli_data_opts data;
    cli_parse_data(&a, &data);
    if (a.n_positional != 1)
        return cli_usage_error(&a, "give one checkpoint");
    frost_status s = cli_load_data(&data, want_train, !want_train, &train, &test);
    if (s != FROST_OK)
        return cli_error("eval");
    frost_set_threads(threads);
    frost_model *m = NULL;
    float acc = 0, loss = 0;
    const frost_dataset *d = want_train ? &train : &test;
    s = frost_model_load(a.positional[0], &m);
    frost_augment norm = m ? cli_model_norm(m) : frost_train_defaults().augment;
    if (s == FROST_OK)
        s = cli_fit_data_to_model(m, &train, &test);
    if (s == FROST_OK)
        s = frost_model_set_batch(m, batch);
    if (s == FROST_OK)
        s = frost_evaluate(m, d, &norm, batch, &acc, &loss);
    if (s == FROST_OK)
        printf("%s on %s split (%d images): accuracy %.2f%%  loss %.4f\n", a.positional[0], split,
               d->n, 100.0 * acc, (double)loss);
    int rc = s == FROST_OK ? 0 : cli_error("eval");
    frost_model_free(m);
    frost_dataset_free(&train);
    frost_dataset_free(&test);
    return rc;
}
