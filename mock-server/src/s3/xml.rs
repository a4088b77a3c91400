//! S3's XML documents (errors, `PostResponse`), written through quick-xml: one root and its
//! text elements, in order.
//!
//! Text needs only `&`, `<` and `>` escaped, and S3 writes quotes literally (`<ETag>"…"</ETag>`,
//! `'key'` in messages), so text goes through quick-xml's partial escape. Values echo what a
//! client sent, and XML 1.0 cannot carry some characters even as references (control
//! characters but tab, newline and return; U+FFFE, U+FFFF): those become U+FFFD, and the
//! document stays well-formed.

use std::borrow::Cow;

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

/// `<?xml …?>`, a newline, then `<root>` holding `<name>value</name>` for each element.
pub(crate) fn document<'a>(
    root: &str,
    elements: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut writer = Writer::new(Vec::with_capacity(256));
    // Writing to a Vec cannot fail.
    let _ = writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    writer.get_mut().push(b'\n');
    let _ = writer.write_event(Event::Start(BytesStart::new(root)));
    for (name, value) in elements {
        let text = quick_xml::escape::partial_escape(xml_chars(value)).into_owned();
        let _ = writer
            .create_element(name)
            .write_text_content(BytesText::from_escaped(text));
    }
    let _ = writer.write_event(Event::End(BytesEnd::new(root)));
    String::from_utf8(writer.into_inner()).expect("written from strings")
}

/// `text` with every character XML 1.0 cannot carry replaced by U+FFFD.
pub(crate) fn xml_chars(text: &str) -> Cow<'_, str> {
    let illegal = |c: char| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{fffe}' || c == '\u{ffff}'
    };
    if !text.chars().any(illegal) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if illegal(c) { '\u{fffd}' } else { c })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use quick_xml::events::Event;

    /// What a client sent, echoed: markup escaped, quotes literal as S3 writes them, and the
    /// characters XML cannot carry replaced, so a parser reads the value back.
    #[test]
    fn an_echoed_value_leaves_one_well_formed_document() {
        let value = "a<b>&\"q\" 'k' \u{1b}[31m\u{0}\u{fffe}\tz";
        let xml = super::document("Error", [("Code", "X"), ("Message", value)]);
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>X</Code><Message>a&lt;b&gt;&amp;\"q\" 'k' \u{fffd}[31m\u{fffd}\u{fffd}\tz</Message></Error>"
        );
        let mut reader = quick_xml::Reader::from_str(&xml);
        let mut texts = Vec::new();
        loop {
            match reader.read_event() {
                Ok(Event::Eof) => break,
                Ok(Event::Text(text)) => texts.push(text.decode().unwrap().into_owned()),
                Ok(Event::GeneralRef(entity)) => {
                    texts.push(format!("&{};", entity.decode().unwrap()))
                }
                Ok(_) => {}
                Err(err) => panic!("not well-formed: {err} in {xml}"),
            }
        }
        assert!(texts.concat().contains("'k' \u{fffd}[31m"), "{texts:?}");
    }
}
