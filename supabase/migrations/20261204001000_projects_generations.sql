-- Generations: one paid call of the code engine (generate, refine, template) for a site, owned by
-- the projects service.
--
-- A generation is charged and recorded as pending in one transaction (start_generation, as the
-- caller, through billing's charge_credits: a user's diamonds, a guest's quota) before the engine
-- is called; it ends exactly once, either done (finish_generation writes the v0 mirror rows, the
-- site's saved data and the result together) or failed (fail_generation refunds the charge
-- through billing's refund_charge). A process that dies in between leaves the row pending past
-- its deadline, and sweep_generations fails and refunds it. Every ending is a conditional update
-- of a pending row, so a charge is refunded at most once whoever ends it and however many run.
--
-- Clients read the generations of their own sites and write nothing: a client that could mark a
-- generation done or failed could keep a result without paying or be refunded for one it got.
-- The idempotency key is unique per owner (the user, or the guest session), so a request sent
-- again, or twenty at once, starts one generation and charges once.
--
-- A generation outlives its site: deleting a site while its generation is pending leaves the row
-- (app_project_id set null) so that its charge is still refunded, by finish_generation (outcome
-- 'site_deleted') or the sweeper. A generation without a site is read by nobody but the service.

-- generations ----------------------------------------------------------------------------------

create table public.generations (
  id uuid primary key default gen_random_uuid(),
  user_id uuid default private.caller_user_id() references public.users (id) on delete cascade,
  session_id text default private.caller_guest_session(),
  -- Null once the site is deleted: the row stays for its charge's refund and the ledger.
  app_project_id uuid references public.app_projects (id) on delete set null,
  kind text not null,
  model_tier text not null default 'standard',
  idempotency_key text not null,
  -- billing's charge (a transactions row for a user, a guest_charges row for a guest).
  charge_id uuid,
  cost integer,
  balance_after integer,
  status text not null default 'pending',
  error_code text,
  error_message text,
  -- What the engine returned: v0's ids, the mirror rows they were recorded as, the preview and
  -- the file list ([{name, sizeBytes}]).
  v0_chat_id text,
  v0_version_id text,
  chat_id uuid references public.chats (id) on delete set null,
  version_id uuid references public.versions (id) on delete set null,
  demo_url text,
  files jsonb,
  created_at timestamptz not null default now(),
  deadline_at timestamptz not null,
  finished_at timestamptz,
  constraint generations_one_owner check (num_nonnulls(user_id, session_id) = 1),
  constraint generations_owner_idempotency_key_key unique nulls not distinct (user_id, session_id, idempotency_key),
  constraint generations_kind_known check (kind in ('generate', 'refine', 'template')),
  constraint generations_status_known check (status in ('pending', 'done', 'failed')),
  constraint generations_finished_when_not_pending check ((status = 'pending') = (finished_at is null)),
  constraint generations_session_id_length check (length(session_id) <= 100),
  constraint generations_model_tier_length check (length(model_tier) <= 32),
  constraint generations_idempotency_key_length check (length(idempotency_key) between 1 and 100),
  constraint generations_error_code_length check (length(error_code) <= 100),
  constraint generations_error_message_length check (length(error_message) <= 2000),
  constraint generations_v0_chat_id_length check (length(v0_chat_id) <= 100),
  constraint generations_v0_version_id_length check (length(v0_version_id) <= 100),
  constraint generations_demo_url_length check (length(demo_url) <= 2048),
  constraint generations_files_size check (octet_length(files::text) <= 1048576)
);
comment on table public.generations is
  'Owner: projects service. One paid code-engine call for a site (generate, refine, template): its '
  'charge, state (pending, done, failed) and result. Tenancy: owned by the user or guest session that '
  'started it (idempotency keys unique per owner); the owner of the site reads it (a generation whose '
  'site was deleted: only the service); only the projects service''s functions write it.';

create index generations_app_project_id_created_at_idx on public.generations (app_project_id, created_at desc);
create index generations_session_id_idx on public.generations (session_id);
create index generations_chat_id_idx on public.generations (chat_id);
create index generations_version_id_idx on public.generations (version_id);
create index generations_pending_deadline_idx on public.generations (deadline_at) where status = 'pending';

alter table public.generations enable row level security;
revoke all on public.generations from anon, authenticated, service_role;
grant select on public.generations to anon, authenticated, service_role;

-- By the site, not the starter: a guest's site claimed by a user brings its generations along. A
-- generation whose site was deleted (app_project_id null) matches no site, so no client reads it.
create policy "owners read the generations of their sites"
  on public.generations for select to anon, authenticated
  using (app_project_id in (select private.owned_app_project_ids()));

-- start_generation -----------------------------------------------------------------------------

-- Start a generation of the caller's site and charge for it, in one transaction. The action is the
-- kind's (generate and template: 'generate'; refine: 'refine'), priced on p_model_tier; the charge's
-- idempotency key names the generation. Outcomes:
--   'started': a new pending generation (generation_id), charged (cost, balance after; a guest: 0,
--     null), deadline_at = now + p_deadline_s (clamped to 1 s .. 1 h);
--   'existing': the caller already has a generation under p_idempotency_key (any site, any state):
--     it is returned and nothing is charged; a racing start with the same key waits for the first
--     to commit and then finds it;
--   'not_found': the site is not the caller's; 'nothing_to_refine': a refine of a site with no
--     finished generation to continue (nothing charged);
--   'insufficient' (required, balance), 'quota_exceeded', 'requires_account', 'unknown_action':
--     billing's refusal; no generation is left behind.
-- v0_chat_id is the chat a refine continues (the site's newest done generation's), else null.
create function private.start_generation(
  p_app_project_id uuid,
  p_kind text,
  p_model_tier text,
  p_idempotency_key text,
  p_deadline_s integer
)
returns table (
  outcome text,
  generation_id uuid,
  status text,
  cost integer,
  balance integer,
  required integer,
  v0_chat_id text,
  deadline_at timestamptz
)
language plpgsql security definer
set search_path = ''
as $$
declare
  caller_user uuid := private.caller_user_id();
  caller_session text := private.caller_guest_session();
  found_generation public.generations;
  refine_chat text;
  new_id uuid;
  charged record;
begin
  if p_kind is null or p_kind not in ('generate', 'refine', 'template') then
    raise exception using errcode = '22023', message = 'p_kind must be generate, refine or template';
  end if;
  if caller_user is null and caller_session is null then
    return query select 'requires_account'::text, null::uuid, null::text, null::integer, null::integer,
      null::integer, null::text, null::timestamptz;
    return;
  end if;

  select * into found_generation from public.generations as g
    where g.user_id is not distinct from caller_user and g.session_id is not distinct from caller_session
      and g.idempotency_key = p_idempotency_key;
  if found then
    return query select 'existing'::text, found_generation.id, found_generation.status,
      found_generation.cost, found_generation.balance_after, null::integer, found_generation.v0_chat_id,
      found_generation.deadline_at;
    return;
  end if;

  if p_app_project_id is null or p_app_project_id not in (select private.owned_app_project_ids()) then
    return query select 'not_found'::text, null::uuid, null::text, null::integer, null::integer,
      null::integer, null::text, null::timestamptz;
    return;
  end if;

  -- Only a chat this site's own generations made: any v0 chat is reachable with our key, so a chat
  -- id a client saved on its site must never be continued.
  if p_kind = 'refine' then
    select g.v0_chat_id into refine_chat from public.generations as g
      where g.app_project_id = p_app_project_id and g.status = 'done' and g.v0_chat_id is not null
      order by g.finished_at desc
      limit 1;
    if refine_chat is null then
      return query select 'nothing_to_refine'::text, null::uuid, null::text, null::integer,
        null::integer, null::integer, null::text, null::timestamptz;
      return;
    end if;
  end if;

  -- The user's row first, as charge_credits will lock it: the insert below takes a key-share lock
  -- on it (the foreign key), and two starts each holding that and then waiting for charge_credits'
  -- update lock would deadlock. One user's starts with different keys now queue instead.
  if caller_user is not null then
    perform from public.users as u where u.id = caller_user for update;
  end if;

  insert into public.generations as g
    (user_id, session_id, app_project_id, kind, model_tier, idempotency_key, v0_chat_id, deadline_at)
    values (caller_user, caller_session, p_app_project_id, p_kind, coalesce(p_model_tier, 'standard'),
            p_idempotency_key, refine_chat,
            now() + make_interval(secs => least(greatest(coalesce(p_deadline_s, 600), 1), 3600)))
    on conflict on constraint generations_owner_idempotency_key_key do nothing
    returning g.id into new_id;
  if new_id is null then
    -- A start with the same key committed while this one waited on it.
    select * into found_generation from public.generations as g
      where g.user_id is not distinct from caller_user and g.session_id is not distinct from caller_session
        and g.idempotency_key = p_idempotency_key;
    return query select 'existing'::text, found_generation.id, found_generation.status,
      found_generation.cost, found_generation.balance_after, null::integer, found_generation.v0_chat_id,
      found_generation.deadline_at;
    return;
  end if;

  select * into charged from private.charge_credits(
    case p_kind when 'refine' then 'refine' else 'generate' end,
    coalesce(p_model_tier, 'standard'),
    'generation:' || new_id::text);
  if charged.outcome is distinct from 'charged' then
    delete from public.generations as g where g.id = new_id;
    return query select charged.outcome, null::uuid, null::text, charged.cost, charged.balance,
      charged.required, null::text, null::timestamptz;
    return;
  end if;

  update public.generations as g
    set charge_id = charged.charge_id, cost = charged.cost, balance_after = charged.balance
    where g.id = new_id
    returning * into found_generation;
  return query select 'started'::text, found_generation.id, found_generation.status,
    found_generation.cost, found_generation.balance_after, null::integer, found_generation.v0_chat_id,
    found_generation.deadline_at;
end
$$;
comment on function private.start_generation(uuid, text, text, text, integer) is
  'Owner: projects. Called by: public.start_generation (as the user or guest charged).';
revoke execute on function private.start_generation(uuid, text, text, text, integer) from public;
grant execute on function private.start_generation(uuid, text, text, text, integer) to anon, authenticated;

create function public.start_generation(
  p_app_project_id uuid,
  p_kind text,
  p_model_tier text,
  p_idempotency_key text,
  p_deadline_s integer default 600
)
returns table (
  outcome text,
  generation_id uuid,
  status text,
  cost integer,
  balance integer,
  required integer,
  v0_chat_id text,
  deadline_at timestamptz
)
language sql security invoker
set search_path = ''
as $$
  select * from private.start_generation(p_app_project_id, p_kind, p_model_tier, p_idempotency_key,
                                         p_deadline_s)
$$;
comment on function public.start_generation(uuid, text, text, text, integer) is
  'Owner: projects. Called by: projects'' generate, refine and template generate (as the user or '
  'guest charged).';
revoke execute on function public.start_generation(uuid, text, text, text, integer)
  from public, service_role;
grant execute on function public.start_generation(uuid, text, text, text, integer) to anon, authenticated;

-- finish_generation ----------------------------------------------------------------------------

-- End a pending generation with the engine's result, in one transaction: the v0 mirror rows
-- (projects, chats, versions; owned by the site's owner, upserted on their keys), the site's
-- saved data (chat id, demo URL, code, files; project_files replaced, as save_project_data does)
-- and the generation itself (done, with its mirror ids and the file list). p_files is v0's
-- [{name, content, locked?}]. Outcomes: 'done' (chat_id, version_id: the mirror rows' ids),
-- 'site_deleted' (its site was deleted while the engine worked: the generation is failed with
-- error 'site_deleted' and its charge refunded, as fail_generation does; nothing else written),
-- 'not_pending' (status: it had already ended, e.g. swept; nothing written), 'unknown_generation'.
-- A value a constraint refuses raises and changes nothing (the caller then fails the generation).
create function private.finish_generation(
  p_generation_id uuid,
  p_v0_project_id text,
  p_v0_chat_id text,
  p_web_url text,
  p_v0_version_id text,
  p_demo_url text,
  p_files jsonb,
  p_code text
)
returns table (outcome text, status text, chat_id uuid, version_id uuid)
language plpgsql security definer
set search_path = ''
as $$
declare
  generation public.generations;
  site public.app_projects;
  mirror_project uuid;
  mirror_chat uuid;
  mirror_version uuid;
  given_files jsonb := coalesce(nullif(p_files, 'null'::jsonb), '[]'::jsonb);
begin
  -- The site's row first, then the generation's: the order a deletion of the site takes (its row,
  -- then the generations it sets null), so the two never deadlock. Once the site is locked it
  -- cannot be deleted until this commits; a site deleted before is not found here.
  select * into site from public.app_projects as a
    where a.id = (select g.app_project_id from public.generations as g where g.id = p_generation_id)
    for no key update;
  select * into generation from public.generations as g where g.id = p_generation_id for update;
  if not found then
    return query select 'unknown_generation'::text, null::text, null::uuid, null::uuid;
    return;
  end if;
  if generation.status <> 'pending' then
    return query select 'not_pending'::text, generation.status, null::uuid, null::uuid;
    return;
  end if;
  if site.id is null or generation.app_project_id is distinct from site.id then
    perform private.fail_generation(p_generation_id, 'site_deleted',
      'The site was deleted before its generation finished.');
    return query select 'site_deleted'::text, 'failed'::text, null::uuid, null::uuid;
    return;
  end if;
  update public.generations as g set status = 'done', finished_at = now() where g.id = p_generation_id;

  insert into public.projects as mirror (user_id, session_id, v0_project_id, name)
    values (site.user_id, site.session_id, coalesce(p_v0_project_id, p_v0_chat_id), site.name)
    on conflict on constraint projects_owner_v0_project_key do update set updated_at = now()
    returning mirror.id into mirror_project;
  insert into public.chats as chat (project_id, v0_chat_id, v0_project_id, web_url)
    values (mirror_project, p_v0_chat_id, p_v0_project_id, p_web_url)
    on conflict on constraint chats_project_v0_chat_key do update
      set web_url = coalesce(excluded.web_url, chat.web_url)
    returning chat.id into mirror_chat;
  insert into public.versions as version (chat_id, v0_version_id, demo_url)
    values (mirror_chat, p_v0_version_id, p_demo_url)
    on conflict on constraint versions_chat_v0_version_key do update
      set demo_url = coalesce(excluded.demo_url, version.demo_url)
    returning version.id into mirror_version;

  perform public.save_project_data(generation.app_project_id, jsonb_build_object(
    'chat_id', p_v0_chat_id, 'demo_url', p_demo_url, 'current_code', p_code, 'files', given_files));

  update public.generations as g
    set v0_chat_id = p_v0_chat_id, v0_version_id = p_v0_version_id, chat_id = mirror_chat,
        version_id = mirror_version, demo_url = p_demo_url,
        files = (select coalesce(jsonb_agg(jsonb_build_object(
                   'name', file ->> 'name',
                   'sizeBytes', coalesce(octet_length(file ->> 'content'), 0)) order by ordinality), '[]')
                 from jsonb_array_elements(given_files) with ordinality as listed (file, ordinality))
    where g.id = p_generation_id;
  return query select 'done'::text, 'done'::text, mirror_chat, mirror_version;
end
$$;
comment on function private.finish_generation(uuid, text, text, text, text, text, jsonb, text) is
  'Owner: projects. Called by: public.finish_generation (as service_role).';
revoke execute on function private.finish_generation(uuid, text, text, text, text, text, jsonb, text)
  from public;
grant execute on function private.finish_generation(uuid, text, text, text, text, text, jsonb, text)
  to service_role;

create function public.finish_generation(
  p_generation_id uuid,
  p_v0_project_id text,
  p_v0_chat_id text,
  p_web_url text,
  p_v0_version_id text,
  p_demo_url text,
  p_files jsonb,
  p_code text
)
returns table (outcome text, status text, chat_id uuid, version_id uuid)
language sql security invoker
set search_path = ''
as $$
  select * from private.finish_generation(p_generation_id, p_v0_project_id, p_v0_chat_id, p_web_url,
                                          p_v0_version_id, p_demo_url, p_files, p_code)
$$;
comment on function public.finish_generation(uuid, text, text, text, text, text, jsonb, text) is
  'Owner: projects. Called by: projects'' generation flow when the engine answered (as service_role).';
revoke execute on function public.finish_generation(uuid, text, text, text, text, text, jsonb, text)
  from public, anon, authenticated;
grant execute on function public.finish_generation(uuid, text, text, text, text, text, jsonb, text)
  to service_role;

-- fail_generation ------------------------------------------------------------------------------

-- End a pending generation as failed with the engine's problem (p_error_code, p_error_message) and
-- refund its charge, once. Outcomes: 'failed' (refund: billing's refund outcome), 'not_pending'
-- (status: it had already ended; nothing changed), 'unknown_generation'.
create function private.fail_generation(p_generation_id uuid, p_error_code text, p_error_message text)
returns table (outcome text, status text, refund text)
language plpgsql security definer
set search_path = ''
as $$
declare
  generation public.generations;
  refunded text;
begin
  update public.generations as g
    set status = 'failed', error_code = left(p_error_code, 100), error_message = left(p_error_message, 2000),
        finished_at = now()
    where g.id = p_generation_id and g.status = 'pending'
    returning * into generation;
  if not found then
    select * into generation from public.generations as g where g.id = p_generation_id;
    return query select case when found then 'not_pending' else 'unknown_generation' end,
      generation.status, null::text;
    return;
  end if;
  if generation.charge_id is not null then
    select refund_outcome.outcome into refunded from private.refund_charge(generation.charge_id) as refund_outcome;
  end if;
  return query select 'failed'::text, 'failed'::text, refunded;
end
$$;
comment on function private.fail_generation(uuid, text, text) is
  'Owner: projects. Called by: public.fail_generation, private.finish_generation and '
  'private.sweep_generations (as service_role).';
revoke execute on function private.fail_generation(uuid, text, text) from public;
grant execute on function private.fail_generation(uuid, text, text) to service_role;

create function public.fail_generation(p_generation_id uuid, p_error_code text, p_error_message text)
returns table (outcome text, status text, refund text)
language sql security invoker
set search_path = ''
as $$ select * from private.fail_generation(p_generation_id, p_error_code, p_error_message) $$;
comment on function public.fail_generation(uuid, text, text) is
  'Owner: projects. Called by: projects'' generation flow when the engine failed (as service_role).';
revoke execute on function public.fail_generation(uuid, text, text) from public, anon, authenticated;
grant execute on function public.fail_generation(uuid, text, text) to service_role;

-- sweep_generations ----------------------------------------------------------------------------

-- Fail and refund up to p_batch generations still pending past their deadline (their process
-- died, or never finished): each as fail_generation would, with 'engine_unavailable'. Rows another
-- sweep (or a finishing flow) holds are skipped, so sweeps at once share the work and each charge
-- is refunded once. Returns the generations it failed, the user each charged (null for a guest's:
-- the service drops that user's cached balance) and billing's refund outcome for each.
create function private.sweep_generations(p_batch integer)
returns table (generation_id uuid, user_id uuid, refund text)
language plpgsql security definer
set search_path = ''
as $$
declare
  due record;
begin
  for due in
    with expired as (
      select g.id from public.generations as g
      where g.status = 'pending' and g.deadline_at < now()
      order by g.deadline_at
      limit least(greatest(coalesce(p_batch, 100), 0), 1000)
      for update skip locked
    )
    update public.generations as g
      set status = 'failed', error_code = 'engine_unavailable',
          error_message = 'The generation did not finish before its deadline.', finished_at = now()
      from expired
      where g.id = expired.id and g.status = 'pending'
      returning g.id, g.user_id, g.charge_id
  loop
    generation_id := due.id;
    user_id := due.user_id;
    refund := null;
    if due.charge_id is not null then
      select refund_outcome.outcome into refund from private.refund_charge(due.charge_id) as refund_outcome;
    end if;
    return next;
  end loop;
end
$$;
comment on function private.sweep_generations(integer) is
  'Owner: projects. Called by: public.sweep_generations (as service_role).';
revoke execute on function private.sweep_generations(integer) from public;
grant execute on function private.sweep_generations(integer) to service_role;

create function public.sweep_generations(p_batch integer default 100)
returns table (generation_id uuid, user_id uuid, refund text)
language sql security invoker
set search_path = ''
as $$ select * from private.sweep_generations(p_batch) $$;
comment on function public.sweep_generations(integer) is
  'Owner: projects. Called by: the projects service''s generation sweeper (as service_role).';
revoke execute on function public.sweep_generations(integer) from public, anon, authenticated;
grant execute on function public.sweep_generations(integer) to service_role;

-- Versions of a site ---------------------------------------------------------------------------

-- The versions the site's generations made (row-level security decides whose), pinned first
-- (newest pin first), then newest; p_limit at most.
create function public.app_project_versions(p_app_project_id uuid, p_limit integer default 100)
returns table (
  id uuid,
  v0_version_id text,
  v0_chat_id text,
  demo_url text,
  pinned boolean,
  pinned_at timestamptz,
  created_at timestamptz
)
language sql stable security invoker
set search_path = ''
as $$
  select version.id, version.v0_version_id, chat.v0_chat_id, version.demo_url, version.pinned,
         version.pinned_at, version.created_at
  from public.versions as version
  join public.chats as chat on chat.id = version.chat_id
  where version.id in (
    select g.version_id from public.generations as g
    where g.app_project_id = p_app_project_id and g.version_id is not null
  )
  order by version.pinned desc, version.pinned_at desc nulls last, version.created_at desc, version.id desc
  limit least(greatest(coalesce(p_limit, 100), 0), 1000)
$$;
comment on function public.app_project_versions(uuid, integer) is
  'Owner: projects. Called by: projects'' version list (as the user or guest).';
revoke execute on function public.app_project_versions(uuid, integer) from public;
grant execute on function public.app_project_versions(uuid, integer) to anon, authenticated, service_role;

-- Pin (p_pinned true: pinned_at = now) or unpin one of the site's versions as the caller; the
-- version after it, no row when it is not one of the caller's site's versions.
create function public.pin_app_project_version(p_app_project_id uuid, p_version_id uuid, p_pinned boolean)
returns table (
  id uuid,
  v0_version_id text,
  v0_chat_id text,
  demo_url text,
  pinned boolean,
  pinned_at timestamptz,
  created_at timestamptz
)
language sql volatile security invoker
set search_path = ''
as $$
  with changed as (
    update public.versions as version
      set pinned = coalesce(p_pinned, false),
          pinned_at = case when coalesce(p_pinned, false) then now() end
      where version.id = p_version_id
        and version.id in (
          select g.version_id from public.generations as g
          where g.app_project_id = p_app_project_id and g.version_id is not null
        )
      returning version.*
  )
  select changed.id, changed.v0_version_id, chat.v0_chat_id, changed.demo_url, changed.pinned,
         changed.pinned_at, changed.created_at
  from changed
  join public.chats as chat on chat.id = changed.chat_id
$$;
comment on function public.pin_app_project_version(uuid, uuid, boolean) is
  'Owner: projects. Called by: projects'' version pin (as the user or guest).';
revoke execute on function public.pin_app_project_version(uuid, uuid, boolean) from public;
grant execute on function public.pin_app_project_version(uuid, uuid, boolean)
  to anon, authenticated, service_role;
