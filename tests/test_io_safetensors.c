/*
 * safetensors reader/writer and atomic file writes.
 *
 * Round trips check every dtype, hand-computed data offsets and the exact
 * header bytes; an independent reader (Python's json + struct + numpy) checks
 * the file is standard; corrupt files (every truncation, bad JSON, bad
 * dtypes, shapes and offsets, overlaps, holes, duplicate names) must fail
 * cleanly with FROST_ERR_FORMAT naming the field; failed writes must leave the
 * old file and no temp file behind.
 */
#include "frost/io.h"

#include "harness.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers --- */

static char test_dir[64];

static const char *path_in(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", test_dir, name);
    return buf;
}

static void remove_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char child[512];
            snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            remove_tree(child);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Number of entries in `dir` whose name contains `part` (e.g. ".tmp."). */
static int count_entries_containing(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 && strstr(e->d_name, part))
            n++;
    closedir(d);
    return n;
}

static void write_raw(const char *path, const void *bytes, size_t len)
{
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL);
    if (!fp)
        return;
    CHECK(fwrite(bytes, 1, len, fp) == len);
    fclose(fp);
}

static uint64_t read_u64_le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static bool file_has(const char *path, const char *expected)
{
    char *data = NULL;
    size_t size = 0;
    if (frost_read_file(path, &data, &size) != FROST_OK)
        return false;
    bool same = size == strlen(expected) && memcmp(data, expected, size) == 0;
    free(data);
    return same;
}

static bool is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* --------------------------------------------------- the sample tensors --- */

static float conv_w[12], running_var[3] = {1.0f, 0.5f, 2.0f};
static int32_t labels[4] = {-7, 0, 123456789, INT32_MIN};
static int8_t q8[8] = {-128, -1, 0, 1, 2, 64, 126, 127};
static uint8_t mask[5] = {0, 1, 2, 254, 255};
static int64_t step = 1234567890123LL;

/* Every dtype; "mask" has 5 bytes, so "step" (I64) lands at an odd offset and
 * exercises the aligned-copy path; "empty" has no bytes at all. */
static int sample_tensors(frost_st_tensor *t)
{
    for (int i = 0; i < 12; i++)
        conv_w[i] = (float)i * 0.25f - 1.5f;
    frost_st_tensor list[] = {
        {"conv.weight", FROST_DT_F32, 4, {2, 1, 2, 3}, conv_w},
        {"bn.running_var", FROST_DT_F32, 1, {3}, running_var},
        {"labels", FROST_DT_I32, 1, {4}, labels},
        {"q", FROST_DT_I8, 3, {2, 2, 2}, q8},
        {"mask", FROST_DT_U8, 1, {5}, mask},
        {"step", FROST_DT_I64, 0, {0}, &step},
        {"empty", FROST_DT_F32, 2, {0, 3}, NULL},
    };
    memcpy(t, list, sizeof list);
    return (int)(sizeof list / sizeof list[0]);
}

/* Hand-computed: 48 + 12 + 16 + 8 + 5 + 8 + 0 bytes back to back. */
static const int64_t expected_offsets[7][2] = {{0, 48},  {48, 60}, {60, 76}, {76, 84},
                                               {84, 89}, {89, 97}, {97, 97}};

static const frost_st_meta sample_meta[] = {
    {"format", "pt"},
    {"frost.arch", "mobilenetv2"},
    {"note", "quote \" backslash \\ newline \n tab \t caf\xc3\xa9"},
};

static const char *write_sample(char *buf, size_t cap)
{
    frost_st_tensor t[8];
    int n = sample_tensors(t);
    path_in(buf, cap, "sample.safetensors");
    frost_status st = frost_st_write(buf, t, n, sample_meta, 3);
    CHECK_EQ_INT(st, FROST_OK);
    if (st != FROST_OK)
        fprintf(stderr, "  %s\n", frost_last_error());
    return buf;
}

/* ------------------------------------------------------------ round trip --- */

