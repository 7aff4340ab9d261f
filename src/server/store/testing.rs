//! Throwaway PostgreSQL databases for tests: each test creates its own database on the
//! server named by `DASHAUTH_TEST_DATABASE_URL` and drops it afterwards. Without the
//! variable the PostgreSQL tests say loudly that they were skipped, and fail instead when
//! `DASHAUTH_REQUIRE_POSTGRES=1` (CI sets both).

use sqlx::postgres::PgConnection;
use sqlx::{Connection, Executor};

/// The server tests create their databases on.
pub const URL_VARIABLE: &str = "DASHAUTH_TEST_DATABASE_URL";
/// Set to 1 to make a missing [`URL_VARIABLE`] a failure instead of a skip.
pub const REQUIRE_VARIABLE: &str = "DASHAUTH_REQUIRE_POSTGRES";

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

/// The admin URL, or `None` (after saying so) when PostgreSQL tests are skipped.
///
/// # Panics
/// When `DASHAUTH_REQUIRE_POSTGRES=1` and no URL is set: CI must not pass by skipping.
pub fn admin_url(test: &str) -> Option<String> {
    match std::env::var(URL_VARIABLE) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var(REQUIRE_VARIABLE).as_deref() != Ok("1"),
                "{test}: {REQUIRE_VARIABLE}=1 but {URL_VARIABLE} is not set"
            );
            eprintln!(
                "SKIPPED {test} on PostgreSQL: set {URL_VARIABLE}=postgres://… to run it \
                 (.ci/run does)"
            );
            None
        }
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let root = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{name}?{query}"),
        None => format!("{root}/{name}"),
    }
}

impl TestDatabase {
    /// Creates a fresh database, or returns `None` when PostgreSQL tests are skipped.
    pub async fn create(test: &str) -> Option<TestDatabase> {
        let admin_url = admin_url(test)?;
        let name = format!(
            "dashauth_test_{}",
            super::super::tokens::new_uuid()
                .to_string()
                .replace('-', "")
        );
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("{test}: cannot connect to {URL_VARIABLE}: {e}"));
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap_or_else(|e| panic!("{test}: CREATE DATABASE: {e}"));
        let url = with_database(&admin_url, &name);
        Some(TestDatabase {
            admin_url,
            name,
            url,
        })
    }

    /// The URL of the new database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops the database, disconnecting whoever still uses it.
    pub async fn drop_database(self) {
        if let Ok(mut admin) = PgConnection::connect(&self.admin_url).await {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            if let Err(e) = admin.execute(sql.as_str()).await {
                eprintln!("could not drop test database {}: {e}", self.name);
            }
        }
    }

    /// [`Self::create`] for synchronous tests, on a runtime of its own.
    pub fn create_blocking(test: &str) -> Option<TestDatabase> {
        runtime().block_on(Self::create(test))
    }

    /// [`Self::drop_database`] for synchronous tests.
    pub fn drop_blocking(self) {
        runtime().block_on(self.drop_database());
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("test runtime: {e}"))
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced_and_the_rest_kept() {
        assert_eq!(
            with_database("postgres://u:p@h:5/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres:///postgres", "x"), "postgres:///x");
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
