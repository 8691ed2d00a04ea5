/*
 * frost's side of tests/check_onnx_export_ort.py: builds one of the FP32 export's test
 * models (tests/export_models.c: random weights, BN statistics and biases), saves it as a
 * checkpoint for `frost export --onnx`, runs it on N random inputs and writes raw files:
 *   OUT/NAME.safetensors   the checkpoint
 *   OUT/NAME.input.f32     the inputs, NCHW float32 [N][C][H][W] (for ONNX Runtime)
 *   OUT/NAME.logits.f32    frost's FP32 logits [N][classes]
 * and prints "C H W CLASSES".
 *   fp32_dump NAME OUT N
 */
#include <stdio.h>
#include <stdlib.h>

#include "export_models.h"
#include "frost/frost.h"

static int fail(const char *what)
{
    fprintf(stderr, "fp32_dump: %s: %s\n", what, frost_last_error());
    return 1;
}

static int write_raw(const char *out, const char *name, const char *ext, const float *v, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.%s", out, name, ext);
    FILE *f = fopen(path, "wb");
    int bad = !f || fwrite(v, sizeof(float), n, f) != n;
    if (f)
        bad |= fclose(f) != 0;
    if (bad)
        perror(path);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: fp32_dump NAME OUT N\n");
        return 2;
    }
    const char *name = argv[1], *out = argv[2];
    int n = atoi(argv[3]);
    frost_model *m = NULL;
    if (n < 1 || frost_test_export_model(name, 7, &m) != FROST_OK)
        return fail(name);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.safetensors", out, name);
    if (frost_checkpoint_save_weights(path, m) != FROST_OK)
        return fail(path);
    int h, w, c, classes = frost_model_classes(m);
    frost_model_input_shape(m, &h, &w, &c);
    size_t px = (size_t)h * w * c;
    float *nhwc = malloc(px * n * sizeof(float)), *nchw = malloc(px * n * sizeof(float));
    if (!nhwc || !nchw)
        return 1;
    frost_test_export_fill(nhwc, (long)(px * n), -2.0f, 2.0f, 2026);
    for (size_t i = 0; i < px * n; i++) { /* image, y, x, channel -> image, channel, y, x */
        size_t img = i / px, j = i % px, ch = j % c, pix = j / c;
        nchw[img * px + ch * h * w + pix] = nhwc[i];
    }
    if (frost_model_set_batch(m, n) != FROST_OK || frost_model_forward(m, nhwc, n, false))
        return fail("forward");
    if (write_raw(out, name, "input.f32", nchw, px * n) ||
        write_raw(out, name, "logits.f32", frost_model_logits(m), (size_t)classes * n))
        return 1;
    printf("%d %d %d %d\n", c, h, w, classes);
    free(nhwc), free(nchw);
    frost_model_free(m);
    return 0;
}
