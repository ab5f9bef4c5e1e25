-- Local bootstrap, part 3: the schema privileges of a hosted project. Like Supabase, every new
-- object in `public` is granted to all three API roles by default; our migrations revoke what a
-- table must not expose, and the policy lint proves nothing is left over.

grant usage on schema public to anon, authenticated, service_role;

alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
