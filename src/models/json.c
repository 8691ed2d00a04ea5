/*
 * Architecture JSON <-> model graph (format: docs/architecture-json.md).
 * The reader trusts nothing: every field is type-checked, and every layer goes
 * through the same builder checks as the built-in models, so an error names
 * the source, the layer and the field.
 */
#include <cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/util.h"
#include "frost/file.h"
#include "models/graph.h"

/* Reads an optional integer field; returns 0 ok, -1 wrong type (error set). */
static int get_int(const cJSON *obj, const char *key, int def, int *out, const char *src,
                   const char *layer)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        *out = def;
        return 0;
    }
    /* in int's range before the cast: converting a double outside it is undefined */
    if (!cJSON_IsNumber(v) || !(fabs(v->valuedouble) <= INT_MAX) ||
        v->valuedouble != (double)(int)v->valuedouble) {
        frost_fail(FROST_ERR_FORMAT, "%s: layer '%s': field '%s' must be an integer", src, layer,
                   key);
        return -1;
    }
    *out = (int)v->valuedouble;
    return 0;
}

static int get_float(const cJSON *obj, const char *key, float def, float *out, const char *src,
                     const char *layer)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v)) {
        frost_fail(FROST_ERR_FORMAT, "%s: layer '%s': field '%s' must be a number", src, layer,
                   key);
        return -1;
    }
    *out = (float)v->valuedouble;
    return 0;
}

static int get_bool(const cJSON *obj, const char *key, bool def, bool *out, const char *src,
                    const char *layer)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsBool(v)) {
        frost_fail(FROST_ERR_FORMAT, "%s: layer '%s': field '%s' must be true or false", src, layer,
                   key);
        return -1;
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

/* Resolves the "in" list (default: the previous node). Returns the count or -1. */
static int get_inputs(const frost_model *m, const cJSON *layer, const char *src, const char *name,
                      int *in)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(layer, "in");
    if (!v) {
        in[0] = m->n_nodes - 1;
        return 1;
    }
    if (cJSON_IsString(v)) {
        in[0] = frost_g_find(m, v->valuestring);
        if (in[0] < 0) {
            frost_fail(FROST_ERR_FORMAT, "%s: layer '%s': input '%s' is not an earlier layer", src,
                       name, v->valuestring);
            return -1;
        }
        return 1;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 ||
        cJSON_GetArraySize(v) > FROST_MAX_NODE_INPUTS) {
        frost_fail(FROST_ERR_FORMAT, "%s: layer '%s': 'in' must be a list of 1..%d layer names",
                   src, name, FROST_MAX_NODE_INPUTS);
        return -1;
    }
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        if (!cJSON_IsString(e) || (in[n] = frost_g_find(m, e->valuestring)) < 0) {
            frost_fail(FROST_ERR_FORMAT, "%s: layer '%s': input '%s' is not an earlier layer", src,
                       name, cJSON_IsString(e) ? e->valuestring : "(not a string)");
            return -1;
        }
        n++;
    }
    return n;
}

/* Reads one attribute (absent: its default, already in *a). Returns 0 or -1. */
static int read_attr(const cJSON *layer, const frost_attr_desc *d, frost_layer_attrs *a,
                     const char *src, const char *name)
{
    void *f = frost_layer_attr_field(a, d);
    switch (d->type) {
    case FROST_ATTR_INT: return get_int(layer, d->key, *(int *)f, f, src, name);
    case FROST_ATTR_FLOAT: return get_float(layer, d->key, *(float *)f, f, src, name);
    case FROST_ATTR_BOOL: return get_bool(layer, d->key, *(bool *)f, f, src, name);
    case FROST_ATTR_ACT: {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(layer, d->key);
        int act = cJSON_IsString(v) ? frost_act_from_name(v->valuestring) : -1;
        if (act < 0) {
            frost_fail(FROST_ERR_FORMAT, "%s: layer '%s': unknown activation '%s' (%s)", src, name,
                       d->key, cJSON_IsString(v) ? v->valuestring : "missing");
            return -1;
        }
        *(frost_act_kind *)f = (frost_act_kind)act;
        return 0;
    }
    }
    return -1;
}

/* Reads the op's attributes in table order, so a default that depends on an earlier
 * attribute (conv pad = k/2, pool stride = k) follows the value the file gave. */
