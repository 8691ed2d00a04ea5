/* The communication layer's front (frost/comm.h): argument checks, the choice of backend,
 * the split-phase requests, and the single-process backend. The MPI backend is comm_mpi.c. */
#include "core/comm_backend.h"
#include "core/timer.h"
#include "core/util.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the single-process backend: one rank, so every collective is a copy or nothing ---- */

static void single_close(frost_comm *c) { (void)c; }
static frost_status single_barrier(frost_comm *c)
{
    (void)c;
    return FROST_OK;
}

static frost_status single_broadcast(frost_comm *c, void *buf, size_t bytes, int root)
{
    (void)c, (void)buf, (void)bytes, (void)root;
    return FROST_OK;
}

static frost_status single_gather(frost_comm *c, const void *send, size_t bytes, void *recv,
                                  int root)
{
    (void)c, (void)root;
    if (bytes)
        memmove(recv, send, bytes);
    return FROST_OK;
}

/* The sum over one rank is the rank's own buffer. */
static frost_status single_allreduce_start(frost_comm *c, frost_comm_request *r)
{
    (void)c, (void)r;
    return FROST_OK;
}

static frost_status single_allreduce_advance(frost_comm_request *r, bool block, bool *done)
{
    (void)r, (void)block;
    *done = true;
    return FROST_OK;
}

static void single_allreduce_free(frost_comm_request *r) { (void)r; }

/* One rank: the front refuses every send and receive before they get here (nobody else to
 * talk to), so these are never called. */
static frost_status single_send(frost_comm *c, const void *buf, size_t bytes, int dest, int tag)
{
    (void)c, (void)buf, (void)bytes, (void)dest, (void)tag;
    return frost_fail(FROST_ERR_ARG, "frost_comm_send: one rank, nobody to send to");
}

static frost_status single_recv(frost_comm *c, void *buf, size_t max_bytes, int source, int tag,
                                int *from, int *got_tag, size_t *bytes)
{
    (void)c, (void)buf, (void)max_bytes, (void)source, (void)tag, (void)from, (void)got_tag,
        (void)bytes;
    return frost_fail(FROST_ERR_ARG, "frost_comm_recv: one rank, nobody to receive from");
}

static frost_status single_probe(frost_comm *c, int source, int tag, bool *ready, int *from,
                                 int *got_tag, size_t *bytes)
{
    (void)c, (void)source, (void)tag, (void)from, (void)got_tag, (void)bytes;
    *ready = false;
    return FROST_OK;
}

static const frost_comm_ops single_ops = {
    .name = "single",
    .close = single_close,
    .barrier = single_barrier,
    .broadcast = single_broadcast,
    .gather = single_gather,
    .send = single_send,
    .recv = single_recv,
    .probe = single_probe,
    .allreduce_start = single_allreduce_start,
    .allreduce_advance = single_allreduce_advance,
    .allreduce_free = single_allreduce_free,
};

/* ---- the front ---- */

const char *frost_comm_built_backends(void)
{
#ifdef FROST_HAVE_MPI
    return "single, mpi";
#else
    return "single";
#endif
}

size_t frost_comm_type_size(frost_comm_type type)
{
    return type == FROST_COMM_F64 ? sizeof(double) : sizeof(float);
}

frost_status frost_comm_create(frost_comm **out)
{
    if (!out)
        return frost_fail(FROST_ERR_ARG, "frost_comm_create: out is NULL");
    *out = NULL;
    frost_comm *c = calloc(1, sizeof *c);
    if (!c)
        return frost_fail(FROST_ERR_NOMEM, "frost_comm_create: out of memory");
    c->ops = &single_ops;
    c->rank = 0;
    c->size = 1;
#ifdef FROST_HAVE_MPI
    if (frost_comm_mpi_wanted()) {
        frost_status s = frost_comm_mpi_open(c);
        if (s != FROST_OK) {
            free(c);
            return s;
        }
    }
#endif
    *out = c;
    return FROST_OK;
}

