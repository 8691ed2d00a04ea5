/*
 * Whole-file reads and atomic whole-file writes (see include/frost/file.h).
 *
 * Atomic write recipe: write everything to "<path>.tmp.<pid>" in the same
 * folder (rename is only atomic within one file system), fsync it so its
 * data is on disk before its name is, rename it over `path`, then fsync the
 * folder so the rename itself survives a crash. A reader therefore sees the
 * old file or the complete new one, never a torn mix. A writer killed before its
 * rename (SIGKILL, power loss) leaves its temp file behind; the next successful
 * write of the same path removes those of processes that no longer exist.
 */
#include "frost/file.h"
#include "core/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* write()/read() are limited to SSIZE_MAX per call; stay well below it. */
#define IO_CHUNK ((size_t)1 << 30)

/* Writes all `size` bytes or returns -1 with errno set. */
static int write_all(int fd, const unsigned char *p, size_t size)
{
    while (size > 0) {
        size_t want = size < IO_CHUNK ? size : IO_CHUNK;
        ssize_t got = write(fd, p, want);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += got;
        size -= (size_t)got;
    }
    return 0;
}

/* "<path>.tmp.<pid>", malloc'd; NULL when out of memory. */
static char *temp_path_for(const char *path)
{
    size_t len = strlen(path) + 32;
    char *tmp = malloc(len);
    if (tmp)
        snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    return tmp;
}

/* The folder holding `path` ("." for a bare file name), malloc'd. */
static char *folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    size_t len = slash == path ? 1 : (size_t)(slash - path); /* "/x" lives in "/" */
    char *dir = malloc(len + 1);
    if (dir) {
        memcpy(dir, path, len);
        dir[len] = '\0';
    }
    return dir;
}

/* Creates the temp file exclusively, so we never write through a symlink or
 * into something we did not create. A leftover with our pid can only come
 * from a crashed earlier process that had the same pid (common in
 * containers), so it is removed once and the creation retried; unlink fails
 * on folders, which are therefore never touched. */
static int create_temp(const char *tmp)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    return fd;
}

/* Makes the rename durable. File systems that cannot sync a folder
 * (EINVAL) or a folder we may not open are not errors: the rename has
 * already happened and is visible; only a real I/O failure is reported. */
static frost_status sync_folder(const char *path)
{
    char *dir = folder_of(path);
    if (!dir)
        return frost_fail(FROST_ERR_NOMEM, "file %s: out of memory", path);
    frost_status st = FROST_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
            st = frost_fail(FROST_ERR_IO, "file %s: written, but syncing folder %s failed: %s",
                            path, dir, strerror(errno));
        close(fd);
    }
    free(dir);
    return st;
}

/* Writes, syncs and renames the temp file; on failure removes it. */
static frost_status write_temp_and_rename(const char *path, const char *tmp, const void *data,
                                          size_t size)
{
    int fd = create_temp(tmp);
    if (fd < 0)
        return frost_fail(FROST_ERR_IO, "file %s: cannot create temporary file %s: %s", path, tmp,
                          strerror(errno));
    const char *step = NULL;
    if (write_all(fd, data, size) != 0)
        step = "write";
    else if (fsync(fd) != 0)
        step = "fsync";
    int err = errno;
    if (close(fd) != 0 && !step) {
        step = "close";
        err = errno;
    }
    if (!step && rename(tmp, path) != 0) {
        step = "rename";
        err = errno;
    }
    if (step) {
        unlink(tmp);
        return frost_fail(FROST_ERR_IO, "file %s: %s of temporary file %s failed: %s", path, step,
                          tmp, strerror(err));
    }
    return FROST_OK;
}

/* The pid of a temp file of `base` ("<base>.tmp.<digits>"), or 0 when name is not one. */
static long temp_file_pid(const char *name, const char *base)
{
    size_t len = strlen(base);
    if (strncmp(name, base, len) != 0 || strncmp(name + len, ".tmp.", 5) != 0)
        return 0;
    const char *digits = name + len + 5;
    char *end = NULL;
    errno = 0;
    long pid = strtol(digits, &end, 10);
    bool all_digits = *digits >= '0' && *digits <= '9' && end && *end == '\0';
    return all_digits && errno == 0 && pid > 0 ? pid : 0;
}

