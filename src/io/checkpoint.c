/*
 * Checkpoints are safetensors files:
 *   tensors  "<layer>.weight" / ".bias" / ".running_mean" / ".running_var" (F32, model shapes),
 *            "optim.<param>.<slot>" (F32, 1-D) when the optimizer is saved;
 *   metadata "format" = "frost-checkpoint", "frost.version", "frost.arch" (architecture JSON),
 *            "frost.quant" (quantization config JSON, fake-quant models only),
 *            "optim.steps", "optim.gb_k" (GradBoost's boosted steps), "frost.cpu" (the CPU and
 *            kernel paths of the process that wrote the file, frost_cpu_text), plus the
 *            trainer's own keys ("train.epoch", ...).
 * Readers need only "frost.arch"; every other key may be missing (older files have no
 * "frost.cpu").
 *
 * k-means compressed checkpoints (docs/kmeans.md) replace a weight "<w>" by "<w>.kmeans_idx"
 * (U8, the weight's shape; I32 when the codebook has more than 256 values) and
 * "<w>.kmeans_codebook" (F32 [codes]), and carry "frost.kmeans" = "1" (the storage version).
 * Loading decodes them to float, so every reader of checkpoints takes them unchanged.
 */
#include "io/checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "frost/compress.h"
#include "frost/cpu.h"
#include "frost/qat.h"
#include "frost/version.h"
#include "models/graph.h"

static void param_tensor(const frost_param *p, frost_st_tensor *t)
{
    t->name = p->name;
    t->dtype = FROST_DT_F32;
    t->ndim = p->ndim;
    for (int i = 0; i < p->ndim; i++)
        t->shape[i] = p->shape[i];
    t->data = p->data;
}

/* Writes the given weight tensors (params and buffers, in the model's order) with the
 * optimizer state (opt != NULL), the architecture and the metadata every checkpoint has. */
static frost_status write_checkpoint(const char *path, const frost_model *m,
                                     const frost_st_tensor *weights, int n_weights,
                                     const frost_optimizer *opt, const frost_st_meta *extra,
                                     int n_extra)
{
    int n_opt = opt ? frost_optimizer_state_count(opt) : 0;
    int n = n_weights + n_opt;
    frost_st_tensor *t = calloc((size_t)n, sizeof *t);
    frost_st_meta *meta = calloc((size_t)n_extra + 7, sizeof *meta);
    char *arch = frost_model_to_json(m);
    char steps[32], gb_k[32], cpu_text[FROST_CPU_TEXT_MAX];
    frost_cpu_info cpu;
    frost_status s = FROST_OK;
    if (!t || !meta || !arch) {
        s = frost_fail(FROST_ERR_NOMEM, "out of memory saving checkpoint %s", path);
        goto done;
    }
    memcpy(t, weights, (size_t)n_weights * sizeof *t);
    int k = n_weights;
    for (int i = 0; i < n_opt; i++) {
        const char *name;
        int64_t numel;
        float *data;
        frost_optimizer_state_get(opt, i, &name, &numel, &data);
        t[k] = (frost_st_tensor){.name = name, .dtype = FROST_DT_F32, .ndim = 1, .data = data};
        t[k++].shape[0] = numel;
    }
    int nm = 0;
    meta[nm++] = (frost_st_meta){"format", "frost-checkpoint"};
    meta[nm++] = (frost_st_meta){"frost.version", FROST_VERSION_STRING};
    meta[nm++] = (frost_st_meta){"frost.arch", arch};
    /* which machine made these numbers: training speed and float rounding depend on it */
    frost_cpu_describe(&cpu);
    frost_cpu_text(&cpu, cpu_text, sizeof cpu_text);
    meta[nm++] = (frost_st_meta){"frost.cpu", cpu_text};
    if (frost_model_qconfig_json(m))
        meta[nm++] = (frost_st_meta){"frost.quant", frost_model_qconfig_json(m)};
    if (opt) {
        snprintf(steps, sizeof steps, "%lld", (long long)frost_optimizer_steps(opt));
        meta[nm++] = (frost_st_meta){"optim.steps", steps};
        snprintf(gb_k, sizeof gb_k, "%lld", (long long)frost_optimizer_boost_steps(opt));
        meta[nm++] = (frost_st_meta){"optim.gb_k", gb_k}; /* GradBoost's boosted steps */
    }
    for (int i = 0; i < n_extra; i++)
        meta[nm++] = extra[i];
    s = frost_st_write(path, t, n, meta, nm);
done:
    free(t);
    free(meta);
    free(arch);
    return s;
}

