-- The site list read every tenant's saves. app_projects_page joined project_data, whose
-- row-level-security filter (`project_id in (select private.owned_app_project_ids())`) kept the
-- planner off its primary key: each page hash-joined a sequential scan of the whole table, so a
-- list grew slower with every save anyone made. The demo URL is now a scalar sub-select per site,
-- which Postgres answers by project_data's primary key (the policy still filters it). Same
-- signature, rows, order and grants; only the body changes.

create or replace function public.app_projects_page(
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
  select site.id, site.name, site.category, site.description, site.thumbnail_path,
         (select saved.demo_url from public.project_data as saved where saved.project_id = site.id),
         site.created_at, site.updated_at
  from public.app_projects as site
  where p_before_created_at is null
     or (site.created_at, site.id) < (p_before_created_at, coalesce(p_before_id, site.id))
  order by site.created_at desc, site.id desc
  limit least(greatest(p_limit, 0), 1000)
$$;
