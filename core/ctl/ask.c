/*
 * ask.c -- gathering answers from every worker (see ask.h).
 */
#include "ask.h"

#include "ctl.h"
#include "log.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define ASK_WORKERS_MAX 256

typedef struct ask {
    uint64_t id;
    master *m;
    unsigned char waiting[ASK_WORKERS_MAX];
    int nwaiting;
    cJSON *answers;
    struct event *timer;
    ask_done_fn done;
    void *arg;
    struct ask *next;
} ask;

/* Pending asks of the (single) master process. */
static ask *pending;
static uint64_t last_id;

static void ask_unlink_free(ask *a)
{
    for (ask **pp = &pending; *pp != NULL; pp = &(*pp)->next)
        if (*pp == a) {
            *pp = a->next;
            break;
        }
    if (a->timer != NULL)
        event_free(a->timer);
    cJSON_Delete(a->answers);
    free(a);
}

static void complete(ask *a)
{
    a->done(a->m, a->arg, a->answers, a->nwaiting);
    ask_unlink_free(a);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    ask *a = arg;
    (void)fd;
    (void)what;
    log_warn("%d worker(s) did not answer within the time limit", a->nwaiting);
    complete(a);
}

int ask_all(master *m, const cJSON *question, int64_t timeout_ms,
            ask_done_fn done, void *arg)
{
    ask *a = calloc(1, sizeof *a);
    cJSON *q;
    struct timeval tv;

    if (a == NULL || (a->answers = cJSON_CreateArray()) == NULL ||
        (q = cJSON_Duplicate(question, 1)) == NULL) {
        if (a != NULL)
            cJSON_Delete(a->answers);
        free(a);
        return -1;
    }
    a->id = ++last_id;
    a->m = m;
    a->done = done;
    a->arg = arg;
    a->next = pending;
    pending = a;
    cJSON_AddNumberToObject(q, "ask", (double)a->id);
    for (int i = 0; i < m->n && i < ASK_WORKERS_MAX; i++) {
        wslot *s = &m->w[i];
        if (s->pid == 0 || !s->ready || s->ctl_fd < 0 ||
            ctl_send(s->ctl_fd, q) < 0)
            continue;
        a->waiting[i] = 1;
        a->nwaiting++;
    }
    cJSON_Delete(q);
    if (a->nwaiting == 0) {
        complete(a);
        return 0;
    }
    a->timer = evtimer_new(m->base, on_timeout, a);
    tv.tv_sec = (time_t)(timeout_ms / 1000);
    tv.tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000;
    if (a->timer != NULL)
        evtimer_add(a->timer, &tv);
    return 0;
}

static ask *find(uint64_t id)
{
    for (ask *a = pending; a != NULL; a = a->next)
        if (a->id == id)
            return a;
    return NULL;
}

static void answered(ask *a, int index)
{
    a->waiting[index] = 0;
    if (--a->nwaiting == 0)
        complete(a);
}

void ask_on_answer(master *m, wslot *s, const cJSON *msg)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "ask");
    ask *a = cJSON_IsNumber(id) ? find((uint64_t)id->valuedouble) : NULL;
    cJSON *copy;

    (void)m;
    if (a == NULL || s->index >= ASK_WORKERS_MAX || !a->waiting[s->index])
        return; /* late: the ask is over */
    copy = cJSON_Duplicate(msg, 1);
    if (copy != NULL) {
        cJSON_DeleteItemFromObjectCaseSensitive(copy, "ask");
        cJSON_DeleteItemFromObjectCaseSensitive(copy, "type");
        cJSON_DeleteItemFromObjectCaseSensitive(copy, "worker");
        cJSON_AddNumberToObject(copy, "worker", s->index);
        cJSON_AddItemToArray(a->answers, copy);
    }
    answered(a, s->index);
}

void ask_on_exit(master *m, wslot *s)
{
    ask *a = pending, *next;

    (void)m;
    for (; a != NULL; a = next) {
        next = a->next; /* answered() may free a */
        if (s->index < ASK_WORKERS_MAX && a->waiting[s->index])
            answered(a, s->index);
    }
}

void ask_free_all(master *m)
{
    (void)m;
    while (pending != NULL)
        ask_unlink_free(pending);
}
