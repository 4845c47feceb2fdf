//! Which requests are the layer's: the path classification that runs on
//! every request, and so is kept to one fast scan on the common path.
//!
//! # The model
//!
//! The two endpoints are served at their literal paths only. Every other
//! path that some server, router, proxy or file system could read as
//! `/.well-known/rstream` or a path under it is answered `404` by the layer
//! and never forwarded. Servers disagree on how to read a path, and because
//! of `..` a reading that normalises more is not "safer" than one that
//! normalises less: `/x/..;/.well-known/rstream/session` is the session
//! endpoint to Tomcat (which drops `;…` from each segment) but not to nginx,
//! and `/./.well-known/rstream/session/..;/..;/../..` is the session
//! endpoint to nginx but climbs out of the namespace for Tomcat. So no single
//! normalisation is used: a path is in the namespace when *some* reading of
//! it is, where the readings are these.
//!
//! 1. **Decoding.** `%HH` and `%uHHHH` (IIS; the UTF-8 of U+HHHH) escapes
//!    are decoded until none is left (`%252E` is `.`).
//! 2. **Characters.** The bytes are read as UTF-8, leniently: a lead byte
//!    followed by its continuation bytes is a character even when overlong
//!    (`%C0%AE` and `%E0%80%AE` are `.`, `%C0%AF` is `/`), a UTF-16
//!    surrogate pair is one character, and any other byte from 0x80 up is an
//!    unknown character. A character whose compatibility normalisation
//!    (NFKC) is ASCII is replaced by that text (`．`, `／`, `＼`, fullwidth
//!    letters, `ﬆ` for `st`, `℀` for `a/c`), and so are the ideographic full
//!    stops `。｡︒` (by `.`).
//! 3. **Segments.** `/` and `\` separate segments. A separator is *firm*
//!    when it is a `/` as sent; every other one (`\`, `%2F`, `%5C`, `／`,
//!    `%C0%AF`, …) is *soft*: some servers do not split there.
//! 4. **Names.** A segment's name is its text up to its first `;` (Tomcat,
//!    Jetty, Spring drop path parameters) or `:` (an NTFS stream,
//!    `.well-known::$INDEX_ALLOCATION`), without trailing spaces; unless
//!    that is `..`, trailing dots and spaces go too (Windows and IIS drop
//!    them). An empty name (`.` and `...` included) makes a *dot segment*,
//!    `..` a *parent segment*; names are compared with `.well-known` and
//!    `rstream` ASCII-case-insensitively.
//! 5. **Readings.** A segment that is exactly `.` or `..` as sent, between
//!    firm separators (or the ends of the path), is dropped or climbs in
//!    every reading. Any other segment may be read by its name (dropped if
//!    a dot segment, climbing if a parent segment, else entered) or as an
//!    ordinary name (entered, as by servers that do not decode, map, strip
//!    or split the way its name assumes). A segment after a soft separator
//!    may also be dropped (read as part of the segment before it), and so
//!    may the first non-empty segment of a path that starts with two
//!    separators (`//evil/…`, `/\evil/…`: an authority to URL parsers).
//!    Each segment is read independently of the others.
//! 6. **The namespace.** The path is in the namespace when some reading
//!    leaves `.well-known` then `rstream` as its first two segments, `..`
//!    climbing one segment (none at the root). The same is checked for the
//!    path cut just before each decoded `?`, `#` or NUL character (step 2),
//!    which end the path for software that decodes before it parses or
//!    hands the path to C.
//! 7. **As sent.** So is a path that is `/.well-known/rstream` or under it
//!    as sent, letter case aside (routers that normalise nothing see
//!    `/.well-known/rstream/../..` there).
//!
//! `/x/.well-known/rstream/session`, `/.well-known/rstreamer` and
//! `/.well-known/openid-configuration` are not in the namespace and are
//! forwarded.
//!
//! # Cost
//!
//! Every reading of a well-known path has a segment whose name starts with
//! `.`, and names only lose characters at their end. That `.` is a `.` as
//! sent (at the start of the path, after a `/`, or after a `\`), or it, or
//! the separator before it, comes out of an escape or a non-ASCII
//! character. So a path that contains no `%`, no `\`, no byte from 0x80 up
//! and no `/.` (counting a leading `.` as one) is in no reading's namespace:
//! [`route`] scans for those, eight bytes at a time, and only walks the
//! paths that have one. The walk is one pass that allocates nothing; see
//! [`Walk`] for how it tracks every reading at once. Two bounds keep its
//! state fixed, and both err on the side of `404`: a path with more than
//! [`MAX_OPEN_ESCAPES`] `%` waiting at once for what follows them (a run of
//! that many `%` or `%25`), and more than 63 segments between `.well-known`
//! and `rstream`, which are taken as possibly balanced.

mod lookalikes;

use crate::encoding::{hex_digit, hex_value};
use crate::syntax::{HIGH_BITS, ONES, word_at};

/// The well-known namespace the layer owns.
pub(crate) const NAMESPACE: &str = "/.well-known/rstream";

/// What the layer does with a request path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// Not the layer's: forward to the inner service untouched.
    Forward,
    /// `/.well-known/rstream/session`.
    Session,
    /// `/.well-known/rstream/logout`.
    Logout,
    /// In the namespace, but not an endpoint: 404 from the layer.
    NotFound,
}

/// Classifies a request path; see the module documentation for the model.
/// Always in line: on the pass-through path it is the scan alone.
#[inline(always)]
pub(crate) fn route(path: &str) -> Route {
    if may_be_well_known(path.as_bytes()) {
        route_suspicious(path)
    } else {
        Route::Forward
    }
}

