//! Helpers: databases, a sandbox + app pair, and a browser that keeps cookies.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use okta_bridge::app::{App, OrgSource};
use okta_bridge::apps::Apps;
use okta_bridge::crypto::random_secret;
use okta_bridge::egress::Egress;
use okta_bridge::model::{ClientSecret, Scopes};
use okta_bridge::oauth::OAuthApp;
use okta_bridge::service::Service;
use okta_bridge::settings::{Settings, StoreSettings};
use okta_bridge::store::Store;
use okta_bridge::tokens::Refresher;
use okta_client::OrgUrl;
use okta_sandbox::{Sandbox, SandboxConfig};
use reqwest::redirect::Policy;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub fn init_tracing() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_test_writer()
            .try_init();
    }
}

/// A fresh database: a SQLite file in a temporary directory, or a PostgreSQL schema.
pub struct TestDb {
    pub url: String,
    dir: Option<tempfile::TempDir>,
    schema: Option<(String, String)>,
}

fn postgres_base() -> String {
    std::env::var("OKTA_BRIDGE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned())
}

fn postgres_required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("OKTA_BRIDGE_TEST_POSTGRES").is_some()
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("okta-bridge.db").display());
        Self {
            url,
            dir: Some(dir),
            schema: None,
        }
    }

    /// A new schema on the test PostgreSQL. `None` (with a note) when PostgreSQL is not
    /// reachable and not required; in CI or with `OKTA_BRIDGE_TEST_POSTGRES` set it must be.
    pub async fn postgres() -> Option<Self> {
        use sqlx::Connection;
        let base = postgres_base();
        let mut conn = match sqlx::PgConnection::connect(&base).await {
            Ok(c) => c,
            Err(e) if !postgres_required() => {
                eprintln!(
                    "PostgreSQL at {base} is not reachable ({e}); skipping. Set OKTA_BRIDGE_TEST_POSTGRES to require it."
                );
                return None;
            }
            Err(e) => panic!("PostgreSQL at {base} is required but not reachable: {e}"),
        };
        let schema = format!(
            "okta_bridge_test_{}",
            random_secret().to_ascii_lowercase().replace(['-', '_'], "")[..16].to_owned()
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
            .expect("create schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        Some(Self {
            url,
            dir: None,
            schema: Some((base, schema)),
        })
    }

    /// The PostgreSQL schema of this database, if it is one.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_ref().map(|(_, s)| s.as_str())
    }

    /// The SQLite file of this database, if it is one.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.path().join("okta-bridge.db"))
    }

    pub fn is_sqlite(&self) -> bool {
        self.dir.is_some()
    }

    /// The SQLite database files (main, WAL, shared memory) that exist.
    pub fn files(&self) -> Vec<PathBuf> {
        let Some(dir) = &self.dir else { return Vec::new() };
        ["okta-bridge.db", "okta-bridge.db-wal", "okta-bridge.db-shm"]
            .iter()
            .map(|f| dir.path().join(f))
            .filter(|p| p.exists())
            .collect()
    }

    /// The store settings of this database with the test key.
    pub fn settings(&self) -> StoreSettings {
        StoreSettings::new(&self.url, Some(SecretString::from(TEST_KEY_B64.clone())))
    }

    pub async fn open(&self) -> Store {
        self.settings().open().await.expect("open store")
    }
}

impl TestDb {
    /// The same database reached at `url` (e.g. through a proxy); dropping it removes nothing.
    pub fn via(&self, url: String) -> Self {
        Self {
            url,
            dir: None,
            schema: None,
        }
    }
}

