// Package emulator is a stateful, in-memory Auth0 Management API v2 for tests, the local demo
// and benchmarks. It answers the endpoints the operator and its users touch the way Auth0 does
// (status codes, error bodies, field names, metadata merge, search v3, paging, rate-limit
// headers), issues RS256 client-credentials tokens and checks their scopes, and can inject
// faults: errors, latency, 429 storms and responses lost after the write committed.
package emulator

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Client is an application allowed to get Management API tokens.
type Client struct {
	Secret string
	// Scopes granted to the client; nil grants every scope.
	Scopes []string
}

// Config configures an Emulator.
type Config struct {
	// Domain is the tenant's domain: tokens are issued by https://{Domain}/ and the audience
	// https://{Domain}/api/v2/ is accepted, as is the one of the Host a client dialled (the SDK
	// derives it from host:port). Empty: only the Host's.
	Domain string
	// Clients that may get tokens, by client id.
	Clients map[string]Client
	// RateLimit bounds requests per second and per minute; zero values are unlimited.
	RateLimit RateLimit
	// SearchIndexLag delays what users search returns after a write (Auth0's index lags by up
	// to a few seconds); users-by-email and reads by id are never delayed.
	SearchIndexLag time.Duration
	// Faults to inject from the start; see SetFaults.
	Faults Faults
	// TokenTTL is the lifetime of issued tokens; default 24h.
	TokenTTL time.Duration
	// StateFile, when set, is loaded at start (if present), written shortly after every change
	// and on Close. Passwords are not written.
	StateFile string
	// MaxMetadataBytes bounds user_metadata and app_metadata together, serialized; default
	// DefaultMaxMetadataBytes, Auth0's documented 16 MB.
	MaxMetadataBytes int
	// Logf, when set, receives one line per request (never a secret, token or password).
	Logf func(format string, args ...any)
	// Now replaces the clock (tests).
	Now func() time.Time
}

// Emulator is an emulated Auth0 tenant.
type Emulator struct {
	cfg Config
	key *rsa.PrivateKey

	mu sync.Mutex
	st *state

	limiter  atomic.Pointer[rateLimiter]
	faults   *faultInjector
	counters *counters

	// verified caches the claims of tokens whose signature was checked (token -> *claims).
	verified      sync.Map
	verifiedCount atomic.Int64

	servers []*http.Server
	handler http.Handler

	// saver writes the state file after changes; nil without a StateFile.
	saver *stateSaver
}

// New makes an Emulator with an empty tenant holding one database connection,
// Username-Password-Authentication.
func New(cfg Config) (*Emulator, error) {
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxMetadataBytes <= 0 {
		cfg.MaxMetadataBytes = DefaultMaxMetadataBytes
	}
	key, err := signingKey()
	if err != nil {
		return nil, err
	}
	e := &Emulator{
		cfg:      cfg,
		key:      key,
		st:       newState(),
		faults:   newFaultInjector(cfg.Faults),
		counters: newCounters(),
	}
	e.SetRateLimit(cfg.RateLimit)
	e.st.connections["Username-Password-Authentication"] = Connection{Name: "Username-Password-Authentication", Strategy: "auth0"}
	if cfg.StateFile != "" {
		if err := e.load(cfg.StateFile); err != nil {
			return nil, err
		}
		e.saver = startSaver(func() error { return e.save(cfg.StateFile) }, cfg.Logf)
	}
	e.handler = e.routes()
	return e, nil
}

// Handler serves the Management API and the token endpoint.
func (e *Emulator) Handler() http.Handler { return e.handler }

// Start serves plain HTTP on addr ("127.0.0.1:0" picks a port) and returns the base URL.
func (e *Emulator) Start(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: e.handler, ReadHeaderTimeout: 10 * time.Second}
	e.servers = append(e.servers, srv)
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// Close stops the servers and writes the state file, if configured.
func (e *Emulator) Close() error {
	var errs []error
	for _, s := range e.servers {
		// Finish the requests in progress for a moment, then cut the rest: Close must close.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := s.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
			errs = append(errs, s.Close())
		} else {
			errs = append(errs, err)
		}
		cancel()
	}
	e.servers = nil
	if e.saver != nil {
		errs = append(errs, e.saver.stop())
	}
	return errors.Join(errs...)
}

// SetRateLimit replaces the rate limits from now on, with full buckets: a test can squeeze a
// tenant into a storm of 429s and let it go again.
func (e *Emulator) SetRateLimit(rl RateLimit) { e.limiter.Store(newRateLimiter(rl, e.cfg.Now)) }

// SetFaults replaces the faults injected from now on.
func (e *Emulator) SetFaults(f Faults) { e.faults.set(f) }

// LoseNextResponses makes the next n requests matching route ("POST /api/v2/users") commit and
// then lose their response: the connection is closed without an answer.
func (e *Emulator) LoseNextResponses(route string, n int) { e.faults.loseNext(route, n) }

// Counters returns the requests answered so far: route pattern -> status -> count.
func (e *Emulator) Counters() map[string]map[int]int64 { return e.counters.snapshot() }

// ResetCounters zeroes the counters.
func (e *Emulator) ResetCounters() { e.counters.reset() }

// Requests returns the log of requests answered since the last ResetCounters, each as
// "METHOD /escaped/path?query STATUS", for tests that count the calls made for one object.
func (e *Emulator) Requests() []string { return e.counters.requests() }
