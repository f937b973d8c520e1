/*
 * master.c -- supervision.
 *
 * The master opens the sockets once, so respawned workers inherit them and
 * the port never closes; forks the workers; restarts one that dies, with a
 * back-off that grows while workers keep dying young so a crash loop
 * cannot spin; coordinates a graceful stop; and runs helper children for
 * admin jobs that must not run in the master (master.h).
 */
#include "master.h"

#include "admin.h"
#include "ask.h"
#include "center.h"
#include "ctl.h"
#include "log.h"
#include "reload.h"
#include "services.h"
#include "worker.h"

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

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 10000
#define HEALTHY_AFTER_MS 10000 /* a worker this old died of something new */

struct mhelper {
    char name[32];
    pid_t pid;                /* 0 once reaped */
    int status;               /* its wait status, once reaped */
    int fd;                   /* read end of the result pipe; -1 at EOF */
    int timed_out;
    struct event *read_ev, *timer;
    struct evbuffer *out;
    master_helper_done done;
    void *arg;
};

int master_ready(const master *m)
{
    int n = 0;
    for (int i = 0; i < m->n; i++)
        n += m->w[i].pid != 0 && m->w[i].ready;
    return n;
}

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

static void close_slot(wslot *s)
{
    if (s->ctl_ev != NULL) {
        event_free(s->ctl_ev);
        s->ctl_ev = NULL;
    }
    if (s->ctl_fd >= 0) {
        close(s->ctl_fd);
        s->ctl_fd = -1;
    }
    s->ready = 0;
}

static void helper_free(mhelper *h)
{
    if (h == NULL)
        return;
    if (h->read_ev != NULL)
        event_free(h->read_ev);
    if (h->timer != NULL)
        event_free(h->timer);
    if (h->fd >= 0)
        close(h->fd);
    if (h->out != NULL)
        evbuffer_free(h->out);
    free(h);
}

static void master_free(master *m)
{
    helper_free(m->helper); /* without done(): only a child gets here */
    m->helper = NULL;
    /* m->w is NULL when setup() failed before making the slots. */
    for (int i = 0; m->w != NULL && i < m->n; i++) {
        close_slot(&m->w[i]);
        if (m->w[i].respawn_ev != NULL)
            event_free(m->w[i].respawn_ev);
        free(m->w[i].failure);
    }
    free(m->w);
    for (size_t i = 0; i < sizeof m->sigs / sizeof m->sigs[0]; i++)
        if (m->sigs[i] != NULL)
            event_free(m->sigs[i]);
    if (m->kill_timer != NULL)
        event_free(m->kill_timer);
    if (m->admin != NULL)
        evhttp_free(m->admin); /* closes admin_fd */
    else if (m->admin_fd >= 0)
        close(m->admin_fd);
    if (m->listen_fd >= 0)
        close(m->listen_fd);
    reload_free(m);
    ask_free_all(m);
    center_free(m); /* before the loop its connections are on */
    cJSON_Delete(m->enabled);
    m->enabled = NULL;
    if (m->base != NULL)
        event_base_free(m->base);
}

static void begin_stop(master *m, int code);
static void spawn(master *m, wslot *s);

static void check_started(master *m)
{
    if (!m->starting || master_ready(m) < m->n)
        return;
    m->starting = 0;
    log_info("ready: %d worker(s) serving http://%s, admin http://%s/healthz",
             m->n, m->c->listen, m->c->admin);
}

static void on_ctl(evutil_socket_t fd, short what, void *arg)
{
    wslot *s = arg;
    cJSON *msg;
    int r;

    (void)what;
    while ((r = ctl_recv(fd, &msg)) == 1) {
        const char *type = ctl_type(msg);
        if (strcmp(type, "ready") == 0) {
            const cJSON *g = cJSON_GetObjectItemCaseSensitive(msg,
                                                              "generation");
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
        cJSON_Delete(msg);
    }
    if (r == 0 && s->ctl_ev != NULL)
        event_del(s->ctl_ev); /* EOF: SIGCHLD tells the rest */
}

static void on_respawn(evutil_socket_t fd, short what, void *arg)
{
    wslot *s = arg;
    (void)fd;
    (void)what;
    if (!s->m->stopping)
        spawn(s->m, s);
}

/* evhttp_free() in master_free() shuts down the admin connections'
 * sockets, and those are the master's too: a worker forked while a client
 * waits on /healthz or an import would cut it off.  So before the child
 * frees the master's state, every inherited connected TCP socket is
 * replaced by /dev/null (listening sockets and the AF_UNIX control and
 * libevent sockets are left alone). */
static void spare_connections(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);

    if (d == NULL || null_fd < 0)
        goto out;
    while ((de = readdir(d)) != NULL) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        struct stat st;
        int fd = atoi(de->d_name);

        if (fd <= 2 || fd == dirfd(d) || fd == null_fd ||
            fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) ||
            getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
            (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
            continue;
        len = sizeof ss;
        if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
            dup2(null_fd, fd);
    }
out:
    if (d != NULL)
        closedir(d);
    if (null_fd >= 0)
        close(null_fd);
}

