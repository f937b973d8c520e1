/*
 * test_tags_import.c -- the crowd tag import (core/tags_import.c): the
 * CSV line parser and every reason it rejects a line, the stream (header,
 * CRLF, blank lines, line numbers, pieces split anywhere), the writes into
 * a real LMDB store read back with store_tag_get under the crowd key, the
 * TTL, a store that fails midway, the evbuffer runner; and the admin
 * plane's loopback check (core/admin.c), which e2e tests cannot reach
 * from loopback.
 *
 *   AMS_TEST_TMP  where the temporary store goes (default /tmp)
 */
#include "admin.h"
#include "services.h"
#include "store.h"
#include "tags_import.h"
#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define NOW 1700000000000LL

static char tmpdir[PATH_MAX];
static int nstores;

/* ---- helpers ---- */

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static store *new_store(size_t map_size)
{
    char uri[PATH_MAX + 32], err[512] = "";
    store_options o = {
        .uri = uri, .lmdb_map_size = map_size, .lmdb_sync = STORE_SYNC_NONE};
    store *s;

    snprintf(uri, sizeof uri, "lmdb:%s/db%d", tmpdir, nstores++);
    s = store_open(&o, err, sizeof err);
    if (s == NULL)
        printf("# store_open(%s): %s\n", uri, err);
    return s;
}

/* The crowd tag (uid, tag) at now, or NULL when absent; caller frees. */
static char *crowd_tag(store *s, const char *uid, const char *tag, int64_t now)
{
    char key[STORE_KEY_MAX], *v = NULL;
    size_t len;

    if (svc_crowd_key(key, sizeof key, uid, tag) < 0 ||
        store_tag_get(s, key, now, &v, &len) != AMS_OK)
        return NULL;
    return v;
}

/* Parse one NUL-terminated line; returns the parser's result, the
 * reason in why. */
static int parse(const char *line, tags_import_rec *r, char *why,
                 size_t whylen)
{
    why[0] = '\0';
    return tags_import_parse_line(line, strlen(line), r, why, whylen);
}

static void rejects(const char *line, const char *want, const char *what)
{
    tags_import_rec r;
    char why[256];
    int rc = parse(line, &r, why, sizeof why);

    is_int(rc, -1, "%s: rejected", what);
    has_str(why, want, "%s: reason", what);
}

static void accepts(const char *line, const char *uid, const char *tag,
                    const char *value, const char *what)
{
    tags_import_rec r;
    char why[256];
    int rc = parse(line, &r, why, sizeof why);

    if (!ok(rc == 1, "%s: accepted", what)) {
        printf("#   reason: %s\n", why);
        return;
    }
    if (strcmp(r.uid, uid) != 0 || strcmp(r.tag, tag) != 0 ||
        strcmp(r.value, value) != 0) {
        ok(0, "%s: fields", what);
        printf("#   got (%s|%s|%s), want (%s|%s|%s)\n", r.uid, r.tag, r.value,
               uid, tag, value);
        return;
    }
    ok(1, "%s: fields", what);
}

static char *repeat(char c, size_t n)
{
    char *p = malloc(n + 1);
    memset(p, c, n);
    p[n] = '\0';
    return p;
}

/* The error strings of a result as one "|"-joined string (static). */
static const char *joined_errors(const cJSON *res)
{
    static char buf[8192];
    const cJSON *e;
    size_t o = 0;

    buf[0] = '\0';
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(res, "errors")) o +=
        (size_t)snprintf(buf + o, o < sizeof buf ? sizeof buf - o : 0, "%s%s",
                         o ? "|" : "", e->valuestring);
    return buf;
}

static double num(const cJSON *res, const char *name)
{
    return cJSON_GetNumberValue(cJSON_GetObjectItem(res, name));
}

/* ---- the line parser ---- */

