/*
 * listeners.c -- the listeners of amsd.conf and their identity, proxy and
 * CORS settings (listeners.h).
 */
#include "listeners.h"

#include "cfg.h"
#include "gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lis_auth lis_auth_parse(const char *s)
{
    static const char *const names[] = {"", "jwt", "gateway", "none", "body"};

    for (int i = 1; s != NULL && i < 5; i++)
        if (strcmp(s, names[i]) == 0)
            return (lis_auth)i;
    return LIS_AUTH_INHERIT;
}

const char *lis_auth_name(lis_auth a)
{
    static const char *const names[] = {"inherit", "jwt", "gateway", "none",
                                        "body"};
    return (unsigned)a < 5 ? names[a] : "?";
}

static void lis_clear(listener *l)
{
    free(l->listen);
    free(l->proxies);
    for (size_t i = 0; i < l->norigins; i++)
        free(l->origins[i]);
    free(l->origins);
    memset(l, 0, sizeof *l);
}

void lis_free(lis_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        lis_clear(&s->v[i]);
    free(s->v);
    lis_clear(&s->top);
    memset(s, 0, sizeof *s);
}

/* A deep copy of src into dst (zeroed).  -1 when out of memory. */
static int lis_copy(listener *dst, const listener *src)
{
    memset(dst, 0, sizeof *dst);
    *dst = *src;
    dst->listen = src->listen ? strdup(src->listen) : NULL;
    dst->proxies = src->nproxies ? malloc(src->nproxies * sizeof(cidr)) : NULL;
    dst->origins =
        src->norigins ? calloc(src->norigins, sizeof(char *)) : NULL;
    if ((src->listen && !dst->listen) || (src->nproxies && !dst->proxies) ||
        (src->norigins && !dst->origins)) {
        dst->norigins = 0;
        lis_clear(dst);
        return -1;
    }
    if (src->nproxies)
        memcpy(dst->proxies, src->proxies, src->nproxies * sizeof(cidr));
    for (size_t i = 0; i < src->norigins; i++)
        if ((dst->origins[i] = strdup(src->origins[i])) == NULL) {
            lis_clear(dst);
            return -1;
        }
    return 0;
}

/* An origin as a browser sends it: scheme://host[:port], nothing else. */
static int origin_ok(const char *s)
{
    const char *p = strstr(s, "://");
    size_t n = strlen(s);

    if (p == NULL || p == s || n > 256 || p[3] == '\0')
        return 0;
    for (const char *q = s; *q; q++)
        if (*q <= ' ' || *q > '~' || (q > p + 2 && *q == '/'))
            return 0;
    return 1;
}

static void read_proxies(const config_setting_t *g, const char *where,
                         const char *file, listener *l, errs *e)
{
    const config_setting_t *a =
        config_setting_get_member(g, "trusted_proxies");
    int n;

    if (a == NULL)
        return;
    if (!config_setting_is_array(a) && !config_setting_is_list(a)) {
        errs_add(e, file, cfg_line(a),
                 "%strusted_proxies: expected [\"10.0.0.0/8\", ...]", where);
        return;
    }
    n = config_setting_length(a);
    if (n > LIS_PROXIES_MAX) {
        errs_add(e, file, cfg_line(a), "%strusted_proxies: more than %d",
                 where, LIS_PROXIES_MAX);
        return;
    }
    free(l->proxies);
    l->nproxies = 0;
    l->proxies = n ? calloc((size_t)n, sizeof(cidr)) : NULL;
    for (int i = 0; i < n; i++) {
        const config_setting_t *it = config_setting_get_elem(a, (unsigned)i);
        const char *v = config_setting_get_string(it);
        int rc = v ? cidr_parse(v, &l->proxies[l->nproxies]) : -1;
        if (rc < 0)
            errs_add(e, file, cfg_line(it),
                     "%strusted_proxies: \"%s\" is not an address or "
                     "ADDRESS/BITS",
                     where, v ? v : "(not a string)");
        else {
            if (rc == 1)
                errs_warn(e, file, cfg_line(it),
                          "%strusted_proxies: \"%s\" has host bits set; "
                          "read as its network",
                          where, v);
            l->nproxies++;
        }
    }
}

