-- Admin statistics over page views, fast at 10 million rows: daily rollups kept as views arrive.
--
-- Why rollups and not an index plan: a month is ~800 k raw rows at 10 M a year, and counting
-- distinct visitors and grouping paths and referrers over them costs hundreds of milliseconds
-- even index-only (a year: seconds). The rollups hold one row per day (views, visitors), per day
-- and path, per day and referrer, and per day and visitor hash, so a year of statistics reads
-- ~366 daily rows plus the day-path and day-referrer rows, whatever page_views holds.
--
-- They are kept by one statement-level trigger on page_views inserts (a transition table, so a
-- batch of views costs one aggregate per rollup, not a trigger per row); every upsert takes its
-- rows in key order, so concurrent batches never deadlock, and a (day, visitor) pair counts once
-- however many batches race to insert it. Rollups only grow: deleting raw views (a retention job,
-- as the service role) leaves the statistics as they were.
--
-- Days are UTC days. A visitor is a visitor hash on one day: hashes use a daily salt, so the same
-- person on two days is two visitors by design, and a range's visitors are the sum of its days'.
--
-- Statistics are for admins only (users.tier = 'admin'): public.analytics_stats runs as its caller
-- and calls private.analytics_stats, which refuses anyone private.is_admin() does not name
-- (PT409 admin_required) before it reads anything.

-- page_view_daily --------------------------------------------------------------------------------

create table public.page_view_daily (
  day date primary key,
  views bigint not null default 0,
  visitors bigint not null default 0,
  constraint page_view_daily_counts_not_negative check (views >= 0 and visitors >= 0)
);
comment on table public.page_view_daily is
  'Owner: analytics service. A rollup of page_views: views and distinct visitor hashes per UTC day, '
  'kept by the page_views_roll_up trigger. Tenancy: none for clients; read through analytics_stats.';

alter table public.page_view_daily enable row level security;
revoke all on public.page_view_daily from anon, authenticated, service_role;

-- page_view_daily_paths --------------------------------------------------------------------------

create table public.page_view_daily_paths (
  day date not null,
  path text not null,
  views bigint not null,
  primary key (day, path),
  constraint page_view_daily_paths_path_length check (length(path) between 1 and 512),
  constraint page_view_daily_paths_views_not_negative check (views >= 0)
);
comment on table public.page_view_daily_paths is
  'Owner: analytics service. A rollup of page_views: views per UTC day and path, kept by the '
  'page_views_roll_up trigger. Tenancy: none for clients; read through analytics_stats.';

alter table public.page_view_daily_paths enable row level security;
revoke all on public.page_view_daily_paths from anon, authenticated, service_role;

-- page_view_daily_referrers ----------------------------------------------------------------------

create table public.page_view_daily_referrers (
  day date not null,
  referrer text not null,
  views bigint not null,
  primary key (day, referrer),
  constraint page_view_daily_referrers_referrer_length check (length(referrer) between 1 and 1024),
  constraint page_view_daily_referrers_views_not_negative check (views >= 0)
);
comment on table public.page_view_daily_referrers is
  'Owner: analytics service. A rollup of page_views: views per UTC day and referrer (views without '
  'one are not here), kept by the page_views_roll_up trigger. Tenancy: none for clients; read '
  'through analytics_stats.';

alter table public.page_view_daily_referrers enable row level security;
revoke all on public.page_view_daily_referrers from anon, authenticated, service_role;

-- page_view_daily_visitors -----------------------------------------------------------------------

create table public.page_view_daily_visitors (
  day date not null,
  visitor_hash text not null,
  primary key (day, visitor_hash),
  constraint page_view_daily_visitors_visitor_hash_length check (length(visitor_hash) <= 128)
);
comment on table public.page_view_daily_visitors is
  'Owner: analytics service. Each visitor hash seen on a UTC day, once: how page_view_daily counts '
  'distinct visitors as views arrive in batches. Kept by the page_views_roll_up trigger. '
  'Tenancy: none for clients.';

