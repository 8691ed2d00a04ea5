/*
 * The FP32 inference engine (frost/infer.h): a float model compiled for batch 1.
 *
 * One engine node per node of the BN-folded model (same indices, same names), each
 * producing one NHWC tensor in a planned arena. Convs with groups == 1 run the packed
 * GEMM (ops/pgemm.h; k x k and strided ones through an im2col tile per thread, sized to
 * stay in cache), depthwise convs the training engine's depthwise row kernels; a conv's
 * activation, when the activation is its only reader, is applied inside the conv and the
 * activation node becomes an alias of the conv's tensor (so do dropout and flatten).
 * The other ops call the training engine's forward kernels.
 */
#include "frost/infer.h"

#include <omp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena_plan.h"
#include "core/cpu.h"
#include "core/node_timer.h"
#include "core/util.h"
#include "models/graph.h"
#include "ops/depthwise.h"
#include "ops/elementwise.h"
#include "ops/pgemm.h"

/* Convs with fewer multiply-adds than this run on one thread: waking a second one costs
 * more than it saves. */
#define MIN_PARALLEL_MACS 100000
/* im2col tile: rows of patches per thread and step (a multiple of the GEMM tiles' 6 and
 * 12 rows) */
#define IM2COL_ROWS  96
#define IM2COL_BYTES (64 * 1024)

typedef enum {
    F_INPUT = 0,
    F_ALIAS, /* the tensor of in[0] (dropout, flatten, an activation fused into its conv) */
    F_GEMM,  /* conv, groups == 1 (1x1 stride 1 reads the input directly; else im2col) */
    F_DW,    /* depthwise conv */
    F_CONV,  /* any other grouped conv: the training engine's conv */
    F_BN,    /* a BN that did not fold into a conv */
    F_ACT,
    F_MAXPOOL,
    F_AVGPOOL,
    F_GAP,
    F_LINEAR,
    F_ADD,
    F_MUL, /* elementwise product; in[1] of the same shape or 1x1xC (per-channel gate) */
    F_CONCAT,
    F_COUNT
} f_kind;

static const char *const kind_names[] = {"input",  "alias", "conv",    "dwconv",  "conv",
                                         "bn",     "act",   "maxpool", "avgpool", "gap",
                                         "linear", "add",   "mul",     "concat"};
_Static_assert(sizeof kind_names / sizeof kind_names[0] == F_COUNT, "one name per kind");

typedef struct {
    char name[FROST_NAME_LEN];
    f_kind kind;
    int n_in, in[FROST_MAX_NODE_INPUTS];
    int h, w, c;
    int64_t macs;
    frost_conv_params conv;
    frost_pool_params pool;
    frost_bn_params bn;
    frost_act_kind act; /* conv: fused activation; act: the activation */
    int kdim;           /* GEMM depth (kh*kw*cin or the linear's inputs) */
    bool im2col;
    float *packed;        /* GEMM / linear: ops/pgemm.h layout */
    float *weight, *bias; /* depthwise: transposed [kh*kw][c]; F_CONV: OHWI */
    float *bn_p;          /* BN: gamma, beta, mean, var [4][c] */
    int tensor;           /* the node whose arena bytes hold this node's output */
    size_t offset;
} f_node;

struct frost_fp32_model {
    char name[FROST_NAME_LEN];
    int in_h, in_w, in_c, classes;
    f_node *nodes;
    int n_nodes;
    float *arena;
    size_t arena_bytes;
    float *scratch;       /* per-thread im2col tiles, then the shared conv scratch */
    size_t thread_floats; /* im2col floats per thread */
    float *conv_scratch;  /* F_CONV (frost_conv2d_forward) and max pool's argmax */
    int threads_planned;
    bool use_avx2;
    bool use_avx512; /* GEMM and depthwise on zmm (implies use_avx2) */
};

static float *tensor(frost_fp32_model *m, int i)
{
    return (float *)(void *)((char *)m->arena + m->nodes[m->nodes[i].tensor].offset);
}

/* ---- compiling ---- */

