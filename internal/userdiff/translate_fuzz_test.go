package userdiff_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/userdiff"
	"github.com/usersync/auth0-operator/pkg/emulator"
)

// FuzzTranslateSpec checks the CRD-to-Auth0 translation end to end: Validate refuses exactly
// the specs with a reason it can name, and a spec it accepts is created in Auth0 (the emulator,
// through the real SDK adapter) as a user that the drift comparison then finds in sync.
func FuzzTranslateSpec(f *testing.F) {
	// pad grows userMetadata by a string of that many bytes: the size bound is within reach
	// without inputs so large that minimising them stalls the fuzzer.
	f.Add("alice", "Alice Liddell", "ally", "Alice", "Liddell", `{"theme":"dark","prefs":{"lang":"fr"}}`, `{"plan":"pro","seats":5}`, uint16(0), true, false)
	f.Add("Bob.O'Neil+x", "", "", "", "", `{"n":{"b":null},"arr":[1,"two",{"k":null}],"gone":null}`, `{}`, uint16(0), false, true)
	f.Add("z\u00f6e \t@x", "Zo\u00eb \u6771", "", "Zo\u00eb", "", `{"a.b":1,"n":{"$x":[{"y.z":2}]}}`, `{"blocked":true,"usersync_owner":"x"}`, uint16(0), false, false)
	f.Add("big", "n", "n", "n", "n", `{}`, `{"big":12345678901234567890,"neg":-0,"f":1e-400}`, uint16(userdiff.MaxMetadataBytes-10), true, true) // exactly the bound
	f.Add("big", "", "", "", "", `{}`, `{}`, uint16(userdiff.MaxMetadataBytes-9), true, true)                                                    // one byte over
	// Auth0 lowercases U+0130 to a plain "i"; the comparison once saw that as drift for ever.
	f.Add("\u0130stanbul", "", "", "", "", "{}", "{}", uint16(0), false, false)

	// One tenant per fuzzing process (each worker runs this setup); users are deleted after
	// each input, so emails never collide. Without limits the emulator announces 1000 requests
	// a second, which the client's pacing would then hold the fuzzer to: announce far more.
	em, err := emulator.New(emulator.Config{
		Clients:   map[string]emulator.Client{"op": {Secret: "fuzz-secret"}},
		RateLimit: emulator.RateLimit{PerSecond: 1 << 30},
	})
	if err != nil {
		f.Fatal(err)
	}
	base, err := em.Start("127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = em.Close() })
	client, err := auth0.NewProvider(auth0.ProviderOptions{}).ClientFor(context.Background(), auth0.Tenant{Domain: base, ClientID: "op", ClientSecret: "fuzz-secret"})
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, local, name, nickname, given, family, userMeta, appMeta string, pad uint16, emailVerified, blocked bool) {
		// Longer inputs reach no new rule (the CRD bounds names to 300 characters, pad covers
		// size), and minimising one, two HTTP calls a step, would stall the fuzzer for a minute.
		if max(len(local), len(name), len(nickname), len(given), len(family)) > 320 || len(userMeta)+len(appMeta) > 1024 {
			return
		}
		um, ok := admitted(userMeta)
		if !ok {
			return
		}
		if pad > 0 {
			if um == nil {
				um = map[string]apiextensionsv1.JSON{}
			}
			um["pad"] = apiextensionsv1.JSON{Raw: []byte(`"` + strings.Repeat("x", int(pad)) + `"`)}
			if len(um) > 64 {
				return
			}
		}
		am, ok := admitted(appMeta)
		if !ok {
			return
		}
		spec := v1alpha1.Auth0UserSpec{
			Connection:    "Username-Password-Authentication",
			Email:         emailLocal(local) + "@example.com",
			Name:          crdString(name, 300),
			Nickname:      crdString(nickname, 300),
			GivenName:     crdString(given, 150),
			FamilyName:    crdString(family, 150),
			EmailVerified: &emailVerified,
			Blocked:       &blocked,
			UserMetadata:  um,
			AppMetadata:   am,
		}
		desired, err := userdiff.FromSpec(spec)
		if err != nil {
			// Every value decoded as JSON above: the API server would have let this spec in.
			t.Fatalf("FromSpec refused an admitted spec: %v", err)
		}

		reasons := refusalReasons(desired)
		if err := userdiff.Validate(desired); err != nil {
			if len(reasons) == 0 {
				t.Fatalf("Validate refused a spec with no bad key, reserved key or oversized metadata: %v", err)
			}
			for _, r := range reasons {
				if !strings.Contains(err.Error(), r) {
					t.Errorf("Validate's error %q does not name %q", err, r)
				}
			}
			return
		}
		if len(reasons) > 0 {
			t.Fatalf("Validate accepted a spec that must be refused for %q", reasons)
		}

		ctx := context.Background()
		const owner = "fuzz/default/user"
		created, err := client.CreateUser(ctx, userdiff.CreateRequest(desired, "Fuzz-Passw0rd!", nil, owner))
		if err != nil {
			// Auth0 refused what Validate let through: the operator would retry it forever.
			t.Fatalf("Validate accepted but Auth0 refused the creation: %v\nemail=%q", err, desired.Email)
		}
		defer em.DeleteUser(created.ID)
		observed, err := client.GetUser(ctx, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		plan := userdiff.Compare(desired, observed, userdiff.KeysAfter(desired, userdiff.Managed{}, desired.UserMetadata, desired.AppMetadata, true))
		if plan.NeedsUpdate() {
			t.Fatalf("a freshly created user is reported as drifted: differences %+v, released %v", plan.Differences, plan.Released)
		}
		if got := userdiff.Owner(observed); got != owner {
			t.Fatalf("owner marker = %q, want %q", got, owner)
		}
	})
}

