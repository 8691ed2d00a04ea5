/*
 * .int8 files: safetensors holding the integer tensors ("<node>.weight" I8, ".bias",
 * ".mult", ".shift" I32, ".lut" U8, ".wscale" (weight scales), ".out_scale", ".out_bias"
 * F32) and, in the metadata
 * key "frost.int8", the graph as JSON:
 *   {"format": "frost-int8", "version": 1, "name": .., "input": [h, w, c], "classes": n,
 *    "requant": "fixed" | "float" (optional, default fixed), "nodes": [{"name", "op", "in": [..],
 * "shape": [h, w, c], "scale", "zp", "lo", "hi", "k", "stride", "pad", "groups", "acc_shift",
 * "wbits" (version 2, optional: 1 or 2, the ".weight" tensor is then U8 packed codes,
 * lowbit.c), "levels" (version 3, optional, true with "wbits": TTQ, a ".levels" I8
 * [cout, 2] tensor gives each channel's weight of a +1 and a -1 code), "ain" (version 3,
 * optional: "sign" or "xnor", a binarized input, binact.c; needs "wbits")}, ..]}. A file is
 * written with the lowest version that holds it (no packed weights: version 1).
 * Loading maps the file and checks everything: the JSON's types and ranges, that each
 * node's shape follows from its inputs, and every tensor's dtype and exact shape.
 */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "frost/io.h"
#include "int8/i8model.h"

#define META_KEY    "frost.int8"
#define FORMAT_NAME "frost-int8"

/* ---- writing ---- */

static bool add_ints(cJSON *o, const char *key, const int *v, int n)
{
    cJSON *a = cJSON_AddArrayToObject(o, key);
    for (int i = 0; a && i < n; i++)
        if (!cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i])))
            return false;
    return a != NULL;
}

