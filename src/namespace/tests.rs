use std::collections::BTreeSet;

use proptest::prelude::*;
use unicode_normalization::UnicodeNormalization;

use super::*;

// ---------------------------------------------------------------------------
// The reference: the model of the module documentation, step by step, with
// allocations and none of the walker's shortcuts.
// ---------------------------------------------------------------------------

/// A character after step 2: an ASCII byte (`None` for any other character)
/// and whether it is a byte of the path as sent.
type Char = (Option<u8>, bool);

/// The UTF-8 of `cp`, surrogates included.
fn utf8_of(cp: u32) -> Vec<u8> {
    match cp {
        0..=0x7F => vec![cp as u8],
        0x80..=0x7FF => vec![0xC0 | (cp >> 6) as u8, 0x80 | (cp & 0x3F) as u8],
        _ => vec![
            0xE0 | (cp >> 12) as u8,
            0x80 | ((cp >> 6) & 0x3F) as u8,
            0x80 | (cp & 0x3F) as u8,
        ],
    }
}

/// Step 1: whole passes of decoding until one changes nothing.
fn decode(path: &str) -> Vec<(u8, bool)> {
    let mut text: Vec<(u8, bool)> = path.bytes().map(|b| (b, true)).collect();
    loop {
        let digit = |text: &[(u8, bool)], at: usize| {
            text.get(at).and_then(|&(b, _)| char::from(b).to_digit(16))
        };
        let mut out = Vec::new();
        let mut changed = false;
        let mut i = 0;
        while i < text.len() {
            if text[i].0 == b'%' {
                if let (Some(high), Some(low)) = (digit(&text, i + 1), digit(&text, i + 2)) {
                    out.push(((high * 16 + low) as u8, false));
                    i += 3;
                    changed = true;
                    continue;
                }
                if matches!(text.get(i + 1), Some((b'u' | b'U', _))) {
                    let digits: Option<Vec<u32>> = (2..6).map(|k| digit(&text, i + k)).collect();
                    if let Some(digits) = digits {
                        let cp = digits.iter().fold(0, |cp, d| cp * 16 + d);
                        out.extend(utf8_of(cp).into_iter().map(|b| (b, false)));
                        i += 6;
                        changed = true;
                        continue;
                    }
                }
            }
            out.push(text[i]);
            i += 1;
        }
        text = out;
        if !changed {
            return text;
        }
    }
}

/// Step 2: lenient UTF-8, surrogate pairs, then NFKC (and the ideographic
/// full stops) to ASCII.
fn characters(bytes: &[(u8, bool)]) -> Vec<Char> {
    let mut code_points: Vec<(Option<u32>, bool)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let (b, raw) = bytes[i];
        let (need, bits) = match b {
            0..=0x7F => {
                code_points.push((Some(u32::from(b)), raw));
                i += 1;
                continue;
            }
            0xC0..=0xDF => (1, b & 0x1F),
            0xE0..=0xEF => (2, b & 0x0F),
            0xF0..=0xF7 => (3, b & 0x07),
            _ => {
                code_points.push((None, false));
                i += 1;
                continue;
            }
        };
        let continuation: Vec<u8> = bytes[i + 1..]
            .iter()
            .take(need)
            .map(|&(c, _)| c)
            .take_while(|c| c & 0xC0 == 0x80)
            .collect();
        if continuation.len() == need {
            let cp = continuation
                .iter()
                .fold(u32::from(bits), |cp, c| cp << 6 | u32::from(c & 0x3F));
            code_points.push((Some(cp), false));
        } else {
            code_points.push((None, false));
        }
        i += 1 + continuation.len();
    }
    let mut joined: Vec<(Option<u32>, bool)> = Vec::new();
    let mut i = 0;
    while i < code_points.len() {
        match (code_points[i].0, code_points.get(i + 1).and_then(|c| c.0)) {
            (Some(high @ 0xD800..=0xDBFF), Some(low @ 0xDC00..=0xDFFF)) => {
                joined.push((
                    Some(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)),
                    false,
                ));
                i += 2;
            }
            (Some(0xD800..=0xDBFF), _) => {
                joined.push((None, false));
                i += 1;
            }
            _ => {
                joined.push(code_points[i]);
                i += 1;
            }
        }
    }
    let mut out = Vec::new();
    for (cp, raw) in joined {
        match cp {
            Some(cp @ 0..=0x7F) => out.push((Some(cp as u8), raw)),
            Some(0x3002 | 0xFE12 | 0xFF61) => out.push((Some(b'.'), false)),
            Some(cp) => {
                let nfkc: Option<String> =
                    char::from_u32(cp).map(|c| c.to_string().nfkc().collect());
                match nfkc {
                    Some(text) if text.is_ascii() && !text.is_empty() => {
                        out.extend(text.bytes().map(|b| (Some(b), false)));
                    }
                    _ => out.push((None, false)),
                }
            }
            None => out.push((None, false)),
        }
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    WellKnown,
    Rstream,
    Other,
}

