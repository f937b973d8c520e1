/*
 * snapshot.c -- manifests and content-addressed objects (see snapshot.h).
 */
#include "snapshot.h"

#include "digest.h"
#include "fileio.h"
#include "hash.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MANIFEST_MAGIC "amsd-snapshot 1"
#define OBJECT_MAX (64u * 1024 * 1024) /* larger activity files: an error */

/* ---- a set of digests (for the object collection) ---- */

typedef struct hexset {
    const char **v; /* borrowed strings; NULL: empty slot */
    size_t cap;     /* a power of two, at least twice the members */
} hexset;

static uint64_t hex_hash(const char *hex)
{
    uint64_t h = 0;

    /* A digest is uniform already: its first 16 hex digits will do. */
    for (int i = 0; i < 16; i++)
        h = h << 4 |
            (uint64_t)(hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10);
    return h;
}

/* Room for n members.  Returns 0, or -1 when out of memory. */
static int hexset_init(hexset *s, size_t n)
{
    s->cap = 16;
    while (s->cap < n * 2)
        s->cap *= 2;
    s->v = calloc(s->cap, sizeof *s->v);
    return s->v ? 0 : -1;
}

static void hexset_add(hexset *s, const char *hex)
{
    size_t k = hex_hash(hex) & (s->cap - 1);

    for (; s->v[k] != NULL; k = (k + 1) & (s->cap - 1))
        if (strcmp(s->v[k], hex) == 0)
            return;
    s->v[k] = hex;
}

static int hexset_has(const hexset *s, const char *hex)
{
    size_t k = hex_hash(hex) & (s->cap - 1);

    for (; s->v[k] != NULL; k = (k + 1) & (s->cap - 1))
        if (strcmp(s->v[k], hex) == 0)
            return 1;
    return 0;
}

/* ---- manifests ---- */

void snap_manifest_free(snap_manifest *m)
{
    for (size_t i = 0; m->text == NULL && i < m->n; i++)
        free(m->v[i].name);
    free(m->text);
    free(m->v);
    free(m->objects);
    free(m->display);
    memset(m, 0, sizeof *m);
}

void snap_object_path(const snap_manifest *m, size_t i, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", m->objects, m->v[i].hex);
}

/* "key value\n" at *p: value (NUL-terminated in place, in the caller's
 * text), *p past it; NULL when the line is not that. */
static char *header(char **p, const char *key)
{
    size_t kl = strlen(key);
    char *nl, *v;

    if (strncmp(*p, key, kl) != 0 || (*p)[kl] != ' ')
        return NULL;
    v = *p + kl + 1;
    if ((nl = strchr(v, '\n')) == NULL)
        return NULL;
    *nl = '\0';
    *p = nl + 1;
    return v;
}

static int is_hex64(const char *s)
{
    unsigned bad = 0;

    /* Branch-free: a manifest of 10,000 lines is read at every reload. */
    for (int i = 0; i < 64; i++) {
        unsigned c = (unsigned char)s[i];
        bad |= (c - '0' > 9u) & (c - 'a' > 5u);
    }
    return !bad;
}

int snap_manifest_read(const char *dir, snap_manifest *m, errs *e)
{
    char path[4096], *text, *p, *v;
    size_t len, cap, lines = 0;

    memset(m, 0, sizeof *m);
    snprintf(path, sizeof path, "%s/%s", dir, SNAP_MANIFEST);
    if (fileio_read(path, 256u * 1024 * 1024, &text, &len) < 0) {
        if (errno == ENOENT)
            return 0;
        errs_add(e, path, 0, "cannot read: %s", strerror(errno));
        return -1;
    }
    for (p = text; (p = memchr(p, '\n', len - (size_t)(p - text))) != NULL;
         p++)
        lines++;
    cap = lines;
    if ((m->v = malloc((cap ? cap : 1) * sizeof *m->v)) == NULL)
        goto bad;
    m->text = text;
    p = text;
    if (strncmp(p, MANIFEST_MAGIC "\n", sizeof MANIFEST_MAGIC) != 0)
        goto bad;
    p += sizeof MANIFEST_MAGIC;
    if ((v = header(&p, "objects")) == NULL ||
        (m->objects = strdup(v)) == NULL)
        goto bad;
    if ((v = header(&p, "display")) == NULL ||
        (m->display = strdup(v)) == NULL)
        goto bad;
    while (*p != '\0') {
        char *nl = memchr(p, '\n', len - (size_t)(p - text));
        if (nl == NULL || nl - p < 66 || p[64] != ' ' || !is_hex64(p) ||
            m->n == cap)
            goto bad;
        *nl = '\0';
        memcpy(m->v[m->n].hex, p, 64);
        m->v[m->n].hex[64] = '\0';
        m->v[m->n].name = p + 65;
        m->n++;
        p = nl + 1;
    }
    return 1;
bad:
    errs_add(e, path, 0, "not a snapshot manifest (or out of memory)");
    if (m->text == NULL)
        free(text);
    m->n = 0; /* the names are in text */
    snap_manifest_free(m);
    return -1;
}