static void test_parse_good(void)
{
    tags_import_rec r;
    char why[256];
    char *uid128 = repeat('u', 128), *tag100 = repeat('t', 100);
    char *val1000 = repeat('v', 1000), line[2048];

    accepts("alice,vip,gold", "alice", "vip", "gold", "plain line");
    accepts("alice,vip,", "alice", "vip", "", "empty value");
    accepts("a-b_c.9,x.y-z_0,v", "a-b_c.9", "x.y-z_0", "v",
            "uid punctuation, tag of every allowed kind");
    accepts("!~#$%&'()*+-./:;<=>?@[]^_`{|}0,t,v",
            "!~#$%&'()*+-./:;<=>?@[]^_`{|}0", "t", "v",
            "uid: any printable ASCII");
    accepts("alice,vip,with spaces and \"quotes\" inside", "alice", "vip",
            "with spaces and \"quotes\" inside",
            "value with spaces and inner quotes");
    accepts("alice,vip,\xe9\x87\x91 \xf0\x9f\x8e\x89", "alice", "vip",
            "\xe9\x87\x91 \xf0\x9f\x8e\x89", "value: UTF-8");
    accepts("alice,vip,\"a,b\"", "alice", "vip", "a,b",
            "quoted value with a comma");
    accepts("alice,vip,\"say \"\"hi\"\"\"", "alice", "vip", "say \"hi\"",
            "quoted value with doubled quotes");
    accepts("\"alice\",\"vip\",\"\"", "alice", "vip", "",
            "every field quoted, empty quoted value");
    accepts("alice,vip,{\"a\":1}", "alice", "vip", "{\"a\":1}",
            "unquoted JSON without commas");
    snprintf(line, sizeof line, "%s,%s,%s", uid128, tag100, val1000);
    accepts(line, uid128, tag100, val1000,
            "uid of 128, tag of 100, value of 1000 bytes");
    is_int(parse("", &r, why, sizeof why), 0, "empty line: blank");
    is_int(parse(" \t ", &r, why, sizeof why), 0, "spaces and tabs: blank");
    free(uid128);
    free(tag100);
    free(val1000);
}

static void test_parse_rejects(void)
{
    char *uid129 = repeat('u', 129), *tag101 = repeat('t', 101);
    char *val1001 = repeat('v', 1001), line[2048];
    tags_import_rec r;
    char why[256];
    const char nul_line[] = "alice,vip,a\0b";

    rejects("alice", "1 field, expected 3", "one field");
    rejects("alice,vip", "2 fields, expected 3", "two fields");
    rejects("alice,vip,a,b", "4 fields, expected 3", "four fields");
    rejects(",,,,", "5 fields", "only commas");
    rejects(",vip,x", "uid: empty", "empty uid");
    snprintf(line, sizeof line, "%s,vip,x", uid129);
    rejects(line, "uid: 129 bytes, at most 128", "uid of 129 bytes");
    rejects("al ice,vip,x", "uid: byte 3 is a space or not printable",
            "uid with a space");
    rejects("al\tice,vip,x", "uid: byte 3", "uid with a tab");
    rejects("\xc3\xa9lise,vip,x", "uid: byte 1", "uid with non-ASCII");
    rejects("alice,,x", "tag: empty", "empty tag");
    snprintf(line, sizeof line, "alice,%s,x", tag101);
    rejects(line, "tag: 101 bytes, at most 100", "tag of 101 bytes");
    rejects("alice,VIP,x", "tag: byte 1 is not one of a-z 0-9 _ . -",
            "upper-case tag");
    rejects("alice,v ip,x", "tag: byte 2 is not one of", "tag with a space");
    rejects("alice,vip/x,x", "tag: byte 4", "tag with a slash");
    snprintf(line, sizeof line, "alice,vip,%s", val1001);
    rejects(line, "value: 1001 bytes, at most 1000", "value of 1001 bytes");
    rejects("alice,vip,a\tb", "value: control character at byte 2",
            "value with a tab");
    rejects("alice,vip,ab\rc", "value: control character at byte 3",
            "value with a CR inside");
    rejects("alice,vip,\x7f", "value: control character at byte 1",
            "value with DEL");
    is_int(tags_import_parse_line(nul_line, sizeof nul_line - 1, &r, why,
                                  sizeof why),
           -1, "value with a NUL byte: rejected");
    has_str(why, "value: control character at byte 2",
            "value with a NUL byte: reason");
    rejects("alice,vip,ab\xff", "value: not UTF-8 at byte 3",
            "value with a byte that is never UTF-8");
    rejects("alice,vip,\xe9\x87", "value: not UTF-8 at byte 1",
            "value with a cut UTF-8 sequence");
    rejects("alice,vip,\xc0\xaf", "value: not UTF-8", "overlong UTF-8");
    rejects("alice,vip,\xed\xa0\x80", "value: not UTF-8",
            "UTF-8 encoded surrogate");
    rejects("alice,vip,\"open", "field 3: the quoted field does not end",
            "unterminated quote");
    rejects("\"alice,vip,x", "field 1: the quoted field does not end",
            "unterminated quote in the first field");
    rejects("alice,vip,\"x\"y", "field 3: text after the closing quote",
            "text after a closing quote");
    rejects("alice,\"vip\" ,x", "field 2: text after the closing quote",
            "space after a closing quote");
    rejects("alice,\"v,ip\",x", "tag: byte 2",
            "a quoted tag is checked like any tag");
    free(uid129);
    free(tag101);
    free(val1001);
}

