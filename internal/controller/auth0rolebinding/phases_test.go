package auth0rolebinding

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/grants"
)

func TestResolveReportsWhatNamesNothingInAuth0AndStillResolvesTheRest(t *testing.T) {
	f := newFixture(t)
	alice, bob := f.user("alice@example.com"), f.user("bob@example.com")
	b := binding("team", []string{"admin", "no-such-role"},
		byID(alice), v1alpha1.Subject{Email: "bob@example.com"}, v1alpha1.Subject{Email: "nobody@example.com"})
	b.Spec.Permissions = []v1alpha1.PermissionReference{
		{ResourceServerIdentifier: api, Name: "read:reports"},
		{ResourceServerIdentifier: api, Name: "delete:everything"},
	}

	s := f.resolved(b)

	want := []string{`role "no-such-role"`, `permission "delete:everything" of API ` + api}
	if !slices.Equal(s.unresolved, want) {
		t.Errorf("unresolved %q, want %q", s.unresolved, want)
	}
	if msg := s.subjects[2].message; msg != "no Auth0 user has this email" {
		t.Errorf("the unknown email's message: %q", msg)
	}
	wantDesired := grants.NewSet(grants.Role(f.roleID("admin")), grants.Permission(api, "read:reports"))
	if len(s.desired) != len(wantDesired) || !s.desired[grants.Role(f.roleID("admin"))] || !s.desired[grants.Permission(api, "read:reports")] {
		t.Errorf("desired %v, want %v", s.desired.Sorted(), wantDesired.Sorted())
	}
	var ids []string
	for _, sub := range s.subjects {
		ids = append(ids, sub.userID)
	}
	if !slices.Equal(ids, []string{alice, bob, ""}) {
		t.Errorf("subjects resolved to %q", ids)
	}
	if b.Status.RoleCount != 1 {
		t.Errorf("roleCount %d, want 1", b.Status.RoleCount)
	}
}

func TestAnUnknownRoleStallsTheBindingAsUnresolvedNamingItWhileTheRestIsApplied(t *testing.T) {
	f := newFixture(t)
	alice := f.user("alice@example.com")
	b := binding("team", []string{"admin", "no-such-role"}, byID(alice))
	f.store(b)

	err := f.r.Reconcile(f.ctx, b)
	var stalled *controller.StalledError
	if !errors.As(err, &stalled) || stalled.Reason != conditions.ReasonUnresolved {
		t.Fatalf("want Stalled/Unresolved, got %v", err)
	}
	if !strings.Contains(stalled.Message, `role "no-such-role"`) {
		t.Errorf("the message should name the role: %q", stalled.Message)
	}
	admin := f.roleID("admin")
	if got := f.emu.UserRoleIDs(alice); !slices.Equal(got, []string{admin}) {
		t.Fatalf("the resolvable role was not applied: %v", got)
	}
	if got := b.Status.Subjects; len(got) != 1 || !slices.Equal(got[0].Roles, []string{admin}) {
		t.Fatalf("status does not record the applied role: %+v", got)
	}
}

func TestAPendingUserRefSubjectKeepsTheBindingWaitingWhileTheOthersAreApplied(t *testing.T) {
	f := newFixture(t)
	alice := f.user("alice@example.com")
	bob := &v1alpha1.Auth0User{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "bob"},
		Spec:       v1alpha1.Auth0UserSpec{Connection: "Username-Password-Authentication", Email: "bob@example.com"},
	}
	if err := f.c.Create(f.ctx, bob); err != nil {
		t.Fatal(err)
	}
	b := binding("team", []string{"viewer"}, v1alpha1.Subject{UserRef: "bob"}, byID(alice))
	f.store(b)

	err := f.r.Reconcile(f.ctx, b)
	var waiting *controller.WaitingError
	if !errors.As(err, &waiting) || waiting.Reason != conditions.ReasonSubjectsPending || waiting.RequeueAfter <= 0 {
		t.Fatalf("want Waiting/SubjectsPending with a requeue, got %#v", err)
	}
	if v := controller.Classify(err); v.Outcome != controller.OutcomeWaiting {
		t.Fatalf("classified %+v", v)
	}
	if !strings.Contains(waiting.Message, "userRef:bob") {
		t.Errorf("the message should name the pending subject: %q", waiting.Message)
	}
	if got := f.emu.UserRoleIDs(alice); !slices.Equal(got, []string{f.roleID("viewer")}) {
		t.Fatalf("the resolved subject was not granted: %v", got)
	}
	if sub := b.Status.Subjects[0]; sub.UserID != "" || !strings.Contains(sub.Message, "no Auth0 user yet") {
		t.Errorf("the pending subject's status: %+v", sub)
	}
}

