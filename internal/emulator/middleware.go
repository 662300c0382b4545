package emulator

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// routes registers every endpoint, each wrapped by the request pipeline: counting, rate limits,
// injected faults, authentication and scope checks.
func (e *Emulator) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, scopes []string, h http.HandlerFunc) {
		mux.Handle(pattern, e.pipeline(pattern, scopes, h))
	}
	mux.Handle("POST /oauth/token", e.pipeline("POST /oauth/token", nil, e.token))

	handle("POST /api/v2/users", []string{"create:users"}, e.createUser)
	handle("GET /api/v2/users", []string{"read:users"}, e.listUsers)
	handle("GET /api/v2/users/{id}", []string{"read:users"}, e.getUser)
	handle("PATCH /api/v2/users/{id}", []string{"update:users", "update:users_app_metadata"}, e.patchUser)
	handle("DELETE /api/v2/users/{id}", []string{"delete:users"}, e.deleteUser)
	handle("GET /api/v2/users-by-email", []string{"read:users"}, e.usersByEmail)

	handle("GET /api/v2/users/{id}/roles", []string{"read:users", "read:roles"}, e.getUserRoles)
	handle("POST /api/v2/users/{id}/roles", []string{"create:role_members"}, e.assignUserRoles)
	handle("DELETE /api/v2/users/{id}/roles", []string{"delete:role_members"}, e.removeUserRoles)
	handle("GET /api/v2/users/{id}/permissions", []string{"read:users"}, e.getUserPermissions)
	handle("POST /api/v2/users/{id}/permissions", []string{"update:users"}, e.assignUserPermissions)
	handle("DELETE /api/v2/users/{id}/permissions", []string{"update:users"}, e.removeUserPermissions)

	handle("POST /api/v2/roles", []string{"create:roles"}, e.createRole)
	handle("GET /api/v2/roles", []string{"read:roles"}, e.listRoles)
	handle("GET /api/v2/roles/{id}", []string{"read:roles"}, e.getRole)
	handle("PATCH /api/v2/roles/{id}", []string{"update:roles"}, e.updateRole)
	handle("DELETE /api/v2/roles/{id}", []string{"delete:roles"}, e.deleteRole)
	handle("GET /api/v2/roles/{id}/permissions", []string{"read:roles"}, e.getRolePermissions)
	handle("POST /api/v2/roles/{id}/permissions", []string{"update:roles"}, e.addRolePermissions)
	handle("DELETE /api/v2/roles/{id}/permissions", []string{"update:roles"}, e.removeRolePermissions)
	handle("GET /api/v2/roles/{id}/users", []string{"read:role_members"}, e.getRoleUsers)
	handle("POST /api/v2/roles/{id}/users", []string{"create:role_members"}, e.assignRoleUsers)

	handle("POST /api/v2/resource-servers", []string{"create:resource_servers"}, e.createResourceServer)
	handle("GET /api/v2/resource-servers", []string{"read:resource_servers"}, e.listResourceServers)
	handle("GET /api/v2/resource-servers/{id}", []string{"read:resource_servers"}, e.getResourceServer)
	handle("PATCH /api/v2/resource-servers/{id}", []string{"update:resource_servers"}, e.updateResourceServer)
	handle("DELETE /api/v2/resource-servers/{id}", []string{"delete:resource_servers"}, e.deleteResourceServer)

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		e.counters.add("unknown", r, http.StatusNotFound)
		notFound(w, "inexistent_route", "Not Found")
	})
	return mux
}

func (e *Emulator) pipeline(route string, scopes []string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		lose := e.serve(route, scopes, h, rec, r)
		e.counters.add(route, r, rec.status)
		if e.cfg.Logf != nil {
			e.cfg.Logf("%s %s %d %s", r.Method, r.URL.EscapedPath(), rec.status, time.Since(start).Round(time.Microsecond))
		}
		if lose {
			if e.faults.lostAs504() {
				writeError(w, http.StatusGatewayTimeout, "", "Gateway Timeout")
				return
			}
			dropConnection(w)
			return
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
	})
}

