package userdiff

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		desired Desired
		want    []string // substrings of the error; none means valid
	}{
		{"plain metadata is valid", Desired{UserMetadata: map[string]any{"theme": "dark", "prefs": map[string]any{"color": "pink"}}}, nil},
		{"a dotted top-level key is refused", Desired{UserMetadata: map[string]any{"preference.color": "pink"}}, []string{`userMetadata["preference.color"]`}},
		{"a dollar key deep inside an array is refused", Desired{AppMetadata: map[string]any{"list": []any{map[string]any{"$set": 1}}}}, []string{`appMetadata.list[0]["$set"]`}},
		{"a reserved app_metadata key is refused", Desired{AppMetadata: map[string]any{"blocked": true}}, []string{"appMetadata.blocked: the key is reserved"}},
		{"the operator's owner marker cannot be set by a spec", Desired{AppMetadata: map[string]any{OwnerKey: "x"}}, []string{"appMetadata.usersync_owner"}},
		{"oversized metadata is refused", Desired{UserMetadata: map[string]any{"blob": strings.Repeat("x", MaxMetadataBytes)}}, []string{"more than 16384"}},
		{"every problem is named at once", Desired{UserMetadata: map[string]any{"a.b": 1}, AppMetadata: map[string]any{"email": "x"}}, []string{`userMetadata["a.b"]`, "appMetadata.email"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.desired)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error containing %v", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
