/*
 * test_blacklist.c -- the blacklist index (core/data/blacklist.c): uids per
 * scope, IP prefixes v4 and v6 flattened into ranges (checked against a
 * brute force over random nested prefixes and expiries), expiry, removal;
 * the values an operator writes; the journal in a real store (mem: and
 * LMDB), read incrementally from an offset; the CSV import with its
 * per-line errors; and a micro-benchmark of the check with 100,000 uids
 * and 100,000 prefixes (its figures printed as diagnostics).
 *
 *   AMS_TEST_TMP  where the temporary LMDB store goes (default /tmp)
 */
#include "blacklist.h"
#include "blacklist_admin.h"
#include "store.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NOW 1700000000000LL

static bl_change change(int add, int64_t aid, const char *kind,
                        const char *value, int64_t expires_ms,
                        const char *reason)
{
    bl_change c;
    char why[256];

    memset(&c, 0, sizeof c);
    if (bl_value_parse(kind, value, &c, why, sizeof why) < 0)
        printf("# bad test value %s: %s\n", value, why);
    c.add = add;
    c.activity_id = aid;
    c.expires_ms = expires_ms;
    c.at_ms = NOW;
    snprintf(c.reason, sizeof c.reason, "%s", reason ? reason : "");
    return c;
}

static void add(bl_index *x, int64_t aid, const char *kind, const char *v,
                int64_t exp, const char *reason)
{
    bl_change c = change(1, aid, kind, v, exp, reason);
    bl_index_apply(x, &c);
    bl_index_settle(x);
}

static void rm(bl_index *x, int64_t aid, const char *kind, const char *v)
{
    bl_change c = change(0, aid, kind, v, 0, NULL);
    bl_index_apply(x, &c);
    bl_index_settle(x);
}

static int ip_refused(const bl_index *x, int64_t aid, const char *ip,
                      int64_t now, bl_hit *hit)
{
    cidr_ip a;
    bl_hit h;

    if (cidr_ip_parse(ip, &a) < 0) {
        printf("# bad test address %s\n", ip);
        return -1;
    }
    return bl_index_check(x, aid, NULL, &a, now, hit ? hit : &h);
}

static int uid_refused(const bl_index *x, int64_t aid, const char *uid,
                       int64_t now)
{
    bl_hit h;
    return bl_index_check(x, aid, uid, NULL, now, &h);
}

/* ---- values ---- */

static void test_values(void)
{
    bl_change c;
    char why[256];
    int64_t ms;

    ok(bl_value_parse("uid", "u-1", &c, why, sizeof why) == 0 &&
           c.kind == BL_UID && strcmp(c.value, "u-1") == 0,
       "a uid is taken as it is");
    ok(bl_value_parse("uid", "a b", &c, why, sizeof why) < 0,
       "a uid with a space is refused: %s", why);
    ok(bl_value_parse("uid", "", &c, why, sizeof why) < 0,
       "an empty uid is refused");
    ok(bl_value_parse("ip", "10.1.2.3/8", &c, why, sizeof why) == 0 &&
           strcmp(c.value, "10.0.0.0/8") == 0,
       "a prefix with host bits set is cleared: %s", c.value);
    ok(bl_value_parse("ip", "192.0.2.7", &c, why, sizeof why) == 0 &&
           strcmp(c.value, "192.0.2.7/32") == 0,
       "a bare v4 address is a /32: %s", c.value);
    ok(bl_value_parse("ip", "::ffff:192.0.2.7", &c, why, sizeof why) == 0 &&
           strcmp(c.value, "192.0.2.7/32") == 0,
       "a v4-mapped address is the v4 one: %s", c.value);
    ok(bl_value_parse("ip", "2001:DB8::1/32", &c, why, sizeof why) == 0 &&
           strcmp(c.value, "2001:db8::/32") == 0,
       "a v6 prefix in canonical text: %s", c.value);
    ok(bl_value_parse("ip", "10.0.0.0/33", &c, why, sizeof why) < 0,
       "a v4 prefix longer than 32 is refused: %s", why);
    ok(bl_value_parse("ip", "host.example", &c, why, sizeof why) < 0,
       "a name is not an address");
    ok(bl_value_parse("user", "x", &c, why, sizeof why) < 0 &&
           strstr(why, "kind") != NULL,
       "an unknown kind is refused naming kind: %s", why);
    ok(bl_reason_check("fraud, ticket 7", why, sizeof why) == 0,
       "a reason with a comma is fine");
    ok(bl_reason_check("a\tb", why, sizeof why) < 0,
       "a reason with a tab is refused: %s", why);
    ok(bl_expiry_parse("", &ms, why, sizeof why) == 0 && ms == 0,
       "an empty expiry is never");
    ok(bl_expiry_parse("1700000000", &ms, why, sizeof why) == 0 &&
           ms == 1700000000000LL,
       "Unix seconds");
    ok(bl_expiry_parse("2023-11-14T22:13:20Z", &ms, why, sizeof why) == 0 &&
           ms == 1700000000000LL,
       "ISO UTC");
    ok(bl_expiry_parse("tomorrow", &ms, why, sizeof why) < 0,
       "a word is refused: %s", why);
}

