/* frost export: a model for other runtimes (docs/interop.md): an FP32 model (checkpoint or
 * float .onnx) as FP32 ONNX; an int8 model (.int8, .i8, QDQ .onnx) as ONNX QDQ or as C
 * source for microcontrollers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "int8/i8model.h"
#include "models/graph.h"

static const char *const help =
    "usage: frost export MODEL --onnx FILE [--onnx-weights int8|uint8]\n"
    "       frost export MODEL.int8 --c DIR [--name NAME] [--images N]\n"
    "       (or the output as -o: --onnx -o FILE, --c -o DIR; -o FILE.onnx alone is --onnx)\n"
    "--onnx: an FP32 model (a checkpoint, or a float .onnx) becomes an FP32 ONNX file\n"
    "(opset 13, NCHW, BN kept, the preprocessing in its metadata); an int8 model (.int8,\n"
    ".i8, a QDQ .onnx) becomes an ONNX QDQ file carrying frost's integers (docs/interop.md).\n"
    "--c: writes the int8 model as portable C99 for a microcontroller (docs/interop.md): "
    "DIR/NAME.c\n"
    "and DIR/NAME.h with the weights as const arrays, one static activation arena (the\n"
    "runtime's memory plan) and int NAME_run(const uint8_t *input, NAME_output_t *output),\n"
    "no malloc, no libm, integer-only (float only for the logits of a float classifier).\n"
    "Its outputs equal frost's int8 runtime bit for bit. Prints the flash and RAM it needs.\n\n"
    "  --onnx FILE         write an ONNX model to FILE: FP32 or QDQ, as MODEL is\n"
    "  --onnx-weights T    (int8 models) int8 (default: symmetric, zero point 0) or uint8\n"
    "                      (the same + 128, zero point 128: exact in ONNX Runtime on x86\n"
    "                      CPUs without VNNI, whose int8-weight kernels saturate)\n"
    "  --c DIR             write the C files into DIR (created if missing; int8 models)\n"
    "  -o, --out PATH      the output of --onnx (FILE) or --c (DIR) given apart\n"
    "  --name NAME         file and symbol prefix, a C identifier (default model)\n"
    "  --images N          also write the first N test images, quantized as NAME_run takes\n"
    "                      them, to DIR/NAME_images.u8, and frost's int8 outputs for them\n"
    "                      (what NAME_run must write) to DIR/NAME_expected.bin\n\n" CLI_DATA_HELP;

static const cli_opt options[] = {
    CLI_OPT_STR_OPTIONAL("c"),
    CLI_OPT_STR("name"),
    CLI_OPT_STR_OPTIONAL("onnx"),
    CLI_OPT_OUT_ANY,
    CLI_OPT_INT("images", 1, 1 << 30),
    CLI_OPT_CHOICE("onnx-weights", "int8|uint8"),
    CLI_OPT_END,
};

/* DIR exists afterwards (one level is created), or the error is recorded. */
static frost_status make_dir(const char *dir)
{
    if (mkdir(dir, 0777) == 0 || errno == EEXIST)
        return FROST_OK;
    return frost_fail(FROST_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
}

static void print_sizes(const char *dir, const char *name, const frost_int8_c_info *info)
{
    printf("wrote %s/%s.c and %s/%s.h\n", dir, name, dir, name);
    printf("flash: %zu bytes of const data (weights, biases, multipliers, tables) + the code\n"
           "       (the kernels and per-layer parameters; measure with size on the target)\n",
           info->const_bytes);
    printf("RAM:   %zu bytes peak: the static arena %zu + scratch %zu (plus the stack)\n",
           info->arena_bytes + info->scratch_bytes, info->arena_bytes, info->scratch_bytes);
    printf("output: %s\n", info->float_output
                               ? "float logits (the last layer is dequantized in float32)"
                               : "uint8 with the scale and zero point in the header");
}

static frost_status write_all(FILE *f, const char *path, const void *data, size_t n)
{
    if (fwrite(data, 1, n, f) != n)
        return frost_fail(FROST_ERR_IO, "cannot write %s", path);
    return FROST_OK;
}

/* The outputs exactly as NAME_run writes them: float logits, or the last uint8 tensor. */
static frost_status write_expected(frost_int8_model *m, FILE *f, const char *path,
                                   const float *logits)
{
    int classes = frost_int8_classes(m);
    if (m->nodes[m->n_nodes - 1].op == FROST_I8_LOGITS)
        return write_all(f, path, logits, (size_t)classes * sizeof(float));
    return write_all(f, path, frost_int8_tensor(m, m->n_nodes - 1), (size_t)classes);
}

/* Quantizes the first n images of d (normalized as `frost run` does) into *q (malloc'd). */
static frost_status quantize_images(const frost_int8_model *m, const frost_dataset *d, int n,
                                    uint8_t **q)
{
    int h, w, c;
    frost_int8_input_shape(m, &h, &w, &c);
    if (d->h != h || d->w != w || d->c != c)
        return frost_fail(FROST_ERR_SHAPE,
                          "--images: the data set's images are %dx%dx%d, "
                          "the model takes %dx%dx%d",
                          d->h, d->w, d->c, h, w, c);
    size_t size = (size_t)h * w * c;
    frost_preprocess pre = frost_int8_preprocess(m); /* as frost run normalizes */
    frost_augment norm = frost_augment_for(&pre, frost_train_defaults().augment);
    norm.crop_pad = 0;
    norm.hflip = false;
    frost_dataset head = {0};
    frost_loader *l = NULL;
    float *x = malloc(size * sizeof(float));
    *q = malloc((size_t)n * size);
    frost_status s = x && *q ? FROST_OK : frost_fail(FROST_ERR_NOMEM, "--images: out of memory");
    if (s == FROST_OK)
        s = frost_dataset_head(d, n, &head);
    if (s == FROST_OK)
        s = frost_loader_create(&head, 1, false, &norm, 0, &l);
    if (s == FROST_OK) {
        uint8_t label;
        frost_loader_start_epoch(l, 0);
        for (int i = 0; i < n && frost_loader_next(l, x, &label) > 0; i++)
            frost_int8_quantize_input(m, x, *q + (size_t)i * size);
    }
    frost_loader_free(l);
    frost_dataset_free(&head);
    free(x);
    return s;
}

/* The first n test images of the data set, quantized for m, into *q (malloc'd). Done
 * before anything is written, so a data error leaves no files. */
static frost_status load_test_images(const frost_int8_model *m, const cli_data_opts *data, int n,
                                     uint8_t **q)
{
    frost_dataset train = {0}, test = {0};
    frost_status s = cli_load_data(data, false, true, &train, &test);
    if (s == FROST_OK)
        s = cli_fit_data_to_int8(m, NULL, &test);
    if (s == FROST_OK && n > test.n)
        s = frost_fail(FROST_ERR_ARG, "--images %d: the test split has %d images", n, test.n);
    if (s == FROST_OK)
        s = quantize_images(m, &test, n, q);
    frost_dataset_free(&train);
    frost_dataset_free(&test);
    return s;
}

/* DIR/NAME_images.u8 (the n quantized images) and DIR/NAME_expected.bin (the runtime's
 * outputs for them): a check for the generated code on any target. */
static frost_status write_test_images(frost_int8_model *m, const uint8_t *q, int n, const char *dir,
                                      const char *name)
{
    float logits[4096];
    char images_path[4200], expected_path[4200];
    snprintf(images_path, sizeof images_path, "%s/%s_images.u8", dir, name);
    snprintf(expected_path, sizeof expected_path, "%s/%s_expected.bin", dir, name);
    int h, w, c;
    frost_int8_input_shape(m, &h, &w, &c);
    int64_t size = (int64_t)h * w * c;
    frost_status s = frost_int8_classes(m) <= 4096
                         ? FROST_OK
                         : frost_fail(FROST_ERR_UNSUPPORTED, "--images: over 4096 classes");
    FILE *fi = s == FROST_OK ? fopen(images_path, "wb") : NULL;
    FILE *fe = s == FROST_OK ? fopen(expected_path, "wb") : NULL;
    if (s == FROST_OK && (!fi || !fe))
        s = frost_fail(FROST_ERR_IO, "cannot create %s", !fi ? images_path : expected_path);
    for (int i = 0; i < n && s == FROST_OK; i++) {
        s = write_all(fi, images_path, q + i * size, (size_t)size);
        if (s == FROST_OK)
            s = frost_int8_run_quantized(m, q + i * size, size, logits);
        if (s == FROST_OK)
            s = write_expected(m, fe, expected_path, logits);
    }
    if (fi && fclose(fi) != 0 && s == FROST_OK)
        s = frost_fail(FROST_ERR_IO, "cannot write %s", images_path);
    if (fe && fclose(fe) != 0 && s == FROST_OK)
        s = frost_fail(FROST_ERR_IO, "cannot write %s", expected_path);
    if (s == FROST_OK)
        printf("test images: %s (%d) and frost's outputs for them %s\n", images_path, n,
               expected_path);
    return s;
}

/* One line: what was written and how the model looks from the ONNX side. */
static int export_qdq(const char *model, const char *path, bool uint8_weights)
{
    frost_int8_model *m = NULL;
    frost_status s = frost_int8_load(model, &m);
    if (s == FROST_OK)
        s = frost_int8_export_onnx(m, path, uint8_weights);
    if (s == FROST_OK) {
        int h, w, c;
        frost_int8_input_shape(m, &h, &w, &c);
        printf("wrote %s: ONNX QDQ (opset 13, %s weights), %d int8 layers, input float32 "
               "[N, %d, %d, %d] NCHW, output float32 [N, %d]\n",
               path, uint8_weights ? "uint8" : "int8", frost_int8_node_count(m) - 1, c, h, w,
               frost_int8_classes(m));
        int rounded = frost_int8_onnx_rounded_biases(m);
        if (rounded > 0)
            fprintf(stderr,
                    "note: %d conv/linear/classifier layer%s keep%s biases off ONNX's int32 "
                    "bias grid; the file rounds them (ONNX Runtime may differ from frost by one "
                    "step on some outputs). For an exact export convert with frost convert "
                    "--bias-grid onnx.\n",
                    rounded, rounded > 1 ? "s" : "", rounded > 1 ? "" : "s");
    }
    frost_int8_free(m);
    return s == FROST_OK ? 0 : cli_error("export");
}

static int export_fp32(const char *model, const char *path)
{
    frost_model *m = NULL;
    frost_status s = frost_model_load(model, &m);
    if (s == FROST_OK)
        s = frost_onnx_export(m, path);
    if (s == FROST_OK) {
        int h, w, c;
        frost_model_input_shape(m, &h, &w, &c);
        printf("wrote %s: FP32 ONNX (opset 13), %d layers, input float32 [N, %d, %d, %d] NCHW, "
               "output float32 [N, %d]\n",
               path, m->n_nodes - 1, c, h, w, frost_model_classes(m));
    }
    frost_model_free(m);
    return s == FROST_OK ? 0 : cli_error("export");
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The output as the usual -o PATH: `--onnx -o FILE`, `--c -o DIR`, or -o FILE.onnx alone.
 * Fills *onnx / *dir (NULL: not that format); returns 0, or the exit code of the usage
 * error it printed. */
static int output_paths(const cli_args *a, const char **onnx, const char **dir)
{
    const char *out = cli_str(a, "out", NULL);
    *onnx = cli_str(a, "onnx", NULL);
    *dir = cli_str(a, "c", NULL);
    if (out && !*onnx && !*dir) {
        if (!ends_with(out, ".onnx"))
            return cli_usage_error(a,
                                   "-o %s: say what to write there: --onnx -o FILE (ONNX) or "
                                   "--c -o DIR (C source)",
                                   out);
        *onnx = out;
        return 0;
    }
    if (*onnx && *dir)
        return 0; /* refused with the other option mistakes */
    const char **path = *onnx ? onnx : dir;
    const char *what = *onnx ? "--onnx" : "--c", *kind = *onnx ? "FILE" : "DIR";
    if (!*path)
        return 0;
    if (**path && out)
        return cli_usage_error(a,
                               "%s took '%s' as its %s and -o gives '%s': give the output once "
                               "(%s %s or %s -o %s)",
                               what, *path, kind, out, what, kind, what, kind);
    if (!**path && !out)
        return cli_usage_error(a, "%s needs its %s: %s %s or %s -o %s", what, kind, what, kind,
                               what, kind);
    if (!**path)
        *path = out;
    return 0;
}

int cmd_export(int argc, char **argv)
{
    static const cli_opt *const tables[] = {options, cli_data_options, NULL};
    static const cli_spec spec = {"export", help, tables, 1};
    cli_args a;
    if (!cli_parse(&a, &spec, argc, argv))
        return a.exit_code;
    const char *name = cli_str(&a, "name", "model"), *onnx, *dir;
    int usage = output_paths(&a, &onnx, &dir);
    if (usage)
        return usage;
    if (a.n_positional != 1)
        return cli_usage_error(&a, "give one model (a checkpoint, MODEL.onnx or MODEL.int8)");
    const char *model = a.positional[0];
    if (onnx && (dir || cli_given(&a, "name") || cli_given(&a, "images")))
        return cli_usage_error(&a,
                               "--onnx writes one file: give it without --c / --name / --images");
    if (!onnx && cli_given(&a, "onnx-weights"))
        return cli_usage_error(&a, "--onnx-weights goes with --onnx FILE");
    if (!onnx && !dir)
        return cli_usage_error(&a, "say what to export: --c DIR or --onnx FILE");
    bool int8 = cli_is_int8_model(model);
    if (onnx && !int8 && cli_given(&a, "onnx-weights"))
        return cli_usage_error(&a,
                               "--onnx-weights is for int8 models; %s is an FP32 model "
                               "(its ONNX export is float)",
                               model);
    if (onnx)
        return int8 ? export_qdq(model, onnx,
                                 strcmp(cli_str(&a, "onnx-weights", "int8"), "uint8") == 0)
                    : export_fp32(model, onnx);
    if (!int8) {
        fprintf(stderr,
                "frost export: error: --c needs an int8 model (.int8) and %s is not one: "
                "convert it first (frost convert; a float model is quantized before, with "
                "frost quantize or train --qat)\n",
                model);
        return 1;
    }
    int images = cli_given(&a, "images") ? cli_int(&a, "images", 1) : 0;
    frost_int8_model *m = NULL;
    frost_int8_c_info info;
    uint8_t *q = NULL;
    frost_status s = frost_int8_load(model, &m);
    if (s == FROST_OK && images > 0) {
        cli_data_opts data;
        cli_parse_data(&a, &data);
        s = load_test_images(m, &data, images, &q);
    }
    if (s == FROST_OK)
        s = make_dir(dir);
    if (s == FROST_OK)
        s = frost_int8_export_c(m, dir, name, &info);
    if (s == FROST_OK)
        print_sizes(dir, name, &info);
    if (s == FROST_OK && images > 0)
        s = write_test_images(m, q, images, dir, name);
    free(q);
    frost_int8_free(m);
    return s == FROST_OK ? 0 : cli_error("export");
}
