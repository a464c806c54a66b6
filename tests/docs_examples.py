#!/usr/bin/python3
"""Run the shell examples of the project's Markdown documents against a live broker, as a reader
pastes them, and print TAP: one test point per example command.

What runs: every command in a ```sh fenced block (lines joined at a trailing backslash). A reader
runs `make run` first; so does this script, in its own way: it starts `portbroker serve -c
deploy/example.conf` on a free port with --env-file, and skips commands that start with `make `.
Paths and addresses are mapped to the test's own: `build/portbroker` -> PB_BIN,
`localhost:8080` / `127.0.0.1:8080` -> the broker's port, `build/run.env` -> the env file.

What a command must do:
- exit 0, unless its comment (trailing `# ...`, or the `# ...` lines right after it) says
  `exit N` first, or shows an HTTP error body (`"error_code"`): then curl must fail with the
  HTTP status (curl runs with --fail-with-body, so that is exit 22);
- print every JSON key its comment shows (`"key":`), so a renamed field breaks the example.
Commands of one document run in order in one shell (assignments and `. file` persist; every other
command runs in a subshell killed after STEP_SECONDS). Each document gets a fresh broker.

Usage: docs_examples.py PB_BIN FILE.md...   (from the repository root; DOCS_SHOW=1 prints every
output, to refresh what a document shows)
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

STEP_SECONDS = 30
ROOT = os.getcwd()


def blocks(path):
    """Yield (line number, command, comment lines) for each command of each ```sh block."""
    lines = open(path, encoding="utf-8").read().split("\n")
    i, n = 0, len(lines)
    while i < n:
        if lines[i].strip() != "```sh":
            i += 1
            continue
        i += 1
        steps = []
        while i < n and lines[i].strip() != "```":
            line, start = lines[i], i + 1
            if line.lstrip().startswith("#") or not line.strip():
                if steps and line.lstrip().startswith("#"):
                    steps[-1][2].append(line.strip()[1:].strip())
                i += 1
                continue
            cmd = line
            while i + 1 < n:
                state = open_state(cmd)
                if state == "\\":  # backslash-newline outside quotes: the shell drops both
                    cmd = cmd[:-1] + lines[i + 1]
                elif state:  # inside a quoted string: the newline is part of it
                    cmd = cmd + "\n" + lines[i + 1]
                else:
                    break
                i += 1
            code, _, trailing = split_comment(cmd)
            steps.append([start, code.strip(), [trailing] if trailing else []])
            i += 1
        for s in steps:
            yield s
        i += 1


def open_state(cmd):
    """What a shell line leaves open at its end: a quote character, a backslash, or ''."""
    quote = None
    k = 0
    while k < len(cmd):
        ch = cmd[k]
        if quote == "'":
            if ch == "'":
                quote = None
        elif ch == "\\" and quote != "'":
            if k == len(cmd) - 1:
                return "\\" if not quote else quote
            k += 1
        elif quote == '"':
            if ch == '"':
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (k == 0 or cmd[k - 1] in " \t"):
            return ""  # the rest is a comment
        k += 1
    return quote or ""


def split_comment(cmd):
    """Split a shell line at its first unquoted ' #' (a trailing comment)."""
    quote = None
    for k, ch in enumerate(cmd):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (k == 0 or cmd[k - 1] in " \t"):
            return cmd[:k], "#", cmd[k + 1:].strip()
    return cmd, "", ""


def expectation(comments):
    """(exit status wanted, JSON keys to see) from a command's comment lines."""
    text = "\n".join(comments)
    want = 0
    m = re.search(r"\bexit (\d+)", text)
    if "\"error_code\"" in text:
        want = 22
    if m:
        want = int(m.group(1))
    keys = sorted(set(re.findall(r'"([A-Za-z_][A-Za-z0-9_.-]*)"\s*:', text)))
    return want, keys


