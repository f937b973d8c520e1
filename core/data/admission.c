/*
 * admission.c -- overload protection at the gateway (admission.h).
 */
#include "admission.h"

#include "text.h"

int admission_check(const conf *c, size_t running, const activity *act,
                    int64_t waited_ms, char *msg, size_t len)
{
    tbuf b = TBUF(msg, len);

    if (c->overload.max_in_flight > 0 &&
        running >= (size_t)c->overload.max_in_flight) {
        tbuf_str(&b, "overloaded: ");
        tbuf_int(&b, (long long)running);
        tbuf_str(&b, " requests in flight in this worker "
                     "(overload.max_in_flight); retry later");
    } else if (act->max_in_flight > 0 &&
               act->in_flight >= (uint64_t)act->max_in_flight) {
        tbuf_str(&b, "overloaded: activity ");
        tbuf_int(&b, (long long)act->id);
        tbuf_str(&b, " has ");
        tbuf_int(&b, (long long)act->in_flight);
        tbuf_str(&b, " requests in flight in this worker (its "
                     "max_in_flight); retry later");
    } else if (c->overload.max_wait_ms > 0 &&
               waited_ms > c->overload.max_wait_ms) {
        tbuf_str(&b, "overloaded: the request waited ");
        tbuf_int(&b, (long long)waited_ms);
        tbuf_str(&b, " ms before it could start (overload.max_wait_ms); "
                     "retry later");
    } else {
        return 0;
    }
    tbuf_end(&b);
    return -1;
}

void admission_enter(activity *act)
{
    act->in_flight++;
}

void admission_leave(activity *act)
{
    if (act->in_flight > 0)
        act->in_flight--;
}
