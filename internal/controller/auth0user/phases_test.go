package auth0user

import (
	"slices"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/userdiff"
)

func TestResolveStallsOnADottedMetadataKeyWithoutReadingASecretOrCallingAuth0(t *testing.T) {
	f := newFixture(t)
	u := newUser("alice", "alice@example.com")
	u.Spec.UserMetadata = map[string]apiextensionsv1.JSON{"prefs": jsonValue(t, map[string]any{"ui.theme": "dark"})}

	v := controller.Classify(f.r.resolve(f.ctx, f.scope(u)))
	if v.Outcome != controller.OutcomeStalled || v.Reason != conditions.ReasonInvalidSpec {
		t.Fatalf("want Stalled/InvalidSpec, got %+v", v)
	}
	if !strings.Contains(v.Message, "ui.theme") {
		t.Errorf("the message should name the nested key: %q", v.Message)
	}
	if n := f.secretReads.Load(); n != 0 {
		t.Errorf("an invalid spec read %d Secrets", n)
	}
	if reqs := f.emu.Requests(); len(reqs) != 0 {
		t.Errorf("an invalid spec reached Auth0: %v", reqs)
	}
}

func TestResolveStallsOnPolicyDenialBeforeReadingTheTenantSecret(t *testing.T) {
	f := newFixture(t)
	denied := newUser("alice", "alice@example.com")
	denied.Namespace = lockedNS

	v := controller.Classify(f.r.resolve(f.ctx, f.scope(denied)))
	if v.Outcome != controller.OutcomeStalled || v.Reason != conditions.ReasonPolicyDenied {
		t.Fatalf("want Stalled/PolicyDenied, got %+v", v)
	}
	if n := f.secretReads.Load(); n != 0 {
		t.Errorf("a denied object read %d Secrets", n)
	}
	if reqs := f.emu.Requests(); len(reqs) != 0 {
		t.Errorf("a denied object reached Auth0: %v", reqs)
	}

	// The same object where a policy allows it reads its tenant and password Secrets: the
	// counter above does count.
	if err := f.r.resolve(f.ctx, f.scope(newUser("alice", "alice@example.com"))); err != nil {
		t.Fatalf("resolve in an allowed namespace: %v", err)
	}
	if n := f.secretReads.Load(); n != 2 {
		t.Errorf("an allowed object read %d Secrets, want 2 (tenant and password)", n)
	}
}

func TestObserveMakesNoCallForANewUserUnlessAdoptionIsAsked(t *testing.T) {
	f := newFixture(t)
	u := newUser("alice", "alice@example.com")
	s := f.scope(u)
	if err := f.r.resolve(f.ctx, s); err != nil {
		t.Fatal(err)
	}
	f.emu.ResetCounters()

	if err := f.r.observeUser(f.ctx, s); err != nil {
		t.Fatal(err)
	}
	if s.observed != nil {
		t.Fatalf("observed a user that was never created: %+v", s.observed)
	}
	if calls := f.apiCalls(); len(calls) != 0 {
		t.Fatalf("observing a new user without adoptExisting called Auth0: %v", calls)
	}

	u.Spec.AdoptExisting = true
	if err := f.r.observeUser(f.ctx, s); err != nil {
		t.Fatal(err)
	}
	if calls := f.apiCalls(); len(calls) != 1 || !strings.HasPrefix(calls[0], "GET /api/v2/users-by-email") {
		t.Fatalf("with adoptExisting, want one users-by-email lookup, got %v", calls)
	}
}