static void read_origins(const config_setting_t *g, const char *where,
                         const char *file, listener *l, errs *e)
{
    const config_setting_t *a = config_setting_get_member(g, "cors_origins");
    int n;

    if (a == NULL)
        return;
    if (!config_setting_is_array(a) && !config_setting_is_list(a)) {
        errs_add(e, file, cfg_line(a),
                 "%scors_origins: expected [\"https://h5.example.com\", ...]",
                 where);
        return;
    }
    n = config_setting_length(a);
    if (n > LIS_ORIGINS_MAX) {
        errs_add(e, file, cfg_line(a), "%scors_origins: more than %d", where,
                 LIS_ORIGINS_MAX);
        return;
    }
    for (size_t i = 0; i < l->norigins; i++)
        free(l->origins[i]);
    free(l->origins);
    l->norigins = 0;
    l->any_origin = 0;
    l->origins = n ? calloc((size_t)n, sizeof(char *)) : NULL;
    for (int i = 0; i < n; i++) {
        const config_setting_t *it = config_setting_get_elem(a, (unsigned)i);
        const char *v = config_setting_get_string(it);
        if (v != NULL && strcmp(v, "*") == 0)
            l->any_origin = 1;
        else if (v == NULL || !origin_ok(v))
            errs_add(e, file, cfg_line(it),
                     "%scors_origins: \"%s\" is not \"*\" nor an origin "
                     "(scheme://host[:port], no path)",
                     where, v ? v : "(not a string)");
        else
            l->origins[l->norigins++] = strdup(v);
    }
}

/* auth, trusted_proxies, real_ip_header, cors_origins of group g into l
 * (what g does not say stays as it is). */
static void read_settings(const config_setting_t *g, const char *where,
                          const char *file, listener *l, errs *e)
{
    const char *v;

    if (cfg_str(g, "auth", 0, &v, file, e) > 0) {
        l->auth_line = cfg_line(config_setting_get_member(g, "auth"));
        l->auth = lis_auth_parse(v);
        if (l->auth == LIS_AUTH_INHERIT)
            errs_add(e, file, l->auth_line,
                     "%sauth: \"%s\" is not one of jwt, gateway, none, body",
                     where, v);
    }
    if (cfg_str(g, "real_ip_header", 0, &v, file, e) > 0) {
        if (strcasecmp(v, "X-Forwarded-For") == 0)
            l->real_ip = LIS_RIP_XFF;
        else if (strcasecmp(v, "Forwarded") == 0)
            l->real_ip = LIS_RIP_FORWARDED;
        else
            errs_add(e, file,
                     cfg_line(config_setting_get_member(g, "real_ip_header")),
                     "%sreal_ip_header: \"%s\" is not X-Forwarded-For or "
                     "Forwarded",
                     where, v);
    }
    read_proxies(g, where, file, l, e);
    read_origins(g, where, file, l, e);
}

