// Package userdiff compares an Auth0User spec with the user observed in Auth0 and computes the
// PATCH that reconciles them. It is pure: no I/O, no clocks, so its rules are table-tested.
//
// Ownership rules, the point of the package:
//   - Profile fields are managed only when the spec sets them.
//   - Metadata is shared with applications. Only keys present in the spec are compared and
//     written; a key the operator wrote earlier (recorded in status) that left the spec is removed
//     with a null; every other key belongs to somebody else and is never read into the diff.
//   - Auth0 merges metadata at the top level only, so a nested object is compared and written
//     whole, exactly as Auth0 will store it.
package userdiff

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
)

// OwnerKey is the app_metadata key in which the operator records which object manages a user,
// so that no other object, in any namespace or cluster, takes it over.
const OwnerKey = "usersync_owner"

// Desired is the state an Auth0User spec declares, in Auth0's terms.
type Desired struct {
	Connection string
	auth0.Profile
	UserMetadata map[string]any
	AppMetadata  map[string]any
}

// FromSpec decodes a spec. It fails only on metadata values that are not valid JSON, which the
// API server does not let through.
func FromSpec(spec v1alpha1.Auth0UserSpec) (Desired, error) {
	userMeta, err := decodeMetadata(spec.UserMetadata)
	if err != nil {
		return Desired{}, fmt.Errorf("cannot decode userMetadata: %w", err)
	}
	appMeta, err := decodeMetadata(spec.AppMetadata)
	if err != nil {
		return Desired{}, fmt.Errorf("cannot decode appMetadata: %w", err)
	}
	return Desired{
		Connection:   spec.Connection,
		Profile:      profileOf(&spec),
		UserMetadata: userMeta,
		AppMetadata:  appMeta,
	}, nil
}

// Managed are the metadata keys of the spec as status records them: written by the operator
// (deleted from Auth0 when they leave the spec), or found already in place with the spec's value
// on adoption or after an export (released, not deleted, when they leave the spec).
type Managed struct {
	UserMetadataKeys []string
	AppMetadataKeys  []string
	// Found keys were never written by the operator.
	FoundUserMetadataKeys []string
	FoundAppMetadataKeys  []string
}

// Difference is one managed field whose value in Auth0 is not the spec's. Values are rendered
// as JSON (empty when absent) and truncated; no field that can hold a secret is ever compared.
type Difference struct {
	Field    string
	Desired  string
	Observed string
}

// Plan is the outcome of comparing a spec with an observed user.
type Plan struct {
	// Differences are the managed fields that differ, sorted by field.
	Differences []Difference
	// Released are metadata keys (as `userMetadata.k` / `appMetadata.k`) that the operator wrote,
	// that left the spec, and that are still in Auth0: the update removes them.
	Released []string
	// Update is the PATCH that makes Auth0 match the spec; meaningful only when NeedsUpdate.
	Update auth0.UserUpdate
}

// NeedsUpdate reports whether Auth0 must be written to.
func (p Plan) NeedsUpdate() bool { return len(p.Differences) > 0 || len(p.Released) > 0 }

// Compare computes the plan that brings the observed user to the desired state.
func Compare(d Desired, observed *auth0.User, managed Managed) Plan {
	var p Plan
	p.Update.Connection = d.Connection

	for _, f := range auth0.ProfileFields {
		p.compareField(f, &d.Profile, &observed.Profile)
	}
	p.Update.UserMetadata = p.compareMetadata("userMetadata", d.UserMetadata, observed.UserMetadata, managed.UserMetadataKeys)
	p.Update.AppMetadata = p.compareMetadata("appMetadata", d.AppMetadata, observed.AppMetadata, managed.AppMetadataKeys)

	sort.Slice(p.Differences, func(i, j int) bool { return p.Differences[i].Field < p.Differences[j].Field })
	sort.Strings(p.Released)
	return p
}

// compareField compares one profile field, if the spec sets it, and patches it when it differs.
// A flag Auth0 does not hold counts as false.
func (p *Plan) compareField(f auth0.ProfileField, desired, observed *auth0.Profile) {
	if f.Text != nil {
		want, got := *f.Text(desired), *f.Text(observed)
		if want == "" || sameText(f.Name, want, got) {
			return
		}
		p.Differences = append(p.Differences, Difference{Field: f.Name, Desired: render(want), Observed: renderString(got)})
		*f.Text(&p.Update.Profile) = want
		return
	}
	want, got := *f.Flag(desired), *f.Flag(observed)
	if want == nil || (got != nil && *got == *want) || (got == nil && !*want) {
		return
	}
	p.Differences = append(p.Differences, Difference{Field: f.Name, Desired: render(*want), Observed: renderBool(got)})
	v := *want
	*f.Flag(&p.Update.Profile) = &v
}

// sameText compares a text field: exactly, but emails as Auth0 stores them.
func sameText(field, want, got string) bool {
	if field == "email" {
		return sameEmail(want, got)
	}
	return want == got
}

