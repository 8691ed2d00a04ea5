/*
 * The cell search (frost/cell.h): derivation on hand-set weights (DARTS' rule, P-DARTS'
 * limit on skips), P-DARTS' candidate shrinking, the cell's text forms, derived networks
 * with every candidate operation training, quantizing and converting to int8, and a tiny
 * end-to-end search (float and quantization-aware) that learns and derives a valid cell.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "frost/cell.h"
#include "frost/frost.h"
#include "harness.h"

/* Hand-set weights for a 3-node cell over [none, skip, max_pool_3, sep_conv_3]; edges:
 * e0 = in->n0; e1 = in->n1, e2 = n0->n1; e3 = in->n2, e4 = n0->n2, e5 = n1->n2. */
static const int ops4[] = {FROST_CELL_NONE, FROST_CELL_SKIP, FROST_CELL_MAX3, FROST_CELL_SEP3};

static void set_w(frost_cell_weights *w, int e, float none, float skip, float pool, float sep)
{
    w->w[e][0] = none;
    w->w[e][1] = skip;
    w->w[e][2] = pool;
    w->w[e][3] = sep;
}

static void hand_weights(frost_cell_weights *w)
{
    memset(w, 0, sizeof *w);
    set_w(w, 0, 0.70f, 0.10f, 0.05f, 0.15f); /* none is largest: ignored -> sep */
    set_w(w, 1, 0.10f, 0.20f, 0.30f, 0.40f); /* strength 0.40 (sep) */
    set_w(w, 2, 0.05f, 0.50f, 0.25f, 0.20f); /* strength 0.50 (skip) */
    set_w(w, 3, 0.25f, 0.25f, 0.25f, 0.25f); /* a tie: skip (the earlier candidate), 0.25 */
    set_w(w, 4, 0.10f, 0.60f, 0.10f, 0.20f); /* 0.60 (skip) */
    set_w(w, 5, 0.20f, 0.55f, 0.05f, 0.20f); /* 0.55 (skip) */
}

TEST(test_derive_worked_example)
{
    frost_cell_candidates cand;
    CHECK(frost_cell_candidates_all(3, ops4, 4, &cand) == FROST_OK);
    frost_cell_weights w;
    hand_weights(&w);
    frost_cell_genotype g;
    CHECK(frost_cell_derive(&cand, &w, 3, -1, &g) == FROST_OK);
    CHECK(frost_cell_check(&g) == FROST_OK);
    CHECK_EQ_INT(g.n_in[0], 1);
    CHECK_EQ_INT(g.in[0][0], 0);
    CHECK_EQ_INT(g.op[0][0], FROST_CELL_SEP3); /* never none */
    /* node 1: n0 (0.50, skip) first, then the input (0.40, sep) */
    CHECK_EQ_INT(g.in[1][0], 1);
    CHECK_EQ_INT(g.op[1][0], FROST_CELL_SKIP);
    CHECK_EQ_INT(g.in[1][1], 0);
    CHECK_EQ_INT(g.op[1][1], FROST_CELL_SEP3);
    /* node 2: n0 (0.60), n1 (0.55); the input (0.25) loses */
    CHECK_EQ_INT(g.in[2][0], 1);
    CHECK_EQ_INT(g.op[2][0], FROST_CELL_SKIP);
    CHECK_EQ_INT(g.in[2][1], 2);
    CHECK_EQ_INT(g.op[2][1], FROST_CELL_SKIP);

    /* P-DARTS: three skips, two allowed: the weakest chosen skip (n0->n1, 0.50) loses its
     * weight; that edge's next op is max_pool (0.25), so node 1 now takes the input
     * (0.40, sep) and n0 (0.25, max_pool) */
    frost_cell_genotype p;
    CHECK(frost_cell_derive(&cand, &w, 3, 2, &p) == FROST_OK);
    CHECK_EQ_INT(p.in[1][0], 0);
    CHECK_EQ_INT(p.op[1][0], FROST_CELL_SEP3);
    CHECK_EQ_INT(p.in[1][1], 1);
    CHECK_EQ_INT(p.op[1][1], FROST_CELL_MAX3);
    CHECK_EQ_INT(p.op[2][0], FROST_CELL_SKIP);
    CHECK_EQ_INT(p.op[2][1], FROST_CELL_SKIP);
    /* none allowed: every skip goes where another op exists */
    frost_cell_genotype z;
    CHECK(frost_cell_derive(&cand, &w, 3, 0, &z) == FROST_OK);
    for (int j = 0; j < 3; j++)
        for (int k = 0; k < z.n_in[j]; k++)
            CHECK(z.op[j][k] != FROST_CELL_SKIP);
}

