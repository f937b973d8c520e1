/*
 * svc_req.c -- the state of one request as the host services keep it
 * (services.h): its clock, memory kept until it ends, its journal (only
 * for attempts of the chain before write sets), plugins' locks (with the
 * orphans a store fault left behind), its store keys and its ledger (the
 * session lock is session.c's, in the worker's memory).
 * The functions plugins call are services.c's.
 */
#include "services.h"

#include "json.h"
#include "log.h"
#include "metrics.h"
#include "text.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define DAY_MS 86400000LL

int svc_req_begin(svc_req *r, int64_t now_ms)
{
    r->mono_start_ms = clock_mono_ms();
    r->clock_base_ms = now_ms >= 0 ? now_ms : clock_wall_ms();
    r->data = cJSON_CreateObject();
    return r->data ? 0 : -1;
}

const store_journal *svc_req_journal(const svc_req *r, store_journal *buf)
{
    if (r == NULL || r->jkey[0] == '\0')
        return NULL;
    buf->key = r->jkey;
    buf->expire_at_ms = r->jexpire_ms;
    return buf;
}

/* Keep p alive until the request ends; frees p and returns NULL if the
 * arena cannot grow. */
void *svc_arena_keep(svc_req *r, void *p)
{
    if (r->narena == r->carena) {
        size_t cap = r->carena ? r->carena * 2 : 8;
        void **a = realloc(r->arena, cap * sizeof *a);
        if (a == NULL) {
            free(p);
            return NULL;
        }
        r->arena = a;
        r->carena = cap;
    }
    r->arena[r->narena++] = p;
    return p;
}

/* Plugin locks whose request is over but whose release failed (the store
 * was unreachable): the lock stays until its TTL, and the next request
 * wanting it would be refused all that time.  This process knows those locks
 * have no live holder, so svc_host_lock_reclaim() may take them over, and
 * svc_release_orphans() releases them once the store answers again (so
 * a retry on another worker or node finds the lock free too).  A ring:
 * the oldest is forgotten first (its lock then just waits out its TTL,
 * as before). */
#define ORPHANS 1024
static struct {
    char *key; /* malloc'd; NULL: a free slot */
    char token[AMS_TOKEN_LEN];
} orphans[ORPHANS];
static unsigned orphan_next;
static size_t orphan_count;

static void orphan_add(const char *key, const char *token)
{
    unsigned i = orphan_next++ % ORPHANS;
    char *k = strdup(key);

    if (k == NULL) /* no memory: the lock just waits out its TTL */
        return;
    if (orphans[i].key != NULL)
        free(orphans[i].key);
    else
        orphan_count++;
    orphans[i].key = k;
    snprintf(orphans[i].token, AMS_TOKEN_LEN, "%s", token);
}

static void orphan_forget(unsigned i)
{
    free(orphans[i].key);
    orphans[i].key = NULL;
    orphan_count--;
}

/* 1 (and forgets it) when token is one of ours with no live holder. */
static int orphan_take(const char *token)
{
    for (unsigned i = 0; i < ORPHANS; i++)
        if (orphans[i].key != NULL && strcmp(orphans[i].token, token) == 0) {
            orphan_forget(i);
            return 1;
        }
    return 0;
}

size_t svc_orphans(void)
{
    return orphan_count;
}

size_t svc_release_orphans(int64_t now_ms)
{
    size_t released = 0;

    for (unsigned i = 0; i < ORPHANS && svc.st != NULL; i++) {
        ams_status st;
        if (orphans[i].key == NULL)
            continue;
        st = store_lock_release(svc.st, orphans[i].key, orphans[i].token,
                                now_ms);
        if (st == AMS_ERR_STORE)
            break; /* still away: the next round tries again */
        /* Released, or gone already (expired, taken over): done. */
        released += st == AMS_OK;
        orphan_forget(i);
    }
    return released;
}

void svc_req_release_locks(svc_req *r)
{
    int64_t now = r->clock_base_ms + (clock_mono_ms() - r->mono_start_ms);

    while (r->locks != NULL) {
        svc_lock *l = r->locks;
        r->locks = l->next;
        if (svc.st != NULL &&
            store_lock_release(svc.st, l->key, l->token, now) == AMS_ERR_STORE)
            orphan_add(l->key, l->token);
        free(l->key);
        free(l);
    }
}

void svc_req_end(svc_req *r)
{
    cJSON_Delete(r->grants);
    r->grants = NULL;
    cJSON_Delete(r->notes);
    r->notes = NULL;
    svc_req_release_locks(r);
    for (size_t i = 0; i < r->narena; i++)
        free(r->arena[i]);
    free(r->arena);
    free(r->params_json);
    cJSON_Delete(r->data);
    r->arena = NULL;
    r->narena = r->carena = 0;
    r->params_json = NULL;
    r->data = NULL;
    ws_free(r->ws);
    r->ws = NULL;
    session_leave(&r->sess);
}

