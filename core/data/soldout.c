/*
 * soldout.c -- the worker's sold-out facts (soldout.h): a ring of
 * SOLDOUT_MAX entries with a hash index by key, open addressing.  The
 * ring gives the oldest-first replacement for free; a replaced entry
 * leaves the index by its own slot.
 */
#include "soldout.h"

#include "hash.h"

#include <stdlib.h>
#include <string.h>

#define SLOTS (SOLDOUT_MAX * 2) /* index kept at most half full */

typedef struct fact {
    char *key; /* owned; NULL: a free entry */
    uint64_t hash;
    int64_t hi, value, until_ms;
} fact;

static fact ring[SOLDOUT_MAX];
static unsigned next;
static int32_t slot[SLOTS]; /* ring index + 1; 0: empty; -1: deleted */
static uint64_t hits;

static uint64_t key_hash(const char *key)
{
    return hash_fnv1a(HASH_FNV1A_INIT, key, strlen(key));
}

/* The ring index of key, or -1. */
static int find(const char *key, uint64_t h, size_t *at)
{
    for (size_t i = 0, k = h % SLOTS; i < SLOTS; i++, k = (k + 1) % SLOTS) {
        int32_t s = slot[k];
        if (s == 0)
            break;
        if (s > 0 && ring[s - 1].hash == h &&
            strcmp(ring[s - 1].key, key) == 0) {
            if (at != NULL)
                *at = k;
            return s - 1;
        }
    }
    return -1;
}

static void drop(int i)
{
    size_t at;

    if (ring[i].key == NULL)
        return;
    if (find(ring[i].key, ring[i].hash, &at) == i)
        slot[at] = -1;
    free(ring[i].key);
    ring[i].key = NULL;
}

int soldout_get(const char *key, int64_t hi, int64_t now_ms, int64_t *value)
{
    int i = find(key, key_hash(key), NULL);

    if (i < 0 || ring[i].hi != hi || ring[i].until_ms <= now_ms)
        return 0;
    *value = ring[i].value;
    hits++;
    return 1;
}

int soldout_known(const char *key, int64_t now_ms)
{
    int i = find(key, key_hash(key), NULL);

    return i >= 0 && ring[i].until_ms > now_ms;
}

void soldout_set(const char *key, int64_t hi, int64_t value, int64_t now_ms)
{
    uint64_t h = key_hash(key);
    int i = find(key, h, NULL);
    char *k;

    if (i >= 0) {
        ring[i].hi = hi;
        ring[i].value = value;
        ring[i].until_ms = now_ms + SOLDOUT_TTL_MS;
        return;
    }
    if ((k = strdup(key)) == NULL)
        return; /* a fact is only an optimisation */
    i = (int)(next++ % SOLDOUT_MAX);
    drop(i);
    ring[i] = (fact){k, h, hi, value, now_ms + SOLDOUT_TTL_MS};
    for (size_t n = 0, s = h % SLOTS; n < SLOTS; n++, s = (s + 1) % SLOTS)
        if (slot[s] <= 0) {
            slot[s] = i + 1;
            return;
        }
}

void soldout_forget(const char *key)
{
    int i = find(key, key_hash(key), NULL);

    if (i >= 0)
        drop(i);
}

void soldout_clear(void)
{
    for (int i = 0; i < SOLDOUT_MAX; i++) {
        free(ring[i].key);
        ring[i].key = NULL;
    }
    memset(slot, 0, sizeof slot);
}

uint64_t soldout_hits(void)
{
    return hits;
}
