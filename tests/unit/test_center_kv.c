/*
 * test_center_kv.c -- the config center's shared pieces: Redis URIs
 * (never shown with their password), plugin pin files, and a version's
 * content from a directory, to Redis and back (the digest catches any
 * change), and onto a node's disk.
 *
 *   AMS_TEST_TMP  scratch directory
 */
#include "center_kv.h"
#include "digest.h"
#include "fileio.h"
#include "pins.h"
#include "redis_uri.h"
#include "tap.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[1024];

static const char *at(const char *rel)
{
    static char ring[8][PATH_MAX];
    static unsigned i;
    char *p = ring[i++ % 8];
    snprintf(p, PATH_MAX, "%s/%s", tmpdir, rel);
    return p;
}

static void put(const char *rel, const char *text)
{
    char dir[PATH_MAX], *slash;

    snprintf(dir, sizeof dir, "%s", at(rel));
    slash = strrchr(dir, '/');
    *slash = '\0';
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0700);
            *p = '/';
        }
    mkdir(dir, 0700);
    unlink(at(rel));
    if (fileio_write(at(rel), text, strlen(text)) < 0)
        printf("# cannot write %s: %s\n", at(rel), strerror(errno));
}

static const char *find(const errs *e, const char *frag)
{
    for (size_t i = 0; i < e->n; i++)
        if (strstr(e->msgs[i], frag) != NULL)
            return e->msgs[i];
    return NULL;
}

#define expect(e, frag)                                                       \
    do {                                                                      \
        if (!ok(find((e), (frag)) != NULL, "reported: %s", (frag)))           \
            for (size_t i_ = 0; i_ < (e)->n; i_++)                            \
                printf("#   [%zu] %s\n", i_, (e)->msgs[i_]);                  \
    } while (0)

static void test_uri(void)
{
    ruri u;
    const char *why = NULL;
    char shown[300];

    is_int(ruri_parse("redis://alice:p@ss:w@rd@cache.local:6380/4", &u, &why),
           0, "a URI with user and password parses");
    is_str(u.host, "cache.local", "host");
    is_int(u.port, 6380, "port");
    is_int(u.db, 4, "db");
    is_str(u.user, "alice", "user: before the first ':'");
    is_str(u.pass, "p@ss:w@rd", "password: up to the last '@'");
    ruri_display(&u, shown, sizeof shown);
    is_str(shown, "redis://cache.local:6380/4", "shown without credentials");
    ruri_free(&u);

    is_int(ruri_parse("redis://[::1]", &u, &why), 0, "IPv6, defaults");
    is_str(u.host, "::1", "IPv6 host without brackets");
    is_int(u.port, 6379, "default port 6379");
    is_int(u.db, 0, "default db 0");
    ok(u.user == NULL && u.pass == NULL, "no credentials");
    ruri_display(&u, shown, sizeof shown);
    is_str(shown, "redis://[::1]:6379/0", "IPv6 shown in brackets");
    ruri_free(&u);

    is_int(ruri_parse("redis://:secret@h/", &u, &why), 0,
           "a password without a user, a trailing '/'");
    ok(u.user == NULL && u.pass && strcmp(u.pass, "secret") == 0,
       "password only");
    is_int(ruri_set_auth(&u, "bob", "other"), 0, "credentials replaced");
    is_str(u.user, "bob", "new user");
    is_str(u.pass, "other", "new password");
    ruri_free(&u);

    {
        static const struct {
            const char *uri, *why;
        } bad[] = {{"http://h", "not a redis:// URI"},
                   {"redis://", "no host"},
                   {"redis://h:0", "the port is not 1..65535"},
                   {"redis://h:70000", "the port is not 1..65535"},
                   {"redis://h:1x", "the port is not 1..65535"},
                   {"redis://h/x", "the database is not a number"},
                   {"redis://h/1/2", "the database is not a number"},
                   {"redis://[::1", "closing ']'"},
                   {"redis://[::1]x", "unexpected characters"},
                   {"redis://u:@h", "an empty password"}};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            why = "";
            ok(ruri_parse(bad[i].uri, &u, &why) < 0 &&
                   strstr(why, bad[i].why) != NULL,
               "%s refused: %s (got: %s)", bad[i].uri, bad[i].why, why);
            ruri_free(&u);
        }
    }
}

