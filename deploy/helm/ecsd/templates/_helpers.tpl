{{/* The release's objects are named <release>-ecsd, or <release> when the release name already says ecsd. */}}
{{- define "ecsd.fullname" -}}
{{- if contains "ecsd" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-ecsd" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ecsd.selectorLabels" -}}
app.kubernetes.io/name: ecsd
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ecsd.labels" -}}
{{ include "ecsd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: ecsd
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ecsd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ecsd.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The namespace task Pods go to (single-namespace mode). */}}
{{- define "ecsd.tasksNamespace" -}}
{{- default .Release.Namespace .Values.tasks.namespace -}}
{{- end -}}

{{/* The URL task containers reach the metadata listener at. */}}
{{- define "ecsd.endpoint" -}}
{{- if .Values.tasks.endpoint -}}
{{- .Values.tasks.endpoint -}}
{{- else -}}
{{- printf "http://%s.%s.svc:%v" (include "ecsd.fullname" .) .Release.Namespace .Values.service.metadataPort -}}
{{- end -}}
{{- end -}}
