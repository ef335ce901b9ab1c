#!/usr/bin/env python3
"""The disruption benchmark's driver (run by benches/disruption.sh, which boots
the container and installs the package): holds N external-component sessions
(XEP-0114) and 3 c2s sessions (STARTTLS, SASL PLAIN, a bound resource) open
against the prosody of one booted container, every session pinging the server
(XEP-0199) each second, and applies a series of changes, measuring for each
one the sessions dropped (socket closed, or a ping unanswered for more than
3 s) and the time from the command's start to the change serving (a probe
handshake every 10 ms: accepted with the new secret, or host-unknown /
not-authorized after a removal).

    nsenter -t LEADER -n python3 disruption.py run --leader PID --root DIR --suite S
        [--components N] [--changes K] [--credential] --json OUT
    python3 disruption.py table OUT...

It runs inside the container's network namespace (loopback only) and runs
commands in the container with `nsenter -t LEADER -a`. Every wait is bounded.
"""
import argparse
import asyncio
import base64
import hashlib
import json
import os
import re
import secrets
import ssl
import statistics
import sys
import time

DOMAIN = "localhost"
C2S_PORT = 5222
COMPONENT_PORT = 5347
C2S_SESSIONS = 3
C2S_USER = "bench"
PING_EVERY = 1.0
STALL = 3.0  # a ping unanswered this long counts as a dropped session
SETTLE = STALL + 0.3  # observed after each change, so that a stall shows
POLL = 0.01
SERVE_DEADLINE = 60.0
SUFFIX = ".bench.test"
HAND_FILE = "/etc/prosody/conf.d/fxc-bench-hand.cfg.lua"

STREAM_ID = re.compile(rb"""<stream:stream\b[^>]*?\sid=['"]([^'"]*)['"]""")
IQ_TAG = re.compile(rb"<iq\b[^>]*>")
ATTR_ID = re.compile(rb"""\sid=['"]([^'"]*)['"]""")
ATTR_TYPE = re.compile(rb"""\stype=['"]([^'"]*)['"]""")


def now():
    return time.monotonic()


def log(*a):
    print("#", *a, file=sys.stderr, flush=True)


async def read_until(reader, buf, pred, timeout):
    deadline = now() + timeout
    while not pred(buf):
        left = deadline - now()
        if left <= 0:
            raise asyncio.TimeoutError()
        chunk = await asyncio.wait_for(reader.read(65536), left)
        if not chunk:
            raise ConnectionError("closed after %r" % buf[-160:])
        buf += chunk
    return buf


