/*
 * snapshot.h -- a generation's activity files, frozen without copying
 * them all.
 *
 * A reload builds from files that cannot change under it, and a worker
 * respawned later builds from the same ones.  Copying every file into a
 * directory per generation made a reload of 10,000 activities cost
 * seconds, so the content of each activity file is kept once, named by
 * its SHA-256, in an object directory (objects/<hex>: written once, never
 * opened for writing again, removed when no snapshot names it), and a
 * generation's snapshot of a directory is one manifest file listing, in
 * name order, each file's name and the object holding its content.  A
 * reader of an old generation reads that generation's objects, which a
 * newer content never overwrites.
 *
 * Source files that did not change are recognised by their stat (device,
 * inode, size, mtime, ctime) without being read, as git's index does, and
 * a file whose mtime or ctime is within SNAP_RACY_NS of the moment it was
 * last hashed is hashed again: an edit within one tick of the filesystem
 * clock keeps the stat a file had, so only an old stat can be trusted.
 */
#ifndef AMS_CORE_SNAPSHOT_H
#define AMS_CORE_SNAPSHOT_H

#include "errs.h"

#include <stddef.h>
#include <stdint.h>

/* In a snapshot directory.  A dot file: directory listings of *.conf
 * files skip it, and so does every reader that expects a plain
 * directory. */
#define SNAP_MANIFEST ".manifest"
#define SNAP_RACY_NS (2 * 1000000000LL)

typedef struct snap_entry {
    char *name;   /* file name in the source directory (in the manifest's
                     text when read, else owned) */
    char hex[65]; /* sha256 of its content: the object's name */
} snap_entry;

typedef struct snap_manifest {
    char *objects; /* the object directory (owned) */
    char *display; /* messages name display/<name> (owned) */
    snap_entry *v; /* sorted by name (strcmp), owned */
    size_t n;
    char *text; /* the file as read, holding the names (owned) */
} snap_manifest;

/* Read dir/.manifest into *m.  Returns 1; 0 when dir has none (a plain
 * directory of files; *m is then empty); -1 with the problem in e.  In
 * every case *m is the caller's, freed with snap_manifest_free(). */
int snap_manifest_read(const char *dir, snap_manifest *m, errs *e);
void snap_manifest_free(snap_manifest *m);
/* Where entry i's content is: m->objects/<hex>, into buf. */
void snap_object_path(const snap_manifest *m, size_t i, char *buf, size_t len);

/* What a process remembers of source files between snapshots: path,
 * stat and digest.  Owned by whoever makes the snapshots (the master). */
typedef struct snap_cache snap_cache;

/* A new empty cache (the caller's, snap_cache_free), or NULL. */
snap_cache *snap_cache_new(void);
void snap_cache_free(snap_cache *c);

/* What one snap_make() did, for logs and the benchmark. */
typedef struct snap_stats {
    size_t files;   /* files in the snapshot */
    size_t hashed;  /* of them, read and hashed (not trusted by stat) */
    size_t written; /* objects written (contents not held before) */
} snap_stats;

/* Snapshot the regular files of src whose names end with suffix (dot
 * files left out) into the directory dst, which is created and must not
 * exist: dst/.manifest names objects under objects (created when
 * missing; new contents are written there) and gives display as the
 * directory messages name.  c (may be NULL: every file is read) is
 * consulted and updated.  st may be NULL.  Returns 0, or -1 with the
 * problems in e (dst may then be left half made: the caller removes
 * it). */
int snap_make(snap_cache *c, const char *src, const char *suffix,
              const char *objects, const char *display, const char *dst,
              snap_stats *st, errs *e);

/* The entries (sorted by name, n of them) of a snapshot that c made and
 * still remembers (the last few, until snap_release() drops them), or
 * NULL: then read its manifest.  Owned by c. */
const snap_entry *snap_cache_entries(const snap_cache *c, const char *dst,
                                     size_t *n);

/* The snapshot in dropped is going away: remove the objects its manifest
 * names that the manifest in kept (NULL: none) does not, and make c
 * forget that it holds them.  The directory dropped itself is left to the
 * caller.  Returns how many objects were removed. */
size_t snap_release(snap_cache *c, const char *dropped, const char *kept);

#endif
