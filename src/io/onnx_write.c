/*
 * The ONNX writer shared by the FP32 and the QDQ export (see io/onnx_write.h).
 */
#include "io/onnx_write.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "frost/file.h"
#include "frost/version.h"
#include "io/onnx.h"

frost_status frost_onnxw_nomem(void)
{
    return frost_fail(FROST_ERR_NOMEM, "ONNX export: out of memory");
}

/* Grows *arr (elements of `size` bytes) to hold one more than n. */
static bool grow(void *arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t nc = *cap ? *cap * 2 : 64;
    void *p = realloc(*(void **)arr, nc * size);
    if (!p)
        return false;
    *(void **)arr = p;
    *cap = nc;
    return true;
}

void *frost_onnxw_alloc(frost_onnxw *w, size_t bytes)
{
    if (!grow(&w->allocs, &w->cap_allocs, w->n_allocs, sizeof(void *)))
        return NULL;
    void *p = calloc(1, bytes ? bytes : 1);
    if (p)
        w->allocs[w->n_allocs++] = p;
    return p;
}

char *frost_onnxw_name(frost_onnxw *w, const char *fmt, ...)
{
    char *s = frost_onnxw_alloc(w, FROST_ONNXW_NAME_BYTES);
    if (s) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s, FROST_ONNXW_NAME_BYTES, fmt, ap);
        va_end(ap);
    }
    return s;
}

static size_t dtype_bytes(int dtype)
{
    switch (dtype) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: return 1;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: return 8;
    default: return 4; /* FLOAT, INT32 */
    }
}

void *frost_onnxw_init(frost_onnxw *w, const char *name, int dtype, int n_dims, const int64_t *dims,
                       const void *data)
{
    Onnx__TensorProto *t = frost_onnxw_alloc(w, sizeof *t);
    int64_t *d = frost_onnxw_alloc(w, sizeof(int64_t) * (size_t)(n_dims ? n_dims : 1));
    if (!name || !t || !d || !grow(&w->inits, &w->cap_inits, w->n_inits, sizeof(void *)))
        return NULL;
    *t = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
    size_t count = 1;
    for (int i = 0; i < n_dims; i++) {
        d[i] = dims[i];
        count *= (size_t)dims[i];
    }
    size_t bytes = count * dtype_bytes(dtype);
    uint8_t *raw = frost_onnxw_alloc(w, bytes);
    if (!raw)
        return NULL;
    if (data)
        memcpy(raw, data, bytes);
    t->name = (char *)name;
    t->n_dims = (size_t)n_dims;
    t->dims = d;
    t->has_data_type = 1;
    t->data_type = dtype;
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    t->raw_data.data = raw;
    w->inits[w->n_inits++] = t;
    return raw;
}

Onnx__NodeProto *frost_onnxw_node(frost_onnxw *w, const char *op, const char *name, int n_in,
                                  const char *const *in, const char *out)
{
    Onnx__NodeProto *n = frost_onnxw_alloc(w, sizeof *n);
    char **ins = frost_onnxw_alloc(w, sizeof(char *) * (size_t)n_in);
    char **outs = frost_onnxw_alloc(w, sizeof(char *));
    Onnx__AttributeProto **attrs = frost_onnxw_alloc(w, sizeof(void *) * FROST_ONNXW_MAX_ATTRS);
    if (!n || !ins || !outs || !attrs || !name || !out ||
        !grow(&w->nodes, &w->cap_nodes, w->n_nodes, sizeof(void *)))
        return NULL;
    for (int i = 0; i < n_in; i++) {
        if (!in[i])
            return NULL; /* a name that could not be made */
        ins[i] = (char *)in[i];
    }
    *n = (Onnx__NodeProto)ONNX__NODE_PROTO__INIT;
    n->op_type = (char *)op;
    n->name = (char *)name;
    n->n_input = (size_t)n_in;
    n->input = ins;
    n->n_output = 1;
    n->output = outs;
    outs[0] = (char *)out;
    n->attribute = attrs;
    w->nodes[w->n_nodes++] = n;
    return n;
}

/* A new attribute of node n, or NULL. */
static Onnx__AttributeProto *new_attr(frost_onnxw *w, Onnx__NodeProto *n, const char *name,
                                      Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = frost_onnxw_alloc(w, sizeof *a);
    if (!n || !a || n->n_attribute >= FROST_ONNXW_MAX_ATTRS)
        return NULL;
    *a = (Onnx__AttributeProto)ONNX__ATTRIBUTE_PROTO__INIT;
    a->name = (char *)name;
    a->has_type = 1;
    a->type = type;
    n->attribute[n->n_attribute++] = a;
    return a;
}

bool frost_onnxw_attr_ints(frost_onnxw *w, Onnx__NodeProto *n, const char *name, int count,
                           const int64_t *v, bool list)
{
    int64_t *vals = frost_onnxw_alloc(w, sizeof(int64_t) * (size_t)count);
    Onnx__AttributeProto *a = vals ? new_attr(w, n, name,
                                              list ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS
                                                   : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT)
                                   : NULL;
    if (!a)
        return false;
    if (list) {
        memcpy(vals, v, sizeof(int64_t) * (size_t)count);
        a->n_ints = (size_t)count;
        a->ints = vals;
    } else {
        a->has_i = 1;
        a->i = v[0];
    }
    return true;
}

bool frost_onnxw_attr_int(frost_onnxw *w, Onnx__NodeProto *n, const char *name, int64_t v)
{
    return frost_onnxw_attr_ints(w, n, name, 1, &v, false);
}

