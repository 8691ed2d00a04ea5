/*
 * Single images from files (frost predict): Netpbm read here (a few lines, no dependency),
 * PNG through libpng and JPEG through libjpeg. Both libraries report errors by calling a
 * handler that must not return; ours record the message and longjmp back to the decoder,
 * which frees what it allocated and returns an error. Their warnings are silenced (the
 * library never prints), except libjpeg's warnings of corrupt or missing data, which it
 * would otherwise paper over with grey pixels: a truncated or corrupt JPEG is an error here.
 */
#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

#include "core/util.h"
#include "data/data_internal.h"

/* ---- common ---- */

static frost_status image_alloc(const char *path, int h, int w, int c, frost_image *out)
{
    if (h < 1 || w < 1 || (int64_t)h * w > FROST_IMAGE_MAX_PIXELS)
        return frost_fail(FROST_ERR_FORMAT, "%s: image size %dx%d outside 1..%lld pixels", path, w,
                          h, (long long)FROST_IMAGE_MAX_PIXELS);
    out->pixels = malloc((size_t)h * (size_t)w * (size_t)c);
    if (!out->pixels)
        return frost_fail(FROST_ERR_NOMEM, "%s: cannot allocate a %dx%d image", path, w, h);
    out->h = h;
    out->w = w;
    out->c = c;
    return FROST_OK;
}

