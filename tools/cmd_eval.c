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

int cmd_eval(int argc, char **argv)
{
    cli_args a;
    cli_init(&a, "eval", argc, argv);
    if (cli_help(&a)) {
        fputs(help, stdout);
        return 0;
    }
    const char *split = cli_str(&a, "split", "test");
    int batch = cli_int(&a, "batch", 256, 1, 65536);
    int threads = cli_int(&a, "threads", 0, 0, 1024);
    bool want_train = strcmp(split, "train") == 0;
    if (!want_train && strcmp(split, "test") != 0) {
        fprintf(stderr, "frost eval: error: --split must be test or train (got '%s')\n", split);
        return 2;
    }
    frost_dataset train = {0}, test = {0};
    cli_data_opts data;
    cli_parse_data(&a, &data);
    if (!cli_finish(&a, 1))
        return 2;
    if (a.n_positional != 1) {
        fprintf(stderr, "frost eval: error: give one checkpoint (see frost eval --help)\n");
        return 2;
    }
    frost_status s = cli_load_data(&data, want_train, !want_train, &train, &test);
    if (s != FROST_OK)
        return cli_error("eval");
    frost_set_threads(threads);
    frost_model *m = NULL;
    float acc = 0, loss = 0;
    const frost_dataset *d = want_train ? &train : &test;
    frost_augment norm = frost_train_defaults().augment;
    s = frost_checkpoint_load_model(a.positional[0], &m);
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