/// A TCP proxy to the test PostgreSQL that can be taken down (every connection through it cut,
/// new ones closed at once, as a stopped server's would be) and brought back up.
pub struct PostgresProxy {
    up: Arc<std::sync::atomic::AtomicBool>,
    links: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl PostgresProxy {
    /// A proxy to the PostgreSQL of `db`, up.
    pub async fn start(db: &TestDb) -> (Self, TestDb) {
        let target = reqwest::Url::parse(&db.url).expect("a PostgreSQL URL");
        let upstream = format!(
            "{}:{}",
            target.host_str().expect("a host"),
            target.port().unwrap_or(5432)
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let links: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (up2, links2) = (up.clone(), links.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up2.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                links2.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        let mut via = target.clone();
        via.set_host(Some("127.0.0.1")).unwrap();
        via.set_port(Some(addr.port())).unwrap();
        let proxied = db.via(via.to_string());
        (Self { up, links, accept }, proxied)
    }

    /// Cuts every connection and refuses new ones until [`up`](Self::up).
    pub fn down(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    /// Lets connections through again.
    pub fn up(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for PostgresProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.down();
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((base, schema)) = self.schema.take() {
            // Best effort, on a thread of its own: Drop cannot await.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    use sqlx::Connection;
                    if let Ok(mut c) = sqlx::PgConnection::connect(&base).await {
                        // A task of the test's runtime (blocked while this thread is joined) may
                        // hold a lock in the schema mid-transaction: give up rather than wait
                        // for it forever (the schema is then left behind).
                        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                            "SET lock_timeout = '5s'; DROP SCHEMA {schema} CASCADE"
                        )))
                        .execute(&mut c)
                        .await;
                    }
                });
            })
            .join();
        }
    }
}

/// One fixed master key for tests that open the store from both the app and the test.
pub static TEST_KEY_B64: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| okta_bridge::crypto::MasterKey::generate().1);

/// A running app with its sandbox org.
pub struct TestApp {
    pub url: String,
    pub admin_token: String,
    pub store: Store,
    pub sandbox: Sandbox,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    /// Stops the server and its background tasks (the refresher, the recovery of abandoned
    /// refreshes) and waits until they are gone; the sandbox and the database stay.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("the server task")
                .expect("the server stops cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub struct AppOptions {
    /// Changes to the sandbox org (the app's redirect URI is registered unless replaced).
    pub sandbox: Box<dyn FnOnce(&mut SandboxConfig) + Send>,
    /// The client secret the app uses (default: the right one).
    pub client_secret: Option<String>,
    pub refresh_margin: Duration,
    /// Connect through this custom authorization server of the sandbox (by id, e.g.
    /// `default`), found by discovery, asking for `openid offline_access`.
    pub custom_server: Option<&'static str>,
    /// Whether accounts may name orgs on private addresses (default: yes, the sandboxes).
    pub allow_private_orgs: bool,
    /// The admin token (default: a random one).
    pub admin_token: Option<String>,
    /// The public URL browsers reach the app at (default: the plain-http address it listens on).
    pub public_url: Option<String>,
    /// Console sign-in with OpenID Connect through the sandbox's org authorization server and
    /// its web app, for these emails and groups (its callback registered at the sandbox).
    pub console: Option<(Vec<String>, Vec<String>)>,
    /// The scopes the server-wide app asks for (default: `okta.users.read offline_access`).
    pub scopes: Option<&'static str>,
    /// Changes to the server's settings (limits and the like), made last.
    pub settings: Box<dyn FnOnce(&mut Settings) + Send>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            sandbox: Box::new(|_| {}),
            client_secret: None,
            refresh_margin: Duration::from_secs(60),
            custom_server: None,
            allow_private_orgs: true,
            admin_token: None,
            public_url: None,
            console: None,
            scopes: None,
            settings: Box::new(|_| {}),
        }
    }
}

impl AppOptions {
    /// A sandbox that rotates refresh tokens (Okta's `ROTATE`) with `leeway`.
    pub fn rotating(leeway: Duration) -> Self {
        Self {
            sandbox: Box::new(move |c| {
                c.refresh_token_rotation = okta_sandbox::RefreshTokenRotation::Rotate;
                c.refresh_token_leeway = leeway;
            }),
            ..Self::default()
        }
    }
}

/// A call to the control routes (`/__sandbox/…`) of `app`'s sandbox, with its API token; the
/// answer's JSON.
pub async fn sandbox_control(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let (status, answer) = org_call(app, method, path, body).await;
    assert!((200..300).contains(&status), "{path}: {status} {answer}");
    answer
}

