/*
 * test_conf.c -- amsd.conf as an operator meets it: values land where the
 * operator guide says, relative paths follow the file, and every mistake
 * is reported as "file:line: field: message" -- all of them in one run.
 *
 *   AMS_TEST_TMP  scratch directory for the config files written here
 */
#include "conf.h"
#include "fixture.h"
#include "store.h"
#include "tap.h"

#include <ams/ams.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[1024];

static void test_good_file(void)
{
    const char *path =
        fx_put(tmpdir, "good.conf",
               "# every setting, none at its default\n"
               "listen = \"0.0.0.0:9000\";\n"
               "admin = \"[::1]:9001\";\n"
               "workers = 3;\n"
               "store = \"lmdb:data/store\";\n"
               "plugins = \"plug\";\n"
               "activities = \"/srv/acts\";\n"
               "log_level = \"debug\";\n"
               "shutdown_timeout_ms = 500;\n"
               "coroutine_stack_kb = 64;\n"
               "sweep_interval_ms = 1000;\n"
               "http = { max_body = 1024; max_headers = 2048;\n"
               "         timeout_ms = 250; };\n"
               "lmdb = { map_size_mb = 16; sync = \"none\"; };\n"
               "testing = { clock_header = true; "
               "random_seed = 7; };\n");
    char want[PATH_MAX + 32];
    errs e = {0};
    conf c;
    int rc = conf_load(&c, path, &e);

    is_int(rc, 0, "good file: conf_load returns 0");
    if (!ok(e.n == 0, "good file: no messages"))
        fx_dump_errs(&e);
    is_str(c.file, path, "file is kept as given");
    is_str(c.listen, "0.0.0.0:9000", "listen");
    is_str(c.admin, "[::1]:9001", "admin (IPv6 in brackets)");
    is_int(c.workers, 3, "workers");
    snprintf(want, sizeof want, "lmdb:%s/data/store", tmpdir);
    is_str(c.store, want, "store: lmdb dir relative to the file's directory");
    snprintf(want, sizeof want, "%s/plug", tmpdir);
    is_str(c.plugins_dir, want, "plugins: relative to the file's directory");
    is_str(c.activities_dir, "/srv/acts", "activities: absolute path kept");
    is_int(c.log_level, AMS_LOG_DEBUG, "log_level debug");
    is_int(c.shutdown_timeout_ms, 500, "shutdown_timeout_ms");
    is_int(c.stack_kb, 64, "coroutine_stack_kb");
    is_int(c.sweep_ms, 1000, "sweep_interval_ms");
    is_int(c.max_body, 1024, "http.max_body");
    is_int(c.max_headers, 2048, "http.max_headers");
    is_int(c.timeout_ms, 250, "http.timeout_ms");
    is_int(c.lmdb_map_mb, 16, "lmdb.map_size_mb");
    is_int(c.lmdb_sync, STORE_SYNC_NONE, "lmdb.sync none");
    is_int(c.clock_header, 1, "testing.clock_header");
    is_int(c.random_seed, 7, "testing.random_seed");
    conf_free(&c);
    errs_free(&e);

    /* The other sync modes and an absolute lmdb path. */
    path = fx_put(tmpdir, "sync.conf",
                  "store = \"lmdb:/var/lib/amsd\";\n"
                  "lmdb = { sync = \"meta\"; };\n");
    rc = conf_load(&c, path, &e);
    is_int(rc, 0, "sync meta: loads");
    is_int(c.lmdb_sync, STORE_SYNC_META, "lmdb.sync meta");
    is_str(c.store, "lmdb:/var/lib/amsd", "absolute lmdb dir kept");
    conf_free(&c);
    errs_free(&e);
}

