//! Reading configuration files: the main file, then the file provider's file or directory,
//! merged into one dynamic configuration. Parse errors carry the file name and YAML position.

use std::path::{Path as FsPath, PathBuf};

use serde::de::DeserializeOwned;

use crate::errors::ConfigError;
use crate::model::{Config, FileProvider};
use crate::raw::{RawConfig, RawDynamicFile, RawHttp};
use crate::validate::validate;

/// Reads and validates the main file and the files of its file provider.
pub fn load(path: &FsPath) -> Result<Config, Vec<ConfigError>> {
    let mut sources = Vec::new();
    let (raw, http) = read_sources(path, &mut sources)?;
    validate(&raw, &http).map_err(|errors| place(errors, &sources))
}

/// Prefixes each error with the file and line where its path (or the closest written part of
/// it) is, as `FILE:LINE: path: message`, so a mistake in a provider file is found at once.
fn place(errors: Vec<ConfigError>, sources: &[(String, String)]) -> Vec<ConfigError> {
    let indexed: Vec<(&str, std::collections::HashMap<String, usize>)> = sources
        .iter()
        .map(|(name, text)| (name.as_str(), crate::locate::key_lines(text)))
        .collect();
    errors
        .into_iter()
        .map(|error| {
            let found = indexed
                .iter()
                .filter_map(|(name, lines)| {
                    crate::locate::line_of(lines, &error.path).map(|(line, len)| (name, line, len))
                })
                // The longest match wins; on a tie, the first source (the main file).
                .fold(
                    None,
                    |best: Option<(&&str, usize, usize)>, found| match best {
                        Some(b) if b.2 >= found.2 => Some(b),
                        _ => Some(found),
                    },
                );
            match found {
                Some((name, line, _)) => ConfigError {
                    path: format!("{name}:{line}: {}", error.path),
                    message: error.message,
                },
                None => error,
            }
        })
        .collect()
}

/// Reads and validates a configuration given as text (no file provider files are read unless
/// the text names them, relative to the current directory).
pub fn load_str(text: &str) -> Result<Config, Vec<ConfigError>> {
    let mut raw: RawConfig = parse_yaml(text, "configuration")?;
    let http = merge_dynamic(&mut raw, &mut Vec::new())?;
    validate(&raw, &http)
}

/// Reads the main file and the file provider's files; relative paths in the main file are
/// resolved against the main file's directory.
pub fn read_all(path: &FsPath) -> Result<(RawConfig, RawHttp), Vec<ConfigError>> {
    read_sources(path, &mut Vec::new())
}

/// [`read_all`], also collecting each file read with its text.
fn read_sources(
    path: &FsPath,
    sources: &mut Vec<(String, String)>,
) -> Result<(RawConfig, RawHttp), Vec<ConfigError>> {
    let text = read_file(path)?;
    let name = path.display().to_string();
    let mut raw: RawConfig = parse_yaml(&text, &name)?;
    sources.push((name, text));
    let base = path.parent().map(FsPath::to_path_buf).unwrap_or_default();
    resolve_relative_paths(&mut raw, &base);
    let http = merge_dynamic(&mut raw, sources)?;
    Ok((raw, http))
}

fn resolve_relative_paths(raw: &mut RawConfig, base: &FsPath) {
    let fix = |p: &mut String| {
        if !p.is_empty() && FsPath::new(p.as_str()).is_relative() {
            *p = base.join(p.as_str()).display().to_string();
        }
    };
    for ep in raw.entry_points.values_mut() {
        if let Some(tls) = &mut ep.tls {
            fix(&mut tls.cert_file);
            fix(&mut tls.key_file);
        }
    }
    if let Some(file) = raw.providers.as_mut().and_then(|p| p.file.as_mut()) {
        if let Some(f) = &mut file.filename {
            fix(f);
        }
        if let Some(d) = &mut file.directory {
            fix(d);
        }
    }
    if let Some(kube) = raw
        .providers
        .as_mut()
        .and_then(|p| p.kubernetes_crd.as_mut())
    {
        for p in [&mut kube.cert_auth_file_path, &mut kube.kubeconfig]
            .into_iter()
            .flatten()
        {
            fix(p);
        }
    }
    if let Some(secrets) = &mut raw.secrets {
        fix(&mut secrets.directory);
    }
    if let Some(tls) = &mut raw.tls {
        for certificate in tls.certificates.iter_mut().chain(
            tls.stores
                .values_mut()
                .filter_map(|s| s.default_certificate.as_mut()),
        ) {
            fix(&mut certificate.cert_file);
            fix(&mut certificate.key_file);
        }
    }
    if let Some(p) = raw
        .access_log
        .as_mut()
        .and_then(|log| log.file_path.as_mut())
    {
        fix(p);
    }
}

