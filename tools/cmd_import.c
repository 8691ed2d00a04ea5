/* frost import: an ONNX model -> a frost checkpoint. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *const help =
    "usage: frost import MODEL.onnx -o OUT.safetensors [--name NAME]\n"
    "Reads a float ONNX model (opsets 11-17: a CNN exported by PyTorch, TensorFlow & co.,\n"
    "docs/interop.md lists the ops) and writes a frost checkpoint: the architecture and\n"
    "the weights, NCHW turned into frost's NHWC. The checkpoint trains, quantizes, converts\n"
    "and runs like any other; every command that takes a checkpoint also takes the .onnx\n"
    "file directly. A model with ops frost lacks is refused, listing every such node.\n\n"
    "  -o, --out FILE      the checkpoint to write (.safetensors)\n"
    "  --name NAME         the model's name (default: the file name)\n";

static const cli_opt options[] = {
    CLI_OPT_OUT,
    CLI_OPT_STR("name"),
    CLI_OPT_END,
};

int cmd_import(int argc, char **argv)
{
    static const cli_opt *const tables[] = {options, NULL};
    static const cli_spec spec = {"import", help, tables, 1};
    cli_args a;
    if (!cli_parse(&a, &spec, argc, argv))
        return a.exit_code;
    const char *out = cli_str(&a, "out", NULL);
    if (a.n_positional != 1)
        return cli_usage_error(&a, "give one ONNX model");
    if (!out)
        return cli_usage_error(&a, "say where to write the checkpoint: -o FILE");
    frost_onnx_import_opts opts = {.name = cli_str(&a, "name", NULL)};
    frost_model *m = NULL;
    frost_status s = frost_onnx_import(a.positional[0], &opts, &m);
    if (s == FROST_OK)
        s = frost_checkpoint_save_weights(out, m);
    if (s == FROST_OK) {
        int h, w, c;
        frost_model_input_shape(m, &h, &w, &c);
        printf("imported %s: input %dx%dx%d, %d classes, %lld parameters, %.1f MMACs/image\n",
               a.positional[0], h, w, c, frost_model_classes(m),
               (long long)frost_model_param_count(m), (double)frost_model_macs(m) / 1e6);
        printf("wrote %s\n", out);
    }
    frost_model_free(m);
    return s == FROST_OK ? 0 : cli_error("import");
}
