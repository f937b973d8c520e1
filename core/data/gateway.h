/*
 * gateway.h -- the data plane's front door: POST /v1/activities/{id}/
 * {method}.  Parses and bounds the request, routes it through the current
 * generation, and runs the pipeline in a coroutine of its own.
 */
#ifndef AMS_CORE_GATEWAY_H
#define AMS_CORE_GATEWAY_H

#include "conf.h"
#include "coro.h"
#include "gen.h"
#include "reqparse.h"

#include <event2/http.h>

/* Replies of one client connection not yet written out (see gateway.c). */
typedef struct gateway_conn gateway_conn;

#define GATEWAY_CONN_BUCKETS 1024

typedef struct gateway {
    const conf *c;
    gen *current; /* one reference held by the gateway */
    coro_pool *pool;
    size_t busy;    /* requests not yet fully answered */
    size_t running; /* their coroutines not yet returned (gateway.c) */
    void (*idle_cb)(void *ud); /* called when both drop to 0 */
    void *idle_ud;
    gateway_conn *conns[GATEWAY_CONN_BUCKETS]; /* by evhttp_connection */
} gateway;

/* What one listening socket serves: its requests know their listener's
 * settings (c->ls.v[listener]: identity, proxies, CORS). */
typedef struct gateway_port {
    gateway *gw;
    size_t listener;
} gateway_port;

/* evhttp generic callback; arg is a gateway_port. */
void gateway_handle(struct evhttp_request *req, void *arg);

/* Run fn(arg) in a coroutine of the gateway's pool, counted busy like a
 * request, so a graceful stop waits for it: for background work that
 * calls the store (whose calls yield in a coroutine instead of stalling
 * the loop).  -1 when no coroutine could be had (fn did not run). */
int gateway_task(gateway *gw, coro_fn fn, void *arg);

/* Longest uid and request_id accepted. */
#define GATEWAY_ID_MAX REQPARSE_ID_MAX

#endif
