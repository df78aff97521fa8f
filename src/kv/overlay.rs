//! A write buffer over a transaction, so that one operation inside a shared
//! (group-committed) transaction can be kept or dropped on its own.
//!
//! Reads see the buffered writes first, then the transaction underneath; nothing
//! reaches the transaction until [`Overlay::apply`]. An operation that has the
//! transaction to itself runs [`Overlay::direct`]: writes go straight through,
//! and dropping its effects means aborting the whole transaction.

use std::collections::BTreeMap;
use std::iter::Peekable;
use std::ops::{Bound, ControlFlow};

use super::{KeyRange, KvRead, KvWrite, Table};
use crate::error::Result;

/// Buffered writes: `Some(value)` for a put, `None` for a delete.
type Buffer = Writes;

/// Buffers writes on top of `base`, or passes them through. `base` is
/// usually `&mut` a transaction.
pub struct Overlay<W: KvWrite> {
    base: W,
    buffering: bool,
    writes: [Buffer; Table::COUNT],
}

/// The buffered writes of one table: `Some(value)` puts, `None` deletes.
pub type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

impl<W: KvWrite> Overlay<W> {
    /// An empty buffer over `base`.
    pub fn buffered(base: W) -> Overlay<W> {
        Overlay {
            base,
            buffering: true,
            writes: Default::default(),
        }
    }

    /// No buffer: every read and write goes straight to `base`.
    pub fn direct(base: W) -> Overlay<W> {
        Overlay {
            base,
            buffering: false,
            writes: Default::default(),
        }
    }

    /// Writes every buffered change into the transaction underneath.
    pub fn apply(mut self) -> Result<W> {
        for table in Table::ALL {
            for (key, value) in &self.writes[table.index()] {
                match value {
                    Some(value) => self.base.put(table, key, value)?,
                    None => self.base.delete(table, key)?,
                }
            }
        }
        Ok(self.base)
    }

    /// The transaction underneath and the buffered writes, per table in
    /// [`Table::ALL`] order, for a backend that applies them in bulk.
    pub fn into_parts(self) -> (W, [Writes; Table::COUNT]) {
        (self.base, self.writes)
    }
}

impl<W: KvWrite> KvRead for Overlay<W> {
    fn get<R>(&self, table: Table, key: &[u8], read: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        if !self.buffering {
            return self.base.get(table, key, read);
        }
        match self.writes[table.index()].get(key) {
            Some(Some(value)) => Ok(Some(read(value))),
            Some(None) => Ok(None),
            None => self.base.get(table, key, read),
        }
    }

    fn scan(
        &self,
        table: Table,
        range: &KeyRange,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        if !self.buffering {
            return self.base.scan(table, range, visit);
        }
        let (start, end) = range.as_slices();
        let mut buffered = self.writes[table.index()]
            .range::<[u8], (Bound<&[u8]>, Bound<&[u8]>)>((start, end))
            .peekable();
        let mut stopped = false;
        self.base.scan(table, range, |key, value| {
            // Buffered entries that sort before this base key come first.
            if emit_buffered_before(&mut buffered, Some(key), &mut visit)?.is_break() {
                stopped = true;
                return Ok(ControlFlow::Break(()));
            }
            // The buffer overrides this key: a put shows its value, a delete hides it.
            match buffered.next_if(|(buffered_key, _)| buffered_key.as_slice() == key) {
                Some((_, Some(replacement))) => visit(key, replacement),
                Some((_, None)) => Ok(ControlFlow::Continue(())),
                None => visit(key, value),
            }
            .inspect(|flow| stopped = flow.is_break())
        })?;
        if !stopped {
            // Nothing follows, so whether the visitor broke off no longer matters.
            let _ = emit_buffered_before(&mut buffered, None, &mut visit)?;
        }
        Ok(())
    }

    fn prefetch(&self, table: Table, keys: &[Vec<u8>]) -> Result<()> {
        self.base.prefetch(table, keys)
    }

    fn prefetch_prefixes(&self, table: Table, prefixes: &[Vec<u8>]) -> Result<()> {
        self.base.prefetch_prefixes(table, prefixes)
    }

    fn batches_reads(&self) -> bool {
        self.base.batches_reads()
    }

    fn database_time(&self) -> Option<u64> {
        self.base.database_time()
    }
}

