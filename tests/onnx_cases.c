#include "onnx_cases.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frost/io.h"
#include "harness.h"
#include "io/onnx.h"
#include "models/graph.h"

/* The frost value at ONNX position `i` of a tensor of ONNX shape dims (rank 4 NCHW, or 2). */
static float frost_value(const frost_node *nd, const frost_onnx_layout *l, const int64_t *dims,
                         int64_t i)
{
    if (l->rank == 4) {
        int64_t c = dims[1], h = dims[2], w = dims[3];
        int64_t x = i % w, y = (i / w) % h, ch = (i / (w * h)) % c, n = i / (w * h * c);
        return nd->y[((n * h + y) * w + x) * c + ch];
    }
    int64_t f = dims[1], n = i / f, k = i % f;
    if (l->flat_h * l->flat_w > 1) { /* ONNX c*H*W + pix -> frost pix*C + c */
        int64_t hw = (int64_t)l->flat_h * l->flat_w, ch = k / hw, pix = k % hw;
        k = pix * l->flat_c + ch;
    }
    return nd->y[n * f + k];
}

static int compare_tensor(const char *dir, const frost_model *m, const frost_onnx_map *map,
                          const cJSON *out, double rtol)
{
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(out, "name"));
    const char *file = cJSON_GetStringValue(cJSON_GetObjectItem(out, "file"));
    if (!name || !file) {
        fprintf(stderr, "  %s: manifest output without name/file\n", dir);
        return 1;
    }
    frost_onnx_layout l;
    int idx = frost_onnx_map_find(map, name, &l);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int ndim;
    int64_t dims[8];
    float *ref = frost_test_read_npy(path, &ndim, dims);
    if (idx < 0 || !ref || ndim != l.rank) {
        fprintf(stderr, "  %s: tensor '%s': %s\n", dir, name,
                idx < 0 ? "not in the imported model" : "unreadable or rank mismatch");
        free(ref);
        return 1;
    }
    const frost_node *nd = &m->nodes[idx];
    if (nd->fused_away) { /* a BN computed inside the activation after it */
        free(ref);
        return 0;
    }
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++)
        numel *= dims[i];
    if (numel != (int64_t)m->cur_n * nd->h * nd->w * nd->c) {
        fprintf(stderr, "  %s: tensor '%s': %lld values, frost has %d x %dx%dx%d\n", dir, name,
                (long long)numel, m->cur_n, nd->h, nd->w, nd->c);
        free(ref);
        return 1;
    }
    double scale = 0, err = 0;
    for (int64_t i = 0; i < numel; i++) {
        scale = fmax(scale, fabs(ref[i]));
        err = fmax(err, fabs((double)frost_value(nd, &l, dims, i) - ref[i]));
    }
    free(ref);
    int bad = !(err <= rtol * scale) || scale == 0;
    printf("    %-10s %-12s max|ref| %-10.4g max err %-10.3g (%.2g of the scale)%s\n", name,
           frost_op_name(nd->op), scale, err, scale > 0 ? err / scale : 0.0,
           bad ? "  <-- FAIL" : "");
    return bad;
}

/* Input NCHW -> NHWC. */
static float *nhwc_input(const char *dir, int64_t *dims)
{
    char path[1024];
    int ndim;
    snprintf(path, sizeof path, "%s/input.npy", dir);
    float *x = frost_test_read_npy(path, &ndim, dims);
    if (!x || ndim != 4) {
        free(x);
        return NULL;
    }
    int64_t n = dims[0], c = dims[1], h = dims[2], w = dims[3];
    float *y = malloc((size_t)(n * c * h * w) * sizeof *y);
    for (int64_t i = 0; y && i < n * c * h * w; i++) {
        int64_t xx = i % w, yy = (i / w) % h, ch = (i / (w * h)) % c, b = i / (w * h * c);
        y[((b * h + yy) * w + xx) * c + ch] = x[i];
    }
    free(x);
    return y;
}

/* One import and forward; fused: BN + activation fusion as in production (the fused BN
 * outputs are then not checked), else every layer on its own. */
static int run_case(const char *dir, double rtol, bool fused)
{
    if (fused)
        unsetenv("FROST_NO_FUSE");
    else
        setenv("FROST_NO_FUSE", "1", 1);
    char path[1024], *text;
    size_t size;
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    if (frost_read_file(path, &text, &size) != FROST_OK) {
        fprintf(stderr, "  %s\n", frost_last_error());
        return 1;
    }
    cJSON *man = cJSON_Parse(text);
    free(text);
    frost_model *m = NULL;
    frost_onnx_map *map = NULL;
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    int64_t dims[8];
    float *x = nhwc_input(dir, dims);
    int bad = 0;
    if (!man || !x || frost_onnx_import_mapped(path, NULL, &m, &map) != FROST_OK) {
        fprintf(stderr, "  %s: %s\n", dir, x && man ? frost_last_error() : "bad manifest/input");
        bad = 1;
    } else if (frost_model_set_batch(m, (int)dims[0]) != FROST_OK ||
               frost_model_forward(m, x, (int)dims[0], false) != FROST_OK) {
        fprintf(stderr, "  %s: %s\n", dir, frost_last_error());
        bad = 1;
    } else {
        printf("  %s (%d frost nodes, %s)\n", dir, m->n_nodes, fused ? "fused" : "unfused");
        const cJSON *out;
        cJSON_ArrayForEach(out, cJSON_GetObjectItem(man, "outputs")) bad +=
            compare_tensor(dir, m, map, out, rtol);
    }
    free(x);
    cJSON_Delete(man);
    frost_onnx_map_free(map);
    frost_model_free(m);
    return bad;
}

int frost_test_onnx_case(const char *dir, double rtol)
{
    return run_case(dir, rtol, true) + run_case(dir, rtol, false);
}
