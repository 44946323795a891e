//! File names of written frames, from a template such as `{video}_{frame:06}`.
//!
//! Names must be predictable (a user finds frame 120 of `street.mp4` without a lookup table) and
//! unique across every input of a run, so the template is checked once, up front, and each video gets
//! a distinct key even when two inputs share a file stem.

use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Video,
    Frame { width: usize },
    TimeMs { width: usize },
}

/// A parsed `--name` template.
#[derive(Debug, Clone, PartialEq)]
pub struct NameTemplate {
    source: String,
    parts: Vec<Part>,
}

pub const DEFAULT_TEMPLATE: &str = "{video}_{frame:06}";

impl NameTemplate {
    /// Parses a template; placeholders are `{video}`, `{frame}`, `{time_ms}`, the numeric ones with an
    /// optional zero-padded width (`{frame:06}`).
    pub fn parse(template: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = template.chars();
        while let Some(c) = chars.next() {
            match c {
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err(format!("unclosed '{{' in '{template}'")),
                        }
                    }
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(parse_placeholder(&name)?);
                }
                '}' => return Err(format!("unmatched '}}' in '{template}'")),
                '/' | '\\' | '\0' => return Err(format!("'{template}' must not contain '{c}'")),
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        if !parts
            .iter()
            .any(|p| matches!(p, Part::Frame { .. } | Part::TimeMs { .. }))
        {
            return Err(format!(
                "'{template}' has neither {{frame}} nor {{time_ms}}, so every frame of a video would get the same name"
            ));
        }
        Ok(NameTemplate {
            source: template.to_string(),
            parts,
        })
    }

    pub fn has_video(&self) -> bool {
        self.parts.contains(&Part::Video)
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The file name (with `.jpg`) of one frame.
    pub fn render(&self, video_key: &str, frame: u64, pts: f64) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Video => out.push_str(video_key),
                Part::Frame { width } => out.push_str(&format!("{frame:0width$}")),
                Part::TimeMs { width } => {
                    let ms = (pts.max(0.0) * 1000.0).round() as u64;
                    out.push_str(&format!("{ms:0width$}"))
                }
            }
        }
        out.push_str(".jpg");
        out
    }
}

impl std::fmt::Display for NameTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

fn parse_placeholder(spec: &str) -> Result<Part, String> {
    let (name, fmt) = match spec.split_once(':') {
        Some((n, f)) => (n, Some(f)),
        None => (spec, None),
    };
    let width = match fmt {
        None => 0,
        Some(f) => f
            .parse::<usize>()
            .ok()
            .filter(|w| *w <= 20 && f.chars().all(|c| c.is_ascii_digit()))
            .ok_or_else(|| {
                format!("'{{{spec}}}': the width after ':' must be digits such as 06")
            })?,
    };
    match name {
        "video" if fmt.is_none() => Ok(Part::Video),
        "video" => Err("'{video}' takes no width".to_string()),
        "frame" => Ok(Part::Frame { width }),
        "time_ms" => Ok(Part::TimeMs { width }),
        other => Err(format!(
            "unknown placeholder '{{{other}}}'; use {{video}}, {{frame}} or {{time_ms}}"
        )),
    }
}

/// Gives each input a key for `{video}`: its file stem, made safe for a file name, with `-2`, `-3`, …
/// appended in input order when stems repeat.
pub fn video_keys(paths: &[impl AsRef<Path>]) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut used: std::collections::HashSet<String> = std::collections::HashSet::new();
    paths
        .iter()
        .map(|p| {
            let stem = p
                .as_ref()
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut base: String = stem
                .chars()
                .map(|c| {
                    if c == '/' || c == '\\' || c.is_control() {
                        '_'
                    } else {
                        c
                    }
                })
                .collect();
            if base.is_empty() {
                base = "video".to_string();
            }
            let n = seen.entry(base.clone()).or_insert(0);
            let mut key = base.clone();
            loop {
                *n += 1;
                if *n > 1 {
                    key = format!("{base}-{n}");
                }
                if used.insert(key.clone()) {
                    break key;
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_template() {
        let t = NameTemplate::parse(DEFAULT_TEMPLATE).unwrap();
        assert_eq!(
            t.render("street cam ü", 42, 1.68),
            "street cam ü_000042.jpg"
        );
        let t = NameTemplate::parse("{video}-{time_ms:08}-{frame}").unwrap();
        assert_eq!(t.render("v", 7, 1.2345), "v-00001235-7.jpg");
    }

    #[test]
    fn bad_templates() {
        assert!(
            NameTemplate::parse("{video}_{frme}")
                .unwrap_err()
                .contains("unknown placeholder '{frme}'")
        );
        assert!(
            NameTemplate::parse("{video}")
                .unwrap_err()
                .contains("neither")
        );
        assert!(NameTemplate::parse("{frame").is_err());
        assert!(NameTemplate::parse("a}{frame}").is_err());
        assert!(NameTemplate::parse("sub/{frame}").is_err());
        assert!(NameTemplate::parse("{frame:x}").is_err());
    }

    #[test]
    fn keys_are_unique() {
        let keys = video_keys(&["a/clip.mp4", "b/clip.mp4", "clip-2.avi", "c/clip.mkv"]);
        assert_eq!(keys, vec!["clip", "clip-2", "clip-2-2", "clip-3"]);
    }
}
