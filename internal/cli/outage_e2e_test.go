package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/echt-dev/echt/internal/api"
	"github.com/echt-dev/echt/internal/store/storetest"
	"github.com/echt-dev/echt/problem"
)

// pgAdmin connects to the maintenance database of the server that holds
// dbURL's database, and returns the connection and that database's name.
func pgAdmin(t *testing.T, dbURL string) (*pgx.Conn, string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	name := cfg.Database
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn, name
}

// terminateBackends kills every session on the database, as a server
// restart or a failover does.
func terminateBackends(t *testing.T, admin *pgx.Conn, db string) {
	t.Helper()
	if _, err := admin.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = $1 AND pid <> pg_backend_pid()`, db); err != nil {
		t.Fatal(err)
	}
}

// allowConnections opens or closes the database to new sessions. The
// database name is one storetest made: safe to put into the statement.
func allowConnections(t *testing.T, admin *pgx.Conn, db string, allow bool) {
	t.Helper()
	if _, err := admin.Exec(context.Background(), fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS %t", db, allow)); err != nil {
		t.Fatal(err)
	}
}

// outcome is one request of the load.
type outcome struct {
	op       string // activate, validate or readyz
	at       time.Time
	took     time.Duration
	status   int
	code     string
	retry    string
	ctype    string
	err      error
	activity string // the activation id of a successful activation
}

// bad says what is wrong with o: during an outage a request either works
// or fails cleanly with 503 STORE_UNAVAILABLE, Retry-After and a
// problem+json body, within the request timeout.
func (o outcome) bad(limit time.Duration) string {
	switch {
	case o.err != nil:
		return "transport error: " + o.err.Error()
	case o.took > limit:
		return fmt.Sprintf("took %v, longer than the request timeout", o.took)
	case o.status >= 200 && o.status < 300:
		return ""
	case o.status != http.StatusServiceUnavailable:
		return fmt.Sprintf("status %d (%s)", o.status, o.code)
	case o.code != string(problem.StoreUnavailable):
		return fmt.Sprintf("503 with code %q, want %s", o.code, problem.StoreUnavailable)
	case o.retry == "":
		return "503 without Retry-After"
	case o.ctype != problem.ContentType:
		return fmt.Sprintf("503 with Content-Type %q", o.ctype)
	}
	return ""
}

// A node under steady load loses its database connections, several times,
// and then the database altogether for a while: requests fail cleanly with
// 503 STORE_UNAVAILABLE, /readyz says so, the node recovers by itself, and
// every activation it acknowledged is in the database.
func TestDatabaseOutage(t *testing.T) {
	dbURL := storetest.PostgresURL(t)
	admin, db := pgAdmin(t, dbURL)
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS true", db))
	})
	const requestTimeout = 5 * time.Second
	node := startNodes(t, dbURL, masterKeyFile(t), 1, "--request-timeout", requestTimeout.String())[0]
	setupProduct(t, node, "photoedit-mak", "volume-mak", "--max-devices", "1000000")
	const workers = 8
	keys := genKeys(t, node, "photoedit-mak", fmt.Sprint(workers))
	c := httpClient()
	salt := productSalt(t, c, node, "photoedit")

	var mu sync.Mutex
	var results []outcome
	record := func(o outcome) {
		mu.Lock()
		results = append(results, o)
		mu.Unlock()
	}
	do := func(op, method, path string, in any) (outcome, reply) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*requestTimeout)
		defer cancel()
		start := time.Now()
		r, err := call(ctx, c, method, node.URL+path, "", in)
		o := outcome{op: op, at: start, took: time.Since(start), status: r.status, code: r.code(), err: err}
		if r.header != nil {
			o.retry, o.ctype = r.header.Get("Retry-After"), r.header.Get("Content-Type")
		}
		return o, r
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lic json.RawMessage
			var hw = machine(fmt.Sprintf("worker%d", w), 0).Hash(salt)
			for i := 1; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if i%2 == 0 && lic != nil {
					o, _ := do("validate", "POST", "/v1/validations", api.ValidateRequest{License: lic, Hardware: hw, Nonce: nonce()})
					record(o)
					continue
				}
				dev := machine(fmt.Sprintf("worker%d", w), i).Hash(salt)
				o, r := do("activate", "POST", "/v1/activations", activateReq(keys[w], dev))
				if o.status == http.StatusCreated {
					var a api.ActivateResponse
					if err := json.Unmarshal(r.body, &a); err != nil || a.ActivationID == "" {
						o.err = fmt.Errorf("activation response %s: %v", r.body, err)
					}
					o.activity, lic, hw = a.ActivationID, a.License, dev
				}
				record(o)
			}
		}()
	}
	readyz := func() outcome {
		o, _ := do("readyz", "GET", "/readyz", nil)
		record(o)
		return o
	}
	// okSince counts the successful activations that started after t0.
	okSince := func(t0 time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, o := range results {
			if o.op == "activate" && o.status == http.StatusCreated && o.at.After(t0) {
				n++
			}
		}
		return n
	}
	waitRecovered := func(what string, since time.Time) time.Duration {
		t.Helper()
		for {
			if readyz().status == http.StatusOK && okSince(time.Now().Add(-50*time.Millisecond)) > 0 {
				return time.Since(since)
			}
			if time.Since(since) > 30*time.Second {
				t.Fatalf("node did not recover within 30s after %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	time.Sleep(500 * time.Millisecond)
	if okSince(time.Time{}) == 0 {
		t.Fatal("no activation succeeded before the outage")
	}
	// The node's sessions say whose they are (pg_stat_activity, and the
	// wait for another node's migration).
	var named int
	if err := admin.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'echt serve %'`, db).Scan(&named); err != nil || named == 0 {
		t.Errorf("sessions named 'echt serve …' on %s: %d, %v; want the node's", db, named, err)
	}
	// 1. Connections killed mid-load, three times.
	for i := range 3 {
		at := time.Now()
		terminateBackends(t, admin, db)
		t.Logf("connections killed (%d): recovered after %v", i+1, waitRecovered("the connections were killed", at).Round(time.Millisecond))
		time.Sleep(300 * time.Millisecond)
	}
	// 2. The database refuses connections for a while.
	allowConnections(t, admin, db, false)
	down := time.Now()
	terminateBackends(t, admin, db)
	for readyz().status != http.StatusServiceUnavailable {
		if time.Since(down) > 10*time.Second {
			t.Fatal("/readyz still ready 10s after the database went away")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond)
	if o := readyz(); o.status != http.StatusServiceUnavailable || o.code != string(problem.StoreUnavailable) || o.retry == "" {
		t.Errorf("/readyz during the outage = %d %q (Retry-After %q), want 503 STORE_UNAVAILABLE with Retry-After", o.status, o.code, o.retry)
	}
	back := time.Now()
	allowConnections(t, admin, db, true)
	t.Logf("database refused connections for %v; node recovered %v after it came back", back.Sub(down).Round(time.Millisecond), waitRecovered("the database came back", back).Round(time.Millisecond))
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	// Every answer was a success or a clean 503.
	counts := map[string]int{}
	var acked []string
	outage := 0
	for _, o := range results {
		if why := o.bad(requestTimeout + 2*time.Second); why != "" {
			t.Errorf("%s at %s: %s", o.op, o.at.Format("15:04:05.000"), why)
		}
		counts[fmt.Sprintf("%s %d", o.op, o.status)]++
		if o.activity != "" {
			acked = append(acked, o.activity)
		}
		if o.status == http.StatusServiceUnavailable && o.at.After(down) && o.at.Before(back) {
			outage++
		}
	}
	t.Logf("requests: %v", counts)
	if t.Failed() {
		t.Logf("server log:\n%s", node.Logs())
	}
	if outage == 0 {
		t.Errorf("no request failed while the database refused connections; the test did not test an outage")
	}
	// The metrics count the outage's failures as what the clients were
	// told, not as internal errors (alerts on INTERNAL stay quiet).
	mres, err := c.Get(node.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(mres.Body)
	mres.Body.Close()
	for _, line := range strings.Split(string(metrics), "\n") {
		if (strings.HasPrefix(line, "echt_activations_total{") || strings.HasPrefix(line, "echt_validations_total{")) && strings.Contains(line, `reason="INTERNAL"`) {
			t.Errorf("metrics count the outage as internal errors: %s", line)
		}
	}
	if !strings.Contains(string(metrics), `reason="STORE_UNAVAILABLE"`) {
		t.Errorf("no activation or validation counted as STORE_UNAVAILABLE in the metrics after the outage")
	}
	// No acknowledged activation was lost.
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var stored []string
	rows, _ := conn.Query(context.Background(), `SELECT id FROM activations WHERE id = ANY($1)`, acked)
	stored, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(acked) {
		for _, id := range acked {
			if !slices.Contains(stored, id) {
				t.Errorf("acknowledged activation %s is not in the database", id)
			}
		}
	}
	t.Logf("%d acknowledged activations, all %d in the database", len(acked), len(stored))
	mustCall(t, c, "GET", node.URL+"/v1/admin/activations/"+acked[len(acked)-1], node.Token, nil, http.StatusOK)
	if o := readyz(); o.status != http.StatusOK {
		t.Errorf("/readyz after the outage = %d, want 200", o.status)
	}
}

// During an outage a request with an API token the node cannot check is
// answered 503 STORE_UNAVAILABLE, not rate limited as if anonymous: the
// publisher's services must see the real cause.
func TestOutageTokenRequestsAreNotRateLimited(t *testing.T) {
	dbURL := storetest.PostgresURL(t)
	admin, db := pgAdmin(t, dbURL)
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS true", db))
	})
	node := startNodes(t, dbURL, masterKeyFile(t), 1, "--rate-limit", "1", "--request-timeout", "3s")[0]
	setupProduct(t, node, "photoedit-pro", "retail")
	var tok map[string]any
	mustRun(t, node, "admin", "token", "create", "--role", "support", "--json").JSON(t, &tok)
	token := tok["token"].(string)
	allowConnections(t, admin, db, false)
	terminateBackends(t, admin, db)
	c := httpClient()
	statuses := map[int]int{}
	for range 15 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r, err := call(ctx, c, "POST", node.URL+"/v1/keys/product", token, api.KeyCheckRequest{Key: "BCDFG-HJKMP-QRTVW-XY234-6789B"})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		statuses[r.status]++
		if r.status == http.StatusTooManyRequests {
			t.Fatalf("a request with a token during the outage = 429 %s; want 503 STORE_UNAVAILABLE (answers so far %v)", r.body, statuses)
		}
	}
	if statuses[http.StatusServiceUnavailable] == 0 {
		t.Fatalf("no 503 during the outage: %v", statuses)
	}
}