// compareMetadata compares the desired keys, and releases managed keys that left the spec. It
// returns the metadata patch (nil when nothing changes); a nil value in it deletes the key.
func (p *Plan) compareMetadata(prefix string, desired, observed map[string]any, managed []string) map[string]any {
	var patch map[string]any
	put := func(k string, v any) {
		if patch == nil {
			patch = map[string]any{}
		}
		patch[k] = v
	}
	for _, k := range sortedKeys(desired) {
		got, present := observed[k]
		if present && jsonEqual(desired[k], got) {
			continue
		}
		observedText := ""
		if present {
			observedText = render(got)
		}
		p.Differences = append(p.Differences, Difference{Field: prefix + "." + k, Desired: render(desired[k]), Observed: observedText})
		put(k, desired[k])
	}
	for _, k := range managed {
		if _, stillDesired := desired[k]; stillDesired {
			continue
		}
		if _, present := observed[k]; present {
			p.Released = append(p.Released, prefix+"."+k)
			put(k, nil)
		}
	}
	return patch
}

// sameEmail compares emails as Auth0 stores them, lowercased. EqualFold alone is not enough:
// Auth0 lowercases "İ" to a plain "i", which EqualFold does not match, and the spec would drift
// (and unverify the email) on every resync.
func sameEmail(want, got string) bool {
	return strings.EqualFold(want, got) || strings.ToLower(want) == strings.ToLower(got)
}

// KeysAfter is what status must record about the spec's metadata keys once an update that
// writes the keys of writingUser and writingApp (a nil value deletes a key) may have reached
// Auth0: before it is sent or when its answer was lost (applied false), or after it succeeded.
// A spec key is written if the operator wrote it before or writes it now, and found otherwise
// (Auth0 already held the spec's value). Written keys that left the spec stay recorded until an
// applied update has removed them, so that a key is never forgotten while it may be in Auth0;
// found keys that left the spec are simply forgotten.
func KeysAfter(d Desired, previous Managed, writingUser, writingApp map[string]any, applied bool) Managed {
	var next Managed
	next.UserMetadataKeys, next.FoundUserMetadataKeys = keysAfter(d.UserMetadata, previous.UserMetadataKeys, writingUser, applied)
	next.AppMetadataKeys, next.FoundAppMetadataKeys = keysAfter(d.AppMetadata, previous.AppMetadataKeys, writingApp, applied)
	return next
}

func keysAfter(desired map[string]any, written []string, writing map[string]any, applied bool) (nextWritten, found []string) {
	for _, k := range sortedKeys(desired) {
		v, writes := writing[k]
		if slices.Contains(written, k) || writes && v != nil {
			nextWritten = append(nextWritten, k)
		} else {
			found = append(found, k)
		}
	}
	if !applied {
		nextWritten = union(nextWritten, written)
	}
	return nextWritten, found
}

// CreateRequest is the body that creates the desired user, claimed by owner.
func CreateRequest(d Desired, password string, verifyEmail *bool, owner string) auth0.UserCreate {
	app := map[string]any{OwnerKey: owner}
	for k, v := range d.AppMetadata {
		app[k] = v
	}
	return auth0.UserCreate{
		Connection:   d.Connection,
		Profile:      d.Profile,
		VerifyEmail:  copyBool(verifyEmail),
		Password:     password,
		UserMetadata: d.UserMetadata,
		AppMetadata:  app,
	}
}

// Owner returns the owner recorded on an Auth0 user, or "" when none is.
func Owner(u *auth0.User) string {
	s, _ := u.AppMetadata[OwnerKey].(string)
	return s
}

// MarkedBy tells whether a user carries an owner marker of the cluster: one of its objects'
// (cluster/namespace/name[/uid]).
func MarkedBy(cluster string) func(*auth0.User) bool {
	return func(u *auth0.User) bool { return strings.HasPrefix(Owner(u), cluster+"/") }
}

// ConnectionOf returns the connection of a user: the field when Auth0 returned it, else the
// connection of its primary identity (user reads return only the identities).
func ConnectionOf(u *auth0.User) string {
	if u.Connection != "" {
		return u.Connection
	}
	if len(u.Identities) > 0 {
		return u.Identities[0].Connection
	}
	return ""
}

func decodeMetadata(in map[string]apiextensionsv1.JSON) (map[string]any, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(in))
	for k, raw := range in {
		var v any
		if err := json.Unmarshal(raw.Raw, &v); err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}

// jsonEqual compares two decoded JSON values after normalising them through encoding/json, so
// that numbers decoded by different decoders (float64, json.Number, int) compare equal.
func jsonEqual(a, b any) bool {
	return reflect.DeepEqual(normalise(a), normalise(b))
}

func normalise(v any) any {
	raw, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return v
	}
	return out
}

const maxRendered = 256

func render(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	s := string(raw)
	if len(s) > maxRendered {
		s = s[:maxRendered-3] + "..."
	}
	return s
}

func renderString(s string) string {
	if s == "" {
		return ""
	}
	return render(s)
}

func renderBool(b *bool) string {
	if b == nil {
		return ""
	}
	return render(*b)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, k := range b {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