// serve runs the checks in Auth0's order and the handler; it reports whether the response
// must be lost (the write has committed, the client sees a dropped connection).
func (e *Emulator) serve(route string, scopes []string, h http.HandlerFunc, w *recorder, r *http.Request) bool {
	f := e.faults.decide(route)
	if f.latency > 0 {
		time.Sleep(f.latency)
	}
	allowed, limit, remaining, reset := e.limiter.take(route)
	w.header.Set("X-Ratelimit-Limit", strconv.Itoa(limit))
	w.header.Set("X-Ratelimit-Remaining", strconv.Itoa(remaining))
	w.header.Set("X-Ratelimit-Reset", strconv.FormatInt(reset, 10))
	if !allowed {
		writeError(w, http.StatusTooManyRequests, "too_many_requests", "Global limit has been reached")
		return false
	}
	if f.status != 0 {
		if f.status == http.StatusTooManyRequests {
			writeError(w, f.status, "too_many_requests", "Global limit has been reached")
		} else {
			writeError(w, f.status, "", http.StatusText(f.status))
		}
		return false
	}
	if scopes != nil && !e.authorize(w, r, scopes) {
		return false
	}
	h(w, r)
	return f.lose && w.status < 300
}

// recorder buffers a response so that a fault can replace or drop it after the handler ran.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(status int)      { r.status = status }

func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		w.WriteHeader(http.StatusGatewayTimeout)
		return
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = conn.Close()
	}
}

// Faults are injected into requests. Rates are fractions (0..1) of matching requests.
type Faults struct {
	// Routes limits the faults to these route patterns ("POST /api/v2/users"); empty: all.
	Routes []string
	// ErrorRate of requests answered with ErrorStatus (default 503) instead of being served.
	ErrorRate   float64
	ErrorStatus int
	// Latency added to every matching request.
	Latency time.Duration
	// LostResponseRate of successful writes whose response is lost after the write committed.
	LostResponseRate float64
	// LostAs504 answers a lost response with 504 Gateway Timeout instead of dropping the
	// connection.
	LostAs504 bool
	// Seed makes the random choices repeatable; 0 uses a fixed default.
	Seed uint64
}

type faultInjector struct {
	mu            sync.Mutex
	f             Faults
	rnd           *rand.Rand
	pendingLosses map[string]int
}

type faultDecision struct {
	status  int
	latency time.Duration
	lose    bool
}

func newFaultInjector(f Faults) *faultInjector {
	fi := &faultInjector{pendingLosses: map[string]int{}}
	fi.set(f)
	return fi
}

func (fi *faultInjector) set(f Faults) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.f = f
	seed := f.Seed
	if seed == 0 {
		seed = 42
	}
	fi.rnd = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

func (fi *faultInjector) lostAs504() bool {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	return fi.f.LostAs504
}

func (fi *faultInjector) loseNext(route string, n int) {
	fi.mu.Lock()
	fi.pendingLosses[route] += n
	fi.mu.Unlock()
}

func (fi *faultInjector) decide(route string) faultDecision {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	var d faultDecision
	if fi.pendingLosses[route] > 0 {
		fi.pendingLosses[route]--
		d.lose = true
	}
	if route == "POST /oauth/token" {
		return d
	}
	matches := len(fi.f.Routes) == 0
	for _, r := range fi.f.Routes {
		matches = matches || r == route
	}
	if !matches {
		return d
	}
	d.latency = fi.f.Latency
	if fi.f.ErrorRate > 0 && fi.rnd.Float64() < fi.f.ErrorRate {
		d.status = fi.f.ErrorStatus
		if d.status == 0 {
			d.status = http.StatusServiceUnavailable
		}
	}
	isWrite := len(route) > 0 && route[0] != 'G'
	if isWrite && fi.f.LostResponseRate > 0 && fi.rnd.Float64() < fi.f.LostResponseRate {
		d.lose = true
	}
	return d
}

// counters count answered requests by route and status, and keep a log of them.
type counters struct {
	mu     sync.Mutex
	counts map[string]map[int]int64
	log    []string
}

func newCounters() *counters { return &counters{counts: map[string]map[int]int64{}} }

func (c *counters) add(route string, r *http.Request, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts[route] == nil {
		c.counts[route] = map[int]int64{}
	}
	c.counts[route][status]++
	if len(c.log) < 1_000_000 {
		c.log = append(c.log, fmt.Sprintf("%s %s %d", r.Method, r.URL.RequestURI(), status))
	}
}

