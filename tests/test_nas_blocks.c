/* Searched cells as a block type of the architecture search (frost search --blocks;
 * docs/nas.md, "Cells as blocks"): the space with a hand-made cell pair (sampling, the
 * forms, networks that run, the reduction cell at stride 2, the channel rule), refusals
 * without cells, the controllers over five block options, the latency table's keys, and a
 * tiny search with a stand-in evaluator that resumes only with the same cells. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rng.h"
#include "frost/nas.h"
#include "harness.h"
#include "models/graph.h"
#include "nas/ppo.h"

/* normal: n0 = sep_conv_3(in); n1 = skip(in) + max_pool_3(n0); n2 = sep_conv_3(n0) + skip(n1).
 * reduce: n0 = mbconv_3(in) (stride 2); n1 = skip(in) (a 1x1 stride-2 conv) + mbconv_3(n0). */
static frost_cell_pair hand_cells(void)
{
    frost_cell_pair p = {0};
    frost_cell_genotype *n = &p.normal, *r = &p.reduce;
    n->nodes = 3;
    n->n_in[0] = 1, n->in[0][0] = 0, n->op[0][0] = FROST_CELL_SEP3;
    n->n_in[1] = 2, n->in[1][0] = 0, n->op[1][0] = FROST_CELL_SKIP;
    n->in[1][1] = 1, n->op[1][1] = FROST_CELL_MAX3;
    n->n_in[2] = 2, n->in[2][0] = 1, n->op[2][0] = FROST_CELL_SEP3;
    n->in[2][1] = 2, n->op[2][1] = FROST_CELL_SKIP;
    r->nodes = 2;
    r->n_in[0] = 1, r->in[0][0] = 0, r->op[0][0] = FROST_CELL_MB3;
    r->n_in[1] = 2, r->in[1][0] = 0, r->op[1][0] = FROST_CELL_SKIP;
    r->in[1][1] = 1, r->op[1][1] = FROST_CELL_MB3;
    return p;
}

static int cell_stages(const frost_nas_genotype *g)
{
    int n = 0;
    for (int i = 0; i < FROST_NAS_STAGES; i++)
        n += g->stage[i].block == FROST_NAS_CELL;
    return n;
}

/* MobileNetV2's choices everywhere, with cell blocks in stages 1 and 3. */
static frost_nas_genotype with_cells(void)
{
    frost_nas_genotype g = {.resolution = 28};
    for (int i = 0; i < FROST_NAS_STAGES; i++)
        g.stage[i] = (frost_nas_stage){FROST_NAS_MBCONV, 3, 6, 0, 100};
    g.stage[0] = (frost_nas_stage){FROST_NAS_CELL, 3, 1, 0, 100};
    g.stage[2] = (frost_nas_stage){FROST_NAS_CELL, 3, 1, 1, 100};
    return g;
}

TEST(test_choices_without_and_with_cells)
{
    frost_cell_pair cells = hand_cells();
    frost_nas_space plain = frost_nas_space_default(), space = plain;
    space.cells = &cells;
    int per_stage_plain = 1, per_stage_cells = 1;
    for (int d = 1; d <= 5; d++) {
        per_stage_plain *= frost_nas_space_choices(&plain, d);
        per_stage_cells *= frost_nas_space_choices(&space, d);
        CHECK_EQ_INT(frost_nas_space_choices(&plain, d), frost_nas_choices(d));
        CHECK_EQ_INT(frost_nas_space_choices(NULL, d), frost_nas_choices(d));
    }
    CHECK_EQ_INT(per_stage_plain, 216);
    CHECK_EQ_INT(per_stage_cells, 270);
    CHECK_EQ_INT(frost_nas_space_choices(&space, 1), 5);
    CHECK_EQ_INT(frost_nas_space_choices(&space, 2), 2); /* the kernel is unchanged */
    CHECK(frost_nas_cells_hash(&plain) == 0);
    CHECK(frost_nas_cells_hash(&space) != 0);
    frost_cell_pair other = cells;
    other.normal.op[0][0] = FROST_CELL_SEP5;
    frost_nas_space space2 = plain;
    space2.cells = &other;
    CHECK(frost_nas_cells_hash(&space2) != frost_nas_cells_hash(&space));
    /* no cells: the sampler's stream is the four-block space's */
    uint64_t a = 5, b = 5;
    frost_nas_space null_cells = plain;
    null_cells.cells = NULL;
    for (int t = 0; t < 50; t++) {
        frost_nas_genotype x, y;
        frost_nas_sample(&plain, &a, &x);
        frost_nas_sample(&null_cells, &b, &y);
        CHECK(frost_nas_equal(&x, &y) && cell_stages(&x) == 0);
    }
}