// TestComposeProtectsWhatOtherBindingsOfTheSameTenantHold: a binding that applied admin and no
// longer wants it revokes admin only when no other binding of the same tenant holds it.
func TestComposeProtectsWhatOtherBindingsOfTheSameTenantHold(t *testing.T) {
	for _, c := range []struct {
		name    string
		other   func(f *fixture, alice string) *v1alpha1.Auth0RoleBinding
		protect bool
	}{
		{"another binding's applied grant, from its status, is kept", func(f *fixture, alice string) *v1alpha1.Auth0RoleBinding {
			o := f.verified(binding("other", nil, byID(alice)))
			o.Status.Subjects = []v1alpha1.SubjectStatus{{Subject: "userID:" + alice, UserID: alice, Roles: []string{f.roleID("admin")}}}
			return o
		}, true},
		{"another binding's pending grant (written ahead, answer lost) is kept", func(f *fixture, alice string) *v1alpha1.Auth0RoleBinding {
			o := f.verified(binding("other", nil, byID(alice)))
			o.Status.Subjects = []v1alpha1.SubjectStatus{{Subject: "userID:" + alice, UserID: alice, PendingRoles: []string{f.roleID("admin")}}}
			return o
		}, true},
		{"a grant a verified binding's edited spec wants before it is reconciled again is kept", func(f *fixture, alice string) *v1alpha1.Auth0RoleBinding {
			return f.verified(binding("other", []string{"admin"}, byID(alice)))
		}, true},
		{"a binding stalled only on an unresolved entry applied the rest and still counts", func(f *fixture, alice string) *v1alpha1.Auth0RoleBinding {
			o := f.verified(binding("other", []string{"admin", "no-such-role"}, byID(alice)))
			o.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: conditions.ReasonUnresolved, LastTransitionTime: metav1.Now()}}
			return o
		}, true},
		{"a binding that never reached its tenant protects nothing, whatever its spec and status say", func(f *fixture, alice string) *v1alpha1.Auth0RoleBinding {
			o := binding("other", []string{"admin"}, byID(alice))
			o.Status.Subjects = []v1alpha1.SubjectStatus{{Subject: "userID:" + alice, UserID: alice, Roles: []string{f.roleID("admin")}}}
			return o
		}, false},
		{"a binding stalled on its credentials protects nothing", func(f *fixture, alice string) *v1alpha1.Auth0RoleBinding {
			o := f.verified(binding("other", []string{"admin"}, byID(alice)))
			o.Status.Subjects = []v1alpha1.SubjectStatus{{Subject: "userID:" + alice, UserID: alice, Roles: []string{f.roleID("admin")}}}
			o.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: conditions.ReasonAuth0Rejected, LastTransitionTime: metav1.Now()}}
			return o
		}, false},
		{"a binding whose email subject now names another user wants nothing for the one it named before", func(f *fixture, alice string) *v1alpha1.Auth0RoleBinding {
			bob := f.user("bob@example.com")
			o := f.verified(binding("other", []string{"admin"}, v1alpha1.Subject{Email: "bob@example.com"}))
			// Its newest entry of the key is bob's; alice's stays until what it holds is released.
			o.Status.Subjects = []v1alpha1.SubjectStatus{
				{Subject: "email:bob@example.com", UserID: alice},
				{Subject: "email:bob@example.com", UserID: bob, PendingRoles: []string{f.roleID("admin")}},
			}
			return o
		}, false},
		{"a binding of another tenant protects nothing here", func(f *fixture, alice string) *v1alpha1.Auth0RoleBinding {
			o := binding("other", nil, byID(alice))
			o.Spec.TenantRef.SecretName = otherTenant
			o.Status.Tenant = "other.example.com"
			o.Status.Subjects = []v1alpha1.SubjectStatus{{Subject: "userID:" + alice, UserID: alice, Roles: []string{f.roleID("admin")}}}
			return o
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			alice := f.user("alice@example.com")
			admin, viewer := f.roleID("admin"), f.roleID("viewer")
			f.emu.GrantRole(alice, admin)
			f.store(c.other(f, alice))

			// This binding applied admin at generation 1; its spec now wants viewer instead.
			mine := binding("mine", []string{"viewer"}, byID(alice))
			mine.Generation = 2
			mine.Status.ObservedGeneration = 1
			mine.Status.Subjects = []v1alpha1.SubjectStatus{{Subject: "userID:" + alice, UserID: alice, Roles: []string{admin}}}
			f.store(mine)

			s := f.resolved(mine)
			if err := f.r.compose(f.ctx, s); err != nil {
				t.Fatal(err)
			}
			if got := s.others.held[alice][grants.Role(admin)]; got != c.protect {
				t.Fatalf("compose: admin held by others = %v, want %v", got, c.protect)
			}
			f.emu.ResetCounters()
			if err := f.r.observe(f.ctx, s); err != nil {
				t.Fatal(err)
			}
			if err := f.r.apply(f.ctx, s); err != nil {
				t.Fatal(err)
			}

			want := []string{viewer}
			if c.protect {
				want = sorted(admin, viewer)
			}
			if got := f.emu.UserRoleIDs(alice); !slices.Equal(got, want) {
				t.Fatalf("alice holds %v, want %v", got, want)
			}
			if n := f.calls("DELETE", "/api/v2/users/%s/roles"); c.protect && n != 0 {
				t.Fatalf("a protected grant caused %d revocations", n)
			}
		})
	}
}

