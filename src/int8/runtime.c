/*
 * The int8 runtime: checks a graph, packs weights for the fast kernels, plans every
 * activation into one arena (a tensor's bytes are reused once its last reader ran) and
 * runs one image without allocating.
 */
#include <assert.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "binary/binary.h"
#include "core/arena_plan.h"
#include "core/cpu.h"
#include "core/util.h"
#include "frost/io.h"
#include "frost/quant.h"
#include "int8/i8model.h"
#include "int8/kernels.h"
#include "int8/requant.h"

static const char *const op_names[] = {"quantize", "conv", "linear",  "logits",  "add", "mul",
                                       "concat",   "lut",  "maxpool", "avgpool", "gap"};
static_assert(FROST_ARRAY_LEN(op_names) == FROST_I8_OP_COUNT, "one name per int8 op");

const char *frost_int8_op_name(frost_int8_op op)
{
    return (unsigned)op < FROST_I8_OP_COUNT ? op_names[op] : "?";
}

int frost_int8_op_parse(const char *name)
{
    for (int i = 0; i < FROST_I8_OP_COUNT; i++)
        if (strcmp(name, op_names[i]) == 0)
            return i;
    return -1;
}

void *frost_int8_own(frost_int8_model *m, size_t bytes)
{
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? 2 * m->cap_owned : 64;
        void **p = realloc(m->owned, (size_t)cap * sizeof *p);
        if (!p) {
            frost_fail(FROST_ERR_NOMEM, "int8 model: out of memory");
            return NULL;
        }
        m->owned = p;
        m->cap_owned = cap;
    }
    void *p = frost_calloc(bytes ? bytes : 1);
    if (!p) {
        frost_fail(FROST_ERR_NOMEM, "int8 model: out of memory");
        return NULL;
    }
    m->owned[m->n_owned++] = p;
    return p;
}

void frost_int8_free(frost_int8_model *m)
{
    if (!m)
        return;
    for (int i = 0; m->nodes && i < m->n_nodes; i++)
        frost_int8_bin_free(&m->nodes[i]);
    for (int i = 0; i < m->n_owned; i++)
        frost_free(m->owned[i]);
    free(m->owned);
    free(m->nodes);
    frost_st_close(m->file);
    frost_free(m->arena);
    frost_free(m->scratch);
    frost_free(m->padded);
    free(m->out);
    free(m);
}

/* ---- preparation ---- */

static bool is_dw(const frost_int8_node *n, const frost_int8_node *in)
{
    return n->op == FROST_I8_CONV && n->groups == in->c && n->groups == n->c && n->groups > 1;
}

/* Values per output channel of a conv / linear weight. */
static int64_t weight_inner(const frost_int8_model *m, const frost_int8_node *n)
{
    const frost_int8_node *in = &m->nodes[n->in[0]];
    if (n->op == FROST_I8_CONV)
        return (int64_t)n->k * n->k * (in->c / n->groups);
    return (int64_t)in->h * in->w * in->c;
}

static frost_status node_fail(const frost_int8_node *n, const char *what)
{
    return frost_fail(FROST_ERR_FORMAT, "int8 model: node '%s' (%s): %s", n->name,
                      frost_int8_op_name(n->op), what);
}

