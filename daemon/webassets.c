#include "webassets.h"

#include <string.h>

/* A dozen entries: a scan is as fast as anything cleverer. */
const struct webasset *
webasset_find(const char *path)
{
	if (path == NULL)
		return NULL;
	for (size_t i = 0; i < webasset_count; i++)
		if (strcmp(webasset_table[i].path, path) == 0)
			return &webasset_table[i];
	return NULL;
}
