/*
 * signed.c -- signed callers: the header, the canonical string, the
 * verification and the nonce step (see signed.h).
 */
#include "signed.h"

#include "digest.h"
#include "http.h"
#include "text.h"

#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SCHEME_LEN (sizeof SIGNED_SCHEME - 1)

static int is_ws(char c)
{
    return c == ' ' || c == '\t';
}

int signed_is_scheme(const char *v)
{
    while (is_ws(*v))
        v++;
    return strncasecmp(v, SIGNED_SCHEME, SCHEME_LEN) == 0 &&
           (v[SCHEME_LEN] == '\0' || is_ws(v[SCHEME_LEN]));
}

static int nonce_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* One parameter's value (n bytes at v) into h; -1 with msg when it is
 * not what the parameter takes. */
static int take(signed_hdr *h, const char *name, const char *v, size_t n,
                char *msg, size_t msglen)
{
    if (strcmp(name, "app") == 0) {
        if (n <= CALLERS_APP_MAX) {
            memcpy(h->app, v, n);
            h->app[n] = '\0';
        }
        if (n > CALLERS_APP_MAX || !callers_app_ok(h->app)) {
            h->app[0] = '\0';
            snprintf(msg, msglen,
                     "app: not an app name (1..%d characters of a-z 0-9 _ "
                     ". -)",
                     CALLERS_APP_MAX);
            return -1;
        }
        return 0;
    }
    if (strcmp(name, "ts") == 0) {
        int64_t t = 0;
        if (n == 0 || n > SIGNED_TS_DIGITS) {
            snprintf(msg, msglen,
                     "ts: expected the time in seconds since the epoch "
                     "(1..%d digits)",
                     SIGNED_TS_DIGITS);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            if (v[i] < '0' || v[i] > '9') {
                snprintf(msg, msglen,
                         "ts: expected the time in seconds since the epoch "
                         "(digits only)");
                return -1;
            }
            t = t * 10 + (v[i] - '0');
        }
        memcpy(h->ts, v, n);
        h->ts[n] = '\0';
        h->ts_s = t;
        return 0;
    }
    if (strcmp(name, "nonce") == 0) {
        size_t i = 0;
        while (i < n && nonce_char(v[i]))
            i++;
        if (i != n || n < SIGNED_NONCE_MIN || n > SIGNED_NONCE_MAX) {
            snprintf(msg, msglen,
                     "nonce: expected %d..%d characters of A-Z a-z 0-9 - _ "
                     "(e.g. a random UUID)",
                     SIGNED_NONCE_MIN, SIGNED_NONCE_MAX);
            return -1;
        }
        memcpy(h->nonce, v, n);
        h->nonce[n] = '\0';
        return 0;
    }
    /* sig */
    if (n != 64 || callers_unhex(v, n, h->sig) < 0) {
        snprintf(msg, msglen,
                 "sig: expected 64 hex digits (an HMAC-SHA256 in hex)");
        return -1;
    }
    return 0;
}

int signed_parse(const char *value, signed_hdr *h, char *msg, size_t msglen)
{
    static const char *const names[] = {"app", "ts", "nonce", "sig"};
    const char *p = value;
    unsigned seen = 0;
    char inner[200];

    memset(h, 0, sizeof *h);
    while (is_ws(*p))
        p++;
    if (!signed_is_scheme(p)) {
        snprintf(msg, msglen, "Authorization: not of the %s scheme",
                 SIGNED_SCHEME);
        return -1;
    }
    p += SCHEME_LEN;
    for (;;) {
        const char *name, *eq, *v;
        size_t nlen, vlen;
        int k = -1;

        while (is_ws(*p))
            p++;
        if (*p == '\0')
            break;
        name = p;
        eq = p;
        while (*eq != '\0' && *eq != '=' && *eq != ',' && !is_ws(*eq))
            eq++;
        nlen = (size_t)(eq - name);
        for (int i = 0; i < 4; i++)
            if (strlen(names[i]) == nlen && memcmp(names[i], name, nlen) == 0)
                k = i;
        if (k < 0) {
            snprintf(msg, msglen,
                     "Authorization: malformed %s credentials: expected "
                     "app=, ts=, nonce=, sig= (comma-separated), found "
                     "\"%.*s\"",
                     SIGNED_SCHEME, (int)(nlen > 16 ? 16 : nlen), name);
            return -1;
        }
        if (*eq != '=') {
            snprintf(msg, msglen,
                     "Authorization: malformed %s credentials: %s without "
                     "\"=\"",
                     SIGNED_SCHEME, names[k]);
            return -1;
        }
        if (seen & (1u << k)) {
            snprintf(msg, msglen,
                     "Authorization: malformed %s credentials: %s= given "
                     "twice",
                     SIGNED_SCHEME, names[k]);
            return -1;
        }
        seen |= 1u << k;
        v = eq + 1;
        vlen = 0;
        while (v[vlen] != '\0' && v[vlen] != ',' && !is_ws(v[vlen]))
            vlen++;
        if (take(h, names[k], v, vlen, inner, sizeof inner) < 0) {
            snprintf(msg, msglen, "Authorization: %s", inner);
            return -1;
        }
        p = v + vlen;
        while (is_ws(*p))
            p++;
        if (*p == ',')
            p++;
        else if (*p != '\0') {
            snprintf(msg, msglen,
                     "Authorization: malformed %s credentials: expected "
                     "\",\" after %s=",
                     SIGNED_SCHEME, names[k]);
            return -1;
        }
    }
    for (int i = 0; i < 4; i++)
        if (!(seen & (1u << i))) {
            snprintf(msg, msglen,
                     "Authorization: malformed %s credentials: %s= missing",
                     SIGNED_SCHEME, names[i]);
            return -1;
        }
    return 0;
}

