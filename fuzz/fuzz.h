/*
 * fuzz.h -- what the libFuzzer targets of fuzz/ share (docs/fuzzing.md).
 *
 * Each target is one file, fuzz_NAME.c, defining LLVMFuzzerTestOneInput
 * (and LLVMFuzzerInitialize when it needs set-up); fuzz/meson.build
 * lists them, fuzz/corpus/NAME/ holds its seeds and fuzz/dict/NAME.dict
 * its dictionary, if any.
 */
#ifndef AMS_FUZZ_H
#define AMS_FUZZ_H

#include "plugin.h"

#include <stddef.h>
#include <stdint.h>

/* Drop every log line: a target's output is libFuzzer's report. */
void fz_quiet(void);

/* The LLVMFuzzerInitialize of a target that needs nothing but quiet. */
#define FZ_INIT_QUIET                                                         \
    int LLVMFuzzerInitialize(int *argc, char ***argv);                        \
    int LLVMFuzzerInitialize(int *argc, char ***argv)                         \
    {                                                                         \
        (void)argc;                                                           \
        (void)argv;                                                           \
        fz_quiet();                                                           \
        return 0;                                                             \
    }

/* The input as the content of a file that parsers can fopen(): a memfd
 * rewritten on each call, so nothing touches the disk.  The path (owned
 * here, the same on every call) is valid until the next call; NULL when
 * the memfd could not be made or written (the target then skips). */
const char *fz_memfile(const uint8_t *data, size_t size);

/* The input as a NUL-terminated string (malloc'd, caller frees). */
char *fz_cstr(const uint8_t *data, size_t size);

/* The bundled plugins of the build tree ($AMS_PLUGINS, else the
 * directory meson built them in), loaded on the first call and kept for
 * the life of the process (owned here).  *n gets their number; a plugin
 * that fails to load aborts: a target without its plugins would fuzz
 * nothing but "unknown plugin". */
plugin *const *fz_plugins(size_t *n);

/* A reader of the input as a sequence of small decisions, for targets
 * whose input is a structure rather than a text. */
typedef struct fz_bytes {
    const uint8_t *p;
    size_t n;
} fz_bytes;

/* The next byte (0 once the input is used up). */
uint8_t fz_u8(fz_bytes *b);
/* The next 4 bytes, little-endian (missing bytes are 0). */
uint32_t fz_u32(fz_bytes *b);
/* A string of up to max bytes (a length byte, then the bytes), malloc'd
 * and NUL-terminated; caller frees. */
char *fz_str(fz_bytes *b, size_t max);

#endif
