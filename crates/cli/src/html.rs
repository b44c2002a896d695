//! The HTML pages of `visualize --html`:
//! - [`picture_page`], the default: the fleet's picture as inline SVG (`picture.rs`), and
//!   the Mermaid text to copy. No script, nothing fetched when it is viewed.
//! - [`page`], with `--mermaid-src`: the Mermaid diagram, rendered in the browser by
//!   Mermaid's ES-module build imported from a URL (Mermaid is never bundled).

/// Mermaid's published ES-module build: what `--mermaid-src` is usually given.
#[cfg(test)]
pub(crate) const DEFAULT_MERMAID_SRC: &str =
    "https://cdn.jsdelivr.net/npm/mermaid@11/dist/mermaid.esm.min.mjs";

const PICTURE_STYLE: &str = "body { font-family: system-ui, sans-serif; margin: 2rem; }
figure { margin: 1rem 0; overflow-x: auto; }
figure svg { max-width: 100%; height: auto; }
details pre { background: #f6f6f6; padding: 1rem; }";

/// The self-contained page: `svg` (from [`crate::picture::svg`]; `None` when there was
/// nothing to draw) and the Mermaid `diagram` as text.
pub(crate) fn picture_page(title: &str, svg: Option<&str>, diagram: &str) -> String {
    let title = html_escape::encode_text(title);
    let figure = match svg {
        // The SVG's own XML declaration is not allowed inside HTML.
        Some(svg) => svg.find("<svg").map_or(svg, |i| &svg[i..]).to_owned(),
        None => "<p>No services to draw.</p>".to_owned(),
    };
    let diagram = html_escape::encode_text(diagram);
    let body = format!(
        "<p>Services (pink), the streams and exchanges they publish to and consume from (blue),
and request paths (green), labelled with routing keys; dashed: responses.</p>
<figure id=\"picture\">
{figure}
</figure>
<details>
<summary>Mermaid source (spec &sect;6)</summary>
<pre id=\"mermaid-source\">
{diagram}</pre>
</details>
"
    );
    document(&title, "", PICTURE_STYLE, &body)
}

/// A page: `head` (extra elements, escaped by the caller), `style`, the escaped `title` as
/// heading, then `body`.
fn document(title: &str, head: &str, style: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>
<html lang=\"en\">
<head>
<meta charset=\"utf-8\">
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">
{head}<title>{title}</title>
<style>
{style}
</style>
</head>
<body>
<h1>{title}</h1>
{body}</body>
</html>
"
    )
}

/// The page's fixed script. The URL comes from a `<meta>` tag so nothing user-supplied is
/// ever spliced into JavaScript; a failed import is shown on the page, not just the console.
const SCRIPT: &str = r#"const src = document.querySelector('meta[name="mermaid-src"]').content;
const status = document.getElementById("status");
try {
  const { default: mermaid } = await import(src);
  mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
  await mermaid.run({ querySelector: "pre.mermaid" });
  status.remove();
} catch (err) {
  status.textContent = `Could not render the diagram with Mermaid from ${src}: ${err}. ` +
    "Use --mermaid-src to point at a reachable copy of mermaid.esm.min.mjs.";
}"#;

const STYLE: &str = "body { font-family: system-ui, sans-serif; margin: 2rem; }
pre.mermaid { background: #fff; }
#status { color: #a00; }";

/// Builds the page for `diagram`, loading Mermaid from `mermaid_src`.
pub(crate) fn page(title: &str, diagram: &str, mermaid_src: &str) -> String {
    let title = html_escape::encode_text(title);
    let src = html_escape::encode_double_quoted_attribute(mermaid_src);
    // Mermaid reads the element's text after entity decoding, so text escaping round-trips.
    let diagram = html_escape::encode_text(diagram);
    let head = format!("<meta name=\"mermaid-src\" content=\"{src}\">\n");
    let body = format!(
        "<pre class=\"mermaid\">
{diagram}</pre>
<p id=\"status\">Rendering…</p>
<script type=\"module\">
{SCRIPT}
</script>
"
    );
    document(&title, &head, STYLE, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_diagram_title_and_source() {
        let html = page(
            "a<b",
            "graph LR\n    x -->|\"A&B<C>\"| y\n",
            "http://h/m.mjs?a=1&b=\"2\"",
        );
        assert!(html.contains("<title>a&lt;b</title>"));
        assert!(html.contains(
            "<pre class=\"mermaid\">\ngraph LR\n    x --&gt;|\"A&amp;B&lt;C&gt;\"| y\n</pre>"
        ));
        assert!(html.contains(
            "<meta name=\"mermaid-src\" content=\"http://h/m.mjs?a=1&amp;b=&quot;2&quot;\">"
        ));
    }

    #[test]
    fn the_picture_page_has_no_script_and_escapes_the_diagram() {
        let html = picture_page(
            "a<b",
            Some("<?xml version=\"1.0\"?><svg width=\"1\"></svg>"),
            "graph LR\n    x -->|\"A&B<C>\"| y\n",
        );
        assert!(html.contains("<title>a&lt;b</title>"));
        assert!(html.contains("<figure id=\"picture\">\n<svg width=\"1\"></svg>\n</figure>"));
        assert!(!html.contains("<?xml"));
        assert!(html.contains("x --&gt;|\"A&amp;B&lt;C&gt;\"| y"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("http://") && !html.contains("https://"));
        let empty = picture_page("t", None, "graph LR\n");
        assert!(empty.contains("<p>No services to draw.</p>"));
    }

    #[test]
    fn script_is_fixed_text() {
        let a = page("t", "graph LR\n", DEFAULT_MERMAID_SRC);
        let b = page("t", "graph LR\n", "./mermaid.esm.min.mjs");
        let script = |s: &str| s.split("<script").nth(1).map(str::to_owned);
        assert_eq!(script(&a), script(&b));
        assert!(a.contains(&format!("content=\"{DEFAULT_MERMAID_SRC}\"")));
    }
}
