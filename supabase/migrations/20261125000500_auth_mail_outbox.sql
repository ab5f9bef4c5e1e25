-- The auth service's mail outbox: messages are queued in the same transaction as what caused
-- them and sent by a worker that leases them, so several replicas never send one twice and a
-- crashed sender loses nothing.

-- email_outbox ---------------------------------------------------------------------------------

create table public.email_outbox (
  id uuid primary key default gen_random_uuid(),
  to_address text not null,
  subject text not null,
  body_text text not null,
  body_html text,
  status text not null default 'pending',
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  last_error text,
  sent_at timestamptz,
  created_at timestamptz not null default now(),
  constraint email_outbox_status_known check (status in ('pending', 'sent'))
);
comment on table public.email_outbox is
  'Owner: auth service. Mail waiting to be sent (Resend in production, the log locally); a failed '
  'send stays pending with a later next_attempt_at, so nothing is lost. '
  'Tenancy: none for clients; only the service role reads or writes it.';

create index email_outbox_pending_idx on public.email_outbox (next_attempt_at) where status = 'pending';

alter table public.email_outbox enable row level security;
revoke all on public.email_outbox from anon, authenticated, service_role;
grant select, insert, update, delete on public.email_outbox to service_role;

-- Lease up to `p_limit` due messages to one sender: each is pushed a minute into the future and
-- its attempt counted, so a crashed sender's messages come back; concurrent senders never share.
create function private.lease_outbound_email(p_limit integer)
returns setof public.email_outbox
language sql security definer
set search_path = ''
as $$
  update public.email_outbox set attempts = attempts + 1, next_attempt_at = now() + interval '1 minute'
  where id in (
    select id from public.email_outbox
    where status = 'pending' and next_attempt_at <= now()
    order by next_attempt_at
    limit p_limit
    for update skip locked
  )
  returning *
$$;
comment on function private.lease_outbound_email(integer) is
  'Owner: auth. Called by: public.lease_outbound_email (as service_role).';
revoke execute on function private.lease_outbound_email(integer) from public;
grant execute on function private.lease_outbound_email(integer) to service_role;

create function public.lease_outbound_email(p_limit integer)
returns setof public.email_outbox
language sql security invoker
set search_path = ''
as $$ select * from private.lease_outbound_email(p_limit) $$;
comment on function public.lease_outbound_email(integer) is
  'Owner: auth. Called by: auth''s outbox sender (as service_role).';
revoke execute on function public.lease_outbound_email(integer) from public, anon, authenticated;
grant execute on function public.lease_outbound_email(integer) to service_role;