/// `route` for a path that the scan could not rule out: the literal
/// endpoints, then the walk.
#[cold]
#[inline(never)]
fn route_suspicious(path: &str) -> Route {
    match path.strip_prefix(NAMESPACE) {
        Some("/session") => return Route::Session,
        Some("/logout") => return Route::Logout,
        _ => {}
    }
    if literally_in_namespace(path.as_bytes()) || normalises_into_namespace(path.as_bytes()) {
        Route::NotFound
    } else {
        Route::Forward
    }
}

/// The reading of routers that normalise nothing but case: `/.well-known/rstream`
/// or a path under it as sent, letter case aside (even
/// `/.well-known/rstream/../..`).
fn literally_in_namespace(path: &[u8]) -> bool {
    path.get(..NAMESPACE.len())
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(NAMESPACE.as_bytes()))
        && matches!(path.get(NAMESPACE.len()), None | Some(b'/'))
}

// ------------------------------------------------------------------ the scan

/// The low bit of each 16-bit lane, and its high bit.
const LANE_ONES: u64 = 0x0001_0001_0001_0001;
const LANE_HIGH_BITS: u64 = 0x8000_8000_8000_8000;
/// `/.` in every 16-bit lane (little-endian: `/` is the lane's first byte).
const SLASH_DOT: u64 = u64::from_le_bytes(*b"/./././.");

/// Whether `path` has a `%`, a `\`, a byte from 0x80 up, or a `/.` (a `.`
/// at the very start counts, as if a `/` came before it). Paths without
/// any are in no reading's namespace (see the module documentation).
///
/// Eight bytes at a time: whole words, then, if bytes are left, the last
/// eight (overlapping the word before: looking at a byte twice is
/// harmless); a path shorter than eight bytes is one word padded with zero
/// bytes, which are none of the bytes looked for. A path of at most sixteen
/// bytes (most of them) is its first and last words, tested together.
#[inline(always)]
fn may_be_well_known(path: &[u8]) -> bool {
    let len = path.len();
    if len < 8 {
        return word_may_be_well_known(short_word(path), || b'/');
    }
    if len <= 16 {
        // Most paths: two words (the same one at eight bytes), one test for
        // both; the `/.` check only when a `.` is there.
        let (first, last) = (word_at(path, 0), word_at(path, len - 8));
        if (suspects(first) | suspects(last)) & HIGH_BITS == 0 {
            return false;
        }
        return word_may_be_well_known(first, || b'/')
            || word_may_be_well_known(last, || if len == 8 { b'/' } else { path[len - 9] });
    }
    let mut at = 0;
    while at + 8 <= len {
        let before = || if at == 0 { b'/' } else { path[at - 1] };
        if word_may_be_well_known(word_at(path, at), before) {
            return true;
        }
        at += 8;
    }
    at < len && word_may_be_well_known(word_at(path, len - 8), || path[len - 9])
}

/// A path of fewer than eight bytes as a word, zero bytes after it.
#[inline(always)]
fn short_word(path: &[u8]) -> u64 {
    let len = path.len();
    let part = |at: usize, n: usize| {
        path[at..at + n]
            .iter()
            .rev()
            .fold(0u64, |word, &b| word << 8 | u64::from(b))
    };
    if len >= 4 {
        // Two overlapping halves: their shared bytes are equal, so `|` is exact.
        part(0, 4) | part(len - 4, 4) << ((len - 4) * 8)
    } else if len >= 2 {
        part(0, 2) | part(len - 2, 2) << ((len - 2) * 8)
    } else {
        path.first().map_or(0, |&b| u64::from(b))
    }
}

