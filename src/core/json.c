#include "core/json.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"

/* 1-based line and column of text[offset]. */
static void line_column(const char *text, size_t offset, int *line, int *column)
{
    *line = 1;
    *column = 1;
    for (size_t i = 0; i < offset && text[i]; i++) {
        if (text[i] == '\n') {
            ++*line;
            *column = 1;
        } else {
            ++*column;
        }
    }
}

frost_status frost_json_parse_strict(const char *text, const char *src, cJSON **out)
{
    const char *end = NULL;
    *out = cJSON_ParseWithOpts(text, &end, false);
    int line, column;
    if (!*out) {
        const char *at = cJSON_GetErrorPtr();
        line_column(text, at && at >= text ? (size_t)(at - text) : 0, &line, &column);
        return frost_fail(FROST_ERR_FORMAT, "%s: invalid JSON at line %d, column %d", src, line,
                          column);
    }
    end += strspn(end, " \t\r\n");
    if (*end) {
        line_column(text, (size_t)(end - text), &line, &column);
        cJSON_Delete(*out);
        *out = NULL;
        return frost_fail(FROST_ERR_FORMAT,
                          "%s: trailing data after the JSON document at line %d, column %d", src,
                          line, column);
    }
    return FROST_OK;
}

static bool listed(const char *const *allowed, const char *key)
{
    for (; *allowed; allowed++)
        if (strcmp(*allowed, key) == 0)
            return true;
    return false;
}

/* "a, b, c" */
static void join(const char *const *allowed, char *buf, size_t size)
{
    size_t k = 0;
    buf[0] = '\0';
    for (; *allowed && k < size; allowed++)
        k += (size_t)snprintf(buf + k, size - k, "%s%s", k ? ", " : "", *allowed);
}

frost_status frost_json_known_fields(const cJSON *obj, const char *const *allowed, const char *src,
                                     const char *where)
{
    for (const cJSON *e = obj ? obj->child : NULL; e; e = e->next) {
        if (!e->string)
            continue;
        if (!listed(allowed, e->string)) {
            char known[512];
            join(allowed, known, sizeof known);
            return frost_fail(FROST_ERR_FORMAT, "%s: %s: unknown field '%s' (known: %s)", src,
                              where, e->string, known);
        }
        for (const cJSON *f = obj->child; f != e; f = f->next)
            if (f->string && strcmp(f->string, e->string) == 0)
                return frost_fail(FROST_ERR_FORMAT, "%s: %s: field '%s' appears twice", src, where,
                                  e->string);
    }
    return FROST_OK;
}
