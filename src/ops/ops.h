/*
 * FP32 operator kernels: forward and backward on raw NHWC buffers.
 *
 * These are the building blocks the graph (src/train/graph.c) calls; they know
 * nothing about models, so each is testable alone (tests/test_ops_*.c checks
 * every backward against finite differences, and every AVX2 path against its
 * portable reference).
 *
 * Conventions, for every op:
 *  - activations are NHWC; `m` rows = N*H*W positions of `c` channels;
 *  - backward functions ADD into dx and into parameter gradients (dw, db, ...),
 *    so a tensor that feeds several consumers collects all their gradients;
 *    the caller zeroes them. dx may be NULL when the input needs no gradient;
 *  - scratch memory is the caller's, sized by the matching *_scratch_floats();
 *  - threads: kernels use OpenMP / OpenBLAS with frost_get_threads() threads
 *    and give the same result for the same thread count (no racy reductions).
 */
#ifndef FROST_OPS_H
#define FROST_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "frost/status.h"

typedef struct {
    int n, h, w, c;
} frost_shape4;

/* ---- 2-D convolution (any kernel, stride, padding, groups incl. depthwise) ---- */
typedef struct {
    int kh, kw;
    int stride;       /* same in both directions */
    int pad_h, pad_w; /* zero padding, top=bottom=pad_h, left=right=pad_w */
    int groups;       /* cin % groups == 0 and cout % groups == 0 */
    int cin, cout;
} frost_conv_params;

/* Output spatial size; <= 0 means the parameters do not fit the input. */
int frost_conv_out_dim(int in, int k, int stride, int pad);
size_t frost_conv2d_scratch_floats(const frost_conv_params *p, frost_shape4 in);
/* y[N,OH,OW,cout] = conv(x[N,H,W,cin], w[cout,kh,kw,cin/groups]) + b (b may be NULL). */
void frost_conv2d_forward(const frost_conv_params *p, frost_shape4 in, const float *x,
                          const float *w, const float *b, float *y, float *scratch);
/* Adds into dx (nullable), dw and db (nullable). */
void frost_conv2d_backward(const frost_conv_params *p, frost_shape4 in, const float *x,
                           const float *w, const float *dy, float *dx, float *dw, float *db,
                           float *scratch);
/* frost_conv2d_backward that writes dx (old contents ignored) instead of adding into it,
 * with the bits of clearing dx first and adding; the depthwise kernels write directly,
 * the GEMM paths still clear (their sums would turn a -0 into +0 if written). */
void frost_conv2d_backward_write(const frost_conv_params *p, frost_shape4 in, const float *x,
                                 const float *w, const float *dy, float *dx, float *dw, float *db,
                                 float *scratch);

/* ---- linear: y[n,out] = x[n,in] * w[out,in]^T + b ---- */
void frost_linear_forward(int n, int in, int out, const float *x, const float *w, const float *b,
                          float *y);
void frost_linear_backward(int n, int in, int out, const float *x, const float *w, const float *dy,
                           float *dx, float *dw, float *db);

/* ---- batch normalization over m rows of c channels ---- */

/* SyncBN (data-parallel training, docs/distributed.md): the batch statistics, and in the
 * backward the sums of dy and dy*x, are taken over every process's rows. `sum` adds
 * `count` doubles over all processes in place (every process calls it in the same order);
 * it is called from the thread that runs the op. The kernels cannot return an error, so a
 * failing sum is kept in `status` (later calls are skipped and use the local sums); the
 * caller checks it after the pass. NULL everywhere = this process's rows only. */
typedef struct {
    frost_status (*sum)(void *ctx, double *buf, int count);
    void *ctx;
    frost_status status;
} frost_bn_sync;

typedef struct {
    float eps;      /* 1e-5 */
    float momentum; /* PyTorch convention: running = (1-momentum)*running + momentum*batch; 0.1 */
    frost_bn_sync *sync; /* training forward: statistics over all processes; NULL = local */
} frost_bn_params;

/* Training: batch statistics; updates running_mean / running_var (unbiased var, as PyTorch);
 * saves the batch mean and 1/sqrt(var+eps) (biased var) for backward. */
void frost_bn_forward_train(const frost_bn_params *p, int64_t m, int c, const float *x,
                            const float *gamma, const float *beta, float *running_mean,
                            float *running_var, float *save_mean, float *save_invstd, float *y);
void frost_bn_forward_eval(const frost_bn_params *p, int64_t m, int c, const float *x,
                           const float *gamma, const float *beta, const float *running_mean,
                           const float *running_var, float *y);
/* sync: as frost_bn_params.sync (the forward's); the parameter gradients stay this
 * process's share (summed with the other gradients afterwards), dx uses the global sums. */
void frost_bn_backward(frost_bn_sync *sync, int64_t m, int c, const float *x, const float *gamma,
                       const float *save_mean, const float *save_invstd, const float *dy, float *dx,
                       float *dgamma, float *dbeta);
/* frost_bn_backward that writes dx (old contents ignored) instead of adding into it,
 * bit-identical to clearing dx first and adding: for an input with no other consumer,
 * the training loop then skips the memset. dgamma and dbeta are still added into. */
void frost_bn_backward_write(frost_bn_sync *sync, int64_t m, int c, const float *x,
                             const float *gamma, const float *save_mean, const float *save_invstd,
                             const float *dy, float *dx, float *dgamma, float *dbeta);

/* Backward of the eval-mode (running statistics) BN, used when QAT freezes BN:
 * dx += dy*gamma*invstd, dgamma += sum dy*xhat, dbeta += sum dy (any may be NULL). */
void frost_bn_backward_eval(const frost_bn_params *p, int64_t m, int c, const float *x,
                            const float *gamma, const float *running_mean, const float *running_var,
                            const float *dy, float *dx, float *dgamma, float *dbeta);

