/*
 * safetensors reader and writer (format described in include/frost/io.h).
 *
 * The writer lays tensors out back to back in the order given and pads the
 * JSON header with spaces so the data region starts at an 8-byte boundary.
 * The reader loads the whole file and trusts nothing in it: every size,
 * offset and string is checked before a pointer into the data is handed out,
 * and the tensors must tile the data region exactly (no overlap, no holes),
 * which is the rule the reference implementation enforces too.
 */
#include "frost/io.h"

#include "core/hash.h"
#include "core/util.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Tensor bytes are copied as they are in memory and the format is little-endian. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "frost safetensors I/O assumes a little-endian host"
#endif

/* The reference implementation refuses headers of 100 MB or more; so do we,
 * which also bounds what a hostile file can make us parse. */
#define ST_MAX_HEADER ((uint64_t)100000000)
/* Largest integer a JSON number (parsed as a double) holds exactly. */
#define ST_MAX_JSON_INT ((double)((uint64_t)1 << 53))
#define ST_METADATA_KEY "__metadata__"

static const struct {
    const char *name;
    size_t size;
} dtype_info[] = {
    [FROST_DT_F32] = {"F32", 4}, [FROST_DT_I32] = {"I32", 4}, [FROST_DT_I8] = {"I8", 1},
    [FROST_DT_U8] = {"U8", 1},   [FROST_DT_I64] = {"I64", 8},
};
_Static_assert(FROST_ARRAY_LEN(dtype_info) == FROST_DT_I64 + 1, "one dtype_info row per dtype");

static bool dtype_valid(frost_dtype dt) { return (unsigned)dt < FROST_ARRAY_LEN(dtype_info); }

static bool dtype_from_name(const char *name, frost_dtype *out)
{
    for (size_t i = 0; i < FROST_ARRAY_LEN(dtype_info); i++)
        if (strcmp(name, dtype_info[i].name) == 0) {
            *out = (frost_dtype)i;
            return true;
        }
    return false;
}

/* numel(shape) * dtype size without overflow; false if it does not fit in 64 bits. */
static bool tensor_nbytes(const frost_st_tensor *t, uint64_t *out)
{
    uint64_t n = dtype_info[t->dtype].size;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t dim = (uint64_t)t->shape[d];
        if (dim != 0 && n > UINT64_MAX / dim)
            return false;
        n *= dim;
    }
    *out = n;
    return true;
}

/* Byte size of a tensor already accepted by check_tensor_arg (cannot overflow). */
static uint64_t checked_nbytes(const frost_st_tensor *t)
{
    uint64_t n = 0;
    tensor_nbytes(t, &n);
    return n;
}

/* ---------------------------------------------------------------- names --- */

/* A name with the position it came from, for sorting and lookups. */
typedef struct {
    const char *name;
    int index;
} named_index;

static int compare_named(const void *a, const void *b)
{
    return strcmp(((const named_index *)a)->name, ((const named_index *)b)->name);
}

/* Sorts `names` and returns the first name that occurs twice, or NULL. Sorting
 * keeps this O(n log n) even for a hostile header with a million entries. */
static const char *first_duplicate(named_index *names, int n)
{
    if (n > 1)
        qsort(names, (size_t)n, sizeof *names, compare_named);
    for (int i = 1; i < n; i++)
        if (strcmp(names[i - 1].name, names[i].name) == 0)
            return names[i].name;
    return NULL;
}

/* ---------------------------------------------------------------- writer -- */