bool frost_onnxw_attr_float(frost_onnxw *w, Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = new_attr(w, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (!a)
        return false;
    a->has_f = 1;
    a->f = v;
    return true;
}

bool frost_onnxw_meta(frost_onnxw *w, const char *key, const char *value)
{
    Onnx__StringStringEntryProto *e = frost_onnxw_alloc(w, sizeof *e);
    if (!e || !key || !value || !grow(&w->meta, &w->cap_meta, w->n_meta, sizeof(void *)))
        return false;
    *e = (Onnx__StringStringEntryProto)ONNX__STRING_STRING_ENTRY_PROTO__INIT;
    e->key = (char *)key;
    e->value = (char *)value;
    w->meta[w->n_meta++] = e;
    return true;
}

bool frost_onnxw_meta_preprocess(frost_onnxw *w, const frost_preprocess *pre, int in_c)
{
    frost_preprocess p = *pre;
    if (!p.set)
        p = (frost_preprocess){.mean = {FROST_DEFAULT_MEAN, FROST_DEFAULT_MEAN, FROST_DEFAULT_MEAN},
                               .std = {FROST_DEFAULT_STD, FROST_DEFAULT_STD, FROST_DEFAULT_STD}};
    int ch = in_c == 3 ? 3 : 1;
    char mean[64] = "", std[64] = "";
    for (int c = 0; c < ch; c++) {
        size_t lm = strlen(mean), ls = strlen(std);
        snprintf(mean + lm, sizeof mean - lm, "%s%.9g", c ? ", " : "", (double)p.mean[c]);
        snprintf(std + ls, sizeof std - ls, "%s%.9g", c ? ", " : "", (double)p.std[c]);
    }
    char *json = frost_onnxw_name(w, "{\"mean\": [%s], \"std\": [%s], \"channels\": \"%s\"}", mean,
                                  std, p.bgr ? "bgr" : "rgb");
    return frost_onnxw_meta(w, FROST_ONNX_PREPROCESS_KEY, json);
}

Onnx__ValueInfoProto *frost_onnxw_value_info(frost_onnxw *w, const char *name, int n_dims,
                                             const int64_t *dims)
{
    Onnx__ValueInfoProto *v = frost_onnxw_alloc(w, sizeof *v);
    Onnx__TypeProto *t = frost_onnxw_alloc(w, sizeof *t);
    Onnx__TypeProto__Tensor *tt = frost_onnxw_alloc(w, sizeof *tt);
    Onnx__TensorShapeProto *s = frost_onnxw_alloc(w, sizeof *s);
    Onnx__TensorShapeProto__Dimension **d =
        frost_onnxw_alloc(w, sizeof(void *) * (size_t)(n_dims + 1));
    if (!v || !t || !tt || !s || !d)
        return NULL;
    *v = (Onnx__ValueInfoProto)ONNX__VALUE_INFO_PROTO__INIT;
    *t = (Onnx__TypeProto)ONNX__TYPE_PROTO__INIT;
    *tt = (Onnx__TypeProto__Tensor)ONNX__TYPE_PROTO__TENSOR__INIT;
    *s = (Onnx__TensorShapeProto)ONNX__TENSOR_SHAPE_PROTO__INIT;
    for (int i = 0; i <= n_dims; i++) {
        if (!(d[i] = frost_onnxw_alloc(w, sizeof **d)))
            return NULL;
        *d[i] = (Onnx__TensorShapeProto__Dimension)ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
        if (i == 0) {
            d[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d[i]->dim_param = "N";
        } else {
            d[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d[i]->dim_value = dims[i - 1];
        }
    }
    s->n_dim = (size_t)n_dims + 1;
    s->dim = d;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = s;
    t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    t->tensor_type = tt;
    v->name = (char *)name;
    v->type = t;
    return v;
}

frost_status frost_onnxw_write(const frost_onnxw *w, const frost_onnxw_model *desc,
                               const char *path)
{
    if (!desc->input || !desc->output)
        return frost_onnxw_nomem();
    Onnx__ValueInfoProto *ins[1] = {desc->input}, *outs[1] = {desc->output};
    Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
    graph.name = (char *)desc->graph_name;
    graph.doc_string = (char *)desc->doc;
    graph.n_node = w->n_nodes;
    graph.node = w->nodes;
    graph.n_initializer = w->n_inits;
    graph.initializer = w->inits;
    graph.n_input = 1;
    graph.input = ins;
    graph.n_output = 1;
    graph.output = outs;
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    Onnx__OperatorSetIdProto *opsets[1] = {&opset};
    opset.domain = "";
    opset.has_version = 1;
    opset.version = desc->opset;
    Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
    model.has_ir_version = 1;
    model.ir_version = desc->ir_version;
    model.n_opset_import = 1;
    model.opset_import = opsets;
    model.producer_name = "frost";
    model.producer_version = FROST_VERSION_STRING;
    model.n_metadata_props = w->n_meta;
    model.metadata_props = w->meta;
    model.graph = &graph;

    size_t size = onnx__model_proto__get_packed_size(&model);
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return frost_onnxw_nomem();
    onnx__model_proto__pack(&model, buf);
    frost_status s = frost_write_file_atomic(path, buf, size);
    free(buf);
    return s;
}

void frost_onnxw_free(frost_onnxw *w)
{
    for (size_t i = 0; i < w->n_allocs; i++)
        free(w->allocs[i]);
    free(w->allocs);
    free(w->nodes);
    free(w->inits);
    free(w->meta);
    memset(w, 0, sizeof *w);
}
