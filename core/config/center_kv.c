/*
 * center_kv.c -- the config center's layout in Redis and a version's
 * content (see center_kv.h).
 */
#include "center_kv.h"

#include "digest.h"
#include "fileio.h"
#include "pins.h"
#include "text.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void ckv_key(char *out, const char *prefix, const char *name)
{
    snprintf(out, CKV_KEY_MAX, "%s%s", prefix, name);
}

void ckv_version_key(char *out, const char *prefix, uint64_t n)
{
    snprintf(out, CKV_KEY_MAX, "%sv:%" PRIu64, prefix, n);
}

void ckv_node_key(char *out, const char *prefix, const char *node)
{
    snprintf(out, CKV_KEY_MAX, "%snode:%s", prefix, node);
}

int ckv_prefix_ok(const char *s)
{
    return text_is_token(s, 1, CKV_PREFIX_MAX);
}

int ckv_node_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > CKV_NODE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._:@-", s[i]))
            return 0;
    return 1;
}

static int ckv_by_name(const void *a, const void *b)
{
    return strcmp(((const ckv_file *)a)->name, ((const ckv_file *)b)->name);
}

/* Append a file to v (name and data copied; data may be NULL with
 * len 0).  -1 when out of memory. */
static int ckv_add_file(ckv_version *v, const char *name, size_t nlen,
                        const char *data, size_t len)
{
    ckv_file *grown = realloc(v->files, (v->nfiles + 1) * sizeof *v->files);
    ckv_file f = {0};

    if (grown == NULL)
        return -1;
    v->files = grown;
    f.name = malloc(nlen + 1);
    f.data = malloc(len + 1);
    if (f.name == NULL || f.data == NULL) {
        free(f.name);
        free(f.data);
        return -1;
    }
    memcpy(f.name, name, nlen);
    f.name[nlen] = '\0';
    if (len > 0)
        memcpy(f.data, data, len);
    f.data[len] = '\0';
    f.len = len;
    v->files[v->nfiles++] = f;
    return 0;
}

/* ---- the digest ---- */

static void ckv_digest_part(EVP_MD_CTX *c, const char *head, const char *name,
                            const char *data, size_t len)
{
    char lenbuf[32];
    int n = snprintf(lenbuf, sizeof lenbuf, "\n%zu\n", len);

    EVP_DigestUpdate(c, head, strlen(head));
    if (name != NULL)
        EVP_DigestUpdate(c, name, strlen(name));
    EVP_DigestUpdate(c, lenbuf, (size_t)n);
    EVP_DigestUpdate(c, data, len);
    EVP_DigestUpdate(c, "\n", 1);
}

void ckv_digest(ckv_version *v)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned char md[32];
    unsigned int mdlen = 0;

    v->digest[0] = '\0';
    if (c == NULL || !EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(c);
        return;
    }
    for (size_t i = 0; i < v->nfiles; i++)
        ckv_digest_part(c, "conf:", v->files[i].name, v->files[i].data,
                        v->files[i].len);
    if (v->pins != NULL)
        ckv_digest_part(c, "pins", NULL, v->pins, v->pins_len);
    if (EVP_DigestFinal_ex(c, md, &mdlen) && mdlen == 32)
        digest_hex(md, v->digest);
    EVP_MD_CTX_free(c);
}

/* ---- from a directory (amsctl publish) ---- */

static int ckv_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Every *.conf of adir into v; skip_amsd: leave amsd.conf out (adir is
 * the published directory itself). */
static void ckv_read_activities(const char *adir, int skip_amsd,
                                ckv_version *v, size_t *total, errs *e)
{
    DIR *d = opendir(adir);
    struct dirent *de;

    if (d == NULL) {
        errs_add(e, adir, 0, "cannot open the directory: %s", strerror(errno));
        return;
    }
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        char path[4096 + 256 + 2], *data;
        size_t len;

        if (de->d_name[0] == '.' || l <= 5 ||
            strcmp(de->d_name + l - 5, ".conf") != 0 ||
            (skip_amsd && strcmp(de->d_name, "amsd.conf") == 0))
            continue;
        snprintf(path, sizeof path, "%s/%s", adir, de->d_name);
        if (ckv_is_dir(path))
            continue;
        if (!pins_plain_name(de->d_name, l, ".conf")) {
            errs_add(e, path, 0,
                     "the name can not be published: use "
                     "[A-Za-z0-9._-] only");
            continue;
        }
        if (fileio_read(path, CKV_MAX_BYTES, &data, &len) < 0) {
            errs_add(e, path, 0, "cannot read: %s", strerror(errno));
            continue;
        }
        *total += len;
        if (ckv_add_file(v, de->d_name, l, data, len) < 0)
            errs_add(e, path, 0, "out of memory");
        free(data);
    }
    closedir(d);
    if (v->nfiles == 0 && e->nerrors == 0)
        errs_add(e, adir, 0, "no activity files (*.conf) to publish%s",
                 skip_amsd ? " (amsd.conf is never published)" : "");
}