/* ---- the cache of source files ---- */

/* Keyed by file name alone: the stat compared includes the device and
 * inode, so the same name in another directory (a config-center version)
 * is never taken for this one; it is hashed and takes the slot. */
typedef struct centry {
    char *name; /* owned; NULL: empty slot */
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns, ctime_ns;
    int64_t hashed_ns; /* wall clock before the stat that hex goes with */
    uint64_t epoch;    /* the last snap_make that saw the file */
    char hex[65];
} centry;

/* The snapshots made last, in memory: releasing one and the audit's
 * checksums need their entries, and reading them back would cost a
 * parse of the whole manifest each time. */
#define MADE_KEPT 3

typedef struct made {
    char *dst;     /* owned; NULL: unused */
    snap_entry *v; /* names owned */
    size_t n;
} made;

struct snap_cache {
    centry *v; /* open addressing by name; cap a power of two */
    size_t cap, n;
    uint64_t epoch;
    made made[MADE_KEPT]; /* [0] the newest */
    char *objects;        /* where the last snapshot put its objects */
};

static void made_free(made *md)
{
    for (size_t i = 0; i < md->n; i++)
        free(md->v[i].name);
    free(md->v);
    free(md->dst);
    memset(md, 0, sizeof *md);
}

/* Remember v (taken over) as the snapshot dst. */
static void made_push(snap_cache *c, const char *dst, snap_entry *v, size_t n)
{
    made_free(&c->made[MADE_KEPT - 1]);
    memmove(&c->made[1], &c->made[0], (MADE_KEPT - 1) * sizeof c->made[0]);
    c->made[0] = (made){strdup(dst), v, n};
    if (c->made[0].dst == NULL)
        made_free(&c->made[0]);
}

/* c's memory of the snapshot dst (owned by c), or NULL. */
static made *made_find(const snap_cache *c, const char *dst)
{
    for (int i = 0; c != NULL && dst != NULL && i < MADE_KEPT; i++)
        if (c->made[i].dst != NULL && strcmp(c->made[i].dst, dst) == 0)
            return (made *)&c->made[i];
    return NULL;
}

const snap_entry *snap_cache_entries(const snap_cache *c, const char *dst,
                                     size_t *n)
{
    const made *md = made_find(c, dst);

    *n = md ? md->n : 0;
    return md ? md->v : NULL;
}

snap_cache *snap_cache_new(void)
{
    return calloc(1, sizeof(snap_cache));
}

void snap_cache_free(snap_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->cap; i++)
        free(c->v[i].name);
    free(c->v);
    for (int i = 0; i < MADE_KEPT; i++)
        made_free(&c->made[i]);
    free(c->objects);
    free(c);
}

/* FNV-1a mixed down: its low bits alone (the slot) spread names that
 * differ in one digit badly. */
static uint64_t name_hash(const char *s)
{
    uint64_t h = hash_fnv1a(HASH_FNV1A_INIT, s, strlen(s));
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 33);
}

static size_t slot_of(const centry *v, size_t cap, const char *name)
{
    size_t k = name_hash(name) & (cap - 1);

    while (v[k].name != NULL && strcmp(v[k].name, name) != 0)
        k = (k + 1) & (cap - 1);
    return k;
}

