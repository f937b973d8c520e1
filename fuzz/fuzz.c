/*
 * fuzz.c -- the targets' shared helpers (see fuzz.h).
 */
#include "fuzz.h"

#include "errs.h"
#include "log.h"
#include "services.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void fz_quiet(void)
{
    log_level = -1;
}

const char *fz_memfile(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];

    if (fd < 0) {
        fd = memfd_create("fuzz-input", MFD_CLOEXEC);
        if (fd < 0)
            return NULL;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0)
        return NULL;
    for (size_t off = 0; off < size;) {
        ssize_t w = pwrite(fd, data + off, size - off, (off_t)off);
        if (w <= 0)
            return NULL;
        off += (size_t)w;
    }
    return path;
}

char *fz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

plugin *const *fz_plugins(size_t *n)
{
    static plugin **ps;
    static size_t nps;
    const char *dir = getenv("AMS_PLUGINS");
    char *names[64];
    size_t nn = 0;
    struct dirent *d;
    DIR *dp;

    if (ps != NULL) {
        *n = nps;
        return ps;
    }
    if (dir == NULL || dir[0] == '\0')
        dir = FUZZ_PLUGINS_DIR;
    if ((dp = opendir(dir)) == NULL) {
        fprintf(stderr, "fuzz: %s: cannot open the plugin directory\n", dir);
        abort();
    }
    while ((d = readdir(dp)) != NULL && nn < 64) {
        size_t l = strlen(d->d_name);
        if (l > 3 && strcmp(d->d_name + l - 3, ".so") == 0)
            names[nn++] = strdup(d->d_name);
    }
    closedir(dp);
    qsort(names, nn, sizeof *names, by_name); /* the same order each run */
    ps = calloc(nn + 1, sizeof *ps);
    for (size_t i = 0; i < nn; i++) {
        char path[4096], stem[64];
        errs e = {0};
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(stem, sizeof stem, "%.*s", (int)strlen(names[i]) - 3,
                 names[i]);
        ps[nps] = plugin_load(path, stem, svc_gen_host.table, &e);
        if (ps[nps] == NULL) {
            char *why = errs_join(&e);
            fprintf(stderr, "fuzz: %s: %s\n", path, why ? why : "?");
            abort();
        }
        nps++;
        errs_free(&e);
        free(names[i]);
    }
    if (nps == 0) {
        fprintf(stderr, "fuzz: %s: no plugins\n", dir);
        abort();
    }
    *n = nps;
    return ps;
}

uint8_t fz_u8(fz_bytes *b)
{
    if (b->n == 0)
        return 0;
    b->n--;
    return *b->p++;
}

uint32_t fz_u32(fz_bytes *b)
{
    uint32_t v = 0;

    for (int i = 0; i < 4; i++)
        v |= (uint32_t)fz_u8(b) << (8 * i);
    return v;
}

char *fz_str(fz_bytes *b, size_t max)
{
    size_t len = fz_u8(b) % (max + 1);
    char *s;

    if (len > b->n)
        len = b->n;
    s = fz_cstr(b->p, len);
    b->p += len;
    b->n -= len;
    return s;
}
