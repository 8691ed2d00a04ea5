/*
 * Quantization-aware architecture search (MnasNet-style, arXiv 1807.11626; docs/nas.md,
 * which also covers FrostNet's search): the search space and the reward.
 *
 * The space is factorized over the seven stages of a MobileNetV2 skeleton (t, c, n, s):
 * (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1). Each
 * stage picks its block type (MBConv, Frost bottleneck with SC ratio 2 or 4, plain
 * depthwise-separable), kernel {3, 5}, expansion {1, 3, 6}, layer count {-1, 0, +1} and
 * width {0.75, 1, 1.25} against the skeleton; the genotype also picks the input
 * resolution (for 28x28 data: 20, 24 or 28; images are resized bilinearly). Every layer
 * of a stage is the same block; the first one carries the stride. A space given searched
 * cells (frost_nas_space.cells) offers them as a fifth block type (FROST_NAS_CELL).
 *
 * Genotypes are canonical: combinations that would build the same network are repaired
 * to one representative (frost_nas_canonical), so that a genotype maps one-to-one to an
 * architecture JSON: a depthwise-separable block has no expansion (e = 1); a Frost
 * bottleneck with e = 1 has neither SC nor expansion, which is an MBConv with e = 1; a
 * stage of one layer cannot lose it.
 */
#ifndef FROST_NAS_H
#define FROST_NAS_H

#include <stdbool.h>
#include <stdint.h>

#include "frost/cell.h"
#include "frost/comm.h"
#include "frost/data.h"
#include "frost/model.h"
#include "frost/status.h"

#define FROST_NAS_STAGES 7

typedef enum {
    FROST_NAS_MBCONV = 0,  /* inverted residual: 1x1 expand, k x k depthwise, 1x1 project */
    FROST_NAS_FROST_R2,    /* Frost bottleneck, SC module with squeeze ratio 2 */
    FROST_NAS_FROST_R4,    /* Frost bottleneck, squeeze ratio 4 */
    FROST_NAS_DWSEP,       /* depthwise-separable: k x k depthwise, 1x1 project */
    FROST_NAS_BLOCK_COUNT, /* the blocks every space offers */
    /* a searched cell (frost cell-search): only in a space with cells (frost_nas_space.cells);
     * stride 1 builds the normal cell, stride 2 the reduction cell; kernel and expansion do
     * not apply (canonical 3 and 1); C = make_div8(cout / 2) inside, 2C out, no residual */
    FROST_NAS_CELL = FROST_NAS_BLOCK_COUNT,
    FROST_NAS_BLOCK_ALL /* the blocks of a space with cells */
} frost_nas_block;

typedef struct {
    int block;  /* frost_nas_block */
    int kernel; /* 3 or 5 */
    int expand; /* 1, 3 or 6 */
    int layers; /* -1, 0, +1 against the skeleton */
    int width;  /* percent of the skeleton's channels: 75, 100 or 125 */
} frost_nas_stage;

typedef struct {
    int resolution; /* input side in pixels (FROST_NAS_RESOLUTIONS) */
    frost_nas_stage stage[FROST_NAS_STAGES];
} frost_nas_genotype;

/* How a genotype becomes a model: the data's input and classes, and the width of the
 * whole network (the skeleton's channels scaled as in MobileNetV2, before each stage's
 * own width choice). */
typedef struct {
    int input; /* the data's side (28 for Fashion-MNIST); resolutions never exceed it */
    int in_channels;
    int classes;
    float width; /* global multiplier, e.g. 0.35 for short proxy training */
    int head;    /* last 1x1 conv width (1280 in MobileNetV2); 0 = 1280 scaled by width */
    /* Searched cells as a fifth block type (frost search --blocks DIR; docs/nas.md, "Cells as
     * blocks"); NULL: none, and the space is the four-block one. Not owned. */
    const frost_cell_pair *cells;
} frost_nas_space;

frost_nas_space frost_nas_space_default(void); /* Fashion-MNIST, width 0.35, head 0, no cells */

/* The identity of the space's cells: FNV-1a of their canonical JSON
 * (frost_cell_pair_to_json), 0 without cells. Cache keys, search.json and the latency
 * table's keys carry it, so results of other cells are never reused. */
uint64_t frost_nas_cells_hash(const frost_nas_space *space);

/* The resolutions a space offers: its input side times 0.7, 0.85 and 1, rounded to a
 * multiple of 4 (28 -> 20, 24, 28). */