/* The output shape node i must have given its inputs and attributes. */
static frost_status check_shape(const frost_int8_model *m, int i)
{
    const frost_int8_node *n = &m->nodes[i];
    const frost_int8_node *in = n->n_in > 0 ? &m->nodes[n->in[0]] : NULL;
    if ((unsigned)n->op >= FROST_I8_OP_COUNT)
        return node_fail(n, "unknown op");
    int want_in = n->op == FROST_I8_QUANTIZE                       ? 0
                  : n->op == FROST_I8_ADD || n->op == FROST_I8_MUL ? 2
                                                                   : 1;
    if (n->op == FROST_I8_CONCAT ? n->n_in < 1 : n->n_in != want_in)
        return node_fail(n, "wrong number of inputs");
    for (int j = 0; j < n->n_in; j++)
        if (n->in[j] < 0 || n->in[j] >= i || m->nodes[n->in[j]].op == FROST_I8_LOGITS)
            return node_fail(n, "an input is not an earlier quantized node");
    if (n->h < 1 || n->w < 1 || n->c < 1 || n->h > 32768 || n->w > 32768 || n->c > 65536 ||
        (int64_t)n->h * n->w * n->c > (INT64_C(1) << 30))
        return node_fail(n, "output shape out of range");
    if (n->op != FROST_I8_LOGITS && !(n->scale > 0.0f && isfinite(n->scale)))
        return node_fail(n, "scale is not a positive finite number");
    if (n->zp < 0 || n->zp > 255 || n->lo < 0 || n->hi > 255 || n->lo > n->hi)
        return node_fail(n, "zero point or clamp outside [0, 255]");
    bool windowed =
        n->op == FROST_I8_CONV || n->op == FROST_I8_MAXPOOL || n->op == FROST_I8_AVGPOOL;
    bool weights = n->op == FROST_I8_CONV || n->op == FROST_I8_LINEAR;
    bool pool = n->op == FROST_I8_AVGPOOL || n->op == FROST_I8_GAP;
    if (!weights && !pool && n->op != FROST_I8_MUL && n->acc_shift != 0)
        return node_fail(n, "accumulator shift on an op without weights or sums");
    if (n->op == FROST_I8_MUL &&
        (n->acc_shift < 0 || (INT64_C(255) * 255) << n->acc_shift > (INT64_C(1) << 30)))
        return node_fail(n, "product shift out of range");
    if (pool && in) {
        int64_t taps = n->op == FROST_I8_GAP ? (int64_t)in->h * in->w : (int64_t)n->k * n->k;
        if (n->acc_shift < 0 || n->acc_shift > 24 ||
            ((taps * 255) << n->acc_shift) > (INT64_C(1) << 30))
            return node_fail(n, "pool sum shift out of range");
    }
    if ((n->op != FROST_I8_CONV && n->groups != 1) ||
        (!windowed && (n->k != 1 || n->stride != 1 || n->pad != 0)))
        return node_fail(n, "kernel, stride, padding or groups set on an op without them");
    int oh = 1, ow = 1, oc = in ? in->c : m->in_c;
    switch (n->op) {
    case FROST_I8_QUANTIZE: oh = m->in_h, ow = m->in_w; break;
    case FROST_I8_CONV:
    case FROST_I8_MAXPOOL:
    case FROST_I8_AVGPOOL:
        if (n->k < 1 || n->k > 15 || n->stride < 1 || n->stride > 8 || n->pad < 0 || n->pad >= n->k)
            return node_fail(n, "kernel, stride or padding out of range");
        if (in->h + 2 * n->pad < n->k || in->w + 2 * n->pad < n->k)
            return node_fail(n, "kernel larger than the padded input");
        oh = (in->h + 2 * n->pad - n->k) / n->stride + 1;
        ow = (in->w + 2 * n->pad - n->k) / n->stride + 1;
        if (n->op == FROST_I8_CONV) {
            if (n->groups < 1 || in->c % n->groups || n->c % n->groups)
                return node_fail(n, "groups do not divide the channels");
            oc = n->c;
        }
        break;
    case FROST_I8_LINEAR:
    case FROST_I8_LOGITS:
        if (weight_inner(m, n) > 65536)
            return node_fail(n, "too many inputs");
        oc = n->c;
        break;
    case FROST_I8_ADD:
        if (m->nodes[n->in[1]].h != in->h || m->nodes[n->in[1]].w != in->w ||
            m->nodes[n->in[1]].c != in->c)
            return node_fail(n, "inputs of different shapes");
        oh = in->h, ow = in->w;
        break;
    case FROST_I8_MUL: {
        const frost_int8_node *b = &m->nodes[n->in[1]];
        if (b->c != in->c || ((b->h != in->h || b->w != in->w) && (b->h != 1 || b->w != 1)))
            return node_fail(n, "input 1 is neither input 0's shape nor 1x1 per channel");
        oh = in->h, ow = in->w;
        break;
    }
    case FROST_I8_CONCAT:
        oc = 0;
        for (int j = 0; j < n->n_in; j++) {
            const frost_int8_node *x = &m->nodes[n->in[j]];
            if (x->h != in->h || x->w != in->w)
                return node_fail(n, "inputs of different sizes");
            oc += x->c;
        }
        oh = in->h, ow = in->w;
        break;
    case FROST_I8_LUT: oh = in->h, ow = in->w; break;
    case FROST_I8_GAP: break;
    case FROST_I8_OP_COUNT: return node_fail(n, "unknown op");
    }
    if (n->h != oh || n->w != ow || n->c != oc)
        return node_fail(n, "output shape does not follow from its inputs");
    return FROST_OK;
}

frost_status frost_int8_check_node(const frost_int8_model *m, int i)
{
    FROST_TRY(check_shape(m, i));
    const frost_int8_node *n = &m->nodes[i];
    if ((i == 0) != (n->op == FROST_I8_QUANTIZE))
        return node_fail(n, "the first node (and only it) quantizes the input");
    if (n->op == FROST_I8_LOGITS && i != m->n_nodes - 1)
        return node_fail(n, "float output before the last node");
    return FROST_OK;
}

/* Multipliers (M0, e) in range: M0 in [0, 2^31), e in [-31, 30]. */
static frost_status check_multipliers(const frost_int8_node *n)
{
    for (int j = 0; j < n->n_mult; j++)
        if (n->mult[j] < 0 || n->shift[j] < -31 || n->shift[j] > 30)
            return node_fail(n, "requant multiplier out of range");
    return FROST_OK;
}

/* bias - Z_x * sum(w) per channel; refuses sums that could overflow int32. */
static frost_status prepare_bias(frost_int8_model *m, frost_int8_node *n)
{
    const frost_int8_node *in = &m->nodes[n->in[0]];
    int64_t inner = weight_inner(m, n);
    if (n->acc_shift < 0 || n->acc_shift > 8 || (n->op == FROST_I8_LOGITS && n->acc_shift))
        return node_fail(n, "accumulator shift outside 0..8");
    if ((inner * 255 * 128) << n->acc_shift > (INT64_C(1) << 30))
        return node_fail(n, "too many inputs per output for int32 accumulation");
    int32_t *be = frost_int8_own(m, (size_t)n->c * 4);
    if (!be)
        return FROST_ERR_NOMEM;
    for (int c = 0; c < n->c; c++) {
        int64_t sw = 0;
        for (int64_t j = 0; j < inner; j++)
            sw += n->weight[c * inner + j];
        if (n->bias[c] > (1 << 30) || n->bias[c] < -(1 << 30))
            return node_fail(n, "bias out of range");
        be[c] = (int32_t)(n->bias[c] - (int64_t)in->zp * sw * (1 << n->acc_shift));
    }
    n->bias_eff = be;
    return FROST_OK;
}

