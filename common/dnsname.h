#ifndef BANNERLAB_DNSNAME_H
#define BANNERLAB_DNSNAME_H
/* Host names, as bannerd and slowdns meet them: the PTR query name of an
 * address, and whether a name is fit to be used. Pure: no I/O.
 *
 * One label walker, two policies. Both take at most 253 octets (without
 * one optional trailing dot) in labels of 1..63 characters, letters,
 * digits and hyphens, not starting or ending with a hyphen. They differ
 * where their inputs differ:
 *
 *                      PTR answer (bannerd)    zone host (slowdns)
 *   '_' in a label     allowed                 refused
 *   all-numeric name   refused                 allowed
 *
 * A PTR answer comes from the network, and names with '_' are met there;
 * one that reads "1.2.3.4" is a lie that would look like an address in the
 * log, as Postfix notes. A zone file is written by the lab's user, and
 * slowdns serves only what a strict resolver would accept back. */
#include <stddef.h>
#include <sys/socket.h>

#define DNSNAME_MAX 253		/* text form, without the trailing dot */
#define DNSNAME_LABEL_MAX 63

/* "1.0.0.127.in-addr.arpa" or the 32-nibble ip6.arpa name.
 * Returns 0, or -1 for an unsupported family or a small buffer. */
int dnsname_ptr_query(const struct sockaddr *sa, char *buf, size_t len);

/* The PTR-answer policy: 1 if bannerd may log and compare name, 0 if not.
 * Hostile answers fail here and never reach the log or a reply. */
int dnsname_valid(const char *name);

/* The zone-host policy: 1 if slowdns may serve name from a zone file. */
int dnsname_valid_host(const char *name);

#endif
