package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"
)

// snapshot is the state file's format. Passwords are not written: a restarted tenant keeps its
// users, roles, grants and APIs, and nothing secret lands on disk.
type snapshot struct {
	Connections []Connection               `json:"connections"`
	Users       []*persistedUser           `json:"users"`
	Roles       []persistedRole            `json:"roles"`
	APIs        []*resourceServer          `json:"resourceServers"`
	UserRoles   map[string][]string        `json:"userRoles"`
	UserPerms   map[string][]permissionRef `json:"userPermissions"`
}

// persistedUser embeds user by value: encoding/json cannot allocate an embedded pointer to an
// unexported type when decoding.
type persistedUser struct {
	user
	Connection string `json:"connection"`
}

type persistedRole struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Permissions []permissionRef `json:"permissions"`
}

func (e *Emulator) save(path string) error {
	e.mu.Lock()
	snap := snapshot{UserRoles: map[string][]string{}, UserPerms: map[string][]permissionRef{}}
	for _, c := range e.st.connections {
		snap.Connections = append(snap.Connections, c)
	}
	for _, u := range e.st.users {
		snap.Users = append(snap.Users, &persistedUser{user: *u, Connection: u.Connection})
	}
	for _, r := range e.st.roles {
		snap.Roles = append(snap.Roles, persistedRole{ID: r.ID, Name: r.Name, Description: r.Description, Permissions: r.permissions})
	}
	for _, a := range e.st.apis {
		snap.APIs = append(snap.APIs, a)
	}
	for uid, roles := range e.st.userRoles {
		for rid := range roles {
			snap.UserRoles[uid] = append(snap.UserRoles[uid], rid)
		}
	}
	for uid, perms := range e.st.userPerms {
		for p := range perms {
			snap.UserPerms[uid] = append(snap.UserPerms[uid], p)
		}
	}
	raw, err := json.Marshal(snap)
	e.mu.Unlock()
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return fmt.Errorf("cannot write state: %w", err)
	}
	return os.Rename(tmp, path)
}

func (e *Emulator) load(path string) error {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot read state: %w", err)
	}
	var snap snapshot
	if err := json.Unmarshal(raw, &snap); err != nil {
		return fmt.Errorf("cannot parse state %s: %w", path, err)
	}
	now := e.cfg.Now()
	for _, c := range snap.Connections {
		e.st.connections[c.Name] = c
	}
	for _, pu := range snap.Users {
		u := &pu.user
		u.Connection = pu.Connection
		e.st.users[u.UserID] = u
		e.st.indexEmail(u)
		e.st.recordForSearch(u.UserID, u, now, 0)
	}
	for _, r := range snap.Roles {
		e.st.roles[r.ID] = &role{ID: r.ID, Name: r.Name, Description: r.Description, permissions: r.Permissions}
	}
	for _, a := range snap.APIs {
		e.st.apis[a.ID] = a
	}
	for uid, roles := range snap.UserRoles {
		for _, rid := range roles {
			e.grantRole(uid, rid)
		}
	}
	for uid, perms := range snap.UserPerms {
		e.st.userPerms[uid] = map[permissionRef]bool{}
		for _, p := range perms {
			e.st.userPerms[uid][p] = true
		}
	}
	return nil
}

// saveDebounce gathers the writes of a burst into one save of the state file.
const saveDebounce = 500 * time.Millisecond

// stateSaver writes the state file in the background, shortly after changes, so that a tenant
// survives a crash of the standalone emulator and not only a clean Close.
type stateSaver struct {
	save     func() error
	logf     func(string, ...any)
	dirty    chan struct{}
	done     chan struct{}
	stopped  chan struct{}
	stopOnce sync.Once
}

func startSaver(save func() error, logf func(string, ...any)) *stateSaver {
	s := &stateSaver{save: save, logf: logf, dirty: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
	go s.loop()
	return s
}

func (s *stateSaver) loop() {
	defer close(s.stopped)
	for {
		select {
		case <-s.done:
			return
		case <-s.dirty:
		}
		select {
		case <-s.done:
			return // stop saves anyway
		case <-time.After(saveDebounce):
		}
		if err := s.save(); err != nil && s.logf != nil {
			s.logf("auth0-emulator: %v", err)
		}
	}
}

// markDirty asks for a save soon; it never blocks.
func (s *stateSaver) markDirty() {
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

// stop ends the loop and saves a last time.
func (s *stateSaver) stop() error {
	var err error
	s.stopOnce.Do(func() {
		close(s.done)
		<-s.stopped
		err = s.save()
	})
	return err
}

// changed notes that the tenant changed, for the state file.
func (e *Emulator) changed() {
	if e.saver != nil {
		e.saver.markDirty()
	}
}