static float *copy_floats(const float *src, size_t n)
{
    float *d = malloc((n ? n : 1) * sizeof(float));
    if (d && src)
        memcpy(d, src, n * sizeof(float));
    else if (d)
        memset(d, 0, (n ? n : 1) * sizeof(float));
    return d;
}

static const float *param(const frost_model *f, int idx)
{
    return idx >= 0 ? f->params[idx].data : NULL;
}

static bool is_depthwise(const frost_conv_params *p)
{
    return p->groups == p->cin && p->cout == p->cin && p->groups > 1;
}

static frost_status no_memory(const frost_model *f)
{
    return frost_fail(FROST_ERR_NOMEM, "fp32 engine: out of memory compiling '%s'", f->name);
}

static frost_status compile_conv(const frost_model *f, const frost_node *s, f_node *d)
{
    const frost_conv_params *p = &s->conv;
    const float *w = param(f, s->weight), *b = param(f, s->bias_p);
    const int taps = p->kh * p->kw, cin_g = p->cin / p->groups;
    d->conv = *p;
    d->act = FROST_ACT_IDENTITY;
    d->macs = (int64_t)d->h * d->w * d->c * taps * cin_g;
    d->bias = copy_floats(b, (size_t)p->cout);
    if (!d->bias)
        return no_memory(f);
    if (is_depthwise(p)) { /* the row kernels want the weight as [kh*kw][c] */
        d->kind = F_DW;
        d->weight = malloc((size_t)taps * p->cout * sizeof(float));
        if (!d->weight)
            return no_memory(f);
        for (int ch = 0; ch < p->cout; ch++)
            for (int t = 0; t < taps; t++)
                d->weight[(size_t)t * p->cout + ch] = w[(size_t)ch * taps + t];
        return FROST_OK;
    }
    if (p->groups > 1) {
        d->kind = F_CONV;
        d->weight = copy_floats(w, (size_t)p->cout * taps * cin_g);
        return d->weight ? FROST_OK : no_memory(f);
    }
    d->kind = F_GEMM;
    d->kdim = taps * p->cin;
    d->im2col = !(taps == 1 && p->stride == 1 && p->pad_h == 0 && p->pad_w == 0);
    d->packed = malloc(frost_pgemm_packed_floats(p->cout, d->kdim) * sizeof(float));
    if (!d->packed)
        return no_memory(f);
    frost_pgemm_pack(p->cout, d->kdim, w, b, d->packed);
    return FROST_OK;
}

static frost_status compile_linear(const frost_model *f, const frost_node *s, f_node *d)
{
    const frost_node *in = &f->nodes[s->in[0]];
    d->kind = F_LINEAR;
    d->act = FROST_ACT_IDENTITY;
    d->kdim = in->h * in->w * in->c;
    d->macs = (int64_t)d->kdim * d->c;
    d->packed = malloc(frost_pgemm_packed_floats(d->c, d->kdim) * sizeof(float));
    if (!d->packed)
        return no_memory(f);
    frost_pgemm_pack(d->c, d->kdim, param(f, s->weight), param(f, s->bias_p), d->packed);
    return FROST_OK;
}

static frost_status compile_bn(const frost_model *f, const frost_node *s, f_node *d)
{
    d->kind = F_BN;
    d->bn = s->bn;
    d->bn_p = malloc((size_t)4 * d->c * sizeof(float));
    if (!d->bn_p)
        return no_memory(f);
    const float *src[4] = {param(f, s->gamma), param(f, s->beta), f->buffers[s->running_mean].data,
                           f->buffers[s->running_var].data};
    for (int k = 0; k < 4; k++)
        memcpy(d->bn_p + (size_t)k * d->c, src[k], (size_t)d->c * sizeof(float));
    return FROST_OK;
}

