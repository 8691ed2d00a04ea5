/*
 * Deep Compression weight sharing (src/quant/kmeans.c): the paper's Figure 3 worked example
 * (centroids, indices, cluster gradient sums, the fine-tuned centroids, compression rate),
 * pruning, Lloyd's fixed point and determinism, the sparse size count with fillers, and
 * whole-model compression.
 */
#include <stdlib.h>
#include <string.h>

#include "frost/compress.h"
#include "frost/train.h"
#include "harness.h"
#include "models/graph.h"

/* Deep Compression, Figure 3: a 4x4 weight matrix clustered to k = 4. */
static const float fig3_w[16] = {2.09f,  -0.98f, 1.48f, 0.09f,  0.05f, -0.14f, -1.08f, 2.12f,
                                 -0.91f, 1.92f,  0.0f,  -1.03f, 1.87f, 0.0f,   1.53f,  1.49f};
static const float fig3_g[16] = {-0.03f, -0.01f, 0.03f, 0.02f, -0.01f, 0.01f,  -0.02f, 0.12f,
                                 -0.01f, 0.02f,  0.04f, 0.01f, -0.07f, -0.02f, 0.01f,  -0.02f};
static const int fig3_idx[16] = {3, 0, 2, 1, 1, 1, 0, 3, 0, 3, 1, 0, 3, 1, 2, 2};

TEST(test_fig3_clustering)
{
    float init[4];
    frost_kmeans_linear_init(-1.08f, 2.12f, 4, init);
    const float want_init[4] = {-1.08f, -0.0133333f, 1.0533333f, 2.12f};
    for (int j = 0; j < 4; j++)
        CHECK_NEAR(init[j], want_init[j], 1e-6, 0);
    frost_kmeans_layer l;
    CHECK_EQ_INT(frost_kmeans_cluster(fig3_w, 16, 2, 0.0f, 0, &l), FROST_OK);
    CHECK_EQ_INT(l.k, 4);
    CHECK(l.converged);
    CHECK_EQ_INT(l.iterations, 1); /* one update, then the assignment is stable */
    CHECK_EQ_INT(l.clustered, 16); /* dense: the two zeros join the cluster at 0 */
    const float want[4] = {-1.0f, 0.0f, 1.5f, 2.0f};
    for (int j = 0; j < 4; j++)
        CHECK_NEAR(l.codebook[j], want[j], 1e-6, 0);
    for (int i = 0; i < 16; i++)
        CHECK_EQ_INT(l.idx[i], fig3_idx[i]);

    double g[4];
    frost_kmeans_centroid_grad(&l, fig3_g, g);
    const double want_g[4] = {-0.03, 0.04, 0.02, 0.04};
    for (int j = 0; j < 4; j++)
        CHECK_NEAR(g[j], want_g[j], 1e-7, 0);
    float w[16];
    frost_kmeans_finetune_step(&l, fig3_g, 1.0f, w);
    const float want_ft[4] = {-0.97f, -0.04f, 1.48f, 1.96f};
    for (int j = 0; j < 4; j++)
        CHECK_NEAR(l.codebook[j], want_ft[j], 1e-6, 0);
    for (int i = 0; i < 16; i++)
        CHECK_FLOAT_EQ(w[i], l.codebook[fig3_idx[i]]);

    /* r = n*b / (n*log2(k) + k*b) = 16*32 / (16*2 + 4*32) = 3.2 */
    frost_kmeans_size z;
    CHECK_EQ_INT(frost_kmeans_layer_size(&l, 8, &z), FROST_OK);
    CHECK_EQ_INT(z.index_bits_fixed, 32);
    CHECK_EQ_INT(z.codebook_bits, 128);
    CHECK_EQ_INT(z.total_bits_fixed, 160);
    CHECK_NEAR(32.0 * 16 / (double)z.total_bits_fixed, 3.2, 1e-12, 0);
    /* index counts 4, 5, 3, 4: Huffman gives every index 2 bits, so the same 160 */
    CHECK_EQ_INT(z.index_bits_huffman, 32);
    CHECK_EQ_INT(z.total_bits, 160);
    CHECK_NEAR(z.ratio, 3.2, 1e-12, 0);
    CHECK_NEAR(z.bits_per_weight, 10.0, 1e-12, 0);
    frost_kmeans_layer_free(&l);
}