/// Whether `word` (eight path bytes, little-endian) has a `%`, a `\` or a
/// byte from 0x80 up, or a `/.` within it or starting at the byte before
/// it (`before`, asked for only when the word has a `.`).
///
/// `x - 0x01… & !x & 0x80…` is non-zero exactly when some byte of `x` is
/// zero (the classic test: the borrow only sets bits above a zero byte),
/// and likewise lane by lane for 16-bit lanes. A byte equal to `c` is a
/// zero byte of `word ^ c…`. For every `c` below 0x80, `!(word ^ c…)` and
/// `!word` have the same high bits, so the tests for `%`, `\` (and `.`)
/// share one `& !word`, and `| word` then adds the high bytes (`a & !w |
/// w` is `a | w`). Most words have no `.` and cost just that. Otherwise a
/// `/.` pair is a zero lane of `word ^ "/."…` (at even offsets) or of the
/// word shifted up a byte with `before` below it (odd offsets, and across
/// the boundary).
#[inline(always)]
fn word_may_be_well_known(word: u64, before: impl FnOnce() -> u8) -> bool {
    if suspects(word) & HIGH_BITS == 0 {
        return false;
    }
    let percent = word ^ (ONES * u64::from(b'%'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let escapes_and_high = percent.wrapping_sub(ONES) | backslash.wrapping_sub(ONES) | word;
    if escapes_and_high & HIGH_BITS != 0 {
        return true;
    }
    let even = word ^ SLASH_DOT;
    let odd = (word << 8 | u64::from(before())) ^ SLASH_DOT;
    (even.wrapping_sub(LANE_ONES) & !even | odd.wrapping_sub(LANE_ONES) & !odd) & LANE_HIGH_BITS
        != 0
}

/// A word whose high bits are set where `word` may have a `%`, a `\`, a
/// `.` or a byte from 0x80 up, and are all clear when it has none (see
/// [`word_may_be_well_known`]).
#[inline(always)]
fn suspects(word: u64) -> u64 {
    let percent = word ^ (ONES * u64::from(b'%'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let dot = word ^ (ONES * u64::from(b'.'));
    percent.wrapping_sub(ONES) | backslash.wrapping_sub(ONES) | dot.wrapping_sub(ONES) | word
}

// ------------------------------------------------------------------ the walk

/// The most `%` that may wait at once for what follows them to be decoded
/// (`%%%%…`, or `%25%25%25…`). A path with more is treated as in the
/// namespace: it is answered `404`, never forwarded.
const MAX_OPEN_ESCAPES: usize = 32;

/// How the layer reads non-ASCII characters it does not map: a byte that
/// equals no ASCII character, and so matches no name.
const UNKNOWN: u8 = 0x80;
/// Not a code point; stands for an unfinished or invalid UTF-8 sequence.
const UNKNOWN_CODE_POINT: u32 = u32::MAX;

const WELL_KNOWN: &[u8] = b".well-known";
const RSTREAM: &[u8] = b"rstream";

/// Whether some reading of `path` is in the namespace (see the module
/// documentation), in one pass over it and without allocating.
fn normalises_into_namespace(path: &[u8]) -> bool {
    walk::<Walk, WELL_KNOWN_HEAD, false>(path, Walk::new())
}

/// Whether some reading of `path` holds for `track` (see [`Track`]), in one
/// pass over the path and without allocating. `H` bytes of each name are
/// kept (of every name when `ALL`, else only of the names `T` asks for).
fn walk<T: Track, const H: usize, const ALL: bool>(path: &[u8], track: T) -> bool {
    let mut walker = Walker::<T, H, ALL>::new(track);
    let mut at = 0;
    loop {
        if walker.is_between_characters() {
            // The common case: bytes that are characters as they are, and
            // that only lengthen the segment's name, taken whole; better, a
            // whole segment of them up to a firm `/` or the end of the path.
            let end = path[at..]
                .iter()
                .position(|&b| STOPS[usize::from(b)])
                .map_or(path.len(), |end| at + end);
            if walker.segment.is_empty() && matches!(path.get(end), None | Some(b'/')) {
                walker.plain_segment(&path[at..end]);
                if end == path.len() {
                    return walker.walk.holds();
                }
                at = end + 1;
                continue;
            }
            walker.segment.extend(&path[at..end]);
            at = end;
            match path.get(at) {
                None => break,
                Some(b'/') => walker.separator(true),
                Some(&c @ (b';' | b':')) => walker.segment.push(c, true),
                Some(&b) => walker.byte(b, true),
            }
        } else {
            match path.get(at) {
                None => break,
                Some(&b) => walker.byte(b, true),
            }
        }
        if walker.found {
            return true;
        }
        at += 1;
    }
    walker.finish()
}

/// The bytes of a path as sent that need more than lengthening a name:
/// separators, cuts, escapes, possible path ends (`?`, `#`, NUL) and the
/// bytes of non-ASCII characters.
static STOPS: [bool; 256] = {
    let mut stops = [false; 256];
    let mut b = 0;
    while b < 256 {
        stops[b] =
            b >= 0x80 || matches!(b as u8, b'/' | b'\\' | b';' | b':' | b'%' | b'?' | b'#' | 0);
        b += 1;
    }
    stops
};

/// An escape begun but not finished: the `%` is waiting for what follows
/// it, which may itself still come out of an escape (`%%32E` is `%2E`, so
/// `.`).
#[derive(Clone, Copy, Debug)]
enum Escape {
    /// `%`.
    Percent,
    /// `%H`.
    Hex(u8),
    /// `%u` and `digits` hex digits of `value`.
    Wide { digits: u8, value: u16 },
}

/// Follows every reading of a path at once, segment by segment (step 5),
/// to tell whether some reading has a property: for the layer's own check,
/// being in the namespace ([`Walk`]).
trait Track: Copy {
    /// The next segment: how it may be read, what its name is, and the
    /// name's text (see [`NameText`]).
    fn enter(&mut self, readings: Readings, name: Name, text: NameText<'_>);
    /// Whether some reading so far has the property.
    fn holds(&self) -> bool;
}

/// A segment's name (step 4) as far as a walker kept it: its first
/// characters (`head`, at most as many as the walker keeps) and its length.
/// Only a name whose length is at most the head's is known whole.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NameText<'a> {
    head: &'a [u8],
    len: usize,
}

impl NameText<'_> {
    /// Whether the name is `word`, ASCII letter case aside.
    fn is(&self, word: &[u8]) -> bool {
        self.len == word.len()
            && self
                .head
                .get(..word.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(word))
    }
}

/// How many characters of a name the layer's own check keeps: enough for
/// `.well-known`.
const WELL_KNOWN_HEAD: usize = 11;

/// The pass over a path: decoding (step 1 of the model), characters (step
/// 2), segments and names (3, 4), each stage handing its output to the next.
struct Walker<T, const H: usize, const ALL: bool> {
    /// Open escapes, oldest first. Decoding to a fixed point is confluent
    /// (two escapes never overlap), so decoding each escape as soon as it is
    /// complete and re-reading the byte it gives yields the same text as
    /// decoding the whole path again and again.
    escapes: [Escape; MAX_OPEN_ESCAPES],
    open: usize,
    /// Continuation bytes still expected by the UTF-8 sequence under way,
    /// and its code point so far.
    continuation: u8,
    code_point: u32,
    /// A high surrogate waiting for a low one.
    high_surrogate: Option<u32>,
    segment: Segment<H, ALL>,
    /// Empty segments before the first non-empty one (at most 2 counted).
    leading_empty: u8,
    seen_non_empty: bool,
    walk: T,
    /// Some reading is in the namespace already (a cut path), or a bound
    /// was exceeded.
    found: bool,
}

impl<T: Track, const H: usize, const ALL: bool> Walker<T, H, ALL> {
    fn new(walk: T) -> Self {
        Self {
            escapes: [Escape::Percent; MAX_OPEN_ESCAPES],
            open: 0,
            continuation: 0,
            code_point: 0,
            high_surrogate: None,
            segment: Segment::new(true),
            leading_empty: 0,
            seen_non_empty: false,
            walk,
            found: false,
        }
    }

    /// No escape is open and no character is under way: an ASCII byte
    /// other than `%` is a character as it is.
    #[inline]
    fn is_between_characters(&self) -> bool {
        self.open == 0 && self.continuation == 0 && self.high_surrogate.is_none()
    }

    /// Step 1: a byte of the path (`raw`) or one an escape gave.
    fn byte(&mut self, mut b: u8, mut raw: bool) {
        loop {
            if b == b'%' {
                if self.open == MAX_OPEN_ESCAPES {
                    self.found = true;
                    return;
                }
                self.escapes[self.open] = Escape::Percent;
                self.open += 1;
                return;
            }
            if let Some(top) = self.open.checked_sub(1) {
                match (self.escapes[top], hex_value(b)) {
                    (Escape::Percent, Some(digit)) => {
                        self.escapes[top] = Escape::Hex(digit);
                        return;
                    }
                    (Escape::Percent, None) if b | 0x20 == b'u' => {
                        self.escapes[top] = Escape::Wide {
                            digits: 0,
                            value: 0,
                        };
                        return;
                    }
                    (Escape::Hex(high), Some(low)) => {
                        // Decoded: the byte is read again, as it may finish
                        // an escape opened before this one.
                        self.open = top;
                        b = high << 4 | low;
                        raw = false;
                        continue;
                    }
                    (Escape::Wide { digits, value }, Some(digit)) => {
                        let value = value << 4 | u16::from(digit);
                        if digits < 3 {
                            self.escapes[top] = Escape::Wide {
                                digits: digits + 1,
                                value,
                            };
                            return;
                        }
                        self.open = top;
                        if let Ok(ascii) = u8::try_from(value) {
                            if ascii < 0x80 {
                                b = ascii;
                                raw = false;
                                continue;
                            }
                        }
                        // Its UTF-8 bytes (surrogates encoded like other
                        // code points), none of which can finish an escape.
                        self.close_escapes();
                        let [high, low] = value.to_be_bytes();
                        if value < 0x800 {
                            self.utf8(0xC0 | (value >> 6) as u8, false);
                        } else {
                            self.utf8(0xE0 | high >> 4, false);
                            self.utf8(0x80 | (value >> 6) as u8 & 0x3F, false);
                        }
                        self.utf8(0x80 | low & 0x3F, false);
                        return;
                    }
                    _ => {}
                }
            }
            self.close_escapes();
            self.utf8(b, raw);
            return;
        }
    }

    /// The open escapes can no longer complete: they are text.
    fn close_escapes(&mut self) {
        for index in 0..std::mem::take(&mut self.open) {
            self.utf8(b'%', false);
            match self.escapes[index] {
                Escape::Percent => {}
                Escape::Hex(digit) => self.utf8(hex_digit(digit), false),
                Escape::Wide { digits, value } => {
                    self.utf8(b'u', false);
                    for shift in (0..digits).rev() {
                        // `hex_digit` keeps the low four bits.
                        let digit = (value >> (4 * u16::from(shift))) as u8;
                        self.utf8(hex_digit(digit), false);
                    }
                }
            }
        }
    }

    /// Step 2, bytes to characters: lenient UTF-8.
    fn utf8(&mut self, b: u8, raw: bool) {
        if self.continuation > 0 {
            if b & 0xC0 == 0x80 {
                self.code_point = self.code_point << 6 | u32::from(b & 0x3F);
                self.continuation -= 1;
                if self.continuation == 0 {
                    self.character(self.code_point, false);
                }
                return;
            }
            // An unfinished sequence is one unknown character.
            self.continuation = 0;
            self.character(UNKNOWN_CODE_POINT, false);
        }
        match b {
            0x00..=0x7F => self.character(u32::from(b), raw),
            0xC0..=0xDF => self.begin_sequence(1, b & 0x1F),
            0xE0..=0xEF => self.begin_sequence(2, b & 0x0F),
            0xF0..=0xF7 => self.begin_sequence(3, b & 0x07),
            _ => self.character(UNKNOWN_CODE_POINT, false),
        }
    }

    fn begin_sequence(&mut self, continuation: u8, bits: u8) {
        self.continuation = continuation;
        self.code_point = u32::from(bits);
    }

    /// Step 2, characters to ASCII: surrogate pairs joined, look-alikes
    /// mapped. `raw` only for an ASCII byte of the path as sent.
    fn character(&mut self, cp: u32, raw: bool) {
        if let Some(high) = self.high_surrogate.take() {
            if (0xDC00..=0xDFFF).contains(&cp) {
                self.map(0x10000 + ((high - 0xD800) << 10) + (cp - 0xDC00));
                return;
            }
            self.ascii(UNKNOWN, false);
        }
        if (0xD800..=0xDBFF).contains(&cp) {
            self.high_surrogate = Some(cp);
        } else if let Ok(ascii @ 0..=0x7F) = u8::try_from(cp) {
            self.ascii(ascii, raw);
        } else {
            self.map(cp);
        }
    }

    fn map(&mut self, cp: u32) {
        match lookalikes::ascii_form(cp) {
            Some(text) => {
                for &c in text {
                    self.ascii(c, false);
                }
            }
            None => self.ascii(UNKNOWN, false),
        }
    }

    /// A whole segment as sent, from the separator before it (the segment
    /// under way, still empty, knows whether that one is firm) to a firm
    /// `/` or the end of the path, made only of bytes that are none of the
    /// [`STOPS`]: read straight from the path.
    fn plain_segment(&mut self, text: &[u8]) {
        let without_spaces = text.len() - text.iter().rev().take_while(|&&b| b == b' ').count();
        let without_dots = without_spaces
            - text[..without_spaces]
                .iter()
                .rev()
                .take_while(|&&b| b == b' ' || b == b'.')
                .count();
        let name = name(text, without_spaces, without_dots);
        let after_firm = self.segment.after_firm;
        let plain = after_firm && (text == b"." || text == b"..");
        let authority = !self.seen_non_empty && self.leading_empty >= 2 && !text.is_empty();
        self.count(text.is_empty());
        let text = NameText {
            head: text,
            len: without_dots,
        };
        self.walk.enter(
            Readings::new(name, plain, after_firm, authority),
            name,
            text,
        );
        self.segment = Segment::new(true);
    }

    /// Counts the empty segments that start the path.
    fn count(&mut self, empty: bool) {
        if !empty {
            self.seen_non_empty = true;
        } else if !self.seen_non_empty {
            self.leading_empty = self.leading_empty.saturating_add(1).min(2);
        }
    }

    /// A separator, firm or soft, ends the segment under way.
    #[inline]
    fn separator(&mut self, firm: bool) {
        self.end_segment(firm);
        self.segment = Segment::new(firm);
    }

    /// Steps 3 and 4: separators end segments; other characters make
    /// names. `?`, `#` and NUL also end the path for some readers (step 6).
    fn ascii(&mut self, c: u8, raw: bool) {
        match c {
            b'/' | b'\\' => self.separator(c == b'/' && raw),
            b'?' | b'#' | 0 => {
                let mut walk = self.walk;
                let (readings, name) = self.segment.readings(false, self.is_authority());
                walk.enter(readings, name, self.segment.text());
                self.found |= walk.holds();
                self.segment.push(c, raw);
            }
            _ => self.segment.push(c, raw),
        }
    }

    /// Whether the segment under way is the first non-empty one of a path
    /// that starts with two separators.
    #[inline]
    fn is_authority(&self) -> bool {
        !self.seen_non_empty && self.leading_empty >= 2 && !self.segment.is_empty()
    }

    #[inline]
    fn end_segment(&mut self, firm: bool) {
        let (readings, name) = self.segment.readings(firm, self.is_authority());
        self.count(self.segment.is_empty());
        self.walk.enter(readings, name, self.segment.text());
    }

    /// The end of the path: whatever is still open is text.
    fn finish(&mut self) -> bool {
        self.close_escapes();
        if self.continuation > 0 {
            self.continuation = 0;
            self.character(UNKNOWN_CODE_POINT, false);
        }
        if self.high_surrogate.take().is_some() {
            self.ascii(UNKNOWN, false);
        }
        self.end_segment(true);
        self.found || self.walk.holds()
    }
}

/// A segment's name (step 4), built a character at a time, keeping its
/// first `H` characters (of every name when `ALL`).
#[derive(Clone, Copy, Debug)]
struct Segment<const H: usize, const ALL: bool> {
    /// Whether the separator before it is firm (or it starts the path).
    after_firm: bool,
    /// Every character is a `.` as sent.
    sent_dots: bool,
    /// A `;` or `:` was seen: the rest is not part of the name.
    cut: bool,
    /// Characters, the cut-off ones included.
    chars: u32,
    /// Characters before the cut; the length without trailing spaces, and
    /// without trailing dots and spaces.
    len: u32,
    without_spaces: u32,
    without_dots: u32,
    /// The first characters before the cut: for the layer's own check,
    /// enough to tell `..`, `.well-known` and `rstream`, which end in
    /// neither a dot nor a space, and only kept when the first one is `.`,
    /// `r` or `R`: other names are none of those.
    head: [u8; H],
}

/// What a name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Name {
    Dot,
    Parent,
    WellKnown,
    Rstream,
    Other,
}

impl<const H: usize, const ALL: bool> Segment<H, ALL> {
    fn new(after_firm: bool) -> Self {
        Self {
            after_firm,
            sent_dots: true,
            cut: false,
            chars: 0,
            len: 0,
            without_spaces: 0,
            without_dots: 0,
            head: [0; H],
        }
    }

    /// Whether the first characters of this name are kept.
    #[inline]
    fn keeps_head(&self) -> bool {
        ALL || self.len == 0 || matches!(self.head[0], b'.' | b'r' | b'R')
    }

    /// The name's text, as far as it is kept.
    fn text(&self) -> NameText<'_> {
        NameText {
            head: &self.head,
            len: self.without_dots as usize,
        }
    }

    fn is_empty(&self) -> bool {
        self.chars == 0
    }

    #[inline]
    fn push(&mut self, c: u8, raw: bool) {
        self.chars = self.chars.saturating_add(1);
        self.sent_dots &= raw && c == b'.';
        if self.cut {
            return;
        }
        if c == b';' || c == b':' {
            self.cut = true;
            return;
        }
        if self.keeps_head() {
            if let Some(slot) = self.head.get_mut(self.len as usize) {
                *slot = c;
            }
        }
        self.len = self.len.saturating_add(1);
        if c != b' ' {
            self.without_spaces = self.len;
            if c != b'.' {
                self.without_dots = self.len;
            }
        }
    }

    /// `push(c, true)` for each byte of `sent`: bytes of the path as sent
    /// that are characters as they are and none of the [`STOPS`].
    #[inline]
    fn extend(&mut self, sent: &[u8]) {
        let Ok(n) = u32::try_from(sent.len()) else {
            // Longer than any URI `http` accepts; it makes no name of ours.
            self.chars = u32::MAX;
            self.sent_dots = false;
            self.len = u32::MAX;
            self.without_spaces = u32::MAX;
            self.without_dots = u32::MAX;
            return;
        };
        if n == 0 {
            return;
        }
        self.sent_dots &= self.chars.saturating_add(n) <= 2 && sent.iter().all(|&b| b == b'.');
        self.chars = self.chars.saturating_add(n);
        if self.cut {
            return;
        }
        if self.keeps_head() {
            for (slot, &c) in self.head.iter_mut().skip(self.len as usize).zip(sent) {
                *slot = c;
            }
        }
        // Only the trailing dots and spaces are looked at.
        let mut end = n;
        while end > 0 && sent[end as usize - 1] == b' ' {
            end -= 1;
        }
        if end > 0 {
            self.without_spaces = self.len.saturating_add(end);
        }
        while end > 0 && matches!(sent[end as usize - 1], b' ' | b'.') {
            end -= 1;
        }
        if end > 0 {
            self.without_dots = self.len.saturating_add(end);
        }
        self.len = self.len.saturating_add(n);
    }

    #[inline]
    fn name(&self) -> Name {
        name(
            &self.head,
            self.without_spaces as usize,
            self.without_dots as usize,
        )
    }

    /// The ways this segment may be read (step 5), given whether the
    /// separator after it is firm (the end of the path is) and whether it
    /// may be an authority.
    #[inline]
    fn readings(&self, before_firm: bool, authority: bool) -> (Readings, Name) {
        let plain = self.after_firm && before_firm && self.sent_dots && matches!(self.chars, 1 | 2);
        let name = self.name();
        (Readings::new(name, plain, self.after_firm, authority), name)
    }
}

/// What a name is, from its first characters (at least 11 of them, or all),
/// its length without trailing spaces, and its length without trailing dots
/// and spaces (step 4).
fn name(head: &[u8], without_spaces: usize, without_dots: usize) -> Name {
    let is = |word: &[u8]| {
        head.get(..word.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(word))
    };
    match without_dots {
        0 if without_spaces == 2 && head.starts_with(b"..") => Name::Parent,
        0 => Name::Dot,
        11 if is(WELL_KNOWN) => Name::WellKnown,
        7 if is(RSTREAM) => Name::Rstream,
        _ => Name::Other,
    }
}

/// How a segment may be read: dropped, climbing, entered (by its name, or
/// as another name).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Readings {
    dropped: bool,
    climbs: bool,
    entered: bool,
}

