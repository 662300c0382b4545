{{/* Chart name. */}}
{{- define "auth0-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every resource name: the release name when it contains the chart name (so the
release auth0-operator names everything as `make deploy` does: auth0-operator-controller-manager,
...), else <release>-<chart>. Kept short enough for the longest suffix
("-controller-manager-metrics-service", 35 characters) to fit in 63.
*/}}
{{- define "auth0-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 28 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 28 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 28 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "auth0-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "auth0-operator.labels" -}}
helm.sh/chart: {{ include "auth0-operator.chart" . }}
app.kubernetes.io/name: {{ include "auth0-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The manager's pods: config/manager's label, plus the release's. */}}
{{- define "auth0-operator.selectorLabels" -}}
control-plane: controller-manager
app.kubernetes.io/name: {{ include "auth0-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "auth0-operator.serviceAccountName" -}}
{{- default (printf "%s-controller-manager" (include "auth0-operator.fullname" .)) .Values.serviceAccount.name }}
{{- end }}

{{/* The manager's service account as a RoleBinding subject. */}}
{{- define "auth0-operator.subject" -}}
- kind: ServiceAccount
  name: {{ include "auth0-operator.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end }}

{{- define "auth0-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* True (non-empty) in namespaced mode. */}}
{{- define "auth0-operator.namespaced" -}}
{{- if .Values.watchNamespaces }}true{{ end }}
{{- end }}

{{/*
The rules of a Role or ClusterRole file copied from config/ by `make chart-sync`
(files/rbac/<file>), as a YAML list.
*/}}
{{- define "auth0-operator.rulesOf" -}}
{{- $doc := .root.Files.Get (printf "files/rbac/%s" .file) | fromYaml }}
{{- if not $doc.rules }}
{{- fail (printf "files/rbac/%s has no rules: run make chart-sync" .file) }}
{{- end }}
{{- toYaml $doc.rules }}
{{- end }}
