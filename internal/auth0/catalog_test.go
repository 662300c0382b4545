package auth0

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// catalogClock is a settable clock for the miss throttling.
type catalogClock struct {
	mu sync.Mutex
	t  time.Time
}

func newCatalogClock() *catalogClock {
	return &catalogClock{t: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *catalogClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *catalogClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// catalogRoles is a fake tenant whose roles can change, counting the lists.
type catalogRoles struct {
	mu    sync.Mutex
	roles []Role
	lists atomic.Int32
}

func (rt *catalogRoles) set(roles ...Role) {
	rt.mu.Lock()
	rt.roles = append([]Role(nil), roles...)
	rt.mu.Unlock()
}

func (rt *catalogRoles) client() *Fake {
	return &Fake{ListRolesFunc: func(context.Context) ([]Role, error) {
		rt.lists.Add(1)
		rt.mu.Lock()
		defer rt.mu.Unlock()
		return append([]Role(nil), rt.roles...), nil
	}}
}

func newTestCatalog() (*Catalog, *catalogClock) {
	clock := newCatalogClock()
	return NewCatalogWithClock(clock.Now), clock
}

var (
	roleAdmin  = Role{ID: "rol_admin", Name: "admin"}
	roleViewer = Role{ID: "rol_viewer", Name: "viewer"}
)

func TestCatalogRoleIDResolvesReferences(t *testing.T) {
	tests := []struct {
		name      string
		roleName  string
		roleID    string
		want      string
		wantLists int32
	}{
		{"a name resolves to its role's id", "admin", "", "rol_admin", 1},
		{"an id that exists resolves to itself", "", "rol_viewer", "rol_viewer", 1},
		{"an id wins over a name given with it", "admin", "rol_viewer", "rol_viewer", 1},
		{"an unknown name resolves to nothing", "editor", "", "", 1},
		{"an unknown id resolves to nothing", "", "rol_gone", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := &catalogRoles{}
			rt.set(roleAdmin, roleViewer)
			c, _ := newTestCatalog()
			client := rt.client()
			for i := range 3 { // the answer is the same, and only the first lookup lists
				got, err := c.RoleID(context.Background(), client, tt.roleName, tt.roleID)
				if err != nil {
					t.Fatalf("lookup %d: %v", i, err)
				}
				if got != tt.want {
					t.Fatalf("lookup %d: RoleID = %q, want %q", i, got, tt.want)
				}
			}
			if n := rt.lists.Load(); n != tt.wantLists {
				t.Errorf("ListRoles called %d times, want %d", n, tt.wantLists)
			}
		})
	}
}

func TestCatalogRoleMissRefreshesAtMostOncePerInterval(t *testing.T) {
	rt := &catalogRoles{}
	rt.set(roleAdmin)
	c, clock := newTestCatalog()
	client := rt.client()
	steps := []struct {
		name      string
		before    func()
		roleName  string
		want      string
		wantLists int32
	}{
		{"a role never looked for lists at once", nil, "editor", "", 1},
		{"a second miss within the interval costs no call", func() { clock.Advance(RoleMissRefresh / 2) }, "editor", "", 1},
		{"a known role costs no call", nil, "admin", "rol_admin", 1},
		{"another reference never looked for lists at once", nil, "viewer", "", 2},
		{"a role created meanwhile is not seen within the interval", func() { rt.set(roleAdmin, Role{ID: "rol_editor", Name: "editor"}) }, "editor", "", 2},
		{"after the interval the miss lists again and finds it", func() { clock.Advance(RoleMissRefresh/2 + time.Millisecond) }, "editor", "rol_editor", 3},
		{"a found role stays found without a call", func() { clock.Advance(time.Hour) }, "editor", "rol_editor", 3},
		{"a role created later is found on its first miss", func() { rt.set(roleAdmin, Role{ID: "rol_editor", Name: "editor"}, Role{ID: "rol_ops", Name: "ops"}) }, "ops", "rol_ops", 4},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		got, err := c.RoleID(context.Background(), client, st.roleName, "")
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got != st.want {
			t.Errorf("%s: RoleID(%q) = %q, want %q", st.name, st.roleName, got, st.want)
		}
		if n := rt.lists.Load(); n != st.wantLists {
			t.Errorf("%s: ListRoles called %d times in all, want %d", st.name, n, st.wantLists)
		}
	}
}

func TestCatalogRoleIDListErrors(t *testing.T) {
	boom := &Error{StatusCode: 503, Message: "unavailable"}
	var calls atomic.Int32
	client := &Fake{ListRolesFunc: func(context.Context) ([]Role, error) {
		if calls.Add(1) == 1 {
			return nil, boom
		}
		return []Role{roleAdmin}, nil
	}}
	c, _ := newTestCatalog()
	_, err := c.RoleID(context.Background(), client, "admin", "")
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "cannot list roles: ") {
		t.Fatalf("RoleID error = %v, want it to wrap %v with context", err, boom)
	}
	// A failed list is not a miss: the next lookup lists again at once.
	got, err := c.RoleID(context.Background(), client, "admin", "")
	if err != nil || got != "rol_admin" {
		t.Fatalf("RoleID after a failure = %q, %v; want rol_admin", got, err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("ListRoles called %d times, want 2", n)
	}
}

// catalogBlockingRoles answers ListRoles only when release is closed, signalling started on each call.
type catalogBlockingRoles struct {
	mu      sync.Mutex
	roles   []Role
	lists   atomic.Int32
	started chan struct{}
	release chan struct{}
}

func newCatalogBlockingRoles(roles ...Role) *catalogBlockingRoles {
	return &catalogBlockingRoles{roles: roles, started: make(chan struct{}, 100), release: make(chan struct{})}
}

func (bt *catalogBlockingRoles) client() *Fake {
	return &Fake{ListRolesFunc: func(ctx context.Context) ([]Role, error) {
		bt.lists.Add(1)
		bt.mu.Lock()
		roles := slices.Clone(bt.roles) // the tenant as it was when the list began
		bt.mu.Unlock()
		bt.started <- struct{}{}
		select {
		case <-bt.release:
			return roles, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}}
}

// add creates a role in the tenant; lists begun before do not show it.
func (bt *catalogBlockingRoles) add(r Role) {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	bt.roles = append(bt.roles, r)
}

func catalogWait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestCatalogConcurrentMissesShareOneList: 50 concurrent misses on one tenant cost at most two
// lists, the one under way and one begun after every miss.
func TestCatalogConcurrentMissesShareOneList(t *testing.T) {
	tests := []struct {
		name string
		refs [][2]string // name, id
		want []string
	}{
		{"misses on one role share one list", [][2]string{{"admin", ""}}, []string{"rol_admin"}},
		{"misses on a role that does not exist share one list", [][2]string{{"editor", ""}}, []string{""}},
		{"misses on different roles of one tenant share one list", [][2]string{{"admin", ""}, {"", "rol_viewer"}, {"viewer", ""}}, []string{"rol_admin", "rol_viewer", "rol_viewer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bt := newCatalogBlockingRoles(roleAdmin, roleViewer)
			client := bt.client()
			c, _ := newTestCatalog()
			const n = 50
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				ref, want := tt.refs[i%len(tt.refs)], tt.want[i%len(tt.refs)]
				wg.Add(1)
				go func() {
					defer wg.Done()
					got, err := c.RoleID(context.Background(), client, ref[0], ref[1])
					if err == nil && got != want {
						err = errors.New("RoleID(" + ref[0] + ref[1] + ") = " + got + ", want " + want)
					}
					errs <- err
				}()
			}
			catalogWait(t, bt.started, "the first list")
			time.Sleep(50 * time.Millisecond) // let the other lookups miss and queue up
			close(bt.release)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			// The misses that queued up while the first list was under way may predate a role
			// it cannot show; they share one more list, begun after all of them.
			if got := bt.lists.Load(); got < 1 || got > 2 {
				t.Errorf("ListRoles called %d times, want the first list and at most one shared after it", got)
			}
		})
	}
}

func TestCatalogSlowTenantDoesNotBlockOthers(t *testing.T) {
	slow := newCatalogBlockingRoles(roleAdmin)
	slowClient := slow.client()
	fast := &catalogRoles{}
	fast.set(roleViewer)
	fastClient := fast.client()
	fastClient.GetResourceServerFunc = func(context.Context, string) (*ResourceServer, error) {
		return &ResourceServer{Identifier: "https://api", Scopes: []string{"read"}}, nil
	}
	c, _ := newTestCatalog()

	slowDone := make(chan error, 1)
	go func() {
		_, err := c.RoleID(context.Background(), slowClient, "admin", "")
		slowDone <- err
	}()
	catalogWait(t, slow.started, "the slow tenant's list")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if got, err := c.RoleID(ctx, fastClient, "viewer", ""); err != nil || got != "rol_viewer" {
		t.Fatalf("other tenant's RoleID = %q, %v while the slow tenant lists; want rol_viewer", got, err)
	}
	if ok, err := c.PermissionExists(ctx, fastClient, "https://api", "read"); err != nil || !ok {
		t.Fatalf("other tenant's PermissionExists = %v, %v while the slow tenant lists; want true", ok, err)
	}

	// A lookup waiting on the slow tenant gives up with its own context.
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	if _, err := c.RoleID(short, slowClient, "admin", ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting lookup error = %v, want context.DeadlineExceeded", err)
	}

	close(slow.release)
	if err := <-slowDone; err != nil {
		t.Fatalf("slow tenant's RoleID: %v", err)
	}
	if got := slow.lists.Load(); got != 1 {
		t.Errorf("slow tenant listed %d times, want 1", got)
	}
}

func TestCatalogAbandonedListIsNotSharedAsAFailure(t *testing.T) {
	bt := newCatalogBlockingRoles(roleAdmin)
	var calls atomic.Int32
	blocking := bt.client()
	client := &Fake{ListRolesFunc: func(ctx context.Context) ([]Role, error) {
		if calls.Add(1) == 1 {
			return blocking.ListRoles(ctx) // blocks until its caller gives up
		}
		return []Role{roleAdmin}, nil
	}}
	c, _ := newTestCatalog()

	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leaderDone := make(chan error, 1)
	go func() {
		_, err := c.RoleID(leaderCtx, client, "admin", "")
		leaderDone <- err
	}()
	catalogWait(t, bt.started, "the first list")
	waiterDone := make(chan string, 1)
	go func() {
		got, err := c.RoleID(context.Background(), client, "admin", "")
		if err != nil {
			got = "error: " + err.Error()
		}
		waiterDone <- got
	}()
	time.Sleep(20 * time.Millisecond) // let the waiter queue behind the first list
	cancelLeader()
	if err := <-leaderDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader error = %v, want context.Canceled", err)
	}
	if got := <-waiterDone; got != "rol_admin" {
		t.Fatalf("waiter got %q, want rol_admin from a list of its own", got)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("ListRoles called %d times, want 2", n)
	}
}

