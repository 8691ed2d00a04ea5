/*
 * The NAS search space (frost/nas.h): genotypes, their canonical form, the decision
 * indices the controllers work on, the text and JSON forms, and the network they build.
 */
#include "frost/nas.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/util.h"
#include "models/blocks.h"
#include "nas/cell_internal.h"

/* MobileNetV2's stages (expansion t, channels c, layers n, stride s). */
static const struct {
    int t, c, n, s;
} skeleton[FROST_NAS_STAGES] = {
    {1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2},  {6, 64, 4, 2},
    {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1},
};

static const int kernels[] = {3, 5};
static const int expands[] = {1, 3, 6};
static const int layer_deltas[] = {-1, 0, 1};
static const int widths[] = {75, 100, 125};
static const double resolution_factors[FROST_NAS_RESOLUTIONS] = {0.7, 0.85, 1.0};
/* Sized by their initializers, so the asserts below catch a missing entry. */
static const char block_letters[] = {'m', 'f', 'g', 'd', 'c'};
static const char *const block_names[] = {"mbconv", "frost_r2", "frost_r4", "dwsep", "cell"};
_Static_assert(sizeof block_letters == FROST_NAS_BLOCK_ALL, "one letter per block");
_Static_assert(sizeof block_names / sizeof block_names[0] == FROST_NAS_BLOCK_ALL,
               "one name per block");
static const char width_letters[] = {'s', 'n', 'w'};
static const char layer_signs[] = {'-', '0', '+'};

#define LEN(a) (int)(sizeof(a) / sizeof((a)[0]))

frost_nas_space frost_nas_space_default(void)
{
    return (frost_nas_space){
        .input = 28, .in_channels = 1, .classes = 10, .width = 0.35f, .head = 0, .cells = NULL};
}

uint64_t frost_nas_cells_hash(const frost_nas_space *space)
{
    if (!space || !space->cells)
        return 0;
    char *json = frost_cell_pair_to_json(space->cells);
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (const char *p = json; p && *p; p++)
        h = (h ^ (uint8_t)*p) * UINT64_C(0x100000001b3);
    free(json);
    return h;
}

static bool has_cells(const frost_nas_space *space) { return space && space->cells; }

/* The blocks a space offers: the four of every space, and the cell with cells. */
static int block_count(const frost_nas_space *space)
{
    return has_cells(space) ? FROST_NAS_BLOCK_ALL : FROST_NAS_BLOCK_COUNT;
}

int frost_nas_resolution(const frost_nas_space *space, int option)
{
    double r = space->input * resolution_factors[option];
    int q = (int)floor(r / 4.0 + 0.5) * 4;
    return q < 8 ? 8 : q;
}

/* ---- decisions ---- */

enum { D_BLOCK, D_KERNEL, D_EXPAND, D_LAYERS, D_WIDTH, D_PER_STAGE };

int frost_nas_space_choices(const frost_nas_space *space, int decision)
{
    if (decision == 0)
        return FROST_NAS_RESOLUTIONS;
    const int per_stage[D_PER_STAGE] = {block_count(space), LEN(kernels), LEN(expands),
                                        LEN(layer_deltas), LEN(widths)};
    return decision > 0 && decision < FROST_NAS_DECISIONS ? per_stage[(decision - 1) % D_PER_STAGE]
                                                          : 0;
}

int frost_nas_choices(int decision) { return frost_nas_space_choices(NULL, decision); }

const char *frost_nas_decision_name(int decision)
{
    static char names[FROST_NAS_DECISIONS][24];
    static const char *const kinds[D_PER_STAGE] = {"block", "kernel", "expand", "layers", "width"};
    if (decision <= 0 || decision >= FROST_NAS_DECISIONS)
        return decision == 0 ? "resolution" : "?";
    char *n = names[decision];
    if (!n[0])
        snprintf(n, sizeof names[0], "s%d.%s", (decision - 1) / D_PER_STAGE + 1,
                 kinds[(decision - 1) % D_PER_STAGE]);
    return n;
}

static int find(const int *values, int n, int v)
{
    for (int i = 0; i < n; i++)
        if (values[i] == v)
            return i;
    return -1;
}

