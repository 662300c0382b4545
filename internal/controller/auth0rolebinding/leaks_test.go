package auth0rolebinding

import (
	"slices"
	"strings"
	"testing"

	"github.com/usersync/auth0-operator/pkg/emulator"
	corev1 "k8s.io/api/core/v1"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/controller"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// GitOps rename: binding "old" (applied editor to alice) is being deleted while "new" (same grant)
// makes its first pass. "new" must not record editor as external, or no binding ever revokes it.
func TestABindingReplacingOneBeingDeletedCountsItsGrantAsTheOperators(t *testing.T) {
	f := newFixture(t)
	alice := f.user("alice@example.com")
	editor := f.roleID("editor")
	old := binding("old", []string{"editor"}, byID(alice))
	old.Finalizers = []string{controller.Finalizer}
	f.store(old)
	if err := f.r.Reconcile(f.ctx, old); err != nil {
		t.Fatal(err)
	}
	f.saveStatus(old)
	if err := f.c.Delete(f.ctx, old); err != nil { // deletionTimestamp set, finalizer holds it
		t.Fatal(err)
	}
	nb := binding("new", []string{"editor"}, byID(alice))
	f.store(nb)
	if err := f.r.Reconcile(f.ctx, nb); err != nil {
		t.Fatal(err)
	}
	f.saveStatus(nb)
	t.Logf("new's subject status: %+v", nb.Status.Subjects[0])
	if err := f.c.Get(f.ctx, clientKey(old), old); err != nil {
		t.Fatal(err)
	}
	if err := f.r.Delete(f.ctx, old); err != nil {
		t.Fatal(err)
	}
	t.Logf("after old's deletion alice holds %v", f.emu.UserRoleIDs(alice))
	// new's spec drops editor (or new is deleted): editor should go.
	if err := f.r.Delete(f.ctx, nb); err != nil {
		t.Fatal(err)
	}
	if got := f.emu.UserRoleIDs(alice); slices.Contains(got, editor) {
		t.Fatalf("no binding grants editor any more, yet alice holds %v (leaked)", got)
	}
}

// A binding denied by a tightened policy keeps its applied grant in Auth0; a new binding finding
// it records it as external; after both are deleted the grant remains.
func TestADeniedBindingsGrantIsNeverExternalToAnother(t *testing.T) {
	f := newFixture(t)
	alice := f.user("alice@example.com")
	editor := f.roleID("editor")
	a := binding("a", []string{"editor"}, byID(alice))
	f.store(a)
	if err := f.r.Reconcile(f.ctx, a); err != nil {
		t.Fatal(err)
	}
	// Tighten the policy: editor no longer allowed.
	var p v1alpha1.Auth0TenancyPolicy
	if err := f.c.Get(f.ctx, clientKeyName("allow-all"), &p); err != nil {
		t.Fatal(err)
	}
	p.Spec.Roles = []string{"viewer"}
	if err := f.c.Update(f.ctx, &p); err != nil {
		t.Fatal(err)
	}
	err := f.r.Reconcile(f.ctx, a)
	t.Logf("a now: %v (tenant %q)", err, a.Status.Tenant)
	f.saveStatus(a)
	// Policy relaxed again later for a new binding c (e.g. another namespace allowed): simplest, relax.
	p.Spec.Roles = []string{"*"}
	if err := f.c.Update(f.ctx, &p); err != nil {
		t.Fatal(err)
	}
	c := binding("c", []string{"editor"}, byID(alice))
	f.store(c)
	if err := f.r.Reconcile(f.ctx, c); err != nil {
		t.Fatal(err)
	}
	f.saveStatus(c)
	t.Logf("c's subject: %+v", c.Status.Subjects[0])
	if err := f.r.Delete(f.ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := f.c.Delete(f.ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := f.r.Delete(f.ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := f.emu.UserRoleIDs(alice); slices.Contains(got, editor) {
		t.Fatalf("no binding grants editor any more, yet alice holds %v (leaked)", got)
	}
}

var _ = metav1.Now

func clientKey(b *v1alpha1.Auth0RoleBinding) typesNN {
	return typesNN{Namespace: b.Namespace, Name: b.Name}
}
func clientKeyName(n string) typesNN { return typesNN{Name: n} }

type typesNN = types.NamespacedName

func (f *fixture) saveStatus(b *v1alpha1.Auth0RoleBinding) {
	f.t.Helper()
	var cur v1alpha1.Auth0RoleBinding
	if err := f.c.Get(f.ctx, clientKey(b), &cur); err != nil {
		f.t.Fatal(err)
	}
	cur.Status = *b.Status.DeepCopy()
	if err := f.c.Status().Update(f.ctx, &cur); err != nil {
		f.t.Fatal(err)
	}
	*b = cur
}

// A binding whose tenantRef is moved to another tenant forgets the grants it made in the first.
func TestABindingDoesNotFollowItsSecretToAnotherTenant(t *testing.T) {
	f := newFixture(t)
	alice := f.user("alice@example.com")
	editor := f.roleID("editor")
	b := binding("b", []string{"editor"}, byID(alice))
	f.store(b)
	if err := f.r.Reconcile(f.ctx, b); err != nil {
		t.Fatal(err)
	}
	f.saveStatus(b)

	emu2, err := emulator.New(emulator.Config{Clients: map[string]emulator.Client{"operator": {Secret: "operator-secret"}}})
	if err != nil {
		t.Fatal(err)
	}
	url2, err := emu2.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer emu2.Close()
	if err := emu2.Seed(emulator.Seed{Roles: []emulator.SeedRole{{Name: "editor"}}}); err != nil {
		t.Fatal(err)
	}
	if err := f.c.Create(f.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "t2", UID: "uid-t2"},
		Data: map[string][]byte{"domain": []byte(url2), "clientID": []byte("operator"), "clientSecret": []byte("operator-secret")}}); err != nil {
		t.Fatal(err)
	}
	var cur v1alpha1.Auth0RoleBinding
	if err := f.c.Get(f.ctx, clientKey(b), &cur); err != nil {
		t.Fatal(err)
	}
	cur.Spec.TenantRef.SecretName = "t2"
	cur.Generation++
	if err := f.c.Update(f.ctx, &cur); err != nil {
		t.Fatal(err)
	}
	// The binding does not follow its Secret: it stalls, and forgets nothing.
	err = f.r.Reconcile(f.ctx, &cur)
	if v := controller.Classify(err); v.Outcome != controller.OutcomeStalled || v.Reason != conditions.ReasonTenantChanged {
		t.Fatalf("a pass with the Secret pointing at another tenant: %v, want Stalled/TenantChanged", err)
	}
	for _, req := range emu2.Requests() {
		if !strings.HasPrefix(req, "GET ") && !strings.HasPrefix(req, "POST /oauth/token") {
			t.Fatalf("the binding wrote to the other tenant: %v", emu2.Requests())
		}
	}
	f.saveStatus(&cur)
	// Deletion waits for the Secret to point back, then revokes in the tenant it granted in.
	if err := f.r.Delete(f.ctx, &cur); controller.Classify(err).Reason != conditions.ReasonDeletionBlocked {
		t.Fatalf("deleting with the Secret elsewhere: %v, want DeletionBlocked", err)
	}
	if err := f.c.Get(f.ctx, clientKey(b), &cur); err != nil {
		t.Fatal(err)
	}
	cur.Spec.TenantRef.SecretName = "tenant"
	if err := f.r.Delete(f.ctx, &cur); err != nil {
		t.Fatal(err)
	}
	if got := f.emu.UserRoleIDs(alice); slices.Contains(got, editor) {
		t.Fatalf("binding deleted, yet alice still holds editor in the first tenant: %v", got)
	}
}

// An email subject naming an enterprise user whose email keeps its capitals.
func TestAnEmailSubjectWithCapitalsFindsAnEnterpriseUser(t *testing.T) {
	f := newFixture(t)
	if err := f.emu.Seed(emulator.Seed{Connections: []emulator.Connection{{Name: "corp", Strategy: "samlp"}},
		Users: []emulator.SeedUser{{Email: "Bob@Corp.com", Connection: "corp"}}}); err != nil {
		t.Fatal(err)
	}
	b := binding("b", []string{"editor"}, v1alpha1.Subject{Email: "Bob@Corp.com", Connection: "corp"})
	f.store(b)
	err := f.r.Reconcile(f.ctx, b)
	if err != nil || b.Status.Subjects[0].UserID == "" {
		t.Fatalf("the subject did not resolve: %v %+v", err, b.Status.Subjects)
	}
}

// The role's listing is shared, so it may predate a grant made by hand to a user a binding then
// names. A binding with a few new subjects reads them one by one rather than trusting it: the
// grant is found, recorded as external, and survives the binding.
func TestAGrantMadeByHandSinceTheListingWasReadStaysExternal(t *testing.T) {
	f := newFixture(t)
	first, late := f.user("first@example.com"), f.user("late@example.com")
	viewer := f.roleID("viewer")
	other := binding("other", []string{"viewer"}, byID(first))
	f.store(other)
	if _, routes, err := f.pass(other); err != nil || routes[rolePages] != 1 {
		t.Fatalf("other: %v %v; want one read of viewer's members", err, routes)
	}
	f.emu.GrantRole(late, viewer) // by hand, after the listing was read

	b := binding("team", []string{"viewer"}, byID(late))
	f.store(b)
	_, routes, err := f.pass(b)
	if err != nil {
		t.Fatal(err)
	}
	if routes[rolePages] != 0 || routes["GET /api/v2/users/{id}/roles"] != 1 || writes(routes) != 0 {
		t.Errorf("a binding of one new subject: %v; want its roles read, the shared listing kept and nothing written", routes)
	}
	if sub := b.Status.Subjects[0]; !slices.Equal(sub.ExternalRoles, []string{viewer}) || len(sub.Roles) != 0 {
		t.Fatalf("the binding records %+v; viewer was granted by hand before it named the user", sub)
	}
	if err := f.r.Delete(f.ctx, b); err != nil {
		t.Fatal(err)
	}
	if got := f.emu.UserRoleIDs(late); !slices.Equal(got, []string{viewer}) {
		t.Fatalf("after the binding went the user holds %v; the grant made by hand must stay", got)
	}
}

// A binding's own grant that its spec drops is revoked even when the shared listing does not show
// it (a listing read before the grant reached it: made through another client of the tenant):
// taking the listing's word would drop the grant from status and leave the access in place.
func TestAnOwnGrantMissingFromASharedListingIsStillRevoked(t *testing.T) {
	f := newFixture(t)
	alice, zed := f.user("alice@example.com"), f.user("zed@example.com")
	viewer := f.roleID("viewer")
	other := binding("other", []string{"viewer"}, byID(zed))
	f.store(other)
	if _, _, err := f.pass(other); err != nil {
		t.Fatal(err)
	}
	f.emu.GrantRole(alice, viewer) // the binding's grant, which the listing read above lacks

	mine := f.verified(binding("mine", []string{"editor"}, byID(alice)))
	mine.Generation = 2 // it applied viewer at generation 1; its spec now wants editor instead
	mine.Status.ObservedGeneration = 1
	mine.Status.Subjects = []v1alpha1.SubjectStatus{{Subject: "userID:" + alice, UserID: alice, Roles: []string{viewer}}}
	f.store(mine)
	if _, _, err := f.pass(mine); err != nil {
		t.Fatal(err)
	}
	if n := f.calls("GET", "/api/v2/roles/"+viewer+"/users"); n != 0 {
		t.Errorf("the pass read viewer's members %d times; the shared listing is a moment old", n)
	}
	if got := f.emu.UserRoleIDs(alice); !slices.Equal(got, []string{f.roleID("editor")}) {
		t.Fatalf("alice holds %v; viewer, which no binding grants any more, should be revoked", got)
	}
}
