/*
 * callers.c -- signed callers and their secrets (see callers.h).
 */
#include "callers.h"

#include "auth.h"
#include "cfg.h"
#include "fileio.h"
#include "text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

_Static_assert(CALLERS_APP_MAX == AUTH_NAME_MAX,
               "an app name is an admin-plane name (auth_name_ok)");

int callers_app_ok(const char *s)
{
    return auth_name_ok(s);
}

static void key_wipe(callers_key *k)
{
    if (k->b != NULL) {
        explicit_bzero(k->b, k->n);
        free(k->b);
    }
    k->b = NULL;
    k->n = 0;
}

void callers_free(callers_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        for (size_t k = 0; k < t->v[i].nkeys; k++)
            key_wipe(&t->v[i].key[k]);
        free(t->v[i].app);
    }
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

const callers_app *callers_find(const callers_table *t, const char *app)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i].app, app) == 0)
            return &t->v[i];
    return NULL;
}

/* The secret in the file at path (one line, the final newline not part
 * of it) into *k.  0, or -1 with the problem in e at file:line. */
static int read_secret(const char *path, const char *shown, callers_key *k,
                       const char *file, int line, errs *e)
{
    char *data = NULL;
    size_t len = 0;
    struct stat st;

    if (fileio_read(path, CALLERS_SECRET_MAX + 2, &data, &len) < 0) {
        errs_add(e, file, line, "signed_callers: secret file %s: %s", shown,
                 errno == EFBIG ? "longer than a secret may be"
                                : strerror(errno));
        return -1;
    }
    if (len > 0 && data[len - 1] == '\n')
        len--;
    if (len > 0 && data[len - 1] == '\r')
        len--;
    if (memchr(data, '\n', len) != NULL || memchr(data, '\0', len) != NULL)
        errs_add(e, file, line,
                 "signed_callers: secret file %s: holds more than one line "
                 "(a secret is one line)",
                 shown);
    else if (len < CALLERS_SECRET_MIN || len > CALLERS_SECRET_MAX)
        errs_add(e, file, line,
                 "signed_callers: secret file %s: %zu bytes; a secret is "
                 "%d..%d bytes (e.g. openssl rand -hex 32 > FILE)",
                 shown, len, CALLERS_SECRET_MIN, CALLERS_SECRET_MAX);
    else if (stat(path, &st) == 0 && (st.st_mode & S_IROTH))
        errs_warn(e, file, line,
                  "signed_callers: secret file %s can be read by every user "
                  "of the machine; chmod o-r it",
                  shown);
    if (len < CALLERS_SECRET_MIN || len > CALLERS_SECRET_MAX ||
        memchr(data, '\n', len) != NULL || memchr(data, '\0', len) != NULL) {
        explicit_bzero(data, len);
        free(data);
        return -1;
    }
    k->b = (unsigned char *)data; /* NUL-terminated beyond n: harmless */
    k->n = len;
    return 0;
}