func TestCatalogRoleNamesAndKnownRoleID(t *testing.T) {
	rt := &catalogRoles{}
	rt.set(roleAdmin, roleViewer)
	client := rt.client()
	tests := []struct {
		name             string
		resolved         bool // whether RoleID ran first
		roleName, roleID string
		wantName, wantID string
		wantKnownID      string
	}{
		{"a name not yet resolved has no id", false, "admin", "", "admin", "", ""},
		{"an id not yet resolved is returned as is", false, "", "rol_admin", "", "rol_admin", "rol_admin"},
		{"a resolved name has its id", true, "admin", "", "admin", "rol_admin", "rol_admin"},
		{"a resolved id has its name", true, "", "rol_viewer", "viewer", "rol_viewer", "rol_viewer"},
		{"an unknown name stays without an id", true, "editor", "", "editor", "", ""},
		{"an unknown id stays without a name", true, "", "rol_gone", "", "rol_gone", "rol_gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCatalog()
			before := rt.lists.Load()
			if tt.resolved {
				if _, err := c.RoleID(context.Background(), client, tt.roleName, tt.roleID); err != nil {
					t.Fatal(err)
				}
				before = rt.lists.Load()
			}
			name, id := c.RoleNames(client, tt.roleName, tt.roleID)
			if name != tt.wantName || id != tt.wantID {
				t.Errorf("RoleNames = %q, %q; want %q, %q", name, id, tt.wantName, tt.wantID)
			}
			if got := c.KnownRoleID(client, tt.roleName, tt.roleID); got != tt.wantKnownID {
				t.Errorf("KnownRoleID = %q, want %q", got, tt.wantKnownID)
			}
			if n := rt.lists.Load(); n != before {
				t.Errorf("RoleNames and KnownRoleID made %d calls, want none", n-before)
			}
		})
	}
}