/// Puts `rules` (the sandbox's fault rules, as JSON) in force at `app`'s sandbox.
pub async fn set_faults(app: &TestApp, rules: serde_json::Value) {
    let res = reqwest::Client::new()
        .put(format!("{}/__sandbox/faults", app.sandbox.url()))
        .header(
            "authorization",
            format!("SSWS {}", app.sandbox.config().api_token_value()),
        )
        .json(&rules)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

/// Makes the stored access token of `account` expired (a second ago), as if an hour had passed.
pub async fn expire(store: &Store, account: &okta_bridge::model::AccountName) {
    let c = store.connection(account).await.unwrap().unwrap();
    let tokens = okta_bridge::model::TokenSet {
        access_token: c.access_token.clone(),
        refresh_token: c.refresh_token.clone(),
        expires_at: okta_bridge::model::Expiry::At(time::OffsetDateTime::now_utc().unix_timestamp() - 1),
    };
    assert!(store.update_tokens(account, c.version, &tokens).await.unwrap());
}

pub async fn spawn_app(db: &TestDb, opts: AppOptions) -> TestApp {
    init_tracing();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind app");
    let addr = listener.local_addr().unwrap();
    let url = format!("http://{addr}");
    let public_url = opts.public_url.clone().unwrap_or_else(|| url.clone());
    let redirect_uri = format!("{public_url}/oauth/okta_callback");
    let mut config = SandboxConfig {
        users: 230,
        redirect_uris: vec![redirect_uri.clone()],
        ..SandboxConfig::default()
    };
    if opts.console.is_some() {
        config.redirect_uris.push(format!("{public_url}/login/oidc/callback"));
    }
    (opts.sandbox)(&mut config);
    let sandbox = Sandbox::spawn(config).await.expect("sandbox");
    let secret = opts
        .client_secret
        .unwrap_or_else(|| sandbox.config().client_secret_value().to_owned());
    let admin_token = opts.admin_token.unwrap_or_else(random_secret);
    let mut store = db.settings();
    store.dev_allow_private_orgs = opts.allow_private_orgs;
    let mut settings = Settings {
        org_url: Some(sandbox.url().to_owned()),
        client_id: Some(sandbox.config().client_id.clone()),
        client_secret: Some(SecretString::from(secret)),
        issuer: opts
            .custom_server
            .map(|id| format!("{}/oauth2/{id}", sandbox.url()).parse().unwrap()),
        scopes: match (opts.scopes, opts.custom_server) {
            (Some(s), _) => s,
            (None, Some(_)) => "openid offline_access",
            (None, None) => "okta.users.read offline_access",
        }
        .to_owned(),
        listen: addr,
        public_url: Some(public_url.parse().unwrap()),
        admin_token: Some(SecretString::from(admin_token.clone())),
        refresh_ahead: 0,
        refresh_margin: opts.refresh_margin.as_secs(),
        header_read_timeout: 10,
        max_connections: 1024,
        body_read_timeout: 10,
        max_long_polls: 256,
        scim_max_in_flight: 64,
        sync_concurrency: 4,
        delivery_concurrency: 128,
        delivery_per_endpoint: 32,
        shutdown_grace: 10,
        rate_limit_wait: 10,
        sync_interval: 0,
        sync_full_every: 86_400,
        feed_retention_days: 30,
        sync_budget: 50,
        console: match &opts.console {
            Some((emails, groups)) => okta_bridge::settings::ConsoleSettings {
                issuer: Some(sandbox.url().parse().unwrap()),
                client_id: Some(sandbox.config().client_id.clone()),
                client_secret: Some(SecretString::from(sandbox.config().client_secret_value().to_owned())),
                allowed_emails: emails.clone(),
                allowed_groups: groups.clone(),
            },
            None => okta_bridge::settings::ConsoleSettings::default(),
        },
        store,
    };
    (opts.settings)(&mut settings);
    let app = App::build(&settings, OrgSource::BuiltInSandbox, None)
        .await
        .expect("the app builds");
    let store = app.service().store().clone();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.serve(listener, async {
        let _ = rx.await;
    }));
    TestApp {
        url,
        admin_token,
        store,
        sandbox,
        shutdown: Some(tx),
        server: Some(server),
    }
}

/// The development policy, said explicitly: the tests' orgs are sandboxes on loopback.
pub fn dev_egress() -> Egress {
    Egress::allow_private_for_development()
}