frost_status frost_checkpoint_save(const char *path, const frost_model *m,
                                   const frost_optimizer *opt, const frost_st_meta *extra,
                                   int n_extra)
{
    int n = m->n_params + m->n_buffers;
    frost_st_tensor *t = calloc((size_t)n, sizeof *t);
    if (!t)
        return frost_fail(FROST_ERR_NOMEM, "out of memory saving checkpoint %s", path);
    int k = 0;
    for (int i = 0; i < m->n_params; i++)
        param_tensor(&m->params[i], &t[k++]);
    for (int i = 0; i < m->n_buffers; i++)
        param_tensor(&m->buffers[i], &t[k++]);
    frost_status s = write_checkpoint(path, m, t, n, opt, extra, n_extra);
    free(t);
    return s;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

static frost_status kmeans_version(const frost_st_file *f, const char *path)
{
    const char *v = frost_st_meta_get(f, "frost.kmeans");
    if (!v)
        return frost_fail(FROST_ERR_FORMAT,
                          "%s: has k-means tensors but no 'frost.kmeans' metadata", path);
    if (strcmp(v, FROST_KMEANS_FORMAT_VERSION) != 0)
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "%s: k-means storage version '%s' (this frost reads version %s)", path, v,
                          FROST_KMEANS_FORMAT_VERSION);
    return FROST_OK;
}

/* k from a stored codebook size: 2^bits codes (dense) or 2^bits + 1 (sparse: the last is the
 * pruned weights' 0). */
static bool codes_to_k(int n_codes, int *bits, bool *sparse)
{
    for (int b = 1; b <= FROST_KMEANS_MAX_BITS; b++) {
        if (n_codes == (1 << b) || n_codes == (1 << b) + 1) {
            *bits = b;
            *sparse = n_codes != (1 << b);
            return true;
        }
    }
    return false;
}

frost_status frost_checkpoint_kmeans_tensors(const frost_st_file *f, const char *path,
                                             const frost_param *p, const frost_st_tensor **idx,
                                             const frost_st_tensor **codebook)
{
    char name[160];
    snprintf(name, sizeof name, "%s.kmeans_idx", p->name);
    *idx = frost_st_find(f, name);
    snprintf(name, sizeof name, "%s.kmeans_codebook", p->name);
    *codebook = frost_st_find(f, name);
    if (!*idx && !*codebook)
        return FROST_OK;
    FROST_TRY(kmeans_version(f, path));
    if (!*idx || !*codebook)
        return frost_fail(FROST_ERR_FORMAT, "%s: '%s' has a k-means %s but no %s", path, p->name,
                          *idx ? "index tensor" : "codebook", *idx ? "codebook" : "index tensor");
    const frost_st_tensor *t = *idx, *c = *codebook;
    bool same = t->ndim == p->ndim;
    for (int i = 0; same && i < p->ndim; i++)
        same = t->shape[i] == p->shape[i];
    if (!same || (t->dtype != FROST_DT_U8 && t->dtype != FROST_DT_I32))
        return frost_fail(FROST_ERR_FORMAT,
                          "%s: k-means indices of '%s' are not uint8/int32 of the weight's shape",
                          path, p->name);
    if (c->dtype != FROST_DT_F32 || c->ndim != 1)
        return frost_fail(FROST_ERR_FORMAT, "%s: the k-means codebook of '%s' is not a 1-D F32",
                          path, p->name);
    int bits;
    bool sparse;
    if (!codes_to_k((int)c->shape[0], &bits, &sparse) ||
        (sparse && ((const float *)c->data)[c->shape[0] - 1] != 0.0f))
        return frost_fail(FROST_ERR_FORMAT,
                          "%s: '%s' has a codebook of %lld values (2^bits, or 2^bits + 1 ending "
                          "with the pruned weights' 0)",
                          path, p->name, (long long)c->shape[0]);
    if ((t->dtype == FROST_DT_U8) != (c->shape[0] <= 256))
        return frost_fail(FROST_ERR_FORMAT,
                          "%s: '%s' has %lld codebook values and %s indices (uint8 up to 256 "
                          "values, int32 above)",
                          path, p->name, (long long)c->shape[0],
                          t->dtype == FROST_DT_U8 ? "uint8" : "int32");
    return FROST_OK;
}