TEST(test_pruning_keeps_zeros)
{
    const float w[8] = {0.5f, -0.1f, 0.3f, -0.05f, 0.2f, 0.9f, -0.7f, 0.01f};
    frost_kmeans_layer l;
    CHECK_EQ_INT(frost_kmeans_cluster(w, 8, 1, 0.5f, 0, &l), FROST_OK);
    CHECK(l.sparse);
    CHECK_EQ_INT(l.clustered, 4);
    const bool pruned[8] = {false, true, false, true, true, false, false, true};
    float d[8];
    frost_kmeans_decode(&l, d);
    for (int i = 0; i < 8; i++) {
        CHECK_EQ_INT(l.idx[i] == FROST_KMEANS_PRUNED, pruned[i]);
        if (pruned[i])
            CHECK_FLOAT_EQ(d[i], 0.0f);
    }
    /* k = 2 over {0.5, 0.3, 0.9, -0.7}: init [-0.7, 0.9] -> {-0.7} and {0.5, 0.3, 0.9} */
    CHECK_NEAR(l.codebook[0], -0.7, 1e-7, 0);
    CHECK_NEAR(l.codebook[1], (0.5 + 0.3 + 0.9) / 3, 1e-7, 0);
    /* fine-tuning leaves pruned weights at exactly 0 and ignores their gradients */
    const float g[8] = {1, 100, 1, 100, 100, 1, 1, 100};
    frost_kmeans_finetune_step(&l, g, 0.01f, d);
    for (int i = 0; i < 8; i++)
        if (pruned[i])
            CHECK_FLOAT_EQ(d[i], 0.0f);
    CHECK_NEAR(l.codebook[1], (0.5 + 0.3 + 0.9) / 3 - 0.03, 1e-6, 0);
    frost_kmeans_layer_free(&l);

    /* a weight that is already 0 counts as pruned in a sparse layer, not in a dense one */
    const float z[4] = {0.0f, 1.0f, 2.0f, 3.0f};
    CHECK_EQ_INT(frost_kmeans_cluster(z, 4, 1, 0.1f, 0, &l), FROST_OK);
    CHECK_EQ_INT(l.clustered, 3);
    CHECK_EQ_INT(l.idx[0], FROST_KMEANS_PRUNED);
    frost_kmeans_layer_free(&l);
    CHECK_EQ_INT(frost_kmeans_cluster(z, 4, 1, 0.0f, 0, &l), FROST_OK);
    CHECK_EQ_INT(l.clustered, 4);
    frost_kmeans_layer_free(&l);
}

/* Lloyd's fixed point: every weight is at its nearest centroid and every centroid with
 * weights is their mean; two runs give the same bits. */
TEST(test_lloyd_converges_deterministically)
{
    enum { N = 20000 };
    float *w = malloc(N * sizeof *w);
    frost_test_fill_uniform(w, N, -1.0f, 1.0f, 7);
    for (int i = 0; i < N; i++)
        w[i] = w[i] * w[i] * w[i]; /* peaked at 0, like trained weights */
    frost_kmeans_layer a, b;
    CHECK_EQ_INT(frost_kmeans_cluster(w, N, 4, 0.0f, 0, &a), FROST_OK);
    CHECK_EQ_INT(frost_kmeans_cluster(w, N, 4, 0.0f, 0, &b), FROST_OK);
    CHECK(a.converged);
    CHECK(a.iterations > 1);
    CHECK(memcmp(a.codebook, b.codebook, 16 * sizeof(float)) == 0);
    CHECK(memcmp(a.idx, b.idx, N * sizeof(int16_t)) == 0);
    for (int j = 1; j < 16; j++)
        CHECK(a.codebook[j - 1] <= a.codebook[j]);
    double sum[16] = {0};
    int count[16] = {0}, far = 0;
    for (int i = 0; i < N; i++) {
        int j = a.idx[i];
        sum[j] += w[i];
        count[j]++;
        double d = fabs((double)w[i] - a.codebook[j]);
        for (int q = 0; q < 16; q++)
            far += fabs((double)w[i] - a.codebook[q]) < d;
    }
    CHECK_EQ_INT(far, 0);
    for (int j = 0; j < 16; j++)
        if (count[j])
            CHECK_NEAR(a.codebook[j], sum[j] / count[j], 0, 1e-6);
    /* capped at 1 iteration: not converged, the indices still match the centroids */
    frost_kmeans_layer c;
    CHECK_EQ_INT(frost_kmeans_cluster(w, N, 4, 0.0f, 1, &c), FROST_OK);
    CHECK(!c.converged);
    CHECK_EQ_INT(c.iterations, 1);
    frost_kmeans_layer_free(&a);
    frost_kmeans_layer_free(&b);
    frost_kmeans_layer_free(&c);
    free(w);
}

