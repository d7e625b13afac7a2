//! The OpenAPI 3.1 document of the JSON API (`GET /api/openapi.json`). Each JSON route is
//! registered through [`utoipa_axum`] from its handler's `#[utoipa::path]` (method, path,
//! parameters, bodies, answers), so the router and the document are made from the same code;
//! the shapes below describe the JSON the handlers write, and CI's schemathesis run against a
//! live server checks every answer against them.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The document's frame: info, the bearer scheme, shared shapes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "okta-bridge",
        description = "Connect applications to their customers' Okta orgs: accounts and connections, synced directories with an ordered change feed, webhooks, setup links, Okta's own API through a connection. Authenticate with `Authorization: Bearer <API key or admin token>`; a key's scope (directory:read ⊂ connections:write ⊂ admin) limits what it may do.",
        license(name = "Apache-2.0")
    ),
    modifiers(&Bearer),
    security(("bearer" = [])),
    components(schemas(ErrorBody)),
    tags(
        (name = "accounts", description = "The orgs okta-bridge works with and their apps"),
        (name = "connections", description = "Stored connections, and Okta's API through them"),
        (name = "directory", description = "A connection's synced directory and its change feed"),
        (name = "webhooks", description = "Endpoints the change feed is delivered to"),
        (name = "roles", description = "The application's roles, which users carry (issue 28: mapped from groups per account)"),
        (name = "scope", description = "Which of an org's users an account's directory holds (issue 28): the whole org, the members of chosen groups, or the users assigned to a chosen app"),
        (name = "scim", description = "SCIM 2.0 push: the customer's Okta provisions an account's directory (the SCIM endpoint itself is /scim/v2/{account}, RFC 7644)"),
        (name = "setup", description = "Links a customer's Okta admin connects an account through"),
        (name = "keys", description = "API keys"),
        (name = "console", description = "Console sessions"),
    )
)]
pub(crate) struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key (okta-bridge api-keys create NAME --scope SCOPE) or the admin token",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "hookSecret",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Header(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "Authorization",
                    "The connection's event hook secret, which okta-bridge gave Okta when it registered the hook",
                ),
            )),
        );
    }
}

/// Every error: a stable code, a message that says what to do.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ErrorBody {
    /// A stable code: `invalid_request`, `unauthorized`, `insufficient_scope`, `not_found`, …
    error: String,
    /// What happened and what to do.
    message: String,
    /// The field to fix, for invalid input.
    field: Option<String>,
    /// The scope needed, for `insufficient_scope`.
    scope: Option<String>,
    /// Okta's own error (`errorCode`, `errorSummary`, `errorId`) when Okta's API refused.
    okta: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A stored connection, never its tokens.
#[derive(ToSchema)]
#[schema(as = Connection)]
#[allow(dead_code)]
#[allow(non_snake_case)]
pub(crate) struct ConnectionView {
    account: String,
    orgUrl: String,
    /// Space-separated.
    scopes: String,
    /// `Bearer`, `SSWS` or `DPoP`.
    tokenType: String,
    /// `authorization_code`, `api_token` or `service_app`.
    method: String,
    /// RFC 3339; none for API tokens.
    expiresAt: Option<String>,
    hasRefreshToken: bool,
    created: String,
    lastUpdated: String,
    /// `connected`, `needs_reauth`, `app_rejected`, `token_refused`.
    status: String,
    statusReason: Option<String>,
}

/// An account: an org and the app okta-bridge connects it with, never a secret.
#[derive(ToSchema)]
#[schema(as = Account)]
#[allow(dead_code)]
#[allow(non_snake_case)]
pub(crate) struct AccountView {
    name: String,
    orgUrl: String,
    /// `web`, `service` or `token`.
    kind: String,
    clientId: Option<String>,
    keyId: Option<String>,
    issuer: Option<String>,
    /// Space-separated.
    scopes: String,
    dpop: bool,
    created: String,
    lastUpdated: String,
    status: String,
    statusReason: Option<String>,
    connection: Option<ConnectionView>,
}

/// A new account (`POST /api/accounts`). Secrets (`clientSecret`, `privateKey`) are stored
/// encrypted and never shown again.
#[derive(ToSchema)]
#[allow(dead_code)]
#[allow(non_snake_case)]
pub(crate) struct NewAccountBody {
    /// 1-63 lower-case letters, digits, `-`, `_`, `.`.
    name: String,
    /// The org, e.g. `https://dev-207260.okta.com`.
    orgUrl: String,
    /// An OAuth web app's or a service app's client id (none: an API-token account).
    clientId: Option<String>,
    /// The web app's client secret.
    clientSecret: Option<String>,
    /// A service app's private key (PEM or JWK).
    privateKey: Option<String>,
    /// Its key id (`kid`).
    keyId: Option<String>,
    /// An authorization server other than the org's.
    issuer: Option<String>,
    /// Space-separated scopes to ask for.
    scopes: Option<String>,
    /// Bind a service app's tokens with DPoP.
    dpop: Option<bool>,
}

