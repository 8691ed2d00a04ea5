/*
 * What the distributed search (src/nas/search_dist.c, docs/distributed.md) needs from the
 * controllers and the candidate evaluation. Internal to the nas layer.
 */
#ifndef FROST_NAS_SEARCH_INTERNAL_H
#define FROST_NAS_SEARCH_INTERNAL_H

#include <stdio.h>
#include <stdlib.h>

#include "frost/comm.h"
#include "frost/nas.h"

/* How many of the next proposals (the next one included) the controller makes without
 * depending on a reward it has not observed yet: random, every one (INT_MAX); evolution, the
 * rest of its random initial population, then 1; PPO, the rest of its batch (the policy
 * moves only when a batch is full); REINFORCE, 1 (it moves after every reward). */
int frost_nas_controller_lookahead(const frost_nas_controller *c);

/* The next n proposals (n <= frost_nas_controller_lookahead) as frost_nas_propose will make
 * them, without changing c: they are worked out on a copy. */
frost_status frost_nas_controller_peek(const frost_nas_controller *c, int n,
                                       frost_nas_genotype *out);

/* Exclusive use of the machine for timing, around frost_nas_evaluate's latency measurement:
 * acquire before it, release after (a distributed search lets one rank time at a time). */
typedef struct {
    frost_status (*acquire)(void *user);
    frost_status (*release)(void *user);
    void *user;
} frost_nas_timing_lock;

static inline bool frost_nas_result_failed(const frost_nas_result *r)
{
    return r->latency_ms == 0.0;
}

static inline double frost_nas_as_written(double v, int decimals)
{
    char text[64];
    if (v != v)
        return v;
    snprintf(text, sizeof text, "%.*f", decimals, v);
    return strtod(text, NULL);
}

/* What an evaluation's status and result become in the search, on rank 0 and on the
 * workers alike (so the log does not depend on who trained the candidate):
 * - A candidate whose training or int8 conversion failed numerically (the loss or a
 *   statistic went non-finite, a bias no int32 holds at its scale, ...) is a result, not
 *   the search's end: it cannot be deployed, so its accuracies are 0, and a latency of 0
 *   marks it (no measurement or prediction is 0; frost_nas_result_failed). Its reward is 0
 *   and it is never on the front, the best, or a rung's worst accuracy. Other errors stay
 *   errors.
 * - The result is rounded as the log and cache files hold it (6 decimals, train_seconds
 *   3), so a rerun that reads it back from a file computes the same reward, to the last
 *   digit, as the run that measured it. */
static inline frost_status frost_nas_settle_result(frost_status s, frost_nas_result *r)
{
    if (s == FROST_ERR_NUMERIC) {
        r->int8_acc = r->fp32_acc = r->train_acc = 0.0;
        r->latency_ms = 0.0;
    } else if (s != FROST_OK) {
        return s;
    }
    r->int8_acc = frost_nas_as_written(r->int8_acc, 6);
    r->fp32_acc = frost_nas_as_written(r->fp32_acc, 6);
    r->latency_ms = frost_nas_as_written(r->latency_ms, 6);
    r->train_acc = frost_nas_as_written(r->train_acc, 6);
    r->train_seconds = frost_nas_as_written(r->train_seconds, 3);
    return FROST_OK;
}

/* frost_nas_evaluate with the latency measured while holding `lock` (NULL: no lock). */
frost_status frost_nas_evaluate_locked(const frost_nas_genotype *g, const frost_nas_space *space,
                                       const frost_dataset *train, const frost_dataset *val,
                                       const frost_nas_eval_config *cfg,
                                       const frost_nas_timing_lock *lock, frost_nas_result *out);

/* ---- the distributed search: rank 0's pool of workers, and a worker's loop ---- */

typedef struct frost_nas_pool frost_nas_pool;

/* A result that came back from a worker (in any order): step is its log line. */
typedef struct {
    int step, rung;
    frost_nas_genotype g;
    frost_nas_result r;
    double eval_seconds;
} frost_nas_arrival;

/* Called by the pool for every result as it arrives, before anything else happens. */
typedef frost_status (*frost_nas_arrival_fn)(const frost_nas_arrival *a, void *user);

/* Rank 0 of a communicator of at least two ranks; the others run frost_nas_worker_run. */
frost_status frost_nas_pool_create(frost_comm *comm, frost_nas_arrival_fn on_arrival, void *user,
                                   frost_nas_pool **out);
/* Tells every worker to stop (they return from frost_nas_worker_run) and frees the pool. */
frost_status frost_nas_pool_finish(frost_nas_pool *p);
void frost_nas_pool_free(frost_nas_pool *p);
int frost_nas_pool_workers(const frost_nas_pool *p);
/* Whether step was submitted and has not come back yet. */
bool frost_nas_pool_busy(const frost_nas_pool *p, int step);
/* Whether g at rung was submitted (any step) and has not come back yet. */
bool frost_nas_pool_running(const frost_nas_pool *p, const frost_nas_genotype *g, int rung);
/* Queues g at rung for step's log line; it goes to the next idle worker, in step order. */
frost_status frost_nas_pool_submit(frost_nas_pool *p, int step, int rung,
                                   const frost_nas_genotype *g);
/* Serves the workers (results, the timing token) until step's result has arrived (handed
 * to on_arrival like every other); a worker's failure comes back as its error. */
frost_status frost_nas_pool_wait(frost_nas_pool *p, int step);

/* A worker (rank > 0): receives candidates, evaluates them on train[rung] / val with cfg's
 * evaluation (cfg->evaluate when set, else frost_nas_evaluate timing only while holding rank
 * 0's token), sends the results back, until rank 0 says stop. A failed evaluation is sent to
 * rank 0 (which fails the search) and returned. */
frost_status frost_nas_worker_run(frost_comm *comm, const frost_nas_space *space,
                                  const frost_dataset *const *train, int rungs,
                                  const frost_dataset *val, const frost_nas_search_config *cfg);

#endif
