/*
 * conf.c -- amsd.conf.  Strict by design: unknown settings, wrong types and
 * out-of-range values are errors naming file:line, never silent defaults.
 */
#include "conf.h"

#include "center_kv.h"
#include "cfg.h"
#include "digest.h"
#include "log.h"
#include "redis_uri.h"
#include "store.h"

#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int conf_set(char **slot, const char *value)
{
    char *v = strdup(value);
    if (v == NULL)
        return -1;
    free(*slot);
    *slot = v;
    return 0;
}

/* path relative to the directory of file, or path itself when absolute.
 * Caller frees. */
static char *resolve(const char *file, const char *path)
{
    return cfg_resolve(file, path);
}

static void defaults(conf *c)
{
    memset(c, 0, sizeof *c);
    c->workers = 0;
    c->log_level = AMS_LOG_INFO;
    c->max_body = 64 * 1024;
    c->admin_max_body = 64 * 1024 * 1024;
    c->admin_import_timeout_s = 3600;
    c->max_headers = 16 * 1024;
    c->timeout_ms = 10000;
    c->conn = (httpguard_limits){10000, 10000, 4096};
    c->admin_conn = (httpguard_limits){10000, 600000, 64};
    c->overload.max_in_flight = 1024;
    c->overload.retry_after_s = 1;
    c->shutdown_timeout_ms = 10000;
    c->lmdb_map_mb = 1024;
    c->lmdb_sync = STORE_SYNC_FULL;
    c->redis_timeout_ms = 1000;
    c->cc_poll_ms = 1000;
    c->cc_timeout_ms = 1000;
    c->stack_kb = 256;
    c->sweep_ms = 60000;
    c->session_lock_ms = 10000;
    c->idempotency_ttl_s = 86400;
    c->signed_window_s = 300;
    c->rl_table_slots = 131072;
    c->bl_poll_ms = 1000;
    conf_set(&c->listen, "127.0.0.1:8080");
    conf_set(&c->admin, "127.0.0.1:8081");
    conf_set(&c->store, "lmdb:var/store");
    conf_set(&c->plugins_dir, "plugins");
    conf_set(&c->activities_dir, "activities");
    conf_set(&c->audit_log, "var/audit.log");
}

static void read_path(const config_setting_t *root, const char *name,
                      char **slot, const char *file, errs *e)
{
    const char *v;
    char *r;

    if (cfg_str(root, name, 0, &v, file, e) <= 0)
        return;
    r = resolve(file, v);
    if (r == NULL) {
        errs_add(e, file, 0, "%s: out of memory", name);
        return;
    }
    free(*slot);
    *slot = r;
}

static void read_store(const config_setting_t *root, conf *c, errs *e)
{
    const char *v;
    char *r;

    if (cfg_str(root, "store", 0, &v, c->file, e) <= 0)
        return;
    /* Only the lmdb directory is a path; other URIs are kept verbatim. */
    if (strncmp(v, "lmdb:", 5) == 0 && v[5] != '\0' && v[5] != '/') {
        char *dir = resolve(c->file, v + 5);
        if (dir == NULL || asprintf(&r, "lmdb:%s", dir) < 0)
            r = NULL;
        free(dir);
    } else {
        r = strdup(v);
    }
    if (r != NULL) {
        free(c->store);
        c->store = r;
    }
}

static void read_addr(const config_setting_t *root, const char *name,
                      char **slot, const char *file, errs *e)
{
    const char *v;
    char host[256];
    int port;

    if (cfg_str(root, name, 0, &v, file, e) <= 0)
        return;
    if (conf_split_addr(v, host, sizeof host, &port) < 0) {
        errs_add(e, file, cfg_line(config_setting_get_member(root, name)),
                 "%s: \"%s\" is not HOST:PORT with a port in 1..65535", name,
                 v);
        return;
    }
    conf_set(slot, v);
}

