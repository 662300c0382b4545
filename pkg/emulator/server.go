package emulator

import (
	"bytes"
	"net"
	"net/http"
	"strconv"
	"time"
)

// routes registers every endpoint, each wrapped by the request pipeline: counting, rate limits,
// injected faults, authentication and scope checks. The scopes are those Auth0 documents for
// each endpoint; a token needs any one of them.
func (e *Emulator) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, scopes []string, h http.HandlerFunc) {
		mux.Handle(pattern, e.pipeline(pattern, scopes, h))
	}
	mux.Handle("POST /oauth/token", e.pipeline("POST /oauth/token", nil, e.token))

	handle("POST /api/v2/users", []string{"create:users"}, e.createUser)
	handle("GET /api/v2/users", []string{"read:users"}, e.listUsers)
	handle("GET /api/v2/users/{id}", []string{"read:users"}, e.getUser)
	handle("PATCH /api/v2/users/{id}", []string{"update:users", "update:users_app_metadata"}, e.patchUser)
	handle("DELETE /api/v2/users/{id}", []string{"delete:users"}, e.deleteUser)
	handle("GET /api/v2/users-by-email", []string{"read:users"}, e.usersByEmail)

	handle("GET /api/v2/users/{id}/roles", []string{"read:users", "read:roles"}, e.getUserRoles)
	handle("POST /api/v2/users/{id}/roles", []string{"create:role_members"}, e.assignUserRoles)
	handle("DELETE /api/v2/users/{id}/roles", []string{"delete:role_members"}, e.removeUserRoles)
	handle("GET /api/v2/users/{id}/permissions", []string{"read:users"}, e.getUserPermissions)
	handle("POST /api/v2/users/{id}/permissions", []string{"update:users"}, e.assignUserPermissions)
	handle("DELETE /api/v2/users/{id}/permissions", []string{"update:users"}, e.removeUserPermissions)

	handle("POST /api/v2/roles", []string{"create:roles"}, e.createRole)
	handle("GET /api/v2/roles", []string{"read:roles"}, e.listRoles)
	handle("GET /api/v2/roles/{id}", []string{"read:roles"}, e.getRole)
	handle("PATCH /api/v2/roles/{id}", []string{"update:roles"}, e.updateRole)
	handle("DELETE /api/v2/roles/{id}", []string{"delete:roles"}, e.deleteRole)
	handle("GET /api/v2/roles/{id}/permissions", []string{"read:roles"}, e.getRolePermissions)
	handle("POST /api/v2/roles/{id}/permissions", []string{"update:roles"}, e.addRolePermissions)
	handle("DELETE /api/v2/roles/{id}/permissions", []string{"update:roles"}, e.removeRolePermissions)
	handle("GET /api/v2/roles/{id}/users", []string{"read:role_members"}, e.getRoleUsers)
	handle("POST /api/v2/roles/{id}/users", []string{"create:role_members"}, e.assignRoleUsers)

	handle("POST /api/v2/resource-servers", []string{"create:resource_servers"}, e.createResourceServer)
	handle("GET /api/v2/resource-servers", []string{"read:resource_servers"}, e.listResourceServers)
	handle("GET /api/v2/resource-servers/{id}", []string{"read:resource_servers"}, e.getResourceServer)
	handle("PATCH /api/v2/resource-servers/{id}", []string{"update:resource_servers"}, e.updateResourceServer)
	handle("DELETE /api/v2/resource-servers/{id}", []string{"delete:resource_servers"}, e.deleteResourceServer)

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		e.counters.add("unknown", r, http.StatusNotFound)
		notFound(w, "inexistent_route", "Not Found")
	})
	return mux
}

// pipeline serves one route: it buffers the handler's answer so that a fault can still replace
// or drop it, counts it, logs it (method, path, status, duration: never a query, body or
// header, which may hold emails, passwords or tokens), then sends it.
func (e *Emulator) pipeline(route string, scopes []string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		fault := e.serve(route, scopes, h, rec, r)
		e.counters.add(route, r, rec.status)
		if r.Method != http.MethodGet && rec.status < 300 {
			e.changed()
		}
		if e.cfg.Logf != nil {
			e.cfg.Logf("%s %s %d %s", r.Method, r.URL.EscapedPath(), rec.status, time.Since(start).Round(time.Microsecond))
		}
		if fault.lose && rec.status < 300 {
			if fault.lostAs504 {
				writeError(w, http.StatusGatewayTimeout, "", "Gateway Timeout")
				return
			}
			dropConnection(w)
			return
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
	})
}

// serve runs the checks in Auth0's order (rate limit, then authentication, then the handler)
// with the faults decided for this request, and returns that decision.
func (e *Emulator) serve(route string, scopes []string, h http.HandlerFunc, w *recorder, r *http.Request) faultDecision {
	f := e.faults.decide(route)
	if f.latency > 0 {
		time.Sleep(f.latency)
	}
	rl := e.limiter.Load().take(route)
	w.header.Set("X-Ratelimit-Limit", strconv.Itoa(rl.limit))
	w.header.Set("X-Ratelimit-Remaining", strconv.Itoa(rl.remaining))
	w.header.Set("X-Ratelimit-Reset", strconv.FormatInt(rl.reset, 10))
	if !rl.allowed {
		writeError(w, http.StatusTooManyRequests, "too_many_requests", "Global limit has been reached")
		return faultDecision{}
	}
	if f.status != 0 {
		if f.status == http.StatusTooManyRequests {
			writeError(w, f.status, "too_many_requests", "Global limit has been reached")
		} else {
			writeError(w, f.status, "", http.StatusText(f.status))
		}
		return faultDecision{}
	}
	if scopes != nil {
		var ok bool
		if r, ok = e.authorize(w, r, scopes); !ok {
			return faultDecision{}
		}
	}
	h(w, r)
	return f
}

// recorder buffers a response so that a fault can replace or drop it after the handler ran.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(status int)      { r.status = status }

// dropConnection closes the connection without an answer, with a TCP reset, as a proxy or a
// network failure between Auth0 and the client would.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		w.WriteHeader(http.StatusGatewayTimeout)
		return
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = conn.Close()
	}
}