TEST(round_trip_every_dtype)
{
    char path[256];
    write_sample(path, sizeof path);
    frost_st_tensor orig[8];
    int n = sample_tensors(orig);
    static const size_t dsize[] = {4, 4, 1, 1, 8};

    frost_st_file *f = NULL;
    CHECK_EQ_INT(frost_st_read(path, &f), FROST_OK);
    if (!f)
        return;
    CHECK_EQ_INT(frost_st_count(f), n);
    for (int i = 0; i < n && i < frost_st_count(f); i++) {
        const frost_st_tensor *t = frost_st_get(f, i);
        CHECK(strcmp(t->name, orig[i].name) == 0);
        CHECK_EQ_INT(t->dtype, orig[i].dtype);
        CHECK_EQ_INT(t->ndim, orig[i].ndim);
        size_t bytes = dsize[t->dtype];
        for (int d = 0; d < t->ndim; d++) {
            CHECK_EQ_INT(t->shape[d], orig[i].shape[d]);
            bytes *= (size_t)t->shape[d];
        }
        CHECK_EQ_INT(bytes, expected_offsets[i][1] - expected_offsets[i][0]);
        CHECK(bytes == 0 || memcmp(t->data, orig[i].data, bytes) == 0);
        /* readable as an array of its type, even "step" at odd offset 89 */
        CHECK_EQ_INT((uintptr_t)t->data % dsize[t->dtype], 0);
        CHECK(frost_st_find(f, orig[i].name) == t);
    }
    const frost_st_tensor *w = frost_st_find(f, "conv.weight");
    CHECK(w && ((const float *)w->data)[5] == -0.25f && ((const float *)w->data)[11] == 1.25f);
    const frost_st_tensor *s = frost_st_find(f, "step");
    CHECK(s && *(const int64_t *)s->data == 1234567890123LL);
    const frost_st_tensor *l = frost_st_find(f, "labels");
    CHECK(l && ((const int32_t *)l->data)[3] == INT32_MIN);
    CHECK(frost_st_find(f, "missing") == NULL);
    CHECK(frost_st_find(f, "conv") == NULL);
    CHECK(frost_st_get(f, -1) == NULL);
    CHECK(frost_st_get(f, n) == NULL);
    for (int i = 0; i < 3; i++) {
        const char *v = frost_st_meta_get(f, sample_meta[i].key);
        CHECK(v && strcmp(v, sample_meta[i].value) == 0);
    }
    CHECK(frost_st_meta_get(f, "nope") == NULL);
    frost_st_close(f);
}

/* The header has the hand-computed offsets, is padded to 8 bytes with spaces,
 * and the file size is exactly 8 + N + 97. */
TEST(layout_offsets_and_padding)
{
    char path[256];
    write_sample(path, sizeof path);
    char *raw = NULL;
    size_t size = 0;
    CHECK_EQ_INT(frost_read_file(path, &raw, &size), FROST_OK);
    if (!raw)
        return;
    uint64_t n = read_u64_le((const unsigned char *)raw);
    CHECK_EQ_INT(n % 8, 0);
    CHECK_EQ_INT(size, 8 + n + 97);
    cJSON *h = cJSON_ParseWithLength(raw + 8, n);
    CHECK(h != NULL);
    const char *names[] = {"conv.weight", "bn.running_var", "labels", "q", "mask", "step", "empty"};
    for (int i = 0; h && i < 7; i++) {
        cJSON *off =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(h, names[i]), "data_offsets");
        CHECK(cJSON_GetArraySize(off) == 2);
        if (cJSON_GetArraySize(off) == 2) {
            CHECK_EQ_INT(cJSON_GetArrayItem(off, 0)->valuedouble, expected_offsets[i][0]);
            CHECK_EQ_INT(cJSON_GetArrayItem(off, 1)->valuedouble, expected_offsets[i][1]);
        }
    }
    /* header order: metadata first, then tensors in the order given */
    CHECK(h && h->child && strcmp(h->child->string, "__metadata__") == 0);
    CHECK(h && h->child && h->child->next && strcmp(h->child->next->string, "conv.weight") == 0);
    cJSON_Delete(h);
    CHECK(raw[8 + n - 1] == ' ' || raw[8 + n - 1] == '}');
    free(raw);
}

/* The exact bytes of a tiny file. */
TEST(exact_bytes_of_small_file)
{
    char path[256];
    path_in(path, sizeof path, "tiny.safetensors");
    float a[2] = {1.0f, -2.0f};
    frost_st_tensor t = {"a", FROST_DT_F32, 1, {2}, a};
    frost_st_meta m = {"k", "v"};
    CHECK_EQ_INT(frost_st_write(path, &t, 1, &m, 1), FROST_OK);
    /* the content hash pins the hash function: a file written today must verify tomorrow */
    const char *json = "{\"__metadata__\":{\"k\":\"v\",\"frost.content_hash\":\"fh64:"
                       "9c2acb4bf8d93ca7\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
                       "\"data_offsets\":[0,8]}}";
    size_t jl = strlen(json), n = (jl + 7) / 8 * 8;
    unsigned char expect[256] = {0};
    expect[0] = (unsigned char)n;
    memcpy(expect + 8, json, jl);
    memset(expect + 8 + jl, ' ', n - jl);
    static const unsigned char data[8] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0};
    memcpy(expect + 8 + n, data, 8);
    char *raw = NULL;
    size_t size = 0;
    CHECK_EQ_INT(frost_read_file(path, &raw, &size), FROST_OK);
    CHECK_EQ_INT(size, 16 + n);
    CHECK(raw && size == 16 + n && memcmp(raw, expect, size) == 0);
    free(raw);
}

