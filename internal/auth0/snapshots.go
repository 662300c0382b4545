package auth0

import (
	"encoding/json"
	"sync"
	"time"
)

// SearchLagAllowance is how far behind the writes Auth0's search index may be: a users search
// started at t is taken to show every change made before t minus this, and nothing after.
const SearchLagAllowance = 10 * time.Second

// Snapshots is what the operator knows of the current state of each user it manages, per tenant
// client: the copy it last read or wrote. The user observer keeps it current by searching the
// users changed since its last look, so that a reconcile compares against a snapshot instead of
// reading the user, and a watched tenant costs a few calls per interval whatever its size.
//
// A copy replaces another only if Auth0 changed the user after it (UpdatedAt): the search index
// lags the writes, and its older copy of a user the operator has just written must neither
// replace the write's answer nor look like drift.
type Snapshots struct {
	// managed tells the users the observer counts (those carrying this cluster's owner marker),
	// so that Expected compares with the count of that search.
	managed func(*User) bool

	mu      sync.Mutex
	tenants map[Client]*tenantSnapshots
}

type tenantSnapshots struct {
	users map[string]*snapshot
	// current is the time up to which every change of the tenant's managed users has been
	// seen (the last observation's start, less the index lag); zero before the first one.
	current time.Time
}

type snapshot struct {
	// copy is the last copy as JSON, nil when its state is unknown (a write whose answer was
	// lost): a third of the memory of the User it encodes (maps, one string per field), which
	// at 10,000 users is some 10 MB of the manager's heap. updated is the copy's UpdatedAt.
	copy    []byte
	updated time.Time
	// at is when the copy was read or written; learned when the operator first knew the
	// user to exist and be managed, which decides whether the count should include it yet.
	at, learned time.Time
}

// set keeps u (nil: unknown) as the copy. A user that cannot be encoded is left unknown, to be
// read again.
func (snap *snapshot) set(u *User) {
	snap.copy = nil
	if u == nil {
		return
	}
	if raw, err := json.Marshal(compact(u)); err == nil {
		snap.copy, snap.updated = raw, u.UpdatedAt
	}
}

// user decodes the copy: a User of the caller's own.
func (snap *snapshot) user() (*User, bool) {
	if snap.copy == nil {
		return nil, false
	}
	var c compactUser
	if err := json.Unmarshal(snap.copy, &c); err != nil {
		return nil, false
	}
	return c.user(), true
}

// compactUser is a User as a snapshot encodes it: short names, empty fields left out (half the
// bytes of User's own encoding). TestCompactUserKeepsEveryField fails when User gains a field
// this does not carry.
type compactUser struct {
	ID            string            `json:"i"`
	Connection    string            `json:"c,omitempty"`
	Email         string            `json:"e,omitempty"`
	Username      string            `json:"u,omitempty"`
	PhoneNumber   string            `json:"p,omitempty"`
	Name          string            `json:"n,omitempty"`
	GivenName     string            `json:"g,omitempty"`
	FamilyName    string            `json:"f,omitempty"`
	Nickname      string            `json:"k,omitempty"`
	Picture       string            `json:"x,omitempty"`
	EmailVerified *bool             `json:"v,omitempty"`
	Blocked       *bool             `json:"b,omitempty"`
	UserMetadata  map[string]any    `json:"um,omitempty"`
	AppMetadata   map[string]any    `json:"am,omitempty"`
	Identities    []compactIdentity `json:"id,omitempty"`
	UpdatedAt     time.Time         `json:"t"`
}

type compactIdentity struct {
	Connection string `json:"c,omitempty"`
	Provider   string `json:"p,omitempty"`
	IsSocial   bool   `json:"s,omitempty"`
}

func compact(u *User) compactUser {
	c := compactUser{ID: u.ID, Connection: u.Connection, Email: u.Email, Username: u.Username, PhoneNumber: u.PhoneNumber,
		Name: u.Name, GivenName: u.GivenName, FamilyName: u.FamilyName, Nickname: u.Nickname, Picture: u.Picture,
		EmailVerified: u.EmailVerified, Blocked: u.Blocked, UserMetadata: u.UserMetadata, AppMetadata: u.AppMetadata, UpdatedAt: u.UpdatedAt}
	for _, id := range u.Identities {
		c.Identities = append(c.Identities, compactIdentity(id))
	}
	return c
}

func (c compactUser) user() *User {
	u := &User{ID: c.ID, Connection: c.Connection, Profile: Profile{Email: c.Email, Username: c.Username, PhoneNumber: c.PhoneNumber,
		Name: c.Name, GivenName: c.GivenName, FamilyName: c.FamilyName, Nickname: c.Nickname, Picture: c.Picture,
		EmailVerified: c.EmailVerified, Blocked: c.Blocked}, UserMetadata: c.UserMetadata, AppMetadata: c.AppMetadata, UpdatedAt: c.UpdatedAt}
	for _, id := range c.Identities {
		u.Identities = append(u.Identities, Identity(id))
	}
	return u
}

// NewSnapshots makes an empty Snapshots; managed tells which users the observer's count covers.
func NewSnapshots(managed func(*User) bool) *Snapshots {
	return &Snapshots{managed: managed, tenants: map[Client]*tenantSnapshots{}}
}

