-- Cached template generations and saved site audits. Owned by the projects service.
-- A template is cached once per user (its key includes user_id), so one user's entry never
-- collides with another's.

-- template_cache -------------------------------------------------------------------------------

create table public.template_cache (
  id uuid primary key default gen_random_uuid(),
  template_id text not null,
  user_id uuid default private.caller_user_id() references public.users (id) on delete cascade,
  chat_id text,
  demo_url text,
  version_id text,
  files_json jsonb,
  code text,
  model text,
  expires_at timestamptz not null default now() + interval '7 days',
  created_at timestamptz not null default now(),
  -- One entry per template and user, and one shared entry (user_id null) per template.
  constraint template_cache_template_user_key unique nulls not distinct (template_id, user_id),
  constraint template_cache_template_id_length check (length(template_id) <= 100),
  constraint template_cache_chat_id_length check (length(chat_id) <= 100),
  constraint template_cache_demo_url_length check (length(demo_url) <= 2048),
  constraint template_cache_version_id_length check (length(version_id) <= 100),
  constraint template_cache_files_json_size check (octet_length(files_json::text) <= 10485760),
  constraint template_cache_code_size check (octet_length(code) <= 5242880),
  constraint template_cache_model_length check (length(model) <= 100)
);
comment on table public.template_cache is
  'Owner: projects service. Generated templates, cached for 7 days. Tenancy: a user reads and writes '
  'its own entries (user_id) and reads the shared ones (user_id null), which only the service role writes; '
  'guests and the anon key read the shared ones.';

create index template_cache_user_id_idx on public.template_cache (user_id);
create index template_cache_expires_at_idx on public.template_cache (expires_at);

alter table public.template_cache enable row level security;
revoke all on public.template_cache from anon, authenticated, service_role;
grant select on public.template_cache to anon;
grant select, insert, update, delete on public.template_cache to authenticated, service_role;

create policy "users read their own and shared cached templates"
  on public.template_cache for select to authenticated
  using (user_id is null or user_id = (select auth.uid()));
create policy "users cache templates for themselves"
  on public.template_cache for insert to authenticated
  with check (user_id = (select auth.uid()));
create policy "users refresh their own cached templates"
  on public.template_cache for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));
create policy "users delete their own cached templates"
  on public.template_cache for delete to authenticated
  using (user_id = (select auth.uid()));

create policy "visitors read shared cached templates"
  on public.template_cache for select to anon
  using (user_id is null);

-- user_audits ----------------------------------------------------------------------------------

create table public.user_audits (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default private.caller_user_id() references public.users (id) on delete cascade,
  url text not null,
  domain text not null,
  company_name text,
  score_overall smallint,
  score_seo smallint,
  score_ux smallint,
  score_performance smallint,
  score_security smallint,
  audit_result jsonb not null default '{}'::jsonb,
  status text not null default 'pending',
  created_at timestamptz not null default now(),
  constraint user_audits_status_known check (status in ('pending', 'done', 'failed')),
  constraint user_audits_scores_in_range check (
    score_overall between 0 and 100 and score_seo between 0 and 100 and score_ux between 0 and 100
    and score_performance between 0 and 100 and score_security between 0 and 100
  ),
  constraint user_audits_url_length check (length(url) <= 2048),
  constraint user_audits_domain_length check (length(domain) <= 253),
  constraint user_audits_company_name_length check (length(company_name) <= 200),
  constraint user_audits_audit_result_size check (octet_length(audit_result::text) <= 1048576)
);
comment on table public.user_audits is
  'Owner: projects service. Site audits a user ran. Tenancy: a user reads, saves, completes and deletes '
  'its own.';

create index user_audits_user_id_created_at_idx on public.user_audits (user_id, created_at desc);

alter table public.user_audits enable row level security;
revoke all on public.user_audits from anon, authenticated, service_role;
grant select, delete on public.user_audits to authenticated;
grant insert (user_id, url, domain, company_name, score_overall, score_seo, score_ux, score_performance,
              score_security, audit_result, status)
  on public.user_audits to authenticated;
grant update (company_name, score_overall, score_seo, score_ux, score_performance, score_security,
              audit_result, status)
  on public.user_audits to authenticated;
grant select, insert, update, delete on public.user_audits to service_role;

create policy "users read their own audits"
  on public.user_audits for select to authenticated
  using (user_id = (select auth.uid()));
create policy "users save their own audits"
  on public.user_audits for insert to authenticated
  with check (user_id = (select auth.uid()));
create policy "users complete their own audits"
  on public.user_audits for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));
create policy "users delete their own audits"
  on public.user_audits for delete to authenticated
  using (user_id = (select auth.uid()));
