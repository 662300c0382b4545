package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/usersync/auth0-operator/pkg/emulator"
)

// interval is what the tenant answered in one part of a window, by route then status.
type interval struct {
	from, to time.Duration // since the start of the window
	counts   map[string]map[int]int64
}

// sampleCounters waits for window, snapshotting the tenant's counters every short interval
// (the manager's --observe-interval), and returns the calls of each. The counters must have
// been reset at the start of the window. The sampling starts with the window, not in phase with
// the manager's observer: an interval may hold two of its searches or none, their mean is what
// counts.
func sampleCounters(tenant *emulator.Emulator, window, every time.Duration) []interval {
	start := time.Now()
	var out []interval
	prev := map[string]map[int]int64{}
	for from := time.Duration(0); from < window; from += every {
		to := min(from+every, window)
		time.Sleep(time.Until(start.Add(to)))
		cur := tenant.Counters()
		out = append(out, interval{from: from, to: to, counts: diffCounts(prev, cur)})
		prev = cur
	}
	return out
}

// diffCounts returns cur - prev for counters that only grow.
func diffCounts(prev, cur map[string]map[int]int64) map[string]map[int]int64 {
	out := map[string]map[int]int64{}
	for route, byStatus := range cur {
		for status, c := range byStatus {
			if d := c - prev[route][status]; d > 0 {
				if out[route] == nil {
					out[route] = map[int]int64{}
				}
				out[route][status] = d
			}
		}
	}
	return out
}

// printIntervals lists the calls of each short interval, then the routes they went to, one
// line per interval.
func printIntervals(intervals []interval, every time.Duration) {
	calls := make([]string, len(intervals))
	for i, iv := range intervals {
		total, _ := summarise(iv.counts)
		calls[i] = fmt.Sprint(total)
	}
	fmt.Printf("calls per short interval (%s): %s\n", every, strings.Join(calls, " "))
	for _, iv := range intervals {
		total, limited := summarise(iv.counts)
		var routes []string
		for _, r := range sortedRoutes(iv.counts) {
			var n int64
			for _, c := range iv.counts[r] {
				n += c
			}
			routes = append(routes, fmt.Sprintf("%s %d", r, n))
		}
		line := fmt.Sprintf("  %5s-%-5s %3d", iv.from, iv.to, total)
		if len(routes) > 0 {
			line += ": " + strings.Join(routes, ", ")
		}
		if limited > 0 {
			line += fmt.Sprintf(" (%d answered 429)", limited)
		}
		fmt.Println(line)
	}
}
