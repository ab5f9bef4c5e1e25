-- Accounts: users, their diamond ledger, and guest quotas.
-- Balances and quotas are never written by any API role: only security-definer SQL functions
-- (added by the billing service's migrations) change diamonds, tier, transactions and usage.

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
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint users_email_key unique (email),
  constraint users_google_id_key unique (google_id),
  constraint users_verification_token_hash_key unique (verification_token_hash),
  constraint users_email_normalized check (email = lower(btrim(email)) and length(email) <= 254),
  constraint users_name_length check (length(name) <= 200),
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
              last_login_at)
  on public.users to service_role;

create policy "users read their own row"
  on public.users for select to authenticated
  using (id = (select auth.uid()));

create policy "users update their own profile"
  on public.users for update to authenticated
  using (id = (select auth.uid()))
  with check (id = (select auth.uid()));

-- Whether the caller is an admin; used by admin-only policies such as page view statistics.
create function private.is_admin() returns boolean
language sql stable security definer
set search_path = ''
as $$
  select exists (
    select from public.users where id = (select auth.uid()) and tier = 'admin'
  )
$$;
revoke execute on function private.is_admin() from public;
grant execute on function private.is_admin() to authenticated;

-- transactions ---------------------------------------------------------------------------------

create table public.transactions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.users (id) on delete cascade,
  type text not null,
  amount integer not null,
  balance_after integer not null,
  description text,
  stripe_payment_intent text,
  stripe_session_id text,
  idempotency_key text,
  created_at timestamptz not null default now(),
  constraint transactions_stripe_session_id_key unique (stripe_session_id),
  constraint transactions_idempotency_key unique (user_id, type, idempotency_key),
  constraint transactions_balance_not_negative check (balance_after >= 0)
);
comment on table public.transactions is
  'Owner: billing service. The diamond ledger: one row per balance change, written by billing''s SQL '
  'functions in the same transaction as users.diamonds, so diamonds = sum(amount). '
  'Tenancy: a user reads its own rows; no API role writes them.';

create index transactions_user_id_created_at_idx on public.transactions (user_id, created_at desc);

alter table public.transactions enable row level security;
revoke all on public.transactions from anon, authenticated, service_role;
grant select on public.transactions to authenticated, service_role;

create policy "users read their own transactions"
  on public.transactions for select to authenticated
  using (user_id = (select auth.uid()));

-- guest_usage ----------------------------------------------------------------------------------

create table public.guest_usage (
  id uuid primary key default gen_random_uuid(),
  session_id text not null,
  generations_used integer not null default 0,
  refines_used integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint guest_usage_session_id_key unique (session_id),
  constraint guest_usage_counts_not_negative check (generations_used >= 0 and refines_used >= 0)
);
comment on table public.guest_usage is
  'Owner: billing service. Free generations and refines used by one guest session, created lazily and '
  'incremented only by billing''s quota function. Tenancy: a guest reads its own row; no API role writes.';

create trigger guest_usage_set_updated_at
  before update on public.guest_usage
  for each row execute function private.set_updated_at();

alter table public.guest_usage enable row level security;
revoke all on public.guest_usage from anon, authenticated, service_role;
grant select on public.guest_usage to anon, service_role;

create policy "guests read their own usage"
  on public.guest_usage for select to anon
  using (session_id = (select auth.jwt() ->> 'guest_session'));
