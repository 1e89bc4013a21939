/* The configuration reader: defaults, every key type, overrides, and
 * every kind of error with its file, line, key, reason and, for a typo,
 * the key that was meant. Units themselves: test_units.c. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "config.h"

static char err[1024];

static char *
write_conf(const char *text)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof path, "/tmp/bannerd-unit-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static struct config *
load_text(const char *text)
{
	char *path = write_conf(text);
	struct config *c = config_load(path, NULL, 0, err, sizeof err);

	unlink(path);
	return c;
}

START_TEST(defaults_without_file)
{
	struct config *c = config_load(NULL, NULL, 0, err, sizeof err);

	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->listen_address, "127.0.0.1:2525");
	ck_assert_uint_eq(c->listen_backlog, 4096);
	ck_assert_uint_eq(c->smtp_max_line, 512);
	ck_assert_uint_eq(c->smtp_max_message_size, 10 * 1024 * 1024);
	ck_assert_uint_eq(c->smtp_timeout_command_us, 5 * 60 * 1000000ULL);
	ck_assert_uint_eq(c->smtp_timeout_data_us, 3 * 60 * 1000000ULL);
	ck_assert_uint_eq(c->smtp_command_deadline_us, 5 * 60 * 1000000ULL);
	ck_assert_uint_eq(c->smtp_min_data_rate, 500);
	ck_assert_uint_eq(c->smtp_stress_threshold, 80);
	ck_assert_uint_eq(c->smtp_stress_timeout_command_us, 10000000);
	ck_assert_uint_eq(c->smtp_stress_timeout_data_us, 10000000);
	ck_assert_int_eq(c->log_protocol_log, PLOG_MINIMUM);
	ck_assert_int_eq(c->rdns_enabled, RDNS_AUTO);
	ck_assert_uint_eq(c->rdns_timeout_us, 1000000);
	ck_assert_uint_eq(c->rdns_tries, 2);
	ck_assert_int_eq(c->smtp_forbid_pipelining_after_data, 1);
	ck_assert(c->banner_hostname[0] != '\0');	/* the machine's name */
	ck_assert(config_rdns_active(c));
	config_unref(c);
}
END_TEST

START_TEST(every_type_from_a_file)
{
	struct config *c = load_text(
	    "; comment\n# another\n[listen]\naddress = 127.0.0.1:2600, [::1]:2600\n"
	    "max_sessions = 30\n[banner]\ndelay = 1.5s\ndelay_jitter = 250ms\n"
	    "pregreet = REJECT\nhostname = mx.lab.test\n[smtp]\nmax_message_size = 64k\n"
	    "timeout_command = 2m\nsink = maildir\nmaildir = /tmp/md\n"
	    "[log]\nprotocol_log = none\nformat = json\n[rdns]\nenabled = on\n"
	    "servers = 127.0.0.1:5353, [::1]:5353\ntimeout = 200ms\ntries = 4\n");

	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->listen_address, "127.0.0.1:2600, [::1]:2600");
	ck_assert_uint_eq(c->listen_max_sessions, 30);
	ck_assert_uint_eq(c->banner_delay_us, 1500000);
	ck_assert_uint_eq(c->banner_delay_jitter_us, 250000);
	ck_assert_int_eq(c->banner_pregreet, PREGREET_REJECT);
	ck_assert_str_eq(c->banner_hostname, "mx.lab.test");
	ck_assert_uint_eq(c->smtp_max_message_size, 65536);
	ck_assert_uint_eq(c->smtp_timeout_command_us, 120000000);
	ck_assert_int_eq(c->smtp_sink, SINK_MAILDIR);
	ck_assert_int_eq(c->log_format, LOGFMT_JSON);
	ck_assert(config_rdns_active(c));	/* on, whatever the log */
	ck_assert_uint_eq(c->rdns_tries, 4);
	config_unref(c);
}
END_TEST

