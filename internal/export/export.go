// Package export turns existing Auth0 users into Auth0User objects, so that a team can move a
// tenant under GitOps: the objects it writes apply cleanly and reconcile without a write.
package export

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/userdiff"
)

// Options select and shape the exported objects.
type Options struct {
	// Query is a users search (Lucene, search engine v3), e.g. `app_metadata.team:platform`.
	Query string
	// Limit caps the users exported (Auth0 returns at most 1000 per query).
	Limit int
	// Namespace and TenantSecret are written into the objects; an empty TenantSecret means the
	// operator's default tenant.
	Namespace    string
	TenantSecret string
	// ClusterName is the operator's --cluster-name; with Claim, each user is marked as managed
	// by the object written for it, so that applying the objects adopts without a write.
	ClusterName string
	Claim       bool
}

// Result is one exported user.
type Result struct {
	Object v1alpha1.Auth0User
	// Skipped says why a user was not exported (managed elsewhere, no email), or "".
	Skipped string
	UserID  string
}

// Users exports the users the query selects. Users another object already manages are skipped,
// as are users without an email (an Auth0User names its user by email).
func Users(ctx context.Context, c auth0.Client, o Options) ([]Result, error) {
	found, err := c.SearchUsers(ctx, o.Query, o.Limit)
	if err != nil {
		return nil, fmt.Errorf("cannot search users: %w", err)
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Email < found[j].Email })
	names := map[string]int{}
	var out []Result
	for _, u := range found {
		r := Result{UserID: u.ID}
		switch {
		case u.Email == "":
			r.Skipped = "no email"
		default:
			r.Object = toObject(u, o, uniqueName(u.Email, names))
			if owner := userdiff.Owner(u); owner != "" && owner != ownerOf(o, r.Object.Name) {
				r.Skipped = "managed by " + owner
			}
		}
		out = append(out, r)
	}
	if o.Claim {
		for _, r := range out {
			if r.Skipped != "" {
				continue
			}
			claim := map[string]any{userdiff.OwnerKey: ownerOf(o, r.Object.Name)}
			if _, err := c.UpdateUser(ctx, r.UserID, auth0.UserUpdate{AppMetadata: claim}); err != nil {
				return nil, fmt.Errorf("cannot claim user %s: %w", r.UserID, err)
			}
		}
	}
	return out, nil
}

func ownerOf(o Options, name string) string { return o.ClusterName + "/" + o.Namespace + "/" + name }

// toObject declares the user as it is: every profile field Auth0 holds and every metadata key,
// which the object then owns. Deletion leaves the user in place (Orphan): it existed before.
func toObject(u *auth0.User, o Options, name string) v1alpha1.Auth0User {
	obj := v1alpha1.Auth0User{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Auth0User"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: o.Namespace},
		Spec: v1alpha1.Auth0UserSpec{
			Connection:     userdiff.ConnectionOf(u),
			UserMetadata:   toJSON(u.UserMetadata),
			AppMetadata:    toJSON(u.AppMetadata),
			AdoptExisting:  true,
			DeletionPolicy: v1alpha1.DeletionPolicyOrphan,
		},
	}
	userdiff.SetSpecProfile(&obj.Spec, u.Profile)
	if o.TenantSecret != "" {
		obj.Spec.TenantRef = &v1alpha1.TenantReference{SecretName: o.TenantSecret}
	}
	return obj
}

func toJSON(m map[string]any) map[string]apiextensionsv1.JSON {
	out := map[string]apiextensionsv1.JSON{}
	for k, v := range m {
		if k == userdiff.OwnerKey {
			continue
		}
		raw, _ := json.Marshal(v)
		out[k] = apiextensionsv1.JSON{Raw: raw}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// uniqueName makes a DNS-1123 object name from an email's local part, numbered on collision.
func uniqueName(email string, seen map[string]int) string {
	local, _, _ := strings.Cut(strings.ToLower(email), "@")
	name := strings.Trim(notDNS.ReplaceAllString(local, "-"), "-")
	if name == "" {
		name = "user"
	}
	if len(name) > 50 {
		name = name[:50]
	}
	seen[name]++
	if n := seen[name]; n > 1 {
		name = fmt.Sprintf("%s-%d", name, n)
	}
	return name
}

// WriteYAML writes the exported objects as a multi-document YAML stream, with a comment for each
// skipped user.
func WriteYAML(w io.Writer, results []Result) error {
	for _, r := range results {
		if r.Skipped != "" {
			if _, err := fmt.Fprintf(w, "# skipped %s: %s\n", r.UserID, r.Skipped); err != nil {
				return err
			}
			continue
		}
		raw, err := yaml.Marshal(r.Object)
		if err != nil {
			return err
		}
		// Status and creationTimestamp are not part of a declaration.
		text := strings.Replace(string(raw), "  creationTimestamp: null\n", "", 1)
		if i := strings.Index(text, "\nstatus:"); i >= 0 {
			text = text[:i+1]
		}
		if _, err := fmt.Fprintf(w, "---\n%s", text); err != nil {
			return err
		}
	}
	return nil
}