alter table public.page_view_daily_visitors enable row level security;
revoke all on public.page_view_daily_visitors from anon, authenticated, service_role;

-- Keeping the rollups ----------------------------------------------------------------------------

-- Add a statement's new page views to the rollups. Visitors first: the (day, hash) pairs this
-- statement is the first to insert are the day's new visitors.
create function private.page_views_roll_up()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  with new_visitors as (
    insert into public.page_view_daily_visitors (day, visitor_hash)
    select distinct (v.created_at at time zone 'UTC')::date, v.visitor_hash
    from new_views as v
    where v.visitor_hash is not null
    order by 1, 2
    on conflict do nothing
    returning day
  ),
  visitors as (
    select day, count(*) as visitors from new_visitors group by day
  ),
  views as (
    select (v.created_at at time zone 'UTC')::date as day, count(*) as views
    from new_views as v group by 1
  )
  insert into public.page_view_daily as daily (day, views, visitors)
  select views.day, views.views, coalesce(visitors.visitors, 0)
  from views left join visitors on visitors.day = views.day
  order by views.day
  on conflict (day) do update
    set views = daily.views + excluded.views, visitors = daily.visitors + excluded.visitors;

  insert into public.page_view_daily_paths as paths (day, path, views)
  select (v.created_at at time zone 'UTC')::date, v.path, count(*)
  from new_views as v
  group by 1, 2
  order by 1, 2
  on conflict (day, path) do update set views = paths.views + excluded.views;

  insert into public.page_view_daily_referrers as referrers (day, referrer, views)
  select (v.created_at at time zone 'UTC')::date, v.referrer, count(*)
  from new_views as v
  where length(v.referrer) > 0
  group by 1, 2
  order by 1, 2
  on conflict (day, referrer) do update set views = referrers.views + excluded.views;

  return null;
end
$$;
comment on function private.page_views_roll_up() is
  'Owner: analytics. Called by: the page_views_roll_up trigger (as its owner).';
revoke execute on function private.page_views_roll_up() from public;

create trigger page_views_roll_up
  after insert on public.page_views
  referencing new table as new_views
  for each statement
  execute function private.page_views_roll_up();

-- Views recorded before this migration, rolled up as the trigger would have.
insert into public.page_view_daily_visitors (day, visitor_hash)
select distinct (v.created_at at time zone 'UTC')::date, v.visitor_hash
from public.page_views as v
where v.visitor_hash is not null;

insert into public.page_view_daily (day, views, visitors)
select views.day, views.views, coalesce(visitors.visitors, 0)
from (
  select (v.created_at at time zone 'UTC')::date as day, count(*) as views
  from public.page_views as v group by 1
) as views
left join (
  select day, count(*) as visitors from public.page_view_daily_visitors group by day
) as visitors on visitors.day = views.day;

insert into public.page_view_daily_paths (day, path, views)
select (v.created_at at time zone 'UTC')::date, v.path, count(*)
from public.page_views as v
group by 1, 2;

insert into public.page_view_daily_referrers (day, referrer, views)
select (v.created_at at time zone 'UTC')::date, v.referrer, count(*)
from public.page_views as v
where length(v.referrer) > 0
group by 1, 2;

-- Statistics -------------------------------------------------------------------------------------