#define FROST_NAS_RESOLUTIONS 3
int frost_nas_resolution(const frost_nas_space *space, int option);

/* The decisions, in the order the controllers see them: resolution, then per stage
 * block, kernel, expansion, layers, width. Each has frost_nas_space_choices(space, i)
 * options: the block has 4 in a space without cells, 5 with (option 4 = FROST_NAS_CELL).
 * frost_nas_choices(i) is the count without cells. */
#define FROST_NAS_DECISIONS (1 + 5 * FROST_NAS_STAGES)
int frost_nas_space_choices(const frost_nas_space *space, int decision); /* space may be NULL */
int frost_nas_choices(int decision);
const char *frost_nas_decision_name(int decision); /* "resolution", "s3.kernel", ... */
/* Genotype <-> option indices (index[i] in 0..frost_nas_space_choices(space, i)-1). */
frost_status frost_nas_to_indices(const frost_nas_genotype *g, const frost_nas_space *space,
                                  int index[FROST_NAS_DECISIONS]);
frost_status frost_nas_from_indices(const int index[FROST_NAS_DECISIONS],
                                    const frost_nas_space *space, frost_nas_genotype *g);

/* Repairs g to its canonical representative (see above); returns true if it changed. */
bool frost_nas_canonical(frost_nas_genotype *g);
/* FROST_OK if every field holds an allowed value of this space (canonical or not); a cell
 * block is refused in a space without cells. */
frost_status frost_nas_check(const frost_nas_genotype *g, const frost_nas_space *space);
bool frost_nas_equal(const frost_nas_genotype *a, const frost_nas_genotype *b);

/* Uniform over the option indices, then made canonical. *rng_state: any seed. */
void frost_nas_sample(const frost_nas_space *space, uint64_t *rng_state, frost_nas_genotype *g);

/* A short stable text form, e.g. "r28.m360n.f53+s..." (also the cache key), and its 64-bit
 * FNV-1a hash. Block letters m, f, g, d, and c for a cell block; frost_nas_from_string
 * parses in the default space (no cells: it refuses 'c'), _in in `space` (NULL: the
 * default). Both parsers, text and JSON, refuse a value the space does not offer
 * (frost_nas_check). */
void frost_nas_to_string(const frost_nas_genotype *g, char *buf, int size);
frost_status frost_nas_from_string(const char *s, frost_nas_genotype *g);
frost_status frost_nas_from_string_in(const frost_nas_space *space, const char *s,
                                      frost_nas_genotype *g);
uint64_t frost_nas_hash(const frost_nas_genotype *g);

/* The genotype as JSON ({"resolution": 28, "stages": [{"block": "mbconv", "kernel": 3,
 * "expand": 6, "layers": 0, "width": 100}, ...]}; block "cell" for a cell block; malloc'd,
 * NULL when out of memory) and back (every field checked; "cell" only by _in in a space
 * with cells). */
char *frost_nas_to_json(const frost_nas_genotype *g);
frost_status frost_nas_from_json(const char *text, frost_nas_genotype *g);
frost_status frost_nas_from_json_in(const frost_nas_space *space, const char *text,
                                    frost_nas_genotype *g);

/* The network: a model named "nas-<string form>" built from the canonical genotype
 * (input side = the genotype's resolution). A cell block in a stage of cout channels
 * works on C = frost_nas_cell_channels(cout) and outputs 2C, which is cout rounded up to a
 * multiple of 16 (it exceeds cout when cout / 2 is not a multiple of 8). */
int frost_nas_cell_channels(int cout);
frost_status frost_nas_build(const frost_nas_genotype *g, const frost_nas_space *space,
                             frost_model **out);

/* ---- candidate evaluation ---- */

/* The proxy task: QAT from scratch with StatAssist (float epochs first, inside `epochs`)
 * and GradBoost, W8A8 per-channel by default (or fewer bits, per-tensor weights), then the
 * int8 model's accuracy on held-out images and its latency on frost's engine, and the
 * same trained network's accuracy in float (every fake-quant bypassed). */
typedef struct {
    int epochs;          /* proxy training epochs (3) */
    int fp_epochs;       /* StatAssist: float epochs before fake-quant starts (1) */
    bool gradboost;      /* GradBoost Q-optimizer (true) */
    int batch;           /* 64 */
    float lr;            /* SGD Nesterov, cosine with one warm-up epoch (0.1) */
    uint64_t seed;       /* init, shuffling, augmentation (1) */
    int train_threads;   /* 0 = all cores */
    int latency_threads; /* threads for the latency measurement (1) */
    int latency_reps;    /* timed runs; the median counts (30) */
    bool float_requant;  /* int8 with float requantization (default: fixed point) */
    int weight_bits;     /* fake-quant bits of the weights, 2..8 (8); the int8 model stores
                          * fewer bits in int8 containers */
    int act_bits;        /* of the activations, 2..8 (8) */
    bool per_tensor;     /* one weight scale per layer instead of per output channel */
} frost_nas_eval_config;

