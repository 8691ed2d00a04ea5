/*
 * Quantization configs: a validated cJSON tree (format in include/frost/qat.h).
 * The tree is kept as is, with the defaults filled in, so it round-trips into
 * checkpoint metadata; layer overrides are resolved against a model in qgraph.c.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/json.h"
#include "core/util.h"
#include "frost/file.h"
#include "frost/qat.h"
#include "quant/qgraph.h"

struct frost_qconfig {
    cJSON *root;
    bool
        observer_given; /* the text chose activations.observer (else a command's default applies) */
};

static const char *const spec_keys_w[] = {"bits",   "per_channel", "symmetric", "enabled",
                                          "scheme", "H",           "threshold", NULL};
static const char *const spec_keys_a[] = {"bits",       "symmetric",   "enabled", "observer",
                                          "percentile", "per_channel", "scheme",  NULL};

static const char *const wscheme_names[FROST_WSCHEME_COUNT] = {
    "affine", "binary", "binary_stochastic", "bwn", "twn", "ttq"};
static const char *const ascheme_names[FROST_ASCHEME_COUNT] = {"affine", "sign", "bireal", "xnor"};

static int name_index(const char *name, const char *const *names, int n)
{
    for (int i = 0; name && i < n; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

const char *frost_wscheme_name(frost_wscheme s)
{
    return (unsigned)s < FROST_WSCHEME_COUNT ? wscheme_names[s] : "unknown";
}
int frost_wscheme_parse(const char *name)
{
    return name_index(name, wscheme_names, FROST_WSCHEME_COUNT);
}
const char *frost_ascheme_name(frost_ascheme s)
{
    return (unsigned)s < FROST_ASCHEME_COUNT ? ascheme_names[s] : "unknown";
}
int frost_ascheme_parse(const char *name)
{
    return name_index(name, ascheme_names, FROST_ASCHEME_COUNT);
}

static frost_status check_scheme(const cJSON *it, bool weights, const char *where, const char *src)
{
    if (!cJSON_IsString(it) ||
        (weights ? frost_wscheme_parse(it->valuestring) : frost_ascheme_parse(it->valuestring)) < 0)
        return frost_fail(FROST_ERR_ARG,
                          weights ? "%s: %s.scheme must be affine, binary, binary_stochastic, bwn, "
                                    "twn or ttq"
                                  : "%s: %s.scheme must be affine, sign, bireal or xnor",
                          src, where);
    return FROST_OK;
}

static bool key_known(const char *k, const char *const *keys)
{
    for (int i = 0; keys[i]; i++)
        if (strcmp(k, keys[i]) == 0)
            return true;
    return false;
}

/* Checks one "weights"/"activations" object. `top`: the model-wide defaults
 * (only they may choose the observer). */
static frost_status check_spec(const cJSON *o, const char *where, bool weights, bool top,
                               const char *src)
{
    if (!cJSON_IsObject(o))
        return frost_fail(FROST_ERR_FORMAT, "%s: %s must be an object", src, where);
    const cJSON *it;
    cJSON_ArrayForEach(it, o)
    {
        const char *k = it->string;
        if (!key_known(k, weights ? spec_keys_w : spec_keys_a))
            return frost_fail(FROST_ERR_FORMAT, "%s: %s: unknown key '%s'", src, where, k);
        if (strcmp(k, "bits") == 0) {
            /* range first: converting a double outside int's range is undefined */
            if (!cJSON_IsNumber(it) || !(it->valuedouble >= 2 && it->valuedouble <= 8) ||
                it->valuedouble != (int)it->valuedouble)
                return frost_fail(FROST_ERR_ARG, "%s: %s.bits must be an integer 2..8", src, where);
        } else if (strcmp(k, "per_channel") == 0 && !weights) {
            if (cJSON_IsTrue(it))
                return frost_fail(FROST_ERR_UNSUPPORTED,
                                  "%s: %s: per-channel quantization needs a layer with weight "
                                  "channels (activations are per-tensor)",
                                  src, where);
        } else if (strcmp(k, "scheme") == 0) {
            FROST_TRY(check_scheme(it, weights, where, src));
        } else if (strcmp(k, "H") == 0) {
            if (!cJSON_IsNumber(it) || !(it->valuedouble > 0.0 && it->valuedouble < 1e6))
                return frost_fail(FROST_ERR_ARG, "%s: %s.H must be a number > 0", src, where);
        } else if (strcmp(k, "threshold") == 0) {
            if (!cJSON_IsNumber(it) || !(it->valuedouble > 0.0 && it->valuedouble < 1.0))
                return frost_fail(FROST_ERR_ARG, "%s: %s.threshold must be in (0, 1)", src, where);
        } else if (strcmp(k, "observer") == 0) {
            if (!top)
                return frost_fail(FROST_ERR_FORMAT,
                                  "%s: %s: the observer is chosen model-wide, not per layer", src,
                                  where);
            if (!cJSON_IsString(it) || frost_observer_kind_parse(it->valuestring) < 0)
                return frost_fail(
                    FROST_ERR_ARG,
                    "%s: %s.observer must be minmax, ema, hist, percentile or entropy", src, where);
        } else if (strcmp(k, "percentile") == 0) {
            if (!top)
                return frost_fail(FROST_ERR_FORMAT,
                                  "%s: %s: the percentile is chosen model-wide, not per layer", src,
                                  where);
            if (!cJSON_IsNumber(it) || !(it->valuedouble > 50.0 && it->valuedouble <= 100.0))
                return frost_fail(FROST_ERR_ARG, "%s: %s.percentile must be in (50, 100]", src,
                                  where);
        } else if (!cJSON_IsBool(it)) {
            return frost_fail(FROST_ERR_FORMAT, "%s: %s.%s must be true or false", src, where, k);
        }
    }
    return FROST_OK;
}

static frost_status check_tree(const cJSON *root, const char *src)
{
    if (!cJSON_IsObject(root))
        return frost_fail(FROST_ERR_FORMAT, "%s: a quantization config must be a JSON object", src);
    const cJSON *it;
    cJSON_ArrayForEach(it, root)
    {
        const char *k = it->string;
        if (strcmp(k, "weights") == 0 || strcmp(k, "activations") == 0) {
            FROST_TRY(check_spec(it, k, k[0] == 'w', true, src));
        } else if (strcmp(k, "layers") == 0) {
            if (!cJSON_IsObject(it))
                return frost_fail(FROST_ERR_FORMAT, "%s: layers must be an object", src);
            const cJSON *layer;
            cJSON_ArrayForEach(layer, it)
            {
                if (!cJSON_IsObject(layer))
                    return frost_fail(FROST_ERR_FORMAT, "%s: layers.%s must be an object", src,
                                      layer->string);
                const cJSON *part;
                cJSON_ArrayForEach(part, layer)
                {
                    char where[160];
                    snprintf(where, sizeof where, "layers.%s.%s", layer->string, part->string);
                    bool w = strcmp(part->string, "weights") == 0;
                    if (!w && strcmp(part->string, "activations") != 0)
                        return frost_fail(FROST_ERR_FORMAT,
                                          "%s: %s: expected 'weights' or 'activations'", src,
                                          where);
                    FROST_TRY(check_spec(part, where, w, false, src));
                }
            }
        } else if (strcmp(k, "bireal_shortcuts") == 0) {
            if (!cJSON_IsBool(it))
                return frost_fail(FROST_ERR_FORMAT, "%s: bireal_shortcuts must be true or false",
                                  src);
        } else if (strcmp(k, "format") != 0) {
            return frost_fail(FROST_ERR_FORMAT, "%s: unknown key '%s' in a quantization config",
                              src, k);
        }
    }
    return FROST_OK;
}

/* Sets o[key] to a number/bool/string unless present. */
static bool fill_num(cJSON *o, const char *key, double v)
{
    return cJSON_GetObjectItemCaseSensitive(o, key) || cJSON_AddNumberToObject(o, key, v);
}
static bool fill_bool(cJSON *o, const char *key, bool v)
{
    return cJSON_GetObjectItemCaseSensitive(o, key) || cJSON_AddBoolToObject(o, key, v);
}

static cJSON *child_object(cJSON *root, const char *key)
{
    cJSON *o = cJSON_GetObjectItemCaseSensitive(root, key);
    return o ? o : cJSON_AddObjectToObject(root, key);
}

static frost_status fill_defaults(cJSON *root)
{
    cJSON *w = child_object(root, "weights"), *a = child_object(root, "activations");
    bool ok = w && a && fill_num(w, "bits", 8) && fill_bool(w, "per_channel", true) &&
              fill_bool(w, "symmetric", true) && fill_bool(w, "enabled", true) &&
              fill_num(a, "bits", 8) && fill_bool(a, "symmetric", false) &&
              fill_bool(a, "enabled", true) && fill_num(a, "percentile", 99.99) &&
              (cJSON_GetObjectItemCaseSensitive(a, "observer") ||
               cJSON_AddStringToObject(a, "observer", "ema")) &&
              child_object(root, "layers");
    return ok ? FROST_OK : frost_fail(FROST_ERR_NOMEM, "out of memory building a quant config");
}

frost_status frost_qconfig_parse(const char *json_text, const char *source, frost_qconfig **out)
{
    *out = NULL;
    cJSON *root;
    FROST_TRY(frost_json_parse_strict(json_text, source, &root));
    frost_status s = check_tree(root, source);
    bool observer_given =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "activations"),
                                         "observer") != NULL;
    if (s == FROST_OK)
        s = fill_defaults(root);
    frost_qconfig *c = s == FROST_OK ? calloc(1, sizeof *c) : NULL;
    if (s == FROST_OK && !c)
        s = frost_fail(FROST_ERR_NOMEM, "out of memory");
    if (s != FROST_OK) {
        cJSON_Delete(root);
        return s;
    }
    c->root = root;
    c->observer_given = observer_given;
    *out = c;
    return FROST_OK;
}

