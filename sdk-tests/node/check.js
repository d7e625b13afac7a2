// Okta's official Node.js SDK, used as its users use it, against an okta-sandbox org.
// Usage: node check.js ORG_URL API_TOKEN EVERYONE_GROUP_ID
// Prints one JSON object with what the SDK saw; the Rust test `sdks.rs` asserts on it.
const okta = require('@okta/okta-sdk-nodejs');

async function collect(collection) {
  const items = [];
  for await (const item of collection) {
    items.push(item);
  }
  return items;
}

async function main([orgUrl, token, everyone]) {
  const client = new okta.Client({ orgUrl, token });
  const out = {};
  out.users = (await collect(await client.userApi.listUsers({ limit: 50 }))).map((u) => u.id);
  out.groups = (await collect(await client.groupApi.listGroups({ limit: 3 }))).map((g) => g.id);
  const admin = await client.userApi.getUser({ userId: 'admin@example.com' });
  out.adminGroups = (await collect(await client.userApi.listUserGroups({ userId: admin.id }))).map((g) => g.id);

  const created = await client.userApi.createUser({
    body: {
      profile: { firstName: 'Sdk', lastName: 'Node', email: 'sdk.node@example.com', login: 'sdk.node@example.com' },
      credentials: { password: { value: 'Sdk-Passw0rd-456' } },
    },
    activate: true,
  });
  await client.userApi.deactivateUser({ userId: created.id });
  const after = await client.userApi.getUser({ userId: created.id });
  out.created = { id: created.id, status: created.status, after: after.status };

  const events = await collect(await client.systemLogApi.listLogEvents({
    // The System Log answers for the last 180 days only: a bounded query over the last day.
    since: new Date(Date.now() - 24 * 3600 * 1000).toISOString(),
    until: '2100-01-01T00:00:00.000Z',
  }));
  out.eventTypes = events.map((e) => e.eventType);

  // The test injected one 429 on this route: the SDK must wait and retry.
  const started = Date.now();
  out.everyoneMembers = (await collect(await client.groupApi.listGroupUsers({ groupId: everyone, limit: 1000 }))).length;
  out.retrySeconds = (Date.now() - started) / 1000;
  console.log(JSON.stringify(out));
}

main(process.argv.slice(2)).catch((err) => {
  console.error(err);
  process.exit(1);
});