/* Float requantization scales S_x S_w[c] / (S_y 2^acc_shift) from the real scales (closer
 * to the fake-quant model than (M0, e), which rounds them to 31 bits), in float32 in ONNX
 * Runtime's order (S_x S_w, then / S_y): its QLinearConv then requantizes as frost does to
 * the bit (a scale one ulp apart moved an output across a rounding tie now and then). */
static frost_status prepare_fscale(frost_int8_model *m, frost_int8_node *n)
{
    const frost_int8_node *in = &m->nodes[n->in[0]];
    n->fscale = frost_int8_own(m, (size_t)n->c * sizeof(float));
    if (!n->fscale)
        return FROST_ERR_NOMEM;
    for (int c = 0; c < n->c; c++) {
        float sxw = in->scale * n->wscale[c];
        n->fscale[c] = sxw / n->scale / (float)(1 << n->acc_shift);
    }
    return FROST_OK;
}

/* The kernel arguments of conv node n (shapes, quantization, weights). */
static frost_int8_conv_args conv_args(const frost_int8_model *m, const frost_int8_node *n)
{
    const frost_int8_node *in = &m->nodes[n->in[0]];
    frost_int8_conv_args a = {.h = in->h,
                              .w = in->w,
                              .cin = in->c,
                              .oh = n->h,
                              .ow = n->w,
                              .cout = n->c,
                              .k = n->k,
                              .stride = n->stride,
                              .pad = n->pad,
                              .groups = n->groups,
                              .acc_shift = n->acc_shift,
                              .in_zp = in->zp,
                              .out_zp = n->zp,
                              .lo = n->lo,
                              .hi = n->hi,
                              .weight = n->weight,
                              .bias = n->bias,
                              .bias_eff = n->bias_eff,
                              .mult = n->mult,
                              .shift = n->shift,
                              .fscale = m->float_requant ? n->fscale : NULL};
    return a;
}

/* Whether a depthwise node's VNNI kernel reads its unpadded input (border pixels through a
 * window of zero points) instead of a padded copy: at stride 2, where the copy costs the
 * most per output and only one row and column are border pixels (s2.b1 of MobileNetV2
 * 0.12 -> 0.09 ms, and the largest padded buffer goes); at stride 1 the border pixels
 * cost more than the copy saves (measured: 14x14 and 7x7 maps 30% slower). */
static bool vnni_dw_pads_itself(const frost_int8_node *n)
{
    return n->packed_vnni && n->groups > 1 && n->stride > 1;
}

/* Packs (or, when n->packed exists, re-packs in place) a conv's weights and constants. */
static frost_status pack_weights(frost_int8_model *m, frost_int8_node *n, size_t *scratch)
{
    const frost_int8_node *in = &m->nodes[n->in[0]];
    const float *fs = m->float_requant ? n->fscale : NULL;
    bool repack = n->packed != NULL;
    if (is_dw(n, in)) {
        n->packed_vnni = frost_cpu_has_avx512_vnni() && (n->k == 3 || n->k == 5);
        size_t padded = (size_t)(in->h + 2 * n->pad) * (in->w + 2 * n->pad) * in->c;
        if (!vnni_dw_pads_itself(n))
            m->padded_bytes = padded > m->padded_bytes ? padded : m->padded_bytes;
        if (n->packed_vnni) {
            if (!repack &&
                !(n->packed = frost_int8_own(m, frost_int8_dw_vnni_packed_bytes(n->c, n->k))))
                return FROST_ERR_NOMEM;
            frost_int8_dw_vnni_pack(n->c, n->k, n->acc_shift, n->weight, n->bias_eff, n->mult,
                                    n->shift, fs, n->packed);
            return FROST_OK;
        }
        if (!repack && !(n->packed = frost_int8_own(m, frost_int8_dw_packed_bytes(n->c, n->k))))
            return FROST_ERR_NOMEM;
        frost_int8_dw_pack(n->c, n->k, n->acc_shift, n->weight, n->bias_eff, n->mult, n->shift, fs,
                           n->packed);
    } else if (n->groups == 1) {
        size_t padded = (size_t)(in->h + 2 * n->pad) * (in->w + 2 * n->pad) * in->c;
        if (n->pad > 0)
            m->padded_bytes = padded > m->padded_bytes ? padded : m->padded_bytes;
        int kdim = n->k * n->k * in->c;
        frost_int8_conv_args a = conv_args(m, n); /* shapes only: the scratch size */
        n->packed_vnni = frost_cpu_has_avx512_vnni();
        size_t s;
        if (n->packed_vnni) {
            if (!repack &&
                !(n->packed = frost_int8_own(m, frost_int8_vnni_packed_bytes(n->c, kdim))))
                return FROST_ERR_NOMEM;
            frost_int8_vnni_pack(n->c, kdim, n->acc_shift, n->weight, n->bias_eff, n->mult,
                                 n->shift, fs, n->packed);
            s = frost_int8_vnni_scratch_bytes(&a);
        } else {
            if (!repack &&
                !(n->packed = frost_int8_own(m, frost_int8_gemm_packed_bytes(n->c, kdim))))
                return FROST_ERR_NOMEM;
            frost_int8_gemm_pack(n->c, kdim, n->acc_shift, n->weight, n->bias_eff, n->mult,
                                 n->shift, fs, n->packed);
            s = frost_int8_gemm_scratch_bytes(&a);
        }
        *scratch = s > *scratch ? s : *scratch;
    }
    return FROST_OK;
}

