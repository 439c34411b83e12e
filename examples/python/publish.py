"""Publish one event to Herald and print what it stored (python3-requests).

    HERALD_URL=http://localhost:3000 HERALD_API_KEY=hrld_... python3 examples/python/publish.py
    python3 examples/python/publish.py --type claim_rejected --user usr_84cd12ef --claim clm_9f2a3b4c

The key needs the events:publish scope. With --id, publishing the same id again returns the
original event (200) and stores nothing.
"""

import argparse
import json
import os
import sys

import requests

HERALD_URL = os.environ.get("HERALD_URL", "").rstrip("/")
KEY = os.environ.get("HERALD_API_KEY", "")
if not HERALD_URL or not KEY:
    print("Set HERALD_URL (e.g. http://localhost:3000) and HERALD_API_KEY (a key with events:publish).", file=sys.stderr)
    sys.exit(2)

parser = argparse.ArgumentParser()
parser.add_argument("--type", default="claim_approved")
parser.add_argument("--user", default="usr_84cd12ef")
parser.add_argument("--claim", default="clm_9f2a3b4c")
parser.add_argument("--id")
parser.add_argument("--data", help="JSON; checked against the type's schema (GET /api/v1/event-types)")
args = parser.parse_args()

data = json.loads(args.data) if args.data else {"amount": 4850, "currency": "NOK"}
body = {"type": args.type, "user_id": args.user, "claim_id": args.claim, "data": data}
if args.id:
    body["id"] = args.id
res = requests.post(f"{HERALD_URL}/api/v1/events", headers={"X-Api-Key": KEY}, json=body, timeout=10)
if not res.ok:
    print(f"Herald answered {res.status_code}: {res.text}", file=sys.stderr)
    sys.exit(1)
event = res.json()
# 201: stored now; 200: an event with this id was already stored, and this is it.
verb = "published" if res.status_code == 201 else "already published"
print(f"{verb} {event['type']} {event['id']} seq {event['seq']}")