static int by_bytes(const void *a, const void *b)
{
    const char *const *x = a, *const *y = b;
    return strcmp(*x, *y);
}

/* The canonical query of query (see signed.h) into b. */
static int put_query(tbuf *b, const char *query)
{
    char *copy, **piece, *save = NULL, *tok;
    size_t n = 0, cap = 1;

    if (query == NULL || query[0] == '\0')
        return 0;
    for (const char *q = query; *q; q++)
        cap += *q == '&';
    copy = strdup(query);
    piece = malloc(cap * sizeof *piece);
    if (copy == NULL || piece == NULL) {
        free(copy);
        free(piece);
        return -1;
    }
    for (tok = strtok_r(copy, "&", &save); tok != NULL;
         tok = strtok_r(NULL, "&", &save))
        piece[n++] = tok;
    qsort(piece, n, sizeof *piece, by_bytes);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            tbuf_mem(b, "&", 1);
        tbuf_str(b, piece[i]);
    }
    free(piece);
    free(copy);
    return 0;
}

char *signed_canonical(const signed_hdr *h, const char *verb, const char *path,
                       const char *query, const void *body, size_t len)
{
    char hex[65], *out;
    size_t cap = 256 + strlen(path) + (query ? strlen(query) : 0);
    tbuf b;

    if (digest_sha256_hex(body != NULL ? body : "", len, NULL, 0, hex) < 0 ||
        (out = malloc(cap)) == NULL)
        return NULL;
    b = TBUF(out, cap);
    tbuf_str(&b, SIGNED_SCHEME "\n");
    tbuf_str(&b, h->app);
    tbuf_mem(&b, "\n", 1);
    tbuf_str(&b, verb);
    tbuf_mem(&b, "\n", 1);
    tbuf_str(&b, path);
    tbuf_mem(&b, "\n", 1);
    if (put_query(&b, query) < 0) {
        free(out);
        return NULL;
    }
    tbuf_mem(&b, "\n", 1);
    tbuf_str(&b, h->ts);
    tbuf_mem(&b, "\n", 1);
    tbuf_str(&b, h->nonce);
    tbuf_mem(&b, "\n", 1);
    tbuf_str(&b, hex);
    if (tbuf_end(&b) < 0) { /* cap holds every piece: never */
        free(out);
        return NULL;
    }
    return out;
}

signed_status signed_verify(const callers_table *t, const signed_hdr *h,
                            const char *text, int64_t now_s, int64_t window_s,
                            char *msg, size_t msglen)
{
    const callers_app *c = callers_find(t, h->app);
    unsigned char mac[32];
    unsigned int n;
    int match = 0;

    if (c == NULL) {
        snprintf(msg, msglen,
                 "Authorization: unknown app \"%s\" (not in signed_callers)",
                 h->app);
        return SIGNED_BAD;
    }
    /* Every secret is tried and compared, so the time taken says
     * nothing about which secret came close. */
    for (size_t k = 0; k < c->nkeys; k++) {
        n = 0;
        if (HMAC(EVP_sha256(), c->key[k].b, (int)c->key[k].n,
                 (const unsigned char *)text, strlen(text), mac, &n) == NULL ||
            n != sizeof mac)
            continue;
        match |= CRYPTO_memcmp(mac, h->sig, sizeof mac) == 0;
    }
    explicit_bzero(mac, sizeof mac);
    if (!match) {
        snprintf(msg, msglen,
                 "Authorization: the signature does not match the request "
                 "(app \"%s\"; see the canonical string in the operator "
                 "guide)",
                 h->app);
        return SIGNED_BAD;
    }
    if (h->ts_s < now_s - window_s || h->ts_s > now_s + window_s) {
        snprintf(
            msg, msglen,
            "Authorization: ts %lld is %lld s from the server's clock "
            "(%lld); at most %lld s are accepted",
            (long long)h->ts_s,
            (long long)(h->ts_s > now_s ? h->ts_s - now_s : now_s - h->ts_s),
            (long long)now_s, (long long)window_s);
        return SIGNED_STALE;
    }
    return SIGNED_OK;
}