/* Tensor bytes in the arena (LOGITS write the float output instead). */
static size_t tensor_bytes(const frost_int8_node *n)
{
    return n->op == FROST_I8_LOGITS ? 0 : (size_t)n->h * n->w * n->c;
}

/* Every node's output in one arena; a tensor lives until its last reader (the output
 * until the end). */
static frost_status plan_arena(frost_int8_model *m)
{
    int n = m->n_nodes;
    frost_arena_node *g = malloc((size_t)n * sizeof *g);
    size_t *offset = malloc((size_t)n * sizeof(size_t));
    frost_status s =
        g && offset ? FROST_OK : frost_fail(FROST_ERR_NOMEM, "int8 model: out of memory");
    for (int i = 0; s == FROST_OK && i < n; i++) {
        const frost_int8_node *d = &m->nodes[i];
        g[i] =
            (frost_arena_node){.bytes = tensor_bytes(d), .tensor = i, .n_in = d->n_in, .in = d->in};
    }
    if (s == FROST_OK)
        s = frost_arena_plan_graph(n, g, offset, &m->arena_bytes);
    for (int i = 0; s == FROST_OK && i < n; i++)
        m->nodes[i].offset = offset[i];
    free(g), free(offset);
    return s;
}

/* Bit j set when the table of input j maps every byte to itself (the inputs of a concat
 * often share its scale and zero point): a copy then does the same. */
static uint32_t identity_tables(const frost_int8_node *n)
{
    uint32_t bits = 0;
    for (int j = 0; j < n->n_in && j < 32; j++) {
        bool same = true;
        for (int v = 0; v < 256 && same; v++)
            same = n->lut[256 * j + v] == v;
        bits |= (uint32_t)same << j;
    }
    return bits;
}

frost_status frost_int8_prepare(frost_int8_model *m)
{
    if (m->n_nodes < 2)
        return frost_fail(FROST_ERR_FORMAT, "int8 model '%s' has no layers", m->name);
    m->use_avx2 = frost_cpu_has_avx2();
    m->bin_path = frost_bin_best_path();
    size_t scratch = 0, acc = 0, bin_words = 0, bin_dots = 0, bin_floats = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        frost_int8_node *n = &m->nodes[i];
        FROST_TRY(frost_int8_check_node(m, i));
        if (n->mult)
            FROST_TRY(check_multipliers(n));
        if (n->ain) { /* binarized input: its own kernels (binact.c) */
            n->macs = (int64_t)n->h * n->w * n->c * weight_inner(m, n);
            FROST_TRY(frost_int8_bin_prepare(m, n, &bin_words, &bin_dots, &bin_floats));
            continue;
        }
        if (n->op == FROST_I8_CONV || n->op == FROST_I8_LINEAR || n->op == FROST_I8_LOGITS) {
            n->macs = (int64_t)n->h * n->w * n->c * weight_inner(m, n);
            FROST_TRY(prepare_bias(m, n));
            if (n->op != FROST_I8_LOGITS)
                FROST_TRY(prepare_fscale(m, n));
            size_t need = (size_t)((n->c + 15) & ~15) * 4 + ((size_t)weight_inner(m, n) + 16) * 2;
            acc = need > acc ? need : acc;
        }
        if (n->op == FROST_I8_CONV)
            FROST_TRY(pack_weights(m, n, &scratch));
        if (n->op == FROST_I8_CONCAT || n->op == FROST_I8_LUT)
            n->lut_identity = identity_tables(n);
        if (n->op == FROST_I8_MUL) /* one multiply per output, as the float model counts */
            n->macs = (int64_t)n->h * n->w * n->c;
    }
    const frost_int8_node *last = &m->nodes[m->n_nodes - 1];
    if ((int64_t)last->h * last->w * last->c != m->classes)
        return frost_fail(FROST_ERR_FORMAT,
                          "int8 model '%s': the output has %d values, not "
                          "the %d classes",
                          m->name, last->h * last->w * last->c, m->classes);
    FROST_TRY(plan_arena(m));
    int threads = omp_get_num_procs();
    m->scratch_bytes =
        ((scratch + 63) & ~(size_t)63) * (size_t)threads + ((acc + 63) & ~(size_t)63);
    /* binarized-input nodes: packed signs, dot products, XNOR's floats; they share the
     * scratch of the other kernels (one node runs at a time) */
    size_t bits_bytes = (bin_words * 8 + 63) & ~(size_t)63;
    size_t dots_bytes = (bin_dots * 4 + 63) & ~(size_t)63;
    size_t bin_bytes = bits_bytes + dots_bytes + bin_floats * 4;
    m->scratch_bytes = bin_bytes > m->scratch_bytes ? bin_bytes : m->scratch_bytes;
    char what[160];
    snprintf(what, sizeof what, "int8 model '%s' (activations and scratch)", m->name);
    FROST_TRY(frost_check_memory(
        (uint64_t)m->arena_bytes + m->scratch_bytes + m->padded_bytes + 192, what));
    m->arena = frost_calloc(m->arena_bytes + 64);
    m->scratch = frost_calloc(m->scratch_bytes + 64);
    m->out = malloc((size_t)m->classes * sizeof(float));
    m->padded = m->padded_bytes ? frost_alloc(m->padded_bytes + 64) : NULL;
    if (m->padded_bytes && !m->padded)
        return frost_fail(FROST_ERR_NOMEM, "int8 model '%s': out of memory", m->name);
    m->thread_scratch = (scratch + 63) & ~(size_t)63;
    if (!m->arena || !m->scratch || !m->out)
        return frost_fail(FROST_ERR_NOMEM, "int8 model '%s': out of memory for %zu arena bytes",
                          m->name, m->arena_bytes);
    m->bin_x = m->scratch;
    m->bin_dot = (int32_t *)((uint8_t *)m->scratch + bits_bytes);
    m->bin_f = (float *)((uint8_t *)m->scratch + bits_bytes + dots_bytes);
    return FROST_OK;
}

