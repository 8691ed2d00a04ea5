/*
 * The optimizer object: configuration checks, weight-decay groups, state
 * tensors (named for checkpoints), the gradient NaN/Inf check and global-norm
 * clipping. The arithmetic of each algorithm lives in sgd.c, rmsprop.c and
 * adam.c; this file decides what they are given.
 *
 * A step is all-or-nothing: every gradient is checked (and the global norm
 * computed) before any weight or state is written, so a rejected step leaves
 * the optimizer and the model exactly as they were.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "models/graph.h"
#include "optim/gradboost.h"
#include "optim/optim_internal.h"

/* State tensors start on 64-byte boundaries (16 floats) for vector loads. */
#define STATE_ALIGN_FLOATS 16
/* The gradient norm is summed in fixed chunks whose partial sums are added in
 * order, so it does not depend on the thread count. */
#define NORM_CHUNK     16384
#define STATE_NAME_LEN 160

typedef struct {
    frost_param *param;
    float wd;
    float *slot[FROST_OPTIM_MAX_SLOTS];
} optim_entry;

typedef struct {
    char name[STATE_NAME_LEN]; /* "optim.<param>.<slot>" */
    int64_t numel;
    float *data;
} optim_state;

typedef struct {
    int (*slot_names)(const frost_optimizer_config *cfg, const char *names[FROST_OPTIM_MAX_SLOTS]);
    void (*update)(const frost_optimizer_config *cfg, const frost_optimizer_tensor *t, float lr,
                   int64_t step);
} optim_algorithm;

static const optim_algorithm ALGORITHMS[] = {
    [FROST_OPT_SGD] = {frost_optimizer_sgd_slot_names, frost_optimizer_sgd_update},
    [FROST_OPT_RMSPROP] = {frost_optimizer_rmsprop_slot_names, frost_optimizer_rmsprop_update},
    [FROST_OPT_ADAM] = {frost_optimizer_adam_slot_names, frost_optimizer_adam_update},
    [FROST_OPT_ADAMW] = {frost_optimizer_adam_slot_names, frost_optimizer_adam_update},
};

static const char *const OPT_NAMES[] = {
    [FROST_OPT_SGD] = "sgd",
    [FROST_OPT_RMSPROP] = "rmsprop",
    [FROST_OPT_ADAM] = "adam",
    [FROST_OPT_ADAMW] = "adamw",
};

struct frost_optimizer {
    frost_optimizer_config cfg;
    optim_entry *entries;
    int n_entries;
    optim_state *states;
    int n_states;
    float *state_memory;   /* every state tensor, one zeroed allocation */
    double *norm_partials; /* NORM_CHUNK partial sums of the largest gradient */
    int64_t steps;
    double last_grad_norm;
    /* GradBoost */
    int alg_slots; /* the algorithm's slots; the two EM tensors follow */
    bool boost_on;
    int64_t boost_k; /* boosted steps taken */
    float *gbuf;     /* the (boosted) gradient of one tensor */
};

/* ---- names and defaults ---- */

frost_optimizer_config frost_optimizer_defaults(frost_optimizer_kind kind)
{
    frost_optimizer_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.momentum = 0.9f;
    c.nesterov = true;
    c.gb_clip = 1e-3f;
    c.gb_decay = 1e-2f;
    c.gb_toss_coin = true;
    c.beta1 = 0.9f;
    c.beta2 = 0.999f;
    c.alpha = 0.9f;
    c.eps = 1e-8f;
    c.wd = 4e-5f;
    c.wd_depthwise = 0.0f;
    c.wd_1d = 0.0f;
    c.clip_norm = 0.0f;
    return c;
}

int frost_optimizer_from_name(const char *name)
{
    if (!name)
        return -1;
    for (int k = 0; k < (int)FROST_ARRAY_LEN(OPT_NAMES); k++)
        if (strcasecmp(name, OPT_NAMES[k]) == 0)
            return k;
    return -1;
}

const char *frost_optimizer_name(frost_optimizer_kind k)
{
    if ((int)k < 0 || (int)k >= (int)FROST_ARRAY_LEN(OPT_NAMES))
        return "unknown";
    return OPT_NAMES[k];
}

