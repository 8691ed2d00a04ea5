/*
 * IDX files (the MNIST container) and in-memory datasets.
 *
 * IDX layout: 2 zero bytes, a dtype byte (only 0x08 = unsigned byte is read
 * here), a dimension-count byte, that many big-endian uint32 sizes, then the
 * row-major payload. Files may be gzip-compressed: zlib's gzread passes plain
 * files through unchanged, so one code path reads both.
 *
 * The reader trusts nothing in the header: every size is checked before it is
 * used for arithmetic or allocation, the payload must be exactly as long as the
 * header promises (short files and trailing bytes are both refused), and every
 * error message names the file.
 */
#include "data/data_internal.h"

#include "core/rng.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_DTYPE_UBYTE 0x08
/* gzread takes an unsigned length but returns an int: keep each request below INT_MAX. */
#define IDX_READ_CHUNK ((size_t)1 << 30)
/* First payload allocation; the buffer grows as data actually arrives, so a
 * 20-byte file whose header claims 2 GB fails as truncated without the 2 GB. */
#define IDX_INITIAL_BUFFER ((size_t)1 << 24)

/* A parsed IDX file: its dimensions and payload. */
typedef struct {
    int ndims;
    uint32_t dims[4];
    uint8_t *data; /* product(dims) bytes, malloc'd */
} idx_blob;

static const char *idx_dtype_name(int dtype)
{
    switch (dtype) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    }
    return NULL;
}

/* Opens through a plain fd first so that a missing file reports errno reliably
 * (gzopen may fail for other reasons and leave errno stale). */
static frost_status idx_open(const char *path, gzFile *out)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return frost_fail(FROST_ERR_IO, "file %s: cannot open: %s", path, strerror(errno));
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        return frost_fail(FROST_ERR_NOMEM, "file %s: cannot start the gzip reader", path);
    }
    gzbuffer(gz, 1 << 17);
    *out = gz;
    return FROST_OK;
}

/* Turns zlib's error state into a frost error: Z_ERRNO is the OS failing to
 * read; anything else means the compressed stream itself is damaged. */
static frost_status idx_stream_error(gzFile gz, const char *path)
{
    int zerr = Z_OK;
    const char *msg = gzerror(gz, &zerr);
    if (zerr == Z_ERRNO)
        return frost_fail(FROST_ERR_IO, "file %s: read failed: %s", path, strerror(errno));
    return frost_fail(FROST_ERR_FORMAT, "file %s: corrupt gzip data: %s", path, msg);
}

/* Reads up to len bytes; *got < len only at the end of the data. */
static frost_status idx_read(gzFile gz, const char *path, uint8_t *buf, size_t len, size_t *got)
{
    size_t have = 0;
    while (have < len) {
        size_t want = FROST_MIN(len - have, IDX_READ_CHUNK);
        int n = gzread(gz, buf + have, (unsigned)want);
        if (n < 0)
            return idx_stream_error(gz, path);
        if (n == 0)
            break;
        have += (size_t)n;
    }
    *got = have;
    return FROST_OK;
}

/* After a short read: a gzip stream cut off mid-way is reported as such. */
static const char *idx_truncation_hint(gzFile gz)
{
    int zerr = Z_OK;
    gzerror(gz, &zerr);
    return zerr == Z_BUF_ERROR ? " (the gzip stream is cut off)" : "";
}

static uint32_t read_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Magic, dtype and dimension count; `what` says what kind of file we wanted. */
static frost_status idx_check_magic(const uint8_t m[4], const char *path, int min_dims,
                                    int max_dims, const char *what)
{
    if (m[0] != 0 || m[1] != 0)
        return frost_fail(FROST_ERR_FORMAT,
                          "file %s: bad IDX magic %02x %02x %02x %02x (expected 00 00 <dtype> "
                          "<ndims>)",
                          path, m[0], m[1], m[2], m[3]);
    if (m[2] != IDX_DTYPE_UBYTE) {
        const char *name = idx_dtype_name(m[2]);
        if (name)
            return frost_fail(FROST_ERR_FORMAT,
                              "file %s: unsupported IDX dtype 0x%02X (%s); only 0x08 (unsigned "
                              "byte) is supported",
                              path, m[2], name);
        return frost_fail(FROST_ERR_FORMAT, "file %s: invalid IDX dtype 0x%02X", path, m[2]);
    }
    if (m[3] < min_dims || m[3] > max_dims) {
        if (min_dims == max_dims)
            return frost_fail(FROST_ERR_FORMAT, "file %s: %s needs %d dimension(s), header has %d",
                              path, what, min_dims, m[3]);
        return frost_fail(FROST_ERR_FORMAT, "file %s: %s needs %d to %d dimensions, header has %d",
                          path, what, min_dims, max_dims, m[3]);
    }
    return FROST_OK;
}