/* A skip that is its edge's only real candidate stays when the limit cannot be met. */
TEST(test_derive_skip_limit_terminates)
{
    static const int only_skip[] = {FROST_CELL_NONE, FROST_CELL_SKIP};
    frost_cell_candidates cand;
    CHECK(frost_cell_candidates_all(2, only_skip, 2, &cand) == FROST_OK);
    frost_cell_weights w = {0};
    for (int e = 0; e < 3; e++) {
        w.w[e][0] = 0.5f;
        w.w[e][1] = 0.5f;
    }
    frost_cell_genotype g;
    CHECK(frost_cell_derive(&cand, &w, 2, 0, &g) == FROST_OK);
    CHECK(frost_cell_check(&g) == FROST_OK);
    CHECK_EQ_INT(g.op[1][0], FROST_CELL_SKIP);
}

TEST(test_shrink_keeps_strongest)
{
    static const int ops[] = {FROST_CELL_NONE, FROST_CELL_SKIP, FROST_CELL_MAX3,
                              FROST_CELL_AVG3, FROST_CELL_SEP3, FROST_CELL_SEP5,
                              FROST_CELL_SC3,  FROST_CELL_MB3,  FROST_CELL_SE3};
    frost_cell_candidates cand, five, three;
    CHECK(frost_cell_candidates_all(2, ops, 9, &cand) == FROST_OK);
    frost_cell_weights w = {0};
    /* edge e: weights rising with the position, except that none is the largest */
    for (int e = 0; e < 3; e++)
        for (int k = 0; k < 9; k++)
            w.w[e][k] = k == 0 ? 0.9f : 0.01f * (float)((k + e) % 8 + 1);
    CHECK(frost_cell_shrink(&cand, &w, 2, 5, &five) == FROST_OK);
    for (int e = 0; e < 3; e++) {
        CHECK_EQ_INT(five.n_ops[e], 6); /* none + 5 */
        CHECK_EQ_INT(five.ops[e][0], FROST_CELL_NONE);
        /* the five largest (k + e) % 8 of positions 1..8: kept in their original order */
        int kept = 0;
        for (int k = 1; k < 9; k++)
            if ((k + e) % 8 + 1 >= 4)
                CHECK_EQ_INT(five.ops[e][1 + kept++], ops[k]);
        CHECK_EQ_INT(kept, 5);
    }
    /* the next stage's weights are over the five; keep 3 of them: the positions 3..5 */
    frost_cell_weights w5 = {0};
    for (int e = 0; e < 3; e++)
        for (int k = 0; k < 6; k++)
            w5.w[e][k] = (float)k;
    CHECK(frost_cell_shrink(&five, &w5, 2, 3, &three) == FROST_OK);
    for (int e = 0; e < 3; e++) {
        CHECK_EQ_INT(three.n_ops[e], 4);
        CHECK_EQ_INT(three.ops[e][1], five.ops[e][3]);
        CHECK_EQ_INT(three.ops[e][3], five.ops[e][5]);
    }
    CHECK(frost_cell_shrink(&cand, &w, 2, 0, &three) != FROST_OK);
}

