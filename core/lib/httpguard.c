/*
 * httpguard.c -- deadlines, a connection cap, accept back-off and header
 * checks around an evhttp server (see httpguard.h for why and how).
 */
#include "httpguard.h"

#include "clock.h"
#include "http.h"
#include "log.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>

enum hg_state {
    HG_HEADER,  /* reading a request's headers: the header deadline runs */
    HG_BODY,    /* reading its body: the body deadline runs */
    HG_HANDLER, /* handed to the handler, or between requests: no deadline */
    HG_CLOSING  /* refused or past a deadline: shut down, evhttp frees it */
};

/* What the early check needs of the header block (httpguard_early_fn):
 * only for guards that have one. */
typedef struct hg_early {
    char line[640]; /* the header line being read, cut at its size */
    size_t len;
    char auth[512];    /* the Authorization value, "" when none */
    char reqline[640]; /* the request line */
    unsigned has_auth : 1, has_body : 1;
} hg_early;

typedef struct hg_conn {
    httpguard *g;
    struct bufferevent *bev;
    struct evhttp_connection *evcon;
    int fd;
    enum hg_state state;
    struct event timer; /* the deadline of the state */
    struct evbuffer_cb_entry *watch;
    /* The scanner of the header block (scan()). */
    size_t pos;    /* input bytes already scanned or passed over */
    unsigned line; /* 0: the request line; then header lines */
    unsigned started : 1, bol : 1, blank : 1, cr : 1;
    int64_t headers_ms; /* clock_mono_ms when the headers were all read */
    char bad[96];       /* why the request is refused, "" when it is not */
    hg_early *early;    /* NULL without an early check */
    void (*user_cb)(struct evhttp_connection *, void *);
    void *user_arg;
    struct hg_conn *next; /* in the table, or the pending list */
} hg_conn;

struct httpguard {
    struct event_base *base;
    struct evhttp *http;
    struct evconnlistener *lev;
    const httpguard_limits *lim;
    const char *name;
    hg_conn *pending; /* made by on_bev, not yet attached (on_attach) */
    httpguard_early_fn early;
    void *early_ud;
    struct event *attach_ev, *resume_ev;
    httpguard_stats st;
    /* Rate limit of the log lines of failures that can come in floods. */
    int64_t accept_logged_ms, refuse_logged_ms, early_logged_ms;
    uint64_t accept_unlogged, refuse_unlogged, early_unlogged;
    /* Common timeouts (O(1) queues): one per duration in use. */
    int64_t header_ms, body_ms;
    const struct timeval *header_tv, *body_tv;
};

/* Where the process counts what its guards do (httpguard_set_counter):
 * metrics live above this layer, so they are handed down as a hook. */
static void (*counter_fn)(const char *plane, const char *event);

void httpguard_set_counter(void (*fn)(const char *plane, const char *event))
{
    counter_fn = fn;
}

static void counted(const httpguard *g, const char *event)
{
    if (counter_fn != NULL)
        counter_fn(g->name, event);
}

/* ---- the process's connections, by evhttp_connection ---- */

#define HG_BUCKETS 4096
static hg_conn *table[HG_BUCKETS];

static size_t bucket(const struct evhttp_connection *evcon)
{
    uintptr_t p = (uintptr_t)evcon;
    return (size_t)((p >> 4) ^ (p >> 16)) % HG_BUCKETS;
}

static hg_conn *table_find(const struct evhttp_connection *evcon)
{
    hg_conn *c;

    for (c = table[bucket(evcon)]; c != NULL; c = c->next)
        if (c->evcon == evcon)
            return c;
    return NULL;
}

static void table_remove(hg_conn *c)
{
    hg_conn **pp;

    for (pp = &table[bucket(c->evcon)]; *pp != NULL; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            return;
        }
}

/* The guards of the process, for the listener's error callback (whose
 * argument is evhttp's, not ours). */
#define HG_GUARDS 8
static httpguard *guards[HG_GUARDS];

/* ---- deadlines ---- */