static frost_status compile_node(const frost_model *f, int i, f_node *d)
{
    const frost_node *s = &f->nodes[i];
    snprintf(d->name, sizeof d->name, "%s", s->name);
    d->n_in = s->n_in;
    memcpy(d->in, s->in, sizeof d->in);
    d->h = s->h;
    d->w = s->w;
    d->c = s->c;
    d->tensor = i;
    d->pool = s->pool;
    d->act = s->act;
    switch (s->op) {
    case FROST_OP_INPUT: d->kind = F_INPUT; return FROST_OK;
    case FROST_OP_CONV: return compile_conv(f, s, d);
    case FROST_OP_BN: return compile_bn(f, s, d);
    case FROST_OP_LINEAR: return compile_linear(f, s, d);
    case FROST_OP_ACT: d->kind = F_ACT; return FROST_OK;
    case FROST_OP_MAXPOOL: d->kind = F_MAXPOOL; return FROST_OK;
    case FROST_OP_AVGPOOL: d->kind = F_AVGPOOL; return FROST_OK;
    case FROST_OP_GAP: d->kind = F_GAP; return FROST_OK;
    case FROST_OP_ADD: d->kind = F_ADD; return FROST_OK;
    case FROST_OP_MUL:
        d->kind = F_MUL;
        d->macs = s->macs;
        return FROST_OK;
    case FROST_OP_CONCAT: d->kind = F_CONCAT; return FROST_OK;
    case FROST_OP_DROPOUT:
    case FROST_OP_FLATTEN: d->kind = F_ALIAS; return FROST_OK;
    case FROST_OP_MIX:
        return frost_fail(FROST_ERR_UNSUPPORTED, "fp32 engine: %s", frost_mix_refusal(s));
    case FROST_OP_FAKEQUANT: /* the engine runs float models only */
    case FROST_OP_COUNT: break;
    }
    return frost_fail(FROST_ERR_UNSUPPORTED, "fp32 engine: layer '%s' (%s) is not supported",
                      s->name, frost_op_name(s->op));
}

static int consumers(const frost_fp32_model *m, int i)
{
    int n = 0;
    for (int j = i + 1; j < m->n_nodes; j++)
        for (int k = 0; k < m->nodes[j].n_in; k++)
            n += m->nodes[j].in[k] == i;
    return n;
}

/* An activation that is the only reader of a conv runs inside the conv. */
static void fuse_activations(frost_fp32_model *m)
{
    for (int j = 1; j < m->n_nodes; j++) {
        f_node *a = &m->nodes[j], *c = &m->nodes[a->in[0]];
        if (a->kind != F_ACT || a->n_in != 1 || consumers(m, a->in[0]) != 1)
            continue;
        if (c->kind != F_GEMM && c->kind != F_DW && c->kind != F_CONV)
            continue;
        if (c->act != FROST_ACT_IDENTITY)
            continue;
        c->act = a->act;
        a->kind = F_ALIAS;
    }
    for (int j = 1; j < m->n_nodes; j++) /* in order, so chains of aliases resolve */
        if (m->nodes[j].kind == F_ALIAS)
            m->nodes[j].tensor = m->nodes[m->nodes[j].in[0]].tensor;
}

static size_t tensor_bytes(const f_node *n) { return (size_t)n->h * n->w * n->c * sizeof(float); }

/* Arena offsets: a tensor lives until the last reader of it or of any alias of it. */
static frost_status plan_memory(frost_fp32_model *m)
{
    int n = m->n_nodes;
    frost_arena_node *g = malloc((size_t)n * sizeof *g);
    size_t *offset = malloc((size_t)n * sizeof(size_t));
    frost_status s =
        g && offset ? FROST_OK : frost_fail(FROST_ERR_NOMEM, "fp32 engine: out of memory");
    for (int i = 0; s == FROST_OK && i < n; i++) {
        const f_node *d = &m->nodes[i];
        g[i] = (frost_arena_node){.bytes = d->tensor == i ? tensor_bytes(d) : 0,
                                  .tensor = d->tensor,
                                  .n_in = d->n_in,
                                  .in = d->in};
    }
    if (s == FROST_OK)
        s = frost_arena_plan_graph(n, g, offset, &m->arena_bytes);
    for (int i = 0; s == FROST_OK && i < n; i++)
        m->nodes[i].offset = offset[i];
    free(g), free(offset);
    return s;
}