static frost_status check_tensor_arg(const char *path, const frost_st_tensor *t, int i)
{
    if (!t->name || !*t->name)
        return frost_fail(FROST_ERR_ARG, "file %s: tensor %d has an empty name", path, i);
    if (strcmp(t->name, ST_METADATA_KEY) == 0)
        return frost_fail(FROST_ERR_ARG, "file %s: tensor name '%s' is reserved", path, t->name);
    if (!dtype_valid(t->dtype))
        return frost_fail(FROST_ERR_ARG, "file %s: tensor '%s': unknown dtype %d", path, t->name,
                          (int)t->dtype);
    if (t->ndim < 0 || t->ndim > 4)
        return frost_fail(FROST_ERR_ARG, "file %s: tensor '%s': ndim %d is not in 0..4", path,
                          t->name, t->ndim);
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] < 0)
            return frost_fail(FROST_ERR_ARG,
                              "file %s: tensor '%s': shape[%d] = %" PRId64 " is negative", path,
                              t->name, d, t->shape[d]);
    uint64_t nbytes;
    if (!tensor_nbytes(t, &nbytes) || nbytes > SIZE_MAX / 2)
        return frost_fail(FROST_ERR_ARG, "file %s: tensor '%s': size overflows", path, t->name);
    if (nbytes > 0 && !t->data)
        return frost_fail(FROST_ERR_ARG, "file %s: tensor '%s': data is NULL", path, t->name);
    return FROST_OK;
}

/* Checks every argument and returns the total data size in *data_size. */
static frost_status check_write_args(const char *path, const frost_st_tensor *tensors, int n,
                                     const frost_st_meta *meta, int n_meta, size_t *data_size)
{
    if (n < 0 || n_meta < 0 || (n > 0 && !tensors) || (n_meta > 0 && !meta))
        return frost_fail(FROST_ERR_ARG, "file %s: bad tensor or metadata list (n=%d, n_meta=%d)",
                          path, n, n_meta);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        FROST_TRY(check_tensor_arg(path, &tensors[i], i));
        uint64_t nbytes = checked_nbytes(&tensors[i]);
        if (nbytes > SIZE_MAX / 2 - total)
            return frost_fail(FROST_ERR_ARG, "file %s: total data size overflows", path);
        total += (size_t)nbytes;
    }
    for (int i = 0; i < n_meta; i++)
        if (!meta[i].key || !meta[i].value)
            return frost_fail(FROST_ERR_ARG, "file %s: metadata entry %d has a NULL key or value",
                              path, i);
    *data_size = total;
    return FROST_OK;
}

/* Fails if two tensors (or two metadata keys) share a name. */
static frost_status check_unique_names(const char *path, const frost_st_tensor *tensors, int n,
                                       const frost_st_meta *meta, int n_meta)
{
    int most = n > n_meta ? n : n_meta;
    named_index *names = malloc(sizeof *names * (size_t)(most > 0 ? most : 1));
    if (!names)
        return frost_fail(FROST_ERR_NOMEM, "file %s: out of memory", path);
    for (int i = 0; i < n; i++)
        names[i] = (named_index){tensors[i].name, i};
    const char *dup = first_duplicate(names, n);
    frost_status st = FROST_OK;
    if (dup) {
        st = frost_fail(FROST_ERR_ARG, "file %s: tensor name '%s' is used twice", path, dup);
    } else {
        for (int i = 0; i < n_meta; i++)
            names[i] = (named_index){meta[i].key, i};
        dup = first_duplicate(names, n_meta);
        if (dup)
            st = frost_fail(FROST_ERR_ARG, "file %s: metadata key '%s' is used twice", path, dup);
    }
    free(names);
    return st;
}

/* Adds an exact integer: cJSON's own numbers are doubles printed with %g,
 * which would turn large sizes into "1e+16"-style floats. */
static bool add_int(cJSON *array, int64_t v)
{
    char text[24];
    snprintf(text, sizeof text, "%" PRId64, v);
    cJSON *item = cJSON_CreateRaw(text);
    return item && cJSON_AddItemToArray(array, item);
}

static bool add_tensor_entry(cJSON *root, const frost_st_tensor *t, uint64_t begin, uint64_t end)
{
    cJSON *entry = cJSON_AddObjectToObject(root, t->name);
    if (!entry || !cJSON_AddStringToObject(entry, "dtype", dtype_info[t->dtype].name))
        return false;
    cJSON *shape = cJSON_AddArrayToObject(entry, "shape");
    if (!shape)
        return false;
    for (int d = 0; d < t->ndim; d++)
        if (!add_int(shape, t->shape[d]))
            return false;
    cJSON *offsets = cJSON_AddArrayToObject(entry, "data_offsets");
    return offsets && add_int(offsets, (int64_t)begin) && add_int(offsets, (int64_t)end);
}

