/*
 * ONNX files: unpacking (libprotobuf-c) and the checks every later step relies on.
 */
#include "io/onnx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frost/file.h"

/* A larger file is not a mobile CNN (and would be read into memory whole). */
#define MAX_FILE_BYTES ((size_t)2 << 30)
#define MAX_NODES      100000

static const char *str(const char *s) { return s ? s : ""; }

static size_t dtype_size(int32_t t)
{
    switch (t) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: return 4;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: return 8;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: return 1;
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: return 2;
    default: return 0;
    }
}

/* How many values the typed (non-raw) field of tensor t holds for its type. */
static size_t typed_count(const Onnx__TensorProto *t)
{
    switch (t->data_type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: return t->n_float_data;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: return t->n_int64_data;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: return t->n_double_data;
    default: return t->n_int32_data; /* int32 and the narrower integer types */
    }
}

int64_t frost_onnx_tensor_numel(const Onnx__TensorProto *t)
{
    int64_t n = 1;
    for (size_t i = 0; i < t->n_dims; i++)
        n *= t->dims[i];
    return n;
}

/* Dims, size and data of one tensor; `what` says where it is (initializer, node). */
static frost_status check_tensor(const Onnx__TensorProto *t, const char *what)
{
    const char *name = str(t->name);
    if (t->n_dims > FROST_ONNX_MAX_RANK)
        return frost_fail(FROST_ERR_FORMAT, "ONNX %s '%s': %zu dims (at most %d)", what, name,
                          t->n_dims, FROST_ONNX_MAX_RANK);
    int64_t numel = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0 || t->dims[i] > FROST_ONNX_MAX_NUMEL)
            return frost_fail(FROST_ERR_FORMAT, "ONNX %s '%s': dim %zu is %lld", what, name, i,
                              (long long)t->dims[i]);
        numel *= t->dims[i];
        if (numel > FROST_ONNX_MAX_NUMEL)
            return frost_fail(FROST_ERR_FORMAT,
                              "ONNX %s '%s': more than %lld elements (a corrupt shape?)", what,
                              name, (long long)FROST_ONNX_MAX_NUMEL);
    }
    if ((t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) ||
        t->n_external_data > 0)
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "ONNX %s '%s': external data files are not supported (save the model "
                          "with its weights inside)",
                          what, name);
    if (t->segment)
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "ONNX %s '%s': segmented tensors are not supported", what, name);
    size_t esize = dtype_size(t->data_type);
    if (esize == 0)
        return FROST_OK; /* a type no importer reads: refused where it is used */
    if (t->has_raw_data) {
        if (t->raw_data.len != (size_t)numel * esize)
            return frost_fail(FROST_ERR_FORMAT,
                              "ONNX %s '%s': %zu bytes of data for %lld elements of %zu bytes",
                              what, name, t->raw_data.len, (long long)numel, esize);
    } else if (typed_count(t) != (size_t)numel) {
        return frost_fail(FROST_ERR_FORMAT, "ONNX %s '%s': %zu values for %lld elements", what,
                          name, typed_count(t), (long long)numel);
    }
    return FROST_OK;
}

const char *frost_onnx_node_label(const Onnx__NodeProto *n, int index, char *buf, size_t cap)
{
    if (n->name && n->name[0])
        return n->name;
    snprintf(buf, cap, "%s #%d", str(n->op_type), index);
    return buf;
}

int frost_onnx_list_unknown(const Onnx__GraphProto *g, const int *order, int n,
                            bool (*known)(const Onnx__NodeProto *), int opset, char *msg,
                            size_t cap)
{
    size_t len = 0;
    int bad = 0;
    msg[0] = '\0';
    for (int k = 0; k < n; k++) {
        const Onnx__NodeProto *node = g->node[order[k]];
        if (known(node))
            continue;
        char buf[96], at[32] = "";
        if (opset >= 0)
            snprintf(at, sizeof at, ", opset %d", opset);
        if (bad++ < 12 && len + 200 < cap)
            len += (size_t)snprintf(msg + len, cap - len, "%s'%s' (%s%s%s%s)", bad > 1 ? ", " : "",
                                    frost_onnx_node_label(node, order[k], buf, sizeof buf),
                                    str(node->domain), node->domain && node->domain[0] ? "." : "",
                                    node->op_type, at);
    }
    if (bad > 12 && len + 8 < cap)
        snprintf(msg + len, cap - len, ", ...");
    return bad;
}