func TestCatalogForget(t *testing.T) {
	rt := &catalogRoles{}
	rt.set(roleAdmin)
	client := rt.client()
	c, _ := newTestCatalog()
	ctx := context.Background()
	if got, _ := c.RoleID(ctx, client, "admin", ""); got != "rol_admin" {
		t.Fatalf("RoleID = %q, want rol_admin", got)
	}
	if got, _ := c.RoleID(ctx, client, "editor", ""); got != "" {
		t.Fatalf("RoleID(editor) = %q, want none", got)
	}
	// admin is deleted and made again under a new id; editor is created.
	rt.set(Role{ID: "rol_admin2", Name: "admin"}, Role{ID: "rol_editor", Name: "editor"})
	c.Forget(client)
	if got := c.KnownRoleID(client, "admin", ""); got != "" {
		t.Errorf("KnownRoleID after Forget = %q, want none", got)
	}
	if got, err := c.RoleID(ctx, client, "admin", ""); err != nil || got != "rol_admin2" {
		t.Errorf("RoleID after Forget = %q, %v; want rol_admin2", got, err)
	}
	// The miss on editor was forgotten too: found without waiting for the interval.
	if got, err := c.RoleID(ctx, client, "editor", ""); err != nil || got != "rol_editor" {
		t.Errorf("RoleID(editor) after Forget = %q, %v; want rol_editor", got, err)
	}
	if n := rt.lists.Load(); n != 3 {
		t.Errorf("ListRoles called %d times, want 3", n)
	}
	c.Forget(&Fake{}) // a tenant never seen is nothing to forget
}

