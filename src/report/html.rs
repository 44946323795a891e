//! The report page: one HTML file with its style and its one script inline and every picture
//! referenced relatively, so it opens from disk, from a copied folder or from a static file server
//! with no network. The tables carry ids (`videos`, `classes`, ...) and plain numbers so scripts
//! can read the page as well as people.

use std::fmt::Write;

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::Value;

use super::{REASONS, RejectedFrame, Summary, VideoCounts};

/// Characters escaped in a relative URL path (slashes separate the folders and stay).
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\'');

fn url(path: &str) -> String {
    attr(&utf8_percent_encode(path, PATH).to_string()).into_owned()
}

/// A number as the page shows it: integers as they are, others with at most 4 decimals.
pub fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        let s = format!("{x:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), num)
}

const STYLE: &str = r#"
:root { --fg: #1d2330; --muted: #5b6475; --line: #d9dde5; --bg: #f6f7f9; --accent: #3b6ec2; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg); background: var(--bg); }
header { background: #1d2330; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #c9d1e0; }
nav { padding: 8px 28px; background: #fff; border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 1; }
nav a { margin-right: 16px; color: var(--accent); text-decoration: none; }
main { padding: 8px 28px 40px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 18px; margin: 16px 0; }
h2 { margin: 4px 0 12px; font-size: 18px; }
h3 { margin: 14px 0 8px; font-size: 15px; }
.note { color: var(--muted); }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 110px; }
.card b { display: block; font-size: 22px; }
.card span { color: var(--muted); font-size: 13px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: right; }
th:first-child, td:first-child, .text { text-align: left; }
thead th { background: var(--bg); }
tfoot td { font-weight: 600; }
.wide { overflow-x: auto; }
.curve { display: inline-block; vertical-align: top; max-width: 560px; margin-right: 40px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 14px; }
.grid.small { grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); }
figure { margin: 0; }
figure img { width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; background: #eee; }
figcaption { font-size: 13px; color: var(--muted); }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
.missing { border: 1px dashed var(--line); border-radius: 4px; padding: 18px 8px; text-align: center; color: var(--muted); font-size: 13px; }
#broken { background: #fde2e1; color: #7a1212; padding: 8px 28px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; font-size: 13px; }
dt { color: var(--muted); }
dd { margin: 0; word-break: break-all; }
"#;

/// Counts pictures that did not load (moved or deleted since the report was written), shows them,
/// and records the count on `<body data-broken>`.
const SCRIPT: &str = r#"
window.addEventListener("load", function () {
  var bad = Array.prototype.filter.call(document.images, function (i) { return !(i.complete && i.naturalWidth > 0); });
  document.body.setAttribute("data-broken", String(bad.length));
  if (bad.length) {
    var note = document.getElementById("broken");
    note.textContent = bad.length + " picture(s) could not be loaded (moved or deleted since the report was written): " +
      bad.slice(0, 5).map(function (i) { return i.getAttribute("src"); }).join(", ") + "; run framelabel report again.";
    note.hidden = false;
  }
});
"#;

pub fn page(s: &Summary) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let dir = s.dir.display().to_string();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>framelabel report: {}</title>\n<style>{STYLE}</style>\n</head>\n\
         <body data-broken=\"unchecked\">\n<header><h1>framelabel report</h1><p>{} · {} · framelabel {}{}</p></header>\n\
         <div id=\"broken\" hidden></div>\n",
        text(&dir),
        text(&dir),
        text(&s.generated_at),
        s.version,
        s.command
            .as_deref()
            .map(|c| format!(" · made by <code>framelabel {}</code>", text(c)))
            .unwrap_or_default(),
    );
    h.push_str("<nav><a href=\"#overview\">Overview</a>");
    if s.review.is_some() {
        h.push_str("<a href=\"#review\">Review first</a>");
    }
    h.push_str(
        "<a href=\"#frames\">Frames</a><a href=\"#classes-section\">Classes</a>\
         <a href=\"#plots\">Plots</a><a href=\"#thresholds\">Thresholds</a><a href=\"#previews\">Annotated frames</a>\
         <a href=\"#rejected\">Rejected frames</a><a href=\"#parameters\">Parameters</a></nav>\n<main>\n",
    );
    overview(&mut h, s);
    review(&mut h, s);
    videos(&mut h, s);
    classes(&mut h, s);
    plots(&mut h, s);
    thresholds(&mut h, s);
    previews(&mut h, s);
    rejected(&mut h, s);
    parameters(&mut h, s);
    let _ = write!(h, "</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n");
    h
}

