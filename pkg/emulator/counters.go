package emulator

import (
	"fmt"
	"net/http"
	"sync"
)

// maxRequestLog bounds the request log so that a long benchmark cannot exhaust memory.
const maxRequestLog = 1_000_000

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
	if len(c.log) < maxRequestLog {
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