START_TEST(auto_follows_the_protocol_log)
{
	char *o1[] = { "log.protocol_log=none" };
	char *o2[] = { "log.protocol_log=none", "rdns.enabled=on" };
	char *o3[] = { "log.protocol_log=maximum", "rdns.enabled=off" };
	struct config *c;

	c = config_load(NULL, o1, 1, err, sizeof err);
	ck_assert(!config_rdns_active(c));
	config_unref(c);
	c = config_load(NULL, o2, 2, err, sizeof err);
	ck_assert(config_rdns_active(c));
	config_unref(c);
	c = config_load(NULL, o3, 2, err, sizeof err);
	ck_assert(!config_rdns_active(c));
	config_unref(c);
}
END_TEST

START_TEST(overrides_win_over_the_file)
{
	char *path = write_conf("[pool]\nworkers = 3\n");
	char *o[] = { "pool.workers=5", "banner.text=hello world" };
	struct config *c = config_load(path, o, 2, err, sizeof err);

	unlink(path);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->pool_workers, 5);
	ck_assert_str_eq(c->banner_text, "hello world");
	config_unref(c);
}
END_TEST

static const struct {
	const char *text;
	const char *must_contain[3];
} bad_files[] = {
	{ "[smtp]\nmax_line = 12x\n", { ":2: ", "smtp.max_line", "not a size" } },
	{ "[smtp]\nmax_line = 511\n", { ":2: ", "smtp.max_line", "out of range" } },
	{ "[smtp]\nmax_line = 65537\n", { ":2: ", "out of range", "512..65536" } },
	{ "[smtp]\nmax_recipients = -1\n", { ":2: ", "smtp.max_recipients", "whole number" } },
	{ "[smtp]\ntimeout_data = fast\n", { ":2: ", "smtp.timeout_data", "duration" } },
	{ "[pool]\nworkers = 0\n", { ":2: ", "pool.workers", "out of range" } },
	{ "[log]\nformat = xml\n", { ":2: ", "log.format", "text|json" } },
	{ "[nosuch]\nkey = 1\n", { ":2: ", "nosuch.key", "unknown key" } },
	{ "[smtp]\n\n\nfoo = 1\n", { ":4: ", "smtp.foo", "unknown key" } },
	{ "no equals sign\n", { ":1: ", "syntax error", "" } },
	{ "[smtp]\nsink = maildir\n", { "smtp.maildir", "must be set", "" } },
	{ "[listen]\naddress = nowhere:25\n", { "listen.address", "nowhere", "ADDRESS[:PORT]" } },
	{ "[rdns]\nservers = 127.0.0.1:99999\n", { "rdns.servers", "ADDRESS[:PORT]", "" } },
	{ "[banner]\nhostname = two words\n", { "banner.hostname", "one word", "" } },
	{ "[rdns]\ntries = 11\n", { ":2: ", "rdns.tries", "out of range" } },
	{ "[smtp]\ncommand_deadline = 25h\n", { ":2: ", "smtp.command_deadline", "out of range" } },
	{ "[smtp]\nmin_data_rate = 0\n", { ":2: ", "smtp.min_data_rate", "out of range" } },
	{ "[smtp]\nmin_data_rate = 1073741825\n", { ":2: ", "smtp.min_data_rate", "out of range" } },
	{ "[smtp]\nstress_threshold = 101%\n", { ":2: ", "smtp.stress_threshold", "out of range" } },
	{ "[smtp]\nstress_threshold = most\n", { ":2: ", "smtp.stress_threshold", "percentage" } },
	{ "[smtp]\nstress_timeout_command = 0\n", { ":2: ", "smtp.stress_timeout_command", "" } },
	{ "[smtp]\nstress_timeout_data = 25h\n", { ":2: ", "smtp.stress_timeout_data", "out of range" } },
};