/* A k-means weight: indices and codebook checked, decoded into p. */
static frost_status decode_kmeans(const frost_st_file *f, const char *path, frost_param *p,
                                  bool *found)
{
    const frost_st_tensor *t, *c;
    *found = false;
    FROST_TRY(frost_checkpoint_kmeans_tensors(f, path, p, &t, &c));
    if (!t)
        return FROST_OK;
    *found = true;
    char what[4300];
    snprintf(what, sizeof what, "%s: '%s'", path, p->name);
    bool u8 = t->dtype == FROST_DT_U8;
    return frost_kmeans_decode_checked(what, p->numel, u8 ? t->data : NULL, u8 ? NULL : t->data,
                                       c->data, (int)c->shape[0], p->data);
}

/* A NaN or infinity in a weight, a BN statistic or an optimizer state makes every later
 * output NaN: refuse the file instead of evaluating it to "loss nan". */
static frost_status check_finite(const char *path, const char *name, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return frost_fail(FROST_ERR_NUMERIC,
                              "%s: tensor '%s' holds %s at index %lld: the file is unusable (was "
                              "training diverging when it was saved?)",
                              path, name, isnan(x[i]) ? "NaN" : "an infinity", (long long)i);
    return FROST_OK;
}

static frost_status copy_tensor(const frost_st_file *f, const char *path, frost_param *p)
{
    const frost_st_tensor *t = frost_st_find(f, p->name);
    bool kmeans = false;
    if (!t && p->kind == FROST_PARAM_WEIGHT)
        FROST_TRY(decode_kmeans(f, path, p, &kmeans));
    if (kmeans)
        return check_finite(path, p->name, p->data, p->numel);
    if (!t)
        return frost_fail(FROST_ERR_SHAPE,
                          "%s: has no tensor '%s' (a checkpoint of another architecture?)", path,
                          p->name);
    bool same = t->dtype == FROST_DT_F32 && t->ndim == p->ndim;
    for (int i = 0; same && i < p->ndim; i++)
        same = t->shape[i] == p->shape[i];
    if (!same)
        return frost_fail(FROST_ERR_SHAPE,
                          "%s: tensor '%s' has another dtype or shape than the model's "
                          "(a checkpoint of another architecture?)",
                          path, p->name);
    memcpy(p->data, t->data, (size_t)p->numel * sizeof(float));
    return check_finite(path, p->name, p->data, p->numel);
}

/* A tensor that quantizing adds and an FP32 checkpoint cannot have: a fake-quant range
 * buffer (left uncalibrated) or TTQ's learned scales (left at zero: the first forward
 * starts them from the weights). */
static bool optional_range(const frost_st_file *f, const frost_param *b)
{
    return (has_suffix(b->name, ".fq.range") || has_suffix(b->name, ".ttq")) &&
           !frost_st_find(f, b->name);
}

/* Every k-means codebook comes with its weight's indices: the tensor count below counts a
 * k-means weight by its indices, so a stray codebook would otherwise be ignored unseen. */
static frost_status check_codebooks_paired(const frost_st_file *f, const char *path)
{
    const char *suffix = ".kmeans_codebook";
    for (int i = 0; i < frost_st_count(f); i++) {
        const char *name = frost_st_get(f, i)->name;
        if (!has_suffix(name, suffix))
            continue;
        char idx[4200];
        snprintf(idx, sizeof idx, "%.*s.kmeans_idx", (int)(strlen(name) - strlen(suffix)), name);
        if (!frost_st_find(f, idx))
            return frost_fail(FROST_ERR_FORMAT,
                              "%s: k-means codebook '%s' has no index tensor '%s'", path, name,
                              idx);
    }
    return FROST_OK;
}

