-- The diamond ledger and guest quotas, owned by the billing service: every balance change is a
-- ledger row written with the new balance in one transaction, so users.diamonds = sum(amount).
-- Balances and quotas are never written by any API role: only billing's security-definer
-- functions change users.diamonds, users.tier, transactions and guest_usage.

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

-- The ledger primitive -------------------------------------------------------------------------

-- Add `amount` diamonds (negative to take) to a user's balance and write the ledger row, in the
-- caller's transaction with the user's row locked. The same (user, type, idempotency key) twice
-- returns the first row and changes nothing.
create function private.credit(
  p_user_id uuid, p_amount integer, p_type text, p_description text, p_idempotency_key text
) returns public.transactions
language plpgsql security definer
set search_path = ''
as $$
declare
  balance integer;
  recorded public.transactions;
begin
  select diamonds into balance from public.users where id = p_user_id for update;
  if not found then
    raise exception 'no user %', p_user_id using errcode = 'P0002';
  end if;
  select * into recorded from public.transactions
    where user_id = p_user_id and type = p_type and idempotency_key = p_idempotency_key;
  if found then
    return recorded;
  end if;
  update public.users set diamonds = balance + p_amount where id = p_user_id;
  insert into public.transactions (user_id, type, amount, balance_after, description, idempotency_key)
    values (p_user_id, p_type, p_amount, balance + p_amount, p_description, p_idempotency_key)
    returning * into recorded;
  return recorded;
end
$$;
comment on function private.credit(uuid, integer, text, text, text) is
  'Owner: billing. Called by: billing''s definer functions only, e.g. grant_signup_bonus (as their owner).';
revoke execute on function private.credit(uuid, integer, text, text, text) from public;

-- Signup bonus ---------------------------------------------------------------------------------

-- 50 diamonds, once per user whatever calls it how often. Returns the balance after it.
create function private.grant_signup_bonus(p_user_id uuid) returns integer
language sql security definer
set search_path = ''
as $$
  select (private.credit(p_user_id, 50, 'signup_bonus', 'Välkomstbonus', 'signup_bonus')).balance_after
$$;
comment on function private.grant_signup_bonus(uuid) is
  'Owner: billing. Called by: public.grant_signup_bonus (as service_role), auth''s verify_email (as its owner).';
revoke execute on function private.grant_signup_bonus(uuid) from public;
grant execute on function private.grant_signup_bonus(uuid) to service_role;

create function public.grant_signup_bonus(p_user_id uuid) returns integer
language sql security invoker
set search_path = ''
as $$ select private.grant_signup_bonus(p_user_id) $$;
comment on function public.grant_signup_bonus(uuid) is
  'Owner: billing. Called by: auth on a first Google sign-in (as service_role).';
revoke execute on function public.grant_signup_bonus(uuid) from public, anon, authenticated;
grant execute on function public.grant_signup_bonus(uuid) to service_role;