frost_nas_eval_config frost_nas_eval_defaults(void);

typedef struct {
    double int8_acc;      /* top-1 of the int8 model on the validation images, 0..1 */
    double fp32_acc;      /* top-1 of the same trained network in float (fake-quant off, its
                           * float weights, BN in inference) on the same images; NAN when
                           * unknown (logs and caches written before it was measured) */
    double latency_ms;    /* median batch-1 latency of the int8 model */
    double train_acc;     /* last epoch's running training accuracy (fake-quant) */
    int64_t params, macs; /* per image */
    double train_seconds;
} frost_nas_result;

/* Evaluates genotype g. train / val: images at the space's input size (the genotype's
 * resolution is applied here); val must be held out of training (never the test set). */
frost_status frost_nas_evaluate(const frost_nas_genotype *g, const frost_nas_space *space,
                                const frost_dataset *train, const frost_dataset *val,
                                const frost_nas_eval_config *cfg, frost_nas_result *out);

/* The same proxy for any float model (hand-designed reference points such as the zoo's
 * MobileNetV2 and FrostNet-S): m is quantized and trained in place; train / val are
 * resized to its input side. */
frost_status frost_nas_evaluate_model(frost_model *m, const frost_dataset *train,
                                      const frost_dataset *val, const frost_nas_eval_config *cfg,
                                      frost_nas_result *out);

/* One JSON object on one line: {"genotype": "r28...", "hash": "...", "int8_acc": ..,
 * "latency_ms": .., "train_acc": .., "params": .., "macs": .., "train_seconds": ..,
 * "fp32_acc": ..} (fp32_acc null when unknown)
 * (malloc'd; NULL when out of memory). */
char *frost_nas_result_json(const frost_nas_genotype *g, const frost_nas_result *r);

/* MnasNet reward ACC * (LAT / T)^w, w = alpha if LAT <= T else beta. Soft: alpha = beta =
 * -0.07; hard: alpha = 0, beta = -1. */
typedef struct {
    double target_ms, alpha, beta;
} frost_nas_reward;

frost_nas_reward frost_nas_reward_soft(double target_ms);
frost_nas_reward frost_nas_reward_hard(double target_ms);
double frost_nas_reward_value(const frost_nas_reward *r, double accuracy, double latency_ms);

/* The ACC of the reward: the int8 accuracy (default), or min(fp32_acc, int8_acc), FrostNet's
 * criterion that a network only scores if it holds up both in float and quantized
 * (docs/nas.md, "Objective"). */
typedef enum { FROST_NAS_OBJECTIVE_INT8 = 0, FROST_NAS_OBJECTIVE_MIN } frost_nas_objective;

int frost_nas_objective_from_name(const char *name); /* "int8", "min"; -1 */
const char *frost_nas_objective_name(frost_nas_objective o);
/* The objective's accuracy of r (an unknown fp32_acc counts as the int8 one). */
double frost_nas_objective_acc(frost_nas_objective o, const frost_nas_result *r);

/* ---- controllers and the search ---- */

typedef enum {
    FROST_NAS_RANDOM = 0, /* uniform over the decisions */
    FROST_NAS_EVOLUTION,  /* regularized evolution (Real et al. 2019): tournament, one
                           * mutation, the oldest member dies */
    FROST_NAS_RL,         /* REINFORCE over independent per-decision softmax policies */
    FROST_NAS_PPO         /* the same policy trained with PPO's clipped surrogate (MnasNet's
                           * choice): batches of ppo_batch proposals, ppo_epochs steps each */
} frost_nas_controller_kind;

typedef struct {
    frost_nas_controller_kind kind;
    uint64_t seed;
    int population, tournament;         /* evolution (20, 5); the first `population` are random */
    double lr, entropy, baseline_decay; /* RL (0.1, 0.001, 0.95); PPO (lr 2.0, entropy 0.001) */
    int ppo_batch, ppo_epochs;          /* PPO: proposals per update (10), steps per batch (4) */
    double ppo_clip;                    /* PPO: the ratio is clipped to 1 +- this (0.2) */
} frost_nas_controller_config;

