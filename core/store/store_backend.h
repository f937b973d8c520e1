/*
 * store_backend.h -- what each backend file offers the table in store.c
 * that picks one by the URI's scheme.  Only the store layer includes
 * this; everyone else opens a store with store_open().
 */
#ifndef AMS_CORE_STORE_BACKEND_H
#define AMS_CORE_STORE_BACKEND_H

#include "store.h"

/* One open per backend: arg is what follows the scheme ("lmdb:", "mem:"),
 * or the whole URI for Redis. */
store *store_lmdb_open(const char *dir, const store_options *opt, char *err,
                       size_t errlen);
/* In memory and process-local: nothing is shared with other processes
 * and nothing outlives the handle; every open is a new, empty store (NAME
 * only labels log lines; opt is not used).  See store_mem.c. */
store *store_mem_open(const char *name, const store_options *opt, char *err,
                      size_t errlen);
/* uri is the whole "redis://..." URI.  Connects (and loads the scripts)
 * before returning; a handle whose connection is lost later reconnects by
 * itself.  With opt->base, calls from inside a coroutine yield instead of
 * blocking (see store_redis.c). */
store *store_redis_open(const char *uri, const store_options *opt, char *err,
                        size_t errlen);

#endif