static void read_http(const config_setting_t *g, conf *c, errs *e)
{
    static const char *const allowed[] = {"max_body",
                                          "max_headers",
                                          "timeout_ms",
                                          "header_timeout_ms",
                                          "body_timeout_ms",
                                          "max_connections",
                                          NULL};
    if (g == NULL)
        return;
    if (!config_setting_is_group(g)) {
        errs_add(e, c->file, cfg_line(g), "http: expected a group { ... }");
        return;
    }
    cfg_check_members(g, allowed, c->file, "http", e);
    cfg_int(g, "max_body", 0, 1, INT32_MAX, &c->max_body, c->file, e);
    cfg_int(g, "max_headers", 0, 1024, 1024 * 1024, &c->max_headers, c->file,
            e);
    cfg_int(g, "timeout_ms", 0, 100, 3600 * 1000, &c->timeout_ms, c->file, e);
    cfg_int(g, "header_timeout_ms", 0, 0, 3600 * 1000,
            &c->conn.header_timeout_ms, c->file, e);
    cfg_int(g, "body_timeout_ms", 0, 0, 3600 * 1000, &c->conn.body_timeout_ms,
            c->file, e);
    cfg_int(g, "max_connections", 0, 0, 1000000, &c->conn.max_connections,
            c->file, e);
}

static void read_overload(const config_setting_t *g, conf *c, errs *e)
{
    static const char *const allowed[] = {"max_in_flight", "max_wait_ms",
                                          "retry_after_s", NULL};
    if (g == NULL)
        return;
    if (!config_setting_is_group(g)) {
        errs_add(e, c->file, cfg_line(g),
                 "overload: expected a group { ... }");
        return;
    }
    cfg_check_members(g, allowed, c->file, "overload", e);
    cfg_int(g, "max_in_flight", 0, 0, 1000000, &c->overload.max_in_flight,
            c->file, e);
    cfg_int(g, "max_wait_ms", 0, 0, 3600 * 1000, &c->overload.max_wait_ms,
            c->file, e);
    cfg_int(g, "retry_after_s", 0, 1, 3600, &c->overload.retry_after_s,
            c->file, e);
}

static void read_blacklist(const config_setting_t *g, conf *c, errs *e)
{
    static const char *const allowed[] = {"poll_ms", "show_reason", NULL};
    if (g == NULL)
        return;
    if (!config_setting_is_group(g)) {
        errs_add(e, c->file, cfg_line(g),
                 "blacklist: expected a group { ... }");
        return;
    }
    cfg_check_members(g, allowed, c->file, "blacklist", e);
    cfg_int(g, "poll_ms", 0, 100, 3600 * 1000, &c->bl_poll_ms, c->file, e);
    cfg_bool(g, "show_reason", 0, &c->bl_show_reason, c->file, e);
}

static void read_lmdb(const config_setting_t *g, conf *c, errs *e)
{
    static const char *const allowed[] = {"map_size_mb", "sync", NULL};
    const char *sync;

    if (g == NULL)
        return;
    if (!config_setting_is_group(g)) {
        errs_add(e, c->file, cfg_line(g), "lmdb: expected a group { ... }");
        return;
    }
    cfg_check_members(g, allowed, c->file, "lmdb", e);
    cfg_int(g, "map_size_mb", 0, 1, 1024 * 1024, &c->lmdb_map_mb, c->file, e);
    if (cfg_str(g, "sync", 0, &sync, c->file, e) > 0) {
        if (strcmp(sync, "full") == 0)
            c->lmdb_sync = STORE_SYNC_FULL;
        else if (strcmp(sync, "meta") == 0)
            c->lmdb_sync = STORE_SYNC_META;
        else if (strcmp(sync, "none") == 0)
            c->lmdb_sync = STORE_SYNC_NONE;
        else
            errs_add(e, c->file,
                     cfg_line(config_setting_get_member(g, "sync")),
                     "lmdb.sync: \"%s\" is not one of full, meta, none", sync);
    }
}

/* user = ...; password = ... | password_file = ...; of group g (named
 * group in messages) into *user and *pass. */
