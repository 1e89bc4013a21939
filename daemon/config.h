#ifndef BANNERD_CONFIG_H
#define BANNERD_CONFIG_H
/* bannerd's configuration: an INI file plus "-o section.key=value"
 * overrides, read through one typed key table and validated once at load.
 * A loaded config is immutable; a reload builds a new one and swaps it in
 * (see config_ref/config_unref), so a session keeps the config it
 * started with. */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "faults.h"

#define CONF_STR_MAX 512
#define FAULT_TEXT_MAX 2048	/* a faults.rule line as written, kept for show */
#define CONF_KEYS_MAX 96	/* room for the key table's rows (config.c checks) */

/* Where a key's value came from, per key of the table. */
enum conf_source { CONF_SRC_DEFAULT = 0, CONF_SRC_FILE, CONF_SRC_OVERRIDE };

enum plog_level { PLOG_NONE = 0, PLOG_MINIMUM, PLOG_MEDIUM, PLOG_MAXIMUM };
enum log_format { LOGFMT_TEXT = 0, LOGFMT_JSON };
enum smtp_sink { SINK_DISCARD = 0, SINK_MAILDIR };
enum pregreet_policy { PREGREET_ALLOW = 0, PREGREET_REJECT };
enum dispatch_policy { DISPATCH_LEAST_LOADED = 0, DISPATCH_ROUND_ROBIN };
enum rdns_enabled { RDNS_AUTO = 0, RDNS_ON, RDNS_OFF };
enum rdns_mode { RDNS_MODE_ASYNC = 0, RDNS_MODE_POOL };
enum overflow_policy { OVERFLOW_WAIT = 0, OVERFLOW_REJECT };
enum rdns_on_failure { RDNS_FAIL_CONTINUE = 0, RDNS_FAIL_TEMPFAIL };
enum rdns_on_overload { RDNS_OVERLOAD_SKIP = 0, RDNS_OVERLOAD_TEMPFAIL };

struct config {
	/* [listen] */
	char listen_address[CONF_STR_MAX];
	uint64_t listen_backlog;
	uint64_t listen_max_sessions;
	uint64_t listen_accept_retry_us;
	uint64_t listen_max_sessions_per_client;	/* 0: no limit */
	uint64_t listen_max_connect_rate_per_client;	/* per minute; 0: no limit */
	uint64_t listen_client_prefix_v4;		/* bits that name a client */
	uint64_t listen_client_prefix_v6;
	uint64_t listen_client_table_size;		/* clients remembered at most */
	int listen_proxy_protocol;			/* enum proxy_accept (proxy_parse.h) */
	char listen_proxy_trusted[CONF_STR_MAX];	/* who may send a PROXY header */
	uint64_t listen_proxy_timeout_us;		/* for the whole header */
	uint64_t listen_proxy_v2_max;			/* bytes a v2 header may take */
	/* [pool] */
	uint64_t pool_workers;
	int pool_dispatch;
	uint64_t pool_sessions_per_worker;	/* 0: no limit */
	uint64_t pool_queue_max;
	int pool_overflow;
	/* [banner] */
	char banner_hostname[256];
	char banner_text[CONF_STR_MAX];
	uint64_t banner_delay_us;
	uint64_t banner_delay_jitter_us;
	int banner_pregreet;
	uint64_t banner_pregreet_buffer;
	/* [smtp] */
	uint64_t smtp_max_message_size;
	uint64_t smtp_max_recipients;
	uint64_t smtp_max_line;
	uint64_t smtp_max_errors;
	uint64_t smtp_timeout_command_us;
	uint64_t smtp_timeout_data_us;
	uint64_t smtp_command_deadline_us;	/* from a line's first byte to its end */
	uint64_t smtp_min_data_rate;		/* bytes/s that extend the DATA deadline */
	uint64_t smtp_stress_threshold;		/* % of listen.max_sessions; 0: never */
	uint64_t smtp_stress_leave_threshold;	/* % at or below which stress ends */
	uint64_t smtp_stress_timeout_command_us;
	uint64_t smtp_stress_timeout_data_us;
	uint64_t smtp_timeout_close_us;
	uint64_t smtp_linger_time_us;		/* 0: close at once */
	uint64_t smtp_max_unread_replies;
	int smtp_forbid_pipelining_after_data;
	int smtp_sink;
	char smtp_maildir[PATH_MAX];
	/* [rdns] */
	int rdns_enabled;
	int rdns_mode;
	uint64_t rdns_threads;
	char rdns_servers[CONF_STR_MAX];
	uint64_t rdns_timeout_us;
	uint64_t rdns_tries;
	int rdns_hosts_file;
	int rdns_forward_confirm;
	int rdns_on_failure;
	/* Per worker in async mode (its channel's lookups in flight), the
	 * shared queue's waiting jobs in pool mode; 0: no cap. */
	uint64_t rdns_max_inflight;
	uint64_t rdns_lookups_per_port;	/* lookups sharing one UDP source port */
	uint64_t rdns_max_ports;	/* c-ares channels open at once, per resolver */
	int rdns_on_overload;
	/* [ident] */
	int ident_enabled;
	uint64_t ident_timeout_us;
	uint64_t ident_port;		/* the client's ident port: 113, another for tests */
	/* [metrics] */
	char metrics_listen[CONF_STR_MAX];
	int metrics_control;		/* POST /control and the page's controls: off, on */
	char metrics_control_allow[CONF_STR_MAX];	/* who may use them */
	uint64_t metrics_live_buffer;	/* records GET /live keeps */
	/* [log] */
	int log_protocol_log;
	int log_format;
	char log_target[PATH_MAX];
	/* [server] */
	uint64_t server_shutdown_timeout_us;
	char server_user[64];
	char server_pidfile[PATH_MAX];
	char server_control_socket[108];	/* sun_path; "": no control socket */
	/* [faults] */
	uint64_t faults_seed;
	uint64_t faults_max_rules;
	uint64_t faults_max_reply;
	uint64_t faults_max_delay_us;
	uint64_t faults_max_clients;
	uint64_t faults_first_window_us;
	uint64_t faults_first_table_size;
	size_t faults_n;
	struct fault_rule faults[FAULTS_RULES_MAX];	/* in file order; hit counters restart at a reload */
	char faults_text[FAULTS_RULES_MAX][FAULT_TEXT_MAX];	/* each rule as written */
	struct fault_first_table faults_first;		/* the clients "first" rules saw; so does it */

