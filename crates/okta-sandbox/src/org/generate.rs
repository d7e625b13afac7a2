//! Generating an org from a seed: users with plausible names, departments and places, groups
//! and apps, the same for the same seed.

use std::collections::HashSet;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use time::{Duration, OffsetDateTime};

use super::{Directory, OrgApp, OrgGroup, OrgUser, Profile, okta_id};
use crate::config::SandboxConfig;

pub(crate) const FIRST_NAMES: &[&str] = &[
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
pub(crate) const LAST_NAMES: &[&str] = &[
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
pub(crate) const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "Sales",
    "Marketing",
    "Finance",
    "Support",
    "People",
    "Legal",
    "Operations",
];
pub(crate) const TITLES: &[&str] = &[
    "Engineer",
    "Senior Engineer",
    "Manager",
    "Director",
    "Analyst",
    "Specialist",
    "Associate",
];
pub(crate) const CITIES: &[(&str, &str)] = &[
    ("San Francisco", "US"),
    ("New York", "US"),
    ("London", "GB"),
    ("Berlin", "DE"),
    ("Toronto", "CA"),
    ("Tokyo", "JP"),
    ("Sydney", "AU"),
];
pub(crate) fn ascii_slug(s: &str) -> String {
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
    /// Generates `config.users` users from `config.seed`; links are absolute on `base`. The
    /// first generated user is the super admin with `config.admin_login`.
    pub fn generate(config: &SandboxConfig, base: &str) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let user_type_id = okta_id(&mut rng, "oty");
        let epoch = time::macros::datetime!(2021-01-04 09:00 UTC);
        let admin_login = config.admin_login.to_ascii_lowercase();
        let mut logins: HashSet<String> = HashSet::from([admin_login.clone()]);
        let mut next_suffix: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
        let mut dir = Self::empty(user_type_id, base, config.seed);
        for n in 0..config.users {
            let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
            let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
            let is_admin = n == 0;
            let login = if is_admin {
                config.admin_login.clone()
            } else {
                let stem = format!("{}.{}", ascii_slug(first), ascii_slug(last));
                // The next free suffix per name: `ada.lovelace`, `ada.lovelace2`, … without
                // probing from 2 each time (which made big orgs quadratic to generate).
                let k = next_suffix.entry(stem.clone()).or_insert(1);
                let mut candidate = if *k == 1 {
                    format!("{stem}@example.com")
                } else {
                    format!("{stem}{k}@example.com")
                };
                *k += 1;
                while logins.contains(&candidate) {
                    candidate = format!("{stem}{k}@example.com");
                    *k += 1;
                }
                logins.insert(candidate.clone());
                candidate
            };
            let mut id = okta_id(&mut rng, "00u");
            while dir.users.contains_key(&id) {
                id = okta_id(&mut rng, "00u");
            }
            let created = epoch + Duration::minutes(rng.random_range(0..60 * 24 * 365 * 4));
            let roll = rng.random_range(0..100);
            // A share of DEPROVISIONED users only when asked for: they are not listed without a
            // query, and `--users N` should list N by default.
            let deprovisioned = rng.random_range(0..100) < u32::from(config.deprovisioned_percent.min(100));
            let status = match roll {
                _ if is_admin => "ACTIVE",
                _ if deprovisioned => "DEPROVISIONED",
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
            dir.insert(OrgUser {
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
                    extra: serde_json::json!({
                        "displayName": format!("{display_first} {display_last}"),
                        "mobilePhone": phone,
                        "secondEmail": null,
                        "department": DEPARTMENTS[rng.random_range(0..DEPARTMENTS.len())],
                        "title": TITLES[rng.random_range(0..TITLES.len())],
                        "city": city,
                        "countryCode": country,
                        "employeeNumber": format!("{:06}", n + 1),
                    })
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                },
                is_super_admin: is_admin,
                password: None,
                list_json: Box::from(""),
            });
        }
        dir.generate_groups(config, &mut rng, epoch);
        dir.generate_apps(config, &mut rng, epoch);
        dir
    }

    fn generate_apps(&mut self, config: &SandboxConfig, rng: &mut ChaCha8Rng, epoch: OffsetDateTime) {
        const BOOKMARKS: &[&str] = &["Wiki", "Expenses", "Payroll", "Travel", "Benefits", "Status Page"];
        let everyone = self.everyone_id().into_iter().collect();
        self.apps.insert(
            config.client_id.clone(),
            OrgApp {
                id: config.client_id.clone(),
                label: "okta-sandbox web app".to_owned(),
                created: epoch,
                sign_on_mode: "OPENID_CONNECT",
                redirect_uris: config.redirect_uris.clone(),
                url: None,
                groups: everyone,
                users: std::collections::BTreeMap::new(),
            },
        );
        let okta_groups: Vec<String> = self
            .groups
            .values()
            .filter(|g| g.is_managed_in_okta())
            .map(|g| g.id.clone())
            .collect();
        for n in 0..config.apps {
            let label = BOOKMARKS
                .get(n)
                .map_or_else(|| format!("Bookmark {}", n + 1), |l| (*l).to_owned());
            let slug: String = label
                .to_lowercase()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            let groups = if okta_groups.is_empty() {
                Vec::new()
            } else {
                vec![okta_groups[n % okta_groups.len()].clone()]
            };
            let id = okta_id(rng, "0oa");
            self.apps.insert(
                id.clone(),
                OrgApp {
                    id,
                    created: epoch + Duration::days(rng.random_range(0..365)),
                    sign_on_mode: "BOOKMARK",
                    redirect_uris: Vec::new(),
                    url: Some(format!("https://{slug}.example.com/")),
                    groups,
                    users: std::collections::BTreeMap::new(),
                    label,
                },
            );
        }
    }

    fn generate_groups(&mut self, config: &SandboxConfig, rng: &mut ChaCha8Rng, epoch: OffsetDateTime) {
        let everyone = OrgGroup {
            id: okta_id(rng, "00g"),
            created: epoch,
            last_updated: epoch,
            last_membership_updated: epoch,
            group_type: "BUILT_IN",
            name: "Everyone".to_owned(),
            description: Some("All users in your organization".to_owned()),
        };
        let everyone_id = everyone.id.clone();
        self.groups.insert(everyone.id.clone(), everyone);
        let user_ids: Vec<(String, String)> = self
            .users
            .values()
            .map(|u| {
                (
                    u.id.clone(),
                    u.profile.text("department").unwrap_or_default().to_owned(),
                )
            })
            .collect();
        for (uid, _) in &user_ids {
            self.link(&everyone_id, uid);
        }
        let mut projects = Vec::new();
        let mut department_links = 0;
        for n in 0..config.groups {
            let department = DEPARTMENTS.get(n).copied();
            let name = match department {
                Some(d) => d.to_owned(),
                None => format!("Project {}", n - DEPARTMENTS.len() + 1),
            };
            let created = epoch + Duration::days(rng.random_range(0..365));
            let group = OrgGroup {
                id: okta_id(rng, "00g"),
                created,
                last_updated: created,
                last_membership_updated: created + Duration::days(30),
                group_type: "OKTA_GROUP",
                description: Some(format!("Members of {name}")),
                name,
            };
            let gid = group.id.clone();
            self.groups.insert(gid.clone(), group);
            match department {
                // Department groups hold their department.
                Some(d) => {
                    for (uid, _) in user_ids.iter().filter(|(_, ud)| ud == d) {
                        self.link(&gid, uid);
                        department_links += 1;
                    }
                }
                None => projects.push(gid),
            }
        }
        let total = config.memberships.unwrap_or(2 * user_ids.len());
        let sizes = skewed_sizes(total.saturating_sub(department_links), projects.len(), user_ids.len());
        for (gid, size) in projects.iter().zip(sizes) {
            for i in rand::seq::index::sample(rng, user_ids.len(), size) {
                self.link(gid, &user_ids[i].0);
            }
        }
    }
}

