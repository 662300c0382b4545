package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestObserverFeedsTheMetrics(t *testing.T) {
	o := Observer{}
	before := testutil.ToFloat64(Auth0Requests.WithLabelValues("GET /api/v2/users/{id}", "429"))
	o.ObserveRequest("GET /api/v2/users/{id}", 429, 20*time.Millisecond)
	if got := testutil.ToFloat64(Auth0Requests.WithLabelValues("GET /api/v2/users/{id}", "429")); got != before+1 {
		t.Errorf("requests counter = %v, want %v", got, before+1)
	}
	waits := testutil.ToFloat64(RateLimitWaits)
	seconds := testutil.ToFloat64(RateLimitWaitSeconds)
	o.ObserveRateLimitWait(1500 * time.Millisecond)
	if testutil.ToFloat64(RateLimitWaits) != waits+1 || testutil.ToFloat64(RateLimitWaitSeconds) != seconds+1.5 {
		t.Error("rate-limit wait metrics did not move")
	}
}
