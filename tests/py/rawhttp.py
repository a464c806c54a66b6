"""rawhttp.py PORT REQUEST [CHUNKS SIZE] [--content-type]: one HTTP exchange over a raw socket to
127.0.0.1:PORT, for tests that need exact bytes and whether the server closed (curl hides both).

REQUEST is written with Python escapes (\\r\\n). With CHUNKS and SIZE, that many chunks of SIZE bytes
follow in chunked framing (after the server's 100 Continue when the request has Expect:
100-continue); a server that answers and closes while they are sent is not an error. Prints one
line: the status line, the body with its whitespace collapsed, the Content-Type (with
--content-type; "-" when none) and "closed" or "open". Bounded: 5 s to read, then 1 s of quiet once
the headers are in (a server that keeps the connection open says no more)."""
import socket
import sys
import time

args = [a for a in sys.argv[1:] if a != "--content-type"]
show_ct = len(args) != len(sys.argv) - 1
port, req = int(args[0]), args[1].encode().decode("unicode_escape").encode("latin-1")
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(req)
data = b""
if len(args) > 2:
    n, size = int(args[2]), int(args[3])
    if b"Expect: 100-continue" in req:
        while b"\r\n\r\n" not in data:
            b = s.recv(65536)
            if not b:
                break
            data += b
    try:
        for _ in range(n):
            s.sendall(b"%x\r\n" % size + b"a" * size + b"\r\n")
    except OSError:
        pass
closed, end = False, time.time() + 5
while time.time() < end:
    try:
        b = s.recv(65536)
    except socket.timeout:
        break
    except ConnectionResetError:
        closed = True
        break
    if not b:
        closed = True
        break
    data += b
    if b"\r\n\r\n" in data:
        s.settimeout(1)
head, _, body = data.partition(b"\r\n\r\n")
lines = head.split(b"\r\n")
out = [lines[0].decode(errors="replace"), " ".join(body.decode(errors="replace").split())]
if show_ct:
    ct = [l.split(b":", 1)[1].strip().decode() for l in lines[1:] if l.lower().startswith(b"content-type:")]
    out.append(ct[0] if ct else "-")
out.append("closed" if closed else "open")
print(*out)
