/*
 * The per-layer latency table of the architecture search (frost/nas.h).
 *
 * Keys come from the int8 graph itself ("conv 14x14x48>14x14x288 k1 s1 g1"), so a
 * measured layer and a predicted one are the same thing by construction. Each key keeps
 * its measured samples (per-layer medians of whole-network runs); the table's value is
 * their median. For keys never measured, a least-squares line per op kind, latency =
 * a + b * work, over the table's entries stands in. A layer of a cell block (a stage whose
 * block is the space's cell) has the cells' hash in its key (" cell<hash>"), so tables
 * built with other cells, or none, never lend it their latencies.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/timer.h"
#include "core/util.h"
#include "frost/int8.h"
#include "frost/nas.h"
#include "frost/qat.h"
#include "int8/i8model.h"

#define KEY_LEN     FROST_NAS_KEY_LEN
#define MAX_SAMPLES 32

typedef struct {
    char key[KEY_LEN];
    int op;
    double work;
    double samples[MAX_SAMPLES];
    int n;
} lut_entry;

struct frost_nas_lut {
    int threads, reps;
    bool float_requant;
    lut_entry *e;
    int n, cap;
};

frost_status frost_nas_lut_create(int threads, int reps, bool float_requant, frost_nas_lut **out)
{
    *out = NULL;
    if (threads < 1 || reps < 1)
        return frost_fail(FROST_ERR_ARG, "nas lut: threads and reps must be >= 1");
    frost_nas_lut *l = calloc(1, sizeof *l);
    if (!l)
        return frost_fail(FROST_ERR_NOMEM, "nas lut: out of memory");
    *l = (frost_nas_lut){.threads = threads, .reps = reps, .float_requant = float_requant};
    *out = l;
    return FROST_OK;
}

void frost_nas_lut_free(frost_nas_lut *l)
{
    if (!l)
        return;
    free(l->e);
    free(l);
}

int frost_nas_lut_size(const frost_nas_lut *l) { return l->n; }

/* ---- the int8 network of a genotype (random weights, calibrated on random images) ---- */

static frost_status int8_network(const frost_nas_genotype *g, const frost_nas_space *space,
                                 bool float_requant, frost_int8_model **out)
{
    enum { N = 4 };
    frost_model *m = NULL;
    FROST_TRY(frost_nas_build(g, space, &m));
    frost_qconfig *qc = NULL;
    frost_status s = frost_qconfig_default(&qc);
    if (s == FROST_OK)
        s = frost_model_quantize(m, qc);
    frost_qconfig_free(qc);
    int h, w, c;
    frost_model_input_shape(m, &h, &w, &c);
    float *x = malloc(sizeof(float) * N * (size_t)h * w * c);
    if (s == FROST_OK && !x)
        s = frost_fail(FROST_ERR_NOMEM, "nas lut: out of memory");
    frost_rng r;
    frost_rng_seed(&r, 7);
    for (int i = 0; s == FROST_OK && i < N * h * w * c; i++)
        x[i] = 2.0f * frost_rng_uniform(&r) - 1.0f;
    if (s == FROST_OK)
        s = frost_model_set_batch(m, N);
    if (s == FROST_OK)
        s = frost_model_set_qmode(m, FROST_QMODE_CALIBRATE);
    if (s == FROST_OK)
        s = frost_model_forward(m, x, N, false);
    if (s == FROST_OK)
        s = frost_model_set_qmode(m, FROST_QMODE_FIXED);
    if (s == FROST_OK)
        s = frost_int8_from_model(m, out);
    if (s == FROST_OK)
        s = frost_int8_set_float_requant(*out, float_requant);
    free(x);
    frost_model_free(m);
    return s;
}

/* True if the int8 node belongs to a cell block: its layer is named "s<stage>.b<layer>..."
 * (as the space's builder names them) and that stage's block is the cell. */
static bool in_cell_block(const frost_int8_node *n, const frost_nas_genotype *g)
{
    int stage = 0;
    return sscanf(n->name, "s%d.b", &stage) == 1 && stage >= 1 && stage <= FROST_NAS_STAGES &&
           g->stage[stage - 1].block == FROST_NAS_CELL;
}

/* A layer's key and its work (MACs, or output values for layers without weights). */
static void layer_key(const frost_int8_model *m, int i, const frost_nas_genotype *g, uint64_t cells,
                      char *key, double *work)
{
    const frost_int8_node *n = &m->nodes[i], *in = &m->nodes[n->in[0]];
    char tag[32] = "";
    if (cells && in_cell_block(n, g))
        snprintf(tag, sizeof tag, " cell%016llx", (unsigned long long)cells);
    snprintf(key, KEY_LEN, "%s %dx%dx%d>%dx%dx%d k%d s%d g%d%s", frost_int8_op_name(n->op), in->h,
             in->w, in->c, n->h, n->w, n->c, n->k, n->stride, n->groups, tag);
    *work = n->macs > 0 ? (double)n->macs : (double)n->h * n->w * n->c;
}

static lut_entry *find(const frost_nas_lut *l, const char *key)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->e[i].key, key) == 0)
            return &l->e[i];
    return NULL;
}