frost_status frost_qconfig_default(frost_qconfig **out)
{
    return frost_qconfig_parse("{}", "default quant config", out);
}

frost_status frost_qconfig_load(const char *path, frost_qconfig **out)
{
    char *text;
    size_t len;
    *out = NULL;
    FROST_TRY(frost_read_file(path, &text, &len));
    frost_status s = strlen(text) != len
                         ? frost_fail(FROST_ERR_FORMAT, "%s: contains NUL bytes (not JSON)", path)
                         : frost_qconfig_parse(text, path, out);
    free(text);
    return s;
}

void frost_qconfig_free(frost_qconfig *c)
{
    if (c) {
        cJSON_Delete(c->root);
        free(c);
    }
}

static frost_status set_num(cJSON *o, const char *key, double v)
{
    cJSON *n = cJSON_CreateNumber(v);
    if (!n)
        return frost_fail(FROST_ERR_NOMEM, "out of memory");
    cJSON_ReplaceItemInObjectCaseSensitive(o, key, n);
    return FROST_OK;
}

frost_status frost_qconfig_set_defaults(frost_qconfig *c, int weight_bits, int act_bits,
                                        int per_channel, int observer)
{
    cJSON *w = cJSON_GetObjectItemCaseSensitive(c->root, "weights");
    cJSON *a = cJSON_GetObjectItemCaseSensitive(c->root, "activations");
    if ((weight_bits >= 0 && (weight_bits < 2 || weight_bits > 8)) ||
        (act_bits >= 0 && (act_bits < 2 || act_bits > 8)))
        return frost_fail(FROST_ERR_ARG, "quantization bits must be 2..8 (got %d/%d)", weight_bits,
                          act_bits);
    if (observer >= FROST_OBS_COUNT)
        return frost_fail(FROST_ERR_ARG, "unknown observer %d", observer);
    if (weight_bits >= 0)
        FROST_TRY(set_num(w, "bits", weight_bits));
    if (act_bits >= 0)
        FROST_TRY(set_num(a, "bits", act_bits));
    if (per_channel >= 0)
        cJSON_ReplaceItemInObjectCaseSensitive(w, "per_channel", cJSON_CreateBool(per_channel));
    if (observer >= 0) {
        cJSON_ReplaceItemInObjectCaseSensitive(
            a, "observer",
            cJSON_CreateString(frost_observer_kind_name((frost_observer_kind)observer)));
        c->observer_given = true;
    }
    return FROST_OK;
}