/// Step 4.
fn name_of(text: &[Char]) -> Name {
    let cut = text
        .iter()
        .position(|(c, _)| matches!(c, Some(b';' | b':')))
        .unwrap_or(text.len());
    let mut name: Vec<Option<u8>> = text[..cut]
        .iter()
        .map(|(c, _)| c.map(|c| c.to_ascii_lowercase()))
        .collect();
    while name.last() == Some(&Some(b' ')) {
        name.pop();
    }
    if name == [Some(b'.'), Some(b'.')] {
        return Name::Parent;
    }
    while matches!(name.last(), Some(Some(b'.' | b' '))) {
        name.pop();
    }
    let is = |word: &[u8]| name.iter().copied().eq(word.iter().map(|&b| Some(b)));
    if name.is_empty() {
        Name::Dot
    } else if is(b".well-known") {
        Name::WellKnown
    } else if is(b"rstream") {
        Name::Rstream
    } else {
        Name::Other
    }
}

/// Steps 3, 5 and 6 for `chars`, whose end is the end of the path as sent
/// when `end_is_firm`.
fn some_reading_in_namespace(chars: &[Char], end_is_firm: bool) -> bool {
    // Segments: text, separator before firm, separator after firm.
    let mut segments: Vec<(Vec<Char>, bool, bool)> = Vec::new();
    let mut text = Vec::new();
    let mut before_firm = true;
    for &(c, raw) in chars {
        if matches!(c, Some(b'/' | b'\\')) {
            let firm = c == Some(b'/') && raw;
            segments.push((std::mem::take(&mut text), before_firm, firm));
            before_firm = firm;
        } else {
            text.push((c, raw));
        }
    }
    segments.push((text, before_firm, end_is_firm));

    let starts_with_two_separators =
        segments.len() >= 3 && segments[0].0.is_empty() && segments[1].0.is_empty();
    let authority = if starts_with_two_separators {
        segments.iter().position(|(text, ..)| !text.is_empty())
    } else {
        None
    };

    // Every reading, as (depth, first segment, second segment).
    let mut states: BTreeSet<(usize, Option<Kind>, Option<Kind>)> = BTreeSet::new();
    states.insert((0, None, None));
    for (index, (text, after_firm, before_firm)) in segments.iter().enumerate() {
        let name = name_of(text);
        let sent_as_dots =
            matches!(text.len(), 1 | 2) && text.iter().all(|&c| c == (Some(b'.'), true));
        let plain = sent_as_dots && *after_firm && *before_firm;
        let mut entered = Vec::new();
        let mut dropped = false;
        let mut climbs = false;
        if plain {
            if name == Name::Dot {
                dropped = true;
            } else {
                climbs = true;
            }
        } else {
            match name {
                Name::Dot => dropped = true,
                Name::Parent => climbs = true,
                Name::WellKnown => entered.push(Kind::WellKnown),
                Name::Rstream => entered.push(Kind::Rstream),
                Name::Other => {}
            }
            entered.push(Kind::Other);
        }
        if !after_firm || authority == Some(index) {
            dropped = true;
        }
        let mut next = BTreeSet::new();
        for &(depth, first, second) in &states {
            if dropped {
                next.insert((depth, first, second));
            }
            if climbs {
                next.insert((depth.saturating_sub(1), first, second));
            }
            for &kind in &entered {
                let first = if depth == 0 { Some(kind) } else { first };
                let second = if depth == 1 { Some(kind) } else { second };
                next.insert((depth + 1, first, second));
            }
        }
        states = next;
    }
    states.iter().any(|&(depth, first, second)| {
        depth >= 2 && first == Some(Kind::WellKnown) && second == Some(Kind::Rstream)
    })
}