/* Checks the sizes and returns the payload length. Each size must fit an int
 * (frost_dataset stores ints) and the product must stay under
 * FROST_IDX_MAX_BYTES; checking after every factor keeps the 64-bit product
 * from overflowing (cap * 2^32 < 2^64). */
static frost_status idx_payload_bytes(const idx_blob *b, const char *path, uint64_t *bytes)
{
    uint64_t total = 1;
    for (int i = 0; i < b->ndims; i++) {
        if (b->dims[i] == 0)
            return frost_fail(FROST_ERR_FORMAT, "file %s: dimension %d is zero", path, i);
        if (b->dims[i] > INT_MAX)
            return frost_fail(FROST_ERR_FORMAT, "file %s: dimension %d is absurd (%u)", path, i,
                              (unsigned)b->dims[i]);
        total *= b->dims[i];
        if (total > FROST_IDX_MAX_BYTES)
            return frost_fail(FROST_ERR_FORMAT,
                              "file %s: header promises more than %llu bytes of data", path,
                              (unsigned long long)FROST_IDX_MAX_BYTES);
    }
    *bytes = total;
    return FROST_OK;
}

static frost_status idx_read_header(gzFile gz, const char *path, int min_dims, int max_dims,
                                    const char *what, idx_blob *b)
{
    uint8_t head[4 + 4 * 4];
    size_t got = 0;
    FROST_TRY(idx_read(gz, path, head, 4, &got));
    if (got < 4)
        return frost_fail(FROST_ERR_FORMAT, "file %s: truncated IDX header (%zu of 4 bytes)%s",
                          path, got, idx_truncation_hint(gz));
    FROST_TRY(idx_check_magic(head, path, min_dims, max_dims, what));
    b->ndims = head[3];
    size_t dim_bytes = 4 * (size_t)b->ndims;
    FROST_TRY(idx_read(gz, path, head + 4, dim_bytes, &got));
    if (got < dim_bytes)
        return frost_fail(FROST_ERR_FORMAT,
                          "file %s: truncated IDX header (%zu of %zu size bytes)%s", path, got,
                          dim_bytes, idx_truncation_hint(gz));
    for (int i = 0; i < b->ndims; i++)
        b->dims[i] = read_be32(head + 4 + 4 * i);
    return FROST_OK;
}

/* Reads exactly `expect` bytes and then insists on the end of the data. */
static frost_status idx_read_payload(gzFile gz, const char *path, uint64_t expect, uint8_t **out)
{
    char what[4200];
    snprintf(what, sizeof what, "file %s (as its header says)", path);
    FROST_TRY(frost_check_memory(expect, what));
    size_t cap = (size_t)FROST_MIN(expect, (uint64_t)IDX_INITIAL_BUFFER);
    uint8_t *buf = malloc(cap);
    if (!buf)
        return frost_fail(FROST_ERR_NOMEM, "file %s: cannot allocate %zu bytes", path, cap);
    size_t have = 0;
    frost_status s = FROST_OK;
    while (have < expect) {
        if (have == cap) {
            size_t bigger = (size_t)FROST_MIN(expect, (uint64_t)cap * 2);
            uint8_t *grown = realloc(buf, bigger);
            if (!grown) {
                s = frost_fail(FROST_ERR_NOMEM, "file %s: cannot allocate %zu bytes", path, bigger);
                break;
            }
            buf = grown;
            cap = bigger;
        }
        size_t got = 0;
        s = idx_read(gz, path, buf + have, cap - have, &got);
        if (s != FROST_OK)
            break;
        have += got;
        if (have < cap) {
            s = frost_fail(FROST_ERR_FORMAT,
                           "file %s: truncated data: header promises %llu bytes, file has %zu%s",
                           path, (unsigned long long)expect, have, idx_truncation_hint(gz));
            break;
        }
    }
    if (s == FROST_OK) {
        /* One more read must find the end; it also makes zlib verify the gzip
         * trailer (CRC and length) of the last member. */
        uint8_t extra;
        size_t got = 0;
        s = idx_read(gz, path, &extra, 1, &got);
        if (s == FROST_OK && got != 0)
            s = frost_fail(FROST_ERR_FORMAT,
                           "file %s: trailing data after the %llu bytes the header promises", path,
                           (unsigned long long)expect);
        else if (s == FROST_OK && idx_truncation_hint(gz)[0] != '\0')
            s = frost_fail(FROST_ERR_FORMAT, "file %s: the gzip stream is cut off", path);
    }
    if (s != FROST_OK) {
        free(buf);
        return s;
    }
    *out = buf;
    return FROST_OK;
}