bool frost_optimizer_owns(const frost_optimizer_config *cfg, const frost_param *p)
{
    if (p->kind == FROST_PARAM_BUFFER)
        return false;
    return (p->kind == FROST_PARAM_ARCH) == (cfg->params == FROST_PARAMS_ARCH);
}

float frost_optimizer_group_wd(const frost_optimizer_config *cfg, const frost_param *p)
{
    if (p->kind == FROST_PARAM_ARCH)
        return cfg->wd;
    if (p->kind == FROST_PARAM_WEIGHT)
        return p->depthwise ? cfg->wd_depthwise : cfg->wd;
    return cfg->wd_1d;
}

/* ---- configuration checks ---- */

/* lo <= v < hi (hi_open) or lo <= v <= hi; NaN fails both. */
static frost_status check_range(const char *field, float v, float lo, float hi, bool hi_open)
{
    bool ok = v >= lo && (hi_open ? v < hi : v <= hi);
    if (!ok)
        return frost_fail(FROST_ERR_ARG, "optimizer config: %s = %g must be in [%g, %g%c", field,
                          (double)v, (double)lo, (double)hi, hi_open ? ')' : ']');
    return FROST_OK;
}

static frost_status check_config(const frost_optimizer_config *c)
{
    if ((int)c->kind < 0 || (int)c->kind >= (int)FROST_ARRAY_LEN(ALGORITHMS))
        return frost_fail(FROST_ERR_ARG, "optimizer config: unknown kind %d", (int)c->kind);
    if (c->params != FROST_PARAMS_MODEL && c->params != FROST_PARAMS_ARCH)
        return frost_fail(FROST_ERR_ARG, "optimizer config: unknown parameter set %d",
                          (int)c->params);
    const float big = INFINITY;
    FROST_TRY(check_range("wd", c->wd, 0.0f, big, true));
    FROST_TRY(check_range("wd_depthwise", c->wd_depthwise, 0.0f, big, true));
    FROST_TRY(check_range("wd_1d", c->wd_1d, 0.0f, big, true));
    FROST_TRY(check_range("clip_norm", c->clip_norm, 0.0f, big, true));
    if (c->gradboost) {
        FROST_TRY(check_range("gb_clip", c->gb_clip, 0.0f, big, true));
        FROST_TRY(check_range("gb_decay", c->gb_decay, 0.0f, 1.0f, false));
        if (c->gb_mode != 0 && c->gb_mode != 1)
            return frost_fail(FROST_ERR_ARG,
                              "optimizer config: gb_mode must be 0 (reference) or 1 (paper)");
    }
    switch (c->kind) {
    case FROST_OPT_SGD:
        FROST_TRY(check_range("momentum", c->momentum, 0.0f, 1.0f, true));
        if (c->nesterov && c->momentum == 0.0f)
            return frost_fail(FROST_ERR_ARG,
                              "optimizer config: nesterov needs a momentum > 0 (momentum = 0)");
        break;
    case FROST_OPT_RMSPROP:
        FROST_TRY(check_range("momentum", c->momentum, 0.0f, 1.0f, true));
        FROST_TRY(check_range("alpha", c->alpha, 0.0f, 1.0f, true));
        FROST_TRY(check_range("eps", c->eps, 0.0f, big, true));
        break;
    case FROST_OPT_ADAM:
    case FROST_OPT_ADAMW:
        FROST_TRY(check_range("beta1", c->beta1, 0.0f, 1.0f, true));
        FROST_TRY(check_range("beta2", c->beta2, 0.0f, 1.0f, true));
        FROST_TRY(check_range("eps", c->eps, 0.0f, big, true));
        break;
    }
    return FROST_OK;
}

static frost_status check_params(const frost_optimizer_config *cfg, const frost_param *params,
                                 int n)
{
    if (n < 0 || (n > 0 && !params))
        return frost_fail(FROST_ERR_ARG, "optimizer: %d parameters at %p", n, (const void *)params);
    for (int i = 0; i < n; i++) {
        const frost_param *p = &params[i];
        if (!frost_optimizer_owns(cfg, p))
            continue;
        if (p->numel < 0 || (p->numel > 0 && (!p->data || !p->grad)))
            return frost_fail(FROST_ERR_ARG,
                              "optimizer: parameter %s has no data or gradient (numel %lld)",
                              p->name, (long long)p->numel);
    }
    return FROST_OK;
}