/// The model: whether some reading of `path` is in the namespace.
fn reference(path: &str) -> bool {
    let as_sent = path.as_bytes();
    let namespace = b"/.well-known/rstream";
    let literally = as_sent.len() >= namespace.len()
        && as_sent[..namespace.len()].eq_ignore_ascii_case(namespace)
        && matches!(as_sent.get(namespace.len()), None | Some(b'/'));
    let chars = characters(&decode(path));
    literally
        || some_reading_in_namespace(&chars, true)
        || chars
            .iter()
            .enumerate()
            .filter(|(_, (c, _))| matches!(c, Some(b'?' | b'#' | 0)))
            .any(|(at, _)| some_reading_in_namespace(&chars[..at], false))
}

/// The scan, byte by byte.
fn may_be_well_known_bytewise(path: &[u8]) -> bool {
    path.first() == Some(&b'.')
        || path.windows(2).any(|pair| pair == b"/.")
        || path.iter().any(|&b| b == b'%' || b == b'\\' || b >= 0x80)
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

/// Pieces of paths: separators of every kind, dot segments in every
/// spelling, the namespace's words in many, and the characters that cut,
/// strip, truncate or start escapes.
fn piece() -> impl Strategy<Value = String> {
    let fixed = prop::sample::select(vec![
        "/",
        "/",
        "/",
        "\\",
        "%2F",
        "%2f",
        "%5C",
        "%5c",
        "%C0%AF",
        "%252F",
        "／",
        "＼",
        "%EF%BC%8F",
        ".",
        "..",
        "%2E",
        "%2e%2E",
        "%252E",
        "%25252e",
        "%C0%AE",
        "%E0%80%AE",
        "%F0%80%80%AE",
        "%u002e",
        "%U002E",
        "．",
        "%EF%BC%8E",
        "\u{2024}",
        "\u{FE52}",
        "\u{FF61}",
        "\u{2025}",
        "%%32%45",
        "%%",
        "%",
        "%2",
        "%u",
        "%u00",
        ".well-known",
        "rstream",
        "session",
        "logout",
        ".WELL-KNOWN",
        "RStream",
        "%2Ewell-known",
        "%2ewell%2Dknown",
        "．ｗｅｌｌ－ｋｎｏｗｎ",
        "r%73tream",
        "rﬆream",
        "r\u{17F}tream",
        "%72%73%74%72%65%61%6D",
        "ｒｓｔｒｅａｍ",
        ";",
        ";x=1",
        ":",
        "::$INDEX_ALLOCATION",
        " ",
        "%20",
        "%3B",
        "%3F",
        "?",
        "#",
        "%23",
        "%00",
        "a",
        "x",
        "api",
        "%C3%A9",
        "é",
        "\u{212A}",
        "%ED%A0%B5%ED%B0%AB",
        "%uD835%uDC2B",
        "℀",
        "%E2%84%80",
        "%zz",
        "%C0",
        "%E0%80",
        "\u{FFFD}",
    ])
    .prop_map(str::to_owned);
    // Case flips and trailing dots and spaces on the words.
    let word = (
        prop::sample::select(vec![".well-known", "rstream", "session"]),
        any::<u16>(),
        prop::sample::select(vec!["", ".", "..", " ", ". ", "%2E", "%20"]),
    )
        .prop_map(|(word, flips, tail)| {
            let mut out: String = word
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if flips & (1 << i) != 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            out.push_str(tail);
            out
        });
    prop_oneof![4 => fixed, 1 => word]
}

fn generated_path() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..12).prop_map(|pieces| format!("/{}", pieces.concat()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn route_agrees_with_the_reference_model(path in generated_path()) {
        let routed = route(&path);
        prop_assert_eq!(routed != Route::Forward, reference(&path), "{:?} -> {:?}", path, routed);
        match routed {
            Route::Session => prop_assert_eq!(path.as_str(), "/.well-known/rstream/session"),
            Route::Logout => prop_assert_eq!(path.as_str(), "/.well-known/rstream/logout"),
            _ => {}
        }
    }

    /// The same, on paths of the namespace's words joined by `/` with
    /// dot segments: the shapes that climb in and out of it.
    #[test]
    fn route_agrees_with_the_reference_model_on_dot_walks(
        segments in prop::collection::vec(
            prop::sample::select(vec![
                ".well-known", "rstream", "session", ".", "..", "", "x", "..;", "%2e%2e", ".;",
                "a%2Fb", "a\\b", "?",
            ]),
            0..10,
        )
    ) {
        let path = format!("/{}", segments.join("/"));
        prop_assert_eq!(route(&path) != Route::Forward, reference(&path), "{:?}", path);
    }

    #[test]
    fn the_scan_is_the_bytewise_definition(
        bytes in prop::collection::vec(
            prop_oneof![
                4 => prop::sample::select(vec![b'/', b'.', b'a', b'%', b'\\', 0x80, 0xFF, 0, b'2', b'.']),
                1 => any::<u8>(),
            ],
            0..40,
        )
    ) {
        prop_assert_eq!(may_be_well_known(&bytes), may_be_well_known_bytewise(&bytes), "{:?}", bytes);
    }
}

// ---------------------------------------------------------------------------
// Examples
// ---------------------------------------------------------------------------

#[track_caller]
fn assert_routes(paths: &[&str], expected: Route) {
    for path in paths {
        assert_eq!(route(path), expected, "{path:?}");
        assert_eq!(
            reference(path),
            expected != Route::Forward,
            "the reference, {path:?}"
        );
    }
}

#[test]
fn endpoints_at_their_literal_paths() {
    assert_eq!(route("/.well-known/rstream/session"), Route::Session);
    assert_eq!(route("/.well-known/rstream/logout"), Route::Logout);
}

#[test]
fn everything_else_in_the_literal_namespace_is_not_found() {
    assert_routes(
        &[
            "/.well-known/rstream",
            "/.well-known/rstream/",
            "/.well-known/rstream/session/",
            "/.well-known/rstream/sessions",
            "/.well-known/rstream/other",
            "/.well-known/rstream//session",
            "/.well-known/rstream/../rstream/session",
            "/.well-known/rstream/../../api",
            "/.WELL-KNOWN/RSTREAM/../..",
        ],
        Route::NotFound,
    );
}

#[test]
fn percent_encoding_and_dot_segments_are_not_found() {
    assert_routes(
        &[
            "/%2Ewell-known/rstream/session",
            "/.well-known/rstream/%73ession",
            "/.well-known%2Frstream%2Fsession",
            "/.well-known%2frstream/logout",
            "//.well-known/rstream/session",
            "/./.well-known/rstream/session",
            "/a/../.well-known/rstream/logout",
            "/.well-known/rstreamx/../rstream/session",
            "/../.well-known/rstream",
            "/a/%2e%2e/.well-known/rstream/session",
        ],
        Route::NotFound,
    );
}

#[test]
fn path_parameters_are_not_found() {
    assert_routes(
        &[
            "/.well-known;/rstream/session",
            "/.well-known/rstream;x=1/session",
            "/.well-known/.../rstream/session",
            "/.well-known;jsessionid=0/rstream/logout",
            "/.well-known%3B/rstream/session",
            "/.well-known/rstream/session;x",
            "/.;/.well-known/rstream/session",
        ],
        Route::NotFound,
    );
}

#[test]
fn backslashes_are_not_found() {
    assert_routes(
        &[
            "/.well-known\\rstream\\session",
            "/.well-known/rstream\\logout",
            "/x\\..\\.well-known/rstream/session",
            "/.well-known%5Crstream%5Csession",
            "/.well-known%5crstream/logout",
            "/x/%5C../.well-known/rstream/session",
            "\\.well-known\\rstream\\session",
        ],
        Route::NotFound,
    );
}

#[test]
fn overlong_utf8_is_not_found() {
    assert_routes(
        &[
            "/%C0%AEwell-known/rstream/session",
            "/.well-known%C0%AFrstream/session",
            "/%E0%80%AEwell-known/rstream/session",
            "/%F0%80%80%AEwell-known/rstream/session",
            "/x/%C0%AE%C0%AE/.well-known/rstream/session",
            "/.well-known/%C1%B2stream/session",
        ],
        Route::NotFound,
    );
}

#[test]
fn deeper_encodings_are_not_found() {
    assert_routes(
        &[
            "/%252Ewell-known/rstream/session",
            "/%25252Ewell-known/rstream/session",
            "/%2525252e%25252e/.well-known/rstream/session",
            "/.well-known%252Frstream%252Fsession",
            "/%%32%45well-known/rstream/session",
            "/%%32E%2Ewell-known/..%2F.well-known/rstream/session",
            "/x/%252e%252e/.well-known/rstream/session",
            "/%25C0%25AEwell-known/rstream/session",
        ],
        Route::NotFound,
    );
}

#[test]
fn iis_wide_escapes_are_not_found() {
    assert_routes(
        &[
            "/%u002ewell-known/rstream/session",
            "/%U002Ewell-known/rstream/session",
            "/.well-known%u002frstream/session",
            "/.well-known%u005Crstream/session",
            "/%uFF0Ewell-known/rstream/session",
            "/x/%u002e%u002e/.well-known/rstream/session",
            "/%25u002ewell-known/rstream/session",
        ],
        Route::NotFound,
    );
}

#[test]
fn authority_prefixes_are_not_found() {
    assert_routes(
        &[
            "//evil/.well-known/rstream/session",
            "//evil.example:443/.well-known/rstream/logout",
            "///evil/.well-known/rstream/session",
            "/\\evil/.well-known/rstream/session",
            "/%2Fevil/.well-known/rstream/session",
            "//evil/x/../.well-known/rstream/session",
        ],
        Route::NotFound,
    );
}

#[test]
fn trailing_dots_and_spaces_are_not_found() {
    assert_routes(
        &[
            "/.well-known./rstream/session",
            "/.well-known/rstream./logout",
            "/.well-known.../rstream/session",
            "/.well-known%20/rstream/session",
            "/.well-known.%20./rstream/session",
            "/.well-known/rstream%20%20/session",
            "/x/..%20/.well-known/rstream/session",
            "/.well-known/.../rstream/session",
        ],
        Route::NotFound,
    );
}

#[test]
fn other_letter_cases_are_not_found() {
    assert_routes(
        &[
            "/.WELL-KNOWN/Rstream/SESSION",
            "/.Well-Known/rstream/logout",
            "/.well-known/RSTREAM/session",
            "/.WELL-KNOWN/RSTREAM",
            "/%2EWELL-KNOWN/RSTREAM/session",
        ],
        Route::NotFound,
    );
}

#[test]
fn unicode_lookalikes_are_not_found() {
    assert_routes(
        &[
            "/．well-known/rstream/session",
            "/%EF%BC%8Ewell-known/rstream/session",
            "/.well-known／rstream／session",
            "/.well-known%EF%BC%8Frstream/session",
            "/.well-known＼rstream/session",
            "/．ＷＥＬＬ－ＫＮＯＷＮ/ｒｓｔｒｅａｍ/ｓｅｓｓｉｏｎ",
            "/\u{2024}well-known/rstream/session",
            "/%E2%80%A4well-known/rstream/session",
            "/\u{FE52}well-known/rstream/session",
            "/\u{FF61}well-known/rstream/session",
            "/\u{3002}well-known/rstream/session",
            "/.well-known/rﬆream/session",
            "/.well-known/r\u{17F}tream/session",
            "/.well-\u{212A}nown/rstream/session",
            "/.well-known/\u{1D42B}stream/session",
            "/.well-known/%uD835%uDC2Bstream/session",
            "/.well-known/%ED%A0%B5%ED%B0%ABstream/session",
            "/x/\u{2025}/.well-known/rstream/session",
            "/.well-known/x℀/../../rstream/session",
        ],
        Route::NotFound,
    );
}

#[test]
fn ntfs_streams_are_not_found() {
    assert_routes(
        &[
            "/.well-known::$INDEX_ALLOCATION/rstream/session",
            "/.well-known:$I30:$INDEX_ALLOCATION/rstream/logout",
            "/.well-known/rstream::$DATA",
        ],
        Route::NotFound,
    );
}

/// Spellings that only some servers read into the namespace, and that a
/// single normalisation (whichever) would forward.
#[test]
fn paths_that_servers_disagree_on_are_not_found() {
    assert_routes(
        &[
            // nginx keeps `..;` as a name: /.well-known/rstream/session.
            "/./.well-known/rstream/session/..;/..;/../..",
            "/.well-known/..;/../rstream/session",
            // A server that does not decode: /.well-known/rstream/session.
            "/./.well-known/rstream/session/%2e%2e/%2e%2e/../..",
            "/./.well-known/rstream/session/%252e%252e/%252e%252e/../..",
            // Apache with encoded slashes kept: /.well-known/rstream/session.
            "/.well-known/a%2Fb/%2e%2e/rstream/session",
            // A backslash is no separator on Linux.
            "/.well-known/a\\b/../rstream/session",
            // URL parsers keep empty segments: `..` removes the empty one.
            "/.well-known//../rstream/session",
            // Servers that keep trailing spaces or fullwidth dots.
            "/./.well-known/rstream/session/..%20/..%20/../..",
            "/./.well-known/rstream/session/．．/．．/../..",
        ],
        Route::NotFound,
    );
}

#[test]
fn decoded_query_fragment_and_nul_characters_end_the_path() {
    assert_routes(
        &[
            "/x/../.well-known/rstream%3F/../..",
            "/x/../.well-known/rstream%23/../..",
            "/x/../.well-known/rstream%00/../..",
            "/x/../.well-known/rstream%EF%BC%9F/../..",
            "/.well-known/x/../rstream%3F/..",
            "/.well-known/rstream%3Fx",
        ],
        Route::NotFound,
    );
}

#[test]
fn too_many_open_escapes_are_not_found() {
    let path = format!("/api/{}", "%".repeat(MAX_OPEN_ESCAPES + 1));
    assert_eq!(route(&path), Route::NotFound);
    let path = format!("/api/{}", "%".repeat(MAX_OPEN_ESCAPES));
    assert_eq!(route(&path), Route::Forward);
}

#[test]
fn other_paths_are_forwarded() {
    assert_routes(
        &[
            "/",
            "*",
            "",
            "/api/users/42",
            "/static/app.js",
            "/.env",
            "/.well-known",
            "/.well-known/",
            "/.well-known/openid-configuration",
            "/.well-known/rstreamer",
            "/.well-known/rstream-other/session",
            "/.well-knownrstream/session",
            "/rstream/session",
            "/x/.well-known/rstream/session",
            "/x/．well-known/rstream/session",
            "/.well-known/../rstream/session",
            "/.well-known/%2e%2e/rstream/session",
            "/x/../.well-known/rstream/../../api",
            "/%2Ewell-known/x",
            "/.well-known%2Fother",
            "/.well-known;/",
            "/%zz/.well-known",
            "/files/a;b",
            "/files/a:b",
            "/a\\b",
            "/caf%C3%A9",
            "/café",
            "/files/my%20report.pdf",
            "/a/./b/../c",
            "//double//slashes",
            "/.well-known/r%C3%A9stream/session",
            "/%uzzzz/.well-known",
            "/api/%C0",
        ],
        Route::Forward,
    );
}

#[test]
fn the_scan_looks_at_every_byte() {
    // Each trigger at each position of paths of many lengths, around the
    // word boundaries and the short-path cases.
    for len in 1..=40 {
        for at in 0..len {
            for trigger in [&b"%"[..], b"\\", b"\xC3", b"/."] {
                let mut path = vec![b'a'; len];
                if at + trigger.len() > len {
                    continue;
                }
                path[at..at + trigger.len()].copy_from_slice(trigger);
                assert!(may_be_well_known(&path), "{trigger:?} at {at} of {len}");
            }
            let mut path = vec![b'a'; len];
            path[at] = b'/';
            assert!(!may_be_well_known(&path), "a lone / at {at} of {len}");
            path[at] = b'.';
            assert_eq!(may_be_well_known(&path), at == 0, ". at {at} of {len}");
        }
    }
}

mod prefixes;
