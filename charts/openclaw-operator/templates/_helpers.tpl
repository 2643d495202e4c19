{{/*
Names, labels, image reference and value checks shared by every template.
*/}}

{{/* Chart name, overridable with nameOverride; capped at 63 characters (DNS label). */}}
{{- define "openclaw-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name used as the prefix of every object: fullnameOverride, else the release name, with the chart
name appended unless the release name already contains it.
*/}}
{{- define "openclaw-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart name and version, as the helm.sh/chart label wants them. */}}
{{- define "openclaw-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "openclaw-operator.labels" -}}
helm.sh/chart: {{ include "openclaw-operator.chart" . }}
{{ include "openclaw-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ (.Values.image.tag | default .Chart.AppVersion) | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: openclaw
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the operator pods; never change them on upgrade (selectors are immutable). */}}
{{- define "openclaw-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "openclaw-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Name of the operator's ServiceAccount; refuses to fall back on the namespace's "default" one. */}}
{{- define "openclaw-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "openclaw-operator.fullname" .) .Values.serviceAccount.name }}
{{- else if .Values.serviceAccount.name }}
{{- .Values.serviceAccount.name }}
{{- else }}
{{- fail "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" }}
{{- end }}
{{- end }}

{{/* Image reference: repository@digest when a digest is set, else repository:tag (tag defaults to appVersion). */}}
{{- define "openclaw-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Runtime image reference (init and supervisor of the agent pods), same rule as the operator's. */}}
{{- define "openclaw-operator.runtimeImage" -}}
{{- if .Values.runtimeImage.digest }}
{{- printf "%s@%s" .Values.runtimeImage.repository .Values.runtimeImage.digest }}
{{- else }}
{{- printf "%s:%s" .Values.runtimeImage.repository (.Values.runtimeImage.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Checks across values that the JSON schema cannot express; fails the render with a clear line. */}}
{{- define "openclaw-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 requires leaderElection.enabled=true (two operators without a Lease would fight over every object)" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.service.enabled) }}
{{- fail "metrics.serviceMonitor.enabled=true requires service.enabled=true (the ServiceMonitor scrapes the Service)" }}
{{- end }}
{{- end }}

{{/* Namespace of the node agent: nodeAgent.namespace, else "<release namespace>-node". */}}
{{- define "openclaw-operator.nodeNamespace" -}}
{{- default (printf "%s-node" .Release.Namespace) .Values.nodeAgent.namespace | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Name of the node agent's objects. */}}
{{- define "openclaw-operator.nodeName" -}}
{{- printf "%s-node" (include "openclaw-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the node agent's pods (never the operator's: another name). */}}
{{- define "openclaw-operator.nodeSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-node" (include "openclaw-operator.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels on the node agent's objects. */}}
{{- define "openclaw-operator.nodeLabels" -}}
helm.sh/chart: {{ include "openclaw-operator.chart" . }}
{{ include "openclaw-operator.nodeSelectorLabels" . }}
app.kubernetes.io/version: {{ (.Values.image.tag | default .Chart.AppVersion) | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: node-agent
app.kubernetes.io/part-of: openclaw
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The namespaces the operator watches, as a JSON list: watchNamespaces plus watchNamespace (empty: all). */}}
{{- define "openclaw-operator.watchNamespaces" -}}
{{- $list := .Values.watchNamespaces | default list }}
{{- if .Values.watchNamespace }}
{{- $list = append $list .Values.watchNamespace }}
{{- end }}
{{- $list | uniq | toJson }}
{{- end }}
