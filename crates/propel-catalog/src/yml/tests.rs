//! Parser tests on small inline feeds.

use super::*;
use crate::model::Param;

struct Parsed {
    summary: FeedSummary,
    offers: Vec<Product>,
    categories: Vec<Category>,
    problems: Vec<Problem>,
}

fn parse(xml: &[u8]) -> Result<Parsed, FeedError> {
    let (mut offers, mut categories, mut problems) = (Vec::new(), Vec::new(), Vec::new());
    let summary = parse_yml(xml, &mut |item| match item {
        FeedItem::Offer(p) => offers.push(*p),
        FeedItem::Category(c) => categories.push(c),
        FeedItem::Problem(p) => problems.push(p),
    })?;
    Ok(Parsed {
        summary,
        offers,
        categories,
        problems,
    })
}

fn ok(xml: &str) -> Parsed {
    parse(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

fn feed(categories: &str, offers: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<yml_catalog date=\"2024-05-01\"><shop>\n\
         <categories>\n{categories}</categories>\n<offers>\n{offers}</offers>\n</shop></yml_catalog>\n"
    )
}

const SPEC_OFFER: &str = r#"<offer id="9012" available="true" group_id="77">
  <url>https://shop.example/p/9012</url>
  <price>8990</price><oldprice>9990</oldprice><currencyId>RUR</currencyId>
  <categoryId>10</categoryId>
  <picture>https://shop.example/img/9012.jpg</picture>
  <picture>https://shop.example/img/9012-2.jpg</picture>
  <name>Ice-cream maker</name><vendor>Brand</vendor><model>3811</model>
  <description><![CDATA[<p>Makes ice cream.</p>]]></description>
  <param name="Colour">white</param><param name="Volume" unit="l">1.5</param>
  <stock id="moscow">
    <available>false</available><price>9190</price><oldprice>9990</oldprice>
  </stock>
  <stock id="spb"><name>Ice-cream maker SPb</name><picture>https://shop.example/spb.jpg</picture></stock>
</offer>
"#;

#[test]
fn spec_example_offer() {
    let cats =
        "<category id=\"1\">Home</category><category id=\"10\" parentId=\"1\">Kitchen</category>\n";
    let p = ok(&feed(cats, SPEC_OFFER));
    assert_eq!(p.summary.offers, 1);
    assert_eq!(p.summary.problem_count, 0, "{:?}", p.problems);
    assert_eq!(
        p.categories[1],
        Category {
            id: 10,
            parent_id: Some(1),
            name: "Kitchen".into()
        }
    );
    let o = &p.offers[0];
    assert_eq!(
        (o.id, o.group_id, o.price, o.old_price),
        (9012, Some(77), 8990.0, Some(9990.0))
    );
    assert_eq!(o.category_ids, vec![10]);
    assert_eq!(
        o.picture_url.as_deref(),
        Some("https://shop.example/img/9012.jpg")
    );
    assert_eq!(o.pictures.len(), 2);
    assert_eq!(o.description.as_deref(), Some("<p>Makes ice cream.</p>"));
    assert_eq!(
        o.params[1],
        Param {
            name: "Volume".into(),
            value: "1.5".into(),
            unit: Some("l".into())
        }
    );
    assert_eq!(o.params[0].unit, None);
    let moscow = o.effective(Some("moscow"));
    assert!(!moscow.available);
    assert_eq!((moscow.price, moscow.old_price), (9190.0, Some(9990.0)));
    assert!(moscow.is_on_sale());
    let spb = o.effective(Some("spb"));
    assert_eq!(spb.name, "Ice-cream maker SPb");
    assert_eq!(spb.picture_url, Some("https://shop.example/spb.jpg"));
    assert_eq!((spb.price, spb.available), (8990.0, true));
    assert_eq!(o.effective(Some("kazan")).name, "Ice-cream maker");
}

#[test]
fn entities_and_markup_in_text() {
    let offer = r#"<offer id="1"><price>1</price>
      <name>&quot;Ж&quot; &amp; &#1046;&#x416; it&apos;s&nbsp;&laquo;x&raquo; &bogus;</name>
      <description>Hello <b>bold</b> &lt;world&gt;</description></offer>"#;
    let p = ok(&feed("", offer));
    assert_eq!(p.offers[0].name, "\"Ж\" & ЖЖ it's «x» &bogus;");
    assert_eq!(
        p.offers[0].description.as_deref(),
        Some("Hello bold <world>")
    );
}

#[test]
fn availability_group_and_decimal_comma() {
    let offers = r#"<offer id="1" available="false"><price>12,50</price><name>a</name></offer>
<offer id="2" available="0" group_id="5"><price> 3 </price><name>b</name></offer>
<offer id="3"><price>0</price><name>c</name></offer>
"#;
    let p = ok(&feed("", offers));
    let v: Vec<_> = p
        .offers
        .iter()
        .map(|o| (o.id, o.available, o.price, o.group_id))
        .collect();
    assert_eq!(
        v,
        vec![
            (1, false, 12.5, None),
            (2, false, 3.0, Some(5)),
            (3, true, 0.0, None)
        ]
    );
}

#[test]
fn vendor_model_names() {
    let offers = r#"<offer id="1" type="vendor.model"><price>1</price><typePrefix>Printer</typePrefix><vendor>HP</vendor><model>D2663</model></offer>
<offer id="2" type="vendor.model"><price>1</price><vendor>HP</vendor></offer>
<offer id="3" type="vendor.model"><price>1</price><name>Named</name><vendor>HP</vendor></offer>
<offer id="4" type="vendor.model"><price>1</price></offer>
"#;
    let p = ok(&feed("", offers));
    let names: Vec<_> = p.offers.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, vec!["Printer HP D2663", "HP", "Named"]);
    assert_eq!(p.summary.skipped, 1);
    assert_eq!(p.problems[0].line, 9);
}