static int resolution_option(const frost_nas_space *space, int pixels)
{
    for (int i = 0; i < FROST_NAS_RESOLUTIONS; i++)
        if (frost_nas_resolution(space, i) == pixels)
            return i;
    return -1;
}

frost_status frost_nas_check(const frost_nas_genotype *g, const frost_nas_space *space)
{
    if (resolution_option(space, g->resolution) < 0)
        return frost_fail(FROST_ERR_ARG, "nas: resolution %d is not one of %d, %d, %d",
                          g->resolution, frost_nas_resolution(space, 0),
                          frost_nas_resolution(space, 1), frost_nas_resolution(space, 2));
    for (int i = 0; i < FROST_NAS_STAGES; i++) {
        const frost_nas_stage *s = &g->stage[i];
        if (s->block == FROST_NAS_CELL && !has_cells(space))
            return frost_fail(FROST_ERR_ARG,
                              "nas: stage %d: block 'c' needs --blocks DIR (a "
                              "space with searched cells)",
                              i + 1);
        if (s->block < 0 || s->block >= FROST_NAS_BLOCK_ALL ||
            find(kernels, LEN(kernels), s->kernel) < 0 ||
            find(expands, LEN(expands), s->expand) < 0 ||
            find(layer_deltas, LEN(layer_deltas), s->layers) < 0 ||
            find(widths, LEN(widths), s->width) < 0)
            return frost_fail(FROST_ERR_ARG,
                              "nas: stage %d has a value outside the space "
                              "(block %d, kernel %d, expand %d, layers %d, width %d)",
                              i + 1, s->block, s->kernel, s->expand, s->layers, s->width);
    }
    return FROST_OK;
}

frost_status frost_nas_to_indices(const frost_nas_genotype *g, const frost_nas_space *space,
                                  int index[FROST_NAS_DECISIONS])
{
    FROST_TRY(frost_nas_check(g, space));
    index[0] = resolution_option(space, g->resolution);
    for (int i = 0; i < FROST_NAS_STAGES; i++) {
        const frost_nas_stage *s = &g->stage[i];
        int *d = index + 1 + D_PER_STAGE * i;
        d[D_BLOCK] = s->block;
        d[D_KERNEL] = find(kernels, LEN(kernels), s->kernel);
        d[D_EXPAND] = find(expands, LEN(expands), s->expand);
        d[D_LAYERS] = find(layer_deltas, LEN(layer_deltas), s->layers);
        d[D_WIDTH] = find(widths, LEN(widths), s->width);
    }
    return FROST_OK;
}

frost_status frost_nas_from_indices(const int index[FROST_NAS_DECISIONS],
                                    const frost_nas_space *space, frost_nas_genotype *g)
{
    for (int i = 0; i < FROST_NAS_DECISIONS; i++)
        if (index[i] < 0 || index[i] >= frost_nas_space_choices(space, i))
            return frost_fail(FROST_ERR_ARG, "nas: decision %s has no option %d",
                              frost_nas_decision_name(i), index[i]);
    memset(g, 0, sizeof *g);
    g->resolution = frost_nas_resolution(space, index[0]);
    for (int i = 0; i < FROST_NAS_STAGES; i++) {
        const int *d = index + 1 + D_PER_STAGE * i;
        g->stage[i] = (frost_nas_stage){.block = d[D_BLOCK],
                                        .kernel = kernels[d[D_KERNEL]],
                                        .expand = expands[d[D_EXPAND]],
                                        .layers = layer_deltas[d[D_LAYERS]],
                                        .width = widths[d[D_WIDTH]]};
    }
    return FROST_OK;
}

bool frost_nas_canonical(frost_nas_genotype *g)
{
    frost_nas_genotype before = *g;
    for (int i = 0; i < FROST_NAS_STAGES; i++) {
        frost_nas_stage *s = &g->stage[i];
        if (s->block == FROST_NAS_DWSEP)
            s->expand = 1;                /* no expansion layer to scale */
        if (s->block == FROST_NAS_CELL) { /* the cell fixes its own operations */
            s->kernel = 3;
            s->expand = 1;
        }
        if ((s->block == FROST_NAS_FROST_R2 || s->block == FROST_NAS_FROST_R4) && s->expand == 1)
            s->block = FROST_NAS_MBCONV; /* e = 1: no SC, no expansion: an MBConv e1 */
        if (skeleton[i].n + s->layers < 1)
            s->layers = 1 - skeleton[i].n; /* a stage keeps at least one layer */
    }
    return !frost_nas_equal(&before, g);
}

