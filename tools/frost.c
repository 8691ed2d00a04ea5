/* frost: the command-line tool. One subcommand per file (tools/cmd_*.c). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *const usage =
    "usage: frost COMMAND [options]   (frost COMMAND --help for details)\n\n"
    "commands:\n"
    "  train     train a model on Fashion-MNIST or any IDX data set\n"
    "  eval      accuracy of a checkpoint (FP32 or fake-quant)\n"
    "  quantize  post-training quantization: calibrate, report FP32 vs quantized accuracy\n"
    "  sensitivity  per-layer accuracy drop when only that layer is quantized\n"
    "  compress  k-means weight sharing (Deep Compression): indices + codebooks, sizes\n"
    "  convert   a QAT/PTQ checkpoint -> an int8 model for the integer-only runtime\n"
    "  run       accuracy of an int8 model on a data set\n"
    "  predict   top classes of a model for your own images (PNG, JPEG, PGM/PPM)\n"
    "  bench     per-layer and total latency of an int8 model\n"
    "  export    an int8 model as C source for microcontrollers (--c DIR)\n"
    "  import    an ONNX model -> a frost checkpoint (any command also takes the .onnx)\n"
    "  info      per-layer shapes, parameters and MACs (int8 models: --memory)\n"
    "  search    quantization-aware architecture search with measured int8 latency\n"
    "  eval-candidate  train and measure one architecture-search candidate (int8)\n"
    "  cell-search  DARTS / P-DARTS cell search, optionally quantization-aware\n"
    "  version   print the version (also: frost --version, frost COMMAND --version)\n\n"
    "Options: --name value or --name=value (-o FILE for --out where a command writes one\n"
    "file or folder); a repeated option: the last one wins; -- ends the options.\n"
    "Exit status: 0 success, 1 runtime error (files, data, training), 2 usage error.\n";

static int run_command(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "train") == 0)
        return cmd_train(argc - 1, argv + 1);
    if (strcmp(cmd, "eval") == 0)
        return cmd_eval(argc - 1, argv + 1);
    if (strcmp(cmd, "quantize") == 0)
        return cmd_quantize(argc - 1, argv + 1);
    if (strcmp(cmd, "sensitivity") == 0)
        return cmd_sensitivity(argc - 1, argv + 1);
    if (strcmp(cmd, "compress") == 0)
        return cmd_compress(argc - 1, argv + 1);
    if (strcmp(cmd, "convert") == 0)
        return cmd_convert(argc - 1, argv + 1);
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "predict") == 0)
        return cmd_predict(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0)
        return cmd_bench(argc - 1, argv + 1);
    if (strcmp(cmd, "export") == 0)
        return cmd_export(argc - 1, argv + 1);
    if (strcmp(cmd, "import") == 0)
        return cmd_import(argc - 1, argv + 1);
    if (strcmp(cmd, "info") == 0)
        return cmd_info(argc - 1, argv + 1);
    if (strcmp(cmd, "search") == 0)
        return cmd_search(argc - 1, argv + 1);
    if (strcmp(cmd, "eval-candidate") == 0)
        return cmd_eval_candidate(argc - 1, argv + 1);
    if (strcmp(cmd, "cell-search") == 0)
        return cmd_cell_search(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("frost %s\n", FROST_CLI_VERSION);
        return 0;
    }
    fprintf(stderr, "frost: error: unknown command '%s'\n%s", cmd, usage);
    return 2;
}

/* FROST_PROFILE=1: the library timed every op kind of the graphs the command ran; the
 * table goes to stderr after the command (nothing when no graph ran or the variable is
 * unset, as the library then collects nothing). */
static void print_profile(void)
{
    frost_profile_entry e[FROST_PROFILE_MAX_ENTRIES];
    int n = frost_profile_get(e, FROST_PROFILE_MAX_ENTRIES);
    if (n <= 0)
        return;
    double total = 0;
    for (int i = 0; i < n; i++)
        total += e[i].seconds;
    fprintf(stderr, "frost profile (%.2fs in graph ops):\n", total);
    for (int i = 0; i < n; i++)
        fprintf(stderr, "  %-9s %-8s %8.3fs %5.1f%%  %ld calls\n", e[i].direction, e[i].op,
                e[i].seconds, 100.0 * e[i].seconds / total, e[i].calls);
}

int main(int argc, char **argv)
{
    int rc = run_command(argc, argv);
    print_profile();
    return rc;
}