void frost_comm_destroy(frost_comm *c)
{
    if (!c)
        return;
    c->ops->close(c);
    free(c);
}

int frost_comm_rank(const frost_comm *c) { return c ? c->rank : 0; }
int frost_comm_size(const frost_comm *c) { return c ? c->size : 1; }
const char *frost_comm_backend(const frost_comm *c) { return c ? c->ops->name : "none"; }

frost_status frost_comm_barrier(frost_comm *c)
{
    if (!c)
        return frost_fail(FROST_ERR_ARG, "frost_comm_barrier: communicator is NULL");
    return c->ops->barrier(c);
}

static frost_status check_root(const frost_comm *c, int root, const char *fn)
{
    if (!c)
        return frost_fail(FROST_ERR_ARG, "%s: communicator is NULL", fn);
    if (root < 0 || root >= c->size)
        return frost_fail(FROST_ERR_ARG, "%s: root %d is not a rank (0..%d)", fn, root,
                          c->size - 1);
    return FROST_OK;
}

frost_status frost_comm_broadcast(frost_comm *c, void *buf, size_t bytes, int root)
{
    FROST_TRY(check_root(c, root, "frost_comm_broadcast"));
    if (!buf && bytes)
        return frost_fail(FROST_ERR_ARG, "frost_comm_broadcast: buffer is NULL");
    return bytes ? c->ops->broadcast(c, buf, bytes, root) : FROST_OK;
}

frost_status frost_comm_gather(frost_comm *c, const void *send, size_t bytes, void *recv, int root)
{
    FROST_TRY(check_root(c, root, "frost_comm_gather"));
    if (bytes > INT_MAX)
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "frost_comm_gather: %zu bytes per rank, more than %d", bytes, INT_MAX);
    if (bytes && (!send || (c->rank == root && !recv)))
        return frost_fail(FROST_ERR_ARG, "frost_comm_gather: %s buffer is NULL",
                          send ? "receive" : "send");
    return bytes ? c->ops->gather(c, send, bytes, recv, root) : FROST_OK;
}

/* ---- point-to-point ---- */

static frost_status check_tag(int tag, bool any_allowed, const char *fn)
{
    if ((any_allowed && tag == FROST_COMM_ANY_TAG) || (tag >= 0 && tag <= FROST_COMM_TAG_MAX))
        return FROST_OK;
    return frost_fail(FROST_ERR_ARG, "%s: tag %d is not in 0..%d", fn, tag, FROST_COMM_TAG_MAX);
}

/* A receive or probe must name another rank (or any, when there is another). */
static frost_status check_source(const frost_comm *c, int source, const char *fn)
{
    if (!c)
        return frost_fail(FROST_ERR_ARG, "%s: communicator is NULL", fn);
    if (source == FROST_COMM_ANY_SOURCE && c->size > 1)
        return FROST_OK;
    if (source == FROST_COMM_ANY_SOURCE || source == c->rank)
        return frost_fail(FROST_ERR_ARG,
                          "%s: only this rank (%d of %d) could send that: it would wait forever",
                          fn, c->rank, c->size);
    if (source < 0 || source >= c->size)
        return frost_fail(FROST_ERR_ARG, "%s: source %d is not a rank (0..%d)", fn, source,
                          c->size - 1);
    return FROST_OK;
}

frost_status frost_comm_send(frost_comm *c, const void *buf, size_t bytes, int dest, int tag)
{
    if (!c)
        return frost_fail(FROST_ERR_ARG, "frost_comm_send: communicator is NULL");
    if (dest < 0 || dest >= c->size || dest == c->rank)
        return frost_fail(FROST_ERR_ARG, "frost_comm_send: destination %d is %s (rank %d of %d)",
                          dest, dest == c->rank ? "this rank" : "not a rank", c->rank, c->size);
    FROST_TRY(check_tag(tag, false, "frost_comm_send"));
    if (bytes > INT_MAX)
        return frost_fail(FROST_ERR_UNSUPPORTED, "frost_comm_send: %zu bytes, more than %d", bytes,
                          INT_MAX);
    if (!buf && bytes)
        return frost_fail(FROST_ERR_ARG, "frost_comm_send: buffer is NULL");
    return c->ops->send(c, buf, bytes, dest, tag);
}

