/*
 * Cells (include/frost/cell.h): the candidate operations, the discrete cell and its text
 * forms, and the network a cell is stacked into. The supernet (cell_supernet.c) builds
 * its edges with the same operation builders, so a derived cell computes exactly what its
 * chosen candidates computed inside the search.
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "frost/cell.h"
#include "models/blocks.h"
#include "models/graph.h"
#include "nas/cell_internal.h"

#define FROST_CELL_NAME_(id, name) [FROST_CELL_##id] = name,
static const char *const op_names[FROST_CELL_OP_COUNT] = {FROST_CELL_OP_LIST(FROST_CELL_NAME_)};
#undef FROST_CELL_NAME_

const char *frost_cell_op_name(frost_cell_op op)
{
    return (unsigned)op < FROST_CELL_OP_COUNT ? op_names[op] : "?";
}

int frost_cell_op_from_name(const char *name)
{
    for (int i = 0; name && i < FROST_CELL_OP_COUNT; i++)
        if (strcmp(name, op_names[i]) == 0)
            return i;
    return -1;
}

/* ---- the operations ---- */

/* The SC module's squeeze width: C/4 rounded to a multiple of 8, never below 8. */
static int squeeze_width(int c) { return frost_make_div8((float)c / 4.0f); }

static int sep_conv(frost_model *m, const char *p, int in, int c, int k, int stride)
{
    char name[FROST_NAME_LEN];
    snprintf(name, sizeof name, "%s.dw1", p);
    int x = frost_g_conv_bn_act(m, name, in, c, k, stride, c, FROST_ACT_RELU);
    snprintf(name, sizeof name, "%s.pw1", p);
    x = x < 0 ? -1 : frost_g_conv_bn_act(m, name, x, c, 1, 1, 1, FROST_ACT_RELU);
    snprintf(name, sizeof name, "%s.dw2", p);
    x = x < 0 ? -1 : frost_g_conv_bn_act(m, name, x, c, k, 1, c, FROST_ACT_RELU);
    snprintf(name, sizeof name, "%s.pw2", p);
    return x < 0 ? -1 : frost_g_conv_bn_act(m, name, x, c, 1, 1, 1, FROST_ACT_IDENTITY);
}

static int inverted(frost_model *m, const char *p, int in, int hidden, int c, int k, int stride)
{
    frost_builtin_ir_def d = {
        .hidden = hidden, .cout = c, .k = k, .stride = stride, .act = FROST_ACT_RELU, .skip = -1};
    return frost_builtin_inverted_residual(m, p, in, &d);
}

/* FrostNet's bottleneck on an edge: squeeze to R, concatenate [squeezed, input], expand
 * the concatenation 3x, depthwise, project (docs/models.md). */
static int sc_block(frost_model *m, const char *p, int in, int c, int k, int stride)
{
    char name[FROST_NAME_LEN];
    int r = squeeze_width(c);
    snprintf(name, sizeof name, "%s.squeeze", p);
    int sq = frost_g_conv_bn_act(m, name, in, r, 1, 1, 1, FROST_ACT_RELU);
    if (sq < 0)
        return -1;
    snprintf(name, sizeof name, "%s.cat", p);
    int cat = frost_g_concat(m, name, 2, (int[]){sq, in});
    return cat < 0 ? -1 : inverted(m, p, cat, 3 * (r + c), c, k, stride);
}

/* MBConv 3 with squeeze-excite as MnasNet and MobileNetV3 place it: after the depthwise,
 * gate = sigmoid-like(conv(act(conv(gap(x))))). */
