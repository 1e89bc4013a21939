#ifndef BANNERLAB_SLOWDNS_LABNAME_H
#define BANNERLAB_SLOWDNS_LABNAME_H
/* The names of slowdns's lab zone: reverse names (in-addr.arpa, ip6.arpa)
 * to addresses, the synthesized host names and back, and the small helpers
 * around them (comparison, address text, a log-safe copy). The host-name
 * validator a zone file is read with is common/dnsname.h's, next to
 * bannerd's. No I/O, no libevent: unit-tested with Check.
 *
 * Synthesized names live under DNSNAME_DOMAIN and encode the address so
 * that a forward lookup of the name gives the address back (forward
 * confirmation succeeds without any zone file):
 *   IPv4  127.0.0.1    -> host-127-0-0-1.lab.test          (4 decimal groups)
 *   IPv6  2001:db8::1  -> host-2001-db8-0-0-0-0-0-1.lab.test (8 hex groups)
 * Groups are written without leading zeros and in lower case; only that
 * canonical form is accepted back, so each address has exactly one name. */
#include <stddef.h>

#include "dnsname.h"

#define DNSNAME_DOMAIN "lab.test"
#define DNSNAME_BUF (DNSNAME_MAX + 1)

struct dns_addr {
	int family;			/* AF_INET or AF_INET6 */
	unsigned char bytes[16];	/* network order; 4 used for AF_INET */
};

/* "1.0.0.127.in-addr.arpa" or the 32-nibble ip6.arpa form -> address.
 * Case-insensitive, a trailing dot is allowed. Partial (network) names
 * and anything malformed return -1. */
int dnsname_parse_reverse(const char *name, struct dns_addr *out);

/* Address -> its reverse name. Returns 0, or -1 if buf is too small. */
int dnsname_format_reverse(const struct dns_addr *a, char *buf, size_t len);

/* Address -> "host-...lab.test". Returns 0, or -1 if buf is too small. */
int dnsname_synthesize(const struct dns_addr *a, char *buf, size_t len);

/* The inverse of dnsname_synthesize; -1 if name is not a canonical
 * synthesized name. Case-insensitive, trailing dot allowed. */
int dnsname_parse_synthesized(const char *name, struct dns_addr *out);

/* Case-insensitive comparison that ignores one trailing dot on either
 * side. 1 if equal. */
int dnsname_equal(const char *a, const char *b);

/* Numeric text ("127.0.0.1", "::1") <-> address. */
int dns_addr_parse(const char *text, struct dns_addr *out);
void dns_addr_format(const struct dns_addr *a, char *buf, size_t len);
int dns_addr_equal(const struct dns_addr *a, const struct dns_addr *b);

/* Copies name into buf for a log line: bytes that would break a
 * key=value line (controls, space, '=', non-ASCII) become '?'. */
void dnsname_sanitize(const char *name, char *buf, size_t len);

#endif
