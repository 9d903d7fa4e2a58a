"""The subscriber of the parking example: told (by an NGSI-LD notification) when a spot of
zone lotA becomes free, it prints one line per spot and appends it to the file given.
Usage: python3 subscriber.py PORT OUTPUT_FILE"""
import http.server
import json
import sys

port, output = int(sys.argv[1]), sys.argv[2]


class Subscriber(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        notification = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.end_headers()
        with open(output, "a") as out:
            for spot in notification["data"]:
                line = f"free: {spot['id']} in {spot['zone']}"
                print(line, flush=True)
                out.write(line + "\n")

    def log_message(self, *_):
        pass


http.server.HTTPServer(("127.0.0.1", port), Subscriber).serve_forever()
