package manager

import (
	"sync"

	"github.com/usersync/auth0-operator/api/v1alpha1"
)

// interner makes the cached Auth0Users share one copy of the strings nearly all of them repeat:
// the namespace, the finalizer, the connection, the policies, the condition types, statuses and
// reasons, the tenant domain, metadata key names. Each object decoded from a watch event has its
// own copy of each; shared, they are a tenth of what the cache holds per object (some 200 of
// 2,000 bytes). Only fields whose values repeat across objects are interned; names, emails, ids
// and messages are not. The table is bounded: once full, strings it does not hold stay as they
// are, so that no input can make it grow without end.
type interner struct {
	mu      sync.Mutex
	strings map[string]string
}

const maxInterned = 4096

func newInterner() *interner { return &interner{strings: map[string]string{}} }

// user interns the repeated strings of u, in place (the informer's copy, before it is stored).
func (in *interner) user(u *v1alpha1.Auth0User) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.str(&u.Namespace)
	in.all(u.Finalizers)
	sp := &u.Spec
	in.str(&sp.Connection)
	internAs(in, &sp.DeletionPolicy)
	internAs(in, &sp.DriftPolicy)
	if sp.TenantRef != nil {
		in.str(&sp.TenantRef.SecretName)
	}
	if r := sp.PasswordSecretRef; r != nil {
		in.str(&r.Key)
	}
	st := &u.Status
	for i := range st.Conditions {
		c := &st.Conditions[i]
		in.str(&c.Type)
		internAs(in, &c.Status)
		in.str(&c.Reason)
	}
	in.str(&st.TenantDomain)
	in.all(st.ManagedUserMetadataKeys)
	in.all(st.ManagedAppMetadataKeys)
	in.all(st.FoundUserMetadataKeys)
	in.all(st.FoundAppMetadataKeys)
	if p := st.Password; p != nil {
		in.str(&p.Key)
	}
}

func (in *interner) all(ss []string) {
	for i := range ss {
		in.str(&ss[i])
	}
}

// str replaces *s by the table's copy, adding it if there is room. The caller holds mu.
func (in *interner) str(s *string) {
	if *s == "" {
		return
	}
	if shared, ok := in.strings[*s]; ok {
		*s = shared
		return
	}
	if len(in.strings) < maxInterned {
		in.strings[*s] = *s
	}
}

// internAs interns a string of a named string type (policies, condition statuses).
func internAs[T ~string](in *interner, s *T) {
	v := string(*s)
	in.str(&v)
	*s = T(v)
}