/* The common timeout of ms, made again when the setting changed. */
static const struct timeval *common_tv(httpguard *g, int64_t ms,
                                       int64_t *cached_ms,
                                       const struct timeval **cached)
{
    if (*cached == NULL || *cached_ms != ms) {
        struct timeval tv = {(time_t)(ms / 1000),
                             (suseconds_t)(ms % 1000) * 1000};
        const struct timeval *ct =
            event_base_init_common_timeout(g->base, &tv);
        *cached = ct != NULL ? ct : NULL;
        *cached_ms = ms;
        if (ct == NULL)
            return NULL;
    }
    return *cached;
}

static void arm(hg_conn *c, enum hg_state state)
{
    httpguard *g = c->g;
    int64_t ms = state == HG_HEADER ? g->lim->header_timeout_ms
                                    : g->lim->body_timeout_ms;
    const struct timeval *tv;
    struct timeval plain;

    c->state = state;
    event_del(&c->timer);
    if (ms <= 0)
        return;
    tv = state == HG_HEADER ? common_tv(g, ms, &g->header_ms, &g->header_tv)
                            : common_tv(g, ms, &g->body_ms, &g->body_tv);
    if (tv == NULL) {
        plain.tv_sec = (time_t)(ms / 1000);
        plain.tv_usec = (suseconds_t)(ms % 1000) * 1000;
        tv = &plain;
    }
    event_add(&c->timer, tv);
}

/* Close c along evhttp's own paths: it reads end of file and frees the
 * connection (and calls on_close) as when a client goes away. */
static void shut(hg_conn *c)
{
    c->state = HG_CLOSING;
    event_del(&c->timer);
    if (c->fd >= 0)
        shutdown(c->fd, SHUT_RDWR);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    hg_conn *c = arg;

    (void)fd;
    (void)what;
    if (c->state == HG_HEADER) {
        c->g->st.header_timeouts++;
        counted(c->g, "header_timeout");
    } else if (c->state == HG_BODY) {
        c->g->st.body_timeouts++;
        counted(c->g, "body_timeout");
    } else {
        return;
    }
    log_debug("%s: connection closed: its %s took longer than %lld ms",
              c->g->name, c->state == HG_HEADER ? "headers" : "body",
              (long long)(c->state == HG_HEADER ? c->g->lim->header_timeout_ms
                                                : c->g->lim->body_timeout_ms));
    shut(c);
}

/* ---- the header block, byte by byte as it arrives ---- */

static void set_bad(hg_conn *c, const char *what)
{
    if (c->bad[0] == '\0')
        snprintf(c->bad, sizeof c->bad, "header line %u: %s", c->line, what);
}

/* A whole header line (early check): note Authorization and a body. */
static void early_line(hg_early *e)
{
    static const char auth[] = "authorization:", cl[] = "content-length:",
                      te[] = "transfer-encoding:";
    size_t n = e->len < sizeof e->line ? e->len : sizeof e->line - 1;
    char *v;

    while (n > 0 && strchr(" \t\r", e->line[n - 1]) != NULL)
        n--;
    e->line[n] = '\0';
    e->len = 0;
    if (strncasecmp(e->line, auth, sizeof auth - 1) == 0) {
        v = e->line + sizeof auth - 1;
        v += strspn(v, " \t");
        snprintf(e->auth, sizeof e->auth, "%s", v);
        e->has_auth = 1;
    } else if (strncasecmp(e->line, cl, sizeof cl - 1) == 0) {
        v = e->line + sizeof cl - 1;
        e->has_body |= strtoll(v, NULL, 10) != 0;
    } else if (strncasecmp(e->line, te, sizeof te - 1) == 0) {
        e->has_body = 1;
    }
}

