/* frost compress: Deep Compression k-means weight sharing of an FP32 checkpoint
 * (docs/kmeans.md): prune, cluster, optionally fine-tune the centroids, report the sizes. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *const help =
    "usage: frost compress CHECKPOINT --bits N [options]\n"
    "k-means weight sharing (Deep Compression): every conv and linear weight tensor is\n"
    "clustered into 2^bits shared values (a float codebook + one index per weight),\n"
    "optionally after magnitude pruning, and the centroids can be fine-tuned on the\n"
    "training data. Prints per-layer and total sizes with Huffman-coded indices, and saves\n"
    "a checkpoint storing uint8 indices + codebooks that frost eval, quantize, convert and\n"
    "info read like any checkpoint (docs/kmeans.md).\n\n"
    "  --bits N            index bits of conv layers, 1..8 (required)\n"
    "  --fc-bits N         index bits of linear layers (default: --bits)\n"
    "  --prune FRACTION    prune this fraction of each layer's weights (smallest |w|) to\n"
    "                      exactly 0 first; 0 (default) keeps every weight\n"
    "  --max-iter N        Lloyd iterations at most (default 300)\n"
    "  -o, --out FILE      compressed checkpoint (default CHECKPOINT with\n"
    "                      .kmeans.safetensors)\n"
    "\ncentroid fine-tuning (needs the training data):\n"
    "  --finetune-epochs N epochs of training with shared weights (default 0: none);\n"
    "                      each centroid moves by -lr * the sum of its weights' gradients,\n"
    "                      biases and BN train with SGD at the same lr\n"
    "  --finetune-lr X     constant learning rate (default 0.001)\n"
    "  --batch N           batch size (default 64)\n"
    "  --limit N           fine-tune on the first N training images only\n"
    "  --seed N            shuffling and augmentation seed (default 1)\n"
    "  --threads N         threads (default: all cores)\n\n" CLI_DATA_HELP;

static const cli_opt options[] = {
    CLI_OPT_INT("bits", 1, FROST_KMEANS_MAX_BITS),
    CLI_OPT_INT("fc-bits", 1, FROST_KMEANS_MAX_BITS),
    CLI_OPT_FLOAT("prune", 0.0, 0.999),
    CLI_OPT_INT("max-iter", 1, 100000),
    CLI_OPT_INT("finetune-epochs", 0, 100000),
    CLI_OPT_FLOAT("finetune-lr", 1e-9, 10.0),
    CLI_OPT_INT("batch", 1, 65536),
    CLI_OPT_INT("limit", 1, 100000000),
    CLI_OPT_INT("seed", 0, 2147483647),
    CLI_OPT_INT("threads", 1, 1024),
    CLI_OPT_OUT,
    CLI_OPT_END,
};

/* One row of the size table (bits shown as bytes where that reads better). */
static void print_row(const char *name, int bits, const frost_kmeans_size *z)
{
    char b[16];
    if (bits > 0)
        snprintf(b, sizeof b, "%d", bits);
    else
        snprintf(b, sizeof b, "-");
    printf("%-28s %4s %9lld %9lld %11llu %10llu %9llu %11llu %6.3f %7.2fx\n", name, b,
           (long long)z->weights, (long long)z->nonzero, (unsigned long long)z->index_bits_huffman,
           (unsigned long long)z->gap_bits_huffman, (unsigned long long)z->codebook_bits,
           (unsigned long long)z->total_bits, z->bits_per_weight, z->ratio);
}

void cli_print_kmeans_table(const frost_kmeans_model *km)
{
    printf("%-28s %4s %9s %9s %11s %10s %9s %11s %6s %8s\n", "layer", "bits", "weights", "nonzero",
           "index bits", "gap bits", "codebook", "total bits", "bits/w", "ratio");
    for (int i = 0; i < km->n; i++)
        print_row(km->layers[i].name, km->layers[i].layer.bits, &km->layers[i].size);
    print_row("total", 0, &km->total);
    printf("(index and gap bits Huffman-coded; ratio = 32-bit floats / total bits; without "
           "Huffman: %llu bits, %.2fx)\n",
           (unsigned long long)km->total.total_bits_fixed,
           km->total.total_bits_fixed
               ? 32.0 * (double)km->total.weights / (double)km->total.total_bits_fixed
               : 0.0);
}

typedef struct {
    frost_kmeans_model *km;
    float lr;
} finetune_state;

