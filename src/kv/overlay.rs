//! A write buffer over a transaction, so that one operation inside a shared
//! (group-committed) transaction can be kept or dropped on its own.
//!
//! Reads see the buffered writes first, then the transaction underneath; nothing
//! reaches the transaction until [`Overlay::apply`].

use std::collections::BTreeMap;
use std::iter::Peekable;
use std::ops::{Bound, ControlFlow};

use super::{KeyRange, KvRead, KvWrite, Table};
use crate::error::Result;

/// Buffered writes: `Some(value)` for a put, `None` for a delete.
type Buffer = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Buffers one operation's writes on top of `base`.
pub struct Overlay<'a, W: KvWrite> {
    base: &'a mut W,
    writes: [Buffer; 10],
}

impl<'a, W: KvWrite> Overlay<'a, W> {
    /// An empty buffer over `base`.
    pub fn new(base: &'a mut W) -> Overlay<'a, W> {
        Overlay {
            base,
            writes: Default::default(),
        }
    }

    /// Writes every buffered change into the transaction underneath.
    pub fn apply(self) -> Result<()> {
        for table in Table::ALL {
            for (key, value) in &self.writes[table.index()] {
                match value {
                    Some(value) => self.base.put(table, key, value)?,
                    None => self.base.delete(table, key)?,
                }
            }
        }
        Ok(())
    }
}

impl<W: KvWrite> KvRead for Overlay<'_, W> {
    fn get<R>(&self, table: Table, key: &[u8], read: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
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
        if let Some(value) = value {
            if visit(key, value)?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
    }
    Ok(ControlFlow::Continue(()))
}

impl<W: KvWrite> KvWrite for Overlay<'_, W> {
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        self.writes[table.index()].insert(key.to_vec(), Some(value.to_vec()));
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<()> {
        self.writes[table.index()].insert(key.to_vec(), None);
        Ok(())
    }
}
