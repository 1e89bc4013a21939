#include "dnsanswer.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static void
add_host(struct dnsanswer *out, const char *host)
{
	struct dnsanswer_rr *rr;

	if (out->n == DNSANSWER_MAX)
		return;
	rr = &out->rr[out->n++];
	memset(rr, 0, sizeof *rr);
	rr->type = QTYPE_PTR;
	snprintf(rr->host, sizeof rr->host, "%s", host);
}

static void
add_addr(struct dnsanswer *out, int type, const struct dns_addr *a)
{
	struct dnsanswer_rr *rr;

	if (out->n == DNSANSWER_MAX)
		return;
	rr = &out->rr[out->n++];
	memset(rr, 0, sizeof *rr);
	rr->type = type;
	rr->addr = *a;
}

static void
answer_ptr(const struct zone *z, const char *qname, struct dnsanswer *out)
{
	const struct zone_entry *e;
	struct dns_addr a;
	char host[DNSNAME_BUF];

	if (dnsname_parse_reverse(qname, &a) != 0) {
		out->rcode = RCODE_NXDOMAIN;
		return;
	}
	for (size_t i = 0; (e = zone_by_addr(z, &a, i)) != NULL; i++)
		add_host(out, e->name);
	if (out->n == 0 && dnsname_synthesize(&a, host, sizeof host) == 0)
		add_host(out, host);
}

/* Collects the addresses of qname (zone first, then the synthesized
 * form); returns 1 if the name exists at all, whatever the family. */
static int
forward_lookup(const struct zone *z, const char *qname, int family, int type,
    struct dnsanswer *out)
{
	const struct zone_entry *e;
	struct dns_addr a;
	int exists = 0;

	for (size_t i = 0; (e = zone_by_name(z, qname, i)) != NULL; i++) {
		exists = 1;
		if (e->addr.family == family)
			add_addr(out, type, &e->addr);
	}
	if (dnsname_parse_synthesized(qname, &a) == 0) {
		exists = 1;
		if (a.family == family)
			add_addr(out, type, &a);
	}
	return exists;
}

static void
answer_forward(const struct zone *z, const char *qname, int qtype, int mismatch,
    struct dnsanswer *out)
{
	int family = qtype == QTYPE_A ? AF_INET : AF_INET6;
	struct dns_addr wrong;

	if (!forward_lookup(z, qname, family, qtype, out)) {
		out->rcode = RCODE_NXDOMAIN;
		return;
	}
	if (!mismatch || out->n == 0)
		return;
	dns_addr_parse(qtype == QTYPE_A ? DNSANSWER_MISMATCH_V4 : DNSANSWER_MISMATCH_V6, &wrong);
	out->n = 0;
	add_addr(out, qtype, &wrong);
}

static void
answer_other(const struct zone *z, const char *qname, struct dnsanswer *out)
{
	struct dns_addr a;
	struct dnsanswer scratch = { 0 };

	if (dnsname_parse_reverse(qname, &a) == 0)
		return;
	if (forward_lookup(z, qname, AF_INET, QTYPE_A, &scratch))
		return;
	out->rcode = RCODE_NXDOMAIN;
}

void
dnsanswer_build(const struct zone *z, const char *qname, int qtype,
    int qclass, int mismatch, struct dnsanswer *out)
{
	out->rcode = RCODE_NOERROR;
	out->n = 0;
	if (qclass != QCLASS_IN) {
		out->rcode = RCODE_NOTIMP;
		return;
	}
	switch (qtype) {
	case QTYPE_PTR:
		answer_ptr(z, qname, out);
		break;
	case QTYPE_A:
	case QTYPE_AAAA:
		answer_forward(z, qname, qtype, mismatch, out);
		break;
	default:
		answer_other(z, qname, out);
	}
}

const char *
dnsanswer_type_name(int qtype, char *buf, size_t len)
{
	switch (qtype) {
	case QTYPE_A: return "A";
	case QTYPE_PTR: return "PTR";
	case QTYPE_AAAA: return "AAAA";
	}
	snprintf(buf, len, "TYPE%d", qtype);
	return buf;
}

const char *
dnsanswer_rcode_name(int rcode, char *buf, size_t len)
{
	static const char *names[] = {
		"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	};

	if (rcode >= 0 && rcode < (int)(sizeof names / sizeof names[0]))
		return names[rcode];
	snprintf(buf, len, "RCODE%d", rcode);
	return buf;
}

void
dnsanswer_format(const struct dnsanswer *a, char *buf, size_t len)
{
	size_t off = 0;

	if (len == 0)
		return;
	snprintf(buf, len, "-");
	for (size_t i = 0; i < a->n; i++) {
		char text[DNSNAME_BUF];
		int n;

		if (a->rr[i].type == QTYPE_PTR)
			snprintf(text, sizeof text, "%s", a->rr[i].host);
		else
			dns_addr_format(&a->rr[i].addr, text, sizeof text);
		n = snprintf(buf + off, len - off, "%s%s", i ? "," : "", text);
		if (n < 0 || off + (size_t)n >= len)
			return;
		off += (size_t)n;
	}
}