/* The header JSON text (malloc'd by cJSON), or NULL when out of memory. */
static char *build_header(const frost_st_tensor *tensors, int n, const frost_st_meta *meta,
                          int n_meta)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    if (ok && n_meta > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, ST_METADATA_KEY);
        ok = m != NULL;
        for (int i = 0; ok && i < n_meta; i++)
            ok = cJSON_AddStringToObject(m, meta[i].key, meta[i].value) != NULL;
    }
    uint64_t offset = 0;
    for (int i = 0; ok && i < n; i++) {
        uint64_t nbytes = checked_nbytes(&tensors[i]);
        ok = add_tensor_entry(root, &tensors[i], offset, offset + nbytes);
        offset += nbytes;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

static void put_u64_le(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Header length padded with spaces so that 8 + N is a multiple of 8: the data
 * region then starts 8-byte aligned in any buffer that is itself aligned. */
static size_t padded_header_len(size_t json_len) { return (json_len + 7) & ~(size_t)7; }

/* ---------------------------------------------------------------- content hash -- */

/* Every file frost writes carries in its metadata a hash of what it means: each tensor's
 * name, dtype, shape and bytes and each other metadata entry, in name order (so the
 * layout in the file does not matter, but a flipped value, a truncated tensor or two
 * same-shaped tensors swapped under each other's names all change it). */
#define ST_HASH_KEY    "frost.content_hash"
#define ST_HASH_PREFIX "fh64:"

static uint64_t hash_text(const char *s, uint64_t h) { return frost_hash64(s, strlen(s) + 1, h); }

static int compare_meta(const void *a, const void *b)
{
    return strcmp(((const frost_st_meta *)a)->key, ((const frost_st_meta *)b)->key);
}

/* false: out of memory */
static bool content_hash(const frost_st_tensor *t, int n, const frost_st_meta *meta, int n_meta,
                         uint64_t *out)
{
    named_index *order = malloc(sizeof *order * (size_t)(n > 0 ? n : 1));
    frost_st_meta *sorted = malloc(sizeof *sorted * (size_t)(n_meta > 0 ? n_meta : 1));
    if (!order || !sorted) {
        free(order);
        free(sorted);
        return false;
    }
    for (int i = 0; i < n; i++)
        order[i] = (named_index){t[i].name, i};
    qsort(order, (size_t)n, sizeof *order, compare_named);
    uint64_t h = 0x66726f73742d7374ULL; /* "frost-st" */
    for (int k = 0; k < n; k++) {
        const frost_st_tensor *x = &t[order[k].index];
        char shape[128];
        int len = snprintf(shape, sizeof shape, "%s[", dtype_info[x->dtype].name);
        for (int d = 0; d < x->ndim && len < (int)sizeof shape; d++)
            len +=
                snprintf(shape + len, sizeof shape - (size_t)len, "%lld,", (long long)x->shape[d]);
        h = hash_text(shape, hash_text(x->name, h));
        h = frost_hash64(x->data, (size_t)checked_nbytes(x), h);
    }
    int m = 0;
    for (int i = 0; i < n_meta; i++)
        if (strcmp(meta[i].key, ST_HASH_KEY) != 0)
            sorted[m++] = meta[i];
    qsort(sorted, (size_t)m, sizeof *sorted, compare_meta);
    for (int i = 0; i < m; i++)
        h = hash_text(sorted[i].value, hash_text(sorted[i].key, h));
    free(order);
    free(sorted);
    *out = h;
    return true;
}

static void format_hash(uint64_t h, char buf[32])
{
    snprintf(buf, 32, ST_HASH_PREFIX "%016llx", (unsigned long long)h);
}

frost_status frost_st_write(const char *path, const frost_st_tensor *tensors, int n,
                            const frost_st_meta *meta, int n_meta)
{
    if (!path || !*path)
        return frost_fail(FROST_ERR_ARG, "safetensors write: empty path");
    size_t data_size = 0;
    FROST_TRY(check_write_args(path, tensors, n, meta, n_meta, &data_size));
    FROST_TRY(check_unique_names(path, tensors, n, meta, n_meta));
    for (int i = 0; i < n_meta; i++)
        if (strcmp(meta[i].key, ST_HASH_KEY) == 0)
            return frost_fail(FROST_ERR_ARG, "file %s: metadata key '%s' is frost's own", path,
                              ST_HASH_KEY);
    frost_st_meta *all = malloc(sizeof *all * (size_t)(n_meta + 1));
    uint64_t hash;
    if (!all || !content_hash(tensors, n, meta, n_meta, &hash)) {
        free(all);
        return frost_fail(FROST_ERR_NOMEM, "file %s: out of memory", path);
    }
    char hash_text_buf[32];
    format_hash(hash, hash_text_buf);
    if (n_meta > 0)
        memcpy(all, meta, sizeof *all * (size_t)n_meta);
    all[n_meta] = (frost_st_meta){ST_HASH_KEY, hash_text_buf};
    char *json = build_header(tensors, n, all, n_meta + 1);
    free(all);
    if (!json)
        return frost_fail(FROST_ERR_NOMEM, "file %s: out of memory building the header", path);
    size_t json_len = strlen(json);
    size_t header_len = padded_header_len(json_len);
    if (header_len >= ST_MAX_HEADER || data_size > SIZE_MAX - 8 - header_len) {
        cJSON_free(json);
        return frost_fail(FROST_ERR_ARG, "file %s: header of %zu bytes is too large", path,
                          header_len);
    }
    size_t total = 8 + header_len + data_size;
    unsigned char *file = malloc(total);
    if (!file) {
        cJSON_free(json);
        return frost_fail(FROST_ERR_NOMEM, "file %s: cannot allocate %zu bytes", path, total);
    }
    put_u64_le(file, header_len);
    memcpy(file + 8, json, json_len);
    memset(file + 8 + json_len, ' ', header_len - json_len);
    cJSON_free(json);
    unsigned char *p = file + 8 + header_len;
    for (int i = 0; i < n; i++) {
        uint64_t nbytes = checked_nbytes(&tensors[i]);
        if (nbytes > 0)
            memcpy(p, tensors[i].data, (size_t)nbytes);
        p += nbytes;
    }
    frost_status st = frost_write_file_atomic(path, file, total);
    free(file);
    return st;
}

/* ---------------------------------------------------------------- reader -- */

struct frost_st_file {
    char *raw;     /* the whole file (frost_read_file, or mapped) */
    size_t mapped; /* bytes mapped (frost_st_map), 0 if read */
    cJSON *header; /* owns the name / metadata strings */
    int n;
    frost_st_tensor *tensors;
    uint64_t *begin, *end; /* data_offsets of each tensor */
    void **aligned_copies; /* see align_tensor_data; NULL entries point into raw */
    named_index *by_name;  /* sorted, for frost_st_find */
    int n_meta;
    frost_st_meta *meta;
};

/* What the reader needs while checking one file. */
typedef struct {
    const char *path;
    uint64_t data_size;
} read_ctx;

/* A JSON number that is an exact integer in [0, 2^53]. */
static bool json_uint(const cJSON *item, uint64_t *out)
{
    if (!cJSON_IsNumber(item))
        return false;
    double v = item->valuedouble;
    if (!(v >= 0.0 && v <= ST_MAX_JSON_INT) || v != (double)(uint64_t)v)
        return false;
    *out = (uint64_t)v;
    return true;
}

static frost_status parse_dtype(const read_ctx *c, const char *name, const cJSON *entry,
                                frost_st_tensor *t)
{
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    if (!cJSON_IsString(dtype))
        return frost_fail(FROST_ERR_FORMAT,
                          "file %s: tensor '%s': field 'dtype' is missing or "
                          "not a string",
                          c->path, name);
    if (!dtype_from_name(dtype->valuestring, &t->dtype))
        return frost_fail(FROST_ERR_FORMAT, "file %s: tensor '%s': unsupported dtype '%.16s'",
                          c->path, name, dtype->valuestring);
    return FROST_OK;
}

static frost_status parse_shape(const read_ctx *c, const char *name, const cJSON *entry,
                                frost_st_tensor *t)
{
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    if (!cJSON_IsArray(shape))
        return frost_fail(FROST_ERR_FORMAT,
                          "file %s: tensor '%s': field 'shape' is missing or "
                          "not an array",
                          c->path, name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > 4)
        return frost_fail(FROST_ERR_FORMAT,
                          "file %s: tensor '%s': shape has %d dimensions, at "
                          "most 4 are supported",
                          c->path, name, ndim);
    t->ndim = ndim;
    int d = 0;
    const cJSON *dim;
    cJSON_ArrayForEach(dim, shape)
    {
        uint64_t v;
        if (!json_uint(dim, &v))
            return frost_fail(FROST_ERR_FORMAT,
                              "file %s: tensor '%s': shape[%d] is not a "
                              "non-negative integer",
                              c->path, name, d);
        t->shape[d++] = (int64_t)v;
    }
    return FROST_OK;
}

static frost_status parse_offsets(const read_ctx *c, const char *name, const cJSON *entry,
                                  uint64_t *begin, uint64_t *end)
{
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        !json_uint(offsets->child, begin) || !json_uint(offsets->child->next, end))
        return frost_fail(FROST_ERR_FORMAT,
                          "file %s: tensor '%s': field 'data_offsets' must be "
                          "two non-negative integers",
                          c->path, name);
    if (*begin > *end || *end > c->data_size)
        return frost_fail(FROST_ERR_FORMAT,
                          "file %s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                          "] are outside the data region of %" PRIu64 " bytes",
                          c->path, name, *begin, *end, c->data_size);
    return FROST_OK;
}