void frost_image_free(frost_image *img)
{
    if (!img)
        return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

static FILE *open_image(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        frost_fail(FROST_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return f;
}

/* ---- Netpbm (P2 P3 P5 P6) ---- */

typedef struct {
    const char *path;
    FILE *f;
} pnm_reader;

/* Skips whitespace and '#' comments (which run to the end of the line). */
static int pnm_skip_space(FILE *f)
{
    int ch;
    while ((ch = fgetc(f)) != EOF) {
        if (ch == '#') {
            while ((ch = fgetc(f)) != EOF && ch != '\n' && ch != '\r')
                ;
        } else if (!isspace(ch)) {
            ungetc(ch, f);
            return 0;
        }
    }
    return -1;
}

/* An ASCII decimal number in [lo, hi] (header fields, and the samples of P2/P3). */
static frost_status pnm_number(pnm_reader *r, const char *what, long lo, long hi, long *v)
{
    if (pnm_skip_space(r->f) != 0)
        return frost_fail(FROST_ERR_FORMAT, "%s: truncated (no %s)", r->path, what);
    long n = 0;
    int digits = 0, ch;
    while ((ch = fgetc(r->f)) != EOF && isdigit(ch)) {
        if (n > hi)
            break;
        n = n * 10 + (ch - '0');
        digits++;
    }
    if (ch != EOF)
        ungetc(ch, r->f);
    if (digits == 0)
        return frost_fail(FROST_ERR_FORMAT, "%s: %s is not a number", r->path, what);
    if (n < lo || n > hi)
        return frost_fail(FROST_ERR_FORMAT, "%s: %s %ld outside %ld..%ld", r->path, what, n, lo,
                          hi);
    *v = n;
    return FROST_OK;
}

static uint8_t pnm_scale(long v, long maxval)
{
    return (uint8_t)(maxval == 255 ? v : (v * 255 + maxval / 2) / maxval);
}

static frost_status pnm_read_ascii(pnm_reader *r, long maxval, frost_image *img)
{
    size_t n = (size_t)img->h * img->w * img->c;
    for (size_t i = 0; i < n; i++) {
        long v;
        FROST_TRY(pnm_number(r, "a pixel value", 0, maxval, &v));
        img->pixels[i] = pnm_scale(v, maxval);
    }
    return FROST_OK;
}

static frost_status pnm_read_binary(pnm_reader *r, long maxval, frost_image *img)
{
    size_t n = (size_t)img->h * img->w * img->c, bytes_per = maxval > 255 ? 2 : 1;
    uint8_t *raw = bytes_per == 1 ? img->pixels : malloc(n * 2);
    if (!raw)
        return frost_fail(FROST_ERR_NOMEM, "%s: cannot allocate the image", r->path);
    size_t got = fread(raw, bytes_per, n, r->f);
    frost_status s = FROST_OK;
    if (got != n)
        s = frost_fail(FROST_ERR_FORMAT, "%s: truncated (%zu of %zu pixel values)", r->path, got,
                       n);
    for (size_t i = 0; s == FROST_OK && i < n; i++) {
        long v = bytes_per == 1 ? raw[i] : (long)raw[2 * i] << 8 | raw[2 * i + 1];
        if (v > maxval)
            s = frost_fail(FROST_ERR_FORMAT, "%s: pixel value %ld above maxval %ld", r->path, v,
                           maxval);
        else
            img->pixels[i] = pnm_scale(v, maxval);
    }
    if (raw != img->pixels)
        free(raw);
    return s;
}

static frost_status pnm_decode(pnm_reader *r, frost_image *img)
{
    char magic[2] = {0, 0};
    if (fread(magic, 1, 2, r->f) != 2 || magic[0] != 'P' ||
        (magic[1] != '2' && magic[1] != '3' && magic[1] != '5' && magic[1] != '6'))
        return frost_fail(FROST_ERR_FORMAT, "%s: not a PGM/PPM file (P2, P3, P5 or P6)", r->path);
    bool ascii = magic[1] == '2' || magic[1] == '3';
    int c = magic[1] == '3' || magic[1] == '6' ? 3 : 1;
    long w, h, maxval;
    FROST_TRY(pnm_number(r, "the width", 1, 1 << 20, &w));
    FROST_TRY(pnm_number(r, "the height", 1, 1 << 20, &h));
    FROST_TRY(pnm_number(r, "maxval", 1, 65535, &maxval));
    /* exactly one whitespace byte separates the header from binary pixels */
    int sep = fgetc(r->f);
    if (sep == EOF || !isspace(sep))
        return frost_fail(FROST_ERR_FORMAT, "%s: truncated header", r->path);
    FROST_TRY(image_alloc(r->path, (int)h, (int)w, c, img));
    frost_status s = ascii ? pnm_read_ascii(r, maxval, img) : pnm_read_binary(r, maxval, img);
    if (s != FROST_OK)
        frost_image_free(img);
    return s;
}

static frost_status load_pnm(const char *path, frost_image *out)
{
    pnm_reader r = {path, open_image(path)};
    if (!r.f)
        return FROST_ERR_IO;
    frost_status s = pnm_decode(&r, out);
    fclose(r.f);
    return s;
}

/* ---- PNG (libpng) ---- */

typedef struct {
    const char *path;
    jmp_buf jmp;
    char msg[200];
    png_bytep *rows; /* freed after a longjmp too: reached through this struct, not a local */
    frost_image *out;
} png_ctx;

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_ctx *ctx = png_get_error_ptr(png);
    snprintf(ctx->msg, sizeof ctx->msg, "%s", msg);
    longjmp(ctx->jmp, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* Everything that may longjmp. Returns 0, or -1 with ctx->msg set by a non-libpng error. */
static int png_decode(png_ctx *ctx, png_structp png, png_infop info)
{
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int color = png_get_color_type(png, info);
    /* to 8-bit gray or RGB whatever the stored format */
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    png_set_packing(png);
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_expand_gray_1_2_4_to_8(png);
    png_read_update_info(png, info);
    int c = png_get_channels(png, info);
    if ((c != 1 && c != 3) || png_get_rowbytes(png, info) != (size_t)w * (size_t)c) {
        snprintf(ctx->msg, sizeof ctx->msg, "unexpected layout after conversion (%d channels)", c);
        return -1;
    }
    if (image_alloc(ctx->path, (int)h, (int)w, c, ctx->out) != FROST_OK)
        return -2; /* the error is already recorded */
    ctx->rows = malloc(sizeof *ctx->rows * h);
    if (!ctx->rows) {
        snprintf(ctx->msg, sizeof ctx->msg, "out of memory");
        return -1;
    }
    for (png_uint_32 y = 0; y < h; y++)
        ctx->rows[y] = ctx->out->pixels + (size_t)y * w * (size_t)c;
    png_read_image(png, ctx->rows);
    png_read_end(png, NULL);
    return 0;
}

static frost_status load_png(const char *path, frost_image *out)
{
    FILE *f = open_image(path);
    if (!f)
        return FROST_ERR_IO;
    png_byte sig[8];
    if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8) != 0) {
        fclose(f);
        return frost_fail(FROST_ERR_FORMAT, "%s: not a PNG file", path);
    }
    /* on the heap: what changes between setjmp and longjmp must not live in locals */
    png_ctx *ctx = calloc(1, sizeof *ctx);
    png_structp png =
        ctx ? png_create_read_struct(PNG_LIBPNG_VER_STRING, ctx, png_on_error, png_on_warning)
            : NULL;
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        free(ctx);
        fclose(f);
        return frost_fail(FROST_ERR_NOMEM, "%s: cannot create a PNG reader", path);
    }
    ctx->path = path;
    ctx->out = out;
    int rc = -1;
    if (setjmp(ctx->jmp) == 0) {
        png_init_io(png, f);
        png_set_sig_bytes(png, 8);
        /* refuse absurd sizes before libpng allocates anything for them */
        png_set_user_limits(png, 1 << 15, 1 << 15);
        rc = png_decode(ctx, png, info);
    }
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    free(ctx->rows);
    frost_status s = FROST_OK;
    if (rc == -2)
        s = FROST_ERR_FORMAT; /* recorded already */
    else if (rc != 0)
        s = frost_fail(FROST_ERR_FORMAT, "%s: corrupt or truncated PNG: %s", path, ctx->msg);
    free(ctx);
    if (s != FROST_OK)
        frost_image_free(out);
    return s;
}

