package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/conditions"
)

func TestClassify(t *testing.T) {
	notFound := &auth0.Error{StatusCode: http.StatusNotFound, Message: "The role does not exist."}
	for _, c := range []struct {
		name    string
		err     error
		outcome Outcome
		reason  string
	}{
		{"no error is success", nil, OutcomeSucceeded, conditions.ReasonSucceeded},
		{"a stall keeps its reason through wrapping", fmt.Errorf("cannot do it: %w", Stalled(conditions.ReasonInvalidSpec, "bad key")), OutcomeStalled, conditions.ReasonInvalidSpec},
		{"waiting is its own outcome", &WaitingError{Reason: conditions.ReasonSubjectsPending, Message: "later"}, OutcomeWaiting, conditions.ReasonSubjectsPending},
		{"Auth0 refusing is a stall", fmt.Errorf("cannot create user: %w", &auth0.Error{StatusCode: http.StatusBadRequest, Message: "PasswordStrengthError"}), OutcomeStalled, conditions.ReasonAuth0Rejected},
		{"Auth0 throttling is retried", &auth0.Error{StatusCode: http.StatusTooManyRequests}, OutcomeRetrying, conditions.ReasonAuth0Unavailable},
		{"Auth0 failing is retried", &auth0.Error{StatusCode: http.StatusServiceUnavailable}, OutcomeRetrying, conditions.ReasonAuth0Unavailable},
		{"a transient error wrapping an Auth0 404 is retried, not a stall", &TransientError{Reason: conditions.ReasonRolesChanged, Err: fmt.Errorf("role gone: %w", notFound)}, OutcomeRetrying, conditions.ReasonRolesChanged},
		{"the API server failing has its own reason", fmt.Errorf("cannot list bindings: %w", apierrors.NewServiceUnavailable("etcd")), OutcomeRetrying, conditions.ReasonKubernetesUnavailable},
		{"an API server conflict is retried under the same reason", apierrors.NewConflict(schema.GroupResource{Resource: "auth0users"}, "u", errors.New("stale")), OutcomeRetrying, conditions.ReasonKubernetesUnavailable},
		{"a timeout on the way to Auth0 is retried", fmt.Errorf("cannot get user: %w", context.DeadlineExceeded), OutcomeRetrying, conditions.ReasonAuth0Unavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := Classify(c.err)
			if v.Outcome != c.outcome || v.Reason != c.reason {
				t.Fatalf("Classify(%v) = %v/%s, want %v/%s", c.err, v.Outcome, v.Reason, c.outcome, c.reason)
			}
			if c.err != nil && v.Message != c.err.Error() {
				t.Fatalf("message %q, want the whole chain %q", v.Message, c.err.Error())
			}
		})
	}
}
