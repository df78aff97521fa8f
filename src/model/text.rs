//! Free-text fields: what every layer checks a subject, a name or a session
//! text against.

/// Checks a free-text field: at most `max` bytes, no control characters.
pub(crate) fn text_ok(text: &str, max: usize) -> bool {
    text.len() <= max && !text.chars().any(char::is_control)
}
