-- Sites: how many an owner may have, how they are listed a page at a time, and how a save is
-- written. Owned by the projects service.
--
-- Limits (guest 3, free user 10, pro and admin 100) are decided here, not in Python, so that a
-- direct insert through the Data API is refused too and parallel creates cannot overshoot: a
-- BEFORE INSERT trigger on app_projects, bound to the client roles, serialises the inserts of one
-- owner on an advisory lock, counts and refuses with PT409 `project_limit_reached`. The service
-- role and the database owner (seeds, tests, benchmarks, the guest claim) are not limited.
--
-- A save (project_data plus the file list in project_files) is one function call, so it is one
-- transaction: a file row that breaks a constraint leaves the previous save whole.

-- The site limit -------------------------------------------------------------------------------

-- How many sites an owner may have: a guest 3, a user by tier (free 10, pro and admin 100).
create function private.app_project_limit(p_user_id uuid)
returns integer
language sql stable security definer
set search_path = ''
as $$
  select case
    when p_user_id is null then 3
    else coalesce(
      (select case users.tier when 'free' then 10 else 100 end
       from public.users where users.id = p_user_id),
      10)
  end
$$;
comment on function private.app_project_limit(uuid) is
  'Owner: projects. Called by: private.app_projects_within_limit (as its owner).';
revoke execute on function private.app_project_limit(uuid) from public;

-- Refuse a client's new site beyond its owner's limit. Only a row the caller owns is counted: any
-- other row is refused by row-level security right after, and counting it here would tell the
-- caller how many sites someone else has.
create function private.app_projects_within_limit()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  owner_key text;
  owned integer;
begin
  if new.user_id is not null and new.user_id = (select private.caller_user_id()) then
    owner_key := 'user:' || new.user_id::text;
  elsif new.session_id is not null and new.session_id = (select private.caller_guest_session()) then
    owner_key := 'guest:' || new.session_id;
  else
    return new;
  end if;
  -- One owner's creates wait for each other; the count below then sees every committed site.
  perform pg_advisory_xact_lock(hashtextextended('public.app_projects:' || owner_key, 0));
  if new.user_id is not null then
    select count(*) into owned from public.app_projects where user_id = new.user_id;
  else
    select count(*) into owned from public.app_projects where session_id = new.session_id;
  end if;
  if owned >= private.app_project_limit(new.user_id) then
    raise exception using errcode = 'PT409', message = 'project_limit_reached';
  end if;
  return new;
end
$$;
comment on function private.app_projects_within_limit() is
  'Owner: projects. Called by: the app_projects_within_limit trigger (as its owner, for anon and '
  'authenticated inserts).';
revoke execute on function private.app_projects_within_limit() from public;

create trigger app_projects_within_limit
  before insert on public.app_projects
  for each row
  when (current_user in ('anon', 'authenticated'))
  execute function private.app_projects_within_limit();

-- Listing sites --------------------------------------------------------------------------------

-- The caller's sites (row-level security decides whose), newest first, each with the demo URL of
-- its save; `p_limit` at most, after the keyset (p_before_created_at, p_before_id) when given.
create function public.app_projects_page(
  p_limit integer,
  p_before_created_at timestamptz default null,
  p_before_id uuid default null
)
returns table (
  id uuid,
  name text,
  category text,
  description text,
  thumbnail_path text,
  demo_url text,
  created_at timestamptz,
  updated_at timestamptz
)
language sql stable security invoker
set search_path = ''
as $$
  select site.id, site.name, site.category, site.description, site.thumbnail_path, saved.demo_url,
         site.created_at, site.updated_at
  from public.app_projects as site
  left join public.project_data as saved on saved.project_id = site.id
  where p_before_created_at is null
     or (site.created_at, site.id) < (p_before_created_at, coalesce(p_before_id, site.id))
  order by site.created_at desc, site.id desc
  limit least(greatest(p_limit, 0), 1000)
$$;
comment on function public.app_projects_page(integer, timestamptz, uuid) is
  'Owner: projects. Called by: projects'' site list (as the user or guest).';
revoke execute on function public.app_projects_page(integer, timestamptz, uuid) from public;
grant execute on function public.app_projects_page(integer, timestamptz, uuid)
  to anon, authenticated, service_role;

-- Saving ---------------------------------------------------------------------------------------

-- Save a site's work as the caller (row-level security applies): the keys present in p_changes
-- (chat_id, demo_url, current_code, files, messages, meta) are written, the others kept; meta is
-- merged shallowly into the saved meta. When `files` is given (v0's [{name, content, locked?}]),
-- project_files is replaced to match it (path = name, size_bytes = the content's bytes).
-- Returns the saved row; no row when the caller does not own the site. A constraint a value
-- breaks (a path over 1,024 characters, a name twice, a size limit) raises, and nothing changes.
create function public.save_project_data(p_project_id uuid, p_changes jsonb)
returns setof public.project_data
language plpgsql volatile security invoker
set search_path = ''
as $$
begin
  if jsonb_typeof(p_changes) is distinct from 'object' then
    raise exception using errcode = '22023', message = 'p_changes must be a JSON object';
  end if;
  -- One save of a site at a time: a second waits for the first to commit, then replaces its file
  -- list (without the lock both would insert the same paths, and the second would fail).
  perform from public.app_projects where id = p_project_id for no key update;
  if not found then
    return;
  end if;
  if p_changes ? 'files' then
    delete from public.project_files where project_id = p_project_id;
    insert into public.project_files (project_id, path, size_bytes)
    select p_project_id, file ->> 'name', coalesce(octet_length(file ->> 'content'), 0)
    from jsonb_array_elements(coalesce(nullif(p_changes -> 'files', 'null'::jsonb), '[]'::jsonb))
      as file;
  end if;
  return query
  insert into public.project_data as saved
    (project_id, chat_id, demo_url, current_code, files, messages, meta)
  values (
    p_project_id,
    p_changes ->> 'chat_id',
    p_changes ->> 'demo_url',
    p_changes ->> 'current_code',
    nullif(p_changes -> 'files', 'null'::jsonb),
    nullif(p_changes -> 'messages', 'null'::jsonb),
    coalesce(nullif(p_changes -> 'meta', 'null'::jsonb), '{}'::jsonb)
  )
  on conflict (project_id) do update set
    chat_id = case when p_changes ? 'chat_id' then excluded.chat_id else saved.chat_id end,
    demo_url = case when p_changes ? 'demo_url' then excluded.demo_url else saved.demo_url end,
    current_code =
      case when p_changes ? 'current_code' then excluded.current_code else saved.current_code end,
    files = case when p_changes ? 'files' then excluded.files else saved.files end,
    messages = case when p_changes ? 'messages' then excluded.messages else saved.messages end,
    meta = saved.meta || excluded.meta
  returning saved.*;
end
$$;
comment on function public.save_project_data(uuid, jsonb) is
  'Owner: projects. Called by: projects'' save (as the user or guest).';
revoke execute on function public.save_project_data(uuid, jsonb) from public;
grant execute on function public.save_project_data(uuid, jsonb) to anon, authenticated, service_role;