/* One "name": {"dtype", "shape", "data_offsets"} entry; its size must match. */
static frost_status parse_tensor(const read_ctx *c, const cJSON *entry, frost_st_tensor *t,
                                 uint64_t *begin, uint64_t *end)
{
    const char *name = entry->string;
    if (!*name)
        return frost_fail(FROST_ERR_FORMAT, "file %s: a tensor has an empty name", c->path);
    if (!cJSON_IsObject(entry))
        return frost_fail(FROST_ERR_FORMAT, "file %s: tensor '%s': entry is not an object", c->path,
                          name);
    t->name = name;
    FROST_TRY(parse_dtype(c, name, entry, t));
    FROST_TRY(parse_shape(c, name, entry, t));
    FROST_TRY(parse_offsets(c, name, entry, begin, end));
    uint64_t nbytes;
    if (!tensor_nbytes(t, &nbytes))
        return frost_fail(FROST_ERR_FORMAT, "file %s: tensor '%s': shape is too large", c->path,
                          name);
    if (nbytes != *end - *begin)
        return frost_fail(FROST_ERR_FORMAT,
                          "file %s: tensor '%s': shape and dtype need %" PRIu64
                          " bytes but data_offsets [%" PRIu64 ", %" PRIu64 "] span %" PRIu64,
                          c->path, name, nbytes, *begin, *end, *end - *begin);
    return FROST_OK;
}

