use rand::Rng;
use rand::distr::Alphanumeric;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Okta's timestamp shape: `2013-06-24T16:39:18.000Z`.
pub(crate) fn okta_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let t = t.replace_nanosecond(t.millisecond() as u32 * 1_000_000).unwrap_or(t);
    let s = t.format(&Rfc3339).unwrap_or_default();
    // Rfc3339 drops a zero fraction; Okta always prints milliseconds.
    if s.contains('.') {
        s
    } else {
        s.replacen('Z', ".000Z", 1)
    }
}

/// A random string of base62 characters, for ids, codes and tokens.
pub(crate) fn random_token(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Compares secrets in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn okta_time_always_has_millis() {
        let t = time::macros::datetime!(2013-06-24 16:39:18 UTC);
        assert_eq!(okta_time(t), "2013-06-24T16:39:18.000Z");
        let t = time::macros::datetime!(2013-06-24 16:39:18.123456 UTC);
        assert_eq!(okta_time(t), "2013-06-24T16:39:18.123Z");
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
