// SSE resume with Last-Event-ID (tests/integration/0042): an EventSource (npm `eventsource`, the
// WHATWG algorithm) reads a stream that the server ends (timeout_ms); the client reconnects by
// itself with the Last-Event-ID header of the last event it got. Prints one JSON summary line: the
// events, the connections opened, the ids seen, duplicates (partition:offset delivered twice).
// usage: node sse_resume.mjs URL WANT_EVENTS DEADLINE_MS STATUS_FILE
import { EventSource } from 'eventsource';
import { writeFileSync } from 'node:fs';
const [url, want, deadline, statusFile] = process.argv.slice(2);
const seen = new Map();
let events = 0, opens = 0, dups = 0, lastId = '';
const keys = [];
const es = new EventSource(url);
const done = (why) => {
  es.close();
  console.log(JSON.stringify({ why, events, opens, dups, lastId, keys: keys.sort() }));
  process.exit(0);
};
es.addEventListener('open', () => { opens++; writeFileSync(statusFile, `${opens} ${events}\n`); });
es.addEventListener('record', (e) => {
  const r = JSON.parse(e.data);
  const k = `${r.partition}:${r.offset}`;
  if (seen.has(k)) dups++;
  seen.set(k, 1);
  keys.push(r.key);
  events++;
  lastId = e.lastEventId;
  writeFileSync(statusFile, `${opens} ${events}\n`);
  if (events >= Number(want)) done('enough');
});
setTimeout(() => done('deadline'), Number(deadline));
