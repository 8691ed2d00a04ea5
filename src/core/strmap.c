#include "core/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a */
static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

bool frost_strmap_init(frost_strmap *m, size_t n)
{
    m->cap = 16;
    while (m->cap < 2 * n + 16)
        m->cap *= 2;
    m->keys = calloc(m->cap, sizeof *m->keys);
    m->vals = calloc(m->cap, sizeof *m->vals);
    return m->keys && m->vals;
}

void frost_strmap_free(frost_strmap *m)
{
    free(m->keys);
    free(m->vals);
}

static size_t slot(const frost_strmap *m, const char *key)
{
    size_t i = hash_str(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

void frost_strmap_put(frost_strmap *m, const char *key, int val)
{
    size_t i = slot(m, key);
    m->keys[i] = key;
    m->vals[i] = val;
}

int frost_strmap_intern(frost_strmap *m, const char *key, int *count)
{
    size_t i = slot(m, key);
    if (!m->keys[i]) {
        m->keys[i] = key;
        m->vals[i] = (*count)++;
    }
    return m->vals[i];
}

int frost_strmap_get(const frost_strmap *m, const char *key)
{
    size_t i = slot(m, key);
    return m->keys[i] ? m->vals[i] : -1;
}
