-- Local bootstrap, part 1: the roles a hosted Supabase project already has.
-- Applied by `sajtmaskin db migrate` to local databases only, never to a hosted project.
-- Roles are cluster-wide, so creation tolerates a concurrent bootstrap of another database.

do $$
declare
  wanted record;
begin
  for wanted in
    select * from (values
      ('anon',          'nologin noinherit'),
      ('authenticated', 'nologin noinherit'),
      ('service_role',  'nologin noinherit bypassrls'),
      ('authenticator', 'login noinherit')
    ) as r(name, options)
  loop
    if not exists (select from pg_catalog.pg_roles where rolname = wanted.name) then
      begin
        execute format('create role %I %s', wanted.name, wanted.options);
      exception when duplicate_object or unique_violation then
        null; -- another bootstrap created it first
      end;
    end if;
  end loop;
end
$$;

grant anon, authenticated, service_role to authenticator;

-- The per-role timeouts of a hosted project; PostgREST re-applies them on every request.
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
alter role authenticator set statement_timeout = '8s';
alter role authenticator set lock_timeout = '8s';
