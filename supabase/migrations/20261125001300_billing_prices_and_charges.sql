-- Prices, credit packages and the ledger's functions, owned by the billing service.
--
-- Every balance change happens inside one of billing's security-definer functions, which lock
-- the user's row first and then, in one transaction, write the ledger row with balance_after
-- and the new users.diamonds together. Per user, the row lock orders the changes, so the
-- ledger's `seq` order is the order in which the balance changed and, for every user at every
-- moment, diamonds = sum(amount) and each row's balance_after is the running sum in seq order
-- (public.ledger_discrepancies() lists every user where that fails).
--
-- Errors a caller can meet are outcomes (an `outcome` column), not exceptions, so both data
-- planes answer alike; only a caller's bug (say an unknown transaction type) raises.

-- prices ---------------------------------------------------------------------------------------

create table public.prices (
  action text not null,
  model_tier text not null default 'standard',
  cost integer not null,
  constraint prices_pkey primary key (action, model_tier),
  constraint prices_cost_not_negative check (cost >= 0)
);
comment on table public.prices is
  'Owner: billing service. What each action costs in diamonds, per model tier where it differs from '
  '''standard'' (the fallback); edited by people in Supabase studio. Tenancy: everyone reads; no API '
  'role writes.';

alter table public.prices enable row level security;
revoke all on public.prices from anon, authenticated, service_role;
grant select on public.prices to anon, authenticated, service_role;

create policy "everyone reads prices"
  on public.prices for select to anon, authenticated
  using (true);

insert into public.prices (action, model_tier, cost) values
  ('generate', 'standard', 10),
  ('refine', 'standard', 6),
  ('deploy', 'standard', 20),
  ('audit_basic', 'standard', 15),
  ('audit_advanced', 'standard', 25),
  ('generate', 'pro', 7),
  ('refine', 'pro', 4);

-- credit_packages ------------------------------------------------------------------------------

create table public.credit_packages (
  id text primary key,
  diamonds integer not null,
  -- In the currency's minor unit (öre), as Stripe counts amounts.
  amount integer not null,
  currency text not null default 'sek',
  active boolean not null default true,
  sort smallint,
  constraint credit_packages_diamonds_positive check (diamonds > 0),
  constraint credit_packages_amount_positive check (amount > 0)
);
comment on table public.credit_packages is
  'Owner: billing service. The diamond packages sold through Stripe Checkout, priced in minor units; '
  'edited by people in Supabase studio. Tenancy: everyone reads; no API role writes.';

alter table public.credit_packages enable row level security;
revoke all on public.credit_packages from anon, authenticated, service_role;
grant select on public.credit_packages to anon, authenticated, service_role;

create policy "everyone reads credit packages"
  on public.credit_packages for select to anon, authenticated
  using (true);

insert into public.credit_packages (id, diamonds, amount, currency, sort) values
  ('credits_10', 10, 4900, 'sek', 1),
  ('credits_25', 25, 9900, 'sek', 2),
  ('credits_50', 50, 17900, 'sek', 3);

-- transactions: charges, refunds and the ledger's order ----------------------------------------

alter table public.transactions
  add column action text,
  add column model_tier text,
  -- At most one refund per charge.
  add column refund_of uuid references public.transactions (id),
  -- The order balance changes happened in: created_at ties within a transaction, seq never does.
  add column seq bigint generated always as identity,
  add constraint transactions_refund_of_key unique (refund_of),
  add constraint transactions_type_known
    check (type in ('charge', 'refund', 'purchase', 'signup_bonus', 'admin_grant')),
  add constraint transactions_charge_names_its_price
    check ((type = 'charge') = (action is not null and model_tier is not null)),
  add constraint transactions_refund_names_its_charge check ((type = 'refund') = (refund_of is not null)),
  add constraint transactions_idempotency_key_length check (length(idempotency_key) <= 100);

create unique index transactions_user_id_seq_idx on public.transactions (user_id, seq);

-- Identity values need no sequence privilege; drop the ones the default privileges handed out.
revoke all on sequence public.transactions_seq_seq from anon, authenticated;

comment on table public.transactions is
  'Owner: billing service. The diamond ledger: one row per balance change, written by billing''s SQL '
  'functions in the same transaction as users.diamonds, so diamonds = sum(amount) and balance_after is '
  'the running sum in seq order. Types: charge (action, model_tier), refund (refund_of, once per charge), '
  'purchase (Stripe references), signup_bonus, admin_grant. '
  'Tenancy: a user reads its own rows; no API role writes them.';

-- guest_charges --------------------------------------------------------------------------------

create table public.guest_charges (
  id uuid primary key default gen_random_uuid(),
  session_id text not null,
  action text not null,
  idempotency_key text,
  refunded_at timestamptz,
  created_at timestamptz not null default now(),
  constraint guest_charges_session_id_idempotency_key_key unique (session_id, idempotency_key),
  constraint guest_charges_action_known check (action in ('generate', 'refine')),
  constraint guest_charges_idempotency_key_length check (length(idempotency_key) <= 100)
);
comment on table public.guest_charges is
  'Owner: billing service. One row per free generation or refine a guest session used, so a charge '
  'can be replayed by its idempotency key and refunded once. Tenancy: none for clients; only billing''s '
  'SQL functions read or write it.';

alter table public.guest_charges enable row level security;
revoke all on public.guest_charges from anon, authenticated, service_role;

-- What an action costs: the tier's own price, else the standard one; no row for an unknown action.
create function private.price_of(p_action text, p_model_tier text)
returns table (model_tier text, cost integer)
language sql stable security definer
set search_path = ''
as $$
  select price.model_tier, price.cost
  from public.prices as price
  where price.action = p_action and price.model_tier in (coalesce(p_model_tier, 'standard'), 'standard')
  order by price.model_tier = 'standard'
  limit 1
$$;
comment on function private.price_of(text, text) is
  'Owner: billing. Called by: private.charge_credits (as its owner).';
revoke execute on function private.price_of(text, text) from public;

-- charge_credits -------------------------------------------------------------------------------

-- Charge the caller for one action. The caller is decided here, never passed in:
--   a user (role authenticated): the price is looked up (unknown action: 'unknown_action');
--     the same idempotency key again: 'replayed' with the first charge's id, cost and balance
--     after, nothing written; an admin pays 0 (a ledger row of amount 0 still records the
--     charge); short of diamonds: 'insufficient' with required = cost and balance = current,
--     nothing written; else 'charged', the balance taken and the ledger row written together;
--   a guest (role anon with a guest_session claim): generate and refine only, one each per
--     session ('quota_exceeded' beyond, 'requires_account' for any other action), cost 0 and
--     balance null, replayed by key like a user's;
--   anyone else, or a token naming a user that does not exist: 'requires_account'.
-- Concurrency: the user's (or guest's usage) row is locked before anything is read, so parallel
-- charges queue on it; exactly floor(balance / cost) of them succeed and a key's repeats replay.
create function private.charge_credits(p_action text, p_model_tier text, p_idempotency_key text)
returns table (outcome text, charge_id uuid, cost integer, balance integer, required integer)
language plpgsql security definer
set search_path = ''
as $$
declare
  caller_user uuid := private.caller_user_id();
  caller_session text := private.caller_guest_session();
  account public.users;
  recorded public.transactions;
  price record;
  guest_charge public.guest_charges;
begin
  if caller_user is not null then
    select * into account from public.users as u where u.id = caller_user for update;
    if not found then
      return query select 'requires_account'::text, null::uuid, null::integer, null::integer, null::integer;
      return;
    end if;
    select * into recorded from public.transactions as t
      where t.user_id = caller_user and t.type = 'charge' and t.idempotency_key = p_idempotency_key;
    if found then
      return query select 'replayed'::text, recorded.id, -recorded.amount, recorded.balance_after, null::integer;
      return;
    end if;
    select * into price from private.price_of(p_action, p_model_tier);
    if not found then
      return query select 'unknown_action'::text, null::uuid, null::integer, null::integer, null::integer;
      return;
    end if;
    if account.tier = 'admin' then
      price.cost := 0;
    end if;
    if account.diamonds < price.cost then
      return query select 'insufficient'::text, null::uuid, price.cost, account.diamonds, price.cost;
      return;
    end if;
    with charged as (
      update public.users as u set diamonds = u.diamonds - price.cost
        where u.id = caller_user and u.diamonds >= price.cost
        returning u.diamonds
    )
    insert into public.transactions
      (user_id, type, amount, balance_after, description, action, model_tier, idempotency_key)
      select caller_user, 'charge', -price.cost, charged.diamonds, null, p_action, price.model_tier,
             p_idempotency_key
      from charged
      returning * into recorded;
    return query select 'charged'::text, recorded.id, -recorded.amount, recorded.balance_after, null::integer;
    return;
  end if;

  if caller_session is not null then
    if p_action is null or p_action not in ('generate', 'refine') then
      return query select 'requires_account'::text, null::uuid, null::integer, null::integer, null::integer;
      return;
    end if;
    insert into public.guest_usage (session_id) values (caller_session)
      on conflict (session_id) do nothing;
    perform from public.guest_usage as usage where usage.session_id = caller_session for update;
    select * into guest_charge from public.guest_charges as g
      where g.session_id = caller_session and g.idempotency_key = p_idempotency_key;
    if found then
      return query select 'replayed'::text, guest_charge.id, 0, null::integer, null::integer;
      return;
    end if;
    update public.guest_usage as usage
      set generations_used = usage.generations_used + (p_action = 'generate')::integer,
          refines_used = usage.refines_used + (p_action = 'refine')::integer
      where usage.session_id = caller_session
        and case p_action when 'generate' then usage.generations_used < 1 else usage.refines_used < 1 end;
    if not found then
      return query select 'quota_exceeded'::text, null::uuid, 0, null::integer, null::integer;
      return;
    end if;
    insert into public.guest_charges (session_id, action, idempotency_key)
      values (caller_session, p_action, p_idempotency_key)
      returning * into guest_charge;
    return query select 'charged'::text, guest_charge.id, 0, null::integer, null::integer;
    return;
  end if;

  return query select 'requires_account'::text, null::uuid, null::integer, null::integer, null::integer;
end
$$;
comment on function private.charge_credits(text, text, text) is
  'Owner: billing. Called by: public.charge_credits (as the user or guest charged).';
revoke execute on function private.charge_credits(text, text, text) from public;
grant execute on function private.charge_credits(text, text, text) to anon, authenticated;

create function public.charge_credits(p_action text, p_model_tier text, p_idempotency_key text)
returns table (outcome text, charge_id uuid, cost integer, balance integer, required integer)
language sql security invoker
set search_path = ''
as $$ select * from private.charge_credits(p_action, p_model_tier, p_idempotency_key) $$;
comment on function public.charge_credits(text, text, text) is
  'Owner: billing. Called by: billing''s charges and any paid action (as the user or guest charged).';
revoke execute on function public.charge_credits(text, text, text) from public, service_role;
grant execute on function public.charge_credits(text, text, text) to anon, authenticated;

-- refund_charge --------------------------------------------------------------------------------

-- Give back one charge, at most once: a user's charge gets a 'refund' ledger row of +cost
-- (refund_of = the charge), a guest's charge its quota back. Outcomes: 'refunded' (refund_id,
-- balance after), 'already_refunded' (the refund row's id and the current balance; both null for
-- a guest), 'unknown_charge' for an id that is no charge (unknown, or another type of row).
create function private.refund_charge(p_charge_id uuid)
returns table (outcome text, refund_id uuid, balance integer)
language plpgsql security definer
set search_path = ''
as $$
declare
  charge public.transactions;
  refund public.transactions;
  current_balance integer;
  guest_charge public.guest_charges;
begin
  select * into charge from public.transactions as t where t.id = p_charge_id and t.type = 'charge';
  if found then
    select u.diamonds into current_balance from public.users as u where u.id = charge.user_id for update;
    select * into refund from public.transactions as t where t.refund_of = charge.id;
    if found then
      return query select 'already_refunded'::text, refund.id, current_balance;
      return;
    end if;
    update public.users as u set diamonds = u.diamonds - charge.amount where u.id = charge.user_id;
    insert into public.transactions (user_id, type, amount, balance_after, description, refund_of)
      values (charge.user_id, 'refund', -charge.amount, current_balance - charge.amount, null, charge.id)
      returning * into refund;
    return query select 'refunded'::text, refund.id, refund.balance_after;
    return;
  end if;

  select * into guest_charge from public.guest_charges as g where g.id = p_charge_id for update;
  if not found then
    return query select 'unknown_charge'::text, null::uuid, null::integer;
    return;
  end if;
  if guest_charge.refunded_at is not null then
    return query select 'already_refunded'::text, null::uuid, null::integer;
    return;
  end if;
  update public.guest_charges as g set refunded_at = now() where g.id = guest_charge.id;
  update public.guest_usage as usage
    set generations_used = greatest(usage.generations_used - (guest_charge.action = 'generate')::integer, 0),
        refines_used = greatest(usage.refines_used - (guest_charge.action = 'refine')::integer, 0)
    where usage.session_id = guest_charge.session_id;
  return query select 'refunded'::text, null::uuid, null::integer;
end
$$;
comment on function private.refund_charge(uuid) is
  'Owner: billing. Called by: public.refund_charge (as service_role).';
revoke execute on function private.refund_charge(uuid) from public;
grant execute on function private.refund_charge(uuid) to service_role;

create function public.refund_charge(p_charge_id uuid)
returns table (outcome text, refund_id uuid, balance integer)
language sql security invoker
set search_path = ''
as $$ select * from private.refund_charge(p_charge_id) $$;
comment on function public.refund_charge(uuid) is
  'Owner: billing. Called by: billing and the services whose paid action failed after its charge (as '
  'service_role).';
revoke execute on function public.refund_charge(uuid) from public, anon, authenticated;
grant execute on function public.refund_charge(uuid) to service_role;

-- credit_diamonds ------------------------------------------------------------------------------

-- Add p_amount (> 0) diamonds to a user with a ledger row of type p_type ('admin_grant',
-- 'signup_bonus' or 'purchase'; charges and refunds have their own functions), idempotent per
-- (user, type, key). Outcomes: 'credited' (the new row, balance after), 'replayed' (the first
-- row and the balance after it, nothing written), 'unknown_user'. A non-positive amount or a
-- type of another function is a caller's bug and raises.
create function private.credit_diamonds(
  p_user_id uuid, p_amount integer, p_type text, p_description text, p_idempotency_key text
) returns table (outcome text, transaction_id uuid, balance integer)
language plpgsql security definer
set search_path = ''
as $$
declare
  current_balance integer;
  recorded public.transactions;
begin
  if p_amount is null or p_amount <= 0 or p_type is null or p_type not in ('admin_grant', 'signup_bonus', 'purchase') then
    raise exception 'credit_diamonds: a positive amount of type admin_grant, signup_bonus or purchase, not % %',
      p_amount, p_type
      using errcode = '22023';
  end if;
  select u.diamonds into current_balance from public.users as u where u.id = p_user_id for update;
  if not found then
    return query select 'unknown_user'::text, null::uuid, null::integer;
    return;
  end if;
  select * into recorded from public.transactions as t
    where t.user_id = p_user_id and t.type = p_type and t.idempotency_key = p_idempotency_key;
  if found then
    return query select 'replayed'::text, recorded.id, recorded.balance_after;
    return;
  end if;
  update public.users as u set diamonds = current_balance + p_amount where u.id = p_user_id;
  insert into public.transactions (user_id, type, amount, balance_after, description, idempotency_key)
    values (p_user_id, p_type, p_amount, current_balance + p_amount, p_description, p_idempotency_key)
    returning * into recorded;
  return query select 'credited'::text, recorded.id, recorded.balance_after;
end
$$;
comment on function private.credit_diamonds(uuid, integer, text, text, text) is
  'Owner: billing. Called by: public.credit_diamonds (as service_role).';
revoke execute on function private.credit_diamonds(uuid, integer, text, text, text) from public;
grant execute on function private.credit_diamonds(uuid, integer, text, text, text) to service_role;

create function public.credit_diamonds(
  p_user_id uuid, p_amount integer, p_type text, p_description text, p_idempotency_key text
) returns table (outcome text, transaction_id uuid, balance integer)
language sql security invoker
set search_path = ''
as $$ select * from private.credit_diamonds(p_user_id, p_amount, p_type, p_description, p_idempotency_key) $$;
comment on function public.credit_diamonds(uuid, integer, text, text, text) is
  'Owner: billing. Called by: billing''s admin grants (as service_role).';
revoke execute on function public.credit_diamonds(uuid, integer, text, text, text) from public, anon, authenticated;
grant execute on function public.credit_diamonds(uuid, integer, text, text, text) to service_role;

-- ledger_discrepancies -------------------------------------------------------------------------

-- Every user for whom the ledger does not hold: diamonds differs from the sum of its rows, or
-- some row's balance_after (bad_rows counts them) differs from the running sum in seq order.
-- No row: the ledger is clean.
create function private.ledger_discrepancies()
returns table (user_id uuid, diamonds integer, ledger_sum bigint, bad_rows bigint)
language sql stable security definer
set search_path = ''
as $$
  with running as (
    select t.user_id, t.amount, t.balance_after,
           sum(t.amount) over (partition by t.user_id order by t.seq) as running_sum
    from public.transactions as t
  ),
  per_user as (
    select running.user_id, sum(running.amount) as ledger_sum,
           count(*) filter (where running.balance_after <> running.running_sum) as bad_rows
    from running
    group by running.user_id
  )
  select u.id, u.diamonds, coalesce(per_user.ledger_sum, 0)::bigint, coalesce(per_user.bad_rows, 0)
  from public.users as u
  left join per_user on per_user.user_id = u.id
  where u.diamonds <> coalesce(per_user.ledger_sum, 0) or per_user.bad_rows > 0
  order by u.id
$$;
comment on function private.ledger_discrepancies() is
  'Owner: billing. Called by: public.ledger_discrepancies (as service_role).';
revoke execute on function private.ledger_discrepancies() from public;
grant execute on function private.ledger_discrepancies() to service_role;

create function public.ledger_discrepancies()
returns table (user_id uuid, diamonds integer, ledger_sum bigint, bad_rows bigint)
language sql stable security invoker
set search_path = ''
as $$ select * from private.ledger_discrepancies() $$;
comment on function public.ledger_discrepancies() is
  'Owner: billing. Called by: `sajtmaskin billing audit` (as service_role).';
revoke execute on function public.ledger_discrepancies() from public, anon, authenticated;
grant execute on function public.ledger_discrepancies() to service_role;
