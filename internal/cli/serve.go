package cli

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"

	"github.com/echt-dev/echt/internal/auth"
	"github.com/echt-dev/echt/internal/httpapi"
	"github.com/echt-dev/echt/internal/keyring"
	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/internal/store/postgres"
	"github.com/echt-dev/echt/internal/store/sqlite"
)

type serveFlags struct {
	addr           string
	data           string
	db             string
	masterKeyFile  string
	logFormat      string
	logLevel       string
	logRequests    bool
	rateLimit      float64
	checkRateLimit float64
	trustedProxies []string
	publicURL      string
	maxBody        int64
	requestTimeout time.Duration
	grace          time.Duration
	debugAddr      string
	expirySweep    time.Duration
	ticketTTL      time.Duration
}

func (e *env) serveCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the echt server",
		Long: `Run the echt server: the HTTP API under /v1, health checks, metrics and help pages.

With no --db it keeps everything in an embedded SQLite database in the data
directory. On first start it creates the data directory, the publisher's
signing keys and a bootstrap admin token, written to DATA/admin-token and
printed once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return e.serve(ctx, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", "127.0.0.1:8080", "address to listen on (env ECHT_ADDR)")
	fl.StringVar(&f.data, "data", "echt-data", "data directory: SQLite database, master key, admin token (env ECHT_DATA)")
	fl.StringVar(&f.db, "db", "", "database URL; postgres://... selects PostgreSQL, empty means SQLite in the data directory (env ECHT_DB)")
	fl.StringVar(&f.masterKeyFile, "master-key-file", "", "file with the base64 master key that seals private keys; the key itself may be given in ECHT_MASTER_KEY (env ECHT_MASTER_KEY_FILE)")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json (env ECHT_LOG_FORMAT)")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error (env ECHT_LOG_LEVEL)")
	fl.BoolVar(&f.logRequests, "log-requests", false, "log every request, not only failures (env ECHT_LOG_REQUESTS)")
	fl.Float64Var(&f.rateLimit, "rate-limit", 20, "requests per second per client address on client endpoints, 0 to disable; requests with an API token are exempt (env ECHT_RATE_LIMIT)")
	fl.Float64Var(&f.checkRateLimit, "check-rate-limit", 30, "public key checks and reports per minute per client address, 0 to disable (env ECHT_CHECK_RATE_LIMIT)")
	fl.StringSliceVar(&f.trustedProxies, "trusted-proxies", nil, "comma-separated CIDRs of reverse proxies whose X-Forwarded-For is trusted (env ECHT_TRUSTED_PROXIES)")
	fl.StringVar(&f.publicURL, "public-url", "", "external base URL of this server, for links in results pages (env ECHT_PUBLIC_URL)")
	fl.Int64Var(&f.maxBody, "max-body", 1<<20, "maximum request body in bytes (env ECHT_MAX_BODY)")
	fl.DurationVar(&f.requestTimeout, "request-timeout", 30*time.Second, "maximum time for one request (env ECHT_REQUEST_TIMEOUT)")
	fl.DurationVar(&f.grace, "shutdown-grace", 30*time.Second, "time requests in flight get to finish on shutdown (env ECHT_SHUTDOWN_GRACE)")
	fl.StringVar(&f.debugAddr, "debug-addr", "", "serve Go profiling (net/http/pprof) on this separate address, e.g. 127.0.0.1:6060; keep it private (env ECHT_DEBUG_ADDR)")
	fl.DurationVar(&f.expirySweep, "expiry-sweep", time.Minute, "how often to end activations past their validity, freeing their seats; negative turns it off (env ECHT_EXPIRY_SWEEP)")
	fl.DurationVar(&f.ticketTTL, "ticket-ttl", time.Hour, "how long a genuine ticket (a GENUINE verdict) is valid (env ECHT_TICKET_TTL)")
	return cmd
}

func newLogger(w *os.File, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format %q: use text or json", format)
}

func (e *env) serve(ctx context.Context, f serveFlags) error {
	logger, err := newLogger(os.Stderr, f.logFormat, f.logLevel)
	if err != nil {
		return err
	}
	if f.expirySweep > 0 && f.expirySweep < time.Second {
		// A sweep every few milliseconds is a loop over the database.
		// (0 is the default, 1m, as it always was.)
		return usagef("--expiry-sweep %v: give at least 1s (0 or nothing for the default, 1m), or a negative duration to turn the sweep off", f.expirySweep)
	}
	if f.maxBody <= 0 {
		return usagef("--max-body %d: give the largest request body to accept, in bytes (at least 1; the default is 1048576)", f.maxBody)
	}
	// Only 0 turns a limit off: a negative or non-numeric one must not
	// do so silently (the key check's limit stands between a guesser and
	// the keys).
	for _, l := range []struct {
		flag string
		v    float64
	}{{"--rate-limit", f.rateLimit}, {"--check-rate-limit", f.checkRateLimit}} {
		if l.v < 0 || math.IsNaN(l.v) || math.IsInf(l.v, 0) {
			return usagef("%s %v: give a number of requests (0 turns the limit off)", l.flag, l.v)
		}
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--request-timeout", f.requestTimeout}, {"--ticket-ttl", f.ticketTTL}} {
		if d.v <= 0 {
			return usagef("%s %v: give a positive duration, for example 30s or 1h", d.flag, d.v)
		}
	}
	if f.publicURL != "" {
		if u, err := url.Parse(f.publicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("--public-url %q: give the server's external base URL, for example https://activate.example.com", f.publicURL)
		}
	}
	// The server's live heap is small (caches, in-flight requests); collect
	// garbage less often than Go's default unless GOGC says otherwise.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	var proxies []netip.Prefix
	for _, p := range f.trustedProxies {
		pfx, err := netip.ParsePrefix(strings.TrimSpace(p))
		if err != nil {
			return usagef("--trusted-proxies: %q is not a CIDR such as 10.0.0.0/8", p)
		}
		proxies = append(proxies, pfx)
	}
	isPG := strings.HasPrefix(f.db, "postgres://") || strings.HasPrefix(f.db, "postgresql://")
	if f.db != "" && !isPG {
		return usagef("--db %q: use a postgres:// URL, or leave it empty for SQLite in --data", store.RedactURL(f.db))
	}
	// The address is tried first: a server that cannot listen must not
	// set up a new installation (keys, the admin token shown once). It is
	// let go again until the server can answer, so that clients are
	// refused at once while the store opens instead of waiting on a port
	// nobody serves.
	probe, err := listen(f.addr)
	if err != nil {
		return err
	}
	_ = probe.Close()
	if err := os.MkdirAll(f.data, 0o700); err != nil {
		return fmt.Errorf("create data directory %s: %w", f.data, err)
	}
	_ = os.Chmod(f.data, 0o700)
	if !isPG {
		unlock, err := lockDataDir(f.data)
		if err != nil {
			return err
		}
		defer unlock()
	}

	master, err := e.loadMasterKey(f, isPG)
	if err != nil {
		return err
	}

	var st store.Store
	if isPG {
		logger.Info("opening PostgreSQL store", "db", store.RedactURL(f.db))
		st, err = openPostgresRetry(ctx, f.db, nodeName(f.addr), logger)
	} else {
		path := filepath.Join(f.data, sqlite.FileName)
		logger.Info("opening SQLite store", "path", path)
		st, err = sqlite.Open(ctx, sqlite.Config{Path: path})
	}
	if err != nil {
		return err
	}
	defer st.Close()

	if isPG {
		if err := notOverASQLiteInstallation(ctx, st, f.data); err != nil {
			return err
		}
	}
	kr, err := e.bootstrap(ctx, st, master, f.data, logger)
	if err != nil {
		return err
	}

	srv, err := httpapi.New(httpapi.Config{
		MaxBodyBytes:   f.maxBody,
		RequestTimeout: f.requestTimeout,
		ClientLimit:    httpapi.RateLimit{Rate: f.rateLimit, Burst: int(2*f.rateLimit) + 1},
		CheckLimit:     httpapi.RateLimit{Rate: f.checkRateLimit / 60, Burst: int(f.checkRateLimit/6) + 1},
		TrustedProxies: proxies,
		LogRequests:    f.logRequests,
		PublicURL:      strings.TrimRight(f.publicURL, "/"),
		ExpirySweep:    f.expirySweep,
		TicketTTL:      f.ticketTTL,
	}, httpapi.Deps{Store: st, Keyring: kr, Logger: logger})
	if err != nil {
		return err
	}
	if f.debugAddr != "" {
		go serveDebug(f.debugAddr, logger)
	}
	ln, err := listen(f.addr)
	if err != nil {
		return err
	}
	logger.Info("echt serving", "addr", ln.Addr().String(), "version", Version)
	fmt.Fprintf(e.stdout, "echt: serving on http://%s\n", ln.Addr().String())
	if err := srv.Serve(ctx, ln, f.grace); err != nil {
		return err
	}
	logger.Info("echt stopped")
	return nil
}

// listen takes the server's address, saying what to do when it cannot.
func listen(addr string) (net.Listener, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, usagef("--addr %q: give host:port, for example 127.0.0.1:8080, or :8080 for every interface", addr)
	}
	ln, err := net.Listen("tcp", addr)
	switch {
	case addrInUse(err):
		return nil, fmt.Errorf("listen on %s: the port is in use (is another server running? stop it or choose another --addr)", addr)
	case err != nil:
		return nil, fmt.Errorf("listen on %s: %w (check the host and port of --addr)", addr, err)
	}
	return ln, nil
}

// maintenanceDB returns the database a PostgreSQL URL names when it is one
// of PostgreSQL's own (postgres, template0, template1), or "".
func maintenanceDB(url string) string {
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		return ""
	}
	switch cfg.Database {
	case "postgres", "template0", "template1":
		return cfg.Database
	}
	return ""
}

// startRetry is how long echt serve keeps trying to reach PostgreSQL at
// start, whether the server refuses connections or never answers.
const startRetry = 30 * time.Second

func openPostgresRetry(ctx context.Context, url, name string, logger *slog.Logger) (store.Store, error) {
	// Bounded by the time spent, not the attempts: an attempt at a server
	// that never answers takes its connect timeout. A migration in
	// progress is not cut short.
	if db := maintenanceDB(url); db != "" {
		logger.Warn("echt's tables go into PostgreSQL's maintenance database "+db+": give echt a database of its own (createdb echt; --db postgres://…/echt) unless your provider allows no other", "database", db)
	}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		st, err := postgres.Open(ctx, postgres.Config{URL: url, Logger: logger, ApplicationName: name})
		if err == nil {
			return st, nil
		}
		if hint, permanent := postgresOpenHint(err, "--db / ECHT_DB"); permanent {
			return nil, fmt.Errorf("open PostgreSQL: %w (%s)", err, hint)
		}
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			switch pe.Code {
			case "55000", // the database does not allow connections (yet)
				"25006",                   // a read-only standby, as during a failover
				"55P03", "57014", "25P03", // lock, statement and idle time limits
				"40001", "40P01": // serialization failure, deadlock
				// What the store treats as passing: wait.
			default:
				// Connection trouble (08), resources (53) and a server
				// starting or stopping (57) pass; anything else, such as an
				// unknown parameter in the URL, waiting will not change.
				if class := pe.Code[:2]; class != "08" && class != "53" && class != "57" {
					return nil, fmt.Errorf("open PostgreSQL: %w (PostgreSQL refused the connection for a reason waiting will not change: check the URL in --db / ECHT_DB)", err)
				}
			}
		}
		if !errors.Is(err, store.ErrUnavailable) || ctx.Err() != nil {
			return nil, fmt.Errorf("open PostgreSQL: %w", err)
		}
		if time.Since(start)+time.Second >= startRetry {
			return nil, fmt.Errorf("open PostgreSQL: gave up after %s: %w (check that PostgreSQL runs and that --db / ECHT_DB names its host and port)", time.Since(start).Round(time.Second), err)
		}
		logger.Warn("PostgreSQL not reachable yet; retrying", "attempt", attempt, "error", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// postgresOpenHint says what to do about a failure to open the PostgreSQL
// database that flag names ("" when there is nothing particular to say),
// and whether waiting would not change it: a URL that cannot be read, a
// database that does not exist, a user refused, TLS.
func postgresOpenHint(err error, flag string) (hint string, permanent bool) {
	var parse *pgconn.ParseConfigError
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &parse):
		return "the URL in " + flag + " cannot be read: write it as postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=...]", true
	case errors.As(err, &pe) && pe.Code == "3D000": // invalid_catalog_name
		return "create the database first, for example with createdb NAME, or fix its name in " + flag, true
	case errors.As(err, &pe) && (pe.Code == "28000" || pe.Code == "28P01"): // who we are was refused
		return "check the user and password in " + flag + ", and pg_hba.conf", true
	case tlsTrouble(err):
		return "a TLS problem: check sslmode, sslrootcert and the host name in " + flag, true
	case errors.Is(err, store.ErrUnavailable):
		return "check that PostgreSQL runs and that " + flag + " names its host and port", false
	}
	return "", false
}

// tlsTrouble reports a connection that failed on TLS itself (a certificate
// that does not verify, a server without TLS where it is required): a
// configuration error, not an outage.
func tlsTrouble(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	return errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		strings.Contains(err.Error(), "server refused TLS connection")
}

// nodeName names a node's PostgreSQL sessions: its host and address.
func nodeName(addr string) string {
	host, _ := os.Hostname()
	return strings.TrimSpace("echt serve " + host + " " + addr)
}

// fileExists reports whether path names an existing regular file.
func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// loadMasterKey reads the master key from ECHT_MASTER_KEY, the file, or
// (SQLite only) DATA/master.key, creating that file on first start.
func (e *env) loadMasterKey(f serveFlags, isPG bool) (*keyring.MasterKey, error) {
	if v := e.getenv("ECHT_MASTER_KEY"); v != "" {
		if f.masterKeyFile != "" {
			return nil, usagef("give the master key either in ECHT_MASTER_KEY or with --master-key-file, not both")
		}
		mk, err := keyring.ParseMasterKey(v)
		if err != nil {
			return nil, usagef("ECHT_MASTER_KEY: %v", err)
		}
		return mk, nil
	}
	path := f.masterKeyFile
	if path == "" {
		if isPG {
			if local := filepath.Join(f.data, "master.key"); fileExists(local) {
				// A data directory moved to PostgreSQL (echt admin db
				// copy) holds the key its keyring was sealed with.
				return nil, usagef("with PostgreSQL the master key is never read from the data directory: pass --master-key-file %s (the key of the installation there, as after echt admin db copy) or set ECHT_MASTER_KEY; every node needs the same key", local)
			}
			return nil, usagef("with PostgreSQL every node needs the same master key: pass --master-key-file FILE or set ECHT_MASTER_KEY; for a database already set up, the key its first node was started with, for a new one a new key (make one with: head -c 32 /dev/urandom | base64)")
		}
		path = filepath.Join(f.data, "master.key")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			db := filepath.Join(f.data, sqlite.FileName)
			if fi, err := os.Stat(db); err == nil && fi.Size() > 0 {
				// A new key cannot open the keyring sealed with the old one.
				return nil, fmt.Errorf("%s is missing but the database %s exists: put this installation's master key file there (or pass --master-key-file / ECHT_MASTER_KEY); a new key would not open its keyring", path, db)
			}
			if err := writeFileAtomic(path, []byte(keyring.GenerateMasterKey()+"\n"), 0o600); err != nil {
				return nil, fmt.Errorf("create master key: %w", err)
			}
		}
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && f.masterKeyFile != "" {
		// The command line names a file that is not there: a usage error,
		// like a file that holds no key.
		return nil, usagef("--master-key-file %s: no such file (give the file that holds this installation's master key)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("read master key: %w (give the file that holds this installation's master key)", err)
	}
	if fi, err := os.Stat(path); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(e.stderr, "echt: warning: the master key file %s can be read by other users (mode %v): chmod 600 %s\n", path, fi.Mode().Perm(), path)
	}
	mk, err := keyring.ParseMasterKey(string(b))
	if err != nil {
		return nil, usagef("master key file %s: %v", path, err)
	}
	return mk, nil
}

// notOverASQLiteInstallation refuses to make a new installation in an
// empty PostgreSQL database from a data directory that holds a SQLite one:
// that is the step "echt admin db copy" was skipped, and the new signing
// keys would not be the ones the activated devices trust.
func notOverASQLiteInstallation(ctx context.Context, st store.Store, data string) error {
	db := filepath.Join(data, sqlite.FileName)
	if _, err := os.Stat(db); err != nil {
		return nil
	}
	if _, err := st.Secret(ctx, keyring.SecretProductKey); !errors.Is(err, store.ErrNotFound) {
		return nil // initialised (or unreadable: bootstrap says why)
	}
	return fmt.Errorf("the data directory %s holds a SQLite installation (%s) and this PostgreSQL database is empty: starting here would make a new installation with new signing keys, which the devices activated on the SQLite one do not trust. To move that installation, stop its server and run echt admin db copy --from %s --to <this --db URL> first; to start a new installation, give another --data directory", data, db, data)
}

// bootstrap initialises an empty database (keyring and first admin token)
// or loads the existing keyring. The token file is written before the
// database commit and renamed after it, so a crash in between loses nothing.
func (e *env) bootstrap(ctx context.Context, st store.Store, master *keyring.MasterKey, data string, logger *slog.Logger) (*keyring.Keyring, error) {
	tokenPath := filepath.Join(data, "admin-token")
	pending := tokenPath + ".new"
	if b, err := os.ReadFile(pending); err == nil {
		// A previous start crashed between writing the token and renaming it.
		if tokenCommitted(ctx, st, strings.TrimSpace(string(b))) {
			_ = os.Rename(pending, tokenPath)
		} else {
			_ = os.Remove(pending)
		}
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	secrets, keys, err := keyring.Initial(master, now)
	if err != nil {
		return nil, err
	}
	token, rec := auth.Mint(auth.Admin, "bootstrap admin token", now)
	if err := writeFileAtomic(pending, []byte(token+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write admin token: %w", err)
	}
	created, err := st.Bootstrap(ctx, store.Bootstrap{
		Secrets: secrets, SigningKeys: keys, Token: rec,
		Audit: store.AuditEntry{At: now, Actor: "system", Action: "bootstrap", Target: rec.ID, Detail: `{"role":"admin"}`},
	})
	if err != nil {
		_ = os.Remove(pending)
		return nil, fmt.Errorf("initialise database: %w", err)
	}
	if created {
		if _, err := os.Stat(tokenPath); err == nil {
			// Another installation's token (this database is new): keep
			// it beside, under a name not taken, and do not go on
			// without it.
			old := tokenPath + ".old"
			for i := 1; ; i++ {
				if _, err := os.Lstat(old); errors.Is(err, fs.ErrNotExist) {
					break
				}
				old = fmt.Sprintf("%s.old.%d", tokenPath, i)
			}
			if err := os.Rename(tokenPath, old); err != nil {
				return nil, fmt.Errorf("keep the admin token file of another database: %w (move %s away, then start again)", err, tokenPath)
			}
			logger.Warn("the data directory held the admin token of another database; kept it as "+old, "file", tokenPath)
		}
		if err := os.Rename(pending, tokenPath); err != nil {
			return nil, fmt.Errorf("write admin token: %w", err)
		}
		syncDir(data)
		logger.Info("initialised a new echt database", "admin_token_id", rec.ID, "admin_token_file", tokenPath)
		fmt.Fprintf(e.stdout, "echt: created the first admin token (shown once; also in %s):\n%s\n", tokenPath, token)
	} else {
		_ = os.Remove(pending)
	}
	kr, err := keyring.Load(ctx, st, master)
	if err != nil {
		return nil, err
	}
	return kr, nil
}

func tokenCommitted(ctx context.Context, st store.Store, token string) bool {
	id, _, ok := strings.Cut(strings.TrimPrefix(token, "echt_"), "_")
	if !ok {
		return false
	}
	rec, err := st.Token(ctx, "tok_"+id)
	if err != nil {
		return false
	}
	h := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(rec.Hash, h[:]) == 1
}

// writeFileAtomic writes data to path via a synced temporary file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

func serveDebug(addr string, logger *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	logger.Info("debug server", "addr", addr)
	if err := srv.ListenAndServe(); err != nil {
		logger.Error("debug server", "error", err)
	}
}
