"""Attach to a Herald realtime channel and subscribe a Socket.IO session, from Python.

Uses Debian's python3-socketio, python3-websocket and python3-requests (or the same packages
from PyPI). Run it with:

    HERALD_URL=http://localhost:3000 HERALD_API_KEY=hrld_... CHANNEL_ID=chan_... \
        python3 examples/python/channel_and_session.py

The key needs events:read and users.read, and must be a user key (a session follows channels
only for a user); CHANNEL_ID is a channel it may attach to (POST /api/v1/realtime-subscriptions/user).

It prints one JSON line per message it receives and stops after MAX_MESSAGES (default 3) or
TIMEOUT_S seconds (default 30).
"""

import json
import os
import sys
import threading
from urllib.parse import urlsplit

import requests
import socketio
import websocket

HERALD_URL = os.environ.get("HERALD_URL", "").rstrip("/")
KEY = os.environ.get("HERALD_API_KEY", "")
CHANNEL_ID = os.environ.get("CHANNEL_ID", "")
if not HERALD_URL or not KEY or not CHANNEL_ID:
    print(
        "Set HERALD_URL (e.g. http://localhost:3000), HERALD_API_KEY (a user key with events:read and users.read) "
        "and CHANNEL_ID (a chan_ id from POST /api/v1/realtime-subscriptions/user).",
        file=sys.stderr,
    )
    sys.exit(2)
FOLLOW = os.environ.get("FOLLOW_CHANNEL", "chan_python")
MAX_MESSAGES = int(os.environ.get("MAX_MESSAGES", "3"))
TIMEOUT_S = float(os.environ.get("TIMEOUT_S", "30"))
AUTH = {"Authorization": f"Bearer {KEY}"}

done = threading.Event()
received = 0
lock = threading.Lock()


def emit(source, event, payload):
    global received
    print(json.dumps({"source": source, "event": event, "payload": payload}), flush=True)
    with lock:
        received += 1
        if received >= MAX_MESSAGES:
            done.set()


# 1. The channel's websocket_url, as POST /api/v1/realtime-subscriptions/... returned it.
channel = requests.get(f"{HERALD_URL}/api/v1/realtime-subscriptions/{CHANNEL_ID}", headers=AUTH, timeout=10).json()
websocket_url = channel["websocket_url"]  # ws://host:port/channels/chan_...

# python-socketio ignores the path of a URL: connect to the server's origin and name the
# channel's path as the namespace instead.
parts = urlsplit(websocket_url)
origin = f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"
namespace = parts.path  # /channels/chan_...

sio = socketio.Client(reconnection=False)


@sio.on("welcome", namespace=namespace)
def on_welcome(welcome):
    print(json.dumps({"source": "channel", "event": "welcome", "payload": welcome}), flush=True)


for claim_event in ("claim_submitted", "claim_approved", "claim_rejected", "status_changed", "comment_added"):
    sio.on(claim_event, lambda payload, e=claim_event: emit("channel", e, payload), namespace=namespace)

# 2. The default namespace, for a session subscription (POST /v1/events/subscriptions).
sio.on("channel.follow", lambda payload: emit("session", "channel.follow", payload))

# last_seq resumes exactly after the last event this client saw (omit it to resume from the
# channel's own cursor).
sio.connect(origin, namespaces=["/", namespace], transports=["websocket"], auth={"token": KEY})

# The sessionId is the socket id of the default namespace: sio.get_sid("/"), not sio.sid
# (that is the engine.io connection's id).
session_id = sio.get_sid("/")
follow = requests.post(
    f"{HERALD_URL}/v1/events/subscriptions",
    headers=AUTH,
    json={"type": "channel.follow", "version": "1", "sessionId": session_id, "condition": {"channelId": FOLLOW}},
    timeout=10,
)
follow.raise_for_status()

# 3. A raw WebSocket client (websocket-client) on the same credential.
ws = websocket.create_connection(f"{origin.replace('http', 'ws', 1)}/api/v1/ws/subscribe?event_types=comment_added", header=[f"X-Api-Key: {KEY}"], timeout=TIMEOUT_S)
welcome = json.loads(ws.recv())


def read_raw():
    while not done.is_set():
        try:
            frame = json.loads(ws.recv())
        except Exception:
            return
        if frame.get("type") == "event":
            emit("raw", frame["event"]["type"], frame["event"])


threading.Thread(target=read_raw, daemon=True).start()
print(json.dumps({"source": "ready", "event": "ready", "payload": {"session_id": session_id, "ws_client_id": welcome["client_id"]}}), flush=True)

finished = done.wait(TIMEOUT_S)
sio.disconnect()
ws.close()
sys.exit(0 if finished else 1)
