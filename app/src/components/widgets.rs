//! Small shared widgets.

use leptos::prelude::*;

use crate::model::AppError;

/// An error shown inline, announced to screen readers.
#[component]
pub fn ErrorBox(error: AppError) -> impl IntoView {
    let text = match &error {
        AppError::Unauthenticated => "Your session has ended. Sign in again.".to_string(),
        other => other.to_string(),
    };
    view! { <p class="error" role="alert">{text}</p> }
}

/// The error of a server action's last call, if it failed.
pub fn action_error<S>(action: ServerAction<S>) -> impl IntoView
where
    S: leptos::server_fn::ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    move || {
        action
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| view! { <ErrorBox error=e/> })
    }
}

/// Counts the action's successful calls: a resource keyed on it reloads after a change, but not
/// after a refused one (which would reset what the user is correcting).
pub fn successes<S>(action: ServerAction<S>) -> RwSignal<usize>
where
    S: leptos::server_fn::ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    let n = RwSignal::new(0usize);
    Effect::new(move |_| {
        if let Some(Ok(_)) = action.value().get() {
            n.update(|c| *c += 1);
        }
    });
    n
}

#[component]
pub fn Loading() -> impl IntoView {
    view! { <p class="muted" aria-live="polite">"Loading…"</p> }
}

/// A labelled progress bar (0–1).
#[component]
pub fn ProgressBar(#[prop(into)] value: Signal<f64>, #[prop(into)] label: String) -> impl IntoView {
    view! {
        <div class="progress-wrap">
            <progress
                max="100"
                value=move || format!("{:.0}", value.get() * 100.0)
                aria-label=label
            ></progress>
            <span class="progress-text">{move || format!("{:.0}%", value.get() * 100.0)}</span>
        </div>
    }
}

#[component]
pub fn StateBadge(#[prop(into)] state: String) -> impl IntoView {
    let class = format!("badge state-{state}");
    view! { <span class=class>{state}</span> }
}

#[component]
pub fn RoleBadge(#[prop(into)] role: String) -> impl IntoView {
    let class = format!("badge role-{role}");
    view! { <span class=class>{role}</span> }
}

/// Sends an upload with `XMLHttpRequest` (the only browser API that reports upload progress):
/// progress goes to `progress` (0–1); when it ends, `done` gets the status and the JSON answer
/// (status 0 for a network error).
#[cfg(feature = "hydrate")]
pub fn send_with_progress(
    xhr: web_sys::XmlHttpRequest,
    send: impl FnOnce(&web_sys::XmlHttpRequest) -> Result<(), wasm_bindgen::JsValue>,
    progress: RwSignal<f64>,
    done: impl Fn(u16, serde_json::Value) + 'static,
) {
    use std::rc::Rc;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    let on_progress = Closure::<dyn FnMut(web_sys::ProgressEvent)>::new(move |e: web_sys::ProgressEvent| {
        if e.length_computable() && e.total() > 0.0 {
            progress.set(e.loaded() / e.total());
        }
    });
    if let Ok(up) = xhr.upload() {
        up.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
    }
    on_progress.forget();
    let done = Rc::new(done);
    let (x, on_done) = (xhr.clone(), done.clone());
    let on_load = Closure::<dyn FnMut()>::new(move || {
        let status = x.status().unwrap_or(0);
        let body = x.response_text().ok().flatten().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
        if (200..300).contains(&status) {
            progress.set(1.0);
        }
        on_done(status, body);
    });
    xhr.set_onload(Some(on_load.as_ref().unchecked_ref()));
    on_load.forget();
    let on_error = Closure::<dyn FnMut()>::new(move || done(0, serde_json::Value::Null));
    xhr.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_error.forget();
    progress.set(0.0);
    if send(&xhr).is_err() {
        progress.set(0.0);
    }
}

/// An absolute URL for a path on this site (in the browser; the path itself on the server).
pub fn absolute_url(path: &str) -> String {
    #[cfg(feature = "hydrate")]
    {
        if let Ok(origin) = window().location().origin() {
            return format!("{origin}{path}");
        }
    }
    path.to_string()
}

/// Full page load (used after sign-in/out so every part of the page sees the new session).
pub fn go_to(path: &str) {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().location().set_href(path);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}

/// Reloads the current page (in the browser).
pub fn reload_page() {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().location().reload();
    }
}

/// A signal that ticks every `secs` seconds in the browser (for live views).
pub fn ticker(secs: u64) -> RwSignal<u64> {
    let tick = RwSignal::new(0u64);
    Effect::new(move |_| {
        let handle = set_interval_with_handle(
            move || tick.update(|t| *t += 1),
            std::time::Duration::from_secs(secs),
        )
        .ok();
        on_cleanup(move || {
            if let Some(h) = handle {
                h.clear();
            }
        });
    });
    tick
}
