/*
 * digest.c -- file digests (see digest.h).
 */
#include "digest.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <unistd.h>

void digest_hex(const unsigned char md[32], char hex[65])
{
    static const char digits[] = "0123456789abcdef";

    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
}

/* OpenSSL 3 resolves EVP_sha256() through a provider lookup on every
 * EVP_DigestInit_ex (EVP_MD_fetch, a good part of hashing a short
 * string); a fetched digest skips it.  Kept for the life of the thread:
 * reachable, so not a leak. */
static const EVP_MD *sha256_md(void)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    static _Thread_local EVP_MD *md;

    if (md == NULL)
        md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (md != NULL)
        return md;
#endif
    return EVP_sha256();
}

int digest_sha256_hex(const void *a, size_t alen, const void *b, size_t blen,
                      char hex[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c != NULL && EVP_DigestInit_ex(c, sha256_md(), NULL) &&
             EVP_DigestUpdate(c, a, alen) &&
             (blen == 0 || EVP_DigestUpdate(c, b, blen)) &&
             EVP_DigestFinal_ex(c, md, &mdlen) && mdlen == 32;

    EVP_MD_CTX_free(c);
    hex[0] = '\0';
    if (!ok)
        return -1;
    digest_hex(md, hex);
    return 0;
}

int digest_buf(const void *p, size_t n, char hex[65])
{
    return digest_sha256_hex(p, n, NULL, 0, hex);
}

int digest_file(const char *path, char hex[65])
{
    unsigned char buf[65536], md[32];
    unsigned int mdlen = 0;
    EVP_MD_CTX *c = NULL;
    ssize_t n = -1;
    int fd, err = 0;

    hex[0] = '\0';
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    c = EVP_MD_CTX_new();
    if (c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL))
        while ((n = read(fd, buf, sizeof buf)) > 0 ||
               (n < 0 && errno == EINTR))
            if (n > 0)
                EVP_DigestUpdate(c, buf, (size_t)n);
    if (n < 0)
        err = c == NULL ? ENOMEM : errno;
    else if (!EVP_DigestFinal_ex(c, md, &mdlen) || mdlen != 32)
        err = EIO;
    EVP_MD_CTX_free(c);
    close(fd);
    if (err != 0) {
        errno = err;
        return -1;
    }
    digest_hex(md, hex);
    return 0;
}