bool frost_nas_equal(const frost_nas_genotype *a, const frost_nas_genotype *b)
{
    if (a->resolution != b->resolution)
        return false;
    for (int i = 0; i < FROST_NAS_STAGES; i++) {
        const frost_nas_stage *x = &a->stage[i], *y = &b->stage[i];
        if (x->block != y->block || x->kernel != y->kernel || x->expand != y->expand ||
            x->layers != y->layers || x->width != y->width)
            return false;
    }
    return true;
}

/* splitmix64: the controllers' and the sampler's random numbers. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

void frost_nas_sample(const frost_nas_space *space, uint64_t *rng_state, frost_nas_genotype *g)
{
    int index[FROST_NAS_DECISIONS];
    for (int i = 0; i < FROST_NAS_DECISIONS; i++)
        index[i] = (int)(next_u64(rng_state) % (uint64_t)frost_nas_space_choices(space, i));
    frost_nas_from_indices(index, space, g); /* cannot fail: every index is in range */
    frost_nas_canonical(g);
}

/* ---- text and JSON ---- */

void frost_nas_to_string(const frost_nas_genotype *g, char *buf, int size)
{
    int n = snprintf(buf, (size_t)size, "r%d", g->resolution);
    for (int i = 0; i < FROST_NAS_STAGES && n > 0 && n < size; i++) {
        const frost_nas_stage *s = &g->stage[i];
        int bi = s->block >= 0 && s->block < FROST_NAS_BLOCK_ALL ? s->block : 0;
        int li = find(layer_deltas, LEN(layer_deltas), s->layers);
        int wi = find(widths, LEN(widths), s->width);
        n += snprintf(buf + n, (size_t)(size - n), ".%c%d%d%c%c", block_letters[bi], s->kernel,
                      s->expand, layer_signs[li < 0 ? 1 : li], width_letters[wi < 0 ? 1 : wi]);
    }
}

static int letter_index(const char *letters, int n, char c)
{
    for (int i = 0; i < n; i++)
        if (letters[i] == c)
            return i;
    return -1;
}

/* The refusal of a cell block outside a space with cells (text and JSON forms). */
static frost_status cell_needs_blocks(const char *what, int stage)
{
    return frost_fail(FROST_ERR_ARG,
                      "nas: %s: stage %d: block 'c' needs --blocks DIR (a space with "
                      "searched cells)",
                      what, stage);
}

frost_status frost_nas_from_string(const char *s, frost_nas_genotype *g)
{
    return frost_nas_from_string_in(NULL, s, g);
}

/* A parsed genotype must also be one of the space's (NULL: the default space): a
 * resolution, kernel, expansion or width the space does not offer is refused here rather
 * than by whatever builds or looks the genotype up later. */
static frost_status check_in_space(const frost_nas_genotype *g, const frost_nas_space *space)
{
    frost_nas_space def = frost_nas_space_default();
    return frost_nas_check(g, space ? space : &def);
}