func TestCatalogForgetDropsAListUnderWay(t *testing.T) {
	bt := newCatalogBlockingRoles(roleAdmin)
	client := bt.client()
	c, _ := newTestCatalog()
	done := make(chan string, 1)
	go func() {
		got, _ := c.RoleID(context.Background(), client, "admin", "")
		done <- got
	}()
	catalogWait(t, bt.started, "the list")
	c.Forget(client)
	close(bt.release)
	if got := <-done; got != "rol_admin" {
		t.Fatalf("RoleID = %q, want rol_admin (its own list answers it)", got)
	}
	if got := c.KnownRoleID(client, "admin", ""); got != "" {
		t.Errorf("KnownRoleID = %q: a list begun before Forget was kept", got)
	}
}

func TestCatalogPermissionExists(t *testing.T) {
	const api = "https://api.example.com"
	notFound := &Error{StatusCode: 404, Message: "The resource server does not exist"}
	forbidden := &Error{StatusCode: 403, Code: "insufficient_scope"}
	type ask struct {
		advance time.Duration
		scope   string
		want    bool
		calls   int32 // GetResourceServer calls in all after this ask
	}
	tests := []struct {
		name    string
		scopes  func(call int32) ([]string, error) // the resource server at the n-th read
		asks    []ask
		wantErr error
	}{
		{
			name:   "a resource server is read once and remembered",
			scopes: func(int32) ([]string, error) { return []string{"read", "write"}, nil },
			asks:   []ask{{0, "read", true, 1}, {0, "read", true, 1}, {time.Hour, "write", true, 1}},
		},
		{
			name:   "a scope not found is read again at most once per interval",
			scopes: func(n int32) ([]string, error) { return []string{"read"}, nil },
			asks: []ask{
				{0, "read", true, 1}, {0, "delete", false, 2}, {RoleMissRefresh / 2, "delete", false, 2},
				{RoleMissRefresh / 2, "delete", false, 3}, {0, "read", true, 3},
			},
		},
		{
			name: "a scope added later is found on the next miss",
			scopes: func(n int32) ([]string, error) {
				if n == 1 {
					return []string{"read"}, nil
				}
				return []string{"read", "write"}, nil
			},
			asks: []ask{{0, "write", false, 1}, {RoleMissRefresh, "write", true, 2}, {time.Hour, "write", true, 2}},
		},
		{
			name:   "an API Auth0 does not have defines no scope",
			scopes: func(int32) ([]string, error) { return nil, notFound },
			asks:   []ask{{0, "read", false, 1}, {0, "read", false, 1}, {RoleMissRefresh, "read", false, 2}},
		},
		{
			name:    "other errors are returned, with context",
			scopes:  func(int32) ([]string, error) { return nil, forbidden },
			asks:    []ask{{0, "read", false, 1}},
			wantErr: forbidden,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			client := &Fake{GetResourceServerFunc: func(_ context.Context, id string) (*ResourceServer, error) {
				if id != api {
					t.Errorf("GetResourceServer(%q), want %q", id, api)
				}
				scopes, err := tt.scopes(calls.Add(1))
				if err != nil {
					return nil, err
				}
				return &ResourceServer{Identifier: api, Scopes: scopes}, nil
			}}
			c, clock := newTestCatalog()
			for i, a := range tt.asks {
				clock.Advance(a.advance)
				ok, err := c.PermissionExists(context.Background(), client, api, a.scope)
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) || !strings.HasPrefix(err.Error(), "cannot get resource server "+api+": ") {
						t.Fatalf("ask %d: error = %v, want %v with context", i, err, tt.wantErr)
					}
				} else if err != nil {
					t.Fatalf("ask %d: %v", i, err)
				}
				if ok != a.want {
					t.Errorf("ask %d: PermissionExists(%q) = %v, want %v", i, a.scope, ok, a.want)
				}
				if n := calls.Load(); n != a.calls {
					t.Errorf("ask %d: GetResourceServer called %d times in all, want %d", i, n, a.calls)
				}
			}
		})
	}
}

