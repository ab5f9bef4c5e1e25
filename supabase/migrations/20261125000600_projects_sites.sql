-- App projects (the sites users build) and what hangs off them: saved data, file list,
-- company profile, and prompt handoffs. Owned by the projects service.
-- An app project has exactly one owner: a user (user_id) or a guest session (session_id).
-- Claiming a guest's work sets user_id and clears session_id in one SQL function
-- (…_projects_guest_claims.sql). Unique keys here are all scoped to one app project, so a
-- conflict never tells one tenant anything about another's rows.

-- app_projects ---------------------------------------------------------------------------------

create table public.app_projects (
  id uuid primary key default gen_random_uuid(),
  user_id uuid default private.caller_user_id() references public.users (id) on delete cascade,
  session_id text default private.caller_guest_session(),
  name text not null,
  category text,
  description text,
  thumbnail_path text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint app_projects_one_owner check (num_nonnulls(user_id, session_id) = 1),
  constraint app_projects_session_id_length check (length(session_id) <= 100),
  constraint app_projects_name_length check (length(name) between 1 and 200),
  constraint app_projects_category_length check (length(category) <= 100),
  constraint app_projects_description_length check (length(description) <= 2000),
  constraint app_projects_thumbnail_path_length check (length(thumbnail_path) <= 1024)
);
comment on table public.app_projects is
  'Owner: projects service. Tenancy: exactly one owner, user_id for users or session_id for guests; '
  'both default to the caller. Owners read, create, rename/describe and delete their own.';

create index app_projects_user_id_created_at_idx on public.app_projects (user_id, created_at desc);
create index app_projects_session_id_created_at_idx on public.app_projects (session_id, created_at desc);

create trigger app_projects_set_updated_at
  before update on public.app_projects
  for each row execute function private.set_updated_at();

alter table public.app_projects enable row level security;
revoke all on public.app_projects from anon, authenticated, service_role;
grant select, delete on public.app_projects to anon, authenticated;
grant insert (user_id, session_id, name, category, description, thumbnail_path)
  on public.app_projects to anon, authenticated;
grant update (name, category, description, thumbnail_path) on public.app_projects to anon, authenticated;
grant select, insert, update, delete on public.app_projects to service_role;

create policy "users read their own app projects"
  on public.app_projects for select to authenticated
  using (user_id = (select auth.uid()));
create policy "users create their own app projects"
  on public.app_projects for insert to authenticated
  with check (user_id = (select auth.uid()));
create policy "users update their own app projects"
  on public.app_projects for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));
create policy "users delete their own app projects"
  on public.app_projects for delete to authenticated
  using (user_id = (select auth.uid()));

create policy "guests read their own app projects"
  on public.app_projects for select to anon
  using (session_id = (select auth.jwt() ->> 'guest_session'));
create policy "guests create their own app projects"
  on public.app_projects for insert to anon
  with check (session_id = (select auth.jwt() ->> 'guest_session'));
create policy "guests update their own app projects"
  on public.app_projects for update to anon
  using (session_id = (select auth.jwt() ->> 'guest_session'))
  with check (session_id = (select auth.jwt() ->> 'guest_session'));
create policy "guests delete their own app projects"
  on public.app_projects for delete to anon
  using (session_id = (select auth.jwt() ->> 'guest_session'));

-- The caller's app projects, for policies of the tables that hang off them: a user's own for
-- `authenticated`, a guest's own for `anon` with the guest claim, none for anyone else.
-- Evaluated once per statement when written as
-- `project_id in (select private.owned_app_project_ids())`.
create function private.owned_app_project_ids() returns setof uuid
language sql stable security definer
set search_path = ''
as $$
  select id from public.app_projects
  where user_id = (select private.caller_user_id())
     or session_id = (select private.caller_guest_session())
$$;
comment on function private.owned_app_project_ids() is
  'Owner: projects. Called by: the policies of tables hanging off app projects, in projects and media '
  '(as the user or guest).';