/* ---- the index ---- */

static void test_uids(void)
{
    bl_index x;

    bl_index_init(&x);
    ok(!uid_refused(&x, 5, "u1", NOW), "an empty index refuses nothing");
    add(&x, 0, "uid", "u1", 0, "fraud");
    add(&x, 5, "uid", "u2", 0, "abuse in 5");
    ok(uid_refused(&x, 5, "u1", NOW) && uid_refused(&x, 6, "u1", NOW),
       "a global uid is refused in every activity");
    ok(uid_refused(&x, 5, "u2", NOW), "an activity's uid there");
    ok(!uid_refused(&x, 6, "u2", NOW),
       "an activity's uid not in another activity");
    ok(!uid_refused(&x, 5, "u3", NOW), "another uid passes");
    add(&x, 0, "uid", "u4", NOW + 1000, "");
    ok(uid_refused(&x, 5, "u4", NOW + 999), "before its expiry: refused");
    ok(!uid_refused(&x, 5, "u4", NOW + 1000),
       "at its expiry: passes, nothing ran");
    add(&x, 0, "uid", "u4", 0, "again");
    ok(uid_refused(&x, 5, "u4", NOW + 5000),
       "an add of the same uid replaces its expiry");
    rm(&x, 0, "uid", "u1");
    ok(!uid_refused(&x, 5, "u1", NOW), "a removed uid passes");
    is_int(x.n, 2, "two entries left");
    /* Tombstones and growth: many adds and removes. */
    for (int i = 0; i < 5000; i++) {
        char u[32];
        snprintf(u, sizeof u, "g%d", i);
        add(&x, 0, "uid", u, 0, NULL);
        if (i % 2)
            rm(&x, 0, "uid", u);
    }
    ok(uid_refused(&x, 1, "g4998", NOW) && !uid_refused(&x, 1, "g4999", NOW),
       "after 5,000 adds and 2,500 removes each answers right");
    is_int(x.n, 2 + 2500, "entries counted");
    bl_index_free(&x);
}