TEST(test_canonical_cell_block)
{
    frost_nas_genotype g = with_cells();
    CHECK(!frost_nas_canonical(&g));
    g.stage[0].kernel = 5;
    g.stage[2].expand = 6;
    CHECK(frost_nas_canonical(&g));
    CHECK_EQ_INT(g.stage[0].kernel, 3);
    CHECK_EQ_INT(g.stage[2].expand, 1);
    char text[128];
    frost_nas_to_string(&g, text, sizeof text);
    CHECK(strcmp(text, "r28.c310n.m360n.c31+n.m360n.m360n.m360n.m360n") == 0);
    char *json = frost_nas_to_json(&g);
    CHECK(json && strstr(json, "\"block\":\"cell\"") != NULL);
    free(json);
}

/* Sampling reaches the cell; every sample round-trips through indices, text and JSON. */
TEST(test_sampling_and_forms_with_cells)
{
    frost_cell_pair cells = hand_cells();
    frost_nas_space space = frost_nas_space_default();
    space.cells = &cells;
    uint64_t rng = 42;
    int cell_blocks = 0;
    for (int t = 0; t < 400; t++) {
        frost_nas_genotype g, back;
        frost_nas_sample(&space, &rng, &g);
        cell_blocks += cell_stages(&g);
        CHECK(frost_nas_check(&g, &space) == FROST_OK);
        frost_nas_genotype c = g;
        CHECK(!frost_nas_canonical(&c));
        int idx[FROST_NAS_DECISIONS];
        CHECK(frost_nas_to_indices(&g, &space, idx) == FROST_OK);
        CHECK(frost_nas_from_indices(idx, &space, &back) == FROST_OK && frost_nas_equal(&g, &back));
        char text[128];
        frost_nas_to_string(&g, text, sizeof text);
        CHECK(frost_nas_from_string_in(&space, text, &back) == FROST_OK &&
              frost_nas_equal(&g, &back));
        char *json = frost_nas_to_json(&g);
        CHECK(json && frost_nas_from_json_in(&space, json, &back) == FROST_OK &&
              frost_nas_equal(&g, &back));
        free(json);
    }
    /* 400 * 7 stages with 1 in 5 a cell: about 560 */
    CHECK(cell_blocks > 400 && cell_blocks < 720);
}

/* The 'c' genotypes outside a space with cells: refused by every form, with the message. */
TEST(test_cell_genotypes_refused_without_cells)
{
    frost_nas_space plain = frost_nas_space_default();
    const char *text = "r28.c310n.m360n.c31+n.m360n.m360n.m360n.m360n";
    frost_nas_genotype g = with_cells(), back;
    CHECK(frost_nas_from_string(text, &back) != FROST_OK);
    CHECK(strstr(frost_last_error(), "block 'c' needs --blocks DIR") != NULL);
    CHECK(frost_nas_from_string_in(&plain, text, &back) != FROST_OK);
    char *json = frost_nas_to_json(&g);
    CHECK(json && frost_nas_from_json(json, &back) != FROST_OK);
    CHECK(strstr(frost_last_error(), "block 'c' needs --blocks DIR") != NULL);
    free(json);
    CHECK(frost_nas_check(&g, &plain) != FROST_OK);
    CHECK(strstr(frost_last_error(), "block 'c' needs --blocks DIR") != NULL);
    int idx[FROST_NAS_DECISIONS] = {0};
    idx[1] = FROST_NAS_CELL;
    CHECK(frost_nas_from_indices(idx, &plain, &back) != FROST_OK);
    frost_model *m = NULL;
    CHECK(frost_nas_build(&g, &plain, &m) != FROST_OK && m == NULL);
}

static const frost_node *find_node(const frost_model *m, const char *name)
{
    for (int i = 0; i < m->n_nodes; i++)
        if (strcmp(m->nodes[i].name, name) == 0)
            return &m->nodes[i];
    return NULL;
}

