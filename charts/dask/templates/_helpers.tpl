{{- define "dask.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-scoped name; components append -scheduler, -worker, ... so keep room (50). */}}
{{- define "dask.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dask.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dask.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dask.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "dask.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "dask.image" -}}
{{- $img := .image | default dict -}}
{{- printf "%s:%s" ($img.repository | default .root.Values.image.repository) ($img.tag | default .root.Values.image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}

{{- define "dask.schedulerAddress" -}}
{{- printf "tcp://%s-scheduler:%d" (include "dask.fullname" .) (int .Values.scheduler.port) -}}
{{- end -}}

{{- define "dask.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "dask.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
One worker Deployment. Called with dict "root" $ "group" <group> where a group has
name, replicas, nthreads, gpus, gpuResource, resources, nodeSelector, tolerations, affinity,
schedulerName, image, extraArgs, env.
*/}}
{{- define "dask.workerDeployment" -}}
{{- $root := .root -}}
{{- $g := .group -}}
{{- $gpus := int ($g.gpus | default 0) -}}
{{- $component := ternary "worker" (printf "worker-%s" $g.name) (eq $g.name "default") -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "dask.fullname" $root }}-{{ $component }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "dask.labels" $root | nindent 4 }}
    app.kubernetes.io/component: worker
    dask.org/worker-group: {{ $g.name | quote }}
spec:
  replicas: {{ $g.replicas }}
  selector:
    matchLabels:
      {{- include "dask.selectorLabels" $root | nindent 6 }}
      app.kubernetes.io/component: worker
      dask.org/worker-group: {{ $g.name | quote }}
  template:
    metadata:
      labels:
        {{- include "dask.selectorLabels" $root | nindent 8 }}
        app.kubernetes.io/component: worker
        dask.org/worker-group: {{ $g.name | quote }}
    spec:
      serviceAccountName: {{ include "dask.serviceAccountName" $root }}
      {{- with $g.schedulerName }}
      schedulerName: {{ . }}
      {{- end }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.podSecurityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: worker
          image: {{ include "dask.image" (dict "root" $root "image" $g.image) | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command: [dask, worker]
          args:
            - {{ include "dask.schedulerAddress" $root | quote }}
            - --nthreads
            - {{ $g.nthreads | default 1 | quote }}
            - --memory-limit
            - {{ $g.memoryLimit | default "auto" | quote }}
            - --dashboard-address
            - {{ printf ":%d" (int $root.Values.worker.dashboardPort) | quote }}
            {{- if gt $gpus 0 }}
            - --resources
            - {{ printf "GPU=%d" $gpus | quote }}
            {{- end }}
            {{- range $g.extraArgs }}
            - {{ . | quote }}
            {{- end }}
          ports:
            - name: dashboard
              containerPort: {{ $root.Values.worker.dashboardPort }}
          env:
            - name: DASK_DISTRIBUTED__WORKER__DAEMON
              value: "False"
            {{- with $g.env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- $res := deepCopy ($g.resources | default dict) -}}
          {{- if gt $gpus 0 }}
          {{- $limits := merge (dict ($g.gpuResource | default "nvidia.com/gpu") $gpus) ($res.limits | default dict) -}}
          {{- $_ := set $res "limits" $limits }}
          {{- end }}
          {{- with $res }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $root.Values.securityContext }}
          securityContext:
            {{- toYaml . | nindent 12 }}
          {{- end }}
      {{- with $g.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $g.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $g.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}
