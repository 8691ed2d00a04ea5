/*
 * Arm semihosting (the "bkpt 0xab" interface of M-profile cores): the few host calls the
 * MCU driver needs to read its input, write its outputs and exit with a status, without
 * newlib's rdimon library. QEMU serves them with -semihosting-config enable=on,target=native
 * (files relative to QEMU's working directory).
 */
#ifndef FROST_MCU_SEMIHOST_H
#define FROST_MCU_SEMIHOST_H

#include <stddef.h>
#include <stdint.h>

/* Opens a host file, mode "rb" or "wb": a handle, or -1. */
int semihost_open(const char *path, const char *mode);
int semihost_close(int handle);
/* Bytes read (short at the end of the file), or -1. */
long semihost_read(int handle, void *buf, size_t n);
/* 0 when all n bytes were written. */
int semihost_write(int handle, const void *buf, size_t n);
/* A NUL-terminated string to QEMU's console. */
void semihost_puts(const char *s);
/* Ends the program: QEMU exits with this status. */
void semihost_exit(int status) __attribute__((noreturn));

#endif
