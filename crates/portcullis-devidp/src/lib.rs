//! Development OpenID Provider with fault injection. Not for production use.
