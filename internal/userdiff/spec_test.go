package userdiff

import (
	"reflect"
	"testing"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
)

// TestSpecProfileMapsEveryField checks the mapping between the spec and Profile both ways, and
// that the profile does not share the spec's booleans (the SDK writes Auth0's answer into them).
func TestSpecProfileMapsEveryField(t *testing.T) {
	verified, blocked := true, false
	spec := v1alpha1.Auth0UserSpec{
		Connection: "db", Email: "a@x.io", Username: "ally", PhoneNumber: "+15550100", Name: "Alice Liddell",
		GivenName: "Alice", FamilyName: "Liddell", Nickname: "al", Picture: "https://x.io/a.png",
		EmailVerified: &verified, Blocked: &blocked, VerifyEmail: &verified,
	}
	want := auth0.Profile{
		Email: "a@x.io", Username: "ally", PhoneNumber: "+15550100", Name: "Alice Liddell",
		GivenName: "Alice", FamilyName: "Liddell", Nickname: "al", Picture: "https://x.io/a.png",
		EmailVerified: &verified, Blocked: &blocked,
	}
	d, err := FromSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d.Profile, want) || d.Connection != "db" {
		t.Errorf("FromSpec = %+v, want %+v", d, want)
	}

	back := v1alpha1.Auth0UserSpec{Connection: "db", VerifyEmail: &verified}
	SetSpecProfile(&back, d.Profile)
	if !reflect.DeepEqual(back, spec) {
		t.Errorf("SetSpecProfile wrote %+v, want %+v", back, spec)
	}
	*d.EmailVerified = false
	if !*spec.EmailVerified {
		t.Error("writing the profile's emailVerified changed the spec's")
	}
}
