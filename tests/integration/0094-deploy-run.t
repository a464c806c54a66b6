#!/usr/bin/env bash
# deploy/ run for real, as far as this machine allows (no container runtime, no cluster): the image's
# final stage and the Kubernetes pod are simulated with the `make install` tree they are made of.
# Container: the Containerfile's ENV, ENTRYPOINT and CMD run the installed binary; with no
# authentication it refuses to start on 0.0.0.0 and says why; with a tokens file it serves, and
# its HEALTHCHECK command (run as written) passes, then fails once the broker is gone.
# Kubernetes: two replicas' processes get the Deployment's environment (ConfigMap + Secrets) and
# its ConfigMap/Secret volumes in the kubelet's layout (tests/js/k8s_pod.mjs), against
# `portbroker kafka` (3 brokers, the manifest's replication factor 3). Kafka's address and security
# settings are the only values replaced (the embedded cluster speaks PLAINTEXT without SASL).
. "$(dirname "$0")/lib.sh"
plan 17
D="$T/dest"
# flock: 0093 and 0094 both build the install binary; two makes at once in one tree clash.
flock build/.make-install.lock make -s install DESTDIR="$D" PREFIX=/usr >"$T/install.log" 2>&1 || bail "make install failed: $(tail -5 "$T/install.log")"
BIN="$D/usr/bin/portbroker"
C=deploy/container/Containerfile
final=$(awk '/^FROM/{s++} s==2' "$C" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta')
# "$D" in front of the image's absolute paths (the image is the install tree copied to /).
reloc() { sed -e "s|\"/usr/|\"$D/usr/|g; s|\"/etc/|\"$D/etc/|g"; }
listen=$(printf '%s\n' "$final" | sed -n 's/^ENV PORTBROKER_HTTP_LISTEN=//p')
is "image listens on 0.0.0.0:8080" "$listen" "0.0.0.0:8080"
mapfile -t cmd < <(printf '%s\n' "$final" | sed -n 's/^ENTRYPOINT //p; s/^CMD //p' | reloc |
  python3 -c 'import json,sys; [print(a) for l in sys.stdin for a in json.loads(l)]')
is "ENTRYPOINT + CMD" "${cmd[*]//$D/}" "/usr/bin/portbroker serve -c /etc/portbroker/portbroker.conf"
# As shipped (no credentials given): exit 2, naming what to set. products.dir is the image's path.
out=$(cd / && timeout 20 env -i PATH=/usr/bin:/bin PORTBROKER_HTTP_LISTEN=0.0.0.0:0 \
  PORTBROKER_PRODUCTS_DIR="$D/usr/share/portbroker/examples" "${cmd[@]}" 2>&1); rc=$?
is "image without authentication exits 2" "$rc" 2
like "... and says what to set" "$out" 'beyond loopback with auth off.*set auth.tokens.file'
tokline=$("$BIN" token admin) || bail "portbroker token failed"
ADMIN=$(sed -n 's/^token: //p' <<<"$tokline")
sed -n 's/^line: *//p' <<<"$tokline" >"$T/tokens"
( cd / && exec env -i PATH=/usr/bin:/bin PORTBROKER_HTTP_LISTEN=0.0.0.0:0 \
    PORTBROKER_AUTH_TOKENS_FILE="$T/tokens" PORTBROKER_PRODUCTS_DIR="$D/usr/share/portbroker/examples" \
    "${cmd[@]}" --port-file "$T/c.port" ) >"$T/c.out" 2>"$T/c.log" &
cpid=$!; _pids+=($cpid)
wait_until 30 test -s "$T/c.port" || bail "image command did not start: $(tail -5 "$T/c.log")"
CU=http://127.0.0.1:$(cat "$T/c.port")
check "image command with a tokens file: ready" wait_ready "$CU" 60
mapfile -t hc < <(printf '%s\n' "$final" | sed -n 's/^HEALTHCHECK .* CMD //p' | sed "s|/8080|/$(cat "$T/c.port")|" |
  python3 -c 'import json,sys; [print(a) for a in json.loads(sys.stdin.read())]')
check "HEALTHCHECK command passes against the running image command" "${hc[@]}"
stop_pid $cpid 15
"${hc[@]}" >/dev/null 2>&1; rc=$?
check "HEALTHCHECK command fails once it is gone (exit $rc)" test "$rc" -ne 0

# Kubernetes: two replicas.
start_kafka 3
node tests/js/k8s_pod.mjs deploy/kubernetes/portbroker.yaml "$T/pod" >"$T/pod.json" || bail "k8s_pod.mjs failed"
pj() { python3 -c "import json,sys; d=json.load(open('$T/pod.json')); print($1)"; }
podenv() { python3 -c "
import json; d=json.load(open('$T/pod.json'))['env']
$1
for k,v in d.items(): print(f'{k}={v}')"; }
mapfile -t env_all < <(podenv '')
dump=$(cd / && env -i PATH=/usr/bin:/bin "${env_all[@]}" "$BIN" serve --config-dump 2>&1)
like "pod env: kafka.bootstrap.servers from the ConfigMap" "$dump" '^kafka.bootstrap.servers = kafka-0.kafka:9092,'
like "pod env: SASL credentials from the Secret, masked in the dump" "$dump" '^kafka.sasl.password = \*+'
like "pod env: auth.tokens.file on the Secret's volume" "$dump" "^auth.tokens.file = $T/pod/etc/portbroker/auth/tokens$"
# The operator's step the Secret asks for: a token line.
cat "$T/tokens" >>"$T/pod/etc/portbroker/auth/..2026_01_01_00_00_00.000000001/tokens"
mapfile -t env_run < <(podenv "
for k in ('PORTBROKER_KAFKA_SECURITY_PROTOCOL','PORTBROKER_KAFKA_SASL_MECHANISM','PORTBROKER_KAFKA_SASL_USERNAME','PORTBROKER_KAFKA_SASL_PASSWORD'): d.pop(k)
d['PORTBROKER_KAFKA_BOOTSTRAP_SERVERS']='$BROKERS'
d['PORTBROKER_HTTP_LISTEN']=d['PORTBROKER_HTTP_LISTEN'].replace(':$(pj 'd["port"]')', ':0')")
mapfile -t args < <(pj '"\n".join(d["args"])')
for r in 1 2; do
  ( cd / && exec env -i PATH=/usr/bin:/bin "${env_run[@]}" "$BIN" "${args[@]}" --port-file "$T/p$r.port" ) >"$T/p$r.out" 2>"$T/p$r.log" &
  _pids+=($!)
done
wait_until 30 test -s "$T/p1.port" -a -s "$T/p2.port" || bail "pods did not start: $(tail -3 "$T/p1.log" "$T/p2.log")"
U1=http://127.0.0.1:$(cat "$T/p1.port") U2=http://127.0.0.1:$(cat "$T/p2.port")
rp=$(pj 'd["readiness"]') lp=$(pj 'd["liveness"]') mp=$(pj 'd["metricsPath"]')
check "both replicas pass the readiness probe ($rp)" wait_until 90 sh -c "curl -fsS --max-time 2 $U1$rp && curl -fsS --max-time 2 $U2$rp"
is "liveness probe ($lp) on both" "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$U1$lp") $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$U2$lp")" "200 200"
like "ServiceMonitor's $mp answers without credentials" "$(curl -s --max-time 5 "$U1$mp")" '^# (HELP|TYPE) portbroker_'
http GET "$U1/v1/products"
is "API without a token: 401 (auth on from the Secret)" "$HTTP_STATUS" 401
http GET "$U2/v1/products" -H "Authorization: Bearer $ADMIN"
is "descriptors from the ConfigMap (kubelet layout) loaded" "$(printf '%s' "$HTTP_BODY" | python3 -c 'import json,sys; print(" ".join(p["fqn"] for p in json.load(sys.stdin)["products"]))')" "urn:dpds:com.acme:dataproducts:weather:2"
http POST "$U1/subjects/k8s-run-value/versions" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
  -d '{"schema":"{\"type\":\"record\",\"name\":\"K\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}"}'
id1=$(printf '%s' "$HTTP_BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' 2>/dev/null)
check "replica 2 serves the schema registered on replica 1 (shared registry)" wait_until 20 sh -c \
  "curl -fsS --max-time 2 -H 'Authorization: Bearer $ADMIN' $U2/subjects/k8s-run-value/versions/1 | grep -q '\"id\":$id1[,}]'"
# The manifest's example descriptors are the repository's examples (no drift).
check "products ConfigMap holds schemas/examples' files unchanged" sh -c \
  "cmp '$T/pod/etc/portbroker/products/weather.json' schemas/examples/weather.json && cmp '$T/pod/etc/portbroker/products/weather_observation.avsc' schemas/examples/weather_observation.avsc"
finish