static int im2col_rows(int kdim)
{
    int rows = IM2COL_BYTES / (kdim * (int)sizeof(float)) / 12 * 12;
    rows = rows < 12 ? 12 : rows;
    return rows > IM2COL_ROWS ? IM2COL_ROWS : rows;
}

static frost_status allocate(frost_fp32_model *m)
{
    size_t tile = 0, shared = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        const f_node *n = &m->nodes[i];
        const f_node *in = &m->nodes[n->in[0]];
        if (n->kind == F_GEMM && n->im2col)
            tile = FROST_MAX(tile, (size_t)im2col_rows(n->kdim) * n->kdim);
        if (n->kind == F_CONV)
            shared = FROST_MAX(shared, frost_conv2d_scratch_floats(
                                           &n->conv, (frost_shape4){1, in->h, in->w, in->c}));
        if (n->kind == F_MAXPOOL) /* argmax, int32 */
            shared = FROST_MAX(shared, (size_t)n->h * n->w * n->c);
    }
    m->threads_planned = omp_get_num_procs();
    m->thread_floats = (tile + 15) & ~(size_t)15;
    FROST_TRY(frost_check_memory((uint64_t)m->arena_bytes +
                                     (m->thread_floats * m->threads_planned + shared) * 4 + 128,
                                 "the fp32 engine's activations and scratch"));
    m->arena = frost_calloc(m->arena_bytes + 64);
    m->scratch =
        frost_calloc((m->thread_floats * m->threads_planned + shared + 16) * sizeof(float));
    if (!m->arena || !m->scratch)
        return frost_fail(FROST_ERR_NOMEM, "fp32 engine: cannot allocate %.1f MB of activations",
                          (double)m->arena_bytes / 1e6);
    m->conv_scratch = m->scratch + m->thread_floats * m->threads_planned;
    return FROST_OK;
}

static frost_status compile(const frost_model *f, frost_fp32_model *m)
{
    snprintf(m->name, sizeof m->name, "%s", f->name);
    m->in_h = f->in_h;
    m->in_w = f->in_w;
    m->in_c = f->in_c;
    m->classes = f->classes;
    m->use_avx2 = frost_cpu_has_avx2();
    m->use_avx512 = frost_cpu_has_avx512f();
    m->nodes = calloc((size_t)f->n_nodes, sizeof(f_node));
    if (!m->nodes)
        return no_memory(f);
    for (int i = 0; i < f->n_nodes; i++, m->n_nodes++)
        FROST_TRY(compile_node(f, i, &m->nodes[i]));
    fuse_activations(m);
    FROST_TRY(plan_memory(m));
    return allocate(m);
}

frost_status frost_fp32_create(const frost_model *src, frost_fp32_model **out)
{
    *out = NULL;
    if (src->quant.active)
        return frost_fail(FROST_ERR_ARG,
                          "fp32 engine: model '%s' is a fake-quant model; "
                          "convert it to int8 (frost convert) or use its float checkpoint",
                          src->name);
    if (src->classes == 0)
        return frost_fail(FROST_ERR_ARG, "fp32 engine: model '%s' is not finished", src->name);
    frost_model *f = NULL;
    FROST_TRY(frost_model_fold_bn(src, &f));
    frost_fp32_model *m = calloc(1, sizeof *m);
    frost_status s = m ? compile(f, m) : no_memory(f);
    frost_model_free(f);
    if (s != FROST_OK) {
        frost_fp32_free(m);
        return s;
    }
    *out = m;
    return FROST_OK;
}

void frost_fp32_free(frost_fp32_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_nodes; i++) {
        free(m->nodes[i].packed);
        free(m->nodes[i].weight);
        free(m->nodes[i].bias);
        free(m->nodes[i].bn_p);
    }
    free(m->nodes);
    frost_free(m->arena);
    frost_free(m->scratch);
    free(m);
}

void frost_fp32_force_reference(frost_fp32_model *m, int on)
{
    m->use_avx2 = !on && frost_cpu_has_avx2();
    m->use_avx512 = !on && frost_cpu_has_avx512f();
}