#[test]
fn bad_offers_are_skipped_with_their_line() {
    let offers = r#"<offer id="-1"><price>1</price><name>a</name></offer>
<offer id="9007199254740992"><price>1</price><name>a</name></offer>
<offer id="x1"><price>1</price><name>a</name></offer>
<offer><price>1</price><name>a</name></offer>
<offer id="5"><name>no price</name></offer>
<offer id="6"><price>-3</price><name>negative</name></offer>
<offer id="7"><price>1</price></offer>
<offer id="9007199254740991"><price>1</price><name>max</name></offer>
"#;
    let p = ok(&feed("", offers));
    assert_eq!((p.summary.offers, p.summary.skipped), (1, 7));
    assert_eq!(p.offers[0].id, MAX_ID);
    let lines: Vec<u64> = p.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, vec![6, 7, 8, 9, 10, 11, 12]);
    assert!(
        p.problems[4].reason.contains("no price"),
        "{:?}",
        p.problems[4]
    );
}

#[test]
fn duplicates_dangling_categories_and_missing_blocks() {
    let xml = "<yml_catalog><shop><offers>\n\
        <offer id=\"1\"><price>1</price><name>first</name><categoryId>3</categoryId></offer>\n\
        <offer id=\"1\"><price>2</price><name>second</name></offer>\n\
        </offers></shop></yml_catalog>";
    let p = ok(xml);
    assert_eq!(
        (p.summary.offers, p.summary.duplicates, p.summary.categories),
        (2, 1, 0)
    );
    assert!(p.offers[0].category_ids.is_empty());
    assert_eq!(p.problems.len(), 2);
    assert_eq!((p.problems[0].line, p.problems[1].line), (2, 3));
    assert!(p.problems[0].reason.contains("categoryId '3'"));
}

#[test]
fn category_parents_spellings_missing_and_cycles() {
    let cats = r#"<category id="1">A</category>
<category id="2" parent_id="1">B</category>
<category id="3" parentID="2">C</category>
<category id="4" parentId="99">Orphan</category>
<category id="5" parentId="6">X</category>
<category id="6" parentId="5">Y</category>
<category id="x">Bad</category>
"#;
    let p = ok(&feed(cats, ""));
    let parents: Vec<_> = p.categories.iter().map(|c| (c.id, c.parent_id)).collect();
    assert_eq!(
        parents[..4],
        [(1, None), (2, Some(1)), (3, Some(2)), (4, None)]
    );
    // One link of the 5 <-> 6 cycle is cut.
    assert_eq!(parents[4..].iter().filter(|(_, p)| p.is_none()).count(), 1);
    assert_eq!(p.summary.problem_count, 3, "{:?}", p.problems);
    assert!(p
        .problems
        .iter()
        .any(|x| x.line == 7 && x.reason.contains("parent 99")));
}

