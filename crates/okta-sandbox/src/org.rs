//! The directory of a sandbox org: users generated deterministically from a seed.

use std::collections::{HashMap, HashSet};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use crate::config::SandboxConfig;
use crate::util::okta_time;

const FIRST_NAMES: &[&str] = &[
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Barbara",
    "Dennis",
    "Margaret",
    "Ken",
    "Frances",
    "Edsger",
    "Radia",
    "Donald",
    "Hedy",
    "Tim",
    "Katherine",
    "John",
    "Sophie",
    "Niklaus",
    "Anita",
    "Guido",
    "Shafi",
    "Leslie",
    "Joan",
    "Bjarne",
    "Mary",
    "James",
    "Lynn",
    "Robert",
    "Susan",
    "Vint",
    "Elena",
    "Mateo",
    "Priya",
    "Kenji",
    "Amara",
    "Lukas",
    "Sofia",
    "Omar",
    "Yuki",
    "Noah",
];
const LAST_NAMES: &[&str] = &[
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Liskov",
    "Ritchie",
    "Hamilton",
    "Thompson",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Knuth",
    "Lamarr",
    "Berners-Lee",
    "Johnson",
    "McCarthy",
    "Wilson",
    "Wirth",
    "Borg",
    "van Rossum",
    "Goldwasser",
    "Lamport",
    "Clarke",
    "Stroustrup",
    "Kenneth",
    "Gosling",
    "Conway",
    "Tarjan",
    "Kare",
    "Cerf",
    "García",
    "Rossi",
    "Patel",
    "Sato",
    "Okafor",
    "Müller",
    "Silva",
    "Haddad",
    "Tanaka",
    "O'Brien",
];
const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "Sales",
    "Marketing",
    "Finance",
    "Support",
    "People",
    "Legal",
    "Operations",
];
const TITLES: &[&str] = &[
    "Engineer",
    "Senior Engineer",
    "Manager",
    "Director",
    "Analyst",
    "Specialist",
    "Associate",
];
const CITIES: &[(&str, &str)] = &[
    ("San Francisco", "US"),
    ("New York", "US"),
    ("London", "GB"),
    ("Berlin", "DE"),
    ("Toronto", "CA"),
    ("Tokyo", "JP"),
    ("Sydney", "AU"),
];
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// One user of the org, as stored.
#[derive(Debug, Clone)]
pub(crate) struct OrgUser {
    pub id: String,
    pub status: &'static str,
    pub created: OffsetDateTime,
    pub activated: Option<OffsetDateTime>,
    pub status_changed: Option<OffsetDateTime>,
    pub last_login: Option<OffsetDateTime>,
    pub last_updated: OffsetDateTime,
    pub password_changed: Option<OffsetDateTime>,
    pub profile: Profile,
    pub is_super_admin: bool,
}

/// The base profile attributes the sandbox generates (Okta's `UserProfile`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Profile {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub login: String,
    pub display_name: String,
    pub mobile_phone: Option<String>,
    pub second_email: Option<String>,
    pub department: String,
    pub title: String,
    pub city: String,
    pub country_code: String,
    pub employee_number: String,
}

