/*
 * digest.h -- SHA-256 of files, in hex: what the audit log records of the
 * configuration, activity and plugin files in force.
 */
#ifndef AMS_CORE_DIGEST_H
#define AMS_CORE_DIGEST_H

#include <stddef.h>

/* SHA-256 of the file at path into hex (64 digits and a NUL).  Returns 0,
 * or -1 with errno (hex is then ""). */
int digest_file(const char *path, char hex[65]);

/* SHA-256 of the n bytes at p into hex.  Returns 0, or -1 (hex is then
 * ""). */
int digest_buf(const void *p, size_t n, char hex[65]);

/* 32 bytes as 64 hex digits and a NUL. */
void digest_hex(const unsigned char md[32], char hex[65]);

/* SHA-256 of a (alen bytes) followed by b (blen bytes; b may be NULL
 * when blen is 0) into hex.  For the data plane's per-request hashes: the
 * digest is looked up once per thread, not on every call.  Returns 0, or
 * -1 (hex is then "") when OpenSSL fails. */
int digest_sha256_hex(const void *a, size_t alen, const void *b, size_t blen,
                      char hex[65]);

#endif
