/*
 * ctl.h -- the control channel between the master and each worker: a
 * SOCK_SEQPACKET socketpair, so every message is one datagram holding one
 * JSON object with a "type" member.  Messages:
 *   worker -> master: {"type":"ready","generation":N}
 *                     {"type":"failed","errors":"..."}
 *   master -> worker: {"type":"stop"}
 */
#ifndef AMS_CORE_CTL_H
#define AMS_CORE_CTL_H

#include <cjson/cJSON.h>

#define CTL_MSG_MAX (256 * 1024)

/* Create the pair (close-on-exec).  Returns -1 with errno set. */
int ctl_pair(int fds[2]);
/* Send msg (not consumed).  Returns -1 on failure. */
int ctl_send(int fd, const cJSON *msg);
/* Receive one message.  Returns 1 with *msg owned by the caller, 0 on
 * EOF (the peer is gone), -1 on error or garbage (EAGAIN: nothing yet). */
int ctl_recv(int fd, cJSON **msg);
/* The message's type, or "" */
const char *ctl_type(const cJSON *msg);

#endif
