/* Shared pieces of the frost command-line tool: argument parsing, data and model options. */
#ifndef FROST_TOOLS_CLI_H
#define FROST_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "frost/frost.h"

/* The option parser every frost command uses.
 *
 * Each command declares its options in tables (name, kind, accepted range or values) and
 * parses its whole command line in one pass with cli_parse(); the getters below then only
 * read what was parsed. Because the set of known options comes from the tables, never from
 * the order of lookups, a bad value or a repeated option cannot make other options look
 * unknown. The conventions (also printed under every command's --help):
 *   --name value and --name=value; -o FILE for --out where a command has it;
 *   a repeated option: the last occurrence wins;
 *   `--` ends the options (everything after it is positional);
 *   -h/--help and --version anywhere print and exit 0;
 *   every bad value, unknown option or missing value gets one error line, all of them are
 *   reported, then the exit status is 2 (usage error); 1 is a runtime error, 0 success. */
typedef enum {
    CLI_FLAG,   /* no value: --resume */
    CLI_STR,    /* any non-empty value: --out FILE */
    CLI_INT,    /* an integer in [min, max] */
    CLI_FLOAT,  /* a finite number in [min, max] */
    CLI_CHOICE, /* one of `choices` ("a|b|c"), or what `lookup` accepts (>= 0) */
} cli_kind;

/* An output path is checked when the command line is parsed, so a typo costs nothing:
 * a file must not be an existing folder, a folder must not be an existing file, and the
 * nearest existing parent must be a writable folder (missing folders are created when the
 * output is written). "-" (standard output) passes. */
typedef enum {
    CLI_PATH_NONE,     /* not a path, or not checked */
    CLI_PATH_OUT_FILE, /* a file to write */
    CLI_PATH_OUT_DIR,  /* a folder to create or fill */
    CLI_PATH_OUT_ANY,  /* a file or a folder, depending on other options */
} cli_path;

typedef struct {
    const char *name; /* long name without the dashes */
    cli_kind kind;
    double min, max;             /* CLI_INT, CLI_FLOAT */
    const char *choices;         /* CLI_CHOICE: "a|b|c", also the list named in errors */
    int (*lookup)(const char *); /* CLI_CHOICE: a library's name parser (-1: unknown) */
    char short_name;             /* a one-letter alias (-o) or 0 */
    bool value_optional;         /* CLI_STR: may stand alone (`--onnx -o F`), value "" then */
    cli_path path;               /* CLI_STR: an output path checked before any work */
} cli_opt;

#define CLI_OPT_FLAG(n)               \
    {                                 \
        .name = (n), .kind = CLI_FLAG \
    }
#define CLI_OPT_STR(n)               \
    {                                \
        .name = (n), .kind = CLI_STR \
    }
/* A string option whose value may be left out: `--onnx FILE`, or `--onnx` alone with the
 * file given as -o FILE. Only a following argument that is not an option is its value. */
#define CLI_OPT_STR_OPTIONAL(n)                              \
    {                                                        \
        .name = (n), .kind = CLI_STR, .value_optional = true \
    }
#define CLI_OPT_INT(n, lo, hi)                                 \
    {                                                          \
        .name = (n), .kind = CLI_INT, .min = (lo), .max = (hi) \
    }
#define CLI_OPT_FLOAT(n, lo, hi)                                 \
    {                                                            \
        .name = (n), .kind = CLI_FLOAT, .min = (lo), .max = (hi) \
    }
#define CLI_OPT_CHOICE(n, list)                            \
    {                                                      \
        .name = (n), .kind = CLI_CHOICE, .choices = (list) \
    }
#define CLI_OPT_LOOKUP(n, list, fn)                                        \
    {                                                                      \
        .name = (n), .kind = CLI_CHOICE, .choices = (list), .lookup = (fn) \
    }
/* The output of a command: --out FILE and -o FILE (a folder: CLI_OPT_OUT_DIR; either,
 * depending on other options: CLI_OPT_OUT_ANY). */
#define CLI_OPT_OUT_AS(p)                                              \
    {                                                                  \
        .name = "out", .kind = CLI_STR, .short_name = 'o', .path = (p) \
    }
#define CLI_OPT_OUT     CLI_OPT_OUT_AS(CLI_PATH_OUT_FILE)
#define CLI_OPT_OUT_DIR CLI_OPT_OUT_AS(CLI_PATH_OUT_DIR)
#define CLI_OPT_OUT_ANY CLI_OPT_OUT_AS(CLI_PATH_OUT_ANY)
#define CLI_OPT_END \
    {               \
        0           \
    }

/* A command: its name, --help text, option tables (NULL-terminated list of tables, each
 * ending with CLI_OPT_END) and how many positional arguments it takes at most. */
typedef struct {
    const char *cmd;
    const char *help;
    const cli_opt *const *tables;
    int max_positional;
} cli_spec;

/* positional: frost predict takes a model and any number of images (a shell glob) */
#define CLI_MAX_OPTIONS    128
#define CLI_MAX_POSITIONAL 4096