/* Stage 1 (stride 1, 16 * 0.35 -> 8 channels): the normal cell on C = 8, out 2C = 16 (more
 * than the stage's 8). Stage 3 (stride 2, 32 * 0.35 -> 16 channels, 4 layers): the
 * reduction cell first, its edges from the input at stride 2, C = 8, out 16; then normal
 * cells at stride 1. */
TEST(test_cell_blocks_build_and_follow_the_rules)
{
    frost_cell_pair cells = hand_cells();
    frost_nas_space space = frost_nas_space_default();
    space.cells = &cells;
    frost_nas_genotype g = with_cells();
    frost_model *m = NULL;
    CHECK(frost_nas_build(&g, &space, &m) == FROST_OK);
    if (!m)
        return;
    const frost_node *pre = find_node(m, "s1.b1.pre.conv"), *out = find_node(m, "s1.b1.out");
    CHECK(pre && pre->c == frost_nas_cell_channels(8) && pre->c == 8);
    CHECK(out && out->c == 16 && out->op == FROST_OP_CONCAT);
    CHECK(find_node(m, "s1.b1.n1.1.pool") != NULL); /* the normal cell's max pool */
    CHECK(find_node(m, "s1.b1.n0.0.dw1.conv") != NULL);
    /* stage 3 layer 1: the reduction cell */
    const frost_node *skip = find_node(m, "s3.b1.n1.0.reduce.conv");
    const frost_node *dw = find_node(m, "s3.b1.n0.0.dw.conv");
    const frost_node *in3 = find_node(m, "s3.b1.pre.conv");
    CHECK(skip && skip->conv.stride == 2 && skip->conv.kh == 1);
    CHECK(dw && dw->conv.stride == 2);
    CHECK(in3 && skip && skip->h * 2 == in3->h);
    const frost_node *out3 = find_node(m, "s3.b1.out");
    CHECK(out3 && out3->c == 2 * frost_nas_cell_channels(16) && out3->c == 16);
    CHECK(find_node(m, "s3.b1.n1.1.expand.conv") != NULL); /* mbconv on n0, stride 1 */
    /* later layers: normal cells, no stride-2 edge */
    CHECK(find_node(m, "s3.b2.n1.1.pool") != NULL &&
          find_node(m, "s3.b2.n1.0.reduce.conv") == NULL);
    CHECK(find_node(m, "s3.b4.out") != NULL); /* 3 + 1 layers */
    CHECK(find_node(m, "s3.b5.out") == NULL);
    /* channel rule: 2C is cout rounded up to a multiple of 16 */
    CHECK_EQ_INT(frost_nas_cell_channels(8), 8);
    CHECK_EQ_INT(frost_nas_cell_channels(16), 8);
    CHECK_EQ_INT(frost_nas_cell_channels(24), 16);
    CHECK_EQ_INT(frost_nas_cell_channels(32), 16);
    CHECK_EQ_INT(frost_nas_cell_channels(112), 56);
    frost_model_free(m);
}

/* Sampled genotypes with cells build and run a forward; distinct ones build distinct
 * networks. */
TEST(test_sampled_networks_with_cells_run)
{
    enum { N = 12 };
    frost_cell_pair cells = hand_cells();
    frost_nas_space space = frost_nas_space_default();
    space.cells = &cells;
    uint64_t rng = 11;
    char *arch[N] = {0};
    frost_nas_genotype g[N];
    int with = 0;
    for (int t = 0; t < N; t++) {
        frost_nas_sample(&space, &rng, &g[t]);
        with += cell_stages(&g[t]) > 0;
        frost_model *m = NULL;
        CHECK(frost_nas_build(&g[t], &space, &m) == FROST_OK);
        if (!m)
            continue;
        arch[t] = frost_model_to_json(m);
        int h, w, c;
        frost_model_input_shape(m, &h, &w, &c);
        float *x = calloc((size_t)2 * h * w, sizeof(float));
        for (int i = 0; i < 2 * h * w; i++)
            x[i] = (float)((i * 37) % 19) / 19.0f - 0.4f;
        CHECK(frost_model_set_batch(m, 2) == FROST_OK);
        CHECK(frost_model_forward(m, x, 2, true) == FROST_OK);
        const float *l = frost_model_logits(m);
        for (int i = 0; i < 20; i++)
            CHECK(isfinite(l[i]));
        free(x);
        frost_model_free(m);
    }
    CHECK(with >= N / 2);
    for (int a = 0; a < N; a++)
        for (int b = a + 1; b < N; b++)
            if (arch[a] && arch[b] && !frost_nas_equal(&g[a], &g[b]))
                CHECK(strcmp(arch[a], arch[b]) != 0);
    for (int t = 0; t < N; t++)
        free(arch[t]);
}

