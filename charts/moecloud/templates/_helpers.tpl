{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "moecloud.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name of the release's objects: the release name, with the chart name unless it already contains it. */}}
{{- define "moecloud.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object of the release. */}}
{{- define "moecloud.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "moecloud.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of the operator pods. */}}
{{- define "moecloud.operatorSelector" -}}
app.kubernetes.io/name: {{ include "moecloud.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* The operator's ServiceAccount name. */}}
{{- define "moecloud.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (printf "%s-operator" (include "moecloud.fullname" .)) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret with the operator's admin API key: operator.adminApiKey.existingSecret, else the one the chart makes. */}}
{{- define "moecloud.adminKeySecretName" -}}
{{- default (printf "%s-admin-key" (include "moecloud.fullname" .)) .Values.operator.adminApiKey.existingSecret -}}
{{- end -}}

{{/* The silo pods' ServiceAccount name (empty when none is created or named). */}}
{{- define "moecloud.siloServiceAccountName" -}}
{{- if .Values.silo.serviceAccount.create -}}
{{- default (printf "%s-silo" (include "moecloud.fullname" .)) .Values.silo.serviceAccount.name -}}
{{- else -}}
{{- .Values.silo.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The operator image reference. */}}
{{- define "moecloud.operatorImage" -}}
{{- printf "%s:%s" .Values.operator.image.repository (default .Chart.AppVersion .Values.operator.image.tag) -}}
{{- end -}}

{{/* The Redis membership store's connection string: the chart's Redis, else redis.external.connectionString. */}}
{{- define "moecloud.membershipRedis" -}}
{{- if .Values.redis.enabled -}}
{{- printf "%s-redis.%s.svc:6379" (include "moecloud.fullname" .) .Release.Namespace -}}
{{- else -}}
{{- required "redis.external.connectionString is required when redis.enabled=false (the silos' and gateways' membership store)" .Values.redis.external.connectionString -}}
{{- end -}}
{{- end -}}

{{/* Selector labels of the Redis pod. */}}
{{- define "moecloud.redisSelector" -}}
app.kubernetes.io/name: {{ include "moecloud.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: membership-store
{{- end -}}