frost_status frost_int8_finish(frost_int8_model *m, frost_status s, frost_int8_model **out)
{
    if (s == FROST_OK)
        s = frost_int8_prepare(m);
    if (s != FROST_OK) {
        frost_int8_free(m);
        return s;
    }
    *out = m;
    return FROST_OK;
}

uint8_t *frost_int8_tensor(frost_int8_model *m, int i) { return m->arena + m->nodes[i].offset; }

/* ---- running ---- */

/* Rows [r0, r1) of the zero-point-padded copy of x (h + 2p rows of w + 2p pixels) in
 * m->padded: conv kernels then have no border cases. Threads fill disjoint rows. */
static void pad_rows(uint8_t *d, const frost_int8_conv_args *a, const uint8_t *x, int r0, int r1)
{
    int p = a->pad, c = a->cin;
    size_t row = (size_t)(a->w + 2 * p) * c;
    for (int r = r0; r < r1; r++) {
        uint8_t *dr = d + row * (size_t)r;
        int y = r - p;
        if (y < 0 || y >= a->h) {
            memset(dr, a->in_zp, row);
            continue;
        }
        memset(dr, a->in_zp, (size_t)p * c);
        memcpy(dr + (size_t)p * c, x + (size_t)y * a->w * c, (size_t)a->w * c);
        memset(dr + (size_t)(p + a->w) * c, a->in_zp, (size_t)p * c);
    }
}

/* Thread t of nt's share of conv node n: its rows of the padded input (then a barrier),
 * then its output rows (depthwise) or pixels (GEMM). */
static void conv_share(frost_int8_model *m, const frost_int8_node *n, const frost_int8_conv_args *a,
                       const frost_int8_conv_args *pa, const uint8_t *x, uint8_t *y, int t, int nt)
{
    bool pad_copy = a->pad > 0 && !vnni_dw_pads_itself(n);
    const uint8_t *in = pad_copy ? m->padded : x;
    if (pad_copy) {
        pad_rows(m->padded, a, x, (int)((int64_t)pa->h * t / nt),
                 (int)((int64_t)pa->h * (t + 1) / nt));
        if (nt > 1) {
#pragma omp barrier
        }
    }
    if (a->groups > 1) { /* rows: a thread's taps overlap its own rows only */
        int r0 = (int)((int64_t)n->h * t / nt), r1 = (int)((int64_t)n->h * (t + 1) / nt);
        if (vnni_dw_pads_itself(n))
            frost_int8_dwconv_vnni(a, n->packed, x, y, r0, r1);
        else if (n->packed_vnni)
            frost_int8_dwconv_vnni(pa, n->packed, in, y, r0, r1);
        else
            frost_int8_dwconv_avx2(pa, n->packed, in, y, r0, r1);
    } else { /* pixels, in whole micro-kernel groups: balanced even on 7x7 maps */
        int groups = (n->h * n->w + 3) / 4;
        int p0 = 4 * (int)((int64_t)groups * t / nt),
            p1 = 4 * (int)((int64_t)groups * (t + 1) / nt);
        p1 = p1 < n->h * n->w ? p1 : n->h * n->w;
        uint8_t *scratch = m->scratch + m->thread_scratch * (size_t)t;
        if (n->packed_vnni)
            frost_int8_conv_vnni(pa, n->packed, in, y, p0, p1, scratch);
        else
            frost_int8_conv_gemm_avx2(pa, n->packed, in, y, p0, p1, scratch);
    }
}

/* Threads a conv node is worth: one below ~100k multiply-adds, where waking a second thread
 * costs more than it saves. */
