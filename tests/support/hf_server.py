#!/usr/bin/env python3
"""A small stand-in for the Hugging Face Hub, for tests/test_pull.c (python3 standard library only).

It answers the way huggingface.co does for `GET|HEAD /{repo}/resolve/{revision}/{file}`:
  * small files: 200, ETag = git blob id, X-Repo-Commit, Content-Length;
  * LFS files (*.safetensors, *.bin): 302 to a second listener (the "CDN", another port, so
    another origin) with X-Linked-Size, X-Linked-Etag ("sha256", quoted), X-Repo-Commit;
  * errors: 404 with X-Error-Code RepoNotFound / RevisionNotFound / EntryNotFound;
  * Range: bytes=N- -> 206 with Content-Range.
Both listeners bind 127.0.0.1 on free ports; the Hub port is printed on stdout.

Test switches:
  --repo owner/name=DIR     serve the files of DIR as that repository (repeatable)
  --rename old/name=new/name  answer 307 (relative Location) from the old name to the new one
  --log FILE                append one JSON line per request (listener, method, path, Range,
                            whether an Authorization header came)
  --cut NAME:BYTES:TIMES    for the first TIMES GETs of file NAME, send BYTES body bytes, then
                            drop the connection
  --corrupt NAME            serve NAME with one byte changed (checksum headers stay the true ones)
  --ignore-range            answer Range requests with 200 and the whole file
  --token T                 the Hub listener wants "Authorization: Bearer T" (401 otherwise)
  --lifetime S              exit after S seconds whatever happens (default 120)
The server also exits when its parent process goes away.
"""
import argparse
import hashlib
import http.server
import json
import os
import socket
import sys
import threading
import time
import urllib.parse

LFS_SUFFIXES = (".safetensors", ".bin")


