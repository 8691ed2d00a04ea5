/* frost export: an int8 model as C source for microcontrollers or as an ONNX QDQ file. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static const char *const help =
    "usage: frost export MODEL.int8 --c DIR [--name NAME]\n"
    "       frost export MODEL.int8 --onnx FILE\n"
    "--c: writes the int8 model as portable C99 for a microcontroller (docs/interop.md): "
    "DIR/NAME.c\n"
    "and DIR/NAME.h with the weights as const arrays, one static activation arena (the\n"
    "runtime's memory plan) and int NAME_run(const uint8_t *input, NAME_output_t *output),\n"
    "no malloc, no libm, integer-only (float only for the logits of a float classifier).\n"
    "Its outputs equal frost's int8 runtime bit for bit. Prints the flash and RAM it needs.\n"
    "--onnx: writes it as an ONNX QDQ model (opset 13, NCHW, float input [N, C, H, W], float\n"
    "output [N, classes]) with the same integers, which ONNX Runtime runs with its integer\n"
    "kernels (QLinearConv, QGemm, ...). Fixed and float requantization models both export.\n\n"
    "  --c DIR             write the C files into DIR (created if missing)\n"
    "  --name NAME         file and symbol prefix, a C identifier (default model)\n"
    "  --onnx FILE         write an ONNX QDQ model to FILE instead\n"
    "  --onnx-weights T    int8 (default: symmetric, zero point 0) or uint8 (the same + 128,\n"
    "                      zero point 128: exact in ONNX Runtime on x86 CPUs without VNNI,\n"
    "                      whose int8-weight kernels saturate)\n";

static const cli_opt options[] = {
    CLI_OPT_STR("c"),    CLI_OPT_STR("name"),
    CLI_OPT_STR("onnx"), CLI_OPT_CHOICE("onnx-weights", "int8|uint8"),
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

/* One line: what was written and how the model looks from the ONNX side. */
static int export_onnx(const char *model, const char *path, bool uint8_weights)
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
    }
    frost_int8_free(m);
    return s == FROST_OK ? 0 : cli_error("export");
}

int cmd_export(int argc, char **argv)
{
    static const cli_opt *const tables[] = {options, NULL};
    static const cli_spec spec = {"export", help, tables, 1};
    cli_args a;
    if (!cli_parse(&a, &spec, argc, argv))
        return a.exit_code;
    const char *dir = cli_str(&a, "c", NULL), *name = cli_str(&a, "name", "model");
    if (a.n_positional != 1)
        return cli_usage_error(&a, "give one int8 model (MODEL.int8)");
    const char *onnx = cli_str(&a, "onnx", NULL);
    if (onnx && (dir || cli_given(&a, "name")))
        return cli_usage_error(&a, "--onnx writes one file: give it without --c / --name");
    if (!onnx && cli_given(&a, "onnx-weights"))
        return cli_usage_error(&a, "--onnx-weights goes with --onnx FILE");
    if (onnx)
        return export_onnx(a.positional[0], onnx,
                           strcmp(cli_str(&a, "onnx-weights", "int8"), "uint8") == 0);
    if (!dir)
        return cli_usage_error(&a, "say what to export: --c DIR or --onnx FILE");
    frost_int8_model *m = NULL;
    frost_int8_c_info info;
    frost_status s = frost_int8_load(a.positional[0], &m);
    if (s == FROST_OK)
        s = make_dir(dir);
    if (s == FROST_OK)
        s = frost_int8_export_c(m, dir, name, &info);
    if (s == FROST_OK)
        print_sizes(dir, name, &info);
    frost_int8_free(m);
    return s == FROST_OK ? 0 : cli_error("export");
}