frost_status frost_comm_recv(frost_comm *c, void *buf, size_t max_bytes, int source, int tag,
                             int *from, int *got_tag, size_t *bytes)
{
    FROST_TRY(check_source(c, source, "frost_comm_recv"));
    FROST_TRY(check_tag(tag, true, "frost_comm_recv"));
    if (!buf && max_bytes)
        return frost_fail(FROST_ERR_ARG, "frost_comm_recv: buffer is NULL");
    int f, t;
    size_t n;
    return c->ops->recv(c, buf, max_bytes, source, tag, from ? from : &f, got_tag ? got_tag : &t,
                        bytes ? bytes : &n);
}

frost_status frost_comm_probe(frost_comm *c, int source, int tag, bool *ready, int *from,
                              int *got_tag, size_t *bytes)
{
    if (!ready)
        return frost_fail(FROST_ERR_ARG, "frost_comm_probe: ready is NULL");
    *ready = false;
    FROST_TRY(check_source(c, source, "frost_comm_probe"));
    FROST_TRY(check_tag(tag, true, "frost_comm_probe"));
    int f, t;
    size_t n;
    return c->ops->probe(c, source, tag, ready, from ? from : &f, got_tag ? got_tag : &t,
                         bytes ? bytes : &n);
}

static frost_status check_sum_args(const frost_comm *c, const void *buf, size_t count,
                                   frost_comm_type type, const char *fn)
{
    if (!c)
        return frost_fail(FROST_ERR_ARG, "%s: communicator is NULL", fn);
    if (type != FROST_COMM_F32 && type != FROST_COMM_F64)
        return frost_fail(FROST_ERR_ARG, "%s: unknown element type %d", fn, (int)type);
    if (count > INT_MAX)
        return frost_fail(FROST_ERR_UNSUPPORTED, "%s: %zu elements, more than %d (split it)", fn,
                          count, INT_MAX);
    if (!buf && count)
        return frost_fail(FROST_ERR_ARG, "%s: buffer is NULL", fn);
    return FROST_OK;
}

/* ---- the simulated link ---- */

frost_status frost_comm_simulate_link(frost_comm *c, double latency_us, double gbytes_per_s)
{
    if (!c)
        return frost_fail(FROST_ERR_ARG, "frost_comm_simulate_link: comm is NULL");
    if (!(latency_us >= 0 && latency_us <= 1e7) || !(gbytes_per_s >= 0 && gbytes_per_s <= 1e6))
        return frost_fail(FROST_ERR_ARG,
                          "frost_comm_simulate_link: latency %g us or rate %g GB/s out of range "
                          "(0..1e7 us, 0..1e6 GB/s; 0 GB/s: no bandwidth term)",
                          latency_us, gbytes_per_s);
    c->link_latency_s = latency_us * 1e-6;
    c->link_s_per_byte = gbytes_per_s > 0 ? 1.0 / (gbytes_per_s * 1e9) : 0.0;
    c->link_free_ms = 0.0;
    return FROST_OK;
}

/* When a sum of `bytes` started now would arrive over the simulated link: its latency plus
 * the 2(N-1)/N of the buffer each rank sends in a sum, after the sums already on the link
 * (one link: sums in flight share it one after the other). 0: no link, or one rank. */
static double link_ready_ms(frost_comm *c, size_t bytes)
{
    if (c->size < 2 || (c->link_latency_s == 0 && c->link_s_per_byte == 0))
        return 0.0;
    double share = 2.0 * (c->size - 1) / c->size;
    double start = FROST_MAX(frost_now_ms(), c->link_free_ms);
    c->link_free_ms =
        start + 1e3 * (c->link_latency_s + share * (double)bytes * c->link_s_per_byte);
    return c->link_free_ms;
}