static cJSON *node_json(const frost_int8_node *n)
{
    cJSON *o = cJSON_CreateObject();
    int shape[3] = {n->h, n->w, n->c};
    bool ok = o && cJSON_AddStringToObject(o, "name", n->name) &&
              cJSON_AddStringToObject(o, "op", frost_int8_op_name(n->op)) &&
              add_ints(o, "in", n->in, n->n_in) && add_ints(o, "shape", shape, 3) &&
              cJSON_AddNumberToObject(o, "scale", (double)n->scale) &&
              cJSON_AddNumberToObject(o, "zp", n->zp) && cJSON_AddNumberToObject(o, "lo", n->lo) &&
              cJSON_AddNumberToObject(o, "hi", n->hi) && cJSON_AddNumberToObject(o, "k", n->k) &&
              cJSON_AddNumberToObject(o, "stride", n->stride) &&
              cJSON_AddNumberToObject(o, "pad", n->pad) &&
              cJSON_AddNumberToObject(o, "groups", n->groups) &&
              cJSON_AddNumberToObject(o, "acc_shift", n->acc_shift) &&
              (!n->wbits || cJSON_AddNumberToObject(o, "wbits", n->wbits)) &&
              (!n->wlevels || cJSON_AddTrueToObject(o, "levels")) &&
              (!n->ain || cJSON_AddStringToObject(o, "ain", frost_int8_ain_name(n->ain)));
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* "preprocess": {"mean": [3], "std": [3], "channels": "rgb"|"bgr"} (frost/model.h) */
static bool add_preprocess(cJSON *root, const frost_preprocess *p)
{
    cJSON *o = cJSON_AddObjectToObject(root, "preprocess");
    cJSON *mean = o ? cJSON_AddArrayToObject(o, "mean") : NULL;
    cJSON *std = o ? cJSON_AddArrayToObject(o, "std") : NULL;
    if (!mean || !std)
        return false;
    for (int i = 0; i < 3; i++) {
        cJSON_AddItemToArray(mean, cJSON_CreateNumber(p->mean[i]));
        cJSON_AddItemToArray(std, cJSON_CreateNumber(p->std[i]));
    }
    return cJSON_AddStringToObject(o, "channels", p->bgr ? "bgr" : "rgb") != NULL;
}

/* The lowest format version that holds the model: what older readers can read stays
 * readable by them. */
static int format_version(const frost_int8_model *m)
{
    int version = 1;
    for (int i = 0; i < m->n_nodes; i++) {
        int need = m->nodes[i].wlevels || m->nodes[i].ain ? 3 : m->nodes[i].wbits ? 2 : 1;
        version = need > version ? need : version;
    }
    return version;
}

static char *graph_json(const frost_int8_model *m)
{
    cJSON *root = cJSON_CreateObject();
    int input[3] = {m->in_h, m->in_w, m->in_c};
    cJSON *nodes = NULL;
    int version = format_version(m);
    bool ok = root && cJSON_AddStringToObject(root, "format", FORMAT_NAME) &&
              cJSON_AddNumberToObject(root, "version", version) &&
              cJSON_AddStringToObject(root, "name", m->name) && add_ints(root, "input", input, 3) &&
              cJSON_AddNumberToObject(root, "classes", m->classes) &&
              cJSON_AddStringToObject(root, "requant", m->float_requant ? "float" : "fixed") &&
              (nodes = cJSON_AddArrayToObject(root, "nodes"));
    for (int i = 0; ok && i < m->n_nodes; i++)
        ok = cJSON_AddItemToArray(nodes, node_json(&m->nodes[i]));
    if (ok && m->pre.set)
        ok = add_preprocess(root, &m->pre);
    char *s = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return s;
}

typedef struct {
    frost_st_tensor *t;
    char (*names)[FROST_I8_NAME_LEN + 16];
    int n;
} tensor_list;

static void add_tensor(tensor_list *l, const char *node, const char *suffix, frost_dtype dt,
                       int64_t d0, int64_t d1, const void *data)
{
    snprintf(l->names[l->n], sizeof l->names[0], "%s.%s", node, suffix);
    frost_st_tensor *t = &l->t[l->n++];
    t->name = l->names[l->n - 1];
    t->dtype = dt;
    t->ndim = d1 > 0 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->data = data;
}

/* int32 / float tensors first, then bytes: every tensor stays 4-byte aligned in a map. */
static void list_tensors(const frost_int8_model *m, tensor_list *l, bool words)
{
    for (int i = 0; i < m->n_nodes; i++) {
        const frost_int8_node *n = &m->nodes[i];
        bool wt = n->op == FROST_I8_CONV || n->op == FROST_I8_LINEAR || n->op == FROST_I8_LOGITS;
        if (words && n->op == FROST_I8_LOGITS) {
            add_tensor(l, n->name, "out_scale", FROST_DT_F32, n->c, 0, n->out_scale);
            add_tensor(l, n->name, "out_bias", FROST_DT_F32, n->c, 0, n->out_bias);
        } else if (words && wt) {
            add_tensor(l, n->name, "bias", FROST_DT_I32, n->c, 0, n->bias);
        }
        if (words && wt)
            add_tensor(l, n->name, "wscale", FROST_DT_F32, n->c, 0, n->wscale);
        if (words && n->mult && n->op != FROST_I8_LOGITS) {
            add_tensor(l, n->name, "mult", FROST_DT_I32, n->n_mult, 0, n->mult);
            add_tensor(l, n->name, "shift", FROST_DT_I32, n->n_mult, 0, n->shift);
        }
        if (!words && wt) {
            int64_t inner =
                n->op == FROST_I8_CONV
                    ? (int64_t)n->k * n->k * (m->nodes[n->in[0]].c / n->groups)
                    : (int64_t)m->nodes[n->in[0]].h * m->nodes[n->in[0]].w * m->nodes[n->in[0]].c;
            if (n->wbits)
                add_tensor(l, n->name, "weight", FROST_DT_U8, n->c,
                           (int64_t)frost_int8_packed_row_bytes(n->wbits, inner), n->wpacked);
            else
                add_tensor(l, n->name, "weight", FROST_DT_I8, n->c, inner, n->weight);
            if (n->wlevels)
                add_tensor(l, n->name, "levels", FROST_DT_I8, n->c, 2, n->wlevels);
        }
        if (!words && n->lut)
            add_tensor(l, n->name, "lut", FROST_DT_U8, n->n_in, 256, n->lut);
    }
}

frost_status frost_int8_save(const frost_int8_model *m, const char *path)
{
    if (!m || !path)
        return frost_fail(FROST_ERR_ARG, "int8 save: NULL argument");
    tensor_list l = {malloc((size_t)m->n_nodes * 8 * sizeof *l.t),
                     malloc((size_t)m->n_nodes * 8 * sizeof *l.names), 0};
    char *json = graph_json(m);
    frost_status s;
    if (!l.t || !l.names || !json) {
        s = frost_fail(FROST_ERR_NOMEM, "int8 save: out of memory");
    } else {
        list_tensors(m, &l, true);
        list_tensors(m, &l, false);
        frost_st_meta meta[1] = {{META_KEY, json}};
        s = frost_st_write(path, l.t, l.n, meta, 1);
    }
    free(l.t);
    free(l.names);
    cJSON_free(json);
    return s;
}

/* ---- reading ---- */

typedef struct {
    const char *path;
    frost_st_file *f;
    int version;
    bool levels; /* the node being read has "levels" (parse_levels_flag) */
} load_ctx;

static frost_status bad(const load_ctx *c, const char *what, const char *node)
{
    return frost_fail(FROST_ERR_FORMAT, "file %s: %s%s%s", c->path, what, node ? " in node " : "",
                      node ? node : "");
}

/* An integer field in [lo, hi]. */
static frost_status get_int(const load_ctx *c, const cJSON *o, const char *key, int lo, int hi,
                            const char *node, int *out)
{
    const cJSON *v = key ? cJSON_GetObjectItemCaseSensitive(o, key) : o; /* NULL: o itself */
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > hi)
        return frost_fail(FROST_ERR_FORMAT,
                          "file %s: field \"%s\"%s%s is missing or not an "
                          "integer in [%d, %d]",
                          c->path, key ? key : "(array item)", node ? " of node " : "",
                          node ? node : "", lo, hi);
    *out = (int)v->valuedouble;
    return FROST_OK;
}

