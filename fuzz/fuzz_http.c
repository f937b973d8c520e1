/*
 * fuzz_http.c -- the request as a client sends it: any bytes written to
 * a real data-plane listener (libevent's evhttp parser, as a worker sets
 * it up), then the gateway: route, method, body JSON, uid / request_id /
 * params checks, and the whole chain of the shipped activities
 * (conf/activities/, bundled plugins, inits run) on an in-memory store.
 * Paths under /admin/ go to the admin plane's query parsing
 * (admin_query_ints, with the names GET /admin/audit takes) instead.
 *
 * Independent of where the gateway's parsing lives: the target only
 * hands requests to gateway_handle, as the worker does.  One loopback
 * TCP connection per input (pipelined requests in it are all served),
 * closed for writing once the input is sent and the answers have
 * stopped; the input is done when the server has closed it.  The store is
 * opened anew for each input, so a failure replays from its input alone.
 * AMS_FUZZ_ECHO=1 prints the answers (to see what a seed reaches).
 */
#include "admin_info.h"
#include "conf.h"
#include "fuzz.h"
#include "gateway.h"
#include "http.h"
#include "services.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct event_base *base;
static struct evhttp *http;
static gateway gw;
static gateway_port gw_port = {&gw, 0}; /* its only listener */
static conf c;
static int port;
static int echo;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static store *mem_store(void)
{
    store_options so;
    char err[256];
    store *st;

    memset(&so, 0, sizeof so);
    so.uri = "mem:";
    so.base = base;
    if ((st = store_open(&so, err, sizeof err)) == NULL) {
        fprintf(stderr, "fuzz: mem: store: %s\n", err);
        abort();
    }
    return st;
}

static void serve(struct evhttp_request *req, void *arg)
{
    static const char *const names[] = {"since", "limit", NULL};
    static const int64_t min[] = {0, 1}, max[] = {INT64_MAX, 1000};
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    int64_t v[2] = {0, 100};
    char msg[256];

    if (path != NULL && strncmp(path, "/admin/", 7) == 0) {
        if (admin_query_ints(req, names, min, max, v, msg, sizeof msg) < 0)
            http_send_error(req, 400, "bad_request", NULL, "%s", msg);
        else
            http_send_text(req, 200, "{}");
        return;
    }
    gateway_handle(req, arg);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct evhttp_bound_socket *bs;
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    size_t n;
    errs e = {0};

    (void)argc;
    (void)argv;
    fz_quiet();
    signal(SIGPIPE, SIG_IGN);
    echo = getenv("AMS_FUZZ_ECHO") != NULL;
    conf_load(&c, "/dev/null", &e); /* the defaults: not a regular file */
    /* One listener taking the uid from the body, so that inputs reach the
     * chain without a token (tokens have a target of their own). */
    c.ls.top.auth = LIS_AUTH_BODY;
    if (lis_finish(&c.ls, c.listen, 0, 0, 0, "fuzz", &e) < 0)
        abort();
    errs_free(&e);
    c.timeout_ms = 1000;
    c.clock_header = 1; /* X-AMS-Now is parsed too */
    base = event_base_new();
    svc.base = base;
    svc.idem_ttl_ms = c.idempotency_ttl_s * 1000;
    svc.st = mem_store();
    svc_seed(1);
    fz_plugins(&n); /* the checks of fuzz.c; the generation loads its own */
    gw.c = &c;
    gw.pool = coro_pool_new((size_t)c.stack_kb * 1024, 256);
    gw.current = gen_build_at(&c, &svc_gen_host, FUZZ_PLUGINS_DIR,
                              FUZZ_ACTIVITIES_DIR, 1, 1, &e);
    if (base == NULL || gw.pool == NULL || gw.current == NULL) {
        char *why = errs_join(&e);
        fprintf(stderr, "fuzz: cannot build the generation: %s\n",
                why ? why : "out of memory");
        abort();
    }
    errs_free(&e);
    http = evhttp_new(base);
    evhttp_set_timeout(http, 1);
    evhttp_set_max_body_size(http, (ev_ssize_t)c.max_body);
    evhttp_set_max_headers_size(http, (ev_ssize_t)c.max_headers);
    evhttp_set_allowed_methods(
        http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                  EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                  EVHTTP_REQ_PATCH);
    evhttp_set_gencb(http, serve, &gw_port);
    bs = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    if (bs == NULL || getsockname(evhttp_bound_socket_get_fd(bs),
                                  (struct sockaddr *)&sa, &sl) != 0)
        abort();
    port = ntohs(sa.sin_port);
    return 0;
}

typedef struct client {
    int fd;
    const uint8_t *p;
    size_t n, off;
    size_t got;     /* bytes of answers read */
    int sent, shut; /* all written; writing side closed */
    int done;
    struct event *wev, *rev, *tmo;
} client;

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    client *cl = arg;
    ssize_t w = send(fd, cl->p + cl->off, cl->n - cl->off, MSG_NOSIGNAL);

    (void)what;
    if (w > 0)
        cl->off += (size_t)w;
    if ((w < 0 && errno != EAGAIN && errno != EINTR) || cl->off == cl->n) {
        cl->sent = 1;
        event_del(cl->wev);
    }
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    client *cl = arg;
    char buf[16384];
    ssize_t r = recv(fd, buf, sizeof buf, 0);

    (void)what;
    if (r > 0)
        cl->got += (size_t)r;
    if (r > 0 && echo) /* seeing what a seed gets: AMS_FUZZ_ECHO=1 */
        (void)!write(STDERR_FILENO, buf, (size_t)r);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        cl->done = 1;
        event_base_loopbreak(base);
    }
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    client *cl = arg;

    (void)fd;
    (void)what;
    cl->done = 1; /* the server never closed: libFuzzer's -timeout says so */
    event_base_loopbreak(base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_in sa;
    struct timeval tv = {5, 0};
    client cl = {.p = data, .n = size};
    store *st = svc.st;
    int quiet = 0;

    if (size > 256 * 1024)
        return 0;
    svc.st = mem_store();
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cl.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (cl.fd < 0 || (connect(cl.fd, (struct sockaddr *)&sa, sizeof sa) != 0 &&
                      errno != EINPROGRESS))
        abort();
    cl.wev = event_new(base, cl.fd, EV_WRITE | EV_PERSIST, on_write, &cl);
    cl.rev = event_new(base, cl.fd, EV_READ | EV_PERSIST, on_read, &cl);
    cl.tmo = evtimer_new(base, on_timeout, &cl);
    if (size > 0)
        event_add(cl.wev, NULL);
    else
        cl.sent = 1;
    event_add(cl.rev, NULL);
    event_add(cl.tmo, &tv);
    /* The writing side is closed only once the server has gone quiet
     * (three passes of the loop without an answer byte): closing it at
     * once would make evhttp drop the pipelined requests after the
     * first. */
    while (!cl.done) {
        if (cl.sent && !cl.shut) {
            size_t before = cl.got;
            event_base_loop(base, EVLOOP_NONBLOCK);
            quiet = cl.got == before ? quiet + 1 : 0;
            if (quiet >= 3) {
                shutdown(cl.fd, SHUT_WR);
                cl.shut = 1;
            }
        } else {
            event_base_loop(base, EVLOOP_ONCE);
        }
    }
    event_free(cl.wev);
    event_free(cl.rev);
    event_free(cl.tmo);
    close(cl.fd);
    /* Let the server side see the close and free the connection. */
    event_base_loop(base, EVLOOP_NONBLOCK);
    store_close(svc.st);
    svc.st = st;
    return 0;
}