static int read_attrs(const cJSON *layer, frost_op op, frost_layer_attrs *a, const char *src,
                      const char *name)
{
    const frost_op_info *info = frost_op_info_of(op);
    frost_layer_attrs_default(op, a);
    for (int i = 0; i < info->n_attrs; i++) {
        frost_layer_attr_set_default(a, &info->attrs[i]);
        if (read_attr(layer, &info->attrs[i], a, src, name) < 0)
            return -1;
    }
    return 0;
}

/* A layer holds name, op, in and its op's attributes; anything else ("fn" on an add,
 * "stride" on a bn) is a mistake the file's author should hear about. */
static frost_status check_layer_fields(const cJSON *layer, const frost_op_info *info,
                                       const char *src, const char *name)
{
    const char *allowed[32] = {"name", "op", "in"};
    int n = 3;
    for (int i = 0; i < info->n_attrs && n < 31; i++)
        allowed[n++] = info->attrs[i].key;
    allowed[n] = NULL;
    char where[160];
    snprintf(where, sizeof where, "layer '%s' (%s)", name, info->name);
    return frost_json_known_fields(layer, allowed, src, where);
}

/* Builds one layer; returns the node index or -1 with the error set. */
static int build_layer(frost_model *m, const cJSON *layer, const char *src, int index)
{
    const cJSON *jname = cJSON_GetObjectItemCaseSensitive(layer, "name");
    const cJSON *jop = cJSON_GetObjectItemCaseSensitive(layer, "op");
    if (!cJSON_IsObject(layer) || !cJSON_IsString(jname) || !cJSON_IsString(jop)) {
        frost_fail(FROST_ERR_FORMAT, "%s: layers[%d] must be an object with string 'name' and 'op'",
                   src, index);
        return -1;
    }
    const char *name = jname->valuestring;
    int op = frost_op_from_name(jop->valuestring);
    if (op < 0) {
        frost_fail(FROST_ERR_FORMAT, "%s: layer '%s': unknown op '%s'", src, name,
                   jop->valuestring);
        return -1;
    }
    const frost_op_info *info = frost_op_info_of((frost_op)op);
    if (check_layer_fields(layer, info, src, name) != FROST_OK)
        return -1;
    int in[FROST_MAX_NODE_INPUTS];
    int n_in = get_inputs(m, layer, src, name, in);
    if (n_in < 0)
        return -1;
    if (n_in < info->min_in || n_in > info->max_in) {
        if (info->min_in == info->max_in)
            frost_fail(FROST_ERR_FORMAT, "%s: layer '%s': %s takes %d input(s), got %d", src, name,
                       info->name, info->min_in, n_in);
        else
            frost_fail(FROST_ERR_FORMAT, "%s: layer '%s': %s takes %d..%d inputs, got %d", src,
                       name, info->name, info->min_in, info->max_in, n_in);
        return -1;
    }
    frost_layer_attrs a;
    if (read_attrs(layer, (frost_op)op, &a, src, name) < 0)
        return -1;
    int r = frost_g_layer(m, name, (frost_op)op, n_in, in, &a);
    if (r < 0) {
        /* Builder errors already name the layer; add the source in front. */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", frost_last_error());
        frost_fail(FROST_ERR_FORMAT, "%s: %s", src, msg);
    }
    return r;
}

static int get_input_dim(const cJSON *input, const char *key, const char *src, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(input, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 4096 ||
        v->valuedouble != (double)(int)v->valuedouble) {
        frost_fail(FROST_ERR_FORMAT, "%s: 'input.%s' must be an integer in 1..4096", src, key);
        return -1;
    }
    *out = (int)v->valuedouble;
    return 0;
}

/* One of "mean" / "std" of the input's preprocessing: a number for every channel, or one
 * number for all. */
static frost_status get_norm(const cJSON *input, const char *key, const char *src, int c,
                             float *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(input, key);
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
    int want = c < 3 ? c : 3;
    if (n != 1 && n != want)
        return frost_fail(FROST_ERR_FORMAT, "%s: 'input.%s' must be a list of 1 or %d numbers", src,
                          key, want);
    for (int i = 0; i < 3; i++) {
        const cJSON *x = cJSON_GetArrayItem(v, n == 1 ? 0 : (i < n ? i : n - 1));
        if (!cJSON_IsNumber(x))
            return frost_fail(FROST_ERR_FORMAT, "%s: 'input.%s' must hold numbers", src, key);
        out[i] = (float)x->valuedouble;
    }
    return FROST_OK;
}

