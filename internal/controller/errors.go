package controller

import (
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/conditions"
)

// The error taxonomy of every reconcile, decided in Classify and nowhere else. A phase returns:
//   - *StalledError: retrying cannot help until the spec, a Secret, a policy or the tenant
//     changes (all watched, and the resync retries in case the tenant itself was fixed);
//   - *WaitingError: the object waits for something that is on its way (another object);
//   - *TransientError: a failure worth retrying with backoff, under a reason of its own;
//   - anything else: classified by its origin (Auth0, the Kubernetes API, or unknown).

// StalledError stops progress until something the operator watches changes. The pass counts as
// observed: Stalled=True with observedGeneration set, as Flux and kstatus expect.
type StalledError struct {
	Reason  string
	Message string
}

func (e *StalledError) Error() string { return e.Message }

// Stalled makes a StalledError with a formatted message.
func Stalled(reason, format string, args ...any) error {
	return &StalledError{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// WaitingError says the object waits on something that will come by itself; it is Reconciling,
// not failing, and is looked at again after RequeueAfter (or when what it waits for changes).
type WaitingError struct {
	Reason       string
	Message      string
	RequeueAfter time.Duration
}

func (e *WaitingError) Error() string { return e.Message }

// TransientError is a failure that retrying may fix, with the reason to show meanwhile. Err keeps
// its chain: an Auth0 404 inside one does not make the object Stalled.
type TransientError struct {
	Reason string
	Err    error
}

func (e *TransientError) Error() string { return e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// Outcome is what a reconcile's error means for the object's conditions.
type Outcome int

const (
	// OutcomeSucceeded: the spec is applied (or its drift reported).
	OutcomeSucceeded Outcome = iota
	// OutcomeWaiting: Reconciling, requeued after a delay, not an error.
	OutcomeWaiting
	// OutcomeStalled: Stalled, observed, requeued at the resync interval.
	OutcomeStalled
	// OutcomeRetrying: Reconciling, returned to controller-runtime for backoff.
	OutcomeRetrying
)

// Verdict is an error classified: the outcome, the condition's reason and message, and for
// Waiting how long to wait.
type Verdict struct {
	Outcome      Outcome
	Reason       string
	Message      string
	RequeueAfter time.Duration
}

// Classify decides what an error of a reconcile means. Messages come from Auth0, Kubernetes or
// this operator, never from a Secret.
func Classify(err error) Verdict {
	if err == nil {
		return Verdict{Outcome: OutcomeSucceeded, Reason: conditions.ReasonSucceeded}
	}
	msg := err.Error()
	var (
		st *StalledError
		w  *WaitingError
		tr *TransientError
		a0 *auth0.Error
	)
	switch {
	case errors.As(err, &st):
		return Verdict{Outcome: OutcomeStalled, Reason: st.Reason, Message: msg}
	case errors.As(err, &w):
		return Verdict{Outcome: OutcomeWaiting, Reason: w.Reason, Message: msg, RequeueAfter: w.RequeueAfter}
	case errors.As(err, &tr):
		return Verdict{Outcome: OutcomeRetrying, Reason: tr.Reason, Message: msg}
	case errors.As(err, &a0):
		if auth0.IsRetryable(err) {
			return Verdict{Outcome: OutcomeRetrying, Reason: conditions.ReasonAuth0Unavailable, Message: msg}
		}
		return Verdict{Outcome: OutcomeStalled, Reason: conditions.ReasonAuth0Rejected, Message: msg}
	case isKubernetesError(err):
		return Verdict{Outcome: OutcomeRetrying, Reason: conditions.ReasonKubernetesUnavailable, Message: msg}
	default:
		// Network failures and timeouts on the way to Auth0 (the client's context errors).
		return Verdict{Outcome: OutcomeRetrying, Reason: conditions.ReasonAuth0Unavailable, Message: msg}
	}
}

// isKubernetesError reports whether err came from the API server (any status it answered).
func isKubernetesError(err error) bool {
	var status apierrors.APIStatus
	return errors.As(err, &status)
}

// KubernetesError marks the failure of a call to the API server, whether it answered with an
// error or the connection failed (which carries no API status), so that Classify reports it as
// KubernetesUnavailable rather than as Auth0's.
func KubernetesError(format string, args ...any) error {
	return &TransientError{Reason: conditions.ReasonKubernetesUnavailable, Err: fmt.Errorf(format, args...)}
}