static int se_block(frost_model *m, const char *p, int in, int c, int stride, frost_act_kind act,
                    frost_act_kind gate_act)
{
    char name[FROST_NAME_LEN];
    int hidden = 3 * c, s = squeeze_width(c);
    snprintf(name, sizeof name, "%s.expand", p);
    int x = frost_g_conv_bn_act(m, name, in, hidden, 1, 1, 1, act);
    snprintf(name, sizeof name, "%s.dw", p);
    x = x < 0 ? -1 : frost_g_conv_bn_act(m, name, x, hidden, 3, stride, hidden, act);
    if (x < 0)
        return -1;
    snprintf(name, sizeof name, "%s.se.pool", p);
    int g = frost_g_gap(m, name, x);
    snprintf(name, sizeof name, "%s.se.reduce", p);
    g = g < 0 ? -1 : frost_g_conv(m, name, g, s, 1, 1, 0, 1, true);
    snprintf(name, sizeof name, "%s.se.act", p);
    g = g < 0 ? -1 : frost_g_act(m, name, g, act == FROST_ACT_HSWISH ? FROST_ACT_RELU : act);
    snprintf(name, sizeof name, "%s.se.expand", p);
    g = g < 0 ? -1 : frost_g_conv(m, name, g, hidden, 1, 1, 0, 1, true);
    snprintf(name, sizeof name, "%s.se.gate", p);
    g = g < 0 ? -1 : frost_g_act(m, name, g, gate_act);
    snprintf(name, sizeof name, "%s.se.mul", p);
    x = g < 0 ? -1 : frost_g_mul(m, name, x, g);
    snprintf(name, sizeof name, "%s.project", p);
    return x < 0 ? -1 : frost_g_conv_bn_act(m, name, x, c, 1, 1, 1, FROST_ACT_IDENTITY);
}

int frost_cell_edge_op(frost_model *m, const char *prefix, int in, int c, int stride,
                       frost_cell_op op)
{
    char name[FROST_NAME_LEN];
    switch (op) {
    case FROST_CELL_NONE:
        frost_fail(FROST_ERR_ARG, "%s: 'none' is not an operation of a derived cell", prefix);
        return -1;
    case FROST_CELL_SKIP:
        if (stride == 1)
            return in;
        snprintf(name, sizeof name, "%s.reduce", prefix);
        return frost_g_conv_bn_act(m, name, in, c, 1, stride, 1, FROST_ACT_IDENTITY);
    case FROST_CELL_MAX3:
        snprintf(name, sizeof name, "%s.pool", prefix);
        return frost_g_maxpool(m, name, in, 3, stride, 1);
    case FROST_CELL_AVG3:
        snprintf(name, sizeof name, "%s.pool", prefix);
        return frost_g_avgpool(m, name, in, 3, stride, 1);
    case FROST_CELL_SEP3: return sep_conv(m, prefix, in, c, 3, stride);
    case FROST_CELL_SEP5: return sep_conv(m, prefix, in, c, 5, stride);
    case FROST_CELL_SC3: return sc_block(m, prefix, in, c, 3, stride);
    case FROST_CELL_SC5: return sc_block(m, prefix, in, c, 5, stride);
    case FROST_CELL_MB3: return inverted(m, prefix, in, 3 * c, c, 3, stride);
    case FROST_CELL_MB5: return inverted(m, prefix, in, 3 * c, c, 5, stride);
    case FROST_CELL_SE3:
        return se_block(m, prefix, in, c, stride, FROST_ACT_SILU, FROST_ACT_SIGMOID);
    case FROST_CELL_SEH3:
        return se_block(m, prefix, in, c, stride, FROST_ACT_HSWISH, FROST_ACT_HSIGMOID);
    case FROST_CELL_OP_COUNT: break;
    }
    frost_fail(FROST_ERR_ARG, "%s: unknown cell operation %d", prefix, (int)op);
    return -1;
}

/* ---- the network skeleton ---- */

frost_cell_net frost_cell_net_default(void)
{
    return (frost_cell_net){.in_h = 28,
                            .in_w = 28,
                            .in_c = 1,
                            .classes = 10,
                            .cells = 5,
                            .nodes = 4,
                            .channels = 8,
                            .stem_stride = 1};
}

bool frost_cell_is_reduction(int cell, int cells)
{
    return cell == cells / 3 || cell == 2 * cells / 3;
}

