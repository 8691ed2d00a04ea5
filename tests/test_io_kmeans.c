/*
 * k-means compressed checkpoints (src/io/checkpoint.c, docs/kmeans.md): the stored form
 * (uint8 indices, codebooks with the pruned weights' 0, int32 indices past 256 values,
 * the version metadata), the round trip to exactly the decoded weights, the size report
 * rebuilt from the file, and corrupt files refused with an error naming the tensor.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frost/compress.h"
#include "frost/io.h"
#include "harness.h"
#include "models/graph.h"

static char dir[] = "/tmp/frost_kmeans_XXXXXX";

static const char *path_of(const char *name)
{
    static char buf[4][256];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

static frost_model *tiny_model(void)
{
    frost_model *m = frost_g_new("tiny", 8, 8, 1);
    int x = frost_g_conv_bn_act(m, "c1", 0, 8, 3, 1, 1, FROST_ACT_RELU);
    x = frost_g_conv(m, "c2", x, 24, 3, 1, 1, 1, false);
    x = frost_g_gap(m, "gap", x);
    x = frost_g_linear(m, "fc", x, 10, true);
    frost_g_finish(m, 10);
    for (int i = 0; i < m->n_params; i++)
        frost_test_fill_uniform(m->params[i].data, (long)m->params[i].numel, -1, 1, 11 + i);
    for (int i = 0; i < m->n_buffers; i++)
        frost_test_fill_uniform(m->buffers[i].data, (long)m->buffers[i].numel, 0.5f, 1, 51 + i);
    return m;
}

/* Every parameter and buffer of a and b bit for bit. */
static void check_same_model(const frost_model *a, const frost_model *b)
{
    CHECK_EQ_INT(a->n_params, b->n_params);
    CHECK_EQ_INT(a->n_buffers, b->n_buffers);
    for (int i = 0; i < a->n_params && i < b->n_params; i++)
        CHECK(memcmp(a->params[i].data, b->params[i].data,
                     (size_t)a->params[i].numel * sizeof(float)) == 0);
    for (int i = 0; i < a->n_buffers && i < b->n_buffers; i++)
        CHECK(memcmp(a->buffers[i].data, b->buffers[i].data,
                     (size_t)a->buffers[i].numel * sizeof(float)) == 0);
}

static void round_trip(int conv_bits, int fc_bits, float prune, const char *name)
{
    frost_model *m = tiny_model();
    frost_kmeans_model *km = NULL;
    frost_kmeans_options o = {.conv_bits = conv_bits, .fc_bits = fc_bits, .prune = prune};
    CHECK_EQ_INT(frost_kmeans_compress_model(m, &o, &km), FROST_OK);
    CHECK_EQ_INT(km->n, 3);
    CHECK_EQ_INT(frost_checkpoint_save_kmeans(path_of(name), m, km), FROST_OK);

    frost_model *back = NULL;
    CHECK_EQ_INT(frost_checkpoint_load_model(path_of(name), &back), FROST_OK);
    if (back)
        check_same_model(m, back);

    /* the stored form */
    frost_st_file *f = NULL;
    CHECK_EQ_INT(frost_st_read(path_of(name), &f), FROST_OK);
    CHECK(f && frost_st_find(f, "c2.weight") == NULL);
    const frost_st_tensor *idx = f ? frost_st_find(f, "c2.weight.kmeans_idx") : NULL;
    const frost_st_tensor *cb = f ? frost_st_find(f, "c2.weight.kmeans_codebook") : NULL;
    int codes = (1 << conv_bits) + (prune > 0);
    CHECK(idx && cb);
    if (idx && cb) {
        CHECK_EQ_INT(idx->dtype, codes <= 256 ? FROST_DT_U8 : FROST_DT_I32);
        CHECK_EQ_INT(cb->shape[0], codes);
        CHECK_EQ_INT(idx->ndim, m->params[km->layers[1].param].ndim);
    }
    CHECK(f && frost_st_find(f, "c1.bn.running_mean") != NULL); /* buffers stay float */
    CHECK(f && strcmp(frost_st_meta_get(f, "frost.kmeans"), "1") == 0);
    frost_st_close(f);

    /* the size report from the file equals the one made while compressing */
    frost_kmeans_model *rep = NULL;
    CHECK_EQ_INT(frost_checkpoint_kmeans_report(path_of(name), back, &rep), FROST_OK);
    if (rep) {
        CHECK_EQ_INT(rep->n, km->n);
        CHECK_EQ_INT(rep->total.total_bits, km->total.total_bits);
        CHECK_EQ_INT(rep->total.nonzero, km->total.nonzero);
        for (int i = 0; i < rep->n && i < km->n; i++) {
            CHECK(strcmp(rep->layers[i].name, km->layers[i].name) == 0);
            CHECK_EQ_INT(rep->layers[i].layer.bits, km->layers[i].layer.bits);
            CHECK_EQ_INT(rep->layers[i].layer.sparse, km->layers[i].layer.sparse);
            CHECK(memcmp(rep->layers[i].layer.idx, km->layers[i].layer.idx,
                         (size_t)km->layers[i].layer.n * sizeof(int16_t)) == 0);
        }
    }
    frost_kmeans_model_free(rep);
    frost_kmeans_model_free(km);
    frost_model_free(back);
    frost_model_free(m);
}

