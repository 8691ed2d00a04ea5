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
 */
#include "io/checkpoint.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
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

frost_status frost_checkpoint_save(const char *path, const frost_model *m,
                                   const frost_optimizer *opt, const frost_st_meta *extra,
                                   int n_extra)
{
    int n_opt = opt ? frost_optimizer_state_count(opt) : 0;
    int n = m->n_params + m->n_buffers + n_opt;
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
    int k = 0;
    for (int i = 0; i < m->n_params; i++)
        param_tensor(&m->params[i], &t[k++]);
    for (int i = 0; i < m->n_buffers; i++)
        param_tensor(&m->buffers[i], &t[k++]);
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

static frost_status copy_tensor(const frost_st_file *f, const char *path, frost_param *p)
{
    const frost_st_tensor *t = frost_st_find(f, p->name);
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
    return FROST_OK;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

/* A tensor that quantizing adds and an FP32 checkpoint cannot have: a fake-quant range
 * buffer (left uncalibrated) or TTQ's learned scales (left at zero: the first forward
 * starts them from the weights). */
static bool optional_range(const frost_st_file *f, const frost_param *b)
{
    return (ends_with(b->name, ".fq.range") || ends_with(b->name, ".ttq")) &&
           !frost_st_find(f, b->name);
}

frost_status frost_checkpoint_apply_weights(const frost_st_file *f, const char *path,
                                            frost_model *m)
{
    int model_tensors = m->n_params + m->n_buffers, file_tensors = 0;
    for (int i = 0; i < m->n_buffers; i++)
        model_tensors -= optional_range(f, &m->buffers[i]);
    for (int i = 0; i < m->n_params; i++)
        model_tensors -= optional_range(f, &m->params[i]);
    for (int i = 0; i < frost_st_count(f); i++)
        if (strncmp(frost_st_get(f, i)->name, "optim.", 6) != 0)
            file_tensors++;
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