typedef struct {
    const cli_spec *spec;
    const char *cmd;
    int n_opts;
    const cli_opt *opt[CLI_MAX_OPTIONS]; /* every declared option, tables flattened */
    const char *value[CLI_MAX_OPTIONS];  /* the last occurrence's value ("" for a flag) */
    int count[CLI_MAX_OPTIONS];          /* occurrences on the command line */
    const char *positional[CLI_MAX_POSITIONAL];
    int n_positional;
    int errors;    /* usage errors printed so far */
    int exit_code; /* when cli_parse returns false: 0 after --help/--version, else 2 */
} cli_args;

/* Parses argv[1..argc-1] (argv[0] is the command name). Returns true when the command
 * should run; false after printing help, the version or the usage errors (see exit_code). */
bool cli_parse(cli_args *a, const cli_spec *spec, int argc, char **argv);

/* Getters of parsed options. Asking for an option the command did not declare (or with the
 * wrong kind) is a bug in the tool: it aborts with a message saying so. */
bool cli_given(const cli_args *a, const char *name);
bool cli_flag(const cli_args *a, const char *name);
const char *cli_str(const cli_args *a, const char *name, const char *def);
int cli_int(const cli_args *a, const char *name, int def);
float cli_float(const cli_args *a, const char *name, float def);
/* CLI_CHOICE: the index in `choices`, or the lookup's result; `def` when not given. */
int cli_choice(const cli_args *a, const char *name, int def);
/* --requant fixed|float (declared with CLI_OPT_REQUANT): 0 or 1; -1 when not given. */
#define CLI_OPT_REQUANT CLI_OPT_CHOICE("requant", "fixed|float")
int cli_requant(const cli_args *a);

/* A usage error found after parsing: prints "frost <cmd>: error: <message> (see frost <cmd>
 * --help)" and returns the exit code 2. */
