/*
 * pins.h -- plugin pins: a config version can require the exact build of
 * a plugin, by its SHA-256, in `sha256sum` format:
 *
 *     <64 hex digits>  counter.so      (or " *counter.so", binary mode)
 *
 * Blank lines and lines starting with '#' are skipped.  Plugins are files
 * on each node, so a node whose build differs refuses the version.
 */
#ifndef AMS_CORE_PINS_H
#define AMS_CORE_PINS_H

#include "errs.h"

#include <stddef.h>

#define PINS_NAME_MAX 255
#define PINS_FILE_MAX (1 << 20) /* a pin file is a few lines */

typedef struct pin {
    char name[PINS_NAME_MAX + 1]; /* a plain file name ending in ".so" */
    char hex[65];                 /* lower-case */
    int line;
} pin;

typedef struct pins {
    pin *v; /* owned */
    size_t n;
} pins;

/* Parse len bytes of text; every bad line goes to e as "where:line:
 * ...".  p is zeroed first; the caller pins_free()s it in both cases.
 * Returns 0, or -1 when there was an error. */
int pins_parse(const char *text, size_t len, const char *where, pins *p,
               errs *e);

/* Check each pin against the file of that name in plugins_dir; each
 * missing file or other SHA-256 goes to e, naming the file as
 * shown_dir/name (the directory the operator knows, when plugins_dir is
 * a snapshot of it).  Returns 0, or -1 when any pin failed. */
int pins_verify(const pins *p, const char *plugins_dir, const char *shown_dir,
                errs *e);

/* Read the pin file at path, parse and verify it (as above).  Returns 0,
 * or -1 with every problem in e. */
int pins_verify_file(const char *path, const char *plugins_dir,
                     const char *shown_dir, errs *e);

/* 1 when name is a plain file name: 1..PINS_NAME_MAX bytes of
 * [A-Za-z0-9._-], not starting with '.', ending in suffix. */
int pins_plain_name(const char *name, size_t len, const char *suffix);

void pins_free(pins *p);

#endif
