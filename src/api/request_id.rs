//! The request an operation serves, as the host names it: the events the
//! operation tells carry its id ([`Event::request_id`](crate::Event::request_id)),
//! so that an audit line, a log line and an HTTP access log meet.
//!
//! A blocking host wraps its calls in [`with_request_id`]; an async host
//! runs the request's future in [`scope_request_id`] (feature `tokio`), and
//! [`AsyncStore`](crate::AsyncStore) carries the id to the thread that runs
//! each operation.

use std::cell::RefCell;
use std::sync::Arc;

thread_local! {
    static CURRENT: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

#[cfg(feature = "tokio")]
tokio::task_local! {
    static TASK: Arc<str>;
}

/// Runs `f` as part of the request `id`: the events of the operations it
/// makes on this thread carry the id.
///
/// ```
/// use grantdb::{Config, Store};
/// let (events, seen) = std::sync::mpsc::channel();
/// let config = Config::builder().on_event(move |e| { let _ = events.send(e.request_id.clone()); }).build()?;
/// let store = Store::in_memory(config)?;
/// grantdb::with_request_id("req-7f3a", || {
///     store.register_client(grantdb::NewClient::confidential("app")
///         .grant_types([grantdb::GrantType::ClientCredentials]))
/// })?;
/// assert_eq!(seen.try_recv().ok().flatten().as_deref(), Some("req-7f3a"));
/// # Ok::<(), grantdb::Error>(())
/// ```
pub fn with_request_id<T>(id: impl Into<Arc<str>>, f: impl FnOnce() -> T) -> T {
    let id = Some(id.into());
    let _restore = Restore(CURRENT.with(|current| current.replace(id)));
    f()
}

/// Puts back the request id that was current before, however the call ends
/// (a panic included).
struct Restore(Option<Arc<str>>);

impl Drop for Restore {
    fn drop(&mut self) {
        let before = self.0.take();
        CURRENT.with(|current| *current.borrow_mut() = before);
    }
}

/// Runs `future` as part of the request `id` (feature `tokio`): the
/// operations it runs through [`AsyncStore`](crate::AsyncStore) tell
/// events that carry the id.
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub async fn scope_request_id<F: std::future::Future>(
    id: impl Into<Arc<str>>,
    future: F,
) -> F::Output {
    TASK.scope(id.into(), future).await
}

/// The id of the request being served here, if the host named one.
pub(crate) fn current() -> Option<Arc<str>> {
    let on_thread = CURRENT.with(|current| current.borrow().clone());
    #[cfg(feature = "tokio")]
    let on_thread = on_thread.or_else(|| TASK.try_with(Arc::clone).ok());
    on_thread
}
