#![recursion_limit = "512"]
//! The browser entry point: hydrate the server-rendered page.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(trellis_app::App);
    // A marker that the page is interactive (browser tests wait for it).
    let _ = js_sys::Reflect::set(
        &js_sys::global(),
        &wasm_bindgen::JsValue::from_str("__trellis_hydrated"),
        &wasm_bindgen::JsValue::TRUE,
    );
}
