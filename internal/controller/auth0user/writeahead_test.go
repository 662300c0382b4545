package auth0user

import (
	"testing"

	"github.com/usersync/auth0-operator/internal/userdiff"
	"github.com/usersync/auth0-operator/pkg/emulator"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// An update adding a metadata key whose status never gets written (process killed after the
// PATCH reached Auth0, or the API server cut before the shell's status patch): the next pass finds
// the key in place and records it as found, so removing it from the spec leaves it in Auth0.
func TestAKeyAnUpdateWritesIsRecordedBeforeTheWriteAndDeletedWhenItLeaves(t *testing.T) {
	f := newFixture(t)
	u := newUser("alice", "alice@example.com")
	f.create(u)
	id := f.mustPass(u).Status.UserID

	obj := f.get(u)
	obj.Spec.AppMetadata = map[string]apiextensionsv1.JSON{"tier": jsonValue(t, "gold")}
	obj.Generation++
	if err := f.c.Update(f.ctx, obj); err != nil {
		t.Fatal(err)
	}
	// One pass whose phases run but whose status is lost.
	lost := f.get(u)
	s := f.scope(lost)
	for _, phase := range []func() error{
		func() error { return f.r.resolve(f.ctx, s) },
		func() error { return f.r.observeUser(f.ctx, s) },
		func() error { return f.r.createUser(f.ctx, s) },
		func() error { return f.r.updateUser(f.ctx, s) },
	} {
		if err := phase(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("Auth0 app_metadata after the lost pass: %v", f.emu.User(id)["app_metadata"])
	got := f.mustPass(u)
	t.Logf("status: managed %v found %v", got.Status.ManagedAppMetadataKeys, got.Status.FoundAppMetadataKeys)

	obj = f.get(u)
	obj.Spec.AppMetadata = nil
	obj.Generation++
	if err := f.c.Update(f.ctx, obj); err != nil {
		t.Fatal(err)
	}
	f.mustPass(u)
	if am, _ := f.emu.User(id)["app_metadata"].(map[string]any); am["tier"] != nil {
		t.Fatalf("the operator wrote app_metadata.tier, it left the spec, and Auth0 still holds it: %v", am)
	}
}

// An adoption whose claim's answer is lost: the user's id was recorded before the claim, so the
// next pass finishes the claim, and deleting the object then deletes the user it adopted rather
// than leaving it marked by an object that is gone.
func TestAnAdoptionWhoseClaimIsLostIsFinishedAndDeletedWithItsObject(t *testing.T) {
	f := newFixture(t)
	id, err := f.emu.CreateUser(emulator.SeedUser{Email: "adopted@example.com", Password: "Adopted-Passw0rd!"})
	if err != nil {
		t.Fatal(err)
	}
	u := newUser("adopter", "adopted@example.com")
	u.Spec.AdoptExisting = true
	f.create(u)

	f.emu.LoseNextResponses("PATCH /api/v2/users/{id}", 1)
	got, err := f.pass(u)
	if err == nil {
		t.Fatal("the pass whose claim lost its answer succeeded")
	}
	if got.Status.UserID != id {
		t.Fatalf("status.userID = %q before the claim's answer, want %q recorded ahead", got.Status.UserID, id)
	}
	got = f.mustPass(u)
	if owner := f.emu.User(id)["app_metadata"].(map[string]any)[userdiff.OwnerKey]; owner != ownerOf(clusterName, got) {
		t.Fatalf("owner marker %v after the claim was finished", owner)
	}

	if err := f.c.Delete(f.ctx, got); err != nil {
		t.Fatal(err)
	}
	if _, err := f.shell.Reconcile(f.ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(u)}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if f.emu.User(id) != nil {
		t.Fatal("the adopted user outlived its object")
	}
}
