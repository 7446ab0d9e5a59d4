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

{{/*
The hub's URL for NOTES, or "" while no address is known. NOTES render before the release's
objects exist, so the address comes from, in order: the Ingress itself (upgrades); the
IngressClass (daskhub-lite's embedded controller publishes its address there, in the
annotation daskhub-lite.io/ingress-address); another Ingress of the same class that has
one (one controller, one address). `ingress.host` replaces the address's host. `lookup`
answers nothing in `template` and dry runs.
*/}}
{{- define "daskhub.url" -}}
{{- $address := "" -}}
{{- $own := lookup "networking.k8s.io/v1" "Ingress" .Release.Namespace (include "daskhub.fullname" .) | default dict -}}
{{- with dig "status" "loadBalancer" "ingress" list $own -}}
{{- $address = include "daskhub.lbAddress" (first .) -}}
{{- end -}}
{{- $class := .Values.ingress.className -}}
{{- if not $class -}}
{{- range (lookup "networking.k8s.io/v1" "IngressClass" "" "").items | default list -}}
{{- if eq (dig "metadata" "annotations" "ingressclass.kubernetes.io/is-default-class" "" .) "true" -}}
{{- $class = .metadata.name -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (not $address) $class -}}
{{- $ingressClass := lookup "networking.k8s.io/v1" "IngressClass" "" $class | default dict -}}
{{- $address = dig "metadata" "annotations" "daskhub-lite.io/ingress-address" "" $ingressClass -}}
{{- end -}}
{{- if and (not $address) $class -}}
{{- range (lookup "networking.k8s.io/v1" "Ingress" "" "").items | default list -}}
{{- $lb := dig "status" "loadBalancer" "ingress" list . -}}
{{- if and (not $address) $lb (eq (dig "spec" "ingressClassName" "" .) $class) -}}
{{- $address = include "daskhub.lbAddress" (first $lb) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $scheme := ternary "https" "http" (not (empty .Values.ingress.tls)) -}}
{{- $host := .Values.ingress.host -}}
{{- $port := "" -}}
{{- if $address -}}
{{- $parts := splitList ":" $address -}}
{{- $host = $host | default (first $parts) -}}
{{- if gt (len $parts) 1 -}}{{- $port = last $parts -}}{{- end -}}
{{- end -}}
{{- if or (and (eq $scheme "http") (eq $port "80")) (and (eq $scheme "https") (eq $port "443")) -}}
{{- $port = "" -}}
{{- end -}}
{{- if $host -}}
{{- printf "%s://%s%s%s" $scheme $host (ternary (printf ":%s" $port) "" (ne $port "")) .Values.ingress.path -}}
{{- end -}}
{{- end -}}

{{/* One status.loadBalancer.ingress entry as "host[:port]". */}}
{{- define "daskhub.lbAddress" -}}
{{- $host := get . "ip" | default (get . "hostname") -}}
{{- $ports := get . "ports" | default list -}}
{{- if $ports -}}
{{- printf "%s:%v" $host (get (first $ports) "port") -}}
{{- else -}}
{{- $host -}}
{{- end -}}
{{- end -}}