/* ---- pointwise activations ---- */
/* The activations: X(ID, name). Their scalar definitions, which every kernel and the
 * int8 tables follow, are in ops/act_def.h. FROST_CHECKLIST_DUMMY adds one that no
 * stage handles (docs/design.md, "Adding an op"). */
#ifdef FROST_CHECKLIST_DUMMY
#define FROST_ACT_LIST_EXTRA(X) X(DUMMY, "dummy")
#else
#define FROST_ACT_LIST_EXTRA(X)
#endif
#define FROST_ACT_LIST(X)                          \
    X(IDENTITY, "identity")                        \
    X(RELU, "relu")                                \
    X(RELU6, "relu6")                              \
    X(HSWISH, "hswish")     /* x * relu6(x+3)/6 */ \
    X(HSIGMOID, "hsigmoid") /* relu6(x+3)/6 */     \
    X(SIGMOID, "sigmoid")   /* 1/(1+e^-x) */       \
    X(SILU, "silu")         /* x*sigmoid(x) */     \
    X(HARDTANH, "hardtanh") /* clip(x, -1, 1) */   \
    FROST_ACT_LIST_EXTRA(X)

#define FROST_ACT_ENUM_(id, name) FROST_ACT_##id,
typedef enum { FROST_ACT_LIST(FROST_ACT_ENUM_) FROST_ACT_COUNT } frost_act_kind;
#undef FROST_ACT_ENUM_

const char *frost_act_name(frost_act_kind k);
/* Parses an activation's name ("relu", "silu", ...); returns -1 if unknown. */
int frost_act_from_name(const char *name);
void frost_act_forward(frost_act_kind k, int64_t n, const float *x, float *y);
/* Uses the forward input x. Gradients at the kinks (x == 0, 6, +-3) follow PyTorch. */
void frost_act_backward(frost_act_kind k, int64_t n, const float *x, const float *dy, float *dx);

/* ---- pooling ---- */
typedef struct {
    int k, stride, pad;
} frost_pool_params;

/* argmax holds, per output element, the flat input index it came from (for backward). */
void frost_maxpool_forward(const frost_pool_params *p, frost_shape4 in, const float *x, float *y,
                           int32_t *argmax);
void frost_maxpool_backward(const frost_pool_params *p, frost_shape4 in, const float *dy,
                            const int32_t *argmax, float *dx);
/* Average over the taps inside the input (padding excluded from the count, as in
 * the int8 engine: count_include_pad=False in PyTorch terms). */
void frost_avgpool_forward(const frost_pool_params *p, frost_shape4 in, const float *x, float *y);
void frost_avgpool_backward(const frost_pool_params *p, frost_shape4 in, const float *dy,
                            float *dx);
/* Global average pool: [N,H,W,C] -> [N,C]. */
void frost_gap_forward(frost_shape4 in, const float *x, float *y);
void frost_gap_backward(frost_shape4 in, const float *dy, float *dx);

/* ---- structural ops ---- */
void frost_add_forward(int64_t n, const float *a, const float *b, float *y);
/* Elementwise product of n images: a is [n, hw, c]; b is [n, hw, c], or [n, c] when
 * per_channel (one factor per channel and image, squeeze-excite's x * gate). */
void frost_mul_forward(int n, int64_t hw, int c, const float *a, const float *b, bool per_channel,
                       float *y);
/* da += dy * b and db += dy * a (per_channel: summed over each image's hw pixels);
 * da or db may be NULL. */
void frost_mul_backward(int n, int64_t hw, int c, const float *a, const float *b, bool per_channel,
                        const float *dy, float *da, float *db);
/* Channel concat of k inputs over m rows: input i has ci[i] channels; y has sum(ci). */
void frost_concat_forward(int64_t m, int k, const int *ci, const float *const *xs, float *y);
void frost_concat_backward(int64_t m, int k, const int *ci, const float *dy, float *const *dxs);
/* DARTS' mixed op over n values: y = sum_i w[i] * xs[i] (k inputs, added in order). */
void frost_mix_forward(int64_t n, int k, const float *w, const float *const *xs, float *y);
/* dxs[i] += w[i] * dy (dxs[i] may be NULL, and two may be the same buffer) and
 * g[i] = <dy, xs[i]> over all n values, summed in double in element order (the same
 * bits for any thread count). */
void frost_mix_backward(int64_t n, int k, const float *w, const float *const *xs, const float *dy,
                        float *const *dxs, double *g);
/* Inverted dropout over n images of `per_image` values: keeps with probability 1-p, scales
 * kept values by 1/(1-p); mask gets 0 or 1/(1-p). Image i draws from its own stream,
 * fork(root, first + i): a sample's mask depends on the root and its index in the global
 * batch, not on which process or thread handles it (data-parallel training). */
void frost_dropout_forward(int n, int64_t per_image, float p, const frost_rng *root, int64_t first,
                           const float *x, float *mask, float *y);
void frost_dropout_backward(int64_t n, const float *mask, const float *dy, float *dx);

/* ---- loss ---- */
/* Mean softmax cross-entropy over n rows of k logits, with label smoothing eps
 * (target = (1-eps) one-hot + eps/k). Writes dlogits (overwritten, not added;
 * already divided by n) if non-NULL and returns the mean loss. Counts rows
 * whose argmax equals the label into *correct if non-NULL. */
float frost_softmax_xent(int n, int k, const float *logits, const uint8_t *labels, float smoothing,
                         float *dlogits, int *correct);

/* ---- helpers used by several ops ---- */
/* y[i] += x[i] */
void frost_vec_add_inplace(int64_t n, const float *x, float *y);

#endif