frost_status frost_cell_net_check(const frost_cell_net *n)
{
    if (n->in_h < 4 || n->in_w < 4 || n->in_c < 1 || n->in_c > 4 || n->classes < 2)
        return frost_fail(FROST_ERR_ARG, "cell network: input %dx%dx%d, %d classes is not usable",
                          n->in_h, n->in_w, n->in_c, n->classes);
    if (n->cells < 1 || n->cells > 32)
        return frost_fail(FROST_ERR_ARG, "cell network: cells must be in 1..32 (got %d)", n->cells);
    if (n->nodes < 2 || n->nodes > FROST_CELL_MAX_NODES)
        return frost_fail(FROST_ERR_ARG, "cell network: nodes must be in 2..%d (got %d)",
                          FROST_CELL_MAX_NODES, n->nodes);
    if (n->channels < 8 || n->channels > 1024)
        return frost_fail(FROST_ERR_ARG,
                          "cell network: channels must be in 8..1024 (got %d; a cell never "
                          "goes below 8 channels)",
                          n->channels);
    if (n->stem_stride != 1 && n->stem_stride != 2)
        return frost_fail(FROST_ERR_ARG, "cell network: stem stride must be 1 or 2 (got %d)",
                          n->stem_stride);
    return FROST_OK;
}

/* Builds stem, cells and tail; `cell` builds one cell from its input node. */
frost_status frost_cell_net_stack(const frost_cell_net *net, const char *model_name,
                                  frost_cell_build_fn cell, void *user, frost_model **out)
{
    FROST_TRY(frost_cell_net_check(net));
    frost_model *m = frost_g_new(model_name, net->in_h, net->in_w, net->in_c);
    if (!m)
        return frost_fail(FROST_ERR_NOMEM, "out of memory for the cell network");
    int x = frost_g_conv_bn_act(m, "stem", 0, 2 * net->channels, 3, net->stem_stride, 1,
                                FROST_ACT_RELU);
    int c = net->channels;
    for (int i = 0; i < net->cells && x >= 0; i++) {
        bool red = frost_cell_is_reduction(i, net->cells);
        if (red)
            c *= 2;
        x = cell(m, user, i, red, x, c);
    }
    if (x < 0 || frost_builtin_tail(m, x, 0, FROST_ACT_RELU, 0.0f, net->classes) < 0) {
        char why[256];
        snprintf(why, sizeof why, "%s", frost_last_error());
        frost_model_free(m);
        return frost_fail(FROST_ERR_ARG, "%s: %s", model_name, why);
    }
    *out = m;
    return FROST_OK;
}

int frost_cell_preprocess(frost_model *m, const char *prefix, int in, int c)
{
    char name[FROST_NAME_LEN];
    snprintf(name, sizeof name, "%s.pre", prefix);
    return frost_g_conv_bn_act(m, name, in, c, 1, 1, 1, FROST_ACT_RELU);
}

int frost_cell_output(frost_model *m, const char *prefix, const int *node_out, int nodes)
{
    char name[FROST_NAME_LEN];
    snprintf(name, sizeof name, "%s.out", prefix);
    return frost_g_concat(m, name, 2, (int[]){node_out[nodes - 2], node_out[nodes - 1]});
}

int frost_cell_sum(frost_model *m, const char *prefix, int node, const int *terms, int n)
{
    char name[FROST_NAME_LEN];
    int acc = terms[0];
    for (int k = 1; k < n && acc >= 0; k++) {
        snprintf(name, sizeof name, "%s.n%d.add%d", prefix, node, k);
        acc = frost_g_add(m, name, acc, terms[k]);
    }
    return acc;
}

/* ---- discrete cells ---- */

frost_status frost_cell_check(const frost_cell_genotype *g)
{
    if (g->nodes < 2 || g->nodes > FROST_CELL_MAX_NODES)
        return frost_fail(FROST_ERR_ARG, "cell: nodes must be in 2..%d (got %d)",
                          FROST_CELL_MAX_NODES, g->nodes);
    for (int j = 0; j < g->nodes; j++) {
        int want = j == 0 ? 1 : 2;
        if (g->n_in[j] != want)
            return frost_fail(FROST_ERR_ARG,
                              "cell: node %d has %d inputs (a derived cell gives "
                              "node 0 one input and every later node two)",
                              j, g->n_in[j]);
        for (int k = 0; k < g->n_in[j]; k++) {
            if (g->in[j][k] < 0 || g->in[j][k] > j)
                return frost_fail(FROST_ERR_ARG,
                                  "cell: node %d reads state %d (states 0..%d: the input and "
                                  "the earlier nodes)",
                                  j, g->in[j][k], j);
            if (g->op[j][k] <= FROST_CELL_NONE || g->op[j][k] >= FROST_CELL_OP_COUNT)
                return frost_fail(FROST_ERR_ARG, "cell: node %d has no real operation", j);
        }
        if (g->n_in[j] == 2 && g->in[j][0] == g->in[j][1])
            return frost_fail(FROST_ERR_ARG, "cell: node %d reads state %d twice", j, g->in[j][0]);
    }
    return FROST_OK;
}

