/* Architecture JSON: round trip, and every kind of bad architecture refused with
 * an error naming the layer and field; the per-op profile of running the tiny graph. */
#include <stdlib.h>
#include <string.h>

#include "frost/frost.h"
#include "harness.h"
#include "models/graph.h"

static const char *const tiny =
    "{\"format\":\"frost-arch\",\"version\":1,\"name\":\"tiny\",\"input\":{\"h\":8,\"w\":8,\"c\":1}"
    ","
    "\"classes\":3,\"layers\":["
    "{\"name\":\"c1\",\"op\":\"conv\",\"out\":4,\"k\":3,\"stride\":1},"
    "{\"name\":\"b1\",\"op\":\"bn\"},"
    "{\"name\":\"a1\",\"op\":\"act\",\"fn\":\"relu6\"},"
    "{\"name\":\"dw\",\"op\":\"conv\",\"out\":4,\"k\":3,\"groups\":4},"
    "{\"name\":\"add\",\"op\":\"add\",\"in\":[\"dw\",\"a1\"]},"
    "{\"name\":\"cat\",\"op\":\"concat\",\"in\":[\"add\",\"a1\"]},"
    "{\"name\":\"mp\",\"op\":\"maxpool\",\"k\":2},"
    "{\"name\":\"ap\",\"op\":\"avgpool\",\"k\":3,\"stride\":1,\"pad\":1},"
    "{\"name\":\"gap\",\"op\":\"gap\"},"
    "{\"name\":\"drop\",\"op\":\"dropout\",\"p\":0.2},"
    "{\"name\":\"fc\",\"op\":\"linear\",\"out\":3}]}";

TEST(parses_and_infers_shapes)
{
    frost_model *m = NULL;
    CHECK(frost_model_from_json(tiny, "tiny.json", &m) == FROST_OK);
    if (!m)
        return;
    CHECK_EQ_INT(m->n_nodes, 12);
    const frost_node *cat = &m->nodes[frost_g_find(m, "cat")];
    CHECK_EQ_INT(cat->c, 8);
    const frost_node *mp = &m->nodes[frost_g_find(m, "mp")];
    CHECK_EQ_INT(mp->h, 4);
    /* conv 8*8*4*9*1 + dw 8*8*4*9 + fc 8*3 */
    CHECK_EQ_INT(frost_model_macs(m), 8 * 8 * 4 * 9 + 8 * 8 * 4 * 9 + 8 * 3);
    /* conv 36 + bn 8 + dw 36 + fc 27 */
    CHECK_EQ_INT(frost_model_param_count(m), 36 + 8 + 36 + 27);
    frost_model_free(m);
}

static const frost_profile_entry *find_entry(const frost_profile_entry *e, int n, const char *op,
                                             const char *direction)
{
    for (int i = 0; i < n; i++)
        if (strcmp(e[i].op, op) == 0 && strcmp(e[i].direction, direction) == 0)
            return &e[i];
    return NULL;
}

