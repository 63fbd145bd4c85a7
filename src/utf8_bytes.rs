//! [`Utf8Bytes`]: text that shares a [`Bytes`] buffer.

use alloc::string::String;
use alloc::vec::Vec;
use core::borrow::Borrow;
use core::fmt;
use core::ops::Deref;

use bytes::Bytes;

use crate::utf8::{Utf8Error, Utf8Validator, validate};

/// UTF-8 text held in a reference-counted [`Bytes`] buffer.
///
/// A received text message is handed out as `Utf8Bytes`: the payload is
/// unmasked in place in the read buffer, validated once (as it arrives), and
/// shared without a copy. It dereferences to `&str`, compares with `str` and
/// `String`, and converts back to [`Bytes`] for free.
///
/// ```
/// use rfc6455::Utf8Bytes;
///
/// let text = Utf8Bytes::from("héllo");
/// assert_eq!(text, "héllo");
/// assert_eq!(text.len(), 6); // bytes, through Deref<Target = str>
/// assert!(text.starts_with("hé"));
/// assert!(Utf8Bytes::try_from(bytes::Bytes::from_static(b"\xff")).is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// Text from a `&'static str`, without allocating.
    pub const fn from_static(text: &'static str) -> Self {
        Utf8Bytes(Bytes::from_static(text.as_bytes()))
    }

    /// The text.
    #[inline]
    #[allow(unsafe_code)]
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor in this file validates the bytes, takes
        // them from a `str`, or is `TextCheck::finish`, which validates them
        // unless every one of them already went through its validator, and
        // `Bytes` is immutable, so the bytes are valid UTF-8 for the life of
        // `self`. Nothing outside this file can build a `Utf8Bytes` from
        // unchecked bytes. Skipping the check here is the point of the type:
        // a received text message is validated once, not again each time it
        // is read.
        unsafe { core::str::from_utf8_unchecked(&self.0) }
    }

    /// The UTF-8 bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The underlying buffer, without a copy.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

/// The validation of one received text message (§8.1: fail fast, as the
/// bytes arrive), and the only way the connection builds its
/// [`Utf8Bytes`]: so the decision "these bytes were already validated"
/// that [`Utf8Bytes::as_str`] relies on is made in this file alone.
#[derive(Debug, Default)]
pub(crate) struct TextCheck {
    validator: Utf8Validator,
    /// Bytes of the message that went through `validator`, in order.
    fed: u64,
}

impl TextCheck {
    /// Starts a new message.
    pub(crate) fn reset(&mut self) {
        self.validator.reset();
        self.fed = 0;
    }

    /// Validates the message's next bytes as they arrive, failing at the
    /// first byte that cannot start or continue a character.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Result<(), Utf8Error> {
        self.validator.feed(chunk)?;
        self.fed += chunk.len() as u64;
        Ok(())
    }

    /// The message's text from `all`, its bytes in the order they were
    /// fed. When all of them went through [`feed`](Self::feed), only the
    /// end is checked (§8.1: the message may not stop inside a character);
    /// otherwise (a whole single-frame message, checked once here with
    /// SIMD) every byte is validated now.
    pub(crate) fn finish(&mut self, all: Bytes) -> Result<Utf8Bytes, Utf8Error> {
        if self.fed == all.len() as u64 {
            self.validator.finish()?;
        } else {
            validate(&all)?;
        }
        self.reset();
        Ok(Utf8Bytes(all))
    }
}

impl Deref for Utf8Bytes {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Borrow<str> for Utf8Bytes {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl From<String> for Utf8Bytes {
    fn from(text: String) -> Self {
        Utf8Bytes(Bytes::from(text.into_bytes()))
    }
}

impl From<&String> for Utf8Bytes {
    fn from(text: &String) -> Self {
        Utf8Bytes(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(text: &str) -> Self {
        Utf8Bytes(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl From<char> for Utf8Bytes {
    fn from(c: char) -> Self {
        let mut buf = [0; 4];
        Utf8Bytes::from(&*c.encode_utf8(&mut buf))
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(text: Utf8Bytes) -> Self {
        text.0
    }
}

impl From<Utf8Bytes> for String {
    /// Copies the text into a `String`.
    fn from(text: Utf8Bytes) -> Self {
        String::from(text.as_str())
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = Utf8Error;

    /// Validates `bytes` as UTF-8 and keeps them without a copy.
    fn try_from(bytes: Bytes) -> Result<Self, Utf8Error> {
        validate(&bytes)?;
        Ok(Utf8Bytes(bytes))
    }
}

impl TryFrom<Vec<u8>> for Utf8Bytes {
    type Error = Utf8Error;

    /// Validates `bytes` as UTF-8 and keeps them without a copy.
    fn try_from(bytes: Vec<u8>) -> Result<Self, Utf8Error> {
        Utf8Bytes::try_from(Bytes::from(bytes))
    }
}

macro_rules! eq_str {
    ($($other:ty),*) => {$(
        impl PartialEq<$other> for Utf8Bytes {
            fn eq(&self, other: &$other) -> bool {
                self.as_str() == AsRef::<str>::as_ref(other)
            }
        }
        impl PartialEq<Utf8Bytes> for $other {
            fn eq(&self, other: &Utf8Bytes) -> bool {
                AsRef::<str>::as_ref(self) == other.as_str()
            }
        }
    )*};
}
eq_str!(str, &str, String);

impl FromIterator<char> for Utf8Bytes {
    fn from_iter<I: IntoIterator<Item = char>>(chars: I) -> Self {
        Utf8Bytes::from(chars.into_iter().collect::<String>())
    }
}
