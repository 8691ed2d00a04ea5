/*
 * candidates.svg of a search folder. The search itself lives in the library, which
 * prints nothing and leaves presentation to its callers; the plot is the CLI's. It reads
 * the candidates back from log.csv and the front from pareto.csv (in latency order), both
 * by their header's column names. Only full-budget, trained candidates are the main points
 * (those pareto.csv is made of); successive halving's lower rungs are small hollow circles
 * and screened (never trained) lines are left out, the caption counting each.
 */
#include "search_plot.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double latency_ms, int8_acc;
} point;

typedef struct {
    point *p;
    int n, cap;
} points;

/* What the plot draws of a log line: the full-budget trained candidates (the ones
 * pareto.csv is made of) as the main points; successive halving's lower rungs, trained on
 * fewer images and so less accurate, apart; screened lines (never trained, their accuracy
 * is a stand-in) not at all. */
typedef struct {
    points full, lower;
    int screened;
} candidates;

static frost_status push_point(points *out, point q, const char *path)
{
    if (out->n == out->cap) {
        int cap = out->cap ? 2 * out->cap : 64;
        point *p = realloc(out->p, (size_t)cap * sizeof *p);
        if (!p)
            return frost_fail(FROST_ERR_NOMEM, "out of memory reading %s", path);
        out->p = p;
        out->cap = cap;
    }
    out->p[out->n++] = q;
    return FROST_OK;
}

enum { COL_ACC, COL_LAT, COL_RUNG, COL_SCREENED, N_COLS };
static const char *const col_names[N_COLS] = {"int8_acc", "latency_ms", "rung", "screened"};

/* The next comma-separated field of *rest (empty fields kept, so columns stay aligned;
 * the line end stripped), NULL past the last. */
static char *next_field(char **rest)
{
    char *tok = *rest;
    if (!tok)
        return NULL;
    char *comma = strchr(tok, ',');
    *rest = comma ? comma + 1 : NULL;
    if (comma)
        *comma = 0;
    tok[strcspn(tok, "\r\n")] = 0;
    return tok;
}

/* Column indices of a search CSV header (-1 when absent: logs written before successive
 * halving have no rung or screened column; later ones may gain columns at the end). */
static void header_columns(char *header, int col[N_COLS])
{
    for (int c = 0; c < N_COLS; c++)
        col[c] = -1;
    char *rest = header, *tok;
    for (int i = 0; (tok = next_field(&rest)); i++)
        for (int c = 0; c < N_COLS; c++)
            if (strcmp(tok, col_names[c]) == 0)
                col[c] = i;
}

/* The fields of a data row by column; false for a torn or malformed line. */
static bool row_fields(char *line, const int col[N_COLS], double v[N_COLS])
{
    int found = 0, want = 0, i = 0;
    for (int c = 0; c < N_COLS; c++) {
        v[c] = 0;
        want += col[c] >= 0;
    }
    char *rest = line, *tok;
    for (; (tok = next_field(&rest)); i++)
        for (int c = 0; c < N_COLS; c++)
            if (col[c] == i) {
                char *end;
                v[c] = strtod(tok, &end);
                found += end != tok;
            }
    return found == want && col[COL_ACC] >= 0 && col[COL_LAT] >= 0;
}

/* The rows of a search CSV (log.csv or pareto.csv, read by its header) split by what the
 * plot does with them: rung full_rung is the full proxy budget. */
