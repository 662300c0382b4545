package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeAPIServer answers reviews from two tables and counts them.
type fakeAPIServer struct {
	users    map[string]string // token → user
	readers  map[string]bool   // users who may get /metrics
	fail     error
	tokenRev int
	sar      []authorizationv1.SubjectAccessReviewSpec
}

func (f *fakeAPIServer) Create(_ context.Context, tr *authenticationv1.TokenReview, _ metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	f.tokenRev++
	if f.fail != nil {
		return nil, f.fail
	}
	out := tr.DeepCopy()
	if u, ok := f.users[tr.Spec.Token]; ok {
		out.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{
			Username: u, UID: "uid-" + u, Groups: []string{"system:authenticated"}, Extra: map[string]authenticationv1.ExtraValue{"k": {"v"}}}}
	}
	return out, nil
}

type fakeAccess struct{ *fakeAPIServer }

func (f fakeAccess) Create(_ context.Context, sar *authorizationv1.SubjectAccessReview, _ metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	f.sar = append(f.sar, sar.Spec)
	out := sar.DeepCopy()
	a := sar.Spec.NonResourceAttributes
	out.Status.Allowed = f.readers[sar.Spec.User] && a != nil && a.Path == "/metrics" && a.Verb == "get"
	return out, nil
}

func TestScrapesAreReviewedAndTheVerdictsKeptForAWhile(t *testing.T) {
	api := &fakeAPIServer{users: map[string]string{"good": "prometheus", "other": "nobody"}, readers: map[string]bool{"prometheus": true}}
	clock := time.Unix(1000, 0)
	r := &reviewer{tokens: api, access: fakeAccess{api}, verdicts: map[verdictKey]verdict{}, now: func() time.Time { return clock }}
	ctx := context.Background()

	v, err := r.review(ctx, "good", "get", "/metrics")
	if err != nil || !v.authenticated || !v.allowed || v.user != "prometheus" {
		t.Fatalf("reader's token: %+v, %v", v, err)
	}
	if s := api.sar[0]; s.User != "prometheus" || s.UID != "uid-prometheus" || len(s.Groups) != 1 || s.Extra["k"][0] != "v" {
		t.Errorf("the access review does not carry the token's user: %+v", s)
	}
	if v, _ := r.review(ctx, "good", "post", "/metrics"); !v.authenticated || v.allowed {
		t.Errorf("another verb was allowed: %+v", v)
	}
	if v, _ := r.review(ctx, "good", "get", "/debug"); v.allowed {
		t.Errorf("another path was allowed: %+v", v)
	}
	if v, _ := r.review(ctx, "other", "get", "/metrics"); !v.authenticated || v.allowed {
		t.Errorf("a user without the role was allowed: %+v", v)
	}
	if v, _ := r.review(ctx, "forged", "get", "/metrics"); v.authenticated || v.allowed {
		t.Errorf("an unknown token was authenticated: %+v", v)
	}
	if n := len(api.sar); n != 4 {
		t.Errorf("%d access reviews, want 4 (none for a token that did not authenticate)", n)
	}

	// Within a minute, a scrape with the same token asks nothing; a denial is asked again sooner.
	reviews := api.tokenRev
	clock = clock.Add(30 * time.Second)
	for _, token := range []string{"good", "good", "other", "forged"} {
		_, _ = r.review(ctx, token, "get", "/metrics")
	}
	if got := api.tokenRev - reviews; got != 2 {
		t.Errorf("%d token reviews 30 s later, want 2 (the denied token and the unknown one again, the allowed one from the cache)", got)
	}
	clock = clock.Add(31 * time.Second)
	reviews = api.tokenRev
	_, _ = r.review(ctx, "good", "get", "/metrics")
	if api.tokenRev-reviews != 1 {
		t.Error("an allowed verdict outlived a minute")
	}

	// The cache is keyed by a digest: no token is kept.
	for k := range r.verdicts {
		if string(k.token[:]) == "good" || string(k.token[:]) == "forged" {
			t.Error("a token is kept in the cache")
		}
	}

	// A review that fails is tried three times, then is an error, not a verdict, and is not
	// cached.
	api.fail = errors.New("connection refused")
	clock = clock.Add(time.Hour)
	reviews = api.tokenRev
	if _, err := r.review(ctx, "good", "get", "/metrics"); err == nil {
		t.Error("a failed review gave a verdict")
	}
	if n := api.tokenRev - reviews; n != 3 {
		t.Errorf("a failing review was tried %d times, want 3", n)
	}
	api.fail = nil
	if v, err := r.review(ctx, "good", "get", "/metrics"); err != nil || !v.allowed {
		t.Errorf("after the API server came back: %+v, %v", v, err)
	}
}

// A flood of junk tokens stays bounded and does not evict the token that may scrape: its next
// scrape asks the API server nothing.
func TestTheVerdictCacheIsBoundedAndKeepsWhatIsAllowed(t *testing.T) {
	api := &fakeAPIServer{users: map[string]string{"good": "prometheus"}, readers: map[string]bool{"prometheus": true}}
	r := &reviewer{tokens: api, access: fakeAccess{api}, verdicts: map[verdictKey]verdict{}, now: time.Now}
	ctx := context.Background()
	if v, _ := r.review(ctx, "good", "get", "/metrics"); !v.allowed {
		t.Fatal("the reader was refused")
	}
	for i := range 3 * maxVerdicts {
		_, _ = r.review(ctx, fmt.Sprintf("junk-%d", i), "get", "/metrics")
	}
	if n := len(r.verdicts); n > maxVerdicts {
		t.Errorf("%d verdicts cached, more than %d", n, maxVerdicts)
	}
	reviews := api.tokenRev
	if v, _ := r.review(ctx, "good", "get", "/metrics"); !v.allowed || api.tokenRev != reviews {
		t.Errorf("after the flood the reader's verdict was asked again (%d reviews) or refused (%+v)", api.tokenRev-reviews, v)
	}
}

func TestBearerToken(t *testing.T) {
	for header, want := range map[string]string{"Bearer abc": "abc", "bearer  abc ": "abc", "Basic abc": "", "Bearer": "", "Bearer ": "", "": ""} {
		req, _ := http.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Authorization", header)
		got, ok := bearerToken(req)
		if ok != (want != "") || ok && got != want {
			t.Errorf("%q: got %q, %v; want %q", header, got, ok, want)
		}
	}
}
