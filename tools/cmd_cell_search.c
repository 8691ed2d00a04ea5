/* frost cell-search: DARTS / P-DARTS cell search, optionally quantization-aware
 * (docs/cell-search.md). Writes the derived cells, the alpha log and pictures to DIR. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "frost/cell.h"

static const char *const help =
    "usage: frost cell-search -o DIR [options]\n"
    "Searches a cell (the block a network repeats) by gradient descent on mixing weights\n"
    "(DARTS, first order), or in P-DARTS' progressive stages; with --qat the supernet\n"
    "trains with fake-quant (StatAssist float epochs, then GradBoost), so the search\n"
    "favours operations that hold up in int8. The cell has one input and outputs the\n"
    "concatenation of its last two nodes (FrostNet's cell; docs/cell-search.md).\n"
    "Writes to DIR: cell.json (the normal and the reduction cell), network.arch.json (the\n"
    "cells stacked into a network for frost train --arch), alpha.csv (every mixing weight\n"
    "after every epoch), log.csv, normal.dot / reduce.dot (and .svg when Graphviz' dot is\n"
    "installed).\n\n"
    "search:\n"
    "  --qat               quantization-aware search (W8A8 per-channel unless the\n"
    "                      quantization options below say otherwise)\n"
    "  --fp-epochs E       StatAssist float epochs before fake-quant starts (default 1)\n"
    "  --no-gradboost      plain SGD in the quantized epochs\n"
    "  --pdarts            three stages (P-DARTS): deeper supernets, fewer candidates\n"
    "  --stages N          1 (DARTS, default) to 3\n"
    "  --cells A[,B,C]     supernet depth per stage (default 5,8,11)\n"
    "  --keep A,B          candidates (besides none) kept per edge entering stages 2 and 3\n"
    "                      (default 5,3)\n"
    "  --skip-drop A,B,C   skip dropout per stage (default 0,0.4,0.7)\n"
    "  --max-skips N       skips allowed in the derived normal cell (default 2; -1: any)\n"
    "  --ops LIST          candidates, comma-separated (default none,skip,max_pool_3,\n"
    "                      avg_pool_3,sep_conv_3,sep_conv_5,sc_3,mbconv_3,se_swish_3;\n"
    "                      also sc_5, mbconv_5, se_hswish_3)\n"
    "  --nodes N           intermediate nodes per cell (default 4)\n"
    "  --channels C        channels of the first cells, >= 8 (default 8)\n"
    "  --stem-stride S     1 (default) or 2\n"
    "  --epochs E          epochs per stage (default 10)\n"
    "  --warmup E          epochs per stage before alpha updates start (default 3)\n"
    "  --train N           training images used: half train the weights, the other\n"
    "                      half the mixing weights (default 10000)\n"
    "  --batch N           (default 64)\n"
    "  --lr X              weights: SGD momentum 0.9, cosine to 0.001 (default 0.025)\n"
    "  --alpha-lr X        mixing weights: Adam (0.5, 0.999), wd 1e-3 (default 6e-4)\n"
    "  --seed S            (default 1)\n"
    "  --threads N         (default: all cores)\n"
    "  --final-cells N     depth of network.arch.json (default 8)\n"
    "  --from CELL.json    no search: write network.arch.json and the pictures of a given\n"
    "                      cell pair (a hand-made cell, or another run's cell.json)\n"
    "  -o, --out DIR       output folder (created; existing files are overwritten)\n\n"
    "quantization (with --qat):\n"
    "  --w-bits B --a-bits B   weight / activation bits, 2..8 (8, 8)\n"
    "  --per-tensor        one weight scale per layer instead of per output "
    "channel\n\n" CLI_DATA_HELP;

static const cli_opt options[] = {
    CLI_OPT_OUT_DIR,
    CLI_OPT_FLAG("qat"),
    CLI_OPT_INT("fp-epochs", 0, 100),
    CLI_OPT_FLAG("no-gradboost"),
    CLI_OPT_FLAG("pdarts"),
    CLI_OPT_INT("stages", 1, FROST_CELL_MAX_STAGES),
    CLI_OPT_STR("cells"),
    CLI_OPT_STR("keep"),
    CLI_OPT_STR("skip-drop"),
    CLI_OPT_INT("max-skips", -1, 16),
    CLI_OPT_STR("ops"),
    CLI_OPT_INT("nodes", 2, FROST_CELL_MAX_NODES),
    CLI_OPT_INT("channels", 8, 1024),
    CLI_OPT_INT("stem-stride", 1, 2),
    CLI_OPT_INT("epochs", 1, 1000),
    CLI_OPT_INT("warmup", 0, 999),
    CLI_OPT_INT("train", 2, 1 << 30),
    CLI_OPT_INT("batch", 2, 4096),
    CLI_OPT_FLOAT("lr", 1e-6, 10),
    CLI_OPT_FLOAT("alpha-lr", 1e-7, 1),
    CLI_OPT_INT("seed", 0, 1 << 30),
    CLI_OPT_INT("threads", 1, 1024),
    CLI_OPT_INT("final-cells", 3, 32),
    CLI_OPT_STR("from"),
    CLI_OPT_INT("w-bits", 2, 8),
    CLI_OPT_INT("a-bits", 2, 8),
    CLI_OPT_FLAG("per-tensor"),
    CLI_OPT_END,
};

/* "a,b,c" -> up to max numbers; false (with a usage error) on anything else. */
static bool parse_list(const cli_args *a, const char *name, int max, float *out, int *n)
{
    const char *s = cli_str(a, name, NULL);
    *n = 0;
    while (s && *s) {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || errno || *n == max || (*end && *end != ',')) {
            cli_usage_error(a, "--%s takes up to %d comma-separated numbers (got '%s')", name, max,
                            cli_str(a, name, ""));
            return false;
        }
        out[(*n)++] = (float)v;
        s = *end ? end + 1 : end;
    }
    return true;
}