static frost_status get_ints(const load_ctx *c, const cJSON *o, const char *key, int min_n,
                             int max_n, int lo, int hi, const char *node, int *out, int *n)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    int len = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1;
    if (len < min_n || len > max_n)
        return frost_fail(FROST_ERR_FORMAT,
                          "file %s: field \"%s\"%s%s must be an array of "
                          "%d to %d integers",
                          c->path, key, node ? " of node " : "", node ? node : "", min_n, max_n);
    for (int i = 0; i < len; i++)
        FROST_TRY(get_int(c, cJSON_GetArrayItem(a, i), NULL, lo, hi, node, &out[i]));
    if (n)
        *n = len;
    return FROST_OK;
}

/* "levels": true marks packed TTQ weights with a ".levels" tensor (read with the weights);
 * the flag is only valid on packed weights in a version 3 file. */
static frost_status parse_levels_flag(load_ctx *c, const cJSON *o, const frost_int8_node *n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "levels");
    c->levels = v != NULL;
    if (!v)
        return FROST_OK;
    if (c->version < 3)
        return bad(c, "\"levels\" (TTQ weights) needs format version 3", n->name);
    if (!cJSON_IsTrue(v))
        return bad(c, "\"levels\" must be true when present", n->name);
    if (!n->wbits)
        return bad(c, "\"levels\" without packed weights (\"wbits\")", n->name);
    if (n->ain)
        return bad(c, "\"levels\" (TTQ) with a binarized input (\"ain\")", n->name);
    return FROST_OK;
}

