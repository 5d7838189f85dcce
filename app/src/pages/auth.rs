//! First-admin setup, sign-in and accepting an invitation.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::session::{invite_info, AcceptInvite as AcceptInviteFn, Setup as SetupFn, SignIn as SignInFn};
use crate::components::widgets::{action_error, go_to, ErrorBox, Loading};

/// Where to go after signing in: a local path only.
fn safe_next(next: Option<String>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => n,
        _ => "/".to_string(),
    }
}

#[component]
pub fn Setup() -> impl IntoView {
    let setup = ServerAction::<SetupFn>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = setup.value().get() {
            go_to("/");
        }
    });
    view! {
        <Title text="Set up Trellis"/>
        <main class="narrow card">
            <h1>"Welcome to Trellis"</h1>
            <p>"Create the first administrator account. Administrators manage users and see every project."</p>
            <ActionForm action=setup attr:class="form">
                <label>"Email"<input type="email" name="email" required autocomplete="username"/></label>
                <label>"Name"<input type="text" name="display_name" autocomplete="name"/></label>
                <label>"Password"<input type="password" name="password" required minlength="8" autocomplete="new-password"/></label>
                <label>"Confirm password"<input type="password" name="confirm" required minlength="8" autocomplete="new-password"/></label>
                <label class="check"><input type="checkbox" name="demo" value="on" checked/>"Create a demo project to explore"</label>
                <button type="submit" class="primary" disabled=move || setup.pending().get()>"Create administrator"</button>
                {action_error(setup)}
            </ActionForm>
        </main>
    }
}

#[component]
pub fn SignIn() -> impl IntoView {
    let sign_in = ServerAction::<SignInFn>::new();
    let query = use_query_map();
    Effect::new(move |_| {
        if let Some(Ok(())) = sign_in.value().get() {
            go_to(&safe_next(query.get_untracked().get("next")));
        }
    });
    view! {
        <Title text="Sign in · Trellis"/>
        <main class="narrow card">
            <h1>"Sign in to Trellis"</h1>
            <ActionForm action=sign_in attr:class="form">
                <label>"Email"<input type="email" name="email" required autocomplete="username"/></label>
                <label>"Password"<input type="password" name="password" required autocomplete="current-password"/></label>
                <button type="submit" class="primary" disabled=move || sign_in.pending().get()>"Sign in"</button>
                {action_error(sign_in)}
            </ActionForm>
        </main>
    }
}

#[component]
pub fn AcceptInvite() -> impl IntoView {
    let params = use_params_map();
    let secret = move || params.read().get("secret").unwrap_or_default();
    let info = Resource::new(secret, invite_info);
    let accept = ServerAction::<AcceptInviteFn>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = accept.value().get() {
            go_to("/");
        }
    });
    view! {
        <Title text="Accept invitation · Trellis"/>
        <main class="narrow card">
            <h1>"Join Trellis"</h1>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match info.await {
                        Ok(email) => view! {
                            <p>"You were invited as "<strong>{email}</strong>". Choose a password to create your account."</p>
                            <ActionForm action=accept attr:class="form">
                                <input type="hidden" name="secret" value=secret()/>
                                <label>"Name"<input type="text" name="display_name" autocomplete="name"/></label>
                                <label>"Password"<input type="password" name="password" required minlength="8" autocomplete="new-password"/></label>
                                <label>"Confirm password"<input type="password" name="confirm" required minlength="8" autocomplete="new-password"/></label>
                                <button type="submit" class="primary" disabled=move || accept.pending().get()>"Create account"</button>
                                {action_error(accept)}
                            </ActionForm>
                        }.into_any(),
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}