/* The optional preprocessing in "input": mean, std (both or neither), channels. */
static frost_status parse_preprocess(const cJSON *input, const char *src, frost_model *m)
{
    const cJSON *mean = cJSON_GetObjectItemCaseSensitive(input, "mean");
    const cJSON *std = cJSON_GetObjectItemCaseSensitive(input, "std");
    const cJSON *order = cJSON_GetObjectItemCaseSensitive(input, "channels");
    if (!mean && !std && !order)
        return FROST_OK;
    if (!mean || !std)
        return frost_fail(FROST_ERR_FORMAT, "%s: 'input' needs both 'mean' and 'std'", src);
    frost_preprocess p = {.set = true};
    FROST_TRY(get_norm(input, "mean", src, m->in_c, p.mean));
    FROST_TRY(get_norm(input, "std", src, m->in_c, p.std));
    if (order && (!cJSON_IsString(order) || (strcmp(order->valuestring, "rgb") != 0 &&
                                             strcmp(order->valuestring, "bgr") != 0)))
        return frost_fail(FROST_ERR_FORMAT, "%s: 'input.channels' must be \"rgb\" or \"bgr\"", src);
    p.bgr = order && strcmp(order->valuestring, "bgr") == 0;
    frost_status s = frost_model_set_preprocess(m, &p);
    if (s != FROST_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", frost_last_error());
        return frost_fail(FROST_ERR_FORMAT, "%s: %s", src, msg);
    }
    return FROST_OK;
}

static frost_status parse_model(const cJSON *root, const char *src, frost_model **out)
{
    if (!cJSON_IsObject(root))
        return frost_fail(FROST_ERR_FORMAT, "%s: not a JSON object", src);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (fmt && (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "frost-arch") != 0))
        return frost_fail(FROST_ERR_FORMAT, "%s: 'format' must be \"frost-arch\"", src);
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (ver && (!cJSON_IsNumber(ver) || ver->valueint != 1))
        return frost_fail(FROST_ERR_FORMAT,
                          "%s: unsupported architecture 'version' (this frost reads 1)", src);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, "input");
    const cJSON *classes = cJSON_GetObjectItemCaseSensitive(root, "classes");
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    int h, w, c;
    if (!cJSON_IsObject(input))
        return frost_fail(FROST_ERR_FORMAT, "%s: missing object 'input' {h, w, c}", src);
    static const char *const top_fields[] = {"format",  "version", "name", "input",
                                             "classes", "layers",  NULL};
    static const char *const input_fields[] = {"h", "w", "c", "mean", "std", "channels", NULL};
    FROST_TRY(frost_json_known_fields(root, top_fields, src, "top level"));
    FROST_TRY(frost_json_known_fields(input, input_fields, src, "input"));
    if (get_input_dim(input, "h", src, &h) || get_input_dim(input, "w", src, &w) ||
        get_input_dim(input, "c", src, &c))
        return FROST_ERR_FORMAT;
    if (!cJSON_IsNumber(classes) || classes->valuedouble < 2 || classes->valuedouble > 1000000)
        return frost_fail(FROST_ERR_FORMAT, "%s: 'classes' must be an integer >= 2", src);
    if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) == 0)
        return frost_fail(FROST_ERR_FORMAT, "%s: 'layers' must be a non-empty list", src);
    frost_model *m = frost_g_new(cJSON_IsString(name) ? name->valuestring : "model", h, w, c);
    if (!m)
        return FROST_ERR_NOMEM;
    if (parse_preprocess(input, src, m) != FROST_OK) {
        frost_model_free(m);
        return FROST_ERR_FORMAT;
    }
    int i = 0;
    const cJSON *layer;
    cJSON_ArrayForEach(layer, layers)
    {
        if (build_layer(m, layer, src, i++) < 0) {
            frost_model_free(m);
            return FROST_ERR_FORMAT;
        }
    }
    if (frost_g_finish(m, classes->valueint) < 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", frost_last_error());
        frost_model_free(m);
        return frost_fail(FROST_ERR_SHAPE, "%s: %s", src, msg);
    }
    frost_model_init_weights(m, 0);
    *out = m;
    return FROST_OK;
}

