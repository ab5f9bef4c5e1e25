-- The guest claim names the app projects it moved, so that auth, which calls it at sign-in, can
-- drop the caches that still show them as the guest's (a guest token stays valid for days).
-- Same moves as before (…_projects_guest_claims.sql); only the answer grows: from a count to
-- the count and the moved app projects' ids.

drop function public.claim_guest_session(uuid, text);
drop function private.claim_guest_session(uuid, text);

create function private.claim_guest_session(p_user_id uuid, p_session_id text)
returns table (moved integer, app_project_ids uuid[])
language plpgsql security definer
set search_path = ''
as $$
declare
  counted integer;
begin
  moved := 0;
  app_project_ids := '{}';
  insert into public.guest_claims (session_id, user_id) values (p_session_id, p_user_id)
    on conflict (session_id) do nothing;
  if not found then
    return next;
    return;
  end if;
  with claimed as (
    update public.app_projects set user_id = p_user_id, session_id = null
      where session_id = p_session_id
      returning id
  )
  select count(*)::integer, coalesce(array_agg(id), '{}') into moved, app_project_ids
    from claimed;
  update public.projects as guest set user_id = p_user_id, session_id = null
    where guest.session_id = p_session_id
      and not exists (
        select from public.projects as own
        where own.user_id = p_user_id and own.v0_project_id = guest.v0_project_id
      );
  get diagnostics counted = row_count;
  moved := moved + counted;
  update public.prompt_handoffs set user_id = p_user_id, session_id = null
    where session_id = p_session_id;
  get diagnostics counted = row_count;
  moved := moved + counted;
  return next;
end
$$;
comment on function private.claim_guest_session(uuid, text) is
  'Owner: projects. Called by: public.claim_guest_session (as service_role).';
revoke execute on function private.claim_guest_session(uuid, text) from public;
grant execute on function private.claim_guest_session(uuid, text) to service_role;

-- Move a guest session's app projects, projects and prompt handoffs to a user, once per session:
-- how many rows moved (0 when the session was already claimed) and the app projects among them.
create function public.claim_guest_session(p_user_id uuid, p_session_id text)
returns table (moved integer, app_project_ids uuid[])
language sql security invoker
set search_path = ''
as $$ select * from private.claim_guest_session(p_user_id, p_session_id) $$;
comment on function public.claim_guest_session(uuid, text) is
  'Owner: projects. Called by: auth when a guest signs up or signs in (as service_role).';
revoke execute on function public.claim_guest_session(uuid, text) from public, anon, authenticated;
grant execute on function public.claim_guest_session(uuid, text) to service_role;