int frost_cell_block(frost_model *m, const char *prefix, const frost_cell_genotype *g,
                     bool reduction, int in, int c)
{
    int state[FROST_CELL_MAX_NODES + 1];
    state[0] = frost_cell_preprocess(m, prefix, in, c);
    if (state[0] < 0)
        return -1;
    for (int j = 0; j < g->nodes; j++) {
        int terms[2];
        for (int k = 0; k < g->n_in[j]; k++) {
            int from = g->in[j][k];
            char edge[FROST_NAME_LEN];
            snprintf(edge, sizeof edge, "%s.n%d.%d", prefix, j, k);
            terms[k] = frost_cell_edge_op(m, edge, state[from], c, reduction && from == 0 ? 2 : 1,
                                          g->op[j][k]);
            if (terms[k] < 0)
                return -1;
        }
        state[j + 1] = frost_cell_sum(m, prefix, j, terms, g->n_in[j]);
        if (state[j + 1] < 0)
            return -1;
    }
    return frost_cell_output(m, prefix, state + 1, g->nodes);
}

typedef struct {
    const frost_cell_pair *pair;
} discrete_ctx;

static int discrete_cell(frost_model *m, void *user, int cell, bool reduction, int in, int c)
{
    const discrete_ctx *ctx = user;
    char prefix[FROST_NAME_LEN];
    snprintf(prefix, sizeof prefix, "c%d", cell);
    return frost_cell_block(m, prefix, reduction ? &ctx->pair->reduce : &ctx->pair->normal,
                            reduction, in, c);
}

frost_status frost_cell_build(const frost_cell_pair *p, const frost_cell_net *net,
                              frost_model **out)
{
    FROST_TRY(frost_cell_check(&p->normal));
    FROST_TRY(frost_cell_check(&p->reduce));
    if (p->normal.nodes != net->nodes || p->reduce.nodes != net->nodes)
        return frost_fail(FROST_ERR_ARG,
                          "cell network: the cells have %d and %d nodes, the "
                          "network %d",
                          p->normal.nodes, p->reduce.nodes, net->nodes);
    discrete_ctx ctx = {.pair = p};
    return frost_cell_net_stack(net, "cellnet", discrete_cell, &ctx, out);
}

/* ---- text forms ---- */

static cJSON *genotype_json(const frost_cell_genotype *g)
{
    cJSON *o = cJSON_CreateObject(), *edges = cJSON_CreateArray();
    if (!o || !edges) {
        cJSON_Delete(o);
        cJSON_Delete(edges);
        return NULL;
    }
    cJSON_AddNumberToObject(o, "nodes", g->nodes);
    cJSON_AddItemToObject(o, "edges", edges);
    for (int j = 0; j < g->nodes; j++)
        for (int k = 0; k < g->n_in[j]; k++) {
            cJSON *e = cJSON_CreateArray();
            cJSON_AddItemToArray(e, cJSON_CreateNumber(j));
            cJSON_AddItemToArray(e, cJSON_CreateNumber(g->in[j][k]));
            cJSON_AddItemToArray(e, cJSON_CreateString(frost_cell_op_name(g->op[j][k])));
            cJSON_AddItemToArray(edges, e);
        }
    return o;
}

char *frost_cell_pair_to_json(const frost_cell_pair *p)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    cJSON_AddItemToObject(root, "normal", genotype_json(&p->normal));
    cJSON_AddItemToObject(root, "reduce", genotype_json(&p->reduce));
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

