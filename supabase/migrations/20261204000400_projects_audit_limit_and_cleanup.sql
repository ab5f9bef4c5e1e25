-- Saved audits say what their result says, at most 50 per user; and the cleanup job's batches.
--
-- user_audits: the columns a list shows (domain, company name, scores) are derived from the row's
-- url and audit_result by a trigger, so a row written straight through the Data API cannot carry
-- scores its result contradicts. A user keeps at most 50 audits: decided per row under a lock per
-- user, so saves racing from one user stop at exactly 50 (refused as the rule
-- 'audit_limit_reached', SQLSTATE PT409).
--
-- Cleanup (`sajtmaskin cleanup`, as the service role): what is due is defined once, per kind, by
-- a view in `private`; cleanup_due() counts it (a dry run) and cleanup_batch() deletes one batch
-- of it, skipping rows another run has locked, so two runs at once share the work without
-- waiting on or failing each other. Sites are deleted as a user deletes one: the delete
-- cascades to everything hanging off the site, and triggers on app_projects see it.

-- user_audits: derived columns ------------------------------------------------------------------

-- The domain of the url (lower case, without a leading "www."), the company its result names, its
-- four scores (numbers in the result's audit_scores, rounded; anything else is no score) and the
-- overall score, the rounded mean of the four when all four are there.
create function private.user_audits_derive_from_result() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  scores jsonb := case
    when jsonb_typeof(new.audit_result -> 'audit_scores') = 'object'
      then new.audit_result -> 'audit_scores'
  end;
begin
  new.domain := nullif(
    regexp_replace(
      lower(substring(new.url from '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#:]+)')),
      '^www\.', ''),
    '');
  new.company_name := case
    when jsonb_typeof(new.audit_result -> 'company') = 'string' then new.audit_result ->> 'company'
  end;
  new.score_seo := case
    when jsonb_typeof(scores -> 'seo') = 'number' then round((scores -> 'seo')::numeric)
  end;
  new.score_ux := case
    when jsonb_typeof(scores -> 'ux') = 'number' then round((scores -> 'ux')::numeric)
  end;
  new.score_performance := case
    when jsonb_typeof(scores -> 'performance') = 'number'
      then round((scores -> 'performance')::numeric)
  end;
  new.score_security := case
    when jsonb_typeof(scores -> 'security') = 'number' then round((scores -> 'security')::numeric)
  end;
  -- numeric's round() takes halves up for these (non-negative) means; null if any score is.
  new.score_overall := round(
    (new.score_seo + new.score_ux + new.score_performance + new.score_security)::numeric / 4);
  return new;
end
$$;
comment on function private.user_audits_derive_from_result() is
  'Owner: projects. Called by: the user_audits_derive_from_result trigger (as the role that writes the row).';
revoke execute on function private.user_audits_derive_from_result() from public;

create trigger user_audits_derive_from_result
  before insert or update on public.user_audits
  for each row execute function private.user_audits_derive_from_result();

-- user_audits: at most 50 per user ---------------------------------------------------------------

-- Runs as the writer: a user counts the audits it can see, its own, so the rule tells it nothing
-- about anyone else's. The lock (per user, held to the end of the transaction) makes racing saves
-- count one after another; each row of a many-row insert sees the rows before it.
create function private.user_audits_within_limit() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_advisory_xact_lock(hashtext('public.user_audits'), hashtext(new.user_id::text));
  if (select count(*) from public.user_audits as saved where saved.user_id = new.user_id) >= 50 then
    raise exception using errcode = 'PT409', message = 'audit_limit_reached';
  end if;
  return new;
end
$$;
comment on function private.user_audits_within_limit() is
  'Owner: projects. Called by: the user_audits_within_limit trigger (as the role that saves the audit).';
revoke execute on function private.user_audits_within_limit() from public;

create trigger user_audits_within_limit
  before insert on public.user_audits
  for each row execute function private.user_audits_within_limit();

-- Cleanup: what is due, per kind -----------------------------------------------------------------

-- Guest sites idle 7 days: the site and its saved data both unchanged for 7 days. (A guest site
-- never saved is an unsaved site, below, after a day already.)
create view private.cleanup_idle_guest_sites with (security_invoker = true) as
  select site.id
  from public.app_projects as site
  join public.project_data as saved on saved.project_id = site.id
  where site.session_id is not null
    and site.updated_at < now() - interval '7 days'
    and saved.updated_at < now() - interval '7 days';
comment on view private.cleanup_idle_guest_sites is
  'Owner: projects. Guest sites whose site row and saved data are both older than 7 days; read by '
  'the cleanup functions (as service_role).';

-- Sites never saved (no project_data row) a day after they were created, whoever owns them.
create view private.cleanup_unsaved_sites with (security_invoker = true) as
  select site.id
  from public.app_projects as site
  where site.created_at < now() - interval '24 hours'
    and not exists (select from public.project_data as saved where saved.project_id = site.id);
comment on view private.cleanup_unsaved_sites is
  'Owner: projects. Sites with no saved data, created more than 24 hours ago; read by the cleanup '
  'functions (as service_role).';

create view private.cleanup_expired_templates with (security_invoker = true) as
  select cached.id
  from public.template_cache as cached
  where cached.expires_at < now();
comment on view private.cleanup_expired_templates is
  'Owner: projects. Template cache entries past expires_at; read by the cleanup functions (as '
  'service_role).';

create view private.cleanup_consumed_handoffs with (security_invoker = true) as
  select handoff.id
  from public.prompt_handoffs as handoff
  where handoff.consumed_at < now() - interval '30 days';
comment on view private.cleanup_consumed_handoffs is
  'Owner: projects. Prompt handoffs consumed more than 30 days ago; read by the cleanup functions '
  '(as service_role).';

revoke all on private.cleanup_idle_guest_sites, private.cleanup_unsaved_sites,
  private.cleanup_expired_templates, private.cleanup_consumed_handoffs
  from public, anon, authenticated, service_role;
grant select on private.cleanup_idle_guest_sites, private.cleanup_unsaved_sites,
  private.cleanup_expired_templates, private.cleanup_consumed_handoffs
  to service_role;

-- prompt_handoffs.consumed_at: found by the cleanup without reading every handoff.
create index prompt_handoffs_consumed_at_idx on public.prompt_handoffs (consumed_at)
  where consumed_at is not null;

-- Cleanup: the functions ---------------------------------------------------------------------------

-- How many rows of each kind are due now (nothing is deleted): one row per kind, in the order
-- `sajtmaskin cleanup` works through them.
create function public.cleanup_due()
returns table (kind text, due bigint)
language sql stable security invoker
set search_path = ''
as $$
  select 'idle_guest_sites', (select count(*) from private.cleanup_idle_guest_sites)
  union all
  select 'unsaved_sites', (select count(*) from private.cleanup_unsaved_sites)
  union all
  select 'expired_templates', (select count(*) from private.cleanup_expired_templates)
  union all
  select 'consumed_handoffs', (select count(*) from private.cleanup_consumed_handoffs)
$$;
comment on function public.cleanup_due() is
  'Owner: projects. Called by: sajtmaskin cleanup --dry-run (as service_role).';
revoke execute on function public.cleanup_due() from public, anon, authenticated;
grant execute on function public.cleanup_due() to service_role;

-- Delete at most p_batch_size due rows of one kind ('idle_guest_sites', 'unsaved_sites',
-- 'expired_templates', 'consumed_handoffs'), skipping rows another transaction holds (another
-- run's batch, a user's change in flight); returns how many it deleted. Fewer than p_batch_size:
-- nothing more of that kind is due for this run. An unknown kind or a batch size below 1 raises
-- 22023.
create function public.cleanup_batch(p_kind text, p_batch_size integer)
returns integer
language plpgsql security invoker
set search_path = ''
as $$
declare
  removed integer;
begin
  if p_batch_size is null or p_batch_size < 1 then
    raise exception using errcode = '22023', message = 'p_batch_size must be at least 1';
  end if;
  case p_kind
    when 'idle_guest_sites' then
      with batch as (
        select site.id from public.app_projects as site
        where site.id in (select due.id from private.cleanup_idle_guest_sites as due)
        limit p_batch_size
        for update of site skip locked
      )
      delete from public.app_projects as site using batch where site.id = batch.id;
    when 'unsaved_sites' then
      with batch as (
        select site.id from public.app_projects as site
        where site.id in (select due.id from private.cleanup_unsaved_sites as due)
        limit p_batch_size
        for update of site skip locked
      )
      delete from public.app_projects as site using batch where site.id = batch.id;
    when 'expired_templates' then
      with batch as (
        select cached.id from public.template_cache as cached
        where cached.id in (select due.id from private.cleanup_expired_templates as due)
        limit p_batch_size
        for update of cached skip locked
      )
      delete from public.template_cache as cached using batch where cached.id = batch.id;
    when 'consumed_handoffs' then
      with batch as (
        select handoff.id from public.prompt_handoffs as handoff
        where handoff.id in (select due.id from private.cleanup_consumed_handoffs as due)
        limit p_batch_size
        for update of handoff skip locked
      )
      delete from public.prompt_handoffs as handoff using batch where handoff.id = batch.id;
    else
      raise exception using errcode = '22023', message = format('unknown cleanup kind %L', p_kind);
  end case;
  get diagnostics removed = row_count;
  return removed;
end
$$;
comment on function public.cleanup_batch(text, integer) is
  'Owner: projects. Called by: sajtmaskin cleanup (as service_role).';
revoke execute on function public.cleanup_batch(text, integer) from public, anon, authenticated;
grant execute on function public.cleanup_batch(text, integer) to service_role;
