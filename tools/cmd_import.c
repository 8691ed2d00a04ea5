/* frost import: an ONNX model -> a frost checkpoint. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const help =
    "usage: frost import MODEL.onnx -o OUT.safetensors [--name NAME]\n"
    "       frost import MODEL.qdq.onnx -o OUT.int8\n"
    "Reads a float ONNX model (opsets 11-17: a CNN exported by PyTorch, TensorFlow & co.,\n"
    "docs/interop.md lists the ops) and writes a frost checkpoint: the architecture and\n"
    "the weights, NCHW turned into frost's NHWC. The checkpoint trains, quantizes, converts\n"
    "and runs like any other; every command that takes a checkpoint also takes the .onnx\n"
    "file directly. A model with ops frost lacks is refused, listing every such node.\n"
    "An already-quantized model (QuantizeLinear / DequantizeLinear around the ops: ONNX\n"
    "Runtime's quantizer, frost export --onnx) becomes an int8 model instead, its integers\n"
    "as they are (docs/interop.md, QDQ import); --name and the preprocessing options then\n"
    "do not apply (the int8 model normalizes inputs as the file's frost.preprocess metadata\n"
    "says, which frost export writes; a file without it takes them as given).\n\n"
    "  -o, --out FILE      the checkpoint to write (.safetensors)\n"
    "  --name NAME         the model's name (default: the file name)\n\n"
    "How images become the model's input (stored with it; predict, train, eval, quantize\n"
    "and run use it): x = (pixel / 255 - mean) / std per channel. Without these options\n"
    "a file frost exported gives back the preprocessing it was exported with.\n"
    "  --mean M[,M,M]      per-channel means (default 0)\n"
    "  --std S[,S,S]       per-channel standard deviations (default 1)\n"
    "                      (torchvision ImageNet models: --mean 0.485,0.456,0.406\n"
    "                      --std 0.229,0.224,0.225)\n"
    "  --channels rgb|bgr  channel order of a 3-channel input (default rgb)\n";

static const cli_opt options[] = {
    CLI_OPT_OUT,
    CLI_OPT_STR("name"),
    CLI_OPT_STR("mean"),
    CLI_OPT_STR("std"),
    CLI_OPT_CHOICE("channels", "rgb|bgr"),
    CLI_OPT_END,
};

/* "a" or "a,b,c" into v[3] (one value: every channel); false if malformed. */
static bool parse_triple(const char *text, float v[3])
{
    int n = 0;
    for (const char *p = text;;) {
        char *end;
        float x = strtof(p, &end);
        if (end == p || !isfinite(x) || n == 3)
            return false;
        v[n++] = x;
        if (*end == '\0')
            break;
        if (*end != ',')
            return false;
        p = end + 1;
    }
    if (n == 1)
        v[1] = v[2] = v[0];
    return n == 1 || n == 3;
}

/* The line saying how images become the model's input. */
static void print_preprocess(const frost_preprocess *pre, int channels)
{
    if (channels == 3)
        printf("preprocessing: x = (pixel/255 - mean) / std, mean %g,%g,%g, std %g,%g,%g, %s\n",
               (double)pre->mean[0], (double)pre->mean[1], (double)pre->mean[2],
               (double)pre->std[0], (double)pre->std[1], (double)pre->std[2],
               pre->bgr ? "BGR" : "RGB");
    else
        printf("preprocessing: x = (pixel/255 - %g) / %g\n", (double)pre->mean[0],
               (double)pre->std[0]);
}

/* A QDQ model -> an .int8 file. */
static int import_qdq(const char *path, const char *out)
{
    frost_int8_model *m = NULL;
    frost_status s = frost_int8_import_onnx(path, &m);
    if (s == FROST_OK)
        s = frost_int8_save(m, out);
    if (s == FROST_OK) {
        int h, w, c;
        frost_int8_input_shape(m, &h, &w, &c);
        printf("imported %s (quantized, QDQ): input %dx%dx%d, %d classes, %d int8 nodes, %.1f "
               "MMACs/image, %zu weight bytes\n",
               path, h, w, c, frost_int8_classes(m), frost_int8_node_count(m),
               (double)frost_int8_macs(m) / 1e6, frost_int8_weight_bytes(m));
        frost_preprocess pre = frost_int8_preprocess(m);
        print_preprocess(&pre, c);
        printf("wrote %s\n", out);
    }
    frost_int8_free(m);
    return s == FROST_OK ? 0 : cli_error("import");
}

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
    if (frost_int8_onnx_is_qdq(a.positional[0]) == 1) {
        if (cli_given(&a, "name") || cli_given(&a, "mean") || cli_given(&a, "std") ||
            cli_given(&a, "channels"))
            return cli_usage_error(&a, "a quantized (QDQ) model takes no --name, --mean, --std "
                                       "or --channels");
        return import_qdq(a.positional[0], out);
    }
    frost_preprocess pre = {.set = true, .mean = {0, 0, 0}, .std = {1, 1, 1}};
    const char *mean = cli_str(&a, "mean", NULL), *std = cli_str(&a, "std", NULL);
    if (mean && !parse_triple(mean, pre.mean))
        return cli_usage_error(&a, "--mean: give one number or three separated by commas");
    if (std && !parse_triple(std, pre.std))
        return cli_usage_error(&a, "--std: give one number or three separated by commas");
    pre.bgr = strcmp(cli_str(&a, "channels", "rgb"), "bgr") == 0;
    /* none given: the file's own (frost's export stores it), else pixel / 255 */
    bool given = mean || std || cli_given(&a, "channels");
    frost_onnx_import_opts opts = {.name = cli_str(&a, "name", NULL), .pre = given ? &pre : NULL};
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
        pre = frost_model_preprocess(m);
        print_preprocess(&pre, c);
        printf("wrote %s\n", out);
    }
    frost_model_free(m);
    return s == FROST_OK ? 0 : cli_error("import");
}
