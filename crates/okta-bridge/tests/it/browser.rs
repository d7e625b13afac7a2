//! A real headless Chromium, driven over WebDriver (chromedriver, on a port it picks itself).
//! Debian's `chromium` and `chromium-driver` packages; `.ci/run` installs them.

use std::process::Stdio;

use fantoccini::{Client, ClientBuilder, Locator};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A browser and the chromedriver that drives it; both end when it is dropped, also when a
/// test fails half-way (the driver runs in a process group of its own, which Chromium joins,
/// and the whole group is killed).
pub struct Chrome {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Chrome {
    fn drop(&mut self) {
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn binary(env: &str, default: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| default.to_owned())
}

impl Chrome {
    /// [`start`](Self::start), or `None` with a note when chromedriver is not installed and
    /// nothing requires the browser tests (`CI` unset): `cargo test` on a fresh machine skips
    /// them as it skips the SDK checks; `.ci/run` installs Chromium and runs them.
    pub async fn start_or_skip() -> Option<Self> {
        let driver_bin = binary("CHROMEDRIVER", "chromedriver");
        let installed = Command::new(&driver_bin)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .is_ok();
        if !installed && std::env::var_os("CI").is_none() {
            eprintln!(
                "{driver_bin} is not installed: skipping this browser test (apt-get install chromium chromium-driver, or bash .ci/run, runs it)"
            );
            return None;
        }
        Some(Self::start().await)
    }

    /// Starts chromedriver on a free port (it says which on stdout) and a headless Chromium
    /// with a profile of its own.
    pub async fn start() -> Self {
        let driver_bin = binary("CHROMEDRIVER", "chromedriver");
        let mut driver = Command::new(&driver_bin)
            .arg("--port=0")
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {driver_bin} ({e}): install Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
            });
        let mut lines = BufReader::new(driver.stdout.take().unwrap()).lines();
        let port = loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("chromedriver ended before it said its port");
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                break rest.trim_end_matches('.').trim().parse::<u16>().unwrap();
            }
        };
        // Keep reading its output so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": binary("CHROMIUM", "/usr/bin/chromium"),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--window-size=1000,1200",
                    // Nothing in the background: no machine here reaches the internet.
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-default-apps", "--disable-extensions", "--disable-sync",
                    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
                    "--no-default-browser-check", "--password-store=basic", "--use-mock-keychain",
                    "--metrics-recording-only", "--no-proxy-server",
                    "--disable-crash-reporter", "--disable-breakpad",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        Self {
            client,
            driver,
            _profile: profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// The visible text of the page. A page that was still being replaced when its body was
    /// looked for (no body yet, or the element went stale) is read again, from the new
    /// document: the driver waits for the new body.
    pub async fn text(&self) -> String {
        let mut tries = 0;
        loop {
            let body = self.client.wait().for_element(Locator::Css("body")).await.unwrap();
            match body.text().await {
                Ok(text) => return text,
                Err(fantoccini::error::CmdError::Standard(e))
                    if e.error == fantoccini::error::ErrorStatus::StaleElementReference && tries < 10 =>
                {
                    tries += 1;
                }
                Err(e) => panic!("the page's text: {e}"),
            }
        }
    }

    /// The path of the page now shown.
    pub async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    /// Types `value` into the field with id `id` (replacing what it held).
    pub async fn fill(&self, id: &str, value: &str) {
        let field = self
            .client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("field {id}: {e}"));
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    /// Chooses the option whose value is `value` in the select with id `id`.
    pub async fn select(&self, id: &str, value: &str) {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("select {id}: {e}"))
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("select {id} = {value}: {e}"));
    }

    /// Clicks the element with id `id` (chromedriver waits for the navigation it starts).
    pub async fn click(&self, id: &str) {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("element {id}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Clicks the element with id `id` and waits until the browser shows `url` (a form's answer,
    /// or where it redirects): the click alone may return before the navigation it starts ends.
    pub async fn submit(&self, id: &str, url: &str) {
        self.click(id).await;
        if let Err(e) = self.client.wait().for_url(&url.parse().unwrap()).await {
            let at = self
                .client
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            panic!("not at {url} but {at} ({e}): {}", self.text().await);
        }
    }

    /// Clicks the link whose text is `text` and waits until the browser shows `url`.
    pub async fn click_link(&self, text: &str, url: &str) {
        self.client
            .find(Locator::LinkText(text))
            .await
            .unwrap_or_else(|e| panic!("link {text:?}: {e}"))
            .click()
            .await
            .unwrap();
        if let Err(e) = self.client.wait().for_url(&url.parse().unwrap()).await {
            panic!("the link {text:?} did not lead to {url} ({e})");
        }
    }

    /// The text of the element with id `id`.
    pub async fn text_of(&self, id: &str) -> String {
        self.client
            .wait()
            .for_element(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("element {id}: {e}"))
            .text()
            .await
            .unwrap()
    }

    /// Ends the session (Chromium quits); dropping then ends the driver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}