static void test_pins(void)
{
    char hex[65];
    pins p;
    errs e = {0};
    const char *text;
    char buf[512];

    put("plug/a.so", "build one");
    put("plug/b.so", "build two");
    digest_file(at("plug/a.so"), hex);
    snprintf(
        buf, sizeof buf, "# pins\r\n\r\n%s  a.so\r\n%s *b.so\n", hex,
        "0000000000000000000000000000000000000000000000000000000000000000");
    is_int(pins_parse(buf, strlen(buf), "p", &p, &e), 0,
           "comments, blank lines, CRLF and binary marks parse");
    is_int(p.n, 2, "two pins");
    is_str(p.v[0].name, "a.so", "first name");
    is_int(p.v[1].line, 4, "line numbers kept");
    is_int(pins_verify(&p, at("plug"), "/srv/plugins", &e), -1,
           "b.so's pin does not match");
    expect(&e, "/srv/plugins/b.so: pin mismatch: this node has sha256");
    ok(find(&e, "a.so") == NULL, "a.so matches");
    pins_free(&p);
    errs_free(&e);

    snprintf(buf, sizeof buf, "%s  c.so\n", hex);
    pins_parse(buf, strlen(buf), "p", &p, &e);
    is_int(pins_verify(&p, at("plug"), "/srv/plugins", &e), -1,
           "a missing plugin fails");
    expect(&e, "c.so: pinned by the version");
    expect(&e, "but missing on this node");
    pins_free(&p);
    errs_free(&e);

    text = "abc  a.so\n"
           "0000000000000000000000000000000000000000000000000000000000000000 "
           "a.so\n"
           "0000000000000000000000000000000000000000000000000000000000000000  "
           "../a.so\n"
           "0000000000000000000000000000000000000000000000000000000000000000  "
           "a.txt\n"
           "0000000000000000000000000000000000000000000000000000000000000000  "
           "d.so\n"
           "1111111111111111111111111111111111111111111111111111111111111111  "
           "d.so\n";
    is_int(pins_parse(text, strlen(text), "pins", &p, &e), -1,
           "bad lines refused");
    expect(&e, "pins:1: expected 64 hex digits");
    expect(&e, "pins:2: expected two spaces");
    expect(&e, "pins:3: \"../a.so\" is not a plugin file name");
    expect(&e, "pins:4: \"a.txt\" is not a plugin file name");
    expect(&e, "pins:6: d.so: pinned twice (first at line 5)");
    pins_free(&p);
    errs_free(&e);

    is_int(pins_parse("x\0y", 3, "pins", &p, &e), -1, "a NUL byte refused");
    pins_free(&p);
    errs_free(&e);
}

/* A HGETALL-like reply of the HSET arguments a (fields from argv[2]). */
static redisReply *fake_reply(const ckv_args *a, redisReply *cells,
                              redisReply **elems, redisReply *top)
{
    size_t n = (size_t)a->argc - 2;

    for (size_t i = 0; i < n; i++) {
        cells[i] = (redisReply){0};
        cells[i].type = REDIS_REPLY_STRING;
        cells[i].str = (char *)a->argv[i + 2];
        cells[i].len = a->lens[i + 2];
        elems[i] = &cells[i];
    }
    *top = (redisReply){0};
    top->type = REDIS_REPLY_ARRAY;
    top->elements = n;
    top->element = elems;
    return top;
}

