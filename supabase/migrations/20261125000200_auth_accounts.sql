-- Accounts: the users table and who is an admin. Owned by the auth service, except the balance
-- and tier columns, which billing owns and changes only through its ledger functions
-- (…_billing_ledger.sql); no API role writes them.

-- users ----------------------------------------------------------------------------------------

create table public.users (
  id uuid primary key default gen_random_uuid(),
  email text not null,
  password_hash text,
  name text,
  image text,
  provider text not null default 'email',
  google_id text,
  github_id text,
  github_username text,
  github_token text,
  diamonds integer not null default 0,
  tier text not null default 'free',
  email_verified boolean not null default false,
  verification_token_hash text,
  verification_expires_at timestamptz,
  last_login_at timestamptz,
  disabled_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint users_email_key unique (email),
  constraint users_google_id_key unique (google_id),
  constraint users_verification_token_hash_key unique (verification_token_hash),
  constraint users_email_normalized check (email = lower(btrim(email)) and length(email) <= 254),
  constraint users_name_length check (length(name) <= 200),
  constraint users_image_length check (length(image) <= 2048),
  -- The image is shown to other people: a script URL there would run in their page.
  constraint users_image_is_https check (image ~* '^https://'),
  constraint users_provider_known check (provider in ('email', 'google')),
  constraint users_tier_known check (tier in ('free', 'pro', 'admin')),
  constraint users_diamonds_not_negative check (diamonds >= 0)
);
comment on table public.users is
  'Owner: auth service (identity columns); billing owns diamonds and tier, changed only by its SQL functions. '
  'Tenancy: a user reads its own row without the secret columns (password_hash, verification_token_hash, '
  'github_token) and may change only name and image. The service role manages identity columns and '
  'can never write diamonds or tier.';

create trigger users_set_updated_at
  before update on public.users
  for each row execute function private.set_updated_at();

alter table public.users enable row level security;
revoke all on public.users from anon, authenticated, service_role;
grant select (id, email, name, image, provider, google_id, github_id, github_username, diamonds, tier,
              email_verified, last_login_at, created_at, updated_at)
  on public.users to authenticated;
grant update (name, image) on public.users to authenticated;
grant select, delete on public.users to service_role;
grant insert (email, password_hash, name, image, provider, google_id, email_verified,
              verification_token_hash, verification_expires_at)
  on public.users to service_role;
grant update (email, password_hash, name, image, provider, google_id, github_id, github_username,
              github_token, email_verified, verification_token_hash, verification_expires_at,
              last_login_at, disabled_at)
  on public.users to service_role;

create policy "users read their own row"
  on public.users for select to authenticated
  using (id = (select auth.uid()));

create policy "users update their own profile"
  on public.users for update to authenticated
  using (id = (select auth.uid()))
  with check (id = (select auth.uid()));

-- Whether the caller is a signed-in admin; used by admin-only policies such as page view statistics.
create function private.is_admin() returns boolean
language sql stable security definer
set search_path = ''
as $$
  select exists (
    select from public.users where id = (select private.caller_user_id()) and tier = 'admin'
  )
$$;
comment on function private.is_admin() is
  'Owner: auth. Called by: admin-only policies, e.g. analytics'' "admins read page views" (as the user).';
revoke execute on function private.is_admin() from public;
grant execute on function private.is_admin() to authenticated;