/* One { app = ...; secret_files = [...]; } group into *c. */
static int read_caller(const config_setting_t *g, const char *file,
                       const callers_table *t, callers_app *c, errs *e)
{
    static const char *const allowed[] = {"app", "secret_files", NULL};
    const config_setting_t *files;
    const char *app = NULL;
    size_t before = e->nerrors;
    int line = cfg_line(g), n;

    memset(c, 0, sizeof *c);
    c->line = line;
    if (!config_setting_is_group(g)) {
        errs_add(e, file, line,
                 "signed_callers: expected groups { app = ...; "
                 "secret_files = [...]; }");
        return -1;
    }
    cfg_check_members(g, allowed, file, "signed_callers", e);
    if (cfg_str(g, "app", 1, &app, file, e) > 0) {
        const callers_app *prev = callers_find(t, app);
        if (!callers_app_ok(app))
            errs_add(e, file, line,
                     "signed_callers: app \"%s\" must be 1..%d characters "
                     "of a-z 0-9 _ . -",
                     app, CALLERS_APP_MAX);
        else if (prev != NULL)
            errs_add(e, file, line,
                     "signed_callers: app \"%s\" is already configured at "
                     "line %d",
                     app, prev->line);
    }
    files = config_setting_get_member(g, "secret_files");
    n = files != NULL ? config_setting_length(files) : 0;
    if (files == NULL)
        errs_add(e, file, line,
                 "signed_callers: secret_files: missing "
                 "(required: one or two files)");
    else if (!config_setting_is_array(files) || n < 1 || n > CALLERS_KEYS_MAX)
        errs_add(e, file, cfg_line(files),
                 "signed_callers: secret_files: expected an array of one or "
                 "two file names [\"...\", \"...\"] (two while a secret is "
                 "rotated)");
    for (int i = 0; e->nerrors == before && i < n; i++) {
        const char *p = config_setting_get_string_elem(files, (unsigned)i);
        char *path = p ? cfg_resolve(file, p) : NULL;

        if (p == NULL)
            errs_add(e, file, cfg_line(files),
                     "signed_callers: secret_files: expected strings");
        else if (path == NULL)
            errs_add(e, file, line, "signed_callers: out of memory");
        else if (i == 1 &&
                 strcmp(p, config_setting_get_string_elem(files, 0)) == 0)
            errs_add(e, file, cfg_line(files),
                     "signed_callers: secret_files: %s is listed twice", p);
        else if (read_secret(path, p, &c->key[i], file, cfg_line(files), e) ==
                 0)
            c->nkeys++;
        free(path);
    }
    if (e->nerrors == before && c->nkeys == 2 && c->key[0].n == c->key[1].n &&
        memcmp(c->key[0].b, c->key[1].b, c->key[0].n) == 0)
        errs_add(e, file, cfg_line(files),
                 "signed_callers: the two secret files of \"%s\" hold the "
                 "same secret",
                 app);
    if (e->nerrors == before && (c->app = strdup(app)) == NULL)
        errs_add(e, file, line, "signed_callers: out of memory");
    if (e->nerrors > before) {
        for (size_t k = 0; k < CALLERS_KEYS_MAX; k++)
            key_wipe(&c->key[k]);
        c->nkeys = 0;
        free(c->app);
        c->app = NULL;
        return -1;
    }
    return 0;
}

/* Whether another app already holds one of c's secrets: each callers_app
 * needs secrets of its own, or a signature would not say who signed. */
static const callers_app *shares_secret(const callers_table *t,
                                        const callers_app *c)
{
    for (size_t i = 0; i < t->n; i++)
        for (size_t a = 0; a < t->v[i].nkeys; a++)
            for (size_t b = 0; b < c->nkeys; b++)
                if (t->v[i].key[a].n == c->key[b].n &&
                    memcmp(t->v[i].key[a].b, c->key[b].b, c->key[b].n) == 0)
                    return &t->v[i];
    return NULL;
}

void callers_read(const config_setting_t *list, const char *file,
                  callers_table *t, errs *e)
{
    callers_table nt = {0};
    int n;

    if (list == NULL)
        return;
    if (!config_setting_is_list(list)) {
        errs_add(e, file, cfg_line(list),
                 "signed_callers: expected a list ( { app = ...; "
                 "secret_files = [...]; }, ... )");
        return;
    }
    n = config_setting_length(list);
    nt.v = calloc((size_t)n + 1, sizeof *nt.v);
    if (nt.v == NULL) {
        errs_add(e, file, cfg_line(list), "signed_callers: out of memory");
        return;
    }
    for (int i = 0; i < n; i++) {
        callers_app c;
        const callers_app *other;

        if (read_caller(config_setting_get_elem(list, (unsigned)i), file, &nt,
                        &c, e) < 0)
            continue;
        if ((other = shares_secret(&nt, &c)) != NULL) {
            errs_add(e, file, c.line,
                     "signed_callers: a secret of \"%s\" is also a secret of "
                     "\"%s\" (line %d): each app needs secrets of its own",
                     c.app, other->app, other->line);
            nt.v[nt.n++] = c; /* freed with the rest */
            continue;
        }
        nt.v[nt.n++] = c;
    }
    callers_free(t);
    *t = nt;
}

