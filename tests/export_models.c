#include "export_models.h"

#include <string.h>

#include "frost/io.h"
#include "models/graph.h"
#include "test_archs.h"

const char *const frost_test_export_names[] = {"frostnet_s",  "frostnet_b", "frostnet_l",
                                               "mobilenetv2", "mnasnet_b1", "resnet",
                                               "se",          "mixed",      NULL};

/* Squeeze-excite with a sigmoid gate on a conv branch, SiLU on its product, and a
 * same-shape mul (as tests/test_int8_qdq_roundtrip.c). */
static const char *se_arch = FROST_TEST_SE_ARCH(12, 12, FROST_TEST_GAP_FC_HEAD);

/* Every other op and activation the export writes; 28 -> 14 (max pool) -> 7 (padded
 * average pool: the corner windows hold 4 of 9 pixels) -> 3 (conv) -> flatten (54). */
static const char *mixed_arch =
    "{\"name\":\"mixed\",\"input\":{\"h\":28,\"w\":28,\"c\":1},\"classes\":10,\"layers\":["
    "{\"name\":\"c1\",\"op\":\"conv\",\"out\":8,\"k\":3},"
    "{\"name\":\"b1\",\"op\":\"bn\"},{\"name\":\"a1\",\"op\":\"act\",\"fn\":\"relu6\"},"
    "{\"name\":\"p1\",\"op\":\"maxpool\",\"k\":3,\"stride\":2,\"pad\":1},"
    "{\"name\":\"dw\",\"op\":\"conv\",\"out\":8,\"k\":3,\"groups\":8,\"bias\":true},"
    "{\"name\":\"a2\",\"op\":\"act\",\"fn\":\"hswish\"},"
    "{\"name\":\"c3\",\"op\":\"conv\",\"in\":[\"p1\"],\"out\":8,\"k\":1},"
    "{\"name\":\"a3\",\"op\":\"act\",\"fn\":\"hsigmoid\"},"
    "{\"name\":\"cat\",\"op\":\"concat\",\"in\":[\"a2\",\"a3\"]},"
    "{\"name\":\"g\",\"op\":\"gap\"},"
    "{\"name\":\"gl\",\"op\":\"linear\",\"out\":16},"
    "{\"name\":\"gs\",\"op\":\"act\",\"fn\":\"sigmoid\"},"
    "{\"name\":\"gate\",\"op\":\"mul\",\"in\":[\"cat\",\"gs\"]},"
    "{\"name\":\"p2\",\"op\":\"avgpool\",\"k\":3,\"stride\":2,\"pad\":1},"
    "{\"name\":\"id\",\"op\":\"act\",\"fn\":\"identity\"},"
    "{\"name\":\"c4\",\"op\":\"conv\",\"out\":6,\"k\":3,\"stride\":2,\"pad\":0},"
    "{\"name\":\"a4\",\"op\":\"act\",\"fn\":\"silu\"},"
    "{\"name\":\"c5\",\"op\":\"conv\",\"out\":6,\"k\":1,\"bias\":true},"
    "{\"name\":\"a6\",\"op\":\"act\",\"fn\":\"hardtanh\"},"
    "{\"name\":\"sum\",\"op\":\"add\",\"in\":[\"a4\",\"a6\"]},"
    "{\"name\":\"prod\",\"op\":\"mul\",\"in\":[\"sum\",\"a4\"]},"
    "{\"name\":\"flat\",\"op\":\"flatten\"},"
    "{\"name\":\"fc1\",\"op\":\"linear\",\"out\":16},"
    "{\"name\":\"b2\",\"op\":\"bn\"},{\"name\":\"a5\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"drop\",\"op\":\"dropout\",\"p\":0.2},"
    "{\"name\":\"fc\",\"op\":\"linear\",\"out\":10}]}";

void frost_test_export_fill(float *x, long n, float lo, float hi, uint64_t seed)
{
    uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
    for (long i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = lo + (hi - lo) * (float)((s >> 40) * (1.0 / 16777216.0));
    }
}

/* Random BN parameters and statistics and biases on top of the usual init. */
static void randomize(frost_model *m, uint64_t seed)
{
    frost_model_init_weights(m, seed);
    for (int i = 0; i < m->n_nodes; i++) {
        const frost_node *n = &m->nodes[i];
        uint64_t s = seed * 1000 + (uint64_t)i * 8;
        if (n->op == FROST_OP_BN) {
            frost_test_export_fill(m->params[n->gamma].data, n->c, 0.5f, 1.5f, s);
            frost_test_export_fill(m->params[n->beta].data, n->c, -0.3f, 0.3f, s + 1);
            frost_test_export_fill(m->buffers[n->running_mean].data, n->c, -0.3f, 0.3f, s + 2);
            frost_test_export_fill(m->buffers[n->running_var].data, n->c, 0.5f, 2.0f, s + 3);
        }
        if ((n->op == FROST_OP_CONV || n->op == FROST_OP_LINEAR) && n->bias)
            frost_test_export_fill(m->params[n->bias_p].data, (long)m->params[n->bias_p].numel,
                                   -0.3f, 0.3f, s + 4);
    }
}

frost_status frost_test_export_model(const char *name, uint64_t seed, frost_model **out)
{
    *out = NULL;
    frost_status s;
    frost_preprocess pre = {.set = true, .mean = {0.2f, 0.3f, 0.4f}, .std = {0.5f, 0.6f, 0.7f}};
    if (strcmp(name, "se") == 0 || strcmp(name, "mixed") == 0) {
        s = frost_model_from_json(name[0] == 's' ? se_arch : mixed_arch, name, out);
        pre = (frost_preprocess){.set = true, .mean = {0.125f}, .std = {0.75f}};
    } else {
        frost_builtin_opts o = frost_builtin_defaults();
        o.width = 0.25f, o.input = 32, o.in_channels = 3, o.classes = 10;
        s = frost_model_builtin(name, &o, out);
        pre.bgr = strcmp(name, "resnet") == 0; /* one model carries BGR */
    }
    if (s == FROST_OK) {
        randomize(*out, seed);
        s = frost_model_set_preprocess(*out, &pre);
    }
    if (s != FROST_OK) {
        frost_model_free(*out);
        *out = NULL;
    }
    return s;
}