impl OrgUser {
    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }

    /// The user in Okta's JSON shape. A collection carries only the `self` link, a single
    /// user the lifecycle links its status allows (as Okta does).
    pub fn to_json(&self, base: &str, type_id: &str, full_links: bool) -> Value {
        let href = format!("{base}/api/v1/users/{}", self.id);
        let mut links = json!({ "self": { "href": href } });
        if full_links {
            let post = |op: &str| json!({ "href": format!("{href}/lifecycle/{op}"), "method": "POST" });
            let l = links.as_object_mut().expect("links is an object");
            match self.status {
                "ACTIVE" => {
                    l.insert("suspend".into(), post("suspend"));
                    l.insert("resetPassword".into(), post("reset_password"));
                    l.insert("expirePassword".into(), post("expire_password"));
                    l.insert("deactivate".into(), post("deactivate"));
                }
                "SUSPENDED" => {
                    l.insert("unsuspend".into(), post("unsuspend"));
                    l.insert("deactivate".into(), post("deactivate"));
                }
                _ => {
                    l.insert("activate".into(), post("activate"));
                    l.insert("deactivate".into(), post("deactivate"));
                }
            }
            l.insert(
                "type".into(),
                json!({ "href": format!("{base}/api/v1/meta/types/user/{type_id}") }),
            );
            l.insert(
                "schema".into(),
                json!({ "href": format!("{base}/api/v1/meta/schemas/user/{type_id}") }),
            );
        }
        let has_password = self.password_changed.is_some();
        let mut credentials = json!({ "provider": { "type": "OKTA", "name": "OKTA" } });
        if has_password {
            credentials["password"] = json!({});
        }
        json!({
            "id": self.id,
            "status": self.status,
            "created": okta_time(self.created),
            "activated": self.activated.map(okta_time),
            "statusChanged": self.status_changed.map(okta_time),
            "lastLogin": self.last_login.map(okta_time),
            "lastUpdated": okta_time(self.last_updated),
            "passwordChanged": self.password_changed.map(okta_time),
            "type": { "id": type_id },
            "profile": self.profile,
            "credentials": credentials,
            "_links": links,
        })
    }
}

/// All users of the org, sorted by id (the order Okta lists them in), with indexes.
#[derive(Debug)]
pub(crate) struct Directory {
    pub users: Vec<OrgUser>,
    pub user_type_id: String,
    by_id: HashMap<String, usize>,
    by_login: HashMap<String, usize>,
}

fn okta_id(rng: &mut ChaCha8Rng, prefix: &str) -> String {
    let mut id = String::with_capacity(20);
    id.push_str(prefix);
    for _ in 0..17 {
        id.push(BASE62[rng.random_range(0..BASE62.len())] as char);
    }
    id
}

fn ascii_slug(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'á' | 'à' | 'ä' => 'a',
            'é' | 'è' => 'e',
            'í' => 'i',
            'ó' | 'ö' => 'o',
            'ú' | 'ü' => 'u',
            c => c.to_ascii_lowercase(),
        })
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

