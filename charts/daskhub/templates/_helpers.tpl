{{/* Names are cut to 63 characters: the DNS label limit. */}}
{{- define "daskhub.name" -}}
{{- .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "daskhub.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "daskhub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "daskhub.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "daskhub.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "daskhub.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "daskhub.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "daskhub.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "daskhub.hub" -}}{{ include "daskhub.fullname" . }}-hub{{- end -}}
{{- define "daskhub.proxyApi" -}}{{ include "daskhub.fullname" . }}-proxy-api{{- end -}}
{{- define "daskhub.proxyPublic" -}}{{ include "daskhub.fullname" . }}-proxy-public{{- end -}}
{{- define "daskhub.singleuserSA" -}}
{{- default (printf "%s-singleuser" (include "daskhub.fullname" .)) .Values.singleuser.serviceAccount.name -}}
{{- end -}}

{{/* A generated secret value, kept across upgrades: given value, else existing, else new. */}}
{{- define "daskhub.secretValue" -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace (include "daskhub.hub" .root) -}}
{{- if .given -}}
{{- .given -}}
{{- else if and $existing $existing.data (hasKey $existing.data .key) -}}
{{- index $existing.data .key | b64dec -}}
{{- else -}}
{{- .generate -}}
{{- end -}}
{{- end -}}