TEST(empty_file_and_empty_tensors)
{
    char path[256];
    path_in(path, sizeof path, "none.safetensors");
    CHECK_EQ_INT(frost_st_write(path, NULL, 0, NULL, 0), FROST_OK);
    char *raw = NULL;
    size_t size = 0;
    CHECK_EQ_INT(frost_read_file(path, &raw, &size), FROST_OK);
    const char *empty = "@\0\0\0\0\0\0\0{\"__metadata__\":{\"frost.content_hash\":"
                        "\"fh64:66726f73742d7374\"}} ";
    CHECK_EQ_INT(size, 72);
    CHECK(raw && size == 72 && memcmp(raw, empty, size) == 0);
    free(raw);
    frost_st_file *f = NULL;
    CHECK_EQ_INT(frost_st_read(path, &f), FROST_OK);
    CHECK_EQ_INT(frost_st_count(f), 0);
    CHECK(frost_st_find(f, "a") == NULL);
    CHECK(frost_st_meta_get(f, "format") == NULL);
    frost_st_close(f);
    /* an empty file from another tool (no metadata at all) still loads */
    CHECK(frost_test_write_all(path, "\x08\0\0\0\0\0\0\0{}      ", 16));
    CHECK_EQ_INT(frost_st_read(path, &f), FROST_OK);
    CHECK_EQ_INT(frost_st_count(f), 0);
    frost_st_close(f);
}

static int notes_seen;
static char last_note[512];
static void count_note(const char *note, void *user)
{
    (void)user;
    notes_seen++;
    snprintf(last_note, sizeof last_note, "%s", note);
}

/* Rewrites the file at path with bytes [from, from + len) swapped with [to, to + len). */
static void swap_bytes(const char *path, size_t from, size_t to, size_t len)
{
    size_t n = 0;
    char *b = frost_test_read_all(path, &n), tmp[64];
    CHECK(b && len <= sizeof tmp && from + len <= n && to + len <= n);
    if (b && len <= sizeof tmp && from + len <= n && to + len <= n) {
        memcpy(tmp, b + from, len);
        memmove(b + from, b + to, len);
        memcpy(b + to, tmp, len);
        frost_test_write_all(path, b, n);
    }
    free(b);
}

/* Every file frost writes carries a content hash: a flipped value, two same-shaped tensors
 * swapped, an edited metadata value are refused; a file without a hash loads with a note. */
TEST(content_hash_catches_edits)
{
    char path[256];
    path_in(path, sizeof path, "hashed.safetensors");
    float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8};
    frost_st_tensor t[2] = {{"a", FROST_DT_F32, 1, {4}, a}, {"b", FROST_DT_F32, 1, {4}, b}};
    frost_st_meta m = {"k", "v"};
    CHECK_EQ_INT(frost_st_write(path, t, 2, &m, 1), FROST_OK);
    frost_st_file *f = NULL;
    notes_seen = 0;
    frost_set_note_handler(count_note, NULL);
    CHECK_EQ_INT(frost_st_read(path, &f), FROST_OK);
    CHECK_EQ_INT(notes_seen, 0);
    const char *stored = frost_st_meta_get(f, "frost.content_hash");
    CHECK(stored && strncmp(stored, "fh64:", 5) == 0 && strlen(stored) == 21);
    frost_st_close(f);
    size_t n = 0;
    char *orig = frost_test_read_all(path, &n);
    CHECK(orig != NULL);
    if (!orig)
        return;
    size_t data = n - 32; /* a's 16 bytes, then b's */
    /* one flipped bit in b[3] */
    orig[n - 1] ^= 0x01;
    frost_test_write_all(path, orig, n);
    CHECK_EQ_INT(frost_st_read(path, &f), FROST_ERR_FORMAT);
    CHECK(strstr(frost_last_error(), "content hash mismatch") != NULL);
    orig[n - 1] ^= 0x01;
    /* a and b swapped: every byte is still there, under the other name */
    frost_test_write_all(path, orig, n);
    swap_bytes(path, data, data + 16, 16);
    CHECK_EQ_INT(frost_st_map(path, &f), FROST_ERR_FORMAT);
    CHECK(strstr(frost_last_error(), "content hash mismatch") != NULL);
    /* a metadata value edited */
    char *v = frost_test_find_bytes(orig, n, "\"k\":\"v\"");
    CHECK(v != NULL);
    if (v)
        v[5] = 'w';
    frost_test_write_all(path, orig, n);
    CHECK_EQ_INT(frost_st_read(path, &f), FROST_ERR_FORMAT);
    /* without its hash (another tool's file): loads, with a note naming it */
    CHECK(frost_test_drop_content_hash(orig, n));
    frost_test_write_all(path, orig, n);
    CHECK_EQ_INT(frost_st_read(path, &f), FROST_OK);
    CHECK_EQ_INT(notes_seen, 1);
    CHECK(strstr(last_note, "hashed.safetensors has no content hash") != NULL);
    CHECK(f && strcmp(frost_st_meta_get(f, "k"), "w") == 0);
    frost_st_close(f);
    frost_set_note_handler(NULL, NULL);
    /* the key is frost's own */
    frost_st_meta own = {"frost.content_hash", "fh64:0"};
    CHECK_EQ_INT(frost_st_write(path, t, 2, &own, 1), FROST_ERR_ARG);
    free(orig);
}

