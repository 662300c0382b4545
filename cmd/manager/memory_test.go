package main

import (
	"runtime/debug"
	"testing"
)

func TestSoftLimit(t *testing.T) {
	for _, c := range []struct {
		content string
		want    int64
		ok      bool
	}{
		{"536870912\n", 483183819, true},    // a 512Mi limit (cgroup v2)
		{"max\n", 0, false},                 // no limit (cgroup v2)
		{"9223372036854771712\n", 0, false}, // no limit (cgroup v1)
		{"", 0, false},
	} {
		got, ok := softLimit(c.content)
		if got != c.want || ok != c.ok {
			t.Errorf("softLimit(%q) = %d, %v; want %d, %v", c.content, got, ok, c.want, c.ok)
		}
	}
}

func TestCollectSooner(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	if got := collectSooner(); got != defaultGCPercent {
		t.Fatalf("collectSooner() with GOGC unset = %d, want %d", got, defaultGCPercent)
	}
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Fatalf("the collector's GOGC is %d, want %d", got, defaultGCPercent)
	}
	t.Setenv("GOGC", "200")
	if got := collectSooner(); got != 0 {
		t.Fatalf("collectSooner() with GOGC=200 = %d, want 0 (the environment decides)", got)
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GOGC set in the environment was overridden: %d", got)
	}
}
