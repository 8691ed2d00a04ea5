/* Shared pieces of the frost command-line tool: argument parsing, data and model options. */
#ifndef FROST_TOOLS_CLI_H
#define FROST_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "frost/frost.h"

/* A tiny option parser: "--name value", "--name=value" and flags. Positional
 * arguments are collected in order. Every lookup marks the option as used, so
 * cli_finish() can refuse unknown options with a clear message. */
typedef struct {
    const char *cmd;
    int argc;
    char **argv;
    bool used[256];
    const char *positional[8];
    int n_positional;
    bool failed;
} cli_args;

void cli_init(cli_args *a, const char *cmd, int argc, char **argv);
/* --requant fixed|float: 0 or 1; -1 when not given (or invalid, which fails the parse). */
int cli_requant(cli_args *a);
bool cli_help(cli_args *a);
bool cli_flag(cli_args *a, const char *name);
const char *cli_str(cli_args *a, const char *name, const char *def);
int cli_int(cli_args *a, const char *name, int def, int min, int max);
float cli_float(cli_args *a, const char *name, float def, float min, float max);
/* Returns false (after printing why) if an option was unknown or a value was bad. */
bool cli_finish(cli_args *a, int max_positional);

/* Prints "frost <cmd>: error: <last error>" and returns the exit code 1. */
int cli_error(const char *cmd);

/* Model selection shared by train and info: --model NAME | --arch FILE, --width, --input,
 * --in-channels, --classes, --act, --dropout, --head. `positional` may name a model too. */
typedef struct {
    const char *arch, *name; /* name: --model, or NULL */
    const char *positional;  /* a model named without --model (info), or NULL */
    frost_builtin_opts o;
    bool input_set, channels_set, classes_set;
} cli_model_opts;
/* Reads the model options (marks them used); sizes left unset take the defaults
 * given to cli_build_model (e.g. from the data set). */
void cli_parse_model(cli_args *a, cli_model_opts *mo);
frost_status cli_build_model(const cli_model_opts *mo, int default_input, int default_channels,
                             int default_classes, frost_model **out);
#define CLI_MODEL_HELP                                                                   \
    "model:\n"                                                                           \
    "  --model NAME        built-in: frostnet_s frostnet_b frostnet_l mobilenetv2\n"     \
    "                      mnasnet_b1 resnet (default frostnet_s)\n"                     \
    "  --arch FILE         architecture JSON instead (docs/architecture-json.md)\n"      \
    "  --width W           width multiplier (default 1.0)\n"                             \
    "  --input S           input size; strides adapt below 224 (docs/models.md)\n"       \
    "  --in-channels C     input channels\n"                                             \
    "  --classes K         output classes\n"                                             \
    "  --act relu|relu6    MobileNetV2 activation\n"                                     \
    "  --dropout P         dropout before the classifier\n"                              \
    "  --head N            width of the last 1x1 conv (FrostNet/MobileNetV2/MnasNet)\n"

/* Data selection: --data fashion-mnist | DIR (MNIST file names inside) and explicit
 * --train-images/--train-labels/--test-images/--test-labels paths. */
typedef struct {
    char train_images[4096], train_labels[4096], test_images[4096], test_labels[4096];
} cli_data_opts;
void cli_parse_data(cli_args *a, cli_data_opts *d);
frost_status cli_load_data(const cli_data_opts *d, bool need_train, bool need_test,
                           frost_dataset *train, frost_dataset *test);
#define CLI_DATA_HELP                                                                    \
    "data:\n"                                                                            \
    "  --data fashion-mnist|DIR  Fashion-MNIST from Debian's dataset-fashion-mnist\n"    \
    "                      (default), or a folder with MNIST-named IDX files\n"          \
    "                      (train-images-idx3-ubyte[.gz], ..., t10k-labels-idx1-ubyte[.gz])\n" \
    "  --train-images F --train-labels F --test-images F --test-labels F\n"             \
    "                      any IDX files (raw or .gz) instead\n"

/* Quantization options shared by train --qat, quantize and sensitivity: --qconfig FILE,
 * --w-bits B, --a-bits B, --per-tensor, --observer KIND. Builds the config (W8A8 by default,
 * then the file, then the flags); returns false after printing the reason. */
bool cli_parse_qconfig(cli_args *a, const char *default_observer, frost_qconfig **out);

#define CLI_QUANT_HELP                                                                   \
    "quantization (default W8A8: per-channel symmetric int8 weights, per-tensor\n"        \
    "asymmetric uint8 activations):\n"                                                  \
    "  --qconfig FILE      quantization config JSON (per-layer overrides, README)\n"     \
    "  --w-bits B          weight bits, 2..8\n"                                          \
    "  --a-bits B          activation bits, 2..8\n"                                      \
    "  --per-tensor        one weight scale per layer instead of per output channel\n"

/* PTQ calibration of a quantized model on a data set (eval-mode forwards), then fixed ranges. */
frost_status cli_calibrate(frost_model *m, const frost_dataset *calib, int batch);

/* What quantize and sensitivity start from: the test split, calibration images and an FP32
 * model (a quantized checkpoint is refused). */
typedef struct {
    frost_dataset test, calib;
    frost_model *model;
} cli_ptq_inputs;
frost_status cli_load_ptq_inputs(const cli_data_opts *data, const char *ckpt, int calib_n,
                                 uint64_t seed, cli_ptq_inputs *in);
void cli_free_ptq_inputs(cli_ptq_inputs *in);

/* The search's proxy data from the training split: n_val images held out (a seeded
 * split), then the first n_train of the rest. */
frost_status cli_load_proxy_data(const cli_data_opts *data, int n_train, int n_val,
                                 uint64_t seed, frost_dataset *train, frost_dataset *val);

int cmd_train(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_sensitivity(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_eval_candidate(int argc, char **argv);

#endif