static void test_defaults(void)
{
    const char *path = fx_put(tmpdir, "empty.conf", "# nothing set\n");
    errs e = {0};
    conf c;

    is_int(conf_load(&c, path, &e), 0, "empty file loads");
    is_int(e.n, 0, "empty file: no messages");
    is_str(c.listen, "127.0.0.1:8080", "default listen");
    is_str(c.admin, "127.0.0.1:8081", "default admin");
    is_int(c.workers, 0, "default workers 0 (= cores)");
    is_int(c.log_level, AMS_LOG_INFO, "default log_level info");
    is_int(c.max_body, 65536, "default http.max_body");
    is_int(c.max_headers, 16384, "default http.max_headers");
    is_int(c.timeout_ms, 10000, "default http.timeout_ms");
    is_int(c.lmdb_map_mb, 1024, "default lmdb.map_size_mb");
    is_int(c.lmdb_sync, STORE_SYNC_FULL, "default lmdb.sync full");
    is_int(c.stack_kb, 256, "default coroutine_stack_kb");
    is_int(c.sweep_ms, 60000, "default sweep_interval_ms");

    /* Nothing says how users are identified: jwt, and there are no keys. */
    is_int(conf_finish(&c, &e), -1,
           "conf_finish on defaults: refused (auth defaults to jwt, and "
           "no jwt keys are configured)");
    has_str(e.n ? e.msgs[e.n - 1] : NULL, "auth is not set, so it is \"jwt\"",
            "the message says why");
    errs_free(&e);
    c.ls.top.auth = LIS_AUTH_NONE;
    /* conf_finish fills "auto" values and checks addresses. */
    is_int(conf_finish(&c, &e), 0, "conf_finish on defaults, auth = none");
    ok(c.workers >= 1 && c.workers <= 256,
       "workers 0 becomes the core "
       "count (%d)",
       c.workers);
    conf_set(&c.listen, "nowhere");
    is_int(conf_finish(&c, &e), -1,
           "conf_finish refuses a bad listen "
           "(set by a flag)");
    has_str(e.n ? e.msgs[e.n - 1] : NULL,
            "listen: \"nowhere\" is not "
            "HOST:PORT",
            "conf_finish names the setting and the value");
    conf_free(&c);
    errs_free(&e);
}

static void test_all_errors_reported(void)
{
    const char *path = fx_put(tmpdir, "bad.conf",
                              "# several mistakes, all reported\n" /* 1 */
                              "worker = 2;\n"                      /* 2 */
                              "workers = \"two\";\n"               /* 3 */
                              "listen = \"nope\";\n"               /* 4 */
                              "admin = \"127.0.0.1:70000\";\n"     /* 5 */
                              "log_level = \"loud\";\n"            /* 6 */
                              "http = {\n"                         /* 7 */
                              "  max_bdy = 10;\n"                  /* 8 */
                              "  timeout_ms = 5;\n"                /* 9 */
                              "};\n"                               /* 10 */
                              "lmdb = { sync = \"fast\"; };\n"     /* 11 */
                              "coroutine_stack_kb = 1.5;\n"        /* 12 */
                              "testing = { clock_header = 1; };\n" /* 13 */
    );
    errs e = {0};
    conf c;
    int rc = conf_load(&c, path, &e);

    is_int(rc, -1, "broken file: conf_load returns -1");
    fx_expect_at(&e, path, 2, "amsd.conf: unknown setting \"worker\"");
    fx_expect_at(&e, path, 3, "workers: expected an integer, got a string");
    fx_expect_at(&e, path, 4,
                 "listen: \"nope\" is not HOST:PORT with a port in 1..65535");
    fx_expect_at(&e, path, 5, "admin: \"127.0.0.1:70000\" is not HOST:PORT");
    fx_expect_at(&e, path, 6,
                 "log_level: \"loud\" is not one of error, warn, "
                 "info, debug");
    fx_expect_at(&e, path, 8, "http: unknown setting \"max_bdy\"");
    fx_expect_at(&e, path, 9, "timeout_ms: 5 is out of range [100, 3600000]");
    fx_expect_at(&e, path, 11,
                 "lmdb.sync: \"fast\" is not one of full, meta, "
                 "none");
    fx_expect_at(&e, path, 12,
                 "coroutine_stack_kb: expected an integer, got a number");
    fx_expect_at(&e, path, 13,
                 "clock_header: expected true or false, got an "
                 "integer");
    if (!ok(e.nerrors == 10 && e.n == 10,
            "exactly the 10 mistakes are "
            "reported (got %zu)",
            e.nerrors))
        fx_dump_errs(&e);
    is_str(c.listen, "127.0.0.1:8080", "a refused listen keeps the default");
    is_int(c.workers, 0, "a refused workers keeps the default");
    conf_free(&c);
    errs_free(&e);
}

