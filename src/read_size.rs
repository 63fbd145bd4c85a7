//! How much one read may fill, adapting to the traffic.

/// How many bytes one `read` call on the stream may fill: adaptive, from
/// [`ReadSize::MIN`] to [`ReadSize::MAX`].
///
/// The chunk is memory the connection holds (zeroed, so resident) for as
/// long as a read blocks: an idle connection blocked in `read` with a small
/// chunk costs little, while a bulk transfer wants few, large reads. So the
/// size doubles each time a read fills the chunk and halves when reads come
/// back three-quarters empty.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadSize(usize);

impl ReadSize {
    /// The first read and the floor: an idle connection's chunk.
    pub(crate) const MIN: usize = 1024;
    /// The ceiling: 64 KiB, a typical socket receive window per read.
    pub(crate) const MAX: usize = 64 * 1024;

    pub(crate) fn new() -> Self {
        ReadSize(Self::MIN)
    }

    pub(crate) fn get(self) -> usize {
        self.0
    }

    /// Adapts to a read of `n` bytes into a chunk of the current size.
    pub(crate) fn update(&mut self, n: usize) {
        if n >= self.0 {
            self.0 = (self.0 * 2).min(Self::MAX);
        } else if n < self.0 / 4 {
            self.0 = (self.0 / 2).max(Self::MIN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ReadSize;
    use std::vec;

    #[test]
    fn read_size_grows_with_full_reads_and_shrinks_when_idle() {
        let mut size = ReadSize::new();
        assert_eq!(size.get(), ReadSize::MIN);
        // A bulk transfer: every read fills the chunk.
        let mut seen = vec![size.get()];
        for _ in 0..10 {
            size.update(size.get());
            seen.push(size.get());
        }
        assert_eq!(&seen[..4], &[1024, 2048, 4096, 8192]);
        assert_eq!(size.get(), ReadSize::MAX, "capped");
        // A read that fills half the chunk keeps the size.
        size.update(ReadSize::MAX / 2);
        assert_eq!(size.get(), ReadSize::MAX);
        // Small reads (a chat message, a ping) shrink it back to the floor.
        for _ in 0..10 {
            size.update(100);
        }
        assert_eq!(size.get(), ReadSize::MIN, "floor");
        size.update(0);
        assert_eq!(size.get(), ReadSize::MIN);
    }
}