void lis_read(const config_setting_t *root, const char *file, lis_set *s,
              errs *e)
{
    static const char *const allowed[] = {"listen",          "auth",
                                          "trusted_proxies", "real_ip_header",
                                          "cors_origins",    NULL};
    const config_setting_t *list =
        config_setting_get_member(root, "listeners");
    int n;

    memset(s, 0, sizeof *s);
    read_settings(root, "", file, &s->top, e);
    if (list == NULL)
        return;
    s->list_line = cfg_line(list);
    if (config_setting_get_member(root, "listen") != NULL)
        errs_add(e, file, s->list_line,
                 "listeners: given with listen; keep one (listen is the "
                 "single-listener form)");
    if (!config_setting_is_list(list) ||
        (n = config_setting_length(list)) == 0 || n > LIS_MAX) {
        errs_add(e, file, s->list_line,
                 "listeners: expected a list ( { listen = \"HOST:PORT\"; "
                 "... }, ... )");
        return;
    }
    s->v = calloc((size_t)n, sizeof *s->v);
    for (int i = 0; s->v != NULL && i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
        listener *l = &s->v[s->n];
        const char *addr = NULL;
        char where[32], host[256];
        int port;

        snprintf(where, sizeof where, "listeners[%d].", i);
        if (!config_setting_is_group(g)) {
            errs_add(e, file, cfg_line(g),
                     "listeners: expected groups { listen = ...; }");
            continue;
        }
        cfg_check_members(g, allowed, file, "listeners", e);
        if (lis_copy(l, &s->top) < 0)
            break;
        l->line = cfg_line(g);
        read_settings(g, where, file, l, e);
        if (cfg_str(g, "listen", 1, &addr, file, e) > 0 &&
            conf_split_addr(addr, host, sizeof host, &port) < 0)
            errs_add(e, file, l->line,
                     "%slisten: \"%s\" is not HOST:PORT with a port in "
                     "1..65535",
                     where, addr);
        l->listen = strdup(addr ? addr : "");
        s->n++;
    }
}

/* "listen 127.0.0.1:8080" or "listeners[1] (10.0.0.5:8090)". */
static void lis_name(const lis_set *s, size_t i, char *buf, size_t len)
{
    if (s->list_line == 0)
        snprintf(buf, len, "listener %s", s->v[i].listen);
    else
        snprintf(buf, len, "listeners[%zu] (%s)", i, s->v[i].listen);
}

int lis_finish(lis_set *s, const char *listen, int flag_listen,
               size_t njwt_keys, int gw_secret, const char *file, errs *e)
{
    size_t before = e->nerrors;

    if (s->list_line == 0) {
        /* The single-listener form, made anew from the top-level
         * settings each time (conf_finish may run again after a flag). */
        for (size_t i = 0; i < s->n; i++)
            lis_clear(&s->v[i]);
        free(s->v);
        s->n = 0;
        s->v = calloc(1, sizeof *s->v);
        if (s->v == NULL || lis_copy(&s->v[0], &s->top) < 0) {
            errs_add(e, file, 0, "listen: out of memory");
            return -1;
        }
        s->n = 1;
        free(s->v[0].listen);
        s->v[0].listen = strdup(listen);
    } else if (flag_listen && s->n > 0) {
        free(s->v[0].listen);
        s->v[0].listen = strdup(listen);
    }
    for (size_t i = 0; i < s->n; i++) {
        listener *l = &s->v[i];
        char name[300];
        int line = l->auth_line ? l->auth_line : l->line;

        lis_name(s, i, name, sizeof name);
        for (size_t k = 0; k < i; k++)
            if (l->listen && s->v[k].listen &&
                strcmp(l->listen, s->v[k].listen) == 0)
                errs_add(e, file, l->line, "%s: the address of listeners[%zu]",
                         name, k);
        if (l->auth == LIS_AUTH_INHERIT) {
            l->auth = LIS_AUTH_DEFAULT;
            if (njwt_keys == 0)
                errs_add(e, file, l->line,
                         "%s: auth is not set, so it is \"jwt\" (bearer "
                         "tokens), but jwt { } has no keys; configure "
                         "jwt keys, or set auth (\"gateway\", \"none\", or "
                         "\"body\" for the old, unchecked uid from the body)",
                         name);
        } else if (l->auth == LIS_AUTH_JWT && njwt_keys == 0) {
            errs_add(e, file, line,
                     "%s: auth = \"jwt\" needs jwt { } keys (jwks_file or "
                     "keys)",
                     name);
        }
        if (l->auth == LIS_AUTH_GATEWAY && !gw_secret)
            errs_add(e, file, line,
                     "%s: auth = \"gateway\" needs gateway_auth { "
                     "secret_file }",
                     name);
        if (l->auth == LIS_AUTH_GATEWAY && l->nproxies == 0)
            errs_add(e, file, line,
                     "%s: auth = \"gateway\" needs trusted_proxies (the "
                     "gateway's addresses)",
                     name);
        if (l->any_origin && l->auth != LIS_AUTH_NONE)
            errs_add(e, file, line,
                     "%s: cors_origins \"*\" is for anonymous listeners "
                     "only (auth = \"none\"); list the origins of the pages "
                     "that call it",
                     name);
        if (l->auth == LIS_AUTH_BODY)
            errs_warn(e, file, line,
                      "%s: auth = \"body\": the uid is taken from the "
                      "request body unchecked, so any client can act as any "
                      "user; use jwt or gateway in production",
                      name);
    }
    return e->nerrors > before ? -1 : 0;
}