/* ---- running ---- */

typedef void (*pgemm_fn)(frost_act_kind, int, int, int, int, const float *, int64_t, const float *,
                         float *, int64_t);

static pgemm_fn pick_gemm(const frost_fp32_model *m)
{
    return m->use_avx512 ? frost_pgemm_avx512 : m->use_avx2 ? frost_pgemm_avx2 : frost_pgemm_ref;
}

static int threads_for(int64_t macs) { return macs < MIN_PARALLEL_MACS ? 1 : frost_get_threads(); }

static void copy_or_zero(float *restrict d, const float *restrict src, size_t n)
{
    /* short rows (a few channels, a stem's 3 x 3 x 3 patch row): a loop beats memcpy
     * calls, and whole 4-float moves with an overlapping last one beat a loop that ends
     * float by float */
    if (!src) {
        for (size_t i = 0; i < n; i++)
            d[i] = 0.0f;
    } else if (n >= 4) {
        for (size_t i = 0; i + 4 <= n; i += 4)
            memcpy(d + i, src + i, 4 * sizeof(float));
        memcpy(d + n - 4, src + n - 4, 4 * sizeof(float));
    } else {
        for (size_t i = 0; i < n; i++)
            d[i] = src[i];
    }
}

/* Patch rows for output pixels [p0, p0 + rows): (kh, kw, cin) order, zeros outside. The
 * kw taps of one kernel row are adjacent input pixels, so inside the image they are one
 * contiguous copy. */
static void im2col(const f_node *n, const f_node *in, const float *x, int p0, int rows, float *col)
{
    const frost_conv_params *p = &n->conv;
    const size_t cin = (size_t)p->cin, span = (size_t)p->kw * cin;
    int oy = p0 / n->w, ox = p0 % n->w; /* stepped, not divided, per row */
    for (int r = 0; r < rows; r++, ox = ox + 1 < n->w ? ox + 1 : 0, oy += ox == 0) {
        int ix0 = ox * p->stride - p->pad_w;
        float *d = col + (size_t)r * n->kdim;
        for (int ky = 0; ky < p->kh; ky++, d += span) {
            int iy = oy * p->stride - p->pad_h + ky;
            const float *src = x + ((ptrdiff_t)iy * in->w + ix0) * (ptrdiff_t)cin;
            if (iy < 0 || iy >= in->h)
                copy_or_zero(d, NULL, span);
            else if (ix0 >= 0 && ix0 + p->kw <= in->w)
                copy_or_zero(d, src, span);
            else
                for (int kx = 0; kx < p->kw; kx++) {
                    int ix = ix0 + kx;
                    copy_or_zero(d + (size_t)kx * cin,
                                 ix < 0 || ix >= in->w ? NULL : src + (ptrdiff_t)kx * cin, cin);
                }
        }
    }
}

static void run_gemm(frost_fp32_model *m, const f_node *n, const float *x, float *y)
{
    const f_node *in = &m->nodes[n->in[0]];
    pgemm_fn gemm = pick_gemm(m);
    /* threads split the pixels in whole tiles of the kernel's rows */
    const int mr = m->use_avx512 ? 12 : 6;
    const int pixels = n->h * n->w, groups = (pixels + mr - 1) / mr;
    const int blocks = (n->c + FROST_PGEMM_NR - 1) / FROST_PGEMM_NR;
    const size_t blk = (size_t)FROST_PGEMM_NR * ((size_t)n->kdim + 1);
    const int threads = FROST_MIN(threads_for(n->macs), m->threads_planned);
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int p0 = mr * (int)((int64_t)groups * t / nt);
        int p1 = FROST_MIN(mr * (int)((int64_t)groups * (t + 1) / nt), pixels);
        if (!n->im2col && pixels < 48 * nt && blocks >= 4 * nt) {
            /* few pixels (7x7, 14x14 maps), many channels: split the channel blocks, so
             * that no thread is left with a short last tile and each reads only its
             * share of the weights */
            int b0 = (int)((int64_t)blocks * t / nt), b1 = (int)((int64_t)blocks * (t + 1) / nt);
            int o0 = b0 * FROST_PGEMM_NR, o1 = FROST_MIN(b1 * FROST_PGEMM_NR, n->c);
            if (o1 > o0)
                gemm(n->act, 0, pixels, n->kdim, o1 - o0, x, n->kdim, n->packed + blk * b0, y + o0,
                     n->c);
        } else if (!n->im2col) {
            gemm(n->act, p0, p1, n->kdim, n->c, x, n->kdim, n->packed, y, n->c);
        } else {
            float *col = m->scratch + m->thread_floats * (size_t)t;
            const int step = im2col_rows(n->kdim);
            for (int p = p0; p < p1; p += step) {
                int rows = FROST_MIN(step, p1 - p);
                im2col(n, in, x, p, rows, col);
                gemm(n->act, 0, rows, n->kdim, n->c, col, n->kdim, n->packed, y + (size_t)p * n->c,
                     n->c);
            }
        }
    }
}

