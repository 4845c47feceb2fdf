//! The application's path prefixes, read by the same model as the
//! namespace.

use super::*;

fn prefix(text: &str) -> Prefix {
    Prefix::parse(text).unwrap_or_else(|| panic!("{text:?} is a valid prefix"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// The namespace, as a prefix of the application's, is read exactly as
    /// the layer's own check reads it: the general walk is the special one.
    #[test]
    fn the_namespace_as_a_prefix_agrees_with_the_model(path in generated_path()) {
        let namespace = prefix(NAMESPACE);
        prop_assert_eq!(namespace.may_contain(&path), reference(&path), "{:?}", path);
    }

    #[test]
    fn the_namespace_as_a_prefix_agrees_on_dot_walks(
        segments in prop::collection::vec(
            prop::sample::select(vec![
                ".well-known", "rstream", "session", ".", "..", "", "x", "..;", "%2e%2e", ".;",
                "a%2Fb", "a\\b", "?",
            ]),
            0..10,
        )
    ) {
        let path = format!("/{}", segments.join("/"));
        prop_assert_eq!(prefix(NAMESPACE).may_contain(&path), reference(&path), "{:?}", path);
    }

    /// A path the scan finds one reading in is in a prefix exactly when it
    /// is as sent (letter case aside): the walk agrees.
    #[test]
    fn one_reading_paths_need_no_walk(path in generated_path()) {
        if has_one_reading(path.as_bytes()) {
            for text in ["/.well-known", "/.well-known/rstream", "/x", "/rstream/x"] {
                let prefix = prefix(text);
                let walked = walk::<PrefixWalk<'_>, MAX_PREFIX_SEGMENT_LEN, true>(
                    path.as_bytes(),
                    PrefixWalk::new(&prefix),
                );
                prop_assert_eq!(
                    walked || prefix.literally_contains(path.as_bytes(), true),
                    prefix.literally_contains(path.as_bytes(), true),
                    "{:?} {:?}", text, path
                );
            }
        }
    }

    /// A path every reading of which is under a prefix is one some reading
    /// of which is.
    #[test]
    fn surely_implies_maybe(path in generated_path()) {
        for text in ["/.well-known", "/.well-known/rstream", "/x", "/"] {
            let prefix = prefix(text);
            if prefix.surely_contains(&path) {
                prop_assert!(prefix.may_contain(&path), "{:?} {:?}", text, path);
            }
        }
    }

    /// A plain path has one reading: some reading is under a prefix exactly
    /// when every reading is, letter case aside.
    #[test]
    fn plain_paths_have_one_reading(
        segments in prop::collection::vec(
            prop::sample::select(vec!["admin", "ADMIN", "api", "x", "v1", "a-b", "admin.x"]),
            0..5,
        ),
        slash in any::<bool>(),
    ) {
        let path = format!("/{}{}", segments.join("/"), if slash && !segments.is_empty() { "/" } else { "" });
        prop_assert!(is_plain(&path), "{:?}", path);
        for text in ["/admin", "/admin/api", "/x/v1", "/"] {
            let prefix = prefix(text);
            let lower = path.to_ascii_lowercase();
            prop_assert_eq!(prefix.may_contain(&path), prefix.surely_contains(&lower), "{:?} {:?}", text, path);
        }
    }
}

#[test]
fn prefixes_parse_by_the_rules() {
    assert_eq!(prefix("/admin/").as_str(), "/admin");
    assert_eq!(prefix("/").as_str(), "/");
    assert_eq!(
        prefix("/a/b@c/d!$&'()*+,=~_-.e").as_str(),
        "/a/b@c/d!$&'()*+,=~_-.e"
    );
    for bad in [
        "",
        "admin",
        "//admin",
        "/admin//x",
        "/a%20b",
        "/a;b",
        "/a:b",
        "/a\\b",
        "/café",
        "/admin.",
        "/..",
        "/.",
        "/a b",
        "/a?b",
        "/a#b",
        "/1/2/3/4/5/6/7/8/9",
        "/0123456789012345678901234567890123",
    ] {
        assert_eq!(Prefix::parse(bad), None, "{bad:?}");
    }
    assert!(Prefix::parse("/1/2/3/4/5/6/7/8").is_some());
    assert!(Prefix::parse("/01234567890123456789012345678901").is_some());
}

#[test]
fn every_spelling_of_a_protected_prefix_may_be_under_it() {
    let admin = prefix("/admin");
    for path in [
        "/admin",
        "/admin/",
        "/admin/users",
        "/ADMIN/users",
        "/Admin",
        "/%61dmin/users",
        "/%2561dmin",
        "/%u0061dmin",
        "/x/../admin",
        "/x/..;/admin",
        "/x/%2e%2e/admin",
        "/x%2F..%2Fadmin",
        "/x\\..\\admin",
        "/public/..%2Fadmin/x",
        "/admin;jsessionid=1/users",
        "/admin./users",
        "/admin::$DATA",
        "//host/admin/users",
        "/\\host/admin",
        "/ａｄｍｉｎ/users",
        "/%EF%BD%81dmin",
        "/admin%3Fx",
        "/admin%23frag",
        "/admin%00.png",
        "/admin/../../x",
        "/./admin",
        "/a/b/c/../../../admin",
    ] {
        assert!(admin.may_contain(path), "{path:?}");
    }
    for path in [
        "/",
        "/administrator",
        "/x/admin",
        "/public/a%20b",
        "/admin-x",
        "/adm",
        "/x/..x/admin",
        "/caf%C3%A9",
    ] {
        assert!(!admin.may_contain(path), "{path:?}");
    }
    let deep = prefix("/demo/private");
    for path in [
        "/demo/private",
        "/demo/private/",
        "/demo/private/hello",
        "/demo%2Fprivate/hello",
        "/demo/x/../private/hello",
        "/DEMO/Private",
        "/demo/public/..;/private",
        "/demo//private/hello",
        "/demo/./private",
    ] {
        assert!(deep.may_contain(path), "{path:?}");
    }
    for path in [
        "/demo",
        "/demo/",
        "/demo/privates",
        "/private/demo",
        "/demo/whoami",
    ] {
        assert!(!deep.may_contain(path), "{path:?}");
    }
}

#[test]
fn only_paths_that_cannot_leave_an_exemption_are_surely_under_it() {
    let public = prefix("/public");
    for path in [
        "/public",
        "/public/",
        "/public/app.css",
        "/public/my%20file.png",
        "/public/caf%C3%A9",
        "/public/a;b/c",
        "/public/.hidden",
        "/public/a..b",
        "/public/x/...",
    ] {
        assert!(public.surely_contains(path), "{path:?}");
    }
    for path in [
        "/Public/app.css",
        "/PUBLIC",
        "/publicity",
        "/x/public",
        "//public/x",
        "/public/../admin",
        "/public/..;/admin",
        "/public/..%2Fadmin",
        "/public%2F..%2Fadmin",
        "/public/%2e%2e/admin",
        "/public/%2E./admin",
        "/public/.%2e/admin",
        "/public/%252e%252e/admin",
        "/public/%u002e%u002e/admin",
        "/public/%C0%AE%C0%AE/admin",
        "/public/．．/admin",
        "/public\\..\\admin",
        "/public/x%5C..%5C..%5Cadmin",
        "/public/.. /admin",
        "/public/..::$DATA/admin",
        "/public/x/../y",
        "/public%3F/x",
        "/public./x",
    ] {
        assert!(!public.surely_contains(path), "{path:?}");
    }
}

#[test]
fn paths_with_one_reading() {
    for path in ["/", "/a", "/a/", "/api/users/42", "/a.b/c-d_e~f", "/x"] {
        assert!(has_one_reading(path.as_bytes()), "{path:?}");
    }
    for path in [
        "", "*", "//a", "/a//b", "/a%20b", "/.env", "/a/.", "/a/..", "/a.", "/a./b", "/a\\b",
        "/a;b", "/a:b", "/café", "/a b", "/a//", "/x?", "/x#y",
    ] {
        assert!(!has_one_reading(path.as_bytes()), "{path:?}");
    }
}

#[test]
fn plain_paths() {
    for path in ["/", "/a", "/a/", "/a/b-c_d~e.f", "/a/b@c!$&'()*+,="] {
        assert!(is_plain(path), "{path:?}");
    }
    for path in [
        "", "a", "//a", "/a//b", "/a%20b", "/.env", "/a/.", "/a/..", "/a.", "/a\\b", "/a;b",
        "/a:b", "/café", "/a//",
    ] {
        assert!(!is_plain(path), "{path:?}");
    }
}

/// `has_one_reading` as it was written first, a byte at a time: what the
/// vectorised one must agree with.
fn has_one_reading_bytewise(path: &[u8]) -> bool {
    let Some(rest) = path.strip_prefix(b"/") else {
        return false;
    };
    let mut previous = b'/';
    for &b in rest {
        let breaks = match b {
            b'%' | b'\\' | b';' | b':' | b'?' | b'#' => true,
            b'.' | b'/' => previous == b'/' || (b == b'/' && previous == b'.'),
            0x21..=0x7E => false,
            _ => true,
        };
        if breaks {
            return false;
        }
        previous = b;
    }
    previous != b'.'
}

#[test]
fn each_pair_of_bytes_breaks_the_reading_as_bytewise() {
    for before in 0..=255u8 {
        for b in 0..=255u8 {
            // `before` after `/a`, then `b`: every pair, after a plain byte.
            let path = [b'/', b'a', before, b];
            let vectorised = has_one_reading(&path);
            assert_eq!(vectorised, has_one_reading_bytewise(&path), "{path:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Every length, around and across the sixteen-byte blocks and the
    /// padding of short paths.
    #[test]
    fn the_vectorised_one_reading_check_agrees_with_bytewise(
        body in prop::collection::vec(
            prop::sample::select(b"ab/.%;:?#\\ \x7f\x80-~".to_vec()),
            0..48,
        )
    ) {
        let mut path = vec![b'/'];
        path.extend_from_slice(&body);
        prop_assert_eq!(has_one_reading(&path), has_one_reading_bytewise(&path), "{:?}", path);
    }
}