TEST(test_ties_and_constant_weights)
{
    /* 0.5 is equally near 0 and 1: the lower index */
    const float w[3] = {0.0f, 0.5f, 1.0f};
    frost_kmeans_layer l;
    const float init[2] = {1.0f, 0.0f}; /* sorted before use */
    CHECK_EQ_INT(frost_kmeans_cluster_from(w, 3, 1, 0.0f, 1, init, &l), FROST_OK);
    CHECK_EQ_INT(l.idx[1], 0);
    frost_kmeans_layer_free(&l);
    /* all equal: every centroid starts equal, every weight goes to index 0 */
    const float c[5] = {0.25f, 0.25f, 0.25f, 0.25f, 0.25f};
    CHECK_EQ_INT(frost_kmeans_cluster(c, 5, 3, 0.0f, 0, &l), FROST_OK);
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(l.idx[i], 0);
    CHECK_FLOAT_EQ(l.codebook[0], 0.25f);
    frost_kmeans_layer_free(&l);
    /* bad arguments */
    CHECK_EQ_INT(frost_kmeans_cluster(c, 5, 0, 0.0f, 0, &l), FROST_ERR_ARG);
    CHECK_EQ_INT(frost_kmeans_cluster(c, 5, 9, 0.0f, 0, &l), FROST_ERR_ARG);
    CHECK_EQ_INT(frost_kmeans_cluster(c, 5, 2, 1.0f, 0, &l), FROST_ERR_ARG);
    const float bad[2] = {1.0f, NAN};
    CHECK_EQ_INT(frost_kmeans_cluster(bad, 2, 2, 0.0f, 0, &l), FROST_ERR_NUMERIC);
}

/* Non-zeros at 0, 300 and 599 of 600 with 8-bit gaps: gaps 0, then 299 zeros = a filler
 * (255 zeros + itself) and gap 43, then 298 zeros = a filler and gap 42. */
TEST(test_sparse_size_with_fillers)
{
    float w[600] = {0};
    w[0] = 1.0f;
    w[300] = 2.0f;
    w[599] = 3.0f;
    frost_kmeans_layer l;
    CHECK_EQ_INT(frost_kmeans_cluster(w, 600, 2, 1e-6f, 0, &l), FROST_OK);
    CHECK_EQ_INT(l.clustered, 3);
    frost_kmeans_size z;
    CHECK_EQ_INT(frost_kmeans_layer_size(&l, 8, &z), FROST_OK);
    CHECK_EQ_INT(z.nonzero, 3);
    CHECK_EQ_INT(z.fillers, 2);
    CHECK_EQ_INT(z.entries, 5);
    CHECK_EQ_INT(z.gap_bits_fixed, 40);
    CHECK_EQ_INT(z.index_bits_fixed, 5 * 3); /* 4 centroids + the filler symbol: 3 bits */
    /* gaps {0, 255, 43, 255, 42}: counts 2,1,1,1 -> lengths 2,2,2,... total 2*2+3*... */
    const uint64_t gap_freq[4] = {2, 1, 1, 1};
    uint8_t len[4];
    CHECK_EQ_INT(frost_huffman_lengths(4, gap_freq, len), FROST_OK);
    CHECK_EQ_INT(z.gap_bits_huffman, frost_huffman_total_bits(4, gap_freq, len));
    CHECK_EQ_INT(z.gap_bits_huffman, 10);
    /* indices: three clusters once each, the filler twice: 2+2+2+... = 10 bits */
    CHECK_EQ_INT(z.index_bits_huffman, 10);
    CHECK_EQ_INT(z.codebook_bits, 128);
    CHECK_EQ_INT(z.total_bits, 148);
    /* 5-bit gaps (linear): 299 zeros = 9 fillers of 32 positions (288) + gap 11 */
    CHECK_EQ_INT(frost_kmeans_layer_size(&l, 5, &z), FROST_OK);
    CHECK_EQ_INT(z.fillers, 9 + 9);
    frost_kmeans_layer_free(&l);
}

/* The reported Huffman index bits are what a real encoder writes: the indices of a clustered
 * layer encoded with the lengths of their counts take exactly that many bits and decode back. */
