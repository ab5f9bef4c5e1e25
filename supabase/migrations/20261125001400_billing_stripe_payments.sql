-- Stripe payments, owned by the billing service: the events already handled, domain orders paid
-- through Checkout, and the two functions a verified webhook calls. Each records the event id
-- in the same transaction as what the event does, so a replayed or parallel delivery of one
-- event changes nothing more.

-- stripe_events --------------------------------------------------------------------------------

create table public.stripe_events (
  id text primary key,
  type text not null,
  received_at timestamptz not null default now(),
  constraint stripe_events_id_length check (length(id) <= 255),
  constraint stripe_events_type_length check (length(type) <= 100)
);
comment on table public.stripe_events is
  'Owner: billing service. Stripe webhook events already handled, by Stripe''s event id, so a redelivery '
  'is recognised. Tenancy: none for clients; only the service role reads or writes it.';

alter table public.stripe_events enable row level security;
revoke all on public.stripe_events from anon, authenticated, service_role;
grant select, insert, delete on public.stripe_events to service_role;

-- Record a Stripe event as handled; false when it already was (a redelivery). A parallel
-- delivery of the same event waits for the first and is then a redelivery too.
create function private.record_stripe_event(p_event_id text, p_event_type text) returns boolean
language sql security definer
set search_path = ''
as $$
  with recorded as (
    insert into public.stripe_events (id, type) values (p_event_id, p_event_type)
      on conflict (id) do nothing
      returning 1
  )
  select exists (select from recorded)
$$;
comment on function private.record_stripe_event(text, text) is
  'Owner: billing. Called by: private.record_checkout_payment and private.record_domain_payment (as '
  'their owner).';
revoke execute on function private.record_stripe_event(text, text) from public;

-- record_checkout_payment ----------------------------------------------------------------------

-- A paid Checkout Session for a credit package, in one transaction. Outcomes:
--   'duplicate_event'   the event was handled before: nothing else happens;
--   'unknown_user'      no such user (the event is recorded);
--   'mismatch'          no such package, or the amount or currency paid is not the package's:
--                       nothing credited, the event recorded, balance the current one;
--   'duplicate_session' the session was credited before (by another event): nothing credited;
--   'credited'          the package's diamonds added with a 'purchase' ledger row naming the
--                       session and payment intent, and a 'free' user made 'pro' (an admin stays
--                       admin); balance after.
create function private.record_checkout_payment(
  p_event_id text, p_event_type text, p_session_id text, p_user_id uuid, p_package_id text,
  p_amount_total integer, p_currency text, p_payment_intent text
) returns table (outcome text, balance integer)
language plpgsql security definer
set search_path = ''
as $$
declare
  current_balance integer;
  package public.credit_packages;
  recorded public.transactions;
begin
  if not private.record_stripe_event(p_event_id, p_event_type) then
    return query select 'duplicate_event'::text, null::integer;
    return;
  end if;
  select u.diamonds into current_balance from public.users as u where u.id = p_user_id for update;
  if not found then
    return query select 'unknown_user'::text, null::integer;
    return;
  end if;
  select * into package from public.credit_packages as p where p.id = p_package_id;
  if not found
     or p_amount_total is distinct from package.amount
     or lower(p_currency) is distinct from lower(package.currency) then
    return query select 'mismatch'::text, current_balance;
    return;
  end if;
  perform from public.transactions as t where t.stripe_session_id = p_session_id;
  if found then
    return query select 'duplicate_session'::text, current_balance;
    return;
  end if;
  begin
    insert into public.transactions
      (user_id, type, amount, balance_after, description, stripe_session_id, stripe_payment_intent)
      values (p_user_id, 'purchase', package.diamonds, current_balance + package.diamonds,
              'Köp: ' || package.id, p_session_id, p_payment_intent)
      returning * into recorded;
  exception when unique_violation then
    -- The same session credited to another user at this moment (a forged user id): not twice.
    return query select 'duplicate_session'::text, current_balance;
    return;
  end;
  update public.users as u
    set diamonds = recorded.balance_after,
        tier = case when u.tier = 'free' then 'pro' else u.tier end
    where u.id = p_user_id;
  return query select 'credited'::text, recorded.balance_after;
end
$$;
comment on function private.record_checkout_payment(text, text, text, uuid, text, integer, text, text) is
  'Owner: billing. Called by: public.record_checkout_payment (as service_role).';
revoke execute on function private.record_checkout_payment(text, text, text, uuid, text, integer, text, text)
  from public;
grant execute on function private.record_checkout_payment(text, text, text, uuid, text, integer, text, text)
  to service_role;

create function public.record_checkout_payment(
  p_event_id text, p_event_type text, p_session_id text, p_user_id uuid, p_package_id text,
  p_amount_total integer, p_currency text, p_payment_intent text
) returns table (outcome text, balance integer)
language sql security invoker
set search_path = ''
as $$
  select * from private.record_checkout_payment(
    p_event_id, p_event_type, p_session_id, p_user_id, p_package_id, p_amount_total, p_currency,
    p_payment_intent)
