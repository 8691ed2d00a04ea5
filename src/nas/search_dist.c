/*
 * The distributed search's messages (docs/distributed.md): rank 0 keeps a pool of workers
 * (ranks 1..N-1), hands each idle one the next queued candidate, serves the timing token
 * and passes every result on as it arrives; a worker evaluates what it is sent until told
 * to stop. The search loop (search.c) decides what to queue and consumes the results in
 * its own (proposal) order, so nothing here affects which candidates are evaluated or
 * what is logged. Messages are fixed-size structs: every rank runs the same frost binary.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/timer.h"
#include "core/util.h"
#include "nas/search_internal.h"

enum {
    TAG_TASK = 1,  /* rank 0 -> worker: a task_msg */
    TAG_STOP,      /* rank 0 -> worker: no more tasks (empty) */
    TAG_RESULT,    /* worker -> rank 0: a result_msg */
    TAG_TOKEN_ASK, /* worker -> rank 0: may I time now? (empty) */
    TAG_TOKEN_GIVE,
    TAG_TOKEN_BACK,
    TAG_STOPPED /* worker -> rank 0: stopped; nothing more comes from it (empty) */
};

typedef struct {
    int32_t step, rung;
    char genotype[128];
} task_msg;

typedef struct {
    int32_t step, rung, status, unused;
    frost_nas_result r;
    double eval_seconds;
    char genotype[128];
    char error[512];
} result_msg;

typedef struct {
    int step, rung, worker; /* worker: the rank evaluating it, 0 while queued */
    frost_nas_genotype g;
} job;

struct frost_nas_pool {
    frost_comm *comm;
    frost_nas_arrival_fn on_arrival;
    void *user;
    job *jobs; /* submitted, not yet back: queued ones in step order */
    int njobs, cap;
    bool *busy;          /* per rank */
    bool stopping;       /* STOP sent: no more tasks */
    int token;           /* the rank timing now (0: nobody) */
    int *waiting, nwait; /* ranks asking for the token, first come first served */
};

frost_status frost_nas_pool_create(frost_comm *comm, frost_nas_arrival_fn on_arrival, void *user,
                                   frost_nas_pool **out)
{
    *out = NULL;
    int n = frost_comm_size(comm);
    if (n < 2 || frost_comm_rank(comm) != 0)
        return frost_fail(FROST_ERR_ARG, "nas search: a pool needs rank 0 of two ranks or more");
    frost_nas_pool *p = calloc(1, sizeof *p);
    if (p) {
        p->busy = calloc((size_t)n, sizeof *p->busy);
        p->waiting = calloc((size_t)n, sizeof *p->waiting);
    }
    if (!p || !p->busy || !p->waiting) {
        frost_nas_pool_free(p);
        return frost_fail(FROST_ERR_NOMEM, "nas search: out of memory");
    }
    p->comm = comm;
    p->on_arrival = on_arrival;
    p->user = user;
    *out = p;
    return FROST_OK;
}

void frost_nas_pool_free(frost_nas_pool *p)
{
    if (!p)
        return;
    free(p->jobs);
    free(p->busy);
    free(p->waiting);
    free(p);
}

int frost_nas_pool_workers(const frost_nas_pool *p) { return frost_comm_size(p->comm) - 1; }

static job *find_job(const frost_nas_pool *p, int step)
{
    for (int i = 0; i < p->njobs; i++)
        if (p->jobs[i].step == step)
            return &p->jobs[i];
    return NULL;
}

bool frost_nas_pool_busy(const frost_nas_pool *p, int step) { return find_job(p, step) != NULL; }

bool frost_nas_pool_running(const frost_nas_pool *p, const frost_nas_genotype *g, int rung)
{
    for (int i = 0; i < p->njobs; i++)
        if (p->jobs[i].rung == rung && frost_nas_equal(&p->jobs[i].g, g))
            return true;
    return false;
}

/* Gives queued jobs (the lowest steps first) to idle workers. */
static frost_status dispatch(frost_nas_pool *p)
{
    for (int r = 1; !p->stopping && r < frost_comm_size(p->comm); r++) {
        if (p->busy[r])
            continue;
        job *next = NULL;
        for (int i = 0; i < p->njobs; i++)
            if (p->jobs[i].worker == 0 && (!next || p->jobs[i].step < next->step))
                next = &p->jobs[i];
        if (!next)
            return FROST_OK;
        task_msg t = {.step = next->step, .rung = next->rung};
        frost_nas_to_string(&next->g, t.genotype, sizeof t.genotype);
        FROST_TRY(frost_comm_send(p->comm, &t, sizeof t, r, TAG_TASK));
        next->worker = r;
        p->busy[r] = true;
    }
    return FROST_OK;
}