/* ---- the stream ---- */

/* Feed text to a validating import (no store) in pieces of step bytes
 * (0: all at once); returns the result. */
static cJSON *run_text(const char *text, size_t len, size_t step)
{
    tags_import t;
    cJSON *res;

    tags_import_init(&t, NULL, NOW, 0);
    if (step == 0) {
        tags_import_feed(&t, text, len);
    } else {
        for (size_t i = 0; i < len; i += step)
            tags_import_feed(&t, text + i, len - i < step ? len - i : step);
    }
    tags_import_finish(&t);
    res = tags_import_result(&t);
    tags_import_free(&t);
    return res;
}

static cJSON *run_str(const char *text, size_t step)
{
    return run_text(text, strlen(text), step);
}

static const char MIXED[] =
    "uid,tag,value\r\n"  /* 1: header, skipped */
    "alice,vip,gold\r\n" /* 2 */
    "\r\n"               /* 3: blank */
    "bob,vip,\n"         /* 4: empty value, LF only */
    "carol,VIP,x\n"      /* 5: bad tag */
    "   \n"              /* 6: blank */
    "dave,vip\r\n"       /* 7: two fields */
    "uid,tag,value\n"    /* 8: not the first line: a record */
    "e ve,vip,x\n"       /* 9: bad uid */
    "frank,vip,\"a,b\""; /* 10: no newline at the end */

static void test_stream(void)
{
    const char *want_errors = "line 5: tag: byte 1 is not one of a-z 0-9 _ "
                              ". -|line 7: 2 fields, expected 3 (uid,tag,"
                              "value; quote a value that holds commas)|"
                              "line 9: uid: byte 2 is a space or not "
                              "printable ASCII (uids are printable ASCII "
                              "without spaces)";
    size_t steps[] = {0, 1, 2, 3, 7, 64};

    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        cJSON *res = run_text(MIXED, sizeof MIXED - 1, steps[i]);
        is_int(num(res, "loaded"), 4, "mixed body, pieces of %zu: 4 loaded",
               steps[i]);
        is_int(num(res, "rejected"), 3,
               "mixed body, pieces of %zu: 3 rejected", steps[i]);
        is_str(joined_errors(res), want_errors,
               "mixed body, pieces of %zu: reasons with line numbers",
               steps[i]);
        ok(cJSON_GetObjectItem(res, "errors_more") == NULL,
           "mixed body, pieces of %zu: no errors_more", steps[i]);
        cJSON_Delete(res);
    }
}