/* One byte of a request's head; 1 at the blank line that ends it. */
static int step(hg_conn *c, unsigned char ch)
{
    if (!c->started) {
        if (ch == '\r' || ch == '\n')
            return 0; /* empty lines before a request line are skipped */
        c->started = 1;
    }
    if (c->early != NULL && ch != '\n' &&
        c->early->len < sizeof c->early->line)
        c->early->line[c->early->len++] = (char)ch;
    if (ch == '\n') {
        if (c->blank && c->line > 0)
            return 1;
        if (c->early != NULL) {
            hg_early *e = c->early;
            if (c->line > 0) {
                early_line(e);
            } else {
                size_t n = e->len < sizeof e->line ? e->len : 0;
                if (n > 0 && e->line[n - 1] == '\r')
                    n--;
                snprintf(e->reqline, sizeof e->reqline, "%.*s", (int)n,
                         e->line);
            }
            e->len = 0;
        }
        c->line++;
        c->bol = 1;
        c->blank = 1;
        c->cr = 0;
        return 0;
    }
    if (c->cr)
        set_bad(c, "a CR not followed by LF");
    if (ch == '\r') {
        c->cr = 1;
        return 0;
    }
    if (ch == '\0')
        set_bad(c, "NUL is not allowed in a header");
    else if (c->bol && c->line > 0 && (ch == ' ' || ch == '\t'))
        set_bad(c, "folded (obs-fold) header lines are not accepted");
    c->bol = 0;
    c->blank = 0;
    return 0;
}

static void begin_request(hg_conn *c)
{
    c->pos = 0;
    c->line = 0;
    c->started = c->bol = c->blank = c->cr = 0;
    c->bad[0] = '\0';
    c->headers_ms = 0;
    if (c->early != NULL)
        memset(c->early, 0, sizeof *c->early);
    arm(c, HG_HEADER);
}

static int log_due(int64_t *last_ms, uint64_t *unlogged);
static void answer_now(hg_conn *c, int status, const char *extra_header,
                       const char *body);

/* The early check of a request with a body (httpguard_early_fn): 1 when
 * it refused the request (answered, connection shut). */
static int early(hg_conn *c)
{
    httpguard *g = c->g;
    hg_early *e = c->early;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char body[512] = "{}", hdr[160] = "", *target, *sp;
    int st;

    if (g->early == NULL ||
        getpeername(c->fd, (struct sockaddr *)&ss, &sl) < 0 ||
        (target = strchr(e->reqline, ' ')) == NULL)
        return 0; /* the handler will decide */
    *target++ = '\0';
    if ((sp = strchr(target, ' ')) != NULL)
        *sp = '\0';
    st =
        g->early(g->early_ud, e->reqline, target, e->has_auth ? e->auth : NULL,
                 (struct sockaddr *)&ss, body, sizeof body, hdr, sizeof hdr);
    if (st == 0)
        return 0;
    g->st.early_refused++;
    counted(g, "early_refused");
    if (log_due(&g->early_logged_ms, &g->early_unlogged)) {
        log_warn("%s: %s %s with a body refused (%d) before it was read "
                 "(%llu such since the last message)",
                 g->name, e->reqline, target, st,
                 (unsigned long long)g->early_unlogged);
        g->early_unlogged = 0;
    }
    answer_now(c, st, hdr, body);
    return 1;
}

static void scan(hg_conn *c, struct evbuffer *buf, size_t len)
{
    while (c->state == HG_HEADER && c->pos < len) {
        struct evbuffer_ptr p;
        struct evbuffer_iovec v;
        const unsigned char *b;
        size_t i;

        if (evbuffer_ptr_set(buf, &p, c->pos, EVBUFFER_PTR_SET) < 0 ||
            evbuffer_peek(buf, -1, &p, &v, 1) < 1 || v.iov_len == 0)
            return;
        b = v.iov_base;
        for (i = 0; i < v.iov_len; i++)
            if (step(c, b[i])) {
                c->headers_ms = clock_mono_ms();
                arm(c, HG_BODY);
                if (c->early != NULL && c->early->has_body && early(c))
                    return;
                c->pos = len; /* the body is evhttp's to bound */
                return;
            }
        c->pos += v.iov_len;
    }
    if (c->state != HG_HEADER)
        c->pos = len;
}

/* The input buffer changed: bytes came from the socket, or evhttp
 * consumed some from the front. */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info,
                     void *arg)
{
    hg_conn *c = arg;
    size_t len = evbuffer_get_length(buf);

    c->pos = c->pos > info->n_deleted ? c->pos - info->n_deleted : 0;
    if (c->state == HG_CLOSING)
        return;
    if (c->state == HG_HANDLER) {
        /* Reading starts again only for the next request (evhttp reads
         * nothing while one is answered): its deadline starts now. */
        if (len == 0)
            return;
        begin_request(c);
    }
    if (c->state == HG_HEADER)
        scan(c, buf, len);
    else
        c->pos = len;
}

