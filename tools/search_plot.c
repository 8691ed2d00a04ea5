/*
 * candidates.svg of a search folder. The search itself lives in the library, which
 * prints nothing and leaves presentation to its callers; the plot is the CLI's. It reads
 * the candidates back from log.csv and the front from pareto.csv (in latency order).
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

/* The (latency, accuracy) of every data row of a search CSV
 * (step,genotype,int8_acc,latency_ms,...); the header and torn lines are skipped. */
static frost_status read_points(const char *path, points *out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return frost_fail(FROST_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    char line[1024];
    int step;
    point q;
    while (fgets(line, sizeof line, f)) {
        if (!strchr(line, '\n') ||
            sscanf(line, "%d,%*[^,],%lf,%lf", &step, &q.int8_acc, &q.latency_ms) != 3)
            continue;
        if (out->n == out->cap) {
            int cap = out->cap ? 2 * out->cap : 64;
            point *p = realloc(out->p, (size_t)cap * sizeof *p);
            if (!p) {
                fclose(f);
                return frost_fail(FROST_ERR_NOMEM, "out of memory reading %s", path);
            }
            out->p = p;
            out->cap = cap;
        }
        out->p[out->n++] = q;
    }
    fclose(f);
    return FROST_OK;
}

static void write_svg(FILE *f, const points *all, const points *front)
{
    double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
    for (int i = 0; i < all->n; i++) {
        const point *r = &all->p[i];
        x0 = r->latency_ms < x0 ? r->latency_ms : x0;
        x1 = r->latency_ms > x1 ? r->latency_ms : x1;
        y0 = r->int8_acc < y0 ? r->int8_acc : y0;
        y1 = r->int8_acc > y1 ? r->int8_acc : y1;
    }
    double dx = x1 > x0 ? x1 - x0 : 1.0, dy = y1 > y0 ? y1 - y0 : 0.01;
    x0 -= 0.05 * dx, x1 += 0.05 * dx, y0 -= 0.05 * dy, y1 += 0.05 * dy;
    const double W = 640, H = 440, L = 70, R = 20, T = 30, B = 60;
#define PX(v) (L + ((v)-x0) / (x1 - x0) * (W - L - R))
#define PY(v) (H - B - ((v)-y0) / (y1 - y0) * (H - T - B))
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" "
            "height=\"100%%\" fill=\"white\"/>\n",
            W, H);
    fprintf(f, "<text x=\"%g\" y=\"18\">%d candidates (grey), Pareto front (red)</text>\n", L,
            all->n);
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
    for (int i = 0; i < all->n; i++)
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#999\"/>\n",
                PX(all->p[i].latency_ms), PY(all->p[i].int8_acc));
    fprintf(f, "<polyline fill=\"none\" stroke=\"#d22\" stroke-width=\"1.5\" points=\"");
    for (int i = 0; i < front->n; i++)
        fprintf(f, "%.1f,%.1f ", PX(front->p[i].latency_ms), PY(front->p[i].int8_acc));
    fprintf(f, "\"/>\n");
    for (int i = 0; i < front->n; i++)
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#d22\"/>\n",
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
    points all = {0}, front = {0};
    frost_status s = read_points(log_path, &all);
    if (s == FROST_OK)
        s = read_points(front_path, &front);
    FILE *f = s == FROST_OK ? fopen(path, "w") : NULL;
    if (s == FROST_OK && !f)
        s = frost_fail(FROST_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    if (f) {
        write_svg(f, &all, &front);
        bool ok = !ferror(f);
        ok = fclose(f) == 0 && ok;
        if (!ok)
            s = frost_fail(FROST_ERR_IO, "cannot write %s", path);
    }
    free(all.p);
    free(front.p);
    return s;
}