/* ---- JPEG (libjpeg) ---- */

typedef struct {
    struct jpeg_error_mgr mgr; /* first: libjpeg hands us a pointer to it */
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void jpeg_on_error(j_common_ptr cinfo)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    e->mgr.format_message(cinfo, e->msg);
    longjmp(e->jmp, 1);
}

/* Warnings after which libjpeg makes pixels up (grey or zero coefficients) instead of
 * decoding them: the data ends early, a marker cuts a scan short, a code is not in the
 * table, the scans are inconsistent. A corrupt file must not yield a guess (the fuzzer
 * found a 289-byte JPEG that "decoded" to 64 megapixels of grey). */
static bool jpeg_warning_is_corruption(int code)
{
    switch (code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_MUST_RESYNC:
    case JWRN_NOT_SEQUENTIAL:
    case JWRN_BOGUS_PROGRESSION: return true;
    default: return false;
    }
}

/* Other warnings (level -1: an unknown JFIF revision, stray bytes between markers, ...)
 * are ignored. */
static void jpeg_on_message(j_common_ptr cinfo, int level)
{
    if (level < 0 && jpeg_warning_is_corruption(cinfo->err->msg_code))
        jpeg_on_error(cinfo);
}

static void jpeg_silent(j_common_ptr cinfo) { (void)cinfo; }

typedef struct {
    const char *path;
    struct jpeg_decompress_struct cinfo;
    jpeg_err err;
    frost_image *out;
} jpeg_ctx;

/* Everything that may longjmp. Returns 0, or -1 with the error recorded. */
static int jpeg_decode(jpeg_ctx *ctx)
{
    struct jpeg_decompress_struct *cinfo = &ctx->cinfo;
    jpeg_read_header(cinfo, TRUE);
    if (cinfo->num_components == 1) {
        cinfo->out_color_space = JCS_GRAYSCALE;
    } else if (cinfo->jpeg_color_space == JCS_YCbCr || cinfo->jpeg_color_space == JCS_RGB) {
        cinfo->out_color_space = JCS_RGB;
    } else {
        frost_fail(FROST_ERR_UNSUPPORTED, "%s: JPEG colour space %d (CMYK?) is not supported",
                   ctx->path, (int)cinfo->jpeg_color_space);
        return -1;
    }
    if ((int64_t)cinfo->image_width * cinfo->image_height > FROST_IMAGE_MAX_PIXELS) {
        frost_fail(FROST_ERR_FORMAT, "%s: image size %ux%u above %lld pixels", ctx->path,
                   (unsigned)cinfo->image_width, (unsigned)cinfo->image_height,
                   (long long)FROST_IMAGE_MAX_PIXELS);
        return -1;
    }
    jpeg_start_decompress(cinfo);
    int c = cinfo->output_components;
    if (c != 1 && c != 3) {
        frost_fail(FROST_ERR_FORMAT, "%s: JPEG decodes to %d channels", ctx->path, c);
        return -1;
    }
    if (image_alloc(ctx->path, (int)cinfo->output_height, (int)cinfo->output_width, c, ctx->out) !=
        FROST_OK)
        return -1;
    while (cinfo->output_scanline < cinfo->output_height) {
        JSAMPROW row =
            ctx->out->pixels + (size_t)cinfo->output_scanline * cinfo->output_width * (size_t)c;
        jpeg_read_scanlines(cinfo, &row, 1);
    }
    jpeg_finish_decompress(cinfo);
    return 0;
}