/* "ain": a binarized input, on a conv / linear node with packed weights (parsed after
 * "wbits"). */
static frost_status parse_ain(const load_ctx *c, const cJSON *o, frost_int8_node *n)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "ain");
    if (!a)
        return FROST_OK;
    if (c->version < 3)
        return bad(c, "\"ain\" (binarized input) needs format version 3", n->name);
    int v = cJSON_IsString(a) ? frost_int8_ain_parse(a->valuestring) : -1;
    if (v < 0)
        return bad(c, "unknown \"ain\" (this frost reads \"sign\" and \"xnor\")", n->name);
    if (n->op != FROST_I8_CONV && n->op != FROST_I8_LINEAR)
        return bad(c, "\"ain\" on a node other than conv or linear", n->name);
    if (!n->wbits)
        return bad(c, "\"ain\" without packed weights (\"wbits\")", n->name);
    n->ain = (frost_int8_ain)v;
    return FROST_OK;
}

static frost_status parse_node(const load_ctx *c, const cJSON *o, frost_int8_node *n)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(o, "op");
    if (!cJSON_IsString(name) || strlen(name->valuestring) == 0 ||
        strlen(name->valuestring) >= FROST_I8_NAME_LEN)
        return bad(c, "a node has no valid \"name\"", NULL);
    snprintf(n->name, sizeof n->name, "%s", name->valuestring);
    int opi = cJSON_IsString(op) ? frost_int8_op_parse(op->valuestring) : -1;
    if (opi < 0)
        return bad(c, "unknown \"op\"", n->name);
    n->op = (frost_int8_op)opi;
    n->source = -1;
    int shape[3];
    FROST_TRY(get_ints(c, o, "in", 0, FROST_I8_MAX_INPUTS, 0, 1 << 20, n->name, n->in, &n->n_in));
    FROST_TRY(get_ints(c, o, "shape", 3, 3, 1, 1 << 16, n->name, shape, NULL));
    n->h = shape[0], n->w = shape[1], n->c = shape[2];
    const cJSON *scale = cJSON_GetObjectItemCaseSensitive(o, "scale");
    if (!cJSON_IsNumber(scale))
        return bad(c, "\"scale\" is not a number", n->name);
    n->scale = (float)scale->valuedouble;
    FROST_TRY(get_int(c, o, "zp", 0, 255, n->name, &n->zp));
    FROST_TRY(get_int(c, o, "lo", 0, 255, n->name, &n->lo));
    FROST_TRY(get_int(c, o, "hi", 0, 255, n->name, &n->hi));
    FROST_TRY(get_int(c, o, "k", 1, 15, n->name, &n->k));
    FROST_TRY(get_int(c, o, "stride", 1, 8, n->name, &n->stride));
    FROST_TRY(get_int(c, o, "pad", 0, 14, n->name, &n->pad));
    FROST_TRY(get_int(c, o, "acc_shift", 0, 24, n->name, &n->acc_shift));
    if (cJSON_GetObjectItemCaseSensitive(o, "wbits")) {
        if (c->version < 2)
            return bad(c, "\"wbits\" (packed weights) needs format version 2", n->name);
        if (n->op != FROST_I8_CONV && n->op != FROST_I8_LINEAR && n->op != FROST_I8_LOGITS)
            return bad(c, "\"wbits\" on a node without weights", n->name);
        FROST_TRY(get_int(c, o, "wbits", 1, 2, n->name, &n->wbits));
    }
    FROST_TRY(parse_ain(c, o, n));
    return get_int(c, o, "groups", 1, 1 << 16, n->name, &n->groups);
}