static frost_status parse_metadata(const read_ctx *c, const cJSON *obj, frost_st_file *f)
{
    if (!cJSON_IsObject(obj))
        return frost_fail(FROST_ERR_FORMAT, "file %s: '%s' is not an object", c->path,
                          ST_METADATA_KEY);
    int n = cJSON_GetArraySize(obj);
    f->meta = malloc(sizeof *f->meta * (size_t)(n > 0 ? n : 1));
    named_index *keys = malloc(sizeof *keys * (size_t)(n > 0 ? n : 1));
    if (!f->meta || !keys) {
        free(keys);
        return frost_fail(FROST_ERR_NOMEM, "file %s: out of memory", c->path);
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, obj)
    {
        if (!cJSON_IsString(item)) {
            free(keys);
            return frost_fail(FROST_ERR_FORMAT, "file %s: metadata '%s' is not a string", c->path,
                              item->string);
        }
        keys[f->n_meta] = (named_index){item->string, f->n_meta};
        f->meta[f->n_meta++] = (frost_st_meta){item->string, item->valuestring};
    }
    const char *dup = first_duplicate(keys, f->n_meta);
    free(keys);
    if (dup)
        return frost_fail(FROST_ERR_FORMAT, "file %s: metadata key '%s' appears twice", c->path,
                          dup);
    return FROST_OK;
}

