"""Export every user with Okta's official Python SDK, as its users page through them.

Usage: OKTA_TESTING_TESTINGDISABLEHTTPSCHECK=true python export.py ORG_URL API_TOKEN
Prints the number of users listed (the benchmark in crates/okta-bridge/benches/export.rs).
"""
import asyncio
import sys

from okta.client import Client as OktaClient
from okta.pagination import PaginationHelper


async def main(org, token):
    client = OktaClient({"orgUrl": org, "token": token})
    count, after = 0, None
    while True:
        page, resp, err = await client.list_users(limit=200, after=after)
        if err is not None:
            raise RuntimeError(f"list_users: {err}")
        count += len(page)
        after = PaginationHelper.extract_next_cursor(resp.headers)
        if not after:
            break
    print(count)


asyncio.run(main(*sys.argv[1:3]))
