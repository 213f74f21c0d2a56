//! Content negotiation: which of the media types an endpoint can produce a
//! client's `Accept` header prefers (RFC 9110 §12.5.1).

/// The index in `offered` of the type the client prefers: highest quality
/// first, then the most specific range that matched, then the order of
/// `offered`. Without `Accept` (or with only ranges matching nothing
/// offered), the first offered type.
pub(crate) fn preferred(accept: Option<&str>, offered: &[&str]) -> usize {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return 0;
    };
    let ranges: Vec<Range<'_>> = accept.split(',').filter_map(Range::parse).collect();
    let mut best: Option<(u16, u8, usize)> = None;
    for (i, ty) in offered.iter().enumerate() {
        // The most specific range matching a type decides its quality.
        let matched = ranges
            .iter()
            .filter_map(|r| r.specificity(ty).map(|s| (s, r.q)))
            .max_by_key(|(s, _)| *s);
        if let Some((specificity, q)) = matched
            && q > 0
            && best.is_none_or(|(bq, bs, _)| (q, specificity) > (bq, bs))
        {
            best = Some((q, specificity, i));
        }
    }
    best.map_or(0, |(_, _, i)| i)
}

/// One media range of `Accept`, with its quality in thousandths.
struct Range<'a> {
    kind: &'a str,
    sub: &'a str,
    q: u16,
}

impl<'a> Range<'a> {
    fn parse(item: &'a str) -> Option<Self> {
        let mut parts = item.split(';');
        let (kind, sub) = parts.next()?.trim().split_once('/')?;
        let mut q = 1000;
        for p in parts {
            if let Some((k, v)) = p.split_once('=')
                && k.trim().eq_ignore_ascii_case("q")
            {
                q = v
                    .trim()
                    .parse::<f32>()
                    .map_or(0, |v| (v.clamp(0.0, 1.0) * 1000.0).round() as u16);
            }
        }
        Some(Range { kind, sub, q })
    }

    /// 2 for `type/sub`, 1 for `type/*`, 0 for `*/*`; `None` when it does not cover `ty`.
    fn specificity(&self, ty: &str) -> Option<u8> {
        let (kind, sub) = ty.split_once('/')?;
        match (self.kind, self.sub) {
            ("*", "*") => Some(0),
            (k, "*") if k.eq_ignore_ascii_case(kind) => Some(1),
            (k, s) if k.eq_ignore_ascii_case(kind) && s.eq_ignore_ascii_case(sub) => Some(2),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFERED: &[&str] = &["application/json", "application/x-protobuf", "text/html"];

    #[test]
    fn browsers_get_html_and_scripts_get_json() {
        let chromium =
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
        assert_eq!(preferred(Some(chromium), OFFERED), 2);
        assert_eq!(preferred(Some("*/*"), OFFERED), 0);
        assert_eq!(preferred(None, OFFERED), 0);
        assert_eq!(
            preferred(Some("application/json, text/plain, */*"), OFFERED),
            0
        );
    }

    #[test]
    fn quality_then_specificity_decide() {
        assert_eq!(preferred(Some("application/x-protobuf"), OFFERED), 1);
        assert_eq!(
            preferred(
                Some("application/json;q=0.5, application/x-protobuf"),
                OFFERED
            ),
            1
        );
        assert_eq!(
            preferred(Some("application/*;q=0.2, text/html;q=0.1"), OFFERED),
            0
        );
        // A specific range with q=0 excludes a type a wildcard would allow.
        assert_eq!(preferred(Some("*/*, application/json;q=0"), OFFERED), 1);
        assert_eq!(preferred(Some("image/png"), OFFERED), 0);
        assert_eq!(preferred(Some("TEXT/HTML"), OFFERED), 2);
    }
}