/* ---- connections: made, attached, refused, closed ---- */

static void on_close(struct evhttp_connection *evcon, void *arg)
{
    hg_conn *c = arg;
    httpguard *g = c->g;

    if (c->user_cb != NULL)
        c->user_cb(evcon, c->user_arg);
    table_remove(c);
    event_del(&c->timer);
    if (c->watch != NULL)
        evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->watch);
    g->st.open--;
    free(c->early);
    free(c);
}

/* One log line per HTTPGUARD_LOG_EVERY_MS at most, saying how many it
 * stands for. */
static int log_due(int64_t *last_ms, uint64_t *unlogged)
{
    int64_t now = clock_mono_ms();

    ++*unlogged;
    if (*last_ms != 0 && now - *last_ms < HTTPGUARD_LOG_EVERY_MS)
        return 0;
    *last_ms = now;
    return 1;
}

/* A canned answer written straight to the socket, outside evhttp (which
 * has not read the request), then the connection shut.  What the client
 * sent so far is discarded, so that closing does not reset the connection
 * under the answer. */
static void answer_now(hg_conn *c, int status, const char *extra_header,
                       const char *body)
{
    char out[1024], junk[4096];
    int n = snprintf(out, sizeof out,
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: application/json\r\n"
                     "%s"
                     "Connection: close\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     status,
                     status == 503   ? "Service Unavailable"
                     : status == 401 ? "Unauthorized"
                                     : "Forbidden",
                     extra_header, strlen(body), body);
    size_t got = 0;
    ssize_t r;

    if (n > 0 && (size_t)n < sizeof out &&
        send(c->fd, out, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        log_debug("%s: canned %d: %s", c->g->name, status, strerror(errno));
    while (got < 65536 &&
           (r = recv(c->fd, junk, sizeof junk, MSG_DONTWAIT)) > 0)
        got += (size_t)r;
    shut(c);
}

/* Over the cap: a canned 503, nothing of the request read. */
static void refuse(hg_conn *c)
{
    httpguard *g = c->g;

    g->st.refused++;
    counted(g, "refused");
    if (log_due(&g->refuse_logged_ms, &g->refuse_unlogged)) {
        log_warn("%s: %lld connections open (max_connections): new ones "
                 "are answered 503 (%llu refused since the last message)",
                 g->name, (long long)g->lim->max_connections,
                 (unsigned long long)g->refuse_unlogged);
        g->refuse_unlogged = 0;
    }
    answer_now(c, 503, "Retry-After: 1\r\n",
               "{\"code\":503,\"reason\":\"overloaded\",\"message\":\"too "
               "many open connections; retry later\"}");
}

/* Connections evhttp has built since the last turn: found through their
 * bufferevent's callback argument (evhttp's connection), given the
 * guard's close callback and input watch, their header deadline started
 * (the first request's counts from accept) -- or refused over the cap. */
static void on_attach(evutil_socket_t fd, short what, void *arg)
{
    httpguard *g = arg;
    hg_conn *c;

    (void)fd;
    (void)what;
    while ((c = g->pending) != NULL) {
        bufferevent_data_cb rcb = NULL;
        void *cbarg = NULL;

        g->pending = c->next;
        bufferevent_getcb(c->bev, &rcb, NULL, NULL, &cbarg);
        if (rcb == NULL || cbarg == NULL) {
            /* evhttp gave it up already (bufferevent_free unsets the
             * callbacks); the reference held it till now. */
            bufferevent_decref(c->bev);
            g->st.open--;
            free(c);
            continue;
        }
        c->evcon = cbarg;
        c->fd = bufferevent_getfd(c->bev);
        c->next = table[bucket(c->evcon)];
        table[bucket(c->evcon)] = c;
        event_assign(&c->timer, g->base, -1, 0, on_deadline, c);
        evhttp_connection_set_closecb(c->evcon, on_close, c);
        c->watch = evbuffer_add_cb(bufferevent_get_input(c->bev), on_input, c);
        bufferevent_decref(c->bev); /* evhttp's reference remains */
        if (g->early != NULL)
            c->early = calloc(1, sizeof *c->early); /* NULL: no early check */
        if (g->lim->max_connections > 0 &&
            g->st.open > (uint64_t)g->lim->max_connections)
            refuse(c);
        else
            begin_request(c);
    }
}

/* evhttp's bufferevent maker (evhttp_set_bevcb): called inside accept,
 * before evhttp has the connection that will own the bufferevent. */
static struct bufferevent *on_bev(struct event_base *base, void *arg)
{
    httpguard *g = arg;
    struct bufferevent *bev =
        bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    hg_conn *c = bev ? calloc(1, sizeof *c) : NULL;

    if (c == NULL)
        return bev; /* served unguarded */
    c->g = g;
    c->bev = bev;
    c->fd = -1;
    c->state = HG_HANDLER;
    /* Held until on_attach: if evhttp frees the connection before
     * (out of memory), c->bev still points at a live bufferevent. */
    bufferevent_incref(bev);
    c->next = g->pending;
    g->pending = c;
    g->st.open++;
    event_active(g->attach_ev, EV_TIMEOUT, 1);
    return bev;
}

/* ---- accept back-off ---- */

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    httpguard *g = arg;

    (void)fd;
    (void)what;
    if (g->lev != NULL)
        evconnlistener_enable(g->lev);
}

static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    struct timeval pause = {0, HTTPGUARD_PAUSE_MS * 1000};
    httpguard *g = NULL;

    (void)arg;
    for (size_t i = 0; i < HG_GUARDS && g == NULL; i++)
        if (guards[i] != NULL && guards[i]->lev == lev)
            g = guards[i];
    if (g == NULL)
        return;
    g->st.accept_errors++;
    counted(g, "accept_error");
    if (log_due(&g->accept_logged_ms, &g->accept_unlogged)) {
        log_warn("%s: accept: %s: new connections paused for %d ms at each "
                 "failure (%llu failure(s) since the last message)",
                 g->name, strerror(err), HTTPGUARD_PAUSE_MS,
                 (unsigned long long)g->accept_unlogged);
        g->accept_unlogged = 0;
    }
    /* The socket stays readable while connections wait: without a pause
     * the loop would spin on it. */
    evconnlistener_disable(lev);
    evtimer_add(g->resume_ev, &pause);
}

