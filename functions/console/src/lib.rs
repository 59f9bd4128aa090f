//! The web console (`/console/...`): a single page, its script, style sheet and icon,
//! compiled into the component. The rules (paths, content types, caching, `ETag`, the
//! security headers) are the model's (`catalog_model::console`); the page talks to the
//! REST door itself, with the user's token, so this component holds no store and no
//! variable.

use catalog_model::console::Console;
use catalog_platform::http::serve;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

const INDEX: &str = include_str!("../assets/index.html");
const FILES: &[(&str, &[u8])] = &[
    ("app.js", include_bytes!("../assets/app.js")),
    ("app.css", include_bytes!("../assets/app.css")),
    ("icon.svg", include_bytes!("../assets/icon.svg")),
];

#[http_component]
fn handle(req: IncomingRequest, out: ResponseOutparam) {
    // Built per request: an instance serves one request, and hashing the ~40 KB of files
    // costs well under a millisecond.
    let console = Console::new(INDEX, FILES);
    serve(req, out, |r| console.answer(&r.api));
}