static void read_credentials(const config_setting_t *g, const char *group,
                             char **user, char **pass, const char *cfile,
                             errs *e)
{
    const char *v, *file = NULL;

    if (cfg_str(g, "user", 0, &v, cfile, e) > 0)
        conf_set(user, v);
    if (cfg_str(g, "password", 0, &v, cfile, e) > 0)
        conf_set(pass, v);
    if (cfg_str(g, "password_file", 0, &file, cfile, e) > 0) {
        int line = cfg_line(config_setting_get_member(g, "password_file"));
        char *path = resolve(cfile, file), buf[512];
        FILE *f = path != NULL ? fopen(path, "r") : NULL;
        size_t n = 0;

        if (*pass != NULL) {
            errs_add(e, cfile, line,
                     "%s: password and password_file "
                     "both given; keep one",
                     group);
        } else if (f == NULL) {
            errs_add(e, cfile, line, "%s.password_file: %s: %s", group,
                     path ? path : file, strerror(errno));
        } else {
            /* The first line, without its newline: what `echo` or an
             * editor leaves in a secret file. */
            if (fgets(buf, sizeof buf, f) != NULL)
                n = strcspn(buf, "\r\n");
            buf[n] = '\0';
            if (n == 0)
                errs_add(e, cfile, line,
                         "%s.password_file: %s: the first line is empty",
                         group, path);
            else
                conf_set(pass, buf);
            explicit_bzero(buf, sizeof buf);
        }
        if (f != NULL)
            fclose(f);
        free(path);
    }
    if (*user != NULL && *pass == NULL)
        errs_add(e, cfile, cfg_line(config_setting_get_member(g, "user")),
                 "%s.user: given without a password", group);
}

/* redis = { user = ...; password = ... | password_file = ...;
 * timeout_ms = ...; }: how the redis:// store connects.  A password in
 * the store URI and one here would be two truths: refused. */
static void read_redis(const config_setting_t *g, conf *c, errs *e)
{
    static const char *const allowed[] = {"user", "password", "password_file",
                                          "timeout_ms", NULL};

    if (g == NULL)
        return;
    if (!config_setting_is_group(g)) {
        errs_add(e, c->file, cfg_line(g), "redis: expected a group { ... }");
        return;
    }
    cfg_check_members(g, allowed, c->file, "redis", e);
    cfg_int(g, "timeout_ms", 0, 10, 60000, &c->redis_timeout_ms, c->file, e);
    read_credentials(g, "redis", &c->redis_user, &c->redis_password, c->file,
                     e);
}

/* config_center = { redis = "redis://..."; node; prefix; poll_ms;
 * timeout_ms; user; password | password_file; } (center.c). */
static void read_center(const config_setting_t *g, conf *c, errs *e)
{
    static const char *const allowed[] = {
        "redis", "node",     "prefix",        "poll_ms", "timeout_ms",
        "user",  "password", "password_file", NULL};
    const char *v, *why;
    ruri u;

    if (g == NULL)
        return;
    if (!config_setting_is_group(g)) {
        errs_add(e, c->file, cfg_line(g),
                 "config_center: expected a group { redis = ...; ... }");
        return;
    }
    cfg_check_members(g, allowed, c->file, "config_center", e);
    if (cfg_str(g, "redis", 1, &v, c->file, e) > 0) {
        int line = cfg_line(config_setting_get_member(g, "redis"));
        /* The URI itself is never echoed: it may hold a password. */
        if (ruri_parse(v, &u, &why) < 0)
            errs_add(e, c->file, line, "config_center.redis: %s", why);
        else
            conf_set(&c->cc_redis, v);
        if (u.pass != NULL && (config_setting_get_member(g, "password") ||
                               config_setting_get_member(g, "password_file")))
            errs_add(e, c->file, line,
                     "config_center: a password in the "
                     "redis URI and password(_file) both given; keep one");
        ruri_free(&u);
    }
    if (cfg_str(g, "node", 0, &v, c->file, e) > 0) {
        if (ckv_node_ok(v))
            conf_set(&c->cc_node, v);
        else
            errs_add(e, c->file,
                     cfg_line(config_setting_get_member(g, "node")),
                     "config_center.node: \"%s\" is not 1..%d characters "
                     "of A-Z a-z 0-9 . _ : @ -",
                     v, CKV_NODE_MAX);
    }
    if (cfg_str(g, "prefix", 0, &v, c->file, e) > 0) {
        if (ckv_prefix_ok(v))
            conf_set(&c->cc_prefix, v);
        else
            errs_add(e, c->file,
                     cfg_line(config_setting_get_member(g, "prefix")),
                     "config_center.prefix: \"%s\" is not 1..%d printable "
                     "characters without spaces",
                     v, CKV_PREFIX_MAX);
    }
    cfg_int(g, "poll_ms", 0, 100, 3600 * 1000, &c->cc_poll_ms, c->file, e);
    cfg_int(g, "timeout_ms", 0, 10, 60000, &c->cc_timeout_ms, c->file, e);
    read_credentials(g, "config_center", &c->cc_user, &c->cc_password, c->file,
                     e);
}

