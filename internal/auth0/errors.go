package auth0

import (
	"errors"
	"fmt"
	"net"
	"net/http"
)

// Error is an answer from the Management API that was not a success, carrying Auth0's own
// message (which never contains credentials) so that it can be shown in a condition.
type Error struct {
	StatusCode int
	// Code is Auth0's errorCode, e.g. `invalid_body` or `insufficient_scope`.
	Code    string
	Message string
}

func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("auth0: %d %s: %s", e.StatusCode, e.Code, e.Message)
	}
	return fmt.Sprintf("auth0: %d: %s", e.StatusCode, e.Message)
}

func statusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// IsNotFound reports whether Auth0 answered 404.
func IsNotFound(err error) bool { return statusOf(err) == http.StatusNotFound }

// IsConflict reports whether Auth0 answered 409 (e.g. "The user already exists.").
func IsConflict(err error) bool { return statusOf(err) == http.StatusConflict }

// IsRetryable reports whether the same request may succeed later without a change of input:
// rate limits, server errors, timeouts and dropped connections. Everything else that Auth0
// rejected (400, 401, 403, 404, 409, ...) is terminal until the spec or the tenant changes.
// This is the one place that decides between the two.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
	}
	// Transport errors (connection refused or reset, timeouts, a lost response) are retryable.
	return true
}

// NeverApplied reports whether a failed write certainly did not reach Auth0: Auth0 answered it
// with a refusal (4xx: nothing was written), or it was never sent (the token request was refused,
// or the connection could not be opened). A 5xx, a timeout or a dropped connection may have
// followed a committed write, so they are not: whoever sent it must assume it took effect.
func NeverApplied(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode >= 400 && e.StatusCode < 500
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
