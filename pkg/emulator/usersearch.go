package emulator

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
)

func (e *Emulator) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if engine := q.Get("search_engine"); engine != "" && engine != "v3" {
		badRequest(w, "Query validation error: 'Invalid value \""+engine+"\"' on property search_engine. Only v3 is supported by this tenant.")
		return
	}
	pg, ok := offsetPage(w, q)
	if !ok {
		return
	}
	if (pg.page+1)*pg.perPage > 1000 {
		badRequest(w, "You can only page through the first 1000 records. See https://auth0.com/docs/users/search/v3/view-search-results-by-page#limitation")
		return
	}
	var query node
	if s := q.Get("q"); s != "" {
		var err error
		if query, err = ParseQuery(s); err != nil {
			badRequest(w, fmt.Sprintf("Query validation error: %v", err))
			return
		}
	}
	fields, include := fieldSelection(r)
	e.mu.Lock()
	matches := e.search(query)
	if s := q.Get("sort"); s != "" {
		field, dir, _ := strings.Cut(s, ":")
		matches = sortUsers(matches, field, dir == "-1")
	}
	total := len(matches)
	start := min(pg.page*pg.perPage, total)
	end := min(start+pg.perPage, total)
	views := make([]any, 0, end-start)
	for _, u := range matches[start:end] {
		views = append(views, u.render(fields, include))
	}
	// The matches are the search index's snapshots, never modified: they are encoded unlocked.
	e.mu.Unlock()
	if pg.totals {
		writeJSON(w, http.StatusOK, map[string]any{"start": start, "limit": pg.perPage, "length": len(views), "total": total, "users": views})
		return
	}
	writeJSON(w, http.StatusOK, views)
}

// search returns the users the (lagging) index matches, sorted by user id. A query that only
// names user ids is answered from the index by id instead of a scan.
func (e *Emulator) search(query node) []*user {
	now := e.cfg.Now()
	if ids, ok := onlyUserIDs(query); ok {
		var out []*user
		for _, id := range ids {
			if u := e.st.visible(id, now); u != nil {
				out = append(out, u)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
		return out
	}
	if email, ok := onlyEmail(query); ok {
		// An exact email is answered from the email index, subject to the same lag. Unlike
		// users-by-email, search v3 matches email without case: Auth0's query syntax documents
		// "Search values for the normalized user fields (email, name, given_name, family_name,
		// and nickname) are case insensitive", so email:"Alice@Example.com" finds the stored
		// alice@example.com, and a social user's Alice@Example.com from alice@example.com.
		var out []*user
		for _, id := range e.st.byEmailAll(email, e.cfg.SearchIndexLag) {
			if u := e.st.visible(id, now); u != nil && strings.EqualFold(u.Email, email) {
				out = append(out, u)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
		return out
	}
	var out []*user
	for _, u := range e.st.searchable(now) {
		if query == nil || query.match(u) {
			out = append(out, u)
		}
	}
	return out
}

// sortUsers orders users by a field's value as text (missing values first), keeping the user
// id order among equals. The keys are computed once: a comparator formatting values would
// dominate a sort of a large tenant.
func sortUsers(users []*user, field string, descending bool) []*user {
	type keyed struct {
		key string
		u   *user
	}
	ks := make([]keyed, len(users))
	for i, u := range users {
		ks[i] = keyed{u: u}
		if v := fieldValue(u, field); v != nil {
			ks[i].key = fmt.Sprint(v)
		}
	}
	sort.SliceStable(ks, func(i, j int) bool {
		if descending {
			return ks[i].key > ks[j].key
		}
		return ks[i].key < ks[j].key
	})
	out := make([]*user, len(ks))
	for i := range ks {
		out[i] = ks[i].u
	}
	return out
}
