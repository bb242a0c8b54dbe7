//! Znode path syntax: validation and parent/name splitting.

use crate::proto::ErrorCode;

/// See `DataTree::validate_path`.
pub(crate) fn validate(path: &str, sequential: bool) -> Result<(), ErrorCode> {
    let bad = Err(ErrorCode::BadArguments);
    let Some(rest) = path.strip_prefix('/') else {
        return bad;
    };
    if path.chars().any(char::is_control) {
        return bad;
    }
    // "/" itself; for a sequential create it becomes "/<seq>", also fine.
    if rest.is_empty() {
        return Ok(());
    }
    let mut comps = rest.split('/').peekable();
    while let Some(comp) = comps.next() {
        // A sequential create appends the counter to the last component, so an
        // empty, "." or ".." last component still yields a proper name.
        if sequential && comps.peek().is_none() {
            break;
        }
        if comp.is_empty() || comp == "." || comp == ".." {
            return bad;
        }
    }
    Ok(())
}

/// Splits a path that starts with '/' into (parent, last component).
/// The root splits into ("/", ""), which callers must treat specially.
pub(crate) fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(0) => ("/", &path[1..]),
        // Not reachable for validated paths; kept total so nothing panics.
        None => ("/", path),
        Some(i) => (&path[..i], &path[i + 1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_table() {
        let cases: &[(&str, bool, bool)] = &[
            // (path, sequential, valid)
            ("/", false, true),
            ("/", true, true),
            ("/a", false, true),
            ("/a/b/c", false, true),
            ("/a b/ü-é_.x", false, true),
            ("/...", false, true),
            ("/a/.b", false, true),
            ("", false, false),
            ("", true, false),
            ("a", false, false),
            ("a/b", false, false),
            ("/a/", false, false),
            ("/a/", true, true),
            ("/a//", true, false),
            ("//", false, false),
            ("//a", false, false),
            ("//a", true, false),
            ("/a//b", false, false),
            ("/.", false, false),
            ("/..", false, false),
            ("/a/./b", false, false),
            ("/a/../b", false, false),
            ("/a/.", false, false),
            ("/a/.", true, true),
            ("/a/..", true, true),
            ("/./x", true, false),
            ("/a\0", false, false),
            ("/a\0", true, false),
            ("/a\u{1}b", false, false),
            ("/a\nb", false, false),
            ("/a\u{7f}", false, false),
            ("/a\u{85}", false, false),
            ("/a/lock-", true, true),
        ];
        for &(path, seq, ok) in cases {
            let got = validate(path, seq);
            if ok {
                assert_eq!(got, Ok(()), "{path:?} seq={seq}");
            } else {
                assert_eq!(got, Err(ErrorCode::BadArguments), "{path:?} seq={seq}");
            }
        }
    }

    #[test]
    fn split_paths() {
        assert_eq!(split("/"), ("/", ""));
        assert_eq!(split("/a"), ("/", "a"));
        assert_eq!(split("/a/b"), ("/a", "b"));
        assert_eq!(split("/a/"), ("/a", ""));
        assert_eq!(split("/a/b/c"), ("/a/b", "c"));
    }
}