func TestCatalogPermissionErrorIsNotRemembered(t *testing.T) {
	var calls atomic.Int32
	client := &Fake{GetResourceServerFunc: func(context.Context, string) (*ResourceServer, error) {
		if calls.Add(1) == 1 {
			return nil, &Error{StatusCode: 429, Message: "Too Many Requests"}
		}
		return &ResourceServer{Scopes: []string{"read"}}, nil
	}}
	c, _ := newTestCatalog()
	if _, err := c.PermissionExists(context.Background(), client, "https://api", "read"); err == nil {
		t.Fatal("PermissionExists: want the rate limit's error")
	}
	if ok, err := c.PermissionExists(context.Background(), client, "https://api", "read"); err != nil || !ok {
		t.Fatalf("PermissionExists after a failure = %v, %v; want true", ok, err)
	}
}

// A role created while a list is under way is found by a miss that began after that list did:
// it waits for the list, then lists again rather than taking the older answer.
func TestCatalogMissDuringAListDoesNotTakeTheOlderAnswer(t *testing.T) {
	bt := newCatalogBlockingRoles(roleAdmin)
	client := bt.client()
	c, _ := newTestCatalog()
	first := make(chan error, 1)
	go func() { _, err := c.RoleID(context.Background(), client, "admin-2", ""); first <- err }()
	catalogWait(t, bt.started, "the first list")
	bt.add(Role{ID: "rol_new", Name: "new"})
	second := make(chan string, 1)
	go func() { id, _ := c.RoleID(context.Background(), client, "new", ""); second <- id }()
	time.Sleep(50 * time.Millisecond) // the second lookup misses while the first list is under way
	close(bt.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if got := <-second; got != "rol_new" {
		t.Fatalf("a miss during a list got %q from the older answer, want rol_new", got)
	}
}

// catalogMembers is a fake tenant's role membership, counting the reads of it. A read takes
// the members as they are when it begins; with release set, it then waits for release.
type catalogMembers struct {
	mu      sync.Mutex
	roles   map[string]map[string]bool
	reads   atomic.Int32
	lose    error // the next write lands and answers this (its answer is lost)
	refuse  error // the next write does not land and answers this
	started chan struct{}
	release chan struct{}
}

func newCatalogMembers() *catalogMembers {
	return &catalogMembers{roles: map[string]map[string]bool{}, started: make(chan struct{}, 100)}
}

func (cm *catalogMembers) set(roleID string, add bool, users ...string) {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	if cm.roles[roleID] == nil {
		cm.roles[roleID] = map[string]bool{}
	}
	for _, u := range users {
		if add {
			cm.roles[roleID][u] = true
		} else {
			delete(cm.roles[roleID], u)
		}
	}
}

// write applies a write of the operator's, unless it is refused, and answers it.
func (cm *catalogMembers) write(roleID string, add bool, users ...string) error {
	cm.mu.Lock()
	lose, refuse := cm.lose, cm.refuse
	cm.lose, cm.refuse = nil, nil
	cm.mu.Unlock()
	if refuse != nil {
		return refuse
	}
	cm.set(roleID, add, users...)
	return lose
}

func (cm *catalogMembers) client() *Fake {
	return &Fake{
		RoleUserIDsFunc: func(ctx context.Context, roleID string) ([]string, error) {
			cm.reads.Add(1)
			cm.mu.Lock()
			var ids []string
			for u := range cm.roles[roleID] {
				ids = append(ids, u)
			}
			release := cm.release
			cm.mu.Unlock()
			cm.started <- struct{}{}
			if release != nil {
				select {
				case <-release:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return ids, nil
		},
		AssignRoleToUsersFunc: func(_ context.Context, roleID string, users []string) error {
			return cm.write(roleID, true, users...)
		},
		RemoveUserRolesFunc: func(_ context.Context, user string, roleIDs []string) error {
			var err error
			for _, r := range roleIDs {
				err = errors.Join(err, cm.write(r, false, user))
			}
			return err
		},
	}
}

// TestCatalogRoleMembers walks one role's listing through reads, expiry, the operator's own
// writes (written through) and writes whose outcome is unknown (the listing dropped).
func TestCatalogRoleMembers(t *testing.T) {
	const maxAge = time.Minute
	lost := &Error{StatusCode: 504, Message: "gateway timeout"}
	refused := &Error{StatusCode: 503, Message: "unavailable"}
	cm := newCatalogMembers()
	cm.set("rol_viewer", true, "u1")
	c, clock := newTestCatalog()
	client, other := cm.client(), cm.client()
	ctx := context.Background()
	steps := []struct {
		name      string
		before    func(t *testing.T)
		client    Client // default: client
		maxAge    time.Duration
		want      []string
		wantRead  bool
		wantReads int32
	}{
		{"the first call reads", nil, nil, maxAge, []string{"u1"}, true, 1},
		{"within maxAge the listing is shared", func(*testing.T) { clock.Advance(maxAge / 2) }, nil, maxAge, []string{"u1"}, false, 1},
		{"a grant made outside the operator is not seen within maxAge", func(*testing.T) { cm.set("rol_viewer", true, "u9") }, nil, maxAge, []string{"u1"}, false, 1},
		{"the operator's grant is written through", func(t *testing.T) {
			if err := c.AssignRoleToUsers(ctx, client, "rol_viewer", []string{"u2", "u3"}); err != nil {
				t.Fatal(err)
			}
		}, nil, maxAge, []string{"u1", "u2", "u3"}, false, 1},
		{"the operator's revocation is written through", func(t *testing.T) {
			if err := c.RemoveUserRoles(ctx, client, "u1", []string{"rol_viewer"}); err != nil {
				t.Fatal(err)
			}
		}, nil, maxAge, []string{"u2", "u3"}, false, 1},
		{"another client of the tenant keeps a listing of its own", nil, other, maxAge, []string{"u2", "u3", "u9"}, true, 2},
		{"a listing maxAge old is read again, and shows the outside grant", func(*testing.T) { clock.Advance(maxAge / 2) }, nil, maxAge, []string{"u2", "u3", "u9"}, true, 3},
		{"a shorter maxAge reads sooner", func(*testing.T) { clock.Advance(maxAge / 4) }, nil, maxAge / 4, []string{"u2", "u3", "u9"}, true, 4},
		{"maxAge 0 always reads", nil, nil, 0, []string{"u2", "u3", "u9"}, true, 5},
		{"an assignment whose answer was lost drops the listing", func(t *testing.T) {
			cm.lose = lost
			if err := c.AssignRoleToUsers(ctx, client, "rol_viewer", []string{"u4"}); !errors.Is(err, lost) {
				t.Fatalf("AssignRoleToUsers = %v, want the lost answer", err)
			}
		}, nil, maxAge, []string{"u2", "u3", "u4", "u9"}, true, 6},
		{"a refused revocation drops the listing", func(t *testing.T) {
			cm.refuse = refused
			if err := c.RemoveUserRoles(ctx, client, "u2", []string{"rol_viewer"}); !errors.Is(err, refused) {
				t.Fatalf("RemoveUserRoles = %v, want the refusal", err)
			}
		}, nil, maxAge, []string{"u2", "u3", "u4", "u9"}, true, 7},
		{"a failed write of another role leaves the listing alone", func(t *testing.T) {
			cm.refuse = refused
			if err := c.AssignRoleToUsers(ctx, client, "rol_admin", []string{"u2"}); !errors.Is(err, refused) {
				t.Fatalf("AssignRoleToUsers = %v, want the refusal", err)
			}
		}, nil, maxAge, []string{"u2", "u3", "u4", "u9"}, false, 7},
		{"Forget drops the listings with the roles", func(*testing.T) { c.Forget(client) }, nil, maxAge, []string{"u2", "u3", "u4", "u9"}, true, 8},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before(t)
		}
		cl := st.client
		if cl == nil {
			cl = client
		}
		got, read, err := c.RoleMembers(ctx, cl, "rol_viewer", st.maxAge)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if !slices.Equal(got, st.want) || read != st.wantRead {
			t.Errorf("%s: RoleMembers = %v (read %v), want %v (read %v)", st.name, got, read, st.want, st.wantRead)
		}
		if n := cm.reads.Load(); n != st.wantReads {
			t.Errorf("%s: RoleUserIDs called %d times in all, want %d", st.name, n, st.wantReads)
		}
	}
}

// TestCatalogRoleMembersWritesDuringARead: a read under way may or may not see a write that
// Auth0 confirms meanwhile, so the write is applied to what it returns; a write whose outcome is
// unknown spoils it, so that the next call reads again.
func TestCatalogRoleMembersWritesDuringARead(t *testing.T) {
	lost := &Error{StatusCode: 504, Message: "gateway timeout"}
	tests := []struct {
		name      string
		write     func(c *Catalog, client Client, cm *catalogMembers) error
		wantFirst []string // what the read under way returns
		want      []string // what the next call returns
		wantReads int32    // after the next call
	}{
		{"a confirmed grant is in the listing kept", func(c *Catalog, client Client, _ *catalogMembers) error {
			return c.AssignRoleToUsers(context.Background(), client, "rol_viewer", []string{"u2"})
		}, []string{"u1", "u2"}, []string{"u1", "u2"}, 1},
		{"a confirmed revocation is in the listing kept", func(c *Catalog, client Client, _ *catalogMembers) error {
			return c.RemoveUserRoles(context.Background(), client, "u1", []string{"rol_viewer"})
		}, nil, nil, 1},
		{"a grant whose answer was lost is not kept: the next call reads it", func(c *Catalog, client Client, cm *catalogMembers) error {
			cm.lose = lost
			if err := c.AssignRoleToUsers(context.Background(), client, "rol_viewer", []string{"u2"}); !errors.Is(err, lost) {
				return errors.New("want the lost answer")
			}
			return nil
		}, []string{"u1"}, []string{"u1", "u2"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm := newCatalogMembers()
			cm.set("rol_viewer", true, "u1")
			cm.release = make(chan struct{})
			client := cm.client()
			c, _ := newTestCatalog()
			type answer struct {
				ids []string
				err error
			}
			done := make(chan answer, 1)
			go func() {
				ids, _, err := c.RoleMembers(context.Background(), client, "rol_viewer", time.Minute)
				done <- answer{ids, err}
			}()
			catalogWait(t, cm.started, "the read")
			if err := tt.write(c, client, cm); err != nil {
				t.Fatal(err)
			}
			cm.mu.Lock()
			release := cm.release
			cm.release = nil // the next read answers at once
			cm.mu.Unlock()
			close(release)
			first := <-done
			if first.err != nil {
				t.Fatal(first.err)
			}
			next, _, err := c.RoleMembers(context.Background(), client, "rol_viewer", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(first.ids, tt.wantFirst) {
				t.Errorf("the read under way returned %v, want %v", first.ids, tt.wantFirst)
			}
			if !slices.Equal(next, tt.want) {
				t.Errorf("the next call returned %v, want %v", next, tt.want)
			}
			if n := cm.reads.Load(); n != tt.wantReads {
				t.Errorf("RoleUserIDs called %d times, want %d", n, tt.wantReads)
			}
		})
	}
}

// TestCatalogRoleMembersConcurrentMissesShareOneRead: bindings resyncing at once read a role's
// members at most twice (the read under way, and one begun after every miss), not once each.
func TestCatalogRoleMembersConcurrentMissesShareOneRead(t *testing.T) {
	cm := newCatalogMembers()
	cm.set("rol_viewer", true, "u1", "u2")
	cm.release = make(chan struct{})
	client := cm.client()
	c, _ := newTestCatalog()
	const n = 30
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids, _, err := c.RoleMembers(context.Background(), client, "rol_viewer", time.Minute)
			if err == nil && !slices.Equal(ids, []string{"u1", "u2"}) {
				err = errors.New("RoleMembers = " + strings.Join(ids, ","))
			}
			errs <- err
		}()
	}
	catalogWait(t, cm.started, "the first read")
	time.Sleep(50 * time.Millisecond) // let the other calls miss and queue up
	close(cm.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := cm.reads.Load(); got < 1 || got > 2 {
		t.Errorf("RoleUserIDs called %d times, want the first read and at most one shared after it", got)
	}
}
