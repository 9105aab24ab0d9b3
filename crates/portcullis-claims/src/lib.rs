//! The claims expression language of Portcullis, compatible with the `claims` option of Traefik
//! Hub's OIDC, OAuth2 Client Credentials and JWT middlewares, and the claim extraction behind
//! `forwardHeaders` and `usernameClaim`.
//!
//! An expression decides whether a request's tokens may pass, so this crate is built to fail
//! closed and to never fail at request time: every syntax problem is reported when the
//! configuration is loaded (with its column), evaluation is total (a missing claim makes a
//! function false, never an error), nothing panics on any input, and evaluation allocates
//! nothing. The parser is fuzzed.
//!
//! ```
//! use portcullis_claims::{Claims, Expression};
//! use serde_json::json;
//!
//! let rule: Expression = "Equals(`grp`, `admin`) && !Contains(`areas`, `lab`)".parse()?;
//! let id_token = json!({"grp": "admin", "areas": ["office", "home"]});
//! let claims = Claims { id_token: Some(&id_token), access_token: None };
//! assert!(rule.evaluate(&claims));
//! # Ok::<(), portcullis_claims::ParseError>(())
//! ```
//!
//! # Syntax
//!
//! - Functions (case-sensitive): ``Equals(key, value)``, ``Prefix(key, prefix)``,
//!   ``Contains(key, value)``, ``SplitContains(key, separator, value)`` and
//!   ``OneOf(key, value, …)`` (one or more values).
//! - Operators `!`, `&&`, `||`, from the tightest to the loosest, and parentheses. Whitespace
//!   (spaces, tabs, newlines) may stand between any two tokens.
//! - Arguments are backtick-quoted (`` `admin` ``), as in the reference documentation. Double
//!   quotes are accepted too, as in the reference implementation's Go syntax, with the escapes
//!   `\\`, `\"`, `\n`, `\r`, `\t` and `\uXXXX`; a trailing comma before `)` is accepted.
//! - Nesting of parentheses and `!` is limited to [`MAX_NESTING`] levels.
//! - Error columns are 1-based and count characters (not bytes) from the start of the text.
//!
//! # Keys
//!
//! A key is a dotted path into the token's JSON claims: `user.name` reads `{"user": {"name": …}}`.
//! `\.` is a literal dot and `\\` a literal backslash, so `a\.b` reads the claim named `a.b`; any
//! other backslash, an empty key, or an empty name between dots is a syntax error. The prefix
//! `id_token.` or `access_token.` selects the token; without a prefix the ID token is read. Paths
//! walk objects only (never array indices).
//!
//! # Semantics
//!
//! Scalars compare by their JSON text: a string as it is, a number as serde_json prints it (`42`,
//! `1.5`), a boolean as `true` or `false`. So ``Equals(`active`, `true`)`` matches the boolean
//! `true` and ``Equals(`age`, `42`)`` the number `42`. `null`, objects and missing claims match
//! nothing, so every function is false on them (and `!` of it true).
//!
//! | function | string claim | number / boolean claim | array claim |
//! |---|---|---|---|
//! | `Equals` | equal | JSON text equal | **false** (use `Contains` or `OneOf`) |
//! | `Prefix` | starts with | false | false |
//! | `Contains` | substring | false | some element's text equals the value |
//! | `SplitContains` | some part, split on the separator and trimmed of whitespace, equals the value | false | false |
//! | `OneOf` | equal to one of the values | JSON text equal to one of the values | some element's text equals one of the values |
//!
//! `Equals` on an array is false, as in the reference implementation, where only strings, numbers
//! and booleans compare: an array is never equal to one string. An empty `SplitContains`
//! separator is rejected when compiling.
//!
//! # Extraction
//!
//! [`ClaimPath::text`] and [`ClaimPath::values`] render a claim for a header or a user name:
//! strings as they are, numbers and booleans as their JSON text, arrays joined with `,` (or one
//! value per element), objects as compact JSON, and absent or `null` claims as the empty string.

mod error;
mod expression;
mod lexer;
mod matching;
mod parser;
mod path;

#[cfg(test)]
mod proptests;

pub use error::ParseError;
pub use expression::Expression;
pub use parser::MAX_NESTING;
pub use path::{ClaimPath, Claims, TokenKind};