frost_status frost_nas_pool_submit(frost_nas_pool *p, int step, int rung,
                                   const frost_nas_genotype *g)
{
    if (find_job(p, step))
        return FROST_OK;
    if (p->njobs == p->cap) {
        int cap = p->cap ? 2 * p->cap : 16;
        job *j = realloc(p->jobs, (size_t)cap * sizeof *j);
        if (!j)
            return frost_fail(FROST_ERR_NOMEM, "nas search: out of memory");
        p->jobs = j;
        p->cap = cap;
    }
    p->jobs[p->njobs++] = (job){.step = step, .rung = rung, .g = *g};
    return dispatch(p);
}

static frost_status give_token(frost_nas_pool *p, int rank)
{
    p->token = rank;
    return frost_comm_send(p->comm, NULL, 0, rank, TAG_TOKEN_GIVE);
}

/* A result: checked against what was sent, handed on, and the worker's next job sent. */
static frost_status take_result(frost_nas_pool *p, int from, const result_msg *m)
{
    job *j = find_job(p, m->step);
    if (!j || j->worker != from)
        return frost_fail(FROST_ERR_FORMAT,
                          "nas search: rank %d sent a result for step %d, "
                          "which it was not evaluating",
                          from, m->step);
    if (m->status != FROST_OK)
        return frost_fail((frost_status)m->status, "rank %d, step %d: %s", from, m->step, m->error);
    frost_nas_arrival a = {
        .step = j->step, .rung = j->rung, .g = j->g, .r = m->r, .eval_seconds = m->eval_seconds};
    *j = p->jobs[--p->njobs];
    p->busy[from] = false;
    FROST_TRY(p->on_arrival(&a, p->user));
    return dispatch(p);
}

/* One message from any worker. */
static frost_status serve_one(frost_nas_pool *p)
{
    result_msg m;
    int from, tag;
    size_t bytes;
    FROST_TRY(frost_comm_recv(p->comm, &m, sizeof m, FROST_COMM_ANY_SOURCE, FROST_COMM_ANY_TAG,
                              &from, &tag, &bytes));
    if (tag == TAG_RESULT && bytes == sizeof m)
        return take_result(p, from, &m);
    if (tag == TAG_TOKEN_ASK) {
        if (p->token == 0)
            return give_token(p, from);
        p->waiting[p->nwait++] = from;
        return FROST_OK;
    }
    if (tag == TAG_TOKEN_BACK && from == p->token) {
        p->token = 0;
        if (p->nwait == 0)
            return FROST_OK;
        int next = p->waiting[0];
        memmove(p->waiting, p->waiting + 1, (size_t)--p->nwait * sizeof *p->waiting);
        return give_token(p, next);
    }
    return frost_fail(FROST_ERR_FORMAT,
                      "nas search: unexpected message (tag %d, %zu bytes) "
                      "from rank %d",
                      tag, bytes, from);
}

frost_status frost_nas_pool_wait(frost_nas_pool *p, int step)
{
    if (!find_job(p, step))
        return frost_fail(FROST_ERR_ARG, "nas search: step %d was not submitted", step);
    while (find_job(p, step))
        FROST_TRY(serve_one(p));
    return FROST_OK;
}

/* After STOP, until every worker has said STOPPED: a worker still busy finishes its
 * candidate first (its result is kept, as any other), or meets the STOP when it asks for
 * the token. Nothing is left in flight, so the next search on this communicator starts
 * clean. */
static frost_status drain(frost_nas_pool *p)
{
    int left = frost_comm_size(p->comm) - 1;
    frost_status first = FROST_OK;
    while (left > 0) {
        result_msg m;
        int from, tag;
        size_t bytes;
        FROST_TRY(frost_comm_recv(p->comm, &m, sizeof m, FROST_COMM_ANY_SOURCE, FROST_COMM_ANY_TAG,
                                  &from, &tag, &bytes));
        if (tag == TAG_STOPPED)
            left--;
        else if (tag == TAG_RESULT && bytes == sizeof m && m.status == FROST_OK) {
            frost_status s = take_result(p, from, &m);
            first = first != FROST_OK ? first : s;
        }
        /* token requests and returns, failed results: the search is over */
    }
    return first;
}

frost_status frost_nas_pool_finish(frost_nas_pool *p)
{
    if (!p)
        return FROST_OK;
    frost_status s = FROST_OK;
    for (int r = 1; r < frost_comm_size(p->comm); r++) {
        frost_status t = frost_comm_send(p->comm, NULL, 0, r, TAG_STOP);
        s = s != FROST_OK ? s : t;
    }
    p->stopping = true;
    frost_status d = s == FROST_OK ? drain(p) : FROST_OK;
    frost_nas_pool_free(p);
    return s != FROST_OK ? s : d;
}

/* ---- a worker ---- */

typedef struct {
    frost_comm *comm;
    bool stopped; /* a STOP came instead of the token */
} worker;

