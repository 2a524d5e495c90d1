// The Helm chart (deploy/helm/sluice) as Kubernetes would receive it: `helm lint`, then
// `helm template` with several sets of values, parsed and checked against what the services read
// (their settings objects in services/*/src/main.ts) and listen on. Needs no cluster.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ensureHelm, helm } from '../helpers/helm';
import { settingsOf } from '../helpers/service-settings';

const chart = join('deploy', 'helm', 'sluice');
// The chart needs Kubernetes 1.30 (preStop sleep); helm template assumes 1.20 unless told.
const kubeVersion = ['--kube-version', '1.31.0'];

function settingsSetOf(service: 'gateway' | 'worker'): Set<string> {
  return new Set(settingsOf(service));
}

/** Settings that hold a secret: only ever from a Secret, never a plain value. */
const secretSettings = new Set(['DEV_API_KEY', 'ADMIN_TOKEN', 'CLICKHOUSE_PASSWORD', 'CLICKHOUSE_HTTP_PASSWORD']);

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface Probe {
  httpGet: { path: string; port: string | number };
}
interface Container {
  name: string;
  ports: { name: string; containerPort: number }[];
  env: EnvVar[];
  volumeMounts: { name: string; mountPath: string }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean };
}
interface PodSpec {
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  containers: Container[];
  volumes: { name: string; secret?: { secretName: string; items?: { key: string; path: string }[] } }[];
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> } & Record<string, string>;
    template?: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    ports?: { name: string; port: number; targetPort: string | number }[];
    scaleTargetRef?: { apiVersion: string; kind: string; name: string };
    minReplicas?: number;
    maxReplicas?: number;
    maxUnavailable?: number | string;
    minAvailable?: number | string;
    endpoints?: { port: string; path: string }[];
  };
}

const workDir = mkdtempSync(join(tmpdir(), 'sluice-helm-'));
// The first run builds Helm (about 90 s from the Go module proxy); later runs reuse it.
beforeAll(() => ensureHelm(), 20 * 60_000);
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