/// "Review first": after `run --track`, where annotators should look before anything else.
fn review(h: &mut String, s: &Summary) {
    let Some(r) = &s.review else {
        return;
    };
    let _ = write!(
        h,
        "<section id=\"review\"><h2>Review first</h2><p class=\"note\">Tracks link the boxes of the \
         sampled frames around each kept frame ({} tracks). {} of {} kept frames have a reason to look; \
         <code>review.json</code> lists every kept frame by priority (each reason adds its weight: \
         missed and lonely 1, class flip 0.8, score dip 0.5, and boxes scored just above the \
         confidence threshold up to 0.3 each). In the pictures, flagged boxes have a red frame and \
         their reasons; dashed boxes are where a track expects an object the detector did not \
         report: suggestions, not labels.</p>",
        r.tracks, r.flagged_frames, r.kept_frames
    );
    h.push_str(
        "<div class=\"scroll\"><table><thead><tr><th>reason</th><th class=\"text\">what it suggests</th>\
         <th class=\"n\">kept frames</th><th class=\"n\">boxes</th></tr></thead><tbody>",
    );
    for c in &r.reasons {
        let what = match c.reason.as_str() {
            "missed" => {
                "a track crosses the frame without a box: a missed object (boxes: suggestions)"
            }
            "lonely" => "a box no track carries on: a likely false positive",
            "class_flip" => "a box whose class is not its track's",
            "score_dip" => "a box scored far below its track's median",
            _ => "",
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"text\">{what}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            text(&c.reason),
            c.frames,
            c.boxes
        );
    }
    h.push_str("</tbody></table></div>");
    if r.top.is_empty() {
        h.push_str("<p class=\"note\">No kept frame has a reason to look.</p></section>\n");
        return;
    }
    h.push_str("<div class=\"grid\">\n");
    for f in &r.top {
        let caption = format!(
            "{} frame {}: priority {} ({}; {} flagged box(es), {} suggestion(s))",
            f.video,
            f.frame,
            num(f.priority),
            if f.reasons.is_empty() {
                "low scores".to_string()
            } else {
                f.reasons.join(", ")
            },
            f.flagged_boxes,
            f.suggestions
        );
        figure(h, &f.file, &caption);
    }
    h.push_str("</div></section>\n");
}

fn overview(h: &mut String, s: &Summary) {
    let t = &s.totals;
    let rejected: u64 = t
        .rejected
        .iter()
        .filter(|(k, _)| k.as_str() != "duplicate")
        .map(|(_, n)| n)
        .sum();
    let cards: Vec<(String, &str, &str)> = vec![
        (opt(t.decoded.map(|d| d as f64)), "decoded", "decoded"),
        (t.sampled.to_string(), "sampled", "sampled"),
        (rejected.to_string(), "rejected", "rejected"),
        (
            t.rejected["duplicate"].to_string(),
            "duplicates",
            "duplicates",
        ),
        (t.kept.to_string(), "kept", "kept"),
        (t.labelled.to_string(), "labelled", "labelled"),
        (s.boxes.to_string(), "boxes", "boxes"),
        (
            s.classes.iter().filter(|c| c.boxes > 0).count().to_string(),
            "classes",
            "classes",
        ),
    ];
    h.push_str("<section id=\"overview\"><h2>Overview</h2><div class=\"cards\">");
    for (value, label, key) in cards {
        let _ = write!(
            h,
            "<div class=\"card\" data-key=\"{key}\"><b>{value}</b><span>{label}</span></div>"
        );
    }
    h.push_str("</div>");
    let _ = write!(
        h,
        "<p class=\"note\" id=\"sampler\">Sampled: {}.</p>",
        text(&s.sampler)
    );
    for w in &s.warnings {
        let _ = write!(h, "<p class=\"note warning\">{}</p>", text(w));
    }
    if !s.labelled {
        h.push_str(
            "<p class=\"note\">Not labelled yet: <code>framelabel label DIR</code> adds the boxes.</p>",
        );
    } else if t.kept == 0 {
        h.push_str("<p class=\"note\">No frame was kept: see the rejected frames and the quality plots below.</p>");
    } else if s.boxes == 0 {
        h.push_str(
            "<p class=\"note\">No box on any kept frame: see the confidence curve below.</p>",
        );
    }
    h.push_str("</section>\n");
}

