"""Runs scim2-tester (an independent SCIM 2.0 conformance checker, pinned in requirements.txt)
against a SCIM base URL with a bearer token: discovery, then create, read, replace and delete
of Users and Groups. Prints every check; exits 1 when any is an ERROR or CRITICAL (a violation
of a MUST of RFC 7643/7644), 0 otherwise.

    python conformance.py BASE_URL TOKEN
"""

import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def main() -> int:
    base_url, token = sys.argv[1], sys.argv[2]
    http = Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    client = SyncSCIMClient(http)
    results = check_server(client, resource_types=["User", "Group"])
    bad = 0
    for r in results:
        status = r.status.name
        where = f" [{r.resource_type}]" if r.resource_type else ""
        print(f"{status:10} {r.title}{where}: {r.reason or ''}")
        if r.status in (Status.ERROR, Status.CRITICAL):
            bad += 1
    print(f"{len(results)} checks, {bad} failed")
    return 1 if bad or not results else 0


if __name__ == "__main__":
    sys.exit(main())
