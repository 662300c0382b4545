// Package metrics defines the operator's Prometheus metrics beyond controller-runtime's, served
// on the manager's metrics endpoint: Auth0 requests by route and status, rate-limit waits,
// drift detected, and users managed.
package metrics

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
)

var (
	// Auth0Requests counts Management API responses by route pattern and status (0: no answer).
	Auth0Requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "auth0_operator_auth0_requests_total",
		Help: "Auth0 Management API requests by route and status code (0 when no response arrived).",
	}, []string{"route", "status"})
	// Auth0RequestDuration observes request latency by route pattern.
	Auth0RequestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "auth0_operator_auth0_request_duration_seconds",
		Help:    "Latency of Auth0 Management API requests by route.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 10),
	}, []string{"route"})
	// RateLimitWaits counts the times a request waited for the tenant's rate limit.
	RateLimitWaits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "auth0_operator_rate_limit_waits_total",
		Help: "Requests that waited for the tenant's rate limit (pacing or after a 429).",
	})
	// RateLimitWaitSeconds sums the time spent waiting for the tenant's rate limit.
	RateLimitWaitSeconds = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "auth0_operator_rate_limit_wait_seconds_total",
		Help: "Time spent waiting for the tenant's rate limit.",
	})
	// DriftDetected counts observations that found drift, by kind.
	DriftDetected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "auth0_operator_drift_detected_total",
		Help: "Observations that found Auth0 differing from the spec, by kind.",
	}, []string{"kind"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(Auth0Requests, Auth0RequestDuration, RateLimitWaits, RateLimitWaitSeconds, DriftDetected)
}

// Observer feeds the Auth0 client's observations into the metrics.
type Observer struct{}

var _ auth0.Observer = Observer{}

// ObserveRequest implements auth0.Observer.
func (Observer) ObserveRequest(route string, status int, d time.Duration) {
	Auth0Requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	Auth0RequestDuration.WithLabelValues(route).Observe(d.Seconds())
}

// ObserveRateLimitWait implements auth0.Observer.
func (Observer) ObserveRateLimitWait(d time.Duration) {
	RateLimitWaits.Inc()
	RateLimitWaitSeconds.Add(d.Seconds())
}

// managedUsers reports, at scrape time, how many Auth0User objects have an Auth0 user, read from
// the manager's cache (no API call).
type managedUsers struct {
	reader client.Reader
	desc   *prometheus.Desc
}

// registeredManagedUsers is the gauge's collector, replaced when a new manager registers its own
// (the test suites run several managers, one after the other, in one process).
var (
	registeredMu           sync.Mutex
	registeredManagedUsers *managedUsers
)

// RegisterManagedUsers adds the auth0_operator_managed_users gauge, computed from reader.
func RegisterManagedUsers(reader client.Reader) error {
	registeredMu.Lock()
	defer registeredMu.Unlock()
	if registeredManagedUsers != nil {
		ctrlmetrics.Registry.Unregister(registeredManagedUsers)
	}
	registeredManagedUsers = &managedUsers{
		reader: reader,
		desc:   prometheus.NewDesc("auth0_operator_managed_users", "Auth0User objects whose Auth0 user exists, by readiness.", []string{"ready"}, nil),
	}
	return ctrlmetrics.Registry.Register(registeredManagedUsers)
}

func (m *managedUsers) Describe(ch chan<- *prometheus.Desc) { ch <- m.desc }

func (m *managedUsers) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var users v1alpha1.Auth0UserList
	if err := m.reader.List(ctx, &users, client.UnsafeDisableDeepCopy); err != nil { // read-only
		return
	}
	counts := map[bool]float64{true: 0, false: 0}
	for _, u := range users.Items {
		if u.Status.UserID == "" {
			continue
		}
		ready := false
		for _, c := range u.Status.Conditions {
			ready = ready || c.Type == v1alpha1.ConditionReady && c.Status == "True"
		}
		counts[ready]++
	}
	for ready, n := range counts {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, n, strconv.FormatBool(ready))
	}
}
