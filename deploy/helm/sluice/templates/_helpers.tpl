{{- define "sluice.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "sluice.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: call with (dict "root" $ "component" "gateway"). */}}
{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "sluice.createdSecretName" -}}
{{ include "sluice.fullname" . }}-secrets
{{- end -}}

{{/* Secret of the key file: the existing one, else the chart-made one; one of them is required. */}}
{{- define "sluice.keysSecretName" -}}
{{- if .Values.keys.existingSecret -}}
{{ .Values.keys.existingSecret }}
{{- else if and .Values.secrets.create .Values.secrets.keysFile -}}
{{ include "sluice.createdSecretName" . }}
{{- else -}}
{{ fail "sluice: the gateway needs an API key file: set keys.existingSecret to a Secret holding it (key keys.key), or secrets.create=true with secrets.keysFile" }}
{{- end -}}
{{- end -}}

{{/* Secret of ADMIN_TOKEN, or empty: replay off. */}}
{{- define "sluice.adminTokenSecretName" -}}
{{- if .Values.adminToken.existingSecret -}}
{{ .Values.adminToken.existingSecret }}
{{- else if and .Values.secrets.create .Values.secrets.adminToken -}}
{{ include "sluice.createdSecretName" . }}
{{- end -}}
{{- end -}}

{{/* Secret of CLICKHOUSE_PASSWORD, or empty: no password. */}}
{{- define "sluice.clickhousePasswordSecretName" -}}
{{- if .Values.clickhouse.password.existingSecret -}}
{{ .Values.clickhouse.password.existingSecret }}
{{- else if and .Values.secrets.create .Values.secrets.clickhousePassword -}}
{{ include "sluice.createdSecretName" . }}
{{- end -}}
{{- end -}}

{{/*
Refuses values the services could not run with, at render time rather than in a crash loop.
Worker replicas above the partitions fail the render instead of being clamped: a clamp would
silently run fewer workers than asked, and the fix (more partitions) is the operator's to make.
*/}}
{{- define "sluice.validate" -}}
{{- if not .Values.kafka.brokers -}}
{{ fail "sluice: kafka.brokers is required: the Kafka bootstrap servers, host:port (the chart installs no Kafka)" }}
{{- end -}}
{{- if and (not .Values.clickhouse.url) (not .Values.clickhouse.shardUrls) -}}
{{ fail "sluice: clickhouse.url is required (or clickhouse.shardUrls for a cluster): the worker's embedded chDB mode is not for Kubernetes (the chart installs no ClickHouse)" }}
{{- end -}}
{{- if and .Values.clickhouse.url .Values.clickhouse.shardUrls -}}
{{ fail "sluice: set clickhouse.url (one server) or clickhouse.shardUrls (one URL per shard), not both" }}
{{- end -}}
{{- if and .Values.clickhouse.cluster (not .Values.clickhouse.shardUrls) -}}
{{ fail "sluice: clickhouse.cluster needs clickhouse.shardUrls: one URL per shard, in the order of the cluster's remote_servers, so that the worker writes each partition to its shard" }}
{{- end -}}
{{- if gt (int .Values.worker.replicas) (int .Values.kafka.partitions) -}}
{{ fail (printf "sluice: worker.replicas (%d) exceeds kafka.partitions (%d): a consumer group gives each partition to one worker, so the extra workers would idle; lower worker.replicas or give the topic more partitions" (int .Values.worker.replicas) (int .Values.kafka.partitions)) }}
{{- end -}}
{{- $secretSettings := list "DEV_API_KEY" "ADMIN_TOKEN" "CLICKHOUSE_PASSWORD" "CLICKHOUSE_HTTP_PASSWORD" -}}
{{- $chartSettings := list "KAFKA_BROKERS" "KAFKA_TOPIC" "KAFKA_TOPIC_PARTITIONS" "KAFKA_TOPIC_REPLICATION_FACTOR" "KEYS_FILE" "GATEWAY_HOST" "GATEWAY_PORT" "SHUTDOWN_GRACE_MS" "LOG_LEVEL" "CONSUMER_GROUP" "CLICKHOUSE_URL" "CLICKHOUSE_CLUSTER" "CLICKHOUSE_SHARD_URLS" "CLICKHOUSE_USER" "CLICKHOUSE_DATABASE" "ADMIN_HOST" "ADMIN_PORT" "ADMIN_ALLOWED_HOSTS" -}}
{{- range $component := list "gateway" "worker" -}}
{{- range $name, $value := (index $.Values $component).settings -}}
{{- if has $name $secretSettings -}}
{{ fail (printf "sluice: %s.settings.%s would put a secret in a plain environment value: use the chart's Secret values (keys, adminToken, clickhouse.password)" $component $name) }}
{{- else if has $name $chartSettings -}}
{{ fail (printf "sluice: %s.settings.%s is set by the chart from its own values (kafka, clickhouse, keys, %s): set it there" $component $name $component) }}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "sluice.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{- define "sluice.kafkaEnv" -}}
- name: KAFKA_BROKERS
  value: {{ join "," .Values.kafka.brokers | quote }}
- name: KAFKA_TOPIC
  value: {{ .Values.kafka.topic | quote }}
- name: KAFKA_TOPIC_PARTITIONS
  value: {{ .Values.kafka.partitions | quote }}
- name: KAFKA_TOPIC_REPLICATION_FACTOR
  value: {{ .Values.kafka.replicationFactor | quote }}
{{- end -}}

{{/* Settings given by name; call with the settings map. */}}
{{- define "sluice.settingsEnv" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end -}}
{{- end -}}

{{- define "sluice.keysVolume" -}}
- name: keys
  secret:
    secretName: {{ include "sluice.keysSecretName" . }}
    defaultMode: 0440
    items:
      - key: {{ .Values.keys.key }}
        path: keys.json
- name: tmp
  emptyDir: {}
{{- end -}}

{{- define "sluice.keysMount" -}}
- name: keys
  mountPath: /etc/sluice/keys
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end -}}