revoke execute on function private.owned_app_project_ids() from public;
grant execute on function private.owned_app_project_ids() to anon, authenticated;

-- project_data ---------------------------------------------------------------------------------

create table public.project_data (
  project_id uuid primary key references public.app_projects (id) on delete cascade,
  chat_id text,
  demo_url text,
  current_code text,
  files jsonb,
  messages jsonb,
  meta jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint project_data_meta_is_object check (jsonb_typeof(meta) = 'object'),
  constraint project_data_chat_id_length check (length(chat_id) <= 100),
  constraint project_data_demo_url_length check (length(demo_url) <= 2048),
  constraint project_data_current_code_size check (octet_length(current_code) <= 5242880),
  constraint project_data_files_size check (octet_length(files::text) <= 10485760),
  constraint project_data_messages_size check (octet_length(messages::text) <= 10485760),
  constraint project_data_meta_size check (octet_length(meta::text) <= 1048576)
);
comment on table public.project_data is
  'Owner: projects service. The saved state of one app project. Tenancy: through the app project.';

create trigger project_data_set_updated_at
  before update on public.project_data
  for each row execute function private.set_updated_at();

alter table public.project_data enable row level security;
revoke all on public.project_data from anon, authenticated, service_role;
grant select, insert, delete on public.project_data to anon, authenticated;
-- project_id too, so that saving is an upsert on it (PostgREST's merge sets every given column).
grant update (project_id, chat_id, demo_url, current_code, files, messages, meta)
  on public.project_data to anon, authenticated;
grant select, insert, update, delete on public.project_data to service_role;

create policy "users read the data of their app projects"
  on public.project_data for select to authenticated
  using (project_id in (select private.owned_app_project_ids()));
create policy "users save data to their app projects"
  on public.project_data for insert to authenticated
  with check (project_id in (select private.owned_app_project_ids()));
create policy "users update the data of their app projects"
  on public.project_data for update to authenticated
  using (project_id in (select private.owned_app_project_ids()))
  with check (project_id in (select private.owned_app_project_ids()));
create policy "users delete the data of their app projects"
  on public.project_data for delete to authenticated
  using (project_id in (select private.owned_app_project_ids()));

create policy "guests read the data of their app projects"
  on public.project_data for select to anon
  using (project_id in (select private.owned_app_project_ids()));
create policy "guests save data to their app projects"
  on public.project_data for insert to anon
  with check (project_id in (select private.owned_app_project_ids()));
create policy "guests update the data of their app projects"
  on public.project_data for update to anon
  using (project_id in (select private.owned_app_project_ids()))
  with check (project_id in (select private.owned_app_project_ids()));
create policy "guests delete the data of their app projects"
  on public.project_data for delete to anon
  using (project_id in (select private.owned_app_project_ids()));

-- project_files --------------------------------------------------------------------------------

create table public.project_files (
  id uuid primary key default gen_random_uuid(),
  project_id uuid not null references public.app_projects (id) on delete cascade,
  path text not null,
  size_bytes bigint not null default 0,
  created_at timestamptz not null default now(),
  constraint project_files_project_path_key unique (project_id, path),
  constraint project_files_path_length check (length(path) between 1 and 1024),
  constraint project_files_size_not_negative check (size_bytes >= 0)
);
comment on table public.project_files is
  'Owner: projects service. The file list of an app project, replaced on save. '
  'Tenancy: through the app project.';

alter table public.project_files enable row level security;
revoke all on public.project_files from anon, authenticated, service_role;
grant select, insert, delete on public.project_files to anon, authenticated;
grant update (project_id, path, size_bytes) on public.project_files to anon, authenticated;
grant select, insert, update, delete on public.project_files to service_role;

create policy "users read the files of their app projects"
  on public.project_files for select to authenticated
  using (project_id in (select private.owned_app_project_ids()));
create policy "users add files to their app projects"
  on public.project_files for insert to authenticated
  with check (project_id in (select private.owned_app_project_ids()));
create policy "users update the files of their app projects"
  on public.project_files for update to authenticated
  using (project_id in (select private.owned_app_project_ids()))
  with check (project_id in (select private.owned_app_project_ids()));
create policy "users delete the files of their app projects"
  on public.project_files for delete to authenticated
  using (project_id in (select private.owned_app_project_ids()));

create policy "guests read the files of their app projects"
  on public.project_files for select to anon
  using (project_id in (select private.owned_app_project_ids()));
create policy "guests add files to their app projects"
  on public.project_files for insert to anon
  with check (project_id in (select private.owned_app_project_ids()));
create policy "guests update the files of their app projects"
  on public.project_files for update to anon
  using (project_id in (select private.owned_app_project_ids()))
  with check (project_id in (select private.owned_app_project_ids()));
create policy "guests delete the files of their app projects"
  on public.project_files for delete to anon
  using (project_id in (select private.owned_app_project_ids()));

-- company_profiles -----------------------------------------------------------------------------

create table public.company_profiles (
  id uuid primary key default gen_random_uuid(),
  project_id uuid not null references public.app_projects (id) on delete cascade,
  company_name text not null,
  industry text,
  location text,
  existing_website text,
  site_likes text,
  site_dislikes text,
  site_feedback text,
  target_audience text,
  purposes text,
  special_wishes text,
  palette jsonb,
  competitor_insights text,
  inspiration_sites text,
  voice_transcript text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint company_profiles_project_id_key unique (project_id),
  constraint company_profiles_company_name_length check (length(company_name) between 1 and 200),
  constraint company_profiles_industry_length check (length(industry) <= 200),
  constraint company_profiles_location_length check (length(location) <= 200),
  constraint company_profiles_existing_website_length check (length(existing_website) <= 2048),
  constraint company_profiles_site_likes_length check (length(site_likes) <= 5000),
  constraint company_profiles_site_dislikes_length check (length(site_dislikes) <= 5000),
  constraint company_profiles_site_feedback_length check (length(site_feedback) <= 5000),
  constraint company_profiles_target_audience_length check (length(target_audience) <= 5000),
  constraint company_profiles_purposes_length check (length(purposes) <= 5000),
  constraint company_profiles_special_wishes_length check (length(special_wishes) <= 5000),
  constraint company_profiles_palette_is_object check (jsonb_typeof(palette) = 'object'),
  constraint company_profiles_palette_size check (octet_length(palette::text) <= 1048576),
  constraint company_profiles_competitor_insights_length check (length(competitor_insights) <= 50000),
  constraint company_profiles_inspiration_sites_length check (length(inspiration_sites) <= 5000),
  constraint company_profiles_voice_transcript_length check (length(voice_transcript) <= 50000)
);
comment on table public.company_profiles is
  'Owner: projects service. The brief behind one app project (palette: name, primary, secondary, accent). '
  'Tenancy: through the app project; relinking to another project requires owning that one too.';

create trigger company_profiles_set_updated_at
  before update on public.company_profiles
  for each row execute function private.set_updated_at();

alter table public.company_profiles enable row level security;
revoke all on public.company_profiles from anon, authenticated, service_role;
grant select, insert, delete on public.company_profiles to anon, authenticated;
grant update (project_id, company_name, industry, location, existing_website, site_likes, site_dislikes,
              site_feedback, target_audience, purposes, special_wishes, palette, competitor_insights,
              inspiration_sites, voice_transcript)
  on public.company_profiles to anon, authenticated;
grant select, insert, update, delete on public.company_profiles to service_role;

create policy "users read the profiles of their app projects"
  on public.company_profiles for select to authenticated
  using (project_id in (select private.owned_app_project_ids()));
create policy "users create profiles for their app projects"
  on public.company_profiles for insert to authenticated
  with check (project_id in (select private.owned_app_project_ids()));
create policy "users update profiles and link them to their app projects"
  on public.company_profiles for update to authenticated
  using (project_id in (select private.owned_app_project_ids()))
  with check (project_id in (select private.owned_app_project_ids()));
create policy "users delete the profiles of their app projects"
  on public.company_profiles for delete to authenticated
  using (project_id in (select private.owned_app_project_ids()));

create policy "guests read the profiles of their app projects"
  on public.company_profiles for select to anon
  using (project_id in (select private.owned_app_project_ids()));
create policy "guests create profiles for their app projects"
  on public.company_profiles for insert to anon
  with check (project_id in (select private.owned_app_project_ids()));
create policy "guests update profiles and link them to their app projects"
  on public.company_profiles for update to anon
  using (project_id in (select private.owned_app_project_ids()))
  with check (project_id in (select private.owned_app_project_ids()));
create policy "guests delete the profiles of their app projects"
  on public.company_profiles for delete to anon
  using (project_id in (select private.owned_app_project_ids()));

-- prompt_handoffs ------------------------------------------------------------------------------

create table public.prompt_handoffs (
  id uuid primary key default gen_random_uuid(),
  project_id uuid references public.app_projects (id) on delete cascade,
  user_id uuid default private.caller_user_id() references public.users (id) on delete cascade,
  session_id text default private.caller_guest_session(),
  prompt text not null,
  source text,
  consumed_at timestamptz,
  created_at timestamptz not null default now(),
  constraint prompt_handoffs_one_owner check (num_nonnulls(user_id, session_id) = 1),
  constraint prompt_handoffs_session_id_length check (length(session_id) <= 100),
  constraint prompt_handoffs_prompt_length check (length(prompt) between 1 and 50000),
  constraint prompt_handoffs_source_length check (length(source) <= 100)
);
comment on table public.prompt_handoffs is
  'Owner: projects service. A prompt carried from the landing page into the builder, consumed once. '
  'Tenancy: exactly one owner (user_id or guest session_id), defaulting to the caller; owners may only '
  'set consumed_at, and an attached app project must be theirs.';

create index prompt_handoffs_user_id_idx on public.prompt_handoffs (user_id);
create index prompt_handoffs_session_id_idx on public.prompt_handoffs (session_id);
create index prompt_handoffs_project_id_idx on public.prompt_handoffs (project_id);

alter table public.prompt_handoffs enable row level security;
revoke all on public.prompt_handoffs from anon, authenticated, service_role;
grant select, delete on public.prompt_handoffs to anon, authenticated;
grant insert (project_id, user_id, session_id, prompt, source) on public.prompt_handoffs to anon, authenticated;
grant update (consumed_at) on public.prompt_handoffs to anon, authenticated;
grant select, insert, update, delete on public.prompt_handoffs to service_role;

create policy "users read their own prompt handoffs"
  on public.prompt_handoffs for select to authenticated
  using (user_id = (select auth.uid()));
create policy "users create their own prompt handoffs"
  on public.prompt_handoffs for insert to authenticated
  with check (
    user_id = (select auth.uid())
    and (project_id is null or project_id in (select private.owned_app_project_ids()))
  );
create policy "users consume their own prompt handoffs"
  on public.prompt_handoffs for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));
create policy "users delete their own prompt handoffs"
  on public.prompt_handoffs for delete to authenticated
  using (user_id = (select auth.uid()));

create policy "guests read their own prompt handoffs"
  on public.prompt_handoffs for select to anon
  using (session_id = (select auth.jwt() ->> 'guest_session'));
create policy "guests create their own prompt handoffs"
  on public.prompt_handoffs for insert to anon
  with check (
    session_id = (select auth.jwt() ->> 'guest_session')
    and (project_id is null or project_id in (select private.owned_app_project_ids()))
  );
create policy "guests consume their own prompt handoffs"
  on public.prompt_handoffs for update to anon
  using (session_id = (select auth.jwt() ->> 'guest_session'))
  with check (session_id = (select auth.jwt() ->> 'guest_session'));
create policy "guests delete their own prompt handoffs"
  on public.prompt_handoffs for delete to anon
  using (session_id = (select auth.jwt() ->> 'guest_session'));