/* Opens, validates and reads a whole ubyte IDX file with min..max dimensions. */
static frost_status idx_load(const char *path, int min_dims, int max_dims, const char *what,
                             idx_blob *b)
{
    memset(b, 0, sizeof *b);
    gzFile gz = NULL;
    FROST_TRY(idx_open(path, &gz));
    uint64_t bytes = 0;
    frost_status s = idx_read_header(gz, path, min_dims, max_dims, what, b);
    if (s == FROST_OK)
        s = idx_payload_bytes(b, path, &bytes);
    if (s == FROST_OK)
        s = idx_read_payload(gz, path, bytes, &b->data);
    gzclose(gz);
    return s;
}

/* Allocates a dataset's arrays (n may be 0: a valid, empty dataset). */
static frost_status dataset_alloc(frost_dataset *d, int n, int h, int w, int c, int classes)
{
    memset(d, 0, sizeof *d);
    size_t pixels = (size_t)h * (size_t)w * (size_t)c, bytes = 0;
    if (frost_mul_size(pixels, (size_t)n, &bytes) != 0)
        return frost_fail(FROST_ERR_ARG, "dataset of %d images of %dx%dx%d is too large", n, h, w,
                          c);
    char what[96];
    snprintf(what, sizeof what, "a data set of %d images of %dx%dx%d", n, h, w, c);
    FROST_TRY(frost_check_memory((uint64_t)bytes + (uint64_t)n, what));
    d->images = malloc(bytes ? bytes : 1);
    d->labels = malloc(n ? (size_t)n : 1);
    if (!d->images || !d->labels) {
        frost_dataset_free(d);
        return frost_fail(FROST_ERR_NOMEM, "cannot allocate a dataset of %d images", n);
    }
    d->n = n;
    d->h = h;
    d->w = w;
    d->c = c;
    d->classes = classes;
    return FROST_OK;
}

static void dataset_copy_sample(frost_dataset *dst, int di, const frost_dataset *src, int si)
{
    size_t pixels = (size_t)src->h * (size_t)src->w * (size_t)src->c;
    memcpy(dst->images + (size_t)di * pixels, src->images + (size_t)si * pixels, pixels);
    dst->labels[di] = src->labels[si];
}

static frost_status dataset_check(const frost_dataset *d, const char *what)
{
    if (!d || !d->images || !d->labels || d->n < 0 || d->h <= 0 || d->w <= 0 || d->c <= 0)
        return frost_fail(FROST_ERR_ARG, "%s: not a loaded dataset", what);
    return FROST_OK;
}

