/*
 * audit.c -- appending and reading the audit log (see audit.h).
 *
 * The file is opened for each record and closed after the fsync: admin
 * actions are rare, and a log rotated (moved away) between two actions
 * simply starts again at the configured path.
 */
#include "audit.h"

#include "digest.h"
#include "log.h"
#include "mstate.h"
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int audit_prepare(const char *path, char *err, size_t errlen)
{
    char dir[4096];
    char *slash;
    int fd;

    snprintf(dir, sizeof dir, "%s", path);
    slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        /* mkdir -p: each component, ignoring the ones already there. */
        for (char *p = dir + 1; *p != '\0'; p++)
            if (*p == '/') {
                *p = '\0';
                mkdir(dir, 0700);
                *p = '/';
            }
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create the directory %s: %s", dir,
                     strerror(errno));
            return -1;
        }
    }
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s for appending: %s", path,
                 strerror(errno));
        return -1;
    }
    close(fd);
    return 0;
}

int64_t audit_now_ms(void)
{
    static int64_t last;
    struct timespec ts;
    int64_t now;

    clock_gettime(CLOCK_REALTIME, &ts);
    now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (now < last)
        now = last;
    last = now;
    return now;
}

int audit_append(const char *path, const cJSON *rec)
{
    char *text = cJSON_PrintUnformatted(rec);
    size_t len, off = 0;
    int fd, err = 0;

    if (text == NULL) {
        errno = ENOMEM;
        return -1;
    }
    len = strlen(text);
    text[len] = '\n'; /* replaces the NUL: the line goes out in one write */
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        err = errno;
    while (fd >= 0 && err == 0 && off < len + 1) {
        ssize_t w = write(fd, text + off, len + 1 - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            err = w < 0 ? errno : EIO;
        else
            off += (size_t)w;
    }
    if (fd >= 0 && err == 0 && fsync(fd) < 0)
        err = errno;
    if (fd >= 0 && close(fd) < 0 && err == 0)
        err = errno;
    free(text);
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

/* ---- reading back ---- */

/* "ts" of a line written by audit_append, without parsing all of it;
 * -1 when the line does not start like a record. */
static int64_t line_ts(const char *line)
{
    char *end;
    long long v;

    if (strncmp(line, "{\"ts\":", 6) != 0)
        return -1;
    errno = 0;
    v = strtoll(line + 6, &end, 10);
    if (errno != 0 || end == line + 6 || (*end != ',' && *end != '}'))
        return -1;
    return v;
}

int audit_read(const char *path, int64_t since, size_t limit, cJSON *arr,
               size_t *matched, size_t *skipped)
{
    FILE *f = fopen(path, "re");
    char **ring; /* the newest `limit` matching lines */
    size_t head = 0, n = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int err = 0;

    *matched = *skipped = 0;
    if (f == NULL)
        return errno == ENOENT ? 0 : -1;
    if (limit == 0)
        limit = 1;
    ring = calloc(limit, sizeof *ring);
    if (ring == NULL) {
        fclose(f);
        errno = ENOMEM;
        return -1;
    }
    while ((len = getline(&line, &cap, f)) > 0) {
        int64_t ts;
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        if (len == 0)
            continue;
        ts = line_ts(line);
        if (ts < 0) {
            (*skipped)++;
            continue;
        }
        if (ts < since)
            continue;
        (*matched)++;
        free(ring[head]);
        ring[head] = strdup(line);
        if (ring[head] == NULL) {
            err = ENOMEM;
            break;
        }
        head = (head + 1) % limit;
        if (n < limit)
            n++;
    }
    if (err == 0 && ferror(f))
        err = errno ? errno : EIO;
    free(line);
    fclose(f);
    /* Oldest first: the ring starts at head once it is full. */
    for (size_t i = 0; i < n; i++) {
        char *l = ring[(head + limit - n + i) % limit];
        cJSON *rec = err == 0 ? cJSON_Parse(l) : NULL;
        if (rec != NULL && cJSON_IsObject(rec))
            cJSON_AddItemToArray(arr, rec);
        else if (err == 0) {
            cJSON_Delete(rec);
            (*skipped)++;
            (*matched)--;
        }
    }
    for (size_t i = 0; i < limit; i++)
        free(ring[i]);
    free(ring);
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

/* ---- checksums ---- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A snapshot's activity files (snapshot.h): their digests are in its
 * manifest, so nothing is read but the manifest.  Returns 1, or 0 when
 * dir has no manifest. */
static int sum_manifest(cJSON *out, const char *label, const char *dir,
                        const snap_cache *snaps)
{
    snap_manifest man = {0};
    errs e = {0};
    size_t n;
    const snap_entry *v = snap_cache_entries(snaps, dir, &n);
    int r = 1;

    if (v == NULL) { /* not one this process made lately: read it */
        r = snap_manifest_read(dir, &man, &e);
        v = man.v;
        n = man.n;
    }
    errs_free(&e);
    for (size_t i = 0; r > 0 && i < n; i++) {
        char key[1024];
        snprintf(key, sizeof key, "%s/%s", label, v[i].name);
        cJSON_AddStringToObject(out, key, v[i].hex);
    }
    snap_manifest_free(&man);
    return r != 0;
}

/* sha256 of every regular file of dir ending with suffix into out, as
 * "<label>/<name>". */
static void sum_dir(cJSON *out, const char *label, const char *dir,
                    const char *suffix)
{
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *de;
    size_t sl = strlen(suffix);
    char **names = NULL;
    size_t n = 0, cap = 0;

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l <= sl ||
            strcmp(de->d_name + l - sl, suffix) != 0)
            continue;
        if (n == cap) {
            char **g =
                realloc(names, (cap = cap ? cap * 2 : 16) * sizeof *names);
            if (g == NULL)
                break;
            names = g;
        }
        if ((names[n] = strdup(de->d_name)) != NULL)
            n++;
    }
    closedir(d);
    /* Name order, as the generation loads them. */
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        char path[4096], key[1024], hex[65];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(key, sizeof key, "%s/%s", label, names[i]);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            cJSON_AddStringToObject(
                out, key, digest_file(path, hex) == 0 ? hex : "unreadable");
        free(names[i]);
    }
    free(names);
}