/// `{"apiToken": "…"}` for an API-token account; nothing (or `{}`) for a service app.
#[derive(ToSchema)]
#[allow(dead_code)]
#[allow(non_snake_case)]
pub(crate) struct ConnectBodyDoc {
    apiToken: Option<String>,
}

/// What connecting found.
#[derive(ToSchema)]
#[allow(dead_code)]
#[allow(non_snake_case)]
pub(crate) struct ConnectedView {
    account: String,
    /// `api_token` or `service_app`.
    method: String,
    tokenType: String,
    /// The API token's user.
    user: Option<String>,
}

/// An API key, never the key itself.
#[derive(ToSchema)]
#[schema(as = ApiKey)]
#[allow(dead_code)]
#[allow(non_snake_case)]
pub(crate) struct ApiKeyView {
    id: String,
    name: String,
    /// `directory:read`, `connections:write` or `admin`.
    scope: String,
    createdAt: i64,
    lastUsedAt: Option<i64>,
    revokedAt: Option<i64>,
}

/// A live console session (never its cookie).
#[derive(ToSchema)]
#[schema(as = ConsoleSession)]
#[allow(dead_code)]
#[allow(non_snake_case)]
pub(crate) struct ConsoleSessionView {
    /// The email, else the subject; `admin token` for the admin token's sessions.
    person: String,
    /// `admin_token` or `openid_connect`.
    grantedBy: String,
    subject: Option<String>,
    /// The email the provider verified.
    email: Option<String>,
    groups: Vec<String>,
    /// When it ends (RFC 3339).
    expiresAt: String,
}

/// A new key: shown once, in this answer.
#[derive(ToSchema)]
#[allow(dead_code)]
#[allow(non_snake_case)]
pub(crate) struct CreatedApiKey {
    id: String,
    name: String,
    scope: String,
    createdAt: i64,
    lastUsedAt: Option<i64>,
    revokedAt: Option<i64>,
    /// The key (`okb_…`): send it as `Authorization: Bearer <key>`.
    key: String,
}

/// `{"name", "scope"}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct NewApiKeyBody {
    name: String,
    /// `directory:read`, `connections:write` or `admin`.
    scope: String,
}

/// A webhook endpoint, never its secrets.
#[derive(ToSchema)]
#[schema(as = Webhook)]
#[allow(dead_code)]
#[allow(non_snake_case)]
pub(crate) struct WebhookView {
    id: String,
    url: String,
    /// Event types delivered (none: all).
    events: Option<Vec<String>>,
    /// Connections delivered (none: all).
    connections: Option<Vec<String>>,
    /// `active` or `failing`.
    status: String,
    createdAt: i64,
    updatedAt: i64,
    previousSecretUntil: Option<i64>,
}

/// `{"url", "events"?, "connections"?}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct NewWebhookBody {
    url: String,
    events: Option<Vec<String>>,
    connections: Option<Vec<String>>,
}

/// Each field given replaces the stored one (`null`: all).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct WebhookChangeBody {
    url: Option<String>,
    events: Option<Vec<String>>,
    connections: Option<Vec<String>>,
    /// `active`: deliver to an endpoint marked failing again.
    status: Option<String>,
}

/// A setup link.
#[derive(ToSchema)]
#[schema(as = SetupLink)]
#[allow(dead_code)]
#[allow(non_snake_case)]
pub(crate) struct SetupLinkView {
    id: String,
    account: String,
    /// `active`, `opened`, `connected`, `expired`, `revoked`.
    state: String,
    scopes: String,
    createdAt: i64,
    expiresAt: i64,
    openedAt: Option<i64>,
    connectedAt: Option<i64>,
    revokedAt: Option<i64>,
    method: Option<String>,
    /// Whether the admin chooses who is synced after connecting, before the first sync.
    chooseScope: bool,
    /// Whether that step also maps the org's groups to the application's roles.
    mapRoles: bool,
    /// A manage link: for an account already connected, straight to that step.
    manage: bool,
    /// Where to revoke it.
    revoke: String,
    /// The link to send (only when made).
    url: Option<String>,
}