/* ---- creation ---- */

static size_t padded_floats(int64_t numel)
{
    return ((size_t)numel + STATE_ALIGN_FLOATS - 1) / STATE_ALIGN_FLOATS * STATE_ALIGN_FLOATS;
}

/* Allocates the entry and state tables and one zeroed block for all state tensors. */
static frost_status allocate_tables(frost_optimizer *o, const frost_param *params, int n,
                                    int n_slots)
{
    int trainable = 0;
    size_t state_floats = 0, max_chunks = 1;
    for (int i = 0; i < n; i++) {
        if (!frost_optimizer_owns(&o->cfg, &params[i]))
            continue;
        trainable++;
        size_t param_floats;
        if (frost_mul_size(padded_floats(params[i].numel), (size_t)n_slots, &param_floats) != 0 ||
            state_floats + param_floats < state_floats)
            return frost_fail(FROST_ERR_NOMEM, "optimizer: state size overflows");
        state_floats += param_floats;
        size_t chunks = ((size_t)params[i].numel + NORM_CHUNK - 1) / NORM_CHUNK;
        max_chunks = FROST_MAX(max_chunks, chunks);
    }
    size_t state_bytes;
    if (frost_mul_size(state_floats, sizeof(float), &state_bytes) != 0)
        return frost_fail(FROST_ERR_NOMEM, "optimizer: state size overflows");
    o->n_entries = trainable;
    o->n_states = trainable * n_slots;
    o->entries = calloc((size_t)FROST_MAX(trainable, 1), sizeof *o->entries);
    o->states = calloc((size_t)FROST_MAX(o->n_states, 1), sizeof *o->states);
    o->state_memory = frost_calloc(state_bytes);
    o->norm_partials = calloc(max_chunks, sizeof *o->norm_partials);
    if (!o->entries || !o->states || !o->state_memory || !o->norm_partials)
        return frost_fail(FROST_ERR_NOMEM, "optimizer: cannot allocate %zu bytes of state",
                          state_bytes);
    return FROST_OK;
}

/* Points every entry at its parameter and its state tensors, and names the states. */
static void assign_state(frost_optimizer *o, frost_param *params, int n, int n_slots,
                         const char *slot_names[FROST_OPTIM_MAX_SLOTS])
{
    float *next = o->state_memory;
    int e = 0, s = 0;
    for (int i = 0; i < n; i++) {
        frost_param *p = &params[i];
        if (!frost_optimizer_owns(&o->cfg, p))
            continue;
        optim_entry *entry = &o->entries[e++];
        entry->param = p;
        entry->wd = frost_optimizer_group_wd(&o->cfg, p);
        for (int k = 0; k < n_slots; k++) {
            optim_state *st = &o->states[s++];
            snprintf(st->name, sizeof st->name, "optim.%s.%s", p->name, slot_names[k]);
            st->numel = p->numel;
            st->data = next;
            entry->slot[k] = next;
            next += padded_floats(p->numel);
        }
    }
}

frost_status frost_optimizer_create_params(const frost_optimizer_config *cfg, frost_param *params,
                                           int n, frost_optimizer **out)
{
    if (!cfg || !out)
        return frost_fail(FROST_ERR_ARG, "optimizer: NULL %s", cfg ? "output" : "config");
    *out = NULL;
    FROST_TRY(check_config(cfg));
    FROST_TRY(check_params(cfg, params, n));

    frost_optimizer *o = calloc(1, sizeof *o);
    if (!o)
        return frost_fail(FROST_ERR_NOMEM, "optimizer: cannot allocate");
    o->cfg = *cfg;
    const char *slot_names[FROST_OPTIM_MAX_SLOTS] = {0};
    int n_slots = ALGORITHMS[cfg->kind].slot_names(cfg, slot_names);
    o->alg_slots = n_slots;
    if (cfg->gradboost) {
        slot_names[n_slots++] = "gb_em_min";
        slot_names[n_slots++] = "gb_em_max";
    }
    frost_status st = allocate_tables(o, params, n, n_slots);
    int64_t max_numel = 1;
    for (int i = 0; i < n; i++)
        max_numel = FROST_MAX(max_numel, params[i].numel);
    if (st == FROST_OK && cfg->gradboost &&
        !(o->gbuf = frost_alloc((size_t)max_numel * sizeof(float))))
        st = frost_fail(FROST_ERR_NOMEM, "optimizer: cannot allocate the GradBoost buffer");
    if (st != FROST_OK) {
        frost_optimizer_free(o);
        return st;
    }
    assign_state(o, params, n, n_slots, slot_names);
    *out = o;
    return FROST_OK;
}