fn count_row(h: &mut String, v: &VideoCounts) {
    let _ = write!(
        h,
        "<tr><td>{}</td><td>{}</td><td>{}</td>",
        text(&v.video),
        opt(v.decoded.map(|d| d as f64)),
        v.sampled
    );
    for r in REASONS {
        let _ = write!(
            h,
            "<td>{}</td>",
            v.rejected.get(r.as_str()).copied().unwrap_or(0)
        );
    }
    let _ = writeln!(
        h,
        "<td>{}</td><td>{}</td><td>{}</td></tr>",
        v.kept, v.labelled, v.boxes
    );
}

fn videos(h: &mut String, s: &Summary) {
    h.push_str(
        "<section id=\"frames\"><h2>Frames per video</h2><p class=\"note\">Every sampled frame has one \
         final status: rejected by a quality check (dark, bright, noisy, blurry), still (too like the \
         last frame that passed <code>--min-change</code>), a duplicate, dropped for having no box (empty), missing, or kept. Labelled: kept frames with at least one box.</p>\
         <div class=\"wide\"><table id=\"videos\"><thead><tr><th>video</th><th>decoded</th><th>sampled</th>",
    );
    for r in REASONS {
        let _ = write!(h, "<th>{}</th>", r.as_str());
    }
    h.push_str("<th>kept</th><th>labelled</th><th>boxes</th></tr></thead>\n<tbody>\n");
    for v in &s.videos {
        count_row(h, v);
    }
    h.push_str("</tbody><tfoot>");
    count_row(h, &s.totals);
    h.push_str("</tfoot></table></div></section>\n");
}

fn classes(h: &mut String, s: &Summary) {
    h.push_str("<section id=\"classes-section\"><h2>Classes</h2>");
    if s.classes.is_empty() {
        h.push_str("<p class=\"note\">No boxes.</p></section>\n");
        return;
    }
    h.push_str(
        "<p class=\"note\">Sizes by COCO's rule on the box area in pixels of the written image: small \
         &lt; 32², medium &lt; 96², large the rest.</p><div class=\"wide\"><table id=\"classes\"><thead><tr>\
         <th>class</th><th>id</th><th>boxes</th><th>images</th><th>small</th><th>medium</th><th>large</th>\
         <th>mean score</th></tr></thead>\n<tbody>\n",
    );
    for c in &s.classes {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            text(&c.name),
            c.id,
            c.boxes,
            c.images,
            c.small,
            c.medium,
            c.large,
            opt(c.mean_score)
        );
    }
    h.push_str("</tbody></table></div></section>\n");
}

fn figure(h: &mut String, src: &str, caption: &str) {
    let _ = writeln!(
        h,
        "<figure><a href=\"{0}\"><img src=\"{0}\" alt=\"{1}\"></a><figcaption>{2}</figcaption></figure>",
        url(src),
        attr(caption),
        text(caption)
    );
}

