-- Foundation for every service's tables: the private schema, the updated_at trigger, who the
-- caller is, and the conventions every later migration follows.
--
-- Migrations are append-only: a file, once on main, is never edited or renamed (deployed databases
-- record them by version in supabase_migrations.schema_migrations). Change the schema with a new
-- file named <timestamp>_<service>_<what>.sql, owned by one service.
--
-- Conventions (see README, "Security model"):
--   * each table in its owner's file, in this order: create table, comment (owner service,
--     tenancy rule), indexes, enable RLS, revoke, grants, policies;
--   * every table has row level security; grants to `anon`, `authenticated` and `service_role`
--     are revoked and given back explicitly, column by column where a table mixes public and
--     secret or server-only columns;
--   * users are `authenticated` with `sub` = users.id; guests are `anon` carrying a signed
--     `guest_session` claim (`sess_<uuid>`); the anon key alone carries neither. A user branch
--     holds only for `authenticated` and a guest branch only for `anon`, whatever else a token
--     carries: policies say `to authenticated` / `to anon`, and helpers ask `auth.role()`;
--   * tenant columns default to the caller (private.caller_user_id(), caller_guest_session()),
--     so clients never need to name their own tenant, and policies check them with
--     `(select ...)` sub-selects;
--   * policy helpers are `security definer` functions in `private`, a schema the Data API
--     does not expose; server operations are a `private` definer behind a `public` invoker
--     wrapper of the same name, executable only by whoever the comment on the function names;
--   * a function that writes a service's tables is defined in that service's migration.
--
-- Size limits of every column a client (anon, authenticated) may write, as named check
-- constraints `<table>_<column>_length` (characters) or `<table>_<column>_size` (bytes of code,
-- or of a jsonb value's text form):
--   identifiers and codes (v0/Vercel ids, session and template ids, category, source,
--     model, mime type)                                                  100 characters
--   names (project, company, industry, location, user; an audit's company)  200
--   domains                                                              253
--   file names (filename, original_name)                                 255
--   paths (object paths, file list paths, thumbnails)                    1,024
--   URLs (demo, web, inspector, deployment, blob, website, image)        2,048
--   descriptions                                                         2,000
--   a company brief's answers (likes, dislikes, feedback, audience, purposes, wishes,
--     inspiration)                                                       5,000
--   long text (prompt, competitor insights, voice transcript)            50,000
--   media tags                                                           50 tags, 2,000 together
--   code (project_data.current_code, template_cache.code)                5 MB
--   file trees and message logs (files, messages, files_json)            10 MB
--   every other jsonb (meta, metadata, palette, audit_result)            1 MB
--   page views (SPEC §6): path 512, referrer 1,024, user agent 512, ip hash 128
-- The services' models refuse the same input with the same limits.

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
comment on function private.set_updated_at() is
  'Owner: shared. Called by: the <table>_set_updated_at triggers (as the role that updates the row).';
revoke execute on function private.set_updated_at() from public;

-- The caller's user id, for a user only: a token of any other role naming a `sub` (say an anon
-- token someone signed for another purpose) is nobody's user.
create function private.caller_user_id() returns uuid
language sql stable
set search_path = ''
as $$
  select case when auth.role() = 'authenticated' then auth.uid() end
$$;
comment on function private.caller_user_id() is
  'Owner: shared. Called by: every service''s tenant column defaults and policy helpers (as the caller).';
revoke execute on function private.caller_user_id() from public;
grant execute on function private.caller_user_id() to anon, authenticated, service_role;

-- The caller's guest session, for a guest only: the claim counts on an `anon` token alone.
create function private.caller_guest_session() returns text
language sql stable
set search_path = ''
as $$
  select case when auth.role() = 'anon' then auth.jwt() ->> 'guest_session' end
$$;
comment on function private.caller_guest_session() is
  'Owner: shared. Called by: every service''s tenant column defaults and policy helpers (as the caller).';
revoke execute on function private.caller_guest_session() from public;
grant execute on function private.caller_guest_session() to anon, authenticated, service_role;
