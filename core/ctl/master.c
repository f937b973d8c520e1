/*
 * master.c -- the master's loop: it opens the sockets and the admin
 * listener, wires the control plane's hooks (mstate.h), dispatches the
 * workers' messages, reaps children, handles signals and coordinates a
 * graceful stop.  The children themselves are supervise.c's.
 */
#include "master.h"

#include "admin.h"
#include "ask.h"
#include "center.h"
#include "ctl.h"
#include "httpguard.h"
#include "log.h"
#include "ratelimit.h"
#include "reload.h"
#include "snapshot.h"
#include "clock.h"
#include "supervise.h"

#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int open_listener(const char *addr, int backlog)
{
    char host[256], port[16];
    int p, fd = -1, one = 1, rc;
    struct addrinfo hints, *res = NULL, *ai;

    if (conf_split_addr(addr, host, sizeof host, &p) < 0) {
        log_error("%s: not HOST:PORT", addr);
        return -1;
    }
    snprintf(port, sizeof port, "%d", p);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
        log_error("%s: %s", addr, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family,
                    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, backlog) == 0)
            break;
        log_error("%s: %s", addr, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static void master_free(master *m)
{
    supervise_free(m);
    for (size_t i = 0; i < sizeof m->sigs / sizeof m->sigs[0]; i++)
        if (m->sigs[i] != NULL)
            event_free(m->sigs[i]);
    if (m->kill_timer != NULL)
        event_free(m->kill_timer);
    if (m->admin != NULL)
        evhttp_free(m->admin); /* closes admin_fd */
    else if (m->admin_fd >= 0)
        close(m->admin_fd);
    httpguard_free(m->admin_guard); /* after: the close callbacks */
    m->admin_guard = NULL;
    for (int i = 0; i < m->nlisten; i++)
        if (m->listen_fds[i] >= 0)
            close(m->listen_fds[i]);
    reload_free(m);
    snap_cache_free(m->snaps);
    m->snaps = NULL;
    ask_free_all(m);
    center_free(m); /* before the loop its connections are on */
    cJSON_Delete(m->enabled);
    m->enabled = NULL;
    if (m->base != NULL)
        event_base_free(m->base);
}

static void begin_stop(master *m, int code);

static void check_started(master *m)
{
    if (!m->starting || supervise_ready(m) < m->n)
        return;
    m->starting = 0;
    log_info("ready: %d worker(s) serving http://%s, admin http://%s/healthz",
             m->n, m->c->listen, m->c->admin);
    for (size_t i = 0; i < m->c->ls.n; i++)
        log_info(
            "listener http://%s: auth %s, %zu trusted prox%s, %zu CORS "
            "origin(s)%s",
            m->c->ls.v[i].listen, lis_auth_name(m->c->ls.v[i].auth),
            m->c->ls.v[i].nproxies, m->c->ls.v[i].nproxies == 1 ? "y" : "ies",
            m->c->ls.v[i].norigins, m->c->ls.v[i].any_origin ? " and *" : "");
}

/* One control message of worker s (the on_worker_msg hook). */
static void on_worker_msg(wslot *s, const cJSON *msg)
{
    const char *type = ctl_type(msg);

    if (strcmp(type, "ready") == 0) {
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(msg, "generation");
        s->ready = 1;
        s->generation = cJSON_IsNumber(g) ? (uint64_t)g->valuedouble : 0;
        check_started(s->m);
    } else if (strcmp(type, "prepared") == 0 ||
               strcmp(type, "prepare_failed") == 0 ||
               strcmp(type, "committed") == 0 ||
               strcmp(type, "commit_failed") == 0) {
        reload_on_msg(s->m, s, msg);
    } else if (cJSON_GetObjectItemCaseSensitive(msg, "ask") != NULL) {
        ask_on_answer(s->m, s, msg);
    } else if (strcmp(type, "failed") == 0) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(msg, "errors");
        free(s->failure);
        s->failure = strdup(cJSON_IsString(e) ? e->valuestring : "?");
    } else {
        log_warn("worker %d: unknown message \"%s\"", s->index, type);
    }
}

