/*
 * redis_uri.c -- parsing and showing Redis URIs (see redis_uri.h).
 */
#include "redis_uri.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The credentials before the last '@' (a password may hold '@' or ':';
 * the user is what precedes the first ':'). */
static int ruri_parse_auth(const char *p, const char *at, ruri *u,
                           const char **why)
{
    const char *colon = memchr(p, ':', (size_t)(at - p));

    if (colon == NULL) {
        u->pass = strndup(p, (size_t)(at - p));
    } else {
        if (colon > p && (u->user = strndup(p, (size_t)(colon - p))) == NULL) {
            *why = "out of memory";
            return -1;
        }
        u->pass = strndup(colon + 1, (size_t)(at - colon - 1));
    }
    if (u->pass == NULL) {
        *why = "out of memory";
        return -1;
    }
    if (u->pass[0] == '\0') {
        *why = "an empty password before '@'";
        return -1;
    }
    return 0;
}

/* ":PORT" and "/DB" after the host. */
static int ruri_parse_tail(const char *rest, ruri *u, const char **why)
{
    char *end;
    long v;

    if (*rest == ':') {
        errno = 0;
        v = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || errno != 0 || v < 1 || v > 65535 ||
            (*end != '\0' && *end != '/')) {
            *why = "the port is not 1..65535";
            return -1;
        }
        u->port = (int)v;
        rest = end;
    }
    if (*rest == '/' && rest[1] != '\0') {
        errno = 0;
        v = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || errno != 0 || v < 0 || v > 1000000 ||
            *end != '\0') {
            *why = "the database is not a number 0..1000000";
            return -1;
        }
        u->db = (int)v;
        return 0;
    }
    if (*rest == '/')
        rest++;
    if (*rest != '\0') {
        *why = "unexpected characters after the host";
        return -1;
    }
    return 0;
}

int ruri_parse(const char *uri, ruri *u, const char **why)
{
    const char *p, *at, *h, *hend, *rest;

    memset(u, 0, sizeof *u);
    u->port = 6379;
    if (strncmp(uri, "redis://", 8) != 0) {
        *why = "not a redis:// URI (redis://[[USER]:PASSWORD@]HOST[:PORT]"
               "[/DB])";
        return -1;
    }
    p = uri + 8;
    at = strrchr(p, '@');
    if (at != NULL) {
        if (ruri_parse_auth(p, at, u, why) < 0)
            return -1;
        p = at + 1;
    }
    if (*p == '[') {
        h = p + 1;
        hend = strchr(h, ']');
        if (hend == NULL) {
            *why = "an IPv6 host without its closing ']'";
            return -1;
        }
        rest = hend + 1;
    } else {
        h = p;
        hend = p + strcspn(p, ":/");
        rest = hend;
    }
    if (hend == h) {
        *why = "no host";
        return -1;
    }
    if ((u->host = strndup(h, (size_t)(hend - h))) == NULL) {
        *why = "out of memory";
        return -1;
    }
    return ruri_parse_tail(rest, u, why);
}

int ruri_set_auth(ruri *u, const char *user, const char *pass)
{
    char *nu = user ? strdup(user) : NULL, *np = pass ? strdup(pass) : NULL;

    if ((user && nu == NULL) || (pass && np == NULL)) {
        free(nu);
        free(np);
        return -1;
    }
    free(u->user);
    if (u->pass != NULL) {
        explicit_bzero(u->pass, strlen(u->pass));
        free(u->pass);
    }
    u->user = nu;
    u->pass = np;
    return 0;
}

void ruri_display(const ruri *u, char *out, size_t len)
{
    const char *h = u->host ? u->host : "?";

    snprintf(out, len,
             strchr(h, ':') ? "redis://[%s]:%d/%d" : "redis://%s:%d/%d", h,
             u->port, u->db);
}

void ruri_free(ruri *u)
{
    free(u->host);
    free(u->user);
    if (u->pass != NULL) {
        explicit_bzero(u->pass, strlen(u->pass));
        free(u->pass);
    }
    memset(u, 0, sizeof *u);
}