/* Every controller proposes valid canonical genotypes with cells; RL and PPO keep a
 * probability for each of the five block options (and none for a sixth), and learn. */
TEST(test_controllers_over_five_blocks)
{
    frost_cell_pair cells = hand_cells();
    frost_nas_space space = frost_nas_space_default();
    space.cells = &cells;
    const frost_nas_controller_kind kinds[] = {FROST_NAS_RANDOM, FROST_NAS_EVOLUTION, FROST_NAS_RL,
                                               FROST_NAS_PPO};
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        frost_nas_controller_config cfg = frost_nas_controller_defaults(kinds[k]);
        cfg.seed = 3;
        cfg.population = 10;
        frost_nas_controller *c = NULL;
        CHECK(frost_nas_controller_create(&cfg, &space, &c) == FROST_OK);
        if (!c)
            continue;
        int cell_blocks = 0;
        for (int t = 0; t < 120; t++) {
            frost_nas_genotype g;
            CHECK(frost_nas_propose(c, &g) == FROST_OK);
            CHECK(frost_nas_check(&g, &space) == FROST_OK);
            frost_nas_genotype canon = g;
            CHECK(!frost_nas_canonical(&canon));
            cell_blocks += cell_stages(&g);
            /* reward the cell in stage 1: RL and PPO should learn to pick it */
            CHECK(frost_nas_observe(c, g.stage[0].block == FROST_NAS_CELL ? 1.0 : 0.0) == FROST_OK);
        }
        CHECK(cell_blocks > 0);
        if (kinds[k] == FROST_NAS_RL || kinds[k] == FROST_NAS_PPO) {
            double sum = 0;
            for (int o = 0; o < 5; o++) {
                double p = frost_nas_policy_prob(c, 1, o);
                CHECK(p > 0 && p < 1);
                sum += p;
            }
            CHECK_NEAR(sum, 1.0, 1e-9, 0);
            CHECK(frost_nas_policy_prob(c, 1, 5) < 0);
            CHECK(frost_nas_policy_prob(c, 1, FROST_NAS_CELL) > 0.2); /* above uniform */
        }
        frost_nas_controller_free(c);
    }
}

/* PPO's surrogate over five block options: its gradient matches central differences on
 * every logit the space uses (the cell's column included). */
TEST(test_ppo_gradient_with_five_blocks)
{
    frost_cell_pair cells = hand_cells();
    frost_nas_space space = frost_nas_space_default();
    space.cells = &cells;
    int choices[FROST_NAS_DECISIONS];
    for (int d = 0; d < FROST_NAS_DECISIONS; d++)
        choices[d] = frost_nas_space_choices(&space, d);
    enum { B = 6 };
    static const double ratio[B] = {0.5, 1.5, 0.9, 1.1, 0.6, 1.4};
    static const double adv[B] = {1.0, -1.0, -0.7, 1.3, 2.0, 0.4};
    frost_nas_logits theta = {{0}}, grad;
    int a[B][FROST_NAS_DECISIONS];
    double old_logp[B];
    frost_rng rng;
    frost_rng_seed(&rng, 9);
    for (int d = 0; d < FROST_NAS_DECISIONS; d++)
        for (int o = 0; o < choices[d]; o++)
            theta[d][o] = frost_rng_normal(&rng);
    int cells_chosen = 0;
    for (int i = 0; i < B; i++) {
        for (int d = 0; d < FROST_NAS_DECISIONS; d++)
            a[i][d] = (int)frost_rng_below(&rng, (uint32_t)choices[d]);
        a[i][1] = i % 2 ? FROST_NAS_CELL : a[i][1]; /* stage 1 picks the cell in half */
        cells_chosen += a[i][1] == FROST_NAS_CELL;
        old_logp[i] = frost_nas_ppo_log_prob_in(choices, theta, a[i]) - log(ratio[i]);
    }
    CHECK(cells_chosen >= 3);
    const int(*ca)[FROST_NAS_DECISIONS] = (const int(*)[FROST_NAS_DECISIONS])a;
    frost_nas_ppo_objective_in(choices, theta, ca, old_logp, adv, B, 0.2, 0.01, grad);
    double worst = 0, size = 0, h = 1e-6;
    for (int d = 0; d < FROST_NAS_DECISIONS; d++)
        for (int o = 0; o < choices[d]; o++) {
            double keep = theta[d][o];
            theta[d][o] = keep + h;
            double up =
                frost_nas_ppo_objective_in(choices, theta, ca, old_logp, adv, B, 0.2, 0.01, NULL);
            theta[d][o] = keep - h;
            double down =
                frost_nas_ppo_objective_in(choices, theta, ca, old_logp, adv, B, 0.2, 0.01, NULL);
            theta[d][o] = keep;
            worst = fmax(worst, fabs((up - down) / (2 * h) - grad[d][o]));
            size = fmax(size, fabs(grad[d][o]));
        }
    CHECK(size > 1e-3);
    CHECK(worst < 1e-6 * fmax(1.0, size));
    CHECK(grad[1][FROST_NAS_CELL] != 0.0);
    /* a decision with fewer options leaves the unused columns alone */
    CHECK(grad[2][2] == 0.0 && grad[2][3] == 0.0 && grad[2][4] == 0.0);
}

