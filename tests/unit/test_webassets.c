/* daemon/webassets: the live page's files compiled into bannerd, found by
 * URL path; anything else is not served. */
#include <check.h>
#include <string.h>

#include "check_main.h"
#include "webassets.h"

START_TEST(page_and_assets_are_there)
{
	const struct webasset *page = webasset_find("/");

	ck_assert_ptr_nonnull(page);
	ck_assert_str_eq(page->content_type, "text/html; charset=utf-8");
	ck_assert(!page->cacheable);
	ck_assert(page->len > 0 && memmem(page->data, page->len, "<html", 5) != NULL);
	static const char *const names[] = { "/static/live.js", "/static/live.css",
	    "/static/uPlot.iife.min.js", "/static/uPlot.min.css", "/static/uPlot-LICENSE.txt",
	    "/static/profiles.json" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const struct webasset *a = webasset_find(names[i]);
		ck_assert_msg(a != NULL && a->len > 0, "%s missing or empty", names[i]);
		ck_assert(a->cacheable);
	}
}
END_TEST

START_TEST(bytes_are_the_files)
{
	const struct webasset *lib = webasset_find("/static/uPlot.iife.min.js");
	const struct webasset *prof = webasset_find("/static/profiles.json");

	ck_assert_str_eq(lib->content_type, "text/javascript; charset=utf-8");
	ck_assert(lib->len > 40000);
	ck_assert(memcmp(lib->data, "/*! https://github.com/leeoniya/uPlot (v1.6.32) */", 50) == 0);
	/* the generator's trailing NUL is not part of the file */
	ck_assert(lib->data[lib->len - 1] != '\0');
	ck_assert_str_eq(prof->content_type, "application/json");
	ck_assert(prof->data[0] == '[');
	ck_assert(memmem(prof->data, prof->len, "\"impatient-5\"", 13) != NULL);
}
END_TEST

START_TEST(unknown_paths_are_not_found)
{
	static const char *const bad[] = { "", "/static/", "/static/nonesuch.js", "/static/../live.html",
	    "/live.html", "/static/live.js/", "//", "/STATIC/live.js", "/web/live.js" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(webasset_find(bad[i]) == NULL, "'%s' found", bad[i]);
	ck_assert_ptr_null(webasset_find(NULL));
}
END_TEST

Suite *
unit_suite(void)
{
	Suite *s = suite_create("webassets");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, page_and_assets_are_there);
	tcase_add_test(tc, bytes_are_the_files);
	tcase_add_test(tc, unknown_paths_are_not_found);
	suite_add_tcase(s, tc);
	return s;
}