static int conv_threads(const frost_int8_model *m, const frost_int8_node *n, int threads)
{
    if (!m->use_avx2 || !n->packed)
        return 1; /* the reference kernel runs on one thread */
    int64_t work = (int64_t)n->h * n->w * n->c *
                   (n->groups > 1 ? n->k * n->k : (int64_t)n->k * n->k * m->nodes[n->in[0]].c);
    return work < 100000 ? 1 : threads;
}

/* Thread t of nt's share of conv node n (nt = 1: all of it). */
static void conv_node_share(frost_int8_model *m, const frost_int8_node *n, const uint8_t *x,
                            uint8_t *y, int t, int nt)
{
    frost_int8_conv_args a = conv_args(m, n);
    if (!m->use_avx2 || !n->packed) {
        frost_int8_conv_ref(&a, x, y);
        return;
    }
    frost_int8_conv_args pa = a; /* what the kernels see: the padded input, no padding */
    if (a.pad > 0) {
        pa.h += 2 * a.pad;
        pa.w += 2 * a.pad;
        pa.pad = 0;
    }
    conv_share(m, n, &a, &pa, x, y, t, nt);
}

static void run_linear(frost_int8_model *m, const frost_int8_node *n, const uint8_t *x, uint8_t *y)
{
    const frost_int8_node *in = &m->nodes[n->in[0]];
    int cin = (int)weight_inner(m, n);
    int32_t *acc =
        (int32_t *)((uint8_t *)m->scratch + m->thread_scratch * (size_t)omp_get_num_procs());
    int16_t *xs = (int16_t *)(acc + ((n->c + 15) & ~15));
    if (m->use_avx2) {
        frost_int8_linear_avx2(cin, n->c, n->acc_shift, n->weight, x, n->bias_eff, acc, xs);
    } else {
        frost_int8_linear_ref(cin, n->c, in->zp, n->weight, x, acc);
        for (int o = 0; o < n->c; o++)
            acc[o] = n->bias[o] + (int32_t)((uint32_t)acc[o] << n->acc_shift);
    }
    for (int o = 0; o < n->c; o++) {
        if (n->op == FROST_I8_LOGITS) /* its bias is 0: the float bias comes after */
            m->out[o] = n->out_scale[o] * (float)acc[o] + n->out_bias[o];
        else if (m->float_requant)
            y[o] = frost_requant_u8_float(acc[o], n->fscale[o], n->zp, n->lo, n->hi);
        else
            y[o] = frost_requant_u8(acc[o], n->mult[o], n->shift[o], n->zp, n->lo, n->hi);
    }
}

static frost_int8_pool_args pool_args(const frost_int8_model *m, const frost_int8_node *n)
{
    const frost_int8_node *in = &m->nodes[n->in[0]];
    frost_int8_pool_args a = {.h = in->h,
                              .w = in->w,
                              .c = in->c,
                              .oh = n->h,
                              .ow = n->w,
                              .k = n->k,
                              .stride = n->stride,
                              .pad = n->pad,
                              .in_zp = in->zp,
                              .out_zp = n->zp,
                              .lo = n->lo,
                              .hi = n->hi,
                              .mult = n->mult,
                              .shift = n->shift,
                              .lut = n->lut,
                              .acc_shift = n->acc_shift};
    return a;
}

/* Thread t of nt's share of an add over len values (32-byte aligned splits). */
static void add_share(const frost_int8_model *m, const frost_int8_add_args *args, int64_t len,
                      const uint8_t *x, const uint8_t *x1, uint8_t *y, int t, int nt)
{
    int64_t b = len * t / nt / 32 * 32, e = t + 1 == nt ? len : len * (t + 1) / nt / 32 * 32;
    if (m->use_avx2 && frost_cpu_has_avx512_vnni())
        frost_int8_add_avx512(args, e - b, x + b, x1 + b, y + b);
    else if (m->use_avx2)
        frost_int8_add_avx2(args, e - b, x + b, x1 + b, y + b);
    else
        frost_int8_add_ref(args, e - b, x + b, x1 + b, y + b);
}

/* Thread t of nt's share of add node n (nt = 1: all of it). */
static void add_node_share(frost_int8_model *m, const frost_int8_node *n, const uint8_t *x,
                           uint8_t *y, int t, int nt)
{
    const frost_int8_node *a = &m->nodes[n->in[0]], *b = &m->nodes[n->in[1]];
    frost_int8_add_args args = {
        .a_zp = a->zp, .b_zp = b->zp, .out_zp = n->zp, .lo = n->lo, .hi = n->hi};
    for (int j = 0; j < 3; j++) {
        args.mult[j] = n->mult[j];
        args.shift[j] = n->shift[j];
    }
    args.fp = m->float_requant;
    frost_int8_add_float_params(&args, a->scale, b->scale, n->scale);
    int64_t len = (int64_t)n->h * n->w * n->c;
    const uint8_t *x1 = frost_int8_tensor(m, n->in[1]);
    add_share(m, &args, len, x, x1, y, t, nt);
}

/* Thread t of nt's share of a product: whole pixels. */
static void mul_share(const frost_int8_model *m, const frost_int8_mul_args *args, int64_t pixels,
                      int c, bool per_channel, const uint8_t *x, const uint8_t *x1, uint8_t *y,
                      int t, int nt)
{
    int64_t p0 = pixels * t / nt, p1 = pixels * (t + 1) / nt;
    size_t off = (size_t)p0 * c;
    const uint8_t *b_at = per_channel ? x1 : x1 + off;
    if (m->use_avx2)
        frost_int8_mul_avx2(args, p1 - p0, c, per_channel, x + off, b_at, y + off);
    else
        frost_int8_mul_ref(args, p1 - p0, c, per_channel, x + off, b_at, y + off);
}

