{{/* Names are cut to 63 characters: the DNS label limit. */}}
{{- define "dask-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dask-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dask-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dask-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dask-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "dask-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "dask-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "dask-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
A running dask operator of another release, as "namespace/name", or "" when there is none.
Two kopf operators watching every namespace would both reconcile each DaskCluster, so a
release that finds one (`daskhub-lite up` installs one; DaskHub's chart brings its own) keeps
its own Deployment at 0 replicas (a standby: `helm --wait` and progress see it ready). Standbys
are not counted, so the running one keeps running through its own upgrades. `lookup` answers
nothing in `template` and dry runs: the Deployment is rendered as it would run there.
*/}}
{{- define "dask-operator.otherOperator" -}}
{{- $found := "" -}}
{{- range (lookup "apps/v1" "Deployment" "" "").items | default list -}}
{{- $labels := .metadata.labels | default dict -}}
{{- if and (not $found) (eq (get $labels "app.kubernetes.io/name") "dask-operator") (ne (get $labels "app.kubernetes.io/instance") $.Release.Name) (gt (int (.spec.replicas | default 0)) 0) -}}
{{- $found = printf "%s/%s" .metadata.namespace .metadata.name -}}
{{- end -}}
{{- end -}}
{{- $found -}}
{{- end -}}
