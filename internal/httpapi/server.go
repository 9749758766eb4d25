// Package httpapi is echt's HTTP server: the JSON API under /v1 (client
// endpoints for activation and validation, admin endpoints behind API
// tokens), health and metrics endpoints, and the help and results pages.
//
// Every error is an RFC 9457 problem+json document with a stable code
// (package problem). Unauthenticated endpoints are rate limited per client
// address. Routes are registered in one place, routes.go.
package httpapi

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"

	"errors"
	"fmt"
	"github.com/echt-dev/echt/internal/activation"
	"github.com/echt-dev/echt/internal/signing"
	"github.com/echt-dev/echt/internal/validation"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/echt-dev/echt/internal/auth"
	"github.com/echt-dev/echt/internal/catalog"
	"github.com/echt-dev/echt/internal/keyring"
	"github.com/echt-dev/echt/internal/keys"
	"github.com/echt-dev/echt/internal/store"
)

// Config configures the server. Zero values mean the documented defaults.
type Config struct {
	// MaxBodyBytes bounds request bodies; 0 means 1 MiB.
	MaxBodyBytes int64
	// RequestTimeout bounds each request's work; 0 means 30s.
	RequestTimeout time.Duration
	// ClientLimit is the per-address limit of client endpoints
	// (activation, validation); zero Rate disables it.
	ClientLimit RateLimit
	// CheckLimit is the per-address limit of the public key check and
	// counterfeit reports; zero Rate disables it.
	CheckLimit RateLimit
	// TrustedProxies are proxies whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// LogRequests logs every request (errors are always logged).
	LogRequests bool
	// TicketTTL is how long a genuine ticket is valid; 0 means 1h.
	TicketTTL time.Duration
	// PublicURL is the server's external base URL, used in links (results
	// pages); empty means derived from each request.
	PublicURL string
	// ExpirySweep is how often Serve ends the activations whose validity
	// (not_after) has passed, freeing their seats, in batches of
	// SweepBatch; 0 means every minute, a negative value turns the sweep
	// off. With PostgreSQL one node sweeps at a time (an advisory lock).
	ExpirySweep time.Duration
}

// SweepBatch is how many activations one expiry sweep transaction ends.
const SweepBatch = 500

func (c *Config) defaults() {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.ExpirySweep == 0 {
		c.ExpirySweep = time.Minute
	}
}

// Deps are the server's collaborators.
type Deps struct {
	Store   store.Store
	Keyring *keyring.Keyring
	Logger  *slog.Logger
}

// Server serves the echt API.
type Server struct {
	cfg Config
	st  store.Store
	kr  *keyring.Keyring
	// benchKey signs for the sign baseline (benchSign): a throwaway key,
	// never the publisher's.
	benchKey ed25519.PrivateKey
	log      *slog.Logger
	// hearing is whether the store's change notifications are heard
	// (ChangeWatchUp since the last ChangeWatchDown), for the log.
	hearing    atomic.Bool
	catalog    *catalog.Service
	keys       *keys.Service
	cat        *catalog.Cache
	activation *activation.Service
	validation *validation.Service
	signer     *signing.BatchSigner
	tokens     *auth.Tokens
	limits     *limiter
	metrics    *metrics
	handler    http.Handler
	patterns   []string
	mux        *http.ServeMux

	// The keyring's reloads after a change: wanted counts the changes,
	// loaded the latest one a reload covered; while loaded < wanted the
	// node keeps retrying and is not ready (keyringStale).
	kmu            sync.Mutex
	keyringWanted  uint64
	keyringLoaded  uint64
	keyringRetries bool
	closed         bool
	// reloadMu serialises the reloads: the one that reads last installs
	// the newest keys.
	reloadMu sync.Mutex
	// bg ends with Close; background work (the reload retries) stops then.
	bg        context.Context
	stopBG    context.CancelFunc
	bgWG      sync.WaitGroup
	closeOnce sync.Once
}

// New builds a server.
func New(cfg Config, d Deps) (*Server, error) {
	if d.Store == nil || d.Keyring == nil {
		return nil, errors.New("httpapi: Store and Keyring are required")
	}
	cfg.defaults()
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:     cfg,
		st:      d.Store,
		kr:      d.Keyring,
		log:     d.Logger,
		catalog: catalog.New(d.Store),
		keys:    keys.New(d.Store, d.Keyring.ProductKeys()),
		cat:     catalog.NewCache(d.Store),
		tokens:  auth.NewTokens(d.Store, 0),
		limits:  newLimiter(cfg.ClientLimit, cfg.CheckLimit),
		metrics: newMetrics(),
	}
	s.bg, s.stopBG = context.WithCancel(context.Background())
	var err error
	if _, s.benchKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
		return nil, fmt.Errorf("httpapi: bench key: %w", err)
	}
	// One signing goroutine: its batches are twice as large as two
	// goroutines' (a signature per batch, not per answer), and it signs
	// far more than one node answers (+1-3% validations and activations
	// per second on two CPUs).
	s.signer = signing.NewBatchSigner(d.Keyring.Signer, 1)
	s.activation = activation.New(d.Store, s.cat, d.Keyring, s.signer, d.Logger)
	s.validation = validation.New(validation.Config{TicketTTL: cfg.TicketTTL}, d.Store, s.cat, d.Keyring, s.signer, d.Logger)
	mux := http.NewServeMux()
	s.mux = mux
	s.routes(mux)
	s.handler = s.wrap(mux)
	return s, nil
}

