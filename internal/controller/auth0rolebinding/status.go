package auth0rolebinding

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/grants"
)

// status computes the binding's status from the pass, then says what is left undone: entries
// that name nothing in Auth0 stall the binding (a spec or tenant change is needed), subjects
// whose Auth0User has no user yet keep it waiting; the rest is applied either way.
func (r *Reconciler) status(_ context.Context, s *bindingScope) error {
	r.recordBindingStatus(s, s.plans, s.drift)
	switch {
	case len(s.unresolved) > 0:
		return controller.Stalled(conditions.ReasonUnresolved, "not found in Auth0: %s; everything else is applied", strings.Join(s.unresolved, ", "))
	case len(s.pending) > 0:
		return &controller.WaitingError{
			Reason:       conditions.ReasonSubjectsPending,
			Message:      "waiting for subjects " + strings.Join(s.pending, ", ") + "; the others are applied",
			RequeueAfter: r.ResyncAfter(s.obj, false),
		}
	}
	return nil
}

// recordBindingStatus computes the binding's status from the pass: per subject what it now
// holds from this binding, the drift found, and the counts for the printer columns.
func (r *Reconciler) recordBindingStatus(s *bindingScope, plans map[string]grants.Plan, drift []v1alpha1.DriftEntry) {
	st := &s.obj.Status
	st.Subjects = st.Subjects[:0]
	resolved := 0
	for _, sub := range s.subjects {
		ss := v1alpha1.SubjectStatus{Subject: sub.key, UserID: sub.userID, Message: sub.message}
		if sub.userID != "" {
			resolved++
			ss.Roles, ss.Permissions = grants.ToStatus(plans[sub.userID].Applied)
			ss.ExternalRoles, ss.ExternalPermissions = grants.ToStatus(plans[sub.userID].External)
		}
		st.Subjects = append(st.Subjects, ss)
	}
	st.SubjectCount = resolved

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