frost_status frost_optimizer_create(const frost_optimizer_config *cfg, frost_model *m,
                                    frost_optimizer **out)
{
    if (!m) {
        if (out)
            *out = NULL;
        return frost_fail(FROST_ERR_ARG, "optimizer: NULL model");
    }
    return frost_optimizer_create_params(cfg, m->params, m->n_params, out);
}

void frost_optimizer_free(frost_optimizer *o)
{
    if (!o)
        return;
    free(o->entries);
    free(o->states);
    frost_free(o->state_memory);
    free(o->norm_partials);
    frost_free(o->gbuf);
    free(o);
}

/* ---- one step ---- */

/* Sum of squares of g in double, in fixed chunks added in order (deterministic). */
static double sum_of_squares(const float *g, int64_t n, double *partials)
{
    const int64_t chunks = (n + NORM_CHUNK - 1) / NORM_CHUNK;
#pragma omp parallel for if (n >= FROST_OPTIM_PARALLEL_MIN) num_threads(frost_get_threads()) \
    schedule(static)
    for (int64_t c = 0; c < chunks; c++) {
        const int64_t lo = c * NORM_CHUNK, hi = FROST_MIN(n, lo + NORM_CHUNK);
        double s = 0.0;
        for (int64_t i = lo; i < hi; i++)
            s += (double)g[i] * (double)g[i];
        partials[c] = s;
    }
    double total = 0.0;
    for (int64_t c = 0; c < chunks; c++)
        total += partials[c];
    return total;
}

static frost_status report_non_finite(const frost_optimizer *o, const frost_param *p)
{
    int64_t bad = 0;
    while (bad < p->numel && isfinite(p->grad[bad]))
        bad++;
    double value = bad < p->numel ? (double)p->grad[bad] : NAN;
    return frost_fail(FROST_ERR_NUMERIC,
                      "optimizer step %lld: gradient of %s is not finite (element %lld = %g); "
                      "nothing was updated",
                      (long long)(o->steps + 1), p->name, (long long)bad, value);
}

/* The global gradient L2 norm; fails (naming the parameter) on a NaN/Inf gradient.
 * Squares of floats cannot overflow a double, so a non-finite sum means a
 * non-finite gradient element. */
static frost_status global_grad_norm(frost_optimizer *o, double *norm)
{
    double total = 0.0;
    for (int e = 0; e < o->n_entries; e++) {
        const frost_param *p = o->entries[e].param;
        double s = sum_of_squares(p->grad, p->numel, o->norm_partials);
        if (!isfinite(s))
            return report_non_finite(o, p);
        total += s;
    }
    *norm = sqrt(total);
    return FROST_OK;
}

/* PyTorch's clip_grad_norm_: coef = clip / (norm + 1e-6), applied when below 1
 * (torch clamps it to 1 and always multiplies, which is the same). */
static float clip_scale(float clip_norm, double norm)
{
    if (clip_norm <= 0.0f)
        return 1.0f;
    double coef = (double)clip_norm / (norm + 1e-6);
    return coef < 1.0 ? (float)coef : 1.0f;
}

/* GradBoost for one tensor: the gradient as the update will see it (clipped, plus L2
 * decay first for Adam), EM statistics updated with it, then boosted once QAT is on.
 * Returns the tensor the update reads instead of the raw gradient. */