fn plots(h: &mut String, s: &Summary) {
    h.push_str("<section id=\"plots\"><h2>Plots</h2><div class=\"grid\">\n");
    for p in &s.plots {
        figure(h, &p.file, &p.title);
    }
    h.push_str("</div>");
    for hist in &s.histograms {
        for (n, side, at, bin) in [
            (hist.below, "below", hist.lo, "first"),
            (hist.above, "above", hist.hi, "last"),
        ] {
            if n > 0 {
                let _ = write!(
                    h,
                    "<p class=\"note\">{}: {n} value(s) {side} {} are counted in the {bin} bin.</p>",
                    text(&hist.name),
                    num(at)
                );
            }
        }
    }
    h.push_str("</section>\n");
}

fn thresholds(h: &mut String, s: &Summary) {
    h.push_str("<section id=\"thresholds\"><h2>Thresholds</h2>");
    match &s.curves.dedup {
        Some(c) => {
            let _ = write!(
                h,
                "<div class=\"curve\"><h3>Dedup threshold (used: {})</h3><p class=\"note\">{}</p>\
                 <table id=\"dedup-curve\"><thead><tr><th>threshold</th><th>frames kept</th></tr></thead><tbody>",
                num(c.threshold),
                if c.source == "similarities" {
                    "Estimated from the similarity each duplicate had to its kept frame, for thresholds \
                     above the one used (save the embeddings with --save-embeddings for the exact curve)."
                        .to_string()
                } else {
                    format!(
                        "The dedup rule replayed at each threshold on the embeddings in {}.",
                        text(&c.source)
                    )
                }
            );
            for (t, n) in &c.points {
                let _ = write!(h, "<tr><td>{}</td><td>{n}</td></tr>", num(*t));
            }
            h.push_str("</tbody></table></div>");
        }
        None => h.push_str("<p class=\"note\">Not deduplicated.</p>"),
    }
    match &s.curves.confidence {
        Some(c) => {
            let _ = write!(
                h,
                "<div class=\"curve\"><h3>Confidence threshold (used: {})</h3><p class=\"note\">Counts at thresholds from the \
                 one used up, from predictions.json (before the class and size filters) and \
                 annotations.json (after them). Lower thresholds need a new <code>framelabel label</code>.</p>\
                 <table id=\"confidence-curve\"><thead><tr><th>threshold</th><th>detections</th><th>boxes</th>\
                 <th>images with boxes</th></tr></thead><tbody>",
                num(c.threshold)
            );
            for p in &c.points {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    num(p.threshold),
                    p.detections,
                    p.boxes,
                    p.images
                );
            }
            h.push_str("</tbody></table></div>");
        }
        None => h.push_str("<p class=\"note\">Not labelled.</p>"),
    }
    if let Some(c) = &s.curves.still {
        let _ = write!(
            h,
            "<div class=\"curve\"><h3>Still-frame gate (used: {})</h3><p class=\"note\">Of the {} \
             frames the quality checks kept, those <code>--min-change D</code> makes still (not \
             written, embedded or labelled), counted during this run for every value shown.</p>\
             <table id=\"still-curve\"><thead><tr><th>D</th><th>still frames</th><th>frames left</th></tr></thead><tbody>",
            c.min_change.map_or_else(|| "off".to_string(), num),
            c.checked
        );
        for &(d, n) in &c.points {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{n}</td><td>{}</td></tr>",
                num(d),
                c.checked.saturating_sub(n)
            );
        }
        h.push_str("</tbody></table></div>");
    }
    h.push_str("</section>\n");
}

fn previews(h: &mut String, s: &Summary) {
    h.push_str("<section id=\"previews\"><h2>Annotated frames</h2>");
    if s.previews.is_empty() {
        h.push_str("<p class=\"note\">No labelled frame to show.</p></section>\n");
        return;
    }
    h.push_str(
        "<p class=\"note\">The frames with the most confident boxes, then those with the least \
         confident, then frames without boxes.</p><div class=\"grid\">\n",
    );
    for p in &s.previews {
        let scores = match (p.min_score, p.max_score) {
            (Some(lo), Some(hi)) => format!(", scores {}–{}", num(lo), num(hi)),
            _ => String::new(),
        };
        let caption = format!(
            "{} frame {}: {} box(es){scores} ({})",
            p.video, p.frame, p.boxes, p.why
        );
        figure(h, &p.file, &caption);
    }
    h.push_str("</div></section>\n");
}

