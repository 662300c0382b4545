package emulator

import (
	"encoding/json"
	"net/http"
	"sort"
)

func (e *Emulator) apiByIdentifier(identifier string) *resourceServer {
	for _, rs := range e.st.apis {
		if rs.Identifier == identifier {
			return rs
		}
	}
	return nil
}

// apiByIDOrIdentifier resolves the path parameter, which Auth0 accepts as either.
func (e *Emulator) apiByIDOrIdentifier(w http.ResponseWriter, r *http.Request) *resourceServer {
	id := r.PathValue("id")
	if rs, ok := e.st.apis[id]; ok {
		return rs
	}
	if rs := e.apiByIdentifier(id); rs != nil {
		return rs
	}
	notFound(w, "inexistent_resource_server", "The resource server does not exist")
	return nil
}

type resourceServerBody struct {
	Name       *string  `json:"name"`
	Identifier *string  `json:"identifier"`
	Scopes     *[]scope `json:"scopes"`
	SigningAlg *string  `json:"signing_alg"`
	TokenLife  *int     `json:"token_lifetime"`
}

func (e *Emulator) createResourceServer(w http.ResponseWriter, r *http.Request) {
	var b resourceServerBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil || b.Identifier == nil || *b.Identifier == "" {
		badRequest(w, "Payload validation error: 'Missing required property: identifier'.")
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.apiByIdentifier(*b.Identifier) != nil {
		writeError(w, http.StatusConflict, "", "A resource server with the same identifier already exists")
		return
	}
	rs := &resourceServer{ID: randomHex(12), Identifier: *b.Identifier, Name: deref(b.Name), SigningAlg: "RS256", TokenLife: 86400, Scopes: []scope{}}
	applyResourceServer(rs, b)
	e.st.apis[rs.ID] = rs
	writeJSON(w, http.StatusCreated, rs)
}

func applyResourceServer(rs *resourceServer, b resourceServerBody) {
	setString(&rs.Name, b.Name)
	setString(&rs.SigningAlg, b.SigningAlg)
	if b.Scopes != nil {
		rs.Scopes = append([]scope{}, *b.Scopes...)
	}
	if b.TokenLife != nil {
		rs.TokenLife = *b.TokenLife
	}
}

func (e *Emulator) listResourceServers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, perPage, msg := paging(q.Get("page"), q.Get("per_page"), 50)
	if msg != "" {
		badRequest(w, msg)
		return
	}
	e.mu.Lock()
	var list []*resourceServer
	for _, rs := range e.st.apis {
		list = append(list, rs)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Identifier < list[j].Identifier })
	all := make([]map[string]any, 0, len(list))
	for _, rs := range list {
		raw, _ := json.Marshal(rs)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		all = append(all, m)
	}
	e.mu.Unlock()
	writePage(w, q.Get("include_totals") == "true", "resource_servers", all, page, perPage)
}

func (e *Emulator) getResourceServer(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if rs := e.apiByIDOrIdentifier(w, r); rs != nil {
		writeJSON(w, http.StatusOK, rs)
	}
}

func (e *Emulator) updateResourceServer(w http.ResponseWriter, r *http.Request) {
	var b resourceServerBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		badRequest(w, "Payload validation error: 'Invalid JSON'.")
		return
	}
	if b.Identifier != nil {
		badRequest(w, "Payload validation error: 'Additional properties not allowed: identifier'.")
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if rs := e.apiByIDOrIdentifier(w, r); rs != nil {
		applyResourceServer(rs, b)
		writeJSON(w, http.StatusOK, rs)
	}
}

func (e *Emulator) deleteResourceServer(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if rs := e.apiByIDOrIdentifier(w, r); rs != nil {
		delete(e.st.apis, rs.ID)
		w.WriteHeader(http.StatusNoContent)
	}
}
