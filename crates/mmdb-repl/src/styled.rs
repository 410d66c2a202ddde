//! Labelled output: command results are text spans with semantic labels, which the CLI maps to a colour theme.
//!
//! The engine never chooses colours. It says what a span *is* (a pfn, a pid, an added value, an error) and the
//! terminal side decides how that looks, or prints [`Styled::plain`] when colour is off.

use std::fmt::Write as _;

/// What a span of output is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Label {
    /// Ordinary text.
    Plain,
    /// A section heading.
    Heading,
    /// A page frame number.
    Pfn,
    /// A process id.
    Pid,
    /// A virtual address.
    Addr,
    /// An event name or event number.
    Event,
    /// A field or flag name.
    Field,
    /// A value that appeared (the new side of a change, a set flag).
    Added,
    /// A value that went away (the old side of a change, a cleared flag).
    Removed,
    /// Something that went wrong with the command.
    Error,
    /// Something the user should look at (a divergence, a violation, a stop reason).
    Warning,
    /// Less important text: line numbers, hints.
    Dim,
}

impl Label {
    /// Every label, for themes and tests.
    pub const ALL: [Label; 12] = [
        Label::Plain,
        Label::Heading,
        Label::Pfn,
        Label::Pid,
        Label::Addr,
        Label::Event,
        Label::Field,
        Label::Added,
        Label::Removed,
        Label::Error,
        Label::Warning,
        Label::Dim,
    ];

    /// The label's name, as themes and label-showing snapshots spell it.
    pub fn name(self) -> &'static str {
        match self {
            Label::Plain => "plain",
            Label::Heading => "heading",
            Label::Pfn => "pfn",
            Label::Pid => "pid",
            Label::Addr => "addr",
            Label::Event => "event",
            Label::Field => "field",
            Label::Added => "added",
            Label::Removed => "removed",
            Label::Error => "error",
            Label::Warning => "warning",
            Label::Dim => "dim",
        }
    }
}

/// One run of text with one label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub label: Label,
    pub text: String,
}

/// Labelled text: a list of spans; line breaks are ordinary `\n` characters inside [`Label::Plain`] spans.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Styled {
    spans: Vec<Span>,
}

impl Styled {
    /// Empty output.
    pub fn new() -> Styled {
        Styled::default()
    }

    /// The spans, in order.
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.spans.iter().all(|s| s.text.is_empty())
    }

    /// Appends `text` with `label`, merging with the previous span when the label is the same.
    pub fn push(&mut self, label: Label, text: impl AsRef<str>) -> &mut Styled {
        let text = text.as_ref();
        if text.is_empty() {
            return self;
        }
        match self.spans.last_mut() {
            Some(last) if last.label == label => last.text.push_str(text),
            _ => self.spans.push(Span { label, text: text.to_string() }),
        }
        self
    }

    /// Appends plain text.
    pub fn text(&mut self, text: impl AsRef<str>) -> &mut Styled {
        self.push(Label::Plain, text)
    }

    /// Ends the line.
    pub fn nl(&mut self) -> &mut Styled {
        self.push(Label::Plain, "\n")
    }

    /// Appends a whole line of one label.
    pub fn line(&mut self, label: Label, text: impl AsRef<str>) -> &mut Styled {
        self.push(label, text).nl()
    }

    /// Appends another output.
    pub fn append(&mut self, other: Styled) -> &mut Styled {
        for s in other.spans {
            self.push(s.label, s.text);
        }
        self
    }

    /// The text without labels.
    pub fn plain(&self) -> String {
        self.spans.iter().map(|s| s.text.as_str()).collect()
    }

    /// The text with every non-plain span marked as `[label: text]`, for snapshots that check labels.
    pub fn marked(&self) -> String {
        let mut out = String::new();
        for s in &self.spans {
            if s.label == Label::Plain {
                out.push_str(&s.text);
            } else {
                let _ = write!(out, "[{}: {}]", s.label.name(), s.text);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_of_one_label_merge_and_plain_drops_labels() {
        let mut s = Styled::new();
        s.text("page ").push(Label::Pfn, "0x10").push(Label::Pfn, "0000").nl();
        assert_eq!(s.spans().len(), 3);
        assert_eq!(s.plain(), "page 0x100000\n");
        assert_eq!(s.marked(), "page [pfn: 0x100000]\n");
    }
}