/* The child side of fork: drop everything of the master's before becoming
 * a worker.  event_reinit first, so freeing the copied events touches the
 * child's own epoll instance, never the master's. */
static void become_worker(master *m, wslot *s, int ctl_fd)
{
    int index = s->index, listen_fd = m->listen_fd, rc;
    conf *c = m->c;

    char plugins[sizeof m->snap_plugins], acts[sizeof m->snap_activities];
    char run_dir[sizeof m->run_dir];
    cJSON *enabled = m->enabled;
    worker_start ws;

    memcpy(plugins, m->snap_plugins, sizeof plugins);
    memcpy(acts, m->snap_activities, sizeof acts);
    memcpy(run_dir, m->run_dir, sizeof run_dir);
    ws = (worker_start){m->snap_generation, plugins, acts, enabled, run_dir};
    event_reinit(m->base);
    m->listen_fd = -1; /* kept open for the worker */
    m->enabled = NULL; /* kept for the worker */
    spare_connections();
    master_free(m);
    rc = worker_main(c, index, listen_fd, ctl_fd, &ws);
    cJSON_Delete(enabled);
    close(listen_fd);
    conf_free(c);
    exit(rc);
}

static void spawn(master *m, wslot *s)
{
    int fds[2];
    pid_t pid;

    if (ctl_pair(fds) < 0) {
        log_error("worker %d: socketpair: %s", s->index, strerror(errno));
        goto retry;
    }
    pid = fork();
    if (pid < 0) {
        log_error("worker %d: fork: %s", s->index, strerror(errno));
        close(fds[0]);
        close(fds[1]);
        goto retry;
    }
    if (pid == 0) {
        close(fds[0]);
        become_worker(m, s, fds[1]);
    }
    close(fds[1]);
    s->pid = pid;
    s->ctl_fd = fds[0];
    s->ready = 0;
    s->started_ms = svc_mono_ms();
    s->ctl_ev = event_new(m->base, fds[0], EV_READ | EV_PERSIST, on_ctl, s);
    if (s->ctl_ev != NULL)
        event_add(s->ctl_ev, NULL);
    log_info("worker %d started as pid %d", s->index, (int)pid);
    return;
retry:
    if (s->respawn_ev != NULL) {
        struct timeval tv = {1, 0};
        evtimer_add(s->respawn_ev, &tv);
    }
}

void master_restart_worker(master *m, wslot *s)
{
    cJSON *msg = cJSON_CreateObject();

    (void)m;
    cJSON_AddStringToObject(msg, "type", "stop");
    if (s->pid != 0 && (s->ctl_fd < 0 || ctl_send(s->ctl_fd, msg) < 0))
        kill(s->pid, SIGTERM);
    cJSON_Delete(msg);
    s->ready = 0;
    s->started_ms = 0; /* a planned restart: respawn at once */
}

static void schedule_respawn(master *m, wslot *s)
{
    int64_t lived = svc_mono_ms() - s->started_ms;
    struct timeval tv;

    if (lived >= HEALTHY_AFTER_MS)
        s->backoff_ms = 0; /* a one-off crash: come back at once */
    else
        s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (s->backoff_ms > BACKOFF_MAX_MS)
        s->backoff_ms = BACKOFF_MAX_MS;
    m->restarts++;
    log_warn("worker %d: respawning in %lld ms", s->index,
             (long long)s->backoff_ms);
    tv.tv_sec = (time_t)(s->backoff_ms / 1000);
    tv.tv_usec = (suseconds_t)(s->backoff_ms % 1000) * 1000;
    evtimer_add(s->respawn_ev, &tv);
}