int ckv_read_dir(const char *dir, ckv_version *v, errs *e)
{
    char adir[4096], pins_path[4096];
    size_t before = e->nerrors, total = 0;
    struct stat st;
    int sub;

    memset(v, 0, sizeof *v);
    if (stat(dir, &st) < 0) {
        errs_add(e, dir, 0, "%s",
                 errno == ENOENT ? "no such directory" : strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        errs_add(e, dir, 0, "not a directory");
        return -1;
    }
    snprintf(adir, sizeof adir, "%s/activities", dir);
    sub = ckv_is_dir(adir);
    ckv_read_activities(sub ? adir : dir, !sub, v, &total, e);
    snprintf(pins_path, sizeof pins_path, "%s/%s", dir, CKV_PINS_FILE);
    if (fileio_read(pins_path, PINS_FILE_MAX, &v->pins, &v->pins_len) == 0) {
        pins p;
        total += v->pins_len;
        pins_parse(v->pins, v->pins_len, pins_path, &p, e);
        pins_free(&p);
    } else if (errno != ENOENT) {
        errs_add(e, pins_path, 0, "cannot read: %s", strerror(errno));
    }
    if (total > CKV_MAX_BYTES)
        errs_add(e, dir, 0,
                 "%zu bytes to publish: more than the %u a "
                 "version may hold",
                 total, CKV_MAX_BYTES);
    if (v->nfiles > 1)
        qsort(v->files, v->nfiles, sizeof *v->files, ckv_by_name);
    ckv_digest(v);
    return e->nerrors > before ? -1 : 0;
}

/* ---- from Redis (the nodes) ---- */

static int ckv_is(const redisReply *f, const char *name)
{
    return f->len == strlen(name) && memcmp(f->str, name, f->len) == 0;
}

/* A metadata field of the hash into v (unknown ones are left alone: a
 * later publisher may add some). */
static void ckv_meta(ckv_version *v, const redisReply *f, const redisReply *x,
                     char *stored_digest)
{
    if (ckv_is(f, "digest"))
        snprintf(stored_digest, 65, "%.*s", (int)(x->len > 64 ? 64 : x->len),
                 x->str);
    else if (ckv_is(f, "published_at"))
        v->published_at = strtoll(x->str, NULL, 10);
    else if (ckv_is(f, "publisher") && v->publisher == NULL)
        v->publisher = strdup(x->str);
    else if (ckv_is(f, "source") && v->source == NULL)
        v->source = strdup(x->str);
    else if (ckv_is(f, "rollback_of"))
        v->rollback_of = strtoull(x->str, NULL, 10);
}

int ckv_from_reply(uint64_t n, const redisReply *r, ckv_version *v, errs *e)
{
    char stored[65] = "", where[64];
    size_t before = e->nerrors, total = 0;

    memset(v, 0, sizeof *v);
    v->number = n;
    snprintf(where, sizeof where, "version %" PRIu64, n);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
        errs_add(e, where, 0, "unexpected reply to HGETALL");
        return -1;
    }
    if (r->elements == 0) {
        errs_add(e, where, 0,
                 "no content in Redis (never written, or "
                 "removed: only the newest versions are kept)");
        return -1;
    }
    for (size_t i = 0; i < r->elements; i += 2) {
        const redisReply *f = r->element[i], *x = r->element[i + 1];

        if (f->type != REDIS_REPLY_STRING || x->type != REDIS_REPLY_STRING)
            continue;
        total += x->len;
        if (f->len > 5 && memcmp(f->str, "conf:", 5) == 0) {
            if (!pins_plain_name(f->str + 5, f->len - 5, ".conf"))
                errs_add(e, where, 0,
                         "field \"%.*s\": not a plain *.conf "
                         "file name",
                         (int)(f->len > 300 ? 300 : f->len), f->str);
            else if (ckv_add_file(v, f->str + 5, f->len - 5, x->str, x->len) <
                     0)
                errs_add(e, where, 0, "out of memory");
        } else if (ckv_is(f, "pins")) {
            free(v->pins);
            v->pins = malloc(x->len + 1);
            if (v->pins == NULL) {
                errs_add(e, where, 0, "out of memory");
                continue;
            }
            memcpy(v->pins, x->str, x->len);
            v->pins[x->len] = '\0';
            v->pins_len = x->len;
        } else {
            ckv_meta(v, f, x, stored);
        }
    }
    if (e->nerrors > before)
        return -1;
    if (v->nfiles == 0)
        errs_add(e, where, 0, "holds no activity file");
    if (total > CKV_MAX_BYTES)
        errs_add(e, where, 0, "holds %zu bytes, more than %u", total,
                 CKV_MAX_BYTES);
    if (v->pins != NULL) {
        char pwhere[96];
        pins p;
        snprintf(pwhere, sizeof pwhere, "%s: %s", where, CKV_PINS_FILE);
        pins_parse(v->pins, v->pins_len, pwhere, &p, e);
        pins_free(&p);
    }
    if (v->nfiles > 1)
        qsort(v->files, v->nfiles, sizeof *v->files, ckv_by_name);
    ckv_digest(v);
    if (e->nerrors == before && strcmp(stored, v->digest) != 0)
        errs_add(e, where, 0,
                 "content digest %.12s... does not match the "
                 "stored digest \"%.12s\": written by hand, or cut short",
                 v->digest, stored);
    return e->nerrors > before ? -1 : 0;
}