START_TEST(bad_file_is_one_clear_message)
{
	struct config *c = load_text(bad_files[_i].text);

	ck_assert_ptr_null(c);
	for (int k = 0; k < 3; k++)
		ck_assert_msg(strstr(err, bad_files[_i].must_contain[k]) != NULL,
		    "case %d: '%s' lacks '%s'", _i, err, bad_files[_i].must_contain[k]);
	ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

START_TEST(bad_overrides)
{
	char *o1[] = { "nodot" };
	char *o2[] = { "smtp.nosuch=1" };
	char *o3[] = { "smtp.max_errors=zero" };
	char *o4[] = { "smtp.forbid_pipelining_after_data=yes" };
	char *o5[] = { "smtp.forbid_pipelining_after_data=off" };
	struct config *c;

	ck_assert_ptr_null(config_load(NULL, o1, 1, err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "section.key=value"));
	ck_assert_ptr_null(config_load(NULL, o2, 1, err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "unknown key smtp.nosuch"));
	ck_assert_ptr_null(config_load(NULL, o3, 1, err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "smtp.max_errors"));
	ck_assert_ptr_null(config_load(NULL, o4, 1, err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "smtp.forbid_pipelining_after_data"));
	c = config_load(NULL, o5, 1, err, sizeof err);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->smtp_forbid_pipelining_after_data, 0);
	config_unref(c);
	ck_assert_ptr_null(config_load("/nonexistent/bannerd.conf", NULL, 0, err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "cannot open"));
}
END_TEST

START_TEST(text_is_read_like_a_file)
{
	struct config *c = config_load_text("[pool]\nworkers = 7\n", err, sizeof err);

	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->pool_workers, 7);
	config_unref(c);
	ck_assert_ptr_null(config_load_text("[pool]\nworkers = seven\n", err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "(text):2: pool.workers"));
}
END_TEST

START_TEST(limits_are_inclusive)
{
	char *lo[] = { "smtp.max_line=512", "smtp.max_errors=1", "pool.workers=1",
		"smtp.command_deadline=1ms", "smtp.min_data_rate=1", "smtp.stress_threshold=0",
		"smtp.stress_timeout_command=1ms" };
	char *hi[] = { "smtp.max_line=64k", "pool.workers=256", "rdns.tries=10",
		"smtp.command_deadline=24h", "smtp.min_data_rate=1073741824", "smtp.stress_threshold=100%",
		"smtp.stress_timeout_command=24h" };
	struct config *c;

	c = config_load(NULL, lo, 7, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->smtp_command_deadline_us, 1000);
	ck_assert_uint_eq(c->smtp_min_data_rate, 1);
	ck_assert_uint_eq(c->smtp_stress_threshold, 0);
	config_unref(c);
	c = config_load(NULL, hi, 7, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->smtp_max_line, 65536);
	ck_assert_uint_eq(c->smtp_command_deadline_us, 86400ULL * 1000000);
	ck_assert_uint_eq(c->smtp_min_data_rate, 1073741824);
	ck_assert_uint_eq(c->smtp_stress_threshold, 100);
	config_unref(c);
}
END_TEST

/* The per-client limits (anvil): 0 is "no limit", the prefixes and the
 * table size have both ends inclusive, one past either is refused. */
START_TEST(per_client_limits_are_inclusive)
{
	char *lo[] = { "listen.max_sessions_per_client=0", "listen.max_connect_rate_per_client=0",
		"listen.client_prefix_v4=1", "listen.client_prefix_v6=1", "listen.client_table_size=16" };
	char *hi[] = { "listen.max_sessions_per_client=1000000",
		"listen.max_connect_rate_per_client=1000000", "listen.client_prefix_v4=32",
		"listen.client_prefix_v6=128", "listen.client_table_size=4194304" };
	char *bad[] = { "listen.max_sessions_per_client=1000001",
		"listen.max_connect_rate_per_client=1000001", "listen.client_prefix_v4=0",
		"listen.client_prefix_v4=33", "listen.client_prefix_v6=0", "listen.client_prefix_v6=129",
		"listen.client_table_size=15", "listen.client_table_size=4194305" };
	struct config *c;

	c = config_load(NULL, NULL, 0, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->listen_max_sessions_per_client, 0);
	ck_assert_uint_eq(c->listen_max_connect_rate_per_client, 0);
	ck_assert_uint_eq(c->listen_client_prefix_v4, 32);
	ck_assert_uint_eq(c->listen_client_prefix_v6, 128);
	ck_assert_uint_eq(c->listen_client_table_size, 16384);
	config_unref(c);
	c = config_load(NULL, lo, 5, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->listen_client_prefix_v4, 1);
	ck_assert_uint_eq(c->listen_client_table_size, 16);
	config_unref(c);
	c = config_load(NULL, hi, 5, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->listen_max_sessions_per_client, 1000000);
	ck_assert_uint_eq(c->listen_max_connect_rate_per_client, 1000000);
	ck_assert_uint_eq(c->listen_client_prefix_v6, 128);
	ck_assert_uint_eq(c->listen_client_table_size, 4194304);
	config_unref(c);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_msg(config_load(NULL, &bad[i], 1, err, sizeof err) == NULL, "%s", bad[i]);
		ck_assert_msg(strstr(err, "out of range") != NULL, "%s: %s", bad[i], err);
	}
}
END_TEST