/// A service on `store` reaching orgs as `egress` says, with `fallback` as its server-wide app.
pub fn service(store: &Store, fallback: Option<OAuthApp>, egress: Egress) -> Service {
    let redirect = fallback.as_ref().map_or_else(
        || "http://127.0.0.1/oauth/okta_callback".to_owned(),
        |o| o.redirect_uri().to_owned(),
    );
    let apps = Apps::new(store.clone(), fallback, redirect, egress);
    Service::new(store.clone(), Arc::new(apps), Duration::from_secs(60))
}

/// A refresher on `store` with `oauth` as the app of connections without an account, reaching
/// the (loopback) orgs of tests.
pub fn refresher(store: &Store, oauth: Option<OAuthApp>, margin: Duration) -> Refresher {
    let redirect = oauth.as_ref().map_or_else(
        || "http://127.0.0.1/oauth/okta_callback".to_owned(),
        |o| o.redirect_uri().to_owned(),
    );
    let apps = Apps::new(store.clone(), oauth, redirect, dev_egress());
    Refresher::new(store.clone(), Arc::new(apps), margin)
}

/// `n` callers at once asking two refreshers for `account`'s token, alternately: two instances
/// on `db` (one on `store`, one on a store of its own), as two processes would be. Every
/// caller's token.
pub async fn two_instances_ask(
    app: &TestApp,
    db: &TestDb,
    store: &Store,
    account: &okta_bridge::model::AccountName,
    n: usize,
) -> Vec<String> {
    use secrecy::ExposeSecret;
    let oauth = oauth_app(app);
    let other_store = db.open().await;
    let a = Arc::new(refresher(store, Some(oauth.clone()), Duration::from_secs(60)));
    let b = Arc::new(refresher(&other_store, Some(oauth), Duration::from_secs(60)));
    futures::future::join_all((0..n).map(|i| {
        let (r, account) = (if i % 2 == 0 { a.clone() } else { b.clone() }, account.clone());
        async move {
            r.access_token(&account)
                .await
                .expect("every caller gets a token")
                .expose_secret()
                .to_owned()
        }
    }))
    .await
}

/// A browser: keeps cookies, follows redirects one by one so tests can see each hop.
pub struct Browser {
    pub http: reqwest::Client,
    /// Every URL visited by the last `visit`.
    pub hops: Vec<String>,
}

impl Browser {
    pub fn new() -> Self {
        Self::trusting(None)
    }

    /// A browser that also trusts the CA certificates of `ca_pem` (a sandbox's).
    pub fn trusting(ca_pem: Option<&str>) -> Self {
        let mut builder = reqwest::Client::builder().cookie_store(true).redirect(Policy::none());
        if let Some(pem) = ca_pem {
            builder = builder.tls_certs_merge(reqwest::Certificate::from_pem_bundle(pem.as_bytes()).unwrap());
        }
        Self {
            http: builder.build().unwrap(),
            hops: Vec::new(),
        }
    }

    /// Follows redirects from `res` until a non-redirect answer.
    async fn follow(&mut self, mut res: reqwest::Response) -> reqwest::Response {
        for _ in 0..10 {
            if !res.status().is_redirection() {
                return res;
            }
            let location = res.headers()[reqwest::header::LOCATION].to_str().unwrap().to_owned();
            let next = res.url().join(&location).unwrap();
            self.hops.push(next.to_string());
            res = self.http.get(next).send().await.unwrap();
        }
        panic!("too many redirects: {:?}", self.hops);
    }

    /// A browser signed in to `app` as its admin.
    pub async fn signed_in(app: &TestApp) -> Self {
        let mut b = Self::new();
        b.sign_in(&app.url, &app.admin_token).await;
        b
    }

    /// Signs in through the sign-in form (which carries its CSRF token) with `admin_token`.
    pub async fn sign_in(&mut self, app_url: &str, admin_token: &str) -> reqwest::Response {
        let page = self.visit(&format!("{app_url}/login")).await;
        assert_eq!(page.status(), 200);
        let page_url = page.url().clone();
        let html = page.text().await.unwrap();
        let res = self.submit(&page_url, &html, &[("token", admin_token)]).await;
        assert_eq!(res.url().path(), "/", "signed in: {:?}", self.hops);
        res
    }

