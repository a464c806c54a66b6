"""An OpenLineage HTTP endpoint for 0064-openlineage-graph: answers every POST 201 and appends its
body (one RunEvent) as a line to OUT; writes the port it listens on (127.0.0.1, chosen by the
kernel) to PORT_FILE. Usage: ol_receiver.py PORT_FILE OUT"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port_file, out_path = sys.argv[1], sys.argv[2]
out = open(out_path, "a", buffering=1)


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/api/v1/lineage" or not self.headers.get("Content-Type", "").startswith("application/json"):
            self.send_response(400)
        else:
            out.write(body.decode("utf-8").replace("\n", " ") + "\n")
            self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
