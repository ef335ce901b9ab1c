#!/usr/bin/env python3
"""A minimal XEP-0114 component handshake, for the package tests.

    handshake.py HOST PORT NAME SECRET_FILE
prints one of: accepted, not-authorized, host-unknown, conflict, error: ...
and exits 0 only for accepted. Loopback only; every wait is bounded.
With HOLD=SECONDS in the environment, an accepted session is held open that
long before exiting (a connected component, for `status`).
With HOLD_UNTIL=FILE, an accepted session is held open and pings localhost
(XEP-0199) twice a second until FILE exists; then it prints
"pings: SENT sent, ANSWERED answered" and exits 0 only if every ping was
answered and the session is still open.
"""
import hashlib
import os
import time
import re
import socket
import sys


def main():
    host, port, name, secret_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    with open(secret_file, "rb") as f:
        secret = f.read().rstrip(b"\r\n")
    s = socket.create_connection((host, port), timeout=5)
    s.settimeout(5)
    s.sendall(
        ("<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
         "xmlns:stream='http://etherx.jabber.org/streams' to='%s'>" % name).encode())
    buf = b""
    while b"<stream:stream" not in buf or b">" not in buf[buf.index(b"<stream:stream"):]:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    if b"host-unknown" in buf:
        print("host-unknown")
        return 1
    m = re.search(rb"""\sid=['"]([^'"]*)['"]""", buf)
    if not m or not m.group(1):
        try:
            buf += s.recv(4096)
        except OSError:
            pass
        print("host-unknown" if b"host-unknown" in buf else "error: no stream id: %r" % buf)
        return 1
    digest = hashlib.sha1(m.group(1) + secret).hexdigest()
    s.sendall(("<handshake>%s</handshake>" % digest).encode())
    answer = b""
    while True:
        for word, label, code in ((b"<handshake/>", "accepted", 0), (b"not-authorized", "not-authorized", 1),
                                  (b"conflict", "conflict", 1), (b"host-unknown", "host-unknown", 1)):
            if word in answer:
                print(label, flush=True)
                if code == 0 and os.environ.get("HOLD_UNTIL"):
                    return hold_pinging(s, name, os.environ["HOLD_UNTIL"])
                if code == 0:
                    time.sleep(float(os.environ.get("HOLD", "0")))
                return code
        try:
            chunk = s.recv(4096)
        except OSError as e:
            print("error: %s" % e)
            return 1
        if not chunk:
            print("error: closed: %r" % answer)
            return 1
        answer += chunk


def hold_pinging(s, name, stop_file):
    """Pings localhost from NAME until stop_file exists; each ping waits up
    to 3 s for its result. A closed stream or an unanswered ping fails."""
    sent = answered = 0
    buf = b""
    s.settimeout(1)
    try:
        while not os.path.exists(stop_file):
            sent += 1
            ping_id = ("p%d" % sent).encode()
            s.sendall(b"<iq type='get' to='localhost' from='%s' id='%s'>"
                      b"<ping xmlns='urn:xmpp:ping'/></iq>" % (name.encode(), ping_id))
            deadline = time.time() + 3
            while time.time() < deadline:
                tags = [t for t in re.findall(rb"<iq\s[^>]*>", buf)
                        if re.search(rb"""\sid=['"]%s['"]""" % ping_id, t)]
                if tags:
                    answered += b"result" in tags[0]
                    break
                try:
                    chunk = s.recv(4096)
                except socket.timeout:
                    continue
                if not chunk:
                    raise OSError("closed by the server")
                buf += chunk
            time.sleep(0.5)
    except OSError as e:
        print("session lost: %s" % e, flush=True)
        print("pings: %d sent, %d answered" % (sent, answered), flush=True)
        return 1
    print("pings: %d sent, %d answered" % (sent, answered), flush=True)
    return 0 if sent == answered and sent > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