/* ---- to Redis (amsctl) ---- */

static void ckv_push(ckv_args *a, const char *s, size_t len)
{
    a->argv[a->argc] = s;
    a->lens[a->argc++] = len;
}

int ckv_hset_args(const ckv_version *v, const char *key, ckv_args *a)
{
    /* HSET key, a pair per file, the pins, six metadata pairs. */
    size_t max = 2 + 2 * v->nfiles + 2 + 12, room = 0, off = 0;

    memset(a, 0, sizeof *a);
    for (size_t i = 0; i < v->nfiles; i++)
        room += 5 + strlen(v->files[i].name) + 1;
    a->argv = calloc(max, sizeof *a->argv);
    a->lens = calloc(max, sizeof *a->lens);
    a->names = malloc(room + 1);
    if (a->argv == NULL || a->lens == NULL || a->names == NULL) {
        ckv_args_free(a);
        return -1;
    }
    ckv_push(a, "HSET", 4);
    ckv_push(a, key, strlen(key));
    for (size_t i = 0; i < v->nfiles; i++) {
        int n = snprintf(a->names + off, room + 1 - off, "conf:%s",
                         v->files[i].name);
        ckv_push(a, a->names + off, (size_t)n);
        ckv_push(a, v->files[i].data, v->files[i].len);
        off += (size_t)n + 1;
    }
    if (v->pins != NULL) {
        ckv_push(a, "pins", 4);
        ckv_push(a, v->pins, v->pins_len);
    }
    ckv_push(a, "digest", 6);
    ckv_push(a, v->digest, strlen(v->digest));
    snprintf(a->num[0], sizeof a->num[0], "%zu", v->nfiles);
    snprintf(a->num[1], sizeof a->num[1], "%" PRId64, v->published_at);
    snprintf(a->num[2], sizeof a->num[2], "%" PRIu64, v->rollback_of);
    ckv_push(a, "files", 5);
    ckv_push(a, a->num[0], strlen(a->num[0]));
    ckv_push(a, "published_at", 12);
    ckv_push(a, a->num[1], strlen(a->num[1]));
    if (v->publisher != NULL) {
        ckv_push(a, "publisher", 9);
        ckv_push(a, v->publisher, strlen(v->publisher));
    }
    if (v->source != NULL) {
        ckv_push(a, "source", 6);
        ckv_push(a, v->source, strlen(v->source));
    }
    if (v->rollback_of != 0) {
        ckv_push(a, "rollback_of", 11);
        ckv_push(a, a->num[2], strlen(a->num[2]));
    }
    return 0;
}

void ckv_args_free(ckv_args *a)
{
    free(a->argv);
    free(a->lens);
    free(a->names);
    memset(a, 0, sizeof *a);
}

/* ---- to a directory (the nodes) ---- */

int ckv_write_dir(const ckv_version *v, const char *dir, errs *e)
{
    char path[4096];

    snprintf(path, sizeof path, "%s/activities", dir);
    if (mkdir(dir, 0700) < 0 || mkdir(path, 0700) < 0) {
        errs_add(e, path, 0, "cannot create: %s", strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < v->nfiles; i++) {
        snprintf(path, sizeof path, "%s/activities/%s", dir, v->files[i].name);
        if (fileio_write(path, v->files[i].data, v->files[i].len) < 0) {
            errs_add(e, path, 0, "cannot write: %s", strerror(errno));
            return -1;
        }
    }
    snprintf(path, sizeof path, "%s/%s", dir, CKV_PINS_FILE);
    if (v->pins != NULL && fileio_write(path, v->pins, v->pins_len) < 0) {
        errs_add(e, path, 0, "cannot write: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void ckv_free(ckv_version *v)
{
    for (size_t i = 0; i < v->nfiles; i++) {
        free(v->files[i].name);
        free(v->files[i].data);
    }
    free(v->files);
    free(v->pins);
    free(v->publisher);
    free(v->source);
    memset(v, 0, sizeof *v);
}