START_TEST(proxy_keys_and_limits)
{
	char *lo[] = { "listen.proxy_protocol=any", "listen.proxy_timeout=100ms", "listen.proxy_v2_max=232",
		"listen.proxy_trusted=192.0.2.0/24 2001:db8::/32,10.1.2.3" };
	char *hi[] = { "listen.proxy_timeout=10m", "listen.proxy_v2_max=65551" };
	char *bad[] = { "listen.proxy_timeout=99ms", "listen.proxy_timeout=601s", "listen.proxy_v2_max=231",
		"listen.proxy_v2_max=65552" };
	char *refused[][2] = {
		{ "listen.proxy_protocol=v3", "listen.proxy_protocol=off" },
		{ "listen.proxy_trusted=10.0.0.0/33", "listen.proxy_protocol=off" },
		{ "listen.proxy_trusted=example.org", "listen.proxy_protocol=off" },
		{ "listen.proxy_trusted=", "listen.proxy_protocol=v2" },
	};
	struct config *c;

	c = config_load(NULL, NULL, 0, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_int_eq(c->listen_proxy_protocol, 0);
	ck_assert_str_eq(c->listen_proxy_trusted, "127.0.0.0/8, ::1");
	ck_assert_uint_eq(c->listen_proxy_timeout_us, 5000000);
	ck_assert_uint_eq(c->listen_proxy_v2_max, 536);
	config_unref(c);
	c = config_load(NULL, lo, 4, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_int_eq(c->listen_proxy_protocol, 3);
	ck_assert_uint_eq(c->listen_proxy_timeout_us, 100000);
	ck_assert_uint_eq(c->listen_proxy_v2_max, 232);
	config_unref(c);
	c = config_load(NULL, hi, 2, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->listen_proxy_v2_max, 65551);
	config_unref(c);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_msg(config_load(NULL, &bad[i], 1, err, sizeof err) == NULL, "%s", bad[i]);
		ck_assert_msg(strstr(err, "out of range") != NULL, "%s: %s", bad[i], err);
	}
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		ck_assert_msg(config_load(NULL, refused[i], 2, err, sizeof err) == NULL, "%s", refused[i][0]);
		ck_assert_msg(strstr(err, "listen.proxy_") != NULL, "%s: %s", refused[i][0], err);
	}
}
END_TEST

START_TEST(rdns_overload_limits_are_inclusive)
{
	char *hi[] = { "rdns.max_inflight=1000000", "rdns.on_overload=tempfail" };
	char *bad[] = { "rdns.max_inflight=1000001", "rdns.max_inflight=-1", "rdns.on_overload=drop" };
	struct config *c;

	c = config_load(NULL, NULL, 0, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->rdns_max_inflight, 0);	/* no cap */
	ck_assert_int_eq(c->rdns_on_overload, RDNS_OVERLOAD_SKIP);
	config_unref(c);
	c = config_load(NULL, hi, 2, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->rdns_max_inflight, 1000000);
	ck_assert_int_eq(c->rdns_on_overload, RDNS_OVERLOAD_TEMPFAIL);
	config_unref(c);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(config_load(NULL, &bad[i], 1, err, sizeof err) == NULL, "%s", bad[i]);
}
END_TEST

/* A typo, or a key under the wrong section, is answered with the key
 * that was meant: the closest names of the key table. */