static void reap(master *m)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        wslot *s = NULL;
        if (supervise_helper_reaped(m, pid, status))
            continue;
        for (int i = 0; i < m->n; i++)
            if (m->w[i].pid == pid)
                s = &m->w[i];
        if (s == NULL)
            continue;
        if (WIFSIGNALED(status))
            log_warn("worker %d (pid %d) killed by signal %d", s->index,
                     (int)pid, WTERMSIG(status));
        else if (WEXITSTATUS(status) != 0 || !m->stopping)
            log_warn("worker %d (pid %d) exited with status %d", s->index,
                     (int)pid, WEXITSTATUS(status));
        s->pid = 0;
        supervise_close_slot(s);
        reload_on_exit(m, s, status);
        ask_on_exit(m, s);
        if (m->stopping)
            continue;
        if (m->starting) {
            /* Nothing served yet: a broken config must not loop. */
            log_error("worker %d failed to start%s%s", s->index,
                      s->failure ? ":\n" : "", s->failure ? s->failure : "");
            begin_stop(m, 1);
            continue;
        }
        supervise_respawn_later(m, s);
    }
    if (m->stopping && supervise_all_exited(m))
        event_base_loopbreak(m->base);
}

static void on_kill_timer(evutil_socket_t fd, short what, void *arg)
{
    master *m = arg;
    (void)fd;
    (void)what;
    supervise_kill_all(m);
}

static void begin_stop(master *m, int code)
{
    struct timeval tv;

    if (code > m->exit_code)
        m->exit_code = code;
    if (m->stopping)
        return;
    m->stopping = 1;
    log_info("stopping %d worker(s)", supervise_ready(m));
    supervise_stop_all(m);
    tv.tv_sec = (time_t)((m->c->shutdown_timeout_ms + 2000) / 1000);
    tv.tv_usec =
        (suseconds_t)((m->c->shutdown_timeout_ms + 2000) % 1000) * 1000;
    m->kill_timer = evtimer_new(m->base, on_kill_timer, m);
    if (m->kill_timer != NULL)
        evtimer_add(m->kill_timer, &tv);
    if (supervise_all_exited(m))
        event_base_loopbreak(m->base);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    master *m = arg;
    (void)what;
    switch (sig) {
    case SIGTERM:
    case SIGINT:
        log_info("signal %d: graceful stop", (int)sig);
        begin_stop(m, 0);
        break;
    case SIGCHLD:
        reap(m);
        break;
    case SIGHUP:
        if (m->starting || m->stopping)
            log_warn("SIGHUP: ignored while %s",
                     m->starting ? "starting" : "stopping");
        else if (reload_start(m, "SIGHUP", NULL, NULL) < 0)
            log_info("SIGHUP: a reload is running; another follows it");
        break;
    default:
        break;
    }
}

static int setup(master *m)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGCHLD, SIGHUP};
    struct evhttp_bound_socket *bound;

    m->base = event_base_new();
    if (m->base == NULL)
        return -1;
    for (size_t i = 0; i < m->c->ls.n; i++) {
        m->listen_fds[m->nlisten] = open_listener(m->c->ls.v[i].listen, 1024);
        if (m->listen_fds[m->nlisten++] < 0)
            return -1;
    }
    m->admin_fd = open_listener(m->c->admin, 64);
    if (m->admin_fd < 0)
        return -1;
    m->admin = evhttp_new(m->base);
    if (m->admin == NULL ||
        (bound = evhttp_accept_socket_with_handle(m->admin, m->admin_fd)) ==
            NULL ||
        (m->admin_guard = httpguard_new(m->base, m->admin, bound,
                                        &m->c->admin_conn, "admin plane")) ==
            NULL)
        return -1;
    if (admin_start(m) < 0)
        return -1;
    httpguard_set_early(m->admin_guard, admin_early_check, m);
    evhttp_set_gencb(m->admin, admin_handle, m);
    evhttp_set_max_body_size(m->admin, (ev_ssize_t)m->c->admin_max_body);
    evhttp_set_allowed_methods(m->admin, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
                                             EVHTTP_REQ_PUT |
                                             EVHTTP_REQ_DELETE);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        m->sigs[i] = evsignal_new(m->base, sigs[i], on_signal, m);
        if (m->sigs[i] == NULL || event_add(m->sigs[i], NULL) < 0)
            return -1;
    }
    return supervise_init(m);
}