/* FROST_PROFILE's timings are collected by the library and read back by the caller. */
TEST(profile_counts_every_node_run)
{
    frost_model *m = NULL;
    CHECK(frost_model_from_json(tiny, "tiny.json", &m) == FROST_OK);
    if (!m || frost_model_set_batch(m, 2) != FROST_OK)
        return;
    float x[2 * 8 * 8] = {0}, dlogits[2 * 3] = {0.5f, -0.5f, 0, 0, 0.5f, -0.5f};
    frost_profile_entry e[FROST_PROFILE_MAX_ENTRIES];
    frost_profile_enable(false);
    frost_profile_reset();
    CHECK(frost_model_forward(m, x, 2, false) == FROST_OK);
    CHECK_EQ_INT(frost_profile_get(e, FROST_PROFILE_MAX_ENTRIES), 0); /* off: nothing timed */
    frost_profile_enable(true);
    CHECK(frost_model_forward(m, x, 2, false) == FROST_OK);
    CHECK(frost_model_forward(m, x, 2, true) == FROST_OK);
    CHECK(frost_model_backward(m, dlogits) == FROST_OK);
    int n = frost_profile_get(e, FROST_PROFILE_MAX_ENTRIES);
    long forward_calls = 0;
    for (int i = 0; i < n; i++) {
        CHECK(e[i].seconds >= 0.0 && e[i].calls > 0);
        forward_calls += strcmp(e[i].direction, "forward") == 0 ? e[i].calls : 0;
        if (i > 0 && strcmp(e[i - 1].direction, "backward") == 0)
            CHECK(strcmp(e[i].direction, "backward") == 0); /* forward ones first */
    }
    CHECK_EQ_INT(forward_calls, 2 * (m->n_nodes - 1)); /* every node but the input, twice */
    const frost_profile_entry *conv = find_entry(e, n, "conv", "forward");
    CHECK(conv && conv->calls == 4); /* two conv layers, two passes */
    const frost_profile_entry *fc = find_entry(e, n, "linear", "backward");
    CHECK(fc && fc->calls == 1);
    CHECK_EQ_INT(frost_profile_get(e, 1), n); /* the count even when fewer fit */
    frost_profile_reset();
    CHECK_EQ_INT(frost_profile_get(e, FROST_PROFILE_MAX_ENTRIES), 0);
    frost_profile_enable(false);
    frost_model_free(m);
}

TEST(round_trip_is_identical)
{
    frost_model *m = NULL, *m2 = NULL;
    CHECK(frost_model_from_json(tiny, "tiny.json", &m) == FROST_OK);
    char *j1 = frost_model_to_json(m);
    CHECK(frost_model_from_json(j1, "j1", &m2) == FROST_OK);
    char *j2 = m2 ? frost_model_to_json(m2) : NULL;
    CHECK(j1 && j2 && strcmp(j1, j2) == 0);
    free(j1);
    free(j2);
    frost_model_free(m);
    frost_model_free(m2);
}

/* Replaces the first occurrence of `from` in tiny with `to` and expects a refusal
 * whose message contains `needle`. */
static void expect_bad(const char *from, const char *to, const char *needle)
{
    const char *at = strstr(tiny, from);
    CHECK(at != NULL);
    if (!at)
        return;
    char buf[4096];
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - tiny), tiny, to, at + strlen(from));
    frost_model *m = NULL;
    frost_status s = frost_model_from_json(buf, "bad.json", &m);
    CHECK(s != FROST_OK);
    CHECK(m == NULL);
    if (!strstr(frost_last_error(), needle) || !strstr(frost_last_error(), "bad.json")) {
        fprintf(stderr, "  message '%s' lacks '%s'\n", frost_last_error(), needle);
        frost_test_failed_checks++;
    }
    frost_model_free(m);
}

TEST(bad_architectures_are_refused_with_names)
{
    expect_bad("\"op\":\"bn\"", "\"op\":\"batchnorm9\"", "unknown op 'batchnorm9'");
    expect_bad("\"fn\":\"relu6\"", "\"fn\":\"swish42\"", "a1");
    expect_bad("\"k\":3,\"stride\":1}", "\"k\":11,\"stride\":1,\"pad\":0}",
               "c1");                                 /* kernel > input */
    expect_bad("\"groups\":4", "\"groups\":3", "dw"); /* groups */
    expect_bad("\"in\":[\"dw\",\"a1\"]", "\"in\":[\"dw\",\"mp\"]",
               "not an earlier");                                     /* forward ref */
    expect_bad("\"in\":[\"add\",\"a1\"]", "\"in\":[\"add\"]", "cat"); /* one input */
    expect_bad("\"out\":3}", "\"out\":5}", "classes");                /* wrong width */
    expect_bad("\"name\":\"b1\"", "\"name\":\"c1\"", "duplicate");
    expect_bad("\"out\":4,\"k\":3,\"stride\":1", "\"out\":\"4\",\"k\":3,\"stride\":1", "'out'");
    expect_bad("\"p\":0.2", "\"p\":1.5", "drop");
    /* a number beyond int's range must be refused before it is converted to int (the
     * conversion is undefined: clang's UBSan stops on it) */
    expect_bad("\"out\":4,\"k\":3,\"stride\":1", "\"out\":4e300,\"k\":3,\"stride\":1", "'out'");
    expect_bad("\"out\":4,\"k\":3,\"stride\":1", "\"out\":4,\"k\":-3e9,\"stride\":1", "'k'");
    expect_bad("\"h\":8", "\"h\":-8", "input.h");
    expect_bad("{\"format\"", "[{\"format\"", ""); /* not an object */
    expect_bad("\"layers\":[", "\"layers\":[[],", "layers[0]");
}

