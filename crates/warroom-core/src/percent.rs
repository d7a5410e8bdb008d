//! Percent-encoding of one URL component (a path segment or a query value): every byte but
//! the unreserved ones (RFC 3986: letters, digits, `-` `.` `_` `~`) becomes `%XX`. A leaf
//! module, used by the server client, the server's watch page and the links' URL templates.

/// `value` with everything but unreserved characters percent-encoded (UTF-8 bytes, upper hex).
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_unreserved_and_encodes_the_rest_as_utf8_bytes() {
        assert_eq!(percent_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(percent_encode("a b/c?d=e&f"), "a%20b%2Fc%3Fd%3De%26f");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }
}