static void run_dw(frost_fp32_model *m, const f_node *n, const float *x, float *y)
{
    const f_node *in = &m->nodes[n->in[0]];
    const frost_dw_geom g = {.n = 1,
                             .h = in->h,
                             .w = in->w,
                             .c = in->c,
                             .oh = n->h,
                             .ow = n->w,
                             .kh = n->conv.kh,
                             .kw = n->conv.kw,
                             .stride = n->conv.stride,
                             .pad_h = n->conv.pad_h,
                             .pad_w = n->conv.pad_w};
    const bool avx2 = m->use_avx2, avx512 = m->use_avx512;
    const int64_t row = (int64_t)n->w * n->c;
    const int threads = FROST_MIN(threads_for(n->macs), m->threads_planned);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int r = 0; r < n->h; r++) {
        float *yr = y + (size_t)r * row;
        if (avx512) {
            frost_dw_forward_row_act_avx512(&g, 0, r, x, n->weight, n->bias, n->act, y);
        } else if (avx2) {
            frost_dw_forward_row_avx2(&g, 0, r, x, n->weight, n->bias, y);
            frost_act_forward_avx2(n->act, row, yr, yr);
        } else {
            frost_dw_forward_row_ref(&g, 0, r, x, n->weight, n->bias, y);
            frost_act_forward_ref(n->act, row, yr, yr);
        }
    }
}

static void run_linear(frost_fp32_model *m, const f_node *n, const float *x, float *y)
{
    pgemm_fn gemm = pick_gemm(m);
    const int blocks = (n->c + FROST_PGEMM_NR - 1) / FROST_PGEMM_NR;
    const size_t blk = (size_t)FROST_PGEMM_NR * ((size_t)n->kdim + 1);
    const int threads = FROST_MIN(threads_for(n->macs), m->threads_planned);
#pragma omp parallel num_threads(threads)
    { /* one row: the threads split the output channels, in whole blocks */
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int b0 = (int)((int64_t)blocks * t / nt), b1 = (int)((int64_t)blocks * (t + 1) / nt);
        int o0 = b0 * FROST_PGEMM_NR, o1 = FROST_MIN(b1 * FROST_PGEMM_NR, n->c);
        if (o1 > o0)
            gemm(n->act, 0, 1, n->kdim, o1 - o0, x, n->kdim, n->packed + blk * (size_t)b0, y + o0,
                 n->c);
    }
}

