package auth0

import (
	"sync"
	"time"
)

// SearchLagAllowance is how long after a write a bulk (search) read of the user is not trusted:
// Auth0's search index lags writes by up to a few seconds, and an older copy would look like
// drift.
const SearchLagAllowance = 10 * time.Second

// Snapshots holds users read in bulk, per tenant client, so that a resync of many users costs a
// users search per 50 of them instead of one read each. Reads by id are consistent; snapshots
// are not trusted right after the operator wrote the user (see SearchLagAllowance).
type Snapshots struct {
	mu     sync.Mutex
	users  map[Client]map[string]snapshot
	writes map[Client]map[string]time.Time
}

type snapshot struct {
	user *User
	at   time.Time
}

// NewSnapshots makes an empty Snapshots.
func NewSnapshots() *Snapshots {
	return &Snapshots{users: map[Client]map[string]snapshot{}, writes: map[Client]map[string]time.Time{}}
}

// Put records users read in bulk at time at.
func (s *Snapshots) Put(c Client, users map[string]*User, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users[c] == nil {
		s.users[c] = map[string]snapshot{}
	}
	for id, u := range users {
		s.users[c][id] = snapshot{user: u, at: at}
	}
}

// Get returns a snapshot of the user no older than maxAge and taken long enough after the
// operator's last write of it; false means: read it by id.
func (s *Snapshots) Get(c Client, id string, maxAge time.Duration, now time.Time) (*User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap, ok := s.users[c][id]
	if !ok || now.Sub(snap.at) > maxAge {
		return nil, false
	}
	if wrote, ok := s.writes[c][id]; ok && snap.at.Before(wrote.Add(SearchLagAllowance)) {
		return nil, false
	}
	return snap.user, true
}

// Wrote records that the operator changed the user, which makes older snapshots stale.
func (s *Snapshots) Wrote(c Client, id string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writes[c] == nil {
		s.writes[c] = map[string]time.Time{}
	}
	s.writes[c][id] = at
	delete(s.users[c], id)
}

// Forget drops what is known of a user (deleted, or no longer managed).
func (s *Snapshots) Forget(c Client, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.users[c], id)
	delete(s.writes[c], id)
}
