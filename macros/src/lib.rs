//! `#[looplet::main]` and `#[looplet::test]`: an `async fn` run on a fresh looplet loop.
//!
//! Use them through looplet (its default `macros` feature), as `#[looplet::main]` and
//! `#[looplet::test]`. They are written on `proc_macro` alone: the attributes need only to find
//! the `async fn`'s signature and body, and wrap the body, so the crate pulls in no parser and
//! builds in about a second.
//!
//! ```
//! #[looplet::main]
//! async fn main() {
//!     let answer = looplet::spawn(async { 42 }).await;
//!     assert_eq!(answer, 42);
//! }
//! ```
#![warn(missing_docs, rust_2018_idioms, unreachable_pub)]

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

/// Runs an `async fn main` on a looplet loop: `fn main() { looplet::block_on(async { .. }) }`.
///
/// The function may return what `main` may (`()`, or a `Result` whose error is `Debug`). It
/// takes no arguments and no attribute arguments.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// #[looplet::main]
/// async fn main() -> std::io::Result<()> {
///     looplet::sleep(Duration::from_millis(1)).await;
///     Ok(())
/// }
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    if let Some(first) = args.into_iter().next() {
        return error(first.span(), "#[looplet::main] takes no arguments");
    }
    match AsyncFn::parse(item, "main") {
        Ok(f) => f.wrap(None, "::looplet::block_on"),
        Err(err) => err,
    }
}

/// Runs an `async fn` test on a fresh looplet loop: a `#[test]` whose body is awaited inside
/// `Executor::block_on`.
///
/// A panic fails the test, and so does an `Err` if the function returns a `Result` (as for
/// any `#[test]`); other attributes such as `#[should_panic]` and `#[ignore]` apply as usual.
/// `#[looplet::test(start_paused = true)]` starts the loop's clock paused (virtual time: see
/// `looplet::time::pause`), so timers fire as soon as the loop has nothing else to do.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// #[looplet::test(start_paused = true)]
/// async fn an_hour_passes_at_once() {
///     let start = looplet::time::now();
///     looplet::sleep(Duration::from_secs(3600)).await;
///     assert_eq!(looplet::time::now() - start, Duration::from_secs(3600));
/// }
/// # fn main() {}
/// ```
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    let paused = match start_paused(args) {
        Ok(paused) => paused,
        Err(err) => return err,
    };
    match AsyncFn::parse(item, "test") {
        Ok(f) => {
            let run = format!(
                "::looplet::Executor::builder().start_paused({paused}).build()\
                 .expect(\"looplet::test: cannot create the loop's poller\").block_on"
            );
            f.wrap(Some("#[::core::prelude::v1::test]"), &run)
        }
        Err(err) => err,
    }
}

/// Reads `start_paused = true|false` (the only argument of `#[looplet::test]`).
fn start_paused(args: TokenStream) -> Result<bool, TokenStream> {
    let tokens: Vec<TokenTree> = args.into_iter().collect();
    match tokens.as_slice() {
        [] => Ok(false),
        [
            TokenTree::Ident(key),
            TokenTree::Punct(eq),
            TokenTree::Ident(value),
        ] if key.to_string() == "start_paused" && eq.as_char() == '=' => {
            match value.to_string().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(error(value.span(), "start_paused takes `true` or `false`")),
            }
        }
        [first, ..] => Err(error(
            first.span(),
            "#[looplet::test] takes one optional argument: `start_paused = true`",
        )),
    }
}

/// An `async fn` item, cut where the attribute needs it.
struct AsyncFn {
    /// Everything before `fn` (attributes, visibility), less the `async` keyword.
    head: Vec<TokenTree>,
    name: Ident,
    /// `-> Type`, if any.
    ret: Vec<TokenTree>,
    body: Group,
}

impl AsyncFn {
    fn parse(item: TokenStream, attr: &str) -> Result<AsyncFn, TokenStream> {
        let mut tokens = item.into_iter().peekable();
        let mut head = Vec::new();
        let mut is_async = false;
        let fn_span = loop {
            match tokens.next() {
                Some(TokenTree::Ident(ident)) if ident.to_string() == "fn" => break ident.span(),
                Some(TokenTree::Ident(ident)) if ident.to_string() == "async" => is_async = true,
                Some(token) => head.push(token),
                None => {
                    return Err(error(
                        Span::call_site(),
                        &format!("#[looplet::{attr}] goes on an `async fn`"),
                    ));
                }
            }
        };
        if !is_async {
            return Err(error(
                fn_span,
                &format!(
                    "#[looplet::{attr}] needs an `async fn`: write `async fn` here (the attribute \
                     runs the function's body on a looplet loop; a plain fn has nothing to await)"
                ),
            ));
        }
        let Some(TokenTree::Ident(name)) = tokens.next() else {
            return Err(error(fn_span, "expected the function's name after `fn`"));
        };
        match tokens.next() {
            Some(TokenTree::Group(args)) if args.delimiter() == Delimiter::Parenthesis => {
                if !args.stream().is_empty() {
                    return Err(error(
                        args.span(),
                        &format!("#[looplet::{attr}] functions take no arguments"),
                    ));
                }
            }
            Some(other) => {
                return Err(error(
                    other.span(),
                    &format!("#[looplet::{attr}] functions take no generic parameters"),
                ));
            }
            None => {
                return Err(error(
                    name.span(),
                    "expected `()` after the function's name",
                ));
            }
        }
        let mut ret = Vec::new();
        let body = loop {
            match tokens.next() {
                Some(TokenTree::Group(body))
                    if body.delimiter() == Delimiter::Brace && tokens.peek().is_none() =>
                {
                    break body;
                }
                Some(token) => ret.push(token),
                None => return Err(error(name.span(), "expected the function's body")),
            }
        };
        Ok(AsyncFn {
            head,
            name,
            ret,
            body,
        })
    }

    /// `head [extra] fn name() ret { run(async move body) }`.
    fn wrap(self, extra: Option<&str>, run: &str) -> TokenStream {
        let mut out = TokenStream::new();
        if let Some(extra) = extra {
            out.extend(parse(extra));
        }
        out.extend(self.head);
        out.extend(parse("fn"));
        out.extend([TokenTree::Ident(self.name)]);
        out.extend([TokenTree::Group(Group::new(
            Delimiter::Parenthesis,
            TokenStream::new(),
        ))]);
        out.extend(self.ret);
        let mut future = parse("async move");
        future.extend([TokenTree::Group(self.body)]);
        let mut call = parse(run);
        call.extend([TokenTree::Group(Group::new(Delimiter::Parenthesis, future))]);
        out.extend([TokenTree::Group(Group::new(Delimiter::Brace, call))]);
        out
    }
}

fn parse(code: &str) -> TokenStream {
    code.parse().expect("the macro's own code is valid Rust")
}

/// `compile_error!("message")`, pointing at `span`.
fn error(span: Span, message: &str) -> TokenStream {
    let mut bang = Punct::new('!', Spacing::Alone);
    bang.set_span(span);
    let mut text = Literal::string(message);
    text.set_span(span);
    let mut args = Group::new(
        Delimiter::Parenthesis,
        TokenStream::from(TokenTree::Literal(text)),
    );
    args.set_span(span);
    let mut semi = Punct::new(';', Spacing::Alone);
    semi.set_span(span);
    TokenStream::from_iter([
        TokenTree::Ident(Ident::new("compile_error", span)),
        TokenTree::Punct(bang),
        TokenTree::Group(args),
        TokenTree::Punct(semi),
    ])
}
