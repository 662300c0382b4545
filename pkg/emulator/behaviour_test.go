package emulator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// httpTenant is an emulator over plain HTTP with a token for the all-scopes client.
type httpTenant struct {
	*Emulator
	base  string
	token string
	t     *testing.T
}

func startHTTP(t *testing.T, cfg Config) *httpTenant {
	t.Helper()
	if cfg.Clients == nil {
		cfg.Clients = map[string]Client{"app": {Secret: "s"}}
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	base, err := e.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	h := &httpTenant{Emulator: e, base: base, t: t}
	h.token = h.tokenFor("app", "s")
	return h
}

// tokenFor gets a Management API token for a client, as the SDK would.
func (h *httpTenant) tokenFor(id, secret string) string {
	h.t.Helper()
	saved := h.token
	h.token = ""
	defer func() { h.token = saved }()
	resp, body := h.do("POST", "/oauth/token", fmt.Sprintf(`{"grant_type":"client_credentials","client_id":%q,"client_secret":%q,"audience":"https://%s/api/v2/"}`, id, secret, mustHost(h.t, h.base)))
	if resp == nil || resp.StatusCode != 200 {
		h.t.Fatalf("token for %s: %s", id, body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal([]byte(body), &tok)
	return tok.AccessToken
}

func (h *httpTenant) do(method, path, body string) (*http.Response, string) {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err.Error()
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

const createBody = `{"connection":"Username-Password-Authentication","email":"%s","password":"Str0ng-Passw0rd"}`

func TestRateLimitHeadersAnd429(t *testing.T) {
	// A frozen clock: no token comes back during the test, however slow the machine.
	frozen := time.Now()
	h := startHTTP(t, Config{RateLimit: RateLimit{PerSecond: 5}, Now: func() time.Time { return frozen }})
	var statuses []int
	var last *http.Response
	var lastBody string
	for range 7 { // the token request took one
		last, lastBody = h.do("GET", "/api/v2/users/auth0%7Cnobody", "")
		statuses = append(statuses, last.StatusCode)
	}
	if statuses[0] == 429 || statuses[len(statuses)-1] != 429 {
		t.Fatalf("statuses = %v: want 404s then 429s", statuses)
	}
	if last.Header.Get("X-Ratelimit-Limit") != "5" || last.Header.Get("X-Ratelimit-Remaining") != "0" || last.Header.Get("X-Ratelimit-Reset") == "" {
		t.Errorf("headers = %v", last.Header)
	}
	var e apiError
	_ = json.Unmarshal([]byte(lastBody), &e)
	if e.StatusCode != 429 || e.ErrorCode != "too_many_requests" {
		t.Errorf("429 body = %s", lastBody)
	}
	if h.Counters()["GET /api/v2/users/{id}"][429] == 0 {
		t.Errorf("counters = %v", h.Counters())
	}
}

func TestLostResponseCommitsTheWrite(t *testing.T) {
	h := startHTTP(t, Config{})
	h.LoseNextResponses("POST /api/v2/users", 1)
	resp, body := h.do("POST", "/api/v2/users", fmt.Sprintf(createBody, "lost@example.com"))
	if resp != nil {
		t.Fatalf("the response arrived: %d %s", resp.StatusCode, body)
	}
	if got := h.UsersByEmail("lost@example.com"); len(got) != 1 {
		t.Fatalf("the write did not commit: %v", got)
	}
	resp, _ = h.do("POST", "/api/v2/users", fmt.Sprintf(createBody, "lost@example.com"))
	if resp.StatusCode != 409 {
		t.Fatalf("retry = %d, want 409", resp.StatusCode)
	}
}

func TestInjectedErrors(t *testing.T) {
	h := startHTTP(t, Config{})
	h.SetFaults(Faults{ErrorRate: 1, ErrorStatus: 503, Routes: []string{"GET /api/v2/users/{id}"}})
	if resp, _ := h.do("GET", "/api/v2/users/auth0%7Cx", ""); resp.StatusCode != 503 {
		t.Fatalf("status = %d, want 503", resp.StatusCode)
	}
	if resp, _ := h.do("GET", "/api/v2/users-by-email?email=x@y.z", ""); resp.StatusCode != 200 {
		t.Fatalf("a route without faults answered %d", resp.StatusCode)
	}
}

func TestSearchIndexLags(t *testing.T) {
	h := startHTTP(t, Config{SearchIndexLag: 300 * time.Millisecond})
	h.do("POST", "/api/v2/users", fmt.Sprintf(createBody, "lag@example.com"))
	_, body := h.do("GET", "/api/v2/users?q="+url.QueryEscape(`email:"lag@example.com"`)+"&search_engine=v3", "")
	if body != "[]\n" {
		t.Fatalf("search before the lag = %s, want []", body)
	}
	if _, body := h.do("GET", "/api/v2/users-by-email?email=lag@example.com", ""); !strings.Contains(body, "lag@example.com") {
		t.Fatalf("users-by-email must not lag: %s", body)
	}
	time.Sleep(350 * time.Millisecond)
	if _, body := h.do("GET", "/api/v2/users?q="+url.QueryEscape(`email:"lag@example.com"`)+"&search_engine=v3", ""); !strings.Contains(body, "lag@example.com") {
		t.Fatalf("search after the lag = %s", body)
	}
}

func TestPagingLimits(t *testing.T) {
	h := startHTTP(t, Config{})
	for _, tc := range []struct {
		name, query string
		status      int
	}{
		{"per_page above 100 is refused", "per_page=101", 400},
		{"the 1000-result window is enforced", "page=10&per_page=100", 400},
		{"the last page of the window is allowed", "page=9&per_page=100", 200},
		{"an unparsable query is refused", "q=" + url.QueryEscape("(email:a"), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp, body := h.do("GET", "/api/v2/users?"+tc.query, ""); resp.StatusCode != tc.status {
				t.Errorf("status = %d (%s), want %d", resp.StatusCode, body, tc.status)
			}
		})
	}
}

func TestAuthErrors(t *testing.T) {
	h := startHTTP(t, Config{})
	h.token = ""
	if resp, _ := h.do("GET", "/api/v2/users", ""); resp.StatusCode != 401 {
		t.Errorf("no token: %d", resp.StatusCode)
	}
	h.token = "not.a.jwt"
	if resp, _ := h.do("GET", "/api/v2/users", ""); resp.StatusCode != 401 {
		t.Errorf("bad token: %d", resp.StatusCode)
	}
}

func TestPerClassRateLimit(t *testing.T) {
	h := startHTTP(t, Config{RateLimit: RateLimit{Classes: map[string]RateLimit{"search": {PerMinute: 2}}}})
	var statuses []int
	for range 3 {
		resp, _ := h.do("GET", "/api/v2/users?q=x", "")
		statuses = append(statuses, resp.StatusCode)
	}
	if statuses[0] != 200 || statuses[1] != 200 || statuses[2] != 429 {
		t.Errorf("search statuses = %v, want 200 200 429", statuses)
	}
	if resp, _ := h.do("GET", "/api/v2/users/auth0%7Cx", ""); resp.StatusCode != 404 {
		t.Errorf("a read outside the class answered %d", resp.StatusCode)
	}
}

func TestLostResponseAs504(t *testing.T) {
	h := startHTTP(t, Config{Faults: Faults{LostAs504: true}})
	h.LoseNextResponses("POST /api/v2/users", 1)
	resp, _ := h.do("POST", "/api/v2/users", fmt.Sprintf(createBody, "gw@example.com"))
	if resp == nil || resp.StatusCode != 504 {
		t.Fatalf("response = %v, want 504", resp)
	}
	if len(h.UsersByEmail("gw@example.com")) != 1 {
		t.Fatal("the write did not commit")
	}
}

func TestFaultsAreDeterministicForASeed(t *testing.T) {
	statuses := func() []int {
		h := startHTTP(t, Config{Faults: Faults{ErrorRate: 0.5, ErrorStatus: 500, Seed: 7}})
		var out []int
		for range 20 {
			resp, _ := h.do("GET", "/api/v2/users/auth0%7Cx", "")
			out = append(out, resp.StatusCode)
		}
		return out
	}
	first, second := statuses(), statuses()
	if fmt.Sprint(first) != fmt.Sprint(second) {
		t.Fatalf("same seed, different faults:\n%v\n%v", first, second)
	}
	if !strings.Contains(fmt.Sprint(first), "500") || !strings.Contains(fmt.Sprint(first), "404") {
		t.Fatalf("a rate of 0.5 gave %v", first)
	}
}

func TestLostResponseRateLosesOnlyWrites(t *testing.T) {
	h := startHTTP(t, Config{Faults: Faults{LostResponseRate: 1}})
	if resp, _ := h.do("GET", "/api/v2/users-by-email?email=x@example.com", ""); resp == nil || resp.StatusCode != 200 {
		t.Fatalf("a read lost its response: %v", resp)
	}
	if resp, _ := h.do("POST", "/api/v2/users", fmt.Sprintf(createBody, "rate@example.com")); resp != nil {
		t.Fatalf("a write kept its response: %d", resp.StatusCode)
	}
	if len(h.UsersByEmail("rate@example.com")) != 1 {
		t.Fatal("the write did not commit")
	}
	if h.Counters()["POST /api/v2/users"][201] != 1 {
		t.Fatalf("the committed write is not counted as answered: %v", h.Counters())
	}
}

func TestLatencyFault(t *testing.T) {
	h := startHTTP(t, Config{Faults: Faults{Latency: 50 * time.Millisecond, Routes: []string{"GET /api/v2/users/{id}"}}})
	start := time.Now()
	h.do("GET", "/api/v2/users/auth0%7Cx", "")
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("answered in %s, want at least 50ms", d)
	}
}