frost_status frost_checkpoint_apply_weights(const frost_st_file *f, const char *path,
                                            frost_model *m)
{
    FROST_TRY(check_codebooks_paired(f, path));
    int model_tensors = m->n_params + m->n_buffers, file_tensors = 0;
    for (int i = 0; i < m->n_buffers; i++)
        model_tensors -= optional_range(f, &m->buffers[i]);
    for (int i = 0; i < m->n_params; i++)
        model_tensors -= optional_range(f, &m->params[i]);
    for (int i = 0; i < frost_st_count(f); i++) {
        const char *name = frost_st_get(f, i)->name;
        /* a k-means weight is two tensors: its indices count as the weight */
        if (strncmp(name, "optim.", 6) != 0 && !has_suffix(name, ".kmeans_codebook"))
            file_tensors++;
    }
    if (file_tensors != model_tensors)
        return frost_fail(FROST_ERR_SHAPE,
                          "%s: holds %d weight tensors, the model has %d (another architecture)",
                          path, file_tensors, model_tensors);
    for (int i = 0; i < m->n_params; i++)
        if (!optional_range(f, &m->params[i]))
            FROST_TRY(copy_tensor(f, path, &m->params[i]));
    for (int i = 0; i < m->n_buffers; i++)
        if (!optional_range(f, &m->buffers[i]))
            FROST_TRY(copy_tensor(f, path, &m->buffers[i]));
    return FROST_OK;
}

frost_status frost_checkpoint_apply_optimizer(const frost_st_file *f, const char *path,
                                              frost_optimizer *opt)
{
    const char *steps = frost_st_meta_get(f, "optim.steps");
    char *end = NULL;
    long long n = steps ? strtoll(steps, &end, 10) : -1;
    if (!steps || *end || n < 0)
        return frost_fail(FROST_ERR_FORMAT, "%s: no valid optimizer state ('optim.steps')", path);
    for (int i = 0; i < frost_optimizer_state_count(opt); i++) {
        const char *name;
        int64_t numel;
        float *data;
        frost_optimizer_state_get(opt, i, &name, &numel, &data);
        const frost_st_tensor *t = frost_st_find(f, name);
        if (!t || t->dtype != FROST_DT_F32 || t->ndim != 1 || t->shape[0] != numel)
            return frost_fail(FROST_ERR_SHAPE,
                              "%s: optimizer state '%s' is missing or has the wrong shape "
                              "(saved with another optimizer?)",
                              path, name);
        memcpy(data, t->data, (size_t)numel * sizeof(float));
        FROST_TRY(check_finite(path, name, data, numel));
    }
    frost_optimizer_set_steps(opt, n);
    const char *k = frost_st_meta_get(f, "optim.gb_k"); /* absent in older checkpoints: 0 */
    long long kv = k ? strtoll(k, &end, 10) : 0;
    if (k && (*end || kv < 0))
        return frost_fail(FROST_ERR_FORMAT, "%s: bad 'optim.gb_k' metadata '%s'", path, k);
    frost_optimizer_set_boost_steps(opt, kv);
    return FROST_OK;
}

frost_status frost_checkpoint_load_weights(const char *path, frost_model *m)
{
    frost_st_file *f;
    FROST_TRY(frost_st_read(path, &f));
    frost_status s = frost_checkpoint_apply_weights(f, path, m);
    frost_st_close(f);
    return s;
}

frost_status frost_checkpoint_load_model(const char *path, frost_model **out)
{
    frost_st_file *f;
    *out = NULL;
    FROST_TRY(frost_st_read(path, &f));
    const char *fmt = frost_st_meta_get(f, "format");
    const char *arch = frost_st_meta_get(f, "frost.arch");
    frost_status s;
    if (!fmt || strcmp(fmt, "frost-checkpoint") != 0 || !arch) {
        s = frost_fail(FROST_ERR_FORMAT, "%s: not a frost checkpoint (no 'frost.arch' metadata)",
                       path);
    } else {
        s = frost_model_from_json(arch, path, out);
        const char *qjson = frost_st_meta_get(f, "frost.quant");
        if (s == FROST_OK && qjson) { /* a fake-quant model: rebuild its graph first */
            frost_qconfig *qc = NULL;
            s = frost_qconfig_parse(qjson, path, &qc);
            if (s == FROST_OK)
                s = frost_model_quantize(*out, qc);
            frost_qconfig_free(qc);
            if (s == FROST_OK)
                s = frost_model_set_qmode(*out, FROST_QMODE_FIXED);
            if (s != FROST_OK) {
                frost_model_free(*out);
                *out = NULL;
            }
        }
        if (s == FROST_OK && (s = frost_checkpoint_apply_weights(f, path, *out)) != FROST_OK) {
            frost_model_free(*out);
            *out = NULL;
        }
    }
    frost_st_close(f);
    return s;
}

