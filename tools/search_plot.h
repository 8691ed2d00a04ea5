/* frost search's plot of a finished search: DIR/candidates.svg from DIR/log.csv and
 * DIR/pareto.csv (the files the library's search writes). */
#ifndef FROST_TOOLS_SEARCH_PLOT_H
#define FROST_TOOLS_SEARCH_PLOT_H

#include "frost/status.h"

/* Int8 accuracy against latency: full-budget trained candidates grey, successive
 * halving's lower rungs hollow grey, the Pareto front red; screened lines not drawn. */
frost_status search_write_plot(const char *dir);

#endif
