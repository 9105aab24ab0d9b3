//! Where a configuration path is written: the line of every key of a YAML text, so that a
//! validation error can name its file and line as a parse error does.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser};

/// The line (1-based) of every key and list element of `text`, by dotted path in the form the
/// validation errors use (`http.services.app.loadBalancer.servers[0].url`). Empty when the text
/// does not parse: a text that does not parse has no validation errors to place.
pub fn key_lines(text: &str) -> HashMap<String, usize> {
    let mut lines = HashMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    for item in Parser::new_from_str(text) {
        let Ok((event, span)) = item else {
            return HashMap::new();
        };
        let line = span.start.line();
        match event {
            Event::Scalar(value, ..) => {
                if let Some(Frame::Mapping { path, key }) = stack.last_mut()
                    && key.is_none()
                {
                    let child = child_key(path, &value);
                    lines.entry(child.clone()).or_insert(line);
                    *key = Some(child);
                    continue;
                }
                value_done(&mut stack, &mut lines, line);
            }
            Event::Alias(_) => value_done(&mut stack, &mut lines, line),
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let path = node_path(&mut stack, &mut lines, line);
                stack.push(if matches!(event, Event::MappingStart(..)) {
                    Frame::Mapping { path, key: None }
                } else {
                    Frame::Sequence { path, next: 0 }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                after_value(&mut stack);
            }
            _ => {}
        }
    }
    lines
}

enum Frame {
    /// A mapping at `path`; `key` is the path of the key whose value comes next.
    Mapping { path: String, key: Option<String> },
    /// A sequence at `path`; `next` is the index of its next element.
    Sequence { path: String, next: usize },
}

fn child_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// The path of the node that starts here (and the line of a list element).
fn node_path(stack: &mut [Frame], lines: &mut HashMap<String, usize>, line: usize) -> String {
    match stack.last_mut() {
        None => String::new(),
        Some(Frame::Mapping { path, key }) => key.clone().unwrap_or_else(|| path.clone()),
        Some(Frame::Sequence { path, next }) => {
            let element = format!("{path}[{next}]");
            lines.entry(element.clone()).or_insert(line);
            element
        }
    }
}

/// A scalar or alias value ends here.
fn value_done(stack: &mut [Frame], lines: &mut HashMap<String, usize>, line: usize) {
    node_path(stack, lines, line);
    after_value(stack);
}

/// The parent expects its next key, or its next element.
fn after_value(stack: &mut [Frame]) {
    match stack.last_mut() {
        Some(Frame::Mapping { key, .. }) => *key = None,
        Some(Frame::Sequence { next, .. }) => *next += 1,
        None => {}
    }
}

/// The line of `path`, or of its closest written ancestor (a missing key is reported at the
/// mapping that lacks it), with how many characters of the path were found.
pub fn line_of(lines: &HashMap<String, usize>, path: &str) -> Option<(usize, usize)> {
    let mut candidate = path;
    loop {
        if let Some(line) = lines.get(candidate) {
            return Some((*line, candidate.len()));
        }
        let cut = candidate.rfind(['.', '['])?;
        candidate = candidate.get(..cut)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
entryPoints:
  web: { address: \":8080\" }
http:
  routers:
    app:
      rule: Path(`/`)
      service: app
  services:
    app:
      loadBalancer:
        servers:
          - url: http://a
          - url: http://b
";

    #[test]
    fn keys_and_list_elements_have_their_lines() {
        let lines = key_lines(TEXT);
        assert_eq!(lines["entryPoints"], 1);
        assert_eq!(lines["entryPoints.web.address"], 2);
        assert_eq!(lines["http.routers.app.rule"], 6);
        assert_eq!(lines["http.routers.app.service"], 7);
        assert_eq!(lines["http.services.app.loadBalancer.servers[0]"], 12);
        assert_eq!(lines["http.services.app.loadBalancer.servers[1].url"], 13);
    }

    #[test]
    fn a_missing_key_is_placed_at_its_closest_written_ancestor() {
        let lines = key_lines(TEXT);
        let router = "http.routers.app";
        assert_eq!(
            line_of(&lines, &format!("{router}.middlewares")),
            Some((5, router.len()))
        );
        let url = "http.services.app.loadBalancer.servers[1].url";
        assert_eq!(line_of(&lines, url), Some((13, url.len())));
        assert_eq!(line_of(&lines, "tls.options"), None);
    }

    #[test]
    fn a_text_that_does_not_parse_has_no_lines() {
        assert!(key_lines("a: [1, 2").is_empty());
    }
}
