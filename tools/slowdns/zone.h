#ifndef BANNERLAB_SLOWDNS_ZONE_H
#define BANNERLAB_SLOWDNS_ZONE_H
/* The optional zone file of slowdns: one "ADDRESS NAME" pair a line,
 * '#' starts a comment, blank lines are ignored. An address may have
 * several names (several PTR records) and a name several addresses
 * (several A/AAAA records). Lookups are linear: a lab zone has a few
 * dozen entries, and a scan keeps the structure trivially correct. */
#include <stddef.h>

#include "labname.h"

struct zone_entry {
	struct dns_addr addr;
	char name[DNSNAME_BUF];		/* lower case, no trailing dot */
};

struct zone {
	struct zone_entry *entries;
	size_t n, cap;
};

enum zone_line {
	ZONE_LINE_ENTRY,	/* *out filled */
	ZONE_LINE_EMPTY,	/* blank or comment only */
	ZONE_LINE_ERROR		/* *why says what is wrong */
};

/* Parses one line (with or without its newline). Pure. */
enum zone_line zone_parse_line(const char *line, struct zone_entry *out,
    const char **why);

/* Reads path into z (which must be zeroed or freed before). On error
 * returns -1 with "path:line: reason" in err, and z left empty. */
int zone_load(struct zone *z, const char *path, char *err, size_t errlen);
int zone_add(struct zone *z, const struct zone_entry *e);
void zone_free(struct zone *z);

/* The i-th entry (i counts from 0) whose address equals a, or NULL. */
const struct zone_entry *zone_by_addr(const struct zone *z,
    const struct dns_addr *a, size_t i);
/* The i-th entry whose name equals name (case-insensitive), any family. */
const struct zone_entry *zone_by_name(const struct zone *z, const char *name,
    size_t i);

#endif