// Handler returns the server's root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Watch applies store changes to the node's caches until ctx ends.
func (s *Server) Watch(ctx context.Context) {
	for ctx.Err() == nil {
		err := s.st.Watch(ctx, s.onChange)
		if ctx.Err() != nil || errors.Is(err, store.ErrClosed) {
			return
		}
		s.log.Warn("store watch ended; restarting", "error", err)
		s.onChange(store.Change{Kind: store.ChangeAll})
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// Close stops the server's background workers. Call it after Serve.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.kmu.Lock()
		s.closed = true
		s.kmu.Unlock()
		s.stopBG()
		s.bgWG.Wait()
		s.signer.Close()
	})
}

// reloadKeyring reloads the signing keyring after a change. A failed
// reload (the database went away) is retried until one succeeds: a node
// must not go on signing with a key another node retired. Until then the
// node is not ready (keyringStale).
func (s *Server) reloadKeyring() {
	s.kmu.Lock()
	s.keyringWanted++
	want := s.keyringWanted
	s.kmu.Unlock()
	if s.tryReload(want) {
		return
	}
	s.kmu.Lock()
	defer s.kmu.Unlock()
	if s.keyringRetries || s.closed {
		return
	}
	s.keyringRetries = true
	s.bgWG.Add(1) // under kmu: Close waits only after it set closed
	go func() {
		defer s.bgWG.Done()
		s.retryKeyring()
	}()
}

// tryReload reloads the keyring once, covering the changes up to want, and
// reports whether the keyring is now current.
func (s *Server) tryReload(want uint64) bool {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	ctx, cancel := context.WithTimeout(s.bg, 10*time.Second)
	err := s.kr.Reload(ctx, s.st)
	cancel()
	s.kmu.Lock()
	defer s.kmu.Unlock()
	if err != nil {
		// A reconnect after the database dropped its connections is
		// routine, and the retry follows: a warning, not an error.
		s.log.Warn("reload keyring; retrying", "error", err)
	} else if want > s.keyringLoaded {
		s.keyringLoaded = want
	}
	return s.keyringLoaded >= s.keyringWanted
}

func (s *Server) retryKeyring() {
	delay := 100 * time.Millisecond
	for {
		select {
		case <-s.bg.Done():
			s.kmu.Lock()
			s.keyringRetries = false
			s.kmu.Unlock()
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
		s.kmu.Lock()
		want := s.keyringWanted
		s.kmu.Unlock()
		if s.tryReload(want) {
			s.kmu.Lock()
			current := s.keyringLoaded >= s.keyringWanted
			if current {
				s.keyringRetries = false
			}
			s.kmu.Unlock()
			if current {
				s.log.Info("keyring reloaded")
				return
			}
		}
	}
}

// keyringStale reports whether a change of the signing keyring has not
// been loaded yet.
func (s *Server) keyringStale() bool {
	s.kmu.Lock()
	defer s.kmu.Unlock()
	return s.keyringLoaded < s.keyringWanted
}

func (s *Server) onChange(c store.Change) {
	s.validation.Changed(c)
	switch c.Kind {
	case store.ChangeToken:
		s.tokens.Invalidate()
	case store.ChangeProduct, store.ChangeSKU:
		s.cat.Invalidate()
	case store.ChangeSigningKey:
		s.reloadKeyring()
	case store.ChangeAll:
		s.tokens.Invalidate()
		s.cat.Invalidate()
		s.reloadKeyring()
	case store.ChangeWatchDown, store.ChangeWatchUp:
		// While changes cannot be heard, every read goes to the store.
		on := c.Kind == store.ChangeWatchDown
		if was := s.hearing.Swap(!on); was && on {
			s.log.Warn("lost the store's change notifications: caches off until they are back")
		} else if !was && !on {
			s.log.Info("hearing the store's change notifications: caches on")
		}
		s.tokens.Bypass(on)
		s.cat.Bypass(on)
	}
}

// Serve serves on ln until ctx ends, then shuts down gracefully: it stops
// accepting, lets requests in flight finish (up to grace), and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      s.cfg.RequestTimeout + 30*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	defer s.Close()
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	go s.Watch(watchCtx)
	swept := make(chan struct{})
	go func() { defer close(swept); s.sweepExpired(watchCtx) }()
	defer func() { stopWatch(); <-swept }()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// sweepExpired runs SweepExpired now and then every cfg.ExpirySweep until
// ctx ends.
func (s *Server) sweepExpired(ctx context.Context) {
	if s.cfg.ExpirySweep < 0 {
		return
	}
	t := time.NewTicker(s.cfg.ExpirySweep)
	defer t.Stop()
	for {
		n, err := s.SweepExpired(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			s.log.Warn("expiry sweep", "ended", n, "error", err)
		case n > 0:
			s.log.Info("expiry sweep", "ended", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SweepExpired ends every activation whose validity has passed, in
// batches of SweepBatch, and returns how many it ended. With PostgreSQL,
// while another node sweeps it ends none.
func (s *Server) SweepExpired(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := s.st.ExpireActivations(ctx, time.Now(), SweepBatch)
		total += n
		if err != nil || n < SweepBatch || ctx.Err() != nil {
			return total, err
		}
	}
}