func TestCreateRecordsTheMetadataKeysBeforeThePOSTAndSendsThePasswordOnce(t *testing.T) {
	f := newFixture(t)
	u := newUser("alice", "alice@example.com")
	u.Spec.UserMetadata = map[string]apiextensionsv1.JSON{"team": jsonValue(t, "platform")}
	u.Spec.AppMetadata = map[string]apiextensionsv1.JSON{"plan": jsonValue(t, "pro")}
	f.create(u)

	type seen struct {
		posts         int
		userKeys, app []string
	}
	var patches []seen
	f.setStatusHook(func(obj client.Object, _ []byte) {
		posts := 0
		for _, c := range f.apiCalls() {
			if strings.HasPrefix(c, "POST /api/v2/users ") {
				posts++
			}
		}
		st := obj.(*v1alpha1.Auth0User).Status
		patches = append(patches, seen{posts, st.ManagedUserMetadataKeys, st.ManagedAppMetadataKeys})
	})
	got := f.mustPass(u)
	f.setStatusHook(nil)

	if len(patches) < 2 {
		t.Fatalf("want a status write before the create and one after, got %d", len(patches))
	}
	first := patches[0]
	if first.posts != 0 || !slices.Equal(first.userKeys, []string{"team"}) || !slices.Equal(first.app, []string{"plan"}) {
		t.Fatalf("the first status write should record the keys before the POST: %+v", first)
	}
	id := got.Status.UserID
	if !strings.HasPrefix(id, "auth0|") {
		t.Fatalf("no user id in status: %+v", got.Status)
	}
	if !f.emu.PasswordIs(id, testPassword) || f.emu.PasswordChanges(id) != 1 {
		t.Fatalf("password set %d times, want once, with the Secret's value", f.emu.PasswordChanges(id))
	}
	if pw := got.Status.Password; pw == nil || pw.SecretUID != "uid-password" || pw.Key != "password" || pw.SecretResourceVersion == "" {
		t.Fatalf("status.password does not record the Secret version sent: %+v", got.Status.Password)
	}
	if owner := f.emu.User(id)["app_metadata"].(map[string]any)[userdiff.OwnerKey]; owner != clusterName+"/"+testNS+"/alice/"+string(got.UID) {
		t.Fatalf("owner marker %v", owner)
	}

	// A second pass finds everything in place: no write to Auth0, none to the status.
	f.emu.ResetCounters()
	patchesBefore := f.statusPatches.Load()
	f.mustPass(u)
	if w := f.writes(); len(w) != 0 {
		t.Errorf("a steady pass wrote to Auth0: %v", w)
	}
	if n := f.statusPatches.Load() - patchesBefore; n != 0 {
		t.Errorf("a steady pass wrote the status %d times", n)
	}
	if f.emu.PasswordChanges(id) != 1 {
		t.Errorf("a steady pass re-sent the password")
	}
}

func TestARetryAfterALostCreateFindsTheUserByItsOwnerMarkerInsteadOfCreatingASecond(t *testing.T) {
	f := newFixture(t)
	u := newUser("alice", "alice@example.com")
	u.Spec.UserMetadata = map[string]apiextensionsv1.JSON{"team": jsonValue(t, "platform")}
	f.create(u)

	f.emu.LoseNextResponses("POST /api/v2/users", 1)
	got, err := f.pass(u)
	if v := controller.Classify(err); v.Outcome != controller.OutcomeRetrying {
		t.Fatalf("a lost create response should be retried, got %+v", v)
	}
	if got.Status.UserID != "" {
		t.Fatalf("the id of a create whose response was lost cannot be known: %q", got.Status.UserID)
	}
	if !slices.Equal(got.Status.ManagedUserMetadataKeys, []string{"team"}) {
		t.Fatalf("the keys of the lost create are not recorded: %v", got.Status.ManagedUserMetadataKeys)
	}
	made := f.emu.UsersByEmail("alice@example.com")
	if len(made) != 1 {
		t.Fatalf("the lost create should have committed one user, found %d", len(made))
	}

	got = f.mustPass(u)
	if got.Status.UserID != made[0]["user_id"] {
		t.Fatalf("status names %q, the lost create made %v", got.Status.UserID, made[0]["user_id"])
	}
	if n := len(f.emu.UsersByEmail("alice@example.com")); n != 1 {
		t.Fatalf("the retry made a second user: %d with the email", n)
	}
}

