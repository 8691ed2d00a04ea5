/*
 * frost's side of tests/check_qdq_ort.py: runs an int8 model with float requantization
 * (the scheme ONNX Runtime uses) on the Fashion-MNIST test split and writes raw files:
 *   OUT/input.f32    every image, normalized as in training, NCHW float32 (for ONNX Runtime)
 *   OUT/labels.u8    the labels
 *   OUT/logits.f32   frost's output per image [n][classes]
 *   OUT/nodeI.u8     node I's uint8 output (NHWC) for the first K images
 *   int8_dump MODEL.int8 OUT K [LIMIT [fixed]]   (fixed: keep fixed-point requantization)
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frost/frost.h"
#include "int8/i8model.h"

static int fail(const char *what)
{
    fprintf(stderr, "int8_dump: %s: %s\n", what, frost_last_error());
    return 1;
}

static FILE *open_out(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        perror(path);
    return f;
}

/* Image i of d normalized (x = (p/255 - mean) / std), NHWC into x, NCHW into nchw. */
static void normalize(const frost_dataset *d, int i, float mean, float std, float *x, float *nchw)
{
    int hw = d->h * d->w;
    const uint8_t *p = d->images + (size_t)i * hw * d->c;
    for (int j = 0; j < hw * d->c; j++) {
        x[j] = ((float)p[j] / 255.0f - mean) / std;
        nchw[(j % d->c) * hw + j / d->c] = x[j];
    }
}

/* Runs image x node by node, appending every node's output to its file (first K images). */
static void run_dumping(frost_int8_model *m, const float *x, FILE **node_files)
{
    frost_int8_quantize_input(m, x, frost_int8_tensor(m, 0));
    for (int i = 0; i < m->n_nodes; i++) {
        if (i > 0)
            frost_int8_run_node(m, i);
        const frost_int8_node *n = &m->nodes[i];
        if (node_files && n->op != FROST_I8_LOGITS)
            fwrite(frost_int8_tensor(m, i), 1, (size_t)n->h * n->w * n->c, node_files[i]);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: int8_dump MODEL.int8 OUT K [LIMIT]\n");
        return 2;
    }
    const char *out = argv[2];
    int k = atoi(argv[3]), limit = argc > 4 ? atoi(argv[4]) : 0;
    frost_int8_model *m = NULL;
    frost_dataset d = {0};
    frost_set_threads(1); /* one image at a time: threads would only wait for each other */
    if (frost_int8_load(argv[1], &m) != FROST_OK)
        return fail(argv[1]);
    bool fixed = argc > 5 && strcmp(argv[5], "fixed") == 0; /* a baseline: frost vs frost */
    if (frost_int8_set_float_requant(m, !fixed) != FROST_OK)
        return fail("float requant");
    if (frost_dataset_fashion_mnist(NULL, false, &d) != FROST_OK)
        return fail("Fashion-MNIST");
    int n = limit > 0 && limit < d.n ? limit : d.n;
    FILE *fin = open_out(out, "input.f32"), *flab = open_out(out, "labels.u8"),
         *flog = open_out(out, "logits.f32");
    FILE **nodes = calloc((size_t)m->n_nodes, sizeof *nodes);
    if (!fin || !flab || !flog || !nodes)
        return 1;
    for (int i = 0; i < m->n_nodes; i++) {
        char name[64];
        snprintf(name, sizeof name, "node%d.u8", i);
        if (!(nodes[i] = open_out(out, name)))
            return 1;
    }
    frost_augment norm = frost_train_defaults().augment;
    size_t px = (size_t)d.h * d.w * d.c;
    float *x = malloc(px * sizeof(float)), *nchw = malloc(px * sizeof(float));
    float *logits = malloc((size_t)m->classes * sizeof(float));
    if (!x || !nchw || !logits)
        return 1;
    for (int i = 0; i < n; i++) {
        normalize(&d, i, norm.mean, norm.std, x, nchw);
        if (i < k) {
            run_dumping(m, x, nodes);
            if (frost_int8_run(m, x, (int64_t)px, logits) != FROST_OK)
                return fail("run");
        } else if (frost_int8_run(m, x, (int64_t)px, logits) != FROST_OK) {
            return fail("run");
        }
        fwrite(nchw, sizeof(float), px, fin);
        fwrite(logits, sizeof(float), (size_t)m->classes, flog);
        fwrite(&d.labels[i], 1, 1, flab);
    }
    int bad = 0;
    for (int i = 0; i < m->n_nodes; i++)
        bad |= fclose(nodes[i]) != 0;
    bad |= fclose(fin) != 0 || fclose(flab) != 0 || fclose(flog) != 0;
    free(nodes), free(x), free(nchw), free(logits);
    frost_dataset_free(&d);
    frost_int8_free(m);
    return bad;
}
