package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// A server that stalls past the end of an open-loop run cannot hide it:
// every scheduled request is counted, those stuck in the stall with the
// time they waited, those never sent as NOT_SENT.
func TestOpenLoopCountsAStall(t *testing.T) {
	var mu sync.Mutex
	var first time.Time
	stallFrom, stallTo := 1500*time.Millisecond, 4*time.Second
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if first.IsZero() {
			first = time.Now()
		}
		since := time.Since(first)
		mu.Unlock()
		if since >= stallFrom && since < stallTo {
			select {
			case <-time.After(stallTo - since):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	const rate, dur = 200.0, 2 * time.Second // warm-up 0.5 s, then the run
	// The stall outlasts the run and its grace: requests in flight then
	// are UNFINISHED, the ones queued behind them NOT_SENT.
	r, err := New(Config{Server: srv.URL, Scenario: ScenarioTrivial, Rate: rate, Concurrency: 8, Duration: dur, unfinishedGrace: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	scheduled := int64(rate * dur.Seconds())
	if res.Requests < scheduled*9/10 || res.ErrorsByCode[codeNotSent] == 0 || res.ErrorsByCode[codeUnfinished] == 0 || res.LatencyMS.P99 < 500 {
		t.Fatalf("stalled open-loop run: %d requests (%d scheduled), errors %v, p99 %.1f ms; want all counted, NOT_SENT and UNFINISHED among them and p99 ≥ 500 ms",
			res.Requests, scheduled, res.ErrorsByCode, res.LatencyMS.P99)
	}
	if res.Seconds != dur.Seconds() || res.RPS < rate*0.9 {
		t.Fatalf("open-loop run of %s at %.0f/s: %.2f s, %.0f requests/s; want the schedule's %s and about its rate", dur, rate, res.Seconds, res.RPS, dur)
	}
}

// runBehindSchedule runs one second of an open loop at rate with two
// workers against a server taking 20 ms per request: far behind.
func runBehindSchedule(t *testing.T, rate float64) Result {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	r, err := New(Config{Server: srv.URL, Scenario: ScenarioTrivial, Rate: rate, Concurrency: 2, Duration: time.Second, unfinishedGrace: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// However far the schedule runs ahead of a slow server, every slot due in
// the run is counted: there is no backlog limit.
func TestOpenLoopCountsEverySlot(t *testing.T) {
	const rate, dur = 100000.0, time.Second
	res := runBehindSchedule(t, rate)
	// Slots due in the last notSentSlack before the end are not counted.
	scheduled := int64(rate * (dur - notSentSlack).Seconds())
	if res.Requests < scheduled*95/100 || res.Requests > int64(rate*dur.Seconds()) || res.ErrorsByCode[codeNotSent] < scheduled*9/10 {
		t.Fatalf("%d requests, errors %v; want about the %d scheduled, nearly all NOT_SENT", res.Requests, res.ErrorsByCode, scheduled)
	}
}

// At a rate no server meets, the slots never sent are counted in bulk:
// a billion of them, and the run still ends with the second it lasted.
func TestOpenLoopCountsABillionSlots(t *testing.T) {
	const rate, dur = 1e9, time.Second
	res := runBehindSchedule(t, rate)
	want := int64(rate * (dur - notSentSlack).Seconds())
	if got := res.ErrorsByCode[codeNotSent]; got < want*99/100 || got > int64(rate*dur.Seconds()) {
		t.Fatalf("NOT_SENT = %d; want about %d", got, want)
	}
}

// An open loop against a server that keeps up sends exactly Rate ×
// Duration requests: none scheduled at or after the end of the run (the
// slot due right at the end used to slip in before the run's context said
// it was done).
func TestOpenLoopSendsTheSchedule(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	for _, c := range []struct {
		rate float64
		dur  time.Duration
	}{{100, time.Second}, {40, 500 * time.Millisecond}, {250, 200 * time.Millisecond}} {
		r, err := New(Config{Server: srv.URL, Scenario: ScenarioTrivial, Rate: c.rate, Concurrency: 4, Duration: c.dur})
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(c.rate * c.dur.Seconds()); res.Requests != want || res.Errors != 0 || res.RPS != c.rate {
			t.Errorf("--rate %.0f --duration %s: %d requests (%d errors), %.2f/s; want exactly %d, %.0f/s", c.rate, c.dur, res.Requests, res.Errors, res.RPS, want, c.rate)
		}
	}
}