def start_broker(pb_bin, tmp):
    port_file, env_file = os.path.join(tmp, "port"), os.path.join(tmp, "run.env")
    log = open(os.path.join(tmp, "broker.log"), "w")
    p = subprocess.Popen([pb_bin, "serve", "-c", "deploy/example.conf", "-o",
                          "http.listen=127.0.0.1:0", "--port-file", port_file, "--env-file", env_file],
                         stdout=log, stderr=log, start_new_session=True)
    deadline = time.time() + 30
    while time.time() < deadline and not os.path.exists(env_file):
        if p.poll() is not None:
            break
        time.sleep(0.1)
    if not os.path.exists(env_file):
        p.kill()
        return None, None, None
    port = open(port_file).read().strip()
    # Ready means the registry replayed and Kafka answered: what `make run` users wait for too.
    url = "http://127.0.0.1:%s/readyz" % port
    while time.time() < deadline:
        if subprocess.run(["curl", "-fs", "--max-time", "2", "-o", "/dev/null", url]).returncode == 0:
            break
        time.sleep(0.2)
    return p, port, env_file


def main():
    pb_bin, docs = sys.argv[1], sys.argv[2:]
    steps = [(d, s) for d in docs for s in blocks(d)]
    runnable = [(d, s) for d, s in steps if not s[1].startswith("make ")]
    print("1..%d" % (len(runnable) + len(docs)))
    n = failed = 0
    for doc in docs:
        tmp = tempfile.mkdtemp(prefix="pbdocs.")
        broker, port, env_file = start_broker(pb_bin, tmp)
        n += 1
        if not broker:
            print("not ok %d - %s: the broker started for its examples" % (n, doc))
            print("#   " + open(os.path.join(tmp, "broker.log")).read()[-1500:].replace("\n", "\n#   "))
            return 1
        print("ok %d - %s: the broker started for its examples (port %s)" % (n, doc, port))
        sh = subprocess.Popen(["bash", "--noprofile", "--norc"], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
                              cwd=ROOT, start_new_session=True)
        sh.stdin.write("set -o pipefail\n"
                       "curl() { command curl --fail-with-body --max-time %d \"$@\"; }\n"
                       "export -f curl\n" % STEP_SECONDS)
        for k, (d, (line, cmd, comments)) in enumerate(s for s in runnable if s[0] == doc):
            want, keys = expectation(comments)
            run = cmd.replace("build/portbroker", pb_bin).replace("build/run.env", env_file)
            run = re.sub(r"(localhost|127\.0\.0\.1):8080", "127.0.0.1:" + port, run)
            out, rcf = os.path.join(tmp, "out.%d" % k), os.path.join(tmp, "rc.%d" % k)
            if re.match(r"^(\. |source |export |[A-Za-z_][A-Za-z0-9_]*=\S*$)", run):
                sh.stdin.write("{ %s ; } >%s 2>&1; echo $? >%s.tmp; mv %s.tmp %s\n"
                               % (run, out, rcf, rcf, rcf))
            else:
                sh.stdin.write("( %s\n) >%s 2>&1 & p=$!; ( sleep %d; kill -TERM $p ) 2>/dev/null & w=$!;"
                               " wait $p; echo $? >%s.tmp; kill $w 2>/dev/null; mv %s.tmp %s\n"
                               % (run, out, STEP_SECONDS, rcf, rcf, rcf))
            sh.stdin.flush()
            deadline = time.time() + STEP_SECONDS + 5
            while time.time() < deadline and not os.path.exists(rcf):
                time.sleep(0.05)
            n += 1
            got = open(rcf).read().strip() if os.path.exists(rcf) else "timeout"
            text = open(out, errors="replace").read() if os.path.exists(out) else ""
            missing = [key for key in keys if '"%s"' % key not in text]
            short = cmd.split("\n")[0][:90]
            if got == str(want) and not missing:
                print("ok %d - %s:%d %s" % (n, d, line, short))
                if os.environ.get("DOCS_SHOW"):  # to refresh a doc's shown outputs
                    print("#   " + text[:600].replace("\n", "\n#   "))
            else:
                failed += 1
                print("not ok %d - %s:%d %s" % (n, d, line, short))
                print("#   exit %s, wanted %d%s" % (got, want,
                      "; keys not in the output: " + ", ".join(missing) if missing else ""))
                print("#   output: " + text[:1200].replace("\n", "\n#   "))
        sh.stdin.close()
        try:
            sh.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(sh.pid, signal.SIGKILL)
        broker.terminate()
        try:
            broker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait()
        if failed == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("# files kept in " + tmp)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