    /// Asks `app_url` to start connecting `account` (or the server's org) as its page's
    /// button does: the page (`GET /authenticate_okta`), then its form posted with the page's
    /// CSRF token. The answer to the post, not followed (a redirect to Okta when it started).
    pub async fn connect_request(&self, app_url: &str, account: Option<&str>) -> reqwest::Response {
        let mut page = format!("{app_url}/authenticate_okta");
        if let Some(a) = account {
            page.push_str(&format!("?account={a}"));
        }
        let res = self.http.get(&page).send().await.unwrap();
        assert_eq!(res.status(), 200, "the connect page of {page}");
        let html = res.text().await.unwrap();
        let mut form = vec![("csrf".to_owned(), hidden_value(&html, "csrf"))];
        if let Some(a) = account {
            form.push(("account".to_owned(), a.to_owned()));
        }
        self.http
            .post(format!("{app_url}/authenticate_okta"))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// [`connect_request`](Self::connect_request), following where it leads (Okta's sign-in
    /// page when it started).
    pub async fn start_connect(&mut self, app_url: &str, account: Option<&str>) -> reqwest::Response {
        self.hops = vec![format!("{app_url}/authenticate_okta")];
        let res = self.connect_request(app_url, account).await;
        self.follow(res).await
    }

    /// The body of the page at `url` (redirects followed).
    pub async fn read(&mut self, url: &str) -> String {
        self.visit(url).await.text().await.unwrap()
    }

    pub async fn visit(&mut self, url: &str) -> reqwest::Response {
        self.hops = vec![url.to_owned()];
        let res = self.http.get(url).send().await.unwrap();
        self.follow(res).await
    }

    /// Submits the first form of `page` (hidden inputs kept) with `fields` filled in.
    pub async fn submit(&mut self, page_url: &reqwest::Url, html: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let action = attr(html, "<form", "action").expect("the page has a form");
        let mut form: Vec<(String, String)> = hidden_inputs(html);
        for (k, v) in fields {
            form.push(((*k).to_owned(), (*v).to_owned()));
        }
        let target = page_url.join(&html_unescape(&action)).unwrap();
        self.hops = vec![target.to_string()];
        let res = self.http.post(target).form(&form).send().await.unwrap();
        self.follow(res).await
    }
}

fn html_unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#47;", "/")
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

/// The value of attribute `name` in the first tag starting with `tag`.
fn attr(html: &str, tag: &str, name: &str) -> Option<String> {
    let start = html.find(tag)?;
    let end = start + html[start..].find('>')?;
    attr_in(&html[start..end], name)
}

fn attr_in(tag: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let i = tag.find(&needle)? + needle.len();
    let j = i + tag[i..].find('"')?;
    Some(html_unescape(&tag[i..j]))
}

fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    html.match_indices("<input")
        .filter_map(|(i, _)| {
            let tag = &html[i..i + html[i..].find('>')?];
            (attr_in(tag, "type")? == "hidden")
                .then(|| Some((attr_in(tag, "name")?, attr_in(tag, "value").unwrap_or_default())))?
        })
        .collect()
}

/// Runs the whole connect flow in `browser` as the sandbox's admin. Returns the final page.
pub async fn connect(app: &TestApp, browser: &mut Browser) -> reqwest::Response {
    if browser.visit(&format!("{}/", app.url)).await.url().path() == "/login" {
        browser.sign_in(&app.url, &app.admin_token).await;
    }
    let res = browser.start_connect(&app.url, None).await;
    sign_in_to_org(browser, res, &app.sandbox).await
}

/// Runs the connect flow of account `name` in `browser` (signed in) as the sandbox's admin.
pub async fn connect_account(app: &TestApp, browser: &mut Browser, name: &str) -> reqwest::Response {
    let res = browser.start_connect(&app.url, Some(name)).await;
    let res = sign_in_to_org(browser, res, &app.sandbox).await;
    assert_eq!(res.url().path(), "/", "connected: {:?}", browser.hops);
    res
}

