//! The stored value: a versioned, compact binary encoding of a session's
//! user, deadlines and tags.
//!
//! Layout of version 1 (all integers LEB128 varints, strings a varint byte
//! length then UTF-8):
//!
//! ```text
//! major (1 byte, = 1) · minor (1 byte)
//! created_at: seconds since the Unix epoch (zigzag varint), nanoseconds (varint)
//! expires_at: seconds since the Unix epoch (zigzag varint), nanoseconds (varint)
//! userId (string)
//! presence flags (1 byte): 1 name, 2 email, 4 image, 8 attributes, 16 tags (1.1)
//! name, email, image (strings, each when its flag is set)
//! attributes (string: a JSON object, when its flag is set)
//! tags (1.1, when its flag is set): a count (varint), then each tag (string)
//! … fields of later minor versions
//! ```
//!
//! Version 1.1 added the tags. A 1.0 value has no flag 16, so it reads as a
//! session without tags; a 1.0 reader ignores flag 16 and the bytes after
//! the attributes, so it reads a 1.1 value as the same session without its
//! tags.
//!
//! The rules that keep versions apart:
//!
//! - A minor version only appends fields after the last one (and may use the
//!   flag bits still unassigned for them). A reader ignores the bytes after
//!   the fields it knows and the flag bits it does not know, so an older
//!   crate reads what a newer one of the same major version wrote, losing
//!   only the fields it does not know.
//! - A change that an older reader would misread takes a new major version.
//!   A reader refuses a major version it does not know
//!   ([`DecodeError::UnsupportedVersion`]), and refuses bytes that do not
//!   follow the layout ([`DecodeError::Corrupt`]); neither can panic nor
//!   produce another user.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::identity::User;

/// The major version this crate writes and reads.
pub(super) const MAJOR: u8 = 1;
/// The minor version this crate writes.
pub(super) const MINOR: u8 = 1;

const NAME: u8 = 1;
const EMAIL: u8 = 2;
const IMAGE: u8 = 4;
const ATTRIBUTES: u8 = 8;
/// Since 1.1.
const TAGS: u8 = 16;

/// What a stored value holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Decoded {
    pub(super) user: User,
    pub(super) created_at: SystemTime,
    pub(super) expires_at: SystemTime,
    /// In the order stored.
    pub(super) tags: Vec<String>,
}

/// Why a stored value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DecodeError {
    /// Written by a crate version with another major version of the layout.
    UnsupportedVersion(u8),
    /// Not a value of this layout; the text says what is wrong.
    Corrupt(&'static str),
}

/// Encodes a session's user, deadlines and tags.
pub(super) fn encode(
    user: &User,
    created_at: SystemTime,
    expires_at: SystemTime,
    tags: &[impl AsRef<str>],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + user.user_id().len());
    out.push(MAJOR);
    out.push(MINOR);
    put_time(&mut out, created_at);
    put_time(&mut out, expires_at);
    put_str(&mut out, user.user_id());
    let attributes = (!user.attributes().is_empty())
        // Serialising a JSON map cannot fail.
        .then(|| serde_json::to_string(user.attributes()).unwrap_or_default());
    let mut flags = 0;
    for (bit, present) in [
        (NAME, user.name().is_some()),
        (EMAIL, user.email().is_some()),
        (IMAGE, user.image().is_some()),
        (ATTRIBUTES, attributes.is_some()),
        (TAGS, !tags.is_empty()),
    ] {
        if present {
            flags |= bit;
        }
    }
    out.push(flags);
    for text in [
        user.name(),
        user.email(),
        user.image(),
        attributes.as_deref(),
    ]
    .into_iter()
    .flatten()
    {
        put_str(&mut out, text);
    }
    if !tags.is_empty() {
        put_varint(&mut out, tags.len() as u64);
        for tag in tags {
            put_str(&mut out, tag.as_ref());
        }
    }
    out
}

