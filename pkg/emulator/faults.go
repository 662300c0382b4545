package emulator

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Faults are injected into requests, to test clients' retries, timeouts and idempotence. Rates
// are fractions (0..1) of the matching requests.
type Faults struct {
	// Routes limits the faults to these route patterns ("POST /api/v2/users"); empty: all but
	// the token endpoint.
	Routes []string
	// ErrorRate of requests answered with an error instead of being served.
	ErrorRate float64
	// ErrorStatus is the status of injected errors (500, 503 or 429); default 503.
	ErrorStatus int
	// Latency added to every matching request.
	Latency time.Duration
	// LostResponseRate of successful writes whose response is lost after the write committed.
	LostResponseRate float64
	// LostAs504 answers a lost response with 504 Gateway Timeout instead of dropping the
	// connection.
	LostAs504 bool
	// Seed makes the random choices repeatable; 0 uses a fixed default, so runs are
	// deterministic unless asked otherwise.
	Seed uint64
}

type faultInjector struct {
	mu            sync.Mutex
	f             Faults
	rnd           *rand.Rand
	pendingLosses map[string]int
}

// faultDecision is what happens to one request: an error instead of an answer, added latency,
// or a lost response after the handler ran.
type faultDecision struct {
	status    int
	latency   time.Duration
	lose      bool
	lostAs504 bool
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

func (fi *faultInjector) loseNext(route string, n int) {
	fi.mu.Lock()
	fi.pendingLosses[route] += n
	fi.mu.Unlock()
}

func (fi *faultInjector) decide(route string) faultDecision {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	d := faultDecision{lostAs504: fi.f.LostAs504}
	if fi.pendingLosses[route] > 0 {
		fi.pendingLosses[route]--
		d.lose = true
	}
	// The token endpoint is spared by default: faults target the Management API, and a client
	// that cannot get a token tests nothing else.
	if len(fi.f.Routes) == 0 && route == "POST /oauth/token" || len(fi.f.Routes) > 0 && !slices.Contains(fi.f.Routes, route) {
		return d
	}
	d.latency = fi.f.Latency
	if fi.f.ErrorRate > 0 && fi.rnd.Float64() < fi.f.ErrorRate {
		d.status = fi.f.ErrorStatus
		if d.status == 0 {
			d.status = http.StatusServiceUnavailable
		}
	}
	isWrite := route[0] != 'G'
	if isWrite && fi.f.LostResponseRate > 0 && fi.rnd.Float64() < fi.f.LostResponseRate {
		d.lose = true
	}
	return d
}
