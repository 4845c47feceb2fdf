//! The tests' own reading of the path model in the crate docs ("Paths"),
//! written apart from the crate: decoding, characters, and whether some
//! reading of a path is `/.well-known/rstream` or under it. Shared by the
//! property tests (`tests/properties.rs`) and the fuzz target's oracle
//! (`fuzz/fuzz_targets/request.rs`), so that both judge by one model.

use std::collections::HashSet;

use unicode_normalization::UnicodeNormalization;

/// A character of a decoded path: the ASCII byte it reads as (`None` for
/// any other character) and whether it is a byte of the path as sent.
pub type Char = (Option<u8>, bool);

pub fn hex_digit(b: u8) -> Option<u32> {
    char::from(b).to_digit(16)
}

/// The UTF-8 encoding of a code point, surrogates encoded like the rest.
pub fn utf8_bytes(cp: u32) -> Vec<u8> {
    if cp < 0x80 {
        vec![cp as u8]
    } else if cp < 0x800 {
        vec![0xC0 | (cp >> 6) as u8, 0x80 | (cp & 0x3F) as u8]
    } else {
        vec![
            0xE0 | (cp >> 12) as u8,
            0x80 | ((cp >> 6) & 0x3F) as u8,
            0x80 | (cp & 0x3F) as u8,
        ]
    }
}

/// Decoding: `%HH` and `%uHHHH`, pass after pass until one changes nothing.
pub fn decode_fully(path: &str) -> Vec<(u8, bool)> {
    let mut bytes: Vec<(u8, bool)> = path.bytes().map(|b| (b, true)).collect();
    loop {
        let mut next = Vec::with_capacity(bytes.len());
        let mut changed = false;
        let mut i = 0;
        while i < bytes.len() {
            let at = |k: usize| bytes.get(i + k).map(|&(b, _)| b);
            let digits = |range: std::ops::Range<usize>| {
                range
                    .map(|k| at(k).and_then(hex_digit))
                    .collect::<Option<Vec<u32>>>()
                    .map(|digits| digits.iter().fold(0, |value, d| value * 16 + d))
            };
            if at(0) == Some(b'%') {
                if let Some(byte) = digits(1..3) {
                    next.push((byte as u8, false));
                    i += 3;
                    changed = true;
                    continue;
                }
                if matches!(at(1), Some(b'u' | b'U'))
                    && let Some(cp) = digits(2..6)
                {
                    next.extend(utf8_bytes(cp).into_iter().map(|b| (b, false)));
                    i += 6;
                    changed = true;
                    continue;
                }
            }
            next.push(bytes[i]);
            i += 1;
        }
        bytes = next;
        if !changed {
            return bytes;
        }
    }
}

