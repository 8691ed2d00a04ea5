/*
 * Minimal test harness. A test file defines test functions with TEST(name),
 * lists them with RUN(name) in main via FROST_TEST_MAIN, and uses the CHECK
 * macros; a failing CHECK prints file:line and the values, marks the test
 * failed and continues. The process exits non-zero if any check failed and
 * prints "N passed, N failed".
 */
#ifndef FROST_TEST_HARNESS_H
#define FROST_TEST_HARNESS_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern int frost_test_failed_checks;

void frost_test_run(const char *name, void (*fn)(void));
int frost_test_summary(void);

#define TEST(name) static void name(void)
#define RUN(name)  frost_test_run(#name, name)

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            frost_test_failed_checks++;                                                \
        }                                                                              \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                      \
    do {                                                                                        \
        long long a_ = (long long)(a), b_ = (long long)(b);                                     \
        if (a_ != b_) {                                                                         \
            fprintf(stderr, "  %s:%d: %s == %s failed: %lld vs %lld\n", __FILE__, __LINE__, #a, \
                    #b, a_, b_);                                                                \
            frost_test_failed_checks++;                                                         \
        }                                                                                       \
    } while (0)

/* |a-b| <= atol + rtol*|b| */
#define CHECK_NEAR(a, b, atol, rtol)                                                            \
    do {                                                                                        \
        double a_ = (double)(a), b_ = (double)(b);                                              \
        if (!(fabs(a_ - b_) <= (atol) + (rtol)*fabs(b_))) {                                     \
            fprintf(stderr, "  %s:%d: %s ~= %s failed: %.9g vs %.9g\n", __FILE__, __LINE__, #a, \
                    #b, a_, b_);                                                                \
            frost_test_failed_checks++;                                                         \
        }                                                                                       \
    } while (0)

/* Bitwise-equal floats (same value, NaN-free). */
#define CHECK_FLOAT_EQ(a, b)                                                                    \
    do {                                                                                        \
        float a_ = (a), b_ = (b);                                                               \
        if (a_ != b_) {                                                                         \
            fprintf(stderr, "  %s:%d: %s == %s failed: %.9g vs %.9g\n", __FILE__, __LINE__, #a, \
                    #b, (double)a_, (double)b_);                                                \
            frost_test_failed_checks++;                                                         \
        }                                                                                       \
    } while (0)

#define FROST_TEST_MAIN(...)         \
    int main(void)                   \
    {                                \
        __VA_ARGS__;                 \
        return frost_test_summary(); \
    }

/* Fills x[n] with uniform values in [lo, hi) from a fixed seed. */
void frost_test_fill_uniform(float *x, long n, float lo, float hi, unsigned long long seed);

/* Finite-difference gradient check helper: f(ctx) returns a scalar loss computed
 * from params[n]; grad[n] is the analytic gradient. Central differences with step
 * `h`; each coordinate must satisfy |num-ana| <= atol + rtol*max(|num|,|ana|).
 * Checks at most `max_coords` coordinates spread over the array. Returns the
 * number of mismatching coordinates (and prints the first few). */
int frost_test_gradcheck(const char *what, double (*f)(void *ctx), void *ctx, float *params,
                         const float *grad, long n, double h, double atol, double rtol,
                         long max_coords);

/* Path of the built frost CLI (env FROST_BIN), or NULL. */
const char *frost_test_bin(void);
/* Runs `frost ARGS` (FROST_BIN, else build/frost) with stdout and stderr captured into
 * out (cap bytes, NUL-terminated) through a log file in `dir`; returns the exit code. */
int frost_test_run_cli(const char *dir, const char *args, char *out, size_t cap);

/* A small conv net for Fashion-MNIST (28x28x1, 10 classes: two stride-2 3x3 convs with BN and
 * ReLU, global average pool, linear) that the CLI tests train in seconds. */
extern const char *const frost_test_tiny_arch;

/* Runs `frost ARGS` as frost_test_run_cli does and expects an error: exit code `want_rc`
 * (0: any non-zero one) and exactly one line of output containing `needle`; a mismatch
 * prints the command and its output and fails the test. Returns the exit code. */
int frost_test_expect_cli_error(const char *dir, const char *args, int want_rc, const char *needle,
                                char *out, size_t cap);

/* "dir/name" in one of 8 rotating static buffers (so a call can take a few of them). */
const char *frost_test_path(const char *dir, const char *name);
/* A whole file, malloc'd with a NUL after its *n bytes; NULL (and *n = 0) when it cannot be
 * read. */
char *frost_test_read_all(const char *path, size_t *n);
/* Writes n bytes to path (created or truncated); false, with a failed check, on error. */
bool frost_test_write_all(const char *path, const void *data, size_t n);
/* The first occurrence of needle in data[size] (binary data: NULs allowed), or NULL. */
char *frost_test_find_bytes(char *data, size_t size, const char *needle);

/* Blanks the content-hash entry of a frost-written safetensors image in place (same
 * length, so offsets hold): a test that edits a file to reach a deeper check then sees a
 * file from another tool, which loads unchecked. Returns whether there was one. */
bool frost_test_drop_content_hash(char *bytes, size_t n);

/* What frost's safetensors reader says when the file whose bytes start at `bytes` is cut
 * to its first `cut` bytes: the length field, the header or the tensor data is short. */
const char *frost_test_st_truncation_message(const char *bytes, size_t cut);

/* Reads a NumPy .npy file of float32 (little-endian, C order): malloc'd values, the dims
 * in shape[0..*ndim) (at most 8); NULL (printing why) on any problem. */
float *frost_test_read_npy(const char *path, int *ndim, int64_t *shape);

#endif