class Session:
    """One held session; reconnected on demand, its pings recorded."""

    def __init__(self, kind, name, secret):
        self.kind, self.name, self.secret = kind, name, secret
        self.connected = False
        self.closed_at = []  # times the socket closed
        self.pending = {}  # ping id -> sent
        self.answered = []  # (sent, answered)
        self.up_at = None
        self.task = None
        self.writer = None
        self.n = 0
        self.error = None

    def start(self):
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._life())

    async def _open(self):
        if self.kind == "component":
            r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", COMPONENT_PORT), 3)
            w.write(("<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
                     "xmlns:stream='http://etherx.jabber.org/streams' to='%s'>" % self.name).encode())
            buf = await read_until(r, b"", lambda b: STREAM_ID.search(b) or b"host-unknown" in b, 5)
            m = STREAM_ID.search(buf)
            if not m or not m.group(1):
                raise ConnectionError("host-unknown")
            w.write(b"<handshake>%s</handshake>" % hashlib.sha1(m.group(1) + self.secret).hexdigest().encode())
            buf = await read_until(r, b"", lambda b: b"<handshake/>" in b or b"</stream:stream>" in b, 5)
            if b"<handshake/>" not in buf:
                raise ConnectionError("handshake refused: %r" % buf[-200:])
            return r, w
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", C2S_PORT), 3)
        header = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                  "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>" % DOMAIN).encode()
        features = lambda b: b"</stream:features>" in b  # noqa: E731
        w.write(header)
        buf = await read_until(r, b"", features, 5)
        if b"urn:ietf:params:xml:ns:xmpp-tls" not in buf:
            raise ConnectionError("no STARTTLS offered: %r" % buf[-300:])
        w.write(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        await read_until(r, b"", lambda b: b"<proceed" in b, 5)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the container's self-signed certificate
        await asyncio.wait_for(w.start_tls(ctx, server_hostname=DOMAIN), 5)
        w.write(header)
        buf = await read_until(r, b"", features, 5)
        if b">PLAIN<" not in buf:
            raise ConnectionError("no SASL PLAIN offered: %r" % buf[-300:])
        token = base64.b64encode(b"\0" + C2S_USER.encode() + b"\0" + self.secret).decode()
        w.write(("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>" % token).encode())
        buf = await read_until(r, b"", lambda b: b"<success" in b or b"<failure" in b, 5)
        if b"<success" not in buf:
            raise ConnectionError("SASL failed: %r" % buf[-200:])
        w.write(header)
        await read_until(r, b"", features, 5)
        w.write(("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                 "<resource>%s</resource></bind></iq>" % self.name).encode())
        await read_until(r, b"", lambda b: b"</jid>" in b, 5)
        return r, w

    async def _pinger(self):
        frm = " from='%s'" % self.name if self.kind == "component" else ""
        while True:
            self.n += 1
            pid = "p%d" % self.n
            self.pending[pid] = now()
            self.writer.write(("<iq type='get' id='%s'%s to='%s'><ping xmlns='urn:xmpp:ping'/></iq>"
                               % (pid, frm, DOMAIN)).encode())
            await asyncio.sleep(PING_EVERY)

    async def _life(self):
        try:
            reader, self.writer = await self._open()
        except (OSError, ConnectionError, asyncio.TimeoutError, ssl.SSLError) as e:
            self.error = str(e) or type(e).__name__
            return
        self.error = None
        self.pending.clear()
        self.connected, self.up_at = True, now()
        pinger = asyncio.ensure_future(self._pinger())
        buf = b""
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                buf += chunk
                for tag in IQ_TAG.findall(buf):
                    i, t = ATTR_ID.search(tag), ATTR_TYPE.search(tag)
                    if i and t and t.group(1) in (b"result", b"error"):
                        sent = self.pending.pop(i.group(1).decode(), None)
                        if sent is not None:
                            self.answered.append((sent, now()))
                if b"</stream:stream>" in buf:
                    break
                cut = buf.rfind(b">")
                if cut >= 0:
                    buf = buf[cut + 1:]
        except (OSError, ssl.SSLError):
            pass
        finally:
            pinger.cancel()
            self.connected = False
            self.closed_at.append(now())
            try:
                self.writer.close()
            except Exception:  # noqa: BLE001 (already gone)
                pass

    def dropped(self, t0, t1):
        """Whether the session closed, or a ping went unanswered > STALL, within [t0, t1]."""
        if any(t0 <= t <= t1 for t in self.closed_at):
            return True
        if any(a - s > STALL and a >= t0 and s <= t1 for s, a in self.answered):
            return True
        return any(s <= t1 and now() - s > STALL for s in self.pending.values())

    def ping_answered_since(self, t):
        return any(a >= t for _, a in self.answered)

    def trim(self):
        self.answered = [x for x in self.answered if x[1] > now() - 120]


async def probe(name, secret):
    """One XEP-0114 handshake: accepted, not-authorized, host-unknown, conflict, refused or error."""
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", COMPONENT_PORT), 2)
    except (OSError, asyncio.TimeoutError):
        return "refused"
    try:
        w.write(("<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
                 "xmlns:stream='http://etherx.jabber.org/streams' to='%s'>" % name).encode())
        buf = await read_until(r, b"", lambda b: STREAM_ID.search(b) or b"host-unknown" in b, 3)
        m = STREAM_ID.search(buf)
        if b"host-unknown" in buf or not m or not m.group(1):
            return "host-unknown"
        w.write(b"<handshake>%s</handshake>" % hashlib.sha1(m.group(1) + secret).hexdigest().encode())
        words = ((b"<handshake/>", "accepted"), (b"not-authorized", "not-authorized"),
                 (b"conflict", "conflict"), (b"host-unknown", "host-unknown"))
        buf = await read_until(r, b"", lambda b: any(k in b for k, _ in words), 3)
        return next(label for k, label in words if k in buf)
    except (OSError, ConnectionError, asyncio.TimeoutError):
        return "error"
    finally:
        w.close()


class Bench:
    def __init__(self, a):
        self.a = a
        self.dir = "/root/fxc-bench"  # in the container
        os.makedirs(a.root + self.dir, mode=0o700, exist_ok=True)
        self.components = {"c%02d%s" % (i, SUFFIX): self.new_secret() for i in range(1, a.components + 1)}
        self.hand = {"hx" + SUFFIX: self.new_secret()}
        self.c2s_password = self.new_secret()
        self.sessions = []
        self.results = []

    @staticmethod
    def new_secret():
        return ("bench-" + secrets.token_hex(12)).encode()

    def secret_file(self, name, secret):
        """Writes SECRET for NAME where the container sees it; returns that path."""
        path = "%s/%s.%s.secret" % (self.dir, name, secrets.token_hex(3))
        with open(self.a.root + path, "wb") as f:
            f.write(secret)
        return path

    async def ct(self, *cmd, timeout=120, check=True):
        p = await asyncio.create_subprocess_exec(
            "nsenter", "-t", str(self.a.leader), "-a", *cmd,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            out, _ = await asyncio.wait_for(p.communicate(), timeout)
        except asyncio.TimeoutError:
            p.kill()
            out, _ = await p.communicate()
            raise RuntimeError("timed out: %s" % " ".join(cmd))
        if check and p.returncode != 0:
            raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode, out.decode(errors="replace")[-800:]))
        return p.returncode, out.decode(errors="replace")

    def hand_text(self):
        return "-- written by benches/disruption.py (a hand edit)\n" + "".join(
            'Component "%s"\n    component_secret = "%s"\n' % (n, s.decode()) for n, s in self.hand.items())

    def stage_hand(self):
        with open(self.a.root + self.dir + "/hand.cfg.lua", "w") as f:
            f.write(self.hand_text())
        return "cp %s/hand.cfg.lua %s" % (self.dir, HAND_FILE)

    async def wait_port(self, port, timeout=30):
        deadline = now() + timeout
        while now() < deadline:
            try:
                _, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1)
                w.close()
                return
            except (OSError, asyncio.TimeoutError):
                await asyncio.sleep(0.1)
        raise RuntimeError("port %d not listening" % port)

    async def setup(self):
        t = now()
        for name, secret in self.components.items():
            await self.ct("fogbow-xmpp-ctl", "add", name, "--secret-file", self.secret_file(name, secret))
        await self.ct("sh", "-c", "%s && chown root:prosody %s && chmod 0640 %s" % (self.stage_hand(), HAND_FILE, HAND_FILE))
        await self.ct("prosodyctl", "register", C2S_USER, DOMAIN, self.c2s_password.decode())
        # A certificate for STARTTLS (a minimal root has none for localhost).
        await self.ct("sh", "-c", "cd /etc/prosody/certs && [ -e localhost.crt ] || { "
                      "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 30 "
                      "-keyout localhost.key -out localhost.crt 2>/dev/null && "
                      "chown root:prosody localhost.key && chmod 0640 localhost.key; }")
        await self.ct("fogbow-xmpp-ctl", "restart")
        await self.wait_port(COMPONENT_PORT)
        await self.wait_port(C2S_PORT)
        log("setup: %d components, a hand-edited file, user %s@%s, restarted (%.1f s)"
            % (len(self.components), C2S_USER, DOMAIN, now() - t))
        self.sessions = [Session("component", n, s) for n, s in self.components.items()]
        self.sessions += [Session("c2s", "bench%d" % i, self.c2s_password) for i in range(1, C2S_SESSIONS + 1)]
        await self.recover()

    async def recover(self, timeout=60):
        """(Re)connects every session and waits until each has a ping answered."""
        deadline = now() + timeout
        t = now()
        while now() < deadline:
            down = [s for s in self.sessions if not s.connected]
            for s in down:
                if s.task is None or s.task.done():
                    s.start()
            if not down and all(s.ping_answered_since(max(t, s.up_at)) for s in self.sessions):
                return
            await asyncio.sleep(0.1)
        bad = [(s.name, s.error) for s in self.sessions if not s.connected]
        raise RuntimeError("sessions did not come back: %s" % bad[:5])

    async def change(self, procedure, what, cmd, name, secret, want):
        """Runs CMD (in the container); polls NAME with SECRET until one of WANT."""
        for s in self.sessions:
            s.trim()
        t0 = now()
        async def timed():
            rc, out = await self.ct(*cmd, timeout=SERVE_DEADLINE, check=False)
            return rc, out, now() - t0

        proc = asyncio.ensure_future(timed())
        served, last = None, None
        while now() - t0 < SERVE_DEADLINE:
            last = await probe(name, secret)
            if last in want:
                served = now() - t0
                break
            await asyncio.sleep(POLL)
        rc, out, cmd_time = await proc
        end = t0 + max(cmd_time, served or 0) + SETTLE
        await asyncio.sleep(max(0, end - now()))
        dropped = [s.name for s in self.sessions if s.dropped(t0, end)]
        r = {"procedure": procedure, "change": what, "rc": rc, "command_s": round(cmd_time, 3),
             "serving_s": None if served is None else round(served, 3), "last_probe": last,
             "dropped": len(dropped), "sessions": len(self.sessions)}
        self.results.append(r)
        log("%-11s %-34s rc=%d command %.2f s, serving %s, dropped %d/%d%s" % (
            procedure, what, rc, cmd_time, "%.2f s" % served if served is not None else "never (%s)" % last,
            len(dropped), len(self.sessions), "" if rc == 0 else "\n# " + out.strip()[-600:].replace("\n", "\n# ")))
        await self.recover()

    async def tool_series(self):
        x = "c01" + SUFFIX
        for i in range(self.a.changes):
            k = i // 3 + 1
            new = "new%d%s" % (k, SUFFIX)
            if i % 3 == 0:
                self.new_secret_for = self.new_secret()
                await self.change("tool", "add %s --reload" % new,
                                  ["fogbow-xmpp-ctl", "add", new, "--secret-file", self.secret_file(new, self.new_secret_for), "--reload"],
                                  new, self.new_secret_for, ("accepted",))
            elif i % 3 == 1:
                await self.change("tool", "remove %s --reload" % new, ["fogbow-xmpp-ctl", "remove", new, "--reload"],
                                  new, self.new_secret_for, ("host-unknown", "not-authorized"))
            else:
                secret = self.new_secret()
                # The held session reconnects (when dropped) with the new one.
                self.session(x).secret = secret
                # c01 is held: a handshake with the new secret gets <conflict/>,
                # which prosody sends only after the token matched.
                await self.change("tool", "add %s --replace --reload" % x,
                                  ["fogbow-xmpp-ctl", "add", x, "--secret-file", self.secret_file(x, secret), "--replace", "--reload"],
                                  x, secret, ("accepted", "conflict"))
        # Leave no new component behind for the next series.
        if self.a.changes % 3 == 1:
            await self.ct("fogbow-xmpp-ctl", "remove", "new%d%s" % (self.a.changes // 3 + 1, SUFFIX), "--reload", check=False)
            await asyncio.sleep(SETTLE)
            await self.recover()

    async def hand_series(self):
        restart = " && systemctl restart prosody.service"
        for i in range(self.a.changes):
            k = i // 3 + 1
            new = "hnew%d%s" % (k, SUFFIX)
            if i % 3 == 0:
                secret = self.hand[new] = self.new_secret()
                what, want = "edit: add %s + restart" % new, ("accepted",)
            elif i % 3 == 1:
                secret = self.hand.pop(new)
                what, want = "edit: remove %s + restart" % new, ("host-unknown", "not-authorized")
            else:
                new = "hx" + SUFFIX
                secret = self.hand[new] = self.new_secret()
                what, want = "edit: re-key %s + restart" % new, ("accepted", "conflict")
            await self.change("hand", what, ["sh", "-c", self.stage_hand() + restart], new, secret, want)

    async def credential_series(self):
        x = "c02" + SUFFIX
        secret = self.new_secret()
        # The first credential: prosody started without any needs a restart
        # to get one (not counted).
        await self.ct("fogbow-xmpp-ctl", "add", x, "--secret-file", self.secret_file(x, secret),
                      "--secret-store", "credential", "--replace", "--restart")
        self.session(x).secret = secret
        await self.wait_port(COMPONENT_PORT)
        await asyncio.sleep(1)
        await self.recover()
        log("credential: %s moved into a credential (one restart, not counted)" % x)
        for _ in range(self.a.changes):
            secret = self.new_secret()
            self.session(x).secret = secret
            await self.change("credential", "add %s --secret-store credential --replace --reload" % x,
                              ["fogbow-xmpp-ctl", "add", x, "--secret-file", self.secret_file(x, secret),
                               "--secret-store", "credential", "--replace", "--reload"],
                              x, secret, ("accepted", "conflict"))

    def session(self, name):
        return next(s for s in self.sessions if s.name == name)

    async def run(self):
        await self.setup()
        await self.tool_series()
        await self.hand_series()
        if self.a.credential:
            await self.credential_series()
        for s in self.sessions:
            if s.task:
                s.task.cancel()
        return self.results


def summary(results):
    """Per procedure: dropped per change and time to serving, min/median/max."""
    rows = []
    for proc in ("tool", "hand", "credential"):
        rs = [r for r in results if r["procedure"] == proc]
        if not rs:
            continue
        drops = [r["dropped"] for r in rs]
        served = [r["serving_s"] for r in rs if r["serving_s"] is not None]
        n = rs[0]["sessions"]
        rows.append({
            "procedure": proc, "changes": len(rs), "sessions": n,
            "dropped_min": min(drops), "dropped_median": statistics.median(drops), "dropped_max": max(drops),
            "serving": [min(served), statistics.median(served), max(served)] if served else None,
            "never_served": len(rs) - len(served), "failed": sum(1 for r in rs if r["rc"] != 0),
            "command_median": statistics.median(r["command_s"] for r in rs),
        })
    return rows


LABELS = {
    "tool": "`add NEW --reload` / `remove NEW --reload` / `add X --replace --reload`",
    "hand": "edit the config + `systemctl restart prosody`",
    "credential": "`add X --secret-store credential --replace --reload`",
}


def table(paths):
    lines = ["| suite (prosody, systemd) | procedure | changes | sessions dropped per change "
             "| time to serving min / median / max | command exits (median) |",
             "|---|---|---:|---|---|---:|"]
    for path in paths:
        with open(path) as f:
            d = json.load(f)
        for row in summary(d["results"]):
            lo, mid, hi = row["dropped_min"], row["dropped_median"], row["dropped_max"]
            dropped = "%d of %d" % (lo, row["sessions"]) if lo == hi else \
                "%g–%g of %d (median %g)" % (lo, hi, row["sessions"], mid)
            s = row["serving"]
            t = "%.2f / %.2f / %.2f s" % tuple(s) if s else "never"
            notes = []
            if row["never_served"]:
                notes.append("%d never served" % row["never_served"])
            if row["failed"]:
                notes.append("%d commands failed" % row["failed"])
            lines.append("| %s (%s, %s) | %s | %d | %s | %s%s | %.2f s |" % (
                d["suite"], d["prosody"], d["systemd"], LABELS[row["procedure"]], row["changes"], dropped, t,
                " (%s)" % ", ".join(notes) if notes else "", row["command_median"]))
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--leader", type=int, required=True)
    r.add_argument("--root", required=True)
    r.add_argument("--suite", required=True)
    r.add_argument("--prosody", default="?")
    r.add_argument("--systemd", default="?")
    r.add_argument("--components", type=int, default=20)
    r.add_argument("--changes", type=int, default=10)
    r.add_argument("--credential", action="store_true")
    r.add_argument("--json", required=True)
    t = sub.add_parser("table")
    t.add_argument("json", nargs="+")
    a = p.parse_args()
    if a.cmd == "table":
        print(table(a.json))
        return 0
    results = asyncio.run(asyncio.wait_for(Bench(a).run(), 900))
    with open(a.json, "w") as f:
        json.dump({"suite": a.suite, "prosody": a.prosody, "systemd": a.systemd,
                   "components": a.components, "changes": a.changes, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