impl Readings {
    /// Step 5: by its name; also as an ordinary name unless it is `.` or
    /// `..` as sent between firm separators (`plain`); also dropped after a
    /// soft separator, or as an authority.
    fn new(name: Name, plain: bool, after_firm: bool, authority: bool) -> Self {
        Self {
            dropped: name == Name::Dot || !after_firm || authority,
            climbs: name == Name::Parent,
            entered: !plain,
        }
    }
}

/// The highest bit of a depth set: depth 63 *or more*.
const DEEP: u64 = 1 << 63;

/// Every reading of the segments so far, at once, in three numbers:
///
/// - `depth`: the fewest segments any reading has entered (and not climbed
///   out of). Every way a segment may be read changes a depth `d` to
///   `d - 1` (not below 0), `d` or `d + 1`, each never lower for a lower `d`,
///   so the least depth after a segment is that of its lowest reading from
///   the least depth before it: no reading needs to be remembered. A
///   `.well-known` segment can be first exactly when `depth` is 0.
/// - `under_well_known`: the set of depths, as bits, that readings have
///   above a first segment `.well-known` (bit 0: it is the only segment).
///   These need a set, not a least value: the depth must come back to 0
///   exactly, without climbing out of `.well-known` on the way.
/// - `under_rstream`: the same above a first `.well-known` and a second
///   `rstream`. The path is in the namespace when this set is not empty.
///
/// Bit 63 of a set stands for depth 63 or more (climbing from it gives 62
/// and "63 or more"): more than 63 segments between `.well-known` and
/// `rstream` may be taken as balanced when they are not, which errs on the
/// side of `404`.
#[derive(Clone, Copy, Debug)]
struct Walk {
    depth: usize,
    under_well_known: u64,
    under_rstream: u64,
}

