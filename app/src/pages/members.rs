//! Project members and their roles.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::projects::{list_members, RemoveMember, SetMember};
use crate::components::widgets::{action_error, ErrorBox, Loading, RoleBadge};
use crate::model::fmt_time;
use crate::pages::project::use_project;

const ROLES: [&str; 3] = ["viewer", "editor", "admin"];

fn role_options(selected: String) -> impl IntoView {
    ROLES
        .iter()
        .map(|r| view! { <option value=*r selected=*r == selected>{*r}</option> })
        .collect_view()
}

#[component]
pub fn Members() -> impl IntoView {
    let ctx = use_project();
    let set = ServerAction::<SetMember>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let members = Resource::new(
        move || (ctx.slug.get(), set.version().get(), remove.version().get()),
        |(slug, _, _)| list_members(slug),
    );
    view! {
        <Title text="Members · Trellis"/>
        <h2>"Members"</h2>
        <p class="muted">"Admins manage members and settings; editors create and change everything inside the project; viewers read and see reports."</p>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let page = match members.await { Ok(p) => p, Err(e) => return view! { <ErrorBox error=e/> }.into_any() };
                let manage = page.can_manage;
                let slug = page.slug.clone();
                let list = page.members;
                view! {
                    <table class="table" aria-label="Members">
                        <thead><tr><th>"Email"</th><th>"Name"</th><th>"Role"</th><th>"Added"</th>{manage.then(|| view! { <th>"Actions"</th> })}</tr></thead>
                        <tbody>
                            {list.into_iter().map(|m| {
                                let (slug_a, slug_b) = (slug.clone(), slug.clone());
                                let email = m.email.clone();
                                let (email_a, email_b) = (email.clone(), email.clone());
                                let role = m.role.clone();
                                view! {
                                    <tr>
                                        <td>{m.email.clone()}</td>
                                        <td>{m.display_name.clone()}</td>
                                        <td><RoleBadge role=m.role.clone()/></td>
                                        <td>{fmt_time(&m.added_at)}</td>
                                        {manage.then(move || view! {
                                            <td class="row-actions">
                                                <ActionForm action=set attr:class="inline">
                                                    <input type="hidden" name="slug" value=slug_a/>
                                                    <select name="role" aria-label=format!("Role of {email_a}")>{role_options(role)}</select>
                                                    <input type="hidden" name="email" value=email_a.clone()/>
                                                    <button type="submit" aria-label=format!("Change role of {email_a}")>"Change"</button>
                                                </ActionForm>
                                                <ActionForm action=remove attr:class="inline">
                                                    <input type="hidden" name="slug" value=slug_b/>
                                                    <input type="hidden" name="email" value=email_b.clone()/>
                                                    <button type="submit" class="danger" aria-label=format!("Remove {email_b}")>"Remove"</button>
                                                </ActionForm>
                                            </td>
                                        })}
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                    {action_error(remove)}
                    {manage.then(|| view! {
                        <section class="card">
                            <h2>"Add a member"</h2>
                            <ActionForm action=set attr:class="form inline-grid">
                                <input type="hidden" name="slug" value=slug.clone()/>
                                <label>"Email"<input type="email" name="email" required/></label>
                                <label>"Role"<select name="role">{role_options("viewer".to_string())}</select></label>
                                <button type="submit" class="primary" disabled=move || set.pending().get()>"Add member"</button>
                                {action_error(set)}
                            </ActionForm>
                            <p class="muted">"The person needs an account first: instance administrators create accounts or send invitations under Administration → Users."</p>
                        </section>
                    })}
                }.into_any()
            })}
        </Suspense>
    }
}