static cJSON *lis_one_json(const listener *l)
{
    cJSON *j = cJSON_CreateObject();
    cJSON *p = cJSON_AddArrayToObject(j, "trusted_proxies");
    cJSON *o = cJSON_AddArrayToObject(j, "cors_origins");

    cJSON_AddStringToObject(j, "listen", l->listen ? l->listen : "");
    cJSON_AddStringToObject(j, "auth", lis_auth_name(l->auth));
    cJSON_AddNumberToObject(j, "real_ip", l->real_ip);
    for (size_t i = 0; p != NULL && i < l->nproxies; i++) {
        char base[CIDR_TEXT_MAX], buf[CIDR_TEXT_MAX + 8];
        unsigned bits = l->proxies[i].bits;
        int v4 = cidr_ip_is_v4(&l->proxies[i].base);
        cidr_ip_format(&l->proxies[i].base, base, sizeof base);
        snprintf(buf, sizeof buf, "%s/%u", base, v4 ? bits - 96 : bits);
        cJSON_AddItemToArray(p, cJSON_CreateString(buf));
    }
    if (l->any_origin)
        cJSON_AddItemToArray(o, cJSON_CreateString("*"));
    for (size_t i = 0; o != NULL && i < l->norigins; i++)
        cJSON_AddItemToArray(o, cJSON_CreateString(l->origins[i]));
    cJSON_AddNumberToObject(j, "line", l->line);
    return j;
}

cJSON *lis_json(const lis_set *s)
{
    cJSON *j = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(j, "v");

    for (size_t i = 0; arr != NULL && i < s->n; i++)
        cJSON_AddItemToArray(arr, lis_one_json(&s->v[i]));
    cJSON_AddNumberToObject(j, "list_line", s->list_line);
    return j;
}

static int lis_one_from_json(listener *l, const cJSON *j)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "listen"), *it;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "trusted_proxies");
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "cors_origins");
    int np = cJSON_GetArraySize(p), no = cJSON_GetArraySize(o);

    memset(l, 0, sizeof *l);
    l->listen = strdup(cJSON_IsString(v) ? v->valuestring : "");
    v = cJSON_GetObjectItemCaseSensitive(j, "auth");
    l->auth = lis_auth_parse(cJSON_IsString(v) ? v->valuestring : NULL);
    v = cJSON_GetObjectItemCaseSensitive(j, "real_ip");
    l->real_ip = cJSON_IsNumber(v) && v->valueint == LIS_RIP_FORWARDED
                     ? LIS_RIP_FORWARDED
                     : LIS_RIP_XFF;
    v = cJSON_GetObjectItemCaseSensitive(j, "line");
    l->line = cJSON_IsNumber(v) ? v->valueint : 0;
    l->proxies = np > 0 ? calloc((size_t)np, sizeof(cidr)) : NULL;
    l->origins = no > 0 ? calloc((size_t)no, sizeof(char *)) : NULL;
    if (l->listen == NULL || (np > 0 && !l->proxies) ||
        (no > 0 && !l->origins))
        return -1;
    cJSON_ArrayForEach(
        it, p) if (cJSON_IsString(it) &&
                   cidr_parse(it->valuestring, &l->proxies[l->nproxies]) >= 0)
        l->nproxies++;
    cJSON_ArrayForEach(it, o)
    {
        if (!cJSON_IsString(it))
            continue;
        if (strcmp(it->valuestring, "*") == 0)
            l->any_origin = 1;
        else if ((l->origins[l->norigins] = strdup(it->valuestring)) != NULL)
            l->norigins++;
    }
    return l->auth == LIS_AUTH_INHERIT ? -1 : 0;
}

