/*
 * store_lmdb.h -- what only the LMDB backend offers: a probe of its
 * write transactions, for tests and /metrics.
 */
#ifndef AMS_CORE_STORE_LMDB_H
#define AMS_CORE_STORE_LMDB_H

#include "store.h"

#include <stdint.h>

/* The id of the environment's last committed write transaction, as every
 * process sharing it sees it (mdb_env_info's me_last_txnid): it moves
 * exactly when some write transaction commits, so an unchanged id means
 * nothing was written.  0 on another backend's handle (a wrapper such as
 * the metrics store included: ask the store it wraps), on NULL, or when
 * LMDB cannot tell. */
uint64_t store_lmdb_txnid(store *s);

#endif