static void test_ips(void)
{
    bl_index x;
    bl_hit h;

    bl_index_init(&x);
    add(&x, 0, "ip", "10.0.0.0/8", NOW + 1000, "wide");
    add(&x, 0, "ip", "10.1.0.0/16", 0, "narrow");
    add(&x, 7, "ip", "192.0.2.0/24", 0, "seven");
    add(&x, 0, "ip", "2001:db8::/32", 0, "v6");
    add(&x, 0, "ip", "203.0.113.9", 0, "one");
    ok(ip_refused(&x, 1, "10.200.3.4", NOW, &h) == 1 && h.activity_id == 0 &&
           strcmp(h.reason, "wide") == 0,
       "inside a global /8: refused, scope global");
    ok(ip_refused(&x, 1, "::ffff:10.200.3.4", NOW, NULL) == 1,
       "the same address v4-mapped");
    ok(ip_refused(&x, 1, "11.0.0.0", NOW, NULL) == 0 &&
           ip_refused(&x, 1, "9.255.255.255", NOW, NULL) == 0,
       "just outside the /8 on both sides: passes");
    ok(ip_refused(&x, 1, "10.1.2.3", NOW + 1000, &h) == 1 &&
           strcmp(h.reason, "narrow") == 0,
       "the /8 expired: its /16 still refuses (reason of the /16)");
    ok(ip_refused(&x, 1, "10.2.0.1", NOW + 1000, NULL) == 0,
       "the /8 expired: the rest of it passes");
    ok(ip_refused(&x, 7, "192.0.2.200", NOW, &h) == 1 && h.activity_id == 7,
       "an activity's prefix: refused there, scope activity");
    ok(ip_refused(&x, 8, "192.0.2.200", NOW, NULL) == 0,
       "an activity's prefix: not in another activity");
    ok(ip_refused(&x, 1, "2001:db8:ffff::1", NOW, NULL) == 1 &&
           ip_refused(&x, 1, "2001:db9::", NOW, NULL) == 0,
       "v6: inside the /32 refused, the next /32 passes");
    ok(ip_refused(&x, 1, "203.0.113.9", NOW, NULL) == 1 &&
           ip_refused(&x, 1, "203.0.113.10", NOW, NULL) == 0 &&
           ip_refused(&x, 1, "203.0.113.8", NOW, NULL) == 0,
       "a bare address: only itself");
    rm(&x, 0, "ip", "10.1.0.0/16");
    ok(ip_refused(&x, 1, "10.1.2.3", NOW + 1000, NULL) == 0,
       "the /16 removed: passes once the /8 expired");
    ok(ip_refused(&x, 1, "10.1.2.3", NOW, NULL) == 1,
       "and is still refused by the /8 before");
    /* The ends of the address space. */
    add(&x, 3, "ip", "::/0", NOW + 10, "all");
    add(&x, 3, "ip", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0, "last");
    ok(ip_refused(&x, 3, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NOW + 10,
                  NULL) == 1 &&
           ip_refused(&x, 3, "::", NOW, NULL) == 1 &&
           ip_refused(&x, 3, "::", NOW + 10, NULL) == 0,
       "::/0 and the last address: the ends of the ranges are right");
    bl_index_free(&x);
}

/* Random nested prefixes under a few /8s with random expiries, against
 * checking every entry one by one. */
static void test_random(void)
{
    enum { N = 3000, PROBES = 200000 };
    static cidr nets[N];
    static int64_t exp[N];
    static int superseded[N]; /* a later add of the same prefix */
    bl_index x;
    unsigned seed = 12345;
    int wrong = 0;

    bl_index_init(&x);
    for (int i = 0; i < N; i++) {
        char text[64];
        unsigned bits = 8 + (unsigned)(rand_r(&seed) % 25);
        unsigned a = 10 + (unsigned)(rand_r(&seed) % 3);
        unsigned b = (unsigned)rand_r(&seed) % 4,
                 c = (unsigned)rand_r(&seed) % 8;
        bl_change ch;
        snprintf(text, sizeof text, "%u.%u.%u.%u/%u", a, b, c,
                 (unsigned)rand_r(&seed) % 256, bits);
        exp[i] = rand_r(&seed) % 3 == 0 ? 0 : NOW + rand_r(&seed) % 100;
        ch = change(1, 0, "ip", text, exp[i], "r");
        cidr_parse(ch.value, &nets[i]);
        bl_index_apply(&x, &ch);
    }
    bl_index_settle(&x);
    for (int i = 0; i < N; i++)
        for (int k = i + 1; k < N && !superseded[i]; k++)
            superseded[i] = nets[k].bits == nets[i].bits &&
                            memcmp(&nets[k].base, &nets[i].base, 16) == 0;
    for (int p = 0; p < PROBES; p++) {
        cidr_ip ip;
        int64_t now = NOW + rand_r(&seed) % 110;
        int want = 0, got;
        bl_hit h;
        char text[64];
        snprintf(text, sizeof text, "%u.%u.%u.%u",
                 10 + (unsigned)(rand_r(&seed) % 4),
                 (unsigned)rand_r(&seed) % 5, (unsigned)rand_r(&seed) % 9,
                 (unsigned)rand_r(&seed) % 256);
        cidr_ip_parse(text, &ip);
        for (int i = 0; i < N && !want; i++) {
            if (!superseded[i] && cidr_contains(&nets[i], &ip) &&
                (exp[i] == 0 || exp[i] > now))
                want = 1;
        }
        got = bl_index_check(&x, 1, NULL, &ip, now, &h);
        if (got != want && wrong++ < 5)
            printf("# %s at +%lld: got %d, want %d\n", text,
                   (long long)(now - NOW), got, want);
    }
    is_int(wrong, 0,
           "%d random addresses against %d random nested prefixes: the "
           "ranges answer as the entries one by one",
           PROBES, N);
    bl_index_free(&x);
}