frost_nas_controller_config frost_nas_controller_defaults(frost_nas_controller_kind kind);
int frost_nas_controller_from_name(const char *name); /* "rl", "ppo", "evolution", "random"; -1 */
const char *frost_nas_controller_name(frost_nas_controller_kind kind);

typedef struct frost_nas_controller frost_nas_controller;
frost_status frost_nas_controller_create(const frost_nas_controller_config *cfg,
                                         const frost_nas_space *space, frost_nas_controller **out);
void frost_nas_controller_free(frost_nas_controller *c);
/* The next candidate (canonical). Deterministic: the same seed and the same sequence of
 * observed rewards give the same proposals, which is how a search resumes. */
frost_status frost_nas_propose(frost_nas_controller *c, frost_nas_genotype *g);
/* The reward of the candidate last proposed. */
frost_status frost_nas_observe(frost_nas_controller *c, double reward);
/* RL and PPO: probability of option o of decision d (for reports and tests); -1 otherwise. */
double frost_nas_policy_prob(const frost_nas_controller *c, int decision, int option);

/* ---- latency predictor ---- */

/* A per-layer latency table of the int8 engine on this machine (as MnasNet's and OFA's
 * lookup tables): each int8 layer's configuration (op, input and output shape, kernel,
 * stride, groups) maps to its median latency, measured inside whole networks of random
 * genotypes (random weights calibrated on random images: latency does not depend on the
 * values). A network's predicted latency is the sum over its layers; layers the table
 * lacks are estimated by a per-op linear fit of latency on work (MACs, or values moved). */
typedef struct frost_nas_lut frost_nas_lut;

frost_status frost_nas_lut_create(int threads, int reps, bool float_requant, frost_nas_lut **out);
void frost_nas_lut_free(frost_nas_lut *lut);
int frost_nas_lut_size(const frost_nas_lut *lut);
/* Measures g's int8 network at the table's thread count: *ms = median whole-model latency;
 * with record, every layer's median goes into the table. */
frost_status frost_nas_lut_measure(frost_nas_lut *lut, const frost_nas_genotype *g,
                                   const frost_nas_space *space, bool record, double *ms);
/* The layer keys of g's int8 network in layer order ("conv 14x14x48>14x14x288 k1 s1 g1";
 * a layer of a cell block adds " cell<frost_nas_cells_hash, 16 hex digits>"):
 * up to max keys of FROST_NAS_KEY_LEN bytes into keys, their count in *n. */
#define FROST_NAS_KEY_LEN 96
frost_status frost_nas_lut_keys(const frost_nas_lut *lut, const frost_nas_genotype *g,
                                const frost_nas_space *space, char (*keys)[FROST_NAS_KEY_LEN],
                                int max, int *n);
/* Adds a measurement of one layer (tables measured elsewhere, e.g. on a device); op is
 * the layer's op name ("conv", "add", ...), work its MACs (or values moved). */
frost_status frost_nas_lut_record(frost_nas_lut *lut, const char *key, const char *op, double work,
                                  double ms);
/* Predicted latency of g; *layers, *missing (may be NULL): layers, and those estimated. */
frost_status frost_nas_lut_predict(const frost_nas_lut *lut, const frost_nas_genotype *g,
                                   const frost_nas_space *space, double *ms, int *layers,
                                   int *missing);

/* ---- the search (frost search) ---- */

/* Progress of a running search, handed to the caller's callback (the library prints
 * nothing; frost search turns these into its progress or JSON lines). */
typedef enum {
    FROST_NAS_EVENT_RESUMED = 0, /* once, at the start of a search that resumes its log */
    FROST_NAS_EVENT_CANDIDATE    /* after each candidate is evaluated (or cached) and logged */
} frost_nas_event;

typedef struct {
    frost_nas_event event;
    int budget;  /* evaluations the search logs in all: its candidates (with halving, its
                  * proposals and their promotions) */
    int resumed; /* evaluations already in the log when this run started */
    /* FROST_NAS_EVENT_CANDIDATE only: */
    int step; /* 1..budget, the line of log.csv */
    const frost_nas_genotype *genotype;
    const char *genotype_text; /* frost_nas_to_string of it */
    frost_nas_result result;
    double reward;
    bool cached;                  /* the result came from the cache: nothing was trained */
    double best_reward;           /* the best full-budget reward so far, this candidate and the
                                   * log included (NAN before the first full-budget result) */
    double seconds_per_candidate; /* wall time of this run per candidate it trained (0: none) */
    int rung, rungs;  /* successive halving: this evaluation's rung, 0..rungs-1 (rungs - 1 is
                       * the full proxy budget); without halving 0 and 1 */
    int train_images; /* the training images this evaluation used */
    bool screened;    /* not trained: the latency table predicted it too slow (result holds
                       * the prediction and a stand-in accuracy; see screen_factor) */
    bool failed;      /* its training or int8 conversion failed numerically (diverged, an
                       * unconvertible layer): accuracies and latency 0, reward 0, never
                       * the best; the search goes on (docs/nas.md) */
} frost_nas_progress;

