//! Every real feed of shared/data parses, with the exact counts found by hand (grep and
//! an independent count with Python's XML parser) and a few exact values.

use propel_catalog::{parse_yml, Category, CategoryTree, FeedItem, FeedSummary, Problem, Product};
use std::fs::File;
use std::io::BufReader;

const FEEDS: &str = "../../../shared/data/feeds";

struct Feed {
    summary: FeedSummary,
    offers: Vec<Product>,
    categories: Vec<Category>,
    problems: Vec<Problem>,
}

fn load(name: &str) -> Feed {
    let path = format!("{FEEDS}/{name}");
    let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (mut offers, mut categories, mut problems) = (Vec::new(), Vec::new(), Vec::new());
    let summary = parse_yml(BufReader::new(file), &mut |item| match item {
        FeedItem::Offer(p) => offers.push(*p),
        FeedItem::Category(c) => categories.push(c),
        FeedItem::Problem(p) => problems.push(p),
    })
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    Feed {
        summary,
        offers,
        categories,
        problems,
    }
}

fn offer(f: &Feed, id: i64) -> &Product {
    f.offers
        .iter()
        .find(|o| o.id == id)
        .unwrap_or_else(|| panic!("no offer {id}"))
}

/// (categories, imported, skipped, problems) of a feed.
fn counts(f: &Feed) -> (u64, u64, u64, u64) {
    let s = &f.summary;
    (s.categories, s.offers, s.skipped, s.problem_count)
}

#[test]
fn kidrulit() {
    let f = load("kidrulit_yandex_yml_roz.xml");
    assert_eq!(counts(&f), (45, 2181, 0, 0));
    assert_eq!(
        f.offers.iter().filter(|o| o.group_id.is_some()).count(),
        735
    );
    assert!(f
        .offers
        .iter()
        .all(|o| o.picture_url.is_none() && o.pictures.is_empty()));
    assert_eq!(offer(&f, 8480000346).group_id, Some(848));
    let p = &offer(&f, 835).params[0];
    assert_eq!(
        (p.name.as_str(), p.value.as_str(), p.unit.as_deref()),
        ("Вес", "0.27000000", Some("кг"))
    );
    // Category names start with a newline in this feed.
    assert_eq!(f.categories[0].name, "Запчасти для детских колясок");
    let tree = CategoryTree::from_categories(f.categories.clone());
    assert!(tree.issues().is_empty());
    assert_eq!(
        tree.path(68).as_deref(),
        Some("Запчасти для детских колясок/Комплектующие к колесам/Покрышки")
    );
}

#[test]
fn santechtula_windows_1251() {
    let f = load("santechtula_bitrix_yandex_cp1251_DERIVED.xml");
    assert_eq!(f.summary.encoding, "windows-1251");
    assert_eq!(counts(&f), (149, 1405, 0, 0));
    assert_eq!(
        offer(&f, 239).name,
        "Газовый проточный водонагреватель \"Zerten\"20 кВт"
    );
    assert_eq!(f.categories[0].name, "Смесители");
    assert_eq!(
        offer(&f, 48).url.as_deref(),
        Some("http://santechtula.ru/catalog/fitingi/amerikanka/amerikanka-hj-3-4-f-3-4m/?r1=&r2=")
    );
}

#[test]
fn islandgift_bom_and_apos() {
    let f = load("islandgift_yml.xml");
    assert_eq!(f.summary.encoding, "UTF-8");
    assert_eq!(counts(&f), (10, 102, 0, 0));
    let o = offer(&f, 226060062);
    assert_eq!(o.name, "Холст с памятными датами");
    assert!(o
        .picture_url
        .as_deref()
        .is_some_and(|u| u.contains("_'%D0%9D") && !u.contains("&apos;")));
    assert_eq!(
        f.offers.iter().filter(|o| o.pictures.is_empty()).count(),
        11
    );
}

#[test]
fn shwei_vendor_model() {
    let f = load("shwei_yml.xml");
    assert_eq!(counts(&f), (23, 132, 0, 0));
    let o = offer(&f, 4);
    // typePrefix vendor model, as the format says, even where the model repeats the vendor.
    assert_eq!(o.name, "Bernina Bernina Bernette E56");
    assert_eq!((o.vendor.as_deref(), o.price), (Some("Bernina"), 6480.0));
}

#[test]
fn karsaman_variant_ids_and_huge_category() {
    let f = load("karsaman_ecwid_yandex_market.xml");
    // 77 offers: 66 variants with ids like 413376464C229995501 are skipped; the category
    // 999999999999999999 is over 2^53 - 1, so one kept offer loses its only category.
    assert_eq!(counts(&f), (3, 11, 66, 68));
    assert!(f.offers.iter().all(|o| o.group_id == Some(o.id)));
    let o = offer(&f, 413376464);
    assert_eq!(o.pictures.len(), 7);
    assert_eq!(o.group_id, Some(413376464));
    assert!(offer(&f, 413397903).category_ids.is_empty());
    assert_eq!(f.problems[0].line, 16);
    assert_eq!(f.problems[1].line, 45);
    assert!(f
        .problems
        .iter()
        .any(|p| p.line == 430 && p.reason.contains("999999999999999999")));
}

#[test]
fn yandex_spec_example_every_type() {
    let f = load("yandex_spec_example_yml1.xml");
    assert_eq!(counts(&f), (7, 7, 0, 0));
    let names: Vec<&str> = f.offers.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Наручные часы Casio A1234567B",
            "Принтер НP Deskjet D2663",
            "Александра Маринина — Все не так. В 2 томах. Том 1",
            "Владимир Кунин — Иваnов и Rабинович, или Аj'гоу ту 'Хаjфа!",
            "Pink Floyd — Dark Side Of The Moon, Platinum Disc",
            "Hilton",
            "Дмитрий Хворостовский и Национальный филармонический оркестр России. Дирижер — Владимир Спиваков.",
        ]
    );
    let printer = offer(&f, 12341);
    assert_eq!(printer.params.len(), 6);
    assert_eq!(printer.params[5].unit.as_deref(), Some("кг"));
    assert_eq!(printer.price, 700.0);
}

#[test]
fn every_feed_parses() {
    let mut names: Vec<String> = std::fs::read_dir(FEEDS)
        .unwrap_or_else(|e| panic!("{FEEDS}: {e}"))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".xml"))
        .collect();
    names.sort();
    assert_eq!(
        names.len(),
        6,
        "a new feed? give it its own test: {names:?}"
    );
    for name in names {
        let f = load(&name);
        assert!(f.summary.offers > 0, "{name}");
        assert_eq!(f.summary.offers as usize, f.offers.len());
    }
}