/* After each optimizer step: centroids move by the summed gradients, weights are rewritten
 * from them (the optimizer's own change to the shared weights is discarded). */
static void finetune_after_step(frost_model *m, float lr, void *user)
{
    finetune_state *st = user;
    frost_kmeans_model_finetune_step(st->km, m, lr);
}

static frost_status finetune(frost_model *m, frost_kmeans_model *km, const cli_data_opts *data,
                             int epochs, float lr, int batch, int limit, int seed)
{
    frost_dataset train = {0}, test = {0};
    frost_status s = cli_load_data(data, true, true, &train, &test);
    if (s == FROST_OK)
        s = cli_fit_data_to_model(m, &train, &test);
    if (s == FROST_OK && limit > 0 && limit < train.n) {
        frost_dataset sub;
        s = frost_dataset_head(&train, limit, &sub);
        frost_dataset_free(&train);
        train = sub;
    }
    frost_train_config cfg = frost_train_defaults();
    cfg.epochs = epochs;
    cfg.batch = batch;
    cfg.seed = (uint64_t)seed;
    cfg.quiet = true;
    cfg.optim.wd = cfg.optim.wd_depthwise =
        0.0f; /* the codebook, not the optimizer, owns the shared weights */
    cfg.sched = (frost_schedule){.kind = FROST_SCHED_CONSTANT, .base_lr = lr};
    frost_preprocess pre = frost_model_preprocess(m);
    cfg.augment = frost_augment_for(&pre, cfg.augment);
    finetune_state st = {km, lr};
    cfg.after_step = finetune_after_step;
    cfg.after_step_user = &st;
    frost_train_result r;
    if (s == FROST_OK)
        s = frost_train(m, &train, NULL, &test, &cfg, NULL, NULL, &r);
    if (s == FROST_OK)
        printf("fine-tuned the centroids for %d epochs on %d images (lr %g): test accuracy "
               "%.2f%%\n",
               epochs, train.n, (double)lr, 100.0 * r.test_acc);
    frost_dataset_free(&train);
    frost_dataset_free(&test);
    return s;
}

int cmd_compress(int argc, char **argv)
{
    static const cli_opt *const tables[] = {options, cli_data_options, NULL};
    static const cli_spec spec = {"compress", help, tables, 1};
    cli_args a;
    if (!cli_parse(&a, &spec, argc, argv))
        return a.exit_code;
    if (a.n_positional != 1)
        return cli_usage_error(&a, "give one FP32 checkpoint");
    if (!cli_given(&a, "bits"))
        return cli_usage_error(&a, "--bits N is required (1..%d)", FROST_KMEANS_MAX_BITS);
    frost_kmeans_options o = {.conv_bits = cli_int(&a, "bits", 4)};
    o.fc_bits = cli_int(&a, "fc-bits", o.conv_bits);
    o.prune = cli_float(&a, "prune", 0.0f);
    o.max_iter = cli_int(&a, "max-iter", FROST_KMEANS_MAX_ITER);
    int epochs = cli_int(&a, "finetune-epochs", 0);
    float lr = cli_float(&a, "finetune-lr", 0.001f);
    int batch = cli_int(&a, "batch", 64), limit = cli_int(&a, "limit", 0);
    int seed = cli_int(&a, "seed", 1);
    frost_set_threads(cli_int(&a, "threads", 0));
    cli_data_opts data;
    cli_parse_data(&a, &data);
    const char *ckpt = a.positional[0];
    const char *out = cli_str(&a, "out", NULL);
    char out_default[4200];
    if (!out) {
        snprintf(out_default, sizeof out_default, "%.*s.kmeans.safetensors",
                 (int)cli_model_stem_len(ckpt), ckpt);
        out = out_default;
    }
    frost_model *m = NULL;
    frost_kmeans_model *km = NULL;
    frost_status s = frost_model_load(ckpt, &m);
    if (s == FROST_OK)
        s = frost_kmeans_compress_model(m, &o, &km);
    if (s == FROST_OK && epochs > 0)
        s = finetune(m, km, &data, epochs, lr, batch, limit, seed);
    if (s == FROST_OK)
        s = frost_checkpoint_save_kmeans(out, m, km);
    if (s == FROST_OK) {
        cli_print_kmeans_table(km);
        printf("compressed checkpoint saved to %s\n", out);
    }
    int rc = s == FROST_OK ? 0 : cli_error("compress");
    frost_kmeans_model_free(km);
    frost_model_free(m);
    return rc;
}