static frost_status check_node(const Onnx__NodeProto *n, int index)
{
    char buf[96];
    if (!n->op_type || !n->op_type[0])
        return frost_fail(FROST_ERR_FORMAT, "ONNX node #%d has no op_type", index);
    const char *label = frost_onnx_node_label(n, index, buf, sizeof buf);
    if (n->n_output == 0)
        return frost_fail(FROST_ERR_FORMAT, "ONNX node '%s' (%s) has no output", label, n->op_type);
    for (size_t i = 0; i < n->n_input; i++)
        if (!n->input[i])
            return frost_fail(FROST_ERR_FORMAT, "ONNX node '%s': input %zu has no name", label, i);
    for (size_t i = 0; i < n->n_output; i++)
        if (!n->output[i] || !n->output[i][0])
            return frost_fail(FROST_ERR_FORMAT, "ONNX node '%s': output %zu has no name", label, i);
    for (size_t i = 0; i < n->n_attribute; i++) {
        const Onnx__AttributeProto *a = n->attribute[i];
        if (!a->name)
            return frost_fail(FROST_ERR_FORMAT, "ONNX node '%s': attribute %zu has no name", label,
                              i);
        if (a->t) {
            char what[160];
            snprintf(what, sizeof what, "tensor of node '%s'", label);
            frost_status s = check_tensor(a->t, what);
            if (s != FROST_OK)
                return s;
        }
    }
    return FROST_OK;
}

static frost_status check_values(Onnx__ValueInfoProto **v, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (!v[i]->name || !v[i]->name[0])
            return frost_fail(FROST_ERR_FORMAT, "ONNX graph %s %zu has no name", what, i);
    return FROST_OK;
}

static frost_status check_model(const Onnx__ModelProto *m, const char *what)
{
    const Onnx__GraphProto *g = m->graph;
    if (!g)
        return frost_fail(FROST_ERR_FORMAT, "%s: an ONNX model without a graph", what);
    if (g->n_node == 0 || g->n_node > MAX_NODES)
        return frost_fail(FROST_ERR_FORMAT, "%s: the ONNX graph has %zu nodes", what, g->n_node);
    for (size_t i = 0; i < m->n_opset_import; i++)
        if (!m->opset_import[i]->has_version)
            return frost_fail(FROST_ERR_FORMAT, "%s: opset import %zu has no version", what, i);
    frost_status s = FROST_OK;
    for (size_t i = 0; i < g->n_initializer && s == FROST_OK; i++) {
        if (!g->initializer[i]->name || !g->initializer[i]->name[0])
            return frost_fail(FROST_ERR_FORMAT, "%s: ONNX initializer %zu has no name", what, i);
        s = check_tensor(g->initializer[i], "initializer");
    }
    if (s == FROST_OK && g->n_sparse_initializer > 0)
        s = frost_fail(FROST_ERR_UNSUPPORTED, "%s: sparse initializers are not supported", what);
    for (size_t i = 0; i < g->n_node && s == FROST_OK; i++)
        s = check_node(g->node[i], (int)i);
    if (s == FROST_OK)
        s = check_values(g->input, g->n_input, "input");
    if (s == FROST_OK)
        s = check_values(g->output, g->n_output, "output");
    if (s == FROST_OK && g->n_output == 0)
        s = frost_fail(FROST_ERR_FORMAT, "%s: the ONNX graph has no output", what);
    return s;
}

frost_status frost_onnx_parse(const uint8_t *data, size_t size, const char *what,
                              Onnx__ModelProto **out)
{
    *out = NULL;
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, size, data);
    if (!m)
        return frost_fail(FROST_ERR_FORMAT,
                          "%s: not an ONNX model (the protobuf does not parse: truncated or "
                          "not ONNX)",
                          what);
    frost_status s = check_model(m, what);
    if (s != FROST_OK) {
        onnx__model_proto__free_unpacked(m, NULL);
        return s;
    }
    *out = m;
    return FROST_OK;
}

frost_status frost_onnx_load(const char *path, Onnx__ModelProto **out)
{
    *out = NULL;
    char *data;
    size_t size;
    frost_status s = frost_read_file(path, &data, &size);
    if (s != FROST_OK)
        return s;
    if (size == 0 || size > MAX_FILE_BYTES) {
        free(data);
        return frost_fail(FROST_ERR_FORMAT, "%s: %zu bytes is no ONNX model", path, size);
    }
    s = frost_onnx_parse((const uint8_t *)data, size, path, out);
    free(data);
    return s;
}

void frost_onnx_free(Onnx__ModelProto *m)
{
    if (m)
        onnx__model_proto__free_unpacked(m, NULL);
}

int frost_onnx_opset(const Onnx__ModelProto *m)
{
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const char *d = str(m->opset_import[i]->domain);
        if (strcmp(d, "") == 0 || strcmp(d, "ai.onnx") == 0)
            return (int)m->opset_import[i]->version;
    }
    return -1;
}

/* ---------------------------------------------------------------- attributes */

const Onnx__AttributeProto *frost_onnx_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

