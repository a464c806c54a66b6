// What a kubelet would give the portbroker container of deploy/kubernetes (0094-deploy-run.t):
// the environment from the container's envFrom/env (ConfigMaps and Secrets of the same file) and
// every ConfigMap/Secret volume written under ROOT+mountPath in the kubelet's layout (files in a
// timestamped directory, `..data` pointing at it, one symlink per key). Environment values naming
// a path under a mount are rewritten to ROOT+path. Prints one JSON object on stdout:
// {env, args, port, readiness, liveness, metricsPath, mounts}.
// Usage: node k8s_pod.mjs MANIFEST ROOT
import { readFileSync, mkdirSync, writeFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
const [manifest, root] = process.argv.slice(2);
const docs = YAML.parseAllDocuments(readFileSync(manifest, 'utf8')).map(d => d.toJSON()).filter(Boolean);
const find = (kind, name) => {
  const d = docs.find(x => x.kind === kind && x.metadata.name === name);
  if (!d) throw new Error(`${kind} ${name} is referenced but not in ${manifest}`);
  return d;
};
const dataOf = d => d.kind === 'Secret'
  ? { ...Object.fromEntries(Object.entries(d.data || {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()])), ...(d.stringData || {}) }
  : (d.data || {});
const dep = docs.find(d => d.kind === 'Deployment');
const pod = dep.spec.template.spec, c = pod.containers[0];
const env = {};
for (const e of c.envFrom || []) {
  if (e.configMapRef) Object.assign(env, dataOf(find('ConfigMap', e.configMapRef.name)));
  if (e.secretRef) Object.assign(env, dataOf(find('Secret', e.secretRef.name)));
}
for (const e of c.env || []) env[e.name] = e.value;
const mounts = [];
for (const m of c.volumeMounts || []) {
  const v = pod.volumes.find(x => x.name === m.name);
  const src = v.configMap ? find('ConfigMap', v.configMap.name) : v.secret ? find('Secret', v.secret.secretName) : null;
  if (!src) throw new Error(`volume ${m.name}: only configMap and secret volumes are simulated`);
  const dir = join(root, m.mountPath), ts = '..2026_01_01_00_00_00.000000001';
  mkdirSync(join(dir, ts), { recursive: true });
  symlinkSync(ts, join(dir, '..data'));
  for (const [k, val] of Object.entries(dataOf(src))) {
    writeFileSync(join(dir, ts, k), val);
    symlinkSync(join('..data', k), join(dir, k));
  }
  mounts.push({ mountPath: m.mountPath, dir, keys: Object.keys(dataOf(src)) });
}
for (const [k, val] of Object.entries(env))
  for (const m of mounts)
    if (val === m.mountPath || val.startsWith(m.mountPath + '/')) env[k] = root + val;
const port = c.ports.find(p => p.name === c.readinessProbe.httpGet.port || p.containerPort === c.readinessProbe.httpGet.port);
const sm = docs.find(d => d.kind === 'ServiceMonitor');
console.log(JSON.stringify({ env, args: c.args || [], port: port.containerPort,
  readiness: c.readinessProbe.httpGet.path, liveness: c.livenessProbe.httpGet.path,
  metricsPath: sm?.spec.endpoints[0].path, mounts }));
