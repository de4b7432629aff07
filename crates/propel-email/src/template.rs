//! Liquid templates and the fixed set of variables every email template sees:
//! `contact` (`email`, `contactExternalId`, `customData`), `recommendations.popular`,
//! `recommendations.personal`, `recommendations.related`, `basket`, `unsubscribeUrl`.

use serde::Serialize;
use serde_json::Value;

/// A product as a template sees it (the product base's values).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub url: Option<String>,
    pub picture_url: Option<String>,
    pub price: f64,
    pub old_price: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactVars {
    pub email: String,
    pub contact_external_id: Option<String>,
    pub custom_data: Value,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Recommendations {
    pub popular: Vec<Product>,
    pub personal: Vec<Product>,
    /// Products related to the basket (abandoned-basket emails).
    pub related: Vec<Product>,
}

/// Everything a template can use.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderInput {
    pub contact: ContactVars,
    pub recommendations: Recommendations,
    pub basket: Vec<Product>,
    pub unsubscribe_url: String,
}

fn parser() -> Result<liquid::Parser, String> {
    liquid::ParserBuilder::with_stdlib()
        .build()
        .map_err(|e| e.to_string())
}

/// Parses `source`: `Err` carries the parser's explanation.
pub fn check(source: &str) -> Result<(), String> {
    parser()?
        .parse(source)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Renders `source` with `input`'s variables.
pub fn render(source: &str, input: &RenderInput) -> Result<String, String> {
    let template = parser()?.parse(source).map_err(|e| e.to_string())?;
    let globals = liquid::model::to_object(input).map_err(|e| e.to_string())?;
    template.render(&globals).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn product(id: i64) -> Product {
        Product {
            id,
            name: format!("Fork {id}"),
            url: Some(format!("https://shop.example/p/{id}")),
            picture_url: Some(format!("https://shop.example/i/{id}.jpg")),
            price: 9.5,
            old_price: Some(12.0),
        }
    }

    #[test]
    fn renders_contact_products_and_unsubscribe() {
        let input = RenderInput {
            contact: ContactVars {
                email: "a@b.io".into(),
                contact_external_id: Some("c1".into()),
                custom_data: json!({"firstName": "Ann"}),
            },
            recommendations: Recommendations {
                popular: vec![product(1), product(2)],
                personal: vec![product(3)],
                related: vec![],
            },
            basket: vec![product(4)],
            unsubscribe_url: "https://p.example/unsubscribe/t".into(),
        };
        let html = render(
            "Hi {{ contact.customData.firstName }} ({{ contact.email }}/{{ contact.contactExternalId }})\
             {% for p in recommendations.popular %}<a href=\"{{ p.url }}\">{{ p.name }} {{ p.price }} {{ p.oldPrice }}</a>{% endfor %}\
             {% for p in recommendations.personal %}<img src=\"{{ p.pictureUrl }}\">{% endfor %}\
             {% for p in basket %}[{{ p.id }}]{% endfor %}<a href=\"{{ unsubscribeUrl }}\">u</a>",
            &input,
        )
        .unwrap();
        assert!(html.starts_with("Hi Ann (a@b.io/c1)"), "{html}");
        assert!(html.contains("Fork 1 9.5 12"), "{html}");
        assert!(html.contains("Fork 2"));
        assert!(html.contains("https://shop.example/i/3.jpg"));
        assert!(html.contains("[4]"));
        assert!(html.contains("https://p.example/unsubscribe/t"));
    }

    #[test]
    fn refuses_what_does_not_parse() {
        assert!(check("{% for p in x %}no end").is_err());
        assert!(check("{{ unclosed").is_err());
        assert!(check("fine {{ contact.email }}").is_ok());
    }
}