static void run_node(frost_fp32_model *m, int i)
{
    const f_node *n = &m->nodes[i];
    const f_node *in = &m->nodes[n->in[0]];
    const float *x = tensor(m, n->in[0]);
    float *y = tensor(m, i);
    const frost_shape4 shape = {1, in->h, in->w, in->c};
    const int64_t numel = (int64_t)n->h * n->w * n->c;
    switch (n->kind) {
    case F_GEMM: run_gemm(m, n, x, y); break;
    case F_DW: run_dw(m, n, x, y); break;
    case F_CONV:
        frost_conv2d_forward(&n->conv, shape, x, n->weight, n->bias, y, m->conv_scratch);
        frost_act_forward(n->act, numel, y, y);
        break;
    case F_LINEAR: run_linear(m, n, x, y); break;
    case F_BN:
        frost_bn_forward_eval(&n->bn, (int64_t)n->h * n->w, n->c, x, n->bn_p, n->bn_p + n->c,
                              n->bn_p + 2 * n->c, n->bn_p + 3 * n->c, y);
        break;
    case F_ACT: frost_act_forward(n->act, numel, x, y); break;
    case F_MAXPOOL:
        frost_maxpool_forward(&n->pool, shape, x, y, (int32_t *)(void *)m->conv_scratch);
        break;
    case F_AVGPOOL: frost_avgpool_forward(&n->pool, shape, x, y); break;
    case F_GAP: frost_gap_forward(shape, x, y); break;
    case F_ADD: frost_add_forward(numel, x, tensor(m, n->in[1]), y); break;
    case F_MUL: {
        const f_node *b = &m->nodes[n->in[1]];
        frost_mul_forward(1, (int64_t)n->h * n->w, n->c, x, tensor(m, n->in[1]),
                          b->h * b->w != n->h * n->w, y);
        break;
    }
    case F_CONCAT: {
        int ci[FROST_MAX_NODE_INPUTS];
        const float *xs[FROST_MAX_NODE_INPUTS];
        for (int k = 0; k < n->n_in; k++) {
            ci[k] = m->nodes[n->in[k]].c;
            xs[k] = tensor(m, n->in[k]);
        }
        frost_concat_forward((int64_t)n->h * n->w, n->n_in, ci, xs, y);
        break;
    }
    case F_INPUT:
    case F_ALIAS:
    case F_COUNT: break;
    }
}

static frost_status check_input(const frost_fp32_model *m, const float *image, int64_t n)
{
    int64_t want = (int64_t)m->in_h * m->in_w * m->in_c;
    if (!image || n != want)
        return frost_fail(FROST_ERR_ARG,
                          "fp32 engine '%s': the input must be %dx%dx%d = %lld "
                          "floats (got %lld)",
                          m->name, m->in_h, m->in_w, m->in_c, (long long)want, (long long)n);
    return FROST_OK;
}

frost_status frost_fp32_run(frost_fp32_model *m, const float *image, int64_t n, float *out)
{
    FROST_TRY(check_input(m, image, n));
    memcpy(tensor(m, 0), image, (size_t)n * sizeof(float));
    for (int i = 1; i < m->n_nodes; i++)
        run_node(m, i);
    if (out)
        memcpy(out, tensor(m, m->n_nodes - 1), (size_t)m->classes * sizeof(float));
    return FROST_OK;
}

/* ---- describing and timing ---- */

int64_t frost_fp32_macs(const frost_fp32_model *m)
{
    int64_t t = 0;
    for (int i = 0; i < m->n_nodes; i++)
        t += m->nodes[i].macs;
    return t;
}

size_t frost_fp32_arena_bytes(const frost_fp32_model *m) { return m->arena_bytes; }
int frost_fp32_node_count(const frost_fp32_model *m) { return m->n_nodes; }
const char *frost_fp32_node_name(const frost_fp32_model *m, int i) { return m->nodes[i].name; }
const char *frost_fp32_node_op(const frost_fp32_model *m, int i)
{
    return kind_names[m->nodes[i].kind];
}
int64_t frost_fp32_node_macs(const frost_fp32_model *m, int i) { return m->nodes[i].macs; }

static void run_node_cb(void *engine, int i) { run_node(engine, i); }

frost_status frost_fp32_time(frost_fp32_model *m, int warmup, int reps, double *total_ms,
                             double *per_node_ms)
{
    memset(tensor(m, 0), 0, tensor_bytes(&m->nodes[0]));
    return frost_time_nodes("fp32", run_node_cb, m, m->n_nodes, warmup, reps, total_ms,
                            per_node_ms);
}
