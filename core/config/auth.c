/*
 * auth.c -- admin tokens (see auth.h).
 */
#include "auth.h"

#include "digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const role_names[] = {"public", "viewer", "operator",
                                         "admin"};

int auth_role_parse(const char *s, admin_role *out)
{
    for (int r = ROLE_VIEWER; r <= ROLE_ADMIN; r++)
        if (strcmp(s, role_names[r]) == 0) {
            *out = (admin_role)r;
            return 0;
        }
    return -1;
}

const char *auth_role_name(admin_role r)
{
    return (unsigned)r <= ROLE_ADMIN ? role_names[r] : "?";
}

int auth_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

int auth_sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 0;

    if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) || n != 32)
        return -1;
    return 0;
}

int auth_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > AUTH_NAME_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.' || *s == '-'))
            return 0;
    return 1;
}

/* RFC 6750 b64token characters: what fits in "Bearer <token>" as is. */
static int token_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || strchr("-._~+/=", c) != NULL;
}

int auth_table_add(auth_table *t, const char *name, const char *token,
                   const char *role, const char *file, int line, errs *e)
{
    size_t before = e->nerrors, len = strlen(token);
    unsigned char digest[32];
    admin_role r = ROLE_PUBLIC;
    auth_token *grown;

    if (!auth_name_ok(name))
        errs_add(e, file, line,
                 "admin_tokens: name \"%s\" must be 1..%d "
                 "characters of a-z 0-9 _ . -",
                 name, AUTH_NAME_MAX);
    if (len < AUTH_TOKEN_MIN || len > AUTH_TOKEN_MAX)
        errs_add(e, file, line,
                 "admin_tokens: token of \"%s\" has %zu "
                 "characters; use %d..%d (e.g. openssl rand -hex 32)",
                 name, len, AUTH_TOKEN_MIN, AUTH_TOKEN_MAX);
    else
        for (size_t i = 0; i < len; i++)
            if (!token_char(token[i])) {
                errs_add(e, file, line,
                         "admin_tokens: token of \"%s\": "
                         "character %zu is not one of A-Z a-z 0-9 - . _ ~ "
                         "+ / =",
                         name, i + 1);
                break;
            }
    if (auth_role_parse(role, &r) < 0)
        errs_add(e, file, line,
                 "admin_tokens: role \"%s\" of \"%s\" is not "
                 "one of viewer, operator, admin",
                 role, name);
    if (auth_sha256(token, len, digest) < 0)
        errs_add(e, file, line,
                 "admin_tokens: cannot hash the token of "
                 "\"%s\" (OpenSSL)",
                 name);
    for (size_t i = 0; e->nerrors == before && i < t->n; i++) {
        if (strcmp(t->v[i].name, name) == 0)
            errs_add(e, file, line,
                     "admin_tokens: name \"%s\" is already "
                     "used at line %d",
                     name, t->v[i].line);
        else if (auth_equal(t->v[i].digest, digest, sizeof digest))
            errs_add(e, file, line,
                     "admin_tokens: the token of \"%s\" is "
                     "also the token of \"%s\" (line %d): each caller needs "
                     "a token of its own",
                     name, t->v[i].name, t->v[i].line);
    }
    if (e->nerrors > before)
        return -1;
    grown = realloc(t->v, (t->n + 1) * sizeof *t->v);
    if (grown == NULL) {
        errs_add(e, file, line, "admin_tokens: out of memory");
        return -1;
    }
    t->v = grown;
    t->v[t->n] = (auth_token){strdup(name), r, {0}, line};
    if (t->v[t->n].name == NULL) {
        errs_add(e, file, line, "admin_tokens: out of memory");
        return -1;
    }
    memcpy(t->v[t->n].digest, digest, sizeof digest);
    t->n++;
    return 0;
}

int auth_table_equal(const auth_table *a, const auth_table *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i].name, b->v[i].name) != 0 ||
            a->v[i].role != b->v[i].role ||
            memcmp(a->v[i].digest, b->v[i].digest, 32) != 0)
            return 0;
    return 1;
}

cJSON *auth_table_json(const auth_table *t)
{
    cJSON *arr = cJSON_CreateArray();

    for (size_t i = 0; arr != NULL && i < t->n; i++) {
        cJSON *o = cJSON_CreateObject();
        char hex[65];
        digest_hex(t->v[i].digest, hex);
        cJSON_AddStringToObject(o, "name", t->v[i].name);
        cJSON_AddStringToObject(o, "role", auth_role_name(t->v[i].role));
        cJSON_AddStringToObject(o, "sha256", hex);
        cJSON_AddNumberToObject(o, "line", t->v[i].line);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static int hex_digest(const char *s, unsigned char out[32])
{
    if (strlen(s) != 64)
        return -1;
    for (int k = 0; k < 32; k++) {
        unsigned v = 0;
        if (sscanf(s + 2 * k, "%2x", &v) != 1)
            return -1;
        out[k] = (unsigned char)v;
    }
    return 0;
}

int auth_table_from_json(auth_table *t, const cJSON *j)
{
    auth_table nt = {
        calloc((size_t)cJSON_GetArraySize(j) + 1, sizeof(auth_token)), 0};
    const cJSON *it;

    if (!cJSON_IsArray(j) || nt.v == NULL) {
        free(nt.v);
        return -1;
    }
    cJSON_ArrayForEach(it, j)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(it, "role");
        const cJSON *sha = cJSON_GetObjectItemCaseSensitive(it, "sha256");
        const cJSON *line = cJSON_GetObjectItemCaseSensitive(it, "line");
        auth_token *k = &nt.v[nt.n];

        if (!cJSON_IsString(name) || !cJSON_IsString(role) ||
            !cJSON_IsString(sha) ||
            auth_role_parse(role->valuestring, &k->role) < 0 ||
            hex_digest(sha->valuestring, k->digest) < 0 ||
            (k->name = strdup(name->valuestring)) == NULL) {
            auth_table_free(&nt);
            return -1;
        }
        k->line = cJSON_IsNumber(line) ? line->valueint : 0;
        nt.n++;
    }
    auth_table_free(t);
    *t = nt;
    return 0;
}

void auth_table_free(auth_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].name);
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

auth_status auth_check(const auth_table *t, const char *header,
                       const auth_token **who)
{
    unsigned char digest[32];
    const char *tok;
    size_t len, found = (size_t)-1;

    *who = NULL;
    if (header == NULL)
        return AUTH_MISSING;
    while (*header == ' ' || *header == '\t')
        header++;
    if (strncasecmp(header, "Bearer", 6) != 0 ||
        (header[6] != ' ' && header[6] != '\t'))
        return AUTH_MALFORMED;
    tok = header + 6;
    while (*tok == ' ' || *tok == '\t')
        tok++;
    len = strlen(tok);
    while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
        len--;
    if (len == 0)
        return AUTH_MALFORMED;
    if (auth_sha256(tok, len, digest) < 0)
        return AUTH_UNKNOWN;
    /* Every entry is compared, match or not, and each compare takes the
     * same time whatever the bytes: the time taken depends on the number
     * of tokens only.  (Tokens are unique, so at most one matches.) */
    for (size_t i = 0; i < t->n; i++)
        if (auth_equal(t->v[i].digest, digest, sizeof digest))
            found = i;
    if (found == (size_t)-1)
        return AUTH_UNKNOWN;
    *who = &t->v[found];
    return AUTH_OK;
}
