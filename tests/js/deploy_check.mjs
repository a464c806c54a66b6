// deploy/ checks (tests/integration/0092-deploy.t): every manifest of deploy/kubernetes validates
// against the Kubernetes API schemas (kubernetes-models); the ServiceMonitor (a CRD that
// kubernetes-models does not ship) against a small schema of ours with ajv. TAP on stdout.
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import Ajv from 'ajv';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
const kinds = { ConfigMap, Secret, Service, Deployment, PodDisruptionBudget, NetworkPolicy };
const sm = new Ajv({ allErrors: true }).compile({
  type: 'object', required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: 'monitoring.coreos.com/v1' }, kind: { const: 'ServiceMonitor' },
    metadata: { type: 'object', required: ['name'] },
    spec: { type: 'object', required: ['selector', 'endpoints'], properties: {
      selector: { type: 'object', required: ['matchLabels'] },
      endpoints: { type: 'array', minItems: 1, items: { type: 'object', required: ['port', 'path'],
        properties: { port: { type: 'string' }, path: { const: '/metrics' }, interval: { type: 'string', pattern: '^[0-9]+[smh]$' } } } } } } },
});
let n = 0, failed = 0;
const ok = (c, d, extra) => { n++; if (c) console.log(`ok ${n} - ${d}`); else { failed++; console.log(`not ok ${n} - ${d}`); if (extra) console.log('#   ' + String(extra).split('\n').join('\n#   ')); } };
const docs = YAML.parseAllDocuments(readFileSync(process.argv[2], 'utf8')).map(d => d.toJSON()).filter(Boolean);
const byKind = {};
for (const d of docs) {
  byKind[d.kind] = d;
  if (d.kind === 'ServiceMonitor') { ok(sm(d), 'ServiceMonitor matches its schema (ajv; CRD not in kubernetes-models)', JSON.stringify(sm.errors)); continue; }
  const K = kinds[d.kind];
  if (!K) { ok(false, `unexpected kind ${d.kind}`); continue; }
  let err = null;
  try { new K(d).validate(); } catch (e) { err = e; }
  ok(!err, `${d.kind} ${d.metadata.name} validates against the Kubernetes API schema`, err && err.message);
}
const dep = byKind.Deployment, c = dep?.spec.template.spec.containers[0];
ok(dep && dep.spec.replicas >= 2, 'Deployment runs at least 2 replicas');
ok(c?.readinessProbe?.httpGet?.path === '/readyz' && c?.livenessProbe?.httpGet?.path === '/healthz', 'readiness /readyz, liveness /healthz');
const cfg = docs.find(d => d.kind === 'ConfigMap' && d.data?.PORTBROKER_KAFKA_BOOTSTRAP_SERVERS);
const kafkaSecret = docs.find(d => d.kind === 'Secret' && d.stringData?.PORTBROKER_KAFKA_SASL_PASSWORD);
ok(cfg && c.envFrom.some(e => e.configMapRef?.name === cfg.metadata.name) && c.envFrom.some(e => e.secretRef?.name === kafkaSecret?.metadata.name),
  'kafka.bootstrap.servers from a ConfigMap, credentials from a Secret');
// API tokens: a Secret volume mounted where auth.tokens.file points, readable by the pod's group.
const pod = dep?.spec.template.spec, mountOf = v => c.volumeMounts.find(m => m.name === v.name)?.mountPath;
const tokVol = pod?.volumes.find(v => v.secret && cfg.data.PORTBROKER_AUTH_TOKENS_FILE?.startsWith(mountOf(v) + '/'));
ok(tokVol && pod.securityContext.fsGroup === pod.securityContext.runAsUser,
  'auth.tokens.file on a Secret volume, group-readable by the pod (fsGroup)');
const prodVol = pod?.volumes.find(v => v.configMap && mountOf(v) === cfg.data.PORTBROKER_PRODUCTS_DIR);
ok(prodVol && Object.keys(docs.find(d => d.kind === 'ConfigMap' && d.metadata.name === prodVol.configMap.name)?.data || {}).some(k => k.endsWith('.json')),
  'products.dir is a ConfigMap volume holding descriptors (*.json)');
ok(['Service', 'PodDisruptionBudget', 'NetworkPolicy', 'ServiceMonitor'].every(k => byKind[k]), 'Service, PodDisruptionBudget, NetworkPolicy and ServiceMonitor present');
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
