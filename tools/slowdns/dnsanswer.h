#ifndef BANNERLAB_SLOWDNS_DNSANSWER_H
#define BANNERLAB_SLOWDNS_DNSANSWER_H
/* What slowdns answers to one question, before any fault but mismatch is
 * applied: pure, no libevent, so the whole answer table is unit-tested.
 *
 *   PTR  reverse name of an address -> the zone names for that address,
 *        or else the synthesized name; anything else -> NXDOMAIN.
 *   A, AAAA  a zone name -> its addresses of that family; a synthesized
 *        name -> the address it encodes; a known name without an address
 *        of that family -> NOERROR with no records (NODATA);
 *        unknown -> NXDOMAIN.
 *   other types -> NODATA for a known name, else NXDOMAIN.
 *   class other than IN -> NOTIMP.
 * With mismatch, A and AAAA answers carry DNSANSWER_MISMATCH_V4/_V6
 * instead (one record), so forward confirmation of a PTR name fails. */
#include <stddef.h>

#include "labname.h"
#include "zone.h"

enum { QTYPE_A = 1, QTYPE_PTR = 12, QTYPE_AAAA = 28, QCLASS_IN = 1 };
enum { RCODE_NOERROR = 0, RCODE_FORMERR = 1, RCODE_SERVFAIL = 2,
	RCODE_NXDOMAIN = 3, RCODE_NOTIMP = 4, RCODE_REFUSED = 5 };

#define DNSANSWER_MAX 8		/* keeps every reply far below 512 bytes */
#define DNSANSWER_MISMATCH_V4 "192.0.2.1"	/* RFC 5737 TEST-NET-1 */
#define DNSANSWER_MISMATCH_V6 "2001:db8::1"	/* RFC 3849 */

struct dnsanswer_rr {
	int type;			/* QTYPE_PTR: host; A/AAAA: addr */
	char host[DNSNAME_BUF];
	struct dns_addr addr;
};

struct dnsanswer {
	int rcode;
	size_t n;
	struct dnsanswer_rr rr[DNSANSWER_MAX];
};

void dnsanswer_build(const struct zone *z, const char *qname, int qtype,
    int qclass, int mismatch, struct dnsanswer *out);

/* "PTR", "A", "AAAA", or "TYPE15" into buf. */
const char *dnsanswer_type_name(int qtype, char *buf, size_t len);
/* "NOERROR", "NXDOMAIN", ... or "RCODE9" into buf. */
const char *dnsanswer_rcode_name(int rcode, char *buf, size_t len);

/* The records for a log line: "host-127-0-0-1.lab.test" or
 * "192.0.2.1,192.0.2.2", or "-" when there are none. */
void dnsanswer_format(const struct dnsanswer *a, char *buf, size_t len);

#endif