static int all_exited(const master *m)
{
    if (m->helper != NULL)
        return 0;
    for (int i = 0; i < m->n; i++)
        if (m->w[i].pid != 0)
            return 0;
    return 1;
}

/* ---- helpers ---- */

/* done() once the child is reaped and its pipe drained. */
static void helper_finish(master *m)
{
    mhelper *h = m->helper;
    size_t len;
    char *out;

    if (h == NULL || h->pid != 0 || h->fd >= 0)
        return;
    m->helper = NULL; /* done() may start the next one */
    evbuffer_add(h->out, "", 1);
    len = evbuffer_get_length(h->out) - 1;
    out = (char *)evbuffer_pullup(h->out, -1);
    if (out == NULL) {
        out = "";
        len = 0;
    }
    h->done(m, h->arg, out, len, h->status, h->timed_out);
    helper_free(h);
    if (m->stopping && all_exited(m))
        event_base_loopbreak(m->base);
}

static void on_helper_read(evutil_socket_t fd, short what, void *arg)
{
    master *m = arg;
    mhelper *h = m->helper;
    int n;

    (void)what;
    while ((n = evbuffer_read(h->out, fd, 65536)) > 0)
        if (evbuffer_get_length(h->out) > MASTER_HELPER_OUT_MAX) {
            log_error("%s (pid %d) wrote more than %d bytes: SIGKILL",
                      h->name, (int)h->pid, MASTER_HELPER_OUT_MAX);
            if (h->pid != 0)
                kill(h->pid, SIGKILL);
            evbuffer_drain(h->out, evbuffer_get_length(h->out));
            n = 0;
            break;
        }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    event_del(h->read_ev);
    close(h->fd);
    h->fd = -1;
    helper_finish(m);
}

static void on_helper_timeout(evutil_socket_t fd, short what, void *arg)
{
    master *m = arg;
    mhelper *h = m->helper;

    (void)fd;
    (void)what;
    if (h == NULL || h->pid == 0)
        return;
    log_error("%s (pid %d) did not finish in time: SIGKILL", h->name,
              (int)h->pid);
    h->timed_out = 1;
    kill(h->pid, SIGKILL);
}

/* reap() found pid: 1 when it was the helper. */
static int helper_reaped(master *m, pid_t pid, int status)
{
    mhelper *h = m->helper;

    if (h == NULL || h->pid != pid)
        return 0;
    h->pid = 0;
    h->status = status;
    if (WIFSIGNALED(status))
        log_warn("%s (pid %d) killed by signal %d", h->name, (int)pid,
                 WTERMSIG(status));
    else if (WEXITSTATUS(status) != 0)
        log_warn("%s (pid %d) exited with status %d", h->name, (int)pid,
                 WEXITSTATUS(status));
    helper_finish(m);
    return 1;
}

static void close_fds_but(int keep)
{
    if ((keep > 3 && close_range(3, (unsigned)keep - 1, 0) < 0) ||
        close_range((unsigned)keep + 1, ~0U, 0) < 0) {
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
            if (fd != keep)
                close((int)fd);
    }
}

/* The child side: never returns. */
static void become_helper(master *m, mhelper *h, int fd, pid_t master_pid,
                          master_helper_fn fn, void *arg,
                          const sigset_t *mask)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD};
    int rc;

    /* The master's signal handlers write to the master's signal pipe:
     * back to the defaults (SIGTERM ends a helper) before unblocking. */
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    sigprocmask(SIG_SETMASK, mask, NULL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master_pid)
        _exit(1);
    close_fds_but(fd); /* sockets, the workers' channels, epoll */
    log_role = h->name;
    rc = fn(m, fd, arg);
    close(fd);
    _exit(rc);
}

