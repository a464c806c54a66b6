"""A webhook receiver for 0102-sink-http: checks X-PB-Signature (HMAC-SHA256 of the body with
the shared secret; 401 when wrong), always answers 500 for key st-13 (dead letters), 503 once per
id for key st-7 (retries), else records {"id","key","partition","offset"} a line in OUT and 200.
Usage: webhook_receiver.py PORT_FILE OUT SECRET"""
import hashlib, hmac, json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port_file, out_path, secret = sys.argv[1], sys.argv[2], sys.argv[3].encode()
seen_503 = set()
out = open(out_path, "a", buffering=1)


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, self.headers.get("X-PB-Signature", "")):
            return self.reply(401)
        rec = json.loads(body)
        rid = self.headers.get("X-PB-Id")
        if rec.get("key") == "st-13":
            return self.reply(500)
        if rec.get("key") == "st-7" and rid not in seen_503:
            seen_503.add(rid)
            return self.reply(503)
        out.write(json.dumps({"id": rid, "key": rec.get("key"), "partition": rec["partition"],
                              "offset": rec["offset"], "hdr_key": self.headers.get("X-PB-Key")}) + "\n")
        self.reply(200)


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
