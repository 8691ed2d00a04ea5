#include "harness.h"
#include <string.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

int frost_test_failed_checks = 0;
static int passed = 0, failed = 0;

void frost_test_run(const char *name, void (*fn)(void))
{
    int before = frost_test_failed_checks;
    fn();
    if (frost_test_failed_checks == before) {
        passed++;
        printf("ok   %s\n", name);
    } else {
        failed++;
        printf("FAIL %s\n", name);
    }
    fflush(stdout);
}

int frost_test_summary(void)
{
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

void frost_test_fill_uniform(float *x, long n, float lo, float hi, unsigned long long seed)
{
    unsigned long long s = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    for (long i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = (double)(s >> 11) / 9007199254740992.0;
        x[i] = (float)(lo + (hi - lo) * u);
    }
}

int frost_test_gradcheck(const char *what, double (*f)(void *ctx), void *ctx, float *params,
                         const float *grad, long n, double h, double atol, double rtol,
                         long max_coords)
{
    long stride = n > max_coords ? n / max_coords : 1;
    int bad = 0;
    for (long i = 0; i < n; i += stride) {
        float orig = params[i];
        params[i] = (float)(orig + h);
        double fp = f(ctx);
        params[i] = (float)(orig - h);
        double fm = f(ctx);
        params[i] = orig;
        /* the actual step taken in float */
        double step = (double)(float)(orig + h) - (double)(float)(orig - h);
        double num = (fp - fm) / step;
        double ana = grad[i];
        double tol = atol + rtol * fmax(fabs(num), fabs(ana));
        if (!(fabs(num - ana) <= tol)) {
            if (bad < 5)
                fprintf(stderr, "  gradcheck %s[%ld]: numeric %.6g analytic %.6g\n", what, i, num,
                        ana);
            bad++;
        }
    }
    if (bad)
        frost_test_failed_checks++;
    return bad;
}

const char *frost_test_bin(void) { return getenv("FROST_BIN"); }

int frost_test_run_cli(const char *dir, const char *args, char *out, size_t cap)
{
    const char *bin = frost_test_bin();
    if (!bin)
        bin = "build/frost";
    char cmd[8192], log[1024];
    snprintf(log, sizeof log, "%s/log.txt", dir);
    snprintf(cmd, sizeof cmd, "%s %s > %s 2>&1", bin, args, log);
    int rc = system(cmd);
    FILE *f = fopen(log, "r");
    size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

const char *const frost_test_tiny_arch =
    "{\"name\":\"tiny\",\"input\":{\"h\":28,\"w\":28,\"c\":1},\"classes\":10,\"layers\":["
    "{\"name\":\"c1\",\"op\":\"conv\",\"out\":16,\"k\":3,\"stride\":2},{\"name\":\"b1\",\"op\":"
    "\"bn\"},{\"name\":\"a1\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"c2\",\"op\":\"conv\",\"out\":16,\"k\":3,\"stride\":2},{\"name\":\"b2\",\"op\":"
    "\"bn\"},{\"name\":\"a2\",\"op\":\"act\",\"fn\":\"relu\"},{\"name\":\"g\",\"op\":\"gap\"},"
    "{\"name\":\"fc\",\"op\":\"linear\",\"out\":10}]}";

int frost_test_expect_cli_error(const char *dir, const char *args, int want_rc, const char *needle,
                                char *out, size_t cap)
{
    int rc = frost_test_run_cli(dir, args, out, cap), lines = 0;
    for (const char *p = out; *p; p++)
        lines += *p == '\n';
    bool rc_ok = want_rc ? rc == want_rc : rc != 0;
    if (!rc_ok || !strstr(out, needle) || lines != 1) {
        char want[32] = "non-zero";
        if (want_rc)
            snprintf(want, sizeof want, "%d", want_rc);
        fprintf(stderr, "  frost %s\n  -> rc %d, want exit %s and one line saying '%s', got: %s",
                args, rc, want, needle, out);
        frost_test_failed_checks++;
    }
    return rc;
}

const char *frost_test_path(const char *dir, const char *name)
{
    static char paths[8][1024];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", dir, name);
    return p;
}

char *frost_test_read_all(const char *path, size_t *n)
{
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    char *b = size >= 0 && fseek(f, 0, SEEK_SET) == 0 ? malloc((size_t)size + 1) : NULL;
    if (b && fread(b, 1, (size_t)size, f) != (size_t)size) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[size] = '\0';
        *n = (size_t)size;
    }
    return b;
}

bool frost_test_write_all(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(data, 1, n, f) == n;
    if (f && fclose(f) != 0)
        ok = false;
    if (!ok) {
        fprintf(stderr, "  could not write %s\n", path);
        frost_test_failed_checks++;
    }
    return ok;
}

char *frost_test_find_bytes(char *data, size_t size, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= size; i++)
        if (memcmp(data + i, needle, n) == 0)
            return data + i;
    return NULL;
}

bool frost_test_drop_content_hash(char *bytes, size_t n)
{
    static const char key[] = "\"frost.content_hash\":\"fh64:";
    char *at = frost_test_find_bytes(bytes, n, key);
    if (!at)
        return false;
    size_t len = strlen(key) + 16 + 1; /* 16 hex digits and the closing quote */
    if (at > bytes && at[-1] == ',')   /* the writer puts it last: take its comma too */
        at--, len++;
    memset(at, ' ', len);
    return true;
}

const char *frost_test_st_truncation_message(const char *bytes, size_t cut)
{
    if (cut < 8)
        return "too short for a safetensors header";
    uint64_t header = 0;
    for (int i = 7; i >= 0; i--) /* little-endian */
        header = (header << 8) | (unsigned char)bytes[i];
    return cut < 8 + header ? "exceeds the" : "are outside the data region";
}

float *frost_test_read_npy(const char *path, int *ndim, int64_t *shape)
{
    FILE *f = fopen(path, "rb");
    unsigned char pre[10];
    if (!f || fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0 || pre[6] != 1) {
        fprintf(stderr, "  %s: not a .npy v1 file\n", path);
        if (f)
            fclose(f);
        return NULL;
    }
    size_t hlen = (size_t)pre[8] | ((size_t)pre[9] << 8);
    char header[1024] = {0};
    if (hlen >= sizeof header || fread(header, 1, hlen, f) != hlen ||
        !strstr(header, "'descr': '<f4'") || !strstr(header, "'fortran_order': False")) {
        fprintf(stderr, "  %s: not little-endian float32 in C order\n", path);
        fclose(f);
        return NULL;
    }
    const char *p = strchr(strstr(header, "'shape':"), '(');
    long long numel = 1;
    *ndim = 0;
    for (p = p ? p + 1 : NULL; p && *p && *p != ')' && *ndim < 8;) {
        char *end;
        long long d = strtoll(p, &end, 10);
        if (end == p)
            break;
        shape[(*ndim)++] = d;
        numel *= d;
        p = end;
        while (*p == ',' || *p == ' ')
            p++;
    }
    float *v = malloc((size_t)(numel > 0 ? numel : 1) * sizeof *v);
    if (!v || fread(v, sizeof *v, (size_t)numel, f) != (size_t)numel) {
        fprintf(stderr, "  %s: short file\n", path);
        free(v);
        v = NULL;
    }
    fclose(f);
    return v;
}
