package userdiff

import (
	"encoding/json"
	"testing"

	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/pkg/emulator"
)

// applyPatch applies an update the way Auth0 (and the emulator) does: top-level metadata merge,
// null deletes.
func applyPatch(u *auth0.User, p auth0.UserUpdate) {
	for _, f := range auth0.ProfileFields {
		if f.Text != nil && *f.Text(&p.Profile) != "" {
			*f.Text(&u.Profile) = *f.Text(&p.Profile)
		}
		if f.Flag != nil && *f.Flag(&p.Profile) != nil {
			*f.Flag(&u.Profile) = *f.Flag(&p.Profile)
		}
	}
	u.UserMetadata = emulator.MergeMetadata(u.UserMetadata, p.UserMetadata)
	u.AppMetadata = emulator.MergeMetadata(u.AppMetadata, p.AppMetadata)
}

// FuzzCompareConverges checks the drift comparison's central property on arbitrary metadata and
// profiles: applying the plan's PATCH makes a second comparison find nothing, keys the object
// never owned are left as they were, and released keys are gone.
func FuzzCompareConverges(f *testing.F) {
	f.Add(`{"theme":"dark","n":{"a":1}}`, `{"theme":"light","app":"x"}`, `{"a":[1,2]}`, `{"a":null,"b":true}`, "Alice", "Bob", true)
	f.Add(`{}`, `{"x":1}`, `{}`, `{}`, "", "set by app", false)
	f.Fuzz(func(t *testing.T, wantUser, gotUser, wantApp, gotApp, wantName, gotName string, verified bool) {
		var du, ou, da, oa map[string]any
		if json.Unmarshal([]byte(wantUser), &du) != nil || json.Unmarshal([]byte(gotUser), &ou) != nil ||
			json.Unmarshal([]byte(wantApp), &da) != nil || json.Unmarshal([]byte(gotApp), &oa) != nil {
			return
		}
		for _, m := range []map[string]any{du, da} {
			for k, v := range m {
				if v == nil {
					delete(m, k) // a spec cannot hold a null value
				}
			}
		}
		desired := Desired{Profile: auth0.Profile{Name: wantName, EmailVerified: &verified}, UserMetadata: du, AppMetadata: da}
		observed := &auth0.User{Profile: auth0.Profile{Name: gotName}, UserMetadata: ou, AppMetadata: oa}
		foreign := map[string]any{}
		for k, v := range ou {
			if _, desiredKey := du[k]; !desiredKey {
				foreign[k] = v
			}
		}
		// The object once owned every observed key it no longer wants, except "app" (an
		// application's key it never set).
		var managed Managed
		for k := range ou {
			if _, ok := du[k]; !ok && k != "app" {
				managed.UserMetadataKeys = append(managed.UserMetadataKeys, k)
			}
		}
		plan := Compare(desired, observed, managed)
		applyPatch(observed, plan.Update)
		again := Compare(desired, observed, Managed{})
		if again.NeedsUpdate() {
			t.Fatalf("after applying the plan, still different: %+v", again.Differences)
		}
		for k := range managed.UserMetadataKeys {
			if _, still := observed.UserMetadata[managed.UserMetadataKeys[k]]; still {
				t.Fatalf("released key %q is still there", managed.UserMetadataKeys[k])
			}
		}
		if v, had := foreign["app"]; had && !jsonEqual(observed.UserMetadata["app"], v) {
			t.Fatalf("a key the object never owned changed: %v -> %v", v, observed.UserMetadata["app"])
		}
	})
}