/* admin_tokens = ( { name = "ci"; token = "..."; role = "operator"; }, ... );
 * Each group is checked like any other section; the table itself
 * (auth.c) refuses bad names, short tokens, unknown roles, duplicates. */
static void read_tokens(const config_setting_t *l, conf *c, errs *e)
{
    static const char *const allowed[] = {"name", "token", "role", NULL};

    if (l == NULL)
        return;
    if (config_setting_type(l) != CONFIG_TYPE_LIST) {
        errs_add(e, c->file, cfg_line(l),
                 "admin_tokens: expected a list "
                 "( { name = ...; token = ...; role = ...; }, ... )");
        return;
    }
    for (int i = 0; i < config_setting_length(l); i++) {
        const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
        const char *name = NULL, *token = NULL, *role = NULL;
        int ok;

        if (!config_setting_is_group(g)) {
            errs_add(e, c->file, cfg_line(g),
                     "admin_tokens: expected "
                     "groups { name = ...; token = ...; role = ...; }");
            continue;
        }
        cfg_check_members(g, allowed, c->file, "admin_tokens", e);
        ok = cfg_str(g, "name", 1, &name, c->file, e) > 0;
        ok &= cfg_str(g, "token", 1, &token, c->file, e) > 0;
        ok &= cfg_str(g, "role", 1, &role, c->file, e) > 0;
        if (ok)
            auth_table_add(&c->tokens, name, token, role, c->file, cfg_line(g),
                           e);
    }
}

static void read_testing(const config_setting_t *g, conf *c, errs *e)
{
    static const char *const allowed[] = {"clock_header", "random_seed", NULL};
    if (g == NULL)
        return;
    if (!config_setting_is_group(g)) {
        errs_add(e, c->file, cfg_line(g), "testing: expected a group { ... }");
        return;
    }
    cfg_check_members(g, allowed, c->file, "testing", e);
    cfg_bool(g, "clock_header", 0, &c->clock_header, c->file, e);
    cfg_int(g, "random_seed", 0, 0, INT64_MAX, &c->random_seed, c->file, e);
}

