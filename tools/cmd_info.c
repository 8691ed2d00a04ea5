/* frost info: per-layer shapes, parameters and MACs of a model, checkpoint or JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static const char *const help =
    "usage: frost info [MODEL | CHECKPOINT.safetensors | MODEL.onnx | MODEL.int8] [options]\n"
    "Per-layer output shapes, parameters and MACs (multiply-accumulates per image,\n"
    "conv and linear layers; a mul counts one per product), and totals.\n\n" CLI_MODEL_HELP
    "  (info defaults: --input 224 --in-channels 3 --classes 1000)\n\n"
    "  --dump-arch FILE    also write the architecture JSON to FILE\n"
    "  --memory            (int8 models and QDQ .onnx files, the default for them)\n"
    "                      per-layer weight and\n"
    "                      activation bytes, the planned arena, and the peak\n";

/* Prints a report the library built (NULL: it ran out of memory); the exit code. */
static int print_report(char *text)
{
    if (!text) {
        fprintf(stderr, "frost info: error: out of memory\n");
        return 1;
    }
    fputs(text, stdout);
    free(text);
    return 0;
}

static int info_int8(const char *path)
{
    frost_int8_model *m = NULL;
    if (frost_int8_load(path, &m) != FROST_OK)
        return cli_error("info");
    int rc = print_report(frost_int8_memory_text(m));
    frost_int8_free(m);
    return rc;
}

static bool is_checkpoint(const char *s)
{
    size_t n = strlen(s);
    return n > 12 && strcmp(s + n - 12, ".safetensors") == 0;
}

/* The CPU and kernel paths recorded by the process that wrote a checkpoint ("frost.cpu";
 * files written before it was recorded have none, and say nothing). */
static void print_recorded_cpu(const char *path)
{
    frost_st_file *f = NULL;
    if (frost_st_map(path, &f) != FROST_OK)
        return;
    const char *cpu = frost_st_meta_get(f, "frost.cpu");
    if (cpu)
        printf("written on: %s\n", cpu);
    frost_st_close(f);
}

/* The k-means bits of layer `layer` ("<layer>.weight" clustered), 0 when it is not. */
static int kmeans_bits(const frost_kmeans_model *km, const char *layer)
{
    size_t n = strlen(layer);
    for (int i = 0; km && i < km->n; i++)
        if (strncmp(km->layers[i].name, layer, n) == 0 && km->layers[i].name[n] == '.')
            return km->layers[i].layer.bits;
    return 0;
}

/* A fake-quant model's quantized layers: weight bits and scheme (binary and ternary ones
 * included, docs/lowbit.md), the input's scheme, the output bits, and the k-means bits of
 * a compressed checkpoint ("-": none). */
static void print_qlayers(const frost_model *m, const frost_kmeans_model *km)
{
    int n = frost_model_qlayer_count(m);
    if (n == 0)
        return;
    printf("\nquantized layers (weights: bits and scheme; input: scheme; output bits; k-means "
           "bits):\n%-28s %5s %-18s %-8s %5s %7s\n",
           "layer", "wbits", "weights", "input", "abits", "k-means");
    for (int i = 0; i < n; i++) {
        const char *name = frost_model_qlayer_name(m, i);
        int wbits, abits, kbits = kmeans_bits(km, name);
        frost_wscheme w;
        frost_ascheme a;
        frost_model_qlayer_bits(m, i, &wbits, &abits);
        frost_model_qlayer_schemes(m, i, &w, &a);
        char wb[16] = "-", ab[16] = "-", kb[16] = "-";
        if (wbits)
            snprintf(wb, sizeof wb, "%d", wbits);
        if (abits)
            snprintf(ab, sizeof ab, "%d", abits);
        if (kbits)
            snprintf(kb, sizeof kb, "%d", kbits);
        printf("%-28s %5s %-18s %-8s %5s %7s\n", name, wb, wbits ? frost_wscheme_name(w) : "-",
               frost_ascheme_name(a), ab, kb);
    }
}