frost_status frost_qconfig_set_schemes(frost_qconfig *c, const char *wscheme, const char *ascheme)
{
    if (wscheme && frost_wscheme_parse(wscheme) < 0)
        return frost_fail(FROST_ERR_ARG,
                          "unknown weight scheme '%s' (affine, binary, binary_stochastic, bwn, "
                          "twn or ttq)",
                          wscheme);
    if (ascheme && frost_ascheme_parse(ascheme) < 0)
        return frost_fail(FROST_ERR_ARG,
                          "unknown activation scheme '%s' (affine, sign, bireal or xnor)", ascheme);
    const char *names[2] = {wscheme, ascheme}, *parts[2] = {"weights", "activations"};
    for (int i = 0; i < 2; i++) {
        if (!names[i])
            continue;
        cJSON *o = cJSON_GetObjectItemCaseSensitive(c->root, parts[i]);
        cJSON *v = cJSON_CreateString(names[i]);
        if (!v)
            return frost_fail(FROST_ERR_NOMEM, "out of memory");
        if (cJSON_GetObjectItemCaseSensitive(o, "scheme"))
            cJSON_ReplaceItemInObjectCaseSensitive(o, "scheme", v);
        else
            cJSON_AddItemToObject(o, "scheme", v);
    }
    return FROST_OK;
}