int conf_load(conf *c, const char *path, errs *e)
{
    static const char *const allowed[] = {"listen",
                                          "admin",
                                          "workers",
                                          "store",
                                          "plugins",
                                          "activities",
                                          "log_level",
                                          "http",
                                          "lmdb",
                                          "shutdown_timeout_ms",
                                          "coroutine_stack_kb",
                                          "sweep_interval_ms",
                                          "testing",
                                          "session_lock_ms",
                                          "idempotency_ttl_s",
                                          "admin_max_body",
                                          "admin_import_timeout_s",
                                          "admin_header_timeout_ms",
                                          "admin_body_timeout_ms",
                                          "admin_max_connections",
                                          "overload",
                                          "admin_tokens",
                                          "audit_log",
                                          "run_dir",
                                          "redis",
                                          "config_center",
                                          "signed_callers",
                                          "signed_window_s",
                                          "listeners",
                                          "auth",
                                          "trusted_proxies",
                                          "real_ip_header",
                                          "cors_origins",
                                          "jwt",
                                          "gateway_auth",
                                          "rate_limits",
                                          "rate_limit_table",
                                          "blacklist",
                                          NULL};
    config_t cf;
    const config_setting_t *root;
    size_t before = e->nerrors;
    int64_t v;
    const char *level;

    defaults(c);
    conf_set(&c->file, path);
    /* Defaults are relative to the file too, like paths written in it. */
    {
        char *p = resolve(path, c->plugins_dir),
             *a = resolve(path, c->activities_dir);
        char *st = resolve(path, c->store + 5), *uri = NULL;
        char *au = resolve(path, c->audit_log);
        if (p && a && st && au && asprintf(&uri, "lmdb:%s", st) >= 0) {
            free(c->plugins_dir);
            free(c->activities_dir);
            free(c->store);
            free(c->audit_log);
            c->plugins_dir = p;
            c->activities_dir = a;
            c->store = uri;
            c->audit_log = au;
            p = a = au = NULL;
        }
        free(p);
        free(a);
        free(st);
        free(au);
    }
    if (cfg_read(&cf, path, e) < 0)
        return -1;
    /* What the audit log records as the configuration in force. */
    digest_file(path, c->file_sha256);
    root = config_root_setting(&cf);
    cfg_check_members(root, allowed, path, "amsd.conf", e);

    read_addr(root, "listen", &c->listen, path, e);
    read_addr(root, "admin", &c->admin, path, e);
    if (cfg_int(root, "workers", 0, 0, 256, &v, path, e) > 0)
        c->workers = (int)v;
    read_store(root, c, e);
    read_path(root, "plugins", &c->plugins_dir, path, e);
    read_path(root, "activities", &c->activities_dir, path, e);
    read_path(root, "run_dir", &c->run_dir, path, e);
    read_path(root, "audit_log", &c->audit_log, path, e);
    read_tokens(config_setting_get_member(root, "admin_tokens"), c, e);
    if (cfg_str(root, "log_level", 0, &level, path, e) > 0) {
        int l = log_level_parse(level);
        if (l < 0)
            errs_add(e, path,
                     cfg_line(config_setting_get_member(root, "log_level")),
                     "log_level: \"%s\" is not one of error, warn, info, "
                     "debug",
                     level);
        else
            c->log_level = l;
    }
    cfg_int(root, "shutdown_timeout_ms", 0, 0, 3600 * 1000,
            &c->shutdown_timeout_ms, path, e);
    cfg_int(root, "coroutine_stack_kb", 0, 32, 64 * 1024, &c->stack_kb, path,
            e);
    cfg_int(root, "sweep_interval_ms", 0, 100, 24 * 3600 * 1000, &c->sweep_ms,
            path, e);
    cfg_int(root, "session_lock_ms", 0, 100, 3600 * 1000, &c->session_lock_ms,
            path, e);
    cfg_int(root, "idempotency_ttl_s", 0, 86400, 90LL * 86400,
            &c->idempotency_ttl_s, path, e);
    cfg_int(root, "admin_max_body", 0, 1024, 1024LL * 1024 * 1024,
            &c->admin_max_body, path, e);
    cfg_int(root, "admin_import_timeout_s", 0, 1, 86400,
            &c->admin_import_timeout_s, path, e);
    cfg_int(root, "admin_header_timeout_ms", 0, 0, 3600 * 1000,
            &c->admin_conn.header_timeout_ms, path, e);
    cfg_int(root, "admin_body_timeout_ms", 0, 0, 24 * 3600 * 1000,
            &c->admin_conn.body_timeout_ms, path, e);
    cfg_int(root, "admin_max_connections", 0, 0, 1000000,
            &c->admin_conn.max_connections, path, e);
    read_http(config_setting_get_member(root, "http"), c, e);
    read_lmdb(config_setting_get_member(root, "lmdb"), c, e);
    read_overload(config_setting_get_member(root, "overload"), c, e);
    read_redis(config_setting_get_member(root, "redis"), c, e);
    read_center(config_setting_get_member(root, "config_center"), c, e);
    read_testing(config_setting_get_member(root, "testing"), c, e);
    callers_read(config_setting_get_member(root, "signed_callers"), path,
                 &c->callers, e);
    cfg_int(root, "signed_window_s", 0, 10, 3600, &c->signed_window_s, path,
            e);
    lis_read(root, path, &c->ls, e);
    keys_read_jwt(config_setting_get_member(root, "jwt"), path, &c->jwt, e);
    keys_read_gateway(config_setting_get_member(root, "gateway_auth"), path,
                      &c->gw, e);
    rlconf_parse(config_setting_get_member(root, "rate_limits"), path, "",
                 &c->rate_limits, e);
    cfg_int(root, "rate_limit_table", 0, 1024, 1LL << 26, &c->rl_table_slots,
            path, e);
    read_blacklist(config_setting_get_member(root, "blacklist"), c, e);

    config_destroy(&cf);
    return e->nerrors > before ? -1 : 0;
}

/* config_center.node when not given: HOSTNAME:ADMIN-PORT, unique per
 * node as long as host names are. */