TEST(test_reported_bits_match_encoder)
{
    enum { N = 5000 };
    float *w = malloc(N * sizeof *w);
    frost_test_fill_uniform(w, N, -1.0f, 1.0f, 21);
    for (int i = 0; i < N; i++)
        w[i] = w[i] * w[i] * w[i];
    frost_kmeans_layer l;
    CHECK_EQ_INT(frost_kmeans_cluster(w, N, 5, 0.0f, 0, &l), FROST_OK);
    frost_kmeans_size z;
    CHECK_EQ_INT(frost_kmeans_layer_size(&l, 8, &z), FROST_OK);
    uint64_t freq[32] = {0};
    uint16_t *msg = malloc(N * sizeof *msg), *back = malloc(N * sizeof *back);
    for (int i = 0; i < N; i++) {
        msg[i] = (uint16_t)l.idx[i];
        freq[msg[i]]++;
    }
    uint8_t len[32];
    CHECK_EQ_INT(frost_huffman_lengths(32, freq, len), FROST_OK);
    uint8_t *buf = calloc(N * 4, 1);
    uint64_t bits = 0;
    CHECK_EQ_INT(frost_huffman_encode(32, len, msg, N, buf, N * 4, &bits), FROST_OK);
    CHECK_EQ_INT(bits, z.index_bits_huffman);
    CHECK(bits < (uint64_t)N * 5); /* peaked weights: fewer bits than fixed 5-bit indices */
    CHECK_EQ_INT(frost_huffman_decode(32, len, buf, bits, N, back), FROST_OK);
    CHECK(memcmp(msg, back, N * sizeof *msg) == 0);
    free(buf);
    free(msg);
    free(back);
    free(w);
    frost_kmeans_layer_free(&l);
}

/* A small conv + linear model: every weight becomes a codebook value, the others stay. */
TEST(test_compress_model)
{
    frost_model *m = frost_g_new("tiny", 8, 8, 1);
    int x = frost_g_conv(m, "c1", 0, 4, 3, 1, 1, 1, true);
    x = frost_g_gap(m, "gap", x);
    x = frost_g_linear(m, "fc", x, 3, true);
    CHECK(frost_g_finish(m, 3) == 0);
    for (int i = 0; i < m->n_params; i++)
        frost_test_fill_uniform(m->params[i].data, (long)m->params[i].numel, -1, 1, 3 + i);
    float bias0 = m->params[1].data[0];
    frost_kmeans_model *km = NULL;
    frost_kmeans_options o = {.conv_bits = 2, .fc_bits = 1, .prune = 0.25f};
    CHECK_EQ_INT(frost_kmeans_compress_model(m, &o, &km), FROST_OK);
    CHECK_EQ_INT(km->n, 2);
    CHECK_EQ_INT(km->layers[0].layer.k, 4);
    CHECK_EQ_INT(km->layers[1].layer.k, 2);
    CHECK(km->layers[1].linear);
    CHECK_EQ_INT(km->layers[1].size.gap_bits, 5);
    CHECK_EQ_INT(km->layers[0].size.gap_bits, 8);
    for (int e = 0; e < km->n; e++) {
        const frost_param *p = &m->params[km->layers[e].param];
        const frost_kmeans_layer *l = &km->layers[e].layer;
        int zeros = 0;
        for (int64_t i = 0; i < p->numel; i++) {
            zeros += p->data[i] == 0.0f;
            if (l->idx[i] != FROST_KMEANS_PRUNED)
                CHECK_FLOAT_EQ(p->data[i], l->codebook[l->idx[i]]);
        }
        CHECK_EQ_INT(zeros, (int)(p->numel / 4));
    }
    CHECK_FLOAT_EQ(m->params[1].data[0], bias0);
    CHECK_EQ_INT(km->total.weights, 36 + 12);
    CHECK_EQ_INT(km->total.total_bits,
                 km->layers[0].size.total_bits + km->layers[1].size.total_bits);
    frost_kmeans_model_free(km);
    o.conv_bits = 9;
    CHECK_EQ_INT(frost_kmeans_compress_model(m, &o, &km), FROST_ERR_ARG);
    CHECK(km == NULL);
    frost_model_free(m);
}

typedef struct {
    frost_kmeans_model *km;
    int calls;
} hook_state;