static frost_status load_jpeg(const char *path, frost_image *out)
{
    FILE *f = open_image(path);
    if (!f)
        return FROST_ERR_IO;
    jpeg_ctx *ctx = calloc(1, sizeof *ctx); /* on the heap: nothing on the stack to clobber */
    if (!ctx) {
        fclose(f);
        return frost_fail(FROST_ERR_NOMEM, "%s: cannot create a JPEG reader", path);
    }
    ctx->path = path;
    ctx->out = out;
    ctx->cinfo.err = jpeg_std_error(&ctx->err.mgr);
    ctx->err.mgr.error_exit = jpeg_on_error;
    ctx->err.mgr.emit_message = jpeg_on_message;
    ctx->err.mgr.output_message = jpeg_silent;
    int rc = -1;
    bool longjmped = false;
    if (setjmp(ctx->err.jmp) == 0) {
        jpeg_create_decompress(&ctx->cinfo);
        jpeg_stdio_src(&ctx->cinfo, f);
        rc = jpeg_decode(ctx);
    } else {
        longjmped = true;
    }
    jpeg_destroy_decompress(&ctx->cinfo);
    fclose(f);
    frost_status s = FROST_OK;
    if (longjmped)
        s = frost_fail(FROST_ERR_FORMAT, "%s: corrupt or truncated JPEG: %s", path, ctx->err.msg);
    else if (rc != 0)
        s = FROST_ERR_FORMAT;
    free(ctx);
    if (s != FROST_OK)
        frost_image_free(out);
    return s;
}

/* ---- by extension ---- */

static const char *extension(const char *path)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    return dot && (!slash || dot > slash) ? dot + 1 : "";
}

frost_status frost_image_load(const char *path, frost_image *out)
{
    if (!out || !path)
        return frost_fail(FROST_ERR_ARG, "frost_image_load: path or out is NULL");
    memset(out, 0, sizeof *out);
    const char *ext = extension(path);
    if (!strcasecmp(ext, "pgm") || !strcasecmp(ext, "ppm") || !strcasecmp(ext, "pnm"))
        return load_pnm(path, out);
    if (!strcasecmp(ext, "png"))
        return load_png(path, out);
    if (!strcasecmp(ext, "jpg") || !strcasecmp(ext, "jpeg"))
        return load_jpeg(path, out);
    return frost_fail(FROST_ERR_UNSUPPORTED,
                      "%s: unsupported image type '.%s' (use .png, .jpg/.jpeg, .pgm or .ppm)", path,
                      ext);
}

/* ---- to a model input ---- */

/* img converted to c channels (1 or 3) into dst (img->h * img->w * c bytes). */
static void convert_channels(const frost_image *img, int c, uint8_t *dst)
{
    size_t n = (size_t)img->h * img->w;
    const uint8_t *p = img->pixels;
    for (size_t i = 0; i < n; i++) {
        if (img->c == c)
            memcpy(dst + i * c, p + i * c, (size_t)c);
        else if (c == 1) /* BT.601 luma, integer so that r == g == b gives that value back */
            dst[i] =
                (uint8_t)((299 * p[3 * i] + 587 * p[3 * i + 1] + 114 * p[3 * i + 2] + 500) / 1000);
        else
            dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = p[i];
    }
}

frost_status frost_image_to_input(const frost_image *img, int h, int w, int c, bool invert,
                                  const frost_augment *norm, float *out)
{
    if (!img || !img->pixels || !out || img->h < 1 || img->w < 1 || (img->c != 1 && img->c != 3))
        return frost_fail(FROST_ERR_ARG, "frost_image_to_input: not a loaded image");
    if ((c != 1 && c != 3) || h < 1 || w < 1 || (int64_t)h * w > FROST_IMAGE_MAX_PIXELS)
        return frost_fail(FROST_ERR_ARG,
                          "frost_image_to_input: model input %dx%dx%d (1 or 3 channels only)", h, w,
                          c);
    for (int k = 0; norm && k < (norm->per_channel ? 3 : 1); k++)
        if (!((norm->per_channel ? norm->ch_std[k] : norm->std) > 0.0f))
            return frost_fail(FROST_ERR_ARG, "frost_image_to_input: std must be positive");
    size_t src_n = (size_t)img->h * img->w * c, dst_n = (size_t)h * w * c;
    uint8_t *conv = malloc(src_n), *sized = malloc(dst_n);
    if (!conv || !sized) {
        free(conv);
        free(sized);
        return frost_fail(FROST_ERR_NOMEM, "frost_image_to_input: out of memory");
    }
    convert_channels(img, c, conv);
    if (img->h == h && img->w == w)
        memcpy(sized, conv, dst_n);
    else
        frost_image_resize_u8(conv, img->h, img->w, c, sized, h, w);
    float luts[3][256];
    frost_augment_make_luts(norm, luts); /* the loader's tables: bit-exact with training */
    for (size_t i = 0; i < dst_n; i++)
        out[i] = luts[i % (size_t)c][invert ? 255 - sized[i] : sized[i]];
    free(conv);
    free(sized);
    return FROST_OK;
}
