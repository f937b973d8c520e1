/*
 * redis_uri.h -- "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]" as the
 * config center (center.c) and amsctl take it, and the same URI shown
 * without its credentials, which is the only form that may be logged.
 */
#ifndef AMS_CORE_REDIS_URI_H
#define AMS_CORE_REDIS_URI_H

#include <stddef.h>

typedef struct ruri {
    char *host; /* without the brackets of an IPv6 address */
    int port;   /* 6379 when not given */
    int db;     /* 0 when not given */
    char *user; /* NULL: none (AUTH with the password alone) */
    char *pass; /* NULL: no AUTH */
} ruri;

/* Parse uri into u (zeroed first; the caller ruri_free()s u in both
 * cases).  Returns 0, or -1 with *why a static text saying what is
 * wrong (never the URI itself: it may hold a password). */
int ruri_parse(const char *uri, ruri *u, const char **why);

/* Replace u's credentials with user (may be NULL) and pass, copied;
 * -1 when out of memory. */
int ruri_set_auth(ruri *u, const char *user, const char *pass);

/* "redis://HOST:PORT/DB" for messages: never the user or password. */
void ruri_display(const ruri *u, char *out, size_t len);

/* Free u's strings; the password is wiped first. */
void ruri_free(ruri *u);

#endif
