package auth0rolebinding

import (
	"errors"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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

	want := []string{`role "no-such-role"`, `permission "delete:everything" of API ` + api, "email:nobody@example.com"}
	if !slices.Equal(s.unresolved, want) {
		t.Errorf("unresolved %q, want %q", s.unresolved, want)
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
			o := binding("other", nil, byID(alice))
			o.Status.Subjects = []v1alpha1.SubjectStatus{{Subject: "userID:" + alice, UserID: alice, Roles: []string{f.roleID("admin")}}}
			return o
		}, true},
		{"a grant another binding's spec wants before it was reconciled is kept", func(f *fixture, alice string) *v1alpha1.Auth0RoleBinding {
			return binding("other", []string{"admin"}, byID(alice))
		}, true},
		{"a binding of another tenant protects nothing here", func(f *fixture, alice string) *v1alpha1.Auth0RoleBinding {
			o := binding("other", nil, byID(alice))
			o.Spec.TenantRef.SecretName = otherTenant
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
	o := binding("other", []string{"viewer"}, byID(alice))
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
