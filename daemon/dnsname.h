#ifndef BANNERD_DNSNAME_H
#define BANNERD_DNSNAME_H
/* Pure helpers for the reverse-DNS stage: the PTR query name of an
 * address, and whether a name from the network is fit to be used. */
#include <stddef.h>
#include <sys/socket.h>

/* "1.0.0.127.in-addr.arpa" or the 32-nibble ip6.arpa name.
 * Returns 0, or -1 for an unsupported family or a small buffer. */
int dnsname_ptr_query(const struct sockaddr *sa, char *buf, size_t len);

/* A host name we are willing to log and compare: at most 253 octets,
 * labels of 1..63 letters, digits, '-' or '_' not starting or ending with
 * '-', and not all-numeric (a PTR that answers "1.2.3.4" is a lie that
 * would look like an address in the log, as Postfix notes). An optional
 * trailing dot is allowed. Hostile answers fail here and never reach the
 * log or a reply. */
int dnsname_valid(const char *name);

#endif