/* A k-means compressed checkpoint: its stored sizes (nothing for other checkpoints). */
static void print_kmeans_sizes(const frost_kmeans_model *km)
{
    if (km->n > 0) {
        printf("\nk-means compressed (docs/kmeans.md): %.3f bits per weight, %.2fx smaller "
               "than FP32 over the %d clustered layers\n",
               km->total.bits_per_weight, km->total.ratio, km->n);
        cli_print_kmeans_table(km);
    }
}

/* What a checkpoint adds to the layer table: the machine that wrote it, the quantized
 * layers' schemes, the k-means sizes. */
static int print_checkpoint_extras(const char *path, const frost_model *m)
{
    print_recorded_cpu(path);
    frost_kmeans_model *km = NULL;
    if (frost_checkpoint_kmeans_report(path, m, &km) != FROST_OK)
        return cli_error("info");
    print_qlayers(m, km);
    print_kmeans_sizes(km);
    frost_kmeans_model_free(km);
    return 0;
}

/* A positional that exists on disk but is no checkpoint, ONNX or int8 file: an
 * architecture JSON is read as --arch; a folder or another file gets an error naming what
 * info accepts (not "unknown built-in model '/tmp'"). Returns 0 when `mo` can build it. */
static int classify_other_path(const char *pos, cli_model_opts *mo)
{
    struct stat st;
    if (stat(pos, &st) != 0)
        return 0; /* a model name */
    size_t n = strlen(pos);
    if (S_ISREG(st.st_mode) && n > 5 && strcmp(pos + n - 5, ".json") == 0) {
        mo->arch = pos;
        mo->positional = NULL;
        return 0;
    }
    fprintf(stderr,
            "frost info: error: %s is %s; info takes a built-in model name, a checkpoint "
            "(.safetensors), an architecture (.json), an ONNX model (.onnx) or an int8 model "
            "(.int8)\n",
            pos, S_ISDIR(st.st_mode) ? "a folder" : "not a model file frost recognises");
    return 2;
}

static const cli_opt options[] = {
    CLI_OPT_STR("dump-arch"),
    CLI_OPT_FLAG("memory"),
    CLI_OPT_END,
};

int cmd_info(int argc, char **argv)
{
    static const cli_opt *const tables[] = {options, cli_model_options, NULL};
    static const cli_spec spec = {"info", help, tables, 1};
    cli_args a;
    if (!cli_parse(&a, &spec, argc, argv))
        return a.exit_code;
    const char *dump = cli_str(&a, "dump-arch", NULL);
    bool memory = cli_flag(&a, "memory");
    frost_model *m = NULL;
    frost_status s;
    cli_model_opts mo;
    cli_parse_model(&a, &mo);
    const char *pos = a.n_positional ? a.positional[0] : NULL;
    mo.positional = pos;
    if (memory && !pos) {
        fprintf(stderr, "frost info: error: --memory needs an int8 model file\n");
        return 2;
    }
    if (pos && (memory || cli_is_int8_model(pos)))
        return info_int8(pos);
    if (pos && (is_checkpoint(pos) || frost_path_is_onnx(pos)))
        s = frost_model_load(pos, &m);
    else if (pos && classify_other_path(pos, &mo) != 0)
        return 2;
    else
        s = cli_build_model(&mo, 224, 3, 1000, &m);
    if (s != FROST_OK)
        return cli_error("info");
    int rc = print_report(frost_model_info_text(m));
    if (rc == 0 && pos && is_checkpoint(pos))
        rc = print_checkpoint_extras(pos, m);
    else if (rc == 0)
        print_qlayers(m, NULL); /* a model quantized from an .onnx QDQ file, say */
    if (rc == 0 && dump) {
        char *json = frost_model_to_json(m);
        s = json ? frost_write_file_atomic(dump, json, strlen(json))
                 : frost_fail(FROST_ERR_NOMEM, "out of memory");
        free(json);
        if (s != FROST_OK)
            rc = cli_error("info");
        else
            printf("architecture written to %s\n", dump);
    }
    frost_model_free(m);
    return rc;
}
