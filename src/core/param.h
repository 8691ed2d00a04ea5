/*
 * A trainable parameter (or a non-trainable buffer such as BN running stats).
 * Models own arrays of these; optimizers and checkpoints walk them.
 */
#ifndef FROST_CORE_PARAM_H
#define FROST_CORE_PARAM_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    FROST_PARAM_WEIGHT = 0, /* conv / linear weight (>= 2-D) */
    FROST_PARAM_BIAS,       /* 1-D */
    FROST_PARAM_BN_GAMMA,   /* 1-D */
    FROST_PARAM_BN_BETA,    /* 1-D */
    FROST_PARAM_BUFFER,     /* not trained: BN running mean / var */
    /* architecture weights of a cell-search supernet (a mix node's alpha, 1-D): trained by
     * their own optimizer (FROST_PARAMS_ARCH), never quantized, weight-shared or counted
     * with the network's parameters */
    FROST_PARAM_ARCH
} frost_param_kind;

typedef struct {
    char name[96]; /* "<layer>.weight", "<layer>.bias", "<layer>.running_mean", ... */
    frost_param_kind kind;
    bool depthwise; /* a depthwise conv weight (its own weight-decay group) */
    int ndim;
    int64_t shape[4];
    int64_t numel;
    float *data; /* owned by the model */
    float *grad; /* owned by the model; NULL for buffers */
} frost_param;

#endif
