"""Okta's official Python SDK, used as its users use it, against an okta-sandbox org.

Usage: SSL_CERT_FILE=CA.pem python check.py ORG_URL API_TOKEN EVERYONE_GROUP_ID
Prints one JSON object with what the SDK saw; the Rust test `sdks.rs` asserts on it.
"""
import asyncio
import json
import sys
import time
from datetime import datetime, timedelta, timezone

from okta.client import Client as OktaClient
from okta.models import CreateUserRequest
from okta.pagination import PaginationHelper


async def all_pages(call, **kwargs):
    items, after = [], None
    while True:
        page, resp, err = await call(after=after, **kwargs)
        if err is not None:
            raise RuntimeError(f"{call.__name__}: {err}")
        items += page
        after = PaginationHelper.extract_next_cursor(resp.headers)
        if not after:
            return items


async def main(org, token, everyone):
    client = OktaClient({"orgUrl": org, "token": token})
    out = {}
    users = await all_pages(client.list_users, limit=50)
    out["users"] = [u.id for u in users]
    groups = await all_pages(client.list_groups, limit=3)
    out["groups"] = [g.id for g in groups]
    admin, _, err = await client.get_user("admin@example.com")
    assert err is None, err
    admin_groups, _, err = await client.list_user_groups(admin.id)
    assert err is None, err
    out["adminGroups"] = [g.id for g in admin_groups]

    body = CreateUserRequest.from_dict({
        "profile": {"firstName": "Sdk", "lastName": "Python", "email": "sdk.python@example.com", "login": "sdk.python@example.com"},
        "credentials": {"password": {"value": "Sdk-Passw0rd-123"}},
    })
    created, _, err = await client.create_user(body, activate=True)
    assert err is None, err
    _, _, err = await client.deactivate_user(created.id)
    assert err is None, err
    after, _, err = await client.get_user(created.id)
    assert err is None, err
    out["created"] = {"id": created.id, "status": str(created.status.value), "after": str(after.status.value)}

    # The System Log answers for the last 180 days only: a bounded query over the last day.
    day_ago = (datetime.now(timezone.utc) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    events, _, err = await client.list_log_events(since=day_ago, until="2100-01-01T00:00:00.000Z")
    assert err is None, err
    out["eventTypes"] = [e.event_type for e in events]

    # The test injected one 429 on this route: the SDK must wait and retry.
    started = time.monotonic()
    members = await all_pages(client.list_group_users, group_id=everyone, limit=1000)
    out["everyoneMembers"] = len(members)
    out["retrySeconds"] = round(time.monotonic() - started, 2)
    print(json.dumps(out))


asyncio.run(main(*sys.argv[1:4]))