frost_status frost_qconfig_set_shortcuts(frost_qconfig *c, bool on)
{
    cJSON *v = cJSON_CreateBool(on);
    if (!v)
        return frost_fail(FROST_ERR_NOMEM, "out of memory");
    if (cJSON_GetObjectItemCaseSensitive(c->root, "bireal_shortcuts"))
        cJSON_ReplaceItemInObjectCaseSensitive(c->root, "bireal_shortcuts", v);
    else
        cJSON_AddItemToObject(c->root, "bireal_shortcuts", v);
    return FROST_OK;
}

bool frost_qconfig_shortcuts(const frost_qconfig *c)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c->root, "bireal_shortcuts"));
}

frost_status frost_qconfig_default_observer(frost_qconfig *c, int observer)
{
    if (c->observer_given)
        return FROST_OK;
    FROST_TRY(frost_qconfig_set_defaults(c, -1, -1, -1, observer));
    c->observer_given = false; /* still the command's choice, not the file's */
    return FROST_OK;
}

char *frost_qconfig_to_json(const frost_qconfig *c) { return cJSON_PrintUnformatted(c->root); }

/* ---- resolution for one layer (used by the graph transform) ---- */

static void read_spec(const cJSON *o, bool weights, frost_qspec *s)
{
    const cJSON *v;
    if (!o)
        return;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "bits"))) {
        s->bits = v->valueint;
        s->bits_set = true;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "per_channel")))
        s->per_channel = cJSON_IsTrue(v);
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "symmetric")))
        s->symmetric = cJSON_IsTrue(v);
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "enabled")))
        s->enabled = cJSON_IsTrue(v);
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "H")))
        s->binary_h = (float)v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "threshold")))
        s->ttq_t = (float)v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "scheme"))) {
        s->scheme = weights ? frost_wscheme_parse(v->valuestring)
                            : frost_ascheme_parse(v->valuestring); /* validated: >= 0 */
        s->scheme_set = true;
    }
}

static const cJSON *layer_override(const frost_qconfig *c, const char *layer)
{
    return layer ? cJSON_GetObjectItemCaseSensitive(
                       cJSON_GetObjectItemCaseSensitive(c->root, "layers"), layer)
                 : NULL;
}

void frost_qconfig_resolve(const frost_qconfig *c, const char *layer, frost_qspec *w,
                           frost_qspec *a)
{
    *w = *a = (frost_qspec){.ttq_t = 0.05f};
    read_spec(cJSON_GetObjectItemCaseSensitive(c->root, "weights"), true, w);
    read_spec(cJSON_GetObjectItemCaseSensitive(c->root, "activations"), false, a);
    /* only a layer's own entry counts as naming its scheme or bits */
    w->scheme_set = a->scheme_set = w->bits_set = a->bits_set = false;
    frost_qconfig_merge_layer(c, layer, w, a);
}

void frost_qconfig_merge_layer(const frost_qconfig *c, const char *layer, frost_qspec *w,
                               frost_qspec *a)
{
    const cJSON *l = layer_override(c, layer);
    if (l) {
        read_spec(cJSON_GetObjectItemCaseSensitive(l, "weights"), true, w);
        read_spec(cJSON_GetObjectItemCaseSensitive(l, "activations"), false, a);
    }
}

bool frost_qconfig_sets_enabled(const frost_qconfig *c, const char *layer)
{
    return cJSON_GetObjectItemCaseSensitive(
               cJSON_GetObjectItemCaseSensitive(layer_override(c, layer), "activations"),
               "enabled") != NULL;
}

int frost_qconfig_observer(const frost_qconfig *c, float *percentile)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(c->root, "activations");
    *percentile = (float)cJSON_GetObjectItemCaseSensitive(a, "percentile")->valuedouble;
    return frost_observer_kind_parse(cJSON_GetObjectItemCaseSensitive(a, "observer")->valuestring);
}

int frost_qconfig_override_count(const frost_qconfig *c)
{
    return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(c->root, "layers"));
}

const char *frost_qconfig_override(const frost_qconfig *c, int i, bool *has_w, bool *has_a)
{
    const cJSON *l = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c->root, "layers"), i);
    *has_w = cJSON_GetObjectItemCaseSensitive(l, "weights") != NULL;
    *has_a = cJSON_GetObjectItemCaseSensitive(l, "activations") != NULL;
    return l->string;
}
