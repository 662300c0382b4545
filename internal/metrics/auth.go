package metrics

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationclient "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// How long a scrape's verdict is reused. A Prometheus scrapes every 15 to 60 seconds with the
// same token: it is checked about once a minute, not at every scrape. A denial is kept for less,
// so that a role just bound takes effect soon, and long enough that a stream of bad tokens does
// not become a stream of reviews sent to the API server.
const (
	allowFor      = time.Minute
	denyFor       = 10 * time.Second
	reviewTimeout = 10 * time.Second
	// maxVerdicts bounds the cache whatever tokens are sent (see keep).
	maxVerdicts = 4096
)

// Authorized is the metrics endpoint's filter: a scrape needs a bearer token that the API server
// authenticates (TokenReview) and whose user may get the metrics path (SubjectAccessReview, a
// non-resource URL, as the metrics-reader ClusterRole grants). It does what controller-runtime's
// filters.WithAuthenticationAndAuthorization does, with two reviews instead of k8s.io/apiserver's
// delegating authenticator and authorizer: those bring in a third of the manager's binary (CEL,
// gRPC, OpenTelemetry, every typed informer), and its pages are most of the memory the manager
// holds before it watches anything.
func Authorized(cfg *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
	authn, err := authenticationclient.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("cannot create the TokenReview client: %w", err)
	}
	authz, err := authorizationclient.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("cannot create the SubjectAccessReview client: %w", err)
	}
	r := &reviewer{tokens: authn.TokenReviews(), access: authz.SubjectAccessReviews(), verdicts: map[verdictKey]verdict{}, now: time.Now}
	return func(log logr.Logger, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			token, ok := bearerToken(req)
			if !ok {
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			v, err := r.review(req.Context(), token, strings.ToLower(req.Method), req.URL.Path)
			if err != nil {
				// The error names the review that failed, never the token.
				log.Error(err, "Cannot check a metrics scrape")
				http.Error(w, "Authentication or authorisation failed", http.StatusInternalServerError)
				return
			}
			switch {
			case !v.authenticated:
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
			case !v.allowed:
				log.V(4).Info("Metrics scrape denied", "user", v.user)
				http.Error(w, fmt.Sprintf("Authorization denied for user %s", v.user), http.StatusForbidden)
			default:
				next.ServeHTTP(w, req)
			}
		}), nil
	}, nil
}

func bearerToken(req *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(req.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "bearer") && token != ""
}

type tokenReviews interface {
	Create(context.Context, *authenticationv1.TokenReview, metav1.CreateOptions) (*authenticationv1.TokenReview, error)
}

type accessReviews interface {
	Create(context.Context, *authorizationv1.SubjectAccessReview, metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error)
}

// reviewer asks the API server about a token and keeps its answers for a while. The cache is
// keyed by the token's SHA-256, so that no token is held in memory after its request.
type reviewer struct {
	tokens tokenReviews
	access accessReviews
	now    func() time.Time

	mu       sync.Mutex
	verdicts map[verdictKey]verdict
}

type verdictKey struct {
	token      [sha256.Size]byte
	verb, path string
}

type verdict struct {
	authenticated, allowed bool
	user                   string
	until                  time.Time
}

func (r *reviewer) review(ctx context.Context, token, verb, path string) (verdict, error) {
	key := verdictKey{token: sha256.Sum256([]byte(token)), verb: verb, path: path}
	now := r.now()
	r.mu.Lock()
	v, ok := r.verdicts[key]
	r.mu.Unlock()
	if ok && now.Before(v.until) {
		return v, nil
	}
	ctx, cancel := context.WithTimeout(ctx, reviewTimeout)
	defer cancel()
	v, err := r.ask(ctx, token, verb, path)
	if err != nil {
		return verdict{}, err
	}
	v.until = now.Add(denyFor)
	if v.allowed {
		v.until = now.Add(allowFor)
	}
	r.keep(key, v, now)
	return v, nil
}

// keep caches a verdict. A full cache first drops what expired, then the refusals: a stream of
// junk tokens, all refused, never evicts the few tokens that may scrape.
func (r *reviewer) keep(key verdictKey, v verdict, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.verdicts) >= maxVerdicts {
		for k, old := range r.verdicts {
			if !now.Before(old.until) || !old.allowed {
				delete(r.verdicts, k)
			}
		}
		if len(r.verdicts) >= maxVerdicts {
			clear(r.verdicts)
		}
	}
	r.verdicts[key] = v
}

func (r *reviewer) ask(ctx context.Context, token, verb, path string) (verdict, error) {
	tr, err := retried(ctx, func() (*authenticationv1.TokenReview, error) {
		return r.tokens.Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	})
	if err != nil {
		return verdict{}, fmt.Errorf("cannot create a TokenReview: %w", err)
	}
	if !tr.Status.Authenticated || tr.Status.Error != "" {
		return verdict{}, nil
	}
	u := tr.Status.User
	extra := make(map[string]authorizationv1.ExtraValue, len(u.Extra))
	for k, v := range u.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar, err := retried(ctx, func() (*authorizationv1.SubjectAccessReview, error) {
		return r.access.Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra,
			NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: path, Verb: verb},
		}}, metav1.CreateOptions{})
	})
	if err != nil {
		return verdict{}, fmt.Errorf("cannot create a SubjectAccessReview for user %s: %w", u.Username, err)
	}
	return verdict{authenticated: true, allowed: sar.Status.Allowed && !sar.Status.Denied, user: u.Username}, nil
}

// retried makes a review up to three times, 200 then 400 ms apart, within ctx: a scrape is not
// failed for one dropped connection or a restarting API server.
func retried[T any](ctx context.Context, review func() (T, error)) (T, error) {
	wait := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		out, err := review()
		if err == nil || attempt == 3 {
			return out, err
		}
		select {
		case <-ctx.Done():
			return out, err
		case <-time.After(wait):
		}
		wait *= 2
	}
}