fn metrics(f: &RejectedFrame) -> String {
    let mut m = format!(
        "sharpness {}, entropy {}, noise {}, brightness {}",
        num(f.sharpness),
        num(f.entropy),
        num(f.noise),
        num(f.brightness)
    );
    if let Some(sim) = f.similarity {
        let _ = write!(m, ", similarity {}", num(sim));
    }
    if let Some(of) = &f.duplicate_of {
        let _ = write!(m, " to {of}");
    }
    if let Some(c) = f.change {
        let _ = write!(m, ", change {}", num(c));
    }
    if let Some(of) = f.still_of {
        let _ = write!(m, " from frame {of}");
    }
    m
}

fn rejected(h: &mut String, s: &Summary) {
    h.push_str(
        "<section id=\"rejected\"><h2>Rejected frames</h2><p class=\"note\">Per reason, the frames \
         nearest the threshold first: if they look fine, the threshold is too strict. Pictures are \
         shown when the run kept them (--keep-rejected).</p>",
    );
    let mut any = false;
    for g in s.rejected.iter().filter(|g| g.count > 0) {
        any = true;
        let _ = writeln!(
            h,
            "<h3 data-reason=\"{}\">{} ({} frame(s), {} shown)</h3><div class=\"grid small\">",
            attr(&g.reason),
            text(&g.reason),
            g.count,
            g.shown.len()
        );
        for f in &g.shown {
            let caption = format!(
                "{} frame {} ({}): {}",
                f.video,
                f.frame,
                num(f.pts),
                metrics(f)
            );
            match &f.image {
                Some(src) => figure(h, src, &caption),
                None => {
                    let _ = writeln!(
                        h,
                        "<figure><div class=\"missing\">picture not kept</div><figcaption>{}</figcaption></figure>",
                        text(&caption)
                    );
                }
            }
        }
        h.push_str("</div>\n");
    }
    if !any {
        h.push_str("<p class=\"note\">No frame was rejected.</p>");
    }
    h.push_str("</section>\n");
}

/// `a.b.c = value` lines of a JSON object.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, out);
            }
        }
        Value::Null => {}
        Value::String(s) => out.push((prefix.into(), s.clone())),
        other => out.push((prefix.into(), other.to_string())),
    }
}

fn parameters(h: &mut String, s: &Summary) {
    h.push_str("<section id=\"parameters\"><h2>Parameters and models</h2>");
    let groups = [
        ("Embedder", s.models.embedder.as_ref()),
        ("Detector", s.models.detector.as_ref()),
        ("extract", Some(&s.parameters.extract)),
        ("dedup", Some(&s.parameters.dedup)),
        ("label", Some(&s.parameters.label)),
    ];
    for (name, v) in groups {
        let mut rows = Vec::new();
        if let Some(v) = v {
            flatten("", v, &mut rows);
        }
        if rows.is_empty() {
            continue;
        }
        let _ = write!(h, "<h3>{name}</h3><dl>");
        for (k, v) in rows {
            let _ = write!(h, "<dt>{}</dt><dd>{}</dd>", text(&k), text(&v));
        }
        h.push_str("</dl>");
    }
    h.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_urls_as_the_page_writes_them() {
        assert_eq!(num(3.0), "3");
        assert_eq!(num(0.95), "0.95");
        assert_eq!(num(0.123456), "0.1235");
        assert_eq!(url("../images/a b#1.jpg"), "../images/a%20b%231.jpg");
        assert_eq!(url("x\"&.jpg"), "x%22&amp;.jpg");
    }
}