TEST(test_round_trip_dense) { round_trip(4, 2, 0.0f, "dense.safetensors"); }
TEST(test_round_trip_pruned) { round_trip(3, 5, 0.4f, "pruned.safetensors"); }
TEST(test_round_trip_8bit_pruned_int32) { round_trip(8, 8, 0.2f, "p8.safetensors"); }

/* An uncompressed checkpoint has no k-means layers, and loads as before. */
TEST(test_plain_checkpoint_has_no_kmeans)
{
    frost_model *m = tiny_model();
    CHECK_EQ_INT(frost_checkpoint_save_weights(path_of("plain.safetensors"), m), FROST_OK);
    frost_kmeans_model *rep = NULL;
    CHECK_EQ_INT(frost_checkpoint_kmeans_report(path_of("plain.safetensors"), m, &rep), FROST_OK);
    CHECK(rep && rep->n == 0);
    frost_kmeans_model_free(rep);
    frost_model_free(m);
}

/* ---- corrupt files: a good compressed file, one thing changed, rewritten ---- */

typedef enum {
    BAD_INDEX,
    BAD_INDEX_DTYPE,
    BAD_INDEX_SHAPE,
    NO_CODEBOOK,
    NAN_CODEBOOK,
    CODEBOOK_2D,
    BAD_VERSION,
    NO_VERSION,
    U8_WITH_BIG_CODEBOOK,
    CODE_COUNT,
    PRUNED_NOT_ZERO,
    NO_INDEX,
    STRAY_CODEBOOK,
    CODEBOOK_I32,
    INDEX_FLAT,
    I32_INDEX_SMALL_CODEBOOK,
    I32_INDEX_NEGATIVE,
    I32_INDEX_PAST_END,
    FORMAT_EDITED,
    EMPTY_VERSION,
} corruption;

/* The int32 cases need a file with int32 indices: 8 bits and pruning, 257 codebook values. */
static bool int32_file(corruption c) { return c == I32_INDEX_NEGATIVE || c == I32_INDEX_PAST_END; }