/** The values for one render, as a file (JSON is YAML), plus further helm flags. */
function valuesArgs(values: object, extra: readonly string[] = []): string[] {
  const file = join(workDir, `values-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(values));
  return ['-f', file, ...extra];
}

function render(values: object, extra: readonly string[] = []): { text: string; manifests: Manifest[] } {
  const result = helm(['template', 'sluice', chart, ...kubeVersion, ...valuesArgs(values, extra)]);
  if (result.status !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  const manifests = parseAllDocuments(result.stdout)
    .map((document) => document.toJS() as Manifest | null)
    .filter((manifest): manifest is Manifest => manifest !== null);
  return { text: result.stdout, manifests };
}

function renderError(values: object): string {
  const result = helm(['template', 'sluice', chart, ...kubeVersion, ...valuesArgs(values)]);
  expect(result.status).not.toBe(0);
  return result.stderr;
}

function only(manifests: Manifest[], kind: string, name: string): Manifest {
  const found = manifests.filter((m) => m.kind === kind && m.metadata.name === name);
  expect(found).toHaveLength(1);
  return found[0] as Manifest;
}

function podOf(deployment: Manifest): PodSpec {
  const pod = deployment.spec?.template?.spec;
  if (pod === undefined) throw new Error(`${deployment.metadata.name} has no pod template`);
  return pod;
}

function containerOf(deployment: Manifest): Container {
  const containers = podOf(deployment).containers;
  expect(containers).toHaveLength(1);
  return containers[0] as Container;
}

function envOf(container: Container): Map<string, EnvVar> {
  return new Map(container.env.map((variable) => [variable.name, variable]));
}

/** A probe's port as a number: named ports resolve through the container's ports. */
function probePort(container: Container, probe: Probe | undefined): number | undefined {
  const port = probe?.httpGet.port;
  return typeof port === 'number' ? port : container.ports.find((p) => p.name === port)?.containerPort;
}

const labelsMatch = (selector: Record<string, string> | undefined, labels: Record<string, string>): boolean =>
  selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([key, value]) => labels[key] === value);

/** The fewest values the chart renders with: Secrets the operator made, brokers, ClickHouse. */
const minimal = {
  kafka: { brokers: ['kafka-0.kafka:9092', 'kafka-1.kafka:9092'], partitions: 6 },
  clickhouse: { url: 'http://clickhouse:8123', password: { existingSecret: 'sluice-clickhouse' } },
  keys: { existingSecret: 'sluice-keys' },
  adminToken: { existingSecret: 'sluice-admin' },
};

const sentinels = {
  keysFile: '{"keys":[{"secret":"sentinel-key-file-6c1e0f"}]}',
  adminToken: 'sentinel-admin-token-9b7d2a41',
  clickhousePassword: 'sentinel-clickhouse-password-3f5e',
};

/** Everything on: the chart's own Secret from --set values, ServiceMonitors, HPA, more settings. */
function fullRender(): { text: string; manifests: Manifest[] } {
  const keysFile = join(workDir, 'keys.json');
  writeFileSync(keysFile, sentinels.keysFile);
  return render(
    {
      kafka: { brokers: ['kafka:9092'], partitions: 12 },
      clickhouse: { url: 'https://clickhouse.example:8443', user: 'sluice' },
      serviceMonitor: { enabled: true, labels: { release: 'prometheus' } },
      gateway: { port: 9000, autoscaling: { enabled: true, minReplicas: 3, maxReplicas: 20 }, settings: { RATE_LIMIT_EVENTS_PER_SECOND: 1000 } },
      worker: { replicas: 12, adminPort: 9100, adminAllowedHosts: ['sluice-worker:8091'], settings: { STALL_SECONDS: 120 } },
    },
    ['--set', 'secrets.create=true', '--set-file', `secrets.keysFile=${keysFile}`, '--set', `secrets.adminToken=${sentinels.adminToken}`, '--set', `secrets.clickhousePassword=${sentinels.clickhousePassword}`],
  );
}

test('helm lint passes with the minimal values and with everything on', () => {
  for (const extra of [[], ['--set', 'secrets.create=true', '--set', `secrets.adminToken=${sentinels.adminToken}`, '--set', 'serviceMonitor.enabled=true', '--set', 'gateway.autoscaling.enabled=false']]) {
    const result = helm(['lint', chart, '--strict', ...kubeVersion, ...valuesArgs(minimal, extra)]);
    expect({ status: result.status, output: result.stdout + result.stderr }).toEqual({ status: 0, output: expect.stringContaining('0 chart(s) failed') as unknown });
  }
});

test('the default values do not render: brokers, ClickHouse and the key file are required, each named', () => {
  expect(renderError({})).toContain('kafka.brokers is required');
  expect(renderError({ kafka: minimal.kafka })).toContain('clickhouse.url is required (or clickhouse.shardUrls for a cluster)');
  expect(renderError({ kafka: minimal.kafka, clickhouse: { url: 'http://clickhouse:8123' } })).toContain('keys.existingSecret');
});

describe.each([
  ['minimal', (): { text: string; manifests: Manifest[] } => render(minimal)],
  ['everything on', fullRender],
])('rendered with %s values', (_label, renderIt) => {
  let manifests: Manifest[] = [];
  beforeAll(() => (manifests = renderIt().manifests));
  const deployment = (component: string): Manifest => only(manifests, 'Deployment', `sluice-${component}`);

  test('the gateway probes /healthz (liveness) and /readyz (readiness) on the port it listens on, on every interface', () => {
    const gateway = containerOf(deployment('gateway'));
    const env = envOf(gateway);
    const port = Number(env.get('GATEWAY_PORT')?.value);
    expect(env.get('GATEWAY_HOST')?.value).toBe('0.0.0.0');
    expect(gateway.livenessProbe?.httpGet.path).toBe('/healthz');
    expect(gateway.readinessProbe?.httpGet.path).toBe('/readyz');
    expect(gateway.startupProbe?.httpGet.path).toBe('/healthz');
    for (const probe of [gateway.livenessProbe, gateway.readinessProbe, gateway.startupProbe]) expect(probePort(gateway, probe)).toBe(port);
  });

  test("the worker probes /healthz on its admin listener's port, on every interface", () => {
    const worker = containerOf(deployment('worker'));
    const env = envOf(worker);
    const port = Number(env.get('ADMIN_PORT')?.value);
    expect(env.get('ADMIN_HOST')?.value).toBe('0.0.0.0');
    for (const probe of [worker.livenessProbe, worker.readinessProbe, worker.startupProbe]) {
      expect(probe?.httpGet.path).toBe('/healthz');
      expect(probePort(worker, probe)).toBe(port);
    }
  });

  test.each(['gateway', 'worker'] as const)('every variable the %s gets is one of its settings, and the required ones are set', (component) => {
    const env = envOf(containerOf(deployment(component)));
    const known = settingsSetOf(component);
    expect([...env.keys()].filter((name) => !known.has(name))).toEqual([]);
    const required = component === 'gateway' ? ['KAFKA_BROKERS', 'KAFKA_TOPIC', 'KAFKA_TOPIC_PARTITIONS', 'KEYS_FILE', 'GATEWAY_HOST', 'GATEWAY_PORT'] : ['KAFKA_BROKERS', 'KAFKA_TOPIC', 'KAFKA_TOPIC_PARTITIONS', 'KEYS_FILE', 'CLICKHOUSE_URL', 'ADMIN_HOST', 'ADMIN_PORT', 'ADMIN_TOKEN', 'CLICKHOUSE_PASSWORD'];
    expect(required.filter((name) => !env.has(name))).toEqual([]);
  });

  test('gateway and worker agree on the topic and its partitions', () => {
    const [gateway, worker] = [envOf(containerOf(deployment('gateway'))), envOf(containerOf(deployment('worker')))];
    for (const name of ['KAFKA_BROKERS', 'KAFKA_TOPIC', 'KAFKA_TOPIC_PARTITIONS']) expect(gateway.get(name)?.value).toBe(worker.get(name)?.value);
  });

  test.each(['gateway', 'worker'] as const)('the %s reads its key file from a Secret volume and its secrets from secretKeyRef', (component) => {
    const pod = podOf(deployment(component));
    const container = containerOf(deployment(component));
    const keysFile = envOf(container).get('KEYS_FILE')?.value ?? '';
    const mount = container.volumeMounts.find((m) => keysFile.startsWith(`${m.mountPath}/`));
    const volume = pod.volumes.find((v) => v.name === mount?.name);
    expect(volume?.secret?.secretName).toBeTruthy();
    expect(volume?.secret?.items?.map((item) => item.path)).toContain(keysFile.slice((mount?.mountPath.length ?? 0) + 1));
    for (const variable of container.env.filter((v) => secretSettings.has(v.name))) {
      expect({ name: variable.name, value: variable.value, from: variable.valueFrom?.secretKeyRef?.name }).toEqual({ name: variable.name, value: undefined, from: expect.any(String) as unknown });
    }
  });

  test.each(['gateway', 'worker'] as const)('the %s runs as non-root with a read-only root filesystem and has resources', (component) => {
    const pod = podOf(deployment(component));
    const container = containerOf(deployment(component));
    expect(pod.securityContext?.runAsNonRoot).toBe(true);
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(container.resources?.requests).toEqual(expect.objectContaining({ cpu: expect.any(String) as unknown, memory: expect.any(String) as unknown }));
    expect(container.resources?.limits).toEqual(expect.objectContaining({ memory: expect.any(String) as unknown }));
  });

  test("each Service selects its component's pods and targets the port the service listens on", () => {
    for (const [component, setting] of [['gateway', 'GATEWAY_PORT'], ['worker', 'ADMIN_PORT']] as const) {
      const service = only(manifests, 'Service', `sluice-${component}`);
      const pod = deployment(component).spec?.template?.metadata.labels ?? {};
      const container = containerOf(deployment(component));
      const target = service.spec?.ports?.[0]?.targetPort;
      expect(labelsMatch(service.spec?.selector, pod)).toBe(true);
      expect(probePort(container, { httpGet: { path: '', port: target ?? '' } })).toBe(Number(envOf(container).get(setting)?.value));
    }
  });

  test('the gateway PDB covers the gateway pods only and lets one go at a time', () => {
    const pdb = only(manifests, 'PodDisruptionBudget', 'sluice-gateway');
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.spec?.maxUnavailable).toBe(1);
    expect(pdb.spec?.minAvailable).toBeUndefined();
    expect(labelsMatch(pdb.spec?.selector?.matchLabels, deployment('gateway').spec?.template?.metadata.labels ?? {})).toBe(true);
    expect(labelsMatch(pdb.spec?.selector?.matchLabels, deployment('worker').spec?.template?.metadata.labels ?? {})).toBe(false);
  });

  test('the HPA scales the gateway Deployment, which then leaves its replica count to it', () => {
    const hpa = only(manifests, 'HorizontalPodAutoscaler', 'sluice-gateway');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec?.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'sluice-gateway' });
    expect(hpa.spec?.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec?.maxReplicas).toBeGreaterThanOrEqual(hpa.spec?.minReplicas ?? Infinity);
    expect(deployment('gateway').spec?.replicas).toBeUndefined();
    expect(manifests.filter((m) => m.kind === 'HorizontalPodAutoscaler')).toHaveLength(1);
  });

  test('the worker runs no more replicas than the topic has partitions', () => {
    const worker = deployment('worker');
    expect(worker.spec?.replicas).toBeLessThanOrEqual(Number(envOf(containerOf(worker)).get('KAFKA_TOPIC_PARTITIONS')?.value));
  });
});

describe('secrets', () => {
  test("with the operator's Secrets the chart makes none and names theirs", () => {
    const { manifests } = render(minimal);
    expect(manifests.filter((m) => m.kind === 'Secret' || m.kind === 'ConfigMap')).toEqual([]);
    const worker = containerOf(only(manifests, 'Deployment', 'sluice-worker'));
    const env = envOf(worker);
    expect(env.get('ADMIN_TOKEN')?.valueFrom?.secretKeyRef).toEqual({ name: 'sluice-admin', key: 'admin-token' });
    expect(env.get('CLICKHOUSE_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({ name: 'sluice-clickhouse', key: 'clickhouse-password' });
  });

  test('values given to the Secret-making option appear only base64-encoded, in that Secret\'s data', () => {
    const { text, manifests } = fullRender();
    const secrets = manifests.filter((m) => m.kind === 'Secret');
    expect(secrets).toHaveLength(1);
    const secret = secrets[0] as Manifest;
    expect(secret.stringData).toBeUndefined();
    const encoded = Object.values(sentinels).map((value) => Buffer.from(value).toString('base64'));
    expect(Object.values(secret.data ?? {}).sort()).toEqual([...encoded].sort());
    for (const value of Object.values(sentinels)) expect(text).not.toContain(value);
    const others = manifests.filter((m) => m.kind !== 'Secret').map((m) => JSON.stringify(m));
    for (const value of encoded) expect(others.filter((json) => json.includes(value))).toEqual([]);
    const worker = containerOf(only(manifests, 'Deployment', 'sluice-worker'));
    expect(envOf(worker).get('ADMIN_TOKEN')?.valueFrom?.secretKeyRef?.name).toBe(secret.metadata.name);
  });

  test.each(['ADMIN_TOKEN', 'CLICKHOUSE_PASSWORD', 'CLICKHOUSE_HTTP_PASSWORD', 'DEV_API_KEY'])('a secret setting (%s) given as a plain setting is refused', (name) => {
    expect(renderError({ ...minimal, worker: { settings: { [name]: 'sentinel-0123456789abcdef' } } })).toContain(`worker.settings.${name} would put a secret in a plain environment value`);
  });

  test('the key file path is the chart\'s: a setting naming another is refused', () => {
    expect(renderError({ ...minimal, gateway: { settings: { KEYS_FILE: '/elsewhere.json' } } })).toContain('gateway.settings.KEYS_FILE is set by the chart');
  });
});

describe('worker replicas', () => {
  test('as many workers as partitions render', () => {
    const { manifests } = render({ ...minimal, kafka: { ...minimal.kafka, partitions: 3 }, worker: { replicas: 3 } });
    expect(only(manifests, 'Deployment', 'sluice-worker').spec?.replicas).toBe(3);
  });

  test('more workers than partitions fail the render, saying why', () => {
    expect(renderError({ ...minimal, kafka: { ...minimal.kafka, partitions: 3 }, worker: { replicas: 4 } })).toContain('worker.replicas (4) exceeds kafka.partitions (3)');
  });
});

test('without the HPA the gateway Deployment carries its replica count, and no HPA is made', () => {
  const { manifests } = render({ ...minimal, gateway: { replicas: 3, autoscaling: { enabled: false } } });
  expect(only(manifests, 'Deployment', 'sluice-gateway').spec?.replicas).toBe(3);
  expect(manifests.filter((m) => m.kind === 'HorizontalPodAutoscaler')).toEqual([]);
});

describe('ServiceMonitors', () => {
  test('are off by default', () => {
    expect(render(minimal).manifests.filter((m) => m.kind === 'ServiceMonitor')).toEqual([]);
  });

  test('when on, scrape /metrics on a port of the Service each selects, for gateway and worker', () => {
    const { manifests } = fullRender();
    const monitors = manifests.filter((m) => m.kind === 'ServiceMonitor');
    expect(monitors.map((m) => m.metadata.name).sort()).toEqual(['sluice-gateway', 'sluice-worker']);
    for (const monitor of monitors) {
      expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
      expect(monitor.metadata.labels?.release).toBe('prometheus');
      const services = manifests.filter((m) => m.kind === 'Service' && labelsMatch(monitor.spec?.selector?.matchLabels, m.metadata.labels ?? {}));
      expect(services.map((s) => s.metadata.name)).toEqual([monitor.metadata.name]);
      const portNames = (services[0]?.spec?.ports ?? []).map((p) => p.name);
      expect(monitor.spec?.endpoints?.length).toBeGreaterThan(0);
      for (const endpoint of monitor.spec?.endpoints ?? []) {
        expect(endpoint.path).toBe('/metrics');
        expect(portNames).toContain(endpoint.port);
      }
    }
  });
});

describe('a ClickHouse cluster (docs/deploy.md, Cluster)', () => {
  const workerEnv = (values: object): Record<string, string | undefined> =>
    Object.fromEntries([...envOf(containerOf(only(render(values).manifests, 'Deployment', 'sluice-worker'))).values()].map((e) => [e.name, e.value]));

  test('the worker gets the cluster and its shards, in order, and no CLICKHOUSE_URL, which it would refuse beside them', () => {
    const env = workerEnv({ ...minimal, clickhouse: { ...minimal.clickhouse, url: '', cluster: 'c1', shardUrls: ['http://shard-1:8123', 'http://shard-2:8123'] } });
    expect([env.CLICKHOUSE_CLUSTER, env.CLICKHOUSE_SHARD_URLS, 'CLICKHOUSE_URL' in env]).toEqual(['c1', 'http://shard-1:8123,http://shard-2:8123', false]);
    expect(['CLICKHOUSE_CLUSTER', 'CLICKHOUSE_SHARD_URLS'].filter((name) => name in workerEnv(minimal))).toEqual([]);
  });

  test('a cluster without shards, or a URL beside the shards, does not render, each named', () => {
    expect(renderError({ ...minimal, clickhouse: { ...minimal.clickhouse, cluster: 'c1' } })).toContain('clickhouse.cluster needs clickhouse.shardUrls');
    expect(renderError({ ...minimal, clickhouse: { ...minimal.clickhouse, shardUrls: ['http://shard-1:8123'] } })).toContain('not both');
    expect(renderError({ ...minimal, worker: { settings: { CLICKHOUSE_SHARD_URLS: 'http://x:8123' } } })).toContain('worker.settings.CLICKHOUSE_SHARD_URLS is set by the chart');
  });
});
