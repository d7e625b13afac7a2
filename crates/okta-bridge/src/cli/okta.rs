//! What the commands on an org's resources share (`users`, `groups`, `apps`, `logs`): which
//! org and how to reach it, the output formats (written as items arrive: memory stays flat
//! whatever the org's size) and the progress bar shown on a terminal.

use std::io::{BufWriter, IsTerminal, Write};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use futures::{Stream, StreamExt};
use okta_bridge::settings::{StoreSettings, secret};
use okta_client::{Client, Page};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use super::connections::{WebAppFlags, open_connection};

/// The org a command reads, and how.
#[derive(Debug, clap::Args)]
pub(crate) struct OrgArgs {
    /// The org, e.g. https://dev-207260.okta.com.
    #[arg(long, env = "OKTA_CLIENT_ORGURL")]
    org_url: Option<String>,
    /// An SSWS API token of the org (prefer the environment variable).
    #[arg(long, env = "OKTA_CLIENT_TOKEN", hide_env_values = true, value_parser = secret)]
    api_token: Option<SecretString>,
    /// Read through a stored connection instead (refreshed as needed).
    #[arg(long)]
    connection: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub(crate) format: Format,
    #[command(flatten)]
    app: WebAppFlags,
    #[command(flatten)]
    store: StoreSettings,
}

impl OrgArgs {
    /// A client of the org: through the stored connection, or with the org URL and API token.
    pub(crate) async fn client(&self) -> Result<Client> {
        match (&self.connection, &self.org_url, &self.api_token) {
            (Some(account), _, _) => {
                let (account, service) = open_connection(account, &self.store, &self.app).await?;
                Ok(service.client(&account).await?)
            }
            (None, Some(org), Some(token)) => {
                let mut builder = Client::builder(org)?.api_token(token.expose_secret());
                // The org as given (no address policy: it was typed here); the CA file still counts.
                if let Some(pem) = self.store.egress()?.extra_ca_pem() {
                    builder = builder.trust_pem(pem.as_bytes())?;
                }
                Ok(builder.build()?)
            }
            (None, None, _) => bail!(
                "say which org: --connection ACCOUNT, or --org-url and --api-token (OKTA_CLIENT_ORGURL / OKTA_CLIENT_TOKEN)"
            ),
            (None, Some(_), None) => {
                bail!("--org-url needs --api-token (or OKTA_CLIENT_TOKEN), or use --connection ACCOUNT")
            }
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns for people.
    Table,
    /// One JSON array (a JSON object for one item).
    Json,
    /// One JSON object a line.
    Ndjson,
    /// Comma-separated values with a header.
    Csv,
}

/// How a resource prints: its table's columns and its CSV's; the JSON is the resource as Okta
/// sent it.
pub(crate) trait Row: Serialize {
    /// Table columns: title and width (the last one takes the rest of the line).
    const TABLE: &'static [(&'static str, usize)];
    /// CSV columns.
    const CSV: &'static [&'static str];
    /// The table's cells, one per [`Row::TABLE`] column.
    fn table(&self) -> Vec<String>;
    /// The CSV's cells, one per [`Row::CSV`] column.
    fn csv(&self) -> Vec<String>;
}

/// Where a [`Sink`] writes: a buffered stream, or the CSV writer that owns it.
enum Out<W: Write> {
    Plain(BufWriter<W>),
    Csv(Box<csv::Writer<BufWriter<W>>>),
}

/// Writes rows of `R` in `format` as they come.
pub(crate) struct Sink<W: Write, R: Row> {
    format: Format,
    out: Out<W>,
    count: usize,
    _row: std::marker::PhantomData<R>,
}

impl<W: Write, R: Row> Sink<W, R> {
    pub(crate) fn new(format: Format, out: W) -> Self {
        let out = match format {
            Format::Csv => Out::Csv(Box::new(csv::Writer::from_writer(BufWriter::new(out)))),
            _ => Out::Plain(BufWriter::new(out)),
        };
        Self {
            format,
            out,
            count: 0,
            _row: std::marker::PhantomData,
        }
    }

    fn write(&mut self, text: &[u8]) -> std::io::Result<()> {
        match &mut self.out {
            Out::Plain(w) => w.write_all(text),
            Out::Csv(_) => Ok(()),
        }
    }

