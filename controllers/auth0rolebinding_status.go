package controllers

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/grants"
	"github.com/usersync/auth0-operator/internal/metrics"
)

// recordBindingStatus computes the binding's status from the pass: per subject what it now
// holds from this binding, the drift found, and the counts for the printer columns.
func (r *Auth0RoleBindingReconciler) recordBindingStatus(s *bindingScope, plans map[string]grants.Plan, drift []v1alpha1.DriftEntry) {
	st := &s.obj.Status
	st.Subjects = st.Subjects[:0]
	resolved := 0
	for _, sub := range s.subjects {
		ss := v1alpha1.SubjectStatus{Subject: sub.key, UserID: sub.userID, Message: sub.message}
		if sub.userID != "" {
			resolved++
			ss.Roles, ss.Permissions = splitGrants(plans[sub.userID].Applied)
			ss.ExternalRoles, ss.ExternalPermissions = splitGrants(plans[sub.userID].External)
		}
		st.Subjects = append(st.Subjects, ss)
	}
	st.SubjectCount = resolved

	sort.Slice(drift, func(i, j int) bool { return drift[i].Field < drift[j].Field })
	previous := driftFields(st.Drift)
	st.Drift, st.DriftCount = drift, len(drift)
	if len(drift) == 0 {
		conditions.Drifted(&st.Conditions, s.obj.Generation, false, "")
		return
	}
	action := "re-applied"
	if s.obj.Spec.DriftPolicy == v1alpha1.DriftPolicyReport {
		action = "reported only (policy Report)"
	}
	message := fmt.Sprintf("grants removed in Auth0: %s; %s", driftFields(drift), action)
	conditions.Drifted(&st.Conditions, s.obj.Generation, true, message)
	metrics.DriftDetected.WithLabelValues("Auth0RoleBinding").Inc()
	if driftFields(drift) != previous {
		r.Recorder.Eventf(s.obj, nil, corev1.EventTypeWarning, conditions.ReasonDriftDetected, "Observe", "%s", message)
	}
}

// splitGrants turns grants back into role ids and permissions for the status.
func splitGrants(gs []string) (roles, perms []string) {
	for _, g := range gs {
		if id, ok := strings.CutPrefix(g, rolePrefix); ok {
			roles = append(roles, id)
		} else {
			perms = append(perms, strings.TrimPrefix(g, permPrefix))
		}
	}
	return roles, perms
}
