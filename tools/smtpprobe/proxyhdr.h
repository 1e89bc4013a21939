#ifndef SMTPPROBE_PROXYHDR_H
#define SMTPPROBE_PROXYHDR_H
/* --proxy v1|v2: the PROXY protocol header (haproxy
 * doc/proxy-protocol.txt) a load balancer would send first, naming a
 * client of our choice, so one machine can stand in for many clients
 * without a balancer. Pure: addresses in, bytes out. */
#include <stddef.h>
#include <sys/socket.h>

#define PROBE_PROXY_MAX 108	/* v1: 107 bytes at most; v2 TCP6: 52 */

/* A "PROXY TCP4|TCP6 ..." line (version 1) or the binary v2 header with
 * command PROXY, from src to dst (both AF_INET, or both AF_INET6; an
 * IPv4-mapped dst with an IPv4 src is written as IPv4). Returns its
 * length, or 0 if the families do not match. */
size_t probe_proxy_header(int version, const struct sockaddr *src, const struct sockaddr *dst,
    unsigned char out[PROBE_PROXY_MAX]);

#endif