static bool is_type(const Onnx__AttributeProto *a, Onnx__AttributeProto__AttributeType t,
                    bool field_present)
{
    return a->has_type ? a->type == t : field_present;
}

static frost_status wrong_type(const char *label, const char *name, const char *want)
{
    return frost_fail(FROST_ERR_FORMAT, "ONNX node '%s': attribute '%s' must be %s", label, name,
                      want);
}

frost_status frost_onnx_attr_int(const Onnx__NodeProto *n, const char *label, const char *name,
                                 int64_t def, int64_t *out)
{
    const Onnx__AttributeProto *a = frost_onnx_attr(n, name);
    *out = def;
    if (!a)
        return FROST_OK;
    if (!is_type(a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, a->has_i))
        return wrong_type(label, name, "an integer");
    *out = a->i;
    return FROST_OK;
}

frost_status frost_onnx_attr_float(const Onnx__NodeProto *n, const char *label, const char *name,
                                   float def, float *out)
{
    const Onnx__AttributeProto *a = frost_onnx_attr(n, name);
    *out = def;
    if (!a)
        return FROST_OK;
    if (!is_type(a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT, a->has_f))
        return wrong_type(label, name, "a float");
    *out = a->f;
    return FROST_OK;
}

frost_status frost_onnx_attr_ints(const Onnx__NodeProto *n, const char *label, const char *name,
                                  int64_t *out, int max, int *count)
{
    const Onnx__AttributeProto *a = frost_onnx_attr(n, name);
    *count = 0;
    if (!a)
        return FROST_OK;
    if (!is_type(a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS, a->n_ints > 0))
        return wrong_type(label, name, "a list of integers");
    if (a->n_ints > (size_t)max)
        return frost_fail(FROST_ERR_FORMAT,
                          "ONNX node '%s': attribute '%s' has %zu values (at most %d)", label, name,
                          a->n_ints, max);
    if (a->n_ints) /* an empty list (as if absent) may come with a NULL array */
        memcpy(out, a->ints, a->n_ints * sizeof *out);
    *count = (int)a->n_ints;
    return FROST_OK;
}

frost_status frost_onnx_attr_string(const Onnx__NodeProto *n, const char *label, const char *name,
                                    const char *def, const char **out)
{
    static char value[64];
    const Onnx__AttributeProto *a = frost_onnx_attr(n, name);
    *out = def;
    if (!a)
        return FROST_OK;
    if (!is_type(a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING, a->has_s))
        return wrong_type(label, name, "a string");
    /* protobuf bytes are not NUL-terminated; the strings frost compares are short */
    size_t len = a->s.len < sizeof value - 1 ? a->s.len : sizeof value - 1;
    if (len)
        memcpy(value, a->s.data, len);
    value[len] = '\0';
    *out = value;
    return FROST_OK;
}

/* ---------------------------------------------------------------- tensor values */

static frost_status wrong_dtype(const Onnx__TensorProto *t, const char *what, const char *want)
{
    return frost_fail(FROST_ERR_FORMAT, "ONNX %s '%s': data type %d, expected %s", what,
                      str(t->name), (int)t->data_type, want);
}

frost_status frost_onnx_tensor_floats(const Onnx__TensorProto *t, const char *what, float **out)
{
    *out = NULL;
    if (t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return wrong_dtype(t, what, "float32");
    int64_t n = frost_onnx_tensor_numel(t);
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!v)
        return frost_fail(FROST_ERR_NOMEM, "out of memory reading ONNX tensor '%s'", str(t->name));
    if (n > 0 && t->has_raw_data)
        memcpy(v, t->raw_data.data, (size_t)n * sizeof *v); /* little-endian, as the host */
    else if (n > 0)
        memcpy(v, t->float_data, (size_t)n * sizeof *v);
    *out = v;
    return FROST_OK;
}

frost_status frost_onnx_tensor_ints(const Onnx__TensorProto *t, const char *what, int64_t **out)
{
    *out = NULL;
    bool i64 = t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    if (!i64 && t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__INT32)
        return wrong_dtype(t, what, "int64 or int32");
    int64_t n = frost_onnx_tensor_numel(t);
    int64_t *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!v)
        return frost_fail(FROST_ERR_NOMEM, "out of memory reading ONNX tensor '%s'", str(t->name));
    for (int64_t i = 0; i < n; i++) {
        if (t->has_raw_data && i64) {
            memcpy(&v[i], t->raw_data.data + 8 * i, 8);
        } else if (t->has_raw_data) {
            int32_t x;
            memcpy(&x, t->raw_data.data + 4 * i, 4);
            v[i] = x;
        } else {
            v[i] = i64 ? t->int64_data[i] : t->int32_data[i];
        }
    }
    *out = v;
    return FROST_OK;
}
