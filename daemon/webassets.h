#ifndef BANNERD_WEBASSETS_H
#define BANNERD_WEBASSETS_H
/* The live page's files (web/, vendor/uplot/, smtpprobe's profile table),
 * compiled into bannerd by scripts/webembed at build time: looked up by
 * URL path, served by exporter.c. Pure: no I/O. */
#include <stdbool.h>
#include <stddef.h>

struct webasset {
	const char *path;		/* "/", "/static/live.js" */
	const char *content_type;
	const unsigned char *data;
	size_t len;
	bool cacheable;			/* false for the HTML: always the running bannerd's page */
};

/* The generated table ($(B)/gen/webassets_data.c). */
extern const struct webasset webasset_table[];
extern const size_t webasset_count;

/* The asset served at path (no query string), or NULL. */
const struct webasset *webasset_find(const char *path);

#endif