func (c *counters) snapshot() map[string]map[int]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]map[int]int64, len(c.counts))
	for route, byStatus := range c.counts {
		out[route] = make(map[int]int64, len(byStatus))
		for s, n := range byStatus {
			out[route][s] = n
		}
	}
	return out
}

func (c *counters) requests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.log...)
}

func (c *counters) reset() {
	c.mu.Lock()
	c.counts = map[string]map[int]int64{}
	c.log = nil
	c.mu.Unlock()
}

// RateLimit models a tenant's Management API limits as fixed windows: global buckets, and
// optionally tighter ones per endpoint class.
type RateLimit struct {
	PerSecond int
	PerMinute int
	// Classes limits endpoint classes on top of the global buckets, e.g. {"search": {PerSecond:
	// 10}}. Classes: token, users, users-by-email, search, roles, resource-servers.
	Classes map[string]RateLimit
}

// routeClass is the endpoint class of a route pattern, for per-class rate limits.
func routeClass(route string) string {
	switch {
	case route == "POST /oauth/token":
		return "token"
	case route == "GET /api/v2/users":
		return "search"
	case strings.Contains(route, "/users-by-email"):
		return "users-by-email"
	case strings.Contains(route, "/api/v2/roles"):
		return "roles"
	case strings.Contains(route, "/api/v2/resource-servers"):
		return "resource-servers"
	default:
		return "users"
	}
}

type rateLimiter struct {
	mu      sync.Mutex
	now     func() time.Time
	global  *windows
	classes map[string]*windows
}

// windows counts requests in the current second and minute against one pair of limits.
type windows struct {
	cfg       RateLimit
	secWindow int64
	secCount  int
	minWindow int64
	minCount  int
}

func newRateLimiter(cfg RateLimit, now func() time.Time) *rateLimiter {
	l := &rateLimiter{now: now, global: &windows{cfg: cfg}, classes: map[string]*windows{}}
	for class, c := range cfg.Classes {
		l.classes[class] = &windows{cfg: c}
	}
	return l
}

// take counts a request and returns whether it is allowed, with the values of Auth0's headers
// for the tightest bucket that applies: limit, remaining, and reset (unix seconds).
func (l *rateLimiter) take(route string) (bool, int, int, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	buckets := []*windows{l.global}
	if w, ok := l.classes[routeClass(route)]; ok {
		buckets = append(buckets, w)
	}
	allowed := true
	for _, w := range buckets {
		w.roll(now)
		allowed = allowed && w.allows()
	}
	if allowed {
		for _, w := range buckets {
			w.secCount++
			w.minCount++
		}
	}
	limit, remaining, reset := 1000, 999, now.Unix()+1
	first := true
	for _, w := range buckets {
		for _, b := range w.report(now) {
			if first || b.remaining < remaining {
				limit, remaining, reset, first = b.limit, b.remaining, b.reset, false
			}
		}
	}
	return allowed, limit, max(remaining, 0), reset
}

func (w *windows) roll(now time.Time) {
	if sec := now.Unix(); sec != w.secWindow {
		w.secWindow, w.secCount = sec, 0
	}
	if minute := now.Unix() / 60; minute != w.minWindow {
		w.minWindow, w.minCount = minute, 0
	}
}

func (w *windows) allows() bool {
	return (w.cfg.PerSecond == 0 || w.secCount < w.cfg.PerSecond) && (w.cfg.PerMinute == 0 || w.minCount < w.cfg.PerMinute)
}

type bucketState struct {
	limit, remaining int
	reset            int64
}

func (w *windows) report(now time.Time) []bucketState {
	var out []bucketState
	if w.cfg.PerSecond > 0 {
		out = append(out, bucketState{w.cfg.PerSecond, w.cfg.PerSecond - w.secCount, now.Unix() + 1})
	}
	if w.cfg.PerMinute > 0 {
		out = append(out, bucketState{w.cfg.PerMinute, w.cfg.PerMinute - w.minCount, (now.Unix()/60 + 1) * 60})
	}
	return out
}