static void test_stream_edges(void)
{
    cJSON *res;
    char *big, *p;
    size_t n;

    res = run_text("", 0, 0);
    ok(num(res, "loaded") == 0 && num(res, "rejected") == 0 &&
           cJSON_GetArraySize(cJSON_GetObjectItem(res, "errors")) == 0,
       "empty body: nothing loaded, nothing rejected, errors []");
    cJSON_Delete(res);

    res = run_str("uid,tag,value\n", 0);
    ok(num(res, "loaded") == 0 && num(res, "rejected") == 0,
       "header only: nothing loaded or rejected");
    cJSON_Delete(res);

    res = run_str("\n\r\n\nuid,tag,value\nalice,vip,1\n", 1);
    ok(num(res, "loaded") == 1 && num(res, "rejected") == 0,
       "header after blank lines is still the header");
    cJSON_Delete(res);

    res = run_str("\xEF\xBB\xBFuid,tag,value\r\nalice,vip,1\r\n", 1);
    ok(num(res, "loaded") == 1 && num(res, "rejected") == 0,
       "UTF-8 byte-order mark before the header: skipped");
    cJSON_Delete(res);

    res = run_str("\xEF\xBB\xBF"
                  "alice,vip,1\n",
                  0);
    ok(num(res, "loaded") == 1 && num(res, "rejected") == 0,
       "byte-order mark before the first record: skipped");
    cJSON_Delete(res);

    res = run_str("alice,vip,1\r\n\xEF\xBB\xBF"
                  "bob,vip,1\n",
                  0);
    is_str(joined_errors(res),
           "line 2: uid: byte 1 is a space or not "
           "printable ASCII (uids are printable ASCII without spaces)",
           "a byte-order mark after line 1 is part of the uid");
    cJSON_Delete(res);

    res = run_str("alice,vip,1\r", 0);
    ok(num(res, "loaded") == 1 && num(res, "rejected") == 0,
       "last line ending in a lone CR: the CR is the line end");
    cJSON_Delete(res);

    /* A line over the limit, then a good one: the long one is rejected
     * without being kept, and the count goes on. */
    n = TAGS_IMPORT_LINE_MAX + 100;
    big = malloc(n + 64);
    p = big;
    p += sprintf(p, "alice,vip,");
    memset(p, 'x', n);
    p += n;
    p += sprintf(p, "\nbob,vip,1\n");
    for (size_t step = 0; step <= 1000; step += 1000) {
        res = run_text(big, (size_t)(p - big), step);
        is_str(joined_errors(res), "line 1: longer than 4096 bytes",
               "a line over 4096 bytes (pieces of %zu): rejected", step);
        is_int(num(res, "loaded"), 1,
               "a line over 4096 bytes (pieces of %zu): the next loads", step);
        cJSON_Delete(res);
    }
    /* The same at the very end, without a newline. */
    res = run_text(big, (size_t)(strchr(big, '\n') - big), 100);
    is_str(joined_errors(res), "line 1: longer than 4096 bytes",
           "a last line over 4096 bytes without a newline: rejected");
    cJSON_Delete(res);
    /* The limit is on the line without its CRLF, however it is split. */
    for (size_t extra = 0; extra <= 1; extra++) {
        size_t len = (size_t)sprintf(big, "alice,vip,");
        memset(big + len, 'x', TAGS_IMPORT_LINE_MAX + extra - len);
        memcpy(big + TAGS_IMPORT_LINE_MAX + extra, "\r\n", 2);
        len = TAGS_IMPORT_LINE_MAX + extra + 2;
        for (size_t step = 0; step <= 1; step++) {
            res = run_text(big, len, step);
            has_str(joined_errors(res),
                    extra ? "line 1: longer than 4096 bytes"
                          : "line 1: value: 4086 bytes, at most 1000",
                    "a line of %zu bytes and CRLF (pieces of %zu): %s",
                    (size_t)TAGS_IMPORT_LINE_MAX + extra, step,
                    extra ? "too long" : "read and checked");
            cJSON_Delete(res);
        }
    }
    free(big);
}

static void test_error_cap(void)
{
    size_t n = 150, len = 0;
    char *text = malloc(n * 16 + 32);
    const cJSON *list, *more;
    cJSON *res;

    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(text + len, "bad line %zu\n", i);
    len += (size_t)sprintf(text + len, "alice,vip,1\n");
    res = run_text(text, len, 0);
    list = cJSON_GetObjectItem(res, "errors");
    more = cJSON_GetObjectItem(res, "errors_more");
    is_int(num(res, "rejected"), 150, "150 bad lines: rejected 150");
    is_int(num(res, "loaded"), 1, "150 bad lines: the good one loads");
    is_int(cJSON_GetArraySize(list), TAGS_IMPORT_ERRORS_MAX,
           "150 bad lines: %d reasons listed", TAGS_IMPORT_ERRORS_MAX);
    is_str(cJSON_GetArrayItem(list, 99)->valuestring,
           "line 100: 1 field, expected 3 (uid,tag,value; quote a value "
           "that holds commas)",
           "the last one listed is line 100");
    is_str(cJSON_GetStringValue(more), "and 50 more",
           "errors_more: \"and 50 more\"");
    cJSON_Delete(res);
    free(text);
}

/* ---- into a store ---- */

static void test_crowd_key(void)
{
    char key[STORE_KEY_MAX], small[8];

    is_int(svc_crowd_key(key, sizeof key, "alice", "vip"), 0,
           "svc_crowd_key: fits");
    is_str(key, "{u5:alice}c:vip",
           "svc_crowd_key: {u<len>:<uid>}c:<name>, as plugins read it");
    is_int(svc_crowd_key(small, sizeof small, "alice", "vip"), -1,
           "svc_crowd_key: -1 when out is too small");
}