/* ---- the journal in a store ---- */

static store *open_store(const char *uri)
{
    store_options so;
    char err[256];
    store *st;

    memset(&so, 0, sizeof so);
    so.uri = uri;
    st = store_open(&so, err, sizeof err);
    if (st == NULL)
        printf("# store_open %s: %s\n", uri, err);
    return st;
}

static void test_journal(const char *uri)
{
    store *st = open_store(uri);
    bl_change *c = calloc(5000, sizeof *c);
    bl_index a, b;
    size_t applied = 0;

    ok(st != NULL, "%s: store opened", uri);
    if (st == NULL || c == NULL) {
        free(c);
        return;
    }
    for (int i = 0; i < 5000; i++) {
        char u[32];
        snprintf(u, sizeof u, "j%d", i);
        c[i] = change(1, i % 2 ? 9 : 0, "uid", u, 0, "batch, with comma");
    }
    is_int(bl_journal_append(st, c, 5000, NOW), AMS_OK,
           "%s: 5,000 adds appended", uri);
    bl_index_init(&a);
    ok(bl_journal_read(st, &a, NOW, &applied) == AMS_OK && applied == 5000 &&
           a.n == 5000,
       "%s: read back, 5,000 entries (%zu applied)", uri, applied);
    is_int(a.next_item, (5000 + BL_ITEM_RECORDS - 1) / BL_ITEM_RECORDS,
           "%s: in items of %d records", uri, BL_ITEM_RECORDS);
    ok(uid_refused(&a, 9, "j1", NOW) && !uid_refused(&a, 8, "j1", NOW) &&
           uid_refused(&a, 8, "j2", NOW),
       "%s: scopes kept", uri);
    ok(strcmp(bl_index_find(&a, 0, BL_UID, "j0")->reason,
              "batch, with comma") == 0,
       "%s: reason kept", uri);
    c[0] = change(0, 0, "uid", "j0", 0, NULL);
    c[1] = change(1, 0, "ip", "2001:db8::/48", NOW + 5, "v6 net");
    bl_journal_append(st, c, 2, NOW);
    ok(bl_journal_read(st, &a, NOW, &applied) == AMS_OK && applied == 2,
       "%s: a later read applies only what came after (%zu)", uri, applied);
    ok(!uid_refused(&a, 0, "j0", NOW) &&
           ip_refused(&a, 4, "2001:db8:0:ffff::1", NOW, NULL) == 1,
       "%s: the remove and the prefix apply", uri);
    bl_index_init(&b);
    ok(bl_journal_read(st, &b, NOW, NULL) == AMS_OK && b.n == a.n,
       "%s: a fresh reader gets to the same %zu entries", uri, b.n);
    bl_index_free(&a);
    bl_index_free(&b);
    free(c);
    store_close(st);
}

/* A store emptied under a reader (a Redis restarted without persistence):
 * a fresh mem: store stands in for it. */