static bool parse_ops(const cli_args *a, frost_cell_search_config *c)
{
    const char *list = cli_str(a, "ops", NULL);
    if (!list)
        return true;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    c->n_ops = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int op = frost_cell_op_from_name(t);
        if (op < 0 || c->n_ops == FROST_CELL_OP_COUNT) {
            cli_usage_error(a, "--ops: unknown operation '%s' (see --help)", t);
            return false;
        }
        c->ops[c->n_ops++] = op;
    }
    return true;
}

static bool parse_stages(const cli_args *a, frost_cell_search_config *c)
{
    float v[FROST_CELL_MAX_STAGES];
    int n;
    c->stages = cli_flag(a, "pdarts") ? 3 : cli_int(a, "stages", 1);
    if (!parse_list(a, "cells", FROST_CELL_MAX_STAGES, v, &n))
        return false;
    for (int k = 0; k < n; k++)
        c->cells[k] = (int)v[k];
    if (!parse_list(a, "keep", FROST_CELL_MAX_STAGES - 1, v, &n))
        return false;
    for (int k = 0; k < n; k++)
        c->keep[k + 1] = (int)v[k];
    if (!parse_list(a, "skip-drop", FROST_CELL_MAX_STAGES, v, &n))
        return false;
    for (int k = 0; k < n; k++)
        c->skip_drop[k] = v[k];
    return true;
}

typedef struct {
    FILE *alpha, *log;
    const char *dir;
} search_out;

static void genotype_text(const frost_cell_genotype *g, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = 0;
    for (int j = 0; j < g->nodes; j++)
        for (int k = 0; k < g->n_in[j]; k++)
            len +=
                (size_t)snprintf(buf + len, len < size ? size - len : 0, "%s%d<-%d:%s",
                                 len ? " " : "", j, g->in[j][k], frost_cell_op_name(g->op[j][k]));
}

static void on_progress(const frost_cell_progress *p, void *user)
{
    search_out *o = user;
    if (p->batch >= 0) {
        printf("  stage %d/%d epoch %d/%d batch %d/%d: loss %.4f, train %.2f%%%s\r", p->stage + 1,
               p->stages, p->epoch + 1, p->epochs, p->batch + 1, p->batches, (double)p->train_loss,
               100.0 * p->train_acc, p->alpha_updates ? "" : " (alpha frozen)");
        fflush(stdout);
        return;
    }
    char normal[512], reduce[512];
    genotype_text(&p->derived->normal, normal, sizeof normal);
    genotype_text(&p->derived->reduce, reduce, sizeof reduce);
    printf("stage %d/%d (%d cells) epoch %d/%d: loss %.4f, train %.2f%%, held-out %s%.2f%%, "
           "skip dropout %.2f, %.0fs\n    normal: %s\n    reduce: %s\n",
           p->stage + 1, p->stages, p->cells, p->epoch + 1, p->epochs, (double)p->train_loss,
           100.0 * p->train_acc, p->val_acc < 0 ? "(alpha frozen) " : "",
           p->val_acc < 0 ? 0.0 : 100.0 * p->val_acc, (double)p->skip_p, p->seconds, normal,
           reduce);
    fflush(stdout);
    fprintf(o->log, "%d,%d,%d,%.5f,%.5f,%.5f,%.3f,%.1f,\"%s\",\"%s\"\n", p->stage + 1, p->epoch + 1,
            p->cells, (double)p->train_loss, (double)p->train_acc, (double)p->val_acc,
            (double)p->skip_p, p->seconds, normal, reduce);
    fflush(o->log);
    static const char *const type[2] = {"normal", "reduce"};
    int nodes = p->derived->normal.nodes;
    for (int t = 0; t < 2; t++)
        for (int j = 0; j < nodes; j++)
            for (int i = 0; i <= j; i++) {
                int e = j * (j + 1) / 2 + i;
                for (int k = 0; k < p->cand[t].n_ops[e]; k++)
                    fprintf(o->alpha, "%d,%d,%s,%d,%d,%d,%s,%.6f\n", p->stage + 1, p->epoch + 1,
                            type[t], e, j, i, frost_cell_op_name(p->cand[t].ops[e][k]),
                            (double)p->w[t].w[e][k]);
            }
    fflush(o->alpha);
}

