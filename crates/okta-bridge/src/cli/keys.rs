//! `okta-bridge keys rotate`: re-encrypt every stored secret under the current master key.

use anyhow::Result;
use clap::Subcommand;
use okta_bridge::settings::StoreSettings;

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Re-encrypt every stored secret under OKTA_BRIDGE_MASTER_KEY, online. Put the previous key
    /// in OKTA_BRIDGE_OLD_MASTER_KEYS (for this command and for the servers, which must run
    /// with the new key first); afterwards the old key can go.
    Rotate(StoreSettings),
}

pub(crate) async fn run(cmd: KeysCommand) -> Result<()> {
    let KeysCommand::Rotate(store) = cmd;
    let store = store.open().await?;
    let n = store.rotate_keys().await?;
    println!(
        "Re-encrypted {n} stored secret(s) under key id {}.",
        okta_bridge::crypto::key_id_hex(&store.key_id())
    );
    Ok(())
}
