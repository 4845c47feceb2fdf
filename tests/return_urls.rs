//! The sign-in return URL check (`SessionManager::safe_return_url`): a
//! corpus of the ways an open redirect is usually spelled, and a property
//! that whatever it accepts leads, by the WHATWG URL parser browsers use,
//! to the same origin.

use crate::common;

use common::*;
use proptest::prelude::*;
use rstream_well_known::{MemoryStore, SessionManager};

fn sessions() -> SessionManager<MemoryStore> {
    layer().session_manager()
}

/// Where `candidate` leads from a page of the tunnel, as a browser reads it.
fn leads_to_same_origin(candidate: &str) -> bool {
    let base = url::Url::parse("https://app.example.com/login?x=1").unwrap();
    match base.join(candidate) {
        Ok(target) => target.origin() == base.origin(),
        Err(_) => false,
    }
}

/// The corpus: every spelling here must be refused.
const UNSAFE: &[&str] = &[
    "",
    "evil.example",
    "//evil.example",
    "//evil.example/path",
    "///evil.example",
    "////evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\\/evil.example",
    "https://evil.example",
    "https://evil.example/",
    "http://evil.example",
    "https://app.example.com/",
    "https://app.example.com@evil.example/",
    "https://user:pass@app.example.com/",
    "//app.example.com@evil.example",
    "//user@evil.example",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "/%2F/evil.example",
    "/%2f/evil.example",
    "/%2F%2Fevil.example",
    "/%5Cevil.example",
    "/%5cevil.example",
    "/%252F/evil.example",
    "/%25252F/evil.example",
    "/%5C%5Cevil.example",
    "%2F%2Fevil.example",
    "/ /evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/%09/evil.example",
    "/%0A/evil.example",
    "/%0D%0A/evil.example",
    "/%00/evil.example",
    "/x%0D%0ASet-Cookie:%20a=b",
    " /path",
    "/path ",
    "\t/path",
    "/path\u{0}",
    "/\u{7f}",
    "/..//evil.example",
    "/../evil.example",
    "/./evil.example",
    "/x/../../evil.example",
    "/%2E%2E//evil.example",
    "/%2e%2e/%2fevil.example",
    "/.%2e//evil.example",
    "/%EF%BC%8F/evil.example",
    "/%EF%BC%8Fevil.example",
    "/%EF%BC%BCevil.example",
    "/\u{ff0f}evil.example",
    "/café",
    "/%C0%AFevil.example",
    "?next=//evil.example",
    "#//evil.example",
];

/// Ordinary return URLs, all accepted.
const SAFE: &[&str] = &[
    "/",
    "/orders",
    "/orders/42?tab=items&sort=-date",
    "/search?q=a%20b&lang=en",
    "/path#section",
    "/caf%C3%A9",
    "/a/b/c/",
    "/@ada",
    "/x?next=//evil.example",
    "/x?next=https://evil.example",
    "/x#//evil.example",
    "/files/report.v2.pdf",
    "/a..b/c",
    "/~user/",
];

#[test]
fn the_corpus_of_open_redirects_is_refused() {
    let sessions = sessions();
    for candidate in UNSAFE {
        assert_eq!(sessions.safe_return_url(candidate), None, "{candidate:?}");
    }
    let long = format!("/{}", "a".repeat(2048));
    assert_eq!(sessions.safe_return_url(&long), None, "too long");
    let deep = format!("/%{}2F/evil", "25".repeat(9));
    assert_eq!(sessions.safe_return_url(&deep), None, "decodes too often");
}

#[test]
fn ordinary_return_urls_are_accepted_as_given() {
    let sessions = sessions();
    for candidate in SAFE {
        assert_eq!(
            sessions.safe_return_url(candidate),
            Some(*candidate),
            "{candidate:?}"
        );
        assert!(leads_to_same_origin(candidate), "{candidate:?}");
    }
    let longest = format!("/{}", "a".repeat(2047));
    assert!(sessions.safe_return_url(&longest).is_some());
}

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/".to_owned()),
        Just("\\".to_owned()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("%2F".to_owned()),
        Just("%5C".to_owned()),
        Just("%2E".to_owned()),
        Just("%25".to_owned()),
        Just("%09".to_owned()),
        Just("\t".to_owned()),
        Just(" ".to_owned()),
        Just("@".to_owned()),
        Just(":".to_owned()),
        Just("?".to_owned()),
        Just("#".to_owned()),
        Just("evil.example".to_owned()),
        Just("https:".to_owned()),
        Just("%EF%BC%8F".to_owned()),
        "[a-z]{1,4}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// Whatever is accepted is returned as given and leads to the origin it
    /// was served on.
    #[test]
    fn accepted_return_urls_stay_on_the_origin(pieces in prop::collection::vec(piece(), 0..8)) {
        let candidate = pieces.concat();
        if let Some(accepted) = sessions().safe_return_url(&candidate) {
            prop_assert_eq!(accepted, candidate.as_str());
            prop_assert!(leads_to_same_origin(&candidate), "{:?}", candidate);
            // Once decoded (as a framework might before redirecting), too.
            let decoded = percent_decode_once(&candidate);
            prop_assert!(leads_to_same_origin(&decoded), "{:?} -> {:?}", candidate, decoded);
        }
    }
}

fn percent_decode_once(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes.get(i), bytes.get(i + 1), bytes.get(i + 2)) {
            (Some(b'%'), Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap() * 16 + hex(l).unwrap()) as u8);
                i += 3;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
