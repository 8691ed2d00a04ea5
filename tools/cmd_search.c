/* frost search: quantization-aware architecture search with measured int8 latency. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "frost/nas.h"
#include "search_plot.h"

static const char *const help =
    "usage: frost search --target-ms T --budget N --out DIR [options]\n"
    "MnasNet-style search over a MobileNetV2 skeleton (docs/nas.md): each candidate is\n"
    "trained with QAT from scratch (StatAssist + GradBoost) on a subset of the training\n"
    "images, converted to int8 and scored by reward ACC * (LAT / T)^w with its int8\n"
    "accuracy on held-out training images (never the test set) and its int8 latency\n"
    "measured on this machine. Prints a line per candidate; writes DIR/log.csv (every\n"
    "candidate), DIR/pareto.csv (accuracy vs latency front), DIR/candidates.svg,\n"
    "DIR/best.json and DIR/best.arch.json (by reward). Rerun the same command after an\n"
    "interruption to continue; a larger --budget extends a finished search.\n\n"
    "  --target-ms T       latency target T (ms, batch 1, --latency-threads)\n"
    "  --budget N          candidates to propose\n"
    "  -o, --out DIR       output folder\n"
    "  --controller C      rl (default, REINFORCE), ppo, evolution or random\n"
    "  --reward soft|hard  soft: w = -0.07 on both sides (default); hard: 0 below T, -1 above\n"
    "  --objective int8|min  the reward's ACC: the int8 accuracy (default) or the lower of\n"
    "                      the float and the int8 accuracy of the trained candidate\n"
    "                      (FrostNet: it must hold up in both)\n"
    "  --seed S            controller seed (default 1)\n"
    "  --population N --tournament N   evolution (20, 5)\n"
    "  --rl-lr X --entropy X           REINFORCE (0.1, 0.001); PPO (2.0, 0.001)\n"
    "  --ppo-batch N --ppo-epochs K --ppo-clip X   PPO: proposals per update (10, >= 2),\n"
    "                      steps on each batch (4), ratio clip (0.2)\n"
    "  --halving ETA       successive halving: brackets of ETA^R proposals trained on\n"
    "                      1/ETA^R of --train, the best 1/ETA of each rung again on ETA\n"
    "                      times more, up to all of --train (the front and best use those\n"
    "                      only); --budget counts proposals, whole brackets (off; 3 is usual)\n"
    "  --halving-rungs R   rungs above the first (2: 1/9, 1/3, all the images at ETA 3)\n"
    "  --screen-factor F   do not train a candidate whose latency the per-layer table\n"
    "                      predicts above F * T (logged as screened, reward from the worst\n"
    "                      accuracy so far; off; 1.5 is usual)\n"
    "  --screen-nets N     random networks measured for that table at the start (30)\n"
    "  --cache FILE        results by genotype shared between searches (default DIR/cache.csv)\n"
    "  --json              one JSON line per candidate instead of the progress lines\n"
    "  --blocks DIR        the cells of DIR/cell.json (frost cell-search) as a fifth block\n"
    "                      type, letter c (docs/nas.md, \"Cells as blocks\"); part of the\n"
    "                      cache key and of search.json: resume with the same cells\n"
    "candidate evaluation (as frost eval-candidate):\n"
    "  --train N --val N --epochs E --fp-epochs E --no-gradboost --batch N --lr X\n"
    "  --width W --threads N --latency-threads N --reps N --requant fixed|float\n"
    "  --w-bits B --a-bits B --per-tensor   the candidates' fake-quant scheme (W8A8\n"
    "                      per-channel); part of the cache key and of "
    "search.json\n\n"
    "distributed: mpirun -np N frost search ... (N >= 2, an MPI build; docs/distributed.md):\n"
    "rank 0 runs the controller and writes every file, ranks 1..N-1 train the candidates\n"
    "it can hand out ahead (the proposals a controller makes without new rewards: random,\n"
    "evolution's initial population, a PPO batch; successive halving's promotions); the log\n"
    "is the same as on one rank. Give every rank's --threads (cores per rank); latency is\n"
    "timed by one rank at a time while the others train. After a failure, rerun the same\n"
    "command (any N) to resume.\n\n" CLI_DATA_HELP;

static const cli_opt options[] = {
    CLI_OPT_FLOAT("target-ms", 1e-4, 1e6),
    CLI_OPT_INT("budget", 1, 1000000),
    CLI_OPT_OUT_DIR,
    CLI_OPT_LOOKUP("controller", "rl|ppo|evolution|random", frost_nas_controller_from_name),
    CLI_OPT_CHOICE("reward", "soft|hard"),
    CLI_OPT_LOOKUP("objective", "int8|min", frost_nas_objective_from_name),
    CLI_OPT_INT("seed", 0, 1 << 30),
    CLI_OPT_INT("population", 2, 100000),
    CLI_OPT_INT("tournament", 1, 100000),
    CLI_OPT_FLOAT("rl-lr", 1e-6, 100.0),
    CLI_OPT_FLOAT("entropy", 0.0, 10.0),
    CLI_OPT_INT("ppo-batch", 2, 100000),
    CLI_OPT_INT("ppo-epochs", 1, 1000),
    CLI_OPT_FLOAT("ppo-clip", 1e-3, 0.999),
    CLI_OPT_INT("halving", 2, 100),
    CLI_OPT_INT("halving-rungs", 1, 7),
    CLI_OPT_FLOAT("screen-factor", 0.01, 100.0),
    CLI_OPT_INT("screen-nets", 1, 10000),
    CLI_OPT_STR("cache"),
    CLI_OPT_FLAG("json"),
    CLI_OPT_END,
};

/* --json: one JSON object per candidate (bench/nas and external schedulers parse it). */
static void print_json_line(const frost_nas_progress *ev)
{
    if (ev->event != FROST_NAS_EVENT_CANDIDATE)
        return;
    char *j = frost_nas_result_json(ev->genotype, &ev->result), rung[64] = "";
    if (ev->rungs > 1) /* successive halving */
        snprintf(rung, sizeof rung, "\"rung\":%d,\"train_images\":%d,", ev->rung, ev->train_images);
    if (j)
        printf("{\"step\":%d,\"reward\":%.6f,\"cached\":%s,%s%s\"result\":%s}\n", ev->step,
               ev->reward, ev->cached ? "true" : "false", rung,
               ev->screened ? "\"screened\":true,"
               : ev->failed ? "\"failed\":true,"
                            : "",
               j);
    free(j);
}

