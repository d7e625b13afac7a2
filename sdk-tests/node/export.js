// Export every user with Okta's official Node.js SDK, as its users page through them.
// Usage: node export.js ORG_URL API_TOKEN
// Prints the number of users listed (the benchmark in crates/okta-bridge/benches/export.rs).
const okta = require('@okta/okta-sdk-nodejs');

async function main([orgUrl, token]) {
  const client = new okta.Client({ orgUrl, token });
  let count = 0;
  for await (const user of await client.userApi.listUsers({ limit: 200 })) {
    if (user.id) count += 1;
  }
  console.log(count);
}

main(process.argv.slice(2)).catch((e) => {
  console.error(e);
  process.exit(1);
});