frost_status frost_nas_from_string_in(const frost_nas_space *space, const char *s,
                                      frost_nas_genotype *g)
{
    memset(g, 0, sizeof *g);
    int used = 0;
    if (sscanf(s, "r%d%n", &g->resolution, &used) != 1 || g->resolution <= 0)
        return frost_fail(FROST_ERR_ARG, "nas: genotype '%s' does not start with r<pixels>", s);
    const char *p = s + used;
    for (int i = 0; i < FROST_NAS_STAGES; i++, p += 6) {
        frost_nas_stage *st = &g->stage[i];
        if (strlen(p) < 6 || p[0] != '.')
            return frost_fail(FROST_ERR_ARG, "nas: genotype '%s' has fewer than %d stages", s,
                              FROST_NAS_STAGES);
        int b = letter_index(block_letters, FROST_NAS_BLOCK_ALL, p[1]);
        if (b == FROST_NAS_CELL && !has_cells(space))
            return cell_needs_blocks(s, i + 1);
        int l = letter_index(layer_signs, LEN(layer_signs), p[4]);
        int w = letter_index(width_letters, LEN(width_letters), p[5]);
        if (b < 0 || l < 0 || w < 0 || (p[2] != '3' && p[2] != '5') ||
            (p[3] != '1' && p[3] != '3' && p[3] != '6'))
            return frost_fail(FROST_ERR_ARG,
                              "nas: genotype '%s': stage %d ('%.6s') is not "
                              "<block m|f|g|d|c><kernel 3|5><expand 1|3|6><layers -|0|+>"
                              "<width s|n|w>",
                              s, i + 1, p);
        *st = (frost_nas_stage){.block = b,
                                .kernel = p[2] - '0',
                                .expand = p[3] - '0',
                                .layers = layer_deltas[l],
                                .width = widths[w]};
    }
    if (*p)
        return frost_fail(FROST_ERR_ARG, "nas: genotype '%s' has trailing text '%s'", s, p);
    return check_in_space(g, space);
}

uint64_t frost_nas_hash(const frost_nas_genotype *g)
{
    char buf[128];
    frost_nas_to_string(g, buf, sizeof buf);
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (const char *p = buf; *p; p++)
        h = (h ^ (uint8_t)*p) * UINT64_C(0x100000001b3);
    return h;
}

char *frost_nas_to_json(const frost_nas_genotype *g)
{
    cJSON *root = cJSON_CreateObject(), *stages = NULL;
    bool ok = root && cJSON_AddNumberToObject(root, "resolution", g->resolution) &&
              (stages = cJSON_AddArrayToObject(root, "stages"));
    for (int i = 0; ok && i < FROST_NAS_STAGES; i++) {
        const frost_nas_stage *s = &g->stage[i];
        cJSON *o = cJSON_CreateObject();
        int bi = s->block >= 0 && s->block < FROST_NAS_BLOCK_ALL ? s->block : 0;
        ok = o && cJSON_AddItemToArray(stages, o) &&
             cJSON_AddStringToObject(o, "block", block_names[bi]) &&
             cJSON_AddNumberToObject(o, "kernel", s->kernel) &&
             cJSON_AddNumberToObject(o, "expand", s->expand) &&
             cJSON_AddNumberToObject(o, "layers", s->layers) &&
             cJSON_AddNumberToObject(o, "width", s->width);
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

static frost_status json_int(const cJSON *o, const char *key, int stage, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 1e6)
        return frost_fail(FROST_ERR_FORMAT, "nas genotype JSON: %s%d%s\"%s\" must be an integer",
                          stage ? "stage " : "", stage, stage ? ": " : "", key);
    *out = (int)v->valuedouble;
    return FROST_OK;
}

static frost_status parse_json(const frost_nas_space *space, const cJSON *root,
                               frost_nas_genotype *g)
{
    static const char *const top[] = {"resolution", "stages", NULL};
    static const char *const stage[] = {"block", "kernel", "expand", "layers", "width", NULL};
    FROST_TRY(frost_json_known_fields(root, top, "nas genotype JSON", "top level"));
    FROST_TRY(json_int(root, "resolution", 0, &g->resolution));
    const cJSON *stages = cJSON_GetObjectItemCaseSensitive(root, "stages");
    if (!cJSON_IsArray(stages) || cJSON_GetArraySize(stages) != FROST_NAS_STAGES)
        return frost_fail(FROST_ERR_FORMAT, "nas genotype JSON: \"stages\" must list %d stages",
                          FROST_NAS_STAGES);
    for (int i = 0; i < FROST_NAS_STAGES; i++) {
        const cJSON *o = cJSON_GetArrayItem(stages, i);
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "block");
        char where[32];
        snprintf(where, sizeof where, "stage %d", i + 1);
        FROST_TRY(frost_json_known_fields(o, stage, "nas genotype JSON", where));
        frost_nas_stage *s = &g->stage[i];
        s->block = -1;
        for (int k = 0; cJSON_IsString(b) && k < FROST_NAS_BLOCK_ALL; k++)
            if (strcmp(b->valuestring, block_names[k]) == 0)
                s->block = k;
        if (s->block == FROST_NAS_CELL && !has_cells(space))
            return cell_needs_blocks("genotype JSON", i + 1);
        if (s->block < 0)
            return frost_fail(FROST_ERR_FORMAT,
                              "nas genotype JSON: stage %d: \"block\" must be "
                              "mbconv, frost_r2, frost_r4, dwsep or cell",
                              i + 1);
        FROST_TRY(json_int(o, "kernel", i + 1, &s->kernel));
        FROST_TRY(json_int(o, "expand", i + 1, &s->expand));
        FROST_TRY(json_int(o, "layers", i + 1, &s->layers));
        FROST_TRY(json_int(o, "width", i + 1, &s->width));
    }
    return FROST_OK;
}

