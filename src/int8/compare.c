/*
 * The int8 model against its FP32 model: top-1 agreement and per-layer SQNR.
 *
 * The FP32 model runs a batch in eval mode and keeps every layer's output; the int8
 * model then runs each image node by node, and each node's output is read right after
 * it runs (the arena reuses a tensor's bytes once it is dead, so after a whole run only
 * the live ones would be left).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "frost/train.h"
#include "int8/i8model.h"
#include "models/graph.h"

#define COMPARE_BATCH 64

void frost_int8_fp32_report_free(frost_int8_fp32_report *r)
{
    if (!r)
        return;
    free(r->layers);
    r->layers = NULL;
    r->n_layers = 0;
}

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        best = x[i] > x[best] ? i : best;
    return best;
}

/* The node holding layer j's output as the reference sees it: in a fake-quant model, the
 * fake-quant node right after j when there is one (its quantized value). */
static int reference_node(const frost_model *f, int j)
{
    bool fq = f->quant.active && j + 1 < f->n_nodes && f->nodes[j + 1].op == FROST_OP_FAKEQUANT &&
              f->nodes[j + 1].in[0] == j && f->nodes[j + 1].q.on;
    return fq ? j + 1 : j;
}

/* For every int8 node, the FP32 node whose output it holds (same name, same shape). */
static frost_status match_layers(const frost_int8_model *m, const frost_model *f, int *fp_of)
{
    for (int i = 0; i < m->n_nodes; i++) {
        const frost_int8_node *n = &m->nodes[i];
        fp_of[i] = -1;
        for (int j = 0; j < f->n_nodes && fp_of[i] < 0; j++)
            if (f->nodes[j].op != FROST_OP_FAKEQUANT && strcmp(f->nodes[j].name, n->name) == 0)
                fp_of[i] = reference_node(f, j);
        if (fp_of[i] < 0)
            return frost_fail(FROST_ERR_ARG,
                              "int8 vs FP32: the FP32 model '%s' has no layer '%s' (is it the "
                              "model this int8 model was converted from?)",
                              f->name, n->name);
        const frost_node *fn = &f->nodes[fp_of[i]];
        if (fn->h * fn->w * fn->c != n->h * n->w * n->c)
            return frost_fail(FROST_ERR_SHAPE,
                              "int8 vs FP32: layer '%s' is %dx%dx%d in the int8 model and "
                              "%dx%dx%d in the FP32 model",
                              n->name, n->h, n->w, n->c, fn->h, fn->w, fn->c);
        if (fn->fused_away)
            return frost_fail(FROST_ERR_UNSUPPORTED,
                              "int8 vs FP32: the FP32 layer '%s' runs fused into the next one "
                              "and keeps no output of its own",
                              fn->name);
    }
    return FROST_OK;
}

/* Adds node i's dequantized output against the float one `ref` to its sums. */
static void accumulate(const frost_int8_model *m, int i, const float *ref, frost_int8_layer_sqnr *l)
{
    const frost_int8_node *n = &m->nodes[i];
    int64_t len = (int64_t)n->h * n->w * n->c;
    double sig = 0.0, noise = 0.0;
    if (n->op == FROST_I8_LOGITS) {
        for (int64_t k = 0; k < len; k++) {
            double x = ref[k], d = x - (double)m->out[k];
            sig += x * x;
            noise += d * d;
        }
    } else {
        const uint8_t *q = m->arena + n->offset;
        for (int64_t k = 0; k < len; k++) {
            double x = ref[k], d = x - ((double)q[k] - (double)n->zp) * (double)n->scale;
            sig += x * x;
            noise += d * d;
        }
    }
    l->signal += sig;
    l->noise += noise;
    l->values += len;
}

/* One image through the int8 model, node by node; SQNR sums when `sums` is set. */
static void run_image(frost_int8_model *m, const frost_model *f, const int *fp_of, int b,
                      const float *image, frost_int8_layer_sqnr *sums)
{
    frost_int8_quantize_input(m, image, frost_int8_tensor(m, 0));
    for (int i = 0; i < m->n_nodes; i++) {
        if (i > 0)
            frost_int8_run_node(m, i);
        if (sums) {
            const frost_node *fn = &f->nodes[fp_of[i]];
            accumulate(m, i, fn->y + (size_t)b * fn->h * fn->w * fn->c, &sums[i]);
        }
    }
    const frost_int8_node *last = &m->nodes[m->n_nodes - 1];
    if (last->op != FROST_I8_LOGITS) {
        const uint8_t *y = frost_int8_tensor(m, m->n_nodes - 1);
        for (int c = 0; c < m->classes; c++)
            m->out[c] = ((float)y[c] - (float)last->zp) * last->scale;
    }
}