/* The progress lines: one on resuming, one per candidate. */
static void print_progress_line(const frost_nas_progress *ev)
{
    if (ev->event == FROST_NAS_EVENT_RESUMED) {
        printf("resumed: %d of %d candidates already in the log\n", ev->resumed, ev->budget);
        return;
    }
    char rung[64] = "", best[32] = "-";
    if (ev->rungs > 1) /* successive halving: which rung, on how many images */
        snprintf(rung, sizeof rung, "  rung %d/%d (%d images)", ev->rung, ev->rungs - 1,
                 ev->train_images);
    if (ev->best_reward == ev->best_reward) /* NAN until a full-budget result */
        snprintf(best, sizeof best, "%.4f", ev->best_reward);
    if (ev->failed) {
        printf("[%*d/%d] %s%s  failed: its training or int8 conversion broke down (reward 0; "
               "frost eval-candidate %s with the search's options says why)  best %s\n",
               ev->budget >= 1000 ? 4 : 3, ev->step, ev->budget, ev->genotype_text, rung,
               ev->genotype_text, best);
        return;
    }
    printf("[%*d/%d] %s%s  int8 %.2f%%  %.4f ms  reward %.4f%s  best %s  (%.0fs/candidate)\n",
           ev->budget >= 1000 ? 4 : 3, ev->step, ev->budget, ev->genotype_text, rung,
           100 * ev->result.int8_acc, ev->result.latency_ms, ev->reward,
           ev->cached     ? " (cached)"
           : ev->screened ? " (screened, predicted latency)"
                          : "",
           best, ev->seconds_per_candidate);
}