/* Header entries are either the metadata object or tensors; tensors keep
 * header order. */
static frost_status parse_entries(const read_ctx *c, frost_st_file *f)
{
    int n_items = cJSON_GetArraySize(f->header);
    size_t cap = (size_t)(n_items > 0 ? n_items : 1);
    f->tensors = calloc(cap, sizeof *f->tensors);
    f->begin = calloc(cap, sizeof *f->begin);
    f->end = calloc(cap, sizeof *f->end);
    f->aligned_copies = calloc(cap, sizeof *f->aligned_copies);
    f->by_name = calloc(cap, sizeof *f->by_name);
    if (!f->tensors || !f->begin || !f->end || !f->aligned_copies || !f->by_name)
        return frost_fail(FROST_ERR_NOMEM, "file %s: out of memory", c->path);
    const cJSON *entry;
    cJSON_ArrayForEach(entry, f->header)
    {
        if (strcmp(entry->string, ST_METADATA_KEY) == 0) {
            if (f->meta)
                return frost_fail(FROST_ERR_FORMAT, "file %s: '%s' appears twice", c->path,
                                  ST_METADATA_KEY);
            FROST_TRY(parse_metadata(c, entry, f));
            continue;
        }
        int i = f->n;
        FROST_TRY(parse_tensor(c, entry, &f->tensors[i], &f->begin[i], &f->end[i]));
        f->by_name[i] = (named_index){f->tensors[i].name, i};
        f->n++;
    }
    const char *dup = first_duplicate(f->by_name, f->n);
    if (dup)
        return frost_fail(FROST_ERR_FORMAT, "file %s: tensor '%s' appears twice", c->path, dup);
    return FROST_OK;
}

/* A tensor's byte range in the data region, with its header position. */
typedef struct {
    uint64_t begin, end;
    int index;
} byte_span;