/* ---- the public part ---- */

httpguard *httpguard_new(struct event_base *base, struct evhttp *http,
                         struct evhttp_bound_socket *bound,
                         const httpguard_limits *lim, const char *name)
{
    httpguard *g = calloc(1, sizeof *g);
    size_t slot;

    for (slot = 0; slot < HG_GUARDS && guards[slot] != NULL; slot++)
        ;
    if (g == NULL || slot == HG_GUARDS) {
        free(g);
        return NULL;
    }
    g->base = base;
    g->http = http;
    g->lim = lim;
    g->name = name;
    g->attach_ev = event_new(base, -1, 0, on_attach, g);
    g->resume_ev = evtimer_new(base, on_resume, g);
    if (g->attach_ev == NULL || g->resume_ev == NULL) {
        httpguard_free(g);
        return NULL;
    }
    guards[slot] = g;
    g->lev = bound ? evhttp_bound_socket_get_listener(bound) : NULL;
    if (g->lev != NULL)
        evconnlistener_set_error_cb(g->lev, on_accept_error);
    evhttp_set_bevcb(http, on_bev, g);
    return g;
}

void httpguard_unbind(httpguard *g)
{
    if (g == NULL)
        return;
    if (g->lev != NULL)
        evconnlistener_set_error_cb(g->lev, NULL);
    g->lev = NULL;
    if (g->resume_ev != NULL)
        event_del(g->resume_ev);
}