/// The files the file provider reads, in a stable order.
pub fn provider_files(provider: &FileProvider) -> Result<Vec<PathBuf>, ConfigError> {
    match provider {
        FileProvider::File { path, .. } => Ok(vec![path.clone()]),
        FileProvider::Directory { path, .. } => {
            let entries = std::fs::read_dir(path).map_err(|e| ConfigError {
                path: path.display().to_string(),
                message: format!("cannot read directory: {e}"),
            })?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                })
                .collect();
            files.sort();
            Ok(files)
        }
    }
}

/// Merges the main file's `http:` with the file provider's files; their paths were already made
/// relative to the main file by [`resolve_relative_paths`] (joining the base again read
/// `conf/conf/dynamic` for `--config conf/portcullis.yaml`).
fn merge_dynamic(
    raw: &mut RawConfig,
    sources: &mut Vec<(String, String)>,
) -> Result<RawHttp, Vec<ConfigError>> {
    let mut merged = RawHttp::default();
    let mut errors = Vec::new();
    let mut seen: Vec<(String, String)> = Vec::new();
    if let Some(http) = raw.http.take() {
        merge_one(&mut merged, "the main file", http, &mut errors, &mut seen);
    }
    if let Some(tls) = raw.tls.take() {
        merge_tls(&mut merged, "the main file", tls, &mut errors, &mut seen);
    }
    let provider = raw
        .providers
        .as_ref()
        .and_then(|p| p.file.as_ref())
        .and_then(|file| match (&file.filename, &file.directory) {
            (Some(f), _) => Some(FileProvider::File {
                path: PathBuf::from(f),
                watch: file.watch,
            }),
            (None, Some(d)) => Some(FileProvider::Directory {
                path: PathBuf::from(d),
                watch: file.watch,
            }),
            (None, None) => None,
        });
    if let Some(provider) = provider {
        match provider_files(&provider) {
            Ok(files) => {
                for f in files {
                    let name = f.display().to_string();
                    let parsed = read_file(&f).and_then(|text| {
                        let file = parse_yaml::<RawDynamicFile>(&text, &name);
                        sources.push((name.clone(), text));
                        file
                    });
                    match parsed {
                        Ok(RawDynamicFile { http, tls }) => {
                            if let Some(http) = http {
                                merge_one(&mut merged, &name, http, &mut errors, &mut seen);
                            }
                            if let Some(tls) = tls {
                                merge_tls(&mut merged, &name, tls, &mut errors, &mut seen);
                            }
                        }
                        Err(mut e) => errors.append(&mut e),
                    }
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(merged)
    } else {
        Err(errors)
    }
}

fn merge_one(
    merged: &mut RawHttp,
    source: &str,
    http: RawHttp,
    errors: &mut Vec<ConfigError>,
    seen: &mut Vec<(String, String)>,
) {
    let mut check = |kind: &str, name: &str| -> bool {
        let key = format!("{kind}.{name}");
        if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
            errors.push(ConfigError {
                path: format!("http.{key}"),
                message: format!("defined in both {first} and {source}"),
            });
            false
        } else {
            seen.push((key, source.to_owned()));
            true
        }
    };
    for (name, router) in http.routers {
        if check("routers", &name) {
            merged.routers.insert(name, router);
        }
    }
    for (name, service) in http.services {
        if check("services", &name) {
            merged.services.insert(name, service);
        }
    }
    for (name, middleware) in http.middlewares {
        if check("middlewares", &name) {
            merged.middlewares.insert(name, middleware);
        }
    }
    for (name, transport) in http.servers_transports {
        if check("serversTransports", &name) {
            merged.servers_transports.insert(name, transport);
        }
    }
}

/// Merges a top-level `tls` section: certificates add up, stores and options are unique.
fn merge_tls(
    merged: &mut RawHttp,
    source: &str,
    tls: crate::raw::RawTls,
    errors: &mut Vec<ConfigError>,
    seen: &mut Vec<(String, String)>,
) {
    merged.tls.certificates.extend(tls.certificates);
    let mut check = |key: String| -> bool {
        if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
            errors.push(ConfigError {
                path: key,
                message: format!("defined in both {first} and {source}"),
            });
            false
        } else {
            seen.push((key, source.to_owned()));
            true
        }
    };
    for (name, store) in tls.stores {
        if check(format!("tls.stores.{name}")) {
            merged.tls.stores.insert(name, store);
        }
    }
    for (name, options) in tls.options {
        if check(format!("tls.options.{name}")) {
            merged.tls.options.insert(name, options);
        }
    }
}

fn read_file(path: &FsPath) -> Result<String, Vec<ConfigError>> {
    std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigError {
            path: path.display().to_string(),
            message: format!("cannot read file: {e}"),
        }]
    })
}

