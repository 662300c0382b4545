package main

import "testing"

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