int64_t svc_day(const activity *a, int64_t now_ms, int64_t *expire_at)
{
    int64_t off = (int64_t)(a ? a->tz_offset_min : 0) * 60000;
    int64_t t = now_ms + off;
    int64_t day = t / DAY_MS - (t % DAY_MS < 0);

    if (expire_at != NULL)
        *expire_at = (day + 1) * DAY_MS - off + DAY_MS;
    return day;
}

int64_t svc_req_now(const svc_req *r)
{
    return r->clock_base_ms + (clock_mono_ms() - r->mono_start_ms);
}

int svc_key_ok(const char *k)
{
    return k != NULL && text_is_token(k, 1, SVC_KEY_MAX);
}

/* The key texts below are built with tbuf (text.h): each request builds
 * several, and snprintf cost more than the store read they name. */

/* "{u<len(uid)>:<uid>}c:<name>" */
int svc_crowd_key(char *out, size_t outlen, const char *uid, const char *name)
{
    tbuf b = TBUF(out, outlen);
    size_t ulen = strlen(uid);

    tbuf_mem(&b, "{u", 2);
    tbuf_int(&b, (long long)ulen);
    tbuf_mem(&b, ":", 1);
    tbuf_mem(&b, uid, ulen);
    tbuf_mem(&b, "}c:", 3);
    tbuf_str(&b, name);
    return tbuf_end(&b);
}

/* This process's node: a hash of the boot id and the pid namespace, so
 * two processes with the same node share one pid space on one running
 * kernel (containers on one host differ by namespace). */
static uint32_t node_id(void)
{
    static uint32_t id;
    char buf[128] = "", ns[64] = "";
    FILE *f;
    uint32_t h = 2166136261u;

    if (id != 0)
        return id;
    f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f != NULL) {
        if (fgets(buf, sizeof buf, f) == NULL)
            buf[0] = '\0';
        fclose(f);
    }
    if (readlink("/proc/self/ns/pid", ns, sizeof ns - 1) < 0)
        ns[0] = '\0';
    for (const char *p = buf; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    for (const char *p = ns; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    id = h ? h : 1;
    return id;
}

/* A lock token: 8 hex digits of node, 8 of pid, 16 random.  Carrying the
 * owner lets a contender on the same node free the lock of a process that
 * died holding it (kill -9 mid-request) instead of waiting out its TTL. */
static void random_token(char token[AMS_TOKEN_LEN])
{
    unsigned char b[8];
    if (getrandom(b, sizeof b, 0) != sizeof b)
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)svc_random_u64();
    snprintf(token, AMS_TOKEN_LEN, "%08x%08x", node_id(), (unsigned)getpid());
    for (int i = 0; i < 8; i++)
        snprintf(token + 16 + 2 * i, 3, "%02x", b[i]);
}

/* 1 when token was issued on this node by a process that no longer
 * exists. */