/* The run directory holds generation snapshots and the workers' plugin
 * copies; it is ours alone (mkdtemp) and removed at exit. */
static int make_run_dir(master *m)
{
    const char *base = m->c->run_dir && m->c->run_dir[0] ? m->c->run_dir
                       : getenv("TMPDIR")                ? getenv("TMPDIR")
                                                         : "/tmp";
    errs e = {0};
    int rc;

    if (m->c->run_dir && m->c->run_dir[0])
        mkdir(base, 0700);
    snprintf(m->run_dir, sizeof m->run_dir, "%s/amsd-run-%d-XXXXXX", base,
             (int)getpid());
    if (mkdtemp(m->run_dir) == NULL) {
        log_error("run_dir: cannot create %s: %s", m->run_dir,
                  strerror(errno));
        m->run_dir[0] = '\0';
        return -1;
    }
    m->snap_generation = m->generation;
    /* May make a config-center version the source (center.h). */
    center_boot(m);
    rc = reload_snapshot_pinned(
        m, m->generation, m->c->plugins_dir,
        m->src_activities[0] ? m->src_activities : NULL,
        m->src_pins[0] ? m->src_pins : NULL, m->snap_plugins,
        m->snap_activities, sizeof m->snap_plugins, &e);
    for (size_t i = 0; i < e.n; i++)
        log_error("%s", e.msgs[i]);
    errs_free(&e);
    if (rc < 0)
        reload_rmtree(m->run_dir);
    return rc;
}

int master_run(conf *c)
{
    master m;

    memset(&m, 0, sizeof m);
    m.c = c;
    m.n = c->workers;
    m.admin_fd = -1;
    m.generation = 1;
    m.starting = 1;
    m.on_worker_msg = on_worker_msg;
    m.drop_in_child = master_free;
    m.after_reload = center_after_reload;
    log_role = "master";
    signal(SIGPIPE, SIG_IGN);
    if (setup(&m) < 0) {
        log_error("cannot start: %s",
                  m.base == NULL ? "out of memory" : "see the messages above");
        master_free(&m);
        return 1;
    }
    if (center_open(&m) < 0 || make_run_dir(&m) < 0) {
        master_free(&m);
        return 1;
    }
    /* Before the first fork: the workers share the node's rate buckets. */
    if (rl_node_init(strncmp(c->store, "redis://", 8) == 0,
                     (size_t)c->rl_table_slots) < 0) {
        log_error("rate_limit_table: cannot map %lld buckets of shared "
                  "memory: %s",
                  (long long)c->rl_table_slots, strerror(errno));
        master_free(&m);
        return 1;
    }
    for (int i = 0; i < m.n; i++)
        supervise_spawn(&m, &m.w[i]);
    if (center_run(&m) < 0)
        begin_stop(&m, 1);
    event_base_dispatch(m.base);
    /* A short grace for answers queued by the last callbacks (to an
     * import or a reload the stop interrupted) to be written out; one
     * loop turn is not always enough. */
    {
        struct timeval grace = {0, 200 * 1000};
        event_base_loopexit(m.base, &grace);
        event_base_dispatch(m.base);
    }
    /* Every child is gone; the master only leaves now.  A second SIGTERM
     * or a SIGHUP must not kill it halfway through freeing its state or
     * through the exit-time checks after it (a sanitizer build's leak
     * check runs at exit).  Blocked, not ignored: master_free() frees the
     * signal events, which puts back SIG_DFL; a blocked signal stays
     * pending and dies with the process. */
    {
        sigset_t late;
        sigemptyset(&late);
        sigaddset(&late, SIGTERM);
        sigaddset(&late, SIGINT);
        sigaddset(&late, SIGHUP);
        sigprocmask(SIG_BLOCK, &late, NULL);
    }
    log_info("stopped");
    master_free(&m);
    reload_rmtree(m.run_dir);
    return m.exit_code;
}