impl Walk {
    fn new() -> Self {
        Self {
            depth: 0,
            under_well_known: 0,
            under_rstream: 0,
        }
    }
}

impl Readings {
    /// The depths of a set (as bits, see [`Walk`]) after this segment.
    #[inline]
    fn step(self, depths: u64) -> u64 {
        let mut after = 0;
        if self.dropped {
            after |= depths;
        }
        if self.climbs {
            after |= depths >> 1 | depths & DEEP;
        }
        if self.entered {
            after |= depths << 1 | depths & DEEP;
        }
        after
    }

    /// The least depth of every reading after this segment, given the
    /// least before it.
    #[inline]
    fn least_depth(self, depth: usize) -> usize {
        if self.climbs {
            depth.saturating_sub(1)
        } else if self.dropped {
            depth
        } else {
            depth + 1
        }
    }

    /// Whether some reading of this segment climbs (a `..`).
    pub(crate) fn may_climb(self) -> bool {
        self.climbs
    }
}

impl Track for Walk {
    #[inline]
    fn enter(&mut self, readings: Readings, name: Name, _: NameText<'_>) {
        let depth = self.depth;
        let under_well_known = self.under_well_known;
        self.depth = readings.least_depth(depth);
        self.under_well_known = readings.step(under_well_known);
        self.under_rstream = readings.step(self.under_rstream);
        if name == Name::WellKnown && depth == 0 {
            self.under_well_known |= 1;
        }
        if name == Name::Rstream && under_well_known & 1 != 0 {
            self.under_rstream |= 1;
        }
    }

