/* frost eval-candidate: one architecture-search candidate, trained and measured (the unit
 * of work `frost search` runs, callable on its own by an external scheduler). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "frost/nas.h"

static const char *const help =
    "usage: frost eval-candidate GENOTYPE [options]\n"
    "Builds the network of one search-space genotype, trains it with QAT from scratch\n"
    "(StatAssist float epochs, then W8A8 fake-quant, or the scheme --w-bits, --a-bits,\n"
    "--per-tensor set, with GradBoost) on a subset of the training images, converts it\n"
    "to int8 and prints the int8 model's accuracy on images\n"
    "held out of the training split (never the test set), its median batch-1 latency and\n"
    "the float accuracy of the same trained network (fake-quant bypassed).\n"
    "GENOTYPE is the text form (r28.m361n.d530s...: resolution, then per stage block\n"
    "m|f|g|d (MBConv, Frost r2, Frost r4, dw-separable), or c (a searched cell, with\n"
    "--blocks; canonical c31), kernel 3|5, expansion 1|3|6, layers -|0|+, width s|n|w\n"
    "(75|100|125%)) or, with --genotype-json, a JSON file.\n\n"
    "  --genotype-json F   read the genotype from a JSON file instead\n"
    "  --random SEED       evaluate a random genotype of the space instead\n"
    "  --model NAME        evaluate a built-in model (a hand-designed reference point, e.g.\n"
    "                      mobilenetv2, frostnet_s) at --width with the same proxy\n"
    "  --train N           training images (default 8000)\n"
    "  --val N             held-out validation images (default 2000)\n"
    "  --epochs E          proxy training epochs (default 3)\n"
    "  --fp-epochs E       StatAssist float epochs within them (default 1)\n"
    "  --no-gradboost      plain SGD in the quantized epochs\n"
    "  --batch N --lr X --seed S   (64, 0.1, 1)\n"
    "  --width W           the network's global width multiplier (default 0.35)\n"
    "  --threads N         training threads (default: all cores)\n"
    "  --latency-threads N threads for the latency measurement (default 1)\n"
    "  --reps N            timed runs for the latency median (default 30)\n"
    "  --requant MODE      fixed (default) or float requantization in the int8 model\n"
    "  --w-bits B --a-bits B   fake-quant bits of weights / activations, 2..8 (8, 8); the\n"
    "                      int8 model stores fewer bits in int8 containers\n"
    "  --per-tensor        one weight scale per layer instead of per output channel\n"
    "  --json              print the result as one JSON line only\n"
    "  --blocks DIR        the cells of DIR/cell.json as block type c (frost cell-search;\n"
    "                      docs/nas.md, \"Cells as blocks\"); --random draws from them too\n"
    "  --arch-out FILE     only write the genotype's network as architecture JSON (for\n"
    "                      frost train --arch; at --width) and exit: nothing is "
    "trained\n\n" CLI_DATA_HELP;

static frost_status read_genotype(const char *path, const frost_nas_space *space,
                                  frost_nas_genotype *g)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return frost_fail(FROST_ERR_IO, "cannot open %s", path);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return frost_nas_from_json_in(space, buf, g);
}

/* The genotype's network as architecture JSON: what frost train --arch reads. */
static int write_arch(const frost_nas_genotype *g, const frost_nas_space *space, const char *path)
{
    frost_model *m = NULL;
    char *json = NULL;
    frost_status s = frost_nas_build(g, space, &m);
    if (s == FROST_OK && !(json = frost_model_to_json(m)))
        s = frost_fail(FROST_ERR_NOMEM, "cannot write the network as JSON");
    frost_model_free(m);
    FILE *f = s == FROST_OK ? fopen(path, "wb") : NULL;
    if (s == FROST_OK && !f)
        s = frost_fail(FROST_ERR_IO, "cannot create %s", path);
    if (f && (fputs(json, f) == EOF || fputc('\n', f) == EOF) && s == FROST_OK)
        s = frost_fail(FROST_ERR_IO, "cannot write %s", path);
    if (f && fclose(f) != 0 && s == FROST_OK)
        s = frost_fail(FROST_ERR_IO, "cannot write %s", path);
    free(json);
    return s == FROST_OK ? 0 : cli_error("eval-candidate");
}

/* A zoo model through the same proxy (reference points for the search's Pareto plot). */
static int eval_builtin(const char *name, const frost_nas_space *space,
                        const frost_nas_eval_config *cfg, const cli_data_opts *data, int n_train,
                        int n_val, bool json)
{
    frost_builtin_opts o = frost_builtin_defaults();
    o.width = space->width;
    o.input = space->input;
    o.in_channels = space->in_channels;
    o.classes = space->classes;
    frost_model *m = NULL;
    frost_dataset tr = {0}, va = {0};
    frost_nas_result r;
    frost_status s = frost_model_builtin(name, &o, &m);
    if (s == FROST_OK)
        s = cli_load_proxy_data(data, n_train, n_val, cfg->seed, &tr, &va);
    if (s == FROST_OK)
        s = frost_nas_evaluate_model(m, &tr, &va, cfg, &r);
    frost_dataset_free(&tr);
    frost_dataset_free(&va);
    frost_model_free(m);
    if (s != FROST_OK)
        return cli_error("eval-candidate");
    if (json)
        printf("{\"model\":\"%s\",\"width\":%g,\"int8_acc\":%.6f,\"latency_ms\":%.6f,"
               "\"train_acc\":%.6f,\"params\":%lld,\"macs\":%lld,\"train_seconds\":%.3f,"
               "\"fp32_acc\":%.6f}\n",
               name, (double)space->width, r.int8_acc, r.latency_ms, r.train_acc,
               (long long)r.params, (long long)r.macs, r.train_seconds, r.fp32_acc);
    else
        printf("%s w%g: int8 accuracy %.2f%% (float %.2f%%), latency %.4f ms, %.3fM params, "
               "%.2fM MACs\n",
               name, (double)space->width, 100 * r.int8_acc, 100 * r.fp32_acc, r.latency_ms,
               (double)r.params / 1e6, (double)r.macs / 1e6);
    return 0;
}