/* A config digest as it goes into the record: s itself when hex, else a
 * static "" (the text is spliced in unescaped). */
static const char *hex_or_empty(const char *s)
{
    for (const char *p = s; p != NULL && *p != '\0'; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return "";
    return s ? s : "";
}

/* audit_checksums() (caller deletes), reading a snapshot's digests from
 * snaps' memory when it made that snapshot lately (snaps may be NULL). */
static cJSON *checksums(const char *config_sha, const char *plugins_dir,
                        const char *activities_dir, const snap_cache *snaps)
{
    /* The files' part printed once per snapshot: with 10,000 activities
     * every reload's record carries 20,000 checksums, and building them
     * as JSON items again for each record cost more than the rest of
     * the reload. */
    static struct {
        char *plugins, *activities;
        char *text; /* "\"activities/a.conf\":\"...\",..." (no braces) */
    } cache;
    const char *sha = hex_or_empty(config_sha);
    size_t len;
    char *buf;
    cJSON *out;

    if (cache.text == NULL || cache.plugins == NULL ||
        cache.activities == NULL || strcmp(cache.plugins, plugins_dir) != 0 ||
        strcmp(cache.activities, activities_dir) != 0) {
        cJSON *files = cJSON_CreateObject();
        char *t;
        free(cache.plugins);
        free(cache.activities);
        free(cache.text);
        cache.text = NULL;
        cache.plugins = strdup(plugins_dir);
        cache.activities = strdup(activities_dir);
        if (files != NULL) {
            if (!sum_manifest(files, "activities", activities_dir, snaps))
                sum_dir(files, "activities", activities_dir, ".conf");
            sum_dir(files, "plugins", plugins_dir, ".so");
        }
        t = files ? cJSON_PrintUnformatted(files) : NULL;
        cJSON_Delete(files);
        if (t != NULL) { /* "{...}" -> "..." */
            size_t tl = strlen(t);
            memmove(t, t + 1, tl - 2);
            t[tl - 2] = '\0';
        }
        cache.text = t;
    }
    if (cache.text == NULL)
        return NULL;
    len = strlen(cache.text) + strlen(sha) + 32;
    if ((buf = malloc(len)) == NULL)
        return NULL;
    snprintf(buf, len, "{\"config\":\"%s\"%s%s}", sha,
             cache.text[0] ? "," : "", cache.text);
    out = cJSON_CreateRaw(buf);
    free(buf);
    return out;
}

cJSON *audit_checksums(const char *config_sha, const char *plugins_dir,
                       const char *activities_dir)
{
    return checksums(config_sha, plugins_dir, activities_dir, NULL);
}

/* ---- records of the master's actions ---- */

cJSON *audit_files_in_force(const master *m)
{
    return checksums(m->c->file_sha256, m->snap_plugins, m->snap_activities,
                     m->snaps);
}

int audit_record(master *m, cJSON *rec)
{
    char err[512];

    cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(rec, "ts"),
                         (double)audit_now_ms());
    if (audit_append(m->c->audit_log, rec) == 0)
        return 0;
    if (audit_prepare(m->c->audit_log, err, sizeof err) == 0 &&
        audit_append(m->c->audit_log, rec) == 0)
        return 0;
    snprintf(err, sizeof err, "%s", strerror(errno));
    log_error("audit_log: cannot append to %s: %s; the action %s %s "
              "(status %d) is NOT recorded",
              m->c->audit_log, err,
              cJSON_GetStringValue(cJSON_GetObjectItem(rec, "verb")),
              cJSON_GetStringValue(cJSON_GetObjectItem(rec, "path")),
              (int)cJSON_GetNumberValue(cJSON_GetObjectItem(rec, "status")));
    return -1;
}