$$;
comment on function public.record_checkout_payment(text, text, text, uuid, text, integer, text, text) is
  'Owner: billing. Called by: billing''s Stripe webhook for a paid credit package (as service_role).';
revoke execute on function public.record_checkout_payment(text, text, text, uuid, text, integer, text, text)
  from public, anon, authenticated;
grant execute on function public.record_checkout_payment(text, text, text, uuid, text, integer, text, text)
  to service_role;

-- domain_orders: paid through Checkout ---------------------------------------------------------

alter table public.domain_orders
  drop constraint domain_orders_status_known,
  alter column status set default 'pending_payment',
  add column stripe_session_id text,
  add column stripe_payment_intent text,
  -- The registrant contact Vercel's registrar asks for.
  add column contact jsonb,
  add column failure_reason text,
  add column paid_at timestamptz,
  add column completed_at timestamptz,
  add constraint domain_orders_stripe_session_id_key unique (stripe_session_id),
  add constraint domain_orders_contact_size check (octet_length(contact::text) <= 10000),
  add constraint domain_orders_failure_reason_length check (length(failure_reason) <= 500);

-- The statuses before Checkout: 'pending' awaited payment, 'registered' was bought.
update public.domain_orders set status = 'pending_payment' where status = 'pending';
update public.domain_orders set status = 'completed' where status = 'registered';

alter table public.domain_orders
  add constraint domain_orders_status_known check (
    status in ('pending_payment', 'paid', 'purchasing', 'completed', 'failed', 'refunded', 'cancelled'));

comment on table public.domain_orders is
  'Owner: billing service. A domain bought for an app project: pending_payment until its Checkout '
  'Session is paid, then paid, purchasing (at Vercel''s registrar), completed or failed (refunded '
  'through Stripe: refunded), or cancelled. Tenancy: a user reads its own orders; orders are created and '
  'advanced only by the billing service (service role), which sets prices and status.';

-- record_domain_payment ------------------------------------------------------------------------

-- A paid Checkout Session for a domain order, in one transaction. Outcomes:
--   'duplicate_event' the event was handled before: nothing else happens;
--   'unknown_order'   no order has this session (the event is recorded);
--   'already_paid'    the order is no longer pending_payment: nothing changes;
--   'mismatch'        the amount is not customer_price * 100 öre or the currency not sek:
--                     nothing changes;
--   'paid'            the order is paid (status, paid_at, payment intent).
-- order_id is the order's whenever one has the session.
create function private.record_domain_payment(
  p_event_id text, p_session_id text, p_amount_total integer, p_currency text, p_payment_intent text
) returns table (outcome text, order_id uuid)
language plpgsql security definer
set search_path = ''
as $$
declare
  domain_order public.domain_orders;
begin
  if not private.record_stripe_event(p_event_id, 'checkout.session.completed') then
    return query select 'duplicate_event'::text, null::uuid;
    return;
  end if;
  select * into domain_order from public.domain_orders as o
    where o.stripe_session_id = p_session_id for update;
  if not found then
    return query select 'unknown_order'::text, null::uuid;
    return;
  end if;
  if domain_order.status <> 'pending_payment' then
    return query select 'already_paid'::text, domain_order.id;
    return;
  end if;
  if p_amount_total is distinct from domain_order.customer_price * 100
     or lower(p_currency) is distinct from 'sek' then
    return query select 'mismatch'::text, domain_order.id;
    return;
  end if;
  update public.domain_orders as o
    set status = 'paid', paid_at = now(), stripe_payment_intent = p_payment_intent
    where o.id = domain_order.id;
  return query select 'paid'::text, domain_order.id;
end
$$;
comment on function private.record_domain_payment(text, text, integer, text, text) is
  'Owner: billing. Called by: public.record_domain_payment (as service_role).';
revoke execute on function private.record_domain_payment(text, text, integer, text, text) from public;
grant execute on function private.record_domain_payment(text, text, integer, text, text) to service_role;

create function public.record_domain_payment(
  p_event_id text, p_session_id text, p_amount_total integer, p_currency text, p_payment_intent text
) returns table (outcome text, order_id uuid)
language sql security invoker
set search_path = ''
as $$
  select * from private.record_domain_payment(
    p_event_id, p_session_id, p_amount_total, p_currency, p_payment_intent)
$$;
comment on function public.record_domain_payment(text, text, integer, text, text) is
  'Owner: billing. Called by: billing''s Stripe webhook for a paid domain order (as service_role).';
revoke execute on function public.record_domain_payment(text, text, integer, text, text)
  from public, anon, authenticated;
grant execute on function public.record_domain_payment(text, text, integer, text, text) to service_role;