frost_status frost_dataset_load_idx(const char *images_path, const char *labels_path,
                                    frost_dataset *out)
{
    if (!out)
        return frost_fail(FROST_ERR_ARG, "frost_dataset_load_idx: out is NULL");
    memset(out, 0, sizeof *out);
    if (!images_path || !labels_path)
        return frost_fail(FROST_ERR_ARG, "frost_dataset_load_idx: a file path is NULL");

    idx_blob img, lab;
    FROST_TRY(idx_load(images_path, 3, 4, "an image file", &img));
    frost_status s = idx_load(labels_path, 1, 1, "a label file", &lab);
    if (s != FROST_OK) {
        free(img.data);
        return s;
    }
    if (img.dims[0] != lab.dims[0]) {
        free(img.data);
        free(lab.data);
        return frost_fail(FROST_ERR_FORMAT, "file %s has %u images but file %s has %u labels",
                          images_path, (unsigned)img.dims[0], labels_path, (unsigned)lab.dims[0]);
    }
    int max_label = 0;
    for (uint32_t i = 0; i < lab.dims[0]; i++)
        max_label = FROST_MAX(max_label, lab.data[i]);

    out->n = (int)img.dims[0];
    out->h = (int)img.dims[1];
    out->w = (int)img.dims[2];
    out->c = img.ndims == 4 ? (int)img.dims[3] : 1;
    out->classes = max_label + 1;
    out->images = img.data;
    out->labels = lab.data;
    return FROST_OK;
}

/* dir/name, preferring the .gz file the Debian package ships but accepting an
 * uncompressed copy next to it. */
static frost_status fashion_path(const char *dir, const char *stem, char *buf, size_t size)
{
    int len = snprintf(buf, size, "%s/%s", dir, stem);
    if (len < 0 || (size_t)len + 4 > size)
        return frost_fail(FROST_ERR_ARG, "Fashion-MNIST directory path is too long: %s", dir);
    strcat(buf, ".gz");
    if (access(buf, F_OK) != 0) {
        buf[len] = '\0';
        if (access(buf, F_OK) != 0)
            strcat(buf, ".gz"); /* neither exists: report the canonical name */
    }
    return FROST_OK;
}

frost_status frost_dataset_fashion_mnist(const char *dir, bool train, frost_dataset *out)
{
    if (!out)
        return frost_fail(FROST_ERR_ARG, "frost_dataset_fashion_mnist: out is NULL");
    memset(out, 0, sizeof *out);
    if (!dir)
        dir = FROST_FASHION_MNIST_DIR;
    const char *prefix = train ? "train" : "t10k";
    char stem[64], images[4096], labels[4096];
    snprintf(stem, sizeof stem, "%s-images-idx3-ubyte", prefix);
    FROST_TRY(fashion_path(dir, stem, images, sizeof images));
    snprintf(stem, sizeof stem, "%s-labels-idx1-ubyte", prefix);
    FROST_TRY(fashion_path(dir, stem, labels, sizeof labels));
    FROST_TRY(frost_dataset_load_idx(images, labels, out));
    if (out->h != 28 || out->w != 28 || out->c != 1) {
        frost_status s = frost_fail(FROST_ERR_FORMAT,
                                    "file %s: Fashion-MNIST images are 28x28x1, this has %dx%dx%d",
                                    images, out->h, out->w, out->c);
        frost_dataset_free(out);
        return s;
    }
    return FROST_OK;
}

frost_status frost_dataset_split(const frost_dataset *src, int n_val, uint64_t seed,
                                 frost_dataset *train, frost_dataset *val)
{
    if (!train || !val)
        return frost_fail(FROST_ERR_ARG, "frost_dataset_split: train or val is NULL");
    memset(train, 0, sizeof *train);
    memset(val, 0, sizeof *val);
    FROST_TRY(dataset_check(src, "frost_dataset_split"));
    if (n_val < 0 || n_val > src->n)
        return frost_fail(FROST_ERR_ARG, "frost_dataset_split: n_val %d is outside [0, %d]", n_val,
                          src->n);

    /* A partial Fisher-Yates shuffle picks the held-out set; both halves then
     * keep the source order, so a split depends only on (src, n_val, seed). */
    int *perm = malloc(((size_t)src->n + 1) * sizeof *perm);
    uint8_t *held_out = calloc((size_t)src->n + 1, 1);
    frost_status s = FROST_OK;
    if (!perm || !held_out)
        s = frost_fail(FROST_ERR_NOMEM, "frost_dataset_split: cannot allocate %d indices", src->n);
    if (s == FROST_OK)
        s = dataset_alloc(train, src->n - n_val, src->h, src->w, src->c, src->classes);
    if (s == FROST_OK)
        s = dataset_alloc(val, n_val, src->h, src->w, src->c, src->classes);
    if (s == FROST_OK) {
        frost_rng rng;
        frost_rng_seed(&rng, seed);
        for (int i = 0; i < src->n; i++)
            perm[i] = i;
        for (int i = 0; i < n_val; i++) {
            int j = i + (int)frost_rng_below(&rng, (uint32_t)(src->n - i));
            int t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
            held_out[perm[i]] = 1;
        }
        int ti = 0, vi = 0;
        for (int i = 0; i < src->n; i++) {
            if (held_out[i])
                dataset_copy_sample(val, vi++, src, i);
            else
                dataset_copy_sample(train, ti++, src, i);
        }
    } else {
        frost_dataset_free(train);
        frost_dataset_free(val);
    }
    free(perm);
    free(held_out);
    return s;
}

