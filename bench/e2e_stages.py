#!/usr/bin/python3
"""Per-stage breakdown of e2e_latency.py's records (bench/README.md, "#15 e2e tail").

usage: e2e_stages.py PROBE_FILE TRACE_FILE

PROBE_FILE: what a broker built with bench/e2e_probe.patch (temporary probes, not for merging:
`git apply bench/e2e_probe.patch && make`) writes at exit to $PB_PROBE: one line per record and
stage ("stage partition offset value ns", CLOCK_REALTIME): 1/2 publish request read / records
enqueued (value), acknowledged (ns), 3 librdkafka's produce latency (us), 4 router consumed (value:
the record's Kafka timestamp, ms), 5 routed send, 6/7 routed acknowledged (value: destination
offset) and its librdkafka latency, 8/9 stream polled / chunk written (destination partition and
offset), 10 routed copy acknowledged on librdkafka's broker thread (interceptor; destination
partition and offset), 11/12 and 31/32 produce requests sent / responses received on the routing and
publish producers' broker threads (broker id; 12/32 carry librdkafka's round trip in us).
TRACE_FILE: E2E_TRACE of the same run (joined by origin and destination positions).
Prints p50/p90/p99/max per stage, and each stage's mean over the records at or above the total's
p99 ("tail mean") and near its p50.
"""
import sys, collections
probe, trace = sys.argv[1], sys.argv[2]
warm = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
orig = collections.defaultdict(dict)   # (p, origin off) -> stage -> value
rtts = collections.defaultdict(list)   # (producer, broker) -> Produce round trips, ms
dest = {}                              # (p, dest off) -> {8: ns, 9: ns}
for line in open(probe):
    st, a, b, c, ns = map(int, line.split())
    if st in (1, 2):
        orig[(a, b)][st] = c; orig[(a, b)]['ack'] = ns
    elif st == 3: orig[(a, b)]['plat'] = c
    elif st == 4: orig[(a, b)].setdefault('rcons', ns); orig[(a, b)]['kts'] = c
    elif st == 5: orig[(a, b)].setdefault('rsend', ns)
    elif st == 6: orig[(a, b)]['rack'] = ns; orig[(a, b)]['doff'] = c
    elif st == 7: orig[(a, b)]['rlat'] = c
    elif st in (8, 9, 10): dest.setdefault((a, b), {}).setdefault(st, ns)
    elif st in (12, 32) and (b >> 32) == 0:  # api key 0: Produce
        rtts[('routing' if st == 12 else 'publish', a)].append(c / 1000)
rows = []
recs = []
tmin = None
for line in open(trace):
    if line.startswith('# measure_from'):
        tmin = int(line.split()[2]); continue
    dp, do, op, oo, send, arr = line.split()
    if op == 'None': continue
    recs.append((int(dp), int(do), int(op), int(oo), int(send), int(arr)))
tmin = tmin or min(r[4] for r in recs) + warm * 1e9
names = ['send->req', 'req->enq', 'enq->pub ack', ' (rdk produce lat)', 'pub ack->router cons',
         'kts->router cons', 'cons->routed send', 'send->routed ack', ' (rdk routed lat)',
         'routed ack->stream poll', 'poll->written', 'written->client',
         'enq->router cons (path)', 'routed send->poll (path)', 'routed send->rdk ack (bthr)', 'rdk ack->loop dr', 'total']
miss = 0
for dp, do, op, oo, send, arr in recs:
    if send < tmin: continue
    o = orig.get((op, oo)); d = dest.get((dp, do))
    if not o or not d or 1 not in o or 'rcons' not in o or 'rack' not in o or 8 not in d or 9 not in d:
        miss += 1; continue
    ms = lambda x: x / 1e6
    rows.append([ms(o[1] - send), ms(o[2] - o[1]), ms(o['ack'] - o[2]), o.get('plat', 0) / 1000,
                 ms(o['rcons'] - o['ack']), ms(o['rcons']) - o['kts'], ms(o.get('rsend', o['rcons']) - o['rcons']),
                 ms(o['rack'] - o.get('rsend', o['rcons'])), o.get('rlat', 0) / 1000, ms(d[8] - o['rack']),
                 ms(d[9] - d[8]), ms(arr - d[9]),
                 # On the record's path: the acknowledgements' way back is not (a consumer may
                 # read a record before its producer heard the ack).
                 ms(o['rcons'] - o[2]), ms(d[8] - o.get('rsend', o['rcons'])), ms(d.get(10, o['rack']) - o.get('rsend', o['rcons'])), ms(o['rack'] - d.get(10, o['rack'])), ms(arr - send)])
print("joined %d records, %d unjoined" % (len(rows), miss))
def pct(xs, q): xs = sorted(xs); return xs[min(len(xs) - 1, int(q * len(xs)))]
tot = sorted(r[-1] for r in rows); p99 = pct(tot, 0.99); p50 = pct(tot, 0.5)
tail = [r for r in rows if r[-1] >= p99]
mid = [r for r in rows if abs(r[-1] - p50) < 0.5]
print("%-26s %7s %7s %7s %7s | %9s %9s" % ('stage', 'p50', 'p90', 'p99', 'max', 'tail mean', 'p50 mean'))
for i, nme in enumerate(names):
    col = [r[i] for r in rows]
    print("%-26s %7.2f %7.2f %7.2f %7.2f | %9.2f %9.2f" % (nme, pct(col, .5), pct(col, .9), pct(col, .99), max(col),
          sum(r[i] for r in tail) / len(tail), sum(r[i] for r in mid) / max(1, len(mid))))
for (who, broker), xs in sorted(rtts.items()):
    print("%s producer -> broker %d: %d Produce round trips, ms p50 %.2f p90 %.2f p99 %.2f max %.2f"
          % (who, broker, len(xs), pct(xs, .5), pct(xs, .9), pct(xs, .99), max(xs)))
