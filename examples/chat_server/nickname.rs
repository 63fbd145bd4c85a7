//! Nicknames that cannot pass for someone else's.
//!
//! A nickname is shown in every member's list and recipient menu, so two
//! that look the same would let one member pass for another. What the
//! client asks for is:
//! 1. trimmed, normalised to NFKC (Unicode UAX #15: full-width `ｗｕｋｏｎｇ`
//!    becomes `wukong`, `n` + U+0303 becomes `ñ`), emoji presentation
//!    selectors (U+FE0E, U+FE0F) dropped and runs of spaces made one;
//! 2. refused if it holds a character that shows nothing or changes how
//!    others are shown: controls (Cc), format characters (Cf: U+200B zero
//!    width space, U+2060 word joiner, U+FEFF, bidi controls such as the
//!    U+202E right-to-left override, U+200D zero width joiner), other
//!    default-ignorable code points (U+034F combining grapheme joiner,
//!    Hangul fillers), private-use and unassigned code points, separators
//!    other than the space;
//! 3. refused if a combining mark stands alone (first, or after a space)
//!    or more than [`MAX_MARKS`] are stacked on one character;
//! 4. refused if it mixes scripts beyond what Unicode TS #39 calls *highly
//!    restrictive* (one script, or Latin with Han, Japanese or Korean):
//!    `wukоng` with a Cyrillic `о` is refused even while no `wukong` is
//!    online;
//! 5. longer than [`MAX_CHARS`] characters: refused.
//!
//! The room then refuses a name whose confusable *skeleton* (TS #39
//! §4: `I` and `l`, `rn` and `m`, Latin and Cyrillic look-alikes) is that
//! of a member online ([`skeleton`]).
//!
//! The Unicode data comes from the unicode-rs crates (normalisation,
//! general categories, TS #39 tables), not from tables of our own.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::emoji::{is_emoji_presentation_selector, is_text_presentation_selector};
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};
use unicode_security::general_security_profile::IdentifierType;
use unicode_security::mixed_script::AugmentedScriptSet;
use unicode_security::{GeneralSecurityProfile, MixedScript};

/// The longest nickname, in characters (after normalisation).
pub const MAX_CHARS: usize = 32;

/// The most combining marks on one character: enough for any script's
/// vowel and tone marks, not for a tower drawn over the other names.
pub const MAX_MARKS: usize = 4;

/// The nickname `wanted` as the room will show it (normalised), or why it
/// is refused. An empty result means none was asked for.
pub fn normalise(wanted: &str) -> Result<String, String> {
    let mut name = String::with_capacity(wanted.len());
    for c in wanted.trim().nfkc() {
        if is_emoji_presentation_selector(c) || is_text_presentation_selector(c) {
            continue; // emoji or text style of the symbol before: no other meaning
        }
        if c == ' ' && (name.is_empty() || name.ends_with(' ')) {
            continue;
        }
        name.push(c);
    }
    let name = name.trim_end().to_string();
    if name.chars().count() > MAX_CHARS {
        return Err(format!("nickname longer than {MAX_CHARS} characters"));
    }
    let mut previous: Option<char> = None;
    let mut marks = 0;
    for c in name.chars() {
        if let Some(why) = invisible(c) {
            return Err(format!("nickname with {why} (U+{:04X})", c as u32));
        }
        if c.general_category_group() == GeneralCategoryGroup::Mark {
            marks += 1;
            if previous.is_none_or(|p| p == ' ') {
                return Err(format!(
                    "nickname with a combining mark (U+{:04X}) on no character",
                    c as u32
                ));
            }
            if marks > MAX_MARKS {
                return Err(format!(
                    "nickname with more than {MAX_MARKS} combining marks on one character"
                ));
            }
        } else {
            marks = 0;
        }
        previous = Some(c);
    }
    if !highly_restrictive(&name) {
        return Err("nickname mixing scripts (such as Latin with Cyrillic or Greek)".into());
    }
    Ok(name)
}

/// What makes `c` unfit for a nickname, if anything: it shows nothing,
/// or it changes how the text around it is shown.
fn invisible(c: char) -> Option<&'static str> {
    use GeneralCategory::*;
    match c.general_category() {
        Control => return Some("a control character"),
        Format => return Some("an invisible formatting character"),
        PrivateUse => return Some("a private-use character"),
        Unassigned => return Some("an unassigned code point"),
        Surrogate => return Some("a surrogate"),
        LineSeparator | ParagraphSeparator => return Some("a line break"),
        SpaceSeparator if c != ' ' => return Some("a space other than U+0020"),
        _ => {}
    }
    (c.identifier_type() == Some(IdentifierType::Default_Ignorable))
        .then_some("an invisible character")
}

/// Whether `name` is single-script, or Latin with one of Han, Japanese or
/// Korean (TS #39 §5.2, *highly restrictive*). Characters of every script
/// (digits, punctuation, emoji, spaces) go with any.
fn highly_restrictive(name: &str) -> bool {
    if name.is_single_script() {
        return true;
    }
    let latin = AugmentedScriptSet::for_char('a');
    let others: String = name
        .chars()
        .filter(|&c| AugmentedScriptSet::for_char(c) != latin)
        .collect();
    let others = AugmentedScriptSet::for_str(&others);
    others.hanb || others.jpan || others.kore
}

/// The confusable skeleton of a normalised nickname (TS #39 §4): two
/// names with the same skeleton look alike.
pub fn skeleton(name: &str) -> String {
    unicode_security::skeleton(name).collect()
}