/// Visits buffered puts with keys below `limit` (all of them when `None`).
fn emit_buffered_before<'b>(
    buffered: &mut Peekable<impl Iterator<Item = (&'b Vec<u8>, &'b Option<Vec<u8>>)>>,
    limit: Option<&[u8]>,
    visit: &mut impl FnMut(&[u8], &[u8]) -> Result<ControlFlow<()>>,
) -> Result<ControlFlow<()>> {
    while let Some((key, value)) =
        buffered.next_if(|(key, _)| limit.is_none_or(|l| key.as_slice() < l))
    {
        if let Some(value) = value
            && visit(key, value)?.is_break()
        {
            return Ok(ControlFlow::Break(()));
        }
    }
    Ok(ControlFlow::Continue(()))
}

impl<W: KvWrite> KvWrite for Overlay<W> {
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        if !self.buffering {
            return self.base.put(table, key, value);
        }
        self.writes[table.index()].insert(key.to_vec(), Some(value.to_vec()));
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<()> {
        if !self.buffering {
            return self.base.delete(table, key);
        }
        self.writes[table.index()].insert(key.to_vec(), None);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// A plain map as the transaction underneath.
    #[derive(Default)]
    struct MapTxn(BTreeMap<Vec<u8>, Vec<u8>>);

    impl KvRead for MapTxn {
        fn get<R>(&self, _: Table, key: &[u8], read: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
            Ok(self.0.get(key).map(|v| read(v)))
        }
        fn scan(
            &self,
            _: Table,
            range: &KeyRange,
            mut visit: impl FnMut(&[u8], &[u8]) -> Result<ControlFlow<()>>,
        ) -> Result<()> {
            for (k, v) in self.0.range::<[u8], _>(range.as_slices()) {
                if visit(k, v)?.is_break() {
                    break;
                }
            }
            Ok(())
        }
    }

    impl KvWrite for MapTxn {
        fn put(&mut self, _: Table, key: &[u8], value: &[u8]) -> Result<()> {
            self.0.insert(key.to_vec(), value.to_vec());
            Ok(())
        }
        fn delete(&mut self, _: Table, key: &[u8]) -> Result<()> {
            self.0.remove(key);
            Ok(())
        }
    }

    fn scan_all(kv: &impl KvRead, range: &KeyRange, stop_after: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut seen = Vec::new();
        kv.scan(Table::Tokens, range, |k, v| {
            seen.push((k.to_vec(), v.to_vec()));
            Ok(if seen.len() == stop_after {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        })
        .unwrap_or_default();
        seen
    }

    proptest! {
        /// Reads through a buffered overlay equal reads of the base with the
        /// writes applied; applying them gives that same base.
        #[test]
        fn buffered_reads_match_applied_writes(
            base in prop::collection::btree_map(prop::collection::vec(0u8..4, 0..3), any::<u8>().prop_map(|b| vec![b]), 0..12),
            writes in prop::collection::vec((prop::collection::vec(0u8..4, 0..3), prop::option::of(any::<u8>())), 0..12),
            prefix in prop::collection::vec(0u8..4, 0..2),
            stop_after in 1usize..20,
        ) {
            let mut reference = MapTxn(base.clone());
            let mut txn = MapTxn(base);
            let range = KeyRange::prefix(&prefix);
            let mut overlay = Overlay::buffered(&mut txn);
            for (key, value) in &writes {
                if let Some(v) = value {
                    overlay.put(Table::Tokens, key, &[*v]).unwrap_or_default();
                    reference.put(Table::Tokens, key, &[*v]).unwrap_or_default();
                } else {
                    overlay.delete(Table::Tokens, key).unwrap_or_default();
                    reference.delete(Table::Tokens, key).unwrap_or_default();
                }
            }
            prop_assert_eq!(scan_all(&overlay, &range, stop_after), scan_all(&reference, &range, stop_after));
            for (key, _) in &writes {
                let through = overlay.get(Table::Tokens, key, <[u8]>::to_vec).ok().flatten();
                let expected = reference.get(Table::Tokens, key, <[u8]>::to_vec).ok().flatten();
                prop_assert_eq!(through, expected);
            }
            overlay.apply().map(drop).unwrap_or_default();
            prop_assert_eq!(&txn.0, &reference.0);
        }
    }
}