// admitted decodes fuzzed metadata the way it reaches the operator: only a JSON object with at
// most 64 properties (the CRD's maxProperties) whose values decode, and without top-level nulls,
// which the API server prunes (non-nullable additionalProperties). Nested nulls stay.
func admitted(text string) (map[string]apiextensionsv1.JSON, bool) {
	var raw map[string]apiextensionsv1.JSON
	if json.Unmarshal([]byte(text), &raw) != nil || len(raw) > 64 {
		return nil, false
	}
	for k, v := range raw {
		var decoded any
		if v.Raw == nil { // UnmarshalJSON leaves a null empty
			delete(raw, k)
		} else if json.Unmarshal(v.Raw, &decoded) != nil {
			return nil, false // e.g. 1e999: not a float64, the API server refuses it
		}
	}
	return raw, true
}

// emailLocal makes a local part the CRD pattern ^[^@\s]+@[^@\s]+\.[^@\s]+$ accepts (Go's \s is
// ASCII whitespace), in valid UTF-8 as any string out of the API server, short enough for the
// 254-character bound.
func emailLocal(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '@' || strings.ContainsRune(" \t\n\f\r\v", r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	if s == "" {
		return "x"
	}
	return crdString(s, 200)
}

// crdString is s as the API server would hold it: valid UTF-8, at most n characters.
func crdString(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if utf8.RuneCountInString(s) > n {
		s = string([]rune(s)[:n])
	}
	return s
}

// refusalReasons re-derives, independently of Validate, why a spec must be refused, as the
// text Validate's error must contain: every '.' or '$' key at any depth (quoted; keys below it
// are not looked at), every reserved app_metadata key, every metadata object over the bound.
func refusalReasons(d userdiff.Desired) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, child := range t {
				if strings.ContainsAny(k, ".$") {
					out = append(out, strconv.Quote(k))
				} else {
					walk(child)
				}
			}
		case []any:
			for _, child := range t {
				walk(child)
			}
		}
	}
	walk(d.UserMetadata)
	walk(d.AppMetadata)
	for k := range d.AppMetadata {
		if slices.Contains(userdiff.ReservedAppMetadataKeys, k) {
			out = append(out, "appMetadata."+k+": the key is reserved")
		}
	}
	for _, m := range []map[string]any{d.UserMetadata, d.AppMetadata} {
		if raw, _ := json.Marshal(m); len(raw) > userdiff.MaxMetadataBytes {
			out = append(out, "more than "+strconv.Itoa(userdiff.MaxMetadataBytes))
		}
	}
	return out
}