frost_status frost_checkpoint_save_weights(const char *path, const frost_model *m)
{
    return frost_checkpoint_save(path, m, NULL, NULL, 0);
}

frost_status frost_checkpoint_save_weights_meta(const char *path, const frost_model *m,
                                                const frost_st_meta *meta, int n_meta)
{
    return frost_checkpoint_save(path, m, NULL, meta, n_meta);
}

/* ---- k-means compressed checkpoints ---- */

/* The stored form of one clustered weight: uint8 (or int32) indices, with the pruned weights
 * pointing at one extra codebook value 0 after the k centroids. */
typedef struct {
    void *idx;
    float *codebook;
    int n_codes;
    char idx_name[160], codebook_name[160];
} kmeans_stored;

static frost_status store_layer(const frost_kmeans_entry *e, kmeans_stored *st)
{
    const frost_kmeans_layer *l = &e->layer;
    st->n_codes = l->k + (l->sparse ? 1 : 0);
    bool u8 = st->n_codes <= 256;
    st->idx = malloc((size_t)l->n * (u8 ? 1 : 4));
    st->codebook = malloc((size_t)st->n_codes * sizeof *st->codebook);
    if (!st->idx || !st->codebook)
        return frost_fail(FROST_ERR_NOMEM, "out of memory storing %s", e->name);
    memcpy(st->codebook, l->codebook, (size_t)l->k * sizeof *st->codebook);
    if (l->sparse)
        st->codebook[l->k] = 0.0f;
    for (int64_t i = 0; i < l->n; i++) {
        int j = l->idx[i] == FROST_KMEANS_PRUNED ? l->k : l->idx[i];
        if (u8)
            ((uint8_t *)st->idx)[i] = (uint8_t)j;
        else
            ((int32_t *)st->idx)[i] = j;
    }
    snprintf(st->idx_name, sizeof st->idx_name, "%s.kmeans_idx", e->name);
    snprintf(st->codebook_name, sizeof st->codebook_name, "%s.kmeans_codebook", e->name);
    return FROST_OK;
}

static const frost_kmeans_entry *find_entry(const frost_kmeans_model *km, int param)
{
    for (int i = 0; i < km->n; i++)
        if (km->layers[i].param == param)
            return &km->layers[i];
    return NULL;
}

frost_status frost_checkpoint_save_kmeans(const char *path, const frost_model *m,
                                          const frost_kmeans_model *km)
{
    int n = m->n_params + m->n_buffers + km->n;
    frost_st_tensor *t = calloc((size_t)n, sizeof *t);
    kmeans_stored *st = calloc((size_t)(km->n > 0 ? km->n : 1), sizeof *st);
    frost_st_meta meta[1] = {{"frost.kmeans", FROST_KMEANS_FORMAT_VERSION}};
    frost_status s = FROST_OK;
    if (!t || !st) {
        s = frost_fail(FROST_ERR_NOMEM, "out of memory saving checkpoint %s", path);
        goto done;
    }
    /* frost_checkpoint_save writes params then buffers; build the same list with the
     * clustered weights swapped for their indices and codebook */
    int k = 0, ns = 0;
    for (int i = 0; i < m->n_params && s == FROST_OK; i++) {
        const frost_kmeans_entry *e = find_entry(km, i);
        if (!e) {
            param_tensor(&m->params[i], &t[k++]);
            continue;
        }
        kmeans_stored *x = &st[ns++];
        if ((s = store_layer(e, x)) != FROST_OK)
            break;
        const frost_param *p = &m->params[i];
        t[k] = (frost_st_tensor){.name = x->idx_name,
                                 .dtype = x->n_codes <= 256 ? FROST_DT_U8 : FROST_DT_I32,
                                 .ndim = p->ndim,
                                 .data = x->idx};
        memcpy(t[k++].shape, p->shape, sizeof p->shape);
        t[k] = (frost_st_tensor){
            .name = x->codebook_name, .dtype = FROST_DT_F32, .ndim = 1, .data = x->codebook};
        t[k++].shape[0] = x->n_codes;
    }
    for (int i = 0; i < m->n_buffers && s == FROST_OK; i++)
        param_tensor(&m->buffers[i], &t[k++]);
    if (s == FROST_OK)
        s = write_checkpoint(path, m, t, k, NULL, meta, 1);
done:
    for (int i = 0; st && i < km->n; i++) {
        free(st[i].idx);
        free(st[i].codebook);
    }
    free(st);
    free(t);
    return s;
}

