/*
 * httpguard.h -- what an evhttp server does not do for itself against slow
 * and hostile clients, for both planes (the workers' data plane and the
 * master's admin plane):
 *
 *   - a header deadline and a body deadline that do not restart with each
 *     byte (evhttp's own timeout is an idle timer: one byte a second keeps
 *     a connection for ever), like nginx's client_header_timeout, except
 *     that the body deadline too counts from the end of the headers, not
 *     from the last read;
 *   - a cap on open connections: beyond it a new connection is answered a
 *     canned 503 at once and closed, before anything of it is read;
 *   - accept() back-off: when accept fails (EMFILE, ENFILE, ENOBUFS) the
 *     listener pauses for HTTPGUARD_PAUSE_MS instead of spinning on a
 *     socket that stays readable, and says so at most once per
 *     HTTPGUARD_LOG_EVERY_MS;
 *   - header forms that two parsers read two ways (request smuggling):
 *     obs-fold continuation lines, NUL or a bare CR in the header block,
 *     two Content-Length headers that differ, Transfer-Encoding together
 *     with Content-Length, and a Transfer-Encoding other than "chunked".
 *     libevent 2.1 accepts all of them (it joins a folded line to the one
 *     before, cuts a value at its NUL and takes the first Content-Length),
 *     so the raw bytes are watched as they arrive and the request is
 *     answered 400 (and its connection closed) when it reaches its handler.
 *
 * How it hooks in without libevent 2.2's per-request callbacks: the
 * guard makes each connection's bufferevent (evhttp_set_bevcb) and watches
 * its input buffer (evbuffer_add_cb); once evhttp has built the connection
 * (in the same loop turn), the guard finds it through the bufferevent's
 * callback argument and owns its close callback, which the gateway's
 * own bookkeeping chains to (httpguard_set_closecb).  A deadline closes a
 * connection by shutdown(): evhttp then sees end of file and frees the
 * connection along its own paths, exactly as when a client goes away.
 *
 * One event loop per process: the connection table is per process.
 */
#ifndef AMS_CORE_HTTPGUARD_H
#define AMS_CORE_HTTPGUARD_H

#include <event2/event.h>
#include <event2/http.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* Pause of the listener after a failed accept, and how often at most the
 * failure is logged. */
#define HTTPGUARD_PAUSE_MS 100
#define HTTPGUARD_LOG_EVERY_MS 10000

/* The limits; 0 turns one off.  Read live through the pointer given to
 * httpguard_new, so a reload that changes them in place applies to the
 * next connection or request. */
typedef struct httpguard_limits {
    int64_t header_timeout_ms; /* first byte (or accept) -> end of headers */
    int64_t body_timeout_ms;   /* end of headers -> whole body read */
    int64_t max_connections;   /* open connections of this server */
} httpguard_limits;

/* What a guard has done, since it was made. */
typedef struct httpguard_stats {
    uint64_t open;            /* connections open now */
    uint64_t header_timeouts; /* closed at the header deadline */
    uint64_t body_timeouts;   /* closed at the body deadline */
    uint64_t refused;         /* over max_connections: 503 and closed */
    uint64_t bad_headers;     /* answered 400 by httpguard_admit */
    uint64_t accept_errors;   /* accept() failures (each pauses) */
    uint64_t early_refused;   /* refused by the early check, body unread */
} httpguard_stats;

typedef struct httpguard httpguard;

/* Guard http, served on bound, with the limits at *lim (which must
 * outlive the guard).  name ("data plane", "admin plane") goes in log
 * lines.  NULL when out of memory.  The caller owns the guard and frees
 * it after evhttp_free(http) (whose connections' close callbacks are
 * the guard's). */
httpguard *httpguard_new(struct event_base *base, struct evhttp *http,
                         struct evhttp_bound_socket *bound,
                         const httpguard_limits *lim, const char *name);
void httpguard_free(httpguard *g);

/* Stop watching bound (before evhttp_del_accept_socket frees it). */
void httpguard_unbind(httpguard *g);

/* At the top of a request handler: stops the request's deadlines and
 * checks its headers.  Returns 0 to go on, or 1 when the request has
 * been answered (400 naming what is wrong, the connection closed after
 * it; or 503 on a connection over the cap) and the handler must not
 * touch it again. */
int httpguard_admit(struct evhttp_request *req);

/* evhttp_connection_set_closecb for code that serves a guarded
 * connection: the guard keeps the connection's own close callback and
 * calls cb(evcon, arg) from it.  Falls back to evhttp's when evcon is
 * not guarded. */
void httpguard_set_closecb(struct evhttp_connection *evcon,
                           void (*cb)(struct evhttp_connection *, void *),
                           void *arg);

/* Milliseconds since the headers of req were all read, or -1 when the
 * connection is not guarded.  Valid in the handler of req. */
int64_t httpguard_waited_ms(struct evhttp_request *req);

/* An early check of a request that has a body, made as soon as its
 * headers have arrived and before any of the body is read (so that an
 * unauthenticated client cannot make the server read a large upload):
 * method and target are the request line's, authorization the raw
 * Authorization header (NULL when absent), peer the client's address.
 * Returns 0 to go on, or the status to refuse with, having written the
 * answer's JSON body to body and its extra header lines (each ending in
 * CRLF, maybe none) to hdr: the guard writes that answer itself and
 * closes the connection.  NULL fn: none (the default). */
typedef int (*httpguard_early_fn)(void *ud, const char *method,
                                  const char *target,
                                  const char *authorization,
                                  const struct sockaddr *peer, char *body,
                                  size_t bodylen, char *hdr, size_t hdrlen);
void httpguard_set_early(httpguard *g, httpguard_early_fn fn, void *ud);

void httpguard_get_stats(const httpguard *g, httpguard_stats *out);

/* fn(plane, event) is called for every connection a guard of this
 * process closes or refuses (plane: the guard's name; event:
 * header_timeout, body_timeout, refused, bad_headers, accept_error,
 * early_refused), so that the layer holding the metrics can count them.
 * NULL: none (the default). */
void httpguard_set_counter(void (*fn)(const char *plane, const char *event));

#endif
