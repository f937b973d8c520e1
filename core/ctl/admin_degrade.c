/*
 * admin_degrade.c -- GET/POST /admin/degrade (admin_degrade.h).
 */
#include "admin_degrade.h"

#include "ask.h"
#include "degrade.h"
#include "http.h"
#include "log.h"

#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

static cJSON *state_body(void)
{
    cJSON *b = cJSON_CreateObject();

    cJSON_AddNumberToObject(b, "code", 200);
    cJSON_AddStringToObject(b, "reason", "ok");
    cJSON_AddItemToObject(b, "switches", degrade_json());
    return b;
}

void admin_degrade_get(struct evhttp_request *req, master *m, int64_t id)
{
    (void)m;
    (void)id;
    http_send_json(req, 200, state_body());
}

static void set_done(master *m, void *arg, const cJSON *answers, int missing)
{
    struct evhttp_request *req = arg;
    cJSON *b = state_body();

    (void)m;
    (void)answers;
    cJSON_AddNumberToObject(b, "workers_missing", missing);
    http_send_json(req, 200, b);
}

/* "a,b" of the query member key into off[] (value 1 for off, 0 for on).
 * -1 with the unknown name in bad. */
static int mark(const char *list, unsigned char *off, unsigned char v,
                char *bad, size_t badlen)
{
    char buf[256], *save = NULL, *t;

    snprintf(buf, sizeof buf, "%s", list);
    for (t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int i = degrade_find(t);
        if (i < 0) {
            snprintf(bad, badlen, "%s", t);
            return -1;
        }
        off[i] = v;
    }
    return 0;
}

void admin_degrade_set(struct evhttp_request *req, master *m, int64_t id)
{
    const char *query =
        evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    struct evkeyvalq q;
    const struct evkeyval *kv;
    unsigned char off[DEGRADE_N];
    char bad[128] = "", known[256] = "";
    const char *why = NULL;
    cJSON *ask;

    (void)id;
    for (int i = 0; i < DEGRADE_N; i++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s",
                 i ? ", " : "", degrade_name((degrade_id)i));
    memcpy(off, degrade_off, sizeof off);
    TAILQ_INIT(&q);
    if (query == NULL || query[0] == '\0' ||
        evhttp_parse_query_str(query, &q) < 0)
        why = "no switches named";
    TAILQ_FOREACH(kv, &q, next)
    {
        int isoff = strcmp(kv->key, "off") == 0;
        if (why != NULL)
            break;
        if (!isoff && strcmp(kv->key, "on") != 0) {
            snprintf(bad, sizeof bad, "%s", kv->key);
            why = "unknown parameter";
        } else if (mark(kv->value, off, isoff ? 1 : 0, bad, sizeof bad) < 0) {
            why = "unknown switch";
        }
    }
    evhttp_clear_headers(&q);
    if (why != NULL) {
        http_send_error(req, 400, "bad_request", NULL,
                        "%s%s%s%s; expected ?off=NAME[,NAME...] and/or "
                        "?on=NAME[,NAME...], NAME one of: %s",
                        why, bad[0] ? " \"" : "", bad, bad[0] ? "\"" : "",
                        known);
        return;
    }
    /* The master's copy first: a worker forked from now on inherits it. */
    memcpy(degrade_off, off, sizeof off);
    for (int i = 0; i < DEGRADE_N; i++)
        log_info("degrade: %s is %s", degrade_name((degrade_id)i),
                 degrade_off[i] ? "off" : "on");
    ask = cJSON_CreateObject();
    cJSON_AddStringToObject(ask, "type", "set_degrade");
    cJSON_AddItemToObject(ask, "off", degrade_off_json());
    if (ask_all(m, ask, 5000, set_done, req) < 0)
        http_send_error(req, 500, "internal", NULL, "out of memory");
    cJSON_Delete(ask);
}