static frost_status rebuild_layer(const char *path, const frost_param *p, const frost_st_tensor *t,
                                  const frost_st_tensor *c, frost_kmeans_layer *l)
{
    int n_codes = (int)c->shape[0], bits = 0;
    bool sparse = false;
    const float *cb = c->data;
    if (!codes_to_k(n_codes, &bits, &sparse)) /* frost_checkpoint_kmeans_tensors checked it */
        return frost_fail(FROST_ERR_FORMAT, "%s: '%s': codebook of %d values", path, p->name,
                          n_codes);
    l->bits = bits;
    l->k = 1 << bits;
    l->n = p->numel;
    l->sparse = sparse;
    l->converged = true;
    l->codebook = malloc((size_t)l->k * sizeof *l->codebook);
    l->idx = malloc((size_t)l->n * sizeof *l->idx);
    float *scratch = malloc((size_t)l->n * sizeof *scratch);
    frost_status s = FROST_OK;
    if (!l->codebook || !l->idx || !scratch)
        s = frost_fail(FROST_ERR_NOMEM, "out of memory reading %s", path);
    bool u8 = t->dtype == FROST_DT_U8;
    if (s == FROST_OK) { /* the loaders' checks: every index inside the codebook */
        char what[4300];
        snprintf(what, sizeof what, "%s: '%s'", path, p->name);
        s = frost_kmeans_decode_checked(what, l->n, u8 ? t->data : NULL, u8 ? NULL : t->data, cb,
                                        n_codes, scratch);
    }
    if (s == FROST_OK) {
        memcpy(l->codebook, cb, (size_t)l->k * sizeof *cb);
        for (int64_t i = 0; i < l->n; i++) {
            int j = u8 ? ((const uint8_t *)t->data)[i] : ((const int32_t *)t->data)[i];
            l->idx[i] = (int16_t)(j == l->k ? FROST_KMEANS_PRUNED : j);
            l->clustered += j != l->k;
        }
    }
    free(scratch);
    return s;
}

frost_status frost_checkpoint_kmeans_report(const char *path, const frost_model *m,
                                            frost_kmeans_model **out)
{
    *out = NULL;
    frost_st_file *f;
    FROST_TRY(frost_st_map(path, &f));
    frost_kmeans_model *km = calloc(1, sizeof *km);
    frost_status s = FROST_OK;
    if (!km || !(km->layers = calloc((size_t)m->n_nodes, sizeof *km->layers)))
        s = frost_fail(FROST_ERR_NOMEM, "out of memory reading %s", path);
    for (int ni = 0; s == FROST_OK && ni < m->n_nodes; ni++) {
        const frost_node *nd = &m->nodes[ni];
        if ((nd->op != FROST_OP_CONV && nd->op != FROST_OP_LINEAR) || nd->weight < 0)
            continue;
        const frost_param *p = &m->params[nd->weight];
        const frost_st_tensor *t, *c;
        s = frost_checkpoint_kmeans_tensors(f, path, p, &t, &c);
        if (s != FROST_OK || !t)
            continue;
        frost_kmeans_entry *e = &km->layers[km->n++];
        snprintf(e->name, sizeof e->name, "%s", p->name);
        e->node = ni;
        e->param = nd->weight;
        e->linear = nd->op == FROST_OP_LINEAR;
        s = rebuild_layer(path, p, t, c, &e->layer);
    }
    if (s == FROST_OK)
        s = frost_kmeans_model_sizes(km);
    frost_st_close(f);
    if (s != FROST_OK) {
        frost_kmeans_model_free(km);
        return s;
    }
    *out = km;
    return FROST_OK;
}