/* Thread t of nt's share of product node n (nt = 1: all of it). */
static void mul_node_share(frost_int8_model *m, const frost_int8_node *n, const uint8_t *x,
                           uint8_t *y, int t, int nt)
{
    const frost_int8_node *a = &m->nodes[n->in[0]], *b = &m->nodes[n->in[1]];
    frost_int8_mul_args args = {.a_zp = a->zp,
                                .b_zp = b->zp,
                                .out_zp = n->zp,
                                .lo = n->lo,
                                .hi = n->hi,
                                .mult = n->mult[0],
                                .shift = n->shift[0],
                                .acc_shift = n->acc_shift,
                                .fp = m->float_requant,
                                .f = (float)((double)a->scale * b->scale / n->scale)};
    int64_t pixels = (int64_t)n->h * n->w;
    bool per_channel = (int64_t)b->h * b->w != pixels;
    const uint8_t *x1 = frost_int8_tensor(m, n->in[1]);
    mul_share(m, &args, pixels, n->c, per_channel, x, x1, y, t, nt);
}

/* Input j of a concat / LUT node through its table, rows of len bytes into y (stride
 * y_stride); a copy when the table is the identity. */
static void map_rows(const frost_int8_model *m, const frost_int8_node *n, int j, int64_t rows,
                     int len, const uint8_t *x, uint8_t *y, int y_stride)
{
    if (!(j < 32 && (n->lut_identity >> j & 1))) {
        if (m->use_avx2)
            frost_int8_lut_rows_avx2(n->lut + 256 * j, rows, len, x, len, y, y_stride);
        else
            frost_int8_lut_rows(n->lut + 256 * j, rows, len, x, len, y, y_stride);
    } else if (len == y_stride) {
        memcpy(y, x, (size_t)rows * (size_t)len);
    } else {
        for (int64_t r = 0; r < rows; r++)
            memcpy(y + r * y_stride, x + r * len, (size_t)len);
    }
}

/* Node i on one thread, except for the kinds that are split between threads. */
static void run_node_alone(frost_int8_model *m, int i)
{
    frost_int8_node *n = &m->nodes[i];
    uint8_t *y = frost_int8_tensor(m, i);
    const uint8_t *x = n->n_in ? frost_int8_tensor(m, n->in[0]) : NULL;
    switch (n->op) {
    case FROST_I8_QUANTIZE: break; /* the input is written by the caller */
    case FROST_I8_CONV:
        if (n->ain)
            frost_int8_bin_run(m, n, x, y);
        else
            conv_node_share(m, n, x, y, 0, 1);
        break;
    case FROST_I8_LINEAR:
        if (n->ain) {
            frost_int8_bin_run(m, n, x, y);
            break;
        }
        run_linear(m, n, x, y);
        break;
    case FROST_I8_LOGITS: run_linear(m, n, x, y); break;
    case FROST_I8_ADD: add_node_share(m, n, x, y, 0, 1); break;
    case FROST_I8_MUL: mul_node_share(m, n, x, y, 0, 1); break;
    case FROST_I8_CONCAT: {
        int off = 0;
        for (int j = 0; j < n->n_in; j++) {
            int cj = m->nodes[n->in[j]].c;
            map_rows(m, n, j, (int64_t)n->h * n->w, cj, frost_int8_tensor(m, n->in[j]), y + off,
                     n->c);
            off += cj;
        }
        break;
    }
    case FROST_I8_LUT: map_rows(m, n, 0, (int64_t)n->h * n->w, n->c, x, y, n->c); break;
    case FROST_I8_MAXPOOL: {
        frost_int8_pool_args a = pool_args(m, n);
        frost_int8_maxpool_ref(&a, x, y);
        break;
    }
    case FROST_I8_AVGPOOL: {
        frost_int8_pool_args a = pool_args(m, n);
        frost_int8_avgpool_ref(&a, x, y);
        break;
    }
    case FROST_I8_GAP: {
        frost_int8_pool_args a = pool_args(m, n);
        if (m->use_avx2)
            frost_int8_gap_avx2(&a, x, y);
        else
            frost_int8_gap_ref(&a, x, y);
        break;
    }
    case FROST_I8_OP_COUNT: /* rejected when the model was checked */ break;
    }
}

/* Threads worth giving node i when `threads` are available: the split kinds (conv, add,
 * product) take them all when large enough; everything else runs on one thread (a
 * binarized-input node opens its own parallel region inside run_node_alone). */
static int node_threads(const frost_int8_model *m, const frost_int8_node *n, int threads)
{
    switch (n->op) {
    case FROST_I8_CONV: return n->ain ? 1 : conv_threads(m, n, threads);
    case FROST_I8_ADD: return (int64_t)n->h * n->w * n->c >= 65536 ? threads : 1;
    case FROST_I8_MUL: return (int64_t)n->h * n->w * n->c >= 65536 ? threads : 1;
    default: return 1;
    }
}

