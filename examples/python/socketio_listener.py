"""Listen on Socket.IO and print every event Herald sends, then exit (python3-socketio).

    HERALD_URL=http://localhost:3000 HERALD_API_KEY=hrld_... python3 examples/python/socketio_listener.py --count 3

The key needs events:read. Events arrive under their type, as CloudEvents envelopes. Stops after
--count messages or --timeout seconds (exit code 1 on timeout).
"""

import argparse
import os
import sys
import threading

import socketio

HERALD_URL = os.environ.get("HERALD_URL", "").rstrip("/")
KEY = os.environ.get("HERALD_API_KEY", "")
if not HERALD_URL or not KEY:
    print("Set HERALD_URL (e.g. http://localhost:3000) and HERALD_API_KEY (a key with events:read).", file=sys.stderr)
    sys.exit(2)

parser = argparse.ArgumentParser()
parser.add_argument("--count", type=int, default=1)
parser.add_argument("--timeout", type=float, default=30)
args = parser.parse_args()

sio = socketio.Client(reconnection=False)
done = threading.Event()
received = 0


@sio.on("*")
def on_any(name, payload):
    global received
    if name == "closing":
        print(f"server is closing this socket: {payload.get('code')} ({payload.get('reason')})", flush=True)
        return
    print(f"received {name} {payload.get('id')} seq {payload.get('sequence')}", flush=True)
    received += 1
    if received >= args.count:
        done.set()


try:
    sio.connect(HERALD_URL, transports=["websocket"], auth={"token": KEY})
except socketio.exceptions.ConnectionError as err:
    print(f"connection refused: {err}", file=sys.stderr)
    sys.exit(1)
print(f"connected as {sio.get_sid('/')}; waiting for events", flush=True)
finished = done.wait(args.timeout)
sio.disconnect()
if not finished:
    print(f"timed out after {args.timeout:g} s with {received} messages", file=sys.stderr)
sys.exit(0 if finished else 1)
