-- The code engine mirror: what v0 returned for each builder session (projects, chats, versions,
-- deployments). Owned by the projects service. A project has exactly one owner, a user or a
-- guest session; chats, versions and deployments belong to whoever owns their project, and every
-- reference a client writes must point at something the caller owns. v0's ids are unique only
-- within their owner (a project, a chat): a key shared across tenants would let the first writer
-- squat an id and a conflict tell another tenant that it exists.

-- projects -------------------------------------------------------------------------------------

create table public.projects (
  id uuid primary key default gen_random_uuid(),
  user_id uuid default private.caller_user_id() references public.users (id) on delete cascade,
  session_id text default private.caller_guest_session(),
  v0_project_id text not null,
  name text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint projects_one_owner check (num_nonnulls(user_id, session_id) = 1),
  -- One row per owner and v0 project; usable as an upsert target (on_conflict) by PostgREST.
  constraint projects_owner_v0_project_key unique nulls not distinct (user_id, session_id, v0_project_id),
  constraint projects_session_id_length check (length(session_id) <= 100),
  constraint projects_v0_project_id_length check (length(v0_project_id) <= 100),
  constraint projects_name_length check (length(name) <= 200)
);
comment on table public.projects is
  'Owner: projects service. A v0 project as seen by one owner. Tenancy: exactly one owner, user_id for '
  'users or session_id for guests, both defaulting to the caller.';

create index projects_session_id_idx on public.projects (session_id);

create trigger projects_set_updated_at
  before update on public.projects
  for each row execute function private.set_updated_at();

alter table public.projects enable row level security;
revoke all on public.projects from anon, authenticated, service_role;
grant select, delete on public.projects to anon, authenticated;
grant insert (user_id, session_id, v0_project_id, name) on public.projects to anon, authenticated;
-- The owner and v0 id too, so recording a v0 project is an upsert on the owner key.
grant update (user_id, session_id, v0_project_id, name) on public.projects to anon, authenticated;
grant select, insert, update, delete on public.projects to service_role;

create policy "users read their own projects"
  on public.projects for select to authenticated
  using (user_id = (select auth.uid()));
create policy "users create their own projects"
  on public.projects for insert to authenticated
  with check (user_id = (select auth.uid()));
create policy "users update their own projects"
  on public.projects for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));
create policy "users delete their own projects"
  on public.projects for delete to authenticated
  using (user_id = (select auth.uid()));

create policy "guests read their own projects"
  on public.projects for select to anon
  using (session_id = (select auth.jwt() ->> 'guest_session'));
create policy "guests create their own projects"
  on public.projects for insert to anon
  with check (session_id = (select auth.jwt() ->> 'guest_session'));
create policy "guests update their own projects"
  on public.projects for update to anon
  using (session_id = (select auth.jwt() ->> 'guest_session'))
  with check (session_id = (select auth.jwt() ->> 'guest_session'));
create policy "guests delete their own projects"
  on public.projects for delete to anon
  using (session_id = (select auth.jwt() ->> 'guest_session'));

-- The caller's projects, for the policies of chats and deployments: a user's own for
-- `authenticated`, a guest's own for `anon` with the guest claim, none for anyone else.
create function private.owned_project_ids() returns setof uuid
language sql stable security definer
set search_path = ''
as $$
  select id from public.projects
  where user_id = (select private.caller_user_id())
     or session_id = (select private.caller_guest_session())
$$;
comment on function private.owned_project_ids() is
  'Owner: projects. Called by: the policies of chats and deployments (as the user or guest).';
revoke execute on function private.owned_project_ids() from public;
grant execute on function private.owned_project_ids() to anon, authenticated;

-- chats ----------------------------------------------------------------------------------------

create table public.chats (
  id uuid primary key default gen_random_uuid(),
  project_id uuid not null references public.projects (id) on delete cascade,
  v0_chat_id text not null,
  v0_project_id text,
  web_url text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint chats_project_v0_chat_key unique (project_id, v0_chat_id),
  constraint chats_v0_chat_id_length check (length(v0_chat_id) <= 100),
  constraint chats_v0_project_id_length check (length(v0_project_id) <= 100),
  constraint chats_web_url_length check (length(web_url) <= 2048)
);
comment on table public.chats is
  'Owner: projects service. A v0 chat inside a project, once per project. Tenancy: through the project.';

create trigger chats_set_updated_at
  before update on public.chats
  for each row execute function private.set_updated_at();