static FILE *open_in(const char *dir, const char *name, const char *header)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f && header)
        fputs(header, f);
    return f;
}

static bool write_text(const char *dir, const char *name, const char *text)
{
    FILE *f = open_in(dir, name, NULL);
    bool ok = f && text && fputs(text, f) != EOF;
    if (f && fclose(f) != 0)
        ok = false;
    return ok;
}

/* Graphviz is optional: the .dot files are the picture's source either way. */
static void render_svg(const char *dir, const char *name)
{
    if (system("command -v dot >/dev/null 2>&1") != 0)
        return;
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "dot -Tsvg '%s/%s.dot' -o '%s/%s.svg'", dir, name, dir, name);
    if (system(cmd) != 0)
        fprintf(stderr, "frost cell-search: note: dot could not draw %s/%s.svg\n", dir, name);
}

static int write_results(const char *dir, const frost_cell_pair *pair, const frost_cell_net *net)
{
    char *json = frost_cell_pair_to_json(pair);
    char *dn = frost_cell_to_dot(&pair->normal, "normal cell");
    char *dr = frost_cell_to_dot(&pair->reduce, "reduction cell");
    frost_model *m = NULL;
    char *arch = NULL;
    frost_status s = frost_cell_build(pair, net, &m);
    if (s == FROST_OK && !(arch = frost_model_to_json(m)))
        s = frost_fail(FROST_ERR_NOMEM, "cannot write the network as JSON");
    frost_model_free(m);
    bool ok = s == FROST_OK && write_text(dir, "cell.json", json) &&
              write_text(dir, "normal.dot", dn) && write_text(dir, "reduce.dot", dr) &&
              write_text(dir, "network.arch.json", arch);
    free(json);
    free(dn);
    free(dr);
    free(arch);
    if (s != FROST_OK)
        return cli_error("cell-search");
    if (!ok) {
        fprintf(stderr, "frost cell-search: error: cannot write the results into %s\n", dir);
        return 1;
    }
    render_svg(dir, "normal");
    render_svg(dir, "reduce");
    return 0;
}

/* --from: the network and pictures of given cells, no search. */
static int from_cells(const cli_args *a, const char *dir, frost_cell_net net, int final_cells)
{
    frost_cell_pair pair;
    if (cli_read_cells(cli_str(a, "from", ""), &pair) != FROST_OK)
        return cli_error("cell-search");
    cli_data_opts data;
    frost_dataset tr = {0}, te = {0};
    cli_parse_data(a, &data);
    frost_status s = cli_load_data(&data, false, true, &tr, &te); /* the input shape only */
    if (s != FROST_OK)
        return cli_error("cell-search");
    net.in_h = te.h;
    net.in_w = te.w;
    net.in_c = te.c;
    net.classes = te.classes;
    net.cells = final_cells;
    net.nodes = pair.normal.nodes;
    frost_dataset_free(&te);
    int rc = write_results(dir, &pair, &net);
    if (rc == 0)
        printf("wrote %s/network.arch.json and normal/reduce.dot\n", dir);
    return rc;
}

static bool make_dir(const char *dir)
{
    struct stat st;
    if (mkdir(dir, 0777) == 0 || (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)))
        return true;
    fprintf(stderr, "frost cell-search: error: cannot create the folder %s (%s)\n", dir,
            errno == EEXIST ? "a file of that name exists" : strerror(errno));
    return false;
}

static bool parse_config(const cli_args *a, frost_cell_search_config *c, int *n_train,
                         int *final_cells)
{
    *c = frost_cell_search_defaults();
    if (!parse_stages(a, c) || !parse_ops(a, c))
        return false;
    c->net.nodes = cli_int(a, "nodes", c->net.nodes);
    c->net.channels = cli_int(a, "channels", c->net.channels);
    c->net.stem_stride = cli_int(a, "stem-stride", c->net.stem_stride);
    c->epochs = cli_int(a, "epochs", c->epochs);
    c->warmup = cli_int(a, "warmup", c->warmup < c->epochs ? c->warmup : c->epochs - 1);
    c->batch = cli_int(a, "batch", c->batch);
    c->w_lr = cli_float(a, "lr", c->w_lr);
    c->a_lr = cli_float(a, "alpha-lr", c->a_lr);
    c->max_skips = cli_int(a, "max-skips", c->max_skips);
    c->fp_epochs = cli_int(a, "fp-epochs", c->fp_epochs);
    c->gradboost = !cli_flag(a, "no-gradboost");
    c->seed = (uint64_t)cli_int(a, "seed", (int)c->seed);
    c->threads = cli_int(a, "threads", 0);
    *n_train = cli_int(a, "train", 10000);
    *final_cells = cli_int(a, "final-cells", 8);
    return true;
}