    fn holds(&self) -> bool {
        self.under_rstream != 0
    }
}

// ------------------------------------------------------- the app's prefixes

/// The most segments a path prefix of the application's may have.
pub(crate) const MAX_PREFIX_SEGMENTS: usize = 8;
/// The longest segment of a path prefix of the application's, in bytes.
pub(crate) const MAX_PREFIX_SEGMENT_LEN: usize = 32;

/// A path prefix of the application's (`/admin`, `/api/v1`): the paths
/// that are it or under it, segment by segment (`/admin` covers `/admin`,
/// `/admin/` and `/admin/users`, not `/administrator`).
///
/// Each segment is 1 to [`MAX_PREFIX_SEGMENT_LEN`] bytes of RFC 3986
/// `unreserved` and `sub-delims` other than `;`, or `@`, and does not end
/// with a dot; there are at most [`MAX_PREFIX_SEGMENTS`]. `/` alone is the
/// prefix of every path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Prefix {
    /// `/a/b`, without a trailing slash (empty for `/`).
    text: Box<str>,
    segments: Box<[Box<[u8]>]>,
}

impl Prefix {
    /// Parses a prefix; `None` when it breaks the rules above.
    pub(crate) fn parse(prefix: &str) -> Option<Prefix> {
        let rest = prefix.strip_prefix('/')?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let mut segments = Vec::new();
        if !rest.is_empty() {
            for segment in rest.split('/') {
                let valid = !segment.is_empty()
                    && segment.len() <= MAX_PREFIX_SEGMENT_LEN
                    && !segment.ends_with('.')
                    && segment.bytes().all(|b| PREFIX_BYTES[usize::from(b)]);
                if !valid {
                    return None;
                }
                segments.push(segment.as_bytes().into());
            }
        }
        if segments.len() > MAX_PREFIX_SEGMENTS {
            return None;
        }
        let text = if rest.is_empty() {
            String::new()
        } else {
            format!("/{rest}")
        };
        Some(Prefix {
            text: text.into_boxed_str(),
            segments: segments.into_boxed_slice(),
        })
    }

