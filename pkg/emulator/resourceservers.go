package emulator

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
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

// knownResourceServerFields are the body fields kept in typed fields rather than Settings.
var knownResourceServerFields = map[string]bool{"id": true, "name": true, "identifier": true, "scopes": true, "signing_alg": true, "token_lifetime": true}

func decodeResourceServer(r *http.Request) (resourceServerBody, map[string]any, error) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return resourceServerBody{}, nil, err
	}
	var b resourceServerBody
	var all map[string]any
	if err := json.Unmarshal(raw, &b); err != nil {
		return b, nil, err
	}
	_ = json.Unmarshal(raw, &all)
	for k := range all {
		if knownResourceServerFields[k] {
			delete(all, k)
		}
	}
	return b, all, nil
}

func (e *Emulator) createResourceServer(w http.ResponseWriter, r *http.Request) {
	b, settings, err := decodeResourceServer(r)
	if err != nil || b.Identifier == nil || *b.Identifier == "" {
		badRequest(w, "Payload validation error: 'Missing required property: identifier'.")
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.apiByIdentifier(*b.Identifier) != nil {
		writeError(w, http.StatusConflict, "", "A resource server with the same identifier already exists")
		return
	}
	rs := &resourceServer{ID: randomHex(12), Identifier: *b.Identifier, Name: deref(b.Name), SigningAlg: "RS256", TokenLife: 86400, Scopes: []scope{}, Settings: resourceServerDefaults()}
	applyResourceServer(rs, b, settings)
	e.st.apis[rs.ID] = rs
	writeJSON(w, http.StatusCreated, rs.view())
}

func applyResourceServer(rs *resourceServer, b resourceServerBody, settings map[string]any) {
	for k, v := range settings {
		rs.Settings[k] = v
	}
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
	pg, ok := offsetPage(w, q)
	if !ok {
		return
	}
	e.mu.Lock()
	var list []*resourceServer
	for _, rs := range e.st.apis {
		list = append(list, rs)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Identifier < list[j].Identifier })
	identifiers := q["identifiers"]
	fields, include := fieldSelection(r)
	all := make([]map[string]any, 0, len(list))
	for _, rs := range list {
		if len(identifiers) > 0 && !slices.Contains(identifiers, rs.Identifier) {
			continue
		}
		all = append(all, selectFields(rs.view(), fields, include))
	}
	e.mu.Unlock()
	writePage(w, pg, "resource_servers", all)
}

func (e *Emulator) getResourceServer(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if rs := e.apiByIDOrIdentifier(w, r); rs != nil {
		writeJSON(w, http.StatusOK, rs.view())
	}
}

func (e *Emulator) updateResourceServer(w http.ResponseWriter, r *http.Request) {
	b, settings, err := decodeResourceServer(r)
	if err != nil {
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
		applyResourceServer(rs, b, settings)
		writeJSON(w, http.StatusOK, rs.view())
	}
}

// deleteResourceServer answers 204 whether or not the API existed, as Auth0 does.
func (e *Emulator) deleteResourceServer(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := r.PathValue("id")
	if rs := e.apiByIdentifier(id); rs != nil {
		id = rs.ID
	}
	delete(e.st.apis, id)
	w.WriteHeader(http.StatusNoContent)
}