static int compare_spans(const void *a, const void *b)
{
    const byte_span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* The tensors, sorted by offset, must tile [0, data_size) exactly. */
static frost_status check_coverage(const read_ctx *c, const frost_st_file *f)
{
    byte_span *spans = malloc(sizeof *spans * (size_t)(f->n > 0 ? f->n : 1));
    if (!spans)
        return frost_fail(FROST_ERR_NOMEM, "file %s: out of memory", c->path);
    for (int i = 0; i < f->n; i++)
        spans[i] = (byte_span){f->begin[i], f->end[i], i};
    qsort(spans, (size_t)f->n, sizeof *spans, compare_spans);
    frost_status st = FROST_OK;
    uint64_t covered = 0;
    const char *prev = NULL;
    for (int k = 0; k < f->n && st == FROST_OK; k++) {
        const char *name = f->tensors[spans[k].index].name;
        if (spans[k].begin < covered)
            st = frost_fail(FROST_ERR_FORMAT,
                            "file %s: tensor '%s': data_offsets overlap "
                            "tensor '%s'",
                            c->path, name, prev);
        else if (spans[k].begin > covered)
            st = frost_fail(FROST_ERR_FORMAT,
                            "file %s: tensor '%s': unused bytes [%" PRIu64 ", %" PRIu64
                            ") before its data_offsets",
                            c->path, name, covered, spans[k].begin);
        covered = spans[k].end;
        prev = name;
    }
    if (st == FROST_OK && covered != c->data_size)
        st = frost_fail(FROST_ERR_FORMAT,
                        "file %s: data region has %" PRIu64 " bytes but the "
                        "tensors cover only %" PRIu64,
                        c->path, c->data_size, covered);
    free(spans);
    return st;
}

/* Points each tensor at its bytes. The data region is 8-byte aligned in our
 * own files, but a tensor that follows an odd-sized one (or any tensor of a
 * foreign file) may sit at an offset that is not a multiple of its element
 * size; such a tensor gets an aligned copy so that callers may read it as an
 * array of its type without undefined behaviour. */
static frost_status place_tensor_data(const read_ctx *c, frost_st_file *f, const char *data)
{
    for (int i = 0; i < f->n; i++) {
        frost_st_tensor *t = &f->tensors[i];
        const char *bytes = data + f->begin[i];
        size_t nbytes = (size_t)(f->end[i] - f->begin[i]);
        if ((uintptr_t)bytes % dtype_info[t->dtype].size != 0) {
            f->aligned_copies[i] = frost_alloc(nbytes);
            if (!f->aligned_copies[i])
                return frost_fail(FROST_ERR_NOMEM, "file %s: out of memory", c->path);
            memcpy(f->aligned_copies[i], bytes, nbytes);
            bytes = f->aligned_copies[i];
        }
        t->data = bytes;
    }
    return FROST_OK;
}

static uint64_t get_u64_le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Parses the header JSON, which must be one object followed only by spaces. */
static frost_status parse_header_json(const read_ctx *c, const char *text, size_t len, cJSON **out)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root)
        return frost_fail(FROST_ERR_FORMAT, "file %s: header is not valid JSON", c->path);
    *out = root;
    if (!cJSON_IsObject(root))
        return frost_fail(FROST_ERR_FORMAT, "file %s: header JSON is not an object", c->path);
    if (!end || end < text || end > text + len)
        return frost_fail(FROST_ERR_FORMAT, "file %s: header JSON runs past its length", c->path);
    for (; end < text + len; end++)
        if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r')
            return frost_fail(FROST_ERR_FORMAT,
                              "file %s: header has bytes after its JSON "
                              "object at offset %td",
                              c->path, end - text);
    return FROST_OK;
}

/* Validates the loaded file `f->raw` of `size` bytes and fills f. */
static frost_status parse_file(const char *path, frost_st_file *f, size_t size)
{
    if (size < 8)
        return frost_fail(FROST_ERR_FORMAT,
                          "file %s: %zu bytes is too short for a safetensors "
                          "header",
                          path, size);
    uint64_t header_len = get_u64_le((const unsigned char *)f->raw);
    if (header_len >= ST_MAX_HEADER)
        return frost_fail(FROST_ERR_FORMAT,
                          "file %s: header length %" PRIu64 " is not below "
                          "the %" PRIu64 "-byte limit",
                          path, header_len, ST_MAX_HEADER);
    if (header_len > size - 8)
        return frost_fail(FROST_ERR_FORMAT,
                          "file %s: header length %" PRIu64 " exceeds the %zu "
                          "bytes after the length field",
                          path, header_len, size - 8);
    read_ctx c = {path, size - 8 - header_len};
    FROST_TRY(parse_header_json(&c, f->raw + 8, (size_t)header_len, &f->header));
    FROST_TRY(parse_entries(&c, f));
    FROST_TRY(check_coverage(&c, f));
    return place_tensor_data(&c, f, f->raw + 8 + header_len);
}

/* Maps the file read-only instead of reading it: the tensors then point into the page
 * cache (int8 models load without copying their weights). */