static int owner_dead(const char *token)
{
    unsigned node, pid;
    char tail;

    if (token == NULL || strlen(token) != 32 ||
        sscanf(token, "%8x%8x%c", &node, &pid, &tail) != 3)
        return 0;
    if (node != node_id() || pid == 0 || pid == (unsigned)getpid())
        return 0;
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

ams_status svc_host_lock(svc_req *r, const char *key, int64_t ttl_ms)
{
    char token[AMS_TOKEN_LEN];
    int64_t now = svc_req_now(r);
    svc_lock *l;
    ams_status st;

    if (svc.st == NULL)
        return AMS_ERR_STORE;
    random_token(token);
    st = store_lock_acquire(svc.st, key, token, now + ttl_ms, now);
    if (st == AMS_ERR_STORE)
        orphan_add(key, token); /* it may have been taken: nobody holds it */
    if (st != AMS_OK)
        return st;
    l = calloc(1, sizeof *l);
    if (l == NULL || (l->key = strdup(key)) == NULL) {
        free(l);
        store_lock_release(svc.st, key, token, now);
        return AMS_ERR_NOMEM;
    }
    memcpy(l->token, token, AMS_TOKEN_LEN);
    l->next = r->locks;
    r->locks = l;
    return AMS_OK;
}

ams_status svc_host_lock_reclaim(svc_req *r, const char *key, int64_t ttl_ms)
{
    char *holder = NULL;
    ams_status st = svc_host_lock(r, key, ttl_ms);

    if (st != AMS_CONFLICT)
        return st;
    st = store_lock_get(svc.st, key, svc_req_now(r), &holder);
    if (st == AMS_NOT_FOUND) /* released (or expired) since: try again */
        return svc_host_lock(r, key, ttl_ms);
    if (st != AMS_OK) /* a fault is not "busy": nobody is known to run */
        return st == AMS_ERR_STORE ? st : AMS_CONFLICT;
    st = AMS_CONFLICT;
    if (owner_dead(holder) || orphan_take(holder)) {
        log_warn("lock %s: its holder (pid %.8s) is gone or ended "
                 "without releasing it; released",
                 key, holder + 8);
        st = store_lock_release(svc.st, key, holder, svc_req_now(r));
        if (st == AMS_ERR_STORE)
            orphan_add(key,
                       holder); /* still nobody's: the next try takes it */
        else
            st = svc_host_lock(r, key, ttl_ms);
    }
    free(holder);
    return st;
}

int svc_host_key(char *out, size_t outlen, int64_t activity_id,
                 const char *uid, const char *name)
{
    tbuf b = TBUF(out, outlen);

    /* "{a<id>}hu<len(uid)>:<uid>:<name>", or "{a<id>}hg:<name>" */
    tbuf_mem(&b, "{a", 2);
    tbuf_int(&b, (long long)activity_id);
    if (uid != NULL && uid[0] != '\0') {
        size_t ulen = strlen(uid);
        tbuf_mem(&b, "}hu", 3);
        tbuf_int(&b, (long long)ulen);
        tbuf_mem(&b, ":", 1);
        tbuf_mem(&b, uid, ulen);
        tbuf_mem(&b, ":", 1);
    } else {
        tbuf_mem(&b, "}hg:", 4);
    }
    tbuf_str(&b, name);
    return tbuf_end(&b);
}

int svc_ledger_key(char *out, size_t outlen, const svc_req *r)
{
    return svc_host_key(out, outlen, r->act->id, r->uid, "ledger");
}

/* Ledger entries are appended, one per grant (the list family of the
 * store): the 10,000th grant of a user costs what the first did.  A
 * ledger written before that is a versioned JSON array under the same
 * key; it is read first and never rewritten. */
ams_status svc_ledger_stage(svc_req *r)
{
    char key[STORE_KEY_MAX];
    const cJSON *it;
    svc_ws *ws = r->ws;
    ams_status st = AMS_OK;

    if (r->grants == NULL || cJSON_GetArraySize(r->grants) == 0)
        return AMS_OK;
    if (svc_ledger_key(key, sizeof key, r) < 0)
        return AMS_ERR;
    /* Without a write set of the request (a plugin's unit test): a set of
     * its own, committed at once. */
    if (ws == NULL && (ws = ws_new(svc.st)) == NULL)
        return AMS_ERR_NOMEM;
    cJSON_ArrayForEach(it, r->grants)
    {
        char *text = json_print(it);

        if (text == NULL) {
            st = AMS_ERR_NOMEM;
            break;
        }
        st = ws_append(ws, key, text, strlen(text), 0);
        free(text);
        if (st != AMS_OK)
            break;
    }
    if (ws != r->ws) {
        store_wres res;
        if (st == AMS_OK)
            st = ws_commit(ws, svc_req_now(r), &res);
        ws_free(ws);
    }
    return st;
}

ams_status svc_ledger_read(const svc_req *r, cJSON **out)
{
    char key[STORE_KEY_MAX], *old = NULL;
    size_t len = 0, n = 0;
    store_item *items = NULL;
    int64_t now = svc_req_now(r);
    ams_status st;
    cJSON *arr;

    *out = NULL;
    if (svc.st == NULL)
        return AMS_ERR_STORE;
    if (svc_ledger_key(key, sizeof key, r) < 0)
        return AMS_ERR;
    st = store_value_get(svc.st, key, now, &old, &len, NULL);
    if (st != AMS_OK && st != AMS_NOT_FOUND)
        return st;
    arr = old ? cJSON_ParseWithLength(old, len) : NULL;
    free(old);
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        arr = cJSON_CreateArray();
    }
    st = store_list_range(svc.st, key, 0, SIZE_MAX, now, &items, &n);
    if (st != AMS_OK) {
        cJSON_Delete(arr);
        return st;
    }
    for (size_t i = 0; i < n; i++) {
        cJSON *g = cJSON_ParseWithLength(items[i].val, items[i].len);
        if (cJSON_IsObject(g))
            cJSON_AddItemToArray(arr, g);
        else
            cJSON_Delete(g);
    }
    store_items_free(items, n);
    if (arr == NULL)
        return AMS_ERR_NOMEM;
    *out = arr;
    return AMS_OK;
}
