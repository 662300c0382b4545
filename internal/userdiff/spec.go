package userdiff

import (
	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
)

// profileOf is the profile a spec declares. With SetSpecProfile, it is the one place that knows
// both the CRD's field names and auth0.Profile; the booleans are copied, so that nothing written
// into the profile (the SDK decodes Auth0's answer into the request it sent) reaches the spec.
func profileOf(spec *v1alpha1.Auth0UserSpec) auth0.Profile {
	return auth0.Profile{
		Email: spec.Email, Username: spec.Username, PhoneNumber: spec.PhoneNumber,
		Name: spec.Name, GivenName: spec.GivenName, FamilyName: spec.FamilyName,
		Nickname: spec.Nickname, Picture: spec.Picture,
		EmailVerified: copyBool(spec.EmailVerified), Blocked: copyBool(spec.Blocked),
	}
}

// SetSpecProfile writes every field of a profile into the spec, empty ones included.
func SetSpecProfile(spec *v1alpha1.Auth0UserSpec, p auth0.Profile) {
	spec.Email, spec.Username, spec.PhoneNumber = p.Email, p.Username, p.PhoneNumber
	spec.Name, spec.GivenName, spec.FamilyName = p.Name, p.GivenName, p.FamilyName
	spec.Nickname, spec.Picture = p.Nickname, p.Picture
	spec.EmailVerified, spec.Blocked = copyBool(p.EmailVerified), copyBool(p.Blocked)
}

func copyBool(b *bool) *bool {
	if b == nil {
		return nil
	}
	v := *b
	return &v
}