/// Decodes a stored value; bytes after the fields of version 1.1 are
/// ignored.
pub(super) fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    let mut reader = Reader(bytes);
    let major = reader.byte()?;
    if major != MAJOR {
        return Err(DecodeError::UnsupportedVersion(major));
    }
    // Any minor version: the fields of 1.0 come first.
    let _minor = reader.byte()?;
    let created_at = reader.time()?;
    let expires_at = reader.time()?;
    let mut user = User::new(reader.str()?);
    let flags = reader.byte()?;
    if flags & NAME != 0 {
        user = user.with_name(reader.str()?);
    }
    if flags & EMAIL != 0 {
        user = user.with_email(reader.str()?);
    }
    if flags & IMAGE != 0 {
        user = user.with_image(reader.str()?);
    }
    if flags & ATTRIBUTES != 0 {
        let attributes: Map<String, Value> = serde_json::from_str(reader.str()?)
            .map_err(|_| DecodeError::Corrupt("the attributes are not a JSON object"))?;
        user = user.with_attributes(attributes);
    }
    let mut tags = Vec::new();
    if flags & TAGS != 0 {
        // Each tag takes a byte at least: the count is bounded by the value.
        for _ in 0..reader.varint()? {
            tags.push(reader.str()?.to_owned());
        }
    }
    Ok(Decoded {
        user,
        created_at,
        expires_at,
        tags,
    })
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// Seconds (signed, zigzag) and nanoseconds since the Unix epoch: every
/// `SystemTime` of the platforms the crate runs on, exactly.
fn put_time(out: &mut Vec<u8>, time: SystemTime) {
    let (secs, nanos) = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => (
            i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
            after.subsec_nanos(),
        ),
        Err(before) => {
            // `before` is how far the time lies before the epoch: −s.n is
            // −(s+1) + (1e9 − n) nanoseconds.
            let before = before.duration();
            let secs = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            match before.subsec_nanos() {
                0 => (-secs, 0),
                n => (-secs - 1, 1_000_000_000 - n),
            }
        }
    };
    put_varint(out, ((secs << 1) ^ (secs >> 63)) as u64);
    put_varint(out, u64::from(nanos));
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let (&first, rest) = self
            .0
            .split_first()
            .ok_or(DecodeError::Corrupt("the value ends early"))?;
        self.0 = rest;
        Ok(first)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(DecodeError::Corrupt("a number is too large"));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::Corrupt("a number is too large"))
    }

    fn str(&mut self) -> Result<&'a str, DecodeError> {
        let len = usize::try_from(self.varint()?)
            .map_err(|_| DecodeError::Corrupt("a text is too long"))?;
        if len > self.0.len() {
            return Err(DecodeError::Corrupt("the value ends early"));
        }
        let (text, rest) = self.0.split_at(len);
        self.0 = rest;
        std::str::from_utf8(text).map_err(|_| DecodeError::Corrupt("a text is not UTF-8"))
    }

    fn time(&mut self) -> Result<SystemTime, DecodeError> {
        let zigzag = self.varint()?;
        let secs = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
        let nanos = u32::try_from(self.varint()?)
            .ok()
            .filter(|&n| n < 1_000_000_000)
            .ok_or(DecodeError::Corrupt("a time has too many nanoseconds"))?;
        let time = if secs >= 0 {
            UNIX_EPOCH.checked_add(Duration::new(secs.unsigned_abs(), nanos))
        } else {
            UNIX_EPOCH
                .checked_sub(Duration::from_secs(secs.unsigned_abs()))
                .and_then(|t| t.checked_add(Duration::from_nanos(u64::from(nanos))))
        };
        time.ok_or(DecodeError::Corrupt("a time is out of the clock's range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ada() -> User {
        User::new("ada")
            .with_name("Ada Lovelace")
            .with_email("ada@example.com")
            .with_image("https://example.com/ada.png")
            .with_attribute("roles", serde_json::json!(["admin"]))
    }

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    const NO_TAGS: &[&str] = &[];

    #[test]
    fn a_session_round_trips_exactly() {
        let created = at(1_700_000_000, 123_456_789);
        let expires = at(1_700_003_600, 1);
        let bytes = encode(&ada(), created, expires, NO_TAGS);
        assert_eq!(&bytes[..2], &[MAJOR, MINOR]);
        let back = decode(&bytes).unwrap();
        assert_eq!(back.user, ada());
        assert_eq!(back.created_at, created);
        assert_eq!(back.expires_at, expires);
    }

    #[test]
    fn a_bare_user_is_compact() {
        let bytes = encode(
            &User::new("u-1"),
            at(1_700_000_000, 0),
            at(1_700_003_600, 0),
            NO_TAGS,
        );
        // Two version bytes, two times of six bytes, the id and the flags.
        assert_eq!(bytes.len(), 2 + 6 + 6 + 4 + 1);
        assert_eq!(decode(&bytes).unwrap().user, User::new("u-1"));
    }

    #[test]
    fn times_before_the_epoch_and_far_ahead_round_trip() {
        let user = User::new("u");
        for time in [
            UNIX_EPOCH,
            UNIX_EPOCH - Duration::new(0, 1),
            UNIX_EPOCH - Duration::new(5, 250),
            UNIX_EPOCH + Duration::new(u64::from(u32::MAX) * 1000, 999_999_999),
        ] {
            let bytes = encode(&user, time, time, NO_TAGS);
            let back = decode(&bytes).unwrap();
            assert_eq!((back.created_at, back.expires_at), (time, time));
        }
    }

    #[test]
    fn a_newer_minor_version_with_more_fields_is_read() {
        let mut bytes = encode(&ada(), at(1, 0), at(2, 0), NO_TAGS);
        bytes[1] = 7;
        // An unknown flag bit and an appended field.
        bytes.extend_from_slice(b"\x05hello\xff\x00");
        let back = decode(&bytes).unwrap();
        assert_eq!(back.user, ada());
        assert_eq!(back.expires_at, at(2, 0));
    }

    #[test]
    fn tags_round_trip_in_order() {
        let tags = ["sid:https://idp.example/\u{0}x", "sub:ü", ""];
        let bytes = encode(&ada(), at(1, 0), at(2, 0), &tags);
        assert_eq!(&bytes[..2], &[1, 1]);
        assert_eq!(decode(&bytes).unwrap().tags, tags);
        assert!(
            decode(&encode(&ada(), at(1, 0), at(2, 0), NO_TAGS))
                .unwrap()
                .tags
                .is_empty()
        );
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "{len}");
        }
        // A count larger than the value holds is refused, not allocated.
        let mut huge = encode(&User::new("u"), at(1, 0), at(2, 0), NO_TAGS);
        let flags = huge.len() - 1;
        huge[flags] |= TAGS;
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0]);
        assert_eq!(
            decode(&huge),
            Err(DecodeError::Corrupt("the value ends early"))
        );
    }

    #[test]
    fn versions_1_0_and_1_1_read_each_other() {
        // A value written by 1.0 (minor 0, no tag flag) is an untagged session.
        let mut old = encode(&ada(), at(1, 0), at(2, 0), NO_TAGS);
        old[1] = 0;
        let back = decode(&old).unwrap();
        assert_eq!(back.user, ada());
        assert!(back.tags.is_empty());

        // A 1.0 reader reads the fields of 1.0, ignores flag bits it does not
        // know and every byte after the attributes: in a tagged 1.1 value
        // those fields are byte for byte those of the same session untagged,
        // so it reads the session without its tags.
        let user = User::new("u").with_name("N");
        let tagged = encode(&user, at(1, 0), at(2, 0), &["sid:1"]);
        let untagged = encode(&user, at(1, 0), at(2, 0), NO_TAGS);
        // Versions, two times of two bytes, the id, then the flags.
        let flags_at = 2 + 2 + 2 + 2;
        assert_eq!(untagged[flags_at], NAME);
        assert_eq!(tagged[..flags_at], untagged[..flags_at]);
        assert_eq!(tagged[flags_at], NAME | TAGS);
        assert_eq!(
            tagged[flags_at + 1..untagged.len()],
            untagged[flags_at + 1..]
        );
        assert_eq!(&tagged[untagged.len()..], b"\x01\x05sid:1");
    }

    #[test]
    fn another_major_version_is_refused() {
        let mut bytes = encode(&ada(), at(1, 0), at(2, 0), NO_TAGS);
        bytes[0] = 2;
        assert_eq!(decode(&bytes), Err(DecodeError::UnsupportedVersion(2)));
        assert_eq!(decode(&[0]), Err(DecodeError::UnsupportedVersion(0)));
    }

    #[test]
    fn every_truncation_is_refused() {
        let bytes = encode(&ada(), at(1, 0), at(2, 0), NO_TAGS);
        for len in 0..bytes.len() {
            assert!(
                matches!(decode(&bytes[..len]), Err(DecodeError::Corrupt(_))),
                "{len}"
            );
        }
    }

    #[test]
    fn bad_numbers_and_texts_are_refused() {
        // Nanoseconds out of range.
        assert!(decode(&[1, 0, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03]).is_err());
        // A varint longer than 64 bits.
        let mut long = vec![1, 0];
        long.extend([0xff; 11]);
        assert_eq!(
            decode(&long),
            Err(DecodeError::Corrupt("a number is too large"))
        );
        // A user id that is not UTF-8.
        assert_eq!(
            decode(&[1, 0, 0, 0, 0, 0, 1, 0xff, 0]),
            Err(DecodeError::Corrupt("a text is not UTF-8"))
        );
        // Attributes that are not an object.
        assert_eq!(
            decode(&[1, 0, 0, 0, 0, 0, 1, b'u', ATTRIBUTES, 2, b'[', b']']),
            Err(DecodeError::Corrupt("the attributes are not a JSON object"))
        );
    }

    proptest::proptest! {
        #[test]
        fn no_input_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn any_profile_round_trips(
            id in ".{0,40}",
            name in proptest::option::of(".{0,20}"),
            secs in 0u64..4_000_000_000,
            nanos in 0u32..1_000_000_000,
        ) {
            let mut user = User::new(id);
            if let Some(name) = name {
                user = user.with_name(name);
            }
            let time = at(secs, nanos);
            let back = decode(&encode(&user, time, time, NO_TAGS)).unwrap();
            proptest::prop_assert_eq!(back.user, user);
            proptest::prop_assert_eq!(back.created_at, time);
        }
    }
}