static frost_cell_pair sample_pair(void)
{
    frost_cell_pair p = {0};
    frost_cell_genotype *n = &p.normal, *r = &p.reduce;
    n->nodes = r->nodes = 3;
    n->n_in[0] = r->n_in[0] = 1;
    n->n_in[1] = n->n_in[2] = r->n_in[1] = r->n_in[2] = 2;
    /* normal: every candidate kind appears in one of the two cells */
    n->in[0][0] = 0, n->op[0][0] = FROST_CELL_SC3;
    n->in[1][0] = 0, n->op[1][0] = FROST_CELL_SEP3;
    n->in[1][1] = 1, n->op[1][1] = FROST_CELL_SKIP;
    n->in[2][0] = 1, n->op[2][0] = FROST_CELL_SE3;
    n->in[2][1] = 2, n->op[2][1] = FROST_CELL_AVG3;
    r->in[0][0] = 0, r->op[0][0] = FROST_CELL_MB5;
    r->in[1][0] = 0, r->op[1][0] = FROST_CELL_SKIP; /* stride 2: a 1x1 conv */
    r->in[1][1] = 1, r->op[1][1] = FROST_CELL_MAX3;
    r->in[2][0] = 0, r->op[2][0] = FROST_CELL_SEP5;
    r->in[2][1] = 2, r->op[2][1] = FROST_CELL_SEH3;
    return p;
}

TEST(test_text_forms)
{
    frost_cell_pair p = sample_pair(), back;
    char *json = frost_cell_pair_to_json(&p);
    CHECK(json != NULL);
    CHECK(json && frost_cell_pair_from_json(json, &back) == FROST_OK);
    CHECK(memcmp(&p, &back, sizeof p) == 0);
    free(json);
    char *dot = frost_cell_to_dot(&p.normal, "normal cell");
    CHECK(dot && strstr(dot, "in -> n0 [label=\"sc_3\"]") && strstr(dot, "n1 -> out"));
    free(dot);
    /* malformed files: each refused with a message */
    const char *bad[] = {
        "{\"normal\":{\"nodes\":3,\"edges\":[]}}",
        "{\"normal\":{\"nodes\":2,\"edges\":[[0,0,\"skip\"],[1,0,\"skip\"],[1,1,\"nope\"]]},"
        "\"reduce\":{}}",
        "{\"normal\":{\"nodes\":2,\"edges\":[[0,0,\"skip\"],[1,0,\"skip\"],[1,0,\"max_pool_3\"]]},"
        "\"reduce\":{}}",
        "{\"normal\":{\"nodes\":2,\"edges\":[[0,1,\"skip\"],[1,0,\"skip\"],[1,1,\"skip\"]]}}",
        "{\"normal\":{\"nodes\":2,\"edges\":[[0,0,\"none\"],[1,0,\"skip\"],[1,1,\"skip\"]]}}",
        "[1,2]",
        "{\"normal\": ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(frost_cell_pair_from_json(bad[i], &back) != FROST_OK);
        CHECK(strlen(frost_last_error()) > 10);
    }
    /* strict: a field the reader would ignore, data after the document */
    const char *cell2 = "{\"nodes\":2,\"edges\":[[0,0,\"skip\"],[1,0,\"skip\"],[1,1,\"sc_3\"]]";
    char text[512];
    snprintf(text, sizeof text, "{\"normal\":%s},\"reduce\":%s}}", cell2, cell2);
    CHECK(frost_cell_pair_from_json(text, &back) == FROST_OK);
    snprintf(text, sizeof text, "{\"normal\":%s,\"alpha\":[]},\"reduce\":%s}}", cell2, cell2);
    CHECK(frost_cell_pair_from_json(text, &back) != FROST_OK &&
          strstr(frost_last_error(), "normal: unknown field 'alpha'"));
    snprintf(text, sizeof text, "{\"normal\":%s},\"reduce\":%s},\"stage\":1}", cell2, cell2);
    CHECK(frost_cell_pair_from_json(text, &back) != FROST_OK &&
          strstr(frost_last_error(), "top level: unknown field 'stage'"));
    snprintf(text, sizeof text, "{\"normal\":%s},\"reduce\":%s}}}", cell2, cell2);
    CHECK(frost_cell_pair_from_json(text, &back) != FROST_OK &&
          strstr(frost_last_error(), "trailing data"));
}