static void test_store_writes(void)
{
    store *s = new_store(0);
    tags_import t;
    cJSON *res;
    char *v;
    static const char body[] =
        "uid,tag,value\r\n"
        "alice,level,gold\r\n"
        "bob,level,\r\n"
        "alice,city,\"Paris, France\"\r\n"
        "carol,Level,x\r\n"
        "alice,level,platinum\r\n"; /* a later line overwrites */

    if (!ok(s != NULL, "a temporary LMDB store"))
        return;
    tags_import_init(&t, s, NOW, 0);
    is_int(tags_import_feed(&t, body, sizeof body - 1), 0, "feed: 0");
    is_int(tags_import_finish(&t), 0, "finish: 0");
    is_int(t.loaded, 4, "4 lines loaded");
    is_int(t.rejected, 1, "1 line rejected");
    ok(t.store_error == NULL, "no store error");
    tags_import_free(&t);

    v = crowd_tag(s, "alice", "level", NOW);
    is_str(v, "platinum", "alice level: the later line won");
    free(v);
    v = crowd_tag(s, "bob", "level", NOW);
    is_str(v, "", "bob level: the empty value is a tag");
    free(v);
    v = crowd_tag(s, "alice", "city", NOW);
    is_str(v, "Paris, France", "alice city: the quoted value");
    free(v);
    v = crowd_tag(s, "carol", "level", NOW);
    ok(v == NULL, "carol: the rejected line wrote nothing");
    free(v);
    v = crowd_tag(s, "carol", "Level", NOW);
    ok(v == NULL, "carol: not under the bad tag name either");
    free(v);
    v = crowd_tag(s, "alice", "level", NOW + 100LL * 365 * 86400000);
    is_str(v, "platinum", "without ttl_s: no expiry");
    free(v);

    /* With a TTL: visible before, gone at the expiry. */
    tags_import_init(&t, s, NOW, NOW + 60000);
    tags_import_feed(&t, "dora,trial,1\n", 13);
    tags_import_finish(&t);
    tags_import_free(&t);
    v = crowd_tag(s, "dora", "trial", NOW + 59999);
    is_str(v, "1", "ttl: visible before the expiry");
    free(v);
    v = crowd_tag(s, "dora", "trial", NOW + 60000);
    ok(v == NULL, "ttl: gone at the expiry");
    free(v);

    /* The runner: an evbuffer of many chains, lines split across them. */
    {
        struct evbuffer *b = evbuffer_new();
        static const char *parts[] = {"uid,tag,val", "ue\nerin,vi", "p,1\nfre",
                                      "d,vip,2",     "\n",          "gus,",
                                      "vip,3"};
        store_options o = {.lmdb_sync = STORE_SYNC_NONE};
        char uri[PATH_MAX + 32];
        size_t total = 0;

        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
            evbuffer_add_reference(b, parts[i], strlen(parts[i]), NULL, NULL);
            total += strlen(parts[i]);
        }
        store_close(s); /* the runner opens the store itself */
        snprintf(uri, sizeof uri, "lmdb:%s/db%d", tmpdir, nstores - 1);
        o.uri = uri;
        res = tags_import_run(&o, b, NOW, 5000);
        ok(res != NULL && num(res, "loaded") == 3 && num(res, "rejected") == 0,
           "tags_import_run: a body in 7 chains, 3 loaded");
        cJSON_Delete(res);
        is_int(evbuffer_get_length(b), total, "the body is read, not drained");
        {
            char err[512];
            store *r = store_open(&o, err, sizeof err);
            char *e1 = r ? crowd_tag(r, "erin", "vip", NOW + 4999) : NULL;
            char *e2 = r ? crowd_tag(r, "gus", "vip", NOW + 5000) : NULL;
            is_str(e1, "1", "tags_import_run: erin/vip written");
            ok(r != NULL && e2 == NULL,
               "tags_import_run: ttl_ms applied (gus/vip expired)");
            free(e1);
            free(e2);
            if (r != NULL)
                store_close(r);
        }
        o.uri = "nope:x";
        res = tags_import_run(&o, b, NOW, 0);
        has_str(cJSON_GetStringValue(cJSON_GetObjectItem(res, "store_error")),
                "cannot open the store",
                "tags_import_run: a store that does not open is a "
                "store_error");
        cJSON_Delete(res);
        evbuffer_free(b);
    }
}

