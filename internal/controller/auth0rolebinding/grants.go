package auth0rolebinding

import (
	"sort"

	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/grants"
)

// toPermission is a permission grant as the Auth0 client takes it.
func toPermission(g grants.Grant) auth0.Permission {
	return auth0.Permission{ResourceServerIdentifier: g.API, Name: g.Scope}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// usersOf is the set of user ids of per-user grant maps.
func usersOf(sets ...map[string]grants.Set) map[string]bool {
	out := map[string]bool{}
	for _, m := range sets {
		for uid := range m {
			out[uid] = true
		}
	}
	return out
}
