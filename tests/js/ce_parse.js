// Parse routed records as CloudEvents with the npm `cloudevents` package's Kafka binding (binary
// mode), strictly validated. stdin: route_read.py's JSON lines; stdout: one JSON line per record
// with the event's attributes, or {"key", "error"} when the package refuses it.
"use strict";
const { Kafka } = require("cloudevents");
const lines = require("fs").readFileSync(0, "utf8").split("\n").filter((l) => l.trim());
for (const l of lines) {
  const r = JSON.parse(l);
  try {
    const e = Kafka.toEvent({ key: r.key, value: Buffer.from("x"), headers: r.headers, timestamp: undefined });
    e.validate();
    console.log(JSON.stringify({ key: r.key, id: e.id, source: e.source, type: e.type, specversion: e.specversion,
      datacontenttype: e.datacontenttype, time: e.time, dataschema: e.dataschema }));
  } catch (err) {
    console.log(JSON.stringify({ key: r.key, error: String(err && (err.message || err)) + " " + JSON.stringify(err.errors || "") }));
  }
}