/* Strict reading (issue 18): fields the reader would ignore and data after the document are
 * refused with the field or the place named. */
TEST(unknown_fields_and_trailing_data_are_refused)
{
    expect_bad("\"op\":\"bn\"}", "\"op\":\"bn\",\"stride\":2}",
               "layer 'b1' (bn): unknown field 'stride'");
    expect_bad("\"op\":\"add\",", "\"op\":\"add\",\"fn\":\"relu\",",
               "layer 'add' (add): unknown field 'fn'");
    expect_bad("\"classes\":3,", "\"classes\":3,\"clases\":4,",
               "top level: unknown field 'clases'");
    expect_bad("\"c\":1}", "\"c\":1,\"chanels\":\"rgb\"}", "input: unknown field 'chanels'");
    expect_bad("\"k\":2}", "\"k\":2,\"k\":3}", "field 'k' appears twice");
    expect_bad("\"out\":3}]}", "\"out\":3}]} {}",
               "trailing data after the JSON document at line 1");
    expect_bad("\"out\":3}]}", "\"out\":3}]}\n\n  x", "line 3, column 3");
    /* whitespace after the document is fine */
    char buf[4096];
    snprintf(buf, sizeof buf, "%s\n \t\n", tiny);
    frost_model *m = NULL;
    CHECK(frost_model_from_json(buf, "ws.json", &m) == FROST_OK);
    frost_model_free(m);
}

/* Squeeze-excite and swish: gap, 1x1 convs, sigmoid gate times the trunk per channel,
 * SiLU, and a same-shape mul. */
static const char *const se_tiny =
    "{\"format\":\"frost-arch\",\"version\":1,\"name\":\"se\",\"input\":{\"h\":6,\"w\":6,"
    "\"c\":2},\"classes\":3,\"layers\":["
    "{\"name\":\"c1\",\"op\":\"conv\",\"out\":4,\"k\":3},"
    "{\"name\":\"a1\",\"op\":\"act\",\"fn\":\"silu\"},"
    "{\"name\":\"sq\",\"op\":\"gap\"},"
    "{\"name\":\"fc1\",\"op\":\"conv\",\"out\":2,\"k\":1,\"bias\":true},"
    "{\"name\":\"r\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"fc2\",\"op\":\"conv\",\"out\":4,\"k\":1,\"bias\":true},"
    "{\"name\":\"gate\",\"op\":\"act\",\"fn\":\"sigmoid\"},"
    "{\"name\":\"se\",\"op\":\"mul\",\"in\":[\"a1\",\"gate\"]},"
    "{\"name\":\"sq2\",\"op\":\"mul\",\"in\":[\"se\",\"a1\"]},"
    "{\"name\":\"gap\",\"op\":\"gap\"},"
    "{\"name\":\"fc\",\"op\":\"linear\",\"out\":3}]}";