/* The tensor "<node>.<suffix>" with exactly this dtype and shape ([d0] or [d0, d1]). */
static frost_status tensor(const load_ctx *c, const frost_int8_node *n, const char *suffix,
                           frost_dtype dt, int64_t d0, int64_t d1, const void **out)
{
    char key[FROST_I8_NAME_LEN + 16];
    snprintf(key, sizeof key, "%s.%s", n->name, suffix);
    const frost_st_tensor *t = frost_st_find(c->f, key);
    if (!t)
        return frost_fail(FROST_ERR_FORMAT, "file %s: tensor %s is missing", c->path, key);
    int ndim = d1 > 0 ? 2 : 1;
    if (t->dtype != dt || t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1))
        return ndim == 2 ? frost_fail(FROST_ERR_FORMAT,
                                      "file %s: tensor %s has the wrong dtype or shape "
                                      "(expected [%lld, %lld])",
                                      c->path, key, (long long)d0, (long long)d1)
                         : frost_fail(FROST_ERR_FORMAT,
                                      "file %s: tensor %s has the wrong dtype or shape "
                                      "(expected [%lld])",
                                      c->path, key, (long long)d0);
    *out = t->data;
    return FROST_OK;
}

/* TTQ's ".levels" I8 [cout, 2]: each channel's weight of a +1 and a -1 code, in the int8
 * weights' symmetric range [-127, 127]; the unpacked codes w become those weights. A
 * ".levels" tensor on a node without the "levels" flag is a corrupt file too (read as
 * plain codes it would run other weights). */
static frost_status weight_levels(const load_ctx *c, frost_int8_node *n, int8_t *w, int64_t inner)
{
    char key[FROST_I8_NAME_LEN + 16];
    snprintf(key, sizeof key, "%s.levels", n->name);
    if (!c->levels)
        return frost_st_find(c->f, key) ? bad(c, "a \".levels\" tensor without \"levels\"", n->name)
                                        : FROST_OK;
    const void *p;
    FROST_TRY(tensor(c, n, "levels", FROST_DT_I8, n->c, 2, &p));
    n->wlevels = p;
    for (int i = 0; i < 2 * n->c; i++)
        if (n->wlevels[i] == -128)
            return bad(c, "weight level -128 (levels lie in [-127, 127])", n->name);
    frost_int8_apply_levels(w, n->c, inner, n->wlevels);
    return FROST_OK;
}

/* Packed binary / ternary weights: U8 [cout][row bytes], unpacked into int8 weights the
 * model owns; an invalid code or a set padding bit is a corrupt file. */
static frost_status packed_weights(const load_ctx *c, frost_int8_model *m, frost_int8_node *n,
                                   int64_t inner)
{
    const void *p;
    FROST_TRY(tensor(c, n, "weight", FROST_DT_U8, n->c,
                     (int64_t)frost_int8_packed_row_bytes(n->wbits, inner), &p));
    n->wpacked = p;
    int8_t *w = frost_int8_own(m, (size_t)n->c * (size_t)inner);
    if (!w)
        return FROST_ERR_NOMEM;
    frost_int8_unpack_error e;
    if (!frost_int8_unpack_weights(n->wpacked, n->c, inner, n->wbits, w, &e))
        return frost_fail(FROST_ERR_FORMAT,
                          "file %s: invalid packed weights in node %s: %s at output channel %d, "
                          "weight %lld",
                          c->path, n->name, e.problem, e.row, (long long)e.index);
    n->weight = w;
    return weight_levels(c, n, w, inner);
}