static frost_status map_file(const char *path, frost_st_file *f, size_t *size)
{
    if (!path || !*path)
        return frost_fail(FROST_ERR_ARG, "map file: empty path");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return frost_fail(FROST_ERR_IO, "file %s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    frost_status st = FROST_OK;
    if (fstat(fd, &sb) != 0)
        st = frost_fail(FROST_ERR_IO, "file %s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = frost_fail(FROST_ERR_IO, "file %s: not a regular file", path);
    else if (sb.st_size < 8)
        st = frost_fail(FROST_ERR_FORMAT,
                        "file %s: %jd bytes is too short for a safetensors "
                        "header",
                        path, (intmax_t)sb.st_size);
    if (st == FROST_OK) {
        void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED)
            st = frost_fail(FROST_ERR_IO, "file %s: cannot map: %s", path, strerror(errno));
        else {
            f->raw = p;
            f->mapped = (size_t)sb.st_size;
            *size = f->mapped;
        }
    }
    close(fd);
    return st;
}

/* Checks the stored hash; a file without one (written by an older frost or another tool)
 * loads with a note. */
static frost_status verify_content_hash(const char *path, const frost_st_file *f)
{
    const char *stored = frost_st_meta_get(f, ST_HASH_KEY);
    if (!stored) {
        frost_note("%s has no content hash (written by another tool or an older frost): loaded "
                   "without checking its contents",
                   path);
        return FROST_OK;
    }
    uint64_t h;
    if (!content_hash(f->tensors, f->n, f->meta, f->n_meta, &h))
        return frost_fail(FROST_ERR_NOMEM, "file %s: out of memory", path);
    char want[32];
    format_hash(h, want);
    if (strcmp(stored, want) == 0)
        return FROST_OK;
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    return FROST_OK; /* fuzzers mutate contents: let them reach the parsers behind */
#else
    return frost_fail(FROST_ERR_FORMAT,
                      "file %s: content hash mismatch (stored %s, contents give %s): the file was "
                      "changed or damaged after frost wrote it",
                      path, stored, want);
#endif
}

/* Loads (read or mapped) and validates a file; on failure nothing is left open. */
static frost_status open_file(const char *path, bool map, frost_st_file **out)
{
    if (!out)
        return frost_fail(FROST_ERR_ARG, "safetensors: NULL output pointer");
    *out = NULL;
    frost_st_file *f = calloc(1, sizeof *f);
    if (!f)
        return frost_fail(FROST_ERR_NOMEM, "file %s: out of memory", path ? path : "");
    size_t size = 0;
    frost_status st = map ? map_file(path, f, &size) : frost_read_file(path, &f->raw, &size);
    if (st == FROST_OK)
        st = parse_file(path, f, size);
    if (st == FROST_OK)
        st = verify_content_hash(path, f);
    if (st != FROST_OK) {
        frost_st_close(f);
        return st;
    }
    *out = f;
    return FROST_OK;
}

frost_status frost_st_read(const char *path, frost_st_file **out)
{
    return open_file(path, false, out);
}

frost_status frost_st_map(const char *path, frost_st_file **out)
{
    return open_file(path, true, out);
}

int frost_st_count(const frost_st_file *f) { return f ? f->n : 0; }

const frost_st_tensor *frost_st_get(const frost_st_file *f, int i)
{
    if (!f || i < 0 || i >= f->n)
        return NULL;
    return &f->tensors[i];
}

const frost_st_tensor *frost_st_find(const frost_st_file *f, const char *name)
{
    if (!f || !name || f->n == 0)
        return NULL;
    named_index key = {name, 0};
    const named_index *hit = bsearch(&key, f->by_name, (size_t)f->n, sizeof key, compare_named);
    return hit ? &f->tensors[hit->index] : NULL;
}

const char *frost_st_meta_get(const frost_st_file *f, const char *key)
{
    if (!f || !key)
        return NULL;
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[i].key, key) == 0)
            return f->meta[i].value;
    return NULL;
}

void frost_st_close(frost_st_file *f)
{
    if (!f)
        return;
    if (f->aligned_copies)
        for (int i = 0; i < f->n; i++)
            frost_free(f->aligned_copies[i]);
    free(f->aligned_copies);
    free(f->by_name);
    free(f->begin);
    free(f->end);
    free(f->tensors);
    free(f->meta);
    cJSON_Delete(f->header);
    if (f->mapped)
        munmap(f->raw, f->mapped);
    else
        free(f->raw);
    free(f);
}