    /// The prefix, as `/a/b` (`/` for every path).
    pub(crate) fn as_str(&self) -> &str {
        if self.text.is_empty() {
            "/"
        } else {
            &self.text
        }
    }

    /// Whether *some* reading of `path` (see the module documentation) is
    /// this prefix or under it, names compared ASCII-case-insensitively: the
    /// question to ask before letting a request skip something the prefix
    /// requires. Errs on the side of `true` where the walk does.
    pub(crate) fn may_contain(&self, path: &str) -> bool {
        if self.segments.is_empty() || self.literally_contains(path.as_bytes(), true) {
            return true;
        }
        // A path with one reading (letter case aside) is in the prefix only
        // as sent: one scan, no walk.
        !has_one_reading(path.as_bytes())
            && walk::<PrefixWalk<'_>, MAX_PREFIX_SEGMENT_LEN, true>(
                path.as_bytes(),
                PrefixWalk::new(self),
            )
    }

    /// Whether *every* reading of `path` is this prefix or under it: the
    /// path is, as sent and in its exact letter case, the prefix or under
    /// it, and no reading of any of its segments climbs (no `..` however
    /// spelled), so no server can read it as a path outside the prefix.
    pub(crate) fn surely_contains(&self, path: &str) -> bool {
        self.literally_contains(path.as_bytes(), false) && !may_climb(path.as_bytes())
    }

    /// Whether `path`, as sent, is the prefix or under it.
    fn literally_contains(&self, path: &[u8], ignore_case: bool) -> bool {
        let text = self.text.as_bytes();
        let Some(head) = path.get(..text.len()) else {
            return false;
        };
        let same = if ignore_case {
            head.eq_ignore_ascii_case(text)
        } else {
            head == text
        };
        same && matches!(path.get(text.len()), None | Some(b'/'))
    }
}

/// The bytes of a prefix's segments: RFC 3986 `unreserved`, `sub-delims`
/// but `;`, and `@`.
static PREFIX_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric()
            || matches!(
                b as u8,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b'='
                    | b'@'
            );
        b += 1;
    }
    table
};

