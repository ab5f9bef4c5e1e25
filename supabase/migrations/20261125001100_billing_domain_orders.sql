-- Domain orders: a user buys a domain for an app project, paid through Stripe Checkout.
-- Owned by the billing service; prices and status change only on the server.

create table public.domain_orders (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.users (id) on delete cascade,
  -- An order is a financial record: it outlives the project it was bought for.
  project_id uuid references public.app_projects (id) on delete set null,
  domain text not null,
  order_id text,
  customer_price integer,
  vercel_cost integer,
  currency text not null default 'SEK',
  years smallint not null default 1,
  status text not null default 'pending',
  domain_added_to_project boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint domain_orders_status_known
    check (status in ('pending', 'paid', 'registered', 'completed', 'failed', 'cancelled')),
  constraint domain_orders_years_in_range check (years between 1 and 10),
  constraint domain_orders_prices_not_negative check (customer_price >= 0 and vercel_cost >= 0),
  constraint domain_orders_domain_length check (length(domain) between 1 and 253)
);
comment on table public.domain_orders is
  'Owner: billing service. Tenancy: a user reads its own orders; orders are created and advanced only by '
  'the billing service (service role), which sets prices and status.';

create index domain_orders_user_id_created_at_idx on public.domain_orders (user_id, created_at desc);
create index domain_orders_project_id_idx on public.domain_orders (project_id);

create trigger domain_orders_set_updated_at
  before update on public.domain_orders
  for each row execute function private.set_updated_at();

alter table public.domain_orders enable row level security;
revoke all on public.domain_orders from anon, authenticated, service_role;
grant select on public.domain_orders to authenticated;
grant select, insert, update, delete on public.domain_orders to service_role;

create policy "users read their own domain orders"
  on public.domain_orders for select to authenticated
  using (user_id = (select auth.uid()));
