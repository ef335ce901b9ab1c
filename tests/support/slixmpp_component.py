#!/usr/bin/env python3
"""An XEP-0114 component made with slixmpp (a client we did not write), for
the tests: connects to HOST:PORT as NAME with the secret in SECRET_FILE.

    slixmpp_component.py HOST PORT NAME SECRET_FILE
prints "session_start" and exits 0 when prosody accepts the handshake,
prints "failed: ..." and exits 1 otherwise. Every wait is bounded (10 s).
"""
import asyncio
import sys

from slixmpp.componentxmpp import ComponentXMPP


def main():
    host, port, name, secret_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    with open(secret_file, encoding="utf-8") as f:
        secret = f.read().rstrip("\r\n")
    xmpp = ComponentXMPP(name, secret, host, port)
    outcome = {"result": "failed: timeout"}
    done = asyncio.Event()

    # The first event decides; our own disconnect afterwards does not.
    def ok(_):
        if not done.is_set():
            outcome["result"] = "session_start"
            done.set()

    def bad(reason):
        if not done.is_set():
            outcome["result"] = "failed: %s" % (reason,)
            done.set()

    xmpp.add_event_handler("session_start", ok)
    xmpp.add_event_handler("stream_error", bad)
    xmpp.add_event_handler("disconnected", bad)
    xmpp.add_event_handler("connection_failed", bad)
    xmpp.connect()

    async def wait():
        try:
            await asyncio.wait_for(done.wait(), 10)
        except asyncio.TimeoutError:
            pass
        xmpp.disconnect()
        await asyncio.sleep(0.2)

    xmpp.loop.run_until_complete(wait())
    print(outcome["result"])
    return 0 if outcome["result"] == "session_start" else 1


if __name__ == "__main__":
    sys.exit(main())
