//! Instance administration: users and invitations.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::admin::{list_invites, list_users, CreateInvite, CreateUser};
use crate::components::widgets::{absolute_url, action_error, ErrorBox, Loading};
use crate::model::{fmt_opt_time, fmt_time};

#[component]
pub fn Users() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let invite = ServerAction::<CreateInvite>::new();
    let users = Resource::new(move || create.version().get(), |_| list_users());
    let invites = Resource::new(move || invite.version().get(), |_| list_invites());
    view! {
        <Title text="Users · Trellis"/>
        <h1>"Users"</h1>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let list = match users.await { Ok(l) => l, Err(e) => return view! { <ErrorBox error=e/> }.into_any() };
                view! {
                    <table class="table" aria-label="Users">
                        <thead><tr><th>"Email"</th><th>"Name"</th><th>"Instance admin"</th><th>"Created"</th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|u| view! {
                                <tr>
                                    <td>{u.email.clone()}</td>
                                    <td>{u.display_name.clone()}</td>
                                    <td>{if u.is_instance_admin { "yes" } else { "no" }}</td>
                                    <td>{fmt_time(&u.created_at)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            })}
        </Suspense>
        <div class="two-col">
            <section class="card">
                <h2>"Create a user"</h2>
                <ActionForm action=create attr:class="form">
                    <label>"Email"<input type="email" name="email" required/></label>
                    <label>"Name"<input type="text" name="display_name"/></label>
                    <label>"Initial password"<input type="password" name="password" required minlength="8" autocomplete="new-password"/></label>
                    <label class="check"><input type="checkbox" name="admin" value="on"/>"Instance administrator"</label>
                    <button type="submit" class="primary" disabled=move || create.pending().get()>"Create user"</button>
                    {action_error(create)}
                </ActionForm>
            </section>
            <section class="card">
                <h2>"Invite someone"</h2>
                <p class="muted">"They choose their own password from a one-time link, valid for 7 days."</p>
                <ActionForm action=invite attr:class="form">
                    <label>"Email"<input type="email" name="email" required/></label>
                    <label class="check"><input type="checkbox" name="admin" value="on"/>"Instance administrator"</label>
                    <button type="submit" class="primary" disabled=move || invite.pending().get()>"Create invitation"</button>
                    {action_error(invite)}
                </ActionForm>
                {move || invite.value().get().and_then(|r| r.ok()).map(|i| view! {
                    <div class="secret" role="status">
                        <p><strong>"Send this link to "{i.invite.email.clone()}". It is shown only once."</strong></p>
                        <input type="text" readonly aria-label="Invitation link" value=absolute_url(&i.path) class="mono"/>
                    </div>
                })}
            </section>
        </div>
        <h2>"Invitations"</h2>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let list = match invites.await { Ok(l) => l, Err(e) => return view! { <ErrorBox error=e/> }.into_any() };
                if list.is_empty() {
                    return view! { <p class="empty">"No invitations yet."</p> }.into_any();
                }
                view! {
                    <table class="table" aria-label="Invitations">
                        <thead><tr><th>"Email"</th><th>"Instance admin"</th><th>"Expires"</th><th>"Accepted"</th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|i| view! {
                                <tr>
                                    <td>{i.email.clone()}</td>
                                    <td>{if i.make_admin { "yes" } else { "no" }}</td>
                                    <td>{fmt_time(&i.expires_at)}</td>
                                    <td>{fmt_opt_time(&i.accepted_at)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            })}
        </Suspense>
    }
}