/* The request's one Authorization header of our scheme: 1 found (*value
 * set), 0 none of ours (another scheme, or no header), -1 ours given
 * with another Authorization beside it. */
static int auth_header(struct evhttp_request *req, const char **value)
{
    struct evkeyvalq *hs = evhttp_request_get_input_headers(req);
    struct evkeyval *kv;
    int n = 0, ours = 0;

    *value = NULL;
    for (kv = hs->tqh_first; kv != NULL; kv = kv->next.tqe_next) {
        if (strcasecmp(kv->key, "Authorization") != 0)
            continue;
        n++;
        if (signed_is_scheme(kv->value)) {
            ours = 1;
            *value = kv->value;
        }
    }
    if (ours && n > 1)
        return -1;
    return ours;
}

static int refuse(int *status, const char **reason, int st, const char *why)
{
    *status = st;
    *reason = why;
    return -1;
}

int signed_gate(struct evhttp_request *req, const method *m,
                const cJSON *params, const conf *c, const void *body,
                size_t len, int64_t now_ms, signed_hdr *out, int *status,
                const char **reason, char *msg, size_t msglen)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *value;
    char *text;
    int found = auth_header(req, &value);
    signed_status st;

    memset(out, 0, sizeof *out);
    if (found < 0) {
        snprintf(msg, msglen, "Authorization: given more than once");
        return refuse(status, reason, 401, "bad_signature");
    }
    if (found == 0) {
        if (m->signed_only) {
            snprintf(msg, msglen,
                     "Authorization: method \"%s\" of activity %lld takes "
                     "only signed callers (%s app=..., ts=..., nonce=..., "
                     "sig=...)",
                     m->name, (long long)m->act->id, SIGNED_SCHEME);
            return refuse(status, reason, 401, "signature_required");
        }
        for (size_t i = 0; i < m->nsigned_params; i++)
            if (cJSON_GetObjectItemCaseSensitive(params,
                                                 m->signed_params[i])) {
                snprintf(msg, msglen,
                         "params.%s: accepted only from a signed caller "
                         "(Authorization: %s ...)",
                         m->signed_params[i], SIGNED_SCHEME);
                return refuse(status, reason, 403, "signed_param");
            }
        return 0;
    }
    if (signed_parse(value, out, msg, msglen) < 0) {
        memset(out, 0, sizeof *out);
        return refuse(status, reason, 401, "bad_signature");
    }
    text = signed_canonical(
        out, http_method_name(evhttp_request_get_command(req)),
        evhttp_uri_get_path(uri), evhttp_uri_get_query(uri), body, len);
    if (text == NULL) {
        memset(out, 0, sizeof *out);
        snprintf(msg, msglen, "no memory for another request; retry later");
        return refuse(status, reason, 503, "overloaded");
    }
    st = signed_verify(&c->callers, out, text, now_ms / 1000,
                       c->signed_window_s, msg, msglen);
    free(text);
    if (st == SIGNED_OK)
        return 0;
    memset(out, 0, sizeof *out);
    return refuse(status, reason, 401,
                  st == SIGNED_STALE ? "stale_request" : "bad_signature");
}

int signed_nonce_key(char *out, size_t outlen, const char *app,
                     const char *nonce)
{
    tbuf b = TBUF(out, outlen);

    /* A key space of its own: every key of the chain starts "{a" or
     * "{u" (svc_host_key, svc_crowd_key). */
    tbuf_str(&b, "sn:");
    tbuf_str(&b, app);
    tbuf_mem(&b, ":", 1);
    tbuf_str(&b, nonce);
    return tbuf_end(&b);
}

ams_status signed_nonce_claim(store *st, const signed_hdr *h, int64_t now_ms,
                              int64_t window_s)
{
    char key[STORE_KEY_MAX];
    store_wop op;
    store_wset set;
    store_wres res;
    ams_status s;

    if (signed_nonce_key(key, sizeof key, h->app, h->nonce) < 0)
        return AMS_ERR;
    /* A value created only if absent (CAS on version 0), expiring after
     * twice the window: a ts accepted now stays acceptable for one more
     * window, and the nonce outlives it. */
    memset(&op, 0, sizeof op);
    op.kind = STORE_W_CAS;
    op.key = key;
    op.version = 0;
    op.val = "1";
    op.len = 1;
    op.expire_at_ms = now_ms + 2 * window_s * 1000;
    set = (store_wset){&op, 1, now_ms};
    memset(&res, 0, sizeof res);
    s = store_commit(st, &set, 1, &res);
    if (s != AMS_OK)
        return AMS_ERR_STORE;
    return res.st == AMS_OK || res.st == AMS_CONFLICT ? res.st : AMS_ERR_STORE;
}
