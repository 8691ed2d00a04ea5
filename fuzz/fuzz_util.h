/*
 * Helpers the harnesses share. Most frost parsers read from a path (they mmap or stream
 * the file, and some choose the format by the extension), so each input is written to a
 * file in a private folder under $TMPDIR (or /dev/shm when that exists: no disk writes)
 * and the path is handed to the parser, exactly as the CLI would.
 */
#ifndef FROST_FUZZ_UTIL_H
#define FROST_FUZZ_UTIL_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The folder, made once per process and removed at exit (with what is left in it). */
static char fuzz_dir[256];
static char fuzz_paths[8][320];
static int fuzz_n_paths;

static inline void fuzz_cleanup(void)
{
    for (int i = 0; i < fuzz_n_paths; i++)
        unlink(fuzz_paths[i]);
    if (fuzz_dir[0])
        rmdir(fuzz_dir);
}

static inline const char *fuzz_folder(void)
{
    if (fuzz_dir[0])
        return fuzz_dir;
    struct stat st;
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/frost-fuzz-XXXXXX", base);
    if (!mkdtemp(fuzz_dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(fuzz_cleanup);
    return fuzz_dir;
}

/* Writes data to <folder>/<name> and returns the path (valid until the next call with the
 * same name). A failure to write is the harness's problem, not the parser's: abort. */
static inline const char *fuzz_write_file(const char *name, const uint8_t *data, size_t size)
{
    char path[320];
    snprintf(path, sizeof path, "%s/%s", fuzz_folder(), name);
    int slot = -1;
    for (int i = 0; i < fuzz_n_paths; i++)
        if (strcmp(fuzz_paths[i], path) == 0)
            slot = i;
    if (slot < 0) {
        if (fuzz_n_paths == (int)(sizeof fuzz_paths / sizeof fuzz_paths[0]))
            abort();
        slot = fuzz_n_paths++;
        strcpy(fuzz_paths[slot], path);
    }
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror("fuzz: writing the input file");
        abort();
    }
    return fuzz_paths[slot];
}

/* A NUL-terminated copy of the input (text parsers); the caller frees it. */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}
#endif