static void finetune_hook(frost_model *m, float lr, void *user)
{
    hook_state *st = user;
    st->calls++;
    frost_kmeans_model_finetune_step(st->km, m, lr);
}

/* Fine-tuning through the trainer's after_step hook: called once per batch, the centroids
 * move, and after training every weight is still its centroid (pruned ones 0). */
TEST(test_finetune_through_trainer)
{
    frost_model *m = frost_g_new("tiny", 8, 8, 1);
    int x = frost_g_conv(m, "c1", 0, 4, 3, 1, 1, 1, true);
    x = frost_g_gap(m, "gap", x);
    x = frost_g_linear(m, "fc", x, 3, true);
    CHECK(frost_g_finish(m, 3) == 0);
    for (int i = 0; i < m->n_params; i++)
        frost_test_fill_uniform(m->params[i].data, (long)m->params[i].numel, -1, 1, 3 + i);
    frost_dataset d = {.n = 64, .h = 8, .w = 8, .c = 1, .classes = 3};
    d.images = malloc(64 * 64);
    d.labels = malloc(64);
    for (int i = 0; i < 64 * 64; i++)
        d.images[i] = (uint8_t)(i * 37 % 251);
    for (int i = 0; i < 64; i++)
        d.labels[i] = (uint8_t)(i % 3);
    frost_kmeans_model *km = NULL;
    frost_kmeans_options o = {.conv_bits = 2, .fc_bits = 2, .prune = 0.25f};
    CHECK_EQ_INT(frost_kmeans_compress_model(m, &o, &km), FROST_OK);
    float before[4];
    memcpy(before, km->layers[0].layer.codebook, sizeof before);

    frost_train_config cfg = frost_train_defaults();
    cfg.epochs = 1;
    cfg.batch = 16;
    cfg.quiet = true;
    cfg.sched = (frost_schedule){.kind = FROST_SCHED_CONSTANT, .base_lr = 0.05f};
    hook_state st = {km, 0};
    cfg.after_step = finetune_hook;
    cfg.after_step_user = &st;
    frost_train_result r;
    CHECK_EQ_INT(frost_train(m, &d, NULL, NULL, &cfg, NULL, NULL, &r), FROST_OK);
    CHECK_EQ_INT(st.calls, 4);
    CHECK(memcmp(before, km->layers[0].layer.codebook, sizeof before) != 0);
    for (int e = 0; e < km->n; e++) {
        const frost_param *p = &m->params[km->layers[e].param];
        const frost_kmeans_layer *l = &km->layers[e].layer;
        for (int64_t i = 0; i < p->numel; i++)
            CHECK_FLOAT_EQ(p->data[i],
                           l->idx[i] == FROST_KMEANS_PRUNED ? 0.0f : l->codebook[l->idx[i]]);
    }
    frost_kmeans_model_free(km);
    frost_dataset_free(&d);
    frost_model_free(m);
}

TEST(test_decode_checked)
{
    const uint8_t idx[4] = {0, 1, 2, 1};
    const float cb[3] = {-1.0f, 0.0f, 2.0f};
    float w[4];
    CHECK_EQ_INT(frost_kmeans_decode_checked("t", 4, idx, NULL, cb, 3, w), FROST_OK);
    CHECK_FLOAT_EQ(w[2], 2.0f);
    CHECK_EQ_INT(frost_kmeans_decode_checked("t", 4, idx, NULL, cb, 2, w), FROST_ERR_FORMAT);
    const float nan_cb[3] = {0.0f, NAN, 1.0f};
    CHECK_EQ_INT(frost_kmeans_decode_checked("t", 4, idx, NULL, nan_cb, 3, w), FROST_ERR_FORMAT);
    const int32_t idx32[2] = {256, -1};
    float big[257] = {0};
    CHECK_EQ_INT(frost_kmeans_decode_checked("t", 1, NULL, idx32, big, 257, w), FROST_OK);
    CHECK_EQ_INT(frost_kmeans_decode_checked("t", 2, NULL, idx32, big, 257, w), FROST_ERR_FORMAT);
}

FROST_TEST_MAIN(RUN(test_fig3_clustering); RUN(test_pruning_keeps_zeros);
                RUN(test_lloyd_converges_deterministically); RUN(test_ties_and_constant_weights);
                RUN(test_sparse_size_with_fillers); RUN(test_reported_bits_match_encoder);
                RUN(test_compress_model); RUN(test_finetune_through_trainer);
                RUN(test_decode_checked))