/// `{"expiresIn"?: seconds, "scopes"?: "…"}`.
#[derive(ToSchema)]
#[allow(dead_code)]
#[allow(non_snake_case)]
pub(crate) struct NewSetupLinkBody {
    /// 300 to 2592000 seconds (default a day).
    expiresIn: Option<u64>,
    /// Space-separated scopes to ask for.
    scopes: Option<String>,
    /// `true`: after connecting, the admin chooses who is synced (the whole org or some of its
    /// groups) before the first sync (default `false`: the first sync starts at once).
    chooseScope: Option<bool>,
    /// `true`: that step (implied) also lets the admin map the org's groups to the
    /// application's declared roles, and pick a default role (default `false`).
    mapRoles: Option<bool>,
    /// `true`: a manage link, for an account already connected through Okta's API: its admin
    /// goes straight to that step to change who is synced (implies `chooseScope`).
    manage: Option<bool>,
}

/// One role of the application.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct RoleView {
    /// Lowercase letters, digits, `-` and `_`, starting with a letter, at most 64 characters.
    slug: String,
    /// What people see (1 to 100 characters).
    name: String,
}

/// The body of `PUT /api/roles`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct RolesPut {
    /// Highest priority first; at most 100, each slug once.
    roles: Vec<RoleView>,
}

/// The application's roles.
#[derive(ToSchema)]
#[allow(dead_code)]
#[allow(non_snake_case)]
pub(crate) struct RolesView {
    /// Highest priority first.
    roles: Vec<RoleView>,
    /// When they were last declared (RFC 3339; null before the first declaration).
    #[schema(format = DateTime)]
    updatedAt: Option<String>,
    /// Who declared them: `admin token`, `api key NAME (ak_…)`, `cli`.
    updatedBy: Option<String>,
}

/// One group's roles.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct MappingView {
    /// The group's id in the account's directory.
    group: String,
    /// Declared role slugs, in the declared order.
    roles: Vec<String>,
}

/// The body of `PUT /api/accounts/{name}/role-mappings`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct MappingsPut {
    /// Each group once (at most 1,000).
    mappings: Vec<MappingView>,
    /// The role of a user in no mapped group (a declared slug; null or absent: no role).
    default: Option<String>,
}

/// An account's role mappings.
#[derive(ToSchema)]
#[allow(dead_code)]
#[allow(non_snake_case)]
pub(crate) struct MappingsView {
    account: String,
    mappings: Vec<MappingView>,
    default: Option<String>,
    /// When they were last set (RFC 3339; null before).
    #[schema(format = DateTime)]
    updatedAt: Option<String>,
    /// Who set them: `admin token`, `api key NAME (ak_…)`, `cli`.
    updatedBy: Option<String>,
}

/// The body of `PUT /api/accounts/{name}/scope`: exactly one of the three.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ScopePut {
    /// `true`: the whole org (the default).
    all: Option<bool>,
    /// The members of these groups (ids, each once, at most 100), and these groups with their
    /// memberships among them.
    groups: Option<Vec<String>>,
    /// The users assigned to this app (its id), directly or through a group; the app; the
    /// groups assigned to it.
    app: Option<String>,
}

/// An account's scope.
#[derive(ToSchema)]
#[allow(dead_code)]
#[allow(non_snake_case)]
pub(crate) struct ScopeView {
    account: String,
    /// Whether the directory holds the whole org.
    all: bool,
    /// The groups whose members it holds (null unless so scoped).
    groups: Option<Vec<String>>,
    /// The app whose users it holds (null unless so scoped).
    app: Option<String>,
    /// When it was last set (RFC 3339; null before).
    #[schema(format = DateTime)]
    updatedAt: Option<String>,
    /// Who set it: `admin token`, `api key NAME (ak_…)`, `cli`.
    updatedBy: Option<String>,
}

/// One record of an account's audit log.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct AuditView {
    event: String,
    detail: Option<String>,
    /// `admin token`, `api key NAME (ak_…)`.
    actor: Option<String>,
    at: i64,
}

/// A page of the change feed and the cursor to ask from next.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct FeedPage {
    events: Vec<serde_json::Map<String, serde_json::Value>>,
    /// The cursor to ask from next (the same one when nothing is new).
    next: String,
}

/// `{"connection", "after"}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ReplayBody {
    connection: String,
    after: i64,
}

/// `{"overlapSeconds"?}`.
#[derive(ToSchema)]
#[allow(dead_code)]
#[allow(non_snake_case)]
pub(crate) struct RotateBody {
    overlapSeconds: Option<u64>,
}