static void default_node(conf *c, int admin_port, errs *e)
{
    char host[256], name[320];

    if (gethostname(host, sizeof host) < 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    host[strcspn(host, ".")] = '\0'; /* the short name */
    snprintf(name, sizeof name, "%s:%d", host, admin_port);
    if (!ckv_node_ok(name))
        errs_add(e, c->file, 0,
                 "config_center.node: the default \"%s\" "
                 "(host name and admin port) is not usable; set node",
                 name);
    else
        conf_set(&c->cc_node, name);
}

int conf_finish(conf *c, errs *e)
{
    char host[256];
    int port;
    size_t before = e->nerrors;

    if (c->workers <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->workers = n > 0 ? (int)(n > 256 ? 256 : n) : 1;
    }
    if (conf_split_addr(c->listen, host, sizeof host, &port) < 0)
        errs_add(e, NULL, 0, "listen: \"%s\" is not HOST:PORT", c->listen);
    if (conf_split_addr(c->admin, host, sizeof host, &port) < 0)
        errs_add(e, NULL, 0, "admin: \"%s\" is not HOST:PORT", c->admin);
    else if (c->cc_redis != NULL && c->cc_node == NULL)
        default_node(c, port, e);
    if (c->cc_redis != NULL && c->cc_prefix == NULL)
        conf_set(&c->cc_prefix, CKV_PREFIX_DEFAULT);
    if (lis_finish(&c->ls, c->listen,
                   c->overrides != NULL && c->overrides->listen != NULL,
                   c->jwt.n, c->gw.secret_len[0] > 0, c->file, e) == 0 &&
        c->ls.n > 0)
        conf_set(&c->listen, c->ls.v[0].listen);
    return e->nerrors > before ? -1 : 0;
}

void conf_free(conf *c)
{
    free(c->file);
    free(c->listen);
    free(c->admin);
    free(c->store);
    free(c->plugins_dir);
    free(c->activities_dir);
    free(c->run_dir);
    free(c->audit_log);
    free(c->redis_user);
    free(c->cc_node);
    free(c->cc_prefix);
    free(c->cc_user);
    {
        char *secrets[] = {c->redis_password, c->cc_password, c->cc_redis};
        for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
            if (secrets[i] != NULL) {
                explicit_bzero(secrets[i], strlen(secrets[i]));
                free(secrets[i]);
            }
    }
    auth_table_free(&c->tokens);
    callers_free(&c->callers);
    lis_free(&c->ls);
    keys_jwt_free(&c->jwt);
    keys_gw_free(&c->gw);
    memset(c, 0, sizeof *c);
}

void conf_store_options(const conf *c, store_options *so)
{
    memset(so, 0, sizeof *so);
    so->uri = c->store;
    so->lmdb_map_size = (size_t)c->lmdb_map_mb << 20;
    so->lmdb_sync = c->lmdb_sync;
    so->redis_user = c->redis_user;
    so->redis_password = c->redis_password;
    so->redis_timeout_ms = c->redis_timeout_ms;
}

int conf_split_addr(const char *addr, char *host, size_t hostlen, int *port)
{
    const char *colon, *h = addr;
    size_t hl;
    char *end;
    long p;

    if (addr[0] == '[') {
        const char *rb = strchr(addr, ']');
        if (rb == NULL || rb[1] != ':')
            return -1;
        h = addr + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL)
            return -1;
        hl = (size_t)(colon - addr);
    }
    if (hl == 0 || hl >= hostlen)
        return -1;
    p = strtol(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || p < 1 || p > 65535)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

void conf_apply_overrides(conf *c, const conf_overrides *o, errs *e)
{
    struct {
        const char *v;
        char **slot;
    } strs[] = {{o->listen, &c->listen},
                {o->admin, &c->admin},
                {o->store, &c->store},
                {o->plugins, &c->plugins_dir},
                {o->activities, &c->activities_dir}};

    c->overrides = o;
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (strs[i].v != NULL)
            conf_set(strs[i].slot, strs[i].v);
    if (o->workers != NULL) {
        char *end;
        long n = strtol(o->workers, &end, 10);
        if (*end != '\0' || end == o->workers || n < 0 || n > 256)
            errs_add(e, NULL, 0, "--workers: \"%s\" is not 0..256",
                     o->workers);
        else
            c->workers = (int)n;
    }
    if (o->log_level != NULL) {
        int l = log_level_parse(o->log_level);
        if (l < 0)
            errs_add(e, NULL, 0,
                     "--log-level: \"%s\" is not one of error, "
                     "warn, info, debug",
                     o->log_level);
        else
            c->log_level = l;
    }
}

/* The listeners' settings by position: the sockets stay those the
 * process started with, so a reload that changed the addresses applies
 * nothing of them (conf_restart_only_changes warns). */
static void conf_apply_ident(conf *c, const cJSON *j)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "listeners");
    lis_set nw = {0};

    if (v != NULL && lis_from_json(&nw, v) == 0) {
        if (lis_same_addresses(&nw, &c->ls)) {
            lis_free(&c->ls);
            c->ls = nw;
        } else {
            lis_free(&nw);
        }
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "jwt")) != NULL &&
        keys_jwt_from_json(&c->jwt, v) < 0)
        log_error("reload: the jwt keys could not be applied; the previous "
                  "keys stay in force");
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "gateway_auth")) != NULL &&
        keys_gw_from_json(&c->gw, v) < 0)
        log_error("reload: gateway_auth could not be applied; the previous "
                  "secrets stay in force");
}