/// `total` members spread over `groups` groups of at most `users` each, skewed as real orgs
/// are (the k-th largest group's share falls as 1/k^1.1: a few large groups, many small ones),
/// every group holding one at least while there are enough. Largest first.
fn skewed_sizes(total: usize, groups: usize, users: usize) -> Vec<usize> {
    if groups == 0 || users == 0 {
        return Vec::new();
    }
    let total = total.min(groups.saturating_mul(users));
    let base = usize::from(total >= groups);
    let mut left = total - base * groups;
    let weights: Vec<f64> = (1..=groups).map(|k| 1.0 / (k as f64).powf(1.1)).collect();
    let sum: f64 = weights.iter().sum();
    let mut sizes: Vec<usize> = weights
        .iter()
        .map(|w| {
            // Truncation intended: the rounding leftovers are handed out below.
            let share = ((left as f64) * w / sum) as usize;
            (base + share).min(users)
        })
        .collect();
    left = total.saturating_sub(sizes.iter().sum());
    // Leftovers (rounding, and shares beyond a full group) go to groups with room, largest first.
    while left > 0 {
        let before = left;
        for s in sizes.iter_mut() {
            if left == 0 {
                break;
            }
            let room = (users - *s).min(left);
            *s += room;
            left -= room;
        }
        if left == before {
            break;
        }
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::skewed_sizes;

    #[test]
    fn sizes_add_up_and_are_skewed() {
        let sizes = skewed_sizes(200_000, 1_992, 100_000);
        assert_eq!(sizes.iter().sum::<usize>(), 200_000);
        assert!(sizes.iter().all(|&s| (1..=100_000).contains(&s)));
        assert!(
            sizes[0] > 20 * sizes[1_000],
            "a few large, many small: {} vs {}",
            sizes[0],
            sizes[1_000]
        );
        assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "largest first");
        // More than fits: every group full.
        assert_eq!(skewed_sizes(1_000, 3, 10), vec![10, 10, 10]);
        // Fewer than groups: the largest get one each.
        assert_eq!(skewed_sizes(2, 5, 10).iter().sum::<usize>(), 2);
        assert!(skewed_sizes(5, 0, 10).is_empty());
    }
}
