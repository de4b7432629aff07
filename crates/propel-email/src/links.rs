//! Tracked links: every `http(s)` link of an email gets a unique `MailTrackingId`
//! (`<the email's tracking id>.<link number>`), so that `emailClick` can name the email.

/// The email's tracking id named by a link's `MailTrackingId` (`id` or `id.n`).
pub fn email_tracking_id(mail_tracking_id: &str) -> &str {
    mail_tracking_id
        .split_once('.')
        .map_or(mail_tracking_id, |(id, _)| id)
}

/// Appends `MailTrackingId=<tracking_id>.<n>` to every `href` whose value starts with
/// `http://` or `https://`, except links that start with `exempt` (the unsubscribe page).
pub fn track_links(html: &str, tracking_id: &str, exempt: &str) -> String {
    let mut out = String::with_capacity(html.len() + 64);
    let mut rest = html;
    let mut n = 0;
    while let Some(pos) = find_ignore_case(rest, "href=") {
        let after = pos + 5;
        out.push_str(&rest[..after]);
        rest = &rest[after..];
        let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        let Some(end) = rest[1..].find(quote) else {
            continue;
        };
        let url = &rest[1..1 + end];
        out.push(quote);
        let lower = url.to_ascii_lowercase();
        if (lower.starts_with("http://") || lower.starts_with("https://"))
            && (exempt.is_empty() || !url.starts_with(exempt))
        {
            n += 1;
            out.push_str(&with_param(url, tracking_id, n));
        } else {
            out.push_str(url);
        }
        out.push(quote);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn with_param(url: &str, tracking_id: &str, n: usize) -> String {
    let (base, fragment) = match url.find('#') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let sep = if !base.contains('?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') || base.ends_with("&amp;") {
        ""
    } else {
        "&amp;"
    };
    format!("{base}{sep}MailTrackingId={tracking_id}.{n}{fragment}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_web_link_gets_its_own_id() {
        let html = r#"<a href="https://s.example/p/1">a</a> <A HREF='http://s.example/?x=1#top'>b</A>
            <a href="mailto:x@y.z">m</a> <a href="https://p.example/unsubscribe/T">u</a>"#;
        let out = track_links(html, "abc", "https://p.example/unsubscribe/");
        assert!(
            out.contains(r#"href="https://s.example/p/1?MailTrackingId=abc.1""#),
            "{out}"
        );
        assert!(
            out.contains("HREF='http://s.example/?x=1&amp;MailTrackingId=abc.2#top'"),
            "{out}"
        );
        assert!(out.contains(r#"href="mailto:x@y.z""#));
        assert!(out.contains(r#"href="https://p.example/unsubscribe/T""#));
        assert_eq!(email_tracking_id("abc.2"), "abc");
        assert_eq!(email_tracking_id("abc"), "abc");
    }

    #[test]
    fn survives_broken_markup() {
        assert_eq!(track_links("href=", "t", ""), "href=");
        assert_eq!(track_links("href=\"https://x", "t", ""), "href=\"https://x");
        assert_eq!(track_links("a href=x b", "t", ""), "a href=x b");
    }
}