int cli_usage_error(const cli_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "frost X.Y.Z": the project version from CMake. */
#ifndef FROST_CLI_VERSION
#define FROST_CLI_VERSION FROST_VERSION_STRING
#endif
/* The conventions shared by every command, printed after each command's help. */
extern const char cli_common_help[];

/* Prints "frost <cmd>: error: <last error>" and returns the exit code 1. */
int cli_error(const char *cmd);

/* Prints "CPU: <model> (<isa>); kernels: int8 <path>, fp32 <path>, training gemm <blas>"
 * (frost_cpu_text), so a timing or accuracy printed next to it says what made it;
 * int8_reference: the command forces the int8 reference kernels (--reference). */
void cli_print_cpu(bool int8_reference);

/* Model selection shared by train and info: --model NAME | --arch FILE, --width, --input,
 * --in-channels, --classes, --act, --dropout, --head. `positional` may name a model too. */
typedef struct {
    const char *arch, *name; /* name: --model, or NULL */
    const char *positional;  /* a model named without --model (info), or NULL */
    frost_builtin_opts o;
    bool input_set, channels_set, classes_set;
} cli_model_opts;
/* The model options (a table for cli_spec) and their reader; sizes left unset take the
 * defaults given to cli_build_model (e.g. from the data set). */
extern const cli_opt cli_model_options[];
void cli_parse_model(const cli_args *a, cli_model_opts *mo);
frost_status cli_build_model(const cli_model_opts *mo, int default_input, int default_channels,
                             int default_classes, frost_model **out);
#define CLI_MODEL_HELP                                                               \
    "model:\n"                                                                       \
    "  --model NAME        built-in: frostnet_s frostnet_b frostnet_l mobilenetv2\n" \
    "                      mnasnet_b1 resnet (default frostnet_s)\n"                 \
    "  --arch FILE         architecture JSON instead (docs/architecture-json.md)\n"  \
    "  --width W           width multiplier (default 1.0)\n"                         \
    "  --input S           input size; strides adapt below 224 (docs/models.md)\n"   \
    "  --in-channels C     input channels\n"                                         \
    "  --classes K         output classes\n"                                         \
    "  --act relu|relu6    MobileNetV2 activation\n"                                 \
    "  --dropout P         dropout before the classifier\n"                          \
    "  --head N            width of the last 1x1 conv (FrostNet/MobileNetV2/MnasNet)\n"

/* Data selection: --data fashion-mnist | DIR (MNIST file names inside) and explicit
 * --train-images/--train-labels/--test-images/--test-labels paths. */
typedef struct {
    char train_images[4096], train_labels[4096], test_images[4096], test_labels[4096];
} cli_data_opts;
extern const cli_opt cli_data_options[];
void cli_parse_data(const cli_args *a, cli_data_opts *d);
frost_status cli_load_data(const cli_data_opts *d, bool need_train, bool need_test,
                           frost_dataset *train, frost_dataset *test);

/* The one rule every command that feeds a data set to a model follows: images of another
 * height or width than the model's input (a searched network at 20 or 24 px, say) are
 * resized bilinearly to h x w with frost_dataset_resize, exactly as frost search resized
 * them for its candidates (and frost predict resizes image files), so training, eval,
 * PTQ, convert's comparisons and the int8 run all see the same pixels. The first resize
 * in a process prints one note on stderr. Other channels than the model's are an error
 * (FROST_ERR_SHAPE). train and test may be NULL or not loaded (no images): skipped. */
frost_status cli_fit_data(int h, int w, int c, frost_dataset *train, frost_dataset *test);
frost_status cli_fit_data_to_model(const frost_model *m, frost_dataset *train, frost_dataset *test);
frost_status cli_fit_data_to_int8(const frost_int8_model *m, frost_dataset *train,
                                  frost_dataset *test);
#define CLI_DATA_HELP                                                                          \
    "data:\n"                                                                                  \
    "  --data fashion-mnist|DIR  Fashion-MNIST from Debian's dataset-fashion-mnist\n"          \
    "                      (default), or a folder with MNIST-named IDX files\n"                \
    "                      (train-images-idx3-ubyte[.gz], ..., t10k-labels-idx1-ubyte[.gz])\n" \
    "  --train-images F --train-labels F --test-images F --test-labels F\n"                    \
    "                      any IDX files (raw or .gz) instead\n"                               \
    "  images of another height or width than the model's input are resized to it\n"           \
    "  (bilinear, as frost search trains its candidates); other channels are an error\n"

/* Quantization options shared by train --qat, quantize and sensitivity: --qconfig FILE,
 * --w-bits B, --a-bits B, --per-tensor, --observer KIND, --w-scheme S, --a-scheme S. Builds the
 * config (W8A8 by default, then the file, then the flags); returns false after printing the reason
 * (a runtime error: the file could not be read or does not fit). */
extern const cli_opt cli_quant_options[];
bool cli_quant_given(const cli_args *a); /* was any of them on the command line? */
bool cli_parse_qconfig(const cli_args *a, const char *default_observer, frost_qconfig **out);

#define CLI_QUANT_HELP                                                                     \
    "quantization (default W8A8: per-channel symmetric int8 weights, per-tensor\n"         \
    "asymmetric uint8 activations):\n"                                                     \
    "  --qconfig FILE      quantization config JSON (per-layer overrides, README)\n"       \
    "  --w-bits B          weight bits, 2..8\n"                                            \
    "  --a-bits B          activation bits, 2..8\n"                                        \
    "  --per-tensor        one weight scale per layer instead of per output channel\n"     \
    "  --w-scheme S        weights: affine (default), binary, binary_stochastic, bwn,\n"   \
    "                      twn or ttq (first and last layer stay 8-bit; docs/lowbit.md)\n" \
    "  --a-scheme S        conv/linear inputs: affine (default), sign, bireal, xnor\n"     \
    "  --bireal-shortcuts  real shortcut around each binary conv+BN of equal shapes\n"

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
frost_status cli_load_proxy_data(const cli_data_opts *data, int n_train, int n_val, uint64_t seed,
                                 frost_dataset *train, frost_dataset *val);

/* Candidate evaluation options shared by search and eval-candidate (--train, --val,
 * --epochs, --fp-epochs, --no-gradboost, --batch, --lr, --threads, --latency-threads, --reps,
 * --requant, --width, --w-bits, --a-bits, --per-tensor, --blocks), read into the evaluation
 * config, the space's width and the proxy data sizes. */
extern const cli_opt cli_nas_eval_options[];
void cli_parse_nas_eval(const cli_args *a, frost_nas_eval_config *cfg, frost_nas_space *space,
                        int *n_train, int *n_val);

/* A cell file (frost cell-search's DIR/cell.json) into *pair; errors name the file. */
frost_status cli_read_cells(const char *path, frost_cell_pair *pair);
/* --blocks DIR: DIR/cell.json's cells into *pair and space->cells (path: the file read);
 * without --blocks the space keeps no cells and path is "". */
frost_status cli_nas_blocks(const cli_args *a, frost_cell_pair *pair, frost_nas_space *space,
                            char *path, size_t path_size);

/* The data normalization for model m: its preprocessing, else frost's Fashion-MNIST
 * defaults (frost_train_defaults). */
frost_augment cli_model_norm(const frost_model *m);
/* Whether a model file is an int8 model: .int8 / .i8, or a QDQ .onnx (the int8 runtime
 * loads it; a float .onnx and checkpoints are FP32 models). */
bool cli_is_int8_model(const char *path);
/* The length of a model path without its ".safetensors" or ".onnx" (for derived names). */
size_t cli_model_stem_len(const char *path);

int cmd_train(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_sensitivity(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_eval_candidate(int argc, char **argv);
int cmd_cell_search(int argc, char **argv);
int cmd_compress(int argc, char **argv);

/* The per-layer and total size table of a k-means compressed model (compress, info). */
void cli_print_kmeans_table(const frost_kmeans_model *km);

#endif
