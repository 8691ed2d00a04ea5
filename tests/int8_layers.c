/* Layer-by-layer comparison of an int8 model with its fake-quant model (int8_layers.h). */
#include "int8_layers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "models/graph.h"

bool frost_test_int8_exact_op(frost_int8_op op)
{
    return op == FROST_I8_QUANTIZE || op == FROST_I8_LUT || op == FROST_I8_CONCAT ||
           op == FROST_I8_MAXPOOL;
}

void frost_test_quantized_value(const frost_model *qm, const frost_int8_node *t, int b, uint8_t *q)
{
    const frost_node *f = &qm->nodes[t->source];
    int64_t len = (int64_t)f->h * f->w * f->c;
    for (int64_t i = 0; i < len; i++)
        q[i] = (uint8_t)frost_quantize_one(f->y[b * len + i], t->scale, t->zp, t->lo, t->hi);
}

static int64_t largest_output(const frost_int8_model *im)
{
    int64_t most = 1;
    for (int i = 0; i < im->n_nodes; i++) {
        int64_t len = (int64_t)im->nodes[i].h * im->nodes[i].w * im->nodes[i].c;
        most = len > most ? len : most;
    }
    return most;
}

/* Node i of image b against the fake-quant model: adds its differences to *c. */
static void compare_node(frost_model *qm, frost_int8_model *im, int i, int b, uint8_t *want,
                         frost_test_layer_counts *c)
{
    frost_int8_node *n = &im->nodes[i];
    for (int j = 0; j < n->n_in; j++)
        frost_test_quantized_value(qm, &im->nodes[n->in[j]], b, frost_int8_tensor(im, n->in[j]));
    frost_int8_run_node(im, i);
    if (n->op == FROST_I8_LOGITS) {
        const float *logits = frost_model_logits(qm) + b * n->c;
        for (int k = 0; k < n->c; k++)
            if (!(fabs((double)im->out[k] - logits[k]) <= 1e-4 + 1e-4 * fabs((double)logits[k]))) {
                fprintf(stderr, "  %s logit %d: %.9g vs %.9g\n", n->name, k, (double)im->out[k],
                        (double)logits[k]);
                c->logits_off++;
            }
        return;
    }
    frost_test_quantized_value(qm, n, b, want);
    const uint8_t *got = frost_int8_tensor(im, i);
    int64_t len = (int64_t)n->h * n->w * n->c, diffs = 0, worst = 0;
    for (int64_t k = 0; k < len; k++) {
        int d = abs((int)got[k] - (int)want[k]);
        diffs += d != 0;
        c->beyond_1lsb += d > 1;
        worst = d > worst ? d : worst;
    }
    bool exact = frost_test_int8_exact_op(n->op);
    if (exact)
        c->exact_differ += diffs;
    if ((exact && diffs) || worst > 1 || (getenv("FROST_TEST_VERBOSE") && diffs))
        fprintf(stderr, "  node %s (%s), image %d: %lld of %lld values differ, max %lld\n", n->name,
                frost_int8_op_name(n->op), b, (long long)diffs, (long long)len, (long long)worst);
    c->values += len;
    c->differ += diffs;
}

frost_test_layer_counts frost_test_compare_layers(frost_model *qm, frost_int8_model *im, int n_img,
                                                  const float *images)
{
    frost_test_layer_counts c = {0};
    uint8_t *want = malloc((size_t)largest_output(im));
    if (!want || frost_model_forward(qm, images, n_img, false) != FROST_OK) {
        fprintf(stderr, "  compare_layers: %s\n", want ? frost_last_error() : "out of memory");
        frost_test_failed_checks++;
        free(want);
        return c;
    }
    for (int b = 0; b < n_img; b++)
        for (int i = 1; i < im->n_nodes; i++)
            compare_node(qm, im, i, b, want, &c);
    free(want);
    return c;
}