/// Fills in `org`'s sign-in page `res` as its admin and follows where it leads.
pub async fn sign_in_to_org(browser: &mut Browser, res: reqwest::Response, org: &Sandbox) -> reqwest::Response {
    let c = org.config();
    sign_in_to_org_as(browser, res, &c.admin_login, c.user_password_value()).await
}

/// Fills in an org's sign-in page `res` as `login` with `password` and follows where it leads.
pub async fn sign_in_to_org_as(
    browser: &mut Browser,
    res: reqwest::Response,
    login: &str,
    password: &str,
) -> reqwest::Response {
    assert_eq!(res.status(), 200, "sign-in page: {:?}", browser.hops);
    let page_url = res.url().clone();
    let html = res.text().await.unwrap();
    assert!(
        html.contains("name=\"username\"") && html.contains("name=\"password\""),
        "{html}"
    );
    browser
        .submit(&page_url, &html, &[("username", login), ("password", password)])
        .await
}

/// GETs an app API path with the admin token.
pub async fn api_get(app: &TestApp, path_or_url: &str) -> reqwest::Response {
    let url = if path_or_url.starts_with("http") {
        path_or_url.to_owned()
    } else {
        format!("{}{path_or_url}", app.url)
    };
    reqwest::Client::new()
        .get(url)
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap()
}

/// The `rel="next"` target of a response.
pub fn next_link(res: &reqwest::Response) -> Option<String> {
    res.headers().get_all(reqwest::header::LINK).iter().find_map(|v| {
        let v = v.to_str().ok()?;
        if !v.contains("rel=\"next\"") {
            return None;
        }
        Some(v[v.find('<')? + 1..v.find('>')?].to_owned())
    })
}

/// The OAuth app a [`TestApp`] refreshes with (its sandbox's web app).
pub fn oauth_app(app: &TestApp) -> OAuthApp {
    OAuthApp::new(
        OrgUrl::parse(app.sandbox.url()).unwrap(),
        app.sandbox.config().client_id.clone(),
        ClientSecret::from(app.sandbox.config().client_secret.clone()),
        &format!("{}/oauth/okta_callback", app.url),
        Scopes::parse("okta.users.read offline_access").unwrap(),
        dev_egress(),
    )
    .unwrap()
}

/// The OAuth app of a [`TestApp`] at its sandbox's custom authorization server `id`.
pub async fn oauth_app_at(app: &TestApp, id: &str) -> OAuthApp {
    OAuthApp::discover(
        OrgUrl::parse(app.sandbox.url()).unwrap(),
        &format!("{}/oauth2/{id}", app.sandbox.url()).parse().unwrap(),
        app.sandbox.config().client_id.clone(),
        ClientSecret::from(app.sandbox.config().client_secret.clone()),
        &format!("{}/oauth/okta_callback", app.url),
        Scopes::parse("openid offline_access").unwrap(),
        dev_egress(),
    )
    .await
    .unwrap()
}

/// Starts `okta-bridge serve` with exactly `env` (nothing inherited but `PATH`; logs at
/// `warn` unless `env` says otherwise, stderr as `stderr` says); returns the process and the
/// URL it printed once listening.
pub async fn spawn_server_process(env: &[(&str, &str)]) -> (tokio::process::Child, String) {
    spawn_server_process_with(env, std::process::Stdio::inherit()).await
}