int master_helper_start(master *m, const char *name, int64_t timeout_ms,
                        master_helper_fn fn, master_helper_done done,
                        void *arg)
{
    mhelper *h;
    int fds[2] = {-1, -1};
    sigset_t all, old;
    pid_t pid, self = getpid();
    struct timeval tv;

    if (m->helper != NULL || m->stopping) {
        errno = EBUSY;
        return -1;
    }
    h = calloc(1, sizeof *h);
    if (h == NULL)
        return -1;
    snprintf(h->name, sizeof h->name, "%s", name);
    h->fd = -1;
    h->done = done;
    h->arg = arg;
    h->out = evbuffer_new();
    h->timer = evtimer_new(m->base, on_helper_timeout, m);
    if (h->out == NULL || h->timer == NULL || pipe2(fds, O_CLOEXEC) < 0)
        goto fail;
    h->fd = fds[0];
    h->read_ev = event_new(m->base, fds[0], EV_READ | EV_PERSIST,
                           on_helper_read, m);
    if (h->read_ev == NULL || fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0)
        goto fail;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        become_helper(m, h, fds[1], self, fn, arg, &old);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0)
        goto fail;
    close(fds[1]);
    h->pid = pid;
    m->helper = h;
    event_add(h->read_ev, NULL);
    tv.tv_sec = (time_t)(timeout_ms / 1000);
    tv.tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000;
    evtimer_add(h->timer, &tv);
    log_info("%s started as pid %d", h->name, (int)pid);
    return 0;
fail:
    {
        int err = errno;
        if (fds[1] >= 0)
            close(fds[1]);
        helper_free(h); /* closes fds[0] */
        errno = err;
    }
    return -1;
}

static void reap(master *m)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        wslot *s = NULL;
        if (helper_reaped(m, pid, status))
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
        close_slot(s);
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
        schedule_respawn(m, s);
    }
    if (m->stopping && all_exited(m))
        event_base_loopbreak(m->base);
}

static void on_kill_timer(evutil_socket_t fd, short what, void *arg)
{
    master *m = arg;
    (void)fd;
    (void)what;
    for (int i = 0; i < m->n; i++)
        if (m->w[i].pid != 0) {
            log_warn("worker %d did not stop in time: SIGKILL", i);
            kill(m->w[i].pid, SIGKILL);
        }
    if (m->helper != NULL && m->helper->pid != 0) {
        log_warn("%s did not stop in time: SIGKILL", m->helper->name);
        kill(m->helper->pid, SIGKILL);
    }
}

static void begin_stop(master *m, int code)
{
    cJSON *msg;
    struct timeval tv;

    if (code > m->exit_code)
        m->exit_code = code;
    if (m->stopping)
        return;
    m->stopping = 1;
    log_info("stopping %d worker(s)", master_ready(m));
    msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "type", "stop");
    for (int i = 0; i < m->n; i++) {
        if (m->w[i].respawn_ev != NULL)
            evtimer_del(m->w[i].respawn_ev);
        if (m->w[i].pid != 0 &&
            (m->w[i].ctl_fd < 0 || ctl_send(m->w[i].ctl_fd, msg) < 0))
            kill(m->w[i].pid, SIGTERM);
    }
    cJSON_Delete(msg);
    if (m->helper != NULL && m->helper->pid != 0)
        kill(m->helper->pid, SIGTERM);
    tv.tv_sec = (time_t)((m->c->shutdown_timeout_ms + 2000) / 1000);
    tv.tv_usec = (suseconds_t)((m->c->shutdown_timeout_ms + 2000) % 1000) *
                 1000;
    m->kill_timer = evtimer_new(m->base, on_kill_timer, m);
    if (m->kill_timer != NULL)
        evtimer_add(m->kill_timer, &tv);
    if (all_exited(m))
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

    m->base = event_base_new();
    if (m->base == NULL)
        return -1;
    m->listen_fd = open_listener(m->c->listen, 1024);
    if (m->listen_fd < 0)
        return -1;
    m->admin_fd = open_listener(m->c->admin, 64);
    if (m->admin_fd < 0)
        return -1;
    m->admin = evhttp_new(m->base);
    if (m->admin == NULL ||
        evhttp_accept_socket_with_handle(m->admin, m->admin_fd) == NULL)
        return -1;
    if (admin_start(m) < 0)
        return -1;
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
    m->w = calloc((size_t)m->n, sizeof *m->w);
    if (m->w == NULL)
        return -1;
    for (int i = 0; i < m->n; i++) {
        m->w[i].m = m;
        m->w[i].index = i;
        m->w[i].ctl_fd = -1;
        m->w[i].respawn_ev = evtimer_new(m->base, on_respawn, &m->w[i]);
        if (m->w[i].respawn_ev == NULL)
            return -1;
    }
    return 0;
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
    m.listen_fd = m.admin_fd = -1;
    m.generation = 1;
    m.starting = 1;
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
    for (int i = 0; i < m.n; i++)
        spawn(&m, &m.w[i]);
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
