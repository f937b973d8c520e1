/*
 * fixture.h -- what several unit tests need alike: scratch directories
 * under $AMS_TEST_TMP and files written into them, a store opened by URI,
 * the "file:line: " messages of an errs, and one request run through the
 * pipeline as a worker runs it.
 *
 * Nothing here makes a TAP check except the fx_expect_at() macro, which
 * expands in the calling file; the functions report trouble as TAP
 * comments ("# ...") and leave the verdict to the caller.
 *
 *   AMS_TEST_TMP  where scratch directories go (default /tmp/ams-test)
 */
#ifndef AMS_TESTS_FIXTURE_H
#define AMS_TESTS_FIXTURE_H

#include "errs.h"
#include "gen.h"
#include "services.h"
#include "store.h"
#include "tap.h"

#include <stddef.h>
#include <stdint.h>

/* ---- scratch directories and files ---- */

/* Remove path and everything below it, without following links; a path
 * that does not exist is fine. */
void fx_rm_rf(const char *path);

/* Create dir and its missing parents (mode 0700).  Errors are left to
 * whatever then uses the directory. */
void fx_mkdirs(const char *dir);

/* The test's own scratch directory, $AMS_TEST_TMP/name, created; kept
 * between runs (callers empty what they reuse, see fx_fresh_dir()).
 * Written into the caller's dir (len bytes), which is returned. */
const char *fx_scratch(char *dir, size_t len, const char *name);

/* A new, empty directory $AMS_TEST_TMP/prefix.XXXXXX of this run, in the
 * caller's dir (len bytes).  Directories with this prefix that earlier
 * runs left (killed before cleaning up) are removed first; nothing else,
 * as AMS_TEST_TMP may be shared.  The caller owns the directory and
 * removes it (fx_rm_rf).  0, or -1 with a "Bail out!" line printed. */
int fx_mkdtemp(char *dir, size_t len, const char *prefix);

/* parent/name, emptied and created.  The path is in one of 4 rotating
 * static buffers owned by the fixture: copy it to keep it past 4 more
 * calls. */
const char *fx_fresh_dir(const char *parent, const char *name);

/* Write text to dir/name.  The path is in one of 8 rotating static
 * buffers owned by the fixture (copy it to keep it past 8 more calls);
 * it is returned even when writing failed (a TAP comment says so), so
 * that the check that reads the file reports the failure. */
const char *fx_put(const char *dir, const char *name, const char *text);

/* A loopback TCP port that nothing listens on at this moment.  Another
 * process may take it before the caller binds it: callers retry.  -1 when
 * the system gives none. */
int fx_free_port(void);

/* ---- stores ---- */

/* store_open() of uri with these LMDB settings (0: the defaults); the
 * caller owns the store (store_close).  NULL on failure, with the reason
 * printed as a TAP comment. */
store *fx_store_open(const char *uri, size_t lmdb_map_size, int lmdb_sync);

/* ---- messages ---- */

/* Every message of e, as TAP comments. */
void fx_dump_errs(const errs *e);

/* The message of e that starts with "file:line: " ("file: " when line is
 * 0) and contains frag; NULL when there is none.  The text belongs to
 * e. */
const char *fx_find_at(const errs *e, const char *file, int line,
                       const char *frag);

/* Check that e has that message; without it, show all of them. */
#define fx_expect_at(e, file, line, frag)                                     \
    do {                                                                      \
        if (!ok(fx_find_at((e), (file), (line), (frag)) != NULL,              \
                "reported at line %d: %s", (line), (frag))) {                 \
            printf("#   no message \"%s:%d: ...%s...\" among:\n", (file),     \
                   (line), (frag));                                           \
            fx_dump_errs(e);                                                  \
        }                                                                     \
    } while (0)

/* ---- generations and requests ---- */

/* A generation of the activity files in acts with the plugins in plugins,
 * built as a worker builds one (plugin init run when run_init is set);
 * the caller owns it (gen_unref).  NULL on failure, the reasons in e. */
gen *fx_gen_build(const char *plugins, const char *acts, int run_init,
                  errs *e);

/* Make r a request for method m by user uid with request_id rid, zeroed
 * but for that.  r only points at uid and rid, which must outlive it;
 * svc_req_begin() starts it. */
void fx_req(svc_req *r, method *m, const char *uid, const char *rid);

/* An answer of the pipeline, unpacked into buffers of its own: nothing in
 * it needs freeing.  Members the answer lacks are empty strings, code
 * -99, grants 0. */
typedef struct fx_answer {
    int http_status; /* -1: no such method */
    int code;
    char reason[64];
    char outcome[16];
    char message[256];
    char detail[256]; /* JSON text */
    char data[512];   /* JSON text; "(null)" when the answer has none */
    int grants;       /* entries in data.grants */
} fx_answer;

/* Run method mname of activity act_id in g for uid with request_id rid at
 * host time now, as a worker runs a request: begin, pipeline, end (the
 * end releases the request's session lock, itself a store call, before
 * this returns).  The answer goes to a; 0, or -1 when g has no such
 * method. */
int fx_run(gen *g, int64_t act_id, const char *mname, const char *uid,
           const char *rid, int64_t now, fx_answer *a);

#endif