func TestApplyGrantsARoleToManySubjectsInOneBulkCall(t *testing.T) {
	f := newFixture(t)
	var subjects []v1alpha1.Subject
	var ids []string
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		id := f.user(name + "@example.com")
		ids = append(ids, id)
		subjects = append(subjects, byID(id))
	}
	b := binding("team", []string{"viewer"}, subjects...)
	f.store(b)

	f.emu.ResetCounters()
	if err := f.r.Reconcile(f.ctx, b); err != nil {
		t.Fatal(err)
	}
	if n := f.calls("POST", "/api/v2/roles/%s/users"); n != 1 {
		t.Errorf("want one bulk role assignment, got %d", n)
	}
	if n := f.calls("POST", "/api/v2/users/%s/roles"); n != 0 {
		t.Errorf("want no per-user role assignment, got %d", n)
	}
	viewer := f.roleID("viewer")
	for _, id := range ids {
		if got := f.emu.UserRoleIDs(id); !slices.Equal(got, []string{viewer}) {
			t.Errorf("%s holds %v", id, got)
		}
	}
	if b.Status.SubjectCount != 5 {
		t.Errorf("subjectCount %d", b.Status.SubjectCount)
	}
}

func TestAGrantFoundAlreadyHeldIsRecordedAsExternalAndDeleteDoesNotRevokeIt(t *testing.T) {
	f := newFixture(t)
	alice := f.user("alice@example.com")
	editor, viewer := f.roleID("editor"), f.roleID("viewer")
	f.emu.GrantRole(alice, editor) // granted outside the operator
	b := binding("team", []string{"editor", "viewer"}, byID(alice))
	f.store(b)

	if err := f.r.Reconcile(f.ctx, b); err != nil {
		t.Fatal(err)
	}
	sub := b.Status.Subjects[0]
	if !slices.Equal(sub.ExternalRoles, []string{editor}) || !slices.Equal(sub.Roles, []string{viewer}) {
		t.Fatalf("want editor external and viewer applied, got %+v", sub)
	}

	if err := f.r.Delete(f.ctx, b); err != nil {
		t.Fatal(err)
	}
	if got := f.emu.UserRoleIDs(alice); !slices.Equal(got, []string{editor}) {
		t.Fatalf("after delete alice holds %v, want only the external editor", got)
	}
}

