/* frost search's candidates.svg (tools/search_plot.c) from hand-written search folders:
 * with successive halving only the full-budget, trained lines are the main points, lower
 * rungs are hollow and screened lines are not drawn, the caption counting each; a log
 * written before those columns existed (every line full-budget), with an extra trailing
 * column a later version may add, is plotted whole; a torn last line is skipped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tools/search_plot.h"
#include "harness.h"

#define HEADER                                                                                  \
    "step,genotype,int8_acc,latency_ms,reward,params,macs,train_acc,train_seconds,cached,rung," \
    "train_images,eval_seconds,screened"

static char dir[] = "/tmp/frost_search_plot_XXXXXX";

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static char *read_svg(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/candidates.svg", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *text = calloc(1 << 16, 1);
    size_t n = fread(text, 1, (1 << 16) - 1, f);
    text[n] = 0;
    fclose(f);
    return text;
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, what)); p++)
        n++;
    return n;
}

static void remove_files(void)
{
    const char *names[] = {"log.csv", "pareto.csv", "search.json", "candidates.svg"};
    for (int i = 0; i < 4; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        remove(path);
    }
}

/* A bracket of 9 at eta 3, R 2 (cut short): rung 0 has 5 trained and 2 screened lines,
 * rung 1 two trained, rung 2 (the full budget) two trained and one screened. The screened
 * lines' latencies (predicted, 9 ms) are far right: drawing them would stretch the axis. */
TEST(test_halving_log_plots_full_budget_only)
{
    write_file("search.json", "{\"controller\":\"random\",\"seed\":1,\"halving_eta\":3,"
                              "\"halving_rungs\":2,\"target_ms\":0.3}\n");
    write_file("log.csv", HEADER "\n"
                                 "1,a,0.50,0.20,0.5,1,1,0.4,1.0,0,0,889,1.5,0\n"
                                 "2,b,0.55,0.25,0.5,1,1,0.4,1.0,0,0,889,1.5,0\n"
                                 "3,c,0.50,9.00,0.3,0,0,0,0,0,0,889,0,1\n"
                                 "4,d,0.60,0.30,0.6,1,1,0.4,1.0,0,0,889,1.5,0\n"
                                 "5,e,0.52,0.22,0.5,1,1,0.4,1.0,0,0,889,1.5,0\n"
                                 "6,f,0.50,9.00,0.3,0,0,0,0,0,0,889,0,1\n"
                                 "7,g,0.58,0.28,0.5,1,1,0.4,1.0,0,0,889,1.5,0\n"
                                 "8,d,0.70,0.30,0.7,1,1,0.5,2.0,0,1,2667,2.5,0\n"
                                 "9,g,0.68,0.28,0.6,1,1,0.5,2.0,0,1,2667,2.5,0\n"
                                 "10,d,0.80,0.30,0.8,1,1,0.6,4.0,0,2,8000,4.5,0\n"
                                 "11,g,0.78,0.28,0.7,1,1,0.6,4.0,0,2,8000,4.5,0\n"
                                 "12,h,0.60,9.00,0.3,0,0,0,0,0,2,8000,0,1\n"
                                 "13,i,0.99,0.10,0.9,1,1");
    write_file("pareto.csv", HEADER "\n"
                                    "1,g,0.78,0.28,0.7,1,1,0.6,4.0,0,2,8000,4.5,0\n"
                                    "2,d,0.80,0.30,0.8,1,1,0.6,4.0,0,2,8000,4.5,0\n");
    CHECK_EQ_INT(search_write_plot(dir), FROST_OK);
    char *svg = read_svg();
    CHECK(svg != NULL);
    if (!svg)
        return;
    CHECK(strstr(svg, ">2 candidates (grey), Pareto front (red); 7 lower-rung evaluations "
                      "(hollow); 3 screened not shown</text>") != NULL);
    CHECK_EQ_INT(count(svg, "class=\"full\""), 2);
    CHECK_EQ_INT(count(svg, "class=\"rung\""), 7);
    CHECK_EQ_INT(count(svg, "class=\"front\""), 2);
    CHECK(strstr(svg, ">lower rung, fewer images</text>") != NULL); /* the legend */
    /* the x axis spans 0.20..0.30 ms plus 5% each side: its last tick reads 0.305 */
    CHECK(strstr(svg, "text-anchor=\"middle\">0.305</text>") != NULL);
    free(svg);
    remove_files();
}

/* Without search.json and the halving columns (a log from before them) every line is a
 * full-budget candidate; a column added at the end (fp32_acc) and one in the middle do
 * not move the others, which are read by name. */
TEST(test_old_log_plots_every_line)
{
    write_file("log.csv", "step,genotype,int8_acc,latency_ms,reward,params,macs,train_acc,"
                          "train_seconds,cached,fp32_acc\n"
                          "1,a,0.70,0.20,0.7,1,1,0.6,3.0,0,0.71\n"
                          "2,b,0.75,0.40,0.7,1,1,0.6,3.0,0,0.76\n"
                          "3,c,0.72,0.30,0.7,1,1,0.6,3.0,1,0.73\n");
    write_file("pareto.csv", "step,genotype,latency_ms,int8_acc\n"
                             "1,a,0.20,0.70\n"
                             "2,b,0.40,0.75\n");
    CHECK_EQ_INT(search_write_plot(dir), FROST_OK);
    char *svg = read_svg();
    CHECK(svg != NULL);
    if (!svg)
        return;
    CHECK(strstr(svg, ">3 candidates (grey), Pareto front (red)</text>") != NULL);
    CHECK_EQ_INT(count(svg, "class=\"full\""), 3);
    CHECK_EQ_INT(count(svg, "class=\"rung\""), 0);
    CHECK_EQ_INT(count(svg, "fill=\"#999\""), 3); /* no legend without lower rungs */
    /* the front read by name (its columns are in another order): a at 0.20 ms and b at
     * 0.40 ms on an axis from 0.19 to 0.41 ms drawn from x = 70 to 620 */
    const char *a = strstr(svg, "class=\"front\" cx=\"95.0\""),
               *b = strstr(svg, "class=\"front\" cx=\"595.0\"");
    CHECK(a != NULL && b != NULL && a < b);
    free(svg);
    remove_files();
}

TEST(test_missing_log_fails) { CHECK_EQ_INT(search_write_plot(dir), FROST_ERR_IO); }

int main(void)
{
    CHECK(mkdtemp(dir) != NULL);
    RUN(test_halving_log_plots_full_budget_only);
    RUN(test_old_log_plots_every_line);
    RUN(test_missing_log_fails);
    rmdir(dir);
    return frost_test_summary();
}
