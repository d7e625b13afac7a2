//! Directory sync: reading an org through okta-client, comparing what was read with what is
//! stored, and saying every difference as a change-feed event.
//!
//! A full read (the pass of `service/pass.rs`, page by page) compares everything, so it finds
//! every change, whoever made it and however it reached Okta; it is also the reconciliation
//! that catches what an incremental read missed. An incremental read ([`read_changes`]) asks Okta only for what
//! changed since the cursors the previous run left: users and groups by `lastUpdated`,
//! memberships, deletions and app assignments from the System Log, a group's members re-read
//! only when the log does not account for its `lastMembershipUpdated`. Both end in the same
//! [`diff`] against the stored directory (an incremental read, against only the part around
//! what changed), so a change read twice is said once, and a no-op
//! says nothing. A targeted read ([`read_named`]) reads only the objects Okta event hooks
//! named, against the part of the stored directory around them.

mod diff;
mod incremental;
mod read;
mod targeted;

pub(crate) use diff::{Link, app_user_links, diff_apps, link_changes, member_links};
pub use diff::{counts, diff, fold};
pub use incremental::{Incremental, StoredRows, read_changes};
pub(crate) use read::{
    APP_USERS_PAGE, AppUsers, CONCURRENT_READS, LOG_OVERLAP, MEMBERS_PAGE, USERS_PAGE, app_group_ids, app_user_ids,
    dir_group, dir_user, instant, log_cursor, read_app, read_apps, text,
};
pub use targeted::{Named, apply_named, ids_named, read_groups, read_named};
