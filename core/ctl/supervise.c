/*
 * supervise.c -- the master's children (supervise.h).
 *
 * The master opens the sockets once, so respawned workers inherit them and
 * the port never closes; it forks the workers and restarts one that dies,
 * with a back-off that grows while workers keep dying young so a crash
 * loop cannot spin; and it runs helper children for admin jobs that must
 * not run in the master.  Reaping, signals and messages are the loop's
 * (master.c), which calls in here.
 */
#include "supervise.h"

#include "clock.h"
#include "ctl.h"
#include "log.h"
#include "worker.h"

#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
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
    pid_t pid;  /* 0 once reaped */
    int status; /* its wait status, once reaped */
    int fd;     /* read end of the result pipe; -1 at EOF */
    int timed_out;
    struct event *read_ev, *timer;
    struct evbuffer *out;
    supervise_helper_done done;
    void *arg;
};

/* ---- workers ---- */

int supervise_ready(const master *m)
{
    int n = 0;
    for (int i = 0; i < m->n; i++)
        n += m->w[i].pid != 0 && m->w[i].ready;
    return n;
}

void supervise_close_slot(wslot *s)
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

int supervise_all_exited(const master *m)
{
    if (m->helper != NULL)
        return 0;
    for (int i = 0; i < m->n; i++)
        if (m->w[i].pid != 0)
            return 0;
    return 1;
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

/* A worker's channel is readable: hand each message to the loop. */
static void on_ctl(evutil_socket_t fd, short what, void *arg)
{
    wslot *s = arg;
    cJSON *msg;
    int r;

    (void)what;
    while ((r = ctl_recv(fd, &msg)) == 1) {
        s->m->on_worker_msg(s, msg);
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
        supervise_spawn(s->m, s);
}

int supervise_init(master *m)
{
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

void supervise_free(master *m)
{
    helper_free(m->helper);
    m->helper = NULL;
    /* m->w is NULL when setup failed before making the slots. */
    for (int i = 0; m->w != NULL && i < m->n; i++) {
        supervise_close_slot(&m->w[i]);
        if (m->w[i].respawn_ev != NULL)
            event_free(m->w[i].respawn_ev);
        free(m->w[i].failure);
    }
    free(m->w);
    m->w = NULL;
}

void supervise_stop_all(master *m)
{
    cJSON *msg = cJSON_CreateObject();

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
}

void supervise_kill_all(master *m)
{
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

        if (fd <= 2 || fd == dirfd(d) || fd == null_fd || fstat(fd, &st) < 0 ||
            !S_ISSOCK(st.st_mode) ||
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
    int index = s->index, fds[LIS_MAX], nfds = m->nlisten, rc;
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
    memcpy(fds, m->listen_fds, sizeof fds);
    m->nlisten = 0;    /* kept open for the worker */
    m->enabled = NULL; /* kept for the worker */
    spare_connections();
    m->drop_in_child(m);
    rc = worker_main(c, index, fds, nfds, ctl_fd, &ws);
    cJSON_Delete(enabled);
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    conf_free(c);
    exit(rc);
}

void supervise_spawn(master *m, wslot *s)
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
    s->started_ms = clock_mono_ms();
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

void supervise_restart(master *m, wslot *s)
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

void supervise_respawn_later(master *m, wslot *s)
{
    int64_t lived = clock_mono_ms() - s->started_ms;
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
    if (m->stopping && supervise_all_exited(m))
        event_base_loopbreak(m->base);
}

static void on_helper_read(evutil_socket_t fd, short what, void *arg)
{
    master *m = arg;
    mhelper *h = m->helper;
    int n;

    (void)what;
    while ((n = evbuffer_read(h->out, fd, 65536)) > 0)
        if (evbuffer_get_length(h->out) > SUPERVISE_HELPER_OUT_MAX) {
            log_error("%s (pid %d) wrote more than %d bytes: SIGKILL", h->name,
                      (int)h->pid, SUPERVISE_HELPER_OUT_MAX);
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

int supervise_helper_reaped(master *m, pid_t pid, int status)
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
                          supervise_helper_fn fn, void *arg,
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

int supervise_helper_start(master *m, const char *name, int64_t timeout_ms,
                           supervise_helper_fn fn, supervise_helper_done done,
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
    h->read_ev =
        event_new(m->base, fds[0], EV_READ | EV_PERSIST, on_helper_read, m);
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
fail : {
    int err = errno;
    if (fds[1] >= 0)
        close(fds[1]);
    helper_free(h); /* closes fds[0] */
    errno = err;
}
    return -1;
}