func TestDeleteRevokesOnlyWhatTheBindingAppliedAndNoOtherBindingHolds(t *testing.T) {
	f := newFixture(t)
	alice := f.user("alice@example.com")
	admin, viewer := f.roleID("admin"), f.roleID("viewer")
	b := binding("team", []string{"admin", "viewer"}, byID(alice))
	b.Spec.Permissions = []v1alpha1.PermissionReference{{ResourceServerIdentifier: api, Name: "read:reports"}}
	f.store(b)
	if err := f.r.Reconcile(f.ctx, b); err != nil {
		t.Fatal(err)
	}
	if got := f.emu.UserPermissions(alice); !slices.Equal(got, []string{api + " read:reports"}) {
		t.Fatalf("permission not granted: %v", got)
	}
	if got, want := f.emu.UserRoleIDs(alice), sorted(admin, viewer); !slices.Equal(got, want) {
		t.Fatalf("roles not granted: %v, want %v", got, want)
	}

	// Another binding applied viewer to alice too; it must survive this one's deletion.
	o := f.verified(binding("other", []string{"viewer"}, byID(alice)))
	o.Status.Subjects = []v1alpha1.SubjectStatus{{Subject: "userID:" + alice, UserID: alice, Roles: []string{viewer}}}
	f.store(o)
	f.emu.GrantPermission(alice, api, "write:reports") // outside any binding

	f.emu.ResetCounters()
	if err := f.r.Delete(f.ctx, b); err != nil {
		t.Fatal(err)
	}
	if got := f.emu.UserRoleIDs(alice); !slices.Equal(got, []string{viewer}) {
		t.Errorf("after delete alice holds roles %v, want only viewer", got)
	}
	if got := f.emu.UserPermissions(alice); !slices.Equal(got, []string{api + " write:reports"}) {
		t.Errorf("after delete alice holds permissions %v, want only the unrelated one", got)
	}
	if r, p := f.calls("DELETE", "/api/v2/users/%s/roles"), f.calls("DELETE", "/api/v2/users/%s/permissions"); r != 1 || p != 1 {
		t.Errorf("want one revocation of roles and one of permissions, got %d and %d", r, p)
	}
	if sub := b.Status.Subjects[0]; len(sub.Roles) != 0 || len(sub.Permissions) != 0 {
		t.Errorf("status should record the grants as released: %+v", sub)
	}
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

// Two bindings granting one role: the second finds the first's grant in Auth0 before the first's
// status reaches the cache (here: never stored). The ledger tells it the grant is the operator's,
// so it records it as applied, not external, and deleting both bindings revokes it.
func TestAGrantAnotherBindingJustMadeIsNotExternalBeforeItsStatusIsCached(t *testing.T) {
	f := newFixture(t)
	alice := f.user("alice@example.com")
	editor := f.roleID("editor")
	first := binding("first", []string{"editor"}, byID(alice))
	second := binding("second", []string{"editor"}, byID(alice))
	f.store(first)
	f.store(second)

	if err := f.r.Reconcile(f.ctx, first); err != nil { // first's status stays in memory only
		t.Fatal(err)
	}
	if err := f.r.Reconcile(f.ctx, second); err != nil {
		t.Fatal(err)
	}
	sub := second.Status.Subjects[0]
	if len(sub.ExternalRoles) != 0 || !slices.Equal(sub.Roles, []string{editor}) {
		t.Fatalf("second recorded %+v; the role first just granted must count as applied, not external", sub)
	}
	if err := f.r.Delete(f.ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := f.c.Delete(f.ctx, first); err != nil {
		t.Fatal(err)
	}
	if got := f.emu.UserRoleIDs(alice); !slices.Equal(got, []string{editor}) {
		t.Fatalf("second still grants editor, yet alice holds %v", got)
	}
	if err := f.r.Delete(f.ctx, second); err != nil {
		t.Fatal(err)
	}
	if got := f.emu.UserRoleIDs(alice); len(got) != 0 {
		t.Fatalf("no binding grants editor any more, yet alice holds %v", got)
	}
}

// Write ahead: the grants a pass is about to add are in the stored status before Auth0 is
// called. A lost answer leaves them recorded as pending; the next pass finds them in Auth0 and
// counts them as the binding's own, and deleting the binding revokes them.
func TestAGrantWhoseAnswerWasLostIsRecordedAheadAndStaysTheBindings(t *testing.T) {
	f := newFixture(t)
	alice := f.user("alice@example.com")
	editor := f.roleID("editor")
	b := binding("team", []string{"editor"}, byID(alice))
	b.Spec.Permissions = []v1alpha1.PermissionReference{{ResourceServerIdentifier: api, Name: "read:reports"}}
	f.store(b)

	f.emu.LoseNextResponses("POST /api/v2/users/{id}/permissions", 1)
	if err := f.r.Reconcile(f.ctx, b); err == nil {
		t.Fatal("the lost answer should fail the pass")
	}
	stored := &v1alpha1.Auth0RoleBinding{}
	if err := f.c.Get(f.ctx, client.ObjectKeyFromObject(b), stored); err != nil {
		t.Fatal(err)
	}
	if len(stored.Status.Subjects) != 1 || !slices.Equal(stored.Status.Subjects[0].PendingRoles, []string{editor}) ||
		!slices.Equal(stored.Status.Subjects[0].PendingPermissions, []string{api + " read:reports"}) || stored.Status.Tenant == "" {
		t.Fatalf("the stored status does not record the grants about to be added: %+v", stored.Status)
	}
	if got := f.emu.UserPermissions(alice); !slices.Equal(got, []string{api + " read:reports"}) {
		t.Fatalf("the write should have committed: %v", got)
	}

	// A restart: nothing in memory, only what the stored status says.
	f.r = &Reconciler{Client: f.c, Tenants: f.r.Tenants, Policies: f.r.Policies, Recorder: f.r.Recorder, ResyncInterval: time.Minute, Catalog: f.r.Catalog}
	if err := f.r.Reconcile(f.ctx, stored); err != nil {
		t.Fatal(err)
	}
	sub := stored.Status.Subjects[0]
	if len(sub.ExternalRoles)+len(sub.ExternalPermissions)+len(sub.PendingRoles)+len(sub.PendingPermissions) != 0 ||
		!slices.Equal(sub.Roles, []string{editor}) || !slices.Equal(sub.Permissions, []string{api + " read:reports"}) {
		t.Fatalf("the binding's own grants must be recorded as applied, not external: %+v", sub)
	}
	if len(stored.Status.Drift) != 0 {
		t.Errorf("a pending grant is not drift: %+v", stored.Status.Drift)
	}
	if err := f.r.Delete(f.ctx, stored); err != nil {
		t.Fatal(err)
	}
	if r, p := f.emu.UserRoleIDs(alice), f.emu.UserPermissions(alice); len(r)+len(p) != 0 {
		t.Fatalf("after delete alice holds %v %v", r, p)
	}
}

func TestListFewStaysShort(t *testing.T) {
	var many []string
	for i := range 200 {
		many = append(many, fmt.Sprintf("email:someone-with-a-long-address-%03d@a-long-domain.example.com", i))
	}
	got := listFew(many)
	if len(got) > 500 || !strings.HasSuffix(got, " and 195 more") {
		t.Errorf("listFew(200 long entries) = %q (%d characters)", got, len(got))
	}
	if got := listFew([]string{"a", "b"}); got != "a, b" {
		t.Errorf("listFew of two = %q", got)
	}
	if got := listFew([]string{strings.Repeat("x", 2000)}); len(got) > 410 {
		t.Errorf("one huge entry is cut: %d characters", len(got))
	}
}