	unsigned char source[CONF_KEYS_MAX];	/* enum conf_source, by key index */

	int refs;	/* owned by config_ref/config_unref */
};

/* Loads defaults, then the file (path may be NULL), then the overrides
 * ("section.key=value"). Returns a new config with one reference, or
 * NULL with a one-line message in err naming file, line, key and reason. */
struct config *config_load(const char *path, char *const *overrides,
    size_t n_overrides, char *err, size_t errlen);

/* The same from the text of a file (the fuzzer and unit tests). */
struct config *config_load_text(const char *text, char *err, size_t errlen);

struct config *config_ref(struct config *c);
void config_unref(struct config *c);

/* Whether sessions look up their peer: rdns.enabled = on, or auto with
 * the protocol log on (KB Q286375: logging turned the lookup on). */
int config_rdns_active(const struct config *c);

/* "section.key"'s value as text, as a file would give it (durations in
 * their shortest exact unit). 0, or -1 for a key that is not one value. */
int config_key_text(const struct config *c, const char *key, char *buf, size_t len);
/* The key table, for bannerctl's show and set (ctlcmd.c). Keys are
 * named "section.key" and indexed 0..config_key_count()-1 in table
 * order. */
size_t config_key_count(void);
const char *config_key_section(size_t i);
const char *config_key_name(size_t i);
/* The index of "section.key", or -1 with "unknown key ... (did you mean
 * ...?)" in err. */
int config_key_index(const char *key, char *err, size_t errlen);
/* Keys read once at start-up: a change needs a restart. */
int config_key_restart_only(size_t i);
/* Whether the key may be given more than once (faults.rule). */
int config_key_repeated(size_t i);
/* Checks one value for key i on its own, as the file would: 0, or -1
 * with "section.key: why" in err. Cross-key rules are config_load's. */
int config_key_check(size_t i, const char *value, char *err, size_t errlen);
/* Key i's value in c, in the form the file and -o accept, so that it
 * reads back as the same value. A repeated key has one value per line:
 * n is which (0..config_key_values(c, i)-1). */
size_t config_key_values(const struct config *c, size_t i);
void config_key_format(const struct config *c, size_t i, size_t n, char *buf, size_t len);

/* Names for enum values, for logs. */
const char *config_plog_name(int level);

#endif