/* FROST_TEST_TOKEN_TRACE=FILE (tests only): each worker appends "<rank> take" right after
 * it gets the token and "<rank> give" right before it hands it back, in one write each (a
 * file opened for appending takes whole lines), so the file shows whether two ranks ever
 * timed at once: then two takes would follow each other. It also holds the token 300 ms
 * longer, so that timings that were not kept apart would overlap in the trace. */
static void trace_token(const worker *w, const char *what)
{
    const char *path = getenv("FROST_TEST_TOKEN_TRACE");
    if (!path || !*path)
        return;
    char line[64];
    int n = snprintf(line, sizeof line, "%d %s\n", frost_comm_rank(w->comm), what);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0)
        return;
    if (write(fd, line, (size_t)n) != n) { /* nothing to do: the test sees a short file */
    }
    close(fd);
    if (strcmp(what, "take") == 0)
        nanosleep(&(struct timespec){0, 300000000}, NULL);
}

static frost_status token_acquire(void *user)
{
    worker *w = user;
    FROST_TRY(frost_comm_send(w->comm, NULL, 0, 0, TAG_TOKEN_ASK));
    int tag;
    FROST_TRY(frost_comm_recv(w->comm, NULL, 0, 0, FROST_COMM_ANY_TAG, NULL, &tag, NULL));
    w->stopped = tag == TAG_STOP;
    if (w->stopped) /* rank 0 gave up (an error elsewhere): stop evaluating */
        return frost_fail(FROST_ERR_IO, "nas search: rank 0 stopped the search");
    if (tag != TAG_TOKEN_GIVE)
        return frost_fail(FROST_ERR_FORMAT, "nas search: rank 0 sent tag %d, not the token", tag);
    trace_token(w, "take");
    return FROST_OK;
}

static frost_status token_release(void *user)
{
    trace_token(user, "give");
    return frost_comm_send(((worker *)user)->comm, NULL, 0, 0, TAG_TOKEN_BACK);
}

static frost_status evaluate_task(worker *w, const task_msg *t, const frost_nas_space *space,
                                  const frost_dataset *const *train, int rungs,
                                  const frost_dataset *val, const frost_nas_search_config *cfg,
                                  result_msg *m)
{
    frost_nas_genotype g;
    if (t->rung < 0 || t->rung >= rungs)
        return frost_fail(FROST_ERR_FORMAT, "nas search: task for rung %d of %d", t->rung, rungs);
    FROST_TRY(frost_nas_from_string_in(space, t->genotype, &g));
    const frost_dataset *tr = train[t->rung];
    double t0 = frost_now_ms();
    frost_nas_timing_lock lock = {token_acquire, token_release, w};
    frost_status s =
        cfg->evaluate ? cfg->evaluate(&g, space, tr, val, &cfg->eval, &m->r, cfg->evaluate_user)
                      : frost_nas_evaluate_locked(&g, space, tr, val, &cfg->eval, &lock, &m->r);
    FROST_TRY(frost_nas_settle_result(s, &m->r));
    m->eval_seconds = (frost_now_ms() - t0) / 1e3;
    return FROST_OK;
}

/* Every way out says STOPPED to rank 0 once it has sent STOP (so no message of this search
 * is left for the next); after a failed evaluation the worker waits for that STOP, which
 * rank 0 sends once it has the error. */
frost_status frost_nas_worker_run(frost_comm *comm, const frost_nas_space *space,
                                  const frost_dataset *const *train, int rungs,
                                  const frost_dataset *val, const frost_nas_search_config *cfg)
{
    worker w = {.comm = comm};
    frost_status failed = FROST_OK;
    char why[512] = "";
    while (!w.stopped) {
        task_msg t;
        int tag;
        size_t bytes;
        FROST_TRY(frost_comm_recv(comm, &t, sizeof t, 0, FROST_COMM_ANY_TAG, NULL, &tag, &bytes));
        if (tag == TAG_STOP)
            break;
        if (tag != TAG_TASK || bytes != sizeof t)
            return frost_fail(FROST_ERR_FORMAT,
                              "nas search: unexpected message (tag %d) from rank 0", tag);
        t.genotype[sizeof t.genotype - 1] = 0;
        result_msg m = {.step = t.step, .rung = t.rung};
        snprintf(m.genotype, sizeof m.genotype, "%s", t.genotype);
        frost_status s = evaluate_task(&w, &t, space, train, rungs, val, cfg, &m);
        m.status = s;
        if (s != FROST_OK && failed == FROST_OK) {
            failed = s;
            snprintf(why, sizeof why, "%s", frost_last_error());
        }
        if (s != FROST_OK)
            snprintf(m.error, sizeof m.error, "%s", frost_last_error());
        FROST_TRY(frost_comm_send(comm, &m, sizeof m, 0, TAG_RESULT));
    }
    FROST_TRY(frost_comm_send(comm, NULL, 0, 0, TAG_STOPPED));
    return failed == FROST_OK ? FROST_OK : frost_fail(failed, "%s", why);
}
