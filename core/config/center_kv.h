/*
 * center_kv.h -- what the config center keeps in Redis, shared by the
 * nodes (center.c) and the publisher (tools/amsctl.c).
 *
 * Every key starts with a prefix (default "ams:cc:"):
 *
 *   PREFIX seq          INCR'd by each publish: version numbers never
 *                       collide, even between two publishers
 *   PREFIX v:N          hash, version N (written before the pointer
 *                       names it, never changed after):
 *                         conf:NAME      an activity file
 *                         pins           the pin file (pins.h), optional
 *                         digest         SHA-256 of the content (below)
 *                         files          how many activity files
 *                         published_at   ms since the epoch
 *                         publisher      "user@host", as amsctl saw it
 *                         source         the directory published
 *                         rollback_of    N when republished from N
 *   PREFIX versions     zset of the versions kept (score = member = N);
 *                       a publish keeps the newest CKV_KEEP_DEFAULT
 *   PREFIX version      the pointer: the version every node should serve;
 *                       only ever moved forward (CKV_POINTER_LUA)
 *   PREFIX changed      pub/sub channel, message N, after each move
 *   PREFIX node:NAME    hash, one node's report (CKV_NODE_* fields),
 *                       expiring when the node stops reporting
 *   PREFIX nodes        zset of node names by the time of their report
 *
 * The digest is the SHA-256 of, for each activity file in byte order of
 * its name, "conf:NAME\nLEN\n" + its bytes + "\n", then, when there are
 * pins, "pins\nLEN\n" + the pin file + "\n" (LEN in decimal): two
 * versions with the same digest serve the same thing.
 */
#ifndef AMS_CORE_CENTER_KV_H
#define AMS_CORE_CENTER_KV_H

#include "errs.h"

#include <stddef.h>
#include <stdint.h>

struct redisReply;

#define CKV_PREFIX_DEFAULT "ams:cc:"
#define CKV_PREFIX_MAX 64
#define CKV_NODE_MAX 100
#define CKV_KEY_MAX 256
#define CKV_PINS_FILE "plugins.sha256"
#define CKV_KEEP_DEFAULT 10
#define CKV_MAX_BYTES (64u << 20) /* a version's content, all files */

/* Key names under the prefix. */
#define CKV_SEQ "seq"
#define CKV_POINTER "version"
#define CKV_VERSIONS "versions"
#define CKV_CHANNEL "changed"
#define CKV_NODES "nodes"

/* Fields of a node's report (PREFIX node:NAME). */
#define CKV_NODE_VERSION "version"   /* serving; 0: the local files */
#define CKV_NODE_DIGEST "digest"     /* of the version serving */
#define CKV_NODE_LATEST "latest"     /* the pointer as the node last read */
#define CKV_NODE_LOADING "loading"   /* being loaded now, or 0 */
#define CKV_NODE_REJECTED "rejected" /* last version refused, or 0 */
#define CKV_NODE_REASON "reason"     /* why, one message a line */
#define CKV_NODE_REJECTED_AT "rejected_at" /* ms since the epoch */
#define CKV_NODE_UPDATED_AT "updated_at"   /* ms since the epoch */
#define CKV_NODE_POLL_MS "poll_ms"
#define CKV_NODE_GENERATION "generation"

/* Moves PREFIX version (KEYS[1]) to ARGV[1] only forward and then
 * publishes ARGV[1] on PREFIX changed (KEYS[2]): 1 + the number of
 * subscribers told when moved, 0 when the pointer already names a newer
 * version (another publisher won). */
#define CKV_POINTER_LUA                                                       \
    "local cur = tonumber(redis.call('GET', KEYS[1]) or '0') "                \
    "if cur >= tonumber(ARGV[1]) then return 0 end "                          \
    "redis.call('SET', KEYS[1], ARGV[1]) "                                    \
    "return 1 + redis.call('PUBLISH', KEYS[2], ARGV[1])"

typedef struct ckv_file {
    char *name; /* a plain "*.conf" name */
    char *data;
    size_t len;
} ckv_file;

/* One version's content and description; every pointer owned. */
typedef struct ckv_version {
    uint64_t number; /* 0 until published */
    ckv_file *files; /* the activity files, sorted by name */
    size_t nfiles;
    char *pins; /* the pin file, or NULL */
    size_t pins_len;
    char digest[65];      /* ckv_digest() */
    int64_t published_at; /* ms since the epoch, 0: unknown */
    char *publisher;      /* or NULL */
    char *source;         /* or NULL */
    uint64_t rollback_of; /* 0: a fresh publish */
} ckv_version;

/* prefix + name into out (CKV_KEY_MAX bytes); "v:N" and "node:NAME"
 * keys through the two below. */
void ckv_key(char *out, const char *prefix, const char *name);
void ckv_version_key(char *out, const char *prefix, uint64_t n);
void ckv_node_key(char *out, const char *prefix, const char *node);

/* 1 when s is usable as a prefix (1..CKV_PREFIX_MAX printable ASCII
 * bytes without spaces) or as a node name (1..CKV_NODE_MAX bytes of
 * [A-Za-z0-9._:@-]). */
int ckv_prefix_ok(const char *s);
int ckv_node_ok(const char *s);

/* A version from a directory, as amsctl publishes it: every *.conf of
 * DIR/activities when that directory exists, else of DIR itself (but
 * amsd.conf, which stays per node), and DIR/plugins.sha256 when present
 * (checked, not verified).  Every problem goes to e; returns 0 or -1.
 * v is zeroed first; the caller ckv_free()s it in both cases. */
int ckv_read_dir(const char *dir, ckv_version *v, errs *e);

/* A version from the HGETALL reply of PREFIX v:N: names and the pin
 * file are checked, and the digest recomputed and compared with the
 * stored one (a version written by hand or cut short is refused).
 * Problems go to e as "version N: ..."; returns 0 or -1.  v as above. */
int ckv_from_reply(uint64_t n, const struct redisReply *r, ckv_version *v,
                   errs *e);

/* Compute v->digest from v's content. */
void ckv_digest(ckv_version *v);

/* The arguments of "HSET key field value ..." writing v (with its
 * digest and metadata), as hiredis' *Argv calls take them; v must
 * outlive a.  Returns 0, or -1 when out of memory. */
typedef struct ckv_args {
    int argc;
    const char **argv; /* owned array; strings point into v or num */
    size_t *lens;      /* owned */
    char *names;       /* owned: the "conf:NAME" fields, back to back */
    char num[3][24];   /* the numbers' text */
} ckv_args;
int ckv_hset_args(const ckv_version *v, const char *key, ckv_args *a);
/* Free a's arrays (not what they point to in v). */
void ckv_args_free(ckv_args *a);

/* Write v under dir (which must not exist): dir/activities/NAME for each
 * file and dir/plugins.sha256 when there are pins.  Returns 0, or -1
 * with the problem in e. */
int ckv_write_dir(const ckv_version *v, const char *dir, errs *e);

void ckv_free(ckv_version *v);

#endif