static const cli_opt options[] = {
    CLI_OPT_STR("genotype-json"),
    CLI_OPT_INT("random", 0, 1 << 30),
    CLI_OPT_STR("model"),
    CLI_OPT_INT("seed", 0, 1 << 30),
    CLI_OPT_FLAG("json"),
    CLI_OPT_STR("arch-out"),
    CLI_OPT_END,
};

int cmd_eval_candidate(int argc, char **argv)
{
    static const cli_opt *const tables[] = {options, cli_nas_eval_options, cli_data_options, NULL};
    static const cli_spec spec = {"eval-candidate", help, tables, 1};
    cli_args a;
    if (!cli_parse(&a, &spec, argc, argv))
        return a.exit_code;
    const char *gjson = cli_str(&a, "genotype-json", NULL);
    int random_seed = cli_int(&a, "random", -1);
    const char *model_name = cli_str(&a, "model", NULL);
    int n_train, n_val;
    frost_nas_eval_config cfg = frost_nas_eval_defaults();
    frost_nas_space space = frost_nas_space_default();
    cli_parse_nas_eval(&a, &cfg, &space, &n_train, &n_val);
    frost_cell_pair cells;
    char cells_path[4200];
    if (cli_nas_blocks(&a, &cells, &space, cells_path, sizeof cells_path) != FROST_OK)
        return cli_error("eval-candidate");
    cfg.seed = (uint64_t)cli_int(&a, "seed", (int)cfg.seed);
    bool json = cli_flag(&a, "json");
    cli_data_opts data;
    cli_parse_data(&a, &data);
    if (cfg.fp_epochs >= cfg.epochs) {
        fprintf(stderr,
                "frost eval-candidate: error: --fp-epochs (%d) must be fewer than "
                "--epochs (%d): QAT needs at least one epoch\n",
                cfg.fp_epochs, cfg.epochs);
        return 2;
    }
    int sources =
        (a.n_positional == 1) + (gjson != NULL) + (random_seed >= 0) + (model_name != NULL);
    if (sources != 1) {
        fprintf(stderr, "frost eval-candidate: error: give one genotype (text, --genotype-json "
                        "FILE, --random SEED or --model NAME; see frost eval-candidate --help)\n");
        return 2;
    }
    if (model_name && cli_given(&a, "blocks"))
        return cli_usage_error(&a, "--blocks adds cells to the search space; a built-in model "
                                   "(--model) has none");
    if (model_name)
        return eval_builtin(model_name, &space, &cfg, &data, n_train, n_val, json);
    frost_nas_genotype g;
    frost_status s = FROST_OK;
    if (gjson)
        s = read_genotype(gjson, &space, &g);
    else if (random_seed >= 0) {
        uint64_t state = (uint64_t)random_seed;
        frost_nas_sample(&space, &state, &g);
    } else
        s = frost_nas_from_string_in(&space, a.positional[0], &g);
    if (s == FROST_OK)
        s = frost_nas_check(&g, &space);
    if (s == FROST_OK && frost_nas_canonical(&g) && !json) {
        char t[128];
        frost_nas_to_string(&g, t, sizeof t);
        printf("note: the genotype builds the same network as its canonical form %s\n", t);
    }
    const char *arch_out = cli_str(&a, "arch-out", NULL);
    if (arch_out)
        return s == FROST_OK ? write_arch(&g, &space, arch_out) : cli_error("eval-candidate");
    frost_dataset tr = {0}, va = {0};
    if (s == FROST_OK)
        s = cli_load_proxy_data(&data, n_train, n_val, cfg.seed, &tr, &va);
    if (s == FROST_OK && !json) {
        char t[128];
        frost_nas_to_string(&g, t, sizeof t);
        printf("evaluating %s: %d training images, %d held out, %d epochs (%d float)...\n", t, tr.n,
               va.n, cfg.epochs, cfg.fp_epochs);
        fflush(stdout);
    }
    frost_nas_result r;
    if (s == FROST_OK)
        s = frost_nas_evaluate(&g, &space, &tr, &va, &cfg, &r);
    frost_dataset_free(&tr);
    frost_dataset_free(&va);
    if (s != FROST_OK)
        return cli_error("eval-candidate");
    char *line = frost_nas_result_json(&g, &r);
    if (json && line)
        printf("%s\n", line);
    else
        printf("int8 accuracy %.2f%% (held-out %d images; float %.2f%%), latency %.4f ms "
               "(median of %d, %d thread%s), %.3fM params, %.2fM MACs, trained in %.1fs\n",
               100.0 * r.int8_acc, n_val, 100.0 * r.fp32_acc, r.latency_ms, cfg.latency_reps,
               cfg.latency_threads, cfg.latency_threads == 1 ? "" : "s", (double)r.params / 1e6,
               (double)r.macs / 1e6, r.train_seconds);
    free(line);
    return 0;
}
