package emulator

import (
	"fmt"
	"testing"
)

// benchTenant is a tenant of n users spread over three teams, without HTTP.
func benchTenant(b *testing.B, n int) *Emulator {
	b.Helper()
	e, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if _, err := e.CreateUser(SeedUser{Email: fmt.Sprintf("user%06d@example.com", i), UserMetadata: map[string]any{"team": []string{"platform", "data", "web"}[i%3]}}); err != nil {
			b.Fatal(err)
		}
	}
	return e
}

func BenchmarkSearchScan100k(b *testing.B) {
	e := benchTenant(b, 100_000)
	q := mustParseB(b, `user_metadata.team:data AND email:user0*`)
	b.ResetTimer()
	for b.Loop() {
		e.mu.Lock()
		_ = e.search(q)
		e.mu.Unlock()
	}
}

func mustParseB(b *testing.B, s string) node {
	n, err := ParseQuery(s)
	if err != nil {
		b.Fatal(err)
	}
	return n
}