static frost_status attach_tensors(const load_ctx *c, frost_int8_model *m, frost_int8_node *n)
{
    const frost_int8_node *in = n->n_in ? &m->nodes[n->in[0]] : NULL;
    const void *p;
    switch (n->op) {
    case FROST_I8_CONV:
    case FROST_I8_LINEAR:
    case FROST_I8_LOGITS: {
        int64_t inner = n->op == FROST_I8_CONV ? (int64_t)n->k * n->k * (in->c / n->groups)
                                               : (int64_t)in->h * in->w * in->c;
        if (n->wbits) {
            FROST_TRY(packed_weights(c, m, n, inner));
        } else {
            FROST_TRY(tensor(c, n, "weight", FROST_DT_I8, n->c, inner, &p));
            n->weight = p;
        }
        FROST_TRY(tensor(c, n, "wscale", FROST_DT_F32, n->c, 0, &p));
        n->wscale = p;
        for (int i = 0; i < n->c; i++)
            if (!(n->wscale[i] > 0.0f) || !isfinite(n->wscale[i]))
                return bad(c, "weight scale not positive and finite", n->name);
        n->n_mult = n->c;
        if (n->op == FROST_I8_LOGITS) {
            FROST_TRY(tensor(c, n, "out_scale", FROST_DT_F32, n->c, 0, &p));
            n->out_scale = p;
            FROST_TRY(tensor(c, n, "out_bias", FROST_DT_F32, n->c, 0, &p));
            n->out_bias = p;
            for (int i = 0; i < n->c; i++)
                if (!isfinite(n->out_scale[i]) || !isfinite(n->out_bias[i]))
                    return bad(c, "non-finite output scale or bias", n->name);
            n->n_mult = 0;
            n->bias = frost_int8_own(m, (size_t)n->c * 4); /* zero */
            return n->bias ? FROST_OK : FROST_ERR_NOMEM;
        }
        FROST_TRY(tensor(c, n, "bias", FROST_DT_I32, n->c, 0, &p));
        n->bias = p;
        break;
    }
    case FROST_I8_ADD: n->n_mult = 3; break;
    case FROST_I8_MUL: n->n_mult = 1; break;
    case FROST_I8_AVGPOOL: n->n_mult = n->k * n->k + 1; break;
    case FROST_I8_GAP: n->n_mult = 1; break;
    case FROST_I8_CONCAT:
    case FROST_I8_LUT:
    case FROST_I8_MAXPOOL:
        FROST_TRY(tensor(c, n, "lut", FROST_DT_U8, n->n_in, 256, &p));
        n->lut = p;
        return FROST_OK;
    case FROST_I8_QUANTIZE:
    case FROST_I8_OP_COUNT: return FROST_OK;
    }
    FROST_TRY(tensor(c, n, "mult", FROST_DT_I32, n->n_mult, 0, &p));
    n->mult = p;
    FROST_TRY(tensor(c, n, "shift", FROST_DT_I32, n->n_mult, 0, &p));
    n->shift = p;
    return FROST_OK;
}

static frost_status parse_preprocess(const load_ctx *c, const cJSON *root, frost_preprocess *p)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "preprocess");
    if (!o)
        return FROST_OK;
    const cJSON *mean = cJSON_GetObjectItemCaseSensitive(o, "mean");
    const cJSON *std = cJSON_GetObjectItemCaseSensitive(o, "std");
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(o, "channels");
    if (cJSON_GetArraySize(mean) != 3 || cJSON_GetArraySize(std) != 3 || !cJSON_IsString(ch) ||
        (strcmp(ch->valuestring, "rgb") != 0 && strcmp(ch->valuestring, "bgr") != 0))
        return bad(c, "\"preprocess\" needs mean[3], std[3] and channels \"rgb\"/\"bgr\"", NULL);
    for (int i = 0; i < 3; i++) {
        const cJSON *mi = cJSON_GetArrayItem(mean, i), *si = cJSON_GetArrayItem(std, i);
        if (!cJSON_IsNumber(mi) || !cJSON_IsNumber(si) || !isfinite(mi->valuedouble) ||
            !(si->valuedouble > 0) || !isfinite(si->valuedouble))
            return bad(c, "\"preprocess\": finite means and positive stds", NULL);
        p->mean[i] = (float)mi->valuedouble;
        p->std[i] = (float)si->valuedouble;
    }
    p->bgr = strcmp(ch->valuestring, "bgr") == 0;
    p->set = true;
    return FROST_OK;
}