typedef void (*frost_nas_progress_fn)(const frost_nas_progress *ev, void *user);

/* Evaluates a candidate, as frost_nas_evaluate (which is what the search uses unless a
 * test injects a cheap stand-in); user: frost_nas_search_config.evaluate_user. */
typedef frost_status (*frost_nas_evaluate_fn)(const frost_nas_genotype *g,
                                              const frost_nas_space *space,
                                              const frost_dataset *train, const frost_dataset *val,
                                              const frost_nas_eval_config *cfg,
                                              frost_nas_result *out, void *user);

/* Successive halving (Jamieson & Talwalkar 2016; one Hyperband bracket, Li et al.,
 * arXiv:1603.06560): the controller's proposals come in brackets of eta^rungs; each is
 * evaluated on train->n * eta^-rungs training images (rung 0) and its reward observed by
 * the controller; the best 1/eta by reward are evaluated again on eta times more images
 * (rung 1), and so on up to rung `rungs`, the full proxy budget. */
typedef struct {
    int eta;   /* 0: off (every proposal at the full budget); else >= 2 (3) */
    int rungs; /* rungs above the first (2: 1/9, 1/3, all the images) */
} frost_nas_halving;

typedef struct {
    frost_nas_controller_config controller;
    int budget; /* candidates to propose (cache hits count, cost no training) */
    frost_nas_reward reward;
    frost_nas_eval_config eval;
    const char *out_dir;    /* log.csv, pareto.csv, best.json, best.arch.json, search.json
                             * (the settings, checked on resume) */
    const char *cache_path; /* results by genotype, shared between runs (NULL: out/cache.csv) */
    frost_nas_progress_fn progress; /* NULL: no progress reports */
    void *progress_user;            /* passed to progress */
    frost_nas_halving halving;      /* {0}: off */
    /* Latency screening (0: off): a candidate the latency table (built at the start from
     * screen_nets random networks, 30 in frost search) predicts slower than screen_factor *
     * target_ms is not trained; it is logged as screened with the predicted latency and
     * the worst trained accuracy of its rung so far (0 before any) as its accuracy, and is
     * left out of the front and the best. */
    double screen_factor;
    int screen_nets;
    /* Screening's table when given (e.g. measured on a device with frost_nas_lut_record);
     * NULL: built at the start as above. Borrowed: the caller frees it. */
    const frost_nas_lut *screen_lut;
    frost_nas_evaluate_fn evaluate; /* NULL: frost_nas_evaluate (tests inject a stand-in) */
    void *evaluate_user;            /* passed to evaluate */
    /* The reward's accuracy (int8 by default); the front and the best follow it, and the
     * screened candidates' stand-in accuracy is the worst of it. */
    frost_nas_objective objective;
    /* A distributed search (docs/distributed.md) when it has two ranks or more: every rank
     * calls frost_nas_search with the same settings and data; rank 0 runs the controller and
     * the halving, writes every file and reports progress; the other ranks evaluate the
     * candidates rank 0 sends them and write nothing. The log is the same as on one rank.
     * NULL (or one rank): everything here. Borrowed. */
    frost_comm *comm;
} frost_nas_search_config;

/* Runs (or resumes: the log's candidates are replayed through the controller, which must
 * propose them again) a search of `budget` candidates on train / val (val held out of
 * training), then writes the Pareto front (the objective's accuracy vs latency) and the best
 * candidate by reward, both from full-budget evaluations only. With halving, budget counts
 * the controller's proposals (a multiple of eta^rungs) and log.csv also holds the
 * lower-rung evaluations (its rung and train_images columns). (frost search also plots
 * out_dir/candidates.svg from log.csv and pareto.csv.) */
frost_status frost_nas_search(const frost_nas_space *space, const frost_dataset *train,
                              const frost_dataset *val, const frost_nas_search_config *cfg);

#endif
