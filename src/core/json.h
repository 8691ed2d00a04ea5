/* Strict JSON for the files frost reads (architectures, cells, genotypes, quantization
 * configs): one document and nothing after it, and no field the reader would ignore. A
 * misspelt or misplaced field ("stride" on a bn) is an error naming it, never a silent
 * default. Built on cJSON. */
#ifndef FROST_CORE_JSON_H
#define FROST_CORE_JSON_H

#include <cJSON.h>

#include "frost/status.h"

/* Parses text as one JSON document (trailing data other than whitespace is an error).
 * Errors say where, as "<src>: invalid JSON at line L, column C" or "<src>: trailing data
 * after the JSON document at line L, column C". */
frost_status frost_json_parse_strict(const char *text, const char *src, cJSON **out);

/* Every field of obj must be one of `allowed` (NULL-terminated) and appear once; otherwise
 * an error "<src>: <where>: unknown field 'k' (known: a, b, c)" or "... field 'k' appears
 * twice". `where` names the object ("layer 'conv1'", "input"). */
frost_status frost_json_known_fields(const cJSON *obj, const char *const *allowed, const char *src,
                                     const char *where);

#endif