static void test_journal_reset(void)
{
    store *st = open_store("mem:bl-reset-1"), *st2;
    bl_change c[3];
    bl_index x;

    c[0] = change(1, 0, "uid", "old1", 0, NULL);
    c[1] = change(1, 0, "uid", "old2", 0, NULL);
    bl_index_init(&x);
    bl_journal_append(st, c, 1, NOW);
    bl_journal_append(st, c + 1, 1, NOW);
    bl_journal_read(st, &x, NOW, NULL);
    is_int(x.next_item, 2, "reset: two items read");
    store_close(st);
    st2 = open_store("mem:bl-reset-2");
    ok(bl_journal_read(st2, &x, NOW, NULL) == AMS_OK && x.n == 0 &&
           x.next_item == 0,
       "reset: an emptied store empties the index (it is the truth)");
    c[2] = change(1, 0, "uid", "new1", 0, NULL);
    bl_journal_append(st2, c + 2, 1, NOW);
    ok(bl_journal_read(st2, &x, NOW, NULL) == AMS_OK && x.n == 1 &&
           uid_refused(&x, 1, "new1", NOW) && !uid_refused(&x, 1, "old1", NOW),
       "reset: the new journal's first item is read, not skipped");
    bl_index_free(&x);
    store_close(st2);
}

static int decode(const char *line, bl_change *c)
{
    return bl_record_decode(line, strlen(line), c);
}

static void test_records(void)
{
    bl_change c;

    ok(decode("a\t0\tu\tx\t0\t1\t", &c) == 0 && c.add &&
           strcmp(c.value, "x") == 0 && c.reason[0] == '\0',
       "a record with an empty reason decodes");
    ok(decode("r\t3\ti\t10.0.0.0/8\t1", &c) == 0 && !c.add &&
           c.activity_id == 3,
       "a remove decodes");
    ok(decode("z\t0\tu\tx\t0\t1\t", &c) < 0, "an unknown record is skipped");
    ok(decode("a\t0\ti\tnot-ip\t0\t1\tr", &c) < 0,
       "a record with a bad prefix is skipped");
    ok(decode("a\t0\tu\tx\t0", &c) < 0, "a short record is skipped");
}

/* ---- the import ---- */

static void test_import(void)
{
    const char *body = "\xEF\xBB\xBF"
                       "kind,value,reason,expires_at\r\n"
                       "uid,u1,fraud,\r\n"
                       "ip,10.0.0.0/8,\"scanner, many\",2099-01-01T00:00:00Z\n"
                       "\n"
                       "user,u2,x,\n"
                       "uid,u 3,x,\n"
                       "ip,300.1.1.1,x,\n"
                       "uid,u4,x,1000\n"
                       "uid,u5\n"
                       "uid,u6,\"open,\n"
                       "ip,2001:db8::/32,,";
    cJSON *r = bl_import_run(NULL, body, strlen(body), 0, NOW);
    const cJSON *errs = cJSON_GetObjectItem(r, "errors");
    char *text = cJSON_PrintUnformatted(errs);

    is_int(cJSON_GetNumberValue(cJSON_GetObjectItem(r, "loaded")), 3,
           "import: 3 good lines loaded (header, BOM, CRLF, blank skipped)");
    is_int(cJSON_GetNumberValue(cJSON_GetObjectItem(r, "rejected")), 6,
           "import: 6 bad lines rejected");
    has_str(text, "line 5: kind", "line 5: an unknown kind");
    has_str(text, "line 6: value", "line 6: a uid with a space");
    has_str(text, "line 7: value", "line 7: not an address");
    has_str(text, "line 8: expires_at", "line 8: an expiry in the past");
    has_str(text, "line 9: 2 fields", "line 9: too few fields");
    has_str(text, "line 10: field 3", "line 10: an open quote");
    free(text);
    cJSON_Delete(r);
}

