//! Where things are in a policy file, for the refusals that Cedar's API gives no position for: the
//! start of each policy, and each of its annotations (`@consent(…)`).
//!
//! The text is read as Cedar's lexer reads it, as far as positions go: whitespace and `//`
//! comments are skipped, string literals (`"…"`, with `\` escapes) are read whole, a policy ends at
//! its `;` (the only place a `;` can stand outside a string or a comment), and an annotation is `@`
//! then its key, maybe after whitespace or comments. Cedar names the policies of a file
//! `policy0`, `policy1`, … in the order they stand, templates included, so a policy's id finds its
//! place. Used only once Cedar has parsed the file: a text Cedar refused never gets here.

use cedar_policy::PolicyId;

/// The places of a file's policies, in file order.
#[derive(Debug, Default)]
pub(super) struct Layout {
    policies: Vec<Place>,
}

#[derive(Debug, Default)]
struct Place {
    /// The byte offset of the policy's first token (its first annotation, or its effect).
    start: usize,
    /// Each annotation's key and the byte offset of its `@`.
    annotations: Vec<(String, usize)>,
}

impl Layout {
    pub(super) fn scan(text: &str) -> Self {
        let bytes = text.as_bytes();
        let mut layout = Layout::default();
        let mut current: Option<Place> = None;
        let mut at = 0;
        while at < bytes.len() {
            at = skip_blanks(bytes, at);
            let Some(&byte) = bytes.get(at) else { break };
            let place = current.get_or_insert_with(|| Place { start: at, annotations: Vec::new() });
            match byte {
                b'"' => at = string_end(bytes, at),
                b';' => {
                    layout.policies.extend(current.take());
                    at += 1;
                }
                b'@' => {
                    let key_start = skip_blanks(bytes, at + 1);
                    let key_end = key_start
                        + bytes[key_start..]
                            .iter()
                            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                            .count();
                    place.annotations.push((text[key_start..key_end].to_owned(), at));
                    at = key_end.max(at + 1);
                }
                _ => at += 1,
            }
        }
        layout.policies.extend(current);
        layout
    }

    /// Where the policy Cedar named `id` starts.
    pub(super) fn start(&self, id: &PolicyId) -> Option<usize> {
        self.place(id).map(|place| place.start)
    }

    /// Where the annotation `key` of the policy `id` is.
    pub(super) fn annotation(&self, id: &PolicyId, key: &str) -> Option<usize> {
        let place = self.place(id)?;
        place.annotations.iter().find(|(k, _)| k == key).map(|&(_, offset)| offset)
    }

    fn place(&self, id: &PolicyId) -> Option<&Place> {
        let number: usize = id.to_string().strip_prefix("policy")?.parse().ok()?;
        self.policies.get(number)
    }
}

/// The first offset from `at` that is neither whitespace nor in a `//` comment.
fn skip_blanks(bytes: &[u8], mut at: usize) -> usize {
    loop {
        match bytes.get(at..) {
            Some([b, ..]) if b.is_ascii_whitespace() => at += 1,
            Some([b'/', b'/', ..]) => {
                while bytes.get(at).is_some_and(|b| *b != b'\n' && *b != b'\r') {
                    at += 1;
                }
            }
            _ => return at,
        }
    }
}

/// The offset just after the string literal that opens at `at`.
fn string_end(bytes: &[u8], mut at: usize) -> usize {
    at += 1;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'\\' => at += 2,
            b'"' => return at + 1,
            _ => at += 1,
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use cedar_policy::PolicySet;

    use super::*;

    #[test]
    fn each_policy_and_annotation_is_found_where_cedar_parsed_it() {
        let text = "// a comment; with @consent(\"x\") in it\n\
                    @id(\"a;b\") @ consent(\"once\")\n\
                    permit(principal, action, resource)\n\
                    when { \"\\\";@x\" == \"\" };\n\
                    \n\
                    forbid(principal == ?principal, action, resource); // @later\n\
                    @consent // between\n\
                    (\"PT1H\") permit(principal, action, resource);\n";
        let policies = PolicySet::from_str(text).unwrap();
        assert_eq!(policies.policies().count() + policies.templates().count(), 3);
        let layout = Layout::scan(text);
        let line = |offset: Option<usize>| offset.map(|o| text[..o].matches('\n').count() + 1);
        let id = |n: usize| PolicyId::new(format!("policy{n}"));
        assert!(policies.policy(&id(0)).is_some() && policies.template(&id(1)).is_some());
        assert_eq!(line(layout.start(&id(0))), Some(2));
        assert_eq!(line(layout.annotation(&id(0), "id")), Some(2));
        assert_eq!(line(layout.annotation(&id(0), "consent")), Some(2));
        assert_eq!(layout.annotation(&id(0), "x"), None, "a string is not an annotation");
        assert_eq!(line(layout.start(&id(1))), Some(6));
        assert_eq!(layout.annotation(&id(1), "later"), None, "a comment is not an annotation");
        assert_eq!(line(layout.start(&id(2))), Some(7));
        assert_eq!(line(layout.annotation(&id(2), "consent")), Some(7));
        assert_eq!(layout.start(&id(3)), None);
        assert_eq!(layout.start(&PolicyId::new("mine")), None);
    }
}
