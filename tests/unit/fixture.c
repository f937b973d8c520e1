/*
 * fixture.c -- the unit tests' shared fixture (see fixture.h).
 */
#include "fixture.h"

#include "pipeline.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- scratch directories and files ---- */

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void fx_rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void fx_mkdirs(const char *dir)
{
    char buf[PATH_MAX];

    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p != '\0'; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0700);
            *p = '/';
        }
    mkdir(buf, 0700);
}

/* $AMS_TEST_TMP, or a directory of the tests' own when it is not set (as
 * when a test is run by hand), created. */
static const char *tmp_base(void)
{
    const char *base = getenv("AMS_TEST_TMP");

    if (base == NULL || *base == '\0')
        base = "/tmp/ams-test";
    fx_mkdirs(base);
    return base;
}

const char *fx_scratch(char *dir, size_t len, const char *name)
{
    snprintf(dir, len, "%s/%s", tmp_base(), name);
    fx_mkdirs(dir);
    return dir;
}

int fx_mkdtemp(char *dir, size_t len, const char *prefix)
{
    const char *base = tmp_base();
    size_t n = strlen(prefix);
    char path[PATH_MAX];
    struct dirent *e;
    DIR *d = opendir(base);

    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, n) != 0 || e->d_name[n] != '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", base, e->d_name);
        fx_rm_rf(path);
    }
    if (d != NULL)
        closedir(d);
    snprintf(dir, len, "%s/%s.XXXXXX", base, prefix);
    if (mkdtemp(dir) == NULL) {
        printf("Bail out! mkdtemp %s: %s\n", dir, strerror(errno));
        return -1;
    }
    return 0;
}

const char *fx_fresh_dir(const char *parent, const char *name)
{
    static char ring[4][PATH_MAX];
    static unsigned i;
    char *d = ring[i++ % 4];

    snprintf(d, PATH_MAX, "%s/%s", parent, name);
    fx_rm_rf(d);
    fx_mkdirs(d);
    return d;
}

const char *fx_put(const char *dir, const char *name, const char *text)
{
    static char ring[8][PATH_MAX];
    static unsigned i;
    char *path = ring[i++ % 8];
    FILE *f;

    snprintf(path, PATH_MAX, "%s/%s", dir, name);
    f = fopen(path, "w");
    if (f == NULL) {
        printf("# cannot write %s: %s\n", path, strerror(errno));
        return path;
    }
    fputs(text, f);
    fclose(f);
    return path;
}

int fx_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    /* Port 0: the kernel picks one that is free; closing the socket
     * without listening leaves it free. */
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* ---- stores ---- */

store *fx_store_open(const char *uri, size_t lmdb_map_size, int lmdb_sync)
{
    store_options o = {
        .uri = uri, .lmdb_map_size = lmdb_map_size, .lmdb_sync = lmdb_sync};
    char err[512] = "";
    store *s = store_open(&o, err, sizeof err);

    if (s == NULL)
        printf("# store_open(%s): %s\n", uri, err);
    return s;
}

/* ---- messages ---- */

void fx_dump_errs(const errs *e)
{
    for (size_t i = 0; i < e->n; i++)
        printf("#   [%zu] %s\n", i, e->msgs[i]);
}

const char *fx_find_at(const errs *e, const char *file, int line,
                       const char *frag)
{
    char prefix[PATH_MAX + 32];

    if (line > 0)
        snprintf(prefix, sizeof prefix, "%s:%d: ", file, line);
    else
        snprintf(prefix, sizeof prefix, "%s: ", file);
    for (size_t i = 0; i < e->n; i++)
        if (strncmp(e->msgs[i], prefix, strlen(prefix)) == 0 &&
            strstr(e->msgs[i], frag) != NULL)
            return e->msgs[i];
    return NULL;
}

/* ---- generations and requests ---- */

gen *fx_gen_build(const char *plugins, const char *acts, int run_init, errs *e)
{
    conf c;

    /* Nothing else of a configuration matters to a build from explicit
     * directories. */
    memset(&c, 0, sizeof c);
    return gen_build_at(&c, &svc_gen_host, plugins, acts, 1, run_init, e);
}

void fx_req(svc_req *r, method *m, const char *uid, const char *rid)
{
    memset(r, 0, sizeof *r);
    r->uid = uid;
    r->request_id = rid;
    r->act = m->act;
    r->m = m;
}

/* The JSON text of v (or none when v is NULL) into dst. */
static void json_text(char *dst, size_t len, const cJSON *v, const char *none)
{
    char *j = v != NULL ? cJSON_PrintUnformatted(v) : NULL;

    snprintf(dst, len, "%s", j != NULL ? j : none);
    free(j);
}

static void string_of(char *dst, size_t len, const cJSON *obj,
                      const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    snprintf(dst, len, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

int fx_run(gen *g, int64_t act_id, const char *mname, const char *uid,
           const char *rid, int64_t now, fx_answer *a)
{
    method *m = gen_route(g, act_id, mname);
    svc_req r;
    pipe_result res;
    const cJSON *v, *data;
    cJSON *b;

    memset(a, 0, sizeof *a);
    if (m == NULL) {
        printf("# no method %lld/%s\n", (long long)act_id, mname);
        a->http_status = -1;
        return -1;
    }
    fx_req(&r, m, uid, rid);
    svc_req_begin(&r, now);
    pipeline_run(&r, &res);
    /* The answer holds copies of what it took from r, so r can end
     * first; a test counting store calls sees the lock release among the
     * request's. */
    svc_req_end(&r);
    a->http_status = res.http_status;
    /* A replayed answer comes back as the stored text. */
    b = res.body != NULL ? res.body
                         : cJSON_Parse(res.raw != NULL ? res.raw : "{}");
    v = cJSON_GetObjectItemCaseSensitive(b, "code");
    a->code = cJSON_IsNumber(v) ? v->valueint : -99;
    string_of(a->reason, sizeof a->reason, b, "reason");
    string_of(a->outcome, sizeof a->outcome, b, "outcome");
    string_of(a->message, sizeof a->message, b, "message");
    json_text(a->detail, sizeof a->detail,
              cJSON_GetObjectItemCaseSensitive(b, "detail"), "");
    data = cJSON_GetObjectItemCaseSensitive(b, "data");
    json_text(a->data, sizeof a->data, data, "(null)");
    a->grants =
        cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(data, "grants"));
    cJSON_Delete(b);
    free(res.raw);
    return 0;
}