static void test_ranges(void)
{
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"workers = 9999;\n", "workers: 9999 is out of range [0, 256]"},
        {"workers = -1;\n", "workers: -1 is out of range [0, 256]"},
        {"workers = 5000000000L;\n",
         "workers: 5000000000 is out of range [0, 256]"},
        {"workers = 2.0;\n", "workers: expected an integer, got a number"},
        {"coroutine_stack_kb = 16;\n",
         "coroutine_stack_kb: 16 is out of range [32, 65536]"},
        {"http = { max_headers = 100; };\n",
         "max_headers: 100 is out of range [1024, 1048576]"},
        {"lmdb = { map_size_mb = 0; };\n",
         "map_size_mb: 0 is out of range [1, 1048576]"},
        {"lmdb = { sync = true; };\n",
         "sync: expected a string, got a boolean"},
        {"testing = { random_seed = -5; };\n",
         "random_seed: -5 is out of range"},
        {"listen = \"127.0.0.1:0\";\n",
         "listen: \"127.0.0.1:0\" is not HOST:PORT"},
        {"listen = \"127.0.0.1\";\n", "listen: \"127.0.0.1\" is not "
                                      "HOST:PORT"},
        {"listen = 8080;\n", "listen: expected a string, got an integer"},
        {"plugins = [\"a\"];\n", "plugins: expected a string, got an array"},
        {"lmdb = { mapsize = 1; };\n", "lmdb: unknown setting \"mapsize\""},
        {"testing = { clock = true; };\n",
         "testing: unknown setting \"clock\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[32], text[256];
        const char *path;
        errs e = {0};
        conf c;
        int rc;

        snprintf(name, sizeof name, "range%zu.conf", i);
        snprintf(text, sizeof text, "# case %zu\n%s", i, cases[i].text);
        path = fx_put(tmpdir, name, text);
        rc = conf_load(&c, path, &e);
        is_int(rc, -1, "%.*s refused", (int)strcspn(cases[i].text, "\n"),
               cases[i].text);
        fx_expect_at(&e, path, 2, cases[i].msg);
        is_int(e.nerrors, 1, "  one error only");
        conf_free(&c);
        errs_free(&e);
    }
}

static void test_syntax_errors(void)
{
    errs e = {0};
    conf c;
    const char *path;
    char buf[PATH_MAX + 64];

    path = fx_put(tmpdir, "syntax1.conf",
                  "workers = 2;\n"
                  "listen = = \"127.0.0.1:1\";\n"
                  "admin = \"127.0.0.1:2\";\n");
    is_int(conf_load(&c, path, &e), -1, "syntax error: refused");
    fx_expect_at(&e, path, 2, "syntax error");
    is_int(e.nerrors, 1, "syntax error: one message");
    conf_free(&c);
    errs_free(&e);

    /* An unbalanced brace is noticed at the end of the file; the line
     * must be inside the file, at or after the opening brace. */
    path = fx_put(tmpdir, "syntax2.conf",
                  "workers = 2;\n"
                  "http = {\n"
                  "  max_body = 10;\n");
    is_int(conf_load(&c, path, &e), -1, "unbalanced brace: refused");
    {
        int line = 0;
        snprintf(buf, sizeof buf, "%s:%%d: syntax error", path);
        if (e.n == 1)
            sscanf(e.msgs[0], buf, &line);
        if (!ok(line >= 2 && line <= 4,
                "unbalanced brace: reported at a line of the file (%d)", line))
            fx_dump_errs(&e);
    }
    conf_free(&c);
    errs_free(&e);

    snprintf(buf, sizeof buf, "%s/does-not-exist.conf", tmpdir);
    is_int(conf_load(&c, buf, &e), -1, "missing file: refused");
    fx_expect_at(&e, buf, 0, "cannot open: No such file or directory");
    conf_free(&c);
    errs_free(&e);
}

/* A directory given as the config file.  libconfig's scanner calls exit(2)
 * ("input in flex scanner failed") when reading one fails, so run it in a
 * child: the parent checks the child got to report an error. */
static void test_directory_as_file(void)
{
    int fds[2];
    pid_t pid;
    char buf[512] = "";
    ssize_t n, got = 0;
    int status = 0;

    if (pipe(fds) != 0)
        return;
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        errs e = {0};
        conf c;
        int rc;
        char *msg;

        close(fds[0]);
        /* stdout is the TAP stream: keep the child off it. */
        rc = conf_load(&c, tmpdir, &e);
        msg = errs_join(&e);
        dprintf(fds[1], "rc=%d %s", rc, msg ? msg : "");
        free(msg);
        conf_free(&c);
        errs_free(&e);
        _exit(0);
    }
    close(fds[1]);
    while ((n = read(fds[0], buf + got, sizeof buf - 1 - (size_t)got)) > 0)
        got += n;
    buf[got] = '\0';
    close(fds[0]);
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        printf("#   child exited with status %d (libconfig exit()ed)\n",
               WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
           strncmp(buf, "rc=-1 ", 6) == 0 && strstr(buf, tmpdir) != NULL,
       "%s",
       "a directory as the config file is an error naming it, not an "
       "exit(2) from inside libconfig");
}

