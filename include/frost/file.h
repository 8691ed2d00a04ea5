/*
 * Whole files: read one into memory, write one atomically. The lowest layer (core):
 * every reader of architecture, config and weight files goes through these.
 */
#ifndef FROST_FILE_H
#define FROST_FILE_H

#include <stddef.h>

#include "frost/status.h"

/* Write `size` bytes to `path` atomically (temp file + fsync + rename). */
frost_status frost_write_file_atomic(const char *path, const void *data, size_t size);
/* Read a whole file (malloc'd, NUL-terminated) into *data / *size. */
frost_status frost_read_file(const char *path, char **data, size_t *size);

#endif