/* Two classes: a bright left or right half, plus noise (12x12x1). */
static void make_data(int n, uint64_t seed, frost_dataset *d)
{
    enum { S = 12 };
    d->n = n;
    d->h = d->w = S;
    d->c = 1;
    d->classes = 2;
    d->images = malloc((size_t)n * S * S);
    d->labels = malloc((size_t)n);
    frost_rng r;
    frost_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int k = frost_rng_uniform(&r) < 0.5f;
        d->labels[i] = (uint8_t)k;
        for (int p = 0; p < S * S; p++) {
            bool left = p % S < S / 2;
            float v = (left == (k == 0) ? 150.0f : 40.0f) + 100.0f * frost_rng_uniform(&r);
            d->images[(size_t)i * S * S + p] = (uint8_t)(v > 255.0f ? 255.0f : v);
        }
    }
}

/* The derived network with every operation kind: trains (QAT), converts to int8, and the
 * int8 model agrees with the fake-quant model on most predictions. */
TEST(test_derived_network_quantizes_and_converts)
{
    frost_cell_pair p = sample_pair();
    frost_cell_net net = frost_cell_net_default();
    net.in_h = net.in_w = 12;
    net.classes = 2;
    net.cells = 3;
    net.nodes = 3;
    frost_model *m = NULL;
    CHECK(frost_cell_build(&p, &net, &m) == FROST_OK);
    if (!m)
        return;
    /* the architecture file holds the same network */
    char *json = frost_model_to_json(m);
    frost_model *again = NULL;
    CHECK(json && frost_model_from_json(json, "cell.json", &again) == FROST_OK);
    CHECK(again && frost_model_param_count(again) == frost_model_param_count(m));
    free(json);
    frost_model_free(again);

    frost_dataset d = {0};
    make_data(1024, 7, &d);
    frost_qconfig *qc = NULL;
    CHECK(frost_qconfig_default(&qc) == FROST_OK);
    frost_model_init_weights(m, 3);
    CHECK(frost_model_quantize(m, qc) == FROST_OK);
    frost_qconfig_free(qc);
    frost_train_config tc = frost_train_defaults();
    tc.epochs = 3;
    tc.batch = 32;
    tc.quiet = true;
    tc.qat_delay_epochs = 1;
    tc.augment.crop_pad = 0;
    frost_train_result r;
    CHECK(frost_train(m, &d, NULL, NULL, &tc, NULL, NULL, &r) == FROST_OK);
    printf("  derived network: train accuracy %.3f\n", (double)r.train_acc);
    CHECK(r.train_acc > 0.9f);
    CHECK(frost_model_set_qmode(m, FROST_QMODE_FIXED) == FROST_OK);
    float fq_acc = 0.0f;
    CHECK(frost_evaluate(m, &d, &tc.augment, 32, &fq_acc, NULL) == FROST_OK);
    frost_int8_model *im = NULL;
    CHECK(frost_int8_from_model(m, &im) == FROST_OK);
    float i8_acc = 0.0f;
    if (im)
        CHECK(frost_int8_evaluate(im, &d, &tc.augment, &i8_acc) == FROST_OK);
    printf("  fake-quant %.3f, int8 %.3f\n", (double)fq_acc, (double)i8_acc);
    CHECK(fq_acc > 0.9f);
    CHECK(fabsf(i8_acc - fq_acc) < 0.03f);
    frost_int8_free(im);
    frost_model_free(m);
    frost_dataset_free(&d);
}

typedef struct {
    int epochs_seen;
    float last_train_acc;
    int stage_cands[FROST_CELL_MAX_STAGES];
    float alpha_spread; /* largest |w - uniform| of the last epoch's normal cell */
} search_log;

static void on_progress(const frost_cell_progress *p, void *user)
{
    search_log *l = user;
    if (p->batch >= 0)
        return;
    l->epochs_seen++;
    l->last_train_acc = p->train_acc;
    l->stage_cands[p->stage] = p->cand[0].n_ops[0];
    l->alpha_spread = 0.0f;
    for (int e = 0; e < 3; e++)
        for (int k = 0; k < p->cand[0].n_ops[e]; k++) {
            float d = fabsf(p->w[0].w[e][k] - 1.0f / (float)p->cand[0].n_ops[e]);
            l->alpha_spread = d > l->alpha_spread ? d : l->alpha_spread;
        }
}