static frost_status read_candidates(const char *path, int full_rung, candidates *out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return frost_fail(FROST_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    char line[2048];
    int col[N_COLS];
    double v[N_COLS];
    frost_status s = FROST_OK;
    if (!fgets(line, sizeof line, f))
        line[0] = 0;
    header_columns(line, col);
    while (s == FROST_OK && fgets(line, sizeof line, f)) {
        if (!strchr(line, '\n') || !row_fields(line, col, v))
            continue; /* the torn last line of a killed search */
        point q = {.latency_ms = v[COL_LAT], .int8_acc = v[COL_ACC]};
        if (v[COL_SCREENED] != 0)
            out->screened++;
        else
            s = push_point((int)v[COL_RUNG] == full_rung ? &out->full : &out->lower, q, path);
    }
    fclose(f);
    return s;
}

/* The full-budget rung of a search folder: search.json pins successive halving's rungs
 * ("halving_rungs":R, the full budget is rung R); 0 without halving. */
static int full_rung(const char *dir)
{
    char path[4200], text[4096] = "";
    snprintf(path, sizeof path, "%s/search.json", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    const char *key = strstr(text, "\"halving_rungs\":");
    return key ? atoi(key + strlen("\"halving_rungs\":")) : 0;
}

/* The axes' range: every plotted point, full budget and lower rungs. */
static void plot_range(const candidates *c, double *x0, double *x1, double *y0, double *y1)
{
    *x0 = *y0 = 1e300, *x1 = *y1 = -1e300;
    const points *sets[2] = {&c->full, &c->lower};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < sets[k]->n; i++) {
            const point *r = &sets[k]->p[i];
            *x0 = r->latency_ms < *x0 ? r->latency_ms : *x0;
            *x1 = r->latency_ms > *x1 ? r->latency_ms : *x1;
            *y0 = r->int8_acc < *y0 ? r->int8_acc : *y0;
            *y1 = r->int8_acc > *y1 ? r->int8_acc : *y1;
        }
    double dx = *x1 > *x0 ? *x1 - *x0 : 1.0, dy = *y1 > *y0 ? *y1 - *y0 : 0.01;
    *x0 -= 0.05 * dx, *x1 += 0.05 * dx, *y0 -= 0.05 * dy, *y1 += 0.05 * dy;
}

/* The caption says what is drawn and what is not; with successive halving a legend tells
 * the filled full-budget points from the hollow lower-rung ones. */
static void write_caption(FILE *f, const candidates *c, double x, double right)
{
    fprintf(f, "<text x=\"%g\" y=\"18\">%d candidates (grey), Pareto front (red)", x, c->full.n);
    if (c->lower.n)
        fprintf(f, "; %d lower-rung evaluations (hollow)", c->lower.n);
    if (c->screened)
        fprintf(f, "; %d screened not shown", c->screened);
    fprintf(f, "</text>\n");
    if (!c->lower.n)
        return;
    const char *items[2] = {"full budget", "lower rung, fewer images"};
    for (int i = 0; i < 2; i++) {
        double y = 40 + 16 * i;
        fprintf(f,
                "<circle cx=\"%g\" cy=\"%g\" r=\"%d\" fill=\"%s\" stroke=\"#999\"/>"
                "<text x=\"%g\" y=\"%g\" text-anchor=\"end\">%s</text>\n",
                right - 6, y, i ? 2 : 3, i ? "none" : "#999", right - 14, y + 4, items[i]);
    }
}

static void write_svg(FILE *f, const candidates *c, const points *front)
{
    double x0, x1, y0, y1;
    plot_range(c, &x0, &x1, &y0, &y1);
    const double W = 640, H = 440, L = 70, R = 20, T = 30, B = 60;
#define PX(v) (L + ((v)-x0) / (x1 - x0) * (W - L - R))
#define PY(v) (H - B - ((v)-y0) / (y1 - y0) * (H - T - B))
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" "
            "height=\"100%%\" fill=\"white\"/>\n",
            W, H);
    write_caption(f, c, L, W - R);
    fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"black\"/>\n", L, H - B,
            W - R, H - B);
    fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"black\"/>\n", L, T, L,
            H - B);
    for (int i = 0; i <= 4; i++) {
        double xv = x0 + (x1 - x0) * i / 4, yv = y0 + (y1 - y0) * i / 4;
        fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">%.3f</text>\n", PX(xv),
                H - B + 16, xv);
        fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"end\">%.1f%%</text>\n", L - 6, PY(yv) + 4,
                100 * yv);
    }
    fprintf(f,
            "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">int8 latency, ms (batch 1)"
            "</text>\n",
            (L + W - R) / 2, H - 18);
    fprintf(f,
            "<text transform=\"translate(16,%g) rotate(-90)\" text-anchor=\"middle\">"
            "int8 accuracy (held out)</text>\n",
            (T + H - B) / 2);
    /* lower rungs first, so the full-budget points are drawn over them */
    for (int i = 0; i < c->lower.n; i++)
        fprintf(f,
                "<circle class=\"rung\" cx=\"%.1f\" cy=\"%.1f\" r=\"2\" fill=\"none\" "
                "stroke=\"#999\"/>\n",
                PX(c->lower.p[i].latency_ms), PY(c->lower.p[i].int8_acc));
    for (int i = 0; i < c->full.n; i++)
        fprintf(f, "<circle class=\"full\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#999\"/>\n",
                PX(c->full.p[i].latency_ms), PY(c->full.p[i].int8_acc));
    fprintf(f, "<polyline fill=\"none\" stroke=\"#d22\" stroke-width=\"1.5\" points=\"");
    for (int i = 0; i < front->n; i++)
        fprintf(f, "%.1f,%.1f ", PX(front->p[i].latency_ms), PY(front->p[i].int8_acc));
    fprintf(f, "\"/>\n");
    for (int i = 0; i < front->n; i++)
        fprintf(f, "<circle class=\"front\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#d22\"/>\n",
                PX(front->p[i].latency_ms), PY(front->p[i].int8_acc));
    fprintf(f, "</svg>\n");
#undef PX
#undef PY
}

frost_status search_write_plot(const char *dir)
{
    char log_path[4200], front_path[4200], path[4200];
    snprintf(log_path, sizeof log_path, "%s/log.csv", dir);
    snprintf(front_path, sizeof front_path, "%s/pareto.csv", dir);
    snprintf(path, sizeof path, "%s/candidates.svg", dir);
    int full = full_rung(dir);
    candidates all = {0}, front = {0};
    frost_status s = read_candidates(log_path, full, &all);
    if (s == FROST_OK) /* the library writes the front of full-budget, trained lines only */
        s = read_candidates(front_path, full, &front);
    FILE *f = s == FROST_OK ? fopen(path, "w") : NULL;
    if (s == FROST_OK && !f)
        s = frost_fail(FROST_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    if (f) {
        write_svg(f, &all, &front.full);
        bool ok = !ferror(f);
        ok = fclose(f) == 0 && ok;
        if (!ok)
            s = frost_fail(FROST_ERR_IO, "cannot write %s", path);
    }
    free(all.full.p);
    free(all.lower.p);
    free(front.full.p);
    free(front.lower.p);
    return s;
}