static frost_status parse_graph(load_ctx *c, const cJSON *root, frost_int8_model *m)
{
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, FORMAT_NAME) != 0)
        return bad(c, "not a frost int8 model (metadata format is not \"" FORMAT_NAME "\")", NULL);
    int version, input[3];
    FROST_TRY(get_int(c, root, "version", 0, 1 << 20, NULL, &version));
    if (version < 1 || version > FROST_I8_FORMAT_VERSION)
        return frost_fail(FROST_ERR_FORMAT,
                          "file %s: int8 format version %d; this frost reads "
                          "versions 1 to %d",
                          c->path, version, FROST_I8_FORMAT_VERSION);
    c->version = version;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    snprintf(m->name, sizeof m->name, "%s", cJSON_IsString(name) ? name->valuestring : "int8");
    FROST_TRY(get_ints(c, root, "input", 3, 3, 1, 1 << 15, NULL, input, NULL));
    m->in_h = input[0], m->in_w = input[1], m->in_c = input[2];
    FROST_TRY(get_int(c, root, "classes", 1, 1 << 20, NULL, &m->classes));
    const cJSON *rq = cJSON_GetObjectItemCaseSensitive(root, "requant");
    if (rq && !(cJSON_IsString(rq) &&
                (strcmp(rq->valuestring, "fixed") == 0 || strcmp(rq->valuestring, "float") == 0)))
        return bad(c, "\"requant\" must be \"fixed\" or \"float\"", NULL);
    m->float_requant = rq && strcmp(rq->valuestring, "float") == 0;
    FROST_TRY(parse_preprocess(c, root, &m->pre));
    const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(root, "nodes");
    int n = cJSON_IsArray(nodes) ? cJSON_GetArraySize(nodes) : 0;
    if (n < 2 || n > 100000)
        return bad(c, "\"nodes\" must list 2 to 100000 nodes", NULL);
    m->nodes = calloc((size_t)n, sizeof *m->nodes);
    if (!m->nodes)
        return frost_fail(FROST_ERR_NOMEM, "file %s: out of memory", c->path);
    for (int i = 0; i < n; i++) {
        FROST_TRY(parse_node(c, cJSON_GetArrayItem(nodes, i), &m->nodes[i]));
        FROST_TRY(parse_levels_flag(c, cJSON_GetArrayItem(nodes, i), &m->nodes[i]));
        m->n_nodes = i + 1;
        FROST_TRY(frost_int8_check_node(m, i)); /* inputs before use, shapes chain */
        FROST_TRY(attach_tensors(c, m, &m->nodes[i]));
    }
    return FROST_OK;
}

frost_status frost_int8_load(const char *path, frost_int8_model **out)
{
    if (!path || !out)
        return frost_fail(FROST_ERR_ARG, "int8 load: NULL argument");
    *out = NULL;
    size_t len = strlen(path);
    if (len > 5 && strcmp(path + len - 5, ".onnx") == 0) /* a QDQ model: import it */
        return frost_int8_import_onnx(path, out);
    frost_int8_model *m = calloc(1, sizeof *m);
    if (!m)
        return frost_fail(FROST_ERR_NOMEM, "int8 load: out of memory");
    load_ctx c = {path, NULL, 0, false};
    frost_status s = frost_st_map(path, &m->file);
    c.f = m->file;
    const char *meta = s == FROST_OK ? frost_st_meta_get(m->file, META_KEY) : NULL;
    if (s == FROST_OK && !meta)
        s = frost_fail(FROST_ERR_FORMAT,
                       "file %s: no \"" META_KEY "\" metadata: not an int8 "
                       "model (make one with `frost convert`)",
                       path);
    if (s == FROST_OK) {
        cJSON *root = cJSON_Parse(meta);
        s = root ? parse_graph(&c, root, m) : bad(&c, "the int8 graph is not valid JSON", NULL);
        cJSON_Delete(root);
    }
    return frost_int8_finish(m, s, out);
}