/* A section that is not a group is a wrong type, like any other. */
static void test_section_types(void)
{
    static const char *const cases[] = {"http = 5;\n", "lmdb = \"fast\";\n",
                                        "testing = true;\n",
                                        "http = ( 1, 2 );\n"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[32], text[64];
        const char *path;
        errs e = {0};
        conf c;
        int rc;

        snprintf(name, sizeof name, "section%zu.conf", i);
        snprintf(text, sizeof text, "# case %zu\n%s", i, cases[i]);
        path = fx_put(tmpdir, name, text);
        rc = conf_load(&c, path, &e);
        if (rc != -1 || e.nerrors != 1)
            fx_dump_errs(&e);
        snprintf(text, sizeof text, "section given as %s is refused",
                 cases[i]);
        text[strcspn(text, "\n")] = '\0';
        ok(rc == -1 && fx_find_at(&e, path, 2, "expected a group") != NULL,
           "%s", text);
        conf_free(&c);
        errs_free(&e);
    }
}

static void test_split_addr(void)
{
    static const struct {
        const char *addr;
        int rc;
        const char *host;
        int port;
    } cases[] = {
        {"127.0.0.1:8080", 0, "127.0.0.1", 8080},
        {"localhost:1", 0, "localhost", 1},
        {"example.com:65535", 0, "example.com", 65535},
        {"[::1]:80", 0, "::1", 80},
        {"[fe80::1%eth0]:443", 0, "fe80::1%eth0", 443},
        {"127.0.0.1:0", -1, NULL, 0},
        {"127.0.0.1:70000", -1, NULL, 0},
        {"127.0.0.1:65536", -1, NULL, 0},
        {"127.0.0.1:-1", -1, NULL, 0},
        {"127.0.0.1:80x", -1, NULL, 0},
        {"127.0.0.1:", -1, NULL, 0},
        {"127.0.0.1", -1, NULL, 0},
        {":80", -1, NULL, 0},
        {"", -1, NULL, 0},
        {"[::1]", -1, NULL, 0},
        {"[::1]80", -1, NULL, 0},
        {"[::1:80", -1, NULL, 0},
        {"[]:80", -1, NULL, 0},
        {"host:99999999999999999999", -1, NULL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char host[64] = "untouched";
        int port = -7;
        int rc = conf_split_addr(cases[i].addr, host, sizeof host, &port);

        if (cases[i].rc == 0) {
            if (ok(rc == 0 && strcmp(host, cases[i].host) == 0 &&
                       port == cases[i].port,
                   "split \"%s\" -> \"%s\" %d", cases[i].addr, cases[i].host,
                   cases[i].port) == 0)
                printf("#   got rc %d host \"%s\" port %d\n", rc, host, port);
        } else {
            is_int(rc, -1, "split \"%s\" refused", cases[i].addr);
        }
    }

    /* The host buffer bound: "abc" fits in 4 bytes, "abcd" does not. */
    {
        char host[4];
        int port = 0;
        is_int(conf_split_addr("abc:1", host, sizeof host, &port), 0,
               "a host of hostlen-1 bytes fits");
        is_str(host, "abc", "  and is copied whole");
        is_int(conf_split_addr("abcd:1", host, sizeof host, &port), -1,
               "a host longer than hostlen-1 is refused, not truncated");
        is_int(conf_split_addr("[abcd]:1", host, sizeof host, &port), -1,
               "  also in brackets");
    }
}

/* admin_tokens and audit_log: loaded where the guide says, every mistake
 * at its line, and carried to the master by a reload. */
static void test_admin_tokens(void)
{
    const char *path =
        fx_put(tmpdir, "tokens.conf",
               "# three callers\n"                         /* 1 */
               "admin_tokens = (\n"                        /* 2 */
               "  { name = \"dash\"; role = \"viewer\";\n" /* 3 */
               "    token = \"viewer-token-0123456789\"; },\n"
               "  { name = \"ci\"; role = \"operator\";\n" /* 5 */
               "    token = \"operator-token-0123456789\"; },\n"
               "  { name = \"root\"; role = \"admin\";\n" /* 7 */
               "    token = \"admin-token-0123456789\"; }\n"
               ");\n"
               "audit_log = \"logs/audit.jsonl\";\n");
    char want[PATH_MAX + 32];
    const auth_token *who = NULL;
    errs e = {0};
    conf c, d;
    cJSON *j;

    is_int(conf_load(&c, path, &e), 0, "tokens: the file loads");
    if (!ok(e.n == 0, "tokens: no messages"))
        fx_dump_errs(&e);
    is_int(c.tokens.n, 3, "three tokens");
    is_str(c.tokens.n > 1 ? c.tokens.v[1].name : NULL, "ci",
           "  in file order, by name");
    is_int(c.tokens.n > 1 ? (long long)c.tokens.v[1].role : -1, ROLE_OPERATOR,
           "  with their roles");
    is_int(auth_check(&c.tokens, "Bearer admin-token-0123456789", &who),
           AUTH_OK, "  the admin token is accepted");
    is_str(who ? who->name : NULL, "root", "  as root");
    snprintf(want, sizeof want, "%s/logs/audit.jsonl", tmpdir);
    is_str(c.audit_log, want, "audit_log: relative to the file's directory");
    is_int((long long)strlen(c.file_sha256), 64, "the file's sha256 is kept");

    /* A reload hands tokens, audit_log and the digest to the master. */
    memset(&d, 0, sizeof d);
    conf_set(&d.audit_log, "elsewhere");
    j = conf_reloadable_json(&c);
    conf_apply_reloadable(&d, j);
    ok(auth_table_equal(&c.tokens, &d.tokens), "reload: the tokens carry "
                                               "over");
    is_str(d.audit_log, c.audit_log, "reload: audit_log carries over");
    is_str(d.file_sha256, c.file_sha256, "reload: the digest carries over");
    {
        char *text = cJSON_PrintUnformatted(j);
        ok(text && !strstr(text, "token-0123456789"),
           "reload: no token travels in the settings");
        free(text);
    }
    cJSON_Delete(j);
    conf_free(&d);
    conf_free(&c);
    errs_free(&e);

    path = fx_put(tmpdir, "notokens.conf", "# defaults\n");
    is_int(conf_load(&c, path, &e), 0, "no tokens: loads");
    is_int(c.tokens.n, 0, "no tokens: an empty table (loopback only)");
    snprintf(want, sizeof want, "%s/var/audit.log", tmpdir);
    is_str(c.audit_log, want,
           "default audit_log: var/audit.log next to "
           "the file");
    conf_free(&c);
    errs_free(&e);

    path = fx_put(
        tmpdir, "badtokens.conf",
        "admin_tokens = (\n"                                           /* 1 */
        "  { name = \"a\"; token = \"short\"; role = \"viewer\"; },\n" /* 2 */
        "  { name = \"b\"; token = \"bbbbbbbbbbbbbbbbbb\"; role = \"boss\"; "
        "},\n"
        "  { name = \"c\"; token = \"cccccccccccccccccc\"; },\n" /* 4 */
        "  { name = \"d\"; token = \"dddddddddddddddddd\"; role = \"viewer\"; "
        "colour = \"red\"; },\n" /* 5 */
        "  { name = \"e\"; token = \"eeeeeeeeeeeeeeeeee\"; role = \"admin\"; "
        "},\n"
        "  { name = \"e\"; token = \"ffffffffffffffffff\"; role = \"admin\"; "
        "},\n"
        "  { name = \"g\"; token = \"eeeeeeeeeeeeeeeeee\"; role = \"viewer\"; "
        "},\n"
        "  \"h\" );\n"       /* 9 */
        "audit_log = 5;\n"); /* 10 */
    is_int(conf_load(&c, path, &e), -1, "bad tokens: refused");
    fx_expect_at(&e, path, 2, "token of \"a\" has 5 characters; use 16..256");
    fx_expect_at(&e, path, 3,
                 "role \"boss\" of \"b\" is not one of viewer, "
                 "operator, admin");
    fx_expect_at(&e, path, 4, "role: missing (required)");
    fx_expect_at(&e, path, 5, "admin_tokens: unknown setting \"colour\"");
    fx_expect_at(&e, path, 7, "name \"e\" is already used at line 6");
    fx_expect_at(&e, path, 8,
                 "the token of \"g\" is also the token of \"e\" "
                 "(line 6)");
    fx_expect_at(&e, path, 9, "admin_tokens: expected groups");
    fx_expect_at(&e, path, 10, "audit_log: expected a string, got an integer");
    if (!ok(e.nerrors == 8, "exactly the 8 mistakes are reported (got %zu)",
            e.nerrors))
        fx_dump_errs(&e);
    is_int(c.tokens.n, 2,
           "the good entries are kept (d: only its unknown "
           "member is wrong)");
    conf_free(&c);
    errs_free(&e);

    path = fx_put(tmpdir, "tokenlist.conf",
                  "# not a list\nadmin_tokens = \"x\";\n");
    is_int(conf_load(&c, path, &e), -1, "admin_tokens as a string: refused");
    fx_expect_at(&e, path, 2, "admin_tokens: expected a list");
    conf_free(&c);
    errs_free(&e);
}

static void test_redis(void)
{
    const char *path;
    errs e = {0};
    conf c;
    store_options so;

    path = fx_put(tmpdir, "redis.conf",
                  "store = \"redis://127.0.0.1:6390/2\";\n"
                  "redis = { user = \"amsd\"; password = \"s3cret\"; "
                  "timeout_ms = 250; };\n");
    is_int(conf_load(&c, path, &e), 0, "redis settings load");
    fx_dump_errs(&e);
    is_str(c.store, "redis://127.0.0.1:6390/2",
           "a redis URI is kept "
           "verbatim");
    conf_store_options(&c, &so);
    is_str(so.redis_user, "amsd", "redis.user reaches the store options");
    is_str(so.redis_password, "s3cret",
           "redis.password reaches the store "
           "options");
    is_int(so.redis_timeout_ms, 250,
           "redis.timeout_ms reaches the store "
           "options");
    conf_free(&c);
    errs_free(&e);

    /* The secret in a file of its own: its first line, no newline. */
    fx_put(tmpdir, "redis.secret", "from-file\nsecond line ignored\n");
    path = fx_put(tmpdir, "redisfile.conf",
                  "redis = { password_file = \"redis.secret\"; };\n");
    is_int(conf_load(&c, path, &e), 0, "redis.password_file loads");
    is_str(c.redis_password, "from-file",
           "password_file: first line, "
           "relative to the config file");
    is_int(c.redis_timeout_ms, 1000, "default redis.timeout_ms 1000");
    conf_free(&c);
    errs_free(&e);

    path = fx_put(tmpdir, "redisbad.conf",
                  "# every mistake reported\n"                /* 1 */
                  "redis = { password = \"a\";\n"             /* 2 */
                  "  password_file = \"redis.secret\";\n"     /* 3 */
                  "  timeout_ms = 5; pasword = \"x\"; };\n"); /* 4 */
    is_int(conf_load(&c, path, &e), -1, "bad redis group refused");
    fx_expect_at(&e, path, 3, "password and password_file both given");
    fx_expect_at(&e, path, 4, "timeout_ms");
    fx_expect_at(&e, path, 4, "pasword");
    conf_free(&c);
    errs_free(&e);

    path = fx_put(tmpdir, "redisnofile.conf",
                  "\nredis = { user = \"u\"; password_file = \"nope\"; };\n");
    is_int(conf_load(&c, path, &e), -1, "missing password file refused");
    fx_expect_at(&e, path, 2, "redis.password_file:");
    fx_expect_at(&e, path, 2, "No such file");
    conf_free(&c);
    errs_free(&e);

    path = fx_put(tmpdir, "redisuser.conf", "redis = {\n user = \"u\"; };\n");
    is_int(conf_load(&c, path, &e), -1, "a user without a password refused");
    fx_expect_at(&e, path, 2, "redis.user: given without a password");
    conf_free(&c);
    errs_free(&e);
}

static void test_config_center(void)
{
    const char *path;
    char host[256], want[400];
    errs e = {0}, w = {0};
    conf c, c2;

    path = fx_put(tmpdir, "cc.conf",
                  "admin = \"127.0.0.1:9101\";\n"
                  "auth = \"none\";\n"
                  "config_center = { redis = \"redis://10.0.0.5:6380/3\";\n"
                  "  node = \"edge-1.dc2\"; prefix = \"acme:cc:\";\n"
                  "  poll_ms = 250; timeout_ms = 300; user = \"amsd\";\n"
                  "  password = \"pw\"; };\n");
    is_int(conf_load(&c, path, &e), 0, "config_center loads");
    fx_dump_errs(&e);
    is_str(c.cc_redis, "redis://10.0.0.5:6380/3", "config_center.redis");
    is_str(c.cc_node, "edge-1.dc2", "config_center.node");
    is_str(c.cc_prefix, "acme:cc:", "config_center.prefix");
    is_int(c.cc_poll_ms, 250, "config_center.poll_ms");
    is_int(c.cc_timeout_ms, 300, "config_center.timeout_ms");
    is_str(c.cc_user, "amsd", "config_center.user");
    is_str(c.cc_password, "pw", "config_center.password");
    is_int(conf_finish(&c, &e), 0, "conf_finish keeps a given node");
    is_str(c.cc_node, "edge-1.dc2", "node as given");

    /* A reload that changes the URI: warned, the URI never echoed (it
     * may hold a password). */
    path = fx_put(tmpdir, "cc2.conf",
                  "admin = \"127.0.0.1:9101\";\n"
                  "config_center = { redis = \"redis://:hush@10.0.0.6\"; "
                  "poll_ms = 500; };\n");
    is_int(conf_load(&c2, path, &e), 0, "a password in the URI loads");
    conf_finish(&c2, &e);
    conf_restart_only_changes(&c, &c2, &w);
    {
        int warned = 0, leaked = 0;
        for (size_t i = 0; i < w.n; i++) {
            warned += strstr(w.msgs[i], "config_center.redis: changed") != 0;
            leaked += strstr(w.msgs[i], "hush") != NULL;
        }
        ok(warned == 1 && leaked == 0, "a changed URI is warned about "
                                       "without its password");
        if (!(warned == 1 && leaked == 0))
            fx_dump_errs(&w);
    }
    /* Defaults: prefix, polling, and the node named after the host and
     * the admin port. */
    is_str(c2.cc_prefix, "ams:cc:", "default prefix ams:cc:");
    is_int(c2.cc_timeout_ms, 1000, "default timeout_ms 1000");
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    host[strcspn(host, ".")] = '\0';
    snprintf(want, sizeof want, "%s:9101", host);
    is_str(c2.cc_node, want, "default node: HOSTNAME:ADMIN-PORT");
    conf_free(&c);
    conf_free(&c2);
    errs_free(&e);
    errs_free(&w);

    path = fx_put(tmpdir, "ccnone.conf", "workers = 1;\n");
    conf_load(&c, path, &e);
    conf_finish(&c, &e);
    ok(c.cc_redis == NULL && c.cc_node == NULL,
       "no config_center: nothing set");
    conf_free(&c);
    errs_free(&e);

    fx_put(tmpdir, "cc.secret", "from-file\n");
    path = fx_put(tmpdir, "ccfile.conf",
                  "config_center = { redis = \"redis://h\";\n"
                  "  password_file = \"cc.secret\"; };\n");
    is_int(conf_load(&c, path, &e), 0, "config_center.password_file loads");
    is_str(c.cc_password, "from-file", "password_file: its first line");
    conf_free(&c);
    errs_free(&e);

    path = fx_put(tmpdir, "ccbad.conf",
                  "# every mistake reported\n"                       /* 1 */
                  "config_center = { redis = \"http://h\";\n"        /* 2 */
                  "  node = \"bad name\";\n"                         /* 3 */
                  "  prefix = \"has space\";\n"                      /* 4 */
                  "  poll_ms = 5; timeout_ms = 0; polms = 1; };\n"); /* 5 */
    is_int(conf_load(&c, path, &e), -1, "bad config_center refused");
    fx_expect_at(&e, path, 2, "config_center.redis: not a redis:// URI");
    fx_expect_at(&e, path, 3, "config_center.node: \"bad name\"");
    fx_expect_at(&e, path, 4, "config_center.prefix");
    fx_expect_at(&e, path, 5, "poll_ms");
    fx_expect_at(&e, path, 5, "timeout_ms");
    fx_expect_at(&e, path, 5, "polms");
    conf_free(&c);
    errs_free(&e);

    path = fx_put(tmpdir, "ccbad2.conf",
                  "config_center = {\n"                  /* 1 */
                  "  redis = \"redis://:pw@h:99999\";\n" /* 2 */
                  "  user = \"u\"; };\n"                 /* 3 */
                  "config_center2 = 1;\n");              /* 4 */
    is_int(conf_load(&c, path, &e), -1, "more bad config_center refused");
    fx_expect_at(&e, path, 2, "the port is not 1..65535");
    fx_expect_at(&e, path, 3, "config_center.user: given without a password");
    fx_expect_at(&e, path, 4, "config_center2");
    for (size_t i = 0; i < e.n; i++)
        ok(strstr(e.msgs[i], ":pw@") == NULL,
           "no message echoes the URI "
           "(%zu)",
           i);
    conf_free(&c);
    errs_free(&e);

    path = fx_put(tmpdir, "ccbad3.conf",
                  "config_center = { redis = \"redis://:pw@h\";\n" /* 1 */
                  "  password = \"again\"; };\n"                   /* 2 */
                  "\n");
    is_int(conf_load(&c, path, &e), -1, "two passwords refused");
    fx_expect_at(&e, path, 1,
                 "a password in the redis URI and "
                 "password(_file) both given");
    conf_free(&c);
    errs_free(&e);

    path = fx_put(tmpdir, "ccbad4.conf",
                  "config_center = \"redis://h\";\n"
                  "config_center = { };\n");
    conf_load(&c, path, &e);
    ok(e.nerrors > 0, "config_center given as a string, or twice: refused");
    conf_free(&c);
    errs_free(&e);

    path =
        fx_put(tmpdir, "ccbad5.conf", "config_center = { node = \"n\"; };\n");
    is_int(conf_load(&c, path, &e), -1,
           "config_center without redis "
           "refused");
    fx_expect_at(&e, path, 1, "redis");
    conf_free(&c);
    errs_free(&e);
}

/* The slow-client deadlines, connection caps and overload bounds: read,
 * bounded with file:line, defaulted, and carried by a reload. */
static void test_guard_settings(void)
{
    const char *path =
        fx_put(tmpdir, "guard.conf",
               "http = { header_timeout_ms = 1500; body_timeout_ms = 2500;\n"
               "         max_connections = 77; };\n"
               "admin_header_timeout_ms = 300;\n"
               "admin_body_timeout_ms = 0;\n"
               "admin_max_connections = 5;\n"
               "overload = { max_in_flight = 9; max_wait_ms = 40; "
               "retry_after_s = 3; };\n");
    errs e = {0};
    conf c, d;
    cJSON *j;

    is_int(conf_load(&c, path, &e), 0, "guard settings: load");
    if (!ok(e.n == 0, "guard settings: no messages"))
        fx_dump_errs(&e);
    is_int(c.conn.header_timeout_ms, 1500, "http.header_timeout_ms");
    is_int(c.conn.body_timeout_ms, 2500, "http.body_timeout_ms");
    is_int(c.conn.max_connections, 77, "http.max_connections");
    is_int(c.admin_conn.header_timeout_ms, 300, "admin_header_timeout_ms");
    is_int(c.admin_conn.body_timeout_ms, 0, "admin_body_timeout_ms 0: off");
    is_int(c.admin_conn.max_connections, 5, "admin_max_connections");
    is_int(c.overload.max_in_flight, 9, "overload.max_in_flight");
    is_int(c.overload.max_wait_ms, 40, "overload.max_wait_ms");
    is_int(c.overload.retry_after_s, 3, "overload.retry_after_s");
    memset(&d, 0, sizeof d);
    j = conf_reloadable_json(&c);
    conf_apply_reloadable(&d, j);
    ok(d.conn.header_timeout_ms == 1500 && d.conn.max_connections == 77 &&
           d.admin_conn.max_connections == 5 &&
           d.overload.max_in_flight == 9 && d.overload.max_wait_ms == 40,
       "reload: the guard and overload settings carry over");
    cJSON_Delete(j);
    conf_free(&d);
    conf_free(&c);
    errs_free(&e);

    path = fx_put(tmpdir, "guard0.conf", "# defaults\n");
    is_int(conf_load(&c, path, &e), 0, "guard defaults: load");
    ok(c.conn.header_timeout_ms == 10000 && c.conn.body_timeout_ms == 10000 &&
           c.conn.max_connections == 4096 &&
           c.admin_conn.body_timeout_ms == 600000 &&
           c.admin_conn.max_connections == 64 &&
           c.overload.max_in_flight == 1024 && c.overload.max_wait_ms == 0 &&
           c.overload.retry_after_s == 1,
       "guard defaults as documented");
    conf_free(&c);
    errs_free(&e);

    path = fx_put(tmpdir, "guardbad.conf",
                  "http = { max_connections = -1; };\n"    /* 1 */
                  "overload = { max_inflight = 3;\n"       /* 2 */
                  "  retry_after_s = 0; };\n"              /* 3 */
                  "admin_header_timeout_ms = 4000000;\n"); /* 4 */
    is_int(conf_load(&c, path, &e), -1, "guard: bad values refused");
    fx_expect_at(&e, path, 1,
                 "max_connections: -1 is out of range [0, 1000000]");
    fx_expect_at(&e, path, 2, "overload: unknown setting \"max_inflight\"");
    fx_expect_at(&e, path, 3, "retry_after_s: 0 is out of range [1, 3600]");
    fx_expect_at(&e, path, 4,
                 "admin_header_timeout_ms: 4000000 is out of range [0, "
                 "3600000]");
    conf_free(&c);
    errs_free(&e);
}

int main(void)
{
    fx_scratch(tmpdir, sizeof tmpdir, "conf");

    test_good_file();
    test_defaults();
    test_all_errors_reported();
    test_ranges();
    test_syntax_errors();
    test_directory_as_file();
    test_section_types();
    test_split_addr();
    test_admin_tokens();
    test_redis();
    test_config_center();
    test_guard_settings();
    return tap_done();
}
