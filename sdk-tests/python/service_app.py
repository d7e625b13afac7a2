"""Okta's official Python SDK as a service app: OAuth 2.0 client credentials with
private_key_jwt (authorizationMode PrivateKey) and DPoP, against an okta-sandbox org.

Usage: SSL_CERT_FILE=CA.pem python service_app.py ORG_URL CLIENT_ID PEM_FILE KEY_ID
Prints one JSON object with the users the SDK listed; the Rust test `sdks.rs` asserts on it.
"""
import asyncio
import json
import sys

from okta.client import Client as OktaClient
from okta.pagination import PaginationHelper


async def main(org, client_id, pem_file, kid):
    with open(pem_file) as f:
        pem = f.read()
    client = OktaClient({
        "orgUrl": org,
        "authorizationMode": "PrivateKey",
        "clientId": client_id,
        "scopes": ["okta.users.read"],
        "privateKey": pem,
        "kid": kid,
        "dpopEnabled": True,
    })
    users, after = [], None
    while True:
        page, resp, err = await client.list_users(limit=40, after=after)
        if err is not None:
            raise RuntimeError(f"list_users: {err}")
        users += [u.id for u in page]
        after = PaginationHelper.extract_next_cursor(resp.headers)
        if not after:
            break
    print(json.dumps({"users": users}))


asyncio.run(main(*sys.argv[1:5]))
