package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/dynamic"

	"github.com/usersync/auth0-operator/pkg/emulator"
)

// driftPoll is how often a drifted user is read back: the latency's resolution.
const driftPoll = 200 * time.Millisecond

// driftResult is what became of one drifted user.
type driftResult struct {
	object    string
	latency   time.Duration // until the name was back; meaningful when corrected
	corrected bool
	err       error
}

// measureDrift changes the name of k of the n users in Auth0, as an administrator would, each
// at a random moment over two short intervals (so that the changes fall at every phase of the
// manager's observer), and measures for each the time until the operator has put the spec's
// name back. It reports what it sees, users not corrected included: the latency the README
// promises is about one observe-interval, a user still drifted after five of them and a minute
// more is reported as not corrected rather than waited for.
func measureDrift(ctx context.Context, tenant *emulator.Emulator, dyn dynamic.Interface, k, n int, observe time.Duration) error {
	type target struct{ object, id, want string }
	var targets []target
	for _, i := range rand.Perm(n)[:k] {
		name := userName(i)
		found := tenant.UsersByEmail(name + "@example.com")
		if len(found) != 1 {
			return fmt.Errorf("drift: %d users in Auth0 for %s, want 1", len(found), name)
		}
		id, _ := found[0]["user_id"].(string)
		targets = append(targets, target{object: name, id: id, want: "Bench " + name})
	}
	spread, giveUp := 2*observe, 5*observe+time.Minute

	watches, err := startWatches(ctx, dyn)
	if err != nil {
		return err
	}
	tenant.ResetCounters()
	start := time.Now()
	results := make([]driftResult, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = driftOne(tenant, t.id, t.want, start.Add(rand.N(spread)), giveUp)
			results[i].object = t.object
		}()
	}
	wg.Wait()
	// A correction's status write (the drift record) may follow the write to Auth0 that the
	// polling saw: give it a moment before the count.
	time.Sleep(2 * time.Second)
	phase := time.Since(start)
	counts := tenant.Counters()
	if err := stopWatches(watches); err != nil {
		return err
	}

	fmt.Printf("\ndrift: the names of %d users changed in Auth0 at random moments over %s (two observe intervals), read back every %s, given up after %s\n",
		len(targets), spread, driftPoll, giveUp)
	var latencies []time.Duration
	var missed []string
	for _, r := range results {
		switch {
		case r.corrected:
			latencies = append(latencies, r.latency)
		case r.err != nil:
			// Reported, not fatal: the figures of the other users still stand.
			missed = append(missed, fmt.Sprintf("%s: %v", r.object, r.err))
		default:
			missed = append(missed, r.object)
		}
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	// Percentiles are over every drifted user, an uncorrected one counting as infinitely late:
	// a p95 over the corrected ones alone would hide them.
	all := append([]time.Duration(nil), latencies...)
	for range missed {
		all = append(all, time.Duration(math.MaxInt64))
	}
	fmt.Printf("corrected: %d of %d; latency p50 %s, p95 %s, max %s\n", len(latencies), len(results),
		showLatency(percentile(all, 50)), showLatency(percentile(all, 95)), showLatency(all[len(all)-1]))
	shown := make([]string, len(latencies))
	for i, l := range latencies {
		shown[i] = fmt.Sprintf("%.1f", l.Seconds())
	}
	fmt.Printf("latencies (s): %s\n", strings.Join(shown, " "))
	if len(missed) > 0 {
		sort.Strings(missed)
		fmt.Printf("not corrected within %s: %d (%s)\n", giveUp, len(missed), strings.Join(missed, ", "))
	} else {
		fmt.Printf("not corrected within %s: 0\n", giveUp)
	}
	total, limited := summarise(counts)
	fmt.Printf("calls during the drift phase (%s): %d, answered 429: %d\n", phase.Round(time.Second), total, limited)
	printRoutes(counts)
	// A correction may record the drift in the Auth0User's status: expected, reported as is.
	printWrites("the drift phase", watches)
	return nil
}

// driftOne changes one user's name at the moment at, then polls until it is want again or
// giveUp has passed.
func driftOne(tenant *emulator.Emulator, id, want string, at time.Time, giveUp time.Duration) driftResult {
	time.Sleep(time.Until(at))
	if err := tenant.PatchUser(id, map[string]any{"name": "drifted"}); err != nil {
		return driftResult{err: err}
	}
	changed := time.Now()
	for {
		u := tenant.User(id)
		if u == nil {
			return driftResult{err: fmt.Errorf("user %s no longer exists in Auth0", id)}
		}
		if u["name"] == want {
			return driftResult{latency: time.Since(changed), corrected: true}
		}
		if time.Since(changed) > giveUp {
			return driftResult{}
		}
		time.Sleep(driftPoll)
	}
}

// percentile is the nearest-rank p-th percentile of sorted values.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100
	return sorted[max(rank, 1)-1]
}

func showLatency(d time.Duration) string {
	if d == time.Duration(math.MaxInt64) {
		return "not corrected"
	}
	return d.Round(100 * time.Millisecond).String()
}
