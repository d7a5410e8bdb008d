//! Decode the member assignment a broker returns in DescribeGroups for the `consumer`
//! protocol (ConsumerProtocolAssignment v0-v3, not flexible): which partitions a member owns.

/// (topic, partition) pairs, or `None` when the bytes are not a consumer assignment.
pub fn decode_assignment(bytes: &[u8]) -> Option<Vec<(String, i32)>> {
    let mut r = Reader { bytes, at: 0 };
    let _version = r.i16()?;
    let topics = r.i32()?;
    if !(0..=100_000).contains(&topics) {
        return None;
    }
    let mut out = Vec::new();
    for _ in 0..topics {
        let len = usize::try_from(r.i16()?).ok()?;
        let topic = String::from_utf8_lossy(r.take(len)?).into_owned();
        let n = r.i32()?;
        if !(0..=1_000_000).contains(&n) {
            return None;
        }
        for _ in 0..n {
            out.push((topic.clone(), r.i32()?));
        }
    }
    // user_data (bytes) follows; its content is the assignor's business.
    Some(out)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
}

/// Encode an assignment the way a Java or librdkafka consumer leader does (for tests and
/// the demo).
pub fn encode_assignment(topics: &[(&str, &[i32])]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&1i16.to_be_bytes());
    out.extend_from_slice(&i32::try_from(topics.len()).unwrap_or(0).to_be_bytes());
    for (topic, parts) in topics {
        out.extend_from_slice(&i16::try_from(topic.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(topic.as_bytes());
        out.extend_from_slice(&i32::try_from(parts.len()).unwrap_or(0).to_be_bytes());
        for p in *parts {
            out.extend_from_slice(&p.to_be_bytes());
        }
    }
    // Null user_data.
    out.extend_from_slice(&(-1i32).to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_java_consumer_assignment() {
        // Bytes as a Kafka 3.x broker returns them for a RangeAssignor member owning
        // orders-0, orders-2 and payments-1 (version 1, null user data).
        let bytes: Vec<u8> = vec![
            0, 1, // version
            0, 0, 0, 2, // two topics
            0, 6, b'o', b'r', b'd', b'e', b'r', b's', // "orders"
            0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, // [0, 2]
            0, 8, b'p', b'a', b'y', b'm', b'e', b'n', b't', b's', // "payments"
            0, 0, 0, 1, 0, 0, 0, 1, // [1]
            0xff, 0xff, 0xff, 0xff, // user_data: null
        ];
        assert_eq!(
            decode_assignment(&bytes),
            Some(vec![
                ("orders".into(), 0),
                ("orders".into(), 2),
                ("payments".into(), 1)
            ])
        );
        assert_eq!(
            decode_assignment(&encode_assignment(&[
                ("orders", &[0, 2]),
                ("payments", &[1])
            ])),
            decode_assignment(&bytes)
        );
    }

    #[test]
    fn garbage_is_not_an_assignment() {
        assert_eq!(decode_assignment(&[0, 1, 0]), None);
        assert_eq!(decode_assignment(&[0, 1, 0x7f, 0, 0, 0]), None);
        assert_eq!(decode_assignment(&[]), None);
    }
}