cJSON *callers_json(const callers_table *t)
{
    cJSON *arr = cJSON_CreateArray();

    for (size_t i = 0; arr != NULL && i < t->n; i++) {
        cJSON *o = cJSON_CreateObject(), *keys = cJSON_CreateArray();
        cJSON_AddStringToObject(o, "app", t->v[i].app);
        cJSON_AddNumberToObject(o, "line", t->v[i].line);
        for (size_t k = 0; k < t->v[i].nkeys; k++) {
            const callers_key *key = &t->v[i].key[k];
            char *hex = malloc(2 * key->n + 1);
            static const char digits[] = "0123456789abcdef";
            if (hex == NULL)
                continue;
            for (size_t b = 0; b < key->n; b++) {
                hex[2 * b] = digits[key->b[b] >> 4];
                hex[2 * b + 1] = digits[key->b[b] & 15];
            }
            hex[2 * key->n] = '\0';
            cJSON_AddItemToArray(keys, cJSON_CreateString(hex));
            explicit_bzero(hex, 2 * key->n);
            free(hex);
        }
        cJSON_AddItemToObject(o, "keys", keys);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

int callers_unhex(const char *s, size_t n, unsigned char *out)
{
    if (n % 2 != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (v < 0)
            return -1;
        if (i % 2 == 0)
            out[i / 2] = (unsigned char)(v << 4);
        else
            out[i / 2] |= (unsigned char)v;
    }
    return 0;
}

/* One callers_app of callers_json's array into *c; -1 when malformed. */
static int caller_from_json(const cJSON *it, callers_app *c)
{
    const cJSON *app = cJSON_GetObjectItemCaseSensitive(it, "app");
    const cJSON *line = cJSON_GetObjectItemCaseSensitive(it, "line");
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(it, "keys"), *k;

    memset(c, 0, sizeof *c);
    if (!cJSON_IsString(app) || !cJSON_IsArray(keys) ||
        cJSON_GetArraySize(keys) < 1 ||
        cJSON_GetArraySize(keys) > CALLERS_KEYS_MAX ||
        (c->app = strdup(app->valuestring)) == NULL)
        return -1;
    c->line = cJSON_IsNumber(line) ? line->valueint : 0;
    cJSON_ArrayForEach(k, keys)
    {
        callers_key *key = &c->key[c->nkeys];
        size_t n = cJSON_IsString(k) ? strlen(k->valuestring) : 0;
        if (n == 0 || (key->b = malloc(n / 2 + 1)) == NULL ||
            callers_unhex(k->valuestring, n, key->b) < 0) {
            free(key->b);
            key->b = NULL;
            return -1;
        }
        key->n = n / 2;
        c->nkeys++;
    }
    return 0;
}

int callers_from_json(callers_table *t, const cJSON *j)
{
    callers_table nt = {0};
    const cJSON *it;

    if (!cJSON_IsArray(j) || (nt.v = calloc((size_t)cJSON_GetArraySize(j) + 1,
                                            sizeof *nt.v)) == NULL)
        return -1;
    cJSON_ArrayForEach(it, j)
    {
        int bad = caller_from_json(it, &nt.v[nt.n]);
        nt.n++; /* freed with the rest, even half built */
        if (bad) {
            callers_free(&nt);
            return -1;
        }
    }
    callers_free(t);
    *t = nt;
    return 0;
}

void callers_params_free(char **params, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(params[i]);
    free(params);
}

void callers_method_read(const config_setting_t *g, int *signed_only,
                         char ***params, size_t *nparams, const char *file,
                         errs *e)
{
    const config_setting_t *l = config_setting_get_member(g, "signed_params");
    int n;

    cfg_bool(g, "signed", 0, signed_only, file, e);
    *params = NULL;
    *nparams = 0;
    if (l == NULL)
        return;
    n = config_setting_length(l);
    if (!config_setting_is_array(l) ||
        (n > 0 && config_setting_type(config_setting_get_elem(l, 0)) !=
                      CONFIG_TYPE_STRING)) {
        errs_add(e, file, cfg_line(l),
                 "signed_params: expected an array of param names "
                 "[\"amount\", ...]");
        return;
    }
    *params = calloc((size_t)n + 1, sizeof **params);
    if (*params == NULL) {
        errs_add(e, file, cfg_line(l), "signed_params: out of memory");
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *p = config_setting_get_string_elem(l, (unsigned)i);
        int dup = 0;
        for (size_t k = 0; k < *nparams; k++)
            dup |= strcmp((*params)[k], p) == 0;
        if (!text_is_token(p, 1, 64))
            errs_add(e, file, cfg_line(l),
                     "signed_params: \"%s\" is not a param name (1..64 "
                     "printable characters without spaces)",
                     p);
        else if (dup)
            errs_add(e, file, cfg_line(l),
                     "signed_params: \"%s\" is listed twice", p);
        else if (((*params)[*nparams] = strdup(p)) != NULL)
            (*nparams)++;
    }
}