/* The entry for name, added (empty, hashed_ns 0) when missing; NULL when
 * out of memory.  Owned by c, valid until the next cache_get().  The table is
 * rebuilt to at most half full, which also drops the entries of files an
 * earlier snapshot did not see. */
static centry *cache_get(snap_cache *c, const char *name)
{
    size_t k;

    if (c->cap == 0 || (c->n + 1) * 2 > c->cap) {
        size_t cap = 64, n = 0;
        centry *v;
        while (cap < (c->n + 1) * 4)
            cap *= 2;
        if ((v = calloc(cap, sizeof *v)) == NULL)
            return NULL;
        for (size_t i = 0; i < c->cap; i++) {
            if (c->v[i].name == NULL)
                continue;
            if (c->epoch > 1 && c->v[i].epoch + 1 < c->epoch) {
                free(c->v[i].name); /* gone since before the last one */
                continue;
            }
            v[slot_of(v, cap, c->v[i].name)] = c->v[i];
            n++;
        }
        free(c->v);
        c->v = v;
        c->cap = cap;
        c->n = n;
    }
    k = slot_of(c->v, c->cap, name);
    if (c->v[k].name == NULL) {
        if ((c->v[k].name = strdup(name)) == NULL)
            return NULL;
        c->n++;
    }
    return &c->v[k];
}

static int64_t ts_ns(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static int64_t wall_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_REALTIME, &t);
    return ts_ns(&t);
}

static int same_stat(const centry *ce, const struct stat *st)
{
    return ce->dev == st->st_dev && ce->ino == st->st_ino &&
           ce->size == st->st_size && ce->mtime_ns == ts_ns(&st->st_mtim) &&
           ce->ctime_ns == ts_ns(&st->st_ctim);
}

/* Whether ce's digest still says what the file holds: the same stat, old
 * enough to be trusted (snapshot.h). */
static int trusted(const centry *ce, const struct stat *st)
{
    return ce->hashed_ns != 0 && same_stat(ce, st) &&
           ce->mtime_ns < ce->hashed_ns - SNAP_RACY_NS &&
           ce->ctime_ns < ce->hashed_ns - SNAP_RACY_NS;
}

/* ---- making a snapshot ---- */

static int cmp_entries(const void *a, const void *b)
{
    return strcmp(((const snap_entry *)a)->name,
                  ((const snap_entry *)b)->name);
}

/* Write the object for hex holding data, unless it exists.  Returns 1
 * written, 0 there already, -1 with errno. */
static int put_object(const char *objects, const char *hex, const char *data,
                      size_t len)
{
    char path[4096], tmp[4200];
    struct stat st;

    snprintf(path, sizeof path, "%s/%s", objects, hex);
    if (stat(path, &st) == 0)
        return 0;
    /* Under a temporary name first: an object that exists is whole. */
    snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, (int)getpid());
    unlink(tmp);
    if (fileio_write(tmp, data, len) < 0)
        return -1;
    if (rename(tmp, path) < 0) {
        int err = errno;
        unlink(tmp);
        errno = err;
        return -1;
    }
    return 1;
}

