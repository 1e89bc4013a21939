#include "zone.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZONE_LINE_MAX 1024

static const char *
skip_blank(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* Copies one whitespace-delimited word into buf; returns the rest, or
 * NULL if the word does not fit. */
static const char *
take_word(const char *s, char *buf, size_t len)
{
	size_t n = 0;

	while (*s != '\0' && !isspace((unsigned char)*s) && *s != '#') {
		if (n + 1 >= len)
			return NULL;
		buf[n++] = *s++;
	}
	buf[n] = '\0';
	return s;
}

static void
store_name(const char *name, char *dst)
{
	size_t n = strlen(name);

	if (n > 0 && name[n - 1] == '.')
		n--;
	for (size_t i = 0; i < n; i++)
		dst[i] = (char)tolower((unsigned char)name[i]);
	dst[n] = '\0';
}

enum zone_line
zone_parse_line(const char *line, struct zone_entry *out, const char **why)
{
	char addr[64], name[DNSNAME_BUF + 1] = "";
	const char *s = skip_blank(line);

	if (*s == '\0' || *s == '#' || *s == '\n' || *s == '\r')
		return ZONE_LINE_EMPTY;
	if ((s = take_word(s, addr, sizeof addr)) == NULL || dns_addr_parse(addr, &out->addr) != 0) {
		*why = "not a numeric IPv4 or IPv6 address";
		return ZONE_LINE_ERROR;
	}
	s = skip_blank(s);
	if ((s = take_word(s, name, sizeof name)) == NULL || !dnsname_valid_host(name)) {
		*why = name[0] == '\0' ? "missing name after the address"
		    : "bad name (letters, digits, hyphens; labels <= 63, name <= 253)";
		return ZONE_LINE_ERROR;
	}
	while (isspace((unsigned char)*s))
		s++;
	if (*s != '\0' && *s != '#') {
		*why = "extra text after the name (one ADDRESS NAME pair a line)";
		return ZONE_LINE_ERROR;
	}
	store_name(name, out->name);
	return ZONE_LINE_ENTRY;
}

int
zone_add(struct zone *z, const struct zone_entry *e)
{
	if (z->n == z->cap) {
		size_t cap = z->cap ? z->cap * 2 : 16;
		struct zone_entry *v = realloc(z->entries, cap * sizeof *v);

		if (v == NULL)
			return -1;
		z->entries = v;
		z->cap = cap;
	}
	z->entries[z->n++] = *e;
	return 0;
}

void
zone_free(struct zone *z)
{
	free(z->entries);
	memset(z, 0, sizeof *z);
}

static int
zone_read(struct zone *z, FILE *f, const char *path, char *err, size_t errlen)
{
	char line[ZONE_LINE_MAX];
	struct zone_entry e;
	const char *why = NULL;

	for (unsigned lineno = 1; fgets(line, sizeof line, f) != NULL; lineno++) {
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errlen, "%s:%u: line longer than %d bytes", path, lineno, ZONE_LINE_MAX - 2);
			return -1;
		}
		switch (zone_parse_line(line, &e, &why)) {
		case ZONE_LINE_EMPTY:
			continue;
		case ZONE_LINE_ERROR:
			snprintf(err, errlen, "%s:%u: %s", path, lineno, why);
			return -1;
		case ZONE_LINE_ENTRY:
			if (zone_add(z, &e) != 0) {
				snprintf(err, errlen, "%s:%u: out of memory", path, lineno);
				return -1;
			}
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int
zone_load(struct zone *z, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	int rc;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	rc = zone_read(z, f, path, err, errlen);
	fclose(f);
	if (rc != 0)
		zone_free(z);
	return rc;
}

const struct zone_entry *
zone_by_addr(const struct zone *z, const struct dns_addr *a, size_t i)
{
	for (size_t k = 0; k < z->n; k++)
		if (dns_addr_equal(&z->entries[k].addr, a) && i-- == 0)
			return &z->entries[k];
	return NULL;
}

const struct zone_entry *
zone_by_name(const struct zone *z, const char *name, size_t i)
{
	for (size_t k = 0; k < z->n; k++)
		if (dnsname_equal(z->entries[k].name, name) && i-- == 0)
			return &z->entries[k];
	return NULL;
}