static frost_status load_corrupted(corruption c, const char *name)
{
    frost_model *m = tiny_model();
    frost_kmeans_model *km = NULL;
    frost_kmeans_options o = {.conv_bits = 2, .fc_bits = 2, .prune = 0.25f};
    if (int32_file(c))
        o.conv_bits = o.fc_bits = 8, o.prune = 0.2f;
    frost_kmeans_compress_model(m, &o, &km);
    frost_checkpoint_save_kmeans(path_of("good.safetensors"), m, km);
    frost_kmeans_model_free(km);
    frost_model_free(m);

    frost_st_file *f = NULL;
    frost_st_read(path_of("good.safetensors"), &f);
    int n = frost_st_count(f);
    frost_st_tensor *t = calloc((size_t)n + 1, sizeof *t);
    uint8_t idx[24 * 9 * 8];
    int32_t idx32[24 * 9 * 8];
    float cb[300] = {0}, f32idx[24 * 9 * 8] = {0};
    int k = 0;
    for (int i = 0; i < n; i++) {
        t[k] = *frost_st_get(f, i);
        bool is_idx = strcmp(t[k].name, "c2.weight.kmeans_idx") == 0;
        bool is_cb = strcmp(t[k].name, "c2.weight.kmeans_codebook") == 0;
        if (is_idx && c == BAD_INDEX) {
            memcpy(idx, t[k].data, sizeof idx);
            idx[100] = 5; /* 4 centroids + the pruned 0: 0..4 */
            t[k].data = idx;
        } else if (is_idx && c == BAD_INDEX_DTYPE) {
            t[k].dtype = FROST_DT_F32;
            t[k].data = f32idx;
        } else if (is_idx && c == BAD_INDEX_SHAPE) {
            t[k].shape[0] = 12;
            t[k].shape[3] *= 2;
        } else if (is_cb && c == NO_CODEBOOK) {
            continue;
        } else if (is_cb && c == NAN_CODEBOOK) {
            memcpy(cb, t[k].data, 5 * sizeof(float));
            cb[2] = NAN;
            t[k].data = cb;
        } else if (is_cb && c == CODEBOOK_2D) {
            t[k].ndim = 2;
            t[k].shape[1] = 1;
        } else if (is_cb && c == U8_WITH_BIG_CODEBOOK) {
            t[k].shape[0] = 257; /* 8 bits pruned: needs int32 indices */
            t[k].data = cb;
        } else if (is_cb && c == CODE_COUNT) {
            t[k].shape[0] = 7; /* neither 2^bits nor 2^bits + 1 */
            t[k].data = cb;
        } else if (is_cb && c == PRUNED_NOT_ZERO) {
            memcpy(cb, t[k].data, 5 * sizeof(float));
            cb[4] = 0.5f; /* what the pruned weights would decode to */
            t[k].data = cb;
        } else if (is_idx && c == NO_INDEX) {
            continue;
        } else if (is_cb && c == CODEBOOK_I32) {
            t[k].dtype = FROST_DT_I32;
        } else if (is_idx && c == INDEX_FLAT) {
            t[k].ndim = 1; /* the same 1728 indices, not in the weight's shape */
            t[k].shape[0] = 24 * 9 * 8;
        } else if (is_idx && c == I32_INDEX_SMALL_CODEBOOK) {
            for (int j = 0; j < 24 * 9 * 8; j++)
                idx32[j] = ((const uint8_t *)t[k].data)[j];
            t[k].dtype = FROST_DT_I32;
            t[k].data = idx32;
        } else if (is_idx && (c == I32_INDEX_NEGATIVE || c == I32_INDEX_PAST_END)) {
            CHECK_EQ_INT(t[k].dtype, FROST_DT_I32);
            memcpy(idx32, t[k].data, sizeof idx32);
            idx32[77] = c == I32_INDEX_NEGATIVE ? -3 : 257; /* 256 centroids + the pruned 0 */
            t[k].data = idx32;
        }
        k++;
    }
    if (c == STRAY_CODEBOOK) /* a codebook without indices, for a weight stored as float */
        t[k++] = (frost_st_tensor){.name = "zz.weight.kmeans_codebook",
                                   .dtype = FROST_DT_F32,
                                   .ndim = 1,
                                   .shape = {5},
                                   .data = cb};
    const char *keys[] = {"format", "frost.version", "frost.arch", "frost.kmeans"};
    frost_st_meta meta[4];
    int nm = 0;
    for (int i = 0; i < 4; i++) {
        if (i == 3 && c == NO_VERSION)
            continue;
        meta[nm++] = (frost_st_meta){keys[i], frost_st_meta_get(f, keys[i])};
        if (i == 3 && c == BAD_VERSION)
            meta[nm - 1].value = "2";
        if (i == 3 && c == EMPTY_VERSION)
            meta[nm - 1].value = "";
        if (i == 0 && c == FORMAT_EDITED)
            meta[nm - 1].value = "frost-checkpoinx";
    }
    frost_status s = frost_st_write(path_of(name), t, k, meta, nm);
    CHECK_EQ_INT(s, FROST_OK);
    free(t);
    frost_st_close(f);
    frost_model *back = NULL;
    s = frost_checkpoint_load_model(path_of(name), &back);
    CHECK(back == NULL);
    frost_model_free(back);
    return s;
}

static void check_error_says(corruption c, const char *needle)
{
    if (!strstr(frost_last_error(), needle) || !strstr(frost_last_error(), "bad.safetensors")) {
        fprintf(stderr, "  corruption %d: error '%s' does not say '%s'\n", (int)c,
                frost_last_error(), needle);
        frost_test_failed_checks++;
    }
}

/* The load refuses the file with `want` and `needle` in the message. Corruptions of the
 * k-means tensors are refused by the size report (frost info) as well, with the same
 * message. */
static void expect_refused(corruption c, frost_status want, const char *needle)
{
    frost_status s = load_corrupted(c, "bad.safetensors");
    CHECK_EQ_INT(s, want);
    check_error_says(c, needle);
    if (c == STRAY_CODEBOOK || c == FORMAT_EDITED)
        return; /* the report reads only the model's own weights */
    frost_model *m = tiny_model();
    frost_kmeans_model *rep = NULL;
    CHECK_EQ_INT(frost_checkpoint_kmeans_report(path_of("bad.safetensors"), m, &rep), want);
    CHECK(rep == NULL);
    check_error_says(c, needle);
    frost_kmeans_model_free(rep);
    frost_model_free(m);
}