/// Characters: lenient UTF-8 (overlong forms and surrogates accepted, a
/// broken sequence is one unknown character), surrogate pairs joined, and
/// code points whose NFKC form is ASCII (and the ideographic full stops)
/// replaced by that text.
pub fn characters(bytes: &[(u8, bool)]) -> Vec<Char> {
    let mut code_points: Vec<(Option<u32>, bool)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let (b, sent) = bytes[i];
        let need = match b {
            0x00..=0x7F => {
                code_points.push((Some(u32::from(b)), sent));
                i += 1;
                continue;
            }
            0xC0..=0xDF => 1,
            0xE0..=0xEF => 2,
            0xF0..=0xF7 => 3,
            _ => {
                code_points.push((None, false));
                i += 1;
                continue;
            }
        };
        let mut cp = u32::from(b) & (0x7F >> (need + 1));
        let mut taken = 0;
        while taken < need {
            match bytes.get(i + 1 + taken) {
                Some(&(c, _)) if c & 0xC0 == 0x80 => cp = cp << 6 | u32::from(c & 0x3F),
                _ => break,
            }
            taken += 1;
        }
        code_points.push(((taken == need).then_some(cp), false));
        i += 1 + taken;
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < code_points.len() {
        let (cp, sent) = code_points[i];
        i += 1;
        let cp = match cp {
            Some(high @ 0xD800..=0xDBFF) => match code_points.get(i) {
                Some(&(Some(low @ 0xDC00..=0xDFFF), _)) => {
                    i += 1;
                    Some(0x10000 + (high - 0xD800) * 0x400 + (low - 0xDC00))
                }
                _ => None,
            },
            other => other,
        };
        match cp {
            Some(ascii @ 0..=0x7F) => out.push((Some(ascii as u8), sent)),
            Some(0x3002 | 0xFE12 | 0xFF61) => out.push((Some(b'.'), false)),
            Some(cp) => {
                match char::from_u32(cp).map(|c| c.to_string().nfkc().collect::<String>()) {
                    Some(text) if !text.is_empty() && text.is_ascii() => {
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Entry {
    WellKnown,
    Rstream,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Drop,
    Climb,
    Enter(Entry),
}

/// The ways a segment may be read.
pub fn steps(text: &[Char], after_firm: bool, before_firm: bool, authority: bool) -> Vec<Step> {
    // Its name: up to the first `;` or `:`, trailing spaces off; then, unless
    // that is `..`, trailing dots and spaces off; letter case aside.
    let end = text
        .iter()
        .position(|&(c, _)| c == Some(b';') || c == Some(b':'))
        .unwrap_or(text.len());
    let mut name: Vec<Option<u8>> = text[..end].iter().map(|&(c, _)| c).collect();
    while name.last() == Some(&Some(b' ')) {
        name.pop();
    }
    let parent = name == [Some(b'.'), Some(b'.')];
    if !parent {
        while matches!(name.last(), Some(Some(b'.' | b' '))) {
            name.pop();
        }
    }
    let spells = |word: &str| {
        name.len() == word.len()
            && name
                .iter()
                .zip(word.bytes())
                .all(|(c, w)| c.is_some_and(|c| c.eq_ignore_ascii_case(&w)))
    };
    let by_name = if parent {
        Step::Climb
    } else if name.is_empty() {
        Step::Drop
    } else if spells(".well-known") {
        Step::Enter(Entry::WellKnown)
    } else if spells("rstream") {
        Step::Enter(Entry::Rstream)
    } else {
        Step::Enter(Entry::Other)
    };
    let sent_as = |dots: usize| text.len() == dots && text.iter().all(|&c| c == (Some(b'.'), true));
    let plain = after_firm && before_firm && (sent_as(1) || sent_as(2));
    let mut steps = vec![by_name];
    if !plain {
        steps.push(Step::Enter(Entry::Other));
    }
    if !after_firm || authority {
        steps.push(Step::Drop);
    }
    steps
}

/// Whether some reading of the characters leaves `.well-known`, `rstream`
/// as the first two segments; `end_is_firm` when they end the path as sent.
pub fn some_reading_is_well_known(chars: &[Char], end_is_firm: bool) -> bool {
    let mut segments: Vec<(&[Char], bool, bool)> = Vec::new();
    let (mut start, mut after_firm) = (0, true);
    for (i, &(c, sent)) in chars.iter().enumerate() {
        if c == Some(b'/') || c == Some(b'\\') {
            let firm = c == Some(b'/') && sent;
            segments.push((&chars[start..i], after_firm, firm));
            start = i + 1;
            after_firm = firm;
        }
    }
    segments.push((&chars[start..], after_firm, end_is_firm));
    let authority = (segments.len() >= 3 && segments[0].0.is_empty() && segments[1].0.is_empty())
        .then(|| segments.iter().position(|(text, ..)| !text.is_empty()))
        .flatten();
    let readings: Vec<Vec<Step>> = segments
        .iter()
        .enumerate()
        .map(|(i, &(text, after, before))| steps(text, after, before, authority == Some(i)))
        .collect();

    // Every reading, depth first, each stack looked at once.
    fn search(
        readings: &[Vec<Step>],
        stack: &[Entry],
        seen: &mut HashSet<(usize, Vec<Entry>)>,
    ) -> bool {
        let Some((first, rest)) = readings.split_first() else {
            return stack.starts_with(&[Entry::WellKnown, Entry::Rstream]);
        };
        if !seen.insert((rest.len(), stack.to_vec())) {
            return false;
        }
        first.iter().any(|&step| {
            let mut stack = stack.to_vec();
            match step {
                Step::Drop => {}
                Step::Climb => {
                    stack.pop();
                }
                // Only the two bottom entries decide the answer; above them
                // only the depth matters, so the stacks looked at stay few.
                Step::Enter(entry) if stack.len() < 2 => stack.push(entry),
                Step::Enter(_) => stack.push(Entry::Other),
            }
            search(rest, &stack, seen)
        })
    }
    search(&readings, &[], &mut HashSet::new())
}
