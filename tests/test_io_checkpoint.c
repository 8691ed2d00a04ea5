/* What checkpoint loading refuses beyond the format (test_io_safetensors) and the
 * architecture (test_train_resume): weights that are not finite, and contents changed after
 * frost wrote them (the content hash), with the tensor named. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frost/frost.h"
#include "harness.h"
#include "models/graph.h"

static const char *const arch =
    "{\"name\":\"ck\",\"input\":{\"h\":6,\"w\":6,\"c\":1},\"classes\":3,\"layers\":["
    "{\"name\":\"c1\",\"op\":\"conv\",\"out\":4,\"k\":3},{\"name\":\"b1\",\"op\":\"bn\"},"
    "{\"name\":\"a1\",\"op\":\"act\",\"fn\":\"relu\"},{\"name\":\"g\",\"op\":\"gap\"},"
    "{\"name\":\"fc\",\"op\":\"linear\",\"out\":3}]}";

static frost_model *model(void)
{
    frost_model *m = NULL;
    CHECK(frost_model_from_json(arch, "ck", &m) == FROST_OK);
    if (m)
        frost_model_init_weights(m, 3);
    return m;
}

static frost_param *named(frost_model *m, const char *name, bool buffer)
{
    int n = buffer ? m->n_buffers : m->n_params;
    frost_param *p = buffer ? m->buffers : m->params;
    for (int i = 0; i < n; i++)
        if (strcmp(p[i].name, name) == 0)
            return &p[i];
    return NULL;
}

/* A model whose `name` holds `bad` at index 2, saved, is refused at load naming it. */
static void expect_refused(const char *name, bool buffer, float bad, const char *what)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/frost_ckpt_%d.safetensors", (int)getpid());
    frost_model *m = model(), *back = model();
    frost_param *p = m ? named(m, name, buffer) : NULL;
    CHECK(p != NULL && p->numel > 2);
    if (p && back) {
        p->data[2] = bad;
        CHECK_EQ_INT(frost_checkpoint_save_weights(path, m), FROST_OK);
        CHECK_EQ_INT(frost_checkpoint_load_weights(path, back), FROST_ERR_NUMERIC);
        char want[128];
        snprintf(want, sizeof want, "tensor '%s' holds %s at index 2", name, what);
        if (!strstr(frost_last_error(), want)) {
            fprintf(stderr, "  '%s' lacks '%s'\n", frost_last_error(), want);
            frost_test_failed_checks++;
        }
        frost_model *loaded = NULL;
        CHECK_EQ_INT(frost_checkpoint_load_model(path, &loaded), FROST_ERR_NUMERIC);
        CHECK(loaded == NULL);
    }
    unlink(path);
    frost_model_free(m);
    frost_model_free(back);
}

TEST(non_finite_values_are_refused_with_the_tensor_named)
{
    expect_refused("c1.weight", false, NAN, "NaN");
    expect_refused("fc.weight", false, INFINITY, "an infinity");
    expect_refused("b1.running_var", true, -INFINITY, "an infinity");
}

/* A weight changed on disk after saving (here: the last byte of the file, in the last
 * tensor's data) is caught by the content hash; the untouched file loads bit for bit. */
TEST(edited_checkpoint_is_refused_and_clean_one_loads_exactly)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/frost_ckpt_h%d.safetensors", (int)getpid());
    frost_model *m = model(), *back = model();
    CHECK_EQ_INT(frost_checkpoint_save_weights(path, m), FROST_OK);
    CHECK_EQ_INT(frost_checkpoint_load_weights(path, back), FROST_OK);
    for (int i = 0; m && back && i < m->n_params; i++)
        CHECK(memcmp(m->params[i].data, back->params[i].data,
                     sizeof(float) * (size_t)m->params[i].numel) == 0);
    size_t n = 0;
    char *b = frost_test_read_all(path, &n);
    CHECK(b && n > 8);
    if (b) {
        b[n - 1] ^= 0x40;
        frost_test_write_all(path, b, n);
        CHECK_EQ_INT(frost_checkpoint_load_weights(path, back), FROST_ERR_FORMAT);
        CHECK(strstr(frost_last_error(), "content hash mismatch") != NULL);
    }
    free(b);
    unlink(path);
    frost_model_free(m);
    frost_model_free(back);
}

FROST_TEST_MAIN(RUN(non_finite_values_are_refused_with_the_tensor_named);
                RUN(edited_checkpoint_is_refused_and_clean_one_loads_exactly))