/* Removes the regular temp files of `path` left by writers that no longer run (kill(pid, 0)
 * says ESRCH). A live writer's file, a folder or a symlink at such a name is left alone;
 * failures are ignored: this is tidying, the write itself has succeeded. */
static void remove_dead_writers_temps(const char *path)
{
    char *dir = folder_of(path);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        long pid = temp_file_pid(e->d_name, base);
        if (pid == 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            unlinkat(dirfd(d), e->d_name, 0);
    }
    if (d)
        closedir(d);
    free(dir);
}

frost_status frost_write_file_atomic(const char *path, const void *data, size_t size)
{
    if (!path || !*path)
        return frost_fail(FROST_ERR_ARG, "write file: empty path");
    if (!data && size > 0)
        return frost_fail(FROST_ERR_ARG, "file %s: NULL data with size %zu", path, size);
    char *tmp = temp_path_for(path);
    if (!tmp)
        return frost_fail(FROST_ERR_NOMEM, "file %s: out of memory", path);
    frost_status st = write_temp_and_rename(path, tmp, data, size);
    free(tmp);
    if (st != FROST_OK)
        return st;
    remove_dead_writers_temps(path);
    return sync_folder(path);
}

/* Reads fd to EOF into a malloc'd buffer that always has room for a final NUL.
 * `hint` is the size fstat reported; the loop does not rely on it, so files
 * that grow or shrink while being read (or pipes) still come out right. */
static frost_status read_to_end(const char *path, int fd, size_t hint, char **data, size_t *size)
{
    char what[4200];
    snprintf(what, sizeof what, "file %s", path);
    FROST_TRY(frost_check_memory(hint, what));
    size_t cap = hint < SIZE_MAX - 1 ? hint + 1 : SIZE_MAX;
    size_t len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return frost_fail(FROST_ERR_NOMEM, "file %s: cannot allocate %zu bytes", path, cap);
    for (;;) {
        /* Only the NUL slot is left: grow (checked) before reading more. */
        if (cap - len <= 1) {
            size_t grown = cap < 4096 ? 4096 : cap < SIZE_MAX / 2 ? cap * 2 : SIZE_MAX;
            char *bigger = grown > cap ? realloc(buf, grown) : NULL;
            if (!bigger) {
                free(buf);
                return frost_fail(FROST_ERR_NOMEM, "file %s: too large to read into memory", path);
            }
            buf = bigger;
            cap = grown;
        }
        size_t want = cap - len - 1;
        ssize_t got = read(fd, buf + len, want < IO_CHUNK ? want : IO_CHUNK);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int err = errno;
            free(buf);
            return frost_fail(FROST_ERR_IO, "file %s: read failed: %s", path, strerror(err));
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    buf[len] = '\0';
    *data = buf;
    *size = len;
    return FROST_OK;
}

frost_status frost_read_file(const char *path, char **data, size_t *size)
{
    if (!data || !size)
        return frost_fail(FROST_ERR_ARG, "read file: NULL output pointer");
    *data = NULL;
    *size = 0;
    if (!path || !*path)
        return frost_fail(FROST_ERR_ARG, "read file: empty path");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return frost_fail(FROST_ERR_IO, "file %s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int err = errno;
        close(fd);
        return frost_fail(FROST_ERR_IO, "file %s: cannot stat: %s", path, strerror(err));
    }
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        return frost_fail(FROST_ERR_IO, "file %s: is a directory", path);
    }
    if (sb.st_size < 0 || (uintmax_t)sb.st_size >= SIZE_MAX) {
        close(fd);
        return frost_fail(FROST_ERR_IO, "file %s: size %jd does not fit in memory", path,
                          (intmax_t)sb.st_size);
    }
    frost_status st = read_to_end(path, fd, (size_t)sb.st_size, data, size);
    close(fd);
    return st;
}