/// Parses YAML into a raw type; the error names `source` and the position.
pub fn parse_yaml<T: DeserializeOwned>(text: &str, source: &str) -> Result<T, Vec<ConfigError>> {
    if text.trim().is_empty() {
        return serde_json::from_value(serde_json::Value::Object(Default::default())).map_err(
            |e| {
                vec![ConfigError {
                    path: source.to_owned(),
                    message: e.to_string(),
                }]
            },
        );
    }
    serde_saphyr::from_str::<T>(text).map_err(|e| vec![yaml_error(&e, text, source)])
}

/// A YAML error as `FILE:LINE:COLUMN: message` and the lines around it, in the gateway's words
/// (the parsing library's own messages address programmers: "set DuplicateKeyPolicy ...").
fn yaml_error(error: &serde_saphyr::Error, text: &str, source: &str) -> ConfigError {
    use serde_saphyr::MessageFormatter;
    let message = match error.without_snippet() {
        serde_saphyr::Error::DuplicateMappingKey { key: Some(key), .. } => {
            format!("duplicate key `{key}`")
        }
        serde_saphyr::Error::DuplicateMappingKey { key: None, .. } => "duplicate key".to_owned(),
        other => serde_saphyr::UserMessageFormatter
            .format_message(other)
            .into_owned(),
    };
    match error.location().filter(|l| l.line() > 0) {
        Some(location) => ConfigError {
            path: format!("{source}:{}:{}", location.line(), location.column()),
            message: format!(
                "{message}\n{}",
                snippet(text, location.line(), location.column())
            ),
        },
        None => ConfigError {
            path: source.to_owned(),
            message,
        },
    }
}

/// The line at `line` (1-based) and the two before it, with a caret under `column`.
fn snippet(text: &str, line: u64, column: u64) -> String {
    let line = usize::try_from(line).unwrap_or(usize::MAX);
    let first = line.saturating_sub(2).max(1);
    let width = line.to_string().len();
    let mut out = String::new();
    for (number, content) in text.lines().enumerate().map(|(i, l)| (i + 1, l)) {
        if number < first || number > line {
            continue;
        }
        out.push_str(&format!("    {number:>width$} | {content}\n"));
    }
    let caret = usize::try_from(column.saturating_sub(1)).unwrap_or(0);
    out.push_str(&format!("    {:>width$} | {}^", "", " ".repeat(caret)));
    out
}