frost_status frost_model_from_json(const char *json_text, const char *source_name,
                                   frost_model **out)
{
    const char *src = source_name ? source_name : "architecture";
    *out = NULL;
    cJSON *root;
    FROST_TRY(frost_json_parse_strict(json_text, src, &root));
    frost_status s = parse_model(root, src, out);
    cJSON_Delete(root);
    return s;
}

frost_status frost_model_load_arch(const char *path, frost_model **out)
{
    char *text;
    size_t size;
    *out = NULL;
    FROST_TRY(frost_read_file(path, &text, &size));
    if (strlen(text) != size) {
        free(text);
        return frost_fail(FROST_ERR_FORMAT, "%s: contains NUL bytes (not a JSON file)", path);
    }
    frost_status s = frost_model_from_json(text, path, out);
    free(text);
    return s;
}

/* ---------------------------------------------------------------- writer */

/* The float architecture: fake-quant nodes are not layers, so an input that is one
 * names the node it quantizes (the quantization config is stored separately). */
static const char *input_name(const frost_model *m, int idx)
{
    while (m->nodes[idx].op == FROST_OP_FAKEQUANT)
        idx = m->nodes[idx].in[0];
    return m->nodes[idx].name;
}

static void write_attr(cJSON *o, const frost_attr_desc *d, frost_layer_attrs *a)
{
    const void *f = frost_layer_attr_field(a, d);
    switch (d->type) {
    case FROST_ATTR_INT: cJSON_AddNumberToObject(o, d->key, *(const int *)f); break;
    case FROST_ATTR_FLOAT: cJSON_AddNumberToObject(o, d->key, *(const float *)f); break;
    case FROST_ATTR_BOOL: cJSON_AddBoolToObject(o, d->key, *(const bool *)f); break;
    case FROST_ATTR_ACT:
        cJSON_AddStringToObject(o, d->key, frost_act_name(*(const frost_act_kind *)f));
        break;
    }
}

static cJSON *layer_json(const frost_model *m, const frost_node *n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", n->name);
    cJSON_AddStringToObject(o, "op", frost_op_name(n->op));
    cJSON *in = cJSON_AddArrayToObject(o, "in");
    for (int i = 0; i < n->n_in; i++)
        cJSON_AddItemToArray(in, cJSON_CreateString(input_name(m, n->in[i])));
    frost_layer_attrs a;
    frost_node_attrs(n, &a);
    const frost_op_info *info = frost_op_info_of(n->op);
    for (int i = 0; i < info->n_attrs; i++)
        write_attr(o, &info->attrs[i], &a);
    return o;
}

char *frost_model_to_json(const frost_model *m)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    cJSON_AddStringToObject(root, "format", "frost-arch");
    cJSON_AddNumberToObject(root, "version", 1);
    cJSON_AddStringToObject(root, "name", m->name);
    cJSON *input = cJSON_AddObjectToObject(root, "input");
    cJSON_AddNumberToObject(input, "h", m->in_h);
    cJSON_AddNumberToObject(input, "w", m->in_w);
    cJSON_AddNumberToObject(input, "c", m->in_c);
    if (m->pre.set) {
        int n = m->in_c < 3 ? m->in_c : 3;
        cJSON *mean = cJSON_AddArrayToObject(input, "mean"),
              *std = cJSON_AddArrayToObject(input, "std");
        for (int i = 0; i < n; i++) {
            cJSON_AddItemToArray(mean, cJSON_CreateNumber(m->pre.mean[i]));
            cJSON_AddItemToArray(std, cJSON_CreateNumber(m->pre.std[i]));
        }
        if (m->in_c == 3)
            cJSON_AddStringToObject(input, "channels", m->pre.bgr ? "bgr" : "rgb");
    }
    cJSON_AddNumberToObject(root, "classes", m->classes);
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    for (int i = 1; i < m->n_nodes; i++)
        if (!frost_op_has(m->nodes[i].op, FROST_OPF_INTERNAL))
            cJSON_AddItemToArray(layers, layer_json(m, &m->nodes[i]));
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}
