/* What a backend of the communication layer (frost/comm.h) provides. comm.c checks every
 * argument and then calls the backend, so a backend sees only valid requests (a root in
 * range, count <= INT_MAX, non-NULL buffers where data moves). */
#ifndef FROST_CORE_COMM_BACKEND_H
#define FROST_CORE_COMM_BACKEND_H

#include "frost/comm.h"

typedef struct frost_comm_ops {
    const char *name;
    void (*close)(frost_comm *c);
    frost_status (*barrier)(frost_comm *c);
    frost_status (*broadcast)(frost_comm *c, void *buf, size_t bytes, int root);
    frost_status (*gather)(frost_comm *c, const void *send, size_t bytes, void *recv, int root);
    /* Point-to-point (source and tag may be the ANY values; probe fills *ready). */
    frost_status (*send)(frost_comm *c, const void *buf, size_t bytes, int dest, int tag);
    frost_status (*recv)(frost_comm *c, void *buf, size_t max_bytes, int source, int tag, int *from,
                         int *got_tag, size_t *bytes);
    frost_status (*probe)(frost_comm *c, int source, int tag, bool *ready, int *from, int *got_tag,
                          size_t *bytes);
    /* Starts the sum of r->buf; may set r->impl. */
    frost_status (*allreduce_start)(frost_comm *c, frost_comm_request *r);
    /* Moves the sum on; with `block`, until it is done. Sets *done. */
    frost_status (*allreduce_advance)(frost_comm_request *r, bool block, bool *done);
    /* Frees r->impl (the request itself is comm.c's). */
    void (*allreduce_free)(frost_comm_request *r);
} frost_comm_ops;

struct frost_comm {
    const frost_comm_ops *ops;
    int rank, size;
    void *impl;
    /* frost_comm_simulate_link: seconds per sum and per byte (0, 0: off), and when the
     * link has delivered the sums already on it (frost_now_ms) */
    double link_latency_s, link_s_per_byte, link_free_ms;
};

struct frost_comm_request {
    frost_comm *comm;
    void *buf;
    size_t count;
    frost_comm_type type;
    double ready_ms;     /* the simulated link delivers the sum no earlier (frost_now_ms) */
    frost_status failed; /* a test that failed: wait reports it again, with its message */
    char failed_message[256];
    void *impl;
};

/* Bytes per element of `type`. */
size_t frost_comm_type_size(frost_comm_type type);

#ifdef FROST_HAVE_MPI
/* True when an MPI launcher started this process or MPI is already initialized. */
bool frost_comm_mpi_wanted(void);
/* Fills c (ops, rank, size, impl) with the MPI backend, starting MPI when needed. */
frost_status frost_comm_mpi_open(frost_comm *c);
#endif

#endif