/* Thread t of nt's share of node i, called by all nt threads of a parallel region (nt = 1:
 * the caller is alone). Nodes not worth splitting run on thread 0; the others wait. */
static void run_node_share(frost_int8_model *m, int i, int t, int nt)
{
    frost_int8_node *n = &m->nodes[i];
    if (nt == 1 || node_threads(m, n, nt) == 1) {
        if (t == 0)
            run_node_alone(m, i);
        return;
    }
    uint8_t *y = frost_int8_tensor(m, i);
    const uint8_t *x = frost_int8_tensor(m, n->in[0]);
    switch (n->op) {
    case FROST_I8_CONV: conv_node_share(m, n, x, y, t, nt); break;
    case FROST_I8_ADD: add_node_share(m, n, x, y, t, nt); break;
    case FROST_I8_MUL: mul_node_share(m, n, x, y, t, nt); break;
    default: break; /* node_threads gives the other kinds one thread */
    }
}

void frost_int8_run_node(frost_int8_model *m, int i)
{
    int threads = node_threads(m, &m->nodes[i], frost_get_threads());
    if (threads == 1) { /* no parallel region: its fork/join costs more than a small node */
        run_node_share(m, i, 0, 1);
        return;
    }
#pragma omp parallel num_threads(threads)
    run_node_share(m, i, omp_get_thread_num(), omp_get_num_threads());
}

/* Whether any node opens a parallel region of its own (binarized inputs): such a model
 * runs node by node, since a region nested in the run's would get one thread. */
static bool has_inner_regions(const frost_int8_model *m)
{
    for (int i = 1; i < m->n_nodes; i++)
        if (m->nodes[i].ain)
            return true;
    return false;
}

/* Nodes 1.. of one image. With several threads, one parallel region for the whole run
 * and a barrier between nodes, instead of a fork and join per node (MobileNetV2 has about
 * 65 nodes worth splitting). */
static void run_nodes(frost_int8_model *m)
{
    int threads = frost_get_threads();
    if (threads == 1 || has_inner_regions(m)) {
        for (int i = 1; i < m->n_nodes; i++)
            frost_int8_run_node(m, i);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        for (int i = 1; i < m->n_nodes; i++) {
            run_node_share(m, i, t, nt);
#pragma omp barrier
        }
    }
}

void frost_int8_quantize_input(const frost_int8_model *m, const float *image, uint8_t *q)
{
    /* In the stored domain: clamp(Z + round(x / S)) over [lo, hi] is the fake-quant's
     * integer shifted by the storage offset (all exact small integers in float). */
    const frost_int8_node *n = &m->nodes[0];
    int64_t len = (int64_t)n->h * n->w * n->c;
    for (int64_t i = 0; i < len; i++)
        q[i] = (uint8_t)frost_quantize_one(image[i], n->scale, n->zp, n->lo, n->hi);
}

static void write_output(frost_int8_model *m, float *out)
{
    const frost_int8_node *last = &m->nodes[m->n_nodes - 1];
    if (last->op != FROST_I8_LOGITS) {
        const uint8_t *y = frost_int8_tensor(m, m->n_nodes - 1);
        for (int c = 0; c < m->classes; c++)
            m->out[c] = ((float)y[c] - (float)last->zp) * last->scale;
    }
    if (out)
        memcpy(out, m->out, (size_t)m->classes * sizeof(float));
}

static frost_status check_input(const frost_int8_model *m, const void *image, int64_t n)
{
    if (!m || !image)
        return frost_fail(FROST_ERR_ARG, "int8 run: NULL argument");
    int64_t want = (int64_t)m->in_h * m->in_w * m->in_c;
    if (n != want)
        return frost_fail(FROST_ERR_SHAPE,
                          "int8 run: model '%s' takes %dx%dx%d = %lld values "
                          "per image, got %lld",
                          m->name, m->in_h, m->in_w, m->in_c, (long long)want, (long long)n);
    return FROST_OK;
}

frost_status frost_int8_run_quantized(frost_int8_model *m, const uint8_t *image, int64_t n,
                                      float *out)
{
    FROST_TRY(check_input(m, image, n));
    const frost_int8_node *in = &m->nodes[0];
    memcpy(frost_int8_tensor(m, 0), image, (size_t)in->h * in->w * in->c);
    run_nodes(m);
    write_output(m, out);
    return FROST_OK;
}

frost_status frost_int8_run(frost_int8_model *m, const float *image, int64_t n, float *out)
{
    FROST_TRY(check_input(m, image, n));
    frost_int8_quantize_input(m, image, frost_int8_tensor(m, 0));
    run_nodes(m);
    write_output(m, out);
    return FROST_OK;
}

frost_status frost_int8_set_float_requant(frost_int8_model *m, int on)
{
    m->float_requant = on != 0;
    size_t scratch = 0; /* same sizes as when first packed */
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].op == FROST_I8_CONV && m->nodes[i].packed)
            FROST_TRY(pack_weights(m, &m->nodes[i], &scratch));
    return FROST_OK;
}

int frost_int8_float_requant(const frost_int8_model *m) { return m->float_requant; }

void frost_int8_force_reference(frost_int8_model *m, int on)
{
    m->use_avx2 = !on && frost_cpu_has_avx2();
}