frost_status frost_dataset_head(const frost_dataset *src, int n, frost_dataset *out)
{
    if (!out)
        return frost_fail(FROST_ERR_ARG, "frost_dataset_head: out is NULL");
    memset(out, 0, sizeof *out);
    FROST_TRY(dataset_check(src, "frost_dataset_head"));
    if (n < 0)
        return frost_fail(FROST_ERR_ARG, "frost_dataset_head: n is negative (%d)", n);
    /* Asking for more than there is gives everything (handy for "--limit"). */
    n = FROST_MIN(n, src->n);
    FROST_TRY(dataset_alloc(out, n, src->h, src->w, src->c, src->classes));
    for (int i = 0; i < n; i++)
        dataset_copy_sample(out, i, src, i);
    return FROST_OK;
}

/* Bilinear sample of channel ch at (y, x) in image img (edge pixels repeat). */
static float bilinear(const uint8_t *img, int h, int w, int c, float y, float x, int ch)
{
    y = y < 0.0f ? 0.0f : y > (float)(h - 1) ? (float)(h - 1) : y;
    x = x < 0.0f ? 0.0f : x > (float)(w - 1) ? (float)(w - 1) : x;
    int y0 = (int)y, x0 = (int)x, y1 = FROST_MIN(y0 + 1, h - 1), x1 = FROST_MIN(x0 + 1, w - 1);
    float fy = y - (float)y0, fx = x - (float)x0;
#define PX(yy, xx) (float)img[((size_t)(yy)*w + (xx)) * c + ch]
    float top = PX(y0, x0) + fx * (PX(y0, x1) - PX(y0, x0));
    float bottom = PX(y1, x0) + fx * (PX(y1, x1) - PX(y1, x0));
#undef PX
    return top + fy * (bottom - top);
}

void frost_image_resize_u8(const uint8_t *src, int sh, int sw, int c, uint8_t *dst, int h, int w)
{
    const float sy = (float)sh / (float)h, sx = (float)sw / (float)w;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++) {
                /* pixel centres aligned (PyTorch's align_corners=False) */
                float v = bilinear(src, sh, sw, c, ((float)y + 0.5f) * sy - 0.5f,
                                   ((float)x + 0.5f) * sx - 0.5f, ch);
                dst[((size_t)y * w + x) * c + ch] = (uint8_t)(v + 0.5f);
            }
}

frost_status frost_dataset_resize(const frost_dataset *src, int h, int w, frost_dataset *out)
{
    if (!out)
        return frost_fail(FROST_ERR_ARG, "frost_dataset_resize: out is NULL");
    memset(out, 0, sizeof *out);
    FROST_TRY(dataset_check(src, "frost_dataset_resize"));
    if (h < 1 || w < 1 || h > 4096 || w > 4096)
        return frost_fail(FROST_ERR_ARG, "frost_dataset_resize: size %dx%d outside 1..4096", h, w);
    FROST_TRY(dataset_alloc(out, src->n, h, w, src->c, src->classes));
    const size_t in_px = (size_t)src->h * src->w * src->c, out_px = (size_t)h * w * src->c;
    for (int i = 0; i < src->n; i++) {
        frost_image_resize_u8(src->images + in_px * (size_t)i, src->h, src->w, src->c,
                              out->images + out_px * (size_t)i, h, w);
        out->labels[i] = src->labels[i];
    }
    return FROST_OK;
}

void frost_dataset_free(frost_dataset *d)
{
    if (!d)
        return;
    free(d->images);
    free(d->labels);
    memset(d, 0, sizeof *d);
}
