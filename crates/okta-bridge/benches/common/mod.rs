//! What the benches share.

/// A PostgreSQL URL for a bench, in a fresh schema `{prefix}_{pid}`: from
/// `OKTA_BRIDGE_TEST_POSTGRES` (default `postgres://root@127.0.0.1:5432/test`); `None` when it
/// is not reachable.
pub async fn postgres_url(prefix: &str) -> Option<String> {
    use sqlx::Connection;
    let base =
        std::env::var("OKTA_BRIDGE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned());
    let mut conn = sqlx::PgConnection::connect(&base).await.ok()?;
    let schema = format!("{prefix}_{}", std::process::id());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    )))
    .execute(&mut conn)
    .await
    .ok()?;
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}