TEST(squeeze_excite_round_trip_shapes_and_refusals)
{
    frost_model *m = NULL, *m2 = NULL;
    CHECK(frost_model_from_json(se_tiny, "se.json", &m) == FROST_OK);
    if (!m)
        return;
    const frost_node *se = &m->nodes[frost_g_find(m, "se")];
    CHECK_EQ_INT(se->op, FROST_OP_MUL);
    CHECK(se->h == 6 && se->w == 6 && se->c == 4);
    CHECK_EQ_INT(m->nodes[frost_g_find(m, "gate")].act, FROST_ACT_SIGMOID);
    CHECK_EQ_INT(m->nodes[frost_g_find(m, "a1")].act, FROST_ACT_SILU);
    /* c1 6*6*4*9*2, fc1 4*2, fc2 2*4, two muls of 6*6*4 (one multiply per value), fc 4*3 */
    CHECK_EQ_INT(frost_model_macs(m), 6 * 6 * 4 * 9 * 2 + 8 + 8 + 2 * 6 * 6 * 4 + 12);
    char *j1 = frost_model_to_json(m);
    CHECK(j1 && strstr(j1, "\"mul\"") && strstr(j1, "\"sigmoid\"") && strstr(j1, "\"silu\""));
    CHECK(frost_model_from_json(j1, "j1", &m2) == FROST_OK);
    char *j2 = m2 ? frost_model_to_json(m2) : NULL;
    CHECK(j1 && j2 && strcmp(j1, j2) == 0);
    free(j1), free(j2);
    frost_model_free(m), frost_model_free(m2);

    /* a gate of the wrong width, a gate first, and a gate of another spatial size */
    const char *bad[][3] = {
        {"\"name\":\"fc2\",\"op\":\"conv\",\"out\":4", "\"name\":\"fc2\",\"op\":\"conv\",\"out\":3",
         "1x1x4"},
        {"\"in\":[\"a1\",\"gate\"]", "\"in\":[\"gate\",\"a1\"]", "put the full-size tensor first"},
        {"\"in\":[\"se\",\"a1\"]", "\"in\":[\"se\",\"fc1\"]", "input 1 must have input 0's shape"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *at = strstr(se_tiny, bad[i][0]);
        CHECK(at != NULL);
        if (!at)
            continue;
        char buf[4096];
        snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - se_tiny), se_tiny, bad[i][1],
                 at + strlen(bad[i][0]));
        frost_model *b = NULL;
        CHECK(frost_model_from_json(buf, "bad.json", &b) != FROST_OK);
        CHECK(b == NULL);
        if (!strstr(frost_last_error(), bad[i][2]) || !strstr(frost_last_error(), "bad.json")) {
            fprintf(stderr, "  message '%s' lacks '%s'\n", frost_last_error(), bad[i][2]);
            frost_test_failed_checks++;
        }
    }
}

TEST(invalid_json_text)
{
    frost_model *m = NULL;
    CHECK(frost_model_from_json("{\"input\": ", "broken.json", &m) == FROST_ERR_FORMAT);
    CHECK(strstr(frost_last_error(), "broken.json: invalid JSON at line 1, column 11") != NULL);
    CHECK(frost_model_load_arch("/nonexistent/arch.json", &m) == FROST_ERR_IO);
    CHECK(strstr(frost_last_error(), "/nonexistent/arch.json") != NULL);
}

TEST(make_div8_matches_spec)
{
    CHECK_EQ_INT(frost_make_div8(32 * 0.5f), 16);
    CHECK_EQ_INT(frost_make_div8(24 * 0.35f), 8);
    CHECK_EQ_INT(frost_make_div8(3), 8);
    CHECK_EQ_INT(frost_make_div8(20), 24);                       /* floor(24/8)*8 = 24 */
    CHECK_EQ_INT(frost_make_div8(36), 40);                       /* (36+4)/8 = 5 -> 40 */
    CHECK_EQ_INT(frost_make_div8(35), 32 + 8 * (32 < 0.9 * 35)); /* 32 >= 31.5 -> 32 */
    CHECK_EQ_INT(frost_make_div8(100), 104);
}

FROST_TEST_MAIN(RUN(parses_and_infers_shapes); RUN(round_trip_is_identical);
                RUN(squeeze_excite_round_trip_shapes_and_refusals);
                RUN(profile_counts_every_node_run); RUN(bad_architectures_are_refused_with_names);
                RUN(unknown_fields_and_trailing_data_are_refused); RUN(invalid_json_text);
                RUN(make_div8_matches_spec))