static void sleep_until_ms(double when)
{
    for (double now = frost_now_ms(); now < when; now = frost_now_ms()) {
        double left = (when - now) * 1e-3;
        struct timespec t = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
        nanosleep(&t, NULL);
    }
}

frost_status frost_comm_allreduce_start(frost_comm *c, void *buf, size_t count,
                                        frost_comm_type type, frost_comm_request **req)
{
    if (!req)
        return frost_fail(FROST_ERR_ARG, "frost_comm_allreduce_start: req is NULL");
    *req = NULL;
    FROST_TRY(check_sum_args(c, buf, count, type, "frost_comm_allreduce_start"));
    frost_comm_request *r = calloc(1, sizeof *r);
    if (!r)
        return frost_fail(FROST_ERR_NOMEM, "frost_comm_allreduce_start: out of memory");
    *r = (frost_comm_request){.comm = c, .buf = buf, .count = count, .type = type,
                              .ready_ms = link_ready_ms(c, count * frost_comm_type_size(type))};
    frost_status s = c->ops->allreduce_start(c, r);
    if (s != FROST_OK) {
        c->ops->allreduce_free(r);
        free(r);
        return s;
    }
    *req = r;
    return FROST_OK;
}

frost_status frost_comm_test(frost_comm_request *req, bool *done)
{
    if (!req || !done)
        return frost_fail(FROST_ERR_ARG, "frost_comm_test: %s is NULL", req ? "done" : "req");
    *done = false;
    if (req->failed != FROST_OK)
        return frost_fail(req->failed, "%s", req->failed_message);
    frost_status s = req->comm->ops->allreduce_advance(req, false, done);
    if (s == FROST_OK && *done && req->ready_ms > 0 && frost_now_ms() < req->ready_ms)
        *done = false; /* here, but not yet over the simulated link */
    if (s != FROST_OK) {
        req->failed = s;
        snprintf(req->failed_message, sizeof req->failed_message, "%s", frost_last_error());
    }
    return s;
}

frost_status frost_comm_wait(frost_comm_request *req)
{
    if (!req)
        return FROST_OK;
    bool done = false;
    frost_status s = req->failed;
    if (s == FROST_OK)
        s = req->comm->ops->allreduce_advance(req, true, &done);
    if (s == FROST_OK && req->ready_ms > 0)
        sleep_until_ms(req->ready_ms);
    else if (s != FROST_OK && req->failed != FROST_OK)
        frost_fail(s, "%s", req->failed_message);
    req->comm->ops->allreduce_free(req);
    free(req);
    return s;
}

frost_status frost_comm_allreduce_sum(frost_comm *c, void *buf, size_t count, frost_comm_type type)
{
    frost_comm_request *r;
    FROST_TRY(frost_comm_allreduce_start(c, buf, count, type, &r));
    return frost_comm_wait(r);
}

frost_status frost_comm_allreduce_max(frost_comm *c, float *buf, size_t count)
{
    FROST_TRY(check_sum_args(c, buf, count, FROST_COMM_F32, "frost_comm_allreduce_max"));
    if (c->size == 1 || count == 0)
        return FROST_OK;
    size_t bytes = count * sizeof(float);
    float *all = NULL;
    if (c->rank == 0 && !(all = malloc(bytes * (size_t)c->size)))
        return frost_fail(FROST_ERR_NOMEM, "frost_comm_allreduce_max: out of memory");
    frost_status s = frost_comm_gather(c, buf, bytes, all, 0);
    if (s == FROST_OK && c->rank == 0)
        for (int r = 1; r < c->size; r++)
            for (size_t i = 0; i < count; i++)
                all[i] = fmaxf(all[i], all[(size_t)r * count + i]);
    if (c->rank == 0 && s == FROST_OK)
        memcpy(buf, all, bytes);
    free(all);
    /* every rank takes part in the broadcast even after a failed gather, so none waits
     * forever for it; the first failure is reported */
    frost_status b = frost_comm_broadcast(c, buf, bytes, 0);
    return s != FROST_OK ? s : b;
}