static int str_differs(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") != 0;
}

void conf_restart_only_changes(const conf *old, const conf *nw, errs *e)
{
    const struct {
        const char *name;
        const char *a, *b;
    } strs[] = {{"listen", old->listen, nw->listen},
                {"admin", old->admin, nw->admin},
                {"store", old->store, nw->store},
                {"run_dir", old->run_dir, nw->run_dir},
                {"redis.user", old->redis_user, nw->redis_user},
                {"config_center.node", old->cc_node, nw->cc_node},
                {"config_center.prefix", old->cc_prefix, nw->cc_prefix},
                {"config_center.user", old->cc_user, nw->cc_user}};
    const struct {
        const char *name;
        int64_t a, b;
    } nums[] = {
        {"workers", old->workers, nw->workers},
        {"lmdb.map_size_mb", old->lmdb_map_mb, nw->lmdb_map_mb},
        {"lmdb.sync", old->lmdb_sync, nw->lmdb_sync},
        {"coroutine_stack_kb", old->stack_kb, nw->stack_kb},
        {"sweep_interval_ms", old->sweep_ms, nw->sweep_ms},
        {"blacklist.poll_ms", old->bl_poll_ms, nw->bl_poll_ms},
        {"admin_max_body", old->admin_max_body, nw->admin_max_body},
        {"testing.random_seed", old->random_seed, nw->random_seed},
        {"redis.timeout_ms", old->redis_timeout_ms, nw->redis_timeout_ms},
        {"config_center.poll_ms", old->cc_poll_ms, nw->cc_poll_ms},
        {"config_center.timeout_ms", old->cc_timeout_ms, nw->cc_timeout_ms},
        {"rate_limit_table", old->rl_table_slots, nw->rl_table_slots}};

    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (str_differs(strs[i].a, strs[i].b))
            errs_warn(e, nw->file, 0,
                      "%s: changed to \"%s\"; takes effect at the next "
                      "restart, not on reload",
                      strs[i].name, strs[i].b ? strs[i].b : "");
    /* Never echo a password into a log (a URI may hold one too). */
    {
        const struct {
            const char *name, *a, *b;
        } secrets[] = {
            {"redis.password", old->redis_password, nw->redis_password},
            {"config_center.redis", old->cc_redis, nw->cc_redis},
            {"config_center.password", old->cc_password, nw->cc_password}};
        for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
            if (str_differs(secrets[i].a, secrets[i].b))
                errs_warn(e, nw->file, 0,
                          "%s: changed; takes effect at "
                          "the next restart, not on reload",
                          secrets[i].name);
    }
    /* The single-listener form is the "listen" warning above. */
    if ((old->ls.list_line || nw->ls.list_line) &&
        !lis_same_addresses(&old->ls, &nw->ls))
        errs_warn(e, nw->file, nw->ls.list_line,
                  "listeners: the addresses changed; they take effect at the "
                  "next restart, and until then the listeners keep their "
                  "settings");
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        if (nums[i].a != nums[i].b)
            errs_warn(e, nw->file, 0,
                      "%s: changed to %lld; takes effect at the next "
                      "restart, not on reload",
                      nums[i].name, (long long)nums[i].b);
}

