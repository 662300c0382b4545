package userdiff

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// ReservedAppMetadataKeys are the app_metadata keys Auth0 refuses, plus the operator's own
// owner marker, which a spec must not set.
var ReservedAppMetadataKeys = []string{
	"__tenant", "blocked", "clientID", "created_at", "email_verified", "email", "globalClientID",
	"global_client_id", "identities", "lastIP", "lastLogin", "loginsCount", "metadata",
	"multifactor", "updated_at", "user_id", OwnerKey,
}

// MaxMetadataBytes bounds each metadata object of a spec, serialised. Auth0 allows more, but a
// Kubernetes object is not the place for large documents, and a bound keeps status and
// comparisons cheap.
const MaxMetadataBytes = 16 << 10

// Validate checks what the CRD schema cannot: metadata key names at every depth (no '.' or
// '$'), reserved app_metadata keys, and metadata size. It returns one error naming every
// problem, or nil.
func Validate(d Desired) error {
	var problems []string
	for _, m := range []struct {
		name  string
		value map[string]any
	}{{"userMetadata", d.UserMetadata}, {"appMetadata", d.AppMetadata}} {
		for _, path := range badKeys(m.name, m.value) {
			problems = append(problems, fmt.Sprintf("%s: key names must not contain '.' or '$'", path))
		}
		if raw, _ := json.Marshal(m.value); len(raw) > MaxMetadataBytes {
			problems = append(problems, fmt.Sprintf("%s is %d bytes serialised, more than %d", m.name, len(raw), MaxMetadataBytes))
		}
	}
	for _, k := range ReservedAppMetadataKeys {
		if _, set := d.AppMetadata[k]; set {
			problems = append(problems, fmt.Sprintf("appMetadata.%s: the key is reserved", k))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return fmt.Errorf("invalid spec: %s", strings.Join(problems, "; "))
}

func badKeys(path string, v any) []string {
	var out []string
	switch t := v.(type) {
	case map[string]any:
		for k, child := range t {
			p := path + "." + k
			if strings.ContainsAny(k, ".$") {
				out = append(out, fmt.Sprintf("%s[%q]", path, k))
				continue
			}
			out = append(out, badKeys(p, child)...)
		}
	case []any:
		for i, child := range t {
			out = append(out, badKeys(fmt.Sprintf("%s[%d]", path, i), child)...)
		}
	}
	return out
}