static const struct {
	const char *typed;	/* as given with -o */
	const char *suggestion;	/* NULL: nothing is close enough */
} typos[] = {
	{ "banner.dealy=1s", "(did you mean banner.delay?)" },
	{ "smtp.delay=1s", "(did you mean banner.delay?)" },
	{ "listen.workers=2", "(did you mean pool.workers?)" },
	{ "pool.worker=2", "(did you mean pool.workers?)" },
	{ "Banner.Delay=1s", "(did you mean banner.delay?)" },
	{ "rdns.timout=1s", "(did you mean rdns.timeout?)" },
	{ "banner.delay_jiter=1s", "(did you mean banner.delay_jitter?)" },
	{ "banner.colour=blue", NULL },
	{ "x.y=1", NULL },
};

START_TEST(unknown_key_suggests_the_closest)
{
	char *o[] = { (char *)typos[_i].typed };
	char want[128];

	ck_assert_ptr_null(config_load(NULL, o, 1, err, sizeof err));
	snprintf(want, sizeof want, "unknown key %.*s", (int)strcspn(typos[_i].typed, "="),
	    typos[_i].typed);
	ck_assert_msg(strstr(err, want) != NULL, "'%s' lacks '%s'", err, want);
	if (typos[_i].suggestion != NULL)
		ck_assert_msg(strstr(err, typos[_i].suggestion) != NULL, "'%s' lacks '%s'", err,
		    typos[_i].suggestion);
	else
		ck_assert_msg(strstr(err, "did you mean") == NULL, "'%s' suggests a far key", err);
}
END_TEST

START_TEST(unknown_key_in_a_file_suggests_too)
{
	ck_assert_ptr_null(load_text("[banner]\ntext = hi\ndealy = 5s\n"));
	ck_assert_msg(strstr(err, ":3: unknown key banner.dealy (did you mean banner.delay?)") != NULL,
	    "%s", err);
	ck_assert_ptr_null(load_text("[smtp]\nworkers = 5\n"));
	ck_assert_msg(strstr(err, ":2: unknown key smtp.workers (did you mean pool.workers?)") != NULL,
	    "%s", err);
	ck_assert_ptr_null(load_text("delay = 5s\n"));
	ck_assert_msg(strstr(err, ":1: unknown key delay outside any [section] (did you mean banner.delay?)")
	    != NULL, "%s", err);
}
END_TEST

START_TEST(duration_without_unit_is_refused)
{
	char *bare[] = { "banner.delay=500" };
	char *zero[] = { "banner.delay=0", "banner.delay_jitter=0ms", "server.shutdown_timeout=0" };
	char *file_bare = "[rdns]\ntimeout = 2\n";
	struct config *c;

	ck_assert_ptr_null(config_load(NULL, bare, 1, err, sizeof err));
	ck_assert_msg(strstr(err, "banner.delay: \"500\" needs a unit (us, ms, s, m, h): "
	    "did you mean 500ms or 500s?") != NULL, "%s", err);
	c = config_load(NULL, zero, 3, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->banner_delay_us, 0);
	ck_assert_uint_eq(c->banner_delay_jitter_us, 0);
	ck_assert_uint_eq(c->server_shutdown_timeout_us, 0);
	config_unref(c);
	ck_assert_ptr_null(load_text(file_bare));
	ck_assert_msg(strstr(err, ":2: rdns.timeout: \"2\" needs a unit") != NULL, "%s", err);
}
END_TEST

Suite *
unit_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, defaults_without_file);
	tcase_add_test(tc, every_type_from_a_file);
	tcase_add_test(tc, auto_follows_the_protocol_log);
	tcase_add_test(tc, overrides_win_over_the_file);
	tcase_add_loop_test(tc, bad_file_is_one_clear_message, 0,
	    (int)(sizeof bad_files / sizeof bad_files[0]));
	tcase_add_test(tc, bad_overrides);
	tcase_add_test(tc, text_is_read_like_a_file);
	tcase_add_test(tc, limits_are_inclusive);
	tcase_add_test(tc, per_client_limits_are_inclusive);
	tcase_add_test(tc, rdns_overload_limits_are_inclusive);
	tcase_add_loop_test(tc, unknown_key_suggests_the_closest, 0,
	    (int)(sizeof typos / sizeof typos[0]));
	tcase_add_test(tc, unknown_key_in_a_file_suggests_too);
	tcase_add_test(tc, duration_without_unit_is_refused);
	tcase_add_test(tc, proxy_keys_and_limits);
	suite_add_tcase(s, tc);
	return s;
}