impl Directory {
    /// Generates `config.users` users from `config.seed`. The first generated user is the
    /// super admin with `config.admin_login`.
    pub fn generate(config: &SandboxConfig) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let user_type_id = okta_id(&mut rng, "oty");
        let epoch = time::macros::datetime!(2021-01-04 09:00 UTC);
        let admin_login = config.admin_login.to_ascii_lowercase();
        let mut logins: HashSet<String> = HashSet::from([admin_login.clone()]);
        let mut ids: HashSet<String> = HashSet::new();
        let mut users = Vec::with_capacity(config.users);
        for n in 0..config.users {
            let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
            let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
            let is_admin = n == 0;
            let login = if is_admin {
                config.admin_login.clone()
            } else {
                let stem = format!("{}.{}", ascii_slug(first), ascii_slug(last));
                let mut candidate = format!("{stem}@example.com");
                let mut k = 2;
                while logins.contains(&candidate) {
                    candidate = format!("{stem}{k}@example.com");
                    k += 1;
                }
                logins.insert(candidate.clone());
                candidate
            };
            let mut id = okta_id(&mut rng, "00u");
            while !ids.insert(id.clone()) {
                id = okta_id(&mut rng, "00u");
            }
            let created = epoch + Duration::minutes(rng.random_range(0..60 * 24 * 365 * 4));
            let roll = rng.random_range(0..100);
            let status = match roll {
                _ if is_admin => "ACTIVE",
                0..90 => "ACTIVE",
                90..94 => "SUSPENDED",
                94..97 => "STAGED",
                _ => "PROVISIONED",
            };
            let activated =
                matches!(status, "ACTIVE" | "SUSPENDED").then(|| created + Duration::minutes(rng.random_range(1..600)));
            let last_login = (status == "ACTIVE" || status == "SUSPENDED")
                .then(|| epoch + Duration::days(4 * 365) + Duration::minutes(rng.random_range(0..60 * 24 * 200)));
            let status_changed = match status {
                "ACTIVE" | "SUSPENDED" => activated.map(|a| a + Duration::minutes(rng.random_range(0..60))),
                _ => None,
            };
            let last_updated = [Some(created), activated, status_changed]
                .into_iter()
                .flatten()
                .max()
                .unwrap_or(created);
            let (display_first, display_last) = if is_admin { ("Ada", "Admin") } else { (first, last) };
            let (city, country) = CITIES[rng.random_range(0..CITIES.len())];
            let phone = rng
                .random_bool(0.6)
                .then(|| format!("+1 555 {:04}", rng.random_range(0..10_000)));
            users.push(OrgUser {
                id,
                status,
                created,
                activated,
                status_changed,
                last_login,
                last_updated,
                password_changed: activated,
                profile: Profile {
                    first_name: display_first.to_owned(),
                    last_name: display_last.to_owned(),
                    email: login.clone(),
                    login,
                    display_name: format!("{display_first} {display_last}"),
                    mobile_phone: phone,
                    second_email: None,
                    department: DEPARTMENTS[rng.random_range(0..DEPARTMENTS.len())].to_owned(),
                    title: TITLES[rng.random_range(0..TITLES.len())].to_owned(),
                    city: city.to_owned(),
                    country_code: country.to_owned(),
                    employee_number: format!("{:06}", n + 1),
                },
                is_super_admin: is_admin,
            });
        }
        users.sort_by(|a, b| a.id.cmp(&b.id));
        let by_id = users.iter().enumerate().map(|(i, u)| (u.id.clone(), i)).collect();
        let by_login = users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.profile.login.to_ascii_lowercase(), i))
            .collect();
        Self {
            users,
            user_type_id,
            by_id,
            by_login,
        }
    }

    /// A user by id or by login (logins compare case-insensitively, as Okta's do).
    pub fn find(&self, id_or_login: &str) -> Option<&OrgUser> {
        self.by_id
            .get(id_or_login)
            .or_else(|| self.by_login.get(&id_or_login.to_ascii_lowercase()))
            .map(|&i| &self.users[i])
    }

    /// Index of the first user listed after cursor `after` (an id; need not exist any more).
    pub fn position_after(&self, after: &str) -> usize {
        self.users.partition_point(|u| u.id.as_str() <= after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(users: usize, seed: u64) -> SandboxConfig {
        SandboxConfig {
            users,
            seed,
            ..SandboxConfig::default()
        }
    }

    #[test]
    fn generation_is_deterministic_and_exact() {
        let a = Directory::generate(&config(500, 7));
        let b = Directory::generate(&config(500, 7));
        let c = Directory::generate(&config(500, 8));
        assert_eq!(a.users.len(), 500);
        let ids = |d: &Directory| d.users.iter().map(|u| u.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
        assert_ne!(ids(&a), ids(&c));
        let logins: HashSet<_> = a.users.iter().map(|u| u.profile.login.clone()).collect();
        assert_eq!(logins.len(), 500, "logins are unique");
        assert!(a.users.iter().all(|u| u.id.len() == 20 && u.id.starts_with("00u")));
        assert!(a.users.windows(2).all(|w| w[0].id < w[1].id), "sorted by id");
    }

    #[test]
    fn admin_is_found_by_login_case_insensitively() {
        let d = Directory::generate(&config(10, 1));
        let admin = d.find("Admin@Example.com").expect("admin exists");
        assert!(admin.is_super_admin && admin.is_active());
        assert_eq!(d.find(&admin.id).map(|u| &u.id), Some(&admin.id));
        assert!(d.find("nobody@example.com").is_none());
    }

    #[test]
    fn position_after_skips_past_the_cursor() {
        let d = Directory::generate(&config(50, 3));
        assert_eq!(d.position_after(""), 0);
        assert_eq!(d.position_after(&d.users[9].id), 10);
        assert_eq!(d.position_after("zzzz"), 50);
    }
}