frost_status frost_nas_from_json(const char *text, frost_nas_genotype *g)
{
    return frost_nas_from_json_in(NULL, text, g);
}

frost_status frost_nas_from_json_in(const frost_nas_space *space, const char *text,
                                    frost_nas_genotype *g)
{
    memset(g, 0, sizeof *g);
    cJSON *root;
    FROST_TRY(frost_json_parse_strict(text, "nas genotype JSON", &root));
    frost_status s = parse_json(space, root, g);
    cJSON_Delete(root);
    return s == FROST_OK ? check_in_space(g, space) : s;
}

/* ---- building ---- */

/* The C of a cell block for a stage of cout channels: the cell outputs 2C (its last two
 * nodes concatenated), so C is half of cout rounded by make_div8, never below 8; 2C is
 * cout rounded up to a multiple of 16 (16 for cout 8, 32 for cout 24). */
int frost_nas_cell_channels(int cout) { return frost_make_div8((float)cout / 2.0f); }

/* A cell block: stride 2 (the one actually run) takes the reduction cell, whose edges from
 * its input have stride 2; stride 1 the normal cell. No residual around it. */
static int add_cell_block(frost_model *m, const char *prefix, int x, const frost_cell_pair *cells,
                          int cout, int stride)
{
    bool reduce = stride == 2;
    return frost_cell_block(m, prefix, reduce ? &cells->reduce : &cells->normal, reduce, x,
                            frost_nas_cell_channels(cout));
}

/* One block of a stage (stride: the one actually run, after small-input demotion). */
static int add_block(frost_model *m, const char *prefix, int x, const frost_nas_stage *s, int cout,
                     int stride, const frost_nas_space *space)
{
    if (s->block == FROST_NAS_CELL)
        return add_cell_block(m, prefix, x, space->cells, cout, stride);
    const int cin = frost_builtin_channels(m, x);
    const bool skip = frost_builtin_keeps_shape(stride, cin, cout);
    char name[2 * FROST_NAME_LEN];
    if (s->block == FROST_NAS_DWSEP) { /* MobileNetV1: dw-BN-ReLU, pw-BN-ReLU, no residual */
        snprintf(name, sizeof name, "%s.dw", prefix);
        int d = frost_g_conv_bn_act(m, name, x, cin, s->kernel, stride, cin, FROST_ACT_RELU);
        snprintf(name, sizeof name, "%s.pw", prefix);
        return d < 0 ? -1 : frost_g_conv_bn_act(m, name, d, cout, 1, 1, 1, FROST_ACT_RELU);
    }
    int u = x;
    if (s->block != FROST_NAS_MBCONV && s->expand != 1) { /* Frost bottleneck: SC module */
        int r = s->block == FROST_NAS_FROST_R2 ? 2 : 4;
        if (cin / r >= 8) { /* narrower inputs skip SC, as FrostNet does */
            snprintf(name, sizeof name, "%s.sq", prefix);
            int sq = frost_g_conv_bn_act(m, name, x, frost_make_div8((float)(cin / r)), 1, 1, 1,
                                         FROST_ACT_RELU);
            int parts[2] = {sq, x};
            snprintf(name, sizeof name, "%s.cat", prefix);
            u = sq < 0 ? -1 : frost_g_concat(m, name, 2, parts);
            if (u < 0)
                return -1;
        }
    }
    frost_builtin_ir_def d = {.hidden =
                                  s->expand == 1 ? 0 : frost_builtin_channels(m, u) * s->expand,
                              .cout = cout,
                              .k = s->kernel,
                              .stride = stride,
                              .act = FROST_ACT_RELU,
                              .skip = skip ? x : -1};
    return frost_builtin_inverted_residual(m, prefix, u, &d);
}