alter table public.chats enable row level security;
revoke all on public.chats from anon, authenticated, service_role;
grant select, delete on public.chats to anon, authenticated;
grant insert (project_id, v0_chat_id, v0_project_id, web_url) on public.chats to anon, authenticated;
grant update (v0_project_id, web_url) on public.chats to anon, authenticated;
grant select, insert, update, delete on public.chats to service_role;

create policy "users read the chats of their projects"
  on public.chats for select to authenticated
  using (project_id in (select private.owned_project_ids()));
create policy "users add chats to their projects"
  on public.chats for insert to authenticated
  with check (project_id in (select private.owned_project_ids()));
create policy "users update the chats of their projects"
  on public.chats for update to authenticated
  using (project_id in (select private.owned_project_ids()))
  with check (project_id in (select private.owned_project_ids()));
create policy "users delete the chats of their projects"
  on public.chats for delete to authenticated
  using (project_id in (select private.owned_project_ids()));

create policy "guests read the chats of their projects"
  on public.chats for select to anon
  using (project_id in (select private.owned_project_ids()));
create policy "guests add chats to their projects"
  on public.chats for insert to anon
  with check (project_id in (select private.owned_project_ids()));
create policy "guests update the chats of their projects"
  on public.chats for update to anon
  using (project_id in (select private.owned_project_ids()))
  with check (project_id in (select private.owned_project_ids()));
create policy "guests delete the chats of their projects"
  on public.chats for delete to anon
  using (project_id in (select private.owned_project_ids()));

-- The caller's chats, for the policies of versions and deployments.
create function private.owned_chat_ids() returns setof uuid
language sql stable security definer
set search_path = ''
as $$
  select chat.id
  from public.chats as chat
  where chat.project_id in (select private.owned_project_ids())
$$;
comment on function private.owned_chat_ids() is
  'Owner: projects. Called by: the policies of versions and deployments (as the user or guest).';
revoke execute on function private.owned_chat_ids() from public;
grant execute on function private.owned_chat_ids() to anon, authenticated;

-- versions -------------------------------------------------------------------------------------

create table public.versions (
  id uuid primary key default gen_random_uuid(),
  chat_id uuid not null references public.chats (id) on delete cascade,
  v0_version_id text not null,
  v0_message_id text,
  demo_url text,
  metadata jsonb,
  pinned boolean not null default false,
  pinned_at timestamptz,
  created_at timestamptz not null default now(),
  constraint versions_chat_v0_version_key unique (chat_id, v0_version_id),
  constraint versions_v0_version_id_length check (length(v0_version_id) <= 100),
  constraint versions_v0_message_id_length check (length(v0_message_id) <= 100),
  constraint versions_demo_url_length check (length(demo_url) <= 2048),
  constraint versions_metadata_size check (octet_length(metadata::text) <= 1048576)
);
comment on table public.versions is
  'Owner: projects service. A generated version of a chat; listed pinned first. '
  'Tenancy: through the chat''s project.';

create index versions_chat_id_listing_idx
  on public.versions (chat_id, pinned desc, pinned_at desc nulls last, created_at desc);

alter table public.versions enable row level security;
revoke all on public.versions from anon, authenticated, service_role;
grant select, delete on public.versions to anon, authenticated;
grant insert (chat_id, v0_version_id, v0_message_id, demo_url, metadata, pinned, pinned_at)
  on public.versions to anon, authenticated;
grant update (demo_url, metadata, pinned, pinned_at) on public.versions to anon, authenticated;
grant select, insert, update, delete on public.versions to service_role;

create policy "users read the versions of their chats"
  on public.versions for select to authenticated
  using (chat_id in (select private.owned_chat_ids()));
create policy "users add versions to their chats"
  on public.versions for insert to authenticated
  with check (chat_id in (select private.owned_chat_ids()));
create policy "users pin the versions of their chats"
  on public.versions for update to authenticated
  using (chat_id in (select private.owned_chat_ids()))
  with check (chat_id in (select private.owned_chat_ids()));
create policy "users delete the versions of their chats"
  on public.versions for delete to authenticated
  using (chat_id in (select private.owned_chat_ids()));

create policy "guests read the versions of their chats"
  on public.versions for select to anon
  using (chat_id in (select private.owned_chat_ids()));
create policy "guests add versions to their chats"
  on public.versions for insert to anon
  with check (chat_id in (select private.owned_chat_ids()));
