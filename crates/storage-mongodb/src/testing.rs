//! The MongoDB-compatible server the tests of this crate run against, for its unit and
//! contract tests alike: named by `RIGEL_TEST_MONGODB_URL` (CI starts one, see `.ci/run`).
//! Without it a test says it was skipped and passes, unless `RIGEL_REQUIRE_MONGODB` is set,
//! which makes it fail.

/// The test server's connection string, or `None` (the test `check` skipped).
pub fn server_url(check: &str) -> Option<String> {
    let Ok(url) = std::env::var("RIGEL_TEST_MONGODB_URL") else {
        assert!(
            std::env::var_os("RIGEL_REQUIRE_MONGODB").is_none(),
            "RIGEL_REQUIRE_MONGODB is set but RIGEL_TEST_MONGODB_URL is not"
        );
        eprintln!("skipped {check}: RIGEL_TEST_MONGODB_URL is not set (no MongoDB server)");
        return None;
    };
    Some(url)
}
