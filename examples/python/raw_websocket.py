"""A raw WebSocket client of /api/v1/ws/subscribe (python3-websocket), then exit.

    HERALD_URL=http://localhost:3000 HERALD_API_KEY=hrld_... python3 examples/python/raw_websocket.py \\
        --types claim_approved --subscribe comment_added --count 2

Frames are JSON text. The server sends {"type": "welcome" | "event" | "subscriptions" | "pong" |
"error" | "closed", ...}; a client sends {"action": "subscribe" | "unsubscribe", "event_types": [...]}
or {"action": "ping"}. Stops after --count events or --timeout seconds.
"""

import argparse
import json
import os
import sys
import time
from urllib.parse import quote

import websocket

HERALD_URL = os.environ.get("HERALD_URL", "").rstrip("/")
KEY = os.environ.get("HERALD_API_KEY", "")
if not HERALD_URL or not KEY:
    print("Set HERALD_URL (e.g. http://localhost:3000) and HERALD_API_KEY (a key with events:read).", file=sys.stderr)
    sys.exit(2)

parser = argparse.ArgumentParser()
parser.add_argument("--types", help="comma-separated; none: every type of the catalog")
parser.add_argument("--subscribe", help="types to add with a subscribe frame once welcomed")
parser.add_argument("--count", type=int, default=1)
parser.add_argument("--timeout", type=float, default=30)
args = parser.parse_args()

url = HERALD_URL.replace("http", "ws", 1) + "/api/v1/ws/subscribe"
if args.types:
    url += "?event_types=" + quote(args.types)
deadline = time.monotonic() + args.timeout
try:
    ws = websocket.create_connection(url, header=[f"Authorization: Bearer {KEY}"], timeout=args.timeout)
except websocket.WebSocketBadStatusException as err:
    # A refused upgrade is a plain HTTP response: {code, message, stack} with 401, 403, 400 or 429.
    print(f"upgrade refused: {err}", file=sys.stderr)
    sys.exit(1)

events = 0
while events < args.count:
    ws.settimeout(max(deadline - time.monotonic(), 0.01))
    try:
        frame = json.loads(ws.recv())
    except websocket.WebSocketTimeoutException:
        print(f"timed out after {args.timeout:g} s with {events} events", file=sys.stderr)
        sys.exit(1)
    except websocket.WebSocketConnectionClosedException:
        print("connection closed", file=sys.stderr)
        sys.exit(1)
    kind = frame.get("type")
    if kind == "welcome":
        print(f"welcome: client {frame['client_id']}, event types {','.join(frame['event_types'])}", flush=True)
        ws.send(json.dumps({"action": "ping"}))
        if args.subscribe:
            ws.send(json.dumps({"action": "subscribe", "event_types": args.subscribe.split(",")}))
    elif kind == "pong":
        print("pong", flush=True)
    elif kind == "subscriptions":
        print(f"subscribed to {','.join(frame['event_types'])}", flush=True)
    elif kind == "event":
        print(f"received {frame['event']['type']} {frame['event']['id']} seq {frame['event']['sequence']}", flush=True)
        events += 1
    elif kind == "error":
        print(f"error frame {frame['code']}: {frame['message']}", flush=True)
    elif kind == "closed":
        print(f"server closing: {frame['reason']}", flush=True)
ws.close()
