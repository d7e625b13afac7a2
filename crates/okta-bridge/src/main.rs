use clap::Parser;

mod cli;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("OKTA_BRIDGE_LOG")
        .unwrap_or_else(|_| "okta_bridge=info,warn".into());
    // OKTA_BRIDGE_LOG_FORMAT=json: one JSON object per line, for log pipelines.
    let json = std::env::var("OKTA_BRIDGE_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        logs.json().flatten_event(true).init();
    } else {
        logs.init();
    }
    match cli::run(cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", cli::report(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
