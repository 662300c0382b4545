package emulator

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestMergeMetadata(t *testing.T) {
	tests := []struct {
		name    string
		current map[string]any
		patch   map[string]any
		want    map[string]any
	}{
		{"keys are merged at the top level", map[string]any{"a": 1.0}, map[string]any{"b": 2.0}, map[string]any{"a": 1.0, "b": 2.0}},
		{"a null deletes its key", map[string]any{"a": 1.0, "b": 2.0}, map[string]any{"a": nil}, map[string]any{"b": 2.0}},
		{"a nested object is replaced whole, not merged", map[string]any{"o": map[string]any{"x": 1.0, "y": 2.0}}, map[string]any{"o": map[string]any{"x": 3.0}}, map[string]any{"o": map[string]any{"x": 3.0}}},
		{"no patch leaves metadata alone", map[string]any{"a": 1.0}, nil, map[string]any{"a": 1.0}},
		{"deleting the last key leaves no metadata", map[string]any{"a": 1.0}, map[string]any{"a": nil}, nil},
		{"deleting a missing key is harmless", nil, map[string]any{"a": nil}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := json.Marshal(tt.current)
			got := MergeMetadata(tt.current, tt.patch)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			after, _ := json.Marshal(tt.current)
			if string(before) != string(after) {
				t.Error("MergeMetadata modified its input")
			}
		})
	}
}

func TestParseMetadataRefusesWhatAuth0Refuses(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		app  bool
		ok   bool
	}{
		{"plain keys are accepted", `{"theme":"dark","o":{"k":1}}`, false, true},
		{"a dotted key is refused", `{"a.b":1}`, false, false},
		{"a dollar key deep down is refused", `{"o":{"$x":1}}`, false, false},
		{"a reserved app_metadata key is refused", `{"blocked":true}`, true, false},
		{"the same key is fine in user_metadata", `{"blocked":true}`, false, true},
		{"a non-object is refused", `[1,2]`, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, msg := parseMetadata("m", json.RawMessage(tt.raw), tt.app)
			if (msg == "") != tt.ok {
				t.Errorf("parseMetadata(%s) message %q, want ok=%v", tt.raw, msg, tt.ok)
			}
		})
	}
}

func FuzzMergeMetadata(f *testing.F) {
	f.Add(`{"a":1}`, `{"a":null,"b":{"c":[1,2]}}`)
	f.Add(`{}`, `{"x":"y"}`)
	f.Add(`null`, `{"a.b":1}`)
	f.Fuzz(func(t *testing.T, current, patch string) {
		var cur, p map[string]any
		if json.Unmarshal([]byte(current), &cur) != nil || json.Unmarshal([]byte(patch), &p) != nil {
			return
		}
		got := MergeMetadata(cur, p)
		for k, v := range p {
			if v == nil {
				if _, present := got[k]; present {
					t.Fatalf("key %q set to null is still present", k)
				}
			} else if !reflect.DeepEqual(got[k], v) {
				t.Fatalf("key %q = %v, want %v", k, got[k], v)
			}
		}
		for k, v := range cur {
			if _, patched := p[k]; !patched && !reflect.DeepEqual(got[k], v) {
				t.Fatalf("unpatched key %q changed", k)
			}
		}
	})
}