/* The reloadable numbers, by name, in one table for both directions. */
// clang-format off: it cannot settle on a layout for this list
#define RELOADABLE(X)                                                         \
    X(log_level)                                                              \
    X(max_body)                                                               \
    X(max_headers)                                                            \
    X(timeout_ms)                                                             \
    X(shutdown_timeout_ms)                                                    \
    X(session_lock_ms)                                                        \
    X(idempotency_ttl_s)                                                      \
    X(clock_header)                                                           \
    X(admin_import_timeout_s)                                                 \
    X(signed_window_s)                                                        \
    X(bl_show_reason)                                                         \
    X(conn.header_timeout_ms)                                                 \
    X(conn.body_timeout_ms)                                                   \
    X(conn.max_connections)                                                   \
    X(admin_conn.header_timeout_ms)                                           \
    X(admin_conn.body_timeout_ms)                                             \
    X(admin_conn.max_connections)                                             \
    X(overload.max_in_flight)                                                 \
    X(overload.max_wait_ms)                                                   \
    X(overload.retry_after_s)
// clang-format on

cJSON *conf_reloadable_json(const conf *c)
{
    cJSON *j = cJSON_CreateObject();
#define PUT(f) cJSON_AddNumberToObject(j, #f, (double)c->f);
    RELOADABLE(PUT)
#undef PUT
    cJSON_AddStringToObject(j, "plugins_dir", c->plugins_dir);
    cJSON_AddStringToObject(j, "activities_dir", c->activities_dir);
    /* The admin plane's: tokens can be rotated and the audit log moved
     * by a reload (only the master uses them). */
    cJSON_AddItemToObject(j, "admin_tokens", auth_table_json(&c->tokens));
    cJSON_AddStringToObject(j, "audit_log", c->audit_log);
    cJSON_AddStringToObject(j, "file_sha256", c->file_sha256);
    /* Secrets included: this JSON goes over the control channel only. */
    cJSON_AddItemToObject(j, "signed_callers", callers_json(&c->callers));
    /* The listeners' identity, proxy and CORS settings and the keys:
     * workers verify with the keys the master read and checked. */
    cJSON_AddItemToObject(j, "listeners", lis_json(&c->ls));
    cJSON_AddItemToObject(j, "jwt", keys_jwt_json(&c->jwt));
    cJSON_AddItemToObject(j, "gateway_auth", keys_gw_json(&c->gw));
    cJSON_AddItemToObject(j, "rate_limits", rlconf_to_json(&c->rate_limits));
    return j;
}

void conf_apply_reloadable(conf *c, const cJSON *j)
{
    const cJSON *v;
#define GET(f)                                                                \
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(j, #f)))          \
        c->f = (__typeof__(c->f))v->valuedouble;
    RELOADABLE(GET)
#undef GET
    if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(j, "plugins_dir")))
        conf_set(&c->plugins_dir, v->valuestring);
    if (cJSON_IsString(
            v = cJSON_GetObjectItemCaseSensitive(j, "activities_dir")))
        conf_set(&c->activities_dir, v->valuestring);
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "admin_tokens")) != NULL &&
        auth_table_from_json(&c->tokens, v) < 0)
        log_error("reload: admin_tokens could not be applied (out of "
                  "memory); the previous tokens stay in force");
    if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(j, "audit_log")))
        conf_set(&c->audit_log, v->valuestring);
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "signed_callers")) != NULL &&
        callers_from_json(&c->callers, v) < 0)
        log_error("reload: signed_callers could not be applied (out of "
                  "memory); the previous secrets stay in force");
    if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(j, "file_sha256")))
        snprintf(c->file_sha256, sizeof c->file_sha256, "%s", v->valuestring);
    conf_apply_ident(c, j);
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "rate_limits")) != NULL) {
        rl_set rl;
        if (rlconf_from_json(v, &rl) == 0)
            c->rate_limits = rl;
        else
            log_error("reload: rate_limits could not be applied; the "
                      "previous limits stay in force");
    }
}