    fn table_line(&mut self, cells: &[String]) -> std::io::Result<()> {
        let mut line = String::new();
        for (i, ((_, width), cell)) in R::TABLE.iter().zip(cells).enumerate() {
            if i + 1 == R::TABLE.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  "));
            }
        }
        let line = format!("{}\n", line.trim_end());
        self.write(line.as_bytes())
    }

    fn record(&mut self, cells: &[impl AsRef<[u8]>]) -> Result<()> {
        if let Out::Csv(w) = &mut self.out {
            w.write_record(cells)?;
        }
        Ok(())
    }

    fn header(&mut self) -> Result<()> {
        match self.format {
            Format::Table => {
                let titles: Vec<String> = R::TABLE.iter().map(|(t, _)| (*t).to_owned()).collect();
                self.table_line(&titles)?;
            }
            Format::Csv => self.record(R::CSV)?,
            Format::Json => self.write(b"[")?,
            Format::Ndjson => {}
        }
        Ok(())
    }

    /// Writes one row. The header comes with the first: a listing that fails at once prints
    /// none.
    pub(crate) fn row(&mut self, item: &R) -> Result<()> {
        if self.count == 0 {
            self.header()?;
        }
        match self.format {
            Format::Table => self.table_line(&item.table())?,
            Format::Json => {
                let sep: &[u8] = if self.count > 0 { b",\n" } else { b"\n" };
                self.write(sep)?;
                let text = serde_json::to_vec(item)?;
                self.write(&text)?;
            }
            Format::Ndjson => {
                let mut text = serde_json::to_vec(item)?;
                text.push(b'\n');
                self.write(&text)?;
            }
            Format::Csv => self.record(&item.csv())?,
        }
        self.count += 1;
        Ok(())
    }

    /// Sends what is buffered on (a followed log shows events as they come).
    pub(crate) fn flush(&mut self) -> Result<()> {
        match &mut self.out {
            Out::Plain(w) => w.flush()?,
            Out::Csv(w) => w.flush()?,
        }
        Ok(())
    }

    /// Ends the output (an empty listing still gets its header, or `[]`).
    pub(crate) fn finish(mut self) -> Result<()> {
        if self.count == 0 {
            self.header()?;
        }
        if let Format::Json = self.format {
            let end: &[u8] = if self.count > 0 { b"\n]\n" } else { b"]\n" };
            self.write(end)?;
        }
        self.flush()
    }

    /// Writes `item` alone: a JSON object rather than an array, else as a listing of one.
    pub(crate) fn one(format: Format, out: W, item: &R) -> Result<()> {
        let mut sink = Self::new(format, out);
        if let Format::Json = format {
            let mut text = serde_json::to_vec_pretty(item)?;
            text.push(b'\n');
            sink.write(&text)?;
            return sink.flush();
        }
        sink.row(item)?;
        sink.finish()
    }
}

/// A progress bar on stderr while a listing runs, when stderr is a terminal (nothing
/// otherwise): items, rate, elapsed time, pages and requests.
pub(crate) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    client: Client,
    pages: u64,
}

impl Progress {
    /// A bar counting `noun` (plural) read by `client`.
    pub(crate) fn new(noun: &str, client: &Client) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            let template = format!("{{spinner}} {{human_pos}} {noun} · {{per_sec}} · {{elapsed}} · {{msg}}");
            bar.set_style(
                indicatif::ProgressStyle::with_template(&template)
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar.set_message("0 pages, 0 requests");
            bar.enable_steady_tick(std::time::Duration::from_millis(100));
            bar
        });
        Self {
            bar,
            client: client.clone(),
            pages: 0,
        }
    }

    /// No bar, whatever stderr is.
    pub(crate) fn hidden(client: &Client) -> Self {
        Self {
            bar: None,
            client: client.clone(),
            pages: 0,
        }
    }

    /// A page of `items` arrived.
    pub(crate) fn page(&mut self, items: usize) {
        self.pages += 1;
        if let Some(bar) = &self.bar {
            bar.inc(items as u64);
            let requests: u64 = self.client.requests_sent().iter().map(|(_, n)| n).sum();
            bar.set_message(format!("{} pages, {requests} requests", self.pages));
        }
    }

    /// Runs `write` (output to stdout) with the bar taken off the terminal meanwhile when
    /// stdout is that terminal too, so the two do not garble each other's lines.
    pub(crate) fn around<T>(&self, write: impl FnOnce() -> T) -> T {
        match &self.bar {
            Some(bar) if std::io::stdout().is_terminal() => bar.suspend(write),
            _ => write(),
        }
    }

    /// Takes the bar off the terminal, leaving a line of what was read.
    pub(crate) fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish();
        }
    }
}

/// Writes every item of `pages` in `format` to stdout, with a progress bar on a terminal.
/// `okta-bridge … | head` is not an error.
pub(crate) async fn write_pages<R: Row>(
    pages: impl Stream<Item = okta_client::Result<Page<R>>>,
    format: Format,
    client: &Client,
    noun: &str,
) -> Result<()> {
    let result = async {
        let mut progress = Progress::new(noun, client);
        let mut sink = Sink::new(format, std::io::stdout().lock());
        let mut pages = std::pin::pin!(pages);
        while let Some(page) = pages.next().await {
            let page = page.with_context(|| format!("listing {noun} failed"))?;
            progress.page(page.items.len());
            progress.around(|| -> Result<()> {
                for item in &page.items {
                    sink.row(item)?;
                }
                // On a terminal, the page shows now, not when the buffer fills.
                if std::io::stdout().is_terminal() {
                    sink.flush()?;
                }
                Ok(())
            })?;
        }
        sink.finish()?;
        progress.finish();
        Ok(())
    }
    .await;
    quiet_on_broken_pipe(result)
}

/// `result`, with stdout closed by its reader (`okta-bridge … | head`) not an error.
pub(crate) fn quiet_on_broken_pipe(result: Result<()>) -> Result<()> {
    match result {
        Err(e) if is_broken_pipe(&e) => Ok(()),
        other => other,
    }
}

/// Whether `e` is stdout closed by its reader.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let io = cause
            .downcast_ref::<std::io::Error>()
            .or_else(|| match cause.downcast_ref::<csv::Error>()?.kind() {
                csv::ErrorKind::Io(io) => Some(io),
                _ => None,
            });
        io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