/// Whether every reading of `path` is the path as sent, letter case aside:
/// no byte that decodes, maps or separates (`%`, `\`, from 0x80 up), none
/// that cuts or trims a name (`;`, `:`, `?`, `#`, a segment ending with a dot, a
/// space or a control), no dot segment or name starting with a dot (`/.`),
/// and no empty segment but a last one (`//`, which may be dropped). The
/// common path is one.
///
/// Sixteen bytes at a time, each byte judged with the one before it by
/// arithmetic that maps onto vector instructions; the last block overlaps
/// the one before it (judging a byte twice changes nothing), and a path
/// shorter than a block is padded with bytes that break nothing.
fn has_one_reading(path: &[u8]) -> bool {
    let Some(rest) = path.strip_prefix(b"/") else {
        return false;
    };
    // Each block is sixteen bytes and the byte before each (`path[at..]`,
    // seventeen bytes). The last block overlaps the one before it; a path
    // shorter than a block is padded with bytes that break nothing.
    let block_keeps_one_reading = |window: &[u8; 17]| {
        let mut breaks = false;
        for i in 0..16 {
            breaks |= breaks_the_reading(window[i], window[i + 1]);
        }
        !breaks
    };
    let window = |at: usize| path.get(at..).and_then(<[u8]>::first_chunk::<17>);
    let len = rest.len();
    let one_reading = if len < 16 {
        let mut padded = [b'a'; 17];
        padded[..path.len()].copy_from_slice(path);
        block_keeps_one_reading(&padded)
    } else {
        let mut at = 0;
        let mut one_reading = true;
        while at + 16 <= len && one_reading {
            one_reading = window(at).is_some_and(block_keeps_one_reading);
            at += 16;
        }
        one_reading && (at == len || window(len - 16).is_some_and(block_keeps_one_reading))
    };
    one_reading && path.last() != Some(&b'.')
}

/// Whether byte `b`, after `before`, gives the path another reading: a byte
/// that decodes, separates, cuts or trims (`%`, `\`, `;`, `:`, `?`, `#`, or
/// outside 0x21 to 0x7E), or a pair that makes a dot segment, a name that
/// starts or ends with a dot, or an empty segment (`/.`, `//`, `./`).
#[inline(always)]
fn breaks_the_reading(before: u8, b: u8) -> bool {
    let special = (b ^ b'%')
        .min(b ^ b'\\')
        .min(b ^ b';')
        .min(b ^ b':')
        .min(b ^ b'?')
        .min(b ^ b'#');
    let outside = b.wrapping_sub(0x21) >= 0x5e;
    let after_slash = (before == b'/') & ((b == b'.') | (b == b'/'));
    let slash_after_dot = (before == b'.') & (b == b'/');
    (special == 0) | outside | after_slash | slash_after_dot
}

/// Whether some reading of some segment of `path` climbs (is `..`,
/// however spelled). A path the scan finds nothing in has no such segment.
fn may_climb(path: &[u8]) -> bool {
    may_be_well_known(path) && walk::<ClimbWalk, 2, false>(path, ClimbWalk::default())
}

/// Whether `path` has exactly one reading, the path as sent, so that a
/// predicate of the application's can be asked about it: it starts with
/// `/`, has no empty segment (`//`), no segment that starts with a dot or
/// ends with one, and only RFC 3986 `unreserved` and `sub-delims` bytes but
/// `;`, or `@` (no `%` escape, no `\`, no `:`, no byte from 0x80 up). A
/// trailing slash is allowed.
pub(crate) fn is_plain(path: &str) -> bool {
    let path = path.as_bytes();
    if path.first() != Some(&b'/') {
        return false;
    }
    let body = &path[1..];
    let body = body.strip_suffix(b"/").unwrap_or(body);
    if body.is_empty() {
        return true;
    }
    body.split(|&b| b == b'/').all(|segment| {
        matches!(segment.first(), Some(&b) if b != b'.')
            && segment.last() != Some(&b'.')
            && segment.iter().all(|&b| PREFIX_BYTES[usize::from(b)])
    })
}

/// Every reading at once, for a prefix of the application's: the least
/// depth, and for each `i`, the depths (a set, as in [`Walk`]) that
/// readings have above a stack whose first `i + 1` segments are the
/// prefix's first `i + 1`.
#[derive(Clone, Copy, Debug)]
struct PrefixWalk<'p> {
    segments: &'p [Box<[u8]>],
    depth: usize,
    under: [u64; MAX_PREFIX_SEGMENTS],
}

impl<'p> PrefixWalk<'p> {
    fn new(prefix: &'p Prefix) -> Self {
        Self {
            segments: &prefix.segments,
            depth: 0,
            under: [0; MAX_PREFIX_SEGMENTS],
        }
    }
}

impl Track for PrefixWalk<'_> {
    fn enter(&mut self, readings: Readings, _: Name, text: NameText<'_>) {
        let depth = self.depth;
        let before = self.under;
        self.depth = readings.least_depth(depth);
        for (after, before) in self.under.iter_mut().zip(before) {
            *after = readings.step(before);
        }
        for (i, segment) in self.segments.iter().enumerate() {
            if !text.is(segment) {
                continue;
            }
            let below = match i.checked_sub(1) {
                None => depth == 0,
                Some(j) => before[j] & 1 != 0,
            };
            if below {
                self.under[i] |= 1;
            }
        }
    }

    fn holds(&self) -> bool {
        self.segments
            .len()
            .checked_sub(1)
            .is_none_or(|last| self.under[last] != 0)
    }
}

/// Whether some reading of some segment so far climbs.
#[derive(Clone, Copy, Debug, Default)]
struct ClimbWalk {
    climbs: bool,
}

impl Track for ClimbWalk {
    fn enter(&mut self, readings: Readings, _: Name, _: NameText<'_>) {
        self.climbs |= readings.may_climb();
    }

    fn holds(&self) -> bool {
        self.climbs
    }
}

#[cfg(test)]
mod tests;
