package auth0rolebinding

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/grants"
)

// status computes the binding's status from the pass, then says what is left undone: entries
// that name nothing in Auth0 stall the binding (a spec or tenant change is needed), subjects
// whose Auth0User has no user yet keep it waiting; the rest is applied either way. A full
// observation is remembered here, once its result is recorded, so that the passes until the
// next one reuse what it found.
func (r *Reconciler) status(_ context.Context, s *bindingScope) error {
	r.recordBindingStatus(s, s.plans, s.drift)
	unresolved := append([]string(nil), s.unresolved...)
	var waiting []string
	for _, sub := range s.subjects {
		switch {
		case sub.userID != "":
		case sub.waiting:
			waiting = append(waiting, sub.key)
		default:
			unresolved = append(unresolved, sub.key)
		}
	}
	if s.full {
		missing := map[string]bool{}
		for _, sub := range s.subjects {
			if sub.goneID != "" {
				missing[sub.goneID] = true
			}
		}
		r.observedAt.Store(client.ObjectKeyFromObject(s.obj), observation{at: time.Now(), generation: s.obj.Generation, missing: missing})
	}
	switch {
	case len(unresolved) > 0:
		return controller.Stalled(conditions.ReasonUnresolved, "not found in Auth0: %s; everything else is applied (%d unresolved)", listFew(unresolved), len(unresolved))
	case len(waiting) > 0:
		requeue := r.ResyncAfter(s.obj, false)
		if !s.waitUntil.IsZero() {
			requeue = min(requeue, time.Until(s.waitUntil)+100*time.Millisecond)
		}
		return &controller.WaitingError{
			Reason:       conditions.ReasonSubjectsPending,
			Message:      fmt.Sprintf("waiting for subjects %s; the others are applied (%d waiting)", listFew(waiting), len(waiting)),
			RequeueAfter: requeue,
		}
	}
	return nil
}

// listFew names the first few entries and counts the rest, so that a condition's message (and
// the event repeating it, which Kubernetes caps at 1024 characters) stays short however many
// subjects are unresolved; every subject's own status entry says what is wrong with it.
func listFew(entries []string) string {
	const maxNames, maxChars = 5, 400
	var b strings.Builder
	n := 0
	for _, e := range entries {
		if n == maxNames || n > 0 && b.Len()+len(e) > maxChars {
			break
		}
		if n > 0 {
			b.WriteString(", ")
		}
		if len(e) > maxChars {
			e = e[:maxChars] + "..."
		}
		b.WriteString(e)
		n++
	}
	if rest := len(entries) - n; rest > 0 {
		fmt.Fprintf(&b, " and %d more", rest)
	}
	return b.String()
}

// recordBindingStatus computes the binding's status from the pass: per subject what it now
// holds from this binding (nothing pending any more: the writes were answered), the drift found,
// the verified tenant, and the counts for the printer columns (distinct users).
func (r *Reconciler) recordBindingStatus(s *bindingScope, plans map[string]grants.Plan, drift []v1alpha1.DriftEntry) {
	st := &s.obj.Status
	st.Subjects = st.Subjects[:0]
	users := map[string]bool{}
	for _, sub := range s.subjects {
		ss := v1alpha1.SubjectStatus{Subject: sub.key, UserID: sub.userID, Message: sub.message}
		if sub.userID != "" {
			users[sub.userID] = true
			ss.Roles, ss.Permissions = grants.ToStatus(plans[sub.userID].Applied)
			ss.ExternalRoles, ss.ExternalPermissions = grants.ToStatus(plans[sub.userID].External)
		}
		st.Subjects = append(st.Subjects, ss)
	}
	st.SubjectCount = len(users)
	st.Tenant = s.tenant

	sort.Slice(drift, func(i, j int) bool { return drift[i].Field < drift[j].Field })
	controller.RecordDrift(r.Recorder, s.obj, s.obj.Spec.DriftPolicy, "Auth0RoleBinding", "grants removed in Auth0:", drift)
}

// driftEntry names a grant removed out of band: subjects[<user id>].roles.<role id> or
// subjects[<user id>].permissions.<API> <scope>.
func driftEntry(uid string, g grants.Grant, previous []v1alpha1.DriftEntry) v1alpha1.DriftEntry {
	field := fmt.Sprintf("subjects[%s].", uid)
	if g.IsRole() {
		field += "roles." + g.RoleID
	} else {
		field += "permissions." + g.String()
	}
	return controller.DriftEntry(field, "granted", "absent", previous)
}