static frost_status record(frost_nas_lut *l, const char *key, int op, double work, double ms)
{
    lut_entry *e = find(l, key);
    if (!e) {
        if (l->n == l->cap) {
            int cap = l->cap ? 2 * l->cap : 256;
            lut_entry *p = realloc(l->e, (size_t)cap * sizeof *p);
            if (!p)
                return frost_fail(FROST_ERR_NOMEM, "nas lut: out of memory");
            l->e = p;
            l->cap = cap;
        }
        e = &l->e[l->n++];
        memset(e, 0, sizeof *e);
        snprintf(e->key, sizeof e->key, "%s", key);
        e->op = op;
        e->work = work;
    }
    if (e->n < MAX_SAMPLES)
        e->samples[e->n++] = ms;
    return FROST_OK;
}

static double entry_ms(const lut_entry *e)
{
    double v[MAX_SAMPLES];
    memcpy(v, e->samples, (size_t)e->n * sizeof *v);
    return frost_median(v, e->n);
}

frost_status frost_nas_lut_measure(frost_nas_lut *l, const frost_nas_genotype *g,
                                   const frost_nas_space *space, bool rec, double *ms)
{
    frost_int8_model *m = NULL;
    FROST_TRY(int8_network(g, space, l->float_requant, &m));
    int n = frost_int8_node_count(m), threads = frost_get_threads();
    double *per = calloc((size_t)n, sizeof *per);
    frost_status s = per ? FROST_OK : frost_fail(FROST_ERR_NOMEM, "nas lut: out of memory");
    frost_set_threads(l->threads);
    if (s == FROST_OK) /* the whole-model clock without the per-layer clock reads */
        s = frost_int8_time(m, 5, l->reps, ms, NULL);
    if (s == FROST_OK && rec)
        s = frost_int8_time(m, 2, l->reps, &(double){0}, per);
    frost_set_threads(threads);
    uint64_t cells = frost_nas_cells_hash(space);
    for (int i = 1; s == FROST_OK && rec && i < n; i++) {
        char key[KEY_LEN];
        double work;
        layer_key(m, i, g, cells, key, &work);
        s = record(l, key, m->nodes[i].op, work, per[i]);
    }
    free(per);
    frost_int8_free(m);
    return s;
}

/* Least-squares a + b * work over the table's entries of one op kind. */
static void fit(const frost_nas_lut *l, int op, double *a, double *b)
{
    double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (int i = 0; i < l->n; i++)
        if (l->e[i].op == op) {
            double x = l->e[i].work, y = entry_ms(&l->e[i]);
            n++, sx += x, sy += y, sxx += x * x, sxy += x * y;
        }
    double d = n * sxx - sx * sx;
    *b = n >= 2 && d > 0 ? (n * sxy - sx * sy) / d : 0.0;
    *a = n > 0 ? (sy - *b * sx) / n : 0.0;
}

frost_status frost_nas_lut_keys(const frost_nas_lut *l, const frost_nas_genotype *g,
                                const frost_nas_space *space, char (*keys)[FROST_NAS_KEY_LEN],
                                int max, int *n)
{
    frost_int8_model *m = NULL;
    FROST_TRY(int8_network(g, space, l->float_requant, &m));
    int count = frost_int8_node_count(m) - 1;
    uint64_t cells = frost_nas_cells_hash(space);
    for (int i = 1; i <= count && i <= max; i++) {
        double work;
        layer_key(m, i, g, cells, keys[i - 1], &work);
    }
    *n = count;
    frost_int8_free(m);
    return FROST_OK;
}

frost_status frost_nas_lut_record(frost_nas_lut *l, const char *key, const char *op, double work,
                                  double ms)
{
    int o = frost_int8_op_parse(op);
    if (o < 0 || !key || strlen(key) >= KEY_LEN || !(ms >= 0) || !(work >= 0))
        return frost_fail(FROST_ERR_ARG,
                          "nas lut: bad record (key '%s', op '%s', work %g, "
                          "ms %g)",
                          key ? key : "", op ? op : "", work, ms);
    return record(l, key, o, work, ms);
}

frost_status frost_nas_lut_predict(const frost_nas_lut *l, const frost_nas_genotype *g,
                                   const frost_nas_space *space, double *ms, int *layers,
                                   int *missing)
{
    frost_int8_model *m = NULL;
    FROST_TRY(int8_network(g, space, l->float_requant, &m));
    double total = 0;
    int n = frost_int8_node_count(m), miss = 0;
    uint64_t cells = frost_nas_cells_hash(space);
    for (int i = 1; i < n; i++) {
        char key[KEY_LEN];
        double work, a, b;
        layer_key(m, i, g, cells, key, &work);
        const lut_entry *e = find(l, key);
        if (e) {
            total += entry_ms(e);
        } else {
            fit(l, m->nodes[i].op, &a, &b);
            total += fmax(0.0, a + b * work);
            miss++;
        }
    }
    frost_int8_free(m);
    *ms = total;
    if (layers)
        *layers = n - 1;
    if (missing)
        *missing = miss;
    return FROST_OK;
}