/* An independent reader: Python's json + struct, and numpy when present. */
TEST(python_reads_the_file)
{
    if (access("/usr/bin/python3", X_OK) != 0) {
        printf("  note: /usr/bin/python3 missing, python check skipped\n");
        return;
    }
    char path[256], cmd[4096];
    write_sample(path, sizeof path);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 - '%s' <<'EOF'\n"
             "import json, struct, sys\n"
             "b = open(sys.argv[1], 'rb').read()\n"
             "n = struct.unpack('<Q', b[:8])[0]\n"
             "h = json.loads(b[8:8 + n])\n"
             "data = b[8 + n:]\n"
             "assert (8 + n) %% 8 == 0 and len(data) == 97, (n, len(data))\n"
             "assert h['__metadata__']['frost.arch'] == 'mobilenetv2'\n"
             "assert h['__metadata__']['note'].endswith('caf\\u00e9')\n"
             "w = h['conv.weight']\n"
             "assert w['dtype'] == 'F32' and w['shape'] == [2, 1, 2, 3], w\n"
             "assert w['data_offsets'] == [0, 48], w\n"
             "b0, b1 = h['step']['data_offsets']\n"
             "assert struct.unpack('<q', data[b0:b1])[0] == 1234567890123\n"
             "b0, b1 = h['labels']['data_offsets']\n"
             "assert struct.unpack('<4i', data[b0:b1]) == (-7, 0, 123456789, -2**31)\n"
             "assert h['empty']['shape'] == [0, 3] and h['step']['shape'] == []\n"
             "try:\n"
             "    import numpy as np\n"
             "except ImportError:\n"
             "    print('  note: numpy missing, numpy check skipped'); sys.exit(0)\n"
             "x = np.frombuffer(data[0:48], dtype='<f4').reshape(w['shape'])\n"
             "ref = (np.arange(12, dtype=np.float32) * 0.25 - 1.5).reshape(2, 1, 2, 3)\n"
             "assert np.array_equal(x, ref), x\n"
             "b0, b1 = h['q']['data_offsets']\n"
             "assert np.frombuffer(data[b0:b1], dtype='i1').tolist() == "
             "[-128, -1, 0, 1, 2, 64, 126, 127]\n"
             "b0, b1 = h['mask']['data_offsets']\n"
             "assert np.frombuffer(data[b0:b1], dtype='u1').tolist() == [0, 1, 2, 254, 255]\n"
             "print('  python: header and values match')\n"
             "EOF\n",
             path);
    int rc = system(cmd);
    CHECK(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
}

/* ------------------------------------------------------- corrupt files --- */

/* Writes 8-byte length + header + `data_len` bytes of 0x11 and expects
 * FROST_ERR_FORMAT whose message names the path and contains `want`. */