static void test_versions(void)
{
    ckv_version v, w, x;
    errs e = {0};
    ckv_args a;
    redisReply cells[64], *elems[64], top;
    char digest[65], *data;
    size_t len;

    /* DIR/activities/ wins; the pin file sits beside it. */
    put("pub/activities/b.conf", "activities = ();\n");
    put("pub/activities/a.conf", "# a\nactivities = ();\n");
    put("pub/activities/notes.txt", "not published");
    put("pub/amsd.conf", "workers = 1;\n");
    put("pub/plugins.sha256",
        "0000000000000000000000000000000000000000000000000000000000000000"
        "  a.so\n");
    is_int(ckv_read_dir(at("pub"), &v, &e), 0, "a directory reads");
    is_int(v.nfiles, 2, "two activity files (not notes.txt, not amsd.conf)");
    is_str(v.files[0].name, "a.conf", "sorted by name");
    ok(v.pins != NULL, "the pin file goes along");
    is_int(strlen(v.digest), 64, "a digest");
    snprintf(digest, sizeof digest, "%s", v.digest);
    errs_free(&e);

    /* The same content elsewhere, written in another order: same
     * digest. */
    put("pub2/activities/a.conf", "# a\nactivities = ();\n");
    put("pub2/activities/b.conf", "activities = ();\n");
    put("pub2/plugins.sha256",
        "0000000000000000000000000000000000000000000000000000000000000000"
        "  a.so\n");
    ckv_read_dir(at("pub2"), &w, &e);
    is_str(w.digest, digest, "the same content has the same digest");
    ckv_free(&w);
    put("pub2/activities/b.conf", "activities = ( );\n");
    ckv_read_dir(at("pub2"), &w, &e);
    ok(strcmp(w.digest, digest) != 0, "a byte changed: another digest");
    ckv_free(&w);
    errs_free(&e);

    /* To Redis and back. */
    v.published_at = 1767225600000LL;
    v.publisher = strdup("alice@ops1");
    v.rollback_of = 3;
    is_int(ckv_hset_args(&v, "ams:cc:v:7", &a), 0, "HSET arguments");
    is_str(a.argv[0], "HSET", "HSET");
    is_str(a.argv[1], "ams:cc:v:7", "the version's key");
    is_str(a.argv[2], "conf:a.conf", "a file's field");
    is_int(ckv_from_reply(7, fake_reply(&a, cells, elems, &top), &w, &e), 0,
           "read back");
    for (size_t i = 0; i < e.n; i++)
        printf("#   [%zu] %s\n", i, e.msgs[i]);
    is_int(w.number, 7, "number");
    is_int(w.nfiles, 2, "files");
    is_str(w.digest, digest, "digest");
    is_str(w.publisher, "alice@ops1", "publisher");
    is_int(w.published_at, 1767225600000LL, "published_at");
    is_int(w.rollback_of, 3, "rollback_of");
    ok(w.pins_len == v.pins_len && memcmp(w.pins, v.pins, v.pins_len) == 0,
       "pins");

    /* Onto a node's disk (under its run directory). */
    mkdir(at("node"), 0700);
    is_int(ckv_write_dir(&w, at("node/center-7.1"), &e), 0, "written");
    ok(fileio_read(at("node/center-7.1/activities/a.conf"), 1 << 20, &data,
                   &len) == 0 &&
           len == v.files[0].len && memcmp(data, v.files[0].data, len) == 0,
       "a.conf as published");
    free(data);
    ok(access(at("node/center-7.1/plugins.sha256"), R_OK) == 0,
       "the pin file as published");
    ckv_free(&w);
    errs_free(&e);

    /* Tampered content: the digest no longer matches. */
    cells[1].str = "activities = ( { } );\n";
    cells[1].len = strlen(cells[1].str);
    is_int(ckv_from_reply(7, &top, &w, &e), -1, "tampered content refused");
    expect(&e, "version 7: content digest");
    ckv_free(&w);
    errs_free(&e);

    /* A field naming a path, and a malformed pin file. */
    fake_reply(&a, cells, elems, &top);
    cells[0].str = "conf:../x.conf";
    cells[0].len = strlen(cells[0].str);
    for (size_t i = 0; i < top.elements; i += 2)
        if (cells[i].len == 4 && memcmp(cells[i].str, "pins", 4) == 0) {
            cells[i + 1].str = "garbage\n";
            cells[i + 1].len = 8;
        }
    is_int(ckv_from_reply(7, &top, &w, &e), -1, "bad names refused");
    expect(&e, "field \"conf:../x.conf\": not a plain *.conf file name");
    ckv_free(&w);
    errs_free(&e);

    top.elements = 0;
    is_int(ckv_from_reply(8, &top, &x, &e), -1, "no content");
    expect(&e, "version 8: no content in Redis");
    ckv_free(&x);
    errs_free(&e);
    ckv_args_free(&a);
    ckv_free(&v);
}

static void test_read_dir_errors(void)
{
    ckv_version v;
    errs e = {0};

    is_int(ckv_read_dir(at("nope"), &v, &e), -1, "a missing directory");
    expect(&e, "nope: no such directory");
    ckv_free(&v);
    errs_free(&e);

    put("flat/amsd.conf", "workers = 1;\n");
    is_int(ckv_read_dir(at("flat"), &v, &e), -1, "only amsd.conf");
    expect(&e, "no activity files (*.conf) to publish (amsd.conf is never "
               "published)");
    ckv_free(&v);
    errs_free(&e);

    put("flat/1003 flash.conf", "activities = ();\n");
    put("flat/plugins.sha256", "junk\n");
    is_int(ckv_read_dir(at("flat"), &v, &e), -1, "bad names and pins");
    expect(&e, "1003 flash.conf: the name can not be published");
    expect(&e, "plugins.sha256:1: expected 64 hex digits");
    ckv_free(&v);
    errs_free(&e);

    ok(ckv_prefix_ok("ams:cc:") && !ckv_prefix_ok("a b") && !ckv_prefix_ok(""),
       "prefixes: printable, no spaces");
    ok(ckv_node_ok("edge-1.dc2:8081") && !ckv_node_ok("a/b") &&
           !ckv_node_ok(""),
       "node names");
}

int main(void)
{
    const char *t = getenv("AMS_TEST_TMP");
    char cmd[PATH_MAX + 16];

    snprintf(tmpdir, sizeof tmpdir, "%s/center_kv",
             t && *t ? t : "/tmp/ams-test");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        printf("# could not clean %s\n", tmpdir);
    mkdir(t && *t ? t : "/tmp/ams-test", 0700);
    mkdir(tmpdir, 0700);

    test_uri();
    test_pins();
    test_versions();
    test_read_dir_errors();
    return tap_done();
}