static frost_status genotype_from_json(const cJSON *o, const char *what, frost_cell_genotype *g)
{
    memset(g, 0, sizeof *g);
    const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(o, "nodes");
    const cJSON *edges = cJSON_GetObjectItemCaseSensitive(o, "edges");
    if (!cJSON_IsObject(o) || !cJSON_IsNumber(nodes) || !cJSON_IsArray(edges))
        return frost_fail(FROST_ERR_FORMAT, "cell file: '%s' needs \"nodes\" and \"edges\"", what);
    static const char *const fields[] = {"nodes", "edges", NULL};
    FROST_TRY(frost_json_known_fields(o, fields, "cell file", what));
    if (nodes->valuedouble < 2 || nodes->valuedouble > FROST_CELL_MAX_NODES)
        return frost_fail(FROST_ERR_FORMAT, "cell file: '%s' has %g nodes (2..%d)", what,
                          nodes->valuedouble, FROST_CELL_MAX_NODES);
    g->nodes = nodes->valueint;
    const cJSON *e;
    cJSON_ArrayForEach(e, edges)
    {
        const cJSON *j = cJSON_GetArrayItem(e, 0), *i = cJSON_GetArrayItem(e, 1),
                    *op = cJSON_GetArrayItem(e, 2);
        if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 3 || !cJSON_IsNumber(j) ||
            !cJSON_IsNumber(i) || !cJSON_IsString(op))
            return frost_fail(FROST_ERR_FORMAT,
                              "cell file: '%s': an edge is [node, input, \"operation\"]", what);
        int node = j->valueint, k;
        if (node < 0 || node >= g->nodes || j->valuedouble != node)
            return frost_fail(FROST_ERR_FORMAT, "cell file: '%s': edge to node %g of %d", what,
                              j->valuedouble, g->nodes);
        if ((k = g->n_in[node]) >= 2)
            return frost_fail(FROST_ERR_FORMAT, "cell file: '%s': node %d has more than 2 edges",
                              what, node);
        int code = frost_cell_op_from_name(op->valuestring);
        if (code < 0)
            return frost_fail(FROST_ERR_FORMAT, "cell file: '%s': unknown operation '%s'", what,
                              op->valuestring);
        g->in[node][k] = i->valuedouble == i->valueint ? i->valueint : -1;
        g->op[node][k] = code;
        g->n_in[node]++;
    }
    frost_status s = frost_cell_check(g);
    if (s == FROST_OK)
        return s;
    char why[256];
    snprintf(why, sizeof why, "%s", frost_last_error());
    return frost_fail(s, "cell file: '%s': %s", what, why);
}

frost_status frost_cell_pair_from_json(const char *text, frost_cell_pair *out)
{
    cJSON *root;
    FROST_TRY(frost_json_parse_strict(text, "cell file", &root));
    static const char *const fields[] = {"normal", "reduce", NULL};
    frost_status s = frost_json_known_fields(root, fields, "cell file", "top level");
    if (s == FROST_OK)
        s = genotype_from_json(cJSON_GetObjectItemCaseSensitive(root, "normal"), "normal",
                               &out->normal);
    if (s == FROST_OK)
        s = genotype_from_json(cJSON_GetObjectItemCaseSensitive(root, "reduce"), "reduce",
                               &out->reduce);
    cJSON_Delete(root);
    return s;
}

char *frost_cell_to_dot(const frost_cell_genotype *g, const char *title)
{
    frost_strbuf b = {0};
    frost_strbuf_appendf(&b,
                         "digraph cell {\n  rankdir=LR; label=\"%s\"; labelloc=t;\n"
                         "  node [shape=box, style=\"rounded,filled\", fillcolor=lightyellow];\n"
                         "  in [label=\"input\\n(1x1 conv)\", fillcolor=lightblue];\n"
                         "  out [label=\"concat\", fillcolor=palegreen];\n",
                         title ? title : "cell");
    for (int j = 0; j < g->nodes; j++)
        frost_strbuf_appendf(&b, "  n%d [label=\"%d\", shape=circle];\n", j, j);
    for (int j = 0; j < g->nodes; j++)
        for (int k = 0; k < g->n_in[j]; k++) {
            int from = g->in[j][k];
            if (from == 0)
                frost_strbuf_appendf(&b, "  in -> n%d [label=\"%s\"];\n", j,
                                     frost_cell_op_name(g->op[j][k]));
            else
                frost_strbuf_appendf(&b, "  n%d -> n%d [label=\"%s\"];\n", from - 1, j,
                                     frost_cell_op_name(g->op[j][k]));
        }
    frost_strbuf_appendf(&b, "  n%d -> out;\n  n%d -> out;\n}\n", g->nodes - 2, g->nodes - 1);
    return frost_strbuf_finish(&b);
}
