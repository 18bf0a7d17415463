#!/usr/bin/env python3
"""A Python client of the plugd message plane, run by message-plane.test.ts as a subprocess.

Talks to a running plane as a N.E.K.O plugin would: DEALER for RPC (JSON, and msgpack when the msgpack package is
installed), SUB for PUB, PUSH for INGEST (msgpack only, so skipped without it). Prints one JSON summary on stdout
{"ok", "msgpack", "checks", "failures"} and exits 0 only when every check passed.

Usage: message-plane-client.py <rpc endpoint> <pub endpoint> <ingest endpoint>
Needs pyzmq (pip install pyzmq); msgpack is optional (pip install msgpack).
"""
import json
import sys
import time
import uuid

import zmq

try:
    import msgpack  # type: ignore
except ImportError:  # JSON only
    msgpack = None

RPC, PUB, INGEST = sys.argv[1:4]
TIMEOUT_MS = 5000

ctx = zmq.Context.instance()
dealer = ctx.socket(zmq.DEALER)
dealer.linger = 0
dealer.connect(RPC)
sub = ctx.socket(zmq.SUB)
sub.linger = 0
sub.connect(PUB)
sub.setsockopt(zmq.SUBSCRIBE, b"events.py")

checks = []
failures = []


def check(name, cond, detail=None):
    checks.append(name)
    if not cond:
        failures.append({"check": name, "detail": detail})


def recv(sock, timeout=TIMEOUT_MS):
    if not sock.poll(timeout):
        raise TimeoutError("no reply within %d ms" % timeout)
    return sock.recv_multipart()


def call(op, args=None, enc="json", raw=None):
    """One RPC; returns (reply dict, reply bytes)."""
    req_id = uuid.uuid4().hex
    env = {"v": 1, "op": op, "req_id": req_id, "args": args or {}}
    if raw is not None:
        body = raw
    elif enc == "json":
        body = json.dumps(env).encode()
    else:
        body = msgpack.packb(env, use_bin_type=True)
    dealer.send(body)
    frames = recv(dealer)
    data = frames[-1]
    if enc == "json":
        reply = json.loads(data.decode())
    else:
        reply = msgpack.unpackb(data, raw=False)
    if raw is None:
        check("%s/%s echoes req_id" % (enc, op), reply.get("req_id") == req_id, reply)
    return reply, data


def ops(enc):
    p = "%s/" % enc
    r, _ = call("ping", enc=enc)
    check(p + "ping ok", r["ok"] is True and r["result"]["ok"] is True and r["error"] is None, r)
    r, _ = call("health", enc=enc)
    check(p + "health ok", r["ok"] and "ingest" in r["result"], r)

    topic = "py.%s" % enc
    ids = []
    for i in range(5):
        r, _ = call("bus.publish", {"store": "events", "topic": topic,
                                   "payload": {"i": i, "plugin_id": "py", "kind": "k%d" % (i % 2),
                                               "priority": i, "content": "hello %d" % i}}, enc=enc)
        check(p + "publish accepted", r["ok"] and r["result"]["accepted"] is True, r)
        ev = r["result"]["event"]
        check(p + "event shape", set(ev) >= {"seq", "ts", "store", "topic", "payload", "index"}, ev)
        check(p + "index from payload", ev["index"]["plugin_id"] == "py" and ev["index"]["priority"] == i, ev)
        ids.append(ev["seq"])
    r, _ = call("bus.publish", {"store": "events", "topic": topic, "payload": 42}, enc=enc)
    check(p + "non-map payload wrapped", r["ok"] and r["result"]["event"]["payload"] == {"value": 42}, r)

    r, _ = call("bus.get_recent", {"store": "events", "topic": topic, "limit": 3}, enc=enc)
    items = r["result"]["items"]
    check(p + "get_recent oldest to newest", [x["payload"].get("i") for x in items] == [3, 4, None], items)

    r, _ = call("bus.get_since", {"store": "events", "topic": topic, "after_seq": ids[2]}, enc=enc)
    check(p + "get_since ascending", [x["seq"] for x in r["result"]["items"]][:2] == ids[3:5], r)

    r, _ = call("bus.query", {"store": "events", "topic": topic, "plugin_id": "py", "priority_min": 2}, enc=enc)
    check(p + "query descending", [x["payload"]["i"] for x in r["result"]["items"]] == [4, 3, 2], r)

    r, _ = call("bus.query", {"store": "events", "topic": topic, "light": True, "limit": 1}, enc=enc)
    it = r["result"]["items"][0]
    check(p + "light items", "payload" not in it and "index" in it and r["result"]["light"] is True, it)

    r, _ = call("bus.list_topics", {"store": "events"}, enc=enc)
    names = [t["topic"] for t in r["result"]["topics"]]
    check(p + "list_topics", topic in names and "messages" in r["result"]["stores"], r)

    plan = {"kind": "unary", "op": "limit", "params": {"n": 2},
            "child": {"kind": "unary", "op": "filter", "params": {"kind": "k0"},
                      "child": {"kind": "get", "params": {"params": {"topic": topic, "max_count": 100}}}}}
    r, _ = call("bus.replay", {"store": "events", "plan": plan}, enc=enc)
    check(p + "replay", [x["payload"]["i"] for x in r["result"]["items"]] == [4, 2], r)

    r, _ = call("no.such.op", enc=enc)
    check(p + "unknown op", r["ok"] is False and r["error"]["code"] == "UNKNOWN_OP", r)
    r, _ = call("bus.get_recent", {"store": "events", "topic": topic, "limit": "ten"}, enc=enc)
    check(p + "bad args", r["ok"] is False and r["error"]["code"] == "BAD_ARGS", r)
    r, _ = call("bus.query", {"store": "events", "regex": [{"field": "type", "pattern": "(a+)+$"}]}, enc=enc)
    check(p + "unsafe regex", r["ok"] is False and r["error"]["code"] == "REGEX_UNSAFE", r)
    r, _ = call("bus.publish", {"store": "events", "topic": topic, "payload": {"big": "x" * (300 * 1024)}}, enc=enc)
    check(p + "payload too large", r["ok"] is False and r["error"]["code"] == "PAYLOAD_TOO_LARGE", r)


