// Okta's official Node.js SDK as a service app: OAuth 2.0 client credentials with
// private_key_jwt (authorizationMode PrivateKey; the SDK adds DPoP when the org asks for it).
// Usage: node service_app.js ORG_URL CLIENT_ID PEM_FILE KEY_ID
// Prints one JSON object with the users the SDK listed; the Rust test `sdks.rs` asserts on it.
const fs = require('fs');
const okta = require('@okta/okta-sdk-nodejs');

async function main([orgUrl, clientId, pemFile, keyId]) {
  const client = new okta.Client({
    orgUrl,
    authorizationMode: 'PrivateKey',
    clientId,
    scopes: ['okta.users.read'],
    privateKey: fs.readFileSync(pemFile, 'utf8'),
    keyId,
  });
  const users = [];
  for await (const user of await client.userApi.listUsers({ limit: 40 })) {
    users.push(user.id);
  }
  console.log(JSON.stringify({ users }));
}

main(process.argv.slice(2)).catch((e) => {
  console.error(e);
  process.exit(1);
});