/* A store that fills up: the import stops at the failing line. */
static void test_store_full(void)
{
    store *s = new_store(1 << 20);
    tags_import t;
    char line[1100];
    int rc = 0;
    uint64_t i;
    cJSON *res;

    if (!ok(s != NULL, "a 1 MiB store"))
        return;
    memset(line, 'x', sizeof line);
    tags_import_init(&t, s, NOW, 0);
    for (i = 1; i <= 5000 && rc == 0; i++) {
        int n = snprintf(line, sizeof line, "user%llu,fill,",
                         (unsigned long long)i);
        memset(line + n, 'v', 1000);
        line[n + 1000] = '\n';
        rc = tags_import_feed(&t, line, (size_t)n + 1001);
    }
    is_int(rc, -1, "feeding into a full store returns -1");
    ok(t.store_error != NULL && t.loaded == i - 2,
       "store_error set, every line before the failing one loaded (%llu)",
       (unsigned long long)t.loaded);
    {
        char want[64];
        snprintf(want, sizeof want, "line %llu: the store failed",
                 (unsigned long long)(i - 1));
        has_str(t.store_error, want, "store_error names the line");
    }
    is_int(tags_import_feed(&t, "a,b,c\n", 6), -1,
           "feeding after the failure: -1, ignored");
    is_int(tags_import_finish(&t), -1, "finish after the failure: -1");
    res = tags_import_result(&t);
    ok(cJSON_IsString(cJSON_GetObjectItem(res, "store_error")),
       "the result carries store_error");
    cJSON_Delete(res);
    tags_import_free(&t);
    store_close(s);
}

/* ---- the admin plane's peer check ---- */

static int v4(const char *addr)
{
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    inet_pton(AF_INET, addr, &in.sin_addr);
    return admin_peer_is_loopback((const struct sockaddr *)&in);
}

static int v6(const char *addr)
{
    struct sockaddr_in6 in;
    memset(&in, 0, sizeof in);
    in.sin6_family = AF_INET6;
    inet_pton(AF_INET6, addr, &in.sin6_addr);
    return admin_peer_is_loopback((const struct sockaddr *)&in);
}

static void test_loopback(void)
{
    struct sockaddr_un un;

    is_int(v4("127.0.0.1"), 1, "127.0.0.1: loopback");
    is_int(v4("127.255.3.4"), 1, "127.255.3.4: loopback (127/8)");
    is_int(v4("128.0.0.1"), 0, "128.0.0.1: not loopback");
    is_int(v4("10.0.0.1"), 0, "10.0.0.1: not loopback");
    is_int(v4("0.0.0.0"), 0, "0.0.0.0: not loopback");
    is_int(v4("192.168.1.127"), 0, "192.168.1.127: not loopback");
    is_int(v6("::1"), 1, "::1: loopback");
    is_int(v6("::ffff:127.0.0.1"), 1, "::ffff:127.0.0.1: loopback");
    is_int(v6("::ffff:10.0.0.1"), 0, "::ffff:10.0.0.1: not loopback");
    is_int(v6("::2"), 0, "::2: not loopback");
    is_int(v6("::"), 0, ":: not loopback");
    is_int(v6("2001:db8::1"), 0, "2001:db8::1: not loopback");
    is_int(v6("fe80::1"), 0, "fe80::1: not loopback");
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    is_int(admin_peer_is_loopback((const struct sockaddr *)&un), 0,
           "AF_UNIX: not loopback (not an IP peer)");
    is_int(admin_peer_is_loopback(NULL), 0, "no address: not loopback");
}

int main(void)
{
    const char *base = getenv("AMS_TEST_TMP");

    if (base == NULL || *base == '\0')
        base = "/tmp";
    mkdir(base, 0700);
    snprintf(tmpdir, sizeof tmpdir, "%s/test_tags_import.XXXXXX", base);
    if (mkdtemp(tmpdir) == NULL) {
        printf("Bail out! mkdtemp %s: %s\n", tmpdir, strerror(errno));
        return 1;
    }
    test_parse_good();
    test_parse_rejects();
    test_stream();
    test_stream_edges();
    test_error_cap();
    test_crowd_key();
    test_store_writes();
    test_store_full();
    test_loopback();
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return tap_done();
}
