#include "dnscounts.h"

#include <inttypes.h>
#include <stdio.h>

#include "dnsanswer.h"

void
dnscounts_query(struct dnscounts *c, int qtype)
{
	c->queries++;
	switch (qtype) {
	case QTYPE_PTR: c->ptr++; break;
	case QTYPE_A: c->a++; break;
	case QTYPE_AAAA: c->aaaa++; break;
	default: c->other++;
	}
}

void
dnscounts_reply(struct dnscounts *c, int rcode, int truncated, int mismatch)
{
	switch (rcode) {
	case RCODE_NOERROR: c->answered++; break;
	case RCODE_NXDOMAIN: c->nxdomain++; break;
	case RCODE_SERVFAIL: c->servfail++; break;
	case RCODE_REFUSED: c->refused++; break;
	case RCODE_FORMERR: c->formerr++; break;
	default: c->notimp++;
	}
	c->truncated += truncated != 0;
	c->mismatch += mismatch != 0;
}

void
dnscounts_format(const struct dnscounts *c, uint64_t pending, char *buf, size_t len)
{
	snprintf(buf, len,
	    "queries=%" PRIu64 " ptr=%" PRIu64 " a=%" PRIu64 " aaaa=%" PRIu64
	    " other=%" PRIu64 " answered=%" PRIu64 " dropped=%" PRIu64
	    " servfail=%" PRIu64 " nxdomain=%" PRIu64 " refused=%" PRIu64
	    " truncated=%" PRIu64 " mismatch=%" PRIu64 " formerr=%" PRIu64
	    " notimp=%" PRIu64 " faulted=%" PRIu64 " pending=%" PRIu64,
	    c->queries, c->ptr, c->a, c->aaaa, c->other, c->answered,
	    c->dropped, c->servfail, c->nxdomain, c->refused, c->truncated,
	    c->mismatch, c->formerr, c->notimp, c->faulted, pending);
}
