-- Page-view ingest: private visitor hashes and batched writes. Owned by the analytics service.
--
-- The client address is never stored. The service stores `visitor_hash` = a keyed hash of
-- (address, user agent) under a random salt of the view's day (UTC), so unique visitors can be
-- counted per day but not followed across days (as Plausible does). Salts live here, readable
-- by the service role alone; a day's salt is made on first use, kept while it is today's or
-- yesterday's (views accepted just before midnight are hashed with it) and deleted after that,
-- so at most 48 hours.
--
-- The service buffers accepted views in memory and writes them with one call of
-- record_page_views (one multi-row insert) as the service role.

-- page_views: ip_hash becomes visitor_hash, written by the service only ---------------------

alter table public.page_views rename column ip_hash to visitor_hash;
alter table public.page_views
  rename constraint page_views_ip_hash_length to page_views_visitor_hash_length;
comment on column public.page_views.visitor_hash is
  'Keyed hash of (client address, user agent) under the day''s salt (analytics_salts): the same '
  'visitor on the same day hashes alike, on another day differently. Never the address itself.';
-- Clients may still record a view for themselves, but the hash is the service's to compute: a
-- client-chosen one would let anyone inflate the unique visitor counts.
revoke insert (visitor_hash) on public.page_views from anon, authenticated;

-- analytics_salts ------------------------------------------------------------------------------

create table public.analytics_salts (
  day date primary key,
  salt text not null,
  created_at timestamptz not null default now(),
  constraint analytics_salts_salt_length check (length(salt) between 32 and 128)
);
comment on table public.analytics_salts is
  'Owner: analytics service. The random salt of each day''s visitor hashes (UTC days), made on '
  'first use by analytics_visitor_salt and deleted once older than yesterday (kept 48 h at most). '
  'Tenancy: none for clients; only the service role reads or writes it.';

alter table public.analytics_salts enable row level security;
revoke all on public.analytics_salts from anon, authenticated, service_role;
grant select, insert, delete on public.analytics_salts to service_role;

-- The salt of `p_day` (UTC), made now if the day has none yet; only yesterday, today and tomorrow
-- (a clock a little ahead) have salts, others are refused with PT409 `salt_day_out_of_range`.
-- Salts of days before yesterday are deleted on the way. Parallel first calls agree: the insert
-- skips a day another call has just made, and the read after it sees that one.
create function public.analytics_visitor_salt(p_day date)
returns text
language plpgsql volatile security invoker
set search_path = ''
as $$
declare
  today date := (now() at time zone 'utc')::date;
  found_salt text;
begin
  if p_day is null or p_day < today - 1 or p_day > today + 1 then
    raise exception using errcode = 'PT409', message = 'salt_day_out_of_range';
  end if;
  delete from public.analytics_salts where day < today - 1;
  -- 244 random bits from two version-4 UUIDs (core Postgres; no extension needed).
  insert into public.analytics_salts (day, salt)
  values (p_day, replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''))
  on conflict (day) do nothing;
  select salts.salt into found_salt from public.analytics_salts as salts where salts.day = p_day;
  return found_salt;
end
$$;
comment on function public.analytics_visitor_salt(date) is
  'Owner: analytics. Called by: the analytics service (as the service role) when a day begins.';
revoke execute on function public.analytics_visitor_salt(date) from public, anon, authenticated;
grant execute on function public.analytics_visitor_salt(date) to service_role;

-- record_page_views ----------------------------------------------------------------------------

-- Write a batch of accepted views in one insert; returns how many rows were written. `p_views`
-- is a JSON array of {path, user_id, session_id, referrer, user_agent, visitor_hash, created_at}.
-- Fields are clipped to the table's limits, and a view whose user has been deleted since it was
-- accepted keeps its row without the user, so one view never fails the whole batch.
create function public.record_page_views(p_views jsonb)
returns integer
language sql volatile security invoker
set search_path = ''
as $$
  with inserted as (
    insert into public.page_views
      (path, user_id, session_id, referrer, user_agent, visitor_hash, created_at)
    select
      left(v.path, 512),
      users.id,
      left(v.session_id, 100),
      nullif(left(v.referrer, 1024), ''),
      nullif(left(v.user_agent, 512), ''),
      left(v.visitor_hash, 128),
      coalesce(v.created_at, now())
    from jsonb_to_recordset(p_views) as v(
      path text, user_id uuid, session_id text, referrer text, user_agent text,
      visitor_hash text, created_at timestamptz
    )
    left join public.users on users.id = v.user_id
    where length(v.path) >= 1
    returning 1
  )
  select count(*)::integer from inserted
$$;
comment on function public.record_page_views(jsonb) is
  'Owner: analytics. Called by: the analytics service''s ingest buffer (as the service role).';
revoke execute on function public.record_page_views(jsonb) from public, anon, authenticated;
grant execute on function public.record_page_views(jsonb) to service_role;
