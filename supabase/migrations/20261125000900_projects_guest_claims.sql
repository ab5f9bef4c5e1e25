-- Claiming a guest's work: when a guest signs up or signs in, its app projects, v0 projects and
-- prompt handoffs move to the user, atomically and once per guest session. The move writes only
-- the projects service's tables, so projects owns it; auth calls it at sign-in.

-- guest_claims ---------------------------------------------------------------------------------

create table public.guest_claims (
  session_id text primary key,
  user_id uuid not null references public.users (id) on delete cascade,
  claimed_at timestamptz not null default now()
);
comment on table public.guest_claims is
  'Owner: projects service. Which user claimed each guest session''s work; a session is claimed once. '
  'Tenancy: none for clients; only the service role reads it, and only claim_guest_session writes it.';

create index guest_claims_user_id_idx on public.guest_claims (user_id);

alter table public.guest_claims enable row level security;
revoke all on public.guest_claims from anon, authenticated, service_role;
grant select on public.guest_claims to service_role;

-- Move a guest session's app projects, projects and prompt handoffs to a user, once per session.
-- Returns how many rows moved (0 when the session was already claimed). A guest project whose v0
-- project the user already mirrors stays with the session rather than breaking the claim.
create function private.claim_guest_session(p_user_id uuid, p_session_id text)
returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  moved integer := 0;
  counted integer;
begin
  insert into public.guest_claims (session_id, user_id) values (p_session_id, p_user_id)
    on conflict (session_id) do nothing;
  if not found then
    return 0;
  end if;
  update public.app_projects set user_id = p_user_id, session_id = null
    where session_id = p_session_id;
  get diagnostics counted = row_count;
  moved := moved + counted;
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
  return moved + counted;
end
$$;
comment on function private.claim_guest_session(uuid, text) is
  'Owner: projects. Called by: public.claim_guest_session (as service_role).';
revoke execute on function private.claim_guest_session(uuid, text) from public;
grant execute on function private.claim_guest_session(uuid, text) to service_role;

create function public.claim_guest_session(p_user_id uuid, p_session_id text)
returns integer
language sql security invoker
set search_path = ''
as $$ select private.claim_guest_session(p_user_id, p_session_id) $$;
comment on function public.claim_guest_session(uuid, text) is
  'Owner: projects. Called by: auth when a guest signs up or signs in (as service_role).';
revoke execute on function public.claim_guest_session(uuid, text) from public, anon, authenticated;
grant execute on function public.claim_guest_session(uuid, text) to service_role;
