package auth0rolebinding

import (
	"testing"

	"github.com/usersync/auth0-operator/internal/grants"
)

func TestReadingUsersIsCheaper(t *testing.T) {
	oneRole := grants.NewSet(grants.Role("r1"))
	roleAndPerm := grants.NewSet(grants.Role("r1"), grants.Permission("api", "read"))
	for _, c := range []struct {
		name            string
		fresh, subjects int
		desired         grants.Set
		want            bool
	}{
		{"one new subject of ten, one role", 1, 10, oneRole, true},
		{"two new subjects of ten, one role: one page of members is cheaper", 2, 10, oneRole, false},
		{"five new of a thousand, one role (11 pages)", 5, 1000, oneRole, true},
		{"five hundred new of a thousand", 500, 1000, oneRole, false},
		{"one new subject of ten, with a permission: its roles and permissions", 1, 10, roleAndPerm, true},
		{"five new of ten, with a permission: one page of members and their permissions", 5, 10, roleAndPerm, false},
		{"every subject new, with a permission", 10, 10, roleAndPerm, false},
	} {
		if got := readingUsersIsCheaper(c.fresh, c.subjects, c.desired); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}
