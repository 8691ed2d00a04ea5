/* Arm semihosting calls (see semihost.h): operation in r0, argument block in r1, the
 * result in r0. */
#include "semihost.h"

#include <string.h>

enum {
    SYS_OPEN = 0x01,
    SYS_CLOSE = 0x02,
    SYS_WRITE0 = 0x04,
    SYS_WRITE = 0x05,
    SYS_READ = 0x06,
    SYS_EXIT_EXTENDED = 0x20,
};
enum { ADP_STOPPED_APPLICATION_EXIT = 0x20026 };
/* SYS_OPEN modes (the fopen strings in the order of the semihosting spec) */
enum { OPEN_RB = 1, OPEN_WB = 5 };

static long semihost_call(int op, const void *arg)
{
    register long r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

int semihost_open(const char *path, const char *mode)
{
    uintptr_t args[3] = {(uintptr_t)path, mode[0] == 'w' ? OPEN_WB : OPEN_RB, strlen(path)};
    return (int)semihost_call(SYS_OPEN, args);
}

int semihost_close(int handle)
{
    uintptr_t args[1] = {(uintptr_t)handle};
    return (int)semihost_call(SYS_CLOSE, args);
}

long semihost_read(int handle, void *buf, size_t n)
{
    uintptr_t args[3] = {(uintptr_t)handle, (uintptr_t)buf, n};
    long not_read = semihost_call(SYS_READ, args);
    return not_read < 0 || (size_t)not_read > n ? -1 : (long)(n - (size_t)not_read);
}

int semihost_write(int handle, const void *buf, size_t n)
{
    uintptr_t args[3] = {(uintptr_t)handle, (uintptr_t)buf, n};
    return semihost_call(SYS_WRITE, args) == 0 ? 0 : -1;
}

void semihost_puts(const char *s) { semihost_call(SYS_WRITE0, s); }

void semihost_exit(int status)
{
    /* the extended form carries the status (the plain SYS_EXIT only says success or not) */
    uintptr_t args[2] = {ADP_STOPPED_APPLICATION_EXIT, (uintptr_t)status};
    for (;;)
        semihost_call(SYS_EXIT_EXTENDED, args);
}