static void tiny_search(bool qat, int stages)
{
    frost_dataset tr = {0}, va = {0};
    make_data(384, 11, &tr);
    make_data(384, 12, &va);
    frost_cell_search_config c = frost_cell_search_defaults();
    c.net.in_h = c.net.in_w = 12;
    c.net.classes = 2;
    c.net.nodes = 2;
    c.stages = stages;
    c.cells[0] = 3;
    c.cells[1] = 4;
    static const int ops[] = {FROST_CELL_NONE, FROST_CELL_SKIP, FROST_CELL_MAX3, FROST_CELL_SEP3,
                              FROST_CELL_SC3};
    memcpy(c.ops, ops, sizeof ops);
    c.n_ops = 5;
    c.keep[1] = 2;
    c.epochs = 3;
    c.warmup = 1;
    c.batch = 32;
    c.w_lr = 0.05f;
    c.a_lr = 1e-2f;
    frost_qconfig *qc = NULL;
    if (qat) {
        CHECK(frost_qconfig_default(&qc) == FROST_OK);
        c.qconfig = qc;
    }
    search_log log = {0};
    frost_cell_pair pair;
    frost_status st = frost_cell_search(&tr, &va, &c, on_progress, &log, &pair);
    if (st != FROST_OK)
        printf("  error: %s\n", frost_last_error());
    CHECK(st == FROST_OK);
    printf("  %s, %d stage(s): last epoch's train accuracy %.3f\n", qat ? "QAT" : "float", stages,
           (double)log.last_train_acc);
    CHECK_EQ_INT(log.epochs_seen, 3 * stages);
    CHECK(log.last_train_acc > 0.9f);
    printf("  mixing weights moved up to %.4f from uniform\n", (double)log.alpha_spread);
    CHECK(log.alpha_spread > 0.01f); /* alpha learned (its init moves them by ~1e-3) */
    CHECK(frost_cell_check(&pair.normal) == FROST_OK);
    CHECK(frost_cell_check(&pair.reduce) == FROST_OK);
    CHECK_EQ_INT(log.stage_cands[0], 5);
    if (stages > 1)
        CHECK_EQ_INT(log.stage_cands[1], 3); /* none + the 2 kept */
    frost_qconfig_free(qc);
    frost_dataset_free(&tr);
    frost_dataset_free(&va);
}

TEST(test_tiny_search_float) { tiny_search(false, 1); }
TEST(test_tiny_search_qat_two_stages) { tiny_search(true, 2); }

TEST(test_bad_configs_refused)
{
    frost_dataset tr = {0};
    make_data(64, 1, &tr);
    frost_cell_search_config c = frost_cell_search_defaults();
    c.net.in_h = c.net.in_w = 12;
    c.net.classes = 2;
    frost_cell_pair pair;
    c.warmup = c.epochs; /* no alpha epoch */
    CHECK(frost_cell_search(&tr, &tr, &c, NULL, NULL, &pair) != FROST_OK);
    c = frost_cell_search_defaults();
    c.net.channels = 4; /* below 8 */
    CHECK(frost_cell_search(&tr, &tr, &c, NULL, NULL, &pair) != FROST_OK);
    CHECK(strstr(frost_last_error(), "8") != NULL);
    c = frost_cell_search_defaults(); /* 28x28 network, 12x12 data */
    CHECK(frost_cell_search(&tr, &tr, &c, NULL, NULL, &pair) != FROST_OK);
    frost_dataset_free(&tr);
}

int main(void)
{
    RUN(test_derive_worked_example);
    RUN(test_derive_skip_limit_terminates);
    RUN(test_shrink_keeps_strongest);
    RUN(test_text_forms);
    RUN(test_derived_network_quantizes_and_converts);
    RUN(test_tiny_search_float);
    RUN(test_tiny_search_qat_two_stages);
    RUN(test_bad_configs_refused);
    return frost_test_summary();
}