static void on_progress(const frost_nas_progress *ev, void *user)
{
    bool json = *(const bool *)user;
    if (json)
        print_json_line(ev);
    else
        print_progress_line(ev);
    fflush(stdout); /* a candidate takes minutes: show it as it comes */
}

/* One word for a shell command line: as is when it holds only safe characters, else in
 * single quotes (a ' inside written as '\''). */
static void print_shell_word(const char *w)
{
    if (*w &&
        strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:+,@") ==
            strlen(w)) {
        fputs(w, stdout);
        return;
    }
    putchar('\'');
    for (; *w; w++) {
        if (*w == '\'')
            fputs("'\\''", stdout);
        else
            putchar(*w);
    }
    putchar('\'');
}

static void print_path(const char *dir, const char *file)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    print_shell_word(path);
}

/* The search's own data options, repeated on the commands that use the same data. */
static void print_data_options(const cli_args *a)
{
    static const char *const names[] = {"data", "train-images", "train-labels", "test-images",
                                        "test-labels"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (cli_given(a, names[i])) {
            printf(" --%s ", names[i]);
            print_shell_word(cli_str(a, names[i], ""));
        }
}

/* The commands that make the best network a finished int8 model: the candidates' recipe
 * (QAT from scratch, the StatAssist float epochs, GradBoost, SGD with the search's lr
 * (cosine) and batch) for 6 epochs on all training images but the 5000 held out, then
 * convert and run. best.arch.json holds the concrete channels (the search's --width is
 * built in) and its input side; train, convert and run resize the 28x28 data to it. */
static void print_next_steps(const cli_args *a, const char *dir, const frost_nas_eval_config *e,
                             const char *cells)
{
    printf("to train the best network fully (as the candidates were, at full data) and make "
           "it an int8 model");
    if (*cells) /* the arch file is the built network: it needs no --blocks any more */
        printf(" (best.arch.json has the cell blocks of %s built in)", cells);
    printf(":\n  frost train --arch ");
    print_path(dir, "best.arch.json");
    printf(" --qat --qat-delay %d%s --opt sgd --lr %g --sched cosine --batch %d --epochs 6 "
           "--val 5000",
           e->fp_epochs, e->gradboost ? " --gradboost" : "", (double)e->lr, e->batch);
    if (e->weight_bits != 8)
        printf(" --w-bits %d", e->weight_bits);
    if (e->act_bits != 8)
        printf(" --a-bits %d", e->act_bits);
    if (e->per_tensor)
        printf(" --per-tensor");
    print_data_options(a);
    printf(" -o ");
    print_path(dir, "best.safetensors");
    printf("\n  frost convert ");
    print_path(dir, "best.safetensors");
    printf("%s -o ", e->float_requant ? " --requant float" : "");
    print_path(dir, "best.int8");
    printf("\n  frost run ");
    print_path(dir, "best.int8");
    print_data_options(a);
    printf("\n");
}

/* FROST_TEST_DIE_AFTER=n (tests only): rank 1 of a distributed search crashes in the middle
 * of its (n+1)-th candidate: it works on it for 3 s (the other workers go on meanwhile) and
 * then ends abruptly, without a word to the other ranks. */
static int evaluations_left = -1;

static frost_status evaluate_or_die(const frost_nas_genotype *g, const frost_nas_space *space,
                                    const frost_dataset *train, const frost_dataset *val,
                                    const frost_nas_eval_config *cfg, frost_nas_result *out,
                                    void *user)
{
    (void)user;
    if (evaluations_left-- == 0) {
        sleep(3);
        fprintf(stderr, "frost search (rank 1): FROST_TEST_DIE_AFTER: exiting\n");
        _exit(3);
    }
    return frost_nas_evaluate(g, space, train, val, cfg, out);
}

/* Why N ranks would have nothing to do in parallel, or NULL. */
static const char *nothing_in_parallel(const frost_nas_search_config *cfg)
{
    if (cfg->controller.kind == FROST_NAS_RL && !cfg->halving.eta)
        return "the rl controller waits for each reward before its next proposal, so only one "
               "candidate is ever ready: use --controller ppo, evolution or random, or "
               "--halving (its promotions run in parallel)";
    if (cfg->budget < 2)
        return "--budget 1 is a single candidate";
    return NULL;
}

/* Runs the search on every rank (the workers' part is inside frost_nas_search); only rank
 * 0 prints and writes files, a worker reports only its own error, naming its rank. */
static int search_on_ranks(frost_comm *comm, const cli_args *a, frost_nas_search_config *cfg,
                           const frost_nas_space *space, const frost_dataset *tr,
                           const frost_dataset *va, const char *cells_path)
{
    int rank = frost_comm_rank(comm);
    bool json = *(const bool *)cfg->progress_user;
    cfg->comm = frost_comm_size(comm) > 1 ? comm : NULL;
    frost_status s = frost_nas_search(space, tr, va, cfg);
    if (rank != 0) {
        if (s != FROST_OK)
            fprintf(stderr, "frost search (rank %d): error: %s\n", rank, frost_last_error());
        return s == FROST_OK ? 0 : 1;
    }
    if (s == FROST_OK)
        s = search_write_plot(cfg->out_dir);
    if (s != FROST_OK)
        return cli_error("search");
    if (!json) {
        printf("wrote %s/log.csv, pareto.csv, candidates.svg, best.json, best.arch.json\n",
               cfg->out_dir);
        print_next_steps(a, cfg->out_dir, &cfg->eval, cells_path);
    }
    return 0;
}

static int search_command(frost_comm *comm, int argc, char **argv);

int cmd_search(int argc, char **argv)
{
    frost_comm *comm = NULL;
    if (frost_comm_create(&comm) != FROST_OK)
        return cli_error("search");
    int code = search_command(comm, argc, argv);
    frost_comm_destroy(comm);
    return code;
}

static int search_command(frost_comm *comm, int argc, char **argv)
{
    int rank = frost_comm_rank(comm), ranks = frost_comm_size(comm);
    if (rank != 0 && !freopen("/dev/null", "w", stdout)) /* rank 0 speaks for the job */
        return 1;
    static const cli_opt *const tables[] = {options, cli_nas_eval_options, cli_data_options, NULL};
    static const cli_spec spec = {"search", help, tables, 0};
    cli_args a;
    if (!cli_parse(&a, &spec, argc, argv))
        return a.exit_code;
    frost_nas_search_config cfg = {0};
    double target = cli_float(&a, "target-ms", 0.0f);
    cfg.budget = cli_int(&a, "budget", 0);
    cfg.out_dir = cli_str(&a, "out", NULL);
    const char *reward = cli_str(&a, "reward", "soft");
    int kind = cli_choice(&a, "controller", FROST_NAS_RL);
    cfg.controller = frost_nas_controller_defaults(kind);
    cfg.objective = cli_choice(&a, "objective", FROST_NAS_OBJECTIVE_INT8);
    cfg.controller.seed = (uint64_t)cli_int(&a, "seed", 1);
    cfg.controller.population = cli_int(&a, "population", cfg.controller.population);
    cfg.controller.tournament = cli_int(&a, "tournament", cfg.controller.tournament);
    cfg.controller.lr = cli_float(&a, "rl-lr", (float)cfg.controller.lr);
    cfg.controller.entropy = cli_float(&a, "entropy", (float)cfg.controller.entropy);
    cfg.controller.ppo_batch = cli_int(&a, "ppo-batch", cfg.controller.ppo_batch);
    cfg.controller.ppo_epochs = cli_int(&a, "ppo-epochs", cfg.controller.ppo_epochs);
    cfg.controller.ppo_clip = cli_float(&a, "ppo-clip", (float)cfg.controller.ppo_clip);
    cfg.halving.eta = cli_int(&a, "halving", 0);
    cfg.halving.rungs = cfg.halving.eta ? cli_int(&a, "halving-rungs", 2) : 0;
    cfg.screen_factor = cli_float(&a, "screen-factor", 0.0f);
    cfg.screen_nets = cli_int(&a, "screen-nets", 30);
    cfg.cache_path = cli_str(&a, "cache", NULL);
    bool json = cli_flag(&a, "json");
    cfg.progress = on_progress;
    cfg.progress_user = &json;
    int n_train, n_val;
    cfg.eval = frost_nas_eval_defaults();
    frost_nas_space space = frost_nas_space_default();
    cli_parse_nas_eval(&a, &cfg.eval, &space, &n_train, &n_val);
    frost_cell_pair cells;
    char cells_path[4200];
    if (cli_nas_blocks(&a, &cells, &space, cells_path, sizeof cells_path) != FROST_OK)
        return cli_error("search");
    cli_data_opts data;
    cli_parse_data(&a, &data);
    const char *bad = target <= 0      ? "--target-ms T is required"
                      : cfg.budget < 1 ? "--budget N is required"
                      : !cfg.out_dir   ? "--out DIR is required"
                      : cfg.eval.fp_epochs >= cfg.eval.epochs
                          ? "--fp-epochs must be fewer than --epochs"
                          : NULL;
    if (bad) {
        if (rank == 0)
            fprintf(stderr, "frost search: error: %s (see frost search --help)\n", bad);
        return 2;
    }
    const char *serial = ranks > 1 ? nothing_in_parallel(&cfg) : NULL;
    if (serial) {
        if (rank == 0)
            fprintf(stderr, "frost search: error: %d ranks, but %s; run it without mpirun\n", ranks,
                    serial);
        return 2;
    }
    const char *die = getenv("FROST_TEST_DIE_AFTER");
    if (die && rank == 1) {
        evaluations_left = atoi(die);
        cfg.evaluate = evaluate_or_die;
    }
    cfg.reward =
        strcmp(reward, "hard") == 0 ? frost_nas_reward_hard(target) : frost_nas_reward_soft(target);
    frost_dataset tr = {0}, va = {0};
    frost_status s = cli_load_proxy_data(&data, n_train, n_val, cfg.eval.seed, &tr, &va);
    char halving[96] = "";
    if (cfg.halving.eta)
        snprintf(halving, sizeof halving, " in successive-halving brackets (eta %d, %d rungs)",
                 cfg.halving.eta, cfg.halving.rungs + 1);
    char screening[96] = "";
    if (cfg.screen_factor > 0)
        snprintf(screening, sizeof screening, ", screened above %.3f ms predicted",
                 cfg.screen_factor * target);
    bool talk = rank == 0 && !json;
    if (s == FROST_OK && talk)
        printf("search: %s controller, %d candidates%s, target %.3f ms (%s reward%s)%s, %d "
               "training images, %d held out, %d epochs per candidate -> %s\n",
               frost_nas_controller_name(cfg.controller.kind), cfg.budget, halving, target, reward,
               cfg.objective == FROST_NAS_OBJECTIVE_MIN ? " on min(fp32, int8) accuracy" : "",
               screening, tr.n, va.n, cfg.eval.epochs, cfg.out_dir);
    if (s == FROST_OK && talk && ranks > 1)
        printf("distributed: rank 0 runs the controller, %d worker ranks train\n", ranks - 1);
    if (s == FROST_OK && talk && space.cells)
        printf("blocks: m, f, g, d and c, the cells of %s (hash %016llx)\n", cells_path,
               (unsigned long long)frost_nas_cells_hash(&space));
    int code = 1;
    if (s == FROST_OK)
        code = search_on_ranks(comm, &a, &cfg, &space, &tr, &va, cells_path);
    else if (rank == 0)
        cli_error("search");
    else
        fprintf(stderr, "frost search (rank %d): error: %s\n", rank, frost_last_error());
    frost_dataset_free(&tr);
    frost_dataset_free(&va);
    return code;
}