-- The statistics of the `p_days` UTC days ending today (1 to 366), for admins only: views and
-- visitors (the sum of each day's distinct visitor hashes), the `p_top` most viewed paths and
-- referrers (ties by name), every day's views and visitors (zeros included), users signed up,
-- sites created (those not deleted since) and guests who started using the free quota in the range
-- with the generations and refines they used.
create function private.analytics_stats(p_days integer, p_top integer)
returns table (
  first_day date,
  last_day date,
  views bigint,
  visitors bigint,
  top_paths jsonb,
  top_referrers jsonb,
  daily jsonb,
  signups bigint,
  sites_created bigint,
  guests bigint,
  guest_generations bigint,
  guest_refines bigint
)
language plpgsql stable security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  today date := (now() at time zone 'UTC')::date;
  since date;
  range_start timestamptz;
  range_end timestamptz;
begin
  if not private.is_admin() then
    raise exception using errcode = 'PT409', message = 'admin_required';
  end if;
  if p_days is null or p_days not between 1 and 366 then
    raise exception using errcode = '22023', message = 'p_days must be between 1 and 366';
  end if;
  if p_top is null or p_top not between 1 and 100 then
    raise exception using errcode = '22023', message = 'p_top must be between 1 and 100';
  end if;
  since := today - (p_days - 1);
  range_start := since::timestamp at time zone 'UTC';
  range_end := (today + 1)::timestamp at time zone 'UTC';

  return query
  with days as (
    select d::date as day
    from generate_series(since::timestamp, today::timestamp, interval '1 day') as d
  ),
  series as (
    select days.day, coalesce(daily.views, 0) as views, coalesce(daily.visitors, 0) as visitors
    from days left join public.page_view_daily as daily on daily.day = days.day
  ),
  paths as (
    select p.path as name, sum(p.views)::bigint as views
    from public.page_view_daily_paths as p
    where p.day between since and today
    group by p.path
    order by 2 desc, 1
    limit p_top
  ),
  referrers as (
    select r.referrer as name, sum(r.views)::bigint as views
    from public.page_view_daily_referrers as r
    where r.day between since and today
    group by r.referrer
    order by 2 desc, 1
    limit p_top
  ),
  guest_totals as (
    select count(*) as guests,
           coalesce(sum(g.generations_used), 0)::bigint as generations,
           coalesce(sum(g.refines_used), 0)::bigint as refines
    from public.guest_usage as g
    where g.created_at >= range_start and g.created_at < range_end
  )
  select
    since,
    today,
    (select coalesce(sum(s.views), 0)::bigint from series as s),
    (select coalesce(sum(s.visitors), 0)::bigint from series as s),
    (select coalesce(jsonb_agg(jsonb_build_object('path', p.name, 'views', p.views)
                               order by p.views desc, p.name), '[]'::jsonb) from paths as p),
    (select coalesce(jsonb_agg(jsonb_build_object('referrer', r.name, 'views', r.views)
                               order by r.views desc, r.name), '[]'::jsonb) from referrers as r),
    (select jsonb_agg(jsonb_build_object('day', s.day, 'views', s.views, 'visitors', s.visitors)
                      order by s.day) from series as s),
    (select count(*) from public.users as u
     where u.created_at >= range_start and u.created_at < range_end),
    (select count(*) from public.app_projects as a
     where a.created_at >= range_start and a.created_at < range_end),
    t.guests,
    t.generations,
    t.refines
  from guest_totals as t;
end
$$;
comment on function private.analytics_stats(integer, integer) is
  'Owner: analytics. Called by: public.analytics_stats (as the admin asking; anyone else is '
  'refused with admin_required).';
revoke execute on function private.analytics_stats(integer, integer) from public;
grant execute on function private.analytics_stats(integer, integer) to authenticated;

create function public.analytics_stats(p_days integer, p_top integer default 10)
returns table (
  first_day date,
  last_day date,
  views bigint,
  visitors bigint,
  top_paths jsonb,
  top_referrers jsonb,
  daily jsonb,
  signups bigint,
  sites_created bigint,
  guests bigint,
  guest_generations bigint,
  guest_refines bigint
)
language sql stable security invoker
set search_path = ''
as $$ select * from private.analytics_stats(p_days, p_top) $$;
comment on function public.analytics_stats(integer, integer) is
  'Owner: analytics. Called by: the analytics service''s GET /analytics/stats (as the admin asking).';
revoke execute on function public.analytics_stats(integer, integer) from public, anon, service_role;
grant execute on function public.analytics_stats(integer, integer) to authenticated;