class State:
    def __init__(self, args):
        self.repos = {}
        for spec in args.repo:
            name, _, folder = spec.partition("=")
            self.repos[name] = folder
        self.renames = dict(s.split("=", 1) for s in args.rename)
        self.log_path = args.log
        self.cuts = {}
        for spec in args.cut:
            name, nbytes, times = spec.rsplit(":", 2)
            self.cuts[name] = [int(nbytes), int(times)]
        self.corrupt = set(args.corrupt)
        self.ignore_range = args.ignore_range
        self.token = args.token
        self.lock = threading.Lock()
        self.cache = {}
        self.cdn_port = 0

    def commit(self, repo):
        return hashlib.sha1(repo.encode()).hexdigest()

    def file(self, repo, name):
        """(bytes as served, sha256 of the true bytes, git blob id) or None."""
        folder = self.repos.get(repo)
        if folder is None or "/" in name or name.startswith("."):
            return None
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            return None
        with self.lock:
            if path not in self.cache:
                with open(path, "rb") as f:
                    data = f.read()
                sha = hashlib.sha256(data).hexdigest()
                blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
                served = data
                if name in self.corrupt and data:
                    b = bytearray(data)
                    b[len(b) // 2] ^= 0x5A
                    served = bytes(b)
                self.cache[path] = (served, sha, blob)
            return self.cache[path]

    def take_cut(self, name):
        with self.lock:
            c = self.cuts.get(name)
            if c and c[1] > 0:
                c[1] -= 1
                return c[0]
        return None

    def log(self, entry):
        if not self.log_path:
            return
        with self.lock, open(self.log_path, "a") as f:
            f.write(json.dumps(entry) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-hub/1"
    state = None  # set per listener class
    listener = ""

    def log_message(self, fmt, *args):
        pass

    def do_HEAD(self):
        self.handle_request(head=True)

    def do_GET(self):
        self.handle_request(head=False)

    def handle_request(self, head):
        st = self.state
        st.log({
            "listener": self.listener,
            "method": self.command,
            "path": self.path,
            "range": self.headers.get("Range"),
            "auth": self.headers.get("Authorization") is not None,
        })
        if self.listener == "cdn":
            self.serve_cdn(head)
        else:
            self.serve_hub(head)

    def reply_empty(self, code, headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def hub_error(self, code, error_code, message):
        self.reply_empty(code, [("X-Error-Code", error_code), ("X-Error-Message", message)])

    def serve_hub(self, head):
        st = self.state
        if st.token is not None and self.headers.get("Authorization") != "Bearer " + st.token:
            self.reply_empty(401, [("X-Error-Message", "Invalid credentials in Authorization header")])
            return
        path = urllib.parse.urlsplit(self.path).path
        parts = path.lstrip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            self.hub_error(404, "RepoNotFound", "Repository not found")
            return
        repo = parts[0] + "/" + parts[1]
        revision = urllib.parse.unquote(parts[3])
        name = "/".join(parts[4:])
        if repo in st.renames:
            self.reply_empty(307, [("Location", "/%s/resolve/%s/%s" % (st.renames[repo], parts[3], name))])
            return
        if repo not in st.repos:
            self.hub_error(404, "RepoNotFound", "Repository not found")
            return
        commit = st.commit(repo)
        if revision not in ("main", commit):
            self.hub_error(404, "RevisionNotFound", "Invalid rev id: " + revision)
            return
        f = st.file(repo, name)
        if f is None:
            self.hub_error(404, "EntryNotFound", "Entry not found")
            return
        served, sha, blob = f
        if name.endswith(LFS_SUFFIXES):
            location = "http://127.0.0.1:%d/cdn/%s/%s?X-Amz-Signature=fake" % (st.cdn_port, sha, name)
            self.reply_empty(302, [
                ("Location", location),
                ("X-Linked-Size", str(len(served))),
                ("X-Linked-Etag", '"%s"' % sha),
                ("ETag", '"%s"' % sha),
                ("X-Repo-Commit", commit),
            ])
            return
        self.send_bytes(name, served, head, [("ETag", '"%s"' % blob), ("X-Repo-Commit", commit)])

    def serve_cdn(self, head):
        st = self.state
        parts = urllib.parse.urlsplit(self.path).path.lstrip("/").split("/")
        if len(parts) != 3 or parts[0] != "cdn":
            self.reply_empty(404)
            return
        sha, name = parts[1], parts[2]
        for repo in st.repos:
            f = st.file(repo, name)
            if f is not None and f[1] == sha:
                self.send_bytes(name, f[0], head, [("ETag", '"cdn-%s"' % sha[:16])])
                return
        self.reply_empty(404)

    def send_bytes(self, name, data, head, extra):
        st = self.state
        start = 0
        code = 200
        rng = self.headers.get("Range")
        if rng and not st.ignore_range:
            spec = rng.strip()
            if not spec.startswith("bytes=") or not spec.endswith("-"):
                self.reply_empty(416, [("Content-Range", "bytes */%d" % len(data))])
                return
            start = int(spec[6:-1])
            if start >= len(data):
                self.reply_empty(416, [("Content-Range", "bytes */%d" % len(data))])
                return
            code = 206
        body = data[start:]
        self.send_response(code)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Accept-Ranges", "bytes")
        if code == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if head:
            return
        cut = st.take_cut(name)
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        for i in range(0, len(body), 1 << 16):
            self.wfile.write(body[i:i + (1 << 16)])


def make_server(state, listener):
    cls = type("Handler_" + listener, (Handler,), {"state": state, "listener": listener})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), cls)
    srv.daemon_threads = True
    return srv


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", action="append", default=[])
    ap.add_argument("--rename", action="append", default=[])
    ap.add_argument("--log")
    ap.add_argument("--cut", action="append", default=[])
    ap.add_argument("--corrupt", action="append", default=[])
    ap.add_argument("--ignore-range", action="store_true")
    ap.add_argument("--token")
    ap.add_argument("--lifetime", type=float, default=120.0)
    args = ap.parse_args()

    state = State(args)
    hub = make_server(state, "hub")
    cdn = make_server(state, "cdn")
    state.cdn_port = cdn.server_address[1]
    threading.Thread(target=cdn.serve_forever, daemon=True).start()

    parent = os.getppid()
    deadline = time.monotonic() + args.lifetime

    def watchdog():
        # never outlive the test that started us
        while time.monotonic() < deadline and os.getppid() == parent:
            time.sleep(0.2)
        os._exit(0)

    threading.Thread(target=watchdog, daemon=True).start()
    sys.stdout.write("%d\n" % hub.server_address[1])
    sys.stdout.flush()
    hub.serve_forever()


if __name__ == "__main__":
    main()
