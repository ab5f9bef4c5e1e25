-- Page views for the admin statistics. Owned by the analytics service.
-- Any visitor may record a view (as itself or anonymously); only admins read them.

create table public.page_views (
  id bigint generated always as identity primary key,
  path text not null,
  user_id uuid default private.caller_user_id() references public.users (id) on delete set null,
  session_id text default private.caller_guest_session(),
  referrer text,
  user_agent text,
  -- Salted hash of the client IP; the address itself is never stored.
  ip_hash text,
  created_at timestamptz not null default now(),
  constraint page_views_path_length check (length(path) between 1 and 512),
  constraint page_views_session_id_length check (length(session_id) <= 100),
  constraint page_views_referrer_length check (length(referrer) <= 1024),
  constraint page_views_user_agent_length check (length(user_agent) <= 512),
  constraint page_views_ip_hash_length check (length(ip_hash) <= 128)
);
comment on table public.page_views is
  'Owner: analytics service. Tenancy: insert-only for clients, attributed to the caller or to nobody; '
  'admins (users.tier = admin) read everything.';

create index page_views_created_at_idx on public.page_views (created_at);
create index page_views_path_idx on public.page_views (path);
create index page_views_user_id_idx on public.page_views (user_id);
create index page_views_session_id_idx on public.page_views (session_id);

alter table public.page_views enable row level security;
revoke all on public.page_views from anon, authenticated, service_role;
grant insert (path, user_id, session_id, referrer, user_agent, ip_hash) on public.page_views to anon, authenticated;
grant select on public.page_views to authenticated;
grant select, insert, delete on public.page_views to service_role;
-- Identity values need no sequence privilege; drop the ones the default privileges handed out.
revoke all on sequence public.page_views_id_seq from anon, authenticated;

create policy "visitors record page views as themselves"
  on public.page_views for insert to anon
  with check (
    user_id is null
    and (session_id is null or session_id = (select auth.jwt() ->> 'guest_session'))
  );
create policy "users record page views as themselves"
  on public.page_views for insert to authenticated
  with check ((user_id is null or user_id = (select auth.uid())) and session_id is null);
create policy "admins read page views"
  on public.page_views for select to authenticated
  using ((select private.is_admin()));
