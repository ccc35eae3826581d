use super::*;

/// A ChannelData record on a stream: channel 0x4000, `len` payload bytes of `fill`, padding.
fn channel_data(len: usize, fill: u8) -> Vec<u8> {
    let mut r = vec![0x40, 0x00, (len >> 8) as u8, len as u8];
    r.resize(4 + len, fill);
    r.resize(4 + len.next_multiple_of(4), 0);
    r
}

/// Feeds `bytes` in `chunk`-sized reads; returns the records handed over and the largest
/// buffer `Records` held for a partial record after any read.
fn split(bytes: &[u8], chunk: usize) -> (Vec<Vec<u8>>, usize, Records) {
    let mut records = Records::default();
    let mut got = Vec::new();
    let mut largest = 0;
    smol::block_on(async {
        for piece in bytes.chunks(chunk) {
            let mut handle = |r: &[u8], _: Now| {
                got.push(r.to_vec());
                true
            };
            assert!(records.feed(piece, &mut handle).await.is_ok());
            largest = largest.max(records.partial.capacity());
        }
    });
    (got, largest, records)
}

#[test]
fn a_partial_records_buffer_is_its_declared_size_and_is_freed_once_it_is_whole() {
    let big = channel_data(65_535, 7);
    assert_eq!(big.len(), 4 + 65_536, "the largest ChannelData a stream can carry, padding included");
    let small = channel_data(10, 1);
    let stream: Vec<u8> = [&small[..], &big, &small, &big].concat();
    for chunk in [1, 3, 4096, 5000, 65_536] {
        let (got, largest, records) = split(&stream, chunk);
        assert_eq!(got, [small.clone(), big.clone(), small.clone(), big.clone()], "{chunk}-byte reads");
        assert!(largest <= big.len(), "{chunk}-byte reads: a {largest}-byte buffer for a {}-byte record", big.len());
        assert_eq!(records.partial.capacity(), 0, "{chunk}-byte reads: freed once whole");
        assert_eq!(records.since, None);
    }
    // Whole records in one read are never copied aside.
    let (_, largest, _) = split(&[&small[..], &small].concat(), 4096);
    assert_eq!(largest, 0);
}

#[test]
fn a_record_left_incomplete_is_held_with_the_time_it_began_and_garbage_ends_the_stream() {
    let big = channel_data(1000, 9);
    let mut records = Records::default();
    smol::block_on(async {
        let mut handle = |_: &[u8], _: Now| true;
        records.feed(&big[..600], &mut handle).await.ok();
        assert_eq!((records.partial.len(), records.partial.capacity()), (600, big.len()));
        assert!(records.since.is_some());
        // The first byte of neither STUN (0b00) nor ChannelData (0b01).
        let mut bad = Records::default();
        assert!(matches!(bad.feed(&[0xC0, 0, 0, 4, 1, 2, 3, 4], &mut handle).await, Err(Stop::Invalid)));
        // A STUN header claiming more than a record may hold is refused before it is buffered.
        let mut huge = Records::default();
        assert!(matches!(huge.feed(&[0x40, 0, 0xFF, 0xFF], &mut handle).await, Ok(())));
        assert!(huge.partial.capacity() <= MAX_RECORD);
    });
}
