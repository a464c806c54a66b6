// TAP output for the test clients in this folder (one test point a line, diagnostics after a
// failure), so every script prints and counts the same way.
//   const tap = require('./tap'); tap.ok(cond, name, diag); ... process.exit(tap.failed() ? 1 : 0);
//   (async () => { ... })().catch(tap.unexpected);
'use strict';
let n = 0, failed = 0;

function ok(cond, name, diag) {
  n++;
  if (cond) {
    console.log(`ok ${n} - ${name}`);
    return;
  }
  failed++;
  console.log(`not ok ${n} - ${name}`);
  if (diag !== undefined && diag !== null && diag !== '') console.log(`#   ${String(diag).replace(/\n/g, '\n#   ')}`);
}

// An exception the script did not expect: one failing point with its stack, then exit 1.
function unexpected(e) {
  console.log(`not ok ${n + 1} - unexpected error`);
  console.log(`#   ${String(e && e.stack ? e.stack : e).replace(/\n/g, '\n#   ')}`);
  process.exit(1);
}

module.exports = { ok, unexpected, failed: () => failed };
