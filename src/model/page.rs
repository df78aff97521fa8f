//! Listings in pages: where a page starts and what it holds.

use serde::Serialize;

/// Where a page of a listing starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PageRequest {
    /// The `next` cursor of the previous page; `None` for the first page.
    pub after: Option<String>,
    /// Most items to return (1 to 1,000; default 100).
    pub limit: usize,
}

impl PageRequest {
    /// The most items a page may hold.
    pub const MAX_LIMIT: usize = 1_000;

    /// The first page, of `limit` items.
    pub fn first(limit: usize) -> PageRequest {
        PageRequest { after: None, limit }
    }

    /// The page after the one whose `next` cursor is `cursor`.
    pub fn after(cursor: impl Into<String>, limit: usize) -> PageRequest {
        PageRequest {
            after: Some(cursor.into()),
            limit,
        }
    }

    pub(crate) fn effective_limit(&self) -> usize {
        match self.limit {
            0 => 100,
            limit => limit.min(PageRequest::MAX_LIMIT),
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Page<T> {
    /// The items, in a stable order.
    pub items: Vec<T>,
    /// Cursor for the next page; `None` when this is the last.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// A page with no items and no next page.
    pub fn empty() -> Page<T> {
        Page {
            items: Vec::new(),
            next: None,
        }
    }
}