static frost_status check_args(const frost_int8_model *m, const frost_model *f,
                               const frost_dataset *d)
{
    if (d->h != m->in_h || d->w != m->in_w || d->c != m->in_c || f->in_h != m->in_h ||
        f->in_w != m->in_w || f->in_c != m->in_c)
        return frost_fail(FROST_ERR_SHAPE,
                          "int8 vs FP32: images %dx%dx%d, int8 model %dx%dx%d, FP32 model "
                          "%dx%dx%d",
                          d->h, d->w, d->c, m->in_h, m->in_w, m->in_c, f->in_h, f->in_w, f->in_c);
    if (f->classes != m->classes)
        return frost_fail(FROST_ERR_SHAPE,
                          "int8 vs FP32: %d classes in the int8 model, %d in the "
                          "FP32 model",
                          m->classes, f->classes);
    return FROST_OK;
}

static void finish_sqnr(frost_int8_fp32_report *r)
{
    for (int i = 0; i < r->n_layers; i++) {
        frost_int8_layer_sqnr *l = &r->layers[i];
        l->sqnr_db = l->noise > 0.0 ? 10.0 * log10(l->signal / l->noise) : INFINITY;
    }
}

frost_status frost_int8_compare_fp32(frost_int8_model *m, frost_model *fp32, const frost_dataset *d,
                                     const frost_augment *norm, int sqnr_images,
                                     frost_int8_fp32_report *r)
{
    if (!m || !fp32 || !d || !r)
        return frost_fail(FROST_ERR_ARG, "int8 vs FP32: NULL argument");
    memset(r, 0, sizeof *r);
    FROST_TRY(check_args(m, fp32, d));
    r->sqnr_images = sqnr_images < 0 ? 0 : sqnr_images > d->n ? d->n : sqnr_images;
    r->layers = calloc((size_t)m->n_nodes, sizeof *r->layers);
    int *fp_of = malloc((size_t)m->n_nodes * sizeof(int));
    size_t per_image = (size_t)d->h * d->w * d->c;
    float *x = malloc(COMPARE_BATCH * per_image * sizeof(float));
    uint8_t labels[COMPARE_BATCH];
    frost_loader *l = NULL;
    frost_status s = r->layers && fp_of && x ? FROST_OK
                                             : frost_fail(FROST_ERR_NOMEM, "int8 vs FP32: out of "
                                                                           "memory");
    if (s == FROST_OK) {
        r->n_layers = m->n_nodes;
        for (int i = 0; i < m->n_nodes; i++) {
            snprintf(r->layers[i].name, sizeof r->layers[i].name, "%s", m->nodes[i].name);
            r->layers[i].op = frost_int8_op_name(m->nodes[i].op);
        }
        s = frost_model_set_batch(fp32, COMPARE_BATCH);
    }
    if (s == FROST_OK)
        s = match_layers(m, fp32, fp_of);
    /* the normalization only: no crop, no flip */
    frost_augment plain = norm ? *norm : (frost_augment){.mean = 0.0f, .std = 1.0f};
    plain.crop_pad = 0;
    plain.hflip = false;
    if (s == FROST_OK)
        s = frost_loader_create(d, COMPARE_BATCH, false, &plain, 0, &l);
    if (s == FROST_OK)
        frost_loader_start_epoch(l, 0);
    int got;
    while (s == FROST_OK && (got = frost_loader_next(l, x, labels)) > 0) {
        s = frost_model_forward(fp32, x, got, false);
        const float *logits = frost_model_logits(fp32);
        for (int b = 0; b < got && s == FROST_OK; b++) {
            bool sqnr = r->images < r->sqnr_images;
            run_image(m, fp32, fp_of, b, x + b * per_image, sqnr ? r->layers : NULL);
            int top_i8 = argmax(m->out, m->classes);
            int top_fp = argmax(logits + (size_t)b * fp32->classes, fp32->classes);
            r->agree += top_i8 == top_fp;
            r->correct_int8 += top_i8 == labels[b];
            r->correct_fp32 += top_fp == labels[b];
            r->images++;
        }
    }
    finish_sqnr(r);
    frost_loader_free(l);
    free(x);
    free(fp_of);
    return s;
}
