//! A stack of booleans at one bit each.
//!
//! The syntax checker needs, for every open bracket, only whether it is an
//! object or an array. Twelve mebibytes of `[` are twelve million open
//! brackets; at one bit each they cost 1.5 MiB instead of the 192 MB a
//! `Vec<(bool, usize)>` took.

/// Booleans pushed and popped at the top, one bit each.
#[derive(Debug, Clone, Default)]
pub struct BitStack {
    words: Vec<u64>,
    len: usize,
}

impl BitStack {
    /// How many booleans are on the stack.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the stack is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pushes `bit` on top.
    pub fn push(&mut self, bit: bool) {
        let (word, shift) = (self.len / 64, self.len % 64);
        if word == self.words.len() {
            self.words.push(0);
        }
        if bit {
            self.words[word] |= 1 << shift;
        } else {
            self.words[word] &= !(1 << shift);
        }
        self.len += 1;
    }

    /// The top boolean, if any.
    pub fn last(&self) -> Option<bool> {
        let top = self.len.checked_sub(1)?;
        Some(self.words[top / 64] >> (top % 64) & 1 == 1)
    }

    /// Removes and returns the top boolean.
    pub fn pop(&mut self) -> Option<bool> {
        let top = self.last()?;
        self.len -= 1;
        Some(top)
    }

    /// Empties the stack; memory beyond a small reserve is freed, so one
    /// deep message does not keep its stack for the rest of the run.
    pub fn clear(&mut self) {
        self.len = 0;
        self.words.truncate(16);
        self.words.shrink_to(16);
    }

    /// Bytes of memory held.
    pub fn held_bytes(&self) -> usize {
        self.words.capacity() * std::mem::size_of::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_and_pops_in_order_across_words() {
        let mut stack = BitStack::default();
        let bits: Vec<bool> = (0..200).map(|i| i % 3 == 0).collect();
        for &b in &bits {
            stack.push(b);
        }
        assert_eq!(stack.len(), 200);
        for &b in bits.iter().rev() {
            assert_eq!(stack.last(), Some(b));
            assert_eq!(stack.pop(), Some(b));
        }
        assert_eq!(stack.pop(), None);
        assert!(stack.is_empty());
    }

    #[test]
    fn a_popped_bit_is_overwritten_by_the_next_push() {
        let mut stack = BitStack::default();
        stack.push(true);
        stack.pop();
        stack.push(false);
        assert_eq!(stack.last(), Some(false));
    }

    #[test]
    fn a_million_levels_take_an_eighth_of_a_megabyte() {
        let mut stack = BitStack::default();
        for _ in 0..1_000_000 {
            stack.push(false);
        }
        assert!(
            stack.held_bytes() <= 2 * 1_000_000 / 8,
            "{}",
            stack.held_bytes()
        );
        stack.clear();
        assert!(stack.held_bytes() <= 16 * 8);
    }
}
