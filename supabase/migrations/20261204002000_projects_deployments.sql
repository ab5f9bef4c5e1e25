-- Deployments of a site's versions to Vercel, paid with credits, and the domains bought for a
-- site attached to its Vercel project. Owned by the projects service.
--
-- A deployment is charged (billing's charge_credits, as the user: 'deploy') and recorded as
-- pending in one transaction (start_deployment) before Vercel is called; Vercel's ids and URL
-- are recorded when it answers (record_vercel_deployment), and its state follows Vercel's, from
-- a refresh or the webhook (change_deployment_status). A deployment that ends in error or is
-- cancelled — or that Vercel never accepted — refunds its charge, once: the status changes by a
-- conditional update under the row's lock, and final states (ready, error, cancelled) never
-- change again, so two webhooks and a refresh at once refund one time. A process that dies
-- between the charge and Vercel's answer leaves the row pending without a Vercel id;
-- sweep_deployments fails and refunds it.
--
-- The deployments table (…_projects_code_engine.sql) let clients insert and update their rows,
-- status included. Now clients only read them: a client that could write a status could mark a
-- deployment ready that never built, or error to be refunded for one that did.
--
-- Domains: when billing completes a domain order for a site, the domain is added to the site's
-- Vercel project. site_domains (owned by projects) records each completed order's attachment;
-- claim_domain_attachments finds completed orders not yet attached (reading billing's
-- domain_orders, so neither service imports the other) once the site has a Vercel project, and
-- record_domain_attachment records Vercel's answer and shows the domain on the site's
-- production deployments.

-- deployments: what a paid deployment needs ------------------------------------------------------

alter table public.deployments
  -- The site deployed; null only for rows recorded before deployments were paid.
  add column app_project_id uuid references public.app_projects (id) on delete cascade,
  add column target text not null default 'preview',
  add column idempotency_key text,
  -- billing's charge (a transactions row), refunded when the deployment fails.
  add column charge_id uuid,
  add column cost integer,
  add column balance_after integer,
  -- Vercel's own readyState, as last seen (QUEUED, BUILDING, READY, ERROR, CANCELED, BLOCKED, …).
  add column vercel_state text,
  -- The custom domain serving it (a production deployment of a site whose domain is attached).
  add column domain text,
  add column error_code text,
  add column error_message text,
  add column finished_at timestamptz,
  add constraint deployments_target_known check (target in ('preview', 'production')),
  add constraint deployments_site_idempotency_key_key unique (app_project_id, idempotency_key),
  add constraint deployments_vercel_deployment_id_key unique (vercel_deployment_id),
  add constraint deployments_idempotency_key_length check (length(idempotency_key) between 1 and 100),
  add constraint deployments_vercel_state_length check (length(vercel_state) <= 32),
  add constraint deployments_domain_length check (length(domain) <= 253),
  add constraint deployments_error_code_length check (length(error_code) <= 100),
  add constraint deployments_error_message_length check (length(error_message) <= 2000);

-- The unique constraint indexes Vercel's id now.
drop index public.deployments_vercel_deployment_id_idx;
create index deployments_app_project_id_created_at_idx
  on public.deployments (app_project_id, created_at desc);
create index deployments_unsent_created_at_idx
  on public.deployments (created_at) where status = 'pending' and vercel_deployment_id is null;

comment on table public.deployments is
  'Owner: projects service. A paid deployment of one of a site''s versions to Vercel, tracking '
  'Vercel''s state (pending, building, ready, error, cancelled) and its charge. Tenancy: through the '
  'site and the v0 project; clients read, only the projects service''s functions write.';

revoke all on public.deployments from anon, authenticated;
grant select on public.deployments to anon, authenticated;

drop policy "users deploy versions of their projects" on public.deployments;
drop policy "users update the deployments of their projects" on public.deployments;
drop policy "users delete the deployments of their projects" on public.deployments;
drop policy "guests deploy versions of their projects" on public.deployments;
drop policy "guests update the deployments of their projects" on public.deployments;
drop policy "guests delete the deployments of their projects" on public.deployments;

create policy "owners read the deployments of their sites"
  on public.deployments for select to anon, authenticated
  using (app_project_id in (select private.owned_app_project_ids()));

-- site_domains ---------------------------------------------------------------------------------

create table public.site_domains (
  id uuid primary key default gen_random_uuid(),
  app_project_id uuid not null references public.app_projects (id) on delete cascade,
  -- An order is a financial record that outlives the site; one attachment per order.
  domain_order_id uuid not null references public.domain_orders (id) on delete cascade,
  domain text not null,
  status text not null default 'pending',
  vercel_project_id text,
  verified boolean,
  attempts integer not null default 0,
  last_error text,
  next_attempt_at timestamptz not null default now(),
  attached_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint site_domains_domain_order_id_key unique (domain_order_id),
  constraint site_domains_status_known check (status in ('pending', 'attached')),
  constraint site_domains_attached_when_attached check ((status = 'attached') = (attached_at is not null)),
  constraint site_domains_domain_length check (length(domain) between 1 and 253),
  constraint site_domains_vercel_project_id_length check (length(vercel_project_id) <= 100),
  constraint site_domains_last_error_length check (length(last_error) <= 500)
);
comment on table public.site_domains is
  'Owner: projects service. A domain bought for a site (a completed domain order of billing''s) and '
  'its attachment to the site''s Vercel project: pending until Vercel accepted it, then attached. '
  'Tenancy: through the site; clients read, only the projects service''s functions write.';

create index site_domains_app_project_id_idx on public.site_domains (app_project_id);
create index site_domains_pending_next_attempt_idx
  on public.site_domains (next_attempt_at) where status = 'pending';

create trigger site_domains_set_updated_at
  before update on public.site_domains
  for each row execute function private.set_updated_at();

alter table public.site_domains enable row level security;
revoke all on public.site_domains from anon, authenticated, service_role;
grant select on public.site_domains to anon, authenticated;
grant select, insert, update, delete on public.site_domains to service_role;

create policy "owners read the domains of their sites"
  on public.site_domains for select to anon, authenticated
  using (app_project_id in (select private.owned_app_project_ids()));

-- start_deployment -----------------------------------------------------------------------------

-- Start a deployment of one of the caller's site's versions and charge for it ('deploy'), in one
-- transaction. Only users deploy. The version must be one the site's own generations made. The
-- charge's idempotency key names the deployment. Outcomes:
--   'started': a new pending deployment (deployment_id), charged (cost, balance after), with the
--     v0 ids to fetch the version's files by;
--   'existing': the site already has a deployment under p_idempotency_key (any state): it is
--     returned and nothing is charged; a racing start with the same key waits for the first to
--     commit and then finds it;
--   'not_found': the site is not the caller's; 'version_not_found': the version is not one of
--     the site's (nothing charged);
--   'insufficient' (required, balance), 'requires_account' (a guest, anyone else),
--     'unknown_action': billing's refusal; no deployment is left behind.
create function private.start_deployment(
  p_app_project_id uuid, p_version_id uuid, p_target text, p_idempotency_key text
)
returns table (
  outcome text,
  deployment_id uuid,
  status text,
  cost integer,
  balance integer,
  required integer,
  v0_chat_id text,
  v0_version_id text
)
language plpgsql security definer
set search_path = ''
as $$
declare
  caller_user uuid := private.caller_user_id();
  found_deployment public.deployments;
  chosen record;
  new_id uuid;
  charged record;
begin
  if p_target is null or p_target not in ('preview', 'production') then
    raise exception using errcode = '22023', message = 'p_target must be preview or production';
  end if;
  if caller_user is null then
    return query select 'requires_account'::text, null::uuid, null::text, null::integer,
      null::integer, null::integer, null::text, null::text;
    return;
  end if;
  if p_app_project_id is null or p_app_project_id not in (select private.owned_app_project_ids()) then
    return query select 'not_found'::text, null::uuid, null::text, null::integer, null::integer,
      null::integer, null::text, null::text;
    return;
  end if;

  select * into found_deployment from public.deployments as d
    where d.app_project_id = p_app_project_id and d.idempotency_key = p_idempotency_key;
  if found then
    return query select 'existing'::text, found_deployment.id, found_deployment.status,
      found_deployment.cost, found_deployment.balance_after, null::integer, chat.v0_chat_id,
      version.v0_version_id
      from public.versions as version join public.chats as chat on chat.id = version.chat_id
      where version.id = found_deployment.version_id;
    return;
  end if;

  -- Only a version this site's generations made: a version id of the caller's from another
  -- site, or a mirror row recorded by hand, is not the site's.
  select version.id as version_id, version.v0_version_id, chat.id as chat_id, chat.v0_chat_id,
         chat.project_id
    into chosen
    from public.versions as version
    join public.chats as chat on chat.id = version.chat_id
    where version.id = p_version_id
      and version.id in (
        select g.version_id from public.generations as g
        where g.app_project_id = p_app_project_id and g.status = 'done' and g.version_id is not null
      );
  if not found then
    return query select 'version_not_found'::text, null::uuid, null::text, null::integer,
      null::integer, null::integer, null::text, null::text;
    return;
  end if;

  insert into public.deployments as d
    (project_id, chat_id, version_id, app_project_id, target, idempotency_key)
    values (chosen.project_id, chosen.chat_id, chosen.version_id, p_app_project_id, p_target,
            p_idempotency_key)
    on conflict on constraint deployments_site_idempotency_key_key do nothing
    returning d.id into new_id;
  if new_id is null then
    -- A start with the same key committed while this one waited on it.
    select * into found_deployment from public.deployments as d
      where d.app_project_id = p_app_project_id and d.idempotency_key = p_idempotency_key;
    return query select 'existing'::text, found_deployment.id, found_deployment.status,
      found_deployment.cost, found_deployment.balance_after, null::integer, chat.v0_chat_id,
      version.v0_version_id
      from public.versions as version join public.chats as chat on chat.id = version.chat_id
      where version.id = found_deployment.version_id;
    return;
  end if;

  select * into charged from private.charge_credits('deploy', 'standard', 'deployment:' || new_id::text);
  if charged.outcome is distinct from 'charged' then
    delete from public.deployments as d where d.id = new_id;
    return query select charged.outcome, null::uuid, null::text, charged.cost, charged.balance,
      charged.required, null::text, null::text;
    return;
  end if;

  update public.deployments as d
    set charge_id = charged.charge_id, cost = charged.cost, balance_after = charged.balance
    where d.id = new_id;
  return query select 'started'::text, new_id, 'pending'::text, charged.cost, charged.balance,
    null::integer, chosen.v0_chat_id, chosen.v0_version_id;
end
$$;
comment on function private.start_deployment(uuid, uuid, text, text) is
  'Owner: projects. Called by: public.start_deployment (as the user charged).';
revoke execute on function private.start_deployment(uuid, uuid, text, text) from public;
grant execute on function private.start_deployment(uuid, uuid, text, text) to authenticated;

create function public.start_deployment(
  p_app_project_id uuid, p_version_id uuid, p_target text, p_idempotency_key text
)
returns table (
  outcome text,
  deployment_id uuid,
  status text,
  cost integer,
  balance integer,
  required integer,
  v0_chat_id text,
  v0_version_id text
)
language sql security invoker
set search_path = ''
as $$
  select * from private.start_deployment(p_app_project_id, p_version_id, p_target, p_idempotency_key)
$$;
comment on function public.start_deployment(uuid, uuid, text, text) is
  'Owner: projects. Called by: projects'' deploy (as the user charged).';
-- Not the service role: it has no user to charge. Not anon: guests do not deploy.
revoke execute on function public.start_deployment(uuid, uuid, text, text) from public, anon, service_role;
grant execute on function public.start_deployment(uuid, uuid, text, text) to authenticated;

-- change_deployment_status ---------------------------------------------------------------------

-- Move a deployment to p_status (pending, building, ready, error, cancelled) with Vercel's
-- readyState as seen (p_vercel_state) and, for error and cancelled, why (p_error_code,
-- p_error_message). Final statuses (ready, error, cancelled) never change: Vercel's events may
-- arrive late or twice. Entering error or cancelled refunds the charge, once. Outcomes:
-- 'changed' (refund: billing's refund outcome, when one was made), 'unchanged' (the status was
-- already p_status, or final: only vercel_state may be updated while not final),
-- 'unknown_deployment'. status is the deployment's status after the call; user_id the site's
-- owner (whose balance a refund changed).
create function private.change_deployment_status(
  p_deployment_id uuid, p_status text, p_vercel_state text, p_error_code text, p_error_message text
)
returns table (outcome text, status text, refund text, user_id uuid)
language plpgsql security definer
set search_path = ''
as $$
declare
  deployment public.deployments;
  owner_id uuid;
  refunded text;
begin
  if p_status is null or p_status not in ('pending', 'building', 'ready', 'error', 'cancelled') then
    raise exception using errcode = '22023',
      message = 'p_status must be pending, building, ready, error or cancelled';
  end if;
  select * into deployment from public.deployments as d where d.id = p_deployment_id for update;
  if not found then
    return query select 'unknown_deployment'::text, null::text, null::text, null::uuid;
    return;
  end if;
  select a.user_id into owner_id from public.app_projects as a where a.id = deployment.app_project_id;
  if deployment.status in ('ready', 'error', 'cancelled') or deployment.status = p_status then
    if deployment.status not in ('ready', 'error', 'cancelled') and p_vercel_state is not null then
      update public.deployments as d set vercel_state = left(p_vercel_state, 32) where d.id = deployment.id;
    end if;
    return query select 'unchanged'::text, deployment.status, null::text, owner_id;
    return;
  end if;
  update public.deployments as d
    set status = p_status,
        vercel_state = coalesce(left(p_vercel_state, 32), d.vercel_state),
        error_code = case when p_status in ('error', 'cancelled') then left(p_error_code, 100) end,
        error_message = case when p_status in ('error', 'cancelled') then left(p_error_message, 2000) end,
        finished_at = case when p_status in ('ready', 'error', 'cancelled') then now() end
    where d.id = deployment.id;
  if p_status in ('error', 'cancelled') and deployment.charge_id is not null then
    select refund_outcome.outcome into refunded
      from private.refund_charge(deployment.charge_id) as refund_outcome;
  end if;
  return query select 'changed'::text, p_status, refunded, owner_id;
end
$$;
comment on function private.change_deployment_status(uuid, text, text, text, text) is
  'Owner: projects. Called by: public.change_deployment_status, private.record_vercel_deployment and '
  'private.sweep_deployments (as service_role).';
revoke execute on function private.change_deployment_status(uuid, text, text, text, text) from public;
grant execute on function private.change_deployment_status(uuid, text, text, text, text) to service_role;

create function public.change_deployment_status(
  p_deployment_id uuid, p_status text, p_vercel_state text default null,
  p_error_code text default null, p_error_message text default null
)
returns table (outcome text, status text, refund text, user_id uuid)
language sql security invoker
set search_path = ''
as $$
  select * from private.change_deployment_status(p_deployment_id, p_status, p_vercel_state,
                                                 p_error_code, p_error_message)
$$;
comment on function public.change_deployment_status(uuid, text, text, text, text) is
  'Owner: projects. Called by: projects'' deploy when Vercel refused it, its refresh and the Vercel '
  'webhook (as service_role).';
revoke execute on function public.change_deployment_status(uuid, text, text, text, text)
  from public, anon, authenticated;
grant execute on function public.change_deployment_status(uuid, text, text, text, text) to service_role;

-- record_vercel_deployment ---------------------------------------------------------------------

-- Record what Vercel answered to a deployment's creation: its ids, URL (a host), inspector URL
-- and first state (p_status, p_vercel_state, as change_deployment_status takes them). The
-- site's attached domain is shown on a production deployment in the same Vercel project.
-- Outcomes: 'recorded' (status after; refund when the first state was already an error),
-- 'already_recorded' (Vercel's ids were recorded before: nothing changes), 'unknown_deployment'.
create function private.record_vercel_deployment(
  p_deployment_id uuid,
  p_vercel_deployment_id text,
  p_vercel_project_id text,
  p_url text,
  p_inspector_url text,
  p_status text,
  p_vercel_state text
)
returns table (outcome text, status text, refund text, user_id uuid)
language plpgsql security definer
set search_path = ''
as $$
declare
  deployment public.deployments;
  changed record;
begin
  update public.deployments as d
    set vercel_deployment_id = p_vercel_deployment_id,
        vercel_project_id = p_vercel_project_id,
        url = p_url,
        inspector_url = p_inspector_url,
        domain = case when d.target = 'production' then (
          select sd.domain from public.site_domains as sd
          where sd.app_project_id = d.app_project_id and sd.status = 'attached'
            and sd.vercel_project_id = p_vercel_project_id
          order by sd.attached_at desc
          limit 1
        ) end
    where d.id = p_deployment_id and d.vercel_deployment_id is null
    returning * into deployment;
  if not found then
    select * into deployment from public.deployments as d where d.id = p_deployment_id;
    return query select case when found then 'already_recorded' else 'unknown_deployment' end,
      deployment.status, null::text, null::uuid;
    return;
  end if;
  select * into changed from private.change_deployment_status(
    p_deployment_id, p_status, p_vercel_state, 'vercel_' || lower(p_vercel_state),
    'Vercel reported the deployment ' || lower(p_vercel_state) || '.');
  return query select 'recorded'::text, changed.status, changed.refund, changed.user_id;
end
$$;
comment on function private.record_vercel_deployment(uuid, text, text, text, text, text, text) is
  'Owner: projects. Called by: public.record_vercel_deployment (as service_role).';
revoke execute on function private.record_vercel_deployment(uuid, text, text, text, text, text, text)
  from public;
grant execute on function private.record_vercel_deployment(uuid, text, text, text, text, text, text)
  to service_role;

create function public.record_vercel_deployment(
  p_deployment_id uuid,
  p_vercel_deployment_id text,
  p_vercel_project_id text,
  p_url text,
  p_inspector_url text,
  p_status text,
  p_vercel_state text
)
returns table (outcome text, status text, refund text, user_id uuid)
language sql security invoker
set search_path = ''
as $$
  select * from private.record_vercel_deployment(p_deployment_id, p_vercel_deployment_id,
    p_vercel_project_id, p_url, p_inspector_url, p_status, p_vercel_state)
$$;
comment on function public.record_vercel_deployment(uuid, text, text, text, text, text, text) is
  'Owner: projects. Called by: projects'' deploy when Vercel created the deployment (as service_role).';
revoke execute on function public.record_vercel_deployment(uuid, text, text, text, text, text, text)
  from public, anon, authenticated;
grant execute on function public.record_vercel_deployment(uuid, text, text, text, text, text, text)
  to service_role;

-- sweep_deployments ----------------------------------------------------------------------------

-- Fail and refund up to p_batch deployments still pending without a Vercel id p_after_s seconds
-- after they started (their process died between the charge and Vercel's answer), each as
-- change_deployment_status would, with 'deployment_interrupted'. Rows another sweep holds are
-- skipped, so sweeps at once share the work and each charge is refunded once. Returns the
-- deployments it failed, billing's refund outcome and the owner of each.
create function private.sweep_deployments(p_after_s integer, p_batch integer)
returns table (deployment_id uuid, refund text, user_id uuid)
language plpgsql security definer
set search_path = ''
as $$
declare
  due record;
  changed record;
begin
  for due in
    select d.id from public.deployments as d
    where d.status = 'pending' and d.vercel_deployment_id is null
      and d.created_at < now() - make_interval(secs => greatest(coalesce(p_after_s, 600), 0))
    order by d.created_at
    limit least(greatest(coalesce(p_batch, 100), 0), 1000)
    for update skip locked
  loop
    select * into changed from private.change_deployment_status(
      due.id, 'error', null, 'deployment_interrupted',
      'The deployment was interrupted before Vercel accepted it.');
    if changed.outcome = 'changed' then
      deployment_id := due.id;
      refund := changed.refund;
      user_id := changed.user_id;
      return next;
    end if;
  end loop;
end
$$;
comment on function private.sweep_deployments(integer, integer) is
  'Owner: projects. Called by: public.sweep_deployments (as service_role).';
revoke execute on function private.sweep_deployments(integer, integer) from public;
grant execute on function private.sweep_deployments(integer, integer) to service_role;

create function public.sweep_deployments(p_after_s integer default 600, p_batch integer default 100)
returns table (deployment_id uuid, refund text, user_id uuid)
language sql security invoker
set search_path = ''
as $$ select * from private.sweep_deployments(p_after_s, p_batch) $$;
comment on function public.sweep_deployments(integer, integer) is
  'Owner: projects. Called by: the projects service''s deployment worker (as service_role).';
revoke execute on function public.sweep_deployments(integer, integer) from public, anon, authenticated;
grant execute on function public.sweep_deployments(integer, integer) to service_role;

-- claim_domain_attachments ---------------------------------------------------------------------

-- The domains due to be added to their site's Vercel project, each claimed for p_lease_s
-- seconds (attempts counted) so workers at once never add the same one together. First every
-- completed domain order (billing's domain_orders) of a site that has none yet gets its
-- site_domains row; then up to p_batch pending ones whose next attempt is due and whose site has
-- a Vercel project (its newest deployment that has one) are returned with that project.
create function private.claim_domain_attachments(p_batch integer, p_lease_s integer)
returns table (site_domain_id uuid, app_project_id uuid, domain text, vercel_project_id text, attempts integer)
language plpgsql security definer
set search_path = ''
as $$
begin
  insert into public.site_domains (app_project_id, domain_order_id, domain)
    select o.project_id, o.id, o.domain
    from public.domain_orders as o
    where o.status = 'completed' and o.project_id is not null
      and not exists (select from public.site_domains as sd where sd.domain_order_id = o.id)
    on conflict on constraint site_domains_domain_order_id_key do nothing;

  return query
    with due as (
      select sd.id, project.vercel_project_id
      from public.site_domains as sd
      cross join lateral (
        select d.vercel_project_id from public.deployments as d
        where d.app_project_id = sd.app_project_id and d.vercel_project_id is not null
        order by d.created_at desc
        limit 1
      ) as project
      where sd.status = 'pending' and sd.next_attempt_at <= now()
      order by sd.next_attempt_at
      limit least(greatest(coalesce(p_batch, 20), 0), 1000)
      for update of sd skip locked
    )
    update public.site_domains as sd
      set attempts = sd.attempts + 1,
          next_attempt_at = now() + make_interval(secs => least(greatest(coalesce(p_lease_s, 60), 1), 3600))
      from due
      where sd.id = due.id
      returning sd.id, sd.app_project_id, sd.domain, due.vercel_project_id, sd.attempts;
end
$$;
comment on function private.claim_domain_attachments(integer, integer) is
  'Owner: projects. Called by: public.claim_domain_attachments (as service_role).';
revoke execute on function private.claim_domain_attachments(integer, integer) from public;
grant execute on function private.claim_domain_attachments(integer, integer) to service_role;

create function public.claim_domain_attachments(p_batch integer default 20, p_lease_s integer default 60)
returns table (site_domain_id uuid, app_project_id uuid, domain text, vercel_project_id text, attempts integer)
language sql security invoker
set search_path = ''
as $$ select * from private.claim_domain_attachments(p_batch, p_lease_s) $$;
comment on function public.claim_domain_attachments(integer, integer) is
  'Owner: projects. Called by: the projects service''s domain worker (as service_role).';
revoke execute on function public.claim_domain_attachments(integer, integer) from public, anon, authenticated;
grant execute on function public.claim_domain_attachments(integer, integer) to service_role;

-- record_domain_attachment ---------------------------------------------------------------------

-- What Vercel answered to adding a claimed domain to p_vercel_project_id. Without p_error it is
-- attached (verified as Vercel says) and shown on the site's production deployments in that
-- project: outcome 'attached' with how many deployments now show it. With p_error it stays
-- pending and is tried again after a backoff that grows with its attempts (30 s × attempts²,
-- at most an hour): 'retrying'. 'already_attached' when it was attached before (nothing
-- changes), 'unknown_domain' for no such row.
create function private.record_domain_attachment(
  p_site_domain_id uuid, p_vercel_project_id text, p_verified boolean, p_error text
)
returns table (outcome text, deployments_shown integer)
language plpgsql security definer
set search_path = ''
as $$
declare
  attachment public.site_domains;
  shown integer;
begin
  select * into attachment from public.site_domains as sd where sd.id = p_site_domain_id for update;
  if not found then
    return query select 'unknown_domain'::text, 0;
    return;
  end if;
  if attachment.status = 'attached' then
    return query select 'already_attached'::text, 0;
    return;
  end if;
  if p_error is not null then
    update public.site_domains as sd
      set last_error = left(p_error, 500),
          next_attempt_at = now() + make_interval(secs => least(30 * sd.attempts * sd.attempts, 3600))
      where sd.id = attachment.id;
    return query select 'retrying'::text, 0;
    return;
  end if;
  update public.site_domains as sd
    set status = 'attached', attached_at = now(), vercel_project_id = p_vercel_project_id,
        verified = p_verified, last_error = null
    where sd.id = attachment.id;
  update public.deployments as d
    set domain = attachment.domain
    where d.app_project_id = attachment.app_project_id and d.vercel_project_id = p_vercel_project_id
      and d.target = 'production';
  get diagnostics shown = row_count;
  return query select 'attached'::text, shown;
end
$$;
comment on function private.record_domain_attachment(uuid, text, boolean, text) is
  'Owner: projects. Called by: public.record_domain_attachment (as service_role).';
revoke execute on function private.record_domain_attachment(uuid, text, boolean, text) from public;
grant execute on function private.record_domain_attachment(uuid, text, boolean, text) to service_role;

create function public.record_domain_attachment(
  p_site_domain_id uuid, p_vercel_project_id text, p_verified boolean, p_error text default null
)
returns table (outcome text, deployments_shown integer)
language sql security invoker
set search_path = ''
as $$ select * from private.record_domain_attachment(p_site_domain_id, p_vercel_project_id, p_verified, p_error) $$;
comment on function public.record_domain_attachment(uuid, text, boolean, text) is
  'Owner: projects. Called by: the projects service''s domain worker (as service_role).';
revoke execute on function public.record_domain_attachment(uuid, text, boolean, text)
  from public, anon, authenticated;
grant execute on function public.record_domain_attachment(uuid, text, boolean, text) to service_role;
