package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// reservedAppMetadata are the app_metadata keys Auth0 refuses.
var reservedAppMetadata = map[string]bool{
	"__tenant": true, "blocked": true, "clientID": true, "created_at": true, "email_verified": true,
	"email": true, "globalClientID": true, "global_client_id": true, "identities": true, "lastIP": true,
	"lastLogin": true, "loginsCount": true, "metadata": true, "multifactor": true, "updated_at": true,
	"user_id": true,
}

// DefaultMaxMetadataBytes is Auth0's documented bound: user_metadata and app_metadata together
// are limited to 16 MB per user (serialized).
const DefaultMaxMetadataBytes = 16 << 20

// MergeMetadata applies a metadata patch the way Auth0 does: top-level keys are merged, a null
// value deletes its key, and any other value (nested objects included) replaces the old one
// whole. An empty object patch leaves the metadata unchanged. Neither input is modified.
func MergeMetadata(current, patch map[string]any) map[string]any {
	if patch == nil {
		return current
	}
	out := cloneMap(current)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range patch {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = cloneValue(v)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// parseBodyMetadata validates both metadata objects of a body, answering 400 when one is invalid.
func parseBodyMetadata(w http.ResponseWriter, b userBody) (userMeta, appMeta map[string]any, ok bool) {
	var msg string
	if userMeta, msg = parseMetadata("user_metadata", b.UserMetadata, false); msg != "" {
		badRequest(w, msg)
		return nil, nil, false
	}
	if appMeta, msg = parseMetadata("app_metadata", b.AppMetadata, true); msg != "" {
		badRequest(w, msg)
		return nil, nil, false
	}
	return userMeta, appMeta, true
}

// parseMetadata validates a metadata object: key names without '.' or '$' (at any depth) and,
// for app_metadata, no reserved key. It returns Auth0's message when invalid.
func parseMetadata(field string, raw json.RawMessage, app bool) (map[string]any, string) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, ""
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Sprintf("Payload validation error: 'Expected type object but found type %s' on property %s.", jsonType(raw), field)
	}
	if key := badKey(m); key != "" {
		return nil, fmt.Sprintf("Payload validation error: 'Invalid property name: %q, must not contain \".\" or \"$\"' on property %s.", key, field)
	}
	if app {
		for k := range m {
			if reservedAppMetadata[k] {
				return nil, fmt.Sprintf("Payload validation error: 'Invalid property name: %q is a reserved app_metadata field' on property app_metadata.", k)
			}
		}
	}
	return m, ""
}

// metadataTooLarge returns Auth0-style message when the user's metadata, as it would be after
// a write, exceeds limit bytes serialized; "" when it fits.
func metadataTooLarge(userMeta, appMeta map[string]any, limit int) string {
	um, _ := json.Marshal(userMeta)
	am, _ := json.Marshal(appMeta)
	if size := len(um) + len(am); size > limit {
		return fmt.Sprintf("Payload validation error: 'user_metadata and app_metadata together must not exceed %d bytes (%d given)'.", limit, size)
	}
	return ""
}

func badKey(v any) string {
	switch t := v.(type) {
	case map[string]any:
		for k, child := range t {
			if strings.ContainsAny(k, ".$") {
				return k
			}
			if bad := badKey(child); bad != "" {
				return bad
			}
		}
	case []any:
		for _, child := range t {
			if bad := badKey(child); bad != "" {
				return bad
			}
		}
	}
	return ""
}

func jsonType(raw json.RawMessage) string {
	switch strings.TrimSpace(string(raw))[0] {
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	default:
		return "number"
	}
}

func withoutNulls(m map[string]any) map[string]any {
	return MergeMetadata(nil, m)
}