static frost_status load_split(const cli_args *a, int n_train, uint64_t seed,
                               frost_cell_search_config *c, frost_dataset *tr, frost_dataset *va)
{
    cli_data_opts data;
    cli_parse_data(a, &data);
    frost_status s = cli_load_proxy_data(&data, n_train - n_train / 2, n_train / 2, seed, tr, va);
    if (s != FROST_OK)
        return s;
    c->net.in_h = tr->h;
    c->net.in_w = tr->w;
    c->net.in_c = tr->c;
    c->net.classes = tr->classes > va->classes ? tr->classes : va->classes;
    return FROST_OK;
}

int cmd_cell_search(int argc, char **argv)
{
    static const cli_opt *const tables[] = {options, cli_data_options, NULL};
    static const cli_spec spec = {"cell-search", help, tables, 0};
    cli_args a;
    if (!cli_parse(&a, &spec, argc, argv))
        return a.exit_code;
    const char *dir = cli_str(&a, "out", NULL);
    if (!dir)
        return cli_usage_error(&a, "the output folder is required (-o DIR)");
    frost_cell_search_config c;
    int n_train, final_cells;
    if (!parse_config(&a, &c, &n_train, &final_cells))
        return 2;
    frost_qconfig *qc = NULL;
    if (cli_flag(&a, "qat")) {
        frost_status s = frost_qconfig_default(&qc);
        if (s == FROST_OK)
            s = frost_qconfig_set_defaults(qc, cli_int(&a, "w-bits", -1), cli_int(&a, "a-bits", -1),
                                           cli_flag(&a, "per-tensor") ? 0 : -1, -1);
        if (s != FROST_OK) {
            frost_qconfig_free(qc);
            return cli_error("cell-search");
        }
        c.qconfig = qc;
    } else if (cli_given(&a, "w-bits") || cli_given(&a, "a-bits") || cli_flag(&a, "per-tensor"))
        return cli_usage_error(&a, "--w-bits, --a-bits and --per-tensor need --qat");
    if (!make_dir(dir)) {
        frost_qconfig_free(qc);
        return 1;
    }
    if (cli_given(&a, "from")) {
        frost_qconfig_free(qc);
        return from_cells(&a, dir, c.net, final_cells);
    }
    frost_dataset tr = {0}, va = {0};
    frost_status s = load_split(&a, n_train, c.seed, &c, &tr, &va);
    search_out o = {.dir = dir};
    if (s == FROST_OK) {
        o.alpha = open_in(dir, "alpha.csv", "stage,epoch,cell,edge,node,input,op,weight\n");
        o.log = open_in(dir, "log.csv",
                        "stage,epoch,cells,train_loss,train_acc,val_acc,skip_dropout,seconds,"
                        "normal,reduce\n");
        if (!o.alpha || !o.log)
            s = frost_fail(FROST_ERR_IO, "cannot create files in %s", dir);
    }
    frost_cell_pair pair;
    if (s == FROST_OK) {
        cli_print_cpu(false);
        printf("cell search (%s%s): %d stage%s, %d training + %d held-out images, %d epochs per "
               "stage (%d with alpha frozen)\n",
               c.stages > 1 ? "P-DARTS" : "DARTS", qc ? ", quantization-aware" : "", c.stages,
               c.stages > 1 ? "s" : "", tr.n, va.n, c.epochs, c.warmup);
        fflush(stdout);
        s = frost_cell_search(&tr, &va, &c, on_progress, &o, &pair);
    }
    if (o.alpha)
        fclose(o.alpha);
    if (o.log)
        fclose(o.log);
    frost_dataset_free(&tr);
    frost_dataset_free(&va);
    frost_qconfig_free(qc);
    if (s != FROST_OK)
        return cli_error("cell-search");
    frost_cell_net net = c.net;
    net.cells = final_cells;
    int rc = write_results(dir, &pair, &net);
    if (rc == 0)
        printf("wrote %s/cell.json, network.arch.json, alpha.csv, log.csv, normal/reduce.dot\n"
               "train the derived network fully:\n  frost train --arch %s/network.arch.json --qat "
               "--gradboost --epochs 7 -o %s/network.safetensors\n",
               dir, dir, dir);
    return rc;
}