static double secs(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) +
           (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* 100,000 uids and 100,000 prefixes imported into LMDB, read back, and
 * the check timed. */
static void test_scale(const char *dir)
{
    enum { N = 100000, CHECKS = 1000000 };
    size_t cap = (size_t)N * 2 * 48 + 64, len = 0;
    char *body = malloc(cap), uri[600];
    struct timespec t0, t1, t2, t3;
    store *st;
    cJSON *r;
    bl_index x;
    volatile int hits = 0;
    unsigned seed = 7;

    snprintf(uri, sizeof uri, "lmdb:%s", dir);
    st = open_store(uri);
    if (st == NULL || body == NULL) {
        ok(0, "scale: store and memory");
        free(body);
        return;
    }
    for (int i = 0; i < N; i++) {
        len +=
            (size_t)snprintf(body + len, cap - len, "uid,user%d,bulk,\n", i);
        len +=
            (size_t)snprintf(body + len, cap - len, "ip,%d.%d.%d.0/24,bulk,\n",
                             1 + i / 65536, (i / 256) % 256, i % 256);
    }
    len += (size_t)snprintf(body + len, cap - len, "uid,bad uid,x,\n");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = bl_import_run(st, body, len, 0, NOW);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    is_int(cJSON_GetNumberValue(cJSON_GetObjectItem(r, "loaded")), 2 * N,
           "scale: 200,000 entries imported in %.2f s", secs(&t0, &t1));
    {
        char *e = cJSON_PrintUnformatted(cJSON_GetObjectItem(r, "errors"));
        has_str(e, "line 200001: value",
                "scale: the bad last line named by number");
        free(e);
    }
    cJSON_Delete(r);
    bl_index_init(&x);
    ok(bl_journal_read(st, &x, NOW, NULL) == AMS_OK && x.n == 2 * N,
       "scale: read back (%zu entries)", x.n);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    printf("# scale: journal read and index built in %.3f s\n",
           secs(&t1, &t2));
    {
        cidr_ip ips[1024];
        char uids[1024][32];
        for (int i = 0; i < 1024; i++) {
            char a[32];
            int k = rand_r(&seed) % (2 * N);
            snprintf(a, sizeof a, "%d.%d.%d.77", 1 + (k / 65536) % 4,
                     (k / 256) % 256, k % 256);
            cidr_ip_parse(a, &ips[i]);
            snprintf(uids[i], sizeof uids[i], "user%d", k);
        }
        clock_gettime(CLOCK_MONOTONIC, &t2);
        for (int i = 0; i < CHECKS; i++) {
            bl_hit h;
            hits +=
                bl_index_check(&x, 5, uids[i & 1023], &ips[i & 1023], NOW, &h);
        }
        clock_gettime(CLOCK_MONOTONIC, &t3);
        printf("# check (uid + IP, 100,000 of each, hit or miss): %.0f ns "
               "per request (%d of %d refused)\n",
               secs(&t2, &t3) * 1e9 / CHECKS, hits, CHECKS);
        ok(secs(&t2, &t3) * 1e9 / CHECKS < 5000,
           "scale: a check costs well under 5 us (%.0f ns)",
           secs(&t2, &t3) * 1e9 / CHECKS);
        /* A miss on both: an unknown uid, an address outside every range. */
        cidr_ip_parse("203.0.113.1", &ips[0]);
        clock_gettime(CLOCK_MONOTONIC, &t2);
        hits = 0;
        for (int i = 0; i < CHECKS; i++) {
            bl_hit h;
            hits += bl_index_check(&x, 5, "nobody", &ips[0], NOW, &h);
        }
        clock_gettime(CLOCK_MONOTONIC, &t3);
        printf("# check, a miss on both: %.0f ns per request\n",
               secs(&t2, &t3) * 1e9 / CHECKS);
        is_int(hits, 0, "scale: a miss passes");
    }
    bl_index_free(&x);
    store_close(st);
    free(body);
}

int main(void)
{
    const char *tmp = getenv("AMS_TEST_TMP");
    char dir[512];

    test_values();
    test_uids();
    test_ips();
    test_random();
    test_records();
    test_journal("mem:");
    test_journal_reset();
    snprintf(dir, sizeof dir, "%s/bl-lmdb-%d", tmp ? tmp : "/tmp",
             (int)getpid());
    mkdir(tmp ? tmp : "/tmp", 0700);
    mkdir(dir, 0700);
    {
        char uri[600];
        snprintf(uri, sizeof uri, "lmdb:%s/a", dir);
        mkdir(uri + 5, 0700);
        test_journal(uri);
    }
    test_import();
    {
        char sdir[600];
        snprintf(sdir, sizeof sdir, "%s/b", dir);
        mkdir(sdir, 0700);
        test_scale(sdir);
    }
    {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            printf("# could not remove %s\n", dir);
    }
    return tap_done();
}