/// [`spawn_server_process`] with stderr going where `stderr` says.
pub async fn spawn_server_process_with(
    env: &[(&str, &str)],
    stderr: std::process::Stdio,
) -> (tokio::process::Child, String) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_okta-bridge"));
    cmd.arg("serve")
        .env_clear()
        .env("OKTA_BRIDGE_SYNC_INTERVAL", "0")
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("OKTA_BRIDGE_LOG", "okta_bridge=warn")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("okta-bridge serve starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the server prints where it listens");
        if let Some(rest) = line.strip_prefix("okta-bridge listening on ") {
            break rest.split_whitespace().next().unwrap().trim_end_matches('/').to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

/// The value of the hidden input `name` in `html`.
pub fn hidden_value(html: &str, name: &str) -> String {
    hidden_inputs(html)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no hidden input {name:?} in {html}"))
}

/// Opens the store at `url` with `key` (and `old` keys), as `StoreSettings` does.
pub async fn open_store_with(url: Option<&str>, key: Option<&str>, old: Option<&str>) -> okta_bridge::Result<Store> {
    let mut s = StoreSettings::new(
        url.unwrap_or(okta_bridge::settings::DEFAULT_DATABASE_URL),
        key.map(|k| SecretString::from(k.to_owned())),
    );
    s.old_master_keys = old.map(|k| SecretString::from(k.to_owned()));
    s.open().await
}

/// Calls the app's API as the admin; the body as JSON (or as a string when it is not).
pub async fn api(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (reqwest::StatusCode, serde_json::Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", app.url))
        .bearer_auth(&app.admin_token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// Server settings on `store` with every other setting at its default (no org, no background
/// refresher), as `okta-bridge serve` would have them.
pub fn server_settings(store: StoreSettings, admin_token: &str) -> Settings {
    Settings {
        org_url: None,
        client_id: None,
        client_secret: None,
        issuer: None,
        scopes: okta_bridge::model::DEFAULT_WEB_SCOPES.to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        public_url: None,
        admin_token: Some(SecretString::from(admin_token.to_owned())),
        refresh_ahead: 0,
        refresh_margin: 60,
        header_read_timeout: 10,
        max_connections: 1024,
        body_read_timeout: 10,
        max_long_polls: 256,
        scim_max_in_flight: 64,
        sync_concurrency: 4,
        delivery_concurrency: 128,
        delivery_per_endpoint: 32,
        shutdown_grace: 10,
        rate_limit_wait: 10,
        sync_interval: 0,
        sync_full_every: 86_400,
        feed_retention_days: 30,
        sync_budget: 50,
        console: okta_bridge::settings::ConsoleSettings::default(),
        store,
    }
}

/// Gives every webhook stream's lease back (as running out would, a minute after a process
/// holding one died).
pub async fn break_stream_leases(db: &TestDb) {
    exec_sql(db, "UPDATE webhook_streams SET lease_owner = NULL, lease_until = NULL").await;
}

/// Runs `sql` on the test's database with a connection of its own (what another process, or
/// time passing, would have done).
pub async fn exec_sql(db: &TestDb, sql: &'static str) {
    use sqlx::Connection;
    if db.url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query(sql).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        sqlx::query(sql).execute(&mut c).await.unwrap();
    }
}

/// A Management API call to the test app's own org with its admin's API token, straight (no
/// faults are set while it is called; a 5xx fails the test).
pub async fn org_call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", app.sandbox.url()))
        .header(
            "authorization",
            format!("SSWS {}", app.sandbox.config().api_token_value()),
        );
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let body = res.json().await.unwrap_or(serde_json::Value::Null);
    assert!(status < 500, "the org failed a direct call: {path}: {body}");
    (status, body)
}

/// `GET path` at `org` with its admin's API token: what the org itself answers, as JSON.
pub async fn org_get(org: &Sandbox, path: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("{}{path}", org.url()))
        .header("authorization", format!("SSWS {}", org.config().api_token_value()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Sends `POST path` to the server at `url` (`http://host:port`) with `headers` (each ending
/// in `\r\n`), announcing a body of `length` bytes, then sends none of it. The answer's status
/// line, if one comes within `within` (`None` otherwise).
pub async fn withhold_body(url: &str, path: &str, headers: &str, length: usize, within: Duration) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.strip_prefix("http://").expect("an http URL");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {length}\r\n\r\n").as_bytes(),
        )
        .await
        .expect("send the head");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(within, stream.read(&mut buf)).await.ok()?.ok()?;
    String::from_utf8_lossy(&buf[..n]).lines().next().map(str::to_owned)
}

/// Adds account `name` for `app`'s sandbox and connects it with the sandbox's API token, as the
/// JSON API does it.
pub async fn connect_by_api_token(app: &TestApp, name: &str) {
    let (status, body) = api(
        app,
        reqwest::Method::POST,
        "/api/accounts",
        Some(serde_json::json!({ "name": name, "orgUrl": app.sandbox.url() })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let token = app.sandbox.config().api_token_value().to_owned();
    let (status, body) = api(
        app,
        reqwest::Method::POST,
        &format!("/api/accounts/{name}/connect"),
        Some(serde_json::json!({ "apiToken": token })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