/* The latency table's keys: the cell stages' layers carry the cells' hash, the others
 * not; other cells give other keys. */
TEST(test_lut_keys_carry_the_cells)
{
    frost_cell_pair cells = hand_cells(), other = hand_cells();
    other.normal.op[1][1] = FROST_CELL_AVG3;
    frost_nas_space space = frost_nas_space_default(), space2 = space;
    space.cells = &cells;
    space2.cells = &other;
    frost_nas_lut *lut = NULL;
    CHECK(frost_nas_lut_create(1, 1, false, &lut) == FROST_OK);
    if (!lut)
        return;
    frost_nas_genotype g = with_cells();
    enum { MAX = 400 };
    char(*keys)[FROST_NAS_KEY_LEN] = calloc(MAX, FROST_NAS_KEY_LEN);
    int n = 0;
    CHECK(frost_nas_lut_keys(lut, &g, &space, keys, MAX, &n) == FROST_OK);
    char tag[40], tag2[40];
    snprintf(tag, sizeof tag, " cell%016llx", (unsigned long long)frost_nas_cells_hash(&space));
    snprintf(tag2, sizeof tag2, " cell%016llx", (unsigned long long)frost_nas_cells_hash(&space2));
    int tagged = 0;
    for (int i = 0; i < n && i < MAX; i++)
        tagged += strstr(keys[i], tag) != NULL;
    CHECK(tagged > 10 && tagged < n); /* the cell stages' layers, not the MBConv stages' */
    CHECK(n <= MAX);
    int n2 = 0, tagged2 = 0;
    CHECK(frost_nas_lut_keys(lut, &g, &space2, keys, MAX, &n2) == FROST_OK);
    for (int i = 0; i < n2 && i < MAX; i++) {
        CHECK(strstr(keys[i], tag) == NULL);
        tagged2 += strstr(keys[i], tag2) != NULL;
    }
    CHECK_EQ_INT(tagged2, tagged);
    free(keys);
    frost_nas_lut_free(lut);
}

/* ---- a tiny search with a stand-in evaluator ---- */

static frost_status fake_evaluate(const frost_nas_genotype *g, const frost_nas_space *space,
                                  const frost_dataset *train, const frost_dataset *val,
                                  const frost_nas_eval_config *cfg, frost_nas_result *out,
                                  void *user)
{
    (void)space, (void)train, (void)val, (void)cfg;
    (*(int *)user)++;
    uint64_t h = frost_nas_hash(g);
    *out = (frost_nas_result){.int8_acc = 0.5 + 0.1 * cell_stages(g) / 7.0 +
                                          0.3 * (double)(h % 1000) / 1000,
                              .fp32_acc = NAN,
                              .latency_ms = 0.2 + (double)(h >> 20 & 0xff) / 1275,
                              .train_acc = 0.5,
                              .params = 1000,
                              .macs = 10000,
                              .train_seconds = 0.01};
    return FROST_OK;
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; p && (p = strstr(p, what)); p++)
        n++;
    return n;
}