static int write_manifest(const char *dst, const char *objects,
                          const char *display, const snap_entry *v, size_t n,
                          errs *e)
{
    char path[4096];
    FILE *f;
    int bad;

    snprintf(path, sizeof path, "%s/%s", dst, SNAP_MANIFEST);
    f = fopen(path, "wxe");
    if (f == NULL) {
        errs_add(e, path, 0, "cannot create: %s", strerror(errno));
        return -1;
    }
    fprintf(f, "%s\nobjects %s\ndisplay %s\n", MANIFEST_MAGIC, objects,
            display);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s %s\n", v[i].hex, v[i].name);
    bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        errs_add(e, path, 0, "cannot write: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* The content of the file name in the directory dfd into its object, and
 * its digest into hex.  Hashed and written from the same bytes: the object
 * is exactly what its name says, whatever happens to the source
 * meanwhile.  Returns 1 when the object was written, 0 when it existed,
 * -1 with the problem in e. */
static int hash_and_keep(int dfd, const char *src, const char *name,
                         const char *objects, char hex[65], errs *e)
{
    char path[4096], *data = NULL;
    size_t len = 0;
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC), w;
    struct stat st;

    snprintf(path, sizeof path, "%s/%s", src, name);
    if (fd < 0 || fstat(fd, &st) < 0) {
        errs_add(e, path, 0, "cannot read: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if ((size_t)st.st_size > OBJECT_MAX) {
        close(fd);
        errs_add(e, path, 0, "cannot read: %s", strerror(EFBIG));
        return -1;
    }
    /* One read for what the stat says, more only if it grew meanwhile. */
    for (size_t cap = (size_t)st.st_size + 1;;) {
        char *g = realloc(data, cap + 1);
        ssize_t r;
        if (g == NULL) {
            errno = ENOMEM;
            break;
        }
        data = g;
        r = read(fd, data + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            len = r < 0 ? (size_t)-1 : len;
            break;
        }
        len += (size_t)r;
        if (len == cap)
            cap *= 2;
        if (cap > OBJECT_MAX) {
            errno = EFBIG;
            len = (size_t)-1;
            break;
        }
    }
    close(fd);
    if (data == NULL || len == (size_t)-1) {
        errs_add(e, path, 0, "cannot read: %s", strerror(errno));
        free(data);
        return -1;
    }
    if (digest_buf(data, len, hex) < 0) {
        free(data);
        errs_add(e, path, 0, "cannot hash");
        return -1;
    }
    w = put_object(objects, hex, data, len);
    free(data);
    if (w < 0)
        errs_add(e, path, 0, "cannot copy to %s/%s: %s", objects, hex,
                 strerror(errno));
    return w;
}

int snap_make(snap_cache *c, const char *src, const char *suffix,
              const char *objects, const char *display, const char *dst,
              snap_stats *st, errs *e)
{
    DIR *d;
    struct dirent *de;
    size_t sl = strlen(suffix), n = 0, cap = 0, before = e->nerrors;
    snap_entry *v = NULL;
    snap_stats local = {0};
    int rc;

    if (st == NULL)
        st = &local;
    memset(st, 0, sizeof *st);
    if (strchr(objects, '\n') != NULL || strchr(display, '\n') != NULL) {
        errs_add(e, dst, 0, "a snapshot path holds a line break");
        return -1;
    }
    if (mkdir(objects, 0700) < 0 && errno != EEXIST) {
        errs_add(e, objects, 0, "cannot create: %s", strerror(errno));
        return -1;
    }
    if (mkdir(dst, 0700) < 0) {
        errs_add(e, dst, 0, "cannot create: %s", strerror(errno));
        return -1;
    }
    if ((d = opendir(src)) == NULL) {
        errs_add(e, src, 0, "cannot open directory: %s", strerror(errno));
        return -1;
    }
    if (c != NULL)
        c->epoch++;
    while ((de = readdir(d)) != NULL) {
        struct stat sb;
        size_t l = strlen(de->d_name);
        centry *ce = NULL, tmp;
        int64_t now;

        if (de->d_name[0] == '.' || l <= sl ||
            strcmp(de->d_name + l - sl, suffix) != 0)
            continue;
        now = wall_ns(); /* before the stat: see trusted() */
        /* Relative to the directory: no path walk per file. */
        if (fstatat(dirfd(d), de->d_name, &sb, 0) < 0 || !S_ISREG(sb.st_mode))
            continue;
        if (strchr(de->d_name, '\n') != NULL) {
            errs_add(e, src, 0,
                     "%s: a file name with a line break is not "
                     "loaded",
                     de->d_name);
            continue;
        }
        if (n == cap) {
            size_t gc = cap ? cap * 2 : 256;
            snap_entry *g = realloc(v, gc * sizeof *g);
            if (g == NULL) {
                errs_add(e, src, 0, "out of memory");
                break;
            }
            v = g;
            cap = gc;
        }
        if (c != NULL && (ce = cache_get(c, de->d_name)) == NULL) {
            errs_add(e, src, 0, "out of memory");
            break;
        }
        if (ce == NULL) {
            memset(&tmp, 0, sizeof tmp);
            ce = &tmp;
        }
        if (!trusted(ce, &sb)) {
            int w =
                hash_and_keep(dirfd(d), src, de->d_name, objects, ce->hex, e);
            if (w < 0) {
                ce->hashed_ns = 0;
                continue;
            }
            ce->hashed_ns = now;
            ce->dev = sb.st_dev;
            ce->ino = sb.st_ino;
            ce->size = sb.st_size;
            ce->mtime_ns = ts_ns(&sb.st_mtim);
            ce->ctime_ns = ts_ns(&sb.st_ctim);
            st->hashed++;
            st->written += (size_t)w;
        }
        ce->epoch = c != NULL ? c->epoch : 0;
        if ((v[n].name = strdup(de->d_name)) == NULL) {
            errs_add(e, src, 0, "out of memory");
            break;
        }
        memcpy(v[n].hex, ce->hex, sizeof v[n].hex);
        n++;
    }
    closedir(d);
    /* Name order, as generations load them: sorted once, here. */
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_entries);
    rc = e->nerrors == before ? write_manifest(dst, objects, display, v, n, e)
                              : -1;
    st->files = n;
    if (rc == 0 && c != NULL) {
        if (c->objects == NULL || strcmp(c->objects, objects) != 0) {
            free(c->objects);
            c->objects = strdup(objects);
        }
        made_push(c, dst, v, n);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
    return rc;
}

/* The entries of the snapshot in dir: from c's memory (owned by c), else
 * its manifest read into *m (owned by *m, which the caller frees either
 * way); NULL when there are none. */
static const snap_entry *entries_of(const snap_cache *c, const char *dir,
                                    snap_manifest *m, size_t *n)
{
    const snap_entry *v = snap_cache_entries(c, dir, n);
    errs e = {0};

    memset(m, 0, sizeof *m);
    if (v != NULL || dir == NULL)
        return v;
    snap_manifest_read(dir, m, &e);
    errs_free(&e);
    *n = m->n;
    return m->v;
}

size_t snap_release(snap_cache *c, const char *dropped, const char *kept)
{
    snap_manifest dm, km;
    hexset keep = {0}, gone = {0};
    size_t removed = 0, nd, nk;
    const snap_entry *dv = entries_of(c, dropped, &dm, &nd);
    const snap_entry *kv = entries_of(c, kept, &km, &nk);
    char objects[4096];
    made *md;

    if (dv == NULL)
        goto out;
    /* Every snapshot of a cache shares its objects directory; a manifest
     * read back says where. */
    if (dm.objects != NULL)
        snprintf(objects, sizeof objects, "%s", dm.objects);
    else if (c != NULL && c->objects != NULL)
        snprintf(objects, sizeof objects, "%s", c->objects);
    else
        goto out;
    if (hexset_init(&keep, nk) < 0 || hexset_init(&gone, nd) < 0)
        goto out; /* out of memory: keeping objects is always safe */
    for (size_t i = 0; i < nk; i++)
        hexset_add(&keep, kv[i].hex);
    for (size_t i = 0; i < nd; i++) {
        char path[4200];
        if (hexset_has(&keep, dv[i].hex) || hexset_has(&gone, dv[i].hex))
            continue;
        snprintf(path, sizeof path, "%s/%s", objects, dv[i].hex);
        if (unlink(path) == 0)
            removed++;
        hexset_add(&gone, dv[i].hex);
    }
    /* A cached digest whose object is gone must not be trusted: the next
     * snapshot would name an object that is not there. */
    for (size_t i = 0; removed > 0 && c != NULL && i < c->cap; i++)
        if (c->v[i].name != NULL && hexset_has(&gone, c->v[i].hex))
            c->v[i].hashed_ns = 0;
out:
    free(keep.v);
    free(gone.v);
    if ((md = made_find(c, dropped)) != NULL)
        made_free(md);
    snap_manifest_free(&dm);
    snap_manifest_free(&km);
    return removed;
}
