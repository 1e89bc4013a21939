#ifndef BANNERLAB_ADDR_H
#define BANNERLAB_ADDR_H
/* Numeric socket addresses as people write them: "127.0.0.1:2525",
 * "[::1]:2525", "::1" (with a default port). No DNS is ever consulted:
 * a lab must not depend on the resolver it is about to break. */
#include <stddef.h>
#include <sys/socket.h>

struct addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* Returns 0 on success, -1 on bad syntax. default_port is used when the
 * text has none; pass -1 to require a port. */
int addr_parse(const char *text, int default_port, struct addr *out);

/* "127.0.0.1:2525" or "[::1]:2525". Always NUL-terminated. */
void addr_format(const struct sockaddr *sa, char *buf, size_t len);

/* Only the host part: "127.0.0.1" or "::1". */
void addr_format_host(const struct sockaddr *sa, char *buf, size_t len);

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) rewritten as AF_INET, so
 * lookups and comparisons see the address the client really has. */
void addr_unmap_v4(struct addr *a);

/* Is sa inside one of the networks of list, "192.0.2.0/24, ::1, fd00::/8"
 * (commas or blanks between items; an address alone is a /32 or /128; an
 * IPv4-mapped IPv6 address counts as IPv4)? 1 yes, 0 no, -1 when an item
 * does not parse (then nothing matches). */
int addr_cidr_list_match(const char *list, const struct sockaddr *sa);

#define ADDR_TEXT_MAX 64

#endif