int lis_from_json(lis_set *s, const cJSON *j)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "v"), *it;
    const cJSON *ll = cJSON_GetObjectItemCaseSensitive(j, "list_line");
    int n = cJSON_GetArraySize(arr);
    lis_set nw;

    memset(&nw, 0, sizeof nw);
    if (n <= 0 || (nw.v = calloc((size_t)n, sizeof *nw.v)) == NULL)
        return -1;
    cJSON_ArrayForEach(it, arr)
    {
        int rc = lis_one_from_json(&nw.v[nw.n], it);
        nw.n++;
        if (rc < 0) {
            lis_free(&nw);
            return -1;
        }
    }
    nw.list_line = cJSON_IsNumber(ll) ? ll->valueint : 0;
    lis_free(s);
    *s = nw;
    return 0;
}

int lis_same_addresses(const lis_set *a, const lis_set *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i].listen ? a->v[i].listen : "",
                   b->v[i].listen ? b->v[i].listen : "") != 0)
            return 0;
    return 1;
}

int lis_trusted(const listener *l, const cidr_ip *ip)
{
    for (size_t i = 0; i < l->nproxies; i++)
        if (cidr_contains(&l->proxies[i], ip))
            return 1;
    return 0;
}

int lis_origin_allowed(const listener *l, const char *origin)
{
    if (origin == NULL)
        return 0;
    for (size_t i = 0; i < l->norigins; i++)
        if (strcmp(l->origins[i], origin) == 0)
            return 1;
    return l->any_origin ? 2 : 0;
}

int lis_check_gen(const lis_set *s, size_t njwt_keys, int gw_secret,
                  const gen *g, errs *e)
{
    size_t before = e->nerrors;

    for (size_t a = 0; g != NULL && a < g->nacts; a++) {
        const activity *act = g->acts[a];
        for (size_t k = 0; k < act->nmethods; k++) {
            const method *m = &act->methods[k];
            lis_auth own = (lis_auth)m->auth;
            if (own == LIS_AUTH_BODY)
                errs_warn(e, act->file, m->line,
                          "method %s of activity %lld: auth = \"body\": the "
                          "uid is taken from the request body unchecked",
                          m->name, (long long)act->id);
            if (own == LIS_AUTH_JWT && njwt_keys == 0)
                errs_add(e, act->file, m->line,
                         "method %s: auth = \"jwt\" needs jwt { } keys in "
                         "amsd.conf",
                         m->name);
            if (own == LIS_AUTH_GATEWAY && !gw_secret)
                errs_add(e, act->file, m->line,
                         "method %s: auth = \"gateway\" needs gateway_auth "
                         "{ secret_file } in amsd.conf",
                         m->name);
            for (size_t i = 0; m->login && i < s->n; i++) {
                lis_auth eff = own ? own : s->v[i].auth;
                char name[300];
                if (eff != LIS_AUTH_NONE)
                    continue;
                lis_name(s, i, name, sizeof name);
                errs_add(e, act->file, m->line,
                         "method %s: login = true, but it is anonymous "
                         "(auth = \"none\") %s%s",
                         m->name, own ? "by its own auth" : "on ",
                         own ? "" : name);
                break;
            }
        }
    }
    return e->nerrors > before ? -1 : 0;
}