create policy "guests pin the versions of their chats"
  on public.versions for update to anon
  using (chat_id in (select private.owned_chat_ids()))
  with check (chat_id in (select private.owned_chat_ids()));
create policy "guests delete the versions of their chats"
  on public.versions for delete to anon
  using (chat_id in (select private.owned_chat_ids()));

-- The caller's versions, so a deployment can only name a version the caller owns.
create function private.owned_version_ids() returns setof uuid
language sql stable security definer
set search_path = ''
as $$
  select version.id
  from public.versions as version
  where version.chat_id in (select private.owned_chat_ids())
$$;
comment on function private.owned_version_ids() is
  'Owner: projects. Called by: the policies of deployments (as the user or guest).';
revoke execute on function private.owned_version_ids() from public;
grant execute on function private.owned_version_ids() to anon, authenticated;

-- deployments ----------------------------------------------------------------------------------

create table public.deployments (
  id uuid primary key default gen_random_uuid(),
  project_id uuid not null references public.projects (id) on delete cascade,
  chat_id uuid not null references public.chats (id) on delete cascade,
  version_id uuid not null references public.versions (id) on delete cascade,
  v0_deployment_id text,
  vercel_deployment_id text,
  vercel_project_id text,
  inspector_url text,
  url text,
  status text not null default 'pending',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint deployments_status_known
    check (status in ('pending', 'building', 'ready', 'error', 'cancelled')),
  constraint deployments_v0_deployment_id_length check (length(v0_deployment_id) <= 100),
  constraint deployments_vercel_deployment_id_length check (length(vercel_deployment_id) <= 100),
  constraint deployments_vercel_project_id_length check (length(vercel_project_id) <= 100),
  constraint deployments_inspector_url_length check (length(inspector_url) <= 2048),
  constraint deployments_url_length check (length(url) <= 2048)
);
comment on table public.deployments is
  'Owner: projects service. A deployment of one version, tracking Vercel''s state. '
  'Tenancy: through the project; chat and version must be the caller''s too.';

create index deployments_project_id_idx on public.deployments (project_id);
create index deployments_chat_id_idx on public.deployments (chat_id);
create index deployments_version_id_idx on public.deployments (version_id);
create index deployments_vercel_deployment_id_idx on public.deployments (vercel_deployment_id);

create trigger deployments_set_updated_at
  before update on public.deployments
  for each row execute function private.set_updated_at();

alter table public.deployments enable row level security;
revoke all on public.deployments from anon, authenticated, service_role;
grant select, delete on public.deployments to anon, authenticated;
grant insert (project_id, chat_id, version_id, v0_deployment_id, vercel_deployment_id, vercel_project_id,
              inspector_url, url, status)
  on public.deployments to anon, authenticated;
grant update (v0_deployment_id, vercel_deployment_id, vercel_project_id, inspector_url, url, status)
  on public.deployments to anon, authenticated;
grant select, insert, update, delete on public.deployments to service_role;

create policy "users read the deployments of their projects"
  on public.deployments for select to authenticated
  using (project_id in (select private.owned_project_ids()));
create policy "users deploy versions of their projects"
  on public.deployments for insert to authenticated
  with check (
    project_id in (select private.owned_project_ids())
    and chat_id in (select private.owned_chat_ids())
    and version_id in (select private.owned_version_ids())
  );
create policy "users update the deployments of their projects"
  on public.deployments for update to authenticated
  using (project_id in (select private.owned_project_ids()))
  with check (project_id in (select private.owned_project_ids()));
create policy "users delete the deployments of their projects"
  on public.deployments for delete to authenticated
  using (project_id in (select private.owned_project_ids()));

create policy "guests read the deployments of their projects"
  on public.deployments for select to anon
  using (project_id in (select private.owned_project_ids()));
create policy "guests deploy versions of their projects"
  on public.deployments for insert to anon
  with check (
    project_id in (select private.owned_project_ids())
    and chat_id in (select private.owned_chat_ids())
    and version_id in (select private.owned_version_ids())
  );
create policy "guests update the deployments of their projects"
  on public.deployments for update to anon
  using (project_id in (select private.owned_project_ids()))
  with check (project_id in (select private.owned_project_ids()));
create policy "guests delete the deployments of their projects"
  on public.deployments for delete to anon
  using (project_id in (select private.owned_project_ids()));