func (s *Snapshots) tenant(c Client) *tenantSnapshots {
	t := s.tenants[c]
	if t == nil {
		t = &tenantSnapshots{users: map[string]*snapshot{}}
		s.tenants[c] = t
	}
	return t
}

// Get returns the user's last copy if it is known to be current within maxAge: read or written
// since, or unchanged in every observation since.
func (s *Snapshots) Get(c Client, id string, maxAge time.Duration, now time.Time) (*User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenants[c]
	if t == nil {
		return nil, false
	}
	snap := t.users[id]
	if snap == nil || now.Sub(t.validSince(snap)) > maxAge {
		return nil, false
	}
	return snap.user()
}

// Has reports whether the user's copy is known to be current within maxAge, as Get would, without
// decoding it.
func (s *Snapshots) Has(c Client, id string, maxAge time.Duration, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenants[c]
	if t == nil {
		return false
	}
	snap := t.users[id]
	return snap != nil && snap.copy != nil && now.Sub(t.validSince(snap)) <= maxAge
}

func (t *tenantSnapshots) validSince(snap *snapshot) time.Time {
	if t.current.After(snap.at) {
		return t.current
	}
	return snap.at
}

// Wrote records the user as the operator read it by id or as Auth0 answered a write of it, at
// time at; nil (the answer of a write was lost) makes its state unknown until read again.
func (s *Snapshots) Wrote(c Client, id string, u *User, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant(c)
	snap := t.users[id]
	if u != nil && !s.managed(u) {
		delete(t.users, id) // not this cluster's (yet, or any more): not in the count
		return
	}
	if snap == nil {
		snap = &snapshot{learned: at}
		t.users[id] = snap
	}
	snap.set(u)
	snap.at = at
}

// Observed merges users found by a search started at at, and returns the ids of those that
// changed since the copy held (or were not known): the ones to look at again. A user is learned
// only if its id is wanted (one an object names: a user whose object is gone, or is going, is
// not brought back by a lagging index); one already known is kept current either way, as the
// objects' view may lag the operator's own writes. A copy older than the one held is ignored.
func (s *Snapshots) Observed(c Client, users []*User, at time.Time, wanted func(id string) bool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant(c)
	var changed []string
	for _, u := range users {
		snap := t.users[u.ID]
		if snap == nil && !wanted(u.ID) {
			continue
		}
		if !s.managed(u) {
			if snap != nil {
				delete(t.users, u.ID) // its marker was taken away: the owner must look
				changed = append(changed, u.ID)
			}
			continue
		}
		switch {
		case snap == nil:
			snap = &snapshot{at: at, learned: at}
			snap.set(u)
			t.users[u.ID] = snap
		case snap.copy != nil && !u.UpdatedAt.After(snap.updated):
			continue // the copy held, or an older one
		default:
			snap.set(u)
			snap.at = at
		}
		changed = append(changed, u.ID)
	}
	return changed
}

// Swept merges a full read of the users ids started at at (found holds those the search
// returned) and returns the ids that changed or are gone. An id absent from the search is gone
// only if the operator knew it from before the index lag (lag); a newer one may not be indexed
// yet. A user is never dropped for not being wanted: the objects' view (the informer cache) lags
// the operator's own writes, and a user created a moment ago may not be named yet by the
// object that created it. The users of deleted objects are forgotten with them (Forget); any
// other known user is read by the full read (see Known) and kept while it exists and carries
// the marker, as it is then in the count too.
func (s *Snapshots) Swept(c Client, ids []string, found map[string]*User, at time.Time, lag time.Duration, wanted func(id string) bool) []string {
	var list []*User
	var gone []string
	s.mu.Lock()
	t := s.tenant(c)
	for _, id := range ids {
		if u := found[id]; u != nil {
			list = append(list, u)
			continue
		}
		if snap := t.users[id]; snap == nil || snap.learned.Before(at.Add(-lag)) {
			delete(t.users, id)
			gone = append(gone, id)
		}
	}
	s.mu.Unlock()
	return append(s.Observed(c, list, at, wanted), gone...)
}

// Known returns the ids of the tenant's users the operator holds a copy of, or knows to exist
// with its state unknown.
func (s *Snapshots) Known(c Client) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenants[c]
	if t == nil {
		return nil
	}
	ids := make([]string, 0, len(t.users))
	for id := range t.users {
		ids = append(ids, id)
	}
	return ids
}

// Current records that every change made to the tenant's users before at has been seen.
func (s *Snapshots) Current(c Client, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tenant(c); at.After(t.current) {
		t.current = at
	}
}

// Expected is the number of managed users the operator knew of before the time before: a count
// of the managed users taken by a search started after it should be at least this, unless some
// were deleted (or lost their marker) in Auth0. Users of deleted objects are forgotten with
// them (Forget), and users gone from Auth0 at the next full read (Swept); users created a moment
// ago whose object does not name them yet count, as the search does.
func (s *Snapshots) Expected(c Client, before time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, snap := range s.tenant(c).users {
		if !snap.learned.After(before) {
			n++
		}
	}
	return n
}

// Forget drops what is known of a user (deleted, or released by the operator).
func (s *Snapshots) Forget(c Client, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tenants[c]; t != nil {
		delete(t.users, id)
	}
}
