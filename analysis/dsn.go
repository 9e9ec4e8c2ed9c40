package analysis

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// libpqKeywords are the connection parameters libpq itself reads (the
// PostgreSQL 17 documentation, "Parameter Key Words"); pg_dump and psql
// reject any other in a connection string.
var libpqKeywords = map[string]bool{
	"host": true, "hostaddr": true, "port": true, "dbname": true, "user": true, "password": true,
	"passfile": true, "require_auth": true, "channel_binding": true, "connect_timeout": true,
	"client_encoding": true, "options": true, "application_name": true, "fallback_application_name": true,
	"keepalives": true, "keepalives_idle": true, "keepalives_interval": true, "keepalives_count": true,
	"tcp_user_timeout": true, "replication": true, "gssencmode": true, "sslmode": true, "requiressl": true,
	"sslnegotiation": true, "sslcompression": true, "sslcert": true, "sslkey": true, "sslpassword": true,
	"sslcertmode": true, "sslrootcert": true, "sslcrl": true, "sslcrldir": true, "sslsni": true,
	"requirepeer": true, "ssl_min_protocol_version": true, "ssl_max_protocol_version": true,
	"krbsrvname": true, "gsslib": true, "gssdelegation": true, "service": true,
	"target_session_attrs": true, "load_balance_hosts": true,
}

// pgxOnly are the parameters pgx and pgxpool read and do not send to the
// server: libpq has no use for them.
var pgxOnly = map[string]bool{
	"pool_max_conns": true, "pool_min_conns": true, "pool_min_idle_conns": true,
	"pool_max_conn_lifetime": true, "pool_max_conn_lifetime_jitter": true, "pool_max_conn_idle_time": true,
	"pool_health_check_period": true, "statement_cache_capacity": true, "description_cache_capacity": true,
	"default_query_exec_mode": true, "min_read_buffer_size": true, "servicefile": true, "krbspn": true,
}

// libpqDSN returns dsn as libpq (pg_dump, psql) and pgx both accept it,
// for a URL or a keyword/value DSN, with settings ("name=value") added to
// its options after its own. A DSN written for pgx may carry what libpq
// rejects: pgx's and pgxpool's own parameters (pool_max_conns, ...),
// which are dropped, and server settings given as plain parameters
// (search_path=app), which pgx sends at connect and libpq takes in
// options as "-c name=value".
func libpqDSN(dsn string, settings ...string) (string, error) {
	var extra []string
	for _, s := range settings {
		name, value, _ := strings.Cut(s, "=")
		extra = append(extra, settingOption(name, value))
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return libpqURI(dsn, extra)
	}
	params, err := parseKeywordValue(dsn)
	if err != nil {
		return "", err
	}
	var out, moved []string
	options := ""
	for _, p := range params {
		switch {
		case p.key == "options":
			options = p.value
		case libpqKeywords[p.key]:
			out = append(out, p.key+"="+quoteKeywordValue(p.value))
		case pgxOnly[p.key]:
		default:
			moved = append(moved, settingOption(p.key, p.value))
		}
	}
	if opts := joinOptions(options, append(moved, extra...)); opts != "" {
		out = append(out, "options="+quoteKeywordValue(opts))
	}
	return strings.Join(out, " "), nil
}

func libpqURI(dsn string, extra []string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("parse dsn: cannot parse the connection URL")
	}
	q := u.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var moved []string
	for _, k := range keys {
		switch {
		case k == "options" || libpqKeywords[k]:
		case pgxOnly[k]:
			q.Del(k)
		default:
			moved = append(moved, settingOption(k, q.Get(k)))
			q.Del(k)
		}
	}
	if opts := joinOptions(q.Get("options"), append(moved, extra...)); opts != "" {
		q.Set("options", opts)
	}
	// Spaces as %20: libpq reads a '+' in a URI literally.
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return u.String(), nil
}

// withDatabase returns dsn pointing at another database.
func withDatabase(dsn, db string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse dsn: cannot parse the connection URL")
		}
		u.Path = "/" + db
		return u.String(), nil
	}
	return dsn + " dbname=" + db, nil
}

// settingOption is a server setting as a command-line option of options:
// spaces and backslashes in the value are escaped with a backslash.
func settingOption(name, value string) string {
	value = strings.NewReplacer(`\`, `\\`, " ", `\ `).Replace(value)
	return "-c " + name + "=" + value
}

func joinOptions(options string, settings []string) string {
	return strings.TrimSpace(options + " " + strings.Join(settings, " "))
}

// kv is one parameter of a keyword/value connection string.
type kv struct{ key, value string }

// parseKeywordValue splits a libpq keyword/value connection string
// ("host=h dbname='my db'") into its parameters, in order: a value is
// single-quoted (with \' and \\) or runs to the next space (with \
// escapes), and spaces may surround the '='.
func parseKeywordValue(s string) ([]kv, error) {
	var out []kv
	i := 0
	skip := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	for {
		skip()
		if i >= len(s) {
			return out, nil
		}
		start := i
		for i < len(s) && s[i] != '=' && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		key := s[start:i]
		skip()
		if i >= len(s) || s[i] != '=' {
			return nil, fmt.Errorf("parse dsn: %q is not followed by '='", key)
		}
		i++
		skip()
		var b strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			for {
				if i >= len(s) {
					return nil, fmt.Errorf("parse dsn: unterminated quoted value of %q", key)
				}
				c := s[i]
				i++
				if c == '\'' {
					break
				}
				if c == '\\' && i < len(s) {
					c = s[i]
					i++
				}
				b.WriteByte(c)
			}
		} else {
			for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' {
				c := s[i]
				i++
				if c == '\\' && i < len(s) {
					c = s[i]
					i++
				}
				b.WriteByte(c)
			}
		}
		out = append(out, kv{key, b.String()})
	}
}

// quoteKeywordValue single-quotes a keyword/value parameter's value.
func quoteKeywordValue(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}