static int stage_channels(const frost_nas_space *space, int i, int width_pct)
{
    return frost_make_div8((float)(skeleton[i].c * space->width * (float)width_pct / 100.0f));
}

static frost_status build(const frost_nas_genotype *g, const frost_nas_space *space, frost_model *m)
{
    frost_builtin_stride_plan plan = frost_builtin_stride_plan_for(g->resolution);
    int stem = frost_make_div8(32.0f * space->width);
    int x = frost_g_conv_bn_act(m, "stem", 0, stem, 3, frost_builtin_stride_take(&plan, 2), 1,
                                FROST_ACT_RELU);
    for (int i = 0; x >= 0 && i < FROST_NAS_STAGES; i++) {
        const frost_nas_stage *s = &g->stage[i];
        int cout = stage_channels(space, i, s->width), n = skeleton[i].n + s->layers;
        for (int j = 0; x >= 0 && j < n; j++) {
            char prefix[FROST_NAME_LEN];
            snprintf(prefix, sizeof prefix, "s%d.b%d", i + 1, j + 1);
            int stride = j == 0 ? frost_builtin_stride_take(&plan, skeleton[i].s) : 1;
            x = add_block(m, prefix, x, s, cout, stride, space);
        }
    }
    int head = space->head > 0 ? space->head : frost_make_div8(1280.0f * space->width);
    if (x < 0 || frost_builtin_tail(m, x, head, FROST_ACT_RELU, 0.2f, space->classes) != 0)
        return FROST_ERR_ARG; /* the builder set the message */
    return FROST_OK;
}

frost_status frost_nas_build(const frost_nas_genotype *g, const frost_nas_space *space,
                             frost_model **out)
{
    *out = NULL;
    if (space->width <= 0.0f || space->width > 4.0f || space->classes < 1 ||
        space->in_channels < 1 || space->input < 8 || space->head < 0)
        return frost_fail(FROST_ERR_ARG,
                          "nas: bad search space (input %d, channels %d, classes "
                          "%d, width %g, head %d)",
                          space->input, space->in_channels, space->classes, (double)space->width,
                          space->head);
    if (space->cells) {
        FROST_TRY(frost_cell_check(&space->cells->normal));
        FROST_TRY(frost_cell_check(&space->cells->reduce));
    }
    frost_nas_genotype c = *g;
    frost_nas_canonical(&c);
    FROST_TRY(frost_nas_check(&c, space));
    char name[FROST_NAME_LEN + 64], text[128]; /* the text form is at most 51 bytes */
    frost_nas_to_string(&c, text, sizeof text);
    snprintf(name, sizeof name, "nas-%.58s", text);
    frost_model *m = frost_g_new(name, c.resolution, c.resolution, space->in_channels);
    if (!m)
        return frost_fail(FROST_ERR_NOMEM, "nas: out of memory");
    frost_status s = build(&c, space, m);
    if (s != FROST_OK) {
        frost_model_free(m);
        return s;
    }
    frost_model_init_weights(m, 0);
    *out = m;
    return FROST_OK;
}

/* ---- reward ---- */

frost_nas_reward frost_nas_reward_soft(double target_ms)
{
    return (frost_nas_reward){.target_ms = target_ms, .alpha = -0.07, .beta = -0.07};
}

frost_nas_reward frost_nas_reward_hard(double target_ms)
{
    return (frost_nas_reward){.target_ms = target_ms, .alpha = 0.0, .beta = -1.0};
}

double frost_nas_reward_value(const frost_nas_reward *r, double accuracy, double latency_ms)
{
    double w = latency_ms <= r->target_ms ? r->alpha : r->beta;
    return accuracy * pow(latency_ms / r->target_ms, w);
}
