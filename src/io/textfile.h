/*
 * Formatted text into a file the library opened itself (a training CSV, a search log).
 * Writing data files is the library's job, but it never uses the printf family: a
 * library that links no printf/fprintf can be checked never to print to the caller's
 * terminal (tests/check_silent_lib.sh). The text is formatted into memory and written
 * with fwrite.
 */
#ifndef FROST_IO_TEXTFILE_H
#define FROST_IO_TEXTFILE_H

#include <stdbool.h>
#include <stdio.h>

/* false if the text could not be formatted or written in full. */
bool frost_file_printf(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