static void gradboost_tensor(frost_optimizer *o, const optim_entry *entry, int index,
                             frost_optimizer_tensor *t, int64_t step)
{
    const frost_optimizer_config *c = &o->cfg;
    frost_gb_config gb = frost_gb_defaults();
    gb.mode = c->gb_mode == 1 ? FROST_GB_PAPER : FROST_GB_REFERENCE;
    gb.clip = c->gb_clip;
    gb.decay = c->gb_decay;
    gb.toss_coin = c->gb_toss_coin;
    bool adam = c->kind == FROST_OPT_ADAM || c->kind == FROST_OPT_ADAMW;
    gb.beta = adam ? c->beta1 : 0.9f;
    bool l2_first = c->kind == FROST_OPT_ADAM; /* QAdam: L2 decay before the EM/boost */
    const float *g = t->g, *w = t->w;
    for (int64_t i = 0; i < t->n; i++) /* the same expression the updates use: exact */
        o->gbuf[i] = l2_first ? g[i] * t->grad_scale + t->wd * w[i] : g[i] * t->grad_scale;
    float *em_min = entry->slot[o->alg_slots], *em_max = entry->slot[o->alg_slots + 1];
    frost_gb_update_em(&gb, t->n, o->gbuf, em_min, em_max, step);
    if (o->boost_on) {
        uint64_t seed = c->gb_seed * 0x9E3779B97F4A7C15ull ^ (uint64_t)step << 20 ^ (uint64_t)index;
        frost_gb_boost(&gb, t->n, o->gbuf, em_min, em_max, step, o->boost_k + 1, seed, o->gbuf);
    }
    t->g = o->gbuf;
    t->grad_scale = 1.0f;
    if (l2_first)
        t->wd = 0.0f;
}

frost_status frost_optimizer_step(frost_optimizer *o, float lr)
{
    if (!o)
        return frost_fail(FROST_ERR_ARG, "optimizer step: NULL optimizer");
    if (!(lr >= 0.0f) || isinf(lr))
        return frost_fail(FROST_ERR_ARG, "optimizer step: learning rate %g must be finite and >= 0",
                          (double)lr);
    double norm = 0.0;
    FROST_TRY(global_grad_norm(o, &norm));

    const float scale = clip_scale(o->cfg.clip_norm, norm);
    const int64_t step = o->steps + 1;
    const optim_algorithm *alg = &ALGORITHMS[o->cfg.kind];
    for (int e = 0; e < o->n_entries; e++) {
        const optim_entry *entry = &o->entries[e];
        frost_optimizer_tensor t = {
            .w = entry->param->data,
            .g = entry->param->grad,
            .n = entry->param->numel,
            .grad_scale = scale,
            .wd = entry->wd,
            .slot = {entry->slot[0], entry->slot[1]},
        };
        if (o->cfg.gradboost)
            gradboost_tensor(o, entry, e, &t, step);
        alg->update(&o->cfg, &t, lr, step);
    }
    if (o->cfg.gradboost && o->boost_on)
        o->boost_k++;
    o->steps = step;
    o->last_grad_norm = norm;
    return FROST_OK;
}

/* ---- state access ---- */

int64_t frost_optimizer_steps(const frost_optimizer *o) { return o ? o->steps : 0; }

/* Restores the step count of a checkpoint. Adam's bias correction and SGD's
 * first-step rule both derive from it, so weights + state + steps reproduce an
 * uninterrupted run exactly. */
void frost_optimizer_set_steps(frost_optimizer *o, int64_t steps)
{
    if (o)
        o->steps = steps > 0 ? steps : 0;
}

void frost_optimizer_set_boost(frost_optimizer *o, bool on)
{
    if (o)
        o->boost_on = on && o->cfg.gradboost;
}

int64_t frost_optimizer_boost_steps(const frost_optimizer *o) { return o ? o->boost_k : 0; }

void frost_optimizer_set_boost_steps(frost_optimizer *o, int64_t k)
{
    if (o)
        o->boost_k = k > 0 ? k : 0;
}

double frost_optimizer_last_grad_norm(const frost_optimizer *o)
{
    return o ? o->last_grad_norm : 0.0;
}

int frost_optimizer_state_count(const frost_optimizer *o) { return o ? o->n_states : 0; }

void frost_optimizer_state_get(const frost_optimizer *o, int i, const char **name, int64_t *numel,
                               float **data)
{
    const optim_state *st = (o && i >= 0 && i < o->n_states) ? &o->states[i] : NULL;
    if (name)
        *name = st ? st->name : NULL;
    if (numel)
        *numel = st ? st->numel : 0;
    if (data)
        *data = st ? st->data : NULL;
}