void httpguard_free(httpguard *g)
{
    hg_conn *c;

    if (g == NULL)
        return;
    /* The listener went with evhttp_free: not touched. */
    g->lev = NULL;
    if (g->resume_ev != NULL)
        event_del(g->resume_ev);
    for (size_t i = 0; i < HG_GUARDS; i++)
        if (guards[i] == g)
            guards[i] = NULL;
    while ((c = g->pending) != NULL) {
        g->pending = c->next;
        bufferevent_decref(c->bev);
        free(c);
    }
    /* Connections still open (the http server outlives the guard) are
     * left unguarded: their records are dropped, not their callbacks. */
    for (size_t b = 0; b < HG_BUCKETS; b++) {
        hg_conn **pp = &table[b];
        while ((c = *pp) != NULL) {
            if (c->g != g) {
                pp = &c->next;
                continue;
            }
            *pp = c->next;
            event_del(&c->timer);
            evhttp_connection_set_closecb(c->evcon, c->user_cb, c->user_arg);
            if (c->watch != NULL)
                evbuffer_remove_cb_entry(bufferevent_get_input(c->bev),
                                         c->watch);
            free(c->early);
            free(c);
        }
    }
    if (g->attach_ev != NULL)
        event_free(g->attach_ev);
    if (g->resume_ev != NULL)
        event_free(g->resume_ev);
    free(g);
}

/* The parsed headers' part of the smuggling checks: NULL, or why the
 * request is refused (static text). */
static const char *check_framing(struct evhttp_request *req)
{
    const struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const struct evkeyval *kv;
    const char *cl = NULL;
    int te = 0;

    TAILQ_FOREACH(kv, h, next)
    {
        if (strcasecmp(kv->key, "Content-Length") == 0) {
            if (cl != NULL && strcmp(cl, kv->value) != 0)
                return "Content-Length: given twice with different values";
            cl = kv->value;
        } else if (strcasecmp(kv->key, "Transfer-Encoding") == 0) {
            if (te++ > 0 || strcasecmp(kv->value, "chunked") != 0)
                return "Transfer-Encoding: only one, \"chunked\", is "
                       "accepted";
        }
    }
    if (te && cl != NULL)
        return "Transfer-Encoding and Content-Length: both given; send "
               "one";
    return NULL;
}

int httpguard_admit(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    hg_conn *c = evcon ? table_find(evcon) : NULL;
    const char *why = NULL;
    char msg[128];

    if (c != NULL) {
        if (c->state == HG_CLOSING) {
            /* Refused or past its deadline, read anyway: the socket is
             * shut, so this answer only releases the request. */
            http_send_error(req, 503, "overloaded", NULL,
                            "connection refused");
            return 1;
        }
        event_del(&c->timer);
        c->state = HG_HANDLER;
        if (c->bad[0] != '\0') {
            snprintf(msg, sizeof msg, "%s", c->bad);
            why = msg;
            c->bad[0] = '\0';
        }
    }
    if (why == NULL)
        why = check_framing(req);
    if (why == NULL)
        return 0;
    if (c != NULL) {
        c->g->st.bad_headers++;
        counted(c->g, "bad_headers");
    }
    /* What follows on this connection cannot be framed with confidence. */
    evhttp_add_header(evhttp_request_get_output_headers(req), "Connection",
                      "close");
    http_send_error(req, 400, "bad_request", NULL, "%s", why);
    return 1;
}

void httpguard_set_closecb(struct evhttp_connection *evcon,
                           void (*cb)(struct evhttp_connection *, void *),
                           void *arg)
{
    hg_conn *c = table_find(evcon);

    if (c == NULL) {
        evhttp_connection_set_closecb(evcon, cb, arg);
        return;
    }
    c->user_cb = cb;
    c->user_arg = arg;
}

int64_t httpguard_waited_ms(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    hg_conn *c = evcon ? table_find(evcon) : NULL;

    if (c == NULL || c->headers_ms == 0)
        return -1;
    return clock_mono_ms() - c->headers_ms;
}

void httpguard_set_early(httpguard *g, httpguard_early_fn fn, void *ud)
{
    g->early = fn;
    g->early_ud = ud;
}

void httpguard_get_stats(const httpguard *g, httpguard_stats *out)
{
    *out = g->st;
}