func TestUpdatePatchesOnlyTheFieldsThatDiffer(t *testing.T) {
	f := newFixture(t)
	u := newUser("alice", "alice@example.com")
	u.Spec.Name = "Alice"
	u.Spec.Nickname = "al"
	u.Spec.UserMetadata = map[string]apiextensionsv1.JSON{"team": jsonValue(t, "platform"), "oncall": jsonValue(t, true)}
	u.Spec.AppMetadata = map[string]apiextensionsv1.JSON{"plan": jsonValue(t, "pro")}
	f.create(u)
	id := f.mustPass(u).Status.UserID

	if err := f.emu.PatchUser(id, map[string]any{"name": "Mallory", "user_metadata": map[string]any{"team": "sales", "theme": "dark"}}); err != nil {
		t.Fatal(err)
	}

	obj := f.get(u)
	s := f.scope(obj)
	if err := f.r.resolve(f.ctx, s); err != nil {
		t.Fatal(err)
	}
	rec := &recordingClient{Client: s.auth0}
	s.auth0 = rec
	for _, phase := range []func() error{
		func() error { return f.r.observeUser(f.ctx, s) },
		func() error { return f.r.createUser(f.ctx, s) },
		func() error { return f.r.updateUser(f.ctx, s) },
	} {
		if err := phase(); err != nil {
			t.Fatal(err)
		}
	}

	if len(rec.updates) != 1 {
		t.Fatalf("want one PATCH, got %d", len(rec.updates))
	}
	up := rec.updates[0]
	if up.Name != "Alice" {
		t.Errorf("the drifted name is not patched: %q", up.Name)
	}
	if up.Nickname != "" || up.Email != "" || up.Password != nil || up.AppMetadata != nil {
		t.Errorf("fields that match were sent: %+v", up)
	}
	if len(up.UserMetadata) != 1 || up.UserMetadata["team"] != "platform" {
		t.Errorf("want only userMetadata.team patched, got %v", up.UserMetadata)
	}
	var fields []string
	for _, d := range obj.Status.Drift {
		fields = append(fields, d.Field)
	}
	if !slices.Equal(fields, []string{"name", "userMetadata.team"}) {
		t.Errorf("drift recorded %v", fields)
	}
	remote := f.emu.User(id)
	if remote["name"] != "Alice" || remote["user_metadata"].(map[string]any)["theme"] != "dark" {
		t.Errorf("after the patch Auth0 holds %v", remote)
	}
}

func TestUnderPolicyReportDriftIsReportedAndNothingIsWritten(t *testing.T) {
	f := newFixture(t)
	u := newUser("alice", "alice@example.com")
	u.Spec.Name = "Alice"
	u.Spec.DriftPolicy = v1alpha1.DriftPolicyReport
	f.create(u)
	id := f.mustPass(u).Status.UserID
	if err := f.emu.PatchUser(id, map[string]any{"name": "Mallory"}); err != nil {
		t.Fatal(err)
	}
	drainEvents(f)

	f.emu.ResetCounters()
	got := f.mustPass(u)
	if w := f.writes(); len(w) != 0 {
		t.Fatalf("policy Report wrote to Auth0: %v", w)
	}
	if f.emu.User(id)["name"] != "Mallory" {
		t.Fatalf("policy Report corrected the drift")
	}
	if !conditions.IsTrue(got.Status.Conditions, v1alpha1.ConditionDrifted) || got.Status.DriftCount != 1 || got.Status.Drift[0].Field != "name" {
		t.Fatalf("drift not reported: %+v", got.Status)
	}
	if ev := drainEvents(f); len(ev) != 1 || !strings.Contains(ev[0], conditions.ReasonDriftDetected) {
		t.Fatalf("want one DriftDetected event, got %v", ev)
	}

	// The same drift on the next pass is neither written again nor announced again.
	patches := f.statusPatches.Load()
	f.mustPass(u)
	if n := f.statusPatches.Load() - patches; n != 0 {
		t.Errorf("persisting drift wrote the status %d more times", n)
	}
	if ev := drainEvents(f); len(ev) != 0 {
		t.Errorf("persisting drift was announced again: %v", ev)
	}
}

func TestThePasswordIsResentOnlyWhenTheSecretsResourceVersionChanges(t *testing.T) {
	f := newFixture(t)
	u := newUser("alice", "alice@example.com")
	f.create(u)
	id := f.mustPass(u).Status.UserID
	first := f.get(u).Status.Password.SecretResourceVersion

	reads := f.secretReads.Load()
	f.mustPass(u)
	if f.emu.PasswordChanges(id) != 1 {
		t.Fatalf("an unchanged Secret re-sent the password")
	}
	if n := f.secretReads.Load() - reads; n != 0 {
		t.Errorf("a steady pass read %d Secrets; their versions in the metadata cache suffice", n)
	}

	f.updatePassword(newTestPassword)
	got := f.mustPass(u)
	if f.emu.PasswordChanges(id) != 2 || !f.emu.PasswordIs(id, newTestPassword) {
		t.Fatalf("a changed Secret did not send the new password (changes %d)", f.emu.PasswordChanges(id))
	}
	if got.Status.Password.SecretResourceVersion == first {
		t.Fatalf("status.password still names the old version %s", first)
	}

	f.mustPass(u)
	if f.emu.PasswordChanges(id) != 2 {
		t.Fatalf("the new password was sent again without a change")
	}
}

