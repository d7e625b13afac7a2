//! `okta-bridge accounts connect NAME --browser`: the authorization-code flow with PKCE from
//! the command line, as native apps do it (RFC 8252): a listener on `127.0.0.1` at a port the
//! system picks, the browser sent to the org's sign-in, the code taken at the loopback
//! redirect and exchanged; as `gh auth login` does.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use axum::extract::{Query, State};
use axum::response::Html;
use okta_bridge::model::AccountName;
use okta_bridge::oauth::CallbackParams;
use okta_bridge::service::Service;
use okta_bridge::settings::StoreSettings;
use secrecy::ExposeSecret;
use tokio::sync::{Mutex, oneshot};

use super::connections::open_service_redirecting;

/// How long the command waits for the sign-in.
const SIGN_IN_WAIT: Duration = Duration::from_secs(600);

/// What the loopback callback hands back to the command.
struct Waiting {
    service: Service,
    binding: String,
    session: String,
    done: Mutex<Option<oneshot::Sender<Result<AccountName, String>>>>,
}

/// The page the browser shows after the redirect.
fn page(title: &str, text: &str) -> Html<String> {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{t}</title></head><body style=\"font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem\"><h1>{t}</h1><p>{x}</p></body></html>",
        t = escape(title),
        x = escape(text)
    ))
}

async fn callback(State(w): State<Arc<Waiting>>, Query(params): Query<CallbackParams>) -> Html<String> {
    let outcome = w
        .service
        .finish_authorization(&params, Some(&w.binding), &[w.session.as_str()])
        .await
        .map_err(|e| e.to_string());
    let shown = match &outcome {
        Ok(name) => page(
            "Connected",
            &format!("okta-bridge connected account {name}. You can close this tab and go back to the terminal."),
        ),
        Err(e) => page("Not connected", &format!("{e}. Go back to the terminal.")),
    };
    if let Some(tx) = w.done.lock().await.take() {
        let _ = tx.send(outcome);
    }
    shown
}

/// Connects web-app account `name` through the org's sign-in in a browser (opened unless
/// `open_browser` is false: then the URL is only printed), listening on `127.0.0.1:port` (0:
/// a port the system picks).
pub(crate) async fn connect_in_browser(
    name: &AccountName,
    store: &StoreSettings,
    open_browser: bool,
    port: u16,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{port} for the sign-in's redirect (--port)"))?;
    let port = listener.local_addr()?.port();
    let redirect = format!("http://127.0.0.1:{port}/oauth/okta_callback");
    let service = open_service_redirecting(store, &redirect).await?;
    let Some(app) = service.web_app_for(Some(name)).await? else {
        bail!(
            "account {name} has no OAuth web app: --browser is for accounts added with --client-id (connect others with --api-token-stdin, or as a service app)"
        );
    };
    let session = okta_bridge::crypto::random_secret();
    let started = service.start_authorization(&app, Some(name.clone()), &session).await?;
    let (tx, rx) = oneshot::channel();
    let waiting = Arc::new(Waiting {
        service,
        binding: started.browser_binding.expose_secret().to_owned(),
        session,
        done: Mutex::new(Some(tx)),
    });
    let router = axum::Router::new()
        .route("/oauth/okta_callback", axum::routing::get(callback))
        .with_state(waiting);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let url = started.authorize_url.as_str();
    eprintln!(
        "Sign in to {} as an administrator who may grant the app's scopes; okta-bridge waits at {redirect}.",
        app.org()
    );
    let opened = open_browser && webbrowser::open(url).is_ok();
    if opened {
        eprintln!("Opened the browser. If it did not open, go to:");
    } else {
        eprintln!("Open this URL in a browser:");
    }
    eprintln!("{url}");
    let outcome = tokio::select! {
        r = tokio::time::timeout(SIGN_IN_WAIT, rx) => r,
        _ = tokio::signal::ctrl_c() => {
            let _ = stop.send(());
            bail!("interrupted before the sign-in finished; nothing was stored");
        }
    };
    let _ = stop.send(());
    let _ = server.await;
    match outcome {
        Ok(Ok(Ok(account))) => {
            println!("Connected {account} through the org's sign-in.");
            Ok(())
        }
        Ok(Ok(Err(e))) => bail!("{e}"),
        Ok(Err(_)) => bail!("the sign-in listener stopped before the sign-in finished; run the command again"),
        Err(_) => bail!(
            "no sign-in within {} minutes; run the command again",
            SIGN_IN_WAIT.as_secs() / 60
        ),
    }
}
