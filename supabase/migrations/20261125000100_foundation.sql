-- Foundation for every service's tables.
--
-- Conventions all later migrations follow (see README, "Security model"):
--   * every table has row level security; grants to `anon`, `authenticated` and `service_role`
--     are revoked and given back explicitly, column by column where a table mixes public and
--     secret or server-only columns;
--   * users are `authenticated` with `sub` = users.id; guests are `anon` carrying a signed
--     `guest_session` claim (`sess_<uuid>`); the anon key alone carries neither;
--   * tenant columns default to the caller (`auth.uid()`, the guest claim), so clients never
--     need to name their own tenant, and policies check them with `(select ...)` sub-selects;
--   * policy helpers are `security definer` functions in `private`, a schema the Data API
--     does not expose.

create schema if not exists private;
comment on schema private is
  'Helpers for policies and triggers. Not exposed through the Data API (PostgREST serves public only).';
revoke all on schema private from public;
grant usage on schema private to anon, authenticated, service_role;

-- Every table marked (u) in the spec keeps updated_at current through this one trigger.
create function private.set_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;
revoke execute on function private.set_updated_at() from public;