func TestDeletionUnderPolicyOrphanRemovesTheOwnerMarkerAndKeepsTheUser(t *testing.T) {
	f := newFixture(t)
	u := newUser("alice", "alice@example.com")
	u.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
	u.Spec.AppMetadata = map[string]apiextensionsv1.JSON{"plan": jsonValue(t, "pro")}
	f.create(u)
	id := f.mustPass(u).Status.UserID

	if err := f.c.Delete(f.ctx, f.get(u)); err != nil {
		t.Fatal(err)
	}
	f.emu.ResetCounters()
	if _, err := f.shell.Reconcile(f.ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(u)}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := f.c.Get(f.ctx, client.ObjectKeyFromObject(u), &v1alpha1.Auth0User{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the object should be gone once released, got %v", err)
	}
	remote := f.emu.User(id)
	if remote == nil {
		t.Fatalf("policy Orphan deleted the user")
	}
	app, _ := remote["app_metadata"].(map[string]any)
	if _, marked := app[userdiff.OwnerKey]; marked || app["plan"] != "pro" {
		t.Fatalf("want the owner marker gone and the rest kept, app_metadata %v", app)
	}
	for _, w := range f.writes() {
		if strings.HasPrefix(w, "DELETE ") {
			t.Fatalf("policy Orphan sent %s", w)
		}
	}
}

func TestAUserDeletedOutOfBandUnderPolicyReportIsReportedAndNotRecreated(t *testing.T) {
	f := newFixture(t)
	u := newUser("alice", "alice@example.com")
	u.Spec.DriftPolicy = v1alpha1.DriftPolicyReport
	f.create(u)
	id := f.mustPass(u).Status.UserID
	f.emu.DeleteUser(id)

	f.emu.ResetCounters()
	got := f.mustPass(u)
	if w := f.writes(); len(w) != 0 {
		t.Fatalf("policy Report wrote to Auth0: %v", w)
	}
	if n := len(f.emu.UsersByEmail("alice@example.com")); n != 0 {
		t.Fatalf("policy Report recreated the user")
	}
	if got.Status.UserID != id {
		t.Errorf("status forgot the deleted user's id: %q", got.Status.UserID)
	}
	if !conditions.IsTrue(got.Status.Conditions, v1alpha1.ConditionDrifted) || got.Status.DriftCount != 1 || got.Status.Drift[0].Field != "user" {
		t.Fatalf("the deletion is not reported as drift: %+v", got.Status)
	}
	if reason := conditions.Reason(got.Status.Conditions, v1alpha1.ConditionReady); reason != conditions.ReasonSucceeded {
		t.Errorf("Ready reason %q", reason)
	}
}

func TestAUserDeletedOutOfBandUnderPolicyReportKeepsItsDetectedAtAndIsNotRewrittenOnEveryResync(t *testing.T) {
	f := newFixture(t)
	u := newUser("alice", "alice@example.com")
	u.Spec.DriftPolicy = v1alpha1.DriftPolicyReport
	f.create(u)
	id := f.mustPass(u).Status.UserID
	f.emu.DeleteUser(id)
	f.mustPass(u)

	// The deletion was first seen an hour ago.
	obj := f.get(u)
	firstSeen := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	obj.Status.Drift[0].DetectedAt = firstSeen
	if err := f.c.Status().Update(f.ctx, obj); err != nil {
		t.Fatal(err)
	}

	patches := f.statusPatches.Load()
	got := f.mustPass(u)
	if n := f.statusPatches.Load() - patches; n != 0 {
		t.Errorf("the same reported deletion wrote the status again (%d writes)", n)
	}
	if at := got.Status.Drift[0].DetectedAt; !at.Equal(&firstSeen) {
		t.Errorf("detectedAt moved from %v to %v: it should keep the time the drift was first seen", firstSeen, at)
	}
}

// drainEvents empties the fake recorder.
func drainEvents(f *fixture) []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}