TEST(test_corrupt_files_refused)
{
    expect_refused(BAD_INDEX, FROST_ERR_FORMAT, "outside the codebook");
    expect_refused(BAD_INDEX_DTYPE, FROST_ERR_FORMAT, "c2.weight");
    expect_refused(BAD_INDEX_SHAPE, FROST_ERR_FORMAT, "c2.weight");
    expect_refused(NO_CODEBOOK, FROST_ERR_FORMAT, "no codebook");
    expect_refused(NAN_CODEBOOK, FROST_ERR_FORMAT, "not finite");
    expect_refused(CODEBOOK_2D, FROST_ERR_FORMAT, "1-D");
    expect_refused(BAD_VERSION, FROST_ERR_UNSUPPORTED, "version '2'");
    expect_refused(NO_VERSION, FROST_ERR_FORMAT, "frost.kmeans");
    expect_refused(U8_WITH_BIG_CODEBOOK, FROST_ERR_FORMAT, "uint8");
    expect_refused(CODE_COUNT, FROST_ERR_FORMAT, "codebook of 7 values");
    expect_refused(PRUNED_NOT_ZERO, FROST_ERR_FORMAT, "pruned weights' 0");
    expect_refused(NO_INDEX, FROST_ERR_FORMAT, "no index tensor");
    expect_refused(STRAY_CODEBOOK, FROST_ERR_FORMAT,
                   "codebook 'zz.weight.kmeans_codebook' has no index tensor");
    expect_refused(CODEBOOK_I32, FROST_ERR_FORMAT, "codebook of 'c2.weight' is not a 1-D F32");
    expect_refused(INDEX_FLAT, FROST_ERR_FORMAT, "indices of 'c2.weight' are not uint8/int32");
    expect_refused(I32_INDEX_SMALL_CODEBOOK, FROST_ERR_FORMAT, "5 codebook values and int32");
    expect_refused(I32_INDEX_NEGATIVE, FROST_ERR_FORMAT, "index -3 of weight 77 is outside");
    expect_refused(I32_INDEX_PAST_END, FROST_ERR_FORMAT, "index 257 of weight 77 is outside");
    expect_refused(FORMAT_EDITED, FROST_ERR_FORMAT, "not a frost checkpoint");
    expect_refused(EMPTY_VERSION, FROST_ERR_UNSUPPORTED, "k-means storage version ''");
}

/* Every truncation of a compressed file (header, index and codebook bytes) is refused, by
 * the load and by the size report, with the reader's message for where it was cut. */
TEST(test_truncated_refused)
{
    frost_model *m = tiny_model();
    frost_kmeans_model *km = NULL;
    frost_kmeans_options o = {.conv_bits = 2, .fc_bits = 2};
    CHECK_EQ_INT(frost_kmeans_compress_model(m, &o, &km), FROST_OK);
    CHECK_EQ_INT(frost_checkpoint_save_kmeans(path_of("t.safetensors"), m, km), FROST_OK);
    char *data = NULL;
    size_t size = 0;
    CHECK_EQ_INT(frost_read_file(path_of("t.safetensors"), &data, &size), FROST_OK);
    uint64_t header = 0;
    if (data && size > 8)
        memcpy(&header, data, 8); /* little-endian length, as on x86 */
    CHECK(header > 0 && header + 8 < size);
    int refused = 0, tries = 0;
    for (size_t cut = 0; data && cut < size; cut += 1 + size / 64, tries++) {
        CHECK_EQ_INT(frost_write_file_atomic(path_of("cut.safetensors"), data, cut), FROST_OK);
        frost_model *back = NULL;
        frost_status s = frost_checkpoint_load_model(path_of("cut.safetensors"), &back);
        refused += s == FROST_ERR_FORMAT && back == NULL;
        const char *want = frost_test_st_truncation_message(data, cut);
        if (!strstr(frost_last_error(), want) || !strstr(frost_last_error(), "cut.safetensors")) {
            fprintf(stderr, "  cut at %zu: error '%s' does not say '%s'\n", cut, frost_last_error(),
                    want);
            frost_test_failed_checks++;
        }
        frost_kmeans_model *rep = NULL;
        CHECK_EQ_INT(frost_checkpoint_kmeans_report(path_of("cut.safetensors"), m, &rep),
                     FROST_ERR_FORMAT);
        CHECK(rep == NULL && strstr(frost_last_error(), want));
        frost_model_free(back);
    }
    CHECK_EQ_INT(refused, tries);
    CHECK(tries > 60);
    free(data);
    frost_kmeans_model_free(km);
    frost_model_free(m);
}

static void cleanup(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

FROST_TEST_MAIN(if (!mkdtemp(dir)) return 1; RUN(test_round_trip_dense);
                RUN(test_round_trip_pruned); RUN(test_round_trip_8bit_pruned_int32);
                RUN(test_plain_checkpoint_has_no_kmeans); RUN(test_corrupt_files_refused);
                RUN(test_truncated_refused); cleanup())