#[test]
fn windows_1251_feed() {
    let mut xml =
        b"<?xml version=\"1.0\" encoding=\"windows-1251\"?>\n<yml_catalog><shop><offers>\n"
            .to_vec();
    xml.extend_from_slice(
        b"<offer id=\"1\"><price>1</price><name>\xcf\xf0\xe8\xe2\xe5\xf2</name></offer>\n",
    );
    xml.extend_from_slice(b"</offers></shop></yml_catalog>");
    let p = parse(&xml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.summary.encoding, "windows-1251");
    assert_eq!(p.offers[0].name, "Привет");
}

#[test]
fn malformed_feeds_fail_with_line_and_column() {
    let e = parse(b"<a>\n  <b></c>\n</a>")
        .err()
        .unwrap_or_else(|| panic!("accepted"));
    assert_eq!((e.line, e.column), (2, 6), "{e}");
    let e = parse("<yml_catalog>\n<shop>Ж".as_bytes())
        .err()
        .unwrap_or_else(|| panic!("accepted"));
    assert_eq!(e.line, 2, "{e}");
    assert!(e.message.contains("not closed"), "{e}");
    let e = parse(b"").err().unwrap_or_else(|| panic!("accepted"));
    assert_eq!((e.line, e.column), (1, 1));
    let e = parse(b"<a x=1></a>")
        .err()
        .unwrap_or_else(|| panic!("accepted"));
    assert_eq!((e.line, e.column), (1, 1), "{e}");
}

#[test]
fn summary_keeps_only_the_first_problems() {
    let offers: String = (0..150)
        .map(|i| format!("<offer id=\"x{i}\"/>\n"))
        .collect();
    let p = ok(&feed("", &offers));
    assert_eq!((p.summary.skipped, p.summary.problem_count), (150, 150));
    assert_eq!((p.summary.problems.len(), p.problems.len()), (100, 150));
}

#[test]
fn lines_stay_exact_across_buffers() {
    // Well past the decoder's 64 KiB buffers, with multi-byte text to count columns by.
    let mut offers: String = (0..3000)
        .map(|i| format!("<offer id=\"{i}\"><price>1</price><name>Товар {i}</name></offer>\n"))
        .collect();
    offers.push_str("<offer id=\"x\"><price>1</price><name>Ж</name></offer>\n");
    let p = ok(&feed("", &offers));
    assert_eq!(p.summary.offers, 3000);
    assert_eq!(p.problems[0].line, 6 + 3000);
    let bad = format!("{}<offer id=\"1\"><name>Ж</nam></offer>", offers);
    let e = parse(feed("", &bad).as_bytes())
        .err()
        .unwrap_or_else(|| panic!("accepted"));
    assert_eq!((e.line, e.column), (6 + 3001, 22), "{e}");
}

#[test]
fn tokens_straddling_buffers_read_the_same() {
    // Offers of growing size push every kind of token (tags with attributes, references,
    // CDATA, comments, "\r\n" line ends) across the decoder's 64 KiB buffer ends.
    let mut offers = String::new();
    for i in 0..4000 {
        let pad = "x".repeat(i % 97);
        offers.push_str(&format!(
            "<offer id=\"{i}\" group_id=\"{}\"><!-- {pad} --><price>{i}</price>\r\n\
             <name>A &amp; B&#x41;&nbsp;{pad}!</name><url>https://s.example/?a=1&b=2</url>\r\n\
             <description><![CDATA[<p>{pad}</p>]]>\r\nline</description>\
             <param name=\"P&quot;{i}\">v</param></offer>\r\n",
            i + 1
        ));
    }
    let p = ok(&feed("", &offers));
    assert_eq!((p.summary.offers, p.summary.problem_count), (4000, 0));
    for (i, o) in p.offers.iter().enumerate() {
        let pad = "x".repeat(i % 97);
        assert_eq!(o.id, i as i64);
        assert_eq!(o.group_id, Some(i as i64 + 1));
        assert_eq!(
            o.name,
            format!("A & BA {pad}!") /* NBSP collapsed, as all whitespace */
        );
        assert_eq!(o.url.as_deref(), Some("https://s.example/?a=1&b=2"));
        assert_eq!(
            o.description.as_deref(),
            Some(format!("<p>{pad}</p>\nline").as_str())
        );
        assert_eq!(o.params[0].name, format!("P\"{i}"));
    }
}