TEST(test_search_with_cells_and_resume)
{
    frost_cell_pair cells = hand_cells(), other = hand_cells();
    other.reduce.op[0][0] = FROST_CELL_MB5;
    frost_dataset train = {.n = 30, .h = 28, .w = 28, .c = 1, .classes = 10};
    frost_dataset val = {.n = 10, .h = 28, .w = 28, .c = 1, .classes = 10};
    train.images = calloc(30 * 28 * 28, 1);
    train.labels = calloc(30, 1);
    val.images = calloc(10 * 28 * 28, 1);
    val.labels = calloc(10, 1);
    char dir[64], out[128];
    snprintf(dir, sizeof dir, "/tmp/frost_blocks_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(out, sizeof out, "%s/run", dir);
    frost_nas_space space = frost_nas_space_default();
    space.cells = &cells;
    int calls = 0;
    frost_nas_search_config cfg = {0};
    cfg.controller = frost_nas_controller_defaults(FROST_NAS_PPO);
    cfg.controller.ppo_batch = 4;
    cfg.budget = 12;
    cfg.reward = frost_nas_reward_soft(0.3);
    cfg.eval = frost_nas_eval_defaults();
    cfg.out_dir = out;
    cfg.evaluate = fake_evaluate;
    cfg.evaluate_user = &calls;
    CHECK(frost_nas_search(&space, &train, &val, &cfg) == FROST_OK);
    CHECK(calls >= 1 && calls <= 12);
    size_t n;
    char *log = frost_test_read_all(frost_test_path(out, "log.csv"), &n);
    char *settings = frost_test_read_all(frost_test_path(out, "search.json"), &n);
    char *best = frost_test_read_all(frost_test_path(out, "best.json"), &n);
    char *arch = frost_test_read_all(frost_test_path(out, "best.arch.json"), &n);
    char hash[32];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)frost_nas_cells_hash(&space));
    CHECK(log && count(log, ".c310") > 0); /* cell blocks were proposed */
    CHECK(settings && strstr(settings, hash) != NULL);
    CHECK(best && arch);
    frost_nas_genotype g;
    CHECK(best && frost_nas_from_json_in(&space, best, &g) == FROST_OK);
    if (best && cell_stages(&g) > 0)
        CHECK(arch && strstr(arch, ".pre") != NULL);
    char *cache = frost_test_read_all(frost_test_path(out, "cache.csv"), &n);
    CHECK(cache && strstr(cache, hash) != NULL); /* the evaluation key names the cells */
    /* resume with the same cells: nothing new is evaluated, same log */
    int before = calls;
    CHECK(frost_nas_search(&space, &train, &val, &cfg) == FROST_OK);
    CHECK_EQ_INT(calls, before);
    char *again = frost_test_read_all(frost_test_path(out, "log.csv"), &n);
    CHECK(log && again && strcmp(log, again) == 0);
    /* other cells, or none: refused, and the message says why */
    frost_nas_space space2 = space, plain = frost_nas_space_default();
    space2.cells = &other;
    CHECK(frost_nas_search(&space2, &train, &val, &cfg) != FROST_OK);
    CHECK(strstr(frost_last_error(), "with cells") && strstr(frost_last_error(), "--blocks"));
    CHECK(frost_nas_search(&plain, &train, &val, &cfg) != FROST_OK);
    CHECK(strstr(frost_last_error(), "without cells") != NULL);
    CHECK_EQ_INT(calls, before);
    free(log);
    free(again);
    free(settings);
    free(best);
    free(arch);
    free(cache);
    frost_dataset_free(&train);
    frost_dataset_free(&val);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    RUN(test_choices_without_and_with_cells);
    RUN(test_canonical_cell_block);
    RUN(test_sampling_and_forms_with_cells);
    RUN(test_cell_genotypes_refused_without_cells);
    RUN(test_cell_blocks_build_and_follow_the_rules);
    RUN(test_sampled_networks_with_cells_run);
    RUN(test_controllers_over_five_blocks);
    RUN(test_ppo_gradient_with_five_blocks);
    RUN(test_lut_keys_carry_the_cells);
    RUN(test_search_with_cells_and_resume);
    return frost_test_summary();
}