def main():
    ops("json")
    r, data = call("ping", raw=b"\xc1 not json, not msgpack", enc="json")
    check("garbage answered", r["ok"] is False and r["error"]["code"] == "BAD_ENCODING", r)
    r, _ = call("ping", raw=json.dumps({"op": "ping", "req_id": "x"}).encode(), enc="json")
    check("missing v refused", r["ok"] is False and r["error"]["code"] == "BAD_ENVELOPE", r)

    # PUB: the publishes above were to events.py.json; a fresh one must arrive on the SUB socket.
    time.sleep(0.2)
    while sub.poll(0):
        sub.recv_multipart()
    call("bus.publish", {"store": "events", "topic": "py.pub", "payload": {"hello": "pub"}})
    topic, body = recv(sub)
    check("pub topic frame", topic == b"events.py.pub", topic.decode(errors="replace"))
    if msgpack is not None:
        ev = msgpack.unpackb(body, raw=False)
        check("pub msgpack event", ev["payload"] == {"hello": "pub"} and ev["store"] == "events", ev)

    if msgpack is not None:
        ops("msgpack")
        # INGEST: one delta batch of 1000 records, then read them all back.
        push = ctx.socket(zmq.PUSH)
        push.linger = 2000
        push.connect(INGEST)
        items = [{"store": "memory", "topic": "py.ingest", "payload": {"n": n, "message_type": "note"}}
                 for n in range(1000)]
        push.send(msgpack.packb({"items": items}, use_bin_type=True))
        push.send(b"\x00\xff not msgpack")  # counted as malformed, never answered
        seen = []
        deadline = time.time() + 5
        while len(seen) < 1000 and time.time() < deadline:
            r, _ = call("bus.get_since", {"store": "memory", "topic": "py.ingest",
                                          "after_seq": seen[-1]["seq"] if seen else 0, "limit": 1000}, enc="msgpack")
            seen += r["result"]["items"]
            if len(seen) < 1000:
                time.sleep(0.02)
        check("ingest all readable", [x["payload"]["n"] for x in seen] == list(range(1000)), len(seen))
        check("ingest type from message_type", all(x["index"]["type"] == "note" for x in seen[:5]), seen[:1])
        r, _ = call("health", enc="msgpack")
        check("plane alive after malformed ingest", r["ok"] and r["result"]["ingest"]["malformed"] >= 1, r)
        push.close()

    print(json.dumps({"ok": not failures, "msgpack": msgpack is not None, "checks": len(checks),
                      "failures": failures}, default=str))
    return 0 if not failures else 1


if __name__ == "__main__":
    try:
        code = main()
    except Exception as e:  # a timeout or a decoding error: report it as a failure, not a traceback only
        print(json.dumps({"ok": False, "msgpack": msgpack is not None, "checks": len(checks),
                          "failures": failures + [{"check": "exception", "detail": repr(e)}]}))
        code = 1
    dealer.close()
    sub.close()
    ctx.term()
    sys.exit(code)