static void expect_corrupt(const char *header, size_t hl, size_t data_len, const char *want,
                           int line)
{
    char path[256];
    path_in(path, sizeof path, "corrupt.safetensors");
    size_t total = 8 + hl + data_len;
    unsigned char *bytes = malloc(total);
    for (int i = 0; i < 8; i++)
        bytes[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(bytes + 8, header, hl);
    memset(bytes + 8 + hl, 0x11, data_len);
    write_raw(path, bytes, total);
    free(bytes);
    frost_st_file *f = (frost_st_file *)&f; /* must be reset to NULL */
    frost_status st = frost_st_read(path, &f);
    const char *msg = frost_last_error();
    if (st != FROST_ERR_FORMAT || f != NULL || !strstr(msg, path) || !strstr(msg, want)) {
        fprintf(stderr, "  line %d: status %d, message \"%s\", wanted \"%s\"\n", line, (int)st, msg,
                want);
        frost_test_failed_checks++;
    }
    if (st == FROST_OK && f != (frost_st_file *)&f)
        frost_st_close(f);
}
/* `header` is a string literal; its length is taken with sizeof so it may hold NULs. */
#define EXPECT_CORRUPT(header, data_len, want) \
    expect_corrupt(header, sizeof(header) - 1, data_len, want, __LINE__)

#define F32_2(off) "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":" off "}"

TEST(corrupt_json_and_header)
{
    EXPECT_CORRUPT("{\"a\": {\"dtype\": \"F32\",", 0, "not valid JSON");
    EXPECT_CORRUPT("", 0, "not valid JSON");
    EXPECT_CORRUPT("[1, 2]", 0, "not an object");
    EXPECT_CORRUPT("{} x", 0, "after its JSON");
    EXPECT_CORRUPT("{}\0     ", 0, "after its JSON object at offset 2");
    EXPECT_CORRUPT("{\"a\":5}", 0, "'a': entry is not an object");
    EXPECT_CORRUPT("{\"\":" F32_2("[0,8]") "}", 8, "empty name");
    EXPECT_CORRUPT("{\"__metadata__\":{\"k\":1}}", 0, "metadata 'k' is not a string");
    EXPECT_CORRUPT("{\"__metadata__\":[\"k\"]}", 0, "'__metadata__' is not an object");
    EXPECT_CORRUPT("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "appears twice");
    EXPECT_CORRUPT("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, "metadata key 'k'");
}

TEST(corrupt_entries)
{
    EXPECT_CORRUPT("{\"w\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
                   "'w': unsupported dtype 'F16'");
    EXPECT_CORRUPT("{\"w\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                   "'w': field 'dtype'");
    EXPECT_CORRUPT("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "'w': field 'dtype'");
    EXPECT_CORRUPT("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
                   "'w': shape[0]");
    EXPECT_CORRUPT("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,2.5],\"data_offsets\":[0,8]}}", 8,
                   "'w': shape[1]");
    EXPECT_CORRUPT("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,\"2\"],\"data_offsets\":[0,8]}}", 8,
                   "'w': shape[1]");
    EXPECT_CORRUPT("{\"w\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,8]}}", 8,
                   "'w': shape[0]");
    EXPECT_CORRUPT("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,2],\"data_offsets\":[0,8]}}", 8,
                   "'w': shape has 5 dimensions");
    EXPECT_CORRUPT("{\"w\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8,
                   "'w': field 'shape'");
    /* 2^32 * 2^32 * 2^32 elements overflow 64 bits */
    EXPECT_CORRUPT("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
                   "\"data_offsets\":[0,8]}}",
                   8, "'w': shape is too large");
    EXPECT_CORRUPT("{\"w\":{\"dtype\":\"F32\",\"shape\":[1000000,1000000],\"data_offsets\":[0,8]}}",
                   8, "'w': shape and dtype need 4000000000000 bytes");
    EXPECT_CORRUPT("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
                   "'w': shape and dtype need 12 bytes but data_offsets [0, 8] span 8");
    EXPECT_CORRUPT("{\"w\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,4]}}", 4,
                   "need 8 bytes");
}

TEST(corrupt_offsets)
{
    EXPECT_CORRUPT("{\"w\":" F32_2("[0,16]") "}", 8, "'w': data_offsets [0, 16] are outside");
    EXPECT_CORRUPT("{\"w\":" F32_2("[8,0]") "}", 8, "'w': data_offsets [8, 0] are outside");
    EXPECT_CORRUPT("{\"w\":" F32_2("[0]") "}", 8, "'w': field 'data_offsets'");
    EXPECT_CORRUPT("{\"w\":" F32_2("[0,8,8]") "}", 8, "'w': field 'data_offsets'");
    EXPECT_CORRUPT("{\"w\":" F32_2("[-8,0]") "}", 8, "'w': field 'data_offsets'");
    EXPECT_CORRUPT("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "'w': field 'data_offsets'");
    EXPECT_CORRUPT("{\"w\":" F32_2("[18446744073709551608,18446744073709551616]") "}", 8,
                   "'w': field 'data_offsets'");
    EXPECT_CORRUPT("{\"a\":" F32_2("[0,8]") ",\"b\":" F32_2("[4,12]") "}", 12,
                   "'b': data_offsets overlap tensor 'a'");
    EXPECT_CORRUPT("{\"a\":" F32_2("[0,8]") ",\"b\":" F32_2("[0,8]") "}", 16,
                   "data_offsets overlap");
    EXPECT_CORRUPT("{\"a\":" F32_2("[0,8]") ",\"b\":" F32_2("[12,20]") "}", 20,
                   "'b': unused bytes [8, 12)");
    EXPECT_CORRUPT("{\"a\":" F32_2("[4,12]") "}", 12, "'a': unused bytes [0, 4)");
    EXPECT_CORRUPT("{\"a\":" F32_2("[0,8]") "}", 12,
                   "data region has 12 bytes but the tensors "
                   "cover only 8");
    EXPECT_CORRUPT("{}", 3, "cover only 0");
    EXPECT_CORRUPT("{\"a\":" F32_2("[0,8]") ",\"a\":" F32_2("[8,16]") "}", 16,
                   "tensor 'a' appears twice");
}

TEST(corrupt_length_field)
{
    char path[256];
    path_in(path, sizeof path, "corrupt.safetensors");
    frost_st_file *f = NULL;
    struct {
        uint64_t n;
        const char *want;
    } cases[] = {
        {1000, "header length 1000 exceeds the 10 bytes"},
        {11, "header length 11 exceeds"},
        {(uint64_t)1 << 63, "limit"},
        {UINT64_MAX, "limit"},
        {100000000, "limit"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char bytes[18] = {0};
        for (int b = 0; b < 8; b++)
            bytes[b] = (unsigned char)(cases[i].n >> (8 * b));
        memcpy(bytes + 8, "{}        ", 10);
        write_raw(path, bytes, sizeof bytes);
        CHECK_EQ_INT(frost_st_read(path, &f), FROST_ERR_FORMAT);
        CHECK(f == NULL);
        if (!strstr(frost_last_error(), cases[i].want)) {
            fprintf(stderr, "  case %zu: \"%s\"\n", i, frost_last_error());
            frost_test_failed_checks++;
        }
    }
    write_raw(path, "\x02\0\0\0\0", 5);
    CHECK_EQ_INT(frost_st_read(path, &f), FROST_ERR_FORMAT);
    CHECK(strstr(frost_last_error(), "too short") != NULL);
}

/* Cutting a valid file at any length must fail cleanly. */
TEST(truncated_anywhere)
{
    char path[256], cut[256];
    write_sample(path, sizeof path);
    path_in(cut, sizeof cut, "cut.safetensors");
    char *raw = NULL;
    size_t size = 0;
    CHECK_EQ_INT(frost_read_file(path, &raw, &size), FROST_OK);
    int failures = 0;
    for (size_t len = 0; raw && len < size; len++) {
        write_raw(cut, raw, len);
        frost_st_file *f = NULL;
        frost_status st = frost_st_read(cut, &f);
        if (st != FROST_ERR_FORMAT || f != NULL) {
            if (failures++ < 3)
                fprintf(stderr, "  truncated to %zu of %zu: status %d\n", len, size, (int)st);
            frost_st_close(f);
        }
    }
    CHECK_EQ_INT(failures, 0);
    write_raw(cut, raw, size); /* the uncut copy still reads */
    frost_st_file *f = NULL;
    CHECK_EQ_INT(frost_st_read(cut, &f), FROST_OK);
    CHECK_EQ_INT(frost_st_count(f), 7);
    frost_st_close(f);
    free(raw);
}

/* Every header byte replaced by a few troublesome values: no crash, no leak
 * (the sanitizer build watches), and a success must still be self-consistent. */
TEST(mutated_header_never_crashes)
{
    char path[256], mut[256];
    write_sample(path, sizeof path);
    path_in(mut, sizeof mut, "mutated.safetensors");
    char *raw = NULL;
    size_t size = 0;
    CHECK_EQ_INT(frost_read_file(path, &raw, &size), FROST_OK);
    if (!raw)
        return;
    uint64_t n = read_u64_le((const unsigned char *)raw);
    static const char values[] = {'}', '"', '9', '-', '\0', ',', '['};
    int ok = 0, rejected = 0;
    for (uint64_t pos = 0; pos < 8 + n; pos++) {
        for (size_t v = 0; v < sizeof values; v++) {
            char saved = raw[pos];
            raw[pos] = values[v];
            write_raw(mut, raw, size);
            raw[pos] = saved;
            frost_st_file *f = NULL;
            frost_status st = frost_st_read(mut, &f);
            if (st == FROST_OK) {
                ok++;
                for (int i = 0; i < frost_st_count(f); i++)
                    CHECK(frost_st_get(f, i)->name != NULL);
                frost_st_close(f);
            } else {
                rejected++;
                CHECK(f == NULL && (st == FROST_ERR_FORMAT || st == FROST_ERR_NOMEM));
            }
        }
    }
    CHECK(rejected > ok); /* nearly every mutation breaks something */
    free(raw);
}

TEST(missing_file_is_io_error)
{
    char path[256];
    path_in(path, sizeof path, "does-not-exist.safetensors");
    frost_st_file *f = NULL;
    CHECK_EQ_INT(frost_st_read(path, &f), FROST_ERR_IO);
    CHECK(f == NULL);
    CHECK(strstr(frost_last_error(), path) != NULL);
    CHECK(strstr(frost_last_error(), strerror(ENOENT)) != NULL);
}

/* ------------------------------------------------------ writer arguments --- */

TEST(writer_rejects_bad_arguments)
{
    char path[256];
    path_in(path, sizeof path, "bad-args.safetensors");
    float x[4] = {0};
    struct {
        frost_st_tensor t[2];
        int n;
        const char *want;
    } cases[] = {
        {{{"a", FROST_DT_F32, 1, {2}, x}, {"a", FROST_DT_F32, 1, {2}, x}}, 2, "'a' is used twice"},
        {{{"a", FROST_DT_F32, 5, {1, 1, 1, 1}, x}}, 1, "ndim 5"},
        {{{"a", FROST_DT_F32, -1, {0}, x}}, 1, "ndim -1"},
        {{{"a", FROST_DT_F32, 2, {2, -1}, x}}, 1, "shape[1] = -1"},
        {{{"a", FROST_DT_F32, 1, {2}, NULL}}, 1, "data is NULL"},
        {{{"a", (frost_dtype)99, 1, {2}, x}}, 1, "unknown dtype 99"},
        {{{"__metadata__", FROST_DT_F32, 1, {2}, x}}, 1, "reserved"},
        {{{"", FROST_DT_F32, 1, {2}, x}}, 1, "empty name"},
        {{{NULL, FROST_DT_F32, 1, {2}, x}}, 1, "empty name"},
        {{{"a", FROST_DT_F32, 4, {INT64_MAX, INT64_MAX, 2, 2}, x}}, 1, "overflows"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        frost_status st = frost_st_write(path, cases[i].t, cases[i].n, NULL, 0);
        if (st != FROST_ERR_ARG || !strstr(frost_last_error(), cases[i].want)) {
            fprintf(stderr, "  case %zu: status %d \"%s\"\n", i, (int)st, frost_last_error());
            frost_test_failed_checks++;
        }
    }
    frost_st_tensor ok = {"a", FROST_DT_F32, 1, {2}, x};
    frost_st_meta dup_meta[2] = {{"k", "1"}, {"k", "2"}}, null_meta = {"k", NULL};
    CHECK_EQ_INT(frost_st_write(path, &ok, 1, dup_meta, 2), FROST_ERR_ARG);
    CHECK(strstr(frost_last_error(), "metadata key 'k'") != NULL);
    CHECK_EQ_INT(frost_st_write(path, &ok, 1, &null_meta, 1), FROST_ERR_ARG);
    CHECK_EQ_INT(frost_st_write(path, NULL, 1, NULL, 0), FROST_ERR_ARG);
    CHECK_EQ_INT(frost_st_write(path, &ok, -1, NULL, 0), FROST_ERR_ARG);
    CHECK_EQ_INT(frost_st_write(NULL, &ok, 1, NULL, 0), FROST_ERR_ARG);
    CHECK(access(path, F_OK) != 0); /* nothing was written */
}

/* ------------------------------------------------------------ atomic I/O --- */

TEST(write_into_missing_folder_fails)
{
    char path[256];
    path_in(path, sizeof path, "no-such-dir/x.safetensors");
    int before = count_entries_containing(test_dir, "");
    CHECK_EQ_INT(frost_write_file_atomic(path, "abc", 3), FROST_ERR_IO);
    CHECK(strstr(frost_last_error(), strerror(ENOENT)) != NULL);
    float x[2] = {1, 2};
    frost_st_tensor t = {"a", FROST_DT_F32, 1, {2}, x};
    CHECK_EQ_INT(frost_st_write(path, &t, 1, NULL, 0), FROST_ERR_IO);
    CHECK(strstr(frost_last_error(), path) != NULL);
    CHECK_EQ_INT(count_entries_containing(test_dir, ""), before);
    CHECK_EQ_INT(count_entries_containing(test_dir, ".tmp."), 0);
    CHECK(!is_dir(path_in(path, sizeof path, "no-such-dir")));
}

TEST(replace_existing_file)
{
    char path[256];
    path_in(path, sizeof path, "replace.bin");
    CHECK_EQ_INT(frost_write_file_atomic(path, "old contents", 12), FROST_OK);
    CHECK(file_has(path, "old contents"));
    CHECK_EQ_INT(frost_write_file_atomic(path, "new", 3), FROST_OK);
    CHECK(file_has(path, "new"));
    CHECK_EQ_INT(frost_write_file_atomic(path, "", 0), FROST_OK);
    CHECK(file_has(path, ""));
    CHECK_EQ_INT(frost_write_file_atomic(path, NULL, 0), FROST_OK);
    CHECK_EQ_INT(frost_write_file_atomic(path, NULL, 1), FROST_ERR_ARG);
    CHECK_EQ_INT(count_entries_containing(test_dir, ".tmp."), 0);
}

/* A write that fails half way (file-size limit: works even as root, where an
 * unwritable folder would not stop us) leaves the old file and no temp file. */
TEST(failed_write_keeps_old_file)
{
    char path[256];
    path_in(path, sizeof path, "keep.bin");
    CHECK_EQ_INT(frost_write_file_atomic(path, "old contents", 12), FROST_OK);
    size_t big = 1 << 20;
    char *junk = malloc(big);
    memset(junk, 'x', big);
    struct rlimit saved;
    CHECK(getrlimit(RLIMIT_FSIZE, &saved) == 0);
    struct rlimit small = saved;
    small.rlim_cur = 4096;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
    frost_status st = frost_write_file_atomic(path, junk, big);
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, old_handler);
    CHECK_EQ_INT(st, FROST_ERR_IO);
    CHECK(strstr(frost_last_error(), "write") != NULL);
    CHECK(strstr(frost_last_error(), strerror(EFBIG)) != NULL);
    CHECK(file_has(path, "old contents"));
    CHECK_EQ_INT(count_entries_containing(test_dir, ".tmp."), 0);
    free(junk);
}

/* rename() over a non-empty folder fails after the temp file was fully written. */
TEST(failed_rename_cleans_up)
{
    char path[256], inside[300];
    path_in(path, sizeof path, "a-folder");
    CHECK(mkdir(path, 0755) == 0);
    snprintf(inside, sizeof inside, "%s/keep.txt", path);
    write_raw(inside, "keep", 4);
    CHECK_EQ_INT(frost_write_file_atomic(path, "data", 4), FROST_ERR_IO);
    CHECK(strstr(frost_last_error(), "rename") != NULL);
    CHECK(is_dir(path));
    CHECK(file_has(inside, "keep"));
    CHECK_EQ_INT(count_entries_containing(test_dir, ".tmp."), 0);
}

/* Something that is not ours at the temp name is never removed; a stale
 * temp file of an earlier process with our pid is. */
TEST(temp_name_collisions)
{
    char path[256], tmp[320];
    path_in(path, sizeof path, "collide.bin");
    CHECK_EQ_INT(frost_write_file_atomic(path, "old", 3), FROST_OK);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CHECK(mkdir(tmp, 0755) == 0);
    CHECK_EQ_INT(frost_write_file_atomic(path, "new", 3), FROST_ERR_IO);
    CHECK(strstr(frost_last_error(), "temporary file") != NULL);
    CHECK(is_dir(tmp));
    CHECK(file_has(path, "old"));
    rmdir(tmp);
    write_raw(tmp, "stale stale stale", 17);
    CHECK_EQ_INT(frost_write_file_atomic(path, "new", 3), FROST_OK);
    CHECK(file_has(path, "new"));
    CHECK(access(tmp, F_OK) != 0);
}

/* The pid of a child that has exited (and been reaped): a process that no longer exists. */
static long dead_pid(void)
{
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    int status;
    CHECK(child > 0 && waitpid(child, &status, 0) == child);
    return (long)child;
}

/* A writer killed before its rename leaves "<path>.tmp.<pid>"; the next write removes it
 * once that process is gone, and nothing else: not a live process's file, not a folder,
 * not a name that only looks alike, not another file's temp. */
TEST(dead_writers_temp_files_removed)
{
    char path[256], dead[320], live[320], folder[320], alike[320], other[320];
    path_in(path, sizeof path, "tidy.bin");
    long gone = dead_pid(), gone2 = dead_pid();
    snprintf(dead, sizeof dead, "%s.tmp.%ld", path, gone);
    snprintf(live, sizeof live, "%s.tmp.%ld", path, (long)getppid());
    snprintf(folder, sizeof folder, "%s.tmp.%ld", path, gone2);
    snprintf(alike, sizeof alike, "%s.tmp.%ldx", path, gone);
    path_in(other, sizeof other, "other.bin");
    snprintf(other + strlen(other), sizeof other - strlen(other), ".tmp.%ld", gone);
    write_raw(dead, "torn", 4);
    write_raw(live, "busy", 4);
    write_raw(alike, "keep", 4);
    write_raw(other, "keep", 4);
    CHECK(mkdir(folder, 0755) == 0);
    CHECK_EQ_INT(frost_write_file_atomic(path, "new", 3), FROST_OK);
    CHECK(file_has(path, "new"));
    CHECK(access(dead, F_OK) != 0);
    CHECK(file_has(live, "busy") && file_has(alike, "keep") && file_has(other, "keep"));
    CHECK(is_dir(folder));
    remove(live), remove(alike), remove(other), rmdir(folder);
}

TEST(bare_file_name_in_current_folder)
{
    char cwd[1024];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir(test_dir) == 0);
    CHECK_EQ_INT(frost_write_file_atomic("bare.bin", "hello", 5), FROST_OK);
    CHECK(file_has("bare.bin", "hello"));
    CHECK_EQ_INT(count_entries_containing(".", ".tmp."), 0);
    CHECK(chdir(cwd) == 0);
}

TEST(read_file_cases)
{
    char path[256];
    path_in(path, sizeof path, "read.bin");
    write_raw(path, "ab\0cd", 5);
    char *data = NULL;
    size_t size = 0;
    CHECK_EQ_INT(frost_read_file(path, &data, &size), FROST_OK);
    CHECK_EQ_INT(size, 5);
    CHECK(data && memcmp(data, "ab\0cd", 6) == 0); /* includes the added NUL */
    free(data);
    write_raw(path, "", 0);
    CHECK_EQ_INT(frost_read_file(path, &data, &size), FROST_OK);
    CHECK_EQ_INT(size, 0);
    CHECK(data && data[0] == '\0');
    free(data);
    CHECK_EQ_INT(frost_read_file(test_dir, &data, &size), FROST_ERR_IO);
    CHECK(data == NULL && size == 0);
    path_in(path, sizeof path, "missing.bin");
    CHECK_EQ_INT(frost_read_file(path, &data, &size), FROST_ERR_IO);
    CHECK(strstr(frost_last_error(), strerror(ENOENT)) != NULL);
    /* larger than the initial buffer growth step: 100000 bytes of a pattern */
    size_t big = 100000;
    unsigned char *pattern = malloc(big);
    for (size_t i = 0; i < big; i++)
        pattern[i] = (unsigned char)(i * 7 + 3);
    path_in(path, sizeof path, "big.bin");
    CHECK_EQ_INT(frost_write_file_atomic(path, pattern, big), FROST_OK);
    CHECK_EQ_INT(frost_read_file(path, &data, &size), FROST_OK);
    CHECK(size == big && data && memcmp(data, pattern, big) == 0 && data[big] == '\0');
    free(data);
    free(pattern);
}

static void run_all(void)
{
    snprintf(test_dir, sizeof test_dir, "/tmp/frost_test_io_XXXXXX");
    if (!mkdtemp(test_dir)) {
        fprintf(stderr, "cannot create a temp folder\n");
        frost_test_failed_checks++;
        return;
    }
    RUN(round_trip_every_dtype);
    RUN(layout_offsets_and_padding);
    RUN(exact_bytes_of_small_file);
    RUN(empty_file_and_empty_tensors);
    RUN(python_reads_the_file);
    RUN(content_hash_catches_edits);
    RUN(corrupt_json_and_header);
    RUN(corrupt_entries);
    RUN(corrupt_offsets);
    RUN(corrupt_length_field);
    RUN(truncated_anywhere);
    RUN(mutated_header_never_crashes);
    RUN(missing_file_is_io_error);
    RUN(writer_rejects_bad_arguments);
    RUN(write_into_missing_folder_fails);
    RUN(replace_existing_file);
    RUN(failed_write_keeps_old_file);
    RUN(failed_rename_cleans_up);
    RUN(temp_name_collisions);
    RUN(dead_writers_temp_files_removed);
    RUN(bare_file_name_in_current_folder);
    RUN(read_file_cases);
    remove_tree(test_dir);
}

FROST_TEST_MAIN(run_all())
